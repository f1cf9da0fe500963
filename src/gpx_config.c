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

#include "gpx_headers.h"
#include "gpx_sentinel.h"

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

    /* A sign only where the range has negative numbers (a schema). */
    if (!isdigit((unsigned char)text[min < 0 && text[0] == '-'])) {
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
    snprintf(err, errlen, "gpx: invalid %s / %s \"%s\" (from %s): expected %s", gpx_option_catalog[id].option,
             cfg->variable[id] != NULL ? cfg->variable[id] : gpx_option_catalog[id].variable, value,
             gpx_config_source_name(cfg->source[id]), expected);
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

/* -- the checks and computed defaults the catalogue names ----------------- */

static int
accept_bind(const struct gpx_config *cfg, const char *text)
{
    (void)text;
    return bind_resolves(cfg->bind);
}

static int
accept_absolute(const struct gpx_config *cfg, const char *text)
{
    (void)cfg;
    return text[0] == '/';
}

static int
accept_name(const struct gpx_config *cfg, const char *text)
{
    (void)cfg;
    return instance_valid(text);
}

static int
accept_ttl(const struct gpx_config *cfg, const char *text)
{
    (void)text;
    return cfg->redis_ttl > cfg->redis_interval;
}

static const char *
expected_ttl(const struct gpx_config *cfg, char *buf, size_t len)
{
    snprintf(buf, len, "a number of seconds above gpx-redis-interval (%d), at most 31536000", cfg->redis_interval);
    return buf;
}

static int
accept_sentinels(const struct gpx_config *cfg, const char *text)
{
    struct gpx_sentinel_addr addrs[GPX_SENTINELS_MAX];
    char why[256];

    (void)cfg;
    return text[0] == '\0' || gpx_sentinel_parse(text, addrs, GPX_SENTINELS_MAX, why, sizeof(why)) > 0;
}

static int
client_cas(const struct gpx_config *cfg)
{
    return cfg->ssl_client_cafile[0] != '\0' || cfg->ssl_client_capath[0] != '\0';
}

/* true needs something to check certificates against. */
static int
accept_client_auth(const struct gpx_config *cfg, const char *text)
{
    (void)text;
    return !cfg->ssl_client_auth_required || client_cas(cfg);
}

/* Unset, a certificate is required once client CAs are given (safer than
 * the exporter's default); an explicit false checks one only when offered. */
static void
default_client_auth(struct gpx_config *cfg)
{
    cfg->ssl_client_auth_required = client_cas(cfg);
}

int
gpx_tls_version_number(const char *text)
{
    if (strlen(text) == 5 && strncasecmp(text, "TLS1", 4) == 0 && text[4] >= '0' && text[4] <= '3') {
        return 10 + (text[4] - '0');
    }
    return 0;
}

unsigned
gpx_profile_bits(const char *name)
{
    if (strcmp(name, "gunicorn") == 0) {
        return GPX_PROFILE_GUNICORN;
    }
    if (strcmp(name, "uwsgi-exporter") == 0) {
        return GPX_PROFILE_UWSGI_EXPORTER;
    }
    if (strcmp(name, "both") == 0) {
        return GPX_PROFILE_GUNICORN | GPX_PROFILE_UWSGI_EXPORTER;
    }
    return 0;
}

static int
has_tls(const struct gpx_config *cfg)
{
    return cfg->ssl_certfile[0] != '\0';
}

/* Subject alternative names to compare a client certificate's with: client
 * certificates to take them from, and no empty name or space in the list. */
static int
accept_sans(const struct gpx_config *cfg, const char *text)
{
    const char *p;
    int empty = 1;

    if (text[0] == '\0') {
        return 1;
    }
    if (!client_cas(cfg)) {
        return 0;
    }
    for (p = text; *p != '\0'; p++) {
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 127 || (*p == ',' && empty)) {
            return 0;
        }
        empty = *p == ',';
    }
    return !empty;
}

/* A version this endpoint serves, only where there is TLS. */
static int
accept_min_version(const struct gpx_config *cfg, const char *text)
{
    return gpx_tls_version_number(text) != 0 &&
           (has_tls(cfg) || cfg->source[GPX_OPT_SSL_MIN_VERSION] == GPX_FROM_DEFAULT);
}

