/* gpx_netstat.h - listen queues and the host's listen overflows, from Linux.
 *
 * Read by the master at scrape time: a TCP listening socket's TCP_INFO gives
 * the connections waiting to be accepted (tcpi_unacked) and the queue's size
 * (tcpi_sacked); /proc/net/netstat gives the host-wide ListenOverflows.
 */
#ifndef GPX_NETSTAT_H
#define GPX_NETSTAT_H

#include <stdint.h>

/* Reads a TCP listening socket's queue. Returns 0, or -1 (not a TCP socket). */
int gpx_tcp_listen_queue(int fd, uint64_t *queued, uint64_t *limit);

/* Parses the text of /proc/net/netstat for TcpExt's ListenOverflows.
 * Returns 0, or -1 if it is not there. */
int gpx_parse_listen_overflows(const char *text, uint64_t *value);

/* Reads /proc/net/netstat. Returns 0 or -1. */
int gpx_listen_overflows(uint64_t *value);

#endif
