/* libFuzzer harness: the affinity cookie code of src/lb/affinity.c on
 * untrusted input. The input is a mode byte (XORed with '0'; bit 0: strip
 * cookie "a" instead and a Secure Set-Cookie; the rest: the Set-Cookie
 * buffer size), 8 bytes of expiry (big-endian), a byte position and a byte
 * value (one character changed in a valid value), then a Cookie header
 * value as a client would send it.
 *
 * Invariants:
 * - every cookie found lies inside the header;
 * - stripping the affinity cookie keeps exactly the other non-empty pairs,
 *   byte for byte and in order, never grows the header, leaves no cookie
 *   of that name, and is idempotent;
 * - a value encoded for a backend decodes (before its expiry, under the
 *   current or the previous key) to that backend and that expiry, and not
 *   after it, nor under other keys, nor with any one character changed;
 * - that value appended to the header is found by affinity_lookup when
 *   fewer than AFFINITY_MAX_TRIES cookies of the name come before it, and
 *   stripping removes it again;
 * - Set-Cookie output is NUL-terminated within its buffer. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "fuzz_common.h"
#include "weir/lb/affinity.h"

#define COOKIE "MAGS_SESSION"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char key_a[32] = "weir fuzz affinity key A, 32 b.";
static const unsigned char key_b[32] = "weir fuzz affinity key B, 32 b.";

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    OPENSSL_init_crypto(0, NULL);
    return 0;
}

static bool
ows(char c)
{
    return c == ' ' || c == '\t';
}

/* The non-empty ';'-separated pairs of HDR not named NAME, trimmed,
 * joined with '\n' into OUT: an independent reading of the pair rules. */
static void
other_pairs(const char *hdr, size_t len, const char *name, struct fuzz_str *out)
{
    size_t nlen = strlen(name), i = 0;

    while (i < len) {
        size_t s = i, e;
        while (i < len && hdr[i] != ';')
            i++;
        e = i;
        if (i < len)
            i++;
        while (s < e && ows(hdr[s]))
            s++;
        while (e > s && ows(hdr[e - 1]))
            e--;
        if (s == e)
            continue;
        const char *eq = memchr(hdr + s, '=', e - s);
        if (eq != NULL) {
            size_t ne = (size_t)(eq - hdr);
            while (ne > s && ows(hdr[ne - 1]))
                ne--;
            if (ne - s == nlen && nlen > 0 && memcmp(hdr + s, name, nlen) == 0)
                continue;
        }
        fuzz_str_add(out, hdr + s, e - s);
        fuzz_str_add(out, "\n", 1);
    }
}

/* affinity_cookie_strip on HDR, with the invariants above. Returns the
 * stripped header (caller frees); *N is its length. */
static char *
check_strip(const char *hdr, size_t len, const char *name, size_t *n)
{
    char *out = malloc(len + 1);
    struct fuzz_str want = {0}, got = {0};
    size_t pos = 0, vlen;
    const char *val;

    FUZZ_CHECK(out != NULL);
    if (len > 0)
        FUZZ_CHECK(affinity_cookie_strip(hdr, len, name, out, len - 1) ==
                   SIZE_MAX);
    *n = affinity_cookie_strip(hdr, len, name, out, len);
    FUZZ_CHECK(*n <= len);
    FUZZ_CHECK(affinity_cookie_find(out, *n, name, &pos, &val, &vlen) == -1);
    other_pairs(hdr, len, name, &want);
    other_pairs(out, *n, name, &got);
    FUZZ_CHECK(fuzz_mem_eq(want.p, want.len, got.p, got.len));
    if (*n > 0) {
        FUZZ_CHECK(!ows(out[0]) && out[0] != ';');
        FUZZ_CHECK(!ows(out[*n - 1]) && out[*n - 1] != ';');
    }
    /* Idempotent. */
    char *again = malloc(*n + 1);
    FUZZ_CHECK(again != NULL);
    FUZZ_CHECK(affinity_cookie_strip(out, *n, name, again, *n) == *n);
    FUZZ_CHECK(fuzz_mem_eq(again, *n, out, *n));
    free(again);
    fuzz_str_fini(&want);
    fuzz_str_fini(&got);
    return out;
}

/* The cookies called NAME in HDR; each lies inside it. */
static size_t
count_named(const char *hdr, size_t len, const char *name)
{
    size_t pos = 0, vlen, n = 0, last = 0;
    const char *val;

    while (affinity_cookie_find(hdr, len, name, &pos, &val, &vlen) == 0) {
        FUZZ_CHECK(val >= hdr && val + vlen <= hdr + len);
        FUZZ_CHECK(pos > last && pos <= len);
        last = pos;
        n++;
    }
    FUZZ_CHECK(pos == len || len == 0);
    return n;
}

