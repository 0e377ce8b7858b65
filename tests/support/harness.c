/* Test harness: processes, readiness polling, and a small HTTP client built
 * on http-parser. Every wait is bounded by a deadline. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define H_START_TIMEOUT_MS 10000
#define H_IO_TIMEOUT_MS 20000

long long
h_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
h_env_init(struct h_env *env)
{
    memset(env, 0, sizeof(*env));
    snprintf(env->dir, sizeof(env->dir), "/tmp/weir-it-XXXXXX");
    if (mkdtemp(env->dir) == NULL) {
        perror("mkdtemp");
        abort();
    }
    signal(SIGPIPE, SIG_IGN);
}

void
h_env_fini(struct h_env *env)
{
    char cmd[256];
    if (env->weir.pid > 0)
        h_proc_stop(&env->weir, SIGKILL, 5000);
    for (size_t i = 0; i < env->nbackends; i++)
        if (env->backends[i].pid > 0)
            h_proc_stop(&env->backends[i], SIGKILL, 5000);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", env->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "harness: could not remove %s\n", env->dir);
}

int
h_free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd == -1 || bind(fd, (struct sockaddr *)&a, sizeof(a)) == -1 ||
        getsockname(fd, (struct sockaddr *)&a, &len) == -1) {
        if (fd != -1)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* Every process the harness started, so that a test that fails half-way
 * (cmocka jumps out of it) leaks none past the test program's exit. */
static pid_t spawned[256];
static size_t nspawned;

static void
kill_spawned(void)
{
    for (size_t i = 0; i < nspawned; i++)
        if (spawned[i] > 0 && kill(spawned[i], 0) == 0) {
            kill(spawned[i], SIGKILL);
            waitpid(spawned[i], NULL, 0);
        }
}

/* PID was reaped: its number may be reused, never kill it again. */
static void
forget(pid_t pid)
{
    for (size_t i = 0; i < nspawned; i++)
        if (spawned[i] == pid)
            spawned[i] = 0;
}

static void
remember(pid_t pid)
{
    if (nspawned == 0)
        atexit(kill_spawned);
    if (nspawned < sizeof(spawned) / sizeof(spawned[0]))
        spawned[nspawned++] = pid;
}

/* fork/exec ARGV with stdout into a pipe (returned in *out_fd, or -1 to
 * send it to the log) and stderr into LOG. */
