/* The admin API server: one request per connection, read whole (head
 * checked by http_head, body bounded), answered with JSON, then closed.
 * Routes: GET /health, GET /status, POST /backends/NAME/drain|enable,
 * PUT /backends/NAME/weight, POST /reload. Owns its listeners and
 * connections; the state it reports and changes belongs to others. */
#include "weir/admin/admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weir/admin/admin_auth.h"
#include "weir/admin/metrics.h"
#include "weir/admin/status_page.h"
#include "weir/config/config.h"
#include "weir/health/health_fsm.h"
#include "weir/http/http_head.h"
#include "weir/http/http_reply.h"
#include "weir/lb/backend.h"
#include "weir/net/sock.h"
#include "weir/net/upstream.h"
#include "weir/proxy/drain.h"
#include "weir/proxy/proxy.h"
#include "weir/util/buf.h"
#include "weir/util/defs.h"
#include "weir/util/json.h"
#include "weir/util/log.h"

#define ADMIN_HEAD_MAX 8192
#define ADMIN_BODY_MAX 65536
#define ADMIN_TIMEOUT_SECONDS 10.0

struct admin_conn {
    struct admin *ad;
    struct admin_conn *next, *prev;
    int fd;
    bool tcp;                  /* needs an API key */
    ev_io io;
    ev_timer timer;
    struct buf in;
    struct buf out;            /* sized when the answer is known */
    bool writing;
};

/* An answer being built: status and JSON body. */
struct reply {
    int status;
    struct buf body;
    struct json_writer w;
    const char *allow;         /* for 405 */
    const char *content_type;  /* NULL: application/json */
};

static void
conn_close(struct admin_conn *c)
{
    struct admin *ad = c->ad;
    ev_io_stop(ad->loop, &c->io);
    ev_timer_stop(ad->loop, &c->timer);
    close(c->fd);
    buf_fini(&c->in);
    buf_fini(&c->out);
    if (c->prev)
        c->prev->next = c->next;
    else
        ad->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
}

static int
reply_init(struct reply *r, size_t cap)
{
    memset(r, 0, sizeof(*r));
    if (buf_init(&r->body, cap) == -1)
        return -1;
    json_writer_init(&r->w, &r->body);
    return 0;
}

static void
reply_error(struct reply *r, int status, const char *message)
{
    r->status = status;
    buf_reset(&r->body);
    json_writer_init(&r->w, &r->body);
    json_write_object_begin(&r->w);
    json_write_key(&r->w, "error");
    json_write_string(&r->w, message);
    json_write_object_end(&r->w);
}

static void
write_backend(struct json_writer *w, const struct backend *b)
{
    json_write_object_begin(w);
    json_write_key(w, "name");
    json_write_string(w, b->name);
    json_write_key(w, "address");
    json_write_string(w, b->addr_text);
    json_write_key(w, "state");
    json_write_string(w, backend_admin_name(b));
    json_write_key(w, "health");
    json_write_string(w, health_state_name(b->health.state));
    json_write_key(w, "health_reason");
    json_write_string(w, b->health.reason);
    json_write_key(w, "inflight");
    json_write_uint(w, b->peer->inflight);
    json_write_key(w, "requests_total");
    json_write_uint(w, b->requests_total);
    json_write_key(w, "failures_total");
    json_write_uint(w, b->failures_total);
    json_write_key(w, "weight");
    json_write_uint(w, backend_base_weight(b));
    json_write_key(w, "effective_weight");
    json_write_uint(w, b->peer->weight);
    json_write_key(w, "eligible");
    json_write_bool(w, b->peer->eligible);
    json_write_key(w, "idle_connections");
    json_write_uint(w, b->pool != NULL ? b->pool->nidle : 0);
    json_write_object_end(w);
}

