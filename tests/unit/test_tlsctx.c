/* Unit tests for tlsctx: real TLS handshakes between a tlsctx server and
 * an OpenSSL client joined by an in-memory BIO pair (no sockets, no loop):
 * certificate choice by SNI (exact, wildcard, CN, RSA beside ECDSA),
 * chains, ALPN, versions, suites and groups, ticket resumption across key
 * rotations and reloads, and build errors with OpenSSL's reasons. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "weir/config/config.h"
#include "weir/net/tlsctx.h"
#include "weir/util/defs.h"

#define FILES WEIR_TEST_DATA "/config/files/"
#define NOW ((time_t)1700000000)

#define CERT(stem) {FILES stem ".crt", FILES stem ".key"}

static struct cfg_tls_cert certs_ab[] = {CERT("server-a"), CERT("server-b")};
static struct cfg_tls_cert certs_ba[] = {CERT("server-b"), CERT("server-a")};
static struct cfg_tls_cert certs_bc[] = {CERT("server-b"), CERT("server-c")};
static struct cfg_tls_cert certs_dual[] = {CERT("server-a"),
                                           CERT("server-a-rsa")};
static struct cfg_tls_cert certs_chain[] = {CERT("chain")};
static struct cfg_tls_cert certs_expired[] = {CERT("server-a"),
                                              CERT("expired")};

/* A tls block with defaults and CERTS. */
static struct cfg_tls
tls_of(struct cfg_tls_cert *certs, size_t n)
{
    struct cfg_tls tls = {.certs = certs, .ncerts = n, .min_version = 13};

    return tls;
}

static struct tlsctx *
new_ok(const struct cfg_tls *tls)
{
    char err[512];
    struct tlsctx *t = tlsctx_new(tls, NOW, err, sizeof(err));

    if (t == NULL)
        fail_msg("tlsctx_new: %s", err);
    assert_int_equal(ERR_peek_error(), 0);
    return t;
}

static SSL_CTX *
client_ctx(int max_version)
{
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());

    assert_non_null(c);
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
    assert_true(SSL_CTX_set_min_proto_version(c, TLS1_VERSION));
    assert_true(SSL_CTX_set_max_proto_version(c, max_version));
    /* Let the test reach a TLS 1.0/1.1 refusal on the server side. */
    SSL_CTX_set_security_level(c, 0);
    return c;
}

/* Both ends of one in-memory connection. */
struct pair {
    SSL *srv, *cli;
    unsigned long srv_err, cli_err;  /* OpenSSL reason of a failure */
};

static void
pair_init(struct pair *p, SSL_CTX *server, SSL_CTX *client, const char *sni,
          SSL_SESSION *resume)
{
    BIO *bs, *bc;

    memset(p, 0, sizeof(*p));
    p->srv = SSL_new(server);
    p->cli = SSL_new(client);
    assert_non_null(p->srv);
    assert_non_null(p->cli);
    assert_int_equal(BIO_new_bio_pair(&bs, 0, &bc, 0), 1);
    SSL_set_bio(p->srv, bs, bs);
    SSL_set_bio(p->cli, bc, bc);
    SSL_set_accept_state(p->srv);
    SSL_set_connect_state(p->cli);
    if (sni != NULL)
        assert_int_equal(SSL_set_tlsext_host_name(p->cli, sni), 1);
    if (resume != NULL)
        assert_int_equal(SSL_set_session(p->cli, resume), 1);
}

static void
pair_fini(struct pair *p)
{
    /* An orderly close: OpenSSL marks the session of a connection freed
     * without close_notify not resumable. */
    if (SSL_is_init_finished(p->cli))
        SSL_shutdown(p->cli);
    SSL_free(p->srv);
    SSL_free(p->cli);
    ERR_clear_error();
}

/* One step of one end: 1 done, 0 wants more, -1 failed (reason saved). */
static int
step(SSL *ssl, unsigned long *reason)
{
    int r = SSL_do_handshake(ssl), e;

    if (r == 1)
        return 1;
    e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    *reason = ERR_GET_REASON(ERR_peek_last_error());
    ERR_clear_error();
    return -1;
}

