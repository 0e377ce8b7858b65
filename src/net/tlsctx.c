/* TLS server contexts for one listener: one SSL_CTX per distinct set of
 * certificate names (the first is the default), switched by the SNI
 * callback; the ALPN choice; and the session-ticket keys, kept in memory
 * and rotated by the caller's clock. It does no I/O on connections: the
 * TLS transport drives the handshakes. */
#include "weir/net/tlsctx.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "weir/config/config.h"
#include "weir/util/defs.h"

#define TLSCTX_KEY_NAME_LEN 16       /* OpenSSL's ticket key name size */
#define TLSCTX_ALPN_MAX (16 * 9)     /* 16 entries of "\x08http/1.x" */
#define TLSCTX_SID_CTX "weir"

/* The protocols a client may be told we speak. */
static const char *const tlsctx_alpn_known[] = {"http/1.1", "http/1.0"};

/* One session-ticket key: AES-256-CBC and HMAC-SHA256 (RFC 5077 layout,
 * what OpenSSL's ticket format expects). */
struct tlsctx_key {
    unsigned char name[TLSCTX_KEY_NAME_LEN];
    unsigned char aes[32];
    unsigned char hmac[32];
    time_t created;
    bool live;
};

/* A DNS name a certificate answers for, lower case. A wildcard keeps its
 * "*." and matches exactly one more label. */
struct tlsctx_name {
    char *name;
    bool wildcard;
};

/* One SSL_CTX: certificates with the same names, one per key type. */
struct tlsctx_slot {
    SSL_CTX *ctx;
    unsigned key_types;          /* key_type_bit() of each loaded cert */
    struct tlsctx_name *names;
    size_t nnames;
};

struct tlsctx {
    struct tlsctx_slot *slots;   /* slots[0] is the default */
    size_t nslots;
    time_t *not_after;           /* per certificate, config order */
    size_t ncerts;
    unsigned char alpn[TLSCTX_ALPN_MAX]; /* wire format, our preference */
    size_t alpnlen;
    struct tlsctx_key keys[2];   /* [0] encrypts, [1] still decrypts */
    struct tlsctx_stats stats;
};

static void tls_fail(char *err, size_t errlen, const char *fmt, ...)
    WEIR_PRINTF(3, 4);

/* FMT, then ": " and OpenSSL's reason when it has one; empties the queue. */
static void
tls_fail(char *err, size_t errlen, const char *fmt, ...)
{
    unsigned long e = ERR_peek_last_error();
    const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;
    char code[128];
    va_list ap;
    size_t n;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    n = strlen(err);
    if (e != 0 && reason == NULL) {
        ERR_error_string_n(e, code, sizeof(code));
        reason = code;
    }
    if (reason != NULL && n < errlen)
        snprintf(err + n, errlen - n, ": %s", reason);
    ERR_clear_error();
}

/* Ticket keys */

static int
key_make(struct tlsctx_key *k, time_t now)
{
    if (RAND_bytes(k->name, sizeof(k->name)) != 1 ||
        RAND_bytes(k->aes, sizeof(k->aes)) != 1 ||
        RAND_bytes(k->hmac, sizeof(k->hmac)) != 1) {
        OPENSSL_cleanse(k, sizeof(*k));
        return -1;
    }
    k->created = now;
    k->live = true;
    return 0;
}

static int
key_init_mac(EVP_MAC_CTX *hctx, struct tlsctx_key *k)
{
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k->hmac,
                                          sizeof(k->hmac)),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };

    return EVP_MAC_CTX_set_params(hctx, params);
}

/* OpenSSL's ticket callback: ENC=1 seals a new ticket with the current
 * key; ENC=0 finds the key named in a ticket. Returns 1 (use it), 2 (use
 * it and issue a fresh ticket: the key is the previous one), 0 (unknown
 * key: full handshake) or -1 (error). */
