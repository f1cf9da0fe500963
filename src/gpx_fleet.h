/* gpx_fleet.h - the fleet view: every instance's totals, read from Redis.
 *
 * Called by the metrics endpoint's fleet reader (or the routing action) when
 * /metrics/fleet is scraped: one short Redis connection, within the read's
 * deadline (cfg->fleet_timeout_ms), reads each instance's snapshot; stale,
 * damaged and other layouts' snapshots are skipped and counted, and the rest
 * are rendered with a gpx_instance label, beside the fleet's sums.
 */
#ifndef GPX_FLEET_H
#define GPX_FLEET_H

#include "gpx_buf.h"
#include "gpx_exposition.h"
#include "gpx_redis.h"

enum gpx_fleet_result {
    GPX_FLEET_OK = 0,
    GPX_FLEET_UNAVAILABLE = 1, /* Redis could not be read in time (counted in status as a "fleet" error) */
    GPX_FLEET_ERROR = -1,      /* memory ran out */
};

/* Why an instance's snapshot is left out of the view (the reason label of
 * gunicorn_exporter_fleet_snapshots_skipped). */
enum gpx_fleet_skip {
    GPX_FLEET_SKIP_STALE,     /* taken longer ago than the view's maximum age */
    GPX_FLEET_SKIP_MALFORMED, /* not a snapshot, or a damaged one */
    GPX_FLEET_SKIP_LAYOUT,    /* a snapshot of another gpx layout */
    GPX_FLEET_SKIP_REASONS
};

/* Appends the fleet view to out in `format`: the counter families
 * (gpx_render_fleet), then what each instance's master saw (worker states,
 * memory and CPU, requests in progress, accept queues, storage health) with
 * the fleet's sums where they add up, then the snapshots skipped by reason.
 * A snapshot taken more than max_age_seconds ago (0: no limit) is skipped,
 * as is one this gpx cannot read; each instance's is logged once through
 * cfg->fleet_log. Returns an enum gpx_fleet_result. */
int gpx_fleet_render(struct gpx_buf *out, enum gpx_format format, const struct gpx_redis_config *cfg,
                     struct gpx_redis_status *status, unsigned max_age_seconds);

/* The view's reading, apart from Redis (the fleet render, the benchmark and
 * the fuzzer feed it the same way): each instance's blob is checked, kept
 * or skipped and counted as gpx_fleet_render says; then the whole view is
 * rendered. `now_unix` is the reading's clock for the maximum age. */
struct gpx_fleet_read;

/* Returns NULL when memory ran out. */
struct gpx_fleet_read *gpx_fleet_read_new(uint64_t now_unix, unsigned max_age_seconds, gpx_log_fn log);

/* Takes a copy of what it keeps; blob needs no alignment. */
void gpx_fleet_read_add(struct gpx_fleet_read *read, const char *instance, const void *blob, size_t len);

/* Returns 0, or -1 when memory ran out (now or while adding). */
int gpx_fleet_read_render(struct gpx_fleet_read *read, struct gpx_buf *out, enum gpx_format format);

void gpx_fleet_read_free(struct gpx_fleet_read *read);

#endif
