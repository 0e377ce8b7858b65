/* The JSON access log: one line per request with the fields operators
 * filter on, for answered, refused and abandoned requests, and a reopen
 * on SIGUSR1 after the file was moved away (logrotate). */
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
#include "weir/util/json.h"

static char log_path[300];

/* The Nth line (0-based) of PATH parsed as JSON, waiting for it up to
 * 3 s (the writer thread is asynchronous). NULL if it never came. */
static struct json_doc *
line_n(const char *path, int n)
{
    char line[4096];
    long long deadline = h_now_ms() + 3000;
    while (h_now_ms() < deadline) {
        FILE *f = fopen(path, "r");
        int i = 0;
        while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
            if (i++ == n) {
                fclose(f);
                char err[128];
                struct json_doc *d = json_parse(line, strlen(line) - 1, 256, err, sizeof(err));
                if (d == NULL)
                    fprintf(stderr, "bad log line %s: %s\n", err, line);
                return d;
            }
        }
        if (f != NULL)
            fclose(f);
        poll(NULL, 0, 10);
    }
    return NULL;
}

static const char *
str(struct json_doc *d, const char *key)
{
    return json_string(json_get(json_root(d), key), NULL);
}

static long long
num(struct json_doc *d, const char *key)
{
    int64_t v = -1;
    json_int(json_get(json_root(d), key), &v);
    return v;
}

static void
test_lines_for_each_outcome(void **state)
{
    (void)state;
    struct h_env env;
    struct h_response r;

    h_env_init(&env);
    snprintf(log_path, sizeof(log_path), "%s/access.log", env.dir);
    assert_int_equal(h_backend_start(&env, "agent-1", NULL), 0);
    /* The harness turns the access log off: point it at a file. */
    assert_int_equal(h_write_config(&env, NULL), 0);
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "sed -i 's|  access_log: off|  access_log: %s|' '%s'",
             log_path, env.config_path);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(h_weir_start(&env), 0);

    const char *req = "GET /a?x=1 HTTP/1.1\r\nHost: t\r\nX-Request-Id: rid-7\r\n"
                      "Content-Length: 3\r\n\r\nabc";
    assert_int_equal(h_request(env.weir.port, req, &r), 0);
    size_t body = r.body_len;
    h_response_fini(&r);
    struct json_doc *d = line_n(log_path, 0);
    assert_non_null(d);
    assert_string_equal(str(d, "method"), "GET");
    assert_string_equal(str(d, "path"), "/a?x=1");
    assert_int_equal(num(d, "status"), 200);
    assert_string_equal(str(d, "backend"), "agent-1");
    assert_string_equal(str(d, "request_id"), "rid-7");
    assert_string_equal(str(d, "client"), "127.0.0.1");
    assert_string_equal(str(d, "end"), "complete");
    assert_string_equal(str(d, "picked_by"), "least-connections");
    assert_true(num(d, "bytes_in") >= (long long)strlen(req));
    assert_true(num(d, "bytes_out") > (long long)body);
    assert_int_equal(strlen(str(d, "time")), 24); /* 2026-11-28T01:02:03.456Z */
    assert_int_equal(json_type(json_get(json_root(d), "duration_ms")), JSON_NUMBER);
    json_doc_free(d);

    /* Refused: logged with its status and no backend. */
    assert_int_equal(h_request(env.weir.port, "GET / HTTP/1.1\r\n\r\n", &r), 0);
    h_response_fini(&r);
    d = line_n(log_path, 1);
    assert_non_null(d);
    assert_int_equal(num(d, "status"), 400);
    assert_true(json_is_null(json_get(json_root(d), "backend")));
    assert_string_equal(str(d, "end"), "rejected");
    json_doc_free(d);

    /* The client leaves while the backend is still answering. */
    int fd = h_connect(env.weir.port);
    const char *slow = "GET /?delay=2000 HTTP/1.1\r\nHost: t\r\n\r\n";
    assert_int_equal(h_send_all(fd, slow, strlen(slow)), 0);
    assert_int_equal(h_wait_log(env.weir.log_path, "-> exchange", 2, 3000), 0);
    close(fd);
    d = line_n(log_path, 2);
    assert_non_null(d);
    assert_int_equal(num(d, "status"), 0);
    assert_string_equal(str(d, "end"), "client closed mid-request");
    json_doc_free(d);

    /* logrotate: move the file, SIGUSR1, and new lines go to a new file. */
    char moved[340];
    snprintf(moved, sizeof(moved), "%s.1", log_path);
    assert_int_equal(rename(log_path, moved), 0);
    kill(env.weir.pid, SIGUSR1);
    assert_int_equal(h_wait_log(env.weir.log_path, "reopening the access log", 1, 3000), 0);
    /* The reopen happens on the writer thread: retry until it shows. */
    for (int i = 0; i < 100; i++) {
        assert_int_equal(h_get(env.weir.port, "/after", &r), 0);
        h_response_fini(&r);
        if (access(log_path, F_OK) == 0)
            break;
        poll(NULL, 0, 10);
    }
    d = line_n(log_path, 0);
    assert_non_null(d);
    assert_string_equal(str(d, "path"), "/after");
    json_doc_free(d);
    assert_int_equal(h_proc_stop(&env.weir, SIGTERM, 10000), 0);
    h_env_fini(&env);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_for_each_outcome),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
