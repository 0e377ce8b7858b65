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
deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct drain_timer *t = container_of(w, struct drain_timer, timer);
    struct drainer *d = t->d;
    size_t cut = 0;
    (void)loop;
    (void)revents;

    if (t->backend->admin != BACKEND_DRAINING)
        return; /* drained in time, or enabled again */
    /* Not called from any session's callback, so ending them here is
     * safe; fetch next first because the current one is freed. */
    struct session *s = d->px->sessions;
    while (s != NULL) {
        struct session *next = session_next(s);
        if (session_backend(s) == t->backend) {
            session_kill(s, "drain timeout");
            cut++;
        }
        s = next;
    }
    d->cut_total += cut;
    log_warnx("backend %s: drain timeout: cut %zu request(s)",
              t->backend->name, cut);
    backend_table_refresh(d->px->bt, now_ms(d));
}

int
drainer_init(struct drainer *d, struct proxy *px)
{
    d->px = px;
    d->n = px->bt->n;
    d->cut_total = 0;
    d->timers = calloc(d->n ? d->n : 1, sizeof(*d->timers));
    if (d->timers == NULL)
        return -1;
    for (size_t i = 0; i < d->n; i++) {
        d->timers[i].d = d;
        d->timers[i].backend = &px->bt->backends[i];
        ev_init(&d->timers[i].timer, deadline_cb);
    }
    return 0;
}

void
drainer_fini(struct drainer *d)
{
    for (size_t i = 0; d->timers != NULL && i < d->n; i++)
        ev_timer_stop(d->px->loop, &d->timers[i].timer);
    free(d->timers);
    d->timers = NULL;
}

void
drainer_drain(struct drainer *d, struct backend *b)
{
    struct drain_timer *t = &d->timers[b->index];

    backend_drain(b, now_ms(d));
    pool_close_idle(b->pool);
    if (!ev_is_active(&t->timer) && b->admin == BACKEND_DRAINING) {
        double secs = (double)d->px->cfg->draining.timeout_ms / 1000.0;
        ev_timer_set(&t->timer, secs, 0.);
        ev_timer_start(d->px->loop, &t->timer);
    }
}

void
drainer_enable(struct drainer *d, struct backend *b)
{
    ev_timer_stop(d->px->loop, &d->timers[b->index].timer);
    backend_enable(b, now_ms(d));
}
