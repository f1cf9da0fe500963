/* Unit tests of gpx_procstat: parsing /proc/<pid>/stat and reading a process. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "gpx_procstat.h"

/* Parses a heap copy, so that AddressSanitizer sees any read past the text. */
static int
parse_copy(const char *text, long ticks, double *cpu)
{
    char *copy = strdup(text);
    int rc;

    assert_non_null(copy);
    rc = gpx_procstat_parse_stat(copy, ticks, cpu);
    free(copy);
    return rc;
}

/* The fields after the command name of a crafted stat line: state, ppid,
 * pgrp, session, tty, tpgid, flags, minflt, cminflt, majflt, cmajflt, then
 * utime=250 and stime=150, then the rest. */
#define STAT_TAIL " S 1 123 123 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 1 0 100 12345678 300\n"

/* utime and stime are fields 14 and 15, counted from the last ')', whatever
 * the command name holds (spaces, parentheses, digits). */
static void
test_gpx_procstat_parse_stat_crafted(void **state)
{
    static const char *const lines[] = {
        "123 (a)" STAT_TAIL,
        "123 (a) b)" STAT_TAIL,
        "123 (my prog (x) y)" STAT_TAIL,
        "123 (x) 9 9 9 9 9 9 9 9 9 9 9 9 9)" STAT_TAIL,
        "123 ()" STAT_TAIL,
        "123 (a) b) S 1 123 123 0 -1 4194560 100 0 0 0 250 150", /* ends at stime */
    };
    unsigned i;

    (void)state;
    for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        double cpu = -1;

        assert_int_equal(parse_copy(lines[i], 100, &cpu), 0);
        assert_true(cpu == 4.0);
    }
}

/* The ticks per second divide the sum of utime and stime. */
static void
test_gpx_procstat_parse_stat_ticks(void **state)
{
    double cpu = -1;

    (void)state;
    assert_int_equal(parse_copy("1 (a)" STAT_TAIL, 1000, &cpu), 0);
    assert_true(cpu == 0.4);
    assert_int_equal(parse_copy("1 (a)" STAT_TAIL, 1, &cpu), 0);
    assert_true(cpu == 400.0);
    assert_int_equal(parse_copy("1 (a) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0", 100, &cpu), 0);
    assert_true(cpu == 0.0);
}

/* Malformed text, or a tick rate that is not positive, gives -1 and never
 * a read past the text. */
static void
test_gpx_procstat_parse_stat_malformed(void **state)
{
    static const char *const bad[] = {
        "",
        "123",
        "123 (a",
        "123 a S 1 123 123 0 -1 4194560 100 0 0 0 250 150 0 0",
        "123 (a)",
        "123 (a) ",
        "123 (a) S",
        "123 (a) S 1 123 123 0 -1 4194560 100 0 0 0",
        "123 (a) S 1 123 123 0 -1 4194560 100 0 0 0 250",
        "123 (a) S 1 123 123 0 -1 4194560 100 0 0 0 x 150",
        "123 (a) S 1 123 123 0 -1 4194560 100 0 0 0 250 y",
    };
    unsigned i;
    double cpu;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = parse_copy(bad[i], 100, &cpu);

        if (rc != -1) {
            print_error("accepted: \"%s\"\n", bad[i]);
        }
        assert_int_equal(rc, -1);
    }
    assert_int_equal(parse_copy("123 (a)" STAT_TAIL, 0, &cpu), -1);
    assert_int_equal(parse_copy("123 (a)" STAT_TAIL, -100, &cpu), -1);
}

/* The real /proc/self/stat parses, to no more CPU time than getrusage
 * reports (ticks round down) plus a tick. */
static void
test_gpx_procstat_parse_stat_real(void **state)
{
    char text[2048];
    ssize_t n;
    int fd;
    double cpu = -1, used;
    long ticks = sysconf(_SC_CLK_TCK);
    struct rusage ru;

    (void)state;
    fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    n = read(fd, text, sizeof(text) - 1);
    close(fd);
    assert_true(n > 0);
    text[n] = '\0';
    assert_int_equal(parse_copy(text, ticks, &cpu), 0);
    assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
    used =
        (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    assert_true(cpu >= 0.0);
    assert_true(cpu <= used + 2.0 / (double)ticks);
}

/* Reading this process gives a resident set of whole pages above zero and
 * a CPU time; a process that does not exist gives -1. */
static void
test_gpx_procstat_read_self(void **state)
{
    struct gpx_procstat st = {-1, -1};
    long page = sysconf(_SC_PAGESIZE);

    (void)state;
    assert_int_equal(gpx_procstat_read(getpid(), &st), 0);
    assert_true(st.rss_bytes > 0);
    assert_true(st.rss_bytes / (double)page == (double)(long long)(st.rss_bytes / (double)page));
    assert_true(st.cpu_seconds >= 0);
    assert_int_equal(gpx_procstat_read((pid_t)INT_MAX, &st), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpx_procstat_parse_stat_crafted),
        cmocka_unit_test(test_gpx_procstat_parse_stat_ticks),
        cmocka_unit_test(test_gpx_procstat_parse_stat_malformed),
        cmocka_unit_test(test_gpx_procstat_parse_stat_real),
        cmocka_unit_test(test_gpx_procstat_read_self),
    };

    return cmocka_run_group_tests_name("gpx_procstat", tests, NULL, NULL);
}
