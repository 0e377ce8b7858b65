/* Certificate and key file checks for the configuration loader: parse the
 * PEM files with libcrypto, compare validity dates with a given "now" and
 * match the key to the certificate. It builds no TLS context (that is
 * src/net/tlsctx.c, with libssl) and keeps nothing: every call reads the
 * files again. */
#include "weir/config/tls_check.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* Keys are never smaller, whatever OpenSSL's security level says. */
#define TLS_CHECK_RSA_MIN_BITS 2048

/* PATH for a message: control characters become '?'. */
static const char *
show_path(const char *path, char *out, size_t outlen)
{
    size_t i;

    for (i = 0; path[i] != '\0' && i + 1 < outlen; i++)
        out[i] = (unsigned char)path[i] < 0x20 || path[i] == 0x7f ?
                 '?' : path[i];
    out[i] = '\0';
    return out;
}

/* The reason of OpenSSL's latest error, and an empty queue. NONE stands
 * for no error, or for OpenSSL 3's decoders' bare "unsupported" (no block
 * of the wanted kind in the file). */
static const char *
ssl_reason(char *buf, size_t len, const char *none)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

    if (e == 0 || ERR_GET_REASON(e) == ERR_R_UNSUPPORTED)
        snprintf(buf, len, "%s", none);
    else if (r != NULL)
        snprintf(buf, len, "%s", r);
    else
        ERR_error_string_n(e, buf, len);
    ERR_clear_error();
    return buf;
}

static void
format_time(const ASN1_TIME *t, char *out, size_t outlen)
{
    struct tm tm;

    if (ASN1_TIME_to_tm(t, &tm) != 1 ||
        strftime(out, outlen, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(out, outlen, "an unreadable date");
}

/* Refuses to prompt: records that a passphrase was wanted. */
static int
no_passphrase_cb(char *buf, int size, int rwflag, void *arg)
{
    bool *asked = arg;

    (void)buf;
    (void)size;
    (void)rwflag;
    *asked = true;
    return -1;
}

static X509 *
read_cert(const char *path, const char *shown, char *err, size_t errlen)
{
    char ebuf[128];
    X509 *x;
    FILE *f;

    if ((f = fopen(path, "re")) == NULL) {
        snprintf(err, errlen, "cannot read certificate \"%s\": %s", shown,
                 strerror_r(errno, ebuf, sizeof(ebuf)));
        return NULL;
    }
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (x == NULL)
        snprintf(err, errlen, "\"%s\" is not a PEM certificate (%s)", shown,
                 ssl_reason(ebuf, sizeof(ebuf), "no certificate found"));
    return x;
}

static int
check_cert(X509 *x, const char *shown, time_t now, char *err, size_t errlen)
{
    EVP_PKEY *pub = X509_get0_pubkey(x);
    char when[64];

    if (X509_cmp_time(X509_get0_notAfter(x), &now) < 0) {
        format_time(X509_get0_notAfter(x), when, sizeof(when));
        snprintf(err, errlen, "certificate \"%s\" expired on %s", shown,
                 when);
        return -1;
    }
    if (X509_cmp_time(X509_get0_notBefore(x), &now) > 0) {
        format_time(X509_get0_notBefore(x), when, sizeof(when));
        snprintf(err, errlen, "certificate \"%s\" is not valid before %s",
                 shown, when);
        return -1;
    }
    if (pub == NULL) {
        snprintf(err, errlen, "certificate \"%s\" has an unsupported public "
                 "key", shown);
        return -1;
    }
    if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA &&
        EVP_PKEY_get_bits(pub) < TLS_CHECK_RSA_MIN_BITS) {
        snprintf(err, errlen, "certificate \"%s\" has a %d-bit RSA key (at "
                 "least %d bits are required)", shown, EVP_PKEY_get_bits(pub),
                 TLS_CHECK_RSA_MIN_BITS);
        return -1;
    }
    return 0;
}

static EVP_PKEY *
read_key(const char *path, const char *shown, char *err, size_t errlen)
{
    bool asked = false;
    char ebuf[128];
    EVP_PKEY *k;
    FILE *f;

    if ((f = fopen(path, "re")) == NULL) {
        snprintf(err, errlen, "cannot read private key \"%s\": %s", shown,
                 strerror_r(errno, ebuf, sizeof(ebuf)));
        return NULL;
    }
    k = PEM_read_PrivateKey(f, NULL, no_passphrase_cb, &asked);
    fclose(f);
    if (k != NULL)
        return k;
    if (asked) {
        ERR_clear_error();
        snprintf(err, errlen, "private key \"%s\" is encrypted (weir does "
                 "not support passphrases)", shown);
    } else {
        snprintf(err, errlen, "\"%s\" is not a PEM private key (%s)", shown,
                 ssl_reason(ebuf, sizeof(ebuf), "no private key found"));
    }
    return NULL;
}

int
tls_check_cert(const char *cert_path, time_t now, char *err, size_t errlen)
{
    char shown[4096];
    X509 *x;
    int rc;

    show_path(cert_path, shown, sizeof(shown));
    if ((x = read_cert(cert_path, shown, err, errlen)) == NULL)
        return TLS_CHECK_CERT;
    rc = check_cert(x, shown, now, err, errlen) == 0 ? 0 : TLS_CHECK_CERT;
    X509_free(x);
    return rc;
}

int
tls_check_pair(const char *cert_path, const char *key_path, time_t now,
               char *err, size_t errlen)
{
    char shown[4096], shown_key[4096];
    EVP_PKEY *key = NULL;
    X509 *x;
    int rc = TLS_CHECK_CERT;

    show_path(cert_path, shown, sizeof(shown));
    show_path(key_path, shown_key, sizeof(shown_key));
    if ((x = read_cert(cert_path, shown, err, errlen)) == NULL)
        return TLS_CHECK_CERT;
    if (check_cert(x, shown, now, err, errlen) == -1)
        goto out;
    rc = TLS_CHECK_KEY;
    if ((key = read_key(key_path, shown_key, err, errlen)) == NULL)
        goto out;
    if (X509_check_private_key(x, key) != 1) {
        ERR_clear_error();
        snprintf(err, errlen, "private key \"%s\" does not match certificate "
                 "\"%s\"", shown_key, shown);
        goto out;
    }
    rc = 0;

out:
    EVP_PKEY_free(key);
    X509_free(x);
    return rc;
}
