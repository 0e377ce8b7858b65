/* Serialise a checked head for the other side: hop-by-hop headers removed,
 * framing headers re-derived, X-Forwarded-* and X-Request-Id added. */
#ifndef WEIR_HTTP_REWRITE_H
#define WEIR_HTTP_REWRITE_H

#include <stdbool.h>
#include <stddef.h>

struct buf;
struct http_head;

struct http_request_ctx {
    const char *client_ip;      /* appended to X-Forwarded-For */
    const char *proto;          /* "http" or "https" */
    const char *request_id;     /* used when the client sent none */
    const char *strip_cookie;   /* cookie removed from Cookie headers
                                 * (the affinity cookie), or NULL */
    const struct http_span *upgrade; /* forward "Connection: upgrade" and
                                 * this Upgrade value, or NULL */
};

/* How a response body goes to the client. */
enum http_body_framing {
    HTTP_FRAMING_NONE,          /* no body (HEAD, 1xx, 204, 304) */
    HTTP_FRAMING_LENGTH,        /* Content-Length as received */
    HTTP_FRAMING_CHUNKED,       /* Transfer-Encoding: chunked (re-encoded) */
    HTTP_FRAMING_CLOSE,         /* delimited by closing the connection */
};

struct http_response_ctx {
    enum http_body_framing framing;
    bool close;                 /* send Connection: close */
    bool keep_alive_10;         /* HTTP/1.0 client kept alive */
    const char *extra;          /* extra header lines ("Name: v\r\n"...), or NULL */
    const struct http_span *upgrade; /* a 101: "Connection: upgrade" and
                                 * this Upgrade value, or NULL */
};

/* Write the request head for a backend into OUT: always HTTP/1.1,
 * persistent, with the client's framing (Content-Length or chunked).
 * Borrows everything. 0, or -1 (OUT unchanged) when it does not fit. */
int http_rewrite_request(struct buf *out, const struct http_head *h,
                         const struct http_request_ctx *ctx);

/* Write a response head for the client into OUT. 0, or -1 (OUT unchanged)
 * when it does not fit. */
int http_rewrite_response(struct buf *out, const struct http_head *h,
                          const struct http_response_ctx *ctx);

/* Copy the client's X-Request-Id into ID (NUL-terminated, truncated to
 * IDLEN-1) and return true, or return false when there is none. */
bool http_rewrite_request_id(const struct http_head *h, char *id, size_t idlen);

#endif
