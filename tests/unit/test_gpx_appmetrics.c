/* Unit tests of gpx_appmetrics and gpx_appstore: MultiProcessCollector's
 * merge rules (every gauge mode, histogram buckets, summaries, counters in
 * both formats), rendering, and folding ended processes into the store. */
#define _GNU_SOURCE
#include <dirent.h>
#include <math.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gpx_test_support.h"

#include "gpx_apphealth.h"
#include "gpx_appmerge.h"
#include "gpx_appmetrics.h"
#include "gpx_apprender.h"
#include "gpx_appstore.h"
#include "gpx_exposition.h"
#include "gpx_pcfile.h"

#include "../fuzz/strict_page.h"

static char *
render(struct gpx_appmerge *m, enum gpx_format format)
{
    struct gpx_buf out;
    size_t len;

    assert_int_equal(gpx_buf_init(&out, 1024), 0);
    assert_int_equal(gpx_apprender_families(m, &out, format, NULL, NULL), 0);
    return gpx_buf_steal(&out, &len);
}

static void
add(struct gpx_appmerge *m, enum gpx_pc_kind kind, enum gpx_pc_mode mode, pid_t pid, const char *key, double value,
    double timestamp)
{
    assert_int_equal(gpx_appmerge_add(m, kind, mode, pid, "test.db", key, strlen(key), value, timestamp), 0);
}

static void
test_counter_summed_both_formats(void **state)
{
    static const char key[] = "[\"app_hits\", \"app_hits_total\", {\"path\": \"/a\"}, \"Hits.\"]";
    struct gpx_appmerge *m = gpx_appmerge_new();
    char *text;

    (void)state;
    add(m, GPX_PC_COUNTER, GPX_PC_MODE_NONE, 11, key, 2.0, 0.0);
    add(m, GPX_PC_COUNTER, GPX_PC_MODE_NONE, 12, key, 3.0, 0.0);
    text = render(m, GPX_FORMAT_TEXT);
    assert_line(text, "# HELP app_hits_total Hits.");
    assert_line(text, "# TYPE app_hits_total counter");
    assert_line(text, "app_hits_total{path=\"/a\"} 5.0");
    free(text);
    /* OpenMetrics: the family without _total, its sample with it. */
    text = render(m, GPX_FORMAT_OPENMETRICS);
    assert_line(text, "# HELP app_hits Hits.");
    assert_line(text, "# TYPE app_hits counter");
    assert_line(text, "app_hits_total{path=\"/a\"} 5.0");
    assert_int_equal(count_prefix(text, "app_hits_created"), 0);
    free(text);
    gpx_appmerge_free(m);
}

/* Two processes set gauge g of `mode` to 3 @ t=10 and 7 @ t=5. */
static char *
two_gauges(enum gpx_pc_mode mode)
{
    static const char key[] = "[\"g\", \"g\", {\"z\": \"2\", \"a\": \"1\"}, \"G.\"]";
    struct gpx_appmerge *m = gpx_appmerge_new();
    char *text;

    add(m, GPX_PC_GAUGE, mode, 101, key, 3.0, 10.0);
    add(m, GPX_PC_GAUGE, mode, 102, key, 7.0, 5.0);
    text = render(m, GPX_FORMAT_TEXT);
    gpx_appmerge_free(m);
    return text;
}

static void
test_gauge_modes(void **state)
{
    static const struct {
        enum gpx_pc_mode mode;
        const char *line;
    } reducing[] = {
        {GPX_PC_MODE_MIN, "g{a=\"1\",z=\"2\"} 3.0"},        {GPX_PC_MODE_LIVEMIN, "g{a=\"1\",z=\"2\"} 3.0"},
        {GPX_PC_MODE_MAX, "g{a=\"1\",z=\"2\"} 7.0"},        {GPX_PC_MODE_LIVEMAX, "g{a=\"1\",z=\"2\"} 7.0"},
        {GPX_PC_MODE_SUM, "g{a=\"1\",z=\"2\"} 10.0"},       {GPX_PC_MODE_LIVESUM, "g{a=\"1\",z=\"2\"} 10.0"},
        {GPX_PC_MODE_MOSTRECENT, "g{a=\"1\",z=\"2\"} 3.0"}, {GPX_PC_MODE_LIVEMOSTRECENT, "g{a=\"1\",z=\"2\"} 3.0"},
    };
    enum gpx_pc_mode per_process[] = {GPX_PC_MODE_ALL, GPX_PC_MODE_LIVEALL};
    size_t i;
    char *text;

    (void)state;
    for (i = 0; i < sizeof(reducing) / sizeof(reducing[0]); i++) {
        text = two_gauges(reducing[i].mode);
        assert_line(text, "# TYPE g gauge");
        assert_line(text, reducing[i].line);
        assert_int_equal(count_prefix(text, "g{"), 1);
        free(text);
    }
    /* all/liveall: one series per process, the pid label sorted in. */
    for (i = 0; i < 2; i++) {
        text = two_gauges(per_process[i]);
        assert_line(text, "g{a=\"1\",pid=\"101\",z=\"2\"} 3.0");
        assert_line(text, "g{a=\"1\",pid=\"102\",z=\"2\"} 7.0");
        assert_int_equal(count_prefix(text, "g{"), 2);
        free(text);
    }
}

static void
test_gauge_mostrecent_without_time_has_no_sample(void **state)
{
    static const char key[] = "[\"g\", \"g\", {}, \"G.\"]";
    struct gpx_appmerge *m = gpx_appmerge_new();
    char *text;

    (void)state;
    add(m, GPX_PC_GAUGE, GPX_PC_MODE_MOSTRECENT, 5, key, 4.0, 0.0);
    text = render(m, GPX_FORMAT_TEXT);
    assert_line(text, "# TYPE g gauge");
    assert_int_equal(count_prefix(text, "g "), 0);
    free(text);
    gpx_appmerge_free(m);
}

static void
test_gauge_pid_label_is_the_files(void **state)
{
    /* An app label named pid gives way to the file's pid (all), or goes
     * (the reducing modes), as prometheus_client's merge does. */
    static const char key[] = "[\"g\", \"g\", {\"pid\": \"mine\"}, \"G.\"]";
    struct gpx_appmerge *m = gpx_appmerge_new();
    char *text;

    (void)state;
    add(m, GPX_PC_GAUGE, GPX_PC_MODE_ALL, 5, key, 1.0, 0.0);
    text = render(m, GPX_FORMAT_TEXT);
    assert_line(text, "g{pid=\"5\"} 1.0");
    free(text);
    gpx_appmerge_free(m);
}

#define BUCKET(le) "[\"h\", \"h_bucket\", {\"le\": \"" le "\", \"route\": \"/x\"}, \"H.\"]"
#define HSUM "[\"h\", \"h_sum\", {\"route\": \"/x\"}, \"H.\"]"

