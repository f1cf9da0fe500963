/* gpx_pcfile.c - prometheus_client's multiprocess files (see gpx_pcfile.h). */
#define _GNU_SOURCE
#include "gpx_pcfile.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gpx_file.h"

static const char *const kind_labels[GPX_PC_KINDS] = {"counter", "gauge", "histogram", "summary"};

static const char *const mode_labels[GPX_PC_MODES] = {"",        "all", "liveall", "min",        "livemin",       "max",
                                                      "livemax", "sum", "livesum", "mostrecent", "livemostrecent"};

const char *
gpx_pc_kind_label(enum gpx_pc_kind kind)
{
    return (unsigned)kind < GPX_PC_KINDS ? kind_labels[kind] : "unknown";
}

const char *
gpx_pc_mode_label(enum gpx_pc_mode mode)
{
    return (unsigned)mode < GPX_PC_MODES ? mode_labels[mode] : "";
}

int
gpx_pc_mode_is_live(enum gpx_pc_mode mode)
{
    return mode == GPX_PC_MODE_LIVEALL || mode == GPX_PC_MODE_LIVEMIN || mode == GPX_PC_MODE_LIVEMAX ||
           mode == GPX_PC_MODE_LIVESUM || mode == GPX_PC_MODE_LIVEMOSTRECENT;
}

/* Whether text starts with word followed by `_`, a newline (gpx's store
 * keys) or the end of the string. */
static const char *
skip_word(const char *text, const char *word)
{
    size_t len = strlen(word);

    if (strncmp(text, word, len) != 0 || (text[len] != '_' && text[len] != '\n' && text[len] != '\0')) {
        return NULL;
    }
    return text + len;
}

int
gpx_pc_parse_prefix(const char *text, struct gpx_pc_name *out, const char **end)
{
    const char *p = NULL;
    unsigned k, m;

    memset(out, 0, sizeof(*out));
    for (k = 0; k < GPX_PC_KINDS && p == NULL; k++) {
        p = skip_word(text, kind_labels[k]);
        out->kind = (enum gpx_pc_kind)k;
    }
    if (p == NULL) {
        return -1;
    }
    out->mode = GPX_PC_MODE_NONE;
    if (out->kind == GPX_PC_GAUGE) {
        const char *q = NULL;

        if (*p != '_') {
            return -1;
        }
        for (m = GPX_PC_MODE_ALL; m < GPX_PC_MODES && q == NULL; m++) {
            q = skip_word(p + 1, mode_labels[m]);
            out->mode = (enum gpx_pc_mode)m;
        }
        if (q == NULL) {
            return -1;
        }
        p = q;
    }
    *end = p;
    return 0;
}

int
gpx_pc_parse_name(const char *file_name, struct gpx_pc_name *out)
{
    const char *p;
    long pid = 0;

    if (gpx_pc_parse_prefix(file_name, out, &p) != 0 || *p != '_' || p[1] < '0' || p[1] > '9') {
        return -1;
    }
    for (p++; *p >= '0' && *p <= '9'; p++) {
        pid = pid * 10 + (*p - '0');
        if (pid > INT32_MAX) {
            return -1;
        }
    }
    if (strcmp(p, ".db") != 0 || pid <= 0) {
        return -1;
    }
    out->pid = (pid_t)pid;
    return 0;
}

