/* Unit tests for admin authorisation: key lookup by role, the route table
 * (method + path -> role), the 401/403 verdicts, and loading key files
 * (newline stripping, empty, too long, unreadable, duplicate keys). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "weir/admin/admin_auth.h"
#include "weir/config/config.h"

static const char key_viewer[] = "view-3f9a1c";
static const char key_operator[] = "oper-77b2e0d4";
static const char key_admin[] = "admin-c0ffee-5a5a5a5a5a";

static struct admin_keys *
three_keys(void)
{
    struct admin_keys *ks = admin_keys_new();
    assert_non_null(ks);
    assert_int_equal(admin_keys_add(ks, key_viewer, strlen(key_viewer),
                                    ADMIN_ROLE_VIEWER), 0);
    assert_int_equal(admin_keys_add(ks, key_operator, strlen(key_operator),
                                    ADMIN_ROLE_OPERATOR), 0);
    assert_int_equal(admin_keys_add(ks, key_admin, strlen(key_admin),
                                    ADMIN_ROLE_ADMIN), 0);
    assert_int_equal(admin_keys_count(ks), 3);
    return ks;
}

static enum admin_role
lookup(const struct admin_keys *ks, const char *key)
{
    return admin_keys_lookup(ks, key, strlen(key));
}

static void
test_lookup(void **unused)
{
    struct admin_keys *ks = three_keys();

    assert_int_equal(lookup(ks, key_viewer), ADMIN_ROLE_VIEWER);
    assert_int_equal(lookup(ks, key_operator), ADMIN_ROLE_OPERATOR);
    assert_int_equal(lookup(ks, key_admin), ADMIN_ROLE_ADMIN);

    /* Near misses: prefix, extension, one byte changed, case. */
    assert_int_equal(lookup(ks, "admin-c0ffee-5a5a5a5a5"), ADMIN_ROLE_NONE);
    assert_int_equal(lookup(ks, "admin-c0ffee-5a5a5a5a5a5"), ADMIN_ROLE_NONE);
    assert_int_equal(lookup(ks, "admin-c0ffee-5a5a5a5a5b"), ADMIN_ROLE_NONE);
    assert_int_equal(lookup(ks, "ADMIN-c0ffee-5a5a5a5a5a"), ADMIN_ROLE_NONE);
    assert_int_equal(lookup(ks, "x"), ADMIN_ROLE_NONE);
    /* A key with an embedded NUL is compared over its full length. */
    assert_int_equal(admin_keys_lookup(ks, "view-3f9a1c\0", 12), ADMIN_ROLE_NONE);

    /* No key at all. */
    assert_int_equal(admin_keys_lookup(ks, NULL, 0), ADMIN_ROLE_NONE);
    assert_int_equal(admin_keys_lookup(ks, "", 0), ADMIN_ROLE_NONE);
    assert_int_equal(admin_keys_lookup(NULL, key_admin, strlen(key_admin)),
                     ADMIN_ROLE_NONE);

    /* A long presented key is fine (just not found). */
    char big[4096];
    memset(big, 'a', sizeof(big));
    assert_int_equal(admin_keys_lookup(ks, big, sizeof(big)), ADMIN_ROLE_NONE);
    admin_keys_free(ks);
    admin_keys_free(NULL);
    assert_int_equal(admin_keys_count(NULL), 0);
}

/* Many keys: whichever position the matching key has, it is found with
 * its role (every entry is folded in, none short-circuits). */
static void
test_many_keys(void **unused)
{
    struct admin_keys *ks = admin_keys_new();
    char key[32];

    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof(key), "key-%03d", i);
        assert_int_equal(admin_keys_add(ks, key, strlen(key),
                                        (enum admin_role)(1 + i % 3)), 0);
    }
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof(key), "key-%03d", i);
        assert_int_equal(lookup(ks, key), 1 + i % 3);
    }
    assert_int_equal(lookup(ks, "key-200"), ADMIN_ROLE_NONE);
    admin_keys_free(ks);

    /* Two sets hash differently (random HMAC key), yet agree on roles. */
    struct admin_keys *a = three_keys(), *b = three_keys();
    assert_int_equal(lookup(a, key_operator), lookup(b, key_operator));
    admin_keys_free(a);
    admin_keys_free(b);
}

