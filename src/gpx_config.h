/* gpx_config.h - gpx's settings: option, then environment variable, then default.
 *
 * Every option is declared once, in gpx_option_catalog (gpx_config.c): its
 * name, its variable(s), its default, how its value is checked and its help.
 * uWSGI's option list and --help, the resolution, the gpx-debug dump and the
 * table of docs/options.md (checked by tests/unit/test_gpx_config.c) are all
 * made from it. Adding an option: an id below, a field in struct gpx_config,
 * an entry in the catalogue, a row in the doc's table.
 *
 * uWSGI hands every gpx option over as a string; this module is the one place
 * that turns strings into settings (and the one that reads gpx's variables)
 * and says, in one line, what is wrong with a bad one. It never logs and
 * never exits: the glue does.
 */
#ifndef GPX_CONFIG_H
#define GPX_CONFIG_H

#include <stddef.h>

/* In the catalogue's order: uWSGI's --help, the resolution (the first bad
 * value is the one reported), the debug dump and the doc's table. */
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
    GPX_OPT_REDIS_TTL_DISABLED,
    GPX_OPT_REDIS_SENTINELS,
    GPX_OPT_REDIS_SENTINEL_MASTER,
    GPX_OPT_REDIS_SENTINEL_PASSWORD,
    GPX_OPT_READYZ_SATURATION,
    GPX_OPT_READYZ_QUEUE,
    GPX_OPT_READYZ_BUSY_PERCENT,
    GPX_OPT_FLEET_MAX_AGE,
    GPX_OPT_DEBUG,
    GPX_OPT_SSL_CERTFILE,
    GPX_OPT_SSL_KEYFILE,
    GPX_OPT_SSL_CLIENT_CAFILE,
    GPX_OPT_SSL_CLIENT_CAPATH,
    GPX_OPT_SSL_CLIENT_AUTH_REQUIRED,
    GPX_OPT_SSL_CLIENT_ALLOWED_SANS,
    GPX_OPT_SSL_MIN_VERSION,
    GPX_OPT_SSL_MAX_VERSION,
    GPX_OPT_BASIC_AUTH_FILE,
    GPX_OPT_HTTP_HEADERS,
    GPX_OPT_RATE_LIMIT,
    GPX_OPT_RATE_LIMIT_BURST,
    GPX_OPT_PROFILE,
    GPX_OPT_STATS_URI,
    GPX_OPT_COLLECT_CORES,
    GPX_OPT_NATIVE_HISTOGRAMS,
    GPX_OPT_NATIVE_HISTOGRAM_SCHEMA,
    GPX_OPT_EXEMPLARS,
    GPX_OPT_COUNT
};

/* Where a setting's value came from. */
enum gpx_source { GPX_FROM_DEFAULT, GPX_FROM_ENVIRONMENT, GPX_FROM_OPTION };

/* How an option's text becomes its setting. */
enum gpx_option_type {
    GPX_TYPE_TEXT, /* copied into a char array (too long: refused) */
    GPX_TYPE_INT,  /* a decimal integer from min to max, into an int */
    GPX_TYPE_BOOL, /* true/false, 1/0, yes/no, on/off in any case, into an int */
};

struct gpx_config;

/* A check beyond the type: `text` is the option's text, already parsed into
 * its setting, with the settings before it in the catalogue resolved.
 * Returns 1 when the value is good, 0 when not. */
typedef int (*gpx_option_check_fn)(const struct gpx_config *cfg, const char *text);

/* What is expected of a value, when it depends on other settings. */
typedef const char *(*gpx_option_expected_fn)(const struct gpx_config *cfg, char *buf, size_t len);

/* Makes the setting of an option given nowhere, when no fixed text would do
 * (the instance's host name and port, say). */
typedef void (*gpx_option_default_fn)(struct gpx_config *cfg);

/* Flags of an option. */
#define GPX_OPTION_SECRET 1u /* never shown: "(hidden)" in errors, "(set)"/"(none)" in the dump */

