/* Backend table: construction from a cfg, lookups, and exact in-flight
 * accounting through the two calls that may change it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "weir/config/config.h"
#include "weir/lb/backend.h"

static const char yaml[] =
    "listeners:\n  - name: http\n    bind: 127.0.0.1:8080\n"
    "backends:\n"
    "  - name: a\n    address: 127.0.0.1:9001\n"
    "  - name: b\n    address: 127.0.0.1:9002\n    weight: 2\n"
    "  - name: c\n    address: 127.0.0.1:9003\n    weight: 0\n"
    "load_balancer:\n  health_check:\n    passive: false\n";

/* Health-driven tables: every check or request changes state fast. */
static const char yaml_health[] =
    "listeners:\n  - name: http\n    bind: 127.0.0.1:8080\n"
    "backends:\n"
    "  - name: a\n    address: 127.0.0.1:9001\n"
    "  - name: b\n    address: 127.0.0.1:9002\n"
    "load_balancer:\n  health_check:\n"
    "    healthy_threshold: 1\n    unhealthy_threshold: 2\n";

static struct cfg *
load_text(const char *text)
{
    struct cfg_errors errs = {0};
    struct cfg *cfg = cfg_load_string("t.yaml", text, strlen(text), NULL, &errs);
    assert_int_equal(errs.n, 0);
    assert_non_null(cfg);
    return cfg;
}

static struct cfg *
load(void)
{
    return load_text(yaml);
}

static void
check(struct backend_table *bt, struct backend *b, bool pass, uint64_t now)
{
    struct backend_check_result r = {
        .pass = pass, .reason = pass ? "status 200" : "status 500",
        .agent_drain = 0, .agent_weight = -1,
    };
    backend_health_report(bt, b, &r, now);
}

static void
test_table_from_cfg(void **state)
{
    (void)state;
    struct cfg *cfg = load();
    struct backend_table *bt = backend_table_new(cfg, NULL, 0);

    assert_non_null(bt);
    assert_int_equal(bt->n, 3);
    assert_string_equal(bt->backends[1]->name, "b");
    assert_string_equal(bt->backends[1]->addr_text, "127.0.0.1:9002");
    assert_int_equal(bt->peers[1].weight, 2);
    assert_ptr_equal(backend_find(bt, "c"), bt->backends[2]);
    assert_null(backend_find(bt, "nope"));
    /* Keys are stable name hashes: equal names, equal keys. */
    assert_int_equal(bt->peers[0].key, lb_hash("a", 1));
    backend_table_free(bt);
    cfg_free(cfg);
}

static void
test_weight_zero_never_picked_and_none_left(void **state)
{
    (void)state;
    struct cfg *cfg = load();
    struct backend_table *bt = backend_table_new(cfg, NULL, 0);
    uint8_t tried[3] = {0};

    for (int i = 0; i < 100; i++)
        assert_string_not_equal(backend_pick(bt, NULL, 0)->name, "c");
    tried[0] = tried[1] = 1;
    assert_null(backend_pick(bt, tried, 0));
    backend_table_free(bt);
    cfg_free(cfg);
}

static void
test_inflight_is_exact(void **state)
{
    (void)state;
    struct cfg *cfg = load();
    struct backend_table *bt = backend_table_new(cfg, NULL, 0);
    struct backend *held[1000];
    uint32_t x = 12345;

    /* Hold requests, release a random one now and then: the counts always
     * equal the number held, and end at zero. */
    size_t n = 0;
    for (int step = 0; step < 5000; step++) {
        x = x * 1103515245u + 12345u;
        if (n < 1000 && (n == 0 || (x >> 16) % 3 != 0)) {
            struct backend *b = backend_pick(bt, NULL, 0);
            backend_inflight_inc(b);
            held[n++] = b;
        } else {
            size_t i = (x >> 8) % n;
            backend_inflight_dec(held[i], (x & 1) ? BACKEND_OK : BACKEND_FAILED, 100, 0);
            held[i] = held[--n];
        }
        uint32_t expect[3] = {0};
        for (size_t i = 0; i < n; i++)
            expect[held[i]->index]++;
        for (size_t i = 0; i < 3; i++)
            assert_int_equal(bt->peers[i].inflight, expect[i]);
    }
    while (n > 0)
        backend_inflight_dec(held[--n], BACKEND_ABANDONED, 0, 0);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(bt->peers[i].inflight, 0);
    assert_true(bt->backends[0]->requests_total > 0);
    backend_table_free(bt);
    cfg_free(cfg);
}

