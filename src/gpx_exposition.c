/* gpx_exposition.c - Prometheus text 0.0.4 and OpenMetrics 1.0 from the
 * scoreboard (see gpx_exposition.h). */
#define _POSIX_C_SOURCE 200809L
#include "gpx_exposition.h"

#include "gpx_exemplar.h"
#include "gpx_restart.h"
#include "gpx_snapshot.h"
#include "gpx_text.h"

#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const state_labels[GPX_STATE_COUNT] = {"idle", "busy", "cheap", "paused", "stopping"};
/* What a page is sized for before it is written, per worker slot. */
#define GPX_PAGE_BYTES_PER_WORKER 6144
/* Room for one series' labels before its own: gpx_instance and worker_id. */
#define GPX_LABELS_MAX 1024

static const char *const class_labels[GPX_STATUS_CLASSES] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};

const struct gpx_family gpx_families[GPX_FAMILY_COUNT] = {
    [GPX_FAM_WORKER_REQUESTS] = {"gunicorn_worker_requests_total", "counter", "Requests the worker slot finished."},
    [GPX_FAM_WORKER_REQUEST_DURATION] = {"gunicorn_worker_request_duration_seconds", "histogram",
                                         "Request duration in seconds."},
    [GPX_FAM_WORKER_REQUEST_SIZE] = {"gunicorn_worker_request_size_bytes", "histogram", "Request body size in bytes."},
    [GPX_FAM_WORKER_RESPONSE_SIZE] = {"gunicorn_worker_response_size_bytes", "histogram",
                                      "Response body size in bytes."},
    [GPX_FAM_WORKER_FAILED_REQUESTS] = {"gunicorn_worker_failed_requests_total", "counter",
                                        "Requests whose application raised an exception."},
    [GPX_FAM_WORKER_ERROR_HANDLING] = {"gunicorn_worker_error_handling_total", "counter",
                                       "Read and write errors the server handled while serving."},
    [GPX_FAM_WORKER_MEMORY] = {"gunicorn_worker_memory_bytes", "gauge",
                               "Resident memory of the worker's process in bytes."},
    [GPX_FAM_WORKER_CPU_PERCENT] = {"gunicorn_worker_cpu_percent", "gauge",
                                    "CPU use of the worker's process over the last sampling interval."},
    [GPX_FAM_WORKER_UPTIME] = {"gunicorn_worker_uptime_seconds", "gauge",
                               "Seconds since the worker's current process started."},
    [GPX_FAM_WORKER_CPU_SECONDS] = {"gunicorn_worker_cpu_seconds_total", "counter",
                                    "CPU time of the worker's current process in seconds."},
    [GPX_FAM_WORKER_STATE] = {"gunicorn_worker_state", "gauge",
                              "1 for the worker slot's current state, 0 for the others."},
    [GPX_FAM_WORKERS_DESIRED] = {"gunicorn_workers_desired", "gauge",
                                 "Workers the master aims for (follows the cheaper subsystem)."},
    [GPX_FAM_WORKERS] = {"gunicorn_workers", "gauge", "Workers by state."},
    [GPX_FAM_WORKER_RESTART] = {"gunicorn_worker_restart_total", "counter",
                                "Times the worker slot's process was replaced, by reason."},
    [GPX_FAM_MASTER_WORKER_RESTART] = {"gunicorn_master_worker_restart_total", "counter",
                                       "Workers replaced, by reason."},
    [GPX_FAM_WORKER_RESTART_COUNT] = {"gunicorn_worker_restart_count_total", "counter",
                                      "Times the worker slot's process was replaced, by restart type (graceful, "
                                      "forced) and reason."},
    [GPX_FAM_MASTER_WORKER_RESTART_COUNT] = {"gunicorn_master_worker_restart_count_total", "counter",
                                             "Workers replaced, by worker slot, reason and restart type (graceful, "
                                             "forced)."},
    [GPX_FAM_LISTEN_BACKLOG] = {"gunicorn_listen_backlog", "gauge",
                                "Connections waiting in the listener's accept queue."},
    [GPX_FAM_LISTEN_BACKLOG_LIMIT] = {"gunicorn_listen_backlog_limit", "gauge", "Size of the listener's accept queue."},
    [GPX_FAM_LISTEN_OVERFLOWS] = {"gunicorn_listen_overflows_total", "counter",
                                  "Connections the host's listen queues dropped (Linux counts them per host)."},
    [GPX_FAM_REQUESTS] = {"gunicorn_requests_total", "counter", "Requests answered, by method and status."},
    [GPX_FAM_REQUEST_DURATION] = {"gunicorn_request_duration_seconds", "histogram",
                                  "Request duration in seconds, by method."},
    [GPX_FAM_REQUESTS_IN_PROGRESS] = {"gunicorn_requests_in_progress", "gauge",
                                      "Requests being handled now, over all workers."},
    [GPX_FAM_MASTER_START_TIME] = {"gunicorn_master_start_time_seconds", "gauge", "Unix time the master started."},
    [GPX_FAM_BUILD_INFO] = {"gunicorn_exporter_build_info", "gauge",
                            "gpx's version, the uWSGI it runs in and its storage."},
    [GPX_FAM_SCRAPE_DURATION] = {"gunicorn_exporter_scrape_duration_seconds", "gauge",
                                 "How long the previous collection took."},
    [GPX_FAM_STORAGE_UP] = {"gunicorn_exporter_storage_up", "gauge", "1 while the storage can be written."},
    [GPX_FAM_STORAGE_ERRORS] = {"gunicorn_exporter_storage_errors_total", "counter", "Failed storage operations."},
    [GPX_FAM_ENDPOINT_RELOAD_ERRORS] = {"gunicorn_exporter_endpoint_reload_errors_total", "counter",
                                        "Changed certificate, key, client CA or password files that did not load."},
    [GPX_FAM_APP_FAMILIES_DROPPED] = {"gunicorn_exporter_app_families_dropped", "gauge",
                                      "The app's prometheus_client families this page leaves out, by reason."},
    [GPX_FAM_APP_FILES_UNREADABLE] = {"gunicorn_exporter_app_files_unreadable", "gauge",
                                      "prometheus_client files in the directory this scrape could not read whole."},
    [GPX_FAM_FLEET_INSTANCES] = {"gunicorn_fleet_instances", "gauge", "Instances whose totals the fleet view read."},
    [GPX_FAM_FLEET_SNAPSHOTS_SKIPPED] = {"gunicorn_exporter_fleet_snapshots_skipped", "gauge",
                                         "Instances' snapshots the fleet view left out, by reason."},
};

