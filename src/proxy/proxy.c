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
#include "weir/proxy/session.h"
#include "weir/util/defs.h"
#include "weir/util/log.h"

/* Idle upstream connections kept per backend, and for how long. */
#define PROXY_POOL_MAX_IDLE 256
#define PROXY_POOL_IDLE_SECONDS 30.0
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

static void
tls_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct proxy *px = container_of(w, struct proxy, tls_timer);
    (void)loop;
    (void)revents;
    for (size_t i = 0; i < px->nlisteners; i++)
        if (px->tls[i] != NULL && tlsctx_rotate_tickets(px->tls[i], time(NULL)) == -1)
            log_warnx("listener %s: ticket key rotation failed",
                      px->listeners[i].name);
}

static int
open_listeners(struct proxy *px, char *err, size_t errlen)
{
    const struct cfg *cfg = px->cfg;
    char why[256];

    px->listeners = calloc(cfg->nlisteners ? cfg->nlisteners : 1,
                           sizeof(*px->listeners));
    px->tls = calloc(cfg->nlisteners ? cfg->nlisteners : 1, sizeof(*px->tls));
    if (px->listeners == NULL || px->tls == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        const struct cfg_listener *cl = &cfg->listeners[i];
        struct listener *l = &px->listeners[i];
        if (cl->tls != NULL) {
            px->tls[i] = tlsctx_new(cl->tls, time(NULL), why, sizeof(why));
            if (px->tls[i] == NULL) {
                snprintf(err, errlen, "listener %s: %s", cl->name, why);
                return -1;
            }
            warn_expiry(cl->name, px->tls[i]);
        }
        if (listener_open(l, px->loop, cl->name,
                          (const struct sockaddr *)&cl->bind.sa, cl->bind.salen,
                          why, sizeof(why)) == -1) {
            snprintf(err, errlen, "listener %s: bind %s: %s", cl->name,
                     cl->bind.text, why);
            return -1;
        }
        px->nlisteners++;
        l->owner = px;
        l->tls = cl->tls != NULL;
        l->ssl_ctx = px->tls[i] != NULL ? tlsctx_default(px->tls[i]) : NULL;
        l->on_accept = on_accept;
        l->on_error = on_accept_error;
        log_info("listener %s: listening on %s", cl->name, cl->bind.text);
    }
    return 0;
}

/* Load the affinity keys and every backend's keyed id. */
static int
load_affinity(struct proxy *px, char *err, size_t errlen)
{
    const struct cfg_affinity *a = &px->cfg->affinity;
    char why[256];

    px->affinity = a->enabled;
    if (!a->enabled)
        return 0;
    if (affinity_key_load(a->secret_file, &px->aff_keys.current, why,
                          sizeof(why)) == -1 ||
        (a->previous_secret_file != NULL &&
         affinity_key_load(a->previous_secret_file, &px->aff_keys.previous,
                           why, sizeof(why)) == -1)) {
        snprintf(err, errlen, "session_affinity: %s", why);
        return -1;
    }
    px->aff_ids = calloc(px->bt->n ? px->bt->n : 1, sizeof(*px->aff_ids));
    if (px->aff_ids == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < px->bt->n; i++) {
        if (affinity_backend_ids(&px->aff_keys, px->bt->backends[i].name,
                                 &px->aff_ids[i]) == -1) {
            snprintf(err, errlen, "session_affinity: cannot derive ids");
            return -1;
        }
    }
    return 0;
}

int
proxy_init(struct proxy *px, struct ev_loop *loop, const struct cfg *cfg,
           struct backend_table *bt, char *err, size_t errlen)
{
    unsigned char rnd[8];

    memset(px, 0, sizeof(*px));
    px->loop = loop;
    px->cfg = cfg;
    px->bt = bt;
    ev_timer_init(&px->accept_timer, accept_timer_cb, 0., 0.);
    ev_timer_init(&px->tls_timer, tls_timer_cb, PROXY_TLS_TICK_SECONDS,
                  PROXY_TLS_TICK_SECONDS);
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        snprintf(err, errlen, "no randomness for request ids");
        return -1;
    }
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(px->boot_id + 2 * i, 3, "%02x", rnd[i]);
    px->pools = calloc(bt->n ? bt->n : 1, sizeof(*px->pools));
    if (px->pools == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < bt->n; i++) {
        struct backend *b = &bt->backends[i];
        pool_init(&px->pools[i], loop, (struct sockaddr *)&b->addr, b->addrlen,
                  PROXY_POOL_MAX_IDLE, PROXY_POOL_IDLE_SECONDS);
        b->pool = &px->pools[i];
    }
    if (load_affinity(px, err, errlen) == -1)
        return -1;
    return open_listeners(px, err, errlen);
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
        pool_close_idle(&px->pools[i]);
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
    /* After the sessions: their SSL objects borrow these contexts. */
    for (size_t i = 0; px->tls != NULL && px->cfg != NULL && i < px->cfg->nlisteners; i++)
        tlsctx_free(px->tls[i]);
    free(px->tls);
    px->tls = NULL;
    free(px->listeners);
    px->listeners = NULL;
    px->nlisteners = 0;
    ev_timer_stop(px->loop, &px->tls_timer);
    for (size_t i = 0; px->pools != NULL && i < px->bt->n; i++)
        pool_fini(&px->pools[i]);
    free(px->pools);
    px->pools = NULL;
    affinity_keys_fini(&px->aff_keys);
    free(px->aff_ids);
    px->aff_ids = NULL;
    ev_timer_stop(px->loop, &px->accept_timer);
}
