/* One connection to a backend, and the per-backend pool of idle ones.
 * While attached, a connection belongs to its owner (a session), which
 * gets its events through on_event; pool_put() takes it back. */
#ifndef WEIR_UPSTREAM_H
#define WEIR_UPSTREAM_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct upstream;
typedef void upstream_event_fn(struct upstream *u, int revents);

struct upstream {
    int fd;
    struct ev_loop *loop;
    ev_io rd, wr;
    ev_timer idle;               /* expiry while in the pool */
    struct pool *pool;
    struct upstream *next;       /* idle list */
    struct upstream *prev;
    void *owner;                 /* attached session, NULL when idle */
    upstream_event_fn *on_event;
    unsigned requests;           /* requests sent on this connection */
    bool connected;
};

struct pool {
    struct ev_loop *loop;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    struct upstream *idle;       /* most recently used first */
    size_t nidle;
    size_t max_idle;
    ev_tstamp idle_timeout;
    size_t nopen;                /* attached + idle, for metrics */
};

/* Initialise an empty pool for a backend at SA. */
void pool_init(struct pool *p, struct ev_loop *loop, const struct sockaddr *sa,
               socklen_t salen, size_t max_idle, ev_tstamp idle_timeout);
/* Close every idle connection (drain, shutdown). Attached ones are left. */
void pool_close_idle(struct pool *p);
/* Close idle connections and release the pool. */
void pool_fini(struct pool *p);

/* Take an idle connection for OWNER, or NULL when there is none. */
struct upstream *pool_get(struct pool *p, void *owner, upstream_event_fn *cb);
/* Start a new connection for OWNER. NULL when it failed at once (errno). */
struct upstream *upstream_connect(struct pool *p, void *owner, upstream_event_fn *cb);
/* Give an attached connection back; takes ownership. It is closed when
 * the pool is full. */
void pool_put(struct pool *p, struct upstream *u);

/* Arm or disarm the owner's read and write interest. */
void upstream_want(struct upstream *u, bool rd, bool wr);
/* Close and free an attached connection. */
void upstream_close(struct upstream *u);

#endif
