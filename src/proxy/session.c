/* One client connection through its request cycle: read and check a head,
 * pick a backend, connect (retrying elsewhere), stream both bodies, then
 * keep-alive or close. The cycle is one state machine driven by
 * session_step(); callbacks only record readiness and call it. Bodies move
 * through fixed buffers with backpressure both ways. */
#include "weir/proxy/session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "weir/config/config.h"
#include "weir/http/http_head.h"
#include "weir/http/http_msg.h"
#include "weir/http/http_reply.h"
#include "weir/http/http_rewrite.h"
#include "weir/lb/affinity.h"
#include "weir/lb/backend.h"
#include "weir/net/listener.h"
#include "weir/net/sock.h"
#include "weir/net/transport.h"
#include "weir/net/upstream.h"
#include "weir/proxy/accesslog.h"
#include "weir/proxy/generation.h"
#include "weir/proxy/proxy.h"
#include "weir/util/buf.h"
#include "weir/util/defs.h"
#include "weir/util/fmt.h"
#include "weir/util/json.h"
#include "weir/util/log.h"

/* Response heads from backends may be larger than client heads. */
#define SESSION_RESPONSE_BUF 32768
/* Room for what Weir adds to a request head (X-Forwarded-*, ids). */
#define SESSION_REWRITE_SLACK 1024
/* How long a closing connection's unread input is drained (lingering
 * close), so that our last response is not destroyed by a reset. */
#define SESSION_LINGER_SECONDS 2.0

/*
 * state      client rd      client wr     upstream       timer
 * HANDSHAKE  as TLS wants   as TLS wants  -              tls_handshake
 * HEAD       until head     pending out   -              idle, then header
 * CONNECT    request body   pending out   wr (connect)   connect
 * EXCHANGE   request body   pending out   rd, wr         backend / write /
 *                                                        body (rate window)
 * REPLY      -              until empty   -              client_write
 * LINGER     discard        -             -              linger
 */
enum session_state {
    SESSION_HANDSHAKE,
    SESSION_HEAD,
    SESSION_CONNECT,
    SESSION_EXCHANGE,
    SESSION_REPLY,
    SESSION_LINGER,
    SESSION_TUNNEL,      /* after a 101: bytes relayed both ways */
};

enum session_timer {
    TIMER_NONE,
    TIMER_HANDSHAKE,     /* the TLS handshake must finish in time */
    TIMER_IDLE,          /* keep-alive wait for the next request */
    TIMER_HEADER,        /* the whole head must arrive in time */
    TIMER_CONNECT,
    TIMER_BACKEND,       /* waiting on the backend */
    TIMER_CLIENT_WRITE,  /* waiting on the client to read */
    TIMER_CLIENT_BODY,   /* waiting on the request body: one rate window */
    TIMER_LINGER,
    TIMER_TUNNEL,        /* no byte either way for this long */
};

struct session {
    struct proxy *px;
    struct session *next, *prev;
    struct generation *gen;       /* the configuration of this request */
    struct generation *tls_gen;   /* TLS: the one whose contexts the
                                   * connection was accepted with */
    bool tls;                     /* accepted on a TLS listener */
    uint64_t id;
    struct transport tp;          /* the client socket, plain or TLS */
    ev_io rd, wr;
    ev_timer timer;
    enum session_state state;
    enum session_timer tkind;
    const char *dead;             /* close reason once the session must end */
    char client_ip[INET6_ADDRSTRLEN];
    uint32_t client_hash;

    struct buf cin;               /* client bytes: heads and request body */
    struct buf uout;              /* request going to the backend */
    struct buf uin;               /* backend bytes */
    struct buf cout;              /* response going to the client */

    /* The current request. */
    struct http_msg req;
    struct http_msg resp;
    size_t head_scan;             /* cin bytes searched for the head end */
    size_t head_kept;             /* head left in cin for a replay, or 0 */
    char request_id[64];
    ev_tstamp started;
    unsigned resp_status;         /* the backend's final status, or 0 */
    bool head_started;
    bool req_is_head;
    bool req_replayable;          /* idempotent and bodiless */
    bool req_done;
    bool resp_started;            /* a byte came from the backend */
    bool resp_head_done;
    bool resp_done;
    bool client_ka;               /* this response may keep the client */
    bool close_after;
    bool expect_100;              /* the client may wait for a 100 first */
    bool req_upgrade;             /* asked to switch protocols (Upgrade) */
    uint64_t body_mark;           /* req_in when the body window started */

    /* Readiness as last seen: true means "try the syscall". */
    bool c_readable, c_writable, c_eof;
    bool u_readable, u_writable, u_eof;

    struct upstream *up;
    struct backend *backend;
    bool inflight;                /* backend_inflight_inc without dec yet */
    struct backend *sticky;       /* named by a valid affinity cookie */
    bool sticky_fresh;            /* that cookie needs no re-issue */
    char set_cookie[192];         /* "Set-Cookie: ...\r\n" for the response */

    /* For the access log of the current request. */
    bool log_pending;             /* a head was taken and not logged yet */
    ev_tstamp t_req, t_connected, t_head;
    uint64_t req_in, req_out;     /* client bytes while it ran */
    const char *pick;             /* why this backend */
    const char *affinity;         /* new, kept, moved; NULL when off */
    char log_method[16];
    char log_target[200];
    bool reused;                  /* up came from the pool */
    uint8_t *tried;               /* per backend: failed for this request */
    size_t tried_n;
    uint64_t tried_gen;           /* the generation whose table it indexes */
};

static void session_step(struct session *s);
static void upstream_event(struct upstream *u, int revents);

static const char *const state_names[] = {
    "handshake", "head", "connect", "exchange", "reply", "linger", "tunnel",
};

static void
set_state(struct session *s, enum session_state st, const char *why)
{
    if (log_enabled(LOG_LEVEL_DEBUG))
        log_debug("session %llu: %s -> %s (%s)", (unsigned long long)s->id,
                  state_names[s->state], state_names[st], why);
    s->state = st;
}

/* ---- I/O helpers: return bytes moved, 0 on EOF, -1 on error, -2 when
 * the socket would block (readiness cleared). ---- */

static ssize_t
read_into(int fd, struct buf *b, bool *ready)
{
    if (buf_tail_room(b) < b->cap / 4)
        buf_compact(b);
    size_t room = buf_tail_room(b);
    if (room == 0)
        return -2;
    ssize_t n = read(fd, buf_wptr(b), room);
    if (n > 0) {
        b->wpos += (size_t)n;
        if ((size_t)n < room)
            *ready = false; /* drained the socket, most likely */
        return n;
    }
    if (n == 0)
        return 0;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        *ready = false;
        return -2;
    }
    return -1;
}

static ssize_t
write_from(int fd, struct buf *b, bool *ready)
{
    size_t len = buf_len(b);
    ssize_t n = send(fd, buf_rptr(b), len, MSG_NOSIGNAL);
    if (n >= 0) {
        buf_consume(b, (size_t)n);
        if ((size_t)n < len)
            *ready = false;
        return n;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        *ready = false;
        return -2;
    }
    return -1;
}

/* ---- Ending requests and connections ---- */