static void
route_status(struct admin *ad, struct reply *r)
{
    struct backend_table *bt = ad->px->bt;
    struct json_writer *w = &r->w;

    r->status = 200;
    json_write_object_begin(w);
    json_write_key(w, "generation");
    json_write_uint(w, ad->generation);
    json_write_key(w, "state");
    json_write_string(w, proxy_leaving(ad->px) ? "stopping" : "serving");
    json_write_key(w, "uptime_s");
    json_write_uint(w, (uint64_t)(ev_now(ad->loop) - ad->started));
    json_write_key(w, "connections");
    json_write_uint(w, ad->px->nsessions);
    json_write_key(w, "algorithm");
    json_write_string(w, cfg_algorithm_name(ad->cfg->algorithm));
    json_write_key(w, "backends");
    json_write_array_begin(w);
    for (size_t i = 0; i < bt->n; i++)
        write_backend(w, bt->backends[i]);
    json_write_array_end(w);
    json_write_object_end(w);
}

static void
route_health(struct admin *ad, struct reply *r)
{
    r->status = proxy_leaving(ad->px) ? 503 : 200;
    json_write_object_begin(&r->w);
    json_write_key(&r->w, "status");
    json_write_string(&r->w, proxy_leaving(ad->px) ? "stopping" : "serving");
    json_write_object_end(&r->w);
}

/* {"weight": N} with 0 <= N <= 256. */
static int
parse_weight(const char *body, size_t len, unsigned *weight)
{
    char err[128];
    int64_t n;
    struct json_doc *doc = json_parse(body, len, 16, err, sizeof(err));
    if (doc == NULL)
        return -1;
    int rc = json_int(json_get(json_root(doc), "weight"), &n);
    json_doc_free(doc);
    if (rc == -1 || n < 0 || n > 256)
        return -1;
    *weight = (unsigned)n;
    return 0;
}

static void
route_backend(struct admin *ad, struct reply *r, const char *method,
              const char *name, const char *action, const char *body,
              size_t body_len)
{
    struct backend *b = backend_find(ad->px->bt, name);
    uint64_t now = (uint64_t)(ev_now(ad->loop) * 1000.0);
    char msg[160];

    if (strcmp(action, "drain") != 0 && strcmp(action, "enable") != 0 &&
        strcmp(action, "weight") != 0) {
        reply_error(r, 404, "no such endpoint");
        return;
    }
    bool weight = strcmp(action, "weight") == 0;
    bool allowed = weight ? strcmp(method, "PUT") == 0 || strcmp(method, "DELETE") == 0
                          : strcmp(method, "POST") == 0;
    if (!allowed) {
        r->allow = weight ? "PUT, DELETE" : "POST";
        reply_error(r, 405, "method not allowed");
        return;
    }
    if (b == NULL) {
        snprintf(msg, sizeof(msg), "unknown backend \"%.100s\"", name);
        reply_error(r, 404, msg);
        return;
    }
    if (strcmp(action, "drain") == 0) {
        drainer_drain(ad->drainer, b);
    } else if (strcmp(action, "enable") == 0) {
        drainer_enable(ad->drainer, b);
    } else if (strcmp(method, "DELETE") == 0) {
        backend_clear_weight(b, now);
    } else {
        unsigned w;
        if (parse_weight(body, body_len, &w) == -1) {
            reply_error(r, 400, "body must be {\"weight\": N} with N in 0..256");
            return;
        }
        backend_set_weight(b, w, now);
    }
    r->status = 200;
    write_backend(&r->w, b);
}

static void
route_reload(struct admin *ad, struct reply *r)
{
    uint64_t generation;

    if (ad->hooks.reload == NULL) {
        reply_error(r, 501, "reload is not built yet");
        return;
    }
    buf_reset(&r->body);
    /* The hook counts the outcome (SIGHUP reloads count too). */
    if (ad->hooks.reload(ad->hooks.ctx, &generation, &r->body) == -1) {
        r->status = 422;
        return; /* the hook wrote {"errors": [...]} */
    }
    r->status = 200;
    json_writer_init(&r->w, &r->body);
    json_write_object_begin(&r->w);
    json_write_key(&r->w, "generation");
    json_write_uint(&r->w, generation);
    json_write_object_end(&r->w);
}

