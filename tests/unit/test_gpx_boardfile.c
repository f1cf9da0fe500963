/* Unit tests of gpx_boardfile: the scoreboard's file, made whole or not at
 * all, restored, grown and folded, refused, and written again whatever
 * another process does to it. Write failures come from RLIMIT_FSIZE (with
 * SIGXFSZ ignored): a real write error, as a full filesystem gives. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "gpx_test_support.h"

#include "gpx_boardfile.h"

#define NO_UID ((uid_t)-1)
#define NO_GID ((gid_t)-1)

/* ---- the fixture: a directory, a file path, the handle ------------------- */

struct fixture {
    char dir[64];
    char path[128];
    char tmp[160];
    struct gpx_boardfile file;
    struct gpx_scoreboard board;
    struct gpx_boardfile_status status;
};

static int
setup_dir(void **state)
{
    static struct fixture f;

    memset(&f, 0, sizeof(f));
    f.file.fd = -1;
    strcpy(f.dir, "/tmp/gpx_boardfile_test_XXXXXX");
    if (mkdtemp(f.dir) == NULL) {
        return -1;
    }
    if (gpx_scoreboard_path(f.path, sizeof(f.path), f.dir, "test:9090") != 0) {
        return -1;
    }
    snprintf(f.tmp, sizeof(f.tmp), "%s.tmp", f.path);
    test_log_clear();
    signal(SIGXFSZ, SIG_IGN);
    *state = &f;
    return 0;
}

static void
no_file_size_limit(void)
{
    struct rlimit rl;

    getrlimit(RLIMIT_FSIZE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_FSIZE, &rl);
}

/* Writes past `bytes` fail with EFBIG from now on. */
static void
limit_file_size(off_t bytes)
{
    struct rlimit rl;

    getrlimit(RLIMIT_FSIZE, &rl);
    rl.rlim_cur = (rlim_t)bytes;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

static int
teardown_dir(void **state)
{
    struct fixture *f = *state;
    char other[200];

    no_file_size_limit();
    gpx_boardfile_close(&f->file);
    gpx_scoreboard_close(&f->board);
    unlink(f->path);
    unlink(f->tmp);
    snprintf(other, sizeof(other), "%s/other", f->dir);
    unlink(other);
    return rmdir(f->dir);
}

static int
open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");

    assert_non_null(d);
    return (int)count_entries(d);
}

static int
is_mapped(const char *path)
{
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[4096];
    int found = 0;

    assert_non_null(maps);
    while (fgets(line, sizeof(line), maps) != NULL) {
        found |= strstr(line, path) != NULL;
    }
    fclose(maps);
    return found;
}

