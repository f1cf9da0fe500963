/* gpx_traceparent.h - the trace and span ids of a W3C Trace Context
 * `traceparent` header (level 1, section "traceparent"), for the exemplar
 * of the latency bucket a request fell in.
 *
 * The value is version-traceid-parentid-flags in lowercase hex:
 *
 *     00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
 *
 * Version "00" is exactly these 55 bytes. A higher version (not "ff", which
 * is invalid) may carry more fields after a '-' at byte 55; they are
 * ignored, as the spec asks of a parser that knows only version 00. An
 * all-zero trace id or parent id is invalid, and so is uppercase hex.
 */
#ifndef GPX_TRACEPARENT_H
#define GPX_TRACEPARENT_H

#include <stddef.h>

/* The bytes of a version 00 value, and where its fields start. */
#define GPX_TRACEPARENT_LEN 55
#define GPX_TRACEPARENT_TRACE_AT 3
#define GPX_TRACEPARENT_SPAN_AT 36
#define GPX_TRACEPARENT_FLAGS_AT 53

struct gpx_trace_ids {
    unsigned char trace_id[16];
    unsigned char span_id[8];
    unsigned char flags; /* trace-flags: bit 0 (GPX_TRACE_SAMPLED) the caller sampled the trace */
};

/* trace-flags' sampled bit: the caller records the trace, so a backend
 * keeps it. */
#define GPX_TRACE_SAMPLED 0x01u

/* Parses a W3C Trace Context `traceparent` header value of `len` bytes (not
 * NUL-terminated), spaces and tabs around it (the header's optional white
 * space) left out. Returns 1 and fills *ids when valid, 0 otherwise (*ids
 * untouched). */
int gpx_traceparent_parse(const char *value, size_t len, struct gpx_trace_ids *ids);

#endif