static void
route_metrics(struct admin *ad, struct reply *r)
{
    size_t cap = metrics_size_hint(ad);

    if (r->body.cap < cap) {
        buf_fini(&r->body);
        if (buf_init(&r->body, cap) == -1) {
            r->status = 500;
            return;
        }
    }
    buf_reset(&r->body);
    if (metrics_render(&r->body, ad) == -1) {
        buf_reset(&r->body);
        json_writer_init(&r->w, &r->body);
        reply_error(r, 500, "metrics do not fit");
        return;
    }
    r->status = 200;
    r->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

/* The status page: static HTML that polls /status itself. */
static void
route_page(struct reply *r)
{
    buf_fini(&r->body);
    if (buf_init(&r->body, status_page_len + 1) == -1 ||
        buf_append(&r->body, status_page_html, status_page_len) == -1) {
        r->status = 500;
        return;
    }
    r->status = 200;
    r->content_type = "text/html; charset=utf-8";
}

/* Dispatch METHOD PATH (query string removed) into R. */
static void
route(struct admin *ad, struct reply *r, const char *method, const char *path,
      const char *body, size_t body_len)
{
    char name[128], action[32];
    bool get = strcmp(method, "GET") == 0;

    if (strcmp(path, "/") == 0) {
        if (!get) {
            r->allow = "GET";
            reply_error(r, 405, "method not allowed");
            return;
        }
        route_page(r);
        return;
    }
    if (strcmp(path, "/health") == 0 || strcmp(path, "/status") == 0 ||
        strcmp(path, "/reload") == 0 || strcmp(path, "/metrics") == 0) {
        const char *want = strcmp(path, "/reload") == 0 ? "POST" : "GET";
        if (strcmp(method, want) != 0) {
            r->allow = want;
            reply_error(r, 405, "method not allowed");
        } else if (strcmp(path, "/health") == 0) {
            route_health(ad, r);
        } else if (strcmp(path, "/status") == 0) {
            route_status(ad, r);
        } else if (strcmp(path, "/reload") == 0) {
            route_reload(ad, r);
        } else {
            route_metrics(ad, r);
        }
        return;
    }
    if (sscanf(path, "/backends/%127[^/]/%31s", name, action) == 2) {
        route_backend(ad, r, method, name, action, body, body_len);
        return;
    }
    reply_error(r, 404, "no such endpoint");
}

/* Serialise R as the HTTP response into the connection's out buffer. */
static int
queue_reply(struct admin_conn *c, struct reply *r)
{
    if (r->content_type == NULL && json_write_finish(&r->w) == -1 &&
        r->status != 422) {
        reply_error(r, 500, "response too large");
        if (json_write_finish(&r->w) == -1)
            return -1;
    }
    size_t body_len = buf_len(&r->body);
    if (buf_init(&c->out, body_len + 512) == -1)
        return -1;
    if (buf_printf(&c->out,
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                   "Content-Length: %zu\r\n%s%s%sCache-Control: no-store\r\n"
                   "Connection: close\r\n\r\n",
                   r->status, http_reply_reason(r->status),
                   r->content_type ? r->content_type : "application/json",
                   body_len + (r->content_type ? 0 : 1),
                   r->allow ? "Allow: " : "", r->allow ? r->allow : "",
                   r->allow ? "\r\n" : "") == -1 ||
        buf_append(&c->out, buf_rptr(&r->body), body_len) == -1 ||
        (r->content_type == NULL && buf_append(&c->out, "\n", 1) == -1))
        return -1;
    return 0;
}

/* The size of a status answer: generous per backend, fixed otherwise. */
static size_t
reply_capacity(const struct admin *ad)
{
    return 1024 + ad->px->bt->n * 640;
}

static bool
method_known(const struct http_head *h, char *method, size_t len)
{
    if (h->method.len >= len)
        return false;
    memcpy(method, h->method.p, h->method.len);
    method[h->method.len] = '\0';
    return true;
}

/* The whole request is in c->in: handle it. */
static int
handle(struct admin_conn *c, const struct http_head *h, const char *body,
       size_t body_len)
{
    struct admin *ad = c->ad;
    struct reply r;
    char method[16], path[256];

    if (reply_init(&r, reply_capacity(ad)) == -1)
        return -1;
    size_t plen = 0;
    while (plen < h->target.len && h->target.p[plen] != '?')
        plen++;
    if (!method_known(h, method, sizeof(method)) || plen >= sizeof(path)) {
        reply_error(&r, 400, "bad request");
        goto out;
    }
    memcpy(path, h->target.p, plen);
    path[plen] = '\0';
    if (c->tcp) {
        const struct http_header *key = http_head_get(h, "x-api-key");
        enum admin_auth_result a = admin_auth_check(
            ad->keys, method, path, plen, key ? key->value.p : NULL,
            key ? key->value.len : 0);
        if (a == ADMIN_AUTH_UNAUTHORIZED) {
            reply_error(&r, 401, "missing or unknown X-API-Key");
            goto out;
        }
        if (a == ADMIN_AUTH_FORBIDDEN) {
            reply_error(&r, 403, "this key's role may not do that");
            goto out;
        }
    }
    route(ad, &r, method, path, body, body_len);
    log_debug("admin: %s %s -> %d", method, path, r.status);
out:;
    int rc = queue_reply(c, &r);
    buf_fini(&r.body);
    return rc;
}

/* Try to complete and answer the request in c->in. 1 when answered,
 * 0 when more bytes are needed, -1 on failure. */
static int
try_request(struct admin_conn *c)
{
    struct http_head *h;
    size_t end = http_head_find_end(buf_rptr(&c->in), buf_len(&c->in), 0);
    int rc;

    if (end == 0)
        return buf_len(&c->in) >= ADMIN_HEAD_MAX ? -1 : 0;
    h = malloc(sizeof(*h));
    if (h == NULL)
        return -1;
    if (http_head_parse_request(h, buf_rptr(&c->in), end) != 0 ||
        (h->flags & HTTP_HEAD_F_CHUNKED) ||
        ((h->flags & HTTP_HEAD_F_LENGTH) && h->content_length > ADMIN_BODY_MAX)) {
        free(h);
        return -1;
    }
    size_t body_len = (h->flags & HTTP_HEAD_F_LENGTH) ? h->content_length : 0;
    if (buf_len(&c->in) < end + body_len) {
        free(h);
        return 0;
    }
    rc = handle(c, h, buf_rptr(&c->in) + end, body_len);
    free(h);
    return rc == 0 ? 1 : -1;
}

static void
conn_io(struct admin_conn *c)
{
    struct admin *ad = c->ad;

    if (!c->writing) {
        buf_compact(&c->in);
        ssize_t n = read(c->fd, buf_wptr(&c->in), buf_tail_room(&c->in));
        if (n == -1 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            conn_close(c);
            return;
        }
        c->in.wpos += (size_t)n;
        int rc = try_request(c);
        if (rc == 0)
            return;
        if (rc == -1) {
            /* Malformed or oversized: a plain 400 and close. */
            if (buf_init(&c->out, 256) == -1 ||
                http_reply_error(&c->out, 400, NULL) == -1) {
                conn_close(c);
                return;
            }
        }
        c->writing = true;
        ev_io_stop(ad->loop, &c->io);
        ev_io_set(&c->io, c->fd, EV_WRITE);
        ev_io_start(ad->loop, &c->io);
    }
    ssize_t n = send(c->fd, buf_rptr(&c->out), buf_len(&c->out), MSG_NOSIGNAL);
    if (n == -1 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        conn_close(c);
        return;
    }
    buf_consume(&c->out, (size_t)n);
    if (buf_len(&c->out) == 0)
        conn_close(c);
}

static void
conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    conn_io(container_of(w, struct admin_conn, io));
}

