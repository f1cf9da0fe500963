/* gpx_http.c - the metrics endpoint on libmicrohttpd (see gpx_http.h). */
#define _GNU_SOURCE
#include "gpx_http.h"

#include <dirent.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gpx_exposition.h"
#include "gpx_gzip.h"
#include "gpx_negotiate.h"
#include "gpx_thread.h"

#if MHD_VERSION < 0x00097100
typedef int MHD_Result_t;
#else
typedef enum MHD_Result MHD_Result_t;
#endif

struct gpx_http {
    struct gpx_http_config cfg;
    char bind[256];
    gpx_http_render_fn render;
    void *render_ctx;
    gpx_http_log_fn log;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stopping;
    struct MHD_Daemon *daemon;
    int listen_fd;
};

/* The listening socket, for children forked while it is open. */
static int inherited_listen_fd = -1;
static int atfork_registered;

/* Every process the master forks (workers, but also mules, spoolers and
 * daemons, which run no plugin hook) drops the metrics port at once: only
 * the master's thread serves it. close() is safe in a fork handler. */
static void
close_in_child(void)
{
    if (inherited_listen_fd >= 0) {
        close(inherited_listen_fd);
        inherited_listen_fd = -1;
    }
}

static void log_line(struct gpx_http *srv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
log_line(struct gpx_http *srv, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    if (srv->log == NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    srv->log(line);
}

int
gpx_http_listen(const char *address, int port)
{
    struct addrinfo hints, *res = NULL, *ai;
    char service[16];
    int fd = -1, one = 1, saved = EADDRNOTAVAIL;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    snprintf(service, sizeof(service), "%d", port);
    if (getaddrinfo(address, service, &hints, &res) != 0) {
        errno = EADDRNOTAVAIL;
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0) {
            break;
        }
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        errno = saved;
    }
    return fd;
}

static MHD_Result_t
answer(struct MHD_Connection *conn, unsigned code, const char *type, char *body, size_t len,
       enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, mode);
    MHD_Result_t rc;

    if (resp == NULL) {
        if (mode == MHD_RESPMEM_MUST_FREE) {
            free(body);
        }
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    rc = MHD_queue_response(conn, code, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* A constant plain-text answer. */
#define ANSWER_TEXT(conn, code, text)                                                                                  \
    answer((conn), (code), "text/plain; charset=utf-8", (char *)(text), sizeof(text) - 1, MHD_RESPMEM_PERSISTENT)

/* 401 with the challenge (WWW-Authenticate: Basic realm="gpx") and no data. */
static MHD_Result_t
ask_credentials(struct MHD_Connection *conn)
{
    static const char text[] = "Unauthorized\n";
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(sizeof(text) - 1, (void *)(uintptr_t)text, MHD_RESPMEM_PERSISTENT);
    MHD_Result_t rc;

    if (resp == NULL) {
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    rc = MHD_queue_basic_auth_fail_response(conn, "gpx", resp);
    MHD_destroy_response(resp);
    return rc;
}

/* The client certificate, when client CAs are configured: GnuTLS asked for
 * one in the handshake, and this is where its verification is required. */
static int
client_certificate_ok(struct gpx_http *srv, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info;

    if (srv->cfg.tls == NULL || srv->cfg.tls->client_ca_pem == NULL) {
        return 1;
    }
    info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    return info != NULL && gpx_tls_peer_verified(info->tls_session);
}

static int
credentials_ok(struct gpx_http *srv, struct MHD_Connection *conn)
{
    char *password = NULL;
    char *user;
    int ok;

    if (srv->cfg.auth == NULL) {
        return 1;
    }
    user = MHD_basic_auth_get_username_password(conn, &password);
    ok = gpx_auth_check(srv->cfg.auth, user, password);
    if (password != NULL) {
        memset(password, 0, strlen(password));
        MHD_free(password);
    }
    if (user != NULL) {
        MHD_free(user);
    }
    return ok;
}

/* Renders `url` as negotiated; gzip when asked. Returns an enum
 * gpx_http_result with the page in body (the caller frees it). */
static int
render_page(struct gpx_http *srv, const char *url, enum gpx_format format, int gzip, char **body, size_t *len)
{
    struct gpx_buf page, packed;
    int rc;

    *body = NULL;
    if (gpx_buf_init(&page, 64 * 1024) != 0) {
        return GPX_HTTP_ERROR;
    }
    rc = srv->render(srv->render_ctx, url, format, &page);
    if (rc == GPX_HTTP_OK) {
        gpx_render_end(&page, format);
    }
    if (rc != GPX_HTTP_OK || page.failed) {
        gpx_buf_free(&page);
        return rc == GPX_HTTP_NOT_FOUND ? rc : GPX_HTTP_ERROR;
    }
    if (gzip) {
        if (gpx_buf_init(&packed, page.len / 4 + 64) != 0 || gpx_gzip_compress(&packed, page.data, page.len) != 0) {
            gpx_buf_free(&packed);
            gpx_buf_free(&page);
            return GPX_HTTP_ERROR;
        }
        gpx_buf_free(&page);
        page = packed;
    }
    *body = gpx_buf_steal(&page, len);
    return GPX_HTTP_OK;
}

static MHD_Result_t
handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method, const char *version,
       const char *upload_data, size_t *upload_data_size, void **state)
{
    static int started;
    struct gpx_http *srv = cls;
    struct MHD_Response *resp;
    enum gpx_format format;
    MHD_Result_t queued;
    char *body;
    size_t len;
    int gzip, rc;

    (void)version;
    (void)upload_data;
    if (*state == NULL) {
        /* First call: headers only. The body, if any, comes next. */
        *state = &started;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0; /* a body on a scrape is read and dropped */
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        return ANSWER_TEXT(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "Method Not Allowed\n");
    }
    /* Liveness of the master's metrics thread: nothing rendered, nothing
     * disclosed beyond what an open port tells, so no credentials asked
     * (probes rarely carry them). TLS still applies. */
    if (strcmp(url, "/healthz") == 0) {
        return ANSWER_TEXT(conn, MHD_HTTP_OK, "ok\n");
    }
    if (!client_certificate_ok(srv, conn)) {
        if (srv->cfg.verbose) {
            log_line(srv, "gpx: debug: %s %s refused: no verified client certificate", method, url);
        }
        return ANSWER_TEXT(conn, MHD_HTTP_FORBIDDEN, "Forbidden: a verified client certificate is required\n");
    }
    if (!credentials_ok(srv, conn)) {
        if (srv->cfg.verbose) {
            log_line(srv, "gpx: debug: %s %s refused: missing or wrong credentials", method, url);
        }
        return ask_credentials(conn);
    }
    format = gpx_negotiate_format(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT));
    gzip = gpx_negotiate_gzip(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING));
    rc = render_page(srv, url, format, gzip, &body, &len);
    if (rc == GPX_HTTP_NOT_FOUND) {
        return ANSWER_TEXT(conn, MHD_HTTP_NOT_FOUND, "Not Found: metrics are at /metrics\n");
    }
    if (rc != GPX_HTTP_OK) {
        return ANSWER_TEXT(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "gpx could not render the metrics\n");
    }
    if (srv->cfg.verbose) {
        log_line(srv, "gpx: debug: %s %s answered with %zu bytes (%s%s)", method, url, len,
                 format == GPX_FORMAT_OPENMETRICS ? "OpenMetrics" : "text", gzip ? ", gzip" : "");
    }
    resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            format == GPX_FORMAT_OPENMETRICS ? GPX_OPENMETRICS_CONTENT_TYPE : GPX_TEXT_CONTENT_TYPE);
    /* Caches must key the page on both headers that chose it. */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Accept, Accept-Encoding");
    if (gzip) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    }
    queued = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return queued;
}

