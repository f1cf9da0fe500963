/* gpx_plugin.c - gpx's options and lifecycle in uWSGI.
 *
 *   uwsgi --plugin gpx --gpx-port 9090 ...      or      plugin = gpx
 *
 * on_load    checks that this .so was built by the running uWSGI, turns the
 *            master on, registers the `gpx` route action
 * init       resolves and validates the settings (exit on a bad one), chooses
 *            the storage (src/gpx_storage.h) and prepares it, exports
 *            GUNICORN_* (before the language plugins start their interpreters)
 * preinit_apps  opens the storage, which maps the scoreboard (worker and
 *            core counts are final now), exports GUNICORN_* again, adds the
 *            after-request hook
 * post_fork  (worker) closes the metrics port's sockets, snapshots counters,
 *            wraps the language plugins' exception logging (gpx_exceptions.c)
 * master_cycle  starts the metrics server and the storage once, counts
 *            worker restarts by reason, folds the app metrics of ended
 *            workers, samples resources, persists the storage
 * harakiri   notes a harakiri kill for the restart reason
 * master_cleanup  carries uWSGI's own counters into the board (the
 *            uwsgi-exporter profile), closes the storage: the final write
 *            or publish
 */
#include "gpx_glue.h"

#include "../src/gpx_hash.h"

#include <grp.h>
#include <microhttpd.h>
#include <pwd.h>

struct gpx_glue gpx;

/* uWSGI's option list, made from the catalogue (src/gpx_config.c) as the
 * .so is loaded: uWSGI reads `options` right after dlopen (its autoload
 * looks for an option there even before on_load runs), and a uwsgi with gpx
 * compiled in reads it at start, after the constructors ran. */
static struct uwsgi_option gpx_options[GPX_OPT_COUNT + 1];
static char gpx_option_helps[GPX_OPT_COUNT][512];

__attribute__((constructor)) static void
declare_options(void)
{
    int id;

    for (id = 0; id < GPX_OPT_COUNT; id++) {
        gpx_option_help((enum gpx_option_id)id, gpx_option_helps[id], sizeof(gpx_option_helps[id]));
        gpx_options[id].name = (char *)gpx_option_catalog[id].option;
        gpx_options[id].type = required_argument;
        gpx_options[id].help = gpx_option_helps[id];
        gpx_options[id].func = uwsgi_opt_set_str;
        gpx_options[id].data = &gpx.given[id];
        gpx_options[id].flags = UWSGI_OPT_MASTER;
    }
}

#ifdef GPX_UWSGI_CFLAGS_FNV
/* GPX_UWSGI_CFLAGS_FNV is the FNV-1a of the build flags of the uWSGI this
 * .so was built with (uwsgiplugin.py computes it as gpx_hash.h does). Any
 * other uWSGI lays out its structures differently. Compiled into the uwsgi
 * binary (UWSGI_EMBED_PLUGINS), gpx has no hash to check: it is part of
 * the binary that runs it. */
static void
check_build(void)
{
    char *flags = uwsgi_get_cflags();
    char running[64] = "unknown";
    char *v = flags != NULL ? strstr(flags, "-DUWSGI_VERSION=\"\\\"") : NULL;

    if (flags == NULL || gpx_fnv1a(flags, strlen(flags)) == (uint64_t)GPX_UWSGI_CFLAGS_FNV) {
        free(flags);
        return;
    }
    if (v != NULL) {
        char *end;

        v += strlen("-DUWSGI_VERSION=\"\\\"");
        end = strstr(v, "\\\"");
        if (end != NULL && (size_t)(end - v) < sizeof(running)) {
            memcpy(running, v, (size_t)(end - v));
            running[end - v] = '\0';
        }
    }
    uwsgi_log("gpx: this gpx_plugin.so was built for uWSGI %s but is loaded by uWSGI %s%s; rebuild it with this "
              "uwsgi binary (uwsgi --build-plugin <gpx source>)\n",
              UWSGI_VERSION, running, strcmp(running, UWSGI_VERSION) == 0 ? " (built with other options)" : "");
    free(flags);
    exit(1);
}
#else
static void
check_build(void)
{
}
#endif

static void
gpx_on_load(void)
{
    check_build();
    /* gpx serves from the master: loading it is asking for one. */
    uwsgi.master_process = 1;
    gpx_router_register();
    gpx_readyz_router_register();
}

