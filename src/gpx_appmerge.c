/* gpx_appmerge.c - the app's samples merged by family (see gpx_appmerge.h). */
#define _GNU_SOURCE
#include "gpx_appmerge.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpx_buf.h"
#include "gpx_exposition.h"

static const char *
family_id_at(const void *items, size_t pos, size_t *len)
{
    const struct gpx_app_family *f = items;

    *len = strlen(f[pos].id);
    return f[pos].id;
}

/* -- names ---------------------------------------------------------------- */

/* Whether c (ASCII) may stand at code point i of a name: prometheus_client's
 * _is_legacy_metric_rune (metric names) and _is_legacy_labelname_rune. */
static int
name_char(unsigned char c, size_t i, int metric)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (metric && c == ':') ||
           (c >= '0' && c <= '9' && i > 0);
}

/* Appends name escaped as prometheus_client's "underscores" escaping:
 * every code point that may not stand where it is becomes one "_". The
 * name is valid UTF-8 (Jansson checked it). */
static void
put_name(struct gpx_buf *b, const char *name, int metric)
{
    const unsigned char *p = (const unsigned char *)name;
    size_t i;

    for (i = 0; *p != '\0'; i++) {
        if (*p < 0x80) {
            gpx_buf_append(b, name_char(*p, i, metric) ? (const char *)p : "_", 1);
            p++;
            continue;
        }
        gpx_buf_puts(b, "_");
        for (p++; (*p & 0xC0) == 0x80; p++) {
        }
    }
}

static char *
escaped_name(const char *name, int metric)
{
    struct gpx_buf b;

    if (gpx_buf_init(&b, strlen(name) + 1) != 0) {
        return NULL;
    }
    put_name(&b, name, metric);
    if (b.failed) {
        gpx_buf_free(&b);
        return NULL;
    }
    return gpx_buf_steal(&b, NULL);
}

/* Whether name is a valid metric name as it is (no escaping needed). */
static int
plain_name(const char *name)
{
    size_t i;

    for (i = 0; name[i] != '\0'; i++) {
        if (!name_char((unsigned char)name[i], i, 1)) {
            return 0;
        }
    }
    return i > 0;
}

/* -- merging -------------------------------------------------------------- */

struct gpx_appmerge *
gpx_appmerge_new(void)
{
    return calloc(1, sizeof(struct gpx_appmerge));
}

static void
family_free(struct gpx_app_family *f)
{
    size_t r;

    for (r = 0; r < f->count; r++) {
        free(f->samples[r].labels);
    }
    free(f->samples);
    free(f->id);
    free(f->escaped);
    free(f->help);
    free(f->source);
    free(f->why);
}

void
gpx_appmerge_free(struct gpx_appmerge *m)
{
    size_t f;

    if (m == NULL) {
        return;
    }
    for (f = 0; f < m->count; f++) {
        family_free(&m->families[f]);
    }
    free(m->families);
    gpx_index_free(&m->by_id);
    free(m);
}

static struct gpx_app_family *
family_for(struct gpx_appmerge *m, const char *name, const char *help, enum gpx_pc_kind type, const char *source)
{
    struct gpx_buf id;
    uint32_t *slot;
    struct gpx_app_family *f;

    if (gpx_buf_init(&id, strlen(name) + 4) != 0) {
        return NULL;
    }
    gpx_buf_printf(&id, "%d\n%s", (int)type, name);
    slot = id.failed ? NULL : gpx_index_place(&m->by_id, id.data, id.len, m->families, family_id_at);
    if (slot == NULL) {
        gpx_buf_free(&id);
        return NULL;
    }
    if (*slot != 0) {
        gpx_buf_free(&id);
        return &m->families[*slot - 1];
    }
    if (gpx_grow(&m->families, &m->cap, m->count, sizeof(*m->families), 16) != 0) {
        gpx_buf_free(&id);
        return NULL;
    }
    f = &m->families[m->count];
    memset(f, 0, sizeof(*f));
    f->id = gpx_buf_steal(&id, NULL);
    f->name = f->id != NULL ? strchr(f->id, '\n') + 1 : NULL;
    f->escaped = f->name != NULL ? escaped_name(f->name, 1) : NULL;
    f->help = strdup(help);
    f->source = strdup(source != NULL ? source : "");
    if (f->escaped == NULL || f->help == NULL || f->source == NULL) {
        family_free(f);
        return NULL;
    }
    f->plain = plain_name(f->name);
    f->type = type;
    f->mode = GPX_PC_MODE_ALL;
    f->invalid = -1;
    gpx_index_fill(&m->by_id, slot, m->count++);
    return f;
}

