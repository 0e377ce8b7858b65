/* The proxy end to end: the real weir in front of real demo backends on
 * loopback. Keep-alive on both sides, chunked both ways, retries, the
 * short error responses, and least-connections under a slow backend. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static uint64_t
fnv1a64(const void *p, size_t len)
{
    const unsigned char *c = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= c[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static struct h_env *
start(int nbackends, const char *const *backend_args, const char *extra_yaml)
{
    struct h_env *env = malloc(sizeof(*env));
    char name[32];

    assert_non_null(env);
    h_env_init(env);
    for (int i = 0; i < nbackends; i++) {
        snprintf(name, sizeof(name), "agent-%d", i + 1);
        assert_int_equal(h_backend_start(env, name, backend_args), 0);
    }
    assert_int_equal(h_write_config(env, extra_yaml), 0);
    assert_int_equal(h_weir_start(env), 0);
    return env;
}

static void
finish(struct h_env *env)
{
    int rc = h_proc_stop(&env->weir, SIGTERM, 10000);
    if (rc != 0)
        h_dump_log(&env->weir);
    assert_int_equal(rc, 0);
    h_env_fini(env);
    free(env);
}

/* Number of requests a backend served (its /_stats), asked directly. */
static int
backend_served(const struct h_env *env, size_t i)
{
    struct h_response r;
    int n = -1;
    if (h_get(env->backends[i].port, "/_stats", &r) == 0 && r.status == 200)
        sscanf(r.body, "requests %d", &n);
    h_response_fini(&r);
    return n;
}

static void
test_keepalive_both_sides(void **state)
{
    (void)state;
    struct h_env *env = start(1, NULL, NULL);
    char v[64], conn_id[64] = "";
    int fd = h_connect(env->weir.port);
    assert_true(fd >= 0);

    for (int i = 0; i < 5; i++) {
        const char *req = "GET /ka HTTP/1.1\r\nHost: test\r\n\r\n";
        struct h_response r;
        assert_int_equal(h_send_all(fd, req, strlen(req)), 0);
        assert_int_equal(h_read_response(fd, &r, false), 0);
        assert_int_equal(r.status, 200);
        assert_true(r.keep_alive);
        assert_string_equal(r.body, "agent-1\n");
        /* The same upstream connection serves every request. */
        assert_non_null(h_header(&r, "X-Connection-Id", v, sizeof(v)));
        if (i == 0)
            snprintf(conn_id, sizeof(conn_id), "%s", v);
        assert_string_equal(v, conn_id);
        assert_non_null(h_header(&r, "X-Request-Count", v, sizeof(v)));
        assert_int_equal(atoi(v), i + 1);
        h_response_fini(&r);
    }
    close(fd);
    finish(env);
}

static void
test_forwarded_headers(void **state)
{
    (void)state;
    struct h_env *env = start(1, NULL, NULL);
    struct h_response r;
    const char *req = "GET /?headers=1 HTTP/1.1\r\nHost: test\r\n"
                      "X-Forwarded-For: 10.9.8.7\r\n"
                      "X-Forwarded-Proto: gopher\r\n"
                      "Connection: keep-alive, X-Secret\r\n"
                      "X-Secret: hop\r\nKeep-Alive: timeout=5\r\n"
                      "X-Kept: yes\r\n\r\n";
    char id[80];

    assert_int_equal(h_request(env->weir.port, req, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "X-Forwarded-For: 10.9.8.7, 127.0.0.1\r\n"));
    assert_non_null(strstr(r.body, "X-Forwarded-Proto: http\r\n"));
    assert_null(strstr(r.body, "gopher"));
    assert_null(strstr(r.body, "X-Secret"));
    assert_null(strstr(r.body, "Keep-Alive"));
    assert_null(strstr(r.body, "Connection:"));
    assert_non_null(strstr(r.body, "X-Kept: yes\r\n"));
    assert_non_null(strstr(r.body, "X-Request-Id: "));
    h_response_fini(&r);

    /* A client's own request id is kept. */
    req = "GET /?headers=1 HTTP/1.1\r\nHost: t\r\nX-Request-Id: abc-123\r\n\r\n";
    assert_int_equal(h_request(env->weir.port, req, &r), 0);
    assert_non_null(strstr(r.body, "X-Request-Id: abc-123\r\n"));
    assert_null(h_header(&r, "X-Request-Idx", id, sizeof(id)));
    h_response_fini(&r);
    finish(env);
}

