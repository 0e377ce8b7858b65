/* Unit tests for head serialisation (exact bytes in both directions, the
 * all-or-nothing contract when the output is short) and for the canned
 * replies of http_reply. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "weir/http/http_head.h"
#include "weir/http/http_reply.h"
#include "weir/http/http_rewrite.h"
#include "weir/util/buf.h"

static const struct http_request_ctx ctx = {
    .client_ip = "10.0.0.9",
    .proto = "https",
    .request_id = "rid-1",
};

static void
parse_req(struct http_head *h, const char *raw)
{
    assert_int_equal(http_head_parse_request(h, raw, strlen(raw)), 0);
}

static void
parse_resp(struct http_head *h, const char *raw)
{
    assert_int_equal(http_head_parse_response(h, raw, strlen(raw)), 0);
}

static void
assert_buf(const struct buf *b, const char *want)
{
    size_t n = strlen(want);
    if (buf_len(b) != n || memcmp(buf_rptr(b), want, n) != 0)
        fail_msg("got:\n%.*s\nwant:\n%s", (int)buf_len(b), buf_rptr(b), want);
}

static void
rewrite_req(const char *raw, const struct http_request_ctx *c, const char *want)
{
    struct http_head h;
    struct buf out;

    parse_req(&h, raw);
    assert_int_equal(buf_init(&out, 4096), 0);
    assert_int_equal(http_rewrite_request(&out, &h, c), 0);
    assert_buf(&out, want);
    buf_fini(&out);
}

static void
rewrite_resp(const char *raw, const struct http_response_ctx *c, const char *want)
{
    struct http_head h;
    struct buf out;

    parse_resp(&h, raw);
    assert_int_equal(buf_init(&out, 4096), 0);
    assert_int_equal(http_rewrite_response(&out, &h, c), 0);
    assert_buf(&out, want);
    buf_fini(&out);
}

static void
test_request_basic(void **unused)
{
    rewrite_req("GET /a?b=c HTTP/1.1\r\nHost: a.example\r\nAccept: */*\r\n\r\n", &ctx,
                "GET /a?b=c HTTP/1.1\r\n"
                "Host: a.example\r\n"
                "Accept: */*\r\n"
                "X-Forwarded-For: 10.0.0.9\r\n"
                "X-Forwarded-Proto: https\r\n"
                "X-Request-Id: rid-1\r\n"
                "\r\n");
}

/* HTTP/1.0 in, HTTP/1.1 out; hop-by-hop and Connection-named headers
 * dropped; values re-emitted trimmed; framing re-derived. */
static void
test_request_hop_by_hop(void **unused)
{
    rewrite_req("POST /p HTTP/1.0\r\n"
                "Host: a\r\n"
                "Connection: keep-alive, X-Hop\r\n"
                "Keep-Alive: timeout=5\r\n"
                "X-Hop: secret\r\n"
                "x-hop: secret too\r\n"
                "Proxy-Connection: keep-alive\r\n"
                "TE: trailers\r\n"
                "Trailer: X-T\r\n"
                "Upgrade: foo\r\n"
                "Content-Length:  5 \r\n"
                "X-Keep:   kept value\t\r\n"
                "\r\n",
                &ctx,
                "POST /p HTTP/1.1\r\n"
                "Host: a\r\n"
                "X-Keep: kept value\r\n"
                "X-Forwarded-For: 10.0.0.9\r\n"
                "X-Forwarded-Proto: https\r\n"
                "X-Request-Id: rid-1\r\n"
                "Content-Length: 5\r\n"
                "\r\n");
}

static void
test_request_framing(void **unused)
{
    rewrite_req("PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", &ctx,
                "PUT / HTTP/1.1\r\n"
                "Host: a\r\n"
                "X-Forwarded-For: 10.0.0.9\r\n"
                "X-Forwarded-Proto: https\r\n"
                "X-Request-Id: rid-1\r\n"
                "Transfer-Encoding: chunked\r\n"
                "\r\n");
    /* A duplicate Content-Length list is sent once. */
    rewrite_req("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 7, 7\r\n"
                "Content-Length: 007\r\n\r\n", &ctx,
                "PUT / HTTP/1.1\r\n"
                "Host: a\r\n"
                "X-Forwarded-For: 10.0.0.9\r\n"
                "X-Forwarded-Proto: https\r\n"
                "X-Request-Id: rid-1\r\n"
                "Content-Length: 7\r\n"
                "\r\n");
}