static const char *
env_lookup(const char *name)
{
    return getenv(name);
}

static void export_gunicorn_environment(void);

/* The user and group the workers run as, or -1: uWSGI may still be root here
 * (drop-after-init, drop-after-apps) and resolves names only when it drops. */
void
gpx_glue_workers_owner(uid_t *uid, gid_t *gid)
{
    *uid = uwsgi.uid ? uwsgi.uid : (uid_t)-1;
    *gid = uwsgi.gid ? uwsgi.gid : (gid_t)-1;
    if (*uid == (uid_t)-1 && uwsgi.uidname != NULL) {
        struct passwd *pw = getpwnam(uwsgi.uidname);

        *uid = pw != NULL ? pw->pw_uid : (uid_t)-1;
    }
    if (*gid == (gid_t)-1 && uwsgi.gidname != NULL) {
        struct group *gr = getgrnam(uwsgi.gidname);

        *gid = gr != NULL ? gr->gr_gid : (gid_t)-1;
    }
}

/* gpx-debug: every setting, its value and where it came from. */
static void
log_settings(void)
{
    char line[GPX_PATH_MAX + 256];
    int id;

    for (id = 0; id < GPX_OPT_COUNT; id++) {
        gpx_config_describe(&gpx.cfg, (enum gpx_option_id)id, line, sizeof(line));
        uwsgi_log("%s\n", line);
    }
}

#if !defined(GPX_HAVE_TLS) || !defined(GPX_HAVE_BCRYPT)
/* An option of a feature this build left out (uwsgiplugin.py: its headers
 * were missing, or GPX_TLS / GPX_BCRYPT = no): one line, and no start. */
static void
refuse_left_out(enum gpx_option_id id, const char *value, const char *feature, const char *needs)
{
    uwsgi_log("gpx: %s / %s \"%s\" (from %s) needs %s, which this gpx was built without: rebuild it with %s, or "
              "leave the option unset\n",
              gpx_option_catalog[id].option, gpx_option_catalog[id].variable, value,
              gpx_config_source_name(gpx.cfg.source[id]), feature, needs);
    exit(1);
}
#endif

/* The endpoint's TLS files and password file, read once in the master
 * before any fork: a bad one stops start-up with one line. */
static void
load_endpoint_security(void)
{
    char err[1024], why[512];

#ifndef GPX_HAVE_TLS
    if (gpx.cfg.ssl_certfile[0] != '\0') {
        refuse_left_out(GPX_OPT_SSL_CERTFILE, gpx.cfg.ssl_certfile, "TLS",
                        "GnuTLS's headers (Debian: libgnutls28-dev)");
    }
#endif
#ifndef GPX_HAVE_BCRYPT
    if (gpx.cfg.basic_auth_file[0] != '\0') {
        refuse_left_out(GPX_OPT_BASIC_AUTH_FILE, gpx.cfg.basic_auth_file, "basic auth (bcrypt)",
                        "libcrypt's and GnuTLS's headers (Debian: libcrypt-dev, libgnutls28-dev)");
    }
#endif

    if (gpx_tls_load(&gpx.tls, &gpx.cfg, err, sizeof(err)) != 0) {
        uwsgi_log("%s\n", err);
        exit(1);
    }
    if (gpx.cfg.basic_auth_file[0] != '\0' &&
        gpx_auth_load(&gpx.auth, gpx.cfg.basic_auth_file, why, sizeof(why)) != 0) {
        char expected[700];

        snprintf(expected, sizeof(expected), "a readable htpasswd file of user:bcrypt-hash lines (htpasswd -B): %s",
                 why);
        gpx_config_error(err, sizeof(err), &gpx.cfg, GPX_OPT_BASIC_AUTH_FILE, gpx.cfg.basic_auth_file, expected);
        uwsgi_log("%s\n", err);
        exit(1);
    }
    if (gpx.tls.cert_pem != NULL && !MHD_is_feature_supported(MHD_FEATURE_TLS)) {
        gpx_config_error(err, sizeof(err), &gpx.cfg, GPX_OPT_SSL_CERTFILE, gpx.cfg.ssl_certfile,
                         "a libmicrohttpd built with TLS (this one has none)");
        uwsgi_log("%s\n", err);
        exit(1);
    }
    /* Certificates are handed to each handshake, so that they can change. */
    if (gpx.tls.cert_pem != NULL && !MHD_is_feature_supported(MHD_FEATURE_HTTPS_CERT_CALLBACK)) {
        gpx_config_error(err, sizeof(err), &gpx.cfg, GPX_OPT_SSL_CERTFILE, gpx.cfg.ssl_certfile,
                         "a libmicrohttpd with MHD_OPTION_HTTPS_CERT_CALLBACK (GnuTLS 3 or later)");
        uwsgi_log("%s\n", err);
        exit(1);
    }
    /* Checked when the options were resolved: cannot fail here. */
    if (gpx_headers_build(&gpx.headers, gpx.cfg.http_headers, gpx.tls.cert_pem != NULL, why, sizeof(why)) != 0) {
        uwsgi_log("gpx: gpx-http-headers: %s\n", why);
        exit(1);
    }
    gpx_reload_init(&gpx.reload, &gpx.cfg, gpx.tls.cert_pem != NULL, gpx.auth.count > 0, gpx_glue_log);
}

