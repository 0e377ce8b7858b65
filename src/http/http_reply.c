/* Short responses for the errors Weir answers itself (400 malformed, 431
 * head too large, 502 backend failed, 503 no eligible backend, 504 backend
 * timeout). Always close the connection: the request may be unread. */
#include "weir/http/http_reply.h"

#include <stddef.h>
#include <stdio.h>

#include "weir/util/buf.h"
#include "weir/util/defs.h"

static const struct {
    int status;
    const char *reason;
} reasons[] = {
    {100, "Continue"},
    {200, "OK"},
    {400, "Bad Request"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
};

const char *
http_reply_reason(int status)
{
    for (size_t i = 0; i < nitems(reasons); i++)
        if (reasons[i].status == status)
            return reasons[i].reason;
    return "Unknown";
}

int
http_reply_error(struct buf *out, int status, const char *request_id)
{
    const char *reason = http_reply_reason(status);
    char body[128];
    int blen = snprintf(body, sizeof(body), "%d %s\n", status, reason);

    return buf_printf(out,
                      "HTTP/1.1 %d %s\r\n"
                      "Content-Type: text/plain\r\n"
                      "Content-Length: %d\r\n"
                      "%s%s%s"
                      "%s"
                      "Connection: close\r\n"
                      "\r\n%s",
                      status, reason, blen,
                      request_id ? "X-Request-Id: " : "",
                      request_id ? request_id : "", request_id ? "\r\n" : "",
                      status == 503 ? "Retry-After: 1\r\n" : "", body);
}
