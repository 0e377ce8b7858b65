/* Large bodies stream through fixed buffers: 10 MiB each way, and 64 MiB
 * to a client that stalls, while Weir's peak RSS stays within a bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define BODY_BYTES (10 * 1024 * 1024)
/* The bound: a tenth of one body. Weir holds four fixed buffers per
 * connection (tens of KiB); buffering a body would blow through this. */
#define RSS_GROWTH_LIMIT_KIB 1024

static uint64_t
fnv1a64(const unsigned char *p, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static unsigned char *
make_body(void)
{
    unsigned char *b = malloc(BODY_BYTES);
    uint32_t x = 2463534242u;
    assert_non_null(b);
    for (size_t i = 0; i < BODY_BYTES; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b[i] = (unsigned char)x;
    }
    return b;
}

struct fixture {
    struct h_env env;
    long rss_before;
};

static int
setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    struct h_response r;

    h_env_init(&fx->env);
    if (h_backend_start(&fx->env, "agent-1", NULL) != 0 ||
        h_write_config(&fx->env, NULL) != 0 || h_weir_start(&fx->env) != 0)
        return -1;
    /* Warm up: one request so the connection buffers exist. */
    if (h_get(fx->env.weir.port, "/", &r) != 0)
        return -1;
    h_response_fini(&r);
    fx->rss_before = h_rss_kib(fx->env.weir.pid);
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *fx = *state;
    long hwm = h_status_kib(fx->env.weir.pid, "VmHWM");
    fprintf(stderr, "weir RSS before %ld KiB, peak %ld KiB\n", fx->rss_before, hwm);
    int rc = h_proc_stop(&fx->env.weir, SIGTERM, 10000);
    h_env_fini(&fx->env);
    free(fx);
    return rc == 0 ? 0 : -1;
}

static void
assert_rss_bounded(const struct fixture *fx)
{
    long hwm = h_status_kib(fx->env.weir.pid, "VmHWM");
    assert_true(hwm > 0);
    assert_true(hwm - fx->rss_before < RSS_GROWTH_LIMIT_KIB);
}

static void
test_upload_10mib(void **state)
{
    struct fixture *fx = *state;
    unsigned char *body = make_body();
    char head[256], v[64], want[32];
    struct h_response r;

    int fd = h_connect(fx->env.weir.port);
    assert_true(fd >= 0);
    snprintf(head, sizeof(head),
             "POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n", BODY_BYTES);
    assert_int_equal(h_send_all(fd, head, strlen(head)), 0);
    assert_int_equal(h_send_all(fd, body, BODY_BYTES), 0);
    assert_int_equal(h_read_response(fd, &r, false), 0);
    assert_int_equal(r.status, 200);
    snprintf(want, sizeof(want), "%d", BODY_BYTES);
    assert_string_equal(h_header(&r, "X-Received-Bytes", v, sizeof(v)), want);
    snprintf(want, sizeof(want), "%016llx",
             (unsigned long long)fnv1a64(body, BODY_BYTES));
    assert_string_equal(h_header(&r, "X-Received-Hash", v, sizeof(v)), want);
    h_response_fini(&r);

    /* The same body chunked, on the same connection. */
    const char *chead = "POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_int_equal(h_send_all(fd, chead, strlen(chead)), 0);
    for (size_t off = 0; off < BODY_BYTES; off += 65536) {
        char size[32];
        snprintf(size, sizeof(size), "%x\r\n", 65536);
        assert_int_equal(h_send_all(fd, size, strlen(size)), 0);
        assert_int_equal(h_send_all(fd, body + off, 65536), 0);
        assert_int_equal(h_send_all(fd, "\r\n", 2), 0);
    }
    assert_int_equal(h_send_all(fd, "0\r\n\r\n", 5), 0);
    assert_int_equal(h_read_response(fd, &r, false), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(h_header(&r, "X-Received-Hash", v, sizeof(v)), want);
    h_response_fini(&r);
    close(fd);
    free(body);
    assert_rss_bounded(fx);
}

static void
test_download_10mib(void **state)
{
    struct fixture *fx = *state;
    struct h_response r;
    char path[64];

    snprintf(path, sizeof(path), "/?size=%d", BODY_BYTES);
    assert_int_equal(h_get(fx->env.weir.port, path, &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(r.complete);
    assert_int_equal(r.body_len, BODY_BYTES);
    /* The demo backend's pattern starts at the first byte. */
    assert_memory_equal(r.body, "0123456789", 10);
    h_response_fini(&r);
    assert_rss_bounded(fx);
}

/* A client that does not read for a while: the backend keeps sending until
 * every buffer on the way is full. 64 MiB is far more than the kernel's
 * socket buffers can absorb, so an unbounded proxy would have to hold tens
 * of MiB; Weir must stop reading the backend instead. */
static void
test_stalled_reader_is_backpressured(void **state)
{
    struct fixture *fx = *state;
    const int size = 64 * 1024 * 1024;
    char req[128];

    int fd = h_connect(fx->env.weir.port);
    assert_true(fd >= 0);
    snprintf(req, sizeof(req), "GET /?size=%d HTTP/1.1\r\nHost: t\r\n\r\n", size);
    assert_int_equal(h_send_all(fd, req, strlen(req)), 0);
    /* The stall itself is the load being tested, not a synchronisation. */
    poll(NULL, 0, 500);
    assert_rss_bounded(fx);
    struct h_response r;
    assert_int_equal(h_read_response(fd, &r, false), 0);
    assert_int_equal(r.status, 200);
    assert_true(r.complete);
    assert_int_equal(r.body_len, size);
    h_response_fini(&r);
    close(fd);
    assert_rss_bounded(fx);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upload_10mib),
        cmocka_unit_test(test_download_10mib),
        cmocka_unit_test(test_stalled_reader_is_backpressured),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
