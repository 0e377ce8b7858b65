/* Head serialisation in both directions. Framing headers are always
 * re-derived from what Weir will actually send, never copied, so the two
 * sides of the proxy cannot disagree about where a message ends. */
#include "weir/http/http_rewrite.h"

#include <stdint.h>
#include <string.h>

#include "weir/http/http_head.h"
#include "weir/lb/affinity.h"
#include "weir/util/buf.h"
#include "weir/util/fmt.h"

static int
put(struct buf *out, const char *p, size_t len)
{
    return buf_append(out, p, len);
}

/* NAME ": " VALUE CRLF, whole or not at all. */
static int
put_line(struct buf *out, const char *name, size_t nlen, const char *value,
         size_t vlen)
{
    if (buf_reserve(out, nlen + vlen + 4) == -1)
        return -1;
    char *w = buf_wptr(out);
    memcpy(w, name, nlen);
    memcpy(w + nlen, ": ", 2);
    if (vlen > 0)
        memcpy(w + nlen + 2, value, vlen);
    memcpy(w + nlen + 2 + vlen, "\r\n", 2);
    out->wpos += nlen + vlen + 4;
    return 0;
}

static int
put_header(struct buf *out, const struct http_header *f)
{
    return put_line(out, f->name.p, f->name.len, f->value.p, f->value.len);
}

/* A header line whose value is a NUL-terminated string. */
static int
put_line_str(struct buf *out, const char *name, size_t nlen, const char *value)
{
    return put_line(out, name, nlen, value, strlen(value));
}

static int
put_content_length(struct buf *out, uint64_t n)
{
    char num[FMT_U64_MAX];
    return put_line(out, "Content-Length", 14, num, fmt_u64(num, n));
}

/* X-Forwarded-For: every value the client sent, then the client. */
static int
put_forwarded_for(struct buf *out, const struct http_head *h, const char *ip)
{
    bool first = true;

    if (buf_append_str(out, "X-Forwarded-For: ") == -1)
        return -1;
    for (size_t i = 0; i < h->nheaders; i++) {
        const struct http_header *f = &h->headers[i];
        if (f->kind != HTTP_HDR_X_FORWARDED_FOR || f->value.len == 0)
            continue;
        if ((!first && put(out, ", ", 2) == -1) ||
            put(out, f->value.p, f->value.len) == -1)
            return -1;
        first = false;
    }
    if ((!first && put(out, ", ", 2) == -1) || buf_append_str(out, ip) == -1 ||
        put(out, "\r\n", 2) == -1)
        return -1;
    return 0;
}

/* A Cookie header without cookie NAME; nothing at all when none is left. */
static int
put_cookie_without(struct buf *out, const struct http_header *f, const char *name)
{
    static const char prefix[] = "Cookie: ";
    size_t plen = sizeof(prefix) - 1;

    if (buf_reserve(out, plen + f->value.len + 2) == -1)
        return -1;
    char *dst = buf_wptr(out) + plen;
    size_t n = affinity_cookie_strip(f->value.p, f->value.len, name, dst,
                                     f->value.len);
    if (n == 0 || n == SIZE_MAX)
        return n == 0 ? 0 : -1;
    memcpy(buf_wptr(out), prefix, plen);
    memcpy(dst + n, "\r\n", 2);
    out->wpos += plen + n + 2;
    return 0;
}

/* The hop-by-hop pair a protocol switch needs on its own hop. */
static int
put_upgrade(struct buf *out, const struct http_span *value)
{
    if (buf_append_str(out, "Connection: upgrade\r\nUpgrade: ") == -1 ||
        put(out, value->p, value->len) == -1)
        return -1;
    return put(out, "\r\n", 2);
}