static void
test_histogram_buckets_cumulative(void **state)
{
    struct gpx_appmerge *m = gpx_appmerge_new();
    char *text;
    pid_t pid;

    (void)state;
    for (pid = 1; pid <= 2; pid++) {
        add(m, GPX_PC_HISTOGRAM, GPX_PC_MODE_NONE, pid, BUCKET("+Inf"), 1.0, 0.0);
        add(m, GPX_PC_HISTOGRAM, GPX_PC_MODE_NONE, pid, BUCKET("1.0"), 2.0, 0.0);
        add(m, GPX_PC_HISTOGRAM, GPX_PC_MODE_NONE, pid, BUCKET("0.5"), (double)pid, 0.0);
        add(m, GPX_PC_HISTOGRAM, GPX_PC_MODE_NONE, pid, BUCKET("15000000.0"), 0.0, 0.0);
        add(m, GPX_PC_HISTOGRAM, GPX_PC_MODE_NONE, pid, HSUM, 2.25, 0.0);
    }
    text = render(m, GPX_FORMAT_TEXT);
    assert_line(text, "# TYPE h histogram");
    /* Per process (non-cumulative in the files): 0.5 -> 1+2, 1.0 -> 4, 1.5e+07 -> 0, +Inf -> 2. */
    assert_line(text, "h_bucket{le=\"0.5\",route=\"/x\"} 3.0");
    assert_line(text, "h_bucket{le=\"1.0\",route=\"/x\"} 7.0");
    assert_line(text, "h_bucket{le=\"1.5e+07\",route=\"/x\"} 7.0");
    assert_line(text, "h_bucket{le=\"+Inf\",route=\"/x\"} 9.0");
    assert_line(text, "h_count{route=\"/x\"} 9.0");
    assert_line(text, "h_sum{route=\"/x\"} 4.5");
    free(text);
    gpx_appmerge_free(m);
}

static void
test_summary_summed(void **state)
{
    static const char count[] = "[\"s\", \"s_count\", {}, \"S.\"]";
    static const char sum[] = "[\"s\", \"s_sum\", {}, \"S.\"]";
    struct gpx_appmerge *m = gpx_appmerge_new();
    char *text;

    (void)state;
    add(m, GPX_PC_SUMMARY, GPX_PC_MODE_NONE, 1, count, 2.0, 0.0);
    add(m, GPX_PC_SUMMARY, GPX_PC_MODE_NONE, 2, count, 3.0, 0.0);
    add(m, GPX_PC_SUMMARY, GPX_PC_MODE_NONE, 1, sum, 0.5, 0.0);
    add(m, GPX_PC_SUMMARY, GPX_PC_MODE_NONE, 2, sum, 1e-7, 0.0);
    text = render(m, GPX_FORMAT_TEXT);
    assert_line(text, "# TYPE s summary");
    assert_line(text, "s_count 5.0");
    assert_line(text, "s_sum 0.5000001");
    free(text);
    gpx_appmerge_free(m);
}

static void
test_escaping_and_bad_keys(void **state)
{
    static const char key[] = "[\"c\", \"c_total\", {\"t\": \"q\\\"b\\\\n\\n\"}, \"a \\\\ b\\nc \\\"d\\\"\"]";
    struct gpx_appmerge *m = gpx_appmerge_new();
    char *text;

    (void)state;
    add(m, GPX_PC_COUNTER, GPX_PC_MODE_NONE, 1, key, 1.0, 0.0);
    assert_int_equal(gpx_appmerge_add(m, GPX_PC_COUNTER, GPX_PC_MODE_NONE, 1, "test.db", "[1]", 3, 1.0, 0.0), -1);
    /* A bucket bound float() refuses: the family is left out. */
    add(m, GPX_PC_HISTOGRAM, GPX_PC_MODE_NONE, 1, "[\"h\", \"h_bucket\", {\"le\": \"x\"}, \"\"]", 1.0, 0.0);
    text = render(m, GPX_FORMAT_TEXT);
    assert_int_equal(count_prefix(text, "# TYPE h "), 0);
    assert_line(text, "# HELP c_total a \\\\ b\\nc \"d\"");
    assert_line(text, "c_total{t=\"q\\\"b\\\\n\\n\"} 1.0");
    free(text);
    text = render(m, GPX_FORMAT_OPENMETRICS);
    assert_line(text, "# HELP c a \\\\ b\\nc \\\"d\\\"");
    free(text);
    gpx_appmerge_free(m);
}

/* -- names, collisions, the formats' rules ------------------------------------- */

/* What the report callback was told. */
struct told {
    unsigned lines;
    char last[1024];
    char all[8192];
};

static void
tell(void *ctx, const char *key, const char *line)
{
    struct told *t = ctx;
    size_t at = strlen(t->all);

    (void)key;
    t->lines++;
    snprintf(t->last, sizeof(t->last), "%s", line);
    snprintf(t->all + at, sizeof(t->all) - at, "%s\n", line);
}

/* Renders m with gpx's own names reserved, checks the page strictly (the
 * health families and, in OpenMetrics, the EOF after it), returns it. */
static char *
render_page(struct gpx_appmerge *m, enum gpx_format format, struct gpx_app_health *health)
{
    struct gpx_names reserved;
    struct gpx_buf out;
    char err[512];
    unsigned i;

    gpx_names_init(&reserved);
    for (i = 0; i < GPX_FAMILY_COUNT; i++) {
        assert_int_equal(gpx_names_reserve(&reserved, gpx_families[i].name, gpx_families[i].type), 0);
    }
    assert_int_equal(gpx_buf_init(&out, 1024), 0);
    assert_int_equal(gpx_apprender_families(m, &out, format, &reserved, health), 0);
    assert_int_equal(gpx_apprender_health(&out, format, health), 0);
    assert_int_equal(gpx_render_end(&out, format), 0);
    if (strict_page_check(out.data, out.len, format == GPX_FORMAT_OPENMETRICS, err, sizeof(err)) != 0) {
        print_error("invalid page: %s\n%s", err, out.data);
        fail();
    }
    gpx_names_free(&reserved);
    return gpx_buf_steal(&out, NULL);
}

/* As prometheus_client 0.26 renders the same names (generate_latest and
 * the OpenMetrics writer, run on these names): every character outside
 * the legacy set, and a leading digit, is one "_". */