/* Point SLOT at B, holding a reference: a reload may remove B from the
 * configuration while this session still uses it. */
static void
hold_backend(struct backend **slot, struct backend *b)
{
    if (b != NULL)
        backend_ref(b);
    if (*slot != NULL)
        backend_unref(*slot);
    *slot = b;
}

static void
release_backend(struct session *s, enum backend_outcome outcome)
{
    if (s->inflight) {
        ev_tstamp now = ev_now(s->px->loop);
        uint64_t us = (uint64_t)((now - s->started) * 1e6);
        /* Weir answers for a backend that failed: count what the client
         * will see. */
        unsigned status = s->resp_status ? s->resp_status
                        : outcome == BACKEND_TIMEOUT ? 504
                        : outcome == BACKEND_FAILED ? 502 : 0;
        backend_record(s->backend, status, us);
        backend_inflight_dec(s->backend, outcome, us, (uint64_t)(now * 1000.0));
        s->inflight = false;
    }
}

static void
drop_upstream(struct session *s)
{
    if (s->up != NULL) {
        upstream_close(s->up);
        s->up = NULL;
    }
    s->u_readable = s->u_writable = s->u_eof = false;
}

/* End the session: it is freed at the end of session_step. */
static void
session_fail(struct session *s, const char *reason)
{
    if (s->dead == NULL)
        s->dead = reason;
}

/* ---- Buffers: held only while a request is under way ---- */

/* The client input buffer, allocated on first need. 0 or -1. */
static int
ensure_cin(struct session *s)
{
    if (s->cin.data != NULL)
        return 0;
    return buf_init_cached(&s->px->bufs, &s->cin, s->gen->cfg->limits.max_header_bytes);
}

/* The other three buffers, for an exchange or a reply. 0 or -1. */
static int
ensure_exchange_bufs(struct session *s)
{
    struct buf_cache *c = &s->px->bufs;
    size_t head = s->gen->cfg->limits.max_header_bytes;
    if ((s->uout.data == NULL &&
         buf_init_cached(c, &s->uout, head + SESSION_REWRITE_SLACK) == -1) ||
        (s->uin.data == NULL && buf_init_cached(c, &s->uin, SESSION_RESPONSE_BUF) == -1) ||
        (s->cout.data == NULL &&
         buf_init_cached(c, &s->cout, SESSION_RESPONSE_BUF + SESSION_REWRITE_SLACK) == -1))
        return -1;
    return 0;
}

/* Give the four buffers back to the loop's cache (or free them). */
static void
release_bufs(struct session *s)
{
    struct buf_cache *c = &s->px->bufs;
    buf_fini_cached(c, &s->cin);
    buf_fini_cached(c, &s->uout);
    buf_fini_cached(c, &s->uin);
    buf_fini_cached(c, &s->cout);
}

/* An idle keep-alive connection keeps no buffer: about 100 KiB less per
 * connection waiting for its next request. The buffers go back to the
 * loop's cache, so the next request (on any connection) needs no malloc. */
static void
release_idle_bufs(struct session *s)
{
    if (s->state != SESSION_HEAD || buf_len(&s->cin) > 0 ||
        buf_len(&s->cout) > 0 || s->cin.data == NULL)
        return;
    release_bufs(s);
}

/* ISO 8601 / RFC 3339 UTC with milliseconds. */
static void
format_time(ev_tstamp t, char *out, size_t len)
{
    time_t secs = (time_t)t;
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, len - n, ".%03dZ", (int)((t - (double)secs) * 1000.0));
}

static void
put_ms(struct json_writer *w, const char *key, ev_tstamp from, ev_tstamp to)
{
    char num[32];
    json_write_key(w, key);
    if (from <= 0 || to <= 0) {
        json_write_null(w);
        return;
    }
    int n = snprintf(num, sizeof(num), "%.3f", (to - from) * 1000.0);
    json_write_raw(w, num, (size_t)n);
}

/* One access log line for the request that just ended with STATUS (0: no
 * response reached the client) and END, how it ended. */
static void
log_request(struct session *s, unsigned status, const char *end)
{
    struct proxy *px = s->px;
    char line[2048], when[40];
    struct buf b = {.data = line, .cap = sizeof(line)};
    struct json_writer w;
    ev_tstamp now = ev_now(px->loop);

    if (!s->log_pending)
        return;
    s->log_pending = false;
    if (px->accesslog == NULL || !px->accesslog->enabled)
        return;
    format_time(now, when, sizeof(when));
    json_writer_init(&w, &b);
    json_write_object_begin(&w);
    json_write_key(&w, "time");
    json_write_string(&w, when);
    json_write_key(&w, "client");
    json_write_string(&w, s->client_ip);
    json_write_key(&w, "method");
    json_write_string(&w, s->log_method);
    json_write_key(&w, "path");
    json_write_string(&w, s->log_target);
    json_write_key(&w, "status");
    json_write_uint(&w, status);
    json_write_key(&w, "bytes_in");
    json_write_uint(&w, s->req_in);
    json_write_key(&w, "bytes_out");
    json_write_uint(&w, s->req_out);
    put_ms(&w, "duration_ms", s->t_req, now);
    put_ms(&w, "connect_ms", s->t_req, s->t_connected);
    put_ms(&w, "response_head_ms", s->t_req, s->t_head);
    json_write_key(&w, "backend");
    if (s->backend != NULL)
        json_write_string(&w, s->backend->name);
    else
        json_write_null(&w);
    json_write_key(&w, "request_id");
    json_write_string(&w, s->request_id);
    if (s->tp.ssl != NULL) {
        json_write_key(&w, "tls");
        json_write_string(&w, transport_tls_version(&s->tp));
    }
    if (s->affinity != NULL) {
        json_write_key(&w, "affinity");
        json_write_string(&w, s->affinity);
    }
    json_write_key(&w, "picked_by");
    if (s->pick != NULL)
        json_write_string(&w, s->pick);
    else
        json_write_null(&w);
    json_write_key(&w, "end");
    json_write_string(&w, end);
    json_write_object_end(&w);
    if (json_write_finish(&w) == 0)
        accesslog_write(px->accesslog, buf_rptr(&b), buf_len(&b));
}

/* How a request answered by Weir itself ended, for the access log. */
static const char *
end_for_status(int status)
{
    switch (status) {
    case 504:
    case 408:
        return "timeout";
    case 502:
        return "backend failed";
    case 503:
        return "no backend";
    default:
        return "rejected";
    }
}

/* Answer STATUS ourselves and close once it is written. */
static void
reply_error(struct session *s, int status, const char *why)
{
    log_debug("session %llu: %d (%s)", (unsigned long long)s->id, status, why);
    if (status == 400 || status == 431 || status == 501 || status == 405 ||
        status == 414)
        s->px->counters.bad_requests++;
    release_backend(s, BACKEND_ABANDONED); /* callers usually did already */
    drop_upstream(s);
    if (ensure_exchange_bufs(s) == -1) {
        session_fail(s, "out of memory");
        return;
    }
    buf_reset(&s->cout);
    if (http_reply_error(&s->cout, status,
                         s->request_id[0] ? s->request_id : NULL) == -1) {
        session_fail(s, "reply does not fit");
        return;
    }
    s->req_out += buf_len(&s->cout);
    log_request(s, (unsigned)status, end_for_status(status));
    set_state(s, SESSION_REPLY, why);
}

