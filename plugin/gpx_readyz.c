/* gpx_readyz.c - readiness: the master reads uWSGI, src/gpx_readiness
 * decides, /readyz and the `gpx-readyz` route action read the answer.
 *
 * Everything is decided in the master's cycle (about once a second, and at
 * every event of the master's loop) and kept in shared memory: the metrics
 * thread and the workers only load it. Nothing runs on the request path.
 */
#include "gpx_glue.h"

#include "../src/gpx_netstat.h"
#include "../src/gpx_readiness.h"

static struct gpx_readiness_state *state; /* shared, made before the first fork */

void
gpx_readyz_init(void)
{
    state = uwsgi_calloc_shared(sizeof(*state));
}

static void
rule_of(struct gpx_readiness_rule *rule)
{
    rule->saturation = gpx.cfg.readyz_saturation;
    rule->busy_percent = (unsigned)gpx.cfg.readyz_busy_percent;
    rule->queue = (uint64_t)gpx.cfg.readyz_queue;
}

/* The fullest TCP listen queue of the app's sockets (UNIX sockets have no
 * reading, see gpx_netstat.h). */
static uint64_t
fullest_queue(void)
{
    struct uwsgi_socket *us;
    uint64_t most = 0, queued, limit;

    for (us = uwsgi.sockets; us != NULL; us = us->next) {
        if (us->fd >= 0 && gpx_tcp_listen_queue(us->fd, &queued, &limit) == 0 && queued > most) {
            most = queued;
        }
    }
    return most;
}

/* A worker with threads (or async cores) takes another connection while
 * one of them is free: it is full, for readiness, when all are in a
 * request (or it handles a signal). One core: busy is full. */
static int
worker_full(const struct uwsgi_worker *uw)
{
    int c;

    if (uw->sig) {
        return 1;
    }
    for (c = 0; c < uwsgi.cores; c++) {
        if (!uw->cores[c].in_request) {
            return 0;
        }
    }
    return 1;
}

static void
read_facts(struct gpx_readiness_facts *f)
{
    int w;

    memset(f, 0, sizeof(*f));
    f->stopping = uwsgi_instance_is_dying;
    f->reloading = uwsgi_instance_is_reloading || uwsgi.status.workers_reloading;
    /* Without lazy-apps the master loads the apps before forking; with it,
     * each worker does, in its slot. */
    f->app_loaded = uwsgi.workers[0].apps_cnt > 0;
    for (w = 1; w <= uwsgi.numproc; w++) {
        const struct uwsgi_worker *uw = &uwsgi.workers[w];
        enum gpx_worker_state st = gpx_glue_worker_state(uw);

        if (st != GPX_STATE_IDLE && st != GPX_STATE_BUSY) {
            continue;
        }
        f->accepting++;
        f->busy += st == GPX_STATE_BUSY && worker_full(uw);
        f->app_loaded |= uw->apps_cnt > 0;
    }
    f->queued = fullest_queue();
}

/* Publishes the decision on the facts as they are, the master also taken
 * as stopping when `ending` (and as reloading if it is). */
static void
publish(int ending)
{
    struct gpx_readiness_rule rule;
    struct gpx_readiness_facts f;

    if (state == NULL) {
        return;
    }
    rule_of(&rule);
    read_facts(&f);
    if (ending && uwsgi_instance_is_reloading) {
        f.reloading = 1;
    } else if (ending) {
        f.stopping = 1;
    }
    gpx_readiness_publish(state, &rule, &f, gpx_readiness_decide(&rule, &f));
}

void
gpx_readyz_cycle(void)
{
    publish(0);
}

/* At exit, and before a reload's re-exec: the metrics port answers until
 * the process ends or execs. */
void
gpx_readyz_stopping(void)
{
    publish(1);
}

int
gpx_readyz_ready(char *why, size_t len)
{
    if (state == NULL) {
        snprintf(why, len, "not ready: gpx is not running");
        return 0;
    }
    return gpx_readiness_read(state, why, len);
}

#ifdef UWSGI_ROUTING
/* `route = ^/readyz$ gpx-readyz:` answers on the app's own port. A worker
 * runs it, so it is answered only once a worker is free: a probe that
 * times out there is a "not ready" too. */
static int
route_readyz(struct wsgi_request *wsgi_req, struct uwsgi_route *ur)
{
    char why[256];
    int ready = gpx_readyz_ready(why, sizeof(why) - 1);
    size_t n = strlen(why);

    (void)ur;
    why[n++] = '\n';
    if (ready) {
        uwsgi_response_prepare_headers(wsgi_req, "200 OK", 6);
    } else {
        uwsgi_response_prepare_headers(wsgi_req, "503 Service Unavailable", 23);
    }
    uwsgi_response_add_content_type(wsgi_req, "text/plain; charset=utf-8", 25);
    uwsgi_response_add_content_length(wsgi_req, n);
    uwsgi_response_write_body_do(wsgi_req, why, n);
    return UWSGI_ROUTE_BREAK;
}

static int
route_setup(struct uwsgi_route *ur, char *args)
{
    if (args != NULL && args[0] != '\0') {
        uwsgi_log("gpx: unknown route argument \"%s\": use `gpx-readyz:`\n", args);
        exit(1);
    }
    ur->func = route_readyz;
    return 0;
}

void
gpx_readyz_router_register(void)
{
    uwsgi_register_router("gpx-readyz", route_setup);
}
#else
void
gpx_readyz_router_register(void)
{
    /* gpx_router_register said, for both route actions, that this uWSGI has no routing. */
}
#endif
