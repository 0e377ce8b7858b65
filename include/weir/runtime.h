/* The running daemon: configuration, backends, the proxy engine, health
 * checks, the admin API and the signal watchers of the loop; reload
 * (reload.c) rebuilds what a new configuration changes. */
#ifndef WEIR_RUNTIME_H
#define WEIR_RUNTIME_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "weir/admin/admin.h"
#include "weir/health/health.h"
#include "weir/proxy/accesslog.h"
#include "weir/proxy/drain.h"
#include "weir/proxy/proxy.h"

struct cfg;
struct cfg_errors;
struct backend_table;

struct runtime {
    struct ev_loop *loop;
    const char *config_path;   /* re-read by reload */
    const struct cfg *cfg;     /* the current one, owned by proxy.gen */
    struct backend_table *bt;
    struct proxy proxy;
    struct health_checker *health;
    struct drainer drainer;
    struct accesslog accesslog;
    struct admin admin;
    bool admin_ready;
    bool proxy_ready;          /* proxy_init ran: proxy_fini must too */
    ev_signal sigterm, sigint, sighup, sigusr1;
    ev_timer stop_timer;       /* connection_draining.timeout after SIGTERM */
    ev_timer delay_timer;      /* connection_draining.shutdown_delay */
    int exit_code;
};

/* Build everything from CFG (takes ownership), loaded from PATH
 * (borrowed, re-read by reload), and open the listeners. 0, or -1 with a
 * message in ERR (then CFG is freed). */
int runtime_init(struct runtime *rt, struct ev_loop *loop, const char *path,
                 struct cfg *cfg, char *err, size_t errlen);
/* Run the loop until a graceful stop completes; returns the exit code. */
int runtime_run(struct runtime *rt);
void runtime_fini(struct runtime *rt);

/* For weir -t: build from CFG's files what start and reload would (TLS
 * contexts with their cipher settings, affinity and API keys) and check
 * that the access log can be written. Appends each problem to ERRS;
 * returns how many. */
size_t runtime_check(const struct cfg *cfg, struct cfg_errors *errs);

/* Raise the descriptor limit to what CFG's max_connections needs. */
void runtime_raise_fd_limit(const struct cfg *cfg);

/* Re-read the configuration file and apply it whole, or change nothing.
 * 0 and the new generation, or -1: every error ("FILE:LINE:COL: message",
 * or what failed while applying) is logged and appended to ERRS. */
int runtime_reload(struct runtime *rt, uint64_t *generation,
                   struct cfg_errors *errs);

#endif
