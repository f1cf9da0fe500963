/* Unit tests of gpx_scoreboard: recording, summing, and the file's life. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "gpx_test_support.h"

#include "gpx_scoreboard.h"

#define NO_UID ((uid_t)-1)
#define NO_GID ((gid_t)-1)

static struct gpx_request
req(unsigned method, unsigned status, uint64_t duration_us, uint64_t request_size, uint64_t response_size)
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

static void
record(struct gpx_cell *cell, unsigned method, unsigned status, uint64_t duration_us)
{
    struct gpx_request r = req(method, status, duration_us, 100, 200);

    gpx_cell_record(cell, &r);
}

static int
cell_is_zero(const struct gpx_cell *cell)
{
    static const struct gpx_cell zero;

    return memcmp(cell, &zero, sizeof(zero)) == 0;
}

/* A varied request mix; `seed` changes it. */
static void
record_mix(struct gpx_cell *cell, unsigned seed, unsigned n)
{
    unsigned i;

    for (i = 0; i < n; i++) {
        unsigned k = seed * 7919u + i * 104729u;
        struct gpx_request r =
            req(k % GPX_METHOD_COUNT, 200 + (k % 5) * 100 + k % 3, (k % 70000000u), k % 5000000u, (k / 3) % 5000000u);

        r.app_id = k % 11;
        r.raised = k % 4 == 0;
        /* Classes 0 and 1 on app 0 (at most 20 triples: the table never
         * fills, so any order of adding gives the same cell). */
        r.error_name = r.app_id == 0 ? 1 + k % 2 : 0;
        r.read_errors = k % 5 == 0 ? 2 : 0;
        r.write_errors = k % 6 == 0 ? 3 : 0;
        gpx_cell_record(cell, &r);
    }
}

/* ---- files ------------------------------------------------------------ */

struct fixture {
    char dir[64];
    char path[128];
    char tmp[160];
};

static int
setup_dir(void **state)
{
    static struct fixture f;

    strcpy(f.dir, "/tmp/gpx_scoreboard_test_XXXXXX");
    if (mkdtemp(f.dir) == NULL) {
        return -1;
    }
    if (gpx_scoreboard_path(f.path, sizeof(f.path), f.dir, "test:9090") != 0) {
        return -1;
    }
    snprintf(f.tmp, sizeof(f.tmp), "%s.tmp", f.path);
    *state = &f;
    return 0;
}

static int
teardown_dir(void **state)
{
    struct fixture *f = *state;

    unlink(f->path);
    unlink(f->tmp);
    return rmdir(f->dir);
}

static int
open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    const struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
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

static size_t
expected_map_size(unsigned workers, unsigned cores)
{
    return GPX_HEADER_SIZE + (size_t)workers * (sizeof(struct gpx_slot) + (size_t)cores * sizeof(struct gpx_cell));
}

static void
open_file(struct gpx_scoreboard *board, const char *path, unsigned workers, unsigned cores, char *note, size_t notelen)
{
    char err[512] = "";

    if (gpx_scoreboard_open_file(board, path, workers, cores, NO_UID, NO_GID, note, notelen, err, sizeof(err)) != 0) {
        print_error("open_file: %s\n", err);
        fail();
    }
}

static void
assert_header(const struct gpx_scoreboard *board, unsigned workers, unsigned cores)
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
    assert_int_equal(h->map_size, expected_map_size(workers, cores));
    assert_int_equal(board->size, expected_map_size(workers, cores));
    assert_int_equal(board->workers, workers);
    assert_int_equal(board->cores, cores);
    assert_int_equal(board->block_size, sizeof(struct gpx_slot) + cores * sizeof(struct gpx_cell));
}

/* ---- anonymous boards and recording ------------------------------------ */

/* An anonymous board has the header of its layout, zeroed 64-byte-aligned
 * cells inside the map, no file; close leaves a zeroed handle. */
static void
test_gpx_scoreboard_open_anonymous_layout(void **state)
{
    struct gpx_scoreboard board;
    char err[256] = "";
    unsigned w, c;
    time_t before = time(NULL);

    (void)state;
    assert_int_equal(gpx_scoreboard_open_anonymous(&board, 3, 2, err, sizeof(err)), 0);
    assert_string_equal(err, "");
    assert_header(&board, 3, 2);
    assert_int_equal(board.fd, -1);
    assert_true(board.header->created_unix >= (uint64_t)before && board.header->created_unix <= (uint64_t)time(NULL));
    for (w = 1; w <= 3; w++) {
        unsigned char *slot = (unsigned char *)gpx_scoreboard_slot(&board, w);

        assert_ptr_equal(slot, board.base + GPX_HEADER_SIZE + (w - 1) * board.block_size);
        for (c = 0; c < 2; c++) {
            const struct gpx_cell *cell = gpx_scoreboard_cell(&board, w, c);

            assert_int_equal((uintptr_t)cell % 64, 0);
            assert_true((const unsigned char *)cell >= slot + sizeof(struct gpx_slot));
            assert_true((const unsigned char *)(cell + 1) <= board.base + board.size);
            assert_true(cell_is_zero(cell));
        }
    }
    gpx_scoreboard_close(&board);
    assert_null(board.base);
    assert_int_equal(board.fd, -1);
    gpx_scoreboard_close(&board);
}

