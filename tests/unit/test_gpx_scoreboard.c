/* Unit tests of gpx_scoreboard: the anonymous board, recording, summing. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "gpx_test_support.h"

#include "gpx_scoreboard.h"

#define NO_UID ((uid_t)-1)
#define NO_GID ((gid_t)-1)

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
    assert_board_header(&board, 3, 2);
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
            record_cell(gpx_scoreboard_cell(&board, 2, 0), GPX_METHOD_GET, 200, 1000);
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
    r = test_request(GPX_METHOD_GET, 200, 5000, 1024, 1025);
    gpx_cell_record(&cell, &r);
    r = test_request(GPX_METHOD_GET, 200, 5001, 0, 4194304);
    gpx_cell_record(&cell, &r);
    r = test_request(GPX_METHOD_POST, 201, 60000001, 4194305, 0);
    gpx_cell_record(&cell, &r);
    r = test_request(GPX_METHOD_POST, 201, 0, 65536, 65537);
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

/* Both sizes of a request land in the slots of their own searches, whether
 * the one compare of the pair places them (both within the first bound) or
 * not: pairs around the first bound, whose OR may exceed it. */
static void
test_gpx_cell_count_size_pairs(void **state)
{
    static struct gpx_cell cell;
    static const uint64_t sizes[] = {0, 1, 512, 1023, 1024, 1025, 2048, 4096, 4097, 4194304, 4194305};
    const size_t n = sizeof(sizes) / sizeof(sizes[0]);
    size_t a, b;

    (void)state;
    for (a = 0; a < n; a++) {
        for (b = 0; b < n; b++) {
            unsigned rq = gpx_bucket_slot(gpx_size_bounds, GPX_SIZE_BOUNDS, sizes[a]);
            unsigned rs = gpx_bucket_slot(gpx_size_bounds, GPX_SIZE_BOUNDS, sizes[b]);

            memset(&cell, 0, sizeof(cell));
            gpx_cell_count(&cell, GPX_METHOD_GET, 200, 10, sizes[a], sizes[b]);
            assert_true(cell.sizes.slot[rq].request == 1);
            assert_true(cell.sizes.slot[rs].response == 1);
            assert_true(cell.sizes.request_sum == sizes[a]);
            assert_true(cell.sizes.response_sum == sizes[b]);
        }
    }
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
    r = test_request(GPX_METHOD_PUT, 500, 10, 0, 0);
    r.app_id = 2;
    r.raised = 1;
    r.read_errors = 3;
    r.write_errors = 4;
    gpx_cell_record(&cell, &r);
    r = test_request(999, 404, 10, 0, 0);
    r.app_id = 1000;
    r.raised = 1;
    r.write_errors = 1;
    gpx_cell_record(&cell, &r);
    r = test_request(GPX_METHOD_PUT, 200, 10, 0, 0);
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
 * four cache lines of its cell (its status, its classic duration line, its
 * native histogram's line, the first size line), and a repeat of it the
 * same four: with many busy processes on a CPU, every line the hook
 * touches is a likely miss. Marking a new method and key adds the mask's
 * line once. */
static void
test_gpx_cell_record_touches_four_lines(void **state)
{
    static struct gpx_cell cell;
    struct gpx_request r = test_request(GPX_METHOD_GET, 200, 800, 0, 12);

    (void)state;
    assert_int_equal(sizeof(cell) % 64, 0);
    memset(&cell, 0, sizeof(cell));
    gpx_cell_record(&cell, &r);
    assert_int_equal(lines_written(&cell), 5);
    cell.methods = 0; /* written once per method */
    assert_int_equal(lines_written(&cell), 4);
    r = test_request(GPX_METHOD_POST, 201, 4000, 900, 1000);
    memset(&cell, 0, sizeof(cell));
    gpx_cell_record(&cell, &r);
    cell.methods = 0;
    assert_int_equal(lines_written(&cell), 4);
}

/* Each request lands in the native bucket of its duration, 0 us in the zero
 * bucket: the native histogram's count is the classic one. */
static void
test_gpx_cell_record_native(void **state)
{
    static struct gpx_cell cell;
    static const uint64_t durations[] = {0, 1, 999, 1000000, 1000001, 250000, 7000000000ull, 90000000000ull};
    uint64_t total = 0;
    unsigned i, s;

    (void)state;
    memset(&cell, 0, sizeof(cell));
    for (i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
        struct gpx_request r = test_request(GPX_METHOD_PUT, 200, durations[i], 0, 0);

        gpx_cell_record(&cell, &r);
        assert_true(cell.native[GPX_METHOD_PUT][gpx_native_slot(durations[i])] >= 1);
    }
    assert_true(cell.native[GPX_METHOD_PUT][0] == 1);
    /* 1 s is 2^0: the upper bound of bucket 0, slot 160. */
    assert_int_equal(gpx_native_slot(1000000), 160);
    assert_int_equal(gpx_native_slot(1000001), 161);
    assert_int_equal(gpx_native_slot(250000), 160 - 16);
    assert_int_equal(gpx_native_slot(90000000000ull), GPX_NATIVE_SLOTS - 1);
    for (s = 0; s < GPX_NATIVE_SLOTS; s++) {
        total += cell.native[GPX_METHOD_PUT][s];
    }
    assert_true(total == gpx_cell_requests(&cell));
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
        record_cell(&cell, m, 200, m * 1000000u);
    }
    record_cell(&cell, GPX_METHOD_GET, 200, 100000000u);
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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpx_scoreboard_open_anonymous_layout),
        cmocka_unit_test(test_gpx_scoreboard_open_anonymous_refuses_zero),
        cmocka_unit_test(test_gpx_scoreboard_anonymous_shared_across_fork),
        cmocka_unit_test(test_gpx_cell_record_slots_and_sums),
        cmocka_unit_test(test_gpx_cell_count_size_pairs),
        cmocka_unit_test(test_gpx_cell_record_errors_and_clamps),
        cmocka_unit_test(test_gpx_cell_count_status_per_key),
        cmocka_unit_test(test_gpx_cell_count_status_overflow),
        cmocka_unit_test(test_gpx_cell_record_touches_four_lines),
        cmocka_unit_test(test_gpx_cell_record_native),
        cmocka_unit_test(test_gpx_cell_add_merges_exactly),
        cmocka_unit_test(test_gpx_cell_add_overflows_into_class),
        cmocka_unit_test(test_gpx_cell_add_reads_methods_with_keys),
        cmocka_unit_test(test_gpx_scoreboard_sum_worker_sums_cores),
        cmocka_unit_test(test_gpx_cell_requests_counts_all_methods),
        cmocka_unit_test(test_gpx_scoreboard_path_format),
    };

    return cmocka_run_group_tests_name("gpx_scoreboard", tests, NULL, NULL);
}
