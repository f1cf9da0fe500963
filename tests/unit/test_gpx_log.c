/* Unit tests of gpx_log: a formatted line handed to the caller's log, and
 * errors written into the caller's buffer, both safe without either. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gpx_log.h"

static char last[8192];
static unsigned lines;

static void
capture(const char *line)
{
    snprintf(last, sizeof(last), "%s", line);
    lines++;
}

static void
test_gpx_log_formats_one_line(void **state)
{
    char path[6000];

    (void)state;
    lines = 0;
    gpx_log(capture, "gpx: %s was %s", "/tmp/x", "removed");
    assert_int_equal(lines, 1);
    assert_string_equal(last, "gpx: /tmp/x was removed");
    gpx_log(NULL, "nothing %d", 1);
    assert_int_equal(lines, 1);
    /* A path as long as PATH_MAX, and what is said about it, fit. */
    memset(path, 'p', 4095);
    path[4095] = '\0';
    gpx_log(capture, "gpx: %s cannot be written: %s", path, "No space left on device");
    assert_int_equal(strlen(last), 4095 + strlen("gpx:  cannot be written: No space left on device"));
    memset(path, 'p', sizeof(path) - 1);
    path[sizeof(path) - 1] = '\0';
    gpx_log(capture, "%s", path);
    assert_true(strlen(last) < sizeof(path) - 1); /* cut, never overflowing */
}

static void
test_gpx_set_error(void **state)
{
    char err[8];

    (void)state;
    gpx_set_error(err, sizeof(err), "cannot %s", "open it");
    assert_string_equal(err, "cannot ");
    gpx_set_error(NULL, 10, "nothing");
    err[0] = 'x';
    gpx_set_error(err, 0, "nothing");
    assert_int_equal(err[0], 'x');
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpx_log_formats_one_line),
        cmocka_unit_test(test_gpx_set_error),
    };

    return cmocka_run_group_tests_name("gpx_log", tests, NULL, NULL);
}
