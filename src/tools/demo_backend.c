/*
 * weir-demo-backend: the HTTP/1.1 origin used by the demo, the integration
 * tests and the benchmarks. It owns one listener and its connections; each
 * behaviour (delay, status, size, framing, aborts, health) is set per process
 * by flags and per request by the query string. It is deliberately not a web
 * server: no files, no TLS, and bodies are generated, never stored.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <ev.h>
#include <http_parser.h>

#include "weir/util/defs.h"

#define RBUF_SIZE      (16 * 1024)
#define CHUNK_MAX      (16 * 1024)
#define CHUNK_FRAMING  24               /* "%zx\r\n" + "\r\n", generously */
#define WBUF_SIZE      (CHUNK_MAX + 64) /* one whole chunk with framing */
#define HEAD_MAX       (64 * 1024)      /* request line + headers, else 431 */
#define TEXT_MAX       256
#define NAME_LEN_MAX   128
#define DELAY_MAX_MS   3600000u
#define BODY_SIZE_MAX  (UINT64_C(1) << 50)
#define WRITE_ROUNDS   64    /* buffers per callback, so one fast reader
                              * cannot starve the other connections */
#define LINGER_SECS    2.0
#define ABORT_SECS     2.0
#define ABORT_POLL     0.001
#define ACCEPT_RETRY   1.0
#define FNV_OFFSET     UINT64_C(0xcbf29ce484222325)
#define FNV_PRIME      UINT64_C(0x100000001b3)

/* Byte i of a generated body is body_pattern[i % 62]. The period is not a
 * power of two, so a dropped or repeated buffer shifts the phase visibly. */
static const char body_pattern[] =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
#define PATTERN_LEN (sizeof(body_pattern) - 1)

static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";

struct opts {
    const char *listen;
    const char *name;
    uint64_t delay_ms;
    uint64_t size;
    int size_set;
    int status;
    int chunked;
    int health_status;
    int quiet;
};

struct server {
    struct ev_loop *loop;
    struct opts opts;
    int fd;
    struct ev_io accept_io;
    struct ev_timer accept_retry;   /* re-arms accept after EMFILE */
    struct ev_signal sig_term;
    struct ev_signal sig_int;
    int health_status;
    uint64_t conns_accepted;
    uint64_t requests;              /* excluding the control endpoints */
    struct conn *conns;             /* all live connections, for shutdown */
};

/*
 * state        rd                 wr                  timer
 * CONN_READ    armed when drained only for 100 Cont.  -
 * CONN_DELAY   -                  only for 100 Cont.  response delay
 * CONN_WRITE   -                  while socket full   -
 * CONN_ABORT   -                  -                   polls the send queue
 * CONN_LINGER  discards input     -                   bounds the linger
 */
enum conn_state {
    CONN_READ,
    CONN_DELAY,
    CONN_WRITE,
    CONN_ABORT,
    CONN_LINGER,
};

/* Which parser callback paused http_parser_execute(). */
enum parse_ev {
    PARSE_EV_NONE,
    PARSE_EV_BEGIN,
    PARSE_EV_HEADERS,
    PARSE_EV_COMPLETE,
};

enum body_src {
    BODY_TEXT,      /* resp.text */
    BODY_HEAD,      /* the raw request head (headers=1) */
    BODY_PATTERN,   /* generated on the fly */
};

#define REQ_F_IN_HEAD   (1u << 0) /* between message begin and end of head */
#define REQ_F_IN_VALUE  (1u << 1) /* last header callback was a value */
#define REQ_F_EXPECT    (1u << 2) /* Expect: 100-continue seen */
#define REQ_F_KEEPALIVE (1u << 3) /* the client allows another request */
#define REQ_F_HTTP10    (1u << 4) /* HTTP/1.0: no chunked, explicit k-a */

struct req {
    unsigned flags;
    uint64_t body_bytes;
    uint64_t body_hash;
    size_t url_off;         /* into conn.head */
    size_t url_len;
    size_t hname_len;       /* > sizeof(hname) means "too long to matter" */
    size_t hval_len;
    char hname[16];
    char hval[16];
};

#define RESP_F_CHUNKED  (1u << 0) /* Transfer-Encoding: chunked */
#define RESP_F_NOBODY   (1u << 1) /* HEAD, 204 or 304: headers only */
#define RESP_F_ABORT    (1u << 2) /* RST after `limit` body bytes */
#define RESP_F_CLOSE    (1u << 3) /* Connection: close, then close */
#define RESP_F_NOFRAME  (1u << 4) /* neither CL nor TE: close ends the body */
#define RESP_F_LASTCHNK (1u << 5) /* the terminating chunk is written */
#define RESP_F_COUNTED  (1u << 6) /* counts in /_stats */

struct resp {
    unsigned flags;
    int status;
    uint64_t delay_ms;
    enum body_src src;
    uint64_t size;          /* body length announced */
    uint64_t limit;         /* body bytes actually sent */
    uint64_t sent;
    size_t text_len;
    char text[TEXT_MAX];
};

