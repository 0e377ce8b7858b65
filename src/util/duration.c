/* Duration parsing and formatting for the configuration ("500ms", "10s",
 * "5m", "1h", bare seconds). Integers only: fractions such as "1.5s" are
 * rejected on purpose, since "1500ms" says the same thing exactly. This
 * module knows nothing about YAML or ranges; the config loader checks those. */
#include "weir/util/duration.h"

#include <stdio.h>
#include <string.h>

#include "weir/util/defs.h"

struct duration_unit {
    const char *suffix;
    uint64_t ms;
};

/* Ascending: duration_format() scans from the end for the largest unit. */
static const struct duration_unit duration_units[] = {
    {"ms", 1},
    {"s", 1000},
    {"m", 60 * 1000},
    {"h", 60 * 60 * 1000},
};

int
duration_parse(const char *text, uint64_t *out_ms)
{
    uint64_t value = 0, mult = 1000;
    const char *p = text;

    if (text == NULL || *p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        uint64_t digit = (uint64_t)(*p - '0');
        if (value > (UINT64_MAX - digit) / 10)
            return -1;
        value = value * 10 + digit;
    }
    if (*p != '\0') {
        size_t i;
        for (i = 0; i < nitems(duration_units); i++) {
            if (strcmp(p, duration_units[i].suffix) == 0)
                break;
        }
        if (i == nitems(duration_units))
            return -1;
        mult = duration_units[i].ms;
    }
    if (value > UINT64_MAX / mult)
        return -1;
    *out_ms = value * mult;
    return 0;
}

int
duration_format(uint64_t ms, char *out, size_t outlen)
{
    const struct duration_unit *unit = &duration_units[0];
    int n;

    if (ms == 0) {
        unit = &duration_units[1];
    } else {
        for (size_t i = nitems(duration_units); i-- > 0;) {
            if (ms % duration_units[i].ms == 0) {
                unit = &duration_units[i];
                break;
            }
        }
    }
    n = snprintf(out, outlen, "%llu%s",
                 (unsigned long long)(ms / unit->ms), unit->suffix);
    if (n < 0 || (size_t)n >= outlen) {
        if (outlen > 0)
            out[0] = '\0';
        return -1;
    }
    return 0;
}