static void
reset_request(struct session *s)
{
    s->head_scan = 0;
    s->head_kept = 0;
    s->request_id[0] = '\0';
    s->head_started = false;
    s->resp_status = 0;
    s->req_is_head = s->req_replayable = s->req_done = false;
    s->req_upgrade = false;
    s->resp_started = s->resp_head_done = s->resp_done = false;
    s->client_ka = s->close_after = false;
    s->expect_100 = false;
    s->reused = false;
    hold_backend(&s->backend, NULL);
    hold_backend(&s->sticky, NULL);
    s->sticky_fresh = false;
    s->log_pending = false;
    s->req_in = s->req_out = 0;
    s->t_connected = s->t_head = 0;
    buf_reset(&s->uout);
    buf_reset(&s->uin);
    if (s->tried != NULL)
        memset(s->tried, 0, s->tried_n);
    if (s->gen != s->px->gen) {
        /* Between requests: the next one runs under the current
         * configuration. */
        generation_unref(s->gen);
        s->gen = s->px->gen;
        generation_ref(s->gen);
    }
}

/* ---- Upstream: pick, connect, retry ---- */

static void start_upstream(struct session *s);

static bool
mark_tried(struct session *s, struct backend *b)
{
    const struct backend_table *bt = s->px->bt;

    if (s->tried != NULL && s->tried_gen != s->px->gen->number) {
        /* A reload replaced the table: what failed before is forgotten. */
        free(s->tried);
        s->tried = NULL;
    }
    if (s->tried == NULL) {
        s->tried = calloc(bt->n ? bt->n : 1, 1);
        if (s->tried == NULL)
            return false;
        s->tried_n = bt->n;
        s->tried_gen = s->px->gen->number;
    }
    if (b->table == bt)
        s->tried[b->index] = 1;
    return true;
}

/* The backend failed before anything was sent: try another one. */
static void
retry_elsewhere(struct session *s, const char *why)
{
    struct backend *failed = s->backend;

    log_warnx("backend %s: %s (request %s)", failed->name, why, s->request_id);
    release_backend(s, BACKEND_FAILED);
    drop_upstream(s);
    if (!mark_tried(s, failed)) {
        reply_error(s, 502, "out of memory");
        return;
    }
    hold_backend(&s->backend, backend_pick(s->px->bt, s->tried, s->client_hash));
    if (s->backend == NULL) {
        reply_error(s, 503, "every backend failed to connect");
        return;
    }
    s->px->counters.retries++;
    s->pick = "retry";
    start_upstream(s);
}

static void
start_upstream(struct session *s)
{
    struct pool *pool = s->backend->pool;

    backend_inflight_inc(s->backend);
    s->inflight = true;
    s->started = ev_now(s->px->loop);
    s->up = pool_get(pool, s, upstream_event);
    if (s->up != NULL) {
        s->reused = true;
        s->u_writable = true;
        s->t_connected = s->started;
        set_state(s, SESSION_EXCHANGE, "pooled connection");
        return;
    }
    s->reused = false;
    s->up = upstream_connect(pool, s, upstream_event);
    if (s->up == NULL) {
        retry_elsewhere(s, strerror(errno));
        return;
    }
    set_state(s, SESSION_CONNECT, s->backend->name);
}

static void
check_connected(struct session *s)
{
    if (!s->u_writable)
        return;
    int err = sock_error(s->up->fd);
    if (err != 0) {
        errno = err;
        retry_elsewhere(s, strerror(err));
        return;
    }
    s->t_connected = ev_now(s->px->loop);
    set_state(s, SESSION_EXCHANGE, "connected");
}

/* A pooled connection died before answering: replay the request once on a
 * fresh connection when that is safe (idempotent, no body). */
static bool
replay_request(struct session *s)
{
    struct http_head *h = &s->px->head;

    if (!s->reused || s->resp_started || !s->req_replayable || s->head_kept == 0)
        return false;
    if (http_head_parse_request(h, buf_rptr(&s->cin), s->head_kept) != 0)
        return false;
    drop_upstream(s);
    buf_reset(&s->uout);
    struct http_request_ctx ctx = {
        .client_ip = s->client_ip,
        .proto = s->tls ? "https" : "http",
        .request_id = s->request_id,
        .strip_cookie = s->px->affinity ? s->gen->cfg->affinity.cookie_name : NULL,
    };
    if (http_rewrite_request(&s->uout, h, &ctx) == -1)
        return false;
    s->px->counters.retries++;
    s->reused = false;
    s->up = upstream_connect(s->backend->pool, s, upstream_event);
    if (s->up == NULL) {
        retry_elsewhere(s, strerror(errno));
        return true;
    }
    log_debug("session %llu: replaying on a fresh connection",
              (unsigned long long)s->id);
    set_state(s, SESSION_CONNECT, "replay");
    return true;
}

/* The backend failed after the request (or part of it) was sent. */
static void
upstream_failed(struct session *s, const char *why)
{
    if (replay_request(s))
        return;
    log_warnx("backend %s: %s (request %s)", s->backend->name, why,
              s->request_id);
    release_backend(s, BACKEND_FAILED);
    if (!s->resp_head_done) {
        reply_error(s, 502, why);
        return;
    }
    /* Part of the response is out: only closing tells the client. */
    drop_upstream(s);
    session_fail(s, why);
}

/* ---- Request head ---- */

static bool
method_is(const struct http_head *h, const char *m)
{
    size_t n = strlen(m);
    return h->method.len == n && memcmp(h->method.p, m, n) == 0;
}

/* A fresh request id: the boot id, then the request count in 16 hex
 * digits. */
static void
new_request_id(struct session *s)
{
    struct proxy *px = s->px;
    size_t n = strlen(px->boot_id);

    memcpy(s->request_id, px->boot_id, n);
    fmt_hex_fixed(s->request_id + n, ++px->next_request_seq, 16);
    s->request_id[n + 16] = '\0';
}

static void
make_request_id(struct session *s, const struct http_head *h)
{
    if (http_rewrite_request_id(h, s->request_id, sizeof(s->request_id)))
        return;
    new_request_id(s);
}

/* SPAN as a NUL-terminated string in DST (SIZE bytes), cut to fit. */
static void
copy_span(char *dst, size_t size, struct http_span span)
{
    size_t n = MIN(span.len, size - 1);
    if (n > 0)
        memcpy(dst, span.p, n);
    dst[n] = '\0';
}

