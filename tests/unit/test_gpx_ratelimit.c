/* The per-client rate limit: burst, refill, clients apart, bounded table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>

#include "gpx_ratelimit.h"

#define SECOND 1000000000ull

static struct sockaddr_in
v4(const char *text)
{
    struct sockaddr_in a;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    inet_pton(AF_INET, text, &a.sin_addr);
    return a;
}

static void
test_burst_then_rate(void **state)
{
    struct gpx_ratelimit rl;
    struct sockaddr_in a = v4("10.0.0.1"), b = v4("10.0.0.2");
    uint64_t t = 5 * SECOND;
    int i;

    (void)state;
    assert_int_equal(gpx_ratelimit_init(&rl, 2, 4), 0);
    for (i = 0; i < 4; i++) {
        assert_true(gpx_ratelimit_allow(&rl, &a, t));
    }
    assert_false(gpx_ratelimit_allow(&rl, &a, t));
    assert_false(gpx_ratelimit_allow(&rl, &a, t + SECOND / 4)); /* half a token */
    assert_true(gpx_ratelimit_allow(&rl, &b, t));               /* another client is apart */
    assert_true(gpx_ratelimit_allow(&rl, &a, t + SECOND / 2));  /* one token after 0.5 s */
    assert_false(gpx_ratelimit_allow(&rl, &a, t + SECOND / 2));
    /* Refills up to the burst, not past it. */
    for (i = 0; i < 4; i++) {
        assert_true(gpx_ratelimit_allow(&rl, &a, t + 100 * SECOND));
    }
    assert_false(gpx_ratelimit_allow(&rl, &a, t + 100 * SECOND));
    gpx_ratelimit_free(&rl);
}

static void
test_off_and_other_families(void **state)
{
    struct gpx_ratelimit rl;
    struct sockaddr_in a = v4("10.0.0.1");
    struct sockaddr unix_sa;
    int i;

    (void)state;
    assert_int_equal(gpx_ratelimit_init(&rl, 0, 0), 0);
    for (i = 0; i < 100; i++) {
        assert_true(gpx_ratelimit_allow(&rl, &a, 0));
    }
    gpx_ratelimit_free(&rl);
    assert_int_equal(gpx_ratelimit_init(&rl, 1, 1), 0);
    memset(&unix_sa, 0, sizeof(unix_sa));
    unix_sa.sa_family = AF_UNIX;
    for (i = 0; i < 10; i++) {
        assert_true(gpx_ratelimit_allow(&rl, &unix_sa, 0));
    }
    gpx_ratelimit_free(&rl);
}

/* Many more clients than slots: every new one gets a full bucket, the
 * table stays its size, and a recent client is remembered. */
static void
test_many_clients(void **state)
{
    struct gpx_ratelimit rl;
    struct sockaddr_in6 a;
    struct sockaddr_in recent = v4("192.0.2.7");
    unsigned i;

    (void)state;
    assert_int_equal(gpx_ratelimit_init(&rl, 1, 1), 0);
    memset(&a, 0, sizeof(a));
    a.sin6_family = AF_INET6;
    for (i = 0; i < 4 * GPX_RATELIMIT_SLOTS; i++) {
        memcpy(&a.sin6_addr, &i, sizeof(i));
        assert_true(gpx_ratelimit_allow(&rl, &a, SECOND + i));
    }
    assert_true(gpx_ratelimit_allow(&rl, &recent, 2 * SECOND));
    assert_false(gpx_ratelimit_allow(&rl, &recent, 2 * SECOND + 1));
    gpx_ratelimit_free(&rl);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_rate),
        cmocka_unit_test(test_off_and_other_families),
        cmocka_unit_test(test_many_clients),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
