/* Unit tests of gpx_restart: the reason a worker was replaced, and its label. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gpx_test_support.h"

#include "gpx_restart.h"

#define MIB (1024u * 1024u)

/* A worker that ended with the given exit, nothing else known, no limits. */
static struct gpx_worker_end
ended(enum gpx_exit_kind kind, int code)
{
    struct gpx_worker_end end;

    memset(&end, 0, sizeof(end));
    end.kind = kind;
    end.code = code;
    return end;
}

/* A worker that reached every limit it has: served, memory, lifetime. */
static struct gpx_worker_end
at_every_limit(enum gpx_exit_kind kind, int code)
{
    struct gpx_worker_end end = ended(kind, code);

    end.served = 1000;
    end.max_requests = 1000;
    end.rss = 600 * MIB;
    end.vsz = 2000 * MIB;
    end.reload_on_rss = 500 * MIB;
    end.reload_on_as = 1000 * MIB;
    end.evil_reload_on_rss = 550 * MIB;
    end.evil_reload_on_as = 1500 * MIB;
    end.lived = 3600;
    end.max_lifetime = 3600;
    end.cursed = 1;
    return end;
}

static void
assert_reason(const struct gpx_worker_end *end, enum gpx_restart_reason want)
{
    enum gpx_restart_reason got = gpx_restart_classify(end);

    if (got != want) {
        print_error("kind %d code %d: %s, not %s\n", (int)end->kind, end->code, gpx_restart_label(got),
                    gpx_restart_label(want));
        fail();
    }
}

/* A harakiri is a timeout whatever else is true: any exit, every limit
 * reached, cheaped, cursed, reloading. */
static void
test_gpx_restart_classify_harakiri_wins(void **state)
{
    static const struct {
        enum gpx_exit_kind kind;
        int code;
    } exits[] = {
        {GPX_EXIT_SIGNAL, 9}, {GPX_EXIT_SIGNAL, 15}, {GPX_EXIT_CODE, 0}, {GPX_EXIT_CODE, 15},
        {GPX_EXIT_CODE, 17},  {GPX_EXIT_CODE, 30},   {GPX_EXIT_CODE, 3}, {GPX_EXIT_UNKNOWN, 0},
    };
    unsigned i;

    (void)state;
    for (i = 0; i < sizeof(exits) / sizeof(exits[0]); i++) {
        struct gpx_worker_end end = ended(exits[i].kind, exits[i].code);

        end.harakiri = 1;
        assert_reason(&end, GPX_RESTART_TIMEOUT);
        end = at_every_limit(exits[i].kind, exits[i].code);
        end.harakiri = 1;
        end.cheaped = 1;
        end.reloading = 1;
        assert_reason(&end, GPX_RESTART_TIMEOUT);
    }
}

/* A worker the cheaper stopped, or one that exited with the go-cheap code,
 * is idle, even past its limits or during a reload; a signal 15 is not. */
static void
test_gpx_restart_classify_idle(void **state)
{
    struct gpx_worker_end end;

    (void)state;
    end = ended(GPX_EXIT_CODE, GPX_UWSGI_GO_CHEAP_CODE);
    assert_reason(&end, GPX_RESTART_IDLE);
    end = at_every_limit(GPX_EXIT_CODE, GPX_UWSGI_GO_CHEAP_CODE);
    end.reloading = 1;
    assert_reason(&end, GPX_RESTART_IDLE);

    end = ended(GPX_EXIT_UNKNOWN, 0);
    end.cheaped = 1;
    assert_reason(&end, GPX_RESTART_IDLE);
    end = at_every_limit(GPX_EXIT_SIGNAL, 9);
    end.cheaped = 1;
    end.reloading = 1;
    assert_reason(&end, GPX_RESTART_IDLE);
    end = at_every_limit(GPX_EXIT_CODE, 0);
    end.cheaped = 1;
    assert_reason(&end, GPX_RESTART_IDLE);

    /* 15 as a signal number is SIGTERM, not the go-cheap code. */
    end = ended(GPX_EXIT_SIGNAL, 15);
    assert_reason(&end, GPX_RESTART_SIGNAL);
}

/* A worker killed by a signal is a memory restart when its rss or vsz
 * reached an evil-reload limit (the master's SIGKILL), else a signal, or a
 * reload while reloading. The soft limits and max-requests play no part. */
