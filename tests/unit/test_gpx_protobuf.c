/* Unit tests of gpx_protobuf: a page encoded as delimited MetricFamily
 * messages, decoded again with protobuf-c, holds exactly the text page's
 * samples, HELP and TYPE; the negotiation that chooses it. */
#define _GNU_SOURCE
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
#include "gpx_negotiate.h"
#include "gpx_protobuf.h"
#include "metrics.pb-c.h"

/* Families as an app's prometheus_client page holds them, after gpx's own:
 * a counter, escapes in HELP and label values, a
 * summary with quantiles, an untyped sample, special values, a timestamp. */
static const char app_families[] = "# HELP app_jobs_total Jobs done \\\\ with a\\nnewline.\n"
                                   "# TYPE app_jobs_total counter\n"
                                   "app_jobs_total{queue=\"a\\\"b\\\\c\\nd\"} 12\n"
                                   "app_jobs_total{queue=\"\"} 0\n"
                                   "# HELP app_temperature A gauge.\n"
                                   "# TYPE app_temperature gauge\n"
                                   "app_temperature -3.5\n"
                                   "app_temperature{where=\"out\"} +Inf\n"
                                   "app_temperature{where=\"in\"} NaN\n"
                                   "# HELP app_latency_seconds A summary.\n"
                                   "# TYPE app_latency_seconds summary\n"
                                   "app_latency_seconds{quantile=\"0.5\",path=\"/\"} 0.25\n"
                                   "app_latency_seconds{quantile=\"0.99\",path=\"/\"} 1.5\n"
                                   "app_latency_seconds_count{path=\"/\"} 7\n"
                                   "app_latency_seconds_sum{path=\"/\"} 3.25\n"
                                   "# HELP app_loose_sample \n"
                                   "# TYPE app_loose_sample untyped\n"
                                   "app_loose_sample{a=\"1\",b=\"2\",} 42 1700000000123\n"
                                   "# HELP app_sizes_bytes A histogram.\n"
                                   "# TYPE app_sizes_bytes histogram\n"
                                   "app_sizes_bytes_bucket{path=\"/x\",le=\"0.5\"} 1\n"
                                   "app_sizes_bytes_bucket{path=\"/x\",le=\"1e+06\"} 3\n"
                                   "app_sizes_bytes_bucket{path=\"/x\",le=\"+Inf\"} 4\n"
                                   "app_sizes_bytes_count{path=\"/x\"} 4\n"
                                   "app_sizes_bytes_sum{path=\"/x\"} 2000001.5\n"
                                   "app_sizes_bytes_bucket{le=\"0.5\"} 0\n"
                                   "app_sizes_bytes_bucket{le=\"1e+06\"} 0\n"
                                   "app_sizes_bytes_bucket{le=\"+Inf\"} 0\n"
                                   "app_sizes_bytes_count 0\n"
                                   "app_sizes_bytes_sum 0\n"
                                   "# EOF-like comments are skipped\n";

/* One line of a page in a form both sides can be written to. */
/* Freed memory is overwritten, so that what still points into it fails. */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
    return "max_free_fill_size=1048576:free_fill_byte=255";
}

static void
put_line(struct gpx_buf *out, const char *name, const char *suffix, Io__Prometheus__Client__LabelPair **labels,
         size_t n, const char *extra_name, const char *extra_value, double value, int have_ts, int64_t ts)
{
    size_t i;
    int any = 0;

    gpx_buf_printf(out, "%s%s{", name, suffix);
    for (i = 0; i < n; i++) {
        gpx_buf_printf(out, "%s%s=\"", any++ ? "," : "", labels[i]->name);
        gpx_render_label_value(out, labels[i]->value);
        gpx_buf_puts(out, "\"");
    }
    if (extra_name != NULL) {
        gpx_buf_printf(out, "%s%s=\"%s\"", any++ ? "," : "", extra_name, extra_value);
    }
    gpx_buf_printf(out, "} %.17g", value);
    if (have_ts) {
        gpx_buf_printf(out, " %lld", (long long)ts);
    }
    gpx_buf_puts(out, "\n");
}

/* The samples of the decoded families as lines "name{labels} value", and
 * "# family name type help" before each family's. */
