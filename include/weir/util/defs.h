/* Macros shared by every module: no functions, no state. */
#ifndef WEIR_DEFS_H
#define WEIR_DEFS_H

#include <stddef.h>

#define container_of(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))
#define nitems(a) (sizeof(a) / sizeof((a)[0]))
#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif
#ifndef MAX
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#endif
#define WEIR_UNUSED __attribute__((unused))
#define WEIR_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Result of an I/O or state-step function. */
enum io_rc {
    IO_OK,    /* progress made (or done) */
    IO_AGAIN, /* would block: wait for the watcher */
    IO_EOF,   /* orderly end of stream */
    IO_ERR,   /* error: errno says which */
};

#endif