/* The backend named by a valid affinity cookie in H, if any. */
static void
find_sticky(struct session *s, const struct http_head *h)
{
    struct proxy *px = s->px;
    const struct cfg_affinity *a = &s->gen->cfg->affinity;
    uint64_t now_s = (uint64_t)ev_now(px->loop);
    struct affinity_cookie c;

    for (size_t i = 0; i < h->nheaders; i++) {
        const struct http_header *f = &h->headers[i];
        if (f->kind != HTTP_HDR_COOKIE ||
            affinity_lookup(&px->aff_keys, f->value.p, f->value.len,
                            a->cookie_name, now_s, &c) == -1)
            continue;
        for (size_t b = 0; b < px->bt->n; b++) {
            if (affinity_match(&c, &px->bt->backends[b]->aff_ids)) {
                hold_backend(&s->sticky, px->bt->backends[b]);
                /* Re-issue under the current key, and before half the ttl
                 * is gone, so a long session is never re-balanced. */
                s->sticky_fresh = !c.previous_key &&
                    (c.expires_at_s - now_s) * 2000 > a->ttl_ms;
                return;
            }
        }
    }
}

/* May the sticky backend take this request? While eligible; while
 * draining, only within sticky_grace of the drain's start. */
static bool
sticky_allowed(const struct session *s, const struct backend *b)
{
    if (b->peer->eligible)
        return true;
    uint64_t now_ms = (uint64_t)(ev_now(s->px->loop) * 1000.0);
    uint64_t grace = s->gen->cfg->draining.sticky_grace_ms;
    return b->admin == BACKEND_DRAINING && !b->agent_drain &&
           b->peer->weight > 0 && grace > 0 &&
           now_ms - b->drain_started_ms < grace &&
           health_fsm_eligible(&b->health, now_ms);
}

/* The affinity cookie for the response, when the client needs a new one. */
static const char *
set_cookie_for(struct session *s)
{
    struct proxy *px = s->px;
    const struct cfg_affinity *a = &s->gen->cfg->affinity;
    char value[AFFINITY_VALUE_SIZE];
    uint64_t now_s = (uint64_t)ev_now(px->loop);

    if (!px->affinity || (s->sticky == s->backend && s->sticky_fresh))
        return NULL;
    if (affinity_encode(&px->aff_keys, s->backend->name,
                        now_s + a->ttl_ms / 1000, value, sizeof(value)) == -1)
        return NULL;
    int n = snprintf(s->set_cookie, sizeof(s->set_cookie), "Set-Cookie: ");
    int m = affinity_set_cookie(s->set_cookie + n, sizeof(s->set_cookie) - (size_t)n - 2,
                                a->cookie_name, value, a->ttl_ms / 1000,
                                s->tls);
    if (m < 0)
        return NULL;
    memcpy(s->set_cookie + n + m, "\r\n", 3);
    return s->set_cookie;
}

/* A complete head of LEN bytes is at the front of cin. */
static void
accept_head(struct session *s, size_t len)
{
    struct proxy *px = s->px;
    struct http_head *h = &px->head;
    const char *data = buf_rptr(&s->cin);

    int status = http_head_parse_request_max(
        h, data, len, s->gen->cfg->limits.max_header_line_bytes);
    s->log_pending = true;
    s->t_req = ev_now(px->loop);
    copy_span(s->log_method, sizeof(s->log_method), h->method);
    copy_span(s->log_target, sizeof(s->log_target), h->target);
    if (status != 0) {
        /* The head cannot be trusted for an id: a fresh one. */
        new_request_id(s);
        reply_error(s, status, "bad request head");
        return;
    }
    make_request_id(s, h);
    if (ensure_exchange_bufs(s) == -1) {
        session_fail(s, "out of memory");
        return;
    }
    http_msg_init(&s->req, false);
    if (http_msg_start(&s->req, h, false) == -1) {
        reply_error(s, 400, "parser rejected head");
        return;
    }
    px->counters.requests++;
    s->req_done = s->req.complete;
    s->expect_100 = (h->flags & HTTP_HEAD_F_EXPECT_100) != 0;
    s->req.chunked_out = (h->flags & HTTP_HEAD_F_CHUNKED) != 0;
    s->req_is_head = method_is(h, "HEAD");
    /* A protocol switch (WebSocket) is forwarded only for a bodiless
     * HTTP/1.1 GET; the tunnel opens only if the backend answers 101. */
    struct http_span upgrade;
    s->req_upgrade = s->req_done && h->minor == 1 && method_is(h, "GET") &&
                     http_head_wants_upgrade(h, &upgrade);
    s->req_replayable = s->req_done && !s->req_upgrade &&
                        (method_is(h, "GET") || s->req_is_head ||
                         method_is(h, "OPTIONS"));
    s->client_ka = http_msg_keep_alive(&s->req);

    struct http_request_ctx ctx = {
        .client_ip = s->client_ip,
        .proto = s->tls ? "https" : "http",
        .request_id = s->request_id,
        .strip_cookie = px->affinity ? s->gen->cfg->affinity.cookie_name : NULL,
        .upgrade = s->req_upgrade ? &upgrade : NULL,
    };
    if (px->affinity)
        find_sticky(s, h);
    buf_reset(&s->uout);
    if (http_rewrite_request(&s->uout, h, &ctx) == -1) {
        reply_error(s, 431, "head too large after rewrite");
        return;
    }
    /* A bodiless request keeps its head in cin until the response starts,
     * so a failed pooled connection can replay it. */
    if (s->req_done)
        s->head_kept = len;
    else
        buf_consume(&s->cin, len);

    if (px->affinity)
        s->affinity = s->sticky == NULL ? "new" : "moved";
    if (s->sticky != NULL && sticky_allowed(s, s->sticky)) {
        hold_backend(&s->backend, s->sticky);
        s->pick = "affinity";
        s->affinity = "kept";
    } else {
        hold_backend(&s->backend, backend_pick(px->bt, NULL, s->client_hash));
        s->pick = cfg_algorithm_name(s->gen->cfg->algorithm);
    }
    if (s->backend == NULL) {
        reply_error(s, 503, "no eligible backend");
        return;
    }
    start_upstream(s);
}

static bool
head_step(struct session *s)
{
    size_t len = buf_len(&s->cin);
    if (len == 0) {
        if (s->px->stopping && buf_len(&s->cout) == 0)
            session_fail(s, "stopping");
        return false;
    }
    s->head_started = true;
    size_t end = http_head_find_end(buf_rptr(&s->cin), len, s->head_scan);
    if (end == 0) {
        s->head_scan = len;
        if (len >= s->cin.cap)
            reply_error(s, 431, "request head too large");
        return false;
    }
    accept_head(s, end);
    return true;
}

/* ---- Response head ---- */

static enum http_body_framing
choose_framing(struct session *s, const struct http_head *h)
{
    if (s->resp.complete)
        return HTTP_FRAMING_NONE;
    if (h->flags & HTTP_HEAD_F_LENGTH)
        return HTTP_FRAMING_LENGTH;
    /* Chunked or close-delimited: HTTP/1.1 clients get chunked, so the
     * client connection survives a close-delimited backend response. */
    return s->req.minor >= 1 ? HTTP_FRAMING_CHUNKED
                                         : HTTP_FRAMING_CLOSE;
}

/* Forward a 1xx interim response and expect the real one after it. */
static bool
forward_interim(struct session *s, const struct http_head *h, size_t len)
{
    struct http_response_ctx ctx = {.framing = HTTP_FRAMING_NONE};
    /* HTTP/1.0 clients do not know interim responses: swallow them. */
    if (s->req.minor >= 1 &&
        http_rewrite_response(&s->cout, h, &ctx) == -1)
        return false;
    buf_consume(&s->uin, len);
    return true;
}

