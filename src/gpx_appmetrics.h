/* gpx_appmetrics.h - the app's prometheus_client metrics, read from its
 * directory for a page.
 *
 * What prometheus_client's MultiProcessCollector would show for the
 * directory: gpx's store of ended processes (gpx_appstore.h) plus every
 * prometheus_client file in it, merged (gpx_appmerge.h) and written
 * (gpx_apprender.h), under a shared lock so that a fold in progress is
 * never seen half done. Called by whoever serves /metrics: the master's
 * metrics thread, or a worker for the routing action.
 */
#ifndef GPX_APPMETRICS_H
#define GPX_APPMETRICS_H

#include "gpx_apphealth.h"
#include "gpx_buf.h"
#include "gpx_format.h"
#include "gpx_names.h"

/* Where the app's files and gpx's store of ended processes live. */
struct gpx_appmetrics_place {
    const char *dir;        /* PROMETHEUS_MULTIPROC_DIR */
    const char *store_name; /* the store's file name in dir (see gpx_appstore.h) */
    const char *lock_name;  /* the lock file's name in dir */
};

/* Renders the app's metrics: the store of ended processes plus every
 * prometheus_client file in the directory, under a shared lock. A
 * directory that cannot be read renders nothing. Families that claim a
 * name in `reserved` (may be NULL) or that no valid page can carry, and
 * files that cannot be read whole, are left out, counted and reported in
 * health (may be NULL). Returns 0, or -1 on memory. */
int gpx_appmetrics_render(struct gpx_buf *out, const struct gpx_appmetrics_place *place, enum gpx_format format,
                          const struct gpx_names *reserved, struct gpx_app_health *health);

#endif
