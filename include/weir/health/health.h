/* Active HTTP health checks: one check connection per backend on the event
 * loop, paced by the health state machine, with jitter. Results go to
 * backend_health_report(); the checker decides nothing itself. */
#ifndef WEIR_HEALTH_H
#define WEIR_HEALTH_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct backend;
struct backend_table;
struct cfg;
struct health_checker;

struct health_check {
    struct health_checker *hc;
    struct backend *backend;
    ev_timer timer;             /* next check, then the check's timeout */
    ev_io io;
    int fd;
    int phase;                  /* enum in health.c */
    char req[512];
    size_t req_len, req_sent;
    char resp[4096];
    size_t resp_len;
    uint64_t checks;            /* checks started, for tests and metrics */
};

struct health_checker {
    struct ev_loop *loop;
    const struct cfg *cfg;
    struct backend_table *bt;
    struct health_check *checks;  /* one per backend, same order */
    size_t n;
    uint64_t rng;                 /* jitter, seeded at init */
    ev_timer ramp;                /* refreshes slow-start weights */
};

/* Prepare a check per backend of BT (borrowed, must outlive the checker).
 * 0 or -1 (out of memory). */
int health_checker_init(struct health_checker *hc, struct ev_loop *loop,
                        const struct cfg *cfg, struct backend_table *bt);
/* Run the first checks at once (with jitter), then keep pacing them. */
void health_checker_start(struct health_checker *hc);
/* Stop every check; idempotent. */
void health_checker_stop(struct health_checker *hc);
void health_checker_fini(struct health_checker *hc);
/* The same, allocated (a reload builds the new checker before it stops
 * the old one). NULL on allocation failure; free(NULL) is a no-op. */
struct health_checker *health_checker_new(struct ev_loop *loop,
                                          const struct cfg *cfg,
                                          struct backend_table *bt);
void health_checker_free(struct health_checker *hc);

#endif
