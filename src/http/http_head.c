/* Strict checks of an HTTP/1.x head and its split into spans. This is the
 * guard in front of Debian's non-strict http-parser: every rule here exists
 * because the parser would otherwise accept an ambiguous message
 * (docs/security.md lists them). It does not decode bodies (http_msg.c). */
#include "weir/http/http_head.h"

#include <string.h>
#include <strings.h>

#include "weir/util/defs.h"

/* RFC 9110 tchar. */
static bool
is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*':
    case '+': case '-': case '.': case '^': case '_': case '`': case '|':
    case '~':
        return true;
    }
    return false;
}

/* NAME (LEN bytes of tchar) equals LOWER ignoring case. For tchar, c | 0x20
 * folds exactly the letters: no other tchar maps onto a letter or '-'. */
static bool
name_is(const char *name, const char *lower, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((name[i] | 0x20) != lower[i])
            return false;
    return true;
}

enum http_hdr
http_hdr_classify(const char *p, size_t len)
{
#define IS(lit, kind) \
    if (name_is(p, lit, sizeof(lit) - 1)) \
        return kind
    if (len < 2)
        return HTTP_HDR_OTHER;
    switch (len) {
    case 2:
        IS("te", HTTP_HDR_TE);
        break;
    case 4:
        IS("host", HTTP_HDR_HOST);
        break;
    case 6:
        IS("cookie", HTTP_HDR_COOKIE);
        IS("expect", HTTP_HDR_EXPECT);
        break;
    case 7:
        IS("upgrade", HTTP_HDR_UPGRADE);
        IS("trailer", HTTP_HDR_TRAILER);
        break;
    case 10:
        IS("connection", HTTP_HDR_CONNECTION);
        IS("keep-alive", HTTP_HDR_KEEP_ALIVE);
        break;
    case 12:
        IS("x-request-id", HTTP_HDR_X_REQUEST_ID);
        break;
    case 14:
        IS("content-length", HTTP_HDR_CONTENT_LENGTH);
        break;
    case 15:
        IS("x-forwarded-for", HTTP_HDR_X_FORWARDED_FOR);
        break;
    case 16:
        IS("proxy-connection", HTTP_HDR_PROXY_CONNECTION);
        break;
    case 17:
        IS("transfer-encoding", HTTP_HDR_TRANSFER_ENCODING);
        IS("x-forwarded-proto", HTTP_HDR_X_FORWARDED_PROTO);
        break;
    }
    return HTTP_HDR_OTHER;
#undef IS
}

/* Field-value bytes: VCHAR, obs-text, SP and HTAB; no other controls. */
static bool
is_value_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool
is_ows(char c)
{
    return c == ' ' || c == '\t';
}

bool
http_span_ieq(struct http_span s, const char *lower)
{
    size_t n = strlen(lower);
    if (s.len != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s.p[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != lower[i])
            return false;
    }
    return true;
}

const struct http_header *
http_head_get(const struct http_head *h, const char *lower)
{
    for (size_t i = 0; i < h->nheaders; i++)
        if (http_span_ieq(h->headers[i].name, lower))
            return &h->headers[i];
    return NULL;
}

size_t
http_head_find_end(const char *data, size_t len, size_t from)
{
    /* Back up so a terminator split across reads is still seen. A bare-LF
     * blank line also ends the head, so that the checks reject it at once
     * instead of waiting for a terminator that never comes. */
    size_t i = from > 3 ? from - 3 : 0;
    while (i < len) {
        const char *lf = memchr(data + i, '\n', len - i);
        if (lf == NULL)
            return 0;
        size_t at = (size_t)(lf - data);
        if (at >= 1 && data[at - 1] == '\n')
            return at + 1;
        if (at >= 2 && data[at - 1] == '\r' && data[at - 2] == '\n')
            return at + 1;
        i = at + 1;
    }
    return 0;
}

/* Split the next line of [p, end): returns its length without CRLF and
 * sets *next, or -1 when the line does not end in CRLF or holds a bare CR
 * or LF. */
static long
next_line(const char *p, const char *end, const char **next)
{
    const char *lf = memchr(p, '\n', (size_t)(end - p));
    if (lf == NULL || lf == p || lf[-1] != '\r')
        return -1;
    const char *cr = memchr(p, '\r', (size_t)(lf - p));
    if (cr != lf - 1)
        return -1;
    *next = lf + 1;
    return (long)(lf - 1 - p);
}

static bool
parse_version(const char *p, size_t len, unsigned *minor)
{
    if (len != 8 || memcmp(p, "HTTP/1.", 7) != 0)
        return false;
    if (p[7] != '0' && p[7] != '1')
        return false;
    *minor = (unsigned)(p[7] - '0');
    return true;
}