static int
accept_max_version(const struct gpx_config *cfg, const char *text)
{
    int max = gpx_tls_version_number(text);

    if (text[0] == '\0') {
        return 1;
    }
    return max != 0 && max >= gpx_tls_version_number(cfg->ssl_min_version) && has_tls(cfg);
}

static const char *
expected_max_version(const struct gpx_config *cfg, char *buf, size_t len)
{
    snprintf(buf, len, "TLS10, TLS11, TLS12 or TLS13, at least gpx-ssl-min-version (%s), with TLS (gpx-ssl-certfile)",
             cfg->ssl_min_version);
    return buf;
}

static int
accept_headers(const struct gpx_config *cfg, const char *text)
{
    struct gpx_headers h;
    char why[8];

    return gpx_headers_build(&h, text, has_tls(cfg), why, sizeof(why)) == 0;
}

static const char *
expected_headers(const struct gpx_config *cfg, char *buf, size_t len)
{
    struct gpx_headers h;
    char why[320];

    gpx_headers_build(&h, cfg->http_headers, has_tls(cfg), why, sizeof(why));
    snprintf(buf, len, "Name: value entries separated by '|' (%s)", why);
    return buf;
}

static int
accept_burst(const struct gpx_config *cfg, const char *text)
{
    (void)text;
    return cfg->rate_limit > 0;
}

/* Unset, a client may send one second's worth at once. */
static void
default_burst(struct gpx_config *cfg)
{
    cfg->rate_limit_burst = cfg->rate_limit;
}

static int
accept_profile(const struct gpx_config *cfg, const char *text)
{
    (void)cfg;
    return gpx_profile_bits(text) != 0;
}

/* A label value: printable ASCII (the text format escapes only \\, " and
 * newline, and a dashboard's selector names the value as it is). */
static int
accept_label_value(const struct gpx_config *cfg, const char *text)
{
    const unsigned char *p;

    (void)cfg;
    for (p = (const unsigned char *)text; *p; p++) {
        if (*p < ' ' || *p >= 127) {
            return 0;
        }
    }
    return 1;
}

static void
default_instance(struct gpx_config *cfg)
{
    char host[GPX_TEXT_MAX - 8];

    if (gethostname(host, sizeof(host)) != 0) {
        strcpy(host, "localhost");
    }
    host[sizeof(host) - 1] = '\0';
    snprintf(cfg->instance, sizeof(cfg->instance), "%s:%d", host, cfg->port);
}

/* -- the catalogue: every option, declared once --------------------------- */

#define SETTING(field) .offset = offsetof(struct gpx_config, field)
#define TEXT(field) .type = GPX_TYPE_TEXT, SETTING(field), .size = sizeof(((struct gpx_config *)0)->field)
#define INT(field, lo, hi) .type = GPX_TYPE_INT, SETTING(field), .min = (lo), .max = (hi)
#define BOOL(field) .type = GPX_TYPE_BOOL, SETTING(field)
#define PATH_EXPECTED "a file path shorter than 1024 bytes"
#define NAME_EXPECTED "printable characters without spaces or '/', at most 255"