static off_t
file_size(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static struct gpx_boardfile_options
options(struct fixture *f, unsigned workers, unsigned cores)
{
    struct gpx_boardfile_options o;

    memset(&o, 0, sizeof(o));
    o.path = f->path;
    o.workers = workers;
    o.cores = cores;
    o.uid = NO_UID;
    o.gid = NO_GID;
    o.retry_seconds = 1;
    o.status = &f->status;
    o.log = test_log_line;
    return o;
}

/* Opens (with the fixture's handle and board) and returns how it started. */
static enum gpx_boardfile_start
open_board(struct fixture *f, unsigned workers, unsigned cores)
{
    struct gpx_boardfile_options o = options(f, workers, cores);
    enum gpx_boardfile_start start;
    char err[1024] = "";

    if (gpx_boardfile_open(&f->file, &f->board, &o, &start, err, sizeof(err)) != 0) {
        print_error("gpx_boardfile_open: %s\n", err);
        fail();
    }
    return start;
}

/* The master's last sync, then both closed: what a master's exit does. */
static void
close_board(struct fixture *f)
{
    char err[512] = "";

    if (gpx_boardfile_sync(&f->file, &f->board, 1, err, sizeof(err)) != 0) {
        print_error("final sync: %s\n", err);
        fail();
    }
    gpx_boardfile_close(&f->file);
    gpx_scoreboard_close(&f->board);
}

static void
sync_ok(struct fixture *f)
{
    char err[512] = "";

    if (gpx_boardfile_sync(&f->file, &f->board, 0, err, sizeof(err)) != 0) {
        print_error("sync: %s\n", err);
        fail();
    }
}

/* The file holds exactly the board's bytes. */
static void
assert_file_is_board(const struct fixture *f)
{
    unsigned char *disk = malloc(f->board.size);
    int fd = open(f->path, O_RDONLY);

    assert_non_null(disk);
    assert_true(fd >= 0);
    assert_int_equal(file_size(f->path), (off_t)f->board.size);
    assert_int_equal(pread(fd, disk, f->board.size, 0), (ssize_t)f->board.size);
    close(fd);
    assert_memory_equal(disk, f->board.base, f->board.size);
    free(disk);
}

/* ---- making and continuing ---------------------------------------------- */

/* A new file: the board is anonymous memory (the file is never mapped),
 * the file holds its header and zeroed cells, its space is reserved, its
 * owner is the one asked for when root, nothing is test_logged, storage up. */
static void
test_gpx_boardfile_create(void **state)
{
    struct fixture *f = *state;
    struct gpx_boardfile_options o = options(f, 2, 3);
    enum gpx_boardfile_start start;
    char err[512] = "";
    struct stat st;
    mode_t mask;
    time_t before = time(NULL);

    o.uid = geteuid() == 0 ? 4321 : NO_UID;
    o.gid = geteuid() == 0 ? 4322 : NO_GID;
    assert_int_equal(gpx_boardfile_open(&f->file, &f->board, &o, &start, err, sizeof(err)), 0);
    assert_int_equal(start, GPX_BOARDFILE_NEW);
    assert_board_header(&f->board, 2, 3);
    assert_true(f->board.header->created_unix >= (uint64_t)before);
    assert_true(cell_is_zero(gpx_scoreboard_cell(&f->board, 2, 2)));
    assert_false(is_mapped(f->path));
    assert_file_is_board(f);
    assert_int_equal(stat(f->path, &st), 0);
    assert_true((size_t)st.st_blocks * 512 >= f->board.size); /* reserved, no holes */
    mask = umask(0);
    umask(mask);
    assert_int_equal(st.st_mode & 07777, 0640 & ~mask);
    if (geteuid() == 0) {
        assert_int_equal(st.st_uid, 4321);
        assert_int_equal(st.st_gid, 4322);
    }
    assert_int_equal(access(f->tmp, F_OK), -1);
    assert_int_equal(f->status.up, 1);
    assert_string_equal(test_logged, "");
}

/* What the board counts reaches the file at each sync, and a new open
 * continues from it: counts, slot counters, start time. */
static void
test_gpx_boardfile_sync_and_reopen_continue(void **state)
{
    struct fixture *f = *state;
    uint64_t created;
    unsigned i;

    assert_int_equal(open_board(f, 2, 2), GPX_BOARDFILE_NEW);
    record_cell(gpx_scoreboard_cell(&f->board, 1, 1), GPX_METHOD_GET, 200, 1000);
    sync_ok(f);
    assert_file_is_board(f);
    for (i = 0; i < 50; i++) {
        record_cell(gpx_scoreboard_cell(&f->board, 2, 0), GPX_METHOD_POST, 500, 1000 * i);
    }
    gpx_scoreboard_slot(&f->board, 2)->restarts[3] = 7;
    sync_ok(f);
    assert_file_is_board(f);
    created = f->board.header->created_unix;
    close_board(f);

    assert_int_equal(open_board(f, 2, 2), GPX_BOARDFILE_CONTINUED);
    assert_board_header(&f->board, 2, 2);
    assert_true(f->board.header->created_unix == created);
    assert_true(gpx_cell_requests(gpx_scoreboard_cell(&f->board, 1, 1)) == 1);
    assert_true(status_count(gpx_scoreboard_cell(&f->board, 2, 0), GPX_METHOD_POST, 500) == 50);
    assert_true(gpx_scoreboard_slot(&f->board, 2)->restarts[3] == 7);
    record_cell(gpx_scoreboard_cell(&f->board, 1, 1), GPX_METHOD_GET, 200, 1000);
    close_board(f);

    assert_int_equal(open_board(f, 2, 2), GPX_BOARDFILE_CONTINUED);
    assert_true(status_count(gpx_scoreboard_cell(&f->board, 1, 1), GPX_METHOD_GET, 200) == 2);
    assert_string_equal(test_logged, "");
}

/* More workers: a grown file, test_logged, old counts kept, new blocks zero;
 * fewer: every block kept, nothing logged. */
static void
test_gpx_boardfile_reopen_grows(void **state)
{
    struct fixture *f = *state;
    char want[512];
    unsigned w;

    open_board(f, 2, 2);
    record_cell(gpx_scoreboard_cell(&f->board, 2, 1), GPX_METHOD_GET, 200, 1000);
    close_board(f);

    assert_int_equal(open_board(f, 4, 2), GPX_BOARDFILE_CONTINUED);
    snprintf(want, sizeof(want), "gpx: %s grown from 2 to 4 workers\n", f->path);
    assert_string_equal(test_logged, want);
    assert_board_header(&f->board, 4, 2);
    assert_file_is_board(f);
    assert_true(status_count(gpx_scoreboard_cell(&f->board, 2, 1), GPX_METHOD_GET, 200) == 1);
    for (w = 3; w <= 4; w++) {
        assert_true(cell_is_zero(gpx_scoreboard_cell(&f->board, w, 0)));
        assert_true(cell_is_zero(gpx_scoreboard_cell(&f->board, w, 1)));
    }
    record_cell(gpx_scoreboard_cell(&f->board, 4, 1), GPX_METHOD_HEAD, 204, 1000);
    close_board(f);

    test_log_clear();
    assert_int_equal(open_board(f, 1, 2), GPX_BOARDFILE_CONTINUED);
    assert_string_equal(test_logged, "");
    assert_board_header(&f->board, 4, 2);
    assert_true(status_count(gpx_scoreboard_cell(&f->board, 4, 1), GPX_METHOD_HEAD, 204) == 1);
    assert_true(status_count(gpx_scoreboard_cell(&f->board, 2, 1), GPX_METHOD_GET, 200) == 1);
}

/* Another core count folds each worker's cells into its first cell: sums,
 * slot counters, class names and start time kept, a half-written name
 * freed, test_logged, no temporary file left. */
static void
test_gpx_boardfile_reopen_folds(void **state)
{
    struct fixture *f = *state;
    static struct gpx_cell before[3], after;
    char want[512];
    uint64_t created;
    unsigned w, c;

    open_board(f, 2, 3);
    for (w = 1; w <= 2; w++) {
        for (c = 0; c < 3; c++) {
            record_mix(gpx_scoreboard_cell(&f->board, w, c), w * 10 + c, 20 + w + c);
        }
        gpx_scoreboard_slot(&f->board, w)->restarts[1] = w;
        gpx_scoreboard_sum_worker(&f->board, w, &before[w]);
    }
    created = f->board.header->created_unix;
    assert_int_equal(gpx_error_names_find_or_add(gpx_scoreboard_error_names(&f->board), "KeyError", 8), 0);
    assert_int_equal(gpx_error_names_find_or_add(gpx_scoreboard_error_names(&f->board), "ValueError", 10), 1);
    /* A slot a dead worker left half-written. */
    gpx_scoreboard_error_names(&f->board)->slot[2].state = GPX_ERROR_NAME_WRITING;
    close_board(f);

    assert_int_equal(open_board(f, 2, 2), GPX_BOARDFILE_CONTINUED);
    snprintf(want, sizeof(want), "gpx: %s folded from 2 workers x 3 cores to 2 x 2 (counts kept)\n", f->path);
    assert_string_equal(test_logged, want);
    assert_board_header(&f->board, 2, 2);
    assert_file_is_board(f);
    assert_true(f->board.header->created_unix == created);
    assert_int_equal(access(f->tmp, F_OK), -1);
    assert_string_equal(gpx_error_names_get(gpx_scoreboard_error_names(&f->board), 0), "KeyError");
    assert_string_equal(gpx_error_names_get(gpx_scoreboard_error_names(&f->board), 1), "ValueError");
    assert_int_equal(gpx_scoreboard_error_names(&f->board)->slot[2].state, GPX_ERROR_NAME_FREE);
    for (w = 1; w <= 2; w++) {
        gpx_scoreboard_sum_worker(&f->board, w, &after);
        assert_cells_equal(&after, &before[w]);
        assert_true(failed_keys(&after) > 0);
        assert_cells_equal(gpx_scoreboard_cell(&f->board, w, 0), &before[w]);
        assert_true(cell_is_zero(gpx_scoreboard_cell(&f->board, w, 1)));
        assert_true(gpx_scoreboard_slot(&f->board, w)->restarts[1] == w);
    }
    close_board(f);

    /* More cores and more workers at once. */
    test_log_clear();
    open_board(f, 3, 4);
    snprintf(want, sizeof(want), "gpx: %s folded from 2 workers x 2 cores to 3 x 4 (counts kept)\n", f->path);
    assert_string_equal(test_logged, want);
    assert_board_header(&f->board, 3, 4);
    for (w = 1; w <= 2; w++) {
        gpx_scoreboard_sum_worker(&f->board, w, &after);
        assert_cells_equal(&after, &before[w]);
    }
    for (c = 0; c < 4; c++) {
        assert_true(cell_is_zero(gpx_scoreboard_cell(&f->board, 3, c)));
    }
    assert_int_equal(access(f->tmp, F_OK), -1);
}

/* ---- refusals ------------------------------------------------------------ */

/* Overwrites `len` bytes of the file at `offset`. */
static void
patch_file(const char *path, off_t offset, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY);

    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, data, len, offset), (ssize_t)len);
    close(fd);
}

