/* Tests of the metrics endpoint's thread (gpx_http): the real server on a
 * free loopback port, real HTTP requests from client threads of the test,
 * a render function that reads state the test's main thread keeps changing
 * (as the master's thread serves while workers count). Run under ASan and
 * under ThreadSanitizer (make tsan). */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <dirent.h>
#include <zlib.h>

#include "gpx_test_threads.h"

#include "gpx_exposition.h"
#include "gpx_http.h"
#include "gpx_reload.h"

/* Written by `htpasswd -nbB -C 4`: prom/secret. */
#define PROM_LINE "prom:$2y$04$t20dlTwU6LwUI16EhKfHFuXvIpcKyoYxb6u24dMj3GM.kHLzFQuqW"
#define PROM_SECRET "Authorization: Basic cHJvbTpzZWNyZXQ=\r\n" /* prom:secret */
#define PROM_WRONG "Authorization: Basic cHJvbTp3cm9uZw==\r\n"  /* prom:wrong */

#define CLIENTS 4
#define SCRAPES_PER_CLIENT 25

/* What the render function reads and counts. The main thread changes
 * `value` while the server renders, under the lock as the test's stand-in
 * for the scoreboard's atomics. */
struct page {
    pthread_mutex_t lock;
    unsigned renders; /* render calls, /metrics and others */
    unsigned long value;
};

static struct page page = {PTHREAD_MUTEX_INITIALIZER, 0, 0};

/* /metrics: "# render <n>\nvalue <v>\n", n counting from 1, ended and
 * typed as the glue does (OpenMetrics' "# EOF"); /missing: not found;
 * anything else: a failure. */
static int
render(void *ctx, const char *path, enum gpx_format format, struct gpx_buf *out, const char **content_type)
{
    struct page *p = ctx;
    unsigned n;
    unsigned long v;

    pthread_mutex_lock(&p->lock);
    n = ++p->renders;
    v = p->value;
    pthread_mutex_unlock(&p->lock);
    if (strcmp(path, "/metrics") == 0) {
        gpx_buf_printf(out, "# render %u\nvalue %lu\n", n, v);
        if (format == GPX_FORMAT_OPENMETRICS) {
            gpx_buf_puts(out, "# EOF\n");
        }
        *content_type = format == GPX_FORMAT_OPENMETRICS ? GPX_OPENMETRICS_CONTENT_TYPE : GPX_TEXT_CONTENT_TYPE;
        return GPX_HTTP_OK;
    }
    return strcmp(path, "/missing") == 0 ? GPX_HTTP_NOT_FOUND : GPX_HTTP_ERROR;
}

static unsigned
renders(void)
{
    unsigned n;

    pthread_mutex_lock(&page.lock);
    n = page.renders;
    pthread_mutex_unlock(&page.lock);
    return n;
}

/* -- a small HTTP client ---------------------------------------------------- */

struct reply {
    int status;          /* 0 when the exchange failed */
    char head[2048];     /* status line and headers */
    unsigned char *body; /* malloc'd, NUL-terminated */
    size_t body_len;
};

static int
connect_to(int port)
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

/* One request on its own connection (Connection: close), read to the end.
 * `headers` are extra header lines, each ending in CRLF. Usable from any
 * thread: failures are reported in the reply, not asserted. */
static struct reply
http(int port, const char *method, const char *path, const char *headers)
{
    struct reply r;
    char request[1024];
    unsigned char *data = NULL;
    size_t len = 0, cap = 0;
    const char *end;
    int fd = connect_to(port), n;

    memset(&r, 0, sizeof(r));
    if (fd < 0) {
        return r;
    }
    n = snprintf(request, sizeof(request), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s\r\n", method,
                 path, headers != NULL ? headers : "");
    if (write(fd, request, (size_t)n) != n) {
        close(fd);
        return r;
    }
    for (;;) {
        ssize_t got;

        if (cap - len < 4096) {
            unsigned char *bigger = realloc(data, cap + 65536);

            if (bigger == NULL) {
                break;
            }
            data = bigger;
            cap += 65536;
        }
        got = read(fd, data + len, cap - len - 1);
        if (got <= 0) {
            break;
        }
        len += (size_t)got;
    }
    close(fd);
    if (data == NULL) {
        return r;
    }
    data[len] = '\0';
    end = strstr((const char *)data, "\r\n\r\n");
    if (end == NULL || sscanf((const char *)data, "HTTP/1.%*d %d", &r.status) != 1 ||
        (size_t)(end - (const char *)data) >= sizeof(r.head)) {
        r.status = 0;
        free(data);
        return r;
    }
    memcpy(r.head, data, (size_t)(end - (const char *)data) + 2);
    r.body_len = len - (size_t)(end + 4 - (const char *)data);
    r.body = malloc(r.body_len + 1);
    if (r.body != NULL) {
        memcpy(r.body, end + 4, r.body_len);
        r.body[r.body_len] = '\0';
    }
    free(data);
    return r;
}

