/* Unit tests of gpx_http: the real libmicrohttpd server on a loopback port,
 * real sockets, and fake pages: "/fast" renders at once, "/slow" (the
 * deferred page) waits until the test opens a gate and answers what the
 * test chose. Run under AddressSanitizer and UBSan like every unit test:
 * the reader thread, suspended connections and stopping are exercised. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "gpx_http.h"
#include "gpx_test_threads.h"

#define WAIT_MS (GPX_TEST_DEADLINE_SECONDS * 1000) /* the longest any condition is waited for */

static struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int gate_open;    /* renders of /slow may finish */
    int slow_renders; /* renders of /slow begun */
    int slow_result;  /* what they answer: an enum gpx_http_result */
} fake = {.lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER};

/* Pages and content types the server knows nothing of: it must send them
 * as they are. /fast answers in the format asked for. */
#define FAST_TEXT_TYPE "text/x-fast"
#define FAST_OPENMETRICS_TYPE "application/x-fast-openmetrics"

static int
render(void *ctx, const char *path, enum gpx_format format, struct gpx_buf *out, const char **content_type)
{
    int rc;

    (void)ctx;
    if (strcmp(path, "/fast") == 0) {
        gpx_buf_puts(out, format == GPX_FORMAT_OPENMETRICS ? "fast 1 openmetrics\n" : "fast 1\n");
        *content_type = format == GPX_FORMAT_OPENMETRICS ? FAST_OPENMETRICS_TYPE : FAST_TEXT_TYPE;
        return GPX_HTTP_OK;
    }
    if (strcmp(path, "/slow") != 0) {
        return GPX_HTTP_NOT_FOUND;
    }
    pthread_mutex_lock(&fake.lock);
    fake.slow_renders++;
    pthread_cond_broadcast(&fake.changed);
    while (!fake.gate_open) {
        pthread_cond_wait(&fake.changed, &fake.lock);
    }
    rc = fake.slow_result;
    pthread_mutex_unlock(&fake.lock);
    if (rc == GPX_HTTP_OK) {
        gpx_buf_puts(out, "slow 1\n");
        *content_type = FAST_TEXT_TYPE;
    }
    return rc;
}

/* Waits until `count` renders of /slow have begun. */
static void
wait_slow_renders(int count)
{
    struct timespec until;

    gpx_test_deadline(&until);
    pthread_mutex_lock(&fake.lock);
    while (fake.slow_renders < count && pthread_cond_timedwait(&fake.changed, &fake.lock, &until) == 0) {
    }
    assert_int_equal(fake.slow_renders, count);
    pthread_mutex_unlock(&fake.lock);
}

static void
open_gate(void)
{
    pthread_mutex_lock(&fake.lock);
    fake.gate_open = 1;
    pthread_cond_broadcast(&fake.changed);
    pthread_mutex_unlock(&fake.lock);
}

static int
reset_fake(void **state)
{
    (void)state;
    pthread_mutex_lock(&fake.lock);
    fake.gate_open = 0;
    fake.slow_renders = 0;
    fake.slow_result = GPX_HTTP_OK;
    pthread_mutex_unlock(&fake.lock);
    gpx_test_log_clear();
    return 0;
}

/* -- the server and its clients ------------------------------------------------ */

static struct gpx_http *
launch(int port, unsigned connection_limit, int verbose)
{
    struct gpx_http_config cfg = {
        .bind = "127.0.0.1",
        .port = port,
        .connection_limit = connection_limit,
        .timeout_seconds = 10,
        .report_after_seconds = 10,
        .verbose = verbose,
        .deferred_path = "/slow",
    };
    struct gpx_http *srv = gpx_http_launch(&cfg, render, NULL, gpx_test_log_line);

    assert_non_null(srv);
    gpx_test_log_wait("gpx: serving metrics on http://127.0.0.1:");
    assert_int_equal(gpx_test_log_count("gpx: serving metrics on http://127.0.0.1:"), 1);
    return srv;
}

/* Sends one request of `len` raw bytes as the target; returns the socket. */
static int
send_request(int port, const char *target, size_t len)
{
    static const char tail[] = " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    int fd = gpx_test_connect(port);

    assert_true(fd >= 0);
    assert_int_equal(send(fd, "GET ", 4, MSG_NOSIGNAL), 4);
    assert_int_equal(send(fd, target, len, MSG_NOSIGNAL), (ssize_t)len);
    assert_int_equal(send(fd, tail, sizeof(tail) - 1, MSG_NOSIGNAL), (ssize_t)(sizeof(tail) - 1));
    return fd;
}

