/* gpx_procstat.h - a process's resident memory and CPU time from /proc.
 *
 * Used by the master to sample worker resources off the request path.
 */
#ifndef GPX_PROCSTAT_H
#define GPX_PROCSTAT_H

#include <sys/types.h>

struct gpx_procstat {
    double rss_bytes;   /* resident set size */
    double cpu_seconds; /* user + system time */
};

/* Reads /proc/<pid>/stat and /proc/<pid>/statm. Returns 0, or -1 if the
 * process is gone or the files cannot be parsed. */
int gpx_procstat_read(pid_t pid, struct gpx_procstat *out);

/* Parses the text of a /proc/<pid>/stat file into cpu_seconds, given the
 * clock ticks per second. Returns 0 or -1. */
int gpx_procstat_parse_stat(const char *text, long ticks_per_second, double *cpu_seconds);

#endif