static pid_t
spawn(char *const argv[], const char *log, int *out_fd)
{
    int pfd[2] = {-1, -1};
    if (out_fd != NULL && pipe(pfd) == -1)
        return -1;
    pid_t pid = fork();
    if (pid == -1)
        return -1;
    if (pid == 0) {
        int lfd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (lfd != -1) {
            dup2(lfd, 2);
            if (out_fd == NULL)
                dup2(lfd, 1);
        }
        if (out_fd != NULL) {
            dup2(pfd[1], 1);
            close(pfd[0]);
            close(pfd[1]);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    if (out_fd != NULL) {
        close(pfd[1]);
        *out_fd = pfd[0];
    }
    remember(pid);
    return pid;
}

int
h_backend_start(struct h_env *env, const char *name, const char *const *args)
{
    char *argv[32];
    size_t n = 0;
    int out = -1;

    if (env->nbackends == H_MAX_BACKENDS)
        return -1;
    struct h_proc *p = &env->backends[env->nbackends];
    snprintf(p->name, sizeof(p->name), "%s", name);
    char path[sizeof(p->log_path)];
    snprintf(path, sizeof(path), "%s/%s.log", env->dir, name);
    memcpy(p->log_path, path, sizeof(path));
    argv[n++] = (char *)WEIR_DEMO_BACKEND_BIN;
    argv[n++] = (char *)"--name";
    argv[n++] = (char *)name;
    argv[n++] = (char *)"--listen";
    argv[n++] = (char *)"127.0.0.1:0";
    for (size_t i = 0; args != NULL && args[i] != NULL && n < 30; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    p->pid = spawn(argv, p->log_path, &out);
    if (p->pid == -1)
        return -1;
    env->nbackends++;

    /* First stdout line: "listening 127.0.0.1:PORT". */
    char line[128];
    size_t got = 0;
    long long deadline = h_now_ms() + H_START_TIMEOUT_MS;
    while (got < sizeof(line) - 1 && h_now_ms() < deadline) {
        struct pollfd pf = {.fd = out, .events = POLLIN};
        if (poll(&pf, 1, 100) <= 0)
            continue;
        ssize_t r = read(out, line + got, 1);
        if (r <= 0)
            break;
        if (line[got] == '\n')
            break;
        got++;
    }
    line[got] = '\0';
    close(out);
    const char *colon = strrchr(line, ':');
    if (strncmp(line, "listening ", 10) != 0 || colon == NULL) {
        fprintf(stderr, "harness: backend %s did not start: '%s'\n", name, line);
        return -1;
    }
    p->port = atoi(colon + 1);
    return 0;
}

int
h_backend_add(struct h_env *env, const char *name, int port)
{
    if (env->nbackends == H_MAX_BACKENDS)
        return -1;
    struct h_proc *p = &env->backends[env->nbackends++];
    memset(p, 0, sizeof(*p));
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->port = port;
    return 0;
}

int
h_write_config(struct h_env *env, const char *extra_yaml)
{
    char path[sizeof(env->config_path)];
    snprintf(path, sizeof(path), "%s/weir.yaml", env->dir);
    memcpy(env->config_path, path, sizeof(path));
    FILE *f = fopen(env->config_path, "w");
    if (f == NULL)
        return -1;
    env->weir.port = h_free_port();
    fprintf(f, "listeners:\n  - name: http\n    bind: 127.0.0.1:%d\n",
            env->weir.port);
    fprintf(f, "backends:\n");
    for (size_t i = 0; i < env->nbackends; i++)
        fprintf(f, "  - name: %s\n    address: 127.0.0.1:%d\n",
                env->backends[i].name, env->backends[i].port);
    /* A test that configures the admin block itself writes all of it. */
    if (extra_yaml == NULL || strncmp(extra_yaml, "admin:", 6) != 0)
        fprintf(f, "admin:\n  socket: %s/admin.sock\n", env->dir);
    fprintf(f, "logging:\n  level: debug\n  access_log: off\n");
    if (extra_yaml != NULL)
        fputs(extra_yaml, f);
    return fclose(f) == 0 ? 0 : -1;
}

static bool
port_accepts(int port)
{
    int fd = h_connect(port);
    if (fd == -1)
        return false;
    close(fd);
    return true;
}

static bool
unix_accepts(const char *path)
{
    int fd = h_connect_unix(path);
    if (fd == -1)
        return false;
    close(fd);
    return true;
}

const char *
h_weirctl_path(void)
{
    static char path[1024];
    snprintf(path, sizeof(path), "%s", WEIR_BIN);
    char *slash = strrchr(path, '/');
    size_t dir = slash != NULL ? (size_t)(slash + 1 - path) : 0;
    snprintf(path + dir, sizeof(path) - dir, "weirctl");
    return path;
}

int
h_weir_start(struct h_env *env)
{
    /* WEIR_TEST_WRAPPER runs weir under a tool, e.g. "valgrind -q
     * --error-exitcode=99 --leak-check=full": then a memory error makes
     * the exit status (checked by every test) wrong. */
    char *argv[16], *wrapper = getenv("WEIR_TEST_WRAPPER"), *copy = NULL;
    size_t n = 0;
    struct h_proc *p = &env->weir;
    if (wrapper != NULL && (copy = strdup(wrapper)) != NULL) {
        for (char *tok = strtok(copy, " "); tok != NULL && n < 12;
             tok = strtok(NULL, " "))
            argv[n++] = tok;
    }
    argv[n++] = (char *)WEIR_BIN;
    argv[n++] = (char *)"-c";
    argv[n++] = env->config_path;
    argv[n] = NULL;

    snprintf(p->name, sizeof(p->name), "weir");
    char path[sizeof(p->log_path)];
    snprintf(path, sizeof(path), "%s/weir.log", env->dir);
    memcpy(p->log_path, path, sizeof(path));
    p->pid = spawn(argv, p->log_path, NULL);
    free(copy);
    if (p->pid == -1)
        return -1;
    long long deadline = h_now_ms() + H_START_TIMEOUT_MS * (wrapper ? 3 : 1);
    char sock[300], text[8192] = "";
    snprintf(sock, sizeof(sock), "%s/admin.sock", env->dir);
    FILE *cf = fopen(env->config_path, "r");
    if (cf != NULL) {
        text[fread(text, 1, sizeof(text) - 1, cf)] = '\0';
        fclose(cf);
    }
    bool wants_sock = strstr(text, sock) != NULL;
    while (h_now_ms() < deadline) {
        int status;
        if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
            forget(p->pid);
            p->pid = 0;
            h_dump_log(p);
            return -1;
        }
        /* Ready when the proxy port accepts, and the admin socket too
         * (it is created just after the listeners). */
        if (port_accepts(p->port) && (!wants_sock || unix_accepts(sock)))
            return 0;
        poll(NULL, 0, 10);
    }
    h_dump_log(p);
    return -1;
}

int
h_proc_stop(struct h_proc *p, int sig, int timeout_ms)
{
    int status;
    if (p->pid <= 0)
        return -1;
    kill(p->pid, sig);
    long long deadline = h_now_ms() + timeout_ms;
    while (h_now_ms() < deadline) {
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid) {
            forget(p->pid);
            p->pid = 0;
            if (WIFEXITED(status))
                return WEXITSTATUS(status);
            return 128 + WTERMSIG(status);
        }
        poll(NULL, 0, 10);
    }
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &status, 0);
    forget(p->pid);
    p->pid = 0;
    return -1;
}

