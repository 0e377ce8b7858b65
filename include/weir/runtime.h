/* The running daemon: configuration, backends, the proxy engine and the
 * signal watchers of the loop. Later issues add reload and the admin API
 * here. */
#ifndef WEIR_RUNTIME_H
#define WEIR_RUNTIME_H

#include <ev.h>
#include <stdbool.h>

#include "weir/admin/admin.h"
#include "weir/health/health.h"
#include "weir/proxy/accesslog.h"
#include "weir/proxy/drain.h"
#include "weir/proxy/proxy.h"

struct cfg;
struct backend_table;

struct runtime {
    struct ev_loop *loop;
    struct cfg *cfg;
    struct backend_table *bt;
    struct proxy proxy;
    struct health_checker health;
    struct drainer drainer;
    struct accesslog accesslog;
    struct admin admin;
    bool admin_ready;
    ev_signal sigterm, sigint, sighup, sigusr1;
    ev_timer stop_timer;       /* connection_draining.timeout after SIGTERM */
    int exit_code;
};

/* Build everything from CFG (takes ownership) and open the listeners.
 * 0, or -1 with a message in ERR (then CFG is freed). */
int runtime_init(struct runtime *rt, struct ev_loop *loop, struct cfg *cfg,
                 char *err, size_t errlen);
/* Run the loop until a graceful stop completes; returns the exit code. */
int runtime_run(struct runtime *rt);
void runtime_fini(struct runtime *rt);

#endif
