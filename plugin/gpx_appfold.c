/* gpx_appfold.c - the app's prometheus_client metrics: folded by the master,
 * rendered by whoever serves /metrics.
 *
 * prometheus_client names its files by pid. The master records the pid of
 * each of its processes (itself and every worker) in the store
 * (src/gpx_appstore.h) as soon as it sees it, so that a reload, which
 * re-executes the master and forgets everything in memory, or a cold start
 * still knows which files are this server's: another server may share the
 * directory, and its files are never touched. When a worker's pid leaves
 * its slot, the master folds the files of every recorded process that has
 * ended. A process that has not ended yet (a recorded pid now held by an
 * unrelated process, say) is looked at again every few seconds.
 *
 * With Redis storage the store's totals, plus the values of the live
 * processes, are published beside gpx's own, and taken back at start when
 * they come from another store (a new host, same instance name): see
 * gpx_appfold_snapshot and gpx_appfold_restore.
 */
#include "gpx_glue.h"

#include <pthread.h>

#include "../src/gpx_apphealth.h"
#include "../src/gpx_appmetrics.h"
#include "../src/gpx_apprender.h"
#include "../src/gpx_appstore.h"
#include "../src/gpx_hash.h"

#define RETRY_SECONDS 5

static struct {
    int enabled;
    char dir[GPX_PATH_MAX];
    char store_name[GPX_TEXT_MAX + 32];
    char lock_name[GPX_TEXT_MAX + 40];
    int dirfd;
    struct gpx_appstore store;    /* the master's copy; the file is the truth for readers */
    struct gpx_appstore baseline; /* the store at start, after the first fold (Redis storage) */
    pthread_mutex_t lock;         /* the store: master cycle vs the Redis publisher's thread */
    pid_t *seen;                  /* per worker slot, the pid last seen */
    time_t retry_at;              /* when to look again: processes that had not ended, or a first file */
    int waiting;
    int active; /* the store exists: the app wrote prometheus_client files */
} app = {.dirfd = -1, .lock = PTHREAD_MUTEX_INITIALIZER};

/* Problems with the app's files and families, each logged once per
 * process: by the master (its metrics thread and its folds) and by a
 * worker that renders for the routing action. */
static struct gpx_app_log app_log;

/* A fork while another thread holds the set's lock would leave the child's
 * copy locked for good. */
static void
before_fork(void)
{
    pthread_mutex_lock(&app_log.lock);
}

static void
after_fork(void)
{
    pthread_mutex_unlock(&app_log.lock);
}

static void
problems_init(void)
{
    static int done;

    if (!done) {
        gpx_app_log_init(&app_log, gpx_glue_log);
        pthread_atfork(before_fork, after_fork, after_fork);
        done = 1;
    }
}

/* An ended process's file that does not read whole: left in place. */
static void
left_in_place(void *ctx, const char *file_name, enum gpx_pc_layout layout)
{
    struct gpx_app_report r;

    (void)ctx;
    (void)layout;
    if (gpx_app_report_begin(&r) != 0) {
        return;
    }
    gpx_buf_printf(&r.key, "left\n%s", file_name);
    gpx_app_quote(&r.line, app.dir);
    gpx_buf_puts(&r.line, "/");
    gpx_app_quote(&r.line, file_name);
    gpx_buf_puts(&r.line, " of an ended process cannot be read whole (damaged, or a layout gpx does not know): it is "
                          "left in place, not folded, and shown as far as it can be read");
    gpx_app_report_end(&r, gpx_app_log_report, &app_log);
}

static int
alive(void *ctx, pid_t pid)
{
    (void)ctx;
    return pid == getpid() || !gpx_appstore_process_ended(pid);
}

static void
fold(void)
{
    struct gpx_appstore_fold_result r;
    char err[512];

    if (gpx_appstore_fold(&app.store, app.dirfd, app.store_name, app.lock_name, alive, left_in_place, NULL, &r, err,
                          sizeof(err)) != 0) {
        uwsgi_log("gpx: %s\n", err);
    } else if (gpx.cfg.debug && (r.processes > 0 || r.files > 0)) {
        uwsgi_log("gpx: debug: folded the app metrics of %u ended process(es), removed %u file(s)\n", r.processes,
                  r.files);
    }
    app.waiting = r.waiting > 0;
    app.retry_at = uwsgi_now() + RETRY_SECONDS;
}

static void
save(void)
{
    if (gpx_appstore_save(&app.store, app.dirfd, app.store_name) != 0) {
        uwsgi_error("gpx_appfold/gpx_appstore_save()");
    }
}

/* The directory of the app's files: gpx's own with files storage; with
 * Redis storage, PROMETHEUS_MULTIPROC_DIR when the app was given one. */
