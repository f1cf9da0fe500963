/* gpx_scoreboard.c - mapping, versioning and summing of the scoreboard.
 *
 * Called by the glue in the master before the first fork (open), by the
 * metrics thread and the routing action (sum), never on the request path:
 * recording is inline in gpx_scoreboard.h. The file that keeps the counters
 * between masters is gpx_boardfile's.
 */
#define _GNU_SOURCE
#include "gpx_scoreboard.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "gpx_log.h"

_Static_assert(sizeof(struct gpx_board_header) <= GPX_ERROR_NAMES_OFFSET &&
                   GPX_ERROR_NAMES_OFFSET + sizeof(struct gpx_error_names) <= GPX_HEADER_SIZE,
               "the header area holds the header and the class names");

static size_t
block_size_for(unsigned cores)
{
    return sizeof(struct gpx_slot) + (size_t)cores * sizeof(struct gpx_cell);
}

size_t
gpx_scoreboard_map_size(unsigned workers, unsigned cores)
{
    return GPX_HEADER_SIZE + (size_t)workers * block_size_for(cores);
}

void
gpx_scoreboard_fill_header(struct gpx_board_header *h, unsigned workers, unsigned cores, uint64_t created)
{
    h->layout_version = GPX_LAYOUT_VERSION;
    h->header_size = GPX_HEADER_SIZE;
    h->slot_size = sizeof(struct gpx_slot);
    h->cell_size = sizeof(struct gpx_cell);
    h->workers = workers;
    h->cores = cores;
    h->map_size = gpx_scoreboard_map_size(workers, cores);
    h->created_unix = created;
    /* The magic last: a half-written header is never taken as valid. */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    memcpy(h->magic, GPX_BOARD_MAGIC, sizeof(h->magic));
}

void
gpx_scoreboard_attach(struct gpx_scoreboard *board, void *base, size_t size)
{
    board->base = base;
    board->size = size;
    board->header = base;
    board->workers = board->header->workers;
    board->cores = board->header->cores;
    board->block_size = block_size_for(board->cores);
}

int
gpx_scoreboard_open_anonymous(struct gpx_scoreboard *board, unsigned workers, unsigned cores, char *err, size_t errlen)
{
    size_t size = gpx_scoreboard_map_size(workers, cores);
    void *base;

    memset(board, 0, sizeof(*board));
    if (workers == 0 || cores == 0) {
        gpx_set_error(err, errlen, "a scoreboard needs at least one worker and one core");
        return -1;
    }
    base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
        gpx_set_error(err, errlen, "cannot map %zu bytes of shared memory: %s", size, strerror(errno));
        return -1;
    }
    gpx_scoreboard_fill_header(base, workers, cores, (uint64_t)time(NULL));
    gpx_scoreboard_attach(board, base, size);
    return 0;
}

void
gpx_scoreboard_close(struct gpx_scoreboard *board)
{
    if (board->base != NULL) {
        munmap(board->base, board->size);
    }
    memset(board, 0, sizeof(*board));
}

int
gpx_scoreboard_path(char *out, size_t outlen, const char *dir, const char *instance)
{
    int n = snprintf(out, outlen, "%s/gpx_%s.scoreboard", dir, instance);

    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* Adds one (key, count) into dst's table, or its class row when full. */
static void
add_status(struct gpx_cell *dst, uint32_t key, uint64_t count)
{
    unsigned i = (key * 2654435761u) >> 26;
    unsigned probes, method = (key >> 10) - 1;

    /* The key comes from shared memory or a file: never trust it as an index. */
    method = method < GPX_METHOD_COUNT ? method : GPX_METHOD_OTHER;
    dst->methods |= 1u << method;
    for (probes = 0; probes < GPX_STATUS_SLOTS; probes++, i = (i + 1) & (GPX_STATUS_SLOTS - 1)) {
        if (dst->status[i].key == key || dst->status[i].key == 0) {
            dst->status[i].key = key;
            dst->status[i].count += count;
            return;
        }
    }
    dst->status_overflow[method][gpx_status_class(key & 1023u)] += count;
}

/* Adds one (key, count) into dst's failure table, or its classless row. */
static void
add_failure(struct gpx_cell *dst, uint32_t key, uint64_t count, const int *map)
{
    unsigned method = (key >> 16) - 1, app = (key >> 8) & 0xFFu, name = key & 0xFFu;
    int renamed = name < GPX_ERROR_NAMES ? (map != NULL ? map[name] : (int)name) : -1;
    unsigned i, probes;

    /* The key comes from shared memory or a file: never trust it as an index. */
    method = method < GPX_METHOD_COUNT ? method : GPX_METHOD_OTHER;
    app = app < GPX_MAX_APPS ? app : GPX_MAX_APPS - 1;
    if (renamed >= 0 && renamed < GPX_ERROR_NAMES) {
        key = gpx_failed_key(method, app, (unsigned)renamed);
        i = gpx_failed_slot(key);
        for (probes = 0; probes < GPX_FAILED_SLOTS; probes++, i = (i + 1) & (GPX_FAILED_SLOTS - 1)) {
            if (dst->failed_key[i] == key || dst->failed_key[i] == 0) {
                dst->failed_key[i] = key;
                dst->failed_count[i] += count;
                return;
            }
        }
    }
    dst->failed[method][app] += count;
}

static void
add_words(uint64_t *dst, const uint64_t *src, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        dst[i] += GPX_READ(src[i]);
    }
}

