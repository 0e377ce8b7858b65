/* The operator's restart runbook, scripts/restart-node, against real weir
 * instances, demo backends and weirctl: under continuous load on two weir
 * instances sharing three backends, agent-2 is drained on both, really
 * stopped and started again on its port, checked, enabled, and serves
 * again -- with no failed request. Then its refusals: an unknown backend
 * (exit 2), a drain that outlives --timeout (exit 3, nothing restarted,
 * left draining), a failing restart command (exit 1, left drained). */
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static char weirctl[512], script[512], out[16384];

static void
find_tools(void)
{
    snprintf(weirctl, sizeof(weirctl), "%s", h_weirctl_path());
    /* WEIR_TEST_DATA is <repo>/tests/data. */
    snprintf(script, sizeof(script), "%s/../../scripts/restart-node",
             WEIR_TEST_DATA);
    setenv("WEIRCTL", weirctl, 1);
}

/* Run scripts/restart-node ARGS with no standard input; its output (both
 * streams) into OUT. The exit status, or -1. */
static int
runbook(const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "'%s' %s </dev/null 2>&1", script, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    fprintf(stderr, "$ restart-node %s\n%s", args, out);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* weirctl --json status of the weir whose socket is in DIR. */
static void
status_json(const char *dir, char *buf, size_t len)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "'%s' -s '%s/admin.sock' --json status", weirctl, dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(buf, 1, len - 1, p);
    buf[n] = '\0';
    pclose(p);
}

/* The "state" of backend NAME in weir DIR's status. */
static void
assert_state(const char *dir, const char *name, const char *state)
{
    char buf[8192], needle[128], want[64];
    status_json(dir, buf, sizeof(buf));
    snprintf(needle, sizeof(needle), "\"name\":\"%s\"", name);
    char *b = strstr(buf, needle);
    assert_non_null(b);
    char *end = strchr(b, '}');
    assert_non_null(end);
    *end = '\0';
    snprintf(want, sizeof(want), "\"state\":\"%s\"", state);
    if (strstr(b, want) == NULL)
        fprintf(stderr, "backend: %s\n", b);
    assert_non_null(strstr(b, want));
}

/* Requests served by the demo backend on PORT, or -1. */
static int
served(int port)
{
    struct h_response r;
    int n = -1;
    if (h_get(port, "/_stats", &r) == 0)
        sscanf(r.body, "requests %d", &n);
    h_response_fini(&r);
    return n;
}

static const char *fast_checks =
    "load_balancer:\n  health_check:\n    interval: 200ms\n"
    "    unhealthy_interval: 200ms\n    healthy_threshold: 1\n"
    "    unhealthy_threshold: 2\n    slow_start: 0\n";

/* The restart command of the test: stop the backend PID, wait (bounded)
 * until it has exited -- gone, or a zombie of this test, which holds no
 * socket any more -- then start a new one on the same port and wait for
 * its "listening" line. Its pid goes to DIR/new.pid for the teardown. */
static void
write_restart_script(const char *dir, pid_t old, int port, char *path, size_t len)
{
    char bin[512];
    snprintf(bin, sizeof(bin), "%s", WEIR_BIN_PATH);
    strcpy(strrchr(bin, '/') + 1, "weir-demo-backend");
    snprintf(path, len, "%s/restart-agent.sh", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "#!/bin/sh\n"
            "echo \"restarting $WEIR_NODE at $WEIR_NODE_ADDRESS\"\n"
            "kill -TERM %d\n"
            "i=0\n"
            "while [ -e /proc/%d ] && ! grep -q ') Z' /proc/%d/stat 2>/dev/null; do\n"
            "  i=$((i+1)); [ $i -le 250 ] || exit 1; sleep 0.02\n"
            "done\n"
            "'%s' --name \"$WEIR_NODE\" --listen 127.0.0.1:%d >'%s/new.out' 2>'%s/new.log' &\n"
            "echo $! >'%s/new.pid'\n"
            "i=0\n"
            "until grep -q '^listening' '%s/new.out'; do\n"
            "  i=$((i+1)); [ $i -le 250 ] || exit 1; sleep 0.02\n"
            "done\n",
            (int)old, (int)old, (int)old, bin, port, dir, dir, dir, dir);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, 0755), 0);
}

/* Stop the backend the restart script started, if any. It is not this
 * process's child: poll until it is gone (bounded). */
static void
stop_new_backend(const char *dir)
{
    char path[300];
    int pid = 0;
    snprintf(path, sizeof(path), "%s/new.pid", dir);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    if (fscanf(f, "%d", &pid) != 1)
        pid = 0;
    fclose(f);
    unlink(path);
    if (pid <= 0 || kill(pid, SIGTERM) == -1)
        return;
    long long deadline = h_now_ms() + 5000;
    while (kill(pid, 0) == 0 && h_now_ms() < deadline)
        poll(NULL, 0, 10);
    kill(pid, SIGKILL);
}

static struct h_env env, env2;

static int
teardown(void **state)
{
    (void)state;
    if (env.dir[0] != '\0') {
        stop_new_backend(env.dir);
        h_env_fini(&env);
    }
    if (env2.dir[0] != '\0')
        h_env_fini(&env2);
    memset(&env, 0, sizeof(env));
    memset(&env2, 0, sizeof(env2));
    return 0;
}

