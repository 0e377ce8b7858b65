/* Issue 9, items 4 and 6: backend faults. A backend that resets in the
 * middle of a response (Content-Length, chunked or close-delimited) makes
 * Weir close the client connection without completing the framing; one
 * that resets before answering is a 502 and a counted failure; black-holed
 * backends (a listening socket whose backlog is full, so SYNs go
 * unanswered: no nftables needed) cost one connect timeout each, then 503.
 * The resetting backend is the recording backend with SO_LINGER 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define FAILURES "weir_backend_failures_total{backend=\"rec\"}"

struct fixture {
    struct h_env env;
    struct h_rec rec;
};

static int
setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));

    if (fx == NULL)
        return -1;
    h_env_init(&fx->env);
    /* Passive health off, so that the counted failures do not take the one
     * backend out of rotation between the cases. */
    if (h_rec_start(&fx->rec, "") != 0 ||
        h_backend_add(&fx->env, "rec", fx->rec.port) != 0 ||
        h_write_config(&fx->env,
                       "load_balancer:\n  health_check:\n    passive: false\n") != 0 ||
        h_weir_start(&fx->env) != 0)
        return -1;
    h_rec_set_reset(&fx->rec, true);
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *fx = *state;
    int rc = h_proc_stop(&fx->env.weir, SIGTERM, 10000);

    if (rc != 0)
        h_dump_log(&fx->env.weir);
    h_rec_stop(&fx->rec);
    h_env_fini(&fx->env);
    free(fx);
    return rc == 0 ? 0 : -1;
}

/* Weir's log lines for a backend reset, so far. */
static int resets_logged;

/* The backend sends REPLY and resets. The client gets the head and the
 * part of the body that was sent (BODY), never a complete response, and
 * then its connection ends. */
static void
reset_mid_response(struct fixture *fx, const char *reply, const char *body,
                   bool chunked)
{
    struct h_response r;
    bool reset;
    const char *req = "GET /reset HTTP/1.1\r\nHost: t\r\n\r\n";
    long long failures = h_metric(&fx->env, FAILURES);

    h_rec_set_reply(&fx->rec, reply, true);
    int fd = h_connect(fx->env.weir.port);
    assert_true(fd >= 0);
    assert_int_equal(h_send_all(fd, req, strlen(req)), 0);
    assert_int_equal(h_read_response(fd, &r, false), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.chunked, chunked);
    assert_false(r.complete);
    assert_string_equal(r.body, body);
    h_response_fini(&r);
    /* Nothing more: no closing chunk, no padding, the end. */
    assert_int_equal(h_read_to_eof(fd, 5000, &reset), 0);
    close(fd);
    assert_int_equal(h_wait_log(fx->env.weir.log_path,
                                "Connection reset by peer (request", ++resets_logged,
                                5000), 0);
    assert_int_equal(h_metric(&fx->env, FAILURES), failures + 1);
}

static void
test_reset_inside_content_length(void **state)
{
    reset_mid_response(*state,
                       "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nten bytes.",
                       "ten bytes.", false);
}

static void
test_reset_inside_chunked(void **state)
{
    reset_mid_response(*state,
                       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "5\r\nhello\r\n",
                       "hello", true);
}

/* Close-delimited: a clean close would end it (it_framing shows that);
 * a reset must not, so the chunked encoding the client sees stays open. */
static void
test_reset_inside_close_delimited(void **state)
{
    reset_mid_response(*state, "HTTP/1.1 200 OK\r\n\r\nuntil a reset", "until a reset",
                       true);
}

/* A reset before any response byte, on a fresh connection: 502 for any
 * method (only a reused pooled connection is replayed), and a failure
 * counted on the backend. */
static void
test_reset_before_response_is_502(void **state)
{
    struct fixture *fx = *state;
    const char *const reqs[] = {
        "GET /r HTTP/1.1\r\nHost: t\r\n\r\n",
        "POST /r HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi",
    };

    h_rec_set_reply(&fx->rec, "", true);
    for (size_t i = 0; i < 2; i++) {
        struct h_response r;
        long long failures = h_metric(&fx->env, FAILURES);
        h_rec_reset(&fx->rec);
        assert_int_equal(h_request(fx->env.weir.port, reqs[i], &r), 0);
        assert_int_equal(r.status, 502);
        assert_false(r.keep_alive);
        h_response_fini(&r);
        assert_int_equal(h_rec_stats(&fx->rec).requests, 1);
        assert_int_equal(h_metric(&fx->env, FAILURES), failures + 1);
        assert_int_equal(h_wait_log(fx->env.weir.log_path,
                                    "Connection reset by peer (request",
                                    ++resets_logged, 5000), 0);
    }
}

/* A non-blocking connect to PORT completes within LIMIT_MS. */
static bool
connect_completes(int port, int limit_ms)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    (void)connect(fd, (struct sockaddr *)&a, sizeof(a));
    struct pollfd pf = {.fd = fd, .events = POLLOUT};
    bool done = poll(&pf, 1, limit_ms) == 1;
    close(fd);
    return done;
}

/* Every backend black-holed: each costs one connect timeout, then 503. */
static void
test_black_holes_cost_a_connect_timeout_each(void **state)
{
    (void)state;
    struct h_env env;
    struct h_raw holes[2];
    struct h_response r;

    h_env_init(&env);
    for (int i = 0; i < 2; i++) {
        char name[16];
        assert_int_equal(h_raw_start(&holes[i], "", false), 0);
        /* The precondition: SYNs to it really go unanswered. */
        assert_false(connect_completes(holes[i].port, 500));
        snprintf(name, sizeof(name), "hole-%d", i + 1);
        assert_int_equal(h_backend_add(&env, name, holes[i].port), 0);
    }
    assert_int_equal(h_write_config(&env, "timeouts:\n  connect: 300ms\n"), 0);
    assert_int_equal(h_weir_start(&env), 0);
    long long t0 = h_now_ms();
    assert_int_equal(h_get(env.weir.port, "/", &r), 0);
    long long took = h_now_ms() - t0;
    assert_int_equal(r.status, 503);
    h_response_fini(&r);
    fprintf(stderr, "two black holes answered 503 after %lld ms\n", took);
    assert_true(took >= 550 && took < 5000);
    assert_int_equal(h_wait_log(env.weir.log_path, "backend hole-1: connect timeout", 1, 1000), 0);
    assert_int_equal(h_wait_log(env.weir.log_path, "backend hole-2: connect timeout", 1, 1000), 0);
    assert_int_equal(h_proc_stop(&env.weir, SIGTERM, 10000), 0);
    for (int i = 0; i < 2; i++)
        h_raw_stop(&holes[i]);
    h_env_fini(&env);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reset_inside_content_length),
        cmocka_unit_test(test_reset_inside_chunked),
        cmocka_unit_test(test_reset_inside_close_delimited),
        cmocka_unit_test(test_reset_before_response_is_502),
        cmocka_unit_test(test_black_holes_cost_a_connect_timeout_each),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
