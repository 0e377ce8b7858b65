/* Canned short responses that Weir itself answers with. */
#ifndef WEIR_HTTP_REPLY_H
#define WEIR_HTTP_REPLY_H

struct buf;

/* The reason phrase for STATUS ("Unknown" when not in the table). */
const char *http_reply_reason(int status);

/* Append a complete short response with Connection: close to OUT: a
 * plain-text body naming the status, and the request id when not NULL.
 * 0, or -1 when it does not fit. */
int http_reply_error(struct buf *out, int status, const char *request_id);

#endif