/* Opening fails with an err containing `want` and the path: nothing is
 * mapped or left open, the file is not changed. */
static void
assert_refused(struct fixture *f, const char *want)
{
    struct gpx_boardfile_options o = options(f, 2, 2);
    enum gpx_boardfile_start start;
    char err[1024] = "";
    int fds = open_fds();
    off_t size = file_size(f->path);

    test_log_clear();
    assert_int_equal(gpx_boardfile_open(&f->file, &f->board, &o, &start, err, sizeof(err)), -1);
    if (strstr(err, want) == NULL || strstr(err, f->path) == NULL) {
        print_error("err \"%s\" lacks \"%s\" or the path\n", err, want);
        fail();
    }
    assert_string_equal(test_logged, "");
    assert_null(f->board.base);
    assert_null(f->file.image);
    assert_int_equal(f->file.fd, -1);
    assert_int_equal(open_fds(), fds);
    assert_int_equal(file_size(f->path), size);
}

static void
test_gpx_boardfile_refuses_bad_magic(void **state)
{
    struct fixture *f = *state;
    char want[512];
    static const unsigned char one = 1, zeros[GPX_HEADER_SIZE];

    open_board(f, 2, 2);
    close_board(f);
    patch_file(f->path, 0, "NOTBOARD", 8);
    snprintf(want, sizeof(want),
             "%s is not a gpx scoreboard (bad magic); move it away or set gpx-cleanup-db-files = true", f->path);
    assert_refused(f, want);

    /* A zeroed header over counts is not a leftover: refused too. */
    patch_file(f->path, 0, zeros, sizeof(zeros));
    patch_file(f->path, file_size(f->path) - 1, &one, 1);
    assert_refused(f, "is not a gpx scoreboard (bad magic)");
}

