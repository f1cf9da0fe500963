/* gpx 0.1's counters (layout 3: cells without native histograms) read into
 * this layout: a board file through gpx_boardfile_open, a Redis snapshot
 * through gpx_layout_snapshot_upgrade. Every count is kept; the native
 * histograms start from the classic buckets' bounds. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gpx_boardfile.h"
#include "gpx_layout.h"
#include "gpx_snapshot.h"

#define WORKERS 2u
#define CORES 2u

/* A layout-3 cell as gpx 0.1 wrote it: this layout's bytes up to native. */
static void
fill_v3_cell(unsigned char *cell, unsigned seed)
{
    struct gpx_cell *c = calloc(1, sizeof(*c));

    assert_non_null(c);
    c->methods = 1u << GPX_METHOD_GET | 1u << GPX_METHOD_POST;
    c->duration[GPX_METHOD_GET].slot[0] = 10 + seed;
    c->duration[GPX_METHOD_GET].slot[3] = 2;
    c->duration[GPX_METHOD_GET].slot[GPX_DURATION_SLOTS - 1] = 1; /* above 60 s */
    c->duration[GPX_METHOD_GET].sum_us = 123456 + seed;
    c->duration[GPX_METHOD_POST].slot[5] = 7;
    c->status[0].key = gpx_status_key(GPX_METHOD_GET, 200);
    c->status[0].count = 13 + seed;
    memcpy(cell, c, GPX_CELL_V3_SIZE);
    free(c);
}

/* A whole layout-3 board image of WORKERS x CORES. */
static unsigned char *
v3_image(size_t *len)
{
    size_t block = sizeof(struct gpx_slot) + CORES * GPX_CELL_V3_SIZE;
    unsigned char *image;
    struct gpx_board_header h;
    unsigned w, c;

    *len = GPX_HEADER_SIZE + WORKERS * block;
    image = calloc(1, *len);
    assert_non_null(image);
    memset(&h, 0, sizeof(h));
    memcpy(h.magic, GPX_BOARD_MAGIC, sizeof(h.magic));
    h.layout_version = 3;
    h.header_size = GPX_HEADER_SIZE;
    h.slot_size = sizeof(struct gpx_slot);
    h.cell_size = (uint32_t)GPX_CELL_V3_SIZE;
    h.workers = WORKERS;
    h.cores = CORES;
    h.map_size = *len;
    h.created_unix = 1700000000;
    memcpy(image, &h, sizeof(h));
    for (w = 0; w < WORKERS; w++) {
        unsigned char *b = image + GPX_HEADER_SIZE + w * block;

        ((struct gpx_slot *)(void *)b)->restarts[2] = 5 + w;
        for (c = 0; c < CORES; c++) {
            fill_v3_cell(b + sizeof(struct gpx_slot) + c * GPX_CELL_V3_SIZE, w * CORES + c);
        }
    }
    return image;
}

/* A cell's classic counts as gpx 0.1 counted them, and native histograms
 * that hold the same requests at the classic bounds. */
static void
assert_upgraded_cell(const struct gpx_cell *c, unsigned seed)
{
    uint64_t native = 0;
    unsigned s;

    assert_true(c->duration[GPX_METHOD_GET].slot[0] == 10 + seed);
    assert_true(c->duration[GPX_METHOD_GET].sum_us == 123456 + seed);
    assert_true(c->status[0].count == 13 + seed);
    assert_true(c->native[GPX_METHOD_GET][gpx_native_slot(gpx_duration_bounds_us[0])] == 10 + seed);
    assert_true(c->native[GPX_METHOD_GET][gpx_native_slot(gpx_duration_bounds_us[3])] == 2);
    assert_true(c->native[GPX_METHOD_POST][gpx_native_slot(gpx_duration_bounds_us[5])] == 7);
    for (s = 0; s < GPX_NATIVE_SLOTS; s++) {
        native += c->native[GPX_METHOD_GET][s];
    }
    assert_true(native == 10 + seed + 2 + 1);
}

static void
test_layout_board_upgrade(void **state)
{
    size_t len, out_len;
    unsigned char *image = v3_image(&len), *out;
    struct gpx_scoreboard board;
    unsigned w, c;

    (void)state;
    assert_true(gpx_layout_board_is_v3((const struct gpx_board_header *)(void *)image));
    assert_null(gpx_layout_board_upgrade(image, len - 1, &out_len));
    out = gpx_layout_board_upgrade(image, len, &out_len);
    assert_non_null(out);
    assert_int_equal(out_len, gpx_scoreboard_map_size(WORKERS, CORES));
    gpx_scoreboard_attach(&board, out, out_len);
    assert_int_equal(board.header->layout_version, GPX_LAYOUT_VERSION);
    assert_true(board.header->created_unix == 1700000000);
    for (w = 1; w <= WORKERS; w++) {
        assert_true(gpx_scoreboard_slot(&board, w)->restarts[2] == 5 + (w - 1));
        for (c = 0; c < CORES; c++) {
            assert_upgraded_cell(gpx_scoreboard_cell(&board, w, c), (w - 1) * CORES + c);
        }
    }
    free(out);
    free(image);
}

