/* gpx_gzip.h - gzip for a scrape whose Accept-Encoding allows it.
 *
 * Called by the metrics thread with the rendered page; zlib writes the gzip
 * wrapper (RFC 1952) around the deflated page, appended chunk by chunk.
 */
#ifndef GPX_GZIP_H
#define GPX_GZIP_H

#include "gpx_buf.h"

/* Appends `len` bytes of `data`, gzip-compressed, to out. Returns 0, or -1
 * if memory ran out or zlib failed (out is then marked failed). */
int gpx_gzip_compress(struct gpx_buf *out, const char *data, size_t len);

#endif