/* The backend accepted the protocol switch: pass its 101 on, then relay
 * bytes both ways until one side closes. The request stays in flight (and
 * counted as the backend's load) for as long as the tunnel lasts. */
static void
start_tunnel(struct session *s, const struct http_head *h, size_t end)
{
    struct http_span upgrade = {NULL, 0};
    for (size_t i = 0; i < h->nheaders; i++)
        if (h->headers[i].kind == HTTP_HDR_UPGRADE)
            upgrade = h->headers[i].value;
    struct http_response_ctx ctx = {.framing = HTTP_FRAMING_NONE,
                                    .upgrade = &upgrade};
    size_t queued = buf_len(&s->cout);
    if (http_rewrite_response(&s->cout, h, &ctx) == -1) {
        upstream_failed(s, "response head too large");
        return;
    }
    s->req_out += buf_len(&s->cout) - queued;
    buf_consume(&s->uin, end);
    if (s->head_kept) {
        buf_consume(&s->cin, s->head_kept);
        s->head_kept = 0;
    }
    s->resp_status = 101;
    s->t_head = ev_now(s->px->loop);
    s->resp_head_done = true;
    set_state(s, SESSION_TUNNEL, "101 switching protocols");
}

/* Move what fits of FROM into TO. */
static bool
relay(struct buf *from, struct buf *to)
{
    size_t n = MIN(buf_len(from), buf_room(to));
    if (n == 0)
        return false;
    if (buf_reserve(to, n) == -1)
        return false;
    memcpy(buf_wptr(to), buf_rptr(from), n);
    to->wpos += n;
    buf_consume(from, n);
    return true;
}

/* One side is done and all it sent has been passed on: end the tunnel. */
static void
end_tunnel(struct session *s, const char *why)
{
    release_backend(s, BACKEND_OK);
    drop_upstream(s);
    session_fail(s, why);
}

static bool
tunnel_step(struct session *s)
{
    bool progress = relay(&s->cin, &s->uout);
    ssize_t n;

    if (s->u_writable && buf_len(&s->uout) > 0) {
        n = write_from(s->up->fd, &s->uout, &s->u_writable);
        if (n == -1) {
            end_tunnel(s, "tunnel: backend write failed");
            return false;
        }
        progress |= n > 0;
    }
    if (s->u_readable && !s->u_eof && buf_room(&s->uin) > 0) {
        n = read_into(s->up->fd, &s->uin, &s->u_readable);
        if (n == -1) {
            end_tunnel(s, "tunnel: backend read failed");
            return false;
        }
        if (n == 0)
            s->u_eof = true;
        progress |= n >= 0;
    }
    progress |= relay(&s->uin, &s->cout);
    if (s->c_eof && buf_len(&s->cin) == 0 && buf_len(&s->uout) == 0)
        end_tunnel(s, "tunnel closed by the client");
    else if (s->u_eof && buf_len(&s->uin) == 0 && buf_len(&s->cout) == 0)
        end_tunnel(s, "tunnel closed by the backend");
    return progress;
}

static void
response_head_step(struct session *s)
{
    struct http_head *h = &s->px->head;
    size_t len = buf_len(&s->uin);
    size_t end = http_head_find_end(buf_rptr(&s->uin), len, 0);

    if (end == 0) {
        if (len >= s->uin.cap)
            upstream_failed(s, "response head too large");
        return;
    }
    if (http_head_parse_response(h, buf_rptr(&s->uin), end) != 0) {
        upstream_failed(s, "malformed response head");
        return;
    }
    if (h->status == 101) {
        if (!s->req_upgrade || !(h->flags & HTTP_HEAD_F_UPGRADE)) {
            upstream_failed(s, "unrequested protocol switch");
            return;
        }
        start_tunnel(s, h, end);
        return;
    }
    if (h->status < 200) {
        if (!forward_interim(s, h, end))
            upstream_failed(s, "interim response does not fit");
        return;
    }
    s->resp_status = h->status;
    s->t_head = ev_now(s->px->loop);
    http_msg_init(&s->resp, true);
    if (http_msg_start(&s->resp, h, s->req_is_head) == -1) {
        upstream_failed(s, "parser rejected response head");
        return;
    }
    struct http_response_ctx ctx = {.framing = choose_framing(s, h)};
    s->close_after = !s->client_ka || s->px->stopping || s->c_eof ||
                     ctx.framing == HTTP_FRAMING_CLOSE;
    ctx.close = s->close_after;
    ctx.keep_alive_10 = s->req.minor == 0 && !ctx.close;
    ctx.extra = set_cookie_for(s);
    s->resp.chunked_out = ctx.framing == HTTP_FRAMING_CHUNKED;
    size_t queued = buf_len(&s->cout);
    if (http_rewrite_response(&s->cout, h, &ctx) == -1) {
        upstream_failed(s, "response head too large");
        return;
    }
    s->req_out += buf_len(&s->cout) - queued;
    buf_consume(&s->uin, end);
    if (s->head_kept) {
        buf_consume(&s->cin, s->head_kept);
        s->head_kept = 0;
    }
    s->resp_head_done = true;
    s->resp_done = s->resp.complete;
}

/* ---- Exchange ---- */

/* The response is complete: settle the backend and the connections. */
static void
finish_exchange(struct session *s)
{
    /* A draining backend's connections are not pooled: drain closed its
     * idle ones and new ones must not take their place. */
    bool reuse = s->req_done && http_msg_keep_alive(&s->resp) &&
                 buf_len(&s->uout) == 0 && buf_len(&s->uin) == 0 && !s->u_eof &&
                 s->backend->admin == BACKEND_ENABLED && !s->px->stopping;

    release_backend(s, BACKEND_OK);
    log_request(s, s->resp_status, "complete");
    s->up->requests++;
    if (reuse)
        pool_put(s->backend->pool, s->up);
    else
        upstream_close(s->up);
    s->up = NULL;
    s->u_readable = s->u_writable = s->u_eof = false;
    if (s->close_after || !s->req_done || s->c_eof) {
        set_state(s, SESSION_REPLY, "last response");
        return;
    }
    reset_request(s);
    set_state(s, SESSION_HEAD, "keep-alive");
    if (s->px->stopping && buf_len(&s->cin) == 0 && buf_len(&s->cout) == 0)
        session_fail(s, "stopping");
}

static bool
pump_request(struct session *s)
{
    if (s->req_done || buf_len(&s->cin) == 0)
        return false;
    size_t before = buf_len(&s->cin);
    enum http_msg_rc rc = http_msg_pump(&s->req, &s->cin, &s->uout);
    if (rc == HTTP_MSG_ERROR) {
        release_backend(s, BACKEND_ABANDONED);
        if (s->resp_head_done)
            session_fail(s, "malformed request body");
        else
            reply_error(s, 400, "malformed request body");
        return false;
    }
    if (rc == HTTP_MSG_DONE)
        s->req_done = true;
    return rc == HTTP_MSG_DONE || buf_len(&s->cin) != before;
}

