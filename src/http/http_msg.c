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

/* States of the strict chunked check. Debian's http-parser is built
 * non-strict: it takes any byte for the LF after a chunk size and for the
 * CRLF after chunk data, and ignores whitespace after a size and
 * extensions of any length. So the chunked bytes are checked here before
 * the parser sees them. */
enum {
    CK_OFF,         /* not a chunked body */
    CK_SIZE0,       /* first hex digit of a chunk size */
    CK_SIZE,        /* more digits, ';' or CR */
    CK_EXT,         /* chunk extension, up to CR */
    CK_SIZE_LF,     /* LF ending the size line */
    CK_DATA,        /* ck_left data bytes */
    CK_DATA_CR,     /* CRLF after the data */
    CK_DATA_LF,
    CK_TRAILER0,    /* a trailer line, or the CR of the final line */
    CK_TRAILER,     /* rest of a trailer line, up to CR */
    CK_TRAILER_LF,
    CK_LAST_LF,     /* LF of the final line */
    CK_DONE,
};

static int
hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* VCHAR, obs-text, SP and HTAB: what extensions and trailers may hold. */
static bool
is_text(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool
is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* One byte of chunked framing outside chunk data: 0, or -1 when it is
 * not allowed here. */
static int
chunk_step(struct http_msg *m, unsigned char c)
{
    int v;

    switch (m->ck_state) {
    case CK_SIZE0:
    case CK_SIZE:
        if ((v = hex_value(c)) >= 0) {
            if (m->ck_left > (UINT64_MAX >> 4))
                return -1;
            m->ck_left = m->ck_left << 4 | (uint64_t)v;
            m->ck_state = CK_SIZE;
        } else if (m->ck_state == CK_SIZE0) {
            return -1;
        } else if (c == ';') {
            m->ck_state = CK_EXT;
            m->ck_run = 1;
        } else if (c == '\r') {
            m->ck_state = CK_SIZE_LF;
        } else {
            return -1; /* whitespace, sign, "x", ... */
        }
        return 0;
    case CK_EXT:
        if (c == '\r')
            m->ck_state = CK_SIZE_LF;
        else if (!is_text(c) || ++m->ck_run > HTTP_MSG_MAX_CHUNK_EXT)
            return -1;
        return 0;
    case CK_SIZE_LF:
        if (c != '\n')
            return -1;
        m->ck_state = m->ck_left > 0 ? CK_DATA : CK_TRAILER0;
        return 0;
    case CK_DATA_CR:
        m->ck_state = CK_DATA_LF;
        return c == '\r' ? 0 : -1;
    case CK_DATA_LF:
        m->ck_state = CK_SIZE0;
        return c == '\n' ? 0 : -1;
    case CK_TRAILER0:
        if (c == '\r')
            m->ck_state = CK_LAST_LF;
        else if (is_tchar(c))
            m->ck_state = CK_TRAILER; /* no obs-fold */
        else
            return -1;
        return 0;
    case CK_TRAILER:
        if (c == '\r')
            m->ck_state = CK_TRAILER_LF;
        else if (!is_text(c))
            return -1;
        return 0;
    case CK_TRAILER_LF:
        m->ck_state = CK_TRAILER0;
        return c == '\n' ? 0 : -1;
    case CK_LAST_LF:
        m->ck_state = CK_DONE;
        return c == '\n' ? 0 : -1;
    }
    return -1;
}

/* Check the chunked bytes P[0..LEN). Returns how many belong to this
 * message (fewer than LEN when it ends inside them), or -1. */
static long
chunk_check(struct http_msg *m, const char *p, size_t len)
{
    size_t i = 0;

    while (i < len && m->ck_state != CK_DONE) {
        if (m->ck_state == CK_DATA) {
            size_t n = len - i;
            if (n > m->ck_left)
                n = (size_t)m->ck_left;
            m->ck_left -= n;
            i += n;
            if (m->ck_left == 0)
                m->ck_state = CK_DATA_CR;
            continue;
        }
        if (chunk_step(m, (unsigned char)p[i]) == -1)
            return -1;
        i++;
    }
    return (long)i;
}

static int
on_headers_complete(http_parser *p)
{
    struct http_msg *m = p->data;

    /* A response to HEAD, and a 1xx, 204 or 304, ends with its head
     * whatever its framing headers say (RFC 9112 6.3); http-parser 2.9
     * would read a Content-Length body after a 204 or 304. */
    if (m->skip_body)
        return 1;
    if (p->type == HTTP_RESPONSE &&
        (p->status_code / 100 == 1 || p->status_code == 204 || p->status_code == 304))
        return 1;
    return 0;
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
    /* http_head accepts only a chunked Transfer-Encoding, but spells it
     * more loosely ("chunked,", ", chunked", "chunked<TAB>"); http-parser
     * reads such a response as another coding, delimited by close. The
     * two must agree on the framing: refuse. */
    if (m->parser.uses_transfer_encoding && !(m->parser.flags & F_CHUNKED))
        return -1;
    if (err == HPE_PAUSED && m->complete)
        return n == len ? 0 : -1;
    if (err != HPE_OK || n != len)
        return -1;
    if (m->parser.flags & F_CHUNKED) {
        m->ck_state = CK_SIZE0;
        m->ck_left = 0;
    }
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
        if (m->ck_state != CK_OFF) {
            long ok = chunk_check(m, buf_rptr(in), feed);
            if (ok == -1)
                return HTTP_MSG_ERROR;
            feed = (size_t)ok; /* up to the end of the message */
        }
        m->out = out;
        size_t n = http_parser_execute(&m->parser, &msg_settings,
                                       buf_rptr(in), feed);
        m->out = NULL;
        enum http_errno err = HTTP_PARSER_ERRNO(&m->parser);
        if (err != HPE_OK && !(err == HPE_PAUSED && m->complete))
            return HTTP_MSG_ERROR;
        /* The check and the parser must agree where the message ends. */
        if (m->ck_state != CK_OFF &&
            (n != feed || m->complete != (m->ck_state == CK_DONE)))
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
