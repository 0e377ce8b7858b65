/* Backend objects: their health (through the pure state machine), the
 * operator's and the node's say on draining and weight, and the exact
 * in-flight accounting. The balancer only ever sees the lb_peer array;
 * this module keeps it true. It owns no sockets: the pool pointer belongs
 * to the I/O layer. */
#include "weir/lb/backend.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weir/config/config.h"
#include "weir/util/log.h"

const uint64_t backend_latency_bounds_us[BACKEND_LATENCY_BUCKETS] = {
    1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
    1000000, 2500000, 5000000, 10000000, 30000000, 60000000,
};

static struct backend *
backend_new(const struct cfg_backend *cb, uint64_t now_ms)
{
    struct backend *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    b->name = strdup(cb->name);
    if (b->name == NULL) {
        free(b);
        return NULL;
    }
    b->refs = 1;
    snprintf(b->addr_text, sizeof(b->addr_text), "%s", cb->address.text);
    memcpy(&b->addr, &cb->address.sa, sizeof(b->addr));
    b->addrlen = cb->address.salen;
    b->weight_cfg = cb->weight;
    b->weight_admin = b->weight_agent = -1;
    b->peer = &b->own_peer;
    b->peer->key = lb_hash(cb->name, strlen(cb->name));
    health_fsm_init(&b->health, now_ms);
    return b;
}

void
backend_ref(struct backend *b)
{
    b->refs++;
}

void
backend_unref(struct backend *b)
{
    assert(b->refs > 0);
    if (--b->refs > 0)
        return;
    if (b->on_free != NULL)
        b->on_free(b);
    if (b->removed)
        log_info("backend %s: removed and released", b->name);
    free(b->name);
    free(b);
}

/* The backend of PREV that a configured one continues: same name, same
 * address (a new address is a new backend). */
static struct backend *
find_kept(const struct backend_table *prev, const struct cfg_backend *cb)
{
    for (size_t i = 0; prev != NULL && i < prev->n; i++) {
        struct backend *b = prev->backends[i];
        if (strcmp(b->name, cb->name) == 0 && b->addrlen == cb->address.salen &&
            memcmp(&b->addr, &cb->address.sa, b->addrlen) == 0)
            return b;
    }
    return NULL;
}

struct backend_table *
backend_table_new(const struct cfg *cfg, const struct backend_table *prev,
                  uint64_t now_ms)
{
    struct backend_table *bt = calloc(1, sizeof(*bt));
    if (bt == NULL)
        return NULL;
    size_t n = cfg->nbackends ? cfg->nbackends : 1;
    bt->backends = calloc(n, sizeof(*bt->backends));
    bt->peers = calloc(n, sizeof(*bt->peers));
    bt->weight_cfg = calloc(n, sizeof(*bt->weight_cfg));
    if (bt->backends == NULL || bt->peers == NULL || bt->weight_cfg == NULL)
        goto fail;
    health_fsm_params_from_cfg(&cfg->health, &bt->hp);
    bt->passive = cfg->health.passive;
    for (size_t i = 0; i < cfg->nbackends; i++) {
        const struct cfg_backend *cb = &cfg->backends[i];
        struct backend *b = find_kept(prev, cb);
        if (b != NULL) {
            backend_ref(b);
            bt->peers[i] = *b->peer;
        } else if ((b = backend_new(cb, now_ms)) == NULL) {
            goto fail;
        } else {
            b->index = i;
            b->table = bt;
            b->peer = &bt->peers[i];
            b->peer->key = lb_hash(cb->name, strlen(cb->name));
        }
        bt->backends[bt->n++] = b;
        bt->weight_cfg[i] = cb->weight;
    }
    bt->lb = lb_new(lb_ops_for(cfg->algorithm), bt->peers, bt->n);
    if (bt->lb == NULL)
        goto fail;
    if (prev == NULL)
        backend_table_refresh(bt, now_ms);
    return bt;
fail:
    backend_table_free(bt);
    return NULL;
}

static bool
table_has(const struct backend_table *bt, const struct backend *b)
{
    for (size_t i = 0; i < bt->n; i++)
        if (bt->backends[i] == b)
            return true;
    return false;
}

