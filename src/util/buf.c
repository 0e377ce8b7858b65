/* Fixed-capacity byte buffer. Appends that do not fit fail whole, so a
 * caller never emits half a header; nothing here ever reallocates. */
#include "weir/util/buf.h"

#include <stdarg.h>
#include <stdbool.h>
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
buf_cache_init(struct buf_cache *c, size_t max_per_bin)
{
    memset(c, 0, sizeof(*c));
    c->max_per_bin = max_per_bin;
}

static void
bin_flush(struct buf_cache_bin *bin)
{
    while (bin->head != NULL) {
        void *next;
        memcpy(&next, bin->head, sizeof(next));
        free(bin->head);
        bin->head = next;
    }
    bin->n = 0;
    bin->cap = 0;
}

void
buf_cache_fini(struct buf_cache *c)
{
    for (size_t i = 0; i < BUF_CACHE_BINS; i++)
        bin_flush(&c->bins[i]);
}

/* The bin for CAP; with CLAIM, an unused bin or the least recently used
 * one (flushed) when none has it yet. */
static struct buf_cache_bin *
bin_for(struct buf_cache *c, size_t cap, bool claim)
{
    struct buf_cache_bin *lru = NULL;

    for (size_t i = 0; i < BUF_CACHE_BINS; i++) {
        struct buf_cache_bin *bin = &c->bins[i];
        if (bin->cap == cap)
            return bin;
        /* The first unused bin, else the least recently used. */
        if (bin->cap == 0) {
            if (lru == NULL || lru->cap != 0)
                lru = bin;
        } else if (lru == NULL || (lru->cap != 0 && bin->used < lru->used)) {
            lru = bin;
        }
    }
    if (!claim)
        return NULL;
    bin_flush(lru);
    lru->cap = cap;
    return lru;
}

int
buf_init_cached(struct buf_cache *c, struct buf *b, size_t cap)
{
    struct buf_cache_bin *bin = bin_for(c, cap, false);

    if (bin == NULL || bin->head == NULL) {
        c->misses++;
        return buf_init(b, cap);
    }
    c->hits++;
    bin->used = ++c->tick;
    b->data = bin->head;
    memcpy(&bin->head, b->data, sizeof(bin->head));
    bin->n--;
    b->cap = cap;
    b->rpos = b->wpos = 0;
    return 0;
}

void
buf_fini_cached(struct buf_cache *c, struct buf *b)
{
    if (b->data == NULL || b->cap < sizeof(void *) || c->max_per_bin == 0) {
        buf_fini(b);
        return;
    }
    struct buf_cache_bin *bin = bin_for(c, b->cap, true);
    if (bin->n >= c->max_per_bin) {
        buf_fini(b);
        return;
    }
    bin->used = ++c->tick;
    memcpy(b->data, &bin->head, sizeof(bin->head));
    bin->head = b->data;
    bin->n++;
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
