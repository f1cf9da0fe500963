/* libFuzzer target: the decoder of the snapshots Redis storage reads back,
 * this instance's own at start and every instance's for the fleet view:
 * bytes another instance, another gpx version, or anything else with access
 * to Redis wrote.
 *
 * The bytes go through gpx_snapshot_check as they are. When they pass, they
 * go where the product sends them: added into a base board as a restart
 * restores them (gpx_snapshot_add_to, from an unaligned copy), and rendered
 * as the fleet view in both formats, the fleet's reading (gpx_fleet_read:
 * the extension of what the master saw, and its families) included. The
 * same bytes are then fitted with a valid header (and cut or padded to
 * whole entries), and a native section whose runs (method, first bucket,
 * length, values) the input picks within the buckets, so that the names,
 * slots and cells are read even when a mutation changed the length, and
 * fitted once more with an extension
 * whose sizes agree, so that its parts are read too. Nothing may crash,
 * read outside the blob, leak or loop, whatever the bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gpx_exposition.h"
#include "gpx_fleet.h"
#include "gpx_snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PREAMBLE (sizeof(struct gpx_snapshot_header) + sizeof(struct gpx_error_names))
#define ENTRY (sizeof(struct gpx_slot) + GPX_CELL_CLASSIC_SIZE)
/* A fitted native section's runs, at most: each of a whole method's size. */
#define FITTED_RUNS_MAX 3u
#define FITTED_NATIVE_MAX                                                                                              \
    (sizeof(struct gpx_snapshot_native) + FITTED_WORKERS_MAX * sizeof(uint32_t) + sizeof(uint32_t) +                   \
     FITTED_RUNS_MAX * (sizeof(struct gpx_snapshot_run) + GPX_NATIVE_SLOTS * sizeof(uint64_t)))
/* Workers of a fitted blob, at most: enough for every path, small enough
 * to keep runs fast. */
#define FITTED_WORKERS_MAX 8u

/* What the product does with a blob that passed the check. */
static void
decode(const uint8_t *blob, size_t len)
{
    const struct gpx_snapshot_header *h;
    struct gpx_fleet_member member;
    struct gpx_fleet_read *read;
    struct gpx_scoreboard base;
    struct gpx_buf out;
    char err[256];
    uint8_t *copy;

    /* The fleet's reading takes any bytes: kept, or skipped and counted. */
    read = gpx_fleet_read_new(1700000000u, 60, NULL);
    if (read != NULL && gpx_buf_init(&out, 64 * 1024) == 0) {
        gpx_fleet_read_add(read, "fuzz\"ed\\\ninstance", blob, len);
        gpx_fleet_read_render(read, &out, GPX_FORMAT_TEXT);
        gpx_fleet_read_render(read, &out, GPX_FORMAT_OPENMETRICS);
        gpx_buf_free(&out);
    }
    gpx_fleet_read_free(read);
    if (gpx_snapshot_check(blob, len, &h, err, sizeof(err)) != 0) {
        if (memchr(err, '\0', sizeof(err)) == NULL || err[0] == '\0') {
            abort(); /* a refusal always says why */
        }
        return;
    }
    /* A restart's restore, from a copy one byte off any alignment (a Redis
     * reply makes no promise), into a one-core base of two workers, so that
     * the blob's further workers are folded into the last one. */
    copy = malloc(len + 1);
    if (copy == NULL) {
        return;
    }
    memcpy(copy + 1, blob, len);
    if (gpx_snapshot_check(copy + 1, len, &h, err, sizeof(err)) != 0) {
        abort(); /* the same bytes elsewhere in memory: the same answer */
    }
    if (gpx_scoreboard_open_anonymous(&base, 2, 1, err, sizeof(err)) == 0) {
        gpx_snapshot_add_to(&base, h);
        gpx_scoreboard_close(&base);
    }
    free(copy);
    /* The fleet view, from a copy of exactly the blob, as gpx_fleet keeps
     * each instance's. */
    copy = malloc(len);
    if (copy == NULL || gpx_buf_init(&out, 64 * 1024) != 0) {
        free(copy);
        return;
    }
    memcpy(copy, blob, len);
    member.instance = "fuzz\"ed\\\ninstance";
    member.snapshot = (const struct gpx_snapshot_header *)copy;
    gpx_render_fleet(&out, GPX_FORMAT_TEXT, &member, 1);
    gpx_render_fleet(&out, GPX_FORMAT_OPENMETRICS, &member, 1);
    gpx_buf_free(&out);
    free(copy);
}

/* The fitted counters, then an extension of agreeing sizes made of the
 * input's bytes past the counters (or of zeros): its parts are read. */
