/* Tests of the Redis publisher's thread (gpx_redis): a real redis-server
 * started by the test on a free port, the publisher's thread publishing
 * snapshots the test hands it, the fleet reader on another thread meanwhile
 * (as the metrics thread reads /metrics/fleet), an outage made by killing
 * the server. Run under ASan and under ThreadSanitizer (make tsan). Skipped,
 * with a line saying so, where redis-server is not installed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "gpx_test_threads.h"

#include "gpx_redis.h"

#define KEY "t:gpx:instance:a"
#define APP_KEY "t:gpx:app:a"
#define INDEX "t:gpx:instances"

/* -- a private redis-server --------------------------------------------------- */

struct redis {
    pid_t pid;
    int port;
    const char *password; /* NULL: none */
};

static int
redis_installed(void)
{
    const char *path = getenv("PATH");
    char dir[4096], candidate[4200];

    while (path != NULL && *path != '\0') {
        size_t n = strcspn(path, ":");

        snprintf(dir, sizeof(dir), "%.*s", (int)n, path);
        snprintf(candidate, sizeof(candidate), "%s/redis-server", dir[0] != '\0' ? dir : ".");
        if (access(candidate, X_OK) == 0) {
            return 1;
        }
        path += n + (path[n] == ':');
    }
    return 0;
}

