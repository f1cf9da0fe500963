/* Unit tests of gpx_error_names (the shared table of exception class names)
 * and of failures counted by class in a cell. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gpx_error_names.h"
#include "gpx_scoreboard.h"
#include "gpx_test_support.h"

static int
add(struct gpx_error_names *t, const char *name)
{
    return gpx_error_names_find_or_add(t, name, strlen(name));
}

/* New names take the next free slot; a known name gets its slot back; the
 * length decides, not a NUL; an empty name has none. */
static void
test_gpx_error_names_insert_and_find(void **state)
{
    static struct gpx_error_names t;

    (void)state;
    memset(&t, 0, sizeof(t));
    assert_int_equal(add(&t, "ZeroDivisionError"), 0);
    assert_int_equal(add(&t, "KeyError"), 1);
    assert_int_equal(add(&t, "ZeroDivisionError"), 0);
    assert_int_equal(add(&t, "KeyError"), 1);
    assert_int_equal(gpx_error_names_find_or_add(&t, "KeyErrorX", 8), 1);
    assert_int_equal(add(&t, "Key"), 2); /* a prefix is another name */
    assert_int_equal(add(&t, ""), -1);
    assert_string_equal(gpx_error_names_get(&t, 0), "ZeroDivisionError");
    assert_string_equal(gpx_error_names_get(&t, 1), "KeyError");
    assert_string_equal(gpx_error_names_get(&t, 2), "Key");
    assert_null(gpx_error_names_get(&t, 3));
    assert_null(gpx_error_names_get(&t, GPX_ERROR_NAMES));
    assert_int_equal(t.slot[1].state, GPX_ERROR_NAME_READY);
    assert_int_equal(t.slot[1].len, 8);
}

/* A full table finds the names it has and refuses new ones. */
static void
test_gpx_error_names_full_table(void **state)
{
    static struct gpx_error_names t;
    char name[32];
    int i;

    (void)state;
    memset(&t, 0, sizeof(t));
    for (i = 0; i < GPX_ERROR_NAMES; i++) {
        snprintf(name, sizeof(name), "Error%d", i);
        assert_int_equal(add(&t, name), i);
    }
    assert_int_equal(add(&t, "OneTooMany"), -1);
    assert_int_equal(add(&t, "Error0"), 0);
    assert_int_equal(add(&t, "Error31"), GPX_ERROR_NAMES - 1);
    assert_int_equal(add(&t, "OneTooMany"), -1);
}

/* What another process left in the table: a slot claimed but never
 * published (it died while writing) is passed over after a bounded wait,
 * never read, and the name goes to the next slot; a published name written
 * by another process is found, not added twice. repair frees the half-written
 * slot. */
static void
test_gpx_error_names_other_writers(void **state)
{
    static struct gpx_error_names t;

    (void)state;
    memset(&t, 0, sizeof(t));
    t.slot[0].state = GPX_ERROR_NAME_WRITING;
    memcpy(t.slot[0].name, "KeyErr", 6); /* half-written, no NUL yet */
    t.slot[1].len = 8;
    memcpy(t.slot[1].name, "KeyError", 9);
    t.slot[1].state = GPX_ERROR_NAME_READY;

    assert_int_equal(add(&t, "KeyError"), 1);
    assert_int_equal(add(&t, "ValueError"), 2);
    assert_null(gpx_error_names_get(&t, 0));

    gpx_error_names_repair(&t);
    assert_int_equal(t.slot[0].state, GPX_ERROR_NAME_FREE);
    assert_string_equal(gpx_error_names_get(&t, 1), "KeyError");
    assert_int_equal(add(&t, "TypeError"), 0);

    /* A damaged slot (length past the name) is never read. */
    t.slot[3].len = GPX_ERROR_NAME_MAX + 5;
    t.slot[3].state = GPX_ERROR_NAME_READY;
    assert_null(gpx_error_names_get(&t, 3));
}

/* Long names are cut to GPX_ERROR_NAME_MAX bytes, never inside a UTF-8
 * character; two names that agree on the kept bytes share a slot. */
