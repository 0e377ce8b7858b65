/* The admin API: endpoints and errors on the Unix socket, roles on the TCP
 * listener, the socket file's mode and stale-file handling, and drains
 * under load (none of a drained backend's requests lost, no new ones sent
 * to it, the deadline cutting what runs too long). */
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define FAST_CHECKS                                              \
    "load_balancer:\n  health_check:\n    interval: 200ms\n"     \
    "    healthy_threshold: 1\n"

static char sock_path[300];

static void
start(struct h_env *env, int nbackends, const char *extra)
{
    h_env_init(env);
    for (int i = 1; i <= nbackends; i++) {
        char name[32];
        snprintf(name, sizeof(name), "agent-%d", i);
        assert_int_equal(h_backend_start(env, name, NULL), 0);
    }
    assert_int_equal(h_write_config(env, extra), 0);
    assert_int_equal(h_weir_start(env), 0);
    snprintf(sock_path, sizeof(sock_path), "%s/admin.sock", env->dir);
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

/* METHOD PATH on the admin socket with an optional body; returns the
 * status and leaves the response in R. */
static int
admin(const char *method, const char *path, const char *body, struct h_response *r)
{
    char raw[1024];
    snprintf(raw, sizeof(raw), "%s %s HTTP/1.1\r\nHost: weir\r\n"
             "Content-Length: %zu\r\n\r\n%s", method, path,
             body ? strlen(body) : 0, body ? body : "");
    assert_int_equal(h_unix_request(sock_path, raw, r), 0);
    return r->status;
}

static int
admin_status(const char *method, const char *path, const char *body)
{
    struct h_response r;
    int st = admin(method, path, body, &r);
    h_response_fini(&r);
    return st;
}

/* The value of "KEY": in backend NAME's object of GET /status. */
static long long
backend_field(const char *name, const char *key)
{
    struct h_response r;
    char pat[96];
    long long v = -1;
    assert_int_equal(admin("GET", "/status", NULL, &r), 200);
    snprintf(pat, sizeof(pat), "{\"name\":\"%s\"", name);
    const char *obj = strstr(r.body, pat);
    assert_non_null(obj);
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *f = strstr(obj, pat);
    assert_non_null(f);
    f += strlen(pat);
    if (*f == '"')
        v = strncmp(f, "\"drained\"", 9) == 0 ? 2 : strncmp(f, "\"draining\"", 10) == 0 ? 1 : 0;
    else
        v = atoll(f);
    h_response_fini(&r);
    return v;
}

static void
test_endpoints_and_errors(void **state)
{
    (void)state;
    struct h_env env;
    struct h_response r;
    struct stat st;

    start(&env, 2, NULL);
    assert_int_equal(stat(sock_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    assert_int_equal(admin("GET", "/status", NULL, &r), 200);
    assert_non_null(strstr(r.body, "\"state\":\"serving\""));
    assert_non_null(strstr(r.body, "{\"name\":\"agent-1\",\"address\":\"127.0.0.1:"));
    assert_non_null(strstr(r.body, "\"inflight\":0"));
    h_response_fini(&r);
    assert_int_equal(admin("GET", "/health", NULL, &r), 200);
    assert_string_equal(r.body, "{\"status\":\"serving\"}\n");
    h_response_fini(&r);

    assert_int_equal(admin("POST", "/backends/nope/drain", NULL, &r), 404);
    assert_non_null(strstr(r.body, "\"error\":\"unknown backend \\\"nope\\\"\""));
    h_response_fini(&r);
    assert_int_equal(admin_status("PUT", "/backends/agent-1/weight", "{\"weight\":300}"), 400);
    assert_int_equal(admin_status("PUT", "/backends/agent-1/weight", "weight=3"), 400);
    assert_int_equal(admin_status("GET", "/backends/agent-1/drain", NULL), 405);
    assert_int_equal(admin_status("DELETE", "/status", NULL), 405);
    assert_int_equal(admin_status("GET", "/nothing", NULL), 404);
    /* The file has not changed: the reload applies and counts. */
    assert_int_equal(admin("POST", "/reload", NULL, &r), 200);
    assert_non_null(strstr(r.body, "\"generation\":2"));
    h_response_fini(&r);

    assert_int_equal(admin("PUT", "/backends/agent-1/weight", "{\"weight\": 7}", &r), 200);
    assert_non_null(strstr(r.body, "\"weight\":7"));
    h_response_fini(&r);
    /* DELETE forgets it: the configured weight (1) applies again. */
    assert_int_equal(admin("DELETE", "/backends/agent-1/weight", NULL, &r), 200);
    assert_non_null(strstr(r.body, "\"weight\":1,"));
    h_response_fini(&r);
    assert_int_equal(admin("PUT", "/backends/agent-1/weight", "{\"weight\": 7}", &r), 200);
    h_response_fini(&r);
    /* Drain and enable are idempotent. */
    assert_int_equal(admin_status("POST", "/backends/agent-1/drain", NULL), 200);
    assert_int_equal(admin_status("POST", "/backends/agent-1/drain", NULL), 200);
    assert_int_equal(backend_field("agent-1", "state"), 2);
    for (int i = 0; i < 10; i++) {
        char v[64];
        assert_int_equal(h_get(env.weir.port, "/", &r), 0);
        assert_string_equal(h_header(&r, "X-Backend", v, sizeof(v)), "agent-2");
        h_response_fini(&r);
    }
    assert_int_equal(admin_status("POST", "/backends/agent-1/enable", NULL), 200);
    assert_int_equal(admin_status("POST", "/backends/agent-1/enable", NULL), 200);
    assert_int_equal(backend_field("agent-1", "state"), 0);

    /* Garbage on the admin socket: 400, and the server keeps serving. */
    assert_int_equal(h_unix_request(sock_path, "NOT HTTP\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 400);
    h_response_fini(&r);
    assert_int_equal(admin_status("GET", "/health", NULL), 200);
    stop(&env);
}

static void
test_socket_file_stale_and_live(void **state)
{
    (void)state;
    struct h_env env;
    struct sockaddr_un a = {.sun_family = AF_UNIX};

    /* A socket file left by a dead process: nobody accepts on it. */
    h_env_init(&env);
    snprintf(sock_path, sizeof(sock_path), "%s/admin.sock", env.dir);
    assert_true(strlen(sock_path) < sizeof(a.sun_path));
    memcpy(a.sun_path, sock_path, strlen(sock_path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    close(fd);
    assert_int_equal(h_backend_start(&env, "agent-1", NULL), 0);
    assert_int_equal(h_write_config(&env, NULL), 0);
    assert_int_equal(h_weir_start(&env), 0);
    assert_int_equal(admin_status("GET", "/health", NULL), 200);

    /* A second weir on the same (live) socket refuses to start. */
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "sed -i 's/bind: 127.0.0.1:[0-9]*/bind: 127.0.0.1:%d/' '%s'; "
             "'%s' -c '%s' >/dev/null 2>&1", h_free_port(), env.config_path,
             WEIR_BIN_PATH, env.config_path);
    int status = system(cmd);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    /* ... and leaves the first one's socket alone. */
    assert_int_equal(admin_status("GET", "/health", NULL), 200);
    stop(&env);
}

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int
tcp_admin(int port, const char *method, const char *path, const char *key)
{
    char raw[512];
    struct h_response r;
    snprintf(raw, sizeof(raw), "%s %s HTTP/1.1\r\nHost: weir\r\n%s%s%s"
             "Content-Length: 0\r\n\r\n", method, path, key ? "X-API-Key: " : "",
             key ? key : "", key ? "\r\n" : "");
    assert_int_equal(h_request(port, raw, &r), 0);
    int st = r.status;
    h_response_fini(&r);
    return st;
}

static void
test_tcp_roles(void **state)
{
    (void)state;
    struct h_env env;
    char extra[2048], path[3][300];
    const char *keys[3] = {"viewer-key-0123456789", "operator-key-0123456789",
                           "admin-key-0123456789"};
    const char *roles[3] = {"viewer", "operator", "admin"};

    h_env_init(&env);
    int port = h_free_port();
    int n = snprintf(extra, sizeof(extra),
                     "admin:\n  socket: %s/admin.sock\n  listen: 127.0.0.1:%d\n"
                     "  api_keys:\n", env.dir, port);
    for (int i = 0; i < 3; i++) {
        char text[64];
        snprintf(path[i], sizeof(path[i]), "%s/%s.key", env.dir, roles[i]);
        snprintf(text, sizeof(text), "%s\n", keys[i]);
        write_file(path[i], text);
        n += snprintf(extra + n, sizeof(extra) - (size_t)n,
                      "    - key_file: %s\n      role: %s\n", path[i], roles[i]);
    }
    assert_int_equal(h_backend_start(&env, "agent-1", NULL), 0);
    assert_int_equal(h_write_config(&env, extra), 0);
    assert_int_equal(h_weir_start(&env), 0);
    assert_int_equal(h_wait_port(port, 10000), 0);

    /* /health needs no key; everything else does. */
    assert_int_equal(tcp_admin(port, "GET", "/health", NULL), 200);
    assert_int_equal(tcp_admin(port, "GET", "/status", NULL), 401);
    assert_int_equal(tcp_admin(port, "GET", "/status", "wrong-key-0123456789"), 401);
    assert_int_equal(tcp_admin(port, "GET", "/status", keys[0]), 200);
    assert_int_equal(tcp_admin(port, "POST", "/backends/agent-1/drain", keys[0]), 403);
    assert_int_equal(tcp_admin(port, "POST", "/backends/agent-1/drain", keys[1]), 200);
    assert_int_equal(tcp_admin(port, "POST", "/backends/agent-1/enable", keys[1]), 200);
    assert_int_equal(tcp_admin(port, "POST", "/reload", keys[1]), 403);
    assert_int_equal(tcp_admin(port, "POST", "/reload", keys[2]), 200);
    /* Keys never reach the log. */
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "grep -q -e '%s' -e '%s' -e '%s' '%s'", keys[0],
             keys[1], keys[2], env.weir.log_path);
    assert_int_not_equal(system(cmd), 0);
    stop(&env);
}

static void
test_drain_under_load_loses_nothing(void **state)
{
    (void)state;
    struct h_env env;
    struct h_load ld;

    start(&env, 3, FAST_CHECKS);
    assert_int_equal(h_wait_log(env.weir.log_path, "unknown -> healthy", 3, 5000), 0);
    h_load_start(&ld, env.weir.port, 6, "/?delay=150");
    h_load_wait(&ld, 30);

    struct h_response r;
    assert_int_equal(admin("POST", "/backends/agent-2/drain", NULL, &r), 200);
    h_response_fini(&r);
    long long at_drain = backend_field("agent-2", "requests_total");
    /* Wait for drained: by then its in-flight count is zero. */
    int drained = 0;
    for (int i = 0; i < 300 && !drained; i++) {
        drained = backend_field("agent-2", "state") == 2;
        if (!drained)
            poll(NULL, 0, 10);
    }
    assert_true(drained);
    assert_int_equal(backend_field("agent-2", "inflight"), 0);
    /* More load after the drain: none of it reaches agent-2. */
    h_load_wait(&ld, 30);
    assert_int_equal(backend_field("agent-2", "requests_total"), at_drain);

    assert_int_equal(admin_status("POST", "/backends/agent-2/enable", NULL), 200);
    long long at_enable = backend_field("agent-2", "requests_total");
    h_load_wait(&ld, 60);
    h_load_stop(&ld);
    assert_true(backend_field("agent-2", "requests_total") > at_enable);
    fprintf(stderr, "drain under load: %d ok, %d failed\n", ld.ok, ld.failed);
    assert_int_equal(ld.failed, 0);
    assert_true(ld.ok > 60);
    stop(&env);
}

static void
test_drain_timeout_cuts_long_requests(void **state)
{
    (void)state;
    struct h_env env;
    const char *req = "GET /?delay=10000 HTTP/1.1\r\nHost: t\r\n\r\n";

    start(&env, 1, "load_balancer:\n  connection_draining:\n    timeout: 500ms\n");
    int fd = h_connect(env.weir.port);
    assert_int_equal(h_send_all(fd, req, strlen(req)), 0);
    assert_int_equal(h_wait_log(env.weir.log_path, "-> exchange (connected)", 1, 5000), 0);
    long long t0 = h_now_ms();
    assert_int_equal(admin_status("POST", "/backends/agent-1/drain", NULL), 200);
    assert_int_equal(backend_field("agent-1", "state"), 1);
    /* The request is cut at the deadline: the client sees the connection
     * close without a response. */
    struct h_response r;
    assert_int_equal(h_read_response(fd, &r, false), -1);
    h_response_fini(&r);
    long long took = h_now_ms() - t0;
    assert_true(took >= 400 && took < 5000);
    assert_int_equal(h_wait_log(env.weir.log_path, "drain timeout: cut 1 request(s)", 1, 1000), 0);
    assert_int_equal(backend_field("agent-1", "state"), 2);
    close(fd);
    stop(&env);
}

/* Every sample line's family has HELP and TYPE lines before it. */
static void
assert_exposition_well_formed(const char *text)
{
    char family[128];
    const char *line = text;
    while (*line != '\0') {
        const char *end = strchr(line, '\n');
        assert_non_null(end);
        if (line[0] != '#') {
            size_t n = strcspn(line, "{ ");
            assert_true(n < sizeof(family));
            memcpy(family, line, n);
            family[n] = '\0';
            /* Histogram samples belong to the family without the suffix. */
            char *suffix = strstr(family, "_bucket");
            if (suffix == NULL && strstr(family, "duration_seconds_") != NULL)
                suffix = strrchr(family, '_');
            if (suffix != NULL)
                *suffix = '\0';
            char want[160];
            snprintf(want, sizeof(want), "# TYPE %s ", family);
            const char *type = strstr(text, want);
            assert_non_null(type);
            assert_true(type < line);
        }
        line = end + 1;
    }
}

static void
test_metrics(void **state)
{
    (void)state;
    struct h_env env;
    struct h_response r;
    char v[128];

    start(&env, 1, NULL);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(h_get(env.weir.port, "/", &r), 0);
        h_response_fini(&r);
    }
    assert_int_equal(h_get(env.weir.port, "/?status=503", &r), 0);
    h_response_fini(&r);
    assert_int_equal(h_request(env.weir.port, "BAD\r\n\r\n", &r), 0);
    h_response_fini(&r);

    assert_int_equal(admin("GET", "/metrics", NULL, &r), 200);
    assert_string_equal(h_header(&r, "Content-Type", v, sizeof(v)),
                        "text/plain; version=0.0.4; charset=utf-8");
    assert_exposition_well_formed(r.body);
    assert_non_null(strstr(r.body, "weir_backend_responses_total{backend=\"agent-1\",class=\"2xx\"} 3\n"));
    assert_non_null(strstr(r.body, "weir_backend_responses_total{backend=\"agent-1\",class=\"5xx\"} 1\n"));
    assert_non_null(strstr(r.body, "weir_backend_request_duration_seconds_count{backend=\"agent-1\"} 4\n"));
    assert_non_null(strstr(r.body, "weir_backend_request_duration_seconds_bucket{backend=\"agent-1\",le=\"+Inf\"} 4\n"));
    assert_non_null(strstr(r.body, "weir_bad_requests_total 1\n"));
    /* Five here, plus the harness's readiness probes. */
    const char *acc = strstr(r.body, "\nweir_client_connections_accepted_total ");
    assert_non_null(acc);
    assert_true(atoll(acc + strlen("\nweir_client_connections_accepted_total ")) >= 5);
    assert_non_null(strstr(r.body, "weir_config_generation 1\n"));
    assert_non_null(strstr(r.body, "weir_backend_inflight_requests{backend=\"agent-1\"} 0\n"));
    assert_non_null(strstr(r.body, "weir_backend_drain_state{backend=\"agent-1\",state=\"enabled\"} 1\n"));
    assert_non_null(strstr(r.body, "weir_build_info{version=\""));
    h_response_fini(&r);
    stop(&env);
}

/* weirctl health [-s] CMD: its stdout into OUT; the exit status. */
static int
weirctl_health(char *out, size_t outlen)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "timeout 20 '%s' -s '%s' health", h_weirctl_path(),
             sock_path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* weirctl health: 0 while serving; 1 once a graceful stop has begun (a
 * slow request keeps weir alive meanwhile), as /health turns 503. */
static void
test_health_command(void **state)
{
    (void)state;
    struct h_env env;
    char out[256];

    start(&env, 1, NULL);
    assert_int_equal(weirctl_health(out, sizeof(out)), 0);
    assert_string_equal(out, "serving\n");

    int fd = h_connect(env.weir.port);
    assert_true(fd >= 0);
    static const char slow[] = "GET /?delay=3000 HTTP/1.1\r\nHost: t\r\n\r\n";
    assert_int_equal(h_send_all(fd, slow, sizeof(slow) - 1), 0);
    assert_int_equal(h_wait_log(env.weir.log_path, "head -> connect", 1, 5000), 0);
    assert_int_equal(kill(env.weir.pid, SIGTERM), 0);
    assert_int_equal(h_wait_log(env.weir.log_path, "graceful stop", 1, 5000), 0);
    assert_int_equal(weirctl_health(out, sizeof(out)), 1);
    assert_string_equal(out, "stopping\n");
    struct h_response r;
    assert_int_equal(h_read_response(fd, &r, false), 0);
    assert_int_equal(r.status, 200);
    h_response_fini(&r);
    close(fd);
    stop(&env);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoints_and_errors),
        cmocka_unit_test(test_health_command),
        cmocka_unit_test(test_socket_file_stale_and_live),
        cmocka_unit_test(test_tcp_roles),
        cmocka_unit_test(test_drain_under_load_loses_nothing),
        cmocka_unit_test(test_drain_timeout_cuts_long_requests),
        cmocka_unit_test(test_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
