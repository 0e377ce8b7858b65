/* The client side's byte stream, plain TCP or TLS behind one interface, so
 * the proxy's session never sees OpenSSL. TLS may need the opposite
 * direction to make progress (a read that must write); the wants flags say
 * so and the caller arms that watcher too. */
#ifndef WEIR_TRANSPORT_H
#define WEIR_TRANSPORT_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct transport {
    int fd;
    SSL *ssl;                   /* NULL for plain TCP */
    bool read_wants_write;      /* the last read needs the socket writable */
    bool write_wants_read;      /* the last write needs the socket readable */
    bool handshake_done;
};

/* Results besides a byte count. */
#define TRANSPORT_EOF 0
#define TRANSPORT_ERROR (-1)
#define TRANSPORT_AGAIN (-2)

/* Set up over FD (borrowed until transport_fini); with CTX non-NULL a TLS
 * server connection. 0, or -1 (then nothing to undo). */
int transport_init(struct transport *t, int fd, SSL_CTX *ctx);
/* Close the TLS state (not the fd). Idempotent. */
void transport_fini(struct transport *t);

/* Drive the TLS handshake: 1 done (always for plain), TRANSPORT_AGAIN, or
 * TRANSPORT_ERROR with the reason in ERR. */
int transport_handshake(struct transport *t, char *err, size_t errlen);

/* Read up to LEN bytes: a count, TRANSPORT_EOF, TRANSPORT_ERROR (errno or
 * TLS failure) or TRANSPORT_AGAIN. *DRAINED is set when the socket most
 * likely has nothing more (a short read with nothing buffered). */
ssize_t transport_read(struct transport *t, void *p, size_t len, bool *drained);
/* Write up to LEN bytes: a count (maybe short), TRANSPORT_ERROR or
 * TRANSPORT_AGAIN. */
ssize_t transport_write(struct transport *t, const void *p, size_t len);
/* Write A (ALEN bytes, may be 0) then B as one stream, in one syscall on a
 * plain socket. Returns the bytes taken (from A first, then B) as
 * transport_write does. On TLS, writes A when ALEN > 0, else B. */
ssize_t transport_write2(struct transport *t, const void *a, size_t alen,
                         const void *b, size_t blen);

/* Orderly end of our sending side: close_notify for TLS (best effort,
 * never blocks), then shutdown(SHUT_WR). */
void transport_shutdown(struct transport *t);

/* "TLSv1.3" etc., or NULL for plain. */
const char *transport_tls_version(const struct transport *t);

#endif