const struct gpx_option_info gpx_option_catalog[GPX_OPT_COUNT] = {
    [GPX_OPT_PORT] = {"gpx-port", "PROMETHEUS_METRICS_PORT", .default_value = "9090", INT(port, 1, 65535),
                      .expected = "a port number from 1 to 65535", .help = "port of the metrics endpoint",
                      .accepted = "a decimal port number, 1 to 65535"},
    [GPX_OPT_BIND] = {"gpx-bind", "PROMETHEUS_BIND_ADDRESS", .default_value = "0.0.0.0", TEXT(bind),
                      .check = accept_bind, .expected = "an IP address or a host name this machine resolves",
                      .help = "address of the metrics endpoint",
                      .accepted = "an IPv4 or IPv6 address, or a host name this machine resolves"},
    [GPX_OPT_MULTIPROC_DIR] = {"gpx-multiproc-dir", "PROMETHEUS_MULTIPROC_DIR",
                               .default_value = "/tmp/prometheus_multiproc", TEXT(multiproc_dir),
                               .check = accept_absolute, .expected = "an absolute directory path",
                               .help = "directory of the metric files",
                               .accepted = "an absolute path of a directory gpx can create and write in"},
    [GPX_OPT_CLEANUP_DB_FILES] = {"gpx-cleanup-db-files", "CLEANUP_DB_FILES", .default_value = "false",
                                  BOOL(cleanup_db_files), .help = "start from zero on a cold start",
                                  .accepted = "a boolean (below)"},
    [GPX_OPT_INSTANCE] = {"gpx-instance", "GPX_INSTANCE", .default_fn = default_instance,
                          .default_doc = "`<hostname>:<port>`", TEXT(instance), .check = accept_name,
                          .expected = "a name of " NAME_EXPECTED, .help = "name of this server in storage",
                          .accepted = "up to 255 printable ASCII characters, no spaces, no `/`, not `.` or `..`"},
    [GPX_OPT_REDIS] = {"gpx-redis", "REDIS_ENABLED", .default_value = "false", BOOL(redis_enabled),
                       .help = "keep metrics in Redis", .accepted = "a boolean"},
    [GPX_OPT_REDIS_HOST] = {"gpx-redis-host", "REDIS_HOST", .default_value = "localhost", TEXT(redis_host),
                            .expected = "a host name, an address or a Unix socket path shorter than 1024 bytes",
                            .help = "Redis host or socket path",
                            .accepted = "a host name, an address, or the path of a Unix socket (starting with `/`), "
                                        "shorter than 1024 bytes"},
    [GPX_OPT_REDIS_PORT] = {"gpx-redis-port", "REDIS_PORT", .default_value = "6379", INT(redis_port, 1, 65535),
                            .expected = "a port number from 1 to 65535", .help = "Redis port",
                            .accepted = "a decimal port number, 1 to 65535"},
    [GPX_OPT_REDIS_DB] = {"gpx-redis-db", "REDIS_DB", .default_value = "0", INT(redis_db, 0, INT_MAX),
                          .expected = "a database number, 0 or more", .help = "Redis database",
                          .accepted = "a decimal integer, 0 or more"},
    [GPX_OPT_REDIS_PASSWORD] = {"gpx-redis-password", "REDIS_PASSWORD", .default_value = "", TEXT(redis_password),
                                .expected = "a password shorter than 256 bytes", .flags = GPX_OPTION_SECRET,
                                .help = "Redis password", .accepted = "any text shorter than 256 bytes"},
    [GPX_OPT_REDIS_KEY_PREFIX] = {"gpx-redis-key-prefix", "REDIS_KEY_PREFIX", .default_value = "gunicorn",
                                  TEXT(redis_key_prefix), .check = accept_name,
                                  .expected = "a prefix of " NAME_EXPECTED, .help = "prefix of Redis keys",
                                  .accepted = "same rule as `gpx-instance`"},
    [GPX_OPT_REDIS_INTERVAL] = {"gpx-redis-interval", "GPX_REDIS_INTERVAL", .default_value = "5",
                                INT(redis_interval, 1, 3600), .expected = "a number of seconds from 1 to 3600",
                                .help = "seconds between publishes to Redis",
                                .accepted = "seconds between publishes to Redis, 1 to 3600"},
    [GPX_OPT_REDIS_TTL] = {"gpx-redis-ttl", "GPX_REDIS_TTL", "REDIS_TTL_SECONDS", .default_value = "86400",
                           INT(redis_ttl, 1, 31536000), .check = accept_ttl, .expected_fn = expected_ttl,
                           .help = "seconds before a silent instance's Redis keys expire",
                           .accepted = "seconds before the keys of an instance that stopped publishing expire: more "
                                       "than `gpx-redis-interval`, at most 31536000 (a year)"},
    [GPX_OPT_REDIS_TTL_DISABLED] = {"gpx-redis-ttl-disabled", "REDIS_TTL_DISABLED", .default_value = "false",
                                    BOOL(redis_ttl_disabled),
                                    .help = "Redis keys never expire, whatever gpx-redis-ttl says",
                                    .accepted = "a boolean: `true`: gpx's keys never expire and stopped instances "
                                                "stay in the fleet view, whatever `gpx-redis-ttl` says"},
    [GPX_OPT_REDIS_SENTINELS] = {"gpx-redis-sentinels", "REDIS_SENTINELS", .default_value = "", TEXT(redis_sentinels),
                                 .check = accept_sentinels,
                                 .expected = "host:port,host:port (at most 16, ports 1 to 65535, IPv6 as "
                                             "[address]:port), shorter than 1024 bytes",
                                 .help = "Redis Sentinels to ask for the master, instead of gpx-redis-host",
                                 .accepted = "`host:port` entries separated by commas (at most 16; an IPv6 address "
                                             "in brackets, `[::1]:26379`): gpx asks them for the master named "
                                             "`gpx-redis-sentinel-master` and follows its failovers; "
                                             "`gpx-redis-host` and `gpx-redis-port` are then not used"},
    [GPX_OPT_REDIS_SENTINEL_MASTER] = {"gpx-redis-sentinel-master", "REDIS_SENTINEL_MASTER",
                                       .default_value = "mymaster", TEXT(redis_sentinel_master), .check = accept_name,
                                       .expected = "a name of " NAME_EXPECTED,
                                       .help = "name of the master the Redis Sentinels monitor",
                                       .accepted = "the name the Sentinels monitor the master by (`sentinel "
                                                   "monitor <name> ...`); same rule as `gpx-instance`"},
    [GPX_OPT_REDIS_SENTINEL_PASSWORD] = {"gpx-redis-sentinel-password", "REDIS_SENTINEL_PASSWORD", .default_value = "",
                                         TEXT(redis_sentinel_password), .expected = "a password shorter than 256 bytes",
                                         .flags = GPX_OPTION_SECRET, .help = "password of the Redis Sentinels",
                                         .accepted = "any text shorter than 256 bytes: sent with `AUTH` to each "
                                                     "Sentinel (the Sentinels' `requirepass`); the master's is "
                                                     "`gpx-redis-password`"},
    [GPX_OPT_READYZ_SATURATION] = {"gpx-readyz-saturation", "GPX_READYZ_SATURATION", .default_value = "true",
                                   BOOL(readyz_saturation),
                                   .help = "/readyz answers 503 while the workers are saturated",
                                   .accepted = "a boolean: `false`: `/readyz` answers 503 only while stopping, "
                                               "reloading, or without an app or a worker, never for "
                                               "`gpx-readyz-queue` or `gpx-readyz-busy-percent`"},
    [GPX_OPT_READYZ_QUEUE] = {"gpx-readyz-queue", "GPX_READYZ_QUEUE", .default_value = "0", INT(readyz_queue, 0, 65535),
                              .expected = "a number of connections from 0 to 65535",
                              .help = "/readyz answers 503 when every worker is busy and more connections wait",
                              .accepted = "connections, 0 to 65535: `/readyz` answers 503 while every worker is busy "
                                          "and more than this many wait in the app's listen queue"},
    [GPX_OPT_READYZ_BUSY_PERCENT] =
        {"gpx-readyz-busy-percent", "GPX_READYZ_BUSY_PERCENT", .default_value = "0", INT(readyz_busy_percent, 0, 100),
         .expected = "a percentage from 0 to 100",
         .help = "/readyz answers 503 while at least this percentage of the workers is busy; 0: never",
         .accepted = "a percentage, 0 to 100: `/readyz` answers 503 while at least this "
                     "share of the workers accepting requests is busy, before anything "
                     "waits; 0: never"},
    [GPX_OPT_FLEET_MAX_AGE] = {"gpx-fleet-max-age", "GPX_FLEET_MAX_AGE", .default_value = "0",
                               INT(fleet_max_age, 0, 31536000), .expected = "a number of seconds from 0 to 31536000",
                               .help = "seconds after which an instance's snapshot is left out of the fleet view",
                               .accepted = "seconds after which an instance's snapshot is stale: left out of the "
                                           "fleet view and counted; `0`: `gpx-redis-ttl` (no limit when keys never "
                                           "expire), at most 31536000"},
    [GPX_OPT_DEBUG] = {"gpx-debug", "GPX_DEBUG", .default_value = "false", BOOL(debug),
                       .help = "more log lines at start, per scrape and per publish, never per request",
                       .accepted = "a boolean: `true` logs every setting with its value and where it came from at "
                                   "start, one line per metrics-port answer and per Redis publish; never a line per "
                                   "request. It stands for the guide's `loglevel = \"debug\"`"},
    [GPX_OPT_SSL_CERTFILE] = {"gpx-ssl-certfile", "PROMETHEUS_SSL_CERTFILE", .default_value = "", TEXT(ssl_certfile),
                              .expected = PATH_EXPECTED,
                              .help = "PEM certificate: serve metrics over HTTPS, with gpx-ssl-keyfile",
                              .accepted = "the path of a PEM file with the server's certificate (chain): the "
                                          "endpoint speaks HTTPS only. Needs `gpx-ssl-keyfile`"},
    [GPX_OPT_SSL_KEYFILE] = {"gpx-ssl-keyfile", "PROMETHEUS_SSL_KEYFILE", .default_value = "", TEXT(ssl_keyfile),
                             .expected = PATH_EXPECTED, .help = "PEM private key of gpx-ssl-certfile",
                             .accepted = "the path of a PEM file with the certificate's private key, unencrypted. "
                                         "Needs `gpx-ssl-certfile`"},
    [GPX_OPT_SSL_CLIENT_CAFILE] = {"gpx-ssl-client-cafile", "PROMETHEUS_SSL_CLIENT_CAFILE", .default_value = "",
                                   TEXT(ssl_client_cafile), .expected = PATH_EXPECTED,
                                   .help = "PEM CA certificates: require client certificates they signed",
                                   .accepted = "the path of a PEM file with one or more CA certificates: every "
                                               "scrape must present a client certificate they signed. Needs TLS"},
    [GPX_OPT_SSL_CLIENT_CAPATH] = {"gpx-ssl-client-capath", "PROMETHEUS_SSL_CLIENT_CAPATH", .default_value = "",
                                   TEXT(ssl_client_capath), .expected = PATH_EXPECTED,
                                   .help = "directory of PEM CA certificates: require client certificates they "
                                           "signed",
                                   .accepted = "the path of a directory of PEM files with CA certificates (as "
                                               "`c_rehash` leaves it, or plain files), beside or instead of "
                                               "`gpx-ssl-client-cafile`. Needs TLS"},
    [GPX_OPT_SSL_CLIENT_AUTH_REQUIRED] = {"gpx-ssl-client-auth-required", "PROMETHEUS_SSL_CLIENT_AUTH_REQUIRED",
                                          .default_value = "", .default_fn = default_client_auth,
                                          .default_doc = "`true` when client CAs are given",
                                          BOOL(ssl_client_auth_required), .check = accept_client_auth,
                                          .expected = "false, or client CAs to check certificates against "
                                                      "(gpx-ssl-client-cafile or gpx-ssl-client-capath)",
                                          .help = "with client CAs: false checks a client certificate only when "
                                                  "offered",
                                          .accepted = "a boolean. `false`: a scrape without a client certificate "
                                                      "is served; one that offers a certificate must still present "
                                                      "one the CAs signed. `true` needs client CAs"},
    [GPX_OPT_SSL_CLIENT_ALLOWED_SANS] = {"gpx-ssl-client-allowed-sans", "PROMETHEUS_SSL_CLIENT_ALLOWED_SANS",
                                         .default_value = "", TEXT(ssl_client_allowed_sans), .check = accept_sans,
                                         .expected = "a comma-separated list of DNS names, e-mail addresses, URIs "
                                                     "or IP addresses without spaces, with client CAs "
                                                     "(gpx-ssl-client-cafile or gpx-ssl-client-capath)",
                                         .help = "comma-separated subject alternative names: a client certificate "
                                                 "must carry one of them",
                                         .accepted = "a comma-separated list of subject alternative names (DNS "
                                                     "names, e-mail addresses, URIs, IP addresses), each compared "
                                                     "exactly: a verified client certificate must carry one of them "
                                                     "or gets 403. Needs client CAs"},
    [GPX_OPT_SSL_MIN_VERSION] = {"gpx-ssl-min-version", "PROMETHEUS_SSL_MIN_VERSION", .default_value = "TLS12",
                                 TEXT(ssl_min_version), .check = accept_min_version,
                                 .expected = "TLS10, TLS11, TLS12 or TLS13, with TLS (gpx-ssl-certfile)",
                                 .help = "oldest TLS version the endpoint accepts",
                                 .accepted = "`TLS10`, `TLS11`, `TLS12` or `TLS13`: the oldest TLS version a "
                                             "client may use. Set, it needs TLS"},
    [GPX_OPT_SSL_MAX_VERSION] = {"gpx-ssl-max-version", "PROMETHEUS_SSL_MAX_VERSION", .default_value = "",
                                 .default_doc = "the newest (`TLS13`)", TEXT(ssl_max_version),
                                 .check = accept_max_version, .expected_fn = expected_max_version,
                                 .help = "newest TLS version the endpoint accepts",
                                 .accepted = "`TLS10`, `TLS11`, `TLS12` or `TLS13`, at least "
                                             "`gpx-ssl-min-version`: the newest TLS version a client may use. "
                                             "Needs TLS"},
    [GPX_OPT_BASIC_AUTH_FILE] = {"gpx-basic-auth-file", "PROMETHEUS_BASIC_AUTH_FILE", .default_value = "",
                                 TEXT(basic_auth_file), .expected = PATH_EXPECTED,
                                 .help = "htpasswd file of user:bcrypt-hash lines: require HTTP basic auth",
                                 .accepted = "the path of an htpasswd file of `user:bcrypt-hash` lines (`htpasswd "
                                             "-B`): every scrape must send HTTP basic credentials of one of its "
                                             "users"},
    [GPX_OPT_HTTP_HEADERS] = {"gpx-http-headers", "PROMETHEUS_HTTP_HEADERS", .default_value = "",
                              .default_doc = "`X-Content-Type-Options: nosniff`, `X-Frame-Options: deny`, with TLS "
                                             "`Strict-Transport-Security: max-age=31536000`",
                              TEXT(http_headers), .check = accept_headers, .expected_fn = expected_headers,
                              .help = "Name: value|... headers every answer of the endpoint carries, beside the "
                                      "defaults",
                              .accepted = "`Name: value` entries separated by `\\|`: a default header takes the "
                                          "value, an empty value drops it, another header is added. Names: "
                                          "`Cache-Control`, `Content-Security-Policy`, `Cross-Origin-Opener-Policy`, "
                                          "`Cross-Origin-Resource-Policy`, `Permissions-Policy`, `Referrer-Policy`, "
                                          "`Strict-Transport-Security` (needs TLS), `X-Content-Type-Options`, "
                                          "`X-Frame-Options`, `X-XSS-Protection`"},
    [GPX_OPT_RATE_LIMIT] = {"gpx-rate-limit", "PROMETHEUS_RATE_LIMIT", .default_value = "0",
                            INT(rate_limit, 0, 1000000),
                            .expected = "a number of requests per second from 0 to 1000000",
                            .help = "requests per second one client address may send the endpoint (0: no limit)",
                            .accepted = "requests per second per client address, 0 (no limit) to 1000000: past it "
                                        "(and the burst) the endpoint answers 429"},
    [GPX_OPT_RATE_LIMIT_BURST] = {"gpx-rate-limit-burst", "PROMETHEUS_RATE_LIMIT_BURST", .default_value = "",
                                  .default_fn = default_burst, .default_doc = "`gpx-rate-limit`",
                                  INT(rate_limit_burst, 1, 1000000), .check = accept_burst,
                                  .expected = "a number of requests from 1 to 1000000, with gpx-rate-limit above 0",
                                  .help = "requests one client address may send at once before gpx-rate-limit "
                                          "applies",
                                  .accepted = "requests one client address may send at once, 1 to 1000000. Needs "
                                              "`gpx-rate-limit`"},
    [GPX_OPT_PROFILE] = {"gpx-profile", "GPX_PROFILE", .default_value = "gunicorn", TEXT(profile),
                         .check = accept_profile, .expected = "gunicorn, uwsgi-exporter or both",
                         .help = "names served: gunicorn, uwsgi-exporter (uwsgi_exporter's families) or both",
                         .accepted = "`gunicorn`: gpx's families and uWSGI's metrics subsystem; `uwsgi-exporter`: "
                                     "gpx's families and uwsgi_exporter's; `both`: all three (see "
                                     "[metrics.md](metrics.md#which-names-in-which-profile))"},
    [GPX_OPT_STATS_URI] = {"gpx-stats-uri", "GPX_STATS_URI", .default_value = "", TEXT(stats_uri),
                           .check = accept_label_value,
                           .expected = "printable ASCII characters, shorter than 1024 bytes",
                           .help = "stats_uri label of the uwsgi-exporter profile (the sidecar's --stats.uri)",
                           .accepted = "the `stats_uri` label of every uwsgi_exporter series: the sidecar's "
                                       "`--stats.uri` (e.g. `unix:///run/uwsgi/stats.sock`), so that existing "
                                       "selectors match; printable ASCII, shorter than 1024 bytes"},
    [GPX_OPT_COLLECT_CORES] = {"gpx-collect-cores", "GPX_COLLECT_CORES", .default_value = "false", BOOL(collect_cores),
                               .help = "uwsgi-exporter profile: the per-core families (the sidecar's --collect.cores)",
                               .accepted = "a boolean: `true` adds the per-core `uwsgi_worker_core_*` families of "
                                           "the uwsgi-exporter profile, as the sidecar's `--collect.cores` does"},
    [GPX_OPT_NATIVE_HISTOGRAMS] = {"gpx-native-histograms", "GPX_NATIVE_HISTOGRAMS", .default_value = "true",
                                   BOOL(native_histograms),
                                   .help = "the protobuf page carries gunicorn_request_duration_seconds as a native "
                                           "histogram too",
                                   .accepted = "a boolean: `true` gives `gunicorn_request_duration_seconds` on the "
                                               "protobuf page a native histogram beside its classic buckets (see "
                                               "[metrics.md](metrics.md#native-histograms)); text and OpenMetrics "
                                               "pages are the same either way"},
    [GPX_OPT_NATIVE_HISTOGRAM_SCHEMA] = {"gpx-native-histogram-schema", "GPX_NATIVE_HISTOGRAM_SCHEMA",
                                         .default_value = "3", INT(native_histogram_schema, -4, 3),
                                         .expected = "a native histogram schema from -4 to 3",
                                         .help = "resolution of the native histograms: 3 is 8 buckets per power of "
                                                 "two (9% wide), each step down halves it",
                                         .accepted = "a schema from -4 to 3: bucket bounds grow by 2^(2^-schema), "
                                                     "so 3 (the default) has 8 buckets per power of two, each at "
                                                     "most 9.05% wide (a quantile is within that of the true one), "
                                                     "2 has 4 (18.9%), 0 one (100%)"},
    [GPX_OPT_EXEMPLARS] = {"gpx-exemplars", "GPX_EXEMPLARS", .default_value = "false", BOOL(exemplars),
                           .help = "a request's W3C traceparent (sampled) becomes the exemplar of its latency "
                                   "bucket",
                           .accepted = "a boolean: `true` keeps the trace and span ids of a request that carries a "
                                       "valid W3C `traceparent` header of a sampled trace as the exemplar of the "
                                       "`gunicorn_request_duration_seconds` bucket it fell in, served in OpenMetrics "
                                       "and protobuf (see [metrics.md](metrics.md#exemplars))"},
};

