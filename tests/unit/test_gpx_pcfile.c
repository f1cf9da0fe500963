/* Unit tests of gpx_pcfile: prometheus_client's file names, entries (good,
 * truncated, garbage, huge lengths), keys, the writer, and number format. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "gpx_test_support.h"

#include "gpx_pcfile.h"

#define KEY_A "[\"app_hits\", \"app_hits_total\", {\"path\": \"/a\"}, \"Hits.\"]"
#define KEY_B "[\"app_up\", \"app_up\", {}, \"Up.\"]"

struct seen {
    unsigned count;
    char keys[8][128];
    double values[8];
    double timestamps[8];
};

static int
remember(void *ctx, const struct gpx_pc_entry *e)
{
    struct seen *s = ctx;

    if (s->count < 8 && e->key_len < sizeof(s->keys[0])) {
        memcpy(s->keys[s->count], e->key, e->key_len);
        s->keys[s->count][e->key_len] = '\0';
        s->values[s->count] = e->value;
        s->timestamps[s->count] = e->timestamp;
    }
    s->count++;
    return 0;
}

/* The bytes prometheus_client writes for KEY_A = 3 and KEY_B = 1.5 @ 7. */
static void
two_entries(struct gpx_buf *b)
{
    assert_int_equal(gpx_buf_init(b, 256), 0);
    assert_int_equal(gpx_pc_encode_begin(b), 0);
    gpx_pc_encode_entry(b, KEY_A, strlen(KEY_A), 3.0, 0.0);
    gpx_pc_encode_entry(b, KEY_B, strlen(KEY_B), 1.5, 7.0);
    assert_int_equal(gpx_pc_encode_end(b), 0);
}

static void
test_gpx_pc_parse_name(void **state)
{
    struct gpx_pc_name n;

    (void)state;
    assert_int_equal(gpx_pc_parse_name("counter_123.db", &n), 0);
    assert_int_equal(n.kind, GPX_PC_COUNTER);
    assert_int_equal(n.mode, GPX_PC_MODE_NONE);
    assert_int_equal(n.pid, 123);
    assert_int_equal(gpx_pc_parse_name("gauge_livemostrecent_9.db", &n), 0);
    assert_int_equal(n.kind, GPX_PC_GAUGE);
    assert_int_equal(n.mode, GPX_PC_MODE_LIVEMOSTRECENT);
    assert_int_equal(gpx_pc_parse_name("gauge_min_9.db", &n), 0);
    assert_int_equal(n.mode, GPX_PC_MODE_MIN);
    assert_int_equal(gpx_pc_parse_name("gauge_livemin_9.db", &n), 0);
    assert_int_equal(n.mode, GPX_PC_MODE_LIVEMIN);
    assert_int_equal(gpx_pc_parse_name("histogram_1.db", &n), 0);
    assert_int_equal(n.kind, GPX_PC_HISTOGRAM);
    assert_int_equal(gpx_pc_parse_name("summary_77.db", &n), 0);
    assert_int_equal(n.kind, GPX_PC_SUMMARY);
    assert_true(gpx_pc_mode_is_live(GPX_PC_MODE_LIVESUM));
    assert_false(gpx_pc_mode_is_live(GPX_PC_MODE_SUM));

    assert_int_equal(gpx_pc_parse_name("gauge_123.db", &n), -1);
    assert_int_equal(gpx_pc_parse_name("gauge_median_1.db", &n), -1);
    assert_int_equal(gpx_pc_parse_name("counter_.db", &n), -1);
    assert_int_equal(gpx_pc_parse_name("counter_12x.db", &n), -1);
    assert_int_equal(gpx_pc_parse_name("counter_0.db", &n), -1);
    assert_int_equal(gpx_pc_parse_name("counter_99999999999.db", &n), -1);
    assert_int_equal(gpx_pc_parse_name("counter_1.db.tmp", &n), -1);
    assert_int_equal(gpx_pc_parse_name("counters_1.db", &n), -1);
    assert_int_equal(gpx_pc_parse_name("gpx_x.appstore", &n), -1);
    assert_int_equal(gpx_pc_parse_name("", &n), -1);
}