static void
expand(struct gpx_buf *out, const uint8_t *p, size_t len)
{
    static const char *const types[] = {"counter", "gauge", "summary", "untyped", "histogram", "gaugehistogram"};
    size_t at = 0;

    while (at < len) {
        uint64_t size = 0;
        unsigned shift = 0;
        Io__Prometheus__Client__MetricFamily *f;
        size_t m, b;

        do {
            assert_true(at < len);
            size |= (uint64_t)(p[at] & 0x7f) << shift;
            shift += 7;
        } while (p[at++] & 0x80);
        assert_true(size <= len - at);
        f = io__prometheus__client__metric_family__unpack(NULL, size, p + at);
        assert_non_null(f);
        at += size;
        assert_true(f->has_type);
        gpx_buf_printf(out, "# family %s %s ", f->name, types[f->type]);
        gpx_render_label_value(out, f->help != NULL ? f->help : "");
        gpx_buf_puts(out, "\n");
        for (m = 0; m < f->n_metric; m++) {
            const Io__Prometheus__Client__Metric *x = f->metric[m];
            char bound[64];

            if (x->histogram != NULL) {
                for (b = 0; b < x->histogram->n_bucket; b++) {
                    snprintf(bound, sizeof(bound), "%.17g", x->histogram->bucket[b]->upper_bound);
                    put_line(out, f->name, "_bucket", x->label, x->n_label, "le", bound,
                             (double)x->histogram->bucket[b]->cumulative_count, 0, 0);
                }
                put_line(out, f->name, "_bucket", x->label, x->n_label, "le", "inf", (double)x->histogram->sample_count,
                         0, 0);
                put_line(out, f->name, "_count", x->label, x->n_label, NULL, NULL, (double)x->histogram->sample_count,
                         0, 0);
                put_line(out, f->name, "_sum", x->label, x->n_label, NULL, NULL, x->histogram->sample_sum, 0, 0);
            } else if (x->summary != NULL) {
                for (b = 0; b < x->summary->n_quantile; b++) {
                    snprintf(bound, sizeof(bound), "%.17g", x->summary->quantile[b]->quantile);
                    put_line(out, f->name, "", x->label, x->n_label, "quantile", bound, x->summary->quantile[b]->value,
                             0, 0);
                }
                put_line(out, f->name, "_count", x->label, x->n_label, NULL, NULL, (double)x->summary->sample_count, 0,
                         0);
                put_line(out, f->name, "_sum", x->label, x->n_label, NULL, NULL, x->summary->sample_sum, 0, 0);
            } else {
                double v = x->counter != NULL ? x->counter->value
                           : x->gauge != NULL ? x->gauge->value
                                              : (assert_non_null(x->untyped), x->untyped->value);

                put_line(out, f->name, "", x->label, x->n_label, NULL, NULL, v, x->has_timestamp_ms, x->timestamp_ms);
            }
        }
        io__prometheus__client__metric_family__free_unpacked(f, NULL);
    }
}

/* Unescapes a HELP text in place (\\ and \n). */
static void
unescape_help(char *h)
{
    char *o = h;

    for (; *h; h++) {
        if (*h == '\\' && (h[1] == 'n' || h[1] == '\\')) {
            h++;
            *o++ = *h == 'n' ? '\n' : '\\';
        } else {
            *o++ = *h;
        }
    }
    *o = '\0';
}

/* The same lines from the text page, read by a reader of its own: labels
 * in their order but le and quantile last, le and quantile and the values
 * through strtod. A family line for each TYPE line (after its HELP). */
static void
expand_text(struct gpx_buf *out, const char *text)
{
    const char *p = text;
    static char line[8192], help[8192];

    help[0] = '\0';
    while (*p != '\0') {
        const char *eol = strchr(p, '\n');
        char *q, *name_end, *special = NULL, *special_name = NULL;
        int any = 0;

        assert_true((size_t)(eol - p) < sizeof(line));
        memcpy(line, p, (size_t)(eol - p));
        line[eol - p] = '\0';
        p = eol + 1;
        if (strncmp(line, "# HELP ", 7) == 0) {
            q = strchr(line + 7, ' ');
            strcpy(help, q + 1);
            unescape_help(help);
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            q = strchr(line + 7, ' ');
            *q = '\0';
            gpx_buf_printf(out, "# family %s %s ", line + 7, q + 1);
            gpx_render_label_value(out, help);
            gpx_buf_puts(out, "\n");
            continue;
        }
        if (line[0] == '#' || line[0] == '\0') {
            continue;
        }
        name_end = line + strcspn(line, "{ ");
        gpx_buf_printf(out, "%.*s{", (int)(name_end - line), line);
        q = name_end;
        if (*q == '{') {
            q++;
            while (*q != '}') {
                char *eq = strchr(q, '='), *v = eq + 2, *e = v;

                while (*e != '"') {
                    e += *e == '\\' ? 2 : 1;
                }
                *eq = '\0';
                *e = '\0';
                if (strcmp(q, "le") == 0 || strcmp(q, "quantile") == 0) {
                    special_name = q;
                    special = v;
                } else {
                    gpx_buf_printf(out, "%s%s=\"%s\"", any++ ? "," : "", q, v);
                }
                q = e + 1;
                q += *q == ',';
            }
            q++;
        }
        if (special != NULL) {
            double bound = strtod(special, NULL);

            if (isinf(bound)) {
                gpx_buf_printf(out, "%s%s=\"inf\"", any++ ? "," : "", special_name);
            } else {
                gpx_buf_printf(out, "%s%s=\"%.17g\"", any++ ? "," : "", special_name, bound);
            }
        }
        {
            char *stop;
            double v = strtod(q + 1, &stop);

            gpx_buf_printf(out, "} %.17g%s\n", v, stop);
        }
    }
}

