/* gpx_apprender.h - the app's merged families written as a page.
 *
 * Accumulates the samples of a merge (gpx_appmerge.h) as prometheus_client's
 * MultiProcessCollector does (_accumulate_metrics, with accumulate=True):
 * counters, summaries and histograms summed over processes (histogram
 * buckets made cumulative, a _count added), gauges by their mode
 * (all/liveall keep a pid label per process; min, max, sum and mostrecent
 * and their live* forms reduce over processes). Writes the families as
 * generate_latest (text 0.0.4) or the OpenMetrics exposition would: same
 * names, labels and values; the order of families and samples may differ.
 * Both formats name samples as their family (prometheus_client's
 * OpenMetrics writer keeps a ":" in the family's name and turns it into
 * "_" in its samples, which its own parser refuses).
 *
 * The page stays valid whatever the files hold:
 *
 *   - HELP texts are escaped;
 *   - a family that cannot be written validly is left out, counted by
 *     reason (enum gpx_app_drop) and reported: one the merge marked, one
 *     that claims a name of gpx's own families, or one another app family
 *     already claims (see gpx_names.h);
 *   - OpenMetrics forbids a histogram's _sum beside negative buckets or
 *     when it is negative, and a summary's negative _sum: such a _sum (and
 *     a histogram's _count with it, which needs one) is not written in
 *     that format.
 */
#ifndef GPX_APPRENDER_H
#define GPX_APPRENDER_H

#include "gpx_apphealth.h"
#include "gpx_appmerge.h"
#include "gpx_buf.h"
#include "gpx_format.h"
#include "gpx_names.h"

/* Appends the merged families to out. Families that claim a name in
 * `reserved` (gpx's own, see gpx_names_reserve; may be NULL) or that no
 * valid page can carry are left out, counted and reported in health (may
 * be NULL). Returns 0, or -1 on memory. */
int gpx_apprender_families(struct gpx_appmerge *m, struct gpx_buf *out, enum gpx_format format,
                           const struct gpx_names *reserved, struct gpx_app_health *health);

/* Appends gunicorn_exporter_app_families_dropped (every reason) and
 * gunicorn_exporter_app_files_unreadable (health may be NULL: zeros).
 * Returns 0, or -1 on memory. */
int gpx_apprender_health(struct gpx_buf *out, enum gpx_format format, const struct gpx_app_health *health);

#endif