/* Zero workers or zero cores are refused with a reason and nothing mapped. */
static void
test_gpx_scoreboard_open_anonymous_refuses_zero(void **state)
{
    struct gpx_scoreboard board;
    char err[256];

    (void)state;
    err[0] = '\0';
    assert_int_equal(gpx_scoreboard_open_anonymous(&board, 0, 1, err, sizeof(err)), -1);
    assert_string_equal(err, "a scoreboard needs at least one worker and one core");
    assert_null(board.base);
    assert_int_equal(board.fd, -1);
    err[0] = '\0';
    assert_int_equal(gpx_scoreboard_open_anonymous(&board, 1, 0, err, sizeof(err)), -1);
    assert_string_equal(err, "a scoreboard needs at least one worker and one core");
    assert_null(board.base);
    /* A NULL err is allowed. */
    assert_int_equal(gpx_scoreboard_open_anonymous(&board, 0, 0, NULL, 0), -1);
}

/* The anonymous map is shared: what a forked child records, the parent reads. */
static void
test_gpx_scoreboard_anonymous_shared_across_fork(void **state)
{
    struct gpx_scoreboard board;
    char err[256];
    pid_t pid;
    int status;

    (void)state;
    assert_int_equal(gpx_scoreboard_open_anonymous(&board, 2, 1, err, sizeof(err)), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        unsigned i;

        for (i = 0; i < 5; i++) {
            record(gpx_scoreboard_cell(&board, 2, 0), GPX_METHOD_GET, 200, 1000);
        }
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(gpx_cell_requests(gpx_scoreboard_cell(&board, 2, 0)) == 5);
    assert_true(status_count(gpx_scoreboard_cell(&board, 2, 0), GPX_METHOD_GET, 200) == 5);
    assert_true(cell_is_zero(gpx_scoreboard_cell(&board, 1, 0)));
    gpx_scoreboard_close(&board);
}

/* record puts the duration in its method's first bucket whose bound is >= it
 * (bounds inclusive, then +Inf), the sizes in their buckets, and adds sums. */
static void
test_gpx_cell_record_slots_and_sums(void **state)
{
    static struct gpx_cell cell;
    struct gpx_request r;

    (void)state;
    memset(&cell, 0, sizeof(cell));
    r = req(GPX_METHOD_GET, 200, 5000, 1024, 1025);
    gpx_cell_record(&cell, &r);
    r = req(GPX_METHOD_GET, 200, 5001, 0, 4194304);
    gpx_cell_record(&cell, &r);
    r = req(GPX_METHOD_POST, 201, 60000001, 4194305, 0);
    gpx_cell_record(&cell, &r);
    r = req(GPX_METHOD_POST, 201, 0, 65536, 65537);
    gpx_cell_record(&cell, &r);

    assert_true(cell.duration[GPX_METHOD_GET].slot[0] == 1);
    assert_true(cell.duration[GPX_METHOD_GET].slot[1] == 1);
    assert_true(cell.duration[GPX_METHOD_GET].sum_us == 10001);
    assert_true(cell.duration[GPX_METHOD_POST].slot[GPX_DURATION_BOUNDS] == 1);
    assert_true(cell.duration[GPX_METHOD_POST].slot[0] == 1);
    assert_true(cell.duration[GPX_METHOD_POST].sum_us == 60000001);

    assert_true(cell.sizes.slot[0].request == 2); /* 1024 and 0 */
    assert_true(cell.sizes.slot[GPX_SIZE_BOUNDS].request == 1);
    assert_true(cell.sizes.slot[3].request == 1); /* 65536 */
    assert_true(cell.sizes.request_sum == 1024 + 4194305 + 65536);
    assert_true(cell.sizes.slot[1].response == 1);                   /* 1025 */
    assert_true(cell.sizes.slot[GPX_SIZE_BOUNDS - 1].response == 1); /* 4194304 */
    assert_true(cell.sizes.slot[0].response == 1);                   /* 0 */
    assert_true(cell.sizes.slot[4].response == 1);                   /* 65537 */
    assert_true(cell.sizes.response_sum == 1025 + 4194304 + 65537);

    assert_true(status_count(&cell, GPX_METHOD_GET, 200) == 2);
    assert_true(status_count(&cell, GPX_METHOD_POST, 201) == 2);
    assert_true(status_count(&cell, GPX_METHOD_POST, 200) == 0);
    assert_int_equal(status_keys(&cell), 2);
    assert_true(gpx_cell_requests(&cell) == 4);
}

/* Exceptions and I/O errors go under (method, application); a method out of
 * range is OTHER and an application out of range is the last one. */
static void
test_gpx_cell_record_errors_and_clamps(void **state)
{
    static struct gpx_cell cell;
    struct gpx_request r;

    (void)state;
    memset(&cell, 0, sizeof(cell));
    r = req(GPX_METHOD_PUT, 500, 10, 0, 0);
    r.app_id = 2;
    r.raised = 1;
    r.read_errors = 3;
    r.write_errors = 4;
    gpx_cell_record(&cell, &r);
    r = req(999, 404, 10, 0, 0);
    r.app_id = 1000;
    r.raised = 1;
    r.write_errors = 1;
    gpx_cell_record(&cell, &r);
    r = req(GPX_METHOD_PUT, 200, 10, 0, 0);
    r.app_id = 2;
    gpx_cell_record(&cell, &r);

    assert_true(cell.failed[GPX_METHOD_PUT][2] == 1);
    assert_true(cell.read_errors[GPX_METHOD_PUT][2] == 3);
    assert_true(cell.write_errors[GPX_METHOD_PUT][2] == 4);
    assert_true(cell.failed[GPX_METHOD_OTHER][GPX_MAX_APPS - 1] == 1);
    assert_true(cell.read_errors[GPX_METHOD_OTHER][GPX_MAX_APPS - 1] == 0);
    assert_true(cell.write_errors[GPX_METHOD_OTHER][GPX_MAX_APPS - 1] == 1);
    assert_true(cell.duration[GPX_METHOD_OTHER].slot[0] == 1);
    assert_true(status_count(&cell, GPX_METHOD_OTHER, 404) == 1);
    assert_true(status_count(&cell, GPX_METHOD_PUT, 500) == 1);
    assert_true(status_count(&cell, GPX_METHOD_PUT, 200) == 1);
    assert_true(gpx_cell_requests(&cell) == 3);
}

/* Each (method, status) pair has its own count; statuses of 1000 and more
 * count under status 0. */
static void
test_gpx_cell_count_status_per_key(void **state)
{
    static struct gpx_cell cell;
    unsigned i;

    (void)state;
    memset(&cell, 0, sizeof(cell));
    for (i = 0; i < 3; i++) {
        gpx_cell_count_status(&cell, GPX_METHOD_GET, 200);
    }
    gpx_cell_count_status(&cell, GPX_METHOD_GET, 404);
    gpx_cell_count_status(&cell, GPX_METHOD_POST, 200);
    gpx_cell_count_status(&cell, GPX_METHOD_POST, 200);
    gpx_cell_count_status(&cell, GPX_METHOD_DELETE, 0);
    gpx_cell_count_status(&cell, GPX_METHOD_DELETE, 1234);
    assert_true(status_count(&cell, GPX_METHOD_GET, 200) == 3);
    assert_true(status_count(&cell, GPX_METHOD_GET, 404) == 1);
    assert_true(status_count(&cell, GPX_METHOD_POST, 200) == 2);
    assert_true(status_count(&cell, GPX_METHOD_DELETE, 0) == 2);
    assert_int_equal(status_keys(&cell), 4);
    assert_true(cell.status_overflow[GPX_METHOD_GET][2] == 0);
}

/* Past 64 distinct keys, new keys count in their class row
 * (status_overflow[method][status / 100], 0 outside 1xx..5xx) while the
 * keys already in the table keep counting. */
static void
test_gpx_cell_count_status_overflow(void **state)
{
    static struct gpx_cell cell;
    unsigned s;

    (void)state;
    memset(&cell, 0, sizeof(cell));
    for (s = 200; s < 270; s++) {
        gpx_cell_count_status(&cell, GPX_METHOD_GET, s);
    }
    assert_int_equal(status_keys(&cell), GPX_STATUS_SLOTS);
    for (s = 200; s < 264; s++) {
        assert_true(status_count(&cell, GPX_METHOD_GET, s) == 1);
    }
    for (s = 264; s < 270; s++) {
        assert_true(status_count(&cell, GPX_METHOD_GET, s) == 0);
    }
    assert_true(cell.status_overflow[GPX_METHOD_GET][2] == 6);

    gpx_cell_count_status(&cell, GPX_METHOD_GET, 200); /* a known key */
    assert_true(status_count(&cell, GPX_METHOD_GET, 200) == 2);
    gpx_cell_count_status(&cell, GPX_METHOD_GET, 269); /* a key that did not fit */
    assert_true(cell.status_overflow[GPX_METHOD_GET][2] == 7);
    gpx_cell_count_status(&cell, GPX_METHOD_POST, 503);
    gpx_cell_count_status(&cell, GPX_METHOD_POST, 101);
    gpx_cell_count_status(&cell, GPX_METHOD_POST, 42);
    gpx_cell_count_status(&cell, GPX_METHOD_POST, 600);
    gpx_cell_count_status(&cell, GPX_METHOD_POST, 1500);
    assert_true(cell.status_overflow[GPX_METHOD_POST][5] == 1);
    assert_true(cell.status_overflow[GPX_METHOD_POST][1] == 1);
    assert_true(cell.status_overflow[GPX_METHOD_POST][0] == 3);
    assert_int_equal(status_keys(&cell), GPX_STATUS_SLOTS);
    /* POST has no key, only class rows: it is marked all the same. */
    assert_int_equal(cell.methods, (1u << GPX_METHOD_GET) | (1u << GPX_METHOD_POST));
}

/* The cache lines of a zeroed cell that a write made non-zero. */
static unsigned
lines_written(const struct gpx_cell *cell)
{
    const unsigned char *bytes = (const unsigned char *)cell;
    unsigned line, i, n = 0;

    for (line = 0; line < sizeof(*cell) / 64; line++) {
        for (i = 0; i < 64 && bytes[line * 64 + i] == 0; i++) {
        }
        n += i < 64;
    }
    return n;
}

/* A common request (a known status, fast, small body and response) writes
 * three cache lines of its cell, and a repeat of it the same three: with
 * many busy processes on a CPU, every line the hook touches is a likely
 * miss. Marking a new method and key adds the mask's line once. */
static void
test_gpx_cell_record_touches_three_lines(void **state)
{
    static struct gpx_cell cell;
    struct gpx_request r = req(GPX_METHOD_GET, 200, 800, 0, 12);

    (void)state;
    assert_int_equal(sizeof(cell) % 64, 0);
    memset(&cell, 0, sizeof(cell));
    gpx_cell_record(&cell, &r);
    assert_int_equal(lines_written(&cell), 4);
    cell.methods = 0; /* written once per method */
    assert_int_equal(lines_written(&cell), 3);
    r = req(GPX_METHOD_POST, 201, 4000, 900, 1000);
    memset(&cell, 0, sizeof(cell));
    gpx_cell_record(&cell, &r);
    cell.methods = 0;
    assert_int_equal(lines_written(&cell), 3);
}

/* Adding cells into a zeroed cell gives exactly the counts of recording all
 * their requests into one cell, status keys included. */
static void
test_gpx_cell_add_merges_exactly(void **state)
{
    static struct gpx_cell a, b, sum, oracle;

    (void)state;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    memset(&sum, 0, sizeof(sum));
    memset(&oracle, 0, sizeof(oracle));
    record_mix(&a, 1, 500);
    record_mix(&b, 2, 700);
    record_mix(&oracle, 1, 500);
    record_mix(&oracle, 2, 700);
    assert_true(status_keys(&oracle) < GPX_STATUS_SLOTS); /* the mix fits the table */

    gpx_cell_add(&sum, &a);
    assert_cells_equal(&sum, &a);
    gpx_cell_add(&sum, &b);
    assert_cells_equal(&sum, &oracle);
    assert_true(gpx_cell_requests(&sum) == 1200);
}

/* Keys that do not fit the destination's table go to its class row, and the
 * source's class row is added too: no count is lost. */
static void
test_gpx_cell_add_overflows_into_class(void **state)
{
    static struct gpx_cell dst, src;
    unsigned s;

    (void)state;
    memset(&dst, 0, sizeof(dst));
    memset(&src, 0, sizeof(src));
    for (s = 200; s < 264; s++) {
        gpx_cell_count_status(&dst, GPX_METHOD_GET, s);
    }
    for (s = 300; s < 310; s++) {
        gpx_cell_count_status(&src, GPX_METHOD_GET, s);
        gpx_cell_count_status(&src, GPX_METHOD_GET, s);
    }
    gpx_cell_count_status(&src, GPX_METHOD_GET, 200);
    src.status_overflow[GPX_METHOD_GET][4] = 5; /* a row of a method src has keys of */

    gpx_cell_add(&dst, &src);
    assert_int_equal(status_keys(&dst), GPX_STATUS_SLOTS);
    assert_true(status_count(&dst, GPX_METHOD_GET, 200) == 2);
    assert_true(dst.status_overflow[GPX_METHOD_GET][3] == 20);
    assert_true(dst.status_overflow[GPX_METHOD_GET][4] == 5);
}

/* A reader reads the rows of the methods a cell has status keys of; a full
 * table hides methods counted in class rows, so then it reads them all. */
static void
test_gpx_cell_add_reads_methods_with_keys(void **state)
{
    static struct gpx_cell dst, src;
    struct gpx_request req = {.method = GPX_METHOD_HEAD, .status = 204, .duration_us = 10};
    unsigned s;

    (void)state;
    memset(&dst, 0, sizeof(dst));
    memset(&src, 0, sizeof(src));
    gpx_cell_add(&dst, &src);
    assert_true(gpx_cell_requests(&dst) == 0);
    assert_int_equal(status_keys(&dst), 0);

    gpx_cell_record(&src, &req);
    for (s = 200; s < 263; s++) {
        req.method = GPX_METHOD_GET;
        req.status = s;
        gpx_cell_record(&src, &req);
    }
    assert_int_equal(status_keys(&src), GPX_STATUS_SLOTS);
    req.method = GPX_METHOD_DELETE; /* no room for its key: its class row */
    req.status = 404;
    gpx_cell_record(&src, &req);
    req.method = GPX_METHOD_HEAD;
    gpx_cell_record(&src, &req);

    gpx_cell_add(&dst, &src);
    assert_true(gpx_cell_requests(&dst) == 66);
    assert_true(dst.duration[GPX_METHOD_DELETE].slot[0] == 1);
    assert_true(dst.status_overflow[GPX_METHOD_DELETE][4] == 1);
    assert_true(dst.duration[GPX_METHOD_HEAD].slot[0] == 2);
    assert_true(status_count(&dst, GPX_METHOD_HEAD, 204) == 1);
    assert_true(dst.status_overflow[GPX_METHOD_HEAD][4] == 1);
}

/* sum_worker zeroes its output, then sums the cores of that worker only. */
static void
test_gpx_scoreboard_sum_worker_sums_cores(void **state)
{
    static struct gpx_cell out, oracle;
    struct gpx_scoreboard board;
    char err[256];
    unsigned c;

    (void)state;
    assert_int_equal(gpx_scoreboard_open_anonymous(&board, 2, 3, err, sizeof(err)), 0);
    memset(&oracle, 0, sizeof(oracle));
    for (c = 0; c < 3; c++) {
        record_mix(gpx_scoreboard_cell(&board, 1, c), c + 10, 100 + c);
        record_mix(&oracle, c + 10, 100 + c);
    }
    record_mix(gpx_scoreboard_cell(&board, 2, 1), 99, 50);

    memset(&out, 0xab, sizeof(out));
    gpx_scoreboard_sum_worker(&board, 1, &out);
    assert_cells_equal(&out, &oracle);
    assert_true(gpx_cell_requests(&out) == 303);
    gpx_scoreboard_sum_worker(&board, 2, &out);
    assert_true(gpx_cell_requests(&out) == 50);
    gpx_scoreboard_close(&board);
}

/* requests is the total of every method's duration buckets. */
static void
test_gpx_cell_requests_counts_all_methods(void **state)
{
    static struct gpx_cell cell;
    unsigned m;

    (void)state;
    memset(&cell, 0, sizeof(cell));
    assert_true(gpx_cell_requests(&cell) == 0);
    for (m = 0; m < GPX_METHOD_COUNT; m++) {
        record(&cell, m, 200, m * 1000000u);
    }
    record(&cell, GPX_METHOD_GET, 200, 100000000u);
    assert_true(gpx_cell_requests(&cell) == GPX_METHOD_COUNT + 1);
}

/* ---- file storage ------------------------------------------------------ */

/* The path is "<dir>/gpx_<instance>.scoreboard", refused when it does not fit. */
static void
test_gpx_scoreboard_path_format(void **state)
{
    char out[64];
    size_t need = strlen("/var/m/gpx_web:9090.scoreboard") + 1;

    (void)state;
    assert_int_equal(gpx_scoreboard_path(out, sizeof(out), "/var/m", "web:9090"), 0);
    assert_string_equal(out, "/var/m/gpx_web:9090.scoreboard");
    assert_int_equal(gpx_scoreboard_path(out, need, "/var/m", "web:9090"), 0);
    assert_int_equal(gpx_scoreboard_path(out, need - 1, "/var/m", "web:9090"), -1);
    assert_int_equal(gpx_scoreboard_path(out, 1, "/var/m", "web:9090"), -1);
}

/* A new file has the header of its layout (magic included), the size of
 * its map, zeroed cells, no note, and the owner asked for when root. */
static void
test_gpx_scoreboard_file_create(void **state)
{
    struct fixture *f = *state;
    struct gpx_scoreboard board;
    char note[512] = "x", err[512] = "";
    struct gpx_board_header disk;
    struct stat st;
    time_t before = time(NULL);
    int fd;

    assert_int_equal(gpx_scoreboard_open_file(&board, f->path, 2, 3, geteuid() == 0 ? 4321 : NO_UID,
                                              geteuid() == 0 ? 4322 : NO_GID, note, sizeof(note), err, sizeof(err)),
                     0);
    assert_string_equal(note, "");
    assert_header(&board, 2, 3);
    assert_true(board.fd >= 0);
    assert_true(board.header->created_unix >= (uint64_t)before && board.header->created_unix <= (uint64_t)time(NULL));
    assert_true(cell_is_zero(gpx_scoreboard_cell(&board, 2, 2)));
    assert_int_equal(file_size(f->path), expected_map_size(2, 3));
    assert_int_equal(stat(f->path, &st), 0);
    if (geteuid() == 0) {
        assert_int_equal(st.st_uid, 4321);
        assert_int_equal(st.st_gid, 4322);
    }
    gpx_scoreboard_close(&board);

    /* What is on disk, read without mapping. */
    fd = open(f->path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &disk, sizeof(disk), 0), sizeof(disk));
    close(fd);
    assert_memory_equal(disk.magic, "GPXBOARD", 8);
    assert_int_equal(disk.layout_version, GPX_LAYOUT_VERSION);
    assert_int_equal(disk.workers, 2);
    assert_int_equal(disk.cores, 3);
    assert_int_equal(disk.map_size, expected_map_size(2, 3));
}

