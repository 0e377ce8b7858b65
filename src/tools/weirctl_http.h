/* Private to weirctl: one HTTP/1.1 request over the admin Unix socket,
 * bounded in time and size. Not used by weir itself. */
#ifndef WEIR_WEIRCTL_HTTP_H
#define WEIR_WEIRCTL_HTTP_H

#include <stddef.h>

/* Largest response body weirctl accepts. */
#define CTL_BODY_MAX (4u * 1024 * 1024)

enum ctl_http_rc {
    CTL_HTTP_OK,        /* a complete response arrived */
    CTL_HTTP_CONNECT,   /* the socket could not be reached */
    CTL_HTTP_BADPATH,   /* the socket path is too long for a Unix socket */
    CTL_HTTP_FAIL,      /* timeout, reset, malformed or oversized answer */
};

struct ctl_response {
    int status;
    char *body;         /* malloc'd, NUL-terminated (also when empty) */
    size_t body_len;
};

/* Send METHOD PATH (with BODY as application/json when BODY is not NULL)
 * on a new connection to the Unix socket SOCKET_PATH, and read the whole
 * response within TIMEOUT_MS. On CTL_HTTP_OK, *RESP is filled and the
 * caller frees it with ctl_response_fini(); otherwise ERR (ERRLEN bytes)
 * says what went wrong, as a complete sentence without "weirctl: ". */
enum ctl_http_rc ctl_http_request(const char *socket_path, const char *method,
                                  const char *path, const char *body,
                                  int timeout_ms, struct ctl_response *resp,
                                  char *err, size_t errlen);

/* Release RESP's body; safe twice. */
void ctl_response_fini(struct ctl_response *resp);

#endif
