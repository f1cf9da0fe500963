/* gpx_glue.h - state shared by the plugin's files (the uWSGI face of gpx).
 *
 * Only plugin/ includes uwsgi.h; src/ is plain C that this glue feeds.
 */
#ifndef GPX_GLUE_H
#define GPX_GLUE_H

#include <uwsgi.h>

#include "../src/gpx_auth.h"
#include "../src/gpx_buf.h"
#include "../src/gpx_config.h"
#include "../src/gpx_exemplar.h"
#include "../src/gpx_exposition.h"
#include "../src/gpx_http.h"
#include "../src/gpx_reload.h"
#include "../src/gpx_names.h"
#include "../src/gpx_scoreboard.h"
#include "../src/gpx_storage.h"
#include "../src/gpx_tls.h"

/* gpx's version: uwsgiplugin.py passes the VERSION file's text. */
#ifndef GPX_VERSION
#error "GPX_VERSION is set by uwsgiplugin.py from the VERSION file: build gpx with uwsgi --build-plugin"
#endif

/* A worker slot's resources, sampled by the master, read by any renderer. */
struct gpx_sample {
    pid_t pid;          /* the process sampled */
    double rss_bytes;   /* resident memory */
    double cpu_seconds; /* user + system time */
    double cpu_percent; /* over the last interval */
    double sampled_at;  /* monotonic seconds of the sample */
};

/* What a worker keeps per core between its requests. One cache line each:
 * the threads of a worker write their own entries on every request, and
 * entries packed into one line would bounce it between CPUs. */
struct gpx_core_state {
    uint64_t seen_exceptions;         /* this core's view of uWSGI's exception counter */
    const uint64_t *uwsgi_exceptions; /* that counter: uwsgi.workers[mywid].cores[core].exceptions */
    struct gpx_cell *cell;            /* the cell this core's requests are counted in */
    int raised_class;                 /* the class name index of the request's exception, or -1 */
    /* This core's exemplars ([method][duration slot]) with gpx-exemplars,
     * else NULL: the request path's one test of the option. */
    struct gpx_exemplar *exemplars;
} __attribute__((aligned(64)));

/* What the after-request hook reads, set once per worker after fork and
 * kept in one cache line: between two requests the application evicts the
 * hook's data from the first-level cache, and every scattered global it
 * read (uwsgi.mywid, uwsgi.cores, gpx.board...) would cost a miss of its
 * own (perf showed four, about two thirds of the hook's time). */
struct gpx_request_path {
    struct gpx_core_state *core_state; /* [cores]; NULL outside a worker */
    struct gpx_cell *cells;            /* this worker's first cell; NULL: not recording */
    struct uwsgi_core *uwsgi_cores;    /* uWSGI's cores of this worker: their exception counters */
    unsigned cores;                    /* uwsgi.cores; 0 until core_state is set */
} __attribute__((aligned(64)));

struct gpx_glue {
    const char *given[GPX_OPT_COUNT];    /* option strings as uWSGI parsed them */
    struct gpx_config cfg;               /* resolved at init */
    struct gpx_scoreboard board;         /* anonymous, mapped before the first fork */
    struct gpx_exemplar_board exemplars; /* with gpx-exemplars: mapped before the first fork, beside the board */
    struct gpx_storage storage;          /* where the board's counts are kept, chosen at init */
    int storage_started;                 /* the storage's start ran (master, once the workers run) */
    int recording;                       /* the board is mapped: the hook may write */
    int threaded;                        /* one cell per thread, else one per worker */
    unsigned workers;                    /* configured slots (uwsgi.numproc) */
    struct gpx_sample *samples;          /* shared, [workers + 1], index = slot */
    double last_sample;                  /* monotonic seconds of the last sampling */
    struct gpx_http *http;               /* the metrics server, master only */
    double master_start;                 /* unix seconds */
    double last_scrape_seconds;          /* the previous rendering's duration */
    struct gpx_request_path path;        /* worker only: the request path's state */
    struct gpx_tls tls;                  /* the endpoint's PEM files, read at init (master) */
    struct gpx_auth auth;                /* basic auth users, read at init (master); count 0: none */
    struct gpx_headers headers;          /* what every answer of the endpoint carries, made at init */
    struct gpx_reload reload;            /* the endpoint's files, watched by the master */
    unsigned profile;                    /* GPX_PROFILE_* bits of gpx-profile */
    uint64_t profile_scrapes;            /* pages rendered (the uwsgi-exporter profile's scrapes_total) */
    double profile_scrape_seconds;       /* their rendering time, summed */
    int profile_carried;                 /* uWSGI's counters were added to the slots' carried words (exit) */
};

