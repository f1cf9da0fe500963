/* gpx_plugin.c - gpx's options and lifecycle in uWSGI.
 *
 *   uwsgi --plugin gpx --gpx-port 9090 ...      or      plugin = gpx
 *
 * on_load    checks that this .so was built by the running uWSGI, turns the
 *            master on, registers the `gpx` route action
 * init       resolves and validates the settings (exit on a bad one), prepares
 *            the directory, cleans it on a cold start when asked, exports
 *            GUNICORN_* (before the language plugins start their interpreters)
 * preinit_apps  maps the scoreboard (worker and core counts are final now),
 *            exports GUNICORN_* again, adds the after-request hook
 * post_fork  (worker) closes the metrics port's sockets, snapshots counters,
 *            wraps the language plugins' exception logging (gpx_exceptions.c)
 * master_cycle  starts the metrics server (and the Redis publisher) once,
 *            counts worker restarts by reason, folds the app metrics of
 *            ended workers, samples resources
 * harakiri   notes a harakiri kill for the restart reason
 * master_cleanup  publishes the final totals to Redis, or syncs the file
 */
#include "gpx_glue.h"

#include "../src/gpx_hash.h"

#include <dirent.h>
#include <grp.h>
#include <microhttpd.h>
#include <pwd.h>

struct gpx_glue gpx;