long
h_status_kib(pid_t pid, const char *field)
{
    char path[64], line[256];
    size_t flen = strlen(field);
    long kib = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            kib = strtol(line + flen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib;
}

long
h_rss_kib(pid_t pid)
{
    return h_status_kib(pid, "VmRSS");
}

void
h_dump_log(const struct h_proc *p)
{
    char line[1024];
    FILE *f = fopen(p->log_path, "r");
    if (f == NULL)
        return;
    fprintf(stderr, "---- %s log (%s) ----\n", p->name, p->log_path);
    while (fgets(line, sizeof(line), f) != NULL)
        fputs(line, stderr);
    fprintf(stderr, "---- end of %s log ----\n", p->name);
    fclose(f);
}

/* ---- HTTP client ---- */

int
h_connect(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {.tv_sec = H_IO_TIMEOUT_MS / 1000};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd == -1)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == -1) {
        close(fd);
        return -1;
    }
    return fd;
}

int
h_wait_port(int port, int timeout_ms)
{
    long long deadline = h_now_ms() + timeout_ms;
    while (h_now_ms() < deadline) {
        int fd = h_connect(port);
        if (fd != -1) {
            close(fd);
            return 0;
        }
        poll(NULL, 0, 10);
    }
    return -1;
}

int
h_connect_unix(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    struct timeval tv = {.tv_sec = H_IO_TIMEOUT_MS / 1000};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1 || strlen(path) >= sizeof(a.sun_path)) {
        if (fd != -1)
            close(fd);
        return -1;
    }
    memcpy(a.sun_path, path, strlen(path) + 1);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == -1) {
        close(fd);
        return -1;
    }
    return fd;
}

int
h_unix_request(const char *path, const char *raw, struct h_response *r)
{
    int fd = h_connect_unix(path);
    if (fd == -1)
        return -1;
    int rc = h_send_all(fd, raw, strlen(raw));
    if (rc == 0)
        rc = h_read_response(fd, r, false);
    close(fd);
    return rc;
}

int
h_send_all(int fd, const void *p, size_t len)
{
    const char *c = p;
    while (len > 0) {
        ssize_t n = send(fd, c, len, MSG_NOSIGNAL);
        if (n <= 0) {
            if (n == -1 && errno == EINTR)
                continue;
            return -1;
        }
        c += n;
        len -= (size_t)n;
    }
    return 0;
}

struct h_reader {
    struct h_response *r;
    size_t body_cap;
    bool headers_done;
};

