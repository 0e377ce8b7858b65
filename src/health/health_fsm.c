/* Health state machine of one backend: the decision half of health checks,
 * fed by the active checker and by passive reports from live traffic, as
 * relayd's hce_notify_done. Owns thresholds, flap damping, pacing and the
 * slow-start weight. Owns no timer, socket or clock: the caller passes the
 * time in and adds any jitter. */
#include "weir/health/health_fsm.h"

#include <limits.h>
#include <string.h>

#include "weir/config/config.h"

#define DEFAULT_HEALTHY_THRESHOLD 2
#define DEFAULT_UNHEALTHY_THRESHOLD 3
#define DEFAULT_INTERVAL_MS 10000u

void
health_fsm_params_from_cfg(const struct cfg_health *cfg,
                           struct health_fsm_params *p)
{
    memset(p, 0, sizeof(*p));
    if (cfg != NULL) {
        p->healthy_threshold = cfg->healthy_threshold;
        p->unhealthy_threshold = cfg->unhealthy_threshold;
        p->interval_ms = cfg->interval_ms;
        p->unhealthy_interval_ms = cfg->unhealthy_interval_ms;
        p->slow_start_ms = cfg->slow_start_ms;
    } else {
        p->healthy_threshold = DEFAULT_HEALTHY_THRESHOLD;
        p->unhealthy_threshold = DEFAULT_UNHEALTHY_THRESHOLD;
        p->interval_ms = DEFAULT_INTERVAL_MS;
    }
    if (p->unhealthy_interval_ms == 0)
        p->unhealthy_interval_ms = p->interval_ms;
    p->flap_transitions = HEALTH_FLAP_TRANSITIONS;
    p->flap_window_ms = HEALTH_FLAP_WINDOW_MS;
    p->flap_hold_min_ms = HEALTH_FLAP_HOLD_MIN_MS;
    p->flap_hold_max_ms = HEALTH_FLAP_HOLD_MAX_MS;
    p->flap_decay_ms = HEALTH_FLAP_DECAY_MS;
}

static void
set_reason(struct health_fsm *f, const char *reason)
{
    size_t len = strnlen(reason, sizeof(f->reason) - 1);

    memcpy(f->reason, reason, len);
    f->reason[len] = '\0';
}

void
health_fsm_init(struct health_fsm *f, uint64_t now_ms)
{
    memset(f, 0, sizeof(*f));
    f->state = HEALTH_UNKNOWN;
    f->prev_state = HEALTH_UNKNOWN;
    f->changed_ms = now_ms;
    set_reason(f, "not checked yet");
}

static unsigned
streak_add(unsigned n)
{
    return n == UINT_MAX ? n : n + 1;
}

static uint64_t
sat_mul2(uint64_t v)
{
    return v > UINT64_MAX / 2 ? UINT64_MAX : v * 2;
}

static uint64_t
sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* The hold-out for a flap at NOW: the last one, halved for every decay
 * period it has been over, then doubled; restarting from the minimum once
 * it has decayed below it. During a hold-out nothing decays. */
static uint64_t
next_hold(const struct health_fsm *f, const struct health_fsm_params *p,
          uint64_t now)
{
    uint64_t last = f->hold_ms;
    uint64_t hold;

    if (last != 0 && now > f->held_until_ms && p->flap_decay_ms > 0) {
        uint64_t periods = (now - f->held_until_ms) / p->flap_decay_ms;
        last = periods >= 64 ? 0 : last >> periods;
    }
    if (last == 0 || last < p->flap_hold_min_ms)
        hold = p->flap_hold_min_ms;
    else
        hold = sat_mul2(last);
    return hold < p->flap_hold_max_ms ? hold : p->flap_hold_max_ms;
}

/* Record a transition at NOW in the ring; true when it makes the last
 * flap_transitions of them fall within the window. */
static bool
flap_record(struct health_fsm *f, const struct health_fsm_params *p,
            uint64_t now)
{
    unsigned need = p->flap_transitions;
    unsigned in_window = 0;

    f->flap_times[f->flap_next] = now;
    f->flap_next = (f->flap_next + 1) % HEALTH_FLAP_HISTORY;
    if (f->flap_count < HEALTH_FLAP_HISTORY)
        f->flap_count++;
    if (need == 0 || p->flap_window_ms == 0)
        return false;
    if (need > HEALTH_FLAP_HISTORY)
        need = HEALTH_FLAP_HISTORY;
    for (unsigned i = 0; i < f->flap_count; i++) {
        if (now - f->flap_times[i] < p->flap_window_ms)
            in_window++;
    }
    return in_window >= need;
}

