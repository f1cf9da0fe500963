/* gpx_file.h - files read whole, and the directory of gpx's files made
 * again.
 *
 * Reading: PEM and htpasswd files (into memory of their own, bounded),
 * and /proc's small files (into the caller's buffer). Making: file storage
 * and the app's directory both make PROMETHEUS_MULTIPROC_DIR again when
 * another process removed it, owned by the user the workers run as.
 * Plain POSIX: no library, so a build without GnuTLS has it too.
 */
#ifndef GPX_FILE_H
#define GPX_FILE_H

#include <stddef.h>
#include <sys/types.h>

/* Reads the file at path, at most `max` bytes, into a NUL-terminated
 * string. Returns it (the caller frees it) with its length in *len, or
 * NULL with why set: "cannot open it: ...", "cannot read it: ...", "larger
 * than <max> bytes", "out of memory". */
char *gpx_file_read(const char *path, size_t max, size_t *len, char *why, size_t whylen);

/* Reads from fd into buf until `len` bytes are read or the file ends
 * (retrying an interrupted read). Returns the bytes read, or -1 with errno
 * set. */
ssize_t gpx_file_read_fd(int fd, void *buf, size_t len);

/* Reads the file at path into buf (at most size - 1 bytes, to its end or
 * until buf is full: procfs hands out a page per read), NUL-terminated.
 * Returns the bytes read, or -1 with errno set. */
ssize_t gpx_file_read_small(const char *path, char *buf, size_t size);

/* When this process runs as root and uid or gid is set (not -1), gives the
 * file at fd (or, with fd < 0, at path) to them: uWSGI may drop privileges
 * later, and the next master (a reload after the drop) must be able to
 * open what was made. Returns 0, or -1 with errno set (not fatal: this
 * process can still use it). */
int gpx_file_give(int fd, const char *path, uid_t uid, gid_t gid);

/* Makes directory `dir` (mode 0755; its parent must exist) and gives it to
 * uid:gid as gpx_file_give does. A directory another process made
 * meanwhile will do. Returns 0, or -1 with errno set. */
int gpx_file_make_dir(const char *dir, uid_t uid, gid_t gid);

#endif