struct conn {
    struct server *srv;
    struct conn *prev;
    struct conn *next;
    int fd;
    enum conn_state state;
    uint64_t id;
    uint64_t nreq;
    struct ev_io rd;
    struct ev_io wr;
    struct ev_timer timer;
    ev_tstamp deadline;
    http_parser parser;
    enum parse_ev ev;
    const char *exec_base;  /* start of the bytes given to the parser */
    struct req req;
    struct resp resp;
    char *head;             /* raw request head, at most HEAD_MAX */
    size_t head_len;
    size_t head_cap;
    size_t rpos;
    size_t rlen;
    size_t wpos;
    size_t wlen;
    char rbuf[RBUF_SIZE];
    char wbuf[WBUF_SIZE];
};

enum qp {
    QP_DELAY,
    QP_STATUS,
    QP_SIZE,
    QP_CHUNKED,
    QP_CLOSE,
    QP_ABORT,
    QP_HEADERS,
    QP_NOFRAME,
    QP_HEALTH,
    QP_COUNT,
};

struct query {
    unsigned set;           /* bit i: parameter i was given */
    uint64_t v[QP_COUNT];
};

static const struct {
    const char *name;
    uint64_t min;
    uint64_t max;
} qp_specs[QP_COUNT] = {
    [QP_DELAY] = {"delay", 0, DELAY_MAX_MS},
    [QP_STATUS] = {"status", 200, 599},
    [QP_SIZE] = {"size", 0, BODY_SIZE_MAX},
    [QP_CHUNKED] = {"chunked", 0, 1},
    [QP_CLOSE] = {"close", 0, 1},
    [QP_ABORT] = {"abort", 0, BODY_SIZE_MAX},
    [QP_HEADERS] = {"headers", 0, 1},
    [QP_NOFRAME] = {"noframe", 0, 1},
    [QP_HEALTH] = {"health", 200, 599},
};

static void conn_step(struct conn *c);

static int
parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (len == 0 || len > 20)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

/* Appends to a small fixed buffer; overflow poisons the length so the
 * header can no longer match anything we look for. */
static void
small_append(char *buf, size_t cap, size_t *len, const char *at, size_t n)
{
    if (*len > cap)
        return;
    if (n > cap - *len) {
        *len = cap + 1;
        return;
    }
    memcpy(buf + *len, at, n);
    *len += n;
}

static int
small_equals(const char *buf, size_t len, size_t cap, const char *lit)
{
    size_t n = strlen(lit);

    if (len > cap)
        return 0;
    while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\t'))
        len--;
    return len == n && strncasecmp(buf, lit, n) == 0;
}

static void
conn_want(struct conn *c, int rd, int wr)
{
    struct ev_loop *loop = c->srv->loop;

    if (rd)
        ev_io_start(loop, &c->rd);
    else
        ev_io_stop(loop, &c->rd);
    if (wr)
        ev_io_start(loop, &c->wr);
    else
        ev_io_stop(loop, &c->wr);
}

/* Stops every watcher and frees c. The caller must not touch c again. */
static void
conn_close(struct conn *c)
{
    struct server *s = c->srv;

    ev_io_stop(s->loop, &c->rd);
    ev_io_stop(s->loop, &c->wr);
    ev_timer_stop(s->loop, &c->timer);
    close(c->fd);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    free(c->head);
    free(c);
}

static int
head_append(struct conn *c, const char *at, size_t n)
{
    if (n > HEAD_MAX - c->head_len)
        return -1;
    if (c->head_len + n > c->head_cap) {
        size_t cap = c->head_cap ? c->head_cap : 1024;
        char *p;

        while (cap < c->head_len + n)
            cap *= 2;
        cap = MIN(cap, (size_t)HEAD_MAX);
        if ((p = realloc(c->head, cap)) == NULL)
            return -1;
        c->head = p;
        c->head_cap = cap;
    }
    memcpy(c->head + c->head_len, at, n);
    c->head_len += n;
    return 0;
}

static void
resp_set_text(struct resp *r, const char *text)
{
    r->src = BODY_TEXT;
    r->text_len = strlen(text);
    memmove(r->text, text, r->text_len);    /* text may be r->text */
    r->size = r->text_len;
}

/* Builds the status line and headers after whatever is already queued
 * (a 100 Continue), and switches the connection to CONN_WRITE. */
