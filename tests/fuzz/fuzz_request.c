/* libFuzzer harness: the request path of a client connection, as
 * src/proxy/session.c drives it, without I/O. The input is the bytes a
 * client sends on one connection (after a first mode byte); they are read
 * into a cin buffer of max_header_bytes, the head is found incrementally
 * (http_head_find_end), checked (http_head_parse_request), run through
 * http-parser (http_msg_start), matched against the affinity cookie
 * (affinity_lookup) and rewritten for the backend (http_rewrite_request);
 * then the body is pumped cin -> uout (http_msg_pump), and pipelined
 * requests follow while the connection may be kept alive.
 *
 * Invariants: the incremental head scan agrees with a full one; an
 * accepted head is well formed (fuzz_check.h) and http-parser agrees on
 * its framing; the rewritten head is accepted again by both, with the same
 * framing, Host and target, no hop-by-hop header and no affinity cookie;
 * a Content-Length body arrives with exactly that many bytes; a chunked
 * body is re-encoded as canonical chunks carrying what was decoded.
 *
 * Mode byte, XORed with '0' so that a seed starting with '0'..'7' only
 * picks a read size: bits 0-2 the read size (fuzz_read_sizes), bit 3 a slow
 * backend (uout drained 100 bytes at a time), bit 4 no affinity cookie to
 * strip, bit 5 an https listener. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "fuzz_common.h"
#include "weir/http/http_head.h"
#include "weir/http/http_msg.h"
#include "weir/http/http_rewrite.h"
#include "weir/lb/affinity.h"
#include "weir/util/buf.h"

#define CIN_CAP 4096                /* limits.max_header_bytes */
#define UOUT_CAP (CIN_CAP + 1024)   /* SESSION_REWRITE_SLACK */
#define COOKIE "MAGS_SESSION"
#define CLIENT_IP "192.0.2.7"
#define MAX_REQUESTS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct conn {
    const uint8_t *data;
    size_t len, pos;
    size_t rsize;
    bool slow_backend;
    struct buf cin, uout;
    struct http_head h, h2;
    struct http_msg req;
    struct affinity_keys keys;
};

static void
drain_uout(struct conn *c, struct fuzz_str *sent)
{
    size_t n = buf_len(&c->uout);

    if (c->slow_backend && n > 100)
        n = 100;
    fuzz_str_add(sent, buf_rptr(&c->uout), n);
    buf_consume(&c->uout, n);
}

/* The head Weir forwards must be accepted by its own checks and by
 * http-parser with the same meaning. */