/* -- resolution ------------------------------------------------------------ */

#define BOOL_EXPECTED "true/false, 1/0, yes/no or on/off"

/* The option, else its variable, else the exporter's, else the default. */
static void
pick_source(struct gpx_config *cfg, enum gpx_option_id id, const char *const *given, gpx_getenv_fn getenv_fn)
{
    const struct gpx_option_info *o = &gpx_option_catalog[id];
    const char *v = given != NULL ? given[id] : NULL;
    const char *env = getenv_fn != NULL ? getenv_fn(o->variable) : NULL;
    const char *exporter_env =
        getenv_fn != NULL && o->exporter_variable != NULL ? getenv_fn(o->exporter_variable) : NULL;

    cfg->variable[id] = o->variable;
    cfg->variable_set[id] = env != NULL;
    if (v != NULL && v[0] != '\0') {
        cfg->source[id] = GPX_FROM_OPTION;
    } else if (env != NULL && env[0] != '\0') {
        v = env;
        cfg->source[id] = GPX_FROM_ENVIRONMENT;
    } else if (exporter_env != NULL && exporter_env[0] != '\0') {
        v = exporter_env;
        cfg->source[id] = GPX_FROM_ENVIRONMENT;
        cfg->variable[id] = o->exporter_variable;
    } else {
        v = o->default_value;
        cfg->source[id] = GPX_FROM_DEFAULT;
    }
    cfg->text[id] = v;
}