static void
resp_start(struct conn *c)
{
    struct resp *r = &c->resp;
    struct req *q = &c->req;
    char *p = c->wbuf + c->wlen;
    size_t room = WBUF_SIZE - c->wlen;
    const char *reason = http_status_str((enum http_status)r->status);
    const char *conn_hdr = "";
    int n;

    if (reason[0] == '<')
        reason = "Status";
    if (r->flags & RESP_F_COUNTED)
        c->srv->requests++;
    if (r->flags & RESP_F_CLOSE)
        conn_hdr = "Connection: close\r\n";
    else if (q->flags & REQ_F_HTTP10)
        conn_hdr = "Connection: keep-alive\r\n";
    n = snprintf(p, room,
                 "HTTP/1.1 %d %s\r\n"
                 "X-Backend: %s\r\n"
                 "X-Connection-Id: %" PRIu64 "\r\n"
                 "X-Request-Count: %" PRIu64 "\r\n"
                 "X-Received-Bytes: %" PRIu64 "\r\n"
                 "X-Received-Hash: %016" PRIx64 "\r\n"
                 "Content-Type: text/plain\r\n"
                 "%s",
                 r->status, reason, c->srv->opts.name, c->id, c->nreq,
                 q->body_bytes, q->body_hash, conn_hdr);
    c->wlen += (size_t)n;
    p += n;
    room -= (size_t)n;
    if (r->flags & RESP_F_NOFRAME)
        n = 0;
    else if (r->flags & RESP_F_CHUNKED)
        n = snprintf(p, room, "Transfer-Encoding: chunked\r\n");
    else if (r->status == 204 || r->status == 304)
        n = 0;
    else
        n = snprintf(p, room, "Content-Length: %" PRIu64 "\r\n", r->size);
    c->wlen += (size_t)n;
    memcpy(c->wbuf + c->wlen, "\r\n", 2);
    c->wlen += 2;
    c->state = CONN_WRITE;
}

static void
body_copy(const struct conn *c, char *dst, uint64_t off, size_t n)
{
    const struct resp *r = &c->resp;
    size_t i;

    switch (r->src) {
    case BODY_TEXT:
        memcpy(dst, r->text + off, n);
        break;
    case BODY_HEAD:
        memcpy(dst, c->head + off, n);
        break;
    case BODY_PATTERN:
        for (i = (size_t)(off % PATTERN_LEN); n > 0; i = 0) {
            size_t k = MIN(n, PATTERN_LEN - i);

            memcpy(dst, body_pattern + i, k);
            dst += k;
            n -= k;
        }
        break;
    }
}

/* Appends as much of the body (and its framing) as fits in wbuf. */
static void
resp_fill(struct conn *c)
{
    struct resp *r = &c->resp;

    while (r->sent < r->limit) {
        uint64_t left = r->limit - r->sent;
        size_t room = WBUF_SIZE - c->wlen;
        size_t n;

        if (r->flags & RESP_F_CHUNKED) {
            if (room <= CHUNK_FRAMING)
                return;
            n = (size_t)MIN(left, (uint64_t)MIN(room - CHUNK_FRAMING,
                                                (size_t)CHUNK_MAX));
            c->wlen += (size_t)snprintf(c->wbuf + c->wlen, room, "%zx\r\n", n);
            body_copy(c, c->wbuf + c->wlen, r->sent, n);
            c->wlen += n;
            memcpy(c->wbuf + c->wlen, "\r\n", 2);
            c->wlen += 2;
        } else {
            if (room == 0)
                return;
            n = (size_t)MIN(left, (uint64_t)room);
            body_copy(c, c->wbuf + c->wlen, r->sent, n);
            c->wlen += n;
        }
        r->sent += n;
    }
    /* A truncated (abort) body must not look complete to the client. */
    if ((r->flags & RESP_F_CHUNKED) && !(r->flags & RESP_F_NOBODY) &&
        !(r->flags & RESP_F_LASTCHNK) && r->sent == r->size &&
        WBUF_SIZE - c->wlen >= 5) {
        memcpy(c->wbuf + c->wlen, "0\r\n\r\n", 5);
        c->wlen += 5;
        r->flags |= RESP_F_LASTCHNK;
    }
}

static enum io_rc
conn_flush(struct conn *c)
{
    while (c->wpos < c->wlen) {
        ssize_t n = send(c->fd, c->wbuf + c->wpos, c->wlen - c->wpos,
                         MSG_NOSIGNAL);

        if (n == -1) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return IO_AGAIN;
            return IO_ERR;
        }
        c->wpos += (size_t)n;
    }
    c->wpos = c->wlen = 0;
    return IO_OK;
}

/* IO_OK once the whole response is on the socket. */
static enum io_rc
resp_write(struct conn *c)
{
    for (int round = 0; round < WRITE_ROUNDS; round++) {
        enum io_rc rc;

        resp_fill(c);
        if (c->wlen == 0)
            return IO_OK;
        if ((rc = conn_flush(c)) != IO_OK)
            return rc;
    }
    return IO_AGAIN;
}

/* Answers a request we could not parse; the connection closes after. */
static void
conn_fail(struct conn *c, int status, const char *text)
{
    struct resp *r = &c->resp;

    memset(r, 0, sizeof(*r));
    c->nreq++;
    r->status = status;
    r->flags = RESP_F_CLOSE;
    resp_set_text(r, text);
    r->limit = r->size;
    resp_start(c);
}

