/* gpx_storage_files.c - file storage: the board's copy in gpx-multiproc-dir.
 *
 * The board lives in anonymous memory and is restored from
 * <dir>/gpx_<instance>.scoreboard before the workers fork (gpx_boardfile.h
 * keeps that file whole whatever happens to it); the master copies the
 * board into it once a second and a last time at exit and before a reload.
 * A first start refuses a file it cannot make; a reload, which must not
 * take the app down, counts in memory and makes it as soon as it can.
 */
#define _GNU_SOURCE
#include "gpx_storage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gpx_boardfile.h"
#include "gpx_file.h"

/* Seconds between two copies of the board into its file: what a master
 * killed with SIGKILL can lose. */
#define SYNC_SECONDS 1

struct files {
    char path[GPX_PATH_MAX + 64];        /* the scoreboard file */
    struct gpx_boardfile file;           /* the master's handle on it */
    struct gpx_boardfile_status *status; /* shared: read by every renderer */
    enum gpx_boardfile_start start;      /* whether the counts continue from the file */
    double last_sync;                    /* monotonic seconds of the last copy */
};

static int
wanted(const struct gpx_config *cfg)
{
    (void)cfg;
    return 1;
}

/* The directory must exist before the app's prometheus_client writes in it,
 * and before the interpreters copy the environment. */
static int
prepare(struct gpx_storage *s, char *err, size_t errlen)
{
    const struct gpx_config *cfg = s->ctx.cfg;
    struct stat st;
    int existed = stat(cfg->multiproc_dir, &st) == 0;

    if (gpx_config_prepare_dir(cfg, err, errlen) != 0) {
        /* A reload must not take the app down: the board counts in memory
         * and the file is made when the directory can be. */
        if (!s->ctx.reload) {
            return -1;
        }
        s->ctx.log(err);
    }
    /* A directory gpx made as root must stay usable after the drop. */
    if (!existed && gpx_file_give(-1, cfg->multiproc_dir, s->ctx.uid, s->ctx.gid) != 0) {
        s->ctx.log_errno("gpx_storage_files/chown()");
    }
    /* The app's prometheus_client writes where gpx reads. */
    if (cfg->source[GPX_OPT_MULTIPROC_DIR] == GPX_FROM_OPTION && !cfg->variable_set[GPX_OPT_MULTIPROC_DIR]) {
        setenv(gpx_option_catalog[GPX_OPT_MULTIPROC_DIR].variable, cfg->multiproc_dir, 1);
    }
    return 0;
}

/* A cold start with gpx-cleanup-db-files: this server's scoreboard, its
 * store of the app's ended processes and prometheus_client's *.db files. */
static void
cleanup_dir(const struct gpx_storage *s, const char *board_path)
{
    const struct gpx_config *cfg = s->ctx.cfg;
    char store[GPX_PATH_MAX + GPX_TEXT_MAX + 16], line[GPX_PATH_MAX + 128];
    struct dirent *entry;
    unsigned removed = 0;
    DIR *dir;

    if (unlink(board_path) == 0) {
        removed++;
    }
    /* The app's folded totals start from zero with its files. */
    snprintf(store, sizeof(store), "%s/gpx_%s.appstore", cfg->multiproc_dir, cfg->instance);
    if (unlink(store) == 0) {
        removed++;
    }
    dir = opendir(cfg->multiproc_dir);
    if (dir == NULL) {
        return;
    }
    while ((entry = readdir(dir)) != NULL) {
        size_t len = strlen(entry->d_name);

        if (len > 3 && strcmp(entry->d_name + len - 3, ".db") == 0 && unlinkat(dirfd(dir), entry->d_name, 0) == 0) {
            removed++;
        }
    }
    closedir(dir);
    snprintf(line, sizeof(line), "gpx: cold start with gpx-cleanup-db-files: removed %u file(s) from %s", removed,
             cfg->multiproc_dir);
    s->ctx.log(line);
}