static void
test_gpx_restart_classify_signal(void **state)
{
    struct gpx_worker_end end;

    (void)state;
    end = ended(GPX_EXIT_SIGNAL, 9);
    assert_reason(&end, GPX_RESTART_SIGNAL);
    end.reloading = 1;
    assert_reason(&end, GPX_RESTART_RELOAD);

    end = ended(GPX_EXIT_SIGNAL, 9);
    end.rss = 300 * MIB;
    end.evil_reload_on_rss = 300 * MIB; /* reached: >= */
    assert_reason(&end, GPX_RESTART_MEMORY);
    end.reloading = 1;
    assert_reason(&end, GPX_RESTART_MEMORY);
    end.reloading = 0;
    end.rss = 300 * MIB - 1;
    assert_reason(&end, GPX_RESTART_SIGNAL);

    end = ended(GPX_EXIT_SIGNAL, 9);
    end.vsz = 2000 * MIB;
    end.evil_reload_on_as = 1000 * MIB;
    assert_reason(&end, GPX_RESTART_MEMORY);
    end.vsz = 999 * MIB;
    assert_reason(&end, GPX_RESTART_SIGNAL);

    /* Over the soft limits, max-requests and lifetime, but no evil limit. */
    end = at_every_limit(GPX_EXIT_SIGNAL, 11);
    end.evil_reload_on_rss = 0;
    end.evil_reload_on_as = 0;
    assert_reason(&end, GPX_RESTART_SIGNAL);
    end.reloading = 1;
    assert_reason(&end, GPX_RESTART_RELOAD);

    /* Evil limits of 0 are none, however big the process. */
    end = ended(GPX_EXIT_SIGNAL, 6);
    end.rss = UINT64_MAX;
    end.vsz = UINT64_MAX;
    assert_reason(&end, GPX_RESTART_SIGNAL);
}

/* The reload exit code, or any exit while reloading, is a reload, even past
 * the worker's limits. */
static void
test_gpx_restart_classify_reload(void **state)
{
    static const struct {
        enum gpx_exit_kind kind;
        int code;
    } exits[] = {
        {GPX_EXIT_CODE, 0}, {GPX_EXIT_CODE, 30}, {GPX_EXIT_CODE, 3}, {GPX_EXIT_CODE, 1}, {GPX_EXIT_UNKNOWN, 0},
    };
    struct gpx_worker_end end;
    unsigned i;

    (void)state;
    end = ended(GPX_EXIT_CODE, GPX_UWSGI_RELOAD_CODE);
    assert_reason(&end, GPX_RESTART_RELOAD);
    end = at_every_limit(GPX_EXIT_CODE, GPX_UWSGI_RELOAD_CODE);
    assert_reason(&end, GPX_RESTART_RELOAD);
    for (i = 0; i < sizeof(exits) / sizeof(exits[0]); i++) {
        end = ended(exits[i].kind, exits[i].code);
        end.reloading = 1;
        assert_reason(&end, GPX_RESTART_RELOAD);
        end = at_every_limit(exits[i].kind, exits[i].code);
        end.reloading = 1;
        assert_reason(&end, GPX_RESTART_RELOAD);
    }
}

/* After exit 0, 30, or an exit not read: max-requests first when served
 * reached it, then memory, then lifetime, in that order. */
static void
test_gpx_restart_classify_limits_in_order(void **state)
{
    static const struct {
        enum gpx_exit_kind kind;
        int code;
    } exits[] = {
        {GPX_EXIT_CODE, 0},
        {GPX_EXIT_CODE, GPX_UWSGI_END_CODE},
        {GPX_EXIT_UNKNOWN, 0},
        {GPX_EXIT_UNKNOWN, 3}, /* an unknown kind's code means nothing */
    };
    unsigned i;

    (void)state;
    for (i = 0; i < sizeof(exits) / sizeof(exits[0]); i++) {
        struct gpx_worker_end end = at_every_limit(exits[i].kind, exits[i].code);

        assert_reason(&end, GPX_RESTART_MAX_REQUESTS);
        end.served = end.max_requests + 5;
        assert_reason(&end, GPX_RESTART_MAX_REQUESTS);

        end.served = end.max_requests - 1;
        assert_reason(&end, GPX_RESTART_MEMORY);
        end.vsz = end.reload_on_as - 1; /* rss alone */
        assert_reason(&end, GPX_RESTART_MEMORY);
        end.vsz = end.reload_on_as; /* vsz alone, reached exactly */
        end.rss = end.reload_on_rss - 1;
        assert_reason(&end, GPX_RESTART_MEMORY);

        end.vsz = end.reload_on_as - 1;
        assert_reason(&end, GPX_RESTART_LIFETIME);
        end.lived = end.max_lifetime + 100;
        assert_reason(&end, GPX_RESTART_LIFETIME);

        /* No limit reached: a cursed worker was asked to go. */
        end.lived = end.max_lifetime - 1;
        assert_reason(&end, GPX_RESTART_RELOAD);
    }
}

/* Limits of 0 are none: nothing is "reached" at 0, however much was served,
 * used or lived. */
