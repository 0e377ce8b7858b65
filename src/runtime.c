/* Composition: turns a configuration into backends and a proxy, and owns
 * the signal handling that drives graceful stop. Signals are libev
 * watchers, so their work runs on the loop, never in a signal handler. */
#include "weir/runtime.h"

#include <assert.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "weir/config/config.h"
#include "weir/lb/backend.h"
#include "weir/util/defs.h"
#include "weir/proxy/generation.h"
#include "weir/util/json.h"
#include "weir/util/log.h"

static void
on_drained(struct proxy *px)
{
    struct runtime *rt = container_of(px, struct runtime, proxy);
    log_info("stopped: every connection finished");
    ev_timer_stop(rt->loop, &rt->stop_timer);
    ev_break(rt->loop, EVBREAK_ALL);
}

static void
stop_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct runtime *rt = container_of(w, struct runtime, stop_timer);
    (void)revents;
    log_warnx("stop: connection_draining.timeout reached, closing %zu "
              "connection(s)", rt->proxy.nsessions);
    proxy_fini(&rt->proxy);
    ev_break(loop, EVBREAK_ALL);
}

/* Close the listeners and let what runs finish, within the drain timeout. */
static void
begin_stop(struct runtime *rt)
{
    ev_timer_stop(rt->loop, &rt->delay_timer);
    health_checker_stop(rt->health);
    double secs = (double)rt->cfg->draining.timeout_ms / 1000.0;
    ev_timer_set(&rt->stop_timer, secs, 0.);
    ev_timer_start(rt->loop, &rt->stop_timer);
    proxy_stop(&rt->proxy);
}

static void
delay_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct runtime *rt = container_of(w, struct runtime, delay_timer);
    (void)loop;
    (void)revents;
    log_info("shutdown_delay over: closing the listeners");
    begin_stop(rt);
}

static void
stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct runtime *rt = w->data;
    (void)loop;
    (void)revents;
    if (rt->proxy.stopping) {
        log_info("signal %d: already stopping", w->signum);
        return;
    }
    if (rt->proxy.stop_announced) {
        log_info("signal %d again: stopping without the rest of shutdown_delay",
                 w->signum);
        begin_stop(rt);
        return;
    }
    rt->proxy.stop_announced = true;
    uint64_t delay = rt->cfg->draining.shutdown_delay_ms;
    if (delay == 0) {
        log_info("signal %d: graceful stop", w->signum);
        begin_stop(rt);
        return;
    }
    /* /health turns 503 now, while the listeners still accept: whatever
     * sends traffic here can notice and move before connects are refused. */
    log_info("signal %d: graceful stop in %llums (shutdown_delay): /health "
             "answers 503, still serving", w->signum, (unsigned long long)delay);
    ev_timer_set(&rt->delay_timer, (double)delay / 1000.0, 0.);
    ev_timer_start(rt->loop, &rt->delay_timer);
}

static void
hup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct runtime *rt = w->data;
    struct cfg_errors errs = {0};
    uint64_t generation;
    (void)loop;
    (void)revents;
    log_info("SIGHUP: reloading %s", rt->config_path);
    (void)runtime_reload(rt, &generation, &errs); /* it logs the outcome */
    cfg_errors_fini(&errs);
}

/* POST /reload: the errors go back as {"errors": ["FILE:LINE:COL: ...", ...]}. */
static int
admin_reload_hook(void *ctx, uint64_t *generation, struct buf *errors_json)
{
    struct runtime *rt = ctx;
    struct cfg_errors errs = {0};
    int rc = runtime_reload(rt, generation, &errs);
    if (rc == -1) {
        struct json_writer w;
        json_writer_init(&w, errors_json);
        json_write_object_begin(&w);
        json_write_key(&w, "errors");
        json_write_array_begin(&w);
        for (size_t i = 0; i < errs.n; i++)
            json_write_string(&w, errs.msgs[i]);
        json_write_array_end(&w);
        json_write_object_end(&w);
    }
    cfg_errors_fini(&errs);
    return rc;
}

static void
usr1_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct runtime *rt = w->data;
    (void)loop;
    (void)revents;
    log_info("SIGUSR1: reopening the access log");
    accesslog_reopen(&rt->accesslog);
}

/* Each client connection may hold a backend connection too: raise the soft
 * descriptor limit to what max_connections needs (as HAProxy does), and
 * say so when the hard limit is lower. */
