/* Unit tests for fmt_u64/fmt_hex/fmt_hex_fixed: the same text as printf's
 * %llu, %llx and %0*llx over edges and a sweep of values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "weir/util/fmt.h"

static void
check(uint64_t v)
{
    char want[32], got[32];

    memset(got, '#', sizeof(got));
    snprintf(want, sizeof(want), "%llu", (unsigned long long)v);
    size_t n = fmt_u64(got, v);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(got, want, n);
    assert_int_equal(got[n], '#'); /* nothing past the digits, no NUL */

    memset(got, '#', sizeof(got));
    snprintf(want, sizeof(want), "%llx", (unsigned long long)v);
    n = fmt_hex(got, v);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(got, want, n);
    assert_int_equal(got[n], '#');

    memset(got, '#', sizeof(got));
    snprintf(want, sizeof(want), "%016llx", (unsigned long long)v);
    fmt_hex_fixed(got, v, 16);
    assert_memory_equal(got, want, 16);
    assert_int_equal(got[16], '#');
}

static void
test_edges(void **state)
{
    static const uint64_t v[] = {
        0, 1, 9, 10, 15, 16, 99, 100, 255, 256, 4095, 4096, 65535, 65536,
        999999999, 1000000000, UINT32_MAX, (uint64_t)UINT32_MAX + 1,
        UINT64_C(9999999999999999999), UINT64_C(10000000000000000000),
        UINT64_MAX - 1, UINT64_MAX,
    };
    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        check(v[i]);
}

static void
test_sweep(void **state)
{
    uint64_t x = 0x9e3779b97f4a7c15u;
    (void)state;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        check(x >> (i % 64)); /* all magnitudes */
    }
}

static void
test_fixed_width(void **state)
{
    char got[8];
    (void)state;
    fmt_hex_fixed(got, 0xabc, 2); /* only the low digits */
    assert_memory_equal(got, "bc", 2);
    fmt_hex_fixed(got, 0x5, 4);
    assert_memory_equal(got, "0005", 4);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_fixed_width),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
