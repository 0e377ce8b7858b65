/* Non-blocking socket helpers. Functions return 0 or an fd on success and
 * -1 on failure with errno set; those that can explain write into ERR. */
#ifndef WEIR_SOCK_H
#define WEIR_SOCK_H

#include <stddef.h>
#include <sys/socket.h>

/* Bind and listen on SA (SO_REUSEADDR, non-blocking, close-on-exec).
 * Returns the fd or -1 with a message in ERR. */
int sock_listen_tcp(const struct sockaddr *sa, socklen_t salen, int backlog,
                    char *err, size_t errlen);

/* Bind and listen on the Unix socket PATH with mode 0600. A stale socket
 * file (nobody accepts on it) is replaced; a live one is an error, as is a
 * path that exists and is not a socket. Returns the fd or -1 with a
 * message in ERR. */
int sock_listen_unix(const char *path, int backlog, char *err, size_t errlen);

/* Accept one connection, non-blocking and close-on-exec, with TCP_NODELAY.
 * Returns the fd or -1 (errno EAGAIN when there is none). */
int sock_accept(int lfd, struct sockaddr_storage *peer, socklen_t *peerlen);

/* Start a non-blocking connect. Returns the fd (connected or in progress)
 * or -1 when it failed at once. */
int sock_connect_start(const struct sockaddr *sa, socklen_t salen);

/* The pending error of a connecting socket: 0 when connected. */
int sock_error(int fd);

#endif
