/* gpx_appmetrics.c - merging and rendering the app's metrics (see gpx_appmetrics.h). */
#define _GNU_SOURCE
#include "gpx_appmetrics.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpx_appstore.h"

/* A sample as read from a file, before the accumulation. */
struct raw_sample {
    char *sample;  /* sample name */
    char *labels;  /* `k="v",...` sorted by name, without le (histograms) and pid (gauges) */
    size_t pid_at; /* where a pid label sorts into labels */
    size_t le_at;  /* where an le label sorts into labels */
    double le;     /* histograms: the bucket's bound */
    int has_le;    /* histograms: a _bucket sample */
    pid_t pid;     /* gauges: the process that wrote it */
    double value;
    double timestamp;
};

struct family {
    char *name;
    char *help;
    enum gpx_pc_kind type; /* of the first file it was seen in */
    enum gpx_pc_mode mode; /* of the last gauge file it was seen in */
    struct raw_sample *raw;
    size_t count, cap;
};

/* Open addressing from a string to a position in an array. */
struct string_index {
    uint32_t *slot; /* 0 = empty, else position + 1 */
    size_t cap;     /* a power of two */
    size_t used;
};

struct gpx_appmerge {
    struct family *families;
    size_t count, cap;
    struct string_index by_name;
};

static uint64_t
hash_bytes(const char *s, size_t len)
{
    uint64_t h = 14695981039346656037ull;
    size_t i;

    for (i = 0; i < len; i++) {
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    }
    return h;
}

typedef const char *(*key_at_fn)(const void *items, size_t pos, size_t *len);

/* The slot of key: holding it, or the empty one where it would go. */
static uint32_t *
index_find(const struct string_index *ix, const char *key, size_t len, const void *items, key_at_fn key_at)
{
    size_t i = (size_t)hash_bytes(key, len) & (ix->cap - 1);

    for (;; i = (i + 1) & (ix->cap - 1)) {
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

/* Makes room for one more key. Returns 0 or -1. */
static int
index_reserve(struct string_index *ix, const void *items, key_at_fn key_at)
{
    struct string_index bigger;
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

            *index_find(&bigger, k, len, items, key_at) = ix->slot[i];
        }
    }
    free(ix->slot);
    *ix = bigger;
    return 0;
}

static const char *
family_name_at(const void *items, size_t pos, size_t *len)
{
    const struct family *f = items;

    *len = strlen(f[pos].name);
    return f[pos].name;
}

struct gpx_appmerge *
gpx_appmerge_new(void)
{
    return calloc(1, sizeof(struct gpx_appmerge));
}

void
gpx_appmerge_free(struct gpx_appmerge *m)
{
    size_t f, r;

    if (m == NULL) {
        return;
    }
    for (f = 0; f < m->count; f++) {
        for (r = 0; r < m->families[f].count; r++) {
            free(m->families[f].raw[r].sample);
            free(m->families[f].raw[r].labels);
        }
        free(m->families[f].raw);
        free(m->families[f].name);
        free(m->families[f].help);
    }
    free(m->families);
    free(m->by_name.slot);
    free(m);
}

static struct family *
family_for(struct gpx_appmerge *m, const char *name, const char *help, enum gpx_pc_kind type)
{
    uint32_t *slot;
    struct family *f;

    if (index_reserve(&m->by_name, m->families, family_name_at) != 0) {
        return NULL;
    }
    slot = index_find(&m->by_name, name, strlen(name), m->families, family_name_at);
    if (*slot != 0) {
        return &m->families[*slot - 1];
    }
    if (m->count == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        struct family *grown = realloc(m->families, cap * sizeof(*grown));

        if (grown == NULL) {
            return NULL;
        }
        m->families = grown;
        m->cap = cap;
    }
    f = &m->families[m->count];
    memset(f, 0, sizeof(*f));
    f->name = strdup(name);
    f->help = strdup(help);
    if (f->name == NULL || f->help == NULL) {
        free(f->name);
        free(f->help);
        return NULL;
    }
    f->type = type;
    f->mode = GPX_PC_MODE_ALL;
    m->count++;
    m->by_name.used++;
    *slot = (uint32_t)m->count;
    return f;
}

