/* The access log: one JSON object per line per request, to stdout or a
 * file, written by a background thread from a bounded buffer so a slow
 * disk never stalls the event loop. When the buffer is full, lines are
 * dropped and counted, never waited for. */
#ifndef WEIR_ACCESSLOG_H
#define WEIR_ACCESSLOG_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of log lines held while the writer catches up. */
#define ACCESSLOG_BUFFER (1024 * 1024)

struct accesslog {
    bool enabled;
    char *path;                 /* NULL for stdout */
    int fd;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    char *pending;              /* filled by the loop */
    size_t npending;
    char *writing;              /* drained by the thread */
    bool stop;
    bool reopen;
    bool started;
    uint64_t lines;             /* lines accepted */
    uint64_t dropped;           /* lines dropped because the buffer was full */
    uint64_t write_errors;
};

/* Open the log named by the access_log setting ("off", "stdout" or a path)
 * and start its writer. 0, or -1 with a message in ERR. */
int accesslog_open(struct accesslog *al, const char *setting, char *err,
                   size_t errlen);
/* Queue one line (LEN bytes, a trailing newline is added). Never blocks on
 * I/O; drops and counts the line when the buffer is full. */
void accesslog_write(struct accesslog *al, const char *line, size_t len);
/* Ask the writer to reopen the file (SIGUSR1, after logrotate moved it). */
void accesslog_reopen(struct accesslog *al);
/* Flush what is queued, stop the writer and close. Idempotent. */
void accesslog_close(struct accesslog *al);

#endif
