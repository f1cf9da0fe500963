/* gpx_layout.c - counters of layout 3 read into this layout (gpx_layout.h). */
#define _POSIX_C_SOURCE 200809L
#include "gpx_layout.h"

#include <stdlib.h>
#include <string.h>

#include "gpx_error_names.h"

_Static_assert(GPX_CELL_V3_SIZE % 64 == 0, "layout 3's cell ends on a cache line");

void
gpx_layout_native_from_classic(struct gpx_cell *cell)
{
    unsigned m, s;

    for (m = 0; m < GPX_METHOD_COUNT; m++) {
        for (s = 0; s < GPX_DURATION_SLOTS; s++) {
            /* The bound itself, or for +Inf the microsecond above the last. */
            uint64_t at = s < GPX_DURATION_BOUNDS ? gpx_duration_bounds_us[s]
                                                  : gpx_duration_bounds_us[GPX_DURATION_BOUNDS - 1] + 1;

            cell->native[m][gpx_native_slot(at)] += cell->duration[m].slot[s];
        }
    }
}

int
gpx_layout_board_is_v3(const struct gpx_board_header *h)
{
    return h->layout_version == GPX_LAYOUT_V3 && h->header_size == GPX_HEADER_SIZE &&
           h->slot_size == sizeof(struct gpx_slot) && h->cell_size == GPX_CELL_V3_SIZE;
}

/* Copies a layout-3 cell into a zeroed cell of this layout. */
static void
upgrade_cell(struct gpx_cell *to, const unsigned char *from)
{
    memcpy(to, from, GPX_CELL_V3_SIZE);
    gpx_layout_native_from_classic(to);
}

unsigned char *
gpx_layout_board_upgrade(const unsigned char *image, size_t len, size_t *out_len)
{
    struct gpx_board_header h;
    struct gpx_scoreboard board;
    size_t old_block, size;
    unsigned char *out;
    unsigned w, c;

    if (len < GPX_HEADER_SIZE) {
        return NULL;
    }
    memcpy(&h, image, sizeof(h));
    old_block = sizeof(struct gpx_slot) + (size_t)h.cores * GPX_CELL_V3_SIZE;
    if (!gpx_layout_board_is_v3(&h) || h.workers == 0 || h.cores == 0 ||
        len < GPX_HEADER_SIZE + (size_t)h.workers * old_block) {
        return NULL;
    }
    size = gpx_scoreboard_map_size(h.workers, h.cores);
    if (posix_memalign((void **)&out, 64, size) != 0) {
        return NULL;
    }
    memset(out, 0, size);
    /* The header area (the header and the class names), then each block. */
    memcpy(out, image, GPX_HEADER_SIZE);
    gpx_scoreboard_fill_header((struct gpx_board_header *)out, h.workers, h.cores, h.created_unix);
    gpx_scoreboard_attach(&board, out, size);
    for (w = 1; w <= h.workers; w++) {
        const unsigned char *block = image + GPX_HEADER_SIZE + (size_t)(w - 1) * old_block;

        memcpy(gpx_scoreboard_slot(&board, w), block, sizeof(struct gpx_slot));
        for (c = 0; c < h.cores; c++) {
            upgrade_cell(gpx_scoreboard_cell(&board, w, c),
                         block + sizeof(struct gpx_slot) + (size_t)c * GPX_CELL_V3_SIZE);
        }
    }
    *out_len = size;
    return out;
}

int
gpx_layout_snapshot_upgrade(const void *blob, size_t len, struct gpx_buf *out)
{
    const unsigned char *p = blob;
    struct gpx_snapshot_header h;
    struct gpx_snapshot_writer writer;
    struct gpx_error_names names;
    size_t entry = sizeof(struct gpx_slot) + GPX_CELL_V3_SIZE, counters;
    struct gpx_slot slot;
    struct gpx_cell *cell;
    unsigned w;
    int rc;

    if (len < sizeof(h)) {
        return -1;
    }
    memcpy(&h, blob, sizeof(h));
    counters = sizeof(h) + sizeof(names) + (size_t)h.workers * entry;
    if (memcmp(h.magic, GPX_SNAPSHOT_MAGIC, sizeof(h.magic)) != 0 || h.layout_version != GPX_LAYOUT_V3 ||
        h.slot_size != sizeof(struct gpx_slot) || h.cell_size != GPX_CELL_V3_SIZE || h.workers == 0 ||
        h.workers > len || len < counters) {
        return -1;
    }
    if (posix_memalign((void **)&cell, _Alignof(struct gpx_cell), sizeof(*cell)) != 0) {
        return -1;
    }
    memcpy(&names, p + sizeof(h), sizeof(names));
    if (gpx_snapshot_begin(&writer, out, &h, &names) != 0) {
        free(cell);
        return -1;
    }
    p += sizeof(h) + sizeof(names);
    for (w = 0; w < h.workers; w++, p += entry) {
        memset(cell, 0, sizeof(*cell));
        upgrade_cell(cell, p + sizeof(struct gpx_slot));
        memcpy(&slot, p, sizeof(slot));
        gpx_snapshot_add_worker(&writer, &slot, cell);
    }
    rc = gpx_snapshot_finish(&writer);
    /* The extension (the fleet view's) does not depend on the cell. */
    gpx_buf_append(out, (const char *)p, len - counters);
    free(cell);
    return rc == 0 && !out->failed ? 0 : -1;
}
