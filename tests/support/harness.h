/* Integration test harness: starts the real weir and demo backends on
 * 127.0.0.1 ephemeral ports, waits for readiness by polling against a
 * deadline (never a fixed sleep), and speaks HTTP over real sockets. */
#ifndef WEIR_TEST_HARNESS_H
#define WEIR_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>
#include <sys/types.h>

#define H_MAX_BACKENDS 8

struct h_proc {
    pid_t pid;
    int port;
    char name[32];
    char log_path[256];  /* stderr (and stdout) of the process */
};

/* A scratch directory for configs and logs, removed by h_env_fini. */
struct h_env {
    char dir[128];
    struct h_proc weir;
    struct h_proc backends[H_MAX_BACKENDS];
    size_t nbackends;
    char config_path[256];
};

void h_env_init(struct h_env *env);
/* Stop every process still running and remove the directory. */
void h_env_fini(struct h_env *env);

/* A port that was free a moment ago (bound to 0 and released). */
int h_free_port(void);

/* Start a demo backend named NAME with extra flags (NULL-terminated list,
 * may be NULL). Learns its ephemeral port from its first stdout line.
 * 0 or -1. */
int h_backend_start(struct h_env *env, const char *name, const char *const *args);

/* Name a backend that the test runs itself (a raw backend, a dead port):
 * it goes into the configuration like the started ones. 0 or -1. */
int h_backend_add(struct h_env *env, const char *name, int port);

/* Write a configuration: one plain listener on a free port, every started
 * backend, the admin socket ENV->dir/admin.sock, then EXTRA_YAML appended
 * verbatim (top-level keys, may be NULL; when it starts with "admin:" it
 * replaces the admin block). Returns 0 or -1; env->weir.port is set. */
int h_write_config(struct h_env *env, const char *extra_yaml);
/* The weirctl binary built next to weir. */
const char *h_weirctl_path(void);
/* Start weir on env->config_path and wait until it accepts. 0 or -1. */
int h_weir_start(struct h_env *env);

/* Send SIG and wait up to TIMEOUT_MS for exit. Returns the exit status
 * (WEXITSTATUS), 128+signal if killed, or -1 on timeout (then SIGKILL). */
int h_proc_stop(struct h_proc *p, int sig, int timeout_ms);
/* Resident set size in KiB, or -1. */
long h_rss_kib(pid_t pid);
/* A field of /proc/PID/status in KiB ("VmRSS", "VmHWM"), or -1. */
long h_status_kib(pid_t pid, const char *field);
/* Print the process log (for failed tests). */
void h_dump_log(const struct h_proc *p);

/* ---- HTTP client ---- */

struct h_response {
    int status;
    char head[16384];      /* raw head, NUL-terminated */
    char *body;            /* malloc'd, NUL-terminated; free with h_response_fini */
    size_t body_len;
    bool chunked;
    bool keep_alive;       /* per HTTP/1.1 rules of the response */
    bool complete;         /* the body ended by its framing (or EOF framing) */
};

/* Connect to 127.0.0.1:PORT (blocking, with a receive timeout). fd or -1. */
int h_connect(int port);
int h_send_all(int fd, const void *p, size_t len);
/* Read one response (stopping at its end, so keep-alive works). If
 * HEAD_ONLY the body is not expected. 0, or -1 on timeout/EOF/error before
 * the head. */
int h_read_response(int fd, struct h_response *r, bool head_only);
void h_response_fini(struct h_response *r);
/* A header's value from the head (case-insensitive name) into OUT, or
 * NULL. */
const char *h_header(const struct h_response *r, const char *name, char *out,
                     size_t outlen);

/* Wait until 127.0.0.1:PORT accepts connections, up to TIMEOUT_MS. 0/-1. */
int h_wait_port(int port, int timeout_ms);

/* Connect to the Unix socket PATH (blocking, with timeouts). fd or -1. */
int h_connect_unix(const char *path);
/* One request over the Unix socket PATH. 0 or -1. */
int h_unix_request(const char *path, const char *raw, struct h_response *r);

/* One request on a new connection: send RAW, read one response, close. */
int h_request(int port, const char *raw, struct h_response *r);
/* GET PATH with Host, on a new connection. */
int h_get(int port, const char *path, struct h_response *r);

/* Milliseconds of a monotonic clock. */
long long h_now_ms(void);



/* Issue TOTAL GETs of PATH from CONCURRENCY threads, one connection per
 * request; CB runs (serialised) for each response. Returns the number of
 * requests that got a response. */
typedef void h_response_fn(const struct h_response *r, void *arg);
int h_parallel_get(int port, const char *path, int total, int concurrency,
                   h_response_fn *cb, void *arg);

