/* Upstream connections and the idle pool. An idle connection keeps only a
 * read watcher: any byte or EOF from a backend that is not being asked
 * anything means the connection is no longer usable, so it is closed. */
#include "weir/net/upstream.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weir/net/sock.h"
#include "weir/util/defs.h"

static void pool_unlink(struct pool *p, struct upstream *u);

static void
upstream_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct upstream *u = w->data;
    (void)loop;
    if (u->owner != NULL) {
        u->on_event(u, revents);
        return;
    }
    /* Idle and readable: closed by the backend, or it spoke unasked. */
    pool_unlink(u->pool, u);
    upstream_close(u);
}

static void
upstream_idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct upstream *u = container_of(w, struct upstream, idle);
    (void)loop;
    (void)revents;
    pool_unlink(u->pool, u);
    upstream_close(u);
}

static struct upstream *
upstream_new(struct pool *p, int fd)
{
    struct upstream *u = calloc(1, sizeof(*u));
    if (u == NULL)
        return NULL;
    u->fd = fd;
    u->loop = p->loop;
    u->pool = p;
    ev_io_init(&u->rd, upstream_io_cb, fd, EV_READ);
    ev_io_init(&u->wr, upstream_io_cb, fd, EV_WRITE);
    u->rd.data = u->wr.data = u;
    ev_timer_init(&u->idle, upstream_idle_cb, 0., 0.);
    p->nopen++;
    return u;
}

void
pool_init(struct pool *p, struct ev_loop *loop, const struct sockaddr *sa,
          socklen_t salen, size_t max_idle, ev_tstamp idle_timeout)
{
    memset(p, 0, sizeof(*p));
    p->loop = loop;
    memcpy(&p->addr, sa, salen);
    p->addrlen = salen;
    p->max_idle = max_idle;
    p->idle_timeout = idle_timeout;
}

static void
pool_unlink(struct pool *p, struct upstream *u)
{
    if (u->prev)
        u->prev->next = u->next;
    else
        p->idle = u->next;
    if (u->next)
        u->next->prev = u->prev;
    u->next = u->prev = NULL;
    p->nidle--;
    ev_timer_stop(p->loop, &u->idle);
    ev_io_stop(p->loop, &u->rd);
}

struct upstream *
pool_get(struct pool *p, void *owner, upstream_event_fn *cb)
{
    struct upstream *u = p->idle;
    if (u == NULL)
        return NULL;
    pool_unlink(p, u);
    u->owner = owner;
    u->on_event = cb;
    return u;
}

struct upstream *
upstream_connect(struct pool *p, void *owner, upstream_event_fn *cb)
{
    int fd = sock_connect_start((struct sockaddr *)&p->addr, p->addrlen);
    if (fd == -1)
        return NULL;
    struct upstream *u = upstream_new(p, fd);
    if (u == NULL) {
        close(fd);
        return NULL;
    }
    u->owner = owner;
    u->on_event = cb;
    return u;
}

void
pool_put(struct pool *p, struct upstream *u)
{
    ev_io_stop(p->loop, &u->wr);
    ev_io_stop(p->loop, &u->rd);
    u->owner = NULL;
    u->on_event = NULL;
    if (p->nidle >= p->max_idle) {
        upstream_close(u);
        return;
    }
    u->next = p->idle;
    u->prev = NULL;
    if (p->idle)
        p->idle->prev = u;
    p->idle = u;
    p->nidle++;
    ev_io_start(p->loop, &u->rd);
    ev_timer_set(&u->idle, p->idle_timeout, 0.);
    ev_timer_start(p->loop, &u->idle);
}

void
upstream_want(struct upstream *u, bool rd, bool wr)
{
    if (rd && !ev_is_active(&u->rd))
        ev_io_start(u->loop, &u->rd);
    else if (!rd && ev_is_active(&u->rd))
        ev_io_stop(u->loop, &u->rd);
    if (wr && !ev_is_active(&u->wr))
        ev_io_start(u->loop, &u->wr);
    else if (!wr && ev_is_active(&u->wr))
        ev_io_stop(u->loop, &u->wr);
}

void
upstream_close(struct upstream *u)
{
    ev_io_stop(u->loop, &u->rd);
    ev_io_stop(u->loop, &u->wr);
    ev_timer_stop(u->loop, &u->idle);
    close(u->fd);
    u->pool->nopen--;
    free(u);
}

void
pool_close_idle(struct pool *p)
{
    while (p->idle != NULL) {
        struct upstream *u = p->idle;
        pool_unlink(p, u);
        upstream_close(u);
    }
}

void
pool_fini(struct pool *p)
{
    pool_close_idle(p);
}
