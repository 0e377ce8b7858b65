/* The configuration schema of DESIGN.md as data: for each key its type,
 * range, default and place in struct cfg (nginx's directive tables, for
 * YAML), plus the rules one key cannot check alone (unique names, an admin
 * TCP listener needs keys, affinity needs its secret, a certificate matches
 * its key). config.c walks it. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config_schema.h"
#include "weir/config/tls_check.h"
#include "weir/util/addr.h"
#include "weir/util/log.h"

#define SEC(n) (UINT64_C(1000) * (n))
#define DAY SEC(86400)

_Static_assert(sizeof(enum cfg_algorithm) == sizeof(int), "enum as int");
_Static_assert(sizeof(enum cfg_role) == sizeof(int), "enum as int");
/* check_unique_names reads the name as the first member. */
_Static_assert(offsetof(struct cfg_listener, name) == 0, "name first");
_Static_assert(offsetof(struct cfg_backend, name) == 0, "name first");

#define KEYS(t) .keys = (t), .nkeys = nitems(t)

/* Validators */

static const char *
valid_name(const char *s)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");

    /* Names appear in admin URLs (/backends/NAME/drain) and logs. */
    if (s[n] != '\0' || n > 64)
        return "is not a valid name (use at most 64 letters, digits, "
               "'.', '_' or '-')";
    return NULL;
}

static const char *
valid_http_path(const char *s)
{
    if (s[0] != '/')
        return "is not a valid request path (it must start with '/')";
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s <= 0x20 || *s == 0x7f)
            return "is not a valid request path (no spaces or control "
                   "characters)";
    }
    return NULL;
}

static const char *
valid_host(const char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s <= 0x20 || *s == 0x7f || *s == '/')
            return "is not a valid Host header value";
    }
    return NULL;
}

static const char *
valid_cookie_name(const char *s)
{
    /* RFC 6265 cookie-name = token (RFC 2616). */
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f ||
            strchr("()<>@,;:\\\"/[]?={}", *s) != NULL)
            return "is not a valid cookie name (letters, digits and "
                   "!#$%&'*+-.^_`|~ only)";
    }
    return NULL;
}

static const char *
valid_alpn(const char *s)
{
    /* Weir speaks HTTP/1.x only: offering h2 would be a lie the client
     * finds out about after the handshake. */
    if (strcmp(s, "http/1.1") != 0 && strcmp(s, "http/1.0") != 0)
        return "is not a protocol weir speaks (http/1.1 or http/1.0)";
    return NULL;
}

static const char *
valid_socket_path(const char *s)
{
    /* sizeof(sun_path) is 108 on Linux, NUL included. */
    if (strlen(s) > 107)
        return "is too long for a unix socket path (at most 107 bytes)";
    return NULL;
}

/* Enumerations */

static const struct cfg_enum_value algorithm_values[] = {
    {"least-connections", CFG_LB_LEAST_CONNECTIONS},
    {"round-robin", CFG_LB_ROUND_ROBIN},
    {"weighted", CFG_LB_WEIGHTED},
    {"ip-hash", CFG_LB_IP_HASH},
    {"least-response-time", CFG_LB_LEAST_RESPONSE_TIME},
};
static const struct cfg_enum algorithms = {
    "algorithm", algorithm_values, nitems(algorithm_values), NULL, NULL};

static const struct cfg_enum_value protocol_values[] = {{"HTTP", 0}};
static const struct cfg_enum protocols = {
    "health check protocol", protocol_values, nitems(protocol_values), NULL,
    NULL};

static const struct cfg_enum_value tls_version_values[] = {
    {"1.2", 12},
    {"1.3", 13},
};
static const char *const tls_versions_refused[] = {"1", "1.0", "1.1", NULL};
static const struct cfg_enum tls_versions = {
    "TLS version", tls_version_values, nitems(tls_version_values),
    tls_versions_refused, "too old and not supported"};

