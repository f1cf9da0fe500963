/* gpx_snapshot.c - encoding and decoding of totals blobs (see gpx_snapshot.h). */
#define _POSIX_C_SOURCE 200809L
#include "gpx_snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t
entry_size(void)
{
    return sizeof(struct gpx_slot) + GPX_CELL_CLASSIC_SIZE;
}

/* Bytes of a blob's header, names and entries: where the native section
 * starts. */
static size_t
entries_size(uint32_t workers)
{
    return sizeof(struct gpx_snapshot_header) + sizeof(struct gpx_error_names) + (size_t)workers * entry_size();
}

static uint32_t
read_u32(const unsigned char *p)
{
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

/* Where the native section's offsets end and its runs may start. */
static size_t
native_runs_start(uint32_t workers)
{
    return sizeof(struct gpx_snapshot_native) + (size_t)workers * sizeof(uint32_t);
}

/* Checks the native section at p (avail bytes to the blob's end) of a blob
 * of `workers` entries: every offset, run and value inside it, every run of
 * a known method within the buckets. Its size in *size; 0, or -1. */
static int
native_check(const unsigned char *p, size_t avail, uint32_t workers, size_t *size)
{
    struct gpx_snapshot_native n;
    uint32_t w;

    if (avail < sizeof(n)) {
        return -1;
    }
    memcpy(&n, p, sizeof(n));
    if (memcmp(n.magic, GPX_SNAPSHOT_NATIVE_MAGIC, sizeof(n.magic)) != 0 || n.workers != workers ||
        n.size < native_runs_start(workers) || n.size > avail) {
        return -1;
    }
    for (w = 0; w < workers; w++) {
        size_t at = read_u32(p + sizeof(n) + (size_t)w * sizeof(uint32_t)), runs, r;

        if (at < native_runs_start(workers) || at > n.size - sizeof(uint32_t)) {
            return -1;
        }
        runs = read_u32(p + at);
        at += sizeof(uint32_t);
        for (r = 0; r < runs; r++) {
            struct gpx_snapshot_run run;

            if (n.size - at < sizeof(run)) {
                return -1;
            }
            memcpy(&run, p + at, sizeof(run));
            at += sizeof(run);
            if (run.method >= GPX_METHOD_COUNT || run.count == 0 || run.first + run.count > GPX_NATIVE_SLOTS ||
                n.size - at < (size_t)run.count * sizeof(uint64_t)) {
                return -1;
            }
            at += (size_t)run.count * sizeof(uint64_t);
        }
    }
    *size = n.size;
    return 0;
}

/* Bytes of a checked blob's counters (entries and native section): where
 * an extension starts. */
static size_t
counters_size(const struct gpx_snapshot_header *h, uint32_t workers)
{
    const unsigned char *native = (const unsigned char *)h + entries_size(workers);

    return entries_size(workers) + read_u32(native + offsetof(struct gpx_snapshot_native, size));
}

/* The largest part an extension may declare: far above any version's. */
#define EXT_PART_MAX 65536u

/* Whether the bytes after the counters start like an extension. */
static int
ext_starts(const unsigned char *p, size_t len)
{
    return len >= sizeof(struct gpx_snapshot_ext_header) &&
           memcmp(p, GPX_SNAPSHOT_EXT_MAGIC, sizeof(((struct gpx_snapshot_ext_header *)0)->magic)) == 0;
}

/* Checks an extension of `len` bytes behind a blob's `workers` entries. */
static int
ext_check(const unsigned char *p, size_t len, uint32_t workers, char *err, size_t errlen)
{
    struct gpx_snapshot_ext_header x;

    memcpy(&x, p, sizeof(x));
    if (x.version == 0 || x.size != len || x.workers != workers || x.fixed_size > EXT_PART_MAX ||
        x.worker_size > EXT_PART_MAX ||
        len != sizeof(x) + (size_t)x.fixed_size + (size_t)x.workers * (size_t)x.worker_size) {
        snprintf(err, errlen, "a damaged snapshot extension (version %u, %u workers, %zu bytes)", x.version, x.workers,
                 len);
        return -1;
    }
    return 0;
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
gpx_snapshot_begin(struct gpx_snapshot_writer *w, struct gpx_buf *out, struct gpx_snapshot_header *h,
                   const struct gpx_error_names *names)
{
    memset(w, 0, sizeof(*w));
    w->out = out;
    w->workers = h->workers;
    memcpy(h->magic, GPX_SNAPSHOT_MAGIC, sizeof(h->magic));
    h->layout_version = GPX_LAYOUT_VERSION;
    h->slot_size = sizeof(struct gpx_slot);
    h->cell_size = sizeof(struct gpx_cell);
    w->offsets = calloc(h->workers + 1, sizeof(*w->offsets));
    if (w->offsets == NULL || gpx_buf_init(&w->native, 4096) != 0) {
        free(w->offsets);
        w->offsets = NULL;
        out->failed = 1;
        return -1;
    }
    gpx_buf_append(out, (const char *)h, sizeof(*h));
    gpx_buf_append(out, (const char *)names, sizeof(*names));
    return out->failed ? -1 : 0;
}

/* Appends the runs of one method's native buckets: buckets that counted,
 * a lone zero between two of them kept in the run (it costs what a run's
 * header does). Returns the runs written. */
static uint32_t
put_runs(struct gpx_buf *b, unsigned method, const uint64_t native[GPX_NATIVE_SLOTS])
{
    uint32_t runs = 0;
    unsigned s = 0;

    while (s < GPX_NATIVE_SLOTS) {
        struct gpx_snapshot_run run;
        unsigned last;

        if (native[s] == 0) {
            s++;
            continue;
        }
        for (last = s; last + 1 < GPX_NATIVE_SLOTS &&
                       (native[last + 1] != 0 || (last + 2 < GPX_NATIVE_SLOTS && native[last + 2] != 0));
             last++) {
        }
        memset(&run, 0, sizeof(run));
        run.method = (uint16_t)method;
        run.first = (uint16_t)s;
        run.count = (uint16_t)(last - s + 1);
        gpx_buf_append(b, (const char *)&run, sizeof(run));
        gpx_buf_append(b, (const char *)&native[s], (size_t)run.count * sizeof(uint64_t));
        runs++;
        s = last + 1;
    }
    return runs;
}

void
gpx_snapshot_add_worker(struct gpx_snapshot_writer *w, const struct gpx_slot *slot, const struct gpx_cell *cell)
{
    size_t count_at = w->native.len;
    uint32_t runs = 0;
    unsigned m;

    if (w->offsets == NULL || w->added >= w->workers) {
        w->out->failed = 1;
        return;
    }
    gpx_buf_append(w->out, (const char *)slot, sizeof(*slot));
    gpx_buf_append(w->out, (const char *)cell, GPX_CELL_CLASSIC_SIZE);
    w->offsets[w->added++] = (uint32_t)count_at;
    gpx_buf_append(&w->native, (const char *)&runs, sizeof(runs));
    for (m = 0; m < GPX_METHOD_COUNT; m++) {
        if (cell->methods & (1u << m)) {
            runs += put_runs(&w->native, m, cell->native[m]);
        }
    }
    if (!w->native.failed) {
        memcpy(w->native.data + count_at, &runs, sizeof(runs));
    }
}

int
gpx_snapshot_finish(struct gpx_snapshot_writer *w)
{
    struct gpx_snapshot_native n;
    size_t start = native_runs_start(w->workers);
    unsigned i;
    int failed = w->offsets == NULL || w->added != w->workers || w->native.failed || start + w->native.len > UINT32_MAX;

    if (!failed) {
        memset(&n, 0, sizeof(n));
        memcpy(n.magic, GPX_SNAPSHOT_NATIVE_MAGIC, sizeof(n.magic));
        n.size = (uint32_t)(start + w->native.len);
        n.workers = w->workers;
        for (i = 0; i < w->workers; i++) {
            w->offsets[i] += (uint32_t)start;
        }
        gpx_buf_append(w->out, (const char *)&n, sizeof(n));
        gpx_buf_append(w->out, (const char *)w->offsets, (size_t)w->workers * sizeof(uint32_t));
        gpx_buf_append(w->out, w->native.data, w->native.len);
    }
    free(w->offsets);
    w->offsets = NULL;
    gpx_buf_free(&w->native);
    if (failed) {
        w->out->failed = 1;
    }
    return w->out->failed ? -1 : 0;
}

int
gpx_snapshot_encode(struct gpx_buf *out, const struct gpx_scoreboard *live, const struct gpx_scoreboard *base,
                    uint64_t now_unix)
{
    struct gpx_snapshot_header h;
    struct gpx_snapshot_writer writer;
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
    if (gpx_snapshot_begin(&writer, out, &h, &names) != 0) {
        free(mem);
        return -1;
    }
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
        gpx_snapshot_add_worker(&writer, &slot, cell);
    }
    free(mem);
    return gpx_snapshot_finish(&writer);
}

int
gpx_snapshot_check(const void *blob, size_t len, const struct gpx_snapshot_header **header, char *err, size_t errlen)
{
    struct gpx_snapshot_header copy;
    const struct gpx_snapshot_header *h = &copy;
    size_t native = 0, counters;

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
        return -2;
    }
    if (h->workers == 0 || h->workers > len || len < entries_size(h->workers) ||
        native_check((const unsigned char *)blob + entries_size(h->workers), len - entries_size(h->workers), h->workers,
                     &native) != 0) {
        snprintf(err, errlen, "a damaged snapshot (%u workers, %zu bytes)", h->workers, len);
        return -1;
    }
    counters = entries_size(h->workers) + native;
    if (len > counters && !ext_starts((const unsigned char *)blob + counters, len - counters)) {
        snprintf(err, errlen, "a damaged snapshot (%u workers, %zu bytes)", h->workers, len);
        return -1;
    }
    if (len > counters &&
        ext_check((const unsigned char *)blob + counters, len - counters, h->workers, err, errlen) != 0) {
        return -1;
    }
    *header = blob;
    return 0;
}

