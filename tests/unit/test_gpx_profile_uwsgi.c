/* Unit tests of gpx_profile_uwsgi.c: uwsgi_exporter's families, labels and
 * units from a view, the per-core families only when asked, the first
 * socket of a (name, proto) pair, counters carried from earlier masters,
 * and the OpenMetrics declarations. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gpx_profile_uwsgi.h"
#include "gpx_test_support.h"

#define S "{stats_uri=\"unix:///run/stats.sock\""

static const struct gpx_ue_socket sockets[] = {
    {"127.0.0.1:8000", "http", 3, 100, 0, 0},
    {"127.0.0.1:8001", "uwsgi", 0, 128, 1, 1},
    {"127.0.0.1:8000", "http", 9, 9, 9, 9}, /* the same pair again: the sidecar keeps the first */
};

static const struct gpx_ue_app apps1[] = {{"", "", 2, 10, 1}, {"/api", "/srv/a\"b", 0, 5, 0}};
static const struct gpx_ue_core cores1[] = {{1, 7, 1, 2, 3, 4, 5}, {0, 8, 0, 0, 0, 0, 0}};
static const struct gpx_ue_cache caches[] = {{"c1", 4, 2, 1, 3, 10}};

static void
fill(struct gpx_ue_view *v, struct gpx_ue_worker workers[3])
{
    memset(v, 0, sizeof(*v));
    memset(workers, 0, 3 * sizeof(workers[0]));
    workers[0].id = 1;
    workers[0].status = GPX_UE_BUSY;
    workers[0].accepting = 1;
    workers[0].delta_requests = 4;
    workers[0].signal_queue = 2;
    workers[0].rss = 1000;
    workers[0].vsz = 2000;
    workers[0].running_time_us = 1500000;
    workers[0].last_spawn = 1700000000;
    workers[0].avg_rt_us = 214;
    workers[0].counters[GPX_UE_REQUESTS] = 15;
    workers[0].counters[GPX_UE_EXCEPTIONS] = 1;
    workers[0].counters[GPX_UE_HARAKIRI_COUNT] = 1;
    workers[0].counters[GPX_UE_SIGNALS] = 3;
    workers[0].counters[GPX_UE_RESPAWN_COUNT] = 2;
    workers[0].counters[GPX_UE_TX] = 4096;
    workers[0].apps = apps1;
    workers[0].app_count = 2;
    workers[0].cores = cores1;
    workers[0].core_count = 2;
    workers[1].id = 2;
    workers[1].status = GPX_UE_CHEAP;
    workers[1].cores = cores1;
    workers[1].core_count = 2;
    workers[2].id = 0; /* a slot uWSGI never spawned: left out */
    workers[2].status = GPX_UE_PAUSE;
    v->stats_uri = "unix:///run/stats.sock";
    v->listen_queue = 5;
    v->listen_queue_errors = 6;
    v->signal_queue = 7;
    v->sockets = sockets;
    v->socket_count = 3;
    v->workers = workers;
    v->worker_count = 3;
    v->caches = caches;
    v->cache_count = 1;
    v->scrapes = 3;
    v->scrape_seconds_sum = 0.25;
}

static char *
render(const struct gpx_ue_view *v, enum gpx_format format)
{
    struct gpx_buf out;

    assert_int_equal(gpx_buf_init(&out, 1024), 0);
    assert_int_equal(gpx_ue_render(&out, v, format), 0);
    assert_int_equal(gpx_buf_append(&out, "", 1), 0);
    return gpx_buf_steal(&out, NULL);
}