const char *
gpx_worker_state_label(enum gpx_worker_state state)
{
    return (unsigned)state < GPX_STATE_COUNT ? state_labels[state] : "idle";
}

int
gpx_render_label_value(struct gpx_buf *out, const char *value)
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
int
gpx_render_family(struct gpx_buf *out, enum gpx_format fmt, enum gpx_family_id id)
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

/* Labels are written as snprintf into a char[GPX_LABELS_MAX] wrote them:
 * cut to GPX_LABELS_MAX - 1 bytes. A text of `len` bytes at p, with `used`
 * bytes of the labels before it; returns the new end. */
static char *
put_capped(char *p, size_t *used, const char *text, size_t len)
{
    size_t left = GPX_LABELS_MAX - 1 - *used;

    if (len > left) {
        len = left;
    }
    *used += len;
    return gpx_text_mem(p, text, len);
}

/* `<src labels>worker_id="<w>"` into labels (cut as snprintf would). */
static size_t
worker_labels(char labels[GPX_LABELS_MAX], const char *src_labels, unsigned worker)
{
    char digits[GPX_TEXT_U64_MAX];
    size_t used = 0, n = (size_t)(gpx_text_u64(digits, worker) - digits);
    char *p = labels;

    p = put_capped(p, &used, src_labels, strlen(src_labels));
    p = put_capped(p, &used, "worker_id=\"", 11);
    p = put_capped(p, &used, digits, n);
    p = put_capped(p, &used, "\"", 1);
    *p = '\0';
    return used;
}

/* One histogram: cumulative buckets from non-cumulative slots. `labels` is
 * the label set without le (e.g. `worker_id="1"`), `sum` already formatted
 * by the caller through put_sum. */
struct histogram_text {
    const char *name;
    size_t name_len;
    const char *labels;
    size_t labels_len;
    const char *const *bound_labels;
    unsigned bounds;
};

/* `<name><suffix>{<labels>` */
static char *
put_series_head(char *p, const struct histogram_text *h, const char *suffix, size_t suffix_len)
{
    p = gpx_text_mem(p, h->name, h->name_len);
    p = gpx_text_mem(p, suffix, suffix_len);
    *p++ = '{';
    return gpx_text_mem(p, h->labels, h->labels_len);
}

