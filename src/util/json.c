/* JSON writer: appends compact JSON to a fixed-capacity struct buf, placing
 * commas and colons itself and escaping strings so that the output is
 * always valid JSON. It never allocates; the first failure is sticky. The
 * reader lives in json_parse.c. */
#include "weir/util/json.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "weir/util/buf.h"

size_t
json_utf8_len(const char *text, size_t avail)
{
    const unsigned char *p = (const unsigned char *)text;
    unsigned char c = p[0];
    unsigned char lo = 0x80, hi = 0xbf;
    size_t n;

    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4;
    else
        return 0;
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if (avail < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return n;
}


/* ---- writer ---- */

void
json_writer_init(struct json_writer *w, struct buf *out)
{
    memset(w, 0, sizeof(*w));
    w->out = out;
}

static void
w_append(struct json_writer *w, const char *p, size_t n)
{
    if (!w->failed && buf_append(w->out, p, n) == -1)
        w->failed = true;
}

/* Emit what must precede a value here (a comma in an array); -1 (and the
 * sticky error) when no value may come here. */
static int
w_before_value(struct json_writer *w)
{
    if (w->failed)
        return -1;
    if (w->depth == 0) {
        if (w->done)
            w->failed = true;
        return w->failed ? -1 : 0;
    }
    uint64_t bit = UINT64_C(1) << (w->depth - 1);
    if (w->in_object & bit) {
        if (!w->want_value)
            w->failed = true;
        w->want_value = false;
    } else {
        if (w->has_items & bit)
            w_append(w, ",", 1);
        w->has_items |= bit;
    }
    return w->failed ? -1 : 0;
}

static void
w_after_value(struct json_writer *w)
{
    if (w->depth == 0)
        w->done = true;
}

static void
w_begin(struct json_writer *w, char open, bool object)
{
    if (w_before_value(w) == -1)
        return;
    if (w->depth == JSON_MAX_DEPTH) {
        w->failed = true;
        return;
    }
    w_append(w, &open, 1);
    uint64_t bit = UINT64_C(1) << w->depth;
    w->depth++;
    if (object)
        w->in_object |= bit;
    else
        w->in_object &= ~bit;
    w->has_items &= ~bit;
}

static void
w_end(struct json_writer *w, char close, bool object)
{
    if (w->failed)
        return;
    if (w->depth == 0 || w->want_value
        || ((w->in_object >> (w->depth - 1)) & 1) != object) {
        w->failed = true;
        return;
    }
    w_append(w, &close, 1);
    w->depth--;
    w_after_value(w);
}

void
json_write_object_begin(struct json_writer *w)
{
    w_begin(w, '{', true);
}

void
json_write_object_end(struct json_writer *w)
{
    w_end(w, '}', true);
}

void
json_write_array_begin(struct json_writer *w)
{
    w_begin(w, '[', false);
}

void
json_write_array_end(struct json_writer *w)
{
    w_end(w, ']', false);
}

/* S (LEN bytes) as a quoted, escaped JSON string. Runs of bytes that need
 * no escaping are appended in one piece. */
static void
w_quoted(struct json_writer *w, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t run = 0, i = 0;

    w_append(w, "\"", 1);
    while (i < len && !w->failed) {
        unsigned char c = u[i];
        size_t n = 0;
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            i++;
            continue;
        }
        if (c >= 0x80 && (n = json_utf8_len(s + i, len - i)) > 0) {
            i += n;
            continue;
        }
        w_append(w, s + run, i - run);
        char esc[8];
        const char *e = esc;
        switch (c) {
        case '"':  e = "\\\""; break;
        case '\\': e = "\\\\"; break;
        case '\b': e = "\\b"; break;
        case '\f': e = "\\f"; break;
        case '\n': e = "\\n"; break;
        case '\r': e = "\\r"; break;
        case '\t': e = "\\t"; break;
        default:
            if (c >= 0x80)
                e = "\\ufffd";
            else
                snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)c);
        }
        w_append(w, e, strlen(e));
        run = ++i;
    }
    w_append(w, s + run, i - run);
    w_append(w, "\"", 1);
}

void
json_write_key_len(struct json_writer *w, const char *key, size_t len)
{
    if (w->failed)
        return;
    uint64_t bit = w->depth > 0 ? UINT64_C(1) << (w->depth - 1) : 0;
    if (bit == 0 || !(w->in_object & bit) || w->want_value) {
        w->failed = true;
        return;
    }
    if (w->has_items & bit)
        w_append(w, ",", 1);
    w->has_items |= bit;
    w_quoted(w, key, len);
    w_append(w, ":", 1);
    w->want_value = true;
}

void
json_write_key(struct json_writer *w, const char *key)
{
    json_write_key_len(w, key, strlen(key));
}

void
json_write_string_len(struct json_writer *w, const char *s, size_t len)
{
    if (w_before_value(w) == -1)
        return;
    w_quoted(w, s, len);
    w_after_value(w);
}

void
json_write_string(struct json_writer *w, const char *s)
{
    json_write_string_len(w, s, strlen(s));
}

void
json_write_raw(struct json_writer *w, const char *text, size_t len)
{
    if (w_before_value(w) == -1)
        return;
    w_append(w, text, len);
    w_after_value(w);
}

void
json_write_int(struct json_writer *w, int64_t v)
{
    char t[24];
    int n = snprintf(t, sizeof(t), "%" PRId64, v);
    json_write_raw(w, t, (size_t)n);
}

void
json_write_uint(struct json_writer *w, uint64_t v)
{
    char t[24];
    int n = snprintf(t, sizeof(t), "%" PRIu64, v);
    json_write_raw(w, t, (size_t)n);
}

void
json_write_bool(struct json_writer *w, bool v)
{
    json_write_raw(w, v ? "true" : "false", v ? 4 : 5);
}

void
json_write_null(struct json_writer *w)
{
    json_write_raw(w, "null", 4);
}

int
json_write_finish(const struct json_writer *w)
{
    return !w->failed && w->done && w->depth == 0 ? 0 : -1;
}
