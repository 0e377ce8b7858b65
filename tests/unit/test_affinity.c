/* Unit tests for the affinity cookie: the value's layout against a known
 * vector and an independent HMAC, tampering and truncation at every byte,
 * expiry, key rotation, Cookie header parsing and stripping, Set-Cookie
 * text, and key files. Fixed keys and times; key files in a /tmp dir. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "weir/lb/affinity.h"

#define NOW 1700000000u
#define TTL 3600u
#define NAME "MAGS_SESSION"

/* Keys A, B, C: 32 distinct non-repeating byte patterns. */
static void
key_bytes(unsigned char *b, unsigned char base)
{
    for (int i = 0; i < 32; i++)
        b[i] = (unsigned char)(base + i);
}

static void
keys_make(struct affinity_keys *k, int cur, int prev)
{
    unsigned char b[32];

    memset(k, 0, sizeof(*k));
    if (cur >= 0) {
        key_bytes(b, (unsigned char)cur);
        assert_int_equal(affinity_key_set(&k->current, b, sizeof(b)), 0);
    }
    if (prev >= 0) {
        key_bytes(b, (unsigned char)prev);
        assert_int_equal(affinity_key_set(&k->previous, b, sizeof(b)), 0);
    }
}

enum { KEY_A = 0x00, KEY_B = 0x40, KEY_C = 0x80, NONE = -1 };

static void
encode_ok(const struct affinity_keys *k, const char *backend,
          uint64_t expires, char out[AFFINITY_VALUE_SIZE])
{
    assert_int_equal(affinity_encode(k, backend, expires, out,
                                     AFFINITY_VALUE_SIZE), 0);
    assert_int_equal(strlen(out), AFFINITY_VALUE_LEN);
}

static int
decode(const struct affinity_keys *k, const char *v, uint64_t now,
       struct affinity_cookie *c)
{
    return affinity_decode(k, v, strlen(v), now, c);
}

/* The test's own base64url and HMAC, to check the layout independently. */
static void
test_b64url(const unsigned char *in, size_t len, char *out)
{
    static const char a[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;

    for (size_t i = 0; i < len; i += 3) {
        unsigned long v = (unsigned long)in[i] << 16 |
                          (unsigned long)in[i + 1] << 8 | in[i + 2];
        out[o++] = a[v >> 18 & 63];
        out[o++] = a[v >> 12 & 63];
        out[o++] = a[v >> 6 & 63];
        out[o++] = a[v & 63];
    }
    out[o] = '\0';
}

/* A cookie built by hand: VERSION, ID, EXPIRY, MAC under KEY (32 bytes). */
static void
forge(const unsigned char *key, unsigned char version, const uint8_t *id,
      uint64_t expiry, char out[AFFINITY_VALUE_SIZE])
{
    unsigned char raw[33], md[32];
    unsigned int mdlen = 0;

    raw[0] = version;
    memcpy(raw + 1, id, 8);
    for (int i = 0; i < 8; i++)
        raw[9 + i] = (unsigned char)(expiry >> (56 - 8 * i));
    assert_non_null(HMAC(EVP_sha256(), key, 32, raw, 17, md, &mdlen));
    memcpy(raw + 17, md, 16);
    test_b64url(raw, sizeof(raw), out);
}

static void
test_known_vector(void **state)
{
    /* Also in docs/affinity.md; computed independently with Python's hmac. */
    struct affinity_keys k;
    struct affinity_cookie c;
    struct affinity_ids ids;
    static const uint8_t id1[8] = {0xc0, 0x62, 0x11, 0xf5,
                                   0xc8, 0x49, 0x81, 0x81};
    char v[AFFINITY_VALUE_SIZE];

    keys_make(&k, KEY_A, NONE);
    encode_ok(&k, "agent-1", 1700000000, v);
    assert_string_equal(v, "AcBiEfXISYGBAAAAAGVT8QA7zoMPzxTxcnVH5gZZKYpS");
    encode_ok(&k, "agent-2", 1700000000, v);
    assert_string_equal(v, "ATcvXBXTOQomAAAAAGVT8QBFbxx2bqU1vMinxsiN7D0C");
    assert_int_equal(affinity_backend_ids(&k, "agent-1", &ids), 0);
    assert_memory_equal(ids.current, id1, 8);
    assert_false(ids.has_previous);
    assert_int_equal(decode(&k, "AcBiEfXISYGBAAAAAGVT8QA7zoMPzxTxcnVH5gZZKYpS",
                            1699999999, &c), 0);
    assert_memory_equal(c.backend_id, id1, 8);
    assert_true(c.expires_at_s == 1700000000);
    affinity_keys_fini(&k);
}

static void
test_layout_matches_independent_hmac(void **state)
{
    struct affinity_keys k;
    struct affinity_ids ids;
    unsigned char kb[32];
    char mine[AFFINITY_VALUE_SIZE], theirs[AFFINITY_VALUE_SIZE];
    static const uint64_t expiries[] = {0, 1, NOW + TTL, 0xffffffffull,
                                        0x0102030405060708ull, UINT64_MAX};

    keys_make(&k, KEY_B, NONE);
    key_bytes(kb, KEY_B);
    assert_int_equal(affinity_backend_ids(&k, "10.0.0.1:8080", &ids), 0);
    for (size_t i = 0; i < sizeof(expiries) / sizeof(expiries[0]); i++) {
        encode_ok(&k, "10.0.0.1:8080", expiries[i], mine);
        forge(kb, 1, ids.current, expiries[i], theirs);
        assert_string_equal(mine, theirs);
    }
    affinity_keys_fini(&k);
}

static void
test_round_trip(void **state)
{
    struct affinity_keys k;
    struct affinity_cookie c;
    struct affinity_ids id1, id2;
    char v[AFFINITY_VALUE_SIZE];

    keys_make(&k, KEY_A, NONE);
    assert_int_equal(affinity_backend_ids(&k, "agent-1", &id1), 0);
    assert_int_equal(affinity_backend_ids(&k, "agent-2", &id2), 0);
    encode_ok(&k, "agent-1", NOW + TTL, v);
    for (size_t i = 0; i < AFFINITY_VALUE_LEN; i++)
        assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
                               "qrstuvwxyz0123456789-_", v[i]));
    memset(&c, 0xee, sizeof(c));
    assert_int_equal(decode(&k, v, NOW, &c), 0);
    assert_true(c.expires_at_s == NOW + TTL);
    assert_false(c.previous_key);
    assert_memory_equal(c.backend_id, id1.current, AFFINITY_ID_LEN);
    assert_true(affinity_match(&c, &id1));
    assert_false(affinity_match(&c, &id2));
    /* Not NUL-terminated input: only LEN bytes are read. */
    {
        char buf[AFFINITY_VALUE_LEN + 3];

        memcpy(buf, v, AFFINITY_VALUE_LEN);
        memcpy(buf + AFFINITY_VALUE_LEN, "xyz", 3);
        assert_int_equal(affinity_decode(&k, buf, AFFINITY_VALUE_LEN, NOW,
                                         &c), 0);
    }
    affinity_keys_fini(&k);
}