static int32_t
read_i32(const unsigned char *p)
{
    int32_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

const char *
gpx_pc_layout_label(enum gpx_pc_layout layout)
{
    switch (layout) {
    case GPX_PC_LAYOUT_VALUE:
        return "value";
    case GPX_PC_LAYOUT_VALUE_TIMESTAMP:
        return "value and timestamp";
    default:
        return "unknown";
    }
}

/* What a walk found. */
struct walk {
    long entries; /* entries delivered, or seen */
    int damaged;  /* stopped by damage, or "used" beyond the data */
    int stopped;  /* fn asked to stop */
};

/* Whether a key can be prometheus_client's: a JSON array. Cheap: the full
 * parse comes later, for the entries that are used. */
static int
looks_like_json_array(const unsigned char *key, size_t len)
{
    return len >= 2 && key[0] == '[' && key[len - 1] == ']';
}

/* Walks the entries in the layout whose numbers take `numbers` bytes. With
 * json, a key that is not a JSON array is damage (an app's file). */
static void
walk_entries(const unsigned char *d, size_t len, size_t numbers, int json, gpx_pc_entry_fn fn, void *ctx,
             struct walk *w)
{
    size_t limit, pos = 8;
    int32_t used;

    memset(w, 0, sizeof(*w));
    if (len < 8) {
        w->damaged = len != 0;
        return;
    }
    memcpy(&used, d, sizeof(used));
    if (used < 0) {
        w->damaged = 1;
        return;
    }
    limit = (size_t)used;
    if (limit > len) {
        limit = len;
        w->damaged = 1;
    }
    while (pos < limit) {
        struct gpx_pc_entry e;
        int32_t key_len;
        size_t value_pos;

        if (limit - pos < 4) {
            w->damaged = 1;
            return;
        }
        memcpy(&key_len, d + pos, sizeof(key_len));
        if (key_len < 0 || (size_t)key_len > limit - pos - 4) {
            w->damaged = 1;
            return;
        }
        /* Padding to 8 bytes, never none (prometheus_client's rule). */
        value_pos = pos + 4 + (size_t)key_len + (8 - ((size_t)key_len + 4) % 8);
        if (value_pos > limit || limit - value_pos < numbers ||
            (json && !looks_like_json_array(d + pos + 4, (size_t)key_len))) {
            w->damaged = 1;
            return;
        }
        e.key = (const char *)d + pos + 4;
        e.key_len = (size_t)key_len;
        memcpy(&e.value, d + value_pos, sizeof(double));
        e.timestamp = 0.0;
        if (numbers == 16) {
            memcpy(&e.timestamp, d + value_pos + 8, sizeof(double));
        }
        if (fn != NULL && fn(ctx, &e) != 0) {
            w->stopped = 1;
            return;
        }
        w->entries++;
        pos = value_pos + numbers;
    }
}

static long
walk_result(const struct walk *w)
{
    return w->stopped ? -2 : w->damaged ? -1 : w->entries;
}

long
gpx_pc_parse_as(const void *data, size_t len, enum gpx_pc_layout layout, gpx_pc_entry_fn fn, void *ctx)
{
    struct walk w;

    if (layout != GPX_PC_LAYOUT_VALUE && layout != GPX_PC_LAYOUT_VALUE_TIMESTAMP) {
        return -1;
    }
    walk_entries(data, len, (size_t)layout, 0, fn, ctx, &w);
    return walk_result(&w);
}

long
gpx_pc_parse(const void *data, size_t len, gpx_pc_entry_fn fn, void *ctx)
{
    return gpx_pc_parse_as(data, len, GPX_PC_LAYOUT_VALUE_TIMESTAMP, fn, ctx);
}

long
gpx_pc_parse_file(const void *data, size_t len, gpx_pc_entry_fn fn, void *ctx, enum gpx_pc_layout *layout)
{
    static const enum gpx_pc_layout tried[2] = {GPX_PC_LAYOUT_VALUE_TIMESTAMP, GPX_PC_LAYOUT_VALUE};
    struct walk w[2];
    enum gpx_pc_layout chosen = GPX_PC_LAYOUT_UNKNOWN;
    long rc;
    unsigned i, best = 0;

    /* A dry walk in each layout: the entries are delivered once, in the
     * layout that reads the whole file. A wrong stride reads a length out
     * of a key's text or a timestamp's bytes, and soon runs past "used" or
     * into a key that is not JSON. */
    for (i = 0; i < 2 && chosen == GPX_PC_LAYOUT_UNKNOWN; i++) {
        walk_entries(data, len, (size_t)tried[i], 1, NULL, NULL, &w[i]);
        if (!w[i].damaged) {
            chosen = tried[i];
        }
    }
    if (chosen == GPX_PC_LAYOUT_UNKNOWN) {
        best = w[1].entries > w[0].entries ? 1 : 0;
    }
    if (layout != NULL) {
        *layout = chosen;
    }
    walk_entries(data, len, (size_t)(chosen != GPX_PC_LAYOUT_UNKNOWN ? chosen : tried[best]), 1, fn, ctx, &w[0]);
    rc = walk_result(&w[0]);
    return chosen == GPX_PC_LAYOUT_UNKNOWN && rc >= 0 ? -1 : rc;
}

static int
stop_at_bad_key(void *ctx, const struct gpx_pc_entry *e)
{
    struct gpx_pc_key k;

    (void)ctx;
    if (gpx_pc_parse_key(e->key, e->key_len, &k) != 0) {
        return 1;
    }
    gpx_pc_key_free(&k);
    return 0;
}

int
gpx_pc_check_file(const void *data, size_t len, enum gpx_pc_layout *layout)
{
    return gpx_pc_parse_file(data, len, stop_at_bad_key, NULL, layout) >= 0 ? 0 : -1;
}

int
gpx_pc_read_file(int dirfd, const char *name, void **data, size_t *len)
{
    unsigned char head[8];
    unsigned char *buf;
    struct stat st;
    size_t want, got;
    ssize_t n;
    int32_t used;
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

    *data = NULL;
    *len = 0;
    if (fd < 0) {
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    n = gpx_file_read_fd(fd, head, sizeof(head));
    if (n < 0) {
        close(fd);
        return -1;
    }
    got = (size_t)n;
    used = got == sizeof(head) ? read_i32(head) : 0;
    /* Only the used part, bounded by the file and by a sane maximum. */
    want = used > 0 ? (size_t)used : got;
    if (want > (size_t)st.st_size) {
        want = (size_t)st.st_size;
    }
    if (want > GPX_PC_MAX_FILE) {
        want = GPX_PC_MAX_FILE;
    }
    if (want < got) {
        want = got;
    }
    buf = malloc(want + 1);
    if (buf == NULL) {
        close(fd);
        errno = ENOMEM;
        return -1;
    }
    memcpy(buf, head, got);
    if (want > got) {
        n = gpx_file_read_fd(fd, buf + got, want - got);
        if (n < 0) {
            free(buf);
            close(fd);
            return -1;
        }
        got += (size_t)n;
    }
    close(fd);
    *data = buf;
    *len = got;
    return 0;
}

static void
put_i32(unsigned char *p, int32_t v)
{
    memcpy(p, &v, sizeof(v));
}

int
gpx_pc_encode_begin(struct gpx_buf *out)
{
    static const char head[8] = {0};

    gpx_buf_reset(out);
    return gpx_buf_append(out, head, sizeof(head));
}

int
gpx_pc_encode_entry_as(struct gpx_buf *out, enum gpx_pc_layout layout, const char *key, size_t key_len, double value,
                       double timestamp)
{
    static const char spaces[8] = "        ";
    unsigned char len[4];
    size_t pad = 8 - (key_len + 4) % 8;

    if (key_len > (size_t)INT32_MAX / 2 || (layout != GPX_PC_LAYOUT_VALUE && layout != GPX_PC_LAYOUT_VALUE_TIMESTAMP)) {
        out->failed = 1;
        return -1;
    }
    put_i32(len, (int32_t)key_len);
    gpx_buf_append(out, (const char *)len, sizeof(len));
    gpx_buf_append(out, key, key_len);
    gpx_buf_append(out, spaces, pad);
    gpx_buf_append(out, (const char *)&value, sizeof(value));
    if (layout == GPX_PC_LAYOUT_VALUE) {
        return out->failed ? -1 : 0;
    }
    return gpx_buf_append(out, (const char *)&timestamp, sizeof(timestamp));
}

int
gpx_pc_encode_entry(struct gpx_buf *out, const char *key, size_t key_len, double value, double timestamp)
{
    return gpx_pc_encode_entry_as(out, GPX_PC_LAYOUT_VALUE_TIMESTAMP, key, key_len, value, timestamp);
}

int
gpx_pc_encode_end(struct gpx_buf *out)
{
    if (out->failed || out->len > (size_t)INT32_MAX) {
        return -1;
    }
    put_i32((unsigned char *)out->data, (int32_t)out->len);
    return 0;
}

int
gpx_pc_replace_file(int dirfd, const char *name, const void *data, size_t len)
{
    char tmp[512];
    size_t done = 0;
    int fd, saved;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp", name) >= (int)sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        return -1;
    }
    while (done < len) {
        ssize_t n = write(fd, (const char *)data + done, len - done);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            saved = errno;
            close(fd);
            unlinkat(dirfd, tmp, 0);
            errno = saved;
            return -1;
        }
        done += (size_t)n;
    }
    /* A rename is atomic for readers and for a crash of this process. */
    if (close(fd) != 0 || renameat(dirfd, tmp, dirfd, name) != 0) {
        saved = errno;
        unlinkat(dirfd, tmp, 0);
        errno = saved;
        return -1;
    }
    return 0;
}

