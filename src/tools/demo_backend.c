/*
 * weir-demo-backend: the HTTP/1.1 origin for the demo, integration tests and
 * benchmarks, configured per process by flags and per request by the query
 * string. This file owns the process: options, listener, accept, signals and
 * shutdown (connections: demo_conn.c; responses: demo_reply.c). Not a web
 * server: no files, no TLS; bodies are generated, never stored.
 */
#include "demo_backend.h"

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <ev.h>

#include "weir/util/defs.h"

#define NAME_LEN_MAX   128
#define ACCEPT_RETRY   1.0

/* Used for option values, the port and query parameters (contract in
 * demo_backend.h). */
int
parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (len == 0 || len > 20)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

static void
server_accept_cb(struct ev_loop *loop, struct ev_io *w, int revents)
{
    struct server *s = container_of(w, struct server, accept_io);

    for (int i = 0; i < 64; i++) {
        int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd == -1) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM) {
                /* The listener stays readable: back off instead of
                 * spinning until a descriptor frees up. */
                fprintf(stderr, "weir-demo-backend: accept: %s\n",
                        strerror(errno));
                ev_io_stop(loop, &s->accept_io);
                ev_timer_set(&s->accept_retry, ACCEPT_RETRY, 0.0);
                ev_timer_start(loop, &s->accept_retry);
            }
            return;
        }
        if (conn_new(s, fd) == NULL)
            close(fd);
    }
}

static void
server_retry_cb(struct ev_loop *loop, struct ev_timer *w, int revents)
{
    struct server *s = container_of(w, struct server, accept_retry);

    ev_io_start(loop, &s->accept_io);
}

static void
server_signal_cb(struct ev_loop *loop, struct ev_signal *w, int revents)
{
    ev_break(loop, EVBREAK_ALL);
}

/* Splits "HOST:PORT" or "[V6]:PORT"; host may be empty (any address). */
static int
split_hostport(const char *s, char *host, size_t hostlen, char *port,
               size_t portlen)
{
    const char *colon;
    const char *hs = s;
    size_t hl;
    uint64_t v;

    if (s[0] == '[') {
        const char *rb = strchr(s, ']');

        if (rb == NULL || rb[1] != ':')
            return -1;
        hs = s + 1;
        hl = (size_t)(rb - hs);
        colon = rb + 1;
    } else {
        if ((colon = strrchr(s, ':')) == NULL || memchr(s, ':', (size_t)
                                                        (colon - s)))
            return -1;
        hl = (size_t)(colon - s);
    }
    if (hl >= hostlen || strlen(colon + 1) >= portlen ||
        parse_u64(colon + 1, strlen(colon + 1), 65535, &v) == -1)
        return -1;
    memcpy(host, hs, hl);
    host[hl] = '\0';
    strcpy(port, colon + 1);
    return 0;
}

/* Prints the bound address for a harness to read: the only stdout line. */
static int
server_announce(struct server *s, int fd)
{
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    char addr[INET6_ADDRSTRLEN];
    unsigned port;

    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1) {
        fprintf(stderr, "weir-demo-backend: getsockname: %s\n",
                strerror(errno));
        return -1;
    }
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

        inet_ntop(AF_INET6, &sin6->sin6_addr, addr, sizeof(addr));
        port = ntohs(sin6->sin6_port);
        printf("listening [%s]:%u\n", addr, port);
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

        inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof(addr));
        port = ntohs(sin->sin_port);
        printf("listening %s:%u\n", addr, port);
    }
    fflush(stdout);
    if (!s->opts.quiet)
        fprintf(stderr, "weir-demo-backend: %s listening on %s port %u\n",
                s->opts.name, addr, port);
    return 0;
}

static int
server_listen(struct server *s)
{
    struct addrinfo hints = {0}, *res = NULL, *ai;
    char host[256], port[8];
    int one = 1, rc, fd = -1;

    if (split_hostport(s->opts.listen, host, sizeof(host), port,
                       sizeof(port)) == -1)
        return -1;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if ((rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res)) != 0) {
        fprintf(stderr, "weir-demo-backend: %s: %s\n", s->opts.listen,
                gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family,
                    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd == -1)
            continue;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
                       sizeof(one)) == 0 &&
            bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
            listen(fd, SOMAXCONN) == 0)
            break;
        close(fd);
        fd = -1;
    }
    if (fd == -1) {
        fprintf(stderr, "weir-demo-backend: listen %s: %s\n",
                s->opts.listen, strerror(errno));
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    if (server_announce(s, fd) == -1) {
        close(fd);
        return -1;
    }
    s->fd = fd;
    return 0;
}

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: weir-demo-backend [--listen HOST:PORT] [--name NAME]\n"
            "                         [--delay-ms N] [--status N] "
            "[--size N] [--chunked]\n"
            "                         [--health-status N] [--quiet]\n"
            "query parameters: delay=MS status=N size=N chunked=1 close=1\n"
            "                  abort=N headers=1 noframe=1\n"
            "endpoints: /health, /_control?health=N, /_stats\n");
}