static void
assert_round_trip(const char *text)
{
    struct gpx_buf pb, a, b;

    assert_int_equal(gpx_buf_init(&pb, 0), 0);
    assert_int_equal(gpx_buf_init(&a, 0), 0);
    assert_int_equal(gpx_buf_init(&b, 0), 0);
    assert_int_equal(gpx_protobuf_from_text(&pb, text, strlen(text)), 0);
    expand(&a, (const uint8_t *)pb.data, pb.len);
    expand_text(&b, text);
    assert_false(a.failed || b.failed);
    if (strcmp(a.data, b.data) != 0) {
        size_t i = 0;

        while (a.data[i] == b.data[i]) {
            i++;
        }
        print_error("decoded and text differ at %zu:\n--- decoded\n%.300s\n--- text\n%.300s\n", i,
                    a.data + (i > 100 ? i - 100 : 0), b.data + (i > 100 ? i - 100 : 0));
        fail();
    }
    gpx_buf_free(&pb);
    gpx_buf_free(&a);
    gpx_buf_free(&b);
}

/* gpx's own page of a board with every family, then the app's families. */
static void
test_protobuf_round_trip(void **state)
{
    struct gpx_scoreboard board;
    struct gpx_worker_view views[3];
    struct gpx_listener_view listener = {"127.0.0.1:8000", 3, 128};
    struct gpx_exposition x;
    struct gpx_buf page;
    char err[256];
    unsigned w, c;

    (void)state;
    assert_int_equal(gpx_scoreboard_open_anonymous(&board, 3, 2, err, sizeof(err)), 0);
    for (w = 1; w <= 3; w++) {
        for (c = 0; c < 2; c++) {
            record_mix(gpx_scoreboard_cell(&board, w, c), w * 2 + c, 60);
        }
    }
    memset(views, 0, sizeof(views));
    views[0].live = views[1].live = 1;
    views[0].memory_bytes = 1048576;
    views[1].cpu_percent = 12.5;
    memset(&x, 0, sizeof(x));
    x.board = &board;
    x.workers = views;
    x.worker_count = 3;
    x.version = "1.0";
    x.uwsgi_version = "2.0.21";
    x.storage = "files";
    x.listeners = &listener;
    x.listener_count = 1;
    x.format = GPX_FORMAT_TEXT;
    assert_int_equal(gpx_buf_init(&page, 0), 0);
    assert_int_equal(gpx_render(&page, &x), 0);
    assert_int_equal(gpx_buf_puts(&page, app_families), 0);
    assert_round_trip(page.data);
    gpx_buf_free(&page);
    gpx_scoreboard_close(&board);
}

/* Families of hundreds of series each: the encoder's arrays move while
 * they grow, and freed memory is overwritten (ASan's free fill below), so
 * that a message still pointing into a moved array is seen. */
static void
test_protobuf_large_families(void **state)
{
    struct gpx_buf page;
    unsigned i;

    (void)state;
    assert_int_equal(gpx_buf_init(&page, 0), 0);
    gpx_buf_puts(&page, "# HELP g G.\n# TYPE g gauge\n");
    for (i = 0; i < 300; i++) {
        gpx_buf_printf(&page, "g{i=\"%u\"} %u.5\n", i, i);
    }
    gpx_buf_puts(&page, "# HELP c_total C.\n# TYPE c_total counter\n");
    for (i = 0; i < 300; i++) {
        gpx_buf_printf(&page, "c_total{i=\"%u\"} %u\n", i, i * 7);
    }
    gpx_buf_puts(&page, "# HELP h H.\n# TYPE h histogram\n");
    for (i = 0; i < 200; i++) {
        gpx_buf_printf(&page, "h_bucket{i=\"%u\",le=\"1.0\"} %u\nh_bucket{i=\"%u\",le=\"+Inf\"} %u\n", i, i, i, 2 * i);
        gpx_buf_printf(&page, "h_count{i=\"%u\"} %u\nh_sum{i=\"%u\"} %u.25\n", i, 2 * i, i, i);
    }
    assert_false(page.failed);
    assert_round_trip(page.data);
    gpx_buf_free(&page);
}