static int
on_body(http_parser *p, const char *at, size_t len)
{
    struct h_reader *rd = p->data;
    struct h_response *r = rd->r;
    if (r->body_len + len + 1 > rd->body_cap) {
        size_t cap = rd->body_cap ? rd->body_cap : 4096;
        while (cap < r->body_len + len + 1)
            cap *= 2;
        char *nb = realloc(r->body, cap);
        if (nb == NULL)
            return -1;
        r->body = nb;
        rd->body_cap = cap;
    }
    memcpy(r->body + r->body_len, at, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return 0;
}

static int
on_headers_complete(http_parser *p)
{
    struct h_reader *rd = p->data;
    rd->headers_done = true;
    rd->r->status = (int)p->status_code;
    rd->r->chunked = (p->flags & F_CHUNKED) != 0;
    return 0;
}

static int
on_headers_complete_skip(http_parser *p)
{
    on_headers_complete(p);
    return 1;
}

static int
on_message_complete(http_parser *p)
{
    struct h_reader *rd = p->data;
    rd->r->complete = true;
    rd->r->keep_alive = http_should_keep_alive(p) != 0;
    http_parser_pause(p, 1);
    return 0;
}

int
h_read_response(int fd, struct h_response *r, bool head_only)
{
    http_parser p;
    http_parser_settings s = {
        .on_body = on_body,
        .on_headers_complete = head_only ? on_headers_complete_skip
                                         : on_headers_complete,
        .on_message_complete = on_message_complete,
    };
    struct h_reader rd = {.r = r};
    size_t head_len = 0;
    char chunk[65536];

    memset(r, 0, sizeof(*r));
    http_parser_init(&p, HTTP_RESPONSE);
    p.data = &rd;
    /* Read byte-exact so a following response on the connection stays in
     * the socket: peek, parse, then consume only what was parsed. */
    while (!r->complete) {
        ssize_t n = recv(fd, chunk, sizeof(chunk), MSG_PEEK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0 && rd.headers_done)
                http_parser_execute(&p, &s, NULL, 0);
            break;
        }
        bool head_was_done = rd.headers_done;
        size_t used = http_parser_execute(&p, &s, chunk, (size_t)n);
        enum http_errno e = HTTP_PARSER_ERRNO(&p);
        if (e != HPE_OK && e != HPE_PAUSED)
            return -1;
        if (!head_was_done) {
            size_t copy = used;
            if (head_len + copy > sizeof(r->head) - 1)
                copy = sizeof(r->head) - 1 - head_len;
            memcpy(r->head + head_len, chunk, copy);
            head_len += copy;
            r->head[head_len] = '\0';
        }
        if (recv(fd, chunk, used, 0) != (ssize_t)used)
            return -1;
    }
    /* Trim the head copy at its blank line. */
    char *end = strstr(r->head, "\r\n\r\n");
    if (end != NULL)
        end[4] = '\0';
    if (r->body == NULL) {
        r->body = calloc(1, 1);
    }
    return rd.headers_done ? 0 : -1;
}

void
h_response_fini(struct h_response *r)
{
    free(r->body);
    r->body = NULL;
}

const char *
h_header(const struct h_response *r, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    const char *line = strstr(r->head, "\r\n");
    while (line != NULL) {
        line += 2;
        if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t len = e ? (size_t)(e - v) : strlen(v);
            if (len >= outlen)
                len = outlen - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            return out;
        }
        line = strstr(line, "\r\n");
    }
    return NULL;
}

int
h_request(int port, const char *raw, struct h_response *r)
{
    int fd = h_connect(port);
    if (fd == -1)
        return -1;
    int rc = h_send_all(fd, raw, strlen(raw));
    if (rc == 0)
        rc = h_read_response(fd, r, strncmp(raw, "HEAD ", 5) == 0);
    close(fd);
    return rc;
}

int
h_get(int port, const char *path, struct h_response *r)
{
    char raw[1024];
    snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: test\r\n\r\n", path);
    return h_request(port, raw, r);
}

struct h_parallel {
    int port;
    const char *path;
    int remaining;
    int done;
    h_response_fn *cb;
    void *arg;
    pthread_mutex_t mu;
};

