/* Unit tests for the fixed-capacity buffer: cursors, compaction, and the
 * all-or-nothing append contract (a failed append or printf leaves the
 * readable bytes exactly as they were). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "weir/util/buf.h"

/* The readable bytes of B equal the NUL-terminated S. */
static void
assert_contents(const struct buf *b, const char *s)
{
    assert_int_equal(buf_len(b), strlen(s));
    assert_memory_equal(buf_rptr(b), s, strlen(s));
}

static void
test_init_fini(void **unused)
{
    struct buf b;

    assert_int_equal(buf_init(&b, 16), 0);
    assert_non_null(b.data);
    assert_int_equal(b.cap, 16);
    assert_int_equal(buf_len(&b), 0);
    assert_int_equal(buf_room(&b), 16);
    assert_int_equal(buf_tail_room(&b), 16);
    assert_ptr_equal(buf_rptr(&b), b.data);
    assert_ptr_equal(buf_wptr(&b), b.data);
    buf_fini(&b);
    assert_null(b.data);
    assert_int_equal(b.cap, 0);
    assert_int_equal(buf_len(&b), 0);
    buf_fini(&b); /* twice is safe */

    struct buf z;
    memset(&z, 0, sizeof(z));
    buf_fini(&z); /* a zeroed buf is safe */
    assert_int_equal(buf_room(&z), 0);
}

static void
test_append_and_consume(void **unused)
{
    struct buf b;

    assert_int_equal(buf_init(&b, 8), 0);
    assert_int_equal(buf_append(&b, "abc", 3), 0);
    assert_contents(&b, "abc");
    assert_int_equal(buf_tail_room(&b), 5);
    assert_int_equal(buf_append_str(&b, "defgh"), 0); /* exactly full */
    assert_contents(&b, "abcdefgh");
    assert_int_equal(buf_room(&b), 0);

    /* One more byte does not fit: nothing written. */
    assert_int_equal(buf_append(&b, "x", 1), -1);
    assert_contents(&b, "abcdefgh");

    buf_consume(&b, 3);
    assert_contents(&b, "defgh");
    assert_int_equal(b.rpos, 3);
    assert_int_equal(buf_room(&b), 3);
    assert_int_equal(buf_tail_room(&b), 0);

    /* Emptying the buffer resets both cursors. */
    buf_consume(&b, 5);
    assert_int_equal(buf_len(&b), 0);
    assert_int_equal(b.rpos, 0);
    assert_int_equal(b.wpos, 0);
    assert_int_equal(buf_tail_room(&b), 8);

    /* Zero-length appends always succeed and change nothing. */
    assert_int_equal(buf_append(&b, "", 0), 0);
    assert_int_equal(buf_append_str(&b, ""), 0);
    assert_int_equal(buf_len(&b), 0);

    buf_append_str(&b, "xy");
    buf_reset(&b);
    assert_int_equal(buf_len(&b), 0);
    assert_int_equal(b.rpos, 0);
    assert_int_equal(b.wpos, 0);
    buf_fini(&b);
}

/* An append that fits only after compaction compacts; one that does not
 * fit even then leaves the cursors alone. */
static void
test_append_compacts(void **unused)
{
    struct buf b;

    assert_int_equal(buf_init(&b, 8), 0);
    buf_append_str(&b, "abcdef");
    buf_consume(&b, 4);
    assert_contents(&b, "ef");
    assert_int_equal(buf_tail_room(&b), 2);
    assert_int_equal(buf_room(&b), 6);

    assert_int_equal(buf_append_str(&b, "1234567"), -1);
    assert_int_equal(b.rpos, 4);
    assert_int_equal(b.wpos, 6);
    assert_contents(&b, "ef");

    assert_int_equal(buf_append_str(&b, "123456"), 0);
    assert_int_equal(b.rpos, 0);
    assert_contents(&b, "ef123456");
    buf_fini(&b);
}

static void
test_compact(void **unused)
{
    struct buf b;

    assert_int_equal(buf_init(&b, 8), 0);
    buf_append_str(&b, "abcdef");
    buf_compact(&b); /* rpos 0: no-op */
    assert_int_equal(b.rpos, 0);
    assert_contents(&b, "abcdef");

    buf_consume(&b, 2);
    buf_compact(&b);
    assert_int_equal(b.rpos, 0);
    assert_int_equal(b.wpos, 4);
    assert_contents(&b, "cdef");
    assert_int_equal(buf_tail_room(&b), 4);
    buf_fini(&b);
}

