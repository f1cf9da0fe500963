/* gpx_scoreboard.h - the shared-memory scoreboard that requests are counted in.
 *
 * One block per worker slot ("1".."N"), each holding the slot's own master
 * counters and one cell per writer thread of the worker. A cell is written
 * by exactly one thread (its owner) with plain relaxed stores: no lock, no
 * syscall, no allocation on the request path. Readers (the master's metrics
 * thread, the routing action) load the same words relaxed and sum the cells.
 *
 * The memory is anonymous (MAP_SHARED|MAP_ANONYMOUS), mapped by the master
 * before the first fork: no other process can shrink or remove it, so the
 * workers' and the master's accesses never fault. It outlives every worker;
 * what must outlive the master is kept in a file (gpx_boardfile.h) or in
 * Redis. It starts with a versioned header, which the file and the Redis
 * snapshot carry: a copy of another layout is refused, one with other worker
 * or core counts is grown or folded, never misread.
 */
#ifndef GPX_SCOREBOARD_H
#define GPX_SCOREBOARD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "gpx_catalog.h"
#include "gpx_error_names.h"

#define GPX_BOARD_MAGIC "GPXBOARD"
#define GPX_LAYOUT_VERSION 3u
#define GPX_HEADER_SIZE 4096u
/* Where the header area keeps the exception class names (the rest of it
 * after struct gpx_board_header). */
#define GPX_ERROR_NAMES_OFFSET 1024u

/* Distinct (method, status) pairs a cell keeps; more go to the class row. */
#define GPX_STATUS_SLOTS 64
/* Status classes of the overflow row: 1xx..5xx, and 0 for anything else. */
#define GPX_STATUS_CLASSES 6
/* Applications (uWSGI app ids) told apart by the endpoint label. */
#define GPX_MAX_APPS 8
/* Restart reasons a slot keeps (lifecycle fills these in). */
#define GPX_RESTART_REASONS 16
/* Distinct (method, app, exception class) triples a cell keeps; more are
 * counted without a class. */
#define GPX_FAILED_SLOTS 32

/* What the after-request hook knows of one finished request. */
struct gpx_request {
    unsigned method;        /* enum gpx_method */
    unsigned status;        /* HTTP status as recorded, 0..999 */
    unsigned app_id;        /* the application's index, clamped by the cell */
    uint64_t duration_us;   /* end of request minus its start */
    uint64_t request_size;  /* request body bytes (Content-Length) */
    uint64_t response_size; /* response body bytes written */
    uint64_t read_errors;   /* read errors while serving this request */
    uint64_t write_errors;  /* write errors while serving this request */
    int raised;             /* the app raised an exception */
    unsigned error_name;    /* 1 + its class's index in the board's name table; 0: unknown */
};

/* One (method, status) key and its count, side by side: counting a status
 * reads and writes one cache line. */
struct gpx_status_entry {
    uint32_t key; /* ((method + 1) << 10) | status; 0 = free */
    uint32_t unused;
    uint64_t count;
};

/* One method's duration histogram. The sum comes first, so that a fast
 * request's slot and the sum share the row's first cache line. */
struct gpx_duration_row {
    uint64_t sum_us;
    uint64_t slot[GPX_DURATION_SLOTS];
} __attribute__((aligned(64)));

/* One bucket of both size histograms. */
struct gpx_size_pair {
    uint64_t request;
    uint64_t response;
};

/* Both size histograms, interleaved: a request with a small body and a
 * small response writes one cache line. */
struct gpx_sizes {
    uint64_t request_sum;
    uint64_t response_sum;
    struct gpx_size_pair slot[GPX_SIZE_SLOTS];
} __attribute__((aligned(64)));

/* One writer's counters. Histogram slots are not cumulative: the renderer
 * accumulates them. The requests counter is the duration histogram's count.
 * The layout keeps what a common request writes to three cache lines (its
 * status entry, its method's first duration line, the first size line):
 * with many busy processes on a CPU, each line a request touches is a
 * likely cache miss. Aligned to a cache line so that two writers never
 * share one. */
