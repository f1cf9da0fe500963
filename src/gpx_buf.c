/* gpx_buf.c - growable text buffer (see gpx_buf.h). */
#define _POSIX_C_SOURCE 200809L
#include "gpx_buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
gpx_buf_init(struct gpx_buf *buf, size_t hint)
{
    memset(buf, 0, sizeof(*buf));
    buf->cap = hint > 64 ? hint : 64;
    buf->data = malloc(buf->cap);
    if (buf->data == NULL) {
        buf->cap = 0;
        buf->failed = 1;
        return -1;
    }
    buf->data[0] = '\0';
    return 0;
}

void
gpx_buf_free(struct gpx_buf *buf)
{
    free(buf->data);
    memset(buf, 0, sizeof(*buf));
}

void
gpx_buf_reset(struct gpx_buf *buf)
{
    buf->len = 0;
    buf->failed = 0;
    if (buf->data != NULL) {
        buf->data[0] = '\0';
    }
}

/* Makes room for `more` bytes plus the NUL, doubling the capacity. */
static int
reserve(struct gpx_buf *buf, size_t more)
{
    size_t need, cap;
    char *data;

    if (buf->failed) {
        return -1;
    }
    need = buf->len + more + 1;
    if (need <= buf->cap) {
        return 0;
    }
    cap = buf->cap > 0 ? buf->cap : 64;
    while (cap < need) {
        cap *= 2;
    }
    data = realloc(buf->data, cap);
    if (data == NULL) {
        buf->failed = 1;
        return -1;
    }
    buf->data = data;
    buf->cap = cap;
    return 0;
}

int
gpx_buf_append(struct gpx_buf *buf, const char *data, size_t len)
{
    if (reserve(buf, len) != 0) {
        return -1;
    }
    memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
    return 0;
}

char *
gpx_buf_room(struct gpx_buf *buf, size_t more)
{
    return reserve(buf, more) == 0 ? buf->data + buf->len : NULL;
}

int
gpx_buf_puts(struct gpx_buf *buf, const char *text)
{
    return gpx_buf_append(buf, text, strlen(text));
}

int
gpx_buf_printf(struct gpx_buf *buf, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (reserve(buf, 128) != 0) {
        return -1;
    }
    va_start(ap, fmt);
    n = vsnprintf(buf->data + buf->len, buf->cap - buf->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        buf->failed = 1;
        return -1;
    }
    if ((size_t)n >= buf->cap - buf->len) {
        if (reserve(buf, (size_t)n) != 0) {
            return -1;
        }
        va_start(ap, fmt);
        vsnprintf(buf->data + buf->len, buf->cap - buf->len, fmt, ap);
        va_end(ap);
    }
    buf->len += (size_t)n;
    return 0;
}

char *
gpx_buf_steal(struct gpx_buf *buf, size_t *len)
{
    char *data = buf->data;

    if (len != NULL) {
        *len = buf->len;
    }
    memset(buf, 0, sizeof(*buf));
    return data;
}

int
gpx_grow(void *items, size_t *cap, size_t count, size_t size, size_t first)
{
    void *array, *grown;
    size_t want;

    if (count < *cap) {
        return 0;
    }
    want = *cap ? *cap * 2 : first;
    if (want < *cap || want > SIZE_MAX / size) {
        return -1;
    }
    /* The pointer is copied, not cast: items points at a `T *`, not a `void *`. */
    memcpy(&array, items, sizeof(array));
    grown = realloc(array, want * size);
    if (grown == NULL) {
        return -1;
    }
    memcpy(items, &grown, sizeof(grown));
    *cap = want;
    /* The caller's pointer holds it now, which cppcheck cannot follow. */
    // cppcheck-suppress memleak
    return 0;
}