static void
put_histogram(struct gpx_buf *out, const struct histogram_text *h, const uint64_t *slots, uint64_t sum,
              int sum_is_micros, const struct gpx_exemplar_copy *exemplars, const unsigned char *have_exemplar)
{
    uint64_t cumulative = 0;
    unsigned i;
    size_t bound_len = 0, line = h->name_len + h->labels_len + 16 + GPX_TEXT_MICROS_MAX +
                                 (exemplars != NULL ? GPX_EXEMPLAR_TEXT_MAX : 0);
    char *p;

    for (i = 0; i < h->bounds; i++) {
        bound_len += strlen(h->bound_labels[i]);
    }
    /* Each line: the head, `,le="<bound>"} `, a number and a newline. */
    p = gpx_buf_room(out, line * (h->bounds + 3) + bound_len + 16);
    if (p == NULL) {
        return;
    }
    for (i = 0; i <= h->bounds; i++) {
        const char *bound = i < h->bounds ? h->bound_labels[i] : "+Inf";

        cumulative += slots[i];
        p = put_series_head(p, h, "_bucket", 7);
        if (h->labels_len > 0) {
            *p++ = ',';
        }
        p = gpx_text_mem(p, "le=\"", 4);
        p = gpx_text_mem(p, bound, strlen(bound));
        p = gpx_text_mem(p, "\"} ", 3);
        p = gpx_text_u64(p, cumulative);
        if (exemplars != NULL && have_exemplar[i]) {
            p = gpx_exemplar_text(p, &exemplars[i]);
        }
        *p++ = '\n';
    }
    p = put_series_head(p, h, "_count", 6);
    p = gpx_text_mem(p, "} ", 2);
    p = gpx_text_u64(p, cumulative);
    *p++ = '\n';
    p = put_series_head(p, h, "_sum", 4);
    p = gpx_text_mem(p, "} ", 2);
    if (sum_is_micros) {
        p = gpx_text_micros(p, sum);
    } else {
        p = gpx_text_u64(p, sum);
        p = gpx_text_mem(p, ".0", 2);
    }
    *p++ = '\n';
    gpx_buf_commit(out, p);
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
    const char *labels;                         /* label text put before the family's own labels */
    const struct gpx_cell *cells;               /* one folded cell per worker slot */
    const struct gpx_slot *slots;               /* the slots' master counters, or NULL */
    unsigned n;                                 /* slots in cells */
    unsigned configured;                        /* slots shown even when they counted nothing */
    const struct gpx_cell *total;               /* all slots summed */
    int per_worker;                             /* 0: only the method and status families */
    const struct gpx_error_names *names;        /* the classes the cells' failures are counted under, or NULL */
    const struct gpx_exemplar_board *exemplars; /* the latency buckets' exemplars, or NULL */
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

    gpx_render_family(out, fmt, GPX_FAM_WORKER_REQUESTS);
    for (i = 0; i < nsrc; i++) {
        for (w = 0; srcs[i].per_worker && w < srcs[i].n; w++) {
            if (shown(&srcs[i], w)) {
                size_t len = worker_labels(labels, srcs[i].labels, w + 1);
                char *p = gpx_buf_room(out, len + 64);

                if (p == NULL) {
                    return;
                }
                p = gpx_text_mem(p, "gunicorn_worker_requests_total{", 31);
                p = gpx_text_mem(p, labels, len);
                p = gpx_text_mem(p, "} ", 2);
                p = gpx_text_u64(p, gpx_cell_requests(&srcs[i].cells[w]));
                *p++ = '\n';
                gpx_buf_commit(out, p);
            }
        }
    }

    static const enum gpx_family_id fams[3] = {GPX_FAM_WORKER_REQUEST_DURATION, GPX_FAM_WORKER_REQUEST_SIZE,
                                               GPX_FAM_WORKER_RESPONSE_SIZE};
    h.labels = labels;
    for (f = 0; f < 3; f++) {
        gpx_render_family(out, fmt, fams[f]);
        h.name = gpx_families[fams[f]].name;
        h.name_len = strlen(h.name);
        h.bound_labels = f == 0 ? gpx_duration_bound_labels : gpx_size_bound_labels;
        h.bounds = f == 0 ? GPX_DURATION_BOUNDS : GPX_SIZE_BOUNDS;
        for (i = 0; i < nsrc; i++) {
            for (w = 0; srcs[i].per_worker && w < srcs[i].n; w++) {
                const struct gpx_cell *cell = &srcs[i].cells[w];

                if (!shown(&srcs[i], w)) {
                    continue;
                }
                h.labels_len = worker_labels(labels, srcs[i].labels, w + 1);
                if (f == 0) {
                    all_methods(cell, slots, &sum);
                    put_histogram(out, &h, slots, sum, 1, NULL, NULL);
                } else {
                    sizes_of(cell, f == 1, slots, &sum);
                    put_histogram(out, &h, slots, sum, 0, NULL, NULL);
                }
            }
        }
    }
}

