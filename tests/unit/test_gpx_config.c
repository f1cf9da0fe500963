/* Unit tests of gpx_config: defaults, precedence, parsing and error lines. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "gpx_test_support.h"

#include "gpx_config.h"

/* A fake environment: a table of (variable, value), NULL-terminated. */
struct env_entry {
    const char *name;
    const char *value;
};

static const struct env_entry *env_table;

static const char *
fake_getenv(const char *name)
{
    const struct env_entry *e;

    for (e = env_table; e != NULL && e->name != NULL; e++) {
        if (strcmp(e->name, name) == 0) {
            return e->value;
        }
    }
    return NULL;
}

static const struct env_entry no_env[] = {{NULL, NULL}};

static int
reset_env(void **state)
{
    (void)state;
    env_table = no_env;
    return 0;
}

/* Resolves with `given` (may be NULL) and the current fake environment. */
static int
resolve(struct gpx_config *cfg, const char *const *given, char *err, size_t errlen)
{
    err[0] = '\0';
    return gpx_config_resolve(cfg, given, fake_getenv, err, errlen);
}

static void
assert_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) == NULL) {
        print_error("\"%s\" does not contain \"%s\"\n", haystack, needle);
        fail();
    }
}

static void
expected_instance(char *out, size_t outlen, int port)
{
    char host[GPX_TEXT_MAX];

    assert_int_equal(gethostname(host, sizeof(host)), 0);
    host[sizeof(host) - 1] = '\0';
    snprintf(out, outlen, "%s:%d", host, port);
}

static void
assert_defaults(const struct gpx_config *cfg)
{
    char instance[GPX_TEXT_MAX + 16];
    int id;

    assert_int_equal(cfg->port, 9090);
    assert_string_equal(cfg->bind, "0.0.0.0");
    assert_string_equal(cfg->multiproc_dir, "/tmp/prometheus_multiproc");
    assert_int_equal(cfg->cleanup_db_files, 0);
    assert_int_equal(cfg->redis_enabled, 0);
    assert_string_equal(cfg->redis_host, "localhost");
    assert_int_equal(cfg->redis_port, 6379);
    assert_int_equal(cfg->redis_db, 0);
    assert_string_equal(cfg->redis_password, "");
    assert_string_equal(cfg->profile, "gunicorn");
    assert_int_equal(gpx_profile_bits(cfg->profile), GPX_PROFILE_GUNICORN);
    assert_string_equal(cfg->stats_uri, "");
    assert_int_equal(cfg->collect_cores, 0);
    assert_string_equal(cfg->redis_key_prefix, "gunicorn");
    assert_string_equal(cfg->redis_sentinels, "");
    assert_string_equal(cfg->redis_sentinel_master, "mymaster");
    assert_string_equal(cfg->redis_sentinel_password, "");
    assert_int_equal(cfg->readyz_saturation, 1);
    assert_int_equal(cfg->readyz_queue, 0);
    assert_int_equal(cfg->readyz_busy_percent, 0);
    expected_instance(instance, sizeof(instance), 9090);
    assert_string_equal(cfg->instance, instance);
    for (id = 0; id < GPX_OPT_COUNT; id++) {
        assert_int_equal(cfg->source[id], GPX_FROM_DEFAULT);
    }
}

/* With no option and no variable every setting takes its default, and the
 * instance is "<hostname>:<port>"; a NULL getenv and a NULL `given` work. */
static void
test_gpx_config_resolve_defaults(void **state)
{
    const char *given[GPX_OPT_COUNT] = {NULL};
    struct gpx_config cfg;
    char err[512];

    (void)state;
    assert_int_equal(resolve(&cfg, NULL, err, sizeof(err)), 0);
    assert_defaults(&cfg);
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    assert_defaults(&cfg);
    assert_int_equal(gpx_config_resolve(&cfg, NULL, NULL, err, sizeof(err)), 0);
    assert_defaults(&cfg);
}

/* The catalogue declares every option whole: names, a default, a setting
 * inside struct gpx_config of the type's size, what is expected of a bad
 * value, help and the doc's text. */
static void
test_gpx_config_catalog_complete(void **state)
{
    int id, other;

    (void)state;
    for (id = 0; id < GPX_OPT_COUNT; id++) {
        const struct gpx_option_info *o = &gpx_option_catalog[id];

        assert_non_null(o->option);
        assert_non_null(o->variable);
        assert_non_null(o->help);
        assert_non_null(o->accepted);
        assert_int_equal(strncmp(o->option, "gpx-", 4), 0);
        assert_true(o->default_value != NULL || o->default_fn != NULL);
        assert_true(o->default_doc != NULL || o->default_value != NULL);
        assert_true(o->type == GPX_TYPE_BOOL || o->expected != NULL || o->expected_fn != NULL);
        if (o->type == GPX_TYPE_TEXT) {
            assert_true(o->size > 0 && o->offset + o->size <= sizeof(struct gpx_config));
        } else {
            assert_true(o->offset + sizeof(int) <= sizeof(struct gpx_config));
        }
        if (o->type == GPX_TYPE_INT) {
            assert_true(o->min <= o->max);
        }
        for (other = 0; other < id; other++) {
            assert_string_not_equal(o->option, gpx_option_catalog[other].option);
            assert_string_not_equal(o->variable, gpx_option_catalog[other].variable);
        }
    }
    assert_string_equal(gpx_option_catalog[GPX_OPT_PORT].variable, "PROMETHEUS_METRICS_PORT");
    assert_string_equal(gpx_option_catalog[GPX_OPT_MULTIPROC_DIR].variable, "PROMETHEUS_MULTIPROC_DIR");
    assert_null(gpx_option_catalog[GPX_OPT_INSTANCE].default_value);
}

/* uWSGI's --help lines: the help, the variable(s) and the default as the
 * docs show it, without Markdown; no default when there is none. */
static void
test_gpx_option_help(void **state)
{
    char line[512];

    (void)state;
    gpx_option_help(GPX_OPT_PORT, line, sizeof(line));
    assert_string_equal(line, "port of the metrics endpoint (PROMETHEUS_METRICS_PORT, default 9090)");
    gpx_option_help(GPX_OPT_REDIS_TTL, line, sizeof(line));
    assert_string_equal(line, "seconds before a silent instance's Redis keys expire (GPX_REDIS_TTL, then "
                              "REDIS_TTL_SECONDS, default 86400)");
    gpx_option_help(GPX_OPT_INSTANCE, line, sizeof(line));
    assert_string_equal(line, "name of this server in storage (GPX_INSTANCE, default <hostname>:<port>)");
    gpx_option_help(GPX_OPT_REDIS_PASSWORD, line, sizeof(line));
    assert_string_equal(line, "Redis password (REDIS_PASSWORD)");
    gpx_option_help(GPX_OPT_SSL_CLIENT_AUTH_REQUIRED, line, sizeof(line));
    assert_string_equal(line, "with client CAs: false checks a client certificate only when offered "
                              "(PROMETHEUS_SSL_CLIENT_AUTH_REQUIRED, default true when client CAs are given)");
}

/* The gpx-debug dump: each setting's text and where it came from; a
 * computed default shows what was computed, a password only whether set. */