static void
reply_free(struct reply *r)
{
    free(r->body);
    r->body = NULL;
}

/* Whether the reply's headers hold `line` (e.g. "Content-Encoding: gzip"),
 * case as libmicrohttpd writes it. */
static int
has_header(const struct reply *r, const char *line)
{
    char needle[256];

    snprintf(needle, sizeof(needle), "\r\n%s\r\n", line);
    return strstr(r->head, needle) != NULL;
}

/* -- the server --------------------------------------------------------------- */

/* What /readyz says: set by the test, read on the server's thread. */
static int readiness;

static int
ready(char *why, size_t len)
{
    int yes = __atomic_load_n(&readiness, __ATOMIC_ACQUIRE);

    snprintf(why, len, "%s", yes ? "ok: test" : "not ready: test");
    return yes;
}

static struct gpx_http *
launch(int port, struct gpx_auth *auth, unsigned timeout_seconds)
{
    struct gpx_http_config cfg;
    struct gpx_http *srv;
    char serving[128];

    memset(&cfg, 0, sizeof(cfg));
    cfg.bind = "127.0.0.1";
    cfg.port = port;
    cfg.connection_limit = 16;
    cfg.timeout_seconds = timeout_seconds;
    cfg.report_after_seconds = 1;
    cfg.verbose = 1;
    cfg.auth = auth;
    cfg.ready = ready;
    srv = gpx_http_launch(&cfg, render, &page, gpx_test_log_line);
    assert_non_null(srv);
    snprintf(serving, sizeof(serving), "gpx: serving metrics on http://127.0.0.1:%d/metrics", port);
    gpx_test_log_wait(serving);
    return srv;
}

static int
reset(void **state)
{
    (void)state;
    pthread_mutex_lock(&page.lock);
    page.renders = 0;
    page.value = 0;
    pthread_mutex_unlock(&page.lock);
    gpx_test_log_clear();
    return 0;
}

/* -- scrapes from many clients at once ----------------------------------------- */

struct client {
    pthread_t thread;
    int port;
    const char *headers;
    unsigned ok;                                 /* 200 with a well-formed page */
    unsigned bad;                                /* anything else */
    unsigned seen[CLIENTS * SCRAPES_PER_CLIENT]; /* render numbers, in order */
};

static unsigned clients_done;