static void
test_gpx_boardfile_refuses_other_layout(void **state)
{
    struct fixture *f = *state;
    uint32_t word;
    char want[512];

    open_board(f, 2, 2);
    close_board(f);
    word = GPX_LAYOUT_VERSION + 1;
    patch_file(f->path, offsetof(struct gpx_board_header, layout_version), &word, sizeof(word));
    snprintf(want, sizeof(want),
             "%s was written by another gpx layout (version %u, %zu-byte cells; this gpx writes version %u, %zu-byte "
             "cells); move it away or set gpx-cleanup-db-files = true",
             f->path, GPX_LAYOUT_VERSION + 1, sizeof(struct gpx_cell), GPX_LAYOUT_VERSION, sizeof(struct gpx_cell));
    assert_refused(f, want);

    word = GPX_LAYOUT_VERSION;
    patch_file(f->path, offsetof(struct gpx_board_header, layout_version), &word, sizeof(word));
    word = (uint32_t)sizeof(struct gpx_cell) + 64;
    patch_file(f->path, offsetof(struct gpx_board_header, cell_size), &word, sizeof(word));
    assert_refused(f, "was written by another gpx layout");

    word = (uint32_t)sizeof(struct gpx_cell);
    patch_file(f->path, offsetof(struct gpx_board_header, cell_size), &word, sizeof(word));
    word = (uint32_t)sizeof(struct gpx_slot) * 2;
    patch_file(f->path, offsetof(struct gpx_board_header, slot_size), &word, sizeof(word));
    assert_refused(f, "was written by another gpx layout");
}

