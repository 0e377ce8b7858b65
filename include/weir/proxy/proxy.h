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

struct backend_table;
struct cfg;
struct listener;
struct pool;
struct session;
struct tlsctx;
struct accesslog;

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

struct proxy {
    struct ev_loop *loop;
    const struct cfg *cfg;
    struct backend_table *bt;
    struct pool *pools;            /* one per backend, same order */
    struct listener *listeners;
    struct tlsctx **tls;           /* per listener; NULL for plain ones */
    size_t nlisteners;
    ev_timer tls_timer;            /* rotates session ticket keys */
    struct session *sessions;      /* every open client connection */
    size_t nsessions;
    struct http_head head;         /* scratch: a head is parsed and
                                    * re-serialised in one step */
    uint64_t next_session_id;
    uint64_t next_request_seq;
    char boot_id[17];              /* random prefix of generated request ids */
    struct accesslog *accesslog;   /* borrowed from the runtime; may be NULL */
    bool affinity;                 /* session_affinity.enabled */
    struct affinity_keys aff_keys;
    struct affinity_ids *aff_ids;  /* per backend, same order */
    bool stopping;
    bool accept_paused;            /* out of descriptors: backing off */
    bool at_limit;                 /* at max_connections: refusing */
    ev_timer accept_timer;         /* resume accepting after EMFILE */
    void (*on_drained)(struct proxy *px); /* stopping and no session left */
    struct proxy_counters counters;
};

/* Set up the engine for CFG (borrowed; must outlive the proxy) and BT
 * (borrowed). Opens every listener. 0, or -1 with a message in ERR. */
int proxy_init(struct proxy *px, struct ev_loop *loop, const struct cfg *cfg,
               struct backend_table *bt, char *err, size_t errlen);
/* Start accepting. */
void proxy_start(struct proxy *px);
/* Graceful stop: close listeners, close idle connections, let in-flight
 * requests finish (then their connections close). on_drained runs once no
 * session is left. */
void proxy_stop(struct proxy *px);
/* Close everything at once (after the drain timeout, or at exit). */
void proxy_fini(struct proxy *px);

/* Called by session.c. */
void proxy_session_closed(struct proxy *px);

#endif