/* Reads the answer to the end and closes; returns the status (0 when the
 * connection closed without one) and the body in `body`. */
static int
read_answer(int fd, char *body, size_t bodylen)
{
    char answer[4096];
    size_t got = 0;
    ssize_t n;
    int status = 0;
    char *end;

    while (got < sizeof(answer) - 1 && (n = recv(fd, answer + got, sizeof(answer) - 1 - got, 0)) > 0) {
        got += (size_t)n;
    }
    close(fd);
    answer[got] = '\0';
    if (sscanf(answer, "HTTP/1.1 %d", &status) != 1) {
        status = 0;
    }
    end = strstr(answer, "\r\n\r\n");
    if (body != NULL) {
        snprintf(body, bodylen, "%s", end != NULL ? end + 4 : "");
    }
    return status;
}

static int
request(int port, const char *target, size_t len, char *body, size_t bodylen)
{
    return read_answer(send_request(port, target, len), body, bodylen);
}

static int
get(int port, const char *target, char *body, size_t bodylen)
{
    return request(port, target, strlen(target), body, bodylen);
}

static int
send_get(int port, const char *target)
{
    return send_request(port, target, strlen(target));
}

/* The server answered everything it read before this: a barrier for
 * requests sent earlier on other connections. */
static void
barrier(int port)
{
    char body[64];

    assert_int_equal(get(port, "/fast", body, sizeof(body)), 200);
}

/* Whether the server closed `fd` (EOF or reset) within `ms`. */
static int
closed_within(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char c;

    if (poll(&p, 1, ms) <= 0) {
        return 0;
    }
    return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) <= 0;
}

/* -- tests ---------------------------------------------------------------------- */

/* While /slow waits on its render, /fast and /healthz answer at once. */
static void
test_http_deferred_page_never_holds_the_others(void **state)
{
    int port = gpx_test_free_port();
    struct gpx_http *srv = launch(port, 64, 0);
    int slow = send_get(port, "/slow");
    char body[256];

    (void)state;
    wait_slow_renders(1);
    assert_int_equal(get(port, "/fast", body, sizeof(body)), 200);
    assert_string_equal(body, "fast 1\n");
    assert_int_equal(get(port, "/healthz", body, sizeof(body)), 200);
    assert_string_equal(body, "ok\n");
    assert_int_equal(get(port, "/nowhere", NULL, 0), 404);
    open_gate();
    assert_int_equal(read_answer(slow, body, sizeof(body)), 200);
    assert_string_equal(body, "slow 1\n");
    assert_int_equal(fake.slow_renders, 1);
    gpx_http_stop(srv);
}

/* A render that finds the page unavailable answers 503 to its scrape and
 * to every scrape that came while it ran, without rendering again. */
static void
test_http_unavailable_answers_every_waiting_scrape(void **state)
{
    int port = gpx_test_free_port();
    struct gpx_http *srv = launch(port, 64, 0);
    int fds[4];
    char body[256];
    unsigned i;

    (void)state;
    fake.slow_result = GPX_HTTP_UNAVAILABLE;
    fds[0] = send_get(port, "/slow");
    wait_slow_renders(1);
    for (i = 1; i < 4; i++) {
        fds[i] = send_get(port, "/slow");
    }
    barrier(port);
    open_gate();
    for (i = 0; i < 4; i++) {
        assert_int_equal(read_answer(fds[i], body, sizeof(body)), 503);
        assert_non_null(strstr(body, "Redis could not be read in time"));
    }
    assert_int_equal(fake.slow_renders, 1);
    gpx_http_stop(srv);
}

/* More than GPX_HTTP_DEFERRED_WAITING scrapes waiting: the next gets 503
 * at once, and /fast still answers. */
