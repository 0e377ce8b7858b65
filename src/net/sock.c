/* Socket set-up in the style of Redis's anet: small wrappers that make every
 * socket non-blocking and close-on-exec. No protocol knowledge. */
#include "weir/net/sock.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
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

/* Is something accepting on the Unix socket at PATH? */
static int
unix_socket_live(const struct sockaddr_un *sun)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -1;
    int rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
    int saved = errno;
    close(fd);
    if (rc == 0)
        return 1;
    return saved == ECONNREFUSED || saved == ENOENT ? 0 : -1;
}

int
sock_listen_unix(const char *path, int backlog, char *err, size_t errlen)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct stat st;

    if (strlen(path) >= sizeof(sun.sun_path)) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    memcpy(sun.sun_path, path, strlen(path) + 1);
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "%s exists and is not a socket", path);
            return -1;
        }
        int live = unix_socket_live(&sun);
        if (live != 0) {
            snprintf(err, errlen, live == 1 ? "%s is in use by a running process"
                                            : "%s: cannot tell whether it is in use",
                     path);
            return -1;
        }
        unlink(path); /* stale: its process is gone */
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    /* The umask makes the file 0600 from its creation: no window in which
     * another user could connect. */
    mode_t old = umask(0177);
    int rc = bind(fd, (const struct sockaddr *)&sun, sizeof(sun));
    umask(old);
    if (rc == -1 || chmod(path, 0600) == -1 || listen(fd, backlog) == -1) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
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
