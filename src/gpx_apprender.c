/* gpx_apprender.c - the app's families written as a page (see gpx_apprender.h). */
#define _GNU_SOURCE
#include "gpx_apprender.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpx_exposition.h"
#include "gpx_index.h"

static const char *const suffix_text[] = {"", "_total", "_bucket", "_count", "_sum"};

/* -- accumulation ------------------------------------------------------- */

/* One output sample: the suffix after the family's name, its labels. */
struct out_sample {
    char *id;    /* "<suffix>{<labels>}": the index key */
    char *group; /* the labels without le: samples of one group are written together */
    enum gpx_app_suffix suffix;
    double le; /* buckets */
    double value;
    double timestamp;
    int set;
};

struct out_samples {
    struct out_sample *items;
    size_t count, cap;
    struct gpx_index ix;
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
    gpx_index_free(&o->ix);
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
out_get(struct out_samples *o, enum gpx_app_suffix suffix, const char *labels, const char *group)
{
    struct gpx_buf id;
    uint32_t *slot;
    struct out_sample *s;

    if (gpx_buf_init(&id, 128) != 0) {
        return NULL;
    }
    gpx_buf_printf(&id, "%d{%s}", (int)suffix, labels);
    slot = id.failed ? NULL : gpx_index_place(&o->ix, id.data, id.len, o->items, out_id_at);
    if (slot == NULL) {
        gpx_buf_free(&id);
        return NULL;
    }
    if (*slot != 0) {
        gpx_buf_free(&id);
        return &o->items[*slot - 1];
    }
    if (gpx_grow(&o->items, &o->cap, o->count, sizeof(*o->items), 16) != 0) {
        gpx_buf_free(&id);
        return NULL;
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
    gpx_index_fill(&o->ix, slot, o->count++);
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
add_bucket(struct bucket_set **sets, size_t *nsets, const struct gpx_app_sample *r)
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
accumulate_gauge(struct out_samples *o, const struct gpx_app_family *f, const struct gpx_app_sample *r)
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
    s = out_get(o, GPX_SUFFIX_NONE, labels != NULL ? labels : r->labels, labels != NULL ? labels : r->labels);
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
        out = labels != NULL ? out_get(o, GPX_SUFFIX_BUCKET, labels, s->labels) : NULL;
        free(labels);
        if (out == NULL) {
            return -1;
        }
        out->le = s->b[j].le;
        out->value = acc;
        out->set = 1;
    }
    out = out_get(o, GPX_SUFFIX_COUNT, s->labels, s->labels);
    if (out == NULL) {
        return -1;
    }
    out->value = acc;
    out->set = 1;
    return 0;
}

static int
accumulate(const struct gpx_app_family *f, struct out_samples *o)
{
    struct bucket_set *sets = NULL;
    size_t nsets = 0, i;
    int rc = 0;

    for (i = 0; i < f->count && rc == 0; i++) {
        const struct gpx_app_sample *r = &f->samples[i];

        if (f->type == GPX_PC_GAUGE) {
            rc = accumulate_gauge(o, f, r);
        } else if (r->suffix == GPX_SUFFIX_BUCKET) {
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
openmetrics_group(const struct gpx_app_family *f, const struct out_sample *s, size_t n, int *skip_sums)
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
        case GPX_SUFFIX_TOTAL:
            if (isnan(s[i].value) || s[i].value < 0) {
                return "a counter's value is negative or NaN, which OpenMetrics forbids";
            }
            break;
        case GPX_SUFFIX_BUCKET:
            buckets++;
            inf |= isinf(s[i].le) && s[i].le > 0;
            negative_bound |= s[i].le < 0;
            if (!whole_and_not_negative(s[i].value) || s[i].value < below) {
                return "a bucket's count is not a whole number, or less than a lower bucket's, which OpenMetrics "
                       "forbids";
            }
            below = s[i].value;
            break;
        case GPX_SUFFIX_COUNT:
            if (!whole_and_not_negative(s[i].value)) {
                return "a _count is not a whole number, which OpenMetrics forbids";
            }
            break;
        case GPX_SUFFIX_SUM:
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
    const struct gpx_app_family *fams = ctx;
    const struct gpx_app_family *x = &fams[*(const size_t *)a], *y = &fams[*(const size_t *)b];
    int c;

    if (x->plain != y->plain) {
        return x->plain ? -1 : 1;
    }
    c = strcmp(x->name, y->name);
    if (c != 0) {
        return c;
    }
    return x->type < y->type ? -1 : x->type > y->type;
}

static void
report_drop(struct gpx_app_health *health, const struct gpx_app_family *f, enum gpx_app_drop reason, const char *why,
            int openmetrics_only)
{
    struct gpx_app_report r;

    if (health == NULL) {
        return;
    }
    health->dropped[reason]++;
    if (health->report == NULL || gpx_app_report_begin(&r) != 0) {
        return;
    }
    gpx_buf_printf(&r.key, "family\n%s\n%s\n%s", f->id, gpx_app_drop_label(reason), why != NULL ? why : "");
    gpx_buf_printf(&r.line, "the app's %s \"", gpx_pc_kind_label(f->type));
    gpx_app_quote(&r.line, f->name);
    gpx_buf_puts(&r.line, "\" (in ");
    gpx_app_quote(&r.line, f->source);
    gpx_buf_printf(&r.line, ") is left out of %s: ", openmetrics_only ? "OpenMetrics pages" : "the page");
    gpx_buf_puts(&r.line, why != NULL ? why : gpx_app_drop_label(reason));
    gpx_buf_printf(&r.line, " (gunicorn_exporter_app_families_dropped{reason=\"%s\"})", gpx_app_drop_label(reason));
    gpx_app_report_end(&r, health->report, health->report_ctx);
}

/* The reason (and what) an accepted family clashes with, or -1. */
static int
clash(const struct gpx_appmerge *m, const struct gpx_app_family *f, const struct gpx_names *reserved,
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
        const struct gpx_app_family *other = &m->families[order[i]];
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
render_family(struct gpx_buf *out, const struct gpx_app_family *fam, enum gpx_format format,
              struct gpx_app_health *health)
{
    struct out_samples o;
    const char *suffix = fam->type == GPX_PC_COUNTER && format != GPX_FORMAT_OPENMETRICS ? "_total" : "";
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
                    if (o.items[j].suffix == GPX_SUFFIX_SUM ||
                        (fam->type == GPX_PC_HISTOGRAM && o.items[j].suffix == GPX_SUFFIX_COUNT)) {
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
gpx_apprender_families(struct gpx_appmerge *m, struct gpx_buf *out, enum gpx_format format,
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
        const struct gpx_app_family *fam = &m->families[order[i]];
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
gpx_apprender_health(struct gpx_buf *out, enum gpx_format format, const struct gpx_app_health *health)
{
    unsigned r;

    gpx_render_family(out, format, GPX_FAM_APP_FAMILIES_DROPPED);
    for (r = 0; r < GPX_APP_DROPS; r++) {
        gpx_buf_printf(out, "%s{reason=\"%s\"} %u\n", gpx_families[GPX_FAM_APP_FAMILIES_DROPPED].name,
                       gpx_app_drop_label((enum gpx_app_drop)r), health != NULL ? health->dropped[r] : 0);
    }
    gpx_render_family(out, format, GPX_FAM_APP_FILES_UNREADABLE);
    gpx_buf_printf(out, "%s %u\n", gpx_families[GPX_FAM_APP_FILES_UNREADABLE].name,
                   health != NULL ? health->unreadable_files : 0);
    return out->failed ? -1 : 0;
}
