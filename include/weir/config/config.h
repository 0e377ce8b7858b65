/* The configuration: one immutable struct built from the YAML file.
 * Every key of DESIGN.md is here; later features read their part.
 * Durations are in milliseconds. Strings are NUL-terminated and owned by
 * the struct cfg; cfg_free() releases everything. */
#ifndef WEIR_CONFIG_H
#define WEIR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "weir/util/defs.h"

struct cfg_addr {
    char *text;                  /* as written: "127.0.0.1:8080", "[::1]:80" */
    struct sockaddr_storage sa;  /* parsed, numeric only (no DNS) */
    socklen_t salen;
};

struct cfg_tls_cert {
    char *cert;                  /* path, resolved (see cfg_load) */
    char *key;
};

struct cfg_tls {
    struct cfg_tls_cert *certs;  /* first is the default */
    size_t ncerts;
    int min_version;             /* 12 or 13 */
    char *ciphersuites;          /* TLS 1.3 suites, OpenSSL syntax */
    char *ciphers;               /* TLS 1.2 cipher list */
    char **alpn;
    size_t nalpn;
};

struct cfg_listener {
    char *name;
    struct cfg_addr bind;
    struct cfg_tls *tls;         /* NULL for plain HTTP */
};

struct cfg_backend {
    char *name;
    struct cfg_addr address;
    unsigned weight;             /* 0..256 */
};

enum cfg_algorithm {
    CFG_LB_LEAST_CONNECTIONS,
    CFG_LB_ROUND_ROBIN,
    CFG_LB_WEIGHTED,
    CFG_LB_IP_HASH,
    CFG_LB_LEAST_RESPONSE_TIME,
};

struct cfg_health {
    char *path;                  /* default "/health" */
    char *host;                  /* Host header; NULL = backend address */
    uint64_t interval_ms;        /* default 10s */
    uint64_t timeout_ms;         /* default 5s */
    uint64_t unhealthy_interval_ms; /* default = interval */
    unsigned healthy_threshold;  /* default 2 */
    unsigned unhealthy_threshold;/* default 3 */
    unsigned status_min, status_max; /* expected_status, default 200-399 */
    bool passive;                /* default true */
    uint64_t slow_start_ms;      /* 0 = off (default) */
};

struct cfg_affinity {
    bool enabled;                /* default false */
    char *cookie_name;           /* default "MAGS_SESSION" */
    uint64_t ttl_ms;             /* default 3600s */
    char *secret_file;           /* NULL if unset */
    char *previous_secret_file;  /* NULL if unset or ~ */
};

struct cfg_draining {
    bool enabled;                /* default true */
    uint64_t timeout_ms;         /* default 300s */
    uint64_t sticky_grace_ms;    /* default 0 */
    uint64_t shutdown_delay_ms;  /* default 0: serve on this long after
                                  * SIGTERM with /health at 503 */
};

struct cfg_timeouts {
    uint64_t connect_ms;         /* default 5s */
    uint64_t tls_handshake_ms;   /* default 10s */
    uint64_t client_header_ms;   /* default 10s */
    uint64_t client_idle_ms;     /* default 60s */
    uint64_t client_write_ms;    /* default 60s */
    uint64_t client_body_ms;     /* default 10s: window of min_body_rate */
    uint64_t backend_response_ms;/* default 60s */
};

struct cfg_limits {
    unsigned max_connections;    /* default 10000 */
    unsigned max_header_bytes;   /* default 16384 */
    unsigned max_header_line_bytes; /* default 8192 */
    unsigned min_body_rate;      /* bytes/s, default 1024; 0: any progress */
};

enum cfg_role { CFG_ROLE_VIEWER, CFG_ROLE_OPERATOR, CFG_ROLE_ADMIN };

struct cfg_api_key {
    char *key_file;
    enum cfg_role role;
};

struct cfg_admin {
    char *socket;                /* default "/tmp/weir-admin.sock" */
    struct cfg_addr listen;      /* listen.text == NULL when not configured */
    struct cfg_api_key *api_keys;
    size_t napi_keys;
};

struct cfg_logging {
    int level;                   /* enum log_level, default info */
    char *access_log;            /* "off", "stdout" or a path; default stdout */
};

struct cfg {
    char *path;                  /* the file this came from */
    struct cfg_listener *listeners;
    size_t nlisteners;
    struct cfg_backend *backends;
    size_t nbackends;
    enum cfg_algorithm algorithm;
    struct cfg_health health;
    struct cfg_affinity affinity;
    struct cfg_draining draining;
    struct cfg_timeouts timeouts;
    struct cfg_limits limits;
    struct cfg_admin admin;
    unsigned workers;            /* 0 = one per CPU; default 1 */
    struct cfg_logging logging;
};

/* Every error found while loading, each "FILE:LINE:COL: message". */
struct cfg_errors {
    char **msgs;
    size_t n;
};

/* Load and validate PATH. Returns a new cfg, or NULL when any error was
 * found; then every error is appended to ERRS (caller frees it with
 * cfg_errors_fini). Relative file paths in the config resolve against the
 * directory of PATH. Never exits, never prints. */
struct cfg *cfg_load(const char *path, struct cfg_errors *errs);

/* Same, from a string; NAME is used in error messages and BASEDIR for
 * relative paths. */
struct cfg *cfg_load_string(const char *name, const char *yaml, size_t len,
                            const char *basedir, struct cfg_errors *errs);

/* cfg_free(NULL) is a no-op. */
void cfg_free(struct cfg *cfg);
void cfg_errors_fini(struct cfg_errors *errs);
/* Append a message (printf-style); silently dropped when out of memory. */
void cfg_errors_add(struct cfg_errors *errs, const char *fmt, ...)
    WEIR_PRINTF(2, 3);

/* Lookups by name; NULL when absent. Borrow CFG. */
const struct cfg_backend *cfg_backend_find(const struct cfg *cfg, const char *name);
const char *cfg_algorithm_name(enum cfg_algorithm algorithm);

#endif
