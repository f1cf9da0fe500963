/* Unit tests of gpx_file: files read whole (bounded, with the reason when
 * not), small files into a buffer, and the directory made again. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <sys/stat.h>

#include "gpx_test_support.h"

#include "gpx_file.h"

static void
write_text(const char *dir, const char *name, const char *text, size_t len)
{
    char path[128];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

/* A file up to its bound read whole, NUL-terminated (a NUL inside kept);
 * one byte more, a missing file, a directory: NULL and why. */
static void
test_gpx_file_read_bounded(void **state)
{
    struct scratch *s = *state;
    char path[128], why[128];
    size_t len;
    char *text;

    write_text(s->dir, "ten",
               "0123\0"
               "56789",
               10);
    snprintf(path, sizeof(path), "%s/ten", s->dir);
    text = gpx_file_read(path, 10, &len, why, sizeof(why));
    assert_non_null(text);
    assert_int_equal(len, 10);
    assert_memory_equal(text,
                        "0123\0"
                        "56789",
                        11);
    free(text);

    assert_null(gpx_file_read(path, 9, &len, why, sizeof(why)));
    assert_string_equal(why, "larger than 9 bytes");
    assert_int_equal(len, 0);

    snprintf(path, sizeof(path), "%s/missing", s->dir);
    assert_null(gpx_file_read(path, 10, &len, why, sizeof(why)));
    assert_string_equal(why, "cannot open it: No such file or directory");

    assert_null(gpx_file_read(s->dir, 10, &len, why, sizeof(why)));
    assert_string_equal(why, "cannot read it: Is a directory");

    write_text(s->dir, "empty", "", 0);
    snprintf(path, sizeof(path), "%s/empty", s->dir);
    text = gpx_file_read(path, 10, &len, why, sizeof(why));
    assert_non_null(text);
    assert_int_equal(len, 0);
    assert_string_equal(text, "");
    free(text);
}

/* Into the caller's buffer: to the end, or as much as fits, NUL-terminated. */
static void
test_gpx_file_read_small(void **state)
{
    struct scratch *s = *state;
    char path[128], buf[8];

    write_text(s->dir, "five", "hello", 5);
    snprintf(path, sizeof(path), "%s/five", s->dir);
    assert_int_equal(gpx_file_read_small(path, buf, sizeof(buf)), 5);
    assert_string_equal(buf, "hello");
    assert_int_equal(gpx_file_read_small(path, buf, 4), 3);
    assert_string_equal(buf, "hel");
    /* procfs, a page per read: read to the end. */
    assert_true(gpx_file_read_small("/proc/self/stat", buf, sizeof(buf)) == 7);
    snprintf(path, sizeof(path), "%s/missing", s->dir);
    errno = 0;
    assert_int_equal(gpx_file_read_small(path, buf, sizeof(buf)), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(gpx_file_read_small(path, buf, 0), -1);
}

/* Made with mode 0755; one that exists (made by another meanwhile) will
 * do; one whose parent is gone, or a file in its place, will not. */
static void
test_gpx_file_make_dir(void **state)
{
    struct scratch *s = *state;
    char path[128];
    struct stat st;

    snprintf(path, sizeof(path), "%s/made", s->dir);
    assert_int_equal(gpx_file_make_dir(path, (uid_t)-1, (gid_t)-1), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777 & ~0022, 0755 & ~0022);
    assert_int_equal(gpx_file_make_dir(path, (uid_t)-1, (gid_t)-1), 0);
    assert_int_equal(rmdir(path), 0);

    snprintf(path, sizeof(path), "%s/gone/made", s->dir);
    assert_int_equal(gpx_file_make_dir(path, (uid_t)-1, (gid_t)-1), -1);
    assert_int_equal(errno, ENOENT);

    write_text(s->dir, "file", "x", 1);
    snprintf(path, sizeof(path), "%s/file", s->dir);
    assert_int_equal(gpx_file_make_dir(path, (uid_t)-1, (gid_t)-1), -1);
    assert_int_equal(errno, EEXIST);
}

/* Given to the workers' user when running as root; nothing to do without
 * one. */
static void
test_gpx_file_give(void **state)
{
    struct scratch *s = *state;
    char path[128];
    struct stat st;

    write_text(s->dir, "owned", "x", 1);
    snprintf(path, sizeof(path), "%s/owned", s->dir);
    assert_int_equal(gpx_file_give(-1, path, (uid_t)-1, (gid_t)-1), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_uid, geteuid());
    if (geteuid() != 0) {
        return;
    }
    assert_int_equal(gpx_file_give(-1, path, 65534, 65534), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_uid, 65534);
    assert_int_equal(st.st_gid, 65534);
}

#define FILE_TEST(name) cmocka_unit_test_setup_teardown(name, scratch_setup, scratch_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        FILE_TEST(test_gpx_file_read_bounded),
        FILE_TEST(test_gpx_file_read_small),
        FILE_TEST(test_gpx_file_make_dir),
        FILE_TEST(test_gpx_file_give),
    };

    return cmocka_run_group_tests_name("gpx_file", tests, NULL, NULL);
}
