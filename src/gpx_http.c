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

#include "gpx_gzip.h"
#include "gpx_negotiate.h"
#include "gpx_ratelimit.h"
#include "gpx_thread.h"

#if MHD_VERSION < 0x00097100
typedef int MHD_Result_t;
#else
typedef enum MHD_Result MHD_Result_t;
#endif

/* A connection of the port (server thread only), listed oldest first. */
struct conn_entry {
    struct conn_entry *prev, *next;
    int fd;
    int in_request; /* its headers arrived and its answer is not done: never closed to make room */
    int closing;    /* shut down to make room */
};

/* A request, from its request line to its completion (libmicrohttpd's
 * per-request state). A scrape of the deferred page waits, suspended, in
 * the reader's queue until the reader fills its answer and resumes it. */
struct request {
    char target[200];         /* the request target as received, escaped for log lines */
    size_t target_len;        /* its length as a string when it arrived */
    int null_escape;          /* it contains %00 */
    int started;              /* the headers arrived: the handler was called */
    struct conn_entry *entry; /* its connection */
    /* The deferred page: */
    struct MHD_Connection *connection;
    struct request *next_waiting;
    enum gpx_format format;
    int gzip;
    int answered; /* the reader filled rc, body, len and content_type */
    int rc;       /* an enum gpx_http_result */
    char *body;
    size_t len;
    const char *content_type;
};

struct gpx_http {
    struct gpx_http_config cfg;
    char bind[256];
    char deferred_path[64];
    gpx_http_render_fn render;
    void *render_ctx;
    gpx_log_fn log;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stopping;
    struct MHD_Daemon *daemon;
    int listen_fd;
    /* Connections (server thread only). */
    struct conn_entry *oldest, *newest;
    unsigned connections;
    int limit_logged;
    /* The deferred page's reader and its queue, under reader_lock. */
    pthread_t reader;
    int reader_started;
    pthread_mutex_t reader_lock;
    pthread_cond_t reader_wake;
    struct request *waiting, *waiting_last;
    unsigned waiting_count;
    int reader_stopping; /* no scrape joins the queue any more */
    /* What answers carry, and the rate limit (server thread only). */
    struct gpx_headers headers;
    struct gpx_ratelimit ratelimit;
    int ratelimit_logged;
    /* The credentials in use, under live_lock: replaced while serving. */
    pthread_mutex_t live_lock;
    const struct gpx_tls *live_tls;
    struct gpx_tls *owned_tls; /* live_tls when the server owns it (replaced once), else NULL */
    struct retired_tls *retired;
    struct gpx_auth *live_auth;
    int owns_auth;
};

/* A replaced TLS credential, kept until no handshake can be using it. */
struct retired_tls {
    struct retired_tls *next;
    struct gpx_tls *tls;
    struct timespec at;
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

/* The configured headers, on every answer. */
static void
decorate(const struct gpx_http *srv, struct MHD_Response *resp)
{
    unsigned i;

    for (i = 0; i < srv->headers.count; i++) {
        MHD_add_response_header(resp, srv->headers.list[i].name, srv->headers.list[i].value);
    }
}

static MHD_Result_t
answer(const struct gpx_http *srv, struct MHD_Connection *conn, unsigned code, const char *type, char *body, size_t len,
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
    decorate(srv, resp);
    rc = MHD_queue_response(conn, code, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* A constant plain-text answer. */
#define ANSWER_TEXT(srv, conn, code, text)                                                                             \
    answer((srv), (conn), (code), "text/plain; charset=utf-8", (char *)(text), sizeof(text) - 1, MHD_RESPMEM_PERSISTENT)

/* A response of constant plain text with the configured headers, for an
 * answer that needs more than ANSWER_TEXT; NULL without memory. */
static struct MHD_Response *
text_response(const struct gpx_http *srv, const char *text, size_t len)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)(uintptr_t)text, MHD_RESPMEM_PERSISTENT);

    if (resp != NULL) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
        decorate(srv, resp);
    }
    return resp;
}

