/* gpx_auth_none.c - gpx_auth.h for a build without bcrypt.
 *
 * uwsgiplugin.py compiles this file instead of gpx_auth.c when libcrypt's
 * crypt.h or GnuTLS's headers are missing (or GPX_BCRYPT=no). The plugin
 * refuses gpx-basic-auth-file at start-up in such a build; these functions
 * read no file and accept no credentials if they are reached anyway.
 */
#include "gpx_auth.h"

#include <stdio.h>
#include <string.h>

static int
left_out(struct gpx_auth *auth, char *why, size_t whylen)
{
    memset(auth, 0, sizeof(*auth));
    snprintf(why, whylen, "this gpx was built without basic auth (no libcrypt or no GnuTLS)");
    return -1;
}

int
gpx_auth_parse(struct gpx_auth *auth, const char *text, size_t len, char *why, size_t whylen)
{
    (void)text;
    (void)len;
    return left_out(auth, why, whylen);
}

int
gpx_auth_load(struct gpx_auth *auth, const char *path, char *why, size_t whylen)
{
    (void)path;
    return left_out(auth, why, whylen);
}

int
gpx_auth_check(struct gpx_auth *auth, const char *user, const char *password)
{
    (void)auth;
    (void)user;
    (void)password;
    return 0;
}

void
gpx_auth_free(struct gpx_auth *auth)
{
    memset(auth, 0, sizeof(*auth));
}
