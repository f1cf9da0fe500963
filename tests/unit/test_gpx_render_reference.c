/* The exposition writer against its reference pages, the files of golden/
 * (.prom text, .om OpenMetrics): byte for byte, from fixed boards that reach every family
 * and every branch of the number formatting, in both formats, for the
 * server's page and the fleet view. The pages were first written by the
 * snprintf writer that the faster one replaced, and matched it.
 *
 * A change to what the page says changes these files on purpose: run
 * `make -C tests/unit golden` (GPX_UPDATE_GOLDEN=1 in the environment of
 * this test), which writes the pages anew, and review the diff. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gpx_test_support.h"

#include "gpx_exposition.h"
#include "gpx_restart.h"
#include "gpx_snapshot.h"

#ifndef GPX_GOLDEN_DIR
#define GPX_GOLDEN_DIR "golden"
#endif

static const char *
endpoint_name(void *ctx, unsigned worker, unsigned app_id)
{
    (void)ctx;
    if (app_id == 1) {
        return "/a\\b\"c\nd";
    }
    if (app_id == 2) {
        return worker % 2 ? "/api" : "";
    }
    return NULL;
}

/* The page in `page` against the file golden/<name>.<prom|om>, or, with
 * GPX_UPDATE_GOLDEN=1, written into it. */
static void
assert_golden(const struct gpx_buf *page, const char *name, enum gpx_format fmt)
{
    const char *update = getenv("GPX_UPDATE_GOLDEN");
    char path[512];
    struct gpx_buf want;
    FILE *f;
    size_t n, i = 0;
    char chunk[4096];

    snprintf(path, sizeof(path), "%s/%s.%s", GPX_GOLDEN_DIR, name, fmt == GPX_FORMAT_TEXT ? "prom" : "om");
    if (update != NULL && strcmp(update, "1") == 0) {
        f = fopen(path, "wb");
        if (f == NULL || fwrite(page->data, 1, page->len, f) != page->len || fclose(f) != 0) {
            print_error("cannot write %s: %s\n", path, strerror(errno));
            fail();
        }
        return;
    }
    f = fopen(path, "rb");
    if (f == NULL) {
        print_error("cannot read %s: %s (make -C tests/unit golden writes it)\n", path, strerror(errno));
        fail();
    }
    assert_int_equal(gpx_buf_init(&want, 0), 0);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        gpx_buf_append(&want, chunk, n);
    }
    fclose(f);
    assert_false(want.failed);
    if (page->len != want.len || memcmp(page->data, want.data, want.len) != 0) {
        while (i < page->len && i < want.len && page->data[i] == want.data[i]) {
            i++;
        }
        print_error("page differs from %s at byte %zu of %zu/%zu:\n--- golden\n%.200s\n--- rendered\n%.200s\n", path, i,
                    want.len, page->len, want.data + (i > 80 ? i - 80 : 0), page->data + (i > 80 ? i - 80 : 0));
        fail();
    }
    gpx_buf_free(&want);
}

/* The server's page of x against golden/<name>. */
static void
assert_page(const struct gpx_exposition *x, const char *name)
{
    struct gpx_buf page;

    assert_int_equal(gpx_buf_init(&page, 0), 0);
    assert_int_equal(gpx_render(&page, x), 0);
    assert_golden(&page, name, x->format);
    gpx_buf_free(&page);
}

/* Gauge values over every branch of the double formatting: integers small
 * and large, fractions, signs, zero of both signs, and what is not finite. */
static const double gauge_values[] = {
    0.0,  -0.0,        1.0,   1048576.0, 12.5,    0.1,     1e-7, -5.0,     -3.25,     1e15, 1e15 - 1,          1e15 + 1,
    1e16, 123456789.5, 1e300, -1e300,    1.0 / 3, 2.0 / 3, 1e21, INFINITY, -INFINITY, NAN,  9007199254740993.0};
#define GAUGE_VALUES (sizeof(gauge_values) / sizeof(gauge_values[0]))

