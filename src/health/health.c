/* Active HTTP health checks. Each backend has one check at a time: a
 * non-blocking connect, "GET path" with Connection: close, and the status
 * line read within the timeout. The verdict, and the agent's Weir-Drain and
 * Weir-Weight answers, go to the backend module, whose state machine
 * decides; this file only does the I/O and the pacing. */
#include "weir/health/health.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "weir/config/config.h"
#include "weir/http/http_head.h"
#include "weir/lb/backend.h"
#include "weir/net/sock.h"
#include "weir/util/defs.h"
#include "weir/util/log.h"

enum check_phase {
    CHECK_IDLE,        /* timer: next check */
    CHECK_CONNECTING,  /* io: writable; timer: timeout */
    CHECK_SENDING,     /* io: writable; timer: timeout */
    CHECK_READING,     /* io: readable; timer: timeout */
};

/* How often slow-start weights are recomputed while a backend ramps. */
#define HEALTH_RAMP_TICK_SECONDS 1.0

static uint64_t
now_ms(const struct health_checker *hc)
{
    return (uint64_t)(ev_now(hc->loop) * 1000.0);
}

/* xorshift64: jitter needs no cryptographic quality. */
static uint64_t
next_random(struct health_checker *hc)
{
    uint64_t x = hc->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    hc->rng = x;
    return x;
}

/* The pause before the next check: the state machine's pacing, plus or
 * minus up to 10% so checks of many backends spread out. */
static ev_tstamp
next_delay(struct health_checker *hc, const struct backend *b)
{
    double base = (double)backend_check_interval_ms(b) / 1000.0;
    double jitter = ((double)(next_random(hc) % 2001) / 1000.0 - 1.0) * 0.1;
    return base * (1.0 + jitter);
}

static void
close_check(struct health_check *c)
{
    ev_io_stop(c->hc->loop, &c->io);
    if (c->fd != -1) {
        close(c->fd);
        c->fd = -1;
    }
}

static void
schedule(struct health_check *c, ev_tstamp after)
{
    c->phase = CHECK_IDLE;
    ev_timer_stop(c->hc->loop, &c->timer);
    ev_timer_set(&c->timer, after, 0.);
    ev_timer_start(c->hc->loop, &c->timer);
}

/* One check ended: report it and schedule the next. */
static void
finish(struct health_check *c, const struct backend_check_result *r)
{
    struct health_checker *hc = c->hc;

    close_check(c);
    backend_health_report(hc->bt, c->backend, r, now_ms(hc));
    schedule(c, next_delay(hc, c->backend));
    if (!ev_is_active(&hc->ramp))
        ev_timer_again(hc->loop, &hc->ramp);
}

static void
fail(struct health_check *c, const char *reason)
{
    struct backend_check_result r = {
        .pass = false, .reason = reason, .agent_drain = -1, .agent_weight = -1,
    };
    finish(c, &r);
}

/* Weir-Weight: a decimal 0..256; anything else is ignored (-1). */
static int
parse_agent_weight(const struct http_head *h)
{
    const struct http_header *f = http_head_get(h, "weir-weight");
    unsigned v = 0;

    if (f == NULL || f->value.len == 0 || f->value.len > 3)
        return -1;
    for (size_t i = 0; i < f->value.len; i++) {
        char ch = f->value.p[i];
        if (ch < '0' || ch > '9')
            return -1;
        v = v * 10 + (unsigned)(ch - '0');
    }
    return v <= 256 ? (int)v : -1;
}

/* A complete head is in resp: judge it. */
static void
judge(struct health_check *c, size_t head_len)
{
    const struct cfg_health *cfg = &c->hc->cfg->health;
    struct http_head *h = malloc(sizeof(*h));
    char reason[64];

    if (h == NULL) {
        fail(c, "out of memory");
        return;
    }
    if (http_head_parse_response(h, c->resp, head_len) != 0) {
        free(h);
        fail(c, "malformed response");
        return;
    }
    struct backend_check_result r = {.agent_drain = -1, .agent_weight = -1};
    r.pass = h->status >= cfg->status_min && h->status <= cfg->status_max;
    snprintf(reason, sizeof(reason), "status %u", h->status);
    r.reason = reason;
    const struct http_header *drain = http_head_get(h, "weir-drain");
    r.agent_drain = drain != NULL && http_span_ieq(drain->value, "1");
    r.agent_weight = parse_agent_weight(h);
    free(h);
    finish(c, &r);
}