/* X-Forwarded-For: every value the client sent, in order, then the
 * client; X-Forwarded-Proto replaced; X-Request-Id kept. */
static void
test_request_forwarded(void **unused)
{
    struct http_request_ctx c = {"192.0.2.1", "http", "generated", NULL, NULL};

    rewrite_req("GET / HTTP/1.1\r\n"
                "X-Forwarded-For: 1.1.1.1\r\n"
                "Host: a\r\n"
                "X-Forwarded-Proto: https\r\n"
                "X-Request-Id: client-id\r\n"
                "X-Forwarded-For:\r\n"
                "x-forwarded-for: 2.2.2.2, 3.3.3.3\r\n"
                "\r\n",
                &c,
                "GET / HTTP/1.1\r\n"
                "Host: a\r\n"
                "X-Request-Id: client-id\r\n"
                "X-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3, 192.0.2.1\r\n"
                "X-Forwarded-Proto: http\r\n"
                "\r\n");
}

/* An empty X-Request-Id is no id: it is replaced by the generated one,
 * the same id http_rewrite_request_id reports to the caller. */
static void
test_request_empty_request_id(void **unused)
{
    static const char raw[] =
        "GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id:\r\nX-Request-Id: second\r\n\r\n";
    struct http_head h;
    char id[32];

    parse_req(&h, raw);
    assert_true(http_rewrite_request_id(&h, id, sizeof(id)));
    assert_string_equal(id, "second");
    rewrite_req(raw, &ctx,
                "GET / HTTP/1.1\r\n"
                "Host: a\r\n"
                "X-Request-Id: second\r\n"
                "X-Forwarded-For: 10.0.0.9\r\n"
                "X-Forwarded-Proto: https\r\n"
                "\r\n");

    static const char only_empty[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id:  \r\n\r\n";
    parse_req(&h, only_empty);
    assert_false(http_rewrite_request_id(&h, id, sizeof(id)));
    rewrite_req(only_empty, &ctx,
                "GET / HTTP/1.1\r\n"
                "Host: a\r\n"
                "X-Forwarded-For: 10.0.0.9\r\n"
                "X-Forwarded-Proto: https\r\n"
                "X-Request-Id: rid-1\r\n"
                "\r\n");
}

static void
test_request_id(void **unused)
{
    struct http_head h;
    char id[8];

    parse_req(&h, "GET / HTTP/1.1\r\nHost: a\r\nx-request-id:  abc \r\n\r\n");
    memset(id, 'z', sizeof(id));
    assert_true(http_rewrite_request_id(&h, id, sizeof(id)));
    assert_string_equal(id, "abc");

    parse_req(&h, "GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: 0123456789\r\n\r\n");
    assert_true(http_rewrite_request_id(&h, id, sizeof(id)));
    assert_string_equal(id, "0123456"); /* truncated to IDLEN-1 */
    assert_true(http_rewrite_request_id(&h, id, 1));
    assert_string_equal(id, "");
    memset(id, 'z', sizeof(id));
    assert_false(http_rewrite_request_id(&h, id, 0));
    assert_int_equal(id[0], 'z');

    parse_req(&h, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_false(http_rewrite_request_id(&h, id, sizeof(id)));
}

/* Every output capacity short of the full head fails and leaves the
 * buffer as it was; the exact size succeeds. */
static void
test_request_does_not_fit(void **unused)
{
    static const char raw[] =
        "POST /x HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\n"
        "Content-Length: 3\r\n\r\n";
    struct http_head h;
    struct buf out;

    parse_req(&h, raw);
    assert_int_equal(buf_init(&out, 4096), 0);
    assert_int_equal(http_rewrite_request(&out, &h, &ctx), 0);
    size_t need = buf_len(&out);
    char full[4096];
    memcpy(full, buf_rptr(&out), need);
    buf_fini(&out);

    /* "PRE" already queued, behind two consumed bytes: the head fits
     * only when the capacity holds both. */
    for (size_t cap = 5; cap <= need + 3; cap++) {
        assert_int_equal(buf_init(&out, cap), 0);
        buf_append_str(&out, "xxPRE");
        buf_consume(&out, 2);
        int rc = http_rewrite_request(&out, &h, &ctx);
        if (cap < need + 3) {
            assert_int_equal(rc, -1);
            assert_buf(&out, "PRE");
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(buf_len(&out), need + 3);
            assert_memory_equal(buf_rptr(&out), "PRE", 3);
            assert_memory_equal(buf_rptr(&out) + 3, full, need);
        }
        buf_fini(&out);
    }
}

static void
test_response_length(void **unused)
{
    struct http_response_ctx c = {.framing = HTTP_FRAMING_LENGTH};

    rewrite_resp("HTTP/1.1 200 OK\r\n"
                 "Content-Length: 5\r\n"
                 "Connection: X-Drop\r\n"
                 "X-Drop: 1\r\n"
                 "Keep-Alive: timeout=5\r\n"
                 "Server: b\r\n"
                 "Set-Cookie: a=1\r\n"
                 "Set-Cookie: b=2\r\n"
                 "\r\n",
                 &c,
                 "HTTP/1.1 200 OK\r\n"
                 "Server: b\r\n"
                 "Set-Cookie: a=1\r\n"
                 "Set-Cookie: b=2\r\n"
                 "Content-Length: 5\r\n"
                 "\r\n");

    c.close = true;
    rewrite_resp("HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n", &c,
                 "HTTP/1.1 404 Not Found\r\n"
                 "Content-Length: 0\r\n"
                 "Connection: close\r\n"
                 "\r\n");
}

static void
test_response_chunked_and_close(void **unused)
{
    struct http_response_ctx c = {.framing = HTTP_FRAMING_CHUNKED};

    /* A read-until-close response goes out chunked. */
    rewrite_resp("HTTP/1.0 200 OK\r\nConnection: close\r\nX: y\r\n\r\n", &c,
                 "HTTP/1.1 200 OK\r\n"
                 "X: y\r\n"
                 "Transfer-Encoding: chunked\r\n"
                 "\r\n");
    /* A chunked response stays chunked, its own TE header replaced. */
    rewrite_resp("HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n"
                 "Trailer: X-T\r\n\r\n", &c,
                 "HTTP/1.1 201 Created\r\n"
                 "Transfer-Encoding: chunked\r\n"
                 "\r\n");

    c.framing = HTTP_FRAMING_CLOSE;
    c.close = true;
    rewrite_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", &c,
                 "HTTP/1.1 200 OK\r\n"
                 "Connection: close\r\n"
                 "\r\n");
}

static void
test_response_keep_alive_10_and_extra(void **unused)
{
    struct http_response_ctx c = {
        .framing = HTTP_FRAMING_LENGTH,
        .keep_alive_10 = true,
        .extra = "Set-Cookie: S=v; Path=/\r\nX-Extra: 1\r\n",
    };

    rewrite_resp("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", &c,
                 "HTTP/1.1 200 OK\r\n"
                 "Content-Length: 2\r\n"
                 "Connection: keep-alive\r\n"
                 "Set-Cookie: S=v; Path=/\r\n"
                 "X-Extra: 1\r\n"
                 "\r\n");
    /* close wins over keep_alive_10. */
    c.close = true;
    rewrite_resp("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", &c,
                 "HTTP/1.1 200 OK\r\n"
                 "Content-Length: 2\r\n"
                 "Connection: close\r\n"
                 "Set-Cookie: S=v; Path=/\r\n"
                 "X-Extra: 1\r\n"
                 "\r\n");
}

/* No body: HEAD and 304 answers keep the length they announce, 204 and
 * 1xx never carry one; interim responses get no connection or extra
 * headers. */
static void
test_response_no_body(void **unused)
{
    struct http_response_ctx c = {.framing = HTTP_FRAMING_NONE};

    rewrite_resp("HTTP/1.1 200 OK\r\nContent-Length: 123\r\n\r\n", &c,
                 "HTTP/1.1 200 OK\r\nContent-Length: 123\r\n\r\n");
    rewrite_resp("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 9\r\n\r\n", &c,
                 "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 9\r\n\r\n");
    rewrite_resp("HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n", &c,
                 "HTTP/1.1 204 No Content\r\n\r\n");
    rewrite_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", &c,
                 "HTTP/1.1 200 OK\r\n\r\n");

    c.close = true;
    c.extra = "X-Extra: 1\r\n";
    rewrite_resp("HTTP/1.1 100 Continue\r\n\r\n", &c, "HTTP/1.1 100 Continue\r\n\r\n");
    rewrite_resp("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\nContent-Length: 1\r\n\r\n", &c,
                 "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n");
    rewrite_resp("HTTP/1.1 204\r\n\r\n", &c,
                 "HTTP/1.1 204 \r\nConnection: close\r\nX-Extra: 1\r\n\r\n");
}