static void
test_profile_every_family_from_its_field(void **state)
{
    struct gpx_ue_worker workers[3];
    struct gpx_ue_view v;
    char *page;

    (void)state;
    fill(&v, workers);
    page = render(&v, GPX_FORMAT_TEXT);
    assert_line(page, "uwsgi_listen_queue_length" S "} 5");
    assert_line(page, "uwsgi_listen_queue_errors" S "} 6");
    assert_line(page, "uwsgi_signal_queue_length" S "} 7");
    assert_line(page, "uwsgi_workers" S "} 2");
    assert_line(page, "uwsgi_socket_queue_length" S ",name=\"127.0.0.1:8000\",proto=\"http\"} 3");
    assert_line(page, "uwsgi_socket_max_queue_length" S ",name=\"127.0.0.1:8001\",proto=\"uwsgi\"} 128");
    assert_line(page, "uwsgi_socket_shared" S ",name=\"127.0.0.1:8001\",proto=\"uwsgi\"} 1");
    assert_line(page, "uwsgi_socket_can_offload" S ",name=\"127.0.0.1:8000\",proto=\"http\"} 0");
    assert_int_equal(count_prefix(page, "uwsgi_socket_queue_length{"), 2);
    assert_line(page, "uwsgi_worker_accepting" S ",worker_id=\"1\"} 1");
    assert_line(page, "uwsgi_worker_delta_requests" S ",worker_id=\"1\"} 4");
    assert_line(page, "uwsgi_worker_signal_queue_length" S ",worker_id=\"1\"} 2");
    assert_line(page, "uwsgi_worker_rss_bytes" S ",worker_id=\"1\"} 1000");
    assert_line(page, "uwsgi_worker_vsz_bytes" S ",worker_id=\"1\"} 2000");
    assert_line(page, "uwsgi_worker_running_time_seconds" S ",worker_id=\"1\"} 1.500000");
    assert_line(page, "uwsgi_worker_last_spawn_time_seconds" S ",worker_id=\"1\"} 1700000000");
    assert_line(page, "uwsgi_worker_average_response_time_seconds" S ",worker_id=\"1\"} 0.000214");
    assert_line(page, "uwsgi_worker_busy" S ",worker_id=\"1\"} 1");
    assert_line(page, "uwsgi_worker_idle" S ",worker_id=\"1\"} 0");
    assert_line(page, "uwsgi_worker_cheap" S ",worker_id=\"1\"} 0");
    assert_line(page, "uwsgi_worker_busy" S ",worker_id=\"2\"} 0");
    assert_line(page, "uwsgi_worker_cheap" S ",worker_id=\"2\"} 1");
    assert_line(page, "uwsgi_worker_requests_total" S ",worker_id=\"1\"} 15");
    assert_line(page, "uwsgi_worker_exceptions_total" S ",worker_id=\"1\"} 1");
    assert_line(page, "uwsgi_worker_harakiri_count_total" S ",worker_id=\"1\"} 1");
    assert_line(page, "uwsgi_worker_signals_total" S ",worker_id=\"1\"} 3");
    assert_line(page, "uwsgi_worker_respawn_count_total" S ",worker_id=\"1\"} 2");
    assert_line(page, "uwsgi_worker_transmitted_bytes_total" S ",worker_id=\"1\"} 4096");
    assert_line(page, "uwsgi_worker_apps" S ",worker_id=\"1\"} 2");
    assert_line(page, "uwsgi_worker_cores" S ",worker_id=\"1\"} 2");
    assert_line(page, "uwsgi_worker_app_startup_time_seconds" S
                      ",worker_id=\"1\",app_id=\"0\",mountpoint=\"\",chdir=\"\"} 2");
    assert_line(page, "uwsgi_worker_app_requests_total" S
                      ",worker_id=\"1\",app_id=\"1\",mountpoint=\"/api\",chdir=\"/srv/a\\\"b\"} 5");
    assert_line(page,
                "uwsgi_worker_app_exceptions_total" S ",worker_id=\"1\",app_id=\"0\",mountpoint=\"\",chdir=\"\"} 1");
    assert_line(page, "uwsgi_cache_hits" S ",name=\"c1\"} 4");
    assert_line(page, "uwsgi_cache_misses" S ",name=\"c1\"} 2");
    assert_line(page, "uwsgi_cache_full" S ",name=\"c1\"} 1");
    assert_line(page, "uwsgi_cache_items" S ",name=\"c1\"} 3");
    assert_line(page, "uwsgi_cache_max_items" S ",name=\"c1\"} 10");
    assert_line(page, "uwsgi_up 1");
    assert_line(page, "uwsgi_exporter_scrapes_total 3");
    assert_line(page, "uwsgi_exporter_scrape_errors_total 0");
    assert_line(page, "uwsgi_exporter_last_scrape_error 0");
    assert_line(page, "uwsgi_exporter_scrape_duration_seconds_sum 0.250000000");
    assert_line(page, "uwsgi_exporter_scrape_duration_seconds_count 3");
    /* Slot 3 (id 0) is nowhere, cores are off by default. */
    assert_int_equal(count_prefix(page, "uwsgi_worker_accepting{"), 2);
    assert_null(strstr(page, "worker_id=\"0\""));
    assert_null(strstr(page, "uwsgi_worker_core_"));
    assert_line(page, "# TYPE uwsgi_worker_requests_total counter");
    assert_line(page, "# TYPE uwsgi_cache_hits counter");
    assert_line(page, "# TYPE uwsgi_worker_busy gauge");
    assert_line(page, "# TYPE uwsgi_exporter_scrape_duration_seconds summary");
    free(page);
}

