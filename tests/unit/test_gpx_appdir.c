/* Unit tests of gpx_appdir: the master's care of the app's directory. When
 * the store appears, which processes are folded (real ended processes and
 * the master, which is never folded), what a reload and a cold start with
 * cleanup keep, the totals published to Redis and taken back, and the
 * directory removed or replaced under gpx's feet: made again, the store
 * written into it from memory, and a log line that says what happened. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "gpx_test_support.h"

#include "gpx_appdir.h"
#include "gpx_appmetrics.h"
#include "gpx_appstore.h"

#define CKEY "[\"c\", \"c_total\", {}, \"C.\"]"
#define STORE "gpx_t.appstore"
#define LOCK "gpx_t.appstore.lock"

/* -- the fixture: <scratch>/app, the app's directory --------------------------- */

struct fixture {
    struct scratch *scratch;
    char dir[96];
    struct gpx_appdir d;
    int opened;
};

static int
setup(void **state)
{
    static struct fixture f;

    memset(&f, 0, sizeof(f));
    if (scratch_setup((void **)&f.scratch) != 0) {
        return -1;
    }
    snprintf(f.dir, sizeof(f.dir), "%s/app", f.scratch->dir);
    test_log_clear();
    *state = &f;
    return mkdir(f.dir, 0755);
}

static void
close_dir(struct gpx_appdir *d)
{
    gpx_appstore_free(&d->store);
    gpx_appstore_free(&d->baseline);
    free(d->seen);
    if (d->dirfd >= 0) {
        close(d->dirfd);
    }
    pthread_mutex_destroy(&d->lock);
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    if (f->opened) {
        close_dir(&f->d);
    }
    return scratch_teardown((void **)&f->scratch);
}

static void
open_dir(struct fixture *f, int start_fresh, time_t now)
{
    struct gpx_appdir_options o;
    char err[256] = "";

    memset(&o, 0, sizeof(o));
    o.dir = f->dir;
    o.instance = "t";
    o.master = getpid();
    o.slots = 2;
    o.uid = (uid_t)-1;
    o.gid = (gid_t)-1;
    o.start_fresh = start_fresh;
    o.log = test_log_line;
    if (f->opened) {
        close_dir(&f->d);
    }
    assert_int_equal(gpx_appdir_open(&f->d, &o, now, err, sizeof(err)), 0);
    assert_string_equal(err, "");
    f->opened = 1;
}

static int
exists_in(const char *dir, const char *name)
{
    char path[256];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

static void
write_in(const char *dir, const char *name, double value)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);

    assert_true(fd >= 0);
    write_pc_file(fd, name, CKEY, value, 0.0);
    close(fd);
}

/* The c_total the app's page shows for the directory, -1 when none. */
static double
shown(const struct gpx_appdir *d)
{
    struct gpx_buf out;
    const char *line;
    double value = -1;

    assert_int_equal(gpx_buf_init(&out, 1024), 0);
    assert_int_equal(gpx_appdir_render(d, &out, GPX_FORMAT_TEXT, NULL, NULL), 0);
    line = strstr(out.data, "\nc_total ");
    if (line != NULL) {
        value = strtod(line + 9, NULL);
    }
    gpx_buf_free(&out);
    return value;
}

/* The c_total the store's file holds, -1 when none. */
static double
stored(const char *dir)
{
    struct gpx_appstore st;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    double value = -1;
    size_t i;

    assert_true(fd >= 0);
    gpx_appstore_init(&st);
    assert_int_equal(gpx_appstore_load(&st, fd, STORE), 0);
    for (i = 0; i < st.count; i++) {
        if (strcmp(st.values[i].key, "counter\n" CKEY) == 0) {
            value = st.values[i].value;
        }
    }
    gpx_appstore_free(&st);
    close(fd);
    return value;
}

/* A pid whose process has ended (reaped). */
static pid_t
ended_pid(void)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        _exit(0);
    }
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    return pid;
}

static void
file_name(char *buf, size_t len, pid_t pid)
{
    snprintf(buf, len, "counter_%d.db", (int)pid);
}

/* Worker slot 1 held `worker`, which wrote `value` and ended: a cycle with
 * the slot empty folds it. The store then holds it. */
static void
fold_one(struct fixture *f, double value, time_t now)
{
    pid_t worker = ended_pid();
    pid_t pids[2] = {worker, 0};
    char name[64];

    file_name(name, sizeof(name), worker);
    write_in(f->dir, name, value);
    gpx_appdir_cycle(&f->d, pids, now);
    pids[0] = 0;
    gpx_appdir_cycle(&f->d, pids, now);
    assert_false(exists_in(f->dir, name));
}

