/* Unit tests for the health state machine: every transition and threshold,
 * passive reports, reasons and counters, check pacing, flap damping with
 * its growing and decaying hold-out, and slow-start weights. Time is a
 * plain number passed in, so every test is deterministic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <string.h>

#include "weir/config/config.h"
#include "weir/health/health_fsm.h"

#define SEC 1000u

/* Rise 2, fall 3, 10 s / 2 s pacing, no slow start, default damping. */
static struct health_fsm_params
params(unsigned rise, unsigned fall)
{
    struct health_fsm_params p;

    health_fsm_params_from_cfg(NULL, &p);
    p.healthy_threshold = rise;
    p.unhealthy_threshold = fall;
    p.unhealthy_interval_ms = 2 * SEC;
    return p;
}

/* N identical reports at NOW; returns the last one's change. */
static struct health_fsm_change
feed(struct health_fsm *f, const struct health_fsm_params *p,
     enum health_source src, bool pass, unsigned n, uint64_t now)
{
    struct health_fsm_change chg = {0};

    for (unsigned i = 0; i < n; i++)
        chg = health_fsm_report(f, p, src, pass, pass ? "ok" : "timeout",
                                now);
    return chg;
}

/* Bring F to STATE with thresholds of P, at NOW. */
static void
drive(struct health_fsm *f, const struct health_fsm_params *p,
      enum health_state state, uint64_t now)
{
    unsigned n = state == HEALTH_HEALTHY ? p->healthy_threshold
                                         : p->unhealthy_threshold;

    feed(f, p, HEALTH_ACTIVE, state == HEALTH_HEALTHY, n, now);
    assert_int_equal(f->state, state);
}

static void
test_init(void **unused)
{
    struct health_fsm f;

    memset(&f, 0xa5, sizeof(f));
    health_fsm_init(&f, 1234);
    assert_int_equal(f.state, HEALTH_UNKNOWN);
    assert_int_equal(f.prev_state, HEALTH_UNKNOWN);
    assert_int_equal(f.changed_ms, 1234);
    assert_string_equal(f.reason, "not checked yet");
    assert_int_equal(f.pass_streak, 0);
    assert_int_equal(f.fail_streak, 0);
    assert_int_equal(f.transitions, 0);
    assert_int_equal(f.passes, 0);
    assert_int_equal(f.fails, 0);
    assert_int_equal(f.passive_passes, 0);
    assert_int_equal(f.passive_fails, 0);
    assert_int_equal(f.flaps, 0);
    assert_int_equal(f.held_until_ms, 0);
    assert_false(health_fsm_eligible(&f, 1234));
    assert_false(health_fsm_flapping(&f, 1234));
}

static void
test_state_names(void **unused)
{
    assert_string_equal(health_state_name(HEALTH_UNKNOWN), "unknown");
    assert_string_equal(health_state_name(HEALTH_HEALTHY), "healthy");
    assert_string_equal(health_state_name(HEALTH_UNHEALTHY), "unhealthy");
    assert_string_equal(health_state_name((enum health_state)42), "invalid");
}

static void
test_params_from_cfg(void **unused)
{
    struct cfg_health h = {
        .interval_ms = 7 * SEC, .unhealthy_interval_ms = 3 * SEC,
        .healthy_threshold = 4, .unhealthy_threshold = 5,
        .slow_start_ms = 30 * SEC,
    };
    struct health_fsm_params p;

    memset(&p, 0xa5, sizeof(p));
    health_fsm_params_from_cfg(&h, &p);
    assert_int_equal(p.healthy_threshold, 4);
    assert_int_equal(p.unhealthy_threshold, 5);
    assert_int_equal(p.interval_ms, 7 * SEC);
    assert_int_equal(p.unhealthy_interval_ms, 3 * SEC);
    assert_int_equal(p.slow_start_ms, 30 * SEC);
    assert_int_equal(p.flap_transitions, HEALTH_FLAP_TRANSITIONS);
    assert_int_equal(p.flap_window_ms, HEALTH_FLAP_WINDOW_MS);
    assert_int_equal(p.flap_hold_min_ms, HEALTH_FLAP_HOLD_MIN_MS);
    assert_int_equal(p.flap_hold_max_ms, HEALTH_FLAP_HOLD_MAX_MS);
    assert_int_equal(p.flap_decay_ms, HEALTH_FLAP_DECAY_MS);
    assert_true(HEALTH_FLAP_TRANSITIONS <= HEALTH_FLAP_HISTORY);

    /* An unset unhealthy interval falls back to the interval. */
    h.unhealthy_interval_ms = 0;
    health_fsm_params_from_cfg(&h, &p);
    assert_int_equal(p.unhealthy_interval_ms, 7 * SEC);

    /* No cfg: the DESIGN.md defaults. */
    health_fsm_params_from_cfg(NULL, &p);
    assert_int_equal(p.healthy_threshold, 2);
    assert_int_equal(p.unhealthy_threshold, 3);
    assert_int_equal(p.interval_ms, 10 * SEC);
    assert_int_equal(p.unhealthy_interval_ms, 10 * SEC);
    assert_int_equal(p.slow_start_ms, 0);
    assert_int_equal(p.flap_transitions, 4);
    assert_int_equal(p.flap_window_ms, 60 * SEC);
}

