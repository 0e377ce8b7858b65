/* Backend objects and their exact in-flight accounting. The balancer only
 * ever sees the lb_peer array; this module keeps it true. It owns no
 * sockets: the pool pointer belongs to the I/O layer. */
#include "weir/lb/backend.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weir/config/config.h"

struct backend_table *
backend_table_new(const struct cfg *cfg)
{
    struct backend_table *bt = calloc(1, sizeof(*bt));
    if (bt == NULL)
        return NULL;
    bt->n = cfg->nbackends;
    bt->backends = calloc(bt->n ? bt->n : 1, sizeof(*bt->backends));
    bt->peers = calloc(bt->n ? bt->n : 1, sizeof(*bt->peers));
    if (bt->backends == NULL || bt->peers == NULL)
        goto fail;
    for (size_t i = 0; i < bt->n; i++) {
        const struct cfg_backend *cb = &cfg->backends[i];
        struct backend *b = &bt->backends[i];
        b->name = strdup(cb->name);
        if (b->name == NULL)
            goto fail;
        snprintf(b->addr_text, sizeof(b->addr_text), "%s", cb->address.text);
        memcpy(&b->addr, &cb->address.sa, sizeof(b->addr));
        b->addrlen = cb->address.salen;
        b->index = i;
        b->peer = &bt->peers[i];
        b->peer->weight = cb->weight;
        b->peer->key = lb_hash(cb->name, strlen(cb->name));
        b->peer->eligible = true;
    }
    bt->lb = lb_new(lb_ops_for(cfg->algorithm), bt->peers, bt->n);
    if (bt->lb == NULL)
        goto fail;
    return bt;
fail:
    backend_table_free(bt);
    return NULL;
}

void
backend_table_free(struct backend_table *bt)
{
    if (bt == NULL)
        return;
    lb_free(bt->lb);
    for (size_t i = 0; bt->backends != NULL && i < bt->n; i++)
        free(bt->backends[i].name);
    free(bt->backends);
    free(bt->peers);
    free(bt);
}

struct backend *
backend_find(struct backend_table *bt, const char *name)
{
    for (size_t i = 0; i < bt->n; i++)
        if (strcmp(bt->backends[i].name, name) == 0)
            return &bt->backends[i];
    return NULL;
}

struct backend *
backend_pick(struct backend_table *bt, const uint8_t *tried, uint32_t client_hash)
{
    int i = lb_pick(bt->lb, bt->peers, bt->n, tried, client_hash);
    return i < 0 ? NULL : &bt->backends[i];
}

void
backend_inflight_inc(struct backend *b)
{
    b->peer->inflight++;
    b->requests_total++;
}

void
backend_inflight_dec(struct backend *b, enum backend_outcome outcome,
                     uint64_t rtt_us)
{
    assert(b->peer->inflight > 0);
    b->peer->inflight--;
    if (outcome == BACKEND_FAILED || outcome == BACKEND_TIMEOUT)
        b->failures_total++;
    if (outcome == BACKEND_OK) {
        uint64_t sample = rtt_us ? rtt_us : 1;
        if (sample > UINT32_MAX)
            sample = UINT32_MAX;
        /* EWMA with alpha 1/8, as TCP's SRTT. */
        uint64_t old = b->peer->rtt_us;
        b->peer->rtt_us = old == 0 ? (uint32_t)sample
                                   : (uint32_t)((old * 7 + sample) / 8);
    }
}