static void *
parallel_worker(void *p)
{
    struct h_parallel *par = p;
    for (;;) {
        pthread_mutex_lock(&par->mu);
        if (par->remaining == 0) {
            pthread_mutex_unlock(&par->mu);
            return NULL;
        }
        par->remaining--;
        pthread_mutex_unlock(&par->mu);
        struct h_response r;
        int rc = h_get(par->port, par->path, &r);
        pthread_mutex_lock(&par->mu);
        if (rc == 0) {
            par->done++;
            if (par->cb)
                par->cb(&r, par->arg);
        }
        pthread_mutex_unlock(&par->mu);
        h_response_fini(&r);
    }
}

int
h_parallel_get(int port, const char *path, int total, int concurrency,
               h_response_fn *cb, void *arg)
{
    struct h_parallel par = {.port = port, .path = path, .remaining = total,
                             .cb = cb, .arg = arg};
    pthread_t threads[64];
    int n = concurrency > 64 ? 64 : concurrency;

    pthread_mutex_init(&par.mu, NULL);
    for (int i = 0; i < n; i++)
        pthread_create(&threads[i], NULL, parallel_worker, &par);
    for (int i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
    pthread_mutex_destroy(&par.mu);
    return par.done;
}

static int
count_in_file(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int n = 0;
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strstr(line, needle) != NULL)
            n++;
    fclose(f);
    return n;
}

int
h_wait_log(const char *path, const char *needle, int count, int timeout_ms)
{
    long long deadline = h_now_ms() + timeout_ms;
    while (h_now_ms() < deadline) {
        if (count_in_file(path, needle) >= count)
            return 0;
        poll(NULL, 0, 10);
    }
    return -1;
}

static void *
raw_worker(void *p)
{
    struct h_raw *raw = p;
    char scratch[65536];

    while (!raw->stop) {
        struct pollfd pf = {.fd = raw->fd, .events = POLLIN};
        if (poll(&pf, 1, 50) <= 0)
            continue;
        int c = accept(raw->fd, NULL, NULL);
        if (c == -1)
            continue;
        for (int k = 0;; k++) {
            struct pollfd cf = {.fd = c, .events = POLLIN};
            ssize_t got;
            if (poll(&cf, 1, 2000) <= 0 || (got = recv(c, scratch, sizeof(scratch), 0)) <= 0)
                break;
            /* Weir's health checks are counted apart from proxied traffic. */
            if (k == 0 && got >= 12 && memcmp(scratch, "GET /health ", 12) == 0)
                raw->health_checks++;
            else if (k == 0)
                raw->accepted++;
            if (raw->keepalive > 0 && k >= raw->keepalive)
                break; /* the next request on a reused connection dies */
            (void)send(c, raw->reply, strlen(raw->reply), MSG_NOSIGNAL);
            if (raw->keepalive == 0)
                break;
        }
        close(c);
    }
    return NULL;
}

int
h_raw_start(struct h_raw *raw, const char *reply, bool accept_conns)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);

    memset(raw, 0, sizeof(*raw));
    raw->reply = reply;
    raw->accept = accept_conns;
    for (size_t i = 0; i < 4; i++)
        raw->fillers[i] = -1;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    raw->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (raw->fd == -1 || bind(raw->fd, (struct sockaddr *)&a, sizeof(a)) == -1 ||
        listen(raw->fd, accept_conns ? 64 : 0) == -1 ||
        getsockname(raw->fd, (struct sockaddr *)&a, &len) == -1)
        return -1;
    raw->port = ntohs(a.sin_port);
    if (!accept_conns) {
        /* Linux queues backlog+1 connections; fill the queue with
         * non-blocking connects so the next SYN is dropped. */
        for (size_t i = 0; i < 4; i++) {
            raw->fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            (void)connect(raw->fillers[i], (struct sockaddr *)&a, sizeof(a));
        }
        return 0;
    }
    return pthread_create(&raw->thread, NULL, raw_worker, raw) == 0 ? 0 : -1;
}

