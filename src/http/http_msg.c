/* Body framing of one message, set up from a head that http_head checked
 * and split (the head is parsed once). Content-Length and read-until-close
 * bodies are counted here; chunked bodies are checked strictly here and
 * decoded by Debian's http-parser, started after a head that says only
 * "chunked". It owns no buffers. */
#include "weir/http/http_msg.h"

#include <string.h>
#include <strings.h>

#include "weir/http/http_head.h"
#include "weir/util/buf.h"
#include "weir/util/defs.h"
#include "weir/util/fmt.h"

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

/* Hand LEN decoded body bytes to m->out, re-encoded as a chunk when asked.
 * 0, or -1 when out has no room (the callers keep HTTP_MSG_SLACK free, so
 * that is a bug). */
static int
put_body(struct http_msg *m, const char *at, size_t len)
{
    char size[20];

    if (m->out == NULL)
        return -1; /* body bytes inside the head: cannot happen */
    m->body_bytes += len;
    if (!m->chunked_out) {
        if (buf_append(m->out, at, len) == -1)
            goto overflow;
        return 0;
    }
    size_t n = fmt_hex(size, len);
    size[n++] = '\r';
    size[n++] = '\n';
    if (buf_room(m->out) < n + len + 2)
        goto overflow;
    buf_append(m->out, size, n);
    buf_append(m->out, at, len);
    buf_append(m->out, "\r\n", 2);
    return 0;
overflow:
    m->overflow = true;
    return -1;
}

/* The message is complete: close a re-encoded body. 0 or -1. */
static int
put_end(struct http_msg *m)
{
    m->complete = true;
    if (m->chunked_out && m->out != NULL &&
        buf_append(m->out, "0\r\n\r\n", 5) == -1) {
        m->overflow = true;
        return -1;
    }
    return 0;
}

static int
on_body(http_parser *p, const char *at, size_t len)
{
    return put_body(p->data, at, len);
}

static int
on_message_complete(http_parser *p)
{
    if (put_end(p->data) == -1)
        return -1;
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
    m->response = response;
}

/* Run http-parser over LEN bytes that must all be taken without error. */
static int
parse_all(struct http_msg *m, const char *p, size_t len)
{
    size_t n = http_parser_execute(&m->parser, &msg_settings, p, len);
    return HTTP_PARSER_ERRNO(&m->parser) == HPE_OK && n == len ? 0 : -1;
}

/* What http-parser refuses in a head that http_head accepted, apart from
 * its framing headers (parse_framing). Before the head was parsed only
 * once, http-parser ran over every whole head; test_http_msg compares the
 * two over many heads. */
static int
parser_agrees(struct http_msg *m, const struct http_head *h)
{
    if (h->head_len > HTTP_MAX_HEADER_SIZE)
        return -1;
    http_parser_init(&m->parser, m->response ? HTTP_RESPONSE : HTTP_REQUEST);
    m->parser.data = m;
    if (m->response)
        return 0;
    /* Its method list and its URL grammar: run it over the request line
     * itself, which http_head checked to be exactly
     * METHOD SP target SP HTTP/1.x CRLF. */
    size_t line = (size_t)(h->target.p + h->target.len - h->method.p) + 1 + 8 + 2;
    return parse_all(m, h->method.p, line);
}

/* Run http-parser over what of the head bears on framing and persistence:
 * the status line (requests: the request line is in already), then each
 * framing or connection header line as it came, then the blank line. Other
 * header lines cannot change its verdict once http_head accepted them. The
 * message's framing is then the parser's. 0, or -1 when it refuses. */