/* Reopening with the same layout continues the counts and keeps the start. */
static void
test_gpx_scoreboard_file_reopen_continues(void **state)
{
    struct fixture *f = *state;
    struct gpx_scoreboard board;
    char note[512];
    uint64_t created;

    open_file(&board, f->path, 2, 2, note, sizeof(note));
    record(gpx_scoreboard_cell(&board, 1, 1), GPX_METHOD_GET, 200, 1000);
    record(gpx_scoreboard_cell(&board, 2, 0), GPX_METHOD_POST, 500, 1000);
    gpx_scoreboard_slot(&board, 2)->restarts[3] = 7;
    created = board.header->created_unix;
    gpx_scoreboard_close(&board);

    open_file(&board, f->path, 2, 2, note, sizeof(note));
    assert_string_equal(note, "");
    assert_header(&board, 2, 2);
    assert_true(board.header->created_unix == created);
    assert_true(gpx_cell_requests(gpx_scoreboard_cell(&board, 1, 1)) == 1);
    assert_true(status_count(gpx_scoreboard_cell(&board, 2, 0), GPX_METHOD_POST, 500) == 1);
    assert_true(gpx_scoreboard_slot(&board, 2)->restarts[3] == 7);
    record(gpx_scoreboard_cell(&board, 1, 1), GPX_METHOD_GET, 200, 1000);
    gpx_scoreboard_close(&board);

    open_file(&board, f->path, 2, 2, NULL, 0);
    assert_true(status_count(gpx_scoreboard_cell(&board, 1, 1), GPX_METHOD_GET, 200) == 2);
    gpx_scoreboard_close(&board);
}

