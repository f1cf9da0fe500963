/* gpx_tls.h - TLS for the metrics endpoint: the PEM files and the check of
 * a client's certificate.
 *
 * The master reads and checks the files at start-up, before it forks, so a
 * missing, unreadable or invalid certificate or key stops uWSGI with one
 * line instead of leaving an endpoint that never answers. libmicrohttpd's
 * GnuTLS serves with what was read; when a client CA is given, the metrics
 * thread asks GnuTLS whether each connection's peer certificate verified.
 */
#ifndef GPX_TLS_H
#define GPX_TLS_H

#include <stddef.h>

#include "gpx_config.h"

#define GPX_TLS_FILE_MAX (1 << 20) /* bytes read from one PEM file */

struct gpx_tls {
    char *cert_pem;      /* server certificate chain, NUL-terminated; NULL: no TLS */
    char *key_pem;       /* its private key */
    char *client_ca_pem; /* CAs that sign client certificates; NULL: none asked */
};

/* Reads and checks cfg's gpx-ssl-certfile, gpx-ssl-keyfile and
 * gpx-ssl-client-cafile (each optional: without a certificate tls stays
 * empty). Returns 0, or -1 with the one-line error naming the option, its
 * variable, the path and what is expected. */
int gpx_tls_load(struct gpx_tls *tls, const struct gpx_config *cfg, char *err, size_t errlen);

/* Frees what gpx_tls_load read. Safe on a zeroed struct. */
void gpx_tls_free(struct gpx_tls *tls);

/* 1 when the TLS session (a gnutls_session_t) carries a client certificate
 * that verified against the client CAs, 0 otherwise. */
int gpx_tls_peer_verified(void *session);

#endif
