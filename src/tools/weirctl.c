/* weirctl: the admin API client. Parses the command line, finds the admin
 * socket, calls the API (weirctl_http.c) and turns the JSON answers into
 * tables, messages and exit codes: 0 ok, 1 runtime failure (weir not
 * reachable, server error), 2 usage error, unknown backend or rejected
 * configuration, 3 drain --wait ran out of time. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "weir/config/config.h"
#include "weir/util/buf.h"
#include "weir/util/defs.h"
#include "weir/util/duration.h"
#include "weir/util/json.h"
#include "weirctl_http.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
#define EXIT_TIMEOUT 3

#define DEFAULT_SOCKET "/tmp/weir-admin.sock"
#define DEFAULT_CONFIG "conf/weir.yaml"
#define REQUEST_TIMEOUT_MS 10000
#define POLL_INTERVAL_MS 200
#define DRAIN_TIMEOUT_MS (300 * 1000)
#define MAX_JSON_VALUES (1u << 20)
#define MAX_ARGS 4

struct ctl {
    const char *socket;
    char *socket_owned;          /* from the configuration, freed at exit */
    const char *socket_note;     /* why the default socket is used, or NULL */
    bool json;
    bool wait;
    bool timeout_set;
    uint64_t timeout_ms;
    const char *args[MAX_ARGS];  /* the command and its operands */
    size_t nargs;
};

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: weirctl [-s SOCKET] [--json] status\n"
            "       weirctl [-s SOCKET] [--json] drain NAME [--wait] "
            "[--timeout SECONDS]\n"
            "       weirctl [-s SOCKET] [--json] enable NAME\n"
            "       weirctl [-s SOCKET] [--json] weight NAME N|reset\n"
            "       weirctl [-s SOCKET] [--json] reload\n"
            "       weirctl [-s SOCKET] [--json] health\n"
            "The socket defaults to $WEIR_SOCKET, else admin.socket of "
            DEFAULT_CONFIG ",\nelse " DEFAULT_SOCKET ".\n"
            "Exit codes: 0 ok, 1 failure, 2 usage error, unknown backend or "
            "invalid\nconfiguration, 3 drain --wait timed out.\n");
}

static int WEIR_PRINTF(1, 2)
usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("weirctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    usage(stderr);
    return EXIT_USAGE;
}

/* A bad operand value: the message alone, exit 2. */
static int WEIR_PRINTF(1, 2)
value_error(const char *fmt, ...)
{
    va_list ap;

    fputs("weirctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return EXIT_USAGE;
}

static long long
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(long long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

/* The socket when -s was not given: $WEIR_SOCKET, then admin.socket of the
 * default configuration if that file is there and valid, then the
 * built-in default. */
static void
find_socket(struct ctl *c)
{
    const char *env = getenv("WEIR_SOCKET");

    if (env != NULL && env[0] != '\0') {
        c->socket = env;
        return;
    }
    c->socket = DEFAULT_SOCKET;
    if (access(DEFAULT_CONFIG, F_OK) == -1)
        return;
    struct cfg_errors errs = {0};
    struct cfg *cfg = cfg_load(DEFAULT_CONFIG, &errs);
    if (cfg != NULL && cfg->admin.socket != NULL)
        c->socket_owned = strdup(cfg->admin.socket);
    if (c->socket_owned != NULL)
        c->socket = c->socket_owned;
    else
        c->socket_note = DEFAULT_CONFIG " could not be loaded, so the "
                         "default socket was tried";
    cfg_free(cfg);
    cfg_errors_fini(&errs);
}

/* Option value: "--opt=V" or the next argument. NULL when missing. */
static const char *
opt_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) == 0 && argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (*i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

static bool
opt_is(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

/* Fill C from the command line. -1: carry on; otherwise the exit code. */
static int
parse_args(struct ctl *c, int argc, char **argv)
{
    bool options = true;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        /* "-1" is an operand (a bad weight), not an option. */
        if (options && a[0] == '-' && a[1] != '\0'
            && !(a[1] >= '0' && a[1] <= '9')) {
            if (strcmp(a, "--") == 0) {
                options = false;
            } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
                usage(stdout);
                return 0;
            } else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
                printf("weirctl %s\n", WEIR_VERSION);
                return 0;
            } else if (strcmp(a, "--json") == 0) {
                c->json = true;
            } else if (strcmp(a, "--wait") == 0) {
                c->wait = true;
            } else if (strcmp(a, "-s") == 0 || opt_is(a, "--socket")) {
                if ((v = opt_value(argc, argv, &i, "--socket")) == NULL || !*v)
                    return usage_error("%s needs a socket path", a);
                c->socket = v;
            } else if (opt_is(a, "--timeout")) {
                if ((v = opt_value(argc, argv, &i, "--timeout")) == NULL)
                    return usage_error("%s needs a number of seconds", a);
                if (duration_parse(v, &c->timeout_ms) == -1)
                    return value_error("bad --timeout '%s' (seconds, or a "
                                       "duration such as 500ms or 5m)", v);
                c->timeout_set = true;
            } else {
                return usage_error("unknown option %s", a);
            }
            continue;
        }
        if (c->nargs == MAX_ARGS)
            return usage_error("unexpected argument '%s'", a);
        c->args[c->nargs++] = a;
    }
    if (c->nargs == 0)
        return usage_error("%s", "no command given");
    return -1;
}

