/* gpx_redis.c - the master's Redis publisher and the fleet reader (see gpx_redis.h). */
#define _GNU_SOURCE
#include "gpx_redis.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "gpx_deadline.h"
#include "gpx_sentinel.h"
#include "gpx_thread.h"

struct gpx_redis_publisher {
    struct gpx_redis_config cfg;
    char host[1024];
    char password[256];
    char sentinels[1024];
    char sentinel_master[256];
    char sentinel_password[256];
    struct gpx_sentinel_addr master; /* through Sentinel: the master last connected to; port 0: none yet */
    char prefix[256];
    char instance[256];
    char key[600];     /* <prefix>:gpx:instance:<name> */
    char app_key[600]; /* <prefix>:gpx:app:<name> */
    char index[300];   /* <prefix>:gpx:instances */
    char where[1400];  /* host:port, the socket path, or the Sentinels, for log lines */
    gpx_redis_snapshot_fn snapshot;
    gpx_redis_restore_fn restore;
    void *ctx;
    gpx_log_fn log;
    redisContext *conn;              /* the thread's connection; NULL when down */
    struct gpx_redis_status *status; /* the caller's */
    pthread_t thread;
    pthread_mutex_t lock; /* guards stopping and, at stop, conn */
    pthread_cond_t wake;
    int stopping;
    int refused_logged;
    int app_refused_logged;
    int outage_logged; /* "cannot use Redis" was logged since the last success */
};

const char *const gpx_redis_op_labels[GPX_REDIS_OPS] = {"connect", "restore", "publish", "fleet"};

const char *
gpx_redis_op_label(enum gpx_redis_op op)
{
    return (unsigned)op < GPX_REDIS_OPS ? gpx_redis_op_labels[op] : "unknown";
}

static void
count_error(struct gpx_redis_status *status, enum gpx_redis_op op)
{
    __atomic_add_fetch(&status->errors[op], 1, __ATOMIC_RELAXED);
    /* A failed fleet read says nothing of whether the publisher can write. */
    if (op != GPX_REDIS_FLEET) {
        __atomic_store_n(&status->up, 0, __ATOMIC_RELAXED);
    }
}

static struct timeval
timeval_of(long ms)
{
    return (struct timeval){(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
}

/* Before each blocking step of a read with a deadline, the socket may wait
 * only for what is left of it. Returns -1 when nothing is left. Without a
 * deadline, the timeouts set at connection stay. */
static int
arm_deadline(redisContext *c, const struct timespec *deadline)
{
    long ms;

    if (deadline == NULL) {
        return 0;
    }
    ms = gpx_deadline_left_ms(deadline);
    return ms > 0 && redisSetTimeout(c, timeval_of(ms)) == REDIS_OK ? 0 : -1;
}

/* One command, within the deadline if there is one. NULL on failure. */
static redisReply *
run_command(redisContext *c, const struct timespec *deadline, const char *fmt, ...)
{
    redisReply *r;
    va_list ap;

    if (arm_deadline(c, deadline) != 0) {
        return NULL;
    }
    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);
    return r;
}

/* The reason of a failed command, for log lines. */
static const char *
failure_of(const redisContext *c, const redisReply *r)
{
    if (r != NULL && r->type == REDIS_REPLY_ERROR) {
        return r->str;
    }
    return c->err ? c->errstr : "timed out";
}

/* Asks the Sentinels for the master (within `deadline`, or 3 timeouts
 * without one). Returns 0 with its address, or -1 with why in err. */
static int
master_from_sentinels(const struct gpx_redis_config *cfg, const struct timespec *deadline,
                      struct gpx_sentinel_addr *out, char *err, size_t errlen)
{
    struct timespec until;

    if (deadline == NULL) {
        until = gpx_deadline_in(3 * (unsigned long)cfg->timeout_ms);
        deadline = &until;
    }
    return gpx_sentinel_master(cfg->sentinels, cfg->sentinel_master,
                               cfg->sentinel_password != NULL ? cfg->sentinel_password : "", deadline, cfg->timeout_ms,
                               out, err, errlen);
}

/* Through Sentinel, the address given must be the master still: during a
 * failover a Sentinel may name the old one come back as a replica. */
static int
check_master_role(redisContext *c, const struct timespec *deadline, char *err, size_t errlen)
{
    redisReply *r = run_command(c, deadline, "ROLE");
    int rc = -1;

    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "ROLE: %s", failure_of(c, r));
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 && r->element[0]->type == REDIS_REPLY_STRING &&
               strcmp(r->element[0]->str, "master") == 0) {
        rc = 0;
    } else {
        snprintf(err, errlen, "the server Sentinel named is not a master (yet)");
    }
    freeReplyObject(r);
    return rc;
}