static struct MHD_Daemon *
start_daemon(struct gpx_http *srv, int fd)
{
    const struct gpx_tls *tls = srv->cfg.tls;
    int use_tls = tls != NULL && tls->cert_pem != NULL;
    /* The connection timeout counts from a connection's last activity, the
     * TLS handshake included: a client that opens and stays silent, or
     * stops halfway through a handshake, is closed like an idle one. */
    struct MHD_OptionItem options[8];
    unsigned n = 0;

    options[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, (intptr_t)fd, NULL};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, (intptr_t)srv->cfg.connection_limit, NULL};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)srv->cfg.timeout_seconds, NULL};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)(32 * 1024), NULL};
    if (use_tls) {
        options[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, tls->cert_pem};
        options[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, tls->key_pem};
        if (tls->client_ca_pem != NULL) {
            options[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, tls->client_ca_pem};
        }
    }
    options[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

    return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | (use_tls ? MHD_USE_TLS : 0), 0, NULL, NULL,
                            handle, srv, MHD_OPTION_ARRAY, options, MHD_OPTION_END);
}

/* Sleeps up to `seconds`, returning early (1) when asked to stop. */
static int
wait_or_stop(struct gpx_http *srv, unsigned seconds)
{
    struct timespec until;
    int stop;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += seconds;
    pthread_mutex_lock(&srv->lock);
    while (!srv->stopping && pthread_cond_timedwait(&srv->wake, &srv->lock, &until) == 0) {
    }
    stop = srv->stopping;
    pthread_mutex_unlock(&srv->lock);
    return stop;
}

