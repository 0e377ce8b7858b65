/* Protocol switches (WebSocket): an Upgrade request is forwarded with its
 * own-hop Connection/Upgrade pair; a 101 from the backend opens a tunnel
 * that relays bytes both ways until one side closes; a backend that
 * declines answers as usual. The backend is a small echo server in this
 * process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

/* Answers health checks with 200; a request naming "Upgrade: websocket"
 * with 101 (or, when DECLINE, with 200) and then echoes every byte until
 * the client closes. Remembers the last upgrade request head. */
struct echo {
    int fd, port;
    bool decline;
    volatile int stop;
    volatile int upgrades;       /* 101s sent */
    volatile int closed;         /* tunnels that saw the proxy close */
    char head[2048];
    pthread_t thread;
};

static void
serve(struct echo *e, int c)
{
    char buf[4096];
    size_t len = 0;
    char *end = NULL;
    while (end == NULL && len < sizeof(buf) - 1) {
        struct pollfd pf = {.fd = c, .events = POLLIN};
        if (poll(&pf, 1, 5000) != 1)
            return;
        ssize_t n = read(c, buf + len, sizeof(buf) - 1 - len);
        if (n <= 0)
            return;
        len += (size_t)n;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    if (end == NULL)
        return;
    if (strstr(buf, "websocket") == NULL || e->decline) {
        static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                                 "Connection: close\r\n\r\nok";
        (void)write(c, ok, sizeof(ok) - 1);
        return;
    }
    snprintf(e->head, sizeof(e->head), "%.*s", (int)(end - buf), buf);
    static const char sw[] = "HTTP/1.1 101 Switching Protocols\r\n"
                             "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
    if (write(c, sw, sizeof(sw) - 1) != (ssize_t)(sizeof(sw) - 1))
        return;
    e->upgrades++;
    /* Bytes that came with the head are tunnel data too. */
    size_t extra = len - (size_t)(end + 4 - buf);
    if (extra > 0 && write(c, end + 4, extra) != (ssize_t)extra)
        return;
    for (int i = 0; i < 100000 && !e->stop; i++) {
        struct pollfd pf = {.fd = c, .events = POLLIN};
        int r = poll(&pf, 1, 100);
        if (r == 0)
            continue;
        ssize_t n = read(c, buf, sizeof(buf));
        if (n <= 0) {
            e->closed++;
            return;
        }
        if (strncmp(buf, "bye", 3) == 0)
            return; /* the backend ends the tunnel */
        if (write(c, buf, (size_t)n) != n)
            return;
    }
}

static void *
echo_main(void *arg)
{
    struct echo *e = arg;
    for (int i = 0; i < 10000 && !e->stop; i++) {
        struct pollfd pf = {.fd = e->fd, .events = POLLIN};
        if (poll(&pf, 1, 100) != 1)
            continue;
        int c = accept(e->fd, NULL, NULL);
        if (c == -1)
            continue;
        serve(e, c);
        close(c);
    }
    return NULL;
}

static void
echo_start(struct echo *e)
{
    memset(e, 0, sizeof(*e));
    e->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t salen = sizeof(sa);
    assert_int_equal(bind(e->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(e->fd, 16), 0);
    assert_int_equal(getsockname(e->fd, (struct sockaddr *)&sa, &salen), 0);
    e->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&e->thread, NULL, echo_main, e), 0);
}

static void
echo_stop(struct echo *e)
{
    e->stop = 1;
    pthread_join(e->thread, NULL);
    close(e->fd);
}

static void
start(struct h_env *env, struct echo *e)
{
    h_env_init(env);
    echo_start(e);
    assert_int_equal(h_backend_add(env, "ws", e->port), 0);
    assert_int_equal(h_write_config(env, NULL), 0);
    assert_int_equal(h_weir_start(env), 0);
}

