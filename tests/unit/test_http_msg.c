/* Unit tests for the http-parser glue: bodies framed by Content-Length,
 * chunked or the end of the stream are decoded from an input buf into an
 * output buf (re-encoded as chunked on request) exactly, whatever the read
 * splits and however small the output buffer; bytes after a message stay
 * in the input; malformed chunked framing is an error. Splits come from a
 * seeded PRNG, so every run is the same. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "weir/http/http_head.h"
#include "weir/http/http_msg.h"
#include "weir/util/buf.h"

/* splitmix64 */
struct rng {
    uint64_t s;
};

static uint64_t
rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15u);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* A number in [lo, hi]. */
static size_t
rng_range(struct rng *r, size_t lo, size_t hi)
{
    return lo + (size_t)(rng_next(r) % (hi - lo + 1));
}

/* A growable byte string (test-side only). */
struct str {
    char *p;
    size_t len, cap;
};

static void
str_add(struct str *s, const void *p, size_t n)
{
    if (s->len + n + 1 > s->cap) {
        s->cap = (s->len + n + 1) * 2;
        s->p = realloc(s->p, s->cap);
        assert_non_null(s->p);
    }
    memcpy(s->p + s->len, p, n);
    s->len += n;
    s->p[s->len] = '\0';
}

static void
str_addf(struct str *s, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof(tmp));
    str_add(s, tmp, (size_t)n);
}

static void
str_free(struct str *s)
{
    free(s->p);
    memset(s, 0, sizeof(*s));
}

static void
assert_str(const struct str *s, const char *want, size_t wlen)
{
    if (s->len != wlen || (wlen && memcmp(s->p, want, wlen) != 0))
        fail_msg("got %zu bytes \"%.*s\", want %zu bytes \"%.*s\"", s->len,
                 (int)s->len, s->p ? s->p : "", wlen, (int)wlen, want);
}

#define nitems_(a) (sizeof(a) / sizeof((a)[0]))

#define ASSERT_STR(s, lit) assert_str((s), (lit), sizeof(lit) - 1)

/* How run() feeds a message. Zero sizes mean "as much as possible". */
struct plan {
    bool response;
    bool skip_body;
    bool chunked_out;
    bool eof;             /* signal the end of input once it is all read */
    size_t in_cap, out_cap;
    size_t read_step;     /* bytes per read (0: all that fits) */
    size_t drain_step;    /* bytes drained per round (0: all) */
    struct rng *rng;      /* random read and drain sizes instead */
};

struct result {
    enum http_msg_rc rc;
    struct str body;      /* everything that came out */
    struct str rest;      /* input left over: in, then the unread bytes */
    uint64_t body_bytes;
    bool keep_alive;
    bool until_eof;
};

static void
result_free(struct result *r)
{
    str_free(&r->body);
    str_free(&r->rest);
}

static void
drain(struct buf *out, struct str *to, size_t n)
{
    if (n == 0 || n > buf_len(out))
        n = buf_len(out);
    str_add(to, buf_rptr(out), n);
    buf_consume(out, n);
}

/* Check and split HEAD with http_head (it must pass), then start M on it
 * (M was initialised for a request or a response). */
static int
start(struct http_msg *m, const char *head, size_t len, bool skip_body)
{
    static struct http_head h;
    int rc = m->response ? http_head_parse_response(&h, head, len)
                         : http_head_parse_request(&h, head, len);
    if (rc != 0)
        fail_msg("http_head refused \"%.*s\": %d", (int)len, head, rc);
    return http_msg_start(m, &h, skip_body);
}

/* Start a message on the head of MSG and pump the rest through according
 * to PLAN until DONE, ERROR or the input is exhausted. */
static void
run(const char *msg, size_t len, const struct plan *pl, struct result *r)
{
    struct http_msg m;
    struct buf in, out;

    memset(r, 0, sizeof(*r));
    size_t end = http_head_find_end(msg, len, 0);
    assert_true(end > 0);
    http_msg_init(&m, pl->response);
    assert_int_equal(start(&m, msg, end, pl->skip_body), 0);
    m.chunked_out = pl->chunked_out;
    r->keep_alive = http_msg_keep_alive(&m);
    r->until_eof = http_msg_until_eof(&m);
    assert_int_equal(buf_init(&in, pl->in_cap ? pl->in_cap : len + 1), 0);
    assert_int_equal(buf_init(&out, pl->out_cap ? pl->out_cap : 2 * len + 64), 0);

    size_t pos = end;
    enum http_msg_rc rc = HTTP_MSG_AGAIN;
    for (int stalls = 0;;) {
        size_t n = pl->rng ? rng_range(pl->rng, 1, 97) : pl->read_step;
        if (n == 0 || n > buf_room(&in))
            n = buf_room(&in);
        if (n > len - pos)
            n = len - pos;
        assert_int_equal(buf_append(&in, msg + pos, n), 0);
        pos += n;

        size_t in_before = buf_len(&in), out_before = r->body.len;
        rc = http_msg_pump(&m, &in, &out);
        assert_false(m.overflow);
        assert_true(out.rpos <= out.wpos && out.wpos <= out.cap);
        drain(&out, &r->body, pl->rng ? rng_range(pl->rng, 1, 97) : pl->drain_step);
        /* Every round must read, decode or drain something, or the test
         * would spin forever. */
        if (n == 0 && buf_len(&in) == in_before && r->body.len == out_before)
            assert_true(++stalls < 3);
        else
            stalls = 0;
        if (rc != HTTP_MSG_AGAIN)
            break;
        if (pos == len && buf_len(&in) == 0) {
            if (!pl->eof)
                break;
            while ((rc = http_msg_eof(&m, &out)) == HTTP_MSG_AGAIN)
                drain(&out, &r->body, 0);
            break;
        }
    }
    while (buf_len(&out) > 0)
        drain(&out, &r->body, 0);
    str_add(&r->rest, buf_rptr(&in), buf_len(&in));
    str_add(&r->rest, msg + pos, len - pos);
    r->rc = rc;
    r->body_bytes = m.body_bytes;
    if (rc == HTTP_MSG_DONE)
        assert_true(m.complete);
    buf_fini(&in);
    buf_fini(&out);
}

/* Strictly decode a chunked stream as weir emits it (no extensions, no
 * trailers, minimal hex) and check it ends exactly after "0\r\n\r\n". */