static void
test_restart_under_load_on_two_instances(void **state)
{
    (void)state;
    struct h_load ld1, ld2;
    char args[1600], restart[300];

    find_tools();
    h_env_init(&env);
    for (int i = 1; i <= 3; i++) {
        char name[32];
        snprintf(name, sizeof(name), "agent-%d", i);
        assert_int_equal(h_backend_start(&env, name, NULL), 0);
    }
    assert_int_equal(h_write_config(&env, fast_checks), 0);
    assert_int_equal(h_weir_start(&env), 0);
    /* A second weir over the same three backends: drains are per
     * instance, so the runbook must drain on both. */
    h_env_init(&env2);
    for (size_t i = 0; i < env.nbackends; i++)
        assert_int_equal(h_backend_add(&env2, env.backends[i].name,
                                       env.backends[i].port), 0);
    assert_int_equal(h_write_config(&env2, fast_checks), 0);
    assert_int_equal(h_weir_start(&env2), 0);
    assert_int_equal(h_wait_log(env.weir.log_path, "unknown -> healthy", 3, 5000), 0);
    assert_int_equal(h_wait_log(env2.weir.log_path, "unknown -> healthy", 3, 5000), 0);

    struct h_proc *agent2 = &env.backends[1];
    pid_t old = agent2->pid;
    write_restart_script(env.dir, old, agent2->port, restart, sizeof(restart));

    h_load_start(&ld1, env.weir.port, 4, "/?delay=150");
    h_load_start(&ld2, env2.weir.port, 4, "/?delay=150");
    h_load_wait(&ld1, 40);
    h_load_wait(&ld2, 40);
    /* agent-2 is busy on both instances when the drain starts. */
    assert_true(served(agent2->port) > 0);

    snprintf(args, sizeof(args),
             "-s '%s/admin.sock' -s '%s/admin.sock' --timeout 20 "
             "--ready-timeout 20 agent-2 '%s'",
             env.dir, env2.dir, restart);
    assert_int_equal(runbook(args), 0);
    assert_non_null(strstr(out, "restarting agent-2 at 127.0.0.1:"));
    assert_non_null(strstr(out, "agent-2: back in service on 2 instance(s)"));

    /* The old process is gone; a new one answers on the same port. */
    int st = h_proc_stop(agent2, SIGKILL, 5000);  /* reaps the zombie */
    assert_true(st != -1 && st != 128 + SIGKILL);
    assert_true(kill(old, 0) == -1);
    assert_state(env.dir, "agent-2", "enabled");
    assert_state(env2.dir, "agent-2", "enabled");

    /* Both instances send to the new agent-2. */
    h_load_wait(&ld1, 60);
    h_load_wait(&ld2, 60);
    long long deadline = h_now_ms() + 10000;
    while (served(agent2->port) < 10 && h_now_ms() < deadline)
        h_load_wait(&ld1, 10);
    assert_true(served(agent2->port) >= 10);

    h_load_stop(&ld1);
    h_load_stop(&ld2);
    fprintf(stderr, "restart under load: %d + %d ok, %d + %d failed\n",
            ld1.ok, ld2.ok, ld1.failed, ld2.failed);
    assert_true(ld1.ok > 100 && ld2.ok > 100);
    assert_int_equal(ld1.failed, 0);
    assert_int_equal(ld2.failed, 0);
    assert_int_equal(h_proc_stop(&env.weir, SIGTERM, 10000), 0);
    assert_int_equal(h_proc_stop(&env2.weir, SIGTERM, 10000), 0);
}

static void
test_refusals(void **state)
{
    (void)state;
    char args[1024], marker[300];
    const char *req = "GET /?delay=20000 HTTP/1.1\r\nHost: t\r\n\r\n";

    find_tools();
    h_env_init(&env);
    assert_int_equal(h_backend_start(&env, "agent-1", NULL), 0);
    assert_int_equal(h_write_config(&env, "load_balancer:\n  connection_draining:\n"
                                          "    timeout: 3s\n"), 0);
    assert_int_equal(h_weir_start(&env), 0);
    snprintf(marker, sizeof(marker), "%s/restarted", env.dir);

    snprintf(args, sizeof(args), "-s '%s/admin.sock' nope touch '%s'", env.dir, marker);
    assert_int_equal(runbook(args), 2);
    assert_non_null(strstr(out, "unknown backend nope"));
    assert_int_equal(runbook("--timeout 0 agent-1 true"), 2);

    /* A request outlives --timeout: exit 3, the node is not restarted
     * and stays draining. */
    int fd = h_connect(env.weir.port);
    assert_true(fd != -1);
    assert_int_equal(h_send_all(fd, req, strlen(req)), 0);
    assert_int_equal(h_wait_log(env.weir.log_path, "-> exchange (connected)", 1, 5000), 0);
    snprintf(args, sizeof(args), "-s '%s/admin.sock' --timeout 1 agent-1 touch '%s'",
             env.dir, marker);
    assert_int_equal(runbook(args), 3);
    assert_true(access(marker, F_OK) == -1);
    assert_state(env.dir, "agent-1", "draining");
    assert_non_null(strstr(out, "left draining"));

    /* Weir's own deadline cuts it; then a failing restart command leaves
     * the node drained, not enabled. */
    assert_int_equal(h_wait_log(env.weir.log_path, "drain timeout: cut 1 request(s)", 1, 6000), 0);
    close(fd);
    snprintf(args, sizeof(args), "-s '%s/admin.sock' --timeout 5 agent-1 false", env.dir);
    assert_int_equal(runbook(args), 1);
    assert_non_null(strstr(out, "restart command failed"));
    assert_state(env.dir, "agent-1", "drained");
    assert_int_equal(h_proc_stop(&env.weir, SIGTERM, 10000), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_restart_under_load_on_two_instances, teardown),
        cmocka_unit_test_teardown(test_refusals, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