/* A connection of the test's own, authenticated when the server asks. */
static redisContext *
redis_connect(const struct redis *r)
{
    struct timeval tv = {5, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
    redisReply *reply;

    if (c == NULL || c->err) {
        redisFree(c);
        return NULL;
    }
    if (r->password != NULL) {
        reply = redisCommand(c, "AUTH %s", r->password);
        freeReplyObject(reply);
    }
    reply = redisCommand(c, "PING");
    if (reply == NULL || reply->type != REDIS_REPLY_STATUS) {
        freeReplyObject(reply);
        redisFree(c);
        return NULL;
    }
    freeReplyObject(reply);
    return c;
}

/* Starts redis-server on r->port (no persistence) and waits until it
 * answers PING. */
static void
redis_start(struct redis *r)
{
    char port[16];
    const char *argv[12];
    unsigned n = 0;
    double until = gpx_test_now() + GPX_TEST_DEADLINE_SECONDS;
    redisContext *c = NULL;
    int status;

    snprintf(port, sizeof(port), "%d", r->port);
    argv[n++] = "redis-server";
    argv[n++] = "--port";
    argv[n++] = port;
    argv[n++] = "--bind";
    argv[n++] = "127.0.0.1";
    argv[n++] = "--save";
    argv[n++] = "";
    argv[n++] = "--appendonly";
    argv[n++] = "no";
    if (r->password != NULL) {
        argv[n++] = "--requirepass";
        argv[n++] = r->password;
    }
    argv[n] = NULL;
    r->pid = fork();
    assert_true(r->pid >= 0);
    if (r->pid == 0) {
        int null = open("/dev/null", O_WRONLY);

        dup2(null, 1);
        dup2(null, 2);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    while ((c = redis_connect(r)) == NULL) {
        if (waitpid(r->pid, &status, WNOHANG) == r->pid) {
            print_error("redis-server on port %d exited (status %d)\n", r->port, status);
            fail();
        }
        if (gpx_test_now() > until) {
            print_error("redis-server on port %d did not answer within %d s\n", r->port, GPX_TEST_DEADLINE_SECONDS);
            fail();
        }
        gpx_test_pause_ms(20);
    }
    redisFree(c);
}

static void
redis_kill(struct redis *r)
{
    if (r->pid > 0) {
        kill(r->pid, SIGKILL);
        waitpid(r->pid, NULL, 0);
        r->pid = 0;
    }
}

/* Runs a command on a connection of its own; the reply is the caller's. */
static redisReply *
redis_command(const struct redis *r, const char *fmt, ...)
{
    redisContext *c = redis_connect(r);
    redisReply *reply;
    va_list ap;

    assert_non_null(c);
    va_start(ap, fmt);
    reply = redisvCommand(c, fmt, ap);
    va_end(ap);
    redisFree(c);
    assert_non_null(reply);
    return reply;
}

static void
redis_set(const struct redis *r, const char *key, const char *value)
{
    freeReplyObject(redis_command(r, "SET %s %s", key, value));
}

/* -- what the publisher is handed ---------------------------------------------- */

/* The publisher's callbacks, on its thread; the test reads under the lock. */
struct totals {
    pthread_mutex_t lock;
    unsigned snapshots;     /* snapshot calls */
    unsigned app_snapshots; /* app_snapshot calls */
    char last[64];          /* the last snapshot handed out */
    size_t last_len;
    char last_app[64];
    size_t last_app_len;
    unsigned restores; /* restore calls */
    char restored[64]; /* what the last one received */
    unsigned app_restores;
    char app_restored[64];
    int refuse; /* restore answers -1 */
};

static struct totals totals = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* "snap <n>", a NUL, "end": the blob is binary, not a C string. */
static int
snapshot(void *ctx, struct gpx_buf *out)
{
    struct totals *t = ctx;
    char blob[64];
    int n;

    pthread_mutex_lock(&t->lock);
    n = snprintf(blob, sizeof(blob), "snap %u", ++t->snapshots);
    memcpy(blob + n + 1, "end", 3);
    memcpy(t->last, blob, (size_t)n + 4);
    t->last_len = (size_t)n + 4;
    pthread_mutex_unlock(&t->lock);
    return gpx_buf_append(out, blob, (size_t)n + 4);
}

static int
app_snapshot(void *ctx, struct gpx_buf *out)
{
    struct totals *t = ctx;
    char blob[64];
    int n;

    pthread_mutex_lock(&t->lock);
    n = snprintf(blob, sizeof(blob), "app %u", ++t->app_snapshots);
    memcpy(t->last_app, blob, (size_t)n);
    t->last_app_len = (size_t)n;
    pthread_mutex_unlock(&t->lock);
    return gpx_buf_append(out, blob, (size_t)n);
}

static int
restore(void *ctx, const void *blob, size_t len)
{
    struct totals *t = ctx;
    int rc;

    pthread_mutex_lock(&t->lock);
    t->restores++;
    snprintf(t->restored, sizeof(t->restored), "%.*s", (int)len, (const char *)blob);
    rc = t->refuse ? -1 : 0;
    pthread_mutex_unlock(&t->lock);
    return rc;
}

static int
app_restore(void *ctx, const void *blob, size_t len)
{
    struct totals *t = ctx;

    pthread_mutex_lock(&t->lock);
    t->app_restores++;
    snprintf(t->app_restored, sizeof(t->app_restored), "%.*s", (int)len, (const char *)blob);
    pthread_mutex_unlock(&t->lock);
    return 0;
}

static unsigned
restores_asked(void)
{
    unsigned n;

    pthread_mutex_lock(&totals.lock);
    n = totals.restores;
    pthread_mutex_unlock(&totals.lock);
    return n;
}

static struct gpx_redis_status status;

static struct gpx_redis_status
health(void)
{
    struct gpx_redis_status s;

    gpx_redis_status_read(&status, &s);
    return s;
}

static struct gpx_redis_config
config(const struct redis *r)
{
    struct gpx_redis_config cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.host = "127.0.0.1";
    cfg.port = r->port;
    cfg.password = r->password != NULL ? r->password : "";
    cfg.prefix = "t";
    cfg.instance = "a";
    cfg.interval_seconds = 1;
    cfg.ttl_seconds = 60;
    cfg.timeout_ms = 2000;
    cfg.fleet_timeout_ms = 2000;
    cfg.verbose = 1;
    return cfg;
}

/* The value of `key`, which must be a string of exactly `len` bytes `want`. */
static void
assert_stored(const struct redis *r, const char *key, const void *want, size_t len)
{
    redisReply *reply = redis_command(r, "GET %s", key);

    assert_int_equal(reply->type, REDIS_REPLY_STRING);
    assert_int_equal(reply->len, len);
    assert_memory_equal(reply->str, want, len);
    freeReplyObject(reply);
}

static long long
redis_integer(const struct redis *r, const char *fmt, const char *arg1, const char *arg2)
{
    redisReply *reply = redis_command(r, fmt, arg1, arg2);
    long long n;

    if (reply->type == REDIS_REPLY_NIL) {
        n = -1;
    } else if (reply->type == REDIS_REPLY_STRING) {
        n = atoll(reply->str);
    } else {
        assert_int_equal(reply->type, REDIS_REPLY_INTEGER);
        n = reply->integer;
    }
    freeReplyObject(reply);
    return n;
}

static int
setup(void **state)
{
    static struct redis r;

    if (!redis_installed()) {
        print_message("skipped: redis-server is not installed (Debian: redis-server)\n");
        *state = NULL;
        return 0;
    }
    memset(&r, 0, sizeof(r));
    r.port = gpx_test_free_port();
    pthread_mutex_lock(&totals.lock);
    memset((char *)&totals + sizeof(totals.lock), 0, sizeof(totals) - sizeof(totals.lock));
    pthread_mutex_unlock(&totals.lock);
    memset(&status, 0, sizeof(status));
    gpx_test_log_clear();
    *state = &r;
    return 0;
}

static int
teardown(void **state)
{
    if (*state != NULL) {
        redis_kill(*state);
    }
    return 0;
}

#define REDIS_OR_SKIP(state)                                                                                           \
    do {                                                                                                               \
        if ((state) == NULL) {                                                                                         \
            skip();                                                                                                    \
        }                                                                                                              \
    } while (0)

/* -- the fleet reader on a thread of its own --------------------------------------- */

struct fleet_reader {
    pthread_t thread;
    struct gpx_redis_config cfg;
    int stop;           /* atomic */
    unsigned reads;     /* views with this instance's snapshot in them */
    unsigned empty;     /* views before the first publish */
    unsigned bad;       /* anything else */
    unsigned instances; /* during one read */
};

static void
each_instance(void *ctx, const char *instance, const void *blob, size_t len)
{
    struct fleet_reader *f = ctx;

    f->instances++;
    if (strcmp(instance, "a") != 0 || len < 6 || memcmp(blob, "snap ", 5) != 0) {
        f->bad++;
    }
}

static void *
read_fleet(void *arg)
{
    struct fleet_reader *f = arg;

    while (!__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE)) {
        int n;

        f->instances = 0;
        n = gpx_redis_fleet(&f->cfg, &status, each_instance, f);
        if (n == 1 && f->instances == 1) {
            __atomic_add_fetch(&f->reads, 1, __ATOMIC_RELAXED); /* the test waits on it */
        } else if (n == 0 && __atomic_load_n(&f->reads, __ATOMIC_RELAXED) == 0) {
            f->empty++;
        } else {
            f->bad++;
        }
        gpx_test_pause_ms(5);
    }
    return NULL;
}

/* -- the tests ----------------------------------------------------------------------- */

/* Stored totals are restored once, then every interval one pipeline
 * publishes the snapshot, the app's blob and the index entry, while another
 * thread reads the fleet view; the last publish at stop leaves exactly the
 * last snapshot handed out. */
static void
test_restores_then_publishes_while_the_fleet_is_read(void **state)
{
    struct redis *r = *state;
    struct gpx_redis_config cfg;
    struct gpx_redis_publisher *pub;
    struct fleet_reader fleet;
    struct gpx_redis_status s;
    unsigned i;

    REDIS_OR_SKIP(r);
    redis_start(r);
    redis_set(r, KEY, "stored totals");
    redis_set(r, APP_KEY, "stored app totals");
    cfg = config(r);
    cfg.app_snapshot = app_snapshot;
    cfg.app_restore = app_restore;

    memset(&fleet, 0, sizeof(fleet));
    fleet.cfg = cfg;
    assert_int_equal(pthread_create(&fleet.thread, NULL, read_fleet, &fleet), 0);
    pub = gpx_redis_start(&cfg, &status, snapshot, restore, &totals, gpx_test_log_line);
    assert_non_null(pub);
    GPX_TEST_WAIT_FOR(health().publishes >= 2);
    GPX_TEST_WAIT_FOR(__atomic_load_n(&fleet.reads, __ATOMIC_RELAXED) > 0);
    __atomic_store_n(&fleet.stop, 1, __ATOMIC_RELEASE);
    assert_int_equal(pthread_join(fleet.thread, NULL), 0);
    gpx_redis_stop(pub, 1);

    s = health();
    assert_int_equal(s.up, 1);
    assert_int_equal(s.restored, 1);
    for (i = 0; i < GPX_REDIS_OPS; i++) {
        assert_int_equal(s.errors[i], 0);
    }
    /* Every snapshot handed out was published, the one at stop included. */
    assert_int_equal(s.publishes, totals.snapshots);
    assert_int_equal(totals.app_snapshots, totals.snapshots);
    assert_int_equal(totals.restores, 1);
    assert_string_equal(totals.restored, "stored totals");
    assert_int_equal(totals.app_restores, 1);
    assert_string_equal(totals.app_restored, "stored app totals");
    assert_stored(r, KEY, totals.last, totals.last_len);
    assert_stored(r, APP_KEY, totals.last_app, totals.last_app_len);
    assert_true(redis_integer(r, "TTL %s", KEY, NULL) > 0);
    assert_true(redis_integer(r, "TTL %s", KEY, NULL) <= 60);
    assert_true(redis_integer(r, "ZSCORE %s %s", INDEX, "a") > 0);
    assert_int_equal(fleet.bad, 0);
    assert_int_equal(gpx_test_log_count("gpx: counters continue from the totals stored in Redis (" KEY ")"), 1);
    assert_int_equal(gpx_test_log_count("gpx: debug: published "), s.publishes);
    redis_kill(r);
}

/* Totals this gpx cannot read are never published over, however often the
 * publisher tries (at stop too), and the refusal is logged once. */
static void
test_refused_totals_are_never_overwritten(void **state)
{
    struct redis *r = *state;
    struct gpx_redis_config cfg;
    struct gpx_redis_publisher *pub;
    struct gpx_redis_status s;

    REDIS_OR_SKIP(r);
    redis_start(r);
    redis_set(r, KEY, "another layout");
    totals.refuse = 1;
    cfg = config(r);
    pub = gpx_redis_start(&cfg, &status, snapshot, restore, &totals, gpx_test_log_line);
    assert_non_null(pub);
    GPX_TEST_WAIT_FOR(restores_asked() >= 2);
    gpx_redis_stop(pub, 1);

    s = health();
    assert_int_equal(s.restored, 0);
    assert_int_equal(s.publishes, 0);
    assert_int_equal(totals.snapshots, 0);
    assert_int_equal(s.errors[GPX_REDIS_RESTORE], totals.restores);
    assert_int_equal(s.errors[GPX_REDIS_PUBLISH], 0);
    assert_stored(r, KEY, "another layout", 14);
    assert_int_equal(redis_integer(r, "ZCARD %s", INDEX, NULL), 0);
    assert_int_equal(gpx_test_log_count("are not readable by this gpx; nothing is published over them"), 1);
    redis_kill(r);
}

/* Redis killed under the publisher: it counts the failures, says so once,
 * and once a Redis answers on the port again (empty: it lost everything),
 * the next publish puts the absolute totals back. */
static void
test_outage_logged_once_and_healed(void **state)
{
    struct redis *r = *state;
    struct gpx_redis_config cfg;
    struct gpx_redis_publisher *pub;
    struct gpx_redis_status s;
    char cannot[128];
    uint64_t before;

    REDIS_OR_SKIP(r);
    redis_start(r);
    cfg = config(r);
    pub = gpx_redis_start(&cfg, &status, snapshot, restore, &totals, gpx_test_log_line);
    assert_non_null(pub);
    GPX_TEST_WAIT_FOR(health().publishes >= 1);

    redis_kill(r);
    GPX_TEST_WAIT_FOR(health().up == 0 && health().errors[GPX_REDIS_CONNECT] >= 2);
    snprintf(cannot, sizeof(cannot), "gpx: cannot use Redis at 127.0.0.1:%d: ", r->port);
    assert_int_equal(gpx_test_log_count(cannot), 1);
    before = health().publishes;

    redis_start(r);
    GPX_TEST_WAIT_FOR(health().publishes > before && health().up == 1);
    gpx_redis_stop(pub, 1);

    s = health();
    assert_int_equal(s.up, 1);
    assert_int_equal(s.restored, 1);
    assert_int_equal(totals.restores, 0); /* nothing was stored at start */
    /* A snapshot handed out was either published or counted as failed. */
    assert_int_equal(s.publishes + s.errors[GPX_REDIS_PUBLISH], totals.snapshots);
    assert_stored(r, KEY, totals.last, totals.last_len);
    assert_int_equal(gpx_test_log_count(cannot), 1);
    redis_kill(r);
}

/* A cold start with cleanup, on a Redis with a password and database 3:
 * the instance's stored keys go, nothing is restored, counting begins at
 * zero and is published. */
static void
test_cleanup_on_cold_start_with_password_and_db(void **state)
{
    struct redis *r = *state;
    struct gpx_redis_config cfg;
    struct gpx_redis_publisher *pub;
    redisReply *reply;

    REDIS_OR_SKIP(r);
    r->password = "s3cret";
    redis_start(r);
    cfg = config(r);
    cfg.db = 3;
    cfg.start_fresh = 1;
    /* The test's other connections use database 0. */
    {
        redisContext *c = redis_connect(r);

        assert_non_null(c);
        freeReplyObject(redisCommand(c, "SELECT 3"));
        freeReplyObject(redisCommand(c, "SET %s %s", KEY, "old totals"));
        freeReplyObject(redisCommand(c, "SET %s %s", APP_KEY, "old app totals"));
        freeReplyObject(redisCommand(c, "ZADD %s 1 a", INDEX));
        redisFree(c);
    }
    pub = gpx_redis_start(&cfg, &status, snapshot, restore, &totals, gpx_test_log_line);
    assert_non_null(pub);
    GPX_TEST_WAIT_FOR(health().publishes >= 1);
    gpx_redis_stop(pub, 1);

    assert_int_equal(totals.restores, 0);
    assert_int_equal(health().restored, 1);
    assert_int_equal(gpx_test_log_count("gpx: cleanup on a cold start: removed " KEY ", counters begin from zero"), 1);
    {
        redisContext *c = redis_connect(r);

        assert_non_null(c);
        freeReplyObject(redisCommand(c, "SELECT 3"));
        reply = redisCommand(c, "GET %s", KEY);
        assert_non_null(reply);
        assert_int_equal(reply->type, REDIS_REPLY_STRING);
        assert_int_equal(reply->len, totals.last_len);
        assert_memory_equal(reply->str, totals.last, totals.last_len);
        freeReplyObject(reply);
        reply = redisCommand(c, "EXISTS %s", APP_KEY); /* removed, and no app blob published */
        assert_int_equal(reply->integer, 0);
        freeReplyObject(reply);
        redisFree(c);
    }
    assert_int_equal(redis_integer(r, "DBSIZE", NULL, NULL), 0); /* database 0 untouched */
    redis_kill(r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_restores_then_publishes_while_the_fleet_is_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_totals_are_never_overwritten, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outage_logged_once_and_healed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cleanup_on_cold_start_with_password_and_db, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
