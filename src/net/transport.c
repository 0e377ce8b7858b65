/* Plain and TLS byte streams behind one set of calls. Plain TCP is a thin
 * wrapper over read/send; TLS maps OpenSSL's WANT_READ/WANT_WRITE onto
 * TRANSPORT_AGAIN plus the wants flags. Renegotiation is off in the
 * context (tlsctx.c), so only TLS 1.3 key updates can invert directions. */
#include "weir/net/transport.h"

#include <errno.h>
#include <openssl/err.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

int
transport_init(struct transport *t, int fd, SSL_CTX *ctx)
{
    memset(t, 0, sizeof(*t));
    t->fd = fd;
    if (ctx == NULL) {
        t->handshake_done = true;
        return 0;
    }
    t->ssl = SSL_new(ctx);
    if (t->ssl == NULL || SSL_set_fd(t->ssl, fd) != 1) {
        SSL_free(t->ssl);
        t->ssl = NULL;
        return -1;
    }
    /* A client that closes without close_notify is an ordinary EOF for
     * HTTP, whose framing already tells a cut response. */
    SSL_set_options(t->ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_set_accept_state(t->ssl);
    return 0;
}

void
transport_fini(struct transport *t)
{
    if (t->ssl != NULL) {
        SSL_free(t->ssl);
        t->ssl = NULL;
    }
}

/* Map an SSL_get_error() result: AGAIN with the wants flags set, or
 * ERROR. */
static int
tls_result(struct transport *t, int ret, bool reading)
{
    int e = SSL_get_error(t->ssl, ret);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        if (!reading)
            t->write_wants_read = true;
        return TRANSPORT_AGAIN;
    case SSL_ERROR_WANT_WRITE:
        if (reading)
            t->read_wants_write = true;
        return TRANSPORT_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return TRANSPORT_EOF;
    case SSL_ERROR_SYSCALL:
        if (errno == 0)
            return TRANSPORT_EOF;
        return TRANSPORT_ERROR;
    default:
        errno = EPROTO;
        return TRANSPORT_ERROR;
    }
}

int
transport_handshake(struct transport *t, char *err, size_t errlen)
{
    if (t->handshake_done)
        return 1;
    ERR_clear_error();
    int ret = SSL_do_handshake(t->ssl);
    if (ret == 1) {
        t->handshake_done = true;
        return 1;
    }
    int e = SSL_get_error(t->ssl, ret);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        /* Both directions are watched during the handshake. */
        t->read_wants_write = e == SSL_ERROR_WANT_WRITE;
        return TRANSPORT_AGAIN;
    }
    unsigned long code = ERR_peek_last_error();
    if (code != 0)
        ERR_error_string_n(code, err, errlen);
    else if (e == SSL_ERROR_SYSCALL && errno != 0)
        snprintf(err, errlen, "%s", strerror(errno));
    else
        snprintf(err, errlen, "connection closed during handshake");
    ERR_clear_error();
    return TRANSPORT_ERROR;
}

ssize_t
transport_read(struct transport *t, void *p, size_t len, bool *drained)
{
    if (t->ssl == NULL) {
        ssize_t n = read(t->fd, p, len);
        if (n > 0) {
            *drained = (size_t)n < len;
            return n;
        }
        if (n == 0)
            return TRANSPORT_EOF;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            *drained = true;
            return TRANSPORT_AGAIN;
        }
        return TRANSPORT_ERROR;
    }
    t->read_wants_write = false;
    ERR_clear_error();
    int n = SSL_read(t->ssl, p, len > (size_t)INT32_MAX ? INT32_MAX : (int)len);
    if (n > 0) {
        /* Decrypted bytes may wait inside OpenSSL with the socket empty. */
        *drained = (size_t)n < len && SSL_pending(t->ssl) == 0;
        return n;
    }
    int rc = tls_result(t, n, true);
    if (rc == TRANSPORT_AGAIN)
        *drained = true;
    return rc;
}

ssize_t
transport_write(struct transport *t, const void *p, size_t len)
{
    if (t->ssl == NULL) {
        ssize_t n = send(t->fd, p, len, MSG_NOSIGNAL);
        if (n >= 0)
            return n;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return TRANSPORT_AGAIN;
        return TRANSPORT_ERROR;
    }
    t->write_wants_read = false;
    ERR_clear_error();
    int n = SSL_write(t->ssl, p, len > (size_t)INT32_MAX ? INT32_MAX : (int)len);
    if (n > 0)
        return n;
    return tls_result(t, n, false);
}

ssize_t
transport_write2(struct transport *t, const void *a, size_t alen,
                 const void *b, size_t blen)
{
    if (t->ssl != NULL || alen == 0 || blen == 0)
        return alen > 0 ? transport_write(t, a, alen) : transport_write(t, b, blen);
    struct iovec iov[2] = {{(void *)a, alen}, {(void *)b, blen}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    ssize_t n = sendmsg(t->fd, &msg, MSG_NOSIGNAL);
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return TRANSPORT_AGAIN;
    return TRANSPORT_ERROR;
}

void
transport_shutdown(struct transport *t)
{
    if (t->ssl != NULL && t->handshake_done) {
        ERR_clear_error();
        (void)SSL_shutdown(t->ssl);
        ERR_clear_error();
    }
    shutdown(t->fd, SHUT_WR);
}

const char *
transport_tls_version(const struct transport *t)
{
    return t->ssl != NULL ? SSL_get_version(t->ssl) : NULL;
}