/* Drive both ends until both finish (0) or one fails (-1); after a
 * failure the other end runs once more so it reads the alert. Bounded:
 * a hang fails the test. Then the client reads what the server sent after
 * its Finished (TLS 1.3 tickets). */
static int
handshake(struct pair *p)
{
    int cs = 0, ss = 0;
    char c;

    for (int i = 0; i < 20 && (cs != 1 || ss != 1); i++) {
        if (cs == 0)
            cs = step(p->cli, &p->cli_err);
        if (ss == 0)
            ss = step(p->srv, &p->srv_err);
        if (cs == -1 || ss == -1) {
            if (cs == 0)
                cs = step(p->cli, &p->cli_err);
            if (ss == 0)
                ss = step(p->srv, &p->srv_err);
            return -1;
        }
    }
    if (cs != 1 || ss != 1)
        fail_msg("handshake did not finish");
    assert_int_equal(SSL_read(p->cli, &c, 1), -1);
    assert_int_equal(SSL_get_error(p->cli, -1), SSL_ERROR_WANT_READ);
    return 0;
}

/* The name the server's certificate was chosen for. */
static void
assert_peer_is(struct pair *p, const char *host)
{
    X509 *x = SSL_get0_peer_certificate(p->cli);

    assert_non_null(x);
    if (X509_check_host(x, host, 0, 0, NULL) != 1)
        fail_msg("peer certificate is not for %s", host);
}

static void
assert_peer_not(struct pair *p, const char *host)
{
    assert_int_not_equal(X509_check_host(SSL_get0_peer_certificate(p->cli),
                                         host, 0, 0, NULL), 1);
}

/* Handshake with SNI (or none) and check the certificate served. */
static void
expect_cert(struct tlsctx *t, SSL_CTX *client, const char *sni,
            const char *host)
{
    struct pair p;

    pair_init(&p, tlsctx_default(t), client, sni, NULL);
    assert_int_equal(handshake(&p), 0);
    assert_peer_is(&p, host);
    pair_fini(&p);
}

static void
test_default_without_sni(void **state)
{
    struct cfg_tls tls = tls_of(certs_ab, nitems(certs_ab));
    struct tlsctx *t = new_ok(&tls);
    SSL_CTX *c = client_ctx(TLS1_3_VERSION);
    struct pair p;
    const unsigned char *proto;
    unsigned len = 99;
    (void)state;

    /* No SNI and no ALPN: the first certificate, and accepted. */
    pair_init(&p, tlsctx_default(t), c, NULL, NULL);
    assert_int_equal(handshake(&p), 0);
    assert_peer_is(&p, "a.test");
    assert_int_equal(SSL_version(p.cli), TLS1_3_VERSION);
    SSL_get0_alpn_selected(p.cli, &proto, &len);
    assert_int_equal(len, 0);
    assert_string_equal(SSL_get_cipher_name(p.cli), "TLS_AES_256_GCM_SHA384");
    pair_fini(&p);
    SSL_CTX_free(c);
    tlsctx_free(t);
}

static void
test_sni_exact(void **state)
{
    struct cfg_tls tls = tls_of(certs_ab, nitems(certs_ab));
    struct tlsctx *t = new_ok(&tls);
    SSL_CTX *c = client_ctx(TLS1_3_VERSION);
    struct tlsctx_stats st;
    (void)state;

    expect_cert(t, c, "b.test", "b.test");
    expect_cert(t, c, "B.Test.", "b.test");  /* case, a trailing dot */
    expect_cert(t, c, "a.test", "a.test");
    expect_cert(t, c, "unknown.test", "a.test");
    tlsctx_stats(t, &st);
    assert_int_equal(st.sni_unmatched, 1);
    SSL_CTX_free(c);
    tlsctx_free(t);
}

