/* gpx_names.h - the metric names a page claims.
 *
 * One page carries gpx's families, uWSGI's metrics subsystem and the app's
 * prometheus_client families. Prometheus refuses a page where two families
 * claim one name, and a family claims more than its name: its samples are
 * named with suffixes, and OpenMetrics names a counter's family without the
 * `_total` its samples carry. These are the rules, and a set to apply them.
 *
 * A family of type T named `base` (a counter's base is its name without
 * `_total`) claims, as the OpenMetrics parser counts them:
 *
 *   counter    base, base_total, base_created
 *   gauge      base
 *   histogram  base, base_bucket, base_count, base_sum, base_created
 *   summary    base, base_count, base_sum, base_created
 *
 * Two families clash when their claims meet. gpx's own families are
 * guarded more widely: every form base, base_total, base_created,
 * base_bucket, base_count and base_sum is reserved, whatever their type,
 * and a family clashes with them when its base or any form of it is
 * reserved (a gauge "gunicorn_workers_count" next to gpx's gauge
 * "gunicorn_workers" would be valid, but is nobody's to take).
 */
#ifndef GPX_NAMES_H
#define GPX_NAMES_H

#include <stddef.h>

#include "gpx_index.h"

/* The longest base a family may have: a longer one reserves and claims
 * nothing and is taken to clash with everything (gpx_names_reserved and
 * gpx_names_claimed say yes), so that its caller leaves it out. */
#define GPX_NAME_MAX 1000

/* A set of names. */
struct gpx_names {
    char **names; /* owned copies, in the order added */
    size_t used, cap;
    struct gpx_index index; /* over names */
};

void gpx_names_init(struct gpx_names *set);
void gpx_names_free(struct gpx_names *set);

/* Adds a name. Returns 0, or -1 on memory. */
int gpx_names_add(struct gpx_names *set, const char *name);

/* Whether the set holds name. */
int gpx_names_has(const struct gpx_names *set, const char *name);

/* The base of a family as its type names it: a counter's name without a
 * trailing "_total" (written to base, NUL-terminated; len its size, at
 * least GPX_NAME_MAX + 1 for every name that is not too long). */
void gpx_names_base(char *base, size_t len, const char *name, const char *type);

/* Reserves every form of a family named `name` (as its TYPE line in the
 * text format says it) of `type` ("counter", "gauge", "histogram",
 * "summary"). Returns 0, or -1 on memory. */
int gpx_names_reserve(struct gpx_names *set, const char *name, const char *type);

/* The same for a family whose base is known (a counter's without _total). */
int gpx_names_reserve_base(struct gpx_names *set, const char *base);

/* Whether a family named `base` (of any type) clashes with the reserved
 * forms in set: base or any of its forms is reserved (see above). */
int gpx_names_reserved(const struct gpx_names *set, const char *base);

/* Whether a family of `type` named `base` claims a name already in set. */
int gpx_names_claimed(const struct gpx_names *set, const char *base, const char *type);

/* Adds the names a family of `type` named `base` claims. Returns 0, or -1. */
int gpx_names_claim(struct gpx_names *set, const char *base, const char *type);

#endif
