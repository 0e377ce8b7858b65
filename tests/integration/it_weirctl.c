/* weirctl against a fake admin server: a thread in this process answers
 * canned JSON on a Unix socket, and the real weirctl binary is run to check
 * its output and exit codes (table, --json, drain --wait and its timeout,
 * unknown backend, reload errors, no server, weight validation). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
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

enum reload_mode { RELOAD_OK, RELOAD_ERRORS, RELOAD_501 };
enum status_mode {
    STATUS_OK, STATUS_GARBAGE, STATUS_HUGE, STATUS_500, STATUS_SILENT,
};

struct fake {
    char dir[64];
    char path[128];
    int fd;
    pthread_t thread;
    volatile int stop;
    pthread_mutex_t mu;
    /* behaviour */
    int drained_after;           /* agent-2 drained after this many polls;
                                  * -1 never */
    bool reenabled;              /* /status shows agent-2 enabled */
    enum reload_mode reload;
    enum status_mode status;
    /* what arrived */
    int requests;
    int status_polls;
    char method[16];
    char target[256];
    char body[256];
};

static const char backend1[] =
    "{\"name\":\"agent-1\",\"address\":\"127.0.0.1:9001\",\"state\":\"enabled\","
    "\"health\":\"healthy\",\"health_reason\":\"200 OK\",\"inflight\":3,"
    "\"requests_total\":1234,\"failures_total\":0,\"weight\":10,"
    "\"effective_weight\":10}";
static const char backend3[] =
    "{\"name\":\"agent-long-name-3\",\"address\":\"[::1]:9003\","
    "\"state\":\"enabled\",\"health\":\"unhealthy\",\"health_reason\":"
    "\"timeout\",\"inflight\":0,\"requests_total\":0,\"failures_total\":7,"
    "\"weight\":10,\"effective_weight\":3}";

static void
backend2(char *out, size_t n, bool drained)
{
    snprintf(out, n,
             "{\"name\":\"agent-2\",\"address\":\"127.0.0.1:9002\","
             "\"state\":\"%s\",\"health\":\"healthy\",\"health_reason\":\"\","
             "\"inflight\":%d,\"requests_total\":56,\"failures_total\":1,"
             "\"weight\":1,\"effective_weight\":1}",
             drained ? "drained" : "draining", drained ? 0 : 2);
}

static void
answer(int fd, int status, const char *body, size_t len)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     status, len);
    send(fd, head, (size_t)n, MSG_NOSIGNAL);
    while (len > 0) {
        ssize_t w = send(fd, body, len, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        body += w;
        len -= (size_t)w;
    }
}