/* Parses setting `id` by its type, then its check. */
static int
resolve_one(struct gpx_config *cfg, enum gpx_option_id id, char *err, size_t errlen)
{
    const struct gpx_option_info *o = &gpx_option_catalog[id];
    const char *text = cfg->text[id];
    char *setting = (char *)cfg + o->offset;
    const char *expected;
    char buf[512];
    long number;
    int parsed = 0;

    if (cfg->source[id] == GPX_FROM_DEFAULT && o->default_fn != NULL) {
        o->default_fn(cfg);
        return 0;
    }
    switch (o->type) {
    case GPX_TYPE_TEXT:
        parsed = copy_text(setting, o->size, text) == 0;
        break;
    case GPX_TYPE_INT:
        parsed = gpx_parse_int(text, o->min, o->max, &number) == 0;
        if (parsed) {
            *(int *)(void *)setting = (int)number;
        }
        break;
    case GPX_TYPE_BOOL:
        parsed = gpx_parse_bool(text, (int *)(void *)setting) == 0;
        break;
    }
    if (parsed && (o->check == NULL || o->check(cfg, text))) {
        return 0;
    }
    if (!parsed && o->type == GPX_TYPE_BOOL) {
        expected = BOOL_EXPECTED;
    } else {
        expected = o->expected != NULL ? o->expected : o->expected_fn(cfg, buf, sizeof(buf));
    }
    gpx_config_error(err, errlen, cfg, id, o->flags & GPX_OPTION_SECRET ? "(hidden)" : text, expected);
    return -1;
}