/* A server of 5 worker blocks x 3 cores, 4 configured (block 5 retired with
 * counts), a restored base of 6 blocks with its own class names, every
 * method and status class (more statuses than a cell keeps), failures with
 * and without classes, read and write errors, restarts, listeners and
 * storage errors. */
static void
test_render_matches_golden(void **state)
{
    struct gpx_scoreboard board, base, empty;
    struct gpx_worker_view views[GAUGE_VALUES];
    struct gpx_listener_view listeners[2] = {{"127.0.0.1:8000", 3, 128}, {"/tmp/a\"b", 0, 1024}};
    static const uint64_t errors[2] = {0, 7};
    static const char *const error_labels[2] = {"read", "write"};
    struct gpx_exposition x;
    char err[256];
    unsigned w, c, r, f;

    (void)state;
    assert_int_equal(gpx_scoreboard_open_anonymous(&board, 5, 3, err, sizeof(err)), 0);
    assert_int_equal(gpx_scoreboard_open_anonymous(&base, 6, 1, err, sizeof(err)), 0);
    assert_int_equal(gpx_scoreboard_open_anonymous(&empty, 2, 1, err, sizeof(err)), 0);
    assert_true(gpx_error_names_find_or_add(gpx_scoreboard_error_names(&board), "ValueError", 10) >= 0);
    assert_true(gpx_error_names_find_or_add(gpx_scoreboard_error_names(&board), "KeyError", 8) >= 0);
    assert_true(gpx_error_names_find_or_add(gpx_scoreboard_error_names(&base), "KeyError", 8) >= 0);
    assert_true(gpx_error_names_find_or_add(gpx_scoreboard_error_names(&base), "Oops\"\\\n", 7) >= 0);
    for (w = 1; w <= 5; w++) {
        for (c = 0; c < 3; c++) {
            record_mix(gpx_scoreboard_cell(&board, w, c), w * 3 + c, 40 + w * 17 + c * 5);
        }
        for (r = 0; r < GPX_RESTART_REASONS; r++) {
            GPX_BUMP(gpx_scoreboard_slot(&board, w)->restarts[r], (w * 5 + r) % 4);
        }
    }
    for (w = 1; w <= 6; w++) {
        record_mix(gpx_scoreboard_cell(&base, w, 0), 100 + w, w == 3 ? 0 : 30);
        GPX_BUMP(gpx_scoreboard_slot(&base, w)->restarts[GPX_RESTART_CRASH], w);
    }
    memset(views, 0, sizeof(views));
    for (w = 0; w < GAUGE_VALUES; w++) {
        views[w].live = w != 2;
        views[w].state = (enum gpx_worker_state)(w % (GPX_STATE_COUNT + 1));
        views[w].memory_bytes = gauge_values[w];
        views[w].cpu_percent = gauge_values[(w + 1) % GAUGE_VALUES];
        views[w].uptime_seconds = gauge_values[(w + 2) % GAUGE_VALUES];
        views[w].cpu_seconds = gauge_values[(w + 3) % GAUGE_VALUES];
    }
    memset(&x, 0, sizeof(x));
    x.board = &board;
    x.workers = views;
    x.worker_count = 4;
    x.in_progress = 3;
    x.endpoint = endpoint_name;
    x.master_start_time = 1700000000.25;
    x.last_scrape_seconds = 0.0035;
    x.version = "1.2.3";
    x.uwsgi_version = "2.0.\"21\"";
    x.storage = "files";
    x.storage_up = 1;
    x.base = &base;
    x.workers_desired = 4;
    x.listeners = listeners;
    x.listener_count = 2;
    x.have_listen_overflows = 1;
    x.listen_overflows = 12345678901234ull;
    x.storage_errors = errors;
    x.storage_error_labels = error_labels;
    x.storage_error_count = 2;
    x.endpoint_reload_errors = 3;
    for (f = 0; f < 2; f++) {
        x.format = f == 0 ? GPX_FORMAT_TEXT : GPX_FORMAT_OPENMETRICS;
        x.board = &board;
        x.base = &base;
        x.worker_count = 4;
        assert_page(&x, "page-full");
        /* More configured slots than blocks, every gauge value shown. */
        x.worker_count = GAUGE_VALUES;
        x.base = NULL;
        assert_page(&x, "page-every-gauge");
        /* A board that counted nothing, no endpoint names, nothing optional. */
        x.board = &empty;
        x.worker_count = 2;
        x.endpoint = NULL;
        x.listener_count = 0;
        x.have_listen_overflows = 0;
        x.storage_error_count = 0;
        x.version = NULL;
        assert_page(&x, "page-empty");
        x.endpoint = endpoint_name;
        x.listener_count = 2;
        x.have_listen_overflows = 1;
        x.storage_error_count = 2;
        x.version = "1.2.3";
    }
    gpx_scoreboard_close(&board);
    gpx_scoreboard_close(&base);
    gpx_scoreboard_close(&empty);
}