void
h_raw_stop(struct h_raw *raw)
{
    raw->stop = 1;
    if (raw->accept)
        pthread_join(raw->thread, NULL);
    for (size_t i = 0; i < 4; i++)
        if (raw->fillers[i] != -1)
            close(raw->fillers[i]);
    close(raw->fd);
}

static void *
load_worker(void *p)
{
    struct h_load *ld = p;
    for (int i = 0; !ld->stop && i < 5000; i++) {
        struct h_response r;
        int rc = h_get(ld->port, i % 3 == 0 ? ld->slow_path : "/", &r);
        pthread_mutex_lock(&ld->mu);
        if (rc == 0 && r.status == 200)
            ld->ok++;
        else
            ld->failed++;
        pthread_mutex_unlock(&ld->mu);
        if (rc == 0)
            h_response_fini(&r);
    }
    return NULL;
}

void
h_load_start(struct h_load *ld, int port, int threads, const char *slow_path)
{
    memset(ld, 0, sizeof(*ld));
    ld->port = port;
    ld->slow_path = slow_path;
    ld->nthreads = threads > 16 ? 16 : threads;
    pthread_mutex_init(&ld->mu, NULL);
    for (int i = 0; i < ld->nthreads; i++)
        pthread_create(&ld->threads[i], NULL, load_worker, ld);
}

static int
load_ok(struct h_load *ld)
{
    pthread_mutex_lock(&ld->mu);
    int n = ld->ok;
    pthread_mutex_unlock(&ld->mu);
    return n;
}

void
h_load_wait(struct h_load *ld, int more)
{
    int target = load_ok(ld) + more;
    long long deadline = h_now_ms() + 10000;
    while (load_ok(ld) < target && h_now_ms() < deadline)
        poll(NULL, 0, 10);
}

void
h_load_stop(struct h_load *ld)
{
    ld->stop = 1;
    for (int i = 0; i < ld->nthreads; i++)
        pthread_join(ld->threads[i], NULL);
    pthread_mutex_destroy(&ld->mu);
}

/* ---- Recording backend (issue 9: framing, limits and faults) ---- */

#define REC_PREFIX "GET /health "
#define REC_PREFIX_LEN (sizeof(REC_PREFIX) - 1)

enum rec_kind { REC_UNKNOWN, REC_TRAFFIC, REC_HEALTH };

struct rec_conn {
    struct h_rec *rec;
    int fd;
    enum rec_kind kind;
    char prefix[REC_PREFIX_LEN];  /* bytes held until the kind is known */
    size_t plen;
    http_parser parser;
    bool broken;                  /* the parser gave up on this one */
    int due;                      /* requests complete, not yet answered */
};

static int
rec_on_message_complete(http_parser *p)
{
    struct rec_conn *c = p->data;
    c->due++;
    return 0;
}

static const http_parser_settings rec_settings = {
    .on_message_complete = rec_on_message_complete,
};

/* Bytes of a classified connection: count, capture, parse. */
static void
rec_feed(struct rec_conn *c, const char *p, size_t len)
{
    struct h_rec *rec = c->rec;

    if (c->kind == REC_TRAFFIC && len > 0) {
        pthread_mutex_lock(&rec->mu);
        rec->st.bytes += (long)len;
        size_t room = sizeof(rec->capture) - 1 - rec->capture_len;
        size_t n = len < room ? len : room;
        memcpy(rec->capture + rec->capture_len, p, n);
        rec->capture_len += n;
        rec->capture[rec->capture_len] = '\0';
        pthread_mutex_unlock(&rec->mu);
    }
    if (c->broken || len == 0)
        return;
    size_t used = http_parser_execute(&c->parser, &rec_settings, p, len);
    if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK || used != len)
        c->broken = true;
}

static void
rec_classify(struct rec_conn *c)
{
    struct h_rec *rec = c->rec;

    c->kind = c->plen == REC_PREFIX_LEN &&
              memcmp(c->prefix, REC_PREFIX, REC_PREFIX_LEN) == 0
                  ? REC_HEALTH : REC_TRAFFIC;
    if (c->kind == REC_TRAFFIC) {
        pthread_mutex_lock(&rec->mu);
        rec->st.conns++;
        rec->st.open++;
        pthread_mutex_unlock(&rec->mu);
    }
    rec_feed(c, c->prefix, c->plen);
}