static void
test_http_deferred_queue_is_bounded(void **state)
{
    int port = gpx_test_free_port();
    struct gpx_http *srv = launch(port, 64, 0);
    int fds[GPX_HTTP_DEFERRED_WAITING + 1];
    char body[256];
    unsigned i;

    (void)state;
    fds[0] = send_get(port, "/slow");
    wait_slow_renders(1);
    for (i = 1; i <= GPX_HTTP_DEFERRED_WAITING; i++) {
        fds[i] = send_get(port, "/slow");
    }
    barrier(port);
    assert_int_equal(get(port, "/slow", body, sizeof(body)), 503);
    assert_string_equal(body, "Service Unavailable: too many scrapes of this page are waiting\n");
    open_gate();
    for (i = 0; i <= GPX_HTTP_DEFERRED_WAITING; i++) {
        assert_int_equal(read_answer(fds[i], body, sizeof(body)), 200);
        assert_string_equal(body, "slow 1\n");
    }
    /* The first render, and one shared by the sixteen that waited. */
    assert_int_equal(fake.slow_renders, 2);
    gpx_http_stop(srv);
}

static void *
run_stop(void *arg)
{
    gpx_http_stop(arg);
    return NULL;
}

/* Stopping with scrapes of /slow waiting and one rendering: the reader
 * answers them, every connection is resumed, and libmicrohttpd stops
 * without a suspended connection (which would abort the process). */
static void
test_http_stop_with_waiting_scrapes(void **state)
{
    int port = gpx_test_free_port();
    struct gpx_http *srv = launch(port, 64, 0);
    int first, second, status;
    pthread_t stopper;

    (void)state;
    first = send_get(port, "/slow");
    wait_slow_renders(1);
    second = send_get(port, "/slow");
    barrier(port);
    assert_int_equal(pthread_create(&stopper, NULL, run_stop, srv), 0);
    open_gate();
    pthread_join(stopper, NULL);
    /* Answered, or closed by the stop before the answer went out. The
     * second is answered 503 unrendered when the stop came before the gate
     * opened, else rendered: the two threads race, either is right. */
    status = read_answer(first, NULL, 0);
    assert_true(status == 200 || status == 0);
    status = read_answer(second, NULL, 0);
    assert_true(status == 503 || status == 200 || status == 0);
    assert_in_range(fake.slow_renders, 1, 2);
    assert_true(gpx_test_connect(port) < 0);
}

/* Sends GET `target` with an Accept header; returns the whole answer,
 * headers and body, in `answer`. */
static void
get_accepting(int port, const char *target, const char *accept, char *answer, size_t len)
{
    int fd = gpx_test_connect(port);
    size_t got = 0;
    ssize_t n;
    char head[512];
    int headlen = snprintf(head, sizeof(head), "GET %s HTTP/1.1\r\nHost: x\r\nAccept: %s\r\nConnection: close\r\n\r\n",
                           target, accept);

    assert_true(fd >= 0);
    assert_int_equal(send(fd, head, (size_t)headlen, MSG_NOSIGNAL), headlen);
    while (got < len - 1 && (n = recv(fd, answer + got, len - 1 - got, 0)) > 0) {
        got += (size_t)n;
    }
    close(fd);
    answer[got] = '\0';
}

/* The server sends the page's bytes as rendered, nothing added (the
 * renderer ends a page), under the content type the renderer names. */
static void
test_http_sends_the_page_as_rendered(void **state)
{
    int port = gpx_test_free_port();
    struct gpx_http *srv = launch(port, 64, 0);
    char answer[4096];
    const char *body;

    (void)state;
    get_accepting(port, "/fast", "application/openmetrics-text; version=1.0.0", answer, sizeof(answer));
    assert_non_null(strstr(answer, "HTTP/1.1 200"));
    assert_non_null(strstr(answer, "\r\nContent-Type: " FAST_OPENMETRICS_TYPE "\r\n"));
    body = strstr(answer, "\r\n\r\n");
    assert_non_null(body);
    assert_string_equal(body + 4, "fast 1 openmetrics\n");
    get_accepting(port, "/fast", "text/plain", answer, sizeof(answer));
    assert_non_null(strstr(answer, "\r\nContent-Type: " FAST_TEXT_TYPE "\r\n"));
    body = strstr(answer, "\r\n\r\n");
    assert_non_null(body);
    assert_string_equal(body + 4, "fast 1\n");
    gpx_http_stop(srv);
}