/* "weirctl: MESSAGE" for a failed call; the exit code for it. */
static int
transport_error(const struct ctl *c, enum ctl_http_rc rc, const char *err)
{
    if (rc == CTL_HTTP_CONNECT) {
        fprintf(stderr, "weirctl: %s (is weir running?)\n", err);
        if (c->socket_note != NULL)
            fprintf(stderr, "weirctl: note: %s\n", c->socket_note);
        return EXIT_RUNTIME;
    }
    fprintf(stderr, "weirctl: %s: %s\n", c->socket, err);
    return rc == CTL_HTTP_BADPATH ? EXIT_USAGE : EXIT_RUNTIME;
}

/* One API call. 0 with *RESP filled, or the exit code after a message. */
static int
call(const struct ctl *c, const char *method, const char *path,
     const char *body, struct ctl_response *resp)
{
    char err[512];
    enum ctl_http_rc rc = ctl_http_request(c->socket, method, path, body,
                                           REQUEST_TIMEOUT_MS, resp, err,
                                           sizeof(err));
    return rc == CTL_HTTP_OK ? 0 : transport_error(c, rc, err);
}

/* Parse RESP's body; NULL after a message when it is not JSON. */
static struct json_doc *
parse_body(const struct ctl_response *resp)
{
    char err[128];
    struct json_doc *doc = json_parse(resp->body, resp->body_len,
                                      MAX_JSON_VALUES, err, sizeof(err));
    if (doc == NULL)
        fprintf(stderr, "weirctl: invalid JSON from weir (HTTP %d): %s\n",
                resp->status, err);
    return doc;
}

static void
print_raw(const struct ctl_response *resp)
{
    fwrite(resp->body, 1, resp->body_len, stdout);
    if (resp->body_len == 0 || resp->body[resp->body_len - 1] != '\n')
        putchar('\n');
}

/* Print S with control characters replaced, so a server cannot steer the
 * terminal. */
static void
print_clean(FILE *out, const char *s)
{
    for (; *s != '\0'; s++)
        fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, out);
}

/* A non-2xx answer: message and exit code. NAME is the backend the call
 * was about, or NULL. With --json the body is printed instead. */
static int
api_error(const struct ctl *c, const struct ctl_response *resp,
          const char *name)
{
    int code = EXIT_RUNTIME;

    if (resp->status == 400 || resp->status == 422
        || (resp->status == 404 && name != NULL))
        code = EXIT_USAGE;
    if (c->json) {
        print_raw(resp);
        return code;
    }
    if (resp->status == 404 && name != NULL) {
        fputs("weirctl: unknown backend ", stderr);
        print_clean(stderr, name);
        fputc('\n', stderr);
        return code;
    }
    struct json_doc *doc = json_parse(resp->body, resp->body_len,
                                      MAX_JSON_VALUES, NULL, 0);
    const char *msg = json_string(json_get(doc ? json_root(doc) : NULL,
                                           "error"), NULL);
    fprintf(stderr, "weirctl: %s: HTTP %d: ", c->args[0], resp->status);
    print_clean(stderr, msg != NULL ? msg : resp->body_len ? resp->body
                                                          : "(no message)");
    fputc('\n', stderr);
    json_doc_free(doc);
    return code;
}

