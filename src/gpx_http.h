/* gpx_http.h - the metrics endpoint: GET /metrics on its own port.
 *
 * libmicrohttpd serves the port from one internal thread with a connection
 * limit, an idle timeout (TLS handshakes included) and a bound on request
 * memory, so slow, silent or hostile clients cannot stall a scrape, the
 * master or the workers. At the limit, each new connection closes the
 * oldest one that is not in a request, so idle clients cannot keep scrapers
 * and probes waiting for their timeout. The glue launches it once workers
 * run; binding is retried in the background, so a port in use never stops
 * the application.
 *
 * One page may wait on the network (the fleet view reads Redis): it is
 * rendered by a reader thread of its own, one render at a time, while its
 * connections are suspended, so /healthz and /metrics never wait for it.
 * Scrapes that wait together share a render; when a render finds Redis
 * unavailable, every scrape that waited for it gets 503.
 *
 * Each scrape gets the format its Accept header prefers (text 0.0.4 or
 * OpenMetrics 1.0), gzip when its Accept-Encoding allows it, and, when
 * configured, TLS with optional client certificates and HTTP basic auth.
 * /healthz answers "ok" without rendering and without credentials.
 *
 * Every answer carries the configured headers (gpx_headers.h). With a rate
 * limit, a client address past it gets 429 before any credential is
 * checked (bcrypt is dear). The TLS credential and the password users can
 * be replaced while serving (gpx_http_use_tls, gpx_http_use_auth): new
 * handshakes and checks use the new ones, connections stay open.
 * /healthz answers "ok" without rendering and without credentials; /readyz,
 * likewise without credentials, 200 or 503 with the line of `ready`.
 */
#ifndef GPX_HTTP_H
#define GPX_HTTP_H

#include "gpx_auth.h"
#include "gpx_buf.h"
#include "gpx_format.h"
#include "gpx_headers.h"
#include "gpx_log.h"
#include "gpx_tls.h"

/* What a render function answers. */
enum gpx_http_result {
    GPX_HTTP_OK = 0,
    GPX_HTTP_NOT_FOUND = 1,
    GPX_HTTP_UNAVAILABLE = 2, /* what the page is made of cannot be read now (503) */
    GPX_HTTP_ERROR = -1,
};

/* Scrapes of the deferred page that may wait at once; more get 503. */
#define GPX_HTTP_DEFERRED_WAITING 16

/* Renders the page at `path` ("/metrics", ...) in `format` into `out` (empty
 * on entry), whole: the server sends its bytes as they are, and knows
 * nothing of what they mean. On GPX_HTTP_OK, *content_type names them
 * (static text, sent as the Content-Type header). Returns an enum
 * gpx_http_result. Called on the server's thread, and for the deferred page
 * on the reader's thread (at the same time). */
typedef int (*gpx_http_render_fn)(void *ctx, const char *path, enum gpx_format format, struct gpx_buf *out,
                                  const char **content_type);

struct gpx_http_config {
    const char *bind;              /* address or host name */
    int port;                      /* 1..65535 */
    unsigned connection_limit;     /* connections served at once */
    unsigned timeout_seconds;      /* idle time before a connection is closed */
    unsigned report_after_seconds; /* failed binding reported after this long */
    int verbose;                   /* log every answer */
    const struct gpx_tls *tls;     /* certificate and key: serve HTTPS; NULL or empty: plain HTTP */
    struct gpx_auth *auth;         /* users of basic auth; NULL: none asked */
    const char *deferred_path;     /* the page that waits on the network, rendered off the serving thread; NULL: none */
    const struct gpx_headers *headers; /* added to every answer; NULL: none (copied) */
    unsigned rate_limit;               /* requests per second per client address; 0: no limit */
    unsigned rate_burst;               /* requests at once per client address */
    /* /readyz: returns 1 (200) or 0 (503), with one line for the body in
     * `why`; must not block (it reads what another thread decided). NULL:
     * /readyz is not served. */
    int (*ready)(char *why, size_t len);
};

struct gpx_http;

/* Starts the server's thread with every signal blocked (the master's signals
 * stay the master's). Returns the handle, or NULL if the thread could not be
 * started. Binding happens on that thread: failures are retried every second,
 * reported once through `log` after report_after_seconds, then retried every
 * 10 seconds. `cfg->bind` is copied; cfg->tls and cfg->auth are borrowed and
 * must outlive the server. cfg->deferred_path is copied. */
struct gpx_http *gpx_http_launch(const struct gpx_http_config *cfg, gpx_http_render_fn render, void *render_ctx,
                                 gpx_log_fn log);

/* In a child forked from the process that launched the server: closes the
 * inherited sockets of the metrics port (listening and accepted) so that the
 * child never holds the port. Touches no thread. */
void gpx_http_close_inherited(int port);

/* From now on new TLS handshakes get tls's certificate and key, and client
 * certificates are checked against its CAs and allowed names. Takes tls
 * (heap-allocated, loaded by gpx_tls_load); the one it replaces, if the
 * server owned it, is kept at least a minute (a handshake that began before
 * may still use it) and freed by a later call or by gpx_http_stop. Any
 * thread; the server must have been launched with TLS. */
void gpx_http_use_tls(struct gpx_http *srv, struct gpx_tls *tls);

/* From now on credentials are checked against auth's users. Takes auth
 * (heap-allocated, loaded by gpx_auth_load); the one it replaces, if the
 * server owned it, is freed at once (no check is running then). Any
 * thread; the server must have been launched with basic auth. */
void gpx_http_use_auth(struct gpx_http *srv, struct gpx_auth *auth);

/* Stops serving and joins the threads; scrapes waiting for the deferred
 * page get 503. Safe with NULL. */
void gpx_http_stop(struct gpx_http *srv);

/* Opens a listening socket (close-on-exec, SO_REUSEADDR) on bind:port.
 * Returns the descriptor, or -1 with errno set. */
int gpx_http_listen(const char *address, int port);

#endif
