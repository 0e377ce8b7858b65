/* Unit tests for least-connections and the balancer front end (lb.c):
 * invariants over thousands of seeded random picks (h2o style), exact tie
 * rotation, weights, exclusions, 64-bit comparison, lb_ops_for, lb_hash. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "weir/lb/lb.h"

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

static uint32_t
rng_below(struct rng *r, uint32_t n)
{
    return (uint32_t)(rng_next(r) % n);
}

static void
peers_init(struct lb_peer *peers, size_t n, uint32_t weight)
{
    for (size_t i = 0; i < n; i++) {
        memset(&peers[i], 0, sizeof(peers[i]));
        peers[i].weight = weight;
        peers[i].key = (uint32_t)(i * 2654435761u);
        peers[i].eligible = true;
    }
}

static bool
usable(const struct lb_peer *peers, const uint8_t *tried, size_t i)
{
    return peers[i].eligible && peers[i].weight > 0 &&
           (tried == NULL || tried[i] == 0);
}

/* The invariant: C qualifies and no qualifying peer has a strictly lower
 * inflight/weight; or C is -1 and nothing qualifies. */
static void
assert_min_ratio(const struct lb_peer *peers, size_t n, const uint8_t *tried,
                 int c)
{
    if (c == -1) {
        for (size_t j = 0; j < n; j++)
            assert_false(usable(peers, tried, j));
        return;
    }
    assert_true(c >= 0 && (size_t)c < n);
    assert_true(usable(peers, tried, (size_t)c));
    for (size_t j = 0; j < n; j++) {
        if (!usable(peers, tried, j))
            continue;
        uint64_t mine = (uint64_t)peers[c].inflight * peers[j].weight;
        uint64_t theirs = (uint64_t)peers[j].inflight * peers[c].weight;
        assert_true(mine <= theirs);
    }
}

static void
test_property_min_ratio(void **unused)
{
    enum { N = 8, STEPS = 10000, MAXQ = STEPS };
    static uint32_t queue[MAXQ];   /* outstanding requests: peer index */
    struct lb_peer peers[N];
    uint8_t tried[N];
    struct rng rng = {0x5eedf00dcafe0001u};
    size_t nq = 0, picks = 0, nones = 0;
    uint64_t inc = 0, dec = 0;
    struct lb *lb;

    peers_init(peers, N, 1);
    for (size_t i = 0; i < N; i++)
        peers[i].weight = 1 + rng_below(&rng, 5);
    lb = lb_new(&lb_leastconn_ops, peers, N);
    assert_non_null(lb);
    for (int step = 0; step < STEPS; step++) {
        uint32_t r = rng_below(&rng, 100);
        if (r < 3) {
            size_t j = rng_below(&rng, N);
            peers[j].eligible = !peers[j].eligible;
        } else if (r < 5) {
            peers[rng_below(&rng, N)].weight = rng_below(&rng, 6);
            assert_int_equal(lb_on_change(lb, peers, N), 0);
        }
        for (uint32_t k = rng_below(&rng, 3); k > 0 && nq > 0; k--) {
            size_t q = rng_below(&rng, (uint32_t)nq);
            assert_true(peers[queue[q]].inflight > 0);
            peers[queue[q]].inflight--;
            dec++;
            queue[q] = queue[--nq];
        }
        const uint8_t *t = NULL;
        if (rng_below(&rng, 2)) {
            for (size_t i = 0; i < N; i++)
                tried[i] = rng_below(&rng, 8) == 0;
            t = tried;
        }
        int c = lb_pick(lb, peers, N, t, (uint32_t)rng_next(&rng));
        assert_min_ratio(peers, N, t, c);
        if (c == -1) {
            nones++;
            continue;
        }
        picks++;
        peers[c].inflight++;
        inc++;
        queue[nq++] = (uint32_t)c;
    }
    /* Every request ends exactly once: counts return to zero. */
    while (nq > 0) {
        peers[queue[--nq]].inflight--;
        dec++;
    }
    assert_true(inc == dec);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(peers[i].inflight, 0);
    assert_true(picks + nones == STEPS);
    assert_true(picks > STEPS * 9 / 10);
    lb_free(lb);
}

/* Three idle equal peers, each request released at once: exact rotation. */
static void
test_ties_rotate_evenly(void **unused)
{
    struct lb_peer peers[3];
    unsigned count[3] = {0};
    struct lb *lb;
    int prev = -1;

    peers_init(peers, 3, 1);
    lb = lb_new(&lb_leastconn_ops, peers, 3);
    assert_non_null(lb);
    for (int k = 0; k < 300; k++) {
        int c = lb_pick(lb, peers, 3, NULL, 0);
        assert_true(c >= 0);
        assert_int_not_equal(c, prev);
        assert_int_equal(c, k % 3);
        prev = c;
        count[c]++;
        peers[c].inflight++;
        peers[c].inflight--;
    }
    for (int i = 0; i < 3; i++)
        assert_int_equal(count[i], 100);
    lb_free(lb);
}