static void
test_reserve(void **unused)
{
    struct buf b;

    assert_int_equal(buf_init(&b, 10), 0);
    buf_append_str(&b, "abcdefgh");
    buf_consume(&b, 5);

    /* Enough tail room: no compaction. */
    assert_int_equal(buf_reserve(&b, 2), 0);
    assert_int_equal(b.rpos, 5);
    assert_int_equal(buf_reserve(&b, 0), 0);
    assert_int_equal(b.rpos, 5);

    /* Needs compaction. */
    assert_int_equal(buf_reserve(&b, 7), 0);
    assert_int_equal(b.rpos, 0);
    assert_true(buf_tail_room(&b) >= 7);
    assert_contents(&b, "fgh");

    /* Too big even compacted: -1 and unchanged. */
    assert_int_equal(buf_reserve(&b, 8), -1);
    assert_contents(&b, "fgh");
    assert_int_equal(b.wpos, 3);
    buf_fini(&b);
}

static void
test_printf(void **unused)
{
    struct buf b;

    assert_int_equal(buf_init(&b, 16), 0);
    assert_int_equal(buf_printf(&b, "%d-%s", 42, "ab"), 0);
    assert_contents(&b, "42-ab");
    assert_int_equal(buf_printf(&b, "%s", ""), 0);
    assert_contents(&b, "42-ab");

    /* Too long: -1 and the readable bytes unchanged. */
    assert_int_equal(buf_printf(&b, "%s", "0123456789abcdef"), -1);
    assert_contents(&b, "42-ab");

    /* Compacts first when the tail is short. */
    buf_consume(&b, 3);
    assert_int_equal(buf_printf(&b, "%s", "0123456789"), 0);
    assert_contents(&b, "ab0123456789");
    buf_fini(&b);
}

/* Output of exactly the remaining room fits: vsnprintf's terminating NUL
 * must not cost the last byte. */
static void
test_printf_exact_fit(void **unused)
{
    struct buf b;

    assert_int_equal(buf_init(&b, 8), 0);
    assert_int_equal(buf_printf(&b, "%s%d", "abcdef", 12), 0);
    assert_contents(&b, "abcdef12");
    assert_int_equal(buf_printf(&b, "%s", ""), 0); /* full: empty still fits */
    assert_int_equal(buf_printf(&b, "%s", "x"), -1);
    assert_contents(&b, "abcdef12");

    /* Exact fit after compaction. */
    buf_consume(&b, 5);
    assert_int_equal(buf_printf(&b, "%05u", 7u), 0);
    assert_contents(&b, "f1200007");
    buf_fini(&b);

    /* Every capacity: a line of exactly the room fits, one byte more
     * does not. */
    char line[300];
    memset(line, 'q', sizeof(line) - 1);
    line[sizeof(line) - 1] = '\0';
    for (size_t cap = 3; cap < sizeof(line); cap++) {
        assert_int_equal(buf_init(&b, cap), 0);
        buf_append_str(&b, "ab");
        const char *fit = line + sizeof(line) - 1 - (cap - 2);
        assert_int_equal(buf_printf(&b, "%s", fit - 1), -1);
        assert_contents(&b, "ab");
        assert_int_equal(buf_printf(&b, "%s", fit), 0);
        assert_int_equal(buf_len(&b), cap);
        assert_memory_equal(buf_rptr(&b) + 2, fit, cap - 2);
        buf_fini(&b);
    }
}

/* A zeroed or finished buf accepts nothing but empty appends. */
static void
test_zeroed_buf(void **unused)
{
    struct buf b;

    memset(&b, 0, sizeof(b));
    assert_int_equal(buf_append(&b, "x", 0), 0);
    assert_int_equal(buf_append(&b, NULL, 0), 0);
    assert_int_equal(buf_append(&b, "x", 1), -1);
    assert_int_equal(buf_printf(&b, "%s", "x"), -1);
    assert_int_equal(buf_printf(&b, "%s", ""), 0);
    assert_int_equal(buf_reserve(&b, 1), -1);
    assert_int_equal(buf_len(&b), 0);
}

/* Random appends, consumes and printfs against a model: the buffer never
 * exceeds its capacity and always holds exactly the model's bytes. */
