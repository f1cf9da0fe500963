/* Unit tests of gpx_storage: the choice, file storage's whole life on a real
 * directory, and what Redis storage says and reports before it publishes
 * (publishing against a real Redis is tested by tests/integration). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "gpx_test_support.h"

#include "gpx_storage.h"

/* Storages stay reachable from here until the end: their state lives as
 * long as the process, as in the master. A test's boards are unmapped by
 * its teardown. */
static struct gpx_storage storages[64];
static unsigned storages_used, first_of_test;
static struct gpx_scoreboard boards[8];
static unsigned boards_used;

static char dir[256];
static char root[64];

static void
log_errno(const char *what)
{
    char line[512];

    snprintf(line, sizeof(line), "%s: %s", what, strerror(errno));
    test_log_line(line);
}

static void *
shared_calloc(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    assert_true(p != MAP_FAILED);
    return p;
}

static const char *
no_env(const char *name)
{
    (void)name;
    return NULL;
}

static const char *
real_env(const char *name)
{
    return getenv(name);
}

static int
setup(void **state)
{
    (void)state;
    test_log_clear();
    first_of_test = storages_used;
    strcpy(root, "/tmp/gpx_storage_test_XXXXXX");
    if (mkdtemp(root) == NULL) {
        return -1;
    }
    snprintf(dir, sizeof(dir), "%s/metrics/dir", root);
    unsetenv("PROMETHEUS_MULTIPROC_DIR");
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    while (boards_used > 0) {
        gpx_scoreboard_close(&boards[--boards_used]);
    }
    for (; first_of_test < storages_used; first_of_test++) {
        if (storages[first_of_test].base.workers > 0) {
            gpx_scoreboard_close(&storages[first_of_test].base);
        }
    }
    unsetenv("PROMETHEUS_MULTIPROC_DIR");
    return remove_tree(root);
}

/* Settings of a test server: its directory, instance "unit:1", and `extra`
 * options (id, text pairs, ending with GPX_OPT_COUNT). */
static void
configure(struct gpx_config *cfg, ...)
{
    const char *given[GPX_OPT_COUNT] = {NULL};
    char err[512];
    va_list ap;
    int id;

    given[GPX_OPT_MULTIPROC_DIR] = dir;
    given[GPX_OPT_INSTANCE] = "unit:1";
    va_start(ap, cfg);
    while ((id = va_arg(ap, int)) != GPX_OPT_COUNT) {
        given[id] = va_arg(ap, const char *);
    }
    va_end(ap);
    if (gpx_config_resolve(cfg, given, no_env, err, sizeof(err)) != 0) {
        print_error("%s\n", err);
        fail();
    }
}

static struct gpx_storage *
choose(const struct gpx_config *cfg, int reload)
{
    struct gpx_storage_context ctx = {
        .cfg = cfg,
        .reload = reload,
        .uid = (uid_t)-1,
        .gid = (gid_t)-1,
        .shared_calloc = shared_calloc,
        .log = test_log_line,
        .log_errno = log_errno,
    };
    struct gpx_storage *s;

    assert_true(storages_used < sizeof(storages) / sizeof(storages[0]));
    s = &storages[storages_used++];
    gpx_storage_choose(s, &ctx);
    return s;
}

/* Chooses, prepares, opens (2 slots of 1 cell) and describes. */
static struct gpx_storage *
start_storage(const struct gpx_config *cfg, int reload)
{
    struct gpx_storage *s = choose(cfg, reload);
    char err[2048];

    assert_int_equal(s->ops->prepare(s, err, sizeof(err)), 0);
    assert_true(boards_used < sizeof(boards) / sizeof(boards[0]));
    if (s->ops->open(s, &boards[boards_used], 2, 1, err, sizeof(err)) != 0) {
        print_error("%s\n", err);
        fail();
    }
    assert_ptr_equal(s->board, &boards[boards_used]);
    boards_used++;
    s->ops->describe(s);
    return s;
}

static void
scoreboard_path(char *out, size_t len)
{
    snprintf(out, len, "%s/gpx_unit:1.scoreboard", dir);
}

/* The settings choose: files unless gpx-redis; each says its name, whether
 * it owns the directory, whether it has a fleet view. */
static void
test_gpx_storage_choice(void **state)
{
    struct gpx_config cfg;
    struct gpx_storage *s;

    (void)state;
    configure(&cfg, GPX_OPT_COUNT);
    s = choose(&cfg, 0);
    assert_string_equal(s->ops->name, "files");
    assert_true(s->ops->owns_directory);
    assert_null(s->ops->fleet);
    assert_ptr_equal(s->ctx.cfg, &cfg);

    configure(&cfg, GPX_OPT_REDIS, "true", GPX_OPT_COUNT);
    s = choose(&cfg, 0);
    assert_string_equal(s->ops->name, "redis");
    assert_false(s->ops->owns_directory);
    assert_non_null(s->ops->fleet);
}

/* Files: a first start makes the directory and a new file; what the board
 * counted is in the file after close, and the next start (a reload, then a
 * cold start) continues from it and says so. Health: up, two operations. */