static void
log_errno(const char *what)
{
    uwsgi_error(what);
}

/* The storage the settings ask for, with what it needs from uWSGI. */
static void
choose_storage(void)
{
    struct gpx_storage_context ctx = {
        .cfg = &gpx.cfg,
        .reload = uwsgi.is_a_reload,
        .shared_calloc = uwsgi_calloc_shared,
        .log = gpx_glue_log,
        .log_errno = log_errno,
        .live = gpx_glue_live,
    };

    gpx_glue_workers_owner(&ctx.uid, &ctx.gid);
    gpx_storage_choose(&gpx.storage, &ctx);
}

static int
gpx_init(void)
{
    char err[1024];

    if (gpx_config_resolve(&gpx.cfg, gpx.given, env_lookup, err, sizeof(err)) != 0) {
        uwsgi_log("%s\n", err);
        exit(1);
    }
    if (gpx.cfg.debug) {
        log_settings();
    }
    gpx.profile = gpx_profile_bits(gpx.cfg.profile);
    gpx_render_native_histograms(gpx.cfg.native_histograms, gpx.cfg.native_histogram_schema);
    load_endpoint_security();
    choose_storage();
    if (gpx.storage.ops->prepare(&gpx.storage, err, sizeof(err)) != 0) {
        uwsgi_log("%s\n", err);
        exit(1);
    }
    /* Now, before the request plugins' init starts their interpreters: Python
     * copies the environment into os.environ there, and a later setenv is not
     * seen by the app. preinit_apps exports again (sockets bound since). */
    export_gunicorn_environment();
    gpx.master_start = (double)uwsgi.start_tv.tv_sec + (double)uwsgi.start_tv.tv_usec / 1e6;
    return 0;
}

/* The mode as Gunicorn would name its worker class. */
static const char *
worker_class(void)
{
    if (uwsgi.async > 1 && uwsgi.loop != NULL) {
        return uwsgi.loop;
    }
    if (uwsgi.async > 1) {
        return "async";
    }
    return uwsgi.threads > 1 ? "gthread" : "sync";
}

/* The guide's GUNICORN_WORKERS and GUNICORN_KEEPALIVE configured Gunicorn;
 * under uWSGI its own options decide. A value in the environment that
 * uWSGI does not run is explained in one line with what to do, at a cold
 * start only: a reload re-executes the master with the same environment
 * (and GUNICORN_WORKERS set by gpx to processes), so it would only repeat. */
static void
explain_workers(const char *env)
{
    long value;

    if (gpx_parse_int(env, 1, LONG_MAX, &value) != 0) {
        uwsgi_log("gpx: GUNICORN_WORKERS=%s in the environment is not a worker count; uWSGI runs processes = %d, and "
                  "gpx sets GUNICORN_WORKERS=%d for the app. Remove GUNICORN_WORKERS from uWSGI's environment\n",
                  env, uwsgi.numproc, uwsgi.numproc);
        return;
    }
    if (value == uwsgi.numproc) {
        return;
    }
    uwsgi_log("gpx: GUNICORN_WORKERS=%s in the environment was Gunicorn's worker count; uWSGI runs processes = %d, "
              "and gpx sets GUNICORN_WORKERS=%d for the app. Set processes = %s for that many workers, or remove "
              "GUNICORN_WORKERS from uWSGI's environment\n",
              env, uwsgi.numproc, uwsgi.numproc, env);
}

