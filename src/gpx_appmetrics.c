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

static const char *const drop_labels[GPX_APP_DROPS] = {"gpx_name", "duplicate_name", "invalid_labels",
                                                       "invalid_samples", "invalid_name"};

const char *
gpx_app_drop_label(enum gpx_app_drop reason)
{
    return (unsigned)reason < GPX_APP_DROPS ? drop_labels[reason] : "unknown";
}

/* The samples a family writes, after its name. */
enum suffix { SUFFIX_NONE, SUFFIX_TOTAL, SUFFIX_BUCKET, SUFFIX_COUNT, SUFFIX_SUM };

static const char *const suffix_text[] = {"", "_total", "_bucket", "_count", "_sum"};

/* A sample as read from a file, before the accumulation. */
struct raw_sample {
    char *labels;  /* `k="v",...` escaped, sorted by name, without le (histograms) and pid (gauges) */
    size_t pid_at; /* where a pid label sorts into labels */
    size_t le_at;  /* where an le label sorts into labels */
    double le;     /* buckets: the bound */
    enum suffix suffix;
    pid_t pid; /* gauges: the process that wrote it */
    double value;
    double timestamp;
};

struct family {
    char *id;              /* "<kind>\n<name>": the index key */
    const char *name;      /* the name in the files, after id's newline */
    char *escaped;         /* the name on the page */
    char *help;            /* of the first sample seen */
    char *source;          /* the first file it was seen in */
    enum gpx_pc_kind type; /* of the files it was seen in */
    enum gpx_pc_mode mode; /* of the last gauge file it was seen in */
    int invalid;           /* an enum gpx_app_drop, or -1 */
    char *why;             /* what makes it invalid */
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
    struct string_index by_id;
    int failed; /* memory ran out: the merge cannot be rendered whole */
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
family_id_at(const void *items, size_t pos, size_t *len)
{
    const struct family *f = items;

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

void
gpx_app_quote(struct gpx_buf *out, const char *text)
{
    const unsigned char *p;

    for (p = (const unsigned char *)text; *p != '\0'; p++) {
        if (*p == '\n') {
            gpx_buf_puts(out, "\\n");
        } else if (*p == '\t') {
            gpx_buf_puts(out, "\\t");
        } else if (*p == '\\') {
            gpx_buf_puts(out, "\\\\");
        } else if (*p < 0x20 || *p >= 0x7f) {
            gpx_buf_printf(out, "\\x%02x", *p);
        } else {
            gpx_buf_append(out, (const char *)p, 1);
        }
    }
}

/* -- merging -------------------------------------------------------------- */

struct gpx_appmerge *
gpx_appmerge_new(void)
{
    return calloc(1, sizeof(struct gpx_appmerge));
}

static void
family_free(struct family *f)
{
    size_t r;

    for (r = 0; r < f->count; r++) {
        free(f->raw[r].labels);
    }
    free(f->raw);
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
    free(m->by_id.slot);
    free(m);
}

static struct family *
family_for(struct gpx_appmerge *m, const char *name, const char *help, enum gpx_pc_kind type, const char *source)
{
    struct gpx_buf id;
    uint32_t *slot;
    struct family *f;

    if (gpx_buf_init(&id, strlen(name) + 4) != 0) {
        return NULL;
    }
    gpx_buf_printf(&id, "%d\n%s", (int)type, name);
    if (id.failed || index_reserve(&m->by_id, m->families, family_id_at) != 0) {
        gpx_buf_free(&id);
        return NULL;
    }
    slot = index_find(&m->by_id, id.data, id.len, m->families, family_id_at);
    if (*slot != 0) {
        gpx_buf_free(&id);
        return &m->families[*slot - 1];
    }
    if (m->count == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        struct family *grown = realloc(m->families, cap * sizeof(*grown));

        if (grown == NULL) {
            gpx_buf_free(&id);
            return NULL;
        }
        m->families = grown;
        m->cap = cap;
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
    f->type = type;
    f->mode = GPX_PC_MODE_ALL;
    f->invalid = -1;
    m->count++;
    m->by_id.used++;
    *slot = (uint32_t)m->count;
    return f;
}

/* Marks f to be left out, for the first reason found: `text`, then what
 * is wrong, quoted. */
static void
invalidate(struct family *f, enum gpx_app_drop reason, const char *text, const char *what)
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
        return strcmp(sample, "_total") == 0 ? SUFFIX_TOTAL : -1;
    case GPX_PC_GAUGE:
        return sample[0] == '\0' ? SUFFIX_NONE : -1;
    case GPX_PC_HISTOGRAM:
        if (strcmp(sample, "_bucket") == 0) {
            return has_le ? SUFFIX_BUCKET : -1;
        }
        return strcmp(sample, "_sum") == 0 && !has_le ? SUFFIX_SUM : -1;
    case GPX_PC_SUMMARY:
        return strcmp(sample, "_count") == 0 ? SUFFIX_COUNT : strcmp(sample, "_sum") == 0 ? SUFFIX_SUM : -1;
    default:
        return -1;
    }
}

/* Checks a key's label names as the page will carry them: none reserved
 * (prometheus_client keeps "__" names as they are; "__name__" would rename
 * the series), no two alike once escaped. Returns 0, -1 (f invalid), or -2
 * on memory. */
static int
check_labels(struct family *f, const struct gpx_pc_key *k)
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
    struct family *f;
    struct raw_sample r;
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
    r.suffix = (enum suffix)suffix;
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
    if (labels.failed) {
        gpx_buf_free(&labels);
        m->failed = 1;
        return -1;
    }
    if (f->count == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        struct raw_sample *grown = realloc(f->raw, cap * sizeof(*grown));

        if (grown == NULL) {
            gpx_buf_free(&labels);
            m->failed = 1;
            return -1;
        }
        f->raw = grown;
        f->cap = cap;
    }
    r.labels = gpx_buf_steal(&labels, NULL);
    r.pid = kind == GPX_PC_GAUGE ? pid : 0;
    r.value = value;
    r.timestamp = timestamp;
    f->raw[f->count++] = r;
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

/* -- accumulation ------------------------------------------------------- */

/* One output sample: the suffix after the family's name, its labels. */
struct out_sample {
    char *id;    /* "<suffix>{<labels>}": the index key */
    char *group; /* the labels without le: samples of one group are written together */
    enum suffix suffix;
    double le; /* buckets */
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
        free(o->items[i].group);
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
    return gpx_buf_steal(&b, NULL);
}

/* The output sample for (suffix, labels), created unset if new; group is
 * the labels without le. */
static struct out_sample *
out_get(struct out_samples *o, enum suffix suffix, const char *labels, const char *group)
{
    struct gpx_buf id;
    uint32_t *slot;
    struct out_sample *s;

    if (gpx_buf_init(&id, 128) != 0) {
        return NULL;
    }
    gpx_buf_printf(&id, "%d{%s}", (int)suffix, labels);
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
    s = &o->items[o->count];
    memset(s, 0, sizeof(*s));
    s->group = strdup(group);
    if (s->group == NULL) {
        gpx_buf_free(&id);
        return NULL;
    }
    s->id = gpx_buf_steal(&id, NULL);
    s->suffix = suffix;
    o->count++;
    o->ix.used++;
    *slot = (uint32_t)o->count;
    return s;
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
    s = out_get(o, SUFFIX_NONE, labels != NULL ? labels : r->labels, labels != NULL ? labels : r->labels);
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
accumulate_buckets(struct out_samples *o, struct bucket_set *s)
{
    struct out_sample *out;
    double acc = 0.0;
    size_t j;

    qsort(s->b, s->count, sizeof(*s->b), bucket_order);
    for (j = 0; j < s->count; j++) {
        char le[64];
        char *labels;

        acc += s->b[j].value;
        gpx_pc_format_double(le, sizeof(le), s->b[j].le);
        labels = with_label(s->labels, s->le_at, "le", le);
        out = labels != NULL ? out_get(o, SUFFIX_BUCKET, labels, s->labels) : NULL;
        free(labels);
        if (out == NULL) {
            return -1;
        }
        out->le = s->b[j].le;
        out->value = acc;
        out->set = 1;
    }
    out = out_get(o, SUFFIX_COUNT, s->labels, s->labels);
    if (out == NULL) {
        return -1;
    }
    out->value = acc;
    out->set = 1;
    return 0;
}

static int
accumulate(const struct family *f, struct out_samples *o)
{
    struct bucket_set *sets = NULL;
    size_t nsets = 0, i;
    int rc = 0;

    for (i = 0; i < f->count && rc == 0; i++) {
        const struct raw_sample *r = &f->raw[i];

        if (f->type == GPX_PC_GAUGE) {
            rc = accumulate_gauge(o, f, r);
        } else if (r->suffix == SUFFIX_BUCKET) {
            rc = add_bucket(&sets, &nsets, r);
        } else {
            struct out_sample *s = out_get(o, r->suffix, r->labels, r->labels);

            if (s == NULL) {
                rc = -1;
            } else {
                s->value += r->value;
                s->set = 1;
            }
        }
    }
    for (i = 0; i < nsets && rc == 0; i++) {
        rc = accumulate_buckets(o, &sets[i]);
    }
    for (i = 0; i < nsets; i++) {
        free(sets[i].labels);
        free(sets[i].b);
    }
    free(sets);
    return rc;
}

/* Samples of one group together (OpenMetrics requires it), buckets by
 * bound, then _count, then _sum. */
static int
sample_order(const void *a, const void *b)
{
    const struct out_sample *x = a, *y = b;
    int c = strcmp(x->group, y->group);

    if (c != 0) {
        return c;
    }
    if (x->suffix != y->suffix) {
        return x->suffix < y->suffix ? -1 : 1;
    }
    return x->le < y->le ? -1 : x->le > y->le ? 1 : 0;
}

/* -- the format's rules ------------------------------------------------- */

static int
whole_and_not_negative(double v)
{
    return isfinite(v) && v >= 0 && v == floor(v);
}

/* OpenMetrics' rules for the samples of one group [first, end): returns
 * NULL when the group can be written, with *skip_sums set when its _sum
 * (and a histogram's _count) must be left out; else what is wrong. */
static const char *
openmetrics_group(const struct family *f, const struct out_sample *s, size_t n, int *skip_sums)
{
    size_t i;
    int buckets = 0, inf = 0, negative_bound = 0;
    double sum = 0.0, below = 0.0;
    int has_sum = 0;

    *skip_sums = 0;
    for (i = 0; i < n; i++) {
        if (!s[i].set) {
            continue;
        }
        switch (s[i].suffix) {
        case SUFFIX_TOTAL:
            if (isnan(s[i].value) || s[i].value < 0) {
                return "a counter's value is negative or NaN, which OpenMetrics forbids";
            }
            break;
        case SUFFIX_BUCKET:
            buckets++;
            inf |= isinf(s[i].le) && s[i].le > 0;
            negative_bound |= s[i].le < 0;
            if (!whole_and_not_negative(s[i].value) || s[i].value < below) {
                return "a bucket's count is not a whole number, or less than a lower bucket's, which OpenMetrics "
                       "forbids";
            }
            below = s[i].value;
            break;
        case SUFFIX_COUNT:
            if (!whole_and_not_negative(s[i].value)) {
                return "a _count is not a whole number, which OpenMetrics forbids";
            }
            break;
        case SUFFIX_SUM:
            has_sum = 1;
            sum = s[i].value;
            break;
        default:
            break;
        }
    }
    if (f->type == GPX_PC_HISTOGRAM) {
        if (buckets == 0 && has_sum) {
            return "a histogram's _sum without buckets, which OpenMetrics forbids";
        }
        if (buckets > 0 && !inf) {
            return "a histogram without a +Inf bucket, which OpenMetrics forbids";
        }
        /* _count and _sum go together: neither without the other. */
        *skip_sums = !has_sum || negative_bound || isnan(sum) || sum < 0;
    } else if (f->type == GPX_PC_SUMMARY) {
        *skip_sums = has_sum && (isnan(sum) || sum < 0);
    }
    return NULL;
}

/* -- rendering ---------------------------------------------------------- */

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

/* The order families are decided and written in: names valid as they are
 * first (`app_dotted` keeps its name before `app.dotted` escaped to it),
 * then by name, then by type. */
static int
family_order(const void *a, const void *b, void *ctx)
{
    const struct family *fams = ctx;
    const struct family *x = &fams[*(const size_t *)a], *y = &fams[*(const size_t *)b];
    int px = plain_name(x->name), py = plain_name(y->name), c;

    if (px != py) {
        return px ? -1 : 1;
    }
    c = strcmp(x->name, y->name);
    if (c != 0) {
        return c;
    }
    return x->type < y->type ? -1 : x->type > y->type;
}

static void
report_drop(struct gpx_app_health *health, const struct family *f, enum gpx_app_drop reason, const char *why,
            int openmetrics_only)
{
    struct gpx_buf key, line;

    if (health == NULL) {
        return;
    }
    health->dropped[reason]++;
    if (health->report == NULL) {
        return;
    }
    if (gpx_buf_init(&key, 128) != 0 || gpx_buf_init(&line, 256) != 0) {
        gpx_buf_free(&key);
        return;
    }
    gpx_buf_printf(&key, "family\n%s\n%s\n%s", f->id, gpx_app_drop_label(reason), why != NULL ? why : "");
    gpx_buf_printf(&line, "the app's %s \"", gpx_pc_kind_label(f->type));
    gpx_app_quote(&line, f->name);
    gpx_buf_puts(&line, "\" (in ");
    gpx_app_quote(&line, f->source);
    gpx_buf_printf(&line, ") is left out of %s: ", openmetrics_only ? "OpenMetrics pages" : "the page");
    gpx_buf_puts(&line, why != NULL ? why : gpx_app_drop_label(reason));
    gpx_buf_printf(&line, " (gunicorn_exporter_app_families_dropped{reason=\"%s\"})", gpx_app_drop_label(reason));
    if (!key.failed && !line.failed) {
        health->report(health->report_ctx, key.data, line.data);
    }
    gpx_buf_free(&key);
    gpx_buf_free(&line);
}

/* The reason (and what) an accepted family clashes with, or -1. */
static int
clash(const struct gpx_appmerge *m, const struct family *f, const struct gpx_names *reserved,
      const struct gpx_names *claimed, const size_t *order, size_t decided, struct gpx_buf *why)
{
    const char *type = gpx_pc_kind_label(f->type);
    size_t i;

    if (strlen(f->escaped) > GPX_NAME_MAX) {
        gpx_buf_printf(why, "its name is longer than %d bytes", GPX_NAME_MAX);
        return GPX_APP_DROP_INVALID_NAME;
    }
    if (reserved != NULL && gpx_names_reserved(reserved, f->escaped)) {
        gpx_buf_puts(why, "its name ");
        gpx_buf_puts(why, f->escaped);
        gpx_buf_puts(why, ", or a _total, _created, _bucket, _count or _sum form of it, is one of gpx's own");
        return GPX_APP_DROP_GPX_NAME;
    }
    if (!gpx_names_claimed(claimed, f->escaped, type)) {
        return -1;
    }
    gpx_buf_puts(why, "its name ");
    gpx_buf_puts(why, f->escaped);
    gpx_buf_puts(why, " is taken by");
    for (i = 0; i < decided; i++) {
        const struct family *other = &m->families[order[i]];
        struct gpx_names one;
        int hit;

        if (other->invalid >= 0) {
            continue;
        }
        gpx_names_init(&one);
        hit = gpx_names_claim(&one, other->escaped, gpx_pc_kind_label(other->type)) == 0 &&
              gpx_names_claimed(&one, f->escaped, type);
        gpx_names_free(&one);
        if (hit) {
            gpx_buf_printf(why, " the app's %s \"", gpx_pc_kind_label(other->type));
            gpx_app_quote(why, other->name);
            gpx_buf_puts(why, "\"");
            break;
        }
    }
    if (i == decided) {
        gpx_buf_puts(why, " another of the app's families");
    }
    return GPX_APP_DROP_DUPLICATE_NAME;
}

/* Writes one family's samples; or leaves it out and says why. */
static int
render_family(struct gpx_buf *out, const struct family *fam, enum gpx_format format, struct gpx_app_health *health)
{
    struct out_samples o;
    const char *suffix = fam->type == GPX_PC_COUNTER && format == GPX_FORMAT_TEXT ? "_total" : "";
    size_t i, start;

    memset(&o, 0, sizeof(o));
    if (accumulate(fam, &o) != 0) {
        out_free(&o);
        return -1;
    }
    qsort(o.items, o.count, sizeof(*o.items), sample_order);
    if (format == GPX_FORMAT_OPENMETRICS) {
        for (start = 0; start < o.count; start = i) {
            const char *wrong;
            int skip_sums;

            for (i = start; i < o.count && strcmp(o.items[i].group, o.items[start].group) == 0; i++) {
            }
            wrong = openmetrics_group(fam, &o.items[start], i - start, &skip_sums);
            if (wrong != NULL) {
                report_drop(health, fam, GPX_APP_DROP_INVALID_SAMPLES, wrong, 1);
                out_free(&o);
                return 0;
            }
            if (skip_sums) {
                size_t j;

                for (j = start; j < i; j++) {
                    if (o.items[j].suffix == SUFFIX_SUM ||
                        (fam->type == GPX_PC_HISTOGRAM && o.items[j].suffix == SUFFIX_COUNT)) {
                        o.items[j].set = 0;
                    }
                }
            }
        }
    }
    gpx_buf_printf(out, "# HELP %s%s ", fam->escaped, suffix);
    put_help(out, fam->help, format);
    gpx_buf_printf(out, "\n# TYPE %s%s %s\n", fam->escaped, suffix, gpx_pc_kind_label(fam->type));
    for (i = 0; i < o.count; i++) {
        const struct out_sample *s = &o.items[i];
        const char *labels = strchr(s->id, '{');
        char value[64];

        if (!s->set) {
            continue;
        }
        gpx_pc_format_double(value, sizeof(value), s->value);
        gpx_buf_puts(out, fam->escaped);
        gpx_buf_puts(out, suffix_text[s->suffix]);
        if (strcmp(labels, "{}") != 0) {
            gpx_buf_puts(out, labels);
        }
        gpx_buf_printf(out, " %s\n", value);
    }
    out_free(&o);
    return 0;
}

int
gpx_appmerge_render(struct gpx_appmerge *m, struct gpx_buf *out, enum gpx_format format,
                    const struct gpx_names *reserved, struct gpx_app_health *health)
{
    struct gpx_names claimed;
    size_t *order, i;
    int rc = 0;

    if (m->failed) {
        out->failed = 1;
        return -1;
    }
    order = calloc(m->count + 1, sizeof(*order));
    if (order == NULL) {
        out->failed = 1;
        return -1;
    }
    for (i = 0; i < m->count; i++) {
        order[i] = i;
    }
    qsort_r(order, m->count, sizeof(*order), family_order, m->families);
    gpx_names_init(&claimed);
    for (i = 0; i < m->count && rc == 0; i++) {
        const struct family *fam = &m->families[order[i]];
        struct gpx_buf why;
        int reason;

        if (fam->invalid >= 0) {
            report_drop(health, fam, (enum gpx_app_drop)fam->invalid, fam->why, 0);
            continue;
        }
        if (gpx_buf_init(&why, 256) != 0) {
            rc = -1;
            break;
        }
        reason = clash(m, fam, reserved, &claimed, order, i, &why);
        if (reason >= 0) {
            report_drop(health, fam, (enum gpx_app_drop)reason, why.failed ? NULL : why.data, 0);
            gpx_buf_free(&why);
            continue;
        }
        gpx_buf_free(&why);
        if (gpx_names_claim(&claimed, fam->escaped, gpx_pc_kind_label(fam->type)) != 0 ||
            render_family(out, fam, format, health) != 0) {
            rc = -1;
        }
    }
    gpx_names_free(&claimed);
    free(order);
    if (rc != 0) {
        out->failed = 1;
    }
    return out->failed ? -1 : 0;
}

int
gpx_app_health_render(struct gpx_buf *out, enum gpx_format format, const struct gpx_app_health *health)
{
    unsigned r;

    gpx_render_family(out, format, GPX_FAM_APP_FAMILIES_DROPPED);
    for (r = 0; r < GPX_APP_DROPS; r++) {
        gpx_buf_printf(out, "%s{reason=\"%s\"} %u\n", gpx_families[GPX_FAM_APP_FAMILIES_DROPPED].name, drop_labels[r],
                       health != NULL ? health->dropped[r] : 0);
    }
    gpx_render_family(out, format, GPX_FAM_APP_FILES_UNREADABLE);
    gpx_buf_printf(out, "%s %u\n", gpx_families[GPX_FAM_APP_FILES_UNREADABLE].name,
                   health != NULL ? health->unreadable_files : 0);
    return out->failed ? -1 : 0;
}

/* -- saying it once ------------------------------------------------------- */

void
gpx_app_log_init(struct gpx_app_log *log, void (*fn)(const char *line))
{
    pthread_mutex_init(&log->lock, NULL);
    gpx_names_init(&log->said);
    log->full = 0;
    log->log = fn;
}

void
gpx_app_log_report(void *ctx, const char *key, const char *line)
{
    struct gpx_app_log *log = ctx;
    int say = 0, full = 0;

    pthread_mutex_lock(&log->lock);
    if (!gpx_names_has(&log->said, key)) {
        if (log->said.used < GPX_APP_LOG_KEYS && gpx_names_add(&log->said, key) == 0) {
            say = 1;
        } else if (!log->full) {
            log->full = full = 1;
        }
    }
    pthread_mutex_unlock(&log->lock);
    if (say) {
        log->log(line);
    } else if (full) {
        log->log("more problems with the app's prometheus_client metrics are not logged (the health families "
                 "gunicorn_exporter_app_* still count them)");
    }
}

/* -- the directory ------------------------------------------------------ */

static int
pid_folded(const struct gpx_appstore *st, pid_t pid)
{
    return gpx_appstore_pid_state(st, pid) == GPX_PID_FOLDED;
}

/* Counts and reports a file that could not be read whole: `why`, then
 * what became of it. */
static void
report_file(struct gpx_app_health *health, const char *dir, const char *file, const char *why, const char *then)
{
    struct gpx_buf key, line;

    if (health == NULL) {
        return;
    }
    health->unreadable_files++;
    if (health->report == NULL || gpx_buf_init(&key, 128) != 0) {
        return;
    }
    if (gpx_buf_init(&line, 256) != 0) {
        gpx_buf_free(&key);
        return;
    }
    gpx_buf_printf(&key, "file\n%s\n%s", file, why);
    gpx_app_quote(&line, dir);
    gpx_buf_puts(&line, "/");
    gpx_app_quote(&line, file);
    gpx_buf_printf(&line, " cannot be read whole: %s; %s (gunicorn_exporter_app_files_unreadable)", why, then);
    if (!key.failed && !line.failed) {
        health->report(health->report_ctx, key.data, line.data);
    }
    gpx_buf_free(&key);
    gpx_buf_free(&line);
}

int
gpx_appmetrics_render(struct gpx_buf *out, const struct gpx_appmetrics_place *place, enum gpx_format format,
                      const struct gpx_names *reserved, struct gpx_app_health *health)
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
    gpx_appstore_add_to_merge(&st, m, place->store_name);
    while ((entry = readdir(dir)) != NULL) {
        struct gpx_app_file_read read;
        struct gpx_pc_name name;
        char why[160];
        void *data;
        size_t len;

        if (gpx_pc_parse_name(entry->d_name, &name) != 0) {
            size_t n = strlen(entry->d_name);

            /* prometheus_client reads every *.db: one it names otherwise
             * (a process_identifier that is not a pid, another program's
             * file) is not silently passed over. */
            if (n > 3 && strcmp(entry->d_name + n - 3, ".db") == 0 && entry->d_type != DT_DIR) {
                report_file(health, place->dir, entry->d_name,
                            "its name is not <kind>_<pid>.db as prometheus_client names files by process id",
                            "gpx does not read it");
            }
            continue;
        }
        if (pid_folded(&st, name.pid)) {
            continue;
        }
        if (gpx_pc_read_file(fd, entry->d_name, &data, &len) != 0) {
            /* A live* gauge's file may be removed meanwhile (mark_process_dead),
             * an ended process's by a fold. */
            if (errno != ENOENT) {
                snprintf(why, sizeof(why), "%s", strerror(errno));
                report_file(health, place->dir, entry->d_name, why, "gpx does not read it");
            }
            continue;
        }
        if (gpx_appmerge_add_file(m, entry->d_name, &name, data, len, &read) != 0 && !m->failed) {
            if (read.layout == GPX_PC_LAYOUT_UNKNOWN) {
                snprintf(why, sizeof(why),
                         "neither of prometheus_client's layouts (value; value and timestamp) reads all of its %zu "
                         "bytes",
                         len);
            } else {
                snprintf(why, sizeof(why), "%ld of its entries have keys that are not prometheus_client's",
                         read.bad_keys);
            }
            report_file(health, place->dir, entry->d_name, why, "what could be read of it is served");
        }
        free(data);
    }
    if (lock >= 0) {
        close(lock);
    }
    closedir(dir);
    gpx_appstore_free(&st);
    rc = gpx_appmerge_render(m, out, format, reserved, health);
    gpx_appmerge_free(m);
    return rc;
}
