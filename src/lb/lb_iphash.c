/* ip-hash: consistent hashing of the client-address hash onto a ring of
 * 160 x weight points per peer (as nginx's "hash ... consistent"), each
 * placed by hashing the peer's stable key and the point's number. A peer's
 * points depend on nothing else, so removing, disabling or reweighting one
 * peer moves only the clients that were (or will be) on it. */
#include "weir/lb/lb.h"

#include <stdlib.h>

#include "weir/lb/lb_swrr.h"
#include "weir/util/defs.h"

/* Points per unit of weight: nginx's figure, about 8% spread per peer. */
#define IH_POINTS_PER_WEIGHT 160u
/* The configured range ends at 256; larger weights count as 256 here so a
 * runaway value cannot ask for gigabytes of ring. */
#define IH_MAX_WEIGHT 256u

struct ih_point {
    uint32_t hash;      /* position on the ring */
    uint32_t key;       /* the peer's key: orders colliding points the
                         * same way whatever the peer's index */
    uint32_t index;     /* the peer's index in the array given to on_change */
};

struct ih_state {
    size_t npoints;
    struct ih_point *ring;  /* sorted by (hash, key, index) */
};

/* murmur3's finaliser: spreads FNV-1a output, whose low bits are weak on
 * short inputs such as an IPv4 address, over the whole ring. Bijective, so
 * equal inputs still meet. */
static uint32_t
ih_mix(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

/* Position of point REPLICA of the peer with KEY. Bytes are laid out
 * little-endian so every host builds the same ring. */
static uint32_t
ih_point_hash(uint32_t key, uint32_t replica)
{
    unsigned char b[8];

    for (int i = 0; i < 4; i++) {
        b[i] = (unsigned char)(key >> (8 * i));
        b[4 + i] = (unsigned char)(replica >> (8 * i));
    }
    return ih_mix(lb_hash(b, sizeof(b)));
}

static int
ih_point_cmp(const void *pa, const void *pb)
{
    const struct ih_point *a = pa, *b = pb;

    if (a->hash != b->hash)
        return a->hash < b->hash ? -1 : 1;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

/* Builds the sorted ring for PEERS into *RING / *NPOINTS (NULL / 0 when no
 * peer has weight). Eligibility is not looked at: it changes without a
 * rebuild and is checked at pick time. Returns 0 or -1 (allocation). */
static int
ih_build(const struct lb_peer *peers, size_t n, struct ih_point **ring,
         size_t *npoints)
{
    struct ih_point *r;
    size_t total = 0, k = 0;

    *ring = NULL;
    *npoints = 0;
    for (size_t i = 0; i < n; i++) {
        if (total > SIZE_MAX - IH_POINTS_PER_WEIGHT * IH_MAX_WEIGHT)
            return -1;
        total += IH_POINTS_PER_WEIGHT * MIN(peers[i].weight, IH_MAX_WEIGHT);
    }
    if (total == 0)
        return 0;
    r = calloc(total, sizeof(*r));
    if (r == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        uint32_t points =
            IH_POINTS_PER_WEIGHT * MIN(peers[i].weight, IH_MAX_WEIGHT);
        for (uint32_t j = 0; j < points; j++) {
            r[k].hash = ih_point_hash(peers[i].key, j);
            r[k].key = peers[i].key;
            r[k].index = (uint32_t)i;
            k++;
        }
    }
    qsort(r, total, sizeof(*r), ih_point_cmp);
    *ring = r;
    *npoints = total;
    return 0;
}

static void *
ih_init(const struct lb_peer *peers, size_t n)
{
    struct ih_state *st = calloc(1, sizeof(*st));

    if (st == NULL)
        return NULL;
    if (ih_build(peers, n, &st->ring, &st->npoints) == -1) {
        free(st);
        return NULL;
    }
    return st;
}

/* The first point at or after the mixed hash (wrapping) whose peer
 * qualifies. If no peer on the ring qualifies, any qualifying peer off the
 * ring (a weight raised without on_change) is taken rather than failing. */
static int
ih_pick(void *state, const struct lb_peer *peers, size_t n,
        const uint8_t *tried, uint32_t hash)
{
    struct ih_state *st = state;
    uint32_t h = ih_mix(hash);
    size_t lo = 0, hi = st->npoints;

    if (n == 0)
        return -1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (st->ring[mid].hash < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t k = 0; k < st->npoints; k++) {
        const struct ih_point *pt = &st->ring[(lo + k) % st->npoints];
        if (pt->index < n && lb_peer_usable(&peers[pt->index], tried, pt->index))
            return (int)pt->index;
    }
    for (size_t k = 0; k < n; k++) {
        size_t i = (h + k) % n;
        if (lb_peer_usable(&peers[i], tried, i))
            return (int)i;
    }
    return -1;
}

static int
ih_on_change(void *state, const struct lb_peer *peers, size_t n)
{
    struct ih_state *st = state;
    struct ih_point *ring;
    size_t npoints;

    if (ih_build(peers, n, &ring, &npoints) == -1)
        return -1;
    free(st->ring);
    st->ring = ring;
    st->npoints = npoints;
    return 0;
}

static void
ih_fini(void *state)
{
    struct ih_state *st = state;

    if (st == NULL)
        return;
    free(st->ring);
    free(st);
}

/* ip-hash: see the top of this file. Static const, never freed. */
const struct lb_ops lb_iphash_ops = {
    .name = "ip-hash",
    .init = ih_init,
    .pick = ih_pick,
    .on_change = ih_on_change,
    .fini = ih_fini,
};
