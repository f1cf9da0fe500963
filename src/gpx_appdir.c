/* gpx_appdir.c - the master's care of the app's directory (see gpx_appdir.h). */
#define _GNU_SOURCE
#include "gpx_appdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gpx_appmetrics.h"
#include "gpx_file.h"
#include "gpx_hash.h"

double
gpx_appdir_new_epoch(void)
{
    struct timespec ts;
    uint64_t parts[3], h;

    clock_gettime(CLOCK_REALTIME, &ts);
    parts[0] = (uint64_t)ts.tv_sec;
    parts[1] = (uint64_t)ts.tv_nsec;
    parts[2] = (uint64_t)getpid();
    h = gpx_fnv1a(parts, sizeof(parts));
    /* Exact in a double, never 0. */
    return (double)((h & ((1ull << 52) - 1)) | 1);
}

/* Calls `each` with the name of every prometheus_client file in the
 * directory at `dir`, and the descriptor of the directory, until it
 * returns non-zero. Returns what it returned, 0 when it never did, or -1
 * when the directory cannot be read. */
static int
each_app_file(const char *dir, int (*each)(void *ctx, int dirfd, const char *file, const struct gpx_pc_name *name),
              void *ctx)
{
    struct gpx_pc_name name;
    struct dirent *entry;
    DIR *d = opendir(dir);
    int rc = 0;

    if (d == NULL) {
        return -1;
    }
    while (rc == 0 && (entry = readdir(d)) != NULL) {
        if (gpx_pc_parse_name(entry->d_name, &name) == 0) {
            rc = each(ctx, dirfd(d), entry->d_name, &name);
        }
    }
    closedir(d);
    return rc;
}

static int
found(void *ctx, int dirfd, const char *file, const struct gpx_pc_name *name)
{
    (void)ctx;
    (void)dirfd;
    (void)file;
    (void)name;
    return 1;
}

/* Whether the directory holds any prometheus_client file. */
static int
any_app_file(const struct gpx_appdir *d)
{
    return each_app_file(d->dir, found, NULL) == 1;
}

/* -- the store and its lock ------------------------------------------------ */

static int
save(struct gpx_appdir *d)
{
    if (gpx_appstore_save(&d->store, d->dirfd, d->store_name) != 0) {
        gpx_log(d->log, "gpx: cannot save %s/%s: %s", d->dir, d->store_name, strerror(errno));
        return -1;
    }
    return 0;
}

/* Makes the lock file (owned by the workers' user: the next master, after
 * a reload that dropped privileges, takes it too) and writes the store.
 * Returns 0, or -1 when the store could not be written. */
static int
make_store(struct gpx_appdir *d)
{
    int lock = gpx_appstore_lock(d->dirfd, d->lock_name, 1), rc;

    if (lock < 0) {
        gpx_log(d->log, "gpx: cannot create %s/%s: scrapes are not kept from seeing a fold half done", d->dir,
                d->lock_name);
    } else if (gpx_file_give(lock, NULL, d->uid, d->gid) != 0) {
        gpx_log(d->log, "gpx: cannot give %s/%s to the workers' user: %s", d->dir, d->lock_name, strerror(errno));
    }
    rc = save(d);
    if (lock >= 0) {
        close(lock);
    }
    return rc;
}

static void
activate(struct gpx_appdir *d)
{
    make_store(d);
    __atomic_store_n(&d->active, 1, __ATOMIC_RELAXED); /* read by snapshot, on the publisher's thread */
    gpx_log(d->log,
            "gpx: the app's prometheus_client metrics in %s are served with gpx's, ended processes folded into %s",
            d->dir, d->store_name);
}

