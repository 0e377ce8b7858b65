/* Session affinity cookies: keys, the signed cookie value (version, keyed
 * backend id, expiry, HMAC-SHA256), and the Cookie / Set-Cookie text around
 * it. Pure: time is passed in, nothing is logged; only keys are allocated
 * (and OpenSSL's short-lived HMAC context). Format: docs/affinity.md. */
#ifndef WEIR_AFFINITY_H
#define WEIR_AFFINITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AFFINITY_KEY_MIN 32       /* bytes a key must have */
#define AFFINITY_KEY_MAX 4096     /* bytes a key file may have */
#define AFFINITY_ID_LEN 8         /* keyed backend identifier */
#define AFFINITY_VALUE_LEN 44     /* base64url of the 33-byte cookie */
#define AFFINITY_VALUE_SIZE (AFFINITY_VALUE_LEN + 1)  /* with the NUL */
#define AFFINITY_MAX_TRIES 4      /* same-name cookies verified per header */

/* One HMAC key. Zeroed = unset. Wiped when finished. */
struct affinity_key {
    unsigned char *bytes;         /* heap; NULL when unset */
    size_t len;
};

/* The key that signs (current) and one still accepted (previous). A zeroed
 * struct has no keys; previous may stay unset. */
struct affinity_keys {
    struct affinity_key current;
    struct affinity_key previous;
};

/* What a valid cookie says. */
struct affinity_cookie {
    uint8_t backend_id[AFFINITY_ID_LEN];
    uint64_t expires_at_s;        /* seconds since the epoch, > now */
    bool previous_key;            /* verified by the previous key */
};

/* A backend's identifier under each key, computed once per key load (ids
 * are keyed, so a cookie signed with the previous key carries the id
 * derived from the previous key). */
struct affinity_ids {
    uint8_t current[AFFINITY_ID_LEN];
    uint8_t previous[AFFINITY_ID_LEN];  /* valid when has_previous */
    bool has_previous;
};

/* Read the key in PATH into *OUT (zeroed or finished first; on failure it
 * stays unset). The file's bytes are the key as they are, except that a
 * file of printable ASCII ending in one LF or CRLF loses that line end, so
 * `openssl rand -out F 32` (raw) and `openssl rand -hex 32` (text) both
 * work. Rejects a key under AFFINITY_KEY_MIN bytes, a file over
 * AFFINITY_KEY_MAX bytes, and a key of one repeated byte. Returns 0, or -1
 * with a one-line reason naming PATH in ERR (ERRLEN bytes; ERR may be
 * NULL). Reads the file with open/read only; wipes its stack copy. */
int affinity_key_load(const char *path, struct affinity_key *out, char *err,
                      size_t errlen);

/* Copy LEN bytes at BYTES (borrowed) into *OUT (zeroed or finished first),
 * under the same length rules as affinity_key_load. 0, or -1 (bad length or
 * out of memory; *OUT stays unset). */
int affinity_key_set(struct affinity_key *out, const void *bytes, size_t len);

/* Wipe (OPENSSL_cleanse) and free the key; leaves it unset. Safe on an unset
 * key and twice. */
void affinity_key_fini(struct affinity_key *k);

/* affinity_key_fini on both keys. */
void affinity_keys_fini(struct affinity_keys *keys);

/* Compute NAME's (borrowed, NUL-terminated) ids under KEYS' current key and,
 * if set, its previous key: HMAC-SHA256(key, "backend:" NAME), first 8
 * bytes. Two instances with the same key bytes and name agree; the name is
 * not recoverable from the id. 0, or -1 (no current key, or OpenSSL
 * failed; *OUT is then zeroed and matches nothing). */
int affinity_backend_ids(const struct affinity_keys *keys, const char *name,
                         struct affinity_ids *out);

/* True when cookie C (from a successful decode) names the backend whose ids
 * are IDS: compares against the id of the key that verified C. */
bool affinity_match(const struct affinity_cookie *c,
                    const struct affinity_ids *ids);

/* Write the cookie value for backend NAME expiring at EXPIRES_AT_S (seconds
 * since the epoch; the caller passes now + ttl), signed with KEYS' current
 * key, as AFFINITY_VALUE_LEN base64url characters and a NUL into OUT
 * (OUTLEN >= AFFINITY_VALUE_SIZE). 0, or -1 (short buffer, no current key,
 * OpenSSL failed; OUT then holds "" if OUTLEN > 0). */
int affinity_encode(const struct affinity_keys *keys, const char *name,
                    uint64_t expires_at_s, char *out, size_t outlen);

/* Verify cookie value VALUE (LEN bytes, borrowed, need not be terminated) at
 * time NOW_S: the exact length is checked before decoding, then base64url,
 * version, the MAC (constant-time, current key first, then previous), and
 * expiry (valid while NOW_S < expiry). Returns 0 and fills *OUT when valid;
 * -1 for any invalid value (*OUT untouched). Never an error to report. */
int affinity_decode(const struct affinity_keys *keys, const char *value,
                    size_t len, uint64_t now_s, struct affinity_cookie *out);

/* Find the next cookie called NAME (case-sensitive, NUL-terminated) in
 * Cookie header value HDR (LEN bytes, borrowed), starting at *POS (0 at
 * first). Pairs are split on ';'; spaces and tabs around a pair, its name
 * and its value are ignored; one pair of surrounding double quotes is
 * removed from the value; a pair with no '=' has no name. On a match sets
 * *VAL, *VLEN to the value inside HDR (possibly empty), moves *POS past the
 * pair and returns 0; returns -1 when there are no more. */
int affinity_cookie_find(const char *hdr, size_t len, const char *name,
                         size_t *pos, const char **val, size_t *vlen);

/* The first valid affinity cookie in Cookie header value HDR: tries the
 * cookies called NAME in order (at most AFFINITY_MAX_TRIES of them, which
 * bounds the HMAC work per header) with affinity_decode. 0 and *OUT filled,
 * or -1 when none is valid. */
int affinity_lookup(const struct affinity_keys *keys, const char *hdr,
                    size_t len, const char *name, uint64_t now_s,
                    struct affinity_cookie *out);

/* Write Cookie header value HDR (LEN bytes, borrowed) into OUT with every
 * cookie called NAME removed: the other pairs are copied byte for byte, in
 * order, each preceded (except the first) by the separator that preceded
 * it in HDR; separators at either end are dropped. The result is never
 * longer than LEN and is not NUL-terminated. Returns its length (0: drop
 * the header), or SIZE_MAX when OUTLEN < LEN. */
size_t affinity_cookie_strip(const char *hdr, size_t len, const char *name,
                             char *out, size_t outlen);

/* Write the Set-Cookie header value
 * "NAME=VALUE; Path=/; Max-Age=N; HttpOnly; SameSite=Lax" (+ "; Secure")
 * and a NUL into OUT. Returns the length without the NUL, or -1 when OUTLEN
 * is too small (OUT then holds "" if OUTLEN > 0). */
int affinity_set_cookie(char *out, size_t outlen, const char *name,
                        const char *value, uint64_t max_age_s, bool secure);

#endif