/* Connects, authenticates and selects the db, each step within timeout_ms,
 * or all of them within `deadline` when given; through Sentinel, asks for
 * the master first (its address into *master when not NULL). Returns the
 * context, or NULL with a reason in err. */
static redisContext *
open_connection(const struct gpx_redis_config *cfg, const struct timespec *deadline, struct gpx_sentinel_addr *master,
                char *err, size_t errlen)
{
    struct timeval tv;
    struct gpx_sentinel_addr found;
    int sentinel = cfg->sentinels != NULL && cfg->sentinels[0] != '\0';
    redisContext *c;
    redisReply *r;

    if (sentinel && master_from_sentinels(cfg, deadline, &found, err, errlen) != 0) {
        return NULL;
    }
    tv = timeval_of(deadline != NULL ? gpx_deadline_left_ms(deadline) : (long)cfg->timeout_ms);
    if (tv.tv_sec == 0 && tv.tv_usec == 0) {
        snprintf(err, errlen, "timed out");
        return NULL;
    }
    if (sentinel) {
        c = redisConnectWithTimeout(found.host, found.port, tv);
    } else {
        c = cfg->host[0] == '/' ? redisConnectUnixWithTimeout(cfg->host, tv)
                                : redisConnectWithTimeout(cfg->host, cfg->port, tv);
    }
    if (c == NULL || c->err) {
        if (sentinel) {
            snprintf(err, errlen, "master at %s:%d: %s", found.host, found.port,
                     c != NULL ? c->errstr : "out of memory");
        } else {
            snprintf(err, errlen, "%s", c != NULL ? c->errstr : "out of memory");
        }
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    if (cfg->password[0] != '\0') {
        r = run_command(c, deadline, "AUTH %s", cfg->password);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            snprintf(err, errlen, "AUTH: %s", failure_of(c, r));
            freeReplyObject(r);
            redisFree(c);
            return NULL;
        }
        freeReplyObject(r);
    }
    if (cfg->db != 0) {
        r = run_command(c, deadline, "SELECT %d", cfg->db);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            snprintf(err, errlen, "SELECT %d: %s", cfg->db, failure_of(c, r));
            freeReplyObject(r);
            redisFree(c);
            return NULL;
        }
        freeReplyObject(r);
    }
    if (sentinel) {
        if (check_master_role(c, deadline, err, errlen) != 0) {
            redisFree(c);
            return NULL;
        }
        if (master != NULL) {
            *master = found;
        }
    }
    return c;
}

/* A command refused because its key holds another type of value. */
static int
wrong_type(const redisReply *r)
{
    return r != NULL && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "WRONGTYPE", 9) == 0;
}

/* The type of `key` ("string", "list", ...) into out; "unknown" when TYPE
 * failed. */
static void
key_type(redisContext *c, const struct timespec *deadline, const char *key, char *out, size_t outlen)
{
    redisReply *r = run_command(c, deadline, "TYPE %s", key);

    snprintf(out, outlen, "%s", r != NULL && r->type == REDIS_REPLY_STATUS ? r->str : "unknown");
    freeReplyObject(r);
}

/* Repairs of the index run one at a time in a process: the publisher and a
 * fleet read that meet the same damage repair it (and say so) once. */
static pthread_mutex_t repair_lock = PTHREAD_MUTEX_INITIALIZER;

/* The index refused a command: unless it is the sorted set gpx keeps there
 * (or gone: another thread repaired it), it holds what something else wrote,
 * and no instance could ever be listed in it again. It is deleted; every
 * instance adds itself back at its next publish. Returns 0 when the index is
 * usable now, -1 when Redis failed. */
