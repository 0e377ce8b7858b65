/* Draining a backend on the operator's command, or because a reload
 * removed it: stop new requests, close its idle pooled connections, let
 * in-flight requests finish, and cut those still running after
 * connection_draining.timeout. */
#ifndef WEIR_DRAIN_H
#define WEIR_DRAIN_H

#include <ev.h>
#include <stddef.h>

struct backend;
struct proxy;
struct drainer;

/* One drain deadline; holds a reference to its backend. */
struct drain_timer {
    struct drainer *d;
    struct backend *backend;
    ev_timer timer;
    struct drain_timer *next;
};

struct drainer {
    struct proxy *px;
    struct drain_timer *timers;   /* the running deadlines */
    unsigned long long cut_total; /* requests cut by drain timeouts */
};

void drainer_init(struct drainer *d, struct proxy *px);
/* Stop every deadline and drop their references. */
void drainer_fini(struct drainer *d);

/* Start draining B (idempotent: a second call keeps the first deadline). */
void drainer_drain(struct drainer *d, struct backend *b);
/* Return B to service and forget its deadline (idempotent). */
void drainer_enable(struct drainer *d, struct backend *b);
/* B was removed by a reload (already draining, out of the table): close
 * its idle connections and cut what still runs on it at the deadline. */
void drainer_retire(struct drainer *d, struct backend *b);

#endif
