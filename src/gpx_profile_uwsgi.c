/* gpx_profile_uwsgi.c - uwsgi_exporter's families (see gpx_profile_uwsgi.h). */
#include "gpx_profile_uwsgi.h"

#include <inttypes.h>
#include <string.h>

#include "gpx_exposition.h"

/* How a family is declared. The sidecar's cache counters have no `_total`:
 * text 0.0.4 takes them as counters, OpenMetrics only as `unknown` (its
 * counters' samples must end in `_total`), under the same name. */
enum kind { GAUGE, COUNTER, SUMMARY };

struct family {
    const char *name; /* as the sidecar names its samples */
    enum kind kind;
    const char *help;
};

enum family_id {
    F_LISTEN_QUEUE,
    F_LISTEN_QUEUE_ERRORS,
    F_SIGNAL_QUEUE,
    F_WORKERS,
    F_SOCKET_QUEUE,
    F_SOCKET_MAX_QUEUE,
    F_SOCKET_SHARED,
    F_SOCKET_CAN_OFFLOAD,
    F_WORKER_ACCEPTING,
    F_WORKER_DELTA_REQUESTS,
    F_WORKER_SIGNAL_QUEUE,
    F_WORKER_RSS,
    F_WORKER_VSZ,
    F_WORKER_RUNNING_TIME,
    F_WORKER_LAST_SPAWN,
    F_WORKER_AVG_RT,
    F_WORKER_BUSY,
    F_WORKER_IDLE,
    F_WORKER_CHEAP,
    F_WORKER_REQUESTS,
    F_WORKER_EXCEPTIONS,
    F_WORKER_HARAKIRI,
    F_WORKER_SIGNALS,
    F_WORKER_RESPAWNS,
    F_WORKER_TX,
    F_WORKER_APPS,
    F_WORKER_CORES,
    F_APP_STARTUP,
    F_APP_REQUESTS,
    F_APP_EXCEPTIONS,
    F_CORE_BUSY,
    F_CORE_REQUESTS,
    F_CORE_STATIC,
    F_CORE_ROUTED,
    F_CORE_OFFLOADED,
    F_CORE_WRITE_ERRORS,
    F_CORE_READ_ERRORS,
    F_CACHE_HITS,
    F_CACHE_MISSES,
    F_CACHE_FULL,
    F_CACHE_ITEMS,
    F_CACHE_MAX_ITEMS,
    F_UP,
    F_SCRAPES,
    F_SCRAPE_ERRORS,
    F_LAST_SCRAPE_ERROR,
    F_SCRAPE_DURATION,
    F_COUNT
};

