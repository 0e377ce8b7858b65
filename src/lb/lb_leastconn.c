/* least-connections: the qualifying peer with the smallest inflight/weight,
 * compared by 64-bit cross-multiplication as nginx does. Peers that tie
 * share by smooth weighted rotation (nginx's second pass), so equal peers
 * alternate exactly and weights still count when every peer is idle.
 * Owns only per-peer rotation counters; the load is the caller's. */
#include "weir/lb/lb.h"

#include <stdlib.h>

struct lc_state {
    size_t cap;         /* peers the counters were built for */
    int64_t *current;   /* smooth-rotation credit per peer, tie pass only */
};

static bool
lc_usable(const struct lb_peer *p, const uint8_t *tried, size_t i)
{
    return p->eligible && p->weight > 0 && (tried == NULL || tried[i] == 0);
}

/* <0, 0, >0 as A's inflight/weight is below, equal to or above B's.
 * Both weights are > 0; each product fits in 64 bits. */
static int
lc_cmp(const struct lb_peer *a, const struct lb_peer *b)
{
    uint64_t left = (uint64_t)a->inflight * b->weight;
    uint64_t right = (uint64_t)b->inflight * a->weight;

    return (left > right) - (left < right);
}

static void *
lc_init(const struct lb_peer *peers, size_t n)
{
    struct lc_state *st = calloc(1, sizeof(*st));

    if (st == NULL)
        return NULL;
    if (n > 0) {
        st->current = calloc(n, sizeof(*st->current));
        if (st->current == NULL) {
            free(st);
            return NULL;
        }
    }
    st->cap = n;
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
    int64_t total = 0;

    if (n > st->cap)
        n = st->cap;
    for (size_t i = 0; i < n; i++) {
        if (!lc_usable(&peers[i], tried, i))
            continue;
        int c = best == SIZE_MAX ? -1 : lc_cmp(&peers[i], &peers[best]);
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

    /* Smooth weighted round-robin among the tied peers only. */
    size_t first = best;
    for (size_t i = first; i < n; i++) {
        if (!lc_usable(&peers[i], tried, i) ||
            lc_cmp(&peers[i], &peers[first]) != 0)
            continue;
        st->current[i] += peers[i].weight;
        total += peers[i].weight;
        if (st->current[i] > st->current[best])
            best = i;
    }
    st->current[best] -= total;
    return (int)best;
}

static int
lc_on_change(void *state, const struct lb_peer *peers, size_t n)
{
    struct lc_state *st = state;
    int64_t *current = NULL;

    /* Indices may have moved: start the rotation afresh. */
    if (n > 0) {
        current = calloc(n, sizeof(*current));
        if (current == NULL)
            return -1;
    }
    free(st->current);
    st->current = current;
    st->cap = n;
    return 0;
}

static void
lc_fini(void *state)
{
    struct lc_state *st = state;

    if (st == NULL)
        return;
    free(st->current);
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