/* One option, as everything about it is declared. */
struct gpx_option_info {
    const char *option;                 /* "gpx-port" */
    const char *variable;               /* "PROMETHEUS_METRICS_PORT" */
    const char *exporter_variable;      /* the exporter's own name for it, read after `variable`; NULL: none */
    const char *default_value;          /* the text an unset option resolves from */
    gpx_option_default_fn default_fn;   /* or this makes it (default_value, if any, is only shown) */
    const char *default_doc;            /* the default as the docs show it (Markdown); NULL: default_value */
    enum gpx_option_type type;          /* how the text is parsed */
    size_t offset;                      /* the setting in struct gpx_config */
    size_t size;                        /* GPX_TYPE_TEXT: the setting's array size */
    long min, max;                      /* GPX_TYPE_INT: the accepted range */
    gpx_option_check_fn check;          /* more than the type asks, or NULL */
    const char *expected;               /* the error line's "expected ..." (booleans: NULL, the type says) */
    gpx_option_expected_fn expected_fn; /* instead of `expected`, when that depends on other settings */
    unsigned flags;                     /* GPX_OPTION_* */
    const char *help;                   /* uWSGI's --help, before "(VARIABLE, default ...)" */
    const char *accepted;               /* docs/options.md's "accepted values" (Markdown) */
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
    int redis_interval;                         /* seconds between publishes */
    int redis_ttl;                              /* seconds before a silent instance's keys expire */
    int redis_ttl_disabled;                     /* keys never expire (redis_ttl is not used) */
    char redis_sentinels[GPX_PATH_MAX];         /* "host:port,host:port": ask them for the master; empty: redis_host */
    char redis_sentinel_master[GPX_TEXT_MAX];   /* the master's name the Sentinels know */
    char redis_sentinel_password[GPX_TEXT_MAX]; /* AUTH'ed with each Sentinel when not empty */
    int readyz_saturation;                      /* /readyz judges the queue and the busy share */
    int readyz_queue;                     /* connections that may wait in a listen queue while every worker is busy */
    int readyz_busy_percent;              /* share of accepting workers busy that is not ready, 0..100; 0: never */
    int fleet_max_age;                    /* seconds: an older snapshot is left out of the fleet view; 0: the TTL */
    int debug;                            /* more lines at start and at each lifecycle event, never per request */
    char ssl_certfile[GPX_PATH_MAX];      /* PEM certificate: the endpoint speaks TLS; "" for plain HTTP */
    char ssl_keyfile[GPX_PATH_MAX];       /* its PEM private key; set exactly when ssl_certfile is */
    char ssl_client_cafile[GPX_PATH_MAX]; /* PEM CAs of client certificates; "" for none */
    char ssl_client_capath[GPX_PATH_MAX]; /* a directory of PEM CAs of client certificates; "" for none */
    int ssl_client_auth_required;         /* with client CAs: 1 a certificate is required, 0 checked when offered */
    char ssl_client_allowed_sans[GPX_PATH_MAX]; /* comma-separated subject alternative names; "" for any */
    char ssl_min_version[8];                    /* "TLS10" .. "TLS13" */
    char ssl_max_version[8];                    /* "TLS10" .. "TLS13", or "" for the newest */
    char basic_auth_file[GPX_PATH_MAX];         /* htpasswd file of bcrypt hashes; "" for no basic auth */
    char http_headers[GPX_PATH_MAX];            /* "Name: value|..." changing the answers' headers */
    int rate_limit;                             /* requests per second per client address; 0 for no limit */
    int rate_limit_burst;                       /* requests at once per client address */
    char profile[GPX_TEXT_MAX];                 /* "gunicorn", "uwsgi-exporter" or "both": see gpx_config_profile */
    char stats_uri[GPX_PATH_MAX];               /* the stats_uri label of the uwsgi-exporter profile's series */
    int collect_cores;                          /* the uwsgi-exporter profile's per-core families */
    int native_histograms;                      /* the protobuf page carries native histograms */
    int native_histogram_schema;                /* the schema they are served at, -4..GPX_NATIVE_SCHEMA */
    int exemplars;                              /* requests' traceparent ids as the latency buckets' exemplars */
    enum gpx_source source[GPX_OPT_COUNT];
    const char *variable[GPX_OPT_COUNT];       /* the variable a value came from, else the option's first variable */
    const char *text[GPX_OPT_COUNT];           /* the text resolved (the caller's, the environment's or the default);
                                                  NULL when default_fn made the setting */
    unsigned char variable_set[GPX_OPT_COUNT]; /* the option's first variable is in the environment (even empty) */
};

/* A lookup of environment variables (getenv, or a table in tests). */
typedef const char *(*gpx_getenv_fn)(const char *name);

/* Which sets of names the page carries (gpx-profile): gpx's own families
 * always, uWSGI's metrics subsystem with GPX_PROFILE_GUNICORN, the
 * uwsgi_exporter sidecar's families with GPX_PROFILE_UWSGI_EXPORTER. */
#define GPX_PROFILE_GUNICORN 1u
#define GPX_PROFILE_UWSGI_EXPORTER 2u

/* The GPX_PROFILE_* bits of a profile's name, or 0 for an unknown name. */
unsigned gpx_profile_bits(const char *name);

/* Resolves every setting from `given` (the options' strings, NULL where not
 * given; may itself be NULL), then `getenv_fn` (the option's variable, then
 * the exporter's name for it), then the defaults; an empty string counts as
 * not given. The default instance is "<hostname>:<port>". The texts of
 * cfg->text are `given`'s and the environment's: they must outlive cfg.
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

/* "the default", "the environment" or "the option". */
const char *gpx_config_source_name(enum gpx_source source);

/* uWSGI's --help line of option `id`: its help, then its variable(s) and
 * default, "port of the metrics endpoint (PROMETHEUS_METRICS_PORT, default
 * 9090)". Returns what snprintf does. */
int gpx_option_help(enum gpx_option_id id, char *buf, size_t len);

/* The gpx-debug line of setting `id` of a resolved cfg: "gpx: debug:
 * gpx-port = 9090 (PROMETHEUS_METRICS_PORT, from the default)"; a secret
 * shows only whether it is set. Returns what snprintf does. */
int gpx_config_describe(const struct gpx_config *cfg, enum gpx_option_id id, char *buf, size_t len);

/* The TLS version a gpx-ssl-min-version / gpx-ssl-max-version text names:
 * 10 for "TLS10" up to 13 for "TLS13" (any case), or 0. */
int gpx_tls_version_number(const char *text);

/* Formats the one-line error for option `id` and value `value`. */
void gpx_config_error(char *err, size_t errlen, const struct gpx_config *cfg, enum gpx_option_id id, const char *value,
                      const char *expected);

#endif