int
gpx_snapshot_encode_live(struct gpx_buf *out, const struct gpx_snapshot_live *live,
                         const struct gpx_snapshot_worker *workers, unsigned count)
{
    struct gpx_snapshot_ext_header x;

    memset(&x, 0, sizeof(x));
    memcpy(x.magic, GPX_SNAPSHOT_EXT_MAGIC, sizeof(x.magic));
    x.version = GPX_SNAPSHOT_EXT_VERSION;
    x.fixed_size = sizeof(*live);
    x.worker_size = sizeof(*workers);
    x.workers = count;
    x.size = (uint32_t)(sizeof(x) + sizeof(*live) + (size_t)count * sizeof(*workers));
    gpx_buf_append(out, (const char *)&x, sizeof(x));
    gpx_buf_append(out, (const char *)live, sizeof(*live));
    gpx_buf_append(out, (const char *)workers, (size_t)count * sizeof(*workers));
    return out->failed ? -1 : 0;
}

int
gpx_snapshot_read_live(const void *blob, size_t len, struct gpx_snapshot_live *live,
                       struct gpx_snapshot_worker *workers, uint32_t *version)
{
    struct gpx_snapshot_header h;
    struct gpx_snapshot_ext_header x;
    const unsigned char *p;
    unsigned i, w;

