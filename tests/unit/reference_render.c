/* reference_render.c - the exposition writer as it was before it was made
 * fast: every line through snprintf, one pass per family. Kept as the
 * oracle the fast writer (src/gpx_exposition.c) must match byte for byte,
 * on fixed boards (test_gpx_render_reference.c) and on fuzzed ones
 * (tests/fuzz/fuzz_exposition.c). Included by those programs, not built
 * on its own. */
#define _POSIX_C_SOURCE 200809L
#include "gpx_exposition.h"
#include "reference_render.h"

#include "gpx_restart.h"
#include "gpx_snapshot.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const state_labels[GPX_STATE_COUNT] = {"idle", "busy", "cheap", "paused", "stopping"};
/* Room for one series' labels before its own: gpx_instance and worker_id. */
#define GPX_LABELS_MAX 1024

static const char *const class_labels[GPX_STATUS_CLASSES] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};

static int
ref_render_label_value(struct gpx_buf *out, const char *value)
{
    const char *p = value, *run = value;

    for (; *p; p++) {
        const char *esc = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : *p == '\n' ? "\\n" : NULL;

        if (esc != NULL) {
            gpx_buf_append(out, run, (size_t)(p - run));
            gpx_buf_puts(out, esc);
            run = p + 1;
        }
    }
    return gpx_buf_append(out, run, (size_t)(p - run));
}

/* HELP and TYPE of a family. OpenMetrics names a counter's family without
 * the _total its samples carry; text 0.0.4 names it as its samples. */
static int
ref_render_family(struct gpx_buf *out, enum gpx_format fmt, enum gpx_family_id id)
{
    const struct gpx_family *f = &gpx_families[id];
    size_t len = strlen(f->name);

    if (fmt == GPX_FORMAT_OPENMETRICS && strcmp(f->type, "counter") == 0 && len > 6 &&
        strcmp(f->name + len - 6, "_total") == 0) {
        len -= 6;
    }
    return gpx_buf_printf(out, "# HELP %.*s %s\n# TYPE %.*s %s\n", (int)len, f->name, f->help, (int)len, f->name,
                          f->type);
}

/* Seconds from microseconds, exactly: "<s>.<6 digits>". */
static void
put_micros(struct gpx_buf *out, uint64_t us)
{
    gpx_buf_printf(out, "%" PRIu64 ".%06" PRIu64, us / 1000000u, us % 1000000u);
}

/* One histogram: cumulative buckets from non-cumulative slots. `labels` is
 * the label set without le (e.g. `worker_id="1"`), `sum` already formatted
 * by the caller through put_sum. */
struct histogram_text {
    const char *name;
    const char *labels;
    const char *const *bound_labels;
    unsigned bounds;
};

static void
put_histogram(struct gpx_buf *out, const struct histogram_text *h, const uint64_t *slots, uint64_t sum,
              int sum_is_micros)
{
    uint64_t cumulative = 0;
    unsigned i;
    const char *sep = h->labels[0] != '\0' ? "," : "";

    for (i = 0; i < h->bounds; i++) {
        cumulative += slots[i];
        gpx_buf_printf(out, "%s_bucket{%s%sle=\"%s\"} %" PRIu64 "\n", h->name, h->labels, sep, h->bound_labels[i],
                       cumulative);
    }
    cumulative += slots[h->bounds];
    gpx_buf_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", h->name, h->labels, sep, cumulative);
    gpx_buf_printf(out, "%s_count{%s} %" PRIu64 "\n", h->name, h->labels, cumulative);
    gpx_buf_printf(out, "%s_sum{%s} ", h->name, h->labels);
    if (sum_is_micros) {
        put_micros(out, sum);
    } else {
        gpx_buf_printf(out, "%" PRIu64 ".0", sum);
    }
    gpx_buf_puts(out, "\n");
}

/* The duration slots of all methods of a cell, summed. */
static void
all_methods(const struct gpx_cell *cell, uint64_t *slots, uint64_t *sum_us)
{
    unsigned m, s;

    memset(slots, 0, sizeof(uint64_t) * GPX_DURATION_SLOTS);
    *sum_us = 0;
    for (m = 0; m < GPX_METHOD_COUNT; m++) {
        for (s = 0; s < GPX_DURATION_SLOTS; s++) {
            slots[s] += cell->duration[m].slot[s];
        }
        *sum_us += cell->duration[m].sum_us;
    }
}