/* The params a loaded configuration produces, end to end. */
static void
test_params_from_loaded_cfg(void **unused)
{
    static const char yaml[] =
        "listeners:\n  - name: http\n    bind: 127.0.0.1:8080\n"
        "backends:\n  - name: a\n    address: 127.0.0.1:9001\n"
        "load_balancer:\n  health_check:\n    interval: 4s\n"
        "    healthy_threshold: 6\n    slow_start: 20s\n";
    struct cfg_errors errs = {0};
    struct cfg *cfg = cfg_load_string("t.yaml", yaml, strlen(yaml), NULL,
                                      &errs);
    struct health_fsm_params p;

    if (cfg == NULL) {
        for (size_t i = 0; i < errs.n; i++)
            print_error("%s\n", errs.msgs[i]);
        cfg_errors_fini(&errs);
        fail();
    }
    health_fsm_params_from_cfg(&cfg->health, &p);
    assert_int_equal(p.healthy_threshold, 6);
    assert_int_equal(p.unhealthy_threshold, 3);
    assert_int_equal(p.interval_ms, 4 * SEC);
    assert_int_equal(p.unhealthy_interval_ms, 4 * SEC);
    assert_int_equal(p.slow_start_ms, 20 * SEC);
    cfg_free(cfg);
}

static void
test_unknown_to_healthy_after_exact_rise(void **unused)
{
    struct health_fsm_params p = params(3, 3);
    struct health_fsm f;
    struct health_fsm_change chg;

    health_fsm_init(&f, 0);
    chg = health_fsm_report(&f, &p, HEALTH_ACTIVE, true, "status 200", 100);
    assert_false(chg.changed);
    assert_int_equal(chg.from, HEALTH_UNKNOWN);
    assert_int_equal(chg.to, HEALTH_UNKNOWN);
    chg = health_fsm_report(&f, &p, HEALTH_ACTIVE, true, "status 200", 200);
    assert_false(chg.changed);
    assert_int_equal(f.state, HEALTH_UNKNOWN);
    assert_int_equal(f.pass_streak, 2);
    assert_false(health_fsm_eligible(&f, 200));

    chg = health_fsm_report(&f, &p, HEALTH_ACTIVE, true, "status 204", 300);
    assert_true(chg.changed);
    assert_false(chg.flap);
    assert_int_equal(chg.from, HEALTH_UNKNOWN);
    assert_int_equal(chg.to, HEALTH_HEALTHY);
    assert_int_equal(f.state, HEALTH_HEALTHY);
    assert_int_equal(f.prev_state, HEALTH_UNKNOWN);
    assert_int_equal(f.changed_ms, 300);
    assert_string_equal(f.reason, "status 204");
    assert_int_equal(f.transitions, 1);
    assert_true(health_fsm_eligible(&f, 300));
}

static void
test_unknown_to_unhealthy_after_fall(void **unused)
{
    struct health_fsm_params p = params(2, 3);
    struct health_fsm f;
    struct health_fsm_change chg;

    health_fsm_init(&f, 0);
    assert_false(feed(&f, &p, HEALTH_ACTIVE, false, 2, 10).changed);
    assert_int_equal(f.state, HEALTH_UNKNOWN);
    chg = health_fsm_report(&f, &p, HEALTH_ACTIVE, false,
                            "connection refused", 20);
    assert_true(chg.changed);
    assert_int_equal(chg.from, HEALTH_UNKNOWN);
    assert_int_equal(chg.to, HEALTH_UNHEALTHY);
    assert_int_equal(f.prev_state, HEALTH_UNKNOWN);
    assert_string_equal(f.reason, "connection refused");
    assert_int_equal(f.changed_ms, 20);
    assert_false(health_fsm_eligible(&f, 20));
}

static void
test_healthy_to_unhealthy(void **unused)
{
    struct health_fsm_params p = params(2, 3);
    struct health_fsm f;
    struct health_fsm_change chg;

    health_fsm_init(&f, 0);
    drive(&f, &p, HEALTH_HEALTHY, 0);
    assert_false(feed(&f, &p, HEALTH_ACTIVE, false, 2, 1000).changed);
    assert_int_equal(f.state, HEALTH_HEALTHY);
    assert_true(health_fsm_eligible(&f, 1000));
    chg = health_fsm_report(&f, &p, HEALTH_ACTIVE, false, "status 500", 2000);
    assert_true(chg.changed);
    assert_int_equal(chg.from, HEALTH_HEALTHY);
    assert_int_equal(chg.to, HEALTH_UNHEALTHY);
    assert_int_equal(f.prev_state, HEALTH_HEALTHY);
    assert_string_equal(f.reason, "status 500");
    assert_int_equal(f.changed_ms, 2000);
    assert_int_equal(f.transitions, 2);
    assert_false(health_fsm_eligible(&f, 2000));
}

static void
test_unhealthy_to_healthy(void **unused)
{
    struct health_fsm_params p = params(2, 3);
    struct health_fsm f;
    struct health_fsm_change chg;

    health_fsm_init(&f, 0);
    drive(&f, &p, HEALTH_UNHEALTHY, 0);
    assert_false(feed(&f, &p, HEALTH_ACTIVE, true, 1, 500).changed);
    assert_int_equal(f.state, HEALTH_UNHEALTHY);
    chg = health_fsm_report(&f, &p, HEALTH_ACTIVE, true, "status 302", 900);
    assert_true(chg.changed);
    assert_int_equal(chg.from, HEALTH_UNHEALTHY);
    assert_int_equal(chg.to, HEALTH_HEALTHY);
    assert_int_equal(f.prev_state, HEALTH_UNHEALTHY);
    assert_string_equal(f.reason, "status 302");
    assert_int_equal(f.changed_ms, 900);
    assert_true(health_fsm_eligible(&f, 900));
}