static void
test_gpx_config_describe(void **state)
{
    static const struct env_entry env[] = {{"REDIS_TTL_SECONDS", "600"}, {"REDIS_PASSWORD", "s3cret"}, {NULL, NULL}};
    const char *given[GPX_OPT_COUNT] = {NULL};
    char line[512], want[512], err[512];
    struct gpx_config cfg;

    (void)state;
    given[GPX_OPT_PORT] = "09091";
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    gpx_config_describe(&cfg, GPX_OPT_PORT, line, sizeof(line));
    assert_string_equal(line, "gpx: debug: gpx-port = 09091 (PROMETHEUS_METRICS_PORT, from the option)");
    gpx_config_describe(&cfg, GPX_OPT_INSTANCE, line, sizeof(line));
    snprintf(want, sizeof(want), "gpx: debug: gpx-instance = %s (GPX_INSTANCE, from the default)", cfg.instance);
    assert_string_equal(line, want);
    gpx_config_describe(&cfg, GPX_OPT_REDIS_PASSWORD, line, sizeof(line));
    assert_string_equal(line, "gpx: debug: gpx-redis-password = (none) (REDIS_PASSWORD, from the default)");
    gpx_config_describe(&cfg, GPX_OPT_SSL_CLIENT_AUTH_REQUIRED, line, sizeof(line));
    assert_string_equal(line, "gpx: debug: gpx-ssl-client-auth-required =  (PROMETHEUS_SSL_CLIENT_AUTH_REQUIRED, "
                              "from the default)");

    env_table = env;
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    gpx_config_describe(&cfg, GPX_OPT_REDIS_TTL, line, sizeof(line));
    assert_string_equal(line, "gpx: debug: gpx-redis-ttl = 600 (REDIS_TTL_SECONDS, from the environment)");
    gpx_config_describe(&cfg, GPX_OPT_REDIS_PASSWORD, line, sizeof(line));
    assert_string_equal(line, "gpx: debug: gpx-redis-password = (set) (REDIS_PASSWORD, from the environment)");
}

/* Whether a variable is in the environment at all is kept, even when the
 * option wins or the variable is empty: the glue sets none over it. */
static void
test_gpx_config_variable_set(void **state)
{
    static const struct env_entry env[] = {{"PROMETHEUS_MULTIPROC_DIR", ""}, {"REDIS_HOST", "r"}, {NULL, NULL}};
    const char *given[GPX_OPT_COUNT] = {NULL};
    struct gpx_config cfg;
    char err[512];

    (void)state;
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    assert_int_equal(cfg.variable_set[GPX_OPT_MULTIPROC_DIR], 0);
    env_table = env;
    given[GPX_OPT_MULTIPROC_DIR] = "/srv/metrics";
    given[GPX_OPT_REDIS_HOST] = "h";
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    assert_int_equal(cfg.variable_set[GPX_OPT_MULTIPROC_DIR], 1);
    assert_int_equal(cfg.variable_set[GPX_OPT_REDIS_HOST], 1);
    assert_int_equal(cfg.variable_set[GPX_OPT_REDIS_PORT], 0);
    assert_int_equal(cfg.source[GPX_OPT_REDIS_HOST], GPX_FROM_OPTION);
}

/* docs/options.md, next to this file's directory, from where it was compiled. */
static void
doc_path(char *out, size_t outlen)
{
    const char *file = __FILE__;
    const char *slash = strrchr(file, '/');

    if (slash == NULL) {
        snprintf(out, outlen, "../../docs/options.md");
    } else {
        snprintf(out, outlen, "%.*s/../../docs/options.md", (int)(slash - file), file);
    }
}

/* The table of "## All options" as the catalogue makes it. */
static void
catalog_table(char *out, size_t outlen)
{
    size_t n = 0;
    int id;

    n += (size_t)snprintf(out + n, outlen - n,
                          "| option | variable | default | accepted values |\n| --- | --- | --- | --- |\n");
    for (id = 0; id < GPX_OPT_COUNT && n < outlen; id++) {
        const struct gpx_option_info *o = &gpx_option_catalog[id];
        char def[256];

        if (o->default_doc != NULL) {
            snprintf(def, sizeof(def), "%s", o->default_doc);
        } else if (o->default_value[0] != '\0') {
            snprintf(def, sizeof(def), "`%s`", o->default_value);
        } else {
            snprintf(def, sizeof(def), "none");
        }
        n += (size_t)snprintf(out + n, outlen - n, "| `%s` | `%s`%s%s%s | %s | %s |\n", o->option, o->variable,
                              o->exporter_variable != NULL ? ", then `" : "",
                              o->exporter_variable != NULL ? o->exporter_variable : "",
                              o->exporter_variable != NULL ? "`" : "", def, o->accepted);
    }
    assert_true(n < outlen);
}

/* docs/options.md's table of every option is the catalogue's, row by row:
 * a change to either that the other does not follow fails here, and the
 * failure prints the table to paste into the doc. */
static void
test_gpx_config_doc_table(void **state)
{
    static char doc[256 * 1024], want[32 * 1024];
    char path[4096];
    const char *start, *end;
    size_t len;
    FILE *f;

    (void)state;
    doc_path(path, sizeof(path));
    f = fopen(path, "r");
    if (f == NULL) {
        print_error("cannot open %s: %s\n", path, strerror(errno));
        fail();
    }
    len = fread(doc, 1, sizeof(doc) - 1, f);
    fclose(f);
    doc[len] = '\0';
    catalog_table(want, sizeof(want));

    start = strstr(doc, "\n## All options\n");
    assert_non_null(start);
    start = strstr(start, "\n| option |");
    assert_non_null(start);
    start++;
    end = strstr(start, "\n\n");
    assert_non_null(end);
    end++;
    if ((size_t)(end - start) != strlen(want) || memcmp(start, want, strlen(want)) != 0) {
        const char *d = start, *w = want;

        while (*d == *w && d < end) {
            d++;
            w++;
        }
        while (d > start && d[-1] != '\n') {
            d--;
            w--;
        }
        /* cmocka's messages are short: the table goes to stderr whole. */
        fprintf(stderr, "the table of gpx_option_catalog (src/gpx_config.c), for %s:\n%s", path, want);
        print_error("%s's table of all options differs from gpx_option_catalog, first at:\n  doc:       %.*s\n  "
                    "catalogue: %.*s\n",
                    path, (int)strcspn(d, "\n"), d, (int)strcspn(w, "\n"), w);
        fail();
    }
}

/* A variable overrides the default and an option overrides the variable,
 * for every setting; the source of each value is recorded. */
