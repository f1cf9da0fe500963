/* Unit tests of gpx_render_fleet: the fleet view rendered from instances'
 * encoded snapshots. */
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

#include "gpx_exposition.h"
#include "gpx_restart.h"
#include "gpx_snapshot.h"

/* The families of the fleet view, in the order rendered. */
static const char *const fleet_families[] = {
    "gunicorn_worker_requests_total",
    "gunicorn_worker_request_duration_seconds",
    "gunicorn_worker_request_size_bytes",
    "gunicorn_worker_response_size_bytes",
    "gunicorn_worker_restart_total",
    "gunicorn_master_worker_restart_total",
    "gunicorn_worker_restart_count_total",
    "gunicorn_master_worker_restart_count_total",
    "gunicorn_requests_total",
    "gunicorn_request_duration_seconds",
    "gunicorn_fleet_instances",
};
#define FLEET_FAMILIES (sizeof(fleet_families) / sizeof(fleet_families[0]))

/* A page's families (see page_families) are exactly the fleet view's, in
 * order, each once. */
static void
check_families(const char *text)
{
    char names[FLEET_FAMILIES + 1][96];
    unsigned families = page_families(text, names, FLEET_FAMILIES + 1), i;

    assert_int_equal(families, FLEET_FAMILIES);
    for (i = 0; i < FLEET_FAMILIES; i++) {
        assert_string_equal(names[i], fleet_families[i]);
    }
}

/* Two instances, each a board encoded as its snapshot:
 *   "web-1", 2 workers x 2 cores:
 *     w1 c0: GET 200 x3 (1000 us), w1 c1: POST 201 (7000 us),
 *     w2 c0: GET 200, GET 404 (2000 us each)
 *     restarts: slot 1 max_requests 2, slot 2 crash 1
 *   "web-2", 3 workers x 1 core (a base adds w3's requests):
 *     w1: GET 200 x2 (3000 us), w2: GET 500 (2.0 s)
 *     base w1: GET 200 (1000 us), base w3: POST 201 (4000 us)
 *     restarts: slot 1 memory 4, base slot 3 timeout 1
 * Fleet: GET 200 = 4 + 3 = 7, GET 404 = 1, GET 500 = 1, POST 201 = 2. */
struct fleet {
    struct gpx_buf blobs[2];
    struct gpx_fleet_member members[2];
    struct gpx_buf out;
};

static int
setup_fleet(void **state)
{
    static struct fleet f;
    struct gpx_scoreboard a, b, base;
    const struct gpx_snapshot_header *h;
    char err[256];
    unsigned i;

    memset(&f, 0, sizeof(f));
    if (gpx_scoreboard_open_anonymous(&a, 2, 2, err, sizeof(err)) != 0 ||
        gpx_scoreboard_open_anonymous(&b, 3, 1, err, sizeof(err)) != 0 ||
        gpx_scoreboard_open_anonymous(&base, 3, 1, err, sizeof(err)) != 0) {
        return -1;
    }
    for (i = 0; i < 3; i++) {
        record_request(&a, 1, 0, GPX_METHOD_GET, 200, 1000, 100, 2000);
    }
    record_request(&a, 1, 1, GPX_METHOD_POST, 201, 7000, 100, 2000);
    record_request(&a, 2, 0, GPX_METHOD_GET, 200, 2000, 100, 2000);
    record_request(&a, 2, 0, GPX_METHOD_GET, 404, 2000, 100, 2000);
    GPX_BUMP(gpx_scoreboard_slot(&a, 1)->restarts[GPX_RESTART_MAX_REQUESTS], 2);
    GPX_BUMP(gpx_scoreboard_slot(&a, 2)->restarts[GPX_RESTART_CRASH], 1);

    record_request(&b, 1, 0, GPX_METHOD_GET, 200, 3000, 100, 2000);
    record_request(&b, 1, 0, GPX_METHOD_GET, 200, 3000, 100, 2000);
    record_request(&b, 2, 0, GPX_METHOD_GET, 500, 2000000, 100, 2000);
    record_request(&base, 1, 0, GPX_METHOD_GET, 200, 1000, 100, 2000);
    record_request(&base, 3, 0, GPX_METHOD_POST, 201, 4000, 100, 2000);
    GPX_BUMP(gpx_scoreboard_slot(&b, 1)->restarts[GPX_RESTART_MEMORY], 4);
    GPX_BUMP(gpx_scoreboard_slot(&base, 3)->restarts[GPX_RESTART_TIMEOUT], 1);

    if (gpx_buf_init(&f.blobs[0], 0) != 0 || gpx_buf_init(&f.blobs[1], 0) != 0 || gpx_buf_init(&f.out, 0) != 0 ||
        gpx_snapshot_encode(&f.blobs[0], &a, NULL, 1700000000) != 0 ||
        gpx_snapshot_encode(&f.blobs[1], &b, &base, 1700000000) != 0) {
        return -1;
    }
    for (i = 0; i < 2; i++) {
        if (gpx_snapshot_check(f.blobs[i].data, f.blobs[i].len, &h, err, sizeof(err)) != 0) {
            return -1;
        }
        f.members[i].snapshot = h;
    }
    f.members[0].instance = "web-1";
    f.members[1].instance = "web-2";
    gpx_scoreboard_close(&a);
    gpx_scoreboard_close(&b);
    gpx_scoreboard_close(&base);
    *state = &f;
    return 0;
}