_Static_assert(GPX_SIZE_SLOTS <= GPX_DURATION_SLOTS, "the renderer's slot array serves every histogram");

/* The request (or response) size slots of a cell, which keeps both
 * histograms interleaved. */
static void
sizes_of(const struct gpx_cell *cell, int request, uint64_t *slots, uint64_t *sum)
{
    unsigned s;

    for (s = 0; s < GPX_SIZE_SLOTS; s++) {
        slots[s] = request ? cell->sizes.slot[s].request : cell->sizes.slot[s].response;
    }
    *sum = request ? cell->sizes.request_sum : cell->sizes.response_sum;
}

/* Where counter families get their numbers: this server (labels "") or,
 * for the fleet view, one instance (labels `gpx_instance="...",`). */
struct source {
    const char *labels;                  /* label text put before the family's own labels */
    const struct gpx_cell *cells;        /* one folded cell per worker slot */
    const struct gpx_slot *slots;        /* the slots' master counters, or NULL */
    unsigned n;                          /* slots in cells */
    unsigned configured;                 /* slots shown even when they counted nothing */
    const struct gpx_cell *total;        /* all slots summed */
    int per_worker;                      /* 0: only the method and status families */
    const struct gpx_error_names *names; /* the classes the cells' failures are counted under, or NULL */
};

/* A slot is shown if it is configured, or if a retired slot counted something. */
static int
shown(const struct source *src, unsigned w)
{
    return w < src->configured || gpx_cell_requests(&src->cells[w]) > 0;
}

static const char *
endpoint_of(const struct gpx_exposition *x, unsigned worker, unsigned app)
{
    const char *name = x->endpoint != NULL ? x->endpoint(x->endpoint_ctx, worker, app) : NULL;

    return name != NULL && name[0] != '\0' ? name : "/";
}

static void
render_worker_histograms(struct gpx_buf *out, enum gpx_format fmt, const struct source *srcs, unsigned nsrc)
{
    char labels[GPX_LABELS_MAX];
    uint64_t slots[GPX_DURATION_SLOTS], sum;
    unsigned i, w, f;
    struct histogram_text h;

    ref_render_family(out, fmt, GPX_FAM_WORKER_REQUESTS);
    for (i = 0; i < nsrc; i++) {
        for (w = 0; srcs[i].per_worker && w < srcs[i].n; w++) {
            if (shown(&srcs[i], w)) {
                gpx_buf_printf(out, "gunicorn_worker_requests_total{%sworker_id=\"%u\"} %" PRIu64 "\n", srcs[i].labels,
                               w + 1, gpx_cell_requests(&srcs[i].cells[w]));
            }
        }
    }

    static const enum gpx_family_id fams[3] = {GPX_FAM_WORKER_REQUEST_DURATION, GPX_FAM_WORKER_REQUEST_SIZE,
                                               GPX_FAM_WORKER_RESPONSE_SIZE};
    h.labels = labels;
    for (f = 0; f < 3; f++) {
        ref_render_family(out, fmt, fams[f]);
        h.name = gpx_families[fams[f]].name;
        h.bound_labels = f == 0 ? gpx_duration_bound_labels : gpx_size_bound_labels;
        h.bounds = f == 0 ? GPX_DURATION_BOUNDS : GPX_SIZE_BOUNDS;
        for (i = 0; i < nsrc; i++) {
            for (w = 0; srcs[i].per_worker && w < srcs[i].n; w++) {
                const struct gpx_cell *cell = &srcs[i].cells[w];

                if (!shown(&srcs[i], w)) {
                    continue;
                }
                snprintf(labels, sizeof(labels), "%sworker_id=\"%u\"", srcs[i].labels, w + 1);
                if (f == 0) {
                    all_methods(cell, slots, &sum);
                    put_histogram(out, &h, slots, sum, 1);
                } else {
                    sizes_of(cell, f == 1, slots, &sum);
                    put_histogram(out, &h, slots, sum, 0);
                }
            }
        }
    }
}

/* One gunicorn_worker_failed_requests_total series per exception class
 * that (w, m, a) counted, after the one of failures of no known class. */