static void
fit_extension(const uint8_t *core, size_t core_len, size_t workers, const uint8_t *data, size_t size)
{
    struct gpx_snapshot_ext_header x;
    const uint8_t *rest = size > core_len ? data + core_len : NULL;
    size_t rest_len = size > core_len ? size - core_len : 0, body, len;
    uint8_t *blob;

    memset(&x, 0, sizeof(x));
    if (rest_len >= sizeof(x)) {
        memcpy(&x, rest, sizeof(x));
    }
    memcpy(x.magic, GPX_SNAPSHOT_EXT_MAGIC, sizeof(x.magic));
    x.version = x.version == 0 ? 1 : x.version;
    x.workers = (uint32_t)workers;
    /* Parts of the sizes the input says, kept small: a larger part than
     * this gpx knows is a newer writer's, a smaller an older's. */
    x.fixed_size %= 2 * sizeof(struct gpx_snapshot_live);
    x.worker_size %= 2 * sizeof(struct gpx_snapshot_worker);
    body = x.fixed_size + workers * x.worker_size;
    x.size = (uint32_t)(sizeof(x) + body);
    len = core_len + x.size;
    blob = calloc(1, len);
    if (blob == NULL) {
        return;
    }
    memcpy(blob, core, core_len);
    memcpy(blob + core_len, &x, sizeof(x));
    if (rest_len > sizeof(x)) {
        memcpy(blob + core_len + sizeof(x), rest + sizeof(x),
               rest_len - sizeof(x) < body ? rest_len - sizeof(x) : body);
    }
    decode(blob, len);
    free(blob);
}

/* A native section at out for `workers` entries, every worker's offset at
 * the same runs, which the input's bytes pick (kept within the buckets).
 * Returns its size. */
static size_t
fit_native(uint8_t *out, size_t workers, const uint8_t *data, size_t size)
{
    struct gpx_snapshot_native n;
    size_t start = sizeof(n) + workers * sizeof(uint32_t), at = start + sizeof(uint32_t), used = 0;
    uint32_t runs = size > 0 ? data[0] % (FITTED_RUNS_MAX + 1) : 0, r, i;

    for (i = 0; i < workers; i++) {
        uint32_t offset = (uint32_t)start;

        memcpy(out + sizeof(n) + i * sizeof(uint32_t), &offset, sizeof(offset));
    }
    memcpy(out + start, &runs, sizeof(runs));
    for (r = 0; r < runs; r++) {
        struct gpx_snapshot_run run;
        uint8_t pick[4] = {0};

        memcpy(pick, data + (1 + 4 * r < size ? 1 + 4 * r : 0), size > 4 * r + 5 ? 4 : 0);
        memset(&run, 0, sizeof(run));
        run.method = (uint16_t)(pick[0] % GPX_METHOD_COUNT);
        run.first = (uint16_t)(((unsigned)pick[1] << 8 | pick[2]) % GPX_NATIVE_SLOTS);
        run.count = (uint16_t)(1 + pick[3] % (GPX_NATIVE_SLOTS - run.first));
        memcpy(out + at, &run, sizeof(run));
        at += sizeof(run);
        for (i = 0; i < run.count * sizeof(uint64_t); i++) {
            out[at++] = size > 0 ? data[used++ % size] : 0;
        }
    }
    memset(&n, 0, sizeof(n));
    memcpy(n.magic, GPX_SNAPSHOT_NATIVE_MAGIC, sizeof(n.magic));
    n.size = (uint32_t)at;
    n.workers = (uint32_t)workers;
    memcpy(out, &n, sizeof(n));
    return at;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gpx_snapshot_header h;
    size_t workers, len;
    uint8_t *fitted;

    decode(data, size);

    workers = size > PREAMBLE ? (size - PREAMBLE) / ENTRY : 0;
    workers = workers < 1 ? 1 : workers > FITTED_WORKERS_MAX ? FITTED_WORKERS_MAX : workers;
    len = PREAMBLE + workers * ENTRY;
    fitted = calloc(1, len + FITTED_NATIVE_MAX);
    if (fitted == NULL) {
        return 0;
    }
    memcpy(fitted, data, size < len ? size : len);
    len += fit_native(fitted + len, workers, data, size);
    memcpy(&h, fitted, sizeof(h));
    memcpy(h.magic, GPX_SNAPSHOT_MAGIC, sizeof(h.magic));
    h.layout_version = GPX_LAYOUT_VERSION;
    h.slot_size = sizeof(struct gpx_slot);
    h.cell_size = sizeof(struct gpx_cell);
    h.workers = (uint32_t)workers;
    memcpy(fitted, &h, sizeof(h));
    decode(fitted, len);
    fit_extension(fitted, len, workers, data, size);
    free(fitted);
    return 0;
}