static void
test_gpx_config_resolve_precedence(void **state)
{
    static const struct env_entry env[] = {
        {"PROMETHEUS_METRICS_PORT", "8001"},
        {"PROMETHEUS_BIND_ADDRESS", "127.0.0.1"},
        {"PROMETHEUS_MULTIPROC_DIR", "/var/env"},
        {"CLEANUP_DB_FILES", "true"},
        {"GPX_INSTANCE", "env-host"},
        {"REDIS_ENABLED", "yes"},
        {"REDIS_HOST", "redis.env"},
        {"REDIS_PORT", "7001"},
        {"REDIS_DB", "3"},
        {"REDIS_PASSWORD", "envsecret"},
        {"REDIS_KEY_PREFIX", "envprefix"},
        {"GPX_REDIS_INTERVAL", "7"},
        {"GPX_REDIS_TTL", "700"},
        {"GPX_DEBUG", "yes"},
        {"PROMETHEUS_SSL_CERTFILE", "/env/cert.pem"},
        {"PROMETHEUS_SSL_KEYFILE", "/env/key.pem"},
        {"PROMETHEUS_SSL_CLIENT_CAFILE", "/env/ca.pem"},
        {"PROMETHEUS_BASIC_AUTH_FILE", "/env/users"},
        {"REDIS_TTL_DISABLED", "on"},
        {"PROMETHEUS_SSL_CLIENT_CAPATH", "/env/cas"},
        {"PROMETHEUS_SSL_CLIENT_AUTH_REQUIRED", "false"},
        {"PROMETHEUS_SSL_CLIENT_ALLOWED_SANS", "prometheus.example,10.0.0.9"},
        {"PROMETHEUS_SSL_MIN_VERSION", "TLS11"},
        {"PROMETHEUS_SSL_MAX_VERSION", "tls12"},
        {"PROMETHEUS_HTTP_HEADERS", "Cache-Control: no-store|X-Frame-Options:"},
        {"PROMETHEUS_RATE_LIMIT", "20"},
        {"PROMETHEUS_RATE_LIMIT_BURST", "40"},
        {"GPX_PROFILE", "both"},
        {"GPX_STATS_URI", "unix:///run/env.sock"},
        {"GPX_COLLECT_CORES", "yes"},
        {"GPX_NATIVE_HISTOGRAMS", "no"},
        {"GPX_NATIVE_HISTOGRAM_SCHEMA", "-2"},
        {"GPX_EXEMPLARS", "on"},
        {"REDIS_SENTINELS", "s1:26379,s2:26379"},
        {"REDIS_SENTINEL_MASTER", "envmaster"},
        {"REDIS_SENTINEL_PASSWORD", "envsentinel"},
        {"GPX_READYZ_SATURATION", "off"},
        {"GPX_READYZ_QUEUE", "7"},
        {"GPX_READYZ_BUSY_PERCENT", "80"},
        {"GPX_FLEET_MAX_AGE", "90"},
        {NULL, NULL},
    };
    const char *given[GPX_OPT_COUNT] = {NULL};
    struct gpx_config cfg;
    char err[512];
    int id;

    (void)state;
    env_table = env;
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    assert_int_equal(cfg.port, 8001);
    assert_string_equal(cfg.bind, "127.0.0.1");
    assert_string_equal(cfg.multiproc_dir, "/var/env");
    assert_int_equal(cfg.cleanup_db_files, 1);
    assert_string_equal(cfg.instance, "env-host");
    assert_int_equal(cfg.redis_enabled, 1);
    assert_string_equal(cfg.redis_host, "redis.env");
    assert_int_equal(cfg.redis_port, 7001);
    assert_int_equal(cfg.redis_db, 3);
    assert_string_equal(cfg.redis_password, "envsecret");
    assert_string_equal(cfg.redis_key_prefix, "envprefix");
    assert_int_equal(cfg.redis_interval, 7);
    assert_int_equal(cfg.redis_ttl, 700);
    assert_int_equal(cfg.debug, 1);
    assert_string_equal(cfg.ssl_certfile, "/env/cert.pem");
    assert_string_equal(cfg.ssl_keyfile, "/env/key.pem");
    assert_string_equal(cfg.ssl_client_cafile, "/env/ca.pem");
    assert_string_equal(cfg.basic_auth_file, "/env/users");
    assert_int_equal(cfg.redis_ttl_disabled, 1);
    assert_string_equal(cfg.ssl_client_capath, "/env/cas");
    assert_int_equal(cfg.ssl_client_auth_required, 0);
    assert_string_equal(cfg.ssl_client_allowed_sans, "prometheus.example,10.0.0.9");
    assert_string_equal(cfg.ssl_min_version, "TLS11");
    assert_string_equal(cfg.ssl_max_version, "tls12");
    assert_string_equal(cfg.http_headers, "Cache-Control: no-store|X-Frame-Options:");
    assert_int_equal(cfg.rate_limit, 20);
    assert_int_equal(cfg.rate_limit_burst, 40);
    assert_string_equal(cfg.profile, "both");
    assert_string_equal(cfg.stats_uri, "unix:///run/env.sock");
    assert_int_equal(cfg.collect_cores, 1);
    assert_int_equal(cfg.native_histograms, 0);
    assert_int_equal(cfg.native_histogram_schema, -2);
    assert_int_equal(cfg.exemplars, 1);
    assert_string_equal(cfg.redis_sentinels, "s1:26379,s2:26379");
    assert_string_equal(cfg.redis_sentinel_master, "envmaster");
    assert_string_equal(cfg.redis_sentinel_password, "envsentinel");
    assert_int_equal(cfg.readyz_saturation, 0);
    assert_int_equal(cfg.readyz_queue, 7);
    assert_int_equal(cfg.readyz_busy_percent, 80);
    assert_int_equal(cfg.fleet_max_age, 90);
    for (id = 0; id < GPX_OPT_COUNT; id++) {
        assert_int_equal(cfg.source[id], GPX_FROM_ENVIRONMENT);
        assert_string_equal(cfg.variable[id], gpx_option_catalog[id].variable);
    }

    given[GPX_OPT_PORT] = "8002";
    given[GPX_OPT_BIND] = "0.0.0.0";
    given[GPX_OPT_MULTIPROC_DIR] = "/var/opt";
    given[GPX_OPT_CLEANUP_DB_FILES] = "off";
    given[GPX_OPT_INSTANCE] = "opt-host";
    given[GPX_OPT_REDIS] = "0";
    given[GPX_OPT_REDIS_HOST] = "/run/redis.sock";
    given[GPX_OPT_REDIS_PORT] = "7002";
    given[GPX_OPT_REDIS_DB] = "4";
    given[GPX_OPT_REDIS_PASSWORD] = "optsecret";
    given[GPX_OPT_REDIS_KEY_PREFIX] = "optprefix";
    given[GPX_OPT_REDIS_INTERVAL] = "2";
    given[GPX_OPT_REDIS_TTL] = "60";
    given[GPX_OPT_DEBUG] = "off";
    given[GPX_OPT_SSL_CERTFILE] = "opt/cert.pem";
    given[GPX_OPT_SSL_KEYFILE] = "opt/key.pem";
    given[GPX_OPT_SSL_CLIENT_CAFILE] = "opt/ca.pem";
    given[GPX_OPT_BASIC_AUTH_FILE] = "opt/users";
    given[GPX_OPT_REDIS_TTL_DISABLED] = "no";
    given[GPX_OPT_SSL_CLIENT_CAPATH] = "opt/cas";
    given[GPX_OPT_SSL_CLIENT_AUTH_REQUIRED] = "yes";
    given[GPX_OPT_SSL_CLIENT_ALLOWED_SANS] = "spiffe://example/prometheus";
    given[GPX_OPT_SSL_MIN_VERSION] = "TLS13";
    given[GPX_OPT_SSL_MAX_VERSION] = "TLS13";
    given[GPX_OPT_HTTP_HEADERS] = "Referrer-Policy: no-referrer";
    given[GPX_OPT_RATE_LIMIT] = "5";
    given[GPX_OPT_RATE_LIMIT_BURST] = "1";
    given[GPX_OPT_FLEET_MAX_AGE] = "15";
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    assert_int_equal(cfg.fleet_max_age, 15);
    assert_string_equal(cfg.ssl_client_allowed_sans, "spiffe://example/prometheus");
    assert_string_equal(cfg.ssl_min_version, "TLS13");
    assert_int_equal(cfg.rate_limit_burst, 1);
    given[GPX_OPT_PROFILE] = "uwsgi-exporter";
    given[GPX_OPT_STATS_URI] = "http://127.0.0.1:1717";
    given[GPX_OPT_COLLECT_CORES] = "off";
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    assert_string_equal(cfg.profile, "uwsgi-exporter");
    assert_string_equal(cfg.stats_uri, "http://127.0.0.1:1717");
    assert_int_equal(cfg.collect_cores, 0);
    given[GPX_OPT_REDIS_SENTINELS] = "[::1]:26379";
    given[GPX_OPT_REDIS_SENTINEL_MASTER] = "optmaster";
    given[GPX_OPT_REDIS_SENTINEL_PASSWORD] = "optsentinel";
    given[GPX_OPT_READYZ_SATURATION] = "yes";
    given[GPX_OPT_READYZ_QUEUE] = "65535";
    given[GPX_OPT_READYZ_BUSY_PERCENT] = "100";
    given[GPX_OPT_NATIVE_HISTOGRAMS] = "true";
    given[GPX_OPT_NATIVE_HISTOGRAM_SCHEMA] = "0";
    given[GPX_OPT_EXEMPLARS] = "false";
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    assert_int_equal(cfg.native_histograms, 1);
    assert_int_equal(cfg.native_histogram_schema, 0);
    assert_int_equal(cfg.exemplars, 0);
    assert_int_equal(cfg.readyz_saturation, 1);
    assert_int_equal(cfg.readyz_queue, 65535);
    assert_int_equal(cfg.readyz_busy_percent, 100);
    assert_string_equal(cfg.redis_sentinels, "[::1]:26379");
    assert_string_equal(cfg.redis_sentinel_master, "optmaster");
    assert_string_equal(cfg.redis_sentinel_password, "optsentinel");
    assert_int_equal(cfg.redis_ttl_disabled, 0);
    assert_string_equal(cfg.ssl_client_capath, "opt/cas");
    assert_int_equal(cfg.ssl_client_auth_required, 1);
    assert_string_equal(cfg.ssl_certfile, "opt/cert.pem");
    assert_string_equal(cfg.ssl_keyfile, "opt/key.pem");
    assert_string_equal(cfg.ssl_client_cafile, "opt/ca.pem");
    assert_string_equal(cfg.basic_auth_file, "opt/users");
    assert_int_equal(cfg.port, 8002);
    assert_string_equal(cfg.bind, "0.0.0.0");
    assert_string_equal(cfg.multiproc_dir, "/var/opt");
    assert_int_equal(cfg.cleanup_db_files, 0);
    assert_string_equal(cfg.instance, "opt-host");
    assert_int_equal(cfg.redis_enabled, 0);
    assert_string_equal(cfg.redis_host, "/run/redis.sock");
    assert_int_equal(cfg.redis_port, 7002);
    assert_int_equal(cfg.redis_db, 4);
    assert_string_equal(cfg.redis_password, "optsecret");
    assert_string_equal(cfg.redis_key_prefix, "optprefix");
    assert_int_equal(cfg.redis_interval, 2);
    assert_int_equal(cfg.redis_ttl, 60);
    assert_int_equal(cfg.debug, 0);
    for (id = 0; id < GPX_OPT_COUNT; id++) {
        assert_int_equal(cfg.source[id], GPX_FROM_OPTION);
    }

    /* Mixed: the option where given, the variable elsewhere. */
    memset(given, 0, sizeof(given));
    given[GPX_OPT_REDIS_PORT] = "7003";
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    assert_int_equal(cfg.redis_port, 7003);
    assert_int_equal(cfg.source[GPX_OPT_REDIS_PORT], GPX_FROM_OPTION);
    assert_int_equal(cfg.port, 8001);
    assert_int_equal(cfg.source[GPX_OPT_PORT], GPX_FROM_ENVIRONMENT);
}

