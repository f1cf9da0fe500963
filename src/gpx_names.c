/* gpx_names.c - the metric names a page claims (see gpx_names.h). */
#define _POSIX_C_SOURCE 200809L
#include "gpx_names.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The forms reserved for each of gpx's families, after the base itself. */
static const char *const reserved_suffixes[] = {"_total", "_created", "_bucket", "_count", "_sum"};
#define RESERVED_SUFFIXES (sizeof(reserved_suffixes) / sizeof(reserved_suffixes[0]))

/* Room for a base and its longest suffix. */
#define FORM_MAX (GPX_NAME_MAX + 16)

void
gpx_names_init(struct gpx_names *set)
{
    memset(set, 0, sizeof(*set));
}

void
gpx_names_free(struct gpx_names *set)
{
    size_t i;

    for (i = 0; i < set->cap; i++) {
        free(set->slot[i]);
    }
    free(set->slot);
    memset(set, 0, sizeof(*set));
}

static uint64_t
hash_name(const char *s)
{
    uint64_t h = 14695981039346656037ull;

    for (; *s; s++) {
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    }
    return h;
}

static char **
find(char **slot, size_t cap, const char *name)
{
    size_t i = (size_t)hash_name(name) & (cap - 1);

    while (slot[i] != NULL && strcmp(slot[i], name) != 0) {
        i = (i + 1) & (cap - 1);
    }
    return &slot[i];
}

int
gpx_names_has(const struct gpx_names *set, const char *name)
{
    return set->cap != 0 && *find(set->slot, set->cap, name) != NULL;
}

int
gpx_names_add(struct gpx_names *set, const char *name)
{
    char **at;

    if ((set->used + 1) * 2 > set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 64, i;
        char **slot = calloc(cap, sizeof(*slot));

        if (slot == NULL) {
            return -1;
        }
        for (i = 0; i < set->cap; i++) {
            if (set->slot[i] != NULL) {
                *find(slot, cap, set->slot[i]) = set->slot[i];
            }
        }
        free(set->slot);
        set->slot = slot;
        set->cap = cap;
    }
    at = find(set->slot, set->cap, name);
    if (*at == NULL) {
        *at = strdup(name);
        if (*at == NULL) {
            return -1;
        }
        set->used++;
    }
    return 0;
}

void
gpx_names_base(char *base, size_t len, const char *name, const char *type)
{
    size_t n = strlen(name);

    if (strcmp(type, "counter") == 0 && n > 6 && strcmp(name + n - 6, "_total") == 0) {
        n -= 6;
    }
    snprintf(base, len, "%.*s", (int)n, name);
}

/* base + suffix into buf (FORM_MAX bytes, base at most GPX_NAME_MAX). */
static const char *
form(char *buf, const char *base, const char *suffix)
{
    snprintf(buf, FORM_MAX, "%s%s", base, suffix);
    return buf;
}

static int
too_long(const char *base)
{
    return strlen(base) > GPX_NAME_MAX;
}

int
gpx_names_reserve_base(struct gpx_names *set, const char *base)
{
    char buf[FORM_MAX];
    size_t i;
    int rc;

    if (too_long(base)) {
        return 0; /* no family with such a name is let on the page */
    }
    rc = gpx_names_add(set, base);
    for (i = 0; i < RESERVED_SUFFIXES && rc == 0; i++) {
        rc = gpx_names_add(set, form(buf, base, reserved_suffixes[i]));
    }
    return rc;
}

int
gpx_names_reserve(struct gpx_names *set, const char *name, const char *type)
{
    char base[GPX_NAME_MAX + 1];

    if (too_long(name)) {
        return 0;
    }
    gpx_names_base(base, sizeof(base), name, type);
    return gpx_names_reserve_base(set, base);
}

int
gpx_names_reserved(const struct gpx_names *set, const char *base)
{
    char buf[FORM_MAX];
    size_t i;

    if (too_long(base) || gpx_names_has(set, base)) {
        return 1;
    }
    for (i = 0; i < RESERVED_SUFFIXES; i++) {
        if (gpx_names_has(set, form(buf, base, reserved_suffixes[i]))) {
            return 1;
        }
    }
    return 0;
}

/* The suffixes a family of `type` claims after its base (NULL-terminated). */
static const char *const *
claimed_suffixes(const char *type)
{
    static const char *const counter[] = {"_total", "_created", NULL};
    static const char *const histogram[] = {"_bucket", "_count", "_sum", "_created", NULL};
    static const char *const summary[] = {"_count", "_sum", "_created", NULL};
    static const char *const none[] = {NULL};

    if (strcmp(type, "counter") == 0) {
        return counter;
    }
    if (strcmp(type, "histogram") == 0) {
        return histogram;
    }
    if (strcmp(type, "summary") == 0) {
        return summary;
    }
    return none;
}

int
gpx_names_claimed(const struct gpx_names *set, const char *base, const char *type)
{
    const char *const *s;
    char buf[FORM_MAX];

    if (too_long(base) || gpx_names_has(set, base)) {
        return 1;
    }
    for (s = claimed_suffixes(type); *s != NULL; s++) {
        if (gpx_names_has(set, form(buf, base, *s))) {
            return 1;
        }
    }
    return 0;
}

int
gpx_names_claim(struct gpx_names *set, const char *base, const char *type)
{
    const char *const *s;
    char buf[FORM_MAX];
    int rc;

    if (too_long(base)) {
        return -1;
    }
    rc = gpx_names_add(set, base);
    for (s = claimed_suffixes(type); *s != NULL && rc == 0; s++) {
        rc = gpx_names_add(set, form(buf, base, *s));
    }
    return rc;
}
