/* gpx_apphealth.h - what a page of the app's metrics had to leave out, and
 * saying so once.
 *
 * The app's families that no valid page can carry, and files that cannot
 * be read whole, are left out: counted by reason (the health families
 * gunicorn_exporter_app_*, see gpx_apprender.h) and reported, each problem
 * once per process (struct gpx_app_log), in lines that stay one line
 * whatever a hostile name holds (gpx_app_quote).
 */
#ifndef GPX_APPHEALTH_H
#define GPX_APPHEALTH_H

#include <pthread.h>

#include "gpx_buf.h"
#include "gpx_log.h"
#include "gpx_names.h"

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

/* One report being written: its key and its line. */
struct gpx_app_report {
    struct gpx_buf key, line;
};

/* Starts a report. Returns 0, or -1 on memory (nothing to end). */
int gpx_app_report_begin(struct gpx_app_report *r);

/* Hands the report to `report` (may be NULL) unless memory ran out while
 * writing it, and frees it. */
void gpx_app_report_end(struct gpx_app_report *r, gpx_app_report_fn report, void *ctx);

/* Says each problem once per process: a gpx_app_report_fn over a set of the
 * keys said, for every thread of the process. The set is bounded: past
 * GPX_APP_LOG_KEYS keys, one line says that more are not logged. */
#define GPX_APP_LOG_KEYS 4096

struct gpx_app_log {
    pthread_mutex_t lock;
    struct gpx_names said;
    int full;       /* the "not logged" line was written */
    gpx_log_fn log; /* writes one line: "gpx: " and the report's */
};

void gpx_app_log_init(struct gpx_app_log *log, gpx_log_fn fn);
void gpx_app_log_report(void *log, const char *key, const char *line);

/* Appends `text` to out for a log line: printable ASCII as it is, anything
 * else (a newline in a hostile name) as \n, \t, \xNN, so that one line
 * stays one line. */
void gpx_app_quote(struct gpx_buf *out, const char *text);

#endif
