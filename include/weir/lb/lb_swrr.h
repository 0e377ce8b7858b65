/* Shared by the balancing algorithms: the "may this peer take a request"
 * test, and nginx's smooth weighted round-robin, used by `weighted` over all
 * peers and by least-connections over the peers that tie for least load. */
#ifndef WEIR_LB_SWRR_H
#define WEIR_LB_SWRR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weir/lb/lb.h"

static inline bool
lb_peer_usable(const struct lb_peer *p, const uint8_t *tried, size_t i)
{
    return p->eligible && p->weight > 0 && (tried == NULL || tried[i] == 0);
}

/* <0, 0, >0 as A's inflight/weight is below, equal to or above B's, by
 * 64-bit cross-multiplication. Both weights must be > 0. */
static inline int
lb_peer_load_cmp(const struct lb_peer *a, const struct lb_peer *b)
{
    uint64_t left = (uint64_t)a->inflight * b->weight;
    uint64_t right = (uint64_t)b->inflight * a->weight;
    return (left > right) - (left < right);
}

struct lb_swrr {
    size_t cap;         /* peers the credits were built for */
    int64_t *current;   /* smooth weighted credit per peer */
};

/* Size the credits for N peers, all zero. 0, or -1 (old credits kept). */
int lb_swrr_reset(struct lb_swrr *w, size_t n);
void lb_swrr_fini(struct lb_swrr *w);

/* Smooth weighted pick among usable peers; with TIE non-NULL, only among
 * those whose load equals TIE's. Peers at or past w->cap are ignored.
 * Ties on credit go to the lowest index (nginx's 5,1,1 -> a a b a c a a).
 * Returns an index or -1. Never allocates. */
int lb_swrr_pick(struct lb_swrr *w, const struct lb_peer *peers, size_t n,
                 const uint8_t *tried, const struct lb_peer *tie);

#endif
