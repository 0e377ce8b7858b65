/* The engine of one loop: listeners feed sessions; the proxy enforces
 * max_connections, pauses on descriptor exhaustion, and runs graceful
 * stop. Per-request work lives in session.c. */
#include "weir/proxy/proxy.h"

#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "weir/config/config.h"
#include "weir/lb/backend.h"
#include "weir/net/listener.h"
#include "weir/net/tlsctx.h"
#include "weir/net/upstream.h"
#include "weir/proxy/generation.h"
#include "weir/proxy/session.h"
#include "weir/util/defs.h"
#include "weir/util/log.h"

/* Idle upstream connections kept per backend, and for how long. */
#define PROXY_POOL_MAX_IDLE 256
#define PROXY_POOL_IDLE_SECONDS 30.0
/* Free session buffers kept per size between requests (each size is one
 * of a session's four). Responses finish in bursts as large as the number
 * of busy connections, and the next requests allocate in a burst after
 * them: 64 of each (about 6 MiB at the default max_header_bytes, memory
 * malloc would mostly keep anyway) covers 64 connections busy at once. */
#define PROXY_BUF_CACHE 64
/* Back-off before accepting again after EMFILE/ENFILE. */
#define PROXY_ACCEPT_RETRY_SECONDS 0.1
/* How often ticket keys are checked for rotation (tlsctx rotates them
 * hourly), and how close to expiry a certificate draws a warning. */
#define PROXY_TLS_TICK_SECONDS 60.0
#define PROXY_CERT_WARN_SECONDS (14 * 86400)

static void
pause_accepting(struct proxy *px)
{
    px->accept_paused = true;
    for (size_t i = 0; i < px->nlisteners; i++)
        listener_pause(&px->listeners[i]);
}

static void
resume_accepting(struct proxy *px)
{
    if (px->stopping)
        return;
    px->accept_paused = false;
    for (size_t i = 0; i < px->nlisteners; i++)
        listener_resume(&px->listeners[i]);
}

static bool
on_accept(struct listener *l, int fd, const struct sockaddr_storage *peer,
          socklen_t peerlen)
{
    struct proxy *px = l->owner;

    px->counters.connections_accepted++;
    if (px->nsessions >= px->cfg->limits.max_connections) {
        /* Over the limit: answer at once instead of letting clients pile
         * up unserved in the backlog. Plain clients get a 503 (best
         * effort: it fits any socket buffer); TLS ones only the close, as
         * a handshake costs what is short. */
        static const char over[] =
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
            "Content-Length: 20\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
            "503 too many conns\r\n";
        if (!l->tls)
            (void)send(fd, over, sizeof(over) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        close(fd);
        px->counters.connections_refused++;
        if (!px->at_limit)
            log_warnx("max_connections (%u) reached: refusing new connections",
                      px->cfg->limits.max_connections);
        px->at_limit = true;
        return true;
    }
    session_new(px, l, fd, peer, peerlen);
    return true;
}

static void
accept_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct proxy *px = container_of(w, struct proxy, accept_timer);
    (void)loop;
    (void)revents;
    if (px->nsessions < px->cfg->limits.max_connections)
        resume_accepting(px);
}

static void
on_accept_error(struct listener *l, int err)
{
    struct proxy *px = l->owner;
    log_warnx("listener %s: accept: %s: pausing", l->name, strerror(err));
    pause_accepting(px);
    ev_timer_set(&px->accept_timer, PROXY_ACCEPT_RETRY_SECONDS, 0.);
    ev_timer_start(px->loop, &px->accept_timer);
}

void
proxy_session_closed(struct proxy *px)
{
    if (px->at_limit && px->nsessions < px->cfg->limits.max_connections) {
        px->at_limit = false;
        log_info("below max_connections again: accepting");
    }
    if (px->accept_paused && !ev_is_active(&px->accept_timer) &&
        px->nsessions < px->cfg->limits.max_connections)
        resume_accepting(px);
    if (px->stopping && px->nsessions == 0 && px->on_drained != NULL)
        px->on_drained(px);
}

/* Certificates that expire within two weeks deserve a warning at start. */
static void
warn_expiry(const char *listener, const struct tlsctx *t)
{
    time_t now = time(NULL);
    for (size_t i = 0; i < tlsctx_cert_count(t); i++) {
        time_t end = tlsctx_cert_not_after(t, i);
        if (end - now < PROXY_CERT_WARN_SECONDS)
            log_warnx("listener %s: certificate %zu expires in %lld day(s)",
                      listener, i, (long long)((end - now) / 86400));
    }
}

