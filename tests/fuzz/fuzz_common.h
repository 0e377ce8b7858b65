/* Shared by the libFuzzer harnesses: an invariant check that aborts (so
 * libFuzzer keeps the input), a growable byte string for what a harness
 * collects, and the read sizes a mode byte selects. Harness-side only. */
#ifndef WEIR_FUZZ_COMMON_H
#define WEIR_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weir/util/buf.h"

#define FUZZ_CHECK(cond)                                                     \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__,       \
                    __LINE__, #cond);                                        \
            abort();                                                         \
        }                                                                    \
    } while (0)

/* How many bytes one simulated read delivers; 0 means all that fit. The
 * harnesses index it with the low 3 bits of their first input byte, so a
 * seed starting with '0' is read in one go and one with '1' byte by byte. */
static const size_t fuzz_read_sizes[8] = {0, 1, 2, 3, 5, 16, 64, 512};

struct fuzz_str {
    char *p;
    size_t len, cap;
};

static inline void
fuzz_str_add(struct fuzz_str *s, const void *p, size_t n)
{
    if (n == 0)
        return;
    if (s->len + n > s->cap) {
        size_t cap = (s->len + n) * 2;
        char *q = realloc(s->p, cap);
        FUZZ_CHECK(q != NULL);
        s->p = q;
        s->cap = cap;
    }
    memcpy(s->p + s->len, p, n);
    s->len += n;
}

static inline void
fuzz_str_fini(struct fuzz_str *s)
{
    free(s->p);
    s->p = NULL;
    s->len = s->cap = 0;
}

/* Same bytes (memcmp must not see the NULL of an empty string). */
static inline int
fuzz_mem_eq(const void *a, size_t alen, const void *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* Move up to MAX bytes of the stream [*POS, LEN) into IN (what fits). */
static inline size_t
fuzz_feed(struct buf *in, const uint8_t *data, size_t len, size_t *pos,
          size_t max)
{
    size_t n = len - *pos;

    if (max != 0 && n > max)
        n = max;
    buf_compact(in);
    if (n > buf_tail_room(in))
        n = buf_tail_room(in);
    if (n > 0) {
        FUZZ_CHECK(buf_append(in, data + *pos, n) == 0);
        *pos += n;
    }
    return n;
}

/* Take everything in B into S (the other side "wrote" it). */
static inline void
fuzz_drain(struct buf *b, struct fuzz_str *s)
{
    fuzz_str_add(s, buf_rptr(b), buf_len(b));
    buf_consume(b, buf_len(b));
}

#endif
