/* Unit tests of gpx_index and gpx_hash: FNV-1a's published values, and the
 * index over an array that only grows, through many doublings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gpx_buf.h"
#include "gpx_hash.h"
#include "gpx_index.h"

/* FNV-1a 64's published test values (and uwsgiplugin.py's, which passes
 * the hash of uWSGI's build flags to the plugin). */
static void
test_gpx_fnv1a_known_values(void **state)
{
    (void)state;
    assert_true(gpx_fnv1a("", 0) == 0xcbf29ce484222325ull);
    assert_true(gpx_fnv1a("a", 1) == 0xaf63dc4c8601ec8cull);
    assert_true(gpx_fnv1a("foobar", 6) == 0x85944171f73967e8ull);
    /* Bytes, not C strings: a NUL counts. */
    assert_true(gpx_fnv1a("a\0b", 3) != gpx_fnv1a("a", 1));
}

/* Items keyed by text, as the index's users keep them. */
struct item {
    char key[32];
    size_t len;
};

static const char *
key_at(const void *items, size_t pos, size_t *len)
{
    const struct item *it = items;

    *len = it[pos].len;
    return it[pos].key;
}

/* Finds or adds `key`; returns its position. */
static size_t
intern(struct gpx_index *ix, struct item **items, size_t *count, size_t *cap, const char *key, size_t len)
{
    uint32_t *slot;

    assert_int_equal(gpx_index_reserve(ix, *items, key_at), 0);
    slot = gpx_index_slot(ix, key, len, *items, key_at);
    assert_non_null(slot);
    if (*slot != 0) {
        return *slot - 1;
    }
    assert_int_equal(gpx_grow(items, cap, *count, sizeof(**items), 8), 0);
    memcpy((*items)[*count].key, key, len);
    (*items)[*count].len = len;
    gpx_index_fill(ix, slot, *count);
    return (*count)++;
}

/* Every key found at the position it was added at, through the index's
 * growth; keys that differ only past a NUL or in length are apart; absent
 * keys are not found; the index stays at most half full. */
static void
test_gpx_index_finds_every_key(void **state)
{
    struct gpx_index ix;
    struct item *items = NULL;
    size_t count = 0, cap = 0, i;
    char key[32];

    (void)state;
    memset(&ix, 0, sizeof(ix));
    assert_null(gpx_index_slot(&ix, "x", 1, items, key_at));
    assert_int_equal(gpx_index_find(&ix, "x", 1, items, key_at), 0);
    for (i = 0; i < 5000; i++) {
        int n = snprintf(key, sizeof(key), "key-%zu", i);

        assert_int_equal(intern(&ix, &items, &count, &cap, key, (size_t)n), i);
    }
    assert_int_equal(intern(&ix, &items, &count, &cap, "a\0b", 3), 5000);
    assert_int_equal(intern(&ix, &items, &count, &cap, "a", 1), 5001);
    assert_int_equal(intern(&ix, &items, &count, &cap, "a\0b", 3), 5000);
    assert_int_equal(ix.used, 5002);
    assert_true(ix.used * 2 <= ix.cap);
    for (i = 0; i < 5000; i++) {
        int n = snprintf(key, sizeof(key), "key-%zu", i);

        assert_int_equal(gpx_index_find(&ix, key, (size_t)n, items, key_at), i + 1);
    }
    assert_int_equal(gpx_index_find(&ix, "key-5000", 8, items, key_at), 0);
    assert_int_equal(gpx_index_find(&ix, "key-1", 4, items, key_at), 0);
    gpx_index_free(&ix);
    assert_int_equal(ix.cap, 0);
    assert_int_equal(gpx_index_find(&ix, "a", 1, items, key_at), 0);
    free(items);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpx_fnv1a_known_values),
        cmocka_unit_test(test_gpx_index_finds_every_key),
    };

    return cmocka_run_group_tests_name("gpx_index", tests, NULL, NULL);
}