static const struct family families[F_COUNT] = {
    [F_LISTEN_QUEUE] = {"uwsgi_listen_queue_length", GAUGE, "Connections waiting in the first socket's listen queue"},
    [F_LISTEN_QUEUE_ERRORS] = {"uwsgi_listen_queue_errors", GAUGE, "Listen queue overflows uWSGI counted"},
    [F_SIGNAL_QUEUE] = {"uwsgi_signal_queue_length", GAUGE, "Bytes waiting in the master's signal queue"},
    [F_WORKERS] = {"uwsgi_workers", GAUGE, "Worker slots"},
    [F_SOCKET_QUEUE] = {"uwsgi_socket_queue_length", GAUGE, "Connections waiting in the socket's listen queue"},
    [F_SOCKET_MAX_QUEUE] = {"uwsgi_socket_max_queue_length", GAUGE, "Size of the socket's listen queue"},
    [F_SOCKET_SHARED] = {"uwsgi_socket_shared", GAUGE, "1 for a shared socket"},
    [F_SOCKET_CAN_OFFLOAD] = {"uwsgi_socket_can_offload", GAUGE, "1 when the socket can offload"},
    [F_WORKER_ACCEPTING] = {"uwsgi_worker_accepting", GAUGE, "1 while the worker accepts requests"},
    [F_WORKER_DELTA_REQUESTS] = {"uwsgi_worker_delta_requests", GAUGE, "Requests since the worker's last check"},
    [F_WORKER_SIGNAL_QUEUE] = {"uwsgi_worker_signal_queue_length", GAUGE, "Bytes waiting in the worker's signal queue"},
    [F_WORKER_RSS] = {"uwsgi_worker_rss_bytes", GAUGE, "Resident memory of the worker, as uWSGI last read it"},
    [F_WORKER_VSZ] = {"uwsgi_worker_vsz_bytes", GAUGE, "Virtual memory of the worker, as uWSGI last read it"},
    [F_WORKER_RUNNING_TIME] = {"uwsgi_worker_running_time_seconds", GAUGE, "Time the worker spent in requests"},
    [F_WORKER_LAST_SPAWN] = {"uwsgi_worker_last_spawn_time_seconds", GAUGE, "Unix time the worker was spawned"},
    [F_WORKER_AVG_RT] = {"uwsgi_worker_average_response_time_seconds", GAUGE, "The worker's average response time"},
    [F_WORKER_BUSY] = {"uwsgi_worker_busy", GAUGE, "1 while the worker is busy"},
    [F_WORKER_IDLE] = {"uwsgi_worker_idle", GAUGE, "1 while the worker is idle"},
    [F_WORKER_CHEAP] = {"uwsgi_worker_cheap", GAUGE, "1 while the worker is cheaped"},
    [F_WORKER_REQUESTS] = {"uwsgi_worker_requests_total", COUNTER, "Requests the worker served"},
    [F_WORKER_EXCEPTIONS] = {"uwsgi_worker_exceptions_total", COUNTER, "Exceptions the worker's apps raised"},
    [F_WORKER_HARAKIRI] = {"uwsgi_worker_harakiri_count_total", COUNTER, "Harakiri kills of the worker"},
    [F_WORKER_SIGNALS] = {"uwsgi_worker_signals_total", COUNTER, "uWSGI signals the worker handled"},
    [F_WORKER_RESPAWNS] = {"uwsgi_worker_respawn_count_total", COUNTER, "Spawns of the worker"},
    [F_WORKER_TX] = {"uwsgi_worker_transmitted_bytes_total", COUNTER, "Bytes the worker sent"},
    [F_WORKER_APPS] = {"uwsgi_worker_apps", GAUGE, "Applications the worker loaded"},
    [F_WORKER_CORES] = {"uwsgi_worker_cores", GAUGE, "Cores (threads or async cores) of the worker"},
    [F_APP_STARTUP] = {"uwsgi_worker_app_startup_time_seconds", GAUGE, "Time the application took to load"},
    [F_APP_REQUESTS] = {"uwsgi_worker_app_requests_total", COUNTER, "Requests the application served"},
    [F_APP_EXCEPTIONS] = {"uwsgi_worker_app_exceptions_total", COUNTER, "Exceptions the application raised"},
    [F_CORE_BUSY] = {"uwsgi_worker_core_busy", GAUGE, "1 while the core is in a request"},
    [F_CORE_REQUESTS] = {"uwsgi_worker_core_requests_total", COUNTER, "Requests the core served"},
    [F_CORE_STATIC] = {"uwsgi_worker_core_static_requests_total", COUNTER, "Static files the core served"},
    [F_CORE_ROUTED] = {"uwsgi_worker_core_routed_requests_total", COUNTER, "Requests the core routed"},
    [F_CORE_OFFLOADED] = {"uwsgi_worker_core_offloaded_requests_total", COUNTER, "Requests the core offloaded"},
    [F_CORE_WRITE_ERRORS] = {"uwsgi_worker_core_write_errors_total", COUNTER, "Write errors of the core"},
    [F_CORE_READ_ERRORS] = {"uwsgi_worker_core_read_errors_total", COUNTER, "Read errors of the core"},
    [F_CACHE_HITS] = {"uwsgi_cache_hits", COUNTER, "Cache hits"},
    [F_CACHE_MISSES] = {"uwsgi_cache_misses", COUNTER, "Cache misses"},
    [F_CACHE_FULL] = {"uwsgi_cache_full", COUNTER, "Times the cache was full"},
    [F_CACHE_ITEMS] = {"uwsgi_cache_items", GAUGE, "Items in the cache"},
    [F_CACHE_MAX_ITEMS] = {"uwsgi_cache_max_items", GAUGE, "Items the cache can hold"},
    [F_UP] = {"uwsgi_up", GAUGE, "1: the master answered this scrape"},
    [F_SCRAPES] = {"uwsgi_exporter_scrapes_total", COUNTER, "Pages gpx rendered before this one"},
    [F_SCRAPE_ERRORS] = {"uwsgi_exporter_scrape_errors_total", COUNTER,
                         "Failed reads of uWSGI's state: none, gpx reads it in the master"},
    [F_LAST_SCRAPE_ERROR] = {"uwsgi_exporter_last_scrape_error", GAUGE, "1 if the last read failed: never"},
    [F_SCRAPE_DURATION] = {"uwsgi_exporter_scrape_duration_seconds", SUMMARY,
                           "Time gpx took to render the pages before this one"},
};

