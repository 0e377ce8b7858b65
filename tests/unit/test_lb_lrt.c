/* Unit tests for least-response-time: fast peers preferred, in-flight load
 * and weight counted, unmeasured peers probed, ties rotated, products near
 * 2^96 compared exactly, checked against a 128-bit oracle over seeded
 * random picks. */
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
peers_init(struct lb_peer *peers, size_t n, uint32_t rtt_us)
{
    for (size_t i = 0; i < n; i++) {
        memset(&peers[i], 0, sizeof(peers[i]));
        peers[i].weight = 1;
        peers[i].rtt_us = rtt_us;
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

/* The oracle, written independently with a 128-bit type: score numerator
 * rtt * (inflight + 1), where an unmeasured peer counts 0 while idle and
 * the fastest measured eligible RTT (1 if none) once busy. */
static unsigned __int128
oracle_cost(const struct lb_peer *peers, size_t n, size_t i)
{
    uint64_t rtt = peers[i].rtt_us;

    if (rtt == 0 && peers[i].inflight > 0) {
        for (size_t j = 0; j < n; j++) {
            if (peers[j].eligible && peers[j].weight > 0 &&
                peers[j].rtt_us != 0 && (rtt == 0 || peers[j].rtt_us < rtt))
                rtt = peers[j].rtt_us;
        }
        if (rtt == 0)
            rtt = 1;
    }
    return (unsigned __int128)rtt * ((uint64_t)peers[i].inflight + 1);
}

/* C qualifies and no qualifying peer has a strictly lower score; or C is -1
 * and nothing qualifies. */
static void
assert_min_score(const struct lb_peer *peers, size_t n, const uint8_t *tried,
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
        unsigned __int128 mine = oracle_cost(peers, n, (size_t)c) *
                                 peers[j].weight;
        unsigned __int128 theirs = oracle_cost(peers, n, j) *
                                   peers[c].weight;
        assert_true(mine <= theirs);
    }
}

/* Held picks between a 1 ms and a 5 ms peer: the fast one takes about five
 * times as many, and every pick is the minimum. */
static void
test_prefers_fast(void **unused)
{
    struct lb_peer peers[2];
    struct lb *lb;

    peers_init(peers, 2, 1000);
    peers[1].rtt_us = 5000;
    lb = lb_new(&lb_lrt_ops, peers, 2);
    assert_non_null(lb);
    assert_int_equal(lb_pick(lb, peers, 2, NULL, 0), 0);
    for (int k = 0; k < 60; k++) {
        int c = lb_pick(lb, peers, 2, NULL, 0);
        assert_min_score(peers, 2, NULL, c);
        peers[c].inflight++;
    }
    /* 1000 * (a + 1) ~ 5000 * (b + 1) with a + b = 60. */
    assert_in_range(peers[0].inflight, 49, 51);
    assert_int_equal(peers[0].inflight + peers[1].inflight, 60);
    lb_free(lb);
}

/* Load counts: a fast but busy peer loses to a slower idle one. */
static void
test_accounts_inflight(void **unused)
{
    struct lb_peer peers[2];
    struct lb *lb;

    peers_init(peers, 2, 1000);
    peers[1].rtt_us = 2000;
    peers[0].inflight = 10;
    lb = lb_new(&lb_lrt_ops, peers, 2);
    assert_non_null(lb);
    assert_int_equal(lb_pick(lb, peers, 2, NULL, 0), 1); /* 11000 > 2000 */
    peers[0].inflight = 2;
    assert_int_equal(lb_pick(lb, peers, 2, NULL, 0), 1); /* 3000 > 2000 */
    peers[0].inflight = 0;
    assert_int_equal(lb_pick(lb, peers, 2, NULL, 0), 0); /* 1000 < 2000 */
    lb_free(lb);
}

/* Weight divides the score: equal RTTs, weight 2 takes twice as many. */
static void
test_weights(void **unused)
{
    struct lb_peer peers[2];
    struct lb *lb;

    peers_init(peers, 2, 3000);
    peers[0].weight = 2;
    lb = lb_new(&lb_lrt_ops, peers, 2);
    assert_non_null(lb);
    for (int k = 0; k < 298; k++) {
        int c = lb_pick(lb, peers, 2, NULL, 0);
        assert_min_score(peers, 2, NULL, c);
        peers[c].inflight++;
    }
    /* Scores meet when a + 1 = 2 * (b + 1): a = 199, b = 99. */
    assert_int_equal(peers[0].inflight, 199);
    assert_int_equal(peers[1].inflight, 99);
    lb_free(lb);
}

/* An unmeasured peer is probed at once while idle, then counts as fast as
 * the fastest measured peer and wins ties against measured peers. */
static void
test_unmeasured(void **unused)
{
    struct lb_peer peers[3];
    unsigned count[3] = {0};
    struct lb *lb;

    peers_init(peers, 3, 1000);
    peers[1].rtt_us = 500;
    peers[2].rtt_us = 0;
    lb = lb_new(&lb_lrt_ops, peers, 3);
    assert_non_null(lb);
    assert_int_equal(lb_pick(lb, peers, 3, NULL, 0), 2);
    peers[2].inflight = 1;                  /* lent 500 us: 1000 */
    assert_int_equal(lb_pick(lb, peers, 3, NULL, 0), 1);   /* 500 */
    peers[1].inflight = 1;                  /* 1000 each: ties */
    assert_int_equal(lb_pick(lb, peers, 3, NULL, 0), 2);
    peers[2].inflight = 2;                  /* 1500 vs 1000 */
    assert_int_equal(lb_pick(lb, peers, 3, NULL, 0), 0);

    /* Nothing measured: idle peers rotate exactly, then the load rules. */
    peers_init(peers, 3, 0);
    for (int k = 0; k < 300; k++) {
        int c = lb_pick(lb, peers, 3, NULL, 0);
        assert_true(c >= 0);
        count[c]++;
    }
    for (int i = 0; i < 3; i++)
        assert_int_equal(count[i], 100);
    peers[0].inflight = 1;
    peers[1].inflight = 3;
    peers[2].inflight = 2;
    assert_int_equal(lb_pick(lb, peers, 3, NULL, 0), 0);
    lb_free(lb);
}

/* Equal peers, each request released at once: exact rotation. */
static void
test_ties_rotate(void **unused)
{
    struct lb_peer peers[3];
    unsigned count[3] = {0};
    struct lb *lb;

    peers_init(peers, 3, 2000);
    lb = lb_new(&lb_lrt_ops, peers, 3);
    assert_non_null(lb);
    for (int k = 0; k < 300; k++) {
        int c = lb_pick(lb, peers, 3, NULL, 0);
        assert_int_equal(c, k % 3);
        count[c]++;
        peers[c].inflight++;
        peers[c].inflight--;
    }
    for (int i = 0; i < 3; i++)
        assert_int_equal(count[i], 100);
    lb_free(lb);
}

/* Products reach 2^96: a 64-bit comparison would wrap. */
static void
test_large_values(void **unused)
{
    struct lb_peer peers[2];
    struct lb *lb;

    peers_init(peers, 2, UINT32_MAX);
    peers[0].inflight = UINT32_MAX - 1;
    peers[0].weight = UINT32_MAX - 1;
    peers[1].inflight = UINT32_MAX - 1;
    peers[1].weight = UINT32_MAX;
    lb = lb_new(&lb_lrt_ops, peers, 2);
    assert_non_null(lb);
    assert_int_equal(lb_pick(lb, peers, 2, NULL, 0), 1);
    peers[0].weight = UINT32_MAX;
    peers[1].weight = UINT32_MAX - 1;
    assert_int_equal(lb_pick(lb, peers, 2, NULL, 0), 0);

    peers[0].rtt_us = 4000000000u;
    peers[0].inflight = 2999999999u;
    peers[0].weight = 3000000000u;          /* score 4.0e9 */
    peers[1].rtt_us = 3900000000u;
    peers[1].inflight = 2999999999u;
    peers[1].weight = 2900000000u;          /* score ~4.03e9 */
    assert_int_equal(lb_pick(lb, peers, 2, NULL, 0), 0);
    assert_min_score(peers, 2, NULL, 0);

    /* Equal scores (4e9) from different factors, products of 3.2e28: the
     * tie is seen exactly, so the two take turns. */
    peers[0].rtt_us = 4000000000u;
    peers[0].inflight = 3999999999u;
    peers[0].weight = 4000000000u;
    peers[1].rtt_us = 2000000000u;
    peers[1].inflight = 3999999999u;
    peers[1].weight = 2000000000u;
    int prev = lb_pick(lb, peers, 2, NULL, 0);
    for (int k = 0; k < 10; k++) {
        int c = lb_pick(lb, peers, 2, NULL, 0);
        assert_int_equal(c, 1 - prev);
        prev = c;
    }
    lb_free(lb);
}

/* Full-range random fields (carries in every part of the 96-bit product):
 * every pick matches the 128-bit oracle. */
static void
test_random_large_values(void **unused)
{
    enum { N = 3 };
    struct lb_peer peers[N];
    struct rng rng = {0xabad1deadeadbeefu};
    struct lb *lb;

    peers_init(peers, N, 1);
    lb = lb_new(&lb_lrt_ops, peers, N);
    assert_non_null(lb);
    for (int k = 0; k < 100000; k++) {
        for (size_t i = 0; i < N; i++) {
            uint64_t r = rng_next(&rng);
            peers[i].rtt_us = (uint32_t)r | 1;
            peers[i].inflight = (uint32_t)(r >> 32);
            peers[i].weight = (uint32_t)rng_next(&rng) | 1;
        }
        /* Near-equal scores are where a lost carry shows. */
        if (k % 2) {
            peers[1] = peers[0];
            peers[1].weight -= peers[1].weight > 1;
        }
        int c = lb_pick(lb, peers, N, NULL, 0);
        assert_min_score(peers, N, NULL, c);
    }
    lb_free(lb);
}

/* Ineligible, weight-0 and tried peers are never chosen, however fast. */
static void
test_exclusions(void **unused)
{
    struct lb_peer peers[4];
    uint8_t tried[4] = {0, 0, 1, 0};
    struct lb *lb;

    peers_init(peers, 4, 10);
    peers[0].eligible = false;
    peers[1].weight = 0;
    peers[3].rtt_us = 900000;
    peers[3].inflight = 40;
    lb = lb_new(&lb_lrt_ops, peers, 4);
    assert_non_null(lb);
    for (int k = 0; k < 50; k++)
        assert_int_equal(lb_pick(lb, peers, 4, tried, 0), 3);
    tried[3] = 1;
    assert_int_equal(lb_pick(lb, peers, 4, tried, 0), -1);
    assert_int_equal(lb_pick(lb, peers, 4, NULL, 0), 2);
    lb_free(lb);
}

/* 10,000 seeded picks with changing RTTs, weights, eligibility, retries
 * and releases: each answer is the oracle's minimum; counts end at zero. */
static void
test_property_min_score(void **unused)
{
    enum { N = 7, STEPS = 10000 };
    static uint32_t queue[STEPS];
    struct lb_peer peers[N];
    uint8_t tried[N];
    struct rng rng = {0xfeedface12345678u};
    size_t nq = 0, picks = 0;
    uint64_t inc = 0, dec = 0;
    struct lb *lb;

    peers_init(peers, N, 0);
    for (size_t i = 0; i < N; i++)
        peers[i].weight = 1 + rng_below(&rng, 4);
    lb = lb_new(&lb_lrt_ops, peers, N);
    assert_non_null(lb);
    for (int step = 0; step < STEPS; step++) {
        uint32_t r = rng_below(&rng, 100);
        size_t j = rng_below(&rng, N);
        if (r < 3) {
            peers[j].eligible = !peers[j].eligible;
        } else if (r < 5) {
            peers[j].weight = rng_below(&rng, 5);
            assert_int_equal(lb_on_change(lb, peers, N), 0);
        } else if (r < 25) {
            /* A response finished: the runtime updates the average. */
            peers[j].rtt_us = r < 7 ? 0 : 100 + rng_below(&rng, 100000);
        }
        for (uint32_t k = rng_below(&rng, 3); k > 0 && nq > 0; k--) {
            size_t q = rng_below(&rng, (uint32_t)nq);
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
        int c = lb_pick(lb, peers, N, t, 0);
        assert_min_score(peers, N, t, c);
        if (c == -1)
            continue;
        picks++;
        peers[c].inflight++;
        inc++;
        queue[nq++] = (uint32_t)c;
    }
    while (nq > 0) {
        peers[queue[--nq]].inflight--;
        dec++;
    }
    assert_true(inc == dec);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(peers[i].inflight, 0);
    assert_true(picks > STEPS * 9 / 10);
    lb_free(lb);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefers_fast),
        cmocka_unit_test(test_accounts_inflight),
        cmocka_unit_test(test_weights),
        cmocka_unit_test(test_unmeasured),
        cmocka_unit_test(test_ties_rotate),
        cmocka_unit_test(test_large_values),
        cmocka_unit_test(test_random_large_values),
        cmocka_unit_test(test_exclusions),
        cmocka_unit_test(test_property_min_score),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