void
backend_table_adopt(struct backend_table *next, struct backend_table *prev,
                    uint64_t now_ms,
                    void (*on_removed)(void *ctx, struct backend *b), void *ctx)
{
    for (size_t i = 0; i < prev->n; i++) {
        struct backend *b = prev->backends[i];
        if (table_has(next, b))
            continue;
        /* Removed: it keeps its in-flight count in a peer of its own and
         * drains; nothing picks it any more. */
        b->own_peer = *b->peer;
        b->peer = &b->own_peer;
        b->peer->eligible = false;
        b->table = NULL;
        b->removed = true;
        if (b->admin == BACKEND_ENABLED) {
            b->admin = BACKEND_DRAINING;
            b->drain_started_ms = now_ms;
        }
        log_info("backend %s: removed from the configuration (%u in flight)",
                 b->name, b->peer->inflight);
        if (on_removed != NULL)
            on_removed(ctx, b);
    }
    for (size_t i = 0; i < next->n; i++) {
        struct backend *b = next->backends[i];
        if (b->table != next) {
            /* Kept: its counts may have moved since the table was built. */
            next->peers[i] = *b->peer;
            b->peer = &next->peers[i];
            b->index = i;
            b->table = next;
        }
        if (b->weight_cfg != next->weight_cfg[i]) {
            /* The file changed this weight: it wins over the admin API's. */
            b->weight_cfg = next->weight_cfg[i];
            b->weight_admin = -1;
        }
    }
    backend_table_refresh(next, now_ms);
    /* The balancer was built from the peers before the kept counts moved
     * in: let it see them. */
    if (lb_on_change(next->lb, next->peers, next->n) == -1)
        log_warnx("balancer: out of memory rebuilding after reload");
}

void
backend_table_free(struct backend_table *bt)
{
    if (bt == NULL)
        return;
    lb_free(bt->lb);
    for (size_t i = 0; bt->backends != NULL && i < bt->n; i++) {
        struct backend *b = bt->backends[i];
        if (b->table == bt) {
            /* Freed with its table (exit, or a table never adopted). */
            b->own_peer = *b->peer;
            b->peer = &b->own_peer;
            b->table = NULL;
        }
        backend_unref(b);
    }
    free(bt->backends);
    free(bt->peers);
    free(bt->weight_cfg);
    free(bt);
}

struct backend *
backend_find(struct backend_table *bt, const char *name)
{
    for (size_t i = 0; i < bt->n; i++)
        if (strcmp(bt->backends[i]->name, name) == 0)
            return bt->backends[i];
    return NULL;
}

unsigned
backend_base_weight(const struct backend *b)
{
    if (b->weight_admin >= 0)
        return (unsigned)b->weight_admin;
    if (b->weight_agent >= 0)
        return (unsigned)b->weight_agent;
    return b->weight_cfg;
}

const char *
backend_admin_name(const struct backend *b)
{
    if (b->admin == BACKEND_ENABLED && !b->agent_drain)
        return "enabled";
    return b->peer->inflight > 0 ? "draining" : "drained";
}

/* Whether B's health lets it take requests. Until some backend has proven
 * healthy (start-up, or every backend down), UNKNOWN ones are tried rather
 * than answering 503 to everything: see docs/configuration.md. */
static bool
health_allows(const struct backend *b, bool any_healthy, uint64_t now_ms)
{
    if (health_fsm_eligible(&b->health, now_ms))
        return true;
    return !any_healthy && b->health.state == HEALTH_UNKNOWN;
}

static void
note_eligibility(struct backend_table *bt, size_t eligible)
{
    if (eligible == 0 && !bt->none_eligible)
        log_warnx("no eligible backend: answering 503");
    else if (eligible > 0 && bt->none_eligible)
        log_info("%zu backend(s) eligible again", eligible);
    bt->none_eligible = eligible == 0;
}

bool
backend_table_refresh(struct backend_table *bt, uint64_t now_ms)
{
    bool any_healthy = false, ramping = false, weights_moved = false;
    size_t eligible = 0;

    /* Only a healthy backend that may take requests rules the unknown ones
     * out: a drained healthy one must not leave the rest unused. */
    for (size_t i = 0; i < bt->n; i++) {
        const struct backend *b = bt->backends[i];
        any_healthy |= b->admin == BACKEND_ENABLED && !b->agent_drain &&
                       health_fsm_eligible(&b->health, now_ms);
    }
    for (size_t i = 0; i < bt->n; i++) {
        struct backend *b = bt->backends[i];
        struct lb_peer *p = b->peer;
        uint32_t w = health_fsm_weight(&b->health, &bt->hp,
                                       backend_base_weight(b), now_ms);
        if (b->admin == BACKEND_DRAINING && p->inflight == 0) {
            b->admin = BACKEND_DRAINED;
            log_info("backend %s: drained", b->name);
        }
        ramping |= health_fsm_ramping(&b->health, &bt->hp, now_ms);
        weights_moved |= p->weight != w;
        p->weight = w;
        p->eligible = b->admin == BACKEND_ENABLED && !b->agent_drain &&
                      health_allows(b, any_healthy, now_ms) && w > 0;
        eligible += p->eligible;
    }
    note_eligibility(bt, eligible);
    if (weights_moved && bt->lb != NULL && lb_on_change(bt->lb, bt->peers, bt->n) == -1)
        log_warnx("balancer: out of memory rebuilding for new weights");
    return ramping;
}

struct backend *
backend_pick(struct backend_table *bt, const uint8_t *tried, uint32_t client_hash)
{
    int i = lb_pick(bt->lb, bt->peers, bt->n, tried, client_hash);
    return i < 0 ? NULL : bt->backends[i];
}

void
backend_inflight_inc(struct backend *b)
{
    b->peer->inflight++;
    b->requests_total++;
}

