/* Unit tests for ip-hash (consistent hashing): a hash always meets the same
 * peer, keys spread evenly and by weight, and removing, disabling, adding
 * or reweighting one peer moves exactly the keys that were or will be on
 * that peer and no others. Client addresses come from a seeded PRNG. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "weir/lb/lb.h"

enum { NKEYS = 20000 };

/* splitmix64: deterministic, seeded by each test. */
struct rng {
    uint64_t s;
};

static uint64_t
rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15u);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Peers named agent-1.. with keys hashed from the names, as the runtime
 * does. */
static void
peers_init(struct lb_peer *peers, size_t n, size_t first_name)
{
    for (size_t i = 0; i < n; i++) {
        char name[32];
        int len = snprintf(name, sizeof(name), "agent-%zu", first_name + i);
        memset(&peers[i], 0, sizeof(peers[i]));
        peers[i].weight = 1;
        peers[i].key = lb_hash(name, (size_t)len);
        peers[i].eligible = true;
    }
}

/* Client hashes: IPv4 addresses, half random and half consecutive (the
 * hard case for FNV-1a), hashed as the runtime hashes them. */
static void
client_hashes(uint32_t *h, size_t n, uint64_t seed)
{
    struct rng rng = {seed};

    for (size_t i = 0; i < n; i++) {
        uint32_t a = i % 2 ? (uint32_t)rng_next(&rng)
                           : 0x0a000000u + (uint32_t)i;
        unsigned char b[4] = {(unsigned char)(a >> 24),
                              (unsigned char)(a >> 16),
                              (unsigned char)(a >> 8), (unsigned char)a};
        h[i] = lb_hash(b, sizeof(b));
    }
}

/* KEY of the peer chosen for each hash (0 when -1), so mappings can be
 * compared across arrays in different orders. */
static void
map_keys(struct lb *lb, const struct lb_peer *peers, size_t n,
         const uint32_t *h, uint32_t *out, size_t nkeys)
{
    for (size_t i = 0; i < nkeys; i++) {
        int c = lb_pick(lb, peers, n, NULL, h[i]);
        assert_true(c >= 0 && (size_t)c < n);
        out[i] = peers[c].key;
    }
}

static void
test_same_hash_same_peer(void **unused)
{
    static uint32_t h[NKEYS], first[NKEYS], again[NKEYS], other[NKEYS];
    struct lb_peer peers[5], reversed[5];
    struct lb *lb, *lb2;

    peers_init(peers, 5, 1);
    for (size_t i = 0; i < 5; i++)
        reversed[i] = peers[4 - i];
    client_hashes(h, NKEYS, 1);
    lb = lb_new(&lb_iphash_ops, peers, 5);
    lb2 = lb_new(&lb_iphash_ops, reversed, 5);
    assert_non_null(lb);
    assert_non_null(lb2);
    map_keys(lb, peers, 5, h, first, NKEYS);
    map_keys(lb, peers, 5, h, again, NKEYS);
    /* Another instance, peers in another order: the same backends. */
    map_keys(lb2, reversed, 5, h, other, NKEYS);
    for (size_t i = 0; i < NKEYS; i++) {
        assert_int_equal(first[i], again[i]);
        assert_int_equal(first[i], other[i]);
    }
    /* Load and RTT play no part. */
    peers[0].inflight = 1000;
    peers[3].rtt_us = 99999;
    map_keys(lb, peers, 5, h, again, NKEYS);
    assert_memory_equal(first, again, sizeof(first));
    lb_free(lb);
    lb_free(lb2);
}

/* Share of each peer over NKEYS hashes. */
static void
shares(struct lb *lb, const struct lb_peer *peers, size_t n,
       const uint32_t *h, unsigned *count)
{
    memset(count, 0, n * sizeof(*count));
    for (size_t i = 0; i < NKEYS; i++) {
        int c = lb_pick(lb, peers, n, NULL, h[i]);
        assert_true(c >= 0 && (size_t)c < n);
        count[c]++;
    }
}

