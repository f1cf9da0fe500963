/* Unit tests of gpx_sentinel: the list of Sentinels, and asking one that
 * cannot be reached. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "gpx_sentinel.h"

static void
test_gpx_sentinel_parse_lists(void **state)
{
    struct gpx_sentinel_addr a[GPX_SENTINELS_MAX];
    char err[256];

    (void)state;
    assert_int_equal(gpx_sentinel_parse("", a, GPX_SENTINELS_MAX, err, sizeof(err)), 0);
    assert_int_equal(gpx_sentinel_parse("  ", a, GPX_SENTINELS_MAX, err, sizeof(err)), 0);
    assert_int_equal(gpx_sentinel_parse("10.0.0.1:26379", a, GPX_SENTINELS_MAX, err, sizeof(err)), 1);
    assert_string_equal(a[0].host, "10.0.0.1");
    assert_int_equal(a[0].port, 26379);
    assert_int_equal(gpx_sentinel_parse("s1.example:1, s2:65535 ,[::1]:26380", a, GPX_SENTINELS_MAX, err, sizeof(err)),
                     3);
    assert_string_equal(a[0].host, "s1.example");
    assert_int_equal(a[0].port, 1);
    assert_string_equal(a[1].host, "s2");
    assert_int_equal(a[1].port, 65535);
    assert_string_equal(a[2].host, "::1");
    assert_int_equal(a[2].port, 26380);
}

static void
test_gpx_sentinel_parse_refuses(void **state)
{
    static const struct {
        const char *list;
        const char *why;
    } cases[] = {
        {"host", "\"host\" is not host:port"},
        {"host:", "\"host:\" is not host:port"},
        {":26379", "\":26379\" is not host:port"},
        {"host:0", "\"host:0\": the port is not from 1 to 65535"},
        {"host:65536", "\"host:65536\": the port is not from 1 to 65535"},
        {"host:123456", "\"host:123456\" is not host:port"},
        {"host:26x", "\"host:26x\" is not host:port"},
        {"a:1,", "\"\" is not host:port"},
        {"a:1,,b:2", "\"\" is not host:port"},
        {"::1:26379", "\"::1:26379\": an IPv6 address goes in brackets, [address]:port"},
        {"[::1:26379", "\"[::1:26379\" is not [address]:port"},
        {"[]:1", "\"[]:1\" is not [address]:port"},
        {"a b:1", "\"a b:1\" is not host:port"},
    };
    struct gpx_sentinel_addr a[GPX_SENTINELS_MAX];
    char err[256], many[512] = "";
    unsigned i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        if (gpx_sentinel_parse(cases[i].list, a, GPX_SENTINELS_MAX, err, sizeof(err)) != -1) {
            print_error("accepted \"%s\"\n", cases[i].list);
            fail();
        }
        assert_string_equal(err, cases[i].why);
    }
    for (i = 0; i <= GPX_SENTINELS_MAX; i++) {
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "%ss%u:26379", i > 0 ? "," : "", i);
    }
    assert_int_equal(gpx_sentinel_parse(many, a, GPX_SENTINELS_MAX, err, sizeof(err)), -1);
    assert_string_equal(err, "more than 16 Sentinels");
}

/* Nothing listens on port 1 of the loopback: every Sentinel is said, in
 * order, with why it gave no answer. */
static void
test_gpx_sentinel_master_unreachable(void **state)
{
    struct gpx_sentinel_addr master;
    struct timespec deadline;
    char err[512];

    (void)state;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += 5;
    assert_int_equal(
        gpx_sentinel_master("127.0.0.1:1,127.0.0.1:1", "mymaster", "", &deadline, 500, &master, err, sizeof(err)), -1);
    assert_string_equal(err, "Sentinel 127.0.0.1:1: Connection refused; Sentinel 127.0.0.1:1: Connection refused");
    assert_int_equal(gpx_sentinel_master("", "mymaster", "", &deadline, 500, &master, err, sizeof(err)), -1);
    assert_string_equal(err, "no Sentinel to ask");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpx_sentinel_parse_lists),
        cmocka_unit_test(test_gpx_sentinel_parse_refuses),
        cmocka_unit_test(test_gpx_sentinel_master_unreachable),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
