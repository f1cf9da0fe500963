/* gpx_error_names.c - the shared table of exception class names (see
 * gpx_error_names.h). Called on a worker's exception path and by readers
 * that sum counters, never for a request that did not raise. */
#include "gpx_error_names.h"

#include <string.h>

/* How long a reader waits for a slot another process is writing (a copy of
 * at most GPX_ERROR_NAME_MAX bytes). A writer that died there leaves the
 * slot WRITING for good: the reader then goes on to the next slot. */
#define WRITING_SPINS 100000

/* Cuts at most `max` bytes of UTF-8 without splitting a character, so that
 * a cut name stays a valid label value. */
static size_t
utf8_cut(const char *text, size_t len, size_t max)
{
    if (len <= max) {
        return len;
    }
    len = max;
    while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80) {
        len--;
    }
    return len;
}

static uint32_t
settled_state(struct gpx_error_name *slot)
{
    uint32_t state = __atomic_load_n(&slot->state, __ATOMIC_ACQUIRE);
    unsigned spins;

    for (spins = 0; state == GPX_ERROR_NAME_WRITING && spins < WRITING_SPINS; spins++) {
        state = __atomic_load_n(&slot->state, __ATOMIC_ACQUIRE);
    }
    return state;
}

int
gpx_error_names_find_or_add(struct gpx_error_names *table, const char *name, size_t len)
{
    unsigned i;

    len = utf8_cut(name, len, GPX_ERROR_NAME_MAX);
    if (len == 0) {
        return -1;
    }
    for (i = 0; i < GPX_ERROR_NAMES; i++) {
        struct gpx_error_name *slot = &table->slot[i];
        uint32_t state = settled_state(slot);

        if (state == GPX_ERROR_NAME_FREE) {
            uint32_t expected = GPX_ERROR_NAME_FREE;

            if (__atomic_compare_exchange_n(&slot->state, &expected, GPX_ERROR_NAME_WRITING, 0, __ATOMIC_ACQUIRE,
                                            __ATOMIC_ACQUIRE)) {
                memcpy(slot->name, name, len);
                slot->name[len] = '\0';
                slot->len = (uint32_t)len;
                __atomic_store_n(&slot->state, GPX_ERROR_NAME_READY, __ATOMIC_RELEASE);
                return (int)i;
            }
            /* Another writer claimed it first: it may be claiming this very name. */
            state = settled_state(slot);
        }
        if (state == GPX_ERROR_NAME_READY && slot->len == len && memcmp(slot->name, name, len) == 0) {
            return (int)i;
        }
    }
    return -1;
}

const char *
gpx_error_names_get(const struct gpx_error_names *table, unsigned index)
{
    const struct gpx_error_name *slot;

    if (index >= GPX_ERROR_NAMES) {
        return NULL;
    }
    slot = &table->slot[index];
    if (__atomic_load_n(&slot->state, __ATOMIC_ACQUIRE) != GPX_ERROR_NAME_READY || slot->len > GPX_ERROR_NAME_MAX ||
        slot->name[slot->len] != '\0') {
        return NULL; /* free, half-written, or damaged: never read past it */
    }
    return slot->name;
}

void
gpx_error_names_repair(struct gpx_error_names *table)
{
    unsigned i;

    for (i = 0; i < GPX_ERROR_NAMES; i++) {
        if (table->slot[i].state != GPX_ERROR_NAME_READY) {
            memset(&table->slot[i], 0, sizeof(table->slot[i]));
        }
    }
}

void
gpx_error_names_merge(struct gpx_error_names *into, const struct gpx_error_names *from, int map[GPX_ERROR_NAMES])
{
    unsigned i;

    for (i = 0; i < GPX_ERROR_NAMES; i++) {
        const char *name = gpx_error_names_get(from, i);

        map[i] = name != NULL ? gpx_error_names_find_or_add(into, name, strlen(name)) : -1;
    }
}

const char *
gpx_error_name_label(const char *name, size_t *len)
{
    static const char *const implied[] = {"builtins.", "__main__."};
    unsigned i;

    for (i = 0; i < sizeof(implied) / sizeof(implied[0]); i++) {
        size_t n = strlen(implied[i]);

        if (*len > n && memcmp(name, implied[i], n) == 0) {
            *len -= n;
            return name + n;
        }
    }
    return name;
}