/* An ended process's file that does not read whole: left in place. */
static void
left_in_place(void *ctx, const char *file_name, enum gpx_pc_layout layout)
{
    struct gpx_appdir *d = ctx;
    struct gpx_app_report r;

    (void)layout;
    if (gpx_app_report_begin(&r) != 0) {
        return;
    }
    gpx_buf_printf(&r.key, "left\n%s", file_name);
    gpx_app_quote(&r.line, d->dir);
    gpx_buf_puts(&r.line, "/");
    gpx_app_quote(&r.line, file_name);
    gpx_buf_puts(&r.line, " of an ended process cannot be read whole (damaged, or a layout gpx does not know): it is "
                          "left in place, not folded, and shown as far as it can be read");
    gpx_app_report_end(&r, d->report, d->report_ctx);
}

static int
alive(void *ctx, pid_t pid)
{
    const struct gpx_appdir *d = ctx;

    return pid == d->master || !gpx_appstore_process_ended(pid);
}

static void
fold(struct gpx_appdir *d, time_t now)
{
    struct gpx_appstore_fold_result r;
    char err[PATH_MAX + 256];

    if (gpx_appstore_fold(&d->store, d->dirfd, d->store_name, d->lock_name, alive, left_in_place, d, &r, err,
                          sizeof(err)) != 0) {
        gpx_log(d->log, "gpx: %s", err);
    } else if (d->debug && (r.processes > 0 || r.files > 0)) {
        gpx_log(d->log, "gpx: debug: folded the app metrics of %u ended process(es), removed %u file(s)", r.processes,
                r.files);
    }
    d->waiting = r.waiting > 0;
    d->retry_at = now + GPX_APPDIR_RETRY_SECONDS;
}

/* -- the directory itself -------------------------------------------------- */

static int
open_dir(struct gpx_appdir *d)
{
    struct stat st;
    int fd = open(d->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0) {
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        close(fd);
        return -1;
    }
    if (d->dirfd >= 0) {
        close(d->dirfd);
    }
    d->dirfd = fd;
    d->dev = st.st_dev;
    d->ino = st.st_ino;
    return 0;
}

/* Follows the directory at the path: when another process removed it, it
 * is made again (while gpx keeps a store in it); when another directory
 * took its place, that one is taken. Either way the store is written into
 * it from memory: what the processes folded so far counted is not lost
 * with the old directory. Lines say what happened, and only that. */
static void
follow_dir(struct gpx_appdir *d)
{
    struct stat st;
    int removed = 0;

    if (stat(d->dir, &st) == 0) {
        if (S_ISDIR(st.st_mode) && st.st_dev == d->dev && st.st_ino == d->ino) {
            return;
        }
    } else {
        removed = errno == ENOENT;
    }
    if (removed && !d->active) {
        return; /* nothing of gpx's was in it: the directory is the app's to make */
    }
    if ((removed && gpx_file_make_dir(d->dir, d->uid, d->gid) != 0) || open_dir(d) != 0) {
        if (d->active && !d->dir_failing) {
            gpx_log(d->log,
                    removed ? "gpx: %s was removed by another process and cannot be made again (%s); the app's folded "
                              "totals are kept in memory until it can"
                            : "gpx: %s is no longer the directory gpx opened and cannot be opened (%s); the app's "
                              "folded totals are kept in memory until it can",
                    d->dir, strerror(errno));
        }
        d->dir_failing = 1;
        return;
    }
    d->dir_failing = 0;
    if (!d->active || make_store(d) != 0) {
        return; /* a failed save is said by save(); the next fold or cycle tries again */
    }
    /* Not "replaced" when gpx's scoreboard file made it again first: the
     * directory there now is another one, whoever made it. */
    gpx_log(d->log,
            removed ? "gpx: %s was removed by another process; gpx made it again and wrote the app's folded totals "
                      "into %s from memory"
                    : "gpx: %s is not the directory the app's folded totals were in (another process removed or "
                      "replaced it); gpx wrote them into %s in the directory there now, from memory",
            d->dir, d->store_name);
}

/* -- the master ------------------------------------------------------------ */

static int
remove_folded(void *ctx, int dirfd, const char *file, const struct gpx_pc_name *name)
{
    const struct gpx_appstore *st = ctx;

    if (gpx_appstore_pid_state(st, name->pid) == GPX_PID_FOLDED) {
        unlinkat(dirfd, file, 0);
    }
    return 0;
}

