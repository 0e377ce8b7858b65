/* Numbers written without stdio: the request path formats a few per
 * request, and snprintf costs more than the rest of the rewrite. */
#ifndef WEIR_FMT_H
#define WEIR_FMT_H

#include <stddef.h>
#include <stdint.h>

/* Most bytes fmt_u64 writes (UINT64_MAX has 20 digits). */
#define FMT_U64_MAX 20

/* Write V in decimal at OUT (FMT_U64_MAX bytes of room), no NUL. Returns
 * the length. */
size_t fmt_u64(char *out, uint64_t v);

/* Write V in lower-case hex without leading zeros ("0" for 0) at OUT (16
 * bytes of room), no NUL. Returns the length. */
size_t fmt_hex(char *out, uint64_t v);

/* Write the low 4 * WIDTH bits of V as exactly WIDTH lower-case hex digits
 * (leading zeros kept), no NUL. */
void fmt_hex_fixed(char *out, uint64_t v, unsigned width);

#endif
