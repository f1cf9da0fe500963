/* gpx_appmetrics.h - the app's prometheus_client metrics, merged and rendered.
 *
 * Merges the samples of prometheus_client's multiprocess files as its
 * MultiProcessCollector does (MultiProcessCollector._read_metrics and
 * _accumulate_metrics, with accumulate=True): counters, summaries and
 * histograms summed over processes (histogram buckets made cumulative, a
 * _count added), gauges by their mode (all/liveall keep a pid label per
 * process; min, max, sum and mostrecent and their live* forms reduce over
 * processes). Renders the families as generate_latest (text 0.0.4) or the
 * OpenMetrics exposition would: same names, labels and values; the order
 * of families and samples may differ.
 *
 * The page stays valid whatever the files hold:
 *
 *   - metric and label names are escaped as prometheus_client escapes
 *     them (0.26, whose names may hold any character; its default
 *     "underscores" escaping): every
 *     character outside [a-zA-Z0-9_:] ([a-zA-Z0-9_] for label names), and
 *     a digit in front, becomes one "_". `app.dotted` is `app_dotted`. Both
 *     formats name samples as their family (prometheus_client's
 *     OpenMetrics writer keeps a ":" in the family's name and turns it into
 *     "_" in its samples, which its own parser refuses);
 *   - label values, and HELP texts, are escaped;
 *   - a family that still cannot be rendered validly is left out, counted
 *     by reason (enum gpx_app_drop) and reported once: one that claims a
 *     name of gpx's own families, or one another app family already claims
 *     (see gpx_names.h), or whose labels or samples no valid page can
 *     carry;
 *   - OpenMetrics forbids a histogram's _sum beside negative buckets or
 *     when it is negative, and a summary's negative _sum: such a _sum (and
 *     a histogram's _count with it, which needs one) is not written in
 *     that format.
 */
#ifndef GPX_APPMETRICS_H
#define GPX_APPMETRICS_H

#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>

#include "gpx_buf.h"
#include "gpx_exposition.h"
#include "gpx_names.h"
#include "gpx_pcfile.h"

/* Why an app family is left out of a page. */
enum gpx_app_drop {
    GPX_APP_DROP_GPX_NAME,        /* it claims a name of gpx's own families or uWSGI's metrics */
    GPX_APP_DROP_DUPLICATE_NAME,  /* another app family claims its name, as rendered */
    GPX_APP_DROP_INVALID_LABELS,  /* a reserved label name (__...), or two that escape alike */
    GPX_APP_DROP_INVALID_SAMPLES, /* samples its type has not, or values the format cannot carry */
    GPX_APP_DROP_INVALID_NAME,    /* a name longer than GPX_NAME_MAX bytes once escaped */
    GPX_APP_DROPS
};

/* The reason label: "gpx_name", "duplicate_name", ... */
const char *gpx_app_drop_label(enum gpx_app_drop reason);

/* Reports a problem: `key` names it (the same problem, the same key),
 * `line` says it in one line, without "gpx: " and without a newline. */
typedef void (*gpx_app_report_fn)(void *ctx, const char *key, const char *line);

/* What a rendering of the app's metrics left out: the health families and
 * the log lines. Zero it, set report, render, then render the health. */
struct gpx_app_health {
    unsigned dropped[GPX_APP_DROPS];
    unsigned unreadable_files;
    gpx_app_report_fn report; /* may be NULL */
    void *report_ctx;
};

/* Appends gunicorn_exporter_app_families_dropped (every reason) and
 * gunicorn_exporter_app_files_unreadable. Returns 0, or -1 on memory. */
int gpx_app_health_render(struct gpx_buf *out, enum gpx_format format, const struct gpx_app_health *health);

/* Says each problem once per process: a gpx_app_report_fn over a set of the
 * keys said, for every thread of the process. The set is bounded: past
 * GPX_APP_LOG_KEYS keys, one line says that more are not logged. */
#define GPX_APP_LOG_KEYS 4096

struct gpx_app_log {
    pthread_mutex_t lock;
    struct gpx_names said;
    int full;                      /* the "not logged" line was written */
    void (*log)(const char *line); /* writes one line (the newline is added by it) */
};

void gpx_app_log_init(struct gpx_app_log *log, void (*fn)(const char *line));
void gpx_app_log_report(void *log, const char *key, const char *line);

struct gpx_appmerge;

/* Returns an empty merge, or NULL on memory. */
struct gpx_appmerge *gpx_appmerge_new(void);
void gpx_appmerge_free(struct gpx_appmerge *m);

/* Adds one sample as read from file `source` of kind/mode written by `pid`
 * (pid is the label of all/liveall gauges). A sample that no valid page
 * can carry marks its family to be left out. Returns 0, or -1 when the key
 * is not prometheus_client's (the sample is skipped) or memory ran out
 * (the merge then fails to render). */
int gpx_appmerge_add(struct gpx_appmerge *m, enum gpx_pc_kind kind, enum gpx_pc_mode mode, pid_t pid,
                     const char *source, const char *key, size_t key_len, double value, double timestamp);

/* What reading one file gave. */
struct gpx_app_file_read {
    long entries;              /* entries read */
    enum gpx_pc_layout layout; /* the layout decided; UNKNOWN when none reads it whole */
    long bad_keys;             /* entries whose key is not prometheus_client's */
};

/* Adds every entry of a file's bytes (the layout decided for this file).
 * Returns 0 when it was read whole, or -1 (the entries before the damage,
 * and those with good keys, were added; *read says what happened). */
int gpx_appmerge_add_file(struct gpx_appmerge *m, const char *file_name, const struct gpx_pc_name *name,
                          const void *data, size_t len, struct gpx_app_file_read *read);

/* Appends the merged families to out. Families that claim a name in
 * `reserved` (gpx's own, see gpx_names_reserve; may be NULL) or that no
 * valid page can carry are left out, counted and reported in health (may
 * be NULL). Returns 0, or -1 on memory. */
int gpx_appmerge_render(struct gpx_appmerge *m, struct gpx_buf *out, enum gpx_format format,
                        const struct gpx_names *reserved, struct gpx_app_health *health);

/* Where the app's files and gpx's store of ended processes live. */
struct gpx_appmetrics_place {
    const char *dir;        /* PROMETHEUS_MULTIPROC_DIR */
    const char *store_name; /* the store's file name in dir (see gpx_appstore.h) */
    const char *lock_name;  /* the lock file's name in dir */
};

/* Renders the app's metrics: the store of ended processes plus every
 * prometheus_client file in the directory, under a shared lock so that a
 * fold in progress is never seen half done. A directory that cannot be
 * read renders nothing. Files that cannot be read whole are counted and
 * reported in health, with the families left out. Returns 0, or -1 on
 * memory. */
int gpx_appmetrics_render(struct gpx_buf *out, const struct gpx_appmetrics_place *place, enum gpx_format format,
                          const struct gpx_names *reserved, struct gpx_app_health *health);

/* Appends `text` to out for a log line: printable ASCII as it is, anything
 * else (a newline in a hostile name) as \n, \t, \xNN, so that one line
 * stays one line. */
void gpx_app_quote(struct gpx_buf *out, const char *text);

#endif
