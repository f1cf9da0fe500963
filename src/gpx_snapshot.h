/* gpx_snapshot.h - a server's absolute totals as one self-describing blob.
 *
 * What Redis storage publishes and restores: every worker slot's counters,
 * its cores folded into one cell. The blob carries gpx's layout version and
 * cell size; a blob of another layout is refused, never misread. Blobs are
 * in the machine's byte order: a fleet shares one architecture.
 *
 * After the counters a blob may carry an extension: what the instance's
 * master saw when it took the snapshot (worker states, memory and CPU,
 * requests in progress, accept queues, storage health), for the fleet view.
 * It starts with its own magic, version and sizes: a reader takes the parts
 * it knows of a newer version and leaves the rest, and reads an older one
 * as far as it goes (what it lacks reads as zero). A blob without one (an
 * older gpx's) is read as counters only.
 *
 * The counters are the header, the class names, per worker slot its struct
 * gpx_slot and its cell's classic counters (GPX_CELL_CLASSIC_SIZE bytes),
 * then the native section: the cells' native histograms, sparse (a
 * method's buckets that counted, in runs), since most of their 289 buckets
 * per method stay zero and a dense copy would make a blob five times
 * larger. Section: struct gpx_snapshot_native, a uint32 offset (from the
 * section's start) per worker, and at each offset a uint32 count of runs,
 * each a struct gpx_snapshot_run and its `count` uint64 values.
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

#define GPX_SNAPSHOT_NATIVE_MAGIC "GPXNATV1"

/* The native section's first bytes. */
struct gpx_snapshot_native {
    char magic[8];    /* GPX_SNAPSHOT_NATIVE_MAGIC */
    uint32_t size;    /* bytes of the section, this header included */
    uint32_t workers; /* offsets that follow: the blob's workers */
};

/* Consecutive native buckets of one method. */
struct gpx_snapshot_run {
    uint16_t method; /* enum gpx_method */
    uint16_t first;  /* the first slot */
    uint16_t count;  /* slots, at least 1 */
    uint16_t reserved;
};

#define GPX_SNAPSHOT_EXT_MAGIC "GPXSNAPX"
#define GPX_SNAPSHOT_EXT_VERSION 1u
/* Listeners and storage operations an extension carries at most. */
#define GPX_SNAPSHOT_LISTENERS 8
#define GPX_SNAPSHOT_LISTENER_NAME 64
#define GPX_SNAPSHOT_STORAGE_OPS 8
#define GPX_SNAPSHOT_OP_LABEL 16

/* The extension's first bytes. */
struct gpx_snapshot_ext_header {
    char magic[8];        /* GPX_SNAPSHOT_EXT_MAGIC */
    uint32_t version;     /* GPX_SNAPSHOT_EXT_VERSION of the writer */
    uint32_t size;        /* bytes of the extension, this header included */
    uint32_t fixed_size;  /* bytes of the instance part (struct gpx_snapshot_live of the writer) */
    uint32_t worker_size; /* bytes of each worker's part (struct gpx_snapshot_worker of the writer) */
    uint32_t workers;     /* worker parts that follow: the counters' worker count */
    uint32_t reserved;
};

/* The instance part: read when the snapshot was taken, not counted. */
struct gpx_snapshot_live {
    uint32_t in_progress;      /* requests being handled */
    uint32_t workers_desired;  /* workers the master aims for */
    uint32_t storage_up;       /* 1 while the storage could be written */
    uint32_t listener_count;   /* entries of listeners[] in use */
    uint32_t storage_op_count; /* entries of storage[] in use */
    uint32_t worker_count;     /* configured worker slots (the blob may hold more) */
    struct {
        char name[GPX_SNAPSHOT_LISTENER_NAME]; /* NUL-terminated, cut to fit */
        uint64_t queued;
        uint64_t limit;
    } listeners[GPX_SNAPSHOT_LISTENERS];
    struct {
        char label[GPX_SNAPSHOT_OP_LABEL]; /* NUL-terminated */
        uint64_t errors;
    } storage[GPX_SNAPSHOT_STORAGE_OPS];
};

