/* Durations as written in the configuration: "500ms", "10s", "5m", "1h" or a
 * bare number of seconds, converted to milliseconds. */
#ifndef WEIR_DURATION_H
#define WEIR_DURATION_H

#include <stddef.h>
#include <stdint.h>

/* Longest text duration_format() writes, NUL included. */
#define DURATION_TEXT_MAX 24

/* Parse TEXT (borrowed, NUL-terminated) into *OUT_MS. Accepts one or more
 * decimal digits followed by an optional unit: "ms", "s", "m" or "h"; no
 * unit means seconds. Fractions ("1.5s"), signs, spaces, other units and
 * values that overflow uint64_t milliseconds are rejected. Returns 0, or -1
 * with *OUT_MS untouched. */
int duration_parse(const char *text, uint64_t *out_ms);

/* Write MS in the largest unit that divides it exactly ("24h", "90s",
 * "1500ms", "0s") into OUT (OUTLEN bytes, DURATION_TEXT_MAX is enough).
 * Returns 0, or -1 when OUT is too small (then OUT holds "" if OUTLEN > 0). */
int duration_format(uint64_t ms, char *out, size_t outlen);

#endif