/* A pass in the middle of a run of fails starts the count again. */
static void
test_pass_resets_fail_streak(void **unused)
{
    struct health_fsm_params p = params(2, 3);
    struct health_fsm f;

    health_fsm_init(&f, 0);
    drive(&f, &p, HEALTH_HEALTHY, 0);
    feed(&f, &p, HEALTH_ACTIVE, false, 2, 1);
    assert_int_equal(f.fail_streak, 2);
    feed(&f, &p, HEALTH_ACTIVE, true, 1, 2);
    assert_int_equal(f.fail_streak, 0);
    assert_false(feed(&f, &p, HEALTH_ACTIVE, false, 2, 3).changed);
    assert_int_equal(f.state, HEALTH_HEALTHY);
    assert_true(feed(&f, &p, HEALTH_ACTIVE, false, 1, 4).changed);
    assert_int_equal(f.state, HEALTH_UNHEALTHY);

    /* Same from UNKNOWN. */
    health_fsm_init(&f, 0);
    feed(&f, &p, HEALTH_ACTIVE, false, 2, 1);
    feed(&f, &p, HEALTH_ACTIVE, true, 1, 2);
    assert_false(feed(&f, &p, HEALTH_ACTIVE, false, 2, 3).changed);
    assert_int_equal(f.state, HEALTH_UNKNOWN);
}

/* A fail in the middle of a run of passes starts the count again. */
static void
test_fail_resets_pass_streak(void **unused)
{
    struct health_fsm_params p = params(3, 3);
    struct health_fsm f;

    health_fsm_init(&f, 0);
    drive(&f, &p, HEALTH_UNHEALTHY, 0);
    feed(&f, &p, HEALTH_ACTIVE, true, 2, 1);
    assert_int_equal(f.pass_streak, 2);
    feed(&f, &p, HEALTH_ACTIVE, false, 1, 2);
    assert_int_equal(f.pass_streak, 0);
    assert_false(feed(&f, &p, HEALTH_ACTIVE, true, 2, 3).changed);
    assert_int_equal(f.state, HEALTH_UNHEALTHY);
    assert_true(feed(&f, &p, HEALTH_ACTIVE, true, 1, 4).changed);
    assert_int_equal(f.state, HEALTH_HEALTHY);

    /* A passive fail breaks a recovery as well. */
    drive(&f, &p, HEALTH_UNHEALTHY, 5);
    feed(&f, &p, HEALTH_ACTIVE, true, 2, 6);
    feed(&f, &p, HEALTH_PASSIVE, false, 1, 7);
    assert_false(feed(&f, &p, HEALTH_ACTIVE, true, 2, 8).changed);
    assert_int_equal(f.state, HEALTH_UNHEALTHY);
}

/* More of the same result changes nothing, not even the reason. */
static void
test_repeats_change_nothing(void **unused)
{
    struct health_fsm_params p = params(2, 2);
    struct health_fsm f;
    struct health_fsm_change chg;

    health_fsm_init(&f, 0);
    drive(&f, &p, HEALTH_HEALTHY, 50);
    chg = feed(&f, &p, HEALTH_ACTIVE, true, 10, 60);
    assert_false(chg.changed);
    assert_int_equal(chg.from, HEALTH_HEALTHY);
    assert_int_equal(chg.to, HEALTH_HEALTHY);
    assert_int_equal(f.transitions, 1);
    assert_int_equal(f.changed_ms, 50);
    assert_string_equal(f.reason, "ok");

    drive(&f, &p, HEALTH_UNHEALTHY, 70);
    chg = health_fsm_report(&f, &p, HEALTH_ACTIVE, false, "status 503", 80);
    assert_false(chg.changed);
    assert_int_equal(f.transitions, 2);
    assert_int_equal(f.changed_ms, 70);
    assert_string_equal(f.reason, "timeout");
}

/* Passive fails count toward unhealthy exactly like active ones, and the
 * two sources add up in one streak. */
static void
test_passive_fails_count(void **unused)
{
    struct health_fsm_params p = params(2, 3);
    struct health_fsm f;
    struct health_fsm_change chg;

    health_fsm_init(&f, 0);
    drive(&f, &p, HEALTH_HEALTHY, 0);
    feed(&f, &p, HEALTH_PASSIVE, false, 2, 10);
    assert_int_equal(f.state, HEALTH_HEALTHY);
    chg = health_fsm_report(&f, &p, HEALTH_PASSIVE, false, "connect refused",
                            20);
    assert_true(chg.changed);
    assert_int_equal(chg.to, HEALTH_UNHEALTHY);
    assert_string_equal(f.reason, "connect refused");
    assert_int_equal(f.passive_fails, 3);
    assert_int_equal(f.fails, 0);

    health_fsm_init(&f, 0);
    drive(&f, &p, HEALTH_HEALTHY, 0);
    feed(&f, &p, HEALTH_ACTIVE, false, 1, 10);
    feed(&f, &p, HEALTH_PASSIVE, false, 1, 11);
    assert_int_equal(f.state, HEALTH_HEALTHY);
    assert_true(feed(&f, &p, HEALTH_ACTIVE, false, 1, 12).changed);
    assert_int_equal(f.state, HEALTH_UNHEALTHY);

    /* From UNKNOWN too (the start-up rule sends it live traffic). */
    health_fsm_init(&f, 0);
    assert_true(feed(&f, &p, HEALTH_PASSIVE, false, 3, 10).changed);
    assert_int_equal(f.state, HEALTH_UNHEALTHY);
    assert_int_equal(f.prev_state, HEALTH_UNKNOWN);
}

/* A passive success resets the fail streak like an active pass. */
static void
test_passive_pass_resets_fails(void **unused)
{
    struct health_fsm_params p = params(2, 3);
    struct health_fsm f;

    health_fsm_init(&f, 0);
    drive(&f, &p, HEALTH_HEALTHY, 0);
    feed(&f, &p, HEALTH_ACTIVE, false, 2, 10);
    assert_false(feed(&f, &p, HEALTH_PASSIVE, true, 1, 11).changed);
    assert_int_equal(f.fail_streak, 0);
    assert_int_equal(f.passive_passes, 1);
    assert_false(feed(&f, &p, HEALTH_PASSIVE, false, 2, 12).changed);
    assert_int_equal(f.state, HEALTH_HEALTHY);
}

/* Only active checks bring a backend back, however many live requests
 * succeed; passive passes neither add to nor break the active streak. */