static int
repair_index(redisContext *c, const struct timespec *deadline, const char *index, gpx_log_fn log)
{
    char type[64];
    redisReply *r;
    int rc = 0;

    pthread_mutex_lock(&repair_lock);
    key_type(c, deadline, index, type, sizeof(type));
    if (strcmp(type, "zset") != 0 && strcmp(type, "none") != 0) {
        r = run_command(c, deadline, "DEL %s", index);
        rc = r != NULL && r->type == REDIS_REPLY_INTEGER ? 0 : -1;
        freeReplyObject(r);
        if (rc == 0) {
            gpx_log(log,
                    "gpx: the Redis key %s held a %s, not the sorted set of instances gpx keeps there; gpx deleted "
                    "it, and each instance adds itself back at its next publish",
                    index, type);
        }
    }
    pthread_mutex_unlock(&repair_lock);
    return rc;
}

static void
drop_connection(struct gpx_redis_publisher *pub)
{
    redisFree(pub->conn);
    pub->conn = NULL;
}

static int
ensure_connection(struct gpx_redis_publisher *pub)
{
    struct gpx_sentinel_addr found;
    char err[1024];

    if (pub->conn != NULL) {
        return 0;
    }
    pub->conn = open_connection(&pub->cfg, NULL, &found, err, sizeof(err));
    if (pub->conn == NULL) {
        /* Logged on the first failure after a success (or at start), not on
         * every retry. `up` cannot tell: a failed publish has already zeroed
         * it before the reconnection fails. */
        if (!pub->outage_logged) {
            gpx_log(pub->log, "gpx: cannot use Redis at %s: %s; counting locally, retrying every %u s", pub->where, err,
                    pub->cfg.interval_seconds);
            pub->outage_logged = 1;
        }
        count_error(pub->status, GPX_REDIS_CONNECT);
        return -1;
    }
    if (pub->sentinels[0] != '\0' && (found.port != pub->master.port || strcmp(found.host, pub->master.host) != 0)) {
        /* The first master, or a failover: the next publish writes the
         * whole totals there. */
        gpx_log(pub->log, "gpx: Sentinel names %s:%d as the master %s%s", found.host, found.port, pub->sentinel_master,
                pub->master.port != 0 ? ": publishing the totals there" : "");
        pub->master = found;
    }
    return 0;
}

/* A cold start that asked for cleanup: this instance's keys go, and the
 * counters begin from zero. */
static int
remove_stored(struct gpx_redis_publisher *pub)
{
    int i, ok = 1;

    redisAppendCommand(pub->conn, "DEL %s %s", pub->key, pub->app_key);
    redisAppendCommand(pub->conn, "ZREM %s %s", pub->index, pub->instance);
    for (i = 0; i < 2; i++) {
        redisReply *r = NULL;

        if (redisGetReply(pub->conn, (void **)&r) != REDIS_OK || r == NULL || r->type == REDIS_REPLY_ERROR) {
            ok = 0;
        }
        freeReplyObject(r);
        if (!ok) {
            break;
        }
    }
    if (!ok) {
        count_error(pub->status, GPX_REDIS_RESTORE);
        drop_connection(pub);
        return -1;
    }
    gpx_log(pub->log, "gpx: cleanup on a cold start: removed %s, counters begin from zero", pub->key);
    pub->outage_logged = 0;
    __atomic_store_n(&pub->status->restored, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&pub->status->up, 1, __ATOMIC_RELAXED);
    return 0;
}

/* A stored blob of the wrong type holds nothing of gpx's: it is read as
 * none (the next publish replaces it), and said once. */
static void
note_wrong_type(struct gpx_redis_publisher *pub, const char *key, const char *counters)
{
    char type[64];

    key_type(pub->conn, NULL, key, type, sizeof(type));
    gpx_log(pub->log,
            "gpx: the Redis key %s holds a %s, not totals gpx wrote; %s begin from zero and the next publish "
            "replaces it",
            key, type, counters);
}

/* Reads the stored totals once (and the app's, in the same round trip,
 * so that neither is taken twice when the other fails); afterwards
 * publishing may begin. */
