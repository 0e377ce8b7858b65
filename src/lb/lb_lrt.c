/* least-response-time: the qualifying peer with the smallest
 * rtt * (inflight + 1) / weight, compared by exact 96-bit cross-products
 * (no division, no overflow). A peer not yet measured is probed at once
 * while idle, then counts as fast as the fastest measured peer. Owns only
 * a rotation cursor; the RTT averages and loads are the caller's. */
#include "weir/lb/lb.h"

#include <stdlib.h>

#include "weir/lb/lb_swrr.h"

/* Stands in for every RTT when no peer has been measured: any positive
 * value gives the same order (weighted least-connections with +1). */
#define LRT_UNMEASURED_RTT_US 1u

struct lrt_state {
    size_t next;        /* where the next scan starts: rotates ties */
};

/* An unsigned 96-bit product, as two 64-bit halves. */
struct lrt_wide {
    uint64_t hi;
    uint64_t lo;
};

/* X * Y exactly, without relying on a 128-bit type. */
static struct lrt_wide
lrt_mul(uint64_t x, uint32_t y)
{
    uint64_t low = (x & 0xffffffffu) * y;   /* < 2^64 */
    uint64_t mid = (x >> 32) * y;           /* < 2^64 */
    struct lrt_wide r;

    r.lo = low + (mid << 32);
    r.hi = (mid >> 32) + (r.lo < low);
    return r;
}

static int
lrt_wide_cmp(struct lrt_wide a, struct lrt_wide b)
{
    if (a.hi != b.hi)
        return a.hi < b.hi ? -1 : 1;
    return (a.lo > b.lo) - (a.lo < b.lo);
}

/* rtt * (inflight + 1): at most (2^32 - 1) * 2^32, so it fits 64 bits.
 * FASTEST is the RTT lent to an unmeasured peer that is already busy. */
static uint64_t
lrt_cost(const struct lb_peer *p, uint32_t fastest)
{
    uint64_t rtt = p->rtt_us;

    if (rtt == 0)
        rtt = p->inflight == 0 ? 0 : fastest;
    return rtt * ((uint64_t)p->inflight + 1);
}

/* <0, 0, >0 as A's score is below, equal to or above B's; weights > 0. */
static int
lrt_cmp(const struct lb_peer *a, const struct lb_peer *b, uint32_t fastest)
{
    return lrt_wide_cmp(lrt_mul(lrt_cost(a, fastest), b->weight),
                        lrt_mul(lrt_cost(b, fastest), a->weight));
}

static void *
lrt_init(const struct lb_peer *peers, size_t n)
{
    return calloc(1, sizeof(struct lrt_state));
}

/* Scans from the cursor and keeps the first strictly better peer, so equal
 * peers take turns; on an equal score an unmeasured peer beats a measured
 * one so it gets its measurement sooner. */
static int
lrt_pick(void *state, const struct lb_peer *peers, size_t n,
         const uint8_t *tried, uint32_t hash)
{
    struct lrt_state *st = state;
    uint32_t fastest = 0;
    size_t best = SIZE_MAX, start;

    if (n == 0)
        return -1;
    /* Tried peers count here so a retry sees the same scale. */
    for (size_t i = 0; i < n; i++) {
        const struct lb_peer *p = &peers[i];
        if (p->eligible && p->weight > 0 && p->rtt_us != 0 &&
            (fastest == 0 || p->rtt_us < fastest))
            fastest = p->rtt_us;
    }
    if (fastest == 0)
        fastest = LRT_UNMEASURED_RTT_US;

    start = st->next % n;
    for (size_t k = 0; k < n; k++) {
        size_t i = (start + k) % n;
        if (!lb_peer_usable(&peers[i], tried, i))
            continue;
        if (best == SIZE_MAX) {
            best = i;
            continue;
        }
        int c = lrt_cmp(&peers[i], &peers[best], fastest);
        if (c < 0 ||
            (c == 0 && peers[i].rtt_us == 0 && peers[best].rtt_us != 0))
            best = i;
    }
    if (best == SIZE_MAX)
        return -1;
    st->next = best + 1;
    return (int)best;
}

static int
lrt_on_change(void *state, const struct lb_peer *peers, size_t n)
{
    /* The cursor is reduced modulo the new N at the next pick. */
    return 0;
}

static void
lrt_fini(void *state)
{
    free(state);
}

/* least-response-time: see the top of this file. Static const, never
 * freed. */
const struct lb_ops lb_lrt_ops = {
    .name = "least-response-time",
    .init = lrt_init,
    .pick = lrt_pick,
    .on_change = lrt_on_change,
    .fini = lrt_fini,
};
