/* Runtime backends: identity, health, drain state, weights, the exact
 * in-flight count and counters, and the lb_peer snapshot the balancer
 * reads. No I/O and no clock: time is passed in. */
#ifndef WEIR_BACKEND_H
#define WEIR_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "weir/health/health_fsm.h"
#include "weir/lb/affinity.h"
#include "weir/lb/lb.h"

struct pool; /* idle upstream connections, owned by the I/O layer */
struct backend_table;

enum backend_outcome {
    BACKEND_OK,          /* a complete response */
    BACKEND_FAILED,      /* connect failure, reset, bad response */
    BACKEND_TIMEOUT,     /* no (complete) response in time */
    BACKEND_ABANDONED,   /* the client went away first */
};

/* The operator's say (weirctl drain / enable). */
enum backend_admin {
    BACKEND_ENABLED,
    BACKEND_DRAINING,    /* no new requests; in-flight ones finish */
    BACKEND_DRAINED,     /* draining and nothing left in flight */
};

/* One active check's outcome, with what the agent said about itself. */
struct backend_check_result {
    bool pass;
    const char *reason;  /* "status 200", "timeout", "Connection refused" */
    int agent_drain;     /* Weir-Drain: 1 -> 1, absent -> 0, no answer -> -1 */
    int agent_weight;    /* Weir-Weight: 0..256, or -1 */
};

/* Request duration histogram bounds, in microseconds (1 ms .. 60 s); one
 * more bucket counts everything above the last bound. */
#define BACKEND_LATENCY_BUCKETS 15
extern const uint64_t backend_latency_bounds_us[BACKEND_LATENCY_BUCKETS];

/* A backend lives as long as anything refers to it: the table it is in,
 * a session with a request on it, a drain deadline. A reload builds a new
 * table that shares the backends it keeps; one removed from the
 * configuration leaves the table (table == NULL) and is freed when the
 * last reference goes. */
struct backend {
    unsigned refs;
    char *name;
    char addr_text[64];
    struct sockaddr_storage addr;
    socklen_t addrlen;
    size_t index;              /* position in the table and its peers */
    struct lb_peer *peer;      /* the balancer's view, kept in step: in
                                * the table's peers, or own_peer once
                                * removed */
    struct lb_peer own_peer;
    struct backend_table *table; /* NULL once out of every table */
    bool removed;              /* by a reload (not by exit) */
    struct pool *pool;         /* idle connections, owned by the I/O layer */
    /* Releases what the I/O layer attached (the pool) before B is freed. */
    void (*on_free)(struct backend *b);
    struct affinity_ids aff_ids; /* its keyed cookie ids (when enabled) */

    struct health_fsm health;
    enum backend_admin admin;
    uint64_t drain_started_ms; /* when the operator's drain began */
    bool agent_drain;          /* the node asked to be drained */
    unsigned weight_cfg;       /* from the configuration */
    int weight_admin;          /* set through the admin API, or -1 */
    int weight_agent;          /* Weir-Weight from the node, or -1 */

    uint64_t requests_total;
    uint64_t failures_total;
    uint64_t responses[6];     /* by status class: [1]..[5] = 1xx..5xx,
                                * [0] = ended with no response */
    uint64_t latency[BACKEND_LATENCY_BUCKETS + 1];
    uint64_t latency_sum_us;
};

struct backend_table {
    struct backend **backends; /* one reference each */
    struct lb_peer *peers;     /* parallel to backends */
    unsigned *weight_cfg;      /* the configured weights, parallel too:
                                * applied to kept backends at adoption */
    size_t n;
    struct lb *lb;
    struct health_fsm_params hp;
    bool passive;              /* live-traffic failures count */
    bool none_eligible;        /* last refresh found nothing eligible */
};

/* Build the table from the configuration at NOW_MS. A backend of PREV (may
 * be NULL) with the same name and address is shared, not copied: it keeps
 * its state once the new table is adopted. New backends start UNKNOWN.
 * PREV is not changed. NULL on allocation failure. */
struct backend_table *backend_table_new(const struct cfg *cfg,
                                        const struct backend_table *prev,
                                        uint64_t now_ms);
/* Make NEXT (built from PREV) the live table: shared backends move their
 * balancer state into it and take its configured weight (a weight that
 * changed in the file replaces one set through the admin API); every
 * backend of PREV that NEXT lacks is removed: drained, out of any table.
 * ON_REMOVED sees each (it may take a reference). PREV must then be freed. */
void backend_table_adopt(struct backend_table *next, struct backend_table *prev,
                         uint64_t now_ms,
                         void (*on_removed)(void *ctx, struct backend *b),
                         void *ctx);
/* Drops the table's references. backend_table_free(NULL) is a no-op. */
void backend_table_free(struct backend_table *bt);

void backend_ref(struct backend *b);
/* Frees B (after its on_free) when that was the last reference. */
void backend_unref(struct backend *b);
/* By name, or NULL. */
struct backend *backend_find(struct backend_table *bt, const char *name);

/* Recompute every peer's eligibility and effective weight at NOW_MS, log a
 * change of "nothing is eligible" once, and tell the balancer when weights
 * moved. Returns true while some backend is still ramping up (slow start),
 * so the caller keeps calling it. */
bool backend_table_refresh(struct backend_table *bt, uint64_t now_ms);

/* Pick a backend for a request, skipping those set in TRIED (n bytes, may
 * be NULL). NULL when none is eligible. */
struct backend *backend_pick(struct backend_table *bt, const uint8_t *tried,
                             uint32_t client_hash);

/* A request was assigned to B (counted while it is still connecting). */
void backend_inflight_inc(struct backend *b);
/* That request ended; call exactly once per backend_inflight_inc.
 * RTT_US feeds least-response-time when the outcome is BACKEND_OK; failures
 * and timeouts count as passive health failures when enabled. */
void backend_inflight_dec(struct backend *b, enum backend_outcome outcome,
                          uint64_t rtt_us, uint64_t now_ms);

/* Account one finished request: its final STATUS (0 = none reached the
 * client) and how long it took. */
void backend_record(struct backend *b, unsigned status, uint64_t duration_us);

/* Feed one active check result (logs every state change). */
void backend_health_report(struct backend_table *bt, struct backend *b,
                           const struct backend_check_result *r, uint64_t now_ms);
/* Milliseconds until B's next active check (before jitter). */
uint64_t backend_check_interval_ms(const struct backend *b);

/* Operator actions; each refreshes the table. Idempotent. */
void backend_drain(struct backend *b, uint64_t now_ms);
void backend_enable(struct backend *b, uint64_t now_ms);
void backend_set_weight(struct backend *b, unsigned weight, uint64_t now_ms);
/* Forget the admin API's weight: the node's (Weir-Weight) or the
 * configured one applies again. */
void backend_clear_weight(struct backend *b, uint64_t now_ms);

/* The weight in force before slow start: admin's, else the agent's, else
 * the configured one. */
unsigned backend_base_weight(const struct backend *b);
/* "enabled", "draining" or "drained" as operators see it (an agent's drain
 * request shows as draining too). */
const char *backend_admin_name(const struct backend *b);

#endif
