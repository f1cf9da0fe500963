/* gpx_fleet.c - the fleet view (see gpx_fleet.h). */
#define _POSIX_C_SOURCE 200809L
#include "gpx_fleet.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpx_exposition.h"
#include "gpx_layout.h"
#include "gpx_snapshot.h"

/* Instances whose skipped snapshot a process logs (once each); more are
 * skipped and counted without a line. */
#define LOGGED_MAX 256

static const char *const skip_labels[GPX_FLEET_SKIP_REASONS] = {"stale", "malformed", "layout"};

/* What one instance's extension said, decoded. */
struct live {
    int present;
    struct gpx_snapshot_live fixed;
    struct gpx_snapshot_worker *workers; /* the blob's worker count of them */
    unsigned workers_shown;              /* configured slots among them */
};

struct collected {
    struct gpx_fleet_member *members;
    struct live *live;
    unsigned count;
    unsigned cap;
    int failed;
    uint64_t now;
    unsigned max_age;
    gpx_log_fn log;
    uint64_t skipped[GPX_FLEET_SKIP_REASONS];
};

static pthread_mutex_t logged_lock = PTHREAD_MUTEX_INITIALIZER;
static char *logged[LOGGED_MAX];
static unsigned logged_count;

/* Logs an instance's skipped snapshot the first time this process skips it
 * (unless another thread is logging one at that moment: then the next read
 * logs it). */
static void
log_skip_once(gpx_log_fn log, const char *instance, const char *why)
{
    char line[512];
    unsigned i;
    int first = 1;

    /* trylock: a worker forked while the master's fleet thread held the
     * lock inherits it held; that worker then just does not log. */
    if (log == NULL || pthread_mutex_trylock(&logged_lock) != 0) {
        return;
    }
    for (i = 0; i < logged_count && first; i++) {
        first = strcmp(logged[i], instance) != 0;
    }
    if (first) {
        if (logged_count < LOGGED_MAX && (logged[logged_count] = strdup(instance)) != NULL) {
            logged_count++;
        } else {
            first = 0; /* no room to remember it: say nothing rather than repeat */
        }
    }
    pthread_mutex_unlock(&logged_lock);
    if (first) {
        snprintf(line, sizeof(line), "gpx: fleet view: the snapshot of instance %.128s is skipped (logged once): %s",
                 instance, why);
        log(line);
    }
}

static void
skip(struct collected *c, const char *instance, enum gpx_fleet_skip reason, const char *why)
{
    c->skipped[reason]++;
    log_skip_once(c->log, instance, why);
}

static void collect_checked(struct collected *c, const char *instance, const void *blob, size_t len);

/* Keeps a copy of each instance whose snapshot this gpx can read: an
 * instance still on gpx 0.1 (layout 3) is read into this layout. */
static void
collect(void *ctx, const char *instance, const void *blob, size_t len)
{
    struct collected *c = ctx;
    const struct gpx_snapshot_header *h;
    struct gpx_buf upgraded;
    char err[160];

    if (gpx_snapshot_check(blob, len, &h, err, sizeof(err)) == -2 && gpx_buf_init(&upgraded, len * 5) == 0) {
        if (gpx_layout_snapshot_upgrade(blob, len, &upgraded) == 0) {
            collect_checked(c, instance, upgraded.data, upgraded.len);
        } else {
            collect_checked(c, instance, blob, len);
        }
        gpx_buf_free(&upgraded);
        return;
    }
    collect_checked(c, instance, blob, len);
}