/* Syncing a file board puts its counts on disk (read back with pread, not
 * through the mapping); an anonymous or zeroed board has nothing to sync. */
static void
test_gpx_scoreboard_sync(void **state)
{
    struct fixture *f = *state;
    struct gpx_scoreboard board, anon, zeroed;
    struct gpx_board_header disk;
    char note[512], err[256];
    int fd;

    open_file(&board, f->path, 2, 1, note, sizeof(note));
    record(gpx_scoreboard_cell(&board, 2, 0), GPX_METHOD_GET, 200, 1000);
    gpx_scoreboard_slot(&board, 1)->restarts[2] = 3;
    assert_int_equal(gpx_scoreboard_sync(&board), 0);
    fd = open(f->path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &disk, sizeof(disk), 0), sizeof(disk));
    close(fd);
    assert_memory_equal(disk.magic, "GPXBOARD", 8);
    assert_int_equal(disk.workers, 2);
    gpx_scoreboard_close(&board);
    open_file(&board, f->path, 2, 1, note, sizeof(note));
    assert_true(gpx_cell_requests(gpx_scoreboard_cell(&board, 2, 0)) == 1);
    assert_true(gpx_scoreboard_slot(&board, 1)->restarts[2] == 3);
    gpx_scoreboard_close(&board);

    assert_int_equal(gpx_scoreboard_open_anonymous(&anon, 1, 1, err, sizeof(err)), 0);
    assert_int_equal(gpx_scoreboard_sync(&anon), 0);
    gpx_scoreboard_close(&anon);
    memset(&zeroed, 0, sizeof(zeroed));
    zeroed.fd = -1;
    assert_int_equal(gpx_scoreboard_sync(&zeroed), 0);
}

