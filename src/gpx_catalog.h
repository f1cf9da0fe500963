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

/* Size buckets in bytes (1 KiB ... 4 MiB), plus +Inf. */
#define GPX_SIZE_BOUNDS 7
#define GPX_SIZE_SLOTS (GPX_SIZE_BOUNDS + 1)

extern const uint64_t gpx_duration_bounds_us[GPX_DURATION_BOUNDS];
extern const char *const gpx_duration_bound_labels[GPX_DURATION_BOUNDS];
extern const uint64_t gpx_size_bounds[GPX_SIZE_BOUNDS];
extern const char *const gpx_size_bound_labels[GPX_SIZE_BOUNDS];

/* Returns the method's index; `name` need not be NUL-terminated. */
enum gpx_method gpx_method_index(const char *name, size_t len);

/* Returns the label value of a method index ("GET" ... "OTHER"). */
const char *gpx_method_label(unsigned method);

/* Returns the index of the first of n ascending bounds that is >= value, or
 * n (the +Inf slot) when value is above them all. Histograms are small, so a
 * forward scan that stops early beats a binary search on typical values. */
static inline unsigned
gpx_bucket_slot(const uint64_t *bounds, unsigned n, uint64_t value)
{
    unsigned i = 0;

    while (i < n && value > bounds[i]) {
        i++;
    }
    return i;
}

static inline unsigned
gpx_duration_slot(uint64_t us)
{
    return gpx_bucket_slot(gpx_duration_bounds_us, GPX_DURATION_BOUNDS, us);
}

static inline unsigned
gpx_size_slot(uint64_t bytes)
{
    return gpx_bucket_slot(gpx_size_bounds, GPX_SIZE_BOUNDS, bytes);
}

#endif