static int
query_parse(const char *s, size_t len, struct query *out)
{
    const char *end = s + len;

    memset(out, 0, sizeof(*out));
    while (s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(s, '=', (size_t)(pe - s));
        size_t klen = (size_t)((eq ? eq : pe) - s);

        for (int i = 0; eq != NULL && i < QP_COUNT; i++) {
            if (strlen(qp_specs[i].name) != klen ||
                memcmp(qp_specs[i].name, s, klen) != 0)
                continue;
            if (parse_u64(eq + 1, (size_t)(pe - eq - 1), qp_specs[i].max,
                          &out->v[i]) == -1 || out->v[i] < qp_specs[i].min)
                return -1;
            out->set |= 1u << i;
        }
        s = pe + 1;
    }
    return 0;
}

static int
path_is(const char *path, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(path, lit, len) == 0;
}

/* The base response for the path. The control endpoints ignore the
 * process-wide --delay-ms/--status/--size/--chunked so that health checks
 * and test probes still work against a deliberately slow or failing
 * backend. */
static void
resp_route(struct conn *c, const char *path, size_t len,
           const struct query *qs)
{
    struct server *s = c->srv;
    struct resp *r = &c->resp;

    r->status = 200;
    if (path_is(path, len, "/health")) {
        r->status = s->health_status;
        resp_set_text(r, r->status < 400 ? "ok\n" : "fail\n");
    } else if (path_is(path, len, "/_control")) {
        if (qs->set & (1u << QP_HEALTH))
            s->health_status = (int)qs->v[QP_HEALTH];
        snprintf(r->text, sizeof(r->text), "health %d\n", s->health_status);
        resp_set_text(r, r->text);
    } else if (path_is(path, len, "/_stats")) {
        snprintf(r->text, sizeof(r->text), "requests %" PRIu64 "\n",
                 s->requests);
        resp_set_text(r, r->text);
    } else {
        r->flags |= RESP_F_COUNTED;
        r->status = s->opts.status;
        r->delay_ms = s->opts.delay_ms;
        if (s->opts.chunked)
            r->flags |= RESP_F_CHUNKED;
        snprintf(r->text, sizeof(r->text), "%s\n", s->opts.name);
        resp_set_text(r, r->text);
        if (s->opts.size_set) {
            r->src = BODY_PATTERN;
            r->size = s->opts.size;
        }
    }
}

/* Query parameters override the route, then framing is made consistent. */
static void
resp_override(struct conn *c, const struct query *qs)
{
    struct resp *r = &c->resp;
    unsigned set = qs->set;

    if (set & (1u << QP_DELAY))
        r->delay_ms = qs->v[QP_DELAY];
    if (set & (1u << QP_STATUS))
        r->status = (int)qs->v[QP_STATUS];
    if (set & (1u << QP_SIZE)) {
        r->src = BODY_PATTERN;
        r->size = qs->v[QP_SIZE];
    }
    if (qs->v[QP_HEADERS]) {
        r->src = BODY_HEAD;
        r->size = c->head_len;
    }
    if (set & (1u << QP_CHUNKED))
        r->flags = qs->v[QP_CHUNKED] ? r->flags | RESP_F_CHUNKED :
                                       r->flags & ~RESP_F_CHUNKED;
    if (qs->v[QP_CLOSE] || !(c->req.flags & REQ_F_KEEPALIVE))
        r->flags |= RESP_F_CLOSE;
    if (qs->v[QP_NOFRAME])
        r->flags |= RESP_F_NOFRAME | RESP_F_CLOSE;
    if (c->parser.method == HTTP_HEAD || r->status == 204 || r->status == 304)
        r->flags |= RESP_F_NOBODY;
    /* HTTP/1.0 cannot parse chunked; Content-Length is the closest match. */
    if (r->flags & RESP_F_NOFRAME || c->req.flags & REQ_F_HTTP10)
        r->flags &= ~RESP_F_CHUNKED;
    r->limit = (r->flags & RESP_F_NOBODY) ? 0 : r->size;
    if (set & (1u << QP_ABORT)) {
        r->flags |= RESP_F_ABORT | RESP_F_CLOSE;
        r->limit = MIN(r->limit, qs->v[QP_ABORT]);
    }
}

/* Decides the whole response for the request in c->req and c->head. */
static void
resp_plan(struct conn *c)
{
    struct resp *r = &c->resp;
    const char *url = c->head + c->req.url_off;
    const char *path = url;
    size_t path_len = c->req.url_len;
    struct http_parser_url u;
    struct query qs = {0};

    memset(r, 0, sizeof(*r));
    http_parser_url_init(&u);
    /* "*" and other targets it rejects are matched as a plain path. */
    if (http_parser_parse_url(url, c->req.url_len,
                              c->parser.method == HTTP_CONNECT, &u) == 0) {
        path = url + u.field_data[UF_PATH].off;
        path_len = (u.field_set & (1u << UF_PATH)) ?
                       u.field_data[UF_PATH].len : 0;
        if ((u.field_set & (1u << UF_QUERY)) &&
            query_parse(url + u.field_data[UF_QUERY].off,
                        u.field_data[UF_QUERY].len, &qs) == -1) {
            memset(&qs, 0, sizeof(qs));
            r->status = 400;
            resp_set_text(r, "bad query parameter\n");
            resp_override(c, &qs);
            return;
        }
    }
    resp_route(c, path, path_len, &qs);
    resp_override(c, &qs);
}

