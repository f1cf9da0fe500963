/* The exemplars' store: a write read back exactly, nothing before the
 * first write, the newest of a (method, slot) over workers and cores, the
 * board's layout and limits, and the text after a bucket's line. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "gpx_exemplar.h"

static struct gpx_trace_ids
ids_of(unsigned char trace_first, unsigned char span_first)
{
    struct gpx_trace_ids ids;
    unsigned i;

    for (i = 0; i < 16; i++) {
        ids.trace_id[i] = (unsigned char)(trace_first + i);
    }
    for (i = 0; i < 8; i++) {
        ids.span_id[i] = (unsigned char)(span_first + i);
    }
    ids.flags = GPX_TRACE_SAMPLED;
    return ids;
}

static void
assert_copy(const struct gpx_exemplar_copy *x, const struct gpx_trace_ids *ids, uint64_t value_us, uint64_t time_us)
{
    assert_int_equal(x->value_us, value_us);
    assert_int_equal(x->time_us, time_us);
    assert_memory_equal(x->trace_id, ids->trace_id, 16);
    assert_memory_equal(x->span_id, ids->span_id, 8);
}

static void
test_layout(void **state)
{
    (void)state;
    assert_int_equal(sizeof(struct gpx_exemplar), 64);
    assert_int_equal(_Alignof(struct gpx_exemplar), 64);
    assert_int_equal(offsetof(struct gpx_exemplar, trace_id), 24);
    assert_int_equal(offsetof(struct gpx_exemplar, span_id), 40);
}

static void
test_write_then_read(void **state)
{
    struct gpx_exemplar e;
    struct gpx_exemplar_copy x;
    struct gpx_trace_ids a = ids_of(0x10, 0xf0), b = ids_of(0x40, 0x01);

    (void)state;
    memset(&e, 0, sizeof(e));
    memset(&x, 0x5a, sizeof(x));
    assert_int_equal(gpx_exemplar_read(&e, &x), 0);
    gpx_exemplar_write(&e, &a, 67000, 1733350000123456u);
    assert_int_equal(e.seq, 2);
    assert_int_equal(gpx_exemplar_read(&e, &x), 1);
    assert_copy(&x, &a, 67000, 1733350000123456u);
    /* The next write replaces the whole of it. */
    gpx_exemplar_write(&e, &b, 1, 1733350001000000u);
    assert_int_equal(e.seq, 4);
    assert_int_equal(gpx_exemplar_read(&e, &x), 1);
    assert_copy(&x, &b, 1, 1733350001000000u);
    /* The bytes in the exemplar are the ids' own, in order. */
    assert_memory_equal(e.trace_id, b.trace_id, 16);
    assert_memory_equal(e.span_id, b.span_id, 8);
    assert_int_equal(e.reserved, 0);
}

static void
test_being_written_is_skipped(void **state)
{
    struct gpx_exemplar e;
    struct gpx_exemplar_copy x;
    struct gpx_trace_ids a = ids_of(1, 2), b = ids_of(3, 4);

    (void)state;
    memset(&e, 0, sizeof(e));
    gpx_exemplar_write(&e, &a, 10, 20);
    /* A writer stopped mid-write (descheduled, or killed): the reader
     * gives up after its few tries, and copies nothing. */
    e.seq = 3;
    memset(&x, 0, sizeof(x));
    assert_int_equal(gpx_exemplar_read(&e, &x), 0);
    assert_int_equal(x.value_us, 0);
    /* The next owner of the exemplar (the worker respawned in the killed
     * one's slot) writes from the next even count: readers see its write. */
    gpx_exemplar_write(&e, &b, 30, 40);
    assert_int_equal(e.seq, 6);
    assert_int_equal(gpx_exemplar_read(&e, &x), 1);
    assert_copy(&x, &b, 30, 40);
}