static void
collect_checked(struct collected *c, const char *instance, const void *blob, size_t len)
{
    const struct gpx_snapshot_header *h;
    struct gpx_snapshot_header head;
    struct live *l;
    char err[160], why[200];
    void *copy;
    char *name;
    uint32_t version;
    int rc;

    rc = gpx_snapshot_check(blob, len, &h, err, sizeof(err));
    if (rc != 0) {
        skip(c, instance, rc == -2 ? GPX_FLEET_SKIP_LAYOUT : GPX_FLEET_SKIP_MALFORMED, err);
        return;
    }
    memcpy(&head, blob, sizeof(head));
    if (c->max_age > 0 && c->now > head.taken_unix && c->now - head.taken_unix > c->max_age) {
        snprintf(why, sizeof(why), "taken %" PRIu64 " s ago, more than %u s", c->now - head.taken_unix, c->max_age);
        skip(c, instance, GPX_FLEET_SKIP_STALE, why);
        return;
    }
    if (c->count == c->cap) {
        unsigned cap = c->cap ? c->cap * 2 : 8;
        struct gpx_fleet_member *m = realloc(c->members, cap * sizeof(*m));
        struct live *lv;

        if (m == NULL) {
            c->failed = 1;
            return;
        }
        c->members = m;
        lv = realloc(c->live, cap * sizeof(*lv));
        if (lv == NULL) {
            c->failed = 1;
            return;
        }
        c->live = lv;
        c->cap = cap;
    }
    l = &c->live[c->count];
    memset(l, 0, sizeof(*l));
    copy = malloc(len);
    name = strdup(instance);
    l->workers = calloc(head.workers, sizeof(*l->workers));
    if (copy == NULL || name == NULL || l->workers == NULL) {
        free(copy);
        free(name);
        free(l->workers);
        c->failed = 1;
        return;
    }
    memcpy(copy, blob, len);
    l->present = gpx_snapshot_read_live(copy, len, &l->fixed, l->workers, &version);
    l->workers_shown = l->fixed.worker_count < head.workers ? l->fixed.worker_count : head.workers;
    c->members[c->count].instance = name;
    c->members[c->count].snapshot = copy;
    c->count++;
}

/* Opens a series of member m: `name{gpx_instance="..."` (the caller closes it). */
static void
open_series(struct gpx_buf *out, const char *name, const struct gpx_fleet_member *m)
{
    gpx_buf_printf(out, "%s{gpx_instance=\"", name);
    gpx_render_label_value(out, m->instance);
    gpx_buf_puts(out, "\"");
}

static void
render_worker_gauges(struct gpx_buf *out, enum gpx_format fmt, const struct collected *c)
{
    static const enum gpx_family_id gauges[] = {GPX_FAM_WORKER_MEMORY, GPX_FAM_WORKER_CPU_PERCENT,
                                                GPX_FAM_WORKER_UPTIME, GPX_FAM_WORKER_CPU_SECONDS};
    unsigned g, i, w, s;

    for (g = 0; g < sizeof(gauges) / sizeof(gauges[0]); g++) {
        gpx_render_family(out, fmt, gauges[g]);
        for (i = 0; i < c->count; i++) {
            for (w = 0; w < c->live[i].workers_shown; w++) {
                const struct gpx_snapshot_worker *v = &c->live[i].workers[w];
                const double values[] = {v->memory_bytes, v->cpu_percent, v->uptime_seconds, v->cpu_seconds};

                if (v->live) {
                    open_series(out, gpx_families[gauges[g]].name, &c->members[i]);
                    gpx_buf_printf(out, ",worker_id=\"%u\"} %.15g\n", w + 1, values[g]);
                }
            }
        }
    }

    gpx_render_family(out, fmt, GPX_FAM_WORKER_STATE);
    for (i = 0; i < c->count; i++) {
        for (w = 0; w < c->live[i].workers_shown; w++) {
            for (s = 0; s < GPX_STATE_COUNT; s++) {
                open_series(out, "gunicorn_worker_state", &c->members[i]);
                gpx_buf_printf(out, ",worker_id=\"%u\",state=\"%s\"} %d\n", w + 1,
                               gpx_worker_state_label((enum gpx_worker_state)s), c->live[i].workers[w].state == s);
            }
        }
    }
}