static void
check_rewritten(struct conn *c, const char *strip)
{
    const struct http_head *h = &c->h;
    struct http_head *h2 = &c->h2;
    const char *out = buf_rptr(&c->uout);
    size_t len = buf_len(&c->uout);
    struct http_msg m;
    char *copy = NULL;

    FUZZ_CHECK(http_head_find_end(out, len, 0) == len);
    if (h->host.p == NULL) {
        /* An HTTP/1.0 request without Host goes out as HTTP/1.1 without
         * Host (known, see the fuzzing notes in docs/security.md): check
         * the rest with one added. */
        FUZZ_CHECK(h->minor == 0);
        copy = malloc(len + 16);
        FUZZ_CHECK(copy != NULL);
        memcpy(copy, out, len - 2);
        memcpy(copy + len - 2, "Host: h\r\n\r\n", 11);
        out = copy;
        len += 9;
    }
    int rc = http_head_parse_request(h2, out, len);
    if (rc == 431) {
        /* Weir adds up to four fields; a head already near the limit
         * goes over it. */
        FUZZ_CHECK(h->nheaders + 4 + (copy != NULL) > HTTP_HEAD_MAX_HEADERS);
        free(copy);
        return;
    }
    FUZZ_CHECK(rc == 0);
    fz_check_head(h2, out, len, true);
    FUZZ_CHECK(h2->minor == 1);
    FUZZ_CHECK(h2->method.len == h->method.len &&
               memcmp(h2->method.p, h->method.p, h->method.len) == 0);
    FUZZ_CHECK(h2->target.len == h->target.len &&
               memcmp(h2->target.p, h->target.p, h->target.len) == 0);
    FUZZ_CHECK((h2->flags & (HTTP_HEAD_F_CHUNKED | HTTP_HEAD_F_LENGTH)) ==
               (h->flags & (HTTP_HEAD_F_CHUNKED | HTTP_HEAD_F_LENGTH)));
    if (h->flags & HTTP_HEAD_F_LENGTH)
        FUZZ_CHECK(h2->content_length == h->content_length);
    if (h->host.p != NULL)
        FUZZ_CHECK(h2->host.len == h->host.len &&
                   memcmp(h2->host.p, h->host.p, h->host.len) == 0);
    FUZZ_CHECK(h2->nconnection_tokens == 0);
    FUZZ_CHECK(!(h2->flags & (HTTP_HEAD_F_CONN_CLOSE | HTTP_HEAD_F_CONN_KA |
                              HTTP_HEAD_F_UPGRADE)));
    for (size_t i = 0; i < h2->nheaders; i++) {
        const struct http_header *f = &h2->headers[i];
        size_t pos = 0, vlen;
        const char *val;

        /* Fields Weir writes itself (a client may name them in
         * Connection: they are dropped, then written anew). */
        if (copy != NULL && http_span_ieq(f->name, "host"))
            continue; /* ours, added above */
        if (http_span_ieq(f->name, "transfer-encoding") ||
            http_span_ieq(f->name, "content-length") ||
            http_span_ieq(f->name, "x-forwarded-for") ||
            http_span_ieq(f->name, "x-forwarded-proto") ||
            http_span_ieq(f->name, "x-request-id"))
            continue;
        FUZZ_CHECK(!http_head_is_hop_by_hop(h, f->name));
        if (strip != NULL && http_span_ieq(f->name, "cookie")) {
            FUZZ_CHECK(f->value.len > 0);
            FUZZ_CHECK(affinity_cookie_find(f->value.p, f->value.len, strip,
                                            &pos, &val, &vlen) == -1);
        }
    }
    const struct http_header *xff = NULL;
    for (size_t i = 0; i < h2->nheaders; i++)
        if (http_span_ieq(h2->headers[i].name, "x-forwarded-for"))
            xff = &h2->headers[i];
    FUZZ_CHECK(xff != NULL && xff->value.len >= strlen(CLIENT_IP));
    FUZZ_CHECK(memcmp(xff->value.p + xff->value.len - strlen(CLIENT_IP),
                      CLIENT_IP, strlen(CLIENT_IP)) == 0);

    http_msg_init(&m, false);
    FUZZ_CHECK(http_msg_start(&m, h2, false) == 0);
    fz_check_framing(&m, h2, false);
    FUZZ_CHECK(m.complete == c->req.complete);
    free(copy);
}

/* A complete head of LEN bytes is at the front of cin (accept_head).
 * Returns true when the request goes on (a body to pump, or the next
 * request), false when Weir would answer an error and close. */
static bool
accept_head(struct conn *c, size_t len, const char *strip, bool tls)
{
    struct http_head *h = &c->h;
    const char *head = buf_rptr(&c->cin);
    char id[64];

    int status = http_head_parse_request(h, head, len);
    FUZZ_CHECK(status == 0 || status == 400 || status == 405 ||
               status == 431 || status == 501);
    if (status != 0)
        return false;
    fz_check_head(h, head, len, true);

    if (http_rewrite_request_id(h, id, sizeof(id)))
        FUZZ_CHECK(strlen(id) < sizeof(id));

    http_msg_init(&c->req, false);
    if (http_msg_start(&c->req, h, false) == -1)
        return false; /* 400 */
    fz_check_framing(&c->req, h, false);
    c->req.chunked_out = (h->flags & HTTP_HEAD_F_CHUNKED) != 0;

    /* find_sticky: no fuzzed cookie carries a valid MAC. */
    for (size_t i = 0; i < h->nheaders; i++) {
        struct affinity_cookie ck;
        if (http_span_ieq(h->headers[i].name, "cookie"))
            (void)affinity_lookup(&c->keys, h->headers[i].value.p,
                                  h->headers[i].value.len, COOKIE, 1000, &ck);
    }

    struct http_request_ctx ctx = {
        .client_ip = CLIENT_IP,
        .proto = tls ? "https" : "http",
        .request_id = "0123456789abcdef0000000000000001",
        .strip_cookie = strip,
    };
    buf_reset(&c->uout);
    if (http_rewrite_request(&c->uout, h, &ctx) == -1) {
        FUZZ_CHECK(buf_len(&c->uout) == 0);
        return false; /* 431 */
    }
    FUZZ_CHECK(buf_len(&c->uout) <= UOUT_CAP);
    check_rewritten(c, strip);
    buf_consume(&c->cin, len);
    buf_reset(&c->uout); /* the head went to the backend */
    return true;
}