static void
test_response_does_not_fit(void **unused)
{
    struct http_response_ctx c = {
        .framing = HTTP_FRAMING_LENGTH, .close = true, .extra = "X-E: 1\r\n",
    };
    struct http_head h;
    struct buf out;

    parse_resp(&h, "HTTP/1.1 200 OK\r\nServer: s\r\nContent-Length: 42\r\n\r\n");
    assert_int_equal(buf_init(&out, 4096), 0);
    assert_int_equal(http_rewrite_response(&out, &h, &c), 0);
    size_t need = buf_len(&out);
    buf_fini(&out);
    for (size_t cap = 0; cap <= need + 1; cap++) {
        assert_int_equal(buf_init(&out, cap + 1), 0);
        buf_append_str(&out, "x");
        buf_consume(&out, 1); /* empty again, cursors reset */
        if (cap > 0)
            buf_append_str(&out, "P");
        int rc = http_rewrite_response(&out, &h, &c);
        size_t pre = cap > 0 ? 1 : 0;
        if (cap + 1 - pre < need) {
            assert_int_equal(rc, -1);
            assert_int_equal(buf_len(&out), pre);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(buf_len(&out), pre + need);
        }
        buf_fini(&out);
    }
}

static void
test_reply_reason(void **unused)
{
    assert_string_equal(http_reply_reason(400), "Bad Request");
    assert_string_equal(http_reply_reason(404), "Not Found");
    assert_string_equal(http_reply_reason(405), "Method Not Allowed");
    assert_string_equal(http_reply_reason(431), "Request Header Fields Too Large");
    assert_string_equal(http_reply_reason(501), "Not Implemented");
    assert_string_equal(http_reply_reason(502), "Bad Gateway");
    assert_string_equal(http_reply_reason(503), "Service Unavailable");
    assert_string_equal(http_reply_reason(504), "Gateway Timeout");
    assert_string_equal(http_reply_reason(299), "Unknown");
    assert_string_equal(http_reply_reason(-1), "Unknown");
}

