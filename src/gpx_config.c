/* gpx_config.c - settings from options, the guide's variables and defaults. */
#define _GNU_SOURCE
#include "gpx_config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

const struct gpx_option_info gpx_option_catalog[GPX_OPT_COUNT] = {
    [GPX_OPT_PORT] = {"gpx-port", "PROMETHEUS_METRICS_PORT", "9090", "port of the metrics endpoint"},
    [GPX_OPT_BIND] = {"gpx-bind", "PROMETHEUS_BIND_ADDRESS", "0.0.0.0", "address the metrics endpoint binds"},
    [GPX_OPT_MULTIPROC_DIR] = {"gpx-multiproc-dir", "PROMETHEUS_MULTIPROC_DIR", "/tmp/prometheus_multiproc",
                               "directory of the metric files"},
    [GPX_OPT_CLEANUP_DB_FILES] = {"gpx-cleanup-db-files", "CLEANUP_DB_FILES", "false",
                                  "start from zero on a cold start (true/false)"},
    [GPX_OPT_INSTANCE] = {"gpx-instance", "GPX_INSTANCE", NULL,
                          "name of this server in storage (default <hostname>:<gpx-port>)"},
    [GPX_OPT_REDIS] = {"gpx-redis", "REDIS_ENABLED", "false", "keep metrics in Redis instead of files (true/false)"},
    [GPX_OPT_REDIS_HOST] = {"gpx-redis-host", "REDIS_HOST", "localhost", "Redis host, address or Unix socket path"},
    [GPX_OPT_REDIS_PORT] = {"gpx-redis-port", "REDIS_PORT", "6379", "Redis port"},
    [GPX_OPT_REDIS_DB] = {"gpx-redis-db", "REDIS_DB", "0", "Redis database number"},
    [GPX_OPT_REDIS_PASSWORD] = {"gpx-redis-password", "REDIS_PASSWORD", "", "Redis password"},
    [GPX_OPT_REDIS_KEY_PREFIX] = {"gpx-redis-key-prefix", "REDIS_KEY_PREFIX", "gunicorn", "prefix of gpx's Redis keys"},
    [GPX_OPT_REDIS_INTERVAL] = {"gpx-redis-interval", "GPX_REDIS_INTERVAL", "5",
                                "seconds between publishes to Redis (1-3600)"},
    [GPX_OPT_REDIS_TTL] = {"gpx-redis-ttl", "GPX_REDIS_TTL", "86400",
                           "seconds before the keys of an instance that stopped publishing expire",
                           "REDIS_TTL_SECONDS"},
    [GPX_OPT_DEBUG] = {"gpx-debug", "GPX_DEBUG", "false",
                       "more log lines at start, per scrape and per publish (true/false)"},
    [GPX_OPT_SSL_CERTFILE] = {"gpx-ssl-certfile", "PROMETHEUS_SSL_CERTFILE", "",
                              "PEM certificate: serve metrics over HTTPS (with gpx-ssl-keyfile)"},
    [GPX_OPT_SSL_KEYFILE] = {"gpx-ssl-keyfile", "PROMETHEUS_SSL_KEYFILE", "", "PEM private key of gpx-ssl-certfile"},
    [GPX_OPT_SSL_CLIENT_CAFILE] = {"gpx-ssl-client-cafile", "PROMETHEUS_SSL_CLIENT_CAFILE", "",
                                   "PEM CA certificates: require client certificates they signed"},
    [GPX_OPT_BASIC_AUTH_FILE] = {"gpx-basic-auth-file", "PROMETHEUS_BASIC_AUTH_FILE", "",
                                 "htpasswd file of user:bcrypt-hash lines: require HTTP basic auth"},
    [GPX_OPT_REDIS_TTL_DISABLED] = {"gpx-redis-ttl-disabled", "REDIS_TTL_DISABLED", "false",
                                    "Redis keys never expire, whatever gpx-redis-ttl says (true/false)"},
    [GPX_OPT_SSL_CLIENT_CAPATH] = {"gpx-ssl-client-capath", "PROMETHEUS_SSL_CLIENT_CAPATH", "",
                                   "directory of PEM CA certificates that sign client certificates"},
    [GPX_OPT_SSL_CLIENT_AUTH_REQUIRED] = {"gpx-ssl-client-auth-required", "PROMETHEUS_SSL_CLIENT_AUTH_REQUIRED", "",
                                          "with client CAs: require a client certificate (true, the default), or "
                                          "check one only when offered (false)"},
};

int
gpx_parse_bool(const char *text, int *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    size_t i;

    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

int
gpx_parse_int(const char *text, long min, long max, long *out)
{
    char *end;
    long value;

    if (!isdigit((unsigned char)text[0])) {
        return -1;
    }
    errno = 0;
    value = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || value < min || value > max) {
        return -1;
    }
    *out = value;
    return 0;
}