static const struct cfg_enum_value role_values[] = {
    {"viewer", CFG_ROLE_VIEWER},
    {"operator", CFG_ROLE_OPERATOR},
    {"admin", CFG_ROLE_ADMIN},
};
static const struct cfg_enum roles = {"role", role_values,
                                      nitems(role_values), NULL, NULL};

static const struct cfg_enum_value level_values[] = {
    {"error", LOG_LEVEL_ERROR},
    {"warn", LOG_LEVEL_WARN},
    {"info", LOG_LEVEL_INFO},
    {"debug", LOG_LEVEL_DEBUG},
};
static const struct cfg_enum levels = {"log level", level_values,
                                       nitems(level_values), NULL, NULL};

/* Sections, innermost first. */

static const struct cfg_key cert_keys[] = {
    {.name = "cert", .kind = CFG_PATH, .flags = CFG_K_REQUIRED | CFG_K_READABLE,
     .offset = offsetof(struct cfg_tls_cert, cert)},
    {.name = "key", .kind = CFG_PATH, .flags = CFG_K_REQUIRED | CFG_K_READABLE,
     .offset = offsetof(struct cfg_tls_cert, key)},
};
/* A certificate must parse, be valid now and match its key; the error goes
 * to the file at fault. A file that could not be read (NULL here) was
 * reported already. */
static void
cert_section_check(struct cfg_ctx *ctx, void *base, yaml_node_t *map)
{
    const struct cfg_tls_cert *c = base;
    char err[TLS_CHECK_ERR_MAX];
    const char *which;
    yaml_node_t *node;
    size_t old;
    int rc;

    if (c->cert == NULL)
        return;
    if (c->key != NULL)
        rc = tls_check_pair(c->cert, c->key, time(NULL), err, sizeof(err));
    else
        rc = tls_check_cert(c->cert, time(NULL), err, sizeof(err));
    if (rc == 0)
        return;
    which = rc == TLS_CHECK_KEY ? "key" : "cert";
    if ((node = cfg_map_get(ctx, map, which)) == NULL)
        node = map;
    old = cfg_path_push(ctx, which, 0);
    cfg_value_error(ctx, node, "%s", err);
    cfg_path_pop(ctx, old);
}

static const struct cfg_section cert_section = {
    KEYS(cert_keys), .size = sizeof(struct cfg_tls_cert),
    .check = cert_section_check};

static const struct cfg_key tls_keys[] = {
    {.name = "certificates", .kind = CFG_LIST, .flags = CFG_K_REQUIRED,
     .offset = offsetof(struct cfg_tls, certs),
     .offset2 = offsetof(struct cfg_tls, ncerts), .min = 1, .max = 256,
     .section = &cert_section},
    {.name = "min_version", .kind = CFG_ENUM,
     .offset = offsetof(struct cfg_tls, min_version), .def = 13,
     .enums = &tls_versions},
    {.name = "ciphersuites", .kind = CFG_STRING,
     .offset = offsetof(struct cfg_tls, ciphersuites)},
    {.name = "ciphers", .kind = CFG_STRING,
     .offset = offsetof(struct cfg_tls, ciphers)},
    {.name = "alpn", .kind = CFG_STRLIST,
     .offset = offsetof(struct cfg_tls, alpn),
     .offset2 = offsetof(struct cfg_tls, nalpn), .min = 1, .max = 16,
     .valid = valid_alpn},
};
static const struct cfg_section tls_section = {
    KEYS(tls_keys), .size = sizeof(struct cfg_tls)};

static const struct cfg_key listener_keys[] = {
    {.name = "name", .kind = CFG_STRING, .flags = CFG_K_REQUIRED,
     .offset = offsetof(struct cfg_listener, name), .valid = valid_name},
    {.name = "bind", .kind = CFG_ADDR, .flags = CFG_K_REQUIRED,
     .offset = offsetof(struct cfg_listener, bind)},
    {.name = "tls", .kind = CFG_MAP_PTR, .flags = CFG_K_NULLABLE,
     .offset = offsetof(struct cfg_listener, tls), .section = &tls_section},
};
static const struct cfg_section listener_section = {
    KEYS(listener_keys), .size = sizeof(struct cfg_listener)};

