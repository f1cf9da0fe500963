/* gpx_test_support.h - helpers the unit tests share: lines of rendered text
 * and the structure of a page, requests recorded into cells and boards,
 * comparing cells, the restart reasons' labels, prometheus_client files,
 * what gpx logged, scratch directories.
 * Include after <cmocka.h>. Inline, so that a test that uses only some of
 * them compiles without warnings. A test that includes it defines
 * _GNU_SOURCE first (the scratch directories use POSIX 2008's calls). */
#ifndef GPX_TEST_SUPPORT_H
#define GPX_TEST_SUPPORT_H

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpx_buf.h"
#include "gpx_pcfile.h"
#include "gpx_restart.h"
#include "gpx_scoreboard.h"

/* How many lines of `text` are exactly `line` (whole), or start with it. */
static inline unsigned
count_matching(const char *text, const char *line, int whole)
{
    size_t len = strlen(line);
    unsigned n = 0;
    const char *p = text;

    while (*p != '\0') {
        const char *end = strchr(p, '\n');
        size_t linelen = end != NULL ? (size_t)(end - p) : strlen(p);

        n += (whole ? linelen == len : linelen >= len) && memcmp(p, line, len) == 0;
        p += linelen + (end != NULL);
    }
    return n;
}

/* How many lines of `text` are exactly `line`. */
static inline unsigned
count_lines(const char *text, const char *line)
{
    return count_matching(text, line, 1);
}

/* How many lines of `text` start with `prefix`. */
static inline unsigned
count_prefix(const char *text, const char *prefix)
{
    return count_matching(text, prefix, 0);
}

static inline void
assert_line(const char *text, const char *line)
{
    unsigned n = count_lines(text, line);

    if (n != 1) {
        print_error("line found %u times, not once: %s\n", n, line);
        fail();
    }
}

/* Checks a text page's structure: every family has one HELP line, then its
 * TYPE line (counter, gauge or histogram), then its samples, all together,
 * named as the family (a histogram's with _bucket, _count or _sum).
 * Writes the families' names in order into names (room for max) and
 * returns how many there are. */
static inline unsigned
page_families(const char *text, char (*names)[96], unsigned max)
{
    char family[96] = "", type[16] = "";
    unsigned families = 0;
    const char *p = text;

    assert_true(text[0] != '\0');
    assert_int_equal(text[strlen(text) - 1], '\n');
    while (*p != '\0') {
        const char *end = strchr(p, '\n');
        char line[1024];
        size_t len = (size_t)(end - p);

        assert_non_null(end);
        assert_true(len > 0 && len < sizeof(line));
        memcpy(line, p, len);
        line[len] = '\0';
        p = end + 1;
        if (strncmp(line, "# HELP ", 7) == 0) {
            char want[256];

            assert_int_equal(sscanf(line, "# HELP %95s", family), 1);
            assert_true(families < max);
            strcpy(names[families++], family);
            end = strchr(p, '\n');
            assert_non_null(end);
            assert_int_equal(sscanf(p, "# TYPE %*s %15s", type), 1);
            snprintf(want, sizeof(want), "# TYPE %s %s", family, type);
            assert_true((size_t)(end - p) == strlen(want) && strncmp(p, want, strlen(want)) == 0);
            assert_true(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 || strcmp(type, "histogram") == 0);
            p = end + 1;
        } else {
            char name[128];
            size_t flen = strlen(family);
            const char *suffix;

            assert_true(line[0] != '#');
            assert_int_equal(sscanf(line, "%127[^{ ]", name), 1);
            assert_true(family[0] != '\0');
            suffix = name + flen;
            if (strncmp(name, family, flen) != 0 ||
                (*suffix != '\0' &&
                 (strcmp(type, "histogram") != 0 ||
                  (strcmp(suffix, "_bucket") != 0 && strcmp(suffix, "_count") != 0 && strcmp(suffix, "_sum") != 0)))) {
                print_error("sample outside its family %s: %s\n", family, line);
                fail();
            }
            assert_non_null(strrchr(line, ' '));
        }
    }
    return families;
}

/* A request to record. */
static inline struct gpx_request
test_request(unsigned method, unsigned status, uint64_t duration_us, uint64_t request_size, uint64_t response_size)
{
    struct gpx_request r;

    memset(&r, 0, sizeof(r));
    r.method = method;
    r.status = status;
    r.duration_us = duration_us;
    r.request_size = request_size;
    r.response_size = response_size;
    return r;
}

/* Records a request into a board's cell. */
static inline void
record_request(struct gpx_scoreboard *board, unsigned worker, unsigned core, unsigned method, unsigned status,
               uint64_t duration_us, uint64_t request_size, uint64_t response_size)
{
    struct gpx_request r = test_request(method, status, duration_us, request_size, response_size);

    gpx_cell_record(gpx_scoreboard_cell(board, worker, core), &r);
}