static int
teardown_fleet(void **state)
{
    struct fleet *f = *state;

    gpx_buf_free(&f->blobs[0]);
    gpx_buf_free(&f->blobs[1]);
    gpx_buf_free(&f->out);
    return 0;
}

static const char *
render(struct fleet *f, unsigned count)
{
    gpx_buf_reset(&f->out);
    assert_int_equal(gpx_render_fleet(&f->out, GPX_FORMAT_TEXT, f->members, count), 0);
    assert_int_equal(f->out.failed, 0);
    check_families(f->out.data);
    return f->out.data;
}

/* Each family of the fleet view has exactly one HELP and one TYPE line,
 * both instances' series under it. */
static void
test_gpx_render_fleet_help_and_type_once(void **state)
{
    const char *text = render(*state, 2);
    char prefix[128];
    unsigned i;

    for (i = 0; i < FLEET_FAMILIES; i++) {
        snprintf(prefix, sizeof(prefix), "# HELP %s ", fleet_families[i]);
        assert_int_equal(count_prefix(text, prefix), 1);
        snprintf(prefix, sizeof(prefix), "# TYPE %s ", fleet_families[i]);
        assert_int_equal(count_prefix(text, prefix), 1);
    }
    assert_line(text, "# TYPE gunicorn_worker_requests_total counter");
    assert_line(text, "# TYPE gunicorn_worker_request_duration_seconds histogram");
    assert_line(text, "# TYPE gunicorn_worker_restart_total counter");
    assert_line(text, "# TYPE gunicorn_requests_total counter");
    assert_line(text, "# TYPE gunicorn_request_duration_seconds histogram");
    assert_line(text, "# TYPE gunicorn_fleet_instances gauge");
    assert_line(text, "gunicorn_fleet_instances 2");
    /* The live server's gauges are not the fleet's. */
    assert_null(strstr(text, "gunicorn_worker_memory_bytes"));
    assert_null(strstr(text, "gunicorn_worker_state"));
}

/* OpenMetrics: counters' families without _total, samples unchanged. */
static void
test_gpx_render_fleet_openmetrics(void **state)
{
    struct fleet *f = *state;
    const char *om;

    gpx_buf_reset(&f->out);
    assert_int_equal(gpx_render_fleet(&f->out, GPX_FORMAT_OPENMETRICS, f->members, 2), 0);
    om = f->out.data;
    assert_line(om, "# TYPE gunicorn_worker_requests counter");
    assert_line(om, "# TYPE gunicorn_worker_restart counter");
    assert_line(om, "# TYPE gunicorn_worker_restart_count counter");
    assert_line(om, "# TYPE gunicorn_master_worker_restart_count counter");
    assert_line(om, "# TYPE gunicorn_requests counter");
    assert_line(om, "# TYPE gunicorn_request_duration_seconds histogram");
    assert_line(om, "# TYPE gunicorn_fleet_instances gauge");
    assert_int_equal(count_prefix(om, "# TYPE gunicorn_requests_total"), 0);
    assert_line(om, "gunicorn_worker_requests_total{gpx_instance=\"web-1\",worker_id=\"1\"} 4");
    assert_int_equal(count_prefix(om, "# EOF"), 0);
}

