/* Unit tests of gpx_fleet's reading: instances' blobs checked, kept or
 * skipped and counted, and the view rendered with what each instance's
 * master saw beside the counters. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gpx_test_support.h"

#include "gpx_fleet.h"
#include "gpx_snapshot.h"

#define NOW 1700000000u

static char logged[8][512];
static unsigned logged_count;

static void
log_line(const char *line)
{
    if (logged_count < 8) {
        snprintf(logged[logged_count], sizeof(logged[0]), "%s", line);
    }
    logged_count++;
}

/* A blob of `workers` workers (one GET 200 each), taken at `taken`, with
 * the extension when `live` is not NULL. */
static void
blob_of(struct gpx_buf *out, unsigned workers, uint64_t taken, const struct gpx_snapshot_live *live,
        const struct gpx_snapshot_worker *parts)
{
    struct gpx_scoreboard b;
    char err[256];
    unsigned w;

    assert_int_equal(gpx_scoreboard_open_anonymous(&b, workers, 1, err, sizeof(err)), 0);
    for (w = 1; w <= workers; w++) {
        record_request(&b, w, 0, GPX_METHOD_GET, 200, 1000, 10, 20);
    }
    assert_int_equal(gpx_buf_init(out, 0), 0);
    assert_int_equal(gpx_snapshot_encode(out, &b, NULL, taken), 0);
    if (live != NULL) {
        assert_int_equal(gpx_snapshot_encode_live(out, live, parts, workers), 0);
    }
    gpx_scoreboard_close(&b);
}

static void
assert_no(const char *page, const char *text)
{
    if (strstr(page, text) != NULL) {
        print_error("\"%s\" is in the page\n", text);
        fail();
    }
}

/* Two instances with the extension ("a": 2 workers, one busy; "b": 1
 * worker), one of an older gpx without it ("old"), and three left out: one
 * taken too long ago, one cut short, one of another layout. */
