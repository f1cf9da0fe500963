/* gpx_uwsgi_metrics.c - uWSGI's metrics as Prometheus families (see gpx_uwsgi_metrics.h). */
#define _POSIX_C_SOURCE 200809L
#include "gpx_uwsgi_metrics.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "uwsgi_"

/* Length of the run of digits at p that a '.' ends, or 0. */
static size_t
number_then_dot(const char *p)
{
    size_t n = 0;

    while (p[n] >= '0' && p[n] <= '9') {
        n++;
    }
    return n > 0 && p[n] == '.' ? n : 0;
}

static char *
copy_n(const char *p, size_t n)
{
    char *s = malloc(n + 1);

    if (s != NULL) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

/* Appends `text` to a metric name, every character outside [a-zA-Z0-9_]
 * (uWSGI allows '.' and '-') becoming '_'. */
static void
put_name_part(struct gpx_buf *b, const char *text)
{
    const char *p;

    for (p = text; *p != '\0'; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';

        gpx_buf_append(b, ok ? &c : "_", 1);
    }
}

/* Appends `text` as HELP text: backslash and newline escaped. */
static void
put_help_text(struct gpx_buf *b, const char *text, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (text[i] == '\\') {
            gpx_buf_puts(b, "\\\\");
        } else if (text[i] == '\n') {
            gpx_buf_puts(b, "\\n");
        } else {
            gpx_buf_append(b, &text[i], 1);
        }
    }
}

static int
ends_with(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);

    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

void
gpx_uwsgi_series_free(struct gpx_uwsgi_series *s)
{
    unsigned i;

    free(s->family);
    free(s->help);
    for (i = 0; i < GPX_UWSGI_LABELS_MAX; i++) {
        free(s->label_values[i]);
    }
    memset(s, 0, sizeof(*s));
}

/* uWSGI's fixed patterns (core/metrics.c): "worker.<n>.core.<c>.<rest>",
 * "worker.<n>.<rest>" and "socket.<n>.<rest>". Anything else is one
 * series without labels. */
int
gpx_uwsgi_series_map(struct gpx_uwsgi_series *s, const char *name, enum gpx_uwsgi_metric_type type)
{
    struct gpx_buf family, help;
    const char *rest = name;
    size_t n;

    memset(s, 0, sizeof(*s));
    if (gpx_buf_init(&family, 64) != 0) {
        return -1;
    }
    if (gpx_buf_init(&help, 64) != 0) {
        gpx_buf_free(&family);
        return -1;
    }
    gpx_buf_puts(&family, PREFIX);
    gpx_buf_puts(&help, "uWSGI metric ");
    if (strncmp(name, "worker.", 7) == 0 && (n = number_then_dot(name + 7)) > 0 && name[8 + n] != '\0') {
        s->label_names[s->labels] = "worker";
        s->label_values[s->labels++] = copy_n(name + 7, n);
        rest = name + 8 + n;
        gpx_buf_puts(&family, "worker_");
        gpx_buf_puts(&help, "worker.<worker>.");
        if (strncmp(rest, "core.", 5) == 0 && (n = number_then_dot(rest + 5)) > 0 && rest[6 + n] != '\0') {
            s->label_names[s->labels] = "core";
            s->label_values[s->labels++] = copy_n(rest + 5, n);
            rest += 6 + n;
            gpx_buf_puts(&family, "core_");
            gpx_buf_puts(&help, "core.<core>.");
        }
    } else if (strncmp(name, "socket.", 7) == 0 && (n = number_then_dot(name + 7)) > 0 && name[8 + n] != '\0') {
        s->label_names[s->labels] = "socket";
        s->label_values[s->labels++] = copy_n(name + 7, n);
        rest = name + 8 + n;
        gpx_buf_puts(&family, "socket_");
        gpx_buf_puts(&help, "socket.<socket>.");
    }
    put_name_part(&family, rest);
    put_help_text(&help, rest, strlen(rest));
    s->counter = type == GPX_UWSGI_COUNTER;
    /* A counter already named "..._total" keeps one suffix, not two. */
    if (s->counter && ends_with(family.data, family.len, "_total") && family.len > strlen(PREFIX "_total")) {
        family.len -= 6;
        family.data[family.len] = '\0';
    }
    s->family = family.failed ? NULL : gpx_buf_steal(&family, NULL);
    s->help = help.failed ? NULL : gpx_buf_steal(&help, NULL);
    gpx_buf_free(&family);
    gpx_buf_free(&help);
    if (s->family == NULL || s->help == NULL || (s->labels > 0 && s->label_values[0] == NULL) ||
        (s->labels > 1 && s->label_values[1] == NULL)) {
        gpx_uwsgi_series_free(s);
        return -1;
    }
    return 0;
}

/* One metric mapped, with its place in uWSGI's list. */
struct entry {
    struct gpx_uwsgi_series s;
    int64_t value;
    size_t index;
};

/* The numbers uWSGI printed: shorter first, then by digits, so that
 * worker 2 comes before worker 10. */
static int
compare_numbers(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    if (la != lb) {
        return la < lb ? -1 : 1;
    }
    return strcmp(a, b);
}

/* Same family name and same kind of sample name. */
static int
compare_family(const struct entry *a, const struct entry *b)
{
    int c = strcmp(a->s.family, b->s.family);

    return c != 0 ? c : a->s.counter - b->s.counter;
}

