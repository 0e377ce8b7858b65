/* The weir command line: -t reports "configuration OK" or every error as
 * FILE:LINE:COL and exits 0 or 2; -V names the libraries; a bind failure
 * at start-up exits 1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

/* Run weir with ARGS, capturing stdout+stderr into OUT; exit status. */
static int
run_weir(const char *args, char *out, size_t outlen)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "'%s' %s 2>&1", WEIR_BIN_PATH, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
test_check_ok(void **state)
{
    (void)state;
    char out[4096], args[512];
    snprintf(args, sizeof(args), "-t -c '%s/config/ok/minimal.yaml'", WEIR_TEST_DATA);
    assert_int_equal(run_weir(args, out, sizeof(out)), 0);
    assert_string_equal(out, "configuration OK\n");
}

static void
test_check_reports_every_error(void **state)
{
    (void)state;
    struct h_env env;
    char out[4096], args[512];

    h_env_init(&env);
    snprintf(env.config_path, sizeof(env.config_path), "%s/bad.yaml", env.dir);
    FILE *f = fopen(env.config_path, "w");
    fputs("listeners:\n"
          "  - name: http\n"
          "    bind: 127.0.0.1:99999\n"
          "backends:\n"
          "  - name: a\n"
          "    address: 127.0.0.1:9001\n"
          "    weight: 300\n"
          "timeouts:\n"
          "  connect: 5 parsecs\n"
          "bogus: 1\n", f);
    fclose(f);
    snprintf(args, sizeof(args), "-t -c '%s'", env.config_path);
    assert_int_equal(run_weir(args, out, sizeof(out)), 2);
    /* All four errors, each at its position. */
    char want[512];
    snprintf(want, sizeof(want), "%s:3:11: ", env.config_path);
    assert_non_null(strstr(out, want));
    snprintf(want, sizeof(want), "%s:7:13: ", env.config_path);
    assert_non_null(strstr(out, want));
    snprintf(want, sizeof(want), "%s:9:12: ", env.config_path);
    assert_non_null(strstr(out, want));
    snprintf(want, sizeof(want), "%s:10:1: ", env.config_path);
    assert_non_null(strstr(out, want));
    assert_null(strstr(out, "configuration OK"));
    h_env_fini(&env);
}

static void
test_missing_file_is_exit_2(void **state)
{
    (void)state;
    char out[4096];
    assert_int_equal(run_weir("-t -c /nonexistent/weir.yaml", out, sizeof(out)), 2);
    assert_non_null(strstr(out, "/nonexistent/weir.yaml"));
    /* Running (not only checking) a bad file also exits 2. */
    assert_int_equal(run_weir("-c /nonexistent/weir.yaml", out, sizeof(out)), 2);
    assert_int_equal(run_weir("-x", out, sizeof(out)), 2);
}

static void
test_versions(void **state)
{
    (void)state;
    char out[4096];
    assert_int_equal(run_weir("-V", out, sizeof(out)), 0);
    assert_non_null(strstr(out, "weir "));
    assert_non_null(strstr(out, "libev 4."));
    assert_non_null(strstr(out, "OpenSSL 3."));
    assert_non_null(strstr(out, "http-parser 2.9"));
    assert_non_null(strstr(out, "libyaml 0."));
}

static void
test_bind_failure_exits_1(void **state)
{
    (void)state;
    struct h_env env;
    struct h_raw busy;
    char out[4096], args[512];

    h_env_init(&env);
    assert_int_equal(h_raw_start(&busy, "", true), 0);
    assert_int_equal(h_backend_add(&env, "a", 9), 0);
    assert_int_equal(h_write_config(&env, NULL), 0);
    /* Point the listener at the port the raw server already holds. */
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "sed -i 's/bind: 127.0.0.1:[0-9]*/bind: 127.0.0.1:%d/' '%s'",
             busy.port, env.config_path);
    assert_int_equal(system(cmd), 0);
    snprintf(args, sizeof(args), "-c '%s'", env.config_path);
    assert_int_equal(run_weir(args, out, sizeof(out)), 1);
    assert_non_null(strstr(out, "Address already in use"));
    h_raw_stop(&busy);
    h_env_fini(&env);
}