static void
test_reply_error(void **unused)
{
    struct buf out;
    struct http_head h;

    assert_int_equal(buf_init(&out, 512), 0);
    assert_int_equal(http_reply_error(&out, 400, NULL), 0);
    assert_buf(&out,
               "HTTP/1.1 400 Bad Request\r\n"
               "Content-Type: text/plain\r\n"
               "Content-Length: 16\r\n"
               "Connection: close\r\n"
               "\r\n"
               "400 Bad Request\n");
    /* What we send is a valid response head by our own rules. */
    size_t end = http_head_find_end(buf_rptr(&out), buf_len(&out), 0);
    assert_int_equal(end, buf_len(&out) - 16);
    assert_int_equal(http_head_parse_response(&h, buf_rptr(&out), end), 0);
    assert_int_equal(h.status, 400);
    assert_int_equal(h.content_length, 16);
    assert_true(h.flags & HTTP_HEAD_F_CONN_CLOSE);
    buf_reset(&out);

    assert_int_equal(http_reply_error(&out, 503, "rid-7"), 0);
    assert_buf(&out,
               "HTTP/1.1 503 Service Unavailable\r\n"
               "Content-Type: text/plain\r\n"
               "Content-Length: 24\r\n"
               "X-Request-Id: rid-7\r\n"
               "Retry-After: 1\r\n"
               "Connection: close\r\n"
               "\r\n"
               "503 Service Unavailable\n");
    buf_reset(&out);

    assert_int_equal(http_reply_error(&out, 504, "r"), 0);
    assert_buf(&out,
               "HTTP/1.1 504 Gateway Timeout\r\n"
               "Content-Type: text/plain\r\n"
               "Content-Length: 20\r\n"
               "X-Request-Id: r\r\n"
               "Connection: close\r\n"
               "\r\n"
               "504 Gateway Timeout\n");
    buf_fini(&out);
}

