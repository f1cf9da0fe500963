/* gpx_headers.h - the headers every answer of the metrics endpoint carries.
 *
 * By default the security headers a browser heeds: X-Content-Type-Options:
 * nosniff and X-Frame-Options: deny, and Strict-Transport-Security:
 * max-age=31536000 when the endpoint speaks TLS. gpx-http-headers changes
 * them: "Name: value" entries separated by '|'. A name of the defaults takes
 * the new value, an empty value drops it, another name of the allowed list
 * is added. Names outside that list (Content-Type, Set-Cookie, ...) are
 * refused: the endpoint owns those.
 */
#ifndef GPX_HEADERS_H
#define GPX_HEADERS_H

#include <stddef.h>

#define GPX_HEADERS_MAX 16
#define GPX_HEADER_NAME_MAX 48
#define GPX_HEADER_VALUE_MAX 512

struct gpx_header {
    char name[GPX_HEADER_NAME_MAX];   /* as the allowed list spells it */
    char value[GPX_HEADER_VALUE_MAX]; /* printable ASCII, trimmed */
};

struct gpx_headers {
    struct gpx_header list[GPX_HEADERS_MAX];
    unsigned count;
};

/* The headers of every answer: the defaults (with the TLS one when `tls`),
 * changed by `text` (NULL or "" for none). Returns 0, or -1 with why set
 * ("X-Powered-By is not a header gpx lets you set; ..."). */
int gpx_headers_build(struct gpx_headers *out, const char *text, int tls, char *why, size_t whylen);

#endif