static void
req_complete(struct conn *c)
{
    struct resp *r = &c->resp;

    c->nreq++;
    resp_plan(c);
    if (r->delay_ms == 0) {
        resp_start(c);
        return;
    }
    /* The loop time may be stale after a long iteration; a test that
     * measures "at least delay" must not see us answer early. */
    ev_now_update(c->srv->loop);
    ev_timer_set(&c->timer, (ev_tstamp)r->delay_ms / 1000.0, 0.0);
    ev_timer_start(c->srv->loop, &c->timer);
    c->state = CONN_DELAY;
}

static void
req_header_done(struct req *q)
{
    if (small_equals(q->hname, q->hname_len, sizeof(q->hname), "expect") &&
        small_equals(q->hval, q->hval_len, sizeof(q->hval), "100-continue"))
        q->flags |= REQ_F_EXPECT;
    q->hname_len = q->hval_len = 0;
    q->flags &= ~REQ_F_IN_VALUE;
}

static void
req_headers_done(struct conn *c)
{
    http_parser *p = &c->parser;
    struct req *q = &c->req;
    int has_body = (p->flags & F_CHUNKED) ||
                   (p->content_length > 0 && p->content_length != UINT64_MAX);

    req_header_done(q);
    q->flags &= ~REQ_F_IN_HEAD;
    if (p->http_major == 0 || (p->http_major == 1 && p->http_minor == 0))
        q->flags |= REQ_F_HTTP10;
    if (http_should_keep_alive(p))
        q->flags |= REQ_F_KEEPALIVE;
    /* HTTP/1.0 clients do not know 100 Continue (RFC 7231 5.1.1). The
     * previous response is fully sent, so wbuf has room. */
    if ((q->flags & REQ_F_EXPECT) && !(q->flags & REQ_F_HTTP10) && has_body) {
        memcpy(c->wbuf + c->wlen, continue_line, sizeof(continue_line) - 1);
        c->wlen += sizeof(continue_line) - 1;
    }
}

static int
on_message_begin(http_parser *p)
{
    struct conn *c = container_of(p, struct conn, parser);

    c->ev = PARSE_EV_BEGIN;
    http_parser_pause(p, 1);
    return 0;
}

static int
on_url(http_parser *p, const char *at, size_t len)
{
    struct conn *c = container_of(p, struct conn, parser);
    struct req *q = &c->req;

    /* Every byte of this chunk up to `at` will be appended to head when
     * http_parser_execute() returns, so this is the URL's offset there. */
    if (q->url_len == 0)
        q->url_off = c->head_len + (size_t)(at - c->exec_base);
    q->url_len += len;
    return 0;
}

static int
on_header_field(http_parser *p, const char *at, size_t len)
{
    struct conn *c = container_of(p, struct conn, parser);
    struct req *q = &c->req;

    if (!(q->flags & REQ_F_IN_HEAD))
        return 0;       /* chunked trailers */
    if (q->flags & REQ_F_IN_VALUE)
        req_header_done(q);
    small_append(q->hname, sizeof(q->hname), &q->hname_len, at, len);
    return 0;
}

static int
on_header_value(http_parser *p, const char *at, size_t len)
{
    struct conn *c = container_of(p, struct conn, parser);
    struct req *q = &c->req;

    if (!(q->flags & REQ_F_IN_HEAD))
        return 0;
    q->flags |= REQ_F_IN_VALUE;
    small_append(q->hval, sizeof(q->hval), &q->hval_len, at, len);
    return 0;
}

static int
on_headers_complete(http_parser *p)
{
    struct conn *c = container_of(p, struct conn, parser);

    c->ev = PARSE_EV_HEADERS;
    http_parser_pause(p, 1);
    return 0;
}

static int
on_body(http_parser *p, const char *at, size_t len)
{
    struct conn *c = container_of(p, struct conn, parser);
    uint64_t h = c->req.body_hash;

    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)at[i];
        h *= FNV_PRIME;
    }
    c->req.body_hash = h;
    c->req.body_bytes += len;
    return 0;
}