static void
put_failures(struct gpx_buf *out, const struct gpx_exposition *x, const char *family_name, const struct source *src,
             unsigned w, unsigned m, unsigned a)
{
    const struct gpx_cell *cell = &src->cells[w];
    unsigned n, i, last = 0;

    /* Classes only when the cell's table holds (m, a): most hold none, and
     * looking each name up would cost 32 probes per worker, method and app. */
    for (i = 0; i < GPX_FAILED_SLOTS; i++) {
        if (cell->failed_key[i] != 0 && cell->failed_key[i] >> 8 == gpx_failed_key(m, a, 0) >> 8) {
            last = GPX_ERROR_NAMES;
            break;
        }
    }
    for (n = 0; n <= last; n++) {
        const char *name = n == 0 ? "exception" : src->names != NULL ? gpx_error_names_get(src->names, n - 1) : NULL;
        uint64_t count = n == 0 ? cell->failed[m][a] : name != NULL ? gpx_cell_failures(cell, m, a, n - 1) : 0;

        if (count == 0) {
            continue;
        }
        gpx_buf_printf(out, "%s{%sworker_id=\"%u\",method=\"%s\",endpoint=\"", family_name, src->labels, w + 1,
                       gpx_method_label(m));
        ref_render_label_value(out, endpoint_of(x, w + 1, a));
        gpx_buf_puts(out, "\",error_type=\"");
        ref_render_label_value(out, name);
        gpx_buf_printf(out, "\"} %" PRIu64 "\n", count);
    }
}

/* gunicorn_worker_failed_requests_total and _error_handling_total: one
 * series per worker, method and application (and exception class or error
 * kind) that counted something. */
static void
render_errors(struct gpx_buf *out, const struct gpx_exposition *x, const struct source *srcs, unsigned nsrc)
{
    enum gpx_format fmt = x->format;
    static const enum gpx_family_id fams[2] = {GPX_FAM_WORKER_FAILED_REQUESTS, GPX_FAM_WORKER_ERROR_HANDLING};
    unsigned f, i, w, m, a;

    for (f = 0; f < 2; f++) {
        const char *name = gpx_families[fams[f]].name;

        ref_render_family(out, fmt, fams[f]);
        for (i = 0; i < nsrc; i++) {
            const struct gpx_cell *cells = srcs[i].cells;

            for (w = 0; srcs[i].per_worker && w < srcs[i].n; w++) {
                for (m = 0; m < GPX_METHOD_COUNT; m++) {
                    for (a = 0; a < GPX_MAX_APPS; a++) {
                        uint64_t counts[2];
                        static const char *const kinds[2] = {"read", "write"};
                        unsigned k;

                        if (f == 0) {
                            put_failures(out, x, name, &srcs[i], w, m, a);
                            continue;
                        }
                        counts[0] = cells[w].read_errors[m][a];
                        counts[1] = cells[w].write_errors[m][a];
                        for (k = 0; k < 2; k++) {
                            if (counts[k] == 0) {
                                continue;
                            }
                            gpx_buf_printf(out, "%s{%sworker_id=\"%u\",method=\"%s\",endpoint=\"", name, srcs[i].labels,
                                           w + 1, gpx_method_label(m));
                            ref_render_label_value(out, endpoint_of(x, w + 1, a));
                            gpx_buf_printf(out, "\",error_type=\"%s\"} %" PRIu64 "\n", kinds[k], counts[k]);
                        }
                    }
                }
            }
        }
    }
}

