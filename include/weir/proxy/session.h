/* One client connection's request cycle. */
#ifndef WEIR_SESSION_H
#define WEIR_SESSION_H

#include <stdbool.h>
#include <sys/socket.h>

struct backend;
struct listener;
struct proxy;
struct session;

/* Start a session on accepted FD; takes ownership of FD (closed on
 * failure). Returns the session or NULL. */
struct session *session_new(struct proxy *px, struct listener *l, int fd,
                            const struct sockaddr_storage *peer,
                            socklen_t peerlen);

/* Graceful stop: close the session now if it is idle between requests,
 * otherwise make its current response the last. */
void session_stop(struct session *s);

/* Close at once (proxy shutdown). Frees S. */
void session_kill(struct session *s, const char *reason);

/* The backend S has a request in flight on, or NULL. */
struct backend *session_backend(const struct session *s);

/* Next session in the proxy's list (for iteration). */
struct session *session_next(struct session *s);

#endif