struct gpx_cell {
    struct gpx_status_entry status[GPX_STATUS_SLOTS] __attribute__((aligned(64)));
    struct gpx_duration_row duration[GPX_METHOD_COUNT];
    struct gpx_sizes sizes;
    uint32_t methods; /* bit m: method m has counted; set before any of its counters */
    uint64_t status_overflow[GPX_METHOD_COUNT][GPX_STATUS_CLASSES];
    uint64_t failed[GPX_METHOD_COUNT][GPX_MAX_APPS]; /* failures of no known class */
    uint32_t failed_key[GPX_FAILED_SLOTS];           /* gpx_failed_key(); 0 = free */
    uint64_t failed_count[GPX_FAILED_SLOTS];         /* failures of a known class */
    uint64_t read_errors[GPX_METHOD_COUNT][GPX_MAX_APPS];
    uint64_t write_errors[GPX_METHOD_COUNT][GPX_MAX_APPS];
} __attribute__((aligned(64)));

/* Words of struct gpx_slot's `carried`: six per-worker counters, then the
 * requests and the exceptions of each of GPX_MAX_APPS applications. */
#define GPX_SLOT_CARRIED (6 + 2 * GPX_MAX_APPS)

/* Counters of a worker slot kept by the master, not by the worker. */
struct gpx_slot {
    uint64_t restarts[GPX_RESTART_REASONS];
    /* What earlier masters counted in uWSGI's own per-worker and per-app
     * counters (the uwsgi-exporter profile, gpx_profile_uwsgi.h): words
     * that were reserved before, so zero in an older file. */
    uint64_t carried[GPX_SLOT_CARRIED];
    uint64_t reserved[48 - GPX_SLOT_CARRIED];
} __attribute__((aligned(64)));

/* The board's first bytes, and its file's. */
struct gpx_board_header {
    char magic[8];           /* GPX_BOARD_MAGIC, written last on creation */
    uint32_t layout_version; /* GPX_LAYOUT_VERSION */
    uint32_t header_size;    /* GPX_HEADER_SIZE */
    uint32_t slot_size;      /* sizeof(struct gpx_slot) */
    uint32_t cell_size;      /* sizeof(struct gpx_cell) */
    uint32_t workers;        /* worker blocks in the map */
    uint32_t cores;          /* cells per worker block */
    uint64_t map_size;       /* bytes, header included */
    uint64_t created_unix;   /* when the counters started */
};

/* A process's handle on a scoreboard. */
struct gpx_scoreboard {
    struct gpx_board_header *header;
    unsigned char *base; /* the mapping */
    size_t size;         /* bytes mapped */
    size_t block_size;   /* bytes per worker block */
    unsigned workers;    /* worker blocks (may exceed the configured count) */
    unsigned cores;      /* cells per block */
};

/* Maps an anonymous scoreboard (header filled, counters zero, started now).
 * Returns 0, or -1 with err filled. */
int gpx_scoreboard_open_anonymous(struct gpx_scoreboard *board, unsigned workers, unsigned cores, char *err,
                                  size_t errlen);

/* Unmaps a board of gpx_scoreboard_open_anonymous. Safe on a zeroed handle. */
void gpx_scoreboard_close(struct gpx_scoreboard *board);

/* Bytes of a board of `workers` blocks of `cores` cells, header included. */
size_t gpx_scoreboard_map_size(unsigned workers, unsigned cores);

/* Writes a header of this layout (the magic last). */
void gpx_scoreboard_fill_header(struct gpx_board_header *h, unsigned workers, unsigned cores, uint64_t created);

/* Makes `board` a view of `size` bytes at `base` whose header was checked
 * (a copy read from a file). Not to be closed: the memory is the caller's. */
void gpx_scoreboard_attach(struct gpx_scoreboard *board, void *base, size_t size);