/* Shorter than its header says, shorter than a header, or a header that
 * does not add up: refused as damaged. */
static void
test_gpx_boardfile_refuses_damaged(void **state)
{
    struct fixture *f = *state;
    uint32_t word;
    char want[512];
    size_t size = gpx_scoreboard_map_size(2, 2);

    open_board(f, 2, 2);
    close_board(f);
    assert_int_equal(truncate(f->path, (off_t)size - 1), 0);
    snprintf(want, sizeof(want),
             "%s is damaged (2 workers x 2 cores need %zu bytes, the file has %zu); move it away or set "
             "gpx-cleanup-db-files = true",
             f->path, size, size - 1);
    assert_refused(f, want);

    assert_int_equal(truncate(f->path, GPX_HEADER_SIZE), 0);
    assert_refused(f, "is damaged (2 workers x 2 cores need");

    assert_int_equal(truncate(f->path, 20), 0);
    snprintf(want, sizeof(want),
             "%s is damaged (shorter than a gpx header); move it away or set gpx-cleanup-db-files = true", f->path);
    assert_refused(f, want);

    unlink(f->path);
    open_board(f, 2, 2);
    close_board(f);
    word = 3;
    patch_file(f->path, offsetof(struct gpx_board_header, workers), &word, sizeof(word));
    assert_refused(f, "is damaged (3 workers x 2 cores need");
    word = 0;
    patch_file(f->path, offsetof(struct gpx_board_header, workers), &word, sizeof(word));
    assert_refused(f, "is damaged (0 workers x 2 cores need");
}

/* A path that cannot be opened or made is refused with the reason. */
static void
test_gpx_boardfile_refuses_unusable_path(void **state)
{
    struct fixture *f = *state;
    struct gpx_boardfile_options o = options(f, 1, 1);
    enum gpx_boardfile_start start;
    char path[256], err[1024] = "", want[512];
    int fds = open_fds();

    o.path = f->dir;
    assert_int_equal(gpx_boardfile_open(&f->file, &f->board, &o, &start, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot open"));
    assert_null(f->board.base);

    snprintf(path, sizeof(path), "%s/missing/deeper/gpx_x.scoreboard", f->dir);
    o.path = path;
    assert_int_equal(gpx_boardfile_open(&f->file, &f->board, &o, &start, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "cannot make the directory %s/missing/deeper: No such file or directory", f->dir);
    assert_non_null(strstr(err, want));
    assert_null(f->board.base);

    o = options(f, 0, 1);
    assert_int_equal(gpx_boardfile_open(&f->file, &f->board, &o, &start, err, sizeof(err)), -1);
    assert_string_equal(err, "a scoreboard needs at least one worker and one core");
    assert_int_equal(access(f->path, F_OK), -1);
    assert_int_equal(open_fds(), fds);
}

/* ---- a full filesystem at start, leftovers -------------------------------- */

/* No room for the file: refused with one reason naming the size, the path
 * and what to do; neither the file nor its temporary name is left, so the
 * next start (with room) simply makes it. */
static void
test_gpx_boardfile_refuses_without_room(void **state)
{
    struct fixture *f = *state;
    struct gpx_boardfile_options o = options(f, 2, 2);
    enum gpx_boardfile_start start;
    char err[1024] = "", want[512];
    int fds = open_fds();

    limit_file_size(1000);
    assert_int_equal(gpx_boardfile_open(&f->file, &f->board, &o, &start, err, sizeof(err)), -1);
    no_file_size_limit();
    snprintf(want, sizeof(want),
             "cannot reserve %zu bytes for %s: File too large (file storage keeps the counters in "
             "this file: make room in %s, or set gpx-multiproc-dir to another directory)",
             gpx_scoreboard_map_size(2, 2), f->path, f->dir);
    assert_string_equal(err, want);
    assert_string_equal(test_logged, "");
    assert_null(f->board.base);
    assert_int_equal(access(f->path, F_OK), -1);
    assert_int_equal(access(f->tmp, F_OK), -1);
    assert_int_equal(open_fds(), fds);

    assert_int_equal(open_board(f, 2, 2), GPX_BOARDFILE_NEW);
    assert_file_is_board(f);
}

/* What an older gpx left when it died making the file (sized, never
 * written: all zeros), or an empty file, holds no counters: it is replaced,
 * and said so. */
static void
test_gpx_boardfile_replaces_leftover(void **state)
{
    struct fixture *f = *state;
    char want[512];
    int fd = open(f->path, O_WRONLY | O_CREAT, 0640);

    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)gpx_scoreboard_map_size(2, 2)), 0);
    close(fd);
    assert_int_equal(open_board(f, 2, 2), GPX_BOARDFILE_NEW);
    snprintf(want, sizeof(want),
             "gpx: %s held no counters (%zu bytes, all zero: a file whose making did not finish); replaced by a new "
             "file, the counters begin at zero\n",
             f->path, gpx_scoreboard_map_size(2, 2));
    assert_string_equal(test_logged, want);
    assert_file_is_board(f);
    record_cell(gpx_scoreboard_cell(&f->board, 1, 0), GPX_METHOD_GET, 200, 5);
    close_board(f);

    assert_int_equal(truncate(f->path, 0), 0);
    test_log_clear();
    assert_int_equal(open_board(f, 2, 2), GPX_BOARDFILE_NEW);
    assert_non_null(strstr(test_logged, "held no counters (0 bytes, all zero"));
    assert_true(gpx_cell_requests(gpx_scoreboard_cell(&f->board, 1, 0)) == 0);
    assert_file_is_board(f);
}