/* Per-worker series carry gpx_instance first, then worker_id; every slot of
 * each instance is there, a base's counts included. */
static void
test_gpx_render_fleet_instance_label(void **state)
{
    const char *text = render(*state, 2);

    assert_line(text, "gunicorn_worker_requests_total{gpx_instance=\"web-1\",worker_id=\"1\"} 4");
    assert_line(text, "gunicorn_worker_requests_total{gpx_instance=\"web-1\",worker_id=\"2\"} 2");
    assert_line(text, "gunicorn_worker_requests_total{gpx_instance=\"web-2\",worker_id=\"1\"} 3");
    assert_line(text, "gunicorn_worker_requests_total{gpx_instance=\"web-2\",worker_id=\"2\"} 1");
    assert_line(text, "gunicorn_worker_requests_total{gpx_instance=\"web-2\",worker_id=\"3\"} 1");
    assert_int_equal(count_prefix(text, "gunicorn_worker_requests_total{"), 5);
    assert_int_equal(count_prefix(text, "gunicorn_worker_requests_total{gpx_instance=\""), 5);

    assert_line(text, "gunicorn_worker_request_duration_seconds_bucket{gpx_instance=\"web-1\",worker_id=\"1\","
                      "le=\"0.005\"} 3");
    assert_line(text, "gunicorn_worker_request_duration_seconds_bucket{gpx_instance=\"web-1\",worker_id=\"1\","
                      "le=\"+Inf\"} 4");
    assert_line(text, "gunicorn_worker_request_duration_seconds_count{gpx_instance=\"web-1\",worker_id=\"1\"} 4");
    assert_line(text, "gunicorn_worker_request_duration_seconds_sum{gpx_instance=\"web-1\",worker_id=\"1\"} "
                      "0.010000");
    assert_line(text, "gunicorn_worker_request_duration_seconds_sum{gpx_instance=\"web-2\",worker_id=\"2\"} "
                      "2.000000");
    assert_line(text, "gunicorn_worker_request_size_bytes_sum{gpx_instance=\"web-2\",worker_id=\"1\"} 300.0");
    assert_line(text, "gunicorn_worker_response_size_bytes_count{gpx_instance=\"web-1\",worker_id=\"2\"} 2");
    /* 14 duration lines + count + sum per slot, 8 size lines + count + sum. */
    assert_int_equal(count_prefix(text, "gunicorn_worker_request_duration_seconds_"), 5 * 16);
    assert_int_equal(count_prefix(text, "gunicorn_worker_request_size_bytes_"), 5 * 10);
    assert_int_equal(count_prefix(text, "gunicorn_worker_response_size_bytes_"), 5 * 10);

    assert_line(text, "gunicorn_requests_total{gpx_instance=\"web-1\",method=\"GET\",status=\"200\"} 4");
    assert_line(text, "gunicorn_requests_total{gpx_instance=\"web-1\",method=\"GET\",status=\"404\"} 1");
    assert_line(text, "gunicorn_requests_total{gpx_instance=\"web-1\",method=\"POST\",status=\"201\"} 1");
    assert_line(text, "gunicorn_requests_total{gpx_instance=\"web-2\",method=\"GET\",status=\"200\"} 3");
    assert_line(text, "gunicorn_requests_total{gpx_instance=\"web-2\",method=\"GET\",status=\"500\"} 1");
    assert_line(text, "gunicorn_requests_total{gpx_instance=\"web-2\",method=\"POST\",status=\"201\"} 1");
    assert_line(text, "gunicorn_request_duration_seconds_count{gpx_instance=\"web-1\",method=\"GET\"} 5");
    assert_line(text, "gunicorn_request_duration_seconds_bucket{gpx_instance=\"web-2\",method=\"POST\","
                      "le=\"0.005\"} 1");
    /* No per-worker series without its instance. */
    assert_null(strstr(text, "{worker_id="));
}

/* The last space of the line [line, end): before the sample's value. */
static const char *
last_space(const char *line, const char *end)
{
    const char *space = NULL, *q;

    for (q = line; q < end; q++) {
        if (*q == ' ') {
            space = q;
        }
    }
    assert_non_null(space);
    return space;
}

