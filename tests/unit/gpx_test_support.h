/* gpx_test_support.h - helpers the unit tests share: lines of rendered text,
 * and comparing scoreboard cells. Include after <cmocka.h>. Inline, so that
 * a test that uses only some of them compiles without warnings. */
#ifndef GPX_TEST_SUPPORT_H
#define GPX_TEST_SUPPORT_H

#include <stdint.h>
#include <string.h>

#include "gpx_scoreboard.h"

/* How many lines of `text` are exactly `line`. */
static inline unsigned
count_lines(const char *text, const char *line)
{
    size_t len = strlen(line);
    unsigned n = 0;
    const char *p = text;

    while (*p != '\0') {
        const char *end = strchr(p, '\n');
        size_t linelen = end != NULL ? (size_t)(end - p) : strlen(p);

        n += linelen == len && memcmp(p, line, len) == 0;
        p += linelen + (end != NULL);
    }
    return n;
}

/* How many lines of `text` start with `prefix`. */
static inline unsigned
count_prefix(const char *text, const char *prefix)
{
    size_t len = strlen(prefix);
    unsigned n = 0;
    const char *p = text;

    while (*p != '\0') {
        const char *end = strchr(p, '\n');

        n += strncmp(p, prefix, len) == 0;
        p = end != NULL ? end + 1 : p + strlen(p);
    }
    return n;
}

static inline void
assert_line(const char *text, const char *line)
{
    unsigned n = count_lines(text, line);

    if (n != 1) {
        print_error("line found %u times, not once: %s\n", n, line);
        fail();
    }
}

/* The count of (method, status) in a cell's key table; 0 if absent. */
static inline uint64_t
status_count(const struct gpx_cell *cell, unsigned method, unsigned status)
{
    uint32_t key = ((uint32_t)(method + 1) << 10) | status;
    unsigned i;

    for (i = 0; i < GPX_STATUS_SLOTS; i++) {
        if (cell->status[i].key == key) {
            return cell->status[i].count;
        }
    }
    return 0;
}

static inline unsigned
status_keys(const struct gpx_cell *cell)
{
    unsigned i, n = 0;

    for (i = 0; i < GPX_STATUS_SLOTS; i++) {
        n += cell->status[i].key != 0;
    }
    return n;
}

static inline unsigned
failed_keys(const struct gpx_cell *cell)
{
    unsigned i, n = 0;

    for (i = 0; i < GPX_FAILED_SLOTS; i++) {
        n += cell->failed_key[i] != 0;
    }
    return n;
}

/* Two cells count the same: every counter equal, and the same keys with the
 * same counts wherever the open addressing put them. */
static inline void
assert_cells_equal(const struct gpx_cell *a, const struct gpx_cell *b)
{
    unsigned i;

    assert_int_equal(a->methods, b->methods);
    assert_memory_equal(a->duration, b->duration, sizeof(a->duration));
    assert_memory_equal(&a->sizes, &b->sizes, sizeof(a->sizes));
    assert_memory_equal(a->status_overflow, b->status_overflow, sizeof(a->status_overflow));
    assert_memory_equal(a->failed, b->failed, sizeof(a->failed));
    assert_memory_equal(a->read_errors, b->read_errors, sizeof(a->read_errors));
    assert_memory_equal(a->write_errors, b->write_errors, sizeof(a->write_errors));
    assert_int_equal(status_keys(a), status_keys(b));
    assert_int_equal(failed_keys(a), failed_keys(b));
    for (i = 0; i < GPX_FAILED_SLOTS; i++) {
        if (a->failed_key[i] != 0) {
            uint32_t key = a->failed_key[i];

            assert_true(gpx_cell_failures(b, (key >> 16) - 1, (key >> 8) & 0xFFu, key & 0xFFu) == a->failed_count[i]);
        }
    }
    for (i = 0; i < GPX_STATUS_SLOTS; i++) {
        if (a->status[i].key != 0) {
            uint32_t key = a->status[i].key;

            assert_true(status_count(b, (key >> 10) - 1, key & 1023u) == a->status[i].count);
        }
    }
}

#endif
