/* gpx_fleet.c - the fleet view (see gpx_fleet.h). */
#define _POSIX_C_SOURCE 200809L
#include "gpx_fleet.h"

#include <stdlib.h>
#include <string.h>

#include "gpx_exposition.h"
#include "gpx_snapshot.h"

struct collected {
    struct gpx_fleet_member *members;
    unsigned count;
    unsigned cap;
    int failed;
};

/* Keeps a copy of each instance whose snapshot this gpx can read. */
static void
collect(void *ctx, const char *instance, const void *blob, size_t len)
{
    struct collected *c = ctx;
    const struct gpx_snapshot_header *h;
    char err[160];
    void *copy;
    char *name;

    if (gpx_snapshot_check(blob, len, &h, err, sizeof(err)) != 0) {
        return; /* another gpx layout: not this view's to read */
    }
    if (c->count == c->cap) {
        unsigned cap = c->cap ? c->cap * 2 : 8;
        struct gpx_fleet_member *m = realloc(c->members, cap * sizeof(*m));

        if (m == NULL) {
            c->failed = 1;
            return;
        }
        c->members = m;
        c->cap = cap;
    }
    copy = malloc(len);
    name = strdup(instance);
    if (copy == NULL || name == NULL) {
        free(copy);
        free(name);
        c->failed = 1;
        return;
    }
    memcpy(copy, blob, len);
    c->members[c->count].instance = name;
    c->members[c->count].snapshot = copy;
    c->count++;
}

int
gpx_fleet_render(struct gpx_buf *out, enum gpx_format format, const struct gpx_redis_config *cfg,
                 struct gpx_redis_status *status)
{
    struct collected c;
    unsigned i;
    int rc;

    memset(&c, 0, sizeof(c));
    rc = gpx_redis_fleet(cfg, status, collect, &c);
    if (rc < 0) {
        rc = GPX_FLEET_UNAVAILABLE;
    } else if (c.failed || gpx_render_fleet(out, format, c.members, c.count) != 0) {
        rc = GPX_FLEET_ERROR;
    } else {
        rc = GPX_FLEET_OK;
    }
    for (i = 0; i < c.count; i++) {
        free((void *)c.members[i].instance);
        free((void *)c.members[i].snapshot);
    }
    free(c.members);
    return rc;
}
