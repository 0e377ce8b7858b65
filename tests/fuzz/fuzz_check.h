/* Invariant checks shared by the harnesses: what a head accepted by
 * http_head must look like, and a reference decoder for the chunked
 * grammar Weir accepts (docs/security.md), written independently of
 * src/http/http_msg.c so the two can be compared. Harness-side only. */
#ifndef WEIR_FUZZ_CHECK_H
#define WEIR_FUZZ_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "weir/http/http_head.h"
#include "weir/http/http_msg.h"

static inline bool
fz_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (c != 0 && strchr("!#$%&'*+-.^_`|~", c));
}

/* VCHAR, obs-text, SP, HTAB. */
static inline bool
fz_text(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static inline int
fz_hex(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static inline void
fz_check_span(struct http_span s, const char *data, size_t len)
{
    if (s.len == 0)
        return;
    FUZZ_CHECK(s.p >= data && s.p + s.len <= data + len);
}

/* H was accepted from DATA (LEN bytes) as a request (or a response). */
static inline void
fz_check_head(const struct http_head *h, const char *data, size_t len,
              bool request)
{
    FUZZ_CHECK(h->head_len == len);
    FUZZ_CHECK(len >= 4 && memcmp(data + len - 4, "\r\n\r\n", 4) == 0);
    FUZZ_CHECK(h->minor <= 1);
    FUZZ_CHECK(h->nheaders <= HTTP_HEAD_MAX_HEADERS);
    FUZZ_CHECK(h->nconnection_tokens <= 8);
    if (request) {
        FUZZ_CHECK(h->method.len > 0 && h->target.len > 0);
        fz_check_span(h->method, data, len);
        fz_check_span(h->target, data, len);
        for (size_t i = 0; i < h->method.len; i++)
            FUZZ_CHECK(fz_tchar((unsigned char)h->method.p[i]));
        for (size_t i = 0; i < h->target.len; i++)
            FUZZ_CHECK(h->target.p[i] > 0x20 && h->target.p[i] < 0x7f);
        FUZZ_CHECK(!(h->method.len == 7 && memcmp(h->method.p, "CONNECT", 7) == 0));
        if (h->minor == 1)
            FUZZ_CHECK(h->host.p != NULL);
    } else {
        FUZZ_CHECK(h->status >= 100 && h->status <= 999);
        fz_check_span(h->reason, data, len);
        for (size_t i = 0; i < h->reason.len; i++)
            FUZZ_CHECK(fz_text((unsigned char)h->reason.p[i]));
    }
    for (size_t i = 0; i < h->nheaders; i++) {
        const struct http_header *f = &h->headers[i];
        FUZZ_CHECK(f->name.len > 0);
        fz_check_span(f->name, data, len);
        fz_check_span(f->value, data, len);
        for (size_t j = 0; j < f->name.len; j++)
            FUZZ_CHECK(fz_tchar((unsigned char)f->name.p[j]));
        /* The colon follows the name directly. */
        FUZZ_CHECK(f->name.p[f->name.len] == ':');
        for (size_t j = 0; j < f->value.len; j++)
            FUZZ_CHECK(fz_text((unsigned char)f->value.p[j]));
        if (f->value.len > 0) {
            FUZZ_CHECK(f->value.p[0] != ' ' && f->value.p[0] != '\t');
            FUZZ_CHECK(f->value.p[f->value.len - 1] != ' ' &&
                       f->value.p[f->value.len - 1] != '\t');
        }
    }
    FUZZ_CHECK(!((h->flags & HTTP_HEAD_F_CHUNKED) &&
                 (h->flags & HTTP_HEAD_F_LENGTH)));
    if (h->minor == 0)
        FUZZ_CHECK(!(h->flags & HTTP_HEAD_F_CHUNKED));
}

/* After http_msg_start accepted the head H checked: http-parser and the
 * strict checks must agree on the framing, or the proxy could be
 * desynchronised. NOBODY: the message has no body whatever it says (a
 * response to HEAD, 1xx, 204, 304). */
static inline void
fz_check_framing(const struct http_msg *m, const struct http_head *h,
                 bool nobody)
{
    bool chunked = (h->flags & HTTP_HEAD_F_CHUNKED) != 0;
    bool length = (h->flags & HTTP_HEAD_F_LENGTH) != 0;

    FUZZ_CHECK(!m->overflow);
    if (nobody) {
        FUZZ_CHECK(m->complete);
        return;
    }
    FUZZ_CHECK(chunked == (m->framing == HTTP_MSG_CHUNKED));
    if (chunked) {
        FUZZ_CHECK(!m->complete);
        return;
    }
    if (length) {
        FUZZ_CHECK(m->complete == (h->content_length == 0));
        if (!m->complete)
            FUZZ_CHECK(m->framing == HTTP_MSG_LENGTH && m->left == h->content_length);
        return;
    }
    /* Neither: a request has no body; a response runs until close. */
    if (!m->response)
        FUZZ_CHECK(m->complete);
    else
        FUZZ_CHECK(!m->complete && http_msg_until_eof(m));
}

enum fz_ref_rc { FZ_REF_DONE, FZ_REF_ERROR, FZ_REF_INCOMPLETE };

/* Decode the chunked body P[0..LEN) by the grammar of docs/security.md:
 * chunk-size is hex digits without sign or space (no overflow of 64 bits),
 * an extension of at most HTTP_MSG_MAX_CHUNK_EXT bytes from its ';' holds
 * only text, every line ends in CRLF, a trailer line starts with a tchar.
 * Appends the data to BODY (NULL: not kept); on DONE, *USED is the length
 * of the message. */
static inline enum fz_ref_rc
fz_ref_chunked(const uint8_t *p, size_t len, struct fuzz_str *body,
               size_t *used)
{
    size_t i = 0;

    for (;;) {
        uint64_t size = 0;
        int v;

        if (i >= len)
            return FZ_REF_INCOMPLETE;
        if (fz_hex(p[i]) < 0)
            return FZ_REF_ERROR;
        while (i < len && (v = fz_hex(p[i])) >= 0) {
            if (size > (UINT64_MAX >> 4))
                return FZ_REF_ERROR;
            size = size << 4 | (uint64_t)v;
            i++;
        }
        if (i < len && p[i] == ';') {
            size_t run = 1;
            for (i++; i < len && p[i] != '\r'; i++)
                if (!fz_text(p[i]) || ++run > HTTP_MSG_MAX_CHUNK_EXT)
                    return FZ_REF_ERROR;
        }
        if (i >= len)
            return FZ_REF_INCOMPLETE;
        if (p[i++] != '\r')
            return FZ_REF_ERROR;
        if (i >= len)
            return FZ_REF_INCOMPLETE;
        if (p[i++] != '\n')
            return FZ_REF_ERROR;
        if (size == 0)
            break;
        if (len - i < size) {
            if (body != NULL)
                fuzz_str_add(body, p + i, len - i);
            return FZ_REF_INCOMPLETE;
        }
        if (body != NULL)
            fuzz_str_add(body, p + i, (size_t)size);
        i += (size_t)size;
        if (i >= len)
            return FZ_REF_INCOMPLETE;
        if (p[i++] != '\r')
            return FZ_REF_ERROR;
        if (i >= len)
            return FZ_REF_INCOMPLETE;
        if (p[i++] != '\n')
            return FZ_REF_ERROR;
    }
    /* Trailer section, then the final CRLF. */
    for (;;) {
        if (i >= len)
            return FZ_REF_INCOMPLETE;
        if (p[i] == '\r') {
            if (++i >= len)
                return FZ_REF_INCOMPLETE;
            if (p[i] != '\n')
                return FZ_REF_ERROR;
            *used = i + 1;
            return FZ_REF_DONE;
        }
        if (!fz_tchar(p[i]))
            return FZ_REF_ERROR;
        for (i++; i < len && p[i] != '\r'; i++)
            if (!fz_text(p[i]))
                return FZ_REF_ERROR;
        if (i >= len || ++i >= len)
            return FZ_REF_INCOMPLETE;
        if (p[i++] != '\n')
            return FZ_REF_ERROR;
    }
}

/* BODY (what Weir re-encoded as chunked) is one complete, canonical
 * chunked message carrying DECODED_LEN bytes of data. */
static inline void
fz_check_reencoded(const struct fuzz_str *body, uint64_t decoded_len)
{
    struct fuzz_str d = {0};
    size_t used = 0;

    FUZZ_CHECK(fz_ref_chunked((const uint8_t *)body->p, body->len, &d,
                              &used) == FZ_REF_DONE);
    FUZZ_CHECK(used == body->len);
    FUZZ_CHECK(d.len == decoded_len);
    /* No extensions, no trailers: it ends in exactly one last chunk. */
    FUZZ_CHECK(body->len >= 5 &&
               memcmp(body->p + body->len - 5, "0\r\n\r\n", 5) == 0);
    fuzz_str_fini(&d);
}

#endif
