/* Fixed-capacity byte buffer. Appends that do not fit fail whole, so a
 * caller never emits half a header; nothing here ever reallocates. */
#include "weir/util/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int
buf_init(struct buf *b, size_t cap)
{
    b->data = malloc(cap);
    if (b->data == NULL)
        return -1;
    b->cap = cap;
    b->rpos = b->wpos = 0;
    return 0;
}

void
buf_fini(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->cap = b->rpos = b->wpos = 0;
}

void
buf_compact(struct buf *b)
{
    if (b->rpos == 0)
        return;
    size_t len = buf_len(b);
    memmove(b->data, b->data + b->rpos, len);
    b->rpos = 0;
    b->wpos = len;
}

int
buf_reserve(struct buf *b, size_t n)
{
    if (buf_tail_room(b) >= n)
        return 0;
    if (buf_room(b) < n)
        return -1;
    buf_compact(b);
    return 0;
}

int
buf_append(struct buf *b, const void *p, size_t len)
{
    /* memcpy() must not see a NULL pointer, even for 0 bytes. */
    if (len == 0)
        return 0;
    if (buf_reserve(b, len) == -1)
        return -1;
    memcpy(b->data + b->wpos, p, len);
    b->wpos += len;
    return 0;
}

int
buf_append_str(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    buf_compact(b);
    size_t room = buf_tail_room(b);
    va_start(ap, fmt);
    n = vsnprintf(buf_wptr(b), room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n > room)
        return -1;
    if (n > 0 && (size_t)n == room) {
        /* An exact fit: vsnprintf spent the last byte on its NUL. Format
         * once more where the NUL has room; rare, and freed at once. */
        char *tmp = malloc((size_t)n + 1);
        if (tmp == NULL)
            return -1;
        va_start(ap, fmt);
        vsnprintf(tmp, (size_t)n + 1, fmt, ap);
        va_end(ap);
        memcpy(buf_wptr(b), tmp, (size_t)n);
        free(tmp);
    }
    b->wpos += (size_t)n;
    return 0;
}