static const struct cfg_key backend_keys[] = {
    {.name = "name", .kind = CFG_STRING, .flags = CFG_K_REQUIRED,
     .offset = offsetof(struct cfg_backend, name), .valid = valid_name},
    {.name = "address", .kind = CFG_ADDR, .flags = CFG_K_REQUIRED,
     .offset = offsetof(struct cfg_backend, address), .min = 1},
    {.name = "weight", .kind = CFG_UINT,
     .offset = offsetof(struct cfg_backend, weight), .max = 256, .def = 1},
};
static const struct cfg_section backend_section = {
    KEYS(backend_keys), .size = sizeof(struct cfg_backend)};

/* The health check interval while down defaults to the normal one. */
static void
health_section_check(struct cfg_ctx *ctx, void *base, yaml_node_t *map)
{
    struct cfg_health *h = base;

    if (cfg_map_get(ctx, map, "unhealthy_interval") == NULL)
        h->unhealthy_interval_ms = h->interval_ms;
}

#define HEALTH(f) offsetof(struct cfg_health, f)
static const struct cfg_key health_keys[] = {
    {.name = "protocol", .kind = CFG_ENUM, .flags = CFG_K_CHECK_ONLY,
     .enums = &protocols},
    {.name = "path", .kind = CFG_STRING, .offset = HEALTH(path),
     .sdef = "/health", .valid = valid_http_path},
    {.name = "host", .kind = CFG_STRING, .flags = CFG_K_NULLABLE,
     .offset = HEALTH(host), .valid = valid_host},
    {.name = "interval", .kind = CFG_DURATION, .offset = HEALTH(interval_ms),
     .min = 1, .max = DAY, .def = SEC(10)},
    {.name = "timeout", .kind = CFG_DURATION, .offset = HEALTH(timeout_ms),
     .min = 1, .max = DAY, .def = SEC(5)},
    {.name = "healthy_threshold", .kind = CFG_UINT,
     .offset = HEALTH(healthy_threshold), .min = 1, .max = 1000, .def = 2},
    {.name = "unhealthy_threshold", .kind = CFG_UINT,
     .offset = HEALTH(unhealthy_threshold), .min = 1, .max = 1000, .def = 3},
    {.name = "unhealthy_interval", .kind = CFG_DURATION,
     .offset = HEALTH(unhealthy_interval_ms), .min = 1, .max = DAY,
     .def = SEC(10)},
    {.name = "expected_status", .kind = CFG_STATUS,
     .offset = HEALTH(status_min), .offset2 = HEALTH(status_max), .def = 200,
     .def2 = 399},
    {.name = "passive", .kind = CFG_BOOL, .offset = HEALTH(passive),
     .def = 1},
    {.name = "slow_start", .kind = CFG_DURATION,
     .offset = HEALTH(slow_start_ms), .max = DAY},
};
static const struct cfg_section health_section = {
    KEYS(health_keys), .check = health_section_check};

/* The secret files matter only when affinity is on: check them then. */
static void
affinity_section_check(struct cfg_ctx *ctx, void *base, yaml_node_t *map)
{
    static const char *const keys[] = {"secret_file", "previous_secret_file"};
    struct cfg_affinity *a = base;
    const char *paths[] = {a->secret_file, a->previous_secret_file};

    if (!a->enabled)
        return;
    for (size_t i = 0; i < nitems(keys); i++) {
        yaml_node_t *node = cfg_map_get(ctx, map, keys[i]);
        size_t old;

        if (paths[i] == NULL && node == NULL) {
            if (i == 0)
                cfg_error(ctx, map, "missing required key \"%s\" in %s "
                          "(session affinity is enabled)", keys[i],
                          cfg_path(ctx));
            continue;
        }
        old = cfg_path_push(ctx, keys[i], 0);
        if (paths[i] != NULL)
            cfg_check_readable(ctx, node, paths[i]);
        else if (i == 0)
            cfg_value_error(ctx, node, "must be set when session affinity "
                            "is enabled");
        cfg_path_pop(ctx, old);
    }
}

