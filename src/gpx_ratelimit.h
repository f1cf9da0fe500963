/* gpx_ratelimit.h - a per-client rate limit for the metrics endpoint.
 *
 * A token bucket per client address: `burst` requests at once, then `rate`
 * per second. Addresses are kept in a fixed table (GPX_RATELIMIT_SLOTS);
 * when the slots an address hashes to are all taken, the one seen longest
 * ago is forgotten, so memory stays bounded whatever the clients do. Used
 * by the endpoint's one serving thread: no lock.
 */
#ifndef GPX_RATELIMIT_H
#define GPX_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#define GPX_RATELIMIT_SLOTS 4096 /* addresses remembered */
#define GPX_RATELIMIT_PROBE 8    /* slots looked at per address */

struct gpx_ratelimit_slot {
    unsigned char addr[16]; /* IPv4 as IPv4-mapped IPv6 */
    int used;
    double tokens;
    uint64_t last_ns; /* when its tokens were last counted */
};

struct gpx_ratelimit {
    unsigned rate;  /* requests per second; 0: no limit */
    unsigned burst; /* requests at once */
    struct gpx_ratelimit_slot *slots;
};

/* Returns 0, or -1 when memory ran out. rate 0 allocates nothing. */
int gpx_ratelimit_init(struct gpx_ratelimit *rl, unsigned rate, unsigned burst);

/* 1 when the client at `sa` (a struct sockaddr: AF_INET or AF_INET6; any
 * other family is never limited) may be answered at `now_ns` (a monotonic
 * clock), 0 when it is over its limit. A refused request takes no token. */
int gpx_ratelimit_allow(struct gpx_ratelimit *rl, const void *sa, uint64_t now_ns);

void gpx_ratelimit_free(struct gpx_ratelimit *rl);

#endif
