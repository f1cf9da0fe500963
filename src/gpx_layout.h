/* gpx_layout.h - counters kept by an earlier gpx, read into this layout.
 *
 * Layout 3 (gpx 0.1) had no native histograms: its cell is this layout's
 * cell up to `native`, everything else is the same. A board file or a Redis
 * snapshot of layout 3 is read by copying each cell and filling its native
 * histograms from its classic buckets: each classic bucket's count goes to
 * the native bucket holding the classic bucket's upper bound (the +Inf
 * bucket's to the one above the last bound), so that the native count and
 * sum are the classic ones from the first scrape on. Those earlier counts
 * are as coarse in the native histogram as they were in the classic one;
 * what is counted after the upgrade is exact.
 */
#ifndef GPX_LAYOUT_H
#define GPX_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "gpx_buf.h"
#include "gpx_scoreboard.h"
#include "gpx_snapshot.h"

#define GPX_LAYOUT_V3 3u
/* A layout-3 cell's bytes: this layout's classic counters. */
#define GPX_CELL_V3_SIZE GPX_CELL_CLASSIC_SIZE

/* Fills the native histograms of a cell of layout 3 (zero there) from its
 * classic duration buckets. */
void gpx_layout_native_from_classic(struct gpx_cell *cell);

/* Whether a board file's header is of layout 3 with this build's header and
 * slot sizes: a file gpx_layout_board_upgrade reads. */
int gpx_layout_board_is_v3(const struct gpx_board_header *h);

/* A layout-3 board image of `len` bytes (its header's map_size) as an image
 * of this layout, in new memory (free() it), *out_len its size. NULL when
 * memory runs out or the image is shorter than its header says. */
unsigned char *gpx_layout_board_upgrade(const unsigned char *image, size_t len, size_t *out_len);

/* Appends a layout-3 snapshot blob as one of this layout (its extension, if
 * any, copied as it is). Returns 0, or -1 when the blob is not a whole
 * layout-3 snapshot (or memory ran out): the caller keeps refusing it. */
int gpx_layout_snapshot_upgrade(const void *blob, size_t len, struct gpx_buf *out);

#endif
