/* gpx_storage.c - the storages gpx has, and the choice of one. */
#include "gpx_storage.h"

#include <string.h>

/* The first storage the settings ask for runs; files, which every setting
 * accepts, is the default and comes last. */
static const struct gpx_storage_ops *const storages[] = {
    &gpx_storage_redis,
    &gpx_storage_files,
};

void
gpx_storage_choose(struct gpx_storage *s, const struct gpx_storage_context *ctx)
{
    size_t i;

    memset(s, 0, sizeof(*s));
    s->ctx = *ctx;
    for (i = 0; i < sizeof(storages) / sizeof(storages[0]); i++) {
        if (storages[i]->wanted(ctx->cfg)) {
            s->ops = storages[i];
            return;
        }
    }
    s->ops = &gpx_storage_files;
}

const struct gpx_scoreboard *
gpx_storage_base(const struct gpx_storage *s)
{
    return s->base.workers > 0 ? &s->base : NULL;
}