static void
render_worker_gauges(struct gpx_buf *out, const struct gpx_exposition *x)
{
    enum gpx_format fmt = x->format;
    static const enum gpx_family_id gauges[] = {GPX_FAM_WORKER_MEMORY, GPX_FAM_WORKER_CPU_PERCENT,
                                                GPX_FAM_WORKER_UPTIME, GPX_FAM_WORKER_CPU_SECONDS};
    unsigned g, w, s;

    for (g = 0; g < sizeof(gauges) / sizeof(gauges[0]); g++) {
        ref_render_family(out, fmt, gauges[g]);
        for (w = 0; w < x->worker_count; w++) {
            const struct gpx_worker_view *v = &x->workers[w];

            if (v->live) {
                const double values[] = {v->memory_bytes, v->cpu_percent, v->uptime_seconds, v->cpu_seconds};
                double value = values[g];

                gpx_buf_printf(out, "%s{worker_id=\"%u\"} %.15g\n", gpx_families[gauges[g]].name, w + 1, value);
            }
        }
    }

    ref_render_family(out, fmt, GPX_FAM_WORKER_STATE);
    for (w = 0; w < x->worker_count; w++) {
        for (s = 0; s < GPX_STATE_COUNT; s++) {
            gpx_buf_printf(out, "gunicorn_worker_state{worker_id=\"%u\",state=\"%s\"} %d\n", w + 1, state_labels[s],
                           x->workers[w].state == (enum gpx_worker_state)s);
        }
    }

    ref_render_family(out, fmt, GPX_FAM_WORKERS_DESIRED);
    gpx_buf_printf(out, "gunicorn_workers_desired %u\n", x->workers_desired);

    ref_render_family(out, fmt, GPX_FAM_WORKERS);
    for (s = 0; s < GPX_STATE_COUNT; s++) {
        unsigned count = 0;

        for (w = 0; w < x->worker_count; w++) {
            count += x->workers[w].state == (enum gpx_worker_state)s;
        }
        gpx_buf_printf(out, "gunicorn_workers{state=\"%s\"} %u\n", state_labels[s], count);
    }
}

static int
compare_keys(const void *a, const void *b)
{
    uint32_t ka = *(const uint32_t *)a, kb = *(const uint32_t *)b;

    return ka < kb ? -1 : ka > kb;
}

/* The exporter's second pair of restart families: the same events as
 * gunicorn_worker_restart_total, per slot, with the reason's restart_type.
 * The worker's family and the master's differ only in their label order,
 * which is the exporter's (worker_id, restart_type, reason for the worker's;
 * worker_id, reason, restart_type for the master's). */
static void
render_restart_counts(struct gpx_buf *out, enum gpx_format fmt, const struct source *srcs, unsigned nsrc)
{
    unsigned f, i, w, r;

    for (f = 0; f < 2; f++) {
        enum gpx_family_id id = f == 0 ? GPX_FAM_WORKER_RESTART_COUNT : GPX_FAM_MASTER_WORKER_RESTART_COUNT;
        const char *name = gpx_families[id].name;

        ref_render_family(out, fmt, id);
        for (i = 0; i < nsrc; i++) {
            for (w = 0; srcs[i].per_worker && srcs[i].slots != NULL && w < srcs[i].n; w++) {
                if (!shown(&srcs[i], w)) {
                    continue;
                }
                for (r = 0; r < GPX_RESTART_REASON_COUNT; r++) {
                    const char *reason = gpx_restart_label(r), *type = gpx_restart_type_label(r);

                    gpx_buf_printf(out, "%s{%sworker_id=\"%u\",%s=\"%s\",%s=\"%s\"} %" PRIu64 "\n", name,
                                   srcs[i].labels, w + 1, f == 0 ? "restart_type" : "reason", f == 0 ? type : reason,
                                   f == 0 ? "reason" : "restart_type", f == 0 ? reason : type,
                                   srcs[i].slots[w].restarts[r]);
                }
            }
        }
    }
}

/* Restarts by reason, per slot and for the whole server. Every reason is
 * shown from the start, so that rate() has a zero to begin from. */
static void
render_restarts(struct gpx_buf *out, enum gpx_format fmt, const struct source *srcs, unsigned nsrc)
{
    unsigned i, w, r;

    ref_render_family(out, fmt, GPX_FAM_WORKER_RESTART);
    for (i = 0; i < nsrc; i++) {
        for (w = 0; srcs[i].per_worker && srcs[i].slots != NULL && w < srcs[i].n; w++) {
            if (!shown(&srcs[i], w)) {
                continue;
            }
            for (r = 0; r < GPX_RESTART_REASON_COUNT; r++) {
                gpx_buf_printf(out, "gunicorn_worker_restart_total{%sworker_id=\"%u\",reason=\"%s\"} %" PRIu64 "\n",
                               srcs[i].labels, w + 1, gpx_restart_label(r), srcs[i].slots[w].restarts[r]);
            }
        }
    }
    ref_render_family(out, fmt, GPX_FAM_MASTER_WORKER_RESTART);
    for (i = 0; i < nsrc; i++) {
        if (!srcs[i].per_worker || srcs[i].slots == NULL) {
            continue;
        }
        for (r = 0; r < GPX_RESTART_REASON_COUNT; r++) {
            uint64_t total = 0;

            for (w = 0; w < srcs[i].n; w++) {
                total += srcs[i].slots[w].restarts[r];
            }
            gpx_buf_printf(out, "gunicorn_master_worker_restart_total{%sreason=\"%s\"} %" PRIu64 "\n", srcs[i].labels,
                           gpx_restart_label(r), total);
        }
    }
    render_restart_counts(out, fmt, srcs, nsrc);
}