static int
restore_once(struct gpx_redis_publisher *pub)
{
    redisReply *r = NULL, *app = NULL;
    int rc = 0, ok;

    if (pub->cfg.start_fresh) {
        return remove_stored(pub);
    }
    redisAppendCommand(pub->conn, "GET %s", pub->key);
    if (pub->cfg.app_restore != NULL) {
        redisAppendCommand(pub->conn, "GET %s", pub->app_key);
    }
    ok = redisGetReply(pub->conn, (void **)&r) == REDIS_OK && r != NULL &&
         (r->type != REDIS_REPLY_ERROR || wrong_type(r));
    if (ok && pub->cfg.app_restore != NULL) {
        ok = redisGetReply(pub->conn, (void **)&app) == REDIS_OK && app != NULL &&
             (app->type != REDIS_REPLY_ERROR || wrong_type(app));
    }
    if (!ok) {
        count_error(pub->status, GPX_REDIS_RESTORE);
        freeReplyObject(r);
        freeReplyObject(app);
        drop_connection(pub);
        return -1;
    }
    if (wrong_type(r)) {
        note_wrong_type(pub, pub->key, "the counters");
    }
    if (wrong_type(app)) {
        note_wrong_type(pub, pub->app_key, "the app's metrics");
    }
    if (r->type == REDIS_REPLY_STRING) {
        if (pub->restore(pub->ctx, r->str, r->len) != 0) {
            if (!pub->refused_logged) {
                gpx_log(pub->log,
                        "gpx: the totals stored in %s are not readable by this gpx; nothing is published over "
                        "them (delete the key to start this instance anew)",
                        pub->key);
                pub->refused_logged = 1;
            }
            count_error(pub->status, GPX_REDIS_RESTORE);
            rc = -1;
        } else {
            gpx_log(pub->log, "gpx: counters continue from the totals stored in Redis (%s)", pub->key);
        }
    }
    if (rc == 0 && app != NULL && app->type == REDIS_REPLY_STRING &&
        pub->cfg.app_restore(pub->ctx, app->str, app->len) != 0 && !pub->app_refused_logged) {
        /* The app's totals are not worth holding gpx's own back for. */
        gpx_log(pub->log, "gpx: the app's totals stored in %s are not readable by this gpx; they are replaced",
                pub->app_key);
        pub->app_refused_logged = 1;
    }
    freeReplyObject(r);
    freeReplyObject(app);
    if (rc == 0) {
        pub->outage_logged = 0;
        __atomic_store_n(&pub->status->restored, 1, __ATOMIC_RELEASE);
        __atomic_store_n(&pub->status->up, 1, __ATOMIC_RELAXED);
    }
    return rc;
}

/* One pipeline: the snapshot, the index entry, and the index's trim.
 * Returns 0; -1 when Redis failed; 1 when only the index refused the
 * commands for its type (the snapshots were written). */
static int
publish_pipeline(struct gpx_redis_publisher *pub, size_t *published)
{
    struct gpx_buf blob;
    long long now = (long long)time(NULL);
    int i, commands, rc = 0;

    if (gpx_buf_init(&blob, 16 * 1024) != 0 || pub->snapshot(pub->ctx, &blob) != 0) {
        gpx_buf_free(&blob);
        return -1;
    }
    *published = blob.len;
    if (pub->cfg.ttl_seconds > 0) {
        redisAppendCommand(pub->conn, "SET %s %b EX %u", pub->key, blob.data, blob.len, pub->cfg.ttl_seconds);
    } else {
        redisAppendCommand(pub->conn, "SET %s %b", pub->key, blob.data, blob.len);
    }
    redisAppendCommand(pub->conn, "ZADD %s %lld %s", pub->index, now, pub->instance);
    commands = 2;
    if (pub->cfg.ttl_seconds > 0) {
        redisAppendCommand(pub->conn, "ZREMRANGEBYSCORE %s -inf (%lld", pub->index,
                           now - (long long)pub->cfg.ttl_seconds);
        commands++;
    }
    if (pub->cfg.app_snapshot != NULL) {
        gpx_buf_reset(&blob);
        if (pub->cfg.app_snapshot(pub->ctx, &blob) == 0) {
            if (pub->cfg.ttl_seconds > 0) {
                redisAppendCommand(pub->conn, "SET %s %b EX %u", pub->app_key, blob.data, blob.len,
                                   pub->cfg.ttl_seconds);
            } else {
                redisAppendCommand(pub->conn, "SET %s %b", pub->app_key, blob.data, blob.len);
            }
            *published += blob.len;
            commands++;
        }
    }
    gpx_buf_free(&blob);
    for (i = 0; i < commands; i++) {
        redisReply *r = NULL;

        if (redisGetReply(pub->conn, (void **)&r) != REDIS_OK || r == NULL) {
            return -1; /* the connection is unusable: the caller drops it */
        }
        if (r->type == REDIS_REPLY_ERROR) {
            /* Replies 1 and 2 are the index's: ZADD and ZREMRANGEBYSCORE. */
            rc = rc == -1 || !(wrong_type(r) && (i == 1 || i == 2)) ? -1 : 1;
        }
        freeReplyObject(r);
    }
    return rc;
}

