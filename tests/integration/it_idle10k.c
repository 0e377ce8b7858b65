/* Issue 9, item 6: 10,000 concurrent idle client connections are held, and
 * what they cost Weir is measured from /proc/PID/status. Two kinds of idle:
 * connections that have not sent a byte yet (client_header running), then
 * the same connections after one request each (keep-alive, client_idle
 * running). Weir keeps no buffer for either (session.c releases them when a
 * connection goes idle), so each should cost about its struct session plus
 * the libev and kernel-side bookkeeping in Weir's address space.
 *
 * The bound asserted: RSS growth of at most IDLE_KIB_PER_CONN KiB per
 * connection, over three times the 1.2 KiB measured when this test was
 * written (Debian 12, glibc malloc). Keeping the buffers of an idle
 * connection would break it: that measured 5.2 KiB per silent connection
 * and 17.8 KiB per idle keep-alive one. It is not asserted under
 * WEIR_TEST_WRAPPER (valgrind) or AddressSanitizer, whose RSS is theirs
 * (ASan keeps freed memory in quarantine). */
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
#include <sys/resource.h>
#include <unistd.h>

#include "harness.h"

#define NCONN 10000
#define IDLE_KIB_PER_CONN 4

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN true
#else
#define UNDER_ASAN false
#endif

/* Wait until weir_client_connections is WANT, up to TIMEOUT_MS. */
static long long
wait_connections(const struct h_env *env, long long want, int timeout_ms)
{
    long long deadline = h_now_ms() + timeout_ms, v = -1;
    while (h_now_ms() < deadline) {
        v = h_metric(env, "weir_client_connections");
        if (v == want)
            return v;
        poll(NULL, 0, 20);
    }
    return v;
}

/* Connections among FDS that are readable (data or EOF) right now. */
static int
readable(const int *fds, int n)
{
    static struct pollfd pf[NCONN];
    for (int i = 0; i < n; i++)
        pf[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
    int r = poll(pf, (nfds_t)n, 0);
    return r < 0 ? -1 : r;
}

static void
test_ten_thousand_idle_connections(void **state)
{
    (void)state;
    static int fds[NCONN];
    struct h_env env;
    struct h_response r;
    struct rlimit rl;
    bool measured = getenv("WEIR_TEST_WRAPPER") == NULL && !UNDER_ASAN;
    const char *req = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";

    /* This process holds one descriptor per connection, plus a few. */
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < NCONN + 100) {
        fprintf(stderr, "hard RLIMIT_NOFILE %llu is below %d\n",
                (unsigned long long)rl.rlim_max, NCONN + 100);
        fail();
    }
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? NCONN + 1000 : rl.rlim_max;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);

    h_env_init(&env);
    assert_int_equal(h_backend_start(&env, "agent-1", NULL), 0);
    /* Weir raises its own limit to 2 x max_connections + 64, capped by
     * the hard limit. */
    assert_int_equal(h_write_config(&env,
                                    "timeouts:\n  client_header: 300s\n"
                                    "  client_idle: 300s\n"
                                    "limits:\n  max_connections: 10100\n"), 0);
    assert_int_equal(h_weir_start(&env), 0);
    assert_int_equal(h_get(env.weir.port, "/", &r), 0);
    assert_int_equal(r.status, 200);
    h_response_fini(&r);
    assert_int_equal(wait_connections(&env, 0, 5000), 0);
    long rss0 = h_rss_kib(env.weir.pid);

    /* Phase 1: open them all, send nothing. */
    long long t0 = h_now_ms();
    for (int i = 0; i < NCONN; i++) {
        fds[i] = h_connect(env.weir.port);
        if (fds[i] == -1)
            fprintf(stderr, "connection %d failed\n", i);
        assert_true(fds[i] >= 0);
    }
    assert_int_equal(wait_connections(&env, NCONN, 30000), NCONN);
    long long t_open = h_now_ms() - t0;
    long rss1 = h_rss_kib(env.weir.pid);

    /* Phase 2: one request on each; then each is an idle keep-alive
     * connection. */
    t0 = h_now_ms();
    for (int i = 0; i < NCONN; i++) {
        assert_int_equal(h_send_all(fds[i], req, strlen(req)), 0);
        assert_int_equal(h_read_response(fds[i], &r, false), 0);
        assert_int_equal(r.status, 200);
        assert_true(r.keep_alive);
        h_response_fini(&r);
    }
    long long t_req = h_now_ms() - t0;
    long rss2 = h_rss_kib(env.weir.pid);
    long hwm = h_status_kib(env.weir.pid, "VmHWM");

    /* Held: every connection is still open (nothing readable, no EOF) and
     * counted, and a new client is served meanwhile. */
    assert_int_equal(readable(fds, NCONN), 0);
    assert_int_equal(h_metric(&env, "weir_client_connections"), NCONN);
    t0 = h_now_ms();
    assert_int_equal(h_get(env.weir.port, "/", &r), 0);
    long long t_extra = h_now_ms() - t0;
    assert_int_equal(r.status, 200);
    h_response_fini(&r);

    double per1 = (double)(rss1 - rss0) / NCONN, per2 = (double)(rss2 - rss0) / NCONN;
    fprintf(stderr,
            "weir RSS: %ld KiB before; %ld KiB with %d new silent connections "
            "(%.2f KiB each); %ld KiB after one request on each, idle "
            "keep-alive (%.2f KiB each); peak %ld KiB\n",
            rss0, rss1, NCONN, per1, rss2, per2, hwm);
    fprintf(stderr,
            "opening %d connections took %lld ms, %d requests on them %lld ms; "
            "a request on a new connection while they were held %lld ms\n",
            NCONN, t_open, NCONN, t_req, t_extra);
    if (measured) {
        assert_true(per1 <= IDLE_KIB_PER_CONN);
        assert_true(per2 <= IDLE_KIB_PER_CONN);
    } else {
        fprintf(stderr, "(RSS bound not asserted under valgrind or ASan)\n");
    }

    for (int i = 0; i < NCONN; i++)
        close(fds[i]);
    assert_int_equal(wait_connections(&env, 0, 30000), 0);
    assert_int_equal(h_proc_stop(&env.weir, SIGTERM, 30000), 0);
    h_env_fini(&env);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ten_thousand_idle_connections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
