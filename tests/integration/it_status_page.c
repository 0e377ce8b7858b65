/* The status page (GET / on the admin listeners): served whole as
 * text/html, self-contained (no external URL or script), its script parses
 * (node --check, when node is installed), and headless Chromium, loading it
 * against a running weir, draws the backends' rows with their states
 * (skipped when Chromium is not installed). Chromium cannot reach a Unix
 * socket, so the test relays a loopback TCP port to the admin socket:
 * the page then runs as it does on the socket, without an API key. On the
 * TCP listener the page itself needs no key (it holds no data), the data
 * does, and the page asks for one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

static char sock_path[300];
static struct h_env env;
static bool env_live; /* h_env_fini still due: the teardown does it on failure */

#define FAST_CHECKS                                              \
    "load_balancer:\n  health_check:\n    interval: 200ms\n"     \
    "    healthy_threshold: 1\n"

static void
begin(void)
{
    h_env_init(&env);
    env_live = true;
    snprintf(sock_path, sizeof(sock_path), "%s/admin.sock", env.dir);
}

/* NBACKENDS demo backends and weir, with EXTRA (an admin block first, as
 * h_write_config wants it, or NULL) before the fast health checks. */
static void
launch(int nbackends, const char *extra)
{
    char yaml[2048];
    for (int i = 1; i <= nbackends; i++) {
        char name[32];
        snprintf(name, sizeof(name), "agent-%d", i);
        assert_int_equal(h_backend_start(&env, name, NULL), 0);
    }
    snprintf(yaml, sizeof(yaml), "%s%s", extra ? extra : "", FAST_CHECKS);
    assert_int_equal(h_write_config(&env, yaml), 0);
    assert_int_equal(h_weir_start(&env), 0);
    /* h_weir_start waits for the proxy listener, which weir opens before
     * the admin socket: wait for that too (it matters under valgrind). */
    long long deadline = h_now_ms() + 10000;
    int fd;
    while ((fd = h_connect_unix(sock_path)) == -1) {
        assert_true(h_now_ms() < deadline);
        usleep(20000);
    }
    close(fd);
}

static void
start(int nbackends)
{
    begin();
    launch(nbackends, NULL);
}

static void
stop(void)
{
    int rc = h_proc_stop(&env.weir, SIGTERM, 10000);
    if (rc != 0)
        h_dump_log(&env.weir);
    assert_int_equal(rc, 0);
    env_live = false;
    h_env_fini(&env);
}

static int
teardown(void **state)
{
    (void)state;
    if (env_live)
        h_env_fini(&env);
    env_live = false;
    return 0;
}

/* One request on the admin socket (RAW) or, with PORT > 0, on the TCP
 * listener; the response is left in R. */
static void
admin_request(int port, const char *raw, struct h_response *r)
{
    if (port > 0)
        assert_int_equal(h_request(port, raw, r), 0);
    else
        assert_int_equal(h_unix_request(sock_path, raw, r), 0);
}

/* GET / (on the socket, or on the TCP listener without a key), checked for
 * status, type and framing. */
static void
get_page(int port, struct h_response *r)
{
    char ctype[128], clen[32];
    admin_request(port, "GET / HTTP/1.1\r\nHost: weir\r\n\r\n", r);
    assert_int_equal(r->status, 200);
    assert_true(r->complete);
    assert_non_null(h_header(r, "Content-Type", ctype, sizeof(ctype)));
    assert_string_equal(ctype, "text/html; charset=utf-8");
    assert_non_null(h_header(r, "Content-Length", clen, sizeof(clen)));
    assert_int_equal(strtoull(clen, NULL, 10), r->body_len);
    assert_int_equal(strlen(r->body), r->body_len);
}

static int
admin_status(int port, const char *raw)
{
    struct h_response r;
    admin_request(port, raw, &r);
    int st = r.status;
    h_response_fini(&r);
    return st;
}