static void
test_passive_pass_never_revives(void **unused)
{
    struct health_fsm_params p = params(2, 3);
    struct health_fsm f;

    health_fsm_init(&f, 0);
    drive(&f, &p, HEALTH_UNHEALTHY, 0);
    assert_false(feed(&f, &p, HEALTH_PASSIVE, true, 1000, 10).changed);
    assert_int_equal(f.state, HEALTH_UNHEALTHY);
    assert_int_equal(f.pass_streak, 0);
    assert_int_equal(f.passes, 0);
    assert_int_equal(f.passive_passes, 1000);
    assert_false(health_fsm_eligible(&f, 10));

    feed(&f, &p, HEALTH_ACTIVE, true, 1, 20);
    feed(&f, &p, HEALTH_PASSIVE, true, 5, 21);
    assert_int_equal(f.pass_streak, 1);
    assert_int_equal(f.state, HEALTH_UNHEALTHY);
    assert_true(feed(&f, &p, HEALTH_ACTIVE, true, 1, 22).changed);
    assert_int_equal(f.state, HEALTH_HEALTHY);
}

/* Nor does it admit a new backend: UNKNOWN stays UNKNOWN. */
static void
test_passive_pass_never_admits(void **unused)
{
    struct health_fsm_params p = params(1, 1);
    struct health_fsm f;

    health_fsm_init(&f, 0);
    assert_false(feed(&f, &p, HEALTH_PASSIVE, true, 50, 10).changed);
    assert_int_equal(f.state, HEALTH_UNKNOWN);
    assert_int_equal(f.transitions, 0);
    assert_true(feed(&f, &p, HEALTH_ACTIVE, true, 1, 20).changed);
    assert_int_equal(f.state, HEALTH_HEALTHY);
}

static void
test_reasons(void **unused)
{
    struct health_fsm_params p = params(1, 1);
    struct health_fsm f;
    char longr[200];

    health_fsm_init(&f, 0);
    health_fsm_report(&f, &p, HEALTH_ACTIVE, false, NULL, 1);
    assert_string_equal(f.reason, "failed");
    health_fsm_report(&f, &p, HEALTH_ACTIVE, true, NULL, 2);
    assert_string_equal(f.reason, "ok");

    /* Copied, not borrowed. */
    strcpy(longr, "status 500");
    health_fsm_report(&f, &p, HEALTH_ACTIVE, false, longr, 3);
    strcpy(longr, "overwritten");
    assert_string_equal(f.reason, "status 500");

    /* Bounded: truncated to HEALTH_REASON_MAX - 1 bytes. */
    memset(longr, 'x', sizeof(longr) - 1);
    longr[sizeof(longr) - 1] = '\0';
    health_fsm_report(&f, &p, HEALTH_ACTIVE, true, longr, 4);
    assert_int_equal(strlen(f.reason), HEALTH_REASON_MAX - 1);
    assert_memory_equal(f.reason, longr, HEALTH_REASON_MAX - 1);

    /* Exactly the maximum fits whole. */
    longr[HEALTH_REASON_MAX - 1] = '\0';
    longr[0] = 'y';
    health_fsm_report(&f, &p, HEALTH_ACTIVE, false, longr, 5);
    assert_string_equal(f.reason, longr);

    health_fsm_report(&f, &p, HEALTH_ACTIVE, true, "", 6);
    assert_string_equal(f.reason, "");
}

static void
test_counters(void **unused)
{
    struct health_fsm_params p = params(2, 2);
    struct health_fsm f;

    health_fsm_init(&f, 0);
    feed(&f, &p, HEALTH_ACTIVE, true, 5, 1);      /* -> healthy */
    feed(&f, &p, HEALTH_ACTIVE, false, 3, 2);     /* -> unhealthy */
    feed(&f, &p, HEALTH_PASSIVE, false, 4, 3);
    feed(&f, &p, HEALTH_PASSIVE, true, 6, 4);
    feed(&f, &p, HEALTH_ACTIVE, true, 2, 5);      /* -> healthy */
    assert_int_equal(f.passes, 7);
    assert_int_equal(f.fails, 3);
    assert_int_equal(f.passive_fails, 4);
    assert_int_equal(f.passive_passes, 6);
    assert_int_equal(f.transitions, 3);
    assert_int_equal(f.flaps, 0);
}

static void
test_thresholds_of_one(void **unused)
{
    struct health_fsm_params p = params(1, 1);
    struct health_fsm f;
    enum health_state want = HEALTH_HEALTHY;

    health_fsm_init(&f, 0);
    p.flap_transitions = 0;
    assert_true(feed(&f, &p, HEALTH_ACTIVE, true, 1, 0).changed);
    assert_int_equal(f.state, HEALTH_HEALTHY);
    for (unsigned i = 1; i <= 20; i++) {
        bool pass = i % 2 == 0;
        struct health_fsm_change chg = feed(&f, &p, HEALTH_ACTIVE, pass, 1,
                                            i);

        want = pass ? HEALTH_HEALTHY : HEALTH_UNHEALTHY;
        assert_true(chg.changed);
        assert_int_equal(chg.to, want);
        assert_int_equal(f.state, want);
    }
    assert_int_equal(f.transitions, 21);

    /* A threshold of 0 acts as 1. */
    p = params(0, 0);
    health_fsm_init(&f, 0);
    assert_true(feed(&f, &p, HEALTH_ACTIVE, false, 1, 0).changed);
    assert_int_equal(f.state, HEALTH_UNHEALTHY);
    assert_true(feed(&f, &p, HEALTH_ACTIVE, true, 1, 1).changed);
    assert_int_equal(f.state, HEALTH_HEALTHY);
}

