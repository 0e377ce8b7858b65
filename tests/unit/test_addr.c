/* Unit tests for addr_parse(), addr_format(), addr_format_host(),
 * addr_port() and addr_equal(): IPv4 and bracketed IPv6 round trips, and
 * a table of refused inputs with their exact messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include "weir/util/addr.h"
#include "weir/util/defs.h"

static void
test_parse_ok(void **state)
{
    static const struct {
        const char *text;
        int family;
        int port;
        const char *formatted; /* canonical text */
        const char *host;
    } cases[] = {
        {"127.0.0.1:8080", AF_INET, 8080, "127.0.0.1:8080", "127.0.0.1"},
        {"0.0.0.0:0", AF_INET, 0, "0.0.0.0:0", "0.0.0.0"},
        {"255.255.255.255:65535", AF_INET, 65535, "255.255.255.255:65535",
         "255.255.255.255"},
        {"10.1.2.3:00080", AF_INET, 80, "10.1.2.3:80", "10.1.2.3"},
        {"[::1]:80", AF_INET6, 80, "[::1]:80", "::1"},
        {"[::]:0", AF_INET6, 0, "[::]:0", "::"},
        {"[2001:DB8:0:0:0:0:0:1]:443", AF_INET6, 443, "[2001:db8::1]:443",
         "2001:db8::1"},
        {"[::ffff:1.2.3.4]:8443", AF_INET6, 8443, "[::ffff:1.2.3.4]:8443",
         "::ffff:1.2.3.4"},
        {"[fe80::1]:65535", AF_INET6, 65535, "[fe80::1]:65535", "fe80::1"},
    };
    (void)state;

    for (size_t i = 0; i < nitems(cases); i++) {
        struct sockaddr_storage ss;
        socklen_t len = 0;
        char err[128] = "", out[ADDR_TEXT_MAX], host[ADDR_TEXT_MAX];

        if (addr_parse(cases[i].text, &ss, &len, err, sizeof(err)) != 0)
            fail_msg("\"%s\" refused: %s", cases[i].text, err);
        assert_int_equal(ss.ss_family, cases[i].family);
        assert_int_equal(len, cases[i].family == AF_INET ?
                              sizeof(struct sockaddr_in) :
                              sizeof(struct sockaddr_in6));
        assert_int_equal(addr_port((struct sockaddr *)&ss), cases[i].port);
        assert_int_equal(addr_format((struct sockaddr *)&ss, out,
                                     sizeof(out)), 0);
        assert_string_equal(out, cases[i].formatted);
        assert_int_equal(addr_format_host((struct sockaddr *)&ss, host,
                                          sizeof(host)), 0);
        assert_string_equal(host, cases[i].host);
    }
}

static void
test_parse_fields(void **state)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    struct in6_addr loop6 = IN6ADDR_LOOPBACK_INIT;
    socklen_t len;
    (void)state;

    assert_int_equal(addr_parse("1.2.3.4:258", &ss, &len, NULL, 0), 0);
    assert_int_equal(sin->sin_port, htons(258));
    assert_int_equal(sin->sin_addr.s_addr, htonl(0x01020304));
    assert_int_equal(addr_parse("[::1]:258", &ss, &len, NULL, 0), 0);
    assert_int_equal(sin6->sin6_port, htons(258));
    assert_memory_equal(&sin6->sin6_addr, &loop6, sizeof(loop6));
    assert_int_equal(sin6->sin6_scope_id, 0);
    assert_int_equal(sin6->sin6_flowinfo, 0);
}

static void
test_parse_rejects(void **state)
{
    static const struct {
        const char *text;
        const char *err;
    } cases[] = {
        {"", "empty address"},
        {"127.0.0.1", "missing port in \"127.0.0.1\" (expected HOST:PORT)"},
        {"localhost:80", "\"localhost:80\" is not a numeric IPv4 address "
                         "(host names are not resolved)"},
        {"example.com:443", "\"example.com:443\" is not a numeric IPv4 "
                            "address (host names are not resolved)"},
        {"::1:80", "IPv6 address \"::1:80\" must be in brackets, as in "
                   "[::1]:80"},
        {"::1", "IPv6 address \"::1\" must be in brackets, as in [::1]:80"},
        {"[::1]", "missing port after ']' in \"[::1]\""},
        {"[::1]80", "missing port after ']' in \"[::1]80\""},
        {"[::1:80", "missing ']' in \"[::1:80\""},
        {"[]:80", "\"[]:80\" is not a numeric IPv6 address"},
        {"[1.2.3.4]:80", "\"[1.2.3.4]:80\" is not a numeric IPv6 address"},
        {"[fe80::1%eth0]:80", "\"[fe80::1%eth0]:80\" is not a numeric IPv6 "
                              "address"},
        {"[::g]:80", "\"[::g]:80\" is not a numeric IPv6 address"},
        {"1.2.3.4:65536", "invalid port in \"1.2.3.4:65536\" (expected "
                          "0..65535)"},
        {"1.2.3.4:123456", "invalid port in \"1.2.3.4:123456\" (expected "
                           "0..65535)"},
        {"1.2.3.4:", "invalid port in \"1.2.3.4:\" (expected 0..65535)"},
        {"1.2.3.4:-1", "invalid port in \"1.2.3.4:-1\" (expected 0..65535)"},
        {"1.2.3.4:+80", "invalid port in \"1.2.3.4:+80\" (expected "
                        "0..65535)"},
        {"1.2.3.4:8o", "invalid port in \"1.2.3.4:8o\" (expected 0..65535)"},
        {"1.2.3.4: 80", "invalid port in \"1.2.3.4: 80\" (expected "
                        "0..65535)"},
        {"[::1]:99999", "invalid port in \"[::1]:99999\" (expected "
                        "0..65535)"},
        {":80", "\":80\" is not a numeric IPv4 address (host names are not "
                "resolved)"},
        {" 1.2.3.4:80", "\" 1.2.3.4:80\" is not a numeric IPv4 address "
                        "(host names are not resolved)"},
        {"1.2.3:80", "\"1.2.3:80\" is not a numeric IPv4 address (host "
                     "names are not resolved)"},
        {"01.2.3.4:80", "\"01.2.3.4:80\" is not a numeric IPv4 address "
                        "(host names are not resolved)"},
        {"256.0.0.1:80", "\"256.0.0.1:80\" is not a numeric IPv4 address "
                         "(host names are not resolved)"},
        {"*:80", "\"*:80\" is not a numeric IPv4 address (host names are "
                 "not resolved)"},
    };
    (void)state;

    for (size_t i = 0; i < nitems(cases); i++) {
        struct sockaddr_storage ss;
        socklen_t len;
        char err[128] = "";

        if (addr_parse(cases[i].text, &ss, &len, err, sizeof(err)) != -1)
            fail_msg("\"%s\" was accepted", cases[i].text);
        assert_string_equal(err, cases[i].err);
        /* ERR is optional. */
        assert_int_equal(addr_parse(cases[i].text, &ss, &len, NULL, 0), -1);
    }
}