/* The (method, status) series of one source's total. */
static void
put_statuses(struct gpx_buf *out, const struct source *src)
{
    const struct gpx_cell *total = src->total;
    uint32_t keys[GPX_STATUS_SLOTS] = {0};
    unsigned i, n = 0, m, c;

    for (i = 0; i < GPX_STATUS_SLOTS; i++) {
        if (total->status[i].key != 0) {
            keys[n++] = total->status[i].key;
        }
    }
    qsort(keys, n, sizeof(keys[0]), compare_keys);
    for (i = 0; i < n; i++) {
        unsigned slot, idx = (keys[i] * 2654435761u) >> 26;

        /* Find the key's count again: the table is open-addressed. */
        for (slot = idx; total->status[slot].key != keys[i]; slot = (slot + 1) & (GPX_STATUS_SLOTS - 1)) {
        }
        gpx_buf_printf(out, "gunicorn_requests_total{%smethod=\"%s\",status=\"%03u\"} %" PRIu64 "\n", src->labels,
                       gpx_method_label((keys[i] >> 10) - 1), keys[i] & 1023u, total->status[slot].count);
    }
    for (m = 0; m < GPX_METHOD_COUNT; m++) {
        for (c = 0; c < GPX_STATUS_CLASSES; c++) {
            if (total->status_overflow[m][c] > 0) {
                gpx_buf_printf(out, "gunicorn_requests_total{%smethod=\"%s\",status=\"%s\"} %" PRIu64 "\n", src->labels,
                               gpx_method_label(m), class_labels[c], total->status_overflow[m][c]);
            }
        }
    }
}

static void
render_requests(struct gpx_buf *out, enum gpx_format fmt, const struct source *srcs, unsigned nsrc)
{
    uint64_t slots[GPX_DURATION_SLOTS];
    char labels[GPX_LABELS_MAX];
    unsigned i, j, m;
    struct histogram_text h;

    ref_render_family(out, fmt, GPX_FAM_REQUESTS);
    for (j = 0; j < nsrc; j++) {
        put_statuses(out, &srcs[j]);
    }

    ref_render_family(out, fmt, GPX_FAM_REQUEST_DURATION);
    h.name = gpx_families[GPX_FAM_REQUEST_DURATION].name;
    h.labels = labels;
    h.bound_labels = gpx_duration_bound_labels;
    h.bounds = GPX_DURATION_BOUNDS;
    for (j = 0; j < nsrc; j++) {
        const struct gpx_cell *total = srcs[j].total;

        for (m = 0; m < GPX_METHOD_COUNT; m++) {
            uint64_t count = 0;

            for (i = 0; i < GPX_DURATION_SLOTS; i++) {
                slots[i] = total->duration[m].slot[i];
                count += slots[i];
            }
            if (count == 0) {
                continue;
            }
            snprintf(labels, sizeof(labels), "%smethod=\"%s\"", srcs[j].labels, gpx_method_label(m));
            put_histogram(out, &h, slots, total->duration[m].sum_us, 1);
        }
    }
}

static void
render_listeners(struct gpx_buf *out, const struct gpx_exposition *x)
{
    enum gpx_format fmt = x->format;
    unsigned i, f;

    for (f = 0; f < 2; f++) {
        enum gpx_family_id id = f == 0 ? GPX_FAM_LISTEN_BACKLOG : GPX_FAM_LISTEN_BACKLOG_LIMIT;
        const char *name = gpx_families[id].name;

        ref_render_family(out, fmt, id);
        for (i = 0; i < x->listener_count; i++) {
            gpx_buf_printf(out, "%s{listener=\"", name);
            ref_render_label_value(out, x->listeners[i].name);
            gpx_buf_printf(out, "\"} %" PRIu64 "\n", f == 0 ? x->listeners[i].queued : x->listeners[i].limit);
        }
    }
    ref_render_family(out, fmt, GPX_FAM_LISTEN_OVERFLOWS);
    if (x->have_listen_overflows) {
        gpx_buf_printf(out, "gunicorn_listen_overflows_total %" PRIu64 "\n", x->listen_overflows);
    }
}

