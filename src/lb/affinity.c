/* Session affinity cookies: key files, the signed value (docs/affinity.md),
 * and finding, removing and setting the cookie in header values. Owns no
 * state beyond the keys it is given; does not choose backends, read the
 * clock or touch sockets (the proxy does). Only key loading reads a file. */
#include "weir/lb/affinity.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "weir/util/defs.h"

/* The 33-byte cookie: version, backend id, expiry, truncated MAC. */
#define COOKIE_VERSION 1
#define OFF_ID 1
#define OFF_EXPIRY (OFF_ID + AFFINITY_ID_LEN)
#define OFF_MAC (OFF_EXPIRY + 8)
#define MAC_LEN 16
#define RAW_LEN (OFF_MAC + MAC_LEN)

/* Prefix of the id input; distinct from the MAC input, whose first byte is
 * the version (0x01), so one key serves both without ambiguity. */
static const char id_label[] = "backend:";

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

_Static_assert(RAW_LEN == 33, "cookie layout");
_Static_assert(RAW_LEN % 3 == 0 && RAW_LEN / 3 * 4 == AFFINITY_VALUE_LEN,
               "33 bytes are exactly 44 base64url characters");

static void WEIR_PRINTF(3, 4)
set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static bool
key_is_set(const struct affinity_key *k)
{
    return k->bytes != NULL && k->len > 0;
}

/* HMAC-SHA256 under K of A then B, into MD (32 bytes). 0 or -1. */
static int
hmac_sha256(const struct affinity_key *k, const void *a, size_t alen,
            const void *b, size_t blen, unsigned char md[32])
{
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    EVP_MAC *mac;
    EVP_MAC_CTX *ctx = NULL;
    size_t outl = 0;
    int rc = -1;

    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL)
        return -1;
    ctx = EVP_MAC_CTX_new(mac);
    if (ctx != NULL && EVP_MAC_init(ctx, k->bytes, k->len, params) == 1 &&
        EVP_MAC_update(ctx, a, alen) == 1 &&
        (blen == 0 || EVP_MAC_update(ctx, b, blen) == 1) &&
        EVP_MAC_final(ctx, md, &outl, 32) == 1 && outl == 32)
        rc = 0;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return rc;
}

static int
backend_id(const struct affinity_key *k, const char *name,
           uint8_t out[AFFINITY_ID_LEN])
{
    unsigned char md[32];

    if (hmac_sha256(k, id_label, sizeof(id_label) - 1, name, strlen(name),
                    md) == -1)
        return -1;
    memcpy(out, md, AFFINITY_ID_LEN);
    return 0;
}

/* The truncated MAC of the first OFF_MAC bytes of RAW. */
static int
cookie_mac(const struct affinity_key *k, const unsigned char *raw,
           unsigned char out[MAC_LEN])
{
    unsigned char md[32];

    if (hmac_sha256(k, raw, OFF_MAC, NULL, 0, md) == -1)
        return -1;
    memcpy(out, md, MAC_LEN);
    return 0;
}

static bool
mac_ok(const struct affinity_key *k, const unsigned char *raw)
{
    unsigned char mac[MAC_LEN];

    if (!key_is_set(k) || cookie_mac(k, raw, mac) == -1)
        return false;
    return CRYPTO_memcmp(mac, raw + OFF_MAC, MAC_LEN) == 0;
}

/* LEN (a multiple of 3) bytes to LEN/3*4 characters, no NUL. */
static void
b64url_encode(const unsigned char *in, size_t len, char *out)
{
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
                     in[i + 2];

        *out++ = b64url_alphabet[v >> 18 & 63];
        *out++ = b64url_alphabet[v >> 12 & 63];
        *out++ = b64url_alphabet[v >> 6 & 63];
        *out++ = b64url_alphabet[v & 63];
    }
}

static int
b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* LEN (a multiple of 4) characters to LEN/4*3 bytes. Any character outside
 * the alphabet (padding included) fails. 0 or -1. */
static int
b64url_decode(const char *in, size_t len, unsigned char *out)
{
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = 0;

        for (size_t j = 0; j < 4; j++) {
            int d = b64url_value((unsigned char)in[i + j]);

            if (d < 0)
                return -1;
            v = v << 6 | (uint32_t)d;
        }
        *out++ = (unsigned char)(v >> 16);
        *out++ = (unsigned char)(v >> 8);
        *out++ = (unsigned char)v;
    }
    return 0;
}

static void
put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)v;
        v >>= 8;
    }
}

