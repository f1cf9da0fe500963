/* gpx_catalog.h - the fixed label sets and histogram buckets (docs/metrics.md).
 *
 * Everything here is constant: the request path maps a method to an index
 * and a value to a bucket, and the renderer turns indexes back into label
 * values. Keeping the sets fixed is what keeps the scoreboard's layout fixed.
 */
#ifndef GPX_CATALOG_H
#define GPX_CATALOG_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gpx_inline.h"

/* Methods with a label of their own; anything else is GPX_METHOD_OTHER. */
enum gpx_method {
    GPX_METHOD_GET,
    GPX_METHOD_HEAD,
    GPX_METHOD_POST,
    GPX_METHOD_PUT,
    GPX_METHOD_DELETE,
    GPX_METHOD_PATCH,
    GPX_METHOD_OPTIONS,
    GPX_METHOD_CONNECT,
    GPX_METHOD_TRACE,
    GPX_METHOD_OTHER,
    GPX_METHOD_COUNT
};

/* Duration buckets in microseconds (0.005 s ... 60 s); one more slot counts
 * what is above the last bound (+Inf). */
#define GPX_DURATION_BOUNDS 13
#define GPX_DURATION_SLOTS (GPX_DURATION_BOUNDS + 1)

/* The native histogram of request durations (Prometheus' sparse
 * exponential buckets), recorded at schema 3: 8 buckets per power of two,
 * bucket i holding the durations d with 2^((i-1)/8) < d <= 2^(i/8) seconds,
 * at most 9.05% wide (a bucket's midpoint is within 4.3% of anything in it).
 * Slot 0 is the zero bucket (durations of 0 us); slot s holds bucket
 * s + GPX_NATIVE_INDEX_OFFSET: slot 1 is 1 us, the last slot 2^16 s (18.2
 * hours), where anything longer is counted too. The renderer serves this
 * schema or a coarser one (gpx-native-histogram-schema) by merging slots. */
#define GPX_NATIVE_SCHEMA 3
#define GPX_NATIVE_SLOTS 289
#define GPX_NATIVE_INDEX_OFFSET (-160)
#define GPX_NATIVE_MAX_US 65536000000u

/* Both written by tools/gen_native_table.py (src/gpx_native_table.c):
 * each slot's largest duration in microseconds (the last slot's: the
 * largest number, as it takes every longer duration), and for each count
 * of leading zeros (64 rows) and each value of the 8 bits from the leading
 * one on, the slot of the smallest duration with them. */
extern const uint64_t gpx_native_upper_us[GPX_NATIVE_SLOTS] GPX_HIDDEN;
extern const uint16_t gpx_native_first[64 * 256] GPX_HIDDEN;

/* Size buckets in bytes (1 KiB ... 4 MiB), plus +Inf. */
#define GPX_SIZE_BOUNDS 7
#define GPX_SIZE_SLOTS (GPX_SIZE_BOUNDS + 1)

/* The first bounds, as constants for the request path's first compare
 * (gpx_catalog.c checks that they are the arrays' first values). */
#define GPX_DURATION_FIRST_BOUND_US 5000u
#define GPX_SIZE_FIRST_BOUND 1024u

extern const uint64_t gpx_duration_bounds_us[GPX_DURATION_BOUNDS] GPX_HIDDEN;
extern const char *const gpx_duration_bound_labels[GPX_DURATION_BOUNDS];
extern const uint64_t gpx_size_bounds[GPX_SIZE_BOUNDS] GPX_HIDDEN;
extern const char *const gpx_size_bound_labels[GPX_SIZE_BOUNDS];

/* One entry of the table of known methods: the name, NUL-padded. */
struct gpx_method_key {
    char name[8];
    uint32_t len;    /* 3..7; 0: a free entry */
    uint32_t method; /* enum gpx_method */
};                   /* 16 bytes: an entry's address is a shift */

/* The known methods, each at gpx_method_hash() of its name. */
#define GPX_METHOD_KEYS 16
extern const struct gpx_method_key gpx_method_keys[GPX_METHOD_KEYS] GPX_HIDDEN;

/* Where a name of 3 to 7 bytes sits in gpx_method_keys: the known nine
 * land in distinct entries (the second letter and the length tell them
 * apart). */
GPX_INLINE unsigned
gpx_method_hash(const char *name, size_t len)
{
    return (((unsigned)(unsigned char)name[1] >> 1) ^ (unsigned)len) & (GPX_METHOD_KEYS - 1);
}

GPX_INLINE uint32_t
gpx_load32(const char *p)
{
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

GPX_INLINE uint16_t
gpx_load16(const char *p)
{
    uint16_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

/* Returns the method's index; `name` need not be NUL-terminated, and no
 * byte past name[len - 1] is read. One table entry, two loads of the name
 * and two compares, where a chain of branches and memcmp took more than
 * twice the instructions on every request. */
GPX_INLINE enum gpx_method
gpx_method_index(const char *name, size_t len)
{
    const struct gpx_method_key *k;
    int same;

    if (len - 3 > 4) { /* not 3..7 (a shorter one wraps round) */
        return GPX_METHOD_OTHER;
    }
    k = &gpx_method_keys[gpx_method_hash(name, len)];
    if (k->len != len) {
        return GPX_METHOD_OTHER;
    }
    if (len == 3) {
        same = gpx_load16(name) == gpx_load16(k->name) && name[2] == k->name[2];
    } else { /* the first four bytes and the last four, which may overlap */
        same = gpx_load32(name) == gpx_load32(k->name) && gpx_load32(name + len - 4) == gpx_load32(k->name + len - 4);
    }
    return same ? (enum gpx_method)k->method : GPX_METHOD_OTHER;
}

/* Returns the label value of a method index ("GET" ... "OTHER"). */
const char *gpx_method_label(unsigned method);

/* Returns the index of the first of n ascending bounds that is >= value, or
 * n (the +Inf slot) when value is above them all. Histograms are small, so a
 * forward scan that stops early beats a binary search on typical values. */
GPX_INLINE unsigned
gpx_bucket_slot(const uint64_t *bounds, unsigned n, uint64_t value)
{
    unsigned i = 0;

    while (i < n && value > bounds[i]) {
        i++;
    }
    return i;
}

GPX_INLINE unsigned
gpx_duration_slot(uint64_t us)
{
    if (us <= GPX_DURATION_FIRST_BOUND_US) { /* most requests: one compare with a constant */
        return 0;
    }
    return gpx_bucket_slot(gpx_duration_bounds_us, GPX_DURATION_BOUNDS, us);
}

/* A duration's slot in the native histogram (GPX_NATIVE_SCHEMA): the
 * first slot of the part of its power of two it falls in, moved on by one
 * when the part holds a bucket's bound that it is above. No loop, no
 * floating point, no branch: a count of leading zeros, two table reads, a
 * compare; 0 us and durations past the last bound have entries of their
 * own in the tables. */
GPX_INLINE unsigned
gpx_native_slot(uint64_t us)
{
    unsigned zeros = (unsigned)__builtin_clzll(us | 1); /* us | 1: 0 has no leading one (63 zeros, its own entry) */
    unsigned part = (unsigned)((us << zeros) >> 56);    /* 128..255, the leading one and 7 bits; 0 for 0 us */
    unsigned slot = gpx_native_first[zeros * 256 + part];

    return slot + (us > gpx_native_upper_us[slot]);
}

GPX_INLINE unsigned
gpx_size_slot(uint64_t bytes)
{
    return gpx_bucket_slot(gpx_size_bounds, GPX_SIZE_BOUNDS, bytes);
}

#endif
