/* API keys and roles for the admin API. A presented key is run through
 * HMAC-SHA-256 under a per-set random key and the digest is compared with
 * every configured key's digest, so neither the matching key nor the
 * length of any configured key shows in the timing. Routing the request
 * and answering 401/403 belong to admin.c; this file only decides. */
#include "weir/admin/admin_auth.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "weir/config/config.h"
#include "weir/util/defs.h"

#define DIGEST_LEN 32            /* SHA-256 */

struct admin_key {
    unsigned char digest[DIGEST_LEN];
    enum admin_role role;
};

struct admin_keys {
    unsigned char hmac_key[DIGEST_LEN];
    struct admin_key *keys;
    size_t n;
};

struct admin_keys *
admin_keys_new(void)
{
    struct admin_keys *ks = calloc(1, sizeof(*ks));
    if (ks == NULL)
        return NULL;
    if (RAND_bytes(ks->hmac_key, sizeof(ks->hmac_key)) != 1) {
        free(ks);
        return NULL;
    }
    return ks;
}

void
admin_keys_free(struct admin_keys *ks)
{
    if (ks == NULL)
        return;
    if (ks->keys != NULL) {
        OPENSSL_cleanse(ks->keys, ks->n * sizeof(*ks->keys));
        free(ks->keys);
    }
    OPENSSL_cleanse(ks, sizeof(*ks));
    free(ks);
}

size_t
admin_keys_count(const struct admin_keys *ks)
{
    return ks == NULL ? 0 : ks->n;
}

static int
keyed_digest(const struct admin_keys *ks, const void *key, size_t len,
             unsigned char out[DIGEST_LEN])
{
    unsigned int out_len = 0;

    if (len > INT_MAX)
        return -1;
    if (HMAC(EVP_sha256(), ks->hmac_key, (int)sizeof(ks->hmac_key), key, len,
             out, &out_len) == NULL || out_len != DIGEST_LEN)
        return -1;
    return 0;
}

/* 1 when X is 0, else 0, without a branch on X. */
static unsigned
ct_is_zero(unsigned x)
{
    return 1u ^ ((x | (0u - x)) >> (sizeof(x) * CHAR_BIT - 1));
}

/* The role whose digest equals DIGEST: every entry is compared, in full,
 * and the result is folded in with masks instead of branches. Keys are
 * unique (admin_keys_add), so at most one entry matches. */
static enum admin_role
match_digest(const struct admin_keys *ks, const unsigned char *digest)
{
    unsigned granted = 0;

    for (size_t i = 0; i < ks->n; i++) {
        unsigned diff = (unsigned)CRYPTO_memcmp(digest, ks->keys[i].digest,
                                                DIGEST_LEN);
        unsigned mask = 0u - ct_is_zero(diff);
        granted |= mask & (unsigned)ks->keys[i].role;
    }
    return (enum admin_role)granted;
}

int
admin_keys_add(struct admin_keys *ks, const void *key, size_t len,
               enum admin_role role)
{
    struct admin_key entry;

    if (len == 0 || len > ADMIN_KEY_MAX || role < ADMIN_ROLE_VIEWER
        || role > ADMIN_ROLE_ADMIN)
        return -1;
    if (keyed_digest(ks, key, len, entry.digest) == -1)
        return -1;
    entry.role = role;
    if (match_digest(ks, entry.digest) != ADMIN_ROLE_NONE) {
        OPENSSL_cleanse(&entry, sizeof(entry));
        return -1;
    }
    /* Not realloc: the old array is wiped before it is released. */
    struct admin_key *keys = malloc((ks->n + 1) * sizeof(*keys));
    if (keys == NULL) {
        OPENSSL_cleanse(&entry, sizeof(entry));
        return -1;
    }
    if (ks->n > 0) {
        memcpy(keys, ks->keys, ks->n * sizeof(*keys));
        OPENSSL_cleanse(ks->keys, ks->n * sizeof(*keys));
    }
    free(ks->keys);
    keys[ks->n] = entry;
    OPENSSL_cleanse(&entry, sizeof(entry));
    ks->keys = keys;
    ks->n++;
    return 0;
}

enum admin_role
admin_keys_lookup(const struct admin_keys *ks, const void *key, size_t len)
{
    unsigned char digest[DIGEST_LEN];
    enum admin_role role;

    if (ks == NULL || key == NULL || len == 0)
        return ADMIN_ROLE_NONE;
    if (keyed_digest(ks, key, len, digest) == -1)
        return ADMIN_ROLE_NONE;
    role = match_digest(ks, digest);
    OPENSSL_cleanse(digest, sizeof(digest));
    return role;
}

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

/* Read the key in PATH into RAW (ADMIN_KEY_MAX + 3 bytes: room for the
 * longest key, "\r\n", and one byte to notice a longer file). Returns the
 * key's length after the trailing newline is removed, or -1 with ERR set. */
