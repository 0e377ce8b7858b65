/* Unit tests for the configuration loader: exact struct values (defaults
 * included) for the good files and conf/weir.yaml, the bad fixtures run as
 * a table against their .expected lines, single-value edge cases, and
 * truncated or mutated input that must never crash or leak. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weir/config/config.h"
#include "weir/util/addr.h"
#include "weir/util/defs.h"
#include "weir/util/log.h"

#define CONFIG_DIR WEIR_TEST_DATA "/config"
#define OK_DIR CONFIG_DIR "/ok"
#define BAD_DIR CONFIG_DIR "/bad"
#define DEMO_CONFIG WEIR_TEST_DATA "/../../conf/weir.yaml"

/* A listener and a backend, to which each string case adds its lines. */
#define BASE_YAML                            \
    "listeners:\n"                           \
    "  - name: l\n"                          \
    "    bind: 127.0.0.1:1\n"                \
    "backends:\n"                            \
    "  - name: b\n"                          \
    "    address: 127.0.0.1:2\n"

static char *
read_text(const char *path, size_t *lenp)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (lenp != NULL)
        *lenp = (size_t)n;
    return buf;
}

static char *
real_dir(const char *dir)
{
    char *real = realpath(dir, NULL);

    assert_non_null(real);
    return real;
}

/* DIR + "/" + NAME, newly allocated. */
static char *
join(const char *dir, const char *name)
{
    char *out;

    assert_true(asprintf(&out, "%s/%s", dir, name) != -1);
    return out;
}

static void
print_errors(const struct cfg_errors *errs)
{
    for (size_t i = 0; i < errs->n; i++)
        print_error("  %s\n", errs->msgs[i]);
}

static struct cfg *
load_ok(const char *path)
{
    struct cfg_errors errs = {0};
    struct cfg *cfg = cfg_load(path, &errs);

    if (cfg == NULL || errs.n != 0) {
        print_errors(&errs);
        fail_msg("%s: expected no errors, got %zu", path, errs.n);
    }
    cfg_errors_fini(&errs);
    return cfg;
}

static void
assert_addr(const struct cfg_addr *a, const char *text, const char *canon)
{
    char out[ADDR_TEXT_MAX];

    assert_string_equal(a->text, text);
    assert_int_equal(addr_format((const struct sockaddr *)&a->sa, out,
                                 sizeof(out)), 0);
    assert_string_equal(out, canon);
    assert_int_equal(a->salen, a->sa.ss_family == AF_INET ?
                                   sizeof(struct sockaddr_in) :
                                   sizeof(struct sockaddr_in6));
}

/* Every value config.h documents as a default, except listeners/backends. */
static void
assert_defaults(const struct cfg *cfg)
{
    assert_int_equal(cfg->algorithm, CFG_LB_LEAST_CONNECTIONS);
    assert_string_equal(cfg->health.path, "/health");
    assert_null(cfg->health.host);
    assert_int_equal(cfg->health.interval_ms, 10000);
    assert_int_equal(cfg->health.timeout_ms, 5000);
    assert_int_equal(cfg->health.unhealthy_interval_ms, 10000);
    assert_int_equal(cfg->health.healthy_threshold, 2);
    assert_int_equal(cfg->health.unhealthy_threshold, 3);
    assert_int_equal(cfg->health.status_min, 200);
    assert_int_equal(cfg->health.status_max, 399);
    assert_true(cfg->health.passive);
    assert_int_equal(cfg->health.slow_start_ms, 0);
    assert_false(cfg->affinity.enabled);
    assert_string_equal(cfg->affinity.cookie_name, "MAGS_SESSION");
    assert_int_equal(cfg->affinity.ttl_ms, 3600000);
    assert_null(cfg->affinity.secret_file);
    assert_null(cfg->affinity.previous_secret_file);
    assert_true(cfg->draining.enabled);
    assert_int_equal(cfg->draining.timeout_ms, 300000);
    assert_int_equal(cfg->draining.sticky_grace_ms, 0);
    assert_int_equal(cfg->timeouts.connect_ms, 5000);
    assert_int_equal(cfg->timeouts.tls_handshake_ms, 10000);
    assert_int_equal(cfg->timeouts.client_header_ms, 10000);
    assert_int_equal(cfg->timeouts.client_idle_ms, 60000);
    assert_int_equal(cfg->timeouts.client_write_ms, 60000);
    assert_int_equal(cfg->timeouts.client_body_ms, 10000);
    assert_int_equal(cfg->timeouts.backend_response_ms, 60000);
    assert_int_equal(cfg->limits.max_connections, 10000);
    assert_int_equal(cfg->limits.max_header_bytes, 16384);
    assert_int_equal(cfg->limits.max_header_line_bytes, 8192);
    assert_int_equal(cfg->limits.min_body_rate, 1024);
    assert_string_equal(cfg->admin.socket, "/tmp/weir-admin.sock");
    assert_null(cfg->admin.listen.text);
    assert_null(cfg->admin.api_keys);
    assert_int_equal(cfg->admin.napi_keys, 0);
    assert_int_equal(cfg->workers, 1);
    assert_int_equal(cfg->logging.level, LOG_LEVEL_INFO);
    assert_string_equal(cfg->logging.access_log, "stdout");
}