static void
test_sni_wildcard(void **state)
{
    struct cfg_tls tls = tls_of(certs_ba, nitems(certs_ba));
    struct tlsctx *t = new_ok(&tls);
    SSL_CTX *c = client_ctx(TLS1_3_VERSION);
    struct tlsctx_stats st;
    struct pair p;
    (void)state;

    /* b is the default here, so a match is never the fallback. */
    expect_cert(t, c, "x.a.test", "a.test");
    expect_cert(t, c, "X-1.A.TEST", "a.test");
    expect_cert(t, c, "a.test", "a.test");
    /* One label only: deeper names and the bare suffix get the default. */
    pair_init(&p, tlsctx_default(t), c, "x.y.a.test", NULL);
    assert_int_equal(handshake(&p), 0);
    assert_peer_is(&p, "b.test");
    assert_peer_not(&p, "a.test");
    pair_fini(&p);
    expect_cert(t, c, ".a.test", "b.test");
    expect_cert(t, c, "xa.test", "b.test");
    tlsctx_stats(t, &st);
    assert_int_equal(st.sni_unmatched, 3);
    SSL_CTX_free(c);
    tlsctx_free(t);
}

static void
test_cn_fallback(void **state)
{
    struct cfg_tls tls = tls_of(certs_bc, nitems(certs_bc));
    struct tlsctx *t = new_ok(&tls);
    SSL_CTX *c = client_ctx(TLS1_3_VERSION);
    struct pair p;
    (void)state;

    /* server-c has no subjectAltName: its CN names it. */
    pair_init(&p, tlsctx_default(t), c, "c.test", NULL);
    assert_int_equal(handshake(&p), 0);
    assert_peer_not(&p, "b.test");
    assert_int_equal(X509_check_host(SSL_get0_peer_certificate(p.cli),
                                     "c.test", 0,
                                     X509_CHECK_FLAG_ALWAYS_CHECK_SUBJECT,
                                     NULL), 1);
    pair_fini(&p);
    expect_cert(t, c, NULL, "b.test");
    SSL_CTX_free(c);
    tlsctx_free(t);
}

/* The key type the server's certificate has, for a client limited to
 * SIGALGS (TLS 1.3) or CIPHER (TLS 1.2). */
static int
served_key_type(struct tlsctx *t, const char *sigalgs, const char *cipher)
{
    SSL_CTX *c = client_ctx(cipher != NULL ? TLS1_2_VERSION : TLS1_3_VERSION);
    struct pair p;
    int type;

    if (sigalgs != NULL)
        assert_int_equal(SSL_CTX_set1_sigalgs_list(c, sigalgs), 1);
    if (cipher != NULL)
        assert_int_equal(SSL_CTX_set_cipher_list(c, cipher), 1);
    pair_init(&p, tlsctx_default(t), c, "www.a.test", NULL);
    assert_int_equal(handshake(&p), 0);
    assert_peer_is(&p, "www.a.test");
    type = EVP_PKEY_get_base_id(
        X509_get0_pubkey(SSL_get0_peer_certificate(p.cli)));
    pair_fini(&p);
    SSL_CTX_free(c);
    return type;
}

static void
test_rsa_and_ecdsa_for_one_name(void **state)
{
    struct cfg_tls tls = tls_of(certs_dual, nitems(certs_dual));
    struct tlsctx *t;
    (void)state;

    tls.min_version = 12;
    t = new_ok(&tls);
    assert_int_equal(served_key_type(t, "ECDSA+SHA256", NULL), EVP_PKEY_EC);
    assert_int_equal(served_key_type(t, "rsa_pss_rsae_sha256", NULL),
                     EVP_PKEY_RSA);
    assert_int_equal(served_key_type(t, NULL, "ECDHE-RSA-AES128-GCM-SHA256"),
                     EVP_PKEY_RSA);
    assert_int_equal(served_key_type(t, NULL,
                                     "ECDHE-ECDSA-AES128-GCM-SHA256"),
                     EVP_PKEY_EC);
    assert_int_equal(tlsctx_cert_count(t), 2);
    tlsctx_free(t);
}

static void
test_chain_verifies(void **state)
{
    struct cfg_tls tls = tls_of(certs_chain, nitems(certs_chain));
    struct tlsctx *t = new_ok(&tls);
    SSL_CTX *c = client_ctx(TLS1_3_VERSION);
    struct pair p;
    (void)state;

    /* A client that trusts only the test CA verifies the chain sent. */
    assert_int_equal(SSL_CTX_load_verify_locations(c, FILES "ca.crt", NULL),
                     1);
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
    pair_init(&p, tlsctx_default(t), c, "d.test", NULL);
    assert_int_equal(SSL_set1_host(p.cli, "d.test"), 1);
    assert_int_equal(handshake(&p), 0);
    assert_int_equal(SSL_get_verify_result(p.cli), X509_V_OK);
    assert_int_equal(sk_X509_num(SSL_get_peer_cert_chain(p.cli)), 2);
    pair_fini(&p);
    SSL_CTX_free(c);
    tlsctx_free(t);
}

