/* round-robin (plain rotation, weight only as 0 = off) and weighted (nginx
 * smooth weighted round-robin: add each weight to its credit, take the
 * largest credit, charge it the total). Owns the rotation cursor and the
 * per-peer credits; the load itself is the caller's. */
#include "weir/lb/lb.h"

#include <stdlib.h>

#include "weir/lb/lb_swrr.h"

struct rr_state {
    size_t next;        /* where the next scan starts */
};

struct wrr_state {
    struct lb_swrr credits;
};

static void *
rr_init(const struct lb_peer *peers, size_t n)
{
    return calloc(1, sizeof(struct rr_state));
}

/* The first qualifying peer at or after the cursor, wrapping once. */
static int
rr_pick(void *state, const struct lb_peer *peers, size_t n,
        const uint8_t *tried, uint32_t hash)
{
    struct rr_state *st = state;
    size_t start;

    if (n == 0)
        return -1;
    start = st->next % n;
    for (size_t k = 0; k < n; k++) {
        size_t i = (start + k) % n;
        if (lb_peer_usable(&peers[i], tried, i)) {
            st->next = i + 1;
            return (int)i;
        }
    }
    return -1;
}

static int
rr_on_change(void *state, const struct lb_peer *peers, size_t n)
{
    /* The cursor is reduced modulo the new N at the next pick. */
    return 0;
}

static void
rr_fini(void *state)
{
    free(state);
}

static void *
wrr_init(const struct lb_peer *peers, size_t n)
{
    struct wrr_state *st = calloc(1, sizeof(*st));

    if (st == NULL)
        return NULL;
    if (lb_swrr_reset(&st->credits, n) == -1) {
        free(st);
        return NULL;
    }
    return st;
}

/* Peers at or past the N of the last init/on_change have no credit yet and
 * are ignored until on_change. */
static int
wrr_pick(void *state, const struct lb_peer *peers, size_t n,
         const uint8_t *tried, uint32_t hash)
{
    struct wrr_state *st = state;
    return lb_swrr_pick(&st->credits, peers, n, tried, NULL);
}

static int
wrr_on_change(void *state, const struct lb_peer *peers, size_t n)
{
    struct wrr_state *st = state;

    /* Indices or weights moved: every peer starts again from zero credit,
     * as nginx does on reload. */
    return lb_swrr_reset(&st->credits, n);
}

static void
wrr_fini(void *state)
{
    struct wrr_state *st = state;

    if (st == NULL)
        return;
    lb_swrr_fini(&st->credits);
    free(st);
}

/* round-robin: see the top of this file. Static const, never freed. */
const struct lb_ops lb_roundrobin_ops = {
    .name = "round-robin",
    .init = rr_init,
    .pick = rr_pick,
    .on_change = rr_on_change,
    .fini = rr_fini,
};

/* weighted: see the top of this file. Static const, never freed. */
const struct lb_ops lb_weighted_ops = {
    .name = "weighted",
    .init = wrr_init,
    .pick = wrr_pick,
    .on_change = wrr_on_change,
    .fini = wrr_fini,
};