/* A cold start with gpx-cleanup-db-files: the store goes, and with it (as
 * with files storage's removal of every *.db) the files of the processes it
 * recorded. */
static void
start_fresh(struct gpx_appdir *d)
{
    size_t i;

    for (i = 0; i < d->store.pid_count; i++) {
        d->store.pids[i].state = GPX_PID_FOLDED;
    }
    each_app_file(d->dir, remove_folded, &d->store);
    unlinkat(d->dirfd, d->store_name, 0);
    gpx_appstore_free(&d->store);
    gpx_appstore_init(&d->store);
}

int
gpx_appdir_open(struct gpx_appdir *d, const struct gpx_appdir_options *o, time_t now, char *err, size_t errlen)
{
    int stored;

    memset(d, 0, sizeof(*d));
    d->dirfd = -1;
    if (snprintf(d->dir, sizeof(d->dir), "%s", o->dir) >= (int)sizeof(d->dir) ||
        snprintf(d->store_name, sizeof(d->store_name), "gpx_%s.appstore", o->instance) >= (int)sizeof(d->store_name) ||
        snprintf(d->lock_name, sizeof(d->lock_name), "gpx_%s.appstore.lock", o->instance) >=
            (int)sizeof(d->lock_name)) {
        gpx_set_error(err, errlen, "the app's store for %s in %s: path too long", o->instance, o->dir);
        return -1;
    }
    if (open_dir(d) != 0) {
        gpx_set_error(err, errlen, "cannot open %s: %s", d->dir, strerror(errno));
        return -1;
    }
    d->master = o->master;
    d->uid = o->uid;
    d->gid = o->gid;
    d->debug = o->debug;
    d->log = o->log;
    d->report = o->report;
    d->report_ctx = o->report_ctx;
    d->slots = o->slots;
    d->checked_at = now;
    pthread_mutex_init(&d->lock, NULL);
    gpx_appstore_init(&d->store);
    if (gpx_appstore_load(&d->store, d->dirfd, d->store_name) != 0) {
        gpx_log(d->log, "gpx: %s/%s is damaged: what could be read of it is kept", d->dir, d->store_name);
    }
    if (o->start_fresh) {
        start_fresh(d);
    }
    stored = faccessat(d->dirfd, d->store_name, F_OK, 0) == 0;
    if (d->store.epoch == 0.0) {
        d->store.epoch = gpx_appdir_new_epoch();
    }
    d->seen = calloc(d->slots + 1, sizeof(*d->seen));
    if (d->seen == NULL || gpx_appstore_note_pid(&d->store, d->master) < 0) {
        return -2;
    }
    if (stored || any_app_file(d)) {
        activate(d);
        /* The processes of the previous master (a reload or a restart) ended. */
        fold(d, now);
    }
    return gpx_appstore_copy(&d->baseline, &d->store) == 0 ? 0 : -2;
}

void
gpx_appdir_cycle(struct gpx_appdir *d, const pid_t *pids, time_t now)
{
    unsigned slot;
    int changed = 0, noted = 0;

    pthread_mutex_lock(&d->lock);
    for (slot = 0; slot < d->slots; slot++) {
        if (pids[slot] != d->seen[slot]) {
            d->seen[slot] = pids[slot];
            changed = 1;
            if (pids[slot] > 0) {
                noted += gpx_appstore_note_pid(&d->store, pids[slot]) == 1;
            }
        }
    }
    if (now != d->checked_at) {
        d->checked_at = now;
        follow_dir(d);
    }
    if (!d->active) {
        if ((changed || now >= d->retry_at) && any_app_file(d)) {
            activate(d);
            fold(d, now);
        } else if (changed || now >= d->retry_at) {
            d->retry_at = now + GPX_APPDIR_RETRY_SECONDS;
        }
    } else {
        if (noted) {
            save(d);
        }
        if (changed || (d->waiting && now >= d->retry_at)) {
            fold(d, now);
        }
    }
    pthread_mutex_unlock(&d->lock);
}

