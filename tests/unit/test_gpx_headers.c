/* The endpoint's answer headers: defaults, changes, refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gpx_headers.h"

static const char *
value_of(const struct gpx_headers *h, const char *name)
{
    unsigned i;

    for (i = 0; i < h->count; i++) {
        if (strcmp(h->list[i].name, name) == 0) {
            return h->list[i].value;
        }
    }
    return NULL;
}

static void
test_defaults(void **state)
{
    struct gpx_headers h;
    char why[256];

    (void)state;
    assert_int_equal(gpx_headers_build(&h, "", 0, why, sizeof(why)), 0);
    assert_int_equal(h.count, 2);
    assert_string_equal(value_of(&h, "X-Content-Type-Options"), "nosniff");
    assert_string_equal(value_of(&h, "X-Frame-Options"), "deny");
    assert_int_equal(gpx_headers_build(&h, NULL, 1, why, sizeof(why)), 0);
    assert_int_equal(h.count, 3);
    assert_string_equal(value_of(&h, "Strict-Transport-Security"), "max-age=31536000");
}

static void
test_changes(void **state)
{
    struct gpx_headers h;
    char why[256];

    (void)state;
    assert_int_equal(gpx_headers_build(
                         &h,
                         " x-frame-options : sameorigin | X-Content-Type-Options: |"
                         "Cache-Control: no-store, max-age=0||Strict-Transport-Security: max-age=60; includeSubDomains",
                         1, why, sizeof(why)),
                     0);
    assert_int_equal(h.count, 3);
    assert_string_equal(value_of(&h, "X-Frame-Options"), "sameorigin");
    assert_null(value_of(&h, "X-Content-Type-Options"));
    assert_string_equal(value_of(&h, "Cache-Control"), "no-store, max-age=0");
    assert_string_equal(value_of(&h, "Strict-Transport-Security"), "max-age=60; includeSubDomains");
}

static void
test_refusals(void **state)
{
    struct gpx_headers h;
    char why[512];

    (void)state;
    assert_int_equal(gpx_headers_build(&h, "Content-Type: text/html", 1, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "Content-Type is not a header gpx-http-headers sets"));
    assert_int_equal(h.count, 0);
    assert_int_equal(gpx_headers_build(&h, "Strict-Transport-Security: max-age=1", 0, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "without TLS"));
    assert_int_equal(gpx_headers_build(&h, "Cache-Control: a\r\nSet-Cookie: x", 0, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "not printable ASCII"));
    assert_int_equal(gpx_headers_build(&h, ": x", 0, why, sizeof(why)), -1);
    assert_int_equal(gpx_headers_build(&h, "Cache-Control", 0, why, sizeof(why)), -1);
    assert_string_equal(why, "\"Cache-Control\" is not Name: value");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_changes),
        cmocka_unit_test(test_refusals),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
