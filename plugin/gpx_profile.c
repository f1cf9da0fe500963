/* gpx_profile.c - what the uwsgi-exporter profile needs from uWSGI.
 *
 * Copies, at scrape time, the fields uWSGI's stats server reads for its
 * JSON (core/master_utils.c, uwsgi_master_generate_stats) into the plain
 * view of src/gpx_profile_uwsgi.h: the same fields, the same units, the
 * same status rules, so that each value equals what the stats server would
 * answer at that moment. At exit and before a reload's re-exec, adds the
 * slots' per-worker and per-app counters to the scoreboard's carried words,
 * which the storage keeps for the next master.
 */
#include "gpx_glue.h"

#include <sys/ioctl.h>

#include "../src/gpx_profile_uwsgi.h"

/* Bytes waiting on a signal pipe (the stats server's "signal_queue"). */
static uint64_t
pipe_queue(int fd)
{
    int n = 0;

    if (fd < 0 || ioctl(fd, FIONREAD, &n) != 0 || n < 0) {
        return 0;
    }
    return (uint64_t)n;
}

/* The stats server's `status`, in its order of tests. */
static enum gpx_ue_status
worker_status(int w)
{
    const struct uwsgi_worker *uw = &uwsgi.workers[w];

    if (uw->cheaped) {
        return GPX_UE_CHEAP;
    }
    if (uw->suspended && !uwsgi_worker_is_busy(w)) {
        return GPX_UE_PAUSE;
    }
    if (uw->sig) {
        return GPX_UE_SIG;
    }
    return uwsgi_worker_is_busy(w) ? GPX_UE_BUSY : GPX_UE_IDLE;
}

static uint64_t
worker_exceptions(int w)
{
    uint64_t total = 0;
    int c;

    for (c = 0; c < uwsgi.cores; c++) {
        total += uwsgi.workers[w].cores[c].exceptions;
    }
    return total;
}

static void
worker_counters(int w, uint64_t out[GPX_UE_COUNTERS])
{
    const struct uwsgi_worker *uw = &uwsgi.workers[w];

    out[GPX_UE_REQUESTS] = uw->requests;
    out[GPX_UE_EXCEPTIONS] = worker_exceptions(w);
    out[GPX_UE_HARAKIRI_COUNT] = uw->harakiri_count;
    out[GPX_UE_SIGNALS] = uw->signals;
    out[GPX_UE_RESPAWN_COUNT] = uw->respawn_count;
    out[GPX_UE_TX] = uw->tx;
}

/* An app's mountpoint and chdir as strings (uWSGI keeps the mountpoint with a
 * length, not a NUL). */
struct app_text {
    char mountpoint[0x100];
    char chdir[0x100];
};

struct copies {
    struct gpx_ue_worker *workers;
    struct gpx_ue_app *apps;
    struct app_text *texts;
    struct gpx_ue_core *cores;
    struct gpx_ue_socket *sockets;
    struct gpx_ue_cache *caches;
};

static void
free_copies(struct copies *c)
{
    free(c->workers);
    free(c->apps);
    free(c->texts);
    free(c->cores);
    free(c->sockets);
    free(c->caches);
}

static void
copy_apps(struct gpx_ue_worker *k, int w, struct gpx_ue_app *apps, struct app_text *texts)
{
    const struct uwsgi_worker *uw = &uwsgi.workers[w];
    int a, n = uw->apps_cnt > 0 ? uw->apps_cnt : 0;

    for (a = 0; a < n; a++) {
        const struct uwsgi_app *ua = &uw->apps[a];
        size_t len = ua->mountpoint_len > 0 ? (size_t)ua->mountpoint_len : 0;

        if (len >= sizeof(texts[a].mountpoint)) {
            len = sizeof(texts[a].mountpoint) - 1;
        }
        memcpy(texts[a].mountpoint, ua->mountpoint, len);
        texts[a].mountpoint[len] = '\0';
        snprintf(texts[a].chdir, sizeof(texts[a].chdir), "%s", ua->chdir);
        apps[a].mountpoint = texts[a].mountpoint;
        apps[a].chdir = texts[a].chdir;
        apps[a].startup_time = (uint64_t)ua->startup_time;
        apps[a].requests = ua->requests;
        apps[a].exceptions = ua->exceptions;
    }
    k->apps = apps;
    k->app_count = (unsigned)n;
}

static void
copy_cores(struct gpx_ue_worker *k, int w, struct gpx_ue_core *cores)
{
    int c;

    for (c = 0; c < uwsgi.cores; c++) {
        const struct uwsgi_core *uc = &uwsgi.workers[w].cores[c];

        cores[c].in_request = (uint64_t)uc->in_request;
        cores[c].requests = uc->requests;
        cores[c].static_requests = uc->static_requests;
        cores[c].routed_requests = uc->routed_requests;
        cores[c].offloaded_requests = uc->offloaded_requests;
        cores[c].write_errors = uc->write_errors;
        cores[c].read_errors = uc->read_errors;
    }
    k->cores = cores;
}

