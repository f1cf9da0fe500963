/* libFuzzer target: the exposition writer, in both formats.
 *
 * The input fills a scoreboard: first the board's shape, the worker views,
 * the listeners and the names that reach labels, then a sequence of
 * 16-byte records, each either a request recorded into a cell (as workers
 * do) or 8 bytes written at any offset of a worker's block (as a damaged
 * or hostile scoreboard file could hold them). Every line written must be
 * well-formed: "# HELP name text", "# TYPE name type", "# EOF" last in
 * OpenMetrics, or a sample `name{label="value",...} number`. The text page
 * must also go into protobuf (gpx_protobuf.h) whole, as messages that
 * protobuf-c reads back, one per HELP/TYPE block. (What the page says, byte
 * for byte, is the unit test's: test_gpx_render_reference.c.) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpx_exposition.h"
#include "gpx_protobuf.h"
#include "metrics.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A reader of the input: bytes while they last, zeros after. */
struct input {
    const uint8_t *p;
    size_t left;
};

static void
take(struct input *in, void *dst, size_t len)
{
    size_t n = len < in->left ? len : in->left;

    memcpy(dst, in->p, n);
    memset((char *)dst + n, 0, len - n);
    in->p += n;
    in->left -= n;
}

static unsigned
take_byte(struct input *in)
{
    uint8_t b;

    take(in, &b, 1);
    return b;
}

/* A NUL-terminated name of up to 31 bytes from the input. */
static void
take_name(struct input *in, char name[32])
{
    unsigned len = take_byte(in) % 32;

    take(in, name, len);
    name[len] = '\0';
}

static char endpoint_names[4][32];

static const char *
endpoint(void *ctx, unsigned worker, unsigned app_id)
{
    (void)ctx;
    (void)worker;
    return app_id < 4 ? endpoint_names[app_id] : NULL;
}

static int
is_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}

static int
is_name_char(char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

/* Reads a metric or label name at *p; 0 if there is none. */
static int
skip_name(const char **p, const char *end)
{
    if (*p >= end || !is_name_start(**p)) {
        return 0;
    }
    while (*p < end && is_name_char(**p)) {
        (*p)++;
    }
    return 1;
}

static int
valid_number(const char *p, const char *end)
{
    char text[400], *stop; /* "%f" of the largest double takes 316 */
    size_t len = (size_t)(end - p);

    if (len == 0 || len >= sizeof(text)) {
        return 0;
    }
    memcpy(text, p, len);
    text[len] = '\0';
    strtod(text, &stop);
    return *stop == '\0';
}

static int
valid_sample(const char *p, const char *end)
{
    if (!skip_name(&p, end)) {
        return 0;
    }
    if (p < end && *p == '{') {
        p++;
        while (p < end && *p != '}') {
            if (!skip_name(&p, end) || p + 1 >= end || p[0] != '=' || p[1] != '"') {
                return 0;
            }
            for (p += 2; p < end && *p != '"'; p++) {
                if (*p == '\\') {
                    if (p + 1 >= end || (p[1] != '\\' && p[1] != '"' && p[1] != 'n')) {
                        return 0;
                    }
                    p++;
                } else if (*p == '\n') {
                    return 0;
                }
            }
            if (p >= end) {
                return 0;
            }
            p++;
            if (p < end && *p == ',') {
                p++;
            }
        }
        if (p >= end) {
            return 0;
        }
        p++;
    }
    if (p >= end || *p != ' ') {
        return 0;
    }
    return valid_number(p + 1, end);
}

static void
check_page(const char *text, size_t len, enum gpx_format format)
{
    const char *p = text, *end = text + len;
    int eof_seen = 0;

    if (len == 0 || text[len - 1] != '\n' || strlen(text) != len) {
        abort();
    }
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *q;

        if (eof_seen) {
            abort(); /* nothing after "# EOF" */
        }
        if (eol - p >= 7 && memcmp(p, "# HELP ", 7) == 0) {
            q = p + 7;
            if (!skip_name(&q, eol) || q >= eol || *q != ' ') {
                abort();
            }
        } else if (eol - p >= 7 && memcmp(p, "# TYPE ", 7) == 0) {
            q = p + 7;
            if (!skip_name(&q, eol) || q >= eol || *q != ' ') {
                abort();
            }
            q++;
            if (!((eol - q == 7 && memcmp(q, "counter", 7) == 0) || (eol - q == 5 && memcmp(q, "gauge", 5) == 0) ||
                  (eol - q == 9 && memcmp(q, "histogram", 9) == 0))) {
                abort();
            }
        } else if (eol - p == 5 && memcmp(p, "# EOF", 5) == 0 && format == GPX_FORMAT_OPENMETRICS) {
            eof_seen = 1;
        } else if (!valid_sample(p, eol)) {
            fprintf(stderr, "malformed sample line: %.*s\n", (int)(eol - p), p);
            abort();
        }
        p = eol + 1;
    }
    if (format == GPX_FORMAT_OPENMETRICS && !eof_seen) {
        abort();
    }
}

/* The text page as protobuf: accepted, and every message readable, as many
 * as the page has TYPE lines. */