static void
test_long_input(void **state)
{
    char text[300], err[64];
    struct sockaddr_storage ss;
    socklen_t len;
    (void)state;

    /* A host part longer than any address, and an error buffer too small
     * for the message: refused, message cut but terminated. */
    memset(text, '1', sizeof(text));
    text[0] = '[';
    memcpy(text + 200, "]:80", 5);
    assert_int_equal(addr_parse(text, &ss, &len, err, sizeof(err)), -1);
    assert_int_equal(strlen(err), sizeof(err) - 1);
    memset(text, '1', sizeof(text));
    memcpy(text + 250, ":80", 4);
    assert_int_equal(addr_parse(text, &ss, &len, err, sizeof(err)), -1);
}

static void
test_format_errors(void **state)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX, .sun_path = "/tmp/s"};
    struct sockaddr_storage ss;
    socklen_t len;
    char out[ADDR_TEXT_MAX], small[8];
    (void)state;

    strcpy(out, "junk");
    assert_int_equal(addr_format((struct sockaddr *)&sun, out, sizeof(out)),
                     -1);
    assert_string_equal(out, "");
    strcpy(out, "junk");
    assert_int_equal(addr_format_host((struct sockaddr *)&sun, out,
                                      sizeof(out)), -1);
    assert_string_equal(out, "");
    assert_int_equal(addr_port((struct sockaddr *)&sun), -1);

    assert_int_equal(addr_parse("[2001:db8::1]:443", &ss, &len, NULL, 0), 0);
    assert_int_equal(addr_format((struct sockaddr *)&ss, small,
                                 sizeof(small)), -1);
    assert_string_equal(small, "");
    assert_int_equal(addr_format_host((struct sockaddr *)&ss, small,
                                      sizeof(small)), -1);
    assert_string_equal(small, "");
    assert_int_equal(addr_parse("1.2.3.4:80", &ss, &len, NULL, 0), 0);
    /* "1.2.3.4:80" needs 11 bytes with the NUL. */
    assert_int_equal(addr_format((struct sockaddr *)&ss, out, 10), -1);
    assert_int_equal(addr_format((struct sockaddr *)&ss, out, 11), 0);
    assert_string_equal(out, "1.2.3.4:80");
}

static void
test_equal(void **state)
{
    static const struct {
        const char *a, *b;
        bool equal;
    } cases[] = {
        {"1.2.3.4:80", "1.2.3.4:80", true},
        {"1.2.3.4:80", "1.2.3.4:81", false},
        {"1.2.3.4:80", "1.2.3.5:80", false},
        {"[::1]:80", "[0:0::1]:80", true},
        {"[::1]:80", "[::2]:80", false},
        {"[::1]:80", "[::1]:8080", false},
        {"[::ffff:1.2.3.4]:80", "1.2.3.4:80", false},
        {"0.0.0.0:80", "[::]:80", false},
    };
    (void)state;

    for (size_t i = 0; i < nitems(cases); i++) {
        struct sockaddr_storage a, b;
        socklen_t len;

        assert_int_equal(addr_parse(cases[i].a, &a, &len, NULL, 0), 0);
        assert_int_equal(addr_parse(cases[i].b, &b, &len, NULL, 0), 0);
        if (addr_equal((struct sockaddr *)&a, (struct sockaddr *)&b) !=
            cases[i].equal)
            fail_msg("addr_equal(%s, %s) != %d", cases[i].a, cases[i].b,
                     cases[i].equal);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_parse_fields),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_long_input),
        cmocka_unit_test(test_format_errors),
        cmocka_unit_test(test_equal),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