static void *
scrape_many(void *arg)
{
    struct client *c = arg;
    unsigned i;

    for (i = 0; i < SCRAPES_PER_CLIENT; i++) {
        struct reply r = http(c->port, "GET", "/metrics", c->headers);
        unsigned n;
        unsigned long v;

        if (r.status == 200 && r.body != NULL &&
            sscanf((const char *)r.body, "# render %u\nvalue %lu\n", &n, &v) == 2 &&
            has_header(&r, "Content-Type: " GPX_TEXT_CONTENT_TYPE)) {
            c->seen[c->ok++] = n;
        } else {
            c->bad++;
        }
        reply_free(&r);
    }
    __atomic_add_fetch(&clients_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* Scrapes of 4 clients at once, with basic auth, while the main thread
 * changes what is rendered: each scrape is rendered exactly once and
 * answered whole, bcrypt runs once for the right credentials (the cache
 * serves the rest), and a wrong password is refused each time. */
static void
test_concurrent_scrapes_each_rendered_once(void **state)
{
    static const char line[] = PROM_LINE "\n";
    static struct client clients[CLIENTS];
    unsigned char hit[CLIENTS * SCRAPES_PER_CLIENT + 1];
    struct gpx_auth auth;
    struct gpx_http *srv;
    char why[256];
    unsigned i, j;
    int port = gpx_test_free_port();

    (void)state;
    assert_int_equal(gpx_auth_parse(&auth, line, sizeof(line) - 1, why, sizeof(why)), 0);
    srv = launch(port, &auth, 10);
    memset(clients, 0, sizeof(clients));
    for (i = 0; i < CLIENTS; i++) {
        clients[i].port = port;
        clients[i].headers = PROM_SECRET;
        assert_int_equal(pthread_create(&clients[i].thread, NULL, scrape_many, &clients[i]), 0);
    }
    /* The master's side: counting on while the clients scrape. */
    while (__atomic_load_n(&clients_done, __ATOMIC_ACQUIRE) < CLIENTS) {
        pthread_mutex_lock(&page.lock);
        page.value++;
        pthread_mutex_unlock(&page.lock);
        gpx_test_pause_ms(1);
    }
    for (i = 0; i < CLIENTS; i++) {
        assert_int_equal(pthread_join(clients[i].thread, NULL), 0);
    }

    memset(hit, 0, sizeof(hit));
    for (i = 0; i < CLIENTS; i++) {
        assert_int_equal(clients[i].bad, 0);
        assert_int_equal(clients[i].ok, SCRAPES_PER_CLIENT);
        for (j = 0; j < clients[i].ok; j++) {
            unsigned n = clients[i].seen[j];

            assert_true(n >= 1 && n <= CLIENTS * SCRAPES_PER_CLIENT);
            assert_int_equal(hit[n], 0); /* no page answered twice */
            hit[n] = 1;
            if (j > 0) {
                assert_true(n > clients[i].seen[j - 1]); /* one client's scrapes are rendered in its order */
            }
        }
    }
    assert_int_equal(renders(), CLIENTS * SCRAPES_PER_CLIENT);

    /* Refused credentials: 401 with the challenge, nothing rendered. */
    for (i = 0; i < 3; i++) {
        struct reply r = http(port, "GET", "/metrics", PROM_WRONG);

        assert_int_equal(r.status, 401);
        assert_true(has_header(&r, "WWW-Authenticate: Basic realm=\"gpx\""));
        reply_free(&r);
    }
    {
        struct reply r = http(port, "GET", "/metrics", NULL);

        assert_int_equal(r.status, 401);
        reply_free(&r);
        /* Probes carry no credentials: /readyz asks for none. */
        __atomic_store_n(&readiness, 1, __ATOMIC_RELEASE);
        r = http(port, "GET", "/readyz", NULL);
        assert_int_equal(r.status, 200);
        assert_string_equal((const char *)r.body, "ok: test\n");
        reply_free(&r);
    }
    assert_int_equal(renders(), CLIENTS * SCRAPES_PER_CLIENT);
    assert_int_equal(gpx_test_log_count("refused: missing or wrong credentials"), 4);
    assert_int_equal(gpx_test_log_count("gpx: debug: GET \"/metrics\" answered with "), CLIENTS * SCRAPES_PER_CLIENT);
    gpx_http_stop(srv);
    /* The thread is joined: what it wrote is the test's to read. */
    assert_int_equal(auth.bcrypt_runs, 1 + 3);
    gpx_auth_free(&auth);
}

static void
write_file(const char *path, const char *text)
{
    char tmp[600];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.new", path);
    f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(rename(tmp, path), 0);
}

static int
status_with(int port, const char *headers)
{
    struct reply r = http(port, "GET", "/metrics", headers);
    int status = r.status;

    reply_free(&r);
    return status;
}

#define OTHER_SECRET "Authorization: Basic b3RoZXI6c2VjcmV0\r\n" /* other:secret */

/* A heap copy of a password file of one line, as the reload makes it. */
static struct gpx_auth *
users_of(const char *line)
{
    struct gpx_auth *auth = calloc(1, sizeof(*auth));
    char why[256];

    assert_non_null(auth);
    assert_int_equal(gpx_auth_parse(auth, line, strlen(line), why, sizeof(why)), 0);
    return auth;
}

/* The users replaced over and over while 4 clients scrape with basic auth
 * (what a password file's reload does): every scrape is served, no check
 * sees a freed user list, and once the user is gone its scrapes get 401. */
static void
test_users_replaced_while_scraping(void **state)
{
    static const char line[] = PROM_LINE "\n";
    static struct client clients[CLIENTS];
    struct gpx_auth auth;
    struct gpx_http *srv;
    char why[256];
    unsigned i, replaced = 0;
    int port = gpx_test_free_port();

    (void)state;
    assert_int_equal(gpx_auth_parse(&auth, line, sizeof(line) - 1, why, sizeof(why)), 0);
    srv = launch(port, &auth, 10);
    memset(clients, 0, sizeof(clients));
    __atomic_store_n(&clients_done, 0, __ATOMIC_RELEASE);
    for (i = 0; i < CLIENTS; i++) {
        clients[i].port = port;
        clients[i].headers = PROM_SECRET;
        assert_int_equal(pthread_create(&clients[i].thread, NULL, scrape_many, &clients[i]), 0);
    }
    while (__atomic_load_n(&clients_done, __ATOMIC_ACQUIRE) < CLIENTS) {
        gpx_http_use_auth(srv, users_of(PROM_LINE "\n"));
        replaced++;
        gpx_test_pause_ms(2);
    }
    for (i = 0; i < CLIENTS; i++) {
        assert_int_equal(pthread_join(clients[i].thread, NULL), 0);
        assert_int_equal(clients[i].bad, 0);
        assert_int_equal(clients[i].ok, SCRAPES_PER_CLIENT);
    }
    assert_true(replaced > 0);
    /* Another user only (same hash, other name): prom is refused now. */
    snprintf(why, sizeof(why), "other:%s\n", PROM_LINE + strlen("prom:"));
    gpx_http_use_auth(srv, users_of(why));
    assert_int_equal(status_with(port, PROM_SECRET), 401);
    assert_int_equal(status_with(port, OTHER_SECRET), 200);
    gpx_http_stop(srv); /* frees the last list it was given */
    gpx_auth_free(&auth);
}

/* The reload of the password file, its clock given by the test: a change
 * is taken once the file stood still for a check, at most one check a
 * second; a file that does not load keeps the users in place and is
 * counted and logged once, until it changes again. */
static void
test_password_file_reloaded_once_it_stands_still(void **state)
{
    char dir[] = "/tmp/gpx-reload-XXXXXX", path[600], other[256], err[512];
    const char *given[GPX_OPT_COUNT] = {NULL};
    static struct gpx_config cfg;
    struct gpx_reload reload;
    struct gpx_auth auth;
    struct gpx_http *srv;
    struct timespec t = {1000, 0};
    int port = gpx_test_free_port();

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/users", dir);
    snprintf(other, sizeof(other), "other:%s\n", PROM_LINE + strlen("prom:"));
    write_file(path, PROM_LINE "\n");
    given[GPX_OPT_BASIC_AUTH_FILE] = path;
    assert_int_equal(gpx_config_resolve(&cfg, given, NULL, err, sizeof(err)), 0);
    assert_int_equal(gpx_auth_load(&auth, path, err, sizeof(err)), 0);
    gpx_reload_init(&reload, &cfg, 0, 1, gpx_test_log_line);
    srv = launch(port, &auth, 10);

    gpx_reload_check(&reload, srv, &t); /* nothing changed */
    assert_int_equal(status_with(port, PROM_SECRET), 200);
    write_file(path, other);
    t.tv_sec++;
    gpx_reload_check(&reload, srv, &t); /* changed: taken at the next check if it stands still */
    assert_int_equal(status_with(port, PROM_SECRET), 200);
    t.tv_nsec = 500000000;
    gpx_reload_check(&reload, srv, &t); /* half a second later: no check */
    assert_int_equal(status_with(port, PROM_SECRET), 200);
    t.tv_sec++;
    gpx_reload_check(&reload, srv, &t);
    assert_int_equal(status_with(port, PROM_SECRET), 401);
    assert_int_equal(status_with(port, OTHER_SECRET), 200);
    assert_int_equal(gpx_test_log_count("gpx: gpx-basic-auth-file changed: scrapes are checked against its 1 user(s) "
                                        "now"),
                     1);

    /* A plain-text password: counted and logged once, the users stay. */
    write_file(path, "prom:secret\n");
    for (int i = 0; i < 5; i++) {
        t.tv_sec++;
        gpx_reload_check(&reload, srv, &t);
    }
    assert_int_equal(gpx_reload_errors(&reload), 1);
    assert_int_equal(gpx_test_log_count("changed but does not load, so scrapes are checked against the previous "
                                        "users (gunicorn_exporter_endpoint_reload_errors_total): line 1: not a hash"),
                     1);
    assert_int_equal(status_with(port, OTHER_SECRET), 200);

    /* Rewritten good: taken. */
    write_file(path, PROM_LINE "\n");
    t.tv_sec++;
    gpx_reload_check(&reload, srv, &t);
    t.tv_sec++;
    gpx_reload_check(&reload, srv, &t);
    assert_int_equal(status_with(port, PROM_SECRET), 200);
    assert_int_equal(status_with(port, OTHER_SECRET), 401);
    assert_int_equal(gpx_reload_errors(&reload), 1);

    gpx_http_stop(srv);
    gpx_auth_free(&auth);
    unlink(path);
    rmdir(dir);
}

/* -- formats, compression, paths -------------------------------------------------- */

static void
test_formats_gzip_and_paths(void **state)
{
    struct gpx_http *srv;
    struct reply r;
    unsigned char plain[4096];
    z_stream z;
    int port = gpx_test_free_port();

    (void)state;
    srv = launch(port, NULL, 10);

    r = http(port, "GET", "/metrics", "Accept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5\r\n");
    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "Content-Type: " GPX_OPENMETRICS_CONTENT_TYPE));
    assert_true(has_header(&r, "Vary: Accept, Accept-Encoding"));
    assert_string_equal((const char *)r.body, "# render 1\nvalue 0\n# EOF\n");
    reply_free(&r);

    r = http(port, "GET", "/metrics", "Accept-Encoding: gzip\r\n");
    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "Content-Encoding: gzip"));
    assert_true(has_header(&r, "Content-Type: " GPX_TEXT_CONTENT_TYPE));
    memset(&z, 0, sizeof(z));
    assert_int_equal(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
    z.next_in = r.body;
    z.avail_in = (uInt)r.body_len;
    z.next_out = plain;
    z.avail_out = sizeof(plain) - 1;
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    plain[z.total_out] = '\0';
    inflateEnd(&z);
    assert_string_equal((const char *)plain, "# render 2\nvalue 0\n");
    reply_free(&r);

    r = http(port, "HEAD", "/metrics", NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    reply_free(&r);

    /* Liveness renders nothing. */
    r = http(port, "GET", "/healthz", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal((const char *)r.body, "ok\n");
    reply_free(&r);
    assert_int_equal(renders(), 3);

    /* Readiness says what `ready` decided, and renders nothing either. */
    __atomic_store_n(&readiness, 1, __ATOMIC_RELEASE);
    r = http(port, "GET", "/readyz", NULL);
    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "Content-Type: text/plain; charset=utf-8"));
    assert_string_equal((const char *)r.body, "ok: test\n");
    reply_free(&r);
    __atomic_store_n(&readiness, 0, __ATOMIC_RELEASE);
    r = http(port, "GET", "/readyz", NULL);
    assert_int_equal(r.status, 503);
    assert_string_equal((const char *)r.body, "not ready: test\n");
    reply_free(&r);
    assert_int_equal(renders(), 3);

    r = http(port, "GET", "/missing", NULL);
    assert_int_equal(r.status, 404);
    assert_string_equal((const char *)r.body, "Not Found: metrics are at /metrics\n");
    reply_free(&r);

    r = http(port, "GET", "/broken", NULL);
    assert_int_equal(r.status, 500);
    assert_string_equal((const char *)r.body, "gpx could not render the metrics\n");
    reply_free(&r);

    r = http(port, "POST", "/metrics", "Content-Length: 5\r\n\r\nhello");
    assert_int_equal(r.status, 405);
    reply_free(&r);
    assert_int_equal(renders(), 5);
    gpx_http_stop(srv);
}

