/* gpx_names.c - the metric names a page claims (see gpx_names.h). */
#define _POSIX_C_SOURCE 200809L
#include "gpx_names.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpx_buf.h"

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

    for (i = 0; i < set->used; i++) {
        free(set->names[i]);
    }
    free(set->names);
    gpx_index_free(&set->index);
    memset(set, 0, sizeof(*set));
}

static const char *
name_at(const void *items, size_t pos, size_t *len)
{
    const char *const *names = items;

    *len = strlen(names[pos]);
    return names[pos];
}

int
gpx_names_has(const struct gpx_names *set, const char *name)
{
    return gpx_index_find(&set->index, name, strlen(name), set->names, name_at) != 0;
}

int
gpx_names_add(struct gpx_names *set, const char *name)
{
    uint32_t *slot = gpx_index_place(&set->index, name, strlen(name), set->names, name_at);

    if (slot == NULL) {
        return -1;
    }
    if (*slot != 0) {
        return 0;
    }
    if (gpx_grow(&set->names, &set->cap, set->used, sizeof(*set->names), 64) != 0 ||
        (set->names[set->used] = strdup(name)) == NULL) {
        return -1;
    }
    gpx_index_fill(&set->index, slot, set->used++);
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