static int
publish(struct gpx_redis_publisher *pub)
{
    struct timespec started, ended;
    size_t published = 0;
    int rc;

    clock_gettime(CLOCK_MONOTONIC, &started);
    rc = publish_pipeline(pub, &published);
    if (rc == 1 && repair_index(pub->conn, NULL, pub->index, pub->log) == 0) {
        rc = publish_pipeline(pub, &published);
    }
    if (rc != 0) {
        count_error(pub->status, GPX_REDIS_PUBLISH);
        drop_connection(pub);
        return -1;
    }
    if (pub->cfg.verbose) {
        clock_gettime(CLOCK_MONOTONIC, &ended);
        gpx_log(pub->log, "gpx: debug: published %zu bytes to %s in %.1f ms", published, pub->key,
                (double)(ended.tv_sec - started.tv_sec) * 1e3 + (double)(ended.tv_nsec - started.tv_nsec) / 1e6);
    }
    pub->outage_logged = 0;
    __atomic_add_fetch(&pub->status->publishes, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&pub->status->up, 1, __ATOMIC_RELAXED);
    return 0;
}

static void
cycle(struct gpx_redis_publisher *pub)
{
    if (ensure_connection(pub) != 0) {
        return;
    }
    if (!__atomic_load_n(&pub->status->restored, __ATOMIC_ACQUIRE) && restore_once(pub) != 0) {
        return;
    }
    publish(pub);
}

static void *
run(void *arg)
{
    struct gpx_redis_publisher *pub = arg;

    do {
        cycle(pub);
    } while (!gpx_thread_wait(&pub->lock, &pub->wake, &pub->stopping, pub->cfg.interval_seconds));
    return NULL;
}

struct gpx_redis_publisher *
gpx_redis_start(const struct gpx_redis_config *cfg, struct gpx_redis_status *status, gpx_redis_snapshot_fn snapshot,
                gpx_redis_restore_fn restore, void *ctx, gpx_log_fn log)
{
    struct gpx_redis_publisher *pub = calloc(1, sizeof(*pub));
    int rc;

    if (pub == NULL) {
        return NULL;
    }
    pub->cfg = *cfg;
    snprintf(pub->host, sizeof(pub->host), "%s", cfg->host);
    snprintf(pub->password, sizeof(pub->password), "%s", cfg->password != NULL ? cfg->password : "");
    snprintf(pub->prefix, sizeof(pub->prefix), "%s", cfg->prefix);
    snprintf(pub->instance, sizeof(pub->instance), "%s", cfg->instance);
    snprintf(pub->sentinels, sizeof(pub->sentinels), "%s", cfg->sentinels != NULL ? cfg->sentinels : "");
    snprintf(pub->sentinel_master, sizeof(pub->sentinel_master), "%s",
             cfg->sentinel_master != NULL ? cfg->sentinel_master : "");
    snprintf(pub->sentinel_password, sizeof(pub->sentinel_password), "%s",
             cfg->sentinel_password != NULL ? cfg->sentinel_password : "");
    pub->cfg.host = pub->host;
    pub->cfg.sentinels = pub->sentinels;
    pub->cfg.sentinel_master = pub->sentinel_master;
    pub->cfg.sentinel_password = pub->sentinel_password;
    pub->cfg.password = pub->password;
    pub->cfg.prefix = pub->prefix;
    pub->cfg.instance = pub->instance;
    if (pub->cfg.interval_seconds == 0) {
        pub->cfg.interval_seconds = 1;
    }
    snprintf(pub->key, sizeof(pub->key), "%s:gpx:instance:%s", pub->prefix, pub->instance);
    snprintf(pub->index, sizeof(pub->index), "%s:gpx:instances", pub->prefix);
    snprintf(pub->app_key, sizeof(pub->app_key), "%s:gpx:app:%s", pub->prefix, pub->instance);
    if (pub->sentinels[0] != '\0') {
        snprintf(pub->where, sizeof(pub->where), "the master %s of Sentinels %s", pub->sentinel_master, pub->sentinels);
    } else if (pub->host[0] == '/') {
        snprintf(pub->where, sizeof(pub->where), "%s", pub->host);
    } else {
        snprintf(pub->where, sizeof(pub->where), "%s:%d", pub->host, pub->cfg.port);
    }
    pub->status = status;
    pub->snapshot = snapshot;
    pub->restore = restore;
    pub->ctx = ctx;
    pub->log = log;
    pthread_mutex_init(&pub->lock, NULL);
    pthread_cond_init(&pub->wake, NULL);
    rc = gpx_thread_start(&pub->thread, run, pub);
    if (rc != 0) {
        free(pub);
        return NULL;
    }
    return pub;
}