void
gpx_appdir_finish(struct gpx_appdir *d)
{
    pthread_mutex_lock(&d->lock);
    follow_dir(d);
    if (!d->active && any_app_file(d)) {
        activate(d);
    }
    if (d->active) {
        fold(d, time(NULL));
    }
    pthread_mutex_unlock(&d->lock);
}

int
gpx_appdir_render(const struct gpx_appdir *d, struct gpx_buf *out, enum gpx_format format,
                  const struct gpx_names *reserved, struct gpx_app_health *health)
{
    struct gpx_appmetrics_place place = {d->dir, d->store_name, d->lock_name};

    return gpx_appmetrics_render(out, &place, format, reserved, health);
}

/* -- Redis storage --------------------------------------------------------- */

static int
fold_live(void *ctx, int dirfd, const char *file, const struct gpx_pc_name *name)
{
    struct gpx_appstore *totals = ctx;
    void *data;
    size_t len;

    if (gpx_appstore_pid_state(totals, name->pid) == GPX_PID_OWN && gpx_pc_read_file(dirfd, file, &data, &len) == 0) {
        gpx_appstore_fold_file(totals, name, data, len);
        free(data);
    }
    return 0;
}

int
gpx_appdir_snapshot(struct gpx_appdir *d, struct gpx_buf *out)
{
    struct gpx_appstore totals;
    int fd, lock, rc;

    if (!__atomic_load_n(&d->active, __ATOMIC_RELAXED)) {
        return -1; /* nothing to publish yet */
    }
    /* By the path, not the master's descriptor: the master may be opening
     * the directory again meanwhile. */
    fd = open(d->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    gpx_appstore_init(&totals);
    lock = gpx_appstore_lock(fd, d->lock_name, 0);
    gpx_appstore_load(&totals, fd, d->store_name);
    each_app_file(d->dir, fold_live, &totals);
    if (lock >= 0) {
        close(lock);
    }
    close(fd);
    /* The pids are this host's business, not the published totals'. */
    totals.pid_count = 0;
    rc = gpx_appstore_encode(&totals, out);
    gpx_appstore_free(&totals);
    return rc;
}

int
gpx_appdir_restore(struct gpx_appdir *d, const void *blob, size_t len)
{
    struct gpx_appstore stored, before;
    int lock, rc = 0;

    gpx_appstore_init(&stored);
    if (gpx_appstore_decode(&stored, blob, len) != 0 || stored.epoch == 0.0) {
        gpx_appstore_free(&stored);
        return -1;
    }
    pthread_mutex_lock(&d->lock);
    if (stored.epoch != d->store.epoch && stored.epoch != d->store.adopted) {
        if (!d->active) {
            activate(d); /* before the lock: it takes it too */
        }
        lock = gpx_appstore_lock(d->dirfd, d->lock_name, 1);
        if (gpx_appstore_copy(&before, &d->store) != 0) {
            gpx_appstore_free(&before);
            rc = -1;
        } else if (gpx_appstore_rebase(&d->store, &d->baseline, &stored) != 0) {
            gpx_appstore_free(&before); /* the store is unchanged */
            rc = -1;
        } else {
            d->store.adopted = stored.epoch;
            rc = gpx_appstore_save(&d->store, d->dirfd, d->store_name);
            /* Saved, or back to what it was: nothing half taken. */
            gpx_appstore_free(rc == 0 ? &before : &d->store);
            if (rc != 0) {
                d->store = before;
            }
        }
        if (lock >= 0) {
            close(lock);
        }
        if (rc == 0) {
            gpx_log(d->log, "gpx: the app's metrics continue from the totals stored in Redis");
        }
    }
    pthread_mutex_unlock(&d->lock);
    gpx_appstore_free(&stored);
    return rc;
}
