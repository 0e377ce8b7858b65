/* Health checks end to end: active checks eject dead, failing and hung
 * backends and take recovered ones back (ramping them up), passive
 * failures on live traffic act at once, and nothing eligible is 503 with
 * Retry-After. Fast intervals keep the test short. */
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

#define FAST_CHECKS                      \
    "load_balancer:\n"                   \
    "  health_check:\n"                  \
    "    interval: 200ms\n"              \
    "    timeout: 300ms\n"               \
    "    healthy_threshold: 1\n"         \
    "    unhealthy_threshold: 2\n"

static void
start2(struct h_env *env, const char *extra)
{
    h_env_init(env);
    assert_int_equal(h_backend_start(env, "agent-1", NULL), 0);
    assert_int_equal(h_backend_start(env, "agent-2", NULL), 0);
    assert_int_equal(h_write_config(env, extra), 0);
    assert_int_equal(h_weir_start(env), 0);
    assert_int_equal(h_wait_log(env->weir.log_path, "unknown -> healthy", 2, 5000), 0);
}

static void
stop(struct h_env *env)
{
    int rc = h_proc_stop(&env->weir, SIGTERM, 10000);
    if (rc != 0)
        h_dump_log(&env->weir);
    assert_int_equal(rc, 0);
    h_env_fini(env);
}

/* GET / COUNT times; every answer must be 200. Returns how many came from
 * backend NAME. */
static int
count_from(int port, const char *name, int count)
{
    int n = 0;
    for (int i = 0; i < count; i++) {
        struct h_response r;
        char v[64];
        assert_int_equal(h_get(port, "/", &r), 0);
        assert_int_equal(r.status, 200);
        if (h_header(&r, "X-Backend", v, sizeof(v)) && strcmp(v, name) == 0)
            n++;
        h_response_fini(&r);
    }
    return n;
}

static void
control(const struct h_proc *b, int health)
{
    struct h_response r;
    char path[64];
    snprintf(path, sizeof(path), "/_control?health=%d", health);
    assert_int_equal(h_get(b->port, path, &r), 0);
    assert_int_equal(r.status, 200);
    h_response_fini(&r);
}

static void
test_killed_backend_is_ejected_without_client_errors(void **state)
{
    (void)state;
    struct h_env env;

    start2(&env, FAST_CHECKS);
    long long t0 = h_now_ms();
    assert_int_equal(h_proc_stop(&env.backends[0], SIGKILL, 5000), 128 + SIGKILL);
    /* Requests keep succeeding: a refused connect is retried elsewhere and
     * counts as a passive failure. */
    assert_int_equal(count_from(env.weir.port, "agent-1", 20), 0);
    assert_int_equal(h_wait_log(env.weir.log_path, "backend agent-1: healthy -> unhealthy",
                                1, 3000), 0);
    /* interval x unhealthy_threshold + one interval, with room for a slow
     * machine. */
    assert_true(h_now_ms() - t0 < 2000);
    stop(&env);
}

static void
test_failing_health_is_ejected_and_recovers(void **state)
{
    (void)state;
    struct h_env env;

    start2(&env, FAST_CHECKS);
    control(&env.backends[0], 500);
    assert_int_equal(h_wait_log(env.weir.log_path,
                                "backend agent-1: healthy -> unhealthy (status 500)",
                                1, 3000), 0);
    assert_int_equal(count_from(env.weir.port, "agent-1", 20), 0);
    control(&env.backends[0], 200);
    assert_int_equal(h_wait_log(env.weir.log_path,
                                "backend agent-1: unhealthy -> healthy", 1, 3000), 0);
    assert_true(count_from(env.weir.port, "agent-1", 20) > 0);
    stop(&env);
}