static void
test_minimal_defaults(void **state)
{
    struct cfg *cfg = load_ok(OK_DIR "/minimal.yaml");
    (void)state;

    assert_string_equal(cfg->path, OK_DIR "/minimal.yaml");
    assert_int_equal(cfg->nlisteners, 1);
    assert_string_equal(cfg->listeners[0].name, "http");
    assert_addr(&cfg->listeners[0].bind, "127.0.0.1:8080", "127.0.0.1:8080");
    assert_null(cfg->listeners[0].tls);
    assert_int_equal(cfg->nbackends, 1);
    assert_string_equal(cfg->backends[0].name, "agent-1");
    assert_addr(&cfg->backends[0].address, "127.0.0.1:9001",
                "127.0.0.1:9001");
    assert_int_equal(cfg->backends[0].weight, 1);
    assert_defaults(cfg);
    cfg_free(cfg);
}

static void
assert_full_tls(const struct cfg_tls *tls, const char *files)
{
    char *p;

    assert_non_null(tls);
    assert_int_equal(tls->ncerts, 2);
    assert_string_equal(tls->certs[0].cert,
                        p = join(files, "server-a.crt"));
    free(p);
    assert_string_equal(tls->certs[0].key, p = join(files, "server-a.key"));
    free(p);
    assert_string_equal(tls->certs[1].cert,
                        p = join(files, "server-b.crt"));
    free(p);
    assert_string_equal(tls->certs[1].key, p = join(files, "server-b.key"));
    free(p);
    assert_int_equal(tls->min_version, 13);
    assert_string_equal(tls->ciphersuites,
                        "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
    assert_string_equal(tls->ciphers, "ECDHE+AESGCM");
    assert_int_equal(tls->nalpn, 2);
    assert_string_equal(tls->alpn[0], "http/1.1");
    assert_string_equal(tls->alpn[1], "http/1.0");
}

static void
assert_full_lb(const struct cfg *cfg, const char *files)
{
    char *p;

    assert_int_equal(cfg->algorithm, CFG_LB_LEAST_RESPONSE_TIME);
    assert_string_equal(cfg->health.path, "/healthz?full=1");
    assert_string_equal(cfg->health.host, "health.example");
    assert_int_equal(cfg->health.interval_ms, 1500);
    assert_int_equal(cfg->health.timeout_ms, 1000);
    assert_int_equal(cfg->health.healthy_threshold, 1);
    assert_int_equal(cfg->health.unhealthy_threshold, 1000);
    assert_int_equal(cfg->health.unhealthy_interval_ms, 120000);
    assert_int_equal(cfg->health.status_min, 204);
    assert_int_equal(cfg->health.status_max, 204);
    assert_false(cfg->health.passive);
    assert_int_equal(cfg->health.slow_start_ms, 3600000);
    assert_true(cfg->affinity.enabled);
    assert_string_equal(cfg->affinity.cookie_name, "WEIR_ID");
    assert_int_equal(cfg->affinity.ttl_ms, 3600000);
    assert_string_equal(cfg->affinity.secret_file,
                        p = join(files, "affinity.secret"));
    free(p);
    assert_string_equal(cfg->affinity.previous_secret_file,
                        p = join(files, "affinity-old.secret"));
    free(p);
    assert_false(cfg->draining.enabled);
    assert_int_equal(cfg->draining.timeout_ms, 0);
    assert_int_equal(cfg->draining.sticky_grace_ms, 15000);
}

static void
test_full_values(void **state)
{
    struct cfg *cfg = load_ok(OK_DIR "/full.yaml");
    char *ok = real_dir(OK_DIR), *files = join(ok, "../files"), *p;
    (void)state;

    assert_int_equal(cfg->nlisteners, 3);
    assert_string_equal(cfg->listeners[0].name, "http");
    assert_addr(&cfg->listeners[0].bind, "0.0.0.0:0", "0.0.0.0:0");
    assert_null(cfg->listeners[0].tls);
    assert_string_equal(cfg->listeners[1].name, "https");
    assert_addr(&cfg->listeners[1].bind, "[::1]:8443", "[::1]:8443");
    assert_full_tls(cfg->listeners[1].tls, files);
    assert_string_equal(cfg->listeners[2].name, "plain6");
    assert_addr(&cfg->listeners[2].bind, "[::]:8081", "[::]:8081");
    assert_null(cfg->listeners[2].tls);

    assert_int_equal(cfg->nbackends, 3);
    assert_string_equal(cfg->backends[0].name, "agent-1");
    assert_addr(&cfg->backends[0].address, "10.0.0.1:9001", "10.0.0.1:9001");
    assert_int_equal(cfg->backends[0].weight, 0);
    assert_string_equal(cfg->backends[1].name, "agent_2.b");
    assert_addr(&cfg->backends[1].address, "[2001:db8::2]:65535",
                "[2001:db8::2]:65535");
    assert_int_equal(cfg->backends[1].weight, 256);
    assert_string_equal(cfg->backends[2].name, "agent-3");
    assert_int_equal(cfg->backends[2].weight, 1);

    assert_full_lb(cfg, files);

    assert_int_equal(cfg->timeouts.connect_ms, 1);
    assert_int_equal(cfg->timeouts.tls_handshake_ms, 2000);
    assert_int_equal(cfg->timeouts.client_header_ms, 180000);
    assert_int_equal(cfg->timeouts.client_idle_ms, 4 * 3600000);
    assert_int_equal(cfg->timeouts.client_write_ms, 5000);
    assert_int_equal(cfg->timeouts.client_body_ms, 6000);
    assert_int_equal(cfg->timeouts.backend_response_ms, 86400000);
    assert_int_equal(cfg->limits.max_connections, 1);
    assert_int_equal(cfg->limits.max_header_bytes, 1048576);
    assert_int_equal(cfg->limits.max_header_line_bytes, 256);
    assert_int_equal(cfg->limits.min_body_rate, 0);

    assert_string_equal(cfg->admin.socket, p = join(ok, "admin.sock"));
    free(p);
    assert_addr(&cfg->admin.listen, "127.0.0.1:9100", "127.0.0.1:9100");
    assert_int_equal(cfg->admin.napi_keys, 3);
    assert_string_equal(cfg->admin.api_keys[0].key_file,
                        p = join(files, "admin.apikey"));
    free(p);
    assert_int_equal(cfg->admin.api_keys[0].role, CFG_ROLE_ADMIN);
    assert_string_equal(cfg->admin.api_keys[1].key_file,
                        p = join(files, "viewer.apikey"));
    free(p);
    assert_int_equal(cfg->admin.api_keys[1].role, CFG_ROLE_VIEWER);
    assert_int_equal(cfg->admin.api_keys[2].role, CFG_ROLE_OPERATOR);
    assert_int_equal(cfg->workers, 0);
    assert_int_equal(cfg->logging.level, LOG_LEVEL_DEBUG);
    assert_string_equal(cfg->logging.access_log,
                        p = join(ok, "logs/access.json"));
    free(p);

    free(files);
    free(ok);
    cfg_free(cfg);
}

static void
test_nulls(void **state)
{
    struct cfg *cfg = load_ok(OK_DIR "/nulls.yaml");
    char *ok = real_dir(OK_DIR), *p;
    (void)state;

    assert_null(cfg->listeners[0].tls);
    assert_null(cfg->health.host);
    /* unhealthy_interval follows interval when not given. */
    assert_int_equal(cfg->health.interval_ms, 30000);
    assert_int_equal(cfg->health.unhealthy_interval_ms, 30000);
    /* Affinity is off: the missing secret file is not an error, but the
     * path is still resolved and kept. */
    assert_false(cfg->affinity.enabled);
    assert_string_equal(cfg->affinity.secret_file,
                        p = join(ok, "../files/does-not-exist.secret"));
    free(p);
    assert_null(cfg->affinity.previous_secret_file);
    assert_null(cfg->admin.listen.text);
    assert_int_equal(cfg->admin.napi_keys, 0);
    assert_int_equal(cfg->timeouts.connect_ms, 5000);
    assert_int_equal(cfg->limits.max_connections, 10000);
    free(ok);
    cfg_free(cfg);
}

static void
test_demo_config(void **state)
{
    static const char *const names[] = {"agent-1", "agent-2", "agent-3"};
    static const char *const addrs[] = {"127.0.0.1:9001", "127.0.0.1:9002",
                                        "127.0.0.1:9003"};
    struct cfg *cfg = load_ok(DEMO_CONFIG);
    (void)state;

    assert_int_equal(cfg->nlisteners, 2);
    assert_string_equal(cfg->listeners[0].name, "http");
    assert_addr(&cfg->listeners[0].bind, "127.0.0.1:8080", "127.0.0.1:8080");
    assert_null(cfg->listeners[0].tls);
    assert_string_equal(cfg->listeners[1].name, "https");
    assert_non_null(cfg->listeners[1].tls);
    assert_int_equal(cfg->listeners[1].tls->min_version, 13);
    assert_non_null(strstr(cfg->listeners[1].tls->certs[0].cert, "/certs/server.crt"));
    assert_int_equal(cfg->nbackends, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(cfg->backends[i].name, names[i]);
        assert_addr(&cfg->backends[i].address, addrs[i], addrs[i]);
        assert_int_equal(cfg->backends[i].weight, 1);
    }
    assert_int_equal(cfg->algorithm, CFG_LB_LEAST_CONNECTIONS);
    assert_int_equal(cfg->health.interval_ms, 10000);
    assert_int_equal(cfg->health.timeout_ms, 5000);
    assert_int_equal(cfg->health.healthy_threshold, 2);
    assert_int_equal(cfg->health.unhealthy_threshold, 3);
    assert_int_equal(cfg->health.unhealthy_interval_ms, 10000);
    assert_int_equal(cfg->health.status_min, 200);
    assert_int_equal(cfg->health.status_max, 399);
    assert_true(cfg->health.passive);
    assert_int_equal(cfg->health.slow_start_ms, 30000);
    assert_true(cfg->affinity.enabled);
    assert_non_null(strstr(cfg->affinity.secret_file, "/certs/affinity.key"));
    assert_null(cfg->affinity.previous_secret_file);
    assert_true(cfg->draining.enabled);
    assert_int_equal(cfg->draining.timeout_ms, 30000);
    assert_int_equal(cfg->draining.sticky_grace_ms, 0);
    assert_int_equal(cfg->timeouts.connect_ms, 5000);
    assert_int_equal(cfg->timeouts.backend_response_ms, 60000);
    assert_int_equal(cfg->limits.max_connections, 10000);
    assert_int_equal(cfg->limits.max_header_bytes, 16384);
    assert_string_equal(cfg->admin.socket, "/tmp/weir-admin.sock");
    assert_null(cfg->admin.listen.text);
    assert_int_equal(cfg->workers, 1);
    assert_int_equal(cfg->logging.level, LOG_LEVEL_INFO);
    assert_string_equal(cfg->logging.access_log, "stdout");
    cfg_free(cfg);
}

/* Copy of S with every occurrence of PREFIX removed. */
static char *
strip_all(const char *s, const char *prefix)
{
    size_t plen = strlen(prefix), o = 0;
    char *out = malloc(strlen(s) + 1);

    assert_non_null(out);
    while (*s != '\0') {
        if (strncmp(s, prefix, plen) == 0) {
            s += plen;
            continue;
        }
        out[o++] = *s++;
    }
    out[o] = '\0';
    return out;
}

static int
cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Load DIR/NAME and compare its errors with DIR/NAME-minus-.yaml.expected,
 * line for line. Messages name the file as "DIR/x.yaml" and resolved paths
 * as "REALDIR/..."; both prefixes (with their "/") are stripped before the
 * comparison, so .expected files hold "x.yaml:LINE:COL: message" and paths
 * relative to the bad directory, whatever the checkout location. */
static int
check_bad_fixture(const char *dir, const char *real, const char *name)
{
    char *path = join(dir, name), *exp_path, *expected, *line, *save = NULL;
    char *dir_slash = join(dir, ""), *real_slash = join(real, "");
    struct cfg_errors errs = {0};
    struct cfg *cfg = cfg_load(path, &errs);
    size_t i = 0;
    int bad = 0;

    assert_true(asprintf(&exp_path, "%.*s.expected",
                         (int)(strlen(path) - strlen(".yaml")), path) != -1);
    expected = read_text(exp_path, NULL);
    if (cfg != NULL || errs.n == 0) {
        print_error("%s: loaded without errors\n", name);
        bad = 1;
    }
    for (line = strtok_r(expected, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save), i++) {
        char *a, *got;
        if (i >= errs.n) {
            print_error("%s: missing error: %s\n", name, line);
            bad = 1;
            continue;
        }
        a = strip_all(errs.msgs[i], dir_slash);
        got = strip_all(a, real_slash);
        if (strcmp(got, line) != 0) {
            print_error("%s: error %zu\n  want: %s\n  got:  %s\n", name, i,
                        line, got);
            bad = 1;
        }
        free(a);
        free(got);
    }
    for (; i < errs.n; i++) {
        print_error("%s: unexpected error: %s\n", name, errs.msgs[i]);
        bad = 1;
    }
    cfg_free(cfg);
    cfg_errors_fini(&errs);
    free(expected);
    free(exp_path);
    free(dir_slash);
    free(real_slash);
    free(path);
    return bad;
}

static void
test_bad_fixtures(void **state)
{
    char *real = real_dir(BAD_DIR), **names = NULL;
    size_t n = 0, failed = 0;
    struct dirent *de;
    DIR *d = opendir(BAD_DIR);
    (void)state;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len <= 5 || strcmp(de->d_name + len - 5, ".yaml") != 0)
            continue;
        names = realloc(names, (n + 1) * sizeof(*names));
        assert_non_null(names);
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 0; i < n; i++) {
        failed += (size_t)check_bad_fixture(BAD_DIR, real, names[i]);
        free(names[i]);
    }
    free(names);
    free(real);
    /* Guard against an empty or unreadable fixture directory. */
    assert_true(n >= 24);
    if (failed > 0)
        fail_msg("%zu of %zu bad fixtures did not match", failed, n);
}