static void
test_chunked_both_ways(void **state)
{
    (void)state;
    struct h_env *env = start(1, NULL, NULL);
    struct h_response r;
    char v[64], req[512];
    const char *chunks = "5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n";
    int fd = h_connect(env->weir.port);

    snprintf(req, sizeof(req),
             "POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n%s",
             chunks);
    assert_int_equal(h_send_all(fd, req, strlen(req)), 0);
    assert_int_equal(h_read_response(fd, &r, false), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(h_header(&r, "X-Received-Bytes", v, sizeof(v)), "11");
    snprintf(req, sizeof(req), "%016llx",
             (unsigned long long)fnv1a64("hello world", 11));
    assert_string_equal(h_header(&r, "X-Received-Hash", v, sizeof(v)), req);
    h_response_fini(&r);

    /* A chunked response reaches the client chunked and complete, on the
     * same client connection. */
    const char *get = "GET /?chunked=1&size=100000 HTTP/1.1\r\nHost: t\r\n\r\n";
    assert_int_equal(h_send_all(fd, get, strlen(get)), 0);
    assert_int_equal(h_read_response(fd, &r, false), 0);
    assert_int_equal(r.status, 200);
    assert_true(r.chunked);
    assert_true(r.complete);
    assert_int_equal(r.body_len, 100000);
    h_response_fini(&r);

    /* A close-delimited response becomes chunked for an HTTP/1.1 client,
     * so the client connection survives it. */
    get = "GET /?noframe=1&size=5000 HTTP/1.1\r\nHost: t\r\n\r\n";
    assert_int_equal(h_send_all(fd, get, strlen(get)), 0);
    assert_int_equal(h_read_response(fd, &r, false), 0);
    assert_true(r.chunked);
    assert_true(r.keep_alive);
    assert_int_equal(r.body_len, 5000);
    h_response_fini(&r);
    close(fd);
    finish(env);
}

static void
test_malformed_is_400_and_not_forwarded(void **state)
{
    (void)state;
    struct h_env *env = start(1, NULL, NULL);
    static const char *const bad[] = {
        "GET / HTTP/1.1\r\nHost: t\r\nContent-Length : 5\r\n\r\nhello",
        "GET / HTTP/1.1\nHost: t\n\n",
        "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n",
        "GET / HXXX/1.1\r\nHost: t\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        "zz\r\nhello\r\n0\r\n\r\n",
    };
    struct h_response r;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(h_request(env->weir.port, bad[i], &r), 0);
        if (r.status != 400)
            fprintf(stderr, "vector %zu answered %d\n", i, r.status);
        assert_int_equal(r.status, 400);
        assert_false(r.keep_alive);
        h_response_fini(&r);
    }
    /* The last vector's head was valid (the body was not), so at most that
     * one reached the backend; the others never did. */
    assert_true(backend_served(env, 0) <= 1);
    /* And a normal request still works. */
    assert_int_equal(h_get(env->weir.port, "/", &r), 0);
    assert_int_equal(r.status, 200);
    h_response_fini(&r);
    finish(env);
}

static void
test_head_too_large_is_431(void **state)
{
    (void)state;
    struct h_env *env = start(1, NULL, "limits:\n  max_header_bytes: 2048\n");
    char req[4096];
    struct h_response r;

    snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: t\r\nX-Big: %3000d\r\n\r\n", 1);
    assert_int_equal(h_request(env->weir.port, req, &r), 0);
    assert_int_equal(r.status, 431);
    h_response_fini(&r);
    assert_int_equal(backend_served(env, 0), 0);
    finish(env);
}