/* Records a request of 100 bytes answered with 200 into a cell. */
static inline void
record_cell(struct gpx_cell *cell, unsigned method, unsigned status, uint64_t duration_us)
{
    struct gpx_request r = test_request(method, status, duration_us, 100, 200);

    gpx_cell_record(cell, &r);
}

/* Records a varied mix of n requests into a cell; `seed` changes it:
 * every method, statuses of every class, durations and sizes over every
 * bucket, 11 apps, exceptions (classes 1 and 2 on app 0, at most 20
 * triples: the table never fills, so any order of adding gives the same
 * cell), read and write errors. */
static inline void
record_mix(struct gpx_cell *cell, unsigned seed, unsigned n)
{
    unsigned i;

    for (i = 0; i < n; i++) {
        unsigned k = seed * 7919u + i * 104729u;
        struct gpx_request r = test_request(k % GPX_METHOD_COUNT, 200 + (k % 5) * 100 + k % 3, (k % 70000000u),
                                            k % 5000000u, (k / 3) % 5000000u);

        r.app_id = k % 11;
        r.raised = k % 4 == 0;
        r.error_name = r.app_id == 0 ? 1 + k % 2 : 0;
        r.read_errors = k % 5 == 0 ? 2 : 0;
        r.write_errors = k % 6 == 0 ? 3 : 0;
        gpx_cell_record(cell, &r);
    }
}

/* Every restart reason, with its label and the exporter's restart_type. */
static const struct {
    enum gpx_restart_reason reason;
    const char *label;
    const char *type;
} test_restart_reasons[] = {
    {GPX_RESTART_MAX_REQUESTS, "max_requests", "graceful"},
    {GPX_RESTART_TIMEOUT, "timeout", "forced"},
    {GPX_RESTART_MEMORY, "memory", "forced"},
    {GPX_RESTART_LIFETIME, "lifetime", "graceful"},
    {GPX_RESTART_IDLE, "idle", "graceful"},
    {GPX_RESTART_CRASH, "crash", "forced"},
    {GPX_RESTART_SIGNAL, "signal", "forced"},
    {GPX_RESTART_RELOAD, "reload", "graceful"},
};
#define TEST_RESTART_REASONS (sizeof(test_restart_reasons) / sizeof(test_restart_reasons[0]))

/* What gpx logged, for the tests whose log function is called on the main
 * thread (those of the master's threads use gpx_test_threads.h's): every
 * line, each ended with "\n". test_log_line is the gpx_log_fn to hand in. */
static char test_logged[64 * 1024];

static inline void
test_log_line(const char *line)
{
    size_t used = strlen(test_logged);

    snprintf(test_logged + used, sizeof(test_logged) - used, "%s\n", line);
}

static inline void
test_log_clear(void)
{
    test_logged[0] = '\0';
}

/* How many lines were logged. */
static inline unsigned
test_logged_lines(void)
{
    unsigned n = 0;
    const char *p;

    for (p = test_logged; *p != '\0'; p++) {
        n += *p == '\n';
    }
    return n;
}

/* How many times `text` was logged (within lines or as whole lines). */
static inline unsigned
test_logged_with(const char *text)
{
    unsigned n = 0;
    const char *p;

    for (p = strstr(test_logged, text); p != NULL; p = strstr(p + 1, text)) {
        n++;
    }
    return n;
}

/* Fails the test unless a logged line contains `text`. */
static inline void
assert_logged(const char *text)
{
    if (strstr(test_logged, text) == NULL) {
        print_error("the log lacks \"%s\":\n%s", text, test_logged);
        fail();
    }
}

/* Fails the test unless `line` was logged as a whole line. */
static inline void
assert_logged_line(const char *line)
{
    if (count_lines(test_logged, line) == 0) {
        print_error("not logged as a line: %s\nlogged:\n%s", line, test_logged);
        fail();
    }
}

/* A scratch directory under /tmp, removed (with the files in it) at
 * teardown: scratch_setup and scratch_teardown as a test's setup and teardown,
 * the struct scratch in its state. */
struct scratch {
    char dir[64];
    int dirfd;
};

static inline int
scratch_setup(void **state)
{
    struct scratch *s = calloc(1, sizeof(*s));

    snprintf(s->dir, sizeof(s->dir), "/tmp/gpx_test_XXXXXX");
    if (mkdtemp(s->dir) == NULL) {
        free(s);
        return -1;
    }
    s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY);
    *state = s;
    return s->dirfd >= 0 ? 0 : -1;
}