static void
test_all_ok_fixtures_load(void **state)
{
    struct dirent *de;
    DIR *d = opendir(OK_DIR);
    size_t n = 0;
    (void)state;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        char *path;
        if (len <= 5 || strcmp(de->d_name + len - 5, ".yaml") != 0)
            continue;
        path = join(OK_DIR, de->d_name);
        cfg_free(load_ok(path));
        free(path);
        n++;
    }
    closedir(d);
    assert_true(n >= 3);
}

/* One YAML text appended to BASE_YAML, and its exact errors (NULL: none). */
struct string_case {
    const char *yaml;
    const char *errors[3];
};

static void
run_string_cases(const struct string_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct cfg_errors errs = {0};
        char *yaml;
        struct cfg *cfg;
        size_t want = 0;

        assert_true(asprintf(&yaml, "%s%s", BASE_YAML, cases[i].yaml) != -1);
        cfg = cfg_load_string("t", yaml, strlen(yaml), NULL, &errs);
        while (want < nitems(cases[i].errors) && cases[i].errors[want])
            want++;
        if (errs.n != want || (cfg == NULL) != (want > 0)) {
            print_errors(&errs);
            fail_msg("case %zu (%s): %zu errors, want %zu", i, cases[i].yaml,
                     errs.n, want);
        }
        for (size_t j = 0; j < want; j++)
            assert_string_equal(errs.msgs[j], cases[i].errors[j]);
        cfg_free(cfg);
        cfg_errors_fini(&errs);
        free(yaml);
    }
}

