/* nginx's smooth weighted round-robin: add each weight to its credit, take
 * the largest credit, charge it the total. Shared by `weighted` and by the
 * tie pass of least-connections. Owns only the credit array. */
#include "weir/lb/lb_swrr.h"

#include <stdlib.h>

int
lb_swrr_reset(struct lb_swrr *w, size_t n)
{
    int64_t *current = NULL;

    if (n > 0) {
        current = calloc(n, sizeof(*current));
        if (current == NULL)
            return -1;
    }
    free(w->current);
    w->current = current;
    w->cap = n;
    return 0;
}

void
lb_swrr_fini(struct lb_swrr *w)
{
    free(w->current);
    w->current = NULL;
    w->cap = 0;
}

int
lb_swrr_pick(struct lb_swrr *w, const struct lb_peer *peers, size_t n,
             const uint8_t *tried, const struct lb_peer *tie)
{
    size_t best = SIZE_MAX;
    int64_t total = 0;

    if (n > w->cap)
        n = w->cap;
    for (size_t i = 0; i < n; i++) {
        if (!lb_peer_usable(&peers[i], tried, i) ||
            (tie != NULL && lb_peer_load_cmp(&peers[i], tie) != 0))
            continue;
        w->current[i] += peers[i].weight;
        total += peers[i].weight;
        if (best == SIZE_MAX || w->current[i] > w->current[best])
            best = i;
    }
    if (best == SIZE_MAX)
        return -1;
    w->current[best] -= total;
    return (int)best;
}