/* Reopening with more workers grows the file, says so in the note, keeps
 * the old counts and gives the new workers zeroed blocks; reopening with
 * fewer keeps every block. */
static void
test_gpx_scoreboard_file_reopen_grows(void **state)
{
    struct fixture *f = *state;
    struct gpx_scoreboard board;
    char note[512], want[512];
    unsigned w;

    open_file(&board, f->path, 2, 2, note, sizeof(note));
    record(gpx_scoreboard_cell(&board, 2, 1), GPX_METHOD_GET, 200, 1000);
    gpx_scoreboard_close(&board);

    open_file(&board, f->path, 4, 2, note, sizeof(note));
    snprintf(want, sizeof(want), "%s grown from 2 to 4 workers", f->path);
    assert_string_equal(note, want);
    assert_header(&board, 4, 2);
    assert_int_equal(file_size(f->path), expected_map_size(4, 2));
    assert_true(status_count(gpx_scoreboard_cell(&board, 2, 1), GPX_METHOD_GET, 200) == 1);
    for (w = 3; w <= 4; w++) {
        assert_true(cell_is_zero(gpx_scoreboard_cell(&board, w, 0)));
        assert_true(cell_is_zero(gpx_scoreboard_cell(&board, w, 1)));
    }
    record(gpx_scoreboard_cell(&board, 4, 1), GPX_METHOD_HEAD, 204, 1000);
    gpx_scoreboard_close(&board);

    /* Fewer workers now: the four blocks stay, nothing to note. */
    open_file(&board, f->path, 1, 2, note, sizeof(note));
    assert_string_equal(note, "");
    assert_header(&board, 4, 2);
    assert_true(status_count(gpx_scoreboard_cell(&board, 4, 1), GPX_METHOD_HEAD, 204) == 1);
    assert_true(status_count(gpx_scoreboard_cell(&board, 2, 1), GPX_METHOD_GET, 200) == 1);
    gpx_scoreboard_close(&board);
}