static void
decode_chunked(const struct str *enc, struct str *dec)
{
    size_t i = 0;

    for (;;) {
        char *endp;
        assert_true(i < enc->len);
        unsigned long long n = strtoull(enc->p + i, &endp, 16);
        size_t hex = (size_t)(endp - (enc->p + i));
        assert_true(hex > 0);
        assert_true(enc->p[i] != '0' || n == 0); /* minimal hex */
        i += hex;
        assert_true(i + 2 <= enc->len && memcmp(enc->p + i, "\r\n", 2) == 0);
        i += 2;
        if (n == 0)
            break;
        assert_true(i + n + 2 <= enc->len);
        str_add(dec, enc->p + i, n);
        i += n;
        assert_memory_equal(enc->p + i, "\r\n", 2);
        i += 2;
    }
    assert_int_equal(enc->len, i + 2);
    assert_memory_equal(enc->p + i, "\r\n", 2);
}

#define REQ_CL(n) "POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: " #n "\r\n\r\n"
#define REQ_TE "POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
#define RESP_TE "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

static void
test_content_length(void **unused)
{
    static const char msg[] = REQ_CL(5) "helloGET /next HTTP/1.1\r\n";
    struct plan pl = {0};
    struct result r;

    run(msg, sizeof(msg) - 1, &pl, &r);
    assert_int_equal(r.rc, HTTP_MSG_DONE);
    ASSERT_STR(&r.body, "hello");
    ASSERT_STR(&r.rest, "GET /next HTTP/1.1\r\n");
    assert_int_equal(r.body_bytes, 5);
    assert_true(r.keep_alive);
    assert_false(r.until_eof);
    result_free(&r);

    pl.chunked_out = true;
    run(msg, sizeof(msg) - 1, &pl, &r);
    assert_int_equal(r.rc, HTTP_MSG_DONE);
    ASSERT_STR(&r.body, "5\r\nhello\r\n0\r\n\r\n");
    ASSERT_STR(&r.rest, "GET /next HTTP/1.1\r\n");
    result_free(&r);

    /* Incomplete: AGAIN, everything decoded so far delivered. */
    pl.chunked_out = false;
    run(msg, sizeof(REQ_CL(5)) - 1 + 3, &pl, &r);
    assert_int_equal(r.rc, HTTP_MSG_AGAIN);
    ASSERT_STR(&r.body, "hel");
    assert_int_equal(r.rest.len, 0);
    result_free(&r);
}

static void
test_chunked(void **unused)
{
    static const char msg[] =
        REQ_TE "5\r\nhello\r\n6;ext=1;q=\"a b\"\r\n world\r\n"
        "0\r\nX-Trailer: 1\r\nX-Other: 2\r\n\r\nNEXT";
    struct plan pl = {0};
    struct result r;

    run(msg, sizeof(msg) - 1, &pl, &r);
    assert_int_equal(r.rc, HTTP_MSG_DONE);
    ASSERT_STR(&r.body, "hello world"); /* trailers dropped */
    ASSERT_STR(&r.rest, "NEXT");
    assert_int_equal(r.body_bytes, 11);
    result_free(&r);

    /* Re-encoded: never the client's chunk bytes (extensions, trailers). */
    pl.chunked_out = true;
    run(msg, sizeof(msg) - 1, &pl, &r);
    assert_int_equal(r.rc, HTTP_MSG_DONE);
    ASSERT_STR(&r.body, "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    ASSERT_STR(&r.rest, "NEXT");
    result_free(&r);

    /* Hex digits in either case, leading zeros. */
    static const char hex[] =
        REQ_TE "0000a\r\n0123456789\r\nB\r\nabcdefghijk\r\n000\r\n\r\n";
    pl.chunked_out = false;
    run(hex, sizeof(hex) - 1, &pl, &r);
    assert_int_equal(r.rc, HTTP_MSG_DONE);
    ASSERT_STR(&r.body, "0123456789abcdefghijk");
    assert_int_equal(r.rest.len, 0);
    result_free(&r);

    /* Empty body. */
    static const char empty[] = REQ_TE "0\r\n\r\nNEXT";
    pl.chunked_out = true;
    run(empty, sizeof(empty) - 1, &pl, &r);
    assert_int_equal(r.rc, HTTP_MSG_DONE);
    ASSERT_STR(&r.body, "0\r\n\r\n");
    ASSERT_STR(&r.rest, "NEXT");
    assert_int_equal(r.body_bytes, 0);
    result_free(&r);
}

/* A message without a body completes in http_msg_start; pumping leaves
 * the next message's bytes alone. */
static void
test_no_body(void **unused)
{
    static const char *const heads[] = {
        "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
        REQ_CL(0),
    };
    for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
        struct http_msg m;
        struct buf in, out;
        buf_init(&in, 64);
        buf_init(&out, 64);
        http_msg_init(&m, false);
        assert_int_equal(start(&m, heads[i], strlen(heads[i]), false), 0);
        assert_true(m.complete);
        assert_false(http_msg_until_eof(&m));
        buf_append_str(&in, "GET /2 HTTP/1.1\r\n");
        assert_int_equal(http_msg_pump(&m, &in, &out), HTTP_MSG_DONE);
        assert_int_equal(buf_len(&in), strlen("GET /2 HTTP/1.1\r\n"));
        assert_int_equal(buf_len(&out), 0);
        assert_int_equal(http_msg_eof(&m, &out), HTTP_MSG_DONE);
        buf_fini(&in);
        buf_fini(&out);
    }
}

/* Build a chunked encoding of BODY with random chunk sizes, hex case,
 * leading zeros, extensions and trailers. */
static void
encode_chunked(struct str *enc, const char *body, size_t len, struct rng *rng)
{
    size_t i = 0;
    while (i < len) {
        size_t n = rng_range(rng, 1, 300);
        if (n > len - i)
            n = len - i;
        const char *fmt = rng_next(rng) % 2 ? "%zx" : "%zX";
        if (rng_next(rng) % 5 == 0)
            str_add(enc, "00", 2);
        str_addf(enc, fmt, n);
        if (rng_next(rng) % 4 == 0)
            str_addf(enc, ";e%zu=v", i);
        str_add(enc, "\r\n", 2);
        str_add(enc, body + i, n);
        str_add(enc, "\r\n", 2);
        i += n;
    }
    str_add(enc, "0\r\n", 3);
    if (rng_next(rng) % 2)
        str_add(enc, "X-T: v\r\nX-U:\r\n", 14);
    str_add(enc, "\r\n", 2);
}

/* Random bodies, framings, buffer sizes, read and drain splits: the body
 * comes out exactly, the next message stays, the output never overflows. */