static void
render_workers(struct gpx_buf *out, enum gpx_format fmt, const struct collected *c)
{
    uint64_t desired = 0, by_state[GPX_STATE_COUNT] = {0};
    unsigned i, w, s;

    gpx_render_family(out, fmt, GPX_FAM_WORKERS_DESIRED);
    for (i = 0; i < c->count; i++) {
        if (c->live[i].present) {
            open_series(out, "gunicorn_workers_desired", &c->members[i]);
            gpx_buf_printf(out, "} %u\n", c->live[i].fixed.workers_desired);
            desired += c->live[i].fixed.workers_desired;
        }
    }
    gpx_buf_printf(out, "gunicorn_workers_desired %" PRIu64 "\n", desired);

    gpx_render_family(out, fmt, GPX_FAM_WORKERS);
    for (i = 0; i < c->count; i++) {
        if (!c->live[i].present) {
            continue;
        }
        for (s = 0; s < GPX_STATE_COUNT; s++) {
            unsigned count = 0;

            for (w = 0; w < c->live[i].workers_shown; w++) {
                count += c->live[i].workers[w].state == s;
            }
            by_state[s] += count;
            open_series(out, "gunicorn_workers", &c->members[i]);
            gpx_buf_printf(out, ",state=\"%s\"} %u\n", gpx_worker_state_label((enum gpx_worker_state)s), count);
        }
    }
    for (s = 0; s < GPX_STATE_COUNT; s++) {
        gpx_buf_printf(out, "gunicorn_workers{state=\"%s\"} %" PRIu64 "\n",
                       gpx_worker_state_label((enum gpx_worker_state)s), by_state[s]);
    }
}

static void
render_listeners(struct gpx_buf *out, enum gpx_format fmt, const struct collected *c)
{
    uint64_t queued = 0;
    unsigned f, i, l;

    for (f = 0; f < 2; f++) {
        enum gpx_family_id id = f == 0 ? GPX_FAM_LISTEN_BACKLOG : GPX_FAM_LISTEN_BACKLOG_LIMIT;

        gpx_render_family(out, fmt, id);
        for (i = 0; i < c->count; i++) {
            const struct gpx_snapshot_live *x = &c->live[i].fixed;

            for (l = 0; l < x->listener_count; l++) {
                open_series(out, gpx_families[id].name, &c->members[i]);
                gpx_buf_puts(out, ",listener=\"");
                gpx_render_label_value(out, x->listeners[l].name);
                gpx_buf_printf(out, "\"} %" PRIu64 "\n", f == 0 ? x->listeners[l].queued : x->listeners[l].limit);
                queued += f == 0 ? x->listeners[l].queued : 0;
            }
        }
        if (f == 0) {
            /* The connections waiting fleet-wide; limits do not add up. */
            gpx_buf_printf(out, "gunicorn_listen_backlog %" PRIu64 "\n", queued);
        }
    }
}

static void
render_in_progress(struct gpx_buf *out, enum gpx_format fmt, const struct collected *c)
{
    uint64_t total = 0;
    unsigned i;

    gpx_render_family(out, fmt, GPX_FAM_REQUESTS_IN_PROGRESS);
    for (i = 0; i < c->count; i++) {
        if (c->live[i].present) {
            open_series(out, "gunicorn_requests_in_progress", &c->members[i]);
            gpx_buf_printf(out, "} %u\n", c->live[i].fixed.in_progress);
            total += c->live[i].fixed.in_progress;
        }
    }
    gpx_buf_printf(out, "gunicorn_requests_in_progress %" PRIu64 "\n", total);
}

