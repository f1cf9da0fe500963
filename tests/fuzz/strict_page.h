/* strict_page.h - a strict checker of exposition pages, for the fuzz
 * targets and the unit tests: what Prometheus' text parser (promtool) and
 * prometheus_client's OpenMetrics parser refuse, it refuses, and more.
 *
 * Both formats:
 *   - lines end with "\n", no blank line, no NUL, only "# HELP", "# TYPE"
 *     (and in OpenMetrics a last "# EOF") comments;
 *   - names [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*
 *     not starting with "__", no label twice in a sample, label values
 *     with the escapes \\ \" \n only, HELP with \\ \n (and \" in
 *     OpenMetrics, where a bare quote is not allowed);
 *   - types counter, gauge, histogram, summary; every sample under a TYPE
 *     and named as its family's type allows (text: a counter's family is
 *     named with its _total), one HELP and one TYPE per family, before its
 *     samples, no family twice, no two families claiming one name (the
 *     OpenMetrics parser's rule: a counter claims name, name_total,
 *     name_created; a histogram name, _bucket, _count, _sum, _created; a
 *     summary name, _count, _sum, _created), no series twice;
 *   - values: a decimal number, +Inf, -Inf or NaN, nothing after it;
 *   - histogram buckets carry an le that is a number (+Inf written so).
 * OpenMetrics also:
 *   - samples of one group (labels without le) together;
 *   - histograms: buckets in increasing le, counts whole, not negative,
 *     not decreasing, a +Inf bucket, _count equal to it, _count and _sum
 *     both or neither, no _sum beside negative buckets;
 *   - counters' _total, and _count, _sum, _bucket: not NaN, not negative.
 *
 * Header-only (static functions) so that each target includes it. */
#ifndef STRICT_PAGE_H
#define STRICT_PAGE_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growing list of strings. */
struct strict_list {
    char **items;
    size_t count;
};

static int
strict_list_has(const struct strict_list *l, const char *s)
{
    size_t i;

    for (i = 0; i < l->count; i++) {
        if (strcmp(l->items[i], s) == 0) {
            return 1;
        }
    }
    return 0;
}

static void
strict_list_add(struct strict_list *l, const char *s, size_t len)
{
    char **grown = realloc(l->items, (l->count + 1) * sizeof(*grown));
    char *copy = malloc(len + 1);

    if (grown == NULL || copy == NULL) {
        abort(); /* a checker that cannot check must not pass */
    }
    memcpy(copy, s, len);
    copy[len] = '\0';
    l->items = grown;
    l->items[l->count++] = copy;
}

static void
strict_list_clear(struct strict_list *l)
{
    size_t i;

    for (i = 0; i < l->count; i++) {
        free(l->items[i]);
    }
    free(l->items);
    l->items = NULL;
    l->count = 0;
}

static int
strict_name_char(char c, int first, int metric)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (metric && c == ':') ||
           (!first && c >= '0' && c <= '9');
}

/* Length of the name at p (0 if none). */
static size_t
strict_name(const char *p, const char *end, int metric)
{
    size_t n = 0;

    while (p + n < end && strict_name_char(p[n], n == 0, metric)) {
        n++;
    }
    return n;
}

/* Where the [+-]digits at text[i] end, or 0 when there are no digits. */
static size_t
strict_signed_digits(const char *text, size_t i)
{
    size_t start;

    if (text[i] == '+' || text[i] == '-') {
        i++;
    }
    for (start = i; text[i] >= '0' && text[i] <= '9'; i++) {
    }
    return i > start ? i : 0;
}

/* A number as both parsers read it; *value set. */
static int
strict_number(const char *p, size_t len, double *value)
{
    char text[64], *stop;
    size_t i;

    if (len == 0 || len >= sizeof(text)) {
        return 0;
    }
    memcpy(text, p, len);
    text[len] = '\0';
    if (strcmp(text, "+Inf") == 0 || strcmp(text, "-Inf") == 0 || strcmp(text, "NaN") == 0) {
        *value = strcmp(text, "NaN") == 0 ? NAN : text[0] == '+' ? INFINITY : -INFINITY;
        return 1;
    }
    /* [+-]digits[.digits][e[+-]digits] */
    i = strict_signed_digits(text, 0);
    if (i == 0) {
        return 0;
    }
    if (text[i] == '.') {
        for (i++; text[i] >= '0' && text[i] <= '9'; i++) {
        }
    }
    if (text[i] == 'e' || text[i] == 'E') {
        i = strict_signed_digits(text, i + 1);
        if (i == 0) {
            return 0;
        }
    }
    if (text[i] != '\0') {
        return 0;
    }
    *value = strtod(text, &stop);
    return *stop == '\0';
}