/* Writes "<dir>/gpx_<instance>.scoreboard" into out. Returns 0, or -1 if it
 * does not fit. The suffix keeps prometheus_client's *.db glob away. */
int gpx_scoreboard_path(char *out, size_t outlen, const char *dir, const char *instance);

/* The slot counters of worker `worker` (1-based). */
static inline struct gpx_slot *
gpx_scoreboard_slot(const struct gpx_scoreboard *board, unsigned worker)
{
    return (struct gpx_slot *)(board->base + GPX_HEADER_SIZE + (size_t)(worker - 1) * board->block_size);
}

/* The exception class names every cell's failed_key refers to. */
static inline struct gpx_error_names *
gpx_scoreboard_error_names(const struct gpx_scoreboard *board)
{
    return (struct gpx_error_names *)(board->base + GPX_ERROR_NAMES_OFFSET);
}

/* The cell of worker `worker` (1-based) and core `core` (0-based). */
static inline struct gpx_cell *
gpx_scoreboard_cell(const struct gpx_scoreboard *board, unsigned worker, unsigned core)
{
    return (struct gpx_cell *)((unsigned char *)gpx_scoreboard_slot(board, worker) + sizeof(struct gpx_slot) +
                               (size_t)core * sizeof(struct gpx_cell));
}

/* A single-writer increment: a relaxed load and store, no locked instruction. */
#define GPX_BUMP(word, by)                                                                                             \
    __atomic_store_n(&(word), __atomic_load_n(&(word), __ATOMIC_RELAXED) + (by), __ATOMIC_RELAXED)
#define GPX_READ(word) __atomic_load_n(&(word), __ATOMIC_RELAXED)

static inline unsigned
gpx_status_class(unsigned status)
{
    unsigned cls = status / 100;

    return cls >= 1 && cls <= 5 ? cls : 0;
}

/* Publishes that `method` has counted in the cell, before its first count:
 * readers skip the counters of methods without a bit (gpx_cell_add). Only
 * the cell's owner writes the mask, so no compare-and-swap; it is read
 * here only when a key is new or the table is full. */
static inline void
gpx_cell_mark_method(struct gpx_cell *cell, unsigned method)
{
    uint32_t methods = __atomic_load_n(&cell->methods, __ATOMIC_RELAXED);

    if (!(methods & (1u << method))) {
        __atomic_store_n(&cell->methods, methods | (1u << method), __ATOMIC_RELEASE);
    }
}

/* Counts a status under its own key, or under its class once the table is
 * full. Only the cell's owner inserts keys, so no compare-and-swap. */
static inline void
gpx_cell_count_status(struct gpx_cell *cell, unsigned method, unsigned status)
{
    uint32_t key = ((uint32_t)(method + 1) << 10) | (status < 1000 ? status : 0);
    unsigned i = (key * 2654435761u) >> 26; /* 0..63 */
    unsigned probes;

    for (probes = 0; probes < GPX_STATUS_SLOTS; probes++, i = (i + 1) & (GPX_STATUS_SLOTS - 1)) {
        uint32_t seen = __atomic_load_n(&cell->status[i].key, __ATOMIC_RELAXED);

        if (seen == key) {
            GPX_BUMP(cell->status[i].count, 1);
            return;
        }
        if (seen == 0) {
            gpx_cell_mark_method(cell, method);
            __atomic_store_n(&cell->status[i].key, key, __ATOMIC_RELEASE);
            GPX_BUMP(cell->status[i].count, 1);
            return;
        }
    }
    gpx_cell_mark_method(cell, method);
    GPX_BUMP(cell->status_overflow[method][gpx_status_class(status)], 1);
}

static inline uint32_t
gpx_failed_key(unsigned method, unsigned app, unsigned name)
{
    return ((uint32_t)(method + 1) << 16) | ((uint32_t)app << 8) | name;
}

static inline unsigned
gpx_failed_slot(uint32_t key)
{
    return (key * 2654435761u) >> 27; /* 0..31 */
}

