/* gpx_exposition.h - renders the scoreboard as Prometheus text format 0.0.4
 * or OpenMetrics 1.0.
 *
 * Called by the metrics thread and the routing action with a snapshot of the
 * workers that the glue read from uWSGI; writes every family of gpx's own
 * that docs/metrics.md lists (the app's families are rendered elsewhere),
 * each with HELP and TYPE. Reads the scoreboard, never writes it.
 */
#ifndef GPX_EXPOSITION_H
#define GPX_EXPOSITION_H

#include "gpx_buf.h"
#include "gpx_format.h"
#include "gpx_scoreboard.h"

enum gpx_worker_state {
    GPX_STATE_IDLE,
    GPX_STATE_BUSY,
    GPX_STATE_CHEAP,
    GPX_STATE_PAUSED,
    GPX_STATE_STOPPING,
    GPX_STATE_COUNT
};

/* What the glue read of one configured worker slot. */
struct gpx_worker_view {
    int live;                    /* a process holds the slot */
    enum gpx_worker_state state; /* its state now */
    double memory_bytes;         /* resident set, last sample */
    double cpu_percent;          /* over the last sampling interval */
    double cpu_seconds;          /* user + system time of the current process */
    double uptime_seconds;       /* since the current process started */
};

/* A listening socket's accept queue, as the glue read it. */
struct gpx_listener_view {
    const char *name; /* the socket as configured, e.g. "127.0.0.1:8000" */
    uint64_t queued;  /* connections waiting to be accepted */
    uint64_t limit;   /* the queue's size */
};

/* Names an application for the endpoint label; may return NULL ("/"). */
typedef const char *(*gpx_endpoint_fn)(void *ctx, unsigned worker, unsigned app_id);

/* Everything one rendering needs. */
struct gpx_exposition {
    const struct gpx_scoreboard *board;
    const struct gpx_worker_view *workers; /* workers[0] is slot 1 */
    unsigned worker_count;                 /* configured slots */
    unsigned in_progress;                  /* requests in flight now */
    gpx_endpoint_fn endpoint;              /* may be NULL: every app is "/" */
    void *endpoint_ctx;
    double master_start_time;                  /* unix seconds */
    double last_scrape_seconds;                /* duration of the previous rendering */
    const char *version;                       /* gpx's version */
    const char *uwsgi_version;                 /* the running uWSGI's */
    const char *storage;                       /* "files" or "redis" */
    int storage_up;                            /* 1 while the storage can be written */
    const struct gpx_scoreboard *base;         /* restored totals added to the board, or NULL */
    unsigned workers_desired;                  /* workers the master aims for */
    const struct gpx_listener_view *listeners; /* TCP listeners */
    unsigned listener_count;
    int have_listen_overflows;               /* the host's counter could be read */
    uint64_t listen_overflows;               /* ListenOverflows, host-wide */
    const uint64_t *storage_errors;          /* failures by operation, or NULL */
    const char *const *storage_error_labels; /* the operations' names */
    unsigned storage_error_count;
    uint64_t endpoint_reload_errors; /* changed endpoint files that did not load */
    /* Text 0.0.4, OpenMetrics 1.0 (then without "# EOF": see
     * gpx_render_end), or GPX_FORMAT_PROTOBUF: the text page that
     * gpx_protobuf_from_text reads, with its native histogram lines. */
    enum gpx_format format;
};

/* Whether pages in GPX_FORMAT_PROTOBUF carry the native histograms of
 * gunicorn_request_duration_seconds, and at which schema (-4 to
 * GPX_NATIVE_SCHEMA): set once, before the first page, from the options. */
void gpx_render_native_histograms(int on, int schema);

struct gpx_exemplar_board;

/* The exemplars /metrics serves on the latency buckets in OpenMetrics and
 * protobuf (gpx-exemplars), or NULL: set once, before the first page. */
void gpx_render_exemplars(const struct gpx_exemplar_board *board);

struct gpx_snapshot_header;

/* One instance of the fleet view: its name and its checked snapshot. */
struct gpx_fleet_member {
    const char *instance;
    const struct gpx_snapshot_header *snapshot;
};