static void
check_protobuf(const char *text, size_t len)
{
    struct gpx_buf pb;
    size_t at = 0, types = 0, families = 0;
    const char *p;

    for (p = text; p != NULL && p < text + len; p = strchr(p, '\n'), p = p != NULL ? p + 1 : NULL) {
        types += strncmp(p, "# TYPE ", 7) == 0;
    }
    if (gpx_buf_init(&pb, 0) != 0) {
        return;
    }
    if (gpx_protobuf_from_text(&pb, text, len) != 0) {
        fprintf(stderr, "gpx_protobuf_from_text refused gpx's own page\n");
        abort();
    }
    while (at < pb.len) {
        uint64_t size = 0;
        unsigned shift = 0;
        Io__Prometheus__Client__MetricFamily *f;

        do {
            size |= (uint64_t)((uint8_t)pb.data[at] & 0x7f) << shift;
            shift += 7;
        } while ((uint8_t)pb.data[at++] & 0x80 && at < pb.len);
        if (size > pb.len - at) {
            abort();
        }
        f = io__prometheus__client__metric_family__unpack(NULL, size, (const uint8_t *)pb.data + at);
        if (f == NULL) {
            abort();
        }
        io__prometheus__client__metric_family__free_unpacked(f, NULL);
        at += size;
        families++;
    }
    if (families != types) {
        fprintf(stderr, "%zu families for %zu TYPE lines\n", families, types);
        abort();
    }
    gpx_buf_free(&pb);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};
    struct gpx_scoreboard board;
    struct gpx_worker_view views[4];
    struct gpx_listener_view listeners[2];
    char listener_names[2][32], version[32];
    struct gpx_exposition x;
    struct gpx_buf out;
    char err[256];
    unsigned workers = 1 + take_byte(&in) % 4, cores = 1 + take_byte(&in) % 2, w, c, f;

    if (gpx_scoreboard_open_anonymous(&board, workers, cores, err, sizeof(err)) != 0) {
        return 0;
    }
    memset(&x, 0, sizeof(x));
    take(&in, views, sizeof(views));
    for (w = 0; w < 4; w++) {
        views[w].state = (enum gpx_worker_state)(views[w].state % (GPX_STATE_COUNT + 1));
        take_name(&in, endpoint_names[w]);
    }
    for (w = 0; w < 2; w++) {
        take_name(&in, listener_names[w]);
        listeners[w].name = listener_names[w];
        take(&in, &listeners[w].queued, sizeof(listeners[w].queued));
        take(&in, &listeners[w].limit, sizeof(listeners[w].limit));
    }
    take_name(&in, version);
    x.board = &board;
    x.workers = views;
    x.worker_count = take_byte(&in) % (workers + 1);
    x.in_progress = take_byte(&in);
    x.endpoint = endpoint;
    take(&in, &x.master_start_time, sizeof(x.master_start_time));
    take(&in, &x.last_scrape_seconds, sizeof(x.last_scrape_seconds));
    x.version = version;
    x.uwsgi_version = endpoint_names[0];
    x.storage = "files";
    x.storage_up = take_byte(&in) & 1;
    x.listeners = listeners;
    x.listener_count = take_byte(&in) % 3;
    x.have_listen_overflows = take_byte(&in) & 1;
    take(&in, &x.listen_overflows, sizeof(x.listen_overflows));
    while (in.left > 0) {
        uint8_t rec[16];

        take(&in, rec, sizeof(rec));
        w = 1 + rec[0] % workers;
        c = rec[1] % cores;
        if (rec[2] & 0x80) {
            /* 8 bytes at an offset of the worker's block (slot and cells) */
            size_t offset = ((size_t)rec[3] << 8 | rec[4]) * 8 % board.block_size;

            memcpy((unsigned char *)gpx_scoreboard_slot(&board, w) + offset, rec + 8, 8);
        } else {
            struct gpx_request r;

            memset(&r, 0, sizeof(r));
            r.method = rec[2] % 16;
            r.status = ((unsigned)rec[3] << 8 | rec[4]) % 1024;
            r.app_id = rec[5] % 16;
            r.raised = rec[6] & 1;
            r.read_errors = rec[6] >> 1 & 3;
            r.write_errors = rec[6] >> 3 & 3;
            r.duration_us = (uint64_t)rec[7] << 16 | (uint64_t)rec[8] << 8 | rec[9];
            r.duration_us <<= rec[10] % 24;
            r.request_size = (uint64_t)rec[11] << 8 | rec[12];
            r.request_size <<= rec[13] % 32;
            r.response_size = (uint64_t)rec[14] << 8 | rec[15];
            r.response_size <<= rec[13] / 8 % 32;
            gpx_cell_record(gpx_scoreboard_cell(&board, w, c), &r);
        }
    }
    for (f = 0; f < 2; f++) {
        x.format = f == 0 ? GPX_FORMAT_TEXT : GPX_FORMAT_OPENMETRICS;
        if (gpx_buf_init(&out, 0) != 0) {
            break;
        }
        gpx_render(&out, &x);
        if (!out.failed && x.format == GPX_FORMAT_TEXT) {
            check_protobuf(out.data, out.len);
        }
        if (f == 0) {
            /* The protobuf page's own source: the text page with its native
             * histograms, at a schema the input picks. */
            struct gpx_buf native;

            gpx_render_native_histograms(1, (int)(size % 8) - 4);
            x.format = GPX_FORMAT_PROTOBUF;
            if (gpx_buf_init(&native, 0) == 0) {
                gpx_render(&native, &x);
                if (!native.failed) {
                    check_protobuf(native.data, native.len);
                }
                gpx_buf_free(&native);
            }
            x.format = GPX_FORMAT_TEXT;
        }
        if (!out.failed && gpx_render_end(&out, x.format) == 0) {
            check_page(out.data, out.len, x.format);
        }
        gpx_buf_free(&out);
    }
    gpx_scoreboard_close(&board);
    return 0;
}