static void
test_distribution(void **unused)
{
    static uint32_t h[NKEYS];
    struct lb_peer peers[4];
    unsigned count[4];
    struct lb *lb;

    peers_init(peers, 4, 1);
    client_hashes(h, NKEYS, 2);
    lb = lb_new(&lb_iphash_ops, peers, 4);
    assert_non_null(lb);
    shares(lb, peers, 4, h, count);
    /* Ideal 5000 each; 160 points per peer keep it within +-25%. */
    for (int i = 0; i < 4; i++) {
        print_message("peer %d: %u of %d\n", i, count[i], NKEYS);
        assert_in_range(count[i], 3750, 6250);
    }

    /* Weights 1, 2, 1, 1: ideal 4000, 8000, 4000, 4000. */
    peers[1].weight = 2;
    assert_int_equal(lb_on_change(lb, peers, 4), 0);
    shares(lb, peers, 4, h, count);
    for (int i = 0; i < 4; i++) {
        unsigned ideal = 4000u * peers[i].weight;
        print_message("weight %u: %u of %d\n", peers[i].weight, count[i],
                      NKEYS);
        assert_in_range(count[i], ideal * 3 / 4, ideal * 5 / 4);
    }
    lb_free(lb);
}

/* Disabling a peer (no rebuild) moves exactly the keys that were on it;
 * rebuilding without it gives the very same mapping. */
static void
test_remove_moves_only_its_keys(void **unused)
{
    static uint32_t h[NKEYS], before[NKEYS], off[NKEYS], gone[NKEYS];
    struct lb_peer peers[5], rest[4];
    uint32_t removed;
    size_t moved = 0;
    struct lb *lb;

    peers_init(peers, 5, 1);
    client_hashes(h, NKEYS, 3);
    lb = lb_new(&lb_iphash_ops, peers, 5);
    assert_non_null(lb);
    map_keys(lb, peers, 5, h, before, NKEYS);

    removed = peers[2].key;
    peers[2].eligible = false;
    map_keys(lb, peers, 5, h, off, NKEYS);
    peers[2].eligible = true;

    /* The runtime's array without the removed backend: indices shift. */
    memcpy(rest, peers, 2 * sizeof(peers[0]));
    memcpy(rest + 2, peers + 3, 2 * sizeof(peers[0]));
    assert_int_equal(lb_on_change(lb, rest, 4), 0);
    map_keys(lb, rest, 4, h, gone, NKEYS);

    for (size_t i = 0; i < NKEYS; i++) {
        if (before[i] != removed) {
            assert_int_equal(off[i], before[i]);
        } else {
            assert_int_not_equal(off[i], removed);
            moved++;
        }
        assert_int_equal(gone[i], off[i]);
    }
    /* About a fifth of the keys were on it, and they spread out. */
    assert_in_range(moved, NKEYS / 5 * 3 / 4, NKEYS / 5 * 5 / 4);

    /* Putting it back returns every key to where it was. */
    assert_int_equal(lb_on_change(lb, peers, 5), 0);
    map_keys(lb, peers, 5, h, gone, NKEYS);
    assert_memory_equal(before, gone, sizeof(before));
    lb_free(lb);
}

/* Adding a peer takes keys only for itself; raising a weight takes keys
 * only for that peer; lowering it gives back only its own keys. */