static void
test_add_rejects(void **unused)
{
    struct admin_keys *ks = admin_keys_new();
    char big[ADMIN_KEY_MAX + 1];

    memset(big, 'k', sizeof(big));
    assert_int_equal(admin_keys_add(ks, "", 0, ADMIN_ROLE_ADMIN), -1);
    assert_int_equal(admin_keys_add(ks, big, ADMIN_KEY_MAX + 1,
                                    ADMIN_ROLE_ADMIN), -1);
    assert_int_equal(admin_keys_add(ks, "k", 1, ADMIN_ROLE_NONE), -1);
    assert_int_equal(admin_keys_add(ks, "k", 1, (enum admin_role)9), -1);
    assert_int_equal(admin_keys_count(ks), 0);

    assert_int_equal(admin_keys_add(ks, big, ADMIN_KEY_MAX, ADMIN_ROLE_ADMIN), 0);
    assert_int_equal(admin_keys_lookup(ks, big, ADMIN_KEY_MAX), ADMIN_ROLE_ADMIN);
    /* The same key again, even with another role: refused, set unchanged. */
    assert_int_equal(admin_keys_add(ks, big, ADMIN_KEY_MAX, ADMIN_ROLE_VIEWER), -1);
    assert_int_equal(admin_keys_count(ks), 1);
    assert_int_equal(admin_keys_lookup(ks, big, ADMIN_KEY_MAX), ADMIN_ROLE_ADMIN);
    admin_keys_free(ks);
}

static const struct {
    const char *method;
    const char *path;
    enum admin_role need;
} routes[] = {
    {"GET", "/health", ADMIN_ROLE_NONE},
    {"HEAD", "/health", ADMIN_ROLE_NONE},
    {"GET", "/health?verbose=1", ADMIN_ROLE_NONE},
    {"GET", "/status", ADMIN_ROLE_VIEWER},
    {"GET", "/metrics", ADMIN_ROLE_VIEWER},
    {"GET", "/", ADMIN_ROLE_NONE},   /* the status page holds no data */
    {"GET", "/health/", ADMIN_ROLE_VIEWER},
    {"GET", "/healthz", ADMIN_ROLE_VIEWER},
    {"GET", "/nonexistent", ADMIN_ROLE_VIEWER},
    {"GET", "/backends/agent-1/drain", ADMIN_ROLE_VIEWER},
    {"HEAD", "/status", ADMIN_ROLE_VIEWER},
    {"POST", "/backends/agent-1/drain", ADMIN_ROLE_OPERATOR},
    {"POST", "/backends/agent-1/enable", ADMIN_ROLE_OPERATOR},
    {"PUT", "/backends/agent-1/weight", ADMIN_ROLE_OPERATOR},
    {"DELETE", "/backends/agent-1/weight", ADMIN_ROLE_OPERATOR},
    {"POST", "/backends/a/drain?x=1", ADMIN_ROLE_OPERATOR},
    {"POST", "/reload", ADMIN_ROLE_ADMIN},
    {"POST", "/reload?now", ADMIN_ROLE_ADMIN},
    /* Not in the table: admin-only (fail closed). */
    {"PUT", "/backends/agent-1/drain", ADMIN_ROLE_ADMIN},
    {"POST", "/backends/agent-1/weight", ADMIN_ROLE_ADMIN},
    {"DELETE", "/backends/agent-1", ADMIN_ROLE_ADMIN},
    {"POST", "/backends//drain", ADMIN_ROLE_ADMIN},
    {"POST", "/backends/agent-1/drain/", ADMIN_ROLE_ADMIN},
    {"POST", "/backends/a/b/drain", ADMIN_ROLE_ADMIN},
    {"POST", "/backends/agent-1/drainx", ADMIN_ROLE_ADMIN},
    {"POST", "/backends/agent-1", ADMIN_ROLE_ADMIN},
    {"POST", "/backends/", ADMIN_ROLE_ADMIN},
    {"POST", "/status", ADMIN_ROLE_ADMIN},
    {"POST", "/health", ADMIN_ROLE_ADMIN},
    {"post", "/reload", ADMIN_ROLE_ADMIN},
    {"get", "/health", ADMIN_ROLE_ADMIN},
    {"PUT", "/reload", ADMIN_ROLE_ADMIN},
    {"OPTIONS", "*", ADMIN_ROLE_ADMIN},
};

