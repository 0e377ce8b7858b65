/* Socket set-up in the style of Redis's anet: small wrappers that make every
 * socket non-blocking and close-on-exec. No protocol knowledge. */
#include "weir/net/sock.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void
set_nodelay(int fd)
{
    int one = 1;
    /* Best effort: a proxy that batches its own writes wants no Nagle. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int
sock_listen_tcp(const struct sockaddr *sa, socklen_t salen, int backlog,
                char *err, size_t errlen)
{
    int one = 1;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
        bind(fd, sa, salen) == -1 || listen(fd, backlog) == -1) {
        snprintf(err, errlen, "%s", strerror(errno));
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int
sock_accept(int lfd, struct sockaddr_storage *peer, socklen_t *peerlen)
{
    *peerlen = sizeof(*peer);
    int fd = accept4(lfd, (struct sockaddr *)peer, peerlen,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd == -1)
        return -1;
    set_nodelay(fd);
    return fd;
}

int
sock_connect_start(const struct sockaddr *sa, socklen_t salen)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -1;
    set_nodelay(fd);
    if (connect(fd, sa, salen) == -1 && errno != EINPROGRESS) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int
sock_error(int fd)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
        return errno;
    return err;
}
