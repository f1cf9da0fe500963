/* gpx_log.h - the lines src/ hands its caller, and the errors it writes.
 *
 * src/ never logs by itself: a module that has something to say (the HTTP
 * server, the Redis publisher, file storage, the app's directory) is given a
 * gpx_log_fn by the glue, which writes through uWSGI's logger. Errors that a
 * call returns go into the caller's `err` buffer of `errlen` bytes.
 */
#ifndef GPX_LOG_H
#define GPX_LOG_H

#include <stddef.h>

/* Writes one line (without its newline). May be called from any thread
 * the module that calls it runs on. */
typedef void (*gpx_log_fn)(const char *line);

/* Formats one line (cut at 4 KiB) and hands it to `log`; nothing when log
 * is NULL. */
void gpx_log(gpx_log_fn log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Formats into err (cut at errlen, NUL-terminated); nothing when err is
 * NULL or errlen 0. */
void gpx_set_error(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
