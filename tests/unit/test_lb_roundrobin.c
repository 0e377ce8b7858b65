/* Unit tests for round-robin (exact rotation, weight ignored except 0) and
 * weighted (nginx smooth weighted round-robin: exact proportions per cycle
 * and nginx's interleaving), with exclusions and seeded random checks. */
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

/* Exact rotation; weights other than 0 and the load make no difference. */
static void
test_rr_rotation(void **unused)
{
    struct lb_peer peers[4];
    struct lb *lb;

    peers_init(peers, 4, 1);
    peers[0].weight = 5;
    peers[2].weight = 200;
    peers[3].inflight = 1000;
    lb = lb_new(&lb_roundrobin_ops, peers, 4);
    assert_non_null(lb);
    for (int k = 0; k < 400; k++)
        assert_int_equal(lb_pick(lb, peers, 4, NULL, (uint32_t)k), k % 4);
    lb_free(lb);
}

/* Excluded peers are skipped and the rotation goes on past them. */
static void
test_rr_exclusions(void **unused)
{
    struct lb_peer peers[5];
    uint8_t tried[5] = {0};
    static const int expect[] = {0, 2, 4, 0, 2, 4};
    struct lb *lb;

    peers_init(peers, 5, 1);
    peers[1].eligible = false;
    peers[3].weight = 0;
    lb = lb_new(&lb_roundrobin_ops, peers, 5);
    assert_non_null(lb);
    for (size_t k = 0; k < 6; k++)
        assert_int_equal(lb_pick(lb, peers, 5, NULL, 0), expect[k]);
    /* Next would be 0; with 0 tried the retry goes to 2. */
    tried[0] = 1;
    assert_int_equal(lb_pick(lb, peers, 5, tried, 0), 2);
    tried[2] = tried[4] = 1;
    assert_int_equal(lb_pick(lb, peers, 5, tried, 0), -1);
    /* Back in service: 1 is next after 0. */
    peers[1].eligible = true;
    assert_int_equal(lb_pick(lb, peers, 5, NULL, 0), 4);
    assert_int_equal(lb_pick(lb, peers, 5, NULL, 0), 0);
    assert_int_equal(lb_pick(lb, peers, 5, NULL, 0), 1);
    assert_int_equal(lb_pick(lb, peers, 5, NULL, 0), 2);
    lb_free(lb);
}

/* Shrinking and growing the set keeps every pick in range and fair. */
static void
test_rr_on_change(void **unused)
{
    struct lb_peer peers[6];
    unsigned count[6] = {0};
    struct lb *lb;

    peers_init(peers, 6, 1);
    lb = lb_new(&lb_roundrobin_ops, peers, 6);
    assert_non_null(lb);
    for (int k = 0; k < 5; k++)
        lb_pick(lb, peers, 6, NULL, 0);
    assert_int_equal(lb_on_change(lb, peers, 2), 0);
    for (int k = 0; k < 100; k++) {
        int c = lb_pick(lb, peers, 2, NULL, 0);
        assert_true(c >= 0 && c < 2);
        count[c]++;
    }
    assert_int_equal(count[0], 50);
    assert_int_equal(count[1], 50);
    assert_int_equal(lb_on_change(lb, peers, 6), 0);
    memset(count, 0, sizeof(count));
    for (int k = 0; k < 600; k++)
        count[lb_pick(lb, peers, 6, NULL, 0)]++;
    for (int i = 0; i < 6; i++)
        assert_int_equal(count[i], 100);
    lb_free(lb);
}

/* nginx's documented sequence for weights 5, 1, 1. */
static void
test_wrr_nginx_sequence(void **unused)
{
    static const int expect[] = {0, 0, 1, 0, 2, 0, 0};
    struct lb_peer peers[3];
    struct lb *lb;

    peers_init(peers, 3, 1);
    peers[0].weight = 5;
    lb = lb_new(&lb_weighted_ops, peers, 3);
    assert_non_null(lb);
    for (int round = 0; round < 3; round++) {
        for (size_t k = 0; k < 7; k++)
            assert_int_equal(lb_pick(lb, peers, 3, NULL, 0), expect[k]);
    }
    lb_free(lb);
}

/* Random weights: every cycle of sum(weight) picks holds each peer exactly
 * weight times, and no peer waits longer than one cycle. */