static int
on_message_complete(http_parser *p)
{
    struct conn *c = container_of(p, struct conn, parser);

    c->ev = PARSE_EV_COMPLETE;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* Feeds rbuf to the parser until it is drained or a request completes. The
 * parser pauses at message begin, end of head and message end, which tells
 * us exactly which bytes are the head (for headers=1) and keeps pipelined
 * requests in rbuf until the current response is sent. */
static void
conn_parse(struct conn *c)
{
    while (c->state == CONN_READ && c->rpos < c->rlen) {
        const char *base = c->rbuf + c->rpos;
        size_t avail = c->rlen - c->rpos;
        enum http_errno err;
        size_t n;
        int rc = 0;

        c->ev = PARSE_EV_NONE;
        c->exec_base = base;
        n = http_parser_execute(&c->parser, &parser_settings, base, avail);
        err = HTTP_PARSER_ERRNO(&c->parser);
        if (err == HPE_PAUSED) {
            http_parser_pause(&c->parser, 0);
        } else if (err != HPE_OK || n == 0) {
            conn_fail(c, err == HPE_HEADER_OVERFLOW ? 431 : 400,
                      err == HPE_HEADER_OVERFLOW ? "head too large\n"
                                                 : "bad request\n");
            return;
        }
        switch (c->ev) {
        case PARSE_EV_NONE:
            if (c->req.flags & REQ_F_IN_HEAD)
                rc = head_append(c, base, n);
            break;
        case PARSE_EV_BEGIN:
            /* message_begin consumed the method's first byte; anything
             * before it was blank lines between requests. */
            memset(&c->req, 0, sizeof(c->req));
            c->req.flags = REQ_F_IN_HEAD;
            c->req.body_hash = FNV_OFFSET;
            c->head_len = 0;
            rc = head_append(c, base + n - 1, 1);
            break;
        case PARSE_EV_HEADERS:
            /* Paused with the head's final LF unconsumed: count it here;
             * the parser sees it again on resume. */
            rc = head_append(c, base, n + 1);
            if (rc == 0)
                req_headers_done(c);
            break;
        case PARSE_EV_COMPLETE:
            c->rpos += n;
            req_complete(c);
            return;
        }
        if (rc == -1) {
            conn_fail(c, 431, "head too large\n");
            return;
        }
        c->rpos += n;
    }
}

/* Reads and drops input after our response, so that closing does not
 * reset a connection whose last response the client has yet to read. */
static enum io_rc
conn_drain(struct conn *c)
{
    for (int round = 0; round < WRITE_ROUNDS; round++) {
        ssize_t n = recv(c->fd, c->rbuf, sizeof(c->rbuf), 0);

        if (n == 0)
            return IO_EOF;
        if (n == -1) {
            if (errno == EINTR)
                continue;
            return (errno == EAGAIN || errno == EWOULDBLOCK) ? IO_AGAIN
                                                             : IO_ERR;
        }
    }
    return IO_AGAIN;
}

static void
conn_linger(struct conn *c)
{
    shutdown(c->fd, SHUT_WR);
    c->state = CONN_LINGER;
    c->rpos = c->rlen = 0;
    ev_timer_set(&c->timer, LINGER_SECS, 0.0);
    ev_timer_start(c->srv->loop, &c->timer);
}

/* Arms the RST: the kernel drops unsent data on a zero-linger close, so
 * wait (bounded) until the peer has acknowledged the body prefix. */
static void
conn_abort(struct conn *c)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};

    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    c->state = CONN_ABORT;
    c->deadline = ev_now(c->srv->loop) + ABORT_SECS;
    ev_timer_set(&c->timer, 0.0, ABORT_POLL);
    ev_timer_start(c->srv->loop, &c->timer);
}

static void
resp_done(struct conn *c)
{
    if (c->resp.flags & RESP_F_ABORT) {
        conn_abort(c);
    } else if (c->resp.flags & RESP_F_CLOSE) {
        conn_linger(c);
    } else {
        c->state = CONN_READ;
    }
}

/* Runs the state machine until it has to wait. May free c. */
static void
conn_step(struct conn *c)
{
    enum io_rc rc;

    for (;;) {
        switch (c->state) {
        case CONN_READ:
            if (c->rpos < c->rlen) {
                conn_parse(c);
                if (c->state != CONN_READ)
                    continue;
            }
            /* Drained: only a 100 Continue may still be queued. */
            /* fall through */
        case CONN_DELAY:
            if ((rc = conn_flush(c)) == IO_ERR) {
                conn_close(c);
                return;
            }
            conn_want(c, c->state == CONN_READ, rc == IO_AGAIN);
            return;
        case CONN_WRITE:
            rc = resp_write(c);
            if (rc == IO_ERR) {
                conn_close(c);
                return;
            }
            if (rc == IO_AGAIN) {
                conn_want(c, 0, 1);
                return;
            }
            resp_done(c);
            break;
        case CONN_ABORT:
            conn_want(c, 0, 0);
            return;
        case CONN_LINGER:
            if ((rc = conn_drain(c)) != IO_AGAIN) {
                conn_close(c);
                return;
            }
            conn_want(c, 1, 0);
            return;
        }
    }
}

static void
conn_read_cb(struct ev_loop *loop, struct ev_io *w, int revents)
{
    struct conn *c = container_of(w, struct conn, rd);
    ssize_t n;

    if (c->state == CONN_READ && c->rpos == c->rlen) {
        n = recv(c->fd, c->rbuf, sizeof(c->rbuf), 0);
        if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
                        errno == EINTR))
            return;
        /* EOF here is either between requests or mid-request; there is
         * nothing we could answer in either case. */
        if (n <= 0) {
            conn_close(c);
            return;
        }
        c->rpos = 0;
        c->rlen = (size_t)n;
    }
    conn_step(c);
}