static void
test_tls_problems_are_config_errors(void **state)
{
    (void)state;
    struct h_env env;
    char out[4096], args[512];

    h_env_init(&env);
    snprintf(env.config_path, sizeof(env.config_path), "%s/tls.yaml", env.dir);
    FILE *f = fopen(env.config_path, "w");
    fprintf(f,
            "listeners:\n  - name: https\n    bind: 127.0.0.1:%d\n"
            "    tls:\n      certificates:\n"
            "        - cert: %s/config/files/expired.crt\n"
            "          key: %s/config/files/expired.key\n"
            "      alpn: [h2]\n"
            "backends:\n  - name: a\n    address: 127.0.0.1:9\n",
            h_free_port(), WEIR_TEST_DATA, WEIR_TEST_DATA);
    fclose(f);
    snprintf(args, sizeof(args), "-t -c '%s'", env.config_path);
    assert_int_equal(run_weir(args, out, sizeof(out)), 2);
    char want[512];
    snprintf(want, sizeof(want), "%s:6:17: ", env.config_path);
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, "expired on 2001-01-01"));
    snprintf(want, sizeof(want), "%s:8:14: ", env.config_path);
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, "is not a protocol weir speaks"));
    h_env_fini(&env);
}

/* What start or reload would refuse, -t refuses too: a cipher string
 * OpenSSL rejects, an affinity key too short, an API key with a control
 * character, an access log that cannot be written. */
static void
test_check_builds_what_start_builds(void **state)
{
    (void)state;
    struct h_env env;
    char out[8192], args[512], path[300], api[300];

    h_env_init(&env);
    snprintf(path, sizeof(path), "%s/short.key", env.dir);
    FILE *k = fopen(path, "w");
    fputs("short\n", k);
    fclose(k);
    snprintf(api, sizeof(api), "%s/api.key", env.dir);
    k = fopen(api, "w");
    fputs("an-api-key-with\001-a-control-character\n", k);
    fclose(k);
    snprintf(env.config_path, sizeof(env.config_path), "%s/files.yaml", env.dir);
    FILE *f = fopen(env.config_path, "w");
    fprintf(f,
            "listeners:\n  - name: https\n    bind: 127.0.0.1:%d\n"
            "    tls:\n      certificates:\n"
            "        - cert: %s/config/files/server-a.crt\n"
            "          key: %s/config/files/server-a.key\n"
            "      ciphersuites: \"TLS_NO_SUCH_SUITE\"\n"
            "backends:\n  - name: a\n    address: 127.0.0.1:9\n"
            "load_balancer:\n  session_affinity:\n    enabled: true\n"
            "    secret_file: %s\n"
            "admin:\n  listen: 127.0.0.1:%d\n  api_keys:\n"
            "    - key_file: %s\n      role: admin\n"
            "logging:\n  access_log: /nonexistent-dir/access.log\n",
            h_free_port(), WEIR_TEST_DATA, WEIR_TEST_DATA, path, h_free_port(),
            api);
    fclose(f);
    snprintf(args, sizeof(args), "-t -c '%s'", env.config_path);
    assert_int_equal(run_weir(args, out, sizeof(out)), 2);
    assert_non_null(strstr(out, "listener https: "));
    assert_non_null(strstr(out, "session_affinity: "));
    assert_non_null(strstr(out, "admin: "));
    assert_non_null(strstr(out, "logging.access_log: /nonexistent-dir/access.log"));
    assert_null(strstr(out, "configuration OK"));
    h_env_fini(&env);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_ok),
        cmocka_unit_test(test_check_reports_every_error),
        cmocka_unit_test(test_missing_file_is_exit_2),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_bind_failure_exits_1),
        cmocka_unit_test(test_tls_problems_are_config_errors),
        cmocka_unit_test(test_check_builds_what_start_builds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