static void *
serve(void *arg)
{
    struct gpx_http *srv = arg;
    unsigned waited = 0;
    int reported = 0;

    for (;;) {
        int fd = gpx_http_listen(srv->bind, srv->cfg.port);

        if (fd >= 0) {
            struct MHD_Daemon *daemon = start_daemon(srv, fd);

            if (daemon != NULL) {
                pthread_mutex_lock(&srv->lock);
                srv->daemon = daemon;
                srv->listen_fd = fd;
                inherited_listen_fd = fd;
                pthread_mutex_unlock(&srv->lock);
                log_line(srv, "gpx: serving metrics on %s://%s:%d/metrics%s%s%s",
                         srv->cfg.tls != NULL && srv->cfg.tls->cert_pem != NULL ? "https" : "http", srv->bind,
                         srv->cfg.port,
                         srv->cfg.tls != NULL && srv->cfg.tls->client_ca_pem != NULL ? " (client certificates)" : "",
                         srv->cfg.auth != NULL ? " (basic auth)" : "", reported ? " (the port is free again)" : "");
                break;
            }
            close(fd);
            errno = EIO;
        }
        if (!reported && waited >= srv->cfg.report_after_seconds) {
            log_line(srv,
                     "gpx: cannot serve metrics on %s:%d: %s (tried for %u s); retrying every 10 s, the app keeps "
                     "serving",
                     srv->bind, srv->cfg.port, strerror(errno), waited);
            reported = 1;
        }
        if (wait_or_stop(srv, reported ? 10 : 1)) {
            break;
        }
        waited += 1;
    }
    return NULL;
}

struct gpx_http *
gpx_http_launch(const struct gpx_http_config *cfg, gpx_http_render_fn render, void *render_ctx, gpx_http_log_fn log)
{
    struct gpx_http *srv = calloc(1, sizeof(*srv));
    int rc;

    if (srv == NULL) {
        return NULL;
    }
    srv->cfg = *cfg;
    snprintf(srv->bind, sizeof(srv->bind), "%s", cfg->bind);
    srv->cfg.bind = srv->bind;
    srv->render = render;
    srv->render_ctx = render_ctx;
    srv->log = log;
    srv->listen_fd = -1;
    pthread_mutex_init(&srv->lock, NULL);
    pthread_cond_init(&srv->wake, NULL);
    if (!atfork_registered) {
        pthread_atfork(NULL, NULL, close_in_child);
        atfork_registered = 1;
    }
    rc = gpx_thread_start(&srv->thread, serve, srv);
    if (rc != 0) {
        free(srv);
        return NULL;
    }
    return srv;
}

void
gpx_http_stop(struct gpx_http *srv)
{
    if (srv == NULL) {
        return;
    }
    pthread_mutex_lock(&srv->lock);
    srv->stopping = 1;
    pthread_cond_signal(&srv->wake);
    pthread_mutex_unlock(&srv->lock);
    pthread_join(srv->thread, NULL);
    if (srv->daemon != NULL) {
        MHD_stop_daemon(srv->daemon);
    }
    if (srv->listen_fd >= 0) {
        inherited_listen_fd = -1;
        close(srv->listen_fd);
    }
    free(srv);
}

static int
local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        return -1;
    }
    if (ss.ss_family == AF_INET) {
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    if (ss.ss_family == AF_INET6) {
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return -1;
}

void
gpx_http_close_inherited(int port)
{
    DIR *dir = opendir("/proc/self/fd");
    struct dirent *entry;
    int fds[64];
    int n = 0, i;

    if (dir == NULL) {
        return;
    }
    /* Collect first: closing while reading the directory would disturb it. */
    while ((entry = readdir(dir)) != NULL && n < (int)(sizeof(fds) / sizeof(fds[0]))) {
        int fd = atoi(entry->d_name);

        if (entry->d_name[0] != '.' && fd > 2 && fd != dirfd(dir) && local_port(fd) == port) {
            fds[n++] = fd;
        }
    }
    closedir(dir);
    for (i = 0; i < n; i++) {
        close(fds[i]);
    }
}
