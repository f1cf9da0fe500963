/* gpx_appdir.h - the master's care of the app's prometheus_client directory.
 *
 * prometheus_client names its files by pid. The master records the pid of
 * each of its processes (itself and every worker) in gpx's store
 * (gpx_appstore.h) as soon as it sees it, so that a reload, which
 * re-executes the master and forgets everything in memory, or a cold start
 * still knows which files are this server's: another server may share the
 * directory, and its files are never touched. When a worker's pid leaves
 * its slot, the master folds the files of every recorded process that has
 * ended. A process that has not ended yet (a recorded pid now held by an
 * unrelated process, say) is looked at again every few seconds.
 *
 * The store and its lock file exist from the first prometheus_client file
 * on: an app that does not use it gets no files from gpx beyond the
 * scoreboard. The pids seen meanwhile are kept in memory.
 *
 * The directory is followed by its identity, not only its path: when
 * another process removes it (deploy scripts wipe PROMETHEUS_MULTIPROC_DIR
 * by habit) or puts another directory in its place, gpx makes it again (or
 * takes the new one) and writes the store into it from memory, so that the
 * totals of the processes already folded survive; the log says which
 * happened.
 *
 * With Redis storage the store's totals, plus the values of the live
 * processes, are published beside gpx's own (gpx_appdir_snapshot), and
 * taken back at start when they come from another store: a new host, same
 * instance name (gpx_appdir_restore).
 *
 * Threads: the master's cycle and the Redis publisher's thread (restore)
 * take the handle's lock; snapshot and render read the directory by its
 * path and may run on any thread, in any process.
 */
#ifndef GPX_APPDIR_H
#define GPX_APPDIR_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "gpx_apphealth.h"
#include "gpx_appstore.h"
#include "gpx_buf.h"
#include "gpx_format.h"
#include "gpx_log.h"
#include "gpx_names.h"

/* A process that had not ended is looked at again after this long; so is a
 * directory that holds no prometheus_client file yet. */
#define GPX_APPDIR_RETRY_SECONDS 5

/* Longest file names: "gpx_<instance>.appstore.lock". */
#define GPX_APPDIR_NAME_MAX 320

struct gpx_appdir_options {
    const char *dir;          /* PROMETHEUS_MULTIPROC_DIR: a directory */
    const char *instance;     /* names the store: gpx_<instance>.appstore */
    pid_t master;             /* the master, whose files are never folded (a reload keeps its pid) */
    unsigned slots;           /* worker slots followed */
    uid_t uid;                /* owner of what gpx makes when running as root, or -1 */
    gid_t gid;                /* group, likewise */
    int start_fresh;          /* a cold start with gpx-cleanup-db-files: the store and its processes' files go */
    int debug;                /* log every fold */
    gpx_log_fn log;           /* lines about the directory and the store */
    gpx_app_report_fn report; /* problems with the app's files, said once (may be NULL) */
    void *report_ctx;
};

struct gpx_appdir {
    char dir[PATH_MAX];
    char store_name[GPX_APPDIR_NAME_MAX]; /* gpx_<instance>.appstore */
    char lock_name[GPX_APPDIR_NAME_MAX];  /* gpx_<instance>.appstore.lock */
    int dirfd;                            /* the directory as last opened */
    dev_t dev;                            /* its identity, to tell another directory at the path */
    ino_t ino;
    int dir_failing; /* the directory is gone and cannot be made again: said once */
    time_t checked_at;
    pid_t master;
    uid_t uid;
    gid_t gid;
    int debug;
    gpx_log_fn log;
    gpx_app_report_fn report;
    void *report_ctx;
    pthread_mutex_t lock;         /* the store: the master's cycle vs the Redis publisher's thread */
    struct gpx_appstore store;    /* the master's copy; the file is the truth for readers */
    struct gpx_appstore baseline; /* the store at start, after the first fold (Redis storage) */
    pid_t *seen;                  /* per worker slot (index slot - 1), the pid last seen */
    unsigned slots;
    time_t retry_at; /* when to look again: processes that had not ended, or a first file */
    int waiting;     /* the last fold found recorded processes that had not ended */
    int active;      /* the store exists: the app wrote prometheus_client files */
};

/* Opens the directory (master, before the workers fork), reads the store,
 * records the master, and folds what earlier masters left. Returns 0; -1
 * when the directory cannot be opened (err filled, nothing kept); -2 when
 * memory ran out. */
int gpx_appdir_open(struct gpx_appdir *d, const struct gpx_appdir_options *o, time_t now, char *err, size_t errlen);

/* The master's cycle: `pids` holds the pid of each worker slot now (index
 * slot - 1; 0 for none). Records new pids, folds the ended processes,
 * follows the directory (at most once a second). */
void gpx_appdir_cycle(struct gpx_appdir *d, const pid_t *pids, time_t now);

/* At exit and before a reload's re-exec, the workers gone: folds them. */
void gpx_appdir_finish(struct gpx_appdir *d);

/* Renders the app's metrics (see gpx_appmetrics_render): any thread, any
 * process. */
int gpx_appdir_render(const struct gpx_appdir *d, struct gpx_buf *out, enum gpx_format format,
                      const struct gpx_names *reserved, struct gpx_app_health *health);

/* The app's totals for Redis: the store plus what this server's live
 * processes hold, as if they were folded now, encoded as a store without
 * pids. Returns 0; -1 when there is nothing to publish yet (no store) or
 * memory ran out. */
int gpx_appdir_snapshot(struct gpx_appdir *d, struct gpx_buf *out);

/* Totals stored in Redis (an encoded store). Totals this store published
 * are already counted here (a reload, a restart on the same host). Totals
 * of another store (a new host with the same instance name, or this
 * host's store gone) take the place of what this store held at start,
 * plus what it folded since (logged). Returns 0, or -1 when they cannot
 * be read or the store cannot be saved (nothing taken). */
int gpx_appdir_restore(struct gpx_appdir *d, const void *blob, size_t len);

/* A store's identity: never 0, exact in a double, different for every
 * call (the time and the pid, hashed). */
double gpx_appdir_new_epoch(void);

#endif
