/*
 * weir-demo-backend responses: turns a parsed request into a response plan
 * (route, query parameters, framing), writes its status line and headers,
 * and generates its body (text, request head echo, or pattern) chunk by
 * chunk. It does no socket I/O; demo_conn.c sends what is queued here.
 */
#include "demo_backend.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <http_parser.h>

#include "weir/util/defs.h"

#define CHUNK_FRAMING  24               /* "%zx\r\n" + "\r\n", generously */

/* Byte i of a generated body is body_pattern[i % 62]. The period is not a
 * power of two, so a dropped or repeated buffer shifts the phase visibly. */
static const char body_pattern[] =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
#define PATTERN_LEN (sizeof(body_pattern) - 1)

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
void
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
void
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

/* Answers a request we could not parse; the connection closes after. */
void
resp_fail(struct conn *c, int status, const char *text)
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
void
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