static bool
upstream_io(struct session *s)
{
    bool progress = false;
    ssize_t n;

    if (s->u_writable && buf_len(&s->uout) > 0) {
        n = write_from(s->up->fd, &s->uout, &s->u_writable);
        if (n == -1) {
            upstream_failed(s, strerror(errno));
            return false;
        }
        progress |= n > 0;
    }
    if (s->u_readable && !s->u_eof && !s->resp_done) {
        n = read_into(s->up->fd, &s->uin, &s->u_readable);
        if (n == -1) {
            upstream_failed(s, strerror(errno));
            return false;
        }
        if (n == 0)
            s->u_eof = true;
        if (n > 0)
            s->resp_started = true;
        progress |= n >= 0;
    }
    return progress;
}

/* Send response body bytes to a plain TCP client straight from uin, after
 * what cout holds and in the same syscall, instead of copying them into
 * cout first. Only while the client takes them: what it does not take is
 * pumped into cout as before, so backpressure and the client_write timeout
 * are unchanged. (TLS keeps the copy: SSL_write is retried with what cout
 * holds.) False when the session failed. */
static bool
send_body_direct(struct session *s)
{
    while (s->c_writable && s->tp.ssl == NULL) {
        size_t body = http_msg_direct(&s->resp, buf_len(&s->uin));
        if (body == 0)
            return true;
        size_t head = buf_len(&s->cout);
        ssize_t n = transport_write2(&s->tp, buf_rptr(&s->cout), head,
                                     buf_rptr(&s->uin), body);
        if (n == TRANSPORT_AGAIN) {
            s->c_writable = false;
            return true;
        }
        if (n < 0) {
            release_backend(s, BACKEND_ABANDONED);
            session_fail(s, "client write failed");
            return false;
        }
        size_t from_head = MIN((size_t)n, head);
        size_t from_body = (size_t)n - from_head;
        buf_consume(&s->cout, from_head);
        buf_consume(&s->uin, from_body);
        http_msg_direct_done(&s->resp, from_body);
        s->req_out += from_body;
        s->px->counters.bytes_out += (uint64_t)n;
        if ((size_t)n < head + body)
            s->c_writable = false;
    }
    return true;
}

static bool
pump_response(struct session *s)
{
    if (!s->resp_head_done) {
        if (buf_len(&s->uin) > 0)
            response_head_step(s);
        if (!s->resp_head_done) {
            if (s->u_eof && s->dead == NULL && s->state == SESSION_EXCHANGE)
                upstream_failed(s, "closed before responding");
            return s->resp_head_done;
        }
    }
    if (s->resp_done)
        return false;
    size_t before = buf_len(&s->uin);
    if (!send_body_direct(s))
        return false;
    size_t queued = buf_len(&s->cout);
    enum http_msg_rc rc = http_msg_pump(&s->resp, &s->uin, &s->cout);
    if (rc == HTTP_MSG_AGAIN && s->u_eof && buf_len(&s->uin) == 0)
        rc = http_msg_eof(&s->resp, &s->cout);
    /* Bytes queued for the client by this response (head and body). */
    s->req_out += buf_len(&s->cout) - queued;
    if (rc == HTTP_MSG_ERROR) {
        upstream_failed(s, s->u_eof ? "closed mid-response" : "malformed response body");
        return false;
    }
    if (rc == HTTP_MSG_DONE)
        s->resp_done = true;
    return rc == HTTP_MSG_DONE || buf_len(&s->uin) != before;
}

static bool
client_write(struct session *s)
{
    bool progress = false;

    /* TLS writes a record at a time: keep going until the socket is full
     * or the buffer empty. */
    while (s->c_writable && buf_len(&s->cout) > 0) {
        size_t len = buf_len(&s->cout);
        ssize_t n = transport_write(&s->tp, buf_rptr(&s->cout), len);
        if (n == TRANSPORT_AGAIN) {
            s->c_writable = false;
            break;
        }
        if (n < 0) {
            release_backend(s, BACKEND_ABANDONED);
            session_fail(s, "client write failed");
            return false;
        }
        buf_consume(&s->cout, (size_t)n);
        s->px->counters.bytes_out += (uint64_t)n;
        progress = true;
        if (s->tp.ssl == NULL && (size_t)n < len)
            s->c_writable = false;
    }
    return progress;
}

static bool
exchange_step(struct session *s)
{
    bool progress = pump_request(s);
    if (s->state != SESSION_EXCHANGE || s->dead)
        return progress;
    progress |= upstream_io(s);
    if (s->state != SESSION_EXCHANGE || s->dead)
        return progress;
    progress |= pump_response(s);
    if (s->state != SESSION_EXCHANGE || s->dead)
        return progress;
    if (s->resp_done) {
        finish_exchange(s);
        return true;
    }
    return progress;
}

/* ---- Client input ---- */

static bool
want_client_read(const struct session *s)
{
    /* An unallocated cin has all its room ahead of it. */
    if (s->c_eof || (s->cin.data != NULL && buf_room(&s->cin) == 0))
        return false;
    switch (s->state) {
    case SESSION_HANDSHAKE:
        return false;
    case SESSION_HEAD:
        return true;
    case SESSION_CONNECT:
    case SESSION_EXCHANGE:
        /* Also after the request is in: pipelined bytes wait in cin
         * (bounded), and a client that goes away is noticed at once, so
         * its backend request is abandoned instead of counted as load. */
        return true;
    case SESSION_LINGER:
    case SESSION_TUNNEL:
        return true;
    case SESSION_REPLY:
        return false;
    }
    return false;
}

/* read_into() through the transport: same results. */
static ssize_t
client_read_tp(struct session *s)
{
    struct buf *b = &s->cin;
    bool drained = false;

    if (buf_tail_room(b) < b->cap / 4)
        buf_compact(b);
    size_t room = buf_tail_room(b);
    if (room == 0)
        return -2;
    ssize_t n = transport_read(&s->tp, buf_wptr(b), room, &drained);
    if (n > 0) {
        b->wpos += (size_t)n;
        s->px->counters.bytes_in += (uint64_t)n;
        s->req_in += (uint64_t)n;
        if (drained)
            s->c_readable = false;
        return n;
    }
    if (n == TRANSPORT_AGAIN) {
        s->c_readable = false;
        return -2;
    }
    return n == TRANSPORT_EOF ? 0 : -1;
}

static bool
client_read(struct session *s)
{
    if (!s->c_readable || !want_client_read(s))
        return false;
    ssize_t n;
    if (ensure_cin(s) == -1) {
        session_fail(s, "out of memory");
        return false;
    }
    if (s->state == SESSION_LINGER) {
        /* Discard raw bytes: TLS is over once close_notify went out. */
        buf_reset(&s->cin);
        n = read_into(s->tp.fd, &s->cin, &s->c_readable);
    } else {
        n = client_read_tp(s);
    }
    if (n > 0)
        return true;
    if (n == -2)
        return false;
    /* EOF or error. */
    s->c_eof = true;
    switch (s->state) {
    case SESSION_HANDSHAKE:
    case SESSION_HEAD:
        session_fail(s, buf_len(&s->cin) ? "client closed mid-head"
                                         : "client closed");
        break;
    case SESSION_CONNECT:
    case SESSION_EXCHANGE:
        /* As nginx does: a client that closes before its response has
         * abandoned the request (a half-close looks the same). */
        release_backend(s, BACKEND_ABANDONED);
        session_fail(s, "client closed mid-request");
        break;
    case SESSION_LINGER:
        session_fail(s, "closed");
        break;
    case SESSION_REPLY:
    case SESSION_TUNNEL:   /* tunnel_step ends it once cin is passed on */
        break;
    }
    return true;
}

