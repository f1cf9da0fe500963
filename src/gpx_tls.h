/* gpx_tls.h - TLS for the metrics endpoint: the PEM files and the check of
 * a client's certificate.
 *
 * The master reads and checks the files at start-up, before it forks, so a
 * missing, unreadable or invalid certificate or key stops uWSGI with one
 * line instead of leaving an endpoint that never answers. libmicrohttpd's
 * GnuTLS serves with what was read; when client CAs are given (a file, a
 * directory of files, or both), the handshake asks for a client
 * certificate and the metrics thread asks GnuTLS whether it verified.
 */
#ifndef GPX_TLS_H
#define GPX_TLS_H

#include <stddef.h>

#include "gpx_config.h"

#define GPX_TLS_FILE_MAX (1 << 20)         /* bytes read from one PEM file */
#define GPX_TLS_CAPATH_MAX (8 * (1 << 20)) /* bytes read from a directory of CA files */
#define GPX_TLS_CAPATH_FILES 4096          /* files looked at in that directory */

struct gpx_tls {
    char *cert_pem;           /* server certificate chain, NUL-terminated; NULL: no TLS */
    char *key_pem;            /* its private key */
    char *client_ca_pem;      /* CAs that sign client certificates; NULL: none asked */
    int client_cert_required; /* with client CAs: 1 no certificate, no metrics; 0 checked when offered */
};

/* What a connection's client certificate is worth. */
enum gpx_tls_peer {
    GPX_TLS_PEER_NONE,     /* none offered */
    GPX_TLS_PEER_VERIFIED, /* verified against the client CAs */
    GPX_TLS_PEER_REJECTED, /* offered, and did not verify */
};

/* Reads and checks cfg's gpx-ssl-certfile, gpx-ssl-keyfile,
 * gpx-ssl-client-cafile and gpx-ssl-client-capath (each optional: without a
 * certificate tls stays empty). In the directory every regular file is
 * read, through symbolic links, once each: those without a PEM certificate
 * (CRLs, notes) are skipped, a PEM certificate that does not parse is an
 * error, and so is a directory without one. Returns 0, or -1 with the
 * one-line error naming the option, its variable, the path and what is
 * expected. */
int gpx_tls_load(struct gpx_tls *tls, const struct gpx_config *cfg, char *err, size_t errlen);

/* Frees what gpx_tls_load read. Safe on a zeroed struct. */
void gpx_tls_free(struct gpx_tls *tls);

/* The client certificate of a TLS session (a gnutls_session_t), as an
 * enum gpx_tls_peer. */
enum gpx_tls_peer gpx_tls_peer_check(void *session);

#endif