static void
test_names_escaped_as_prometheus_client(void **state)
{
    struct gpx_appmerge *m = gpx_appmerge_new();
    char *text;

    (void)state;
    add(m, GPX_PC_COUNTER, GPX_PC_MODE_NONE, 1,
        "[\"app.dotted\", \"app.dotted_total\", {\"my.label\": \"v\"}, \"Dotted.\"]", 1.0, 0.0);
    add(m, GPX_PC_GAUGE, GPX_PC_MODE_MAX, 1, "[\"9lives \\u00e9\", \"9lives \\u00e9\", {\"l \\u00e9\": \"x\"}, \"S.\"]",
        3.0, 0.0);
    add(m, GPX_PC_COUNTER, GPX_PC_MODE_NONE, 1, "[\"a:b\", \"a:b_total\", {\"x\": \"1\"}, \"Colon.\"]", 2.0, 0.0);
    text = render_page(m, GPX_FORMAT_TEXT, NULL);
    assert_line(text, "# HELP app_dotted_total Dotted.");
    assert_line(text, "# TYPE app_dotted_total counter");
    assert_line(text, "app_dotted_total{my_label=\"v\"} 1.0");
    assert_line(text, "# TYPE _lives__ gauge");
    assert_line(text, "_lives__{l__=\"x\"} 3.0");
    assert_line(text, "# TYPE a:b_total counter");
    assert_line(text, "a:b_total{x=\"1\"} 2.0");
    free(text);
    text = render_page(m, GPX_FORMAT_OPENMETRICS, NULL);
    assert_line(text, "# TYPE app_dotted counter");
    assert_line(text, "app_dotted_total{my_label=\"v\"} 1.0");
    assert_line(text, "_lives__{l__=\"x\"} 3.0");
    /* prometheus_client writes "a_b_total" under "# TYPE a:b": its own
     * parser then reads a second family. The sample keeps the family's name. */
    assert_line(text, "# TYPE a:b counter");
    assert_line(text, "a:b_total{x=\"1\"} 2.0");
    free(text);
    gpx_appmerge_free(m);
}

/* A crafted file: a space and a newline in every name, quotes and newlines
 * in values and help. Nothing splits a line. */
static void
test_crafted_names_never_split_lines(void **state)
{
    static const char key[] =
        "[\"bad name\\nnext\", \"bad name\\nnext_total\", {\"la bel\\n\": \"v\\\"\\n\\\\\"}, \"h\\nh \\\"q\\\"\"]";
    struct gpx_appmerge *m = gpx_appmerge_new();
    char *text;
    int f;

    (void)state;
    add(m, GPX_PC_COUNTER, GPX_PC_MODE_NONE, 1, key, 4.0, 0.0);
    for (f = 0; f < 2; f++) {
        text = render_page(m, f ? GPX_FORMAT_OPENMETRICS : GPX_FORMAT_TEXT, NULL);
        assert_line(text, "bad_name_next_total{la_bel_=\"v\\\"\\n\\\\\"} 4.0");
        assert_line(text, f ? "# HELP bad_name_next h\\nh \\\"q\\\"" : "# HELP bad_name_next_total h\\nh \"q\"");
        assert_int_equal(count_prefix(text, "next"), 0);
        free(text);
    }
    gpx_appmerge_free(m);
}

/* The Gunicorn exporter's families (as its prometheus_client wrote them)
 * next to gpx's: left out, counted, each reported once naming its file. */
static void
test_families_claiming_gpx_names_left_out(void **state)
{
    struct gpx_appmerge *m = gpx_appmerge_new();
    struct gpx_app_health health;
    struct told told;
    char *text;

    (void)state;
    memset(&told, 0, sizeof(told));
    memset(&health, 0, sizeof(health));
    health.report = tell;
    health.report_ctx = &told;
    assert_int_equal(gpx_appmerge_add(m, GPX_PC_COUNTER, GPX_PC_MODE_NONE, 41, "counter_41.db",
                                      "[\"gunicorn_worker_requests\", \"gunicorn_worker_requests_total\", "
                                      "{\"worker_id\": \"1\"}, \"Requests.\"]",
                                      strlen("[\"gunicorn_worker_requests\", \"gunicorn_worker_requests_total\", "
                                             "{\"worker_id\": \"1\"}, \"Requests.\"]"),
                                      9.0, 0.0),
                     0);
    add(m, GPX_PC_HISTOGRAM, GPX_PC_MODE_NONE, 41,
        "[\"gunicorn_worker_request_duration_seconds\", \"gunicorn_worker_request_duration_seconds_sum\", "
        "{\"worker_id\": \"1\"}, \"D.\"]",
        0.5, 0.0);
    add(m, GPX_PC_GAUGE, GPX_PC_MODE_ALL, 41, "[\"gunicorn_workers_count\", \"gunicorn_workers_count\", {}, \"W.\"]",
        2.0, 0.0);
    add(m, GPX_PC_COUNTER, GPX_PC_MODE_NONE, 41, "[\"gunicorn.requests\", \"gunicorn.requests_total\", {}, \"R.\"]",
        1.0, 0.0);
    add(m, GPX_PC_COUNTER, GPX_PC_MODE_NONE, 41, "[\"app_hits\", \"app_hits_total\", {}, \"Hits.\"]", 3.0, 0.0);
    text = render_page(m, GPX_FORMAT_TEXT, &health);
    assert_int_equal(count_prefix(text, "# TYPE gunicorn_worker"), 0);
    assert_int_equal(count_prefix(text, "# TYPE gunicorn_requests"), 0);
    assert_line(text, "app_hits_total 3.0");
    assert_line(text, "gunicorn_exporter_app_families_dropped{reason=\"gpx_name\"} 4");
    assert_line(text, "gunicorn_exporter_app_families_dropped{reason=\"duplicate_name\"} 0");
    assert_line(text, "gunicorn_exporter_app_files_unreadable 0");
    assert_int_equal(told.lines, 4);
    assert_non_null(strstr(told.all, "the app's counter \"gunicorn_worker_requests\" (in counter_41.db) is left out of "
                                     "the page: its name gunicorn_worker_requests, or a _total"));
    assert_non_null(strstr(told.all, "\"gunicorn.requests\""));
    free(text);
    gpx_appmerge_free(m);
}

static unsigned
dropped_as(struct gpx_appmerge *m, enum gpx_format format, enum gpx_app_drop reason, char **text)
{
    struct gpx_app_health health;

    memset(&health, 0, sizeof(health));
    *text = render_page(m, format, &health);
    return health.dropped[reason];
}

/* Two of the app's families on one name: the one whose name needs no
 * escaping keeps it, whatever the order they were read in; then by name
 * and type. Families valid side by side both stay. */