/* 401 with the challenge (WWW-Authenticate: Basic realm="gpx") and no data. */
static MHD_Result_t
ask_credentials(const struct gpx_http *srv, struct MHD_Connection *conn)
{
    static const char text[] = "Unauthorized\n";
    struct MHD_Response *resp = text_response(srv, text, sizeof(text) - 1);
    MHD_Result_t rc;

    if (resp == NULL) {
        return MHD_NO;
    }
    rc = MHD_queue_basic_auth_fail_response(conn, "gpx", resp);
    MHD_destroy_response(resp);
    return rc;
}

static const char CERTIFICATE_REJECTED[] = "a client certificate that does not verify";
static const char CERTIFICATE_MISSING[] = "no verified client certificate";
static const char CERTIFICATE_NOT_ALLOWED[] = "a client certificate with none of the allowed names";

/* The client certificate, when client CAs are configured: GnuTLS asked for
 * one in the handshake, and this is where it is judged. An offered
 * certificate must verify; none at all is enough only when certificates
 * are optional. Returns NULL, or why the request is refused. */
static const char *
client_certificate_refusal(struct gpx_http *srv, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info;
    enum gpx_tls_peer peer;

    if (srv->cfg.tls == NULL || srv->cfg.tls->client_ca_pem == NULL) {
        return NULL;
    }
    info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    /* Against the CAs and names in use now: a check is quick, and the
     * reload thread waits for it. */
    pthread_mutex_lock(&srv->live_lock);
    peer = info != NULL ? gpx_tls_peer_check(srv->live_tls, info->tls_session) : GPX_TLS_PEER_NONE;
    pthread_mutex_unlock(&srv->live_lock);
    if (peer == GPX_TLS_PEER_REJECTED) {
        return CERTIFICATE_REJECTED;
    }
    if (peer == GPX_TLS_PEER_NOT_ALLOWED) {
        return CERTIFICATE_NOT_ALLOWED;
    }
    if (peer == GPX_TLS_PEER_NONE && srv->cfg.tls->client_cert_required) {
        return CERTIFICATE_MISSING;
    }
    return NULL;
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
    /* The users may be replaced meanwhile: the replacement waits for the
     * check (one bcrypt at most). */
    pthread_mutex_lock(&srv->live_lock);
    ok = gpx_auth_check(srv->live_auth, user, password);
    pthread_mutex_unlock(&srv->live_lock);
    if (password != NULL) {
        memset(password, 0, strlen(password));
        MHD_free(password);
    }
    if (user != NULL) {
        MHD_free(user);
    }
    return ok;
}

/* Writes `in` for a log line: printable ASCII as is, anything else (and
 * the backslash and the double quote) as \xNN, so that raw control bytes
 * in a request target cannot start a line of their own or mislead a
 * reader; cut with "..." past the buffer. Targets are logged as received,
 * before decoding: %0a stays three characters. */
