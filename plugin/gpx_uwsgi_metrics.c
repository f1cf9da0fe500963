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
    rc = gpx_uwsgi_metrics_render(out, copies, n, format);
    if (rc == 0 && reserved != NULL) {
        rc = gpx_uwsgi_metrics_reserve(reserved, copies, n);
    }
    free(copies);
    return rc;
}
