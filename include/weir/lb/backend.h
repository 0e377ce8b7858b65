/* Runtime backends: identity, configured weight, the exact in-flight count
 * and counters, and the lb_peer snapshot the balancer reads. No I/O. */
#ifndef WEIR_BACKEND_H
#define WEIR_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "weir/lb/lb.h"

struct pool; /* idle upstream connections, owned by the I/O layer */

enum backend_outcome {
    BACKEND_OK,          /* a complete response */
    BACKEND_FAILED,      /* connect failure, reset, bad response */
    BACKEND_TIMEOUT,     /* no (complete) response in time */
    BACKEND_ABANDONED,   /* the client went away first */
};

struct backend {
    char *name;
    char addr_text[64];
    struct sockaddr_storage addr;
    socklen_t addrlen;
    size_t index;              /* position in the table and its peers */
    struct lb_peer *peer;      /* the balancer's view, kept in step */
    struct pool *pool;
    uint64_t requests_total;
    uint64_t failures_total;
};

struct backend_table {
    struct backend *backends;
    struct lb_peer *peers;     /* parallel to backends */
    size_t n;
    struct lb *lb;
};

/* Build the table from the configuration. NULL on allocation failure. */
struct backend_table *backend_table_new(const struct cfg *cfg);
/* backend_table_free(NULL) is a no-op. Pools must be freed before. */
void backend_table_free(struct backend_table *bt);
/* By name, or NULL. */
struct backend *backend_find(struct backend_table *bt, const char *name);

/* Pick a backend for a request, skipping those set in TRIED (n bytes, may
 * be NULL). NULL when none is eligible. */
struct backend *backend_pick(struct backend_table *bt, const uint8_t *tried,
                             uint32_t client_hash);

/* A request was assigned to B (counted while it is still connecting). */
void backend_inflight_inc(struct backend *b);
/* That request ended; call exactly once per backend_inflight_inc.
 * RTT_US feeds least-response-time when the outcome is BACKEND_OK. */
void backend_inflight_dec(struct backend *b, enum backend_outcome outcome,
                          uint64_t rtt_us);

#endif