/* ---- Timers ---- */

/* Weir waits on the client's request body, not on the backend: all it
 * sent has been passed on, and it is not a client holding its body back
 * until the backend answers Expect: 100-continue. */
static bool
waiting_on_body(const struct session *s)
{
    return !s->req_done && !s->c_eof && buf_len(&s->uout) == 0 &&
           !(s->expect_100 && !s->resp_started);
}

/* At the end of a body window: the client sent at least min_body_rate
 * bytes per second of it, and at least one byte. */
static bool
body_rate_ok(const struct session *s)
{
    const struct cfg *cfg = s->gen->cfg;
    uint64_t need = (uint64_t)cfg->limits.min_body_rate *
                    cfg->timeouts.client_body_ms / 1000;
    return s->req_in - s->body_mark >= MAX(need, 1);
}

static enum session_timer
timer_for(const struct session *s, ev_tstamp *after)
{
    const struct cfg_timeouts *t = &s->gen->cfg->timeouts;
    enum session_timer k;
    uint64_t ms;

    switch (s->state) {
    case SESSION_HANDSHAKE:
        k = TIMER_HANDSHAKE, ms = t->tls_handshake_ms;
        break;
    case SESSION_HEAD:
        if (buf_len(&s->cout) > 0) {
            k = TIMER_CLIENT_WRITE, ms = t->client_write_ms;
        } else if (s->head_started) {
            k = TIMER_HEADER, ms = t->client_header_ms;
        } else {
            k = TIMER_IDLE, ms = t->client_idle_ms;
        }
        break;
    case SESSION_CONNECT:
        k = TIMER_CONNECT, ms = t->connect_ms;
        break;
    case SESSION_EXCHANGE:
        if (buf_len(&s->cout) > 0 && !s->c_writable)
            k = TIMER_CLIENT_WRITE, ms = t->client_write_ms;
        else if (waiting_on_body(s))
            k = TIMER_CLIENT_BODY, ms = t->client_body_ms;
        else
            k = TIMER_BACKEND, ms = t->backend_response_ms;
        break;
    case SESSION_REPLY:
        k = TIMER_CLIENT_WRITE, ms = t->client_write_ms;
        break;
    case SESSION_TUNNEL:
        k = TIMER_TUNNEL, ms = MAX(t->client_idle_ms, t->backend_response_ms);
        break;
    case SESSION_LINGER:
    default:
        *after = SESSION_LINGER_SECONDS;
        return TIMER_LINGER;
    }
    *after = (ev_tstamp)ms / 1000.0;
    return k;
}

/* Re-arm the one timer when the phase changed, or on progress for the
 * phases that measure inactivity (the head deadline is absolute, and a
 * body window is a fixed span whose bytes are counted at its end). */
static void
arm_timer(struct session *s, bool progress)
{
    ev_tstamp after;
    enum session_timer k = timer_for(s, &after);

    if (k == s->tkind && (!progress || k == TIMER_HEADER || k == TIMER_LINGER ||
                          k == TIMER_HANDSHAKE || k == TIMER_CLIENT_BODY))
        return;
    if (k == TIMER_CLIENT_BODY)
        s->body_mark = s->req_in;
    s->tkind = k;
    s->timer.repeat = after;
    ev_timer_again(s->px->loop, &s->timer);
}

static void
on_timeout(struct session *s)
{
    switch (s->tkind) {
    case TIMER_HANDSHAKE:
        s->px->counters.tls_handshake_failures++;
        log_info("session %llu: tls handshake from %s: timeout",
                 (unsigned long long)s->id, s->client_ip);
        session_fail(s, "tls handshake timeout");
        break;
    case TIMER_IDLE:
        session_fail(s, "idle timeout");
        break;
    case TIMER_HEADER:
        reply_error(s, 408, "client header timeout");
        break;
    case TIMER_CONNECT:
        retry_elsewhere(s, "connect timeout");
        break;
    case TIMER_BACKEND:
        log_warnx("backend %s: response timeout (request %s)",
                  s->backend->name, s->request_id);
        release_backend(s, BACKEND_TIMEOUT);
        if (s->resp_head_done) {
            drop_upstream(s);
            session_fail(s, "backend response timeout");
        } else {
            reply_error(s, 504, "backend response timeout");
        }
        break;
    case TIMER_CLIENT_WRITE:
        release_backend(s, BACKEND_ABANDONED);
        session_fail(s, "client write timeout");
        break;
    case TIMER_CLIENT_BODY:
        if (body_rate_ok(s))
            break; /* the next window starts when the timer is re-armed */
        /* The client's fault: the backend is not blamed. */
        release_backend(s, BACKEND_ABANDONED);
        if (s->resp_head_done) {
            drop_upstream(s);
            session_fail(s, "client body too slow");
        } else {
            reply_error(s, 408, "client body too slow");
        }
        break;
    case TIMER_TUNNEL:
        end_tunnel(s, "tunnel idle timeout");
        break;
    case TIMER_LINGER:
    case TIMER_NONE:
        session_fail(s, "closed");
        break;
    }
    s->tkind = TIMER_NONE; /* force a re-arm for the next phase */
}

/* ---- Watchers and the step ---- */

static void
want_io(struct ev_loop *loop, ev_io *w, bool on)
{
    if (on && !ev_is_active(w))
        ev_io_start(loop, w);
    else if (!on && ev_is_active(w))
        ev_io_stop(loop, w);
}

static void
arm_watchers(struct session *s)
{
    struct ev_loop *loop = s->px->loop;
    bool exchange = s->state == SESSION_EXCHANGE;
    bool tunnel = s->state == SESSION_TUNNEL;

    bool rd = want_client_read(s) && !s->c_readable;
    bool wr = buf_len(&s->cout) > 0 && !s->c_writable;
    /* TLS may need the other direction to finish what was asked. */
    if (s->state == SESSION_HANDSHAKE) {
        rd = !s->tp.read_wants_write;
        wr = s->tp.read_wants_write;
    }
    if (s->tp.read_wants_write && !s->c_readable && want_client_read(s))
        wr = true;
    if (s->tp.write_wants_read && !s->c_writable && buf_len(&s->cout) > 0)
        rd = true;
    want_io(loop, &s->rd, rd);
    want_io(loop, &s->wr, wr);
    if (s->up != NULL)
        upstream_want(s->up,
                      (exchange || tunnel) && !s->resp_done && !s->u_eof &&
                          !s->u_readable && buf_room(&s->uin) > 0,
                      (s->state == SESSION_CONNECT && !s->u_writable) ||
                          ((exchange || tunnel) && buf_len(&s->uout) > 0 &&
                           !s->u_writable));
}

