/* gpx_test_threads.h - what the tests of the master's threads share (the
 * test_*_threads.c, run under ASan and under ThreadSanitizer, and
 * test_gpx_http.c): a free loopback port and connections to it, a log
 * that threads write and the test waits on, and deadlines. Include after
 * <cmocka.h>. Inline, so that a test that uses only some of them compiles
 * without warnings.
 *
 * Waits are for conditions, with generous deadlines that only a hang
 * reaches: the sanitizers slow everything down, and so does a loaded
 * machine. */
#ifndef GPX_TEST_THREADS_H
#define GPX_TEST_THREADS_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Seconds a wait may last before the test fails. */
#define GPX_TEST_DEADLINE_SECONDS 30

static inline double
gpx_test_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void
gpx_test_pause_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* The deadline of a wait that starts now, for pthread_cond_timedwait (on
 * a condition variable of the default clock). */
static inline void
gpx_test_deadline(struct timespec *until)
{
    clock_gettime(CLOCK_REALTIME, until);
    until->tv_sec += GPX_TEST_DEADLINE_SECONDS;
}

/* A TCP port of 127.0.0.1 that nothing listens on at the time of the call. */
static inline int
gpx_test_free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* A connection to 127.0.0.1:port whose reads and writes give up at the
 * deadline, or -1 (any thread: no cmocka assert). */
static inline int
gpx_test_connect(int port)
{
    struct sockaddr_in sa;
    struct timeval tv = {GPX_TEST_DEADLINE_SECONDS, 0};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The lines a thread logged (gpx_http_log_fn, gpx_redis_log_fn), kept
 * under a lock; the test waits for them on a condition. */
#define GPX_TEST_LOG_LINES 512

static struct {
    pthread_mutex_t lock;
    pthread_cond_t added;
    char lines[GPX_TEST_LOG_LINES][512];
    unsigned count;
} gpx_test_log = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {{0}}, 0};

static inline void
gpx_test_log_line(const char *line)
{
    pthread_mutex_lock(&gpx_test_log.lock);
    if (gpx_test_log.count < GPX_TEST_LOG_LINES) {
        snprintf(gpx_test_log.lines[gpx_test_log.count++], sizeof(gpx_test_log.lines[0]), "%s", line);
    }
    pthread_cond_broadcast(&gpx_test_log.added);
    pthread_mutex_unlock(&gpx_test_log.lock);
}

static inline void
gpx_test_log_clear(void)
{
    pthread_mutex_lock(&gpx_test_log.lock);
    gpx_test_log.count = 0;
    pthread_mutex_unlock(&gpx_test_log.lock);
}

/* How many logged lines contain `text`. */
static inline unsigned
gpx_test_log_count(const char *text)
{
    unsigned i, n = 0;

    pthread_mutex_lock(&gpx_test_log.lock);
    for (i = 0; i < gpx_test_log.count; i++) {
        n += strstr(gpx_test_log.lines[i], text) != NULL;
    }
    pthread_mutex_unlock(&gpx_test_log.lock);
    return n;
}

/* Waits until a logged line contains `text`; fails the test at the deadline. */
static inline void
gpx_test_log_wait(const char *text)
{
    struct timespec until;
    unsigned i;

    gpx_test_deadline(&until);
    pthread_mutex_lock(&gpx_test_log.lock);
    for (;;) {
        for (i = 0; i < gpx_test_log.count; i++) {
            if (strstr(gpx_test_log.lines[i], text) != NULL) {
                pthread_mutex_unlock(&gpx_test_log.lock);
                return;
            }
        }
        if (pthread_cond_timedwait(&gpx_test_log.added, &gpx_test_log.lock, &until) != 0) {
            break;
        }
    }
    for (i = 0; i < gpx_test_log.count; i++) {
        print_error("logged: %s\n", gpx_test_log.lines[i]);
    }
    pthread_mutex_unlock(&gpx_test_log.lock);
    print_error("no line with \"%s\" logged within %d s\n", text, GPX_TEST_DEADLINE_SECONDS);
    fail();
}

/* Polls `cond` (an expression) every 10 ms until it holds; fails the test
 * at the deadline. */
#define GPX_TEST_WAIT_FOR(cond)                                                                                        \
    do {                                                                                                               \
        double gpx_test_until_ = gpx_test_now() + GPX_TEST_DEADLINE_SECONDS;                                           \
        while (!(cond)) {                                                                                              \
            if (gpx_test_now() > gpx_test_until_) {                                                                    \
                print_error("%s did not hold within %d s\n", #cond, GPX_TEST_DEADLINE_SECONDS);                        \
                fail();                                                                                                \
            }                                                                                                          \
            gpx_test_pause_ms(10);                                                                                     \
        }                                                                                                              \
    } while (0)

#endif
