/* Unit tests of gpx_uwsgi_metrics.c: uWSGI metric names to Prometheus
 * names and labels, one HELP/TYPE per family, escaping, clashes. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "gpx_test_support.h"
#include "gpx_uwsgi_metrics.h"

static void
check_map(const char *name, enum gpx_uwsgi_metric_type type, const char *family, int counter, const char *help,
          const char *worker, const char *core, const char *socket)
{
    struct gpx_uwsgi_series s;
    unsigned expected = (worker != NULL) + (core != NULL) + (socket != NULL), i = 0;

    assert_int_equal(gpx_uwsgi_series_map(&s, name, type), 0);
    assert_string_equal(s.family, family);
    assert_int_equal(s.counter, counter);
    assert_string_equal(s.help, help);
    assert_int_equal(s.labels, expected);
    if (worker != NULL) {
        assert_string_equal(s.label_names[i], "worker");
        assert_string_equal(s.label_values[i++], worker);
    }
    if (core != NULL) {
        assert_string_equal(s.label_names[i], "core");
        assert_string_equal(s.label_values[i++], core);
    }
    if (socket != NULL) {
        assert_string_equal(s.label_names[i], "socket");
        assert_string_equal(s.label_values[i++], socket);
    }
    gpx_uwsgi_series_free(&s);
}

static void
test_names_of_uwsgi_patterns_become_labels(void **state)
{
    (void)state;
    check_map("worker.1.requests", GPX_UWSGI_COUNTER, "uwsgi_worker_requests", 1,
              "uWSGI metric worker.<worker>.requests", "1", NULL, NULL);
    check_map("worker.12.core.3.write_errors", GPX_UWSGI_COUNTER, "uwsgi_worker_core_write_errors", 1,
              "uWSGI metric worker.<worker>.core.<core>.write_errors", "12", "3", NULL);
    check_map("worker.0.avg_response_time", GPX_UWSGI_GAUGE, "uwsgi_worker_avg_response_time", 0,
              "uWSGI metric worker.<worker>.avg_response_time", "0", NULL, NULL);
    check_map("worker.2.delta_requests", GPX_UWSGI_ABSOLUTE, "uwsgi_worker_delta_requests", 0,
              "uWSGI metric worker.<worker>.delta_requests", "2", NULL, NULL);
    check_map("socket.0.listen_queue", GPX_UWSGI_GAUGE, "uwsgi_socket_listen_queue", 0,
              "uWSGI metric socket.<socket>.listen_queue", NULL, NULL, "0");
}

static void
test_other_names_keep_their_words(void **state)
{
    (void)state;
    check_map("core.routed_signals", GPX_UWSGI_COUNTER, "uwsgi_core_routed_signals", 1,
              "uWSGI metric core.routed_signals", NULL, NULL, NULL);
    check_map("rss_size", GPX_UWSGI_GAUGE, "uwsgi_rss_size", 0, "uWSGI metric rss_size", NULL, NULL, NULL);
    /* '.' and '-' are the characters uWSGI allows that Prometheus does not. */
    check_map("app.cache-hits", GPX_UWSGI_COUNTER, "uwsgi_app_cache_hits", 1, "uWSGI metric app.cache-hits", NULL, NULL,
              NULL);
    check_map("9lives", GPX_UWSGI_GAUGE, "uwsgi_9lives", 0, "uWSGI metric 9lives", NULL, NULL, NULL);
    /* Not uWSGI's patterns: no number, or nothing after it. */
    check_map("worker.x.requests", GPX_UWSGI_COUNTER, "uwsgi_worker_x_requests", 1, "uWSGI metric worker.x.requests",
              NULL, NULL, NULL);
    check_map("worker.1.", GPX_UWSGI_GAUGE, "uwsgi_worker_1_", 0, "uWSGI metric worker.1.", NULL, NULL, NULL);
    check_map("worker.1.core.x.requests", GPX_UWSGI_COUNTER, "uwsgi_worker_core_x_requests", 1,
              "uWSGI metric worker.<worker>.core.x.requests", "1", NULL, NULL);
    check_map("socket.1.core.2.x", GPX_UWSGI_GAUGE, "uwsgi_socket_core_2_x", 0, "uWSGI metric socket.<socket>.core.2.x",
              NULL, NULL, "1");
}

static void
test_a_counter_gets_one_total_suffix(void **state)
{
    (void)state;
    check_map("jobs_total", GPX_UWSGI_COUNTER, "uwsgi_jobs", 1, "uWSGI metric jobs_total", NULL, NULL, NULL);
    check_map("jobs_total", GPX_UWSGI_GAUGE, "uwsgi_jobs_total", 0, "uWSGI metric jobs_total", NULL, NULL, NULL);
    check_map("_total", GPX_UWSGI_COUNTER, "uwsgi__total", 1, "uWSGI metric _total", NULL, NULL, NULL);
}

