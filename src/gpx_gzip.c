/* gpx_gzip.c - gzip with zlib (see gpx_gzip.h). */
#include "gpx_gzip.h"

#include <stdint.h>
#include <zlib.h>

/* The fastest level: a page of metrics repeats the same names on every line,
 * so level 1 already gains most of what the higher levels would, for a
 * fraction of the master's CPU at each scrape. */
#define GPX_GZIP_LEVEL 1
/* 15 bits of window, plus 16: write a gzip header and trailer, not zlib's. */
#define GPX_GZIP_WINDOW_BITS (15 + 16)
#define GPX_GZIP_MEM_LEVEL 8

int
gpx_gzip_compress(struct gpx_buf *out, const char *data, size_t len)
{
    unsigned char chunk[16384];
    z_stream zs = {0};
    int rc = Z_OK;

    if (deflateInit2(&zs, GPX_GZIP_LEVEL, Z_DEFLATED, GPX_GZIP_WINDOW_BITS, GPX_GZIP_MEM_LEVEL, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
        out->failed = 1;
        return -1;
    }
    zs.next_in = (Bytef *)(uintptr_t)data; /* zlib's API is not const; it only reads */
    while (rc == Z_OK) {
        /* avail_in is 32 bits wide: feed a larger page in slices. */
        if (zs.avail_in == 0 && len > 0) {
            uInt slice = len > (size_t)0x40000000u ? 0x40000000u : (uInt)len;

            zs.avail_in = slice;
            len -= slice;
        }
        zs.next_out = chunk;
        zs.avail_out = sizeof(chunk);
        rc = deflate(&zs, len > 0 ? Z_NO_FLUSH : Z_FINISH);
        if (rc == Z_BUF_ERROR) {
            rc = Z_OK; /* no progress possible without more room: the loop gives it */
        }
        if (gpx_buf_append(out, (const char *)chunk, sizeof(chunk) - zs.avail_out) != 0) {
            rc = Z_MEM_ERROR;
        }
    }
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        out->failed = 1;
        return -1;
    }
    return 0;
}