static void
test_duplicate_names(void **state)
{
    static const char dotted[] = "[\"app.dotted\", \"app.dotted_total\", {}, \"D.\"]";
    static const char plain[] = "[\"app_dotted\", \"app_dotted_total\", {}, \"P.\"]";
    struct gpx_appmerge *m;
    char *text;
    int order;

    (void)state;
    for (order = 0; order < 2; order++) {
        m = gpx_appmerge_new();
        add(m, GPX_PC_COUNTER, GPX_PC_MODE_NONE, 1, order ? dotted : plain, 1.0, 0.0);
        add(m, GPX_PC_COUNTER, GPX_PC_MODE_NONE, 1, order ? plain : dotted, 2.0, 0.0);
        assert_int_equal(dropped_as(m, GPX_FORMAT_TEXT, GPX_APP_DROP_DUPLICATE_NAME, &text), 1);
        assert_line(text, "# HELP app_dotted_total P.");
        assert_line(text, order ? "app_dotted_total 2.0" : "app_dotted_total 1.0");
        free(text);
        gpx_appmerge_free(m);
    }

    m = gpx_appmerge_new();
    add(m, GPX_PC_GAUGE, GPX_PC_MODE_MAX, 1, "[\"x_total\", \"x_total\", {}, \"G.\"]", 1.0, 0.0);
    add(m, GPX_PC_COUNTER, GPX_PC_MODE_NONE, 1, "[\"x\", \"x_total\", {}, \"C.\"]", 2.0, 0.0);
    add(m, GPX_PC_GAUGE, GPX_PC_MODE_MAX, 1, "[\"y\", \"y\", {}, \"G.\"]", 3.0, 0.0);
    add(m, GPX_PC_COUNTER, GPX_PC_MODE_NONE, 1, "[\"y\", \"y_total\", {}, \"C.\"]", 4.0, 0.0);
    add(m, GPX_PC_GAUGE, GPX_PC_MODE_MAX, 1, "[\"a\", \"a\", {}, \"G.\"]", 5.0, 0.0);
    add(m, GPX_PC_GAUGE, GPX_PC_MODE_MAX, 1, "[\"a_sum\", \"a_sum\", {}, \"G.\"]", 6.0, 0.0);
    assert_int_equal(dropped_as(m, GPX_FORMAT_OPENMETRICS, GPX_APP_DROP_DUPLICATE_NAME, &text), 2);
    assert_line(text, "x_total 2.0"); /* the counter x, before the gauge x_total */
    assert_line(text, "y_total 4.0"); /* one name in two types: the counter's */
    assert_int_equal(count_prefix(text, "y "), 0);
    assert_line(text, "a 5.0");
    assert_line(text, "a_sum 6.0");
    free(text);
    gpx_appmerge_free(m);
}

static void
test_invalid_labels_and_samples(void **state)
{
    struct gpx_appmerge *m = gpx_appmerge_new();
    char *text;

    (void)state;
    add(m, GPX_PC_COUNTER, GPX_PC_MODE_NONE, 1, "[\"r\", \"r_total\", {\"__name__\": \"x\"}, \"R.\"]", 1.0, 0.0);
    add(m, GPX_PC_COUNTER, GPX_PC_MODE_NONE, 1,
        "[\"d\", \"d_total\", {\"my.label\": \"a\", \"my_label\": \"b\"}, \"D.\"]", 1.0, 0.0);
    add(m, GPX_PC_COUNTER, GPX_PC_MODE_NONE, 1, "[\"c\", \"c_created\", {}, \"C.\"]", 1.0, 0.0);
    add(m, GPX_PC_GAUGE, GPX_PC_MODE_MAX, 1, "[\"g\", \"other\", {}, \"G.\"]", 1.0, 0.0);
    add(m, GPX_PC_HISTOGRAM, GPX_PC_MODE_NONE, 1, "[\"h\", \"h_bucket\", {\"le\": \"NaN\"}, \"H.\"]", 1.0, 0.0);
    add(m, GPX_PC_HISTOGRAM, GPX_PC_MODE_NONE, 1, "[\"k\", \"k_sum\", {\"le\": \"1.0\"}, \"K.\"]", 1.0, 0.0);
    add(m, GPX_PC_SUMMARY, GPX_PC_MODE_NONE, 1, "[\"s\", \"s\", {\"quantile\": \"0.5\"}, \"S.\"]", 1.0, 0.0);
    add(m, GPX_PC_COUNTER, GPX_PC_MODE_NONE, 1, "[\"ok\", \"ok_total\", {}, \"OK.\"]", 1.0, 0.0);
    assert_int_equal(dropped_as(m, GPX_FORMAT_TEXT, GPX_APP_DROP_INVALID_LABELS, &text), 2);
    free(text);
    assert_int_equal(dropped_as(m, GPX_FORMAT_TEXT, GPX_APP_DROP_INVALID_SAMPLES, &text), 5);
    assert_line(text, "ok_total 1.0");
    assert_int_equal(count_prefix(text, "# TYPE"), 3); /* ok and the two health families */
    free(text);
    gpx_appmerge_free(m);
}

/* Where OpenMetrics forbids what prometheus_client writes: a histogram's
 * _sum and _count beside negative buckets, a negative summary _sum are
 * left out; a NaN counter, or a histogram without +Inf, leave the family
 * out of OpenMetrics pages. The text format keeps them all. */
static void
test_openmetrics_rules(void **state)
{
    struct gpx_appmerge *m = gpx_appmerge_new();
    char *text;

    (void)state;
    add(m, GPX_PC_HISTOGRAM, GPX_PC_MODE_NONE, 1, "[\"t\", \"t_bucket\", {\"le\": \"-5.0\"}, \"T.\"]", 1.0, 0.0);
    add(m, GPX_PC_HISTOGRAM, GPX_PC_MODE_NONE, 1, "[\"t\", \"t_bucket\", {\"le\": \"+Inf\"}, \"T.\"]", 0.0, 0.0);
    add(m, GPX_PC_HISTOGRAM, GPX_PC_MODE_NONE, 1, "[\"t\", \"t_sum\", {}, \"T.\"]", -7.5, 0.0);
    add(m, GPX_PC_SUMMARY, GPX_PC_MODE_NONE, 1, "[\"s\", \"s_count\", {}, \"S.\"]", 1.0, 0.0);
    add(m, GPX_PC_SUMMARY, GPX_PC_MODE_NONE, 1, "[\"s\", \"s_sum\", {}, \"S.\"]", -2.0, 0.0);
    add(m, GPX_PC_COUNTER, GPX_PC_MODE_NONE, 1, "[\"n\", \"n_total\", {}, \"N.\"]", NAN, 0.0);
    add(m, GPX_PC_HISTOGRAM, GPX_PC_MODE_NONE, 1, "[\"f\", \"f_bucket\", {\"le\": \"1.0\"}, \"F.\"]", 1.0, 0.0);
    add(m, GPX_PC_HISTOGRAM, GPX_PC_MODE_NONE, 1, "[\"f\", \"f_sum\", {}, \"F.\"]", 0.5, 0.0);

    assert_int_equal(dropped_as(m, GPX_FORMAT_TEXT, GPX_APP_DROP_INVALID_SAMPLES, &text), 0);
    assert_line(text, "t_sum -7.5");
    assert_line(text, "t_count 1.0");
    assert_line(text, "s_sum -2.0");
    assert_line(text, "n_total NaN");
    assert_line(text, "f_count 1.0");
    free(text);
    assert_int_equal(dropped_as(m, GPX_FORMAT_OPENMETRICS, GPX_APP_DROP_INVALID_SAMPLES, &text), 2);
    assert_line(text, "t_bucket{le=\"-5.0\"} 1.0");
    assert_line(text, "t_bucket{le=\"+Inf\"} 1.0");
    assert_int_equal(count_prefix(text, "t_sum"), 0);
    assert_int_equal(count_prefix(text, "t_count"), 0);
    assert_line(text, "s_count 1.0");
    assert_int_equal(count_prefix(text, "s_sum"), 0);
    assert_int_equal(count_prefix(text, "n_total"), 0);
    assert_int_equal(count_prefix(text, "f_"), 0);
    free(text);
    gpx_appmerge_free(m);
}

/* Histograms with several label sets: each set's samples together, as
 * OpenMetrics requires, whatever order the files gave them in. */
