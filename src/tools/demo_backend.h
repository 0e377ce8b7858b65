/*
 * Private to weir-demo-backend: the server, connection, request and
 * response types shared by demo_backend.c (process, listener), demo_conn.c
 * (one connection) and demo_reply.c (building responses). Not installed and
 * not used by weir itself.
 */
#ifndef WEIR_DEMO_BACKEND_H
#define WEIR_DEMO_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <http_parser.h>

#include "weir/util/defs.h"

#define RBUF_SIZE      (16 * 1024)
#define CHUNK_MAX      (16 * 1024)
#define WBUF_SIZE      (CHUNK_MAX + 64) /* one whole chunk with framing */
#define HEAD_MAX       (64 * 1024)      /* request line + headers, else 431 */
#define TEXT_MAX       256
#define DELAY_MAX_MS   3600000u
#define BODY_SIZE_MAX  (UINT64_C(1) << 50)
#define WRITE_ROUNDS   64    /* buffers per callback, so one fast reader
                              * cannot starve the other connections */

struct opts {
    const char *listen;
    const char *name;
    uint64_t delay_ms;
    uint64_t size;
    int size_set;
    int status;
    int chunked;
    int health_status;
    int quiet;
};

struct server {
    struct ev_loop *loop;
    struct opts opts;
    int fd;
    struct ev_io accept_io;
    struct ev_timer accept_retry;   /* re-arms accept after EMFILE */
    struct ev_signal sig_term;
    struct ev_signal sig_int;
    int health_status;
    uint64_t conns_accepted;
    uint64_t requests;              /* excluding the control endpoints */
    struct conn *conns;             /* all live connections, for shutdown */
};

/*
 * state        rd                 wr                  timer
 * CONN_READ    armed when drained only for 100 Cont.  -
 * CONN_DELAY   -                  only for 100 Cont.  response delay
 * CONN_WRITE   -                  while socket full   -
 * CONN_ABORT   -                  -                   polls the send queue
 * CONN_LINGER  discards input     -                   bounds the linger
 */
enum conn_state {
    CONN_READ,
    CONN_DELAY,
    CONN_WRITE,
    CONN_ABORT,
    CONN_LINGER,
};

/* Which parser callback paused http_parser_execute(). */
enum parse_ev {
    PARSE_EV_NONE,
    PARSE_EV_BEGIN,
    PARSE_EV_HEADERS,
    PARSE_EV_COMPLETE,
};

enum body_src {
    BODY_TEXT,      /* resp.text */
    BODY_HEAD,      /* the raw request head (headers=1) */
    BODY_PATTERN,   /* generated on the fly */
};

#define REQ_F_IN_HEAD   (1u << 0) /* between message begin and end of head */
#define REQ_F_IN_VALUE  (1u << 1) /* last header callback was a value */
#define REQ_F_EXPECT    (1u << 2) /* Expect: 100-continue seen */
#define REQ_F_KEEPALIVE (1u << 3) /* the client allows another request */
#define REQ_F_HTTP10    (1u << 4) /* HTTP/1.0: no chunked, explicit k-a */

struct req {
    unsigned flags;
    uint64_t body_bytes;
    uint64_t body_hash;
    size_t url_off;         /* into conn.head */
    size_t url_len;
    size_t hname_len;       /* > sizeof(hname) means "too long to matter" */
    size_t hval_len;
    char hname[16];
    char hval[16];
};

#define RESP_F_CHUNKED  (1u << 0) /* Transfer-Encoding: chunked */
#define RESP_F_NOBODY   (1u << 1) /* HEAD, 204 or 304: headers only */
#define RESP_F_ABORT    (1u << 2) /* RST after `limit` body bytes */
#define RESP_F_CLOSE    (1u << 3) /* Connection: close, then close */
#define RESP_F_NOFRAME  (1u << 4) /* neither CL nor TE: close ends the body */
#define RESP_F_LASTCHNK (1u << 5) /* the terminating chunk is written */
#define RESP_F_COUNTED  (1u << 6) /* counts in /_stats */

struct resp {
    unsigned flags;
    int status;
    uint64_t delay_ms;
    enum body_src src;
    uint64_t size;          /* body length announced */
    uint64_t limit;         /* body bytes actually sent */
    uint64_t sent;
    size_t text_len;
    char text[TEXT_MAX];
};

struct conn {
    struct server *srv;
    struct conn *prev;
    struct conn *next;
    int fd;
    enum conn_state state;
    uint64_t id;
    uint64_t nreq;
    struct ev_io rd;
    struct ev_io wr;
    struct ev_timer timer;
    ev_tstamp deadline;
    http_parser parser;
    enum parse_ev ev;
    const char *exec_base;  /* start of the bytes given to the parser */
    struct req req;
    struct resp resp;
    char *head;             /* raw request head, at most HEAD_MAX */
    size_t head_len;
    size_t head_cap;
    size_t rpos;
    size_t rlen;
    size_t wpos;
    size_t wlen;
    char rbuf[RBUF_SIZE];
    char wbuf[WBUF_SIZE];
};

/* demo_backend.c */

/* Parses exactly len decimal digits of s (no sign, no spaces) into *out.
 * Returns -1, leaving *out alone, if s is not a number or exceeds max. */
int parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out);

/* demo_conn.c */

/* Creates a connection on s for the accepted socket fd and starts reading.
 * Takes ownership of fd on success; returns NULL (fd untouched) on
 * failure. */
struct conn *conn_new(struct server *s, int fd);

/* Stops every watcher, closes the socket, unlinks c from its server and
 * frees c. The caller must not touch c again. */
void conn_close(struct conn *c);

/* demo_reply.c */

/* Decides the whole response (status, body source, framing, delay) for the
 * request in c->req and c->head, into c->resp. Writes nothing. */
void resp_plan(struct conn *c);

/* Queues the status line and headers for c->resp in c->wbuf after whatever
 * is already there (a 100 Continue), counts the request if it should be,
 * and switches c to CONN_WRITE. */
void resp_start(struct conn *c);

/* Appends as much of c->resp's body, with its framing, as fits in c->wbuf.
 * If wbuf is still empty afterwards, the whole body has been queued. */
void resp_fill(struct conn *c);

/* Replaces c->resp by a short text error with status, closing the
 * connection after it, and starts it as resp_start() does. text is
 * borrowed and copied. */
void resp_fail(struct conn *c, int status, const char *text);

#endif
