/* gpx_reload.c - watching and reading the endpoint's files (see gpx_reload.h). */
#define _GNU_SOURCE
#include "gpx_reload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gpx_auth.h"
#include "gpx_tls.h"

static void
take_id(const char *path, struct gpx_file_id *id)
{
    struct stat st;

    memset(id, 0, sizeof(*id));
    if (path[0] == '\0' || stat(path, &st) != 0) {
        return;
    }
    id->exists = 1;
    id->dev = st.st_dev;
    id->ino = st.st_ino;
    id->size = st.st_size;
    id->mtime = st.st_mtim;
    id->ctime = st.st_ctim;
}

static int
same_id(const struct gpx_file_id *a, const struct gpx_file_id *b)
{
    return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
           a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

static void
tls_paths(const struct gpx_config *cfg, const char *paths[GPX_RELOAD_TLS_FILES])
{
    paths[0] = cfg->ssl_certfile;
    paths[1] = cfg->ssl_keyfile;
    paths[2] = cfg->ssl_client_cafile;
    paths[3] = cfg->ssl_client_capath;
}

/* Takes the identities of `count` paths; returns whether any differs. */
static int
moved(const char *const *paths, struct gpx_file_id *ids, unsigned count)
{
    int changed = 0;
    unsigned i;

    for (i = 0; i < count; i++) {
        struct gpx_file_id now;

        take_id(paths[i], &now);
        if (!same_id(&now, &ids[i])) {
            ids[i] = now;
            changed = 1;
        }
    }
    return changed;
}

void
gpx_reload_init(struct gpx_reload *r, const struct gpx_config *cfg, int tls, int auth, gpx_log_fn log)
{
    const char *paths[GPX_RELOAD_TLS_FILES];

    memset(r, 0, sizeof(*r));
    r->cfg = cfg;
    r->log = log;
    r->tls = tls;
    r->auth = auth;
    atomic_init(&r->errors, 0);
    atomic_init(&r->reloads, 0);
    tls_paths(cfg, paths);
    if (tls) {
        moved(paths, r->tls_ids, GPX_RELOAD_TLS_FILES);
    }
    if (auth) {
        take_id(cfg->basic_auth_file, &r->auth_id);
    }
}

/* The one-line error of a load, without its "gpx: " (the caller's line has one). */
static const char *
without_prefix(const char *err)
{
    return strncmp(err, "gpx: ", 5) == 0 ? err + 5 : err;
}

static void
reload_tls(struct gpx_reload *r, struct gpx_http *srv)
{
    struct gpx_tls *tls = calloc(1, sizeof(*tls));
    char err[1024];

    if (tls == NULL || gpx_tls_load(tls, r->cfg, err, sizeof(err)) != 0) {
        atomic_fetch_add(&r->errors, 1);
        gpx_log(r->log,
                "gpx: the endpoint's TLS files changed but do not load, so new connections keep the previous "
                "certificate, key and client CAs (gunicorn_exporter_endpoint_reload_errors_total): %s",
                tls == NULL ? "out of memory" : without_prefix(err));
        free(tls);
        return;
    }
    gpx_http_use_tls(srv, tls);
    atomic_fetch_add(&r->reloads, 1);
    gpx_log(r->log, "gpx: the endpoint's TLS files changed: new connections get the certificate of %s%s",
            r->cfg->ssl_certfile, tls->client_ca_pem != NULL ? " and are checked against the client CAs read now" : "");
}

static void
reload_auth(struct gpx_reload *r, struct gpx_http *srv)
{
    struct gpx_auth *auth = calloc(1, sizeof(*auth));
    char why[512];

    if (auth == NULL || gpx_auth_load(auth, r->cfg->basic_auth_file, why, sizeof(why)) != 0) {
        atomic_fetch_add(&r->errors, 1);
        gpx_log(r->log,
                "gpx: %s / %s \"%s\" changed but does not load, so scrapes are checked against the previous users "
                "(gunicorn_exporter_endpoint_reload_errors_total): %s",
                gpx_option_catalog[GPX_OPT_BASIC_AUTH_FILE].option, r->cfg->variable[GPX_OPT_BASIC_AUTH_FILE],
                r->cfg->basic_auth_file, auth == NULL ? "out of memory" : why);
        free(auth);
        return;
    }
    gpx_http_use_auth(srv, auth);
    atomic_fetch_add(&r->reloads, 1);
    gpx_log(r->log, "gpx: %s changed: scrapes are checked against its %u user(s) now",
            gpx_option_catalog[GPX_OPT_BASIC_AUTH_FILE].option, auth->count);
}

void
gpx_reload_check(struct gpx_reload *r, struct gpx_http *srv, const struct timespec *now)
{
    const char *paths[GPX_RELOAD_TLS_FILES];

    if (srv == NULL || (!r->tls && !r->auth) || (r->last_check.tv_sec != 0 && now->tv_sec - r->last_check.tv_sec < 1)) {
        return;
    }
    r->last_check = *now;
    if (r->tls) {
        tls_paths(r->cfg, paths);
        if (moved(paths, r->tls_ids, GPX_RELOAD_TLS_FILES)) {
            r->tls_moved = 1; /* maybe halfway through a rotation: next time */
        } else if (r->tls_moved) {
            r->tls_moved = 0;
            reload_tls(r, srv);
        }
    }
    if (r->auth) {
        paths[0] = r->cfg->basic_auth_file;
        if (moved(paths, &r->auth_id, 1)) {
            r->auth_moved = 1;
        } else if (r->auth_moved) {
            r->auth_moved = 0;
            reload_auth(r, srv);
        }
    }
}

uint64_t
gpx_reload_errors(const struct gpx_reload *r)
{
    return atomic_load(&((struct gpx_reload *)(uintptr_t)r)->errors);
}
