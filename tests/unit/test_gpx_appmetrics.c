/* Unit tests of gpx_appmetrics and gpx_appstore: MultiProcessCollector's
 * merge rules (every gauge mode, histogram buckets, summaries, counters in
 * both formats), rendering, and folding ended processes into the store. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gpx_test_support.h"

#include "gpx_appmetrics.h"
#include "gpx_appstore.h"
#include "gpx_pcfile.h"

static char *
render(struct gpx_appmerge *m, enum gpx_format format)
{
    struct gpx_buf out;
    size_t len;

    assert_int_equal(gpx_buf_init(&out, 1024), 0);
    assert_int_equal(gpx_appmerge_render(m, &out, format), 0);
    return gpx_buf_steal(&out, &len);
}

static void
add(struct gpx_appmerge *m, enum gpx_pc_kind kind, enum gpx_pc_mode mode, pid_t pid, const char *key, double value,
    double timestamp)
{
    assert_int_equal(gpx_appmerge_add(m, kind, mode, pid, key, strlen(key), value, timestamp), 0);
}

static void
test_counter_summed_both_formats(void **state)
{
    static const char key[] = "[\"app_hits\", \"app_hits_total\", {\"path\": \"/a\"}, \"Hits.\"]";
    struct gpx_appmerge *m = gpx_appmerge_new();
    char *text;

    (void)state;
    add(m, GPX_PC_COUNTER, GPX_PC_MODE_NONE, 11, key, 2.0, 0.0);
    add(m, GPX_PC_COUNTER, GPX_PC_MODE_NONE, 12, key, 3.0, 0.0);
    text = render(m, GPX_FORMAT_TEXT);
    assert_line(text, "# HELP app_hits_total Hits.");
    assert_line(text, "# TYPE app_hits_total counter");
    assert_line(text, "app_hits_total{path=\"/a\"} 5.0");
    free(text);
    /* OpenMetrics: the family without _total, its sample with it. */
    text = render(m, GPX_FORMAT_OPENMETRICS);
    assert_line(text, "# HELP app_hits Hits.");
    assert_line(text, "# TYPE app_hits counter");
    assert_line(text, "app_hits_total{path=\"/a\"} 5.0");
    assert_int_equal(count_prefix(text, "app_hits_created"), 0);
    free(text);
    gpx_appmerge_free(m);
}

/* Two processes set gauge g of `mode` to 3 @ t=10 and 7 @ t=5. */
static char *
two_gauges(enum gpx_pc_mode mode)
{
    static const char key[] = "[\"g\", \"g\", {\"z\": \"2\", \"a\": \"1\"}, \"G.\"]";
    struct gpx_appmerge *m = gpx_appmerge_new();
    char *text;

    add(m, GPX_PC_GAUGE, mode, 101, key, 3.0, 10.0);
    add(m, GPX_PC_GAUGE, mode, 102, key, 7.0, 5.0);
    text = render(m, GPX_FORMAT_TEXT);
    gpx_appmerge_free(m);
    return text;
}

static void
test_gauge_modes(void **state)
{
    static const struct {
        enum gpx_pc_mode mode;
        const char *line;
    } reducing[] = {
        {GPX_PC_MODE_MIN, "g{a=\"1\",z=\"2\"} 3.0"},        {GPX_PC_MODE_LIVEMIN, "g{a=\"1\",z=\"2\"} 3.0"},
        {GPX_PC_MODE_MAX, "g{a=\"1\",z=\"2\"} 7.0"},        {GPX_PC_MODE_LIVEMAX, "g{a=\"1\",z=\"2\"} 7.0"},
        {GPX_PC_MODE_SUM, "g{a=\"1\",z=\"2\"} 10.0"},       {GPX_PC_MODE_LIVESUM, "g{a=\"1\",z=\"2\"} 10.0"},
        {GPX_PC_MODE_MOSTRECENT, "g{a=\"1\",z=\"2\"} 3.0"}, {GPX_PC_MODE_LIVEMOSTRECENT, "g{a=\"1\",z=\"2\"} 3.0"},
    };
    enum gpx_pc_mode per_process[] = {GPX_PC_MODE_ALL, GPX_PC_MODE_LIVEALL};
    size_t i;
    char *text;

    (void)state;
    for (i = 0; i < sizeof(reducing) / sizeof(reducing[0]); i++) {
        text = two_gauges(reducing[i].mode);
        assert_line(text, "# TYPE g gauge");
        assert_line(text, reducing[i].line);
        assert_int_equal(count_prefix(text, "g{"), 1);
        free(text);
    }
    /* all/liveall: one series per process, the pid label sorted in. */
    for (i = 0; i < 2; i++) {
        text = two_gauges(per_process[i]);
        assert_line(text, "g{a=\"1\",pid=\"101\",z=\"2\"} 3.0");
        assert_line(text, "g{a=\"1\",pid=\"102\",z=\"2\"} 7.0");
        assert_int_equal(count_prefix(text, "g{"), 2);
        free(text);
    }
}