    memcpy(&h, blob, sizeof(h));
    memset(live, 0, sizeof(*live));
    memset(workers, 0, (size_t)h.workers * sizeof(*workers));
    *version = 0;
    if (len <= counters_size(blob, h.workers)) {
        return 0;
    }
    p = (const unsigned char *)blob + counters_size(blob, h.workers);
    memcpy(&x, p, sizeof(x));
    p += sizeof(x);
    /* What this gpx knows of each part: a newer writer's parts only grow. */
    memcpy(live, p, x.fixed_size < sizeof(*live) ? x.fixed_size : sizeof(*live));
    p += x.fixed_size;
    for (w = 0; w < h.workers; w++, p += x.worker_size) {
        memcpy(&workers[w], p, x.worker_size < sizeof(*workers) ? x.worker_size : sizeof(*workers));
    }
    if (live->listener_count > GPX_SNAPSHOT_LISTENERS) {
        live->listener_count = GPX_SNAPSHOT_LISTENERS;
    }
    if (live->storage_op_count > GPX_SNAPSHOT_STORAGE_OPS) {
        live->storage_op_count = GPX_SNAPSHOT_STORAGE_OPS;
    }
    for (i = 0; i < GPX_SNAPSHOT_LISTENERS; i++) {
        live->listeners[i].name[GPX_SNAPSHOT_LISTENER_NAME - 1] = '\0';
    }
    for (i = 0; i < GPX_SNAPSHOT_STORAGE_OPS; i++) {
        live->storage[i].label[GPX_SNAPSHOT_OP_LABEL - 1] = '\0';
    }
    *version = x.version;
    return 1;
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

void
gpx_snapshot_read_cell(const struct gpx_snapshot_header *h, unsigned worker, struct gpx_cell *cell)
{
    const unsigned char *native, *p;
    uint32_t workers, runs, r;

    memcpy(cell, (const unsigned char *)gpx_snapshot_slot(h, worker) + sizeof(struct gpx_slot), GPX_CELL_CLASSIC_SIZE);
    memset(cell->native, 0, sizeof(cell->native));
    memcpy(&workers, (const unsigned char *)h + offsetof(struct gpx_snapshot_header, workers), sizeof(workers));
    native = (const unsigned char *)h + entries_size(workers);
    p = native + read_u32(native + sizeof(struct gpx_snapshot_native) + (size_t)(worker - 1) * sizeof(uint32_t));
    runs = read_u32(p);
    p += sizeof(uint32_t);
    /* Checked by gpx_snapshot_check: every run is inside the section and
     * the buckets. */
    for (r = 0; r < runs; r++) {
        struct gpx_snapshot_run run;

        memcpy(&run, p, sizeof(run));
        p += sizeof(run);
        memcpy(&cell->native[run.method][run.first], p, (size_t)run.count * sizeof(uint64_t));
        p += (size_t)run.count * sizeof(uint64_t);
    }
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
        gpx_snapshot_read_cell(h, w, copy);
        add_slot(gpx_scoreboard_slot(base, into), &slot);
        gpx_cell_add_renamed(gpx_scoreboard_cell(base, into, 0), copy, map);
    }
    free(mem);
}