static void
test_groups_together(void **state)
{
    struct gpx_appmerge *m = gpx_appmerge_new();
    char *text;

    (void)state;
    add(m, GPX_PC_HISTOGRAM, GPX_PC_MODE_NONE, 1, "[\"h\", \"h_sum\", {\"r\": \"b\"}, \"H.\"]", 1.0, 0.0);
    add(m, GPX_PC_HISTOGRAM, GPX_PC_MODE_NONE, 1, "[\"h\", \"h_sum\", {\"r\": \"a\"}, \"H.\"]", 2.0, 0.0);
    add(m, GPX_PC_HISTOGRAM, GPX_PC_MODE_NONE, 1, "[\"h\", \"h_bucket\", {\"le\": \"+Inf\", \"r\": \"a\"}, \"H.\"]",
        1.0, 0.0);
    add(m, GPX_PC_HISTOGRAM, GPX_PC_MODE_NONE, 1, "[\"h\", \"h_bucket\", {\"le\": \"+Inf\", \"r\": \"b\"}, \"H.\"]",
        3.0, 0.0);
    add(m, GPX_PC_HISTOGRAM, GPX_PC_MODE_NONE, 1, "[\"h\", \"h_bucket\", {\"le\": \"1.0\", \"r\": \"a\"}, \"H.\"]", 1.0,
        0.0);
    text = render_page(m, GPX_FORMAT_OPENMETRICS, NULL);
    assert_line(text, "h_bucket{le=\"1.0\",r=\"a\"} 1.0");
    assert_line(text, "h_bucket{le=\"+Inf\",r=\"a\"} 2.0");
    assert_line(text, "h_count{r=\"a\"} 2.0");
    assert_line(text, "h_sum{r=\"b\"} 1.0");
    free(text);
    gpx_appmerge_free(m);
}

/* The strict checker the fuzz target trusts refuses what the parsers
 * refuse: each page of `refused` fails promtool (text) or
 * prometheus_client's OpenMetrics parser. `stricter` are pages they let
 * pass that the checker refuses still: Prometheus drops their duplicate
 * series at ingestion, or the OpenMetrics specification forbids them, and
 * gpx never writes them. A good page passes. */
static void
test_strict_checker_refuses(void **state)
{
    struct page {
        int om;
        const char *page;
    };
    static const struct page refused[] = {
        {0, "# HELP a h\n# TYPE a gauge\na 1\n# TYPE a gauge\na 2\n"},
        {0, "# HELP a h\n# TYPE a gauge\na{x=\"1\",x=\"2\"} 1\n"},
        {0, "# HELP a h\n# TYPE a gauge\na{x=\"\\t\"} 1\n"},
        {0, "# HELP a h\n# TYPE a gauge\na{__name__=\"b\"} 1\n"},
        {0, "# HELP a h\n# TYPE a gauge\na one\n"},
        {0, "# HELP a x\\y\n# TYPE a gauge\na 1\n"},
        {0, "# HELP a h\n# TYPE a b gauge\na 1\n"},
        {1, "# TYPE a gauge\na 1\n"},
        {1, "# TYPE a gauge\na 1\n# EOF\n# TYPE b gauge\n"},
        {1, "# TYPE c counter\nc_total -1\n# EOF\n"},
        {1, "# TYPE c counter\nc_total NaN\n# EOF\n"},
        {1, "# TYPE h histogram\nh_bucket{le=\"1.0\"} 1\nh_count 1\nh_sum 1\n# EOF\n"},
        {1, "# TYPE h histogram\nh_bucket{le=\"1.0\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 1\n# EOF\n"},
        {1, "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 2\nh_sum 1\n# EOF\n"},
        {1, "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n# EOF\n"},
        {1, "# TYPE h histogram\nh_bucket{le=\"-1.0\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 1\n# EOF\n"},
        {1, "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 0.5\n# EOF\n"},
        {1, "# TYPE h histogram\nh_bucket{le=\"NaN\"} 1\nh_bucket{le=\"+Inf\"} 1\n# EOF\n"},
        {1, "# TYPE x counter\nx_total 1\n# TYPE x_total gauge\nx_total 1\n# EOF\n"},
        {1, "# TYPE h histogram\nh_bucket{le=\"+Inf\",r=\"a\"} 1\nh_bucket{le=\"+Inf\",r=\"b\"} 1\n"
            "h_sum{r=\"a\"} 1\n# EOF\n"},
    };
    static const struct page stricter[] = {
        {0, "# HELP a h\n# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n"},
        {0, "# HELP a h\n# TYPE a gauge\nb 1\n"},
        {0, "# HELP a h\n# TYPE a gauge\na 1\n# HELP b h\nb 1\n"},
        {0, "# HELP a h\n# TYPE a gauge\na 1 2\n"},
        {0, "# HELP a_total h\n# TYPE a_total counter\na_total 1\n# HELP a h\n# TYPE a gauge\na 1\n"},
        {0, "# HELP a h\n# TYPE a gauge\n\na 1\n"},
        {1, "# HELP a say \"hi\"\n# TYPE a gauge\na 1\n# EOF\n"},
    };
    static const char good[] = "# HELP h a \\\"b\\\" \\\\ \\n\n# TYPE h histogram\nh_bucket{le=\"1.0\",r=\"a\\\"\"} 1\n"
                               "h_bucket{le=\"+Inf\",r=\"a\\\"\"} 2\nh_count{r=\"a\\\"\"} 2\nh_sum{r=\"a\\\"\"} 0.5\n"
                               "# TYPE c counter\nc_total 1.0\n# TYPE c_count gauge\nc_count -1e+07\n# EOF\n";
    char err[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        if (strict_page_check(refused[i].page, strlen(refused[i].page), refused[i].om, err, sizeof(err)) == 0) {
            print_error("passed: %s\n", refused[i].page);
            fail();
        }
    }
    for (i = 0; i < sizeof(stricter) / sizeof(stricter[0]); i++) {
        if (strict_page_check(stricter[i].page, strlen(stricter[i].page), stricter[i].om, err, sizeof(err)) == 0) {
            print_error("passed: %s\n", stricter[i].page);
            fail();
        }
    }
    if (strict_page_check(good, strlen(good), 1, err, sizeof(err)) != 0) {
        print_error("refused: %s\n", err);
        fail();
    }
}

static unsigned logged_lines;
static char logged_last[512];

static void
capture(const char *line)
{
    logged_lines++;
    snprintf(logged_last, sizeof(logged_last), "%s", line);
}

static void
test_log_once(void **state)
{
    struct gpx_app_log log;
    char key[32];
    unsigned i;

    (void)state;
    gpx_app_log_init(&log, capture);
    gpx_app_log_report(&log, "a", "first");
    gpx_app_log_report(&log, "a", "first again");
    gpx_app_log_report(&log, "b", "second");
    assert_int_equal(logged_lines, 2);
    assert_string_equal(logged_last, "gpx: second");
    for (i = 0; i < GPX_APP_LOG_KEYS + 10; i++) {
        snprintf(key, sizeof(key), "k%u", i);
        gpx_app_log_report(&log, key, key);
    }
    /* The set is full after GPX_APP_LOG_KEYS keys; one line says so. */
    assert_int_equal(logged_lines, GPX_APP_LOG_KEYS + 1);
    assert_non_null(strstr(logged_last, "are not logged"));
    gpx_names_free(&log.said);
    pthread_mutex_destroy(&log.lock);
}