/* Marks f to be left out, for the first reason found: `text`, then what
 * is wrong, quoted. */
static void
invalidate(struct gpx_app_family *f, enum gpx_app_drop reason, const char *text, const char *what)
{
    struct gpx_buf why;

    if (f->invalid >= 0) {
        return;
    }
    f->invalid = (int)reason;
    if (gpx_buf_init(&why, 128) != 0) {
        return;
    }
    gpx_buf_puts(&why, text);
    gpx_buf_puts(&why, " \"");
    gpx_app_quote(&why, what);
    gpx_buf_puts(&why, "\"");
    f->why = why.failed ? NULL : gpx_buf_steal(&why, NULL);
    gpx_buf_free(&why);
}

/* Which sample of its family's type a key names, or -1: counters write
 * <name>_total, gauges <name>, histograms <name>_bucket (with le) and
 * <name>_sum, summaries <name>_count and <name>_sum. MultiProcessCollector
 * writes none of the _created samples. */
static int
sample_suffix(enum gpx_pc_kind kind, const char *metric, const char *sample, int has_le)
{
    size_t len = strlen(metric);

    if (strncmp(sample, metric, len) != 0) {
        return -1;
    }
    sample += len;
    switch (kind) {
    case GPX_PC_COUNTER:
        return strcmp(sample, "_total") == 0 ? GPX_SUFFIX_TOTAL : -1;
    case GPX_PC_GAUGE:
        return sample[0] == '\0' ? GPX_SUFFIX_NONE : -1;
    case GPX_PC_HISTOGRAM:
        if (strcmp(sample, "_bucket") == 0) {
            return has_le ? GPX_SUFFIX_BUCKET : -1;
        }
        return strcmp(sample, "_sum") == 0 && !has_le ? GPX_SUFFIX_SUM : -1;
    case GPX_PC_SUMMARY:
        return strcmp(sample, "_count") == 0 ? GPX_SUFFIX_COUNT : strcmp(sample, "_sum") == 0 ? GPX_SUFFIX_SUM : -1;
    default:
        return -1;
    }
}

/* Checks a key's label names as the page will carry them: none reserved
 * (prometheus_client keeps "__" names as they are; "__name__" would rename
 * the series), no two alike once escaped. Returns 0, -1 (f invalid), or -2
 * on memory. */
static int
check_labels(struct gpx_app_family *f, const struct gpx_pc_key *k)
{
    char **escaped = calloc(k->label_count + 1, sizeof(char *));
    size_t i, j;
    int rc = 0;

    if (escaped == NULL) {
        return -2;
    }
    for (i = 0; i < k->label_count && rc == 0; i++) {
        escaped[i] = escaped_name(k->labels[i].name, 0);
        if (escaped[i] == NULL) {
            rc = -2;
        } else if (strncmp(escaped[i], "__", 2) == 0) {
            invalidate(f, GPX_APP_DROP_INVALID_LABELS, "a label name reserved to Prometheus:", k->labels[i].name);
            rc = -1;
        }
        for (j = 0; j < i && rc == 0; j++) {
            if (strcmp(escaped[i], escaped[j]) == 0) {
                invalidate(f, GPX_APP_DROP_INVALID_LABELS, "two of its label names are one once escaped:", escaped[i]);
                rc = -1;
            }
        }
    }
    for (i = 0; i < k->label_count; i++) {
        free(escaped[i]);
    }
    free(escaped);
    return rc;
}