static bool
have(const char *cmd)
{
    char sh[128];
    snprintf(sh, sizeof(sh), "command -v %s >/dev/null 2>&1", cmd);
    return system(sh) == 0;
}

static void
write_file(const char *path, const char *p, size_t len)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* The whole file at PATH, malloc'd and NUL-terminated (empty if missing). */
static char *
read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    size_t len = 0, cap = 4096;
    char *p = malloc(cap);
    assert_non_null(p);
    if (f != NULL) {
        size_t n;
        while ((n = fread(p + len, 1, cap - len - 1, f)) > 0) {
            len += n;
            if (cap - len - 1 == 0) {
                cap *= 2;
                p = realloc(p, cap);
                assert_non_null(p);
            }
        }
        fclose(f);
    }
    p[len] = '\0';
    return p;
}

static void
test_page_self_contained(void **state)
{
    struct h_response r, r2;
    static const char *const must[] = {
        "<!DOCTYPE html>", "fetch(", "/status", "/metrics", "X-API-Key",
        "sessionStorage", "<noscript>", "textContent", "/backends/", "drain",
        "enable",
    };
    static const char *const never[] = {
        "http://", "https://", "//cdn", "<script src", "<link", "@import",
        "url(", "innerHTML", "window.prompt",
    };
    (void)state;

    start(1);
    get_page(0, &r);
    for (size_t i = 0; i < sizeof(must) / sizeof(must[0]); i++)
        if (strstr(r.body, must[i]) == NULL)
            fail_msg("the page lacks \"%s\"", must[i]);
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
        if (strstr(r.body, never[i]) != NULL)
            fail_msg("the page contains \"%s\"", never[i]);
    for (size_t i = 0; i < r.body_len; i++)
        if ((unsigned char)r.body[i] >= 0x80)
            fail_msg("the page is not ASCII at byte %zu", i);
    assert_true(r.body_len < 16384);
    h_response_fini(&r);

    /* The page carries no data: it is the same after a drain. */
    assert_int_equal(admin_status(0, "POST /backends/agent-1/drain HTTP/1.1\r\n"
                                     "Host: weir\r\n\r\n"), 200);
    get_page(0, &r);
    get_page(0, &r2);
    assert_int_equal(r.body_len, r2.body_len);
    assert_memory_equal(r.body, r2.body, r.body_len);
    h_response_fini(&r);
    h_response_fini(&r2);
    stop();
}

static void
test_script_parses(void **state)
{
    struct h_response r;
    char js[200], log[200], cmd[600];
    (void)state;

    if (!have("node")) {
        print_message("SKIPPED: node is not installed: the page's script "
                      "was not syntax-checked\n");
        skip();
    }
    start(1);
    get_page(0, &r);
    const char *open = strstr(r.body, "<script>");
    assert_non_null(open);
    open += strlen("<script>");
    const char *close = strstr(open, "</script>");
    assert_non_null(close);
    assert_null(strstr(close + 1, "<script")); /* one script only */
    snprintf(js, sizeof(js), "%s/page.js", env.dir);
    snprintf(log, sizeof(log), "%s/node.log", env.dir);
    write_file(js, open, (size_t)(close - open));
    h_response_fini(&r);
    snprintf(cmd, sizeof(cmd), "node --check '%s' >'%s' 2>&1", js, log);
    if (system(cmd) != 0)
        fail_msg("node --check failed on the page's script:\n%s", read_file(log));
    stop();
}

/* ---- a loopback TCP port relayed to the admin socket, for Chromium ---- */

struct relay {
    int lfd;
    int port;
    pthread_t thread;
};