void
gpx_config_error(char *err, size_t errlen, const struct gpx_config *cfg, enum gpx_option_id id, const char *value,
                 const char *expected)
{
    static const char *const from[] = {"the default", "the environment", "the option"};

    snprintf(err, errlen, "gpx: invalid %s / %s \"%s\" (from %s): expected %s", gpx_option_catalog[id].option,
             cfg->variable[id] != NULL ? cfg->variable[id] : gpx_option_catalog[id].variable, value,
             from[cfg->source[id]], expected);
}

static int
copy_text(char *dst, size_t dstlen, const char *value)
{
    size_t len = strlen(value);

    if (len >= dstlen) {
        return -1;
    }
    memcpy(dst, value, len + 1);
    return 0;
}

static int
bind_resolves(const char *host)
{
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    rc = getaddrinfo(host, NULL, &hints, &res);
    if (res != NULL) {
        freeaddrinfo(res);
    }
    return rc == 0;
}

/* The instance name becomes part of a file name and of Redis keys. */
static int
instance_valid(const char *name)
{
    const unsigned char *p;

    if (name[0] == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        return 0;
    }
    for (p = (const unsigned char *)name; *p; p++) {
        if (*p == '/' || *p <= ' ' || *p >= 127) {
            return 0;
        }
    }
    return 1;
}

/* The endpoint's TLS and basic auth files: paths only, read later by
 * gpx_tls_load and gpx_auth_load. A certificate and its key go together. */
static int
resolve_security(struct gpx_config *cfg, const char *const *value, char *err, size_t errlen)
{
    static const struct {
        enum gpx_option_id id;
        size_t offset;
    } paths[] = {
        {GPX_OPT_SSL_CERTFILE, offsetof(struct gpx_config, ssl_certfile)},
        {GPX_OPT_SSL_KEYFILE, offsetof(struct gpx_config, ssl_keyfile)},
        {GPX_OPT_SSL_CLIENT_CAFILE, offsetof(struct gpx_config, ssl_client_cafile)},
        {GPX_OPT_SSL_CLIENT_CAPATH, offsetof(struct gpx_config, ssl_client_capath)},
        {GPX_OPT_BASIC_AUTH_FILE, offsetof(struct gpx_config, basic_auth_file)},
    };
    int client_ca;
    size_t i;

    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        if (copy_text((char *)cfg + paths[i].offset, GPX_PATH_MAX, value[paths[i].id]) != 0) {
            gpx_config_error(err, errlen, cfg, paths[i].id, value[paths[i].id], "a file path shorter than 1024 bytes");
            return -1;
        }
    }
    if (cfg->ssl_certfile[0] != '\0' && cfg->ssl_keyfile[0] == '\0') {
        gpx_config_error(err, errlen, cfg, GPX_OPT_SSL_KEYFILE, "",
                         "the PEM private key of gpx-ssl-certfile (both or neither)");
        return -1;
    }
    if (cfg->ssl_certfile[0] == '\0' && cfg->ssl_keyfile[0] != '\0') {
        gpx_config_error(err, errlen, cfg, GPX_OPT_SSL_CERTFILE, "",
                         "the PEM certificate of gpx-ssl-keyfile (both or neither)");
        return -1;
    }
    if (cfg->ssl_client_cafile[0] != '\0' && cfg->ssl_certfile[0] == '\0') {
        gpx_config_error(err, errlen, cfg, GPX_OPT_SSL_CERTFILE, "",
                         "a PEM certificate: gpx-ssl-client-cafile needs TLS (gpx-ssl-certfile and gpx-ssl-keyfile)");
        return -1;
    }
    if (cfg->ssl_client_capath[0] != '\0' && cfg->ssl_certfile[0] == '\0') {
        gpx_config_error(err, errlen, cfg, GPX_OPT_SSL_CERTFILE, "",
                         "a PEM certificate: gpx-ssl-client-capath needs TLS (gpx-ssl-certfile and gpx-ssl-keyfile)");
        return -1;
    }
    /* Unset, a certificate is required once client CAs are given (safer
     * than the exporter's default); an explicit false checks one only when
     * the client offers it. */
    client_ca = cfg->ssl_client_cafile[0] != '\0' || cfg->ssl_client_capath[0] != '\0';
    cfg->ssl_client_auth_required = client_ca;
    if (cfg->source[GPX_OPT_SSL_CLIENT_AUTH_REQUIRED] != GPX_FROM_DEFAULT) {
        const char *text = value[GPX_OPT_SSL_CLIENT_AUTH_REQUIRED];

        if (gpx_parse_bool(text, &cfg->ssl_client_auth_required) != 0) {
            gpx_config_error(err, errlen, cfg, GPX_OPT_SSL_CLIENT_AUTH_REQUIRED, text,
                             "true/false, 1/0, yes/no or on/off");
            return -1;
        }
        if (cfg->ssl_client_auth_required && !client_ca) {
            gpx_config_error(err, errlen, cfg, GPX_OPT_SSL_CLIENT_AUTH_REQUIRED, text,
                             "false, or client CAs to check certificates against (gpx-ssl-client-cafile or "
                             "gpx-ssl-client-capath)");
            return -1;
        }
    }
    return 0;
}

