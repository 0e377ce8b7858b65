/* Balancer front end: picks one peer from a snapshot of backends.
 * Pure: no allocation in lb_pick, no clock, no I/O, no randomness.
 * Each algorithm is a const struct lb_ops (lb_leastconn.c, lb_roundrobin.c,
 * lb_iphash.c, lb_lrt.c). */
#ifndef WEIR_LB_H
#define WEIR_LB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weir/config/config.h"

/* What the balancer sees of one backend. The caller keeps an array of these,
 * one per configured backend, in a stable order, and updates the fields in
 * place as requests start and end. */
struct lb_peer {
    uint32_t inflight;   /* requests sent and not yet fully answered */
    uint32_t weight;     /* effective weight; 0 = takes no new requests */
    uint32_t key;        /* stable identity hash (of the backend name), used
                          * by ip-hash to place the peer on its ring */
    uint32_t rtt_us;     /* EWMA of response time, 0 = not measured yet */
    bool eligible;       /* healthy, not draining, not disabled */
};

struct lb; /* opaque: the algorithm's state */

struct lb_ops {
    const char *name;
    /* Build state for N peers; may allocate. NULL on failure. */
    void *(*init)(const struct lb_peer *peers, size_t n);
    /* Return the index of the chosen peer or -1. Must not allocate. */
    int (*pick)(void *state, const struct lb_peer *peers, size_t n,
                const uint8_t *tried, uint32_t hash);
    /* The set of peers or their weights changed; may allocate. 0 or -1. */
    int (*on_change)(void *state, const struct lb_peer *peers, size_t n);
    void (*fini)(void *state);
};

extern const struct lb_ops lb_leastconn_ops;
extern const struct lb_ops lb_roundrobin_ops;
extern const struct lb_ops lb_weighted_ops;
extern const struct lb_ops lb_iphash_ops;
extern const struct lb_ops lb_lrt_ops;

/* The ops for a configured algorithm. */
const struct lb_ops *lb_ops_for(enum cfg_algorithm algorithm);

/* Create a balancer over N peers (borrowed, only read during the call).
 * NULL on allocation failure. */
struct lb *lb_new(const struct lb_ops *ops, const struct lb_peer *peers, size_t n);
/* lb_free(NULL) is a no-op. */
void lb_free(struct lb *lb);
/* Rebuild after peers were added/removed or weights changed. 0 or -1. */
int lb_on_change(struct lb *lb, const struct lb_peer *peers, size_t n);

/* Pick an eligible peer with weight > 0 whose tried[i] is 0 (TRIED may be
 * NULL). HASH is the client-address hash (only ip-hash uses it).
 * Returns its index, or -1 when none qualifies. Does not allocate. */
int lb_pick(struct lb *lb, const struct lb_peer *peers, size_t n,
            const uint8_t *tried, uint32_t hash);

/* A 32-bit hash of bytes (FNV-1a), for peer keys and client addresses. */
uint32_t lb_hash(const void *data, size_t len);

#endif