/* A steady load of GETs from THREADS threads, one connection per request,
 * every third request to SLOW_PATH and the others to "/"; answers other
 * than 200 count as failed. Bounded: each thread stops after 5000
 * requests or when h_load_stop is called. */
struct h_load {
    int port;
    const char *slow_path;
    volatile int stop;
    int ok, failed;
    pthread_mutex_t mu;
    pthread_t threads[16];
    int nthreads;
};
void h_load_start(struct h_load *ld, int port, int threads, const char *slow_path);
/* Wait (up to 10 s) until MORE further requests have succeeded. */
void h_load_wait(struct h_load *ld, int more);
/* Stop and join the threads. */
void h_load_stop(struct h_load *ld);

/* Wait until the file at PATH contains NEEDLE at least COUNT times, up to
 * TIMEOUT_MS. 0 or -1. */
int h_wait_log(const char *path, const char *needle, int count, int timeout_ms);

/* A hand-made backend inside the test process: it accepts connections,
 * reads what arrives, answers REPLY verbatim and closes. With ACCEPT false
 * it is a black hole: its backlog is filled so further SYNs go unanswered. */
struct h_raw {
    int fd;
    int port;
    int fillers[4];         /* connections that fill the black hole's backlog */
    const char *reply;
    int keepalive;          /* answer this many requests per connection and
                             * close at the next without answering; 0: answer
                             * one and close */
    bool accept;
    volatile int stop;
    volatile int accepted;  /* connections whose first request was not
                             * a health check */
    volatile int health_checks;
    pthread_t thread;
};
int h_raw_start(struct h_raw *raw, const char *reply, bool accept);
void h_raw_stop(struct h_raw *raw);

/* ---- Recording backend (issue 9: framing, limits and faults) ----
 *
 * A backend inside the test process that records everything Weir sends
 * it. Each connection is parsed with http-parser; every complete request
 * is answered with the current reply (h_rec_set_reply), and the connection
 * is kept for the next one unless the reply is marked close. Connections
 * whose first bytes are "GET /health " (Weir's active checks) are answered
 * 200 and left out of every count. One thread, poll(2), at most
 * H_REC_MAX_CONNS connections at once. */
#define H_REC_MAX_CONNS 64
#define H_REC_CAPTURE 65536

struct h_rec_stats {
    long bytes;            /* bytes received on non-health connections */
    int conns;             /* non-health connections accepted */
    int requests;          /* complete requests on them */
    int closed_by_weir;    /* of those, closed by Weir (EOF or reset seen) */
    int open;              /* of those, still open */
};

struct h_rec {
    int fd;
    int port;
    pthread_t thread;
    pthread_mutex_t mu;
    volatile int stop;
    const char *reply;     /* under mu */
    bool close_after;      /* under mu: close once the reply is sent */
    bool reset;            /* under mu: that close is a reset (RST) */
    struct h_rec_stats st; /* under mu */
    char capture[H_REC_CAPTURE]; /* the first bytes received since the last
                                  * reset, NUL-terminated (under mu) */
    size_t capture_len;
};

/* Listen on 127.0.0.1 (ephemeral port) and start the thread. 0 or -1. */
int h_rec_start(struct h_rec *rec, const char *reply);
/* Stop the thread and close every connection. */
void h_rec_stop(struct h_rec *rec);
/* Answer further requests with REPLY (borrowed: must outlive its use),
 * closing the connection after it when CLOSE_AFTER. */
void h_rec_set_reply(struct h_rec *rec, const char *reply, bool close_after);
/* Make the close after a reply a reset (SO_LINGER 0) when RESET. */
void h_rec_set_reset(struct h_rec *rec, bool reset);
/* A snapshot of the counts. */
struct h_rec_stats h_rec_stats(struct h_rec *rec);
/* Zero the counts (except open) and the capture. */
void h_rec_reset(struct h_rec *rec);
/* A copy of the capture into OUT (NUL-terminated, truncated to OUTLEN). */
void h_rec_capture(struct h_rec *rec, char *out, size_t outlen);
/* Wait up to TIMEOUT_MS until closed_by_weir reaches AT_LEAST. 0 or -1. */
int h_rec_wait_closed(struct h_rec *rec, int at_least, int timeout_ms);

/* Read from FD until EOF, a reset or TIMEOUT_MS. Returns the bytes read
 * (discarded), or -1 on timeout. Sets *RESET when the read failed with
 * ECONNRESET. */
long h_read_to_eof(int fd, int timeout_ms, bool *reset);

/* The value of the sample named exactly SAMPLE (with its labels, e.g.
 * "weir_backend_failures_total{backend=\"a\"}") in GET /metrics over the
 * admin socket ENV->dir/admin.sock, or -1. */
long long h_metric(const struct h_env *env, const char *sample);

#endif