/* The exporter's REDIS_TTL_SECONDS sets gpx-redis-ttl when neither the
 * option nor GPX_REDIS_TTL does; a bad value names the variable it came
 * from. */
static void
test_gpx_config_resolve_exporter_variables(void **state)
{
    static const struct env_entry exporter_only[] = {{"REDIS_TTL_SECONDS", "300"}, {NULL, NULL}};
    static const struct env_entry both[] = {{"REDIS_TTL_SECONDS", "300"}, {"GPX_REDIS_TTL", "900"}, {NULL, NULL}};
    static const struct env_entry bad[] = {{"REDIS_TTL_SECONDS", "5m"}, {NULL, NULL}};
    static const struct env_entry too_short[] = {{"REDIS_TTL_SECONDS", "3"}, {NULL, NULL}};
    const char *given[GPX_OPT_COUNT] = {NULL};
    struct gpx_config cfg;
    char err[512];

    (void)state;
    env_table = exporter_only;
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    assert_int_equal(cfg.redis_ttl, 300);
    assert_int_equal(cfg.source[GPX_OPT_REDIS_TTL], GPX_FROM_ENVIRONMENT);
    assert_string_equal(cfg.variable[GPX_OPT_REDIS_TTL], "REDIS_TTL_SECONDS");

    env_table = both;
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    assert_int_equal(cfg.redis_ttl, 900);
    assert_string_equal(cfg.variable[GPX_OPT_REDIS_TTL], "GPX_REDIS_TTL");

    given[GPX_OPT_REDIS_TTL] = "120";
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    assert_int_equal(cfg.redis_ttl, 120);
    assert_int_equal(cfg.source[GPX_OPT_REDIS_TTL], GPX_FROM_OPTION);

    given[GPX_OPT_REDIS_TTL] = NULL;
    env_table = bad;
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), -1);
    assert_string_equal(err, "gpx: invalid gpx-redis-ttl / REDIS_TTL_SECONDS \"5m\" (from the environment): expected "
                             "a number of seconds above gpx-redis-interval (5), at most 31536000");
    env_table = too_short;
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), -1);
    assert_contains(err, "gpx-redis-ttl / REDIS_TTL_SECONDS \"3\"");
}

/* REDIS_TTL_DISABLED is a boolean like the others; true keeps the TTL's
 * value (still checked) but marks it unused. */
static void
test_gpx_config_resolve_ttl_disabled(void **state)
{
    static const struct env_entry on[] = {{"REDIS_TTL_DISABLED", "true"}, {NULL, NULL}};
    static const struct env_entry bad[] = {{"REDIS_TTL_DISABLED", "sometimes"}, {NULL, NULL}};
    const char *given[GPX_OPT_COUNT] = {NULL};
    struct gpx_config cfg;
    char err[512];

    (void)state;
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    assert_int_equal(cfg.redis_ttl_disabled, 0);
    env_table = on;
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    assert_int_equal(cfg.redis_ttl_disabled, 1);
    assert_int_equal(cfg.redis_ttl, 86400);
    given[GPX_OPT_REDIS_TTL_DISABLED] = "off";
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    assert_int_equal(cfg.redis_ttl_disabled, 0);
    given[GPX_OPT_REDIS_TTL_DISABLED] = NULL;
    env_table = bad;
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), -1);
    assert_string_equal(err, "gpx: invalid gpx-redis-ttl-disabled / REDIS_TTL_DISABLED \"sometimes\" (from the "
                             "environment): expected true/false, 1/0, yes/no or on/off");
}

/* Client certificates: a CA file or directory needs TLS; unset, a
 * certificate is required once there are CAs; false makes it optional;
 * true without CAs, or a value that is no boolean, is an error. */
static void
test_gpx_config_resolve_client_auth(void **state)
{
    static const struct env_entry required_false[] = {{"PROMETHEUS_SSL_CLIENT_AUTH_REQUIRED", "false"}, {NULL, NULL}};
    static const struct env_entry required_true[] = {{"PROMETHEUS_SSL_CLIENT_AUTH_REQUIRED", "1"}, {NULL, NULL}};
    static const struct env_entry required_bad[] = {{"PROMETHEUS_SSL_CLIENT_AUTH_REQUIRED", "optional"}, {NULL, NULL}};
    const char *given[GPX_OPT_COUNT] = {NULL};
    struct gpx_config cfg;
    char err[512];

    (void)state;
    given[GPX_OPT_SSL_CLIENT_CAPATH] = "/cas";
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), -1);
    assert_string_equal(err,
                        "gpx: invalid gpx-ssl-certfile / PROMETHEUS_SSL_CERTFILE \"\" (from the default): expected "
                        "a PEM certificate: gpx-ssl-client-capath needs TLS (gpx-ssl-certfile and gpx-ssl-keyfile)");
    given[GPX_OPT_SSL_CERTFILE] = "/c.pem";
    given[GPX_OPT_SSL_KEYFILE] = "/k.pem";
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    assert_string_equal(cfg.ssl_client_capath, "/cas");
    assert_int_equal(cfg.ssl_client_auth_required, 1); /* gpx's default, safer than the exporter's */

    env_table = required_false;
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    assert_int_equal(cfg.ssl_client_auth_required, 0);
    given[GPX_OPT_SSL_CLIENT_CAPATH] = NULL;
    given[GPX_OPT_SSL_CLIENT_CAFILE] = "/ca.pem";
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    assert_int_equal(cfg.ssl_client_auth_required, 0);
    given[GPX_OPT_SSL_CLIENT_AUTH_REQUIRED] = "true";
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    assert_int_equal(cfg.ssl_client_auth_required, 1);

    /* false without CAs is the exporter's default: nothing to check. */
    given[GPX_OPT_SSL_CLIENT_AUTH_REQUIRED] = NULL;
    given[GPX_OPT_SSL_CLIENT_CAFILE] = NULL;
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    assert_int_equal(cfg.ssl_client_auth_required, 0);

    env_table = required_true;
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), -1);
    assert_string_equal(err, "gpx: invalid gpx-ssl-client-auth-required / PROMETHEUS_SSL_CLIENT_AUTH_REQUIRED \"1\" "
                             "(from the environment): expected false, or client CAs to check certificates against "
                             "(gpx-ssl-client-cafile or gpx-ssl-client-capath)");
    env_table = required_bad;
    given[GPX_OPT_SSL_CLIENT_CAFILE] = "/ca.pem";
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), -1);
    assert_string_equal(err, "gpx: invalid gpx-ssl-client-auth-required / PROMETHEUS_SSL_CLIENT_AUTH_REQUIRED "
                             "\"optional\" (from the environment): expected true/false, 1/0, yes/no or on/off");
}