/* One worker slot's part. */
struct gpx_snapshot_worker {
    uint32_t state; /* enum gpx_worker_state */
    uint32_t live;  /* a process held the slot */
    double memory_bytes;
    double cpu_percent;
    double cpu_seconds;
    double uptime_seconds;
};

/* Appends a snapshot of live + base (base may be NULL) to out: the header,
 * the exception class names its cells count under (struct gpx_error_names),
 * per worker slot its slot and classic counters, the native section. Covers
 * the larger of the two boards' worker counts. Returns 0, or -1 on memory. */
int gpx_snapshot_encode(struct gpx_buf *out, const struct gpx_scoreboard *live, const struct gpx_scoreboard *base,
                        uint64_t now_unix);

/* Appends the extension to a blob that gpx_snapshot_encode just wrote:
 * `live`, and `workers` worker parts (as many as the blob's workers).
 * Returns 0, or -1 on memory. */
int gpx_snapshot_encode_live(struct gpx_buf *out, const struct gpx_snapshot_live *live,
                             const struct gpx_snapshot_worker *workers, unsigned count);

/* Checks a blob and points *header at it. Returns 0, -2 with err filled for
 * a snapshot of another layout (version or sizes), or -1 with err filled
 * (wrong magic or length, or a damaged extension). */
int gpx_snapshot_check(const void *blob, size_t len, const struct gpx_snapshot_header **header, char *err,
                       size_t errlen);

/* Reads a checked blob's extension: fills *live and workers[0..h->workers)
 * (parts the writer did not know, or the blob lacks, read as zero; strings
 * are NUL-terminated). Returns 1 when the blob has one, 0 when not (all
 * zero), and writes the extension's version to *version (0: none). */
int gpx_snapshot_read_live(const void *blob, size_t len, struct gpx_snapshot_live *live,
                           struct gpx_snapshot_worker *workers, uint32_t *version);

/* Copies a checked blob's class names out (a blob has no alignment promise). */
void gpx_snapshot_error_names(const struct gpx_snapshot_header *h, struct gpx_error_names *out);

/* The slot of worker `worker` (1-based) in a checked blob (unaligned: copy
 * it out). */
const struct gpx_slot *gpx_snapshot_slot(const struct gpx_snapshot_header *h, unsigned worker);

/* Worker `worker`'s (1-based) cell of a checked blob, classic counters and
 * native histograms, into *cell (aligned, the caller's). */
void gpx_snapshot_read_cell(const struct gpx_snapshot_header *h, unsigned worker, struct gpx_cell *cell);

/* Writes a blob worker by worker (what gpx_snapshot_encode and the reading
 * of an earlier layout use): begin with the header (its layout, sizes and
 * workers are set here) and the class names, one add per worker in order,
 * then finish, which appends the native section. */
struct gpx_snapshot_writer {
    struct gpx_buf *out;
    struct gpx_buf native; /* the section's runs, written as workers come */
    uint32_t *offsets;     /* each worker's runs in `native` */
    unsigned workers, added;
};
int gpx_snapshot_begin(struct gpx_snapshot_writer *w, struct gpx_buf *out, struct gpx_snapshot_header *h,
                       const struct gpx_error_names *names);
void gpx_snapshot_add_worker(struct gpx_snapshot_writer *w, const struct gpx_slot *slot, const struct gpx_cell *cell);
int gpx_snapshot_finish(struct gpx_snapshot_writer *w);

/* Adds a checked blob's counters into `base` (a one-core board written only
 * by the caller): worker w's cell into base's cell (w, 0), slots likewise;
 * slots beyond base's workers are folded into its last slot. The blob's
 * class names are added to base's table, failures follow their names. */
void gpx_snapshot_add_to(struct gpx_scoreboard *base, const struct gpx_snapshot_header *h);

#endif
