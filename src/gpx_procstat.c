/* gpx_procstat.c - resident memory and CPU time from /proc (see gpx_procstat.h). */
#define _POSIX_C_SOURCE 200809L
#include "gpx_procstat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpx_file.h"

int
gpx_procstat_parse_stat(const char *text, long ticks_per_second, double *cpu_seconds)
{
    /* The command name (field 2) may hold spaces and parentheses: fields are
     * counted from the last ')'. utime and stime are fields 14 and 15. */
    const char *p = strrchr(text, ')');
    unsigned long long utime, stime;
    int field;

    if (p == NULL || p[1] == '\0' || ticks_per_second <= 0) {
        return -1;
    }
    p++;
    for (field = 3; field < 14; field++) {
        p = strchr(p + 1, ' ');
        if (p == NULL) {
            return -1;
        }
    }
    if (sscanf(p, " %llu %llu", &utime, &stime) != 2) {
        return -1;
    }
    *cpu_seconds = (double)(utime + stime) / (double)ticks_per_second;
    return 0;
}

int
gpx_procstat_read(pid_t pid, struct gpx_procstat *out)
{
    char path[64], buf[1024];
    unsigned long long size, resident;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (gpx_file_read_small(path, buf, sizeof(buf)) < 0 ||
        gpx_procstat_parse_stat(buf, sysconf(_SC_CLK_TCK), &out->cpu_seconds) != 0) {
        return -1;
    }
    snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
    if (gpx_file_read_small(path, buf, sizeof(buf)) < 0 || sscanf(buf, "%llu %llu", &size, &resident) != 2) {
        return -1;
    }
    out->rss_bytes = (double)resident * (double)sysconf(_SC_PAGESIZE);
    return 0;
}
