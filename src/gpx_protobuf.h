/* gpx_protobuf.h - the page as Prometheus' protobuf exposition:
 * length-delimited io.prometheus.client.MetricFamily messages
 * (src/metrics.proto, encoded with protobuf-c).
 *
 * Made from the text page (format 0.0.4) that gpx's renderers wrote, so
 * that every family on it is served, gpx's own, uWSGI's and the app's, and
 * the protobuf page holds exactly the text page's samples: a family per
 * HELP/TYPE block (a sample outside its block's names opens an untyped
 * family of its own), a histogram's _bucket, _count and _sum lines as one
 * Histogram per label set (the +Inf bucket is the count, as the format
 * leaves it out), a summary's quantile, _count and _sum lines as one
 * Summary.
 *
 * The text gpx renders for this (GPX_FORMAT_PROTOBUF) carries what the
 * text format cannot: an exemplar after a bucket's value, as OpenMetrics
 * writes it (` # {trace_id="...",span_id="..."} 0.042 1733350000.5`), goes
 * to the Bucket's exemplar (and to the Histogram's exemplars when it has a
 * native histogram); a line `# NATIVE <schema> <zero threshold> <zero
 * count> <index>:<count>...` after a histogram's lines gives the metric
 * of the last sample its native histogram (schema, zero bucket, spans and
 * deltas). Other comments are skipped, as before.
 */
#ifndef GPX_PROTOBUF_H
#define GPX_PROTOBUF_H

#include <stddef.h>

#include "gpx_buf.h"

/* The content type of the page, which Prometheus checks word for word. */
#define GPX_PROTOBUF_CONTENT_TYPE                                                                                      \
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"

/* Appends the text page `text` of `len` bytes as delimited MetricFamily
 * messages. Returns 0, or -1 when memory ran out or a line is not of the
 * text format (nothing of a page it cannot read whole is worth serving). */
int gpx_protobuf_from_text(struct gpx_buf *out, const char *text, size_t len);

#endif