static int
label_order(const void *a, const void *b)
{
    return strcmp(((const struct gpx_pc_label *)a)->name, ((const struct gpx_pc_label *)b)->name);
}

int
gpx_pc_parse_key(const char *key, size_t len, struct gpx_pc_key *out)
{
    json_t *root, *labels, *value;
    const char *name;
    size_t n = 0;

    memset(out, 0, sizeof(*out));
    root = json_loadb(key, len, JSON_REJECT_DUPLICATES, NULL);
    if (root == NULL) {
        return -1;
    }
    out->json = root;
    labels = json_array_get(root, 2);
    /* Releases before 0.16 wrote no help: three elements. */
    if (!json_is_array(root) || (json_array_size(root) != 4 && json_array_size(root) != 3) ||
        !json_is_string(json_array_get(root, 0)) || !json_is_string(json_array_get(root, 1)) ||
        !json_is_object(labels) || (json_array_size(root) == 4 && !json_is_string(json_array_get(root, 3)))) {
        gpx_pc_key_free(out);
        return -1;
    }
    out->metric = json_string_value(json_array_get(root, 0));
    out->sample = json_string_value(json_array_get(root, 1));
    out->help = json_array_size(root) == 4 ? json_string_value(json_array_get(root, 3)) : GPX_PC_OLD_HELP;
    if (out->metric[0] == '\0' || out->sample[0] == '\0') {
        gpx_pc_key_free(out);
        return -1;
    }
    out->labels = calloc(json_object_size(labels) + 1, sizeof(*out->labels));
    if (out->labels == NULL) {
        gpx_pc_key_free(out);
        return -1;
    }
    json_object_foreach(labels, name, value)
    {
        if (!json_is_string(value) || name[0] == '\0') {
            gpx_pc_key_free(out);
            return -1;
        }
        out->labels[n].name = name;
        out->labels[n].value = json_string_value(value);
        n++;
    }
    out->label_count = n;
    qsort(out->labels, n, sizeof(*out->labels), label_order);
    return 0;
}

