/* Balancer front end: owns the (ops, state) pair behind struct lb, maps the
 * configured algorithm to its ops and provides the FNV-1a hash.
 * It makes no choice itself: each lb_*.c algorithm does, and skips peers
 * that do not qualify. No clock, no I/O, no allocation in lb_pick. */
#include "weir/lb/lb.h"

#include <assert.h>
#include <limits.h>
#include <stdlib.h>

#include "weir/util/defs.h"

struct lb {
    const struct lb_ops *ops;
    void *state;
};

/* Whether index I is a legal answer: used to check algorithms in debug
 * builds, never to correct them. */
WEIR_UNUSED static bool
lb_result_ok(const struct lb_peer *peers, size_t n, const uint8_t *tried,
             int i)
{
    if (i == -1)
        return true;
    if (i < 0 || (size_t)i >= n)
        return false;
    return peers[i].eligible && peers[i].weight > 0 &&
           (tried == NULL || tried[i] == 0);
}

/* Returns the static ops for ALGORITHM, or NULL for a value outside
 * enum cfg_algorithm. The result is a static const table: never freed. */
const struct lb_ops *
lb_ops_for(enum cfg_algorithm algorithm)
{
    switch (algorithm) {
    case CFG_LB_LEAST_CONNECTIONS:
        return &lb_leastconn_ops;
    case CFG_LB_ROUND_ROBIN:
        return &lb_roundrobin_ops;
    case CFG_LB_WEIGHTED:
        return &lb_weighted_ops;
    case CFG_LB_IP_HASH:
        return &lb_iphash_ops;
    case CFG_LB_LEAST_RESPONSE_TIME:
        return &lb_lrt_ops;
    }
    return NULL;
}

/* Borrows OPS (static) and PEERS (read during the call only). N may be 0.
 * Returns a new balancer to be released with lb_free, or NULL when OPS is
 * NULL, N does not fit an int index, or allocation fails. */
struct lb *
lb_new(const struct lb_ops *ops, const struct lb_peer *peers, size_t n)
{
    struct lb *lb;

    if (ops == NULL || n > INT_MAX || (n > 0 && peers == NULL))
        return NULL;
    lb = calloc(1, sizeof(*lb));
    if (lb == NULL)
        return NULL;
    lb->ops = ops;
    lb->state = ops->init(peers, n);
    if (lb->state == NULL) {
        free(lb);
        return NULL;
    }
    return lb;
}

/* Releases LB and its algorithm state. lb_free(NULL) is a no-op. */
void
lb_free(struct lb *lb)
{
    if (lb == NULL)
        return;
    lb->ops->fini(lb->state);
    free(lb);
}

/* Borrows PEERS for the call. Rebuilds the algorithm's state for the new
 * peer set or weights; must be called before the next lb_pick whenever N,
 * the order of PEERS or any weight changed. Returns 0, or -1 on allocation
 * failure, in which case the previous state is kept and still usable. */
int
lb_on_change(struct lb *lb, const struct lb_peer *peers, size_t n)
{
    if (lb == NULL || n > INT_MAX || (n > 0 && peers == NULL))
        return -1;
    return lb->ops->on_change(lb->state, peers, n);
}

/* Borrows PEERS and TRIED (N bytes, or NULL for "none tried"). Returns the
 * index of a peer that is eligible, has weight > 0 and is not tried, or -1
 * when none qualifies. Never allocates; only the algorithm's rotation state
 * in LB changes. */
int
lb_pick(struct lb *lb, const struct lb_peer *peers, size_t n,
        const uint8_t *tried, uint32_t hash)
{
    int i;

    if (lb == NULL || n == 0 || n > INT_MAX || peers == NULL)
        return -1;
    i = lb->ops->pick(lb->state, peers, n, tried, hash);
    assert(lb_result_ok(peers, n, tried, i));
    return i;
}

/* Returns the 32-bit FNV-1a hash of LEN bytes at DATA (borrowed; may be
 * NULL when LEN is 0). Stable across runs and hosts. */
uint32_t
lb_hash(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}