struct tlsctx *
proxy_listener_tls(const struct proxy *px, size_t i)
{
    return px->gen->tls[i];
}

static void
tls_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct proxy *px = container_of(w, struct proxy, tls_timer);
    (void)loop;
    (void)revents;
    for (size_t i = 0; i < px->nlisteners; i++) {
        struct tlsctx *t = proxy_listener_tls(px, i);
        if (t != NULL && tlsctx_rotate_tickets(t, time(NULL)) == -1)
            log_warnx("listener %s: ticket key rotation failed",
                      px->listeners[i].name);
    }
}

/* Make L (a listening socket FD of configured listener I of GEN) accept
 * for PX. */
static void
setup_listener(struct proxy *px, struct listener *l, struct generation *gen,
               size_t i, int fd)
{
    const struct cfg_listener *cl = &gen->cfg->listeners[i];

    listener_adopt(l, px->loop, cl->name, fd);
    l->owner = px;
    l->tls = cl->tls != NULL;
    l->ssl_ctx = gen->tls[i] != NULL ? tlsctx_default(gen->tls[i]) : NULL;
    l->on_accept = on_accept;
    l->on_error = on_accept_error;
}

static int
open_socket(const struct cfg_listener *cl, char *err, size_t errlen)
{
    char why[256];
    struct listener tmp;

    if (listener_open(&tmp, NULL, cl->name, (const struct sockaddr *)&cl->bind.sa,
                      cl->bind.salen, why, sizeof(why)) == -1) {
        snprintf(err, errlen, "listener %s: bind %s: %s", cl->name,
                 cl->bind.text, why);
        return -1;
    }
    return tmp.fd;
}

static void
warn_tls_expiry(const struct generation *gen)
{
    for (size_t i = 0; i < gen->cfg->nlisteners; i++)
        if (gen->tls[i] != NULL)
            warn_expiry(gen->cfg->listeners[i].name, gen->tls[i]);
}

static int
open_listeners(struct proxy *px, char *err, size_t errlen)
{
    const struct cfg *cfg = px->cfg;

    px->listeners = calloc(cfg->nlisteners ? cfg->nlisteners : 1,
                           sizeof(*px->listeners));
    if (px->listeners == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    warn_tls_expiry(px->gen);
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        const struct cfg_listener *cl = &cfg->listeners[i];
        int fd = open_socket(cl, err, errlen);
        if (fd == -1)
            return -1;
        setup_listener(px, &px->listeners[i], px->gen, i, fd);
        px->nlisteners++;
        log_info("listener %s: listening on %s", cl->name, cl->bind.text);
    }
    return 0;
}

/* Load the affinity keys of CFG into KEYS and every backend's keyed ids
 * into IDS (BT's order). */
static int
load_affinity(const struct cfg *cfg, const struct backend_table *bt,
              struct affinity_keys *keys, struct affinity_ids *ids,
              char *err, size_t errlen)
{
    const struct cfg_affinity *a = &cfg->affinity;
    char why[256];

    if (!a->enabled)
        return 0;
    if (affinity_key_load(a->secret_file, &keys->current, why,
                          sizeof(why)) == -1 ||
        (a->previous_secret_file != NULL &&
         affinity_key_load(a->previous_secret_file, &keys->previous,
                           why, sizeof(why)) == -1)) {
        snprintf(err, errlen, "session_affinity: %s", why);
        affinity_keys_fini(keys);
        return -1;
    }
    for (size_t i = 0; i < bt->n; i++) {
        if (affinity_backend_ids(keys, bt->backends[i]->name, &ids[i]) == -1) {
            snprintf(err, errlen, "session_affinity: cannot derive ids");
            affinity_keys_fini(keys);
            return -1;
        }
    }
    return 0;
}

static void
free_pool(struct backend *b)
{
    pool_fini(b->pool);
    free(b->pool);
    b->pool = NULL;
}

