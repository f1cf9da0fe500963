/* Tests of the fold of the app's prometheus_client files under scrapes: the
 * master folds the files of ended processes into the store
 * (gpx_appstore_fold) while other threads render the directory
 * (gpx_appmetrics_render), as the metrics thread does for every scrape.
 * Every render must see each ended process's count exactly once: in its
 * file or in the store, never both, never neither. Run under ASan and
 * under ThreadSanitizer (make tsan). */
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
#include <sys/stat.h>

#include <cmocka.h>

#include "gpx_test_support.h"
#include "gpx_test_threads.h"

#include "gpx_appmetrics.h"
#include "gpx_appstore.h"

#define STORE "gpx_t.appstore"
#define LOCK "gpx_t.appstore.lock"
#define CKEY "[\"c\", \"c_total\", {}, \"C.\"]"
#define PROCESSES 200
#define COUNT_PER_PROCESS 10
#define SCRAPERS 2

static char dir[64];
static int dirfd_;

static int
setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/gpx_fold_threads_XXXXXX");
    if (mkdtemp(dir) == NULL) {
        return -1;
    }
    dirfd_ = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return dirfd_ >= 0 ? 0 : -1;
}

static int
teardown(void **state)
{
    (void)state;
    empty_dir(dirfd_);
    rmdir(dir);
    return 0;
}

/* A process's counter file holding `value`. */
static void
write_counter(pid_t pid, double value)
{
    struct gpx_buf b;
    char name[64];

    snprintf(name, sizeof(name), "counter_%d.db", (int)pid);
    assert_int_equal(gpx_buf_init(&b, 256), 0);
    gpx_pc_encode_begin(&b);
    gpx_pc_encode_entry(&b, CKEY, strlen(CKEY), value, 0.0);
    gpx_pc_encode_end(&b);
    assert_int_equal(gpx_pc_replace_file(dirfd_, name, b.data, b.len), 0);
    gpx_buf_free(&b);
}

static int
every_process_ended(void *ctx, pid_t pid)
{
    (void)ctx;
    (void)pid;
    return 0;
}

/* What a scraper saw: the counter's value in each render, in order. */
struct scraper {
    pthread_t thread;
    unsigned renders;
    unsigned bad;     /* a render that failed or lost its counter line */
    unsigned lowered; /* a value below the one before: a count seen neither in a file nor in the store */
    unsigned jumped;  /* a value above what was written: a count seen twice */
    double last;
};

static int folding_done; /* atomic */
static unsigned written; /* atomic: what the processes counted so far */

static double
load_written(void)
{
    return (double)__atomic_load_n(&written, __ATOMIC_ACQUIRE);
}

static void *
scrape(void *arg)
{
    struct scraper *s = arg;
    struct gpx_appmetrics_place place = {dir, STORE, LOCK};

    while (!__atomic_load_n(&folding_done, __ATOMIC_ACQUIRE)) {
        struct gpx_buf out;
        double ceiling = load_written(), value = 0.0;
        const char *line;

        if (gpx_buf_init(&out, 4096) != 0 || gpx_appmetrics_render(&out, &place, GPX_FORMAT_TEXT, NULL, NULL) != 0) {
            s->bad++;
            gpx_buf_free(&out);
            continue;
        }
        gpx_buf_append(&out, "", 1);
        line = strstr(out.data, "\nc_total ");
        if (line != NULL) {
            value = strtod(line + 9, NULL);
        } else if (out.len > 1) {
            s->bad++;
        }
        s->lowered += value < s->last;
        /* Written before the render began: the render may see more (a file
         * written meanwhile), never more than what is written by now. */
        s->jumped += value > load_written() && value > ceiling;
        s->last = value;
        __atomic_add_fetch(&s->renders, 1, __ATOMIC_RELEASE); /* the test waits on it */
        gpx_buf_free(&out);
    }
    return NULL;
}

/* 200 processes count 10 each and end, one after the other; the master
 * folds after each, while two threads render the directory in a loop. */
static void
test_scrapes_never_see_a_fold_half_done(void **state)
{
    static struct scraper scrapers[SCRAPERS];
    struct gpx_appstore st;
    struct gpx_appstore_fold_result r;
    struct gpx_appmetrics_place place = {dir, STORE, LOCK};
    struct gpx_buf out;
    char err[256];
    pid_t pid;
    unsigned i, folded = 0;

    (void)state;
    gpx_appstore_init(&st);
    assert_int_equal(gpx_appstore_save(&st, dirfd_, STORE), 0);
    memset(scrapers, 0, sizeof(scrapers));
    __atomic_store_n(&folding_done, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&written, 0, __ATOMIC_RELEASE);
    for (i = 0; i < SCRAPERS; i++) {
        assert_int_equal(pthread_create(&scrapers[i].thread, NULL, scrape, &scrapers[i]), 0);
    }
    for (pid = 1000; pid < 1000 + PROCESSES; pid++) {
        assert_int_equal(gpx_appstore_note_pid(&st, pid), 1);
        assert_int_equal(gpx_appstore_save(&st, dirfd_, STORE), 0);
        __atomic_add_fetch(&written, COUNT_PER_PROCESS, __ATOMIC_RELEASE);
        write_counter(pid, COUNT_PER_PROCESS);
        assert_int_equal(
            gpx_appstore_fold(&st, dirfd_, STORE, LOCK, every_process_ended, NULL, NULL, &r, err, sizeof(err)), 0);
        assert_int_equal(r.processes, 1);
        assert_int_equal(r.files, 1);
        folded += r.processes;
    }
    /* Each scraper renders twice more after the last fold, then stops. */
    for (i = 0; i < SCRAPERS; i++) {
        unsigned before = __atomic_load_n(&scrapers[i].renders, __ATOMIC_ACQUIRE);

        GPX_TEST_WAIT_FOR(__atomic_load_n(&scrapers[i].renders, __ATOMIC_ACQUIRE) >= before + 2);
    }
    __atomic_store_n(&folding_done, 1, __ATOMIC_RELEASE);
    for (i = 0; i < SCRAPERS; i++) {
        assert_int_equal(pthread_join(scrapers[i].thread, NULL), 0);
        assert_int_equal(scrapers[i].bad, 0);
        assert_int_equal(scrapers[i].lowered, 0);
        assert_int_equal(scrapers[i].jumped, 0);
        assert_true(scrapers[i].last == PROCESSES * COUNT_PER_PROCESS);
    }
    assert_int_equal(folded, PROCESSES);
    assert_int_equal(st.pid_count, 0);

    assert_int_equal(gpx_buf_init(&out, 4096), 0);
    assert_int_equal(gpx_appmetrics_render(&out, &place, GPX_FORMAT_TEXT, NULL, NULL), 0);
    gpx_buf_append(&out, "", 1);
    assert_non_null(strstr(out.data, "\nc_total 2000.0\n"));
    gpx_buf_free(&out);
    gpx_appstore_free(&st);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_scrapes_never_see_a_fold_half_done, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
