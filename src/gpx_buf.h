/* gpx_buf.h - memory that grows: a text buffer for rendering the
 * exposition, and arrays of anything.
 *
 * The core cannot use uWSGI's buffers (it never includes uwsgi.h); this is the
 * smallest thing that renders text without a size computed in advance. A
 * buffer that failed to grow stays failed: the caller checks once at the end.
 */
#ifndef GPX_BUF_H
#define GPX_BUF_H

#include <stddef.h>

struct gpx_buf {
    char *data; /* NUL-terminated while not failed */
    size_t len; /* bytes used, without the NUL */
    size_t cap; /* bytes allocated */
    int failed; /* an allocation failed; data holds what fitted */
};

/* Starts an empty buffer with `hint` bytes reserved. Returns 0 or -1. */
int gpx_buf_init(struct gpx_buf *buf, size_t hint);

/* Frees the memory. Safe on a zeroed buffer. */
void gpx_buf_free(struct gpx_buf *buf);

/* Drops the contents, keeps the memory. */
void gpx_buf_reset(struct gpx_buf *buf);

/* Appends bytes or a C string. Return 0, or -1 (and mark failed). */
int gpx_buf_append(struct gpx_buf *buf, const char *data, size_t len);
int gpx_buf_puts(struct gpx_buf *buf, const char *text);

/* Makes room for `more` bytes and returns where they go (the end of the
 * contents), or NULL (and mark failed). The caller writes at most `more`
 * bytes there and ends with gpx_buf_commit: a line is reserved once and
 * written without a call per piece. */
char *gpx_buf_room(struct gpx_buf *buf, size_t more);

/* Takes what was written since gpx_buf_room up to `end` into the contents. */
static inline void
gpx_buf_commit(struct gpx_buf *buf, char *end)
{
    buf->len = (size_t)(end - buf->data);
    *end = '\0';
}

/* Appends printf-formatted text. Returns 0, or -1 (and mark failed). */
int gpx_buf_printf(struct gpx_buf *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Hands the memory to the caller (who frees it) and empties the buffer. */
char *gpx_buf_steal(struct gpx_buf *buf, size_t *len);

/* Makes room for one more item in an array of `count` items of `size`
 * bytes: `items` is the address of the array's pointer (NULL while
 * empty), *cap its capacity in items, doubled when full (from `first`).
 * Returns 0, or -1 on memory (the array is unchanged). */
int gpx_grow(void *items, size_t *cap, size_t count, size_t size, size_t first);

#endif
