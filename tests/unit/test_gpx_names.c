/* Unit tests of gpx_names: the set, a family's base, the names gpx
 * reserves and the names a family claims. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gpx_exposition.h"
#include "gpx_names.h"

static void
test_set(void **state)
{
    struct gpx_names set;
    char name[32];
    unsigned i;

    (void)state;
    gpx_names_init(&set);
    assert_false(gpx_names_has(&set, "a"));
    for (i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "n%u", i);
        assert_int_equal(gpx_names_add(&set, name), 0);
    }
    assert_int_equal(gpx_names_add(&set, "n7"), 0); /* once */
    assert_int_equal(set.used, 1000);
    assert_true(gpx_names_has(&set, "n999"));
    assert_false(gpx_names_has(&set, "n1000"));
    gpx_names_free(&set);
}

static void
test_base(void **state)
{
    char base[GPX_NAME_MAX + 1];

    (void)state;
    gpx_names_base(base, sizeof(base), "gunicorn_requests_total", "counter");
    assert_string_equal(base, "gunicorn_requests");
    gpx_names_base(base, sizeof(base), "jobs_total", "gauge");
    assert_string_equal(base, "jobs_total");
    gpx_names_base(base, sizeof(base), "_total", "counter");
    assert_string_equal(base, "_total");
}

/* gpx's own families reserve every form: a family clashes when its base
 * or a _total, _created, _bucket, _count or _sum form of it is one. */
static void
test_reserved_forms_of_gpx_families(void **state)
{
    struct gpx_names set;
    unsigned i;

    (void)state;
    gpx_names_init(&set);
    for (i = 0; i < GPX_FAMILY_COUNT; i++) {
        assert_int_equal(gpx_names_reserve(&set, gpx_families[i].name, gpx_families[i].type), 0);
    }
    /* The Gunicorn exporter's own families, as prometheus_client names them. */
    assert_true(gpx_names_reserved(&set, "gunicorn_worker_requests"));
    assert_true(gpx_names_reserved(&set, "gunicorn_worker_request_duration_seconds"));
    assert_true(gpx_names_reserved(&set, "gunicorn_worker_state"));
    assert_true(gpx_names_reserved(&set, "gunicorn_master_worker_restart"));
    /* Forms either way. */
    assert_true(gpx_names_reserved(&set, "gunicorn_worker_requests_total"));
    assert_true(gpx_names_reserved(&set, "gunicorn_worker_request_duration_seconds_bucket"));
    assert_true(gpx_names_reserved(&set, "gunicorn_workers_count"));
    assert_true(gpx_names_reserved(&set, "gunicorn_requests_created"));
    assert_true(gpx_names_reserved(&set, "gunicorn_exporter_app_files_unreadable"));
    assert_true(gpx_names_reserved(&set, "gunicorn_fleet_instances"));
    /* Neighbours that claim nothing of gpx's. */
    assert_false(gpx_names_reserved(&set, "gunicorn_worker"));
    assert_false(gpx_names_reserved(&set, "gunicorn_worker_requests_total_total_x"));
    assert_false(gpx_names_reserved(&set, "app_hits"));
    gpx_names_free(&set);
}

static int
clash(const char *base_a, const char *type_a, const char *base_b, const char *type_b)
{
    struct gpx_names set;
    int hit;

    gpx_names_init(&set);
    assert_int_equal(gpx_names_claim(&set, base_a, type_a), 0);
    hit = gpx_names_claimed(&set, base_b, type_b);
    gpx_names_free(&set);
    return hit;
}

/* The app's families between themselves: the OpenMetrics parser's claims. */
static void
test_claims(void **state)
{
    (void)state;
    assert_true(clash("x", "counter", "x", "gauge"));
    assert_true(clash("x", "counter", "x_total", "gauge"));
    assert_true(clash("x_total", "gauge", "x", "counter"));
    assert_true(clash("h", "histogram", "h_bucket", "gauge"));
    assert_true(clash("h", "histogram", "h_count", "counter"));
    assert_true(clash("s", "summary", "s_sum", "gauge"));
    assert_true(clash("s_sum", "gauge", "s", "summary"));
    assert_true(clash("a_created", "gauge", "a", "counter"));
    /* Valid together on one page. */
    assert_false(clash("x", "counter", "x_count", "gauge"));
    assert_false(clash("a", "gauge", "a_sum", "gauge"));
    assert_false(clash("jobs", "gauge", "jobs_total", "gauge"));
    assert_false(clash("h", "histogram", "h_seconds", "histogram"));
}

static void
test_too_long(void **state)
{
    struct gpx_names set;
    char *name = malloc(GPX_NAME_MAX + 2);

    (void)state;
    memset(name, 'a', GPX_NAME_MAX + 1);
    name[GPX_NAME_MAX + 1] = '\0';
    gpx_names_init(&set);
    assert_int_equal(gpx_names_reserve(&set, name, "gauge"), 0); /* nothing to reserve */
    assert_int_equal(set.used, 0);
    assert_true(gpx_names_reserved(&set, name));
    assert_true(gpx_names_claimed(&set, name, "gauge"));
    assert_int_equal(gpx_names_claim(&set, name, "gauge"), -1);
    name[GPX_NAME_MAX] = '\0';
    assert_false(gpx_names_claimed(&set, name, "histogram"));
    assert_int_equal(gpx_names_claim(&set, name, "histogram"), 0);
    assert_true(gpx_names_claimed(&set, name, "gauge"));
    gpx_names_free(&set);
    free(name);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set),
        cmocka_unit_test(test_base),
        cmocka_unit_test(test_reserved_forms_of_gpx_families),
        cmocka_unit_test(test_claims),
        cmocka_unit_test(test_too_long),
    };

    return cmocka_run_group_tests_name("gpx_names", tests, NULL, NULL);
}