/* A NUL in the target, raw or as %00, is refused with 400. */
static void
test_http_nul_in_target(void **state)
{
    int port = gpx_test_free_port();
    struct gpx_http *srv = launch(port, 64, 0);
    char body[256];

    (void)state;
    assert_int_equal(get(port, "/fast%00anything", body, sizeof(body)), 400);
    assert_string_equal(body, "Bad Request: a NUL in the request target\n");
    assert_int_equal(request(port, "/fast\0anything", 14, body, sizeof(body)), 400);
    assert_int_equal(request(port, "/fast\0", 6, body, sizeof(body)), 400);
    assert_int_equal(get(port, "/healthz%00", body, sizeof(body)), 400);
    assert_int_equal(get(port, "/fast?q=%00", body, sizeof(body)), 400);
    assert_int_equal(get(port, "/fast%2500", body, sizeof(body)), 404);
    assert_int_equal(get(port, "/fast?q=1", body, sizeof(body)), 200);
    assert_string_equal(body, "fast 1\n");
    gpx_http_stop(srv);
}

/* With verbose logging the target is logged as received, quoted, with
 * anything but printable ASCII (and the quote and backslash) escaped. */
static void
test_http_logged_targets_are_escaped(void **state)
{
    int port = gpx_test_free_port();
    struct gpx_http *srv = launch(port, 64, 1);
    static const char raw[] = "/a\x1b[31m\"\\\x7f\xc3\xa9"; /* ESC, quote, backslash, DEL, UTF-8 */
    unsigned i;

    (void)state;
    assert_int_equal(get(port, "/fast%0agpx:%20forged", NULL, 0), 404);
    assert_int_equal(request(port, raw, sizeof(raw) - 1, NULL, 0), 404);
    assert_int_equal(get(port, "/fast?x=%0a", NULL, 0), 200);
    assert_int_equal(gpx_test_log_count("gpx: debug: GET \"/fast%0agpx:%20forged\" answered with 404"), 1);
    assert_int_equal(gpx_test_log_count("gpx: debug: GET \"/a\\x1b[31m\\x22\\x5c\\x7f\\xc3\\xa9\" answered with 404"),
                     1);
    assert_int_equal(gpx_test_log_count("gpx: debug: GET \"/fast?x=%0a\" answered with 7 bytes (text)"), 1);
    gpx_http_stop(srv);
    for (i = 0; i < gpx_test_log.count; i++) {
        assert_null(strpbrk(gpx_test_log.lines[i], "\n\r\x1b\x7f"));
    }
}

/* At the limit a new connection closes the oldest one that is not in a
 * request; one in a request (here waiting for /slow) is never closed. */
static void
test_http_limit_closes_the_oldest_idle_connection(void **state)
{
    int port = gpx_test_free_port();
    struct gpx_http *srv = launch(port, 4, 0);
    int slow = send_get(port, "/slow"); /* the oldest, and in a request */
    int idle[3], i;

    (void)state;
    wait_slow_renders(1);
    for (i = 0; i < 2; i++) {
        idle[i] = gpx_test_connect(port);
        assert_true(idle[i] >= 0);
    }
    /* The fourth connection: the oldest idle one makes room. */
    barrier(port);
    assert_true(closed_within(idle[0], WAIT_MS));
    assert_false(closed_within(idle[1], 0));
    assert_int_equal(gpx_test_log_count("gpx: the metrics port is at its limit of 4 connections"), 1);

    idle[2] = gpx_test_connect(port);
    assert_true(idle[2] >= 0);
    barrier(port); /* the fourth again */
    assert_true(closed_within(idle[1], WAIT_MS));
    assert_false(closed_within(idle[2], 0));
    assert_int_equal(gpx_test_log_count("gpx: the metrics port is at its limit of"), 1); /* said once */

    open_gate();
    assert_int_equal(read_answer(slow, NULL, 0), 200);
    for (i = 0; i < 3; i++) {
        close(idle[i]);
    }
    gpx_http_stop(srv);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_http_deferred_page_never_holds_the_others, reset_fake),
        cmocka_unit_test_setup(test_http_unavailable_answers_every_waiting_scrape, reset_fake),
        cmocka_unit_test_setup(test_http_deferred_queue_is_bounded, reset_fake),
        cmocka_unit_test_setup(test_http_stop_with_waiting_scrapes, reset_fake),
        cmocka_unit_test_setup(test_http_sends_the_page_as_rendered, reset_fake),
        cmocka_unit_test_setup(test_http_nul_in_target, reset_fake),
        cmocka_unit_test_setup(test_http_logged_targets_are_escaped, reset_fake),
        cmocka_unit_test_setup(test_http_limit_closes_the_oldest_idle_connection, reset_fake),
    };

    return cmocka_run_group_tests_name("gpx_http", tests, NULL, NULL);
}