/* ALPN from a client offering WIRE: the protocol chosen ("" for none), or
 * NULL when the handshake failed. */
static const char *
alpn_with(struct tlsctx *t, const char *wire, size_t len, struct pair *p)
{
    static char chosen[32];
    SSL_CTX *c = client_ctx(TLS1_3_VERSION);
    const unsigned char *proto;
    unsigned plen;

    assert_int_equal(SSL_CTX_set_alpn_protos(c, (const unsigned char *)wire,
                                             (unsigned)len), 0);
    pair_init(p, tlsctx_default(t), c, NULL, NULL);
    SSL_CTX_free(c);
    if (handshake(p) == -1)
        return NULL;
    SSL_get0_alpn_selected(p->cli, &proto, &plen);
    snprintf(chosen, sizeof(chosen), "%.*s", (int)plen, proto);
    return chosen;
}

static void
test_alpn(void **state)
{
    struct cfg_tls tls = tls_of(certs_ab, nitems(certs_ab));
    static char *both[] = {"http/1.0", "http/1.1"};
    struct tlsctx *t = new_ok(&tls);
    struct tlsctx_stats st;
    struct pair p;
    (void)state;

    assert_string_equal(alpn_with(t, "\x02h2\x08http/1.1", 12, &p),
                        "http/1.1");
    pair_fini(&p);
    /* h2 only: a clean failure with no_application_protocol, at once. */
    assert_null(alpn_with(t, "\x02h2", 3, &p));
    assert_int_equal(p.srv_err, SSL_R_NO_APPLICATION_PROTOCOL);
    assert_int_equal(p.cli_err, SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL);
    pair_fini(&p);
    tlsctx_stats(t, &st);
    assert_int_equal(st.alpn_refused, 1);
    tlsctx_free(t);

    /* The configured order is ours; the client's order does not matter. */
    tls.alpn = both;
    tls.nalpn = nitems(both);
    t = new_ok(&tls);
    assert_string_equal(alpn_with(t, "\x08http/1.1\x08http/1.0", 18, &p),
                        "http/1.0");
    pair_fini(&p);
    assert_string_equal(alpn_with(t, "\x08http/1.1", 9, &p), "http/1.1");
    pair_fini(&p);
    tlsctx_free(t);
}

/* Handshake of a client capped at MAX_VERSION: the version, or -1. */
static int
version_with(struct tlsctx *t, int max_version, struct pair *p)
{
    SSL_CTX *c = client_ctx(max_version);

    pair_init(p, tlsctx_default(t), c, NULL, NULL);
    SSL_CTX_free(c);
    return handshake(p) == 0 ? SSL_version(p->cli) : -1;
}

static void
test_versions(void **state)
{
    struct cfg_tls tls = tls_of(certs_ab, nitems(certs_ab));
    struct tlsctx *t = new_ok(&tls);
    struct pair p;
    (void)state;

    /* min_version 1.3 (the default) refuses a TLS 1.2 client. */
    assert_int_equal(version_with(t, TLS1_2_VERSION, &p), -1);
    assert_int_equal(p.srv_err, SSL_R_UNSUPPORTED_PROTOCOL);
    assert_int_equal(p.cli_err, SSL_R_TLSV1_ALERT_PROTOCOL_VERSION);
    pair_fini(&p);
    tlsctx_free(t);

    tls.min_version = 12;
    t = new_ok(&tls);
    assert_int_equal(version_with(t, TLS1_2_VERSION, &p), TLS1_2_VERSION);
    /* Server preference: the strongest suite of the default list. */
    assert_string_equal(SSL_get_cipher_name(p.cli),
                        "ECDHE-ECDSA-AES256-GCM-SHA384");
    pair_fini(&p);
    assert_int_equal(version_with(t, TLS1_3_VERSION, &p), TLS1_3_VERSION);
    pair_fini(&p);
    assert_int_equal(version_with(t, TLS1_1_VERSION, &p), -1);
    pair_fini(&p);
    tlsctx_free(t);
}