#define AFFINITY(f) offsetof(struct cfg_affinity, f)
static const struct cfg_key affinity_keys[] = {
    {.name = "enabled", .kind = CFG_BOOL, .offset = AFFINITY(enabled)},
    {.name = "cookie_name", .kind = CFG_STRING,
     .offset = AFFINITY(cookie_name), .sdef = "MAGS_SESSION",
     .valid = valid_cookie_name},
    {.name = "ttl", .kind = CFG_DURATION, .offset = AFFINITY(ttl_ms),
     .min = SEC(1), .max = 365 * DAY, .def = SEC(3600)},
    {.name = "secret_file", .kind = CFG_PATH, .flags = CFG_K_NULLABLE,
     .offset = AFFINITY(secret_file)},
    {.name = "previous_secret_file", .kind = CFG_PATH,
     .flags = CFG_K_NULLABLE, .offset = AFFINITY(previous_secret_file)},
};
static const struct cfg_section affinity_section = {
    KEYS(affinity_keys), .check = affinity_section_check};

#define DRAINING(f) offsetof(struct cfg_draining, f)
static const struct cfg_key draining_keys[] = {
    {.name = "enabled", .kind = CFG_BOOL, .offset = DRAINING(enabled),
     .def = 1},
    {.name = "timeout", .kind = CFG_DURATION, .offset = DRAINING(timeout_ms),
     .max = DAY, .def = SEC(300)},
    {.name = "sticky_grace", .kind = CFG_DURATION,
     .offset = DRAINING(sticky_grace_ms), .max = DAY},
    {.name = "shutdown_delay", .kind = CFG_DURATION,
     .offset = DRAINING(shutdown_delay_ms), .max = SEC(600)},
};
static const struct cfg_section draining_section = {KEYS(draining_keys)};

/* load_balancer has no struct of its own: its keys live in struct cfg. */
static const struct cfg_key lb_keys[] = {
    {.name = "algorithm", .kind = CFG_ENUM,
     .offset = offsetof(struct cfg, algorithm),
     .def = CFG_LB_LEAST_CONNECTIONS, .enums = &algorithms},
    {.name = "health_check", .kind = CFG_MAP,
     .offset = offsetof(struct cfg, health), .section = &health_section},
    {.name = "session_affinity", .kind = CFG_MAP,
     .offset = offsetof(struct cfg, affinity), .section = &affinity_section},
    {.name = "connection_draining", .kind = CFG_MAP,
     .offset = offsetof(struct cfg, draining), .section = &draining_section},
};
static const struct cfg_section lb_section = {KEYS(lb_keys)};

#define TIMEOUT(n, f, d)                                                 \
    {.name = n, .kind = CFG_DURATION,                                    \
     .offset = offsetof(struct cfg_timeouts, f), .min = 1, .max = DAY,   \
     .def = SEC(d)}
static const struct cfg_key timeout_keys[] = {
    TIMEOUT("connect", connect_ms, 5),
    TIMEOUT("tls_handshake", tls_handshake_ms, 10),
    TIMEOUT("client_header", client_header_ms, 10),
    TIMEOUT("client_idle", client_idle_ms, 60),
    TIMEOUT("client_write", client_write_ms, 60),
    TIMEOUT("client_body", client_body_ms, 10),
    TIMEOUT("backend_response", backend_response_ms, 60),
};
static const struct cfg_section timeouts_section = {KEYS(timeout_keys)};

static const struct cfg_key limit_keys[] = {
    {.name = "max_connections", .kind = CFG_UINT,
     .offset = offsetof(struct cfg_limits, max_connections), .min = 1,
     .max = 1000000, .def = 10000},
    {.name = "max_header_bytes", .kind = CFG_UINT,
     .offset = offsetof(struct cfg_limits, max_header_bytes), .min = 1024,
     .max = 1048576, .def = 16384},
    {.name = "max_header_line_bytes", .kind = CFG_UINT,
     .offset = offsetof(struct cfg_limits, max_header_line_bytes), .min = 256,
     .max = 1048576, .def = 8192},
    {.name = "min_body_rate", .kind = CFG_UINT,
     .offset = offsetof(struct cfg_limits, min_body_rate),
     .max = 1073741824, .def = 1024},
};
static const struct cfg_section limits_section = {KEYS(limit_keys)};