/* Whether a socket of this proto was configured (http11-socket keeps a
 * connection open for the next request; http-socket closes it). */
static int
has_socket_proto(const char *proto)
{
    struct uwsgi_socket *sock;

    for (sock = uwsgi.sockets; sock != NULL; sock = sock->next) {
        if (sock->proto_name != NULL && strcmp(sock->proto_name, proto) == 0) {
            return 1;
        }
    }
    return 0;
}

static void
explain_keepalive(const char *env)
{
    const char *router = uwsgi_get_exported_opt("http") != NULL    ? "http"
                         : uwsgi_get_exported_opt("https") != NULL ? "https"
                                                                   : NULL;
    const char *keepalive = uwsgi_get_exported_opt("http-keepalive");
    long value, router_value = 0;
    int seconds = gpx_parse_int(env, 0, LONG_MAX, &value) == 0;

    if (router != NULL) {
        /* uWSGI's HTTP router: http-keepalive = N keeps idle connections N s. */
        if (keepalive != NULL && gpx_parse_int(keepalive, 0, LONG_MAX, &router_value) != 0) {
            router_value = 1; /* a bare `http-keepalive` flag */
        }
        if (seconds && value == router_value) {
            return;
        }
        uwsgi_log("gpx: GUNICORN_KEEPALIVE=%s in the environment was Gunicorn's keep-alive; uWSGI's HTTP router "
                  "(%s = ...) runs with http-keepalive = %ld. Set http-keepalive = %s for Gunicorn's, or remove "
                  "GUNICORN_KEEPALIVE from uWSGI's environment\n",
                  env, router, router_value, env);
        return;
    }
    if (seconds && value == 0) {
        return; /* no keep-alive: what an http-socket does */
    }
    if (has_socket_proto("http11")) {
        uwsgi_log("gpx: GUNICORN_KEEPALIVE=%s in the environment was Gunicorn's keep-alive; uWSGI's http11-socket "
                  "keeps a connection open while the client does, up to socket-timeout = %d s idle. Set "
                  "socket-timeout for another bound, and remove GUNICORN_KEEPALIVE from uWSGI's environment\n",
                  env, uwsgi.socket_timeout);
        return;
    }
    uwsgi_log("gpx: GUNICORN_KEEPALIVE=%s in the environment was Gunicorn's keep-alive; this uWSGI closes each "
              "connection after its answer (http-socket), as Gunicorn's sync worker does, and has no such setting. "
              "Remove GUNICORN_KEEPALIVE from uWSGI's environment; for keep-alive, put uWSGI's HTTP router (http = "
              "..., http-keepalive = %s) or a proxy in front\n",
              env, env);
}

static void
export_gunicorn_environment(void)
{
    static int explained;
    char number[32];

    if (!explained && !uwsgi.is_a_reload) {
        const char *workers = getenv("GUNICORN_WORKERS"), *keepalive = getenv("GUNICORN_KEEPALIVE");

        if (workers != NULL && workers[0] != '\0') {
            explain_workers(workers);
        }
        if (keepalive != NULL && keepalive[0] != '\0') {
            explain_keepalive(keepalive);
        }
    }
    explained = 1;

    snprintf(number, sizeof(number), "%d", uwsgi.numproc);
    setenv("GUNICORN_WORKERS", number, 1);
    setenv("GUNICORN_WORKER_CLASS", worker_class(), 1);
    if (uwsgi.sockets != NULL && uwsgi.sockets->name != NULL) {
        setenv("GUNICORN_BIND", uwsgi.sockets->name, 1);
    }
}

