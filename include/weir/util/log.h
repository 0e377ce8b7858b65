/* Levelled diagnostic log. The only writer of diagnostics; never logs secrets. */
#ifndef WEIR_LOG_H
#define WEIR_LOG_H

#include "weir/util/defs.h"

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* Set the threshold; messages above it are dropped. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parse "error|warn|info|debug"; returns 0 or -1. */
int log_level_parse(const char *name, enum log_level *out);

/* The plain variants append ": strerror(errno)"; the x variants do not. */
void log_err(const char *fmt, ...) WEIR_PRINTF(1, 2);
void log_errx(const char *fmt, ...) WEIR_PRINTF(1, 2);
void log_warn(const char *fmt, ...) WEIR_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) WEIR_PRINTF(1, 2);
void log_info(const char *fmt, ...) WEIR_PRINTF(1, 2);
void log_debug(const char *fmt, ...) WEIR_PRINTF(1, 2);

#define log_enabled(level) ((level) <= log_get_level())

#endif