/* What one option cannot say alone: a certificate and its key go together,
 * client certificates need TLS. */
static int
check_pairs(const struct gpx_config *cfg, char *err, size_t errlen)
{
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
    return 0;
}

int
gpx_config_resolve(struct gpx_config *cfg, const char *const *given, gpx_getenv_fn getenv_fn, char *err, size_t errlen)
{
    int id;

    memset(cfg, 0, sizeof(*cfg));
    for (id = 0; id < GPX_OPT_COUNT; id++) {
        pick_source(cfg, (enum gpx_option_id)id, given, getenv_fn);
    }
    for (id = 0; id < GPX_OPT_COUNT; id++) {
        if (resolve_one(cfg, (enum gpx_option_id)id, err, errlen) != 0) {
            return -1;
        }
    }
    return check_pairs(cfg, err, errlen);
}

/* -- what is shown of an option -------------------------------------------- */

const char *
gpx_config_source_name(enum gpx_source source)
{
    static const char *const from[] = {"the default", "the environment", "the option"};

    return (unsigned)source < sizeof(from) / sizeof(from[0]) ? from[source] : "nowhere";
}

int
gpx_option_help(enum gpx_option_id id, char *buf, size_t len)
{
    const struct gpx_option_info *o = &gpx_option_catalog[id];
    const char *shown = o->default_doc != NULL ? o->default_doc : o->default_value;
    char plain[128];
    size_t n = 0;

    /* The doc's Markdown without its code quotes. */
    for (; shown != NULL && *shown != '\0' && n + 1 < sizeof(plain); shown++) {
        if (*shown != '`') {
            plain[n++] = *shown;
        }
    }
    plain[n] = '\0';
    return snprintf(buf, len, "%s (%s%s%s%s%s)", o->help, o->variable, o->exporter_variable != NULL ? ", then " : "",
                    o->exporter_variable != NULL ? o->exporter_variable : "", n > 0 ? ", default " : "", plain);
}

int
gpx_config_describe(const struct gpx_config *cfg, enum gpx_option_id id, char *buf, size_t len)
{
    const struct gpx_option_info *o = &gpx_option_catalog[id];
    const char *setting = (const char *)cfg + o->offset;
    const char *value = cfg->text[id];
    char number[32];

    if (o->flags & GPX_OPTION_SECRET) {
        value = setting[0] != '\0' ? "(set)" : "(none)";
    } else if (value == NULL && o->type == GPX_TYPE_TEXT) {
        value = setting; /* made by default_fn */
    } else if (value == NULL) {
        snprintf(number, sizeof(number), "%d", *(const int *)(const void *)setting);
        value = number;
    }
    return snprintf(buf, len, "gpx: debug: %s = %s (%s, from %s)", o->option, value, cfg->variable[id],
                    gpx_config_source_name(cfg->source[id]));
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