static void
test_large_thresholds(void **unused)
{
    struct health_fsm_params p = params(1000, 1000);
    struct health_fsm f;

    health_fsm_init(&f, 0);
    assert_false(feed(&f, &p, HEALTH_ACTIVE, true, 999, 1).changed);
    assert_int_equal(f.state, HEALTH_UNKNOWN);
    assert_true(feed(&f, &p, HEALTH_ACTIVE, true, 1, 2).changed);
    assert_int_equal(f.state, HEALTH_HEALTHY);
    assert_false(feed(&f, &p, HEALTH_PASSIVE, false, 999, 3).changed);
    assert_int_equal(f.state, HEALTH_HEALTHY);
    assert_true(feed(&f, &p, HEALTH_ACTIVE, false, 1, 4).changed);
    assert_int_equal(f.state, HEALTH_UNHEALTHY);

    /* The largest threshold, with streaks saturating instead of wrapping. */
    p = params(UINT_MAX, UINT_MAX);
    health_fsm_init(&f, 0);
    f.pass_streak = UINT_MAX - 2;
    assert_false(feed(&f, &p, HEALTH_ACTIVE, true, 1, 1).changed);
    assert_true(feed(&f, &p, HEALTH_ACTIVE, true, 1, 2).changed);
    assert_int_equal(f.pass_streak, UINT_MAX);
    feed(&f, &p, HEALTH_ACTIVE, true, 3, 3);
    assert_int_equal(f.pass_streak, UINT_MAX);
    assert_int_equal(f.state, HEALTH_HEALTHY);
}

/* Thresholds come with every report, so a reload that lowers one applies
 * to the streak already counted. */
static void
test_threshold_change_applies(void **unused)
{
    struct health_fsm_params p = params(5, 5);
    struct health_fsm f;

    health_fsm_init(&f, 0);
    feed(&f, &p, HEALTH_ACTIVE, true, 3, 1);
    assert_int_equal(f.state, HEALTH_UNKNOWN);
    p.healthy_threshold = 2;
    assert_true(feed(&f, &p, HEALTH_ACTIVE, true, 1, 2).changed);
    assert_int_equal(f.state, HEALTH_HEALTHY);
}

static void
test_pacing(void **unused)
{
    struct health_fsm_params p = params(2, 3);
    struct health_fsm f;

    p.interval_ms = 10 * SEC;
    p.unhealthy_interval_ms = 2 * SEC;
    health_fsm_init(&f, 0);
    assert_int_equal(health_fsm_interval(&f, &p), 2 * SEC);   /* unknown */
    feed(&f, &p, HEALTH_ACTIVE, true, 1, 0);
    assert_int_equal(health_fsm_interval(&f, &p), 2 * SEC);   /* rising */
    feed(&f, &p, HEALTH_ACTIVE, true, 1, 0);
    assert_int_equal(f.state, HEALTH_HEALTHY);
    assert_int_equal(health_fsm_interval(&f, &p), 10 * SEC);  /* stable */
    feed(&f, &p, HEALTH_PASSIVE, false, 1, 0);
    assert_int_equal(health_fsm_interval(&f, &p), 2 * SEC);   /* falling */
    feed(&f, &p, HEALTH_PASSIVE, true, 1, 0);
    assert_int_equal(health_fsm_interval(&f, &p), 10 * SEC);  /* stable */
    feed(&f, &p, HEALTH_ACTIVE, false, 2, 0);
    assert_int_equal(health_fsm_interval(&f, &p), 2 * SEC);   /* falling */
    feed(&f, &p, HEALTH_ACTIVE, false, 1, 0);
    assert_int_equal(f.state, HEALTH_UNHEALTHY);
    assert_int_equal(health_fsm_interval(&f, &p), 2 * SEC);   /* down */
    feed(&f, &p, HEALTH_ACTIVE, true, 1, 0);
    assert_int_equal(health_fsm_interval(&f, &p), 2 * SEC);   /* rising */

    /* No unhealthy interval: the interval everywhere. */
    p.unhealthy_interval_ms = 0;
    assert_int_equal(health_fsm_interval(&f, &p), 10 * SEC);
}

/* N transitions STEP apart from START with thresholds of 1: a fail first
 * (from UNKNOWN), then pass, fail, ...; returns the last change. */
static struct health_fsm_change
bounce(struct health_fsm *f, const struct health_fsm_params *p,
       unsigned n, uint64_t start, uint64_t step)
{
    struct health_fsm_change chg = {0};

    for (unsigned i = 0; i < n; i++) {
        bool pass = f->state == HEALTH_UNHEALTHY;

        chg = feed(f, p, HEALTH_ACTIVE, pass, 1, start + i * step);
        assert_true(chg.changed);
    }
    return chg;
}

/* The 4th transition within 60 s holds a backend out for 10 s, even while
 * it is healthy; it is eligible again when the hold-out ends. */
static void
test_flap_detected(void **unused)
{
    struct health_fsm_params p = params(1, 1);
    struct health_fsm f;
    struct health_fsm_change chg;

    health_fsm_init(&f, 0);
    /* unhealthy at 0 s, healthy at 10 s, unhealthy at 20 s */
    chg = bounce(&f, &p, 3, 0, 10 * SEC);
    assert_false(chg.flap);
    assert_false(health_fsm_flapping(&f, 20 * SEC));
    assert_int_equal(f.flaps, 0);

    chg = bounce(&f, &p, 1, 30 * SEC, 0);   /* healthy at 30 s */
    assert_true(chg.flap);
    assert_int_equal(chg.to, HEALTH_HEALTHY);
    assert_int_equal(f.state, HEALTH_HEALTHY);
    assert_int_equal(f.flaps, 1);
    assert_int_equal(f.hold_ms, 10 * SEC);
    assert_int_equal(f.held_until_ms, 40 * SEC);
    assert_true(health_fsm_flapping(&f, 30 * SEC));
    assert_true(health_fsm_flapping(&f, 40 * SEC - 1));
    assert_false(health_fsm_eligible(&f, 30 * SEC));
    assert_false(health_fsm_eligible(&f, 40 * SEC - 1));
    assert_false(health_fsm_flapping(&f, 40 * SEC));
    assert_true(health_fsm_eligible(&f, 40 * SEC));

    /* Passes while held out change nothing about the hold-out. */
    feed(&f, &p, HEALTH_ACTIVE, true, 5, 35 * SEC);
    assert_int_equal(f.held_until_ms, 40 * SEC);
    assert_int_equal(f.flaps, 1);
}