int
http_rewrite_request(struct buf *out, const struct http_head *h,
                     const struct http_request_ctx *ctx)
{
    size_t mark_r, mark_w;
    bool has_id = false;

    buf_compact(out);
    mark_r = out->rpos;
    mark_w = out->wpos;
    if (put(out, h->method.p, h->method.len) == -1 || put(out, " ", 1) == -1 ||
        put(out, h->target.p, h->target.len) == -1 ||
        buf_append_str(out, " HTTP/1.1\r\n") == -1)
        goto fail;
    for (size_t i = 0; i < h->nheaders; i++) {
        const struct http_header *f = &h->headers[i];
        if (http_head_header_is_hop_by_hop(h, f) ||
            f->kind == HTTP_HDR_CONTENT_LENGTH ||
            f->kind == HTTP_HDR_X_FORWARDED_FOR ||
            f->kind == HTTP_HDR_X_FORWARDED_PROTO)
            continue;
        if (f->kind == HTTP_HDR_X_REQUEST_ID) {
            /* An empty id is no id: ours replaces it, and it is the one
             * http_rewrite_request_id() reported. */
            if (f->value.len == 0)
                continue;
            has_id = true;
        }
        if (ctx->strip_cookie != NULL && f->kind == HTTP_HDR_COOKIE) {
            if (put_cookie_without(out, f, ctx->strip_cookie) == -1)
                goto fail;
            continue;
        }
        if (put_header(out, f) == -1)
            goto fail;
    }
    if (put_forwarded_for(out, h, ctx->client_ip) == -1 ||
        put_line_str(out, "X-Forwarded-Proto", 17, ctx->proto) == -1)
        goto fail;
    if (!has_id && put_line_str(out, "X-Request-Id", 12, ctx->request_id) == -1)
        goto fail;
    if ((h->flags & HTTP_HEAD_F_LENGTH) &&
        put_content_length(out, h->content_length) == -1)
        goto fail;
    if ((h->flags & HTTP_HEAD_F_CHUNKED) &&
        buf_append_str(out, "Transfer-Encoding: chunked\r\n") == -1)
        goto fail;
    if (ctx->upgrade != NULL && put_upgrade(out, ctx->upgrade) == -1)
        goto fail;
    if (put(out, "\r\n", 2) == -1)
        goto fail;
    return 0;
fail:
    out->rpos = mark_r;
    out->wpos = mark_w;
    return -1;
}

static int
put_framing(struct buf *out, const struct http_head *h,
            const struct http_response_ctx *ctx)
{
    switch (ctx->framing) {
    case HTTP_FRAMING_NONE:
        /* A HEAD or 304 answer may announce the length it would have had. */
        if ((h->flags & HTTP_HEAD_F_LENGTH) && h->status >= 200 &&
            h->status != 204)
            return put_content_length(out, h->content_length);
        return 0;
    case HTTP_FRAMING_LENGTH:
        return put_content_length(out, h->content_length);
    case HTTP_FRAMING_CHUNKED:
        return buf_append_str(out, "Transfer-Encoding: chunked\r\n");
    case HTTP_FRAMING_CLOSE:
        return 0;
    }
    return -1;
}

int
http_rewrite_response(struct buf *out, const struct http_head *h,
                      const struct http_response_ctx *ctx)
{
    size_t mark_r, mark_w;

    buf_compact(out);
    mark_r = out->rpos;
    mark_w = out->wpos;
    /* http_head took exactly three digits. */
    char line[13] = "HTTP/1.1 000 ";
    line[9] = (char)('0' + h->status / 100 % 10);
    line[10] = (char)('0' + h->status / 10 % 10);
    line[11] = (char)('0' + h->status % 10);
    if (put(out, line, sizeof(line)) == -1 ||
        put(out, h->reason.p, h->reason.len) == -1 || put(out, "\r\n", 2) == -1)
        goto fail;
    for (size_t i = 0; i < h->nheaders; i++) {
        const struct http_header *f = &h->headers[i];
        if (http_head_header_is_hop_by_hop(h, f) ||
            f->kind == HTTP_HDR_CONTENT_LENGTH)
            continue;
        if (put_header(out, f) == -1)
            goto fail;
    }
    if (put_framing(out, h, ctx) == -1)
        goto fail;
    if (ctx->upgrade != NULL && put_upgrade(out, ctx->upgrade) == -1)
        goto fail;
    if (h->status >= 200) {
        if (ctx->close && buf_append_str(out, "Connection: close\r\n") == -1)
            goto fail;
        if (!ctx->close && ctx->keep_alive_10 &&
            buf_append_str(out, "Connection: keep-alive\r\n") == -1)
            goto fail;
        if (ctx->extra != NULL && buf_append_str(out, ctx->extra) == -1)
            goto fail;
    }
    if (put(out, "\r\n", 2) == -1)
        goto fail;
    return 0;
fail:
    out->rpos = mark_r;
    out->wpos = mark_w;
    return -1;
}

bool
http_rewrite_request_id(const struct http_head *h, char *id, size_t idlen)
{
    if (idlen == 0)
        return false;
    /* The first non-empty one: empty ones are not forwarded. */
    for (size_t i = 0; i < h->nheaders; i++) {
        const struct http_header *f = &h->headers[i];
        if (f->kind != HTTP_HDR_X_REQUEST_ID || f->value.len == 0)
            continue;
        size_t n = f->value.len < idlen - 1 ? f->value.len : idlen - 1;
        memcpy(id, f->value.p, n);
        id[n] = '\0';
        return true;
    }
    return false;
}
