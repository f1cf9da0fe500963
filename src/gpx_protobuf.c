/* gpx_protobuf.c - the text page as delimited MetricFamily messages (see
 * gpx_protobuf.h). */
#define _GNU_SOURCE /* memmem */
#include "gpx_protobuf.h"

#include "metrics.pb-c.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef Io__Prometheus__Client__MetricFamily Family;
typedef Io__Prometheus__Client__Metric Metric;
typedef Io__Prometheus__Client__LabelPair LabelPair;
typedef Io__Prometheus__Client__Bucket Bucket;
typedef Io__Prometheus__Client__Quantile Quantile;
typedef Io__Prometheus__Client__Exemplar Exemplar;
typedef Io__Prometheus__Client__BucketSpan BucketSpan;

/* Labels an exemplar may carry: OpenMetrics allows 128 characters of them,
 * gpx writes two (trace_id, span_id). */
#define EXEMPLAR_LABELS 4

/* A bucket's exemplar, with what its message points to. */
struct exemplar {
    Exemplar msg;
    LabelPair labels[EXEMPLAR_LABELS];
    LabelPair *label_ptrs[EXEMPLAR_LABELS];
    Io__Prometheus__Client__Timestamp timestamp;
    size_t bucket; /* the index of its bucket in the metric's buckets */
};

/* One metric of the family being read, with what its messages point to. */
struct metric {
    Metric msg;
    LabelPair *labels; /* msg.label points into this */
    LabelPair **label_ptrs;
    Io__Prometheus__Client__Counter counter;
    Io__Prometheus__Client__Gauge gauge;
    Io__Prometheus__Client__Untyped untyped;
    Io__Prometheus__Client__Histogram histogram;
    Io__Prometheus__Client__Summary summary;
    Bucket *buckets;
    Bucket **bucket_ptrs;
    size_t bucket_cap;
    Quantile *quantiles;
    Quantile **quantile_ptrs;
    size_t quantile_cap;
    int have_count; /* a _count line was read (else the +Inf bucket counts) */
    struct exemplar *exemplars;
    Exemplar **exemplar_ptrs;
    size_t exemplar_count, exemplar_cap;
    BucketSpan *spans; /* the native histogram's (a "# NATIVE" line) */
    BucketSpan **span_ptrs;
    int64_t *deltas;
};

/* Memory for the label texts of a family's metrics, freed with it: one
 * allocation per 64 KB, not two per label. */
struct block {
    struct block *next;
    size_t used, cap;
    char data[];
};

/* The family being read. */
struct family {
    char *name;
    char *help;
    Io__Prometheus__Client__MetricType type;
    struct metric *metrics;
    size_t count, cap;
    struct block *blocks;
    size_t last; /* the metric of the last sample line, + 1; 0: none */
};

/* One sample line, its label texts unescaped into a scratch buffer that
 * the next line reuses. */
#define MAX_LABELS 64
struct sample {
    const char *name;
    size_t name_len;
    const char *label_names[MAX_LABELS];
    const char *label_values[MAX_LABELS];
    unsigned labels;
    double value;
    int have_timestamp;
    int64_t timestamp_ms;
    /* An exemplar after the value (` # {labels} value [timestamp]`), as
     * OpenMetrics writes them and gpx's own page for this converter. */
    unsigned exemplar_labels; /* 0: none */
    const char *exemplar_names[EXEMPLAR_LABELS];
    const char *exemplar_values[EXEMPLAR_LABELS];
    double exemplar_value;
    int exemplar_have_timestamp;
    double exemplar_timestamp;
};

static char *
copy(const char *p, size_t len)
{
    char *s = malloc(len + 1);

    if (s != NULL) {
        memcpy(s, p, len);
        s[len] = '\0';
    }
    return s;
}

/* A copy of `text` that lives as long as the family. */
static char *
family_copy(struct family *f, const char *text)
{
    size_t len = strlen(text) + 1;
    struct block *b = f->blocks;
    char *s;

    if (b == NULL || b->cap - b->used < len) {
        size_t cap = len > 65536 ? len : 65536;

        b = malloc(sizeof(*b) + cap);
        if (b == NULL) {
            return NULL;
        }
        b->next = f->blocks;
        b->used = 0;
        b->cap = cap;
        f->blocks = b;
    }
    s = b->data + b->used;
    memcpy(s, text, len);
    b->used += len;
    return s;
}

