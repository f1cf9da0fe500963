/* Writes the seeds of fuzz_snapshot: snapshots made by gpx's own encoder
 * from scoreboards that counted requests the way workers do (methods,
 * statuses past the key table, failures under class names, restarts), so
 * that the fuzzer starts from what instances really publish, in this
 * build's layout: each without and with the extension of what the master
 * saw (worker states, listeners, storage health). Usage: seed_snapshot <directory>. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpx_snapshot.h"

static void
record(struct gpx_scoreboard *board, unsigned worker, unsigned core, unsigned method, unsigned status, int name)
{
    struct gpx_request r;

    memset(&r, 0, sizeof(r));
    r.method = method;
    r.status = status;
    r.duration_us = 1000u * status + method;
    r.request_size = 100u * method;
    r.response_size = 10u * status;
    r.read_errors = status == 499;
    r.write_errors = status == 504;
    r.raised = name >= 0;
    r.error_name = name >= 0 ? (unsigned)name + 1 : 0;
    r.app_id = worker % 2;
    gpx_cell_record(gpx_scoreboard_cell(board, worker, core), &r);
}

static struct gpx_scoreboard
board(unsigned workers, unsigned cores)
{
    struct gpx_scoreboard b;
    char err[256];

    if (gpx_scoreboard_open_anonymous(&b, workers, cores, err, sizeof(err)) != 0) {
        fprintf(stderr, "seed_snapshot: %s\n", err);
        exit(1);
    }
    return b;
}

/* What a master saw, for the extension: `workers` slots in every state,
 * listeners and storage operations, a name that fills its field. */
static void
write_live(struct gpx_buf *blob, unsigned workers)
{
    struct gpx_snapshot_live live;
    struct gpx_snapshot_worker parts[8];
    unsigned i;

    memset(&live, 0, sizeof(live));
    memset(parts, 0, sizeof(parts));
    live.in_progress = workers / 2;
    live.workers_desired = workers;
    live.worker_count = workers;
    live.storage_up = 1;
    live.listener_count = 3;
    snprintf(live.listeners[0].name, sizeof(live.listeners[0].name), "127.0.0.1:8000");
    snprintf(live.listeners[1].name, sizeof(live.listeners[1].name), "[::1]:8000");
    memset(live.listeners[2].name, 'n', sizeof(live.listeners[2].name) - 1);
    for (i = 0; i < 3; i++) {
        live.listeners[i].queued = i;
        live.listeners[i].limit = 100u << i;
    }
    live.storage_op_count = 4;
    snprintf(live.storage[0].label, sizeof(live.storage[0].label), "connect");
    snprintf(live.storage[1].label, sizeof(live.storage[1].label), "restore");
    snprintf(live.storage[2].label, sizeof(live.storage[2].label), "publish");
    snprintf(live.storage[3].label, sizeof(live.storage[3].label), "fleet");
    live.storage[2].errors = 3;
    for (i = 0; i < workers && i < 8; i++) {
        parts[i].state = i % 5;
        parts[i].live = i % 3 != 2;
        parts[i].memory_bytes = 1048576.0 * (i + 1);
        parts[i].cpu_percent = 2.5 * i;
        parts[i].cpu_seconds = 0.5 * i;
        parts[i].uptime_seconds = 30.0 * i;
    }
    gpx_snapshot_encode_live(blob, &live, parts, workers);
}

static void
write_seed(const char *dir, const char *name, const struct gpx_scoreboard *live, const struct gpx_scoreboard *base,
           int with_live)
{
    struct gpx_buf blob;
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (gpx_buf_init(&blob, 64 * 1024) != 0 || gpx_snapshot_encode(&blob, live, base, 1700000000u) != 0) {
        fprintf(stderr, "seed_snapshot: cannot encode %s\n", name);
        exit(1);
    }
    if (with_live) {
        unsigned workers = base != NULL && base->workers > live->workers ? base->workers : live->workers;

        write_live(&blob, workers);
    }
    if (blob.failed || (f = fopen(path, "wb")) == NULL || fwrite(blob.data, 1, blob.len, f) != blob.len ||
        fclose(f) != 0) {
        fprintf(stderr, "seed_snapshot: cannot write %s\n", path);
        exit(1);
    }
    gpx_buf_free(&blob);
}

int
main(int argc, char **argv)
{
    static const char *const classes[] = {"builtins.KeyError", "builtins.ValueError", "app.errors.Timeout"};
    struct gpx_scoreboard one, busy, base;
    unsigned w, c, m, s, i;

    if (argc != 2) {
        fprintf(stderr, "usage: seed_snapshot <directory>\n");
        return 2;
    }

    /* One worker, one request. */
    one = board(1, 1);
    record(&one, 1, 0, GPX_METHOD_GET, 200, -1);
    write_seed(argv[1], "one_request", &one, NULL, 0);
    write_seed(argv[1], "one_request_live", &one, NULL, 1);

    /* Three workers with two cores each: every method, statuses beyond the
     * key table (its overflow rows), failures under named classes and
     * without one, restarts of each reason. */
    busy = board(3, 2);
    for (i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
        gpx_error_names_find_or_add(gpx_scoreboard_error_names(&busy), classes[i], strlen(classes[i]));
    }
    for (w = 1; w <= 3; w++) {
        for (c = 0; c < 2; c++) {
            for (m = 0; m < GPX_METHOD_COUNT; m++) {
                for (s = 100; s < 600; s += 7 * w + c) {
                    record(&busy, w, c, m, s, s >= 500 ? (int)(s % 4) - 1 : -1);
                }
            }
        }
        for (i = 0; i < GPX_RESTART_REASONS; i++) {
            gpx_scoreboard_slot(&busy, w)->restarts[i] = w * 10 + i;
        }
    }
    write_seed(argv[1], "three_workers_two_cores", &busy, NULL, 0);
    write_seed(argv[1], "three_workers_two_cores_live", &busy, NULL, 1);

    /* Totals restored from an earlier instance, with more workers and its
     * own class table, under live counters: one table for both. */
    base = board(4, 1);
    gpx_error_names_find_or_add(gpx_scoreboard_error_names(&base), "builtins.RuntimeError", 21);
    gpx_error_names_find_or_add(gpx_scoreboard_error_names(&base), classes[1], strlen(classes[1]));
    for (w = 1; w <= 4; w++) {
        record(&base, w, 0, GPX_METHOD_POST, 201, (int)(w % 2));
        record(&base, w, 0, GPX_METHOD_OTHER, 999, -1);
    }
    write_seed(argv[1], "live_and_restored", &busy, &base, 0);
    write_seed(argv[1], "live_and_restored_live", &busy, &base, 1);

    gpx_scoreboard_close(&one);
    gpx_scoreboard_close(&busy);
    gpx_scoreboard_close(&base);
    return 0;
}