static void
test_status_ranges(void **state)
{
    static const struct string_case cases[] = {
        {"load_balancer:\n health_check:\n  expected_status: 200\n", {NULL}},
        {"load_balancer:\n health_check:\n  expected_status: 100-599\n",
         {NULL}},
        {"load_balancer:\n health_check:\n  expected_status: \"204-204\"\n",
         {NULL}},
        {"load_balancer:\n health_check:\n  expected_status: 600\n",
         {"t:9:20: load_balancer.health_check.expected_status: must be "
          "between 100 and 599, got \"600\""}},
        {"load_balancer:\n health_check:\n  expected_status: 099-200\n",
         {"t:9:20: load_balancer.health_check.expected_status: must be "
          "between 100 and 599, got \"099-200\""}},
        {"load_balancer:\n health_check:\n  expected_status: 200-600\n",
         {"t:9:20: load_balancer.health_check.expected_status: must be "
          "between 100 and 599, got \"200-600\""}},
        {"load_balancer:\n health_check:\n  expected_status: 2000\n",
         {"t:9:20: load_balancer.health_check.expected_status: expected a "
          "status code or a range like 200-399, got \"2000\""}},
        {"load_balancer:\n health_check:\n  expected_status: 200-\n",
         {"t:9:20: load_balancer.health_check.expected_status: expected a "
          "status code or a range like 200-399, got \"200-\""}},
        {"load_balancer:\n health_check:\n  expected_status: 2xx\n",
         {"t:9:20: load_balancer.health_check.expected_status: expected a "
          "status code or a range like 200-399, got \"2xx\""}},
        {"load_balancer:\n health_check:\n  expected_status: 200 - 399\n",
         {"t:9:20: load_balancer.health_check.expected_status: expected a "
          "status code or a range like 200-399, got \"200 - 399\""}},
        {"load_balancer:\n health_check:\n  expected_status: [200]\n",
         {"t:9:20: load_balancer.health_check.expected_status: expected a "
          "status code or range, got a sequence"}},
    };
    (void)state;

    run_string_cases(cases, nitems(cases));
}

