/* gpx_metrics.c - what the renderer needs from uWSGI, and the `gpx` route.
 *
 * gpx_glue_render runs on the master's metrics thread (and in a worker for
 * the routing action): it reads uWSGI's shared worker table into plain views
 * and hands them with the scoreboard to src/gpx_exposition. Sampling of
 * /proc happens in the master's cycle, at most once a second.
 */
#include "gpx_glue.h"

#include "../src/gpx_exposition.h"
#include "../src/gpx_fleet.h"
#include "../src/gpx_netstat.h"
#include "../src/gpx_procstat.h"
#include "../src/gpx_profile_uwsgi.h"
#include "../src/gpx_protobuf.h"

static double
monotonic_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
gpx_glue_sample(void)
{
    double now = monotonic_seconds();
    unsigned w;

    if (gpx.samples == NULL || now - gpx.last_sample < 1.0) {
        return;
    }
    gpx.last_sample = now;
    for (w = 1; w <= gpx.workers; w++) {
        struct gpx_sample *s = &gpx.samples[w];
        struct gpx_procstat ps;
        pid_t pid = uwsgi.workers[w].pid;

        if (pid <= 0 || gpx_procstat_read(pid, &ps) != 0) {
            s->pid = 0;
            continue;
        }
        /* CPU percent needs two samples of the same process. */
        if (s->pid == pid && now > s->sampled_at) {
            s->cpu_percent = 100.0 * (ps.cpu_seconds - s->cpu_seconds) / (now - s->sampled_at);
        } else {
            s->cpu_percent = 0.0;
        }
        s->pid = pid;
        s->rss_bytes = ps.rss_bytes;
        s->cpu_seconds = ps.cpu_seconds;
        s->sampled_at = now;
    }
}

enum gpx_worker_state
gpx_glue_worker_state(const struct uwsgi_worker *uw)
{
    int c;

    if (uw->cheaped) {
        return GPX_STATE_CHEAP;
    }
    if (uw->pid <= 0 || uw->cursed_at > 0 || !uw->manage_next_request) {
        return GPX_STATE_STOPPING;
    }
    if (uw->suspended) {
        return GPX_STATE_PAUSED;
    }
    if (uw->sig) {
        return GPX_STATE_BUSY;
    }
    for (c = 0; c < uwsgi.cores; c++) {
        if (uw->cores[c].in_request) {
            return GPX_STATE_BUSY;
        }
    }
    return GPX_STATE_IDLE;
}

/* The endpoint label: the application's mountpoint, as its worker loaded it. */
static const char *
endpoint_name(void *ctx, unsigned worker, unsigned app_id)
{
    static char name[0x100];
    const struct uwsgi_worker *uw = &uwsgi.workers[worker <= gpx.workers ? worker : 0];
    const struct uwsgi_app *app;

    (void)ctx;
    if ((int)app_id >= uw->apps_cnt) {
        uw = &uwsgi.workers[0];
        if ((int)app_id >= uw->apps_cnt) {
            return NULL;
        }
    }
    app = &uw->apps[app_id];
    memcpy(name, app->mountpoint, app->mountpoint_len);
    name[app->mountpoint_len] = '\0';
    return name;
}

/* The accept queues of uWSGI's TCP listeners, read now (TCP_INFO). UNIX
 * sockets have no such reading and are left out. */
static struct gpx_listener_view *
read_listeners(unsigned *count)
{
    struct uwsgi_socket *us;
    struct gpx_listener_view *views;
    unsigned n = 0;

    for (us = uwsgi.sockets; us != NULL; us = us->next) {
        n++;
    }
    views = calloc(n + 1, sizeof(*views));
    *count = 0;
    if (views == NULL) {
        return NULL;
    }
    for (us = uwsgi.sockets; us != NULL; us = us->next) {
        struct gpx_listener_view *v = &views[*count];

        if (us->fd >= 0 && gpx_tcp_listen_queue(us->fd, &v->queued, &v->limit) == 0) {
            v->name = us->name;
            (*count)++;
        }
    }
    return views;
}

/* Reads the workers' views (views[0] is slot 1, n of them at most) and
 * counts the requests in progress and the workers the master aims for. */
