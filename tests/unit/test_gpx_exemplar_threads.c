/* Tests of the exemplars' seqlock with threads: writers each write their
 * own exemplar over and over (as a worker's cores do), every field a
 * function of one counter, while readers copy them and the newest of them
 * (as the metrics thread does for every scrape) for about a second. A
 * copy that mixed two writes would not be that function of one counter:
 * every successful copy is checked whole. Under ThreadSanitizer (make
 * tsan) every access is seen as well. */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gpx_test_threads.h"

#include "gpx_exemplar.h"

#define WRITERS 2
#define READERS 2
#define METHOD 3
#define SLOT 7
#define RUN_SECONDS 1.0

static struct gpx_exemplar_board board;
static int stop; /* atomic */

/* Write n of writer k: a key, and every field from it, each byte of the
 * ids differing from one write to the next. */
static uint64_t
key_of(unsigned k, uint64_t n)
{
    return ((uint64_t)(k + 1) << 48) | n;
}

static void
fields_of(uint64_t key, struct gpx_trace_ids *ids, uint64_t *time_us)
{
    uint64_t w[3];

    w[0] = key * 0x9e3779b97f4a7c15u;
    w[1] = (key ^ 0xd1b54a32d192ed03u) * 0xbf58476d1ce4e5b9u;
    w[2] = ~w[0] ^ (w[1] >> 29);
    memcpy(ids->trace_id, w, 16);
    memcpy(ids->span_id, w + 2, 8);
    *time_us = 1733350000000000u + key;
}

struct writer {
    pthread_t thread;
    unsigned k;
    uint64_t writes;
};

static void *
write_exemplars(void *arg)
{
    struct writer *w = arg;
    struct gpx_exemplar *e = gpx_exemplar_at(&board, 1, w->k, METHOD, SLOT);

    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
        struct gpx_trace_ids ids;
        uint64_t key = key_of(w->k, w->writes + 1), time_us;

        fields_of(key, &ids, &time_us);
        gpx_exemplar_write(e, &ids, key, time_us);
        w->writes++;
    }
    return NULL;
}

struct reader {
    pthread_t thread;
    uint64_t reads, skipped, mixed, went_back, newest;
    uint64_t last[WRITERS];
};

/* Whether a copy is one write whole: every field the function of its key. */
static int
is_whole(const struct gpx_exemplar_copy *x)
{
    struct gpx_trace_ids ids;
    uint64_t time_us;

    fields_of(x->value_us, &ids, &time_us);
    return x->time_us == time_us && memcmp(x->trace_id, ids.trace_id, 16) == 0 &&
           memcmp(x->span_id, ids.span_id, 8) == 0;
}

static void *
read_exemplars(void *arg)
{
    struct reader *r = arg;

    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
        struct gpx_exemplar_copy x;
        unsigned k;

        for (k = 0; k < WRITERS; k++) {
            if (!gpx_exemplar_read(gpx_exemplar_at(&board, 1, k, METHOD, SLOT), &x)) {
                r->skipped++;
                continue;
            }
            r->reads++;
            r->mixed += !is_whole(&x) || x.value_us >> 48 != k + 1;
            /* A later copy of one exemplar is never of an earlier write. */
            r->went_back += x.value_us < r->last[k];
            r->last[k] = x.value_us;
        }
        if (gpx_exemplar_newest(&board, METHOD, SLOT, &x)) {
            r->newest++;
            r->mixed += !is_whole(&x);
        }
    }
    return NULL;
}

static void
test_readers_never_see_half_a_write(void **state)
{
    static struct writer writers[WRITERS];
    static struct reader readers[READERS];
    struct gpx_exemplar_copy x;
    char err[256];
    unsigned k;
    uint64_t reads = 0, newest = 0, skipped = 0;
    double until;

    (void)state;
    assert_int_equal(gpx_exemplar_board_open(&board, 1, WRITERS, 10, 14, err, sizeof(err)), 0);
    for (k = 0; k < READERS; k++) {
        memset(&readers[k], 0, sizeof(readers[k]));
        assert_int_equal(pthread_create(&readers[k].thread, NULL, read_exemplars, &readers[k]), 0);
    }
    for (k = 0; k < WRITERS; k++) {
        writers[k].k = k;
        writers[k].writes = 0;
        assert_int_equal(pthread_create(&writers[k].thread, NULL, write_exemplars, &writers[k]), 0);
    }
    until = gpx_test_now() + RUN_SECONDS;
    while (gpx_test_now() < until) {
        gpx_test_pause_ms(10);
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    for (k = 0; k < WRITERS; k++) {
        assert_int_equal(pthread_join(writers[k].thread, NULL), 0);
    }
    for (k = 0; k < READERS; k++) {
        assert_int_equal(pthread_join(readers[k].thread, NULL), 0);
        assert_int_equal(readers[k].mixed, 0);
        assert_int_equal(readers[k].went_back, 0);
        reads += readers[k].reads;
        newest += readers[k].newest;
        skipped += readers[k].skipped;
    }
    print_message("%llu copies whole, %llu newest, %llu skipped while being written; writes %llu and %llu\n",
                  (unsigned long long)reads, (unsigned long long)newest, (unsigned long long)skipped,
                  (unsigned long long)writers[0].writes, (unsigned long long)writers[1].writes);
    assert_true(reads > 0);
    assert_true(newest > 0);
    /* Once the writers are done, each exemplar is its last write, exactly. */
    for (k = 0; k < WRITERS; k++) {
        struct gpx_trace_ids ids;
        uint64_t time_us, key = key_of(k, writers[k].writes);

        assert_true(writers[k].writes > 0);
        assert_int_equal(gpx_exemplar_read(gpx_exemplar_at(&board, 1, k, METHOD, SLOT), &x), 1);
        fields_of(key, &ids, &time_us);
        assert_int_equal(x.value_us, key);
        assert_int_equal(x.time_us, time_us);
        assert_memory_equal(x.trace_id, ids.trace_id, 16);
        assert_memory_equal(x.span_id, ids.span_id, 8);
        assert_int_equal(gpx_exemplar_at(&board, 1, k, METHOD, SLOT)->seq, 2 * writers[k].writes);
    }
    /* The newest is the writer with the larger key: the second one's keys
     * are above the first's, whatever their counts. */
    assert_int_equal(gpx_exemplar_newest(&board, METHOD, SLOT, &x), 1);
    assert_int_equal(x.value_us, key_of(WRITERS - 1, writers[WRITERS - 1].writes));
    gpx_exemplar_board_close(&board);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readers_never_see_half_a_write),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