/* -- tests ---------------------------------------------------------------------- */

/* No prometheus_client file, no store: an app that does not use it gets
 * nothing from gpx. The first file (seen at the next look) makes the store
 * and its lock. */
static void
test_gpx_appdir_store_waits_for_the_first_file(void **state)
{
    struct fixture *f = *state;
    pid_t pids[2] = {getpid() + 1, 0};
    char name[64];

    open_dir(f, 0, 1000);
    assert_false(f->d.active);
    gpx_appdir_cycle(&f->d, pids, 1000);
    assert_false(exists_in(f->dir, STORE));
    assert_false(exists_in(f->dir, LOCK));
    assert_int_equal(test_logged_lines(), 0);

    file_name(name, sizeof(name), getpid());
    write_in(f->dir, name, 1.0);
    gpx_appdir_cycle(&f->d, pids, 1000 + GPX_APPDIR_RETRY_SECONDS - 1);
    assert_false(f->d.active);
    gpx_appdir_cycle(&f->d, pids, 1000 + GPX_APPDIR_RETRY_SECONDS);
    assert_true(f->d.active);
    assert_true(exists_in(f->dir, STORE));
    assert_true(exists_in(f->dir, LOCK));
    assert_int_equal(test_logged_with("are served with gpx's, ended processes folded into gpx_t.appstore"), 1);
    /* The master's own file is never folded: it runs. */
    assert_true(exists_in(f->dir, name));
    assert_true(shown(&f->d) == 1.0);
}

/* A worker's pid leaving its slot folds every recorded process that
 * ended; the files of unknown processes (another server's) stay. */
static void
test_gpx_appdir_folds_ended_workers_only(void **state)
{
    struct fixture *f = *state;
    pid_t stranger = ended_pid();
    char name[64];

    open_dir(f, 0, 1000);
    file_name(name, sizeof(name), stranger);
    write_in(f->dir, name, 10.0);
    fold_one(f, 3.0, 1000);
    fold_one(f, 4.0, 1000);
    assert_true(stored(f->dir) == 7.0);
    assert_true(exists_in(f->dir, name));
    assert_true(shown(&f->d) == 17.0);
}

/* A process that runs until killed. */
static pid_t
running_pid(void)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        pause();
        _exit(0);
    }
    return pid;
}

static void
end(pid_t pid)
{
    kill(pid, SIGKILL);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
}

/* A reload: a new master (the same pid) reads the store, keeps its epoch,
 * and folds what the previous one's workers left: a worker recorded while
 * it ran, ended after the last fold. */
static void
test_gpx_appdir_reload_keeps_the_store(void **state)
{
    struct fixture *f = *state;
    pid_t worker = running_pid(), pids[2] = {0, 0};
    double epoch;
    char name[64];

    open_dir(f, 0, 1000);
    fold_one(f, 5.0, 1000);
    epoch = f->d.store.epoch;
    assert_true(epoch != 0.0);
    pids[1] = worker;
    file_name(name, sizeof(name), worker);
    write_in(f->dir, name, 2.0);
    gpx_appdir_cycle(&f->d, pids, 1001);
    assert_int_equal(gpx_appstore_pid_state(&f->d.store, worker), GPX_PID_OWN);
    assert_true(exists_in(f->dir, name));
    end(worker);

    open_dir(f, 0, 2000);
    assert_true(f->d.active);
    assert_true(f->d.store.epoch == epoch);
    assert_false(exists_in(f->dir, name));
    assert_true(stored(f->dir) == 7.0);
    assert_true(shown(&f->d) == 7.0);
    assert_int_equal(gpx_appstore_pid_state(&f->d.store, getpid()), GPX_PID_OWN);
}

/* A cold start with cleanup: the store goes, with the files of the
 * processes it recorded (the master's); another server's files stay; a
 * new epoch. */
static void
test_gpx_appdir_start_fresh(void **state)
{
    struct fixture *f = *state;
    pid_t stranger = ended_pid();
    char mine[64], other[64];
    double epoch;

    open_dir(f, 0, 1000);
    fold_one(f, 5.0, 1000);
    file_name(mine, sizeof(mine), getpid());
    write_in(f->dir, mine, 1.0);
    file_name(other, sizeof(other), stranger);
    write_in(f->dir, other, 10.0);
    epoch = f->d.store.epoch;

    open_dir(f, 1, 2000);
    assert_false(exists_in(f->dir, mine));
    assert_true(exists_in(f->dir, other));
    assert_true(f->d.store.epoch != epoch);
    assert_true(shown(&f->d) == 10.0);
}

