/* weirctl's transport: connect to the admin Unix socket, send one request
 * with "Connection: close", and read the response with http-parser under a
 * deadline and a body-size cap, so weirctl never hangs or balloons. What
 * the response means is weirctl.c's business. */
#include "weirctl_http.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>

struct reader {
    http_parser parser;
    char *body;
    size_t len, cap;
    bool complete;
    bool too_big;
};

static long long
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
on_body(http_parser *p, const char *at, size_t len)
{
    struct reader *r = p->data;

    if (len > CTL_BODY_MAX - r->len) {
        r->too_big = true;
        return -1;
    }
    if (r->len + len + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + len + 1)
            cap *= 2;
        char *b = realloc(r->body, cap);
        if (b == NULL) {
            r->too_big = true;
            return -1;
        }
        r->body = b;
        r->cap = cap;
    }
    memcpy(r->body + r->len, at, len);
    r->len += len;
    return 0;
}

static int
on_message_complete(http_parser *p)
{
    struct reader *r = p->data;
    r->complete = true;
    /* One response is all we want: stop the parser here. */
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings reader_settings = {
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* Milliseconds left until DEADLINE, at least 0. */
static int
left_ms(long long deadline)
{
    long long left = deadline - now_ms();
    return left > 0 ? (int)left : 0;
}

static int
send_all(int fd, const char *p, size_t len, long long deadline)
{
    while (len > 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int n = poll(&pfd, 1, left_ms(deadline));
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = ETIMEDOUT;
            return -1;
        }
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w == -1 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (w == -1)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Read and parse until the response is complete, by DEADLINE (the end of
 * the whole request's TIMEOUT_MS). 0, or -1 with ERR set. */
static int
read_response(int fd, struct reader *r, long long deadline, int timeout_ms,
              char *err, size_t errlen)
{
    char chunk[65536];

    http_parser_init(&r->parser, HTTP_RESPONSE);
    r->parser.data = r;
    while (!r->complete) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int n = poll(&pfd, 1, left_ms(deadline));
        if (n == -1 && errno == EINTR)
            continue;
        if (n == 0) {
            snprintf(err, errlen, "no complete answer within %d.%d s",
                     timeout_ms / 1000, timeout_ms % 1000 / 100);
            return -1;
        }
        ssize_t got = n == -1 ? -1
                              : recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT);
        if (got == -1 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (got == -1) {
            snprintf(err, errlen, "reading the answer: %s", strerror(errno));
            return -1;
        }
        size_t used = http_parser_execute(&r->parser, &reader_settings, chunk,
                                          (size_t)got);
        enum http_errno e = HTTP_PARSER_ERRNO(&r->parser);
        if (r->too_big) {
            snprintf(err, errlen, "the answer is larger than %u bytes",
                     CTL_BODY_MAX);
            return -1;
        }
        if (e != HPE_OK && !(e == HPE_PAUSED && r->complete)) {
            snprintf(err, errlen, "malformed HTTP answer (%s)",
                     http_errno_description(e));
            return -1;
        }
        if (got == 0 && !r->complete) {
            snprintf(err, errlen, "the connection closed before the answer "
                     "was complete");
            return -1;
        }
        (void)used;
    }
    return 0;
}

static void
put_error(char *err, size_t errlen, const char *what, const char *socket_path)
{
    snprintf(err, errlen, "%s %s: %s", what, socket_path, strerror(errno));
}

enum ctl_http_rc
ctl_http_request(const char *socket_path, const char *method, const char *path,
                 const char *body, int timeout_ms, struct ctl_response *resp,
                 char *err, size_t errlen)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct reader r;
    long long deadline = now_ms() + timeout_ms;
    char head[1024];

    memset(resp, 0, sizeof(*resp));
    memset(&r, 0, sizeof(r));
    if (strlen(socket_path) >= sizeof(sun.sun_path)) {
        snprintf(err, errlen, "socket path is too long (at most %zu bytes): %s",
                 sizeof(sun.sun_path) - 1, socket_path);
        return CTL_HTTP_BADPATH;
    }
    memcpy(sun.sun_path, socket_path, strlen(socket_path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return CTL_HTTP_FAIL;
    }
    /* A connect that blocks (the listener's backlog is full) is bounded
     * too: SO_SNDTIMEO applies to connect() on Unix sockets. */
    struct timeval tv = {.tv_sec = timeout_ms / 1000,
                         .tv_usec = (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
        put_error(err, errlen, "cannot connect to", socket_path);
        close(fd);
        return CTL_HTTP_CONNECT;
    }
    size_t body_len = body ? strlen(body) : 0;
    int n = snprintf(head, sizeof(head),
                     "%s %s HTTP/1.1\r\nHost: localhost\r\n"
                     "User-Agent: weirctl/" WEIR_VERSION "\r\n"
                     "Accept: application/json\r\nConnection: close\r\n"
                     "%sContent-Length: %zu\r\n\r\n",
                     method, path,
                     body ? "Content-Type: application/json\r\n" : "",
                     body_len);
    if (n < 0 || (size_t)n >= sizeof(head)) {
        snprintf(err, errlen, "request path too long");
        close(fd);
        return CTL_HTTP_FAIL;
    }
    if (send_all(fd, head, (size_t)n, deadline) == -1
        || send_all(fd, body ? body : "", body_len, deadline) == -1) {
        put_error(err, errlen, "cannot send to", socket_path);
        close(fd);
        return CTL_HTTP_FAIL;
    }
    int rc = read_response(fd, &r, deadline, timeout_ms, err, errlen);
    close(fd);
    if (rc == -1) {
        free(r.body);
        return CTL_HTTP_FAIL;
    }
    if (r.body == NULL && (r.body = malloc(1)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return CTL_HTTP_FAIL;
    }
    r.body[r.len] = '\0';
    resp->status = r.parser.status_code;
    resp->body = r.body;
    resp->body_len = r.len;
    return CTL_HTTP_OK;
}

void
ctl_response_fini(struct ctl_response *resp)
{
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
}