/* -- a silent client ------------------------------------------------------------- */

struct scraper {
    pthread_t thread;
    int port;
    unsigned ok;
};

static void *
scrape_ten(void *arg)
{
    struct scraper *s = arg;
    unsigned i;

    for (i = 0; i < 10; i++) {
        struct reply r = http(s->port, "GET", "/metrics", NULL);

        s->ok += r.status == 200;
        reply_free(&r);
    }
    return NULL;
}

/* A client that connects and sends half a request line stalls nobody: the
 * scrapes of another client all pass meanwhile, and the silent one is
 * closed once its idle time runs out. */
static void
test_silent_client_stalls_nobody(void **state)
{
    struct gpx_http *srv;
    struct scraper s;
    char buf[64];
    int port = gpx_test_free_port(), silent;
    ssize_t got;

    (void)state;
    srv = launch(port, NULL, 1);
    silent = connect_to(port);
    assert_true(silent >= 0);
    assert_int_equal(write(silent, "GET /met", 8), 8);
    memset(&s, 0, sizeof(s));
    s.port = port;
    assert_int_equal(pthread_create(&s.thread, NULL, scrape_ten, &s), 0);
    assert_int_equal(pthread_join(s.thread, NULL), 0);
    assert_int_equal(s.ok, 10);
    assert_int_equal(renders(), 10);
    /* Closed by the server (the read returns 0), not by our own deadline. */
    got = read(silent, buf, sizeof(buf));
    assert_int_equal(got, 0);
    close(silent);
    gpx_http_stop(srv);
}

