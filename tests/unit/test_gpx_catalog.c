/* Unit tests of gpx_catalog: method indexes and bucket slots. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

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

/* The table's lookup reads no byte past the name (each is copied into a
 * buffer of exactly its length, which AddressSanitizer guards), and a name
 * one byte off a known one, or of another length, is OTHER. */
static void
test_gpx_method_index_exact_bytes(void **state)
{
    static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"};
    unsigned i;
    size_t at, len;

    (void)state;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t n = strlen(names[i]);
        char *copy = malloc(n);

        assert_non_null(copy);
        memcpy(copy, names[i], n);
        assert_int_equal(gpx_method_index(copy, n), i);
        for (at = 0; at < n; at++) {
            copy[at] ^= 0x20; /* the same letter in lower case */
            assert_int_equal(gpx_method_index(copy, n), GPX_METHOD_OTHER);
            copy[at] ^= 0x20;
        }
        for (len = 0; len < n; len++) { /* a prefix */
            assert_int_equal(gpx_method_index(copy, len), len == 3 && i == GPX_METHOD_PUT   ? GPX_METHOD_PUT
                                                          : len == 3 && i == GPX_METHOD_GET ? GPX_METHOD_GET
                                                                                            : GPX_METHOD_OTHER);
        }
        free(copy);
    }
    assert_int_equal(gpx_method_index("G", 1), GPX_METHOD_OTHER);
    assert_int_equal(gpx_method_index("GE", 2), GPX_METHOD_OTHER);
    assert_int_equal(gpx_method_index("OPTIONSX", 8), GPX_METHOD_OTHER);
    assert_int_equal(gpx_method_index("GET\0", 4), GPX_METHOD_OTHER);
    assert_int_equal(gpx_method_index("POSX", 4), GPX_METHOD_OTHER);
    assert_int_equal(gpx_method_index("DELETF", 6), GPX_METHOD_OTHER);
    assert_int_equal(gpx_method_index("OPTIOMS", 7), GPX_METHOD_OTHER); /* a middle byte */
}

/* The constants the request path compares with first are the bounds'. */
static void
test_gpx_first_bounds_are_the_arrays(void **state)
{
    (void)state;
    assert_int_equal(GPX_DURATION_FIRST_BOUND_US, gpx_duration_bounds_us[0]);
    assert_int_equal(GPX_SIZE_FIRST_BOUND, gpx_size_bounds[0]);
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

/* The slot whose bucket holds d microseconds by the definition: the first
 * s with d <= upper[s] (bucket s + offset holds (2^((i-1)/8), 2^(i/8)] s). */
static unsigned
reference_slot(uint64_t d)
{
    unsigned s;

    if (d == 0) {
        return 0;
    }
    for (s = 1; s < GPX_NATIVE_SLOTS - 1; s++) {
        if (d <= gpx_native_upper_us[s]) {
            return s;
        }
    }
    return GPX_NATIVE_SLOTS - 1;
}

/* Each slot's bound is floor(1e6 * 2^(i/8)), checked here in long double
 * apart from the generator's decimal arithmetic. */
static void
test_gpx_native_bounds(void **state)
{
    unsigned s;

    (void)state;
    assert_true(gpx_native_upper_us[0] == 0);
    for (s = 1; s < GPX_NATIVE_SLOTS - 1; s++) {
        long double exact = 1e6L * exp2l((long double)((int)s + GPX_NATIVE_INDEX_OFFSET) / 8.0L);

        assert_true(gpx_native_upper_us[s] == (uint64_t)floorl(exact));
    }
    /* The last slot takes every longer duration. */
    assert_true(1e6L * exp2l((long double)(GPX_NATIVE_SLOTS - 1 + GPX_NATIVE_INDEX_OFFSET) / 8.0L) ==
                (long double)GPX_NATIVE_MAX_US);
    assert_true(gpx_native_upper_us[GPX_NATIVE_SLOTS - 1] == UINT64_MAX);
}

/* The two-step lookup agrees with the definition for every duration up to
 * 2^20 us, at and beside every bound, and along the whole range. */
static void
test_gpx_native_slot_matches_definition(void **state)
{
    uint64_t d;
    unsigned s;

    (void)state;
    for (d = 0; d <= (1u << 20); d++) {
        assert_int_equal(gpx_native_slot(d), reference_slot(d));
    }
    for (s = 1; s < GPX_NATIVE_SLOTS; s++) {
        uint64_t u = gpx_native_upper_us[s];

        assert_int_equal(gpx_native_slot(u), reference_slot(u));
        assert_int_equal(gpx_native_slot(u + 1), reference_slot(u + 1));
        assert_int_equal(gpx_native_slot(u - 1), reference_slot(u - 1));
    }
    for (d = 1u << 20; d < UINT64_MAX / 2; d += d / 1000 + 1) {
        assert_int_equal(gpx_native_slot(d), reference_slot(d));
    }
    for (s = 0; s < 64; s++) {
        assert_int_equal(gpx_native_slot(UINT64_MAX >> s), reference_slot(UINT64_MAX >> s));
        assert_int_equal(gpx_native_slot(1ull << s), reference_slot(1ull << s));
    }
    assert_int_equal(gpx_native_slot(UINT64_MAX), GPX_NATIVE_SLOTS - 1);
    assert_int_equal(gpx_native_slot(0), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpx_method_index_known_and_other),
        cmocka_unit_test(test_gpx_method_index_exact_bytes),
        cmocka_unit_test(test_gpx_first_bounds_are_the_arrays),
        cmocka_unit_test(test_gpx_duration_slot_bounds_inclusive),
        cmocka_unit_test(test_gpx_native_bounds),
        cmocka_unit_test(test_gpx_native_slot_matches_definition),
    };

    return cmocka_run_group_tests_name("gpx_catalog", tests, NULL, NULL);
}
