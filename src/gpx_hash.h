/* gpx_hash.h - FNV-1a (64-bit), the one hash gpx uses.
 *
 * For tables keyed by text (gpx_index.h) and for identities made of a few
 * bytes (a store's epoch, the build flags of the uWSGI a plugin was built
 * for). Not for anything an attacker must not steer: the tables it serves
 * hold names gpx or the app chose, bounded in number.
 */
#ifndef GPX_HASH_H
#define GPX_HASH_H

#include <stddef.h>
#include <stdint.h>

#define GPX_FNV1A_BASIS 14695981039346656037ull
#define GPX_FNV1A_PRIME 1099511628211ull

/* The hash of `len` bytes at `data`. */
static inline uint64_t
gpx_fnv1a(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = GPX_FNV1A_BASIS;
    size_t i;

    for (i = 0; i < len; i++) {
        h = (h ^ p[i]) * GPX_FNV1A_PRIME;
    }
    return h;
}

#endif