/* The value of the line [line, end). */
static unsigned long long
value_of(const char *line, const char *end)
{
    return strtoull(last_space(line, end) + 1, NULL, 10);
}

/* For every line starting with `family{gpx_instance="...",<rest>`, the sum
 * over instances of each <rest> equals the line `family{<rest>` (the
 * fleet's), and the fleet has no <rest> that no instance has. Returns how
 * many fleet lines were compared. */
static unsigned
check_fleet_sums(const char *text, const char *family)
{
    struct {
        char rest[160];
        unsigned long long sum;
        int seen;
    } sums[64];
    char instance_prefix[128], fleet_prefix[128];
    unsigned n = 0, i, fleet_lines = 0;
    const char *p;

    snprintf(instance_prefix, sizeof(instance_prefix), "%s{gpx_instance=\"", family);
    snprintf(fleet_prefix, sizeof(fleet_prefix), "%s{", family);
    for (p = text; *p != '\0'; p = strchr(p, '\n') + 1) {
        const char *end = strchr(p, '\n');
        const char *rest;
        size_t restlen;

        if (strncmp(p, instance_prefix, strlen(instance_prefix)) != 0) {
            continue;
        }
        /* Past the instance's escaped value and its comma. */
        rest = strstr(p, "\",") + 2;
        assert_true(rest < end);
        restlen = (size_t)(last_space(p, end) - rest);
        assert_true(restlen < sizeof(sums[0].rest));
        for (i = 0; i < n; i++) {
            if (strlen(sums[i].rest) == restlen && strncmp(sums[i].rest, rest, restlen) == 0) {
                break;
            }
        }
        if (i == n) {
            assert_true(n < 64);
            memcpy(sums[n].rest, rest, restlen);
            sums[n].rest[restlen] = '\0';
            sums[n].sum = 0;
            sums[n].seen = 0;
            n++;
        }
        sums[i].sum += value_of(p, end);
    }
    for (p = text; *p != '\0'; p = strchr(p, '\n') + 1) {
        const char *end = strchr(p, '\n');
        const char *rest = p + strlen(fleet_prefix);
        size_t restlen;

        if (strncmp(p, fleet_prefix, strlen(fleet_prefix)) != 0 ||
            strncmp(p, instance_prefix, strlen(instance_prefix)) == 0) {
            continue;
        }
        restlen = (size_t)(last_space(p, end) - rest);
        for (i = 0; i < n; i++) {
            if (strlen(sums[i].rest) == restlen && strncmp(sums[i].rest, rest, restlen) == 0) {
                break;
            }
        }
        if (i == n) {
            print_error("fleet line of no instance: %.*s\n", (int)(end - p), p);
            fail();
        }
        if (value_of(p, end) != sums[i].sum) {
            print_error("fleet %.*s, instances sum to %llu\n", (int)(end - p), p, sums[i].sum);
            fail();
        }
        assert_int_equal(sums[i].seen, 0);
        sums[i].seen = 1;
        fleet_lines++;
    }
    for (i = 0; i < n; i++) {
        if (!sums[i].seen) {
            print_error("no fleet line for %s{%s\n", family, sums[i].rest);
            fail();
        }
    }
    return fleet_lines;
}

/* gunicorn_requests_total without gpx_instance is, for each method and
 * status, the sum over the instances; the duration histogram by method
 * likewise. */
static void
test_gpx_render_fleet_sums(void **state)
{
    const char *text = render(*state, 2);

    assert_line(text, "gunicorn_requests_total{method=\"GET\",status=\"200\"} 7");
    assert_line(text, "gunicorn_requests_total{method=\"GET\",status=\"404\"} 1");
    assert_line(text, "gunicorn_requests_total{method=\"GET\",status=\"500\"} 1");
    assert_line(text, "gunicorn_requests_total{method=\"POST\",status=\"201\"} 2");
    assert_int_equal(count_prefix(text, "gunicorn_requests_total{method="), 4);
    assert_int_equal(check_fleet_sums(text, "gunicorn_requests_total"), 4);

    assert_line(text, "gunicorn_request_duration_seconds_count{method=\"GET\"} 9");
    assert_line(text, "gunicorn_request_duration_seconds_count{method=\"POST\"} 2");
    assert_line(text, "gunicorn_request_duration_seconds_sum{method=\"POST\"} 0.011000");
    assert_line(text, "gunicorn_request_duration_seconds_bucket{method=\"GET\",le=\"0.005\"} 8");
    assert_int_equal(check_fleet_sums(text, "gunicorn_request_duration_seconds_count"), 2);
    assert_int_equal(check_fleet_sums(text, "gunicorn_request_duration_seconds_bucket"), 2 * 14);
    /* No per-worker family has fleet sums. */
    assert_int_equal(count_prefix(text, "gunicorn_worker_requests_total{worker_id"), 0);
    assert_int_equal(count_prefix(text, "gunicorn_master_worker_restart_total{reason"), 0);
}

