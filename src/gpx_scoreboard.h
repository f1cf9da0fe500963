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
#include "gpx_inline.h"

#define GPX_BOARD_MAGIC "GPXBOARD"
#define GPX_LAYOUT_VERSION 4u
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
 * The layout keeps what a common request writes to four cache lines (its
 * status entry, its method's first duration line, its native bucket's
 * line, the first size line):
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
    /* Each method's native histogram (gpx_native_slot), apart from the
     * rest: a request writes one more cache line, a page that serves no
     * native histogram reads none of it. Last, and on a line of its own,
     * so that layout 3's cell is this cell up to here (gpx_layout.h). */
    uint64_t native[GPX_METHOD_COUNT][GPX_NATIVE_SLOTS] __attribute__((aligned(64)));
} __attribute__((aligned(64)));

/* A cell's bytes before its native histograms: its classic counters (and
 * the whole cell of layout 3). */
#define GPX_CELL_CLASSIC_SIZE offsetof(struct gpx_cell, native)

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

/* A single-writer increment, no locked instruction: readers load the word
 * relaxed and see it before or after, never torn. On x86-64 one unlocked
 * add to memory (an aligned 8-byte store is single-copy atomic there, and
 * the cell's owner is its only writer): one instruction where the relaxed
 * load, add and store take three, on every counter of every request.
 * Elsewhere, and under ThreadSanitizer (which sees no store in an asm),
 * the relaxed load and store. */
#if defined(__SANITIZE_THREAD__) /* GCC's ThreadSanitizer */
#define GPX_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) /* clang's */
#define GPX_TSAN 1
#endif
#endif
#if defined(__x86_64__) && !defined(GPX_TSAN)
#define GPX_BUMP(word, by) __asm__ volatile("addq %1, %0" : "+m"(word) : "er"((uint64_t)(by)))
#else
#define GPX_BUMP(word, by)                                                                                             \
    __atomic_store_n(&(word), __atomic_load_n(&(word), __ATOMIC_RELAXED) + (by), __ATOMIC_RELAXED)
#endif
#define GPX_READ(word) __atomic_load_n(&(word), __ATOMIC_RELAXED)

GPX_INLINE unsigned
gpx_status_class(unsigned status)
{
    unsigned cls = status / 100;

    return cls >= 1 && cls <= 5 ? cls : 0;
}

/* Publishes that `method` has counted in the cell, before its first count:
 * readers skip the counters of methods without a bit (gpx_cell_add). Only
 * the cell's owner writes the mask, so no compare-and-swap; it is read
 * here only when a key is new or the table is full. */
GPX_INLINE void
gpx_cell_mark_method(struct gpx_cell *cell, unsigned method)
{
    uint32_t methods = __atomic_load_n(&cell->methods, __ATOMIC_RELAXED);

    if (!(methods & (1u << method))) {
        __atomic_store_n(&cell->methods, methods | (1u << method), __ATOMIC_RELEASE);
    }
}

/* gpx_cell_count_status when the key is not at its first place: probes
 * further, inserts a new key, or counts under the status's class once the
 * table is full. Out of line: a cell's keys settle within its first
 * requests, after which nearly every status is found at once. */