/* The fleet view of three instances (one with a base, one with a name to
 * escape), and of none. */
static void
test_render_fleet_matches_golden(void **state)
{
    struct gpx_scoreboard a, b, base;
    struct gpx_buf blobs[3], page;
    struct gpx_fleet_member members[3];
    const struct gpx_snapshot_header *h;
    char err[256];
    unsigned i, w, f, count;

    (void)state;
    assert_int_equal(gpx_scoreboard_open_anonymous(&a, 3, 2, err, sizeof(err)), 0);
    assert_int_equal(gpx_scoreboard_open_anonymous(&b, 2, 1, err, sizeof(err)), 0);
    assert_int_equal(gpx_scoreboard_open_anonymous(&base, 4, 1, err, sizeof(err)), 0);
    for (w = 1; w <= 3; w++) {
        record_mix(gpx_scoreboard_cell(&a, w, 0), w, 50);
        record_mix(gpx_scoreboard_cell(&a, w, 1), w + 10, 20);
        GPX_BUMP(gpx_scoreboard_slot(&a, w)->restarts[GPX_RESTART_MEMORY], w);
    }
    record_mix(gpx_scoreboard_cell(&b, 1, 0), 77, 90);
    record_mix(gpx_scoreboard_cell(&base, 4, 0), 78, 15);
    GPX_BUMP(gpx_scoreboard_slot(&base, 4)->restarts[GPX_RESTART_TIMEOUT], 2);
    for (i = 0; i < 3; i++) {
        assert_int_equal(gpx_buf_init(&blobs[i], 0), 0);
    }
    assert_int_equal(gpx_snapshot_encode(&blobs[0], &a, NULL, 1700000000), 0);
    assert_int_equal(gpx_snapshot_encode(&blobs[1], &b, &base, 1700000000), 0);
    assert_int_equal(gpx_snapshot_encode(&blobs[2], &b, NULL, 1700000000), 0);
    for (i = 0; i < 3; i++) {
        assert_int_equal(gpx_snapshot_check(blobs[i].data, blobs[i].len, &h, err, sizeof(err)), 0);
        members[i].snapshot = h;
    }
    members[0].instance = "web-1";
    members[1].instance = "we\"b\\2\n";
    members[2].instance = "";
    for (f = 0; f < 2; f++) {
        for (count = 0; count <= 3; count++) {
            enum gpx_format fmt = f == 0 ? GPX_FORMAT_TEXT : GPX_FORMAT_OPENMETRICS;

            char name[32];

            snprintf(name, sizeof(name), "fleet-%u", count);
            assert_int_equal(gpx_buf_init(&page, 0), 0);
            assert_int_equal(gpx_render_fleet(&page, fmt, members, count), 0);
            assert_golden(&page, name, fmt);
            gpx_buf_free(&page);
        }
    }
    for (i = 0; i < 3; i++) {
        gpx_buf_free(&blobs[i]);
    }
    gpx_scoreboard_close(&a);
    gpx_scoreboard_close(&b);
    gpx_scoreboard_close(&base);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_matches_golden),
        cmocka_unit_test(test_render_fleet_matches_golden),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