static void
test_gauge_mostrecent_without_time_has_no_sample(void **state)
{
    static const char key[] = "[\"g\", \"g\", {}, \"G.\"]";
    struct gpx_appmerge *m = gpx_appmerge_new();
    char *text;

    (void)state;
    add(m, GPX_PC_GAUGE, GPX_PC_MODE_MOSTRECENT, 5, key, 4.0, 0.0);
    text = render(m, GPX_FORMAT_TEXT);
    assert_line(text, "# TYPE g gauge");
    assert_int_equal(count_prefix(text, "g "), 0);
    free(text);
    gpx_appmerge_free(m);
}

static void
test_gauge_pid_label_is_the_files(void **state)
{
    /* An app label named pid gives way to the file's pid (all), or goes
     * (the reducing modes), as prometheus_client's merge does. */
    static const char key[] = "[\"g\", \"g\", {\"pid\": \"mine\"}, \"G.\"]";
    struct gpx_appmerge *m = gpx_appmerge_new();
    char *text;

    (void)state;
    add(m, GPX_PC_GAUGE, GPX_PC_MODE_ALL, 5, key, 1.0, 0.0);
    text = render(m, GPX_FORMAT_TEXT);
    assert_line(text, "g{pid=\"5\"} 1.0");
    free(text);
    gpx_appmerge_free(m);
}

#define BUCKET(le) "[\"h\", \"h_bucket\", {\"le\": \"" le "\", \"route\": \"/x\"}, \"H.\"]"
#define HSUM "[\"h\", \"h_sum\", {\"route\": \"/x\"}, \"H.\"]"

static void
test_histogram_buckets_cumulative(void **state)
{
    struct gpx_appmerge *m = gpx_appmerge_new();
    char *text;
    pid_t pid;

    (void)state;
    for (pid = 1; pid <= 2; pid++) {
        add(m, GPX_PC_HISTOGRAM, GPX_PC_MODE_NONE, pid, BUCKET("+Inf"), 1.0, 0.0);
        add(m, GPX_PC_HISTOGRAM, GPX_PC_MODE_NONE, pid, BUCKET("1.0"), 2.0, 0.0);
        add(m, GPX_PC_HISTOGRAM, GPX_PC_MODE_NONE, pid, BUCKET("0.5"), (double)pid, 0.0);
        add(m, GPX_PC_HISTOGRAM, GPX_PC_MODE_NONE, pid, BUCKET("15000000.0"), 0.0, 0.0);
        add(m, GPX_PC_HISTOGRAM, GPX_PC_MODE_NONE, pid, HSUM, 2.25, 0.0);
    }
    text = render(m, GPX_FORMAT_TEXT);
    assert_line(text, "# TYPE h histogram");
    /* Per process (non-cumulative in the files): 0.5 -> 1+2, 1.0 -> 4, 1.5e+07 -> 0, +Inf -> 2. */
    assert_line(text, "h_bucket{le=\"0.5\",route=\"/x\"} 3.0");
    assert_line(text, "h_bucket{le=\"1.0\",route=\"/x\"} 7.0");
    assert_line(text, "h_bucket{le=\"1.5e+07\",route=\"/x\"} 7.0");
    assert_line(text, "h_bucket{le=\"+Inf\",route=\"/x\"} 9.0");
    assert_line(text, "h_count{route=\"/x\"} 9.0");
    assert_line(text, "h_sum{route=\"/x\"} 4.5");
    free(text);
    gpx_appmerge_free(m);
}