/* Restarts are per instance: every reason for every slot, and the master's
 * total per instance. */
static void
test_gpx_render_fleet_restarts(void **state)
{
    const char *text = render(*state, 2);

    assert_line(text,
                "gunicorn_worker_restart_total{gpx_instance=\"web-1\",worker_id=\"1\",reason=\"max_requests\"} 2");
    assert_line(text, "gunicorn_worker_restart_total{gpx_instance=\"web-1\",worker_id=\"2\",reason=\"crash\"} 1");
    assert_line(text, "gunicorn_worker_restart_total{gpx_instance=\"web-1\",worker_id=\"2\",reason=\"memory\"} 0");
    assert_line(text, "gunicorn_worker_restart_total{gpx_instance=\"web-2\",worker_id=\"1\",reason=\"memory\"} 4");
    assert_line(text, "gunicorn_worker_restart_total{gpx_instance=\"web-2\",worker_id=\"3\",reason=\"timeout\"} 1");
    assert_int_equal(count_prefix(text, "gunicorn_worker_restart_total{gpx_instance=\"web-1\","), 2 * 8);
    assert_int_equal(count_prefix(text, "gunicorn_worker_restart_total{gpx_instance=\"web-2\","), 3 * 8);
    assert_int_equal(count_prefix(text, "gunicorn_worker_restart_total{"), 5 * 8);

    assert_line(text, "gunicorn_master_worker_restart_total{gpx_instance=\"web-1\",reason=\"max_requests\"} 2");
    assert_line(text, "gunicorn_master_worker_restart_total{gpx_instance=\"web-1\",reason=\"crash\"} 1");
    assert_line(text, "gunicorn_master_worker_restart_total{gpx_instance=\"web-1\",reason=\"reload\"} 0");
    assert_line(text, "gunicorn_master_worker_restart_total{gpx_instance=\"web-2\",reason=\"memory\"} 4");
    assert_line(text, "gunicorn_master_worker_restart_total{gpx_instance=\"web-2\",reason=\"timeout\"} 1");
    assert_line(text, "gunicorn_master_worker_restart_total{gpx_instance=\"web-2\",reason=\"max_requests\"} 0");
    assert_int_equal(count_prefix(text, "gunicorn_master_worker_restart_total{"), 2 * 8);

    /* The exporter's second pair: the same counts per instance and slot, with
     * the reason's restart_type, in each family's label order. */
    assert_line(text,
                "gunicorn_worker_restart_count_total{gpx_instance=\"web-1\",worker_id=\"1\",restart_type=\"graceful\","
                "reason=\"max_requests\"} 2");
    assert_line(text,
                "gunicorn_worker_restart_count_total{gpx_instance=\"web-2\",worker_id=\"3\",restart_type=\"forced\","
                "reason=\"timeout\"} 1");
    assert_line(text,
                "gunicorn_master_worker_restart_count_total{gpx_instance=\"web-1\",worker_id=\"2\",reason=\"crash\","
                "restart_type=\"forced\"} 1");
    assert_line(text,
                "gunicorn_master_worker_restart_count_total{gpx_instance=\"web-2\",worker_id=\"1\",reason=\"memory\","
                "restart_type=\"forced\"} 4");
    assert_int_equal(count_prefix(text, "gunicorn_worker_restart_count_total{gpx_instance=\"web-2\","), 3 * 8);
    assert_int_equal(count_prefix(text, "gunicorn_worker_restart_count_total{"), 5 * 8);
    assert_int_equal(count_prefix(text, "gunicorn_master_worker_restart_count_total{"), 5 * 8);
}

