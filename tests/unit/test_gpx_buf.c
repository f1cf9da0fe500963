/* Unit tests of gpx_buf: growth, reset, the failed state and steal; arrays
 * grown with gpx_grow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gpx_buf.h"

/* The expected contents, built independently of gpx_buf. */
static char expected[1 << 20];
static size_t expected_len;

static void
expect_bytes(const char *data, size_t len)
{
    assert_true(expected_len + len < sizeof(expected));
    memcpy(expected + expected_len, data, len);
    expected_len += len;
    expected[expected_len] = '\0';
}

static void
assert_buf_is_expected(const struct gpx_buf *buf)
{
    assert_int_equal(buf->failed, 0);
    assert_int_equal(buf->len, expected_len);
    assert_true(buf->cap > buf->len);
    assert_memory_equal(buf->data, expected, expected_len);
    assert_int_equal(buf->data[buf->len], '\0');
}

/* A new buffer is empty, NUL-terminated and has at least 64 bytes reserved. */
static void
test_gpx_buf_init_empty(void **state)
{
    struct gpx_buf buf;

    (void)state;
    assert_int_equal(gpx_buf_init(&buf, 0), 0);
    assert_non_null(buf.data);
    assert_int_equal(buf.len, 0);
    assert_true(buf.cap >= 64);
    assert_int_equal(buf.failed, 0);
    assert_string_equal(buf.data, "");
    gpx_buf_free(&buf);

    assert_int_equal(gpx_buf_init(&buf, 10000), 0);
    assert_true(buf.cap >= 10000);
    gpx_buf_free(&buf);
}

/* Thousands of appends of varying sizes (bytes with NULs included) keep
 * exactly the bytes appended, in order, whatever the growth steps. */
static void
test_gpx_buf_append_many_grows(void **state)
{
    struct gpx_buf buf;
    char piece[300];
    unsigned i;

    (void)state;
    expected_len = 0;
    assert_int_equal(gpx_buf_init(&buf, 1), 0);
    for (i = 0; i < 3000; i++) {
        size_t len = (i * 37u) % sizeof(piece);
        size_t j;

        for (j = 0; j < len; j++) {
            piece[j] = (char)((i + j) % 251); /* includes '\0' bytes */
        }
        assert_int_equal(gpx_buf_append(&buf, piece, len), 0);
        expect_bytes(piece, len);
    }
    assert_buf_is_expected(&buf);
    gpx_buf_free(&buf);
}

/* puts appends a C string without its NUL; an empty string changes nothing. */
static void
test_gpx_buf_puts_appends_text(void **state)
{
    struct gpx_buf buf;

    (void)state;
    assert_int_equal(gpx_buf_init(&buf, 0), 0);
    assert_int_equal(gpx_buf_puts(&buf, "hello"), 0);
    assert_int_equal(gpx_buf_puts(&buf, ""), 0);
    assert_int_equal(gpx_buf_puts(&buf, ", world"), 0);
    assert_string_equal(buf.data, "hello, world");
    assert_int_equal(buf.len, 12);
    gpx_buf_free(&buf);
}

/* printf output matches snprintf's, across many small lines and across
 * single outputs larger than both the reserve step and the capacity. */
static void
test_gpx_buf_printf_many_grows(void **state)
{
    struct gpx_buf buf;
    char line[128];
    char fill[200];
    char *big;
    unsigned i;
    int n;

    (void)state;
    expected_len = 0;
    assert_int_equal(gpx_buf_init(&buf, 0), 0);
    for (i = 0; i < 5000; i++) {
        n = snprintf(line, sizeof(line), "metric_%u{worker_id=\"%u\"} %.6f\n", i, i % 7, i / 8.0);
        assert_int_equal(gpx_buf_printf(&buf, "metric_%u{worker_id=\"%u\"} %.6f\n", i, i % 7, i / 8.0), 0);
        expect_bytes(line, (size_t)n);
    }
    assert_buf_is_expected(&buf);

    /* One output far larger than the capacity: the second formatting path. */
    big = malloc(100001);
    assert_non_null(big);
    memset(big, 'x', 100000);
    big[100000] = '\0';
    assert_int_equal(gpx_buf_printf(&buf, "<%s>", big), 0);
    expect_bytes("<", 1);
    expect_bytes(big, 100000);
    expect_bytes(">", 1);
    assert_buf_is_expected(&buf);
    free(big);

    gpx_buf_free(&buf);

    /* Outputs around the reserve step, on fresh buffers: the first
     * formatting fits, or only just does not. */
    for (n = 120; n <= 140; n++) {
        assert_int_equal(gpx_buf_init(&buf, 0), 0);
        expected_len = 0;
        memset(fill, 'y', sizeof(fill));
        assert_int_equal(gpx_buf_puts(&buf, "ab"), 0);
        expect_bytes("ab", 2);
        assert_int_equal(gpx_buf_printf(&buf, "%.*s", n - 2, fill), 0);
        expect_bytes(fill, (size_t)n - 2);
        assert_buf_is_expected(&buf);
        gpx_buf_free(&buf);
    }
}

/* A zeroed buffer (never initialised) grows on first use. */
static void
test_gpx_buf_append_zeroed_buffer(void **state)
{
    struct gpx_buf buf;

    (void)state;
    memset(&buf, 0, sizeof(buf));
    assert_int_equal(gpx_buf_puts(&buf, "abc"), 0);
    assert_int_equal(gpx_buf_printf(&buf, "%d", 42), 0);
    assert_string_equal(buf.data, "abc42");
    assert_int_equal(buf.len, 5);
    gpx_buf_free(&buf);

    memset(&buf, 0, sizeof(buf));
    assert_int_equal(gpx_buf_printf(&buf, "%s", "first"), 0);
    assert_string_equal(buf.data, "first");
    gpx_buf_free(&buf);
}