static int
ticket_cb(SSL *ssl, unsigned char *name, unsigned char *iv,
          EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
    struct tlsctx *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    struct tlsctx_key *k = &t->keys[0];
    int ivlen = EVP_CIPHER_get_iv_length(EVP_aes_256_cbc());

    if (enc) {
        if (!k->live || RAND_bytes(iv, ivlen) != 1)
            return -1;
        memcpy(name, k->name, sizeof(k->name));
        if (EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes,
                               iv) != 1 || key_init_mac(hctx, k) != 1)
            return -1;
        return 1;
    }
    for (size_t i = 0; i < nitems(t->keys); i++) {
        k = &t->keys[i];
        if (!k->live || CRYPTO_memcmp(name, k->name, sizeof(k->name)) != 0)
            continue;
        if (key_init_mac(hctx, k) != 1 ||
            EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes,
                               iv) != 1)
            return -1;
        if (i == 0)
            return 1;
        t->stats.ticket_renewed++;
        return 2;
    }
    t->stats.ticket_unknown++;
    return 0;
}

int
tlsctx_rotate_tickets(struct tlsctx *t, time_t now)
{
    struct tlsctx_key fresh;

    if (now >= t->keys[0].created &&
        now - t->keys[0].created < TLSCTX_TICKET_PERIOD)
        return 0;
    if (key_make(&fresh, now) == -1) {
        ERR_clear_error();
        return -1;
    }
    OPENSSL_cleanse(&t->keys[1], sizeof(t->keys[1]));
    t->keys[1] = t->keys[0];
    t->keys[0] = fresh;
    OPENSSL_cleanse(&fresh, sizeof(fresh));
    return 1;
}

void
tlsctx_inherit_tickets(struct tlsctx *t, const struct tlsctx *from)
{
    OPENSSL_cleanse(t->keys, sizeof(t->keys));
    memcpy(t->keys, from->keys, sizeof(t->keys));
}

/* Names */

/* NAME (LEN bytes, not NUL-terminated) as a lower-case host name or
 * "*.name" wildcard, or NULL when it is neither (then it is ignored). */
static char *
name_dup(const unsigned char *name, size_t len, bool *wildcard)
{
    size_t start = 0;
    char *s;

    *wildcard = len > 2 && name[0] == '*' && name[1] == '.';
    if (*wildcard)
        start = 2;
    if (len == start || len > 253)
        return NULL;
    for (size_t i = start; i < len; i++) {
        if (!isalnum(name[i]) && name[i] != '-' && name[i] != '.' &&
            name[i] != '_')
            return NULL;
    }
    if ((s = malloc(len + 1)) == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++)
        s[i] = (char)tolower(name[i]);
    s[len] = '\0';
    return s;
}

static int
names_add(struct tlsctx_name **names, size_t *n, const unsigned char *name,
          size_t len)
{
    struct tlsctx_name *more;
    bool wildcard;
    char *s = name_dup(name, len, &wildcard);

    if (s == NULL)
        return 0;
    if ((more = realloc(*names, (*n + 1) * sizeof(**names))) == NULL) {
        free(s);
        return -1;
    }
    *names = more;
    more[*n].name = s;
    more[*n].wildcard = wildcard;
    (*n)++;
    return 0;
}

static void
names_free(struct tlsctx_name *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i].name);
    free(names);
}

/* The DNS names of X's subjectAltName, or its CN when it has none. */
static int
cert_names(X509 *x, struct tlsctx_name **names, size_t *n)
{
    GENERAL_NAMES *san = X509_get_ext_d2i(x, NID_subject_alt_name, NULL,
                                          NULL);
    X509_NAME *subject = X509_get_subject_name(x);
    bool any_dns = false;
    int rc = 0, i;

    *names = NULL;
    *n = 0;
    for (i = 0; san != NULL && i < sk_GENERAL_NAME_num(san); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(san, i);
        if (g->type != GEN_DNS)
            continue;
        any_dns = true;
        if (names_add(names, n, ASN1_STRING_get0_data(g->d.dNSName),
                      (size_t)ASN1_STRING_length(g->d.dNSName)) == -1)
            rc = -1;
    }
    GENERAL_NAMES_free(san);
    i = subject != NULL ? X509_NAME_get_index_by_NID(subject, NID_commonName,
                                                     -1) : -1;
    if (!any_dns && i >= 0) {
        ASN1_STRING *cn = X509_NAME_ENTRY_get_data(
            X509_NAME_get_entry(subject, i));
        if (names_add(names, n, ASN1_STRING_get0_data(cn),
                      (size_t)ASN1_STRING_length(cn)) == -1)
            rc = -1;
    }
    ERR_clear_error();
    return rc;
}