static void
test_gpx_pc_parse_good(void **state)
{
    struct gpx_buf b;
    struct seen s;

    (void)state;
    two_entries(&b);
    /* The layout: used size, padding, then 4 + key + padding to 8 + 16. */
    assert_int_equal(b.len % 8, 0);
    memset(&s, 0, sizeof(s));
    assert_int_equal(gpx_pc_parse(b.data, b.len, remember, &s), 2);
    assert_string_equal(s.keys[0], KEY_A);
    assert_true(s.values[0] == 3.0);
    assert_string_equal(s.keys[1], KEY_B);
    assert_true(s.values[1] == 1.5 && s.timestamps[1] == 7.0);
    /* A mapped file is larger than its used part: the rest is ignored. */
    {
        char *bigger = calloc(1, b.len + 4096);

        memcpy(bigger, b.data, b.len);
        memset(&s, 0, sizeof(s));
        assert_int_equal(gpx_pc_parse(bigger, b.len + 4096, remember, &s), 2);
        free(bigger);
    }
    gpx_buf_free(&b);
}

static void
test_gpx_pc_parse_padding_is_never_zero(void **state)
{
    /* A 4-byte key: (4 + 4) % 8 == 0, so prometheus_client pads 8 bytes. */
    struct gpx_buf b;
    struct seen s;

    (void)state;
    assert_int_equal(gpx_buf_init(&b, 64), 0);
    gpx_pc_encode_begin(&b);
    gpx_pc_encode_entry(&b, "abcd", 4, 2.0, 0.0);
    gpx_pc_encode_end(&b);
    assert_int_equal(b.len, 8 + 4 + 4 + 8 + 16);
    memset(&s, 0, sizeof(s));
    assert_int_equal(gpx_pc_parse(b.data, b.len, remember, &s), 1);
    assert_true(s.values[0] == 2.0);
    gpx_buf_free(&b);
}

static void
test_gpx_pc_parse_empty_and_fresh(void **state)
{
    char fresh[64] = {0};
    int32_t used = 8;

    (void)state;
    assert_int_equal(gpx_pc_parse(NULL, 0, remember, NULL), 0);
    memcpy(fresh, &used, sizeof(used));
    assert_int_equal(gpx_pc_parse(fresh, sizeof(fresh), NULL, NULL), 0);
    used = 0; /* created, never written */
    memcpy(fresh, &used, sizeof(used));
    assert_int_equal(gpx_pc_parse(fresh, sizeof(fresh), NULL, NULL), 0);
}

static void
test_gpx_pc_parse_truncated(void **state)
{
    struct gpx_buf b;
    struct seen s;
    size_t cut;

    (void)state;
    two_entries(&b);
    /* Every truncation gives the entries that fit whole, and says so. */
    for (cut = 0; cut < b.len; cut++) {
        long n;

        memset(&s, 0, sizeof(s));
        n = gpx_pc_parse(b.data, cut, remember, &s);
        assert_true(cut == 0 ? n == 0 : n == -1);
        assert_true(s.count <= 2);
        if (s.count >= 1) {
            assert_string_equal(s.keys[0], KEY_A);
        }
    }
    gpx_buf_free(&b);
}

static void
test_gpx_pc_parse_hostile_lengths(void **state)
{
    struct gpx_buf b;
    struct seen s;
    int32_t v;

    (void)state;
    two_entries(&b);
    /* A key length pointing far past the end. */
    v = INT32_MAX;
    memcpy(b.data + 8, &v, sizeof(v));
    memset(&s, 0, sizeof(s));
    assert_int_equal(gpx_pc_parse(b.data, b.len, remember, &s), -1);
    assert_int_equal(s.count, 0);
    /* A negative key length. */
    v = -8;
    memcpy(b.data + 8, &v, sizeof(v));
    assert_int_equal(gpx_pc_parse(b.data, b.len, remember, &s), -1);
    /* A used size larger than the data, and a negative one. */
    gpx_buf_free(&b);
    two_entries(&b);
    v = INT32_MAX;
    memcpy(b.data, &v, sizeof(v));
    memset(&s, 0, sizeof(s));
    assert_int_equal(gpx_pc_parse(b.data, b.len, remember, &s), -1);
    assert_int_equal(s.count, 2);
    v = -1;
    memcpy(b.data, &v, sizeof(v));
    assert_int_equal(gpx_pc_parse(b.data, b.len, remember, &s), -1);
    /* A key length that leaves no room for the value. */
    gpx_buf_free(&b);
    two_entries(&b);
    v = (int32_t)(b.len - 8 - 4 - 4);
    memcpy(b.data + 8, &v, sizeof(v));
    assert_int_equal(gpx_pc_parse(b.data, b.len, NULL, NULL), -1);
    gpx_buf_free(&b);
}