/* The family being read. */
struct strict_family {
    char name[1200]; /* as its TYPE line says */
    char type[16];
    int help, typed, samples;
    /* OpenMetrics groups */
    char group[4096];
    int in_group;
    double last_le, last_bucket, inf_value, count_value;
    int buckets, has_inf, has_count, has_sum, negative_bucket;
};

struct strict_state {
    int openmetrics;
    struct strict_list families; /* names seen on TYPE/HELP lines */
    struct strict_list claimed;  /* every name a family claims */
    struct strict_list series;   /* of the current family */
    struct strict_list groups;   /* of the current family (OpenMetrics) */
    struct strict_family f;
    char *err;
    size_t errlen;
};

static int
strict_fail(struct strict_state *s, const char *what, const char *line, size_t len)
{
    snprintf(s->err, s->errlen, "%s: %.*s", what, (int)(len > 300 ? 300 : len), line);
    return -1;
}

/* The base a family's samples start with, and the suffixes it claims. */
static const char *const *
strict_suffixes(const char *type)
{
    static const char *const counter[] = {"_total", "_created", NULL};
    static const char *const histogram[] = {"_bucket", "_count", "_sum", "_created", NULL};
    static const char *const summary[] = {"", "_count", "_sum", "_created", NULL};
    static const char *const gauge[] = {"", NULL};

    return strcmp(type, "counter") == 0     ? counter
           : strcmp(type, "histogram") == 0 ? histogram
           : strcmp(type, "summary") == 0   ? summary
                                            : gauge;
}

/* The family's base: OpenMetrics names a counter's family as its base, the
 * text format with _total. */
static void
strict_base(const struct strict_state *s, char *base, size_t len)
{
    size_t n = strlen(s->f.name);

    if (!s->openmetrics && strcmp(s->f.type, "counter") == 0) {
        n = n >= 6 && strcmp(s->f.name + n - 6, "_total") == 0 ? n - 6 : (size_t)-1;
    }
    if (n == (size_t)-1 || n >= len) {
        base[0] = '\0';
        return;
    }
    memcpy(base, s->f.name, n);
    base[n] = '\0';
}

/* Ends the current group (OpenMetrics histograms). */
static int
strict_end_group(struct strict_state *s)
{
    struct strict_family *f = &s->f;

    if (!s->openmetrics || !f->in_group || strcmp(f->type, "histogram") != 0) {
        return 0;
    }
    if (f->buckets > 0 && !f->has_inf) {
        return strict_fail(s, "histogram without a +Inf bucket", f->name, strlen(f->name));
    }
    if (f->has_count && f->has_inf && f->count_value != f->inf_value) {
        return strict_fail(s, "histogram _count differs from its +Inf bucket", f->name, strlen(f->name));
    }
    if (f->has_sum != f->has_count) {
        return strict_fail(s, "histogram with _sum but no _count, or the reverse", f->name, strlen(f->name));
    }
    if (f->has_sum && f->negative_bucket) {
        return strict_fail(s, "histogram with _sum beside negative buckets", f->name, strlen(f->name));
    }
    return 0;
}

static int
strict_start_family(struct strict_state *s, const char *name, size_t len, const char *line, size_t linelen)
{
    if (strict_end_group(s) != 0) {
        return -1;
    }
    if (len >= sizeof(s->f.name)) {
        return strict_fail(s, "name too long for the checker", line, linelen);
    }
    {
        char copy[1200];

        memcpy(copy, name, len);
        copy[len] = '\0';
        if (strict_list_has(&s->families, copy)) {
            return strict_fail(s, "a family written twice", line, linelen);
        }
        strict_list_add(&s->families, copy, len);
    }
    memset(&s->f, 0, sizeof(s->f));
    memcpy(s->f.name, name, len);
    s->f.name[len] = '\0';
    strict_list_clear(&s->series);
    strict_list_clear(&s->groups);
    return 0;
}

