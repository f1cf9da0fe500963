/* gpx_index.c - open addressing from keys to positions (see gpx_index.h). */
#include "gpx_index.h"

#include <stdlib.h>
#include <string.h>

void
gpx_index_free(struct gpx_index *ix)
{
    free(ix->slot);
    memset(ix, 0, sizeof(*ix));
}

int
gpx_index_reserve(struct gpx_index *ix, const void *items, gpx_index_key_fn key_at)
{
    struct gpx_index bigger;
    size_t i;

    if (ix->cap != 0 && (ix->used + 1) * 2 <= ix->cap) {
        return 0;
    }
    bigger.cap = ix->cap ? ix->cap * 2 : 64;
    bigger.used = ix->used;
    bigger.slot = calloc(bigger.cap, sizeof(*bigger.slot));
    if (bigger.slot == NULL) {
        return -1;
    }
    for (i = 0; i < ix->cap; i++) {
        if (ix->slot[i] != 0) {
            size_t len;
            const char *k = key_at(items, ix->slot[i] - 1, &len);

            *gpx_index_slot(&bigger, k, len, items, key_at) = ix->slot[i];
        }
    }
    free(ix->slot);
    *ix = bigger;
    return 0;
}

void
gpx_index_fill(struct gpx_index *ix, uint32_t *slot, size_t pos)
{
    *slot = (uint32_t)(pos + 1);
    ix->used++;
}