static int
put_label(struct gpx_buf *b, const char *name, const char *value)
{
    if (b->len > 0) {
        gpx_buf_puts(b, ",");
    }
    gpx_buf_printf(b, "%s=\"", name);
    gpx_render_label_value(b, value);
    return gpx_buf_puts(b, "\"");
}

int
gpx_appmerge_add(struct gpx_appmerge *m, enum gpx_pc_kind kind, enum gpx_pc_mode mode, pid_t pid, const char *key,
                 size_t key_len, double value, double timestamp)
{
    struct gpx_pc_key k;
    struct family *f;
    struct raw_sample *r;
    struct gpx_buf labels;
    size_t i;
    int pid_placed = 0, le_placed = 0;

    if (gpx_pc_parse_key(key, key_len, &k) != 0) {
        return -1;
    }
    f = family_for(m, k.metric, k.help, kind);
    if (f == NULL || gpx_buf_init(&labels, 128) != 0) {
        gpx_pc_key_free(&k);
        return -1;
    }
    if (kind == GPX_PC_GAUGE) {
        f->mode = mode;
    }
    if (f->count == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        struct raw_sample *grown = realloc(f->raw, cap * sizeof(*grown));

        if (grown == NULL) {
            gpx_buf_free(&labels);
            gpx_pc_key_free(&k);
            return -1;
        }
        f->raw = grown;
        f->cap = cap;
    }
    r = &f->raw[f->count];
    memset(r, 0, sizeof(*r));
    for (i = 0; i < k.label_count; i++) {
        const struct gpx_pc_label *l = &k.labels[i];

        if (!pid_placed && strcmp(l->name, "pid") >= 0) {
            r->pid_at = labels.len;
            pid_placed = 1;
        }
        if (!le_placed && strcmp(l->name, "le") >= 0) {
            r->le_at = labels.len;
            le_placed = 1;
        }
        /* prometheus_client puts the file's pid after a gauge's labels: the
         * pid label it renders is the file's, never the app's own. */
        if (kind == GPX_PC_GAUGE && strcmp(l->name, "pid") == 0) {
            continue;
        }
        if (f->type == GPX_PC_HISTOGRAM && strcmp(l->name, "le") == 0) {
            char *end;

            r->le = strtod(l->value, &end);
            if (end == l->value || *end != '\0') {
                gpx_buf_free(&labels);
                gpx_pc_key_free(&k);
                return -1; /* float() would refuse it */
            }
            r->has_le = 1;
            continue;
        }
        put_label(&labels, l->name, l->value);
    }
    if (!pid_placed) {
        r->pid_at = labels.len;
    }
    if (!le_placed) {
        r->le_at = labels.len;
    }
    r->sample = strdup(k.sample);
    r->labels = gpx_buf_steal(&labels, &i);
    gpx_pc_key_free(&k);
    if (r->sample == NULL || r->labels == NULL) {
        free(r->sample);
        free(r->labels);
        return -1;
    }
    r->pid = kind == GPX_PC_GAUGE ? pid : 0;
    r->value = value;
    r->timestamp = timestamp;
    f->count++;
    return 0;
}

struct file_walk {
    struct gpx_appmerge *m;
    const struct gpx_pc_name *name;
};

static int
add_entry(void *ctx, const struct gpx_pc_entry *e)
{
    struct file_walk *w = ctx;

    gpx_appmerge_add(w->m, w->name->kind, w->name->mode, w->name->pid, e->key, e->key_len, e->value, e->timestamp);
    return 0;
}

long
gpx_appmerge_add_file(struct gpx_appmerge *m, const struct gpx_pc_name *name, const void *data, size_t len)
{
    struct file_walk w = {m, name};

    return gpx_pc_parse(data, len, add_entry, &w);
}

/* -- accumulation ------------------------------------------------------- */

/* One output sample: "<name>{<labels>}" and its value. */
struct out_sample {
    char *id;
    size_t name_len; /* id[0..name_len) is the sample name */
    double value;
    double timestamp;
    int set;
};

