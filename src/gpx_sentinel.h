/* gpx_sentinel.h - Redis Sentinel: the list of Sentinels, and asking them
 * where the master is.
 *
 * The Redis storage (gpx_redis.c) asks before each connection it opens: the
 * publisher's (at start, after a connection error or a refused command such
 * as a replica's READONLY) and each fleet read's. The Sentinels are asked
 * in the order given; the first that knows the master answers
 * (SENTINEL get-master-addr-by-name). A Sentinel that is down, refuses the
 * password or does not know the name is skipped.
 */
#ifndef GPX_SENTINEL_H
#define GPX_SENTINEL_H

#include <stddef.h>
#include <time.h>

/* The most Sentinels a list names. */
#define GPX_SENTINELS_MAX 16

/* A host name or address, without brackets for IPv6. */
#define GPX_SENTINEL_HOST_MAX 256

struct gpx_sentinel_addr {
    char host[GPX_SENTINEL_HOST_MAX];
    int port;
};

/* Parses "host:port,host:port" (IPv6 as "[addr]:port"; spaces around the
 * entries allowed) into out[max]. Returns how many, or -1 with a reason in
 * err when an entry is not host:port with a port from 1 to 65535, or there
 * are more than max. An empty list gives 0. */
int gpx_sentinel_parse(const char *list, struct gpx_sentinel_addr *out, size_t max, char *err, size_t errlen);

/* Asks the Sentinels of `list` (as parsed above) for the address of the
 * master named `master`, each within what is left of `deadline`
 * (CLOCK_MONOTONIC) and at most `per_sentinel_ms`. `password`, when not
 * empty, is sent to each Sentinel with AUTH. Returns 0 with the address in
 * *out, or -1 with what every Sentinel answered in err. */
int gpx_sentinel_master(const char *list, const char *master, const char *password, const struct timespec *deadline,
                        unsigned per_sentinel_ms, struct gpx_sentinel_addr *out, char *err, size_t errlen);

#endif