/* Transitions exactly a window apart never flap; just inside do. */
static void
test_flap_window_edge(void **unused)
{
    struct health_fsm_params p = params(1, 1);
    struct health_fsm f;

    health_fsm_init(&f, 0);
    /* 0, 20, 40, 60, ... s: never 4 within any 60 s */
    assert_false(bounce(&f, &p, 10, 0, 20 * SEC).flap);
    assert_int_equal(f.flaps, 0);
    assert_int_equal(f.transitions, 10);
    assert_false(health_fsm_flapping(&f, 180 * SEC));

    health_fsm_init(&f, 0);
    bounce(&f, &p, 3, 0, 20 * SEC);
    assert_true(bounce(&f, &p, 1, 60 * SEC - 1, 0).flap);
    assert_int_equal(f.held_until_ms, 70 * SEC - 1);
}

/* Each further flap doubles the hold-out, up to 5 min. */
static void
test_flap_hold_grows_to_cap(void **unused)
{
    static const uint64_t want[] = {10, 20, 40, 80, 160, 300, 300, 300};
    struct health_fsm_params p = params(1, 1);
    struct health_fsm f;
    uint64_t t = 0;

    health_fsm_init(&f, 0);
    bounce(&f, &p, 3, t, SEC);
    t = 3 * SEC;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++, t += SEC) {
        struct health_fsm_change chg = bounce(&f, &p, 1, t, 0);

        assert_true(chg.flap);
        assert_int_equal(f.hold_ms, want[i] * SEC);
        assert_int_equal(f.held_until_ms, t + want[i] * SEC);
        assert_int_equal(f.flaps, i + 1);
    }
}

/* A hold-out never shrinks while it lasts. */
static void
test_flap_hold_never_shortened(void **unused)
{
    struct health_fsm_params p = params(1, 1);
    struct health_fsm f;

    p.flap_hold_max_ms = 100 * SEC;
    health_fsm_init(&f, 0);
    bounce(&f, &p, 4, 0, SEC);
    assert_int_equal(f.held_until_ms, 13 * SEC);
    /* Later, with the hold-out capped lower by a reload. */
    p.flap_hold_max_ms = 1 * SEC;
    assert_true(bounce(&f, &p, 1, 4 * SEC, 0).flap);
    assert_int_equal(f.held_until_ms, 13 * SEC);
}

/* Stable after a hold-out: every decay period halves the next hold-out,
 * until it starts again from the minimum. */
static void
test_flap_hold_decays(void **unused)
{
    struct health_fsm_params p = params(1, 1);
    struct health_fsm f;
    uint64_t end;

    /* Flaps at 3, 4, 5 s hold 10, 20, 40 s: the last ends at 45 s. */
    health_fsm_init(&f, 0);
    bounce(&f, &p, 6, 0, SEC);
    assert_int_equal(f.hold_ms, 40 * SEC);
    end = f.held_until_ms;
    assert_int_equal(end, 45 * SEC);

    /* One period after: 40 / 2 * 2. The burst is 4 transitions, so the
     * first 3 must fall out of the old window: start well past it. */
    bounce(&f, &p, 3, end + 60 * SEC, 1);
    assert_int_equal(f.flaps, 3);
    assert_true(bounce(&f, &p, 1, end + 60 * SEC + 3, 0).flap);
    assert_int_equal(f.hold_ms, 40 * SEC);
    end = f.held_until_ms;

    /* Two periods after: 40 / 4 * 2. */
    bounce(&f, &p, 3, end + 120 * SEC, 1);
    assert_true(bounce(&f, &p, 1, end + 120 * SEC + 3, 0).flap);
    assert_int_equal(f.hold_ms, 20 * SEC);
    end = f.held_until_ms;

    /* Long stable: back to the minimum. */
    bounce(&f, &p, 3, end + 3600 * SEC, 1);
    assert_true(bounce(&f, &p, 1, end + 3600 * SEC + 3, 0).flap);
    assert_int_equal(f.hold_ms, 10 * SEC);

    /* Without decay the next hold-out keeps doubling. */
    p.flap_decay_ms = 0;
    end = f.held_until_ms;
    bounce(&f, &p, 3, end + 3600 * SEC, 1);
    assert_true(bounce(&f, &p, 1, end + 3600 * SEC + 3, 0).flap);
    assert_int_equal(f.hold_ms, 20 * SEC);
}

static void
test_flap_disabled(void **unused)
{
    struct health_fsm_params p = params(1, 1);
    struct health_fsm f;

    p.flap_transitions = 0;
    health_fsm_init(&f, 0);
    assert_false(bounce(&f, &p, 20, 0, 1).flap);
    assert_int_equal(f.flaps, 0);
    assert_true(health_fsm_eligible(&f, 20));

    p = params(1, 1);
    p.flap_window_ms = 0;
    health_fsm_init(&f, 0);
    assert_false(bounce(&f, &p, 20, 0, 1).flap);
    assert_true(health_fsm_eligible(&f, 20));

    p = params(1, 1);
    p.flap_hold_min_ms = 0;
    health_fsm_init(&f, 0);
    assert_false(bounce(&f, &p, 20, 0, 1).flap);
    assert_true(health_fsm_eligible(&f, 20));
}