struct out_samples {
    struct out_sample *items;
    size_t count, cap;
    struct string_index ix;
};

static const char *
out_id_at(const void *items, size_t pos, size_t *len)
{
    const struct out_sample *s = items;

    *len = strlen(s[pos].id);
    return s[pos].id;
}

static void
out_free(struct out_samples *o)
{
    size_t i;

    for (i = 0; i < o->count; i++) {
        free(o->items[i].id);
    }
    free(o->items);
    free(o->ix.slot);
    memset(o, 0, sizeof(*o));
}

/* labels with one more label inserted at `at` (where its name sorts). */
static char *
with_label(const char *labels, size_t at, const char *name, const char *value)
{
    struct gpx_buf b;
    size_t len;

    if (gpx_buf_init(&b, strlen(labels) + 64) != 0) {
        return NULL;
    }
    gpx_buf_append(&b, labels, at);
    if (at > 0) {
        gpx_buf_puts(&b, ",");
    }
    gpx_buf_printf(&b, "%s=\"", name);
    gpx_render_label_value(&b, value);
    gpx_buf_puts(&b, "\"");
    if (labels[at] != '\0') {
        gpx_buf_puts(&b, at > 0 ? "" : ",");
        gpx_buf_puts(&b, labels + at);
    }
    if (b.failed) {
        gpx_buf_free(&b);
        return NULL;
    }
    return gpx_buf_steal(&b, &len);
}

/* The output sample for (name, labels), created unset if new. */
static struct out_sample *
out_get(struct out_samples *o, const char *name, const char *labels)
{
    struct gpx_buf id;
    uint32_t *slot;
    size_t len;
    char *text;

    if (gpx_buf_init(&id, 128) != 0) {
        return NULL;
    }
    gpx_buf_printf(&id, "%s{%s}", name, labels);
    if (id.failed || index_reserve(&o->ix, o->items, out_id_at) != 0) {
        gpx_buf_free(&id);
        return NULL;
    }
    slot = index_find(&o->ix, id.data, id.len, o->items, out_id_at);
    if (*slot != 0) {
        gpx_buf_free(&id);
        return &o->items[*slot - 1];
    }
    if (o->count == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 16;
        struct out_sample *grown = realloc(o->items, cap * sizeof(*grown));

        if (grown == NULL) {
            gpx_buf_free(&id);
            return NULL;
        }
        o->items = grown;
        o->cap = cap;
    }
    text = gpx_buf_steal(&id, &len);
    memset(&o->items[o->count], 0, sizeof(o->items[0]));
    o->items[o->count].id = text;
    o->items[o->count].name_len = strlen(name);
    o->count++;
    o->ix.used++;
    *slot = (uint32_t)o->count;
    return &o->items[o->count - 1];
}

/* A histogram's buckets for one label set. */
struct bucket {
    double le;
    double value;
};

struct bucket_set {
    char *labels; /* without le */
    size_t le_at;
    struct bucket *b;
    size_t count, cap;
};

static int
bucket_order(const void *a, const void *b)
{
    double x = ((const struct bucket *)a)->le, y = ((const struct bucket *)b)->le;

    return x < y ? -1 : x > y ? 1 : 0;
}

static int
add_bucket(struct bucket_set **sets, size_t *nsets, const struct raw_sample *r)
{
    struct bucket_set *s = NULL;
    size_t i;

    for (i = 0; i < *nsets; i++) {
        if (strcmp((*sets)[i].labels, r->labels) == 0) {
            s = &(*sets)[i];
            break;
        }
    }
    if (s == NULL) {
        struct bucket_set *grown = realloc(*sets, (*nsets + 1) * sizeof(*grown));

        if (grown == NULL) {
            return -1;
        }
        *sets = grown;
        s = &grown[*nsets];
        memset(s, 0, sizeof(*s));
        s->labels = strdup(r->labels);
        if (s->labels == NULL) {
            return -1;
        }
        s->le_at = r->le_at;
        (*nsets)++;
    }
    for (i = 0; i < s->count; i++) {
        if (s->b[i].le == r->le) {
            s->b[i].value += r->value;
            return 0;
        }
    }
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct bucket *grown = realloc(s->b, cap * sizeof(*grown));

        if (grown == NULL) {
            return -1;
        }
        s->b = grown;
        s->cap = cap;
    }
    s->b[s->count].le = r->le;
    s->b[s->count].value = r->value;
    s->count++;
    return 0;
}