static void
test_gpx_pc_parse_garbage(void **state)
{
    unsigned char junk[4096];
    unsigned i, round;

    (void)state;
    srand(7);
    for (round = 0; round < 200; round++) {
        for (i = 0; i < sizeof(junk); i++) {
            junk[i] = (unsigned char)rand();
        }
        if (round % 2) {
            int32_t used = (int32_t)(rand() % (int)sizeof(junk));

            memcpy(junk, &used, sizeof(used));
        }
        /* Never crashes, never loops: a count or -1. */
        assert_true(gpx_pc_parse(junk, (size_t)(rand() % (int)sizeof(junk)), NULL, NULL) >= -1);
    }
}

static int
stop_at_first(void *ctx, const struct gpx_pc_entry *e)
{
    (void)ctx;
    (void)e;
    return 1;
}

static void
test_gpx_pc_parse_stops(void **state)
{
    struct gpx_buf b;

    (void)state;
    two_entries(&b);
    assert_int_equal(gpx_pc_parse(b.data, b.len, stop_at_first, NULL), -2);
    gpx_buf_free(&b);
}

/* The same two entries as prometheus_client before 0.18 writes them: the
 * value alone. */
static void
two_entries_value_only(struct gpx_buf *b)
{
    assert_int_equal(gpx_buf_init(b, 256), 0);
    assert_int_equal(gpx_pc_encode_begin(b), 0);
    gpx_pc_encode_entry_as(b, GPX_PC_LAYOUT_VALUE, KEY_A, strlen(KEY_A), 3.0, 0.0);
    gpx_pc_encode_entry_as(b, GPX_PC_LAYOUT_VALUE, KEY_B, strlen(KEY_B), 1.5, 7.0);
    assert_int_equal(gpx_pc_encode_end(b), 0);
}

static void
test_gpx_pc_layout_decided_per_file(void **state)
{
    struct gpx_buf b16, b8;
    enum gpx_pc_layout layout;
    struct seen s;

    (void)state;
    two_entries(&b16);
    two_entries_value_only(&b8);
    assert_int_equal(b16.len - b8.len, 16); /* 8 bytes fewer per entry */

    memset(&s, 0, sizeof(s));
    assert_int_equal(gpx_pc_parse_file(b16.data, b16.len, remember, &s, &layout), 2);
    assert_int_equal(layout, GPX_PC_LAYOUT_VALUE_TIMESTAMP);
    assert_string_equal(s.keys[1], KEY_B);
    assert_true(s.values[1] == 1.5 && s.timestamps[1] == 7.0);

    memset(&s, 0, sizeof(s));
    assert_int_equal(gpx_pc_parse_file(b8.data, b8.len, remember, &s, &layout), 2);
    assert_int_equal(layout, GPX_PC_LAYOUT_VALUE);
    assert_int_equal(s.count, 2);
    assert_string_equal(s.keys[0], KEY_A);
    assert_true(s.values[0] == 3.0 && s.timestamps[0] == 0.0);
    assert_string_equal(s.keys[1], KEY_B);
    assert_true(s.values[1] == 1.5 && s.timestamps[1] == 0.0);
    assert_int_equal(gpx_pc_check_file(b8.data, b8.len, &layout), 0);
    assert_string_equal(gpx_pc_layout_label(layout), "value");

    /* Read in the wrong layout, neither file is whole. */
    assert_int_equal(gpx_pc_parse_as(b8.data, b8.len, GPX_PC_LAYOUT_VALUE_TIMESTAMP, NULL, NULL), -1);
    assert_true(gpx_pc_parse_as(b16.data, b16.len, GPX_PC_LAYOUT_VALUE, NULL, NULL) != 2);

    /* A value-only file as large as its mapping (the rest zeros): the used
     * size decides, not the file's. */
    {
        char *bigger = calloc(1, 65536);

        memcpy(bigger, b8.data, b8.len);
        memset(&s, 0, sizeof(s));
        assert_int_equal(gpx_pc_parse_file(bigger, 65536, remember, &s, &layout), 2);
        assert_int_equal(layout, GPX_PC_LAYOUT_VALUE);
        free(bigger);
    }
    gpx_buf_free(&b16);
    gpx_buf_free(&b8);
}