/* A reload (keep_going) without room: the board counts in memory with the
 * storage down, logged once; the first sync with room writes the file. */
static void
test_gpx_boardfile_keep_going_without_room(void **state)
{
    struct fixture *f = *state;
    struct gpx_boardfile_options o = options(f, 2, 1);
    enum gpx_boardfile_start start;
    char err[512] = "";

    o.keep_going = 1;
    limit_file_size(1000);
    assert_int_equal(gpx_boardfile_open(&f->file, &f->board, &o, &start, err, sizeof(err)), 0);
    assert_int_equal(start, GPX_BOARDFILE_NEW);
    assert_int_equal(f->status.up, 0);
    assert_true(f->status.errors[GPX_BOARDFILE_WRITE] == 1);
    assert_int_equal(test_logged_lines(), 1);
    assert_logged("cannot reserve");
    assert_logged("counting in memory (gunicorn_exporter_storage_up 0), trying again every 1 s");
    assert_int_equal(access(f->path, F_OK), -1);
    assert_false(gpx_boardfile_holds_counts(&f->file, NULL));

    record_cell(gpx_scoreboard_cell(&f->board, 2, 0), GPX_METHOD_GET, 200, 5);
    assert_int_equal(gpx_boardfile_sync(&f->file, &f->board, 0, err, sizeof(err)), -1);
    assert_int_equal(test_logged_lines(), 1); /* once, not at every retry */
    assert_true(f->status.errors[GPX_BOARDFILE_WRITE] == 2);

    no_file_size_limit();
    sync_ok(f);
    assert_int_equal(f->status.up, 1);
    assert_int_equal(test_logged_lines(), 2);
    assert_logged("written again: it holds the counts kept in memory meanwhile");
    assert_file_is_board(f);
    assert_true(gpx_boardfile_holds_counts(&f->file, NULL));
}

/* ---- faults while running ------------------------------------------------- */

static void
counted_and_logged(struct fixture *f, uint64_t checks, const char *want)
{
    assert_true(f->status.errors[GPX_BOARDFILE_CHECK] == checks);
    assert_logged(want);
    assert_int_equal(f->status.up, 1);
    assert_file_is_board(f);
}

/* Truncated, replaced, removed (also with its directory), its mode or
 * owner changed: each noticed at the next sync, logged once, counted, and
 * the file written again from memory with every count. */