static void
test_add_and_reweight(void **unused)
{
    static uint32_t h[NKEYS], before[NKEYS], after[NKEYS];
    struct lb_peer peers[6];
    size_t changed = 0;
    struct lb *lb;

    peers_init(peers, 6, 1);
    client_hashes(h, NKEYS, 4);
    lb = lb_new(&lb_iphash_ops, peers, 5);
    assert_non_null(lb);
    map_keys(lb, peers, 5, h, before, NKEYS);
    assert_int_equal(lb_on_change(lb, peers, 6), 0);
    map_keys(lb, peers, 6, h, after, NKEYS);
    for (size_t i = 0; i < NKEYS; i++) {
        if (after[i] != before[i]) {
            assert_int_equal(after[i], peers[5].key);
            changed++;
        }
    }
    assert_true(changed > 0);

    memcpy(before, after, sizeof(before));
    peers[0].weight = 3;
    assert_int_equal(lb_on_change(lb, peers, 6), 0);
    map_keys(lb, peers, 6, h, after, NKEYS);
    changed = 0;
    for (size_t i = 0; i < NKEYS; i++) {
        if (after[i] != before[i]) {
            assert_int_equal(after[i], peers[0].key);
            changed++;
        }
    }
    assert_true(changed > 0);

    memcpy(before, after, sizeof(before));
    peers[0].weight = 2;
    assert_int_equal(lb_on_change(lb, peers, 6), 0);
    map_keys(lb, peers, 6, h, after, NKEYS);
    for (size_t i = 0; i < NKEYS; i++) {
        if (after[i] != before[i])
            assert_int_equal(before[i], peers[0].key);
    }
    lb_free(lb);
}

/* A retry (tried) walks on to the same peer that disabling would choose;
 * weight 0 behaves as removal. */
static void
test_tried_and_exclusions(void **unused)
{
    static uint32_t h[2000];
    struct lb_peer peers[4];
    uint8_t tried[4];
    struct lb *lb;

    peers_init(peers, 4, 1);
    client_hashes(h, 2000, 5);
    lb = lb_new(&lb_iphash_ops, peers, 4);
    assert_non_null(lb);
    for (size_t i = 0; i < 2000; i++) {
        int c = lb_pick(lb, peers, 4, NULL, h[i]);
        assert_true(c >= 0);
        memset(tried, 0, sizeof(tried));
        tried[c] = 1;
        int r = lb_pick(lb, peers, 4, tried, h[i]);
        assert_true(r >= 0 && r != c);
        peers[c].eligible = false;
        assert_int_equal(lb_pick(lb, peers, 4, NULL, h[i]), r);
        peers[c].eligible = true;
        memset(tried, 1, sizeof(tried));
        assert_int_equal(lb_pick(lb, peers, 4, tried, h[i]), -1);
    }

    for (int i = 0; i < 4; i++)
        peers[i].eligible = false;
    assert_int_equal(lb_pick(lb, peers, 4, NULL, h[0]), -1);
    peers[2].eligible = true;
    for (size_t i = 0; i < 100; i++)
        assert_int_equal(lb_pick(lb, peers, 4, NULL, h[i]), 2);
    peers[2].weight = 0;
    assert_int_equal(lb_pick(lb, peers, 4, NULL, h[0]), -1);
    lb_free(lb);
}

/* An empty ring: no peers, or only weight 0. A weight raised without
 * on_change still finds the peer (it is off the ring, so by fallback). */
static void
test_empty_and_fallback(void **unused)
{
    struct lb_peer peers[2];
    struct lb *lb;

    lb = lb_new(&lb_iphash_ops, NULL, 0);
    assert_non_null(lb);
    assert_int_equal(lb_pick(lb, NULL, 0, NULL, 42), -1);
    lb_free(lb);

    peers_init(peers, 2, 1);
    peers[0].weight = peers[1].weight = 0;
    lb = lb_new(&lb_iphash_ops, peers, 2);
    assert_non_null(lb);
    assert_int_equal(lb_pick(lb, peers, 2, NULL, 42), -1);
    peers[1].weight = 1;
    assert_int_equal(lb_pick(lb, peers, 2, NULL, 42), 1);
    assert_int_equal(lb_on_change(lb, peers, 2), 0);
    assert_int_equal(lb_pick(lb, peers, 2, NULL, 42), 1);
    lb_free(lb);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_hash_same_peer),
        cmocka_unit_test(test_distribution),
        cmocka_unit_test(test_remove_moves_only_its_keys),
        cmocka_unit_test(test_add_and_reweight),
        cmocka_unit_test(test_tried_and_exclusions),
        cmocka_unit_test(test_empty_and_fallback),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
