/* Parse and format numeric IPv4/IPv6 socket addresses with a port.
 * Owns the text syntax only: no DNS, no sockets, no interface scopes
 * ("[fe80::1%eth0]" is refused because it would need a lookup). */
#include "weir/util/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "weir/util/defs.h"

/* Longest host part we copy out: an IPv6 text is at most 45 bytes. */
#define ADDR_HOST_MAX 64

static int addr_fail(char *err, size_t errlen, const char *fmt, ...)
    WEIR_PRINTF(3, 4);

static int
addr_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Decimal 0..65535, no sign, no spaces, at most five digits. */
static int
addr_parse_port(const char *p, unsigned *port)
{
    unsigned v = 0;
    size_t n = 0;

    for (; *p >= '0' && *p <= '9'; p++, n++) {
        if (n == 5)
            return -1;
        v = v * 10 + (unsigned)(*p - '0');
    }
    if (n == 0 || *p != '\0' || v > 65535)
        return -1;
    *port = v;
    return 0;
}

static int
addr_copy_host(char *host, const char *start, const char *end)
{
    size_t n = (size_t)(end - start);

    if (n == 0 || n >= ADDR_HOST_MAX)
        return -1;
    memcpy(host, start, n);
    host[n] = '\0';
    return 0;
}

int
addr_parse(const char *text, struct sockaddr_storage *ss, socklen_t *len,
           char *err, size_t errlen)
{
    char host[ADDR_HOST_MAX];
    const char *colon, *port_text;
    unsigned port;
    int v6 = text[0] == '[';

    if (text[0] == '\0')
        return addr_fail(err, errlen, "empty address");
    if (v6) {
        const char *close = strchr(text, ']');
        if (close == NULL)
            return addr_fail(err, errlen, "missing ']' in \"%s\"", text);
        if (close[1] != ':')
            return addr_fail(err, errlen,
                             "missing port after ']' in \"%s\"", text);
        if (addr_copy_host(host, text + 1, close) == -1)
            return addr_fail(err, errlen,
                             "\"%s\" is not a numeric IPv6 address", text);
        port_text = close + 2;
    } else {
        colon = strrchr(text, ':');
        if (colon == NULL)
            return addr_fail(err, errlen,
                             "missing port in \"%s\" (expected HOST:PORT)",
                             text);
        if (memchr(text, ':', (size_t)(colon - text)) != NULL)
            return addr_fail(err, errlen,
                             "IPv6 address \"%s\" must be in brackets, "
                             "as in [::1]:80", text);
        if (addr_copy_host(host, text, colon) == -1)
            return addr_fail(err, errlen,
                             "\"%s\" is not a numeric IPv4 address "
                             "(host names are not resolved)", text);
        port_text = colon + 1;
    }
    if (addr_parse_port(port_text, &port) == -1)
        return addr_fail(err, errlen,
                         "invalid port in \"%s\" (expected 0..65535)", text);

    memset(ss, 0, sizeof(*ss));
    if (v6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
            return addr_fail(err, errlen,
                             "\"%s\" is not a numeric IPv6 address", text);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*sin6);
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
            return addr_fail(err, errlen,
                             "\"%s\" is not a numeric IPv4 address "
                             "(host names are not resolved)", text);
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        *len = sizeof(*sin);
    }
    return 0;
}

int
addr_port(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    return -1;
}

int
addr_format_host(const struct sockaddr *sa, char *out, size_t outlen)
{
    const void *ip;

    if (sa->sa_family == AF_INET)
        ip = &((const struct sockaddr_in *)sa)->sin_addr;
    else if (sa->sa_family == AF_INET6)
        ip = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    else
        goto fail;
    if (outlen > (socklen_t)-1 ||
        inet_ntop(sa->sa_family, ip, out, (socklen_t)outlen) == NULL)
        goto fail;
    return 0;

fail:
    if (outlen > 0)
        out[0] = '\0';
    return -1;
}

int
addr_format(const struct sockaddr *sa, char *out, size_t outlen)
{
    char host[ADDR_HOST_MAX];
    int n;

    if (addr_format_host(sa, host, sizeof(host)) == -1)
        goto fail;
    if (sa->sa_family == AF_INET6)
        n = snprintf(out, outlen, "[%s]:%d", host, addr_port(sa));
    else
        n = snprintf(out, outlen, "%s:%d", host, addr_port(sa));
    if (n < 0 || (size_t)n >= outlen)
        goto fail;
    return 0;

fail:
    if (outlen > 0)
        out[0] = '\0';
    return -1;
}

bool
addr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
    if (a->sa_family != b->sa_family || addr_port(a) != addr_port(b))
        return false;
    if (a->sa_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->sa_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr,
                      sizeof(struct in6_addr)) == 0;
    return false;
}