static void
test_gpx_storage_files_continue(void **state)
{
    struct gpx_storage_health health;
    struct gpx_config cfg;
    struct gpx_storage *s;
    char path[512], line[1024];
    struct stat st;

    (void)state;
    configure(&cfg, GPX_OPT_COUNT);
    scoreboard_path(path, sizeof(path));
    s = start_storage(&cfg, 0);
    assert_int_equal(stat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    snprintf(line, sizeof(line), "gpx: storage files, scoreboard %s (new file: counters begin at zero)", path);
    assert_logged_line(line);
    assert_null(gpx_storage_base(s));

    s->ops->health(s, &health);
    assert_int_equal(health.up, 1);
    assert_int_equal(health.operations, 2);
    assert_string_equal(health.labels[0], "check");
    assert_string_equal(health.labels[1], "write");
    assert_int_equal(health.errors[0], 0);
    assert_int_equal(health.errors[1], 0);

    GPX_BUMP(gpx_scoreboard_slot(s->board, 2)->restarts[1], 7);
    s->ops->start(s, NULL);
    s->ops->persist(s);
    s->ops->close(s);
    snprintf(line, sizeof(line), "gpx: counters kept in %s for the next start", path);
    assert_logged_line(line);

    test_log_clear();
    s = start_storage(&cfg, 1);
    snprintf(line, sizeof(line), "gpx: storage files, scoreboard %s (reload: counters continue)", path);
    assert_logged_line(line);
    assert_int_equal(gpx_scoreboard_slot(s->board, 2)->restarts[1], 7);

    test_log_clear();
    s = start_storage(&cfg, 0);
    snprintf(line, sizeof(line), "gpx: storage files, scoreboard %s (counters continue from the file)", path);
    assert_logged_line(line);
    assert_int_equal(gpx_scoreboard_slot(s->board, 2)->restarts[1], 7);
}

/* persist copies the board into the file while the master runs: a master
 * killed without close loses at most a second. A worker's copy (after
 * fork) never writes the file. */
static void
test_gpx_storage_files_persist(void **state)
{
    struct gpx_config cfg;
    struct gpx_storage *s, *next;
    char path[512];
    struct stat before, after;

    (void)state;
    configure(&cfg, GPX_OPT_COUNT);
    scoreboard_path(path, sizeof(path));
    s = start_storage(&cfg, 0);
    GPX_BUMP(gpx_scoreboard_slot(s->board, 1)->restarts[0], 3);
    s->ops->persist(s); /* the first since open: due */
    next = start_storage(&cfg, 1);
    assert_int_equal(gpx_scoreboard_slot(next->board, 1)->restarts[0], 3);

    test_log_clear();
    next->ops->after_fork(next);
    assert_int_equal(stat(path, &before), 0);
    GPX_BUMP(gpx_scoreboard_slot(next->board, 1)->restarts[0], 1);
    next->ops->persist(next);
    next->ops->close(next);
    assert_int_equal(stat(path, &after), 0);
    assert_int_equal(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
    assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
    assert_string_equal(test_logged, "");
}

static void
touch(const char *name)
{
    char path[512];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "x", 1), 1);
    close(fd);
}

static int
exists(const char *name)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* gpx-cleanup-db-files: a cold start removes this server's scoreboard, its
 * app store and every *.db, and says how many; a reload removes nothing. */
static void
test_gpx_storage_files_cleanup(void **state)
{
    struct gpx_config cfg;
    struct gpx_storage *s;
    char line[1024];

    (void)state;
    configure(&cfg, GPX_OPT_COUNT);
    s = start_storage(&cfg, 0);
    GPX_BUMP(gpx_scoreboard_slot(s->board, 1)->restarts[0], 5);
    s->ops->close(s);
    touch("a.db");
    touch("b.db");
    touch("gpx_unit:1.appstore");
    touch("gpx_other:2.scoreboard");
    touch("notes.txt");

    configure(&cfg, GPX_OPT_CLEANUP_DB_FILES, "true", GPX_OPT_COUNT);
    test_log_clear();
    s = start_storage(&cfg, 1);
    assert_int_equal(gpx_scoreboard_slot(s->board, 1)->restarts[0], 5);
    assert_true(exists("a.db"));
    assert_null(strstr(test_logged, "cold start"));

    test_log_clear();
    s = start_storage(&cfg, 0);
    snprintf(line, sizeof(line), "gpx: cold start with gpx-cleanup-db-files: removed 4 file(s) from %s", dir);
    assert_logged_line(line);
    assert_int_equal(gpx_scoreboard_slot(s->board, 1)->restarts[0], 0);
    assert_false(exists("a.db"));
    assert_false(exists("b.db"));
    assert_false(exists("gpx_unit:1.appstore"));
    assert_true(exists("gpx_other:2.scoreboard"));
    assert_true(exists("notes.txt"));
    assert_true(exists("gpx_unit:1.scoreboard"));
}

/* A directory that cannot be made stops a first start with the option's
 * line; a reload logs the line and goes on. */