/* Handshake of a TLS 1.3 client limited to SUITES and GROUPS (NULL: its
 * defaults): the suite, or NULL. */
static const char *
suite_with(struct tlsctx *t, const char *suites, const char *groups)
{
    SSL_CTX *c = client_ctx(TLS1_3_VERSION);
    const char *name = NULL;
    struct pair p;

    if (suites != NULL)
        assert_int_equal(SSL_CTX_set_ciphersuites(c, suites), 1);
    if (groups != NULL)
        assert_int_equal(SSL_CTX_set1_groups_list(c, groups), 1);
    pair_init(&p, tlsctx_default(t), c, NULL, NULL);
    if (handshake(&p) == 0)
        name = SSL_CIPHER_get_name(SSL_get_current_cipher(p.cli));
    pair_fini(&p);
    SSL_CTX_free(c);
    return name;
}

static void
test_suites_and_groups(void **state)
{
    struct cfg_tls tls = tls_of(certs_ab, nitems(certs_ab));
    struct tlsctx *t = new_ok(&tls);
    (void)state;

    assert_string_equal(suite_with(t, "TLS_AES_128_GCM_SHA256", NULL),
                        "TLS_AES_128_GCM_SHA256");
    assert_string_equal(suite_with(t, "TLS_CHACHA20_POLY1305_SHA256", NULL),
                        "TLS_CHACHA20_POLY1305_SHA256");
    assert_null(suite_with(t, "TLS_AES_128_CCM_SHA256", NULL));
    /* Groups: X25519 and P-256 only. */
    assert_non_null(suite_with(t, NULL, "P-256"));
    assert_non_null(suite_with(t, NULL, "X25519"));
    assert_null(suite_with(t, NULL, "P-384"));
    assert_null(suite_with(t, NULL, "ffdhe2048"));
    tlsctx_free(t);

    tls.ciphersuites = "TLS_CHACHA20_POLY1305_SHA256";
    t = new_ok(&tls);
    assert_string_equal(suite_with(t, NULL, NULL),
                        "TLS_CHACHA20_POLY1305_SHA256");
    assert_null(suite_with(t, "TLS_AES_256_GCM_SHA384", NULL));
    tlsctx_free(t);
}

/* A full handshake with SNI: its resumable session (caller frees). */
static SSL_SESSION *
first_session(struct tlsctx *t, SSL_CTX *c, const char *sni)
{
    SSL_SESSION *s;
    struct pair p;

    pair_init(&p, tlsctx_default(t), c, sni, NULL);
    assert_int_equal(handshake(&p), 0);
    assert_false(SSL_session_reused(p.srv));
    s = SSL_get1_session(p.cli);
    assert_non_null(s);
    assert_true(SSL_SESSION_is_resumable(s));
    /* No 0-RTT: the ticket allows no early data. */
    assert_int_equal(SSL_SESSION_get_max_early_data(s), 0);
    pair_fini(&p);
    return s;
}

/* Offer S: 1 if the server resumed it, 0 for a full handshake. *NEXT (if
 * not NULL) gets the client's latest session. */
static int
resume(struct tlsctx *t, SSL_CTX *c, const char *sni, SSL_SESSION *s,
       SSL_SESSION **next)
{
    struct pair p;
    int reused;

    pair_init(&p, tlsctx_default(t), c, sni, s);
    assert_int_equal(handshake(&p), 0);
    reused = SSL_session_reused(p.srv);
    assert_int_equal(reused, SSL_session_reused(p.cli));
    if (sni != NULL)
        assert_peer_is(&p, sni);
    if (next != NULL)
        *next = SSL_get1_session(p.cli);
    pair_fini(&p);
    return reused;
}