static int
ends_with_total(const char *name)
{
    size_t n = strlen(name);

    return n > 6 && strcmp(name + n - 6, "_total") == 0;
}

static void
put_header(struct gpx_buf *out, enum gpx_format format, enum family_id id)
{
    const struct family *f = &families[id];
    size_t len = strlen(f->name);
    const char *type = f->kind == GAUGE ? "gauge" : f->kind == SUMMARY ? "summary" : "counter";

    if (format == GPX_FORMAT_OPENMETRICS && f->kind == COUNTER) {
        if (ends_with_total(f->name)) {
            len -= 6;
        } else {
            type = "unknown";
        }
    }
    gpx_buf_printf(out, "# HELP %.*s %s.\n# TYPE %.*s %s\n", (int)len, f->name, f->help, (int)len, f->name, type);
}

/* `name{stats_uri="..."` and the label pairs after it, up to the value. */
static void
put_start(struct gpx_buf *out, enum family_id id, const struct gpx_ue_view *v)
{
    gpx_buf_puts(out, families[id].name);
    gpx_buf_puts(out, "{stats_uri=\"");
    gpx_render_label_value(out, v->stats_uri != NULL ? v->stats_uri : "");
    gpx_buf_puts(out, "\"");
}

static void
put_label(struct gpx_buf *out, const char *name, const char *value)
{
    gpx_buf_printf(out, ",%s=\"", name);
    gpx_render_label_value(out, value);
    gpx_buf_puts(out, "\"");
}

static void
put_value(struct gpx_buf *out, uint64_t value)
{
    gpx_buf_printf(out, "} %" PRIu64 "\n", value);
}

/* Microseconds as seconds, exactly: 214 is "0.000214". */
static void
put_micros(struct gpx_buf *out, uint64_t us)
{
    gpx_buf_printf(out, "} %" PRIu64 ".%06" PRIu64 "\n", us / 1000000u, us % 1000000u);
}

static void
put_main(struct gpx_buf *out, enum gpx_format format, const struct gpx_ue_view *v)
{
    uint64_t values[] = {v->listen_queue, v->listen_queue_errors, v->signal_queue, 0};
    enum family_id id;
    unsigned w;

    for (w = 0; w < v->worker_count; w++) {
        values[3] += v->workers[w].id != 0;
    }
    for (id = F_LISTEN_QUEUE; id <= F_WORKERS; id++) {
        put_header(out, format, id);
        put_start(out, id, v);
        put_value(out, values[id - F_LISTEN_QUEUE]);
    }
}

/* The first socket of a (name, proto) pair is the one shown. */
static int
socket_shown(const struct gpx_ue_view *v, unsigned i)
{
    unsigned j;

    for (j = 0; j < i; j++) {
        if (strcmp(v->sockets[j].name, v->sockets[i].name) == 0 &&
            strcmp(v->sockets[j].proto, v->sockets[i].proto) == 0) {
            return 0;
        }
    }
    return 1;
}

static void
put_sockets(struct gpx_buf *out, enum gpx_format format, const struct gpx_ue_view *v)
{
    enum family_id id;
    unsigned i;

    for (id = F_SOCKET_QUEUE; id <= F_SOCKET_CAN_OFFLOAD; id++) {
        put_header(out, format, id);
        for (i = 0; i < v->socket_count; i++) {
            const struct gpx_ue_socket *s = &v->sockets[i];
            uint64_t value = id == F_SOCKET_QUEUE       ? s->queue
                             : id == F_SOCKET_MAX_QUEUE ? s->max_queue
                             : id == F_SOCKET_SHARED    ? s->shared
                                                        : s->can_offload;

            if (!socket_shown(v, i)) {
                continue;
            }
            put_start(out, id, v);
            put_label(out, "name", s->name);
            put_label(out, "proto", s->proto);
            put_value(out, value);
        }
    }
}