static void
stop(struct h_env *env, struct echo *e)
{
    int rc = h_proc_stop(&env->weir, SIGTERM, 10000);
    if (rc != 0)
        h_dump_log(&env->weir);
    assert_int_equal(rc, 0);
    echo_stop(e);
    h_env_fini(env);
}

/* Read until NEEDLE arrives (bounded). */
static void
expect(int fd, const char *needle)
{
    char buf[4096];
    size_t len = 0;
    for (int i = 0; i < 50 && len < sizeof(buf) - 1; i++) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 100) != 1)
            continue;
        ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
        assert_true(n > 0);
        len += (size_t)n;
        buf[len] = '\0';
        if (strstr(buf, needle) != NULL)
            return;
    }
    buf[len] = '\0';
    fail_msg("expected \"%s\", got \"%s\"", needle, buf);
}

static const char ws_request[] =
    "GET /chat HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\n"
    "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

static long long
inflight(const struct h_env *env)
{
    char sock[300];
    struct h_response r;
    snprintf(sock, sizeof(sock), "%s/admin.sock", env->dir);
    assert_int_equal(h_unix_request(sock, "GET /status HTTP/1.1\r\nHost: w\r\n\r\n", &r), 0);
    const char *p = strstr(r.body, "\"inflight\":");
    long long v = p ? atoll(p + 11) : -1;
    h_response_fini(&r);
    return v;
}

static void
test_websocket_tunnel(void **state)
{
    (void)state;
    struct h_env env;
    struct echo e;
    start(&env, &e);

    int fd = h_connect(env.weir.port);
    assert_true(fd >= 0);
    assert_int_equal(h_send_all(fd, ws_request, sizeof(ws_request) - 1), 0);
    expect(fd, "HTTP/1.1 101 Switching Protocols\r\n");
    /* The backend saw the switch asked for on its own hop. */
    assert_non_null(strstr(e.head, "Connection: upgrade\r\nUpgrade: websocket"));
    assert_non_null(strstr(e.head, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="));
    /* Bytes flow both ways, many times. */
    for (int i = 0; i < 20; i++) {
        char msg[32];
        snprintf(msg, sizeof(msg), "frame-%d;", i);
        assert_int_equal(h_send_all(fd, msg, strlen(msg)), 0);
        expect(fd, msg);
    }
    /* The tunnel is load on its backend while it lasts. */
    assert_int_equal(inflight(&env), 1);
    /* The client closes: the backend sees it, and the request ends. */
    close(fd);
    for (int i = 0; i < 100 && e.closed == 0; i++)
        usleep(20000); /* bounded wait for the echo thread's view */
    assert_int_equal(e.closed, 1);
    assert_int_equal(h_wait_log(env.weir.log_path, "tunnel closed by the client", 1, 5000), 0);
    assert_int_equal(inflight(&env), 0);

    /* The backend ends a tunnel: the client sees the close. */
    fd = h_connect(env.weir.port);
    assert_int_equal(h_send_all(fd, ws_request, sizeof(ws_request) - 1), 0);
    expect(fd, " 101 ");
    assert_int_equal(h_send_all(fd, "bye", 3), 0);
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&pf, 1, 5000), 1);
    char byte;
    assert_true(read(fd, &byte, 1) <= 0);
    close(fd);
    assert_int_equal(h_wait_log(env.weir.log_path, "tunnel closed by the backend", 1, 5000), 0);
    stop(&env, &e);
}

/* The backend declines the switch: an ordinary response, no tunnel. */
static void
test_declined_upgrade(void **state)
{
    (void)state;
    struct h_env env;
    struct echo e;
    start(&env, &e);
    e.decline = true;

    struct h_response r;
    assert_int_equal(h_request(env.weir.port, ws_request, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok");
    h_response_fini(&r);
    assert_int_equal(e.upgrades, 0);
    stop(&env, &e);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_websocket_tunnel),
        cmocka_unit_test(test_declined_upgrade),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