int
gpx_config_resolve(struct gpx_config *cfg, const char *const *given, gpx_getenv_fn getenv_fn, char *err, size_t errlen)
{
    const char *value[GPX_OPT_COUNT];
    long number;
    int id;

    memset(cfg, 0, sizeof(*cfg));
    for (id = 0; id < GPX_OPT_COUNT; id++) {
        const struct gpx_option_info *info = &gpx_option_catalog[id];
        const char *v = given != NULL ? given[id] : NULL;
        const char *env = getenv_fn != NULL ? getenv_fn(info->variable) : NULL;
        const char *exporter_env =
            getenv_fn != NULL && info->exporter_variable != NULL ? getenv_fn(info->exporter_variable) : NULL;

        cfg->variable[id] = info->variable;
        if (v != NULL && v[0] != '\0') {
            cfg->source[id] = GPX_FROM_OPTION;
        } else if (env != NULL && env[0] != '\0') {
            v = env;
            cfg->source[id] = GPX_FROM_ENVIRONMENT;
        } else if (exporter_env != NULL && exporter_env[0] != '\0') {
            v = exporter_env;
            cfg->source[id] = GPX_FROM_ENVIRONMENT;
            cfg->variable[id] = info->exporter_variable;
        } else {
            v = gpx_option_catalog[id].default_value;
            cfg->source[id] = GPX_FROM_DEFAULT;
        }
        value[id] = v;
    }

    if (gpx_parse_int(value[GPX_OPT_PORT], 1, 65535, &number) != 0) {
        gpx_config_error(err, errlen, cfg, GPX_OPT_PORT, value[GPX_OPT_PORT], "a port number from 1 to 65535");
        return -1;
    }
    cfg->port = (int)number;

    if (copy_text(cfg->bind, sizeof(cfg->bind), value[GPX_OPT_BIND]) != 0 || !bind_resolves(cfg->bind)) {
        gpx_config_error(err, errlen, cfg, GPX_OPT_BIND, value[GPX_OPT_BIND],
                         "an IP address or a host name this machine resolves");
        return -1;
    }

    if (value[GPX_OPT_MULTIPROC_DIR][0] != '/' ||
        copy_text(cfg->multiproc_dir, sizeof(cfg->multiproc_dir), value[GPX_OPT_MULTIPROC_DIR]) != 0) {
        gpx_config_error(err, errlen, cfg, GPX_OPT_MULTIPROC_DIR, value[GPX_OPT_MULTIPROC_DIR],
                         "an absolute directory path");
        return -1;
    }

    if (gpx_parse_bool(value[GPX_OPT_CLEANUP_DB_FILES], &cfg->cleanup_db_files) != 0) {
        gpx_config_error(err, errlen, cfg, GPX_OPT_CLEANUP_DB_FILES, value[GPX_OPT_CLEANUP_DB_FILES],
                         "true/false, 1/0, yes/no or on/off");
        return -1;
    }

    if (value[GPX_OPT_INSTANCE] != NULL) {
        if (copy_text(cfg->instance, sizeof(cfg->instance), value[GPX_OPT_INSTANCE]) != 0 ||
            !instance_valid(cfg->instance)) {
            gpx_config_error(err, errlen, cfg, GPX_OPT_INSTANCE, value[GPX_OPT_INSTANCE],
                             "a name of printable characters without spaces or '/', at most 255");
            return -1;
        }
    } else {
        char host[GPX_TEXT_MAX - 8];

        if (gethostname(host, sizeof(host)) != 0) {
            strcpy(host, "localhost");
        }
        host[sizeof(host) - 1] = '\0';
        snprintf(cfg->instance, sizeof(cfg->instance), "%s:%d", host, cfg->port);
    }

    if (gpx_parse_bool(value[GPX_OPT_REDIS], &cfg->redis_enabled) != 0) {
        gpx_config_error(err, errlen, cfg, GPX_OPT_REDIS, value[GPX_OPT_REDIS], "true/false, 1/0, yes/no or on/off");
        return -1;
    }
    if (copy_text(cfg->redis_host, sizeof(cfg->redis_host), value[GPX_OPT_REDIS_HOST]) != 0) {
        gpx_config_error(err, errlen, cfg, GPX_OPT_REDIS_HOST, value[GPX_OPT_REDIS_HOST],
                         "a host name, an address or a Unix socket path shorter than 1024 bytes");
        return -1;
    }
    if (gpx_parse_int(value[GPX_OPT_REDIS_PORT], 1, 65535, &number) != 0) {
        gpx_config_error(err, errlen, cfg, GPX_OPT_REDIS_PORT, value[GPX_OPT_REDIS_PORT],
                         "a port number from 1 to 65535");
        return -1;
    }
    cfg->redis_port = (int)number;
    if (gpx_parse_int(value[GPX_OPT_REDIS_DB], 0, INT_MAX, &number) != 0) {
        gpx_config_error(err, errlen, cfg, GPX_OPT_REDIS_DB, value[GPX_OPT_REDIS_DB], "a database number, 0 or more");
        return -1;
    }
    cfg->redis_db = (int)number;
    if (copy_text(cfg->redis_password, sizeof(cfg->redis_password), value[GPX_OPT_REDIS_PASSWORD]) != 0) {
        gpx_config_error(err, errlen, cfg, GPX_OPT_REDIS_PASSWORD, "(hidden)", "a password shorter than 256 bytes");
        return -1;
    }
    if (copy_text(cfg->redis_key_prefix, sizeof(cfg->redis_key_prefix), value[GPX_OPT_REDIS_KEY_PREFIX]) != 0 ||
        !instance_valid(cfg->redis_key_prefix)) {
        gpx_config_error(err, errlen, cfg, GPX_OPT_REDIS_KEY_PREFIX, value[GPX_OPT_REDIS_KEY_PREFIX],
                         "a prefix of printable characters without spaces or '/', at most 255");
        return -1;
    }
    if (gpx_parse_int(value[GPX_OPT_REDIS_INTERVAL], 1, 3600, &number) != 0) {
        gpx_config_error(err, errlen, cfg, GPX_OPT_REDIS_INTERVAL, value[GPX_OPT_REDIS_INTERVAL],
                         "a number of seconds from 1 to 3600");
        return -1;
    }
    cfg->redis_interval = (int)number;
    if (gpx_parse_int(value[GPX_OPT_REDIS_TTL], 1, 31536000, &number) != 0 || number <= cfg->redis_interval) {
        char expected[96];

        snprintf(expected, sizeof(expected), "a number of seconds above gpx-redis-interval (%d), at most 31536000",
                 cfg->redis_interval);
        gpx_config_error(err, errlen, cfg, GPX_OPT_REDIS_TTL, value[GPX_OPT_REDIS_TTL], expected);
        return -1;
    }
    cfg->redis_ttl = (int)number;
    if (gpx_parse_bool(value[GPX_OPT_REDIS_TTL_DISABLED], &cfg->redis_ttl_disabled) != 0) {
        gpx_config_error(err, errlen, cfg, GPX_OPT_REDIS_TTL_DISABLED, value[GPX_OPT_REDIS_TTL_DISABLED],
                         "true/false, 1/0, yes/no or on/off");
        return -1;
    }
    if (gpx_parse_bool(value[GPX_OPT_DEBUG], &cfg->debug) != 0) {
        gpx_config_error(err, errlen, cfg, GPX_OPT_DEBUG, value[GPX_OPT_DEBUG], "true/false, 1/0, yes/no or on/off");
        return -1;
    }
    return resolve_security(cfg, value, err, errlen);
}