static void
test_rtt_ewma(void **state)
{
    (void)state;
    struct cfg *cfg = load();
    struct backend_table *bt = backend_table_new(cfg, NULL, 0);
    struct backend *a = bt->backends[0];

    backend_inflight_inc(a);
    backend_inflight_dec(a, BACKEND_OK, 800, 0);
    assert_int_equal(a->peer->rtt_us, 800);
    backend_inflight_inc(a);
    backend_inflight_dec(a, BACKEND_OK, 1600, 0);
    assert_int_equal(a->peer->rtt_us, (800 * 7 + 1600) / 8);
    /* Failures do not feed the response-time average. */
    backend_inflight_inc(a);
    backend_inflight_dec(a, BACKEND_FAILED, 100000, 0);
    assert_int_equal(a->peer->rtt_us, (800 * 7 + 1600) / 8);
    assert_int_equal(a->failures_total, 1);
    backend_table_free(bt);
    cfg_free(cfg);
}

static void
test_unknown_backends_serve_until_one_is_healthy(void **state)
{
    (void)state;
    struct cfg *cfg = load_text(yaml_health);
    struct backend_table *bt = backend_table_new(cfg, NULL, 0);
    struct backend *a = bt->backends[0], *b = bt->backends[1];

    /* Start-up: nothing checked yet, both are tried. */
    assert_true(a->peer->eligible && b->peer->eligible);
    check(bt, a, true, 10);
    assert_int_equal(a->health.state, HEALTH_HEALTHY);
    /* Now one is proven: the unknown one waits for its own pass. */
    assert_true(a->peer->eligible);
    assert_false(b->peer->eligible);
    check(bt, b, true, 20);
    assert_true(b->peer->eligible);
    backend_table_free(bt);
    cfg_free(cfg);
}

static void
test_passive_failures_eject(void **state)
{
    (void)state;
    struct cfg *cfg = load_text(yaml_health);
    struct backend_table *bt = backend_table_new(cfg, NULL, 0);
    struct backend *a = bt->backends[0], *b = bt->backends[1];

    check(bt, a, true, 1);
    check(bt, b, true, 1);
    for (int i = 0; i < 2; i++) {
        backend_inflight_inc(a);
        backend_inflight_dec(a, BACKEND_FAILED, 0, 100 + (uint64_t)i);
    }
    assert_int_equal(a->health.state, HEALTH_UNHEALTHY);
    assert_false(a->peer->eligible);
    for (int i = 0; i < 50; i++)
        assert_ptr_equal(backend_pick(bt, NULL, 0), b);
    /* A client that went away is no verdict on the backend. */
    for (int i = 0; i < 5; i++) {
        backend_inflight_inc(b);
        backend_inflight_dec(b, BACKEND_ABANDONED, 0, 200);
    }
    assert_int_equal(b->health.state, HEALTH_HEALTHY);
    /* Only an active check brings a back. */
    backend_inflight_inc(a);
    backend_inflight_dec(a, BACKEND_OK, 10, 300);
    assert_false(a->peer->eligible);
    check(bt, a, true, 400);
    assert_true(a->peer->eligible);
    /* Everything down: nothing eligible, and the pick says so. */
    check(bt, a, false, 500);
    check(bt, a, false, 501);
    check(bt, b, false, 500);
    check(bt, b, false, 501);
    assert_null(backend_pick(bt, NULL, 0));
    assert_true(bt->none_eligible);
    backend_table_free(bt);
    cfg_free(cfg);
}