static void
test_scalar_forms(void **state)
{
    static const struct string_case cases[] = {
        /* Booleans: YAML 1.1 spellings, any case. */
        {"load_balancer:\n health_check:\n  passive: yes\n", {NULL}},
        {"load_balancer:\n health_check:\n  passive: Off\n", {NULL}},
        {"load_balancer:\n health_check:\n  passive: TRUE\n", {NULL}},
        {"load_balancer:\n health_check:\n  passive: \"false\"\n", {NULL}},
        {"load_balancer:\n health_check:\n  passive: 0\n",
         {"t:9:12: load_balancer.health_check.passive: expected a boolean "
          "(true or false), got \"0\""}},
        /* Integers: quoted digits are fine, signs and floats are not. */
        {"workers: \"4\"\n", {NULL}},
        {"workers: 0\n", {NULL}},
        {"workers: -0\n", {NULL}},
        {"workers: +4\n", {"t:7:10: workers: expected an integer, got \"+4\""}},
        {"workers: 4.0\n",
         {"t:7:10: workers: expected an integer, got \"4.0\""}},
        {"workers: ~\n", {"t:7:10: workers: expected an integer, got null"}},
        {"workers: 99999999999999999999999999\n",
         {"t:7:10: workers: must be between 0 and 256, got "
          "\"99999999999999999999999999\""}},
        /* Enumerations ignore case; min_version takes 1.3 unquoted too. */
        {"load_balancer:\n algorithm: Round-Robin\n", {NULL}},
        {"logging:\n level: WARN\n", {NULL}},
        /* Strings: a long junk value is cut in the message. */
        {"load_balancer:\n algorithm: "
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaa\n",
         {"t:8:13: load_balancer.algorithm: unknown algorithm "
          "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "aa\"... (expected one of: least-connections, round-robin, "
          "weighted, ip-hash, least-response-time)"}},
        {"logging:\n level: \"in\\nfo\"\n",
         {"t:8:9: logging.level: unknown log level \"in?fo\" (expected one "
          "of: error, warn, info, debug)"}},
        /* A key with a NUL in it is not the key before the NUL. */
        {"\"workers\\0x\": 1\n",
         {"t:7:1: unknown key \"workers\" at top level"}},
        /* A non-scalar key. */
        {"? [a, b]\n: 1\n",
         {"t:7:3: expected a key at top level, got a sequence"}},
        /* Duration overflow is a range error, like integers. */
        {"timeouts:\n connect: 18446744073709551616ms\n",
         {"t:8:11: timeouts.connect: must be between 1ms and 24h, got "
          "\"18446744073709551616ms\""}},
        /* Port 0 is fine for listeners and the admin listener. */
        {"admin:\n listen: 127.0.0.1:0\n api_keys:\n"
         "  - {key_file: " CONFIG_DIR "/files/admin.apikey, role: viewer}\n",
         {NULL}},
    };
    (void)state;

    run_string_cases(cases, nitems(cases));
}

