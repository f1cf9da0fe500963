/* gpx_storage_redis.c - Redis storage: absolute totals published by a
 * thread of the master (gpx_redis.h), no files.
 *
 * The board lives in anonymous memory from zero; the totals stored in Redis
 * are restored by the publisher into a base beside it (one cell per slot)
 * before its first publish, and every renderer adds the two. Each publish,
 * and the last one at exit or before a reload, writes board + base.
 */
#include "gpx_storage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpx_fleet.h"
#include "gpx_redis.h"
#include "gpx_layout.h"
#include "gpx_snapshot.h"

/* The publisher's connect and command timeout. */
#define TIMEOUT_MS 1000

/* A fleet read (connecting, the index and every snapshot) gives up after
 * this long: the fleet view then answers 503. */
#define FLEET_TIMEOUT_MS 2000

struct redis {
    struct gpx_redis_config redis;         /* where and how to publish */
    struct gpx_redis_status *status;       /* shared: the publisher's health, read by any renderer */
    struct gpx_redis_publisher *publisher; /* once started */
    int refusal_logged;                    /* the publisher retries a refused restore every interval */
};

static int
wanted(const struct gpx_config *cfg)
{
    return cfg->redis_enabled;
}

static int
prepare(struct gpx_storage *s, char *err, size_t errlen)
{
    (void)s; /* no directory: nothing is written on this host */
    (void)err;
    (void)errlen;
    return 0;
}

static int
open_redis(struct gpx_storage *s, struct gpx_scoreboard *board, unsigned workers, unsigned cores, char *err,
           size_t errlen)
{
    const struct gpx_config *cfg = s->ctx.cfg;
    struct redis *r = calloc(1, sizeof(*r));
    char why[512];

    if (r == NULL) {
        snprintf(err, errlen, "gpx: out of memory opening Redis storage");
        return -1;
    }
    if (gpx_scoreboard_open_anonymous(board, workers, cores, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "gpx: %s", why);
        free(r);
        return -1;
    }
    if (gpx_scoreboard_open_anonymous(&s->base, workers, 1, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "gpx: %s", why);
        gpx_scoreboard_close(board);
        free(r);
        return -1;
    }
    r->status = s->ctx.shared_calloc(sizeof(*r->status));
    r->redis.host = cfg->redis_host;
    r->redis.port = cfg->redis_port;
    r->redis.db = cfg->redis_db;
    r->redis.password = cfg->redis_password;
    r->redis.sentinels = cfg->redis_sentinels;
    r->redis.sentinel_master = cfg->redis_sentinel_master;
    r->redis.sentinel_password = cfg->redis_sentinel_password;
    r->redis.prefix = cfg->redis_key_prefix;
    r->redis.instance = cfg->instance;
    r->redis.interval_seconds = (unsigned)cfg->redis_interval;
    r->redis.ttl_seconds = cfg->redis_ttl_disabled ? 0 : (unsigned)cfg->redis_ttl;
    r->redis.timeout_ms = TIMEOUT_MS;
    r->redis.fleet_timeout_ms = FLEET_TIMEOUT_MS;
    r->redis.fleet_log = s->ctx.log;
    r->redis.verbose = cfg->debug;
    r->redis.start_fresh = cfg->cleanup_db_files && !s->ctx.reload;
    s->board = board;
    s->state = r;
    return 0;
}

