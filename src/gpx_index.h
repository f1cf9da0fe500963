/* gpx_index.h - finding an item of an array by its key, in constant time.
 *
 * Open addressing (linear probing, FNV-1a) from a key of bytes to the item's
 * position in an array the caller owns and only ever appends to. The index
 * keeps positions, never keys: it asks the caller for the key of the item
 * at a position (a gpx_index_key_fn), so items keep their keys where they
 * already are. Half full at most; grows by doubling.
 *
 *     uint32_t *slot = gpx_index_place(&ix, key, len, items, key_at);
 *
 *     if (slot == NULL) -> out of memory
 *     if (*slot != 0) -> the item is items[*slot - 1]
 *     else append the item at position n, then gpx_index_fill(&ix, slot, n)
 */
#ifndef GPX_INDEX_H
#define GPX_INDEX_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gpx_hash.h"

/* Zeroed: an empty index. */
struct gpx_index {
    uint32_t *slot; /* 0 = empty, else position + 1 */
    size_t cap;     /* a power of two, or 0 */
    size_t used;    /* slots filled */
};

/* The key of the item at `pos` of `items`, its length in *len. */
typedef const char *(*gpx_index_key_fn)(const void *items, size_t pos, size_t *len);

/* Frees the slots; the index is empty again. */
void gpx_index_free(struct gpx_index *ix);

/* Makes room for one more key (items: the array as it is now). Returns 0,
 * or -1 on memory (the index is unchanged). */
int gpx_index_reserve(struct gpx_index *ix, const void *items, gpx_index_key_fn key_at);

/* The slot of `key`: holding its item's position + 1, or 0 where it would
 * go. NULL when the index has no room yet (never reserved). Inline: the
 * merge of the app's samples looks up every sample, and a call through the
 * key function it cannot see costs about 1% of the merge. */
static inline uint32_t *
gpx_index_slot(const struct gpx_index *ix, const char *key, size_t len, const void *items, gpx_index_key_fn key_at)
{
    size_t i;

    if (ix->cap == 0) {
        return NULL;
    }
    for (i = (size_t)gpx_fnv1a(key, len) & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1)) {
        size_t klen;
        const char *k;

        if (ix->slot[i] == 0) {
            return &ix->slot[i];
        }
        k = key_at(items, ix->slot[i] - 1, &klen);
        if (klen == len && memcmp(k, key, len) == 0) {
            return &ix->slot[i];
        }
    }
}

/* Records the item at `pos` in the empty slot gpx_index_slot found for its
 * key (room reserved since). */
void gpx_index_fill(struct gpx_index *ix, uint32_t *slot, size_t pos);

/* The position + 1 of the item with `key`, or 0 when there is none. */
static inline size_t
gpx_index_find(const struct gpx_index *ix, const char *key, size_t len, const void *items, gpx_index_key_fn key_at)
{
    const uint32_t *slot = gpx_index_slot(ix, key, len, items, key_at);

    return slot != NULL ? *slot : 0;
}

/* Makes room for one more key, then finds the slot of `key` as
 * gpx_index_slot does. NULL on memory (the index is unchanged). */
static inline uint32_t *
gpx_index_place(struct gpx_index *ix, const char *key, size_t len, const void *items, gpx_index_key_fn key_at)
{
    return gpx_index_reserve(ix, items, key_at) == 0 ? gpx_index_slot(ix, key, len, items, key_at) : NULL;
}

#endif