/* Give every backend of BT that has none its pool of idle connections. */
static int
attach_pools(struct proxy *px, struct backend_table *bt)
{
    for (size_t i = 0; i < bt->n; i++) {
        struct backend *b = bt->backends[i];
        if (b->pool != NULL)
            continue;
        b->pool = malloc(sizeof(*b->pool));
        if (b->pool == NULL)
            return -1;
        pool_init(b->pool, px->loop, (struct sockaddr *)&b->addr, b->addrlen,
                  PROXY_POOL_MAX_IDLE, PROXY_POOL_IDLE_SECONDS);
        b->on_free = free_pool;
    }
    return 0;
}

int
proxy_init(struct proxy *px, struct ev_loop *loop, struct generation *gen,
           struct backend_table *bt, char *err, size_t errlen)
{
    unsigned char rnd[8];

    memset(px, 0, sizeof(*px));
    px->loop = loop;
    px->gen = gen;
    px->cfg = gen->cfg;
    px->bt = bt;
    buf_cache_init(&px->bufs, PROXY_BUF_CACHE);
    ev_timer_init(&px->accept_timer, accept_timer_cb, 0., 0.);
    ev_timer_init(&px->tls_timer, tls_timer_cb, PROXY_TLS_TICK_SECONDS,
                  PROXY_TLS_TICK_SECONDS);
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        snprintf(err, errlen, "no randomness for request ids");
        return -1;
    }
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(px->boot_id + 2 * i, 3, "%02x", rnd[i]);
    if (attach_pools(px, bt) == -1) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    struct affinity_ids *ids = calloc(bt->n ? bt->n : 1, sizeof(*ids));
    if (ids == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = load_affinity(px->cfg, bt, &px->aff_keys, ids, err, errlen);
    for (size_t i = 0; rc == 0 && i < bt->n; i++)
        bt->backends[i]->aff_ids = ids[i];
    free(ids);
    if (rc == -1)
        return -1;
    px->affinity = px->cfg->affinity.enabled;
    return open_listeners(px, err, errlen);
}

/* ---- Reload ---- */

struct proxy_reload {
    struct generation *gen;
    struct backend_table *bt;
    struct affinity_keys aff_keys;
    struct affinity_ids *aff_ids;  /* BT's order */
    int *fds;                      /* per GEN listener: a new socket, or -1 */
    ssize_t *kept;                 /* per GEN listener: the old one kept, or -1 */
    struct listener *listeners;    /* the new array, filled at commit */
};

static bool
same_bind(const struct cfg_listener *a, const struct cfg_listener *b)
{
    return a->bind.salen == b->bind.salen &&
           memcmp(&a->bind.sa, &b->bind.sa, a->bind.salen) == 0;
}

static void
reload_free(struct proxy_reload *r)
{
    for (size_t i = 0; r->fds != NULL && i < r->gen->cfg->nlisteners; i++)
        if (r->fds[i] != -1)
            close(r->fds[i]);
    affinity_keys_fini(&r->aff_keys);
    free(r->aff_ids);
    free(r->fds);
    free(r->kept);
    free(r->listeners);
    free(r);
}

int
proxy_reload_prepare(struct proxy *px, struct generation *gen,
                     struct backend_table *bt, struct proxy_reload **out,
                     char *err, size_t errlen)
{
    const struct cfg *cfg = gen->cfg;
    size_t n = cfg->nlisteners ? cfg->nlisteners : 1;
    struct proxy_reload *r = calloc(1, sizeof(*r));

    if (r == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    r->gen = gen;
    r->bt = bt;
    r->fds = malloc(n * sizeof(*r->fds));
    r->kept = malloc(n * sizeof(*r->kept));
    r->aff_ids = calloc(bt->n ? bt->n : 1, sizeof(*r->aff_ids));
    r->listeners = calloc(n, sizeof(*r->listeners));
    if (r->fds == NULL || r->kept == NULL || r->aff_ids == NULL ||
        r->listeners == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < cfg->nlisteners; i++)
        r->fds[i] = -1;
    if (attach_pools(px, bt) == -1) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (load_affinity(cfg, bt, &r->aff_keys, r->aff_ids, err, errlen) == -1)
        goto fail;
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        const struct cfg_listener *cl = &cfg->listeners[i];
        r->kept[i] = -1;
        for (size_t j = 0; j < px->nlisteners; j++) {
            if (px->listeners[j].fd != -1 && same_bind(cl, &px->cfg->listeners[j])) {
                r->kept[i] = (ssize_t)j;
                break;
            }
        }
        if (r->kept[i] >= 0) {
            size_t j = (size_t)r->kept[i];
            struct tlsctx *old = px->gen->tls[j];
            if (gen->tls[i] != NULL && old != NULL)
                tlsctx_inherit_tickets(gen->tls[i], old);
            continue;
        }
        if ((r->fds[i] = open_socket(cl, err, errlen)) == -1)
            goto fail;
    }
    *out = r;
    return 0;
fail:
    reload_free(r);
    return -1;
}