/* A string member for display, "-" when absent. */
static const char *
field(const struct json_value *obj, const char *key)
{
    const char *s = json_string(json_get(obj, key), NULL);
    return s != NULL ? s : "-";
}

/* An integer member formatted into OUT, "-" when absent. */
static const char *
int_field(const struct json_value *obj, const char *key, char *out, size_t n)
{
    int64_t v;
    if (json_int(json_get(obj, key), &v) == -1)
        return "-";
    snprintf(out, n, "%lld", (long long)v);
    return out;
}

/* Display width of S: UTF-8 continuation bytes take no column. */
static size_t
width(const char *s)
{
    size_t w = 0;
    for (; *s != '\0'; s++)
        w += ((unsigned char)*s & 0xc0) != 0x80;
    return w;
}

#define NCOLS 8

/* One table row; string cells point into the doc or into NUMS. */
struct row {
    const char *cell[NCOLS];
    char nums[3][48];
};

static void
fill_row(struct row *r, const struct json_value *b)
{
    int64_t w, ew;

    r->cell[0] = field(b, "name");
    r->cell[1] = field(b, "address");
    r->cell[2] = field(b, "state");
    r->cell[3] = field(b, "health");
    r->cell[4] = int_field(b, "inflight", r->nums[0], sizeof(r->nums[0]));
    r->cell[5] = int_field(b, "requests_total", r->nums[1], sizeof(r->nums[1]));
    r->cell[6] = int_field(b, "weight", r->nums[2], sizeof(r->nums[2]));
    if (json_int(json_get(b, "weight"), &w) == 0
        && json_int(json_get(b, "effective_weight"), &ew) == 0 && w != ew) {
        snprintf(r->nums[2], sizeof(r->nums[2]), "%lld/%lld", (long long)ew,
                 (long long)w);
        r->cell[6] = r->nums[2];
    }
    /* Why the health is what it is: the reason of its last change. */
    r->cell[7] = field(b, "health_reason");
}

/* The status table: text columns left-aligned, numbers right-aligned,
 * two spaces between columns, no trailing blanks. */
static int
print_status(const struct json_value *root)
{
    static const char *const head[NCOLS] = {
        "NAME", "ADDRESS", "STATE", "HEALTH", "INFLIGHT", "TOTAL", "WEIGHT",
        "REASON"};
    const struct json_value *backends = json_get(root, "backends");
    size_t n = json_count(backends), wid[NCOLS];

    if (json_type(backends) != JSON_ARRAY) {
        fprintf(stderr, "weirctl: status: no backend list in the answer\n");
        return EXIT_RUNTIME;
    }
    struct row *rows = calloc(n + 1, sizeof(*rows));
    if (rows == NULL) {
        fprintf(stderr, "weirctl: out of memory\n");
        return EXIT_RUNTIME;
    }
    /* Which configuration is in force: a reload shows here. */
    int64_t gen;
    const char *state = json_string(json_get(root, "state"), NULL);
    if (json_int(json_get(root, "generation"), &gen) == 0) {
        printf("generation %lld", (long long)gen);
        if (state != NULL) {
            fputs(", ", stdout);
            print_clean(stdout, state);
        }
        fputc('\n', stdout);
    }
    for (size_t k = 0; k < NCOLS; k++) {
        rows[0].cell[k] = head[k];
        wid[k] = width(head[k]);
    }
    size_t i = 1;
    for (const struct json_value *b = json_first(backends); b != NULL;
         b = json_next(b), i++) {
        fill_row(&rows[i], b);
        for (size_t k = 0; k < NCOLS; k++)
            if (width(rows[i].cell[k]) > wid[k])
                wid[k] = width(rows[i].cell[k]);
    }
    for (i = 0; i <= n; i++) {
        for (size_t k = 0; k < NCOLS; k++) {
            size_t pad = wid[k] - width(rows[i].cell[k]);
            bool right = k >= 4 && k <= 6, last = k + 1 == NCOLS;
            if (right)
                printf("%*s", (int)pad, "");
            print_clean(stdout, rows[i].cell[k]);
            if (!right && !last)
                printf("%*s", (int)pad, "");
            /* No trailing blanks when the last column is empty. */
            bool empty_next = !last && k + 2 == NCOLS &&
                              rows[i].cell[k + 1][0] == '\0';
            fputs(last ? "\n" : empty_next ? "" : "  ", stdout);
        }
    }
    free(rows);
    return 0;
}