static char *
render(const struct gpx_uwsgi_metric *m, size_t n, enum gpx_format format)
{
    struct gpx_buf out;

    assert_int_equal(gpx_buf_init(&out, 16), 0);
    assert_int_equal(gpx_uwsgi_metrics_render(&out, m, n, format), 0);
    return gpx_buf_steal(&out, NULL);
}

static void
test_families_are_grouped_and_sorted(void **state)
{
    /* uWSGI's own order interleaves families worker by worker. */
    const struct gpx_uwsgi_metric m[] = {
        {"worker.0.requests", GPX_UWSGI_COUNTER, 30},        {"worker.0.core.0.requests", GPX_UWSGI_COUNTER, 0},
        {"worker.0.rss_size", GPX_UWSGI_GAUGE, 0},           {"worker.10.requests", GPX_UWSGI_COUNTER, 10},
        {"worker.10.core.0.requests", GPX_UWSGI_COUNTER, 6}, {"worker.10.core.1.requests", GPX_UWSGI_COUNTER, 4},
        {"worker.10.rss_size", GPX_UWSGI_GAUGE, 4096},       {"worker.2.requests", GPX_UWSGI_COUNTER, 20},
        {"worker.2.core.0.requests", GPX_UWSGI_COUNTER, 20}, {"worker.2.rss_size", GPX_UWSGI_GAUGE, -1},
        {"core.routed_signals", GPX_UWSGI_COUNTER, 0},
    };
    char *text = render(m, sizeof(m) / sizeof(m[0]), GPX_FORMAT_TEXT);
    const char *expected =
        "# HELP uwsgi_core_routed_signals_total uWSGI metric core.routed_signals.\n"
        "# TYPE uwsgi_core_routed_signals_total counter\n"
        "uwsgi_core_routed_signals_total 0\n"
        "# HELP uwsgi_worker_core_requests_total uWSGI metric worker.<worker>.core.<core>.requests.\n"
        "# TYPE uwsgi_worker_core_requests_total counter\n"
        "uwsgi_worker_core_requests_total{worker=\"0\",core=\"0\"} 0\n"
        "uwsgi_worker_core_requests_total{worker=\"2\",core=\"0\"} 20\n"
        "uwsgi_worker_core_requests_total{worker=\"10\",core=\"0\"} 6\n"
        "uwsgi_worker_core_requests_total{worker=\"10\",core=\"1\"} 4\n"
        "# HELP uwsgi_worker_requests_total uWSGI metric worker.<worker>.requests.\n"
        "# TYPE uwsgi_worker_requests_total counter\n"
        "uwsgi_worker_requests_total{worker=\"0\"} 30\n"
        "uwsgi_worker_requests_total{worker=\"2\"} 20\n"
        "uwsgi_worker_requests_total{worker=\"10\"} 10\n"
        "# HELP uwsgi_worker_rss_size uWSGI metric worker.<worker>.rss_size.\n"
        "# TYPE uwsgi_worker_rss_size gauge\n"
        "uwsgi_worker_rss_size{worker=\"0\"} 0\n"
        "uwsgi_worker_rss_size{worker=\"2\"} -1\n"
        "uwsgi_worker_rss_size{worker=\"10\"} 4096\n";

    (void)state;
    assert_string_equal(text, expected);
    free(text);
}

static void
test_openmetrics_names_a_counter_family_without_total(void **state)
{
    const struct gpx_uwsgi_metric m[] = {
        {"worker.1.requests", GPX_UWSGI_COUNTER, 7},
        {"worker.1.delta_requests", GPX_UWSGI_ABSOLUTE, 2},
    };
    char *text = render(m, 2, GPX_FORMAT_OPENMETRICS);

    (void)state;
    assert_line(text, "# TYPE uwsgi_worker_requests counter");
    assert_line(text, "# HELP uwsgi_worker_requests uWSGI metric worker.<worker>.requests.");
    assert_line(text, "uwsgi_worker_requests_total{worker=\"1\"} 7");
    assert_line(text, "# TYPE uwsgi_worker_delta_requests gauge");
    assert_line(text, "uwsgi_worker_delta_requests{worker=\"1\"} 2");
    free(text);
}