/* Parses the value of numeric option ch into its field of o. Returns -1 if
 * ch is not a numeric option or the value is out of its range. */
static int
opt_num(struct opts *o, int ch, const char *arg)
{
    static const struct {
        int ch;
        uint64_t min;
        uint64_t max;
    } specs[] = {
        {'d', 0, DELAY_MAX_MS},
        {'s', 200, 599},
        {'z', 0, BODY_SIZE_MAX},
        {'H', 200, 599},
    };
    uint64_t v;
    size_t i;

    for (i = 0; i < nitems(specs) && specs[i].ch != ch; i++)
        continue;
    if (i == nitems(specs) ||
        parse_u64(arg, strlen(arg), specs[i].max, &v) == -1 ||
        v < specs[i].min)
        return -1;
    switch (ch) {
    case 'd':
        o->delay_ms = v;
        break;
    case 's':
        o->status = (int)v;
        break;
    case 'z':
        o->size = v;
        o->size_set = 1;
        break;
    case 'H':
        o->health_status = (int)v;
        break;
    }
    return 0;
}

static int
name_ok(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > NAME_LEN_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (name[i] <= ' ' || name[i] > '~')
            return 0;
    return 1;
}

static int
listen_ok(const char *listen)
{
    char host[256], port[8];

    return split_hostport(listen, host, sizeof(host), port,
                          sizeof(port)) == 0;
}

/* Returns 0, or the exit status to use: 0 after --help, 2 on bad usage. */
static int
parse_args(int argc, char **argv, struct opts *o, int *done)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"name", required_argument, NULL, 'n'},
        {"delay-ms", required_argument, NULL, 'd'},
        {"status", required_argument, NULL, 's'},
        {"size", required_argument, NULL, 'z'},
        {"chunked", no_argument, NULL, 'c'},
        {"health-status", required_argument, NULL, 'H'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;

    *done = 0;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'l':
            o->listen = optarg;
            break;
        case 'n':
            if (!name_ok(optarg))
                goto bad;
            o->name = optarg;
            break;
        case 'c':
            o->chunked = 1;
            break;
        case 'q':
            o->quiet = 1;
            break;
        case 'h':
            usage(stdout);
            *done = 1;
            return 0;
        default:
            /* The numeric options, and '?' for anything unknown. */
            if (opt_num(o, ch, optarg) == -1)
                goto bad;
            break;
        }
    }
    if (optind != argc || !listen_ok(o->listen))
        goto bad;
    return 0;
bad:
    usage(stderr);
    return 2;
}

int
main(int argc, char **argv)
{
    struct server s;
    int rc, done;

    memset(&s, 0, sizeof(s));
    s.fd = -1;
    s.opts.listen = "127.0.0.1:0";
    s.opts.name = "demo";
    s.opts.status = 200;
    s.opts.health_status = 200;
    if ((rc = parse_args(argc, argv, &s.opts, &done)) != 0 || done)
        return rc;
    s.health_status = s.opts.health_status;
    signal(SIGPIPE, SIG_IGN);

    if ((s.loop = ev_default_loop(EVFLAG_AUTO)) == NULL) {
        fprintf(stderr, "weir-demo-backend: cannot create the event loop\n");
        return 1;
    }
    if (server_listen(&s) == -1) {
        ev_loop_destroy(s.loop);
        return 1;
    }
    ev_io_init(&s.accept_io, server_accept_cb, s.fd, EV_READ);
    ev_init(&s.accept_retry, server_retry_cb);
    ev_signal_init(&s.sig_term, server_signal_cb, SIGTERM);
    ev_signal_init(&s.sig_int, server_signal_cb, SIGINT);
    ev_io_start(s.loop, &s.accept_io);
    ev_signal_start(s.loop, &s.sig_term);
    ev_signal_start(s.loop, &s.sig_int);

    ev_run(s.loop, 0);

    while (s.conns != NULL)
        conn_close(s.conns);
    ev_io_stop(s.loop, &s.accept_io);
    ev_timer_stop(s.loop, &s.accept_retry);
    ev_signal_stop(s.loop, &s.sig_term);
    ev_signal_stop(s.loop, &s.sig_int);
    close(s.fd);
    ev_loop_destroy(s.loop);
    return 0;
}