static void
test_resumption(void **state)
{
    struct cfg_tls tls = tls_of(certs_ab, nitems(certs_ab));
    struct tlsctx *t;
    SSL_CTX *c = client_ctx(TLS1_3_VERSION);
    SSL_SESSION *s;
    (void)state;

    tls.min_version = 12;
    t = new_ok(&tls);
    s = first_session(t, c, NULL);
    assert_int_equal(resume(t, c, NULL, s, NULL), 1);
    SSL_SESSION_free(s);
    /* With SNI on a non-default certificate. */
    s = first_session(t, c, "b.test");
    assert_int_equal(resume(t, c, "b.test", s, NULL), 1);
    SSL_SESSION_free(s);
    SSL_CTX_free(c);
    /* TLS 1.2 tickets (RFC 5077) too. */
    c = client_ctx(TLS1_2_VERSION);
    s = first_session(t, c, NULL);
    assert_int_equal(resume(t, c, NULL, s, NULL), 1);
    SSL_SESSION_free(s);
    SSL_CTX_free(c);
    tlsctx_free(t);
}

static void
test_ticket_rotation(void **state)
{
    struct cfg_tls tls = tls_of(certs_ab, nitems(certs_ab));
    struct tlsctx *t = new_ok(&tls);
    SSL_CTX *c = client_ctx(TLS1_3_VERSION);
    SSL_SESSION *s0, *s1;
    struct tlsctx_stats st;
    (void)state;

    s0 = first_session(t, c, NULL);
    assert_int_equal(tlsctx_rotate_tickets(t, NOW + TLSCTX_TICKET_PERIOD - 1),
                     0);
    assert_int_equal(tlsctx_rotate_tickets(t, NOW + TLSCTX_TICKET_PERIOD), 1);
    /* One rotation: the previous key still opens it, and a fresh ticket
     * under the new key comes back. */
    assert_int_equal(resume(t, c, NULL, s0, &s1), 1);
    tlsctx_stats(t, &st);
    assert_int_equal(st.ticket_renewed, 1);
    assert_int_equal(tlsctx_rotate_tickets(t, NOW + TLSCTX_TICKET_PERIOD + 1),
                     0);
    assert_int_equal(tlsctx_rotate_tickets(t, NOW + 2 * TLSCTX_TICKET_PERIOD),
                     1);
    /* Two rotations: s0's key is gone, a full handshake instead. */
    assert_int_equal(resume(t, c, NULL, s0, NULL), 0);
    tlsctx_stats(t, &st);
    assert_int_equal(st.ticket_unknown, 1);
    assert_int_equal(resume(t, c, NULL, s1, NULL), 1);
    /* A clock stepped back rotates rather than keeping a key too long. */
    assert_int_equal(tlsctx_rotate_tickets(t, NOW), 1);
    SSL_SESSION_free(s0);
    SSL_SESSION_free(s1);
    SSL_CTX_free(c);
    tlsctx_free(t);
}

static void
test_tickets_across_reload(void **state)
{
    struct cfg_tls tls = tls_of(certs_ab, nitems(certs_ab));
    struct tlsctx *old = new_ok(&tls), *fresh = new_ok(&tls);
    SSL_CTX *c = client_ctx(TLS1_3_VERSION);
    SSL_SESSION *s;
    (void)state;

    s = first_session(old, c, NULL);
    /* Keys are per tlsctx: another one cannot open the ticket ... */
    assert_int_equal(resume(fresh, c, NULL, s, NULL), 0);
    /* ... until it inherits them. */
    tlsctx_inherit_tickets(fresh, old);
    tlsctx_free(old);
    assert_int_equal(resume(fresh, c, NULL, s, NULL), 1);
    SSL_SESSION_free(s);
    SSL_CTX_free(c);
    tlsctx_free(fresh);
}

static void
test_context_settings(void **state)
{
    struct cfg_tls tls = tls_of(certs_ab, nitems(certs_ab));
    struct tlsctx *t = new_ok(&tls);
    SSL_CTX *ctx = tlsctx_default(t);
    uint64_t opts = SSL_CTX_get_options(ctx);
    long mode = SSL_CTX_get_mode(ctx);
    (void)state;

    assert_true(opts & SSL_OP_NO_COMPRESSION);
    assert_true(opts & SSL_OP_NO_RENEGOTIATION);
    assert_true(opts & SSL_OP_CIPHER_SERVER_PREFERENCE);
    assert_false(opts & SSL_OP_NO_TICKET);
    assert_true(mode & SSL_MODE_RELEASE_BUFFERS);
    assert_true(mode & SSL_MODE_ENABLE_PARTIAL_WRITE);
    assert_true(mode & SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    assert_int_equal(SSL_CTX_get_max_early_data(ctx), 0);
    assert_int_equal(SSL_CTX_get_session_cache_mode(ctx), SSL_SESS_CACHE_OFF);
    assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_3_VERSION);
    assert_int_equal(SSL_CTX_get_max_proto_version(ctx), TLS1_3_VERSION);
    tlsctx_free(t);
    tlsctx_free(NULL);
}