static void
test_help_text_is_escaped(void **state)
{
    const struct gpx_uwsgi_metric m[] = {{"odd\\name\nhere", GPX_UWSGI_GAUGE, 1}};
    char *text = render(m, 1, GPX_FORMAT_TEXT);

    (void)state;
    assert_string_equal(text, "# HELP uwsgi_odd_name_here uWSGI metric odd\\\\name\\nhere.\n"
                              "# TYPE uwsgi_odd_name_here gauge\n"
                              "uwsgi_odd_name_here 1\n");
    free(text);
}

static void
test_the_same_series_twice_keeps_uwsgis_first(void **state)
{
    /* "a.b" and "a-b" both become uwsgi_a_b_total. */
    const struct gpx_uwsgi_metric m[] = {
        {"a.b", GPX_UWSGI_COUNTER, 1},
        {"a-b", GPX_UWSGI_COUNTER, 2},
        {"worker.1.x", GPX_UWSGI_GAUGE, 3},
        {"worker.01.x", GPX_UWSGI_GAUGE, 4},
    };
    char *text = render(m, 4, GPX_FORMAT_TEXT);

    (void)state;
    assert_int_equal(count_prefix(text, "# TYPE uwsgi_a_b_total counter"), 1);
    assert_line(text, "uwsgi_a_b_total 1");
    assert_int_equal(count_prefix(text, "uwsgi_a_b_total "), 1);
    /* Different label values are different series. */
    assert_line(text, "uwsgi_worker_x{worker=\"1\"} 3");
    assert_line(text, "uwsgi_worker_x{worker=\"01\"} 4");
    free(text);
}

static void
test_a_counter_and_a_gauge_sharing_a_name_keep_one(void **state)
{
    /* The gauge "x_total" writes the samples the counter "x" does; the
     * gauge "y" has the family name the counter "y_total" has in OpenMetrics. */
    const struct gpx_uwsgi_metric m[] = {
        {"x", GPX_UWSGI_COUNTER, 1},
        {"x_total", GPX_UWSGI_GAUGE, 2},
        {"y", GPX_UWSGI_GAUGE, 3},
        {"y_total", GPX_UWSGI_COUNTER, 4},
    };
    char *text = render(m, 4, GPX_FORMAT_TEXT);

    (void)state;
    assert_int_equal(count_prefix(text, "# TYPE "), 2);
    assert_int_equal(count_prefix(text, "uwsgi_x_total "), 1);
    assert_int_equal(count_prefix(text, "# TYPE uwsgi_x_total "), 1);
    assert_int_equal(count_prefix(text, "# TYPE uwsgi_y"), 1);
    free(text);
}

/* The names of the families rendered are reserved: the app's families
 * keep off them (a counter's with and without _total). */
static void
test_reserve_the_rendered_families(void **state)
{
    static const struct gpx_uwsgi_metric metrics[] = {
        {"worker.1.requests", GPX_UWSGI_COUNTER, 5},
        {"core.total_rss", GPX_UWSGI_GAUGE, 1},
        {"x_total", GPX_UWSGI_COUNTER, 1},
    };
    struct gpx_names names;

    (void)state;
    gpx_names_init(&names);
    assert_int_equal(gpx_uwsgi_metrics_reserve(&names, metrics, 3), 0);
    assert_true(gpx_names_reserved(&names, "uwsgi_worker_requests"));
    assert_true(gpx_names_reserved(&names, "uwsgi_worker_requests_total"));
    assert_true(gpx_names_reserved(&names, "uwsgi_core_total_rss"));
    assert_true(gpx_names_reserved(&names, "uwsgi_x"));
    assert_false(gpx_names_reserved(&names, "uwsgi_worker"));
    assert_false(gpx_names_reserved(&names, "app_rss"));
    gpx_names_free(&names);
}

static void
test_no_metrics_render_nothing(void **state)
{
    char *text = render(NULL, 0, GPX_FORMAT_TEXT);

    (void)state;
    assert_string_equal(text, "");
    free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_of_uwsgi_patterns_become_labels),
        cmocka_unit_test(test_reserve_the_rendered_families),
        cmocka_unit_test(test_other_names_keep_their_words),
        cmocka_unit_test(test_a_counter_gets_one_total_suffix),
        cmocka_unit_test(test_families_are_grouped_and_sorted),
        cmocka_unit_test(test_openmetrics_names_a_counter_family_without_total),
        cmocka_unit_test(test_help_text_is_escaped),
        cmocka_unit_test(test_the_same_series_twice_keeps_uwsgis_first),
        cmocka_unit_test(test_a_counter_and_a_gauge_sharing_a_name_keep_one),
        cmocka_unit_test(test_no_metrics_render_nothing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