static void
test_gpx_error_names_long_names_cut(void **state)
{
    static struct gpx_error_names t;
    char name[200];

    (void)state;
    memset(&t, 0, sizeof(t));
    memset(name, 'a', sizeof(name));
    assert_int_equal(gpx_error_names_find_or_add(&t, name, 150), 0);
    assert_int_equal(strlen(gpx_error_names_get(&t, 0)), GPX_ERROR_NAME_MAX);
    assert_int_equal(gpx_error_names_find_or_add(&t, name, 120), 0);

    /* "é" (0xC3 0xA9) across the cut: dropped whole. */
    memset(name, 'b', sizeof(name));
    name[GPX_ERROR_NAME_MAX - 1] = (char)0xC3;
    name[GPX_ERROR_NAME_MAX] = (char)0xA9;
    assert_int_equal(gpx_error_names_find_or_add(&t, name, GPX_ERROR_NAME_MAX + 1), 1);
    assert_int_equal(strlen(gpx_error_names_get(&t, 1)), GPX_ERROR_NAME_MAX - 1);
}

/* Merging gives each published name of `from` its index in `into`: names
 * already there keep theirs, new ones are appended, free slots map to -1,
 * and names past a full `into` map to -1. */
static void
test_gpx_error_names_merge(void **state)
{
    static struct gpx_error_names into, from;
    int map[GPX_ERROR_NAMES];
    char name[32];
    int i;

    (void)state;
    memset(&into, 0, sizeof(into));
    memset(&from, 0, sizeof(from));
    add(&into, "RuntimeError");
    add(&into, "ZeroDivisionError");
    add(&from, "ZeroDivisionError");
    add(&from, "KeyError");
    gpx_error_names_merge(&into, &from, map);
    assert_int_equal(map[0], 1);
    assert_int_equal(map[1], 2);
    assert_int_equal(map[2], -1);
    assert_string_equal(gpx_error_names_get(&into, 2), "KeyError");

    for (i = 3; i < GPX_ERROR_NAMES; i++) {
        snprintf(name, sizeof(name), "Filler%d", i);
        add(&into, name);
    }
    add(&from, "NoRoom");
    gpx_error_names_merge(&into, &from, map);
    assert_int_equal(map[0], 1);
    assert_int_equal(map[2], -1);
}

/* Python names builtins with their module ("builtins.KeyError"): the label
 * is the name its traceback prints; other names are kept whole. */
static void
test_gpx_error_name_label(void **state)
{
    static const struct {
        const char *reported;
        const char *label;
    } cases[] = {
        {"builtins.KeyError", "KeyError"},
        {"__main__.AppError", "AppError"},
        {"myapp.errors.NotFound", "myapp.errors.NotFound"},
        {"ZeroDivisionError", "ZeroDivisionError"},
        {"Foo::BarError", "Foo::BarError"},
        {"builtins.", "builtins."},
    };
    unsigned i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = strlen(cases[i].reported);
        const char *label = gpx_error_name_label(cases[i].reported, &len);

        assert_int_equal(len, strlen(cases[i].label));
        assert_memory_equal(label, cases[i].label, len);
    }
}

/* A failure of a known class counts under (method, app, class); one of no
 * known class, or past the cell's GPX_FAILED_SLOTS triples, counts in
 * failed[method][app] (error_type "exception"). */
static void
test_gpx_cell_failures_by_class(void **state)
{
    static struct gpx_cell cell;
    struct gpx_request r;
    unsigned n;

    (void)state;
    memset(&cell, 0, sizeof(cell));
    memset(&r, 0, sizeof(r));
    r.method = GPX_METHOD_GET;
    r.raised = 1;
    r.error_name = 1; /* class 0 */
    gpx_cell_record(&cell, &r);
    gpx_cell_record(&cell, &r);
    r.error_name = 2; /* class 1 */
    gpx_cell_record(&cell, &r);
    r.error_name = 0; /* unknown */
    gpx_cell_record(&cell, &r);
    r.app_id = 3;
    r.error_name = 1;
    gpx_cell_record(&cell, &r);
    r.raised = 0; /* a class without a failure counts nothing */
    gpx_cell_record(&cell, &r);

    assert_true(gpx_cell_failures(&cell, GPX_METHOD_GET, 0, 0) == 2);
    assert_true(gpx_cell_failures(&cell, GPX_METHOD_GET, 0, 1) == 1);
    assert_true(gpx_cell_failures(&cell, GPX_METHOD_GET, 3, 0) == 1);
    assert_true(gpx_cell_failures(&cell, GPX_METHOD_POST, 0, 0) == 0);
    assert_true(cell.failed[GPX_METHOD_GET][0] == 1);
    assert_int_equal(failed_keys(&cell), 3);

    /* Fill the table: every (method, app, class) triple is one key. */
    memset(&cell, 0, sizeof(cell));
    for (n = 0; n < GPX_FAILED_SLOTS + 4; n++) {
        gpx_cell_count_failure(&cell, GPX_METHOD_POST, n % GPX_MAX_APPS, (int)(n / GPX_MAX_APPS));
    }
    assert_int_equal(failed_keys(&cell), GPX_FAILED_SLOTS);
    for (n = 0; n < GPX_FAILED_SLOTS; n++) {
        assert_true(gpx_cell_failures(&cell, GPX_METHOD_POST, n % GPX_MAX_APPS, n / GPX_MAX_APPS) == 1);
    }
    assert_true(cell.failed[GPX_METHOD_POST][0] == 1);
    assert_true(cell.failed[GPX_METHOD_POST][3] == 1);
    assert_true(cell.failed[GPX_METHOD_POST][4] == 0);
    gpx_cell_count_failure(&cell, GPX_METHOD_POST, 0, 0); /* a known key keeps counting */
    assert_true(gpx_cell_failures(&cell, GPX_METHOD_POST, 0, 0) == 2);
    gpx_cell_count_failure(&cell, GPX_METHOD_POST, 0, GPX_ERROR_NAMES); /* no such class */
    assert_true(cell.failed[GPX_METHOD_POST][0] == 2);
}

