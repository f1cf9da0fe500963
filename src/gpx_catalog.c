/* gpx_catalog.c - label sets and bucket bounds (see gpx_catalog.h). */
#define _POSIX_C_SOURCE 200809L
#include "gpx_catalog.h"

#include <string.h>

const uint64_t gpx_duration_bounds_us[GPX_DURATION_BOUNDS] = {
    5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000, 60000000,
};

const char *const gpx_duration_bound_labels[GPX_DURATION_BOUNDS] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "30.0", "60.0",
};

const uint64_t gpx_size_bounds[GPX_SIZE_BOUNDS] = {
    1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
};

const char *const gpx_size_bound_labels[GPX_SIZE_BOUNDS] = {
    "1024.0", "4096.0", "16384.0", "65536.0", "262144.0", "1048576.0", "4194304.0",
};

static const char *const method_labels[GPX_METHOD_COUNT] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "OTHER",
};

enum gpx_method
gpx_method_index(const char *name, size_t len)
{
    /* The length picks the candidates, so one memcmp decides. */
    switch (len) {
    case 3:
        if (memcmp(name, "GET", 3) == 0) {
            return GPX_METHOD_GET;
        }
        if (memcmp(name, "PUT", 3) == 0) {
            return GPX_METHOD_PUT;
        }
        break;
    case 4:
        if (memcmp(name, "POST", 4) == 0) {
            return GPX_METHOD_POST;
        }
        if (memcmp(name, "HEAD", 4) == 0) {
            return GPX_METHOD_HEAD;
        }
        break;
    case 5:
        if (memcmp(name, "PATCH", 5) == 0) {
            return GPX_METHOD_PATCH;
        }
        if (memcmp(name, "TRACE", 5) == 0) {
            return GPX_METHOD_TRACE;
        }
        break;
    case 6:
        if (memcmp(name, "DELETE", 6) == 0) {
            return GPX_METHOD_DELETE;
        }
        break;
    case 7:
        if (memcmp(name, "OPTIONS", 7) == 0) {
            return GPX_METHOD_OPTIONS;
        }
        if (memcmp(name, "CONNECT", 7) == 0) {
            return GPX_METHOD_CONNECT;
        }
        break;
    default:
        break;
    }
    return GPX_METHOD_OTHER;
}

const char *
gpx_method_label(unsigned method)
{
    return method < GPX_METHOD_COUNT ? method_labels[method] : method_labels[GPX_METHOD_OTHER];
}