static void
test_gpx_storage_files_prepare_fails(void **state)
{
    struct gpx_config cfg;
    struct gpx_storage *s;
    char file[300], err[2048], want[2048];

    (void)state;
    snprintf(file, sizeof(file), "%s/file", root);
    snprintf(dir, sizeof(dir), "%s/file/sub", root);
    assert_int_equal(close(open(file, O_WRONLY | O_CREAT, 0600)), 0);
    configure(&cfg, GPX_OPT_COUNT);
    snprintf(want, sizeof(want),
             "gpx: invalid gpx-multiproc-dir / PROMETHEUS_MULTIPROC_DIR \"%s\" (from the option): expected a "
             "directory that can be created (%s)",
             dir, strerror(ENOTDIR));

    s = choose(&cfg, 0);
    assert_int_equal(s->ops->prepare(s, err, sizeof(err)), -1);
    assert_string_equal(err, want);
    assert_string_equal(test_logged, "");

    s = choose(&cfg, 1);
    assert_int_equal(s->ops->prepare(s, err, sizeof(err)), 0);
    assert_logged_line(want);
}

/* The app's prometheus_client is told where gpx reads, when the option gave
 * the directory and the environment does not name one already. */
static void
test_gpx_storage_files_exports_dir(void **state)
{
    static const char *const env_name = "PROMETHEUS_MULTIPROC_DIR";
    const char *given[GPX_OPT_COUNT] = {NULL};
    struct gpx_config cfg;
    struct gpx_storage *s;
    char err[512];

    (void)state;
    configure(&cfg, GPX_OPT_COUNT);
    s = choose(&cfg, 0);
    assert_int_equal(s->ops->prepare(s, err, sizeof(err)), 0);
    assert_string_equal(getenv(env_name), dir);

    /* Given by the environment: left as it is (here, as set above). */
    assert_int_equal(setenv(env_name, "/elsewhere", 1), 0);
    given[GPX_OPT_MULTIPROC_DIR] = dir;
    given[GPX_OPT_INSTANCE] = "unit:1";
    assert_int_equal(gpx_config_resolve(&cfg, given, real_env, err, sizeof(err)), 0);
    s = choose(&cfg, 0);
    assert_int_equal(s->ops->prepare(s, err, sizeof(err)), 0);
    assert_string_equal(getenv(env_name), "/elsewhere");

    /* Redis storage has no directory: nothing is set, nothing is made. */
    assert_int_equal(unsetenv(env_name), 0);
    snprintf(dir, sizeof(dir), "%s/never", root);
    configure(&cfg, GPX_OPT_REDIS, "true", GPX_OPT_COUNT);
    s = choose(&cfg, 0);
    assert_int_equal(s->ops->prepare(s, err, sizeof(err)), 0);
    assert_null(getenv(env_name));
    assert_int_equal(access(dir, F_OK), -1);
}

/* Redis storage before it publishes: a base beside the board, the start-up
 * lines (TCP, a Unix socket, keys that never expire although a TTL was
 * given), down until the stored totals are read, four operations; close
 * with nothing started says nothing. */
static void
test_gpx_storage_redis_before_start(void **state)
{
    struct gpx_storage_health health;
    struct gpx_config cfg;
    struct gpx_storage *s;
    const struct gpx_scoreboard *base;

    (void)state;
    configure(&cfg, GPX_OPT_REDIS, "true", GPX_OPT_COUNT);
    s = start_storage(&cfg, 0);
    assert_logged_line(
        "gpx: storage redis localhost:6379 db 0, key gunicorn:gpx:instance:unit:1 every 5 s (expires after "
        "86400 s), no files");
    base = gpx_storage_base(s);
    assert_non_null(base);
    assert_int_equal(base->workers, 2);
    assert_int_equal(base->cores, 1);
    assert_int_equal(s->board->workers, 2);

    s->ops->health(s, &health);
    assert_int_equal(health.up, 0);
    assert_int_equal(health.operations, 4);
    assert_string_equal(health.labels[0], "connect");
    assert_string_equal(health.labels[1], "restore");
    assert_string_equal(health.labels[2], "publish");
    assert_string_equal(health.labels[3], "fleet");
    test_log_clear();
    s->ops->persist(s);
    s->ops->after_fork(s);
    s->ops->close(s);
    assert_string_equal(test_logged, "");

    configure(&cfg, GPX_OPT_REDIS, "true", GPX_OPT_REDIS_HOST, "/run/redis.sock", GPX_OPT_REDIS_DB, "3",
              GPX_OPT_REDIS_TTL_DISABLED, "yes", GPX_OPT_REDIS_TTL, "600", GPX_OPT_COUNT);
    s = start_storage(&cfg, 0);
    assert_logged_line("gpx: storage redis /run/redis.sock db 3, key gunicorn:gpx:instance:unit:1 every 5 s (never "
                       "expires), no files");
    assert_logged_line("gpx: gpx-redis-ttl-disabled = true: keys never expire, gpx-redis-ttl = 600 is not used");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_gpx_storage_choice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gpx_storage_files_continue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gpx_storage_files_persist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gpx_storage_files_cleanup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gpx_storage_files_prepare_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gpx_storage_files_exports_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gpx_storage_redis_before_start, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
