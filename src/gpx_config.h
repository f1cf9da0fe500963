/* gpx_config.h - gpx's settings: option, then environment variable, then default.
 *
 * uWSGI hands every gpx option over as a string; this module is the one place
 * that turns strings into settings and says, in one line, what is wrong with
 * a bad one. It never logs and never exits: the glue does.
 */
#ifndef GPX_CONFIG_H
#define GPX_CONFIG_H

#include <stddef.h>

enum gpx_option_id {
    GPX_OPT_PORT,
    GPX_OPT_BIND,
    GPX_OPT_MULTIPROC_DIR,
    GPX_OPT_CLEANUP_DB_FILES,
    GPX_OPT_INSTANCE,
    GPX_OPT_REDIS,
    GPX_OPT_REDIS_HOST,
    GPX_OPT_REDIS_PORT,
    GPX_OPT_REDIS_DB,
    GPX_OPT_REDIS_PASSWORD,
    GPX_OPT_REDIS_KEY_PREFIX,
    GPX_OPT_REDIS_INTERVAL,
    GPX_OPT_REDIS_TTL,
    GPX_OPT_DEBUG,
    GPX_OPT_SSL_CERTFILE,
    GPX_OPT_SSL_KEYFILE,
    GPX_OPT_SSL_CLIENT_CAFILE,
    GPX_OPT_BASIC_AUTH_FILE,
    GPX_OPT_REDIS_TTL_DISABLED,
    GPX_OPT_SSL_CLIENT_CAPATH,
    GPX_OPT_SSL_CLIENT_AUTH_REQUIRED,
    GPX_OPT_COUNT
};

/* Where a setting's value came from. */
enum gpx_source { GPX_FROM_DEFAULT, GPX_FROM_ENVIRONMENT, GPX_FROM_OPTION };

/* The catalogue of options: name, the guide's variable, default, meaning. */
struct gpx_option_info {
    const char *option;            /* "gpx-port" */
    const char *variable;          /* "PROMETHEUS_METRICS_PORT" */
    const char *default_value;     /* "9090"; NULL when computed or none */
    const char *help;              /* one line for uWSGI's --help */
    const char *exporter_variable; /* the exporter's own name for it, read after `variable`; NULL: none */
};

extern const struct gpx_option_info gpx_option_catalog[GPX_OPT_COUNT];

#define GPX_TEXT_MAX 256
#define GPX_PATH_MAX 1024

/* Resolved settings. */
struct gpx_config {
    int port;
    char bind[GPX_TEXT_MAX];
    char multiproc_dir[GPX_PATH_MAX];
    int cleanup_db_files;
    char instance[GPX_TEXT_MAX];
    int redis_enabled;
    char redis_host[GPX_PATH_MAX]; /* a host name, an address or a Unix socket path */
    int redis_port;
    int redis_db;
    char redis_password[GPX_TEXT_MAX];
    char redis_key_prefix[GPX_TEXT_MAX];
    int redis_interval;                   /* seconds between publishes */
    int redis_ttl;                        /* seconds before a silent instance's keys expire */
    int redis_ttl_disabled;               /* keys never expire (redis_ttl is not used) */
    int debug;                            /* more lines at start and at each lifecycle event, never per request */
    char ssl_certfile[GPX_PATH_MAX];      /* PEM certificate: the endpoint speaks TLS; "" for plain HTTP */
    char ssl_keyfile[GPX_PATH_MAX];       /* its PEM private key; set exactly when ssl_certfile is */
    char ssl_client_cafile[GPX_PATH_MAX]; /* PEM CAs of client certificates; "" for none */
    char ssl_client_capath[GPX_PATH_MAX]; /* a directory of PEM CAs of client certificates; "" for none */
    int ssl_client_auth_required;         /* with client CAs: 1 a certificate is required, 0 checked when offered */
    char basic_auth_file[GPX_PATH_MAX];   /* htpasswd file of bcrypt hashes; "" for no basic auth */
    enum gpx_source source[GPX_OPT_COUNT];
    const char *variable[GPX_OPT_COUNT]; /* the variable a value came from, else the option's first variable */
};

/* A lookup of environment variables (getenv, or a table in tests). */
typedef const char *(*gpx_getenv_fn)(const char *name);

/* Resolves every setting from `given` (the options' strings, NULL where not
 * given; may itself be NULL), then `getenv_fn` (the option's variable, then
 * the exporter's name for it), then the defaults; an empty string counts as
 * not given. The default instance is "<hostname>:<port>".
 * Returns 0, or -1 with one line in err naming the option, its variable,
 * the value and what is expected. Touches no file: see gpx_config_prepare_dir. */
int gpx_config_resolve(struct gpx_config *cfg, const char *const *given, gpx_getenv_fn getenv_fn, char *err,
                       size_t errlen);

/* Parses a boolean as the guide's variables take it: true/false, 1/0,
 * yes/no, on/off in any case. Returns 0 with *out set, or -1. */
int gpx_parse_bool(const char *text, int *out);

/* Parses a decimal integer from min to max with nothing around it.
 * Returns 0 with *out set, or -1. */
int gpx_parse_int(const char *text, long min, long max, long *out);

/* Creates the multiproc directory (and its parents) if missing and checks
 * that files can be created in it. Returns 0, or -1 with the one-line error
 * for gpx-multiproc-dir in err. */
int gpx_config_prepare_dir(const struct gpx_config *cfg, char *err, size_t errlen);

/* Formats the one-line error for option `id` and value `value`. */
void gpx_config_error(char *err, size_t errlen, const struct gpx_config *cfg, enum gpx_option_id id, const char *value,
                      const char *expected);

#endif