/* Equal peers under equal constant load (not idle) also rotate, and a
 * busier peer is never taken while the others tie. */
static void
test_ties_rotate_under_load(void **unused)
{
    struct lb_peer peers[4];
    unsigned count[4] = {0};
    struct lb *lb;

    peers_init(peers, 4, 3);
    for (int i = 0; i < 3; i++)
        peers[i].inflight = 7;
    peers[3].inflight = 8;
    lb = lb_new(&lb_leastconn_ops, peers, 4);
    assert_non_null(lb);
    for (int k = 0; k < 300; k++)
        count[lb_pick(lb, peers, 4, NULL, 0)]++;
    assert_int_equal(count[0], 100);
    assert_int_equal(count[1], 100);
    assert_int_equal(count[2], 100);
    assert_int_equal(count[3], 0);
    lb_free(lb);
}

/* Weight 2 gets twice the share when every pick is held. */
static void
test_weights_held(void **unused)
{
    struct lb_peer peers[2];
    struct lb *lb;

    peers_init(peers, 2, 1);
    peers[0].weight = 2;
    lb = lb_new(&lb_leastconn_ops, peers, 2);
    assert_non_null(lb);
    for (int k = 0; k < 300; k++) {
        int c = lb_pick(lb, peers, 2, NULL, 0);
        assert_min_ratio(peers, 2, NULL, c);
        peers[c].inflight++;
    }
    assert_int_equal(peers[0].inflight, 200);
    assert_int_equal(peers[1].inflight, 100);
    lb_free(lb);
}

/* Peers whose ratios tie with different weights (2/2 = 1/1 = 3/3) all take
 * turns, in proportion to weight, even when every request is released at
 * once; so weights hold under light load too. */
static void
test_ties_with_different_weights(void **unused)
{
    struct lb_peer peers[3];
    unsigned count[3] = {0};
    struct lb *lb;

    peers_init(peers, 3, 1);
    peers[0].weight = 2;
    peers[0].inflight = 2;
    peers[1].weight = 1;
    peers[1].inflight = 1;
    peers[2].weight = 3;
    peers[2].inflight = 3;
    lb = lb_new(&lb_leastconn_ops, peers, 3);
    assert_non_null(lb);
    for (int k = 0; k < 600; k++) {
        int c = lb_pick(lb, peers, 3, NULL, 0);
        assert_min_ratio(peers, 3, NULL, c);
        count[c]++;
        /* Smooth: nobody waits more than a full cycle of 6. */
        if (k >= 6 && k % 6 == 5) {
            for (int i = 0; i < 3; i++)
                assert_int_equal(count[i], (k + 1) / 6 * peers[i].weight);
        }
    }
    assert_int_equal(count[0], 200);
    assert_int_equal(count[1], 100);
    assert_int_equal(count[2], 300);

    /* The same with every peer idle. */
    memset(count, 0, sizeof(count));
    for (int i = 0; i < 3; i++)
        peers[i].inflight = 0;
    for (int k = 0; k < 600; k++)
        count[lb_pick(lb, peers, 3, NULL, 0)]++;
    assert_int_equal(count[0], 200);
    assert_int_equal(count[1], 100);
    assert_int_equal(count[2], 300);
    lb_free(lb);
}

/* Ineligible, weight-0 and tried peers are never chosen, however idle. */
static void
test_exclusions(void **unused)
{
    struct lb_peer peers[4];
    uint8_t tried[4] = {0, 0, 1, 0};
    struct lb *lb;

    peers_init(peers, 4, 1);
    peers[0].eligible = false;
    peers[1].weight = 0;
    peers[3].inflight = 50;
    lb = lb_new(&lb_leastconn_ops, peers, 4);
    assert_non_null(lb);
    for (int k = 0; k < 100; k++)
        assert_int_equal(lb_pick(lb, peers, 4, tried, 0), 3);
    tried[3] = 1;
    assert_int_equal(lb_pick(lb, peers, 4, tried, 0), -1);
    tried[2] = 0;
    assert_int_equal(lb_pick(lb, peers, 4, tried, 0), 2);
    peers[2].eligible = false;
    peers[3].weight = 0;
    assert_int_equal(lb_pick(lb, peers, 4, NULL, 0), -1);
    lb_free(lb);
}

/* Loads and weights near 2^32 compare exactly: 32-bit products would wrap
 * and pick the busier peer. */
