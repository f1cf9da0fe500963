/* gpx_reload.h - the endpoint's files read again when they change.
 *
 * The certificate, its key, the client CAs (file and directory) and the
 * password file are watched by their identity (device, inode, size,
 * modification and change times; stat follows symbolic links, so a
 * Kubernetes secret's link swap counts). A check runs at most once a second
 * on the caller's thread (the master's), never per request. A change is
 * taken once the files stood still for a whole check, so a certificate and
 * key written one after the other are read as a pair. What was read replaces
 * what the endpoint uses (gpx_http_use_tls, gpx_http_use_auth): new
 * handshakes and checks use it, open connections and scrapes go on.
 *
 * A changed file that does not load (unreadable, not PEM, a key that is not
 * the certificate's, a password file with a plain-text line) leaves the
 * endpoint with what it had: one log line and one error counted per change,
 * then nothing until the file changes again.
 */
#ifndef GPX_RELOAD_H
#define GPX_RELOAD_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "gpx_config.h"
#include "gpx_http.h"
#include "gpx_log.h"

/* What a path is now, as stat(2) tells it. */
struct gpx_file_id {
    int exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
};

#define GPX_RELOAD_TLS_FILES 4 /* certificate, key, client CA file, client CA directory */

struct gpx_reload {
    const struct gpx_config *cfg;
    gpx_log_fn log;
    int tls, auth; /* what is watched */
    struct gpx_file_id tls_ids[GPX_RELOAD_TLS_FILES];
    struct gpx_file_id auth_id;
    int tls_moved, auth_moved; /* changed at the last check: taken once they stand still */
    struct timespec last_check;
    atomic_uint_fast64_t errors;  /* changed files that did not load */
    atomic_uint_fast64_t reloads; /* changes taken */
};

/* Watches the files of cfg that were loaded: TLS's when `tls`, the
 * password file when `auth`. Their identity now is the one loaded. */
void gpx_reload_init(struct gpx_reload *r, const struct gpx_config *cfg, int tls, int auth, gpx_log_fn log);

/* The check, when a second passed since the last one (`now` is a monotonic
 * time); what changed and stood still is loaded and handed to srv. */
void gpx_reload_check(struct gpx_reload *r, struct gpx_http *srv, const struct timespec *now);

/* Changed files that did not load, since start. Any thread. */
uint64_t gpx_reload_errors(const struct gpx_reload *r);

#endif