/* gpx_boardfile_open on gpx 0.1's file: continued, counts kept, the file
 * written again in this layout. */
static void
test_layout_board_file(void **state)
{
    char dir[] = "/tmp/gpx-layout-XXXXXX", path[256];
    size_t len;
    unsigned char *image = v3_image(&len);
    struct gpx_boardfile file;
    struct gpx_scoreboard board;
    struct gpx_boardfile_options o;
    enum gpx_boardfile_start start;
    struct gpx_board_header h;
    char err[512];
    FILE *f;
    unsigned w, c;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/gpx_test.scoreboard", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(image, 1, len, f), len);
    fclose(f);
    memset(&o, 0, sizeof(o));
    o.path = path;
    o.workers = WORKERS;
    o.cores = CORES;
    o.uid = (uid_t)-1;
    o.gid = (gid_t)-1;
    o.retry_seconds = 1;
    assert_int_equal(gpx_boardfile_open(&file, &board, &o, &start, err, sizeof(err)), 0);
    assert_int_equal(start, GPX_BOARDFILE_CONTINUED);
    for (w = 1; w <= WORKERS; w++) {
        for (c = 0; c < CORES; c++) {
            assert_upgraded_cell(gpx_scoreboard_cell(&board, w, c), (w - 1) * CORES + c);
        }
    }
    f = fopen(path, "r");
    assert_non_null(f);
    assert_int_equal(fread(&h, 1, sizeof(h), f), sizeof(h));
    fclose(f);
    assert_int_equal(h.layout_version, GPX_LAYOUT_VERSION);
    assert_int_equal(h.cell_size, sizeof(struct gpx_cell));
    gpx_boardfile_close(&file);
    gpx_scoreboard_close(&board);
    unlink(path);
    rmdir(dir);
    free(image);
}

/* A Redis snapshot of gpx 0.1 (its extension after the counters) is read
 * as one of this layout that gpx_snapshot_check accepts. */
static void
test_layout_snapshot_upgrade(void **state)
{
    static const char extension[] = "GPXSNAPX and what follows it";
    size_t entry = sizeof(struct gpx_slot) + GPX_CELL_V3_SIZE;
    size_t len = sizeof(struct gpx_snapshot_header) + sizeof(struct gpx_error_names) + WORKERS * entry;
    unsigned char *blob = calloc(1, len + sizeof(extension));
    struct gpx_snapshot_header h;
    const struct gpx_snapshot_header *checked;
    struct gpx_buf out;
    struct gpx_cell *cell;
    char err[256];
    unsigned w;

    (void)state;
    assert_non_null(blob);
    memset(&h, 0, sizeof(h));
    memcpy(h.magic, GPX_SNAPSHOT_MAGIC, sizeof(h.magic));
    h.layout_version = 3;
    h.slot_size = sizeof(struct gpx_slot);
    h.cell_size = (uint32_t)GPX_CELL_V3_SIZE;
    h.workers = WORKERS;
    memcpy(blob, &h, sizeof(h));
    for (w = 0; w < WORKERS; w++) {
        fill_v3_cell(blob + sizeof(h) + sizeof(struct gpx_error_names) + w * entry + sizeof(struct gpx_slot), w);
    }
    assert_int_equal(gpx_snapshot_check(blob, len, &checked, err, sizeof(err)), -2);
    memcpy(blob + len, extension, sizeof(extension));
    assert_int_equal(gpx_buf_init(&out, 0), 0);
    assert_int_equal(gpx_layout_snapshot_upgrade(blob, len - 1, &out), -1);
    gpx_buf_reset(&out);
    assert_int_equal(gpx_layout_snapshot_upgrade(blob, len, &out), 0);
    assert_int_equal(gpx_snapshot_check(out.data, out.len, &checked, err, sizeof(err)), 0);
    cell = aligned_alloc(64, sizeof(*cell));
    assert_non_null(cell);
    for (w = 1; w <= WORKERS; w++) {
        gpx_snapshot_read_cell(checked, w, cell);
        assert_upgraded_cell(cell, w - 1);
    }
    /* The extension goes along as it is. */
    gpx_buf_reset(&out);
    assert_int_equal(gpx_layout_snapshot_upgrade(blob, len + sizeof(extension), &out), 0);
    assert_memory_equal(out.data + out.len - sizeof(extension), extension, sizeof(extension));
    free(cell);
    gpx_buf_free(&out);
    free(blob);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_board_upgrade),
        cmocka_unit_test(test_layout_board_file),
        cmocka_unit_test(test_layout_snapshot_upgrade),
    };

    return cmocka_run_group_tests_name("gpx_layout", tests, NULL, NULL);
}