static void
test_required_role(void **unused)
{
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        enum admin_role got = admin_auth_required(routes[i].method, routes[i].path,
                                                  strlen(routes[i].path));
        if (got != routes[i].need)
            fail_msg("%s %s: got %s want %s", routes[i].method, routes[i].path,
                     admin_role_name(got), admin_role_name(routes[i].need));
    }
    /* PATH_LEN bounds the path: bytes after it are not looked at. */
    assert_int_equal(admin_auth_required("GET", "/healthXYZ", 7), ADMIN_ROLE_NONE);
    assert_int_equal(admin_auth_required("POST", "/reloaded", 7), ADMIN_ROLE_ADMIN);
    assert_int_equal(admin_auth_required("POST", "/backends/x/enable!", 18),
                     ADMIN_ROLE_OPERATOR);
}

static void
test_check(void **unused)
{
    struct admin_keys *ks = three_keys();
    static const struct {
        const char *key;         /* NULL: no X-API-Key header */
        const char *method, *path;
        enum admin_auth_result want;
    } cases[] = {
        {NULL, "GET", "/health", ADMIN_AUTH_OK},
        {"wrong", "GET", "/health", ADMIN_AUTH_OK},
        {NULL, "GET", "/status", ADMIN_AUTH_UNAUTHORIZED},
        {"wrong", "GET", "/status", ADMIN_AUTH_UNAUTHORIZED},
        {"", "GET", "/status", ADMIN_AUTH_UNAUTHORIZED},
        {key_viewer, "GET", "/status", ADMIN_AUTH_OK},
        {key_viewer, "POST", "/backends/a/drain", ADMIN_AUTH_FORBIDDEN},
        {key_viewer, "PUT", "/backends/a/weight", ADMIN_AUTH_FORBIDDEN},
        {key_viewer, "POST", "/reload", ADMIN_AUTH_FORBIDDEN},
        {key_operator, "GET", "/metrics", ADMIN_AUTH_OK},
        {key_operator, "POST", "/backends/a/drain", ADMIN_AUTH_OK},
        {key_operator, "POST", "/backends/a/enable", ADMIN_AUTH_OK},
        {key_operator, "PUT", "/backends/a/weight", ADMIN_AUTH_OK},
        {key_operator, "POST", "/reload", ADMIN_AUTH_FORBIDDEN},
        {key_operator, "DELETE", "/status", ADMIN_AUTH_FORBIDDEN},
        {key_admin, "GET", "/status", ADMIN_AUTH_OK},
        {key_admin, "POST", "/backends/a/drain", ADMIN_AUTH_OK},
        {key_admin, "POST", "/reload", ADMIN_AUTH_OK},
        {key_admin, "DELETE", "/status", ADMIN_AUTH_OK},
        {NULL, "POST", "/reload", ADMIN_AUTH_UNAUTHORIZED},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *k = cases[i].key;
        enum admin_auth_result got =
            admin_auth_check(ks, cases[i].method, cases[i].path,
                             strlen(cases[i].path), k, k ? strlen(k) : 0);
        if (got != cases[i].want)
            fail_msg("case %zu (%s %s): got %d want %d", i, cases[i].method,
                     cases[i].path, (int)got, (int)cases[i].want);
    }
    /* Without any configured key, only /health passes. */
    assert_int_equal(admin_auth_check(NULL, "GET", "/status", 7, "k", 1),
                     ADMIN_AUTH_UNAUTHORIZED);
    assert_int_equal(admin_auth_check(NULL, "GET", "/health", 7, NULL, 0),
                     ADMIN_AUTH_OK);
    admin_keys_free(ks);
}

