/* TLS termination with real clients (openssl s_client, curl): versions,
 * suites, SNI, ALPN, resumption, the handshake timeout, garbage instead of
 * a ClientHello, X-Forwarded-Proto, the Secure cookie, and 10 MiB each way.
 * The certificates are the generated test ones (tests/data/config/files). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define FILES WEIR_TEST_DATA "/config/files"

/* Long enough for OpenSSL under valgrind; the handshake timeout test
 * shortens it. */
static const char *handshake_timeout = "10s";

/* One backend and a TLS listener with the a.test (default) and b.test
 * certificates; TLS_EXTRA goes into the tls block, EXTRA at the top. */
static void
start(struct h_env *env, const char *tls_extra, const char *extra)
{
    h_env_init(env);
    assert_int_equal(h_backend_start(env, "agent-1", NULL), 0);
    snprintf(env->config_path, sizeof(env->config_path), "%s/weir.yaml", env->dir);
    env->weir.port = h_free_port();
    FILE *f = fopen(env->config_path, "w");
    assert_non_null(f);
    fprintf(f,
            "listeners:\n  - name: https\n    bind: 127.0.0.1:%d\n"
            "    tls:\n      certificates:\n"
            "        - cert: %s/server-a.crt\n          key: %s/server-a.key\n"
            "        - cert: %s/server-b.crt\n          key: %s/server-b.key\n%s"
            "backends:\n  - name: agent-1\n    address: 127.0.0.1:%d\n"
            "admin:\n  socket: %s/admin.sock\n"
            "timeouts:\n  tls_handshake: %s\n"
            "logging:\n  level: debug\n%s",
            env->weir.port, FILES, FILES, FILES, FILES, tls_extra ? tls_extra : "",
            env->backends[0].port, env->dir, handshake_timeout,
            extra ? extra : "");
    fclose(f);
    assert_int_equal(h_weir_start(env), 0);
}

static void
stop(struct h_env *env)
{
    int rc = h_proc_stop(&env->weir, SIGTERM, 10000);
    if (rc != 0)
        h_dump_log(&env->weir);
    assert_int_equal(rc, 0);
    h_env_fini(env);
}

