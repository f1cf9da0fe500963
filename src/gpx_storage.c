/* gpx_storage.c - the storages gpx has, and the choice of one. */
#include "gpx_storage.h"

#include <string.h>

/* The storages gpx has, one line each, each defined as gpx_storage_<name>
 * in its own gpx_storage_<name>.c. The first that the settings want runs;
 * files, which every setting accepts, is the default and comes last. */
#define GPX_STORAGES(X)                                                                                                \
    X(redis)                                                                                                           \
    X(files)

#define DECLARE(name) extern const struct gpx_storage_ops gpx_storage_##name;
#define ENTRY(name) &gpx_storage_##name,

GPX_STORAGES(DECLARE)

static const struct gpx_storage_ops *const storages[] = {GPX_STORAGES(ENTRY)};

void
gpx_storage_choose(struct gpx_storage *s, const struct gpx_storage_context *ctx)
{
    size_t i = 0, last = sizeof(storages) / sizeof(storages[0]) - 1;

    memset(s, 0, sizeof(*s));
    s->ctx = *ctx;
    while (i < last && !storages[i]->wanted(ctx->cfg)) {
        i++;
    }
    s->ops = storages[i];
}

const struct gpx_scoreboard *
gpx_storage_base(const struct gpx_storage *s)
{
    return s->base.workers > 0 ? &s->base : NULL;
}
