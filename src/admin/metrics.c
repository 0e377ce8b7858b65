/* Prometheus exposition of Weir's counters. Names follow Prometheus
 * conventions (weir_ prefix, _total counters, base units: seconds and
 * bytes); every family has HELP and TYPE; label values are escaped. The
 * list of families is documented in docs/metrics.md. */
#include "weir/admin/metrics.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "weir/admin/admin.h"
#include "weir/health/health_fsm.h"
#include "weir/lb/backend.h"
#include "weir/net/tlsctx.h"
#include "weir/net/upstream.h"
#include "weir/proxy/accesslog.h"
#include "weir/proxy/drain.h"
#include "weir/proxy/proxy.h"
#include "weir/util/buf.h"
#include "weir/util/defs.h"

/* Label values escape backslash, double quote and newline. */
static int
put_label(struct buf *out, const char *v)
{
    for (; *v != '\0'; v++) {
        const char *esc = *v == '\\' ? "\\\\" : *v == '"' ? "\\\"" :
                          *v == '\n' ? "\\n" : NULL;
        if (esc != NULL ? buf_append_str(out, esc) == -1
                        : buf_append(out, v, 1) == -1)
            return -1;
    }
    return 0;
}

static int
family(struct buf *out, const char *name, const char *type, const char *help)
{
    return buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* NAME{backend="B"[,EXTRA]} VALUE */
static int
backend_sample(struct buf *out, const char *name, const struct backend *b,
               const char *extra, unsigned long long value)
{
    if (buf_printf(out, "%s{backend=\"", name) == -1 || put_label(out, b->name) == -1 ||
        buf_printf(out, "\"%s%s} %llu\n", extra ? "," : "", extra ? extra : "",
                   value) == -1)
        return -1;
    return 0;
}

static int
render_globals(struct buf *out, const struct admin *ad)
{
    const struct proxy *px = ad->px;
    const struct proxy_counters *c = &px->counters;
    int rc = 0;

    rc |= family(out, "weir_build_info", "gauge", "Weir's version and its OpenSSL.");
    rc |= buf_printf(out, "weir_build_info{version=\"%s\",openssl=\"", WEIR_VERSION);
    rc |= put_label(out, OpenSSL_version(OPENSSL_VERSION));
    rc |= buf_printf(out, "\"} 1\n");
    rc |= family(out, "weir_config_generation", "gauge",
                 "Configuration generation in force (1 at start, +1 per applied reload).");
    rc |= buf_printf(out, "weir_config_generation %llu\n",
                     (unsigned long long)ad->generation);
    rc |= family(out, "weir_config_reloads_total", "counter",
                 "Configuration reloads by result.");
    rc |= buf_printf(out, "weir_config_reloads_total{result=\"success\"} %llu\n"
                     "weir_config_reloads_total{result=\"failure\"} %llu\n",
                     (unsigned long long)ad->reloads_ok,
                     (unsigned long long)ad->reloads_failed);
    rc |= family(out, "weir_uptime_seconds", "gauge", "Seconds since start.");
    rc |= buf_printf(out, "weir_uptime_seconds %.3f\n", ev_now(ad->loop) - ad->started);
    rc |= family(out, "weir_client_connections", "gauge", "Client connections open.");
    rc |= buf_printf(out, "weir_client_connections %zu\n", px->nsessions);
    rc |= family(out, "weir_client_connections_accepted_total", "counter",
                 "Client connections accepted.");
    rc |= buf_printf(out, "weir_client_connections_accepted_total %llu\n",
                     (unsigned long long)c->connections_accepted);
    rc |= family(out, "weir_client_connections_refused_total", "counter",
                 "Client connections refused at max_connections.");
    rc |= buf_printf(out, "weir_client_connections_refused_total %llu\n",
                     (unsigned long long)c->connections_refused);
    rc |= family(out, "weir_requests_total", "counter",
                 "Request heads received (valid or not).");
    rc |= buf_printf(out, "weir_requests_total %llu\n", (unsigned long long)c->requests);
    rc |= family(out, "weir_bad_requests_total", "counter",
                 "Requests refused as malformed (400, 405, 431, 501).");
    rc |= buf_printf(out, "weir_bad_requests_total %llu\n",
                     (unsigned long long)c->bad_requests);
    rc |= family(out, "weir_retries_total", "counter",
                 "Requests sent again: to another backend after a failed connect, "
                 "or replayed after a dead pooled connection.");
    rc |= buf_printf(out, "weir_retries_total %llu\n", (unsigned long long)c->retries);
    rc |= family(out, "weir_tls_handshakes_total", "counter", "TLS handshakes by result.");
    rc |= buf_printf(out, "weir_tls_handshakes_total{result=\"ok\"} %llu\n"
                     "weir_tls_handshakes_total{result=\"failed\"} %llu\n",
                     (unsigned long long)c->tls_handshakes,
                     (unsigned long long)c->tls_handshake_failures);
    rc |= family(out, "weir_received_bytes_total", "counter", "Bytes read from clients.");
    rc |= buf_printf(out, "weir_received_bytes_total %llu\n", (unsigned long long)c->bytes_in);
    rc |= family(out, "weir_sent_bytes_total", "counter", "Bytes written to clients.");
    rc |= buf_printf(out, "weir_sent_bytes_total %llu\n", (unsigned long long)c->bytes_out);
    rc |= family(out, "weir_drain_cut_requests_total", "counter",
                 "Requests cut because a drain reached connection_draining.timeout.");
    rc |= buf_printf(out, "weir_drain_cut_requests_total %llu\n", ad->drainer->cut_total);
    if (px->accesslog != NULL && px->accesslog->enabled) {
        rc |= family(out, "weir_access_log_lines_total", "counter",
                     "Access log lines queued for writing.");
        rc |= buf_printf(out, "weir_access_log_lines_total %llu\n",
                         (unsigned long long)px->accesslog->lines);
        rc |= family(out, "weir_access_log_dropped_total", "counter",
                     "Access log lines dropped because the writer fell behind.");
        rc |= buf_printf(out, "weir_access_log_dropped_total %llu\n",
                         (unsigned long long)px->accesslog->dropped);
    }
    return rc == 0 ? 0 : -1;
}

static int
render_certificates(struct buf *out, const struct admin *ad)
{
    const struct proxy *px = ad->px;
    time_t now = time(NULL);
    int rc = family(out, "weir_tls_certificate_expiry_seconds", "gauge",
                    "Seconds until each listener certificate's notAfter.");
    for (size_t i = 0; rc == 0 && i < px->nlisteners; i++) {
        const struct tlsctx *t = proxy_listener_tls(px, i);
        for (size_t c = 0; t != NULL && rc == 0 && c < tlsctx_cert_count(t); c++) {
            rc |= buf_printf(out, "weir_tls_certificate_expiry_seconds{listener=\"");
            rc |= put_label(out, px->listeners[i].name);
            rc |= buf_printf(out, "\",certificate=\"%zu\"} %lld\n", c,
                             (long long)(tlsctx_cert_not_after(t, c) - now));
        }
    }
    return rc == 0 ? 0 : -1;
}

/* One family across every backend, VALUE_OF picking the number. */
#define BACKEND_FAMILY(out, bt, name, type, help, extra, expr)              \
    do {                                                                    \
        if (family(out, name, type, help) == -1)                           \
            return -1;                                                      \
        for (size_t i_ = 0; i_ < (bt)->n; i_++) {                           \
            const struct backend *b = (bt)->backends[i_];                  \
            if (backend_sample(out, name, b, extra, (expr)) == -1)          \
                return -1;                                                  \
        }                                                                   \
    } while (0)

static int
render_histogram(struct buf *out, const struct backend_table *bt)
{
    const char *name = "weir_backend_request_duration_seconds";
    if (family(out, name, "histogram",
               "Time from choosing the backend to the end of its response.") == -1)
        return -1;
    for (size_t i = 0; i < bt->n; i++) {
        const struct backend *b = bt->backends[i];
        unsigned long long cum = 0;
        char le[48];
        for (size_t k = 0; k <= BACKEND_LATENCY_BUCKETS; k++) {
            cum += b->latency[k];
            if (k < BACKEND_LATENCY_BUCKETS)
                snprintf(le, sizeof(le), "le=\"%g\"",
                         (double)backend_latency_bounds_us[k] / 1e6);
            else
                snprintf(le, sizeof(le), "le=\"+Inf\"");
            if (backend_sample(out, "weir_backend_request_duration_seconds_bucket",
                               b, le, cum) == -1)
                return -1;
        }
        if (buf_printf(out, "%s_sum{backend=\"", name) == -1 ||
            put_label(out, b->name) == -1 ||
            buf_printf(out, "\"} %.6f\n", (double)b->latency_sum_us / 1e6) == -1 ||
            backend_sample(out, "weir_backend_request_duration_seconds_count", b,
                           NULL, cum) == -1)
            return -1;
    }
    return 0;
}

static int
render_health(struct buf *out, const struct backend_table *bt)
{
    static const char *const states[] = {"unknown", "healthy", "unhealthy"};
    static const char *const drains[] = {"enabled", "draining", "drained"};
    char extra[64];

    if (family(out, "weir_backend_health", "gauge",
               "1 for the backend's current health state.") == -1)
        return -1;
    for (size_t i = 0; i < bt->n; i++)
        for (size_t s = 0; s < nitems(states); s++) {
            snprintf(extra, sizeof(extra), "state=\"%s\"", states[s]);
            if (backend_sample(out, "weir_backend_health", bt->backends[i], extra,
                               bt->backends[i]->health.state == (enum health_state)s) == -1)
                return -1;
        }
    if (family(out, "weir_backend_health_last_change", "gauge",
               "1, labelled with the reason of the backend's last health change.") == -1)
        return -1;
    for (size_t i = 0; i < bt->n; i++) {
        const struct backend *b = bt->backends[i];
        if (buf_printf(out, "weir_backend_health_last_change{backend=\"") == -1 ||
            put_label(out, b->name) == -1 || buf_printf(out, "\",reason=\"") == -1 ||
            put_label(out, b->health.reason) == -1 || buf_printf(out, "\"} 1\n") == -1)
            return -1;
    }
    BACKEND_FAMILY(out, bt, "weir_backend_health_checks_total", "counter",
                   "Active health checks by result.", "result=\"pass\"", b->health.passes);
    for (size_t i = 0; i < bt->n; i++)
        if (backend_sample(out, "weir_backend_health_checks_total", bt->backends[i],
                           "result=\"fail\"", bt->backends[i]->health.fails) == -1)
            return -1;
    BACKEND_FAMILY(out, bt, "weir_backend_passive_failures_total", "counter",
                   "Live requests that counted as health failures.", NULL,
                   b->health.passive_fails);
    BACKEND_FAMILY(out, bt, "weir_backend_health_transitions_total", "counter",
                   "Health state changes.", NULL, b->health.transitions);
    if (family(out, "weir_backend_drain_state", "gauge",
               "1 for the backend's current drain state.") == -1)
        return -1;
    for (size_t i = 0; i < bt->n; i++)
        for (size_t d = 0; d < nitems(drains); d++) {
            snprintf(extra, sizeof(extra), "state=\"%s\"", drains[d]);
            if (backend_sample(out, "weir_backend_drain_state", bt->backends[i], extra,
                               strcmp(backend_admin_name(bt->backends[i]), drains[d]) == 0) == -1)
                return -1;
        }
    return 0;
}

static int
render_backends(struct buf *out, const struct backend_table *bt)
{
    static const char *const classes[] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
    char extra[32];

    if (family(out, "weir_backend_responses_total", "counter",
               "Finished requests by status class (none: no response reached the "
               "client).") == -1)
        return -1;
    for (size_t i = 0; i < bt->n; i++)
        for (size_t k = 0; k < nitems(classes); k++) {
            snprintf(extra, sizeof(extra), "class=\"%s\"", classes[k]);
            if (backend_sample(out, "weir_backend_responses_total", bt->backends[i],
                               extra, bt->backends[i]->responses[k]) == -1)
                return -1;
        }
    BACKEND_FAMILY(out, bt, "weir_backend_requests_total", "counter",
                   "Requests sent to the backend (counted when it was chosen).", NULL,
                   b->requests_total);
    BACKEND_FAMILY(out, bt, "weir_backend_failures_total", "counter",
                   "Requests the backend failed (connect, reset, bad answer, timeout).",
                   NULL, b->failures_total);
    BACKEND_FAMILY(out, bt, "weir_backend_inflight_requests", "gauge",
                   "Requests chosen for the backend and not yet answered.", NULL,
                   b->peer->inflight);
    BACKEND_FAMILY(out, bt, "weir_backend_connections", "gauge",
                   "Upstream connections open (in use or idle).", NULL,
                   b->pool != NULL ? b->pool->nopen : 0);
    BACKEND_FAMILY(out, bt, "weir_backend_idle_connections", "gauge",
                   "Idle upstream connections in the pool.", NULL,
                   b->pool != NULL ? b->pool->nidle : 0);
    BACKEND_FAMILY(out, bt, "weir_backend_weight", "gauge",
                   "Effective weight (after slow start).", NULL, b->peer->weight);
    BACKEND_FAMILY(out, bt, "weir_backend_eligible", "gauge",
                   "1 when the backend may take new requests.", NULL, b->peer->eligible);
    return 0;
}

size_t
metrics_size_hint(const struct admin *ad)
{
    return 8192 + ad->px->bt->n * 8192 + ad->px->nlisteners * 512;
}

int
metrics_render(struct buf *out, const struct admin *ad)
{
    const struct backend_table *bt = ad->px->bt;

    if (render_globals(out, ad) == -1 || render_certificates(out, ad) == -1 ||
        render_backends(out, bt) == -1 || render_histogram(out, bt) == -1 ||
        render_health(out, bt) == -1)
        return -1;
    return 0;
}