/* Route one request (under the lock) to its canned answer. */
static void
route(struct fake *f, int fd)
{
    static char body[1 << 12];
    char b2[512];
    int status = 200;
    bool drained;

    if (strcmp(f->target, "/status") == 0) {
        f->status_polls++;
        if (f->status == STATUS_SILENT) {
            /* Say nothing until weirctl gives up and closes. */
            struct pollfd pfd = {.fd = fd, .events = POLLIN};
            poll(&pfd, 1, 30000);
            return;
        }
        drained = f->drained_after >= 0 && f->status_polls > f->drained_after;
        backend2(b2, sizeof(b2), drained);
        if (f->reenabled)
            snprintf(b2, sizeof(b2), "{\"name\":\"agent-2\",\"state\":"
                     "\"enabled\",\"inflight\":0}");
        snprintf(body, sizeof(body), "{\"generation\":3,\"state\":\"serving\","
                 "\"backends\":[%s,%s,%s]}", backend1, b2, backend3);
        if (f->status == STATUS_GARBAGE)
            snprintf(body, sizeof(body), "{\"generation\":3,");
        if (f->status == STATUS_500) {
            status = 500;
            snprintf(body, sizeof(body), "{\"error\":\"internal trouble\"}");
        }
        if (f->status == STATUS_HUGE) {
            size_t len = 5u << 20;
            char *big = malloc(len);
            memset(big, ' ', len);
            answer(fd, 200, big, len);
            free(big);
            return;
        }
    } else if (strcmp(f->target, "/backends/agent-2/drain") == 0
               && strcmp(f->method, "POST") == 0) {
        backend2(body, sizeof(body), f->drained_after == 0);
    } else if (strcmp(f->target, "/backends/agent-1/enable") == 0
               && strcmp(f->method, "POST") == 0) {
        snprintf(body, sizeof(body), "%s", backend1);
    } else if (strcmp(f->target, "/backends/agent-1/weight") == 0
               && strcmp(f->method, "PUT") == 0) {
        int w = -1;
        sscanf(f->body, "{\"weight\":%d}", &w);
        snprintf(body, sizeof(body), "{\"name\":\"agent-1\",\"state\":"
                 "\"enabled\",\"weight\":%d,\"effective_weight\":%d}", w, w);
    } else if (strncmp(f->target, "/backends/", 10) == 0) {
        status = 404;
        snprintf(body, sizeof(body), "{\"error\":\"unknown backend\"}");
    } else if (strcmp(f->target, "/reload") == 0) {
        if (f->reload == RELOAD_OK) {
            snprintf(body, sizeof(body), "{\"generation\":4}");
        } else if (f->reload == RELOAD_ERRORS) {
            status = 422;
            snprintf(body, sizeof(body), "{\"errors\":["
                     "\"conf/weir.yaml:3:11: bad address\","
                     "\"conf/weir.yaml:9:5: unknown key \\\"bogus\\\"\"]}");
        } else {
            status = 501;
            snprintf(body, sizeof(body), "{\"error\":\"reload is not "
                     "implemented yet\"}");
        }
    } else {
        status = 404;
        snprintf(body, sizeof(body), "{\"error\":\"no such endpoint\"}");
    }
    answer(fd, status, body, strlen(body));
}

/* Read one request head (and its Content-Length body) from FD. */
static void
serve_one(struct fake *f, int fd)
{
    char req[4096];
    size_t n = 0;
    char *end = NULL;

    while (n < sizeof(req) - 1) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 5000) <= 0)
            return;
        ssize_t r = recv(fd, req + n, sizeof(req) - 1 - n, 0);
        if (r <= 0)
            return;
        n += (size_t)r;
        req[n] = '\0';
        end = strstr(req, "\r\n\r\n");
        if (end == NULL)
            continue;
        const char *cl = strstr(req, "Content-Length: ");
        size_t want = cl ? strtoul(cl + 16, NULL, 10) : 0;
        if (n >= (size_t)(end + 4 - req) + want)
            break;
    }
    if (end == NULL)
        return;
    pthread_mutex_lock(&f->mu);
    f->requests++;
    sscanf(req, "%15s %255s", f->method, f->target);
    snprintf(f->body, sizeof(f->body), "%s", end + 4);
    route(f, fd);
    pthread_mutex_unlock(&f->mu);
}

static void *
fake_main(void *arg)
{
    struct fake *f = arg;
    while (!f->stop) {
        struct pollfd pfd = {.fd = f->fd, .events = POLLIN};
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        int c = accept(f->fd, NULL, NULL);
        if (c == -1)
            continue;
        serve_one(f, c);
        close(c);
    }
    return NULL;
}