static void
test_role_names(void **unused)
{
    assert_string_equal(admin_role_name(ADMIN_ROLE_NONE), "none");
    assert_string_equal(admin_role_name(ADMIN_ROLE_VIEWER), "viewer");
    assert_string_equal(admin_role_name(ADMIN_ROLE_OPERATOR), "operator");
    assert_string_equal(admin_role_name(ADMIN_ROLE_ADMIN), "admin");
    assert_true(ADMIN_ROLE_VIEWER < ADMIN_ROLE_OPERATOR);
    assert_true(ADMIN_ROLE_OPERATOR < ADMIN_ROLE_ADMIN);
}

/* ---- key files ---- */

struct keydir {
    char dir[64];
    char paths[8][128];
    struct cfg_api_key keys[8];
    struct cfg_admin admin;
};

static int
keydir_setup(void **state)
{
    struct keydir *kd = calloc(1, sizeof(*kd));
    strcpy(kd->dir, "/tmp/weir-test-auth-XXXXXX");
    assert_non_null(mkdtemp(kd->dir));
    kd->admin.api_keys = kd->keys;
    *state = kd;
    return 0;
}

static int
keydir_teardown(void **state)
{
    struct keydir *kd = *state;
    for (size_t i = 0; i < 8; i++)
        if (kd->paths[i][0] != '\0')
            unlink(kd->paths[i]);
    rmdir(kd->dir);
    free(kd);
    return 0;
}

/* Write file I with LEN bytes of DATA and configure it with ROLE; the
 * number of configured keys becomes I + 1. */
static const char *
keyfile(struct keydir *kd, size_t i, const void *data, size_t len,
        enum cfg_role role)
{
    char path[sizeof(kd->paths[0])];
    assert_true(i < 8);
    snprintf(path, sizeof(path), "%s/key%zu", kd->dir, i);
    memcpy(kd->paths[i], path, sizeof(path));
    FILE *f = fopen(kd->paths[i], "w");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    kd->keys[i].key_file = kd->paths[i];
    kd->keys[i].role = role;
    kd->admin.napi_keys = i + 1;
    return kd->paths[i];
}

static void
test_load_ok(void **state)
{
    struct keydir *kd = *state;
    char err[256] = "";

    keyfile(kd, 0, "view-key\n", 9, CFG_ROLE_VIEWER);
    keyfile(kd, 1, "oper-key\r\n", 10, CFG_ROLE_OPERATOR);
    keyfile(kd, 2, "admin-key", 9, CFG_ROLE_ADMIN);      /* no newline */
    keyfile(kd, 3, "with inner space", 16, CFG_ROLE_VIEWER);
    struct admin_keys *ks = admin_keys_load(&kd->admin, err, sizeof(err));
    if (ks == NULL)
        fail_msg("%s", err);
    assert_int_equal(admin_keys_count(ks), 4);
    assert_int_equal(lookup(ks, "view-key"), ADMIN_ROLE_VIEWER);
    assert_int_equal(lookup(ks, "oper-key"), ADMIN_ROLE_OPERATOR);
    assert_int_equal(lookup(ks, "admin-key"), ADMIN_ROLE_ADMIN);
    assert_int_equal(lookup(ks, "with inner space"), ADMIN_ROLE_VIEWER);
    assert_int_equal(lookup(ks, "view-key\n"), ADMIN_ROLE_NONE);
    assert_int_equal(lookup(ks, "oper-key\r"), ADMIN_ROLE_NONE);
    admin_keys_free(ks);

    /* No keys configured: an empty set. */
    kd->admin.napi_keys = 0;
    ks = admin_keys_load(&kd->admin, err, sizeof(err));
    assert_non_null(ks);
    assert_int_equal(admin_keys_count(ks), 0);
    admin_keys_free(ks);
}

