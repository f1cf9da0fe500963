/* gpx_storage.h - where the counters outlive the master: one interface, one
 * implementation per storage, chosen once at start-up.
 *
 * The workers always count in anonymous shared memory (gpx_scoreboard.h).
 * A storage decides where those counts are kept across worker deaths,
 * reloads and restarts, and says how healthy that keeping is:
 *
 *   files   gpx_storage_files.c  the board's copy in gpx-multiproc-dir
 *   redis   gpx_storage_redis.c  absolute totals published to Redis
 *
 * The master calls, in this order:
 *
 *   prepare    at init, before the language plugins start their
 *              interpreters: what must exist before the app loads
 *   open       before the first fork: maps the board and restores what
 *              the storage holds (or starts from zero)
 *   describe   the start-up line(s)
 *   start      once, when the workers run: a storage that publishes
 *              starts doing so (and restores first)
 *   persist    every master cycle
 *   close      at exit and before a reload's re-exec: the last write or
 *              publish, and the last line about it
 *
 * a worker calls after_fork once; and any process or thread reads:
 *
 *   health     up, and failures by operation, for the storage families
 *   fleet      the fleet view, when the storage has one (NULL: 404)
 *
 * Nothing outside the implementations knows which storage runs. Adding one
 * is a new gpx_storage_<name>.c that defines its `const struct
 * gpx_storage_ops gpx_storage_<name>` (uwsgiplugin.py builds every
 * gpx_storage_*.c, the unit and fuzz tests every src/ file, and
 * tools/check_includes.py places it in this seam's layer by its name), and
 * its line in gpx_storage.c's list; its options go in gpx_option_catalog
 * like any other.
 *
 * Plain C: the glue hands in what comes from uWSGI (reload or not, the
 * workers' user, shared memory, the logger). Errors are whole lines that
 * start with "gpx: ", as are the lines logged (but log_errno's, which are
 * uWSGI's own).
 */
#ifndef GPX_STORAGE_H
#define GPX_STORAGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "gpx_buf.h"
#include "gpx_config.h"
#include "gpx_exposition.h"
#include "gpx_scoreboard.h"

typedef void (*gpx_storage_log_fn)(const char *line);

/* Listeners a live reading keeps at most. */
#define GPX_STORAGE_LISTENERS_MAX 8

/* What the master sees now, beside the counters: published with them for
 * the fleet view. The caller gives `workers` (worker_count entries, zeroed). */
struct gpx_storage_live {
    struct gpx_worker_view *workers; /* workers[0] is slot 1 */
    unsigned worker_count;
    unsigned configured;      /* configured worker slots (filled by the reader) */
    unsigned in_progress;     /* requests being handled */
    unsigned workers_desired; /* workers the master aims for */
    struct gpx_listener_view listeners[GPX_STORAGE_LISTENERS_MAX];
    unsigned listener_count;
};

/* Reads the workers and listeners now, from any thread of the master. */
typedef void (*gpx_storage_live_fn)(struct gpx_storage_live *out);

/* What every storage is given, once, when it is chosen. */
struct gpx_storage_context {
    const struct gpx_config *cfg;        /* the resolved settings; outlive the storage */
    int reload;                          /* a reload re-executed this master: no failure may stop it */
    uid_t uid;                           /* who the workers run as, given what gpx makes as root; -1: nobody */
    gid_t gid;                           /* likewise */
    void *(*shared_calloc)(size_t size); /* zeroed memory that every process forked later shares; never NULL */
    gpx_storage_log_fn log;              /* one line, from any thread */
    gpx_storage_log_fn log_errno;        /* a call that failed ("where/call()"), with errno's text */
    gpx_storage_live_fn live;            /* NULL: none (a snapshot then carries counters only) */
};

/* The most operations a storage counts failures of. */
#define GPX_STORAGE_OPS_MAX 8

/* gunicorn_exporter_storage_up and gunicorn_exporter_storage_errors_total. */
struct gpx_storage_health {
    int up;                                  /* the storage keeps the counts as of now */
    unsigned operations;                     /* how many entries below */
    const char *labels[GPX_STORAGE_OPS_MAX]; /* each operation's `operation` label */
    uint64_t errors[GPX_STORAGE_OPS_MAX];    /* its failures */
};

/* The app's folded totals, which a storage that publishes keeps beside
 * gpx's own (gpx_redis_config's app_snapshot and app_restore). */
struct gpx_storage_app {
    int (*snapshot)(void *ctx, struct gpx_buf *out);
    int (*restore)(void *ctx, const void *blob, size_t len);
};

struct gpx_storage;

struct gpx_storage_ops {
    const char *name;   /* build_info's `storage` label: "files", "redis" */
    int owns_directory; /* makes gpx-multiproc-dir and keeps its files there: the app's files are read there
                           even when the directory is the default */
    /* Whether the settings ask for this storage. */
    int (*wanted)(const struct gpx_config *cfg);
    /* Returns 0, or -1 with the line that stops start-up in err. */
    int (*prepare)(struct gpx_storage *s, char *err, size_t errlen);
    /* Maps `board` (workers slots of cores cells) and sets s->board, and
     * s->base when restored totals are kept beside it. Returns 0, or -1
     * with the line that stops start-up in err. */
    int (*open)(struct gpx_storage *s, struct gpx_scoreboard *board, unsigned workers, unsigned cores, char *err,
                size_t errlen);
    void (*describe)(const struct gpx_storage *s);
    /* `app`: the app's totals to keep too, or NULL. */
    void (*start)(struct gpx_storage *s, const struct gpx_storage_app *app);
    void (*persist)(struct gpx_storage *s);
    void (*close)(struct gpx_storage *s);
    /* In a worker: drops what only the master may hold. */
    void (*after_fork)(struct gpx_storage *s);
    void (*health)(const struct gpx_storage *s, struct gpx_storage_health *out);
    /* Appends the fleet view; returns an enum gpx_fleet_result. NULL: the
     * storage has no fleet view. */
    int (*fleet)(struct gpx_storage *s, struct gpx_buf *out, enum gpx_format format);
};

struct gpx_storage {
    const struct gpx_storage_ops *ops; /* the storage chosen */
    struct gpx_storage_context ctx;
    struct gpx_scoreboard *board; /* the workers' counters, once open */
    struct gpx_scoreboard base;   /* totals restored beside the board (one cell per slot); workers 0: none */
    void *state;                  /* the implementation's, in the master's own memory (workers get copies) */
};

/* Chooses the storage ctx->cfg asks for and keeps ctx: the one place that
 * knows which storages exist. */
void gpx_storage_choose(struct gpx_storage *s, const struct gpx_storage_context *ctx);

/* The totals restored beside the board, or NULL when the board holds them
 * all. */
const struct gpx_scoreboard *gpx_storage_base(const struct gpx_storage *s);

#endif