static int
fake_setup(void **state)
{
    struct fake *f = calloc(1, sizeof(*f));
    struct sockaddr_un sun = {.sun_family = AF_UNIX};

    strcpy(f->dir, "/tmp/weir-itctl-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/admin.sock", f->dir);
    memcpy(sun.sun_path, f->path, strlen(f->path) + 1);
    f->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_not_equal(f->fd, -1);
    assert_int_equal(bind(f->fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    assert_int_equal(listen(f->fd, 16), 0);
    f->drained_after = 2;
    pthread_mutex_init(&f->mu, NULL);
    assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
    *state = f;
    return 0;
}

static int
fake_teardown(void **state)
{
    struct fake *f = *state;
    char cmd[256];

    f->stop = 1;
    pthread_join(f->thread, NULL);
    close(f->fd);
    pthread_mutex_destroy(&f->mu);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static char out[1 << 16], err[1 << 16];

static void
slurp(const char *path, char *buf, size_t len)
{
    FILE *fp = fopen(path, "r");
    size_t n = fp ? fread(buf, 1, len - 1, fp) : 0;
    buf[n] = '\0';
    if (fp)
        fclose(fp);
}

/* Run "[PREFIX] weirctl ARGS" in a shell; stdout into OUT, stderr into ERR.
 * Returns the exit status. */
static int
run_in(const struct fake *f, const char *prefix, const char *fmt, ...)
{
    char args[1024], cmd[4096], errpath[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    snprintf(errpath, sizeof(errpath), "%s/stderr", f->dir);
    snprintf(cmd, sizeof(cmd), "%s '%s' %s 2>'%s'", prefix ? prefix : "",
             h_weirctl_path(), args, errpath);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    slurp(errpath, err, sizeof(err));
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

#define run(f, ...) run_in((f), NULL, __VA_ARGS__)

static int
requests(struct fake *f)
{
    pthread_mutex_lock(&f->mu);
    int n = f->requests;
    pthread_mutex_unlock(&f->mu);
    return n;
}

static void
test_status_table(void **state)
{
    struct fake *f = *state;

    assert_int_equal(run(f, "-s '%s' status", f->path), 0);
    assert_string_equal(err, "");
    assert_string_equal(out,
        "generation 3, serving\n"
        "NAME               ADDRESS         STATE     HEALTH     INFLIGHT  TOTAL  WEIGHT  REASON\n"
        "agent-1            127.0.0.1:9001  enabled   healthy           3   1234      10  200 OK\n"
        "agent-2            127.0.0.1:9002  draining  healthy           2     56       1\n"
        "agent-long-name-3  [::1]:9003      enabled   unhealthy         0      0    3/10  timeout\n");
    assert_string_equal(f->method, "GET");
    assert_string_equal(f->target, "/status");
}

static void
test_status_json(void **state)
{
    struct fake *f = *state;
    char want[4096], b2[512];

    /* --json before the command, and the socket as --socket=PATH. */
    assert_int_equal(run(f, "--json --socket='%s' status", f->path), 0);
    backend2(b2, sizeof(b2), false);
    snprintf(want, sizeof(want), "{\"generation\":3,\"state\":\"serving\","
             "\"backends\":[%s,%s,%s]}\n", backend1, b2, backend3);
    assert_string_equal(out, want);
    assert_string_equal(err, "");
}

static void
test_default_socket(void **state)
{
    struct fake *f = *state;
    char prefix[512], conf[256];

    /* $WEIR_SOCKET. */
    snprintf(prefix, sizeof(prefix), "WEIR_SOCKET='%s'", f->path);
    assert_int_equal(run_in(f, prefix, "status"), 0);
    assert_non_null(strstr(out, "agent-1 "));

    /* admin.socket of conf/weir.yaml in the working directory. */
    snprintf(conf, sizeof(conf), "%s/conf", f->dir);
    assert_int_equal(mkdir(conf, 0700), 0);
    strcat(conf, "/weir.yaml");
    FILE *fp = fopen(conf, "w");
    assert_non_null(fp);
    fprintf(fp, "listeners:\n  - name: http\n    bind: 127.0.0.1:8080\n"
            "backends:\n  - name: agent-1\n    address: 127.0.0.1:9001\n"
            "admin:\n  socket: admin.sock\n");  /* relative to conf/ */
    fclose(fp);
    snprintf(prefix, sizeof(prefix), "cd '%s' && ln -s ../admin.sock conf/admin.sock "
             "&& WEIR_SOCKET= ", f->dir);
    assert_int_equal(run_in(f, prefix, "status"), 0);
    assert_non_null(strstr(out, "agent-long-name-3 "));
}

static void
test_drain_wait(void **state)
{
    struct fake *f = *state;

    long long t0 = h_now_ms();
    assert_int_equal(run(f, "-s '%s' drain agent-2 --wait --timeout 20", f->path), 0);
    assert_string_equal(out, "agent-2: drained\n");
    assert_string_equal(err, "");
    /* Drained on the third poll: two 200 ms pauses at least. */
    assert_int_equal(f->status_polls, 3);
    assert_true(h_now_ms() - t0 >= 400);
    assert_string_equal(f->target, "/status");
}

static void
test_drain_wait_json(void **state)
{
    struct fake *f = *state;
    char want[512];

    assert_int_equal(run(f, "--json -s '%s' drain agent-2 --wait", f->path), 0);
    backend2(want, sizeof(want) - 1, true);
    strcat(want, "\n");
    assert_string_equal(out, want);
}

static void
test_drain_no_wait(void **state)
{
    struct fake *f = *state;

    assert_int_equal(run(f, "-s '%s' drain agent-2", f->path), 0);
    assert_string_equal(out, "agent-2: draining (2 in flight)\n");
    assert_string_equal(f->method, "POST");
    assert_string_equal(f->target, "/backends/agent-2/drain");
    assert_int_equal(f->status_polls, 0);

    /* Already drained: --wait returns at once. */
    f->drained_after = 0;
    assert_int_equal(run(f, "-s '%s' drain agent-2 --wait", f->path), 0);
    assert_string_equal(out, "agent-2: drained\n");
    assert_int_equal(f->status_polls, 0);
}

static void
test_drain_wait_timeout(void **state)
{
    struct fake *f = *state;

    f->drained_after = -1;
    long long t0 = h_now_ms();
    assert_int_equal(run(f, "-s '%s' drain --timeout 1 --wait agent-2", f->path), 3);
    long long took = h_now_ms() - t0;
    assert_true(took >= 1000);
    assert_true(took < 5000);
    assert_string_equal(out, "");
    assert_string_equal(err, "weirctl: timed out after 1s: agent-2 is still "
                             "draining (2 in flight)\n");
    assert_true(f->status_polls >= 4);
}

/* Someone enables the backend while weirctl waits: that is a failure. */
static void
test_drain_wait_reenabled(void **state)
{
    struct fake *f = *state;

    f->reenabled = true;
    assert_int_equal(run(f, "-s '%s' drain agent-2 --wait", f->path), 1);
    assert_string_equal(out, "");
    assert_string_equal(err, "weirctl: agent-2 was enabled again while "
                             "waiting for it to drain\n");
    assert_int_equal(f->status_polls, 1);
}

/* drain --wait on a terminal: progress on one line rewritten with \r. */
static void
test_drain_progress_on_tty(void **state)
{
    struct fake *f = *state;
    char buf[4096];
    size_t n = 0;

    int master = posix_openpt(O_RDWR | O_NOCTTY);
    assert_true(master >= 0);
    assert_int_equal(grantpt(master), 0);
    assert_int_equal(unlockpt(master), 0);
    const char *slave = ptsname(master);
    assert_non_null(slave);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setsid();
        int s = open(slave, O_RDWR);
        if (s == -1)
            _exit(99);
        dup2(s, STDOUT_FILENO);
        dup2(s, STDERR_FILENO);
        execl(h_weirctl_path(), "weirctl", "-s", f->path, "drain", "agent-2",
              "--wait", (char *)NULL);
        _exit(98);
    }
    int status;
    for (;;) {
        struct pollfd pfd = {.fd = master, .events = POLLIN};
        if (poll(&pfd, 1, 10000) <= 0)
            break;
        ssize_t r = read(master, buf + n, sizeof(buf) - 1 - n);
        if (r <= 0)             /* EIO once the child has exited */
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    assert_int_equal(waitpid(pid, &status, 0), pid);
    close(master);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_non_null(strstr(buf, "\rdraining agent-2: 2 in flight"));
    /* The progress line is ended before the final message (the terminal
     * turns \n into \r\n). */
    assert_non_null(strstr(buf, "\r\nagent-2: drained\r\n"));
}

static void
test_unknown_backend(void **state)
{
    struct fake *f = *state;

    assert_int_equal(run(f, "-s '%s' drain nosuch --wait", f->path), 2);
    assert_string_equal(err, "weirctl: unknown backend nosuch\n");
    assert_string_equal(out, "");
    assert_int_equal(f->status_polls, 0);
    assert_int_equal(run(f, "-s '%s' enable nosuch", f->path), 2);
    assert_string_equal(err, "weirctl: unknown backend nosuch\n");
    assert_int_equal(run(f, "-s '%s' weight nosuch 3", f->path), 2);
    assert_string_equal(err, "weirctl: unknown backend nosuch\n");
    /* --json: the server's body, same exit code. */
    assert_int_equal(run(f, "-s '%s' --json enable nosuch", f->path), 2);
    assert_string_equal(out, "{\"error\":\"unknown backend\"}\n");
    /* Names are percent-encoded in the path. */
    assert_int_equal(run(f, "-s '%s' enable 'a b/c'", f->path), 2);
    assert_string_equal(f->target, "/backends/a%20b%2Fc/enable");
}

static void
test_enable_and_weight(void **state)
{
    struct fake *f = *state;

    assert_int_equal(run(f, "-s '%s' enable agent-1", f->path), 0);
    assert_string_equal(out, "agent-1: enabled (health: healthy)\n");
    assert_string_equal(f->method, "POST");
    assert_string_equal(f->target, "/backends/agent-1/enable");

    assert_int_equal(run(f, "-s '%s' weight agent-1 5", f->path), 0);
    assert_string_equal(out, "agent-1: weight 5\n");
    assert_string_equal(f->method, "PUT");
    assert_string_equal(f->target, "/backends/agent-1/weight");
    assert_string_equal(f->body, "{\"weight\":5}");
    assert_int_equal(run(f, "-s '%s' weight agent-1 0", f->path), 0);
    assert_string_equal(f->body, "{\"weight\":0}");
    assert_int_equal(run(f, "-s '%s' weight agent-1 256", f->path), 0);
    assert_string_equal(f->body, "{\"weight\":256}");
    assert_int_equal(run(f, "-s '%s' --json weight agent-1 7", f->path), 0);
    assert_string_equal(out, "{\"name\":\"agent-1\",\"state\":\"enabled\","
                             "\"weight\":7,\"effective_weight\":7}\n");
}

static void
test_weight_validation(void **state)
{
    struct fake *f = *state;
    static const char *const bad[] = {"257", "-1", "abc", "''", "1.5", "0x10",
                                      "1000", "+5", "5a"};
    int before = requests(f);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(run(f, "-s '%s' weight agent-1 %s", f->path, bad[i]), 2);
        assert_non_null(strstr(err, "weight must be an integer from 0 to 256"));
    }
    assert_int_equal(run(f, "-s '%s' weight agent-1", f->path), 2);
    assert_int_equal(run(f, "-s '%s' weight agent-1 1 2", f->path), 2);
    /* Nothing reached the server. */
    assert_int_equal(requests(f), before);
}

static void
test_reload(void **state)
{
    struct fake *f = *state;

    assert_int_equal(run(f, "-s '%s' reload", f->path), 0);
    assert_string_equal(out, "reloaded: generation 4\n");
    assert_string_equal(f->method, "POST");
    assert_string_equal(f->target, "/reload");

    f->reload = RELOAD_ERRORS;
    assert_int_equal(run(f, "-s '%s' reload", f->path), 2);
    assert_string_equal(out, "");
    assert_string_equal(err, "conf/weir.yaml:3:11: bad address\n"
                             "conf/weir.yaml:9:5: unknown key \"bogus\"\n");
    assert_int_equal(run(f, "-s '%s' reload --json", f->path), 2);
    assert_non_null(strstr(out, "{\"errors\":["));

    f->reload = RELOAD_501;
    assert_int_equal(run(f, "-s '%s' reload", f->path), 1);
    assert_string_equal(err, "weirctl: reload: HTTP 501: reload is not "
                             "implemented yet\n");
}

static void
test_no_server(void **state)
{
    struct fake *f = *state;
    char want[512], stale[160];

    assert_int_equal(run(f, "-s '%s/none.sock' status", f->dir), 1);
    snprintf(want, sizeof(want), "weirctl: cannot connect to %s/none.sock: "
             "No such file or directory (is weir running?)\n", f->dir);
    assert_string_equal(err, want);
    assert_string_equal(out, "");

    /* A stale socket file nobody listens on. */
    snprintf(stale, sizeof(stale), "%s/stale.sock", f->dir);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    memcpy(sun.sun_path, stale, strlen(stale) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    close(fd);
    assert_int_equal(run(f, "-s '%s' drain agent-2 --wait", stale), 1);
    snprintf(want, sizeof(want), "weirctl: cannot connect to %s: Connection "
             "refused (is weir running?)\n", stale);
    assert_string_equal(err, want);

    /* A path too long for a Unix socket is a usage error. */
    char longpath[300];
    memset(longpath, 'x', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = '\0';
    assert_int_equal(run(f, "-s /tmp/%s status", longpath), 2);
    assert_non_null(strstr(err, "socket path is too long"));
}

static void
test_bad_answers(void **state)
{
    struct fake *f = *state;

    f->status = STATUS_GARBAGE;
    assert_int_equal(run(f, "-s '%s' status", f->path), 1);
    assert_non_null(strstr(err, "weirctl: invalid JSON from weir (HTTP 200): "));
    /* --json passes the body through untouched, whatever it is. */
    assert_int_equal(run(f, "-s '%s' --json status", f->path), 0);
    assert_string_equal(out, "{\"generation\":3,\n");

    f->status = STATUS_500;
    assert_int_equal(run(f, "-s '%s' status", f->path), 1);
    assert_string_equal(err, "weirctl: status: HTTP 500: internal trouble\n");
    assert_int_equal(run(f, "-s '%s' drain agent-2 --wait", f->path), 1);
    assert_string_equal(err, "weirctl: drain: HTTP 500: internal trouble\n");

    f->status = STATUS_HUGE;
    assert_int_equal(run(f, "-s '%s' status", f->path), 1);
    assert_non_null(strstr(err, "the answer is larger than 4194304 bytes"));
}

/* A server that accepts and never answers: weirctl gives up after 10 s. */
static void
test_silent_server(void **state)
{
    struct fake *f = *state;

    f->status = STATUS_SILENT;
    long long t0 = h_now_ms();
    assert_int_equal(run(f, "-s '%s' status", f->path), 1);
    long long took = h_now_ms() - t0;
    assert_true(took >= 9500 && took < 15000);
    char want[256];
    snprintf(want, sizeof(want), "weirctl: %s: no complete answer within "
             "10.0 s\n", f->path);
    assert_string_equal(err, want);
}

static void
test_usage(void **state)
{
    struct fake *f = *state;

    assert_int_equal(run(f, "--help"), 0);
    assert_non_null(strstr(out, "usage: weirctl"));
    assert_string_equal(err, "");
    assert_int_equal(run(f, "-h"), 0);
    assert_int_equal(run(f, ""), 2);
    assert_non_null(strstr(err, "usage: weirctl"));
    assert_int_equal(run(f, "frobnicate"), 2);
    assert_non_null(strstr(err, "unknown command 'frobnicate'"));
    assert_int_equal(run(f, "--bogus status"), 2);
    assert_non_null(strstr(err, "unknown option --bogus"));
    assert_int_equal(run(f, "status extra"), 2);
    assert_int_equal(run(f, "drain"), 2);
    assert_int_equal(run(f, "-s"), 2);
    assert_int_equal(run(f, "status --wait"), 2);
    assert_int_equal(run(f, "drain agent-2 --timeout 5"), 2);
    assert_non_null(strstr(err, "--timeout needs --wait"));
    assert_int_equal(run(f, "drain agent-2 --wait --timeout soon"), 2);
    assert_non_null(strstr(err, "bad --timeout 'soon'"));
    assert_int_equal(requests(f), 0);
}

int
main(void)
{
    signal(SIGPIPE, SIG_IGN);
#define T(name) cmocka_unit_test_setup_teardown(name, fake_setup, fake_teardown)
    const struct CMUnitTest tests[] = {
        T(test_status_table),
        T(test_status_json),
        T(test_default_socket),
        T(test_drain_wait),
        T(test_drain_wait_json),
        T(test_drain_no_wait),
        T(test_drain_wait_timeout),
        T(test_drain_wait_reenabled),
        T(test_drain_progress_on_tty),
        T(test_unknown_backend),
        T(test_enable_and_weight),
        T(test_weight_validation),
        T(test_reload),
        T(test_no_server),
        T(test_bad_answers),
        T(test_silent_server),
        T(test_usage),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
