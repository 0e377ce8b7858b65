/* Unit tests for tls_check_cert() and tls_check_pair() on the real test
 * certificates of tests/data/config/files: good pairs of every kind, each
 * failure blamed on the right file with its message, dates against a
 * given "now", and an empty OpenSSL error queue afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weir/config/tls_check.h"
#include "weir/util/defs.h"

#define FILES WEIR_TEST_DATA "/config/files/"

/* Inside every long-lived test certificate's validity, and future.crt's. */
#define T_2100_06_01 ((time_t)4115491200)
#define T_2050_01_01 ((time_t)2524608000)
#define T_2000_06_01 ((time_t)959817600)
#define T_1999_01_01 ((time_t)915148800)

static char err[TLS_CHECK_ERR_MAX];

/* ERR must contain WANT; the OpenSSL queue must be empty. */
static void
assert_err_has(const char *want)
{
    if (strstr(err, want) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", err, want);
    assert_int_equal(ERR_peek_error(), 0);
}

static void
test_good_pairs(void **state)
{
    static const struct {
        const char *cert, *key;
        time_t now;
    } cases[] = {
        {FILES "server-a.crt", FILES "server-a.key", T_2100_06_01},
        {FILES "server-a-rsa.crt", FILES "server-a-rsa.key", T_2100_06_01},
        {FILES "server-b.crt", FILES "server-b.key", T_2100_06_01},
        {FILES "server-c.crt", FILES "server-c.key", T_2100_06_01},
        /* A chain file: the leaf comes first and is the one checked. */
        {FILES "chain.crt", FILES "chain.key", T_2100_06_01},
        {FILES "future.crt", FILES "future.key", T_2100_06_01},
        {FILES "expired.crt", FILES "expired.key", T_2000_06_01},
    };
    (void)state;

    for (size_t i = 0; i < nitems(cases); i++) {
        err[0] = '\0';
        if (tls_check_pair(cases[i].cert, cases[i].key, cases[i].now, err,
                           sizeof(err)) != 0)
            fail_msg("%s: %s", cases[i].cert, err);
        assert_int_equal(tls_check_cert(cases[i].cert, cases[i].now, err,
                                        sizeof(err)), 0);
        assert_int_equal(ERR_peek_error(), 0);
    }
    /* The real clock: the fixtures are valid for a century. */
    assert_int_equal(tls_check_pair(FILES "server-a.crt", FILES "server-a.key",
                                     time(NULL), err, sizeof(err)), 0);
}

static void
test_dates(void **state)
{
    (void)state;

    assert_int_equal(tls_check_pair(FILES "expired.crt", FILES "expired.key",
                                     T_2050_01_01, err, sizeof(err)),
                     TLS_CHECK_CERT);
    assert_string_equal(err, "certificate \"" FILES "expired.crt\" expired "
                             "on 2001-01-01 00:00:00 UTC");
    assert_int_equal(ERR_peek_error(), 0);
    assert_int_equal(tls_check_cert(FILES "future.crt", T_2050_01_01, err,
                                    sizeof(err)), TLS_CHECK_CERT);
    assert_string_equal(err, "certificate \"" FILES "future.crt\" is not "
                             "valid before 2100-01-01 00:00:00 UTC");
    /* The first second after notAfter, and notAfter itself. */
    assert_int_equal(tls_check_cert(FILES "expired.crt", (time_t)978307201,
                                    err, sizeof(err)), TLS_CHECK_CERT);
    assert_int_equal(tls_check_cert(FILES "expired.crt", (time_t)978307199,
                                    err, sizeof(err)), 0);
    /* Before any of the generated certificates existed. */
    assert_int_equal(tls_check_cert(FILES "server-a.crt", T_1999_01_01, err,
                                    sizeof(err)), TLS_CHECK_CERT);
    assert_err_has("is not valid before 20");
}

static void
test_cert_failures(void **state)
{
    (void)state;

    assert_int_equal(tls_check_pair("/nonexistent/x.crt", FILES "server-a.key",
                                     T_2100_06_01, err, sizeof(err)),
                     TLS_CHECK_CERT);
    assert_string_equal(err, "cannot read certificate \"/nonexistent/x.crt\": "
                             "No such file or directory");
    assert_int_equal(tls_check_pair(FILES "affinity.secret",
                                     FILES "server-a.key", T_2100_06_01, err,
                                     sizeof(err)), TLS_CHECK_CERT);
    assert_string_equal(err, "\"" FILES "affinity.secret\" is not a PEM "
                             "certificate (no start line)");
    assert_int_equal(ERR_peek_error(), 0);
    /* A key is not a certificate. */
    assert_int_equal(tls_check_cert(FILES "server-a.key", T_2100_06_01, err,
                                    sizeof(err)), TLS_CHECK_CERT);
    assert_err_has("is not a PEM certificate");
    assert_int_equal(tls_check_pair(FILES "weak.crt", FILES "weak.key",
                                     T_2100_06_01, err, sizeof(err)),
                     TLS_CHECK_CERT);
    assert_string_equal(err, "certificate \"" FILES "weak.crt\" has a "
                             "1024-bit RSA key (at least 2048 bits are "
                             "required)");
    /* A directory reads as no PEM data. */
    assert_int_equal(tls_check_cert(FILES, T_2100_06_01, err, sizeof(err)),
                     TLS_CHECK_CERT);
    assert_int_equal(ERR_peek_error(), 0);
}

static void
test_key_failures(void **state)
{
    (void)state;

    assert_int_equal(tls_check_pair(FILES "server-a.crt", "/nonexistent/x.key",
                                     T_2100_06_01, err, sizeof(err)),
                     TLS_CHECK_KEY);
    assert_string_equal(err, "cannot read private key \"/nonexistent/x.key\": "
                             "No such file or directory");
    assert_int_equal(tls_check_pair(FILES "server-a.crt",
                                     FILES "affinity.secret", T_2100_06_01,
                                     err, sizeof(err)), TLS_CHECK_KEY);
    assert_err_has("is not a PEM private key");
    assert_int_equal(tls_check_pair(FILES "server-a.crt", FILES "server-a.crt",
                                     T_2100_06_01, err, sizeof(err)),
                     TLS_CHECK_KEY);
    assert_err_has("is not a PEM private key");
    assert_int_equal(tls_check_pair(FILES "server-c.crt",
                                     FILES "encrypted.key", T_2100_06_01, err,
                                     sizeof(err)), TLS_CHECK_KEY);
    assert_string_equal(err, "private key \"" FILES "encrypted.key\" is "
                             "encrypted (weir does not support passphrases)");
    assert_int_equal(ERR_peek_error(), 0);
}

static void
test_mismatch(void **state)
{
    static const char *const pairs[][2] = {
        {FILES "server-a.crt", FILES "server-b.key"},     /* EC vs RSA */
        {FILES "server-a.crt", FILES "server-c.key"},     /* two EC keys */
        {FILES "server-b.crt", FILES "server-a-rsa.key"}, /* two RSA keys */
        {FILES "chain.crt", FILES "server-a.key"},
    };
    (void)state;

    for (size_t i = 0; i < nitems(pairs); i++) {
        assert_int_equal(tls_check_pair(pairs[i][0], pairs[i][1],
                                         T_2100_06_01, err, sizeof(err)),
                         TLS_CHECK_KEY);
        assert_err_has("does not match certificate");
    }
    assert_string_equal(err, "private key \"" FILES "server-a.key\" does not "
                             "match certificate \"" FILES "chain.crt\"");
    /* An expired certificate is reported before its key is looked at. */
    assert_int_equal(tls_check_pair(FILES "expired.crt", FILES "server-b.key",
                                     T_2100_06_01, err, sizeof(err)),
                     TLS_CHECK_CERT);
}

/* Certificate and key in one file: each reader finds its own block. */
static void
test_combined_file(void **state)
{
    char path[] = "/tmp/weir-tls-check-XXXXXX";
    const char *parts[] = {FILES "server-b.key", FILES "server-b.crt"};
    int fd = mkstemp(path);
    FILE *out;
    (void)state;

    assert_true(fd != -1);
    out = fdopen(fd, "w");
    assert_non_null(out);
    for (size_t i = 0; i < nitems(parts); i++) {
        FILE *in = fopen(parts[i], "r");
        char buf[4096];
        size_t n;

        assert_non_null(in);
        while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
            assert_int_equal(fwrite(buf, 1, n, out), n);
        fclose(in);
    }
    fclose(out);
    assert_int_equal(tls_check_pair(path, path, T_2100_06_01, err,
                                    sizeof(err)), 0);
    unlink(path);
}

static void
test_messages_are_safe(void **state)
{
    char small[24];
    (void)state;

    /* Control characters in a path are not echoed. */
    assert_int_equal(tls_check_cert("/nonexistent/a\nb\x1b.crt", T_2100_06_01,
                                    err, sizeof(err)), TLS_CHECK_CERT);
    assert_string_equal(err, "cannot read certificate "
                             "\"/nonexistent/a?b?.crt\": No such file or "
                             "directory");
    /* A short buffer is cut, still terminated. */
    memset(small, 'x', sizeof(small));
    assert_int_equal(tls_check_pair(FILES "server-a.crt", FILES "server-b.key",
                                     T_2100_06_01, small, sizeof(small)),
                     TLS_CHECK_KEY);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_int_equal(ERR_peek_error(), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_pairs),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_cert_failures),
        cmocka_unit_test(test_key_failures),
        cmocka_unit_test(test_mismatch),
        cmocka_unit_test(test_combined_file),
        cmocka_unit_test(test_messages_are_safe),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
