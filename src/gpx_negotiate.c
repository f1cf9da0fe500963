/* gpx_negotiate.c - Accept and Accept-Encoding, read as RFC 9110 writes them
 * (see gpx_negotiate.h). */
#include "gpx_negotiate.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

/* A slice of the header being read. */
struct span {
    const char *p;
    size_t len;
};

static int
is_space(char c)
{
    return c == ' ' || c == '\t';
}

static struct span
trim(const char *p, const char *end)
{
    struct span s;

    while (p < end && is_space(*p)) {
        p++;
    }
    while (end > p && is_space(end[-1])) {
        end--;
    }
    s.p = p;
    s.len = (size_t)(end - p);
    return s;
}

static int
span_is(struct span s, const char *word)
{
    size_t len = strlen(word);

    return s.len == len && strncasecmp(s.p, word, len) == 0;
}

/* Where the part that starts at p ends: the next `sep` outside a quoted
 * string, or end. A backslash inside quotes escapes the next character. */
static const char *
part_end(const char *p, const char *end, char sep)
{
    int quoted = 0;

    for (; p < end; p++) {
        if (quoted && *p == '\\' && p + 1 < end) {
            p++;
        } else if (*p == '"') {
            quoted = !quoted;
        } else if (!quoted && *p == sep) {
            break;
        }
    }
    return p;
}

int
gpx_negotiate_qvalue(const char *text, size_t len)
{
    int value = 0;
    size_t i;

    if (len == 0 || (text[0] != '0' && text[0] != '1')) {
        return -1;
    }
    if (len == 1) {
        return text[0] == '1' ? 1000 : 0;
    }
    if (text[1] != '.' || len > 5) {
        return -1;
    }
    for (i = 2; i < 5; i++) {
        int digit = 0;

        if (i < len) {
            if (text[i] < '0' || text[i] > '9' || (text[0] == '1' && text[i] != '0')) {
                return -1;
            }
            digit = text[i] - '0';
        }
        value = value * 10 + digit;
    }
    return text[0] == '1' ? 1000 : value;
}

/* One element of a list: its first part (the media range or the coding),
 * its q (1000 when absent, -1 when invalid) and its version parameter. */
struct element {
    struct span value;
    struct span version; /* without quotes; p == NULL when absent */
    struct span proto;   /* the protobuf type's parameters, likewise */
    struct span encoding;
    int q;
};

static void
read_element(const char *p, const char *end, struct element *el)
{
    const char *part = part_end(p, end, ';');

    el->value = trim(p, part);
    el->version.p = NULL;
    el->version.len = 0;
    el->proto = el->encoding = el->version;
    el->q = 1000;
    while (part < end) {
        const char *start = part + 1, *eq;
        struct span name, value;

        part = part_end(start, end, ';');
        eq = memchr(start, '=', (size_t)(part - start));
        if (eq == NULL) {
            continue;
        }
        name = trim(start, eq);
        value = trim(eq + 1, part);
        if (value.len >= 2 && value.p[0] == '"' && value.p[value.len - 1] == '"') {
            value.p++;
            value.len -= 2;
        }
        if (span_is(name, "q")) {
            el->q = gpx_negotiate_qvalue(value.p, value.len);
        } else if (span_is(name, "version")) {
            el->version = value;
        } else if (span_is(name, "proto")) {
            el->proto = value;
        } else if (span_is(name, "encoding")) {
            el->encoding = value;
        }
    }
}

/* The best match so far of one candidate type: the most specific range
 * decides, and among equally specific ranges the highest weight. */
struct match {
    int specificity; /* -1: nothing matched */
    int q;
};

static void
consider(struct match *m, int specificity, int q)
{
    if (specificity > m->specificity || (specificity == m->specificity && q > m->q)) {
        m->specificity = specificity;
        m->q = q;
    }
}

static int
version_is(struct span version, const char *wanted)
{
    return version.len == strlen(wanted) && memcmp(version.p, wanted, version.len) == 0;
}

enum gpx_format
gpx_negotiate_format(const char *accept)
{
    struct match openmetrics = {-1, 0}, text = {-1, 0}, protobuf = {-1, 0};
    const char *p, *end;

    if (accept == NULL) {
        return GPX_FORMAT_TEXT;
    }
    end = accept + strlen(accept);
    for (p = accept; p < end;) {
        const char *next = part_end(p, end, ',');
        struct element el;

        read_element(p, next, &el);
        p = next + (next < end);
        if (el.q < 0) {
            continue; /* an element with a broken weight says nothing */
        }
        if (span_is(el.value, "application/vnd.google.protobuf")) {
            if (version_is(el.proto, "io.prometheus.client.MetricFamily") && version_is(el.encoding, "delimited")) {
                consider(&protobuf, 3, el.q);
            }
        } else if (span_is(el.value, "application/openmetrics-text")) {
            if (el.version.p == NULL) {
                consider(&openmetrics, 2, el.q);
            } else if (version_is(el.version, "1.0.0")) {
                consider(&openmetrics, 3, el.q);
            }
        } else if (span_is(el.value, "text/plain")) {
            if (el.version.p == NULL) {
                consider(&text, 2, el.q);
            } else if (version_is(el.version, "0.0.4")) {
                consider(&text, 3, el.q);
            }
        } else if (span_is(el.value, "text/*")) {
            consider(&text, 1, el.q);
        } else if (span_is(el.value, "*/*")) {
            consider(&text, 0, el.q);
        }
    }
    if (protobuf.specificity >= 0 && protobuf.q > 0 && (text.specificity < 0 || protobuf.q >= text.q) &&
        (openmetrics.specificity < 0 || protobuf.q >= openmetrics.q)) {
        return GPX_FORMAT_PROTOBUF;
    }
    if (openmetrics.specificity >= 0 && openmetrics.q > 0 && (text.specificity < 0 || openmetrics.q >= text.q)) {
        return GPX_FORMAT_OPENMETRICS;
    }
    return GPX_FORMAT_TEXT;
}

int
gpx_negotiate_gzip(const char *accept_encoding)
{
    int gzip_q = -1, any_q = -1;
    const char *p, *end;

    if (accept_encoding == NULL) {
        return 0;
    }
    end = accept_encoding + strlen(accept_encoding);
    for (p = accept_encoding; p < end;) {
        const char *next = part_end(p, end, ',');
        struct element el;

        read_element(p, next, &el);
        p = next + (next < end);
        if (el.q < 0) {
            continue;
        }
        if (span_is(el.value, "gzip") || span_is(el.value, "x-gzip")) {
            gzip_q = el.q > gzip_q ? el.q : gzip_q;
        } else if (span_is(el.value, "*")) {
            any_q = el.q > any_q ? el.q : any_q;
        }
    }
    return gzip_q >= 0 ? gzip_q > 0 : any_q > 0;
}
