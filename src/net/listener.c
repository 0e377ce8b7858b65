/* Listening sockets. Accepts at most a batch per wake-up so one busy
 * listener cannot starve the rest of the loop. Knows nothing of HTTP. */
#include "weir/net/listener.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "weir/net/sock.h"
#include "weir/util/defs.h"

#define LISTENER_BACKLOG 4096
#define LISTENER_BATCH 64

static void
listener_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct listener *l = container_of(w, struct listener, io);
    (void)loop;
    (void)revents;

    for (int i = 0; i < LISTENER_BATCH && !l->paused; i++) {
        struct sockaddr_storage peer;
        socklen_t peerlen;
        int fd = sock_accept(l->fd, &peer, &peerlen);
        if (fd == -1) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
                errno == ECONNABORTED || errno == EPROTO)
                return;
            l->on_error(l, errno);
            return;
        }
        if (!l->on_accept(l, fd, &peer, peerlen))
            return;
    }
}

void
listener_adopt(struct listener *l, struct ev_loop *loop, const char *name,
               int fd)
{
    l->fd = fd;
    l->loop = loop;
    snprintf(l->name, sizeof(l->name), "%s", name);
    ev_io_init(&l->io, listener_cb, fd, EV_READ);
    l->paused = true;
}

int
listener_open(struct listener *l, struct ev_loop *loop, const char *name,
              const struct sockaddr *sa, socklen_t salen, char *err,
              size_t errlen)
{
    int fd = sock_listen_tcp(sa, salen, LISTENER_BACKLOG, err, errlen);
    if (fd == -1)
        return -1;
    listener_adopt(l, loop, name, fd);
    return 0;
}

void
listener_resume(struct listener *l)
{
    l->paused = false;
    if (!ev_is_active(&l->io))
        ev_io_start(l->loop, &l->io);
}

void
listener_pause(struct listener *l)
{
    l->paused = true;
    if (ev_is_active(&l->io))
        ev_io_stop(l->loop, &l->io);
}

void
listener_close(struct listener *l)
{
    if (l->fd == -1)
        return;
    listener_pause(l);
    close(l->fd);
    l->fd = -1;
}
