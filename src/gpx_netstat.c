/* gpx_netstat.c - listen queues and overflows (see gpx_netstat.h). */
#define _GNU_SOURCE
#include "gpx_netstat.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "gpx_file.h"

int
gpx_tcp_listen_queue(int fd, uint64_t *queued, uint64_t *limit)
{
    struct tcp_info info;
    socklen_t len = sizeof(info);

    memset(&info, 0, sizeof(info));
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0 || info.tcpi_state != TCP_LISTEN) {
        return -1;
    }
    /* For a listening socket Linux reports the accept queue here. */
    *queued = info.tcpi_unacked;
    *limit = info.tcpi_sacked;
    return 0;
}

int
gpx_parse_listen_overflows(const char *text, uint64_t *value)
{
    /* Two lines per group: "TcpExt: Name1 Name2 ..." then "TcpExt: v1 v2 ...". */
    const char *names = strstr(text, "TcpExt:");
    const char *values, *n, *v;

    if (names == NULL) {
        return -1;
    }
    values = strstr(names + 7, "TcpExt:");
    if (values == NULL) {
        return -1;
    }
    n = names + 7;
    v = values + 7;
    while (n < values && *n != '\n') {
        size_t nlen;
        char *end;

        while (*n == ' ') {
            n++;
        }
        while (*v == ' ') {
            v++;
        }
        nlen = strcspn(n, " \n");
        if (nlen == strlen("ListenOverflows") && strncmp(n, "ListenOverflows", nlen) == 0) {
            *value = strtoull(v, &end, 10);
            return end == v ? -1 : 0;
        }
        n += nlen;
        v += strcspn(v, " \n");
        if (*v == '\n' || *v == '\0') {
            return -1;
        }
    }
    return -1;
}

int
gpx_listen_overflows(uint64_t *value)
{
    char buf[8192];

    if (gpx_file_read_small("/proc/net/netstat", buf, sizeof(buf)) <= 0) {
        return -1;
    }
    return gpx_parse_listen_overflows(buf, value);
}