static long
read_key_file(const char *path, char *raw, char *err, size_t errlen)
{
    size_t cap = ADMIN_KEY_MAX + 3, n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd == -1) {
        set_err(err, errlen, "%s: cannot open API key file: %s", path,
                strerror(errno));
        return -1;
    }
    while (n < cap) {
        ssize_t r = read(fd, raw + n, cap - n);
        if (r == -1 && errno == EINTR)
            continue;
        if (r == -1) {
            set_err(err, errlen, "%s: cannot read API key file: %s", path,
                    strerror(errno));
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (n > 0 && raw[n - 1] == '\n')
        n--;
    if (n > 0 && raw[n - 1] == '\r')
        n--;
    if (n == 0) {
        set_err(err, errlen, "%s: the API key is empty", path);
        return -1;
    }
    if (n > ADMIN_KEY_MAX) {
        set_err(err, errlen, "%s: the API key is longer than %d bytes", path,
                ADMIN_KEY_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)raw[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            set_err(err, errlen, "%s: the API key contains a control "
                    "character (one key per file, on one line)", path);
            return -1;
        }
    }
    if (raw[0] == ' ' || raw[0] == '\t' || raw[n - 1] == ' '
        || raw[n - 1] == '\t') {
        set_err(err, errlen, "%s: the API key starts or ends with a blank",
                path);
        return -1;
    }
    return (long)n;
}

static enum admin_role
role_from_cfg(enum cfg_role role)
{
    switch (role) {
    case CFG_ROLE_VIEWER:
        return ADMIN_ROLE_VIEWER;
    case CFG_ROLE_OPERATOR:
        return ADMIN_ROLE_OPERATOR;
    case CFG_ROLE_ADMIN:
        return ADMIN_ROLE_ADMIN;
    }
    return ADMIN_ROLE_NONE;
}

struct admin_keys *
admin_keys_load(const struct cfg_admin *admin, char *err, size_t errlen)
{
    char raw[ADMIN_KEY_MAX + 3];
    struct admin_keys *ks = admin_keys_new();

    if (ks == NULL) {
        set_err(err, errlen, "cannot set up API keys: out of memory or no "
                "randomness");
        return NULL;
    }
    for (size_t i = 0; i < admin->napi_keys; i++) {
        const char *path = admin->api_keys[i].key_file;
        enum admin_role role = role_from_cfg(admin->api_keys[i].role);
        if (path == NULL) {
            set_err(err, errlen, "admin.api_keys[%zu]: no key_file", i);
            goto fail;
        }
        long n = read_key_file(path, raw, err, errlen);
        if (n == -1)
            goto fail;
        if (admin_keys_lookup(ks, raw, (size_t)n) != ADMIN_ROLE_NONE) {
            set_err(err, errlen, "%s: the same API key is in another "
                    "key_file", path);
            goto fail;
        }
        if (admin_keys_add(ks, raw, (size_t)n, role) == -1) {
            set_err(err, errlen, "%s: cannot add the API key", path);
            goto fail;
        }
        OPENSSL_cleanse(raw, sizeof(raw));
    }
    return ks;

fail:
    OPENSSL_cleanse(raw, sizeof(raw));
    admin_keys_free(ks);
    return NULL;
}

/* PATH (LEN bytes) equals the NUL-terminated S. */
static bool
path_is(const char *path, size_t len, const char *s)
{
    return strlen(s) == len && memcmp(path, s, len) == 0;
}

/* PATH is /backends/NAME/ACTION with NAME one non-empty segment; ACTION
 * is returned (borrowed from PATH) with its length, or NULL. */
static const char *
backend_action(const char *path, size_t len, size_t *action_len)
{
    static const char prefix[] = "/backends/";
    size_t plen = sizeof(prefix) - 1;

    if (len <= plen || memcmp(path, prefix, plen) != 0)
        return NULL;
    const char *name = path + plen;
    const char *slash = memchr(name, '/', len - plen);
    if (slash == NULL || slash == name)
        return NULL;
    const char *action = slash + 1;
    *action_len = len - (size_t)(action - path);
    if (memchr(action, '/', *action_len) != NULL)
        return NULL;
    return action;
}

enum admin_role
admin_auth_required(const char *method, const char *path, size_t path_len)
{
    const char *q = memchr(path, '?', path_len);
    size_t alen;

    if (q != NULL)
        path_len = (size_t)(q - path);
    /* /health reveals nothing, and the status page (/) holds no data: it
     * fetches /status with the key the user types into it. */
    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
        return path_is(path, path_len, "/health") || path_is(path, path_len, "/")
                   ? ADMIN_ROLE_NONE
                   : ADMIN_ROLE_VIEWER;
    bool post = strcmp(method, "POST") == 0;
    if (post && path_is(path, path_len, "/reload"))
        return ADMIN_ROLE_ADMIN;
    const char *action = backend_action(path, path_len, &alen);
    if (action != NULL) {
        if (post && (path_is(action, alen, "drain")
                     || path_is(action, alen, "enable")))
            return ADMIN_ROLE_OPERATOR;
        if ((strcmp(method, "PUT") == 0 || strcmp(method, "DELETE") == 0) &&
            path_is(action, alen, "weight"))
            return ADMIN_ROLE_OPERATOR;
    }
    return ADMIN_ROLE_ADMIN;
}

enum admin_auth_result
admin_auth_check(const struct admin_keys *ks, const char *method,
                 const char *path, size_t path_len, const void *key,
                 size_t key_len)
{
    enum admin_role need = admin_auth_required(method, path, path_len);

    if (need == ADMIN_ROLE_NONE)
        return ADMIN_AUTH_OK;
    enum admin_role have = admin_keys_lookup(ks, key, key_len);
    if (have == ADMIN_ROLE_NONE)
        return ADMIN_AUTH_UNAUTHORIZED;
    return have >= need ? ADMIN_AUTH_OK : ADMIN_AUTH_FORBIDDEN;
}

const char *
admin_role_name(enum admin_role role)
{
    switch (role) {
    case ADMIN_ROLE_VIEWER:
        return "viewer";
    case ADMIN_ROLE_OPERATOR:
        return "operator";
    case ADMIN_ROLE_ADMIN:
        return "admin";
    case ADMIN_ROLE_NONE:
        break;
    }
    return "none";
}
