/* A fixed-capacity byte buffer with read and write cursors: the unit of
 * backpressure. It never grows: when it is full, the reader stops. */
#ifndef WEIR_BUF_H
#define WEIR_BUF_H

#include <stddef.h>
#include <string.h>

struct buf {
    char *data;
    size_t cap;
    size_t rpos;   /* first unread byte */
    size_t wpos;   /* first free byte */
};

/* Allocate CAP bytes. 0 or -1 (out of memory). */
int buf_init(struct buf *b, size_t cap);
/* Release the storage; safe on a zeroed or already finished buf. */
void buf_fini(struct buf *b);

static inline size_t buf_len(const struct buf *b) { return b->wpos - b->rpos; }
static inline char *buf_rptr(const struct buf *b) { return b->data + b->rpos; }
static inline char *buf_wptr(const struct buf *b) { return b->data + b->wpos; }
static inline size_t buf_tail_room(const struct buf *b) { return b->cap - b->wpos; }
/* Free space once the buffer is compacted. */
static inline size_t buf_room(const struct buf *b) { return b->cap - buf_len(b); }

static inline void
buf_reset(struct buf *b)
{
    b->rpos = b->wpos = 0;
}

/* Drop N read bytes; resets the cursors when the buffer empties. */
static inline void
buf_consume(struct buf *b, size_t n)
{
    b->rpos += n;
    if (b->rpos == b->wpos)
        b->rpos = b->wpos = 0;
}

/* Move unread bytes to the front so the tail has buf_room() bytes. */
void buf_compact(struct buf *b);

/* Make at least N contiguous bytes writable at buf_wptr(), compacting if
 * needed. 0, or -1 if the buffer cannot hold them. */
int buf_reserve(struct buf *b, size_t n);

/* Append LEN bytes; 0, or -1 (nothing written) if they do not fit. */
int buf_append(struct buf *b, const void *p, size_t len);
/* Append a NUL-terminated string; same contract as buf_append. */
int buf_append_str(struct buf *b, const char *s);
/* Free buffers kept for reuse, so that a busy loop does not call malloc
 * and free for every request while idle connections still hold no buffer.
 * A few capacities (one bin each), at most max_per_bin buffers per bin;
 * a capacity that finds no bin (after a reload changed a size) takes over
 * the bin used least recently. One per event loop: not thread-safe. */
#define BUF_CACHE_BINS 4

struct buf_cache {
    struct buf_cache_bin {
        size_t cap;          /* 0: unused */
        size_t n;            /* buffers in the list */
        void *head;          /* free buffers, linked through their first bytes */
        unsigned long used;  /* tick of the last get or put */
    } bins[BUF_CACHE_BINS];
    size_t max_per_bin;
    unsigned long tick;
    unsigned long hits, misses; /* for tests and tuning */
};

void buf_cache_init(struct buf_cache *c, size_t max_per_bin);
/* Free every cached buffer. */
void buf_cache_fini(struct buf_cache *c);
/* buf_init from the cache when it holds a buffer of CAP bytes (CAP must be
 * at least sizeof(void *)). Its contents are undefined. 0 or -1. */
int buf_init_cached(struct buf_cache *c, struct buf *b, size_t cap);
/* buf_fini, keeping the storage in the cache if there is room. Safe on a
 * zeroed or already finished buf. */
void buf_fini_cached(struct buf_cache *c, struct buf *b);

/* Append printf output; 0, or -1 (nothing written) if it does not fit. */
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