/* A carried word of slot `w` (0-based) in the board and in the base. */
static uint64_t
carried(const struct gpx_ue_view *v, unsigned w, unsigned word)
{
    uint64_t sum = 0;

    if (v->board != NULL && w < v->board->workers) {
        sum += GPX_READ(gpx_scoreboard_slot(v->board, w + 1)->carried[word]);
    }
    if (v->base != NULL && w < v->base->workers) {
        sum += GPX_READ(gpx_scoreboard_slot(v->base, w + 1)->carried[word]);
    }
    return sum;
}

static uint64_t
worker_value(const struct gpx_ue_view *v, unsigned w, enum family_id id)
{
    const struct gpx_ue_worker *k = &v->workers[w];

    switch (id) {
    case F_WORKER_ACCEPTING:
        return k->accepting;
    case F_WORKER_DELTA_REQUESTS:
        return k->delta_requests;
    case F_WORKER_SIGNAL_QUEUE:
        return k->signal_queue;
    case F_WORKER_RSS:
        return k->rss;
    case F_WORKER_VSZ:
        return k->vsz;
    case F_WORKER_RUNNING_TIME:
        return k->running_time_us;
    case F_WORKER_LAST_SPAWN:
        return k->last_spawn;
    case F_WORKER_AVG_RT:
        return k->avg_rt_us;
    case F_WORKER_BUSY:
        return k->status == GPX_UE_BUSY;
    case F_WORKER_IDLE:
        return k->status == GPX_UE_IDLE;
    case F_WORKER_CHEAP:
        return k->status == GPX_UE_CHEAP;
    case F_WORKER_APPS:
        return k->app_count;
    case F_WORKER_CORES:
        return k->core_count;
    default:
        /* The counters, in enum gpx_ue_counter's order. */
        return k->counters[id - F_WORKER_REQUESTS] + carried(v, w, (unsigned)(id - F_WORKER_REQUESTS));
    }
}

static void
put_worker_id(struct gpx_buf *out, int id)
{
    gpx_buf_printf(out, ",worker_id=\"%d\"", id);
}

static void
put_workers(struct gpx_buf *out, enum gpx_format format, const struct gpx_ue_view *v)
{
    enum family_id id;
    unsigned w;

    for (id = F_WORKER_ACCEPTING; id <= F_WORKER_CORES; id++) {
        put_header(out, format, id);
        for (w = 0; w < v->worker_count; w++) {
            uint64_t value;

            if (v->workers[w].id == 0) {
                continue;
            }
            value = worker_value(v, w, id);
            put_start(out, id, v);
            put_worker_id(out, v->workers[w].id);
            if (id == F_WORKER_RUNNING_TIME || id == F_WORKER_AVG_RT) {
                put_micros(out, value);
            } else {
                put_value(out, value);
            }
        }
    }
}

static void
put_apps(struct gpx_buf *out, enum gpx_format format, const struct gpx_ue_view *v)
{
    enum family_id id;
    unsigned w, a;

    for (id = F_APP_STARTUP; id <= F_APP_EXCEPTIONS; id++) {
        put_header(out, format, id);
        for (w = 0; w < v->worker_count; w++) {
            const struct gpx_ue_worker *k = &v->workers[w];

            if (k->id == 0) {
                continue;
            }
            for (a = 0; a < k->app_count; a++) {
                const struct gpx_ue_app *app = &k->apps[a];
                uint64_t value =
                    id == F_APP_STARTUP ? app->startup_time
                    : id == F_APP_REQUESTS
                        ? app->requests + (a < GPX_MAX_APPS ? carried(v, w, GPX_UE_COUNTERS + a) : 0)
                        : app->exceptions + (a < GPX_MAX_APPS ? carried(v, w, GPX_UE_COUNTERS + GPX_MAX_APPS + a) : 0);

                put_start(out, id, v);
                put_worker_id(out, k->id);
                gpx_buf_printf(out, ",app_id=\"%u\"", a);
                put_label(out, "mountpoint", app->mountpoint);
                put_label(out, "chdir", app->chdir);
                put_value(out, value);
            }
        }
    }
}

static uint64_t
core_value(const struct gpx_ue_core *c, enum family_id id)
{
    switch (id) {
    case F_CORE_BUSY:
        return c->in_request;
    case F_CORE_REQUESTS:
        return c->requests;
    case F_CORE_STATIC:
        return c->static_requests;
    case F_CORE_ROUTED:
        return c->routed_requests;
    case F_CORE_OFFLOADED:
        return c->offloaded_requests;
    case F_CORE_WRITE_ERRORS:
        return c->write_errors;
    default:
        return c->read_errors;
    }
}