static int
is_reducing_mode(enum gpx_pc_mode mode)
{
    return mode != GPX_PC_MODE_ALL && mode != GPX_PC_MODE_LIVEALL;
}

static int
accumulate_gauge(struct out_samples *o, const struct family *f, const struct raw_sample *r)
{
    struct out_sample *s;
    char pid[24];
    char *labels = NULL;

    if (!is_reducing_mode(f->mode) && r->pid > 0) {
        snprintf(pid, sizeof(pid), "%d", (int)r->pid);
        labels = with_label(r->labels, r->pid_at, "pid", pid);
        if (labels == NULL) {
            return -1;
        }
    }
    s = out_get(o, r->sample, labels != NULL ? labels : r->labels);
    free(labels);
    if (s == NULL) {
        return -1;
    }
    switch (f->mode) {
    case GPX_PC_MODE_MIN:
    case GPX_PC_MODE_LIVEMIN:
        if (!s->set || r->value < s->value) {
            s->value = r->value;
        }
        s->set = 1;
        break;
    case GPX_PC_MODE_MAX:
    case GPX_PC_MODE_LIVEMAX:
        if (!s->set || r->value > s->value) {
            s->value = r->value;
        }
        s->set = 1;
        break;
    case GPX_PC_MODE_SUM:
    case GPX_PC_MODE_LIVESUM:
        s->value += r->value;
        s->set = 1;
        break;
    case GPX_PC_MODE_MOSTRECENT:
    case GPX_PC_MODE_LIVEMOSTRECENT:
        /* Only a timestamp after the latest one seen (0 at first) counts:
         * a series never set with a time has no sample. */
        if (s->timestamp < r->timestamp) {
            s->value = r->value;
            s->timestamp = r->timestamp;
            s->set = 1;
        }
        break;
    default:
        s->value = r->value;
        s->set = 1;
        break;
    }
    return 0;
}

static int
accumulate(const struct family *f, struct out_samples *o)
{
    struct bucket_set *sets = NULL;
    size_t nsets = 0, i, j;
    int rc = 0;

    for (i = 0; i < f->count && rc == 0; i++) {
        const struct raw_sample *r = &f->raw[i];

        if (f->type == GPX_PC_GAUGE) {
            rc = accumulate_gauge(o, f, r);
        } else if (f->type == GPX_PC_HISTOGRAM && r->has_le) {
            rc = add_bucket(&sets, &nsets, r);
        } else {
            struct out_sample *s = out_get(o, r->sample, r->labels);

            if (s == NULL) {
                rc = -1;
            } else {
                s->value += r->value;
                s->set = 1;
            }
        }
    }
    for (i = 0; i < nsets; i++) {
        struct bucket_set *s = &sets[i];
        char name[1024];
        double acc = 0.0;

        qsort(s->b, s->count, sizeof(*s->b), bucket_order);
        for (j = 0; j < s->count && rc == 0; j++) {
            char le[64];
            char *labels;
            struct out_sample *out;

            acc += s->b[j].value;
            gpx_pc_format_double(le, sizeof(le), s->b[j].le);
            labels = with_label(s->labels, s->le_at, "le", le);
            snprintf(name, sizeof(name), "%s_bucket", f->name);
            out = labels != NULL ? out_get(o, name, labels) : NULL;
            free(labels);
            if (out == NULL) {
                rc = -1;
                break;
            }
            out->value = acc;
            out->set = 1;
        }
        if (rc == 0) {
            struct out_sample *count;

            snprintf(name, sizeof(name), "%s_count", f->name);
            count = out_get(o, name, s->labels);
            if (count == NULL) {
                rc = -1;
            } else {
                count->value = acc;
                count->set = 1;
            }
        }
    }
    for (i = 0; i < nsets; i++) {
        free(sets[i].labels);
        free(sets[i].b);
    }
    free(sets);
    return rc;
}