/* An empty string, as option or as variable, counts as not given. */
static void
test_gpx_config_resolve_empty_is_not_given(void **state)
{
    static const struct env_entry env_port[] = {{"PROMETHEUS_METRICS_PORT", "8081"}, {NULL, NULL}};
    static const struct env_entry env_empty[] = {
        {"PROMETHEUS_METRICS_PORT", ""},
        {"CLEANUP_DB_FILES", ""},
        {"GPX_INSTANCE", ""},
        {"REDIS_HOST", ""},
        {"REDIS_DB", ""},
        {NULL, NULL},
    };
    const char *given[GPX_OPT_COUNT] = {NULL};
    struct gpx_config cfg;
    char err[512];
    int id;

    (void)state;
    for (id = 0; id < GPX_OPT_COUNT; id++) {
        given[id] = "";
    }
    env_table = env_port;
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    assert_int_equal(cfg.port, 8081);
    assert_int_equal(cfg.source[GPX_OPT_PORT], GPX_FROM_ENVIRONMENT);
    assert_int_equal(cfg.source[GPX_OPT_BIND], GPX_FROM_DEFAULT);

    env_table = env_empty;
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    assert_defaults(&cfg);
}

/* The default instance follows the resolved port. */
static void
test_gpx_config_resolve_default_instance_port(void **state)
{
    static const struct env_entry env[] = {{"PROMETHEUS_METRICS_PORT", "8080"}, {NULL, NULL}};
    struct gpx_config cfg;
    char err[512], instance[GPX_TEXT_MAX + 16];

    (void)state;
    env_table = env;
    assert_int_equal(resolve(&cfg, NULL, err, sizeof(err)), 0);
    expected_instance(instance, sizeof(instance), 8080);
    assert_string_equal(cfg.instance, instance);
    assert_int_equal(cfg.source[GPX_OPT_INSTANCE], GPX_FROM_DEFAULT);
}

/* A bad port from the option: -1 and exactly this line. */
static void
test_gpx_config_resolve_bad_port_option(void **state)
{
    static const char *const bad[] = {"abc", "0", "65536", "90x", "-1", " 80", "+80", "80 ", "99999999999999999999"};
    const char *given[GPX_OPT_COUNT] = {NULL};
    struct gpx_config cfg;
    char err[512], want[512];
    unsigned i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        given[GPX_OPT_PORT] = bad[i];
        assert_int_equal(resolve(&cfg, given, err, sizeof(err)), -1);
        snprintf(want, sizeof(want),
                 "gpx: invalid gpx-port / PROMETHEUS_METRICS_PORT \"%s\" (from the option): expected a port number "
                 "from 1 to 65535",
                 bad[i]);
        assert_string_equal(err, want);
    }
    given[GPX_OPT_PORT] = "1";
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    assert_int_equal(cfg.port, 1);
    given[GPX_OPT_PORT] = "65535";
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    assert_int_equal(cfg.port, 65535);
}

/* A bad port from the environment: the same line, saying where it came
 * from; a good option hides a bad variable. */
static void
test_gpx_config_resolve_bad_port_environment(void **state)
{
    static const char *const bad[] = {"abc", "0", "65536", "90x", "-1", " 80"};
    struct env_entry env[] = {{"PROMETHEUS_METRICS_PORT", NULL}, {NULL, NULL}};
    const char *given[GPX_OPT_COUNT] = {NULL};
    struct gpx_config cfg;
    char err[512], want[512];
    unsigned i;

    (void)state;
    env_table = env;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        env[0].value = bad[i];
        given[GPX_OPT_PORT] = NULL;
        assert_int_equal(resolve(&cfg, given, err, sizeof(err)), -1);
        snprintf(want, sizeof(want),
                 "gpx: invalid gpx-port / PROMETHEUS_METRICS_PORT \"%s\" (from the environment): expected a port "
                 "number from 1 to 65535",
                 bad[i]);
        assert_string_equal(err, want);

        given[GPX_OPT_PORT] = "9100";
        assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
        assert_int_equal(cfg.port, 9100);
    }
}

struct bad_case {
    enum gpx_option_id id;
    const char *value;
    const char *expected; /* what the line says is expected */
};

static void
assert_bad_line(const char *err, const struct bad_case *c, const char *from)
{
    assert_contains(err, "gpx: invalid ");
    assert_contains(err, gpx_option_catalog[c->id].option);
    assert_contains(err, gpx_option_catalog[c->id].variable);
    assert_contains(err, from);
    assert_contains(err, c->expected);
    assert_null(strchr(err, '\n'));
}

/* The endpoint's operations: each bad value, with TLS and client CAs given
 * (and without them where the option needs them), is one line. */
static void
test_gpx_config_resolve_bad_endpoint_values(void **state)
{
    const struct bad_case with_tls[] = {
        {GPX_OPT_SSL_MIN_VERSION, "TLS14", "TLS10, TLS11, TLS12 or TLS13"},
        {GPX_OPT_SSL_MIN_VERSION, "SSL3", "TLS10, TLS11, TLS12 or TLS13"},
        {GPX_OPT_SSL_MAX_VERSION, "TLS1.3", "at least gpx-ssl-min-version (TLS12)"},
        {GPX_OPT_SSL_MAX_VERSION, "TLS11", "at least gpx-ssl-min-version (TLS12)"},
        {GPX_OPT_SSL_CLIENT_ALLOWED_SANS, "a, b", "a comma-separated list"},
        {GPX_OPT_SSL_CLIENT_ALLOWED_SANS, "a,,b", "a comma-separated list"},
        {GPX_OPT_SSL_CLIENT_ALLOWED_SANS, "a,", "a comma-separated list"},
        {GPX_OPT_HTTP_HEADERS, "Set-Cookie: a=b", "Set-Cookie is not a header gpx-http-headers sets"},
        {GPX_OPT_HTTP_HEADERS, "X-Frame-Options deny", "\"X-Frame-Options deny\" is not Name: value"},
        {GPX_OPT_HTTP_HEADERS, "Cache-Control: no\x01store", "holds a byte that is not printable ASCII"},
        {GPX_OPT_RATE_LIMIT, "-1", "a number of requests per second from 0 to 1000000"},
        {GPX_OPT_RATE_LIMIT, "1000001", "a number of requests per second from 0 to 1000000"},
        {GPX_OPT_RATE_LIMIT_BURST, "10", "with gpx-rate-limit above 0"},
    };
    const struct bad_case without_tls[] = {
        {GPX_OPT_SSL_MIN_VERSION, "TLS13", "with TLS (gpx-ssl-certfile)"},
        {GPX_OPT_SSL_MAX_VERSION, "TLS13", "with TLS (gpx-ssl-certfile)"},
        {GPX_OPT_SSL_CLIENT_ALLOWED_SANS, "prometheus", "with client CAs"},
        {GPX_OPT_HTTP_HEADERS, "Strict-Transport-Security: max-age=60",
         "Strict-Transport-Security without TLS (gpx-ssl-certfile)"},
    };
    const char *given[GPX_OPT_COUNT] = {NULL};
    struct gpx_config cfg;
    char err[2048];
    unsigned i;

    (void)state;
    for (i = 0; i < sizeof(with_tls) / sizeof(with_tls[0]); i++) {
        memset(given, 0, sizeof(given));
        given[GPX_OPT_SSL_CERTFILE] = "/etc/gpx/cert.pem";
        given[GPX_OPT_SSL_KEYFILE] = "/etc/gpx/key.pem";
        given[GPX_OPT_SSL_CLIENT_CAFILE] = "/etc/gpx/ca.pem";
        given[with_tls[i].id] = with_tls[i].value;
        assert_int_equal(resolve(&cfg, given, err, sizeof(err)), -1);
        assert_bad_line(err, &with_tls[i], "(from the option)");
    }
    for (i = 0; i < sizeof(without_tls) / sizeof(without_tls[0]); i++) {
        memset(given, 0, sizeof(given));
        given[without_tls[i].id] = without_tls[i].value;
        assert_int_equal(resolve(&cfg, given, err, sizeof(err)), -1);
        assert_bad_line(err, &without_tls[i], "(from the option)");
    }
    /* The defaults: TLS 1.2 up, no limit, burst follows the limit. */
    memset(given, 0, sizeof(given));
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    assert_string_equal(cfg.ssl_min_version, "TLS12");
    assert_string_equal(cfg.ssl_max_version, "");
    assert_int_equal(cfg.rate_limit, 0);
    given[GPX_OPT_RATE_LIMIT] = "7";
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    assert_int_equal(cfg.rate_limit_burst, 7);
}

