/* gpx_uwsgi_metrics.c - uWSGI's metrics subsystem on /metrics.
 *
 * With `enable-metrics` (or a `metric` option), uWSGI keeps a list of named
 * values in shared memory (core/metrics.c): its own, refreshed by its
 * collector thread every second, and the application's, changed by
 * uwsgi.metric_inc and friends at once. The list is built before the first
 * fork and never changes after; the values are read under uWSGI's metrics
 * lock, as uwsgi_metric_get does, and rendered by src/gpx_uwsgi_metrics.
 */
#include "gpx_glue.h"

#include "../src/gpx_uwsgi_metrics.h"

/* An alias shows its target's value (uWSGI points both at one slot) and type. */
static enum gpx_uwsgi_metric_type
metric_type(const struct uwsgi_metric *um)
{
    if (um->type == UWSGI_METRIC_ALIAS && um->ptr != NULL) {
        um = (const struct uwsgi_metric *)um->ptr;
    }
    switch (um->type) {
    case UWSGI_METRIC_COUNTER:
        return GPX_UWSGI_COUNTER;
    case UWSGI_METRIC_ABSOLUTE:
        return GPX_UWSGI_ABSOLUTE;
    default:
        return GPX_UWSGI_GAUGE;
    }
}

/* Leaves out the metrics whose family a name already on the page claims
 * (uwsgi_exporter's `uwsgi_worker_requests_total` and uWSGI's
 * `worker.1.requests`, with gpx-profile = both): the page's own is kept.
 * Returns how many are left, in order, or (size_t)-1 if memory ran out. */
static size_t
keep_unreserved(struct gpx_uwsgi_metric *copies, size_t n, const struct gpx_names *reserved)
{
    size_t i, kept = 0;

    for (i = 0; i < n && reserved != NULL; i++) {
        struct gpx_uwsgi_series s;
        int taken;

        if (gpx_uwsgi_series_map(&s, copies[i].name, copies[i].type) != 0) {
            return (size_t)-1;
        }
        taken = gpx_names_reserved(reserved, s.family);
        gpx_uwsgi_series_free(&s);
        if (!taken) {
            copies[kept++] = copies[i];
        }
    }
    return reserved != NULL ? kept : n;
}

int
gpx_glue_uwsgi_metrics(struct gpx_buf *out, enum gpx_format format, struct gpx_names *reserved)
{
    struct gpx_uwsgi_metric *copies;
    struct uwsgi_metric *um;
    size_t n = 0;
    int rc;

    if (!uwsgi.has_metrics || uwsgi.metrics_lock == NULL) {
        return 0;
    }
    for (um = uwsgi.metrics; um != NULL; um = um->next) {
        n++;
    }
    copies = calloc(n + 1, sizeof(*copies));
    if (copies == NULL) {
        return -1;
    }
    n = 0;
    uwsgi_rlock(uwsgi.metrics_lock);
    for (um = uwsgi.metrics; um != NULL; um = um->next) {
        if (um->value != NULL) {
            copies[n].name = um->name;
            copies[n].type = metric_type(um);
            copies[n].value = *um->value;
            n++;
        }
    }
    uwsgi_rwunlock(uwsgi.metrics_lock);
    n = keep_unreserved(copies, n, reserved);
    rc = n == (size_t)-1 ? -1 : gpx_uwsgi_metrics_render(out, copies, n, format);
    if (rc == 0 && reserved != NULL) {
        rc = gpx_uwsgi_metrics_reserve(reserved, copies, n);
    }
    free(copies);
    return rc;
}
