/* A listener's TLS server contexts, built from its `tls` block: protocol
 * versions, suites, groups, certificates chosen by SNI, ALPN, and session
 * tickets whose keys rotate. The transport SSL_new()s from
 * tlsctx_default(); the handshake picks the rest. */
#ifndef WEIR_TLSCTX_H
#define WEIR_TLSCTX_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct cfg_tls;
struct tlsctx;

/* Ticket keys: a new key encrypts tickets every TLSCTX_TICKET_PERIOD
 * seconds, and the one before still decrypts them (the ticket is then
 * renewed) for one more period; older tickets get a full handshake. Keys
 * live only in memory and are wiped when replaced or freed. */
#define TLSCTX_TICKET_PERIOD 3600

/* The default TLS 1.3 suites, and the TLS 1.2 list (forward-secret AEAD
 * only) used when `ciphersuites` or `ciphers` is not configured. */
#define TLSCTX_CIPHERSUITES                                            \
    "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:"             \
    "TLS_AES_128_GCM_SHA256"
#define TLSCTX_CIPHERS                                                 \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"       \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"       \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"
#define TLSCTX_GROUPS "X25519:P-256"

/* Events counted by the handshake callbacks (the transport counts the
 * handshake failures themselves). */
struct tlsctx_stats {
    uint64_t sni_unmatched;   /* SNI named no certificate: default served */
    uint64_t alpn_refused;    /* ALPN offered, none we speak: handshake
                                 failed with no_application_protocol */
    uint64_t ticket_unknown;  /* ticket key rotated out (or forged): full
                                 handshake */
    uint64_t ticket_renewed;  /* resumed with the previous key */
};

/* Build the contexts for TLS (borrowed; the loader has checked it) at time
 * NOW (stamps the first ticket key). Certificates are loaded as chains
 * (leaf first); the first is the default. A certificate whose DNS names
 * equal an earlier one's but whose key type differs (RSA beside ECDSA)
 * joins that one's context, and OpenSSL serves whichever the client can
 * verify. ALPN names other than "http/1.1" and "http/1.0" are refused
 * (weir speaks nothing else). Returns a new tlsctx, or NULL with a
 * message (OpenSSL's reason included) in ERR. Leaves OpenSSL's error
 * queue empty. */
struct tlsctx *tlsctx_new(const struct cfg_tls *tls, time_t now, char *err,
                          size_t errlen);

/* Free T and wipe its ticket keys. The SSL objects made from it hold
 * their own references to the SSL_CTXs, but the callbacks use T: free it
 * only when no handshake from it can still run (the generation's
 * reference count sees to that). tlsctx_free(NULL) is a no-op. */
void tlsctx_free(struct tlsctx *t);

/* The context to SSL_new() from (borrowed, lives as long as T). SNI may
 * switch a connection to another of T's contexts during the handshake. */
SSL_CTX *tlsctx_default(struct tlsctx *t);

/* Rotate the ticket keys if the current one is TLSCTX_TICKET_PERIOD old at
 * NOW (or NOW went backwards). Call it from a periodic timer, as often as
 * you like. Returns 1 if rotated, 0 if not due, -1 if no random key could
 * be made (then nothing changed). */
int tlsctx_rotate_tickets(struct tlsctx *t, time_t now);

/* Copy FROM's ticket keys into T (a reload's new generation), so sessions
 * resume across the reload. Borrows FROM. */
void tlsctx_inherit_tickets(struct tlsctx *t, const struct tlsctx *from);

/* Certificates in configuration order: how many, and the notAfter of
 * certificate I (for the expiry metric and warning). */
size_t tlsctx_cert_count(const struct tlsctx *t);
time_t tlsctx_cert_not_after(const struct tlsctx *t, size_t i);

/* A copy of the counters. */
void tlsctx_stats(const struct tlsctx *t, struct tlsctx_stats *out);

#endif
