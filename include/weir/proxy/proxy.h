/* The proxy engine of one event loop: its listeners, its client sessions,
 * the backends' idle pools, and graceful stop. Everything a session needs
 * hangs off struct proxy, so a later loop-per-thread needs no globals. */
#ifndef WEIR_PROXY_H
#define WEIR_PROXY_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "weir/http/http_head.h"
#include "weir/lb/affinity.h"
#include "weir/util/buf.h"

struct backend_table;
struct cfg;
struct generation;
struct listener;
struct session;
struct accesslog;
struct proxy_reload;

struct proxy_counters {
    uint64_t connections_accepted;
    uint64_t requests;
    uint64_t retries;
    uint64_t bad_requests;
    uint64_t tls_handshakes;
    uint64_t tls_handshake_failures;
    uint64_t connections_refused;  /* over max_connections */
    uint64_t bytes_in;             /* from clients */
    uint64_t bytes_out;            /* to clients */
};

/* What an applied reload changed in the proxy, for the summary line. */
struct proxy_reload_summary {
    size_t listeners_added, listeners_removed;
};

struct proxy {
    struct ev_loop *loop;
    struct generation *gen;        /* the current configuration */
    const struct cfg *cfg;         /* gen->cfg */
    struct backend_table *bt;      /* the current backends */
    struct listener *listeners;    /* one per gen->cfg listener, same order */
    size_t nlisteners;
    ev_timer tls_timer;            /* rotates session ticket keys */
    struct session *sessions;      /* every open client connection */
    size_t nsessions;
    struct http_head head;         /* scratch: a head is parsed and
                                    * re-serialised in one step */
    struct buf_cache bufs;         /* sessions' buffers between requests */
    uint64_t next_session_id;
    uint64_t next_request_seq;
    char boot_id[17];              /* random prefix of generated request ids */
    struct accesslog *accesslog;   /* borrowed from the runtime; may be NULL */
    bool affinity;                 /* session_affinity.enabled */
    struct affinity_keys aff_keys; /* each backend holds its ids */
    bool stopping;
    bool stop_announced;           /* SIGTERM came: /health says so while
                                    * shutdown_delay runs, then stopping */
    bool accept_paused;            /* out of descriptors: backing off */
    bool at_limit;                 /* at max_connections: refusing */
    ev_timer accept_timer;         /* resume accepting after EMFILE */
    void (*on_drained)(struct proxy *px); /* stopping and no session left */
    struct proxy_counters counters;
};

/* Set up the engine for GEN (takes the reference) and BT (borrowed).
 * Opens every listener. 0, or -1 with a message in ERR. */
int proxy_init(struct proxy *px, struct ev_loop *loop, struct generation *gen,
               struct backend_table *bt, char *err, size_t errlen);

/* A reload in two steps, so that it applies whole or not at all. Prepare
 * does everything that can fail, without touching what runs: loads the
 * affinity keys, gives BT's new backends their pools, opens the listeners
 * GEN adds (a listener is kept when its bind address is unchanged). 0 and
 * *OUT, or -1 with a message in ERR (GEN and BT stay the caller's). */
int proxy_reload_prepare(struct proxy *px, struct generation *gen,
                         struct backend_table *bt, struct proxy_reload **out,
                         char *err, size_t errlen);
/* Undo a prepared reload: close what it opened. Frees R. */
void proxy_reload_abort(struct proxy *px, struct proxy_reload *r);
/* Apply R (cannot fail): GEN and BT become current (the proxy takes GEN's
 * reference; BT stays the caller's), removed listeners close, kept ones
 * keep their socket. Sessions keep the generation they started with.
 * Frees R. */
void proxy_reload_commit(struct proxy *px, struct proxy_reload *r,
                         struct proxy_reload_summary *sum);

/* The TLS context of listener I, or NULL. */
struct tlsctx *proxy_listener_tls(const struct proxy *px, size_t i);
/* Start accepting. */
void proxy_start(struct proxy *px);
/* Graceful stop: close listeners, close idle connections, let in-flight
 * requests finish (then their connections close). on_drained runs once no
 * session is left. */
void proxy_stop(struct proxy *px);
/* Close everything at once (after the drain timeout, or at exit). */
void proxy_fini(struct proxy *px);

/* A stop has been announced or is under way: /health answers 503. */
static inline bool
proxy_leaving(const struct proxy *px)
{
    return px->stopping || px->stop_announced;
}

/* Called by session.c. */
void proxy_session_closed(struct proxy *px);

#endif