static int
app_dir(void)
{
    struct stat st;

    if (gpx.cfg.redis_enabled && gpx.cfg.source[GPX_OPT_MULTIPROC_DIR] == GPX_FROM_DEFAULT) {
        return -1;
    }
    if (stat(gpx.cfg.multiproc_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return -1;
    }
    snprintf(app.dir, sizeof(app.dir), "%s", gpx.cfg.multiproc_dir);
    return 0;
}

/* A cold start with gpx-cleanup-db-files: the store goes, and with it (as
 * with files storage's removal of every *.db) the files of the processes it
 * recorded. */
static void
start_fresh(void)
{
    size_t i;
    DIR *dir;
    struct dirent *entry;

    for (i = 0; i < app.store.pid_count; i++) {
        app.store.pids[i].state = GPX_PID_FOLDED;
    }
    dir = opendir(app.dir);
    while (dir != NULL && (entry = readdir(dir)) != NULL) {
        struct gpx_pc_name name;

        if (gpx_pc_parse_name(entry->d_name, &name) == 0 &&
            gpx_appstore_pid_state(&app.store, name.pid) == GPX_PID_FOLDED) {
            unlinkat(app.dirfd, entry->d_name, 0);
        }
    }
    if (dir != NULL) {
        closedir(dir);
    }
    unlinkat(app.dirfd, app.store_name, 0);
    gpx_appstore_free(&app.store);
    gpx_appstore_init(&app.store);
}

static double
new_epoch(void)
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

/* Whether the directory holds any prometheus_client file. */
static int
any_app_file(void)
{
    struct gpx_pc_name name;
    struct dirent *entry;
    DIR *dir = opendir(app.dir);
    int found = 0;

    while (dir != NULL && !found && (entry = readdir(dir)) != NULL) {
        found = gpx_pc_parse_name(entry->d_name, &name) == 0;
    }
    if (dir != NULL) {
        closedir(dir);
    }
    return found;
}

/* The store and its lock exist from the first prometheus_client file on:
 * an app that does not use it gets no files from gpx beyond the scoreboard.
 * The pids seen meanwhile were kept in memory. */
static void
activate(void)
{
    uid_t uid = uwsgi.uid ? uwsgi.uid : (uid_t)-1;
    gid_t gid = uwsgi.gid ? uwsgi.gid : (gid_t)-1;
    int lock = gpx_appstore_lock(app.dirfd, app.lock_name, 1);

    if (lock < 0) {
        uwsgi_log("gpx: cannot create %s/%s: scrapes are not kept from seeing a fold half done\n", app.dir,
                  app.lock_name);
    } else if (geteuid() == 0 && (uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(lock, uid, gid) != 0) {
        uwsgi_error("gpx_appfold/fchown()");
    }
    save();
    if (lock >= 0) {
        close(lock);
    }
    app.active = 1;
    uwsgi_log("gpx: the app's prometheus_client metrics in %s are served with gpx's, ended processes folded into "
              "%s\n",
              app.dir, app.store_name);
}

void
gpx_appfold_init(void)
{
    int stored;

    problems_init();
    if (app_dir() != 0) {
        return;
    }
    snprintf(app.store_name, sizeof(app.store_name), "gpx_%s.appstore", gpx.cfg.instance);
    snprintf(app.lock_name, sizeof(app.lock_name), "gpx_%s.appstore.lock", gpx.cfg.instance);
    app.dirfd = open(app.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (app.dirfd < 0) {
        uwsgi_error("gpx_appfold_init()/open()");
        return;
    }
    gpx_appstore_init(&app.store);
    if (gpx_appstore_load(&app.store, app.dirfd, app.store_name) != 0) {
        uwsgi_log("gpx: %s/%s is damaged: what could be read of it is kept\n", app.dir, app.store_name);
    }
    if (gpx.cfg.cleanup_db_files && !uwsgi.is_a_reload) {
        start_fresh();
    }
    stored = faccessat(app.dirfd, app.store_name, F_OK, 0) == 0;
    if (app.store.epoch == 0.0) {
        app.store.epoch = new_epoch();
    }
    gpx_appstore_note_pid(&app.store, getpid());
    app.seen = uwsgi_calloc(sizeof(pid_t) * (size_t)(uwsgi.numproc + 1));
    app.enabled = 1;
    if (stored || any_app_file()) {
        activate();
        /* The processes of the previous master (a reload or a restart) ended. */
        fold();
    }
    if (gpx_appstore_copy(&app.baseline, &app.store) != 0) {
        uwsgi_log("gpx: out of memory reading %s\n", app.store_name);
        exit(1);
    }
}

void
gpx_appfold_cycle(void)
{
    int wid, changed = 0, noted = 0;
    time_t now = uwsgi_now();

    if (!app.enabled) {
        return;
    }
    pthread_mutex_lock(&app.lock);
    for (wid = 1; wid <= uwsgi.numproc; wid++) {
        pid_t pid = uwsgi.workers[wid].pid;

        if (pid != app.seen[wid]) {
            app.seen[wid] = pid;
            changed = 1;
            if (pid > 0) {
                noted += gpx_appstore_note_pid(&app.store, pid) == 1;
            }
        }
    }
    if (!app.active) {
        if ((changed || now >= app.retry_at) && any_app_file()) {
            activate();
            fold();
        } else if (changed || now >= app.retry_at) {
            app.retry_at = now + RETRY_SECONDS;
        }
    } else {
        if (noted) {
            save();
        }
        if (changed || (app.waiting && now >= app.retry_at)) {
            fold();
        }
    }
    pthread_mutex_unlock(&app.lock);
}

void
gpx_appfold_finish(void)
{
    if (!app.enabled) {
        return;
    }
    pthread_mutex_lock(&app.lock);
    if (!app.active && any_app_file()) {
        activate();
    }
    if (app.active) {
        fold();
    }
    pthread_mutex_unlock(&app.lock);
}

int
gpx_appfold_render(struct gpx_buf *out, enum gpx_format format, const struct gpx_names *reserved)
{
    struct gpx_appmetrics_place place = {app.dir, app.store_name, app.lock_name};
    struct gpx_app_health health;
    int rc = 0;

    memset(&health, 0, sizeof(health));
    health.report = gpx_app_log_report;
    health.report_ctx = &app_log;
    problems_init();
    if (app.enabled) {
        rc = gpx_appmetrics_render(out, &place, format, reserved, &health);
    }
    return rc == 0 ? gpx_apprender_health(out, format, &health) : rc;
}

/* -- Redis storage --------------------------------------------------------- */

int
gpx_appfold_enabled(void)
{
    return app.enabled;
}

/* The app's totals: the store plus what this server's live processes hold,
 * as if they were folded now. */
int
gpx_appfold_snapshot(void *ctx, struct gpx_buf *out)
{
    struct gpx_appstore totals;
    DIR *dir;
    struct dirent *entry;
    int lock, rc;

    (void)ctx;
    if (!app.active) {
        return -1; /* nothing to publish yet */
    }
    gpx_appstore_init(&totals);
    lock = gpx_appstore_lock(app.dirfd, app.lock_name, 0);
    gpx_appstore_load(&totals, app.dirfd, app.store_name);
    dir = opendir(app.dir);
    while (dir != NULL && (entry = readdir(dir)) != NULL) {
        struct gpx_pc_name name;
        void *data;
        size_t len;

        if (gpx_pc_parse_name(entry->d_name, &name) != 0 || gpx_appstore_pid_state(&totals, name.pid) != GPX_PID_OWN ||
            gpx_pc_read_file(app.dirfd, entry->d_name, &data, &len) != 0) {
            continue;
        }
        gpx_appstore_fold_file(&totals, &name, data, len);
        free(data);
    }
    if (dir != NULL) {
        closedir(dir);
    }
    if (lock >= 0) {
        close(lock);
    }
    /* The pids are this host's business, not the published totals'. */
    totals.pid_count = 0;
    rc = gpx_appstore_encode(&totals, out);
    gpx_appstore_free(&totals);
    return rc;
}

/* Totals published by this store are already counted here (a reload, a
 * restart on the same host). Totals of another store (a new host with the
 * same instance name, or this host's store gone) take the place of what
 * this store held at start, plus what it folded since. */
int
gpx_appfold_restore(void *ctx, const void *blob, size_t len)
{
    struct gpx_appstore stored;
    int lock, rc = 0;

    (void)ctx;
    gpx_appstore_init(&stored);
    if (gpx_appstore_decode(&stored, blob, len) != 0 || stored.epoch == 0.0) {
        gpx_appstore_free(&stored);
        return -1;
    }
    pthread_mutex_lock(&app.lock);
    if (stored.epoch != app.store.epoch && stored.epoch != app.store.adopted) {
        if (!app.active) {
            activate(); /* before the lock: it takes it too */
        }
        lock = gpx_appstore_lock(app.dirfd, app.lock_name, 1);
        rc = gpx_appstore_rebase(&app.store, &app.baseline, &stored);
        if (rc == 0) {
            app.store.adopted = stored.epoch;
            rc = gpx_appstore_save(&app.store, app.dirfd, app.store_name);
        }
        if (rc != 0) {
            /* Back to what the file holds: nothing half taken. */
            gpx_appstore_free(&app.store);
            gpx_appstore_init(&app.store);
            gpx_appstore_load(&app.store, app.dirfd, app.store_name);
        }
        if (lock >= 0) {
            close(lock);
        }
        if (rc == 0) {
            uwsgi_log("gpx: the app's metrics continue from the totals stored in Redis\n");
        }
    }
    pthread_mutex_unlock(&app.lock);
    gpx_appstore_free(&stored);
    return rc;
}