static void
test_profile_cores_when_asked(void **state)
{
    struct gpx_ue_worker workers[3];
    struct gpx_ue_view v;
    char *page;

    (void)state;
    fill(&v, workers);
    v.collect_cores = 1;
    page = render(&v, GPX_FORMAT_TEXT);
    assert_line(page, "uwsgi_worker_core_busy" S ",worker_id=\"1\",core_id=\"0\"} 1");
    assert_line(page, "uwsgi_worker_core_requests_total" S ",worker_id=\"1\",core_id=\"1\"} 8");
    assert_line(page, "uwsgi_worker_core_static_requests_total" S ",worker_id=\"1\",core_id=\"0\"} 1");
    assert_line(page, "uwsgi_worker_core_routed_requests_total" S ",worker_id=\"1\",core_id=\"0\"} 2");
    assert_line(page, "uwsgi_worker_core_offloaded_requests_total" S ",worker_id=\"1\",core_id=\"0\"} 3");
    assert_line(page, "uwsgi_worker_core_write_errors_total" S ",worker_id=\"1\",core_id=\"0\"} 4");
    assert_line(page, "uwsgi_worker_core_read_errors_total" S ",worker_id=\"2\",core_id=\"0\"} 5");
    assert_int_equal(count_prefix(page, "uwsgi_worker_core_busy{"), 4);
    free(page);
}

/* Counters of earlier masters, kept in the slots of the board and of the
 * restored base, are added; gauges and per-core counters are uWSGI's. */