static void
test_board_open_and_close(void **state)
{
    struct gpx_exemplar_board b;
    struct gpx_exemplar_copy x;
    char err[256];
    unsigned w, c, m, s;

    (void)state;
    assert_int_equal(gpx_exemplar_board_open(&b, 3, 2, 10, 14, err, sizeof(err)), 0);
    assert_non_null(b.base);
    assert_int_equal(b.size, 3 * 2 * 10 * 14 * 64);
    assert_int_equal(b.workers, 3);
    assert_int_equal(b.cores, 2);
    assert_int_equal(b.methods, 10);
    assert_int_equal(b.slots, 14);
    assert_int_equal((uintptr_t)b.base % 64, 0);
    /* Every exemplar its own, in order: slot, then method, core, worker. */
    assert_ptr_equal(gpx_exemplar_at(&b, 1, 0, 0, 0), b.base);
    assert_ptr_equal(gpx_exemplar_at(&b, 1, 0, 0, 13), b.base + 13);
    assert_ptr_equal(gpx_exemplar_at(&b, 1, 0, 1, 0), b.base + 14);
    assert_ptr_equal(gpx_exemplar_at(&b, 1, 1, 0, 0), b.base + 140);
    assert_ptr_equal(gpx_exemplar_at(&b, 2, 0, 0, 0), b.base + 280);
    assert_ptr_equal(gpx_exemplar_at(&b, 3, 1, 9, 13), b.base + 3 * 2 * 10 * 14 - 1);
    /* Zeroed: nothing to read anywhere. */
    for (w = 1; w <= 3; w++) {
        for (c = 0; c < 2; c++) {
            for (m = 0; m < 10; m++) {
                for (s = 0; s < 14; s++) {
                    assert_int_equal(gpx_exemplar_read(gpx_exemplar_at(&b, w, c, m, s), &x), 0);
                }
            }
        }
    }
    gpx_exemplar_board_close(&b);
    assert_null(b.base);
    assert_int_equal(b.size, 0);
    gpx_exemplar_board_close(&b);
}

static void
test_board_refuses(void **state)
{
    struct gpx_exemplar_board b;
    char err[256];

    (void)state;
    assert_int_equal(gpx_exemplar_board_open(&b, 0, 1, 10, 14, err, sizeof(err)), -1);
    assert_string_equal(err, "exemplars need at least one worker, core, method and duration slot");
    assert_null(b.base);
    assert_int_equal(gpx_exemplar_board_open(&b, 1, 1, 10, 0, err, sizeof(err)), -1);
    assert_int_equal(gpx_exemplar_board_open(&b, 1, 0, 10, 14, err, sizeof(err)), -1);
    assert_int_equal(gpx_exemplar_board_open(&b, 1, 1, 0, 14, err, sizeof(err)), -1);
    /* A size that would wrap around is refused, not mapped short. */
    assert_int_equal(gpx_exemplar_board_open(&b, 0xffffffffu, 0xffffffffu, 0xffffffffu, 14, err, sizeof(err)), -1);
    assert_string_equal(err, "exemplars for 4294967295 workers, 4294967295 cores, 4294967295 methods and 14 slots do "
                             "not fit in memory");
    assert_null(b.base);
    assert_int_equal(gpx_exemplar_board_open(&b, 0x10000u, 0x10000u, 0x10000u, 0x100u, err, sizeof(err)), -1);
    assert_null(b.base);
    /* Zeroed by a refusal: closing it does nothing. */
    gpx_exemplar_board_close(&b);
}

static void
test_newest_over_workers_and_cores(void **state)
{
    struct gpx_exemplar_board b;
    struct gpx_exemplar_copy x;
    struct gpx_trace_ids a = ids_of(0x11, 0x21), c = ids_of(0x33, 0x43), d = ids_of(0x55, 0x65),
                         other = ids_of(0x77, 0x87);
    char err[256];

    (void)state;
    assert_int_equal(gpx_exemplar_board_open(&b, 4, 2, 10, 14, err, sizeof(err)), 0);
    assert_int_equal(gpx_exemplar_newest(&b, 3, 5, &x), 0);
    gpx_exemplar_write(gpx_exemplar_at(&b, 1, 0, 3, 5), &a, 1000, 5000000);
    assert_int_equal(gpx_exemplar_newest(&b, 3, 5, &x), 1);
    assert_copy(&x, &a, 1000, 5000000);
    /* Newer ones in another worker and another core; and the newest of all
     * in another method and another slot, which do not count. */
    gpx_exemplar_write(gpx_exemplar_at(&b, 4, 1, 3, 5), &c, 3000, 7000000);
    gpx_exemplar_write(gpx_exemplar_at(&b, 2, 1, 3, 5), &d, 2000, 6000000);
    gpx_exemplar_write(gpx_exemplar_at(&b, 3, 0, 4, 5), &other, 9, 9000000);
    gpx_exemplar_write(gpx_exemplar_at(&b, 3, 0, 3, 6), &other, 9, 9000000);
    assert_int_equal(gpx_exemplar_newest(&b, 3, 5, &x), 1);
    assert_copy(&x, &c, 3000, 7000000);
    /* The first worker writes again, newest now. */
    gpx_exemplar_write(gpx_exemplar_at(&b, 1, 0, 3, 5), &a, 4000, 8000000);
    assert_int_equal(gpx_exemplar_newest(&b, 3, 5, &x), 1);
    assert_copy(&x, &a, 4000, 8000000);
    /* One being written is passed over for the newest whole one. */
    gpx_exemplar_at(&b, 1, 0, 3, 5)->seq++;
    assert_int_equal(gpx_exemplar_newest(&b, 3, 5, &x), 1);
    assert_copy(&x, &c, 3000, 7000000);
    assert_int_equal(gpx_exemplar_newest(&b, 4, 5, &x), 1);
    assert_copy(&x, &other, 9, 9000000);
    assert_int_equal(gpx_exemplar_newest(&b, 9, 13, &x), 0);
    gpx_exemplar_board_close(&b);
}