/* mkdir -p: each missing parent is created in turn. */
static int
make_dirs(const char *path)
{
    char buf[GPX_PATH_MAX];
    size_t i, len = strlen(path);

    if (len >= sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, len + 1);
    for (i = 1; i <= len; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char saved = buf[i];

            buf[i] = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
                return -1;
            }
            buf[i] = saved;
        }
    }
    errno = 0; /* an EEXIST above is no error: the caller reports a non-directory */
    return 0;
}

int
gpx_config_prepare_dir(const struct gpx_config *cfg, char *err, size_t errlen)
{
    char probe[GPX_PATH_MAX + 64];
    struct stat st;
    int fd;

    if (make_dirs(cfg->multiproc_dir) != 0 || stat(cfg->multiproc_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        char why[160];

        snprintf(why, sizeof(why), "a directory that can be created (%s)",
                 errno != 0 ? strerror(errno) : "not a directory");
        gpx_config_error(err, errlen, cfg, GPX_OPT_MULTIPROC_DIR, cfg->multiproc_dir, why);
        return -1;
    }
    snprintf(probe, sizeof(probe), "%s/.gpx_probe_%ld", cfg->multiproc_dir, (long)getpid());
    fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        char why[160];

        snprintf(why, sizeof(why), "a directory files can be written in (%s)", strerror(errno));
        gpx_config_error(err, errlen, cfg, GPX_OPT_MULTIPROC_DIR, cfg->multiproc_dir, why);
        return -1;
    }
    close(fd);
    unlink(probe);
    return 0;
}
