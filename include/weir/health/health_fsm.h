/* The pure health state machine of one backend: unknown/healthy/unhealthy,
 * pass and fail thresholds, flap damping, check pacing and the slow-start
 * weight. Time is passed in as milliseconds of a monotonic clock; nothing
 * here allocates, reads a clock, draws a random number or does I/O. */
#ifndef WEIR_HEALTH_FSM_H
#define WEIR_HEALTH_FSM_H

#include <stdbool.h>
#include <stdint.h>

struct cfg_health;

enum health_state {
    HEALTH_UNKNOWN,     /* new backend, not decided yet */
    HEALTH_HEALTHY,
    HEALTH_UNHEALTHY,
};

/* Where a result comes from. The caller decides whether passive reports are
 * enabled (cfg_health.passive); this module only weighs them. */
enum health_source {
    HEALTH_ACTIVE,      /* an active check by the checker */
    HEALTH_PASSIVE,     /* the outcome of a live request */
};

#define HEALTH_REASON_MAX 64    /* bytes kept of a reason, NUL included */
#define HEALTH_FLAP_HISTORY 8   /* upper bound of flap_transitions */

/* Flap damping defaults: 4 transitions within 60 s mark a backend flapping;
 * it is held out 10 s, doubled at each further flap up to 5 min; every
 * 60 s without a flap after a hold-out ends halves the next one back. */
#define HEALTH_FLAP_TRANSITIONS 4
#define HEALTH_FLAP_WINDOW_MS 60000u
#define HEALTH_FLAP_HOLD_MIN_MS 10000u
#define HEALTH_FLAP_HOLD_MAX_MS 300000u
#define HEALTH_FLAP_DECAY_MS 60000u

struct health_fsm_params {
    unsigned healthy_threshold;     /* consecutive active passes; 0 acts as 1 */
    unsigned unhealthy_threshold;   /* consecutive fails; 0 acts as 1 */
    uint64_t interval_ms;           /* between checks when healthy, stable */
    uint64_t unhealthy_interval_ms; /* otherwise; 0 = interval_ms */
    uint64_t slow_start_ms;         /* weight ramp after recovery; 0 = off */
    unsigned flap_transitions;      /* this many transitions in the window
                                     * = flapping; 0 = no damping; capped
                                     * at HEALTH_FLAP_HISTORY */
    uint64_t flap_window_ms;        /* 0 = no damping */
    uint64_t flap_hold_min_ms;      /* first hold-out; 0 = no hold-out */
    uint64_t flap_hold_max_ms;      /* cap of the doubling hold-out */
    uint64_t flap_decay_ms;         /* stable this long halves the next
                                     * hold-out; 0 = never decays */
};

/* One backend's health. Embed it by value; read any field, but change them
 * only through the functions below. */
struct health_fsm {
    enum health_state state;
    enum health_state prev_state;   /* state before the last change */
    unsigned pass_streak;           /* consecutive active passes */
    unsigned fail_streak;           /* consecutive fails, either source */
    uint64_t changed_ms;            /* time of the last change (or init) */
    char reason[HEALTH_REASON_MAX]; /* reason of the last change */

    uint64_t transitions;           /* state changes */
    uint64_t passes, fails;         /* active check results */
    uint64_t passive_passes, passive_fails; /* live traffic outcomes */
    uint64_t flaps;                 /* transitions that began or extended
                                     * a hold-out */

    uint64_t flap_times[HEALTH_FLAP_HISTORY]; /* recent transitions, ring */
    unsigned flap_next;             /* next ring slot to write */
    unsigned flap_count;            /* ring slots in use */
    uint64_t hold_ms;               /* length of the last hold-out, 0 = none */
    uint64_t held_until_ms;         /* held out (flapping) before this */
};

/* What one report did. FROM == TO when nothing changed. */
struct health_fsm_change {
    bool changed;                   /* the state changed */
    enum health_state from, to;
    bool flap;                      /* this change began or extended a
                                     * hold-out, until f->held_until_ms */
};

/* Fill P from CFG (thresholds, intervals, slow start; unhealthy_interval 0
 * falls back to interval) and the HEALTH_FLAP_* defaults. CFG NULL gives
 * the DESIGN.md defaults: 2 passes, 3 fails, 10 s, no slow start. Borrows
 * CFG; keeps no pointer into it. */
void health_fsm_params_from_cfg(const struct cfg_health *cfg,
                                struct health_fsm_params *p);

/* Start F as UNKNOWN at NOW_MS: no streaks, zero counters, not held out,
 * reason "not checked yet". Never fails, never allocates. */
void health_fsm_init(struct health_fsm *f, uint64_t now_ms);

/* Feed one result: PASS or fail, from SRC, with REASON for the log ("timeout",
 * "status 500"; copied, truncated to HEALTH_REASON_MAX - 1 bytes; NULL means
 * "ok" or "failed"). A pass resets the fail streak and a fail the pass
 * streak. Active: healthy_threshold passes in a row make F HEALTHY (from
 * UNKNOWN or UNHEALTHY), unhealthy_threshold fails in a row UNHEALTHY (from
 * UNKNOWN or HEALTHY). Passive fails count exactly like active ones; a
 * passive pass only resets the fail streak: it never adds to the pass streak
 * nor changes the state, so only active checks revive or admit a backend.
 * On a change, REASON and NOW_MS are kept and flapping is assessed.
 * Returns what changed. NOW_MS must not go backwards. */
struct health_fsm_change health_fsm_report(struct health_fsm *f,
                                           const struct health_fsm_params *p,
                                           enum health_source src, bool pass,
                                           const char *reason,
                                           uint64_t now_ms);

/* True while F is held out for flapping (NOW_MS < f->held_until_ms). */
bool health_fsm_flapping(const struct health_fsm *f, uint64_t now_ms);

/* True when F may take new requests: HEALTHY and not held out. UNKNOWN is
 * not eligible here; the table-wide start-up rule is the caller's. */
bool health_fsm_eligible(const struct health_fsm *f, uint64_t now_ms);

/* Milliseconds until the next active check: interval_ms when HEALTHY with
 * no fail in its streak, else unhealthy_interval_ms (UNHEALTHY, UNKNOWN, or
 * HEALTHY with fails toward a change). Jitter is the caller's to add. */
uint64_t health_fsm_interval(const struct health_fsm *f,
                             const struct health_fsm_params *p);

/* Effective weight at NOW_MS for a backend of FULL_WEIGHT. Slow start ramps
 * only after a recovery (UNHEALTHY -> HEALTHY), never after the first
 * UNKNOWN -> HEALTHY: linearly from max(1, full/10) to FULL_WEIGHT over
 * slow_start_ms, starting when the recovery happened or, if later, when a
 * flapping hold-out ends. Never 0 unless FULL_WEIGHT is 0. Outside a ramp,
 * whatever the state, FULL_WEIGHT: eligibility is health_fsm_eligible's. */
uint32_t health_fsm_weight(const struct health_fsm *f,
                           const struct health_fsm_params *p,
                           uint32_t full_weight, uint64_t now_ms);

/* True while a slow-start ramp is in progress (its weight may still rise
 * with time), so the caller knows to keep refreshing the balancer's weight. */
bool health_fsm_ramping(const struct health_fsm *f,
                        const struct health_fsm_params *p, uint64_t now_ms);

/* "unknown", "healthy" or "unhealthy" (or "invalid"); a static string. */
const char *health_state_name(enum health_state s);

#endif
