/* Numeric socket addresses as written in the configuration: "1.2.3.4:80"
 * and "[::1]:80". No DNS, ever: a name that needs resolving is an error. */
#ifndef WEIR_ADDR_H
#define WEIR_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Enough for "[" + the longest IPv6 text + "]:65535" + NUL. */
#define ADDR_TEXT_MAX 64

/* Parse TEXT (borrowed) as "IPv4:port" or "[IPv6]:port" into *SS and *LEN.
 * The port is decimal, 0..65535 (0 means "any" to a listener; callers that
 * need a real port check it). On failure returns -1 and, when ERR is not
 * NULL, writes a one-line reason (no trailing newline) into ERR (ERRLEN
 * bytes); *SS and *LEN are then unspecified. Returns 0 on success. */
int addr_parse(const char *text, struct sockaddr_storage *ss, socklen_t *len,
               char *err, size_t errlen);

/* Port of an AF_INET or AF_INET6 address in host order, or -1. */
int addr_port(const struct sockaddr *sa);

/* Write SA (AF_INET or AF_INET6, borrowed) as "1.2.3.4:80" or "[::1]:80"
 * into OUT (OUTLEN bytes; ADDR_TEXT_MAX is enough). Returns 0, or -1 for
 * another family or a short buffer (OUT then holds "" if OUTLEN > 0). */
int addr_format(const struct sockaddr *sa, char *out, size_t outlen);

/* Same without the port and brackets: "1.2.3.4", "::1". */
int addr_format_host(const struct sockaddr *sa, char *out, size_t outlen);

/* True when A and B are the same family, IP address and port. */
bool addr_equal(const struct sockaddr *a, const struct sockaddr *b);

#endif