static const struct cfg_key api_key_keys[] = {
    {.name = "key_file", .kind = CFG_PATH,
     .flags = CFG_K_REQUIRED | CFG_K_READABLE,
     .offset = offsetof(struct cfg_api_key, key_file)},
    {.name = "role", .kind = CFG_ENUM, .flags = CFG_K_REQUIRED,
     .offset = offsetof(struct cfg_api_key, role), .enums = &roles},
};
static const struct cfg_section api_key_section = {
    KEYS(api_key_keys), .size = sizeof(struct cfg_api_key)};

/* An unauthenticated TCP admin port would let anyone drain or reload. */
static void
admin_section_check(struct cfg_ctx *ctx, void *base, yaml_node_t *map)
{
    struct cfg_admin *admin = base;
    size_t old;

    if (admin->listen.text == NULL || admin->napi_keys > 0)
        return;
    old = cfg_path_push(ctx, "listen", 0);
    cfg_value_error(ctx, cfg_map_get(ctx, map, "listen"),
                    "a TCP admin listener needs at least one entry in "
                    "admin.api_keys");
    cfg_path_pop(ctx, old);
}

static const struct cfg_key admin_keys[] = {
    {.name = "socket", .kind = CFG_PATH,
     .offset = offsetof(struct cfg_admin, socket),
     .sdef = "/tmp/weir-admin.sock", .valid = valid_socket_path},
    {.name = "listen", .kind = CFG_ADDR, .flags = CFG_K_NULLABLE,
     .offset = offsetof(struct cfg_admin, listen)},
    {.name = "api_keys", .kind = CFG_LIST,
     .offset = offsetof(struct cfg_admin, api_keys),
     .offset2 = offsetof(struct cfg_admin, napi_keys), .max = 256,
     .section = &api_key_section},
};
static const struct cfg_section admin_section = {
    KEYS(admin_keys), .check = admin_section_check};

static const struct cfg_key logging_keys[] = {
    {.name = "level", .kind = CFG_ENUM,
     .offset = offsetof(struct cfg_logging, level), .def = LOG_LEVEL_INFO,
     .enums = &levels},
    {.name = "access_log", .kind = CFG_LOGDEST,
     .offset = offsetof(struct cfg_logging, access_log), .sdef = "stdout"},
};
static const struct cfg_section logging_section = {KEYS(logging_keys)};

/* Cross-entry rules */

/* NAME's value node in entry I of the sequence under KEY of ROOT. */
static yaml_node_t *
entry_field(struct cfg_ctx *ctx, yaml_node_t *root, const char *key, size_t i,
            const char *name)
{
    return cfg_map_get(ctx, cfg_seq_get(ctx, cfg_map_get(ctx, root, key), i),
                       name);
}

/* Names are unique within listeners and within backends (STRIDE apart). */
static void
check_unique_names(struct cfg_ctx *ctx, yaml_node_t *root, const char *key,
                   const char *what, const char *items, size_t n,
                   size_t stride)
{
    char q[CFG_QUOTE_MAX];

    /* Quadratic, but lists are capped (1024 listeners, 10000 backends). */
    for (size_t j = 1; j < n; j++) {
        const char *name = *(char *const *)(const void *)(items + j * stride);
        for (size_t i = 0; name != NULL && i < j; i++) {
            const char *other =
                *(char *const *)(const void *)(items + i * stride);
            yaml_node_t *first, *again;

            if (other == NULL || strcmp(name, other) != 0)
                continue;
            first = entry_field(ctx, root, key, i, "name");
            again = entry_field(ctx, root, key, j, "name");
            if (first != NULL && again != NULL)
                cfg_error(ctx, again, "%s[%zu].name: duplicate %s name %s "
                          "(first at line %zu)", key, j, what,
                          cfg_quote(name, q), first->start_mark.line + 1);
            break;
        }
    }
}