/* Counts a failure under its class, or without one when the class is not
 * known or the cell's table is full. Only the cell's owner inserts keys. */
static inline void
gpx_cell_count_failure(struct gpx_cell *cell, unsigned method, unsigned app, int name)
{
    uint32_t key;
    unsigned i, probes;

    if (name < 0 || name >= GPX_ERROR_NAMES) {
        GPX_BUMP(cell->failed[method][app], 1);
        return;
    }
    key = gpx_failed_key(method, app, (unsigned)name);
    i = gpx_failed_slot(key);
    for (probes = 0; probes < GPX_FAILED_SLOTS; probes++, i = (i + 1) & (GPX_FAILED_SLOTS - 1)) {
        uint32_t seen = __atomic_load_n(&cell->failed_key[i], __ATOMIC_RELAXED);

        if (seen == key) {
            GPX_BUMP(cell->failed_count[i], 1);
            return;
        }
        if (seen == 0) {
            __atomic_store_n(&cell->failed_key[i], key, __ATOMIC_RELEASE);
            GPX_BUMP(cell->failed_count[i], 1);
            return;
        }
    }
    GPX_BUMP(cell->failed[method][app], 1);
}

/* Records one finished request into its owner's cell. */
static inline void
gpx_cell_record(struct gpx_cell *cell, const struct gpx_request *req)
{
    unsigned m = req->method < GPX_METHOD_COUNT ? req->method : GPX_METHOD_OTHER;
    unsigned app = req->app_id < GPX_MAX_APPS ? req->app_id : GPX_MAX_APPS - 1;

    /* The status first: a method's first status marks the method in the
     * cell (gpx_cell_mark_method), before anything else of it is written. */
    gpx_cell_count_status(cell, m, req->status);
    GPX_BUMP(cell->duration[m].slot[gpx_duration_slot(req->duration_us)], 1);
    GPX_BUMP(cell->duration[m].sum_us, req->duration_us);
    GPX_BUMP(cell->sizes.slot[gpx_size_slot(req->request_size)].request, 1);
    GPX_BUMP(cell->sizes.request_sum, req->request_size);
    GPX_BUMP(cell->sizes.slot[gpx_size_slot(req->response_size)].response, 1);
    GPX_BUMP(cell->sizes.response_sum, req->response_size);
    if (req->raised) {
        gpx_cell_count_failure(cell, m, app, (int)req->error_name - 1);
    }
    if (req->read_errors) {
        GPX_BUMP(cell->read_errors[m][app], req->read_errors);
    }
    if (req->write_errors) {
        GPX_BUMP(cell->write_errors[m][app], req->write_errors);
    }
}

/* Adds src's counters into dst (a private cell, e.g. a zeroed local): the
 * reader's side of summing cores. Status keys are merged; keys that do not
 * fit go to dst's class row. Only the rows of methods marked in src's
 * `methods` are read: whatever writes a cell marks a method before it
 * counts anything of it, as gpx_cell_record and this function do. */
void gpx_cell_add(struct gpx_cell *dst, const struct gpx_cell *src);

/* gpx_cell_add for cells whose class names are in another table: src's name
 * index i is counted as map[i] in dst (-1: without a class). */
void gpx_cell_add_renamed(struct gpx_cell *dst, const struct gpx_cell *src, const int map[GPX_ERROR_NAMES]);

/* Failures a (private) cell counted for (method, app) under class `name`. */
uint64_t gpx_cell_failures(const struct gpx_cell *cell, unsigned method, unsigned app, unsigned name);

/* Sums all cells of worker `worker` (1-based) into *out (zeroed first). */
void gpx_scoreboard_sum_worker(const struct gpx_scoreboard *board, unsigned worker, struct gpx_cell *out);

/* Requests a cell counted: the duration histogram's total. */
uint64_t gpx_cell_requests(const struct gpx_cell *cell);

#endif