static void
conn_write_cb(struct ev_loop *loop, struct ev_io *w, int revents)
{
    conn_step(container_of(w, struct conn, wr));
}

static void
conn_timer_cb(struct ev_loop *loop, struct ev_timer *w, int revents)
{
    struct conn *c = container_of(w, struct conn, timer);
    int queued = 0;

    switch (c->state) {
    case CONN_DELAY:
        resp_start(c);
        conn_step(c);
        return;
    case CONN_ABORT:
        if (ioctl(c->fd, SIOCOUTQ, &queued) == -1 || queued == 0 ||
            ev_now(loop) >= c->deadline)
            conn_close(c);
        return;
    case CONN_LINGER:
        conn_close(c);
        return;
    default:
        ev_timer_stop(loop, w);
        return;
    }
}

/* Takes ownership of fd; returns NULL (fd untouched) on failure. */
static struct conn *
conn_new(struct server *s, int fd)
{
    struct conn *c = calloc(1, sizeof(*c));
    int one = 1;

    if (c == NULL)
        return NULL;
    c->srv = s;
    c->fd = fd;
    c->id = ++s->conns_accepted;
    c->state = CONN_READ;
    /* Headers and small bodies go out in one write; Nagle would only
     * hold back the tail of a response. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    http_parser_init(&c->parser, HTTP_REQUEST);
    ev_io_init(&c->rd, conn_read_cb, fd, EV_READ);
    ev_io_init(&c->wr, conn_write_cb, fd, EV_WRITE);
    ev_init(&c->timer, conn_timer_cb);
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    ev_io_start(s->loop, &c->rd);
    return c;
}

static void
server_accept_cb(struct ev_loop *loop, struct ev_io *w, int revents)
{
    struct server *s = container_of(w, struct server, accept_io);

    for (int i = 0; i < 64; i++) {
        int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd == -1) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM) {
                /* The listener stays readable: back off instead of
                 * spinning until a descriptor frees up. */
                fprintf(stderr, "weir-demo-backend: accept: %s\n",
                        strerror(errno));
                ev_io_stop(loop, &s->accept_io);
                ev_timer_set(&s->accept_retry, ACCEPT_RETRY, 0.0);
                ev_timer_start(loop, &s->accept_retry);
            }
            return;
        }
        if (conn_new(s, fd) == NULL)
            close(fd);
    }
}

static void
server_retry_cb(struct ev_loop *loop, struct ev_timer *w, int revents)
{
    struct server *s = container_of(w, struct server, accept_retry);

    ev_io_start(loop, &s->accept_io);
}

static void
server_signal_cb(struct ev_loop *loop, struct ev_signal *w, int revents)
{
    ev_break(loop, EVBREAK_ALL);
}

/* Splits "HOST:PORT" or "[V6]:PORT"; host may be empty (any address). */
static int
split_hostport(const char *s, char *host, size_t hostlen, char *port,
               size_t portlen)
{
    const char *colon;
    const char *hs = s;
    size_t hl;
    uint64_t v;

    if (s[0] == '[') {
        const char *rb = strchr(s, ']');

        if (rb == NULL || rb[1] != ':')
            return -1;
        hs = s + 1;
        hl = (size_t)(rb - hs);
        colon = rb + 1;
    } else {
        if ((colon = strrchr(s, ':')) == NULL || memchr(s, ':', (size_t)
                                                        (colon - s)))
            return -1;
        hl = (size_t)(colon - s);
    }
    if (hl >= hostlen || strlen(colon + 1) >= portlen ||
        parse_u64(colon + 1, strlen(colon + 1), 65535, &v) == -1)
        return -1;
    memcpy(host, hs, hl);
    host[hl] = '\0';
    strcpy(port, colon + 1);
    return 0;
}

/* Prints the bound address for a harness to read: the only stdout line. */
static int
server_announce(struct server *s, int fd)
{
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    char addr[INET6_ADDRSTRLEN];
    unsigned port;

    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1) {
        fprintf(stderr, "weir-demo-backend: getsockname: %s\n",
                strerror(errno));
        return -1;
    }
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

        inet_ntop(AF_INET6, &sin6->sin6_addr, addr, sizeof(addr));
        port = ntohs(sin6->sin6_port);
        printf("listening [%s]:%u\n", addr, port);
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

        inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof(addr));
        port = ntohs(sin->sin_port);
        printf("listening %s:%u\n", addr, port);
    }
    fflush(stdout);
    if (!s->opts.quiet)
        fprintf(stderr, "weir-demo-backend: %s listening on %s port %u\n",
                s->opts.name, addr, port);
    return 0;
}

