/*
 * weir-demo-backend connections: one accepted socket's life. Reads and
 * parses requests with http-parser (keeping pipelined ones queued), sends
 * 100 Continue, delays, writes the response demo_reply.c builds, then
 * keeps the connection alive, lingers before closing, or aborts with RST.
 */
#include "demo_backend.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <ev.h>
#include <http_parser.h>

#include "weir/util/defs.h"

#define LINGER_SECS    2.0
#define ABORT_SECS     2.0
#define ABORT_POLL     0.001
#define FNV_OFFSET     UINT64_C(0xcbf29ce484222325)
#define FNV_PRIME      UINT64_C(0x100000001b3)

static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";

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
void
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
            resp_fail(c, err == HPE_HEADER_OVERFLOW ? 431 : 400,
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
            resp_fail(c, 431, "head too large\n");
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
struct conn *
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