static void
test_hung_health_is_ejected_by_timeout(void **state)
{
    (void)state;
    struct h_env env;

    /* The check path asks the demo backend to answer after 5 s. */
    char extra[512];
    h_env_init(&env);
    assert_int_equal(h_backend_start(&env, "agent-1", NULL), 0);
    assert_int_equal(h_backend_start(&env, "agent-2", NULL), 0);
    snprintf(extra, sizeof(extra), "%s    path: \"/health?delay=5000\"\n", FAST_CHECKS);
    assert_int_equal(h_write_config(&env, extra), 0);
    assert_int_equal(h_weir_start(&env), 0);
    assert_int_equal(h_wait_log(env.weir.log_path, "unknown -> unhealthy (timeout)", 2, 5000), 0);
    /* Nothing proved healthy and nothing unknown: 503, with Retry-After. */
    struct h_response r;
    char v[32];
    assert_int_equal(h_get(env.weir.port, "/", &r), 0);
    assert_int_equal(r.status, 503);
    assert_non_null(h_header(&r, "Retry-After", v, sizeof(v)));
    h_response_fini(&r);
    assert_int_equal(h_wait_log(env.weir.log_path, "no eligible backend", 1, 1000), 0);
    stop(&env);
}

static void
test_recovered_backend_ramps_up(void **state)
{
    (void)state;
    struct h_env env;
    char extra[512], port_arg[32];

    h_env_init(&env);
    assert_int_equal(h_backend_start(&env, "agent-1", NULL), 0);
    assert_int_equal(h_backend_start(&env, "agent-2", NULL), 0);
    snprintf(extra, sizeof(extra), "%s    slow_start: 3s\n", FAST_CHECKS);
    assert_int_equal(h_write_config(&env, extra), 0);
    /* Weight 10 each, so the ramp starts at 1 of 10. */
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "sed -i 's/^    address: \\(.*\\)$/    address: \\1\\n    weight: 10/' '%s'",
             env.config_path);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(h_weir_start(&env), 0);
    assert_int_equal(h_wait_log(env.weir.log_path, "unknown -> healthy", 2, 5000), 0);

    int port = env.backends[0].port;
    assert_int_equal(h_proc_stop(&env.backends[0], SIGTERM, 5000), 0);
    assert_int_equal(h_wait_log(env.weir.log_path, "agent-1: healthy -> unhealthy", 1, 3000), 0);
    snprintf(port_arg, sizeof(port_arg), "127.0.0.1:%d", port);
    const char *const args[] = {"--listen", port_arg, NULL};
    assert_int_equal(h_backend_start(&env, "agent-1", args), 0);
    assert_int_equal(h_wait_log(env.weir.log_path, "agent-1: unhealthy -> healthy", 1, 3000), 0);

    /* Right after recovery it gets a small share ... */
    int early = count_from(env.weir.port, "agent-1", 40);
    assert_true(early > 0);
    assert_true(early < 12);
    /* ... and its fair half once the ramp is over (the wait is the ramp
     * itself, not a synchronisation). */
    poll(NULL, 0, 3200);
    int late = count_from(env.weir.port, "agent-1", 40);
    fprintf(stderr, "slow start: %d/40 early, %d/40 after the ramp\n", early, late);
    assert_true(late >= 15 && late <= 25);
    stop(&env);
}

struct tally {
    int ok, other;
};

static void
tally_cb(const struct h_response *r, void *arg)
{
    struct tally *t = arg;
    if (r->status == 200)
        t->ok++;
    else
        t->other++;
}

static void
test_checks_run_under_load(void **state)
{
    (void)state;
    struct h_env env;
    struct tally t = {0, 0};

    start2(&env, FAST_CHECKS);
    control(&env.backends[1], 503);
    /* Load while agent-2's health fails: its check must still be seen. */
    int done = h_parallel_get(env.weir.port, "/?delay=5", 300, 8, tally_cb, &t);
    assert_int_equal(done, 300);
    assert_int_equal(t.ok, 300);
    assert_int_equal(h_wait_log(env.weir.log_path,
                                "backend agent-2: healthy -> unhealthy (status 503)",
                                1, 3000), 0);
    stop(&env);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_killed_backend_is_ejected_without_client_errors),
        cmocka_unit_test(test_failing_health_is_ejected_and_recovers),
        cmocka_unit_test(test_hung_health_is_ejected_by_timeout),
        cmocka_unit_test(test_recovered_backend_ramps_up),
        cmocka_unit_test(test_checks_run_under_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