static void
test_gpx_boardfile_survives_changes(void **state)
{
    struct fixture *f = *state;
    char other[200], want[512];
    struct stat st;
    int fd;

    open_board(f, 2, 1);
    record_mix(gpx_scoreboard_cell(&f->board, 1, 0), 3, 40);
    sync_ok(f);

    assert_int_equal(truncate(f->path, 0), 0);
    record_cell(gpx_scoreboard_cell(&f->board, 2, 0), GPX_METHOD_GET, 200, 5);
    sync_ok(f);
    snprintf(want, sizeof(want),
             "gpx: %s was truncated to 0 bytes by another process (it should have %zu); gpx writes it again from "
             "the counts in memory\n",
             f->path, f->board.size);
    counted_and_logged(f, 1, want);
    sync_ok(f);
    assert_int_equal(test_logged_lines(), 1);

    snprintf(other, sizeof(other), "%s/other", f->dir);
    fd = open(other, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "not gpx", 7), 7);
    close(fd);
    assert_int_equal(rename(other, f->path), 0);
    sync_ok(f);
    snprintf(want, sizeof(want), "gpx: %s was replaced by another file; gpx writes its counts from memory over it\n",
             f->path);
    counted_and_logged(f, 2, want);

    assert_int_equal(unlink(f->path), 0);
    sync_ok(f);
    snprintf(want, sizeof(want),
             "gpx: %s was removed by another process; gpx writes it again from the counts in memory\n", f->path);
    counted_and_logged(f, 3, want);

    assert_int_equal(unlink(f->path), 0);
    assert_int_equal(rmdir(f->dir), 0);
    sync_ok(f);
    snprintf(want, sizeof(want),
             "gpx: %s was removed by another process, with its directory; gpx writes it again from the counts in "
             "memory\n",
             f->path);
    counted_and_logged(f, 4, want);

    assert_int_equal(chmod(f->path, 0), 0);
    sync_ok(f);
    snprintf(want, sizeof(want), "gpx: the mode of %s was changed to 0000 by another process; set back to 0640\n",
             f->path);
    counted_and_logged(f, 5, want);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);

    if (geteuid() == 0) {
        assert_int_equal(chown(f->path, 4321, 4322), 0);
        sync_ok(f);
        snprintf(want, sizeof(want),
                 "gpx: the owner of %s was changed to 4321:4322 by another process; set back to 0:0\n", f->path);
        counted_and_logged(f, 6, want);
        assert_int_equal(stat(f->path, &st), 0);
        assert_int_equal(st.st_uid, 0);
    }
    assert_int_equal(access(f->tmp, F_OK), -1);
    assert_true(f->status.errors[GPX_BOARDFILE_WRITE] == 0);
}

/* A change that repeats (a script truncating the file in a loop) is
 * counted every time and logged once a minute, the next line saying how
 * many went unsaid. A gpx scoreboard moved over the file (a second server
 * with the same instance name renaming its own file over it) is named as
 * such. */
static void
test_gpx_boardfile_repeated_changes_logged_once_a_minute(void **state)
{
    struct fixture *f = *state;
    struct gpx_boardfile other;
    struct gpx_scoreboard other_board;
    struct gpx_boardfile_options o;
    enum gpx_boardfile_start start;
    char other_path[200], err[512] = "", want[768];
    unsigned i;

    open_board(f, 2, 1);
    for (i = 0; i < 5; i++) {
        assert_int_equal(truncate(f->path, 0), 0);
        sync_ok(f);
        assert_file_is_board(f);
    }
    assert_true(f->status.errors[GPX_BOARDFILE_CHECK] == 5);
    assert_int_equal(test_logged_lines(), 1);

    /* A minute later (as the handle remembers it), the next is logged with
     * the count of those that were not. */
    f->file.noted_at[GPX_CHANGE_RESIZED] -= 61;
    assert_int_equal(truncate(f->path, 0), 0);
    sync_ok(f);
    assert_int_equal(test_logged_lines(), 2);
    snprintf(want, sizeof(want),
             "gpx: %s was truncated to 0 bytes by another process (it should have %zu); gpx writes it again from "
             "the counts in memory (the same change, 4 more time(s) since the last such line)\n",
             f->path, f->board.size);
    assert_logged(want);

    /* Another gpx's scoreboard renamed over this one. */
    snprintf(other_path, sizeof(other_path), "%s/other", f->dir);
    o = options(f, 1, 1);
    o.path = other_path;
    o.status = NULL;
    o.log = NULL;
    assert_int_equal(gpx_boardfile_open(&other, &other_board, &o, &start, err, sizeof(err)), 0);
    gpx_boardfile_close(&other);
    gpx_scoreboard_close(&other_board);
    assert_int_equal(rename(other_path, f->path), 0);
    sync_ok(f);
    snprintf(want, sizeof(want),
             "gpx: %s was replaced by another file (a gpx scoreboard: does another server run with the same "
             "gpx-instance?); gpx writes its counts from memory over it\n",
             f->path);
    assert_logged(want);
    assert_file_is_board(f);
}