static int
strict_comment(struct strict_state *s, const char *p, const char *eol)
{
    int help = eol - p >= 7 && memcmp(p, "# HELP ", 7) == 0;
    int type = eol - p >= 7 && memcmp(p, "# TYPE ", 7) == 0;
    const char *q = p + 7;
    size_t n;

    if (!help && !type) {
        return strict_fail(s, "a comment other than HELP and TYPE", p, (size_t)(eol - p));
    }
    n = strict_name(q, eol, 1);
    if (n == 0 || q + n >= eol || q[n] != ' ') {
        return strict_fail(s, "a HELP or TYPE line without a valid name", p, (size_t)(eol - p));
    }
    if (s->f.name[0] == '\0' || strlen(s->f.name) != n || memcmp(s->f.name, q, n) != 0) {
        if (strict_start_family(s, q, n, p, (size_t)(eol - p)) != 0) {
            return -1;
        }
    } else if (s->f.samples) {
        return strict_fail(s, "metadata after samples", p, (size_t)(eol - p));
    }
    q += n + 1;
    if (help) {
        if (s->f.help++) {
            return strict_fail(s, "a second HELP", p, (size_t)(eol - p));
        }
        for (; q < eol; q++) {
            if (*q == '\\') {
                if (q + 1 >= eol || (q[1] != '\\' && q[1] != 'n' && !(s->openmetrics && q[1] == '"'))) {
                    return strict_fail(s, "a bad escape in HELP", p, (size_t)(eol - p));
                }
                q++;
            } else if (*q == '"' && s->openmetrics) {
                return strict_fail(s, "a bare quote in an OpenMetrics HELP", p, (size_t)(eol - p));
            }
        }
        return 0;
    }
    if (s->f.typed++) {
        return strict_fail(s, "a second TYPE", p, (size_t)(eol - p));
    }
    n = (size_t)(eol - q);
    if (n >= sizeof(s->f.type) ||
        !((n == 7 && memcmp(q, "counter", 7) == 0) || (n == 5 && memcmp(q, "gauge", 5) == 0) ||
          (n == 9 && memcmp(q, "histogram", 9) == 0) || (n == 7 && memcmp(q, "summary", 7) == 0))) {
        return strict_fail(s, "an unknown TYPE", p, (size_t)(eol - p));
    }
    memcpy(s->f.type, q, n);
    s->f.type[n] = '\0';
    {
        char base[1200], claim[1300];
        const char *const *suffix;

        strict_base(s, base, sizeof(base));
        if (base[0] == '\0') {
            return strict_fail(s, "a text counter family not named _total", p, (size_t)(eol - p));
        }
        /* The family's own name, then what its type claims. */
        if (strict_list_has(&s->claimed, base)) {
            return strict_fail(s, "a family claiming another's name", p, (size_t)(eol - p));
        }
        strict_list_add(&s->claimed, base, strlen(base));
        for (suffix = strict_suffixes(s->f.type); *suffix != NULL; suffix++) {
            if ((*suffix)[0] == '\0') {
                continue;
            }
            snprintf(claim, sizeof(claim), "%s%s", base, *suffix);
            if (strict_list_has(&s->claimed, claim)) {
                return strict_fail(s, "a family claiming another's name", p, (size_t)(eol - p));
            }
            strict_list_add(&s->claimed, claim, strlen(claim));
        }
    }
    return 0;
}

/* Parses the labels at *p (after '{') up to '}': checks names, escapes and
 * duplicates; writes the label set without le (and the le value) for the
 * group. */
