/* gpx_tls.h - TLS for the metrics endpoint: the PEM files, the versions
 * served and the check of a client's certificate.
 *
 * The master reads and checks the files at start-up, before it forks, so a
 * missing, unreadable or invalid certificate or key stops uWSGI with one
 * line instead of leaving an endpoint that never answers. Read again when
 * they change (gpx_reload.h), they make a new struct gpx_tls that new
 * handshakes use: libmicrohttpd's GnuTLS asks for the certificate and key
 * of each handshake (gpx_tls_retrieve_function). When client CAs are given
 * (a file, a directory of files, or both), the handshake asks for a client
 * certificate and the metrics thread checks it against the CAs of the
 * struct gpx_tls in use, then its subject alternative names against
 * gpx-ssl-client-allowed-sans.
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
    char priorities[96];      /* GnuTLS priority string of the versions served */
    const char *allowed_sans; /* comma-separated names a client certificate must carry one of; "" or NULL: any */
    void *credential;         /* the certificate chain and key as GnuTLS serves them */
    void *trust;              /* the client CAs as a GnuTLS trust list; NULL: none */
};

/* What a connection's client certificate is worth. */
enum gpx_tls_peer {
    GPX_TLS_PEER_NONE,        /* none offered */
    GPX_TLS_PEER_VERIFIED,    /* verified against the client CAs */
    GPX_TLS_PEER_REJECTED,    /* offered, and did not verify */
    GPX_TLS_PEER_NOT_ALLOWED, /* verified, with none of the allowed subject alternative names */
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

/* The client certificate of a TLS session (a gnutls_session_t), checked
 * against tls's client CAs and allowed names, as an enum gpx_tls_peer. */
enum gpx_tls_peer gpx_tls_peer_check(const struct gpx_tls *tls, void *session);

/* What gives the struct gpx_tls a new handshake is served with. It must
 * stay valid for as long as a handshake that got it may run. */
typedef const struct gpx_tls *(*gpx_tls_current_fn)(void *ctx);

/* The function libmicrohttpd's MHD_OPTION_HTTPS_CERT_CALLBACK takes (a
 * gnutls_certificate_retrieve_function2), serving each handshake the
 * credential of current(ctx). One per process. NULL without TLS. */
void *gpx_tls_retrieve_function(gpx_tls_current_fn current, void *ctx);

#endif
