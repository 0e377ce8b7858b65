/* least-connections: the qualifying peer with the smallest inflight/weight,
 * compared by 64-bit cross-multiplication as nginx does. Peers that tie
 * share by smooth weighted rotation (nginx's second pass), so equal peers
 * alternate exactly and weights still count when every peer is idle.
 * Owns only per-peer rotation counters; the load is the caller's. */
#include "weir/lb/lb.h"

#include <stdlib.h>

#include "weir/lb/lb_swrr.h"

struct lc_state {
    struct lb_swrr tie;  /* rotation credits, used by the tie pass only */
};

static void *
lc_init(const struct lb_peer *peers, size_t n)
{
    struct lc_state *st = calloc(1, sizeof(*st));

    if (st == NULL)
        return NULL;
    if (lb_swrr_reset(&st->tie, n) == -1) {
        free(st);
        return NULL;
    }
    return st;
}

/* Peers at or past the N of the last init/on_change are ignored: their
 * counters do not exist yet (the caller calls on_change first). */
static int
lc_pick(void *state, const struct lb_peer *peers, size_t n,
        const uint8_t *tried, uint32_t hash)
{
    struct lc_state *st = state;
    size_t best = SIZE_MAX, ties = 0;

    if (n > st->tie.cap)
        n = st->tie.cap;
    for (size_t i = 0; i < n; i++) {
        if (!lb_peer_usable(&peers[i], tried, i))
            continue;
        int c = best == SIZE_MAX ? -1 : lb_peer_load_cmp(&peers[i], &peers[best]);
        if (c < 0) {
            best = i;
            ties = 1;
        } else if (c == 0) {
            ties++;
        }
    }
    if (best == SIZE_MAX)
        return -1;
    if (ties == 1)
        return (int)best;
    return lb_swrr_pick(&st->tie, peers, n, tried, &peers[best]);
}

static int
lc_on_change(void *state, const struct lb_peer *peers, size_t n)
{
    struct lc_state *st = state;

    /* Indices may have moved: start the rotation afresh. */
    return lb_swrr_reset(&st->tie, n);
}

static void
lc_fini(void *state)
{
    struct lc_state *st = state;

    if (st == NULL)
        return;
    lb_swrr_fini(&st->tie);
    free(st);
}

/* least-connections: see the top of this file. Static const, never freed. */
const struct lb_ops lb_leastconn_ops = {
    .name = "least-connections",
    .init = lc_init,
    .pick = lc_pick,
    .on_change = lc_on_change,
    .fini = lc_fini,
};