/* Every bad value, from the option or from the environment, gives -1 and
 * one line with the option, the variable, the value and what is expected. */
static void
test_gpx_config_resolve_bad_values(void **state)
{
    static char long_text[GPX_PATH_MAX + 10];
    const struct bad_case cases[] = {
        {GPX_OPT_BIND, long_text, "an IP address or a host name this machine resolves"},
        {GPX_OPT_MULTIPROC_DIR, "relative/dir", "an absolute directory path"},
        {GPX_OPT_MULTIPROC_DIR, long_text, "an absolute directory path"},
        {GPX_OPT_CLEANUP_DB_FILES, "maybe", "true/false, 1/0, yes/no or on/off"},
        {GPX_OPT_INSTANCE, "a/b", "a name of printable characters without spaces or '/'"},
        {GPX_OPT_INSTANCE, "a b", "a name of printable characters without spaces or '/'"},
        {GPX_OPT_INSTANCE, "..", "a name of printable characters without spaces or '/'"},
        {GPX_OPT_INSTANCE, "tab\there", "a name of printable characters without spaces or '/'"},
        {GPX_OPT_REDIS, "maybe", "true/false, 1/0, yes/no or on/off"},
        {GPX_OPT_REDIS_HOST, long_text, "a host name, an address or a Unix socket path shorter than 1024 bytes"},
        {GPX_OPT_REDIS_PORT, "0", "a port number from 1 to 65535"},
        {GPX_OPT_REDIS_PORT, "65536", "a port number from 1 to 65535"},
        {GPX_OPT_REDIS_PORT, "x", "a port number from 1 to 65535"},
        {GPX_OPT_REDIS_DB, "-1", "a database number, 0 or more"},
        {GPX_OPT_REDIS_DB, "2147483648", "a database number, 0 or more"},
        {GPX_OPT_REDIS_DB, "one", "a database number, 0 or more"},
        {GPX_OPT_REDIS_KEY_PREFIX, "a/b", "a prefix of printable characters without spaces or '/'"},
        {GPX_OPT_REDIS_KEY_PREFIX, "a b", "a prefix of printable characters without spaces or '/'"},
        {GPX_OPT_PROFILE, "uwsgi_exporter", "gunicorn, uwsgi-exporter or both"},
        {GPX_OPT_PROFILE, "Gunicorn", "gunicorn, uwsgi-exporter or both"},
        {GPX_OPT_STATS_URI, "tab\there", "printable ASCII characters, shorter than 1024 bytes"},
        {GPX_OPT_STATS_URI, long_text, "printable ASCII characters, shorter than 1024 bytes"},
        {GPX_OPT_COLLECT_CORES, "maybe", "true/false, 1/0, yes/no or on/off"},
        {GPX_OPT_REDIS_SENTINELS, "10.0.0.1", "host:port,host:port (at most 16"},
        {GPX_OPT_REDIS_SENTINELS, "10.0.0.1:26379,", "host:port,host:port (at most 16"},
        {GPX_OPT_REDIS_SENTINELS, "10.0.0.1:0", "host:port,host:port (at most 16"},
        {GPX_OPT_REDIS_SENTINELS, "a:1,b:70000", "host:port,host:port (at most 16"},
        {GPX_OPT_REDIS_SENTINELS, "::1:26379", "host:port,host:port (at most 16"},
        {GPX_OPT_REDIS_SENTINELS, long_text, "host:port,host:port (at most 16"},
        {GPX_OPT_REDIS_SENTINEL_MASTER, "my master", "a name of printable characters without spaces or '/'"},
        {GPX_OPT_READYZ_SATURATION, "sometimes", "true/false, 1/0, yes/no or on/off"},
        {GPX_OPT_READYZ_QUEUE, "65536", "a number of connections from 0 to 65535"},
        {GPX_OPT_READYZ_QUEUE, "-1", "a number of connections from 0 to 65535"},
        {GPX_OPT_READYZ_BUSY_PERCENT, "101", "a percentage from 0 to 100"},
        {GPX_OPT_READYZ_BUSY_PERCENT, "50%", "a percentage from 0 to 100"},
        {GPX_OPT_FLEET_MAX_AGE, "-1", "a number of seconds from 0 to 31536000"},
        {GPX_OPT_FLEET_MAX_AGE, "31536001", "a number of seconds from 0 to 31536000"},
        {GPX_OPT_FLEET_MAX_AGE, "soon", "a number of seconds from 0 to 31536000"},
    };
    const char *given[GPX_OPT_COUNT] = {NULL};
    struct env_entry env[] = {{NULL, NULL}, {NULL, NULL}};
    struct gpx_config cfg;
    char err[2048];
    unsigned i;

    (void)state;
    memset(long_text, 'a', sizeof(long_text) - 1);
    long_text[0] = '/';
    long_text[sizeof(long_text) - 1] = '\0';
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct bad_case *c = &cases[i];

        memset(given, 0, sizeof(given));
        given[c->id] = c->value;
        env_table = no_env;
        if (resolve(&cfg, given, err, sizeof(err)) != -1) {
            print_error("accepted %s = \"%.40s\"\n", gpx_option_catalog[c->id].option, c->value);
            fail();
        }
        assert_bad_line(err, c, "(from the option)");
        assert_contains(err, c->value);

        given[c->id] = NULL;
        env[0].name = gpx_option_catalog[c->id].variable;
        env[0].value = c->value;
        env_table = env;
        if (resolve(&cfg, given, err, sizeof(err)) != -1) {
            print_error("accepted %s = \"%.40s\"\n", env[0].name, c->value);
            fail();
        }
        assert_bad_line(err, c, "(from the environment)");
        assert_contains(err, c->value);
    }
}