static void
test_gpx_appdir_new_epoch(void **state)
{
    double a = gpx_appdir_new_epoch(), b = gpx_appdir_new_epoch();

    (void)state;
    assert_true(a != 0.0 && b != 0.0 && a != b);
    assert_true(a < 4503599627370496.0 && a == (double)(uint64_t)a); /* below 2^52, whole: exact */
}

/* What Redis storage publishes: the store plus the live processes'
 * files, as folded now, without pids; nothing before the store exists. */
static void
test_gpx_appdir_snapshot(void **state)
{
    struct fixture *f = *state;
    struct gpx_appstore st;
    struct gpx_buf out;
    pid_t pids[2] = {getpid(), 0};
    char name[64];

    open_dir(f, 0, 1000);
    assert_int_equal(gpx_buf_init(&out, 256), 0);
    assert_int_equal(gpx_appdir_snapshot(&f->d, &out), -1);
    fold_one(f, 3.0, 1000);
    file_name(name, sizeof(name), getpid());
    write_in(f->dir, name, 2.0);
    gpx_appdir_cycle(&f->d, pids, 1001);
    assert_int_equal(gpx_appdir_snapshot(&f->d, &out), 0);
    gpx_appstore_init(&st);
    assert_int_equal(gpx_appstore_decode(&st, out.data, out.len), 0);
    assert_int_equal(st.count, 1);
    assert_true(st.values[0].value == 5.0);
    assert_int_equal(st.pid_count, 0);
    assert_true(st.epoch == f->d.store.epoch);
    assert_true(stored(f->dir) == 3.0); /* the store itself unchanged */
    gpx_appstore_free(&st);
    gpx_buf_free(&out);
}

static void
encode_store(struct gpx_buf *out, double epoch, double value)
{
    struct gpx_appstore st;

    gpx_appstore_init(&st);
    st.epoch = epoch;
    assert_int_equal(gpx_appstore_fold_value(&st, GPX_PC_COUNTER, GPX_PC_MODE_NONE, CKEY, strlen(CKEY), value, 0.0), 0);
    assert_int_equal(gpx_buf_init(out, 256), 0);
    assert_int_equal(gpx_appstore_encode(&st, out), 0);
    gpx_appstore_free(&st);
}

/* Totals in Redis: this store's own are already counted; another store's
 * take the place of what this one held at start, plus what it folded
 * since; taken once. */
static void
test_gpx_appdir_restore(void **state)
{
    struct fixture *f = *state;
    struct gpx_buf own, other;

    write_in(f->dir, "counter_1.db", 0.0); /* a file: the store exists from the start */
    open_dir(f, 0, 1000);
    fold_one(f, 3.0, 1000); /* since the baseline (empty) */
    encode_store(&own, f->d.store.epoch, 1000.0);
    encode_store(&other, 12345.0, 50.0);

    assert_int_equal(gpx_appdir_restore(&f->d, own.data, own.len), 0);
    assert_true(stored(f->dir) == 3.0);
    assert_int_equal(test_logged_with("continue from the totals stored in Redis"), 0);

    assert_int_equal(gpx_appdir_restore(&f->d, other.data, other.len), 0);
    assert_true(f->d.store.adopted == 12345.0);
    assert_true(stored(f->dir) == 53.0);
    assert_int_equal(test_logged_with("gpx: the app's metrics continue from the totals stored in Redis"), 1);

    assert_int_equal(gpx_appdir_restore(&f->d, other.data, other.len), 0); /* adopted: already counted */
    assert_true(stored(f->dir) == 53.0);
    assert_int_equal(gpx_appdir_restore(&f->d, "junk", 4), -1);
    assert_true(stored(f->dir) == 53.0);
    gpx_buf_free(&own);
    gpx_buf_free(&other);
}

/* The directory removed with the store in it (rm -rf): the next look
 * makes it again and writes the store from memory, says so once, and the
 * page shows every count again. */