static void
test_gpx_fleet_read_renders_and_skips(void **state)
{
    struct gpx_buf blob_a, blob_b, blob_old, blob_stale, out, counters;
    struct gpx_snapshot_live la, lb;
    struct gpx_snapshot_worker wa[2], wb[1];
    struct gpx_fleet_member members[3];
    struct gpx_fleet_read *read;
    const struct gpx_snapshot_header *h;
    char err[256], *other;
    unsigned round, i;

    (void)state;
    memset(&la, 0, sizeof(la));
    memset(wa, 0, sizeof(wa));
    la.in_progress = 1;
    la.workers_desired = 2;
    la.worker_count = 2;
    la.storage_up = 1;
    la.listener_count = 1;
    strcpy(la.listeners[0].name, "127.0.0.1:8000");
    la.listeners[0].queued = 3;
    la.listeners[0].limit = 100;
    la.storage_op_count = 2;
    strcpy(la.storage[0].label, "connect");
    la.storage[0].errors = 1;
    strcpy(la.storage[1].label, "publish");
    la.storage[1].errors = 2;
    wa[0].live = 1;
    wa[0].state = 0;
    wa[0].memory_bytes = 1048576;
    wa[0].cpu_percent = 12.5;
    wa[0].cpu_seconds = 1.25;
    wa[0].uptime_seconds = 60;
    wa[1].live = 1;
    wa[1].state = 1;
    wa[1].memory_bytes = 2097152;
    lb = la;
    lb.in_progress = 0;
    lb.workers_desired = 1;
    lb.worker_count = 1;
    strcpy(lb.listeners[0].name, "a\"b");
    lb.listeners[0].queued = 4;
    lb.listeners[0].limit = 50;
    lb.storage[1].errors = 5;
    lb.storage_up = 0;
    memset(wb, 0, sizeof(wb));
    wb[0].state = 4;
    blob_of(&blob_a, 2, NOW - 5, &la, wa);
    blob_of(&blob_b, 1, NOW, &lb, wb);
    blob_of(&blob_old, 1, NOW, NULL, NULL);
    blob_of(&blob_stale, 1, NOW - 61, &lb, wb);
    other = malloc(blob_b.len);
    assert_non_null(other);
    memcpy(other, blob_b.data, blob_b.len);
    other[offsetof(struct gpx_snapshot_header, layout_version)]++;

    logged_count = 0;
    for (round = 0; round < 2; round++) {
        read = gpx_fleet_read_new(NOW, 60, log_line);
        assert_non_null(read);
        gpx_fleet_read_add(read, "a", blob_a.data, blob_a.len);
        gpx_fleet_read_add(read, "b", blob_b.data, blob_b.len);
        gpx_fleet_read_add(read, "old", blob_old.data, blob_old.len);
        gpx_fleet_read_add(read, "stale", blob_stale.data, blob_stale.len);
        gpx_fleet_read_add(read, "cut", blob_b.data, blob_b.len - 1);
        gpx_fleet_read_add(read, "other", other, blob_b.len);
        assert_int_equal(gpx_buf_init(&out, 0), 0);
        assert_int_equal(gpx_fleet_read_render(read, &out, GPX_FORMAT_TEXT), 0);
        gpx_fleet_read_free(read);

        /* The counter families come first, exactly as gpx_render_fleet writes them. */
        assert_int_equal(gpx_buf_init(&counters, 0), 0);
        assert_int_equal(gpx_snapshot_check(blob_a.data, blob_a.len, &h, err, sizeof(err)), 0);
        members[0].instance = "a";
        members[0].snapshot = h;
        assert_int_equal(gpx_snapshot_check(blob_b.data, blob_b.len, &h, err, sizeof(err)), 0);
        members[1].instance = "b";
        members[1].snapshot = h;
        assert_int_equal(gpx_snapshot_check(blob_old.data, blob_old.len, &h, err, sizeof(err)), 0);
        members[2].instance = "old";
        members[2].snapshot = h;
        assert_int_equal(gpx_render_fleet(&counters, GPX_FORMAT_TEXT, members, 3), 0);
        assert_true(out.len > counters.len);
        assert_memory_equal(out.data, counters.data, counters.len);
        assert_line(out.data, "gunicorn_fleet_instances 3");

        assert_line(out.data, "gunicorn_worker_memory_bytes{gpx_instance=\"a\",worker_id=\"1\"} 1048576");
        assert_line(out.data, "gunicorn_worker_memory_bytes{gpx_instance=\"a\",worker_id=\"2\"} 2097152");
        assert_line(out.data, "gunicorn_worker_cpu_percent{gpx_instance=\"a\",worker_id=\"1\"} 12.5");
        assert_line(out.data, "gunicorn_worker_cpu_seconds_total{gpx_instance=\"a\",worker_id=\"1\"} 1.25");
        assert_line(out.data, "gunicorn_worker_uptime_seconds{gpx_instance=\"a\",worker_id=\"1\"} 60");
        assert_no(out.data, "gunicorn_worker_memory_bytes{gpx_instance=\"b\""); /* b's worker is not live */
        assert_line(out.data, "gunicorn_worker_state{gpx_instance=\"a\",worker_id=\"2\",state=\"busy\"} 1");
        assert_line(out.data, "gunicorn_worker_state{gpx_instance=\"a\",worker_id=\"2\",state=\"idle\"} 0");
        assert_line(out.data, "gunicorn_worker_state{gpx_instance=\"b\",worker_id=\"1\",state=\"stopping\"} 1");
        assert_line(out.data, "gunicorn_workers_desired{gpx_instance=\"a\"} 2");
        assert_line(out.data, "gunicorn_workers_desired 3");
        assert_line(out.data, "gunicorn_workers{gpx_instance=\"a\",state=\"idle\"} 1");
        assert_line(out.data, "gunicorn_workers{state=\"idle\"} 1");
        assert_line(out.data, "gunicorn_workers{state=\"busy\"} 1");
        assert_line(out.data, "gunicorn_workers{state=\"stopping\"} 1");
        assert_line(out.data, "gunicorn_listen_backlog{gpx_instance=\"a\",listener=\"127.0.0.1:8000\"} 3");
        assert_line(out.data, "gunicorn_listen_backlog{gpx_instance=\"b\",listener=\"a\\\"b\"} 4");
        assert_line(out.data, "gunicorn_listen_backlog 7");
        assert_line(out.data, "gunicorn_listen_backlog_limit{gpx_instance=\"b\",listener=\"a\\\"b\"} 50");
        assert_no(out.data, "\ngunicorn_listen_backlog_limit ");
        assert_line(out.data, "gunicorn_requests_in_progress{gpx_instance=\"a\"} 1");
        assert_line(out.data, "gunicorn_requests_in_progress{gpx_instance=\"b\"} 0");
        assert_line(out.data, "gunicorn_requests_in_progress 1");
        assert_line(out.data, "gunicorn_exporter_storage_up{gpx_instance=\"a\"} 1");
        assert_line(out.data, "gunicorn_exporter_storage_up{gpx_instance=\"b\"} 0");
        assert_line(out.data, "gunicorn_exporter_storage_errors_total{gpx_instance=\"b\",operation=\"publish\"} 5");
        assert_line(out.data, "gunicorn_exporter_storage_errors_total{operation=\"connect\"} 2");
        assert_line(out.data, "gunicorn_exporter_storage_errors_total{operation=\"publish\"} 7");
        /* An older gpx's instance: its counters, none of the rest. */
        assert_no(out.data, "gunicorn_worker_state{gpx_instance=\"old\"");
        assert_no(out.data, "gunicorn_requests_in_progress{gpx_instance=\"old\"");
        assert_line(out.data, "gunicorn_exporter_fleet_snapshots_skipped{reason=\"stale\"} 1");
        assert_line(out.data, "gunicorn_exporter_fleet_snapshots_skipped{reason=\"malformed\"} 1");
        assert_line(out.data, "gunicorn_exporter_fleet_snapshots_skipped{reason=\"layout\"} 1");
        for (i = 0; i < 3; i++) {
            assert_no(out.data, i == 0 ? "\"stale\"," : i == 1 ? "\"cut\"" : "\"other\"");
        }
        gpx_buf_free(&counters);
        gpx_buf_free(&out);
    }
    /* Each skipped instance logged once, over both reads. */
    assert_int_equal(logged_count, 3);
    assert_non_null(strstr(logged[0], "instance stale is skipped (logged once): taken 61 s ago, more than 60 s"));
    assert_non_null(
        strstr(logged[1], "instance cut is skipped (logged once): a damaged snapshot extension (version 1, 1 workers"));
    assert_non_null(strstr(logged[2], "instance other is skipped (logged once): a snapshot of another gpx layout"));

    /* No maximum age: the old snapshot is read. */
    read = gpx_fleet_read_new(NOW + 100000, 0, log_line);
    gpx_fleet_read_add(read, "stale", blob_stale.data, blob_stale.len);
    assert_int_equal(gpx_buf_init(&out, 0), 0);
    assert_int_equal(gpx_fleet_read_render(read, &out, GPX_FORMAT_OPENMETRICS), 0);
    assert_line(out.data, "gunicorn_fleet_instances 1");
    assert_line(out.data, "# TYPE gunicorn_exporter_storage_errors counter");
    assert_line(out.data, "gunicorn_exporter_fleet_snapshots_skipped{reason=\"stale\"} 0");
    gpx_fleet_read_free(read);
    gpx_buf_free(&out);

    free(other);
    gpx_buf_free(&blob_a);
    gpx_buf_free(&blob_b);
    gpx_buf_free(&blob_old);
    gpx_buf_free(&blob_stale);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpx_fleet_read_renders_and_skips),
    };

    return cmocka_run_group_tests_name("gpx_fleet", tests, NULL, NULL);
}
