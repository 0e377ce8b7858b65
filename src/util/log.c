/* Diagnostic log to stderr: one logfmt line per event,
 * time=... level=... msg="...".
 * The level is the only mutable global besides the sink (STYLE 11). */
#include "weir/util/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static enum log_level log_threshold = LOG_LEVEL_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void
log_set_level(enum log_level level)
{
    log_threshold = level;
}

enum log_level
log_get_level(void)
{
    return log_threshold;
}

int
log_level_parse(const char *name, enum log_level *out)
{
    for (size_t i = 0; i < nitems(level_names); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

/* The message, then the logfmt line: time=... level=... msg="..." with
 * quotes, backslashes and control characters escaped, so every line parses
 * as key=value whatever a message holds. */
static void
log_vwrite(enum log_level level, int with_errno, const char *fmt, va_list ap)
{
    int saved = errno;
    char msg[1536], line[2048];
    struct timeval tv;
    struct tm tm;
    size_t n, m;

    if (level > log_threshold)
        return;
    int w = vsnprintf(msg, sizeof(msg), fmt, ap);
    m = w < 0 ? 0 : MIN((size_t)w, sizeof(msg) - 1);
    if (with_errno && m < sizeof(msg) - 1)
        m += (size_t)snprintf(msg + m, sizeof(msg) - m, ": %s", strerror(saved));
    m = MIN(m, sizeof(msg) - 1);
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = strftime(line, sizeof(line), "time=%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03dZ level=%s msg=\"",
                          (int)(tv.tv_usec / 1000), level_names[level]);
    for (size_t i = 0; i < m && n < sizeof(line) - 8; i++) {
        unsigned char c = (unsigned char)msg[i];
        if (c == '"' || c == '\\') {
            line[n++] = '\\';
            line[n++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            n += (size_t)snprintf(line + n, sizeof(line) - n, "\\x%02x", c);
        } else {
            line[n++] = (char)c;
        }
    }
    line[n++] = '"';
    line[n++] = '\n';
    /* One write per line so concurrent writers do not interleave. */
    fwrite(line, 1, n, stderr);
    fflush(stderr);
    errno = saved;
}

#define LOG_FN(fn, level, with_errno)        \
    void fn(const char *fmt, ...)            \
    {                                        \
        va_list ap;                          \
        va_start(ap, fmt);                   \
        log_vwrite(level, with_errno, fmt, ap); \
        va_end(ap);                          \
    }

LOG_FN(log_err, LOG_LEVEL_ERROR, 1)
LOG_FN(log_errx, LOG_LEVEL_ERROR, 0)
LOG_FN(log_warn, LOG_LEVEL_WARN, 1)
LOG_FN(log_warnx, LOG_LEVEL_WARN, 0)
LOG_FN(log_info, LOG_LEVEL_INFO, 0)
LOG_FN(log_debug, LOG_LEVEL_DEBUG, 0)