static void
test_not_after(void **state)
{
    struct cfg_tls tls = tls_of(certs_expired, nitems(certs_expired));
    struct tlsctx *t = new_ok(&tls);
    (void)state;

    /* Dates are the loader's business; the context reports them. */
    assert_int_equal(tlsctx_cert_count(t), 2);
    assert_true(tlsctx_cert_not_after(t, 0) > (time_t)4000000000);
    assert_int_equal(tlsctx_cert_not_after(t, 1), 978307200); /* 2001-01-01 */
    assert_int_equal(tlsctx_cert_not_after(t, 2), 0);
    tlsctx_free(t);
}

/* tlsctx_new must fail with a message containing WANT. */
static void
expect_error(const struct cfg_tls *tls, const char *want)
{
    char err[512] = "";
    struct tlsctx *t = tlsctx_new(tls, NOW, err, sizeof(err));

    if (t != NULL)
        fail_msg("tlsctx_new accepted what should fail with \"%s\"", want);
    if (strstr(err, want) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", err, want);
    assert_int_equal(ERR_peek_error(), 0);
}

static void
test_build_errors(void **state)
{
    static struct cfg_tls_cert mismatch[] = {
        {FILES "server-a.crt", FILES "server-b.key"}};
    static struct cfg_tls_cert missing[] = {
        CERT("server-a"), {FILES "nope.crt", FILES "server-a.key"}};
    static struct cfg_tls_cert encrypted[] = {
        {FILES "server-c.crt", FILES "encrypted.key"}};
    static char *h2[] = {"http/1.1", "h2"};
    struct cfg_tls tls;
    (void)state;

    tls = tls_of(mismatch, nitems(mismatch));
    expect_error(&tls, "cannot use private key \"" FILES "server-b.key\"");
    tls = tls_of(missing, nitems(missing));
    expect_error(&tls, "cannot read certificate \"" FILES "nope.crt\"");
    tls = tls_of(encrypted, nitems(encrypted));
    expect_error(&tls, "cannot use private key");
    tls = tls_of(certs_ab, nitems(certs_ab));
    tls.ciphersuites = "TLS_NO_SUCH_SUITE";
    expect_error(&tls, "ciphersuites \"TLS_NO_SUCH_SUITE\": ");
    tls.ciphersuites = NULL;
    tls.ciphers = "NO-SUCH-CIPHER";
    expect_error(&tls, "ciphers \"NO-SUCH-CIPHER\": no cipher match");
    tls.ciphers = NULL;
    tls.alpn = h2;
    tls.nalpn = nitems(h2);
    expect_error(&tls, "ALPN protocol \"h2\" is not supported");
    tls.nalpn = 0;
    tls.min_version = 11;
    expect_error(&tls, "unsupported TLS minimum version");
    tls.min_version = 13;
    tls.ncerts = 0;
    expect_error(&tls, "no certificate");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_without_sni),
        cmocka_unit_test(test_sni_exact),
        cmocka_unit_test(test_sni_wildcard),
        cmocka_unit_test(test_cn_fallback),
        cmocka_unit_test(test_rsa_and_ecdsa_for_one_name),
        cmocka_unit_test(test_chain_verifies),
        cmocka_unit_test(test_alpn),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_suites_and_groups),
        cmocka_unit_test(test_resumption),
        cmocka_unit_test(test_ticket_rotation),
        cmocka_unit_test(test_tickets_across_reload),
        cmocka_unit_test(test_context_settings),
        cmocka_unit_test(test_not_after),
        cmocka_unit_test(test_build_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