static void
conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    conn_close(container_of(w, struct admin_conn, timer));
}

static bool
on_accept(struct listener *l, int fd, const struct sockaddr_storage *peer,
          socklen_t peerlen)
{
    struct admin *ad = l->owner;
    struct admin_conn *c = calloc(1, sizeof(*c));
    (void)peer;
    (void)peerlen;

    if (c == NULL || buf_init(&c->in, ADMIN_HEAD_MAX + ADMIN_BODY_MAX) == -1) {
        free(c);
        close(fd);
        return true;
    }
    c->ad = ad;
    c->fd = fd;
    c->tcp = l == &ad->tcp_l;
    ev_io_init(&c->io, conn_io_cb, fd, EV_READ);
    ev_timer_init(&c->timer, conn_timer_cb, ADMIN_TIMEOUT_SECONDS, 0.);
    ev_io_start(ad->loop, &c->io);
    ev_timer_start(ad->loop, &c->timer);
    c->next = ad->conns;
    if (ad->conns)
        ad->conns->prev = c;
    ad->conns = c;
    return true;
}

static void
on_accept_error(struct listener *l, int err)
{
    log_warnx("admin %s: accept: %s", l->name, strerror(err));
}

static void
setup_listener(struct admin *ad, struct listener *l)
{
    l->owner = ad;
    l->on_accept = on_accept;
    l->on_error = on_accept_error;
}

