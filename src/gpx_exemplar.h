/* gpx_exemplar.h - the exemplars of the latency buckets: for a request that
 * carried a `traceparent` header (gpx_traceparent.h), its trace and span
 * ids, duration and end time, kept as the exemplar of the duration slot it
 * fell in, and written after that bucket's line in OpenMetrics.
 *
 * One exemplar per (worker, core, method, duration slot), in anonymous
 * shared memory mapped before the first fork, like the scoreboard: each is
 * written by one thread (the core's owner in its worker) and read by the
 * master's metrics thread, which keeps the newest of each (method, slot)
 * over all workers and cores.
 *
 * An exemplar is more than one word, so a reader could see half of one
 * write and half of the next: a sequence count (a seqlock with a single
 * writer) tells it to try again, or to skip the exemplar for this scrape.
 * Writing takes no lock and never waits; only lock-free 8-byte atomics
 * touch the shared memory, so that it works across processes.
 */
#ifndef GPX_EXEMPLAR_H
#define GPX_EXEMPLAR_H

#include <stddef.h>
#include <stdint.h>

#include "gpx_inline.h"
#include "gpx_text.h"
#include "gpx_traceparent.h"

/* One exemplar: a cache line, written by one thread (the cell's owner), read by
 * the master's metrics thread. */
struct gpx_exemplar {
    uint64_t seq;      /* even: stable; odd: being written */
    uint64_t value_us; /* the request's duration */
    uint64_t time_us;  /* unix time of the request's end, microseconds */
    unsigned char trace_id[16];
    unsigned char span_id[8];
    uint64_t reserved;
} __attribute__((aligned(64)));

/* One cache line each: two writers never share a line, and the ids are
 * copied as whole aligned words. */
_Static_assert(sizeof(struct gpx_exemplar) == 64, "an exemplar is one cache line");
_Static_assert(offsetof(struct gpx_exemplar, trace_id) % 8 == 0, "the trace id is copied in 8-byte words");
_Static_assert(offsetof(struct gpx_exemplar, span_id) % 8 == 0, "the span id is copied in 8-byte words");

/* A reader's copy. */
struct gpx_exemplar_copy {
    uint64_t value_us, time_us;
    unsigned char trace_id[16], span_id[8];
};

/* Writes one exemplar (its owner only: one writer per exemplar). */
void gpx_exemplar_write(struct gpx_exemplar *e, const struct gpx_trace_ids *ids, uint64_t value_us, uint64_t time_us);

/* 1: *out is a whole exemplar (never half of one write and half of another);
 * 0: none written yet, or still being written after a few tries (skip it this scrape). */
int gpx_exemplar_read(const struct gpx_exemplar *e, struct gpx_exemplar_copy *out);

/* The region: one exemplar per (worker, core, method, classic duration slot). */
struct gpx_exemplar_board {
    struct gpx_exemplar *base;
    size_t size;
    unsigned workers, cores, methods, slots;
};

/* Maps an anonymous shared region (MAP_SHARED|MAP_ANONYMOUS), zeroed. 0, or -1
 * with err (a count of 0, a region too large to map). */
int gpx_exemplar_board_open(struct gpx_exemplar_board *b, unsigned workers, unsigned cores, unsigned methods,
                            unsigned slots, char *err, size_t errlen);

/* Unmaps the region and zeroes *b; safe on a zeroed one, and twice. */
void gpx_exemplar_board_close(struct gpx_exemplar_board *b);

/* The exemplar of (worker, core, method, slot): worker 1-based (uWSGI's
 * worker ids), core, method and slot 0-based, each below the board's
 * count (not checked: the request path's caller has them in range). */
GPX_INLINE struct gpx_exemplar *
gpx_exemplar_at(const struct gpx_exemplar_board *b, unsigned worker, unsigned core, unsigned method, unsigned slot)
{
    size_t cell = (size_t)(worker - 1) * b->cores + core;

    return b->base + (cell * b->methods + method) * b->slots + slot;
}

/* The newest whole exemplar (largest time_us) of (method, slot) over all workers
 * and cores; 1 if found. */
int gpx_exemplar_newest(const struct gpx_exemplar_board *b, unsigned method, unsigned slot,
                        struct gpx_exemplar_copy *out);

/* The most bytes gpx_exemplar_text writes: the fixed text, the ids in hex
 * and two numbers of seconds. */
#define GPX_EXEMPLAR_TEXT_MAX                                                                                          \
    (sizeof(" # {trace_id=\"\",span_id=\"\"} ") - 1 + 2 * 16 + 2 * 8 + 1 + 2 * GPX_TEXT_MICROS_MAX)

/* Writes the OpenMetrics exemplar suffix for a bucket line into p (room for
 * GPX_EXEMPLAR_TEXT_MAX bytes) and returns the end:
 *  ` # {trace_id="<32 hex>",span_id="<16 hex>"} <value seconds> <unix seconds>`
 * both numbers of seconds exact, without trailing zeros: 0.067, 1.5,
 * 0.000001, 2, 1733350000.123456. */
char *gpx_exemplar_text(char *p, const struct gpx_exemplar_copy *x);

#endif
