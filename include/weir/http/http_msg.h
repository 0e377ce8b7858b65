/* http-parser glue for one message: runs the parser over a head that
 * http_head has already checked, then decodes the body from an input buf
 * into an output buf, re-encoding it as chunked when asked. Raw chunk bytes
 * are never passed through; trailers are dropped. */
#ifndef WEIR_HTTP_MSG_H
#define WEIR_HTTP_MSG_H

#include <http_parser.h>
#include <stdbool.h>
#include <stdint.h>

struct buf;

enum http_msg_rc {
    HTTP_MSG_AGAIN,  /* need more input or more output room */
    HTTP_MSG_DONE,   /* the message is complete */
    HTTP_MSG_ERROR,  /* malformed body or framing */
};

struct http_msg {
    http_parser parser;
    struct buf *out;         /* decoded body goes here while pumping */
    uint64_t body_bytes;     /* decoded body bytes so far */
    bool chunked_out;        /* re-encode the body as chunked */
    bool skip_body;          /* response to HEAD */
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

/* Feed the head (LEN bytes, already checked by http_head_parse_*).
 * SKIP_BODY: the response answers a HEAD request. 0, or -1 when the
 * parser rejects it. Sets m->complete when the message has no body. */
int http_msg_start(struct http_msg *m, const char *head, size_t len, bool skip_body);

/* After http_msg_start: the message ends only when the connection closes. */
bool http_msg_until_eof(const struct http_msg *m);
/* After http_msg_start: HTTP/1.x keep-alive semantics of the message. */
bool http_msg_keep_alive(const struct http_msg *m);

/* Decode as much of IN into OUT as fits; consumes what it decoded.
 * Bytes after the end of the message stay in IN. */
enum http_msg_rc http_msg_pump(struct http_msg *m, struct buf *in, struct buf *out);

/* The input ended. DONE when that ends the message (read-until-close),
 * ERROR when the message was cut short. */
enum http_msg_rc http_msg_eof(struct http_msg *m, struct buf *out);

#endif