/* Exact counts of a known page: 2 families, the histogram's buckets
 * without +Inf. */
static void
test_protobuf_exact(void **state)
{
    static const char text[] = "# HELP h Help.\n# TYPE h histogram\n"
                               "h_bucket{le=\"0.1\"} 2\nh_bucket{le=\"+Inf\"} 5\nh_count 5\nh_sum 1.5\n"
                               "# HELP c_total C.\n# TYPE c_total counter\nc_total{a=\"x\"} 9\n";
    struct gpx_buf pb;
    Io__Prometheus__Client__MetricFamily *f;
    const uint8_t *p;

    (void)state;
    assert_int_equal(gpx_buf_init(&pb, 0), 0);
    assert_int_equal(gpx_protobuf_from_text(&pb, text, strlen(text)), 0);
    p = (const uint8_t *)pb.data;
    f = io__prometheus__client__metric_family__unpack(NULL, p[0], p + 1);
    assert_non_null(f);
    assert_string_equal(f->name, "h");
    assert_int_equal(f->type, IO__PROMETHEUS__CLIENT__METRIC_TYPE__HISTOGRAM);
    assert_int_equal(f->n_metric, 1);
    assert_int_equal(f->metric[0]->histogram->sample_count, 5);
    assert_true(f->metric[0]->histogram->sample_sum == 1.5);
    assert_int_equal(f->metric[0]->histogram->n_bucket, 1);
    assert_int_equal(f->metric[0]->histogram->bucket[0]->cumulative_count, 2);
    assert_true(f->metric[0]->histogram->bucket[0]->upper_bound == 0.1);
    p += 1 + p[0];
    io__prometheus__client__metric_family__free_unpacked(f, NULL);
    f = io__prometheus__client__metric_family__unpack(NULL, p[0], p + 1);
    assert_non_null(f);
    assert_string_equal(f->name, "c_total");
    assert_string_equal(f->help, "C.");
    assert_int_equal(f->type, IO__PROMETHEUS__CLIENT__METRIC_TYPE__COUNTER);
    assert_string_equal(f->metric[0]->label[0]->name, "a");
    assert_string_equal(f->metric[0]->label[0]->value, "x");
    assert_true(f->metric[0]->counter->value == 9);
    assert_int_equal((size_t)(p + 1 + p[0] - (const uint8_t *)pb.data), pb.len);
    io__prometheus__client__metric_family__free_unpacked(f, NULL);
    gpx_buf_free(&pb);
}

/* gpx's own lines for the protobuf page: an exemplar after a bucket, and
 * a native histogram after a histogram's lines, become the fields the
 * format has for them, exactly. */