extern struct gpx_glue gpx GPX_HIDDEN;
extern struct uwsgi_server uwsgi;

/* What the master sees now (workers, listeners), for the snapshot the
 * storage publishes: any thread of the master. */
void gpx_glue_live(struct gpx_storage_live *out);

/* Renders the page at `path` in `format` into out (master or worker),
 * whole, and names its content type: "/metrics" for this server,
 * "/metrics/fleet" for every instance in Redis. Returns an enum
 * gpx_http_result (a gpx_http_render_fn). */
int gpx_glue_render(void *ctx, const char *path, enum gpx_format format, struct gpx_buf *out,
                    const char **content_type);

/* Appends uWSGI's metrics subsystem as `uwsgi_*` families, nothing when it
 * is off, and reserves their names in `reserved` (see gpx_names.h).
 * Returns 0, or -1 if memory ran out. */
int gpx_glue_uwsgi_metrics(struct gpx_buf *out, enum gpx_format format, struct gpx_names *reserved);

/* Appends the uwsgi-exporter profile's families (gpx_profile.c), read now
 * from uWSGI's tables. Returns 0, or -1 if memory ran out. */
int gpx_glue_profile_render(struct gpx_buf *out, enum gpx_format format);

/* At exit and before a reload's re-exec (master, before the storage's last
 * write): adds uWSGI's per-worker and per-app counters to the slots' carried
 * words, so that the next master's page continues from them. Once. */
void gpx_glue_profile_carry(void);
/* What a worker is doing now, from uWSGI's shared worker table (any
 * process). */
enum gpx_worker_state gpx_glue_worker_state(const struct uwsgi_worker *uw);

/* Readiness (gpx_readyz.c, over src/gpx_readiness.h): the shared answer
 * made at init, decided every master cycle and set to stopping at cleanup;
 * read by GET /readyz on the metrics port (a gpx_http_config's `ready`) and
 * by the routing action `gpx-readyz`. */
void gpx_readyz_init(void);
void gpx_readyz_cycle(void);
void gpx_readyz_stopping(void);
int gpx_readyz_ready(char *why, size_t len);
void gpx_readyz_router_register(void);

/* Logs one line through uWSGI's logger (any thread): a gpx_log_fn. */
void gpx_glue_log(const char *line);

/* The user and group the workers run as (uWSGI's uid and gid options), or
 * -1 each: the owner of the files and directories gpx makes as root. */
void gpx_glue_workers_owner(uid_t *uid, gid_t *gid);

/* Samples every live worker's memory and CPU if a second has passed. */
void gpx_glue_sample(void);

/* The after-request hook, resolved by uWSGI with dlsym. */
void gpx_after_request(struct wsgi_request *wsgi_req);

/* Wraps the exception logging of every language plugin that reports an
 * exception's class, so that the class is noted in gpx.path.core_state (worker,
 * after fork, once core_state is set). */
void gpx_exceptions_wrap(void);

/* The class noted for the request that just ended on the core of `state`
 * (its index in the board's name table, or -1), forgotten for the next
 * request. Stores only when there was one: most requests raise nothing. */
GPX_INLINE int
gpx_exceptions_take_class(struct gpx_core_state *state)
{
    int name = state->raised_class;

    if (name >= 0) {
        state->raised_class = -1;
    }
    return name;
}

/* Reads every worker's state and counts the restarts (master cycle). */
void gpx_lifecycle_cycle(void);

/* Notes that the master is about to kill worker `wid` for harakiri. */
void gpx_lifecycle_harakiri(int wid);

/* The app's prometheus_client metrics (gpx_appfold.c, over
 * src/gpx_appdir.h): set up and fold what earlier masters left
 * (preinit_apps), follow the workers and fold the ended ones (master
 * cycle), fold at exit (master cleanup), render (anyone): the app's
 * families that claim no name in `reserved`, then the health families
 * (always, also without an app directory). */
void gpx_appfold_init(void);
void gpx_appfold_cycle(void);
void gpx_appfold_finish(void);
int gpx_appfold_render(struct gpx_buf *out, enum gpx_format format, const struct gpx_names *reserved);

/* The app's totals, for a storage that publishes them (gpx_storage_app). */
int gpx_appfold_enabled(void);
int gpx_appfold_snapshot(void *ctx, struct gpx_buf *out);
int gpx_appfold_restore(void *ctx, const void *blob, size_t len);

/* Registers the routing action `gpx` (on_load). */
void gpx_router_register(void);

#endif
