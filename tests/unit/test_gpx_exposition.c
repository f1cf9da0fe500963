/* Unit tests of gpx_exposition: the exact text rendered from a known board. */
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

#include "gpx_apprender.h"
#include "gpx_exemplar.h"
#include "gpx_exposition.h"
#include "gpx_fleet.h"
#include "gpx_restart.h"

/* A page's families (see page_families), none twice. Returns their number. */
static unsigned
check_families(const char *text)
{
    static char names[64][96];
    unsigned families = page_families(text, names, 64), i, k;

    for (i = 0; i < families; i++) {
        for (k = 0; k < i; k++) {
            if (strcmp(names[i], names[k]) == 0) {
                print_error("family %s described twice\n", names[i]);
                fail();
            }
        }
    }
    return families;
}

/* The value of every line that starts with `prefix`, summed. */
static unsigned long long
sum_values(const char *text, const char *prefix)
{
    size_t len = strlen(prefix);
    unsigned long long total = 0;
    const char *p = text;

    while (*p != '\0') {
        const char *end = strchr(p, '\n');

        if (strncmp(p, prefix, len) == 0) {
            const char *space = p;
            const char *q;

            for (q = p; q < end; q++) {
                if (*q == ' ') {
                    space = q;
                }
            }
            total += strtoull(space + 1, NULL, 10);
        }
        p = end + 1;
    }
    return total;
}

/* The endpoint callback's record of what it was asked. */
struct endpoint_calls {
    unsigned calls;
    unsigned last_worker;
    unsigned last_app;
};

static const char *
endpoint_name(void *ctx, unsigned worker, unsigned app_id)
{
    struct endpoint_calls *calls = ctx;

    calls->calls++;
    calls->last_worker = worker;
    calls->last_app = app_id;
    return app_id == 1 ? "/a\\b\"c\nd" : NULL;
}

/* The board of the main tests: 3 worker blocks x 2 cores, 2 configured
 * workers (slot 3 retired), four requests:
 *   worker 1 core 0: GET 200,  1500 us, request 100,   response 2000
 *   worker 1 core 1: GET 200,  7000 us, request 0,     response 5000
 *   worker 2 core 0: GET 200,  2.0 s,   request 2048,  response 10
 *   worker 2 core 1: POST 404, 5000 us, request 70000, response 0,
 *                    app 1 raised, 2 read errors */
struct scene {
    struct gpx_scoreboard board;
    struct gpx_worker_view views[2];
    struct gpx_exposition x;
    struct endpoint_calls calls;
    struct gpx_buf out;
};

static int
setup_scene(void **state)
{
    static struct scene s;
    struct gpx_request r;
    char err[256];

    memset(&s, 0, sizeof(s));
    if (gpx_scoreboard_open_anonymous(&s.board, 3, 2, err, sizeof(err)) != 0) {
        return -1;
    }
    record_request(&s.board, 1, 0, GPX_METHOD_GET, 200, 1500, 100, 2000);
    record_request(&s.board, 1, 1, GPX_METHOD_GET, 200, 7000, 0, 5000);
    record_request(&s.board, 2, 0, GPX_METHOD_GET, 200, 2000000, 2048, 10);
    r = test_request(GPX_METHOD_POST, 404, 5000, 70000, 0);
    r.app_id = 1;
    r.raised = 1;
    r.read_errors = 2;
    gpx_cell_record(gpx_scoreboard_cell(&s.board, 2, 1), &r);

    s.views[0].live = 1;
    s.views[0].state = GPX_STATE_BUSY;
    s.views[0].memory_bytes = 1048576;
    s.views[0].cpu_percent = 12.5;
    s.views[0].cpu_seconds = 3.25;
    s.views[0].uptime_seconds = 60;
    s.views[1].live = 0;
    s.views[1].state = GPX_STATE_CHEAP;
    s.views[1].memory_bytes = 999;

    s.x.board = &s.board;
    s.x.workers = s.views;
    s.x.worker_count = 2;
    s.x.in_progress = 4;
    s.x.endpoint = endpoint_name;
    s.x.endpoint_ctx = &s.calls;
    s.x.master_start_time = 1700000000.25;
    s.x.last_scrape_seconds = 0.0125;
    s.x.version = "0.1.0";
    s.x.uwsgi_version = "2.0.22";
    s.x.storage = "files";
    s.x.storage_up = 1;
    if (gpx_buf_init(&s.out, 0) != 0) {
        return -1;
    }
    *state = &s;
    return 0;
}

static int
teardown_scene(void **state)
{
    struct scene *s = *state;

    gpx_buf_free(&s->out);
    gpx_scoreboard_close(&s->board);
    return 0;
}

static const char *
render(struct scene *s)
{
    gpx_buf_reset(&s->out);
    assert_int_equal(gpx_render(&s->out, &s->x), 0);
    assert_int_equal(s->out.failed, 0);
    return s->out.data;
}

/* requests_total counts per (method, status) over all workers and cores. */
static void
test_gpx_render_requests_total(void **state)
{
    const char *text = render(*state);

    assert_line(text, "gunicorn_requests_total{method=\"GET\",status=\"200\"} 3");
    assert_line(text, "gunicorn_requests_total{method=\"POST\",status=\"404\"} 1");
    assert_int_equal(count_prefix(text, "gunicorn_requests_total{"), 2);
    assert_line(text, "gunicorn_requests_in_progress 4");
}

/* The per-method duration histogram has cumulative buckets from 0.005 to
 * +Inf, a count equal to +Inf, and a sum exact from microseconds; methods
 * without requests have no series. */