static void
test_tls_defaults(void **state)
{
    static const char yaml[] =
        "listeners:\n"
        "  - name: https\n"
        "    bind: 127.0.0.1:8443\n"
        "    tls:\n"
        "      certificates:\n"
        "        - cert: server-a.crt\n"
        "          key: " CONFIG_DIR "/files/server-a.key\n"
        "backends:\n"
        "  - name: b\n"
        "    address: 127.0.0.1:2\n";
    struct cfg_errors errs = {0};
    struct cfg *cfg;
    const struct cfg_tls *tls;
    (void)state;

    /* Relative paths join BASEDIR; absolute ones are kept as written. */
    cfg = cfg_load_string("s", yaml, strlen(yaml), CONFIG_DIR "/files", &errs);
    print_errors(&errs);
    assert_non_null(cfg);
    tls = cfg->listeners[0].tls;
    assert_non_null(tls);
    assert_string_equal(tls->certs[0].cert, CONFIG_DIR "/files/server-a.crt");
    assert_string_equal(tls->certs[0].key, CONFIG_DIR "/files/server-a.key");
    assert_int_equal(tls->min_version, 13);
    assert_null(tls->ciphersuites);
    assert_null(tls->ciphers);
    assert_null(tls->alpn);
    assert_int_equal(tls->nalpn, 0);
    assert_string_equal(cfg->path, "s");
    cfg_free(cfg);
}