/* Answer what is due. Returns false when the connection is to close. */
static bool
rec_answer(struct rec_conn *c)
{
    static const char health[] =
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    struct h_rec *rec = c->rec;

    for (; c->due > 0; c->due--) {
        if (c->kind == REC_HEALTH) {
            (void)send(c->fd, health, sizeof(health) - 1, MSG_NOSIGNAL);
            return false;
        }
        pthread_mutex_lock(&rec->mu);
        const char *reply = rec->reply;
        bool close_after = rec->close_after, reset = rec->reset;
        rec->st.requests++;
        pthread_mutex_unlock(&rec->mu);
        (void)h_send_all(c->fd, reply, strlen(reply));
        if (close_after && reset) {
            /* What was sent still goes out first: wait (bounded) until
             * the send queue is empty, then close with a reset. */
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            long long deadline = h_now_ms() + 2000;
            int queued;
            while (ioctl(c->fd, TIOCOUTQ, &queued) == 0 && queued > 0 &&
                   h_now_ms() < deadline)
                poll(NULL, 0, 1);
            setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        }
        if (close_after)
            return false;
    }
    return true;
}

/* Read what is there. Returns false when the connection is to close;
 * *BY_PEER then says whether Weir closed it. */
static bool
rec_read(struct rec_conn *c, bool *by_peer)
{
    char buf[16384];
    ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

    if (n <= 0) {
        if (n == -1 && (errno == EINTR || errno == EAGAIN))
            return true;
        if (c->kind == REC_UNKNOWN)
            rec_classify(c);
        *by_peer = true;
        return false;
    }
    size_t off = 0;
    if (c->kind == REC_UNKNOWN) {
        size_t take = REC_PREFIX_LEN - c->plen;
        if (take > (size_t)n)
            take = (size_t)n;
        memcpy(c->prefix + c->plen, buf, take);
        c->plen += take;
        off = take;
        if (c->plen < REC_PREFIX_LEN &&
            memcmp(c->prefix, REC_PREFIX, c->plen) == 0)
            return true; /* could still be a health check */
        rec_classify(c);
    }
    rec_feed(c, buf + off, (size_t)n - off);
    *by_peer = false;
    return rec_answer(c);
}

static void
rec_close(struct rec_conn *c, bool by_peer)
{
    struct h_rec *rec = c->rec;

    if (c->kind == REC_TRAFFIC) {
        pthread_mutex_lock(&rec->mu);
        rec->st.open--;
        if (by_peer)
            rec->st.closed_by_weir++;
        pthread_mutex_unlock(&rec->mu);
    }
    close(c->fd);
    c->fd = -1;
}

static void *
rec_worker(void *arg)
{
    struct h_rec *rec = arg;
    struct rec_conn *conns = calloc(H_REC_MAX_CONNS, sizeof(*conns));
    struct pollfd pfd[H_REC_MAX_CONNS + 1];
    int n = 0;

    if (conns == NULL)
        return NULL;
    while (!rec->stop) {
        pfd[0] = (struct pollfd){.fd = n < H_REC_MAX_CONNS ? rec->fd : -1,
                                 .events = POLLIN};
        for (int i = 0; i < n; i++)
            pfd[i + 1] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
        if (poll(pfd, (nfds_t)n + 1, 50) <= 0)
            continue;
        int before = n;
        if (pfd[0].revents & POLLIN) {
            int fd = accept(rec->fd, NULL, NULL);
            if (fd != -1) {
                struct rec_conn *c = &conns[n++];
                memset(c, 0, sizeof(*c));
                c->rec = rec;
                c->fd = fd;
                http_parser_init(&c->parser, HTTP_REQUEST);
                c->parser.data = c;
            }
        }
        for (int i = 0; i < before; i++) {
            bool by_peer = false;
            if (pfd[i + 1].revents == 0)
                continue;
            if (!rec_read(&conns[i], &by_peer))
                rec_close(&conns[i], by_peer);
        }
        /* Compact, keeping each parser's back-pointer valid. */
        int k = 0;
        for (int i = 0; i < n; i++) {
            if (conns[i].fd == -1)
                continue;
            if (k != i) {
                conns[k] = conns[i];
                conns[k].parser.data = &conns[k];
            }
            k++;
        }
        n = k;
    }
    for (int i = 0; i < n; i++)
        rec_close(&conns[i], false);
    free(conns);
    return NULL;
}