/* Copy both ways between A and B until both directions are closed. */
static void *
relay_conn(void *arg)
{
    int *fds = arg;
    int a = fds[0], b = fds[1];
    bool open_in[2] = {true, true};
    char buf[16384];
    free(fds);

    while (open_in[0] || open_in[1]) {
        struct pollfd p[2] = {{.fd = open_in[0] ? a : -1, .events = POLLIN},
                              {.fd = open_in[1] ? b : -1, .events = POLLIN}};
        if (poll(p, 2, 30000) <= 0)
            break;
        for (int i = 0; i < 2; i++) {
            if (p[i].revents == 0)
                continue;
            int from = i == 0 ? a : b, to = i == 0 ? b : a;
            ssize_t n = read(from, buf, sizeof(buf));
            if (n <= 0) {
                open_in[i] = false;
                shutdown(to, SHUT_WR);
                if (i == 1) /* the server is done: so is the exchange */
                    open_in[0] = false;
                continue;
            }
            for (ssize_t off = 0; off < n;) {
                ssize_t w = send(to, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
                if (w <= 0) {
                    open_in[0] = open_in[1] = false;
                    break;
                }
                off += w;
            }
        }
    }
    close(a);
    close(b);
    return NULL;
}

static void *
relay_main(void *arg)
{
    struct relay *rl = arg;
    for (;;) {
        int c = accept(rl->lfd, NULL, NULL);
        if (c == -1) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return NULL; /* the listener was shut down */
        }
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        int u = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        memcpy(a.sun_path, sock_path, strlen(sock_path) + 1);
        if (u == -1 || connect(u, (struct sockaddr *)&a, sizeof(a)) == -1) {
            if (u != -1)
                close(u);
            close(c);
            continue;
        }
        int *fds = malloc(2 * sizeof(int));
        pthread_t t;
        if (fds == NULL) {
            close(u);
            close(c);
            continue;
        }
        fds[0] = c;
        fds[1] = u;
        if (pthread_create(&t, NULL, relay_conn, fds) != 0) {
            free(fds);
            close(u);
            close(c);
            continue;
        }
        pthread_detach(t);
    }
}

static void
relay_start(struct relay *rl)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    rl->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(rl->lfd >= 0);
    assert_int_equal(bind(rl->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(rl->lfd, 64), 0);
    assert_int_equal(getsockname(rl->lfd, (struct sockaddr *)&a, &len), 0);
    rl->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&rl->thread, NULL, relay_main, rl), 0);
}

static void
relay_stop(struct relay *rl)
{
    shutdown(rl->lfd, SHUT_RDWR);
    pthread_join(rl->thread, NULL);
    close(rl->lfd);
}

static const char *
chromium_bin(void)
{
    return have("chromium") ? "chromium"
           : have("chromium-browser") ? "chromium-browser" : NULL;
}

/* Load http://127.0.0.1:PORT/ in headless Chromium, let it poll a few
 * times (in virtual time), and return the DOM it drew (malloc'd). */
static char *
chromium_dom(const char *bin, int port)
{
    char cmd[1400], out[200], err[200];
    snprintf(out, sizeof(out), "%s/dom.html", env.dir);
    snprintf(err, sizeof(err), "%s/chromium.log", env.dir);
    snprintf(cmd, sizeof(cmd),
             "timeout 90 %s --headless --no-sandbox --disable-gpu --disable-quic "
             "--no-first-run --disable-background-networking "
             "--disable-component-update --disable-sync "
             "--user-data-dir='%s/chromium-profile' --virtual-time-budget=4000 "
             "--dump-dom http://127.0.0.1:%d/ >'%s' 2>'%s'",
             bin, env.dir, port, out, err);
    int rc = system(cmd);
    char *dom = read_file(out);
    if (rc != 0 || dom[0] == '\0')
        fail_msg("chromium failed (status %d):\n%s", rc, read_file(err));
    return dom;
}

static void
expect_in(const char *dom, const char *needle)
{
    if (strstr(dom, needle) == NULL)
        fail_msg("the rendered page lacks %s; it was:\n%s", needle, dom);
}