static void
session_free(struct session *s)
{
    struct proxy *px = s->px;

    log_debug("session %llu: closed (%s)", (unsigned long long)s->id, s->dead);
    /* A request cut short: by the client, a timeout, a backend reset. */
    log_request(s, s->resp_head_done ? s->resp_status : 0, s->dead);
    release_backend(s, BACKEND_ABANDONED);
    drop_upstream(s);
    ev_io_stop(px->loop, &s->rd);
    ev_io_stop(px->loop, &s->wr);
    ev_timer_stop(px->loop, &s->timer);
    transport_fini(&s->tp);
    close(s->tp.fd);
    release_bufs(s);
    free(s->tried);
    hold_backend(&s->backend, NULL);
    hold_backend(&s->sticky, NULL);
    generation_unref(s->gen);
    generation_unref(s->tls_gen); /* after transport_fini: its SSL used it */
    if (s->prev)
        s->prev->next = s->next;
    else
        px->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    free(s);
    px->nsessions--;
    proxy_session_closed(px);
}

/* Enter lingering close: our output is flushed; stop writing and drain
 * what the client still sends, briefly, before closing. */
static void
start_linger(struct session *s)
{
    transport_shutdown(&s->tp);
    buf_reset(&s->cin);
    set_state(s, SESSION_LINGER, "flushed");
}

static bool
handshake_step(struct session *s)
{
    char err[256];

    if (!s->c_readable && !s->c_writable)
        return false;
    int rc = transport_handshake(&s->tp, err, sizeof(err));
    if (rc == 1) {
        s->px->counters.tls_handshakes++;
        set_state(s, SESSION_HEAD, transport_tls_version(&s->tp));
        /* Application data may have come with the last flight. */
        s->c_readable = s->c_writable = true;
        return true;
    }
    if (rc == TRANSPORT_AGAIN) {
        s->c_readable = s->c_writable = false;
        return false;
    }
    s->px->counters.tls_handshake_failures++;
    log_info("session %llu: tls handshake from %s failed: %s",
             (unsigned long long)s->id, s->client_ip, err);
    session_fail(s, "tls handshake failed");
    return false;
}

static bool
step_once(struct session *s)
{
    bool progress = client_read(s);
    if (s->dead)
        return false;
    switch (s->state) {
    case SESSION_HANDSHAKE:
        progress |= handshake_step(s);
        break;
    case SESSION_HEAD:
        progress |= head_step(s);
        break;
    case SESSION_CONNECT:
        progress |= pump_request(s);
        if (!s->dead && s->state == SESSION_CONNECT)
            check_connected(s);
        progress |= s->state != SESSION_CONNECT;
        break;
    case SESSION_EXCHANGE:
        progress |= exchange_step(s);
        break;
    case SESSION_REPLY:
        if (buf_len(&s->cout) == 0) {
            start_linger(s);
            progress = true;
        }
        break;
    case SESSION_LINGER:
        break;
    case SESSION_TUNNEL:
        progress |= tunnel_step(s);
        break;
    }
    if (s->dead)
        return false;
    progress |= client_write(s);
    release_idle_bufs(s);
    return progress;
}

static void
session_step(struct session *s)
{
    bool any = false, more = false;

    /* Bounded so one busy connection cannot hold the loop: when the bound
     * is hit, the session is fed an event and continues on the next loop
     * iteration, after the other ready watchers had their turn. */
    for (int round = 0; !s->dead; round++) {
        if (!step_once(s))
            break;
        any = true;
        if (round == 32) {
            more = true;
            break;
        }
    }
    if (s->dead) {
        session_free(s);
        return;
    }
    arm_watchers(s);
    arm_timer(s, any);
    if (more)
        ev_feed_event(s->px->loop, &s->rd, EV_CUSTOM);
}

static void
client_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct session *s = w->data;
    (void)loop;
    if (revents & EV_READ) {
        s->c_readable = true;
        if (s->tp.write_wants_read)
            s->c_writable = true;
    }
    if (revents & EV_WRITE) {
        s->c_writable = true;
        if (s->tp.read_wants_write)
            s->c_readable = true;
    }
    session_step(s);
}

static void
upstream_event(struct upstream *u, int revents)
{
    struct session *s = u->owner;
    if (revents & EV_READ)
        s->u_readable = true;
    if (revents & EV_WRITE)
        s->u_writable = true;
    session_step(s);
}

static void
timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct session *s = container_of(w, struct session, timer);
    (void)loop;
    (void)revents;
    on_timeout(s);
    session_step(s);
}

/* ---- Life cycle ---- */

struct session *
session_new(struct proxy *px, struct listener *l, int fd,
            const struct sockaddr_storage *peer, socklen_t peerlen)
{
    struct session *s = calloc(1, sizeof(*s));
    (void)peerlen;

    if (s == NULL)
        goto fail;
    if (transport_init(&s->tp, fd, l->ssl_ctx) == -1)
        goto fail;
    s->px = px;
    s->tls = l->tls;
    s->gen = px->gen;
    generation_ref(s->gen);
    if (s->tp.ssl != NULL) {
        s->tls_gen = px->gen;
        generation_ref(s->tls_gen);
    }
    s->id = ++px->next_session_id;
    if (peer->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const void *)peer;
        inet_ntop(AF_INET6, &a->sin6_addr, s->client_ip, sizeof(s->client_ip));
        s->client_hash = lb_hash(&a->sin6_addr, sizeof(a->sin6_addr));
    } else {
        const struct sockaddr_in *a = (const void *)peer;
        inet_ntop(AF_INET, &a->sin_addr, s->client_ip, sizeof(s->client_ip));
        s->client_hash = lb_hash(&a->sin_addr, sizeof(a->sin_addr));
    }
    ev_io_init(&s->rd, client_io_cb, fd, EV_READ);
    ev_io_init(&s->wr, client_io_cb, fd, EV_WRITE);
    s->rd.data = s->wr.data = s;
    ev_init(&s->timer, timer_cb);
    s->state = s->tp.ssl != NULL ? SESSION_HANDSHAKE : SESSION_HEAD;
    s->head_started = true; /* a new connection gets client_header */
    /* The request is often already there: try reading before waiting. */
    s->c_readable = true;
    s->c_writable = true;
    s->next = px->sessions;
    if (px->sessions)
        px->sessions->prev = s;
    px->sessions = s;
    px->nsessions++;
    session_step(s);
    return s;
fail:
    if (s) {
        buf_fini(&s->cin);
        buf_fini(&s->uout);
        buf_fini(&s->uin);
        buf_fini(&s->cout);
        free(s);
    }
    close(fd);
    return NULL;
}

void
session_stop(struct session *s)
{
    bool idle = s->state == SESSION_HEAD && buf_len(&s->cin) == 0 &&
                buf_len(&s->cout) == 0;
    if (idle) {
        session_fail(s, "stopping");
        session_free(s);
        return;
    }
    s->client_ka = false;
}

void
session_kill(struct session *s, const char *reason)
{
    session_fail(s, reason);
    session_free(s);
}

struct backend *
session_backend(const struct session *s)
{
    return s->inflight ? s->backend : NULL;
}

struct session *
session_next(struct session *s)
{
    return s->next;
}