static void
gpx_preinit_apps(void)
{
    char err[GPX_PATH_MAX + 1024];
    unsigned cores;

    gpx.workers = (unsigned)uwsgi.numproc;
    gpx.threaded = uwsgi.threads > 1;
    cores = gpx.threaded ? (unsigned)uwsgi.threads : 1;

    if (gpx.storage.ops->open(&gpx.storage, &gpx.board, gpx.workers, cores, err, sizeof(err)) != 0) {
        uwsgi_log("%s\n", err);
        exit(1);
    }
    /* Exemplars are not counters: kept in memory only, lost with the
     * master, never in the board's file or snapshot. */
    if (gpx.cfg.exemplars && gpx_exemplar_board_open(&gpx.exemplars, gpx.workers, cores, GPX_METHOD_COUNT,
                                                     GPX_DURATION_SLOTS, err, sizeof(err)) != 0) {
        uwsgi_log("gpx: gpx-exemplars: %s\n", err);
        exit(1);
    }
    gpx_render_exemplars(gpx.exemplars.base != NULL ? &gpx.exemplars : NULL);
    gpx_appfold_init();
    gpx.samples = uwsgi_calloc_shared(sizeof(struct gpx_sample) * (gpx.workers + 1));
    gpx_readyz_init();
    uwsgi_string_new_list(&uwsgi.after_request_hooks, "gpx_after_request");
    gpx.recording = 1;
    export_gunicorn_environment();

    gpx.storage.ops->describe(&gpx.storage);
    uwsgi_log("gpx: %u worker slot(s) x %u cell(s), metrics on %s:%d, instance %s\n", gpx.workers, cores, gpx.cfg.bind,
              gpx.cfg.port, gpx.cfg.instance);
}

/* A worker's first line: its slot, and the slot's counts when there are
 * some to continue (never on a first start). */
static void
log_slot_taken(void)
{
    const struct gpx_scoreboard *base = gpx_storage_base(&gpx.storage);
    struct gpx_cell sum;
    uint64_t requests = 0;

    if (gpx.recording && (unsigned)uwsgi.mywid <= gpx.board.workers) {
        gpx_scoreboard_sum_worker(&gpx.board, (unsigned)uwsgi.mywid, &sum);
        requests = gpx_cell_requests(&sum);
    }
    /* Totals restored beside the board (Redis) are the slot's too. */
    if (gpx.recording && base != NULL && (unsigned)uwsgi.mywid <= base->workers) {
        requests += gpx_cell_requests(gpx_scoreboard_cell(base, (unsigned)uwsgi.mywid, 0));
    }
    if (requests > 0) {
        uwsgi_log("gpx: worker %d (pid %d) takes slot %d, whose counts continue from %llu request(s)\n", uwsgi.mywid,
                  (int)getpid(), uwsgi.mywid, (unsigned long long)requests);
    } else {
        uwsgi_log("gpx: worker %d (pid %d) takes slot %d\n", uwsgi.mywid, (int)getpid(), uwsgi.mywid);
    }
}

static void
gpx_post_fork(void)
{
    if (uwsgi.mywid <= 0) {
        return;
    }
    /* The master's metrics sockets are not the worker's to hold. */
    gpx_http_close_inherited(gpx.cfg.port);
    free(gpx.path.core_state);
    gpx.path.core_state =
        aligned_alloc(_Alignof(struct gpx_core_state), sizeof(struct gpx_core_state) * (size_t)uwsgi.cores);
    if (gpx.path.core_state == NULL) {
        uwsgi_error("gpx: aligned_alloc()");
        exit(1);
    }
    gpx.path.uwsgi_cores = uwsgi.workers[uwsgi.mywid].cores;
    gpx.path.cells = gpx.recording && (unsigned)uwsgi.mywid <= gpx.board.workers
                         ? gpx_scoreboard_cell(&gpx.board, (unsigned)uwsgi.mywid, 0)
                         : NULL;
    for (int c = 0; c < uwsgi.cores; c++) {
        gpx.path.core_state[c].seen_exceptions = gpx.path.uwsgi_cores[c].exceptions;
        gpx.path.core_state[c].uwsgi_exceptions = &gpx.path.uwsgi_cores[c].exceptions;
        gpx.path.core_state[c].raised_class = -1;
        /* Threads write their own cells; async cores share their worker's
         * one cell, as they share its only OS thread. */
        gpx.path.core_state[c].cell = gpx.path.cells != NULL && gpx.threaded ? gpx.path.cells + c : gpx.path.cells;
        /* The same writer as the cell's: one thread per row of exemplars. */
        gpx.path.core_state[c].exemplars =
            gpx.path.cells != NULL && gpx.exemplars.base != NULL
                ? gpx_exemplar_at(&gpx.exemplars, (unsigned)uwsgi.mywid, gpx.threaded ? (unsigned)c : 0, 0, 0)
                : NULL;
    }
    /* The hook's one test of whether it has anything to do: a worker that
     * does not record keeps no core's state up to date either. */
    gpx.path.cores = gpx.path.cells != NULL ? (unsigned)uwsgi.cores : 0;
    gpx_exceptions_wrap();
    gpx.storage.ops->after_fork(&gpx.storage);
    log_slot_taken();
}