static void
test_gpx_restart_classify_zero_limits_are_none(void **state)
{
    struct gpx_worker_end end;

    (void)state;
    end = ended(GPX_EXIT_CODE, 0);
    end.served = 1000000;
    end.rss = UINT64_MAX;
    end.vsz = UINT64_MAX;
    end.lived = 1000000;
    assert_reason(&end, GPX_RESTART_CRASH);
    end.cursed = 1;
    assert_reason(&end, GPX_RESTART_RELOAD);

    /* Nothing served, nothing used, a worker just started: 0 >= 0 is no limit. */
    end = ended(GPX_EXIT_CODE, 0);
    assert_reason(&end, GPX_RESTART_CRASH);
    end = ended(GPX_EXIT_UNKNOWN, 0);
    assert_reason(&end, GPX_RESTART_CRASH);

    /* One limit set among zeros is the one that counts. */
    end = ended(GPX_EXIT_CODE, 0);
    end.served = 10;
    end.rss = UINT64_MAX;
    end.lived = 1000000;
    end.max_lifetime = 60;
    assert_reason(&end, GPX_RESTART_LIFETIME);
}

/* With no limit reached, the end code 30 or a cursed worker is a reload;
 * exit 0 of a worker nobody asked to go is a crash. */
static void
test_gpx_restart_classify_asked_to_go(void **state)
{
    struct gpx_worker_end end;

    (void)state;
    end = ended(GPX_EXIT_CODE, GPX_UWSGI_END_CODE);
    assert_reason(&end, GPX_RESTART_RELOAD);
    end.served = 5;
    end.max_requests = 1000;
    end.rss = 10 * MIB;
    end.reload_on_rss = 500 * MIB;
    end.lived = 30;
    end.max_lifetime = 3600;
    assert_reason(&end, GPX_RESTART_RELOAD);

    end.kind = GPX_EXIT_CODE;
    end.code = 0;
    assert_reason(&end, GPX_RESTART_CRASH);
    end.cursed = 1;
    assert_reason(&end, GPX_RESTART_RELOAD);

    end.kind = GPX_EXIT_UNKNOWN;
    assert_reason(&end, GPX_RESTART_RELOAD);
    end.cursed = 0;
    assert_reason(&end, GPX_RESTART_CRASH);
}

/* Any other exit code is a crash, even past the limits or cursed: only
 * 0 and 30 mean the worker left its loop on its own. */
static void
test_gpx_restart_classify_crash(void **state)
{
    static const int codes[] = {1, 3, 2, 22, 31, 127, 255};
    struct gpx_worker_end end;
    unsigned i;

    (void)state;
    end = ended(GPX_EXIT_CODE, 3);
    assert_reason(&end, GPX_RESTART_CRASH);
    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        end = ended(GPX_EXIT_CODE, codes[i]);
        assert_reason(&end, GPX_RESTART_CRASH);
        end = at_every_limit(GPX_EXIT_CODE, codes[i]);
        assert_reason(&end, GPX_RESTART_CRASH);
    }
    /* An exit not read, with nothing known. */
    end = ended(GPX_EXIT_UNKNOWN, 0);
    assert_reason(&end, GPX_RESTART_CRASH);
}

/* Every reason has its label; a value out of range is "crash". */
static void
test_gpx_restart_label_all(void **state)
{
    unsigned i;

    (void)state;
    assert_int_equal(TEST_RESTART_REASONS, GPX_RESTART_REASON_COUNT);
    for (i = 0; i < TEST_RESTART_REASONS; i++) {
        assert_string_equal(gpx_restart_label(test_restart_reasons[i].reason), test_restart_reasons[i].label);
    }
    assert_string_equal(gpx_restart_label(GPX_RESTART_REASON_COUNT), "crash");
    assert_string_equal(gpx_restart_label((enum gpx_restart_reason)100), "crash");
    assert_string_equal(gpx_restart_label((enum gpx_restart_reason) - 1), "crash");
}

/* Each reason has the exporter's restart_type: graceful when the worker was
 * asked to finish and did, forced otherwise; out of range is forced. */
static void
test_gpx_restart_type_all(void **state)
{
    unsigned i;

    (void)state;
    for (i = 0; i < TEST_RESTART_REASONS; i++) {
        assert_string_equal(gpx_restart_type_label(test_restart_reasons[i].reason), test_restart_reasons[i].type);
    }
    assert_string_equal(gpx_restart_type_label(GPX_RESTART_REASON_COUNT), "forced");
    assert_string_equal(gpx_restart_type_label((enum gpx_restart_reason)100), "forced");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpx_restart_classify_harakiri_wins),
        cmocka_unit_test(test_gpx_restart_classify_idle),
        cmocka_unit_test(test_gpx_restart_classify_signal),
        cmocka_unit_test(test_gpx_restart_classify_reload),
        cmocka_unit_test(test_gpx_restart_classify_limits_in_order),
        cmocka_unit_test(test_gpx_restart_classify_zero_limits_are_none),
        cmocka_unit_test(test_gpx_restart_classify_asked_to_go),
        cmocka_unit_test(test_gpx_restart_classify_crash),
        cmocka_unit_test(test_gpx_restart_label_all),
        cmocka_unit_test(test_gpx_restart_type_all),
    };

    return cmocka_run_group_tests_name("gpx_restart", tests, NULL, NULL);
}
