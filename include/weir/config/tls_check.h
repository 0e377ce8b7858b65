/* Static checks of a listener's certificate and key files, for the
 * configuration loader (`weir -t` reports them with a position): the files
 * parse, the certificate is valid now and the key matches it. Pure: reads
 * files with libcrypto, never libssl; time is passed in. */
#ifndef WEIR_TLS_CHECK_H
#define WEIR_TLS_CHECK_H

#include <stddef.h>
#include <time.h>

/* Which file a failed check blames (a key that does not match its
 * certificate blames the key). */
#define TLS_CHECK_CERT (-1)
#define TLS_CHECK_KEY  (-2)

/* Room for any message below, two full paths included. */
#define TLS_CHECK_ERR_MAX 8400

/* Check the PEM certificate at CERT_PATH (its first certificate, the leaf,
 * when the file holds a chain): readable and parseable, valid at NOW (not
 * expired, not yet valid: the message says which, with the date), and an
 * RSA key has at least 2048 bits. Returns 0, or TLS_CHECK_CERT with a
 * one-line message in ERR (ERRLEN bytes, NUL-terminated, naming the file).
 * Borrows everything; leaves OpenSSL's error queue empty. */
int tls_check_cert(const char *cert_path, time_t now, char *err,
                   size_t errlen);

/* tls_check_cert, then the PEM private key at KEY_PATH: readable,
 * parseable, not passphrase-protected (it is never prompted for), and the
 * private half of the certificate's public key. Returns 0, TLS_CHECK_CERT
 * or TLS_CHECK_KEY, with the message in ERR as above. */
int tls_check_pair(const char *cert_path, const char *key_path, time_t now,
                   char *err, size_t errlen);

#endif