static void
test_quote_keeps_one_line(void **state)
{
    struct gpx_buf b;

    (void)state;
    assert_int_equal(gpx_buf_init(&b, 64), 0);
    gpx_app_quote(&b, "a\nb\tc\\d\x01\xc3\xa9");
    assert_string_equal(b.data, "a\\nb\\tc\\\\d\\x01\\xc3\\xa9");
    gpx_buf_free(&b);
}

/* -- the store and folding -------------------------------------------------- */

static unsigned
files_in(int fd)
{
    DIR *d = fdopendir(openat(fd, ".", O_RDONLY | O_DIRECTORY));

    assert_non_null(d);
    return count_entries(d);
}

static int
exists(int fd, const char *name)
{
    return faccessat(fd, name, F_OK, 0) == 0;
}

static pid_t alive_pid = 200;

static int
only_alive_pid(void *ctx, pid_t pid)
{
    (void)ctx;
    return pid == alive_pid;
}

static char *
render_dir(int fd, const char *dir)
{
    struct gpx_appmetrics_place place = {dir, "gpx_t.appstore", "gpx_t.appstore.lock"};
    struct gpx_buf out;
    size_t len;

    (void)fd;
    assert_int_equal(gpx_buf_init(&out, 1024), 0);
    assert_int_equal(gpx_appmetrics_render(&out, &place, GPX_FORMAT_TEXT, NULL, NULL), 0);
    return gpx_buf_steal(&out, &len);
}

#define CKEY "[\"c\", \"c_total\", {}, \"C.\"]"
#define GKEY(mode) "[\"g_" mode "\", \"g_" mode "\", {}, \"G.\"]"

static void
test_fold_rules(void **state)
{
    struct scratch *s = *state;
    struct gpx_appstore st;
    struct gpx_appstore_fold_result r;
    char err[256], *text;

    gpx_appstore_init(&st);
    /* pid 100 ended, 200 runs, 300 is another server's (never noted). */
    write_pc_file(s->dirfd, "counter_100.db", CKEY, 4.0, 0.0);
    write_pc_file(s->dirfd, "counter_200.db", CKEY, 1.0, 0.0);
    write_pc_file(s->dirfd, "counter_300.db", CKEY, 10.0, 0.0);
    write_pc_file(s->dirfd, "gauge_max_100.db", GKEY("max"), 9.0, 0.0);
    write_pc_file(s->dirfd, "gauge_max_200.db", GKEY("max"), 5.0, 0.0);
    write_pc_file(s->dirfd, "gauge_min_100.db", GKEY("min"), 9.0, 0.0);
    write_pc_file(s->dirfd, "gauge_min_200.db", GKEY("min"), 5.0, 0.0);
    write_pc_file(s->dirfd, "gauge_sum_100.db", GKEY("sum"), 2.0, 0.0);
    write_pc_file(s->dirfd, "gauge_mostrecent_100.db", GKEY("mostrecent"), 8.0, 50.0);
    write_pc_file(s->dirfd, "gauge_mostrecent_200.db", GKEY("mostrecent"), 6.0, 40.0);
    write_pc_file(s->dirfd, "gauge_livesum_100.db", GKEY("livesum"), 3.0, 0.0);
    write_pc_file(s->dirfd, "gauge_livesum_200.db", GKEY("livesum"), 1.0, 0.0);
    write_pc_file(s->dirfd, "gauge_all_100.db", GKEY("all"), 3.0, 0.0);
    write_pc_file(s->dirfd, "gauge_all_200.db", GKEY("all"), 1.0, 0.0);
    assert_int_equal(gpx_appstore_note_pid(&st, 100), 1);
    assert_int_equal(gpx_appstore_note_pid(&st, 200), 1);
    assert_int_equal(gpx_appstore_note_pid(&st, 200), 0);
    assert_int_equal(gpx_appstore_save(&st, s->dirfd, "gpx_t.appstore"), 0);

    assert_int_equal(gpx_appstore_fold(&st, s->dirfd, "gpx_t.appstore", "gpx_t.appstore.lock", only_alive_pid, NULL,
                                       NULL, &r, err, sizeof(err)),
                     0);
    assert_int_equal(r.processes, 1);
    assert_int_equal(r.files, 7);
    assert_int_equal(r.waiting, 1);
    assert_false(exists(s->dirfd, "counter_100.db"));
    assert_true(exists(s->dirfd, "counter_200.db"));
    assert_true(exists(s->dirfd, "counter_300.db"));
    assert_int_equal(gpx_appstore_pid_state(&st, 100), GPX_PID_UNKNOWN);
    assert_int_equal(gpx_appstore_pid_state(&st, 200), GPX_PID_OWN);

    text = render_dir(s->dirfd, s->dir);
    assert_line(text, "c_total 15.0");
    assert_line(text, "g_max 9.0");
    assert_line(text, "g_min 5.0");
    assert_line(text, "g_sum 2.0");
    assert_line(text, "g_mostrecent 8.0");
    assert_line(text, "g_livesum 1.0"); /* the ended process's live gauge is gone */
    assert_line(text, "g_all{pid=\"200\"} 1.0");
    assert_int_equal(count_prefix(text, "g_all{"), 1);
    free(text);
    gpx_appstore_free(&st);

    /* What the master reloads from the file is what it held. */
    gpx_appstore_init(&st);
    assert_int_equal(gpx_appstore_load(&st, s->dirfd, "gpx_t.appstore"), 0);
    assert_int_equal(st.count, 5);
    assert_int_equal(gpx_appstore_pid_state(&st, 200), GPX_PID_OWN);
    gpx_appstore_free(&st);
}

static void
test_fold_exact_over_many_processes(void **state)
{
    struct scratch *s = *state;
    struct gpx_appstore st;
    struct gpx_appstore_fold_result r;
    char err[256], name[64], *text;
    pid_t pid;

    gpx_appstore_init(&st);
    /* 30 processes, each counting 10 then ending: 300, and no files left. */
    for (pid = 1000; pid < 1030; pid++) {
        snprintf(name, sizeof(name), "counter_%d.db", (int)pid);
        assert_int_equal(gpx_appstore_note_pid(&st, pid), 1);
        write_pc_file(s->dirfd, name, CKEY, 10.0, 0.0);
        assert_int_equal(gpx_appstore_fold(&st, s->dirfd, "gpx_t.appstore", "gpx_t.appstore.lock", only_alive_pid, NULL,
                                           NULL, &r, err, sizeof(err)),
                         0);
        assert_int_equal(r.processes, 1);
    }
    assert_int_equal(files_in(s->dirfd), 2); /* the store and its lock */
    assert_int_equal(st.pid_count, 0);
    text = render_dir(s->dirfd, s->dir);
    assert_line(text, "c_total 300.0");
    free(text);
    gpx_appstore_free(&st);
}

