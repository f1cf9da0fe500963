/* gpx_scoreboard.c - mapping, versioning and summing of the scoreboard.
 *
 * Called by the glue in the master before the first fork (open), by the
 * metrics thread and the routing action (sum), never on the request path:
 * recording is inline in gpx_scoreboard.h.
 */
#define _GNU_SOURCE
#include "gpx_scoreboard.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

_Static_assert(sizeof(struct gpx_board_header) <= GPX_ERROR_NAMES_OFFSET &&
                   GPX_ERROR_NAMES_OFFSET + sizeof(struct gpx_error_names) <= GPX_HEADER_SIZE,
               "the header area holds the header and the class names");

static void
set_error(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static size_t
block_size_for(unsigned cores)
{
    return sizeof(struct gpx_slot) + (size_t)cores * sizeof(struct gpx_cell);
}

static size_t
map_size_for(unsigned workers, unsigned cores)
{
    return GPX_HEADER_SIZE + (size_t)workers * block_size_for(cores);
}

static void
fill_header(struct gpx_board_header *h, unsigned workers, unsigned cores, uint64_t created)
{
    h->layout_version = GPX_LAYOUT_VERSION;
    h->header_size = GPX_HEADER_SIZE;
    h->slot_size = sizeof(struct gpx_slot);
    h->cell_size = sizeof(struct gpx_cell);
    h->workers = workers;
    h->cores = cores;
    h->map_size = map_size_for(workers, cores);
    h->created_unix = created;
    /* The magic last: a half-written header is never taken as valid. */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    memcpy(h->magic, GPX_BOARD_MAGIC, sizeof(h->magic));
}

static void
attach(struct gpx_scoreboard *board, void *base, size_t size, int fd)
{
    board->base = base;
    board->size = size;
    board->fd = fd;
    board->header = base;
    board->workers = board->header->workers;
    board->cores = board->header->cores;
    board->block_size = block_size_for(board->cores);
}

int
gpx_scoreboard_open_anonymous(struct gpx_scoreboard *board, unsigned workers, unsigned cores, char *err, size_t errlen)
{
    size_t size = map_size_for(workers, cores);
    void *base;

    memset(board, 0, sizeof(*board));
    board->fd = -1;
    if (workers == 0 || cores == 0) {
        set_error(err, errlen, "a scoreboard needs at least one worker and one core");
        return -1;
    }
    base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
        set_error(err, errlen, "cannot map %zu bytes of shared memory: %s", size, strerror(errno));
        return -1;
    }
    fill_header(base, workers, cores, (uint64_t)time(NULL));
    attach(board, base, size, -1);
    return 0;
}

void
gpx_scoreboard_close(struct gpx_scoreboard *board)
{
    if (board->base != NULL) {
        munmap(board->base, board->size);
    }
    if (board->fd >= 0) {
        close(board->fd);
    }
    memset(board, 0, sizeof(*board));
    board->fd = -1;
}

int
gpx_scoreboard_sync(const struct gpx_scoreboard *board)
{
    if (board->base == NULL || board->fd < 0) {
        return 0;
    }
    return msync(board->base, board->size, MS_SYNC);
}

