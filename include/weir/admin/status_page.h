/* The live status page (GET / on the admin listeners): one self-contained
 * HTML document, served as text/html; charset=utf-8. See status_page.c. */
#ifndef WEIR_ADMIN_STATUS_PAGE_H
#define WEIR_ADMIN_STATUS_PAGE_H

#include <stddef.h>

/* The whole page, NUL-terminated; status_page_len bytes without the NUL. */
extern const char status_page_html[];
extern const size_t status_page_len;

#endif