static void
escape_for_log(const char *in, char *out, size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    for (; *in != '\0'; in++) {
        unsigned char ch = (unsigned char)*in;
        size_t need = ch > ' ' && ch < 0x7f && ch != '\\' && ch != '"' ? 1 : 4;

        if (o + need + 4 > outlen) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (need == 1) {
            out[o++] = (char)ch;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = '\0';
}

/* Renders `path` in `format` into page (the caller frees it), with its
 * content type. Returns an enum gpx_http_result. */
static int
render_into(struct gpx_http *srv, const char *path, enum gpx_format format, struct gpx_buf *page,
            const char **content_type)
{
    int rc;

    *content_type = NULL;
    if (gpx_buf_init(page, 64 * 1024) != 0) {
        return GPX_HTTP_ERROR;
    }
    rc = srv->render(srv->render_ctx, path, format, page, content_type);
    if (rc == GPX_HTTP_OK && (page->failed || *content_type == NULL)) {
        rc = GPX_HTTP_ERROR;
    }
    return rc;
}

/* The body to send for a rendered page, gzip-compressed when asked: the
 * page's own memory when `take`, else a copy (a page shared by scrapes).
 * Returns 0 with body set (the caller frees it), or -1. */
static int
pack_body(struct gpx_buf *page, int gzip, int take, char **body, size_t *len)
{
    struct gpx_buf packed;
    int rc;

    *body = NULL;
    if (!gzip && take) {
        *body = gpx_buf_steal(page, len);
        return 0;
    }
    if (gpx_buf_init(&packed, gzip ? page->len / 4 + 64 : page->len + 1) != 0) {
        return -1;
    }
    if (gzip) {
        rc = gpx_gzip_compress(&packed, page->data, page->len);
    } else {
        rc = gpx_buf_append(&packed, page->data, page->len);
    }
    if (rc != 0) {
        gpx_buf_free(&packed);
        return -1;
    }
    *body = gpx_buf_steal(&packed, len);
    return 0;
}

/* Queues the answer of a page render: the page, or the status that says
 * why there is none. Takes `body`. */
static MHD_Result_t
answer_page(struct gpx_http *srv, struct MHD_Connection *conn, const struct request *req, const char *method, int rc,
            enum gpx_format format, int gzip, char *body, size_t len, const char *content_type)
{
    struct MHD_Response *resp;
    MHD_Result_t queued;

    if (rc != GPX_HTTP_OK || body == NULL) {
        free(body);
        if (srv->cfg.verbose) {
            gpx_log(srv->log, "gpx: debug: %s \"%s\" answered with %d", method, req->target,
                    rc == GPX_HTTP_NOT_FOUND     ? MHD_HTTP_NOT_FOUND
                    : rc == GPX_HTTP_UNAVAILABLE ? MHD_HTTP_SERVICE_UNAVAILABLE
                                                 : MHD_HTTP_INTERNAL_SERVER_ERROR);
        }
        if (rc == GPX_HTTP_NOT_FOUND) {
            return ANSWER_TEXT(srv, conn, MHD_HTTP_NOT_FOUND, "Not Found: metrics are at /metrics\n");
        }
        if (rc == GPX_HTTP_UNAVAILABLE) {
            return ANSWER_TEXT(srv, conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                               "Service Unavailable: Redis could not be read in time; /metrics serves this server's "
                               "metrics\n");
        }
        return ANSWER_TEXT(srv, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "gpx could not render the metrics\n");
    }
    if (srv->cfg.verbose) {
        gpx_log(srv->log, "gpx: debug: %s \"%s\" answered with %zu bytes (%s%s)", method, req->target, len,
                format == GPX_FORMAT_OPENMETRICS ? "OpenMetrics"
                : format == GPX_FORMAT_PROTOBUF  ? "protobuf"
                                                 : "text",
                gzip ? ", gzip" : "");
    }
    resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    decorate(srv, resp);
    /* Caches must key the page on both headers that chose it. */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Accept, Accept-Encoding");
    if (gzip) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    }
    queued = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return queued;
}

/* The deferred page: the connection is suspended and its request queued
 * for the reader, which answers and resumes it. Past the queue's bound, or
 * while stopping, the answer is 503 at once. */
static MHD_Result_t
defer(struct gpx_http *srv, struct MHD_Connection *conn, struct request *req, enum gpx_format format, int gzip)
{
    pthread_mutex_lock(&srv->reader_lock);
    if (srv->reader_stopping || srv->waiting_count >= GPX_HTTP_DEFERRED_WAITING) {
        pthread_mutex_unlock(&srv->reader_lock);
        return ANSWER_TEXT(srv, conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                           "Service Unavailable: too many scrapes of this page are waiting\n");
    }
    req->connection = conn;
    req->format = format;
    req->gzip = gzip;
    req->next_waiting = NULL;
    /* Suspended before the reader can see it: it resumes only suspended ones. */
    MHD_suspend_connection(conn);
    if (srv->waiting_last != NULL) {
        srv->waiting_last->next_waiting = req;
    } else {
        srv->waiting = req;
    }
    srv->waiting_last = req;
    srv->waiting_count++;
    pthread_cond_signal(&srv->reader_wake);
    pthread_mutex_unlock(&srv->reader_lock);
    return MHD_YES;
}

/* Answers a batch of waiting scrapes and resumes their connections. Scrapes
 * of one format share one render; once a render finds the page unavailable
 * the others are not tried (`unavailable` on entry: none is). Returns
 * whether the page was unavailable. */
static int
answer_batch(struct gpx_http *srv, struct request *batch, int unavailable)
{
    struct gpx_buf pages[GPX_FORMAT_COUNT];
    const char *types[GPX_FORMAT_COUNT] = {NULL};
    int rendered[GPX_FORMAT_COUNT] = {0}, rcs[GPX_FORMAT_COUNT];
    struct request *req, *next;

    for (unsigned f = 0; f < GPX_FORMAT_COUNT; f++) {
        rcs[f] = GPX_HTTP_UNAVAILABLE;
    }
    for (req = batch; req != NULL; req = req->next_waiting) {
        unsigned f = (unsigned)req->format < GPX_FORMAT_COUNT ? (unsigned)req->format : GPX_FORMAT_TEXT;

        if (!rendered[f] && !unavailable) {
            rcs[f] = render_into(srv, srv->deferred_path, req->format, &pages[f], &types[f]);
            rendered[f] = 1;
            unavailable = rcs[f] == GPX_HTTP_UNAVAILABLE;
        }
        req->rc = rcs[f];
        req->content_type = types[f];
        if (req->rc == GPX_HTTP_OK && pack_body(&pages[f], req->gzip, 0, &req->body, &req->len) != 0) {
            req->rc = GPX_HTTP_ERROR;
        }
    }
    for (req = batch; req != NULL; req = next) {
        /* Once resumed, the request belongs to the server's thread again. */
        next = req->next_waiting;
        req->answered = 1;
        MHD_resume_connection(req->connection);
    }
    for (unsigned f = 0; f < GPX_FORMAT_COUNT; f++) {
        if (rendered[f]) {
            gpx_buf_free(&pages[f]);
        }
    }
    return unavailable;
}

/* Takes every waiting scrape (under reader_lock). */
static struct request *
take_waiting(struct gpx_http *srv)
{
    struct request *batch = srv->waiting;

    srv->waiting = srv->waiting_last = NULL;
    srv->waiting_count = 0;
    return batch;
}

/* The deferred page's reader: renders for the scrapes that wait, one
 * render at a time. Scrapes that came while a render found the page
 * unavailable share its answer: they would only wait as long again. */
static void *
read_deferred(void *arg)
{
    struct gpx_http *srv = arg;

    pthread_mutex_lock(&srv->reader_lock);
    for (;;) {
        struct request *batch;
        int stopping;

        while (srv->waiting == NULL && !srv->reader_stopping) {
            pthread_cond_wait(&srv->reader_wake, &srv->reader_lock);
        }
        if (srv->waiting == NULL) {
            break;
        }
        batch = take_waiting(srv);
        stopping = srv->reader_stopping;
        pthread_mutex_unlock(&srv->reader_lock);
        if (answer_batch(srv, batch, stopping)) {
            pthread_mutex_lock(&srv->reader_lock);
            batch = take_waiting(srv);
            pthread_mutex_unlock(&srv->reader_lock);
            answer_batch(srv, batch, 1);
        }
        pthread_mutex_lock(&srv->reader_lock);
    }
    pthread_mutex_unlock(&srv->reader_lock);
    return NULL;
}

/* libmicrohttpd (0.9.75) cuts a request target at a NUL byte: "/metrics\0x"
 * reaches the handler as "/metrics". The target and the HTTP version come
 * from one buffer, "<target>\0<version>", so a target whose length as a
 * string (taken when the request line arrived) falls short of the distance
 * to the version held a NUL. */
static int
target_has_nul(const struct request *req, const char *url, const char *version)
{
    uintptr_t start = (uintptr_t)url, end = (uintptr_t)version;

    return end > start && end - start < 64 * 1024 && end - start - 1 != req->target_len;
}

/* The request line arrived: the request's state begins, with its target
 * as received (before libmicrohttpd decodes it). */
static void *
request_begins(void *cls, const char *uri, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct request *req = calloc(1, sizeof(*req));

    (void)cls;
    if (req == NULL) {
        return NULL;
    }
    req->target_len = strlen(uri);
    req->null_escape = strstr(uri, "%00") != NULL;
    escape_for_log(uri, req->target, sizeof(req->target));
    req->entry = info != NULL ? info->socket_context : NULL;
    return req;
}

static void
request_ends(void *cls, struct MHD_Connection *conn, void **state, enum MHD_RequestTerminationCode toe)
{
    struct request *req = *state;

    (void)cls;
    (void)conn;
    (void)toe;
    if (req == NULL) {
        return;
    }
    if (req->entry != NULL) {
        req->entry->in_request = 0;
    }
    free(req->body);
    free(req);
    *state = NULL;
}

/* At the connection limit, the oldest connection that is not in a request
 * (waiting for one, sending its headers, in a TLS handshake, or idle
 * between keep-alive requests) is shut down, so that the new one, and the
 * scrapers and probes behind it, are served instead of waiting for idle
 * clients' timeout. libmicrohttpd closes it at its next turn: it reports
 * the closing before it closes the descriptor, on this same thread, so the
 * descriptor shut down here is still the connection's. */
static void
make_room(struct gpx_http *srv, const struct conn_entry *fresh)
{
    struct conn_entry *e;

    for (e = srv->oldest; e != NULL; e = e->next) {
        if (e != fresh && !e->in_request && !e->closing) {
            shutdown(e->fd, SHUT_RDWR);
            e->closing = 1;
            break;
        }
    }
    if (!srv->limit_logged) {
        gpx_log(srv->log,
                "gpx: the metrics port is at its limit of %u connections; each new one now closes the oldest "
                "connection that is not in a request (said once)",
                srv->cfg.connection_limit);
        srv->limit_logged = 1;
    }
}

static void
connection_event(void *cls, struct MHD_Connection *conn, void **socket_context, enum MHD_ConnectionNotificationCode toe)
{
    struct gpx_http *srv = cls;
    struct conn_entry *e = *socket_context;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

        e = calloc(1, sizeof(*e));
        if (e == NULL || info == NULL) {
            free(e);
            return; /* not tracked: never closed to make room */
        }
        e->fd = info->connect_fd;
        e->prev = srv->newest;
        if (srv->newest != NULL) {
            srv->newest->next = e;
        } else {
            srv->oldest = e;
        }
        srv->newest = e;
        *socket_context = e;
        if (++srv->connections >= srv->cfg.connection_limit) {
            make_room(srv, e);
        }
        return;
    }
    if (e == NULL) {
        return;
    }
    if (e->prev != NULL) {
        e->prev->next = e->next;
    } else {
        srv->oldest = e->next;
    }
    if (e->next != NULL) {
        e->next->prev = e->prev;
    } else {
        srv->newest = e->prev;
    }
    srv->connections--;
    free(e);
    *socket_context = NULL;
}

