/* The sizes that the request path's layout gives: a cell before and after
 * the native histograms, the board of a layout, and the snapshot Redis
 * storage publishes per instance (counters and the extension of what the
 * master saw, as gpx's encoder writes it), for a board that counted nothing
 * and for one whose every worker counted GET and POST requests in every
 * native bucket from 1 ms to 10 s (a wide spread of latencies: the native
 * histograms travel sparse, in runs of buckets that counted, so their
 * size follows the spread). Sizes only: nothing is timed.
 *
 *   cc -O2 -std=gnu11 -Isrc -o build/sizes tests/bench/sizes.c \
 *      $(ls src/[a-z]*.c | grep -v _none) -lmicrohttpd -lhiredis -ljansson \
 *      -lprotobuf-c -lpthread -lz -lm -lgnutls -lcrypt
 *   build/sizes 16 1
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpx_layout.h"
#include "gpx_snapshot.h"

int
main(int argc, char **argv)
{
    unsigned workers = argc > 1 ? (unsigned)atoi(argv[1]) : 16, cores = argc > 2 ? (unsigned)atoi(argv[2]) : 1;
    struct gpx_snapshot_worker *parts = calloc(workers ? workers : 1, sizeof(*parts));
    struct gpx_snapshot_live live;
    struct gpx_scoreboard board;
    struct gpx_buf blob;
    size_t counters;
    char err[256];

    if (workers == 0 || cores == 0 || parts == NULL ||
        gpx_scoreboard_open_anonymous(&board, workers, cores, err, sizeof(err)) != 0 || gpx_buf_init(&blob, 0) != 0) {
        fprintf(stderr, "usage: sizes [workers] [cores]\n");
        return 2;
    }
    memset(&live, 0, sizeof(live));
    live.worker_count = workers;
    if (gpx_snapshot_encode(&blob, &board, NULL, (uint64_t)time(NULL)) != 0) {
        return 1;
    }
    counters = blob.len;
    if (gpx_snapshot_encode_live(&blob, &live, parts, workers) != 0) {
        return 1;
    }
    printf("snapshot of %u workers that counted nothing: %zu bytes (counters %zu, extension %zu)\n", workers, blob.len,
           counters, blob.len - counters);
    for (unsigned w = 1; w <= workers; w++) {
        for (uint64_t us = 1000; us <= 10000000; us = us + us / 16 + 1) {
            struct gpx_request r = {.method = GPX_METHOD_GET, .status = 200, .duration_us = us};

            gpx_cell_record(gpx_scoreboard_cell(&board, w, 0), &r);
            r.method = GPX_METHOD_POST;
            gpx_cell_record(gpx_scoreboard_cell(&board, w, 0), &r);
        }
    }
    gpx_buf_reset(&blob);
    if (gpx_snapshot_encode(&blob, &board, NULL, (uint64_t)time(NULL)) != 0) {
        return 1;
    }
    counters = blob.len;
    if (gpx_snapshot_encode_live(&blob, &live, parts, workers) != 0) {
        return 1;
    }
    printf("cell: %zu bytes (layout 3's: %zu; native histograms: %zu = %u methods x %u slots x 8)\n",
           sizeof(struct gpx_cell), (size_t)GPX_CELL_V3_SIZE, sizeof(((struct gpx_cell *)0)->native),
           (unsigned)GPX_METHOD_COUNT, (unsigned)GPX_NATIVE_SLOTS);
    printf("slot: %zu bytes\n", sizeof(struct gpx_slot));
    printf("board of %u workers x %u cores: %zu bytes\n", workers, cores, gpx_scoreboard_map_size(workers, cores));
    printf("snapshot of %u workers, GET and POST in every bucket from 1 ms to 10 s: %zu bytes (counters %zu, "
           "extension %zu)\n",
           workers, blob.len, counters, blob.len - counters);
    gpx_buf_free(&blob);
    gpx_scoreboard_close(&board);
    free(parts);
    return 0;
}