/* reset empties the contents but keeps the memory, and the buffer is
 * usable again; it also clears a failed state. */
static void
test_gpx_buf_reset_keeps_memory(void **state)
{
    struct gpx_buf buf;
    char *data;
    size_t cap;
    unsigned i;

    (void)state;
    assert_int_equal(gpx_buf_init(&buf, 0), 0);
    for (i = 0; i < 100; i++) {
        assert_int_equal(gpx_buf_puts(&buf, "0123456789"), 0);
    }
    data = buf.data;
    cap = buf.cap;
    gpx_buf_reset(&buf);
    assert_int_equal(buf.len, 0);
    assert_string_equal(buf.data, "");
    assert_ptr_equal(buf.data, data);
    assert_int_equal(buf.cap, cap);
    assert_int_equal(gpx_buf_puts(&buf, "again"), 0);
    assert_string_equal(buf.data, "again");

    /* A failed buffer refuses more text and keeps what it had... */
    buf.failed = 1;
    assert_int_equal(gpx_buf_puts(&buf, "more"), -1);
    assert_int_equal(gpx_buf_printf(&buf, "%s", "more"), -1);
    assert_int_equal(buf.len, 5);
    assert_string_equal(buf.data, "again");
    /* ...until reset. */
    gpx_buf_reset(&buf);
    assert_int_equal(buf.failed, 0);
    assert_int_equal(gpx_buf_puts(&buf, "ok"), 0);
    assert_string_equal(buf.data, "ok");
    gpx_buf_free(&buf);
}

/* steal hands over the NUL-terminated contents and their length, leaves the
 * buffer zeroed (freeing it is then a no-op) and reusable. */
static void
test_gpx_buf_steal_hands_over(void **state)
{
    struct gpx_buf buf;
    char *data;
    size_t len = 0;
    unsigned i;

    (void)state;
    expected_len = 0;
    assert_int_equal(gpx_buf_init(&buf, 0), 0);
    for (i = 0; i < 200; i++) {
        assert_int_equal(gpx_buf_printf(&buf, "line %u\n", i), 0);
        {
            char line[32];
            int n = snprintf(line, sizeof(line), "line %u\n", i);

            expect_bytes(line, (size_t)n);
        }
    }
    data = gpx_buf_steal(&buf, &len);
    assert_non_null(data);
    assert_int_equal(len, expected_len);
    assert_memory_equal(data, expected, expected_len + 1);
    assert_null(buf.data);
    assert_int_equal(buf.len, 0);
    assert_int_equal(buf.cap, 0);
    assert_int_equal(buf.failed, 0);
    gpx_buf_free(&buf);
    free(data);

    /* The emptied buffer takes text again; steal without a length. */
    assert_int_equal(gpx_buf_puts(&buf, "next"), 0);
    data = gpx_buf_steal(&buf, NULL);
    assert_string_equal(data, "next");
    free(data);
}

/* free releases the memory and leaves a zeroed buffer; twice is safe. */
static void
test_gpx_buf_free_twice_safe(void **state)
{
    struct gpx_buf buf;

    (void)state;
    assert_int_equal(gpx_buf_init(&buf, 0), 0);
    assert_int_equal(gpx_buf_puts(&buf, "x"), 0);
    gpx_buf_free(&buf);
    assert_null(buf.data);
    assert_int_equal(buf.len, 0);
    assert_int_equal(buf.cap, 0);
    gpx_buf_free(&buf);
}

/* gpx_grow doubles from `first`, keeps what the array held, and leaves an
 * array with room alone. */
static void
test_gpx_grow_doubles_and_keeps(void **state)
{
    long *items = NULL;
    size_t cap = 0, count;

    (void)state;
    for (count = 0; count < 100; count++) {
        assert_int_equal(gpx_grow(&items, &cap, count, sizeof(*items), 4), 0);
        assert_true(cap > count);
        items[count] = (long)count * 3;
    }
    assert_int_equal(cap, 128);
    for (count = 0; count < 100; count++) {
        assert_int_equal(items[count], (long)count * 3);
    }
    assert_int_equal(gpx_grow(&items, &cap, 100, sizeof(*items), 4), 0);
    assert_int_equal(cap, 128);
    /* Too large to count in bytes: refused, the array as it was. */
    assert_int_equal(gpx_grow(&items, &cap, 128, SIZE_MAX / 64, 4), -1);
    assert_int_equal(cap, 128);
    assert_int_equal(items[99], 297);
    free(items);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpx_buf_init_empty),           cmocka_unit_test(test_gpx_buf_append_many_grows),
        cmocka_unit_test(test_gpx_buf_puts_appends_text),    cmocka_unit_test(test_gpx_buf_printf_many_grows),
        cmocka_unit_test(test_gpx_buf_append_zeroed_buffer), cmocka_unit_test(test_gpx_buf_reset_keeps_memory),
        cmocka_unit_test(test_gpx_buf_steal_hands_over),     cmocka_unit_test(test_gpx_buf_free_twice_safe),
        cmocka_unit_test(test_gpx_grow_doubles_and_keeps),
    };

    return cmocka_run_group_tests_name("gpx_buf", tests, NULL, NULL);
}