static void
read_workers(struct gpx_worker_view *views, unsigned n, unsigned *in_progress, unsigned *desired)
{
    time_t now = uwsgi_now();
    unsigned w;
    int c;

    *in_progress = 0;
    *desired = 0;
    for (w = 1; w <= gpx.workers; w++) {
        const struct uwsgi_worker *uw = &uwsgi.workers[w];
        const struct gpx_sample *s = &gpx.samples[w];
        struct gpx_worker_view v;

        memset(&v, 0, sizeof(v));
        v.state = gpx_glue_worker_state(uw);
        *desired += !uw->cheaped;
        v.live = uw->pid > 0;
        if (v.live) {
            v.uptime_seconds = now > uw->last_spawn ? (double)(now - uw->last_spawn) : 0.0;
            if (s->pid == uw->pid) {
                v.memory_bytes = s->rss_bytes;
                v.cpu_percent = s->cpu_percent;
                v.cpu_seconds = s->cpu_seconds;
            }
            for (c = 0; c < uwsgi.cores; c++) {
                *in_progress += uw->cores[c].in_request != 0;
            }
        }
        if (w <= n) {
            views[w - 1] = v;
        }
    }
}

void
gpx_glue_live(struct gpx_storage_live *out)
{
    struct gpx_listener_view *listeners;
    unsigned count = 0, i;

    out->configured = gpx.workers;
    read_workers(out->workers, out->worker_count, &out->in_progress, &out->workers_desired);
    listeners = read_listeners(&count);
    out->listener_count = 0;
    for (i = 0; listeners != NULL && i < count && i < GPX_STORAGE_LISTENERS_MAX; i++) {
        out->listeners[out->listener_count++] = listeners[i];
    }
    free(listeners);
}

static int
render_local(struct gpx_buf *out, enum gpx_format format)
{
    struct gpx_exposition x;
    struct gpx_storage_health health;
    struct gpx_listener_view *listeners;
    struct gpx_worker_view *views;
    struct gpx_names reserved;
    double started = monotonic_seconds();
    unsigned f, in_progress = 0;
    int rc, rc_names = 0;

    memset(&x, 0, sizeof(x));
    views = calloc(gpx.workers, sizeof(*views));
    if (views == NULL) {
        return GPX_HTTP_ERROR;
    }
    read_workers(views, gpx.workers, &in_progress, &x.workers_desired);
    x.format = format;
    x.board = &gpx.board;
    x.workers = views;
    x.worker_count = gpx.workers;
    x.in_progress = in_progress;
    x.endpoint = endpoint_name;
    x.master_start_time = gpx.master_start;
    x.last_scrape_seconds = gpx.last_scrape_seconds;
    x.version = GPX_VERSION;
    x.uwsgi_version = UWSGI_VERSION;
    gpx.storage.ops->health(&gpx.storage, &health);
    x.storage = gpx.storage.ops->name;
    x.storage_up = gpx.recording && health.up;
    x.storage_errors = health.errors;
    x.storage_error_labels = health.labels;
    x.storage_error_count = health.operations;
    x.endpoint_reload_errors = gpx_reload_errors(&gpx.reload);
    x.base = gpx_storage_base(&gpx.storage);
    listeners = read_listeners(&x.listener_count);
    x.listeners = listeners;
    x.have_listen_overflows = gpx_listen_overflows(&x.listen_overflows) == 0;
    /* The app's families keep off every name gpx's own and uWSGI's claim;
     * uWSGI's metrics subsystem off uwsgi_exporter's (gpx-profile = both). */
    gpx_names_init(&reserved);
    for (f = 0; f < GPX_FAMILY_COUNT && rc_names == 0; f++) {
        rc_names = gpx_names_reserve(&reserved, gpx_families[f].name, gpx_families[f].type);
    }
    if (rc_names == 0 && (gpx.profile & GPX_PROFILE_UWSGI_EXPORTER)) {
        rc_names = gpx_ue_reserve(&reserved);
    }
    rc = rc_names == 0 ? gpx_render(out, &x) : -1;
    if (rc == 0 && (gpx.profile & GPX_PROFILE_UWSGI_EXPORTER)) {
        rc = gpx_glue_profile_render(out, format);
    }
    if (rc == 0 && (gpx.profile & GPX_PROFILE_GUNICORN)) {
        rc = gpx_glue_uwsgi_metrics(out, format, &reserved);
    }
    rc = rc == 0 ? gpx_appfold_render(out, format, &reserved) : rc;
    gpx_names_free(&reserved);
    free(listeners);
    free(views);
    gpx.last_scrape_seconds = monotonic_seconds() - started;
    gpx.profile_scrapes++;
    gpx.profile_scrape_seconds += gpx.last_scrape_seconds;
    return rc == 0 ? GPX_HTTP_OK : GPX_HTTP_ERROR;
}