/* A password too long is refused without showing it. */
static void
test_gpx_config_resolve_bad_password_hidden(void **state)
{
    char password[GPX_TEXT_MAX + 1];
    const char *given[GPX_OPT_COUNT] = {NULL};
    struct gpx_config cfg;
    char err[512];

    (void)state;
    memset(password, 's', sizeof(password) - 1);
    password[sizeof(password) - 1] = '\0';
    given[GPX_OPT_REDIS_PASSWORD] = password;
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), -1);
    assert_string_equal(err, "gpx: invalid gpx-redis-password / REDIS_PASSWORD \"(hidden)\" (from the option): "
                             "expected a password shorter than 256 bytes");
    password[GPX_TEXT_MAX - 1] = '\0';
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    assert_string_equal(cfg.redis_password, password);
}

/* Instances: printable names without '/' or spaces, at most 255 bytes. */
static void
test_gpx_config_resolve_instance(void **state)
{
    char name[GPX_TEXT_MAX + 1];
    const char *given[GPX_OPT_COUNT] = {NULL};
    struct gpx_config cfg;
    char err[512];

    (void)state;
    given[GPX_OPT_INSTANCE] = "web-1.example:9090";
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    assert_string_equal(cfg.instance, "web-1.example:9090");
    assert_int_equal(cfg.source[GPX_OPT_INSTANCE], GPX_FROM_OPTION);

    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0'; /* 256 bytes */
    given[GPX_OPT_INSTANCE] = name;
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), -1);
    assert_contains(err, "gpx-instance / GPX_INSTANCE");
    name[GPX_TEXT_MAX - 1] = '\0'; /* 255 bytes */
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    assert_string_equal(cfg.instance, name);

    given[GPX_OPT_INSTANCE] = "a/b";
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), -1);
    assert_string_equal(err, "gpx: invalid gpx-instance / GPX_INSTANCE \"a/b\" (from the option): expected a name of "
                             "printable characters without spaces or '/', at most 255");
    given[GPX_OPT_INSTANCE] = "a b";
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), -1);
    assert_contains(err, "\"a b\"");
}

/* Redis database numbers: 0 up to INT_MAX; negative refused. */
static void
test_gpx_config_resolve_redis_db(void **state)
{
    const char *given[GPX_OPT_COUNT] = {NULL};
    struct gpx_config cfg;
    char err[512];

    (void)state;
    given[GPX_OPT_REDIS_DB] = "0";
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    assert_int_equal(cfg.redis_db, 0);
    given[GPX_OPT_REDIS_DB] = "2147483647";
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    assert_int_equal(cfg.redis_db, INT_MAX);
    given[GPX_OPT_REDIS_DB] = "-1";
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), -1);
    assert_string_equal(err, "gpx: invalid gpx-redis-db / REDIS_DB \"-1\" (from the option): expected a database "
                             "number, 0 or more");
}

/* Booleans of the resolver take every spelling, in any case. */
static void
test_gpx_config_resolve_booleans(void **state)
{
    static const char *const yes[] = {"true", "TRUE", "True", "1", "yes", "YES", "Yes", "on", "ON", "oN"};
    static const char *const no[] = {"false", "FALSE", "False", "0", "no", "NO", "No", "off", "OFF", "oFf"};
    const char *given[GPX_OPT_COUNT] = {NULL};
    struct gpx_config cfg;
    char err[512];
    unsigned i;

    (void)state;
    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        given[GPX_OPT_CLEANUP_DB_FILES] = yes[i];
        given[GPX_OPT_REDIS] = yes[i];
        assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
        assert_int_equal(cfg.cleanup_db_files, 1);
        assert_int_equal(cfg.redis_enabled, 1);
        given[GPX_OPT_CLEANUP_DB_FILES] = no[i];
        given[GPX_OPT_REDIS] = no[i];
        assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
        assert_int_equal(cfg.cleanup_db_files, 0);
        assert_int_equal(cfg.redis_enabled, 0);
    }
    given[GPX_OPT_REDIS] = NULL;
    given[GPX_OPT_CLEANUP_DB_FILES] = "maybe";
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), -1);
    assert_string_equal(err, "gpx: invalid gpx-cleanup-db-files / CLEANUP_DB_FILES \"maybe\" (from the option): "
                             "expected true/false, 1/0, yes/no or on/off");
}

/* gpx_parse_bool: the eight spellings in any case; anything else, the empty
 * string included, is refused. */
static void
test_gpx_parse_bool_spellings(void **state)
{
    static const char *const yes[] = {"true", "TRUE", "tRuE", "1", "yes", "YeS", "on", "On"};
    static const char *const no[] = {"false", "FALSE", "fAlSe", "0", "no", "NO", "off", "OfF"};
    static const char *const bad[] = {"maybe", "", " true", "true ", "tru", "yess", "2", "01", "y", "n", "none"};
    unsigned i;
    int out;

    (void)state;
    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        out = -1;
        assert_int_equal(gpx_parse_bool(yes[i], &out), 0);
        assert_int_equal(out, 1);
        out = -1;
        assert_int_equal(gpx_parse_bool(no[i], &out), 0);
        assert_int_equal(out, 0);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(gpx_parse_bool(bad[i], &out), -1);
    }
}

/* gpx_parse_int: a plain decimal number within [min, max], nothing around it. */
static void
test_gpx_parse_int_ranges(void **state)
{
    static const char *const bad[] = {"", " 1", "1 ", "+1", "-1", "0x10", "1e3", "1.0", "12abc", "abc", "\t5"};
    long out;
    unsigned i;

    (void)state;
    assert_int_equal(gpx_parse_int("0", 0, 10, &out), 0);
    assert_int_equal(out, 0);
    assert_int_equal(gpx_parse_int("10", 0, 10, &out), 0);
    assert_int_equal(out, 10);
    assert_int_equal(gpx_parse_int("007", 0, 10, &out), 0);
    assert_int_equal(out, 7);
    assert_int_equal(gpx_parse_int("11", 0, 10, &out), -1);
    assert_int_equal(gpx_parse_int("4", 5, 10, &out), -1);
    assert_int_equal(gpx_parse_int("9223372036854775807", 0, LONG_MAX, &out), 0);
    assert_true(out == LONG_MAX);
    assert_int_equal(gpx_parse_int("9223372036854775808", 0, LONG_MAX, &out), -1);
    assert_int_equal(gpx_parse_int("99999999999999999999999", 0, LONG_MAX, &out), -1);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(gpx_parse_int(bad[i], 0, 100, &out), -1);
    }
}

/* A directory tree under a mkdtemp directory, removed whatever the outcome. */
struct tree {
    char base[64];
};

static int
setup_tree(void **state)
{
    static struct tree t;

    env_table = no_env;
    strcpy(t.base, "/tmp/gpx_config_test_XXXXXX");
    if (mkdtemp(t.base) == NULL) {
        return -1;
    }
    *state = &t;
    return 0;
}

static int
teardown_tree(void **state)
{
    const struct tree *t = *state;

    return remove_tree(t->base);
}

static void
tree_path(const struct tree *t, char *out, size_t outlen, const char *rel)
{
    snprintf(out, outlen, "%s/%s", t->base, rel);
}

static int
dir_entries(const char *path)
{
    DIR *d = opendir(path);
    const struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    }
    closedir(d);
    return n;
}

static void
resolve_dir(struct gpx_config *cfg, const char *dir)
{
    const char *given[GPX_OPT_COUNT] = {NULL};
    char err[512];

    given[GPX_OPT_MULTIPROC_DIR] = dir;
    assert_int_equal(resolve(cfg, given, err, sizeof(err)), 0);
    assert_string_equal(cfg->multiproc_dir, dir);
}

/* prepare_dir creates every missing directory of the path and leaves no
 * probe file behind; an existing directory is accepted as it is. */