/* Reopening with another core count folds each worker's cells into its
 * first cell: every worker's sum and slot counters are kept, the note says
 * so, the start time is kept and no temporary file is left. */
static void
test_gpx_scoreboard_file_reopen_folds(void **state)
{
    struct fixture *f = *state;
    static struct gpx_cell before[3], after;
    struct gpx_scoreboard board;
    char note[512], want[512];
    uint64_t created;
    unsigned w, c;

    open_file(&board, f->path, 2, 3, note, sizeof(note));
    for (w = 1; w <= 2; w++) {
        for (c = 0; c < 3; c++) {
            record_mix(gpx_scoreboard_cell(&board, w, c), w * 10 + c, 20 + w + c);
        }
        gpx_scoreboard_slot(&board, w)->restarts[1] = w;
        gpx_scoreboard_sum_worker(&board, w, &before[w]);
    }
    created = board.header->created_unix;
    assert_int_equal(gpx_error_names_find_or_add(gpx_scoreboard_error_names(&board), "KeyError", 8), 0);
    assert_int_equal(gpx_error_names_find_or_add(gpx_scoreboard_error_names(&board), "ValueError", 10), 1);
    /* A slot a dead worker left half-written. */
    gpx_scoreboard_error_names(&board)->slot[2].state = GPX_ERROR_NAME_WRITING;
    gpx_scoreboard_close(&board);

    /* Fewer cores: the class names come along, the half-written slot is freed. */
    open_file(&board, f->path, 2, 2, note, sizeof(note));
    snprintf(want, sizeof(want), "%s folded from 2 workers x 3 cores to 2 x 2 (counts kept)", f->path);
    assert_string_equal(note, want);
    assert_header(&board, 2, 2);
    assert_true(board.header->created_unix == created);
    assert_int_equal(file_size(f->path), expected_map_size(2, 2));
    assert_int_equal(access(f->tmp, F_OK), -1);
    assert_string_equal(gpx_error_names_get(gpx_scoreboard_error_names(&board), 0), "KeyError");
    assert_string_equal(gpx_error_names_get(gpx_scoreboard_error_names(&board), 1), "ValueError");
    assert_int_equal(gpx_scoreboard_error_names(&board)->slot[2].state, GPX_ERROR_NAME_FREE);
    for (w = 1; w <= 2; w++) {
        gpx_scoreboard_sum_worker(&board, w, &after);
        assert_cells_equal(&after, &before[w]);
        assert_true(failed_keys(&after) > 0);
        assert_cells_equal(gpx_scoreboard_cell(&board, w, 0), &before[w]);
        assert_true(cell_is_zero(gpx_scoreboard_cell(&board, w, 1)));
        assert_true(gpx_scoreboard_slot(&board, w)->restarts[1] == w);
    }
    gpx_scoreboard_close(&board);

    /* More cores and more workers at once. */
    open_file(&board, f->path, 3, 4, note, sizeof(note));
    snprintf(want, sizeof(want), "%s folded from 2 workers x 2 cores to 3 x 4 (counts kept)", f->path);
    assert_string_equal(note, want);
    assert_header(&board, 3, 4);
    for (w = 1; w <= 2; w++) {
        gpx_scoreboard_sum_worker(&board, w, &after);
        assert_cells_equal(&after, &before[w]);
    }
    for (c = 0; c < 4; c++) {
        assert_true(cell_is_zero(gpx_scoreboard_cell(&board, 3, c)));
    }
    gpx_scoreboard_close(&board);
    assert_int_equal(access(f->tmp, F_OK), -1);
}