static int
parse_framing(struct http_msg *m, const struct http_head *h)
{
    if (m->response) {
        char line[16] = "HTTP/1.x 000\r\n";
        line[7] = (char)('0' + h->minor);
        line[9] = (char)('0' + h->status / 100 % 10);
        line[10] = (char)('0' + h->status / 10 % 10);
        line[11] = (char)('0' + h->status % 10);
        if (parse_all(m, line, 14) == -1)
            return -1;
    }
    for (size_t i = 0; i < h->nheaders; i++) {
        const struct http_header *f = &h->headers[i];
        if (!(f->kind == HTTP_HDR_CONTENT_LENGTH || f->kind == HTTP_HDR_CONNECTION ||
              f->kind == HTTP_HDR_PROXY_CONNECTION || f->kind == HTTP_HDR_UPGRADE ||
              (f->name.len >= 17 &&
               strncasecmp(f->name.p, "transfer-encoding", 17) == 0)))
            continue;
        /* The line as it came: OWS after the value, then CRLF. */
        const char *end = f->value.p + f->value.len;
        while (*end != '\r')
            end++;
        if (parse_all(m, f->name.p, (size_t)(end + 2 - f->name.p)) == -1)
            return -1;
    }
    size_t n = http_parser_execute(&m->parser, &msg_settings, "\r\n", 2);
    enum http_errno err = HTTP_PARSER_ERRNO(&m->parser);
    if (n != 2 || !(err == HPE_OK || (err == HPE_PAUSED && m->complete)))
        return -1;
    /* http_head accepts only a chunked Transfer-Encoding, but spells it
     * more loosely ("chunked,", ", chunked", "chunked<TAB>"); http-parser
     * reads such a response as another coding, delimited by close. The
     * two must agree on the framing: refuse. */
    if (m->parser.uses_transfer_encoding && !(m->parser.flags & F_CHUNKED))
        return -1;
    if (m->complete)
        m->framing = HTTP_MSG_NONE;
    else if (m->parser.flags & F_CHUNKED)
        m->framing = HTTP_MSG_CHUNKED;
    else if (http_message_needs_eof(&m->parser))
        m->framing = HTTP_MSG_EOF;
    else
        m->framing = HTTP_MSG_LENGTH;
    m->left = m->framing == HTTP_MSG_LENGTH ? m->parser.content_length : 0;
    m->keep_alive = http_should_keep_alive(&m->parser) != 0;
    if (m->framing == HTTP_MSG_CHUNKED) {
        m->ck_state = CK_SIZE0;
        m->ck_left = 0;
    }
    return 0;
}

/* Put the parser where it would be after a head announcing a chunked
 * body: the request line is in already for a request. */
static int
start_chunked(struct http_msg *m)
{
    static const char resp[] = "HTTP/1.1 200 OK\r\n";
    static const char te[] = "Transfer-Encoding: chunked\r\n\r\n";

    if (m->response && parse_all(m, resp, sizeof(resp) - 1) == -1)
        return -1;
    if (parse_all(m, te, sizeof(te) - 1) == -1)
        return -1;
    m->ck_state = CK_SIZE0;
    m->ck_left = 0;
    return 0;
}

int
http_msg_start(struct http_msg *m, const struct http_head *h, bool skip_body)
{
    m->out = NULL;
    m->skip_body = skip_body;
    m->minor = h->minor;
    if (parser_agrees(m, h) == -1)
        return -1;
    if (h->flags & HTTP_HEAD_F_ODD_FRAMING)
        return parse_framing(m, h);
    /* The plain forms, read here as http-parser reads them. RFC 9112 6.3:
     * a response to HEAD, and a 1xx, 204 or 304, ends with its head
     * whatever its framing headers say. */
    if (m->response && (skip_body || h->status / 100 == 1 || h->status == 204 ||
                        h->status == 304))
        m->framing = HTTP_MSG_NONE;
    else if (h->flags & HTTP_HEAD_F_CHUNKED)
        m->framing = HTTP_MSG_CHUNKED;
    else if (h->flags & HTTP_HEAD_F_LENGTH)
        m->framing = h->content_length > 0 ? HTTP_MSG_LENGTH : HTTP_MSG_NONE;
    else
        m->framing = m->response ? HTTP_MSG_EOF : HTTP_MSG_NONE;
    m->left = m->framing == HTTP_MSG_LENGTH ? h->content_length : 0;
    /* HTTP/1.1 persists unless told to close, HTTP/1.0 only when told to
     * keep alive, and never when the body ends with the connection. */
    if (h->minor >= 1)
        m->keep_alive = !(h->flags & HTTP_HEAD_F_CONN_CLOSE);
    else
        m->keep_alive = (h->flags & HTTP_HEAD_F_CONN_KA) != 0;
    if (m->framing == HTTP_MSG_EOF)
        m->keep_alive = false;
    if (m->framing == HTTP_MSG_NONE)
        m->complete = true;
    if (m->framing == HTTP_MSG_CHUNKED && start_chunked(m) == -1)
        return -1;
    return 0;
}