static void
test_random_splits(void **unused)
{
    struct rng rng = {7};

    for (int iter = 0; iter < 600; iter++) {
        size_t blen = rng_range(&rng, 0, 2500);
        char *body = malloc(blen + 1);
        assert_non_null(body);
        for (size_t i = 0; i < blen; i++)
            body[i] = "0\r\n;xX \tA"[rng_next(&rng) % 9] ^ (char)(rng_next(&rng) % 2 ? 0 : 0x40);

        struct str msg = {0};
        bool chunked = rng_next(&rng) % 2;
        bool response = rng_next(&rng) % 2;
        if (response)
            str_add(&msg, "HTTP/1.1 200 OK\r\n", 17);
        else
            str_add(&msg, "PUT / HTTP/1.1\r\nHost: a\r\n", 25);
        if (chunked) {
            str_addf(&msg, "Transfer-Encoding: chunked\r\n\r\n");
            encode_chunked(&msg, body, blen, &rng);
        } else {
            str_addf(&msg, "Content-Length: %zu\r\n\r\n", blen);
            str_add(&msg, body, blen);
        }
        static const char next[] = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nX";
        str_add(&msg, next, sizeof(next) - 1);

        struct plan pl = {
            .response = response,
            .chunked_out = rng_next(&rng) % 2,
            .in_cap = rng_range(&rng, 1, 256),
            .out_cap = rng_range(&rng, HTTP_MSG_SLACK + 1, HTTP_MSG_SLACK + 300),
            .rng = &rng,
        };
        struct result r;
        run(msg.p, msg.len, &pl, &r);
        assert_int_equal(r.rc, HTTP_MSG_DONE);
        assert_int_equal(r.body_bytes, blen);
        assert_str(&r.rest, next, sizeof(next) - 1);
        if (pl.chunked_out && !(blen == 0 && !chunked)) {
            struct str dec = {0};
            decode_chunked(&r.body, &dec);
            assert_str(&dec, body, blen);
            str_free(&dec);
        } else {
            /* Content-Length: 0 completes in http_msg_start, before the
             * caller picks a framing: nothing at all comes out. */
            assert_str(&r.body, body, blen);
        }
        result_free(&r);
        str_free(&msg);
        free(body);
    }
}

/* One byte in, one byte out, through the smallest output buffer that can
 * make progress. */
static void
test_byte_by_byte(void **unused)
{
    static const char cl[] = REQ_CL(11) "hello worldNEXT";
    static const char te[] =
        REQ_TE "5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nT: 1\r\n\r\nNEXT";
    struct plan pl = {
        .in_cap = 1, .out_cap = HTTP_MSG_SLACK + 1, .read_step = 1, .drain_step = 1,
    };
    struct result r;

    for (int co = 0; co < 2; co++) {
        pl.chunked_out = co;
        run(cl, sizeof(cl) - 1, &pl, &r);
        assert_int_equal(r.rc, HTTP_MSG_DONE);
        ASSERT_STR(&r.rest, "NEXT");
        if (co) {
            struct str dec = {0};
            decode_chunked(&r.body, &dec);
            ASSERT_STR(&dec, "hello world");
            str_free(&dec);
        } else {
            ASSERT_STR(&r.body, "hello world");
        }
        result_free(&r);

        run(te, sizeof(te) - 1, &pl, &r);
        assert_int_equal(r.rc, HTTP_MSG_DONE);
        ASSERT_STR(&r.rest, "NEXT");
        if (co) {
            struct str dec = {0};
            decode_chunked(&r.body, &dec);
            ASSERT_STR(&dec, "hello world");
            str_free(&dec);
        } else {
            ASSERT_STR(&r.body, "hello world");
        }
        result_free(&r);
    }
}

/* A full output buffer stops the pump without consuming input; draining
 * it lets the pump resume where it stopped. */