/* Written by a child process, read by its parent: the region is shared,
 * as between uWSGI's workers and the master. */
static void
test_shared_with_a_child(void **state)
{
    struct gpx_exemplar_board b;
    struct gpx_exemplar_copy x;
    struct gpx_trace_ids a = ids_of(0xa0, 0xb0);
    char err[256];
    pid_t pid;
    int status;

    (void)state;
    assert_int_equal(gpx_exemplar_board_open(&b, 2, 1, 10, 14, err, sizeof(err)), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        gpx_exemplar_write(gpx_exemplar_at(&b, 2, 0, 1, 7), &a, 250000, 1733350000000001u);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(gpx_exemplar_newest(&b, 1, 7, &x), 1);
    assert_copy(&x, &a, 250000, 1733350000000001u);
    gpx_exemplar_board_close(&b);
}

static void
assert_text(const struct gpx_exemplar_copy *x, const char *expected)
{
    char text[GPX_EXEMPLAR_TEXT_MAX + 1];
    char *end;

    memset(text, '#', sizeof(text));
    end = gpx_exemplar_text(text, x);
    assert_true(end > text && end <= text + GPX_EXEMPLAR_TEXT_MAX);
    *end = '\0';
    assert_string_equal(text, expected);
}

static void
test_text(void **state)
{
    struct gpx_exemplar_copy x;
    static const unsigned char trace[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                                            0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
    static const unsigned char span[8] = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};

    (void)state;
    memcpy(x.trace_id, trace, 16);
    memcpy(x.span_id, span, 8);
    x.value_us = 67000;
    x.time_us = 1733350000123456u;
    assert_text(&x, " # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\",span_id=\"00f067aa0ba902b7\"} 0.067 "
                    "1733350000.123456");
    x.value_us = 1500000;
    x.time_us = 1733350000100000u;
    assert_text(&x, " # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\",span_id=\"00f067aa0ba902b7\"} 1.5 "
                    "1733350000.1");
    x.value_us = 1;
    x.time_us = 1733350000000000u;
    assert_text(&x, " # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\",span_id=\"00f067aa0ba902b7\"} 0.000001 "
                    "1733350000");
    /* Whole seconds, ten of them (the zero before the point stays), none. */
    x.value_us = 10000000;
    x.time_us = 1733350000000010u;
    assert_text(&x, " # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\",span_id=\"00f067aa0ba902b7\"} 10 "
                    "1733350000.00001");
    x.value_us = 0;
    x.time_us = 0;
    assert_text(&x, " # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\",span_id=\"00f067aa0ba902b7\"} 0 0");
    x.value_us = 123456789;
    assert_text(&x, " # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\",span_id=\"00f067aa0ba902b7\"} 123.456789 0");
}

static void
test_text_longest(void **state)
{
    struct gpx_exemplar_copy x;
    char text[GPX_EXEMPLAR_TEXT_MAX + 1];
    char *end;

    (void)state;
    memset(&x, 0xff, sizeof(x));
    x.value_us = UINT64_MAX;
    x.time_us = UINT64_MAX;
    end = gpx_exemplar_text(text, &x);
    /* The room asked for is a bound (gpx_text_micros' own), not the most. */
    assert_true(end - text <= (ptrdiff_t)GPX_EXEMPLAR_TEXT_MAX);
    *end = '\0';
    assert_string_equal(text, " # {trace_id=\"ffffffffffffffffffffffffffffffff\",span_id=\"ffffffffffffffff\"} "
                              "18446744073709.551615 18446744073709.551615");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_write_then_read),
        cmocka_unit_test(test_being_written_is_skipped),
        cmocka_unit_test(test_board_open_and_close),
        cmocka_unit_test(test_board_refuses),
        cmocka_unit_test(test_newest_over_workers_and_cores),
        cmocka_unit_test(test_shared_with_a_child),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_text_longest),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
