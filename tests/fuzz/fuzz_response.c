/* libFuzzer harness: the response path of one exchange, as
 * src/proxy/session.c drives it, without I/O. The input is the bytes a
 * backend sends (after a first mode byte), read into a uin buffer of
 * 32 KiB: interim 1xx heads are checked and forwarded, the final head is
 * checked (http_head_parse_response), run through http-parser
 * (http_msg_start) and rewritten for the client (http_rewrite_response,
 * framing chosen as choose_framing does); then the body is pumped
 * uin -> cout (http_msg_pump) and the end of the input is the backend
 * closing (http_msg_eof).
 *
 * Invariants: an accepted head is well formed and http-parser agrees on
 * its framing; the head written for the client is accepted again with the
 * framing Weir chose; the body the client gets is exactly what the framing
 * announced (Content-Length bytes, canonical chunks, or nothing).
 *
 * Mode byte, XORed with '0' so that a seed starting with '0'..'7' only
 * picks a read size: bits 0-2 the read size, bit 3 the request was HEAD, bit 4 the
 * client speaks HTTP/1.0, bit 5 a slow client (cout drained 100 bytes at
 * a time), bit 6 send Connection: close. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_check.h"
#include "fuzz_common.h"
#include "weir/http/http_head.h"
#include "weir/http/http_msg.h"
#include "weir/http/http_rewrite.h"
#include "weir/util/buf.h"

#define UIN_CAP 32768                /* SESSION_RESPONSE_BUF */
#define COUT_CAP (UIN_CAP + 1024)    /* + SESSION_REWRITE_SLACK */
#define EXTRA "Set-Cookie: MAGS_SESSION=x; Path=/\r\n"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct exch {
    const uint8_t *data;
    size_t len, pos, rsize;
    bool head_req, client10, slow_client, close;
    struct buf uin, cout;
    struct http_head h, h2;
    struct http_msg resp;
    struct fuzz_str to_client;
};

static void
drain_cout(struct exch *x)
{
    size_t n = buf_len(&x->cout);

    if (x->slow_client && n > 100)
        n = 100;
    fuzz_str_add(&x->to_client, buf_rptr(&x->cout), n);
    buf_consume(&x->cout, n);
}

static enum http_body_framing
choose_framing(const struct exch *x)
{
    if (x->resp.complete)
        return HTTP_FRAMING_NONE;
    if (x->h.flags & HTTP_HEAD_F_LENGTH)
        return HTTP_FRAMING_LENGTH;
    return x->client10 ? HTTP_FRAMING_CLOSE : HTTP_FRAMING_CHUNKED;
}

/* The head for the client (the last LEN bytes of cout) says what Weir
 * will send. */
static void
check_client_head(struct exch *x, const struct http_response_ctx *ctx,
                  const char *p, size_t len)
{
    struct http_head *h2 = &x->h2;

    FUZZ_CHECK(http_head_find_end(p, len, 0) == len);
    int rc = http_head_parse_response(h2, p, len);
    if (rc != 0) {
        /* Weir adds up to three fields. */
        FUZZ_CHECK(x->h.nheaders + 3 > HTTP_HEAD_MAX_HEADERS);
        return;
    }
    fz_check_head(h2, p, len, false);
    FUZZ_CHECK(h2->status == x->h.status && h2->minor == 1);
    FUZZ_CHECK(h2->nconnection_tokens == 0);
    FUZZ_CHECK(!(h2->flags & HTTP_HEAD_F_UPGRADE));
    switch (ctx->framing) {
    case HTTP_FRAMING_NONE:
        FUZZ_CHECK(!(h2->flags & HTTP_HEAD_F_CHUNKED));
        break;
    case HTTP_FRAMING_LENGTH:
        FUZZ_CHECK((h2->flags & HTTP_HEAD_F_LENGTH) &&
                   h2->content_length == x->h.content_length);
        break;
    case HTTP_FRAMING_CHUNKED:
        FUZZ_CHECK(h2->flags == (h2->flags & ~HTTP_HEAD_F_LENGTH));
        FUZZ_CHECK(h2->flags & HTTP_HEAD_F_CHUNKED);
        break;
    case HTTP_FRAMING_CLOSE:
        FUZZ_CHECK(!(h2->flags & (HTTP_HEAD_F_CHUNKED | HTTP_HEAD_F_LENGTH)));
        FUZZ_CHECK(h2->flags & HTTP_HEAD_F_CONN_CLOSE);
        break;
    }
    if (h2->status >= 200 && ctx->close)
        FUZZ_CHECK(h2->flags & HTTP_HEAD_F_CONN_CLOSE);
    if (h2->status < 200)
        FUZZ_CHECK(!(h2->flags & (HTTP_HEAD_F_CHUNKED | HTTP_HEAD_F_LENGTH)));
}

/* The head of LEN bytes at the front of uin (response_head_step). Returns
 * 1 for an interim head (forwarded), 0 for the final one, -1 for a 502. */