static uint64_t
get_be64(const unsigned char *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* The length rules shared by files and memory; NULL when BYTES may be a key,
 * else why not. */
static const char *
key_problem(const unsigned char *bytes, size_t len)
{
    if (len < AFFINITY_KEY_MIN)
        return "too short";
    if (len > AFFINITY_KEY_MAX)
        return "too long";
    for (size_t i = 1; i < len; i++)
        if (bytes[i] != bytes[0])
            return NULL;
    return "one byte repeated";
}

/* A text file's final line end is not part of the key; raw bytes that
 * happen to end in 0x0a are (else 1 in 256 raw keys would lose a byte). */
static size_t
strip_text_line_end(const unsigned char *b, size_t n)
{
    size_t m;

    if (n == 0 || b[n - 1] != '\n')
        return n;
    m = n - 1;
    if (m > 0 && b[m - 1] == '\r')
        m--;
    for (size_t i = 0; i < m; i++)
        if (b[i] < 0x20 || b[i] > 0x7e)
            return n;
    return m;
}

int
affinity_key_set(struct affinity_key *out, const void *bytes, size_t len)
{
    out->bytes = NULL;
    out->len = 0;
    if (key_problem(bytes, len) != NULL)
        return -1;
    out->bytes = malloc(len);
    if (out->bytes == NULL)
        return -1;
    memcpy(out->bytes, bytes, len);
    out->len = len;
    return 0;
}

int
affinity_key_load(const char *path, struct affinity_key *out, char *err,
                  size_t errlen)
{
    unsigned char buf[AFFINITY_KEY_MAX + 1];
    char ebuf[128];
    size_t n = 0;
    int fd, rc = -1;

    out->bytes = NULL;
    out->len = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        set_err(err, errlen, "cannot read %s: %s", path,
                strerror_r(errno, ebuf, sizeof(ebuf)));
        return -1;
    }
    while (n < sizeof(buf)) {
        ssize_t r = read(fd, buf + n, sizeof(buf) - n);

        if (r == -1 && errno == EINTR)
            continue;
        if (r == -1) {
            set_err(err, errlen, "cannot read %s: %s", path,
                    strerror_r(errno, ebuf, sizeof(ebuf)));
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (n > AFFINITY_KEY_MAX) {
        set_err(err, errlen, "%s: larger than %d bytes: not a key file",
                path, AFFINITY_KEY_MAX);
        goto out;
    }
    n = strip_text_line_end(buf, n);
    if (n < AFFINITY_KEY_MIN) {
        set_err(err, errlen, "%s: key is %zu bytes, need at least %d "
                "(openssl rand -out %s %d)", path, n, AFFINITY_KEY_MIN, path,
                AFFINITY_KEY_MIN);
        goto out;
    }
    if (key_problem(buf, n) != NULL) {
        set_err(err, errlen, "%s: key is one byte repeated, not random",
                path);
        goto out;
    }
    if (affinity_key_set(out, buf, n) == -1) {
        set_err(err, errlen, "%s: out of memory", path);
        goto out;
    }
    rc = 0;
out:
    OPENSSL_cleanse(buf, sizeof(buf));
    close(fd);
    return rc;
}

void
affinity_key_fini(struct affinity_key *k)
{
    if (k->bytes != NULL) {
        OPENSSL_cleanse(k->bytes, k->len);
        free(k->bytes);
    }
    k->bytes = NULL;
    k->len = 0;
}

void
affinity_keys_fini(struct affinity_keys *keys)
{
    affinity_key_fini(&keys->current);
    affinity_key_fini(&keys->previous);
}

int
affinity_backend_ids(const struct affinity_keys *keys, const char *name,
                     struct affinity_ids *out)
{
    memset(out, 0, sizeof(*out));
    if (!key_is_set(&keys->current) ||
        backend_id(&keys->current, name, out->current) == -1)
        goto fail;
    if (key_is_set(&keys->previous)) {
        if (backend_id(&keys->previous, name, out->previous) == -1)
            goto fail;
        out->has_previous = true;
    }
    return 0;
fail:
    memset(out, 0, sizeof(*out));
    return -1;
}

bool
affinity_match(const struct affinity_cookie *c, const struct affinity_ids *ids)
{
    /* The all-zero ids of a failed computation must match nothing. */
    static const uint8_t zero[AFFINITY_ID_LEN];
    const uint8_t *id = c->previous_key ? ids->previous : ids->current;

    if (c->previous_key && !ids->has_previous)
        return false;
    return memcmp(id, zero, AFFINITY_ID_LEN) != 0 &&
           memcmp(id, c->backend_id, AFFINITY_ID_LEN) == 0;
}

int
affinity_encode(const struct affinity_keys *keys, const char *name,
                uint64_t expires_at_s, char *out, size_t outlen)
{
    unsigned char raw[RAW_LEN];

    if (outlen > 0)
        out[0] = '\0';
    if (outlen < AFFINITY_VALUE_SIZE || !key_is_set(&keys->current))
        return -1;
    raw[0] = COOKIE_VERSION;
    if (backend_id(&keys->current, name, raw + OFF_ID) == -1)
        return -1;
    put_be64(raw + OFF_EXPIRY, expires_at_s);
    if (cookie_mac(&keys->current, raw, raw + OFF_MAC) == -1)
        return -1;
    b64url_encode(raw, RAW_LEN, out);
    out[AFFINITY_VALUE_LEN] = '\0';
    return 0;
}

int
affinity_decode(const struct affinity_keys *keys, const char *value,
                size_t len, uint64_t now_s, struct affinity_cookie *out)
{
    unsigned char raw[RAW_LEN];
    bool previous = false;
    uint64_t expires;

    /* Exactly one length is valid, so nothing longer is ever decoded. */
    if (len != AFFINITY_VALUE_LEN || b64url_decode(value, len, raw) == -1)
        return -1;
    if (raw[0] != COOKIE_VERSION)
        return -1;
    if (!mac_ok(&keys->current, raw)) {
        if (!mac_ok(&keys->previous, raw))
            return -1;
        previous = true;
    }
    expires = get_be64(raw + OFF_EXPIRY);
    if (now_s >= expires)
        return -1;
    memcpy(out->backend_id, raw + OFF_ID, AFFINITY_ID_LEN);
    out->expires_at_s = expires;
    out->previous_key = previous;
    return 0;
}

static bool
is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* One ';'-separated piece of a Cookie header, trimmed. */
struct pair {
    size_t start, end;          /* the pair without surrounding spaces */
    bool has_name;              /* it has an '=' */
    size_t name_start, name_len;
    size_t val_start, val_len;  /* without spaces or one pair of quotes */
};

/* Parse HDR[FROM, TO) (no ';' inside) into *P. */
static void
pair_parse(const char *hdr, size_t from, size_t to, struct pair *p)
{
    size_t eq, ne, vs;

    while (from < to && is_ows(hdr[from]))
        from++;
    while (to > from && is_ows(hdr[to - 1]))
        to--;
    memset(p, 0, sizeof(*p));
    p->start = from;
    p->end = to;
    for (eq = from; eq < to && hdr[eq] != '='; eq++)
        ;
    if (eq == to)
        return;
    for (ne = eq; ne > from && is_ows(hdr[ne - 1]); ne--)
        ;
    for (vs = eq + 1; vs < to && is_ows(hdr[vs]); vs++)
        ;
    p->has_name = true;
    p->name_start = from;
    p->name_len = ne - from;
    p->val_start = vs;
    p->val_len = to - vs;
    if (p->val_len >= 2 && hdr[vs] == '"' && hdr[to - 1] == '"') {
        p->val_start++;
        p->val_len -= 2;
    }
}

/* The pair starting at *POS, which moves past its ';'. False at the end. */
static bool
pair_next(const char *hdr, size_t len, size_t *pos, struct pair *p)
{
    size_t i = *pos, end;

    if (i >= len)
        return false;
    for (end = i; end < len && hdr[end] != ';'; end++)
        ;
    pair_parse(hdr, i, end, p);
    *pos = end < len ? end + 1 : len;
    return true;
}

static bool
pair_is(const char *hdr, const struct pair *p, const char *name, size_t nlen)
{
    return p->has_name && nlen > 0 && p->name_len == nlen &&
           memcmp(hdr + p->name_start, name, nlen) == 0;
}

int
affinity_cookie_find(const char *hdr, size_t len, const char *name,
                     size_t *pos, const char **val, size_t *vlen)
{
    size_t nlen = strlen(name);
    struct pair p;

    while (pair_next(hdr, len, pos, &p)) {
        if (pair_is(hdr, &p, name, nlen)) {
            *val = hdr + p.val_start;
            *vlen = p.val_len;
            return 0;
        }
    }
    return -1;
}

int
affinity_lookup(const struct affinity_keys *keys, const char *hdr,
                size_t len, const char *name, uint64_t now_s,
                struct affinity_cookie *out)
{
    size_t pos = 0, vlen;
    const char *val;

    for (int tries = 0; tries < AFFINITY_MAX_TRIES; tries++) {
        if (affinity_cookie_find(hdr, len, name, &pos, &val, &vlen) == -1)
            return -1;
        if (affinity_decode(keys, val, vlen, now_s, out) == 0)
            return 0;
    }
    return -1;
}

size_t
affinity_cookie_strip(const char *hdr, size_t len, const char *name,
                      char *out, size_t outlen)
{
    size_t nlen = strlen(name), pos = 0, n = 0, prev_end = 0;
    struct pair p;

    if (outlen < len)
        return SIZE_MAX;
    while (pair_next(hdr, len, &pos, &p)) {
        if (p.start == p.end)
            continue;
        if (!pair_is(hdr, &p, name, nlen)) {
            /* Output ranges are disjoint and in order: n never passes len. */
            if (n > 0) {
                memcpy(out + n, hdr + prev_end, p.start - prev_end);
                n += p.start - prev_end;
            }
            memcpy(out + n, hdr + p.start, p.end - p.start);
            n += p.end - p.start;
        }
        prev_end = p.end;
    }
    return n;
}

int
affinity_set_cookie(char *out, size_t outlen, const char *name,
                    const char *value, uint64_t max_age_s, bool secure)
{
    int n = snprintf(out, outlen,
                     "%s=%s; Path=/; Max-Age=%" PRIu64
                     "; HttpOnly; SameSite=Lax%s",
                     name, value, max_age_s, secure ? "; Secure" : "");

    if (n < 0 || (size_t)n >= outlen) {
        if (outlen > 0)
            out[0] = '\0';
        return -1;
    }
    return n;
}