/* Overwrites `len` bytes of the file at `offset`. */
static void
patch_file(const char *path, off_t offset, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY);

    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, data, len, offset), (ssize_t)len);
    close(fd);
}

/* Opening `path` fails with an err containing `want`: nothing is mapped,
 * no descriptor is left open, the file is not changed. */
static void
assert_refused(const char *path, const char *want)
{
    struct gpx_scoreboard board;
    char note[256] = "x", err[1024] = "";
    int fds = open_fds();
    off_t size = file_size(path);

    assert_int_equal(gpx_scoreboard_open_file(&board, path, 2, 2, NO_UID, NO_GID, note, sizeof(note), err, sizeof(err)),
                     -1);
    if (strstr(err, want) == NULL || strstr(err, path) == NULL) {
        print_error("err \"%s\" lacks \"%s\" or the path\n", err, want);
        fail();
    }
    assert_string_equal(note, "");
    assert_null(board.base);
    assert_null(board.header);
    assert_int_equal(board.fd, -1);
    assert_int_equal(open_fds(), fds);
    assert_false(is_mapped(path));
    assert_int_equal(file_size(path), size);
}

/* A file that does not start with the magic is refused. */
static void
test_gpx_scoreboard_file_refuses_bad_magic(void **state)
{
    struct fixture *f = *state;
    struct gpx_scoreboard board;
    char want[512];

    open_file(&board, f->path, 2, 2, NULL, 0);
    gpx_scoreboard_close(&board);
    patch_file(f->path, 0, "NOTBOARD", 8);
    snprintf(want, sizeof(want),
             "%s is not a gpx scoreboard (bad magic); move it away or set gpx-cleanup-db-files = true", f->path);
    assert_refused(f->path, want);
}

/* A file of another layout version, or other cell or slot sizes, is refused
 * with both versions named. */
static void
test_gpx_scoreboard_file_refuses_other_layout(void **state)
{
    struct fixture *f = *state;
    struct gpx_scoreboard board;
    uint32_t word;
    char want[512];

    open_file(&board, f->path, 2, 2, NULL, 0);
    gpx_scoreboard_close(&board);
    word = GPX_LAYOUT_VERSION + 1;
    patch_file(f->path, offsetof(struct gpx_board_header, layout_version), &word, sizeof(word));
    snprintf(want, sizeof(want),
             "%s was written by another gpx layout (version %u, %zu-byte cells; this gpx writes version %u, %zu-byte "
             "cells); move it away or set gpx-cleanup-db-files = true",
             f->path, GPX_LAYOUT_VERSION + 1, sizeof(struct gpx_cell), GPX_LAYOUT_VERSION, sizeof(struct gpx_cell));
    assert_refused(f->path, want);

    word = GPX_LAYOUT_VERSION;
    patch_file(f->path, offsetof(struct gpx_board_header, layout_version), &word, sizeof(word));
    word = (uint32_t)sizeof(struct gpx_cell) + 64;
    patch_file(f->path, offsetof(struct gpx_board_header, cell_size), &word, sizeof(word));
    assert_refused(f->path, "was written by another gpx layout");

    word = (uint32_t)sizeof(struct gpx_cell);
    patch_file(f->path, offsetof(struct gpx_board_header, cell_size), &word, sizeof(word));
    word = (uint32_t)sizeof(struct gpx_slot) * 2;
    patch_file(f->path, offsetof(struct gpx_board_header, slot_size), &word, sizeof(word));
    assert_refused(f->path, "was written by another gpx layout");
}

