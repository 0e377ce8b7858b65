/* A parsed HTTP/1.x message head, and the strict checks Weir applies to
 * every head before anything is forwarded. Debian's http-parser is built
 * non-strict, so these checks are the guard (docs/security.md). Spans point
 * into the caller's buffer, which must outlive the struct. */
#ifndef WEIR_HTTP_HEAD_H
#define WEIR_HTTP_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_HEAD_MAX_HEADERS 100

struct http_span {
    const char *p;
    size_t len;
};

/* Header names the proxy acts on, classified once per head. */
enum http_hdr {
    HTTP_HDR_OTHER,
    HTTP_HDR_CONTENT_LENGTH,
    HTTP_HDR_TRANSFER_ENCODING,
    HTTP_HDR_CONNECTION,
    HTTP_HDR_PROXY_CONNECTION,
    HTTP_HDR_KEEP_ALIVE,
    HTTP_HDR_TE,
    HTTP_HDR_TRAILER,
    HTTP_HDR_UPGRADE,
    HTTP_HDR_HOST,
    HTTP_HDR_EXPECT,
    HTTP_HDR_COOKIE,
    HTTP_HDR_X_FORWARDED_FOR,
    HTTP_HDR_X_FORWARDED_PROTO,
    HTTP_HDR_X_REQUEST_ID,
};

struct http_header {
    struct http_span name;
    struct http_span value;   /* OWS trimmed on both sides */
    unsigned char kind;       /* enum http_hdr of the name */
    bool ows_after;           /* the value was followed by OWS */
};

/* Framing and connection facts the proxy needs, derived from the headers. */
#define HTTP_HEAD_F_CHUNKED   (1u << 0) /* Transfer-Encoding: chunked */
#define HTTP_HEAD_F_LENGTH    (1u << 1) /* Content-Length present */
#define HTTP_HEAD_F_CONN_CLOSE (1u << 2) /* Connection: close */
#define HTTP_HEAD_F_CONN_KA   (1u << 3) /* Connection: keep-alive */
#define HTTP_HEAD_F_EXPECT_100 (1u << 4) /* Expect: 100-continue */
#define HTTP_HEAD_F_UPGRADE   (1u << 5) /* Upgrade present */
/* A framing or connection header in a form other than the plain ones
 * (one Content-Length with one value, "Transfer-Encoding: chunked",
 * "Connection: close" or "keep-alive", nothing after the value): http_msg
 * then lets http-parser read those headers (http-parser reads some of
 * these forms its own way; Weir must agree with it). */
#define HTTP_HEAD_F_ODD_FRAMING (1u << 6)
/* A Connection header names a header other than close and keep-alive. */
#define HTTP_HEAD_F_CONN_TOKENS (1u << 7)

struct http_head {
    /* request line */
    struct http_span method;
    struct http_span target;
    /* status line */
    unsigned status;
    struct http_span reason;
    unsigned minor;            /* HTTP/1.<minor>, 0 or 1 */
    struct http_header headers[HTTP_HEAD_MAX_HEADERS];
    size_t nheaders;
    size_t head_len;           /* bytes up to and including the blank line */
    uint64_t content_length;   /* valid when HTTP_HEAD_F_LENGTH */
    unsigned flags;
    struct http_span host;     /* requests: the Host value, if any */
    struct http_span connection_tokens[8]; /* tokens named by Connection */
    size_t nconnection_tokens;
};

/* Find the end of a head in DATA: the offset just past "\r\n\r\n", or 0
 * when it is not complete yet. FROM is where the previous scan stopped. */
size_t http_head_find_end(const char *data, size_t len, size_t from);

/* Check and split a request head of exactly LEN bytes (as found by
 * http_head_find_end). Returns 0, or the HTTP status to answer with
 * (400, 405, 414, 431, 501) — the head must then not be forwarded.
 * Borrows DATA; H points into it. */
int http_head_parse_request(struct http_head *h, const char *data, size_t len);

/* The same with a limit on each line: a request line longer than MAX_LINE
 * bytes (CRLF not counted) answers 414, a longer field line 431. MAX_LINE
 * 0 means no limit beyond LEN. */
int http_head_parse_request_max(struct http_head *h, const char *data,
                                size_t len, size_t max_line);

/* Same for a response head from a backend. Returns 0, or 502. */
int http_head_parse_response(struct http_head *h, const char *data, size_t len);

/* The request asks to switch protocols (WebSocket): an Upgrade header and
 * "upgrade" among the Connection tokens. The Upgrade value is in *VALUE. */
bool http_head_wants_upgrade(const struct http_head *h, struct http_span *value);

/* Case-insensitive compare of a span with a NUL-terminated lowercase name. */
bool http_span_ieq(struct http_span s, const char *lower);

/* The first header named NAME (lowercase), or NULL. */
const struct http_header *http_head_get(const struct http_head *h, const char *lower);

/* The class of a header name (case-insensitive; HTTP_HDR_OTHER for names
 * the proxy does not act on). */
enum http_hdr http_hdr_classify(const char *name, size_t len);

/* True when header NAME must not be forwarded: a hop-by-hop header or one
 * named in the message's Connection header. */
bool http_head_is_hop_by_hop(const struct http_head *h, struct http_span name);
/* The same for one of H's own headers, using its class. */
bool http_head_header_is_hop_by_hop(const struct http_head *h,
                                    const struct http_header *f);

#endif