static bool
names_contain(const struct tlsctx_name *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(names[i].name, name) == 0)
            return true;
    }
    return false;
}

/* The same set of names (a duplicate inside one list does not matter). */
static bool
names_equal(const struct tlsctx_name *a, size_t na,
            const struct tlsctx_name *b, size_t nb)
{
    for (size_t i = 0; i < na; i++) {
        if (!names_contain(b, nb, a[i].name))
            return false;
    }
    for (size_t i = 0; i < nb; i++) {
        if (!names_contain(a, na, b[i].name))
            return false;
    }
    return na > 0;
}

/* The context for host name SNI: an exact name first, in configuration
 * order, then a wildcard covering its first label. NULL when none. */
static SSL_CTX *
lookup(const struct tlsctx *t, const char *sni)
{
    char host[256];
    const char *dot;
    size_t len = strlen(sni);

    if (len > 0 && sni[len - 1] == '.')
        len--;
    if (len == 0 || len >= sizeof(host))
        return NULL;
    for (size_t i = 0; i < len; i++)
        host[i] = (char)tolower((unsigned char)sni[i]);
    host[len] = '\0';
    for (size_t s = 0; s < t->nslots; s++) {
        for (size_t i = 0; i < t->slots[s].nnames; i++) {
            const struct tlsctx_name *n = &t->slots[s].names[i];
            if (!n->wildcard && strcmp(n->name, host) == 0)
                return t->slots[s].ctx;
        }
    }
    if ((dot = strchr(host, '.')) == NULL || dot == host)
        return NULL;
    for (size_t s = 0; s < t->nslots; s++) {
        for (size_t i = 0; i < t->slots[s].nnames; i++) {
            const struct tlsctx_name *n = &t->slots[s].names[i];
            if (n->wildcard && strcmp(n->name + 1, dot) == 0)
                return t->slots[s].ctx;
        }
    }
    return NULL;
}

/* Handshake callbacks */

static int
sni_cb(SSL *ssl, int *alert, void *arg)
{
    struct tlsctx *t = arg;
    const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    SSL_CTX *ctx;

    if (sni == NULL)
        return SSL_TLSEXT_ERR_NOACK;
    if ((ctx = lookup(t, sni)) == NULL) {
        t->stats.sni_unmatched++;
        return SSL_TLSEXT_ERR_NOACK;
    }
    if (ctx != SSL_get_SSL_CTX(ssl) && SSL_set_SSL_CTX(ssl, ctx) != ctx) {
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    return SSL_TLSEXT_ERR_OK;
}

/* Our first protocol the client offers. None: a fatal
 * no_application_protocol alert, so the client fails at once. */
static int
alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
        const unsigned char *in, unsigned int inlen, void *arg)
{
    struct tlsctx *t = arg;
    unsigned char *sel;

    (void)ssl;
    if (SSL_select_next_proto(&sel, outlen, t->alpn, (unsigned)t->alpnlen,
                              in, inlen) != OPENSSL_NPN_NEGOTIATED) {
        t->stats.alpn_refused++;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* Encrypted keys are refused rather than prompted for on a terminal. */
static int
no_passphrase_cb(char *buf, int size, int rwflag, void *arg)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)arg;
    return -1;
}

/* Building */

static int
build_alpn(struct tlsctx *t, const struct cfg_tls *tls, char *err,
           size_t errlen)
{
    static const char *const dflt[] = {"http/1.1"};
    const char *const *list = tls->nalpn > 0 ?
                              (const char *const *)tls->alpn : dflt;
    size_t n = tls->nalpn > 0 ? tls->nalpn : nitems(dflt);

    t->alpnlen = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(list[i]), k;

        for (k = 0; k < nitems(tlsctx_alpn_known); k++) {
            if (strcmp(list[i], tlsctx_alpn_known[k]) == 0)
                break;
        }
        if (k == nitems(tlsctx_alpn_known)) {
            snprintf(err, errlen, "ALPN protocol \"%s\" is not supported "
                     "(weir speaks http/1.1 and http/1.0)", list[i]);
            return -1;
        }
        if (t->alpnlen + 1 + len > sizeof(t->alpn)) {
            snprintf(err, errlen, "too many ALPN protocols");
            return -1;
        }
        t->alpn[t->alpnlen++] = (unsigned char)len;
        memcpy(t->alpn + t->alpnlen, list[i], len);
        t->alpnlen += len;
    }
    return 0;
}