static void
test_fold_finishes_what_a_dead_master_left(void **state)
{
    /* The store says pid 500 was folded (its 7 are in the store) but its
     * file is still there: the master died before removing it. */
    struct scratch *s = *state;
    struct gpx_appstore st;
    struct gpx_appstore_fold_result r;
    char err[256], *text;

    gpx_appstore_init(&st);
    assert_int_equal(gpx_appstore_fold_value(&st, GPX_PC_COUNTER, GPX_PC_MODE_NONE, CKEY, strlen(CKEY), 7.0, 0.0), 0);
    assert_int_equal(gpx_appstore_note_pid(&st, 500), 1);
    st.pids[0].state = GPX_PID_FOLDED;
    assert_int_equal(gpx_appstore_save(&st, s->dirfd, "gpx_t.appstore"), 0);
    write_pc_file(s->dirfd, "counter_500.db", CKEY, 7.0, 0.0);
    gpx_appstore_free(&st);

    /* A reader skips the folded process's file: 7, not 14. */
    text = render_dir(s->dirfd, s->dir);
    assert_line(text, "c_total 7.0");
    free(text);

    gpx_appstore_init(&st);
    assert_int_equal(gpx_appstore_load(&st, s->dirfd, "gpx_t.appstore"), 0);
    assert_int_equal(gpx_appstore_fold(&st, s->dirfd, "gpx_t.appstore", "gpx_t.appstore.lock", only_alive_pid, NULL,
                                       NULL, &r, err, sizeof(err)),
                     0);
    assert_int_equal(r.processes, 0);
    assert_int_equal(r.files, 1);
    assert_false(exists(s->dirfd, "counter_500.db"));
    text = render_dir(s->dirfd, s->dir);
    assert_line(text, "c_total 7.0");
    free(text);
    gpx_appstore_free(&st);
}

/* Writes a file as prometheus_client before 0.18 does: values alone. */
static void
write_value_only_file(int dirfd, const char *name, const char *key, double value)
{
    struct gpx_buf b;

    assert_int_equal(gpx_buf_init(&b, 256), 0);
    gpx_pc_encode_begin(&b);
    gpx_pc_encode_entry_as(&b, GPX_PC_LAYOUT_VALUE, key, strlen(key), value, 0.0);
    gpx_pc_encode_end(&b);
    assert_int_equal(gpx_pc_replace_file(dirfd, name, b.data, b.len), 0);
    gpx_buf_free(&b);
}

static void
write_bytes(int dirfd, const char *name, const void *data, size_t len)
{
    assert_int_equal(gpx_pc_replace_file(dirfd, name, data, len), 0);
}

/* Files of both layouts in one directory, each read in its own; files gpx
 * cannot read whole counted and reported, their readable part served. */
static void
test_layouts_and_unreadable_files(void **state)
{
    struct scratch *s = *state;
    struct gpx_appmetrics_place place = {s->dir, "gpx_t.appstore", "gpx_t.appstore.lock"};
    struct gpx_app_health health;
    struct gpx_buf out, two;
    struct told told;
    static const char junk[64] = "\x28\x00\x00\x00\x00\x00\x00\x00\xff\xff\x00\x00garbage";

    write_pc_file(s->dirfd, "counter_10.db", CKEY, 5.0, 0.0);
    write_value_only_file(s->dirfd, "counter_11.db", CKEY, 7.0);
    /* A value-only file cut inside its second entry: the first is served. */
    assert_int_equal(gpx_buf_init(&two, 256), 0);
    gpx_pc_encode_begin(&two);
    gpx_pc_encode_entry_as(&two, GPX_PC_LAYOUT_VALUE, CKEY, strlen(CKEY), 100.0, 0.0);
    gpx_pc_encode_entry_as(&two, GPX_PC_LAYOUT_VALUE, GKEY("max"), strlen(GKEY("max")), 1.0, 0.0);
    gpx_pc_encode_end(&two);
    write_bytes(s->dirfd, "counter_12.db", two.data, two.len - 4);
    write_bytes(s->dirfd, "counter_13.db", junk, sizeof(junk));
    write_pc_file(s->dirfd, "counter_14.db", "[1, 2]", 0.0, 0.0);
    /* Named by something else than a pid: prometheus_client would read it. */
    write_pc_file(s->dirfd, "counter_worker-1.db", CKEY, 1000.0, 0.0);

    memset(&health, 0, sizeof(health));
    memset(&told, 0, sizeof(told));
    health.report = tell;
    health.report_ctx = &told;
    assert_int_equal(gpx_buf_init(&out, 1024), 0);
    assert_int_equal(gpx_appmetrics_render(&out, &place, GPX_FORMAT_TEXT, NULL, &health), 0);
    assert_line(out.data, "c_total 112.0");
    assert_int_equal(health.unreadable_files, 4);
    assert_int_equal(told.lines, 4);
    assert_non_null(strstr(told.all, "/counter_worker-1.db cannot be read whole: its name is not <kind>_<pid>.db"));
    assert_non_null(strstr(told.all, "/counter_12.db cannot be read whole: neither of prometheus_client's layouts"));
    assert_non_null(strstr(told.all, "/counter_13.db cannot be read whole"));
    assert_non_null(strstr(told.all, "/counter_14.db cannot be read whole: 1 of its entries have keys that are not "
                                     "prometheus_client's"));
    gpx_buf_free(&out);
    gpx_buf_free(&two);
}

struct left_seen {
    unsigned calls;
    char name[64];
};

static void
note_left(void *ctx, const char *file_name, enum gpx_pc_layout layout)
{
    struct left_seen *l = ctx;

    (void)layout;
    l->calls++;
    snprintf(l->name, sizeof(l->name), "%s", file_name);
}

static int
nobody_alive(void *ctx, pid_t pid)
{
    (void)ctx;
    (void)pid;
    return 0;
}

/* An ended process's value-only files are folded exactly; one it cannot
 * read whole is left in place, said, and still served as far as it reads. */
