/* render_time - gpx_render's own time over a synthetic scoreboard, without
 * uWSGI: the scrape's CPU cost measured apart from the machine's noise.
 *
 * The board has `workers` blocks of `cores` cells; every cell counts
 * requests of GET and POST with statuses 200, 404 and 500, durations and
 * sizes spread over the buckets, a few failures and read errors, as a
 * saturated server's cells hold them. Prints the page size and the median,
 * p99 and minimum of `runs` renderings; with a fifth argument `protobuf`,
 * then of `runs` conversions of the page into protobuf (gpx_protobuf.h).
 * A fourth argument (a path, or "-" for none) keeps the last page.
 *
 *     make -C tests/bench render_time && tests/bench/build/render_time 256 16 400
 *     tests/bench/build/render_time 256 16 100 - protobuf
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpx_exposition.h"
#include "gpx_protobuf.h"

static const char *
endpoint(void *ctx, unsigned worker, unsigned app_id)
{
    (void)ctx;
    (void)worker;
    return app_id == 1 ? "/api" : NULL;
}

static int
compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double
now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
fill(struct gpx_scoreboard *board, unsigned workers, unsigned cores)
{
    static const unsigned statuses[3] = {200, 404, 500};
    unsigned w, c, i;
    uint64_t seed = 88172645463325252ull;

    for (w = 1; w <= workers; w++) {
        for (c = 0; c < cores; c++) {
            for (i = 0; i < 64; i++) {
                struct gpx_request r;

                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                memset(&r, 0, sizeof(r));
                r.method = (seed & 1) ? GPX_METHOD_GET : GPX_METHOD_POST;
                r.status = statuses[(seed >> 1) % 3];
                r.duration_us = (seed >> 8) % 3000000u;
                r.request_size = (seed >> 20) % 100000u;
                r.response_size = (seed >> 30) % 8000000u;
                r.app_id = (unsigned)(seed >> 40) % 2;
                r.raised = r.status == 500;
                r.read_errors = (seed >> 50) % 16 == 0;
                gpx_cell_record(gpx_scoreboard_cell(board, w, c), &r);
            }
        }
    }
}

int
main(int argc, char **argv)
{
    unsigned workers = argc > 1 ? (unsigned)atoi(argv[1]) : 256;
    unsigned cores = argc > 2 ? (unsigned)atoi(argv[2]) : 16;
    unsigned runs = argc > 3 ? (unsigned)atoi(argv[3]) : 200, i;
    const char *dump = argc > 4 && strcmp(argv[4], "-") != 0 ? argv[4] : NULL;
    int protobuf = argc > 5 && strcmp(argv[5], "protobuf") == 0;
    struct gpx_scoreboard board;
    struct gpx_worker_view *views = calloc(workers, sizeof(*views));
    struct gpx_exposition x;
    struct gpx_buf out;
    double *times = calloc(runs, sizeof(double));
    char err[256];

    if (views == NULL || times == NULL || runs == 0 ||
        gpx_scoreboard_open_anonymous(&board, workers, cores, err, sizeof(err)) != 0) {
        fprintf(stderr, "render_time: cannot set up\n");
        return 1;
    }
    fill(&board, workers, cores);
    for (i = 0; i < workers; i++) {
        views[i].live = 1;
        views[i].state = i % 3 == 0 ? GPX_STATE_BUSY : GPX_STATE_IDLE;
        views[i].memory_bytes = 31457280.0 + i * 4096.0;
        views[i].cpu_percent = 12.5 + i;
        views[i].cpu_seconds = 3.25 + i / 7.0;
        views[i].uptime_seconds = 600 + i;
    }
    memset(&x, 0, sizeof(x));
    x.board = &board;
    x.workers = views;
    x.worker_count = workers;
    x.endpoint = endpoint;
    x.master_start_time = 1700000000.25;
    x.last_scrape_seconds = 0.0035;
    x.version = "bench";
    x.uwsgi_version = "2.0";
    x.storage = "files";
    x.storage_up = 1;
    x.workers_desired = workers;
    if (gpx_buf_init(&out, 1 << 20) != 0) {
        return 1;
    }
    for (i = 0; i < runs; i++) {
        double t0;

        gpx_buf_reset(&out);
        t0 = now();
        if (gpx_render(&out, &x) != 0) {
            fprintf(stderr, "render_time: gpx_render failed\n");
            return 1;
        }
        times[i] = now() - t0;
    }
    if (dump != NULL) {
        FILE *f = fopen(dump, "w");

        if (f == NULL || fwrite(out.data, 1, out.len, f) != out.len || fclose(f) != 0) {
            fprintf(stderr, "render_time: cannot write %s\n", dump);
            return 1;
        }
    }
    qsort(times, runs, sizeof(double), compare_doubles);
    printf("%u workers x %u cores: %zu bytes; render median %.3f ms, p99 %.3f ms, min %.3f ms (%u runs)\n", workers,
           cores, out.len, times[runs / 2] * 1e3, times[runs * 99 / 100] * 1e3, times[0] * 1e3, runs);
    if (protobuf) {
        struct gpx_buf pb;

        if (gpx_buf_init(&pb, out.len) != 0) {
            return 1;
        }
        for (i = 0; i < runs; i++) {
            double t0;

            gpx_buf_reset(&pb);
            t0 = now();
            if (gpx_protobuf_from_text(&pb, out.data, out.len) != 0) {
                fprintf(stderr, "render_time: gpx_protobuf_from_text failed\n");
                return 1;
            }
            times[i] = now() - t0;
        }
        qsort(times, runs, sizeof(double), compare_doubles);
        printf("%u workers x %u cores: %zu bytes of protobuf; conversion median %.3f ms, p99 %.3f ms, min %.3f ms\n",
               workers, cores, pb.len, times[runs / 2] * 1e3, times[runs * 99 / 100] * 1e3, times[0] * 1e3);
        gpx_buf_free(&pb);
    }
    gpx_buf_free(&out);
    gpx_scoreboard_close(&board);
    free(views);
    free(times);
    return 0;
}