int
h_rec_start(struct h_rec *rec, const char *reply)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);

    memset(rec, 0, sizeof(*rec));
    pthread_mutex_init(&rec->mu, NULL);
    rec->reply = reply;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rec->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (rec->fd == -1 || bind(rec->fd, (struct sockaddr *)&a, sizeof(a)) == -1 ||
        listen(rec->fd, 64) == -1 ||
        getsockname(rec->fd, (struct sockaddr *)&a, &len) == -1)
        return -1;
    rec->port = ntohs(a.sin_port);
    return pthread_create(&rec->thread, NULL, rec_worker, rec) == 0 ? 0 : -1;
}

void
h_rec_stop(struct h_rec *rec)
{
    rec->stop = 1;
    pthread_join(rec->thread, NULL);
    close(rec->fd);
    pthread_mutex_destroy(&rec->mu);
}

void
h_rec_set_reset(struct h_rec *rec, bool reset)
{
    pthread_mutex_lock(&rec->mu);
    rec->reset = reset;
    pthread_mutex_unlock(&rec->mu);
}

void
h_rec_set_reply(struct h_rec *rec, const char *reply, bool close_after)
{
    pthread_mutex_lock(&rec->mu);
    rec->reply = reply;
    rec->close_after = close_after;
    pthread_mutex_unlock(&rec->mu);
}

struct h_rec_stats
h_rec_stats(struct h_rec *rec)
{
    pthread_mutex_lock(&rec->mu);
    struct h_rec_stats st = rec->st;
    pthread_mutex_unlock(&rec->mu);
    return st;
}

void
h_rec_reset(struct h_rec *rec)
{
    pthread_mutex_lock(&rec->mu);
    int open = rec->st.open;
    memset(&rec->st, 0, sizeof(rec->st));
    rec->st.open = open;
    rec->capture_len = 0;
    rec->capture[0] = '\0';
    pthread_mutex_unlock(&rec->mu);
}

void
h_rec_capture(struct h_rec *rec, char *out, size_t outlen)
{
    pthread_mutex_lock(&rec->mu);
    size_t n = rec->capture_len < outlen - 1 ? rec->capture_len : outlen - 1;
    memcpy(out, rec->capture, n);
    out[n] = '\0';
    pthread_mutex_unlock(&rec->mu);
}

int
h_rec_wait_closed(struct h_rec *rec, int at_least, int timeout_ms)
{
    long long deadline = h_now_ms() + timeout_ms;
    while (h_now_ms() < deadline) {
        if (h_rec_stats(rec).closed_by_weir >= at_least)
            return 0;
        poll(NULL, 0, 5);
    }
    return -1;
}

long
h_read_to_eof(int fd, int timeout_ms, bool *reset)
{
    char buf[65536];
    long total = 0;
    long long deadline = h_now_ms() + timeout_ms;

    *reset = false;
    for (;;) {
        long long left = deadline - h_now_ms();
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&pf, 1, (int)left) != 1)
            return -1;
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0) {
            total += n;
            continue;
        }
        if (n == 0)
            return total;
        if (errno == EAGAIN || errno == EINTR)
            continue;
        *reset = errno == ECONNRESET;
        return total;
    }
}

long long
h_metric(const struct h_env *env, const char *sample)
{
    char sock[300];
    struct h_response r;
    size_t n = strlen(sample);
    long long v = -1;

    snprintf(sock, sizeof(sock), "%s/admin.sock", env->dir);
    if (h_unix_request(sock, "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n", &r) != 0)
        return -1;
    for (const char *line = r.body; line != NULL && *line != '\0';) {
        if (strncmp(line, sample, n) == 0 && line[n] == ' ') {
            v = strtoll(line + n + 1, NULL, 10);
            break;
        }
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    h_response_fini(&r);
    return v;
}