static int
open_files(struct gpx_storage *s, struct gpx_scoreboard *board, unsigned workers, unsigned cores, char *err,
           size_t errlen)
{
    const struct gpx_config *cfg = s->ctx.cfg;
    char why[PATH_MAX + 512];
    struct gpx_boardfile_options o;
    struct files *f = calloc(1, sizeof(*f));

    if (f == NULL) {
        snprintf(err, errlen, "gpx: out of memory opening file storage");
        return -1;
    }
    if (gpx_scoreboard_path(f->path, sizeof(f->path), cfg->multiproc_dir, cfg->instance) != 0) {
        snprintf(err, errlen, "gpx: the scoreboard path for %s in %s is too long", cfg->instance, cfg->multiproc_dir);
        free(f);
        return -1;
    }
    if (cfg->cleanup_db_files && !s->ctx.reload) {
        cleanup_dir(s, f->path);
    }
    memset(&o, 0, sizeof(o));
    o.path = f->path;
    o.workers = workers;
    o.cores = cores;
    o.uid = s->ctx.uid;
    o.gid = s->ctx.gid;
    o.keep_going = s->ctx.reload;
    o.retry_seconds = SYNC_SECONDS;
    o.status = f->status = s->ctx.shared_calloc(sizeof(*f->status));
    o.log = s->ctx.log;
    if (gpx_boardfile_open(&f->file, board, &o, &f->start, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "gpx: %s", why);
        free(f);
        return -1;
    }
    s->board = board;
    s->state = f;
    return 0;
}

/* Where, and whether the counters continue: claimed only when they do. */
static void
describe(const struct gpx_storage *s)
{
    const struct files *f = s->state;
    char line[GPX_PATH_MAX + 256];
    const char *how;

    if (f->start == GPX_BOARDFILE_CONTINUED) {
        how = s->ctx.reload ? "reload: counters continue" : "counters continue from the file";
    } else if (s->ctx.reload) {
        how = "reload, but no file held the previous master's counters: they begin at zero";
    } else {
        how = "new file: counters begin at zero";
    }
    snprintf(line, sizeof(line), "gpx: storage files, scoreboard %s (%s)", f->path, how);
    s->ctx.log(line);
}

static void
start(struct gpx_storage *s, const struct gpx_storage_app *app)
{
    (void)s;
    (void)app; /* the app's totals are in their own file (gpx_appstore.h) */
}

/* Copies the board into its file. The file's own lines say what went
 * wrong, once; a failed last copy says what the next start will find. */
static int
sync_file(struct gpx_storage *s, int final)
{
    struct files *f = s->state;
    char err[PATH_MAX + 256], line[PATH_MAX + 512];
    struct timespec ts;
    double now;

    if (f == NULL || f->file.image == NULL) {
        return -1;
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    if (!final && now - f->last_sync < SYNC_SECONDS) {
        return 0;
    }
    f->last_sync = now;
    if (gpx_boardfile_sync(&f->file, s->board, final, err, sizeof(err)) == 0) {
        return 0;
    }
    if (final) {
        time_t written_at;

        if (gpx_boardfile_holds_counts(&f->file, &written_at)) {
            snprintf(line, sizeof(line),
                     "gpx: %s; the file holds the counts of %lld s ago, which the next start continues from", err,
                     (long long)(time(NULL) - written_at));
        } else {
            snprintf(line, sizeof(line),
                     "gpx: %s; the counts of this master are not in any file, the next start cannot continue them",
                     err);
        }
        s->ctx.log(line);
    }
    return -1;
}

static void
persist(struct gpx_storage *s)
{
    sync_file(s, 0);
}

static void
close_files(struct gpx_storage *s)
{
    const struct files *f = s->state;
    char line[GPX_PATH_MAX + 128];

    if (sync_file(s, 1) == 0) {
        snprintf(line, sizeof(line), "gpx: counters kept in %s for the next start", f->path);
        s->ctx.log(line);
    }
}

/* Only the master writes the file; a descriptor held by a worker would keep
 * a removed file's space in use until the worker ends. */
static void
after_fork(struct gpx_storage *s)
{
    struct files *f = s->state;

    if (f != NULL) {
        gpx_boardfile_close(&f->file);
    }
}

static void
health(const struct gpx_storage *s, struct gpx_storage_health *out)
{
    const struct files *f = s->state;
    unsigned op;

    memset(out, 0, sizeof(*out));
    if (f == NULL || f->status == NULL) {
        return;
    }
    out->up = __atomic_load_n(&f->status->up, __ATOMIC_RELAXED);
    out->operations = GPX_BOARDFILE_OPS;
    for (op = 0; op < GPX_BOARDFILE_OPS; op++) {
        out->labels[op] = gpx_boardfile_op_labels[op];
        out->errors[op] = __atomic_load_n(&f->status->errors[op], __ATOMIC_RELAXED);
    }
}

_Static_assert(GPX_BOARDFILE_OPS <= GPX_STORAGE_OPS_MAX, "file storage counts more operations than health holds");

const struct gpx_storage_ops gpx_storage_files = {
    .name = "files",
    .owns_directory = 1,
    .wanted = wanted,
    .prepare = prepare,
    .open = open_files,
    .describe = describe,
    .start = start,
    .persist = persist,
    .close = close_files,
    .after_fork = after_fork,
    .health = health,
    .fleet = NULL, /* one server's file: /metrics/fleet answers 404 */
};
