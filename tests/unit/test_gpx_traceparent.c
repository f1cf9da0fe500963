/* The `traceparent` header's ids: the W3C Trace Context examples, every
 * kind of invalid value, the optional white space around it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gpx_traceparent.h"

/* The spec's example. */
#define EXAMPLE "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static const unsigned char example_trace[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                                                0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
static const unsigned char example_span[8] = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};

static int
parse(const char *value, struct gpx_trace_ids *ids)
{
    return gpx_traceparent_parse(value, strlen(value), ids);
}

/* Invalid: 0, and *ids as it was. */
static void
assert_invalid(const char *value)
{
    struct gpx_trace_ids ids;
    struct gpx_trace_ids before;

    memset(&ids, 0xa5, sizeof(ids));
    memcpy(&before, &ids, sizeof(ids));
    if (parse(value, &ids) != 0) {
        print_error("accepted: \"%s\"\n", value);
        fail();
    }
    assert_memory_equal(&ids, &before, sizeof(ids));
}

static void
assert_example(const char *value)
{
    struct gpx_trace_ids ids;

    memset(&ids, 0, sizeof(ids));
    if (parse(value, &ids) != 1) {
        print_error("refused: \"%s\"\n", value);
        fail();
    }
    assert_memory_equal(ids.trace_id, example_trace, 16);
    assert_memory_equal(ids.span_id, example_span, 8);
}

static void
test_the_spec_examples(void **state)
{
    struct gpx_trace_ids ids;
    static const unsigned char trace[16] = {0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd,
                                            0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c};
    static const unsigned char span[8] = {0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31};

    (void)state;
    assert_example(EXAMPLE);
    /* Not sampled: valid, its flags read (the caller decides). */
    assert_example("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
    memset(&ids, 0, sizeof(ids));
    assert_int_equal(parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", &ids), 1);
    assert_int_equal(ids.flags, 0);
    assert_int_equal(parse(EXAMPLE, &ids), 1);
    assert_int_equal(ids.flags, GPX_TRACE_SAMPLED);
    /* Flags beyond the sampled bit, which a later version may define. */
    assert_example("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff");
    assert_int_equal(parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff", &ids), 1);
    assert_int_equal(ids.flags, 0xff);
    /* The spec's example of a traceparent beside a tracestate. */
    memset(&ids, 0, sizeof(ids));
    assert_int_equal(parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", &ids), 1);
    assert_memory_equal(ids.trace_id, trace, 16);
    assert_memory_equal(ids.span_id, span, 8);
}

static void
test_every_hex_digit_and_one_nonzero_byte(void **state)
{
    struct gpx_trace_ids ids;
    static const unsigned char trace[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                            0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10};
    static const unsigned char last_only[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static const unsigned char span_first[8] = {0x80, 0, 0, 0, 0, 0, 0, 0};

    (void)state;
    assert_int_equal(parse("00-0123456789abcdeffedcba9876543210-0123456789abcdef-01", &ids), 1);
    assert_memory_equal(ids.trace_id, trace, 16);
    assert_memory_equal(ids.span_id, trace, 8);
    /* One bit set in either id is enough. */
    assert_int_equal(parse("00-00000000000000000000000000000001-8000000000000000-01", &ids), 1);
    assert_memory_equal(ids.trace_id, last_only, 16);
    assert_memory_equal(ids.span_id, span_first, 8);
}

static void
test_length(void **state)
{
    struct gpx_trace_ids ids;

    (void)state;
    assert_invalid("");
    assert_invalid("00");
    /* One byte short, one byte long. */
    assert_invalid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0");
    assert_invalid(EXAMPLE "1");
    assert_invalid(EXAMPLE "-");
    assert_invalid(EXAMPLE "-extra");
    /* The length is the caller's, not the NUL's: a prefix of 54 bytes. */
    assert_int_equal(gpx_traceparent_parse(EXAMPLE, 54, &ids), 0);
    assert_int_equal(gpx_traceparent_parse(EXAMPLE "junk", 55, &ids), 1);
    assert_memory_equal(ids.trace_id, example_trace, 16);
    /* Short fields, the length made up elsewhere. */
    assert_invalid("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-011");
    assert_invalid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-011");
    assert_invalid("0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-011");
}

static void
test_uppercase_and_other_bytes(void **state)
{
    (void)state;
    assert_invalid("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01");
    assert_invalid("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067aa0ba902b7-01");
    assert_invalid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A");
    assert_invalid("0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    /* Just past each end of the digits: '/' ':' '`' 'g' */
    assert_invalid("00-4bf92f3577b34da6a3ce929d0e0e473/-00f067aa0ba902b7-01");
    assert_invalid("00-4bf92f3577b34da6a3ce929d0e0e473:-00f067aa0ba902b7-01");
    assert_invalid("00-`bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    assert_invalid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bg-01");
    assert_invalid("0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    assert_invalid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x");
    /* A space inside a field, and a byte above 127. */
    assert_invalid("00-4bf92f3577b34da6 3ce929d0e0e4736-00f067aa0ba902b7-01");
    assert_invalid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0\xe1");
}

static void
test_all_zero_ids(void **state)
{
    (void)state;
    assert_invalid("00-00000000000000000000000000000000-00f067aa0ba902b7-01");
    assert_invalid("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01");
    assert_invalid("00-00000000000000000000000000000000-0000000000000000-01");
}

static void
test_separators(void **state)
{
    (void)state;
    assert_invalid("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    assert_invalid("00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01");
    assert_invalid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01");
    assert_invalid("00 4bf92f3577b34da6a3ce929d0e0e4736 00f067aa0ba902b7 01");
    /* The dashes one byte off. */
    assert_invalid("004-bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    assert_invalid("00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01");
}

static void
test_versions(void **state)
{
    struct gpx_trace_ids ids;

    (void)state;
    assert_invalid("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    assert_invalid("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds");
    /* A later version, exactly 55 bytes, or more after a '-'. */
    assert_example("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    assert_example("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds");
    assert_example("fe-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-");
    /* ... but not with more bytes that do not start with '-'. */
    assert_invalid("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01what-the-future-holds");
    assert_invalid("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-011");
    /* ... nor with its known fields invalid. */
    assert_invalid("cc-00000000000000000000000000000000-00f067aa0ba902b7-01-x");
    assert_invalid("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1-x");
    assert_invalid("cc-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01-x");
    /* Version 00 is exactly 55 bytes, even with a '-' after them. */
    assert_invalid(EXAMPLE "-01");
    assert_int_equal(parse("fe-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09", &ids), 1);
}

static void
test_white_space_around(void **state)
{
    struct gpx_trace_ids ids;

    (void)state;
    assert_example(" " EXAMPLE);
    assert_example(EXAMPLE " ");
    assert_example("\t " EXAMPLE " \t\t");
    assert_example("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x\t");
    /* Nothing but white space, and other white space than spaces and tabs. */
    assert_invalid("      ");
    assert_invalid("\n" EXAMPLE);
    assert_invalid(EXAMPLE "\r");
    assert_invalid(EXAMPLE "\v");
    /* Trimmed white space does not make up a short value. */
    assert_invalid(" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0 ");
    /* A length of 0 with a pointer to nothing readable. */
    assert_int_equal(gpx_traceparent_parse(NULL, 0, &ids), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_spec_examples),
        cmocka_unit_test(test_every_hex_digit_and_one_nonzero_byte),
        cmocka_unit_test(test_length),
        cmocka_unit_test(test_uppercase_and_other_bytes),
        cmocka_unit_test(test_all_zero_ids),
        cmocka_unit_test(test_separators),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_white_space_around),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
