/* gpx_snapshot.c - encoding and decoding of totals blobs (see gpx_snapshot.h). */
#define _POSIX_C_SOURCE 200809L
#include "gpx_snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t
entry_size(void)
{
    return sizeof(struct gpx_slot) + sizeof(struct gpx_cell);
}

/* Where the worker entries start: after the header and the names. */
static const unsigned char *
entries(const struct gpx_snapshot_header *h)
{
    return (const unsigned char *)(h + 1) + sizeof(struct gpx_error_names);
}

static void
add_slot(struct gpx_slot *dst, const struct gpx_slot *src)
{
    unsigned i;

    for (i = 0; i < GPX_RESTART_REASONS; i++) {
        dst->restarts[i] += GPX_READ(src->restarts[i]);
    }
    for (i = 0; i < GPX_SLOT_CARRIED; i++) {
        dst->carried[i] += GPX_READ(src->carried[i]);
    }
}

int
gpx_snapshot_encode(struct gpx_buf *out, const struct gpx_scoreboard *live, const struct gpx_scoreboard *base,
                    uint64_t now_unix)
{
    struct gpx_snapshot_header h;
    unsigned workers = live->workers, w;
    struct gpx_cell *cell;
    struct gpx_slot slot;
    struct gpx_error_names names;
    int live_map[GPX_ERROR_NAMES], base_map[GPX_ERROR_NAMES];
    void *mem;
    unsigned c;

    if (base != NULL && base->workers > workers) {
        workers = base->workers;
    }
    if (posix_memalign(&mem, _Alignof(struct gpx_cell), sizeof(struct gpx_cell)) != 0) {
        out->failed = 1;
        return -1;
    }
    cell = mem;
    memset(&h, 0, sizeof(h));
    memcpy(h.magic, GPX_SNAPSHOT_MAGIC, sizeof(h.magic));
    h.layout_version = GPX_LAYOUT_VERSION;
    h.slot_size = sizeof(struct gpx_slot);
    h.cell_size = sizeof(struct gpx_cell);
    h.workers = workers;
    h.created_unix = base != NULL && base->header->created_unix < live->header->created_unix
                         ? base->header->created_unix
                         : live->header->created_unix;
    h.taken_unix = now_unix;
    /* The live board and the restored base name classes each in their own
     * table: the blob carries one table that both are renamed into. */
    memset(&names, 0, sizeof(names));
    gpx_error_names_merge(&names, gpx_scoreboard_error_names(live), live_map);
    if (base != NULL) {
        gpx_error_names_merge(&names, gpx_scoreboard_error_names(base), base_map);
    }
    gpx_buf_append(out, (const char *)&h, sizeof(h));
    gpx_buf_append(out, (const char *)&names, sizeof(names));
    for (w = 1; w <= workers; w++) {
        memset(&slot, 0, sizeof(slot));
        memset(cell, 0, sizeof(*cell));
        if (w <= live->workers) {
            add_slot(&slot, gpx_scoreboard_slot(live, w));
            for (c = 0; c < live->cores; c++) {
                gpx_cell_add_renamed(cell, gpx_scoreboard_cell(live, w, c), live_map);
            }
        }
        if (base != NULL && w <= base->workers) {
            add_slot(&slot, gpx_scoreboard_slot(base, w));
            gpx_cell_add_renamed(cell, gpx_scoreboard_cell(base, w, 0), base_map);
        }
        gpx_buf_append(out, (const char *)&slot, sizeof(slot));
        gpx_buf_append(out, (const char *)cell, sizeof(*cell));
    }
    free(mem);
    return out->failed ? -1 : 0;
}

int
gpx_snapshot_check(const void *blob, size_t len, const struct gpx_snapshot_header **header, char *err, size_t errlen)
{
    struct gpx_snapshot_header copy;
    const struct gpx_snapshot_header *h = &copy;

    /* A blob in a Redis reply has no alignment promise: read a copy. */
    if (len >= sizeof(copy)) {
        memcpy(&copy, blob, sizeof(copy));
    }
    if (len < sizeof(*h) || memcmp(h->magic, GPX_SNAPSHOT_MAGIC, sizeof(h->magic)) != 0) {
        snprintf(err, errlen, "not a gpx snapshot (%zu bytes)", len);
        return -1;
    }
    if (h->layout_version != GPX_LAYOUT_VERSION || h->slot_size != sizeof(struct gpx_slot) ||
        h->cell_size != sizeof(struct gpx_cell)) {
        snprintf(err, errlen, "a snapshot of another gpx layout (version %u, %u-byte cells; this gpx reads %u, %zu)",
                 h->layout_version, h->cell_size, GPX_LAYOUT_VERSION, sizeof(struct gpx_cell));
        return -1;
    }
    if (h->workers == 0 || len != sizeof(*h) + sizeof(struct gpx_error_names) + (size_t)h->workers * entry_size()) {
        snprintf(err, errlen, "a damaged snapshot (%u workers, %zu bytes)", h->workers, len);
        return -1;
    }
    *header = blob;
    return 0;
}

void
gpx_snapshot_error_names(const struct gpx_snapshot_header *h, struct gpx_error_names *out)
{
    memcpy(out, h + 1, sizeof(*out));
}

const struct gpx_slot *
gpx_snapshot_slot(const struct gpx_snapshot_header *h, unsigned worker)
{
    return (const struct gpx_slot *)(entries(h) + (size_t)(worker - 1) * entry_size());
}

const struct gpx_cell *
gpx_snapshot_cell(const struct gpx_snapshot_header *h, unsigned worker)
{
    return (const struct gpx_cell *)((const unsigned char *)gpx_snapshot_slot(h, worker) + sizeof(struct gpx_slot));
}

void
gpx_snapshot_add_to(struct gpx_scoreboard *base, const struct gpx_snapshot_header *h)
{
    unsigned w;
    uint32_t workers;
    struct gpx_cell *copy;
    struct gpx_error_names names;
    int map[GPX_ERROR_NAMES];
    void *mem;

    gpx_snapshot_error_names(h, &names);
    gpx_error_names_merge(gpx_scoreboard_error_names(base), &names, map);
    /* A blob in a Redis reply has no alignment promise: copy each cell out. */
    memcpy(&workers, (const unsigned char *)h + offsetof(struct gpx_snapshot_header, workers), sizeof(workers));
    if (posix_memalign(&mem, _Alignof(struct gpx_cell), sizeof(struct gpx_cell)) != 0) {
        return;
    }
    copy = mem;
    for (w = 1; w <= workers; w++) {
        unsigned into = w <= base->workers ? w : base->workers;
        struct gpx_slot slot;

        memcpy(&slot, gpx_snapshot_slot(h, w), sizeof(slot));
        memcpy(copy, gpx_snapshot_cell(h, w), sizeof(*copy));
        add_slot(gpx_scoreboard_slot(base, into), &slot);
        gpx_cell_add_renamed(gpx_scoreboard_cell(base, into, 0), copy, map);
    }
    free(mem);
}
