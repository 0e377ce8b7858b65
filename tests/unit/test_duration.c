/* Unit tests for duration_parse() and duration_format(): the accepted
 * forms, every rejected form we could think of, and overflow edges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "weir/util/defs.h"
#include "weir/util/duration.h"

static void
test_parse_ok(void **state)
{
    static const struct {
        const char *text;
        uint64_t ms;
    } cases[] = {
        {"0", 0},
        {"1", 1000},
        {"10", 10000},
        {"007", 7000},
        {"0ms", 0},
        {"500ms", 500},
        {"10s", 10000},
        {"5m", 300000},
        {"1h", 3600000},
        {"24h", 86400000},
        {"18446744073709551615ms", UINT64_MAX},
        {"18446744073709551s", UINT64_C(18446744073709551000)},
        {"18446744073709551", UINT64_C(18446744073709551000)},
        {"307445734561825m", UINT64_C(307445734561825) * 60000},
        {"5124095576030h", UINT64_C(5124095576030) * 3600000},
    };
    (void)state;

    for (size_t i = 0; i < nitems(cases); i++) {
        uint64_t ms = 12345;
        if (duration_parse(cases[i].text, &ms) != 0)
            fail_msg("\"%s\" was rejected", cases[i].text);
        if (ms != cases[i].ms)
            fail_msg("\"%s\" gave %llu, want %llu", cases[i].text,
                     (unsigned long long)ms,
                     (unsigned long long)cases[i].ms);
    }
}

static void
test_parse_rejects(void **state)
{
    /* Fractions are rejected by design (write 1500ms for 1.5s). */
    static const char *const cases[] = {
        "", "-1", "-1s", "+1", "+1s", "1.5s", "1.5", "0.5", ".5s", " 1s",
        "1s ", "1 s", "\t1s", "s", "ms", "h", "1S", "1MS", "1H", "1d", "1w",
        "1sec", "1msx", "1ss", "1hm", "1s1", "1e3", "0x10", "1_000",
        "18446744073709551616ms", "18446744073709551616",
        "18446744073709552s", "307445734561826m", "5124095576031h",
        "99999999999999999999999999999999",
    };
    (void)state;

    for (size_t i = 0; i < nitems(cases); i++) {
        uint64_t ms = 42;
        if (duration_parse(cases[i], &ms) != -1)
            fail_msg("\"%s\" was accepted", cases[i]);
        assert_int_equal(ms, 42); /* untouched on failure */
    }
    assert_int_equal(duration_parse(NULL, &(uint64_t){0}), -1);
}

static void
test_format(void **state)
{
    static const struct {
        uint64_t ms;
        const char *text;
    } cases[] = {
        {0, "0s"},
        {1, "1ms"},
        {999, "999ms"},
        {1000, "1s"},
        {1500, "1500ms"},
        {60000, "1m"},
        {90000, "90s"},
        {3600000, "1h"},
        {86400000, "24h"},
        {UINT64_MAX, "18446744073709551615ms"},
    };
    char buf[DURATION_TEXT_MAX];
    (void)state;

    for (size_t i = 0; i < nitems(cases); i++) {
        uint64_t back;
        assert_int_equal(duration_format(cases[i].ms, buf, sizeof(buf)), 0);
        assert_string_equal(buf, cases[i].text);
        /* What we print, we parse back to the same value. */
        assert_int_equal(duration_parse(buf, &back), 0);
        assert_true(back == cases[i].ms);
    }
}

static void
test_format_short_buffer(void **state)
{
    char buf[4];
    (void)state;

    assert_int_equal(duration_format(1500, buf, sizeof(buf)), -1);
    assert_string_equal(buf, "");
    assert_int_equal(duration_format(10000, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "10s");
    assert_int_equal(duration_format(1, buf, 0), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_short_buffer),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