static void
test_gpx_render_duration_histogram(void **state)
{
    const char *text = render(*state);
    static const char *const get_lines[] = {
        "gunicorn_request_duration_seconds_bucket{method=\"GET\",le=\"0.005\"} 1",
        "gunicorn_request_duration_seconds_bucket{method=\"GET\",le=\"0.01\"} 2",
        "gunicorn_request_duration_seconds_bucket{method=\"GET\",le=\"0.025\"} 2",
        "gunicorn_request_duration_seconds_bucket{method=\"GET\",le=\"0.05\"} 2",
        "gunicorn_request_duration_seconds_bucket{method=\"GET\",le=\"0.1\"} 2",
        "gunicorn_request_duration_seconds_bucket{method=\"GET\",le=\"0.25\"} 2",
        "gunicorn_request_duration_seconds_bucket{method=\"GET\",le=\"0.5\"} 2",
        "gunicorn_request_duration_seconds_bucket{method=\"GET\",le=\"1.0\"} 2",
        "gunicorn_request_duration_seconds_bucket{method=\"GET\",le=\"2.5\"} 3",
        "gunicorn_request_duration_seconds_bucket{method=\"GET\",le=\"5.0\"} 3",
        "gunicorn_request_duration_seconds_bucket{method=\"GET\",le=\"10.0\"} 3",
        "gunicorn_request_duration_seconds_bucket{method=\"GET\",le=\"30.0\"} 3",
        "gunicorn_request_duration_seconds_bucket{method=\"GET\",le=\"60.0\"} 3",
        "gunicorn_request_duration_seconds_bucket{method=\"GET\",le=\"+Inf\"} 3",
        "gunicorn_request_duration_seconds_count{method=\"GET\"} 3",
        "gunicorn_request_duration_seconds_sum{method=\"GET\"} 2.008500",
    };
    const char *first;
    unsigned i;

    /* The GET series, in this order. */
    first = strstr(text, get_lines[0]);
    assert_non_null(first);
    for (i = 0; i < sizeof(get_lines) / sizeof(get_lines[0]); i++) {
        size_t len = strlen(get_lines[i]);

        assert_line(text, get_lines[i]);
        assert_memory_equal(first, get_lines[i], len);
        assert_int_equal(first[len], '\n');
        first += len + 1;
    }
    assert_line(text, "gunicorn_request_duration_seconds_bucket{method=\"POST\",le=\"0.005\"} 1");
    assert_line(text, "gunicorn_request_duration_seconds_bucket{method=\"POST\",le=\"+Inf\"} 1");
    assert_line(text, "gunicorn_request_duration_seconds_count{method=\"POST\"} 1");
    assert_line(text, "gunicorn_request_duration_seconds_sum{method=\"POST\"} 0.005000");
    assert_int_equal(count_prefix(text, "gunicorn_request_duration_seconds_count{"), 2);
    assert_int_equal(count_prefix(text, "gunicorn_request_duration_seconds_bucket{method=\"HEAD\""), 0);
}

/* The protobuf page's source text: each method's native histogram right
 * after its classic lines, its buckets at the recorded schema or merged to
 * a coarser one; text and OpenMetrics pages carry none. */
static void
test_gpx_render_native_lines(void **state)
{
    struct scene *s = *state;
    const char *text;

    s->x.format = GPX_FORMAT_PROTOBUF;
    gpx_render_native_histograms(1, 3);
    text = render(s);
    /* 1.5 ms, 7 ms and 2 s (2^1: bucket 8's upper bound); 5 ms. */
    assert_line(text, "# NATIVE 3 9.5367431640625e-07 0 -75:1 -57:1 8:1");
    assert_line(text, "# NATIVE 3 9.5367431640625e-07 0 -61:1");
    assert_non_null(strstr(text, "gunicorn_request_duration_seconds_sum{method=\"GET\"} 2.008500\n# NATIVE 3 "));
    gpx_render_native_histograms(1, 0);
    text = render(s);
    assert_line(text, "# NATIVE 0 9.5367431640625e-07 0 -9:1 -7:1 1:1");
    gpx_render_native_histograms(1, -4);
    text = render(s);
    assert_line(text, "# NATIVE -4 2.3283064365386963e-10 0 0:2 1:1");
    gpx_render_native_histograms(0, 3);
    assert_null(strstr(render(s), "# NATIVE"));
    gpx_render_native_histograms(1, 3);
    s->x.format = GPX_FORMAT_OPENMETRICS;
    assert_null(strstr(render(s), "# NATIVE"));
    s->x.format = GPX_FORMAT_TEXT;
    assert_null(strstr(render(s), "# NATIVE"));
}

/* An exemplar is served on the bucket its request fell in, in OpenMetrics
 * and in the protobuf page's source; never on the text page. */