static void
test_backpressure(void **unused)
{
    enum { BODY = 1000, OUTCAP = 64 };
    struct str msg = {0};
    struct str got = {0};
    struct http_msg m;
    struct buf in, out;
    char body[BODY];

    for (size_t i = 0; i < BODY; i++)
        body[i] = (char)('a' + i % 26);
    str_addf(&msg, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", BODY);
    size_t hlen = msg.len;
    str_add(&msg, body, BODY);

    for (int co = 0; co < 2; co++) {
        http_msg_init(&m, true);
        assert_int_equal(start(&m, msg.p, hlen, false), 0);
        m.chunked_out = co;
        buf_init(&in, 2 * BODY);
        buf_init(&out, OUTCAP);
        buf_append(&in, msg.p + hlen, BODY);

        int rounds = 0;
        enum http_msg_rc rc;
        while ((rc = http_msg_pump(&m, &in, &out)) == HTTP_MSG_AGAIN) {
            assert_true(buf_len(&in) > 0);
            assert_true(buf_len(&out) > 0 && out.wpos <= OUTCAP);
            /* Pumping again without draining changes nothing. */
            size_t il = buf_len(&in), ol = buf_len(&out);
            assert_int_equal(http_msg_pump(&m, &in, &out), HTTP_MSG_AGAIN);
            assert_int_equal(buf_len(&in), il);
            assert_int_equal(buf_len(&out), ol);
            /* Drain only part of it: the pump uses whatever room there is. */
            drain(&out, &got, ol > 30 ? ol - 30 : ol);
            rounds++;
            assert_true(rounds < 10000);
        }
        assert_int_equal(rc, HTTP_MSG_DONE);
        assert_false(m.overflow);
        assert_int_equal(buf_len(&in), 0);
        drain(&out, &got, 0);
        assert_true(rounds > BODY / OUTCAP);
        if (co) {
            struct str dec = {0};
            decode_chunked(&got, &dec);
            assert_str(&dec, body, BODY);
            str_free(&dec);
        } else {
            assert_str(&got, body, BODY);
        }
        got.len = 0;
        buf_fini(&in);
        buf_fini(&out);
    }
    str_free(&got);
    str_free(&msg);
}

/* An output buffer no larger than the slack can never make progress; it
 * must not overflow or consume input either. */
static void
test_output_too_small(void **unused)
{
    static const char msg[] = REQ_CL(3) "abc";
    struct http_msg m;
    struct buf in, out;

    http_msg_init(&m, false);
    assert_int_equal(start(&m, msg, sizeof(REQ_CL(3)) - 1, false), 0);
    buf_init(&in, 16);
    buf_init(&out, HTTP_MSG_SLACK);
    buf_append_str(&in, "abc");
    assert_int_equal(http_msg_pump(&m, &in, &out), HTTP_MSG_AGAIN);
    assert_int_equal(buf_len(&in), 3);
    assert_int_equal(buf_len(&out), 0);
    buf_fini(&out);

    /* Output with data at the front is compacted to make room. */
    buf_init(&out, HTTP_MSG_SLACK + 2);
    buf_append(&out, "0123456789", 10);
    buf_consume(&out, 9);
    assert_int_equal(http_msg_pump(&m, &in, &out), HTTP_MSG_AGAIN);
    assert_int_equal(buf_len(&out), 2);
    assert_memory_equal(buf_rptr(&out), "9a", 2);
    assert_int_equal(buf_len(&in), 2);
    buf_fini(&in);
    buf_fini(&out);
}

/* A response without Content-Length or chunked ends when the connection
 * does: pump never finishes it, http_msg_eof does. */
static void
test_until_eof(void **unused)
{
    static const char msg[] = "HTTP/1.1 200 OK\r\nServer: x\r\n\r\nbody until close";
    static const char msg10[] = "HTTP/1.0 200 OK\r\n\r\nold";
    struct plan pl = {.response = true};
    struct result r;

    run(msg, sizeof(msg) - 1, &pl, &r);
    assert_int_equal(r.rc, HTTP_MSG_AGAIN);
    ASSERT_STR(&r.body, "body until close");
    assert_true(r.until_eof);
    assert_false(r.keep_alive);
    result_free(&r);

    pl.eof = true;
    run(msg, sizeof(msg) - 1, &pl, &r);
    assert_int_equal(r.rc, HTTP_MSG_DONE);
    ASSERT_STR(&r.body, "body until close");
    assert_int_equal(r.body_bytes, 16);
    result_free(&r);

    pl.chunked_out = true;
    run(msg, sizeof(msg) - 1, &pl, &r);
    assert_int_equal(r.rc, HTTP_MSG_DONE);
    ASSERT_STR(&r.body, "10\r\nbody until close\r\n0\r\n\r\n");
    result_free(&r);

    run(msg10, sizeof(msg10) - 1, &pl, &r);
    assert_int_equal(r.rc, HTTP_MSG_DONE);
    assert_true(r.until_eof);
    ASSERT_STR(&r.body, "3\r\nold\r\n0\r\n\r\n");
    result_free(&r);

    /* Empty body. */
    static const char empty[] = "HTTP/1.1 200 OK\r\n\r\n";
    run(empty, sizeof(empty) - 1, &pl, &r);
    assert_int_equal(r.rc, HTTP_MSG_DONE);
    ASSERT_STR(&r.body, "0\r\n\r\n");
    result_free(&r);

    /* Random splits through a small output buffer. */
    struct rng rng = {99};
    struct str big = {0};
    str_add(&big, "HTTP/1.1 200 OK\r\n\r\n", 19);
    for (int i = 0; i < 3000; i++)
        str_add(&big, &"0123456789\r\n"[i % 12], 1);
    for (int k = 0; k < 20; k++) {
        struct plan p2 = {.response = true, .eof = true, .chunked_out = k % 2,
                          .in_cap = 50, .out_cap = HTTP_MSG_SLACK + 7, .rng = &rng};
        run(big.p, big.len, &p2, &r);
        assert_int_equal(r.rc, HTTP_MSG_DONE);
        if (p2.chunked_out) {
            struct str dec = {0};
            decode_chunked(&r.body, &dec);
            assert_str(&dec, big.p + 19, 3000);
            str_free(&dec);
        } else {
            assert_str(&r.body, big.p + 19, 3000);
        }
        result_free(&r);
    }
    str_free(&big);
}

/* The end of input before the end of a framed message is an error. */
static void
test_eof_cut_short(void **unused)
{
    static const struct {
        bool response;
        const char *msg;
    } cut[] = {
        {true, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"},
        {true, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"},
        {true, RESP_TE "5\r\nhel"},
        {true, RESP_TE "5\r\nhello\r\n"},
        {true, RESP_TE "5\r\nhello\r\n0\r\n"},
        {true, RESP_TE "5\r\nhello\r\n0\r\nX-T: 1\r\n"},
        {false, REQ_CL(10) "abc"},
        {false, REQ_TE "5\r\nhello\r\n"},
    };
    for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
        struct plan pl = {.response = cut[i].response, .eof = true, .chunked_out = i % 2};
        struct result r;
        run(cut[i].msg, strlen(cut[i].msg), &pl, &r);
        if (r.rc != HTTP_MSG_ERROR)
            fail_msg("vector %zu: rc %d, want ERROR", i, r.rc);
        assert_false(r.until_eof);
        result_free(&r);
    }
}

/* http_msg_eof needs room for the closing chunk; it waits for it. */
static void
test_eof_needs_room(void **unused)
{
    static const char head[] = "HTTP/1.1 200 OK\r\n\r\n";
    struct http_msg m;
    struct buf out;

    http_msg_init(&m, true);
    assert_int_equal(start(&m, head, sizeof(head) - 1, false), 0);
    m.chunked_out = true;
    buf_init(&out, 8);
    buf_append(&out, "12345", 5);
    assert_int_equal(http_msg_eof(&m, &out), HTTP_MSG_AGAIN);
    assert_false(m.complete);
    assert_int_equal(buf_len(&out), 5);
    buf_consume(&out, 5);
    assert_int_equal(http_msg_eof(&m, &out), HTTP_MSG_DONE);
    assert_int_equal(buf_len(&out), 5);
    assert_memory_equal(buf_rptr(&out), "0\r\n\r\n", 5);
    /* Again: still done, nothing more written. */
    assert_int_equal(http_msg_eof(&m, &out), HTTP_MSG_DONE);
    assert_int_equal(buf_len(&out), 5);
    buf_fini(&out);
}

/* Responses to HEAD, and 1xx, 204 and 304 responses, end with their head
 * whatever their framing headers say. */
static void
test_bodiless_responses(void **unused)
{
    static const struct {
        const char *head;
        bool skip;
    } vecs[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true},
        {RESP_TE, true},
        {"HTTP/1.1 200 OK\r\n\r\n", true},
        {"HTTP/1.0 200 OK\r\n\r\n", true},
        {"HTTP/1.1 204 No Content\r\n\r\n", false},
        {"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", false},
        {"HTTP/1.1 304 Not Modified\r\n\r\n", false},
        {"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", false},
        {"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", false},
        {"HTTP/1.1 100 Continue\r\n\r\n", false},
        {"HTTP/1.1 103 Early Hints\r\nContent-Length: 5\r\n\r\n", false},
        {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false},
    };
    static const char next[] = "HTTP/1.1 200 OK\r\n";

    for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
        struct http_msg m;
        struct buf in, out;
        http_msg_init(&m, true);
        m.chunked_out = true;
        assert_int_equal(start(&m, vecs[i].head, strlen(vecs[i].head),
                                        vecs[i].skip), 0);
        if (!m.complete)
            fail_msg("vector %zu (%s): not complete after the head", i, vecs[i].head);
        assert_false(http_msg_until_eof(&m));
        buf_init(&in, 64);
        buf_init(&out, 64);
        buf_append_str(&in, next);
        assert_int_equal(http_msg_pump(&m, &in, &out), HTTP_MSG_DONE);
        assert_int_equal(buf_len(&in), strlen(next));
        assert_int_equal(buf_len(&out), 0);
        assert_int_equal(m.body_bytes, 0);
        buf_fini(&in);
        buf_fini(&out);
    }
}