/* A new SSL_CTX with every listener-wide setting. */
static SSL_CTX *
ctx_new(struct tlsctx *t, const struct cfg_tls *tls, char *err,
        size_t errlen)
{
    const char *suites = tls->ciphersuites != NULL ? tls->ciphersuites :
                         TLSCTX_CIPHERSUITES;
    const char *ciphers = tls->ciphers != NULL ? tls->ciphers :
                          TLSCTX_CIPHERS;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (ctx == NULL) {
        tls_fail(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    if (!SSL_CTX_set_min_proto_version(ctx, tls->min_version == 12 ?
                                       TLS1_2_VERSION : TLS1_3_VERSION) ||
        !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)) {
        tls_fail(err, errlen, "cannot set the TLS versions");
        goto fail;
    }
    if (!SSL_CTX_set_ciphersuites(ctx, suites)) {
        tls_fail(err, errlen, "ciphersuites \"%s\"", suites);
        goto fail;
    }
    if (!SSL_CTX_set_cipher_list(ctx, ciphers)) {
        tls_fail(err, errlen, "ciphers \"%s\"", ciphers);
        goto fail;
    }
    if (!SSL_CTX_set1_groups_list(ctx, TLSCTX_GROUPS)) {
        tls_fail(err, errlen, "groups \"%s\"", TLSCTX_GROUPS);
        goto fail;
    }
    /* Server preference, but a client that puts ChaCha20 first (no AES
     * hardware) gets it. Tickets stay on: they are the only resumption. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                             SSL_OP_CIPHER_SERVER_PREFERENCE |
                             SSL_OP_PRIORITIZE_CHACHA);
    SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
                          SSL_MODE_ENABLE_PARTIAL_WRITE |
                          SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_max_early_data(ctx, 0);
    SSL_CTX_set_dh_auto(ctx, 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)TLSCTX_SID_CTX,
                                   sizeof(TLSCTX_SID_CTX) - 1);
    SSL_CTX_set_timeout(ctx, 2 * TLSCTX_TICKET_PERIOD);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, t);
    SSL_CTX_set_default_passwd_cb(ctx, no_passphrase_cb);
    SSL_CTX_set_app_data(ctx, t);
    return ctx;

fail:
    SSL_CTX_free(ctx);
    return NULL;
}

/* One bit per OpenSSL certificate slot; 0 for types never grouped. */
static unsigned
key_type_bit(X509 *x)
{
    EVP_PKEY *pub = X509_get0_pubkey(x);

    switch (pub != NULL ? EVP_PKEY_get_base_id(pub) : 0) {
    case EVP_PKEY_RSA:
        return 1u << 0;
    case EVP_PKEY_RSA_PSS:
        return 1u << 1;
    case EVP_PKEY_EC:
        return 1u << 2;
    case EVP_PKEY_ED25519:
        return 1u << 3;
    case EVP_PKEY_ED448:
        return 1u << 4;
    default:
        return 0;
    }
}

static X509 *
read_leaf(const char *path, char *err, size_t errlen)
{
    X509 *x = NULL;
    FILE *f = fopen(path, "re");

    if (f != NULL) {
        x = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
    }
    if (x == NULL)
        tls_fail(err, errlen, "cannot read certificate \"%s\"", path);
    return x;
}

static time_t
asn1_time(const ASN1_TIME *a)
{
    struct tm tm;

    if (ASN1_TIME_to_tm(a, &tm) != 1)
        return 0;
    return timegm(&tm);
}

/* The slot certificate X joins: an earlier one with the same names and no
 * certificate of X's key type yet, or a new one. NAMES moves in when new. */
static struct tlsctx_slot *
slot_for(struct tlsctx *t, const struct cfg_tls *tls, X509 *x,
         struct tlsctx_name **names, size_t *nnames, char *err,
         size_t errlen)
{
    unsigned bit = key_type_bit(x);
    struct tlsctx_slot *s;

    for (size_t i = 0; bit != 0 && i < t->nslots; i++) {
        s = &t->slots[i];
        if (!(s->key_types & bit) &&
            names_equal(s->names, s->nnames, *names, *nnames)) {
            s->key_types |= bit;
            return s;
        }
    }
    s = &t->slots[t->nslots];
    if ((s->ctx = ctx_new(t, tls, err, errlen)) == NULL)
        return NULL;
    t->nslots++;
    s->key_types = bit;
    s->names = *names;
    s->nnames = *nnames;
    *names = NULL;
    *nnames = 0;
    return s;
}

static int
load_cert(struct tlsctx *t, const struct cfg_tls *tls, size_t i, char *err,
          size_t errlen)
{
    const struct cfg_tls_cert *c = &tls->certs[i];
    struct tlsctx_name *names = NULL;
    struct tlsctx_slot *s;
    size_t nnames = 0;
    int rc = -1;
    X509 *x;

    if ((x = read_leaf(c->cert, err, errlen)) == NULL)
        return -1;
    t->not_after[i] = asn1_time(X509_get0_notAfter(x));
    if (cert_names(x, &names, &nnames) == -1) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if ((s = slot_for(t, tls, x, &names, &nnames, err, errlen)) == NULL)
        goto out;
    if (SSL_CTX_use_certificate_chain_file(s->ctx, c->cert) != 1) {
        tls_fail(err, errlen, "cannot load certificate \"%s\"", c->cert);
        goto out;
    }
    if (SSL_CTX_use_PrivateKey_file(s->ctx, c->key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(s->ctx) != 1) {
        tls_fail(err, errlen, "cannot use private key \"%s\" with \"%s\"",
                 c->key, c->cert);
        goto out;
    }
    rc = 0;

out:
    names_free(names, nnames);
    X509_free(x);
    return rc;
}

struct tlsctx *
tlsctx_new(const struct cfg_tls *tls, time_t now, char *err, size_t errlen)
{
    struct tlsctx *t;

    if (tls->ncerts == 0 || (tls->min_version != 12 &&
                             tls->min_version != 13)) {
        snprintf(err, errlen, "%s", tls->ncerts == 0 ? "no certificate" :
                 "unsupported TLS minimum version");
        return NULL;
    }
    if ((t = calloc(1, sizeof(*t))) == NULL ||
        (t->slots = calloc(tls->ncerts, sizeof(*t->slots))) == NULL ||
        (t->not_after = calloc(tls->ncerts, sizeof(*t->not_after))) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    t->ncerts = tls->ncerts;
    if (key_make(&t->keys[0], now) == -1) {
        tls_fail(err, errlen, "cannot make a session ticket key");
        goto fail;
    }
    if (build_alpn(t, tls, err, errlen) == -1)
        goto fail;
    for (size_t i = 0; i < tls->ncerts; i++) {
        if (load_cert(t, tls, i, err, errlen) == -1)
            goto fail;
    }
    /* The handshake starts on the default context: SNI is decided there. */
    SSL_CTX_set_tlsext_servername_callback(t->slots[0].ctx, sni_cb);
    SSL_CTX_set_tlsext_servername_arg(t->slots[0].ctx, t);
    ERR_clear_error();
    return t;

fail:
    tlsctx_free(t);
    ERR_clear_error();
    return NULL;
}

void
tlsctx_free(struct tlsctx *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; t->slots != NULL && i < t->nslots; i++) {
        SSL_CTX_free(t->slots[i].ctx);
        names_free(t->slots[i].names, t->slots[i].nnames);
    }
    free(t->slots);
    free(t->not_after);
    OPENSSL_cleanse(t->keys, sizeof(t->keys));
    free(t);
}

SSL_CTX *
tlsctx_default(struct tlsctx *t)
{
    return t->slots[0].ctx;
}

size_t
tlsctx_cert_count(const struct tlsctx *t)
{
    return t->ncerts;
}

time_t
tlsctx_cert_not_after(const struct tlsctx *t, size_t i)
{
    return i < t->ncerts ? t->not_after[i] : 0;
}

void
tlsctx_stats(const struct tlsctx *t, struct tlsctx_stats *out)
{
    *out = t->stats;
}
