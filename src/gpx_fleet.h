/* gpx_fleet.h - the fleet view: every instance's totals, read from Redis.
 *
 * Called by the metrics endpoint's fleet reader (or the routing action) when
 * /metrics/fleet is scraped: one short Redis connection, within the read's
 * deadline (cfg->fleet_timeout_ms), reads each instance's snapshot, the
 * snapshots of another layout are skipped, and the rest are rendered with a
 * gpx_instance label, beside the fleet's sums.
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

/* Appends the fleet view to out in `format`. Returns an enum gpx_fleet_result. */
int gpx_fleet_render(struct gpx_buf *out, enum gpx_format format, const struct gpx_redis_config *cfg,
                     struct gpx_redis_status *status);

#endif