static bool
keep_alive(const char *head, bool response)
{
    struct http_msg m;

    http_msg_init(&m, response);
    assert_int_equal(start(&m, head, strlen(head), false), 0);
    return http_msg_keep_alive(&m);
}

static void
test_keep_alive(void **unused)
{
    assert_true(keep_alive("GET / HTTP/1.1\r\nHost: a\r\n\r\n", false));
    assert_false(keep_alive("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false));
    assert_false(keep_alive("GET / HTTP/1.0\r\n\r\n", false));
    assert_true(keep_alive("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false));
    assert_true(keep_alive("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n", true));
    assert_false(keep_alive("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n", true));
    assert_false(keep_alive("HTTP/1.1 200 OK\r\n\r\n", true)); /* until close */
    assert_false(keep_alive("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", true));
    assert_true(keep_alive("HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n", true));
    assert_true(keep_alive("HTTP/1.1 204 No Content\r\n\r\n", true));
}

/* Heads http_head accepts but http-parser refuses: http_msg_start refuses
 * them too, the caller answers 400 (or 502), so such messages are still
 * never forwarded. */
static void
test_start_rejects(void **unused)
{
    static const char *const heads[] = {
        "get / HTTP/1.1\r\nHost: a\r\n\r\n",           /* methods are case-sensitive */
        "BREW / HTTP/1.1\r\nHost: a\r\n\r\n",          /* unknown to http-parser */
        "GET http://a^b/ HTTP/1.1\r\nHost: a\r\n\r\n", /* outside its URL grammar */
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked\r\n\r\n",
        /* a name that merely starts with Transfer-Encoding counts for it */
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encodings: gzip\r\n\r\n",
    };

    for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
        struct http_msg m;
        http_msg_init(&m, false);
        if (start(&m, heads[i], strlen(heads[i]), false) != -1)
            fail_msg("accepted: %s", heads[i]);
    }

    struct http_msg m;
    http_msg_init(&m, true);
    static const char resp[] =
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n";
    assert_int_equal(start(&m, resp, sizeof(resp) - 1, false), -1);
}

/* Found by fuzz_response: http_head takes these Transfer-Encoding
 * spellings as chunked, http-parser as another coding read until close
 * (it refuses them in requests itself). Both must agree: -1, so the
 * response is a 502 and the raw chunks never reach the client. */
static void
test_start_rejects_te_disagreement(void **unused)
{
    static const char *const values[] = {
        ",chunked", ", chunked", "chunked,", "chunked ,", ", chunked ,",
        "chunked\t",
    };
    static const char *const statuses[] = {"200 OK", "204 No Content"};
    struct http_head h;
    char head[128];

    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        for (size_t j = 0; j < 2; j++) {
            int n = snprintf(head, sizeof(head), "HTTP/1.1 %s\r\n"
                             "Transfer-Encoding: %s\r\n\r\n", statuses[j],
                             values[i]);
            struct http_msg m;
            assert_int_equal(http_head_parse_response(&h, head, (size_t)n), 0);
            assert_true(h.flags & HTTP_HEAD_F_CHUNKED);
            http_msg_init(&m, true);
            assert_int_equal(http_msg_start(&m, &h, false), -1);
            http_msg_init(&m, true);
            assert_int_equal(http_msg_start(&m, &h, true), -1);
        }
        int n = snprintf(head, sizeof(head), "POST / HTTP/1.1\r\nHost: a\r\n"
                         "Transfer-Encoding: %s\r\n\r\n", values[i]);
        struct http_msg m;
        /* Refused by one check or the other. */
        if (http_head_parse_request(&h, head, (size_t)n) == 0) {
            http_msg_init(&m, false);
            assert_int_equal(http_msg_start(&m, &h, false), -1);
        }
    }
    /* The spellings both read as chunked still work. */
    static const char *const ok[] = {
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: \tChunked \r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: ,,chunked\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct http_msg m;
        assert_int_equal(http_head_parse_response(&h, ok[i], strlen(ok[i])), 0);
        http_msg_init(&m, true);
        assert_int_equal(http_msg_start(&m, &h, false), 0);
        assert_true(m.parser.flags & F_CHUNKED);
    }
}

struct chunk_vec {
    const char *why;
    const char *body;   /* after the head */
};

/* Each is an error, both fed at once and byte by byte. */
static const struct chunk_vec bad_chunks[] = {
    {"plus sign", "+5\r\nhello\r\n0\r\n\r\n"},
    {"minus sign", "-5\r\nhello\r\n0\r\n\r\n"},
    {"leading SP", " 5\r\nhello\r\n0\r\n\r\n"},
    {"trailing SP", "5 \r\nhello\r\n0\r\n\r\n"},
    {"trailing HTAB", "5\t\r\nhello\r\n0\r\n\r\n"},
    {"SP before extension", "5 ;a=b\r\nhello\r\n0\r\n\r\n"},
    {"SP then junk", "5 junk\r\nhello\r\n0\r\n\r\n"},
    {"0x prefix", "0x5\r\nhello\r\n0\r\n\r\n"},
    {"non-hex", "g\r\nhello\r\n0\r\n\r\n"},
    {"non-hex after digits", "5g\r\nhello\r\n0\r\n\r\n"},
    {"empty size", "\r\nhello\r\n0\r\n\r\n"},
    {"extension without size", ";a\r\nhello\r\n0\r\n\r\n"},
    {"size overflow (2^64)", "10000000000000000\r\n"},
    {"size UINT64_MAX", "ffffffffffffffff\r\n"},
    {"size UINT64_MAX - 1", "fffffffffffffffe\r\n"},
    {"size far too large", "fffffffffffffffffffff\r\n"},
    {"bare LF after size", "5\nhello\r\n0\r\n\r\n"},
    {"CR then junk after size", "5\rXhello\r\n0\r\n\r\n"},
    {"truncated after the size CR", "5\r"},
    {"junk instead of CRLF after data", "5\r\nhelloXY0\r\n\r\n"},
    {"bare LF after data", "5\r\nhello\n0\r\n\r\n"},
    {"CR junk after data", "5\r\nhello\rX0\r\n\r\n"},
    {"data longer than size", "5\r\nhello!\r\n0\r\n\r\n"},
    {"control char in extension", "5;a\x01\r\nhello\r\n0\r\n\r\n"},
    {"bare LF ending last chunk", "5\r\nhello\r\n0\n\r\n"},
    {"bare LF final line", "5\r\nhello\r\n0\r\n\n"},
    {"CR junk final line", "5\r\nhello\r\n0\r\n\rX"},
    {"bare LF in trailer", "5\r\nhello\r\n0\r\nX-T: 1\n\r\n"},
    {"bare CR in trailer", "5\r\nhello\r\n0\r\nX-T: 1\r2\r\n\r\n"},
    {"obs-fold trailer", "5\r\nhello\r\n0\r\nX-T: 1\r\n 2\r\n\r\n"},
    {"control char in trailer", "5\r\nhello\r\n0\r\nX-T: \x01\r\n\r\n"},
};

/* Each decodes to "hello" with "NEXT" left over. */
static const struct chunk_vec good_chunks[] = {
    {"plain", "5\r\nhello\r\n0\r\n\r\nNEXT"},
    {"split", "2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\nNEXT"},
    {"extension", "5;name=value\r\nhello\r\n0;last\r\n\r\nNEXT"},
    {"quoted extension", "5;a=\"x y\";b\r\nhello\r\n0\r\n\r\nNEXT"},
    {"leading zeros", "0000000000000000000005\r\nhello\r\n00\r\n\r\nNEXT"},
    {"upper-case hex", "A\r\nhellohello\r\n0\r\n\r\nNEXT"},
    {"trailers", "5\r\nhello\r\n0\r\nX-A: 1\r\nX-B:\r\n\r\nNEXT"},
};

static void
run_chunk_vec(const char *head, const char *body, const struct plan *pl,
              struct result *r)
{
    struct str msg = {0};

    str_add(&msg, head, strlen(head));
    str_add(&msg, body, strlen(body));
    run(msg.p, msg.len, pl, r);
    str_free(&msg);
}

static void
test_bad_chunks(void **unused)
{
    int failures = 0;

    for (size_t i = 0; i < sizeof(bad_chunks) / sizeof(bad_chunks[0]); i++) {
        for (int mode = 0; mode < 4; mode++) {
            struct plan pl = {.response = mode & 2, .chunked_out = mode & 1, .eof = true};
            if (mode & 1) {
                pl.in_cap = 1;
                pl.read_step = 1;
            }
            struct result r;
            run_chunk_vec(mode & 2 ? RESP_TE : REQ_TE, bad_chunks[i].body, &pl, &r);
            if (r.rc != HTTP_MSG_ERROR) {
                print_error("bad chunk %zu \"%s\" mode %d: rc %d\n", i,
                            bad_chunks[i].why, mode, r.rc);
                failures++;
            }
            result_free(&r);
        }
    }
    assert_int_equal(failures, 0);
}

static void
test_good_chunks(void **unused)
{
    int failures = 0;

    for (size_t i = 0; i < sizeof(good_chunks) / sizeof(good_chunks[0]); i++) {
        for (int mode = 0; mode < 2; mode++) {
            struct plan pl = {.in_cap = mode ? 1 : 0, .read_step = mode};
            struct result r;
            run_chunk_vec(REQ_TE, good_chunks[i].body, &pl, &r);
            const char *want = i == 5 ? "hellohello" : "hello";
            if (r.rc != HTTP_MSG_DONE || r.body.len != strlen(want) ||
                memcmp(r.body.p, want, r.body.len) != 0 || r.rest.len != 4 ||
                memcmp(r.rest.p, "NEXT", 4) != 0) {
                print_error("good chunk %zu \"%s\" mode %d: rc %d body \"%s\"\n", i,
                            good_chunks[i].why, mode, r.rc, r.body.p ? r.body.p : "");
                failures++;
            }
            result_free(&r);
        }
    }
    assert_int_equal(failures, 0);
}

/* Chunk extensions are bounded: HTTP_MSG_MAX_CHUNK_EXT bytes after the
 * size pass, one more fails. */
static void
test_chunk_ext_limit(void **unused)
{
    for (int over = 0; over < 2; over++) {
        struct str body = {0};
        str_add(&body, "5;", 2);
        for (size_t i = 1; i < HTTP_MSG_MAX_CHUNK_EXT + (size_t)over; i++)
            str_add(&body, "a", 1);
        str_add(&body, "\r\nhello\r\n0\r\n\r\n", 14);
        for (int mode = 0; mode < 2; mode++) {
            struct plan pl = {.in_cap = mode ? 7 : 0};
            struct result r;
            run_chunk_vec(REQ_TE, body.p, &pl, &r);
            assert_int_equal(r.rc, over ? HTTP_MSG_ERROR : HTTP_MSG_DONE);
            if (!over)
                ASSERT_STR(&r.body, "hello");
            result_free(&r);
        }
        str_free(&body);
    }
}

/* A large chunk size waits for its data. */
static void
test_large_chunk_size(void **unused)
{
    static const char body[] = "fffffffffff\r\nabc";
    struct plan pl = {0};
    struct result r;

    run_chunk_vec(REQ_TE, body, &pl, &r);
    assert_int_equal(r.rc, HTTP_MSG_AGAIN);
    ASSERT_STR(&r.body, "abc");
    result_free(&r);
}

/* Two chunked requests back to back: the first ends exactly where the
 * second starts, which then decodes on its own. */
static void
test_pipelined_chunked(void **unused)
{
    static const char two[] =
        REQ_TE "3\r\none\r\n0\r\n\r\n" REQ_TE "3\r\ntwo\r\n0\r\nT: 1\r\n\r\n";
    struct plan pl = {.in_cap = 5, .read_step = 3, .out_cap = HTTP_MSG_SLACK + 3};
    struct result r, r2;

    run(two, sizeof(two) - 1, &pl, &r);
    assert_int_equal(r.rc, HTTP_MSG_DONE);
    ASSERT_STR(&r.body, "one");
    assert_str(&r.rest, REQ_TE "3\r\ntwo\r\n0\r\nT: 1\r\n\r\n",
               sizeof(REQ_TE "3\r\ntwo\r\n0\r\nT: 1\r\n\r\n") - 1);
    run(r.rest.p, r.rest.len, &pl, &r2);
    assert_int_equal(r2.rc, HTTP_MSG_DONE);
    ASSERT_STR(&r2.body, "two");
    assert_int_equal(r2.rest.len, 0);
    result_free(&r);
    result_free(&r2);
}

/* ---- The single head pass against http-parser's verdict ----
 *
 * http_msg_start no longer runs http-parser over the whole head. The
 * oracle below does, as http_msg_start did before, and every head that
 * http_head accepts must get the same verdict and the same framing and
 * keep-alive facts from both. */

static int
oracle_headers_complete(http_parser *p)
{
    const bool *skip = p->data;
    if (*skip)
        return 1;
    if (p->type == HTTP_RESPONSE &&
        (p->status_code / 100 == 1 || p->status_code == 204 || p->status_code == 304))
        return 1;
    return 0;
}

static int
oracle_message_complete(http_parser *p)
{
    http_parser_pause(p, 1);
    return 0;
}

int http_message_needs_eof(const http_parser *parser);

struct verdict {
    bool ok, complete, keep_alive, until_eof, chunked;
    bool te_unchunked;   /* http-parser saw Transfer-Encoding, not as chunked */
    uint64_t length;
};

static void
oracle(const char *head, size_t len, bool response, bool skip, struct verdict *v)
{
    static const http_parser_settings st = {
        .on_headers_complete = oracle_headers_complete,
        .on_message_complete = oracle_message_complete,
    };
    http_parser p;

    memset(v, 0, sizeof(*v));
    http_parser_init(&p, response ? HTTP_RESPONSE : HTTP_REQUEST);
    p.data = &skip;
    size_t n = http_parser_execute(&p, &st, head, len);
    enum http_errno err = HTTP_PARSER_ERRNO(&p);
    v->complete = err == HPE_PAUSED;
    v->ok = n == len && (err == HPE_OK || err == HPE_PAUSED);
    if (!v->ok)
        return;
    v->te_unchunked = p.uses_transfer_encoding && !(p.flags & F_CHUNKED);
    v->keep_alive = http_should_keep_alive(&p) != 0;
    v->until_eof = !v->complete && http_message_needs_eof(&p);
    v->chunked = !v->complete && (p.flags & F_CHUNKED);
    if (!v->complete && !v->chunked && !v->until_eof)
        v->length = p.content_length;
}

static void
ours(const char *head, size_t len, bool response, bool skip, struct verdict *v)
{
    struct http_msg m;
    static struct http_head h;

    memset(v, 0, sizeof(*v));
    http_msg_init(&m, response);
    int rc = response ? http_head_parse_response(&h, head, len)
                      : http_head_parse_request(&h, head, len);
    assert_int_equal(rc, 0);
    v->ok = http_msg_start(&m, &h, skip) == 0;
    if (!v->ok)
        return;
    v->complete = m.complete;
    v->keep_alive = http_msg_keep_alive(&m);
    v->until_eof = http_msg_until_eof(&m);
    v->chunked = !m.complete && m.framing == HTTP_MSG_CHUNKED;
    if (!v->complete && !v->chunked && !v->until_eof)
        v->length = m.left;
}

static const char *const agree_methods[] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH",
    "PURGE", "COPY", "LOCK", "MKCOL", "MOVE", "PROPFIND", "PROPPATCH",
    "SEARCH", "UNLOCK", "BIND", "REBIND", "UNBIND", "ACL", "REPORT",
    "MKACTIVITY", "CHECKOUT", "MERGE", "M-SEARCH", "NOTIFY", "SUBSCRIBE",
    "UNSUBSCRIBE", "MKCALENDAR", "LINK", "UNLINK", "SOURCE",
    /* refused by http-parser, some only just */
    "get", "Get", "GEX", "GETT", "GE", "G", "POS", "POSTS", "PUTT", "PUR",
    "PURG", "PURGES", "UNSUB", "UNLOCKS", "PROPFINDX", "PROPP", "MKCALENDA",
    "CHECKOUTS", "COPYS", "CONNEC", "M-SEARC", "SOURCEX", "BREW", "PRI",
    "X", "XGET", "HEA", "HEADS", "OPTION", "ACLS", "SUBSCRIB", "NOTIF",
};

static const char *const agree_targets[] = {
    "/", "/a/b?c=d#e", "/a?b?c", "/a#b#c?d", "*", "/*", "/%zz",
    "/\"<>\\^`{|}", "/a;b,c", "//x", "http://a/b", "http://a:80/",
    "HTTP://A.B/c?d", "http://[::1]:8/x", "http://u:p@h/", "http://a@b@c/",
    "http://@/", "http://a^b/", "http://a_b/", "http://a/b c", "https://h",
    "http://h?q", "http:/x", "http:x", "ftp://x/", "a", "ab:c", "a:/b",
    "h://", "http://", "x://y/z", "1http://a/", "?a", "#a", "%2F", "http://a:/",
    "http://a:b/", "http://[x]/", "http://h#f", "http://a]/",
};

static const char *const agree_fields[] = {
    "Content-Length: 0", "Content-Length: 5", "Content-Length: 05",
    "Content-Length: 5, 5", "Content-Length: 1844674407370955160",
    "Content-Length: 18446744073709551614", "Content-Length: 99999999999999999",
    "Transfer-Encoding: chunked", "Transfer-Encoding: Chunked",
    "Transfer-Encoding: , chunked", "Connection: close", "Connection: keep-alive",
    "Connection: Keep-Alive", "Connection: keep-alive, close",
    "Connection: close, keep-alive", "Connection: foo, close",
    "Connection: ,close", "Connection: closed", "Connection: keep-alive;x",
    "Connection: upgrade", "Connection: keep-alive , foo", "Connection: CLOSE",
    "Connection:", "Proxy-Connection: close", "Proxy-Connection: keep-alive",
    "Proxy-Connection: foo", "Upgrade: websocket", "Transfer-Encoding: chunked,",
    "Transfer-Encoding: chunked ", "Transfer-Encoding: chunked\t",
    "Transfer-Encoding:\tchunked", "Transfer-Encoding: ,,chunked",
    "Transfer-Encoding-X: chunked", "Content-Length: 5 ", "Content-Length: 5\t",
    "Content-Length:\t5", "Connection: close\t", "Connection: close ",
    "Connection: ,,close", "Connection: keep-alive,", "Connection:\tclose", "Expect: 100-continue",
    "X-Other: v", "Keep-Alive: timeout=5", "TE: trailers", "Connections: close",
    "Content-Lengths: 5", "Transfer-Encodings: gzip", "Proxy-Connectionx: close",
};

static const unsigned agree_status[] = {
    100, 101, 103, 199, 200, 201, 204, 205, 206, 299, 301, 304, 399, 404,
    500, 599, 600, 999,
};

static void
test_agrees_with_http_parser(void **unused)
{
    struct rng rng = {2024};
    int accepted = 0, refused = 0, failures = 0;

    for (int iter = 0; iter < 40000; iter++) {
        struct str head = {0};
        bool response = rng_next(&rng) % 3 == 0;
        bool skip = response && rng_next(&rng) % 4 == 0;
        const char *minor = rng_next(&rng) % 4 ? "1" : "0";
        if (response) {
            str_addf(&head, "HTTP/1.%s %03u%s\r\n", minor,
                     agree_status[rng_next(&rng) % nitems_(agree_status)],
                     rng_next(&rng) % 3 ? " OK" : "");
        } else {
            str_addf(&head, "%s %s HTTP/1.%s\r\n",
                     agree_methods[rng_next(&rng) % nitems_(agree_methods)],
                     agree_targets[rng_next(&rng) % nitems_(agree_targets)], minor);
            if (rng_next(&rng) % 8)
                str_addf(&head, "Host: a\r\n");
        }
        for (size_t k = rng_range(&rng, 0, 4); k > 0; k--)
            str_addf(&head, "%s\r\n",
                     agree_fields[rng_next(&rng) % nitems_(agree_fields)]);
        str_add(&head, "\r\n", 2);

        static struct http_head h;
        int rc = response ? http_head_parse_response(&h, head.p, head.len)
                          : http_head_parse_request(&h, head.p, head.len);
        if (rc != 0) {
            str_free(&head);
            continue;
        }
        struct verdict want, got;
        oracle(head.p, head.len, response, skip, &want);
        ours(head.p, head.len, response, skip, &got);
        want.ok ? accepted++ : refused++;
        /* Where the two would read the framing differently (a
         * Transfer-Encoding http_head takes as chunked and http-parser
         * does not), Weir refuses: stricter on purpose (found by fuzzing). */
        if (want.ok && want.te_unchunked) {
            if (got.ok && failures++ < 10)
                print_error("accepted a Transfer-Encoding http-parser does not "
                            "read as chunked: \"%s\"\n", head.p);
            str_free(&head);
            continue;
        }
        if (want.ok != got.ok ||
            (want.ok && (want.complete != got.complete ||
                         want.keep_alive != got.keep_alive ||
                         want.until_eof != got.until_eof ||
                         want.chunked != got.chunked || want.length != got.length))) {
            if (failures++ < 10)
                print_error("disagree (skip %d) on \"%s\": http-parser ok %d "
                            "complete %d ka %d eof %d chunked %d len %llu; "
                            "ours ok %d complete %d ka %d eof %d chunked %d len %llu\n",
                            skip, head.p, want.ok, want.complete, want.keep_alive,
                            want.until_eof, want.chunked,
                            (unsigned long long)want.length, got.ok, got.complete,
                            got.keep_alive, got.until_eof, got.chunked,
                            (unsigned long long)got.length);
        }
        str_free(&head);
    }
    assert_int_equal(failures, 0);
    /* Both verdicts must be well represented for the test to mean much. */
    assert_true(accepted > 5000);
    assert_true(refused > 2000);
}

/* A head at http-parser's 80 KiB limit passes, one byte more does not. */
static void
test_head_size_limit(void **unused)
{
    for (size_t total = HTTP_MAX_HEADER_SIZE - 1; total <= HTTP_MAX_HEADER_SIZE + 1;
         total++) {
        struct str head = {0};
        str_addf(&head, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
        while (head.len < total - 4)
            str_add(&head, "a", 1);
        str_add(&head, "\r\n\r\n", 4);
        struct http_msg m;
        http_msg_init(&m, false);
        assert_int_equal(start(&m, head.p, head.len, false),
                         total <= HTTP_MAX_HEADER_SIZE ? 0 : -1);
        str_free(&head);
    }
}

/* Bytes that may be sent from the input as they are: a Content-Length
 * body up to its end, an until-close body whole, nothing re-encoded,
 * chunked or after the end. */
static void
test_direct(void **unused)
{
    static const char cl[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
    static const char eof[] = "HTTP/1.1 200 OK\r\n\r\n";
    struct http_msg m;
    struct buf in, out;

    http_msg_init(&m, true);
    assert_int_equal(start(&m, cl, sizeof(cl) - 1, false), 0);
    assert_int_equal(http_msg_direct(&m, 4), 4);
    assert_int_equal(http_msg_direct(&m, 20), 10);
    http_msg_direct_done(&m, 4);
    assert_int_equal(m.body_bytes, 4);
    assert_false(m.complete);
    assert_int_equal(http_msg_direct(&m, 20), 6);
    /* The rest may still be pumped, and completes the message. */
    buf_init(&in, 64);
    buf_init(&out, 64);
    buf_append_str(&in, "4567");
    assert_int_equal(http_msg_pump(&m, &in, &out), HTTP_MSG_AGAIN);
    assert_int_equal(buf_len(&out), 4);
    assert_int_equal(http_msg_direct(&m, 20), 2);
    http_msg_direct_done(&m, 2);
    assert_true(m.complete);
    assert_int_equal(m.body_bytes, 10);
    assert_int_equal(http_msg_direct(&m, 20), 0);
    assert_int_equal(http_msg_pump(&m, &in, &out), HTTP_MSG_DONE);

    http_msg_init(&m, true);
    assert_int_equal(start(&m, cl, sizeof(cl) - 1, false), 0);
    m.chunked_out = true;
    assert_int_equal(http_msg_direct(&m, 20), 0);

    http_msg_init(&m, true);
    assert_int_equal(start(&m, eof, sizeof(eof) - 1, false), 0);
    assert_int_equal(http_msg_direct(&m, 12345), 12345);
    http_msg_direct_done(&m, 12345);
    assert_false(m.complete);
    assert_int_equal(http_msg_eof(&m, &out), HTTP_MSG_DONE);

    http_msg_init(&m, true);
    assert_int_equal(start(&m, RESP_TE, sizeof(RESP_TE) - 1, false), 0);
    assert_int_equal(http_msg_direct(&m, 20), 0);
    http_msg_init(&m, true);
    assert_int_equal(start(&m, cl, sizeof(cl) - 1, true), 0); /* HEAD */
    assert_int_equal(http_msg_direct(&m, 20), 0);
    buf_fini(&in);
    buf_fini(&out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_no_body),
        cmocka_unit_test(test_random_splits),
        cmocka_unit_test(test_byte_by_byte),
        cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_output_too_small),
        cmocka_unit_test(test_until_eof),
        cmocka_unit_test(test_eof_cut_short),
        cmocka_unit_test(test_eof_needs_room),
        cmocka_unit_test(test_bodiless_responses),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_start_rejects),
        cmocka_unit_test(test_start_rejects_te_disagreement),
        cmocka_unit_test(test_bad_chunks),
        cmocka_unit_test(test_good_chunks),
        cmocka_unit_test(test_chunk_ext_limit),
        cmocka_unit_test(test_large_chunk_size),
        cmocka_unit_test(test_pipelined_chunked),
        cmocka_unit_test(test_agrees_with_http_parser),
        cmocka_unit_test(test_head_size_limit),
        cmocka_unit_test(test_direct),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