/* A file shorter than its header says, shorter than a header, empty, or
 * with a header that does not add up, is refused as damaged. */
static void
test_gpx_scoreboard_file_refuses_truncated(void **state)
{
    struct fixture *f = *state;
    struct gpx_scoreboard board;
    uint32_t word;
    char want[512];

    open_file(&board, f->path, 2, 2, NULL, 0);
    gpx_scoreboard_close(&board);
    assert_int_equal(truncate(f->path, (off_t)expected_map_size(2, 2) - 1), 0);
    snprintf(want, sizeof(want),
             "%s is damaged (2 workers x 2 cores need %zu bytes, the file has %zu); move it away or set "
             "gpx-cleanup-db-files = true",
             f->path, expected_map_size(2, 2), expected_map_size(2, 2) - 1);
    assert_refused(f->path, want);

    assert_int_equal(truncate(f->path, GPX_HEADER_SIZE), 0);
    assert_refused(f->path, "is damaged (2 workers x 2 cores need");

    assert_int_equal(truncate(f->path, 20), 0);
    snprintf(want, sizeof(want),
             "%s is damaged (shorter than a gpx header); move it away or set gpx-cleanup-db-files = true", f->path);
    assert_refused(f->path, want);

    assert_int_equal(truncate(f->path, 0), 0);
    assert_refused(f->path, "is damaged (shorter than a gpx header)");

    /* A header whose counts do not match its map size. */
    unlink(f->path);
    open_file(&board, f->path, 2, 2, NULL, 0);
    gpx_scoreboard_close(&board);
    word = 3;
    patch_file(f->path, offsetof(struct gpx_board_header, workers), &word, sizeof(word));
    assert_refused(f->path, "is damaged (3 workers x 2 cores need");
    word = 0;
    patch_file(f->path, offsetof(struct gpx_board_header, workers), &word, sizeof(word));
    assert_refused(f->path, "is damaged (0 workers x 2 cores need");
}

/* A path that cannot be opened or created is refused with the reason. */
static void
test_gpx_scoreboard_file_refuses_unusable_path(void **state)
{
    struct fixture *f = *state;
    struct gpx_scoreboard board;
    char path[256], err[512] = "";
    int fds = open_fds();

    assert_int_equal(gpx_scoreboard_open_file(&board, f->dir, 1, 1, NO_UID, NO_GID, NULL, 0, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot open"));
    assert_null(board.base);
    assert_int_equal(board.fd, -1);

    snprintf(path, sizeof(path), "%s/missing/gpx_x.scoreboard", f->dir);
    assert_int_equal(gpx_scoreboard_open_file(&board, path, 1, 1, NO_UID, NO_GID, NULL, 0, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot create"));
    assert_non_null(strstr(err, path));
    assert_null(board.base);

    assert_int_equal(gpx_scoreboard_open_file(&board, f->path, 0, 1, NO_UID, NO_GID, NULL, 0, err, sizeof(err)), -1);
    assert_string_equal(err, "a scoreboard needs at least one worker and one core");
    assert_int_equal(access(f->path, F_OK), -1);
    assert_int_equal(open_fds(), fds);
}

#define FILE_TEST(name) cmocka_unit_test_setup_teardown(name, setup_dir, teardown_dir)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpx_scoreboard_open_anonymous_layout),
        cmocka_unit_test(test_gpx_scoreboard_open_anonymous_refuses_zero),
        cmocka_unit_test(test_gpx_scoreboard_anonymous_shared_across_fork),
        cmocka_unit_test(test_gpx_cell_record_slots_and_sums),
        cmocka_unit_test(test_gpx_cell_record_errors_and_clamps),
        cmocka_unit_test(test_gpx_cell_count_status_per_key),
        cmocka_unit_test(test_gpx_cell_count_status_overflow),
        cmocka_unit_test(test_gpx_cell_record_touches_three_lines),
        cmocka_unit_test(test_gpx_cell_add_merges_exactly),
        cmocka_unit_test(test_gpx_cell_add_overflows_into_class),
        cmocka_unit_test(test_gpx_cell_add_reads_methods_with_keys),
        cmocka_unit_test(test_gpx_scoreboard_sum_worker_sums_cores),
        cmocka_unit_test(test_gpx_cell_requests_counts_all_methods),
        cmocka_unit_test(test_gpx_scoreboard_path_format),
        FILE_TEST(test_gpx_scoreboard_file_create),
        FILE_TEST(test_gpx_scoreboard_file_reopen_continues),
        FILE_TEST(test_gpx_scoreboard_sync),
        FILE_TEST(test_gpx_scoreboard_file_reopen_grows),
        FILE_TEST(test_gpx_scoreboard_file_reopen_folds),
        FILE_TEST(test_gpx_scoreboard_file_refuses_bad_magic),
        FILE_TEST(test_gpx_scoreboard_file_refuses_other_layout),
        FILE_TEST(test_gpx_scoreboard_file_refuses_truncated),
        FILE_TEST(test_gpx_scoreboard_file_refuses_unusable_path),
    };

    return cmocka_run_group_tests_name("gpx_scoreboard", tests, NULL, NULL);
}