/* Run a shell command with a time bound; its output into OUT; exit code. */
static int
run(char *out, size_t outlen, const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    char full[2200];
    snprintf(full, sizeof(full), "timeout 20 sh -c '%s' 2>&1", cmd);
    FILE *p = popen(full, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* openssl s_client sending one GET; OPTS are extra flags. */
static int
s_client(const struct h_env *env, const char *opts, char *out, size_t outlen)
{
    return run(out, outlen,
               "printf \"GET /?headers=1 HTTP/1.1\\r\\nHost: a.test\\r\\n"
               "Connection: close\\r\\n\\r\\n\" | openssl s_client -connect "
               "127.0.0.1:%d -ign_eof %s", env->weir.port, opts);
}

static void
test_tls13_request_and_forwarded_proto(void **state)
{
    (void)state;
    struct h_env env;
    char out[65536];

    start(&env, NULL, NULL);
    assert_int_equal(s_client(&env, "-tls1_3 -servername a.test", out, sizeof(out)), 0);
    assert_non_null(strstr(out, "HTTP/1.1 200 OK"));
    assert_non_null(strstr(out, "X-Forwarded-Proto: https"));
    assert_non_null(strstr(out, "Protocol  : TLSv1.3"));
    assert_int_equal(run(out, sizeof(out),
                         "curl -sk --tlsv1.3 --resolve a.test:%d:127.0.0.1 "
                         "https://a.test:%d/", env.weir.port, env.weir.port), 0);
    assert_string_equal(out, "agent-1\n");
    stop(&env);
}

static void
test_versions(void **state)
{
    (void)state;
    struct h_env env;
    char out[65536];

    start(&env, NULL, NULL);
    assert_int_not_equal(s_client(&env, "-tls1_2", out, sizeof(out)), 0);
    assert_null(strstr(out, "HTTP/1.1 200"));
    stop(&env);
    start(&env, "      min_version: \"1.2\"\n", NULL);
    assert_int_equal(s_client(&env, "-tls1_2", out, sizeof(out)), 0);
    assert_non_null(strstr(out, "HTTP/1.1 200 OK"));
    assert_non_null(strstr(out, "Protocol  : TLSv1.2"));
    stop(&env);
}

static void
test_ciphersuites(void **state)
{
    (void)state;
    struct h_env env;
    char out[65536];

    start(&env, "      ciphersuites: \"TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256\"\n", NULL);
    assert_int_equal(s_client(&env, "-ciphersuites TLS_AES_128_GCM_SHA256", out, sizeof(out)), 0);
    assert_non_null(strstr(out, "TLS_AES_128_GCM_SHA256"));
    assert_int_equal(s_client(&env, "-ciphersuites TLS_CHACHA20_POLY1305_SHA256", out, sizeof(out)), 0);
    assert_non_null(strstr(out, "HTTP/1.1 200 OK"));
    assert_int_not_equal(s_client(&env, "-ciphersuites TLS_AES_256_GCM_SHA384", out, sizeof(out)), 0);
    assert_null(strstr(out, "HTTP/1.1 200"));
    stop(&env);
}

static void
test_sni_alpn_and_resumption(void **state)
{
    (void)state;
    struct h_env env;
    char out[65536], sess[300];

    start(&env, NULL, NULL);
    assert_int_equal(s_client(&env, "-servername b.test", out, sizeof(out)), 0);
    assert_non_null(strstr(out, "CN = b.test"));
    assert_int_equal(s_client(&env, "-servername x.a.test", out, sizeof(out)), 0);
    assert_non_null(strstr(out, "CN = a.test"));
    assert_int_equal(s_client(&env, "-alpn http/1.1", out, sizeof(out)), 0);
    assert_non_null(strstr(out, "ALPN protocol: http/1.1"));
    /* h2 only: a clean handshake failure, not a hang (run() is bounded). */
    assert_int_not_equal(s_client(&env, "-alpn h2", out, sizeof(out)), 0);
    assert_non_null(strstr(out, "no application protocol"));

    snprintf(sess, sizeof(sess), "%s/sess.pem", env.dir);
    char opts[400];
    snprintf(opts, sizeof(opts), "-sess_out %s", sess);
    assert_int_equal(s_client(&env, opts, out, sizeof(out)), 0);
    snprintf(opts, sizeof(opts), "-sess_in %s", sess);
    assert_int_equal(s_client(&env, opts, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "Reused, TLSv1.3"));
    stop(&env);
}

static void
test_handshake_timeout_and_garbage(void **state)
{
    (void)state;
    struct h_env env;

    handshake_timeout = "500ms";
    start(&env, NULL, NULL);
    handshake_timeout = "10s";
    /* Silent client: closed by tls_handshake (500 ms), not kept. */
    int fd = h_connect(env.weir.port);
    long long t0 = h_now_ms();
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&pf, 1, 5000), 1);
    char byte;
    assert_true(read(fd, &byte, 1) <= 0);
    long long took = h_now_ms() - t0;
    assert_true(took >= 400 && took < 4000);
    close(fd);
    assert_int_equal(h_wait_log(env.weir.log_path, "tls handshake from 127.0.0.1: timeout", 1, 1000), 0);

    /* Plain HTTP (garbage for TLS) instead of a ClientHello: rejected. */
    struct h_response r;
    assert_int_not_equal(h_get(env.weir.port, "/", &r), 0);
    h_response_fini(&r);
    assert_int_equal(h_wait_log(env.weir.log_path, "tls handshake from 127.0.0.1 failed", 1, 2000), 0);
    stop(&env);
}

static void
test_secure_cookie_and_big_bodies(void **state)
{
    (void)state;
    struct h_env env;
    char out[65536], extra[512], key[300], file[300];

    /* start() makes the environment, so the key lives beside it in /tmp. */
    snprintf(key, sizeof(key), "/tmp/weir-it-tls-%d.key", (int)getpid());
    FILE *f = fopen(key, "w");
    fputs("0123456789abcdef0123456789abcdef-test-key\n", f);
    fclose(f);
    snprintf(extra, sizeof(extra),
             "load_balancer:\n  session_affinity:\n    enabled: true\n"
             "    secret_file: %s\n", key);
    start(&env, NULL, extra);
    assert_int_equal(run(out, sizeof(out),
                         "curl -sk -D- -o /dev/null https://127.0.0.1:%d/",
                         env.weir.port), 0);
    assert_non_null(strstr(out, "HttpOnly; SameSite=Lax; Secure"));

    /* 10 MiB each way through TLS. */
    snprintf(file, sizeof(file), "%s/big.bin", env.dir);
    assert_int_equal(run(out, sizeof(out), "head -c 10485760 /dev/urandom > %s", file), 0);
    assert_int_equal(run(out, sizeof(out),
                         "curl -sk -D- -o /dev/null --data-binary @%s https://127.0.0.1:%d/up",
                         file, env.weir.port), 0);
    assert_non_null(strstr(out, "X-Received-Bytes: 10485760"));
    assert_int_equal(run(out, sizeof(out),
                         "curl -sk https://127.0.0.1:%d/?size=10485760 | wc -c",
                         env.weir.port), 0);
    assert_int_equal(atol(out), 10485760);
    unlink(key);
    stop(&env);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls13_request_and_forwarded_proto),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_ciphersuites),
        cmocka_unit_test(test_sni_alpn_and_resumption),
        cmocka_unit_test(test_handshake_timeout_and_garbage),
        cmocka_unit_test(test_secure_cookie_and_big_bodies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
