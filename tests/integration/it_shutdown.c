/* Graceful stop: SIGTERM stops accepting, lets in-flight requests finish,
 * closes idle keep-alive connections, and exits 0 — or exits once
 * connection_draining.timeout has passed. */
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

#define INFLIGHT 5

static void
start(struct h_env *env, const char *extra)
{
    h_env_init(env);
    assert_int_equal(h_backend_start(env, "agent-1", NULL), 0);
    assert_int_equal(h_write_config(env, extra), 0);
    assert_int_equal(h_weir_start(env), 0);
}

static void
test_sigterm_loses_no_inflight_request(void **state)
{
    (void)state;
    struct h_env env;
    int fds[INFLIGHT];
    const char *req = "GET /?delay=700 HTTP/1.1\r\nHost: t\r\n\r\n";

    start(&env, NULL);
    /* One idle keep-alive client that has finished its request. */
    int idle = h_connect(env.weir.port);
    struct h_response r;
    const char *quick = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    assert_int_equal(h_send_all(idle, quick, strlen(quick)), 0);
    assert_int_equal(h_read_response(idle, &r, false), 0);
    h_response_fini(&r);

    for (int i = 0; i < INFLIGHT; i++) {
        fds[i] = h_connect(env.weir.port);
        assert_true(fds[i] >= 0);
        assert_int_equal(h_send_all(fds[i], req, strlen(req)), 0);
    }
    /* Readiness: every request has reached the backend (debug log). */
    assert_int_equal(h_wait_log(env.weir.log_path, "-> exchange (connected)",
                                INFLIGHT, 5000), 0);
    kill(env.weir.pid, SIGTERM);

    /* The idle connection is closed promptly: EOF, not a timeout. */
    char byte;
    struct pollfd pf = {.fd = idle, .events = POLLIN};
    assert_int_equal(poll(&pf, 1, 3000), 1);
    assert_int_equal(read(idle, &byte, 1), 0);
    close(idle);

    /* New connections are refused once the listener is closed. */
    long long deadline = h_now_ms() + 3000;
    int refused = 0;
    while (!refused && h_now_ms() < deadline) {
        int fd = h_connect(env.weir.port);
        if (fd == -1)
            refused = 1;
        else
            close(fd);
    }
    assert_true(refused);

    /* Every in-flight request completes, and says the connection ends. */
    for (int i = 0; i < INFLIGHT; i++) {
        char v[32];
        assert_int_equal(h_read_response(fds[i], &r, false), 0);
        assert_int_equal(r.status, 200);
        assert_true(r.complete);
        assert_string_equal(r.body, "agent-1\n");
        assert_string_equal(h_header(&r, "Connection", v, sizeof(v)), "close");
        h_response_fini(&r);
        close(fds[i]);
    }
    /* The process exits 0 by itself (h_proc_stop's signal 0 only waits). */
    assert_int_equal(h_proc_stop(&env.weir, 0, 5000), 0);
    h_env_fini(&env);
}

static void
test_drain_timeout_bounds_the_stop(void **state)
{
    (void)state;
    struct h_env env;
    const char *req = "GET /?delay=20000 HTTP/1.1\r\nHost: t\r\n\r\n";

    start(&env, "load_balancer:\n  connection_draining:\n    timeout: 1\n");
    int fd = h_connect(env.weir.port);
    assert_int_equal(h_send_all(fd, req, strlen(req)), 0);
    assert_int_equal(h_wait_log(env.weir.log_path, "-> exchange (connected)", 1, 5000), 0);
    long long t0 = h_now_ms();
    kill(env.weir.pid, SIGTERM);
    assert_int_equal(h_proc_stop(&env.weir, 0, 5000), 0);
    long long took = h_now_ms() - t0;
    assert_true(took >= 900);
    assert_true(took < 4000);
    close(fd);
    h_env_fini(&env);
}

static int
admin_health(const struct h_env *env)
{
    char sock[300];
    struct h_response r;
    snprintf(sock, sizeof(sock), "%s/admin.sock", env->dir);
    assert_int_equal(h_unix_request(sock, "GET /health HTTP/1.1\r\nHost: w\r\n\r\n", &r), 0);
    int st = r.status;
    h_response_fini(&r);
    return st;
}

/* shutdown_delay: after SIGTERM /health answers 503 at once while new
 * connections are still served; the listeners close when it ends, and a
 * second SIGTERM cuts it short. */
static void
test_shutdown_delay_serves_while_health_says_stopping(void **state)
{
    (void)state;
    struct h_env env;
    struct h_response r;

    start(&env, "load_balancer:\n  connection_draining:\n    shutdown_delay: 1500ms\n");
    assert_int_equal(admin_health(&env), 200);
    long long t0 = h_now_ms();
    kill(env.weir.pid, SIGTERM);
    assert_int_equal(h_wait_log(env.weir.log_path, "(shutdown_delay)", 1, 5000), 0);
    assert_int_equal(admin_health(&env), 503);
    /* Still accepting and serving on a new connection. */
    assert_int_equal(h_get(env.weir.port, "/", &r), 0);
    assert_int_equal(r.status, 200);
    h_response_fini(&r);
    /* Then the listeners close and weir exits by itself. */
    assert_int_equal(h_wait_log(env.weir.log_path, "shutdown_delay over", 1, 5000), 0);
    assert_true(h_now_ms() - t0 >= 1400);
    assert_int_equal(h_proc_stop(&env.weir, 0, 5000), 0);
    h_env_fini(&env);

    /* A second signal stops at once. */
    start(&env, "load_balancer:\n  connection_draining:\n    shutdown_delay: 60s\n");
    kill(env.weir.pid, SIGTERM);
    assert_int_equal(h_wait_log(env.weir.log_path, "(shutdown_delay)", 1, 5000), 0);
    t0 = h_now_ms();
    assert_int_equal(h_proc_stop(&env.weir, SIGTERM, 5000), 0);
    assert_true(h_now_ms() - t0 < 5000);
    h_env_fini(&env);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigterm_loses_no_inflight_request),
        cmocka_unit_test(test_drain_timeout_bounds_the_stop),
        cmocka_unit_test(test_shutdown_delay_serves_while_health_says_stopping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