bool
http_msg_until_eof(const struct http_msg *m)
{
    return !m->complete && m->framing == HTTP_MSG_EOF;
}

bool
http_msg_keep_alive(const struct http_msg *m)
{
    return m->keep_alive;
}

/* Move up to FEED bytes of a Content-Length or read-until-close body from
 * IN to m->out. Returns the bytes taken. */
static size_t
pump_plain(struct http_msg *m, struct buf *in, size_t feed)
{
    size_t n = feed;
    if (m->framing == HTTP_MSG_LENGTH && n > m->left)
        n = (size_t)m->left;
    if (put_body(m, buf_rptr(in), n) == -1)
        return 0;
    if (m->framing == HTTP_MSG_LENGTH) {
        m->left -= n;
        if (m->left == 0)
            put_end(m);
    }
    return n;
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
        if (m->framing != HTTP_MSG_CHUNKED) {
            size_t n = pump_plain(m, in, feed);
            m->out = NULL;
            if (m->overflow)
                return HTTP_MSG_ERROR;
            buf_consume(in, n);
            continue;
        }
        long ok = chunk_check(m, buf_rptr(in), feed);
        if (ok == -1) {
            m->out = NULL;
            return HTTP_MSG_ERROR;
        }
        feed = (size_t)ok; /* up to the end of the message */
        size_t n = http_parser_execute(&m->parser, &msg_settings,
                                       buf_rptr(in), feed);
        m->out = NULL;
        enum http_errno err = HTTP_PARSER_ERRNO(&m->parser);
        if (err != HPE_OK && !(err == HPE_PAUSED && m->complete))
            return HTTP_MSG_ERROR;
        /* The check and the parser must agree where the message ends. */
        if (n != feed || m->complete != (m->ck_state == CK_DONE))
            return HTTP_MSG_ERROR;
        buf_consume(in, n);
    }
    return m->complete ? HTTP_MSG_DONE : HTTP_MSG_AGAIN;
}

size_t
http_msg_direct(const struct http_msg *m, size_t avail)
{
    if (m->complete || m->chunked_out)
        return 0;
    if (m->framing == HTTP_MSG_EOF)
        return avail;
    if (m->framing == HTTP_MSG_LENGTH)
        return avail < m->left ? avail : (size_t)m->left;
    return 0;
}

void
http_msg_direct_done(struct http_msg *m, size_t n)
{
    m->body_bytes += n;
    if (m->framing == HTTP_MSG_LENGTH) {
        m->left -= n;
        if (m->left == 0)
            m->complete = true;
    }
}

enum http_msg_rc
http_msg_eof(struct http_msg *m, struct buf *out)
{
    if (m->complete)
        return HTTP_MSG_DONE;
    if (m->framing != HTTP_MSG_EOF)
        return HTTP_MSG_ERROR;
    /* Room for the closing chunk of a re-encoded body. */
    if (buf_reserve(out, 8) == -1)
        return HTTP_MSG_AGAIN;
    m->out = out;
    put_end(m);
    m->out = NULL;
    return m->complete ? HTTP_MSG_DONE : HTTP_MSG_ERROR;
}
