/* Unit tests of gpx_readiness: the rule of /readyz and the lines it says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gpx_readiness.h"

static const struct gpx_readiness_rule defaults = {.saturation = 1, .busy_percent = 0, .queue = 0};

static struct gpx_readiness_facts
facts(unsigned accepting, unsigned busy, uint64_t queued)
{
    struct gpx_readiness_facts f;

    memset(&f, 0, sizeof(f));
    f.app_loaded = 1;
    f.accepting = accepting;
    f.busy = busy;
    f.queued = queued;
    return f;
}

static void
test_gpx_readiness_saturation(void **state)
{
    struct gpx_readiness_rule rule = defaults;
    struct gpx_readiness_facts f;

    (void)state;
    f = facts(2, 0, 0);
    assert_int_equal(gpx_readiness_decide(&rule, &f), GPX_READY);
    f = facts(2, 2, 0);
    assert_int_equal(gpx_readiness_decide(&rule, &f), GPX_READY); /* busy, nothing waits */
    f = facts(2, 1, 3);
    assert_int_equal(gpx_readiness_decide(&rule, &f), GPX_READY); /* a worker is free: the queue drains */
    f = facts(2, 2, 1);
    assert_int_equal(gpx_readiness_decide(&rule, &f), GPX_NOT_READY_SATURATED);
    rule.queue = 5;
    f = facts(2, 2, 5);
    assert_int_equal(gpx_readiness_decide(&rule, &f), GPX_READY);
    f = facts(2, 2, 6);
    assert_int_equal(gpx_readiness_decide(&rule, &f), GPX_NOT_READY_SATURATED);
    rule.saturation = 0;
    assert_int_equal(gpx_readiness_decide(&rule, &f), GPX_READY);
}

static void
test_gpx_readiness_busy_percent(void **state)
{
    struct gpx_readiness_rule rule = defaults;
    struct gpx_readiness_facts f;

    (void)state;
    rule.busy_percent = 75;
    f = facts(4, 2, 0);
    assert_int_equal(gpx_readiness_decide(&rule, &f), GPX_READY);
    f = facts(4, 3, 0);
    assert_int_equal(gpx_readiness_decide(&rule, &f), GPX_NOT_READY_BUSY);
    f = facts(3, 2, 0); /* 66% */
    assert_int_equal(gpx_readiness_decide(&rule, &f), GPX_READY);
    rule.busy_percent = 100;
    f = facts(3, 3, 0);
    assert_int_equal(gpx_readiness_decide(&rule, &f), GPX_NOT_READY_BUSY);
    rule.saturation = 0;
    assert_int_equal(gpx_readiness_decide(&rule, &f), GPX_READY);
}

/* Stopping, then reloading, then no app, then no worker: whatever else. */
static void
test_gpx_readiness_precedence(void **state)
{
    struct gpx_readiness_rule rule = defaults;
    struct gpx_readiness_facts f = facts(0, 0, 9);

    (void)state;
    f.app_loaded = 0;
    f.reloading = 1;
    f.stopping = 1;
    assert_int_equal(gpx_readiness_decide(&rule, &f), GPX_NOT_READY_STOPPING);
    f.stopping = 0;
    assert_int_equal(gpx_readiness_decide(&rule, &f), GPX_NOT_READY_RELOADING);
    f.reloading = 0;
    assert_int_equal(gpx_readiness_decide(&rule, &f), GPX_NOT_READY_NO_APP);
    f.app_loaded = 1;
    assert_int_equal(gpx_readiness_decide(&rule, &f), GPX_NOT_READY_NO_WORKER);
    rule.saturation = 0;
    assert_int_equal(gpx_readiness_decide(&rule, &f), GPX_NOT_READY_NO_WORKER);
}

static void
assert_says(const struct gpx_readiness_rule *rule, struct gpx_readiness_facts f, int ready, const char *line)
{
    struct gpx_readiness_state state;
    char why[256];

    memset(&state, 0, sizeof(state));
    gpx_readiness_publish(&state, rule, &f, gpx_readiness_decide(rule, &f));
    assert_int_equal(gpx_readiness_read(&state, why, sizeof(why)), ready);
    assert_string_equal(why, line);
}

static void
test_gpx_readiness_lines(void **state)
{
    struct gpx_readiness_state undecided;
    struct gpx_readiness_rule rule = defaults;
    struct gpx_readiness_facts f;
    char why[256];

    (void)state;
    memset(&undecided, 0, sizeof(undecided));
    assert_int_equal(gpx_readiness_read(&undecided, why, sizeof(why)), 0);
    assert_string_equal(why, "not ready: the master has not checked the workers yet");
    assert_says(&rule, facts(4, 1, 0), 1, "ok: 1 of 4 workers busy, 0 connections waiting");
    rule.queue = 3;
    assert_says(&rule, facts(4, 4, 12), 0, "not ready: 4 of 4 workers busy and 12 connections waiting (more than 3)");
    rule.busy_percent = 50;
    assert_says(&rule, facts(4, 2, 0), 0, "not ready: 2 of 4 workers busy (at least 50%)");
    f = facts(4, 0, 0);
    f.stopping = 1;
    assert_says(&rule, f, 0, "not ready: the server is stopping");
    f.stopping = 0;
    f.reloading = 1;
    assert_says(&rule, f, 0, "not ready: the server is reloading");
    f.reloading = 0;
    f.app_loaded = 0;
    assert_says(&rule, f, 0, "not ready: no application is loaded");
    assert_says(&rule, facts(0, 0, 0), 0, "not ready: no worker accepts requests");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpx_readiness_saturation),
        cmocka_unit_test(test_gpx_readiness_busy_percent),
        cmocka_unit_test(test_gpx_readiness_precedence),
        cmocka_unit_test(test_gpx_readiness_lines),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