int
gpx_scoreboard_path(char *out, size_t outlen, const char *dir, const char *instance)
{
    int n = snprintf(out, outlen, "%s/gpx_%s.scoreboard", dir, instance);

    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* Checks an existing file's header against what this build writes. */
static int
check_header(const struct gpx_board_header *h, off_t file_size, const char *path, char *err, size_t errlen)
{
    if (memcmp(h->magic, GPX_BOARD_MAGIC, sizeof(h->magic)) != 0) {
        set_error(err, errlen,
                  "%s is not a gpx scoreboard (bad magic); move it away or set gpx-cleanup-db-files = true", path);
        return -1;
    }
    if (h->layout_version != GPX_LAYOUT_VERSION || h->header_size != GPX_HEADER_SIZE ||
        h->slot_size != sizeof(struct gpx_slot) || h->cell_size != sizeof(struct gpx_cell)) {
        set_error(err, errlen,
                  "%s was written by another gpx layout (version %u, %u-byte cells; this gpx writes version %u, "
                  "%zu-byte cells); move it away or set gpx-cleanup-db-files = true",
                  path, h->layout_version, h->cell_size, GPX_LAYOUT_VERSION, sizeof(struct gpx_cell));
        return -1;
    }
    if (h->workers == 0 || h->cores == 0 || h->map_size != map_size_for(h->workers, h->cores) ||
        (uint64_t)file_size < h->map_size) {
        set_error(err, errlen,
                  "%s is damaged (%u workers x %u cores need %zu bytes, the file has %lld); move it away or set "
                  "gpx-cleanup-db-files = true",
                  path, h->workers, h->cores, map_size_for(h->workers, h->cores), (long long)file_size);
        return -1;
    }
    return 0;
}

static void
own_file(int fd, uid_t uid, gid_t gid)
{
    /* uWSGI may still be root here and drop privileges later: hand the file
     * to the workers' user so that a reload after the drop can reopen it. */
    if (geteuid() == 0 && (uid != (uid_t)-1 || gid != (gid_t)-1)) {
        if (fchown(fd, uid, gid) != 0) {
            /* Not fatal: the file stays usable by this process. */
        }
    }
}

static int
create_file(const char *path, unsigned workers, unsigned cores, uint64_t created, uid_t uid, gid_t gid, int *fd_out,
            void **base_out, char *err, size_t errlen)
{
    size_t size = map_size_for(workers, cores);
    void *base;
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);

    if (fd < 0) {
        set_error(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    own_file(fd, uid, gid);
    if (ftruncate(fd, (off_t)size) != 0) {
        set_error(err, errlen, "cannot size %s to %zu bytes: %s", path, size, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        set_error(err, errlen, "cannot map %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    fill_header(base, workers, cores, created);
    *fd_out = fd;
    *base_out = base;
    return 0;
}

/* Writes a new file with `cores` cells per worker, folding each old worker's
 * cells into its first new cell, then renames it over the old one. */
static int
fold_file(const char *path, const struct gpx_scoreboard *old, unsigned workers, unsigned cores, uid_t uid, gid_t gid,
          int *fd_out, void **base_out, char *err, size_t errlen)
{
    char tmp[4096];
    struct gpx_scoreboard fresh;
    void *base;
    int fd;
    unsigned w;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        set_error(err, errlen, "path too long: %s", path);
        return -1;
    }
    if (create_file(tmp, workers, cores, old->header->created_unix, uid, gid, &fd, &base, err, errlen) != 0) {
        return -1;
    }
    attach(&fresh, base, map_size_for(workers, cores), fd);
    memcpy(gpx_scoreboard_error_names(&fresh), gpx_scoreboard_error_names(old), sizeof(struct gpx_error_names));
    for (w = 1; w <= old->workers; w++) {
        memcpy(gpx_scoreboard_slot(&fresh, w), gpx_scoreboard_slot(old, w), sizeof(struct gpx_slot));
        gpx_scoreboard_sum_worker(old, w, gpx_scoreboard_cell(&fresh, w, 0));
    }
    if (fsync(fd) != 0 || rename(tmp, path) != 0) {
        set_error(err, errlen, "cannot replace %s: %s", path, strerror(errno));
        gpx_scoreboard_close(&fresh);
        unlink(tmp);
        return -1;
    }
    *fd_out = fd;
    *base_out = base;
    return 0;
}

int
gpx_scoreboard_open_file(struct gpx_scoreboard *board, const char *path, unsigned workers, unsigned cores, uid_t uid,
                         gid_t gid, char *note, size_t notelen, char *err, size_t errlen)
{
    struct gpx_board_header head;
    struct stat st;
    struct gpx_scoreboard old;
    unsigned want_workers;
    void *base;
    int fd;

    memset(board, 0, sizeof(*board));
    board->fd = -1;
    if (note != NULL && notelen > 0) {
        note[0] = '\0';
    }
    if (workers == 0 || cores == 0) {
        set_error(err, errlen, "a scoreboard needs at least one worker and one core");
        return -1;
    }
    fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        if (create_file(path, workers, cores, (uint64_t)time(NULL), uid, gid, &fd, &base, err, errlen) != 0) {
            return -1;
        }
        attach(board, base, map_size_for(workers, cores), fd);
        return 0;
    }
    if (fd < 0) {
        set_error(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof(head) || pread(fd, &head, sizeof(head), 0) != sizeof(head)) {
        set_error(err, errlen,
                  "%s is damaged (shorter than a gpx header); move it away or set gpx-cleanup-db-files = true", path);
        close(fd);
        return -1;
    }
    if (check_header(&head, st.st_size, path, err, errlen) != 0) {
        close(fd);
        return -1;
    }
    want_workers = head.workers > workers ? head.workers : workers;
    if (head.cores == cores) {
        size_t size = map_size_for(want_workers, cores);

        if (want_workers > head.workers && ftruncate(fd, (off_t)size) != 0) {
            set_error(err, errlen, "cannot grow %s to %zu bytes: %s", path, size, strerror(errno));
            close(fd);
            return -1;
        }
        base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (base == MAP_FAILED) {
            set_error(err, errlen, "cannot map %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        if (want_workers > head.workers) {
            struct gpx_board_header *h = base;

            h->workers = want_workers;
            h->map_size = size;
            if (note != NULL) {
                snprintf(note, notelen, "%s grown from %u to %u workers", path, head.workers, want_workers);
            }
        }
        attach(board, base, size, fd);
        /* No worker runs yet: a name a dead one left half-written is freed. */
        gpx_error_names_repair(gpx_scoreboard_error_names(board));
        return 0;
    }
    /* Another core count: cells move, so write a folded copy. */
    base = mmap(NULL, head.map_size, PROT_READ, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        set_error(err, errlen, "cannot map %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    attach(&old, base, head.map_size, fd);
    if (fold_file(path, &old, want_workers, cores, uid, gid, &fd, &base, err, errlen) != 0) {
        gpx_scoreboard_close(&old);
        return -1;
    }
    if (note != NULL) {
        snprintf(note, notelen, "%s folded from %u workers x %u cores to %u x %u (counts kept)", path, old.workers,
                 old.cores, want_workers, cores);
    }
    gpx_scoreboard_close(&old);
    attach(board, base, map_size_for(want_workers, cores), fd);
    gpx_error_names_repair(gpx_scoreboard_error_names(board));
    return 0;
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
    gpx_cell_add_renamed(dst, src, NULL);
}

void
gpx_cell_add_renamed(struct gpx_cell *dst, const struct gpx_cell *src, const int map[GPX_ERROR_NAMES])
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