static int
cmd_status(const struct ctl *c)
{
    struct ctl_response resp;
    int rc = call(c, "GET", "/status", NULL, &resp);

    if (rc != 0)
        return rc;
    if (resp.status != 200) {
        rc = api_error(c, &resp, NULL);
    } else if (c->json) {
        print_raw(&resp);
    } else {
        struct json_doc *doc = parse_body(&resp);
        rc = doc ? print_status(json_root(doc)) : EXIT_RUNTIME;
        json_doc_free(doc);
    }
    ctl_response_fini(&resp);
    return rc;
}

/* "/backends/NAME/ACTION" with NAME percent-encoded. */
static void
backend_path(char *out, size_t outlen, const char *name, const char *action)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t k = (size_t)snprintf(out, outlen, "/backends/");

    for (const unsigned char *p = (const unsigned char *)name;
         *p != '\0' && k + 4 < outlen; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
            || (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL) {
            out[k++] = (char)*p;
        } else {
            out[k++] = '%';
            out[k++] = hex[*p >> 4];
            out[k++] = hex[*p & 15];
        }
    }
    snprintf(out + k, outlen - k, "/%s", action);
}

/* METHOD on /backends/NAME/ACTION. 0 with the answer's backend object in
 * *DOC (the caller frees it), or NULL after printing the raw body when
 * RAW; or an exit code after a message. */
static int
backend_call(const struct ctl *c, const char *method, const char *name,
             const char *action, const char *body, bool raw,
             struct json_doc **doc)
{
    char path[1024];
    struct ctl_response resp;
    int rc;

    *doc = NULL;
    if (strlen(name) > 200)
        return value_error("backend name too long: %.40s...", name);
    backend_path(path, sizeof(path), name, action);
    if ((rc = call(c, method, path, body, &resp)) != 0)
        return rc;
    if (resp.status < 200 || resp.status > 299)
        rc = api_error(c, &resp, name);
    else if (raw)
        print_raw(&resp);
    else if ((*doc = parse_body(&resp)) == NULL)
        rc = EXIT_RUNTIME;
    ctl_response_fini(&resp);
    return rc;
}

/* The backend NAME in a /status answer, or NULL. */
static const struct json_value *
find_backend(const struct json_value *root, const char *name)
{
    for (const struct json_value *b = json_first(json_get(root, "backends"));
         b != NULL; b = json_next(b)) {
        const char *n = json_string(json_get(b, "name"), NULL);
        if (n != NULL && strcmp(n, name) == 0)
            return b;
    }
    return NULL;
}

/* Print backend object B compactly on stdout (for --json --wait). */
static void
print_value(const struct json_value *b)
{
    struct buf out;
    struct json_writer w;

    if (buf_init(&out, CTL_BODY_MAX) == -1)
        return;
    json_writer_init(&w, &out);
    json_write_value(&w, b);
    if (json_write_finish(&w) == 0)
        printf("%.*s\n", (int)buf_len(&out), buf_rptr(&out));
    buf_fini(&out);
}