static void
round_trip(const struct affinity_keys *ab, const struct affinity_keys *ba,
           const struct affinity_keys *b_only, const char *name,
           uint64_t expiry, size_t at, unsigned char to, const char *hdr,
           size_t len, size_t named)
{
    char value[AFFINITY_VALUE_SIZE], other[80];
    struct affinity_ids ids, ids_prev, ids_other;
    struct affinity_cookie c;

    FUZZ_CHECK(affinity_encode(ab, name, expiry, value, sizeof(value)) == 0);
    FUZZ_CHECK(strlen(value) == AFFINITY_VALUE_LEN);
    FUZZ_CHECK(strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                             "0123456789-_") == AFFINITY_VALUE_LEN);
    FUZZ_CHECK(affinity_encode(ab, name, expiry, value, AFFINITY_VALUE_LEN) == -1);
    FUZZ_CHECK(affinity_encode(ab, name, expiry, value, sizeof(value)) == 0);
    FUZZ_CHECK(affinity_backend_ids(ab, name, &ids) == 0);
    FUZZ_CHECK(affinity_backend_ids(ba, name, &ids_prev) == 0);
    snprintf(other, sizeof(other), "other-%s", name);
    FUZZ_CHECK(affinity_backend_ids(ab, other, &ids_other) == 0);

    if (expiry > 0) {
        uint64_t now = expiry - 1;
        FUZZ_CHECK(affinity_decode(ab, value, AFFINITY_VALUE_LEN, now, &c) == 0);
        FUZZ_CHECK(c.expires_at_s == expiry && !c.previous_key);
        FUZZ_CHECK(affinity_match(&c, &ids) && !affinity_match(&c, &ids_other));
        /* After a rotation the old key still verifies it. */
        FUZZ_CHECK(affinity_decode(ba, value, AFFINITY_VALUE_LEN, now, &c) == 0);
        FUZZ_CHECK(c.expires_at_s == expiry && c.previous_key);
        FUZZ_CHECK(affinity_match(&c, &ids_prev));
        FUZZ_CHECK(!affinity_match(&c, &ids));
        FUZZ_CHECK(affinity_decode(b_only, value, AFFINITY_VALUE_LEN, now, &c) == -1);
        /* Any changed character breaks it. */
        char bad[AFFINITY_VALUE_SIZE];
        memcpy(bad, value, sizeof(bad));
        bad[at % AFFINITY_VALUE_LEN] = (char)to;
        if (memcmp(bad, value, AFFINITY_VALUE_LEN) != 0)
            FUZZ_CHECK(affinity_decode(ab, bad, AFFINITY_VALUE_LEN, now, &c) == -1);
        FUZZ_CHECK(affinity_decode(ab, value, AFFINITY_VALUE_LEN - 1, now, &c) == -1);

        /* Appended to the client's header: found, then stripped. */
        struct fuzz_str h2 = {0};
        fuzz_str_add(&h2, hdr, len);
        fuzz_str_add(&h2, "; " COOKIE "=", strlen("; " COOKIE "="));
        fuzz_str_add(&h2, value, AFFINITY_VALUE_LEN);
        if (named < AFFINITY_MAX_TRIES)
            FUZZ_CHECK(affinity_lookup(ab, h2.p, h2.len, COOKIE, now, &c) == 0);
        size_t n1, n2;
        char *s1 = check_strip(hdr, len, COOKIE, &n1);
        char *s2 = check_strip(h2.p, h2.len, COOKIE, &n2);
        FUZZ_CHECK(fuzz_mem_eq(s1, n1, s2, n2));
        free(s1);
        free(s2);
        fuzz_str_fini(&h2);
    }
    FUZZ_CHECK(affinity_decode(ab, value, AFFINITY_VALUE_LEN, expiry, &c) == -1);
    FUZZ_CHECK(affinity_decode(ab, value, AFFINITY_VALUE_LEN, UINT64_MAX, &c) == -1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct affinity_keys ab = {0}, ba = {0}, b_only = {0};
    struct affinity_cookie c;
    char name[33], setc[160];

    if (size < 11)
        return 0;
    unsigned mode = data[0] ^ '0'; /* '0'..'7': flags off */
    uint64_t expiry = 0;
    for (int i = 1; i <= 8; i++)
        expiry = expiry << 8 | data[i];
    size_t at = data[9];
    unsigned char to = data[10];
    const char *hdr = (const char *)data + 11;
    size_t len = size - 11;

    FUZZ_CHECK(affinity_key_set(&ab.current, key_a, sizeof(key_a)) == 0);
    FUZZ_CHECK(affinity_key_set(&ab.previous, key_b, sizeof(key_b)) == 0);
    FUZZ_CHECK(affinity_key_set(&ba.current, key_b, sizeof(key_b)) == 0);
    FUZZ_CHECK(affinity_key_set(&ba.previous, key_a, sizeof(key_a)) == 0);
    FUZZ_CHECK(affinity_key_set(&b_only.current, key_b, sizeof(key_b)) == 0);

    /* The header as a client sent it. */
    size_t named = count_named(hdr, len, COOKIE);
    (void)count_named(hdr, len, "a");
    if (affinity_lookup(&ab, hdr, len, COOKIE, expiry, &c) == 0)
        FUZZ_CHECK(c.expires_at_s > expiry);
    size_t n;
    free(check_strip(hdr, len, (mode & 1) ? "a" : COOKIE, &n));

    /* A backend name from the header's first bytes. */
    size_t nl = 0;
    while (nl < len && nl < sizeof(name) - 1 && hdr[nl] != '\0')
        nl++;
    memcpy(name, hdr, nl);
    name[nl] = '\0';
    round_trip(&ab, &ba, &b_only, nl > 0 ? name : "b", expiry, at, to, hdr,
               len, named);

    /* Set-Cookie into a buffer of any size. */
    size_t outlen = (mode >> 1) % sizeof(setc);
    char value[AFFINITY_VALUE_SIZE];
    FUZZ_CHECK(affinity_encode(&ab, "b", expiry, value, sizeof(value)) == 0);
    int w = affinity_set_cookie(setc, outlen, COOKIE, value, expiry, mode & 1);
    if (w >= 0)
        FUZZ_CHECK((size_t)w < outlen && strlen(setc) == (size_t)w);
    else if (outlen > 0)
        FUZZ_CHECK(setc[0] == '\0');

    affinity_keys_fini(&ab);
    affinity_keys_fini(&ba);
    affinity_keys_fini(&b_only);
    return 0;
}