static void
test_gpx_pc_layout_damaged(void **state)
{
    struct gpx_buf b8, junk;
    enum gpx_pc_layout layout;
    struct seen s;
    size_t cut;

    (void)state;
    two_entries_value_only(&b8);
    /* A value-only file cut short: the whole first entry, said damaged. */
    for (cut = b8.len - 7; cut < b8.len; cut++) {
        int32_t used = (int32_t)cut;

        memcpy(b8.data, &used, sizeof(used));
        memset(&s, 0, sizeof(s));
        assert_int_equal(gpx_pc_parse_file(b8.data, cut, remember, &s, &layout), -1);
        assert_int_equal(layout, GPX_PC_LAYOUT_UNKNOWN);
        assert_int_equal(s.count, 1);
        assert_string_equal(s.keys[0], KEY_A);
        assert_int_equal(gpx_pc_check_file(b8.data, cut, NULL), -1);
    }
    /* Keys that are not JSON arrays: no layout is decided. */
    assert_int_equal(gpx_buf_init(&junk, 64), 0);
    gpx_pc_encode_begin(&junk);
    gpx_pc_encode_entry(&junk, "abcd", 4, 2.0, 0.0);
    gpx_pc_encode_end(&junk);
    assert_int_equal(gpx_pc_parse_file(junk.data, junk.len, NULL, NULL, &layout), -1);
    assert_int_equal(layout, GPX_PC_LAYOUT_UNKNOWN);
    /* A JSON array that is not prometheus_client's key: whole, but not
     * prometheus_client's file. */
    gpx_pc_encode_begin(&junk);
    gpx_pc_encode_entry(&junk, "[1, 2]", 6, 2.0, 0.0);
    gpx_pc_encode_end(&junk);
    assert_int_equal(gpx_pc_parse_file(junk.data, junk.len, NULL, NULL, &layout), 1);
    assert_int_equal(gpx_pc_check_file(junk.data, junk.len, &layout), -1);
    /* Empty and fresh files read whole in any layout. */
    assert_int_equal(gpx_pc_parse_file(NULL, 0, NULL, NULL, &layout), 0);
    assert_int_equal(gpx_pc_check_file(NULL, 0, NULL), 0);
    gpx_buf_free(&junk);
    gpx_buf_free(&b8);
}

static void
test_gpx_pc_key(void **state)
{
    struct gpx_pc_key k;
    static const char sorted[] =
        "[\"m\", \"m_total\", {\"z\": \"1\", \"a\": \"q\\\"\\\\\\n\", \"le\": \"0.5\"}, \"H\"]";

    (void)state;
    assert_int_equal(gpx_pc_parse_key(sorted, strlen(sorted), &k), 0);
    assert_string_equal(k.metric, "m");
    assert_string_equal(k.sample, "m_total");
    assert_string_equal(k.help, "H");
    assert_int_equal(k.label_count, 3);
    assert_string_equal(k.labels[0].name, "a");
    assert_string_equal(k.labels[0].value, "q\"\\\n");
    assert_string_equal(k.labels[1].name, "le");
    assert_string_equal(k.labels[2].name, "z");
    gpx_pc_key_free(&k);

    assert_int_equal(gpx_pc_parse_key(KEY_B, strlen(KEY_B), &k), 0);
    assert_int_equal(k.label_count, 0);
    gpx_pc_key_free(&k);

    /* Not prometheus_client's keys. */
    assert_int_equal(gpx_pc_parse_key("", 0, &k), -1);
    assert_int_equal(gpx_pc_parse_key("{}", 2, &k), -1);
    assert_int_equal(gpx_pc_parse_key("[1, 2, 3, 4]", 12, &k), -1);
    /* Releases before 0.16 wrote no help. */
    assert_int_equal(gpx_pc_parse_key("[\"a\", \"b\", {}]", 14, &k), 0);
    assert_string_equal(k.help, GPX_PC_OLD_HELP);
    gpx_pc_key_free(&k);
    assert_int_equal(gpx_pc_parse_key("[\"a\", \"b\", {\"x\": 1}, \"h\"]", 25, &k), -1);
    assert_int_equal(gpx_pc_parse_key("[\"a\", \"b\", [], \"h\"]", 19, &k), -1);
    assert_int_equal(gpx_pc_parse_key("[\"\", \"b\", {}, \"h\"]", 18, &k), -1);
    assert_int_equal(gpx_pc_parse_key("[\"a\", \"b\", {}, \"h\"", 17, &k), -1);
    assert_int_equal(gpx_pc_parse_key("[\"\xff\", \"b\", {}, \"h\"]", 19, &k), -1);
}