static void
render_server(struct gpx_buf *out, const struct gpx_exposition *x)
{
    enum gpx_format fmt = x->format;
    unsigned i;

    ref_render_family(out, fmt, GPX_FAM_REQUESTS_IN_PROGRESS);
    gpx_buf_printf(out, "gunicorn_requests_in_progress %u\n", x->in_progress);

    ref_render_family(out, fmt, GPX_FAM_MASTER_START_TIME);
    gpx_buf_printf(out, "gunicorn_master_start_time_seconds %.6f\n", x->master_start_time);

    ref_render_family(out, fmt, GPX_FAM_BUILD_INFO);
    gpx_buf_puts(out, "gunicorn_exporter_build_info{version=\"");
    ref_render_label_value(out, x->version != NULL ? x->version : "");
    gpx_buf_puts(out, "\",uwsgi_version=\"");
    ref_render_label_value(out, x->uwsgi_version != NULL ? x->uwsgi_version : "");
    gpx_buf_puts(out, "\",storage=\"");
    ref_render_label_value(out, x->storage != NULL ? x->storage : "");
    gpx_buf_puts(out, "\"} 1\n");

    ref_render_family(out, fmt, GPX_FAM_SCRAPE_DURATION);
    gpx_buf_printf(out, "gunicorn_exporter_scrape_duration_seconds %.6f\n", x->last_scrape_seconds);

    ref_render_family(out, fmt, GPX_FAM_STORAGE_UP);
    gpx_buf_printf(out, "gunicorn_exporter_storage_up %d\n", x->storage_up ? 1 : 0);

    ref_render_family(out, fmt, GPX_FAM_STORAGE_ERRORS);
    for (i = 0; i < x->storage_error_count; i++) {
        gpx_buf_printf(out, "gunicorn_exporter_storage_errors_total{operation=\"%s\"} %" PRIu64 "\n",
                       x->storage_error_labels[i], x->storage_errors[i]);
    }

    ref_render_family(out, fmt, GPX_FAM_ENDPOINT_RELOAD_ERRORS);
    gpx_buf_printf(out, "gunicorn_exporter_endpoint_reload_errors_total %" PRIu64 "\n", x->endpoint_reload_errors);
}

static void
add_restarts(struct gpx_slot *dst, const struct gpx_slot *src)
{
    unsigned r;

    for (r = 0; r < GPX_RESTART_REASONS; r++) {
        dst->restarts[r] += GPX_READ(src->restarts[r]);
    }
}

/* Allocates n zeroed cells with their alignment (malloc promises 16 bytes). */
static struct gpx_cell *
alloc_cells(size_t n)
{
    void *mem;

    if (posix_memalign(&mem, _Alignof(struct gpx_cell), n * sizeof(struct gpx_cell)) != 0) {
        return NULL;
    }
    return memset(mem, 0, n * sizeof(struct gpx_cell));
}

int
ref_render(struct gpx_buf *out, const struct gpx_exposition *x)
{
    unsigned n = x->board->workers, w;
    struct gpx_cell *cells, *total;
    struct gpx_slot *slots;
    struct source src;
    struct gpx_error_names names;
    int live_map[GPX_ERROR_NAMES], base_map[GPX_ERROR_NAMES];
    unsigned c;

    if (x->base != NULL && x->base->workers > n) {
        n = x->base->workers;
    }
    cells = alloc_cells((size_t)n + 1);
    if (cells == NULL) {
        out->failed = 1;
        return -1;
    }
    slots = calloc(n, sizeof(*slots));
    if (slots == NULL) {
        free(cells);
        out->failed = 1;
        return -1;
    }
    total = &cells[n];
    /* The board and the restored base each have their own class names: one
     * table for the page, with each cell's failures renamed into it. */
    memset(&names, 0, sizeof(names));
    gpx_error_names_merge(&names, gpx_scoreboard_error_names(x->board), live_map);
    if (x->base != NULL) {
        gpx_error_names_merge(&names, gpx_scoreboard_error_names(x->base), base_map);
    }
    for (w = 0; w < n; w++) {
        if (w < x->board->workers) {
            for (c = 0; c < x->board->cores; c++) {
                gpx_cell_add_renamed(&cells[w], gpx_scoreboard_cell(x->board, w + 1, c), live_map);
            }
            add_restarts(&slots[w], gpx_scoreboard_slot(x->board, w + 1));
        }
        if (x->base != NULL && w < x->base->workers) {
            add_restarts(&slots[w], gpx_scoreboard_slot(x->base, w + 1));
        }
        if (x->base != NULL && w < x->base->workers) {
            gpx_cell_add_renamed(&cells[w], gpx_scoreboard_cell(x->base, w + 1, 0), base_map);
        }
        gpx_cell_add(total, &cells[w]);
    }
    src.labels = "";
    src.cells = cells;
    src.slots = slots;
    src.n = n;
    src.configured = x->worker_count;
    src.total = total;
    src.per_worker = 1;
    src.names = &names;
    render_worker_histograms(out, x->format, &src, 1);
    render_errors(out, x, &src, 1);
    render_worker_gauges(out, x);
    render_restarts(out, x->format, &src, 1);
    render_listeners(out, x);
    render_requests(out, x->format, &src, 1);
    render_server(out, x);
    free(slots);
    free(cells);
    return out->failed ? -1 : 0;
}

