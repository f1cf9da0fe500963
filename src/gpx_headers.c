/* gpx_headers.c - the endpoint's extra answer headers (see gpx_headers.h). */
#include "gpx_headers.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* What gpx-http-headers may set: headers about how a client treats the
 * answer, none about what the answer is. */
static const char *const allowed[] = {
    "Cache-Control",      "Content-Security-Policy", "Cross-Origin-Opener-Policy", "Cross-Origin-Resource-Policy",
    "Permissions-Policy", "Referrer-Policy",         "Strict-Transport-Security",  "X-Content-Type-Options",
    "X-Frame-Options",    "X-XSS-Protection",
};

#define HSTS "Strict-Transport-Security"

static struct gpx_header *
find(struct gpx_headers *h, const char *name)
{
    unsigned i;

    for (i = 0; i < h->count; i++) {
        if (strcmp(h->list[i].name, name) == 0) {
            return &h->list[i];
        }
    }
    return NULL;
}

static void
put(struct gpx_headers *h, const char *name, const char *value, size_t value_len)
{
    struct gpx_header *e = find(h, name);

    if (e == NULL) {
        e = &h->list[h->count++];
        snprintf(e->name, sizeof(e->name), "%s", name);
    }
    memcpy(e->value, value, value_len);
    e->value[value_len] = '\0';
}

static void
drop(struct gpx_headers *h, const char *name)
{
    struct gpx_header *e = find(h, name);

    if (e != NULL) {
        memmove(e, e + 1, (size_t)(&h->list[h->count] - (e + 1)) * sizeof(*e));
        h->count--;
    }
}

static int
is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* One "Name: value" entry of `len` bytes. */
static int
apply(struct gpx_headers *h, const char *entry, size_t len, int tls, char *why, size_t whylen)
{
    const char *end = entry + len, *colon = memchr(entry, ':', len), *name_end, *value;
    size_t name_len, value_len, i;
    const char *name = NULL;

    while (entry < end && is_space(*entry)) {
        entry++;
    }
    while (end > entry && is_space(end[-1])) {
        end--;
    }
    if (entry == end) {
        return 0; /* "a||b", or a trailing '|' */
    }
    if (colon == NULL || colon < entry || colon >= end) {
        snprintf(why, whylen, "\"%.*s\" is not Name: value", (int)(end - entry > 80 ? 80 : end - entry), entry);
        return -1;
    }
    for (name_end = colon; name_end > entry && is_space(name_end[-1]); name_end--) {
    }
    name_len = (size_t)(name_end - entry);
    for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
        if (strlen(allowed[i]) == name_len && strncasecmp(allowed[i], entry, name_len) == 0) {
            name = allowed[i];
        }
    }
    if (name == NULL) {
        snprintf(why, whylen,
                 "%.*s is not a header gpx-http-headers sets (Cache-Control, Content-Security-Policy, "
                 "Cross-Origin-Opener-Policy, Cross-Origin-Resource-Policy, Permissions-Policy, Referrer-Policy, "
                 "Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, X-XSS-Protection)",
                 (int)(name_len > 60 ? 60 : name_len), entry);
        return -1;
    }
    for (value = colon + 1; value < end && is_space(*value); value++) {
    }
    value_len = (size_t)(end - value);
    if (value_len >= GPX_HEADER_VALUE_MAX) {
        snprintf(why, whylen, "the value of %s is longer than %d bytes", name, GPX_HEADER_VALUE_MAX - 1);
        return -1;
    }
    for (i = 0; i < value_len; i++) {
        if ((unsigned char)value[i] < 0x20 || (unsigned char)value[i] > 0x7e) {
            snprintf(why, whylen, "the value of %s holds a byte that is not printable ASCII", name);
            return -1;
        }
    }
    if (value_len == 0) {
        drop(h, name);
        return 0;
    }
    if (strcmp(name, HSTS) == 0 && !tls) {
        snprintf(why, whylen, HSTS " without TLS (gpx-ssl-certfile): browsers ignore it over plain HTTP");
        return -1;
    }
    if (find(h, name) == NULL && h->count == GPX_HEADERS_MAX) {
        snprintf(why, whylen, "more than %d headers", GPX_HEADERS_MAX);
        return -1;
    }
    put(h, name, value, value_len);
    return 0;
}

int
gpx_headers_build(struct gpx_headers *out, const char *text, int tls, char *why, size_t whylen)
{
    const char *p = text;

    memset(out, 0, sizeof(*out));
    put(out, "X-Content-Type-Options", "nosniff", strlen("nosniff"));
    put(out, "X-Frame-Options", "deny", strlen("deny"));
    if (tls) {
        put(out, HSTS, "max-age=31536000", strlen("max-age=31536000"));
    }
    while (p != NULL && *p != '\0') {
        const char *bar = strchr(p, '|');
        size_t len = bar != NULL ? (size_t)(bar - p) : strlen(p);

        if (apply(out, p, len, tls, why, whylen) != 0) {
            memset(out, 0, sizeof(*out));
            return -1;
        }
        p = bar != NULL ? bar + 1 : NULL;
    }
    return 0;
}
