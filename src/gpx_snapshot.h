/* gpx_snapshot.h - a server's absolute totals as one self-describing blob.
 *
 * What Redis storage publishes and restores: every worker slot's counters,
 * its cores folded into one cell. The blob carries gpx's layout version and
 * cell size; a blob of another layout is refused, never misread. Blobs are
 * in the machine's byte order: a fleet shares one architecture.
 */
#ifndef GPX_SNAPSHOT_H
#define GPX_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "gpx_buf.h"
#include "gpx_scoreboard.h"

#define GPX_SNAPSHOT_MAGIC "GPXSNAP1"

struct gpx_snapshot_header {
    char magic[8];           /* GPX_SNAPSHOT_MAGIC */
    uint32_t layout_version; /* GPX_LAYOUT_VERSION */
    uint32_t slot_size;      /* sizeof(struct gpx_slot) */
    uint32_t cell_size;      /* sizeof(struct gpx_cell) */
    uint32_t workers;        /* slots that follow */
    uint64_t created_unix;   /* when the counters started */
    uint64_t taken_unix;     /* when this snapshot was taken */
};

/* Appends a snapshot of live + base (base may be NULL) to out: the header,
 * the exception class names its cells count under (struct gpx_error_names),
 * then per worker slot a struct gpx_slot and a struct gpx_cell. Covers the
 * larger of the two boards' worker counts. Returns 0, or -1 on memory. */
int gpx_snapshot_encode(struct gpx_buf *out, const struct gpx_scoreboard *live, const struct gpx_scoreboard *base,
                        uint64_t now_unix);

/* Checks a blob and points *header at it. Returns 0, or -1 with err filled
 * (wrong magic, layout, sizes or length). */
int gpx_snapshot_check(const void *blob, size_t len, const struct gpx_snapshot_header **header, char *err,
                       size_t errlen);

/* Copies a checked blob's class names out (a blob has no alignment promise). */
void gpx_snapshot_error_names(const struct gpx_snapshot_header *h, struct gpx_error_names *out);

/* The slot and cell of worker `worker` (1-based) in a checked blob. */
const struct gpx_slot *gpx_snapshot_slot(const struct gpx_snapshot_header *h, unsigned worker);
const struct gpx_cell *gpx_snapshot_cell(const struct gpx_snapshot_header *h, unsigned worker);

/* Adds a checked blob's counters into `base` (a one-core board written only
 * by the caller): worker w's cell into base's cell (w, 0), slots likewise;
 * slots beyond base's workers are folded into its last slot. The blob's
 * class names are added to base's table, failures follow their names. */
void gpx_snapshot_add_to(struct gpx_scoreboard *base, const struct gpx_snapshot_header *h);

#endif