/* METHOD SP request-target SP HTTP-version, nothing more. */
static int
parse_request_line(struct http_head *h, const char *p, size_t len)
{
    size_t i = 0;
    while (i < len && is_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i >= len || p[i] != ' ')
        return 400;
    h->method = (struct http_span){p, i};
    size_t t = ++i;
    while (i < len && (unsigned char)p[i] > 0x20 && (unsigned char)p[i] < 0x7f)
        i++;
    if (i == t || i >= len || p[i] != ' ')
        return 400;
    h->target = (struct http_span){p + t, i - t};
    i++;
    if (!parse_version(p + i, len - i, &h->minor))
        return 400;
    if (h->method.len == 7 && memcmp(p, "CONNECT", 7) == 0)
        return 405;
    return 0;
}

/* HTTP-version SP 3DIGIT SP reason-phrase (the reason may be empty and,
 * leniently, the second SP missing). */
static int
parse_status_line(struct http_head *h, const char *p, size_t len)
{
    if (len < 12 || !parse_version(p, 8, &h->minor) || p[8] != ' ')
        return 502;
    for (int i = 9; i < 12; i++)
        if (p[i] < '0' || p[i] > '9')
            return 502;
    h->status = (unsigned)((p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0'));
    if (h->status < 100)
        return 502;
    if (len == 12) {
        h->reason = (struct http_span){p + 12, 0};
        return 0;
    }
    if (p[12] != ' ')
        return 502;
    for (size_t i = 13; i < len; i++)
        if (!is_value_char((unsigned char)p[i]))
            return 502;
    h->reason = (struct http_span){p + 13, len - 13};
    return 0;
}

/* name ":" OWS value OWS, with a token name and clean value bytes. */
static int
parse_field_line(struct http_header *f, const char *p, size_t len)
{
    size_t i = 0;
    while (i < len && is_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i >= len || p[i] != ':')
        return -1;
    f->name = (struct http_span){p, i};
    i++;
    for (size_t j = i; j < len; j++)
        if (!is_value_char((unsigned char)p[j]))
            return -1;
    while (i < len && is_ows(p[i]))
        i++;
    size_t e = len;
    while (e > i && is_ows(p[e - 1]))
        e--;
    f->value = (struct http_span){p + i, e - i};
    f->ows_after = e != len;
    f->kind = (unsigned char)http_hdr_classify(f->name.p, f->name.len);
    return 0;
}

/* Split the field lines; ERR_STATUS is what a violation answers. A line
 * longer than MAX_LINE bytes (0: no limit) answers 431 for requests. */
static int
parse_fields(struct http_head *h, const char *p, const char *end, int err_status,
             size_t max_line)
{
    const char *next;
    long n;

    while ((n = next_line(p, end, &next)) > 0) {
        if (h->nheaders == HTTP_HEAD_MAX_HEADERS ||
            (max_line > 0 && (size_t)n > max_line))
            return err_status == 400 ? 431 : err_status;
        /* Leading whitespace is obs-fold (or a hidden first field). */
        if (is_ows(*p))
            return err_status;
        if (parse_field_line(&h->headers[h->nheaders], p, (size_t)n) == -1)
            return err_status;
        h->nheaders++;
        p = next;
    }
    if (n != 0 || next != end)
        return err_status;
    return 0;
}

/* Iterate comma-separated list elements of a span (OWS trimmed, empty
 * elements skipped). Returns false at the end. */
static bool
next_list_item(struct http_span *rest, struct http_span *item)
{
    while (rest->len > 0) {
        const char *comma = memchr(rest->p, ',', rest->len);
        size_t n = comma ? (size_t)(comma - rest->p) : rest->len;
        const char *s = rest->p;
        rest->p += comma ? n + 1 : n;
        rest->len -= comma ? n + 1 : n;
        while (n > 0 && is_ows(*s)) {
            s++;
            n--;
        }
        while (n > 0 && is_ows(s[n - 1]))
            n--;
        if (n > 0) {
            *item = (struct http_span){s, n};
            return true;
        }
    }
    return false;
}

static int
parse_content_length(struct http_head *h, struct http_span v)
{
    struct http_span item;
    bool any = false;

    while (next_list_item(&v, &item)) {
        uint64_t n = 0;
        for (size_t i = 0; i < item.len; i++) {
            unsigned char c = (unsigned char)item.p[i];
            if (c < '0' || c > '9' || n > (UINT64_MAX - 9) / 10)
                return -1;
            n = n * 10 + (c - '0');
        }
        if (h->flags & HTTP_HEAD_F_LENGTH) {
            if (h->content_length != n)
                return -1;
            h->flags |= HTTP_HEAD_F_ODD_FRAMING; /* repeated */
        }
        h->content_length = n;
        h->flags |= HTTP_HEAD_F_LENGTH;
        any = true;
    }
    return any ? 0 : -1;
}

/* Transfer-Encoding must be exactly one "chunked", last. Unknown codings
 * answer 501: we cannot frame what we cannot decode. */
static int
parse_transfer_encoding(struct http_head *h, struct http_span v)
{
    struct http_span item;
    bool any = false;

    while (next_list_item(&v, &item)) {
        if (h->flags & HTTP_HEAD_F_CHUNKED)
            return 400; /* something after (or a second) chunked */
        if (!http_span_ieq(item, "chunked"))
            return 501;
        h->flags |= HTTP_HEAD_F_CHUNKED;
        any = true;
    }
    return any ? 0 : 400;
}

static void
parse_connection(struct http_head *h, struct http_span v)
{
    struct http_span item;
    while (next_list_item(&v, &item)) {
        if (http_span_ieq(item, "close"))
            h->flags |= HTTP_HEAD_F_CONN_CLOSE;
        else if (http_span_ieq(item, "keep-alive"))
            h->flags |= HTTP_HEAD_F_CONN_KA;
        else {
            h->flags |= HTTP_HEAD_F_CONN_TOKENS;
            if (h->nconnection_tokens < nitems(h->connection_tokens))
                h->connection_tokens[h->nconnection_tokens++] = item;
        }
    }
}

bool
http_head_wants_upgrade(const struct http_head *h, struct http_span *value)
{
    if (!(h->flags & HTTP_HEAD_F_UPGRADE))
        return false;
    bool named = false;
    for (size_t i = 0; i < h->nconnection_tokens; i++)
        named |= http_span_ieq(h->connection_tokens[i], "upgrade");
    if (!named)
        return false;
    for (size_t i = 0; i < h->nheaders; i++) {
        if (h->headers[i].kind == HTTP_HDR_UPGRADE && h->headers[i].value.len > 0) {
            *value = h->headers[i].value;
            return true;
        }
    }
    return false;
}

/* uri-host [ ":" port ]: reg-name characters or an IP-literal. */
static bool
valid_host(struct http_span v)
{
    size_t i = 0;
    if (v.len == 0)
        return false;
    if (v.p[0] == '[') {
        while (i < v.len && v.p[i] != ']')
            i++;
        if (i == v.len)
            return false;
        for (size_t j = 1; j < i; j++)
            if (!strchr("0123456789abcdefABCDEF:.", v.p[j]) || v.p[j] == 0)
                return false;
        i++;
    } else {
        while (i < v.len && v.p[i] != ':') {
            unsigned char c = (unsigned char)v.p[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || (c != 0 && strchr("-._~!$&'()*+,;=%", c))))
                return false;
            i++;
        }
    }
    if (i == v.len)
        return true;
    if (v.p[i] != ':')
        return false;
    for (i++; i < v.len; i++)
        if (v.p[i] < '0' || v.p[i] > '9')
            return false;
    return true;
}

/* Derive framing and connection facts; ERR is 400 for requests, 502 for
 * responses. */
static int
scan_semantics(struct http_head *h, int err, size_t *nhost)
{
    *nhost = 0;
    for (size_t i = 0; i < h->nheaders; i++) {
        const struct http_header *f = &h->headers[i];
        int rc;
        switch (f->kind) {
        case HTTP_HDR_CONTENT_LENGTH:
            if (parse_content_length(h, f->value) == -1)
                return err;
            if (f->ows_after)
                h->flags |= HTTP_HEAD_F_ODD_FRAMING;
            break;
        case HTTP_HDR_TRANSFER_ENCODING:
            rc = parse_transfer_encoding(h, f->value);
            if (rc != 0)
                return err == 400 ? rc : err;
            if (f->ows_after || !http_span_ieq(f->value, "chunked"))
                h->flags |= HTTP_HEAD_F_ODD_FRAMING;
            break;
        case HTTP_HDR_CONNECTION:
            parse_connection(h, f->value);
            if (f->ows_after || !(http_span_ieq(f->value, "close") ||
                                  http_span_ieq(f->value, "keep-alive")))
                h->flags |= HTTP_HEAD_F_ODD_FRAMING;
            break;
        case HTTP_HDR_PROXY_CONNECTION:
            h->flags |= HTTP_HEAD_F_ODD_FRAMING;
            break;
        case HTTP_HDR_HOST:
            h->host = f->value;
            (*nhost)++;
            break;
        case HTTP_HDR_EXPECT:
            if (http_span_ieq(f->value, "100-continue"))
                h->flags |= HTTP_HEAD_F_EXPECT_100;
            break;
        case HTTP_HDR_UPGRADE:
            h->flags |= HTTP_HEAD_F_UPGRADE | HTTP_HEAD_F_ODD_FRAMING;
            break;
        case HTTP_HDR_OTHER:
            /* http-parser treats a name that starts so as one. */
            if (f->name.len > 17 && name_is(f->name.p, "transfer-encoding", 17))
                h->flags |= HTTP_HEAD_F_ODD_FRAMING;
            break;
        }
    }
    if ((h->flags & HTTP_HEAD_F_CHUNKED) && (h->flags & HTTP_HEAD_F_LENGTH))
        return err;
    return 0;
}

static void
head_reset(struct http_head *h, size_t len)
{
    h->nheaders = 0;
    h->nconnection_tokens = 0;
    h->flags = 0;
    h->content_length = 0;
    h->status = 0;
    h->head_len = len;
    h->host = (struct http_span){NULL, 0};
    h->method = h->target = h->reason = (struct http_span){NULL, 0};
}

int
http_head_parse_request(struct http_head *h, const char *data, size_t len)
{
    return http_head_parse_request_max(h, data, len, 0);
}

int
http_head_parse_request_max(struct http_head *h, const char *data, size_t len,
                            size_t max_line)
{
    const char *end = data + len, *next;
    size_t nhost;
    int rc;

    head_reset(h, len);
    long n = next_line(data, end, &next);
    if (n <= 0)
        return 400;
    /* Checked first: a line too long is refused whatever it holds. */
    if (max_line > 0 && (size_t)n > max_line)
        return 414;
    if ((rc = parse_request_line(h, data, (size_t)n)) != 0)
        return rc;
    if ((rc = parse_fields(h, next, end, 400, max_line)) != 0)
        return rc;
    if ((rc = scan_semantics(h, 400, &nhost)) != 0)
        return rc;
    if (nhost > 1 || (h->minor == 1 && nhost != 1))
        return 400;
    if (nhost == 1 && !valid_host(h->host))
        return 400;
    /* A Host named in Connection is hop-by-hop (RFC 9110 7.6.1): the
     * request forwarded without it would have none. */
    if (nhost == 1 && http_head_is_hop_by_hop(h, (struct http_span){"host", 4}))
        return 400;
    if (h->minor == 0 && (h->flags & HTTP_HEAD_F_CHUNKED))
        return 400;
    return 0;
}

int
http_head_parse_response(struct http_head *h, const char *data, size_t len)
{
    const char *end = data + len, *next;
    size_t nhost;
    int rc;

    head_reset(h, len);
    long n = next_line(data, end, &next);
    if (n <= 0)
        return 502;
    if ((rc = parse_status_line(h, data, (size_t)n)) != 0)
        return rc;
    if ((rc = parse_fields(h, next, end, 502, 0)) != 0)
        return rc;
    if ((rc = scan_semantics(h, 502, &nhost)) != 0)
        return rc;
    /* RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 message means the
     * framing is faulty, as for requests. */
    if (h->minor == 0 && (h->flags & HTTP_HEAD_F_CHUNKED))
        return 502;
    return 0;
}

static bool
kind_is_hop_by_hop(unsigned kind)
{
    switch (kind) {
    case HTTP_HDR_CONNECTION:
    case HTTP_HDR_KEEP_ALIVE:
    case HTTP_HDR_PROXY_CONNECTION:
    case HTTP_HDR_TE:
    case HTTP_HDR_TRAILER:
    case HTTP_HDR_TRANSFER_ENCODING:
    case HTTP_HDR_UPGRADE:
        return true;
    }
    return false;
}

/* NAME is named in one of H's Connection headers. */
static bool
named_by_connection(const struct http_head *h, struct http_span name)
{
    /* Scan the Connection headers themselves: connection_tokens holds
     * only the first few, and a name past them must not slip through. */
    for (size_t i = 0; i < h->nheaders; i++) {
        if (h->headers[i].kind != HTTP_HDR_CONNECTION)
            continue;
        struct http_span rest = h->headers[i].value, t;
        while (next_list_item(&rest, &t))
            if (t.len == name.len && strncasecmp(t.p, name.p, t.len) == 0)
                return true;
    }
    return false;
}

bool
http_head_is_hop_by_hop(const struct http_head *h, struct http_span name)
{
    if (kind_is_hop_by_hop(http_hdr_classify(name.p, name.len)))
        return true;
    return (h->flags & HTTP_HEAD_F_CONN_TOKENS) && named_by_connection(h, name);
}

bool
http_head_header_is_hop_by_hop(const struct http_head *h, const struct http_header *f)
{
    if (kind_is_hop_by_hop(f->kind))
        return true;
    return (h->flags & HTTP_HEAD_F_CONN_TOKENS) && named_by_connection(h, f->name);
}