static void
test_fold_layouts_and_leave_unreadable(void **state)
{
    struct scratch *s = *state;
    struct gpx_appstore st;
    struct gpx_appstore_fold_result r;
    struct left_seen left;
    struct gpx_buf cut;
    char err[256], *text;

    gpx_appstore_init(&st);
    write_value_only_file(s->dirfd, "counter_100.db", CKEY, 4.0);
    write_value_only_file(s->dirfd, "gauge_max_100.db", GKEY("max"), 9.0);
    assert_int_equal(gpx_buf_init(&cut, 256), 0);
    gpx_pc_encode_begin(&cut);
    gpx_pc_encode_entry_as(&cut, GPX_PC_LAYOUT_VALUE, GKEY("min"), strlen(GKEY("min")), 3.0, 0.0);
    gpx_pc_encode_entry_as(&cut, GPX_PC_LAYOUT_VALUE, GKEY("min"), strlen(GKEY("min")), 3.0, 0.0);
    gpx_pc_encode_end(&cut);
    write_bytes(s->dirfd, "gauge_min_100.db", cut.data, cut.len - 4);
    assert_int_equal(gpx_appstore_note_pid(&st, 100), 1);
    memset(&left, 0, sizeof(left));
    assert_int_equal(gpx_appstore_fold(&st, s->dirfd, "gpx_t.appstore", "gpx_t.appstore.lock", nobody_alive, note_left,
                                       &left, &r, err, sizeof(err)),
                     0);
    assert_int_equal(r.processes, 1);
    assert_int_equal(r.files, 2);
    assert_int_equal(r.left, 1);
    assert_int_equal(left.calls, 1);
    assert_string_equal(left.name, "gauge_min_100.db");
    assert_false(exists(s->dirfd, "counter_100.db"));
    assert_true(exists(s->dirfd, "gauge_min_100.db"));
    text = render_dir(s->dirfd, s->dir);
    assert_line(text, "c_total 4.0");
    assert_line(text, "g_max 9.0");
    assert_line(text, "g_min 3.0");
    free(text);
    gpx_buf_free(&cut);
    gpx_appstore_free(&st);
}

static void
test_store_encoding_and_rebase(void **state)
{
    struct gpx_appstore base, now, stored, copy;
    struct gpx_buf b;
    struct gpx_appmerge *m;
    char *text;

    (void)state;
    gpx_appstore_init(&base);
    gpx_appstore_init(&stored);
    gpx_appstore_fold_value(&base, GPX_PC_COUNTER, GPX_PC_MODE_NONE, CKEY, strlen(CKEY), 5.0, 0.0);
    gpx_appstore_fold_value(&base, GPX_PC_GAUGE, GPX_PC_MODE_MAX, GKEY("max"), strlen(GKEY("max")), 2.0, 0.0);
    gpx_appstore_fold_value(&base, GPX_PC_GAUGE, GPX_PC_MODE_ALL, GKEY("all"), strlen(GKEY("all")), 2.0, 0.0);
    base.epoch = 42.0;
    gpx_appstore_note_pid(&base, 77);
    assert_int_equal(base.count, 2); /* `all` is not kept */

    /* Encoded and decoded: the same store. */
    assert_int_equal(gpx_buf_init(&b, 256), 0);
    assert_int_equal(gpx_appstore_encode(&base, &b), 0);
    gpx_appstore_init(&copy);
    assert_int_equal(gpx_appstore_decode(&copy, b.data, b.len), 0);
    assert_true(copy.epoch == 42.0);
    assert_int_equal(copy.count, 2);
    assert_int_equal(gpx_appstore_pid_state(&copy, 77), GPX_PID_OWN);
    gpx_appstore_free(&copy);
    gpx_buf_free(&b);

    /* Since the baseline: 3 more counted, the max rose to 9. Stored
     * elsewhere: 50 and a max of 4. */
    assert_int_equal(gpx_appstore_copy(&now, &base), 0);
    gpx_appstore_fold_value(&now, GPX_PC_COUNTER, GPX_PC_MODE_NONE, CKEY, strlen(CKEY), 3.0, 0.0);
    gpx_appstore_fold_value(&now, GPX_PC_GAUGE, GPX_PC_MODE_MAX, GKEY("max"), strlen(GKEY("max")), 9.0, 0.0);
    gpx_appstore_fold_value(&stored, GPX_PC_COUNTER, GPX_PC_MODE_NONE, CKEY, strlen(CKEY), 50.0, 0.0);
    gpx_appstore_fold_value(&stored, GPX_PC_GAUGE, GPX_PC_MODE_MAX, GKEY("max"), strlen(GKEY("max")), 4.0, 0.0);
    assert_int_equal(gpx_appstore_rebase(&now, &base, &stored), 0);
    assert_true(now.epoch == 42.0);
    assert_int_equal(gpx_appstore_pid_state(&now, 77), GPX_PID_OWN);
    m = gpx_appmerge_new();
    gpx_appmerge_add_store(m, &now, "gpx_t.appstore");
    text = render(m, GPX_FORMAT_TEXT);
    assert_line(text, "c_total 53.0");
    assert_line(text, "g_max 9.0");
    free(text);
    gpx_appmerge_free(m);
    gpx_appstore_free(&now);
    gpx_appstore_free(&stored);
    gpx_appstore_free(&base);
}

static void
test_damaged_store_keeps_what_it_can(void **state)
{
    struct scratch *s = *state;
    struct gpx_appstore st;
    struct gpx_buf b;

    gpx_appstore_init(&st);
    gpx_appstore_fold_value(&st, GPX_PC_COUNTER, GPX_PC_MODE_NONE, CKEY, strlen(CKEY), 5.0, 0.0);
    gpx_appstore_fold_value(&st, GPX_PC_SUMMARY, GPX_PC_MODE_NONE, CKEY, strlen(CKEY), 1.0, 0.0);
    assert_int_equal(gpx_buf_init(&b, 256), 0);
    gpx_appstore_encode(&st, &b);
    gpx_appstore_free(&st);
    assert_int_equal(gpx_pc_replace_file(s->dirfd, "gpx_t.appstore", b.data, b.len - 3), 0);
    gpx_appstore_init(&st);
    assert_int_equal(gpx_appstore_load(&st, s->dirfd, "gpx_t.appstore"), -1);
    assert_int_equal(st.count, 1);
    gpx_appstore_free(&st);
    gpx_buf_free(&b);
}

#define DIR_TEST(name) cmocka_unit_test_setup_teardown(name, scratch_setup, scratch_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_summed_both_formats),
        cmocka_unit_test(test_gauge_modes),
        cmocka_unit_test(test_gauge_mostrecent_without_time_has_no_sample),
        cmocka_unit_test(test_gauge_pid_label_is_the_files),
        cmocka_unit_test(test_histogram_buckets_cumulative),
        cmocka_unit_test(test_summary_summed),
        cmocka_unit_test(test_escaping_and_bad_keys),
        cmocka_unit_test(test_names_escaped_as_prometheus_client),
        cmocka_unit_test(test_crafted_names_never_split_lines),
        cmocka_unit_test(test_families_claiming_gpx_names_left_out),
        cmocka_unit_test(test_duplicate_names),
        cmocka_unit_test(test_invalid_labels_and_samples),
        cmocka_unit_test(test_openmetrics_rules),
        cmocka_unit_test(test_groups_together),
        cmocka_unit_test(test_strict_checker_refuses),
        cmocka_unit_test(test_log_once),
        cmocka_unit_test(test_quote_keeps_one_line),
        DIR_TEST(test_fold_rules),
        DIR_TEST(test_fold_exact_over_many_processes),
        DIR_TEST(test_fold_finishes_what_a_dead_master_left),
        DIR_TEST(test_layouts_and_unreadable_files),
        DIR_TEST(test_fold_layouts_and_leave_unreadable),
        cmocka_unit_test(test_store_encoding_and_rebase),
        DIR_TEST(test_damaged_store_keeps_what_it_can),
    };

    return cmocka_run_group_tests_name("gpx_appmetrics", tests, NULL, NULL);
}
