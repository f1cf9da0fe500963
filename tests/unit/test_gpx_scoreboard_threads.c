/* Tests of the scoreboard's lock-free protocol with threads: writers record
 * requests into their own cells (as a worker's threads do, one cell each)
 * and name exception classes in the shared table, while a reader sums the
 * cells (as the metrics thread does for every scrape). Between processes
 * no sanitizer sees these accesses; between threads ThreadSanitizer sees
 * every one (make tsan). Exact counts at the end, monotonic ones meanwhile. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gpx_test_support.h"
#include "gpx_test_threads.h"

#include "gpx_scoreboard.h"

#define WRITERS 3
#define REQUESTS_PER_WRITER 200000
#define CLASSES 4

static const char *const classes[CLASSES] = {"builtins.KeyError", "builtins.ValueError", "app.Timeout", "app.Gone"};

static struct gpx_scoreboard board;
static int writers_done; /* atomic */

struct writer {
    pthread_t thread;
    unsigned core;
};

/* Request i of a writer: GET 200 mostly, POST 500 raising one of the
 * classes every 10th, PUT 404 every 7th. */
static void *
write_requests(void *arg)
{
    struct writer *w = arg;
    struct gpx_cell *cell = gpx_scoreboard_cell(&board, 1, w->core);
    unsigned i;

    for (i = 0; i < REQUESTS_PER_WRITER; i++) {
        struct gpx_request r;

        memset(&r, 0, sizeof(r));
        r.method = GPX_METHOD_GET;
        r.status = 200;
        r.duration_us = i % 5000;
        r.response_size = i % 3000;
        if (i % 10 == 0) {
            const char *name = classes[(i / 10 + w->core) % CLASSES];
            int index = gpx_error_names_find_or_add(gpx_scoreboard_error_names(&board), name, strlen(name));

            r.method = GPX_METHOD_POST;
            r.status = 500;
            r.raised = 1;
            r.error_name = index >= 0 ? (unsigned)index + 1 : 0;
        } else if (i % 7 == 0) {
            r.method = GPX_METHOD_PUT;
            r.status = 404;
        }
        gpx_cell_record(cell, &r);
    }
    __atomic_add_fetch(&writers_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

struct reader {
    pthread_t thread;
    unsigned sums;
    unsigned lowered; /* a total below the one before */
    uint64_t last;
};

static void *
read_totals(void *arg)
{
    struct reader *r = arg;
    struct gpx_cell *sum;
    void *mem;

    if (posix_memalign(&mem, _Alignof(struct gpx_cell), sizeof(struct gpx_cell)) != 0) {
        return NULL;
    }
    sum = mem;
    for (;;) {
        int done = __atomic_load_n(&writers_done, __ATOMIC_ACQUIRE) == WRITERS;
        uint64_t total;
        unsigned i;

        gpx_scoreboard_sum_worker(&board, 1, sum);
        total = gpx_cell_requests(sum);
        r->lowered += total < r->last;
        r->last = total;
        r->sums++;
        for (i = 0; i < GPX_ERROR_NAMES; i++) {
            gpx_error_names_get(gpx_scoreboard_error_names(&board), i);
        }
        if (done) {
            break;
        }
    }
    free(sum);
    return NULL;
}

static void
test_writers_and_a_reader_at_once(void **state)
{
    static struct writer writers[WRITERS];
    struct reader reader;
    struct gpx_cell *sum;
    char err[256];
    unsigned i, j, named = 0;
    uint64_t failures = 0;
    void *mem;

    (void)state;
    assert_int_equal(gpx_scoreboard_open_anonymous(&board, 1, WRITERS, err, sizeof(err)), 0);
    memset(&reader, 0, sizeof(reader));
    assert_int_equal(pthread_create(&reader.thread, NULL, read_totals, &reader), 0);
    for (i = 0; i < WRITERS; i++) {
        writers[i].core = i;
        assert_int_equal(pthread_create(&writers[i].thread, NULL, write_requests, &writers[i]), 0);
    }
    for (i = 0; i < WRITERS; i++) {
        assert_int_equal(pthread_join(writers[i].thread, NULL), 0);
    }
    assert_int_equal(pthread_join(reader.thread, NULL), 0);
    assert_int_equal(reader.lowered, 0);
    /* The reader's last sum began after every writer had finished. */
    assert_int_equal(reader.last, WRITERS * REQUESTS_PER_WRITER);

    /* Each class has exactly one slot, however many threads met it first. */
    for (i = 0; i < GPX_ERROR_NAMES; i++) {
        const char *name = gpx_error_names_get(gpx_scoreboard_error_names(&board), i);

        if (name == NULL) {
            continue;
        }
        named++;
        for (j = i + 1; j < GPX_ERROR_NAMES; j++) {
            const char *other = gpx_error_names_get(gpx_scoreboard_error_names(&board), j);

            assert_true(other == NULL || strcmp(name, other) != 0);
        }
    }
    assert_int_equal(named, CLASSES);

    assert_int_equal(posix_memalign(&mem, _Alignof(struct gpx_cell), sizeof(struct gpx_cell)), 0);
    sum = mem;
    gpx_scoreboard_sum_worker(&board, 1, sum);
    assert_int_equal(gpx_cell_requests(sum), WRITERS * REQUESTS_PER_WRITER);
    /* Per writer: 20000 POST 500 (i % 10 == 0), 25714 PUT 404 (i % 7 == 0
     * but not i % 10 == 0), the rest GET 200. */
    assert_int_equal(status_count(sum, GPX_METHOD_POST, 500), WRITERS * 20000);
    assert_int_equal(status_count(sum, GPX_METHOD_PUT, 404), WRITERS * 25714);
    assert_int_equal(status_count(sum, GPX_METHOD_GET, 200), WRITERS * (REQUESTS_PER_WRITER - 20000 - 25714));
    for (i = 0; i < CLASSES; i++) {
        failures += gpx_cell_failures(sum, GPX_METHOD_POST, 0, i);
    }
    assert_int_equal(failures, WRITERS * 20000);
    free(sum);
    gpx_scoreboard_close(&board);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writers_and_a_reader_at_once),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