static void
test_gpx_render_exemplars(void **state)
{
    static const struct gpx_trace_ids ids = {
        {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
        {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
        GPX_TRACE_SAMPLED};
    static const char line[] =
        "gunicorn_request_duration_seconds_bucket{method=\"GET\",le=\"0.005\"} 1 # "
        "{trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\",span_id=\"00f067aa0ba902b7\"} 0.0015 1733350000.25";
    struct scene *s = *state;
    struct gpx_exemplar_board b;
    char err[256];

    assert_int_equal(gpx_exemplar_board_open(&b, 3, 2, GPX_METHOD_COUNT, GPX_DURATION_SLOTS, err, sizeof(err)), 0);
    gpx_exemplar_write(gpx_exemplar_at(&b, 1, 0, GPX_METHOD_GET, 0), &ids, 1500, 1733350000250000ull);
    gpx_render_exemplars(&b);
    s->x.format = GPX_FORMAT_OPENMETRICS;
    assert_line(render(s), line);
    assert_line(render(s), "gunicorn_request_duration_seconds_bucket{method=\"GET\",le=\"0.01\"} 2");
    s->x.format = GPX_FORMAT_PROTOBUF;
    assert_line(render(s), line);
    s->x.format = GPX_FORMAT_TEXT;
    assert_null(strstr(render(s), "trace_id"));
    gpx_render_exemplars(NULL);
    s->x.format = GPX_FORMAT_OPENMETRICS;
    assert_null(strstr(render(s), "trace_id"));
    s->x.format = GPX_FORMAT_TEXT;
    gpx_exemplar_board_close(&b);
}

/* Per-worker series: request counts, duration (exact sums), request and
 * response sizes (sums in whole bytes). */
static void
test_gpx_render_worker_histograms(void **state)
{
    const char *text = render(*state);

    assert_line(text, "gunicorn_worker_requests_total{worker_id=\"1\"} 2");
    assert_line(text, "gunicorn_worker_requests_total{worker_id=\"2\"} 2");

    assert_line(text, "gunicorn_worker_request_duration_seconds_bucket{worker_id=\"1\",le=\"0.005\"} 1");
    assert_line(text, "gunicorn_worker_request_duration_seconds_bucket{worker_id=\"1\",le=\"0.01\"} 2");
    assert_line(text, "gunicorn_worker_request_duration_seconds_bucket{worker_id=\"1\",le=\"+Inf\"} 2");
    assert_line(text, "gunicorn_worker_request_duration_seconds_count{worker_id=\"1\"} 2");
    assert_line(text, "gunicorn_worker_request_duration_seconds_sum{worker_id=\"1\"} 0.008500");
    assert_line(text, "gunicorn_worker_request_duration_seconds_bucket{worker_id=\"2\",le=\"0.005\"} 1");
    assert_line(text, "gunicorn_worker_request_duration_seconds_bucket{worker_id=\"2\",le=\"1.0\"} 1");
    assert_line(text, "gunicorn_worker_request_duration_seconds_bucket{worker_id=\"2\",le=\"2.5\"} 2");
    assert_line(text, "gunicorn_worker_request_duration_seconds_sum{worker_id=\"2\"} 2.005000");

    assert_line(text, "gunicorn_worker_request_size_bytes_bucket{worker_id=\"1\",le=\"1024.0\"} 2");
    assert_line(text, "gunicorn_worker_request_size_bytes_bucket{worker_id=\"1\",le=\"+Inf\"} 2");
    assert_line(text, "gunicorn_worker_request_size_bytes_count{worker_id=\"1\"} 2");
    assert_line(text, "gunicorn_worker_request_size_bytes_sum{worker_id=\"1\"} 100.0");
    assert_line(text, "gunicorn_worker_request_size_bytes_bucket{worker_id=\"2\",le=\"1024.0\"} 0");
    assert_line(text, "gunicorn_worker_request_size_bytes_bucket{worker_id=\"2\",le=\"4096.0\"} 1");
    assert_line(text, "gunicorn_worker_request_size_bytes_bucket{worker_id=\"2\",le=\"65536.0\"} 1");
    assert_line(text, "gunicorn_worker_request_size_bytes_bucket{worker_id=\"2\",le=\"262144.0\"} 2");
    assert_line(text, "gunicorn_worker_request_size_bytes_bucket{worker_id=\"2\",le=\"4194304.0\"} 2");
    assert_line(text, "gunicorn_worker_request_size_bytes_sum{worker_id=\"2\"} 72048.0");

    assert_line(text, "gunicorn_worker_response_size_bytes_bucket{worker_id=\"1\",le=\"1024.0\"} 0");
    assert_line(text, "gunicorn_worker_response_size_bytes_bucket{worker_id=\"1\",le=\"4096.0\"} 1");
    assert_line(text, "gunicorn_worker_response_size_bytes_bucket{worker_id=\"1\",le=\"16384.0\"} 2");
    assert_line(text, "gunicorn_worker_response_size_bytes_sum{worker_id=\"1\"} 7000.0");
    assert_line(text, "gunicorn_worker_response_size_bytes_bucket{worker_id=\"2\",le=\"1024.0\"} 2");
    assert_line(text, "gunicorn_worker_response_size_bytes_sum{worker_id=\"2\"} 10.0");

    /* 14 duration lines + count + sum, 8 size lines + count + sum, per worker. */
    assert_int_equal(count_prefix(text, "gunicorn_worker_request_duration_seconds_"), 2 * 16);
    assert_int_equal(count_prefix(text, "gunicorn_worker_request_size_bytes_"), 2 * 10);
    assert_int_equal(count_prefix(text, "gunicorn_worker_response_size_bytes_"), 2 * 10);
}

/* Every family has exactly one HELP and one TYPE line before its samples. */
static void
test_gpx_render_help_and_type_once(void **state)
{
    static const char *const families[] = {
        "gunicorn_worker_requests_total",
        "gunicorn_worker_request_duration_seconds",
        "gunicorn_worker_request_size_bytes",
        "gunicorn_worker_response_size_bytes",
        "gunicorn_worker_failed_requests_total",
        "gunicorn_worker_error_handling_total",
        "gunicorn_worker_memory_bytes",
        "gunicorn_worker_cpu_percent",
        "gunicorn_worker_uptime_seconds",
        "gunicorn_worker_cpu_seconds_total",
        "gunicorn_worker_state",
        "gunicorn_workers",
        "gunicorn_worker_restart_total",
        "gunicorn_master_worker_restart_total",
        "gunicorn_worker_restart_count_total",
        "gunicorn_master_worker_restart_count_total",
        "gunicorn_workers_desired",
        "gunicorn_listen_backlog",
        "gunicorn_listen_backlog_limit",
        "gunicorn_listen_overflows_total",
        "gunicorn_requests_total",
        "gunicorn_request_duration_seconds",
        "gunicorn_requests_in_progress",
        "gunicorn_master_start_time_seconds",
        "gunicorn_exporter_build_info",
        "gunicorn_exporter_scrape_duration_seconds",
        "gunicorn_exporter_storage_up",
        "gunicorn_exporter_storage_errors_total",
        "gunicorn_exporter_endpoint_reload_errors_total",
    };
    const char *text = render(*state);
    unsigned i;
    char help[128];

    assert_int_equal(check_families(text), sizeof(families) / sizeof(families[0]));
    for (i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        snprintf(help, sizeof(help), "# HELP %s ", families[i]);
        assert_int_equal(count_prefix(text, help), 1);
        snprintf(help, sizeof(help), "# TYPE %s ", families[i]);
        assert_int_equal(count_prefix(text, help), 1);
    }
    assert_line(text, "# TYPE gunicorn_request_duration_seconds histogram");
    assert_line(text, "# TYPE gunicorn_requests_total counter");
    assert_line(text, "# TYPE gunicorn_worker_memory_bytes gauge");

    /* An empty board too. */
    {
        struct scene *s = *state;
        struct gpx_scoreboard empty;
        const struct gpx_scoreboard *full = s->x.board;
        char err[256];

        assert_int_equal(gpx_scoreboard_open_anonymous(&empty, 2, 1, err, sizeof(err)), 0);
        s->x.board = &empty;
        text = render(s);
        assert_int_equal(check_families(text), sizeof(families) / sizeof(families[0]));
        assert_int_equal(count_prefix(text, "gunicorn_requests_total{"), 0);
        assert_line(text, "gunicorn_worker_requests_total{worker_id=\"1\"} 0");
        assert_line(text, "gunicorn_worker_request_duration_seconds_sum{worker_id=\"2\"} 0.000000");
        s->x.board = full;
        gpx_scoreboard_close(&empty);
    }
}

/* Adds the "name type" of every TYPE line of text to names (a list of
 * "name type\n" lines). */
static void
collect_types(const char *text, struct gpx_buf *names)
{
    const char *p = text;

    while ((p = strstr(p, "# TYPE ")) != NULL) {
        const char *end = strchr(p, '\n');

        gpx_buf_append(names, p + 7, (size_t)(end - p - 7) + 1);
        p = end;
    }
}

/* gpx_families is the list of every family gpx serves: the page's, the
 * app-metrics health families' and the fleet view's, no more, no less,
 * each with its type (the app's families keep off these names). */
static void
test_gpx_families_table_is_every_family(void **state)
{
    struct scene *s = *state;
    struct gpx_buf names, want;
    struct gpx_fleet_read *read;
    unsigned i;

    assert_int_equal(gpx_buf_init(&names, 4096), 0);
    assert_int_equal(gpx_buf_init(&want, 4096), 0);
    collect_types(render(s), &names);
    gpx_buf_reset(&s->out);
    assert_int_equal(gpx_apprender_health(&s->out, GPX_FORMAT_TEXT, NULL), 0);
    collect_types(s->out.data, &names);
    gpx_buf_reset(&s->out);
    assert_int_equal(gpx_render_fleet(&s->out, GPX_FORMAT_TEXT, NULL, 0), 0);
    /* The fleet view repeats families of the page: only its own is new. */
    assert_non_null(strstr(s->out.data, "# TYPE gunicorn_fleet_instances gauge\n"));
    gpx_buf_puts(&names, "gunicorn_fleet_instances gauge\n");
    /* The fleet's reading adds the count of the snapshots it left out. */
    read = gpx_fleet_read_new(0, 0, NULL);
    assert_non_null(read);
    gpx_buf_reset(&s->out);
    assert_int_equal(gpx_fleet_read_render(read, &s->out, GPX_FORMAT_TEXT), 0);
    gpx_fleet_read_free(read);
    assert_non_null(strstr(s->out.data, "# TYPE gunicorn_exporter_fleet_snapshots_skipped gauge\n"));
    gpx_buf_puts(&names, "gunicorn_exporter_fleet_snapshots_skipped gauge\n");
    for (i = 0; i < GPX_FAMILY_COUNT; i++) {
        gpx_buf_printf(&want, "%s %s\n", gpx_families[i].name, gpx_families[i].type);
    }
    assert_string_equal(names.data, want.data);
    gpx_buf_free(&names);
    gpx_buf_free(&want);
}

/* gpx_render_label_value escapes backslash, double quote and newline, and
 * nothing else, appending to what the buffer holds. */
static void
test_gpx_render_label_value_escapes(void **state)
{
    static const struct {
        const char *in;
        const char *out;
    } cases[] = {
        {"plain/path", "plain/path"},
        {"", ""},
        {"a\\b", "a\\\\b"},
        {"say \"hi\"", "say \\\"hi\\\""},
        {"two\nlines", "two\\nlines"},
        {"\\\"\n", "\\\\\\\"\\n"},
        {"\n\n", "\\n\\n"},
        {"tab\there", "tab\there"},
        {"\xc3\xa9t\xc3\xa9", "\xc3\xa9t\xc3\xa9"},
    };
    struct gpx_buf buf;
    char want[128];
    unsigned i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(gpx_buf_init(&buf, 0), 0);
        assert_int_equal(gpx_buf_puts(&buf, "x=\""), 0);
        assert_int_equal(gpx_render_label_value(&buf, cases[i].in), 0);
        snprintf(want, sizeof(want), "x=\"%s", cases[i].out);
        assert_string_equal(buf.data, want);
        assert_int_equal(buf.len, strlen(want));
        gpx_buf_free(&buf);
    }
}

/* Exceptions and I/O errors are labelled with the endpoint the callback
 * names for (worker, app), escaped; without a name the endpoint is "/". */
static void
test_gpx_render_endpoint_label(void **state)
{
    struct scene *s = *state;
    const char *text = render(s);

    assert_line(text, "gunicorn_worker_failed_requests_total{worker_id=\"2\",method=\"POST\","
                      "endpoint=\"/a\\\\b\\\"c\\nd\",error_type=\"exception\"} 1");
    assert_line(text, "gunicorn_worker_error_handling_total{worker_id=\"2\",method=\"POST\","
                      "endpoint=\"/a\\\\b\\\"c\\nd\",error_type=\"read\"} 2");
    assert_int_equal(count_prefix(text, "gunicorn_worker_failed_requests_total{"), 1);
    assert_int_equal(count_prefix(text, "gunicorn_worker_error_handling_total{"), 1);
    assert_true(s->calls.calls >= 2);
    assert_int_equal(s->calls.last_worker, 2);
    assert_int_equal(s->calls.last_app, 1);

    /* No callback: "/". */
    s->x.endpoint = NULL;
    text = render(s);
    assert_line(text, "gunicorn_worker_failed_requests_total{worker_id=\"2\",method=\"POST\",endpoint=\"/\","
                      "error_type=\"exception\"} 1");
    assert_line(text, "gunicorn_worker_error_handling_total{worker_id=\"2\",method=\"POST\",endpoint=\"/\","
                      "error_type=\"read\"} 2");
    s->x.endpoint = endpoint_name;
}

static void
fail_with(struct gpx_scoreboard *board, unsigned worker, unsigned core, unsigned app, const char *cls)
{
    struct gpx_request r;
    int name = gpx_error_names_find_or_add(gpx_scoreboard_error_names(board), cls, strlen(cls));

    assert_true(name >= 0);
    memset(&r, 0, sizeof(r));
    r.method = GPX_METHOD_GET;
    r.status = 500;
    r.app_id = app;
    r.raised = 1;
    r.error_name = (unsigned)name + 1;
    gpx_cell_record(gpx_scoreboard_cell(board, worker, core), &r);
}

/* Failures of a known class have their own series with the class as
 * error_type (escaped), beside "exception" for those of no known class. The
 * board and the restored base name classes in their own tables: a class in
 * both is one series with both counts. */
static void
test_gpx_render_failures_by_class(void **state)
{
    struct scene *s = *state;
    struct gpx_scoreboard base;
    char err[256];
    const char *text;

    fail_with(&s->board, 1, 0, 0, "ZeroDivisionError");
    fail_with(&s->board, 1, 1, 0, "ZeroDivisionError");
    fail_with(&s->board, 1, 1, 0, "KeyError");
    fail_with(&s->board, 2, 1, 1, "a\"b");
    assert_int_equal(gpx_scoreboard_open_anonymous(&base, 2, 1, err, sizeof(err)), 0);
    fail_with(&base, 1, 0, 0, "KeyError");
    fail_with(&base, 1, 0, 0, "ValueError");
    s->x.base = &base;
    text = render(s);
    assert_line(text, "gunicorn_worker_failed_requests_total{worker_id=\"1\",method=\"GET\",endpoint=\"/\","
                      "error_type=\"ZeroDivisionError\"} 2");
    assert_line(text, "gunicorn_worker_failed_requests_total{worker_id=\"1\",method=\"GET\",endpoint=\"/\","
                      "error_type=\"KeyError\"} 2");
    assert_line(text, "gunicorn_worker_failed_requests_total{worker_id=\"1\",method=\"GET\",endpoint=\"/\","
                      "error_type=\"ValueError\"} 1");
    assert_line(text, "gunicorn_worker_failed_requests_total{worker_id=\"2\",method=\"GET\","
                      "endpoint=\"/a\\\\b\\\"c\\nd\",error_type=\"a\\\"b\"} 1");
    assert_line(text, "gunicorn_worker_failed_requests_total{worker_id=\"2\",method=\"POST\","
                      "endpoint=\"/a\\\\b\\\"c\\nd\",error_type=\"exception\"} 1");
    assert_int_equal(count_prefix(text, "gunicorn_worker_failed_requests_total{"), 5);
    s->x.base = NULL;
    gpx_scoreboard_close(&base);
}

/* Resource gauges have a series only for live workers. */
static void
test_gpx_render_worker_gauges_live_only(void **state)
{
    const char *text = render(*state);

    assert_line(text, "gunicorn_worker_memory_bytes{worker_id=\"1\"} 1048576");
    assert_line(text, "gunicorn_worker_cpu_percent{worker_id=\"1\"} 12.5");
    assert_line(text, "gunicorn_worker_uptime_seconds{worker_id=\"1\"} 60");
    assert_line(text, "gunicorn_worker_cpu_seconds_total{worker_id=\"1\"} 3.25");
    assert_int_equal(count_prefix(text, "gunicorn_worker_memory_bytes{"), 1);
    assert_int_equal(count_prefix(text, "gunicorn_worker_cpu_percent{"), 1);
    assert_int_equal(count_prefix(text, "gunicorn_worker_uptime_seconds{"), 1);
    assert_int_equal(count_prefix(text, "gunicorn_worker_cpu_seconds_total{"), 1);
    assert_int_equal(count_prefix(text, "gunicorn_worker_memory_bytes{worker_id=\"2\"}"), 0);
}

/* gunicorn_worker_state has five lines per configured worker, exactly one
 * of them 1; gunicorn_workers counts workers per state. */
static void
test_gpx_render_worker_state(void **state)
{
    static const char *const states[] = {"idle", "busy", "cheap", "paused", "stopping"};
    struct scene *s = *state;
    const char *text = render(s);
    char line[128];
    unsigned w, i;

    assert_int_equal(count_prefix(text, "gunicorn_worker_state{"), 2 * 5);
    for (w = 1; w <= 2; w++) {
        unsigned ones = 0;

        for (i = 0; i < 5; i++) {
            int is_state = (unsigned)s->views[w - 1].state == i;

            snprintf(line, sizeof(line), "gunicorn_worker_state{worker_id=\"%u\",state=\"%s\"} %d", w, states[i],
                     is_state);
            assert_line(text, line);
            ones += (unsigned)is_state;
            assert_string_equal(gpx_worker_state_label((enum gpx_worker_state)i), states[i]);
        }
        assert_int_equal(ones, 1);
    }
    snprintf(line, sizeof(line), "gunicorn_worker_state{worker_id=\"%u\",state=\"", 1u);
    assert_int_equal(sum_values(text, line), 1);
    assert_line(text, "gunicorn_worker_state{worker_id=\"1\",state=\"busy\"} 1");
    assert_line(text, "gunicorn_worker_state{worker_id=\"2\",state=\"cheap\"} 1");
    assert_line(text, "gunicorn_workers{state=\"idle\"} 0");
    assert_line(text, "gunicorn_workers{state=\"busy\"} 1");
    assert_line(text, "gunicorn_workers{state=\"cheap\"} 1");
    assert_line(text, "gunicorn_workers{state=\"paused\"} 0");
    assert_line(text, "gunicorn_workers{state=\"stopping\"} 0");
    assert_string_equal(gpx_worker_state_label(GPX_STATE_COUNT), "idle");
}

/* Server-wide gauges, build info with escaped labels. */
static void
test_gpx_render_server_families(void **state)
{
    struct scene *s = *state;
    const char *text = render(s);

    assert_line(text, "gunicorn_master_start_time_seconds 1700000000.250000");
    assert_line(text, "gunicorn_exporter_build_info{version=\"0.1.0\",uwsgi_version=\"2.0.22\",storage=\"files\"} 1");
    assert_line(text, "gunicorn_exporter_scrape_duration_seconds 0.012500");
    assert_line(text, "gunicorn_exporter_storage_up 1");

    s->x.version = "1\"2";
    s->x.uwsgi_version = NULL;
    s->x.storage_up = 0;
    text = render(s);
    assert_line(text, "gunicorn_exporter_build_info{version=\"1\\\"2\",uwsgi_version=\"\",storage=\"files\"} 1");
    assert_line(text, "gunicorn_exporter_storage_up 0");
    s->x.version = "0.1.0";
    s->x.uwsgi_version = "2.0.22";
    s->x.storage_up = 1;
}

/* A retired slot (a block beyond worker_count) is shown only once it has
 * counted requests, and its requests count in the totals. */
static void
test_gpx_render_retired_slot(void **state)
{
    struct scene *s = *state;
    const char *text = render(s);

    assert_int_equal(count_prefix(text, "gunicorn_worker_requests_total{worker_id=\"3\"}"), 0);
    assert_null(strstr(text, "worker_id=\"3\""));

    record_request(&s->board, 3, 1, GPX_METHOD_GET, 200, 30000, 5, 6);
    text = render(s);
    assert_int_equal(check_families(text), 29);
    assert_line(text, "gunicorn_worker_requests_total{worker_id=\"3\"} 1");
    assert_line(text, "gunicorn_worker_request_duration_seconds_bucket{worker_id=\"3\",le=\"0.025\"} 0");
    assert_line(text, "gunicorn_worker_request_duration_seconds_bucket{worker_id=\"3\",le=\"0.05\"} 1");
    assert_line(text, "gunicorn_worker_request_duration_seconds_sum{worker_id=\"3\"} 0.030000");
    assert_line(text, "gunicorn_worker_request_size_bytes_sum{worker_id=\"3\"} 5.0");
    assert_line(text, "gunicorn_worker_response_size_bytes_sum{worker_id=\"3\"} 6.0");
    assert_line(text, "gunicorn_requests_total{method=\"GET\",status=\"200\"} 4");
    /* Gauges and states are for configured slots only. */
    assert_int_equal(count_prefix(text, "gunicorn_worker_state{worker_id=\"3\""), 0);
    assert_int_equal(count_prefix(text, "gunicorn_worker_memory_bytes{worker_id=\"3\""), 0);
}

/* Statuses beyond the 64 keys of a cell render as their class ("5xx", or
 * "other" outside 1xx..5xx); no request is lost from requests_total. */
static void
test_gpx_render_overflow_classes(void **state)
{
    struct gpx_scoreboard board;
    struct gpx_worker_view view;
    struct gpx_exposition x;
    struct gpx_buf out;
    char err[256];
    unsigned st;

    (void)state;
    assert_int_equal(gpx_scoreboard_open_anonymous(&board, 1, 1, err, sizeof(err)), 0);
    for (st = 500; st < 600; st++) {
        record_request(&board, 1, 0, GPX_METHOD_GET, st, 1000, 0, 0);
    }
    record_request(&board, 1, 0, GPX_METHOD_POST, 1500, 1000, 0, 0);
    record_request(&board, 1, 0, GPX_METHOD_POST, 42, 1000, 0, 0);
    memset(&view, 0, sizeof(view));
    memset(&x, 0, sizeof(x));
    x.board = &board;
    x.workers = &view;
    x.worker_count = 1;
    assert_int_equal(gpx_buf_init(&out, 0), 0);
    assert_int_equal(gpx_render(&out, &x), 0);

    assert_int_equal(check_families(out.data), 29);
    assert_line(out.data, "gunicorn_requests_total{method=\"GET\",status=\"500\"} 1");
    assert_line(out.data, "gunicorn_requests_total{method=\"GET\",status=\"5xx\"} 36");
    assert_line(out.data, "gunicorn_requests_total{method=\"POST\",status=\"other\"} 2");
    assert_int_equal(count_prefix(out.data, "gunicorn_requests_total{"), 64 + 2);
    assert_int_equal(sum_values(out.data, "gunicorn_requests_total{"), 102);
    assert_line(out.data, "gunicorn_worker_requests_total{worker_id=\"1\"} 102");
    gpx_buf_free(&out);
    gpx_scoreboard_close(&board);
}

/* Statuses sort by method then code, print with three digits, and those of
 * 1000 and more count as status 000. */
static void
test_gpx_render_status_order(void **state)
{
    struct gpx_scoreboard board;
    struct gpx_worker_view view;
    struct gpx_exposition x;
    struct gpx_buf out;
    char err[256];
    const char *a, *b, *c;

    (void)state;
    assert_int_equal(gpx_scoreboard_open_anonymous(&board, 1, 2, err, sizeof(err)), 0);
    record_request(&board, 1, 0, GPX_METHOD_POST, 500, 1, 0, 0);
    record_request(&board, 1, 1, GPX_METHOD_GET, 404, 1, 0, 0);
    record_request(&board, 1, 0, GPX_METHOD_GET, 200, 1, 0, 0);
    record_request(&board, 1, 1, GPX_METHOD_OTHER, 1234, 1, 0, 0);
    record_request(&board, 1, 1, GPX_METHOD_HEAD, 99, 1, 0, 0);
    memset(&view, 0, sizeof(view));
    memset(&x, 0, sizeof(x));
    x.board = &board;
    x.workers = &view;
    x.worker_count = 1;
    assert_int_equal(gpx_buf_init(&out, 0), 0);
    assert_int_equal(gpx_render(&out, &x), 0);
    a = strstr(out.data, "gunicorn_requests_total{method=\"GET\",status=\"200\"} 1\n");
    b = strstr(out.data, "gunicorn_requests_total{method=\"GET\",status=\"404\"} 1\n");
    c = strstr(out.data, "gunicorn_requests_total{method=\"POST\",status=\"500\"} 1\n");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_true(a < b && b < c);
    assert_line(out.data, "gunicorn_requests_total{method=\"HEAD\",status=\"099\"} 1");
    assert_line(out.data, "gunicorn_requests_total{method=\"OTHER\",status=\"000\"} 1");
    gpx_buf_free(&out);
    gpx_scoreboard_close(&board);
}

/* The sample lines of a page (those not starting with '#'), in order. */
static char *
sample_lines(const char *text)
{
    size_t len = strlen(text);
    char *out = calloc(1, len + 1), *w = out;
    const char *p = text;

    assert_non_null(out);
    while (*p != '\0') {
        const char *end = strchr(p, '\n');
        size_t linelen = (size_t)(end - p) + 1;

        if (p[0] != '#') {
            memcpy(w, p, linelen);
            w += linelen;
        }
        p += linelen;
    }
    return out;
}

/* The exporter's second restart pair: the same counts as
 * gunicorn_worker_restart_total, each reason with its restart_type, every
 * configured slot and reason shown from zero, in the exporter's label
 * orders; a retired slot shows once it counted requests, as in the others. */
static void
test_gpx_render_restart_counts(void **state)
{
    struct scene *s = *state;
    const char *text;
    char line[256];
    unsigned w, i;

    GPX_BUMP(gpx_scoreboard_slot(&s->board, 1)->restarts[GPX_RESTART_MAX_REQUESTS], 3);
    GPX_BUMP(gpx_scoreboard_slot(&s->board, 2)->restarts[GPX_RESTART_TIMEOUT], 2);
    GPX_BUMP(gpx_scoreboard_slot(&s->board, 2)->restarts[GPX_RESTART_RELOAD], 1);
    GPX_BUMP(gpx_scoreboard_slot(&s->board, 3)->restarts[GPX_RESTART_SIGNAL], 5);
    text = render(s);
    assert_line(text, "# TYPE gunicorn_worker_restart_count_total counter");
    assert_line(text, "# TYPE gunicorn_master_worker_restart_count_total counter");
    assert_line(
        text,
        "gunicorn_worker_restart_count_total{worker_id=\"1\",restart_type=\"graceful\",reason=\"max_requests\"} 3");
    assert_line(text,
                "gunicorn_worker_restart_count_total{worker_id=\"2\",restart_type=\"forced\",reason=\"timeout\"} 2");
    assert_line(text,
                "gunicorn_worker_restart_count_total{worker_id=\"2\",restart_type=\"graceful\",reason=\"reload\"} 1");
    assert_line(text, "gunicorn_master_worker_restart_count_total{worker_id=\"1\",reason=\"max_requests\",restart_type="
                      "\"graceful\"} 3");
    assert_line(
        text,
        "gunicorn_master_worker_restart_count_total{worker_id=\"2\",reason=\"timeout\",restart_type=\"forced\"} 2");
    /* Every reason of every configured slot, its type fixed by the reason. */
    for (w = 1; w <= 2; w++) {
        for (i = 0; i < TEST_RESTART_REASONS; i++) {
            snprintf(line, sizeof(line),
                     "gunicorn_worker_restart_count_total{worker_id=\"%u\",restart_type=\"%s\",reason=\"%s\"} ", w,
                     test_restart_reasons[i].type, test_restart_reasons[i].label);
            assert_int_equal(count_prefix(text, line), 1);
            snprintf(line, sizeof(line),
                     "gunicorn_master_worker_restart_count_total{worker_id=\"%u\",reason=\"%s\",restart_type=\"%s\"} ",
                     w, test_restart_reasons[i].label, test_restart_reasons[i].type);
            assert_int_equal(count_prefix(text, line), 1);
        }
    }
    assert_int_equal(count_prefix(text, "gunicorn_worker_restart_count_total{"), 2 * 8);
    assert_int_equal(count_prefix(text, "gunicorn_master_worker_restart_count_total{"), 2 * 8);
    assert_int_equal(sum_values(text, "gunicorn_worker_restart_count_total{"), 6);
    assert_int_equal(sum_values(text, "gunicorn_worker_restart_count_total{"),
                     sum_values(text, "gunicorn_worker_restart_total{"));
    assert_int_equal(sum_values(text, "gunicorn_master_worker_restart_count_total{"),
                     sum_values(text, "gunicorn_worker_restart_total{"));
    assert_int_equal(sum_values(text, "gunicorn_worker_restart_count_total{worker_id=\"2\",restart_type=\"forced\""),
                     2);

    /* The retired slot 3 shows once it counted a request. */
    record_request(&s->board, 3, 0, GPX_METHOD_GET, 200, 1000, 0, 0);
    text = render(s);
    assert_line(text,
                "gunicorn_worker_restart_count_total{worker_id=\"3\",restart_type=\"forced\",reason=\"signal\"} 5");
    assert_line(
        text,
        "gunicorn_master_worker_restart_count_total{worker_id=\"3\",reason=\"signal\",restart_type=\"forced\"} 5");
    assert_int_equal(count_prefix(text, "gunicorn_worker_restart_count_total{"), 3 * 8);
}

/* OpenMetrics: the same samples as text, counters' families named without
 * _total in HELP and TYPE, no _created series, and "# EOF" only from
 * gpx_render_end, last. */
static void
test_gpx_render_openmetrics(void **state)
{
    struct scene *s = *state;
    char *text_samples, *om_samples;
    const char *om;

    text_samples = sample_lines(render(s));
    assert_int_equal(gpx_render_end(&s->out, GPX_FORMAT_TEXT), 0);
    assert_int_equal(count_prefix(s->out.data, "# EOF"), 0);
    s->x.format = GPX_FORMAT_OPENMETRICS;
    om = render(s);
    om_samples = sample_lines(om);
    assert_string_equal(om_samples, text_samples);
    assert_line(om, "# TYPE gunicorn_requests counter");
    assert_line(om, "# HELP gunicorn_requests Requests answered, by method and status.");
    assert_line(om, "# TYPE gunicorn_worker_cpu_seconds counter");
    assert_line(om, "# TYPE gunicorn_exporter_storage_errors counter");
    assert_line(om, "# TYPE gunicorn_request_duration_seconds histogram");
    assert_line(om, "# TYPE gunicorn_worker_memory_bytes gauge");
    assert_line(om, "gunicorn_requests_total{method=\"GET\",status=\"200\"} 3");
    assert_int_equal(count_prefix(om, "# TYPE gunicorn_requests_total"), 0);
    assert_null(strstr(om, "_created"));
    assert_int_equal(count_prefix(om, "# EOF"), 0);
    assert_int_equal(gpx_render_end(&s->out, GPX_FORMAT_OPENMETRICS), 0);
    assert_int_equal(count_lines(s->out.data, "# EOF"), 1);
    assert_int_equal(strcmp(s->out.data + s->out.len - 6, "# EOF\n"), 0);
    free(text_samples);
    free(om_samples);
}

#define SCENE_TEST(name) cmocka_unit_test_setup_teardown(name, setup_scene, teardown_scene)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        SCENE_TEST(test_gpx_render_requests_total),
        SCENE_TEST(test_gpx_render_duration_histogram),
        SCENE_TEST(test_gpx_render_native_lines),
        SCENE_TEST(test_gpx_render_exemplars),
        SCENE_TEST(test_gpx_render_worker_histograms),
        SCENE_TEST(test_gpx_render_help_and_type_once),
        SCENE_TEST(test_gpx_families_table_is_every_family),
        cmocka_unit_test(test_gpx_render_label_value_escapes),
        SCENE_TEST(test_gpx_render_endpoint_label),
        SCENE_TEST(test_gpx_render_failures_by_class),
        SCENE_TEST(test_gpx_render_worker_gauges_live_only),
        SCENE_TEST(test_gpx_render_worker_state),
        SCENE_TEST(test_gpx_render_server_families),
        SCENE_TEST(test_gpx_render_retired_slot),
        cmocka_unit_test(test_gpx_render_overflow_classes),
        cmocka_unit_test(test_gpx_render_status_order),
        SCENE_TEST(test_gpx_render_restart_counts),
        SCENE_TEST(test_gpx_render_openmetrics),
    };

    return cmocka_run_group_tests_name("gpx_exposition", tests, NULL, NULL);
}