static void
describe(const struct gpx_storage *s)
{
    const struct gpx_config *cfg = s->ctx.cfg;
    char line[2 * GPX_PATH_MAX + 4 * GPX_TEXT_MAX], where[GPX_PATH_MAX + GPX_TEXT_MAX + 64], expiry[64];

    if (cfg->redis_ttl_disabled) {
        snprintf(expiry, sizeof(expiry), "never expires");
    } else {
        snprintf(expiry, sizeof(expiry), "expires after %d s", cfg->redis_ttl);
    }
    if (cfg->redis_sentinels[0] != '\0') {
        snprintf(where, sizeof(where), "master %s of Sentinels %s", cfg->redis_sentinel_master, cfg->redis_sentinels);
    } else if (cfg->redis_host[0] == '/') {
        snprintf(where, sizeof(where), "%s", cfg->redis_host);
    } else {
        snprintf(where, sizeof(where), "%s:%d", cfg->redis_host, cfg->redis_port);
    }
    snprintf(line, sizeof(line), "gpx: storage redis %s db %d, key %s:gpx:instance:%s every %d s (%s), no files", where,
             cfg->redis_db, cfg->redis_key_prefix, cfg->instance, cfg->redis_interval, expiry);
    s->ctx.log(line);
    /* Both given: say which one is in effect rather than drop one silently. */
    if (cfg->redis_ttl_disabled && cfg->source[GPX_OPT_REDIS_TTL] != GPX_FROM_DEFAULT) {
        snprintf(line, sizeof(line), "gpx: %s = true: keys never expire, %s = %d is not used",
                 cfg->source[GPX_OPT_REDIS_TTL_DISABLED] == GPX_FROM_OPTION
                     ? gpx_option_catalog[GPX_OPT_REDIS_TTL_DISABLED].option
                     : gpx_option_catalog[GPX_OPT_REDIS_TTL_DISABLED].variable,
                 cfg->source[GPX_OPT_REDIS_TTL] == GPX_FROM_OPTION ? gpx_option_catalog[GPX_OPT_REDIS_TTL].option
                                                                   : cfg->variable[GPX_OPT_REDIS_TTL],
                 cfg->redis_ttl);
        s->ctx.log(line);
    }
}

/* Copies at most size - 1 bytes of src and a NUL. */
static void
copy_text(char *dst, size_t size, const char *src)
{
    size_t n = src != NULL ? strlen(src) : 0;

    n = n < size - 1 ? n : size - 1;
    memcpy(dst, src != NULL ? src : "", n);
    dst[n] = '\0';
}

/* The snapshot's extension: what the master sees now, for the fleet view. */
static int
encode_live(const struct gpx_storage *s, struct gpx_buf *out, unsigned workers)
{
    const struct redis *r = s->state;
    struct gpx_storage_live now;
    struct gpx_snapshot_live live;
    struct gpx_snapshot_worker *parts = calloc(workers, sizeof(*parts));
    struct gpx_redis_status status;
    unsigned i, op;
    int rc;

    memset(&now, 0, sizeof(now));
    now.workers = calloc(workers, sizeof(*now.workers));
    if (parts == NULL || now.workers == NULL) {
        free(parts);
        free(now.workers);
        out->failed = 1;
        return -1;
    }
    now.worker_count = workers;
    s->ctx.live(&now);
    memset(&live, 0, sizeof(live));
    live.in_progress = now.in_progress;
    live.workers_desired = now.workers_desired;
    live.worker_count = now.configured < workers ? now.configured : workers;
    live.listener_count = now.listener_count < GPX_SNAPSHOT_LISTENERS ? now.listener_count : GPX_SNAPSHOT_LISTENERS;
    for (i = 0; i < live.listener_count; i++) {
        copy_text(live.listeners[i].name, sizeof(live.listeners[i].name), now.listeners[i].name);
        live.listeners[i].queued = now.listeners[i].queued;
        live.listeners[i].limit = now.listeners[i].limit;
    }
    gpx_redis_status_read(r->status, &status);
    live.storage_up = status.up && status.restored;
    live.storage_op_count = GPX_REDIS_OPS < GPX_SNAPSHOT_STORAGE_OPS ? GPX_REDIS_OPS : GPX_SNAPSHOT_STORAGE_OPS;
    for (op = 0; op < live.storage_op_count; op++) {
        copy_text(live.storage[op].label, sizeof(live.storage[op].label), gpx_redis_op_label((enum gpx_redis_op)op));
        live.storage[op].errors = status.errors[op];
    }
    for (i = 0; i < workers; i++) {
        parts[i].state = (uint32_t)now.workers[i].state;
        parts[i].live = (uint32_t)now.workers[i].live;
        parts[i].memory_bytes = now.workers[i].memory_bytes;
        parts[i].cpu_percent = now.workers[i].cpu_percent;
        parts[i].cpu_seconds = now.workers[i].cpu_seconds;
        parts[i].uptime_seconds = now.workers[i].uptime_seconds;
    }
    rc = gpx_snapshot_encode_live(out, &live, parts, workers);
    free(parts);
    free(now.workers);
    return rc;
}

/* The publisher's view of this server: live counters plus restored totals,
 * and what the master sees now. */
static int
snapshot_totals(void *ctx, struct gpx_buf *out)
{
    const struct gpx_storage *s = ctx;
    unsigned workers = s->board->workers > s->base.workers ? s->board->workers : s->base.workers;

    if (gpx_snapshot_encode(out, s->board, &s->base, (uint64_t)time(NULL)) != 0) {
        return -1;
    }
    return s->ctx.live != NULL ? encode_live(s, out, workers) : 0;
}

