/* GET /metrics: the Prometheus text exposition (format 0.0.4) of what the
 * proxy, the backends and the admin API count. Rendering reads the live
 * counters; it keeps no history and allocates nothing of its own. */
#ifndef WEIR_METRICS_H
#define WEIR_METRICS_H

#include <stddef.h>

struct admin;
struct buf;

/* A buffer size that always holds the rendering for AD's backends. */
size_t metrics_size_hint(const struct admin *ad);

/* Append the exposition of AD's state to OUT. 0, or -1 when it does not
 * fit (OUT then holds a truncated text the caller discards). */
int metrics_render(struct buf *out, const struct admin *ad);

#endif