/* Appends after what is queued; short of room it writes nothing; an exact
 * fit is enough. */
static void
test_reply_error_fit(void **unused)
{
    struct buf out;

    assert_int_equal(buf_init(&out, 512), 0);
    assert_int_equal(http_reply_error(&out, 502, NULL), 0);
    size_t need = buf_len(&out);
    buf_fini(&out);

    assert_int_equal(buf_init(&out, need + 2), 0);
    buf_append_str(&out, "AB");
    assert_int_equal(http_reply_error(&out, 502, NULL), 0);
    assert_int_equal(buf_len(&out), need + 2);
    assert_memory_equal(buf_rptr(&out), "AB", 2);
    assert_memory_equal(buf_rptr(&out) + need + 2 - 16, "502 Bad Gateway\n", 16);
    buf_fini(&out);

    assert_int_equal(buf_init(&out, need + 1), 0);
    buf_append_str(&out, "AB");
    assert_int_equal(http_reply_error(&out, 502, NULL), -1);
    assert_buf(&out, "AB");
    buf_fini(&out);
}

/* The affinity cookie leaves the Cookie header; the others stay, and a
 * header left empty is dropped. */
static void
test_request_strips_affinity_cookie(void **unused)
{
    struct http_request_ctx c = {"192.0.2.1", "http", "id", "MAGS_SESSION", NULL};

    rewrite_req("GET / HTTP/1.1\r\nHost: a\r\n"
                "Cookie: a=1; MAGS_SESSION=xyz; b=2\r\n"
                "Cookie: MAGS_SESSION=only\r\n\r\n",
                &c,
                "GET / HTTP/1.1\r\nHost: a\r\n"
                "Cookie: a=1; b=2\r\n"
                "X-Forwarded-For: 192.0.2.1\r\n"
                "X-Forwarded-Proto: http\r\n"
                "X-Request-Id: id\r\n\r\n");
    (void)unused;
}

/* A WebSocket request keeps its own-hop Connection/Upgrade pair; any
 * other use of Upgrade is dropped as hop-by-hop. */
static void
test_request_upgrade(void **unused)
{
    struct http_head h;
    struct http_span v;
    (void)unused;

    parse_req(&h, "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n"
                  "Upgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n");
    assert_true(http_head_wants_upgrade(&h, &v));
    assert_int_equal(v.len, 9);
    assert_memory_equal(v.p, "websocket", 9);
    struct http_request_ctx c = {"192.0.2.1", "http", "id", NULL, &v};
    rewrite_req("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n"
                "Upgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n", &c,
                "GET /ws HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Key: k\r\n"
                "X-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: http\r\n"
                "X-Request-Id: id\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n");
    /* Upgrade without the Connection token, or the token without Upgrade. */
    parse_req(&h, "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n");
    assert_false(http_head_wants_upgrade(&h, &v));
    parse_req(&h, "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n");
    assert_false(http_head_wants_upgrade(&h, &v));
}

static void
test_response_101(void **unused)
{
    struct http_span v = {"websocket", 9};
    struct http_response_ctx c = {.framing = HTTP_FRAMING_NONE, .upgrade = &v};
    (void)unused;

    rewrite_resp("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                 "Upgrade: websocket\r\nSec-WebSocket-Accept: x\r\n\r\n", &c,
                 "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: x\r\n"
                 "Connection: upgrade\r\nUpgrade: websocket\r\n\r\n");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_strips_affinity_cookie),
        cmocka_unit_test(test_request_basic),
        cmocka_unit_test(test_request_hop_by_hop),
        cmocka_unit_test(test_request_framing),
        cmocka_unit_test(test_request_forwarded),
        cmocka_unit_test(test_request_upgrade),
        cmocka_unit_test(test_response_101),
        cmocka_unit_test(test_request_empty_request_id),
        cmocka_unit_test(test_request_id),
        cmocka_unit_test(test_request_does_not_fit),
        cmocka_unit_test(test_response_length),
        cmocka_unit_test(test_response_chunked_and_close),
        cmocka_unit_test(test_response_keep_alive_10_and_extra),
        cmocka_unit_test(test_response_no_body),
        cmocka_unit_test(test_response_does_not_fit),
        cmocka_unit_test(test_reply_reason),
        cmocka_unit_test(test_reply_error),
        cmocka_unit_test(test_reply_error_fit),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