static void
transition(struct health_fsm *f, const struct health_fsm_params *p,
           enum health_state to, const char *reason, uint64_t now,
           struct health_fsm_change *chg)
{
    chg->changed = true;
    chg->to = to;
    f->prev_state = f->state;
    f->state = to;
    f->changed_ms = now;
    f->transitions++;
    set_reason(f, reason);
    if (flap_record(f, p, now)) {
        uint64_t hold = next_hold(f, p, now);
        uint64_t until = sat_add(now, hold);

        if (hold == 0)
            return;
        f->hold_ms = hold;
        if (until > f->held_until_ms)
            f->held_until_ms = until;
        f->flaps++;
        chg->flap = true;
    }
}

struct health_fsm_change
health_fsm_report(struct health_fsm *f, const struct health_fsm_params *p,
                  enum health_source src, bool pass, const char *reason,
                  uint64_t now_ms)
{
    struct health_fsm_change chg = {.from = f->state, .to = f->state};
    unsigned rise = p->healthy_threshold ? p->healthy_threshold : 1;
    unsigned fall = p->unhealthy_threshold ? p->unhealthy_threshold : 1;

    if (reason == NULL)
        reason = pass ? "ok" : "failed";
    if (pass) {
        f->fail_streak = 0;
        if (src == HEALTH_PASSIVE) {
            /* Live traffic never reaches an unhealthy backend, and one good
             * answer says little about a new one: only checks admit. */
            f->passive_passes++;
            return chg;
        }
        f->passes++;
        f->pass_streak = streak_add(f->pass_streak);
        if (f->state != HEALTH_HEALTHY && f->pass_streak >= rise)
            transition(f, p, HEALTH_HEALTHY, reason, now_ms, &chg);
    } else {
        if (src == HEALTH_PASSIVE)
            f->passive_fails++;
        else
            f->fails++;
        f->pass_streak = 0;
        f->fail_streak = streak_add(f->fail_streak);
        if (f->state != HEALTH_UNHEALTHY && f->fail_streak >= fall)
            transition(f, p, HEALTH_UNHEALTHY, reason, now_ms, &chg);
    }
    return chg;
}

bool
health_fsm_flapping(const struct health_fsm *f, uint64_t now_ms)
{
    return now_ms < f->held_until_ms;
}

bool
health_fsm_eligible(const struct health_fsm *f, uint64_t now_ms)
{
    return f->state == HEALTH_HEALTHY && !health_fsm_flapping(f, now_ms);
}

uint64_t
health_fsm_interval(const struct health_fsm *f,
                    const struct health_fsm_params *p)
{
    uint64_t slow = p->unhealthy_interval_ms;

    if (slow == 0)
        slow = p->interval_ms;
    if (f->state == HEALTH_HEALTHY && f->fail_streak == 0)
        return p->interval_ms;
    return slow;
}

/* Start of the slow-start ramp, or false when F is not recovering. */
static bool
ramp_origin(const struct health_fsm *f, const struct health_fsm_params *p,
            uint64_t *origin)
{
    if (p->slow_start_ms == 0 || f->state != HEALTH_HEALTHY ||
        f->prev_state != HEALTH_UNHEALTHY)
        return false;
    *origin = f->changed_ms > f->held_until_ms ? f->changed_ms
                                                : f->held_until_ms;
    return true;
}

bool
health_fsm_ramping(const struct health_fsm *f,
                   const struct health_fsm_params *p, uint64_t now_ms)
{
    uint64_t origin;

    if (!ramp_origin(f, p, &origin))
        return false;
    return now_ms < sat_add(origin, p->slow_start_ms);
}

uint32_t
health_fsm_weight(const struct health_fsm *f,
                  const struct health_fsm_params *p, uint32_t full_weight,
                  uint64_t now_ms)
{
    uint64_t origin, elapsed, span, len;
    uint32_t floor_w;

    if (full_weight == 0 || !ramp_origin(f, p, &origin))
        return full_weight;
    elapsed = now_ms > origin ? now_ms - origin : 0;
    len = p->slow_start_ms;
    if (elapsed >= len)
        return full_weight;
    floor_w = full_weight / 10 > 0 ? full_weight / 10 : 1;
    span = full_weight - floor_w;
    /* Shift both until elapsed * span fits in 64 bits; rounding len up
     * keeps elapsed < len, so the weight stays below full until the end. */
    while (elapsed > UINT32_MAX) {
        elapsed >>= 1;
        len = (len >> 1) + (len & 1);
    }
    return floor_w + (uint32_t)(elapsed * span / len);
}

const char *
health_state_name(enum health_state s)
{
    switch (s) {
    case HEALTH_UNKNOWN:
        return "unknown";
    case HEALTH_HEALTHY:
        return "healthy";
    case HEALTH_UNHEALTHY:
        return "unhealthy";
    }
    return "invalid";
}
