/* Unit tests of gpx_catalog: method indexes and bucket slots. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gpx_catalog.h"

/* Every listed method maps to itself; anything else, case included, is OTHER. */
static void
test_gpx_method_index_known_and_other(void **state)
{
    static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"};
    unsigned i;

    (void)state;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        enum gpx_method m = gpx_method_index(names[i], strlen(names[i]));

        assert_int_equal(m, i);
        assert_string_equal(gpx_method_label(m), names[i]);
    }
    assert_int_equal(gpx_method_index("get", 3), GPX_METHOD_OTHER);
    assert_int_equal(gpx_method_index("PROPFIND", 8), GPX_METHOD_OTHER);
    assert_int_equal(gpx_method_index("GETX", 3), GPX_METHOD_GET); /* the length decides, not a NUL */
    assert_int_equal(gpx_method_index("", 0), GPX_METHOD_OTHER);
    assert_string_equal(gpx_method_label(99), "OTHER");
}

/* A value equal to a bound falls in that bound's bucket (le is inclusive). */
static void
test_gpx_duration_slot_bounds_inclusive(void **state)
{
    (void)state;
    assert_int_equal(gpx_duration_slot(0), 0);
    assert_int_equal(gpx_duration_slot(5000), 0);
    assert_int_equal(gpx_duration_slot(5001), 1);
    assert_int_equal(gpx_duration_slot(60000000), GPX_DURATION_BOUNDS - 1);
    assert_int_equal(gpx_duration_slot(60000001), GPX_DURATION_BOUNDS);
    assert_int_equal(gpx_size_slot(1024), 0);
    assert_int_equal(gpx_size_slot(3000), 1);
    assert_int_equal(gpx_size_slot(4194305), GPX_SIZE_BOUNDS);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpx_method_index_known_and_other),
        cmocka_unit_test(test_gpx_duration_slot_bounds_inclusive),
    };

    return cmocka_run_group_tests_name("gpx_catalog", tests, NULL, NULL);
}
