/* Issue 9, items 1 and 2, end to end: a table of hostile requests, each
 * with the exact status Weir must answer, proof that the backend received
 * not one byte of it, that the client connection was closed, and that a
 * normal request on a new connection still works; then what must reach the
 * backend re-encoded (chunked bodies, trailers, Upgrade, requests after a
 * closing one); then a table of bad backend responses (502, the backend
 * connection closed, nothing of them forwarded) and the bodiless and
 * close-delimited responses that must not desynchronise anything. The
 * backend is the harness's recording backend (h_rec_*). */
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

#define OK_REPLY "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"

/* Passive health off: the 502 vectors must not take the one backend out
 * of rotation. The limits are the defaults, written out because the
 * vectors depend on them. */
#define CONFIG                                                           \
    "load_balancer:\n  health_check:\n    passive: false\n"             \
    "limits:\n  max_header_bytes: 16384\n  max_header_line_bytes: 8192\n"

struct fixture {
    struct h_env env;
    struct h_rec rec;
};

static int
setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));

    if (fx == NULL)
        return -1;
    h_env_init(&fx->env);
    if (h_rec_start(&fx->rec, OK_REPLY) != 0 ||
        h_backend_add(&fx->env, "rec", fx->rec.port) != 0 ||
        h_write_config(&fx->env, CONFIG) != 0 || h_weir_start(&fx->env) != 0)
        return -1;
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *fx = *state;
    int rc = h_proc_stop(&fx->env.weir, SIGTERM, 10000);

    if (rc != 0)
        h_dump_log(&fx->env.weir);
    h_rec_stop(&fx->rec);
    h_env_fini(&fx->env);
    free(fx);
    return rc == 0 ? 0 : -1;
}

/* ---- Requests that must be refused ---- */

struct vec {
    const char *why;
    const char *raw;
    size_t len;        /* literals may hold NUL */
    int status;
};

#define V(why, raw, status) {why, raw, sizeof(raw) - 1, status}
#define H "GET / HTTP/1.1\r\nHost: t\r\n"
#define P "POST / HTTP/1.1\r\nHost: t\r\n"
#define TE "Transfer-Encoding: chunked\r\n\r\n"