static struct uwsgi_option gpx_options[] = {
    {"gpx-port", required_argument, 0, "port of the metrics endpoint (PROMETHEUS_METRICS_PORT, default 9090)",
     uwsgi_opt_set_str, &gpx.given[GPX_OPT_PORT], UWSGI_OPT_MASTER},
    {"gpx-bind", required_argument, 0, "address of the metrics endpoint (PROMETHEUS_BIND_ADDRESS, default 0.0.0.0)",
     uwsgi_opt_set_str, &gpx.given[GPX_OPT_BIND], UWSGI_OPT_MASTER},
    {"gpx-multiproc-dir", required_argument, 0,
     "directory of the metric files (PROMETHEUS_MULTIPROC_DIR, default /tmp/prometheus_multiproc)", uwsgi_opt_set_str,
     &gpx.given[GPX_OPT_MULTIPROC_DIR], UWSGI_OPT_MASTER},
    {"gpx-cleanup-db-files", required_argument, 0, "start from zero on a cold start (CLEANUP_DB_FILES, default false)",
     uwsgi_opt_set_str, &gpx.given[GPX_OPT_CLEANUP_DB_FILES], UWSGI_OPT_MASTER},
    {"gpx-instance", required_argument, 0, "name of this server in storage (GPX_INSTANCE, default <hostname>:<port>)",
     uwsgi_opt_set_str, &gpx.given[GPX_OPT_INSTANCE], UWSGI_OPT_MASTER},
    {"gpx-redis", required_argument, 0, "keep metrics in Redis (REDIS_ENABLED, default false)", uwsgi_opt_set_str,
     &gpx.given[GPX_OPT_REDIS], UWSGI_OPT_MASTER},
    {"gpx-redis-host", required_argument, 0, "Redis host or socket path (REDIS_HOST, default localhost)",
     uwsgi_opt_set_str, &gpx.given[GPX_OPT_REDIS_HOST], UWSGI_OPT_MASTER},
    {"gpx-redis-port", required_argument, 0, "Redis port (REDIS_PORT, default 6379)", uwsgi_opt_set_str,
     &gpx.given[GPX_OPT_REDIS_PORT], UWSGI_OPT_MASTER},
    {"gpx-redis-db", required_argument, 0, "Redis database (REDIS_DB, default 0)", uwsgi_opt_set_str,
     &gpx.given[GPX_OPT_REDIS_DB], UWSGI_OPT_MASTER},
    {"gpx-redis-password", required_argument, 0, "Redis password (REDIS_PASSWORD)", uwsgi_opt_set_str,
     &gpx.given[GPX_OPT_REDIS_PASSWORD], UWSGI_OPT_MASTER},
    {"gpx-redis-key-prefix", required_argument, 0, "prefix of Redis keys (REDIS_KEY_PREFIX, default gunicorn)",
     uwsgi_opt_set_str, &gpx.given[GPX_OPT_REDIS_KEY_PREFIX], UWSGI_OPT_MASTER},
    {"gpx-redis-interval", required_argument, 0, "seconds between publishes to Redis (GPX_REDIS_INTERVAL, default 5)",
     uwsgi_opt_set_str, &gpx.given[GPX_OPT_REDIS_INTERVAL], UWSGI_OPT_MASTER},
    {"gpx-redis-ttl", required_argument, 0,
     "seconds before a silent instance's Redis keys expire (GPX_REDIS_TTL, then REDIS_TTL_SECONDS, default 86400)",
     uwsgi_opt_set_str, &gpx.given[GPX_OPT_REDIS_TTL], UWSGI_OPT_MASTER},
    {"gpx-redis-ttl-disabled", required_argument, 0,
     "Redis keys never expire, whatever gpx-redis-ttl says (REDIS_TTL_DISABLED, default false)", uwsgi_opt_set_str,
     &gpx.given[GPX_OPT_REDIS_TTL_DISABLED], UWSGI_OPT_MASTER},
    {"gpx-debug", required_argument, 0,
     "more log lines at start, per scrape and per publish, never per request (GPX_DEBUG, default false)",
     uwsgi_opt_set_str, &gpx.given[GPX_OPT_DEBUG], UWSGI_OPT_MASTER},
    {"gpx-ssl-certfile", required_argument, 0,
     "PEM certificate: serve metrics over HTTPS, with gpx-ssl-keyfile (PROMETHEUS_SSL_CERTFILE)", uwsgi_opt_set_str,
     &gpx.given[GPX_OPT_SSL_CERTFILE], UWSGI_OPT_MASTER},
    {"gpx-ssl-keyfile", required_argument, 0, "PEM private key of gpx-ssl-certfile (PROMETHEUS_SSL_KEYFILE)",
     uwsgi_opt_set_str, &gpx.given[GPX_OPT_SSL_KEYFILE], UWSGI_OPT_MASTER},
    {"gpx-ssl-client-cafile", required_argument, 0,
     "PEM CA certificates: require client certificates they signed (PROMETHEUS_SSL_CLIENT_CAFILE)", uwsgi_opt_set_str,
     &gpx.given[GPX_OPT_SSL_CLIENT_CAFILE], UWSGI_OPT_MASTER},
    {"gpx-ssl-client-capath", required_argument, 0,
     "directory of PEM CA certificates: require client certificates they signed (PROMETHEUS_SSL_CLIENT_CAPATH)",
     uwsgi_opt_set_str, &gpx.given[GPX_OPT_SSL_CLIENT_CAPATH], UWSGI_OPT_MASTER},
    {"gpx-ssl-client-auth-required", required_argument, 0,
     "with client CAs: false checks a client certificate only when offered (PROMETHEUS_SSL_CLIENT_AUTH_REQUIRED, "
     "default true)",
     uwsgi_opt_set_str, &gpx.given[GPX_OPT_SSL_CLIENT_AUTH_REQUIRED], UWSGI_OPT_MASTER},
    {"gpx-basic-auth-file", required_argument, 0,
     "htpasswd file of user:bcrypt-hash lines: require HTTP basic auth (PROMETHEUS_BASIC_AUTH_FILE)", uwsgi_opt_set_str,
     &gpx.given[GPX_OPT_BASIC_AUTH_FILE], UWSGI_OPT_MASTER},
    UWSGI_END_OF_OPTIONS};

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
}

static const char *
env_lookup(const char *name)
{
    return getenv(name);
}

/* Removes this server's scoreboard and prometheus_client's *.db files. */
static void
cleanup_dir(const char *board_path)
{
    DIR *dir;
    struct dirent *entry;
    char store[GPX_PATH_MAX + GPX_TEXT_MAX + 16];
    unsigned removed = 0;

    if (unlink(board_path) == 0) {
        removed++;
    }
    /* The app's folded totals start from zero with its files. */
    snprintf(store, sizeof(store), "%s/gpx_%s.appstore", gpx.cfg.multiproc_dir, gpx.cfg.instance);
    if (unlink(store) == 0) {
        removed++;
    }
    dir = opendir(gpx.cfg.multiproc_dir);
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
    uwsgi_log("gpx: cold start with gpx-cleanup-db-files: removed %u file(s) from %s\n", removed,
              gpx.cfg.multiproc_dir);
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
    static const char *const from[] = {"the default", "the environment", "the option"};
    int id;

    for (id = 0; id < GPX_OPT_COUNT; id++) {
        const char *variable = gpx.cfg.variable[id];
        const char *value = id == GPX_OPT_REDIS_PASSWORD            ? (gpx.cfg.redis_password[0] ? "(set)" : "(none)")
                            : gpx.cfg.source[id] == GPX_FROM_OPTION ? gpx.given[id]
                            : gpx.cfg.source[id] == GPX_FROM_ENVIRONMENT ? getenv(variable)
                                                                         : gpx_option_catalog[id].default_value;

        uwsgi_log("gpx: debug: %s = %s (%s, from %s)\n", gpx_option_catalog[id].option,
                  value != NULL ? value : gpx.cfg.instance, variable, from[gpx.cfg.source[id]]);
    }
}