static void
test_load_limits(void **state)
{
    struct keydir *kd = *state;
    char err[256];
    char big[ADMIN_KEY_MAX + 2];

    /* Exactly ADMIN_KEY_MAX bytes, with and without "\r\n": accepted. */
    memset(big, 'k', sizeof(big));
    big[ADMIN_KEY_MAX] = '\r';
    big[ADMIN_KEY_MAX + 1] = '\n';
    keyfile(kd, 0, big, ADMIN_KEY_MAX + 2, CFG_ROLE_ADMIN);
    struct admin_keys *ks = admin_keys_load(&kd->admin, err, sizeof(err));
    assert_non_null(ks);
    assert_int_equal(admin_keys_lookup(ks, big, ADMIN_KEY_MAX), ADMIN_ROLE_ADMIN);
    admin_keys_free(ks);

    /* One byte more: rejected, naming the file. */
    memset(big, 'k', sizeof(big));
    const char *path = keyfile(kd, 0, big, ADMIN_KEY_MAX + 1, CFG_ROLE_ADMIN);
    assert_null(admin_keys_load(&kd->admin, err, sizeof(err)));
    char want[256];
    snprintf(want, sizeof(want), "%s: the API key is longer than 1024 bytes", path);
    assert_string_equal(err, want);

    /* A large file is refused without reading it all. */
    char *huge = malloc(1 << 20);
    memset(huge, 'h', 1 << 20);
    keyfile(kd, 0, huge, 1 << 20, CFG_ROLE_ADMIN);
    free(huge);
    assert_null(admin_keys_load(&kd->admin, err, sizeof(err)));
    assert_non_null(strstr(err, "longer than 1024 bytes"));
}

static void
test_load_errors(void **state)
{
    struct keydir *kd = *state;
    static const struct {
        const char *data;
        size_t len;
        const char *reason;
    } bad[] = {
        {"", 0, "the API key is empty"},
        {"\n", 1, "the API key is empty"},
        {"\r\n", 2, "the API key is empty"},
        {"key\n\n", 5, "contains a control character"},
        {"key-one\nkey-two\n", 16, "contains a control character"},
        {"ke\0y", 4, "contains a control character"},
        {"key\x7f", 4, "contains a control character"},
        {" key\n", 5, "starts or ends with a blank"},
        {"key \n", 5, "starts or ends with a blank"},
        {"\tkey", 4, "starts or ends with a blank"},
    };
    char err[256];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *path = keyfile(kd, 0, bad[i].data, bad[i].len, CFG_ROLE_VIEWER);
        err[0] = '\0';
        assert_null(admin_keys_load(&kd->admin, err, sizeof(err)));
        if (strncmp(err, path, strlen(path)) != 0 || strstr(err, bad[i].reason) == NULL)
            fail_msg("case %zu: %s", i, err);
        /* The message never contains the key itself. */
        if (bad[i].len > 3)
            assert_null(strstr(err, "key-one"));
    }

    /* Unreadable: a missing file, and a directory. */
    keyfile(kd, 0, "ok-key", 6, CFG_ROLE_VIEWER);
    char missing[sizeof(kd->paths[1])];
    snprintf(missing, sizeof(missing), "%s/missing", kd->dir);
    memcpy(kd->paths[1], missing, sizeof(missing));
    kd->keys[1].key_file = kd->paths[1];
    kd->admin.napi_keys = 2;
    assert_null(admin_keys_load(&kd->admin, err, sizeof(err)));
    assert_non_null(strstr(err, "/missing: cannot open API key file: No such file"));
    kd->paths[1][0] = '\0';
    kd->keys[1].key_file = kd->dir;
    assert_null(admin_keys_load(&kd->admin, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot read API key file"));

    /* The same key in two files, even with different roles. */
    keyfile(kd, 0, "same-key\n", 9, CFG_ROLE_VIEWER);
    const char *second = keyfile(kd, 1, "same-key", 8, CFG_ROLE_ADMIN);
    assert_null(admin_keys_load(&kd->admin, err, sizeof(err)));
    char want[256];
    snprintf(want, sizeof(want), "%s: the same API key is in another key_file",
             second);
    assert_string_equal(err, want);

    /* A NULL or short error buffer is fine. */
    assert_null(admin_keys_load(&kd->admin, NULL, 0));
    assert_null(admin_keys_load(&kd->admin, err, 4));
    assert_int_equal(strlen(err), 3);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_many_keys),
        cmocka_unit_test(test_add_rejects),
        cmocka_unit_test(test_required_role),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_role_names),
        cmocka_unit_test_setup_teardown(test_load_ok, keydir_setup, keydir_teardown),
        cmocka_unit_test_setup_teardown(test_load_limits, keydir_setup,
                                        keydir_teardown),
        cmocka_unit_test_setup_teardown(test_load_errors, keydir_setup,
                                        keydir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