int
ref_render_fleet(struct gpx_buf *out, enum gpx_format fmt, const struct gpx_fleet_member *members, unsigned count)
{
    struct source *srcs = calloc((size_t)count + 1, sizeof(*srcs));
    struct gpx_cell *fleet_total = alloc_cells(1);
    struct gpx_buf labels;
    size_t *offsets = calloc((size_t)count + 1, sizeof(size_t));
    unsigned i, w;
    int rc = 0;

    if (srcs == NULL || fleet_total == NULL || offsets == NULL || gpx_buf_init(&labels, 256) != 0) {
        free(srcs);
        free(fleet_total);
        free(offsets);
        out->failed = 1;
        return -1;
    }
    /* Label texts first: the buffer may move while it grows. */
    for (i = 0; i < count; i++) {
        offsets[i] = labels.len;
        gpx_buf_puts(&labels, "gpx_instance=\"");
        ref_render_label_value(&labels, members[i].instance);
        gpx_buf_puts(&labels, "\",");
        gpx_buf_append(&labels, "", 1); /* keep the NUL between texts */
    }
    for (i = 0; i < count && rc == 0; i++) {
        const struct gpx_snapshot_header *h = members[i].snapshot;
        struct gpx_cell *cells = alloc_cells((size_t)h->workers + 1);
        struct gpx_slot *slots;

        if (cells == NULL) {
            rc = -1;
            break;
        }
        slots = calloc(h->workers, sizeof(*slots));
        if (slots == NULL) {
            free(cells);
            rc = -1;
            break;
        }
        for (w = 0; w < h->workers; w++) {
            /* A blob from Redis has no alignment promise: copy the cell out. */
            memcpy(&cells[w], gpx_snapshot_cell(h, w + 1), sizeof(struct gpx_cell));
            memcpy(&slots[w], gpx_snapshot_slot(h, w + 1), sizeof(struct gpx_slot));
            gpx_cell_add(&cells[h->workers], &cells[w]);
        }
        srcs[i].slots = slots;
        gpx_cell_add(fleet_total, &cells[h->workers]);
        srcs[i].cells = cells;
        srcs[i].n = h->workers;
        srcs[i].configured = h->workers;
        srcs[i].total = &cells[h->workers];
        srcs[i].per_worker = 1;
    }
    if (rc == 0 && !labels.failed) {
        for (i = 0; i < count; i++) {
            srcs[i].labels = labels.data + offsets[i];
        }
        /* The fleet's sums: the method and status families without gpx_instance. */
        srcs[count].labels = "";
        srcs[count].total = fleet_total;
        render_worker_histograms(out, fmt, srcs, count);
        render_restarts(out, fmt, srcs, count);
        render_requests(out, fmt, srcs, count + 1);
        ref_render_family(out, fmt, GPX_FAM_FLEET_INSTANCES);
        gpx_buf_printf(out, "gunicorn_fleet_instances %u\n", count);
    }
    for (i = 0; i < count; i++) {
        free((void *)srcs[i].cells);
        free((void *)srcs[i].slots);
    }
    free(srcs);
    free(fleet_total);
    free(offsets);
    gpx_buf_free(&labels);
    return rc == 0 && !out->failed ? 0 : -1;
}
