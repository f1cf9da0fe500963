/* gpx_uwsgi_metrics.h - uWSGI's metrics subsystem as Prometheus families.
 *
 * With `enable-metrics`, uWSGI keeps a list of named 64-bit values (its own,
 * like `worker.1.requests`, and the application's, declared with `metric`).
 * The glue copies that list into a plain array; this renders it: every name
 * gets the `uwsgi_` prefix and only [a-zA-Z0-9_] characters, uWSGI's fixed
 * per-worker, per-core and per-socket patterns become labels, counters get
 * `_total`, and the series of one family are written together under one
 * HELP and TYPE (Prometheus refuses a family split in two).
 */
#ifndef GPX_UWSGI_METRICS_H
#define GPX_UWSGI_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "gpx_buf.h"
#include "gpx_exposition.h"
#include "gpx_names.h"

/* uWSGI's kinds of value. An absolute is a value reset by its reader
 * (e.g. requests since the last check): a gauge for Prometheus. */
enum gpx_uwsgi_metric_type { GPX_UWSGI_COUNTER, GPX_UWSGI_GAUGE, GPX_UWSGI_ABSOLUTE };

/* One metric as read from uWSGI's list. */
struct gpx_uwsgi_metric {
    const char *name; /* uWSGI's name, e.g. "worker.1.core.0.requests" */
    enum gpx_uwsgi_metric_type type;
    int64_t value;
};

/* The labels a uWSGI name can carry. */
#define GPX_UWSGI_LABELS_MAX 2

/* What a uWSGI name becomes. */
struct gpx_uwsgi_series {
    char *family;                                  /* without `_total`, e.g. "uwsgi_worker_core_requests" */
    char *help;                                    /* e.g. "uWSGI metric worker.<worker>.core.<core>.requests" */
    int counter;                                   /* the samples are named family + "_total" */
    unsigned labels;                               /* label pairs used */
    const char *label_names[GPX_UWSGI_LABELS_MAX]; /* "worker", "core", "socket" */
    char *label_values[GPX_UWSGI_LABELS_MAX];      /* the numbers as uWSGI wrote them */
};

/* Maps one uWSGI name. Returns 0, or -1 if memory ran out (nothing to free
 * then). Free with gpx_uwsgi_series_free. */
int gpx_uwsgi_series_map(struct gpx_uwsgi_series *s, const char *name, enum gpx_uwsgi_metric_type type);

void gpx_uwsgi_series_free(struct gpx_uwsgi_series *s);

/* Appends every metric in `format`: families sorted by name, series by
 * label numbers. Where two metrics map to the same series, the first in
 * uWSGI's order is kept; where a counter and a gauge family would share a
 * name, the one sorting first is kept. Returns 0, or -1 if memory ran out. */
int gpx_uwsgi_metrics_render(struct gpx_buf *out, const struct gpx_uwsgi_metric *metrics, size_t count,
                             enum gpx_format format);

/* Reserves the names of every family gpx_uwsgi_metrics_render writes for
 * these metrics (see gpx_names.h), so that the app's families keep off
 * them. Returns 0, or -1 if memory ran out. */
int gpx_uwsgi_metrics_reserve(struct gpx_names *names, const struct gpx_uwsgi_metric *metrics, size_t count);

#endif
