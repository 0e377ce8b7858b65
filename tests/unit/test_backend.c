/* Backend table: construction from a cfg, lookups, and exact in-flight
 * accounting through the two calls that may change it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "weir/config/config.h"
#include "weir/lb/backend.h"

static const char yaml[] =
    "listeners:\n  - name: http\n    bind: 127.0.0.1:8080\n"
    "backends:\n"
    "  - name: a\n    address: 127.0.0.1:9001\n"
    "  - name: b\n    address: 127.0.0.1:9002\n    weight: 2\n"
    "  - name: c\n    address: 127.0.0.1:9003\n    weight: 0\n";

static struct cfg *
load(void)
{
    struct cfg_errors errs = {0};
    struct cfg *cfg = cfg_load_string("t.yaml", yaml, strlen(yaml), NULL, &errs);
    assert_int_equal(errs.n, 0);
    assert_non_null(cfg);
    return cfg;
}

static void
test_table_from_cfg(void **state)
{
    (void)state;
    struct cfg *cfg = load();
    struct backend_table *bt = backend_table_new(cfg);

    assert_non_null(bt);
    assert_int_equal(bt->n, 3);
    assert_string_equal(bt->backends[1].name, "b");
    assert_string_equal(bt->backends[1].addr_text, "127.0.0.1:9002");
    assert_int_equal(bt->peers[1].weight, 2);
    assert_ptr_equal(backend_find(bt, "c"), &bt->backends[2]);
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
    struct backend_table *bt = backend_table_new(cfg);
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
    struct backend_table *bt = backend_table_new(cfg);
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
            backend_inflight_dec(held[i], (x & 1) ? BACKEND_OK : BACKEND_FAILED, 100);
            held[i] = held[--n];
        }
        uint32_t expect[3] = {0};
        for (size_t i = 0; i < n; i++)
            expect[held[i]->index]++;
        for (size_t i = 0; i < 3; i++)
            assert_int_equal(bt->peers[i].inflight, expect[i]);
    }
    while (n > 0)
        backend_inflight_dec(held[--n], BACKEND_ABANDONED, 0);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(bt->peers[i].inflight, 0);
    assert_true(bt->backends[0].requests_total > 0);
    backend_table_free(bt);
    cfg_free(cfg);
}

static void
test_rtt_ewma(void **state)
{
    (void)state;
    struct cfg *cfg = load();
    struct backend_table *bt = backend_table_new(cfg);
    struct backend *a = &bt->backends[0];

    backend_inflight_inc(a);
    backend_inflight_dec(a, BACKEND_OK, 800);
    assert_int_equal(a->peer->rtt_us, 800);
    backend_inflight_inc(a);
    backend_inflight_dec(a, BACKEND_OK, 1600);
    assert_int_equal(a->peer->rtt_us, (800 * 7 + 1600) / 8);
    /* Failures do not feed the response-time average. */
    backend_inflight_inc(a);
    backend_inflight_dec(a, BACKEND_FAILED, 100000);
    assert_int_equal(a->peer->rtt_us, (800 * 7 + 1600) / 8);
    assert_int_equal(a->failures_total, 1);
    backend_table_free(bt);
    cfg_free(cfg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_from_cfg),
        cmocka_unit_test(test_weight_zero_never_picked_and_none_left),
        cmocka_unit_test(test_inflight_is_exact),
        cmocka_unit_test(test_rtt_ewma),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
