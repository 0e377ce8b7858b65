/* Configuration reload: everything that can fail is built first, beside
 * what runs (configuration, TLS contexts, keys, backend table, health
 * checker, new listeners); only then is it all swapped in, in one turn of
 * the loop, by steps that cannot fail. A wrong file therefore changes
 * nothing, and no connection is dropped: sessions keep the generation
 * their request started with, kept listeners keep their socket, kept
 * backends their state, and removed backends drain. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "weir/config/config.h"
#include "weir/lb/backend.h"
#include "weir/proxy/generation.h"
#include "weir/runtime.h"
#include "weir/util/log.h"

static void
on_backend_removed(void *ctx, struct backend *b)
{
    struct runtime *rt = ctx;
    drainer_retire(&rt->drainer, b);
}

/* What the new table changes, counted before it is adopted. */
struct backend_diff {
    size_t added, removed, changed;
};

static struct backend_diff
diff_backends(const struct backend_table *old, const struct backend_table *next)
{
    struct backend_diff d = {0, 0, 0};
    size_t kept = 0;

    for (size_t i = 0; i < next->n; i++) {
        const struct backend *b = next->backends[i];
        if (b->table == next) {
            d.added++;
            continue;
        }
        kept++;
        if (b->weight_cfg != next->weight_cfg[i])
            d.changed++;
    }
    d.removed = old->n - kept;
    return d;
}

static bool
same_string(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Settings read only at start: say they wait for a restart. */
static void
warn_restart_only(const struct cfg *old, const struct cfg *next)
{
    if (!same_string(old->logging.access_log, next->logging.access_log))
        log_warnx("reload: logging.access_log changes take effect at the next "
                  "restart");
    if (old->workers != next->workers)
        log_warnx("reload: workers changes take effect at the next restart");
}

int
runtime_reload(struct runtime *rt, uint64_t *generation, struct cfg_errors *errs)
{
    struct proxy *px = &rt->proxy;
    uint64_t now_ms = (uint64_t)(ev_now(rt->loop) * 1000.0);
    struct generation *gen = NULL;
    struct backend_table *bt = NULL;
    struct health_checker *hc = NULL;
    struct proxy_reload *pr = NULL;
    struct admin_keys *keys = NULL;
    char err[512];

    if (proxy_leaving(px)) {
        cfg_errors_add(errs, "weir is stopping: reload refused");
        goto failed;
    }
    struct cfg *cfg = cfg_load(rt->config_path, errs);
    if (cfg == NULL)
        goto failed;
    gen = generation_new(cfg, px->gen->number + 1, time(NULL), err, sizeof(err));
    if (gen == NULL) {
        cfg_errors_add(errs, "%s: %s", rt->config_path, err);
        cfg_free(cfg);
        goto failed;
    }
    bt = backend_table_new(cfg, rt->bt, now_ms);
    hc = bt != NULL ? health_checker_new(rt->loop, cfg, bt) : NULL;
    if (hc == NULL) {
        cfg_errors_add(errs, "%s: out of memory", rt->config_path);
        goto undo;
    }
    if (proxy_reload_prepare(px, gen, bt, &pr, err, sizeof(err)) == -1) {
        cfg_errors_add(errs, "%s: %s", rt->config_path, err);
        goto undo;
    }
    if (admin_reload_prepare(&rt->admin, cfg, &keys, err, sizeof(err)) == -1) {
        cfg_errors_add(errs, "%s: %s", rt->config_path, err);
        proxy_reload_abort(px, pr);
        goto undo;
    }

    /* Nothing below can fail. */
    struct backend_diff bd = diff_backends(rt->bt, bt);
    struct proxy_reload_summary ls;
    struct backend_table *old_bt = rt->bt;
    const struct cfg *old_cfg = rt->cfg; /* freed by the proxy's commit */
    unsigned old_max_connections = old_cfg->limits.max_connections;
    warn_restart_only(old_cfg, cfg);
    /* Before the proxy lets the old configuration go: both compare. */
    admin_reload_commit(&rt->admin, cfg, keys);
    proxy_reload_commit(px, pr, &ls); /* the proxy now holds GEN */
    backend_table_adopt(bt, old_bt, now_ms, on_backend_removed, rt);
    health_checker_free(rt->health);
    rt->health = hc;
    health_checker_start(hc);
    rt->bt = bt;
    rt->cfg = cfg;
    backend_table_free(old_bt); /* removed backends live on while used */
    log_set_level((enum log_level)cfg->logging.level);
    if (cfg->limits.max_connections != old_max_connections)
        runtime_raise_fd_limit(cfg);

    *generation = rt->admin.generation = px->gen->number;
    rt->admin.reloads_ok++;
    log_info("reload: generation %llu applied: backends %zu added, %zu removed, "
             "%zu reweighted; listeners %zu added, %zu removed",
             (unsigned long long)*generation, bd.added, bd.removed, bd.changed,
             ls.listeners_added, ls.listeners_removed);
    return 0;

undo:
    health_checker_free(hc);
    backend_table_free(bt);
    generation_unref(gen);
failed:
    rt->admin.reloads_failed++;
    for (size_t i = 0; i < errs->n; i++)
        log_warnx("reload failed: %s", errs->msgs[i]);
    log_warnx("reload failed: keeping generation %llu",
              (unsigned long long)px->gen->number);
    return -1;
}