void
gpx_pc_key_free(struct gpx_pc_key *key)
{
    json_decref(key->json);
    free(key->labels);
    memset(key, 0, sizeof(*key));
}

/* Python's repr of a finite double: the shortest digits that read back the
 * same, fixed notation for exponents -4..15, else d.ddde+XX. */
static void
python_repr(char *buf, size_t len, double value)
{
    char sci[40], digits[24];
    int precision, exponent, ndigits = 0, decpt;
    const char *p;
    size_t at = 0;

    if (value == 0.0) {
        snprintf(buf, len, "%s", signbit(value) ? "-0.0" : "0.0");
        return;
    }
    for (precision = 1; precision <= 17; precision++) {
        snprintf(sci, sizeof(sci), "%.*e", precision - 1, value);
        if (strtod(sci, NULL) == value) {
            break;
        }
    }
    p = sci;
    if (*p == '-') {
        p++;
    }
    for (; *p != 'e' && *p != '\0'; p++) {
        if (*p >= '0' && *p <= '9' && ndigits < (int)sizeof(digits) - 1) {
            digits[ndigits++] = *p;
        }
    }
    exponent = *p == 'e' ? atoi(p + 1) : 0;
    while (ndigits > 1 && digits[ndigits - 1] == '0') {
        ndigits--;
    }
    digits[ndigits] = '\0';
    decpt = exponent + 1;
    char text[64];

    if (value < 0) {
        text[at++] = '-';
    }
    if (decpt <= -4 || decpt > 16) {
        text[at++] = digits[0];
        if (ndigits > 1) {
            text[at++] = '.';
            memcpy(text + at, digits + 1, (size_t)ndigits - 1);
            at += (size_t)ndigits - 1;
        }
        snprintf(text + at, sizeof(text) - at, "e%c%02d", exponent < 0 ? '-' : '+', abs(exponent));
    } else if (decpt <= 0) {
        text[at++] = '0';
        text[at++] = '.';
        memset(text + at, '0', (size_t)-decpt);
        at += (size_t)-decpt;
        memcpy(text + at, digits, (size_t)ndigits);
        at += (size_t)ndigits;
        text[at] = '\0';
    } else if (decpt >= ndigits) {
        memcpy(text + at, digits, (size_t)ndigits);
        at += (size_t)ndigits;
        memset(text + at, '0', (size_t)(decpt - ndigits));
        at += (size_t)(decpt - ndigits);
        memcpy(text + at, ".0", 3);
    } else {
        memcpy(text + at, digits, (size_t)decpt);
        at += (size_t)decpt;
        text[at++] = '.';
        memcpy(text + at, digits + decpt, (size_t)(ndigits - decpt));
        at += (size_t)(ndigits - decpt);
        text[at] = '\0';
    }
    snprintf(buf, len, "%s", text);
}

void
gpx_pc_format_double(char *buf, size_t len, double value)
{
    char repr[64], mantissa[64];
    const char *dot;
    size_t m = 0, i, intdigits;

    if (isnan(value)) {
        snprintf(buf, len, "NaN");
        return;
    }
    if (isinf(value)) {
        snprintf(buf, len, "%s", value > 0 ? "+Inf" : "-Inf");
        return;
    }
    python_repr(repr, sizeof(repr), value);
    dot = strchr(repr, '.');
    /* Go switches to exponents sooner than Python (floatToGoString). */
    if (value > 0 && dot != NULL && dot - repr > 6) {
        intdigits = (size_t)(dot - repr);
        mantissa[m++] = repr[0];
        mantissa[m++] = '.';
        for (i = 1; i < intdigits; i++) {
            mantissa[m++] = repr[i];
        }
        for (i = intdigits + 1; repr[i] != '\0'; i++) {
            mantissa[m++] = repr[i];
        }
        while (m > 0 && (mantissa[m - 1] == '0' || mantissa[m - 1] == '.')) {
            m--;
        }
        mantissa[m] = '\0';
        snprintf(buf, len, "%se+%02zu", mantissa, intdigits - 1);
        return;
    }
    snprintf(buf, len, "%s", repr);
}