/* `<family>{<labels>worker_id="<w>",method="<m>",endpoint="` */
static void
put_error_head(struct gpx_buf *out, const char *family_name, const char *labels, unsigned w, unsigned m)
{
    size_t name_len = strlen(family_name), labels_len = strlen(labels);
    const char *method = gpx_method_label(m);
    size_t method_len = strlen(method);
    char *p = gpx_buf_room(out, name_len + labels_len + method_len + 64);

    if (p == NULL) {
        return;
    }
    p = gpx_text_mem(p, family_name, name_len);
    *p++ = '{';
    p = gpx_text_mem(p, labels, labels_len);
    p = gpx_text_mem(p, "worker_id=\"", 11);
    p = gpx_text_u64(p, w + 1);
    p = gpx_text_mem(p, "\",method=\"", 10);
    p = gpx_text_mem(p, method, method_len);
    p = gpx_text_mem(p, "\",endpoint=\"", 12);
    gpx_buf_commit(out, p);
}

/* `<before>"} <count>\n` */
static void
put_error_tail(struct gpx_buf *out, const char *before, uint64_t count)
{
    size_t len = strlen(before);
    char *p = gpx_buf_room(out, len + 4 + GPX_TEXT_U64_MAX);

    if (p == NULL) {
        return;
    }
    p = gpx_text_mem(p, before, len);
    p = gpx_text_mem(p, "\"} ", 3);
    p = gpx_text_u64(p, count);
    *p++ = '\n';
    gpx_buf_commit(out, p);
}

/* One gunicorn_worker_failed_requests_total series per exception class
 * that (w, m, a) counted, after the one of failures of no known class. */
static void
put_failures(struct gpx_buf *out, const struct gpx_exposition *x, const char *family_name, const struct source *src,
             unsigned w, unsigned m, unsigned a, int classes)
{
    const struct gpx_cell *cell = &src->cells[w];
    unsigned n, last = classes ? GPX_ERROR_NAMES : 0;

    for (n = 0; n <= last; n++) {
        const char *name = n == 0 ? "exception" : src->names != NULL ? gpx_error_names_get(src->names, n - 1) : NULL;
        uint64_t count = n == 0 ? cell->failed[m][a] : name != NULL ? gpx_cell_failures(cell, m, a, n - 1) : 0;

        if (count == 0) {
            continue;
        }
        put_error_head(out, family_name, src->labels, w, m);
        gpx_render_label_value(out, endpoint_of(x, w + 1, a));
        gpx_buf_puts(out, "\",error_type=\"");
        gpx_render_label_value(out, name);
        put_error_tail(out, "", count);
    }
}

/* The (method, app) pairs whose failures a cell counted under a class: bit
 * m * GPX_MAX_APPS + a. Looking each class up for every pair would cost 32
 * probes per worker, method and app, and most cells hold none. */
_Static_assert(GPX_METHOD_COUNT *GPX_MAX_APPS <= 128, "a failure mask holds every (method, app)");
struct failure_mask {
    uint64_t bits[2];
};

static struct failure_mask
failure_mask(const struct gpx_cell *cell)
{
    struct failure_mask mask = {{0, 0}};
    unsigned i;

    for (i = 0; i < GPX_FAILED_SLOTS; i++) {
        uint32_t key = cell->failed_key[i], method = key >> 16, app = (key >> 8) & 0xffu;

        if (key != 0 && method >= 1 && method <= GPX_METHOD_COUNT && app < GPX_MAX_APPS) {
            unsigned bit = (method - 1) * GPX_MAX_APPS + app;

            mask.bits[bit / 64] |= (uint64_t)1 << (bit % 64);
        }
    }
    return mask;
}