static int
server_listen(struct server *s)
{
    struct addrinfo hints = {0}, *res = NULL, *ai;
    char host[256], port[8];
    int one = 1, rc, fd = -1;

    if (split_hostport(s->opts.listen, host, sizeof(host), port,
                       sizeof(port)) == -1)
        return -1;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if ((rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res)) != 0) {
        fprintf(stderr, "weir-demo-backend: %s: %s\n", s->opts.listen,
                gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family,
                    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd == -1)
            continue;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
                       sizeof(one)) == 0 &&
            bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
            listen(fd, SOMAXCONN) == 0)
            break;
        close(fd);
        fd = -1;
    }
    if (fd == -1) {
        fprintf(stderr, "weir-demo-backend: listen %s: %s\n",
                s->opts.listen, strerror(errno));
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    if (server_announce(s, fd) == -1) {
        close(fd);
        return -1;
    }
    s->fd = fd;
    return 0;
}

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: weir-demo-backend [--listen HOST:PORT] [--name NAME]\n"
            "                         [--delay-ms N] [--status N] "
            "[--size N] [--chunked]\n"
            "                         [--health-status N] [--quiet]\n"
            "query parameters: delay=MS status=N size=N chunked=1 close=1\n"
            "                  abort=N headers=1 noframe=1\n"
            "endpoints: /health, /_control?health=N, /_stats\n");
}

static int
opt_num(const char *arg, uint64_t min, uint64_t max, uint64_t *out)
{
    if (parse_u64(arg, strlen(arg), max, out) == -1 || *out < min)
        return -1;
    return 0;
}

static int
name_ok(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > NAME_LEN_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (name[i] <= ' ' || name[i] > '~')
            return 0;
    return 1;
}

/* Returns 0, or the exit status to use: 0 after --help, 2 on bad usage. */
static int
parse_args(int argc, char **argv, struct opts *o, int *done)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"name", required_argument, NULL, 'n'},
        {"delay-ms", required_argument, NULL, 'd'},
        {"status", required_argument, NULL, 's'},
        {"size", required_argument, NULL, 'z'},
        {"chunked", no_argument, NULL, 'c'},
        {"health-status", required_argument, NULL, 'H'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t v;
    int ch;

    *done = 0;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'l':
            o->listen = optarg;
            break;
        case 'n':
            if (!name_ok(optarg))
                goto bad;
            o->name = optarg;
            break;
        case 'd':
            if (opt_num(optarg, 0, DELAY_MAX_MS, &o->delay_ms) == -1)
                goto bad;
            break;
        case 's':
            if (opt_num(optarg, 200, 599, &v) == -1)
                goto bad;
            o->status = (int)v;
            break;
        case 'z':
            if (opt_num(optarg, 0, BODY_SIZE_MAX, &o->size) == -1)
                goto bad;
            o->size_set = 1;
            break;
        case 'c':
            o->chunked = 1;
            break;
        case 'H':
            if (opt_num(optarg, 200, 599, &v) == -1)
                goto bad;
            o->health_status = (int)v;
            break;
        case 'q':
            o->quiet = 1;
            break;
        case 'h':
            usage(stdout);
            *done = 1;
            return 0;
        default:
            goto bad;
        }
    }
    if (optind != argc)
        goto bad;
    {
        char host[256], port[8];

        if (split_hostport(o->listen, host, sizeof(host), port,
                           sizeof(port)) == -1)
            goto bad;
    }
    return 0;
bad:
    usage(stderr);
    return 2;
}

int
main(int argc, char **argv)
{
    struct server s;
    int rc, done;

    memset(&s, 0, sizeof(s));
    s.fd = -1;
    s.opts.listen = "127.0.0.1:0";
    s.opts.name = "demo";
    s.opts.status = 200;
    s.opts.health_status = 200;
    if ((rc = parse_args(argc, argv, &s.opts, &done)) != 0 || done)
        return rc;
    s.health_status = s.opts.health_status;
    signal(SIGPIPE, SIG_IGN);

    if ((s.loop = ev_default_loop(EVFLAG_AUTO)) == NULL) {
        fprintf(stderr, "weir-demo-backend: cannot create the event loop\n");
        return 1;
    }
    if (server_listen(&s) == -1) {
        ev_loop_destroy(s.loop);
        return 1;
    }
    ev_io_init(&s.accept_io, server_accept_cb, s.fd, EV_READ);
    ev_init(&s.accept_retry, server_retry_cb);
    ev_signal_init(&s.sig_term, server_signal_cb, SIGTERM);
    ev_signal_init(&s.sig_int, server_signal_cb, SIGINT);
    ev_io_start(s.loop, &s.accept_io);
    ev_signal_start(s.loop, &s.sig_term);
    ev_signal_start(s.loop, &s.sig_int);

    ev_run(s.loop, 0);

    while (s.conns != NULL)
        conn_close(s.conns);
    ev_io_stop(s.loop, &s.accept_io);
    ev_timer_stop(s.loop, &s.accept_retry);
    ev_signal_stop(s.loop, &s.sig_term);
    ev_signal_stop(s.loop, &s.sig_int);
    close(s.fd);
    ev_loop_destroy(s.loop);
    return 0;
}