/* Pump the body of the current request; the connection's remaining
 * bytes arrive in reads. Returns the pump's last result. */
static enum http_msg_rc
pump_body(struct conn *c)
{
    struct fuzz_str sent = {0};
    enum http_msg_rc rc;
    uint64_t cl = c->h.content_length;
    bool chunked = c->req.chunked_out, length = c->h.flags & HTTP_HEAD_F_LENGTH;

    for (;;) {
        size_t fed = fuzz_feed(&c->cin, c->data, c->len, &c->pos, c->rsize);
        size_t before = buf_len(&c->cin), out_before = buf_len(&c->uout);
        rc = http_msg_pump(&c->req, &c->cin, &c->uout);
        FUZZ_CHECK(!c->req.overflow);
        if (rc == HTTP_MSG_ERROR)
            break;
        bool moved = buf_len(&c->cin) != before ||
                     buf_len(&c->uout) != out_before || buf_len(&c->uout) > 0;
        drain_uout(c, &sent);
        if (rc == HTTP_MSG_DONE) {
            while (buf_len(&c->uout) > 0)
                drain_uout(c, &sent);
            break;
        }
        if (fed == 0 && !moved)
            break; /* the client stopped sending */
    }
    if (rc == HTTP_MSG_DONE) {
        FUZZ_CHECK(c->req.complete);
        if (chunked) {
            fz_check_reencoded(&sent, c->req.body_bytes);
        } else {
            FUZZ_CHECK(length);
            FUZZ_CHECK(sent.len == cl && c->req.body_bytes == cl);
        }
    } else if (rc == HTTP_MSG_AGAIN && length) {
        FUZZ_CHECK(sent.len < cl && sent.len == c->req.body_bytes);
    }
    fuzz_str_fini(&sent);
    return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned char key[32] = "weir fuzz affinity key, 32 bytes";
    struct conn c = {0};

    if (size < 1)
        return 0;
    unsigned mode = data[0] ^ '0'; /* '0'..'7': flags off */
    c.data = data + 1;
    c.len = size - 1;
    c.rsize = fuzz_read_sizes[mode & 7];
    c.slow_backend = (mode & 8) != 0;
    const char *strip = (mode & 16) ? NULL : COOKIE;
    bool tls = (mode & 32) != 0;
    FUZZ_CHECK(buf_init(&c.cin, CIN_CAP) == 0);
    FUZZ_CHECK(buf_init(&c.uout, UOUT_CAP) == 0);
    FUZZ_CHECK(affinity_key_set(&c.keys.current, key, sizeof(key)) == 0);

    size_t scan = 0;
    for (int nreq = 0; nreq < MAX_REQUESTS;) {
        size_t fed = fuzz_feed(&c.cin, c.data, c.len, &c.pos, c.rsize);
        size_t have = buf_len(&c.cin);
        if (have == 0)
            break;
        size_t end = http_head_find_end(buf_rptr(&c.cin), have, scan);
        FUZZ_CHECK(end == http_head_find_end(buf_rptr(&c.cin), have, 0));
        FUZZ_CHECK(end <= have);
        if (end == 0) {
            scan = have;
            if (have >= c.cin.cap || fed == 0)
                break; /* 431, or the client stopped */
            continue;
        }
        scan = 0;
        nreq++;
        if (!accept_head(&c, end, strip, tls))
            break;
        if (!c.req.complete && pump_body(&c) != HTTP_MSG_DONE)
            break;
        /* Bytes after the message are the next request, if any. */
        if (!http_msg_keep_alive(&c.req))
            break;
    }

    affinity_keys_fini(&c.keys);
    buf_fini(&c.cin);
    buf_fini(&c.uout);
    return 0;
}