#if !defined(GPX_HAVE_TLS) || !defined(GPX_HAVE_BCRYPT)
/* An option of a feature this build left out (uwsgiplugin.py: its headers
 * were missing, or GPX_TLS / GPX_BCRYPT = no): one line, and no start. */
static void
refuse_left_out(enum gpx_option_id id, const char *value, const char *feature, const char *needs)
{
    static const char *const from[] = {"the default", "the environment", "the option"};

    uwsgi_log("gpx: %s / %s \"%s\" (from %s) needs %s, which this gpx was built without: rebuild it with %s, or "
              "leave the option unset\n",
              gpx_option_catalog[id].option, gpx_option_catalog[id].variable, value, from[gpx.cfg.source[id]], feature,
              needs);
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
    load_endpoint_security();
    if (!gpx.cfg.redis_enabled) {
        struct stat st;
        int existed = stat(gpx.cfg.multiproc_dir, &st) == 0;
        uid_t uid;
        gid_t gid;

        if (gpx_config_prepare_dir(&gpx.cfg, err, sizeof(err)) != 0) {
            uwsgi_log("%s\n", err);
            /* A reload must not take the app down: the board counts in
             * memory and the file is made when the directory can be. */
            if (!uwsgi.is_a_reload) {
                exit(1);
            }
        }
        /* A directory gpx made as root must stay usable after the drop. */
        gpx_glue_workers_owner(&uid, &gid);
        if (!existed && geteuid() == 0 && (uid != (uid_t)-1 || gid != (gid_t)-1) &&
            chown(gpx.cfg.multiproc_dir, uid, gid) != 0) {
            uwsgi_error("gpx_init()/chown()");
        }
        /* The app's prometheus_client writes where gpx reads. */
        if (gpx.cfg.source[GPX_OPT_MULTIPROC_DIR] == GPX_FROM_OPTION && getenv("PROMETHEUS_MULTIPROC_DIR") == NULL) {
            setenv("PROMETHEUS_MULTIPROC_DIR", gpx.cfg.multiproc_dir, 1);
        }
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

/* Whether the file's counts are the ones the board started from. */
static enum gpx_boardfile_start file_start;

/* Seconds between two copies of the board into its file: what a master
 * killed with SIGKILL can lose. */
#define FILE_SYNC_SECONDS 1

/* File storage: the board in anonymous memory, restored from the file,
 * which must be whole before the workers fork. A first start refuses a
 * file it cannot make; a reload, which must not take the app down, counts
 * in memory and makes it as soon as it can. */
static void
open_file_storage(const char *path, unsigned cores)
{
    char err[PATH_MAX + 512];
    struct gpx_boardfile_options o;

    memset(&o, 0, sizeof(o));
    o.path = path;
    o.workers = gpx.workers;
    o.cores = cores;
    gpx_glue_workers_owner(&o.uid, &o.gid);
    o.keep_going = uwsgi.is_a_reload;
    o.retry_seconds = FILE_SYNC_SECONDS;
    o.status = uwsgi_calloc_shared(sizeof(*o.status));
    o.log = gpx_glue_log;
    if (gpx_boardfile_open(&gpx.file, &gpx.board, &o, &file_start, err, sizeof(err)) != 0) {
        uwsgi_log("gpx: %s\n", err);
        exit(1);
    }
}

/* The first line about file storage: where, and whether the counters
 * continue, said only when they do. */
static void
log_file_storage(const char *path)
{
    const char *how;

    if (file_start == GPX_BOARDFILE_CONTINUED) {
        how = uwsgi.is_a_reload ? "reload: counters continue" : "counters continue from the file";
    } else if (uwsgi.is_a_reload) {
        how = "reload, but no file held the previous master's counters: they begin at zero";
    } else {
        how = "new file: counters begin at zero";
    }
    uwsgi_log("gpx: storage files, scoreboard %s (%s)\n", path, how);
}

static void
gpx_preinit_apps(void)
{
    char err[1024], path[GPX_PATH_MAX + 64];
    unsigned cores;
    int rc;

    gpx.workers = (unsigned)uwsgi.numproc;
    gpx.threaded = uwsgi.threads > 1;
    cores = gpx.threaded ? (unsigned)uwsgi.threads : 1;

    if (gpx.cfg.redis_enabled) {
        /* No files: the counters live in anonymous shared memory, the totals
         * restored from Redis in a base beside them. */
        rc = gpx_scoreboard_open_anonymous(&gpx.board, gpx.workers, cores, err, sizeof(err));
        if (rc == 0) {
            rc = gpx_scoreboard_open_anonymous(&gpx.base, gpx.workers, 1, err, sizeof(err));
        }
        gpx.redis_status = uwsgi_calloc_shared(sizeof(*gpx.redis_status));
        gpx.redis.host = gpx.cfg.redis_host;
        gpx.redis.port = gpx.cfg.redis_port;
        gpx.redis.db = gpx.cfg.redis_db;
        gpx.redis.password = gpx.cfg.redis_password;
        gpx.redis.prefix = gpx.cfg.redis_key_prefix;
        gpx.redis.instance = gpx.cfg.instance;
        gpx.redis.interval_seconds = (unsigned)gpx.cfg.redis_interval;
        gpx.redis.ttl_seconds = gpx.cfg.redis_ttl_disabled ? 0 : (unsigned)gpx.cfg.redis_ttl;
        gpx.redis.timeout_ms = 1000;
        gpx.redis.fleet_timeout_ms = GPX_FLEET_TIMEOUT_MS;
        gpx.redis.fleet_log = gpx_glue_log;
        gpx.redis.verbose = gpx.cfg.debug;
        gpx.redis.start_fresh = gpx.cfg.cleanup_db_files && !uwsgi.is_a_reload;
        path[0] = '\0';
    } else {
        if (gpx_scoreboard_path(path, sizeof(path), gpx.cfg.multiproc_dir, gpx.cfg.instance) != 0) {
            uwsgi_log("gpx: the scoreboard path for %s in %s is too long\n", gpx.cfg.instance, gpx.cfg.multiproc_dir);
            exit(1);
        }
        if (gpx.cfg.cleanup_db_files && !uwsgi.is_a_reload) {
            cleanup_dir(path);
        }
        open_file_storage(path, cores);
        rc = 0;
    }
    if (rc != 0) {
        uwsgi_log("gpx: %s\n", err);
        exit(1);
    }
    gpx_appfold_init();
    gpx.samples = uwsgi_calloc_shared(sizeof(struct gpx_sample) * (gpx.workers + 1));
    uwsgi_string_new_list(&uwsgi.after_request_hooks, "gpx_after_request");
    gpx.recording = 1;
    export_gunicorn_environment();

    if (gpx.cfg.redis_enabled) {
        char expiry[64];

        if (gpx.cfg.redis_ttl_disabled) {
            snprintf(expiry, sizeof(expiry), "never expires");
        } else {
            snprintf(expiry, sizeof(expiry), "expires after %d s", gpx.cfg.redis_ttl);
        }
        uwsgi_log("gpx: storage redis %s%s%s db %d, key %s:gpx:instance:%s every %d s (%s), no files\n",
                  gpx.cfg.redis_host, gpx.cfg.redis_host[0] == '/' ? "" : ":",
                  gpx.cfg.redis_host[0] == '/' ? "" : uwsgi_num2str(gpx.cfg.redis_port), gpx.cfg.redis_db,
                  gpx.cfg.redis_key_prefix, gpx.cfg.instance, gpx.cfg.redis_interval, expiry);
        /* Both given: say which one is in effect rather than drop one silently. */
        if (gpx.cfg.redis_ttl_disabled && gpx.cfg.source[GPX_OPT_REDIS_TTL] != GPX_FROM_DEFAULT) {
            uwsgi_log("gpx: %s = true: keys never expire, %s = %d is not used\n",
                      gpx.cfg.source[GPX_OPT_REDIS_TTL_DISABLED] == GPX_FROM_OPTION ? "gpx-redis-ttl-disabled"
                                                                                    : "REDIS_TTL_DISABLED",
                      gpx.cfg.source[GPX_OPT_REDIS_TTL] == GPX_FROM_OPTION ? "gpx-redis-ttl"
                                                                           : gpx.cfg.variable[GPX_OPT_REDIS_TTL],
                      gpx.cfg.redis_ttl);
        }
    } else {
        log_file_storage(path);
    }
    uwsgi_log("gpx: %u worker slot(s) x %u cell(s), metrics on %s:%d, instance %s\n", gpx.workers, cores, gpx.cfg.bind,
              gpx.cfg.port, gpx.cfg.instance);
}

/* A worker's first line: its slot, and the slot's counts when there are
 * some to continue (never on a first start). */
static void
log_slot_taken(void)
{
    struct gpx_cell sum;
    uint64_t requests = 0;

    if (gpx.recording && (unsigned)uwsgi.mywid <= gpx.board.workers) {
        gpx_scoreboard_sum_worker(&gpx.board, (unsigned)uwsgi.mywid, &sum);
        requests = gpx_cell_requests(&sum);
    }
    /* With Redis, the totals restored so far are the slot's too. */
    if (gpx.recording && gpx.cfg.redis_enabled && (unsigned)uwsgi.mywid <= gpx.base.workers) {
        requests += gpx_cell_requests(gpx_scoreboard_cell(&gpx.base, (unsigned)uwsgi.mywid, 0));
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
    for (int c = 0; c < uwsgi.cores; c++) {
        gpx.path.core_state[c].seen_exceptions = gpx.path.uwsgi_cores[c].exceptions;
        gpx.path.core_state[c].raised_class = -1;
    }
    gpx.path.cores = uwsgi.cores;
    gpx.path.threaded = gpx.threaded;
    gpx.path.cells = gpx.recording && (unsigned)uwsgi.mywid <= gpx.board.workers
                         ? gpx_scoreboard_cell(&gpx.board, (unsigned)uwsgi.mywid, 0)
                         : NULL;
    gpx_exceptions_wrap();
    /* Only the master writes the file; a descriptor held here would keep a
     * removed file's space in use until this worker ends. */
    if (!gpx.cfg.redis_enabled) {
        gpx_boardfile_close(&gpx.file);
    }
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

/* Copies the board into its file: once a second from the cycle, and a last
 * time at the end. The file's own lines say what went wrong, once. */
static int
sync_file(int final)
{
    char err[PATH_MAX + 256];
    struct timespec ts;
    double now;

    if (gpx.cfg.redis_enabled || gpx.file.image == NULL) {
        return -1;
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    if (!final && now - gpx.last_file_sync < FILE_SYNC_SECONDS) {
        return 0;
    }
    gpx.last_file_sync = now;
    if (gpx_boardfile_sync(&gpx.file, &gpx.board, final, err, sizeof(err)) != 0) {
        if (final) {
            time_t written_at;

            if (gpx_boardfile_holds_counts(&gpx.file, &written_at)) {
                uwsgi_log("gpx: %s; the file holds the counts of %lld s ago, which the next start continues from\n",
                          err, (long long)(time(NULL) - written_at));
            } else {
                uwsgi_log("gpx: %s; the counts of this master are not in any file, the next start cannot continue "
                          "them\n",
                          err);
            }
        }
        return -1;
    }
    return 0;
}

static void
gpx_master_cycle(void)
{
    if (!gpx.recording) {
        return;
    }
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
            .deferred_path = gpx.cfg.redis_enabled ? "/metrics/fleet" : NULL,
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
    if (gpx.cfg.redis_enabled && gpx.publisher == NULL) {
        static int started;

        if (!started) {
            started = 1;
            gpx_glue_start_publisher();
        }
    }
    gpx_lifecycle_cycle();
    gpx_appfold_cycle();
    gpx_glue_sample();
    sync_file(0);
}

/* At exit and before a reload's re-exec: the workers are gone, so the
 * totals are final; publish them once more so that nothing is lost. */
static void
gpx_master_cleanup(void)
{
    /* Before a reload's re-exec the last workers were reaped after the last
     * cycle: count them now, while the counters can still be published. */
    if (gpx.recording) {
        gpx_lifecycle_cycle();
        gpx_appfold_finish();
    }
    if (gpx.publisher != NULL) {
        int published = gpx_redis_stop(gpx.publisher, 1);

        gpx.publisher = NULL;
        if (published == 0) {
            uwsgi_log("gpx: final totals published to Redis\n");
        } else {
            uwsgi_log("gpx: cannot publish the final totals to Redis: what was counted since the last successful "
                      "publish is lost\n");
        }
    } else if (gpx.recording && !gpx.cfg.redis_enabled && sync_file(1) == 0) {
        uwsgi_log("gpx: counters kept in %s for the next start\n", gpx.file.path);
    }
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