static void
test_drain_enable_and_weights(void **state)
{
    (void)state;
    struct cfg *cfg = load_text(yaml_health);
    struct backend_table *bt = backend_table_new(cfg, NULL, 0);
    struct backend *a = bt->backends[0], *b = bt->backends[1];

    check(bt, a, true, 1);
    check(bt, b, true, 1);
    backend_inflight_inc(a);
    backend_drain(a, 10);
    assert_false(a->peer->eligible);
    assert_int_equal(a->admin, BACKEND_DRAINING);
    assert_string_equal(backend_admin_name(a), "draining");
    backend_drain(a, 11); /* idempotent */
    assert_int_equal(a->admin, BACKEND_DRAINING);
    backend_inflight_dec(a, BACKEND_OK, 10, 20);
    assert_int_equal(a->admin, BACKEND_DRAINED);
    assert_string_equal(backend_admin_name(a), "drained");
    backend_enable(a, 30);
    assert_true(a->peer->eligible);

    /* The node's own weight, overridden by the operator's. */
    struct backend_check_result r = {.pass = true, .reason = "status 200",
                                     .agent_drain = 0, .agent_weight = 7};
    backend_health_report(bt, a, &r, 40);
    assert_int_equal(a->peer->weight, 7);
    backend_set_weight(a, 3, 50);
    assert_int_equal(a->peer->weight, 3);
    backend_set_weight(a, 0, 60);
    assert_false(a->peer->eligible);
    backend_set_weight(a, 1, 70);

    /* Weir-Drain: 1 drains until an answer without it. */
    r.agent_drain = 1;
    backend_health_report(bt, a, &r, 80);
    assert_false(a->peer->eligible);
    assert_string_equal(backend_admin_name(a), "drained");
    r.agent_drain = 0;
    backend_health_report(bt, a, &r, 90);
    assert_true(a->peer->eligible);
    backend_table_free(bt);
    cfg_free(cfg);
}

static void
test_drained_healthy_leaves_unknown_eligible(void **state)
{
    (void)state;
    struct cfg *cfg = load_text(yaml_health);
    struct backend_table *bt = backend_table_new(cfg, NULL, 0);
    struct backend *a = bt->backends[0], *b = bt->backends[1];

    backend_drain(a, 5);
    check(bt, a, true, 10);
    assert_int_equal(a->health.state, HEALTH_HEALTHY);
    /* The only healthy one takes nothing: the unknown one is tried. */
    assert_false(a->peer->eligible);
    assert_true(b->peer->eligible);
    backend_table_free(bt);
    cfg_free(cfg);
}

/* What a reload's table keeps, changes and removes. */
static const char yaml_reloaded[] =
    "listeners:\n  - name: http\n    bind: 127.0.0.1:8080\n"
    "backends:\n"
    "  - name: d\n    address: 127.0.0.1:9004\n    weight: 5\n"
    "  - name: a\n    address: 127.0.0.1:9001\n"
    "  - name: b\n    address: 127.0.0.1:9012\n    weight: 2\n"
    "load_balancer:\n  health_check:\n    passive: false\n";

struct removed {
    struct backend *b[4];
    size_t n;
};

static void
on_removed(void *ctx, struct backend *b)
{
    struct removed *r = ctx;
    backend_ref(b);
    r->b[r->n++] = b;
}