/* Stored totals become the base the live counters continue from. Only the
 * publisher's thread writes the base, once, before its first publish. */
static int
restore_totals(void *ctx, const void *blob, size_t len)
{
    struct gpx_storage *s = ctx;
    struct redis *r = s->state;
    const struct gpx_snapshot_header *h;
    char err[256], line[320];

    int rc = gpx_snapshot_check(blob, len, &h, err, sizeof(err));
    struct gpx_buf upgraded;

    if (rc == -2 && gpx_buf_init(&upgraded, len * 5) == 0) {
        /* Totals a gpx 0.1 stored (layout 3), read into this layout. */
        if (gpx_layout_snapshot_upgrade(blob, len, &upgraded) == 0 &&
            gpx_snapshot_check(upgraded.data, upgraded.len, &h, err, sizeof(err)) == 0) {
            gpx_snapshot_add_to(&s->base, h);
            s->ctx.log("gpx: stored totals of gpx 0.1's layout 3 read (counts kept; the native histograms start "
                       "from the classic buckets' bounds)");
            gpx_buf_free(&upgraded);
            return 0;
        }
        gpx_buf_free(&upgraded);
    }
    if (rc != 0) {
        if (!r->refusal_logged) {
            snprintf(line, sizeof(line), "gpx: stored totals refused: %s", err);
            s->ctx.log(line);
            r->refusal_logged = 1;
        }
        return -1;
    }
    gpx_snapshot_add_to(&s->base, h);
    return 0;
}

static void
start(struct gpx_storage *s, const struct gpx_storage_app *app)
{
    struct redis *r = s->state;

    if (app != NULL) {
        r->redis.app_snapshot = app->snapshot;
        r->redis.app_restore = app->restore;
    }
    r->publisher = gpx_redis_start(&r->redis, r->status, snapshot_totals, restore_totals, s, s->ctx.log);
    if (r->publisher == NULL) {
        s->ctx.log_errno("gpx_storage_redis/gpx_redis_start()");
    }
}

static void
persist(struct gpx_storage *s)
{
    (void)s; /* the publisher's thread publishes every interval */
}

/* The workers are gone, so the totals are final: publish them once more so
 * that nothing is lost. */
static void
close_redis(struct gpx_storage *s)
{
    struct redis *r = s->state;
    int published;

    if (r == NULL || r->publisher == NULL) {
        return;
    }
    published = gpx_redis_stop(r->publisher, 1);
    r->publisher = NULL;
    if (published == 0) {
        s->ctx.log("gpx: final totals published to Redis");
    } else {
        s->ctx.log("gpx: cannot publish the final totals to Redis: what was counted since the last successful "
                   "publish is lost");
    }
}

static void
after_fork(struct gpx_storage *s)
{
    (void)s; /* workers never talk to Redis */
}

static void
health(const struct gpx_storage *s, struct gpx_storage_health *out)
{
    const struct redis *r = s->state;
    struct gpx_redis_status status;
    unsigned op;

    memset(out, 0, sizeof(*out));
    if (r == NULL) {
        return;
    }
    gpx_redis_status_read(r->status, &status);
    out->up = status.up && status.restored;
    out->operations = GPX_REDIS_OPS;
    for (op = 0; op < GPX_REDIS_OPS; op++) {
        out->labels[op] = gpx_redis_op_label((enum gpx_redis_op)op);
        out->errors[op] = status.errors[op];
    }
}

static int
fleet(struct gpx_storage *s, struct gpx_buf *out, enum gpx_format format)
{
    struct redis *r = s->state;

    const struct gpx_config *cfg = s->ctx.cfg;
    unsigned max_age = cfg->fleet_max_age > 0 ? (unsigned)cfg->fleet_max_age : r->redis.ttl_seconds;

    return gpx_fleet_render(out, format, &r->redis, r->status, max_age);
}

_Static_assert(GPX_REDIS_OPS <= GPX_STORAGE_OPS_MAX, "Redis storage counts more operations than health holds");

const struct gpx_storage_ops gpx_storage_redis = {
    .name = "redis",
    .owns_directory = 0,
    .wanted = wanted,
    .prepare = prepare,
    .open = open_redis,
    .describe = describe,
    .start = start,
    .persist = persist,
    .close = close_redis,
    .after_fork = after_fork,
    .health = health,
    .fleet = fleet,
};