static void
free_metric(struct metric *m)
{
    free(m->labels);
    free(m->label_ptrs);
    free(m->buckets);
    free(m->bucket_ptrs);
    free(m->quantiles);
    free(m->quantile_ptrs);
    free(m->exemplars);
    free(m->exemplar_ptrs);
    free(m->spans);
    free(m->span_ptrs);
    free(m->deltas);
}

static void
clear_family(struct family *f)
{
    size_t i;

    for (i = 0; i < f->count; i++) {
        free_metric(&f->metrics[i]);
    }
    free(f->metrics);
    free(f->name);
    free(f->help);
    while (f->blocks != NULL) {
        struct block *next = f->blocks->next;

        free(f->blocks);
        f->blocks = next;
    }
    memset(f, 0, sizeof(*f));
}

static void
put_varint(struct gpx_buf *out, uint64_t v)
{
    char bytes[10];
    size_t n = 0;

    do {
        bytes[n++] = (char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v != 0);
    gpx_buf_append(out, bytes, n);
}

/* Encodes the family read so far (if any) and forgets it. */
static int
flush_family(struct gpx_buf *out, struct family *f)
{
    Family msg = IO__PROMETHEUS__CLIENT__METRIC_FAMILY__INIT;
    Metric **metrics;
    size_t i, size;
    char *p;
    int rc = 0;

    if (f->name == NULL) {
        return 0;
    }
    metrics = calloc(f->count + 1, sizeof(*metrics));
    if (metrics == NULL) {
        clear_family(f);
        return -1;
    }
    for (i = 0; i < f->count; i++) {
        struct metric *m = &f->metrics[i];

        /* Pointers into the metric are set only now: the array of metrics
         * moves while it grows. */
        metrics[i] = &m->msg;
        m->msg.label = m->label_ptrs;
        m->histogram.bucket = m->bucket_ptrs;
        m->summary.quantile = m->quantile_ptrs;
        for (size_t k = 0; k < m->exemplar_count; k++) {
            struct exemplar *e = &m->exemplars[k];

            for (size_t l = 0; l < e->msg.n_label; l++) {
                e->label_ptrs[l] = &e->labels[l];
            }
            e->msg.label = e->label_ptrs;
            e->msg.timestamp = e->timestamp.has_seconds ? &e->timestamp : NULL;
            m->buckets[e->bucket].exemplar = &e->msg;
            m->exemplar_ptrs[k] = &e->msg;
        }
        /* A native histogram's exemplars are its own field's as well
         * (Prometheus reads them there for a native histogram). */
        if (m->histogram.n_positive_span > 0 || m->histogram.zero_count > 0) {
            m->histogram.n_exemplars = m->exemplar_count;
            m->histogram.exemplars = m->exemplar_ptrs;
        }
        switch (f->type) {
        case IO__PROMETHEUS__CLIENT__METRIC_TYPE__COUNTER:
            m->msg.counter = &m->counter;
            break;
        case IO__PROMETHEUS__CLIENT__METRIC_TYPE__GAUGE:
            m->msg.gauge = &m->gauge;
            break;
        case IO__PROMETHEUS__CLIENT__METRIC_TYPE__HISTOGRAM:
            m->msg.histogram = &m->histogram;
            break;
        case IO__PROMETHEUS__CLIENT__METRIC_TYPE__SUMMARY:
            m->msg.summary = &m->summary;
            break;
        default:
            m->msg.untyped = &m->untyped;
            break;
        }
    }
    msg.name = f->name;
    msg.help = f->help;
    msg.has_type = 1;
    msg.type = f->type;
    msg.n_metric = f->count;
    msg.metric = metrics;
    size = io__prometheus__client__metric_family__get_packed_size(&msg);
    put_varint(out, size);
    p = gpx_buf_room(out, size);
    if (p == NULL) {
        rc = -1;
    } else {
        gpx_buf_commit(out, p + io__prometheus__client__metric_family__pack(&msg, (uint8_t *)p));
    }
    free(metrics);
    clear_family(f);
    return rc;
}

static int
is_name_char(char c, int first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (!first && c >= '0' && c <= '9');
}

/* A name at *p (advanced past it); its length, 0 when there is none. */
static size_t
read_name(const char **p, const char *end)
{
    const char *s = *p;

    while (*p < end && is_name_char(**p, *p == s)) {
        (*p)++;
    }
    return (size_t)(*p - s);
}

/* Unescapes a HELP text (\\ and \n) or a label value (\\, \" and \n). */
static char *
unescape(const char *p, const char *end, int quotes)
{
    char *s = malloc((size_t)(end - p) + 1), *o = s;

    if (s == NULL) {
        return NULL;
    }
    for (; p < end; p++) {
        if (*p == '\\' && p + 1 < end && (p[1] == '\\' || p[1] == 'n' || (quotes && p[1] == '"'))) {
            p++;
            *o++ = *p == 'n' ? '\n' : *p;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return s;
}

/* A number as the text format writes it (strtod's forms, "+Inf", "NaN"; a
 * "%f" of a large double is some 320 digits long). */
/* Appends a label value unescaped (\\, \" and \n), and a NUL. */
static void
unescape_into(struct gpx_buf *b, const char *p, const char *end)
{
    char *o = gpx_buf_room(b, (size_t)(end - p) + 1);

    if (o == NULL) {
        return;
    }
    for (; p < end; p++) {
        if (*p == '\\' && p + 1 < end && (p[1] == '\\' || p[1] == 'n' || p[1] == '"')) {
            p++;
            *o++ = *p == 'n' ? '\n' : *p;
        } else {
            *o++ = *p;
        }
    }
    *o++ = '\0';
    gpx_buf_commit(b, o);
}

static int
read_number(const char *p, const char *end, double *value)
{
    char small[64], *tmp = small, *stop;
    size_t len = (size_t)(end - p);
    int rc;

    if (len == 0) {
        return -1;
    }
    if (len >= sizeof(small) && (tmp = malloc(len + 1)) == NULL) {
        return -1;
    }
    memcpy(tmp, p, len);
    tmp[len] = '\0';
    *value = strtod(tmp, &stop);
    rc = *stop == '\0' ? 0 : -1;
    if (tmp != small) {
        free(tmp);
    }
    return rc;
}

/* `{name="value",...}` at *p (advanced past it): each name and unescaped
 * value appended to scratch with a NUL, their offsets in offsets[]; at
 * most `max` labels. Returns their count, or -1. */
static int
read_labels(const char **pp, const char *end, struct gpx_buf *scratch, size_t offsets[][2], unsigned max)
{
    const char *p = *pp + 1;
    unsigned count = 0;

    while (p < end && *p != '}') {
        const char *n = p, *q;
        size_t nlen = read_name(&p, end);

        if (nlen == 0 || p + 1 >= end || p[0] != '=' || p[1] != '"' || count == max) {
            return -1;
        }
        p += 2;
        for (q = p; q < end && *q != '"'; q++) {
            if (*q == '\\') {
                q++;
            }
        }
        if (q >= end) {
            return -1;
        }
        offsets[count][0] = scratch->len;
        gpx_buf_append(scratch, n, nlen);
        gpx_buf_append(scratch, "", 1);
        offsets[count][1] = scratch->len;
        unescape_into(scratch, p, q);
        count++;
        p = q + 1;
        if (p < end && *p == ',') {
            p++;
        }
    }
    if (p >= end || scratch->failed) {
        return -1;
    }
    *pp = p + 1;
    return (int)count;
}

/* A value and an optional timestamp, space-separated, up to end. */
static int
read_value_time(const char *p, const char *end, double *value, int *have_time, double *time)
{
    const char *v;

    for (v = p; p < end && *p != ' '; p++) {
    }
    if (read_number(v, p, value) != 0) {
        return -1;
    }
    *have_time = p < end;
    return p < end ? read_number(p + 1, end, time) : 0;
}

/* ` # {labels} value [timestamp]` after a sample's value: its exemplar. */
static int
read_exemplar(const char *p, const char *end, struct sample *s, struct gpx_buf *scratch,
              size_t offsets[EXEMPLAR_LABELS][2])
{
    int n;

    p += 3;
    n = read_labels(&p, end, scratch, offsets, EXEMPLAR_LABELS);
    if (n <= 0 || p >= end || *p != ' ' ||
        read_value_time(p + 1, end, &s->exemplar_value, &s->exemplar_have_timestamp, &s->exemplar_timestamp) != 0) {
        return -1;
    }
    s->exemplar_labels = (unsigned)n;
    return 0;
}

/* A sample line: name, labels, value, an optional timestamp and an
 * optional exemplar. */
static int
read_sample(const char *p, const char *end, struct sample *s, struct gpx_buf *scratch)
{
    size_t offsets[MAX_LABELS][2], exemplar_offsets[EXEMPLAR_LABELS][2];
    const char *hash;
    double ts;
    unsigned i;

    memset(s, 0, sizeof(*s));
    gpx_buf_reset(scratch);
    s->name = p;
    s->name_len = read_name(&p, end);
    if (s->name_len == 0) {
        return -1;
    }
    if (p < end && *p == '{') {
        int n = read_labels(&p, end, scratch, offsets, MAX_LABELS);

        if (n < 0) {
            return -1;
        }
        s->labels = (unsigned)n;
    }
    if (p >= end || *p != ' ') {
        return -1;
    }
    p++;
    /* Past the labels, " # " can only open an exemplar. */
    hash = memmem(p, (size_t)(end - p), " # {", 4);
    if (hash != NULL && read_exemplar(hash, end, s, scratch, exemplar_offsets) != 0) {
        return -1;
    }
    if (read_value_time(p, hash != NULL ? hash : end, &s->value, &s->have_timestamp, &ts) != 0 ||
        (s->have_timestamp && !(ts > -9.2e18 && ts < 9.2e18))) {
        return -1;
    }
    s->timestamp_ms = s->have_timestamp ? (int64_t)ts : 0;
    /* The scratch buffer moves while it grows: pointers only now. */
    for (i = 0; i < s->labels; i++) {
        s->label_names[i] = scratch->data + offsets[i][0];
        s->label_values[i] = scratch->data + offsets[i][1];
    }
    for (i = 0; i < s->exemplar_labels; i++) {
        s->exemplar_names[i] = scratch->data + exemplar_offsets[i][0];
        s->exemplar_values[i] = scratch->data + exemplar_offsets[i][1];
    }
    return 0;
}

static int
name_is(const struct sample *s, const char *family, const char *suffix)
{
    size_t flen = strlen(family), slen = strlen(suffix);

    return s->name_len == flen + slen && memcmp(s->name, family, flen) == 0 &&
           memcmp(s->name + flen, suffix, slen) == 0;
}

/* Which of the family's lines the sample is: 0 the value (or a quantile),
 * 1 _bucket, 2 _count, 3 _sum; -1 not of the family. */
static int
sample_part(const struct family *f, const struct sample *s)
{
    switch (f->type) {
    case IO__PROMETHEUS__CLIENT__METRIC_TYPE__HISTOGRAM:
        return name_is(s, f->name, "_bucket")  ? 1
               : name_is(s, f->name, "_count") ? 2
               : name_is(s, f->name, "_sum")   ? 3
                                               : -1;
    case IO__PROMETHEUS__CLIENT__METRIC_TYPE__SUMMARY:
        return name_is(s, f->name, "") ? 0 : name_is(s, f->name, "_count") ? 2 : name_is(s, f->name, "_sum") ? 3 : -1;
    default:
        return name_is(s, f->name, "") ? 0 : -1;
    }
}

/* Whether metric m has the sample's labels but `skip` (le or quantile). */
static int
same_labels(const struct metric *m, const struct sample *s, const char *skip)
{
    unsigned i, k = 0;

    for (i = 0; i < s->labels; i++) {
        if (skip != NULL && strcmp(s->label_names[i], skip) == 0) {
            continue;
        }
        if (k >= m->msg.n_label || strcmp(m->labels[k].name, s->label_names[i]) != 0 ||
            strcmp(m->labels[k].value, s->label_values[i]) != 0) {
            return 0;
        }
        k++;
    }
    return k == m->msg.n_label;
}

/* A new metric with the sample's labels but `skip`, copied. */
static struct metric *
new_metric(struct family *f, struct sample *s, const char *skip)
{
    struct metric *m;
    unsigned i, n = 0;

    if (gpx_grow(&f->metrics, &f->cap, f->count, sizeof(*f->metrics), 16) != 0) {
        return NULL;
    }
    m = &f->metrics[f->count++];
    memset(m, 0, sizeof(*m));
    io__prometheus__client__metric__init(&m->msg);
    m->labels = calloc(s->labels + 1, sizeof(*m->labels));
    m->label_ptrs = calloc(s->labels + 1, sizeof(*m->label_ptrs));
    if (m->labels == NULL || m->label_ptrs == NULL) {
        return NULL;
    }
    for (i = 0; i < s->labels; i++) {
        if (skip != NULL && strcmp(s->label_names[i], skip) == 0) {
            continue;
        }
        io__prometheus__client__label_pair__init(&m->labels[n]);
        m->labels[n].name = family_copy(f, s->label_names[i]);
        m->labels[n].value = family_copy(f, s->label_values[i]);
        if (m->labels[n].name == NULL || m->labels[n].value == NULL) {
            return NULL;
        }
        m->label_ptrs[n] = &m->labels[n];
        n++;
    }
    m->msg.n_label = n;
    if (s->have_timestamp) {
        m->msg.has_timestamp_ms = 1;
        m->msg.timestamp_ms = s->timestamp_ms;
    }
    io__prometheus__client__counter__init(&m->counter);
    io__prometheus__client__gauge__init(&m->gauge);
    io__prometheus__client__untyped__init(&m->untyped);
    io__prometheus__client__histogram__init(&m->histogram);
    m->histogram.has_sample_count = m->histogram.has_sample_sum = 1;
    io__prometheus__client__summary__init(&m->summary);
    m->summary.has_sample_count = m->summary.has_sample_sum = 1;
    return m;
}

/* The metric of a histogram's or summary's line: the last one when it has
 * the sample's labels but `skip` (a label set's lines come together, as
 * the text format wants them), else a new one. */
static struct metric *
metric_for(struct family *f, struct sample *s, const char *skip)
{
    if (f->count > 0 && same_labels(&f->metrics[f->count - 1], s, skip)) {
        return &f->metrics[f->count - 1];
    }
    return new_metric(f, s, skip);
}

static const char *
label_of(const struct sample *s, const char *name)
{
    unsigned i;

    for (i = 0; i < s->labels; i++) {
        if (strcmp(s->label_names[i], name) == 0) {
            return s->label_values[i];
        }
    }
    return NULL;
}

static uint64_t
as_count(double v)
{
    return isfinite(v) && v > 0 ? (v < 18446744073709551615.0 ? (uint64_t)v : UINT64_MAX) : 0;
}

static int
add_bucket(struct metric *m, double bound, double count, int keep_inf)
{
    size_t n = m->histogram.n_bucket;

    if (isinf(bound) && bound > 0 && !keep_inf) {
        /* +Inf: the count, which the format does not repeat as a bucket. */
        if (!m->have_count) {
            m->histogram.sample_count = as_count(count);
        }
        return 0;
    }
    if (gpx_grow(&m->buckets, &m->bucket_cap, n, sizeof(*m->buckets), 16) != 0) {
        return -1;
    }
    free(m->bucket_ptrs);
    m->bucket_ptrs = calloc(m->bucket_cap, sizeof(*m->bucket_ptrs));
    if (m->bucket_ptrs == NULL) {
        return -1;
    }
    io__prometheus__client__bucket__init(&m->buckets[n]);
    m->buckets[n].has_cumulative_count = m->buckets[n].has_upper_bound = 1;
    m->buckets[n].cumulative_count = as_count(count);
    m->buckets[n].upper_bound = bound;
    if (isinf(bound) && !m->have_count) {
        m->histogram.sample_count = as_count(count);
    }
    m->histogram.n_bucket = n + 1;
    for (size_t i = 0; i <= n; i++) {
        m->bucket_ptrs[i] = &m->buckets[i];
    }
    return 0;
}

/* The sample's exemplar, for the bucket just added to m. */
static int
add_exemplar(struct family *f, struct metric *m, const struct sample *s)
{
    struct exemplar *e;
    unsigned i;

    if (m->histogram.n_bucket == 0) {
        return 0;
    }
    if (gpx_grow(&m->exemplars, &m->exemplar_cap, m->exemplar_count, sizeof(*m->exemplars), 4) != 0) {
        return -1;
    }
    free(m->exemplar_ptrs);
    m->exemplar_ptrs = calloc(m->exemplar_cap, sizeof(*m->exemplar_ptrs));
    if (m->exemplar_ptrs == NULL) {
        return -1;
    }
    e = &m->exemplars[m->exemplar_count++];
    memset(e, 0, sizeof(*e));
    io__prometheus__client__exemplar__init(&e->msg);
    io__prometheus__client__timestamp__init(&e->timestamp);
    for (i = 0; i < s->exemplar_labels; i++) {
        io__prometheus__client__label_pair__init(&e->labels[i]);
        e->labels[i].name = family_copy(f, s->exemplar_names[i]);
        e->labels[i].value = family_copy(f, s->exemplar_values[i]);
        if (e->labels[i].name == NULL || e->labels[i].value == NULL) {
            return -1;
        }
    }
    e->msg.n_label = s->exemplar_labels;
    e->msg.has_value = 1;
    e->msg.value = s->exemplar_value;
    if (s->exemplar_have_timestamp && s->exemplar_timestamp >= 0 && s->exemplar_timestamp < 9.2e18) {
        double whole = floor(s->exemplar_timestamp);

        e->timestamp.has_seconds = e->timestamp.has_nanos = 1;
        e->timestamp.seconds = (int64_t)whole;
        e->timestamp.nanos = (int32_t)llround((s->exemplar_timestamp - whole) * 1e9);
        if (e->timestamp.nanos >= 1000000000) {
            e->timestamp.seconds++;
            e->timestamp.nanos -= 1000000000;
        }
    }
    e->bucket = m->histogram.n_bucket - 1;
    return 0;
}

static int
add_quantile(struct metric *m, double quantile, double value)
{
    size_t n = m->summary.n_quantile;

    if (gpx_grow(&m->quantiles, &m->quantile_cap, n, sizeof(*m->quantiles), 4) != 0) {
        return -1;
    }
    free(m->quantile_ptrs);
    m->quantile_ptrs = calloc(m->quantile_cap, sizeof(*m->quantile_ptrs));
    if (m->quantile_ptrs == NULL) {
        return -1;
    }
    io__prometheus__client__quantile__init(&m->quantiles[n]);
    m->quantiles[n].has_quantile = m->quantiles[n].has_value = 1;
    m->quantiles[n].quantile = quantile;
    m->quantiles[n].value = value;
    m->summary.n_quantile = n + 1;
    for (size_t i = 0; i <= n; i++) {
        m->quantile_ptrs[i] = &m->quantiles[i];
    }
    return 0;
}

/* Adds a sample line to the family it belongs to. */
static int
add_sample(struct gpx_buf *out, struct family *f, struct sample *s)
{
    int part = f->name != NULL ? sample_part(f, s) : -1;
    const char *skip = NULL, *special = NULL;
    struct metric *m;
    double bound;

    if (part < 0) {
        /* Outside the block's names: an untyped family of its own. */
        if (flush_family(out, f) != 0) {
            return -1;
        }
        f->name = copy(s->name, s->name_len);
        f->type = IO__PROMETHEUS__CLIENT__METRIC_TYPE__UNTYPED;
        if (f->name == NULL) {
            return -1;
        }
        part = 0;
    }
    if (f->type == IO__PROMETHEUS__CLIENT__METRIC_TYPE__HISTOGRAM) {
        skip = "le";
    } else if (f->type == IO__PROMETHEUS__CLIENT__METRIC_TYPE__SUMMARY) {
        skip = "quantile";
    }
    special = skip != NULL ? label_of(s, skip) : NULL;
    if ((part == 1 || (part == 0 && skip != NULL)) &&
        (special == NULL || read_number(special, special + strlen(special), &bound) != 0)) {
        return -1; /* a bucket without its bound, a quantile without its rank */
    }
    /* A counter's, gauge's or untyped sample is a metric of its own, even
     * one with the labels of another (the text page would hold both). */
    m = skip != NULL ? metric_for(f, s, skip) : new_metric(f, s, NULL);
    if (m == NULL) {
        return -1;
    }
    f->last = (size_t)(m - f->metrics) + 1;
    switch (part) {
    case 1:
        if (add_bucket(m, bound, s->value, s->exemplar_labels > 0) != 0) {
            return -1;
        }
        return s->exemplar_labels > 0 ? add_exemplar(f, m, s) : 0;
    case 2:
        m->have_count = 1;
        if (f->type == IO__PROMETHEUS__CLIENT__METRIC_TYPE__HISTOGRAM) {
            m->histogram.sample_count = as_count(s->value);
        } else {
            m->summary.sample_count = as_count(s->value);
        }
        return 0;
    case 3:
        if (f->type == IO__PROMETHEUS__CLIENT__METRIC_TYPE__HISTOGRAM) {
            m->histogram.sample_sum = s->value;
        } else {
            m->summary.sample_sum = s->value;
        }
        return 0;
    default:
        if (f->type == IO__PROMETHEUS__CLIENT__METRIC_TYPE__SUMMARY) {
            return add_quantile(m, bound, s->value);
        }
        m->counter.has_value = m->gauge.has_value = m->untyped.has_value = 1;
        m->counter.value = m->gauge.value = m->untyped.value = s->value;
        return 0;
    }
}

static Io__Prometheus__Client__MetricType
type_of(const char *p, const char *end)
{
    size_t len = (size_t)(end - p);

#define TYPE_IS(word) (len == sizeof(word) - 1 && memcmp(p, word, len) == 0)
    if (TYPE_IS("counter")) {
        return IO__PROMETHEUS__CLIENT__METRIC_TYPE__COUNTER;
    }
    if (TYPE_IS("gauge")) {
        return IO__PROMETHEUS__CLIENT__METRIC_TYPE__GAUGE;
    }
    if (TYPE_IS("histogram")) {
        return IO__PROMETHEUS__CLIENT__METRIC_TYPE__HISTOGRAM;
    }
    if (TYPE_IS("summary")) {
        return IO__PROMETHEUS__CLIENT__METRIC_TYPE__SUMMARY;
    }
#undef TYPE_IS
    return IO__PROMETHEUS__CLIENT__METRIC_TYPE__UNTYPED;
}

/* A whole number at *p, up to a space or a colon (*p advanced past it and
 * that one separator): signed (`is_signed`, an index or a schema) or a
 * count, whose whole uint64 range a counter may reach. */
static int
read_integer(const char **p, const char *end, int is_signed, long long *index, uint64_t *count)
{
    char digits[24], *stop;
    const char *s = *p;
    size_t len;

    while (*p < end && **p != ' ' && **p != ':') {
        (*p)++;
    }
    len = (size_t)(*p - s);
    if (len == 0 || len >= sizeof(digits) || (!is_signed && *s == '-')) {
        return -1;
    }
    memcpy(digits, s, len);
    digits[len] = '\0';
    errno = 0;
    if (is_signed) {
        *index = strtoll(digits, &stop, 10);
    } else {
        *count = strtoull(digits, &stop, 10);
    }
    if (errno != 0 || *stop != '\0') {
        return -1;
    }
    if (*p < end) {
        (*p)++;
    }
    return 0;
}

/* `# NATIVE <schema> <zero threshold> <zero count> <index>:<count>...`
 * after a histogram's lines (gpx_exposition.c's put_native): the native
 * histogram of the metric of the last sample, as spans of consecutive
 * buckets and the deltas between their counts. */
static int
read_native(struct family *f, const char *p, const char *end)
{
    struct metric *m;
    long long schema, index, previous_index = 0;
    uint64_t zero, count, previous_count = 0;
    const char *t;
    size_t spans = 0, deltas = 0, most;
    double threshold;

    if (f->type != IO__PROMETHEUS__CLIENT__METRIC_TYPE__HISTOGRAM || f->last == 0) {
        return -1;
    }
    m = &f->metrics[f->last - 1];
    p += 9;
    if (read_integer(&p, end, 1, &schema, NULL) != 0 || schema < -4 || schema > 8) {
        return -1;
    }
    for (t = p; t < end && *t != ' '; t++) {
    }
    if (read_number(p, t, &threshold) != 0 || !(threshold >= 0)) {
        return -1;
    }
    p = t + (t < end);
    if (read_integer(&p, end, 0, NULL, &zero) != 0) {
        return -1;
    }
    most = (size_t)(end - p) / 4 + 1; /* each bucket takes at least "i:c " */
    free(m->spans);
    free(m->span_ptrs);
    free(m->deltas);
    m->spans = calloc(most, sizeof(*m->spans));
    m->span_ptrs = calloc(most, sizeof(*m->span_ptrs));
    m->deltas = calloc(most, sizeof(*m->deltas));
    if (m->spans == NULL || m->span_ptrs == NULL || m->deltas == NULL) {
        return -1;
    }
    while (p < end) {
        if (read_integer(&p, end, 1, &index, NULL) != 0 || p[-1] != ':' ||
            read_integer(&p, end, 0, NULL, &count) != 0 || count == 0 || deltas == most ||
            (deltas > 0 && index <= previous_index) || index < INT32_MIN || index > INT32_MAX) {
            return -1;
        }
        if (deltas == 0 || index != previous_index + 1) {
            /* A new span: the first at its index, the next ones at the gap. */
            io__prometheus__client__bucket_span__init(&m->spans[spans]);
            m->spans[spans].has_offset = m->spans[spans].has_length = 1;
            m->spans[spans].offset = (int32_t)(deltas == 0 ? index : index - previous_index - 1);
            m->span_ptrs[spans] = &m->spans[spans];
            spans++;
        }
        m->spans[spans - 1].length++;
        /* The format's delta, modulo 2^64 as a counter wraps. */
        m->deltas[deltas++] = (int64_t)(count - previous_count);
        previous_index = index;
        previous_count = count;
    }
    m->histogram.has_schema = m->histogram.has_zero_threshold = m->histogram.has_zero_count = 1;
    m->histogram.schema = (int32_t)schema;
    m->histogram.zero_threshold = threshold;
    m->histogram.zero_count = zero;
    m->histogram.n_positive_span = spans;
    m->histogram.positive_span = m->span_ptrs;
    m->histogram.n_positive_delta = deltas;
    m->histogram.positive_delta = m->deltas;
    return 0;
}

/* "# HELP name text" or "# TYPE name type": the family named, opened if it
 * is not the one being read; "# NATIVE ...": a native histogram. Other
 * comments are skipped. */
static int
read_comment(struct gpx_buf *out, struct family *f, const char *p, const char *end)
{
    int help;
    const char *name;
    size_t len;

    if (end - p >= 9 && memcmp(p, "# NATIVE ", 9) == 0) {
        return read_native(f, p, end);
    }
    if (end - p < 7 || (memcmp(p, "# HELP ", 7) != 0 && memcmp(p, "# TYPE ", 7) != 0)) {
        return 0;
    }
    help = p[2] == 'H';
    p += 7;
    name = p;
    len = read_name(&p, end);
    if (len == 0 || (p < end && *p != ' ')) {
        return -1;
    }
    if (f->name == NULL || strlen(f->name) != len || memcmp(f->name, name, len) != 0 || f->count > 0) {
        if (flush_family(out, f) != 0 || (f->name = copy(name, len)) == NULL) {
            return -1;
        }
        f->type = IO__PROMETHEUS__CLIENT__METRIC_TYPE__UNTYPED;
    }
    p += p < end;
    if (help) {
        free(f->help);
        f->help = unescape(p, end, 0);
        return f->help != NULL ? 0 : -1;
    }
    f->type = type_of(p, end);
    return 0;
}

int
gpx_protobuf_from_text(struct gpx_buf *out, const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    struct gpx_buf scratch;
    struct family f;
    int rc = 0;

    memset(&f, 0, sizeof(f));
    if (gpx_buf_init(&scratch, 4096) != 0) {
        return -1;
    }
    while (p < end && rc == 0) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));

        if (eol == NULL) {
            eol = end;
        }
        if (eol > p && *p == '#') {
            rc = read_comment(out, &f, p, eol);
        } else if (eol > p) {
            struct sample s;

            rc = read_sample(p, eol, &s, &scratch);
            if (rc == 0) {
                rc = add_sample(out, &f, &s);
            }
        }
        p = eol + 1;
    }
    if (rc == 0) {
        rc = flush_family(out, &f);
    }
    clear_family(&f);
    gpx_buf_free(&scratch);
    return rc == 0 && !out->failed ? 0 : -1;
}