/* Adding a cell renamed: each class index follows the map, -1 and indexes
 * out of range go to the classless row; counts of one class merge. */
static void
test_gpx_cell_add_renamed(void **state)
{
    static struct gpx_cell src, dst;
    int map[GPX_ERROR_NAMES];
    unsigned i;

    (void)state;
    memset(&src, 0, sizeof(src));
    memset(&dst, 0, sizeof(dst));
    for (i = 0; i < GPX_ERROR_NAMES; i++) {
        map[i] = -1;
    }
    map[0] = 5;
    map[1] = 2;
    /* Failures come with their requests' status keys (gpx_cell_record):
     * a reader skips the rows of methods without one. */
    gpx_cell_count_status(&src, GPX_METHOD_GET, 500);
    gpx_cell_count_failure(&src, GPX_METHOD_GET, 1, 0);
    gpx_cell_count_failure(&src, GPX_METHOD_GET, 1, 0);
    gpx_cell_count_failure(&src, GPX_METHOD_GET, 1, 1);
    gpx_cell_count_failure(&src, GPX_METHOD_GET, 1, 2); /* unmapped */
    gpx_cell_count_failure(&dst, GPX_METHOD_GET, 1, 5);

    gpx_cell_add_renamed(&dst, &src, map);
    assert_true(gpx_cell_failures(&dst, GPX_METHOD_GET, 1, 5) == 3);
    assert_true(gpx_cell_failures(&dst, GPX_METHOD_GET, 1, 2) == 1);
    assert_true(gpx_cell_failures(&dst, GPX_METHOD_GET, 1, 0) == 0);
    assert_true(dst.failed[GPX_METHOD_GET][1] == 1);

    /* Without a map the indexes stay. */
    memset(&dst, 0, sizeof(dst));
    gpx_cell_add(&dst, &src);
    assert_true(gpx_cell_failures(&dst, GPX_METHOD_GET, 1, 0) == 2);
    assert_true(gpx_cell_failures(&dst, GPX_METHOD_GET, 1, 2) == 1);

    /* A damaged key from a file: method and app clamped, class out of range classless. */
    memset(&src, 0, sizeof(src));
    memset(&dst, 0, sizeof(dst));
    gpx_cell_count_status(&src, GPX_METHOD_GET, 500);
    src.failed_key[0] = gpx_failed_key(200, 200, 250);
    src.failed_count[0] = 7;
    gpx_cell_add(&dst, &src);
    assert_true(dst.failed[GPX_METHOD_OTHER][GPX_MAX_APPS - 1] == 7);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpx_error_names_insert_and_find), cmocka_unit_test(test_gpx_error_names_full_table),
        cmocka_unit_test(test_gpx_error_names_other_writers),   cmocka_unit_test(test_gpx_error_names_long_names_cut),
        cmocka_unit_test(test_gpx_error_names_merge),           cmocka_unit_test(test_gpx_error_name_label),
        cmocka_unit_test(test_gpx_cell_failures_by_class),      cmocka_unit_test(test_gpx_cell_add_renamed),
    };

    return cmocka_run_group_tests_name("gpx_error_names", tests, NULL, NULL);
}