static void
test_large_values(void **unused)
{
    struct lb_peer peers[2];
    struct lb *lb;

    peers_init(peers, 2, 1);
    peers[0].inflight = 2000000000u;         /* ratio ~ 1 */
    peers[0].weight = 2000000001u;
    peers[1].inflight = 3000000000u;         /* ratio 0.75 */
    peers[1].weight = 4000000000u;
    lb = lb_new(&lb_leastconn_ops, peers, 2);
    assert_non_null(lb);
    assert_int_equal(lb_pick(lb, peers, 2, NULL, 0), 1);
    peers[1].inflight = UINT32_MAX;          /* ratio ~ 1.07 */
    assert_int_equal(lb_pick(lb, peers, 2, NULL, 0), 0);
    lb_free(lb);
}

/* Full-range random loads and weights: every pick is the minimum. */
static void
test_random_large_values(void **unused)
{
    enum { N = 3 };
    struct lb_peer peers[N];
    struct rng rng = {0xabad1deadeadbeefu};
    struct lb *lb;

    peers_init(peers, N, 1);
    lb = lb_new(&lb_leastconn_ops, peers, N);
    assert_non_null(lb);
    for (int k = 0; k < 100000; k++) {
        for (size_t i = 0; i < N; i++) {
            uint64_t r = rng_next(&rng);
            peers[i].inflight = (uint32_t)r;
            peers[i].weight = (uint32_t)(r >> 32) | 1;
        }
        int c = lb_pick(lb, peers, N, NULL, 0);
        assert_min_ratio(peers, N, NULL, c);
    }
    lb_free(lb);
}

/* Front end: empty sets, NULL handles, growth through lb_on_change. */
static void
test_front_end(void **unused)
{
    struct lb_peer peers[4];
    struct lb *lb;
    unsigned seen = 0;

    lb_free(NULL);
    assert_null(lb_new(NULL, peers, 0));
    assert_int_equal(lb_pick(NULL, peers, 4, NULL, 0), -1);
    assert_int_equal(lb_on_change(NULL, peers, 4), -1);

    lb = lb_new(&lb_leastconn_ops, NULL, 0);
    assert_non_null(lb);
    assert_int_equal(lb_pick(lb, NULL, 0, NULL, 0), -1);

    peers_init(peers, 4, 1);
    assert_int_equal(lb_on_change(lb, peers, 2), 0);
    for (int k = 0; k < 10; k++)
        seen |= 1u << lb_pick(lb, peers, 2, NULL, 0);
    assert_int_equal(seen, 0x3);
    assert_int_equal(lb_on_change(lb, peers, 4), 0);
    seen = 0;
    for (int k = 0; k < 10; k++)
        seen |= 1u << lb_pick(lb, peers, 4, NULL, 0);
    assert_int_equal(seen, 0xf);
    assert_int_equal(lb_on_change(lb, peers, 0), 0);
    assert_int_equal(lb_pick(lb, peers, 0, NULL, 0), -1);
    lb_free(lb);
}

static void
test_ops_for(void **unused)
{
    assert_ptr_equal(lb_ops_for(CFG_LB_LEAST_CONNECTIONS), &lb_leastconn_ops);
    assert_ptr_equal(lb_ops_for(CFG_LB_ROUND_ROBIN), &lb_roundrobin_ops);
    assert_ptr_equal(lb_ops_for(CFG_LB_WEIGHTED), &lb_weighted_ops);
    assert_ptr_equal(lb_ops_for(CFG_LB_IP_HASH), &lb_iphash_ops);
    assert_ptr_equal(lb_ops_for(CFG_LB_LEAST_RESPONSE_TIME), &lb_lrt_ops);
    assert_null(lb_ops_for((enum cfg_algorithm)99));
    assert_string_equal(lb_leastconn_ops.name, "least-connections");
    assert_string_equal(lb_roundrobin_ops.name, "round-robin");
    assert_string_equal(lb_weighted_ops.name, "weighted");
    assert_string_equal(lb_iphash_ops.name, "ip-hash");
    assert_string_equal(lb_lrt_ops.name, "least-response-time");
}

/* Published FNV-1a 32-bit test vectors. */
static void
test_hash(void **unused)
{
    assert_int_equal(lb_hash(NULL, 0), 0x811c9dc5u);
    assert_int_equal(lb_hash("a", 1), 0xe40c292cu);
    assert_int_equal(lb_hash("foobar", 6), 0xbf9cf968u);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_property_min_ratio),
        cmocka_unit_test(test_ties_rotate_evenly),
        cmocka_unit_test(test_ties_rotate_under_load),
        cmocka_unit_test(test_weights_held),
        cmocka_unit_test(test_ties_with_different_weights),
        cmocka_unit_test(test_exclusions),
        cmocka_unit_test(test_large_values),
        cmocka_unit_test(test_random_large_values),
        cmocka_unit_test(test_front_end),
        cmocka_unit_test(test_ops_for),
        cmocka_unit_test(test_hash),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