void
runtime_raise_fd_limit(const struct cfg *cfg)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)cfg->limits.max_connections * 2 + 64;

    if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur >= want)
        return;
    rlim_t target = want;
    if (rl.rlim_max != RLIM_INFINITY && target > rl.rlim_max)
        target = rl.rlim_max;
    if (target > rl.rlim_cur) {
        rl.rlim_cur = target;
        if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
            log_warn("setrlimit(RLIMIT_NOFILE)");
    }
    /* Below max_connections the clients alone can exhaust descriptors:
     * warn. Between that and twice it, only a full house of connections
     * that all hold a backend connection would. */
    if (target < (rlim_t)cfg->limits.max_connections + 64)
        log_warnx("file descriptor limit %llu is below max_connections %u",
                  (unsigned long long)target, cfg->limits.max_connections);
    else if (target < want)
        log_info("file descriptor limit %llu: fewer than max_connections %u "
                 "proxied at once", (unsigned long long)target,
                 cfg->limits.max_connections);
}

int
runtime_init(struct runtime *rt, struct ev_loop *loop, const char *path,
             struct cfg *cfg, char *err, size_t errlen)
{
    memset(rt, 0, sizeof(*rt));
    rt->loop = loop;
    rt->config_path = path;
    rt->cfg = cfg;
    log_set_level((enum log_level)cfg->logging.level);
    runtime_raise_fd_limit(cfg);
    if (cfg->workers != 1)
        log_warnx("workers: %u requested; this build runs one event loop",
                  cfg->workers);
    struct generation *gen = generation_new(cfg, 1, time(NULL), err, errlen);
    if (gen == NULL) {
        cfg_free(cfg);
        rt->cfg = NULL;
        return -1;
    }
    rt->bt = backend_table_new(cfg, NULL, (uint64_t)(ev_now(loop) * 1000.0));
    if (rt->bt == NULL) {
        generation_unref(gen);
        rt->cfg = NULL;
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rt->proxy_ready = true;
    if (proxy_init(&rt->proxy, loop, gen, rt->bt, err, errlen) == -1)
        goto fail;
    if (accesslog_open(&rt->accesslog, cfg->logging.access_log, err, errlen) == -1)
        goto fail;
    rt->proxy.accesslog = &rt->accesslog;
    rt->health = health_checker_new(loop, cfg, rt->bt);
    if (rt->health == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    drainer_init(&rt->drainer, &rt->proxy);
    struct admin_hooks hooks = {.ctx = rt, .reload = admin_reload_hook};
    if (admin_init(&rt->admin, loop, cfg, &rt->proxy, &rt->drainer, &hooks,
                   err, errlen) == -1)
        goto fail;
    rt->admin_ready = true;
    rt->proxy.on_drained = on_drained;
    ev_timer_init(&rt->stop_timer, stop_timer_cb, 0., 0.);
    ev_timer_init(&rt->delay_timer, delay_timer_cb, 0., 0.);
    ev_signal_init(&rt->sigterm, stop_cb, SIGTERM);
    ev_signal_init(&rt->sigint, stop_cb, SIGINT);
    ev_signal_init(&rt->sighup, hup_cb, SIGHUP);
    ev_signal_init(&rt->sigusr1, usr1_cb, SIGUSR1);
    ev_signal *sigs[] = {&rt->sigterm, &rt->sigint, &rt->sighup, &rt->sigusr1};
    for (size_t i = 0; i < nitems(sigs); i++) {
        sigs[i]->data = rt;
        ev_signal_start(loop, sigs[i]);
    }
    return 0;
fail:
    runtime_fini(rt);
    return -1;
}

int
runtime_run(struct runtime *rt)
{
    proxy_start(&rt->proxy);
    health_checker_start(rt->health);
    admin_start(&rt->admin);
    log_info("weir %s running: %zu listener(s), %zu backend(s), %s",
             WEIR_VERSION, rt->proxy.nlisteners, rt->bt->n,
             cfg_algorithm_name(rt->cfg->algorithm));
    ev_run(rt->loop, 0);
    return rt->exit_code;
}

void
runtime_fini(struct runtime *rt)
{
    if (rt->admin_ready)
        admin_fini(&rt->admin);
    rt->admin_ready = false;
    health_checker_free(rt->health);
    rt->health = NULL;
    if (rt->proxy_ready) {
        proxy_fini(&rt->proxy);
        /* Every request has ended, so every in-flight count must be back
         * at zero: a cheap check of the accounting on every exit. */
        for (size_t i = 0; i < rt->bt->n; i++)
            assert(rt->bt->peers[i].inflight == 0);
    }
    rt->proxy_ready = false;
    /* After the sessions: drain deadlines hold removed backends. */
    drainer_fini(&rt->drainer);
    /* After the sessions, whose last lines it flushes. */
    accesslog_close(&rt->accesslog);
    ev_signal *sigs[] = {&rt->sigterm, &rt->sigint, &rt->sighup, &rt->sigusr1};
    for (size_t i = 0; i < nitems(sigs); i++)
        ev_signal_stop(rt->loop, sigs[i]);
    ev_timer_stop(rt->loop, &rt->stop_timer);
    ev_timer_stop(rt->loop, &rt->delay_timer);
    backend_table_free(rt->bt);
    rt->bt = NULL;
    rt->cfg = NULL; /* freed with its generation by proxy_fini */
}
