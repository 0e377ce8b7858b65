/* Generations: a configuration and its TLS contexts, freed together when
 * the last session using them is gone. */
#include "weir/proxy/generation.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

#include "weir/config/config.h"
#include "weir/net/tlsctx.h"

static void
generation_free(struct generation *g)
{
    for (size_t i = 0; g->tls != NULL && i < g->cfg->nlisteners; i++)
        tlsctx_free(g->tls[i]);
    free(g->tls);
    cfg_free(g->cfg);
    free(g);
}

struct generation *
generation_new(struct cfg *cfg, uint64_t number, time_t now, char *err,
               size_t errlen)
{
    char why[256];
    struct generation *g = calloc(1, sizeof(*g));

    if (g == NULL || (g->tls = calloc(cfg->nlisteners ? cfg->nlisteners : 1,
                                      sizeof(*g->tls))) == NULL) {
        free(g);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    g->refs = 1;
    g->number = number;
    g->cfg = cfg;
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        const struct cfg_listener *cl = &cfg->listeners[i];
        if (cl->tls == NULL)
            continue;
        g->tls[i] = tlsctx_new(cl->tls, now, why, sizeof(why));
        if (g->tls[i] == NULL) {
            snprintf(err, errlen, "listener %s: %s", cl->name, why);
            g->cfg = NULL; /* the caller keeps CFG */
            for (size_t j = 0; j < i; j++)
                tlsctx_free(g->tls[j]);
            free(g->tls);
            free(g);
            return NULL;
        }
    }
    return g;
}

void
generation_ref(struct generation *g)
{
    g->refs++;
}

void
generation_unref(struct generation *g)
{
    if (g == NULL)
        return;
    assert(g->refs > 0);
    if (--g->refs == 0)
        generation_free(g);
}