static int
take_head(struct exch *x, size_t len)
{
    struct http_head *h = &x->h;
    const char *head = buf_rptr(&x->uin);

    int rc = http_head_parse_response(h, head, len);
    FUZZ_CHECK(rc == 0 || rc == 502);
    if (rc != 0)
        return -1;
    fz_check_head(h, head, len, false);
    if (h->status == 101)
        return -1;
    if (h->status < 200) {
        struct http_response_ctx ctx = {.framing = HTTP_FRAMING_NONE};
        size_t queued = buf_len(&x->cout);
        if (!x->client10) {
            if (http_rewrite_response(&x->cout, h, &ctx) == -1) {
                FUZZ_CHECK(buf_len(&x->cout) == queued);
                return -1;
            }
            check_client_head(x, &ctx, buf_rptr(&x->cout) + queued,
                              buf_len(&x->cout) - queued);
        }
        buf_consume(&x->uin, len);
        return 1;
    }
    http_msg_init(&x->resp, true);
    if (http_msg_start(&x->resp, h, x->head_req) == -1)
        return -1;
    bool nobody = x->head_req || h->status == 204 || h->status == 304;
    fz_check_framing(&x->resp, h, nobody);

    struct http_response_ctx ctx = {.framing = choose_framing(x)};
    ctx.close = x->close || ctx.framing == HTTP_FRAMING_CLOSE;
    ctx.keep_alive_10 = x->client10 && !ctx.close;
    ctx.extra = EXTRA;
    x->resp.chunked_out = ctx.framing == HTTP_FRAMING_CHUNKED;
    size_t queued = buf_len(&x->cout);
    if (http_rewrite_response(&x->cout, h, &ctx) == -1) {
        FUZZ_CHECK(buf_len(&x->cout) == queued);
        return -1;
    }
    check_client_head(x, &ctx, buf_rptr(&x->cout) + queued,
                      buf_len(&x->cout) - queued);
    buf_consume(&x->uin, len);
    /* What the client gets from here on is the body. */
    while (buf_len(&x->cout) > 0)
        drain_cout(x);
    x->to_client.len = 0;
    return 0;
}

static void
pump_body(struct exch *x)
{
    enum http_body_framing framing = choose_framing(x);
    uint64_t cl = x->h.content_length;
    enum http_msg_rc rc = HTTP_MSG_AGAIN;

    while (!x->resp.complete) {
        size_t fed = fuzz_feed(&x->uin, x->data, x->len, &x->pos, x->rsize);
        size_t before = buf_len(&x->uin);
        rc = http_msg_pump(&x->resp, &x->uin, &x->cout);
        FUZZ_CHECK(!x->resp.overflow);
        if (rc == HTTP_MSG_ERROR)
            return;
        bool moved = buf_len(&x->uin) != before || buf_len(&x->cout) > 0;
        drain_cout(x);
        if (rc == HTTP_MSG_DONE)
            break;
        if (fed == 0 && !moved && buf_len(&x->uin) == 0) {
            /* The backend closed. */
            rc = http_msg_eof(&x->resp, &x->cout);
            FUZZ_CHECK(!x->resp.overflow);
            FUZZ_CHECK(rc != HTTP_MSG_AGAIN);
            if (rc == HTTP_MSG_ERROR)
                return;
            break;
        }
        if (fed == 0 && !moved)
            return; /* cannot happen: the pump always makes room */
    }
    while (buf_len(&x->cout) > 0)
        drain_cout(x);
    switch (framing) {
    case HTTP_FRAMING_NONE:
        FUZZ_CHECK(x->to_client.len == 0);
        break;
    case HTTP_FRAMING_LENGTH:
        FUZZ_CHECK(x->to_client.len == cl && x->resp.body_bytes == cl);
        break;
    case HTTP_FRAMING_CHUNKED:
        fz_check_reencoded(&x->to_client, x->resp.body_bytes);
        break;
    case HTTP_FRAMING_CLOSE:
        FUZZ_CHECK(x->to_client.len == x->resp.body_bytes);
        break;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct exch x = {0};

    if (size < 1)
        return 0;
    unsigned mode = data[0] ^ '0'; /* '0'..'7': flags off */
    x.data = data + 1;
    x.len = size - 1;
    x.rsize = fuzz_read_sizes[mode & 7];
    x.head_req = (mode & 8) != 0;
    x.client10 = (mode & 16) != 0;
    x.slow_client = (mode & 32) != 0;
    x.close = (mode & 64) != 0;
    FUZZ_CHECK(buf_init(&x.uin, UIN_CAP) == 0);
    FUZZ_CHECK(buf_init(&x.cout, COUT_CAP) == 0);

    for (int heads = 0; heads < 64;) {
        size_t fed = fuzz_feed(&x.uin, x.data, x.len, &x.pos, x.rsize);
        size_t have = buf_len(&x.uin);
        size_t end = http_head_find_end(buf_rptr(&x.uin), have, 0);
        FUZZ_CHECK(end <= have);
        if (end == 0) {
            if (have >= x.uin.cap || fed == 0)
                break; /* too large, or closed before responding */
            continue;
        }
        heads++;
        int rc = take_head(&x, end);
        if (rc == -1)
            break;
        while (buf_len(&x.cout) > 0)
            drain_cout(&x);
        if (rc == 0) {
            if (!x.resp.complete)
                pump_body(&x);
            break;
        }
    }

    fuzz_str_fini(&x.to_client);
    buf_fini(&x.uin);
    buf_fini(&x.cout);
    return 0;
}