/* Instance names are label values: a quote, a backslash, a newline escaped
 * wherever the label is put. */
static void
test_gpx_render_fleet_escapes_instance(void **state)
{
    struct fleet *f = *state;
    const char *text;

    f->members[0].instance = "a\"b\\c";
    f->members[1].instance = "line\nbreak";
    text = render(f, 2);
    assert_line(text, "gunicorn_worker_requests_total{gpx_instance=\"a\\\"b\\\\c\",worker_id=\"1\"} 4");
    assert_line(text, "gunicorn_worker_requests_total{gpx_instance=\"line\\nbreak\",worker_id=\"3\"} 1");
    assert_line(text, "gunicorn_worker_request_duration_seconds_count{gpx_instance=\"a\\\"b\\\\c\",worker_id=\"2\"} 2");
    assert_line(text, "gunicorn_worker_restart_total{gpx_instance=\"a\\\"b\\\\c\",worker_id=\"1\","
                      "reason=\"max_requests\"} 2");
    assert_line(text, "gunicorn_master_worker_restart_total{gpx_instance=\"line\\nbreak\",reason=\"memory\"} 4");
    assert_line(text, "gunicorn_requests_total{gpx_instance=\"a\\\"b\\\\c\",method=\"GET\",status=\"200\"} 4");
    assert_line(text, "gunicorn_request_duration_seconds_count{gpx_instance=\"line\\nbreak\",method=\"GET\"} 4");
    assert_line(text, "gunicorn_requests_total{method=\"GET\",status=\"200\"} 7");
    assert_int_equal(count_prefix(text, "gunicorn_worker_requests_total{gpx_instance=\"a\\\"b\\\\c\","), 2);
    assert_int_equal(count_prefix(text, "gunicorn_worker_requests_total{gpx_instance=\"line\\nbreak\","), 3);
    assert_int_equal(check_fleet_sums(text, "gunicorn_requests_total"), 4);
}

/* One instance: its series and the fleet's sums are the same numbers. */
static void
test_gpx_render_fleet_one_member(void **state)
{
    const char *text = render(*state, 1);

    assert_line(text, "gunicorn_fleet_instances 1");
    assert_null(strstr(text, "web-2"));
    assert_line(text, "gunicorn_requests_total{gpx_instance=\"web-1\",method=\"GET\",status=\"200\"} 4");
    assert_line(text, "gunicorn_requests_total{method=\"GET\",status=\"200\"} 4");
    assert_int_equal(check_fleet_sums(text, "gunicorn_requests_total"), 3);
}

/* No member: every family with its HELP and TYPE, no series but
 * gunicorn_fleet_instances 0. */
static void
test_gpx_render_fleet_zero_members(void **state)
{
    struct gpx_buf out;
    const char *p;
    unsigned samples = 0;

    (void)state;
    assert_int_equal(gpx_buf_init(&out, 0), 0);
    assert_int_equal(gpx_render_fleet(&out, GPX_FORMAT_TEXT, NULL, 0), 0);
    check_families(out.data);
    assert_line(out.data, "gunicorn_fleet_instances 0");
    for (p = out.data; *p != '\0'; p = strchr(p, '\n') + 1) {
        samples += *p != '#';
    }
    assert_int_equal(samples, 1);
    assert_int_equal(count_prefix(out.data, "# HELP "), FLEET_FAMILIES);
    assert_int_equal(count_prefix(out.data, "# TYPE "), FLEET_FAMILIES);
    gpx_buf_free(&out);
}

#define FLEET_TEST(name) cmocka_unit_test_setup_teardown(name, setup_fleet, teardown_fleet)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        FLEET_TEST(test_gpx_render_fleet_help_and_type_once), FLEET_TEST(test_gpx_render_fleet_openmetrics),
        FLEET_TEST(test_gpx_render_fleet_instance_label),     FLEET_TEST(test_gpx_render_fleet_sums),
        FLEET_TEST(test_gpx_render_fleet_restarts),           FLEET_TEST(test_gpx_render_fleet_escapes_instance),
        FLEET_TEST(test_gpx_render_fleet_one_member),         cmocka_unit_test(test_gpx_render_fleet_zero_members),
    };

    return cmocka_run_group_tests_name("gpx_fleet_render", tests, NULL, NULL);
}