void
gpx_redis_status_read(const struct gpx_redis_status *status, struct gpx_redis_status *out)
{
    int i;

    out->up = __atomic_load_n(&status->up, __ATOMIC_RELAXED);
    out->restored = __atomic_load_n(&status->restored, __ATOMIC_RELAXED);
    out->publishes = __atomic_load_n(&status->publishes, __ATOMIC_RELAXED);
    for (i = 0; i < GPX_REDIS_OPS; i++) {
        out->errors[i] = __atomic_load_n(&status->errors[i], __ATOMIC_RELAXED);
    }
}

int
gpx_redis_stop(struct gpx_redis_publisher *pub, int final)
{
    int published = -1;

    if (pub == NULL) {
        return -1;
    }
    pthread_mutex_lock(&pub->lock);
    pub->stopping = 1;
    pthread_cond_signal(&pub->wake);
    pthread_mutex_unlock(&pub->lock);
    pthread_join(pub->thread, NULL);
    /* The thread is gone: its connection is ours now. */
    if (final && ensure_connection(pub) == 0 &&
        (__atomic_load_n(&pub->status->restored, __ATOMIC_ACQUIRE) || restore_once(pub) == 0)) {
        published = publish(pub);
    }
    drop_connection(pub);
    pthread_mutex_destroy(&pub->lock);
    pthread_cond_destroy(&pub->wake);
    free(pub);
    return published;
}

int
gpx_redis_fleet(const struct gpx_redis_config *cfg, struct gpx_redis_status *status, gpx_redis_each_fn each, void *ctx)
{
    char err[1024], index[300], since[32];
    long long now = (long long)time(NULL);
    struct timespec deadline;
    redisContext *c;
    redisReply *names = NULL, *r;
    size_t i;
    int count = 0;

    deadline = gpx_deadline_in(cfg->fleet_timeout_ms);
    c = open_connection(cfg, &deadline, NULL, err, sizeof(err));
    if (c == NULL) {
        count = -1;
        goto done;
    }
    snprintf(index, sizeof(index), "%s:gpx:instances", cfg->prefix);
    if (cfg->ttl_seconds > 0) {
        snprintf(since, sizeof(since), "%lld", now - (long long)cfg->ttl_seconds);
    } else {
        snprintf(since, sizeof(since), "-inf");
    }
    names = run_command(c, &deadline, "ZRANGEBYSCORE %s %s +inf", index, since);
    if (names == NULL || names->type != REDIS_REPLY_ARRAY) {
        if (wrong_type(names)) {
            /* This read fails; the next ones see what the publishers add back. */
            repair_index(c, &deadline, index, cfg->fleet_log);
        }
        count = -1;
        goto done;
    }
    for (i = 0; i < names->elements; i++) {
        redisAppendCommand(c, "GET %s:gpx:instance:%s", cfg->prefix, names->element[i]->str);
    }
    for (i = 0; i < names->elements; i++) {
        r = NULL;
        if (arm_deadline(c, &deadline) != 0 || redisGetReply(c, (void **)&r) != REDIS_OK || r == NULL) {
            count = -1;
            break;
        }
        if (r->type == REDIS_REPLY_STRING) {
            each(ctx, names->element[i]->str, r->str, r->len);
            count++;
        }
        freeReplyObject(r);
    }
done:
    freeReplyObject(names);
    redisFree(c);
    if (count < 0 && status != NULL) {
        count_error(status, GPX_REDIS_FLEET);
    }
    return count;
}
