/* Access log writer: the loop appends lines to a fixed buffer under a
 * mutex (a memcpy, never I/O); a thread swaps buffers and does the
 * write(2)s. A full buffer drops lines and counts them: a stalled disk
 * costs log lines, never proxy latency. Owns the fd and the thread. */
#include "weir/proxy/accesslog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
open_path(const char *path)
{
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

static void
write_all(struct accesslog *al, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(al->fd, p, len);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0) {
            al->write_errors++;
            return;
        }
        p += n;
        len -= (size_t)n;
    }
}

static void *
writer_main(void *arg)
{
    struct accesslog *al = arg;

    pthread_mutex_lock(&al->mu);
    for (;;) {
        while (al->npending == 0 && !al->stop && !al->reopen)
            pthread_cond_wait(&al->cond, &al->mu);
        bool reopen = al->reopen, stop = al->stop;
        al->reopen = false;
        /* Swap: the loop keeps appending while this thread writes. */
        char *batch = al->pending;
        size_t len = al->npending;
        al->pending = al->writing;
        al->writing = batch;
        al->npending = 0;
        pthread_mutex_unlock(&al->mu);

        write_all(al, batch, len);
        if (reopen && al->path != NULL) {
            int fd = open_path(al->path);
            if (fd != -1) {
                close(al->fd);
                al->fd = fd;
            } else {
                al->write_errors++;
            }
        }
        pthread_mutex_lock(&al->mu);
        if (stop && al->npending == 0)
            break;
    }
    pthread_mutex_unlock(&al->mu);
    return NULL;
}

/* Close the fd, free the buffers and path, and leave AL closed. */
static void
release(struct accesslog *al)
{
    if (al->fd != -1)
        close(al->fd);
    free(al->pending);
    free(al->writing);
    free(al->path);
    memset(al, 0, sizeof(*al));
    al->fd = -1;
}

int
accesslog_open(struct accesslog *al, const char *setting, char *err,
               size_t errlen)
{
    memset(al, 0, sizeof(*al));
    al->fd = -1;
    if (setting == NULL || strcmp(setting, "off") == 0)
        return 0;
    if (strcmp(setting, "stdout") == 0) {
        al->fd = dup(STDOUT_FILENO);
    } else {
        al->path = strdup(setting);
        al->fd = al->path != NULL ? open_path(setting) : -1;
    }
    if (al->fd == -1) {
        snprintf(err, errlen, "access_log %s: %s", setting, strerror(errno));
        goto fail;
    }
    al->pending = malloc(ACCESSLOG_BUFFER);
    al->writing = malloc(ACCESSLOG_BUFFER);
    if (al->pending == NULL || al->writing == NULL) {
        snprintf(err, errlen, "access_log: out of memory");
        goto fail;
    }
    pthread_mutex_init(&al->mu, NULL);
    pthread_cond_init(&al->cond, NULL);
    if (pthread_create(&al->thread, NULL, writer_main, al) != 0) {
        snprintf(err, errlen, "access_log: cannot start its writer thread");
        pthread_mutex_destroy(&al->mu);
        pthread_cond_destroy(&al->cond);
        goto fail;
    }
    al->started = al->enabled = true;
    return 0;
fail:
    release(al);
    return -1;
}

void
accesslog_write(struct accesslog *al, const char *line, size_t len)
{
    if (!al->enabled)
        return;
    pthread_mutex_lock(&al->mu);
    if (al->npending + len + 1 > ACCESSLOG_BUFFER) {
        al->dropped++;
    } else {
        memcpy(al->pending + al->npending, line, len);
        al->pending[al->npending + len] = '\n';
        al->npending += len + 1;
        al->lines++;
        pthread_cond_signal(&al->cond);
    }
    pthread_mutex_unlock(&al->mu);
}

void
accesslog_reopen(struct accesslog *al)
{
    if (!al->enabled)
        return;
    pthread_mutex_lock(&al->mu);
    al->reopen = true;
    pthread_cond_signal(&al->cond);
    pthread_mutex_unlock(&al->mu);
}

void
accesslog_close(struct accesslog *al)
{
    if (!al->started)
        return;
    pthread_mutex_lock(&al->mu);
    al->stop = true;
    pthread_cond_signal(&al->cond);
    pthread_mutex_unlock(&al->mu);
    pthread_join(al->thread, NULL);
    pthread_mutex_destroy(&al->mu);
    pthread_cond_destroy(&al->cond);
    release(al);
}