/* Whether the client's address is within the rate limit (always, without
 * one). Logged the first time a client is refused. */
static int
within_rate(struct gpx_http *srv, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info;
    struct timespec now;

    if (srv->cfg.rate_limit == 0) {
        return 1;
    }
    info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (info == NULL || gpx_ratelimit_allow(&srv->ratelimit, info->client_addr,
                                            (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec)) {
        return 1;
    }
    if (!srv->ratelimit_logged) {
        gpx_log(srv->log,
                "gpx: a client of the metrics port is past gpx-rate-limit (%u/s, burst %u) and gets 429 (said once)",
                srv->cfg.rate_limit, srv->cfg.rate_burst);
        srv->ratelimit_logged = 1;
    }
    return 0;
}

/* 429, with the second to wait. */
static MHD_Result_t
too_many(const struct gpx_http *srv, struct MHD_Connection *conn)
{
    static const char text[] = "Too Many Requests: past gpx-rate-limit\n";
    struct MHD_Response *resp = text_response(srv, text, sizeof(text) - 1);
    MHD_Result_t rc;

    if (resp == NULL) {
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    rc = MHD_queue_response(conn, 429, resp);
    MHD_destroy_response(resp);
    return rc;
}

static MHD_Result_t
handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method, const char *version,
       const char *upload_data, size_t *upload_data_size, void **state)
{
    struct gpx_http *srv = cls;
    struct request *req = *state;
    const char *refusal;
    enum gpx_format format;
    char *body;
    size_t len;
    int gzip, rc;

    (void)upload_data;
    if (req == NULL) {
        return ANSWER_TEXT(srv, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "gpx is out of memory\n");
    }
    if (!req->started) {
        /* First call: headers only. The body, if any, comes next. */
        req->started = 1;
        if (req->entry != NULL) {
            req->entry->in_request = 1;
        }
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0; /* a body on a scrape is read and dropped */
        return MHD_YES;
    }
    if (req->answered) {
        /* The reader answered this scrape of the deferred page. */
        body = req->body;
        req->body = NULL;
        return answer_page(srv, conn, req, method, req->rc, req->format, req->gzip, body, req->len, req->content_type);
    }
    /* A NUL in the target, raw or as %00, would be cut off and the rest
     * served as a valid path ("/metrics%00anything" as /metrics). */
    if (req->null_escape || target_has_nul(req, url, version)) {
        if (srv->cfg.verbose) {
            gpx_log(srv->log, "gpx: debug: %s \"%s\" refused: a NUL in the request target", method, req->target);
        }
        return ANSWER_TEXT(srv, conn, MHD_HTTP_BAD_REQUEST, "Bad Request: a NUL in the request target\n");
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        return ANSWER_TEXT(srv, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "Method Not Allowed\n");
    }
    /* Liveness of the master's metrics thread: nothing rendered, nothing
     * disclosed beyond what an open port tells, so no credentials asked
     * (probes rarely carry them). TLS still applies. */
    if (strcmp(url, "/healthz") == 0) {
        return ANSWER_TEXT(srv, conn, MHD_HTTP_OK, "ok\n");
    }
    /* Readiness, for the same probes (never rate limited either): whether
     * the server can take work. */
    if (strcmp(url, "/readyz") == 0 && srv->cfg.ready != NULL) {
        char why[256];
        int ready = srv->cfg.ready(why, sizeof(why) - 1);
        size_t n = strlen(why);

        why[n++] = '\n';
        return answer(srv, conn, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", why,
                      n, MHD_RESPMEM_MUST_COPY);
    }
    if (!within_rate(srv, conn)) {
        if (srv->cfg.verbose) {
            gpx_log(srv->log, "gpx: debug: %s \"%s\" refused: the client is past gpx-rate-limit", method, req->target);
        }
        return too_many(srv, conn);
    }
    refusal = client_certificate_refusal(srv, conn);
    if (refusal != NULL) {
        if (srv->cfg.verbose) {
            gpx_log(srv->log, "gpx: debug: %s \"%s\" refused: %s", method, req->target, refusal);
        }
        if (refusal == CERTIFICATE_NOT_ALLOWED) {
            return ANSWER_TEXT(srv, conn, MHD_HTTP_FORBIDDEN,
                               "Forbidden: the client certificate carries none of the allowed names\n");
        }
        if (refusal == CERTIFICATE_REJECTED) {
            return ANSWER_TEXT(srv, conn, MHD_HTTP_FORBIDDEN, "Forbidden: the client certificate does not verify\n");
        }
        return ANSWER_TEXT(srv, conn, MHD_HTTP_FORBIDDEN, "Forbidden: a verified client certificate is required\n");
    }
    if (!credentials_ok(srv, conn)) {
        if (srv->cfg.verbose) {
            gpx_log(srv->log, "gpx: debug: %s \"%s\" refused: missing or wrong credentials", method, req->target);
        }
        return ask_credentials(srv, conn);
    }
    format = gpx_negotiate_format(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT));
    gzip = gpx_negotiate_gzip(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING));
    if (srv->deferred_path[0] != '\0' && strcmp(url, srv->deferred_path) == 0) {
        return defer(srv, conn, req, format, gzip);
    }
    {
        struct gpx_buf page;
        const char *content_type;

        rc = render_into(srv, url, format, &page, &content_type);
        body = NULL;
        len = 0;
        if (rc == GPX_HTTP_OK && pack_body(&page, gzip, 1, &body, &len) != 0) {
            rc = GPX_HTTP_ERROR;
        }
        gpx_buf_free(&page);
        return answer_page(srv, conn, req, method, rc, format, gzip, body, len, content_type);
    }
}