#define ADD_ARRAY(dst, src, field)                                                                                     \
    add_words((uint64_t *)&(dst)->field, (const uint64_t *)&(src)->field, sizeof((dst)->field) / sizeof(uint64_t))

_Static_assert(GPX_METHOD_COUNT <= 31, "a method mask is an unsigned");

void
gpx_cell_add(struct gpx_cell *dst, const struct gpx_cell *src)
{
    gpx_cell_add_parts(dst, src, NULL, 1);
}

void
gpx_cell_add_renamed(struct gpx_cell *dst, const struct gpx_cell *src, const int map[GPX_ERROR_NAMES])
{
    gpx_cell_add_parts(dst, src, map, 1);
}

void
gpx_cell_add_parts(struct gpx_cell *dst, const struct gpx_cell *src, const int map[GPX_ERROR_NAMES], int native)
{
    /* Most cells of a page have counted nothing or use one or two methods:
     * the reader then reads a word, or a few hundred bytes, of each. */
    unsigned methods = __atomic_load_n(&src->methods, __ATOMIC_ACQUIRE) & ((1u << GPX_METHOD_COUNT) - 1);
    unsigned i, m;

    if (methods == 0) {
        return;
    }
    dst->methods |= methods;
    ADD_ARRAY(dst, src, sizes);
    for (m = 0; m < GPX_METHOD_COUNT; m++) {
        if (!(methods & (1u << m))) {
            continue;
        }
        /* The native histogram before the classic one: a request writes
         * its classic bucket first, so that a page never holds more
         * requests in the native buckets than in the classic count. */
        if (native) {
            ADD_ARRAY(dst, src, native[m]);
        }
        ADD_ARRAY(dst, src, duration[m]);
        ADD_ARRAY(dst, src, status_overflow[m]);
        ADD_ARRAY(dst, src, failed[m]);
        ADD_ARRAY(dst, src, read_errors[m]);
        ADD_ARRAY(dst, src, write_errors[m]);
    }
    /* A key is added even while its count is still 0 (its request is being
     * recorded), and marks its method in dst. */
    for (i = 0; i < GPX_STATUS_SLOTS; i++) {
        uint32_t key = __atomic_load_n(&src->status[i].key, __ATOMIC_ACQUIRE);

        if (key != 0) {
            add_status(dst, key, GPX_READ(src->status[i].count));
        }
    }
    for (i = 0; i < GPX_FAILED_SLOTS; i++) {
        uint32_t key = __atomic_load_n(&src->failed_key[i], __ATOMIC_ACQUIRE);
        uint64_t count;

        if (key == 0) {
            continue;
        }
        count = GPX_READ(src->failed_count[i]);
        if (count > 0) {
            add_failure(dst, key, count, map);
        }
    }
}

uint64_t
gpx_cell_failures(const struct gpx_cell *cell, unsigned method, unsigned app, unsigned name)
{
    uint32_t key = gpx_failed_key(method, app, name);
    unsigned i = gpx_failed_slot(key), probes;

    for (probes = 0; probes < GPX_FAILED_SLOTS; probes++, i = (i + 1) & (GPX_FAILED_SLOTS - 1)) {
        if (cell->failed_key[i] == key) {
            return cell->failed_count[i];
        }
        if (cell->failed_key[i] == 0) {
            return 0;
        }
    }
    return 0;
}

void
gpx_scoreboard_sum_worker(const struct gpx_scoreboard *board, unsigned worker, struct gpx_cell *out)
{
    unsigned c;

    memset(out, 0, sizeof(*out));
    for (c = 0; c < board->cores; c++) {
        gpx_cell_add(out, gpx_scoreboard_cell(board, worker, c));
    }
}

uint64_t
gpx_cell_requests(const struct gpx_cell *cell)
{
    uint64_t total = 0;
    unsigned m, s;

    for (m = 0; m < GPX_METHOD_COUNT; m++) {
        for (s = 0; s < GPX_DURATION_SLOTS; s++) {
            total += GPX_READ(cell->duration[m].slot[s]);
        }
    }
    return total;
}