static void
test_gpx_pc_format_double(void **state)
{
    static const struct {
        double value;
        const char *text;
    } cases[] = {
        {0.0, "0.0"},
        {-0.0, "-0.0"},
        {1.0, "1.0"},
        {300.0, "300.0"},
        {0.005, "0.005"},
        {0.1, "0.1"},
        {2.5, "2.5"},
        {1e-05, "1e-05"},
        {0.0001, "0.0001"},
        {1e-7, "1e-07"},
        {123456.0, "123456.0"},
        {1234567.0, "1.234567e+06"},
        {1e7, "1e+07"},
        {15000000.0, "1.5e+07"},
        {1e16, "1e+16"},
        {1.5e16, "1.5e+16"},
        {-1234567.0, "-1234567.0"},
        {-1e16, "-1e+16"},
        {0.30000000000000004, "0.30000000000000004"},
        {1500001.40000001, "1.50000140000001e+06"},
        {1.0 / 0.0, "+Inf"},
        {-1.0 / 0.0, "-Inf"},
    };
    char buf[64];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        gpx_pc_format_double(buf, sizeof(buf), cases[i].value);
        assert_string_equal(buf, cases[i].text);
    }
    gpx_pc_format_double(buf, sizeof(buf), 0.0 / 0.0);
    assert_string_equal(buf, "NaN");
}

static void
test_gpx_pc_files(void **state)
{
    char dir[] = "/tmp/gpx_pcfile_XXXXXX";
    struct gpx_buf b;
    void *data;
    size_t len;
    struct seen s;
    int dirfd;
    char path[128];

    (void)state;
    assert_non_null(mkdtemp(dir));
    dirfd = open(dir, O_RDONLY | O_DIRECTORY);
    assert_true(dirfd >= 0);
    two_entries(&b);
    assert_int_equal(gpx_pc_replace_file(dirfd, "counter_5.db", b.data, b.len), 0);
    assert_int_equal(gpx_pc_read_file(dirfd, "counter_5.db", &data, &len), 0);
    assert_int_equal(len, b.len);
    memset(&s, 0, sizeof(s));
    assert_int_equal(gpx_pc_parse(data, len, remember, &s), 2);
    free(data);
    /* Missing: ENOENT. A directory: refused. */
    assert_int_equal(gpx_pc_read_file(dirfd, "counter_6.db", &data, &len), -1);
    assert_int_equal(mkdirat(dirfd, "counter_7.db", 0700), 0);
    assert_int_equal(gpx_pc_read_file(dirfd, "counter_7.db", &data, &len), -1);
    unlinkat(dirfd, "counter_7.db", AT_REMOVEDIR);
    unlinkat(dirfd, "counter_5.db", 0);
    close(dirfd);
    snprintf(path, sizeof(path), "%s", dir);
    rmdir(path);
    gpx_buf_free(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpx_pc_parse_name),
        cmocka_unit_test(test_gpx_pc_parse_good),
        cmocka_unit_test(test_gpx_pc_parse_padding_is_never_zero),
        cmocka_unit_test(test_gpx_pc_parse_empty_and_fresh),
        cmocka_unit_test(test_gpx_pc_parse_truncated),
        cmocka_unit_test(test_gpx_pc_parse_hostile_lengths),
        cmocka_unit_test(test_gpx_pc_parse_garbage),
        cmocka_unit_test(test_gpx_pc_parse_stops),
        cmocka_unit_test(test_gpx_pc_layout_decided_per_file),
        cmocka_unit_test(test_gpx_pc_layout_damaged),
        cmocka_unit_test(test_gpx_pc_key),
        cmocka_unit_test(test_gpx_pc_format_double),
        cmocka_unit_test(test_gpx_pc_files),
    };

    return cmocka_run_group_tests_name("gpx_pcfile", tests, NULL, NULL);
}
