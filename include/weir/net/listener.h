/* A listening socket on the loop. It accepts in bounded batches and hands
 * each connection to on_accept; pausing (max_connections, EMFILE) is the
 * owner's decision through listener_pause/listener_resume. */
#ifndef WEIR_LISTENER_H
#define WEIR_LISTENER_H

#include <ev.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct listener;
/* Returns false to stop accepting in this batch (e.g. at the limit). */
typedef bool listener_accept_fn(struct listener *l, int fd,
                                const struct sockaddr_storage *peer,
                                socklen_t peerlen);
/* Accepting failed with errno (EMFILE, ENFILE, ENOBUFS, ENOMEM). */
typedef void listener_error_fn(struct listener *l, int err);

struct listener {
    int fd;
    struct ev_loop *loop;
    ev_io io;
    char name[64];
    bool tls;
    SSL_CTX *ssl_ctx;            /* borrowed; NULL for plain listeners */
    void *owner;
    listener_accept_fn *on_accept;
    listener_error_fn *on_error;
    bool paused;
};

/* Bind SA and listen. 0, or -1 with a message in ERR. */
int listener_open(struct listener *l, struct ev_loop *loop, const char *name,
                  const struct sockaddr *sa, socklen_t salen, char *err,
                  size_t errlen);
/* Take over an already listening, non-blocking FD (e.g. a Unix socket). */
void listener_adopt(struct listener *l, struct ev_loop *loop, const char *name,
                    int fd);
/* Start accepting (idempotent) and stop (idempotent; keeps the socket). */
void listener_resume(struct listener *l);
void listener_pause(struct listener *l);
/* Stop and close the socket. */
void listener_close(struct listener *l);

#endif