static void
put_cores(struct gpx_buf *out, enum gpx_format format, const struct gpx_ue_view *v)
{
    enum family_id id;
    unsigned w, c;

    for (id = F_CORE_BUSY; id <= F_CORE_READ_ERRORS; id++) {
        put_header(out, format, id);
        for (w = 0; w < v->worker_count; w++) {
            const struct gpx_ue_worker *k = &v->workers[w];

            if (k->id == 0) {
                continue;
            }
            for (c = 0; c < k->core_count && !out->failed; c++) {
                put_start(out, id, v);
                put_worker_id(out, k->id);
                gpx_buf_printf(out, ",core_id=\"%u\"", c);
                put_value(out, core_value(&k->cores[c], id));
            }
        }
    }
}

static void
put_caches(struct gpx_buf *out, enum gpx_format format, const struct gpx_ue_view *v)
{
    enum family_id id;
    unsigned i;

    for (id = F_CACHE_HITS; id <= F_CACHE_MAX_ITEMS; id++) {
        put_header(out, format, id);
        for (i = 0; i < v->cache_count; i++) {
            const struct gpx_ue_cache *c = &v->caches[i];
            uint64_t value = id == F_CACHE_HITS     ? c->hits
                             : id == F_CACHE_MISSES ? c->miss
                             : id == F_CACHE_FULL   ? c->full
                             : id == F_CACHE_ITEMS  ? c->items
                                                    : c->max_items;

            put_start(out, id, v);
            put_label(out, "name", c->name);
            put_value(out, value);
        }
    }
}

/* The sidecar's own families, without `stats_uri`: gpx answers them. */
static void
put_exporter(struct gpx_buf *out, enum gpx_format format, const struct gpx_ue_view *v)
{
    const char *duration = families[F_SCRAPE_DURATION].name;

    put_header(out, format, F_UP);
    gpx_buf_printf(out, "%s 1\n", families[F_UP].name);
    put_header(out, format, F_SCRAPES);
    gpx_buf_printf(out, "%s %" PRIu64 "\n", families[F_SCRAPES].name, v->scrapes);
    put_header(out, format, F_SCRAPE_ERRORS);
    gpx_buf_printf(out, "%s 0\n", families[F_SCRAPE_ERRORS].name);
    put_header(out, format, F_LAST_SCRAPE_ERROR);
    gpx_buf_printf(out, "%s 0\n", families[F_LAST_SCRAPE_ERROR].name);
    put_header(out, format, F_SCRAPE_DURATION);
    gpx_buf_printf(out, "%s_sum %.9f\n%s_count %" PRIu64 "\n", duration, v->scrape_seconds_sum, duration, v->scrapes);
}

int
gpx_ue_render(struct gpx_buf *out, const struct gpx_ue_view *v, enum gpx_format format)
{
    put_main(out, format, v);
    put_sockets(out, format, v);
    put_workers(out, format, v);
    put_apps(out, format, v);
    if (v->collect_cores) {
        put_cores(out, format, v);
    }
    put_caches(out, format, v);
    put_exporter(out, format, v);
    return out->failed ? -1 : 0;
}

int
gpx_ue_reserve(struct gpx_names *names)
{
    unsigned id;
    int rc = 0;

    for (id = 0; id < F_COUNT && rc == 0; id++) {
        const struct family *f = &families[id];

        rc = gpx_names_reserve(names, f->name, f->kind == GAUGE ? "gauge" : f->kind == SUMMARY ? "summary" : "counter");
    }
    return rc;
}

void
gpx_ue_carry_worker(struct gpx_slot *slot, const uint64_t live[GPX_UE_COUNTERS])
{
    unsigned i;

    for (i = 0; i < GPX_UE_COUNTERS; i++) {
        GPX_BUMP(slot->carried[i], live[i]);
    }
}

void
gpx_ue_carry_app(struct gpx_slot *slot, unsigned app, uint64_t requests, uint64_t exceptions)
{
    if (app < GPX_MAX_APPS) {
        GPX_BUMP(slot->carried[GPX_UE_COUNTERS + app], requests);
        GPX_BUMP(slot->carried[GPX_UE_COUNTERS + GPX_MAX_APPS + app], exceptions);
    }
}