static int
compare_labels(const struct entry *a, const struct entry *b)
{
    unsigned i;

    if (a->s.labels != b->s.labels) {
        return a->s.labels < b->s.labels ? -1 : 1;
    }
    for (i = 0; i < a->s.labels; i++) {
        int c = strcmp(a->s.label_names[i], b->s.label_names[i]);

        if (c == 0) {
            c = compare_numbers(a->s.label_values[i], b->s.label_values[i]);
        }
        if (c != 0) {
            return c;
        }
    }
    return 0;
}

static int
compare_entries(const void *pa, const void *pb)
{
    const struct entry *a = pa, *b = pb;
    int c = compare_family(a, b);

    if (c == 0) {
        c = compare_labels(a, b);
    }
    if (c == 0) {
        c = a->index < b->index ? -1 : a->index > b->index;
    }
    return c;
}

/* The name its samples carry: a counter's family plus "_total". */
static void
put_sample_name(struct gpx_buf *out, const struct gpx_uwsgi_series *s)
{
    gpx_buf_puts(out, s->family);
    if (s->counter) {
        gpx_buf_puts(out, "_total");
    }
}

/* Whether two families, of different types, would clash: the same family
 * name (OpenMetrics names a counter's family without "_total"), or the same
 * sample name (the counter "uwsgi_x" and the gauge "uwsgi_x_total"). */
static int
families_clash(const struct entry *a, const struct entry *b)
{
    const struct entry *c = a->s.counter ? a : b, *g = a->s.counter ? b : a;
    size_t len = strlen(c->s.family);

    if (a->s.counter == b->s.counter) {
        return 0;
    }
    return strcmp(a->s.family, b->s.family) == 0 ||
           (strncmp(g->s.family, c->s.family, len) == 0 && strcmp(g->s.family + len, "_total") == 0);
}

static void
put_sample(struct gpx_buf *out, const struct entry *e)
{
    unsigned i;

    put_sample_name(out, &e->s);
    for (i = 0; i < e->s.labels; i++) {
        gpx_buf_printf(out, "%s%s=\"", i == 0 ? "{" : ",", e->s.label_names[i]);
        gpx_render_label_value(out, e->s.label_values[i]);
        gpx_buf_puts(out, "\"");
    }
    gpx_buf_printf(out, "%s %" PRId64 "\n", e->s.labels > 0 ? "}" : "", e->value);
}

/* Text 0.0.4 names a counter's family with "_total", OpenMetrics without. */
static void
put_family_header(struct gpx_buf *out, const struct gpx_uwsgi_series *s, enum gpx_format format)
{
    int suffix = s->counter && format != GPX_FORMAT_OPENMETRICS;

    gpx_buf_printf(out, "# HELP %s%s %s.\n", s->family, suffix ? "_total" : "", s->help);
    gpx_buf_printf(out, "# TYPE %s%s %s\n", s->family, suffix ? "_total" : "", s->counter ? "counter" : "gauge");
}

int
gpx_uwsgi_metrics_render(struct gpx_buf *out, const struct gpx_uwsgi_metric *metrics, size_t count,
                         enum gpx_format format)
{
    struct entry *entries;
    size_t *heads = NULL; /* the first entry of each family written */
    size_t i, mapped = 0, nheads = 0;
    int rc = 0, written = 0;

    if (count == 0) {
        return out->failed ? -1 : 0;
    }
    entries = calloc(count, sizeof(*entries));
    if (entries == NULL) {
        return -1;
    }
    for (i = 0; i < count; i++) {
        const char *name = metrics[i].name != NULL ? metrics[i].name : "";

        if (gpx_uwsgi_series_map(&entries[mapped].s, name, metrics[i].type) != 0) {
            rc = -1;
            goto done;
        }
        entries[mapped].value = metrics[i].value;
        entries[mapped].index = i;
        mapped++;
    }
    qsort(entries, mapped, sizeof(*entries), compare_entries);
    heads = calloc(mapped, sizeof(*heads));
    if (heads == NULL) {
        rc = -1;
        goto done;
    }
    for (i = 0; i < mapped; i++) {
        const struct entry *e = &entries[i];

        if (i == 0 || compare_family(e, &entries[i - 1]) != 0) {
            size_t h;

            /* A new family: left out whole if it clashes with one written. */
            for (h = 0, written = 1; h < nheads && written; h++) {
                written = !families_clash(e, &entries[heads[h]]);
            }
            if (written) {
                heads[nheads++] = i;
                put_family_header(out, &e->s, format);
            }
        } else if (compare_labels(e, &entries[i - 1]) == 0) {
            continue; /* the same series again: uWSGI's first is kept */
        }
        if (written) {
            put_sample(out, e);
        }
    }
done:
    for (i = 0; i < mapped; i++) {
        gpx_uwsgi_series_free(&entries[i].s);
    }
    free(heads);
    free(entries);
    return rc == 0 && !out->failed ? 0 : -1;
}

int
gpx_uwsgi_metrics_reserve(struct gpx_names *names, const struct gpx_uwsgi_metric *metrics, size_t count)
{
    size_t i;
    int rc = 0;

    for (i = 0; i < count && rc == 0; i++) {
        struct gpx_uwsgi_series s;

        if (gpx_uwsgi_series_map(&s, metrics[i].name, metrics[i].type) != 0) {
            return -1;
        }
        rc = gpx_names_reserve_base(names, s.family);
        gpx_uwsgi_series_free(&s);
    }
    return rc;
}
