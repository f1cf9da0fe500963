/* gpx_tls_none.c - gpx_tls.h for a build without GnuTLS.
 *
 * uwsgiplugin.py compiles this file instead of gpx_tls.c when GnuTLS's
 * headers are missing (or GPX_TLS=no). The plugin refuses gpx-ssl-certfile
 * at start-up in such a build, so the endpoint never has TLS to serve; these
 * functions only keep that true if they are reached anyway.
 */
#include "gpx_tls.h"

#include <stdio.h>
#include <string.h>

int
gpx_tls_load(struct gpx_tls *tls, const struct gpx_config *cfg, char *err, size_t errlen)
{
    memset(tls, 0, sizeof(*tls));
    if (cfg->ssl_certfile[0] != '\0') {
        snprintf(err, errlen, "gpx: %s needs TLS, which this gpx was built without (no GnuTLS)",
                 gpx_option_catalog[GPX_OPT_SSL_CERTFILE].option);
        return -1;
    }
    return 0;
}

void
gpx_tls_free(struct gpx_tls *tls)
{
    memset(tls, 0, sizeof(*tls));
}

enum gpx_tls_peer
gpx_tls_peer_check(const struct gpx_tls *tls, void *session)
{
    (void)tls;
    (void)session;
    return GPX_TLS_PEER_NONE;
}

void *
gpx_tls_retrieve_function(gpx_tls_current_fn current, void *ctx)
{
    (void)current;
    (void)ctx;
    return NULL;
}
