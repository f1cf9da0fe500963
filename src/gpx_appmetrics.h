/* gpx_appmetrics.h - the app's prometheus_client metrics, merged and rendered.
 *
 * Merges the samples of prometheus_client's multiprocess files as its
 * MultiProcessCollector does (MultiProcessCollector._read_metrics and
 * _accumulate_metrics, with accumulate=True): counters, summaries and
 * histograms summed over processes (histogram buckets made cumulative, a
 * _count added), gauges by their mode (all/liveall keep a pid label per
 * process; min, max, sum and mostrecent and their live* forms reduce over
 * processes). Renders the families as generate_latest (text 0.0.4) or the
 * OpenMetrics exposition would: same names, labels and values; the order
 * of families and samples may differ.
 */
#ifndef GPX_APPMETRICS_H
#define GPX_APPMETRICS_H

#include <stddef.h>
#include <sys/types.h>

#include "gpx_buf.h"
#include "gpx_exposition.h"
#include "gpx_pcfile.h"

struct gpx_appmerge;

/* Returns an empty merge, or NULL on memory. */
struct gpx_appmerge *gpx_appmerge_new(void);
void gpx_appmerge_free(struct gpx_appmerge *m);

/* Adds one sample as read from a file of kind/mode written by `pid` (pid
 * is the label of all/liveall gauges). Returns 0, or -1 when the key is not
 * prometheus_client's (the sample is skipped) or memory ran out. */
int gpx_appmerge_add(struct gpx_appmerge *m, enum gpx_pc_kind kind, enum gpx_pc_mode mode, pid_t pid, const char *key,
                     size_t key_len, double value, double timestamp);

/* Adds every entry of a file's bytes. Returns the entries read, or -1 when
 * the file is damaged (the entries before the damage were added). */
long gpx_appmerge_add_file(struct gpx_appmerge *m, const struct gpx_pc_name *name, const void *data, size_t len);

/* Appends the merged families to out. Returns 0, or -1 on memory. */
int gpx_appmerge_render(struct gpx_appmerge *m, struct gpx_buf *out, enum gpx_format format);

/* Where the app's files and gpx's store of ended processes live. */
struct gpx_appmetrics_place {
    const char *dir;        /* PROMETHEUS_MULTIPROC_DIR */
    const char *store_name; /* the store's file name in dir (see gpx_appstore.h) */
    const char *lock_name;  /* the lock file's name in dir */
};

/* Renders the app's metrics: the store of ended processes plus every
 * prometheus_client file in the directory, under a shared lock so that a
 * fold in progress is never seen half done. A directory that cannot be
 * read renders nothing. Returns 0, or -1 on memory. */
int gpx_appmetrics_render(struct gpx_buf *out, const struct gpx_appmetrics_place *place, enum gpx_format format);

#endif
