/* Operator drains. The backend module owns the states (draining becomes
 * drained when in-flight reaches zero); this file adds what needs the
 * loop: closing idle pooled connections at once and the drain deadline,
 * after which the sessions still using the backend are cut. */
#include "weir/proxy/drain.h"

#include <stdlib.h>

#include "weir/config/config.h"
#include "weir/lb/backend.h"
#include "weir/net/upstream.h"
#include "weir/proxy/proxy.h"
#include "weir/proxy/session.h"
#include "weir/util/defs.h"
#include "weir/util/log.h"

static uint64_t
now_ms(const struct drainer *d)
{
    return (uint64_t)(ev_now(d->px->loop) * 1000.0);
}

static void
timer_free(struct drain_timer *t)
{
    struct drain_timer **pp = &t->d->timers;
    while (*pp != t)
        pp = &(*pp)->next;
    *pp = t->next;
    ev_timer_stop(t->d->px->loop, &t->timer);
    backend_unref(t->backend);
    free(t);
}

static struct drain_timer *
timer_find(struct drainer *d, const struct backend *b)
{
    for (struct drain_timer *t = d->timers; t != NULL; t = t->next)
        if (t->backend == b)
            return t;
    return NULL;
}

static void
deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct drain_timer *t = container_of(w, struct drain_timer, timer);
    struct drainer *d = t->d;
    struct backend *b = t->backend;
    size_t cut = 0;
    (void)loop;
    (void)revents;

    if (b->admin == BACKEND_DRAINING) {
        /* Not called from any session's callback, so ending them here is
         * safe; fetch next first because the current one is freed. */
        struct session *s = d->px->sessions;
        while (s != NULL) {
            struct session *next = session_next(s);
            if (session_backend(s) == b) {
                session_kill(s, "drain timeout");
                cut++;
            }
            s = next;
        }
        d->cut_total += cut;
        log_warnx("backend %s: drain timeout: cut %zu request(s)", b->name, cut);
        if (b->table != NULL)
            backend_table_refresh(b->table, now_ms(d));
    }
    timer_free(t);
}

/* Arm B's deadline unless it already runs. */
static void
arm(struct drainer *d, struct backend *b)
{
    if (timer_find(d, b) != NULL)
        return;
    struct drain_timer *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        log_warnx("backend %s: out of memory: no drain deadline", b->name);
        return;
    }
    t->d = d;
    t->backend = b;
    backend_ref(b);
    ev_init(&t->timer, deadline_cb);
    ev_timer_set(&t->timer, (double)d->px->cfg->draining.timeout_ms / 1000.0, 0.);
    ev_timer_start(d->px->loop, &t->timer);
    t->next = d->timers;
    d->timers = t;
}

void
drainer_init(struct drainer *d, struct proxy *px)
{
    d->px = px;
    d->timers = NULL;
    d->cut_total = 0;
}

void
drainer_fini(struct drainer *d)
{
    while (d->timers != NULL)
        timer_free(d->timers);
}

void
drainer_drain(struct drainer *d, struct backend *b)
{
    backend_drain(b, now_ms(d));
    pool_close_idle(b->pool);
    if (b->admin == BACKEND_DRAINING)
        arm(d, b);
}

void
drainer_enable(struct drainer *d, struct backend *b)
{
    struct drain_timer *t = timer_find(d, b);
    if (t != NULL)
        timer_free(t);
    backend_enable(b, now_ms(d));
}

void
drainer_retire(struct drainer *d, struct backend *b)
{
    pool_close_idle(b->pool);
    if (b->admin == BACKEND_DRAINING && b->peer->inflight > 0)
        arm(d, b);
}
