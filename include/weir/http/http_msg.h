/* Body framing for one message, from a head http_head has already checked
 * and split: the body is decoded from an input buf into an output buf,
 * re-encoded as chunked when asked. Chunked bodies are decoded by
 * http-parser; raw chunk bytes are never passed through; trailers are
 * dropped. */
#ifndef WEIR_HTTP_MSG_H
#define WEIR_HTTP_MSG_H

#include <http_parser.h>
#include <stdbool.h>
#include <stdint.h>

struct buf;
struct http_head;

enum http_msg_rc {
    HTTP_MSG_AGAIN,  /* need more input or more output room */
    HTTP_MSG_DONE,   /* the message is complete */
    HTTP_MSG_ERROR,  /* malformed body or framing */
};

/* How the body of a message is delimited (internal). */
enum http_msg_framing {
    HTTP_MSG_NONE,           /* no body */
    HTTP_MSG_LENGTH,         /* Content-Length */
    HTTP_MSG_CHUNKED,
    HTTP_MSG_EOF,            /* the end of the stream (responses) */
};

struct http_msg {
    http_parser parser;      /* request line check; chunked bodies */
    struct buf *out;         /* decoded body goes here while pumping */
    uint64_t body_bytes;     /* decoded body bytes so far */
    uint64_t left;           /* Content-Length body bytes still to come */
    enum http_msg_framing framing;
    unsigned minor;          /* HTTP/1.<minor> of the head */
    bool response;
    bool chunked_out;        /* re-encode the body as chunked */
    bool skip_body;          /* response to HEAD */
    bool keep_alive;
    bool complete;
    bool overflow;           /* internal: out had no room (a bug) */
    /* internal: strict check of chunked framing ahead of the parser */
    unsigned char ck_state;
    uint64_t ck_left;        /* chunk size being read, then data to come */
    size_t ck_run;           /* bytes of the current chunk extension */
};

/* Room kept free in OUT beyond the input fed, for chunk framing. */
#define HTTP_MSG_SLACK 40

/* Longest chunk extension accepted, from its ';' to the CRLF; a longer
 * one is an error (issue 9: extensions beyond a small limit). */
#define HTTP_MSG_MAX_CHUNK_EXT 256

/* Prepare for a request (RESPONSE false) or a response. */
void http_msg_init(struct http_msg *m, bool response);

/* Set up the framing from H, a head accepted by http_head_parse_* (for a
 * request when RESPONSE was false). SKIP_BODY: the response answers a HEAD
 * request. 0, or -1 for a head http-parser would refuse (an unknown method,
 * a request target outside its URL grammar, a repeated Content-Length, a
 * head over its 80 KiB): the caller answers 400 or 502. Sets m->complete
 * when the message has no body. H's spans are not kept. */
int http_msg_start(struct http_msg *m, const struct http_head *h, bool skip_body);

/* After http_msg_start: the message ends only when the connection closes. */
bool http_msg_until_eof(const struct http_msg *m);
/* After http_msg_start: HTTP/1.x keep-alive semantics of the message. */
bool http_msg_keep_alive(const struct http_msg *m);

/* Decode as much of IN into OUT as fits; consumes what it decoded.
 * Bytes after the end of the message stay in IN. */
enum http_msg_rc http_msg_pump(struct http_msg *m, struct buf *in, struct buf *out);

/* How many of the AVAIL bytes at the front of the input are body bytes
 * that may go out exactly as they are (a Content-Length or until-close
 * body, not re-encoded): the caller may send them from the input itself,
 * then report them with http_msg_direct_done, instead of pumping. */
size_t http_msg_direct(const struct http_msg *m, size_t avail);
/* N bytes reported by http_msg_direct were sent and consumed. */
void http_msg_direct_done(struct http_msg *m, size_t n);

/* The input ended. DONE when that ends the message (read-until-close),
 * ERROR when the message was cut short. */
enum http_msg_rc http_msg_eof(struct http_msg *m, struct buf *out);

#endif
