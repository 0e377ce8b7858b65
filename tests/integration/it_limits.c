/* Client-side limits: the head deadline (client_header), the keep-alive
 * idle timeout (client_idle) and max_connections. */
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
        cmocka_unit_test(test_idle_keepalive_is_closed),
        cmocka_unit_test(test_max_connections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
