/* gpx_negotiate.h - what a scraper asks for: exposition format and gzip.
 *
 * The metrics thread calls these with the Accept and Accept-Encoding header
 * values of each scrape. Pure functions: they read the text once, bounded by
 * its length, allocate nothing and never fail; a header they cannot make
 * sense of yields the plain defaults (text 0.0.4, no compression).
 */
#ifndef GPX_NEGOTIATE_H
#define GPX_NEGOTIATE_H

#include <stddef.h>

#include "gpx_format.h"

/* The format for an Accept header (NULL when absent). OpenMetrics 1.0.0 when
 * application/openmetrics-text is named explicitly (version 1.0.0 or no
 * version) with a weight above 0 and at least the weight text/plain 0.0.4
 * gets (through text/plain, text/ or * / *, the most specific range
 * deciding, RFC 9110 section 12.5.1); Prometheus' protobuf when
 * application/vnd.google.protobuf is named with
 * proto=io.prometheus.client.MetricFamily and encoding=delimited, with a
 * weight above 0 and at least those of OpenMetrics and text; text 0.0.4
 * otherwise. */
enum gpx_format gpx_negotiate_format(const char *accept);

/* 1 when an Accept-Encoding header (NULL when absent) accepts gzip: "gzip"
 * or "x-gzip" with a weight above 0, or, when neither is named, "*" with a
 * weight above 0 (RFC 9110 section 12.5.3). 0 otherwise. */
int gpx_negotiate_gzip(const char *accept_encoding);

/* The weight ("q" parameter) text at `text` of `len` bytes as thousandths,
 * 0..1000, or -1 when it is no valid qvalue. */
int gpx_negotiate_qvalue(const char *text, size_t len);

#endif