/* The credential a new handshake gets. A replaced one stays allocated a
 * minute (gpx_http_use_tls): far longer than a handshake may take. */
static const struct gpx_tls *
current_tls(void *ctx)
{
    struct gpx_http *srv = ctx;
    const struct gpx_tls *tls;

    pthread_mutex_lock(&srv->live_lock);
    tls = srv->live_tls;
    pthread_mutex_unlock(&srv->live_lock);
    return tls;
}

/* Seconds from a to b. */
static double
seconds_between(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

#define RETIRED_TLS_SECONDS 60.0

void
gpx_http_use_tls(struct gpx_http *srv, struct gpx_tls *tls)
{
    struct retired_tls *r = calloc(1, sizeof(*r)), **link;
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    pthread_mutex_lock(&srv->live_lock);
    if (srv->owned_tls != NULL && r != NULL) {
        r->tls = srv->owned_tls;
        r->at = now;
        r->next = srv->retired;
        srv->retired = r;
        r = NULL;
    }
    srv->live_tls = srv->owned_tls = tls;
    /* Those replaced long enough ago that no handshake holds them. */
    for (link = &srv->retired; *link != NULL;) {
        struct retired_tls *old = *link;

        if (seconds_between(&old->at, &now) > RETIRED_TLS_SECONDS) {
            *link = old->next;
            gpx_tls_free(old->tls);
            free(old->tls);
            free(old);
        } else {
            link = &old->next;
        }
    }
    pthread_mutex_unlock(&srv->live_lock);
    free(r); /* not needed: the replaced one was borrowed (or memory ran out, and it stays) */
}

void
gpx_http_use_auth(struct gpx_http *srv, struct gpx_auth *auth)
{
    struct gpx_auth *old = NULL;

    pthread_mutex_lock(&srv->live_lock);
    if (srv->owns_auth) {
        old = srv->live_auth;
    }
    srv->live_auth = auth;
    srv->owns_auth = 1;
    pthread_mutex_unlock(&srv->live_lock);
    if (old != NULL) {
        gpx_auth_free(old);
        free(old);
    }
}

static struct MHD_Daemon *
start_daemon(struct gpx_http *srv, int fd)
{
    const struct gpx_tls *tls = srv->cfg.tls;
    int use_tls = tls != NULL && tls->cert_pem != NULL;
    /* The connection timeout counts from a connection's last activity, the
     * TLS handshake included: a client that opens and stays silent, or
     * stops halfway through a handshake, is closed like an idle one. */
    struct MHD_OptionItem options[10];
    unsigned n = 0;

    options[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, (intptr_t)fd, NULL};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, (intptr_t)srv->cfg.connection_limit, NULL};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)srv->cfg.timeout_seconds, NULL};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)(32 * 1024), NULL};
    if (use_tls) {
        /* Each handshake asks for the credential in use (current_tls), so a
         * new certificate serves new connections without a new daemon. */
        options[n++] =
            (struct MHD_OptionItem){MHD_OPTION_HTTPS_CERT_CALLBACK, 0, gpx_tls_retrieve_function(current_tls, srv)};
        options[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)(uintptr_t)tls->priorities};
        /* The CAs make libmicrohttpd ask for a client certificate; it is
         * checked against the CAs in use (client_certificate_refusal). */
        if (tls->client_ca_pem != NULL) {
            options[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, tls->client_ca_pem};
        }
    }
    options[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

    return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME |
                                (use_tls ? MHD_USE_TLS : 0),
                            0, NULL, NULL, handle, srv, MHD_OPTION_ARRAY, options, MHD_OPTION_URI_LOG_CALLBACK,
                            request_begins, srv, MHD_OPTION_NOTIFY_COMPLETED, request_ends, srv,
                            MHD_OPTION_NOTIFY_CONNECTION, connection_event, srv, MHD_OPTION_END);
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
                gpx_log(srv->log, "gpx: serving metrics on %s://%s:%d/metrics%s%s%s",
                        srv->cfg.tls != NULL && srv->cfg.tls->cert_pem != NULL ? "https" : "http", srv->bind,
                        srv->cfg.port,
                        srv->cfg.tls == NULL || srv->cfg.tls->client_ca_pem == NULL ? ""
                        : srv->cfg.tls->client_cert_required                        ? " (client certificates)"
                                                             : " (client certificates when offered)",
                        srv->cfg.auth != NULL ? " (basic auth)" : "", reported ? " (the port is free again)" : "");
                break;
            }
            close(fd);
            errno = EIO;
        }
        if (!reported && waited >= srv->cfg.report_after_seconds) {
            gpx_log(srv->log,
                    "gpx: cannot serve metrics on %s:%d: %s (tried for %u s); retrying every 10 s, the app keeps "
                    "serving",
                    srv->bind, srv->cfg.port, strerror(errno), waited);
            reported = 1;
        }
        if (gpx_thread_wait(&srv->lock, &srv->wake, &srv->stopping, reported ? 10 : 1)) {
            break;
        }
        waited += 1;
    }
    return NULL;
}