static int
strict_labels(struct strict_state *s, const char **pp, const char *eol, const char *line, char *group, size_t grouplen,
              char *le, size_t lelen, int *has_le)
{
    const char *p = *pp;
    struct strict_list names = {NULL, 0};
    size_t at = 0;
    int rc = 0;

    group[0] = '\0';
    le[0] = '\0';
    *has_le = 0;
    while (rc == 0 && p < eol && *p != '}') {
        size_t n = strict_name(p, eol, 0);
        const char *value;
        char name[1200];
        int is_le;

        if (n == 0 || n >= sizeof(name) || p + n + 1 >= eol || p[n] != '=' || p[n + 1] != '"') {
            rc = strict_fail(s, "a bad label", line, (size_t)(eol - line));
            break;
        }
        memcpy(name, p, n);
        name[n] = '\0';
        if (strncmp(name, "__", 2) == 0) {
            rc = strict_fail(s, "a reserved label name", line, (size_t)(eol - line));
            break;
        }
        if (strict_list_has(&names, name)) {
            rc = strict_fail(s, "a label twice", line, (size_t)(eol - line));
            break;
        }
        strict_list_add(&names, name, n);
        is_le = strcmp(name, "le") == 0;
        value = p + n + 2;
        for (p = value; p < eol && *p != '"'; p++) {
            if (*p == '\\') {
                if (p + 1 >= eol || (p[1] != '\\' && p[1] != '"' && p[1] != 'n')) {
                    rc = strict_fail(s, "a bad escape in a label value", line, (size_t)(eol - line));
                    break;
                }
                p++;
            }
        }
        if (rc != 0) {
            break;
        }
        if (p >= eol) {
            rc = strict_fail(s, "an unterminated label value", line, (size_t)(eol - line));
            break;
        }
        if (is_le) {
            *has_le = 1;
            snprintf(le, lelen, "%.*s", (int)(p - value), value);
        } else {
            at += (size_t)snprintf(group + at, at < grouplen ? grouplen - at : 0, "%s%s=\"%.*s\"", at ? "," : "", name,
                                   (int)(p - value), value);
            if (at >= grouplen) {
                rc = strict_fail(s, "labels too long for the checker", line, (size_t)(eol - line));
                break;
            }
        }
        p++;
        if (p < eol && *p == ',') {
            p++;
            if (p < eol && *p == '}') {
                rc = strict_fail(s, "a trailing comma", line, (size_t)(eol - line));
            }
        } else if (p < eol && *p != '}') {
            rc = strict_fail(s, "labels not separated by commas", line, (size_t)(eol - line));
        }
    }
    strict_list_clear(&names);
    if (rc == 0 && (p >= eol || *p != '}')) {
        rc = strict_fail(s, "unterminated labels", line, (size_t)(eol - line));
    }
    *pp = p + 1;
    return rc;
}

