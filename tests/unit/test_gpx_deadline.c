/* Deadlines on the monotonic clock: what is left of one, normalised times,
 * and nothing left once it has passed. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gpx_deadline.h"

static void
test_left_of_a_deadline(void **state)
{
    struct timespec d = gpx_deadline_in(60000);
    long left = gpx_deadline_left_ms(&d);

    (void)state;
    /* The clock moves between the two calls, by far less than a minute. */
    assert_true(left <= 60000);
    assert_true(left > 59000);
}

static void
test_nanoseconds_stay_below_a_second(void **state)
{
    unsigned long ms;

    (void)state;
    for (ms = 0; ms < 3000; ms += 37) {
        struct timespec d = gpx_deadline_in(ms);

        assert_true(d.tv_nsec >= 0);
        assert_true(d.tv_nsec < 1000000000);
    }
}

static void
test_passed_deadline_leaves_nothing(void **state)
{
    struct timespec now = gpx_deadline_in(0), past = now;

    (void)state;
    assert_int_equal(gpx_deadline_left_ms(&now), 0);
    past.tv_sec -= 5;
    assert_int_equal(gpx_deadline_left_ms(&past), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_left_of_a_deadline),
        cmocka_unit_test(test_nanoseconds_stay_below_a_second),
        cmocka_unit_test(test_passed_deadline_leaves_nothing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