/* Closes the deferred page's queue (later scrapes get 503 at once) and
 * joins the reader once it answered every scrape it was given. */
static void
stop_reader(struct gpx_http *srv)
{
    pthread_mutex_lock(&srv->reader_lock);
    srv->reader_stopping = 1;
    pthread_cond_signal(&srv->reader_wake);
    pthread_mutex_unlock(&srv->reader_lock);
    if (srv->reader_started) {
        pthread_join(srv->reader, NULL);
        srv->reader_started = 0;
    }
}

struct gpx_http *
gpx_http_launch(const struct gpx_http_config *cfg, gpx_http_render_fn render, void *render_ctx, gpx_log_fn log)
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
    if (cfg->deferred_path != NULL) {
        snprintf(srv->deferred_path, sizeof(srv->deferred_path), "%s", cfg->deferred_path);
    }
    srv->cfg.deferred_path = srv->deferred_path;
    if (cfg->headers != NULL) {
        srv->headers = *cfg->headers;
    }
    srv->cfg.headers = &srv->headers;
    if (gpx_ratelimit_init(&srv->ratelimit, cfg->rate_limit, cfg->rate_burst) != 0) {
        free(srv);
        return NULL;
    }
    srv->live_tls = cfg->tls;
    srv->live_auth = cfg->auth;
    pthread_mutex_init(&srv->live_lock, NULL);
    pthread_mutex_init(&srv->lock, NULL);
    pthread_cond_init(&srv->wake, NULL);
    pthread_mutex_init(&srv->reader_lock, NULL);
    pthread_cond_init(&srv->reader_wake, NULL);
    if (!atfork_registered) {
        pthread_atfork(NULL, NULL, close_in_child);
        atfork_registered = 1;
    }
    if (srv->deferred_path[0] != '\0') {
        if (gpx_thread_start(&srv->reader, read_deferred, srv) != 0) {
            gpx_ratelimit_free(&srv->ratelimit);
            free(srv);
            return NULL;
        }
        srv->reader_started = 1;
    }
    rc = gpx_thread_start(&srv->thread, serve, srv);
    if (rc != 0) {
        stop_reader(srv);
        gpx_ratelimit_free(&srv->ratelimit);
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
    /* Before the daemon: libmicrohttpd cannot stop with a connection still
     * suspended, and the reader resumes every one it was given. */
    stop_reader(srv);
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
    while (srv->retired != NULL) {
        struct retired_tls *r = srv->retired;

        srv->retired = r->next;
        gpx_tls_free(r->tls);
        free(r->tls);
        free(r);
    }
    if (srv->owned_tls != NULL) {
        gpx_tls_free(srv->owned_tls);
        free(srv->owned_tls);
    }
    if (srv->owns_auth && srv->live_auth != NULL) {
        gpx_auth_free(srv->live_auth);
        free(srv->live_auth);
    }
    gpx_ratelimit_free(&srv->ratelimit);
    pthread_mutex_destroy(&srv->live_lock);
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