static void
test_model(void **unused)
{
    struct buf b;
    char model[64];
    size_t mlen = 0;
    uint64_t s = 12345;

    assert_int_equal(buf_init(&b, sizeof(model)), 0);
    for (int step = 0; step < 20000; step++) {
        s = s * 6364136223846793005u + 1442695040888963407u;
        unsigned op = (unsigned)(s >> 60) % 3;
        size_t n = (size_t)(s >> 33) % 40;
        char chunk[40];
        for (size_t i = 0; i < n; i++)
            chunk[i] = (char)('a' + (step + i) % 26);
        if (op == 0) {
            int rc = buf_append(&b, chunk, n);
            assert_int_equal(rc, mlen + n <= sizeof(model) ? 0 : -1);
            if (rc == 0) {
                memcpy(model + mlen, chunk, n);
                mlen += n;
            }
        } else if (op == 1) {
            size_t k = mlen ? n % (mlen + 1) : 0;
            buf_consume(&b, k);
            memmove(model, model + k, mlen - k);
            mlen -= k;
        } else {
            int rc = buf_printf(&b, "%.*s", (int)n, chunk);
            assert_int_equal(rc, mlen + n <= sizeof(model) ? 0 : -1);
            if (rc == 0) {
                memcpy(model + mlen, chunk, n);
                mlen += n;
            }
        }
        assert_true(b.rpos <= b.wpos && b.wpos <= b.cap);
        assert_int_equal(buf_len(&b), mlen);
        if (mlen > 0)
            assert_memory_equal(buf_rptr(&b), model, mlen);
    }
    buf_fini(&b);
}

/* The cache hands back what was put, per capacity, up to its bound;
 * beyond the bound and for an unknown size it falls back to malloc; a
 * fifth size takes over the least recently used bin. Leaks would show
 * under ASan and valgrind. */
static void
test_cache(void **unused)
{
    struct buf_cache c;
    struct buf b[6], x;

    buf_cache_init(&c, 2);
    for (int i = 0; i < 3; i++)
        assert_int_equal(buf_init_cached(&c, &b[i], 1024), 0);
    assert_int_equal(c.misses, 3);
    char *p0 = b[0].data, *p1 = b[1].data;
    buf_append(&b[0], "abc", 3);
    buf_fini_cached(&c, &b[0]);
    assert_null(b[0].data);
    assert_int_equal(b[0].cap, 0);
    buf_fini_cached(&c, &b[1]);
    buf_fini_cached(&c, &b[2]); /* over the bound: freed */
    assert_int_equal(c.bins[0].n, 2);

    /* LIFO, same size, cursors reset. */
    assert_int_equal(buf_init_cached(&c, &x, 1024), 0);
    assert_ptr_equal(x.data, p1);
    assert_int_equal(x.cap, 1024);
    assert_int_equal(buf_len(&x), 0);
    assert_int_equal(buf_init_cached(&c, &b[0], 1024), 0);
    assert_ptr_equal(b[0].data, p0);
    assert_int_equal(c.hits, 2);
    /* Empty bin: malloc. */
    assert_int_equal(buf_init_cached(&c, &b[1], 1024), 0);
    assert_int_equal(c.misses, 4);
    buf_fini_cached(&c, &x);
    buf_fini_cached(&c, &b[0]);
    buf_fini_cached(&c, &b[1]);

    /* Other sizes get their own bins; a fifth size evicts the bin used
     * least recently (1024, touched first). */
    size_t caps[4] = {2048, 4096, 8192, 16384};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(buf_init_cached(&c, &b[i], caps[i]), 0);
        if (i < 3)
            buf_fini_cached(&c, &b[i]);
    }
    buf_fini_cached(&c, &b[3]); /* 16384 evicts 1024 */
    for (int i = 0; i < BUF_CACHE_BINS; i++)
        assert_true(c.bins[i].cap != 1024);
    unsigned long misses = c.misses;
    assert_int_equal(buf_init_cached(&c, &x, 1024), 0);
    assert_int_equal(c.misses, misses + 1);
    buf_fini(&x);
    assert_int_equal(buf_init_cached(&c, &x, 16384), 0);
    assert_int_equal(c.misses, misses + 1);
    buf_fini_cached(&c, &x);

    /* Finishing a zeroed buf, twice, is harmless. */
    struct buf z = {0};
    buf_fini_cached(&c, &z);
    buf_fini_cached(&c, &z);
    buf_cache_fini(&c);
    for (int i = 0; i < BUF_CACHE_BINS; i++)
        assert_null(c.bins[i].head);

    /* A bound of 0 caches nothing. */
    buf_cache_init(&c, 0);
    assert_int_equal(buf_init_cached(&c, &x, 64), 0);
    buf_fini_cached(&c, &x);
    assert_int_equal(c.bins[0].n, 0);
    buf_cache_fini(&c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_fini),
        cmocka_unit_test(test_append_and_consume),
        cmocka_unit_test(test_append_compacts),
        cmocka_unit_test(test_compact),
        cmocka_unit_test(test_reserve),
        cmocka_unit_test(test_printf),
        cmocka_unit_test(test_printf_exact_fit),
        cmocka_unit_test(test_zeroed_buf),
        cmocka_unit_test(test_model),
        cmocka_unit_test(test_cache),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