/* -- a busy port, stopping, and launching again ------------------------------------- */

static void
test_busy_port_reported_once_and_stop_is_prompt(void **state)
{
    struct sockaddr_in sa;
    struct gpx_http_config cfg;
    struct gpx_http *srv;
    char expected[160];
    int port = gpx_test_free_port(), holder, one = 1;
    double before;

    (void)state;
    holder = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(holder >= 0);
    setsockopt(holder, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(holder, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(holder, 1), 0);

    memset(&cfg, 0, sizeof(cfg));
    cfg.bind = "127.0.0.1";
    cfg.port = port;
    cfg.connection_limit = 4;
    cfg.timeout_seconds = 5;
    cfg.report_after_seconds = 1;
    srv = gpx_http_launch(&cfg, render, &page, gpx_test_log_line);
    assert_non_null(srv);
    snprintf(expected, sizeof(expected),
             "gpx: cannot serve metrics on 127.0.0.1:%d: Address already in use (tried for 1 s); retrying every 10 s, "
             "the app keeps serving",
             port);
    gpx_test_log_wait(expected);
    /* The thread now waits 10 s before its next try: stopping wakes it. */
    before = gpx_test_now();
    gpx_http_stop(srv);
    assert_true(gpx_test_now() - before < 5.0);
    assert_int_equal(gpx_test_log_count("cannot serve metrics"), 1);
    assert_int_equal(gpx_test_log_count("serving metrics on"), 0);
    close(holder);

    /* The port is free: the same port serves at once, three times over. */
    for (one = 0; one < 3; one++) {
        struct reply r;

        gpx_test_log_clear();
        srv = launch(port, NULL, 5);
        r = http(port, "GET", "/metrics", NULL);
        assert_int_equal(r.status, 200);
        reply_free(&r);
        gpx_http_stop(srv);
    }
    assert_int_equal(renders(), 3);
}

/* -- children forked while serving ---------------------------------------------------- */

/* Whether this process holds a socket bound to 127.0.0.1:port. */
static int
holds_port(int port)
{
    DIR *dir = opendir("/proc/self/fd");
    struct dirent *e;
    int found = 0;

    while (dir != NULL && (e = readdir(dir)) != NULL) {
        struct sockaddr_in sa;
        socklen_t len = sizeof(sa);
        int fd = atoi(e->d_name);

        if (e->d_name[0] != '.' && fd != dirfd(dir) && getsockname(fd, (struct sockaddr *)&sa, &len) == 0 &&
            sa.sin_family == AF_INET && ntohs(sa.sin_port) == port) {
            found = 1;
        }
    }
    if (dir != NULL) {
        closedir(dir);
    }
    return found;
}

/* A process forked while the thread serves (a worker, a mule, a spooler)
 * never holds the metrics port; the server keeps serving. */
static void
test_forked_child_drops_the_port(void **state)
{
    struct gpx_http *srv;
    struct reply r;
    int port = gpx_test_free_port(), status;
    pid_t child;

    (void)state;
    srv = launch(port, NULL, 5);
    assert_true(holds_port(port));
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        _exit(holds_port(port) ? 1 : 0);
    }
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    r = http(port, "GET", "/metrics", NULL);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    gpx_http_stop(srv);
    assert_false(holds_port(port));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_concurrent_scrapes_each_rendered_once, reset),
        cmocka_unit_test_setup(test_users_replaced_while_scraping, reset),
        cmocka_unit_test_setup(test_password_file_reloaded_once_it_stands_still, reset),
        cmocka_unit_test_setup(test_formats_gzip_and_paths, reset),
        cmocka_unit_test_setup(test_silent_client_stalls_nobody, reset),
        cmocka_unit_test_setup(test_busy_port_reported_once_and_stop_is_prompt, reset),
        cmocka_unit_test_setup(test_forked_child_drops_the_port, reset),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