static void
log_change(const struct backend *b, struct health_fsm_change chg)
{
    if (!chg.changed)
        return;
    log_info("backend %s: %s -> %s (%s)", b->name, health_state_name(chg.from),
             health_state_name(chg.to), b->health.reason);
    if (chg.flap)
        log_warnx("backend %s: flapping: held out for %llus", b->name,
                  (unsigned long long)(b->health.hold_ms / 1000));
}

void
backend_inflight_dec(struct backend *b, enum backend_outcome outcome,
                     uint64_t rtt_us, uint64_t now_ms)
{
    struct backend_table *bt = b->table;

    assert(b->peer->inflight > 0);
    b->peer->inflight--;
    if (outcome == BACKEND_FAILED || outcome == BACKEND_TIMEOUT)
        b->failures_total++;
    if (outcome == BACKEND_OK) {
        uint64_t sample = rtt_us ? rtt_us : 1;
        if (sample > UINT32_MAX)
            sample = UINT32_MAX;
        /* EWMA with alpha 1/8, as TCP's SRTT. */
        uint64_t old = b->peer->rtt_us;
        b->peer->rtt_us = old == 0 ? (uint32_t)sample
                                   : (uint32_t)((old * 7 + sample) / 8);
    }
    if (bt == NULL) {
        /* Removed by a reload: no table to refresh, no health to judge. */
        if (b->peer->inflight == 0 && b->admin == BACKEND_DRAINING) {
            b->admin = BACKEND_DRAINED;
            log_info("backend %s: removed backend drained", b->name);
        }
        return;
    }
    bool changed = b->admin == BACKEND_DRAINING && b->peer->inflight == 0;
    if (bt->passive && outcome != BACKEND_ABANDONED) {
        bool ok = outcome == BACKEND_OK;
        struct health_fsm_change chg = health_fsm_report(
            &b->health, &bt->hp, HEALTH_PASSIVE, ok,
            ok ? "ok" : outcome == BACKEND_TIMEOUT ? "response timeout"
                                                  : "request failed",
            now_ms);
        log_change(b, chg);
        changed |= chg.changed;
    }
    if (changed)
        backend_table_refresh(bt, now_ms);
}

void
backend_record(struct backend *b, unsigned status, uint64_t duration_us)
{
    size_t i = 0;

    b->responses[status >= 100 && status < 600 ? status / 100 : 0]++;
    while (i < BACKEND_LATENCY_BUCKETS && duration_us > backend_latency_bounds_us[i])
        i++;
    b->latency[i]++;
    b->latency_sum_us += duration_us;
}

void
backend_health_report(struct backend_table *bt, struct backend *b,
                      const struct backend_check_result *r, uint64_t now_ms)
{
    struct health_fsm_change chg = health_fsm_report(
        &b->health, &bt->hp, HEALTH_ACTIVE, r->pass, r->reason, now_ms);
    log_change(b, chg);
    if (r->agent_drain >= 0 && (bool)r->agent_drain != b->agent_drain) {
        b->agent_drain = r->agent_drain;
        log_info("backend %s: %s by its health answer (Weir-Drain)", b->name,
                 b->agent_drain ? "draining" : "drain lifted");
    }
    if (r->agent_drain >= 0 && r->agent_weight != b->weight_agent) {
        b->weight_agent = r->agent_weight;
        if (b->weight_agent >= 0)
            log_info("backend %s: weight %d from its health answer "
                     "(Weir-Weight)", b->name, b->weight_agent);
    }
    backend_table_refresh(bt, now_ms);
}

uint64_t
backend_check_interval_ms(const struct backend *b)
{
    return health_fsm_interval(&b->health, &b->table->hp);
}

void
backend_drain(struct backend *b, uint64_t now_ms)
{
    if (b->admin == BACKEND_ENABLED) {
        b->admin = BACKEND_DRAINING;
        b->drain_started_ms = now_ms;
        log_info("backend %s: draining (%u in flight)", b->name,
                 b->peer->inflight);
    }
    if (b->table != NULL)
        backend_table_refresh(b->table, now_ms);
}

void
backend_enable(struct backend *b, uint64_t now_ms)
{
    if (b->admin != BACKEND_ENABLED) {
        b->admin = BACKEND_ENABLED;
        log_info("backend %s: enabled", b->name);
    }
    if (b->table != NULL)
        backend_table_refresh(b->table, now_ms);
}

void
backend_clear_weight(struct backend *b, uint64_t now_ms)
{
    if (b->weight_admin >= 0) {
        b->weight_admin = -1;
        log_info("backend %s: admin weight cleared: weight %u", b->name,
                 backend_base_weight(b));
    }
    if (b->table != NULL)
        backend_table_refresh(b->table, now_ms);
}

void
backend_set_weight(struct backend *b, unsigned weight, uint64_t now_ms)
{
    if (b->weight_admin != (int)weight) {
        b->weight_admin = (int)weight;
        log_info("backend %s: weight %u", b->name, weight);
    }
    if (b->table != NULL)
        backend_table_refresh(b->table, now_ms);
}