/* Every family gpx serves itself, in one table: the renderers write their
 * HELP and TYPE from it, and the app's families must not claim their names
 * (see gpx_names.h). The app-metrics health families are written after the
 * app's families (gpx_appmetrics.h), the fleet family on the fleet view. */
enum gpx_family_id {
    GPX_FAM_WORKER_REQUESTS,
    GPX_FAM_WORKER_REQUEST_DURATION,
    GPX_FAM_WORKER_REQUEST_SIZE,
    GPX_FAM_WORKER_RESPONSE_SIZE,
    GPX_FAM_WORKER_FAILED_REQUESTS,
    GPX_FAM_WORKER_ERROR_HANDLING,
    GPX_FAM_WORKER_MEMORY,
    GPX_FAM_WORKER_CPU_PERCENT,
    GPX_FAM_WORKER_UPTIME,
    GPX_FAM_WORKER_CPU_SECONDS,
    GPX_FAM_WORKER_STATE,
    GPX_FAM_WORKERS_DESIRED,
    GPX_FAM_WORKERS,
    GPX_FAM_WORKER_RESTART,
    GPX_FAM_MASTER_WORKER_RESTART,
    GPX_FAM_WORKER_RESTART_COUNT,
    GPX_FAM_MASTER_WORKER_RESTART_COUNT,
    GPX_FAM_LISTEN_BACKLOG,
    GPX_FAM_LISTEN_BACKLOG_LIMIT,
    GPX_FAM_LISTEN_OVERFLOWS,
    GPX_FAM_REQUESTS,
    GPX_FAM_REQUEST_DURATION,
    GPX_FAM_REQUESTS_IN_PROGRESS,
    GPX_FAM_MASTER_START_TIME,
    GPX_FAM_BUILD_INFO,
    GPX_FAM_SCRAPE_DURATION,
    GPX_FAM_STORAGE_UP,
    GPX_FAM_STORAGE_ERRORS,
    GPX_FAM_ENDPOINT_RELOAD_ERRORS,
    GPX_FAM_APP_FAMILIES_DROPPED,
    GPX_FAM_APP_FILES_UNREADABLE,
    GPX_FAM_FLEET_INSTANCES,
    GPX_FAM_FLEET_SNAPSHOTS_SKIPPED,
    GPX_FAMILY_COUNT
};

struct gpx_family {
    const char *name; /* as the text format names it (a counter's with _total) */
    const char *type; /* "counter", "gauge", "histogram" */
    const char *help;
};

extern const struct gpx_family gpx_families[GPX_FAMILY_COUNT];

/* Appends a family's HELP and TYPE lines. Returns 0, or -1 on memory. */
int gpx_render_family(struct gpx_buf *out, enum gpx_format format, enum gpx_family_id id);

/* The content type of what gpx_render writes. */
#define GPX_TEXT_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define GPX_OPENMETRICS_CONTENT_TYPE "application/openmetrics-text; version=1.0.0; charset=utf-8"

/* Appends the exposition to out in x->format. Returns 0, or -1 if memory
 * ran out.
 *
 * OpenMetrics: a counter's family is named without _total, its samples with
 * it. No _created series: gpx's counters continue across restarts and
 * reloads (from the scoreboard file or Redis), so no single creation time
 * is true of them, and a reset never happens that _created would announce. */
int gpx_render(struct gpx_buf *out, const struct gpx_exposition *x);

/* Ends a page: "# EOF" for OpenMetrics (after every family, gpx's and the
 * application's), nothing for text. Returns 0, or -1 if memory ran out. */
int gpx_render_end(struct gpx_buf *out, enum gpx_format format);

/* Appends the fleet view: the counter families of every member with a
 * gpx_instance label, and the method and status families summed over the
 * fleet without it. Returns 0, or -1 if memory ran out. */
int gpx_render_fleet(struct gpx_buf *out, enum gpx_format format, const struct gpx_fleet_member *members,
                     unsigned count);

/* Appends `value` escaped as a label value (backslash, quote, newline). */
int gpx_render_label_value(struct gpx_buf *out, const char *value);

/* The state's label value ("idle", "busy", ...). */
const char *gpx_worker_state_label(enum gpx_worker_state state);

#endif