static int
failure_mask_has(const struct failure_mask *mask, unsigned m, unsigned a)
{
    unsigned bit = m * GPX_MAX_APPS + a;

    return (mask->bits[bit / 64] >> (bit % 64)) & 1u;
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

        gpx_render_family(out, fmt, fams[f]);
        for (i = 0; i < nsrc; i++) {
            const struct gpx_cell *cells = srcs[i].cells;

            for (w = 0; srcs[i].per_worker && w < srcs[i].n; w++) {
                struct failure_mask mask = failure_mask(&cells[w]);

                for (m = 0; m < GPX_METHOD_COUNT; m++) {
                    for (a = 0; a < GPX_MAX_APPS; a++) {
                        uint64_t counts[2];
                        static const char *const kinds[2] = {"\",error_type=\"read", "\",error_type=\"write"};
                        unsigned k;

                        if (f == 0) {
                            int classes = failure_mask_has(&mask, m, a);

                            if (classes || cells[w].failed[m][a] != 0) {
                                put_failures(out, x, name, &srcs[i], w, m, a, classes);
                            }
                            continue;
                        }
                        counts[0] = cells[w].read_errors[m][a];
                        counts[1] = cells[w].write_errors[m][a];
                        for (k = 0; k < 2; k++) {
                            if (counts[k] == 0) {
                                continue;
                            }
                            put_error_head(out, name, srcs[i].labels, w, m);
                            gpx_render_label_value(out, endpoint_of(x, w + 1, a));
                            put_error_tail(out, kinds[k], counts[k]);
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
        const char *name = gpx_families[gauges[g]].name;
        size_t name_len = strlen(name);

        gpx_render_family(out, fmt, gauges[g]);
        for (w = 0; w < x->worker_count; w++) {
            const struct gpx_worker_view *v = &x->workers[w];

            if (v->live) {
                const double values[] = {v->memory_bytes, v->cpu_percent, v->uptime_seconds, v->cpu_seconds};
                char *p = gpx_buf_room(out, name_len + 16 + GPX_TEXT_U64_MAX + GPX_TEXT_G15_MAX);

                if (p == NULL) {
                    return;
                }
                p = gpx_text_mem(p, name, name_len);
                p = gpx_text_mem(p, "{worker_id=\"", 12);
                p = gpx_text_u64(p, w + 1);
                p = gpx_text_mem(p, "\"} ", 3);
                p = gpx_text_g15(p, values[g]);
                *p++ = '\n';
                gpx_buf_commit(out, p);
            }
        }
    }

    gpx_render_family(out, fmt, GPX_FAM_WORKER_STATE);
    for (w = 0; w < x->worker_count; w++) {
        for (s = 0; s < GPX_STATE_COUNT; s++) {
            char *p = gpx_buf_room(out, 64 + GPX_TEXT_U64_MAX);

            if (p == NULL) {
                return;
            }
            p = gpx_text_mem(p, "gunicorn_worker_state{worker_id=\"", 33);
            p = gpx_text_u64(p, w + 1);
            p = gpx_text_mem(p, "\",state=\"", 9);
            p = gpx_text_mem(p, state_labels[s], strlen(state_labels[s]));
            p = gpx_text_mem(p, x->workers[w].state == (enum gpx_worker_state)s ? "\"} 1\n" : "\"} 0\n", 5);
            gpx_buf_commit(out, p);
        }
    }

    gpx_render_family(out, fmt, GPX_FAM_WORKERS_DESIRED);
    gpx_buf_printf(out, "gunicorn_workers_desired %u\n", x->workers_desired);

    gpx_render_family(out, fmt, GPX_FAM_WORKERS);
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

/* The label text after worker_id of each restart series, one per family
 * and reason, written once per page. */
enum { RESTART_TOTAL, RESTART_COUNT_WORKER, RESTART_COUNT_MASTER, RESTART_FAMILIES };
struct restart_suffixes {
    char text[RESTART_FAMILIES][GPX_RESTART_REASON_COUNT][96];
    size_t len[RESTART_FAMILIES][GPX_RESTART_REASON_COUNT];
};

static void
restart_suffixes(struct restart_suffixes *rs)
{
    unsigned r;

    for (r = 0; r < GPX_RESTART_REASON_COUNT; r++) {
        const char *reason = gpx_restart_label(r), *type = gpx_restart_type_label(r);
        int n[RESTART_FAMILIES];

        /* The exporter's label orders: reason alone; worker_id, restart_type,
         * reason for the worker's counts; worker_id, reason, restart_type for
         * the master's. */
        n[RESTART_TOTAL] = snprintf(rs->text[RESTART_TOTAL][r], sizeof(rs->text[0][0]), ",reason=\"%s\"} ", reason);
        n[RESTART_COUNT_WORKER] = snprintf(rs->text[RESTART_COUNT_WORKER][r], sizeof(rs->text[0][0]),
                                           ",restart_type=\"%s\",reason=\"%s\"} ", type, reason);
        n[RESTART_COUNT_MASTER] = snprintf(rs->text[RESTART_COUNT_MASTER][r], sizeof(rs->text[0][0]),
                                           ",reason=\"%s\",restart_type=\"%s\"} ", reason, type);
        for (unsigned f = 0; f < RESTART_FAMILIES; f++) {
            rs->len[f][r] = n[f] > 0 && (size_t)n[f] < sizeof(rs->text[0][0]) ? (size_t)n[f] : 0;
        }
    }
}

/* Every restart series of one family for the shown slots of srcs. */
static void
put_restart_family(struct gpx_buf *out, const struct restart_suffixes *rs, unsigned family, const char *name,
                   const struct source *srcs, unsigned nsrc)
{
    char labels[GPX_LABELS_MAX];
    size_t name_len = strlen(name), len;
    unsigned i, w, r;

    for (i = 0; i < nsrc; i++) {
        for (w = 0; srcs[i].per_worker && srcs[i].slots != NULL && w < srcs[i].n; w++) {
            char *p;

            if (!shown(&srcs[i], w)) {
                continue;
            }
            len = worker_labels(labels, srcs[i].labels, w + 1);
            p = gpx_buf_room(out, GPX_RESTART_REASON_COUNT * (name_len + len + sizeof(rs->text[0][0]) + 24));
            if (p == NULL) {
                return;
            }
            for (r = 0; r < GPX_RESTART_REASON_COUNT; r++) {
                p = gpx_text_mem(p, name, name_len);
                *p++ = '{';
                p = gpx_text_mem(p, labels, len);
                p = gpx_text_mem(p, rs->text[family][r], rs->len[family][r]);
                p = gpx_text_u64(p, srcs[i].slots[w].restarts[r]);
                *p++ = '\n';
            }
            gpx_buf_commit(out, p);
        }
    }
}

/* Restarts by reason, per slot and for the whole server. Every reason is
 * shown from the start, so that rate() has a zero to begin from. Then the
 * exporter's second pair of restart families: the same events per slot,
 * with the reason's restart_type. */
static void
render_restarts(struct gpx_buf *out, enum gpx_format fmt, const struct source *srcs, unsigned nsrc)
{
    struct restart_suffixes rs;
    unsigned i, w, r;

    restart_suffixes(&rs);
    gpx_render_family(out, fmt, GPX_FAM_WORKER_RESTART);
    put_restart_family(out, &rs, RESTART_TOTAL, gpx_families[GPX_FAM_WORKER_RESTART].name, srcs, nsrc);
    gpx_render_family(out, fmt, GPX_FAM_MASTER_WORKER_RESTART);
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
    gpx_render_family(out, fmt, GPX_FAM_WORKER_RESTART_COUNT);
    put_restart_family(out, &rs, RESTART_COUNT_WORKER, gpx_families[GPX_FAM_WORKER_RESTART_COUNT].name, srcs, nsrc);
    gpx_render_family(out, fmt, GPX_FAM_MASTER_WORKER_RESTART_COUNT);
    put_restart_family(out, &rs, RESTART_COUNT_MASTER, gpx_families[GPX_FAM_MASTER_WORKER_RESTART_COUNT].name, srcs,
                       nsrc);
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

/* The exemplars of this server's requests (gpx-exemplars), or NULL. */
static const struct gpx_exemplar_board *exemplar_board;

void
gpx_render_exemplars(const struct gpx_exemplar_board *board)
{
    exemplar_board = board;
}

/* The schema native histograms are served at, or NATIVE_OFF. */
#define NATIVE_OFF (-100)
static int native_schema = NATIVE_OFF;

void
gpx_render_native_histograms(int on, int schema)
{
    native_schema = on && schema >= -4 && schema <= GPX_NATIVE_SCHEMA ? schema : NATIVE_OFF;
}

/* Whether a page in this format carries the native histograms. */
static int
native_served(enum gpx_format fmt)
{
    return fmt == GPX_FORMAT_PROTOBUF && native_schema != NATIVE_OFF;
}

/* ceil(i / 2^shift) for a bucket index of either sign: the bucket of a
 * coarser schema that holds bucket i of the recorded one. */
static int
coarser_index(int i, unsigned shift)
{
    int f = 1 << shift;

    return i >= 0 ? (i + f - 1) / f : -(-i / f);
}

/* A method's native histogram, for gpx_protobuf_from_text, right after
 * its classic lines: `# NATIVE <schema> <zero threshold> <zero count>`,
 * then ` <index>:<count>` for each bucket that counted, ascending. The
 * zero bucket holds the 0 us durations; its threshold is the lower bound
 * of the first bucket that can count (2^-20 s below 1 us), so that the
 * two never overlap at any schema. */
static void
put_native(struct gpx_buf *out, const uint64_t native[GPX_NATIVE_SLOTS], int schema)
{
    unsigned shift = (unsigned)(GPX_NATIVE_SCHEMA - schema), s;
    int first = coarser_index(1 + GPX_NATIVE_INDEX_OFFSET, shift), at = 0;
    double threshold = ldexp(1.0, -20);
    uint64_t count = 0;

    if (schema <= 0) {
        double lower = ldexp(1.0, (first - 1) * (1 << -schema));

        threshold = lower < threshold ? lower : threshold;
    }
    gpx_buf_printf(out, "# NATIVE %d %.17g %" PRIu64, schema, threshold, native[0]);
    for (s = 1; s < GPX_NATIVE_SLOTS; s++) {
        int j;

        if (native[s] == 0) {
            continue;
        }
        j = coarser_index((int)s + GPX_NATIVE_INDEX_OFFSET, shift);
        if (count > 0 && j != at) {
            gpx_buf_printf(out, " %d:%" PRIu64, at, count);
            count = 0;
        }
        at = j;
        count += native[s];
    }
    if (count > 0) {
        gpx_buf_printf(out, " %d:%" PRIu64, at, count);
    }
    gpx_buf_puts(out, "\n");
}

static void
render_requests(struct gpx_buf *out, enum gpx_format fmt, const struct source *srcs, unsigned nsrc)
{
    struct gpx_exemplar_copy exemplars[GPX_DURATION_SLOTS];
    unsigned char have_exemplar[GPX_DURATION_SLOTS], have;
    uint64_t slots[GPX_DURATION_SLOTS];
    char labels[GPX_LABELS_MAX];
    unsigned i, j, m;
    struct histogram_text h;

    gpx_render_family(out, fmt, GPX_FAM_REQUESTS);
    for (j = 0; j < nsrc; j++) {
        put_statuses(out, &srcs[j]);
    }

    gpx_render_family(out, fmt, GPX_FAM_REQUEST_DURATION);
    h.name = gpx_families[GPX_FAM_REQUEST_DURATION].name;
    h.name_len = strlen(h.name);
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
            h.labels_len = strlen(labels);
            have = 0;
            if (srcs[j].exemplars != NULL && fmt != GPX_FORMAT_TEXT) {
                for (i = 0; i < GPX_DURATION_SLOTS; i++) {
                    have_exemplar[i] = (unsigned char)gpx_exemplar_newest(srcs[j].exemplars, m, i, &exemplars[i]);
                    have |= have_exemplar[i];
                }
            }
            put_histogram(out, &h, slots, total->duration[m].sum_us, 1, have ? exemplars : NULL, have_exemplar);
            if (native_served(fmt)) {
                put_native(out, total->native[m], native_schema);
            }
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

        gpx_render_family(out, fmt, id);
        for (i = 0; i < x->listener_count; i++) {
            gpx_buf_printf(out, "%s{listener=\"", name);
            gpx_render_label_value(out, x->listeners[i].name);
            gpx_buf_printf(out, "\"} %" PRIu64 "\n", f == 0 ? x->listeners[i].queued : x->listeners[i].limit);
        }
    }
    gpx_render_family(out, fmt, GPX_FAM_LISTEN_OVERFLOWS);
    if (x->have_listen_overflows) {
        gpx_buf_printf(out, "gunicorn_listen_overflows_total %" PRIu64 "\n", x->listen_overflows);
    }
}

static void
render_server(struct gpx_buf *out, const struct gpx_exposition *x)
{
    enum gpx_format fmt = x->format;
    unsigned i;

    gpx_render_family(out, fmt, GPX_FAM_REQUESTS_IN_PROGRESS);
    gpx_buf_printf(out, "gunicorn_requests_in_progress %u\n", x->in_progress);

    gpx_render_family(out, fmt, GPX_FAM_MASTER_START_TIME);
    gpx_buf_printf(out, "gunicorn_master_start_time_seconds %.6f\n", x->master_start_time);

    gpx_render_family(out, fmt, GPX_FAM_BUILD_INFO);
    gpx_buf_puts(out, "gunicorn_exporter_build_info{version=\"");
    gpx_render_label_value(out, x->version != NULL ? x->version : "");
    gpx_buf_puts(out, "\",uwsgi_version=\"");
    gpx_render_label_value(out, x->uwsgi_version != NULL ? x->uwsgi_version : "");
    gpx_buf_puts(out, "\",storage=\"");
    gpx_render_label_value(out, x->storage != NULL ? x->storage : "");
    gpx_buf_puts(out, "\"} 1\n");

    gpx_render_family(out, fmt, GPX_FAM_SCRAPE_DURATION);
    gpx_buf_printf(out, "gunicorn_exporter_scrape_duration_seconds %.6f\n", x->last_scrape_seconds);

    gpx_render_family(out, fmt, GPX_FAM_STORAGE_UP);
    gpx_buf_printf(out, "gunicorn_exporter_storage_up %d\n", x->storage_up ? 1 : 0);

    gpx_render_family(out, fmt, GPX_FAM_STORAGE_ERRORS);
    for (i = 0; i < x->storage_error_count; i++) {
        gpx_buf_printf(out, "gunicorn_exporter_storage_errors_total{operation=\"%s\"} %" PRIu64 "\n",
                       x->storage_error_labels[i], x->storage_errors[i]);
    }

    gpx_render_family(out, fmt, GPX_FAM_ENDPOINT_RELOAD_ERRORS);
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
gpx_render(struct gpx_buf *out, const struct gpx_exposition *x)
{
    unsigned n = x->board->workers, w;
    struct gpx_cell *cells, *total;
    struct gpx_slot *slots;
    struct source src;
    struct gpx_error_names names;
    int live_map[GPX_ERROR_NAMES], base_map[GPX_ERROR_NAMES];
    int native = native_served(x->format); /* else the page reads none of the native histograms */
    unsigned c;

    if (x->base != NULL && x->base->workers > n) {
        n = x->base->workers;
    }
    /* The page's room at once (about 4-5 KB a worker): growing a buffer of
     * megabytes by doubling copies it again at every step. */
    if (gpx_buf_room(out, (size_t)n * GPX_PAGE_BYTES_PER_WORKER + 16384) == NULL) {
        return -1;
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
                gpx_cell_add_parts(&cells[w], gpx_scoreboard_cell(x->board, w + 1, c), live_map, native);
            }
            add_restarts(&slots[w], gpx_scoreboard_slot(x->board, w + 1));
        }
        if (x->base != NULL && w < x->base->workers) {
            add_restarts(&slots[w], gpx_scoreboard_slot(x->base, w + 1));
        }
        if (x->base != NULL && w < x->base->workers) {
            gpx_cell_add_parts(&cells[w], gpx_scoreboard_cell(x->base, w + 1, 0), base_map, native);
        }
        gpx_cell_add_parts(total, &cells[w], NULL, native);
    }
    src.labels = "";
    src.cells = cells;
    src.slots = slots;
    src.n = n;
    src.configured = x->worker_count;
    src.total = total;
    src.per_worker = 1;
    src.names = &names;
    src.exemplars = exemplar_board;
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
gpx_render_fleet(struct gpx_buf *out, enum gpx_format fmt, const struct gpx_fleet_member *members, unsigned count)
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
        gpx_render_label_value(&labels, members[i].instance);
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
            gpx_snapshot_read_cell(h, w + 1, &cells[w]);
            memcpy(&slots[w], gpx_snapshot_slot(h, w + 1), sizeof(struct gpx_slot));
            gpx_cell_add_parts(&cells[h->workers], &cells[w], NULL, native_served(fmt));
        }
        srcs[i].slots = slots;
        gpx_cell_add_parts(fleet_total, &cells[h->workers], NULL, native_served(fmt));
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
        gpx_render_family(out, fmt, GPX_FAM_FLEET_INSTANCES);
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

int
gpx_render_end(struct gpx_buf *out, enum gpx_format format)
{
    return format == GPX_FORMAT_OPENMETRICS ? gpx_buf_puts(out, "# EOF\n") : 0;
}