static void
test_gpx_appdir_directory_removed(void **state)
{
    struct fixture *f = *state;
    char line[512];

    open_dir(f, 0, 1000);
    fold_one(f, 3.0, 1000);
    fold_one(f, 4.0, 1000);
    empty_dir(open(f->dir, O_RDONLY | O_DIRECTORY));
    assert_int_equal(rmdir(f->dir), 0);
    assert_true(shown(&f->d) == -1);

    gpx_appdir_cycle(&f->d, f->d.seen, 1001);
    assert_true(stored(f->dir) == 7.0);
    assert_true(exists_in(f->dir, LOCK));
    assert_true(shown(&f->d) == 7.0);
    snprintf(line, sizeof(line),
             "gpx: %s was removed by another process; gpx made it again and wrote the app's folded totals into "
             "gpx_t.appstore from memory\n",
             f->dir);
    assert_int_equal(test_logged_with(line), 1);
    gpx_appdir_cycle(&f->d, f->d.seen, 1002);
    assert_int_equal(test_logged_with("folded totals"), 1);
    /* Folds go on in the new directory. */
    fold_one(f, 1.0, 1003);
    assert_true(stored(f->dir) == 8.0);
}

/* Another directory in its place (made by another process, or by gpx's
 * scoreboard file first): the store is written into it. A reload finds
 * it there. */
static void
test_gpx_appdir_directory_replaced(void **state)
{
    struct fixture *f = *state;
    char old[128], line[512];

    open_dir(f, 0, 1000);
    fold_one(f, 3.0, 1000);
    snprintf(old, sizeof(old), "%s.old", f->dir);
    assert_int_equal(rename(f->dir, old), 0);
    assert_int_equal(mkdir(f->dir, 0755), 0);

    gpx_appdir_finish(&f->d);
    assert_true(stored(f->dir) == 3.0);
    snprintf(line, sizeof(line),
             "gpx: %s is not the directory the app's folded totals were in (another process removed or replaced it); "
             "gpx wrote them into gpx_t.appstore in the directory there now, from memory\n",
             f->dir);
    assert_int_equal(test_logged_with(line), 1);
    open_dir(f, 0, 2000);
    assert_true(shown(&f->d) == 3.0);
}

/* Something that is no directory in its place: said once, the totals kept
 * in memory; once it is gone, the directory is made again with them. */
static void
test_gpx_appdir_directory_cannot_be_opened(void **state)
{
    struct fixture *f = *state;
    int fd;

    open_dir(f, 0, 1000);
    fold_one(f, 3.0, 1000);
    empty_dir(open(f->dir, O_RDONLY | O_DIRECTORY));
    assert_int_equal(rmdir(f->dir), 0);
    fd = open(f->dir, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    close(fd);

    gpx_appdir_cycle(&f->d, f->d.seen, 1001);
    gpx_appdir_cycle(&f->d, f->d.seen, 1002);
    assert_int_equal(
        test_logged_with("is no longer the directory gpx opened and cannot be opened (Not a directory); the "
                         "app's folded totals are kept in memory until it can"),
        1);
    assert_int_equal(test_logged_with("wrote the app's folded totals"), 0);

    assert_int_equal(unlink(f->dir), 0);
    gpx_appdir_cycle(&f->d, f->d.seen, 1003);
    assert_true(stored(f->dir) == 3.0);
    assert_int_equal(test_logged_with("gpx made it again and wrote the app's folded totals"), 1);
}

/* At exit, the workers gone: their files are folded. */
static void
test_gpx_appdir_finish_folds(void **state)
{
    struct fixture *f = *state;
    pid_t worker = running_pid(), pids[2] = {0, 0};
    char name[64];

    open_dir(f, 0, 1000);
    pids[0] = worker;
    file_name(name, sizeof(name), worker);
    write_in(f->dir, name, 6.0);
    gpx_appdir_cycle(&f->d, pids, 1000);
    assert_true(f->d.active);
    assert_true(exists_in(f->dir, name)); /* it runs */
    end(worker);
    gpx_appdir_finish(&f->d);
    assert_false(exists_in(f->dir, name));
    assert_true(stored(f->dir) == 6.0);
}

#define APPDIR_TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        APPDIR_TEST(test_gpx_appdir_store_waits_for_the_first_file),
        APPDIR_TEST(test_gpx_appdir_folds_ended_workers_only),
        APPDIR_TEST(test_gpx_appdir_reload_keeps_the_store),
        APPDIR_TEST(test_gpx_appdir_start_fresh),
        cmocka_unit_test(test_gpx_appdir_new_epoch),
        APPDIR_TEST(test_gpx_appdir_snapshot),
        APPDIR_TEST(test_gpx_appdir_restore),
        APPDIR_TEST(test_gpx_appdir_directory_removed),
        APPDIR_TEST(test_gpx_appdir_directory_replaced),
        APPDIR_TEST(test_gpx_appdir_directory_cannot_be_opened),
        APPDIR_TEST(test_gpx_appdir_finish_folds),
    };

    return cmocka_run_group_tests_name("gpx_appdir", tests, NULL, NULL);
}