static void
test_summary_summed(void **state)
{
    static const char count[] = "[\"s\", \"s_count\", {}, \"S.\"]";
    static const char sum[] = "[\"s\", \"s_sum\", {}, \"S.\"]";
    struct gpx_appmerge *m = gpx_appmerge_new();
    char *text;

    (void)state;
    add(m, GPX_PC_SUMMARY, GPX_PC_MODE_NONE, 1, count, 2.0, 0.0);
    add(m, GPX_PC_SUMMARY, GPX_PC_MODE_NONE, 2, count, 3.0, 0.0);
    add(m, GPX_PC_SUMMARY, GPX_PC_MODE_NONE, 1, sum, 0.5, 0.0);
    add(m, GPX_PC_SUMMARY, GPX_PC_MODE_NONE, 2, sum, 1e-7, 0.0);
    text = render(m, GPX_FORMAT_TEXT);
    assert_line(text, "# TYPE s summary");
    assert_line(text, "s_count 5.0");
    assert_line(text, "s_sum 0.5000001");
    free(text);
    gpx_appmerge_free(m);
}

static void
test_escaping_and_bad_keys(void **state)
{
    static const char key[] = "[\"c\", \"c_total\", {\"t\": \"q\\\"b\\\\n\\n\"}, \"a \\\\ b\\nc \\\"d\\\"\"]";
    struct gpx_appmerge *m = gpx_appmerge_new();
    char *text;

    (void)state;
    add(m, GPX_PC_COUNTER, GPX_PC_MODE_NONE, 1, key, 1.0, 0.0);
    assert_int_equal(gpx_appmerge_add(m, GPX_PC_COUNTER, GPX_PC_MODE_NONE, 1, "[1]", 3, 1.0, 0.0), -1);
    assert_int_equal(gpx_appmerge_add(m, GPX_PC_HISTOGRAM, GPX_PC_MODE_NONE, 1,
                                      "[\"h\", \"h_bucket\", {\"le\": \"x\"}, \"\"]", 36, 1.0, 0.0),
                     -1);
    text = render(m, GPX_FORMAT_TEXT);
    assert_line(text, "# HELP c_total a \\\\ b\\nc \"d\"");
    assert_line(text, "c_total{t=\"q\\\"b\\\\n\\n\"} 1.0");
    free(text);
    text = render(m, GPX_FORMAT_OPENMETRICS);
    assert_line(text, "# HELP c a \\\\ b\\nc \\\"d\\\"");
    free(text);
    gpx_appmerge_free(m);
}

/* -- the store and folding -------------------------------------------------- */

struct scratch {
    char dir[64];
    int dirfd;
};

static int
setup_dir(void **state)
{
    struct scratch *s = calloc(1, sizeof(*s));

    snprintf(s->dir, sizeof(s->dir), "/tmp/gpx_appstore_XXXXXX");
    if (mkdtemp(s->dir) == NULL) {
        free(s);
        return -1;
    }
    s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY);
    *state = s;
    return s->dirfd >= 0 ? 0 : -1;
}

static int
teardown_dir(void **state)
{
    struct scratch *s = *state;
    DIR *d = fdopendir(s->dirfd);
    struct dirent *e;

    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            unlinkat(dirfd(d), e->d_name, 0);
        }
    }
    closedir(d);
    rmdir(s->dir);
    free(s);
    return 0;
}

/* Writes a prometheus_client file holding one entry. */
static void
write_file(int dirfd, const char *name, const char *key, double value, double timestamp)
{
    struct gpx_buf b;

    assert_int_equal(gpx_buf_init(&b, 256), 0);
    gpx_pc_encode_begin(&b);
    gpx_pc_encode_entry(&b, key, strlen(key), value, timestamp);
    gpx_pc_encode_end(&b);
    assert_int_equal(gpx_pc_replace_file(dirfd, name, b.data, b.len), 0);
    gpx_buf_free(&b);
}

