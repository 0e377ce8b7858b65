/* Decimal and hex formatting into caller buffers, no locale, no NUL. */
#include "weir/util/fmt.h"

static const char hexdigits[] = "0123456789abcdef";

size_t
fmt_u64(char *out, uint64_t v)
{
    char tmp[FMT_U64_MAX];
    size_t n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

size_t
fmt_hex(char *out, uint64_t v)
{
    unsigned width = 1;

    while (width < 16 && (v >> (4 * width)) != 0)
        width++;
    fmt_hex_fixed(out, v, width);
    return width;
}

void
fmt_hex_fixed(char *out, uint64_t v, unsigned width)
{
    for (unsigned i = width; i > 0; i--) {
        out[i - 1] = hexdigits[v & 0xf];
        v >>= 4;
    }
}