static void
test_no_basedir(void **state)
{
    static const char yaml[] = BASE_YAML "logging:\n  access_log: x.log\n"
                                         "admin:\n  socket: run/a.sock\n";
    struct cfg_errors errs = {0};
    struct cfg *cfg;
    (void)state;

    /* Without a base directory, relative paths stay relative. */
    cfg = cfg_load_string(NULL, yaml, strlen(yaml), NULL, &errs);
    assert_non_null(cfg);
    assert_string_equal(cfg->path, "<config>");
    assert_string_equal(cfg->logging.access_log, "x.log");
    assert_string_equal(cfg->admin.socket, "run/a.sock");
    cfg_free(cfg);
}

static void
test_unreadable_config(void **state)
{
    struct cfg_errors errs = {0};
    (void)state;

    assert_null(cfg_load("/nonexistent/weir.yaml", &errs));
    assert_int_equal(errs.n, 1);
    assert_string_equal(errs.msgs[0], "/nonexistent/weir.yaml: cannot read: "
                                      "No such file or directory");
    cfg_errors_fini(&errs);
    assert_int_equal(errs.n, 0);
    assert_null(errs.msgs);

    assert_null(cfg_load(OK_DIR, &errs));
    assert_int_equal(errs.n, 1);
    assert_string_equal(errs.msgs[0], OK_DIR ": cannot read: Is a directory");
    cfg_errors_fini(&errs);
}

static void
test_errors_are_appended(void **state)
{
    static const char yaml[] = "workers: x\nfoo: 1\n";
    struct cfg_errors errs = {0};
    (void)state;

    errs.msgs = malloc(sizeof(*errs.msgs));
    assert_non_null(errs.msgs);
    errs.msgs[0] = strdup("earlier");
    errs.n = 1;
    assert_null(cfg_load_string("a", yaml, strlen(yaml), NULL, &errs));
    assert_int_equal(errs.n, 5);
    assert_string_equal(errs.msgs[0], "earlier");
    /* Sorted by position; at one position, in the order found. */
    assert_string_equal(errs.msgs[1],
                        "a:1:1: missing required key \"listeners\" at top "
                        "level");
    assert_string_equal(errs.msgs[2],
                        "a:1:1: missing required key \"backends\" at top "
                        "level");
    assert_string_equal(errs.msgs[3],
                        "a:1:10: workers: expected an integer, got \"x\"");
    assert_string_equal(errs.msgs[4], "a:2:1: unknown key \"foo\" at top "
                                      "level");
    cfg_errors_fini(&errs);
    /* A NULL error list is allowed: the result alone says it failed. */
    assert_null(cfg_load_string("a", yaml, strlen(yaml), NULL, NULL));
}

static void
test_lookups(void **state)
{
    struct cfg *cfg = load_ok(DEMO_CONFIG);
    static const struct {
        enum cfg_algorithm a;
        const char *name;
    } names[] = {
        {CFG_LB_LEAST_CONNECTIONS, "least-connections"},
        {CFG_LB_ROUND_ROBIN, "round-robin"},
        {CFG_LB_WEIGHTED, "weighted"},
        {CFG_LB_IP_HASH, "ip-hash"},
        {CFG_LB_LEAST_RESPONSE_TIME, "least-response-time"},
    };
    (void)state;

    assert_ptr_equal(cfg_backend_find(cfg, "agent-2"), &cfg->backends[1]);
    assert_null(cfg_backend_find(cfg, "agent-4"));
    assert_null(cfg_backend_find(cfg, ""));
    for (size_t i = 0; i < nitems(names); i++)
        assert_string_equal(cfg_algorithm_name(names[i].a), names[i].name);
    assert_string_equal(cfg_algorithm_name((enum cfg_algorithm)99),
                        "unknown");
    cfg_free(cfg);
    cfg_free(NULL);
    cfg_errors_fini(NULL);
}