static const struct vec request_vecs[] = {
    /* Every line ends in CRLF; no bare CR or LF anywhere. */
    V("bare LF line ends", "GET / HTTP/1.1\nHost: t\n\n", 400),
    V("bare LF after the request line", "GET / HTTP/1.1\nHost: t\r\n\r\n", 400),
    V("bare LF after a field line", H "X: y\n\r\n", 400),
    V("bare LF blank line", H "\n", 400),
    V("bare CR in the request line", "GET / HTTP/1.1\rHost: t\r\n\r\n", 400),
    V("bare CR in a value", H "X: a\rb\r\n\r\n", 400),
    V("CR CR LF line end", H "X: a\r\r\n\r\n", 400),
    /* Request line: METHOD SP target SP HTTP/1.0|1.1, visible target. */
    V("HTTP/0.9", "GET /\r\n\r\n", 400),
    V("HTTP/2.0", "GET / HTTP/2.0\r\nHost: t\r\n\r\n", 400),
    V("HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),
    V("HXXX/1.1", "GET / HXXX/1.1\r\nHost: t\r\n\r\n", 400),
    V("HTTP/1.2", "GET / HTTP/1.2\r\nHost: t\r\n\r\n", 400),
    V("lower-case version", "GET / http/1.1\r\nHost: t\r\n\r\n", 400),
    V("two SP before the target", "GET  / HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    V("HTAB separator", "GET\t/ HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    V("SP after the version", "GET / HTTP/1.1 \r\nHost: t\r\n\r\n", 400),
    V("SP inside the target", "GET /a b HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    V("control byte in the target", "GET /a\x01 HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    V("NUL in the target", "GET /a\0 HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    V("obs-text in the target", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    V("non-token method", "GE(T / HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    V("CRLF before the request line", "\r\n" H "\r\n", 400),
    /* Header names are tokens, the colon right after. */
    V("SP before the colon", H "Content-Length : 5\r\n\r\nhello", 400),
    V("HTAB before the colon", H "Content-Length\t: 5\r\n\r\nhello", 400),
    V("SP inside a name", H "Content Length: 5\r\n\r\nhello", 400),
    V("leading SP on the first field line", "GET / HTTP/1.1\r\n Host: t\r\n\r\n", 400),
    V("leading HTAB on the first field line", "GET / HTTP/1.1\r\n\tHost: t\r\n\r\n", 400),
    V("empty name", H ": v\r\n\r\n", 400),
    V("no colon", H "Xyz\r\n\r\n", 400),
    V("non-token name", H "X(y): v\r\n\r\n", 400),
    /* obs-fold. */
    V("obs-fold with SP", H "X: a\r\n b\r\n\r\n", 400),
    V("obs-fold with HTAB", H "X: a\r\n\tb\r\n\r\n", 400),
    /* Values: no NUL, no other control, no DEL. */
    V("NUL in a value", H "X: a\0b\r\n\r\n", 400),
    V("0x01 in a value", H "X: a\x01" "b\r\n\r\n", 400),
    V("ESC in a value", H "X: \x1b[31m\r\n\r\n", 400),
    V("DEL in a value", H "X: a\x7f\r\n\r\n", 400),
    /* Host: exactly one on 1.1, at most one on 1.0, syntactically valid. */
    V("HTTP/1.1 without Host", "GET / HTTP/1.1\r\nX: y\r\n\r\n", 400),
    V("two Host", H "Host: t\r\n\r\n", 400),
    V("two different Host", H "Host: u\r\n\r\n", 400),
    V("two Host on 1.0", "GET / HTTP/1.0\r\nHost: t\r\nHost: t\r\n\r\n", 400),
    V("empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", 400),
    V("SP in Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    V("slash in Host", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    V("userinfo in Host", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400),
    V("non-digit port", "GET / HTTP/1.1\r\nHost: a:8o\r\n\r\n", 400),
    /* Content-Length. */
    V("Content-Length and Transfer-Encoding",
      P "Content-Length: 5\r\n" TE "0\r\n\r\n", 400),
    V("Transfer-Encoding and Content-Length",
      P "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400),
    V("two different Content-Length",
      P "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
    V("different Content-Length list", P "Content-Length: 5, 6\r\n\r\nhello!", 400),
    V("Content-Length with a sign", P "Content-Length: +5\r\n\r\nhello", 400),
    V("Content-Length in hex", P "Content-Length: 0x5\r\n\r\nhello", 400),
    V("Content-Length with a space inside", P "Content-Length: 5 5\r\n\r\nhello", 400),
    V("empty Content-Length", P "Content-Length:\r\n\r\n", 400),
    V("Content-Length overflow",
      P "Content-Length: 18446744073709551616\r\n\r\n", 400),
    /* Transfer-Encoding. */
    V("Transfer-Encoding on HTTP/1.0",
      "POST / HTTP/1.0\r\nHost: t\r\n" TE "0\r\n\r\n", 400),
    V("unknown coding", P "Transfer-Encoding: gzip\r\n\r\n", 501),
    V("unknown coding before chunked", P "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    V("identity", P "Transfer-Encoding: identity\r\n\r\n", 501),
    V("a coding after chunked", P "Transfer-Encoding: chunked, gzip\r\n\r\n", 400),
    V("chunked twice", P "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400),
    V("chunked in two headers",
      P "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    V("empty Transfer-Encoding", P "Transfer-Encoding:\r\n\r\n", 400),
    /* Chunk sizes and extensions (head and body sent together). */
    V("chunk size overflow", P TE "10000000000000000\r\nx\r\n0\r\n\r\n", 400),
    V("chunk size UINT64_MAX", P TE "ffffffffffffffff\r\nx\r\n0\r\n\r\n", 400),
    V("chunk size with a plus sign", P TE "+5\r\nhello\r\n0\r\n\r\n", 400),
    V("chunk size with a minus sign", P TE "-5\r\nhello\r\n0\r\n\r\n", 400),
    V("SP before a chunk size", P TE " 5\r\nhello\r\n0\r\n\r\n", 400),
    V("SP after a chunk size", P TE "5 \r\nhello\r\n0\r\n\r\n", 400),
    V("HTAB after a chunk size", P TE "5\t\r\nhello\r\n0\r\n\r\n", 400),
    V("non-hex chunk size", P TE "zz\r\nhello\r\n0\r\n\r\n", 400),
    V("0x chunk size", P TE "0x5\r\nhello\r\n0\r\n\r\n", 400),
    V("empty chunk size", P TE "\r\nhello\r\n0\r\n\r\n", 400),
    V("bare LF after a chunk size", P TE "5\nhello\r\n0\r\n\r\n", 400),
    V("chunk data longer than its size", P TE "5\r\nhello!\r\n0\r\n\r\n", 400),
    V("control byte in a chunk extension", P TE "5;a\x01\r\nhello\r\n0\r\n\r\n", 400),
    V("obs-fold in a trailer", P TE "0\r\nX: 1\r\n 2\r\n\r\n", 400),
    /* Heads our checks accept but http-parser refuses (HPE_*). */
    V("method unknown to http-parser", "BREW / HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    V("lower-case method", "get / HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    V("identical Content-Length twice",
      P "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400),
    V("identical Content-Length list", P "Content-Length: 5, 5\r\n\r\nhello", 400),
    /* CONNECT. */
    V("CONNECT", "CONNECT t:443 HTTP/1.1\r\nHost: t:443\r\n\r\n", 405),
};

/* Vectors built at run time: the size limits. */
struct big {
    const char *why;
    int status;
    size_t request_line, field_line, fields, total;
    size_t ext;        /* a chunk extension of this many bytes after ';' */
};

static const struct big big_vecs[] = {
    {"request line over max_header_line_bytes", 414, 8193, 0, 0, 0, 0},
    {"field line over max_header_line_bytes", 431, 0, 8193, 0, 0, 0},
    {"101 header fields", 431, 0, 0, 101, 0, 0},
    {"head over max_header_bytes", 431, 0, 0, 0, 20000, 0},
    {"head over max_header_bytes, never ended", 431, 0, 0, 0, 0, 0},
    {"chunk extension over 256 bytes", 400, 0, 0, 0, 0, 256},
};

/* Build a big vector into BUF (cap 65536). Returns its length. */
static size_t
build_big(const struct big *b, char *buf)
{
    size_t len = 0;

    if (b->ext) {
        len = (size_t)sprintf(buf, P TE "5;");
        memset(buf + len, 'e', b->ext);
        len += b->ext;
        len += (size_t)sprintf(buf + len, "\r\nhello\r\n0\r\n\r\n");
        return len;
    }
    if (b->request_line) {
        len = (size_t)sprintf(buf, "GET /");
        memset(buf + len, 'a', b->request_line - 14);
        len += b->request_line - 14;
        len += (size_t)sprintf(buf + len, " HTTP/1.1\r\nHost: t\r\n\r\n");
        return len;
    }
    len = (size_t)sprintf(buf, H);
    if (b->field_line) {
        len += (size_t)sprintf(buf + len, "X: ");
        memset(buf + len, 'b', b->field_line - 3);
        len += b->field_line - 3;
        len += (size_t)sprintf(buf + len, "\r\n\r\n");
    } else if (b->fields) {
        /* Host is one of them. */
        for (size_t i = 1; i < b->fields; i++)
            len += (size_t)sprintf(buf + len, "X-%zu: v\r\n", i);
        len += (size_t)sprintf(buf + len, "\r\n");
    } else if (b->total) {
        while (len < b->total)
            len += (size_t)sprintf(buf + len, "X-Pad: %0100d\r\n", 0);
        len += (size_t)sprintf(buf + len, "\r\n");
    } else {
        /* 17000 bytes of fields and no blank line. */
        while (len < 17000)
            len += (size_t)sprintf(buf + len, "X-Pad: %0100d\r\n", 0);
    }
    return len;
}

static int normal_seq;

/* A normal request on a new connection is served by the backend. 0 or -1,
 * with the reason on stderr. */
static int
normal_request_works(struct fixture *fx)
{
    struct h_response r;
    char path[64];
    struct h_rec_stats before = h_rec_stats(&fx->rec);

    snprintf(path, sizeof(path), "/normal-%d", ++normal_seq);
    if (h_get(fx->env.weir.port, path, &r) != 0) {
        fprintf(stderr, "  normal request: no response\n");
        return -1;
    }
    int rc = r.status == 200 && strcmp(r.body, "ok\n") == 0 ? 0 : -1;
    if (rc != 0)
        fprintf(stderr, "  normal request: %d\n", r.status);
    h_response_fini(&r);
    if (rc == 0 && h_rec_stats(&fx->rec).requests != before.requests + 1) {
        fprintf(stderr, "  normal request: not seen by the backend\n");
        rc = -1;
    }
    return rc;
}

/* Send RAW on a new connection; it must be answered STATUS and closed,
 * with nothing reaching the backend, and a normal request must work
 * after it. Returns 0, or -1 with the reason on stderr. */
static int
refused(struct fixture *fx, const char *why, const char *raw, size_t len,
        int status)
{
    struct h_response r;
    bool reset;
    int rc = -1;

    h_rec_reset(&fx->rec);
    int fd = h_connect(fx->env.weir.port);
    if (fd == -1 || h_send_all(fd, raw, len) != 0 ||
        h_read_response(fd, &r, false) != 0) {
        fprintf(stderr, "vector \"%s\": no response\n", why);
        if (fd != -1)
            close(fd);
        return -1;
    }
    if (r.status != status)
        fprintf(stderr, "vector \"%s\": answered %d, want %d\n", why, r.status,
                status);
    else if (r.keep_alive)
        fprintf(stderr, "vector \"%s\": the response keeps the connection\n", why);
    else if (h_read_to_eof(fd, 5000, &reset) == -1)
        fprintf(stderr, "vector \"%s\": the connection was not closed\n", why);
    else
        rc = 0;
    h_response_fini(&r);
    close(fd);
    struct h_rec_stats st = h_rec_stats(&fx->rec);
    if (st.bytes != 0 || st.requests != 0) {
        fprintf(stderr, "vector \"%s\": the backend received %ld bytes, %d requests\n",
                why, st.bytes, st.requests);
        rc = -1;
    }
    if (normal_request_works(fx) != 0) {
        fprintf(stderr, "vector \"%s\": a normal request failed after it\n", why);
        rc = -1;
    }
    return rc;
}

static void
test_refused_requests(void **state)
{
    struct fixture *fx = *state;
    static char buf[65536];
    int failures = 0, n = 0;

    for (size_t i = 0; i < sizeof(request_vecs) / sizeof(request_vecs[0]); i++, n++)
        if (refused(fx, request_vecs[i].why, request_vecs[i].raw,
                    request_vecs[i].len, request_vecs[i].status) != 0)
            failures++;
    for (size_t i = 0; i < sizeof(big_vecs) / sizeof(big_vecs[0]); i++, n++) {
        size_t len = build_big(&big_vecs[i], buf);
        if (refused(fx, big_vecs[i].why, buf, len, big_vecs[i].status) != 0)
            failures++;
    }
    fprintf(stderr, "%d request vectors, %d failed\n", n, failures);
    assert_int_equal(failures, 0);
}

/* The limits are limits, not off by one: a head with a request line and a
 * field line of exactly max_header_line_bytes, and 100 fields, passes. */
static void
test_limits_are_inclusive(void **state)
{
    struct fixture *fx = *state;
    static char buf[65536];
    struct h_response r;
    const struct big ok[] = {
        {"request line at the limit", 200, 8192, 0, 0, 0, 0},
        {"field line at the limit", 200, 0, 8192, 0, 0, 0},
        {"100 fields", 200, 0, 0, 100, 0, 0},
        {"chunk extension of 255 bytes after ';'", 200, 0, 0, 0, 0, 255},
    };

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        size_t len = build_big(&ok[i], buf);
        buf[len] = '\0';
        assert_int_equal(h_request(fx->env.weir.port, buf, &r), 0);
        if (r.status != 200)
            fprintf(stderr, "\"%s\": %d\n", ok[i].why, r.status);
        assert_int_equal(r.status, 200);
        h_response_fini(&r);
    }
}

/* ---- What reaches the backend, and how ---- */

/* A chunked body is forwarded as fresh chunks: extensions, odd size
 * spellings and trailers never reach the backend. */
static void
test_chunked_is_reencoded(void **state)
{
    struct fixture *fx = *state;
    static char got[H_REC_CAPTURE];
    struct h_response r;
    const char *req = P "Transfer-Encoding: chunked\r\n\r\n"
                      "0005;ext=smuggle\r\nhello\r\n"
                      "6;a=\"b c\"\r\n world\r\n"
                      "0\r\nX-Trailer-Evil: 1\r\nContent-Length: 999\r\n\r\n";

    h_rec_reset(&fx->rec);
    assert_int_equal(h_request(fx->env.weir.port, req, &r), 0);
    assert_int_equal(r.status, 200);
    h_response_fini(&r);
    h_rec_capture(&fx->rec, got, sizeof(got));
    assert_int_equal(h_rec_stats(&fx->rec).requests, 1);
    char *body = strstr(got, "\r\n\r\n");
    assert_non_null(body);
    body[2] = '\0';
    /* The head: chunked, no trailer fields merged into it. */
    assert_non_null(strstr(got, "Transfer-Encoding: chunked\r\n"));
    assert_null(strstr(got, "X-Trailer-Evil"));
    assert_null(strstr(got, "Content-Length"));
    /* The body: fresh chunks, no extensions, no trailers. */
    assert_string_equal(body + 4, "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
}

/* Nothing after a request that ends the connection is read as a request:
 * Connection: close, and HTTP/1.0 without keep-alive. */
static void
test_nothing_read_after_close(void **state)
{
    struct fixture *fx = *state;
    static char got[H_REC_CAPTURE];
    const char *const reqs[] = {
        H "Connection: close\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n",
        P "Content-Length: 5\r\nConnection: close\r\n\r\nhello"
          "GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n",
    };

    for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
        struct h_response r;
        bool reset;
        h_rec_reset(&fx->rec);
        int fd = h_connect(fx->env.weir.port);
        assert_true(fd >= 0);
        assert_int_equal(h_send_all(fd, reqs[i], strlen(reqs[i])), 0);
        assert_int_equal(h_read_response(fd, &r, false), 0);
        assert_int_equal(r.status, 200);
        assert_false(r.keep_alive);
        h_response_fini(&r);
        /* Then the connection ends, with no second response. */
        assert_int_equal(h_read_to_eof(fd, 5000, &reset), 0);
        close(fd);
        h_rec_capture(&fx->rec, got, sizeof(got));
        assert_int_equal(h_rec_stats(&fx->rec).requests, 1);
        assert_null(strstr(got, "smuggled"));
    }
}

/* Upgrade is forwarded only when the client asks for a switch properly (a
 * bodiless HTTP/1.1 GET naming "upgrade" in Connection: it_tunnel): any
 * other Upgrade is hop-by-hop, the backend never sees it, so it never
 * switches protocols on its own; and a 101 Weir did not ask for is a 502. */
static void
test_upgrade_only_on_101_asked(void **state)
{
    struct fixture *fx = *state;
    static char got[H_REC_CAPTURE];
    struct h_response r;
    const char *reqs[] = {
        /* Upgrade without the Connection token. */
        H "Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
          "Sec-WebSocket-Version: 13\r\n\r\n",
        /* A request with a body cannot switch. */
        "POST / HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        "Content-Length: 2\r\n\r\nhi",
    };

    for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
        h_rec_set_reply(&fx->rec, OK_REPLY, false);
        h_rec_reset(&fx->rec);
        assert_int_equal(h_request(fx->env.weir.port, reqs[i], &r), 0);
        assert_int_equal(r.status, 200);
        h_response_fini(&r);
        h_rec_capture(&fx->rec, got, sizeof(got));
        assert_null(strstr(got, "Upgrade"));
        assert_null(strstr(got, "upgrade"));

        h_rec_set_reply(&fx->rec, "HTTP/1.1 101 Switching Protocols\r\n"
                                  "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
                        false);
        assert_int_equal(h_request(fx->env.weir.port, reqs[i], &r), 0);
        assert_int_equal(r.status, 502);
        assert_null(h_header(&r, "Upgrade", got, sizeof(got)));
        h_response_fini(&r);
    }
    h_rec_set_reply(&fx->rec, OK_REPLY, false);
    assert_int_equal(normal_request_works(fx), 0);
}

/* ---- Backend responses ---- */

struct rvec {
    const char *why;
    const char *reply;
    bool close_after;      /* the backend closes after sending it */
};

/* Each must be answered 502 by Weir itself, the backend connection
 * closed. "X-Leak" marks what must never reach the client. */
static const struct rvec bad_responses[] = {
    {"not HTTP", "SMTP ready\r\nX-Leak: 1\r\n\r\n", false},
    {"HTTP/2 status line", "HTTP/2 200 OK\r\nX-Leak: 1\r\n\r\n", false},
    {"HXXP", "HXXP/1.1 200 OK\r\nX-Leak: 1\r\n\r\n", false},
    {"two-digit status", "HTTP/1.1 20 OK\r\nX-Leak: 1\r\n\r\n", false},
    {"no SP after the status", "HTTP/1.1 200OK\r\nX-Leak: 1\r\n\r\n", false},
    {"bare LF", "HTTP/1.1 200 OK\nX-Leak: 1\r\nContent-Length: 0\r\n\r\n", false},
    {"bare LF everywhere", "HTTP/1.1 200 OK\nX-Leak: 1\nContent-Length: 0\n\n", false},
    {"bare CR", "HTTP/1.1 200 OK\r\nX-Leak: a\rb\r\nContent-Length: 0\r\n\r\n", false},
    {"obs-fold", "HTTP/1.1 200 OK\r\nX-Leak: a\r\n b\r\nContent-Length: 0\r\n\r\n", false},
    {"SP before the colon", "HTTP/1.1 200 OK\r\nX-Leak: 1\r\nContent-Length : 0\r\n\r\n", false},
    {"control byte in a value", "HTTP/1.1 200 OK\r\nX-Leak: 1\r\nX: \x01\r\nContent-Length: 0\r\n\r\n", false},
    {"Content-Length and Transfer-Encoding",
     "HTTP/1.1 200 OK\r\nX-Leak: 1\r\nContent-Length: 5\r\n"
     "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false},
    {"two different Content-Length",
     "HTTP/1.1 200 OK\r\nX-Leak: 1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nok\n", false},
    {"identical Content-Length twice (parser)",
     "HTTP/1.1 200 OK\r\nX-Leak: 1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nok\n", false},
    {"negative Content-Length", "HTTP/1.1 200 OK\r\nX-Leak: 1\r\nContent-Length: -3\r\n\r\n", false},
    {"unknown coding", "HTTP/1.1 200 OK\r\nX-Leak: 1\r\nTransfer-Encoding: gzip\r\n\r\n", false},
    {"a coding after chunked",
     "HTTP/1.1 200 OK\r\nX-Leak: 1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", false},
    {"Transfer-Encoding on HTTP/1.0",
     "HTTP/1.0 200 OK\r\nX-Leak: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false},
    {"101 not asked for",
     "HTTP/1.1 101 Switching Protocols\r\nX-Leak: 1\r\nUpgrade: x\r\n\r\n", false},
    {"closed inside the head", "HTTP/1.1 200 OK\r\nX-Leak: 1\r\n", true},
    {"closed before a byte", "", true},
};

static char huge_head[40000];

/* A bad response: 502 from Weir, not the backend's bytes, and Weir closes
 * the backend connection (unless the backend closed it itself). */
static int
bad_response(struct fixture *fx, const struct rvec *v)
{
    struct h_response r;
    char tmp[64];
    int rc = -1;

    h_rec_set_reply(&fx->rec, v->reply, v->close_after);
    h_rec_reset(&fx->rec);
    if (h_get(fx->env.weir.port, "/r", &r) != 0) {
        fprintf(stderr, "response \"%s\": no answer\n", v->why);
        h_rec_set_reply(&fx->rec, OK_REPLY, false);
        return -1;
    }
    if (r.status != 502)
        fprintf(stderr, "response \"%s\": client got %d\n", v->why, r.status);
    else if (h_header(&r, "X-Leak", tmp, sizeof(tmp)) != NULL ||
             strcmp(r.body, "502 Bad Gateway\n") != 0)
        fprintf(stderr, "response \"%s\": backend bytes reached the client\n", v->why);
    else if (!v->close_after && h_rec_wait_closed(&fx->rec, 1, 5000) != 0)
        fprintf(stderr, "response \"%s\": the backend connection stayed open\n", v->why);
    else
        rc = 0;
    h_response_fini(&r);
    h_rec_set_reply(&fx->rec, OK_REPLY, false);
    if (normal_request_works(fx) != 0) {
        fprintf(stderr, "response \"%s\": a normal request failed after it\n", v->why);
        rc = -1;
    }
    return rc;
}

static void
test_bad_responses_are_502(void **state)
{
    struct fixture *fx = *state;
    int failures = 0, n = 0;

    for (size_t i = 0; i < sizeof(bad_responses) / sizeof(bad_responses[0]); i++, n++)
        if (bad_response(fx, &bad_responses[i]) != 0)
            failures++;
    /* A head larger than Weir's 32 KiB response buffer. */
    size_t len = (size_t)sprintf(huge_head, "HTTP/1.1 200 OK\r\nX-Leak: 1\r\n");
    while (len < sizeof(huge_head) - 200)
        len += (size_t)sprintf(huge_head + len, "X-Pad: %0100d\r\n", 0);
    sprintf(huge_head + len, "Content-Length: 0\r\n\r\n");
    const struct rvec huge = {"head over 32 KiB", huge_head, false};
    if (bad_response(fx, &huge) != 0)
        failures++;
    n++;
    fprintf(stderr, "%d response vectors, %d failed\n", n, failures);
    assert_int_equal(failures, 0);
}

/* A response whose head was fine but whose body breaks its framing: the
 * client must never see a response that looks complete, and its
 * connection is closed. */
static void
test_broken_response_bodies_cut_the_client(void **state)
{
    struct fixture *fx = *state;
    static const struct rvec cuts[] = {
        {"Content-Length body cut short",
         "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..", true},
        {"chunked body cut short",
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", true},
        {"bad chunk size",
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", false},
        {"chunk size with a sign",
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n", false},
        {"chunk data longer than its size",
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello!!\r\n0\r\n\r\n", false},
    };

    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        struct h_response r;
        bool reset;
        h_rec_set_reply(&fx->rec, cuts[i].reply, cuts[i].close_after);
        h_rec_reset(&fx->rec);
        int fd = h_connect(fx->env.weir.port);
        const char *req = "GET /cut HTTP/1.1\r\nHost: t\r\n\r\n";
        assert_true(fd >= 0);
        assert_int_equal(h_send_all(fd, req, strlen(req)), 0);
        /* Either nothing at all or a head and part of a body; never a
         * complete response. Then the connection ends. */
        if (h_read_response(fd, &r, false) == 0) {
            if (r.complete)
                fprintf(stderr, "\"%s\": complete %d response\n", cuts[i].why, r.status);
            assert_false(r.complete);
            assert_int_equal(r.status, 200);
        }
        h_response_fini(&r);
        assert_true(h_read_to_eof(fd, 5000, &reset) >= 0);
        close(fd);
        if (!cuts[i].close_after)
            assert_int_equal(h_rec_wait_closed(&fx->rec, 1, 5000), 0);
        h_rec_set_reply(&fx->rec, OK_REPLY, false);
        assert_int_equal(normal_request_works(fx), 0);
    }
}

/* HEAD, 204 and 304 responses have no body whatever their headers say;
 * bytes a backend sends after them are not taken as the next response
 * on either connection. */
static void
test_bodiless_responses(void **state)
{
    struct fixture *fx = *state;
    static const struct {
        const char *why, *method, *reply;
        int status;
    } vecs[] = {
        {"HEAD", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 200},
        {"HEAD with stray bytes", "HEAD",
         "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200},
        {"204 with a Content-Length body", "GET",
         "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello", 204},
        {"304 with a chunked body", "GET",
         "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"
         "5\r\nhello\r\n0\r\n\r\n", 304},
    };

    for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
        struct h_response r;
        char req[128], v[32];
        h_rec_set_reply(&fx->rec, vecs[i].reply, false);
        int fd = h_connect(fx->env.weir.port);
        assert_true(fd >= 0);
        snprintf(req, sizeof(req), "%s /b HTTP/1.1\r\nHost: t\r\n\r\n", vecs[i].method);
        assert_int_equal(h_send_all(fd, req, strlen(req)), 0);
        assert_int_equal(h_read_response(fd, &r, true), 0);
        assert_int_equal(r.status, vecs[i].status);
        if (vecs[i].status == 200)
            assert_string_equal(h_header(&r, "Content-Length", v, sizeof(v)), "5");
        assert_true(r.keep_alive);
        h_response_fini(&r);
        /* The same client connection: the next response is the real one,
         * not "hello". */
        h_rec_set_reply(&fx->rec, OK_REPLY, false);
        const char *get = "GET /next HTTP/1.1\r\nHost: t\r\n\r\n";
        assert_int_equal(h_send_all(fd, get, strlen(get)), 0);
        assert_int_equal(h_read_response(fd, &r, false), 0);
        if (r.status != 200 || strcmp(r.body, "ok\n") != 0)
            fprintf(stderr, "\"%s\": next response %d \"%s\"\n", vecs[i].why,
                    r.status, r.body);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "ok\n");
        h_response_fini(&r);
        close(fd);
    }
}

/* A response without framing is read until the backend closes: an
 * HTTP/1.1 client gets it chunked (its connection survives), an HTTP/1.0
 * client gets it close-delimited. */
static void
test_read_until_close(void **state)
{
    struct fixture *fx = *state;
    struct h_response r;
    bool reset;
    const char *reply = "HTTP/1.1 200 OK\r\nX-Framing: none\r\n\r\nuntil the end\n";

    h_rec_set_reply(&fx->rec, reply, true);
    int fd = h_connect(fx->env.weir.port);
    const char *get = "GET /eof HTTP/1.1\r\nHost: t\r\n\r\n";
    assert_int_equal(h_send_all(fd, get, strlen(get)), 0);
    assert_int_equal(h_read_response(fd, &r, false), 0);
    assert_int_equal(r.status, 200);
    assert_true(r.chunked);
    assert_true(r.complete);
    assert_true(r.keep_alive);
    assert_string_equal(r.body, "until the end\n");
    h_response_fini(&r);
    h_rec_set_reply(&fx->rec, OK_REPLY, false);
    assert_int_equal(h_send_all(fd, get, strlen(get)), 0);
    assert_int_equal(h_read_response(fd, &r, false), 0);
    assert_string_equal(r.body, "ok\n");
    h_response_fini(&r);
    close(fd);

    h_rec_set_reply(&fx->rec, reply, true);
    fd = h_connect(fx->env.weir.port);
    get = "GET /eof HTTP/1.0\r\n\r\n";
    assert_int_equal(h_send_all(fd, get, strlen(get)), 0);
    assert_int_equal(h_read_response(fd, &r, false), 0);
    assert_false(r.chunked);
    assert_false(r.keep_alive);
    assert_string_equal(r.body, "until the end\n");
    h_response_fini(&r);
    assert_true(h_read_to_eof(fd, 5000, &reset) >= 0);
    close(fd);
    h_rec_set_reply(&fx->rec, OK_REPLY, false);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_requests),
        cmocka_unit_test(test_limits_are_inclusive),
        cmocka_unit_test(test_chunked_is_reencoded),
        cmocka_unit_test(test_nothing_read_after_close),
        cmocka_unit_test(test_upgrade_only_on_101_asked),
        cmocka_unit_test(test_bad_responses_are_502),
        cmocka_unit_test(test_broken_response_bodies_cut_the_client),
        cmocka_unit_test(test_bodiless_responses),
        cmocka_unit_test(test_read_until_close),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