/* flap_transitions above the history is capped at it, and a lower one is
 * honoured: 2 in the window flap. */
static void
test_flap_transitions_param(void **unused)
{
    struct health_fsm_params p = params(1, 1);
    struct health_fsm f;

    p.flap_transitions = 100;
    health_fsm_init(&f, 0);
    assert_false(bounce(&f, &p, HEALTH_FLAP_HISTORY - 1, 0, SEC).flap);
    assert_true(bounce(&f, &p, 1, 10 * SEC, 0).flap);

    p.flap_transitions = 2;
    health_fsm_init(&f, 0);
    assert_false(bounce(&f, &p, 1, 0, 0).flap);
    assert_true(bounce(&f, &p, 1, SEC, 0).flap);
}

/* Recover at T; slow start 10 s; full weight 100. */
static void
recover(struct health_fsm *f, const struct health_fsm_params *p, uint64_t t)
{
    health_fsm_init(f, 0);
    drive(f, p, HEALTH_HEALTHY, 0);
    drive(f, p, HEALTH_UNHEALTHY, t / 2);
    drive(f, p, HEALTH_HEALTHY, t);
    assert_int_equal(f->prev_state, HEALTH_UNHEALTHY);
}

static void
test_slow_start_ramp(void **unused)
{
    struct health_fsm_params p = params(2, 3);
    struct health_fsm f;
    uint64_t t = 100 * SEC;

    p.slow_start_ms = 10 * SEC;
    recover(&f, &p, t);
    assert_int_equal(health_fsm_weight(&f, &p, 100, t), 10);
    assert_int_equal(health_fsm_weight(&f, &p, 100, t + 5 * SEC), 55);
    assert_int_equal(health_fsm_weight(&f, &p, 100, t + 10 * SEC - 1), 99);
    assert_int_equal(health_fsm_weight(&f, &p, 100, t + 10 * SEC), 100);
    assert_int_equal(health_fsm_weight(&f, &p, 100, t + 99 * SEC), 100);
    assert_true(health_fsm_ramping(&f, &p, t));
    assert_true(health_fsm_ramping(&f, &p, t + 10 * SEC - 1));
    assert_false(health_fsm_ramping(&f, &p, t + 10 * SEC));

    /* A larger weight: 1000 -> 100 at 0%, 550 at 50%, 1000 at 100%. */
    assert_int_equal(health_fsm_weight(&f, &p, 1000, t), 100);
    assert_int_equal(health_fsm_weight(&f, &p, 1000, t + 5 * SEC), 550);
    assert_int_equal(health_fsm_weight(&f, &p, 1000, t + 10 * SEC), 1000);
}

/* Small weights: the ramp starts at 1, never at 0, and never passes full;
 * at every millisecond it rises or stays. */
static void
test_slow_start_never_zero(void **unused)
{
    static const uint32_t weights[] = {1, 2, 5, 9, 10, 11, 256};
    struct health_fsm_params p = params(1, 1);
    struct health_fsm f;
    uint64_t t = 50 * SEC;

    p.slow_start_ms = 3 * SEC;
    recover(&f, &p, t);
    assert_int_equal(health_fsm_weight(&f, &p, 1, t), 1);
    assert_int_equal(health_fsm_weight(&f, &p, 1, t + 1500), 1);
    assert_int_equal(health_fsm_weight(&f, &p, 1, t + 3000), 1);
    assert_int_equal(health_fsm_weight(&f, &p, 5, t), 1);
    assert_int_equal(health_fsm_weight(&f, &p, 5, t + 1500), 3);
    assert_int_equal(health_fsm_weight(&f, &p, 5, t + 3000), 5);
    for (size_t i = 0; i < sizeof(weights) / sizeof(weights[0]); i++) {
        uint32_t last = 0;

        for (uint64_t now = t; now <= t + 3 * SEC; now++) {
            uint32_t w = health_fsm_weight(&f, &p, weights[i], now);

            assert_true(w >= 1);
            assert_true(w <= weights[i]);
            assert_true(w >= last);
            last = w;
        }
        assert_int_equal(last, weights[i]);
    }
    /* An operator's weight 0 stays 0. */
    assert_int_equal(health_fsm_weight(&f, &p, 0, t), 0);
    assert_int_equal(health_fsm_weight(&f, &p, 0, t + 3 * SEC), 0);
}

static void
test_slow_start_off(void **unused)
{
    struct health_fsm_params p = params(2, 3);
    struct health_fsm f;

    p.slow_start_ms = 0;
    recover(&f, &p, 100);
    assert_int_equal(health_fsm_weight(&f, &p, 100, 100), 100);
    assert_int_equal(health_fsm_weight(&f, &p, 7, 100), 7);
    assert_false(health_fsm_ramping(&f, &p, 100));
}

/* The first UNKNOWN -> HEALTHY is not a recovery: full weight at once.
 * Outside a ramp the weight is the full one whatever the state. */
static void
test_no_ramp_at_startup(void **unused)
{
    struct health_fsm_params p = params(2, 3);
    struct health_fsm f;

    p.slow_start_ms = 10 * SEC;
    health_fsm_init(&f, 0);
    assert_int_equal(health_fsm_weight(&f, &p, 100, 0), 100);
    drive(&f, &p, HEALTH_HEALTHY, 5);
    assert_int_equal(health_fsm_weight(&f, &p, 100, 5), 100);
    assert_false(health_fsm_ramping(&f, &p, 5));
    drive(&f, &p, HEALTH_UNHEALTHY, 10);
    assert_int_equal(health_fsm_weight(&f, &p, 100, 10), 100);
    assert_false(health_fsm_ramping(&f, &p, 10));
    assert_false(health_fsm_eligible(&f, 10));

    /* UNKNOWN -> UNHEALTHY -> HEALTHY is a recovery and ramps. */
    health_fsm_init(&f, 0);
    drive(&f, &p, HEALTH_UNHEALTHY, 1);
    drive(&f, &p, HEALTH_HEALTHY, 2);
    assert_int_equal(health_fsm_weight(&f, &p, 100, 2), 10);
}

