/* Session affinity end to end: a cookie keeps a client on its backend,
 * moves it (with a new cookie) when that backend dies, is ignored when
 * forged, never reaches the backend, and is honoured by another weir that
 * shares the key — including during a key rotation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static void
write_key(const char *path, unsigned char seed)
{
    unsigned char key[32];
    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (unsigned char)(seed * 31 + i * 7 + 1);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(key, 1, sizeof(key), f), sizeof(key));
    fclose(f);
}

static void
affinity_yaml(char *out, size_t len, const char *key, const char *previous)
{
    char prev[300] = "";
    if (previous != NULL)
        snprintf(prev, sizeof(prev), "    previous_secret_file: %s\n", previous);
    snprintf(out, len,
             "load_balancer:\n  session_affinity:\n    enabled: true\n"
             "    cookie_name: MAGS_SESSION\n    ttl: 600\n"
             "    secret_file: %s\n%s", key, prev);
}

static void
start3(struct h_env *env, char *key_path, size_t key_len)
{
    char extra[1024];
    h_env_init(env);
    snprintf(key_path, key_len, "%s/affinity.key", env->dir);
    write_key(key_path, 1);
    for (int i = 1; i <= 3; i++) {
        char name[32];
        snprintf(name, sizeof(name), "agent-%d", i);
        assert_int_equal(h_backend_start(env, name, NULL), 0);
    }
    affinity_yaml(extra, sizeof(extra), key_path, NULL);
    assert_int_equal(h_write_config(env, extra), 0);
    assert_int_equal(h_weir_start(env), 0);
}

/* GET PATH with COOKIE (may be NULL): fills BACKEND and the new cookie
 * value (empty when none was set). Returns the status. */
static int
get_with_cookie(int port, const char *path, const char *cookie, char *backend,
                size_t blen, char *set, size_t slen, struct h_response *keep)
{
    char raw[1024], v[512];
    struct h_response r;
    snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: t\r\n%s%s%s\r\n", path,
             cookie ? "Cookie: other=1; MAGS_SESSION=" : "", cookie ? cookie : "",
             cookie ? "; last=2\r\n" : "");
    assert_int_equal(h_request(port, raw, &r), 0);
    backend[0] = set[0] = '\0';
    if (h_header(&r, "X-Backend", v, sizeof(v)))
        snprintf(backend, blen, "%.63s", v);
    if (h_header(&r, "Set-Cookie", v, sizeof(v))) {
        assert_memory_equal(v, "MAGS_SESSION=", 13);
        int n = (int)strcspn(v + 13, ";");
        snprintf(set, slen, "%.*s", n > 120 ? 120 : n, v + 13);
        assert_non_null(strstr(v, "; Path=/; Max-Age=600; HttpOnly; SameSite=Lax"));
    }
    int status = r.status;
    if (keep != NULL)
        *keep = r;
    else
        h_response_fini(&r);
    return status;
}