static void
test_adopt_keeps_state_and_removes(void **state)
{
    (void)state;
    struct cfg *cfg = load();
    struct backend_table *bt = backend_table_new(cfg, NULL, 0);
    struct backend *a = bt->backends[0], *b = bt->backends[1], *c = bt->backends[2];

    check(bt, a, true, 10);
    check(bt, a, true, 20);
    assert_int_equal(a->health.state, HEALTH_HEALTHY);
    backend_set_weight(a, 7, 30);
    backend_inflight_inc(a);
    backend_inflight_inc(c);  /* weight 0 takes no new request; say it had one */
    a->requests_total = 41;

    struct cfg *cfg2 = load_text(yaml_reloaded);
    struct backend_table *next = backend_table_new(cfg2, bt, 40);
    assert_non_null(next);
    /* Built beside: nothing of the running table moved yet. */
    assert_ptr_equal(next->backends[1], a);
    assert_ptr_equal(a->table, bt);
    assert_ptr_not_equal(next->backends[2], b); /* new address: new backend */
    assert_int_equal(next->backends[0]->health.state, HEALTH_UNKNOWN);

    struct removed rm = {.n = 0};
    backend_table_adopt(next, bt, 50, on_removed, &rm);
    backend_table_free(bt);
    /* Kept: same object, its state, in-flight count and admin weight. */
    assert_ptr_equal(a->table, next);
    assert_int_equal(a->index, 1);
    assert_ptr_equal(a->peer, &next->peers[1]);
    assert_int_equal(a->peer->inflight, 1);
    assert_int_equal(a->requests_total, 41);
    assert_int_equal(a->health.state, HEALTH_HEALTHY);
    assert_int_equal(backend_base_weight(a), 7);
    assert_true(a->peer->eligible);
    /* Removed: the old b and c, out of any table, draining. */
    assert_int_equal(rm.n, 2);
    assert_ptr_equal(rm.b[0], b);
    assert_ptr_equal(rm.b[1], c);
    assert_null(c->table);
    assert_false(c->peer->eligible);
    assert_int_equal(c->peer->inflight, 1);
    assert_string_equal(backend_admin_name(c), "draining");
    backend_inflight_dec(c, BACKEND_OK, 100, 60);
    assert_string_equal(backend_admin_name(c), "drained");
    /* Only the new table's backends are picked. */
    for (int i = 0; i < 20; i++) {
        struct backend *p = backend_pick(next, NULL, (uint32_t)i);
        assert_true(p == a); /* d and the new b are still unknown */
    }
    backend_unref(rm.b[0]);
    backend_unref(rm.b[1]);

    /* A weight changed in the file wins over the admin API's. */
    static const char yaml_weight[] =
        "listeners:\n  - name: http\n    bind: 127.0.0.1:8080\n"
        "backends:\n  - name: a\n    address: 127.0.0.1:9001\n    weight: 3\n"
        "load_balancer:\n  health_check:\n    passive: false\n";
    struct cfg *cfg3 = load_text(yaml_weight);
    struct backend_table *third = backend_table_new(cfg3, next, 70);
    rm.n = 0;
    backend_table_adopt(third, next, 70, on_removed, &rm);
    backend_table_free(next);
    assert_int_equal(rm.n, 2);
    backend_unref(rm.b[0]);
    backend_unref(rm.b[1]);
    assert_int_equal(backend_base_weight(a), 3);
    backend_inflight_dec(a, BACKEND_OK, 100, 80);
    assert_int_equal(a->peer->inflight, 0);
    backend_table_free(third);
    cfg_free(cfg);
    cfg_free(cfg2);
    cfg_free(cfg3);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_from_cfg),
        cmocka_unit_test(test_weight_zero_never_picked_and_none_left),
        cmocka_unit_test(test_inflight_is_exact),
        cmocka_unit_test(test_rtt_ewma),
        cmocka_unit_test(test_unknown_backends_serve_until_one_is_healthy),
        cmocka_unit_test(test_passive_failures_eject),
        cmocka_unit_test(test_drain_enable_and_weights),
        cmocka_unit_test(test_drained_healthy_leaves_unknown_eligible),
        cmocka_unit_test(test_adopt_keeps_state_and_removes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