static void
test_profile_counters_continue(void **state)
{
    struct gpx_scoreboard board, base;
    struct gpx_ue_worker workers[3];
    struct gpx_ue_view v;
    uint64_t live[GPX_UE_COUNTERS] = {100, 2, 1, 0, 3, 50};
    char err[256];
    char *page;

    (void)state;
    assert_int_equal(gpx_scoreboard_open_anonymous(&board, 2, 1, err, sizeof(err)), 0);
    assert_int_equal(gpx_scoreboard_open_anonymous(&base, 1, 1, err, sizeof(err)), 0);
    gpx_ue_carry_worker(gpx_scoreboard_slot(&board, 1), live);
    gpx_ue_carry_worker(gpx_scoreboard_slot(&base, 1), live);
    gpx_ue_carry_app(gpx_scoreboard_slot(&board, 1), 1, 20, 4);
    gpx_ue_carry_app(gpx_scoreboard_slot(&board, 1), GPX_MAX_APPS, 99, 99); /* beyond the slot: not kept */
    fill(&v, workers);
    v.board = &board;
    v.base = &base;
    v.collect_cores = 1;
    page = render(&v, GPX_FORMAT_TEXT);
    assert_line(page, "uwsgi_worker_requests_total" S ",worker_id=\"1\"} 215");
    assert_line(page, "uwsgi_worker_exceptions_total" S ",worker_id=\"1\"} 5");
    assert_line(page, "uwsgi_worker_harakiri_count_total" S ",worker_id=\"1\"} 3");
    assert_line(page, "uwsgi_worker_respawn_count_total" S ",worker_id=\"1\"} 8");
    assert_line(page, "uwsgi_worker_transmitted_bytes_total" S ",worker_id=\"1\"} 4196");
    assert_line(page, "uwsgi_worker_requests_total" S ",worker_id=\"2\"} 0");
    assert_line(page, "uwsgi_worker_app_requests_total" S
                      ",worker_id=\"1\",app_id=\"1\",mountpoint=\"/api\",chdir=\"/srv/a\\\"b\"} 25");
    assert_line(page, "uwsgi_worker_app_exceptions_total" S
                      ",worker_id=\"1\",app_id=\"1\",mountpoint=\"/api\",chdir=\"/srv/a\\\"b\"} 4");
    assert_line(page,
                "uwsgi_worker_app_requests_total" S ",worker_id=\"1\",app_id=\"0\",mountpoint=\"\",chdir=\"\"} 10");
    assert_line(page, "uwsgi_worker_core_requests_total" S ",worker_id=\"1\",core_id=\"0\"} 7");
    assert_line(page, "uwsgi_worker_delta_requests" S ",worker_id=\"1\"} 4");
    free(page);
    gpx_scoreboard_close(&base);
    gpx_scoreboard_close(&board);
}

/* OpenMetrics names a counter's family without _total; the sidecar's cache
 * counters, which have no _total, are declared unknown under their name. */
static void
test_profile_openmetrics_declarations(void **state)
{
    struct gpx_ue_worker workers[3];
    struct gpx_ue_view v;
    char *page;

    (void)state;
    fill(&v, workers);
    page = render(&v, GPX_FORMAT_OPENMETRICS);
    assert_line(page, "# TYPE uwsgi_worker_requests counter");
    assert_line(page, "uwsgi_worker_requests_total" S ",worker_id=\"1\"} 15");
    assert_line(page, "# TYPE uwsgi_cache_hits unknown");
    assert_line(page, "uwsgi_cache_hits" S ",name=\"c1\"} 4");
    assert_line(page, "# TYPE uwsgi_exporter_scrapes counter");
    assert_line(page, "# TYPE uwsgi_worker_busy gauge");
    free(page);
}

/* Every family's name is reserved: uWSGI's metrics subsystem and the app's
 * families keep off them. */
static void
test_profile_reserves_its_names(void **state)
{
    struct gpx_names names;

    (void)state;
    gpx_names_init(&names);
    assert_int_equal(gpx_ue_reserve(&names), 0);
    assert_true(gpx_names_reserved(&names, "uwsgi_worker_requests"));
    assert_true(gpx_names_reserved(&names, "uwsgi_worker_core_requests"));
    assert_true(gpx_names_reserved(&names, "uwsgi_cache_hits"));
    assert_true(gpx_names_reserved(&names, "uwsgi_up"));
    assert_false(gpx_names_reserved(&names, "uwsgi_worker_rss_size"));
    assert_false(gpx_names_reserved(&names, "uwsgi_core_busy_workers"));
    gpx_names_free(&names);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_profile_every_family_from_its_field),
        cmocka_unit_test(test_profile_cores_when_asked),
        cmocka_unit_test(test_profile_counters_continue),
        cmocka_unit_test(test_profile_openmetrics_declarations),
        cmocka_unit_test(test_profile_reserves_its_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