static void
test_wrr_exact_proportions(void **unused)
{
    enum { N = 6 };
    struct lb_peer peers[N];
    struct rng rng = {0x77eeaa0011223344u};

    for (int trial = 0; trial < 50; trial++) {
        unsigned count[N] = {0};
        int last[N];
        uint32_t total = 0;
        size_t n = 1 + rng_below(&rng, N);
        struct lb *lb;

        peers_init(peers, n, 1);
        for (size_t i = 0; i < n; i++) {
            peers[i].weight = 1 + rng_below(&rng, 10);
            total += peers[i].weight;
            last[i] = -1;
        }
        lb = lb_new(&lb_weighted_ops, peers, n);
        assert_non_null(lb);
        for (uint32_t k = 0; k < 5 * total; k++) {
            int c = lb_pick(lb, peers, n, NULL, 0);
            assert_true(c >= 0 && (size_t)c < n);
            count[c]++;
            last[c] = (int)k;
            if ((k + 1) % total == 0) {
                for (size_t i = 0; i < n; i++) {
                    assert_int_equal(count[i],
                                     (k + 1) / total * peers[i].weight);
                    assert_true((int)k - last[i] < (int)total);
                }
            }
        }
        lb_free(lb);
    }
}

/* Smoothness: with weights 3 and 1 the heavy peer never runs more than
 * three in a row, and the light one is never picked twice in a row. */
static void
test_wrr_smooth(void **unused)
{
    struct lb_peer peers[2];
    struct lb *lb;
    int run = 0, prev = -1;

    peers_init(peers, 2, 1);
    peers[0].weight = 3;
    lb = lb_new(&lb_weighted_ops, peers, 2);
    assert_non_null(lb);
    for (int k = 0; k < 400; k++) {
        int c = lb_pick(lb, peers, 2, NULL, 0);
        run = c == prev ? run + 1 : 1;
        if (c == 1)
            assert_int_equal(run, 1);
        else
            assert_true(run <= 3);
        prev = c;
    }
    lb_free(lb);
}

/* Exclusions with seeded random eligibility, weights and tried sets: the
 * answer always qualifies, and -1 only when nothing does. */
static void
test_wrr_exclusions(void **unused)
{
    enum { N = 7 };
    struct lb_peer peers[N];
    uint8_t tried[N];
    struct rng rng = {0x1234567890abcdefu};
    unsigned nones = 0;
    struct lb *lb, *rr;

    peers_init(peers, N, 2);
    lb = lb_new(&lb_weighted_ops, peers, N);
    rr = lb_new(&lb_roundrobin_ops, peers, N);
    assert_non_null(lb);
    assert_non_null(rr);
    for (int step = 0; step < 10000; step++) {
        bool any = false;
        for (size_t i = 0; i < N; i++) {
            peers[i].eligible = rng_below(&rng, 3) != 0;
            tried[i] = rng_below(&rng, 4) == 0;
            any |= usable(peers, tried, i);
        }
        if (step % 100 == 0) {
            peers[rng_below(&rng, N)].weight = rng_below(&rng, 4);
            assert_int_equal(lb_on_change(lb, peers, N), 0);
            assert_int_equal(lb_on_change(rr, peers, N), 0);
            any = false;
            for (size_t i = 0; i < N; i++)
                any |= usable(peers, tried, i);
        }
        int c = lb_pick(lb, peers, N, tried, 0);
        int d = lb_pick(rr, peers, N, tried, 0);
        if (!any) {
            assert_int_equal(c, -1);
            assert_int_equal(d, -1);
            nones++;
            continue;
        }
        assert_true(c >= 0 && usable(peers, tried, (size_t)c));
        assert_true(d >= 0 && usable(peers, tried, (size_t)d));
    }
    assert_true(nones > 0);
    lb_free(lb);
    lb_free(rr);
}

/* A weight-0 peer is off for weighted too; an empty set gives -1. */
static void
test_wrr_weight_zero_and_empty(void **unused)
{
    struct lb_peer peers[3];
    struct lb *lb;

    peers_init(peers, 3, 1);
    peers[1].weight = 0;
    lb = lb_new(&lb_weighted_ops, peers, 3);
    assert_non_null(lb);
    for (int k = 0; k < 10; k++)
        assert_int_equal(lb_pick(lb, peers, 3, NULL, 0), (k % 2) * 2);
    peers[0].weight = 0;
    peers[2].eligible = false;
    assert_int_equal(lb_on_change(lb, peers, 3), 0);
    assert_int_equal(lb_pick(lb, peers, 3, NULL, 0), -1);
    assert_int_equal(lb_on_change(lb, peers, 0), 0);
    assert_int_equal(lb_pick(lb, peers, 0, NULL, 0), -1);
    lb_free(lb);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rr_rotation),
        cmocka_unit_test(test_rr_exclusions),
        cmocka_unit_test(test_rr_on_change),
        cmocka_unit_test(test_wrr_nginx_sequence),
        cmocka_unit_test(test_wrr_exact_proportions),
        cmocka_unit_test(test_wrr_smooth),
        cmocka_unit_test(test_wrr_exclusions),
        cmocka_unit_test(test_wrr_weight_zero_and_empty),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
