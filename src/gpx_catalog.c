/* gpx_catalog.c - label sets and bucket bounds (see gpx_catalog.h). */
#define _POSIX_C_SOURCE 200809L
#include "gpx_catalog.h"

#include <string.h>

const uint64_t gpx_duration_bounds_us[GPX_DURATION_BOUNDS] = {
    GPX_DURATION_FIRST_BOUND_US,
    10000,
    25000,
    50000,
    100000,
    250000,
    500000,
    1000000,
    2500000,
    5000000,
    10000000,
    30000000,
    60000000,
};

const char *const gpx_duration_bound_labels[GPX_DURATION_BOUNDS] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "30.0", "60.0",
};

const uint64_t gpx_size_bounds[GPX_SIZE_BOUNDS] = {
    GPX_SIZE_FIRST_BOUND, 4096, 16384, 65536, 262144, 1048576, 4194304,
};

const char *const gpx_size_bound_labels[GPX_SIZE_BOUNDS] = {
    "1024.0", "4096.0", "16384.0", "65536.0", "262144.0", "1048576.0", "4194304.0",
};

static const char *const method_labels[GPX_METHOD_COUNT] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "OTHER",
};

/* At gpx_method_hash(): ((name[1] >> 1) ^ len) & 15. */
const struct gpx_method_key gpx_method_keys[GPX_METHOD_KEYS] = {
    [0] = {"CONNECT", 7, GPX_METHOD_CONNECT},  [1] = {"GET", 3, GPX_METHOD_GET},
    [3] = {"POST", 4, GPX_METHOD_POST},        [4] = {"DELETE", 6, GPX_METHOD_DELETE},
    [5] = {"PATCH", 5, GPX_METHOD_PATCH},      [6] = {"HEAD", 4, GPX_METHOD_HEAD},
    [9] = {"PUT", 3, GPX_METHOD_PUT},          [12] = {"TRACE", 5, GPX_METHOD_TRACE},
    [15] = {"OPTIONS", 7, GPX_METHOD_OPTIONS},
};

const char *
gpx_method_label(unsigned method)
{
    return method < GPX_METHOD_COUNT ? method_labels[method] : method_labels[GPX_METHOD_OTHER];
}