static int
strict_sample(struct strict_state *s, const char *p, const char *eol)
{
    struct strict_family *f = &s->f;
    const char *line = p;
    size_t n = strict_name(p, eol, 1), linelen = (size_t)(eol - p);
    char base[1200], sample[1200], group[4096], le[128], series[8192];
    const char *suffix;
    const char *const *allowed;
    int has_le = 0, ok = 0;
    double value, le_value = 0.0;

    if (n == 0 || n >= sizeof(sample)) {
        return strict_fail(s, "a sample without a valid name", line, linelen);
    }
    if (!f->typed) {
        return strict_fail(s, "a sample without a TYPE", line, linelen);
    }
    memcpy(sample, p, n);
    sample[n] = '\0';
    p += n;
    group[0] = '\0';
    if (p < eol && *p == '{') {
        p++;
        if (strict_labels(s, &p, eol, line, group, sizeof(group), le, sizeof(le), &has_le) != 0) {
            return -1;
        }
    }
    if (p >= eol || *p != ' ' || !strict_number(p + 1, (size_t)(eol - p - 1), &value)) {
        return strict_fail(s, "a sample without one valid value", line, linelen);
    }
    /* Named as the family's type allows. */
    strict_base(s, base, sizeof(base));
    if (strncmp(sample, base, strlen(base)) != 0) {
        return strict_fail(s, "a sample not of its family", line, linelen);
    }
    suffix = sample + strlen(base);
    /* gpx writes no _created, and no summary quantiles. */
    for (allowed = strict_suffixes(f->type); *allowed != NULL; allowed++) {
        ok |= strcmp(suffix, *allowed) == 0 && strcmp(*allowed, "_created") != 0 &&
              !(strcmp(f->type, "summary") == 0 && (*allowed)[0] == '\0');
    }
    if (!s->openmetrics && strcmp(f->type, "counter") == 0) {
        ok = suffix[0] == '\0' || strcmp(suffix, "_total") == 0; /* the family's own name */
        ok = ok && strcmp(sample, f->name) == 0;
    }
    if (!ok) {
        return strict_fail(s, "a sample its family's type does not have", line, linelen);
    }
    if ((strcmp(suffix, "_bucket") == 0) != has_le) {
        return strict_fail(s, "a bucket without le, or le elsewhere", line, linelen);
    }
    if (has_le && !strict_number(le, strlen(le), &le_value)) {
        return strict_fail(s, "an le that is not a number", line, linelen);
    }
    if (has_le && isnan(le_value)) {
        return strict_fail(s, "le=\"NaN\"", line, linelen);
    }
    if (has_le && isinf(le_value) && le_value > 0 && strcmp(le, "+Inf") != 0) {
        return strict_fail(s, "+Inf not written +Inf", line, linelen);
    }
    /* No series twice. */
    snprintf(series, sizeof(series), "%.*s", (int)(p - line), line);
    if (strict_list_has(&s->series, series)) {
        return strict_fail(s, "a series twice", line, linelen);
    }
    strict_list_add(&s->series, series, strlen(series));
    f->samples++;
    if (!s->openmetrics) {
        return 0;
    }
    /* OpenMetrics: groups together, and the value rules. */
    if (!f->in_group || strcmp(group, f->group) != 0) {
        if (strict_end_group(s) != 0) {
            return -1;
        }
        if (strict_list_has(&s->groups, group)) {
            return strict_fail(s, "a group split", line, linelen);
        }
        strict_list_add(&s->groups, group, strlen(group));
        snprintf(f->group, sizeof(f->group), "%s", group);
        f->in_group = 1;
        f->buckets = f->has_inf = f->has_count = f->has_sum = f->negative_bucket = 0;
        f->last_bucket = 0.0;
    }
    if ((strcmp(suffix, "_total") == 0 || strcmp(suffix, "_count") == 0 || strcmp(suffix, "_sum") == 0 ||
         strcmp(suffix, "_bucket") == 0) &&
        (isnan(value) || value < 0)) {
        return strict_fail(s, "a counter-like sample NaN or negative", line, linelen);
    }
    if ((strcmp(suffix, "_bucket") == 0 || strcmp(suffix, "_count") == 0) && (isinf(value) || value != floor(value))) {
        return strict_fail(s, "a bucket or count not a whole number", line, linelen);
    }
    if (strcmp(f->type, "histogram") == 0) {
        if (strcmp(suffix, "_bucket") == 0) {
            if (f->buckets > 0 && le_value <= f->last_le) {
                return strict_fail(s, "buckets out of order", line, linelen);
            }
            if (value < f->last_bucket) {
                return strict_fail(s, "bucket counts going down", line, linelen);
            }
            f->buckets++;
            f->last_le = le_value;
            f->last_bucket = value;
            f->negative_bucket |= le_value < 0;
            if (isinf(le_value) && le_value > 0) {
                f->has_inf = 1;
                f->inf_value = value;
            }
        } else if (strcmp(suffix, "_count") == 0) {
            f->has_count = 1;
            f->count_value = value;
        } else if (strcmp(suffix, "_sum") == 0) {
            f->has_sum = 1;
        }
    }
    return 0;
}

/* Checks a page. Returns 0, or -1 with err filled. */
static int
strict_page_check(const char *text, size_t len, int openmetrics, char *err, size_t errlen)
{
    struct strict_state s;
    const char *p = text, *end = text + len;
    int eof = 0, rc = 0;

    memset(&s, 0, sizeof(s));
    s.openmetrics = openmetrics;
    s.err = err;
    s.errlen = errlen;
    if (len == 0 || text[len - 1] != '\n' || memchr(text, '\0', len) != NULL) {
        snprintf(err, errlen, "a page not ending in a newline, or holding a NUL");
        return -1;
    }
    while (rc == 0 && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));

        if (eof) {
            rc = strict_fail(&s, "a line after # EOF", p, (size_t)(eol - p));
        } else if (eol == p) {
            rc = strict_fail(&s, "a blank line", p, 0);
        } else if (openmetrics && eol - p == 5 && memcmp(p, "# EOF", 5) == 0) {
            eof = 1;
            rc = strict_end_group(&s);
        } else if (*p == '#') {
            rc = strict_comment(&s, p, eol);
        } else {
            rc = strict_sample(&s, p, eol);
        }
        p = eol + 1;
    }
    if (rc == 0 && !openmetrics) {
        rc = strict_end_group(&s);
    }
    if (rc == 0 && openmetrics && !eof) {
        snprintf(err, errlen, "an OpenMetrics page without # EOF");
        rc = -1;
    }
    strict_list_clear(&s.families);
    strict_list_clear(&s.claimed);
    strict_list_clear(&s.series);
    strict_list_clear(&s.groups);
    return rc;
}

#endif
