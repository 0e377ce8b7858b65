/* One applied configuration: the parsed file and what was built from it
 * that sessions read while a request runs (timeouts, limits, affinity
 * settings, the TLS contexts). Reference counted: the proxy holds the
 * current one, every session the one its request started under, so a
 * reload never changes a request under way and an old generation is freed
 * when its last request ends. */
#ifndef WEIR_GENERATION_H
#define WEIR_GENERATION_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct cfg;
struct tlsctx;

struct generation {
    unsigned refs;
    uint64_t number;             /* 1 at start, +1 per applied reload */
    struct cfg *cfg;             /* owned */
    struct tlsctx **tls;         /* per cfg listener; NULL for plain ones */
};

/* A generation for CFG: reads every listener's certificates and keys now.
 * Takes CFG only on success; NULL with a message in ERR otherwise. */
struct generation *generation_new(struct cfg *cfg, uint64_t number, time_t now,
                                  char *err, size_t errlen);
void generation_ref(struct generation *g);
/* Frees G with its configuration at the last reference. NULL is a no-op. */
void generation_unref(struct generation *g);

#endif