static void
test_gpx_config_prepare_dir_creates_nested(void **state)
{
    const struct tree *t = *state;
    struct gpx_config cfg;
    char dir[GPX_PATH_MAX], path[GPX_PATH_MAX], err[512];
    struct stat st;

    tree_path(t, dir, sizeof(dir), "a/b/c");
    resolve_dir(&cfg, dir);
    err[0] = '\0';
    assert_int_equal(gpx_config_prepare_dir(&cfg, err, sizeof(err)), 0);
    assert_string_equal(err, "");
    assert_int_equal(stat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(dir_entries(dir), 0);

    /* Again, now that it exists; and with a trailing slash. */
    assert_int_equal(gpx_config_prepare_dir(&cfg, err, sizeof(err)), 0);
    tree_path(t, path, sizeof(path), "a/b/c/");
    resolve_dir(&cfg, path);
    assert_int_equal(gpx_config_prepare_dir(&cfg, err, sizeof(err)), 0);
    assert_int_equal(dir_entries(dir), 0);
}

/* A path under a regular file cannot be created: -1, and the line names the
 * option, the variable, the path and the reason. */
static void
test_gpx_config_prepare_dir_under_file(void **state)
{
    const struct tree *t = *state;
    struct gpx_config cfg;
    char file[GPX_PATH_MAX], dir[GPX_PATH_MAX], err[GPX_PATH_MAX + 512], want[GPX_PATH_MAX + 512];
    int fd;

    tree_path(t, file, sizeof(file), "file");
    fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0644);
    assert_true(fd >= 0);
    close(fd);

    tree_path(t, dir, sizeof(dir), "file/sub/dir");
    resolve_dir(&cfg, dir);
    assert_int_equal(gpx_config_prepare_dir(&cfg, err, sizeof(err)), -1);
    snprintf(want, sizeof(want),
             "gpx: invalid gpx-multiproc-dir / PROMETHEUS_MULTIPROC_DIR \"%s\" (from the option): expected a "
             "directory that can be created (%s)",
             dir, strerror(ENOTDIR));
    assert_string_equal(err, want);
}

/* A path that is itself a regular file is refused as not a directory, and
 * the file is left alone. */
static void
test_gpx_config_prepare_dir_is_file(void **state)
{
    const struct tree *t = *state;
    struct gpx_config cfg;
    char file[GPX_PATH_MAX], err[GPX_PATH_MAX + 512], want[GPX_PATH_MAX + 512];
    struct stat st;
    int fd;

    tree_path(t, file, sizeof(file), "file");
    fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "x", 1), 1);
    close(fd);

    resolve_dir(&cfg, file);
    assert_int_equal(gpx_config_prepare_dir(&cfg, err, sizeof(err)), -1);
    snprintf(want, sizeof(want),
             "gpx: invalid gpx-multiproc-dir / PROMETHEUS_MULTIPROC_DIR \"%s\" (from the option): expected a "
             "directory that can be created (not a directory)",
             file);
    assert_string_equal(err, want);
    assert_int_equal(stat(file, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_size, 1);
}

/* A directory where no file can be created (even by root: /proc) is
 * refused with the reason. */
static void
test_gpx_config_prepare_dir_unwritable(void **state)
{
    struct gpx_config cfg;
    char err[512];

    (void)state;
    resolve_dir(&cfg, "/proc");
    assert_int_equal(gpx_config_prepare_dir(&cfg, err, sizeof(err)), -1);
    assert_contains(err, "gpx: invalid gpx-multiproc-dir / PROMETHEUS_MULTIPROC_DIR \"/proc\" (from the option): "
                         "expected a directory files can be written in (");
}

/* A certificate needs its key and the reverse; client CAs need TLS. */
static void
test_gpx_config_resolve_tls_pairs(void **state)
{
    const char *given[GPX_OPT_COUNT] = {NULL};
    struct gpx_config cfg;
    char err[512];

    (void)state;
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    assert_string_equal(cfg.ssl_certfile, "");
    assert_string_equal(cfg.basic_auth_file, "");
    given[GPX_OPT_SSL_CERTFILE] = "/c.pem";
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), -1);
    assert_string_equal(err,
                        "gpx: invalid gpx-ssl-keyfile / PROMETHEUS_SSL_KEYFILE \"\" (from the default): expected the "
                        "PEM private key of gpx-ssl-certfile (both or neither)");
    given[GPX_OPT_SSL_CERTFILE] = NULL;
    given[GPX_OPT_SSL_KEYFILE] = "/k.pem";
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), -1);
    assert_string_equal(err,
                        "gpx: invalid gpx-ssl-certfile / PROMETHEUS_SSL_CERTFILE \"\" (from the default): expected "
                        "the PEM certificate of gpx-ssl-keyfile (both or neither)");
    given[GPX_OPT_SSL_KEYFILE] = NULL;
    given[GPX_OPT_SSL_CLIENT_CAFILE] = "/ca.pem";
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), -1);
    assert_string_equal(err,
                        "gpx: invalid gpx-ssl-certfile / PROMETHEUS_SSL_CERTFILE \"\" (from the default): expected "
                        "a PEM certificate: gpx-ssl-client-cafile needs TLS (gpx-ssl-certfile and gpx-ssl-keyfile)");
    given[GPX_OPT_SSL_CERTFILE] = "/c.pem";
    given[GPX_OPT_SSL_KEYFILE] = "/k.pem";
    assert_int_equal(resolve(&cfg, given, err, sizeof(err)), 0);
    assert_string_equal(cfg.ssl_client_cafile, "/ca.pem");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_gpx_config_resolve_defaults, reset_env),
        cmocka_unit_test_setup(test_gpx_config_catalog_complete, reset_env),
        cmocka_unit_test_setup(test_gpx_option_help, reset_env),
        cmocka_unit_test_setup(test_gpx_config_describe, reset_env),
        cmocka_unit_test_setup(test_gpx_config_variable_set, reset_env),
        cmocka_unit_test_setup(test_gpx_config_doc_table, reset_env),
        cmocka_unit_test_setup(test_gpx_config_resolve_precedence, reset_env),
        cmocka_unit_test_setup(test_gpx_config_resolve_exporter_variables, reset_env),
        cmocka_unit_test_setup(test_gpx_config_resolve_ttl_disabled, reset_env),
        cmocka_unit_test_setup(test_gpx_config_resolve_client_auth, reset_env),
        cmocka_unit_test_setup(test_gpx_config_resolve_empty_is_not_given, reset_env),
        cmocka_unit_test_setup(test_gpx_config_resolve_default_instance_port, reset_env),
        cmocka_unit_test_setup(test_gpx_config_resolve_bad_port_option, reset_env),
        cmocka_unit_test_setup(test_gpx_config_resolve_bad_port_environment, reset_env),
        cmocka_unit_test_setup(test_gpx_config_resolve_bad_values, reset_env),
        cmocka_unit_test_setup(test_gpx_config_resolve_bad_endpoint_values, reset_env),
        cmocka_unit_test_setup(test_gpx_config_resolve_bad_password_hidden, reset_env),
        cmocka_unit_test_setup(test_gpx_config_resolve_instance, reset_env),
        cmocka_unit_test_setup(test_gpx_config_resolve_redis_db, reset_env),
        cmocka_unit_test_setup(test_gpx_config_resolve_booleans, reset_env),
        cmocka_unit_test_setup(test_gpx_config_resolve_tls_pairs, reset_env),
        cmocka_unit_test_setup(test_gpx_parse_bool_spellings, reset_env),
        cmocka_unit_test_setup(test_gpx_parse_int_ranges, reset_env),
        cmocka_unit_test_setup_teardown(test_gpx_config_prepare_dir_creates_nested, setup_tree, teardown_tree),
        cmocka_unit_test_setup_teardown(test_gpx_config_prepare_dir_under_file, setup_tree, teardown_tree),
        cmocka_unit_test_setup_teardown(test_gpx_config_prepare_dir_is_file, setup_tree, teardown_tree),
        cmocka_unit_test_setup(test_gpx_config_prepare_dir_unwritable, reset_env),
    };

    return cmocka_run_group_tests_name("gpx_config", tests, NULL, NULL);
}
