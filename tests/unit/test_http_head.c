/* Unit tests for the strict head checks (issue 9, item 1 for requests and
 * item 2 for responses). The core is a table of raw heads and the exact
 * status each must get (0 = accepted); the rest checks the spans and flags
 * of accepted heads, http_head_find_end and the hop-by-hop rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "weir/http/http_head.h"

struct vec {
    const char *why;
    const char *raw;
    size_t len;         /* literals may hold NUL */
    int status;         /* 0 = accepted */
};

#define V(why, raw, status) {why, raw, sizeof(raw) - 1, status}
#define H11 "GET / HTTP/1.1\r\nHost: a\r\n"

static const struct vec request_vecs[] = {
    /* accepted */
    V("minimal 1.1", H11 "\r\n", 0),
    V("1.0 without Host is fine", "GET / HTTP/1.0\r\n\r\n", 0),
    V("1.0 with a Host", "GET / HTTP/1.0\r\nHost: a\r\n\r\n", 0),
    V("lower-case method is a token", "get / HTTP/1.1\r\nHost: a\r\n\r\n", 0),
    V("method with tchar symbols", "M-SEARCH * HTTP/1.1\r\nHost: a\r\n\r\n", 0),
    V("lower-case connect is not CONNECT", "connect a:1 HTTP/1.1\r\nHost: a\r\n\r\n", 0),
    V("asterisk form", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 0),
    V("absolute form", "GET http://a/b?c=d#e HTTP/1.1\r\nHost: a\r\n\r\n", 0),
    V("empty value", H11 "X-E:\r\n\r\n", 0),
    V("OWS-only value", H11 "X-E: \t \r\n\r\n", 0),
    V("HTAB inside a value", H11 "X: a\tb\r\n\r\n", 0),
    V("obs-text in a value", H11 "X: caf\xc3\xa9\r\n\r\n", 0),
    V("tchar symbols in a name", H11 "X!#$%&'*+-.^_`|~0: v\r\n\r\n", 0),
    V("Content-Length", H11 "Content-Length: 5\r\n\r\n", 0),
    V("Content-Length 0", H11 "Content-Length: 0\r\n\r\n", 0),
    V("Content-Length with OWS", H11 "Content-Length: \t5 \t\r\n\r\n", 0),
    V("identical duplicate Content-Length",
      H11 "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", 0),
    V("identical Content-Length list", H11 "Content-Length: 5, 5\r\n\r\n", 0),
    V("Content-Length leading zeros", H11 "Content-Length: 007\r\n\r\n", 0),
    V("largest Content-Length",
      H11 "Content-Length: 18446744073709551609\r\n\r\n", 0),
    V("chunked", H11 "Transfer-Encoding: chunked\r\n\r\n", 0),
    V("chunked any case", H11 "Transfer-Encoding: ChUnKeD\r\n\r\n", 0),
    V("empty list elements around chunked",
      H11 "Transfer-Encoding: , chunked ,\r\n\r\n", 0),
    V("Host with port", "GET / HTTP/1.1\r\nHost: a.example:8080\r\n\r\n", 0),
    V("Host IPv4", "GET / HTTP/1.1\r\nHost: 127.0.0.1:80\r\n\r\n", 0),
    V("Host IPv6 literal", "GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n", 0),
    V("Host IPv6 literal and port", "GET / HTTP/1.1\r\nHost: [fe80::1]:8443\r\n\r\n", 0),
    V("Host sub-delims", "GET / HTTP/1.1\r\nHost: a-b_c~d!$&'()*+,;=\r\n\r\n", 0),
    V("Host empty port", "GET / HTTP/1.1\r\nHost: a:\r\n\r\n", 0),
    V("1.0 without Host may name it in Connection",
      "GET / HTTP/1.0\r\nConnection: host\r\n\r\n", 0),
    V("Host any case name", "GET / HTTP/1.1\r\nhOST: a\r\n\r\n", 0),
    V("Connection tokens", H11 "Connection: close, x-a\r\n\r\n", 0),

    /* line endings */
    V("bare LF after request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400),
    V("bare LF after a field line", H11 "X: y\n\r\n", 400),
    V("bare LF blank line", H11 "\n", 400),
    V("bare LF everywhere", "GET / HTTP/1.1\nHost: a\n\n", 400),
    V("bare CR in request line", "GET / HTTP/1.1\rHost: a\r\n\r\n", 400),
    V("bare CR in a value", H11 "X: a\rb\r\n\r\n", 400),
    V("bare CR ending a field line", H11 "X: a\r\r\n\r\n", 400),
    V("CR CR LF blank line", H11 "\r\r\n", 400),
    V("LF CR LF blank line", "GET / HTTP/1.1\r\nHost: a\n\r\n", 400),
    V("no blank line", H11, 400),
    V("bytes after the blank line", H11 "\r\nX", 400),
    V("empty head", "\r\n\r\n", 400),
    V("CRLF before the request line", "\r\n" H11 "\r\n", 400),
    V("nothing", "", 400),

    /* request line */
    V("HXXX version", "GET / HXXX/1.1\r\nHost: a\r\n\r\n", 400),
    V("HTTP/0.9 simple request", "GET /\r\n\r\n", 400),
    V("HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 400),
    V("HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 400),
    V("HTTP/1.10", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400),
    V("HTTP/1", "GET / HTTP/1\r\nHost: a\r\n\r\n", 400),
    V("HTTP/1,1", "GET / HTTP/1,1\r\nHost: a\r\n\r\n", 400),
    V("lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400),
    V("trailing SP after version", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
    V("two SP before target", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    V("two SP before version", "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    V("HTAB separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    V("leading SP", " GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    V("no method", "/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    V("non-token method", "GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    V("no version", "GET / \r\nHost: a\r\n\r\n", 400),
    V("space in target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    V("HTAB in target", "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    V("control char in target", "GET /a\x01" "b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    V("NUL in target", "GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    V("DEL in target", "GET /a\x7f" "b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    V("obs-text in target", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    V("NUL in method", "G\0T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),

    /* field lines */
    V("SP before colon", H11 "Content-Length : 5\r\n\r\n", 400),
    V("HTAB before colon", H11 "Content-Length\t: 5\r\n\r\n", 400),
    V("space inside a name", H11 "X Y: z\r\n\r\n", 400),
    V("leading SP on the first field line", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
    V("leading HTAB on the first field line", "GET / HTTP/1.1\r\n\tHost: a\r\n\r\n", 400),
    V("obs-fold with SP", H11 "X: a\r\n b\r\n\r\n", 400),
    V("obs-fold with HTAB", H11 "X: a\r\n\tb\r\n\r\n", 400),
    V("no colon", H11 "Xyz\r\n\r\n", 400),
    V("empty name", H11 ": v\r\n\r\n", 400),
    V("non-token name", H11 "X(y): v\r\n\r\n", 400),
    V("non-token name @", H11 "X@y: v\r\n\r\n", 400),
    V("obs-text name", H11 "X\xc3\xa9: v\r\n\r\n", 400),
    V("NUL in a name", H11 "X\0: v\r\n\r\n", 400),
    V("NUL in a value", H11 "X: a\0b\r\n\r\n", 400),
    V("0x01 in a value", H11 "X: a\x01" "b\r\n\r\n", 400),
    V("0x1f in a value", H11 "X: a\x1f" "b\r\n\r\n", 400),
    V("ESC in a value", H11 "X: \x1b[31m\r\n\r\n", 400),
    V("DEL in a value", H11 "X: a\x7f" "b\r\n\r\n", 400),
    V("control char in OWS", H11 "X:\x0b v\r\n\r\n", 400),

    /* Host */
    V("no Host on 1.1", "GET / HTTP/1.1\r\nX: y\r\n\r\n", 400),
    V("two Host", H11 "Host: a\r\n\r\n", 400),
    V("two different Host", H11 "Host: b\r\n\r\n", 400),
    V("two Host on 1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", 400),
    V("empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", 400),
    V("space in Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    V("slash in Host", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    V("userinfo in Host", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400),
    V("quote in Host", "GET / HTTP/1.1\r\nHost: a\"b\r\n\r\n", 400),
    V("obs-text in Host", "GET / HTTP/1.1\r\nHost: caf\xc3\xa9\r\n\r\n", 400),
    V("non-digit port", "GET / HTTP/1.1\r\nHost: a:8o\r\n\r\n", 400),
    V("two ports", "GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n", 400),
    V("unclosed IP literal", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400),
    V("junk after IP literal", "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", 400),
    V("bad char in IP literal", "GET / HTTP/1.1\r\nHost: [::g]\r\n\r\n", 400),
    V("bad Host on 1.0", "GET / HTTP/1.0\r\nHost: a b\r\n\r\n", 400),
    /* Found by fuzz_request: a Host named in Connection is hop-by-hop,
     * so the forwarded request would have none. */
    V("Host named in Connection", H11 "Connection: host\r\n\r\n", 400),
    V("Host among Connection tokens",
      H11 "Connection: keep-alive\r\nConnection: x, HOST\r\n\r\n", 400),
    V("Host in Connection on 1.0", "GET / HTTP/1.0\r\nHost: a\r\nConnection: Host\r\n\r\n", 400),

    /* Content-Length */
    V("CL and TE", H11 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    V("TE and CL", H11 "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400),
    V("CL 0 and TE", H11 "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    V("two differing CL", H11 "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
    V("differing CL list", H11 "Content-Length: 5, 6\r\n\r\n", 400),
    V("CL 5 and 05 (same value)", H11 "Content-Length: 5\r\nContent-Length: 05\r\n\r\n", 0),
    V("CL with plus sign", H11 "Content-Length: +5\r\n\r\n", 400),
    V("CL with minus sign", H11 "Content-Length: -5\r\n\r\n", 400),
    V("CL with inner space", H11 "Content-Length: 5 5\r\n\r\n", 400),
    V("CL in hex", H11 "Content-Length: 0x5\r\n\r\n", 400),
    V("CL with letters", H11 "Content-Length: 5a\r\n\r\n", 400),
    V("CL with decimal point", H11 "Content-Length: 5.0\r\n\r\n", 400),
    V("empty CL", H11 "Content-Length:\r\n\r\n", 400),
    V("CL of commas", H11 "Content-Length: ,\r\n\r\n", 400),
    V("CL 2^64", H11 "Content-Length: 18446744073709551616\r\n\r\n", 400),
    V("CL UINT64_MAX", H11 "Content-Length: 18446744073709551615\r\n\r\n", 400),
    V("CL far too large", H11 "Content-Length: 999999999999999999999999\r\n\r\n", 400),

    /* Transfer-Encoding */
    V("TE on 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    V("TE on 1.0 with Host", "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    V("gzip then chunked", H11 "Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
    V("gzip alone", H11 "Transfer-Encoding: gzip\r\n\r\n", 501),
    V("identity", H11 "Transfer-Encoding: identity\r\n\r\n", 501),
    V("chunked with a parameter", H11 "Transfer-Encoding: chunked;q=1\r\n\r\n", 501),
    V("unknown coding in a first TE header",
      H11 "Transfer-Encoding: x-y\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
    V("a coding after chunked", H11 "Transfer-Encoding: chunked, gzip\r\n\r\n", 400),
    V("chunked twice", H11 "Transfer-Encoding: chunked, chunked\r\n\r\n", 400),
    V("chunked in two headers",
      H11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    V("a coding after chunked in a second header",
      H11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    V("empty TE", H11 "Transfer-Encoding:\r\n\r\n", 400),
    V("TE of commas", H11 "Transfer-Encoding: , ,\r\n\r\n", 400),

    /* method */
    V("CONNECT", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 405),
    V("CONNECT on 1.0", "CONNECT a:443 HTTP/1.0\r\n\r\n", 405),
};

static const struct vec response_vecs[] = {
    V("200", "HTTP/1.1 200 OK\r\n\r\n", 0),
    V("1.0", "HTTP/1.0 200 OK\r\n\r\n", 0),
    V("empty reason", "HTTP/1.1 200 \r\n\r\n", 0),
    V("no reason and no SP (lenient)", "HTTP/1.1 204\r\n\r\n", 0),
    V("reason with spaces, HTAB and obs-text", "HTTP/1.1 404 Not\tFound \xc3\xa9\r\n\r\n", 0),
    V("100", "HTTP/1.1 100 Continue\r\n\r\n", 0),
    V("999", "HTTP/1.1 999 X\r\n\r\n", 0),
    V("CL", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", 0),
    V("chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0),
    V("Host rules do not apply", "HTTP/1.1 200 OK\r\nHost: a\r\nHost: b c\r\n\r\n", 0),

    V("HTTP/2", "HTTP/2 200 OK\r\n\r\n", 502),
    V("HTTP/1.2", "HTTP/1.2 200 OK\r\n\r\n", 502),
    V("HTTP/1x1", "HTTP/1x1 200 OK\r\n\r\n", 502),
    V("HXXP", "HXXP/1.1 200 OK\r\n\r\n", 502),
    V("ICY", "ICY 200 OK\r\n\r\n", 502),
    V("two-digit status", "HTTP/1.1 20 OK\r\n\r\n", 502),
    V("four-digit status", "HTTP/1.1 2000 OK\r\n\r\n", 502),
    V("status below 100", "HTTP/1.1 099 X\r\n\r\n", 502),
    V("non-digit status", "HTTP/1.1 2x0 OK\r\n\r\n", 502),
    V("two SP", "HTTP/1.1  200 OK\r\n\r\n", 502),
    V("no SP after status", "HTTP/1.1 200OK\r\n\r\n", 502),
    V("control char in reason", "HTTP/1.1 200 O\x01K\r\n\r\n", 502),
    V("NUL in reason", "HTTP/1.1 200 O\0K\r\n\r\n", 502),
    V("bare LF", "HTTP/1.1 200 OK\nX: y\r\n\r\n", 502),
    V("bare CR", "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", 502),
    V("bare LF blank line", "HTTP/1.1 200 OK\r\n\n", 502),
    V("obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", 502),
    V("SP before colon", "HTTP/1.1 200 OK\r\nContent-Length : 3\r\n\r\n", 502),
    V("control char in value", "HTTP/1.1 200 OK\r\nX: \x7f\r\n\r\n", 502),
    V("CL and TE", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 502),
    V("differing CL", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 502),
    V("bad CL", "HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n", 502),
    V("unknown coding is 502, not 501", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 502),
    V("coding after chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 502),
    V("empty TE", "HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n", 502),
    V("TE on a 1.0 response", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 502),
    V("no blank line", "HTTP/1.1 200 OK\r\n", 502),
    V("empty", "", 502),
    V("a request", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 502),
};

static void
run_vecs(const struct vec *v, size_t n, bool response)
{
    struct http_head h;
    int failures = 0;

    for (size_t i = 0; i < n; i++) {
        /* Parse a heap copy of exactly LEN bytes, so ASan sees any read
         * past the head. */
        char *copy = malloc(v[i].len ? v[i].len : 1);
        assert_non_null(copy);
        memcpy(copy, v[i].raw, v[i].len);
        int got = response ? http_head_parse_response(&h, copy, v[i].len)
                           : http_head_parse_request(&h, copy, v[i].len);
        if (got != v[i].status) {
            print_error("%s vector %zu \"%s\": got %d, want %d\n",
                        response ? "response" : "request", i, v[i].why, got,
                        v[i].status);
            failures++;
        }
        free(copy);
    }
    assert_int_equal(failures, 0);
}

static void
test_request_table(void **unused)
{
    run_vecs(request_vecs, sizeof(request_vecs) / sizeof(request_vecs[0]), false);
}

static void
test_response_table(void **unused)
{
    run_vecs(response_vecs, sizeof(response_vecs) / sizeof(response_vecs[0]), true);
}

/* N header lines after the request line (and a Host), into BUF. */
static size_t
many_headers(char *buf, size_t cap, size_t n, bool response)
{
    size_t len = (size_t)snprintf(buf, cap, "%s",
                                  response ? "HTTP/1.1 200 OK\r\n"
                                           : "GET / HTTP/1.1\r\nHost: a\r\n");
    for (size_t i = response ? 0 : 1; i < n; i++)
        len += (size_t)snprintf(buf + len, cap - len, "X-%zu: %zu\r\n", i, i);
    len += (size_t)snprintf(buf + len, cap - len, "\r\n");
    return len;
}

static void
test_header_count_limit(void **unused)
{
    static char buf[32768];
    struct http_head h;
    size_t len;

    len = many_headers(buf, sizeof(buf), HTTP_HEAD_MAX_HEADERS, false);
    assert_int_equal(http_head_parse_request(&h, buf, len), 0);
    assert_int_equal(h.nheaders, HTTP_HEAD_MAX_HEADERS);
    len = many_headers(buf, sizeof(buf), HTTP_HEAD_MAX_HEADERS + 1, false);
    assert_int_equal(http_head_parse_request(&h, buf, len), 431);
    len = many_headers(buf, sizeof(buf), 1000, false);
    assert_int_equal(http_head_parse_request(&h, buf, len), 431);

    len = many_headers(buf, sizeof(buf), HTTP_HEAD_MAX_HEADERS, true);
    assert_int_equal(http_head_parse_response(&h, buf, len), 0);
    len = many_headers(buf, sizeof(buf), HTTP_HEAD_MAX_HEADERS + 1, true);
    assert_int_equal(http_head_parse_response(&h, buf, len), 502);
}

static void
assert_span(struct http_span s, const char *want)
{
    assert_non_null(s.p);
    assert_int_equal(s.len, strlen(want));
    assert_memory_equal(s.p, want, s.len);
}

/* A head of one request line of REQ_LINE bytes and one field line of
 * FIELD_LINE bytes (CRLF not counted), into BUF. */
static size_t
long_lines(char *buf, size_t req_line, size_t field_line)
{
    size_t len = 0;
    memcpy(buf, "GET /", 5);
    len = 5;
    memset(buf + len, 'a', req_line - 14);
    len += req_line - 14;
    memcpy(buf + len, " HTTP/1.1\r\nX: ", 14);
    len += 14;
    memset(buf + len, 'b', field_line - 3);
    len += field_line - 3;
    memcpy(buf + len, "\r\nHost: a\r\n\r\n", 13);
    return len + 13;
}

/* The line limit: a line of exactly MAX passes, one byte more fails, 414
 * for the request line and 431 for a field line; 0 means no limit. */
static void
test_line_limit(void **unused)
{
    static char buf[65536];
    struct http_head h;
    size_t len;

    len = long_lines(buf, 100, 100);
    assert_int_equal(http_head_parse_request_max(&h, buf, len, 100), 0);
    assert_int_equal(h.target.len, 100 - 13);
    assert_int_equal(h.headers[0].value.len, 100 - 3);
    len = long_lines(buf, 101, 100);
    assert_int_equal(http_head_parse_request_max(&h, buf, len, 100), 414);
    len = long_lines(buf, 100, 101);
    assert_int_equal(http_head_parse_request_max(&h, buf, len, 100), 431);
    /* Also when the long line is malformed: the length is checked first. */
    len = long_lines(buf, 100, 101);
    buf[len - 20] = '\x01';
    assert_int_equal(http_head_parse_request_max(&h, buf, len, 100), 431);
    len = long_lines(buf, 40000, 20000);
    assert_int_equal(http_head_parse_request_max(&h, buf, len, 0), 0);
    assert_int_equal(http_head_parse_request(&h, buf, len), 0);
    assert_int_equal(http_head_parse_request_max(&h, buf, len, 39999), 414);
    assert_int_equal(http_head_parse_request_max(&h, buf, len, 40000), 0);
    assert_int_equal(http_head_parse_request_max(&h, buf, len, 30000), 414);
    len = long_lines(buf, 100, 20000);
    assert_int_equal(http_head_parse_request_max(&h, buf, len, 19999), 431);
}

static void
test_request_spans(void **unused)
{
    static const char raw[] =
        "POST /up?x=1 HTTP/1.1\r\n"
        "Host: a.example:81\r\n"
        "X-Pad:  \t padded value \t \r\n"
        "Content-Length: 12\r\n"
        "Connection: Keep-Alive, X-Hop , ,upgrade\r\n"
        "Expect: 100-Continue\r\n"
        "Upgrade: websocket\r\n"
        "X-Empty:\r\n"
        "\r\n";
    struct http_head h;

    assert_int_equal(http_head_parse_request(&h, raw, sizeof(raw) - 1), 0);
    assert_span(h.method, "POST");
    assert_span(h.target, "/up?x=1");
    assert_int_equal(h.minor, 1);
    assert_int_equal(h.head_len, sizeof(raw) - 1);
    assert_int_equal(h.nheaders, 7);
    assert_span(h.headers[0].name, "Host");
    assert_span(h.headers[0].value, "a.example:81");
    assert_span(h.headers[1].name, "X-Pad");
    assert_span(h.headers[1].value, "padded value");
    assert_span(h.headers[6].name, "X-Empty");
    assert_int_equal(h.headers[6].value.len, 0);
    assert_span(h.host, "a.example:81");
    assert_int_equal(h.content_length, 12);
    /* Connection with more than keep-alive, and Upgrade: http-parser
     * reads those headers again (HTTP_HEAD_F_ODD_FRAMING). */
    assert_int_equal(h.flags, HTTP_HEAD_F_LENGTH | HTTP_HEAD_F_CONN_KA |
                              HTTP_HEAD_F_EXPECT_100 | HTTP_HEAD_F_UPGRADE |
                              HTTP_HEAD_F_ODD_FRAMING | HTTP_HEAD_F_CONN_TOKENS);
    assert_int_equal(h.nconnection_tokens, 2);
    assert_span(h.connection_tokens[0], "X-Hop");
    assert_span(h.connection_tokens[1], "upgrade");
    /* Spans point into the caller's buffer. */
    assert_ptr_equal(h.method.p, raw);
    assert_ptr_equal(h.target.p, raw + 5);

    const struct http_header *f = http_head_get(&h, "content-length");
    assert_non_null(f);
    assert_ptr_equal(f, &h.headers[2]);
    assert_null(http_head_get(&h, "transfer-encoding"));
}

static void
test_request_flags(void **unused)
{
    struct http_head h;
    static const char chunked[] =
        "PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
        "Connection: close\r\nExpect: 200-ok\r\n\r\n";
    static const char ten[] = "GET / HTTP/1.0\r\n\r\n";

    assert_int_equal(http_head_parse_request(&h, chunked, sizeof(chunked) - 1), 0);
    assert_int_equal(h.flags, HTTP_HEAD_F_CHUNKED | HTTP_HEAD_F_CONN_CLOSE);
    assert_int_equal(h.nconnection_tokens, 0);

    /* Reparsing resets everything derived from the previous head. */
    assert_int_equal(http_head_parse_request(&h, ten, sizeof(ten) - 1), 0);
    assert_int_equal(h.minor, 0);
    assert_int_equal(h.flags, 0);
    assert_int_equal(h.nheaders, 0);
    assert_int_equal(h.content_length, 0);
    assert_null(h.host.p);
    assert_int_equal(h.host.len, 0);
    assert_int_equal(h.head_len, sizeof(ten) - 1);

    static const char both[] =
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
        "Connection: keep-alive\r\n\r\n";
    assert_int_equal(http_head_parse_request(&h, both, sizeof(both) - 1), 0);
    assert_int_equal(h.flags, HTTP_HEAD_F_CONN_CLOSE | HTTP_HEAD_F_CONN_KA);

    static const char cl[] =
        "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551609\r\n\r\n";
    assert_int_equal(http_head_parse_request(&h, cl, sizeof(cl) - 1), 0);
    assert_true(h.content_length == UINT64_C(18446744073709551609));
}

static void
test_response_spans(void **unused)
{
    static const char raw[] =
        "HTTP/1.0 404 Not Found\r\nServer: x\r\nContent-Length: 3\r\n"
        "Connection: close\r\n\r\n";
    static const char bare[] = "HTTP/1.1 304\r\nETag: \"v\"\r\n\r\n";
    struct http_head h;

    assert_int_equal(http_head_parse_response(&h, raw, sizeof(raw) - 1), 0);
    assert_int_equal(h.status, 404);
    assert_span(h.reason, "Not Found");
    assert_int_equal(h.minor, 0);
    assert_int_equal(h.nheaders, 3);
    assert_int_equal(h.content_length, 3);
    assert_int_equal(h.flags, HTTP_HEAD_F_LENGTH | HTTP_HEAD_F_CONN_CLOSE);
    assert_null(h.method.p);
    assert_int_equal(h.head_len, sizeof(raw) - 1);

    assert_int_equal(http_head_parse_response(&h, bare, sizeof(bare) - 1), 0);
    assert_int_equal(h.status, 304);
    assert_int_equal(h.reason.len, 0);
    assert_int_equal(h.minor, 1);
    assert_span(h.headers[0].value, "\"v\"");
}

static void
test_find_end(void **unused)
{
    static const char head[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    size_t len = sizeof(head) - 1;

    assert_int_equal(http_head_find_end(head, len, 0), len);
    assert_int_equal(http_head_find_end("", 0, 0), 0);
    assert_int_equal(http_head_find_end("\r\n\r\n", 4, 0), 4);

    /* Bytes after the head are not part of it. */
    static const char two[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\n\r\n";
    assert_int_equal(http_head_find_end(two, sizeof(two) - 1, 0), len);

    /* Any prefix is incomplete. */
    for (size_t k = 0; k < len; k++)
        assert_int_equal(http_head_find_end(head, k, 0), 0);

    /* Arriving in two reads split anywhere, the second scan resumes where
     * the first stopped and still sees the terminator. */
    for (size_t k = 0; k <= len; k++) {
        assert_int_equal(http_head_find_end(head, k, 0), k == len ? len : 0);
        assert_int_equal(http_head_find_end(head, len, k), len);
    }
    /* Byte by byte, FROM always the previous length. */
    size_t from = 0, end = 0;
    for (size_t k = 1; k <= len && end == 0; k++) {
        end = http_head_find_end(head, k, from);
        from = k;
    }
    assert_int_equal(end, len);

    /* A lone CRLF line is not a blank line; CRLF CR is not a terminator. */
    assert_int_equal(http_head_find_end("a\r\nb\r\n", 6, 0), 0);
    assert_int_equal(http_head_find_end("a\r\n\r", 4, 0), 0);
    assert_int_equal(http_head_find_end("a\r\r\n", 4, 0), 0);
}

/* A blank line made with a bare LF also ends the head, so the checks can
 * reject it at once instead of waiting for a CRLFCRLF that never comes. */
static void
test_find_end_bare_lf(void **unused)
{
    static const char lflf[] = "GET / HTTP/1.1\nHost: a\n\nrest";
    static const char crlflf[] = "GET / HTTP/1.1\r\nHost: a\r\n\nrest";
    static const char lfcrlf[] = "GET / HTTP/1.1\r\nHost: a\n\r\nrest";
    struct http_head h;
    size_t end;

    end = http_head_find_end(lflf, sizeof(lflf) - 1, 0);
    assert_int_equal(end, sizeof(lflf) - 1 - 4);
    assert_int_equal(http_head_parse_request(&h, lflf, end), 400);

    end = http_head_find_end(crlflf, sizeof(crlflf) - 1, 0);
    assert_int_equal(end, sizeof(crlflf) - 1 - 4);
    assert_int_equal(http_head_parse_request(&h, crlflf, end), 400);

    end = http_head_find_end(lfcrlf, sizeof(lfcrlf) - 1, 0);
    assert_int_equal(end, sizeof(lfcrlf) - 1 - 4);
    assert_int_equal(http_head_parse_request(&h, lfcrlf, end), 400);

    /* Split between the two LFs. */
    size_t split = sizeof("GET / HTTP/1.1\nHost: a\n") - 1;
    assert_int_equal(http_head_find_end(lflf, split, 0), 0);
    assert_int_equal(http_head_find_end(lflf, split + 1, split), split + 1);
}

static struct http_span
span(const char *s)
{
    return (struct http_span){s, strlen(s)};
}

static void
test_hop_by_hop(void **unused)
{
    static const char raw[] =
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: X-A, x-b\r\n\r\n";
    static const char *const hop[] = {
        "Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer",
        "Transfer-Encoding", "Upgrade", "connection", "KEEP-ALIVE", "te",
    };
    struct http_head h;

    assert_int_equal(http_head_parse_request(&h, raw, sizeof(raw) - 1), 0);
    for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
        assert_true(http_head_is_hop_by_hop(&h, span(hop[i])));
    assert_true(http_head_is_hop_by_hop(&h, span("x-a")));
    assert_true(http_head_is_hop_by_hop(&h, span("X-B")));
    assert_false(http_head_is_hop_by_hop(&h, span("X-AB")));
    assert_false(http_head_is_hop_by_hop(&h, span("X-")));
    assert_false(http_head_is_hop_by_hop(&h, span("Host")));
    assert_false(http_head_is_hop_by_hop(&h, span("Content-Length")));
    assert_false(http_head_is_hop_by_hop(&h, span("Trailers")));
    assert_false(http_head_is_hop_by_hop(&h, span("T")));
}

/* Every header named by Connection is hop-by-hop, however many there are
 * and across several Connection headers. */
static void
test_hop_by_hop_many_tokens(void **unused)
{
    static const char raw[] =
        "GET / HTTP/1.1\r\nHost: a\r\n"
        "Connection: x-1, x-2, x-3, x-4, x-5, x-6, x-7, x-8, x-9, x-10\r\n"
        "Connection: x-11\r\n\r\n";
    struct http_head h;
    char name[8];

    assert_int_equal(http_head_parse_request(&h, raw, sizeof(raw) - 1), 0);
    for (int i = 1; i <= 11; i++) {
        snprintf(name, sizeof(name), "X-%d", i);
        assert_true(http_head_is_hop_by_hop(&h, span(name)));
    }
    assert_false(http_head_is_hop_by_hop(&h, span("x-12")));
    assert_false(http_head_is_hop_by_hop(&h, span("x-1,")));
}

static void
test_span_ieq(void **unused)
{
    assert_true(http_span_ieq(span("Host"), "host"));
    assert_true(http_span_ieq(span("HOST"), "host"));
    assert_true(http_span_ieq(span(""), ""));
    assert_false(http_span_ieq(span("Hosts"), "host"));
    assert_false(http_span_ieq(span("Hos"), "host"));
    assert_false(http_span_ieq(span("Hosu"), "host"));
    /* Only ASCII letters fold. */
    assert_false(http_span_ieq(span("X["), "x{"));
    assert_true(http_span_ieq((struct http_span){"hostname", 4}, "host"));
}

/* Each name the proxy acts on is classified whatever its case; near
 * misses (a letter more or less, a different symbol) are not. */
static void
test_classify(void **unused)
{
    static const struct {
        const char *name;
        enum http_hdr kind;
    } names[] = {
        {"content-length", HTTP_HDR_CONTENT_LENGTH},
        {"transfer-encoding", HTTP_HDR_TRANSFER_ENCODING},
        {"connection", HTTP_HDR_CONNECTION},
        {"proxy-connection", HTTP_HDR_PROXY_CONNECTION},
        {"keep-alive", HTTP_HDR_KEEP_ALIVE},
        {"te", HTTP_HDR_TE},
        {"trailer", HTTP_HDR_TRAILER},
        {"upgrade", HTTP_HDR_UPGRADE},
        {"host", HTTP_HDR_HOST},
        {"expect", HTTP_HDR_EXPECT},
        {"cookie", HTTP_HDR_COOKIE},
        {"x-forwarded-for", HTTP_HDR_X_FORWARDED_FOR},
        {"x-forwarded-proto", HTTP_HDR_X_FORWARDED_PROTO},
        {"x-request-id", HTTP_HDR_X_REQUEST_ID},
    };
    static const char *const others[] = {
        "", "t", "tee", "hosts", "hos", "Content-Lengt", "content_length",
        "content-lengths", "keep_alive", "x-forwarded-fo", "x-forwarded-fox",
        "Transfer-Encodings", "x-request_id", "set-cookie", "cookie2", "X",
        "upgradE1", "trailers", "connectioN-", "xonnection", "5e", "~~",
    };
    char buf[64];

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t n = strlen(names[i].name);
        assert_int_equal(http_hdr_classify(names[i].name, n), names[i].kind);
        /* Upper case, and alternating case. */
        for (size_t j = 0; j < n; j++)
            buf[j] = (char)((names[i].name[j] >= 'a' && names[i].name[j] <= 'z')
                                ? names[i].name[j] - 32 : names[i].name[j]);
        assert_int_equal(http_hdr_classify(buf, n), names[i].kind);
        for (size_t j = 0; j < n; j += 2)
            buf[j] = names[i].name[j];
        assert_int_equal(http_hdr_classify(buf, n), names[i].kind);
        /* Each character swapped for another tchar breaks the match. */
        for (size_t j = 0; j < n; j++) {
            memcpy(buf, names[i].name, n);
            buf[j] = buf[j] == '-' ? '_' : (buf[j] == 'z' ? 'y' : '-');
            assert_int_equal(http_hdr_classify(buf, n), HTTP_HDR_OTHER);
        }
    }
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
        assert_int_equal(http_hdr_classify(others[i], strlen(others[i])),
                         HTTP_HDR_OTHER);

    /* A parsed head carries the class of each name. */
    static const char raw[] =
        "GET / HTTP/1.1\r\nHOST: a\r\nX-Request-ID: r\r\nX-Other: v\r\n\r\n";
    struct http_head h;
    assert_int_equal(http_head_parse_request(&h, raw, sizeof(raw) - 1), 0);
    assert_int_equal(h.headers[0].kind, HTTP_HDR_HOST);
    assert_int_equal(h.headers[1].kind, HTTP_HDR_X_REQUEST_ID);
    assert_int_equal(h.headers[2].kind, HTTP_HDR_OTHER);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_table),
        cmocka_unit_test(test_response_table),
        cmocka_unit_test(test_header_count_limit),
        cmocka_unit_test(test_line_limit),
        cmocka_unit_test(test_request_spans),
        cmocka_unit_test(test_request_flags),
        cmocka_unit_test(test_response_spans),
        cmocka_unit_test(test_find_end),
        cmocka_unit_test(test_find_end_bare_lf),
        cmocka_unit_test(test_hop_by_hop),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_hop_by_hop_many_tokens),
        cmocka_unit_test(test_span_ieq),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
