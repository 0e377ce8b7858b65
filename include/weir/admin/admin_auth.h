/* Admin API authorisation: which role an X-API-Key grants (compared in
 * constant time against every configured key) and which role a request
 * (method, path) needs. Pure: no I/O besides reading the key files once in
 * admin_keys_load(), no logging; messages go to a caller's buffer and never
 * contain a key. */
#ifndef WEIR_ADMIN_AUTH_H
#define WEIR_ADMIN_AUTH_H

#include <stddef.h>

struct cfg_admin;

/* Ordered: a role may do everything the roles below it may. */
enum admin_role {
    ADMIN_ROLE_NONE,             /* no valid key; or: a route open to all */
    ADMIN_ROLE_VIEWER,           /* GET */
    ADMIN_ROLE_OPERATOR,         /* + drain, enable, weight */
    ADMIN_ROLE_ADMIN,            /* + reload */
};

/* Verdict for one request on the TCP admin listener. */
enum admin_auth_result {
    ADMIN_AUTH_OK,               /* go ahead */
    ADMIN_AUTH_UNAUTHORIZED,     /* 401: key missing or not recognised */
    ADMIN_AUTH_FORBIDDEN,        /* 403: valid key, role too low */
};

/* Longest API key accepted, in bytes. */
#define ADMIN_KEY_MAX 1024

/* The configured keys. Only keyed digests (HMAC-SHA-256 under a random key
 * drawn when the set is made) are kept, never the keys themselves; all of
 * it is wiped on free. */
struct admin_keys;

/* An empty key set (every key is refused), or NULL when out of memory or
 * when no randomness is available. */
struct admin_keys *admin_keys_new(void);

/* Read every api_keys[i].key_file of ADMIN (borrowed): one key per file,
 * one trailing "\n" or "\r\n" removed. A file that cannot be read, an
 * empty key, a key longer than ADMIN_KEY_MAX, a key with control
 * characters or leading/trailing blanks (an HTTP header could never carry
 * it), or the same key in two files is an error. Returns a new set (free
 * with admin_keys_free), or NULL with "FILE: reason" in ERR (ERRLEN bytes).
 * The bytes read are wiped before returning. */
struct admin_keys *admin_keys_load(const struct cfg_admin *admin, char *err,
                                   size_t errlen);

/* Add KEY (LEN bytes, borrowed, not kept) with ROLE (VIEWER..ADMIN).
 * 0, or -1 (set unchanged) when LEN is 0 or > ADMIN_KEY_MAX, ROLE is out
 * of range, the key is already in the set, or memory runs out. */
int admin_keys_add(struct admin_keys *keys, const void *key, size_t len,
                   enum admin_role role);

/* Number of keys in KEYS (0 for NULL). */
size_t admin_keys_count(const struct admin_keys *keys);

/* admin_keys_free(NULL) is a no-op. */
void admin_keys_free(struct admin_keys *keys);

/* The role granted by the presented KEY (LEN bytes; NULL or LEN 0 = no
 * key), or ADMIN_ROLE_NONE. The key is compared against every configured
 * key, each in constant time, whatever matches: the time taken depends on
 * LEN and the number of keys only, never on which key matched or where the
 * bytes differ. KEYS may be NULL (no keys). */
enum admin_role admin_keys_lookup(const struct admin_keys *keys,
                                  const void *key, size_t len);

/* The role a request needs. METHOD is the request method (case-sensitive,
 * as HTTP says); PATH the request target (PATH_LEN bytes, need not be
 * NUL-terminated); a query string ("?...") is ignored.
 *   GET or HEAD /health                      -> ADMIN_ROLE_NONE (no key)
 *   any other GET or HEAD                    -> ADMIN_ROLE_VIEWER
 *   POST /backends/NAME/drain, POST /backends/NAME/enable,
 *   PUT /backends/NAME/weight                -> ADMIN_ROLE_OPERATOR
 *   POST /reload                             -> ADMIN_ROLE_ADMIN
 *   anything else                            -> ADMIN_ROLE_ADMIN
 * The last line fails closed: a request to a route not listed (which the
 * server answers with 404 or 405) needs the highest role, so a lesser key
 * learns nothing from it; a route added later without updating this table
 * is admin-only until it is. NAME is one non-empty path segment. */
enum admin_role admin_auth_required(const char *method, const char *path,
                                    size_t path_len);

/* The whole check for one request: the role the route needs, then the
 * presented key (NULL when the request had no X-API-Key). A route that
 * needs no role passes without looking at the key. */
enum admin_auth_result admin_auth_check(const struct admin_keys *keys,
                                        const char *method, const char *path,
                                        size_t path_len, const void *key,
                                        size_t key_len);

/* "viewer", "operator", "admin" or "none". */
const char *admin_role_name(enum admin_role role);

#endif