static void
test_tamper_every_byte(void **state)
{
    struct affinity_keys k;
    struct affinity_cookie c;
    char v[AFFINITY_VALUE_SIZE], t[AFFINITY_VALUE_SIZE];
    int tried = 0;

    keys_make(&k, KEY_A, KEY_B);
    encode_ok(&k, "agent-1", NOW + TTL, v);
    for (size_t i = 0; i < AFFINITY_VALUE_LEN; i++) {
        for (int b = 0; b < 256; b++) {
            if (b == (unsigned char)v[i])
                continue;
            memcpy(t, v, sizeof(t));
            t[i] = (char)b;
            memset(&c, 0xee, sizeof(c));
            assert_int_equal(affinity_decode(&k, t, AFFINITY_VALUE_LEN, NOW,
                                             &c), -1);
            tried++;
        }
    }
    assert_int_equal(tried, AFFINITY_VALUE_LEN * 255);
    affinity_keys_fini(&k);
}

static void
test_tamper_every_bit(void **state)
{
    /* Flip each bit of the decoded 33 bytes and re-sign nothing: invalid. */
    struct affinity_keys k;
    struct affinity_cookie c;
    struct affinity_ids ids;
    unsigned char kb[32], raw[33];
    char v[AFFINITY_VALUE_SIZE], t[AFFINITY_VALUE_SIZE];

    keys_make(&k, KEY_A, NONE);
    key_bytes(kb, KEY_A);
    assert_int_equal(affinity_backend_ids(&k, "agent-1", &ids), 0);
    forge(kb, 1, ids.current, NOW + TTL, v);
    assert_int_equal(decode(&k, v, NOW, &c), 0);
    raw[0] = 1;
    memcpy(raw + 1, ids.current, 8);
    for (int i = 0; i < 8; i++)
        raw[9 + i] = (unsigned char)((uint64_t)(NOW + TTL) >> (56 - 8 * i));
    {
        unsigned char md[32];
        unsigned int mdlen;

        HMAC(EVP_sha256(), kb, 32, raw, 17, md, &mdlen);
        memcpy(raw + 17, md, 16);
    }
    test_b64url(raw, 33, t);
    assert_string_equal(t, v);
    for (int bit = 0; bit < 33 * 8; bit++) {
        raw[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        test_b64url(raw, 33, t);
        assert_int_equal(decode(&k, t, NOW, &c), -1);
        raw[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
    affinity_keys_fini(&k);
}

static void
test_truncation(void **state)
{
    struct affinity_keys k;
    struct affinity_cookie c;
    char v[AFFINITY_VALUE_SIZE], longer[AFFINITY_VALUE_LEN + 2];

    keys_make(&k, KEY_A, NONE);
    encode_ok(&k, "agent-1", NOW + TTL, v);
    for (size_t n = 0; n < AFFINITY_VALUE_LEN; n++)
        assert_int_equal(affinity_decode(&k, v, n, NOW, &c), -1);
    /* Trailing bytes are not ignored. */
    memcpy(longer, v, AFFINITY_VALUE_LEN);
    longer[AFFINITY_VALUE_LEN] = 'A';
    longer[AFFINITY_VALUE_LEN + 1] = '\0';
    assert_int_equal(decode(&k, longer, NOW, &c), -1);
    longer[AFFINITY_VALUE_LEN] = '=';
    assert_int_equal(decode(&k, longer, NOW, &c), -1);
    /* Dropping the first character is as bad as dropping the last. */
    assert_int_equal(affinity_decode(&k, v + 1, AFFINITY_VALUE_LEN - 1, NOW,
                                     &c), -1);
    affinity_keys_fini(&k);
}

static void
test_expiry_edge(void **state)
{
    struct affinity_keys k;
    struct affinity_cookie c;
    char v[AFFINITY_VALUE_SIZE];

    keys_make(&k, KEY_A, NONE);
    encode_ok(&k, "agent-1", NOW + TTL, v);
    assert_int_equal(decode(&k, v, 0, &c), 0);
    assert_int_equal(decode(&k, v, NOW + TTL - 1, &c), 0);
    assert_int_equal(decode(&k, v, NOW + TTL, &c), -1);
    assert_int_equal(decode(&k, v, NOW + TTL + 1, &c), -1);
    assert_int_equal(decode(&k, v, UINT64_MAX, &c), -1);
    encode_ok(&k, "agent-1", 0, v);
    assert_int_equal(decode(&k, v, 0, &c), -1);
    encode_ok(&k, "agent-1", UINT64_MAX, v);
    assert_int_equal(decode(&k, v, UINT64_MAX - 1, &c), 0);
    assert_true(c.expires_at_s == UINT64_MAX);
    assert_int_equal(decode(&k, v, UINT64_MAX, &c), -1);
    affinity_keys_fini(&k);
}

static void
test_wrong_key(void **state)
{
    struct affinity_keys a, b, bc;
    struct affinity_cookie c;
    char v[AFFINITY_VALUE_SIZE];

    keys_make(&a, KEY_A, NONE);
    keys_make(&b, KEY_B, NONE);
    keys_make(&bc, KEY_B, KEY_C);
    encode_ok(&a, "agent-1", NOW + TTL, v);
    assert_int_equal(decode(&a, v, NOW, &c), 0);
    assert_int_equal(decode(&b, v, NOW, &c), -1);
    assert_int_equal(decode(&bc, v, NOW, &c), -1);
    /* Re-signed with another key, same fields: still not ours. */
    encode_ok(&b, "agent-1", NOW + TTL, v);
    assert_int_equal(decode(&a, v, NOW, &c), -1);
    affinity_keys_fini(&a);
    affinity_keys_fini(&b);
    affinity_keys_fini(&bc);
}

static void
test_previous_key(void **state)
{
    struct affinity_keys old, rotated, fresh_only;
    struct affinity_cookie c;
    struct affinity_ids ids1, ids2, ids_fresh;
    char v[AFFINITY_VALUE_SIZE];

    keys_make(&old, KEY_A, NONE);
    keys_make(&rotated, KEY_B, KEY_A);
    keys_make(&fresh_only, KEY_B, NONE);
    assert_int_equal(affinity_backend_ids(&rotated, "agent-1", &ids1), 0);
    assert_int_equal(affinity_backend_ids(&rotated, "agent-2", &ids2), 0);
    assert_int_equal(affinity_backend_ids(&fresh_only, "agent-1",
                                          &ids_fresh), 0);
    assert_true(ids1.has_previous);
    assert_false(ids_fresh.has_previous);
    assert_memory_not_equal(ids1.current, ids1.previous, AFFINITY_ID_LEN);

    /* Issued before the rotation: accepted, and reported as such. */
    encode_ok(&old, "agent-1", NOW + TTL, v);
    assert_int_equal(decode(&rotated, v, NOW, &c), 0);
    assert_true(c.previous_key);
    assert_memory_equal(c.backend_id, ids1.previous, AFFINITY_ID_LEN);
    assert_true(affinity_match(&c, &ids1));
    assert_false(affinity_match(&c, &ids2));
    assert_false(affinity_match(&c, &ids_fresh));
    /* Expiry still applies to previous-key cookies. */
    assert_int_equal(decode(&rotated, v, NOW + TTL, &c), -1);
    /* Once the previous key is dropped, it is gone. */
    assert_int_equal(decode(&fresh_only, v, NOW, &c), -1);

    /* Issued after: current key, not flagged. */
    encode_ok(&rotated, "agent-1", NOW + TTL, v);
    assert_int_equal(decode(&rotated, v, NOW, &c), 0);
    assert_false(c.previous_key);
    assert_true(affinity_match(&c, &ids1));
    assert_true(affinity_match(&c, &ids_fresh));
    assert_false(affinity_match(&c, &ids2));
    affinity_keys_fini(&old);
    affinity_keys_fini(&rotated);
    affinity_keys_fini(&fresh_only);
}

static void
test_wrong_version(void **state)
{
    struct affinity_keys k;
    struct affinity_cookie c;
    struct affinity_ids ids;
    unsigned char kb[32];
    char v[AFFINITY_VALUE_SIZE];

    keys_make(&k, KEY_A, NONE);
    key_bytes(kb, KEY_A);
    assert_int_equal(affinity_backend_ids(&k, "agent-1", &ids), 0);
    forge(kb, 1, ids.current, NOW + TTL, v);
    assert_int_equal(decode(&k, v, NOW, &c), 0);
    /* Correctly signed, but a version this code does not know. */
    for (int ver = 0; ver < 256; ver++) {
        if (ver == 1)
            continue;
        forge(kb, (unsigned char)ver, ids.current, NOW + TTL, v);
        assert_int_equal(decode(&k, v, NOW, &c), -1);
    }
    affinity_keys_fini(&k);
}

static void
test_malformed_base64(void **state)
{
    struct affinity_keys k;
    struct affinity_cookie c;
    char v[AFFINITY_VALUE_SIZE], t[AFFINITY_VALUE_SIZE];
    static const char *const bad[] = {
        "", "A", "====", "AcBiEfXISYGBAAAAAGVT8QA7zoMPzxTxcnVH5gZZKYp=",
        "AcBiEfXISYGBAAAAAGVT8QA7zoMPzxTxcnVH5gZZKY==",
        "AcBiEfXISYGBAAAAAGVT8QA7zoMPzxTxcnVH5gZZKYpS==",
        "AcBiEfXISYGBAAAAAGVT8QA7zoMPzxTxcnVH5gZZKY pS",
        "AcBiEfXISYGBAAAAAGVT8QA7zoMPzxTx\ncnVH5gZZKYpS",
        "AcBiEfXISYGBAAAAAGVT8QA7zoMPzxTxcnVH5gZZKYpS\n",
        "%41cBiEfXISYGBAAAAAGVT8QA7zoMPzxTxcnVH5gZZKY",
        "\"AcBiEfXISYGBAAAAAGVT8QA7zoMPzxTxcnVH5gZZKYpS\"",
    };

    keys_make(&k, KEY_A, NONE);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(decode(&k, bad[i], NOW, &c), -1);
    /* Standard base64 instead of base64url ('+' and '/'). */
    for (int i = 0; i < 64; i++) {
        char name[16];

        snprintf(name, sizeof(name), "agent-%d", i);
        encode_ok(&k, name, NOW + TTL, v);
        if (strpbrk(v, "-_") != NULL)
            break;
    }
    assert_non_null(strpbrk(v, "-_"));
    memcpy(t, v, sizeof(t));
    for (char *p = t; *p != '\0'; p++)
        *p = *p == '-' ? '+' : *p == '_' ? '/' : *p;
    assert_int_equal(decode(&k, v, NOW, &c), 0);
    assert_int_equal(decode(&k, t, NOW, &c), -1);
    /* A NUL inside. */
    t[0] = '\0';
    memcpy(t + 1, v + 1, AFFINITY_VALUE_LEN - 1);
    assert_int_equal(affinity_decode(&k, t, AFFINITY_VALUE_LEN, NOW, &c), -1);
    affinity_keys_fini(&k);
}

static void
test_oversize(void **state)
{
    struct affinity_keys k;
    struct affinity_cookie c;
    static const size_t sizes[] = {45, 48, 88, 4096, 1 << 20};
    char v[AFFINITY_VALUE_SIZE];

    keys_make(&k, KEY_A, NONE);
    encode_ok(&k, "agent-1", NOW + TTL, v);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char *big = malloc(sizes[i]);

        assert_non_null(big);
        for (size_t j = 0; j < sizes[i]; j++)
            big[j] = v[j % AFFINITY_VALUE_LEN];
        assert_int_equal(affinity_decode(&k, big, sizes[i], NOW, &c), -1);
        free(big);
    }
    /* Two valid values back to back are one invalid value. */
    {
        char two[2 * AFFINITY_VALUE_LEN];

        memcpy(two, v, AFFINITY_VALUE_LEN);
        memcpy(two + AFFINITY_VALUE_LEN, v, AFFINITY_VALUE_LEN);
        assert_int_equal(affinity_decode(&k, two, sizeof(two), NOW, &c), -1);
    }
    affinity_keys_fini(&k);
}

static void
test_two_instances(void **state)
{
    struct affinity_keys one, two;
    struct affinity_cookie c;
    struct affinity_ids ids1, ids2;
    char v[AFFINITY_VALUE_SIZE];

    keys_make(&one, KEY_C, NONE);
    keys_make(&two, KEY_C, NONE);
    assert_ptr_not_equal(one.current.bytes, two.current.bytes);
    assert_int_equal(affinity_backend_ids(&one, "agent-3", &ids1), 0);
    assert_int_equal(affinity_backend_ids(&two, "agent-3", &ids2), 0);
    assert_memory_equal(ids1.current, ids2.current, AFFINITY_ID_LEN);
    encode_ok(&one, "agent-3", NOW + TTL, v);
    assert_int_equal(decode(&two, v, NOW + 10, &c), 0);
    assert_true(affinity_match(&c, &ids2));
    encode_ok(&two, "agent-3", NOW + TTL, v);
    assert_int_equal(decode(&one, v, NOW + 10, &c), 0);
    assert_true(affinity_match(&c, &ids1));
    affinity_keys_fini(&one);
    affinity_keys_fini(&two);
}

static bool
contains(const void *hay, size_t hlen, const void *needle, size_t nlen)
{
    for (size_t i = 0; i + nlen <= hlen; i++)
        if (memcmp((const char *)hay + i, needle, nlen) == 0)
            return true;
    return false;
}

static void
test_backend_id_hides_name(void **state)
{
    static const char *const names[] = {
        "agent-1", "agent-2", "agent-10", "10.0.0.1:8080", "a", "",
        "a-backend-name-much-longer-than-eight-bytes",
    };
    enum { N = sizeof(names) / sizeof(names[0]) };
    struct affinity_keys k, other;
    struct affinity_ids ids[N], o;
    char v[AFFINITY_VALUE_SIZE];

    keys_make(&k, KEY_A, NONE);
    keys_make(&other, KEY_B, NONE);
    for (size_t i = 0; i < N; i++) {
        size_t nl = strlen(names[i]);

        assert_int_equal(affinity_backend_ids(&k, names[i], &ids[i]), 0);
        for (size_t j = 0; j < i; j++)
            assert_memory_not_equal(ids[i].current, ids[j].current,
                                    AFFINITY_ID_LEN);
        /* Keyed: another key gives another id. */
        assert_int_equal(affinity_backend_ids(&other, names[i], &o), 0);
        assert_memory_not_equal(ids[i].current, o.current, AFFINITY_ID_LEN);
        encode_ok(&k, names[i], NOW + TTL, v);
        if (nl >= 3) {
            /* Neither the id nor the text carries the name or its start. */
            assert_false(contains(ids[i].current, AFFINITY_ID_LEN, names[i],
                                  nl < 8 ? nl : 3));
            assert_false(contains(v, AFFINITY_VALUE_LEN, names[i], 3));
        }
    }
    affinity_keys_fini(&k);
    affinity_keys_fini(&other);
}

static void
test_no_keys(void **state)
{
    struct affinity_keys none = {0};
    struct affinity_keys k;
    struct affinity_cookie c = {0};
    struct affinity_ids ids;
    char v[AFFINITY_VALUE_SIZE] = "x";

    assert_int_equal(affinity_encode(&none, "agent-1", NOW + TTL, v,
                                     sizeof(v)), -1);
    assert_string_equal(v, "");
    assert_int_equal(affinity_backend_ids(&none, "agent-1", &ids), -1);
    /* Zeroed ids match nothing, not even a zero id. */
    assert_false(affinity_match(&c, &ids));
    keys_make(&k, KEY_A, NONE);
    encode_ok(&k, "agent-1", NOW + TTL, v);
    assert_int_equal(decode(&none, v, NOW, &c), -1);
    /* Short output buffer. */
    assert_int_equal(affinity_encode(&k, "agent-1", NOW + TTL, v,
                                     AFFINITY_VALUE_LEN), -1);
    assert_string_equal(v, "");
    assert_int_equal(affinity_encode(&k, "agent-1", NOW + TTL, v, 0), -1);
    affinity_keys_fini(&k);
    affinity_keys_fini(&k);
    assert_null(k.current.bytes);
    /* Key length rules in memory. */
    {
        unsigned char b[AFFINITY_KEY_MAX + 1];
        struct affinity_key key;

        for (size_t i = 0; i < sizeof(b); i++)
            b[i] = (unsigned char)(i * 7 + 1);
        assert_int_equal(affinity_key_set(&key, b, 31), -1);
        assert_null(key.bytes);
        assert_int_equal(affinity_key_set(&key, b, AFFINITY_KEY_MAX + 1), -1);
        assert_int_equal(affinity_key_set(&key, b, AFFINITY_KEY_MAX), 0);
        affinity_key_fini(&key);
        memset(b, 0, 32);
        assert_int_equal(affinity_key_set(&key, b, 32), -1);
    }
}

/* Every value of NAME in HDR, joined with '|'. */
static void
find_all(const char *hdr, const char *name, char *out, size_t outlen)
{
    size_t pos = 0, vlen, n = 0, found = 0;
    const char *val;

    out[0] = '\0';
    while (affinity_cookie_find(hdr, strlen(hdr), name, &pos, &val,
                                &vlen) == 0) {
        assert_true(val >= hdr && val + vlen <= hdr + strlen(hdr));
        n += (size_t)snprintf(out + n, outlen - n, "%s%.*s",
                              found++ ? "|" : "", (int)vlen, val);
        assert_true(n < outlen);
    }
    assert_int_equal(pos, strlen(hdr));
}

static void
check_find(const char *hdr, const char *name, const char *want)
{
    char got[256];

    find_all(hdr, name, got, sizeof(got));
    if (strcmp(got, want) != 0)
        fail_msg("find %s in [%s]: got [%s], want [%s]", name, hdr, got,
                 want);
}

static void
test_cookie_find(void **state)
{
    const char *val = NULL;
    size_t pos, vlen = 99;

    /* Several cookies, usual and odd spacing. */
    check_find("a=1; MAGS_SESSION=xyz; b=2", NAME, "xyz");
    check_find("a=1;MAGS_SESSION=xyz;b=2", NAME, "xyz");
    check_find("MAGS_SESSION=xyz", NAME, "xyz");
    check_find("  MAGS_SESSION = xyz  ;b=2", NAME, "xyz");
    check_find("\tMAGS_SESSION=\txyz\t", NAME, "xyz");
    check_find(";;MAGS_SESSION=xyz;;", NAME, "xyz");
    check_find("a=1 ; b = 2 ;MAGS_SESSION= xyz", NAME, "xyz");
    /* Missing. */
    check_find("a=1; b=2", NAME, "");
    check_find("", NAME, "");
    check_find(";; ; ", NAME, "");
    check_find("MAGS_SESSION; a=1", NAME, "");
    check_find("mags_session=1; MAGS_SESSIONX=2; XMAGS_SESSION=3", NAME, "");
    check_find("a=MAGS_SESSION=1", NAME, "");
    /* Duplicates, in order. */
    check_find("MAGS_SESSION=one; a=1; MAGS_SESSION=two", NAME, "one|two");
    /* Empty values. */
    check_find("MAGS_SESSION=; a=1", NAME, "");
    pos = 0;
    assert_int_equal(affinity_cookie_find("a=1; MAGS_SESSION=", 18, NAME,
                                          &pos, &val, &vlen), 0);
    assert_int_equal(vlen, 0);
    check_find("MAGS_SESSION=;MAGS_SESSION=x", NAME, "|x");
    check_find("MAGS_SESSION=\"\"", NAME, "");
    /* A name that is a prefix of another. */
    check_find("MAGS=1; MAGS_SESSION=2", "MAGS", "1");
    check_find("MAGS=1; MAGS_SESSION=2", NAME, "2");
    check_find("MAGS_SESSION=2; MAGS=1", "MAGS", "1");
    /* Quotes: one pair removed; a lone quote is a value. */
    check_find("MAGS_SESSION=\"abc\"; b=2", NAME, "abc");
    check_find("MAGS_SESSION=\"", NAME, "\"");
    check_find("MAGS_SESSION=\"\"x\"\"", NAME, "\"x\"");
    /* '=' inside the value. */
    check_find("MAGS_SESSION=a=b", NAME, "a=b");
    /* An empty name matches nothing, not the nameless cookies. */
    check_find("=1; x", "", "");
    /* Only LEN bytes are read. */
    pos = 0;
    assert_int_equal(affinity_cookie_find("MAGS_SESSION=abcdef", 16, NAME,
                                          &pos, &val, &vlen), 0);
    assert_int_equal(vlen, 3);
    assert_memory_equal(val, "abc", 3);
    /* A cursor past the end finds nothing. */
    pos = 100;
    assert_int_equal(affinity_cookie_find("MAGS_SESSION=1", 14, NAME, &pos,
                                          &val, &vlen), -1);
}

static void
test_lookup(void **state)
{
    struct affinity_keys k;
    struct affinity_cookie c;
    struct affinity_ids ids1, ids2;
    char v1[AFFINITY_VALUE_SIZE], v2[AFFINITY_VALUE_SIZE];
    char bad[AFFINITY_VALUE_SIZE], hdr[1024];

    keys_make(&k, KEY_A, NONE);
    assert_int_equal(affinity_backend_ids(&k, "agent-1", &ids1), 0);
    assert_int_equal(affinity_backend_ids(&k, "agent-2", &ids2), 0);
    encode_ok(&k, "agent-1", NOW + TTL, v1);
    encode_ok(&k, "agent-2", NOW + TTL, v2);
    memcpy(bad, v1, sizeof(bad));
    bad[20] = bad[20] == 'A' ? 'B' : 'A';

    snprintf(hdr, sizeof(hdr), "a=1; " NAME "=%s; b=2", v1);
    assert_int_equal(affinity_lookup(&k, hdr, strlen(hdr), NAME, NOW, &c), 0);
    assert_true(affinity_match(&c, &ids1));
    /* The first valid one wins; invalid ones before it are skipped. */
    snprintf(hdr, sizeof(hdr), NAME "=%s; " NAME "=%s; " NAME "=%s", bad, v2,
             v1);
    assert_int_equal(affinity_lookup(&k, hdr, strlen(hdr), NAME, NOW, &c), 0);
    assert_true(affinity_match(&c, &ids2));
    /* Quoted. */
    snprintf(hdr, sizeof(hdr), NAME "=\"%s\"", v1);
    assert_int_equal(affinity_lookup(&k, hdr, strlen(hdr), NAME, NOW, &c), 0);
    assert_true(affinity_match(&c, &ids1));
    /* None valid: tampered, expired, absent. */
    snprintf(hdr, sizeof(hdr), NAME "=%s", bad);
    assert_int_equal(affinity_lookup(&k, hdr, strlen(hdr), NAME, NOW, &c), -1);
    snprintf(hdr, sizeof(hdr), NAME "=%s", v1);
    assert_int_equal(affinity_lookup(&k, hdr, strlen(hdr), NAME, NOW + TTL,
                                     &c), -1);
    assert_int_equal(affinity_lookup(&k, "a=1", 3, NAME, NOW, &c), -1);
    /* At most AFFINITY_MAX_TRIES candidates are verified. */
    {
        size_t n = 0;

        for (int i = 0; i < AFFINITY_MAX_TRIES - 1; i++)
            n += (size_t)snprintf(hdr + n, sizeof(hdr) - n, NAME "=%s; ",
                                  bad);
        snprintf(hdr + n, sizeof(hdr) - n, NAME "=%s", v1);
        assert_int_equal(affinity_lookup(&k, hdr, strlen(hdr), NAME, NOW,
                                         &c), 0);
        snprintf(hdr + n, sizeof(hdr) - n, NAME "=%s; " NAME "=%s", bad, v1);
        assert_int_equal(affinity_lookup(&k, hdr, strlen(hdr), NAME, NOW,
                                         &c), -1);
    }
    affinity_keys_fini(&k);
}

/* Strip into a heap buffer of exactly strlen(HDR) bytes (ASan sees any
 * overrun) and compare. */
static void
check_strip(const char *hdr, const char *name, const char *want)
{
    size_t len = strlen(hdr), n;
    char *out = malloc(len > 0 ? len : 1);

    assert_non_null(out);
    n = affinity_cookie_strip(hdr, len, name, out, len);
    if (n != strlen(want) || memcmp(out, want, n) != 0)
        fail_msg("strip %s from [%s]: got [%.*s], want [%s]", name, hdr,
                 n == SIZE_MAX ? 0 : (int)n, out, want);
    free(out);
}

static void
test_cookie_strip(void **state)
{
    char out[64];

    check_strip("a=1; MAGS_SESSION=x; b=2", NAME, "a=1; b=2");
    check_strip("MAGS_SESSION=x; a=1", NAME, "a=1");
    check_strip("a=1; MAGS_SESSION=x", NAME, "a=1");
    check_strip("MAGS_SESSION=x", NAME, "");
    check_strip("  MAGS_SESSION = x ; ", NAME, "");
    check_strip("MAGS_SESSION=x; MAGS_SESSION=y", NAME, "");
    check_strip("a=1;MAGS_SESSION=x;b=2", NAME, "a=1;b=2");
    check_strip("a=1;;MAGS_SESSION=x;;b=2", NAME, "a=1;;b=2");
    /* Other cookies exactly as sent: quotes, spaces inside, odd pairs. */
    check_strip("MAGS_SESSION=1; a=\"q r\"; MAGS_SESSION=2;  b = 2",
                NAME, "a=\"q r\";  b = 2");
    check_strip("x; MAGS_SESSION=1; =y; z=a=b", NAME, "x; =y; z=a=b");
    check_strip("MAGS_SESSION; a=1", NAME, "MAGS_SESSION; a=1");
    /* Prefixes are other cookies. */
    check_strip("MAGS=1; MAGS_SESSION=2; MAGS_SESSION_X=3", NAME,
                "MAGS=1; MAGS_SESSION_X=3");
    check_strip("MAGS=1; MAGS_SESSION=2", "MAGS", "MAGS_SESSION=2");
    /* Nothing to remove: the same bytes, ends trimmed. */
    check_strip("a=1;  b=2", NAME, "a=1;  b=2");
    check_strip("  a=1; b=2 ;", NAME, "a=1; b=2");
    check_strip("", NAME, "");
    check_strip("mags_session=1", NAME, "mags_session=1");
    /* The output must hold LEN bytes. */
    assert_true(affinity_cookie_strip("a=1; b=2", 8, NAME, out, 7) ==
                SIZE_MAX);
    assert_int_equal(affinity_cookie_strip("a=1; b=2", 8, NAME, out, 8), 8);
    /* Only LEN bytes are read. */
    assert_int_equal(affinity_cookie_strip("a=1; MAGS_SESSION=x", 3, NAME,
                                           out, sizeof(out)), 3);
    assert_memory_equal(out, "a=1", 3);
}

static void
test_set_cookie(void **state)
{
    char out[160];
    int n;

    n = affinity_set_cookie(out, sizeof(out), NAME,
                            "AcBiEfXISYGBAAAAAGVT8QA7zoMPzxTxcnVH5gZZKYpS",
                            3600, false);
    assert_string_equal(out, "MAGS_SESSION=AcBiEfXISYGBAAAAAGVT8QA7zoMPzxTxcn"
                        "VH5gZZKYpS; Path=/; Max-Age=3600; HttpOnly; "
                        "SameSite=Lax");
    assert_int_equal(n, strlen(out));
    n = affinity_set_cookie(out, sizeof(out), "s", "v", 86400, true);
    assert_string_equal(out, "s=v; Path=/; Max-Age=86400; HttpOnly; "
                        "SameSite=Lax; Secure");
    assert_int_equal(n, strlen(out));
    n = affinity_set_cookie(out, sizeof(out), "s", "v", 31536000, false);
    assert_string_equal(out, "s=v; Path=/; Max-Age=31536000; HttpOnly; "
                        "SameSite=Lax");
    /* Exact fit, one short, none. */
    assert_int_equal(affinity_set_cookie(out, (size_t)n + 1, "s", "v",
                                         31536000, false), n);
    assert_int_equal(affinity_set_cookie(out, (size_t)n, "s", "v", 31536000,
                                         false), -1);
    assert_string_equal(out, "");
    assert_int_equal(affinity_set_cookie(NULL, 0, "s", "v", 1, true), -1);
}

/* Key files. */

struct tmp {
    char dir[64];
};

static int
tmp_setup(void **state)
{
    struct tmp *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return -1;
    snprintf(t->dir, sizeof(t->dir), "/tmp/weir-affinity-XXXXXX");
    if (mkdtemp(t->dir) == NULL) {
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

static const char *const tmp_files[] = {
    "raw32", "rawnl", "hex", "hexcrlf", "short", "shorttext", "max", "over",
    "zero", "b64",
};

static int
tmp_teardown(void **state)
{
    struct tmp *t = *state;
    char p[128];

    for (size_t i = 0; i < sizeof(tmp_files) / sizeof(tmp_files[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", t->dir, tmp_files[i]);
        unlink(p);
    }
    rmdir(t->dir);
    free(t);
    return 0;
}

static const char *
write_file(const struct tmp *t, const char *name, const void *data,
           size_t len)
{
    static char path[128];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", t->dir, name);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return path;
}

static void
test_key_load(void **state)
{
    const struct tmp *t = *state;
    static const char hex[] =
        "4f1b2a9c0d3e5f607182938a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e";
    unsigned char raw[32], big[AFFINITY_KEY_MAX + 1];
    struct affinity_key k = {0};
    char err[256], buf[128];
    const char *p;

    for (int i = 0; i < 32; i++)
        raw[i] = (unsigned char)(0xa0 ^ (i * 37));

    /* 32 raw bytes. */
    p = write_file(t, "raw32", raw, sizeof(raw));
    assert_int_equal(affinity_key_load(p, &k, err, sizeof(err)), 0);
    assert_int_equal(k.len, 32);
    assert_memory_equal(k.bytes, raw, 32);
    affinity_key_fini(&k);
    assert_null(k.bytes);
    assert_int_equal(k.len, 0);
    affinity_key_fini(&k);

    /* Raw bytes that happen to end in a newline keep it. */
    raw[31] = '\n';
    p = write_file(t, "rawnl", raw, sizeof(raw));
    assert_int_equal(affinity_key_load(p, &k, err, sizeof(err)), 0);
    assert_int_equal(k.len, 32);
    assert_memory_equal(k.bytes, raw, 32);
    affinity_key_fini(&k);

    /* `openssl rand -hex 32`: the text is the key, without its newline. */
    snprintf(buf, sizeof(buf), "%s\n", hex);
    p = write_file(t, "hex", buf, strlen(buf));
    assert_int_equal(affinity_key_load(p, &k, NULL, 0), 0);
    assert_int_equal(k.len, 64);
    assert_memory_equal(k.bytes, hex, 64);
    affinity_key_fini(&k);
    snprintf(buf, sizeof(buf), "%s\r\n", hex);
    p = write_file(t, "hexcrlf", buf, strlen(buf));
    assert_int_equal(affinity_key_load(p, &k, err, sizeof(err)), 0);
    assert_int_equal(k.len, 64);
    assert_memory_equal(k.bytes, hex, 64);
    affinity_key_fini(&k);
    /* `openssl rand -base64 32`: 44 characters. */
    p = write_file(t, "b64", "q3Nq0C1v7m0fP6dQW8G2ZkVJ1yTgU9c5xH4rLbE0aYs=\n",
                   45);
    assert_int_equal(affinity_key_load(p, &k, err, sizeof(err)), 0);
    assert_int_equal(k.len, 44);
    affinity_key_fini(&k);

    /* Too short: 31 raw bytes, or 31 characters and a newline. */
    p = write_file(t, "short", raw, 31);
    assert_int_equal(affinity_key_load(p, &k, err, sizeof(err)), -1);
    assert_null(k.bytes);
    assert_non_null(strstr(err, p));
    assert_non_null(strstr(err, "key is 31 bytes, need at least 32"));
    snprintf(buf, sizeof(buf), "%.31s\n", hex);
    p = write_file(t, "shorttext", buf, 32);
    assert_int_equal(affinity_key_load(p, &k, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "key is 31 bytes"));

    /* Up to 4096 bytes; one more is not a key file. */
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (unsigned char)(i * 131 + 7);
    p = write_file(t, "max", big, AFFINITY_KEY_MAX);
    assert_int_equal(affinity_key_load(p, &k, err, sizeof(err)), 0);
    assert_int_equal(k.len, AFFINITY_KEY_MAX);
    affinity_key_fini(&k);
    p = write_file(t, "over", big, sizeof(big));
    assert_int_equal(affinity_key_load(p, &k, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "larger than 4096 bytes"));

    /* Not random. */
    memset(big, 0, 32);
    p = write_file(t, "zero", big, 32);
    assert_int_equal(affinity_key_load(p, &k, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "one byte repeated"));

    /* Missing file, directory. */
    snprintf(buf, sizeof(buf), "%s/nope", t->dir);
    assert_int_equal(affinity_key_load(buf, &k, err, sizeof(err)), -1);
    snprintf(buf, sizeof(buf), "cannot read %s/nope: No such file or "
             "directory", t->dir);
    assert_string_equal(err, buf);
    assert_int_equal(affinity_key_load(t->dir, &k, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "Is a directory"));
    assert_null(k.bytes);
    assert_int_equal(affinity_key_load(t->dir, &k, NULL, 0), -1);
}

static void
test_key_file_shared(void **state)
{
    /* Two instances load one file and honour each other's cookies. */
    const struct tmp *t = *state;
    struct affinity_keys one = {0}, two = {0};
    struct affinity_cookie c;
    struct affinity_ids ids;
    char v[AFFINITY_VALUE_SIZE];
    const char *p = write_file(t, "hex", "0123456789abcdef0123456789ABCDEF",
                               32);

    assert_int_equal(affinity_key_load(p, &one.current, NULL, 0), 0);
    assert_int_equal(affinity_key_load(p, &two.current, NULL, 0), 0);
    assert_int_equal(affinity_backend_ids(&two, "agent-2", &ids), 0);
    encode_ok(&one, "agent-2", NOW + TTL, v);
    assert_int_equal(decode(&two, v, NOW, &c), 0);
    assert_true(affinity_match(&c, &ids));
    affinity_keys_fini(&one);
    affinity_keys_fini(&two);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_vector),
        cmocka_unit_test(test_layout_matches_independent_hmac),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_tamper_every_byte),
        cmocka_unit_test(test_tamper_every_bit),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_expiry_edge),
        cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_previous_key),
        cmocka_unit_test(test_wrong_version),
        cmocka_unit_test(test_malformed_base64),
        cmocka_unit_test(test_oversize),
        cmocka_unit_test(test_two_instances),
        cmocka_unit_test(test_backend_id_hides_name),
        cmocka_unit_test(test_no_keys),
        cmocka_unit_test(test_cookie_find),
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_cookie_strip),
        cmocka_unit_test(test_set_cookie),
        cmocka_unit_test(test_key_load),
        cmocka_unit_test(test_key_file_shared),
    };

    return cmocka_run_group_tests(tests, tmp_setup, tmp_teardown);
}
