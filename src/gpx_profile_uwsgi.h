/* gpx_profile_uwsgi.h - the uwsgi-exporter profile: uwsgi_exporter's families.
 *
 * uwsgi_exporter is the sidecar most uWSGI servers are scraped through: it
 * reads uWSGI's stats server (JSON) once per scrape and serves `uwsgi_*`
 * families with a `stats_uri` label first on every series. With
 * `gpx-profile = uwsgi-exporter` (or `both`) gpx serves the same names,
 * labels and types from inside the master, copied from the fields the stats
 * server reads. The glue (plugin/gpx_profile.c) copies those fields into the
 * plain view below; this renders it and knows nothing of uWSGI.
 *
 * Counters continue across reloads and restarts: every per-worker and
 * per-app counter is uWSGI's field plus what earlier masters counted in that
 * slot (`carried`, kept in the scoreboard's slot by gpx's storage). The
 * per-core counters are uWSGI's alone: they start again from zero at a
 * reload, as the sidecar's do.
 */
#ifndef GPX_PROFILE_UWSGI_H
#define GPX_PROFILE_UWSGI_H

#include <stddef.h>
#include <stdint.h>

#include "gpx_buf.h"
#include "gpx_format.h"
#include "gpx_names.h"
#include "gpx_scoreboard.h"

/* A worker's `status` in the stats server's JSON, as the sidecar reads it:
 * its busy, idle and cheap gauges are 1 for the one equal to it. */
enum gpx_ue_status { GPX_UE_IDLE, GPX_UE_BUSY, GPX_UE_CHEAP, GPX_UE_PAUSE, GPX_UE_SIG };

/* One listening socket (stats JSON `sockets[]`). */
struct gpx_ue_socket {
    const char *name;  /* "127.0.0.1:8000" */
    const char *proto; /* "uwsgi", "http"... */
    uint64_t queue, max_queue, shared, can_offload;
};

/* One application of a worker (`workers[].apps[]`). */
struct gpx_ue_app {
    const char *mountpoint; /* as uWSGI keeps it, "" for the root */
    const char *chdir;      /* "" when none */
    uint64_t startup_time;  /* seconds */
    uint64_t requests, exceptions;
};

/* One core of a worker (`workers[].cores[]`). */
struct gpx_ue_core {
    uint64_t in_request, requests, static_requests, routed_requests, offloaded_requests, write_errors, read_errors;
};

/* The per-worker counters that continue across reloads, in the order of
 * the scoreboard slot's `carried` words. */
enum gpx_ue_counter {
    GPX_UE_REQUESTS,
    GPX_UE_EXCEPTIONS,
    GPX_UE_HARAKIRI_COUNT,
    GPX_UE_SIGNALS,
    GPX_UE_RESPAWN_COUNT,
    GPX_UE_TX,
    GPX_UE_COUNTERS
};

/* One worker (`workers[]`). */
struct gpx_ue_worker {
    int id; /* uWSGI's id; 0: left out, as the sidecar does */
    enum gpx_ue_status status;
    uint64_t accepting, delta_requests, signal_queue, rss, vsz;
    uint64_t running_time_us; /* `running_time`, microseconds */
    uint64_t last_spawn;      /* unix seconds */
    uint64_t avg_rt_us;       /* `avg_rt`, microseconds */
    uint64_t counters[GPX_UE_COUNTERS];
    const struct gpx_ue_app *apps;
    unsigned app_count;
    const struct gpx_ue_core *cores;
    unsigned core_count;
};

/* One cache (`caches[]`). */
struct gpx_ue_cache {
    const char *name; /* "default" for an unnamed one */
    uint64_t hits, miss, full, items, max_items;
};

/* Everything one rendering of the profile needs. */
struct gpx_ue_view {
    const char *stats_uri; /* the label every series but the exporter's own carries first */
    int collect_cores;     /* write the per-core families */
    uint64_t listen_queue, listen_queue_errors, signal_queue;
    const struct gpx_ue_socket *sockets;
    unsigned socket_count;
    const struct gpx_ue_worker *workers; /* slot order: workers[0] is slot 1 */
    unsigned worker_count;
    const struct gpx_ue_cache *caches;
    unsigned cache_count;
    /* What earlier masters counted, added to uWSGI's counters; NULL: none.
     * board and base as gpx_exposition's (base: restored totals, or NULL). */
    const struct gpx_scoreboard *board;
    const struct gpx_scoreboard *base;
    /* The sidecar's own families, which gpx answers for itself. */
    uint64_t scrapes;          /* pages rendered before this one */
    double scrape_seconds_sum; /* their rendering time */
};

/* Appends every family of the profile in `format`. Returns 0, or -1 if
 * memory ran out. */
int gpx_ue_render(struct gpx_buf *out, const struct gpx_ue_view *v, enum gpx_format format);

/* Reserves the name of every family the profile can write, so that uWSGI's
 * metrics subsystem and the app's families keep off them. Returns 0, or -1
 * on memory. */
int gpx_ue_reserve(struct gpx_names *names);

/* What a slot carries into the next master: `live` (uWSGI's counters of the
 * slot, or of its app `app`) added to the slot's carried words. Called by the
 * master once, at exit or before a reload's re-exec, before the storage's
 * last write. */
void gpx_ue_carry_worker(struct gpx_slot *slot, const uint64_t live[GPX_UE_COUNTERS]);
void gpx_ue_carry_app(struct gpx_slot *slot, unsigned app, uint64_t requests, uint64_t exceptions);

#endif
