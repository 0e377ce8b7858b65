/* Diagnostic log to stderr: one line per event, "TIME LEVEL message".
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

static void
log_vwrite(enum log_level level, int with_errno, const char *fmt, va_list ap)
{
    int saved = errno;
    char line[2048];
    struct timeval tv;
    struct tm tm;
    size_t n;

    if (level > log_threshold)
        return;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03dZ %s ",
                          (int)(tv.tv_usec / 1000), level_names[level]);
    int w = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    if (w > 0)
        n = MIN(n + (size_t)w, sizeof(line) - 1);
    if (with_errno && n < sizeof(line) - 1)
        n += (size_t)snprintf(line + n, sizeof(line) - n, ": %s",
                              strerror(saved));
    n = MIN(n, sizeof(line) - 2);
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