static __attribute__((noinline, unused)) void
gpx_cell_count_status_probe(struct gpx_cell *cell, unsigned method, unsigned status, uint32_t key, unsigned i)
{
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

/* A (method, status) pair's key in a cell's status table; `status` above
 * 999 is counted as 0. */
GPX_INLINE uint32_t
gpx_status_key(unsigned method, unsigned status)
{
    return ((uint32_t)(method + 1) << 10) | (status < 1000 ? status : 0);
}

/* Where a key is looked for first (0..63). */
GPX_INLINE unsigned
gpx_status_place(uint32_t key)
{
    return (key * 2654435761u) >> 26;
}

/* Counts a status under its own key, or under its class once the table is
 * full. Only the cell's owner inserts keys, so no compare-and-swap. */
GPX_INLINE void
gpx_cell_count_status(struct gpx_cell *cell, unsigned method, unsigned status)
{
    uint32_t key = gpx_status_key(method, status);
    unsigned i = gpx_status_place(key);

    if (__builtin_expect(__atomic_load_n(&cell->status[i].key, __ATOMIC_RELAXED) == key, 1)) {
        GPX_BUMP(cell->status[i].count, 1);
        return;
    }
    gpx_cell_count_status_probe(cell, method, status, key, i);
}

GPX_INLINE uint32_t
gpx_failed_key(unsigned method, unsigned app, unsigned name)
{
    return ((uint32_t)(method + 1) << 16) | ((uint32_t)app << 8) | name;
}

GPX_INLINE unsigned
gpx_failed_slot(uint32_t key)
{
    return (key * 2654435761u) >> 27; /* 0..31 */
}

/* Counts a failure under its class, or without one when the class is not
 * known or the cell's table is full. Only the cell's owner inserts keys. */
GPX_INLINE void
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

/* Counts a request's duration and sizes, after its status (which marks
 * the method in the cell): three cache lines when the values are small, the
 * method's first duration line, its native histogram's line and the first
 * size line. */
GPX_INLINE void
gpx_cell_count_rest(struct gpx_cell *cell, unsigned m, uint64_t duration_us, uint64_t request_size,
                    uint64_t response_size)
{
    unsigned duration_slot = gpx_duration_slot(duration_us); /* once: GPX_BUMP names its word twice */
    unsigned request_slot = 0, response_slot = 0;

    unsigned native_slot = gpx_native_slot(duration_us);

    GPX_BUMP(cell->duration[m].slot[duration_slot], 1);
    GPX_BUMP(cell->duration[m].sum_us, duration_us);
    GPX_BUMP(cell->native[m][native_slot], 1);
    /* Both size histograms have the same bounds: one compare places both
     * sizes of a small request and response in the first slot (the OR is
     * at least the larger of the two, so it never places a size wrongly;
     * it may only send a pair of small sizes to the searches). */
    if ((request_size | response_size) > GPX_SIZE_FIRST_BOUND) {
        request_slot = gpx_size_slot(request_size);
        response_slot = gpx_size_slot(response_size);
    }
    GPX_BUMP(cell->sizes.slot[request_slot].request, 1);
    GPX_BUMP(cell->sizes.request_sum, request_size);
    GPX_BUMP(cell->sizes.slot[response_slot].response, 1);
    GPX_BUMP(cell->sizes.response_sum, response_size);
}

/* Counts what every request writes: its status, duration and sizes, in
 * four cache lines when its status key is known and its values are small
 * (the status entry, the method's first duration line, its native bucket's
 * line, the first size line). `m` is a method index, `status` 0..999 (0 for anything else). The
 * status first: a method's first status marks the method in the cell
 * (gpx_cell_mark_method), before anything else of it is written. */
GPX_INLINE void
gpx_cell_count(struct gpx_cell *cell, unsigned m, unsigned status, uint64_t duration_us, uint64_t request_size,
               uint64_t response_size)
{
    gpx_cell_count_status(cell, m, status);
    gpx_cell_count_rest(cell, m, duration_us, request_size, response_size);
}

/* What few requests have: an exception, read or write errors (per
 * application). Out of line, so that the common path carries none of it. */
static __attribute__((noinline, cold, unused)) void
gpx_cell_record_rare(struct gpx_cell *cell, unsigned m, const struct gpx_request *req)
{
    unsigned app = req->app_id < GPX_MAX_APPS ? req->app_id : GPX_MAX_APPS - 1;

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

/* Records one finished request into its owner's cell. */
GPX_INLINE void
gpx_cell_record(struct gpx_cell *cell, const struct gpx_request *req)
{
    unsigned m = req->method < GPX_METHOD_COUNT ? req->method : GPX_METHOD_OTHER;

    gpx_cell_count(cell, m, req->status < 1000 ? req->status : 0, req->duration_us, req->request_size,
                   req->response_size);
    if (__builtin_expect(req->raised | (req->read_errors != 0) | (req->write_errors != 0), 0)) {
        gpx_cell_record_rare(cell, m, req);
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

/* gpx_cell_add_renamed, with the native histograms only when `native`:
 * a page that serves none need not read them (map may be NULL). */
void gpx_cell_add_parts(struct gpx_cell *dst, const struct gpx_cell *src, const int map[GPX_ERROR_NAMES], int native);

/* Failures a (private) cell counted for (method, app) under class `name`. */
uint64_t gpx_cell_failures(const struct gpx_cell *cell, unsigned method, unsigned app, unsigned name);

/* Sums all cells of worker `worker` (1-based) into *out (zeroed first). */
void gpx_scoreboard_sum_worker(const struct gpx_scoreboard *board, unsigned worker, struct gpx_cell *out);

/* Requests a cell counted: the duration histogram's total. */
uint64_t gpx_cell_requests(const struct gpx_cell *cell);

#endif