/* HELP text: backslash and newline escaped, and in OpenMetrics the quote. */
static void
put_help(struct gpx_buf *out, const char *help, enum gpx_format format)
{
    const char *p;

    for (p = help; *p; p++) {
        if (*p == '\\') {
            gpx_buf_puts(out, "\\\\");
        } else if (*p == '\n') {
            gpx_buf_puts(out, "\\n");
        } else if (*p == '"' && format == GPX_FORMAT_OPENMETRICS) {
            gpx_buf_puts(out, "\\\"");
        } else {
            gpx_buf_append(out, p, 1);
        }
    }
}

int
gpx_appmerge_render(struct gpx_appmerge *m, struct gpx_buf *out, enum gpx_format format)
{
    size_t f, i;

    for (f = 0; f < m->count; f++) {
        const struct family *fam = &m->families[f];
        struct out_samples o;
        const char *suffix = fam->type == GPX_PC_COUNTER && format == GPX_FORMAT_TEXT ? "_total" : "";

        memset(&o, 0, sizeof(o));
        if (accumulate(fam, &o) != 0) {
            out_free(&o);
            out->failed = 1;
            return -1;
        }
        gpx_buf_printf(out, "# HELP %s%s ", fam->name, suffix);
        put_help(out, fam->help, format);
        gpx_buf_printf(out, "\n# TYPE %s%s %s\n", fam->name, suffix, gpx_pc_kind_label(fam->type));
        for (i = 0; i < o.count; i++) {
            const struct out_sample *s = &o.items[i];
            const char *labels = s->id + s->name_len; /* "{...}" */
            char value[64];

            if (!s->set) {
                continue;
            }
            gpx_pc_format_double(value, sizeof(value), s->value);
            gpx_buf_append(out, s->id, s->name_len);
            if (strcmp(labels, "{}") != 0) {
                gpx_buf_puts(out, labels);
            }
            gpx_buf_printf(out, " %s\n", value);
        }
        out_free(&o);
    }
    return out->failed ? -1 : 0;
}

/* -- the directory ------------------------------------------------------ */

static int
pid_folded(const struct gpx_appstore *st, pid_t pid)
{
    return gpx_appstore_pid_state(st, pid) == GPX_PID_FOLDED;
}

int
gpx_appmetrics_render(struct gpx_buf *out, const struct gpx_appmetrics_place *place, enum gpx_format format)
{
    struct gpx_appstore st;
    struct gpx_appmerge *m;
    struct dirent *entry;
    DIR *dir;
    int fd, lock, rc;

    dir = opendir(place->dir);
    if (dir == NULL) {
        return 0;
    }
    m = gpx_appmerge_new();
    if (m == NULL) {
        closedir(dir);
        out->failed = 1;
        return -1;
    }
    fd = dirfd(dir);
    gpx_appstore_init(&st);
    /* Without the lock (a file it may not open), a scrape during a fold
     * could see a process both in its files and in the store. */
    lock = gpx_appstore_lock(fd, place->lock_name, 0);
    gpx_appstore_load(&st, fd, place->store_name);
    gpx_appstore_add_to_merge(&st, m);
    while ((entry = readdir(dir)) != NULL) {
        struct gpx_pc_name name;
        void *data;
        size_t len;

        if (gpx_pc_parse_name(entry->d_name, &name) != 0 || pid_folded(&st, name.pid)) {
            continue;
        }
        /* A live* gauge's file may be removed meanwhile (mark_process_dead). */
        if (gpx_pc_read_file(fd, entry->d_name, &data, &len) != 0) {
            continue;
        }
        gpx_appmerge_add_file(m, &name, data, len);
        free(data);
    }
    if (lock >= 0) {
        close(lock);
    }
    closedir(dir);
    gpx_appstore_free(&st);
    rc = gpx_appmerge_render(m, out, format);
    gpx_appmerge_free(m);
    return rc;
}