/* Going down mid-ramp cancels it; the next recovery starts a new one. */
static void
test_slow_start_restarts(void **unused)
{
    struct health_fsm_params p = params(1, 1);
    struct health_fsm f;

    p.slow_start_ms = 10 * SEC;
    p.flap_transitions = 0;
    recover(&f, &p, 10 * SEC);
    assert_int_equal(health_fsm_weight(&f, &p, 100, 15 * SEC), 55);
    drive(&f, &p, HEALTH_UNHEALTHY, 16 * SEC);
    assert_false(health_fsm_ramping(&f, &p, 16 * SEC));
    drive(&f, &p, HEALTH_HEALTHY, 30 * SEC);
    assert_int_equal(health_fsm_weight(&f, &p, 100, 30 * SEC), 10);
    assert_int_equal(health_fsm_weight(&f, &p, 100, 35 * SEC), 55);
}

/* A recovery that ends a flapping episode ramps from the end of the
 * hold-out, not from the recovery hidden inside it. */
static void
test_slow_start_after_hold_out(void **unused)
{
    struct health_fsm_params p = params(1, 1);
    struct health_fsm f;

    p.slow_start_ms = 10 * SEC;
    health_fsm_init(&f, 0);
    bounce(&f, &p, 4, 0, SEC);      /* U H U H; flap at 3 s */
    assert_int_equal(f.state, HEALTH_HEALTHY);
    assert_int_equal(f.held_until_ms, 13 * SEC);
    assert_int_equal(health_fsm_weight(&f, &p, 100, 8 * SEC), 10);
    assert_true(health_fsm_ramping(&f, &p, 8 * SEC));
    assert_int_equal(health_fsm_weight(&f, &p, 100, 13 * SEC), 10);
    assert_int_equal(health_fsm_weight(&f, &p, 100, 18 * SEC), 55);
    assert_int_equal(health_fsm_weight(&f, &p, 100, 23 * SEC), 100);
    assert_false(health_fsm_ramping(&f, &p, 23 * SEC));
}

/* Extreme values stay in range, with no overflow (run under UBSan). */
static void
test_slow_start_extremes(void **unused)
{
    struct health_fsm_params p = params(1, 1);
    struct health_fsm f;
    uint64_t t = 1000;
    uint32_t w;

    p.slow_start_ms = UINT64_MAX / 2;
    recover(&f, &p, t);
    assert_int_equal(health_fsm_weight(&f, &p, UINT32_MAX, t),
                     UINT32_MAX / 10);
    w = health_fsm_weight(&f, &p, UINT32_MAX, t + UINT64_MAX / 4);
    assert_true(w > UINT32_MAX / 2 && w < UINT32_MAX / 10 * 6);
    assert_true(health_fsm_ramping(&f, &p, t + UINT64_MAX / 2 - 1));
    assert_false(health_fsm_ramping(&f, &p, t + UINT64_MAX / 2));
    assert_int_equal(health_fsm_weight(&f, &p, 1000, t + UINT64_MAX / 2 - 1),
                     999);
    assert_int_equal(health_fsm_weight(&f, &p, UINT32_MAX, UINT64_MAX),
                     UINT32_MAX);
    assert_int_equal(health_fsm_weight(&f, &p, 1, t + UINT64_MAX / 4), 1);

    /* A clock near the end of its range saturates the hold-out. */
    health_fsm_init(&f, 0);
    p.slow_start_ms = 0;
    bounce(&f, &p, 4, UINT64_MAX - 10, 1);
    assert_int_equal(f.held_until_ms, UINT64_MAX);
    assert_true(health_fsm_flapping(&f, UINT64_MAX - 1));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_state_names),
        cmocka_unit_test(test_params_from_cfg),
        cmocka_unit_test(test_params_from_loaded_cfg),
        cmocka_unit_test(test_unknown_to_healthy_after_exact_rise),
        cmocka_unit_test(test_unknown_to_unhealthy_after_fall),
        cmocka_unit_test(test_healthy_to_unhealthy),
        cmocka_unit_test(test_unhealthy_to_healthy),
        cmocka_unit_test(test_pass_resets_fail_streak),
        cmocka_unit_test(test_fail_resets_pass_streak),
        cmocka_unit_test(test_repeats_change_nothing),
        cmocka_unit_test(test_passive_fails_count),
        cmocka_unit_test(test_passive_pass_resets_fails),
        cmocka_unit_test(test_passive_pass_never_revives),
        cmocka_unit_test(test_passive_pass_never_admits),
        cmocka_unit_test(test_reasons),
        cmocka_unit_test(test_counters),
        cmocka_unit_test(test_thresholds_of_one),
        cmocka_unit_test(test_large_thresholds),
        cmocka_unit_test(test_threshold_change_applies),
        cmocka_unit_test(test_pacing),
        cmocka_unit_test(test_flap_detected),
        cmocka_unit_test(test_flap_window_edge),
        cmocka_unit_test(test_flap_hold_grows_to_cap),
        cmocka_unit_test(test_flap_hold_never_shortened),
        cmocka_unit_test(test_flap_hold_decays),
        cmocka_unit_test(test_flap_disabled),
        cmocka_unit_test(test_flap_transitions_param),
        cmocka_unit_test(test_slow_start_ramp),
        cmocka_unit_test(test_slow_start_never_zero),
        cmocka_unit_test(test_slow_start_off),
        cmocka_unit_test(test_no_ramp_at_startup),
        cmocka_unit_test(test_slow_start_restarts),
        cmocka_unit_test(test_slow_start_after_hold_out),
        cmocka_unit_test(test_slow_start_extremes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
