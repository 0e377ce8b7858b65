/* Client-side limits: the head deadline (client_header, slowloris), the
 * request-body rate floor (client_body and min_body_rate), a client that
 * never reads (client_write), the keep-alive idle timeout (client_idle)
 * and max_connections. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif

static void
start(struct h_env *env, const char *extra)
{
    h_env_init(env);
    assert_int_equal(h_backend_start(env, "agent-1", NULL), 0);
    assert_int_equal(h_write_config(env, extra), 0);
    assert_int_equal(h_weir_start(env), 0);
}

static void
stop(struct h_env *env)
{
    assert_int_equal(h_proc_stop(&env->weir, SIGTERM, 10000), 0);
    h_env_fini(env);
}

/* Milliseconds until FD reports EOF (or data), bounded by LIMIT_MS; -1 if
 * nothing happened. */
static long long
ms_until_readable(int fd, int limit_ms)
{
    long long t0 = h_now_ms();
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    if (poll(&pf, 1, limit_ms) != 1)
        return -1;
    return h_now_ms() - t0;
}

/* Requests the backend has served (its /_stats), asked directly. */
static int
backend_requests(const struct h_env *env)
{
    struct h_response r;
    int n = -1;
    if (h_get(env->backends[0].port, "/_stats", &r) == 0 && r.status == 200)
        sscanf(r.body, "requests %d", &n);
    h_response_fini(&r);
    return n;
}

static void
test_slow_head_gets_408(void **state)
{
    (void)state;
    struct h_env env;
    struct h_response r;

    start(&env, "timeouts:\n  client_header: 400ms\n  client_idle: 10s\n");
    int fd = h_connect(env.weir.port);
    /* Trickle a head that never ends: the deadline is absolute, so the
     * bytes that keep arriving do not extend it. */
    const char *part = "GET / HTTP/1.1\r\nHost: t\r\n";
    assert_int_equal(h_send_all(fd, part, strlen(part)), 0);
    long long t0 = h_now_ms();
    for (int i = 0; i < 3; i++) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 150) == 1)
            break;
        (void)h_send_all(fd, "X: y\r\n", 6);
    }
    assert_int_equal(h_read_response(fd, &r, false), 0);
    assert_int_equal(r.status, 408);
    assert_true(h_now_ms() - t0 < 3000);
    h_response_fini(&r);
    close(fd);
    /* Nothing of the unfinished head reached the backend. */
    assert_int_equal(backend_requests(&env), 0);
    stop(&env);
}

/* ---- The request-body rate floor ---- */

#define BODY_RATE_CONFIG \
    "timeouts:\n  client_body: 500ms\nlimits:\n  min_body_rate: 1000\n"

/* Send a POST head announcing LEN body bytes, then PIECE bytes every
 * EVERY_MS (the pacing is the load under test, not a synchronisation)
 * until LEN are out, a response is readable, or 5 s have passed. Returns
 * the milliseconds from the head to the end of sending. */
static long long
trickle_body(int fd, size_t len, size_t piece, int every_ms)
{
    char head[128], bytes[256];
    long long t0 = h_now_ms();

    memset(bytes, 'x', sizeof(bytes));
    snprintf(head, sizeof(head),
             "POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", len);
    assert_int_equal(h_send_all(fd, head, strlen(head)), 0);
    for (size_t sent = 0; sent < len && h_now_ms() - t0 < 5000;) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, every_ms) == 1)
            break; /* answered (or closed) early */
        size_t n = MIN(piece, len - sent);
        if (h_send_all(fd, bytes, n) != 0)
            break;
        sent += n;
    }
    return h_now_ms() - t0;
}

/* A body trickled at 100 B/s, below the 1000 B/s floor: cut with 408 at
 * the end of the first 500 ms window, and the backend is not blamed. */