/* Poll /status until NAME is drained or the deadline passes. */
static int
wait_drained(const struct ctl *c, const char *name)
{
    long long deadline = now_ms() + (long long)c->timeout_ms;
    bool tty = !c->json && isatty(STDOUT_FILENO);
    bool shown = false;
    int rc = 0;
    int64_t inflight = -1;
    const char *lost = NULL;     /* why the backend can no longer drain */

    for (;;) {
        struct ctl_response resp;
        if ((rc = call(c, "GET", "/status", NULL, &resp)) != 0)
            break;
        if (resp.status != 200) {
            rc = api_error(c, &resp, NULL);
            ctl_response_fini(&resp);
            break;
        }
        struct json_doc *doc = parse_body(&resp);
        ctl_response_fini(&resp);
        if (doc == NULL) {
            rc = EXIT_RUNTIME;
            break;
        }
        const struct json_value *b = find_backend(json_root(doc), name);
        const char *state = json_string(json_get(b, "state"), NULL);
        if (json_int(json_get(b, "inflight"), &inflight) == -1)
            inflight = -1;
        bool drained = state != NULL && strcmp(state, "drained") == 0;
        bool timed_out = !drained && now_ms() >= deadline;
        if (b == NULL || (state != NULL && strcmp(state, "enabled") == 0)) {
            lost = b == NULL ? "disappeared" : "was enabled again";
            rc = EXIT_RUNTIME;
        } else if (c->json && (drained || timed_out)) {
            print_value(b);
        }
        json_doc_free(doc);
        if (rc != 0 || drained || timed_out) {
            rc = rc != 0 ? rc : drained ? 0 : EXIT_TIMEOUT;
            break;
        }
        if (tty) {
            /* Trailing blanks erase what a longer count left behind. */
            printf("\rdraining %s: %lld in flight    ", name,
                   (long long)inflight);
            fflush(stdout);
            shown = true;
        }
        long long left = deadline - now_ms();
        sleep_ms(left < POLL_INTERVAL_MS ? (left > 0 ? left : 0)
                                         : POLL_INTERVAL_MS);
    }
    if (shown)
        putchar('\n');
    fflush(stdout);
    if (lost != NULL)
        fprintf(stderr, "weirctl: %s %s while waiting for it to drain\n",
                name, lost);
    if (rc == 0 && !c->json)
        printf("%s: drained\n", name);
    if (rc == EXIT_TIMEOUT) {
        char t[DURATION_TEXT_MAX];
        duration_format(c->timeout_ms, t, sizeof(t));
        fprintf(stderr, "weirctl: timed out after %s: %s is still draining "
                "(%lld in flight)\n", t, name, (long long)inflight);
    }
    return rc;
}

static int
cmd_drain(const struct ctl *c)
{
    const char *name = c->args[1];
    struct json_doc *doc;
    int rc = backend_call(c, "POST", name, "drain", NULL, c->json && !c->wait,
                          &doc);

    if (rc != 0 || doc == NULL)
        return rc;
    const char *state = field(json_root(doc), "state");
    char n[48];
    if (c->wait && strcmp(state, "drained") == 0 && c->json) {
        print_value(json_root(doc));
    } else if (!c->wait) {
        printf("%s: %s", name, state);
        if (strcmp(state, "draining") == 0)
            printf(" (%s in flight)",
                   int_field(json_root(doc), "inflight", n, sizeof(n)));
        putchar('\n');
    } else if (strcmp(state, "drained") == 0) {
        printf("%s: drained\n", name);
    } else {
        rc = wait_drained(c, name);
    }
    json_doc_free(doc);
    return rc;
}

static int
cmd_enable(const struct ctl *c)
{
    const char *name = c->args[1];
    struct json_doc *doc;
    int rc = backend_call(c, "POST", name, "enable", NULL, c->json,
                          &doc);

    if (doc != NULL) {
        printf("%s: %s (health: %s)\n", name, field(json_root(doc), "state"),
               field(json_root(doc), "health"));
        json_doc_free(doc);
    }
    return rc;
}

static int
cmd_weight(const struct ctl *c)
{
    const char *name = c->args[1], *arg = c->args[2];
    char body[32], n[48];
    struct json_doc *doc;
    size_t len = strlen(arg);

    bool reset = strcmp(arg, "reset") == 0;
    if (!reset && (len == 0 || len > 3 || strspn(arg, "0123456789") != len
                   || atoi(arg) > 256))
        return value_error("weight must be an integer from 0 to 256, or "
                           "reset, not '%s'", arg);
    snprintf(body, sizeof(body), "{\"weight\":%d}", atoi(arg));
    /* reset: forget the weight set here; the file's (or the node's) rules. */
    int rc = reset ? backend_call(c, "DELETE", name, "weight", NULL, c->json, &doc)
                   : backend_call(c, "PUT", name, "weight", body, c->json, &doc);
    if (doc != NULL) {
        const struct json_value *b = json_root(doc);
        printf("%s: weight %s", name, int_field(b, "weight", n, sizeof(n)));
        int64_t w, ew;
        if (json_int(json_get(b, "weight"), &w) == 0
            && json_int(json_get(b, "effective_weight"), &ew) == 0 && w != ew)
            printf(" (effective %lld)", (long long)ew);
        putchar('\n');
        json_doc_free(doc);
    }
    return rc;
}