static void
render_storage(struct gpx_buf *out, enum gpx_format fmt, const struct collected *c)
{
    /* The fleet's sum per operation, in the order first seen. */
    const char *ops[GPX_SNAPSHOT_STORAGE_OPS * 2];
    uint64_t sums[GPX_SNAPSHOT_STORAGE_OPS * 2];
    unsigned nops = 0, i, o, k;

    gpx_render_family(out, fmt, GPX_FAM_STORAGE_UP);
    for (i = 0; i < c->count; i++) {
        if (c->live[i].present) {
            open_series(out, "gunicorn_exporter_storage_up", &c->members[i]);
            gpx_buf_printf(out, "} %d\n", c->live[i].fixed.storage_up ? 1 : 0);
        }
    }

    gpx_render_family(out, fmt, GPX_FAM_STORAGE_ERRORS);
    for (i = 0; i < c->count; i++) {
        const struct gpx_snapshot_live *x = &c->live[i].fixed;

        for (o = 0; o < x->storage_op_count; o++) {
            open_series(out, "gunicorn_exporter_storage_errors_total", &c->members[i]);
            gpx_buf_puts(out, ",operation=\"");
            gpx_render_label_value(out, x->storage[o].label);
            gpx_buf_printf(out, "\"} %" PRIu64 "\n", x->storage[o].errors);
            for (k = 0; k < nops && strcmp(ops[k], x->storage[o].label) != 0; k++) {
            }
            if (k == nops && nops < sizeof(ops) / sizeof(ops[0])) {
                ops[nops] = x->storage[o].label;
                sums[nops++] = 0;
            }
            if (k < nops) {
                sums[k] += x->storage[o].errors;
            }
        }
    }
    for (k = 0; k < nops; k++) {
        gpx_buf_puts(out, "gunicorn_exporter_storage_errors_total{operation=\"");
        gpx_render_label_value(out, ops[k]);
        gpx_buf_printf(out, "\"} %" PRIu64 "\n", sums[k]);
    }
}

/* The families of what each instance's master saw, beside the counters. */
static void
render_live(struct gpx_buf *out, enum gpx_format fmt, const struct collected *c)
{
    unsigned r;

    render_worker_gauges(out, fmt, c);
    render_workers(out, fmt, c);
    render_listeners(out, fmt, c);
    render_in_progress(out, fmt, c);
    render_storage(out, fmt, c);
    gpx_render_family(out, fmt, GPX_FAM_FLEET_SNAPSHOTS_SKIPPED);
    for (r = 0; r < GPX_FLEET_SKIP_REASONS; r++) {
        gpx_buf_printf(out, "gunicorn_exporter_fleet_snapshots_skipped{reason=\"%s\"} %" PRIu64 "\n", skip_labels[r],
                       c->skipped[r]);
    }
}

struct gpx_fleet_read *
gpx_fleet_read_new(uint64_t now_unix, unsigned max_age_seconds, gpx_log_fn log)
{
    struct collected *c = calloc(1, sizeof(*c));

    if (c != NULL) {
        c->now = now_unix;
        c->max_age = max_age_seconds;
        c->log = log;
    }
    return (struct gpx_fleet_read *)c;
}

void
gpx_fleet_read_add(struct gpx_fleet_read *read, const char *instance, const void *blob, size_t len)
{
    collect(read, instance, blob, len);
}

int
gpx_fleet_read_render(struct gpx_fleet_read *read, struct gpx_buf *out, enum gpx_format format)
{
    struct collected *c = (struct collected *)read;

    if (c->failed || gpx_render_fleet(out, format, c->members, c->count) != 0) {
        return -1;
    }
    render_live(out, format, c);
    return out->failed ? -1 : 0;
}

void
gpx_fleet_read_free(struct gpx_fleet_read *read)
{
    struct collected *c = (struct collected *)read;
    unsigned i;

    if (c == NULL) {
        return;
    }
    for (i = 0; i < c->count; i++) {
        free((void *)c->members[i].instance);
        free((void *)c->members[i].snapshot);
        free(c->live[i].workers);
    }
    free(c->members);
    free(c->live);
    free(c);
}

int
gpx_fleet_render(struct gpx_buf *out, enum gpx_format format, const struct gpx_redis_config *cfg,
                 struct gpx_redis_status *status, unsigned max_age_seconds)
{
    struct gpx_fleet_read *read = gpx_fleet_read_new((uint64_t)time(NULL), max_age_seconds, cfg->fleet_log);
    int rc;

    if (read == NULL) {
        return GPX_FLEET_ERROR;
    }
    rc = gpx_redis_fleet(cfg, status, collect, read);
    if (rc < 0) {
        rc = GPX_FLEET_UNAVAILABLE;
    } else {
        rc = gpx_fleet_read_render(read, out, format) == 0 ? GPX_FLEET_OK : GPX_FLEET_ERROR;
    }
    gpx_fleet_read_free(read);
    return rc;
}