static void
test_protobuf_native_and_exemplars(void **state)
{
    static const char text[] =
        "# HELP h Help.\n# TYPE h histogram\n"
        "h_bucket{method=\"GET\",le=\"0.005\"} 3 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\","
        "span_id=\"00f067aa0ba902b7\"} 0.0042 1733350000.25\n"
        "h_bucket{method=\"GET\",le=\"+Inf\"} 6\nh_count{method=\"GET\"} 6\nh_sum{method=\"GET\"} 2.5\n"
        "# NATIVE 3 9.5367431640625e-07 1 -60:2 -59:1 -50:2\n";
    struct gpx_buf pb;
    Io__Prometheus__Client__MetricFamily *f;
    const Io__Prometheus__Client__Histogram *h;
    const Io__Prometheus__Client__Exemplar *e;
    const uint8_t *p;
    size_t size;

    (void)state;
    assert_int_equal(gpx_buf_init(&pb, 0), 0);
    assert_int_equal(gpx_protobuf_from_text(&pb, text, strlen(text)), 0);
    p = (const uint8_t *)pb.data;
    assert_true(p[0] & 0x80 && !(p[1] & 0x80)); /* a two-byte length */
    size = (size_t)(p[0] & 0x7f) | (size_t)p[1] << 7;
    assert_int_equal(size + 2, pb.len);
    f = io__prometheus__client__metric_family__unpack(NULL, size, p + 2);
    assert_non_null(f);
    h = f->metric[0]->histogram;
    assert_int_equal(h->sample_count, 6);
    assert_int_equal(h->schema, 3);
    assert_true(h->zero_threshold == ldexp(1.0, -20));
    assert_int_equal(h->zero_count, 1);
    assert_int_equal(h->n_positive_span, 2);
    assert_int_equal(h->positive_span[0]->offset, -60);
    assert_int_equal(h->positive_span[0]->length, 2);
    assert_int_equal(h->positive_span[1]->offset, 8);
    assert_int_equal(h->positive_span[1]->length, 1);
    assert_int_equal(h->n_positive_delta, 3);
    assert_int_equal(h->positive_delta[0], 2);
    assert_int_equal(h->positive_delta[1], -1);
    assert_int_equal(h->positive_delta[2], 1);
    assert_int_equal(h->n_bucket, 1);
    e = h->bucket[0]->exemplar;
    assert_non_null(e);
    assert_int_equal(e->n_label, 2);
    assert_string_equal(e->label[0]->name, "trace_id");
    assert_string_equal(e->label[0]->value, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(e->label[1]->value, "00f067aa0ba902b7");
    assert_true(e->value == 0.0042);
    assert_int_equal(e->timestamp->seconds, 1733350000);
    assert_int_equal(e->timestamp->nanos, 250000000);
    assert_int_equal(h->n_exemplars, 1);
    assert_string_equal(h->exemplars[0]->label[0]->value, "4bf92f3577b34da6a3ce929d0e0e4736");
    io__prometheus__client__metric_family__free_unpacked(f, NULL);
    gpx_buf_free(&pb);
}

/* A line that is not of the text format fails the page. */
static void
test_protobuf_refuses_broken_lines(void **state)
{
    static const char *const broken[] = {"x{a=\"1\" 1\n",
                                         "x 1 2 3\n",
                                         "x{a=1} 2\n",
                                         "9x 1\n",
                                         "x abc\n",
                                         "# TYPE h histogram\nh_bucket 1\n",
                                         "x 1 1e30\n",
                                         "x 1 NaN\n",
                                         "# NATIVE 3 0 0 1:1\n",
                                         "# TYPE h histogram\nh_count 1\n# NATIVE 3 0 0 2:1 1:1\n",
                                         "# TYPE h histogram\nh_count 1\n# NATIVE 3 0 0 2:0\n",
                                         "# TYPE h histogram\nh_bucket{le=\"1\"} 1 # {a=\"b\"}\n"};
    unsigned i;

    (void)state;
    for (i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
        struct gpx_buf pb;

        assert_int_equal(gpx_buf_init(&pb, 0), 0);
        assert_int_equal(gpx_protobuf_from_text(&pb, broken[i], strlen(broken[i])), -1);
        gpx_buf_free(&pb);
    }
}

/* Prometheus' Accept headers: 2.42 with native histograms on asks for
 * protobuf first; without, for OpenMetrics or text. */
static void
test_negotiate_protobuf(void **state)
{
    (void)state;
    assert_int_equal(gpx_negotiate_format("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
                                          "encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,"
                                          "application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;"
                                          "q=0.5,*/*;q=0.1"),
                     GPX_FORMAT_PROTOBUF);
    assert_int_equal(gpx_negotiate_format(GPX_PROTOBUF_CONTENT_TYPE), GPX_FORMAT_PROTOBUF);
    assert_int_equal(gpx_negotiate_format("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                                          "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
                     GPX_FORMAT_OPENMETRICS);
    /* Another message, another encoding, a weight of 0 or below text's. */
    assert_int_equal(gpx_negotiate_format("application/vnd.google.protobuf;proto=other.Message;encoding=delimited"),
                     GPX_FORMAT_TEXT);
    assert_int_equal(gpx_negotiate_format("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
                                          "encoding=text"),
                     GPX_FORMAT_TEXT);
    assert_int_equal(gpx_negotiate_format("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
                                          "encoding=delimited;q=0"),
                     GPX_FORMAT_TEXT);
    assert_int_equal(gpx_negotiate_format("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
                                          "encoding=delimited;q=0.4,text/plain;version=0.0.4;q=0.5"),
                     GPX_FORMAT_TEXT);
    assert_int_equal(gpx_negotiate_format("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
                                          "encoding=delimited;q=0.7,application/openmetrics-text;q=0.8"),
                     GPX_FORMAT_OPENMETRICS);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_protobuf_round_trip),
        cmocka_unit_test(test_protobuf_large_families),
        cmocka_unit_test(test_protobuf_exact),
        cmocka_unit_test(test_protobuf_refuses_broken_lines),
        cmocka_unit_test(test_protobuf_native_and_exemplars),
        cmocka_unit_test(test_negotiate_protobuf),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