static void
test_slow_body_is_cut(void **state)
{
    (void)state;
    struct h_env env;
    struct h_response r;

    start(&env, BODY_RATE_CONFIG);
    int fd = h_connect(env.weir.port);
    long long t0 = h_now_ms();
    trickle_body(fd, 100000, 10, 100);
    assert_int_equal(h_read_response(fd, &r, false), 0);
    long long took = h_now_ms() - t0;
    fprintf(stderr, "slow body answered %d after %lld ms\n", r.status, took);
    assert_int_equal(r.status, 408);
    assert_false(r.keep_alive);
    assert_true(took >= 400 && took < 3000);
    h_response_fini(&r);
    close(fd);
    assert_int_equal(h_wait_log(env.weir.log_path, "408 (client body too slow)", 1, 2000), 0);
    assert_int_equal(h_metric(&env, "weir_backend_failures_total{backend=\"agent-1\"}"), 0);
    /* The backend is still in service. */
    assert_int_equal(h_get(env.weir.port, "/", &r), 0);
    assert_int_equal(r.status, 200);
    h_response_fini(&r);
    stop(&env);
}

/* A body paced at 4000 B/s over three windows is above the floor and
 * arrives whole. */
static void
test_body_above_floor_passes(void **state)
{
    (void)state;
    struct h_env env;
    struct h_response r;
    char v[32];

    start(&env, BODY_RATE_CONFIG);
    int fd = h_connect(env.weir.port);
    long long took = trickle_body(fd, 6000, 100, 25);
    assert_int_equal(h_read_response(fd, &r, false), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(h_header(&r, "X-Received-Bytes", v, sizeof(v)), "6000");
    /* It did span several windows. */
    assert_true(took >= 1000);
    h_response_fini(&r);
    close(fd);
    stop(&env);
}

/* min_body_rate 0: any byte in each client_body window is enough; a
 * window with none cuts. */
static void
test_body_rate_zero_needs_progress(void **state)
{
    (void)state;
    struct h_env env;
    struct h_response r;
    char v[32];

    start(&env, "timeouts:\n  client_body: 400ms\nlimits:\n  min_body_rate: 0\n");
    int fd = h_connect(env.weir.port);
    trickle_body(fd, 12, 1, 100); /* 1.2 s at 10 B/s */
    assert_int_equal(h_read_response(fd, &r, false), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(h_header(&r, "X-Received-Bytes", v, sizeof(v)), "12");
    h_response_fini(&r);
    /* The same connection: one byte, then silence. */
    const char *head = "POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nh";
    long long t0 = h_now_ms();
    assert_int_equal(h_send_all(fd, head, strlen(head)), 0);
    assert_int_equal(h_read_response(fd, &r, false), 0);
    assert_int_equal(r.status, 408);
    assert_true(h_now_ms() - t0 < 3000);
    h_response_fini(&r);
    close(fd);
    stop(&env);
}

/* A client that waits for 100 Continue is waiting on the backend, not
 * slow: the body window does not run until the backend has answered. */
static void
test_expect_100_wait_is_not_slow(void **state)
{
    (void)state;
    struct h_env env;
    struct h_rec rec;
    struct h_response r;

    h_env_init(&env);
    /* The recording backend never sends 100 Continue. */
    assert_int_equal(h_rec_start(&rec, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"), 0);
    assert_int_equal(h_backend_add(&env, "rec", rec.port), 0);
    assert_int_equal(h_write_config(&env, "timeouts:\n  client_body: 300ms\n"
                                          "  backend_response: 10s\n"), 0);
    assert_int_equal(h_weir_start(&env), 0);
    int fd = h_connect(env.weir.port);
    const char *head = "POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                       "Expect: 100-continue\r\n\r\n";
    assert_int_equal(h_send_all(fd, head, strlen(head)), 0);
    /* Like curl: wait a while for the 100, then send anyway. Nothing may
     * come back in the meantime (a 408 would). */
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&pf, 1, 1000), 0);
    assert_int_equal(h_send_all(fd, "hello", 5), 0);
    assert_int_equal(h_read_response(fd, &r, false), 0);
    assert_int_equal(r.status, 200);
    h_response_fini(&r);
    close(fd);
    assert_int_equal(h_rec_stats(&rec).requests, 1);
    assert_int_equal(h_proc_stop(&env.weir, SIGTERM, 10000), 0);
    h_rec_stop(&rec);
    h_env_fini(&env);
}

/* ---- Slow read ---- */

/* A client that asks for 64 MiB and never reads: once every buffer on the
 * way is full, nothing moves, and client_write closes the connection. */
static void
test_client_that_never_reads_is_cut(void **state)
{
    (void)state;
    struct h_env env;
    const long size = 64L * 1024 * 1024;
    char req[128];
    bool reset;

    start(&env, "timeouts:\n  client_write: 500ms\n");
    int fd = h_connect(env.weir.port);
    snprintf(req, sizeof(req), "GET /?size=%ld HTTP/1.1\r\nHost: t\r\n\r\n", size);
    long long t0 = h_now_ms();
    assert_int_equal(h_send_all(fd, req, strlen(req)), 0);
    assert_int_equal(h_wait_log(env.weir.log_path, "closed (client write timeout)", 1, 15000), 0);
    long long took = h_now_ms() - t0;
    /* What the kernel buffers held reaches the client, then the end. */
    long got = h_read_to_eof(fd, 10000, &reset);
    fprintf(stderr, "never-reading client cut after %lld ms; %ld bytes were buffered\n",
            took, got);
    assert_true(took >= 500 && took < 15000);
    assert_true(got >= 0 && got < size);
    close(fd);
    assert_int_equal(h_metric(&env, "weir_client_connections"), 0);
    stop(&env);
}

static void
test_idle_keepalive_is_closed(void **state)
{
    (void)state;
    struct h_env env;
    struct h_response r;
    const char *req = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";

    start(&env, "timeouts:\n  client_idle: 300ms\n");
    int fd = h_connect(env.weir.port);
    assert_int_equal(h_send_all(fd, req, strlen(req)), 0);
    assert_int_equal(h_read_response(fd, &r, false), 0);
    assert_int_equal(r.status, 200);
    h_response_fini(&r);
    long long waited = ms_until_readable(fd, 5000);
    assert_true(waited >= 200 && waited < 3000);
    char byte;
    assert_int_equal(read(fd, &byte, 1), 0); /* closed, no bytes */
    close(fd);
    stop(&env);
}

static void
test_max_connections(void **state)
{
    (void)state;
    struct h_env env;
    struct h_response r;
    const char *req = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";

    start(&env, "limits:\n  max_connections: 2\n");
    int a = h_connect(env.weir.port), b = h_connect(env.weir.port);
    assert_int_equal(h_send_all(a, req, strlen(req)), 0);
    assert_int_equal(h_read_response(a, &r, false), 0);
    h_response_fini(&r);
    assert_int_equal(h_send_all(b, req, strlen(req)), 0);
    assert_int_equal(h_read_response(b, &r, false), 0);
    h_response_fini(&r);

    /* A third client is answered at once with 503, not left waiting. */
    int c = h_connect(env.weir.port);
    assert_true(c >= 0);
    assert_true(ms_until_readable(c, 2000) >= 0);
    assert_int_equal(h_read_response(c, &r, false), 0);
    assert_int_equal(r.status, 503);
    h_response_fini(&r);
    close(c);
    assert_int_equal(h_wait_log(env.weir.log_path, "max_connections (2) reached", 1, 2000), 0);
    /* A slot frees up: the next client is served. */
    close(a);
    assert_int_equal(h_wait_log(env.weir.log_path, "below max_connections again", 1, 2000), 0);
    int d = h_connect(env.weir.port);
    assert_int_equal(h_send_all(d, req, strlen(req)), 0);
    assert_int_equal(h_read_response(d, &r, false), 0);
    assert_int_equal(r.status, 200);
    h_response_fini(&r);
    close(b);
    close(d);
    stop(&env);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_head_gets_408),
        cmocka_unit_test(test_slow_body_is_cut),
        cmocka_unit_test(test_body_above_floor_passes),
        cmocka_unit_test(test_body_rate_zero_needs_progress),
        cmocka_unit_test(test_expect_100_wait_is_not_slow),
        cmocka_unit_test(test_client_that_never_reads_is_cut),
        cmocka_unit_test(test_idle_keepalive_is_closed),
        cmocka_unit_test(test_max_connections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