/* GET /health: exit 0 while weir serves, 1 otherwise (stopping, or not
 * reachable), for container health checks and scripts. */
static int
cmd_health(const struct ctl *c)
{
    struct ctl_response resp;
    int rc = call(c, "GET", "/health", NULL, &resp);

    if (rc != 0)
        return rc;
    if (c->json) {
        print_raw(&resp);
    } else {
        struct json_doc *doc = json_parse(resp.body, resp.body_len,
                                          MAX_JSON_VALUES, NULL, 0);
        const char *st = json_string(json_get(doc ? json_root(doc) : NULL,
                                              "status"), NULL);
        print_clean(stdout, st != NULL ? st : "unknown");
        putchar('\n');
        json_doc_free(doc);
    }
    rc = resp.status == 200 ? 0 : EXIT_RUNTIME;
    ctl_response_fini(&resp);
    return rc;
}

static int
cmd_reload(const struct ctl *c)
{
    struct ctl_response resp;
    int rc = call(c, "POST", "/reload", NULL, &resp);
    int64_t gen;

    if (rc != 0)
        return rc;
    struct json_doc *doc = NULL;
    const struct json_value *errors = NULL;
    if (!c->json && (resp.status == 200 || resp.status == 400
                     || resp.status == 422)) {
        doc = json_parse(resp.body, resp.body_len, MAX_JSON_VALUES, NULL, 0);
        errors = json_get(doc ? json_root(doc) : NULL, "errors");
    }
    if (c->json) {
        print_raw(&resp);
        rc = resp.status == 200 ? 0 : resp.status == 400 || resp.status == 422
                                      ? EXIT_USAGE : EXIT_RUNTIME;
    } else if (resp.status == 200
               && json_int(json_get(json_root(doc), "generation"), &gen) == 0) {
        printf("reloaded: generation %lld\n", (long long)gen);
    } else if (resp.status == 200) {
        fprintf(stderr, "weirctl: reload: no generation in the answer\n");
        rc = EXIT_RUNTIME;
    } else if (json_type(errors) == JSON_ARRAY) {
        for (const struct json_value *e = json_first(errors); e != NULL;
             e = json_next(e)) {
            const char *s = json_string(e, NULL);
            print_clean(stderr, s != NULL ? s : "(not a string)");
            fputc('\n', stderr);
        }
        rc = EXIT_USAGE;
    } else {
        rc = api_error(c, &resp, NULL);
    }
    json_doc_free(doc);
    ctl_response_fini(&resp);
    return rc;
}

static const struct command {
    const char *name;
    size_t nargs;                /* operands after the command */
    const char *operands;        /* for the usage message */
    int (*run)(const struct ctl *c);
} commands[] = {
    {"status", 0, "", cmd_status},
    {"drain", 1, " NAME", cmd_drain},
    {"enable", 1, " NAME", cmd_enable},
    {"weight", 2, " NAME N|reset", cmd_weight},
    {"reload", 0, "", cmd_reload},
    {"health", 0, "", cmd_health},
};

int
main(int argc, char **argv)
{
    struct ctl c = {.timeout_ms = DRAIN_TIMEOUT_MS};
    const struct command *cmd = NULL;
    int rc = parse_args(&c, argc, argv);

    if (rc != -1)
        return rc;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(c.args[0], commands[i].name) == 0)
            cmd = &commands[i];
    if (cmd == NULL)
        return usage_error("unknown command '%s'", c.args[0]);
    if (c.nargs - 1 != cmd->nargs) {
        fprintf(stderr, "weirctl: usage: %s%s\n", cmd->name, cmd->operands);
        usage(stderr);
        return EXIT_USAGE;
    }
    if ((c.wait || c.timeout_set) && cmd->run != cmd_drain)
        return usage_error("--wait and --timeout go with drain, not %s",
                           cmd->name);
    if (c.timeout_set && !c.wait)
        return usage_error("%s", "--timeout needs --wait");
    if (c.socket == NULL)
        find_socket(&c);
    rc = cmd->run(&c);
    free(c.socket_owned);
    return rc;
}