static unsigned
files_in(int fd)
{
    int copy = openat(fd, ".", O_RDONLY | O_DIRECTORY);
    DIR *d = fdopendir(copy);
    struct dirent *e;
    unsigned n = 0;

    while ((e = readdir(d)) != NULL) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

static int
exists(int fd, const char *name)
{
    return faccessat(fd, name, F_OK, 0) == 0;
}

static pid_t alive_pid = 200;

static int
only_alive_pid(void *ctx, pid_t pid)
{
    (void)ctx;
    return pid == alive_pid;
}

static char *
render_dir(int fd, const char *dir)
{
    struct gpx_appmetrics_place place = {dir, "gpx_t.appstore", "gpx_t.appstore.lock"};
    struct gpx_buf out;
    size_t len;

    (void)fd;
    assert_int_equal(gpx_buf_init(&out, 1024), 0);
    assert_int_equal(gpx_appmetrics_render(&out, &place, GPX_FORMAT_TEXT), 0);
    return gpx_buf_steal(&out, &len);
}

#define CKEY "[\"c\", \"c_total\", {}, \"C.\"]"
#define GKEY(mode) "[\"g_" mode "\", \"g_" mode "\", {}, \"G.\"]"

static void
test_fold_rules(void **state)
{
    struct scratch *s = *state;
    struct gpx_appstore st;
    struct gpx_appstore_fold_result r;
    char err[256], *text;

    gpx_appstore_init(&st);
    /* pid 100 ended, 200 runs, 300 is another server's (never noted). */
    write_file(s->dirfd, "counter_100.db", CKEY, 4.0, 0.0);
    write_file(s->dirfd, "counter_200.db", CKEY, 1.0, 0.0);
    write_file(s->dirfd, "counter_300.db", CKEY, 10.0, 0.0);
    write_file(s->dirfd, "gauge_max_100.db", GKEY("max"), 9.0, 0.0);
    write_file(s->dirfd, "gauge_max_200.db", GKEY("max"), 5.0, 0.0);
    write_file(s->dirfd, "gauge_min_100.db", GKEY("min"), 9.0, 0.0);
    write_file(s->dirfd, "gauge_min_200.db", GKEY("min"), 5.0, 0.0);
    write_file(s->dirfd, "gauge_sum_100.db", GKEY("sum"), 2.0, 0.0);
    write_file(s->dirfd, "gauge_mostrecent_100.db", GKEY("mostrecent"), 8.0, 50.0);
    write_file(s->dirfd, "gauge_mostrecent_200.db", GKEY("mostrecent"), 6.0, 40.0);
    write_file(s->dirfd, "gauge_livesum_100.db", GKEY("livesum"), 3.0, 0.0);
    write_file(s->dirfd, "gauge_livesum_200.db", GKEY("livesum"), 1.0, 0.0);
    write_file(s->dirfd, "gauge_all_100.db", GKEY("all"), 3.0, 0.0);
    write_file(s->dirfd, "gauge_all_200.db", GKEY("all"), 1.0, 0.0);
    assert_int_equal(gpx_appstore_note_pid(&st, 100), 1);
    assert_int_equal(gpx_appstore_note_pid(&st, 200), 1);
    assert_int_equal(gpx_appstore_note_pid(&st, 200), 0);
    assert_int_equal(gpx_appstore_save(&st, s->dirfd, "gpx_t.appstore"), 0);

    assert_int_equal(gpx_appstore_fold(&st, s->dirfd, "gpx_t.appstore", "gpx_t.appstore.lock", only_alive_pid, NULL, &r,
                                       err, sizeof(err)),
                     0);
    assert_int_equal(r.processes, 1);
    assert_int_equal(r.files, 7);
    assert_int_equal(r.waiting, 1);
    assert_false(exists(s->dirfd, "counter_100.db"));
    assert_true(exists(s->dirfd, "counter_200.db"));
    assert_true(exists(s->dirfd, "counter_300.db"));
    assert_int_equal(gpx_appstore_pid_state(&st, 100), GPX_PID_UNKNOWN);
    assert_int_equal(gpx_appstore_pid_state(&st, 200), GPX_PID_OWN);

    text = render_dir(s->dirfd, s->dir);
    assert_line(text, "c_total 15.0");
    assert_line(text, "g_max 9.0");
    assert_line(text, "g_min 5.0");
    assert_line(text, "g_sum 2.0");
    assert_line(text, "g_mostrecent 8.0");
    assert_line(text, "g_livesum 1.0"); /* the ended process's live gauge is gone */
    assert_line(text, "g_all{pid=\"200\"} 1.0");
    assert_int_equal(count_prefix(text, "g_all{"), 1);
    free(text);
    gpx_appstore_free(&st);

    /* What the master reloads from the file is what it held. */
    gpx_appstore_init(&st);
    assert_int_equal(gpx_appstore_load(&st, s->dirfd, "gpx_t.appstore"), 0);
    assert_int_equal(st.count, 5);
    assert_int_equal(gpx_appstore_pid_state(&st, 200), GPX_PID_OWN);
    gpx_appstore_free(&st);
}

static void
test_fold_exact_over_many_processes(void **state)
{
    struct scratch *s = *state;
    struct gpx_appstore st;
    struct gpx_appstore_fold_result r;
    char err[256], name[64], *text;
    pid_t pid;

    gpx_appstore_init(&st);
    /* 30 processes, each counting 10 then ending: 300, and no files left. */
    for (pid = 1000; pid < 1030; pid++) {
        snprintf(name, sizeof(name), "counter_%d.db", (int)pid);
        assert_int_equal(gpx_appstore_note_pid(&st, pid), 1);
        write_file(s->dirfd, name, CKEY, 10.0, 0.0);
        assert_int_equal(gpx_appstore_fold(&st, s->dirfd, "gpx_t.appstore", "gpx_t.appstore.lock", only_alive_pid, NULL,
                                           &r, err, sizeof(err)),
                         0);
        assert_int_equal(r.processes, 1);
    }
    assert_int_equal(files_in(s->dirfd), 2); /* the store and its lock */
    assert_int_equal(st.pid_count, 0);
    text = render_dir(s->dirfd, s->dir);
    assert_line(text, "c_total 300.0");
    free(text);
    gpx_appstore_free(&st);
}

static void
test_fold_finishes_what_a_dead_master_left(void **state)
{
    /* The store says pid 500 was folded (its 7 are in the store) but its
     * file is still there: the master died before removing it. */
    struct scratch *s = *state;
    struct gpx_appstore st;
    struct gpx_appstore_fold_result r;
    char err[256], *text;

    gpx_appstore_init(&st);
    assert_int_equal(gpx_appstore_fold_value(&st, GPX_PC_COUNTER, GPX_PC_MODE_NONE, CKEY, strlen(CKEY), 7.0, 0.0), 0);
    assert_int_equal(gpx_appstore_note_pid(&st, 500), 1);
    st.pids[0].state = GPX_PID_FOLDED;
    assert_int_equal(gpx_appstore_save(&st, s->dirfd, "gpx_t.appstore"), 0);
    write_file(s->dirfd, "counter_500.db", CKEY, 7.0, 0.0);
    gpx_appstore_free(&st);

    /* A reader skips the folded process's file: 7, not 14. */
    text = render_dir(s->dirfd, s->dir);
    assert_line(text, "c_total 7.0");
    free(text);

    gpx_appstore_init(&st);
    assert_int_equal(gpx_appstore_load(&st, s->dirfd, "gpx_t.appstore"), 0);
    assert_int_equal(gpx_appstore_fold(&st, s->dirfd, "gpx_t.appstore", "gpx_t.appstore.lock", only_alive_pid, NULL, &r,
                                       err, sizeof(err)),
                     0);
    assert_int_equal(r.processes, 0);
    assert_int_equal(r.files, 1);
    assert_false(exists(s->dirfd, "counter_500.db"));
    text = render_dir(s->dirfd, s->dir);
    assert_line(text, "c_total 7.0");
    free(text);
    gpx_appstore_free(&st);
}

static void
test_store_encoding_and_rebase(void **state)
{
    struct gpx_appstore base, now, stored, copy;
    struct gpx_buf b;
    struct gpx_appmerge *m;
    char *text;

    (void)state;
    gpx_appstore_init(&base);
    gpx_appstore_init(&stored);
    gpx_appstore_fold_value(&base, GPX_PC_COUNTER, GPX_PC_MODE_NONE, CKEY, strlen(CKEY), 5.0, 0.0);
    gpx_appstore_fold_value(&base, GPX_PC_GAUGE, GPX_PC_MODE_MAX, GKEY("max"), strlen(GKEY("max")), 2.0, 0.0);
    gpx_appstore_fold_value(&base, GPX_PC_GAUGE, GPX_PC_MODE_ALL, GKEY("all"), strlen(GKEY("all")), 2.0, 0.0);
    base.epoch = 42.0;
    gpx_appstore_note_pid(&base, 77);
    assert_int_equal(base.count, 2); /* `all` is not kept */

    /* Encoded and decoded: the same store. */
    assert_int_equal(gpx_buf_init(&b, 256), 0);
    assert_int_equal(gpx_appstore_encode(&base, &b), 0);
    gpx_appstore_init(&copy);
    assert_int_equal(gpx_appstore_decode(&copy, b.data, b.len), 0);
    assert_true(copy.epoch == 42.0);
    assert_int_equal(copy.count, 2);
    assert_int_equal(gpx_appstore_pid_state(&copy, 77), GPX_PID_OWN);
    gpx_appstore_free(&copy);
    gpx_buf_free(&b);

    /* Since the baseline: 3 more counted, the max rose to 9. Stored
     * elsewhere: 50 and a max of 4. */
    assert_int_equal(gpx_appstore_copy(&now, &base), 0);
    gpx_appstore_fold_value(&now, GPX_PC_COUNTER, GPX_PC_MODE_NONE, CKEY, strlen(CKEY), 3.0, 0.0);
    gpx_appstore_fold_value(&now, GPX_PC_GAUGE, GPX_PC_MODE_MAX, GKEY("max"), strlen(GKEY("max")), 9.0, 0.0);
    gpx_appstore_fold_value(&stored, GPX_PC_COUNTER, GPX_PC_MODE_NONE, CKEY, strlen(CKEY), 50.0, 0.0);
    gpx_appstore_fold_value(&stored, GPX_PC_GAUGE, GPX_PC_MODE_MAX, GKEY("max"), strlen(GKEY("max")), 4.0, 0.0);
    assert_int_equal(gpx_appstore_rebase(&now, &base, &stored), 0);
    assert_true(now.epoch == 42.0);
    assert_int_equal(gpx_appstore_pid_state(&now, 77), GPX_PID_OWN);
    m = gpx_appmerge_new();
    gpx_appstore_add_to_merge(&now, m);
    text = render(m, GPX_FORMAT_TEXT);
    assert_line(text, "c_total 53.0");
    assert_line(text, "g_max 9.0");
    free(text);
    gpx_appmerge_free(m);
    gpx_appstore_free(&now);
    gpx_appstore_free(&stored);
    gpx_appstore_free(&base);
}

static void
test_damaged_store_keeps_what_it_can(void **state)
{
    struct scratch *s = *state;
    struct gpx_appstore st;
    struct gpx_buf b;

    gpx_appstore_init(&st);
    gpx_appstore_fold_value(&st, GPX_PC_COUNTER, GPX_PC_MODE_NONE, CKEY, strlen(CKEY), 5.0, 0.0);
    gpx_appstore_fold_value(&st, GPX_PC_SUMMARY, GPX_PC_MODE_NONE, CKEY, strlen(CKEY), 1.0, 0.0);
    assert_int_equal(gpx_buf_init(&b, 256), 0);
    gpx_appstore_encode(&st, &b);
    gpx_appstore_free(&st);
    assert_int_equal(gpx_pc_replace_file(s->dirfd, "gpx_t.appstore", b.data, b.len - 3), 0);
    gpx_appstore_init(&st);
    assert_int_equal(gpx_appstore_load(&st, s->dirfd, "gpx_t.appstore"), -1);
    assert_int_equal(st.count, 1);
    gpx_appstore_free(&st);
    gpx_buf_free(&b);
}

#define DIR_TEST(name) cmocka_unit_test_setup_teardown(name, setup_dir, teardown_dir)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_summed_both_formats),
        cmocka_unit_test(test_gauge_modes),
        cmocka_unit_test(test_gauge_mostrecent_without_time_has_no_sample),
        cmocka_unit_test(test_gauge_pid_label_is_the_files),
        cmocka_unit_test(test_histogram_buckets_cumulative),
        cmocka_unit_test(test_summary_summed),
        cmocka_unit_test(test_escaping_and_bad_keys),
        DIR_TEST(test_fold_rules),
        DIR_TEST(test_fold_exact_over_many_processes),
        DIR_TEST(test_fold_finishes_what_a_dead_master_left),
        cmocka_unit_test(test_store_encoding_and_rebase),
        DIR_TEST(test_damaged_store_keeps_what_it_can),
    };

    return cmocka_run_group_tests_name("gpx_appmetrics", tests, NULL, NULL);
}