static void
test_cookie_keeps_client_on_its_backend(void **state)
{
    (void)state;
    struct h_env env;
    char key[256], backend[64], first[64], cookie[128], set[128];

    start3(&env, key, sizeof(key));
    assert_int_equal(get_with_cookie(env.weir.port, "/", NULL, first, sizeof(first),
                                     cookie, sizeof(cookie), NULL), 200);
    assert_true(strlen(cookie) > 20);
    /* 100 requests with the cookie: all on the same backend, no re-issue. */
    for (int i = 0; i < 100; i++) {
        assert_int_equal(get_with_cookie(env.weir.port, "/", cookie, backend,
                                         sizeof(backend), set, sizeof(set), NULL), 200);
        assert_string_equal(backend, first);
        assert_string_equal(set, "");
    }
    /* The backend never sees the affinity cookie; the others pass. */
    struct h_response r;
    get_with_cookie(env.weir.port, "/?headers=1", cookie, backend, sizeof(backend),
                    set, sizeof(set), &r);
    assert_null(strstr(r.body, "MAGS_SESSION"));
    assert_non_null(strstr(r.body, "Cookie: other=1; last=2\r\n"));
    h_response_fini(&r);

    /* A tampered cookie is ignored: balanced normally and a new one set. */
    char forged[128];
    snprintf(forged, sizeof(forged), "%s", cookie);
    forged[5] = forged[5] == 'A' ? 'B' : 'A';
    assert_int_equal(get_with_cookie(env.weir.port, "/", forged, backend,
                                     sizeof(backend), set, sizeof(set), NULL), 200);
    assert_true(strlen(set) > 20);
    assert_string_not_equal(set, forged);

    /* Its backend dies: the next request goes elsewhere, with a new cookie
     * naming the new backend, which then sticks. */
    for (size_t i = 0; i < env.nbackends; i++)
        if (strcmp(env.backends[i].name, first) == 0)
            assert_int_equal(h_proc_stop(&env.backends[i], SIGTERM, 5000), 0);
    assert_int_equal(get_with_cookie(env.weir.port, "/", cookie, backend,
                                     sizeof(backend), set, sizeof(set), NULL), 200);
    assert_string_not_equal(backend, first);
    assert_true(strlen(set) > 20);
    char moved[64];
    snprintf(moved, sizeof(moved), "%s", backend);
    for (int i = 0; i < 10; i++) {
        get_with_cookie(env.weir.port, "/", set, backend, sizeof(backend), cookie,
                        sizeof(cookie), NULL);
        assert_string_equal(backend, moved);
    }
    assert_int_equal(h_proc_stop(&env.weir, SIGTERM, 10000), 0);
    h_env_fini(&env);
}

static void
test_two_instances_share_cookies_and_rotate_keys(void **state)
{
    (void)state;
    struct h_env a, b;
    char key[256], extra[1024], backend[64], first[64], cookie[128], set[128];

    start3(&a, key, sizeof(key));
    /* Instance B: the same backends under the same names, the same key. */
    h_env_init(&b);
    for (size_t i = 0; i < a.nbackends; i++)
        assert_int_equal(h_backend_add(&b, a.backends[i].name, a.backends[i].port), 0);
    affinity_yaml(extra, sizeof(extra), key, NULL);
    assert_int_equal(h_write_config(&b, extra), 0);
    assert_int_equal(h_weir_start(&b), 0);

    assert_int_equal(get_with_cookie(a.weir.port, "/", NULL, first, sizeof(first),
                                     cookie, sizeof(cookie), NULL), 200);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(get_with_cookie(b.weir.port, "/", cookie, backend,
                                         sizeof(backend), set, sizeof(set), NULL), 200);
        assert_string_equal(backend, first);
        assert_string_equal(set, "");
    }
    assert_int_equal(h_proc_stop(&b.weir, SIGTERM, 10000), 0);

    /* Rotation: B signs with a new key and still accepts the old one, so
     * the old cookie sticks and is re-issued under the new key. */
    char newkey[300];
    snprintf(newkey, sizeof(newkey), "%s/new.key", b.dir);
    write_key(newkey, 2);
    affinity_yaml(extra, sizeof(extra), newkey, key);
    assert_int_equal(h_write_config(&b, extra), 0);
    assert_int_equal(h_weir_start(&b), 0);
    assert_int_equal(get_with_cookie(b.weir.port, "/", cookie, backend,
                                     sizeof(backend), set, sizeof(set), NULL), 200);
    assert_string_equal(backend, first);
    assert_true(strlen(set) > 20);
    assert_string_not_equal(set, cookie);
    /* The re-issued cookie works on B but not on A (A lacks the new key). */
    char again[128];
    get_with_cookie(b.weir.port, "/", set, backend, sizeof(backend), again,
                    sizeof(again), NULL);
    assert_string_equal(backend, first);
    assert_string_equal(again, "");
    get_with_cookie(a.weir.port, "/", set, backend, sizeof(backend), again,
                    sizeof(again), NULL);
    assert_true(strlen(again) > 20); /* unknown to A: a fresh one */

    assert_int_equal(h_proc_stop(&b.weir, SIGTERM, 10000), 0);
    assert_int_equal(h_proc_stop(&a.weir, SIGTERM, 10000), 0);
    h_env_fini(&b);
    h_env_fini(&a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cookie_keeps_client_on_its_backend),
        cmocka_unit_test(test_two_instances_share_cookies_and_rotate_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
