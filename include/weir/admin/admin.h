/* The admin API: HTTP/JSON on the Unix socket (mode 0600) and, when
 * configured, a TCP listener that requires X-API-Key. Served by the same
 * loop and the same HTTP head checks as the proxy. */
#ifndef WEIR_ADMIN_H
#define WEIR_ADMIN_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "weir/net/listener.h"

struct admin_conn;
struct admin_keys;
struct buf;
struct cfg;
struct drainer;
struct proxy;

/* What the admin API asks of the layer above (runtime.c). */
struct admin_hooks {
    void *ctx;
    /* Reload the configuration: 0 and the new generation, or -1 with the
     * errors as a JSON array body written by the hook into ERRORS_JSON.
     * NULL: reload not available (501). */
    int (*reload)(void *ctx, uint64_t *generation, struct buf *errors_json);
};

struct admin {
    struct ev_loop *loop;
    const struct cfg *cfg;
    struct proxy *px;
    struct drainer *drainer;
    struct admin_hooks hooks;
    struct admin_keys *keys;       /* for the TCP listener */
    struct listener unix_l;
    struct listener tcp_l;
    bool has_unix, has_tcp;
    char socket_path[108];
    struct admin_conn *conns;
    uint64_t generation;
    uint64_t reloads_ok, reloads_failed;
    ev_tstamp started;
};

/* Open the admin socket (and TCP listener) of CFG. Borrows everything.
 * 0, or -1 with a message in ERR. */
int admin_init(struct admin *ad, struct ev_loop *loop, const struct cfg *cfg,
               struct proxy *px, struct drainer *drainer,
               const struct admin_hooks *hooks, char *err, size_t errlen);
void admin_start(struct admin *ad);
/* A reload, in two steps: prepare re-reads CFG's API key files (0, or -1
 * with a message in ERR); commit swaps them in and makes CFG (borrowed)
 * current. The admin listeners themselves change only at restart. */
int admin_reload_prepare(struct admin *ad, const struct cfg *cfg,
                         struct admin_keys **keys, char *err, size_t errlen);
void admin_reload_commit(struct admin *ad, const struct cfg *cfg,
                         struct admin_keys *keys);
/* Close the listeners and every admin connection; unlink the socket. */
void admin_fini(struct admin *ad);

#endif