static void
load_must_not_crash(const char *yaml, size_t len, const char *basedir)
{
    struct cfg_errors errs = {0};
    struct cfg *cfg = cfg_load_string("f", yaml, len, basedir, &errs);

    /* Either a config and no errors, or errors and no config. */
    assert_true((cfg != NULL) == (errs.n == 0));
    for (size_t i = 0; i < errs.n; i++)
        assert_true(strncmp(errs.msgs[i], "f:", 2) == 0);
    cfg_free(cfg);
    cfg_errors_fini(&errs);
}

static void
test_truncated_and_mutated_input(void **state)
{
    static const char alphabet[] = ":-[]{}&*!|>'\"#%@`,? \n\t~0123456789\\";
    size_t len;
    char *text = read_text(OK_DIR "/full.yaml", &len), *copy;
    uint32_t rng = 12345;
    (void)state;

    /* Every prefix (not NUL-terminated: only LEN counts). */
    copy = malloc(len);
    assert_non_null(copy);
    for (size_t n = 0; n <= len; n++) {
        memcpy(copy, text, n);
        load_must_not_crash(copy, n, OK_DIR);
    }
    /* Deterministic random edits: YAML punctuation and arbitrary bytes. */
    for (int round = 0; round < 3000; round++) {
        memcpy(copy, text, len);
        for (int k = 0; k < 1 + round % 4; k++) {
            rng = rng * 1103515245u + 12345u;
            size_t at = (rng >> 8) % len;
            rng = rng * 1103515245u + 12345u;
            copy[at] = (rng >> 16) % 4 == 0 ? (char)(rng >> 24) :
                       alphabet[(rng >> 8) % (sizeof(alphabet) - 1)];
        }
        load_must_not_crash(copy, len, OK_DIR);
    }
    free(copy);
    free(text);
}

static void
test_hostile_structures(void **state)
{
    static const char *const cases[] = {
        "a: &x [*x]\n",            /* a cycle, if aliases were followed */
        "a: &a [1]\nb: &b [*a, *a]\nc: [*b, *b]\n",
        "listeners: &l\n  - *l\n",
        "!!binary listeners: 1\n",
        "\xef\xbb\xbfworkers: 1\n", /* a BOM is fine, the rest is not */
        "%YAML 1.1\n---\nworkers: 1\n",
        "{",
        "'",
        "- - - - -",
        "? ? ? ?",
    };
    static const char nul[] = "workers: 1\0backends: []\n";
    const size_t depth = 100000;
    char *deep = malloc(2 * depth + 8);
    (void)state;

    for (size_t i = 0; i < nitems(cases); i++)
        load_must_not_crash(cases[i], strlen(cases[i]), NULL);
    load_must_not_crash(nul, sizeof(nul) - 1, NULL);
    assert_non_null(deep);
    memcpy(deep, "a: ", 3);
    memset(deep + 3, '[', depth);
    memset(deep + 3 + depth, ']', depth);
    load_must_not_crash(deep, 3 + 2 * depth, NULL);
    memset(deep + 3, '{', depth);
    load_must_not_crash(deep, 3 + depth, NULL);
    free(deep);
}

static void
test_nesting_limit(void **state)
{
    static const struct string_case cases[] = {
        /* 32 levels with the top mapping: unknown key, nothing more. */
        {"x: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
         {"t:7:1: unknown key \"x\" at top level"}},
        {"x: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
         {"t:7:35: nesting deeper than 32 levels"}},
    };
    (void)state;

    run_string_cases(cases, nitems(cases));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_defaults),
        cmocka_unit_test(test_full_values),
        cmocka_unit_test(test_nulls),
        cmocka_unit_test(test_demo_config),
        cmocka_unit_test(test_all_ok_fixtures_load),
        cmocka_unit_test(test_bad_fixtures),
        cmocka_unit_test(test_status_ranges),
        cmocka_unit_test(test_scalar_forms),
        cmocka_unit_test(test_tls_defaults),
        cmocka_unit_test(test_no_basedir),
        cmocka_unit_test(test_unreadable_config),
        cmocka_unit_test(test_errors_are_appended),
        cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_truncated_and_mutated_input),
        cmocka_unit_test(test_hostile_structures),
        cmocka_unit_test(test_nesting_limit),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
