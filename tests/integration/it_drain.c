/* The operator's drain with the real weirctl against the real weir:
 * `weirctl drain NAME --wait` returns 0 only once the backend's last
 * request finished, with no client error and no new request sent to it;
 * a request outliving the wait makes it exit 3 and is cut at the drain
 * deadline; enable brings the backend back; unknown names exit 2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static char weirctl[512], sock[300], out[8192];

/* Run weirctl ARGS against the test's socket; its output into OUT. */
static int
ctl(const char *args)
{
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "'%s' -s '%s' %s 2>&1", weirctl, sock, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
start(struct h_env *env, int n, const char *extra)
{
    h_env_init(env);
    snprintf(weirctl, sizeof(weirctl), "%s", WEIR_BIN_PATH);
    strcpy(strrchr(weirctl, '/') + 1, "weirctl");
    for (int i = 1; i <= n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "agent-%d", i);
        assert_int_equal(h_backend_start(env, name, NULL), 0);
    }
    assert_int_equal(h_write_config(env, extra), 0);
    assert_int_equal(h_weir_start(env), 0);
    snprintf(sock, sizeof(sock), "%s/admin.sock", env->dir);
}

static int
served(const struct h_proc *b)
{
    struct h_response r;
    int n = -1;
    if (h_get(b->port, "/_stats", &r) == 0)
        sscanf(r.body, "requests %d", &n);
    h_response_fini(&r);
    return n;
}

static void
test_drain_wait_restart_enable(void **state)
{
    (void)state;
    struct h_env env;
    struct h_load ld;

    start(&env, 3, "load_balancer:\n  health_check:\n    interval: 200ms\n"
                   "    healthy_threshold: 1\n");
    assert_int_equal(h_wait_log(env.weir.log_path, "unknown -> healthy", 3, 5000), 0);
    h_load_start(&ld, env.weir.port, 6, "/?delay=200");
    h_load_wait(&ld, 40);

    assert_int_equal(ctl("drain agent-2 --wait --timeout 20"), 0);
    /* Drained means nothing in flight there, and nothing new arrives. */
    int at_drain = served(&env.backends[1]);
    assert_int_equal(ctl("--json status"), 0);
    assert_non_null(strstr(out, "\"name\":\"agent-2\",\"address\""));
    char *a2 = strstr(out, "\"name\":\"agent-2\"");
    assert_non_null(strstr(a2, "\"state\":\"drained\""));
    assert_true(strstr(a2, "\"inflight\":0") < strstr(a2, "}"));
    h_load_wait(&ld, 60);
    assert_int_equal(served(&env.backends[1]), at_drain);

    /* The node restarts here; enable brings it back. */
    assert_int_equal(ctl("enable agent-2"), 0);
    h_load_wait(&ld, 60);
    assert_true(served(&env.backends[1]) > at_drain);

    h_load_stop(&ld);
    fprintf(stderr, "drain --wait under load: %d ok, %d failed\n", ld.ok, ld.failed);
    assert_int_equal(ld.failed, 0);

    assert_int_equal(ctl("drain nope"), 2);
    assert_non_null(strstr(out, "unknown backend nope"));
    assert_int_equal(h_proc_stop(&env.weir, SIGTERM, 10000), 0);
    h_env_fini(&env);
}

static void
test_drain_wait_times_out_and_request_is_cut(void **state)
{
    (void)state;
    struct h_env env;
    const char *req = "GET /?delay=20000 HTTP/1.1\r\nHost: t\r\n\r\n";

    start(&env, 1, "load_balancer:\n  connection_draining:\n    timeout: 2s\n");
    int fd = h_connect(env.weir.port);
    assert_int_equal(h_send_all(fd, req, strlen(req)), 0);
    assert_int_equal(h_wait_log(env.weir.log_path, "-> exchange (connected)", 1, 5000), 0);
    long long t0 = h_now_ms();
    assert_int_equal(ctl("drain agent-1 --wait --timeout 1"), 3);
    assert_true(h_now_ms() - t0 >= 900);
    /* The server's deadline then cuts the request. */
    struct h_response r;
    assert_int_equal(h_read_response(fd, &r, false), -1);
    h_response_fini(&r);
    assert_true(h_now_ms() - t0 < 6000);
    assert_int_equal(h_wait_log(env.weir.log_path, "drain timeout: cut 1 request(s)", 1, 2000), 0);
    assert_int_equal(ctl("drain agent-1 --wait --timeout 5"), 0);
    close(fd);
    assert_int_equal(h_proc_stop(&env.weir, SIGTERM, 10000), 0);
    h_env_fini(&env);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_drain_wait_restart_enable),
        cmocka_unit_test(test_drain_wait_times_out_and_request_is_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