static int
copy_workers(struct copies *cp, struct gpx_ue_view *v)
{
    size_t apps = 0, app_at = 0;
    int w, n = uwsgi.numproc;
    unsigned a;

    for (w = 1; w <= n; w++) {
        apps += uwsgi.workers[w].apps_cnt > 0 ? (size_t)uwsgi.workers[w].apps_cnt : 0;
    }
    cp->workers = calloc((size_t)n + 1, sizeof(*cp->workers));
    cp->apps = calloc(apps + 1, sizeof(*cp->apps));
    cp->texts = calloc(apps + 1, sizeof(*cp->texts));
    cp->cores = v->collect_cores ? calloc((size_t)n * (size_t)uwsgi.cores + 1, sizeof(*cp->cores)) : NULL;
    if (cp->workers == NULL || cp->apps == NULL || cp->texts == NULL || (v->collect_cores && cp->cores == NULL)) {
        return -1;
    }
    for (w = 1; w <= n; w++) {
        const struct uwsgi_worker *uw = &uwsgi.workers[w];
        struct gpx_ue_worker *k = &cp->workers[w - 1];

        k->id = uw->id;
        k->status = worker_status(w);
        k->accepting = (uint64_t)uw->accepting;
        k->delta_requests = uw->delta_requests;
        k->signal_queue = pipe_queue(uw->signal_pipe[1]);
        k->rss = uw->rss_size;
        k->vsz = uw->vsz_size;
        k->running_time_us = uw->running_time;
        k->last_spawn = (uint64_t)uw->last_spawn;
        k->avg_rt_us = uw->avg_response_time;
        /* Once carried into the slot (at exit), the slot's words hold them. */
        if (!gpx.profile_carried) {
            worker_counters(w, k->counters);
        }
        copy_apps(k, w, &cp->apps[app_at], &cp->texts[app_at]);
        for (a = 0; gpx.profile_carried && a < k->app_count; a++) {
            cp->apps[app_at + a].requests = 0; /* the slot's carried words hold them now */
            cp->apps[app_at + a].exceptions = 0;
        }
        app_at += k->app_count;
        k->core_count = (unsigned)uwsgi.cores;
        if (v->collect_cores) {
            copy_cores(k, w, &cp->cores[(size_t)(w - 1) * (size_t)uwsgi.cores]);
        }
    }
    v->workers = cp->workers;
    v->worker_count = (unsigned)n;
    return 0;
}

static int
copy_sockets(struct copies *cp, struct gpx_ue_view *v)
{
    struct uwsgi_socket *us;
    unsigned n = 0;

    for (us = uwsgi.sockets; us != NULL; us = us->next) {
        n++;
    }
    cp->sockets = calloc(n + 1, sizeof(*cp->sockets));
    if (cp->sockets == NULL) {
        return -1;
    }
    n = 0;
    for (us = uwsgi.sockets; us != NULL; us = us->next) {
        struct gpx_ue_socket *s = &cp->sockets[n++];

        s->name = us->name != NULL ? us->name : "";
        s->proto = us->proto_name != NULL ? us->proto_name : "uwsgi";
        s->queue = (uint64_t)us->queue;
        s->max_queue = (uint64_t)us->max_queue;
        s->shared = (uint64_t)us->shared;
        s->can_offload = (uint64_t)us->can_offload;
    }
    v->sockets = cp->sockets;
    v->socket_count = n;
    return 0;
}

static int
copy_caches(struct copies *cp, struct gpx_ue_view *v)
{
    struct uwsgi_cache *uc;
    unsigned n = 0;

    for (uc = uwsgi.caches; uc != NULL; uc = uc->next) {
        n++;
    }
    cp->caches = calloc(n + 1, sizeof(*cp->caches));
    if (cp->caches == NULL) {
        return -1;
    }
    n = 0;
    for (uc = uwsgi.caches; uc != NULL; uc = uc->next) {
        struct gpx_ue_cache *c = &cp->caches[n++];

        c->name = uc->name != NULL ? uc->name : "default";
        c->hits = uc->hits;
        c->miss = uc->miss;
        c->full = uc->full;
        c->items = uc->n_items;
        c->max_items = uc->max_items;
    }
    v->caches = cp->caches;
    v->cache_count = n;
    return 0;
}

int
gpx_glue_profile_render(struct gpx_buf *out, enum gpx_format format)
{
    struct gpx_ue_view v;
    struct copies cp;
    int rc = -1;

    memset(&v, 0, sizeof(v));
    memset(&cp, 0, sizeof(cp));
    v.stats_uri = gpx.cfg.stats_uri;
    v.collect_cores = gpx.cfg.collect_cores;
    v.listen_queue = uwsgi.shared->backlog;
    v.listen_queue_errors = uwsgi.shared->backlog_errors;
    v.signal_queue = pipe_queue(uwsgi.shared->worker_signal_pipe[1]);
    v.board = &gpx.board;
    v.base = gpx_storage_base(&gpx.storage);
    v.scrapes = gpx.profile_scrapes;
    v.scrape_seconds_sum = gpx.profile_scrape_seconds;
    if (copy_workers(&cp, &v) == 0 && copy_sockets(&cp, &v) == 0 && copy_caches(&cp, &v) == 0) {
        rc = gpx_ue_render(out, &v, format);
    }
    free_copies(&cp);
    return rc;
}

void
gpx_glue_profile_carry(void)
{
    int w, a;

    if (gpx.profile_carried || gpx.board.base == NULL) {
        return;
    }
    for (w = 1; w <= uwsgi.numproc && (unsigned)w <= gpx.board.workers; w++) {
        struct gpx_slot *slot = gpx_scoreboard_slot(&gpx.board, (unsigned)w);
        const struct uwsgi_worker *uw = &uwsgi.workers[w];
        uint64_t live[GPX_UE_COUNTERS];

        worker_counters(w, live);
        gpx_ue_carry_worker(slot, live);
        for (a = 0; a < uw->apps_cnt; a++) {
            gpx_ue_carry_app(slot, (unsigned)a, uw->apps[a].requests, uw->apps[a].exceptions);
        }
    }
    gpx.profile_carried = 1;
}