static int
render_page(const char *path, enum gpx_format format, struct gpx_buf *out)
{
    if (strcmp(path, "/metrics") == 0) {
        return render_local(out, format);
    }
    if (strcmp(path, "/metrics/fleet") == 0 && gpx.storage.ops->fleet != NULL) {
        int rc = gpx.storage.ops->fleet(&gpx.storage, out, format);

        return rc == GPX_FLEET_OK ? GPX_HTTP_OK : rc == GPX_FLEET_UNAVAILABLE ? GPX_HTTP_UNAVAILABLE : GPX_HTTP_ERROR;
    }
    return GPX_HTTP_NOT_FOUND;
}

/* The protobuf page: the text page, rendered first, as MetricFamily
 * messages (gpx_protobuf.h). */
static int
render_protobuf(const char *path, struct gpx_buf *out)
{
    struct gpx_buf text;
    int rc;

    if (gpx_buf_init(&text, 64 * 1024) != 0) {
        return GPX_HTTP_ERROR;
    }
    rc = render_page(path, GPX_FORMAT_PROTOBUF, &text);
    if (rc == GPX_HTTP_OK && (text.failed || gpx_protobuf_from_text(out, text.data, text.len) != 0)) {
        rc = GPX_HTTP_ERROR;
    }
    gpx_buf_free(&text);
    return rc;
}

int
gpx_glue_render(void *ctx, const char *path, enum gpx_format format, struct gpx_buf *out, const char **content_type)
{
    int rc;

    (void)ctx;
    if (format == GPX_FORMAT_PROTOBUF) {
        rc = render_protobuf(path, out);
        *content_type = GPX_PROTOBUF_CONTENT_TYPE;
        return rc;
    }
    rc = render_page(path, format, out);
    if (rc != GPX_HTTP_OK) {
        return rc;
    }
    /* OpenMetrics' "# EOF" after every family: gpx's, uWSGI's and the app's. */
    if (gpx_render_end(out, format) != 0) {
        return GPX_HTTP_ERROR;
    }
    *content_type = format == GPX_FORMAT_OPENMETRICS ? GPX_OPENMETRICS_CONTENT_TYPE : GPX_TEXT_CONTENT_TYPE;
    return GPX_HTTP_OK;
}

#ifdef UWSGI_ROUTING
/* `route = ^/metrics$ gpx:` serves the exposition on the app's own socket. */
static int
route_metrics(struct wsgi_request *wsgi_req, struct uwsgi_route *ur)
{
    struct gpx_buf buf;
    const char *type = NULL;
    int rc = GPX_HTTP_ERROR;

    if (!gpx.recording) {
        uwsgi_500(wsgi_req);
        return UWSGI_ROUTE_BREAK;
    }
    if (gpx_buf_init(&buf, 64 * 1024) == 0) {
        rc = gpx_glue_render(NULL, ur->data != NULL ? "/metrics/fleet" : "/metrics", GPX_FORMAT_TEXT, &buf, &type);
    }
    if (rc != GPX_HTTP_OK) {
        gpx_buf_free(&buf);
        if (rc == GPX_HTTP_UNAVAILABLE) {
            uwsgi_response_prepare_headers(wsgi_req, "503 Service Unavailable", 23);
            uwsgi_response_add_content_type(wsgi_req, "text/plain; charset=utf-8", 25);
            uwsgi_response_write_body_do(wsgi_req, "Service Unavailable: Redis could not be read in time\n", 53);
        } else {
            uwsgi_500(wsgi_req);
        }
        return UWSGI_ROUTE_BREAK;
    }
    if (uwsgi_response_prepare_headers(wsgi_req, "200 OK", 6) == 0 &&
        uwsgi_response_add_content_type(wsgi_req, (char *)type, strlen(type)) == 0 &&
        uwsgi_response_add_content_length(wsgi_req, buf.len) == 0) {
        uwsgi_response_write_body_do(wsgi_req, buf.data, buf.len);
    }
    gpx_buf_free(&buf);
    return UWSGI_ROUTE_BREAK;
}

/* `gpx:` serves this server's metrics, `gpx:fleet` the fleet view. */
static int
route_setup(struct uwsgi_route *ur, char *args)
{
    ur->func = route_metrics;
    ur->data = NULL;
    if (args != NULL && strcmp(args, "fleet") == 0) {
        ur->data = args;
    } else if (args != NULL && args[0] != '\0') {
        uwsgi_log("gpx: unknown route argument \"%s\": use `gpx:` or `gpx:fleet`\n", args);
        exit(1);
    }
    return 0;
}

void
gpx_router_register(void)
{
    uwsgi_register_router("gpx", route_setup);
}
#else
void
gpx_router_register(void)
{
    uwsgi_log("gpx: this uWSGI was built without internal routing: the `gpx` and `gpx-readyz` route actions are not "
              "available\n");
}
#endif