void
proxy_reload_abort(struct proxy *px, struct proxy_reload *r)
{
    (void)px;
    reload_free(r);
}

void
proxy_reload_commit(struct proxy *px, struct proxy_reload *r,
                    struct proxy_reload_summary *sum)
{
    const struct cfg *cfg = r->gen->cfg;
    struct listener *ls = r->listeners;
    bool accepting = !px->stopping && !px->accept_paused;

    memset(sum, 0, sizeof(*sum));
    r->listeners = NULL;
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        const struct cfg_listener *cl = &cfg->listeners[i];
        int fd = r->fds[i];
        if (r->kept[i] >= 0) {
            /* The same socket under the new settings: its backlog keeps
             * every connect that arrives meanwhile. */
            struct listener *old = &px->listeners[r->kept[i]];
            fd = old->fd;
            listener_pause(old);
            old->fd = -1;
        } else {
            r->fds[i] = -1;
            sum->listeners_added++;
            log_info("listener %s: listening on %s", cl->name, cl->bind.text);
        }
        setup_listener(px, &ls[i], r->gen, i, fd);
        if (accepting)
            listener_resume(&ls[i]);
    }
    for (size_t j = 0; j < px->nlisteners; j++) {
        if (px->listeners[j].fd == -1)
            continue;
        log_info("listener %s: removed: closing %s", px->listeners[j].name,
                 px->cfg->listeners[j].bind.text);
        listener_close(&px->listeners[j]);
        sum->listeners_removed++;
    }
    free(px->listeners);
    px->listeners = ls;
    px->nlisteners = cfg->nlisteners;

    affinity_keys_fini(&px->aff_keys);
    px->aff_keys = r->aff_keys;
    memset(&r->aff_keys, 0, sizeof(r->aff_keys));
    for (size_t i = 0; i < r->bt->n; i++)
        r->bt->backends[i]->aff_ids = r->aff_ids[i];
    px->affinity = cfg->affinity.enabled;

    generation_unref(px->gen);
    px->gen = r->gen;
    px->cfg = cfg;
    px->bt = r->bt;
    warn_tls_expiry(px->gen);
    reload_free(r);
}

void
proxy_start(struct proxy *px)
{
    resume_accepting(px);
    ev_timer_start(px->loop, &px->tls_timer);
}

void
proxy_stop(struct proxy *px)
{
    if (px->stopping)
        return;
    px->stopping = true;
    ev_timer_stop(px->loop, &px->accept_timer);
    for (size_t i = 0; i < px->nlisteners; i++)
        listener_close(&px->listeners[i]);
    for (size_t i = 0; i < px->bt->n; i++)
        pool_close_idle(px->bt->backends[i]->pool);
    log_info("stopping: %zu connection(s) open", px->nsessions);
    struct session *s = px->sessions;
    while (s != NULL) {
        struct session *next = session_next(s);
        session_stop(s);
        s = next;
    }
    if (px->nsessions == 0 && px->on_drained != NULL)
        px->on_drained(px);
}

void
proxy_fini(struct proxy *px)
{
    px->stopping = true;
    px->on_drained = NULL;
    while (px->sessions != NULL)
        session_kill(px->sessions, "shutdown");
    for (size_t i = 0; i < px->nlisteners; i++)
        listener_close(&px->listeners[i]);
    free(px->listeners);
    px->listeners = NULL;
    px->nlisteners = 0;
    ev_timer_stop(px->loop, &px->tls_timer);
    /* The pools go with their backends (backend_table_free). */
    for (size_t i = 0; px->bt != NULL && i < px->bt->n; i++)
        if (px->bt->backends[i]->pool != NULL)
            pool_close_idle(px->bt->backends[i]->pool);
    affinity_keys_fini(&px->aff_keys);
    buf_cache_fini(&px->bufs);
    ev_timer_stop(px->loop, &px->accept_timer);
    /* After the sessions: their SSL objects borrow its TLS contexts. */
    generation_unref(px->gen);
    px->gen = NULL;
    px->cfg = NULL;
}