static void
check_io(struct health_check *c)
{
    ssize_t n;

    switch (c->phase) {
    case CHECK_CONNECTING: {
        int err = sock_error(c->fd);
        if (err != 0) {
            fail(c, strerror(err));
            return;
        }
        c->phase = CHECK_SENDING;
    }
        /* fall through */
    case CHECK_SENDING:
        n = send(c->fd, c->req + c->req_sent, c->req_len - c->req_sent,
                 MSG_NOSIGNAL);
        if (n == -1) {
            if (errno != EAGAIN && errno != EINTR)
                fail(c, strerror(errno));
            return;
        }
        c->req_sent += (size_t)n;
        if (c->req_sent < c->req_len)
            return;
        c->phase = CHECK_READING;
        ev_io_stop(c->hc->loop, &c->io);
        ev_io_set(&c->io, c->fd, EV_READ);
        ev_io_start(c->hc->loop, &c->io);
        return;
    case CHECK_READING:
        n = read(c->fd, c->resp + c->resp_len, sizeof(c->resp) - c->resp_len);
        if (n == -1) {
            if (errno != EAGAIN && errno != EINTR)
                fail(c, strerror(errno));
            return;
        }
        if (n == 0) {
            fail(c, "closed without a response");
            return;
        }
        c->resp_len += (size_t)n;
        size_t end = http_head_find_end(c->resp, c->resp_len, 0);
        if (end > 0)
            judge(c, end);
        else if (c->resp_len == sizeof(c->resp))
            fail(c, "response head too large");
        return;
    case CHECK_IDLE:
    default:
        return;
    }
}

static void
check_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct health_check *c = container_of(w, struct health_check, io);
    (void)loop;
    (void)revents;
    check_io(c);
}

static void
start_check(struct health_check *c)
{
    struct health_checker *hc = c->hc;
    const struct backend *b = c->backend;

    c->checks++;
    c->resp_len = 0;
    c->req_sent = 0;
    c->fd = sock_connect_start((const struct sockaddr *)&b->addr, b->addrlen);
    if (c->fd == -1) {
        fail(c, strerror(errno));
        return;
    }
    c->phase = CHECK_CONNECTING;
    ev_io_set(&c->io, c->fd, EV_WRITE);
    ev_io_start(hc->loop, &c->io);
    ev_timer_set(&c->timer, (double)hc->cfg->health.timeout_ms / 1000.0, 0.);
    ev_timer_start(hc->loop, &c->timer);
}

static void
check_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct health_check *c = container_of(w, struct health_check, timer);
    (void)loop;
    (void)revents;
    if (c->phase == CHECK_IDLE)
        start_check(c);
    else
        fail(c, "timeout");
}

static void
ramp_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct health_checker *hc = container_of(w, struct health_checker, ramp);
    (void)revents;
    /* Stop ticking once no backend is ramping; a check restarts it. */
    if (!backend_table_refresh(hc->bt, now_ms(hc)))
        ev_timer_stop(loop, w);
}

int
health_checker_init(struct health_checker *hc, struct ev_loop *loop,
                    const struct cfg *cfg, struct backend_table *bt)
{
    const struct cfg_health *h = &cfg->health;

    memset(hc, 0, sizeof(*hc));
    hc->loop = loop;
    hc->cfg = cfg;
    hc->bt = bt;
    hc->n = bt->n;
    hc->rng = (uint64_t)getpid() * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(ev_time() * 1e6);
    if (hc->rng == 0)
        hc->rng = 1;
    hc->checks = calloc(hc->n ? hc->n : 1, sizeof(*hc->checks));
    if (hc->checks == NULL)
        return -1;
    for (size_t i = 0; i < hc->n; i++) {
        struct health_check *c = &hc->checks[i];
        const struct backend *b = bt->backends[i];
        c->hc = hc;
        c->backend = bt->backends[i];
        c->fd = -1;
        ev_init(&c->timer, check_timer_cb);
        ev_init(&c->io, check_io_cb);
        int n = snprintf(c->req, sizeof(c->req),
                         "GET %s HTTP/1.1\r\nHost: %s\r\n"
                         "User-Agent: weir-health-check\r\n"
                         "Connection: close\r\n\r\n",
                         h->path, h->host ? h->host : b->addr_text);
        c->req_len = n > 0 && (size_t)n < sizeof(c->req) ? (size_t)n : 0;
    }
    ev_init(&hc->ramp, ramp_cb);
    hc->ramp.repeat = HEALTH_RAMP_TICK_SECONDS;
    return 0;
}

void
health_checker_start(struct health_checker *hc)
{
    /* The first round runs at once, spread over a tenth of a second. */
    for (size_t i = 0; i < hc->n; i++)
        schedule(&hc->checks[i], (double)(next_random(hc) % 100) / 1000.0);
}

void
health_checker_stop(struct health_checker *hc)
{
    for (size_t i = 0; i < hc->n; i++) {
        close_check(&hc->checks[i]);
        ev_timer_stop(hc->loop, &hc->checks[i].timer);
        hc->checks[i].phase = CHECK_IDLE;
    }
    ev_timer_stop(hc->loop, &hc->ramp);
}

void
health_checker_fini(struct health_checker *hc)
{
    if (hc->checks == NULL)
        return;
    health_checker_stop(hc);
    free(hc->checks);
    hc->checks = NULL;
}

struct health_checker *
health_checker_new(struct ev_loop *loop, const struct cfg *cfg,
                   struct backend_table *bt)
{
    struct health_checker *hc = malloc(sizeof(*hc));
    if (hc == NULL)
        return NULL;
    if (health_checker_init(hc, loop, cfg, bt) == -1) {
        free(hc);
        return NULL;
    }
    return hc;
}

void
health_checker_free(struct health_checker *hc)
{
    if (hc == NULL)
        return;
    health_checker_fini(hc);
    free(hc);
}
