/* gpx_log.c - lines for the caller's log, errors for its buffer (see gpx_log.h). */
#include "gpx_log.h"

#include <stdarg.h>
#include <stdio.h>

/* Room for a path (PATH_MAX) and what is said about it. */
#define LINE_MAX_BYTES 4608

void
gpx_log(gpx_log_fn log, const char *fmt, ...)
{
    char line[LINE_MAX_BYTES];
    va_list ap;

    if (log == NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    log(line);
}

void
gpx_set_error(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}
