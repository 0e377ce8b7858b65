/* Runs Debian's http-parser over one message. The head was checked by
 * http_head first; here the parser supplies framing (Content-Length,
 * chunked, read-until-close) and decodes the body. It owns no buffers. */
#include "weir/http/http_msg.h"

#include <stdio.h>
#include <string.h>

#include "weir/util/buf.h"
#include "weir/util/defs.h"

/* Exported by libhttp_parser 2.9 but missing from its header: whether a
 * message whose head was parsed is delimited by the end of the stream. */
int http_message_needs_eof(const http_parser *parser);

static int
on_headers_complete(http_parser *p)
{
    struct http_msg *m = p->data;
    return m->skip_body ? 1 : 0;
}

static int
on_body(http_parser *p, const char *at, size_t len)
{
    struct http_msg *m = p->data;
    char size[24];

    if (m->out == NULL)
        return -1; /* body bytes inside the head: cannot happen */
    m->body_bytes += len;
    if (!m->chunked_out) {
        if (buf_append(m->out, at, len) == -1)
            goto overflow;
        return 0;
    }
    int n = snprintf(size, sizeof(size), "%zx\r\n", len);
    if (buf_room(m->out) < (size_t)n + len + 2)
        goto overflow;
    buf_append(m->out, size, (size_t)n);
    buf_append(m->out, at, len);
    buf_append(m->out, "\r\n", 2);
    return 0;
overflow:
    m->overflow = true;
    return -1;
}

static int
on_message_complete(http_parser *p)
{
    struct http_msg *m = p->data;

    m->complete = true;
    if (m->chunked_out && m->out != NULL &&
        buf_append(m->out, "0\r\n\r\n", 5) == -1) {
        m->overflow = true;
        return -1;
    }
    /* Stop here: the bytes that follow belong to the next message. */
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings msg_settings = {
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void
http_msg_init(struct http_msg *m, bool response)
{
    memset(m, 0, sizeof(*m));
    http_parser_init(&m->parser, response ? HTTP_RESPONSE : HTTP_REQUEST);
    m->parser.data = m;
}

int
http_msg_start(struct http_msg *m, const char *head, size_t len, bool skip_body)
{
    m->skip_body = skip_body;
    m->out = NULL;
    size_t n = http_parser_execute(&m->parser, &msg_settings, head, len);
    enum http_errno err = HTTP_PARSER_ERRNO(&m->parser);
    if (err == HPE_PAUSED && m->complete)
        return n == len ? 0 : -1;
    if (err != HPE_OK || n != len)
        return -1;
    return 0;
}

bool
http_msg_until_eof(const struct http_msg *m)
{
    return !m->complete && http_message_needs_eof(&m->parser);
}

bool
http_msg_keep_alive(const struct http_msg *m)
{
    return http_should_keep_alive(&m->parser) != 0;
}

enum http_msg_rc
http_msg_pump(struct http_msg *m, struct buf *in, struct buf *out)
{
    while (!m->complete && buf_len(in) > 0) {
        if (buf_tail_room(out) < HTTP_MSG_SLACK + 1)
            buf_compact(out);
        size_t room = buf_tail_room(out);
        if (room < HTTP_MSG_SLACK + 1)
            return HTTP_MSG_AGAIN;
        size_t feed = MIN(buf_len(in), room - HTTP_MSG_SLACK);
        m->out = out;
        size_t n = http_parser_execute(&m->parser, &msg_settings,
                                       buf_rptr(in), feed);
        m->out = NULL;
        enum http_errno err = HTTP_PARSER_ERRNO(&m->parser);
        if (err != HPE_OK && !(err == HPE_PAUSED && m->complete))
            return HTTP_MSG_ERROR;
        buf_consume(in, n);
    }
    return m->complete ? HTTP_MSG_DONE : HTTP_MSG_AGAIN;
}

enum http_msg_rc
http_msg_eof(struct http_msg *m, struct buf *out)
{
    if (m->complete)
        return HTTP_MSG_DONE;
    if (!http_message_needs_eof(&m->parser))
        return HTTP_MSG_ERROR;
    /* Room for the closing chunk of a re-encoded body. */
    if (buf_reserve(out, 8) == -1)
        return HTTP_MSG_AGAIN;
    m->out = out;
    http_parser_execute(&m->parser, &msg_settings, NULL, 0);
    m->out = NULL;
    return m->complete ? HTTP_MSG_DONE : HTTP_MSG_ERROR;
}
