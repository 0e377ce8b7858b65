/* Draining a backend on the operator's command: stop new requests, close
 * its idle pooled connections, let in-flight requests finish, and cut
 * those still running after connection_draining.timeout. */
#ifndef WEIR_DRAIN_H
#define WEIR_DRAIN_H

#include <ev.h>
#include <stddef.h>

struct backend;
struct proxy;
struct drainer;

struct drain_timer {
    struct drainer *d;
    struct backend *backend;
    ev_timer timer;
};

struct drainer {
    struct proxy *px;
    struct drain_timer *timers;   /* one per backend, same order */
    size_t n;
    unsigned long long cut_total; /* requests cut by drain timeouts */
};

/* One timer per backend of PX's table. 0 or -1 (out of memory). */
int drainer_init(struct drainer *d, struct proxy *px);
void drainer_fini(struct drainer *d);

/* Start draining B (idempotent: a second call keeps the first deadline). */
void drainer_drain(struct drainer *d, struct backend *b);
/* Return B to service and forget its deadline (idempotent). */
void drainer_enable(struct drainer *d, struct backend *b);

#endif