static inline int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes `path` and everything below it. Returns 0, or -1. */
static inline int
remove_tree(const char *path)
{
    return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* How many entries of directory `d` do not start with '.'; closes it. */
static inline unsigned
count_entries(DIR *d)
{
    const struct dirent *e;
    unsigned n = 0;

    while ((e = readdir(d)) != NULL) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

/* Removes the files of the directory at fd (not its subdirectories), and
 * closes fd. */
static inline void
empty_dir(int fd)
{
    DIR *d = fdopendir(fd);
    struct dirent *e;

    while (d != NULL && (e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            unlinkat(dirfd(d), e->d_name, 0);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
}

static inline int
scratch_teardown(void **state)
{
    struct scratch *s = *state;

    close(s->dirfd);
    remove_tree(s->dir);
    free(s);
    return 0;
}

static inline int
cell_is_zero(const struct gpx_cell *cell)
{
    static const struct gpx_cell zero;

    return memcmp(cell, &zero, sizeof(zero)) == 0;
}

/* Writes a prometheus_client file holding one entry (with its timestamp). */
static inline void
write_pc_file(int dirfd, const char *name, const char *key, double value, double timestamp)
{
    struct gpx_buf b;

    assert_int_equal(gpx_buf_init(&b, 256), 0);
    gpx_pc_encode_begin(&b);
    gpx_pc_encode_entry(&b, key, strlen(key), value, timestamp);
    gpx_pc_encode_end(&b);
    assert_int_equal(gpx_pc_replace_file(dirfd, name, b.data, b.len), 0);
    gpx_buf_free(&b);
}

/* A board of `workers` x `cores` has the header of this layout. */
static inline void
assert_board_header(const struct gpx_scoreboard *board, unsigned workers, unsigned cores)
{
    const struct gpx_board_header *h = board->header;

    assert_ptr_equal(h, board->base);
    assert_memory_equal(h->magic, GPX_BOARD_MAGIC, 8);
    assert_int_equal(h->layout_version, GPX_LAYOUT_VERSION);
    assert_int_equal(h->header_size, GPX_HEADER_SIZE);
    assert_int_equal(h->slot_size, sizeof(struct gpx_slot));
    assert_int_equal(h->cell_size, sizeof(struct gpx_cell));
    assert_int_equal(h->workers, workers);
    assert_int_equal(h->cores, cores);
    assert_int_equal(h->map_size, gpx_scoreboard_map_size(workers, cores));
    assert_int_equal(board->size, gpx_scoreboard_map_size(workers, cores));
    assert_int_equal(board->workers, workers);
    assert_int_equal(board->cores, cores);
    assert_int_equal(board->block_size, sizeof(struct gpx_slot) + cores * sizeof(struct gpx_cell));
}

/* The count of (method, status) in a cell's key table; 0 if absent. */
static inline uint64_t
status_count(const struct gpx_cell *cell, unsigned method, unsigned status)
{
    uint32_t key = ((uint32_t)(method + 1) << 10) | status;
    unsigned i;

    for (i = 0; i < GPX_STATUS_SLOTS; i++) {
        if (cell->status[i].key == key) {
            return cell->status[i].count;
        }
    }
    return 0;
}

static inline unsigned
status_keys(const struct gpx_cell *cell)
{
    unsigned i, n = 0;

    for (i = 0; i < GPX_STATUS_SLOTS; i++) {
        n += cell->status[i].key != 0;
    }
    return n;
}

static inline unsigned
failed_keys(const struct gpx_cell *cell)
{
    unsigned i, n = 0;

    for (i = 0; i < GPX_FAILED_SLOTS; i++) {
        n += cell->failed_key[i] != 0;
    }
    return n;
}

/* Two cells count the same: every counter equal, and the same keys with the
 * same counts wherever the open addressing put them. */
static inline void
assert_cells_equal(const struct gpx_cell *a, const struct gpx_cell *b)
{
    unsigned i;

    assert_int_equal(a->methods, b->methods);
    assert_memory_equal(a->duration, b->duration, sizeof(a->duration));
    assert_memory_equal(&a->sizes, &b->sizes, sizeof(a->sizes));
    assert_memory_equal(a->status_overflow, b->status_overflow, sizeof(a->status_overflow));
    assert_memory_equal(a->failed, b->failed, sizeof(a->failed));
    assert_memory_equal(a->read_errors, b->read_errors, sizeof(a->read_errors));
    assert_memory_equal(a->write_errors, b->write_errors, sizeof(a->write_errors));
    assert_int_equal(status_keys(a), status_keys(b));
    assert_int_equal(failed_keys(a), failed_keys(b));
    for (i = 0; i < GPX_FAILED_SLOTS; i++) {
        if (a->failed_key[i] != 0) {
            uint32_t key = a->failed_key[i];

            assert_true(gpx_cell_failures(b, (key >> 16) - 1, (key >> 8) & 0xFFu, key & 0xFFu) == a->failed_count[i]);
        }
    }
    for (i = 0; i < GPX_STATUS_SLOTS; i++) {
        if (a->status[i].key != 0) {
            uint32_t key = a->status[i].key;

            assert_true(status_count(b, (key >> 10) - 1, key & 1023u) == a->status[i].count);
        }
    }
}

#endif
