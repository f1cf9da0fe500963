/* gpx_appfold.c - the app's prometheus_client metrics: what uWSGI tells
 * src/gpx_appdir (where the directory is, who the workers are, when the
 * master cycles and ends), and the renderer's entry for anyone serving
 * /metrics. The decisions (which files are this server's, when to fold,
 * what to publish to Redis and take back) are gpx_appdir's.
 */
#include "gpx_glue.h"

#include <pthread.h>

#include "../src/gpx_appdir.h"
#include "../src/gpx_apphealth.h"
#include "../src/gpx_apprender.h"

static struct {
    int enabled;
    struct gpx_appdir dir;
    pid_t *pids; /* per worker slot, the pid now: handed to each cycle */
} app;

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

/* The directory of the app's files: gpx's own when the storage keeps its
 * files there (files storage); else (Redis) PROMETHEUS_MULTIPROC_DIR when
 * the app was given one. */
static const char *
app_dir(void)
{
    struct stat st;

    if (!gpx.storage.ops->owns_directory && gpx.cfg.source[GPX_OPT_MULTIPROC_DIR] == GPX_FROM_DEFAULT) {
        return NULL;
    }
    if (stat(gpx.cfg.multiproc_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return NULL;
    }
    return gpx.cfg.multiproc_dir;
}

void
gpx_appfold_init(void)
{
    struct gpx_appdir_options o;
    char err[PATH_MAX + 128];
    int rc;

    problems_init();
    memset(&o, 0, sizeof(o));
    o.dir = app_dir();
    if (o.dir == NULL) {
        return;
    }
    o.instance = gpx.cfg.instance;
    o.master = getpid();
    o.slots = (unsigned)uwsgi.numproc;
    gpx_glue_workers_owner(&o.uid, &o.gid);
    o.start_fresh = gpx.cfg.cleanup_db_files && !uwsgi.is_a_reload;
    o.debug = gpx.cfg.debug;
    o.log = gpx_glue_log;
    o.report = gpx_app_log_report;
    o.report_ctx = &app_log;
    rc = gpx_appdir_open(&app.dir, &o, uwsgi_now(), err, sizeof(err));
    if (rc == -1) {
        uwsgi_log("gpx: %s: the app's prometheus_client metrics are not served\n", err);
        return;
    }
    if (rc != 0) {
        uwsgi_log("gpx: out of memory reading %s/%s\n", app.dir.dir, app.dir.store_name);
        exit(1);
    }
    app.pids = uwsgi_calloc(sizeof(pid_t) * (size_t)(uwsgi.numproc + 1));
    app.enabled = 1;
}

void
gpx_appfold_cycle(void)
{
    int wid;

    if (!app.enabled) {
        return;
    }
    for (wid = 1; wid <= uwsgi.numproc; wid++) {
        app.pids[wid - 1] = uwsgi.workers[wid].pid;
    }
    gpx_appdir_cycle(&app.dir, app.pids, uwsgi_now());
}

void
gpx_appfold_finish(void)
{
    if (app.enabled) {
        gpx_appdir_finish(&app.dir);
    }
}

int
gpx_appfold_render(struct gpx_buf *out, enum gpx_format format, const struct gpx_names *reserved)
{
    struct gpx_app_health health;
    int rc = 0;

    memset(&health, 0, sizeof(health));
    health.report = gpx_app_log_report;
    health.report_ctx = &app_log;
    problems_init();
    if (app.enabled) {
        rc = gpx_appdir_render(&app.dir, out, format, reserved, &health);
    }
    return rc == 0 ? gpx_apprender_health(out, format, &health) : rc;
}

/* -- Redis storage --------------------------------------------------------- */

int
gpx_appfold_enabled(void)
{
    return app.enabled;
}

int
gpx_appfold_snapshot(void *ctx, struct gpx_buf *out)
{
    (void)ctx;
    return gpx_appdir_snapshot(&app.dir, out);
}

int
gpx_appfold_restore(void *ctx, const void *blob, size_t len)
{
    (void)ctx;
    return gpx_appdir_restore(&app.dir, blob, len);
}
