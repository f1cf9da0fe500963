/* The fleet view's render alone, without Redis or HTTP: gpx's own encoder
 * writes one instance's snapshot (16 workers, every worker counted, the
 * extension of what the master saw), gpx_fleet_read takes it under
 * `instances` names, and renders the view `rounds` times in the text format.
 * Prints the median time to take the snapshots and to render, and the size.
 *
 * Built and run as docs/benchmarks.md says (section 7).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpx_fleet.h"
#include "gpx_snapshot.h"

static double
now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int
by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
    unsigned instances = argc > 1 ? (unsigned)atoi(argv[1]) : 200, workers = argc > 2 ? (unsigned)atoi(argv[2]) : 16;
    unsigned rounds = argc > 3 ? (unsigned)atoi(argv[3]) : 20, w, i, k;
    struct gpx_snapshot_worker *parts = calloc(workers, sizeof(*parts));
    double *adds = calloc(rounds, sizeof(double)), *renders = calloc(rounds, sizeof(double));
    struct gpx_snapshot_live live;
    struct gpx_scoreboard board;
    struct gpx_buf blob, out;
    size_t size = 0;
    char err[256], name[32];

    if (workers == 0 || rounds == 0 || parts == NULL || adds == NULL || renders == NULL ||
        gpx_scoreboard_open_anonymous(&board, workers, 1, err, sizeof(err)) != 0 || gpx_buf_init(&blob, 0) != 0) {
        fprintf(stderr, "usage: fleet_render [instances] [workers] [rounds]\n");
        return 2;
    }
    /* Each worker: GET 200, 404 and POST 201, of a few durations and sizes. */
    for (w = 1; w <= workers; w++) {
        for (k = 0; k < 30; k++) {
            struct gpx_request r;

            memset(&r, 0, sizeof(r));
            r.method = k % 3 == 2 ? GPX_METHOD_POST : GPX_METHOD_GET;
            r.status = k % 3 == 0 ? 200 : k % 3 == 1 ? 404 : 201;
            r.duration_us = 100u << (k % 12);
            r.request_size = 10u << (k % 8);
            r.response_size = 100u << (k % 8);
            gpx_cell_record(gpx_scoreboard_cell(&board, w, 0), &r);
        }
    }
    memset(&live, 0, sizeof(live));
    live.worker_count = workers;
    live.workers_desired = workers;
    live.storage_up = 1;
    live.listener_count = 1;
    snprintf(live.listeners[0].name, sizeof(live.listeners[0].name), "127.0.0.1:8000");
    live.listeners[0].limit = 1024;
    live.storage_op_count = 4;
    snprintf(live.storage[0].label, sizeof(live.storage[0].label), "connect");
    snprintf(live.storage[1].label, sizeof(live.storage[1].label), "restore");
    snprintf(live.storage[2].label, sizeof(live.storage[2].label), "publish");
    snprintf(live.storage[3].label, sizeof(live.storage[3].label), "fleet");
    for (w = 0; w < workers; w++) {
        parts[w].live = 1;
        parts[w].memory_bytes = 50e6 + w;
        parts[w].cpu_seconds = 1.5 * w;
        parts[w].uptime_seconds = 3600;
    }
    if (gpx_snapshot_encode(&blob, &board, NULL, (uint64_t)time(NULL)) != 0 ||
        gpx_snapshot_encode_live(&blob, &live, parts, workers) != 0) {
        return 1;
    }
    for (k = 0; k < rounds; k++) {
        double t0 = now(), t1, t2;
        struct gpx_fleet_read *read = gpx_fleet_read_new((uint64_t)time(NULL), 0, NULL);

        for (i = 0; i < instances; i++) {
            snprintf(name, sizeof(name), "fleet-%03u", i);
            gpx_fleet_read_add(read, name, blob.data, blob.len);
        }
        t1 = now();
        if (gpx_buf_init(&out, 0) != 0 || gpx_fleet_read_render(read, &out, GPX_FORMAT_TEXT) != 0) {
            return 1;
        }
        t2 = now();
        size = out.len;
        gpx_buf_free(&out);
        gpx_fleet_read_free(read);
        adds[k] = t1 - t0;
        renders[k] = t2 - t1;
    }
    qsort(adds, rounds, sizeof(double), by_value);
    qsort(renders, rounds, sizeof(double), by_value);
    printf("%u instances x %u workers, snapshot %zu bytes: take %.1f ms, render %.1f ms (median of %u; max %.1f ms), "
           "page %zu bytes\n",
           instances, workers, blob.len, adds[rounds / 2] * 1e3, renders[rounds / 2] * 1e3, rounds,
           renders[rounds - 1] * 1e3, size);
    gpx_buf_free(&blob);
    gpx_scoreboard_close(&board);
    free(parts);
    free(adds);
    free(renders);
    return 0;
}