static void
test_refused_is_retried_elsewhere(void **state)
{
    (void)state;
    struct h_env env;

    h_env_init(&env);
    /* A port with nothing listening first, so rotation tries it. */
    assert_int_equal(h_backend_add(&env, "dead", h_free_port()), 0);
    assert_int_equal(h_backend_start(&env, "live", NULL), 0);
    assert_int_equal(h_write_config(&env, NULL), 0);
    assert_int_equal(h_weir_start(&env), 0);

    for (int i = 0; i < 10; i++) {
        struct h_response r;
        char v[64];
        assert_int_equal(h_get(env.weir.port, "/", &r), 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(h_header(&r, "X-Backend", v, sizeof(v)), "live");
        h_response_fini(&r);
    }
    assert_int_equal(backend_served(&env, 1), 10);
    assert_int_equal(h_proc_stop(&env.weir, SIGTERM, 10000), 0);
    h_env_fini(&env);
}

static void
test_black_hole_connect_times_out_and_retries(void **state)
{
    (void)state;
    struct h_env env;
    struct h_raw hole;
    struct h_response r;
    char v[64];

    h_env_init(&env);
    assert_int_equal(h_raw_start(&hole, "", false), 0);
    assert_int_equal(h_backend_add(&env, "hole", hole.port), 0);
    assert_int_equal(h_backend_start(&env, "live", NULL), 0);
    assert_int_equal(h_write_config(&env, "timeouts:\n  connect: 300ms\n"), 0);
    assert_int_equal(h_weir_start(&env), 0);
    /* Two requests: rotation sends one of them to the black hole first. */
    for (int i = 0; i < 2; i++) {
        long long t0 = h_now_ms();
        assert_int_equal(h_get(env.weir.port, "/", &r), 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(h_header(&r, "X-Backend", v, sizeof(v)), "live");
        assert_true(h_now_ms() - t0 < 3000);
        h_response_fini(&r);
    }
    assert_int_equal(h_wait_log(env.weir.log_path, "backend hole: connect timeout", 1, 1000), 0);
    assert_int_equal(h_proc_stop(&env.weir, SIGTERM, 10000), 0);
    h_raw_stop(&hole);
    h_env_fini(&env);
}

static void
test_backend_garbage_is_502(void **state)
{
    (void)state;
    struct h_env env;
    struct h_raw raw;
    struct h_response r;

    h_env_init(&env);
    assert_int_equal(h_raw_start(&raw, "SMTP ready\r\nnot http\r\n\r\n", true), 0);
    assert_int_equal(h_backend_add(&env, "garbage", raw.port), 0);
    assert_int_equal(h_write_config(&env, NULL), 0);
    assert_int_equal(h_weir_start(&env), 0);
    assert_int_equal(h_get(env.weir.port, "/", &r), 0);
    assert_int_equal(r.status, 502);
    assert_true(raw.accepted >= 1);
    h_response_fini(&r);
    assert_int_equal(h_proc_stop(&env.weir, SIGTERM, 10000), 0);
    h_raw_stop(&raw);
    h_env_fini(&env);
}

static void
test_all_backends_down_is_503(void **state)
{
    (void)state;
    struct h_env env;
    struct h_response r;

    h_env_init(&env);
    /* Two backends that are started, then killed: their ports refuse. */
    assert_int_equal(h_backend_start(&env, "a", NULL), 0);
    assert_int_equal(h_backend_start(&env, "b", NULL), 0);
    assert_int_equal(h_write_config(&env, NULL), 0);
    assert_int_equal(h_weir_start(&env), 0);
    assert_int_equal(h_proc_stop(&env.backends[0], SIGTERM, 5000), 0);
    assert_int_equal(h_proc_stop(&env.backends[1], SIGTERM, 5000), 0);
    assert_int_equal(h_get(env.weir.port, "/", &r), 0);
    assert_int_equal(r.status, 503);
    assert_false(r.keep_alive);
    h_response_fini(&r);
    assert_int_equal(h_proc_stop(&env.weir, SIGTERM, 10000), 0);
    h_env_fini(&env);
}

static void
test_backend_timeout_is_504(void **state)
{
    (void)state;
    struct h_env *env = start(1, NULL, "timeouts:\n  backend_response: 300ms\n");
    struct h_response r;
    long long t0 = h_now_ms();

    assert_int_equal(h_get(env->weir.port, "/?delay=5000", &r), 0);
    assert_int_equal(r.status, 504);
    /* Answered at the timeout, not when the backend finally replied. */
    assert_true(h_now_ms() - t0 < 4000);
    h_response_fini(&r);
    finish(env);
}

static void
test_backend_reset_mid_response_is_not_complete(void **state)
{
    (void)state;
    struct h_env *env = start(1, NULL, NULL);
    struct h_response r;

    /* The head announces 100000 bytes, then the backend resets after 10:
     * the client must never see a response that looks complete. */
    int fd = h_connect(env->weir.port);
    const char *req = "GET /?abort=10&size=100000 HTTP/1.1\r\nHost: t\r\n\r\n";
    assert_int_equal(h_send_all(fd, req, strlen(req)), 0);
    int rc = h_read_response(fd, &r, false);
    if (rc == 0) {
        assert_int_equal(r.status, 200);
        assert_false(r.complete);
        assert_true(r.body_len < 100000);
    }
    h_response_fini(&r);
    close(fd);
    finish(env);
}

static void
test_pipelining_and_100_continue(void **state)
{
    (void)state;
    struct h_env *env = start(1, NULL, NULL);
    struct h_response r;
    char v[64];
    int fd = h_connect(env->weir.port);

    /* Three pipelined requests are answered in order on one connection. */
    const char *three = "GET /a?headers=1 HTTP/1.1\r\nHost: t\r\n\r\n"
                        "GET /b?headers=1 HTTP/1.1\r\nHost: t\r\n\r\n"
                        "GET /c?headers=1 HTTP/1.1\r\nHost: t\r\n\r\n";
    assert_int_equal(h_send_all(fd, three, strlen(three)), 0);
    for (int i = 0; i < 3; i++) {
        char want[32];
        assert_int_equal(h_read_response(fd, &r, false), 0);
        assert_int_equal(r.status, 200);
        snprintf(want, sizeof(want), "GET /%c?headers=1 ", 'a' + i);
        assert_memory_equal(r.body, want, strlen(want));
        h_response_fini(&r);
    }

    /* Expect: 100-continue: the interim answer comes back before the body
     * is sent, then the final one. */
    const char *head = "POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                       "Expect: 100-continue\r\n\r\n";
    assert_int_equal(h_send_all(fd, head, strlen(head)), 0);
    assert_int_equal(h_read_response(fd, &r, false), 0);
    assert_int_equal(r.status, 100);
    h_response_fini(&r);
    assert_int_equal(h_send_all(fd, "hello", 5), 0);
    assert_int_equal(h_read_response(fd, &r, false), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(h_header(&r, "X-Received-Bytes", v, sizeof(v)), "5");
    h_response_fini(&r);

    /* HTTP/1.0 without keep-alive: answered, then closed. */
    const char *old = "GET / HTTP/1.0\r\n\r\n";
    assert_int_equal(h_send_all(fd, old, strlen(old)), 0);
    assert_int_equal(h_read_response(fd, &r, false), 0);
    assert_int_equal(r.status, 200);
    assert_false(r.keep_alive);
    h_response_fini(&r);
    char byte;
    assert_int_equal(read(fd, &byte, 1), 0);
    close(fd);
    finish(env);
}

static void
test_dead_pooled_connection_replays_idempotent_only(void **state)
{
    (void)state;
    struct h_env env;
    struct h_raw raw;
    struct h_response r;

    h_env_init(&env);
    /* The backend keeps a connection after one answer, then drops it
     * without answering the second request sent on it. */
    assert_int_equal(h_raw_start(&raw, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n", true), 0);
    raw.keepalive = 1;
    assert_int_equal(h_backend_add(&env, "flaky", raw.port), 0);
    assert_int_equal(h_write_config(&env, NULL), 0);
    assert_int_equal(h_weir_start(&env), 0);

    assert_int_equal(h_get(env.weir.port, "/", &r), 0);
    assert_int_equal(r.status, 200);
    h_response_fini(&r);
    /* A GET on the pooled connection is replayed on a fresh one. */
    assert_int_equal(h_get(env.weir.port, "/", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok\n");
    h_response_fini(&r);
    assert_int_equal(raw.accepted, 2);
    assert_int_equal(h_wait_log(env.weir.log_path, "replaying on a fresh connection", 1, 1000), 0);

    /* A POST in the same position is not replayed: 502. */
    const char *post = "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi";
    assert_int_equal(h_request(env.weir.port, post, &r), 0);
    assert_int_equal(r.status, 502);
    h_response_fini(&r);
    assert_int_equal(raw.accepted, 2);
    assert_int_equal(h_proc_stop(&env.weir, SIGTERM, 10000), 0);
    h_raw_stop(&raw);
    h_env_fini(&env);
}

struct spread {
    int slow, fast;
};

static void
count_backend(const struct h_response *r, void *arg)
{
    struct spread *sp = arg;
    char v[64];
    if (r->status != 200 || h_header(r, "X-Backend", v, sizeof(v)) == NULL)
        return;
    if (strcmp(v, "agent-1") == 0)
        sp->slow++;
    else
        sp->fast++;
}

static void
test_least_connections_avoids_slow_backend(void **state)
{
    (void)state;
    struct h_env env;
    static const char *const slow_args[] = {"--delay-ms", "200", NULL};
    struct spread sp = {0, 0};

    h_env_init(&env);
    assert_int_equal(h_backend_start(&env, "agent-1", slow_args), 0);
    assert_int_equal(h_backend_start(&env, "agent-2", NULL), 0);
    assert_int_equal(h_write_config(&env, NULL), 0);
    assert_int_equal(h_weir_start(&env), 0);

    int done = h_parallel_get(env.weir.port, "/", 200, 8, count_backend, &sp);
    assert_int_equal(done, 200);
    assert_int_equal(sp.slow + sp.fast, 200);
    /* Round-robin would give the slow one 100; least-connections keeps it
     * near its one-at-a-time share while the fast one absorbs the rest. */
    fprintf(stderr, "least-connections: slow %d, fast %d\n", sp.slow, sp.fast);
    assert_true(sp.slow < 40);
    assert_true(sp.fast > 160);
    assert_int_equal(h_proc_stop(&env.weir, SIGTERM, 10000), 0);
    h_env_fini(&env);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keepalive_both_sides),
        cmocka_unit_test(test_forwarded_headers),
        cmocka_unit_test(test_chunked_both_ways),
        cmocka_unit_test(test_malformed_is_400_and_not_forwarded),
        cmocka_unit_test(test_head_too_large_is_431),
        cmocka_unit_test(test_refused_is_retried_elsewhere),
        cmocka_unit_test(test_all_backends_down_is_503),
        cmocka_unit_test(test_backend_timeout_is_504),
        cmocka_unit_test(test_black_hole_connect_times_out_and_retries),
        cmocka_unit_test(test_backend_garbage_is_502),
        cmocka_unit_test(test_backend_reset_mid_response_is_not_complete),
        cmocka_unit_test(test_pipelining_and_100_continue),
        cmocka_unit_test(test_dead_pooled_connection_replays_idempotent_only),
        cmocka_unit_test(test_least_connections_avoids_slow_backend),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