int
admin_init(struct admin *ad, struct ev_loop *loop, const struct cfg *cfg,
           struct proxy *px, struct drainer *drainer,
           const struct admin_hooks *hooks, char *err, size_t errlen)
{
    char why[256];

    memset(ad, 0, sizeof(*ad));
    ad->loop = loop;
    ad->cfg = cfg;
    ad->px = px;
    ad->drainer = drainer;
    ad->hooks = *hooks;
    ad->generation = 1;
    ad->started = ev_now(loop);
    ad->unix_l.fd = ad->tcp_l.fd = -1;
    if (cfg->admin.socket != NULL && cfg->admin.socket[0] != '\0') {
        int fd = sock_listen_unix(cfg->admin.socket, 64, why, sizeof(why));
        if (fd == -1) {
            snprintf(err, errlen, "admin socket: %s", why);
            return -1;
        }
        listener_adopt(&ad->unix_l, loop, "admin-socket", fd);
        setup_listener(ad, &ad->unix_l);
        ad->has_unix = true;
        snprintf(ad->socket_path, sizeof(ad->socket_path), "%s", cfg->admin.socket);
    }
    if (cfg->admin.listen.text != NULL) {
        ad->keys = admin_keys_load(&cfg->admin, why, sizeof(why));
        if (ad->keys == NULL) {
            snprintf(err, errlen, "admin api keys: %s", why);
            goto fail;
        }
        if (listener_open(&ad->tcp_l, loop, "admin-tcp",
                          (const struct sockaddr *)&cfg->admin.listen.sa,
                          cfg->admin.listen.salen, why, sizeof(why)) == -1) {
            snprintf(err, errlen, "admin listener %s: %s",
                     cfg->admin.listen.text, why);
            goto fail;
        }
        setup_listener(ad, &ad->tcp_l);
        ad->has_tcp = true;
    }
    return 0;
fail:
    admin_fini(ad);
    return -1;
}

int
admin_reload_prepare(struct admin *ad, const struct cfg *cfg,
                     struct admin_keys **keys, char *err, size_t errlen)
{
    char why[256];

    (void)ad;
    *keys = NULL;
    if (cfg->admin.listen.text == NULL)
        return 0;
    *keys = admin_keys_load(&cfg->admin, why, sizeof(why));
    if (*keys == NULL) {
        snprintf(err, errlen, "admin api keys: %s", why);
        return -1;
    }
    return 0;
}

static bool
same_text(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

void
admin_reload_commit(struct admin *ad, const struct cfg *cfg,
                    struct admin_keys *keys)
{
    /* The admin listeners stay as they were opened: the request that asked
     * for this reload may be on one of them. */
    if (!same_text(cfg->admin.listen.text, ad->cfg->admin.listen.text) ||
        !same_text(cfg->admin.socket, ad->cfg->admin.socket))
        log_warnx("reload: admin.listen and admin.socket changes take effect "
                  "at the next restart");
    admin_keys_free(ad->keys);
    ad->keys = keys;
    ad->cfg = cfg;
}

void
admin_start(struct admin *ad)
{
    if (ad->has_unix) {
        listener_resume(&ad->unix_l);
        log_info("admin: listening on %s", ad->socket_path);
    }
    if (ad->has_tcp) {
        listener_resume(&ad->tcp_l);
        log_info("admin: listening on %s (API keys required)",
                 ad->cfg->admin.listen.text);
    }
}

void
admin_fini(struct admin *ad)
{
    while (ad->conns != NULL)
        conn_close(ad->conns);
    if (ad->has_unix) {
        listener_close(&ad->unix_l);
        unlink(ad->socket_path);
        ad->has_unix = false;
    }
    if (ad->has_tcp) {
        listener_close(&ad->tcp_l);
        ad->has_tcp = false;
    }
    admin_keys_free(ad->keys);
    ad->keys = NULL;
}