/* Two listeners (or a listener and the admin port) on one address. Port 0
 * asks the kernel for a fresh port, so it never collides. */
static void
check_binds(struct cfg_ctx *ctx, yaml_node_t *root, const struct cfg *cfg)
{
    const struct cfg_addr *admin = &cfg->admin.listen;
    char q[CFG_QUOTE_MAX], qn[CFG_QUOTE_MAX], where[40];

    for (size_t j = 0; j <= cfg->nlisteners; j++) {
        const struct cfg_addr *a = j < cfg->nlisteners ?
                                   &cfg->listeners[j].bind : admin;
        const struct cfg_listener *l = NULL;
        yaml_node_t *node;

        if (a->text == NULL || addr_port((const struct sockaddr *)&a->sa) <= 0)
            continue;
        for (size_t i = 0; l == NULL && i < j && i < cfg->nlisteners; i++) {
            if (cfg->listeners[i].bind.text != NULL &&
                addr_equal((const struct sockaddr *)&a->sa,
                           (const struct sockaddr *)&cfg->listeners[i].bind.sa))
                l = &cfg->listeners[i];
        }
        if (l == NULL)
            continue;
        if (j < cfg->nlisteners) {
            node = entry_field(ctx, root, "listeners", j, "bind");
            snprintf(where, sizeof(where), "listeners[%zu].bind", j);
        } else {
            node = cfg_map_get(ctx, cfg_map_get(ctx, root, "admin"), "listen");
            snprintf(where, sizeof(where), "admin.listen");
        }
        if (node != NULL)
            cfg_error(ctx, node, "%s: address %s is already used by listener "
                      "%s", where, cfg_quote(a->text, q),
                      cfg_quote(l->name != NULL ? l->name : "?", qn));
    }
}

static void
root_check(struct cfg_ctx *ctx, void *base, yaml_node_t *root)
{
    const struct cfg *cfg = base;

    check_unique_names(ctx, root, "listeners", "listener",
                       (const char *)cfg->listeners, cfg->nlisteners,
                       sizeof(*cfg->listeners));
    check_unique_names(ctx, root, "backends", "backend",
                       (const char *)cfg->backends, cfg->nbackends,
                       sizeof(*cfg->backends));
    check_binds(ctx, root, cfg);
}

static const struct cfg_key root_keys[] = {
    {.name = "listeners", .kind = CFG_LIST, .flags = CFG_K_REQUIRED,
     .offset = offsetof(struct cfg, listeners),
     .offset2 = offsetof(struct cfg, nlisteners), .min = 1, .max = 1024,
     .section = &listener_section},
    {.name = "backends", .kind = CFG_LIST, .flags = CFG_K_REQUIRED,
     .offset = offsetof(struct cfg, backends),
     .offset2 = offsetof(struct cfg, nbackends), .min = 1, .max = 10000,
     .section = &backend_section},
    {.name = "load_balancer", .kind = CFG_MAP, .section = &lb_section},
    {.name = "timeouts", .kind = CFG_MAP,
     .offset = offsetof(struct cfg, timeouts), .section = &timeouts_section},
    {.name = "limits", .kind = CFG_MAP, .offset = offsetof(struct cfg, limits),
     .section = &limits_section},
    {.name = "admin", .kind = CFG_MAP, .offset = offsetof(struct cfg, admin),
     .section = &admin_section},
    {.name = "workers", .kind = CFG_UINT,
     .offset = offsetof(struct cfg, workers), .max = 256, .def = 1},
    {.name = "logging", .kind = CFG_MAP,
     .offset = offsetof(struct cfg, logging), .section = &logging_section},
};
const struct cfg_section cfg_schema_root = {
    KEYS(root_keys), .check = root_check};

const char *
cfg_algorithm_name(enum cfg_algorithm algorithm)
{
    for (size_t i = 0; i < nitems(algorithm_values); i++) {
        if (algorithm_values[i].value == (int)algorithm)
            return algorithm_values[i].name;
    }
    return "unknown";
}