int
gpx_appmerge_add(struct gpx_appmerge *m, enum gpx_pc_kind kind, enum gpx_pc_mode mode, pid_t pid, const char *source,
                 const char *key, size_t key_len, double value, double timestamp)
{
    struct gpx_pc_key k;
    struct gpx_app_family *f;
    struct gpx_app_sample r;
    struct gpx_buf labels;
    size_t i;
    int pid_placed = 0, le_placed = 0, suffix, has_le = 0, checked;

    if (gpx_pc_parse_key(key, key_len, &k) != 0) {
        return -1;
    }
    f = family_for(m, k.metric, k.help, kind, source);
    if (f == NULL) {
        m->failed = 1;
        gpx_pc_key_free(&k);
        return -1;
    }
    if (kind == GPX_PC_GAUGE) {
        f->mode = mode;
    }
    checked = f->invalid >= 0 ? -1 : check_labels(f, &k);
    if (checked != 0) {
        gpx_pc_key_free(&k);
        m->failed |= checked == -2;
        return checked == -2 ? -1 : 0;
    }
    memset(&r, 0, sizeof(r));
    for (i = 0; i < k.label_count; i++) {
        has_le |= kind == GPX_PC_HISTOGRAM && strcmp(k.labels[i].name, "le") == 0;
    }
    suffix = sample_suffix(kind, k.metric, k.sample, has_le);
    if (suffix < 0) {
        invalidate(f, GPX_APP_DROP_INVALID_SAMPLES, "a sample its type does not have:", k.sample);
        gpx_pc_key_free(&k);
        return 0;
    }
    r.suffix = (enum gpx_app_suffix)suffix;
    if (gpx_buf_init(&labels, 128) != 0) {
        m->failed = 1;
        gpx_pc_key_free(&k);
        return -1;
    }
    for (i = 0; i < k.label_count; i++) {
        const struct gpx_pc_label *l = &k.labels[i];

        if (!pid_placed && strcmp(l->name, "pid") >= 0) {
            r.pid_at = labels.len;
            pid_placed = 1;
        }
        if (!le_placed && strcmp(l->name, "le") >= 0) {
            r.le_at = labels.len;
            le_placed = 1;
        }
        /* prometheus_client puts the file's pid after a gauge's labels: the
         * pid label it renders is the file's, never the app's own. */
        if (kind == GPX_PC_GAUGE && strcmp(l->name, "pid") == 0) {
            continue;
        }
        if (kind == GPX_PC_HISTOGRAM && strcmp(l->name, "le") == 0) {
            char *end;

            r.le = strtod(l->value, &end);
            if (end == l->value || *end != '\0' || isnan(r.le)) {
                /* float() refuses it, or no page can carry le="NaN" */
                invalidate(f, GPX_APP_DROP_INVALID_SAMPLES, "a bucket bound that is not a number:", l->value);
                gpx_buf_free(&labels);
                gpx_pc_key_free(&k);
                return 0;
            }
            continue;
        }
        if (labels.len > 0) {
            gpx_buf_puts(&labels, ",");
        }
        put_name(&labels, l->name, 0);
        gpx_buf_puts(&labels, "=\"");
        gpx_render_label_value(&labels, l->value);
        gpx_buf_puts(&labels, "\"");
    }
    if (!pid_placed) {
        r.pid_at = labels.len;
    }
    if (!le_placed) {
        r.le_at = labels.len;
    }
    gpx_pc_key_free(&k);
    if (labels.failed || gpx_grow(&f->samples, &f->cap, f->count, sizeof(*f->samples), 8) != 0) {
        gpx_buf_free(&labels);
        m->failed = 1;
        return -1;
    }
    r.labels = gpx_buf_steal(&labels, NULL);
    r.pid = kind == GPX_PC_GAUGE ? pid : 0;
    r.value = value;
    r.timestamp = timestamp;
    f->samples[f->count++] = r;
    return 0;
}

struct file_walk {
    struct gpx_appmerge *m;
    const struct gpx_pc_name *name;
    const char *file_name;
    long bad_keys;
};

static int
add_entry(void *ctx, const struct gpx_pc_entry *e)
{
    struct file_walk *w = ctx;

    if (gpx_appmerge_add(w->m, w->name->kind, w->name->mode, w->name->pid, w->file_name, e->key, e->key_len, e->value,
                         e->timestamp) != 0 &&
        !w->m->failed) {
        w->bad_keys++;
    }
    return 0;
}

int
gpx_appmerge_add_file(struct gpx_appmerge *m, const char *file_name, const struct gpx_pc_name *name, const void *data,
                      size_t len, struct gpx_app_file_read *read)
{
    struct file_walk w = {m, name, file_name, 0};
    struct gpx_app_file_read ignored;
    long n;

    if (read == NULL) {
        read = &ignored;
    }
    n = gpx_pc_parse_file(data, len, add_entry, &w, &read->layout);
    read->entries = n >= 0 ? n : 0;
    read->bad_keys = w.bad_keys;
    return n >= 0 && w.bad_keys == 0 ? 0 : -1;
}

struct store_walk {
    struct gpx_appmerge *m;
    const char *source;
};

static int
add_stored(void *ctx, const struct gpx_appstore_value *v, enum gpx_pc_kind kind, enum gpx_pc_mode mode, const char *key,
           size_t key_len)
{
    struct store_walk *w = ctx;

    gpx_appmerge_add(w->m, kind, mode, 0, w->source, key, key_len, v->value, v->timestamp);
    return 0;
}

void
gpx_appmerge_add_store(struct gpx_appmerge *m, const struct gpx_appstore *st, const char *source)
{
    struct store_walk w = {m, source};

    gpx_appstore_each(st, add_stored, &w);
}