static void
test_chromium_draws_backends(void **state)
{
    struct relay rl;
    const char *bin = chromium_bin();
    (void)state;

    if (bin == NULL) {
        print_message("SKIPPED: chromium is not installed (apt-get install "
                      "chromium): the status page was not rendered\n");
        skip();
    }
    start(2);
    /* agent-2 drained (nothing in flight), agent-1 enabled and healthy. */
    assert_int_equal(admin_status(0, "POST /backends/agent-2/drain HTTP/1.1\r\n"
                                     "Host: weir\r\n\r\n"), 200);
    long long deadline = h_now_ms() + 10000;
    for (;;) {
        struct h_response d;
        admin_request(0, "GET /status HTTP/1.1\r\nHost: weir\r\n\r\n", &d);
        bool decided = strstr(d.body, "\"health\":\"unknown\"") == NULL;
        h_response_fini(&d);
        if (decided)
            break;
        assert_true(h_now_ms() < deadline);
        usleep(50000);
    }
    relay_start(&rl);
    char *dom = chromium_dom(bin, rl.port);
    relay_stop(&rl);

    expect_in(dom, "<title>Weir: serving</title>");
    expect_in(dom, "<span id=\"conn\" class=\"b up\" role=\"status\">live</span>");
    expect_in(dom, "<form id=\"keyform\" hidden=\"\">");  /* no key asked */
    expect_in(dom, "<th scope=\"row\">agent-1</th>");
    expect_in(dom, "<th scope=\"row\">agent-2</th>");
    expect_in(dom, "<span class=\"b ok\">enabled</span>");
    expect_in(dom, "<span class=\"b off\">drained</span>");
    expect_in(dom, "<span class=\"b ok\">healthy</span>");
    expect_in(dom, "aria-label=\"drain agent-1\"");
    expect_in(dom, "aria-label=\"enable agent-2\"");
    expect_in(dom, "<dd id=\"s-algorithm\">least-connections</dd>");
    free(dom);
    stop();
}

/* On the TCP listener the page is served without a key (it holds no
 * data); the data is not, and the page asks for a key. */
static void
test_tcp_page_asks_for_key(void **state)
{
    char yaml[1024], key_path[200];
    struct h_response r, u;
    const char *key = "status-page-viewer-key";
    (void)state;

    begin();
    int port = h_free_port();
    snprintf(key_path, sizeof(key_path), "%s/viewer.key", env.dir);
    write_file(key_path, key, strlen(key));
    snprintf(yaml, sizeof(yaml),
             "admin:\n  socket: %s\n  listen: 127.0.0.1:%d\n  api_keys:\n"
             "    - key_file: %s\n      role: viewer\n", sock_path, port, key_path);
    launch(1, yaml);
    assert_int_equal(h_wait_port(port, 10000), 0);

    get_page(port, &r);
    get_page(0, &u);
    assert_int_equal(r.body_len, u.body_len);
    assert_memory_equal(r.body, u.body, r.body_len);
    h_response_fini(&r);
    h_response_fini(&u);
    assert_int_equal(admin_status(port, "GET /status HTTP/1.1\r\nHost: weir\r\n\r\n"), 401);
    assert_int_equal(admin_status(port, "GET /metrics HTTP/1.1\r\nHost: weir\r\n\r\n"), 401);
    assert_int_equal(admin_status(port, "GET /status HTTP/1.1\r\nHost: weir\r\n"
                                        "X-API-Key: status-page-viewer-key\r\n\r\n"), 200);

    const char *bin = chromium_bin();
    if (bin == NULL) {
        print_message("chromium is not installed: the key form was not rendered\n");
    } else {
        char *dom = chromium_dom(bin, port);
        expect_in(dom, "<form id=\"keyform\">");           /* shown */
        expect_in(dom, "API key needed");
        if (strstr(dom, "<th scope=\"row\">") != NULL)
            fail_msg("the page drew backends without a key:\n%s", dom);
        free(dom);
    }
    stop();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_page_self_contained, teardown),
        cmocka_unit_test_teardown(test_script_parses, teardown),
        cmocka_unit_test_teardown(test_chromium_draws_backends, teardown),
        cmocka_unit_test_teardown(test_tcp_page_asks_for_key, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
