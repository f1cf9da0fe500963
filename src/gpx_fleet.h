/* gpx_fleet.h - the fleet view: every instance's totals, read from Redis.
 *
 * Called by the metrics thread (or the routing action) when /metrics/fleet
 * is scraped: one short Redis connection reads each instance's snapshot, the
 * snapshots of another layout are skipped, and the rest are rendered with a
 * gpx_instance label, beside the fleet's sums.
 */
#ifndef GPX_FLEET_H
#define GPX_FLEET_H

#include "gpx_buf.h"
#include "gpx_exposition.h"
#include "gpx_redis.h"

/* Appends the fleet view to out in `format`. Returns 0, or -1 when Redis
 * could not be read (counted in status as a "fleet" error) or memory ran out. */
int gpx_fleet_render(struct gpx_buf *out, enum gpx_format format, const struct gpx_redis_config *cfg,
                     struct gpx_redis_status *status);

#endif