/* A write that fails in place (the file cannot grow past a limit here; a
 * failing disk alike) is logged once and counted at each retry, the storage
 * down meanwhile; once writes succeed, the whole board is in the file. */
static void
test_gpx_boardfile_write_failure_logged_once(void **state)
{
    struct fixture *f = *state;
    char err[512] = "";
    unsigned i;

    open_board(f, 2, 1);
    sync_ok(f);
    assert_int_equal(truncate(f->path, GPX_HEADER_SIZE), 0);
    assert_int_equal(gpx_boardfile_sync(&f->file, &f->board, 0, err, sizeof(err)), 0); /* noticed, written again */
    assert_int_equal(test_logged_lines(), 1);

    limit_file_size(GPX_HEADER_SIZE);
    for (i = 0; i < 3; i++) {
        record_cell(gpx_scoreboard_cell(&f->board, 2, 0), GPX_METHOD_GET, 200, 5 + i);
        assert_int_equal(gpx_boardfile_sync(&f->file, &f->board, 0, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "cannot write"));
        assert_int_equal(f->status.up, 0);
        assert_true(f->status.errors[GPX_BOARDFILE_WRITE] == i + 1);
    }
    assert_int_equal(test_logged_lines(), 2);
    assert_logged("File too large; counting in memory (gunicorn_exporter_storage_up 0)");
    /* The file still holds the counts of its last good write. */
    assert_true(gpx_boardfile_holds_counts(&f->file, NULL));

    no_file_size_limit();
    sync_ok(f);
    assert_int_equal(f->status.up, 1);
    assert_int_equal(test_logged_lines(), 3);
    assert_logged("written again: it holds the counts kept in memory meanwhile");
    assert_file_is_board(f);
    assert_true(gpx_cell_requests(gpx_scoreboard_cell(&f->board, 2, 0)) == 3);
}

/* A final sync that cannot write says so to the caller and logs nothing:
 * the caller's last line says what it means. */
static void
test_gpx_boardfile_final_failure_is_the_callers(void **state)
{
    struct fixture *f = *state;
    char err[512] = "";

    open_board(f, 1, 1);
    assert_int_equal(unlink(f->path), 0);
    limit_file_size(1000);
    assert_int_equal(gpx_boardfile_sync(&f->file, &f->board, 1, err, sizeof(err)), -1);
    no_file_size_limit();
    assert_non_null(strstr(err, "cannot reserve"));
    assert_int_equal(test_logged_lines(), 1); /* the removal only */
    assert_logged("was removed by another process");
    assert_false(gpx_boardfile_holds_counts(&f->file, NULL));
    assert_int_equal(access(f->path, F_OK), -1);
    assert_int_equal(access(f->tmp, F_OK), -1);
}

#define FILE_TEST(name) cmocka_unit_test_setup_teardown(name, setup_dir, teardown_dir)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        FILE_TEST(test_gpx_boardfile_create),
        FILE_TEST(test_gpx_boardfile_sync_and_reopen_continue),
        FILE_TEST(test_gpx_boardfile_reopen_grows),
        FILE_TEST(test_gpx_boardfile_reopen_folds),
        FILE_TEST(test_gpx_boardfile_refuses_bad_magic),
        FILE_TEST(test_gpx_boardfile_refuses_other_layout),
        FILE_TEST(test_gpx_boardfile_refuses_damaged),
        FILE_TEST(test_gpx_boardfile_refuses_unusable_path),
        FILE_TEST(test_gpx_boardfile_refuses_without_room),
        FILE_TEST(test_gpx_boardfile_replaces_leftover),
        FILE_TEST(test_gpx_boardfile_keep_going_without_room),
        FILE_TEST(test_gpx_boardfile_survives_changes),
        FILE_TEST(test_gpx_boardfile_repeated_changes_logged_once_a_minute),
        FILE_TEST(test_gpx_boardfile_write_failure_logged_once),
        FILE_TEST(test_gpx_boardfile_final_failure_is_the_callers),
    };

    return cmocka_run_group_tests_name("gpx_boardfile", tests, NULL, NULL);
}