void
gpx_glue_log(const char *line)
{
    uwsgi_log("%s\n", line);
}

/* Connections the metrics port serves at once. Past the limit a new scraper
 * waits in the listen queue until an idle connection times out, so the limit
 * is set well above what hostile or forgotten clients plausibly hold, but
 * within the master's descriptors (uWSGI needs its own). */
static unsigned
metrics_connection_limit(void)
{
    struct rlimit rl;
    unsigned limit = 1024;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur / 2 < limit) {
        limit = rl.rlim_cur / 2 > 64 ? (unsigned)(rl.rlim_cur / 2) : 64;
    }
    return limit;
}

static void
gpx_master_cycle(void)
{
    if (!gpx.recording) {
        return;
    }
    /* Decided before the metrics port opens: its first /readyz has an answer. */
    gpx_readyz_cycle();
    if (gpx.http == NULL) {
        struct gpx_http_config hc = {
            .bind = gpx.cfg.bind,
            .port = gpx.cfg.port,
            .connection_limit = metrics_connection_limit(),
            .timeout_seconds = 10,
            .report_after_seconds = 10,
            .verbose = gpx.cfg.debug,
            .tls = &gpx.tls,
            .auth = gpx.auth.count > 0 ? &gpx.auth : NULL,
            /* The fleet view waits on Redis: never on the serving thread. */
            .deferred_path = gpx.storage.ops->fleet != NULL ? "/metrics/fleet" : NULL,
            .headers = &gpx.headers,
            .rate_limit = (unsigned)gpx.cfg.rate_limit,
            .rate_burst = (unsigned)gpx.cfg.rate_limit_burst,
            .ready = gpx_readyz_ready,
        };

        static int launch_failed;

        if (!launch_failed) {
            gpx.http = gpx_http_launch(&hc, gpx_glue_render, NULL, gpx_glue_log);
            if (gpx.http == NULL) {
                /* Counting goes on; the routing action still serves. */
                uwsgi_error("gpx_master_cycle()/gpx_http_launch()");
                launch_failed = 1;
            }
        }
    }
    if (!gpx.storage_started) {
        static const struct gpx_storage_app app_totals = {gpx_appfold_snapshot, gpx_appfold_restore};

        gpx.storage_started = 1;
        gpx.storage.ops->start(&gpx.storage, gpx_appfold_enabled() ? &app_totals : NULL);
    }
    {
        struct timespec now;

        clock_gettime(CLOCK_MONOTONIC, &now);
        gpx_reload_check(&gpx.reload, gpx.http, &now);
    }
    gpx_lifecycle_cycle();
    gpx_appfold_cycle();
    gpx_glue_sample();
    gpx.storage.ops->persist(&gpx.storage);
}

/* At exit and before a reload's re-exec: the workers are gone, so the
 * totals are final; the storage writes or publishes them once more so that
 * nothing is lost. */
static void
gpx_master_cleanup(void)
{
    if (!gpx.recording) {
        return;
    }
    gpx_readyz_stopping();
    /* Before a reload's re-exec the last workers were reaped after the last
     * cycle: count them now, while the counters can still be kept. */
    gpx_lifecycle_cycle();
    gpx_appfold_finish();
    gpx_glue_profile_carry();
    gpx.storage.ops->close(&gpx.storage);
}

struct uwsgi_plugin gpx_plugin = {
    .name = "gpx",
    .options = gpx_options,
    .on_load = gpx_on_load,
    .init = gpx_init,
    .preinit_apps = gpx_preinit_apps,
    .post_fork = gpx_post_fork,
    .master_cycle = gpx_master_cycle,
    .master_cleanup = gpx_master_cleanup,
    .harakiri = gpx_lifecycle_harakiri,
};
