/* gpx_pcfile.h - prometheus_client's multiprocess files: names, entries, keys.
 *
 * With PROMETHEUS_MULTIPROC_DIR set, each process of an app that uses
 * prometheus_client writes its values into files named
 *
 *   counter_<pid>.db  histogram_<pid>.db  summary_<pid>.db  gauge_<mode>_<pid>.db
 *
 * Each file: a 32-bit "used" size, 4 bytes of padding, then entries up to
 * "used": a 32-bit key length, the key (UTF-8 JSON
 * `[metric_name, sample_name, {labels}, help]`), spaces up to the next
 * multiple of 8 (at least one), then the value and a timestamp as two
 * doubles. Integers and doubles are in the machine's byte order.
 *
 * Reading never trusts a file: every length is checked against the bytes
 * read, and a damaged file yields its entries up to the damage.
 */
#ifndef GPX_PCFILE_H
#define GPX_PCFILE_H

#include <stddef.h>
#include <sys/types.h>

#include "gpx_buf.h"

/* The largest file read, whatever it claims: far beyond any real app. */
#define GPX_PC_MAX_FILE (64u * 1024 * 1024)

enum gpx_pc_kind { GPX_PC_COUNTER, GPX_PC_GAUGE, GPX_PC_HISTOGRAM, GPX_PC_SUMMARY, GPX_PC_KINDS };

/* Gauge modes as prometheus_client spells them (Gauge._MULTIPROC_MODES). */
enum gpx_pc_mode {
    GPX_PC_MODE_NONE, /* not a gauge */
    GPX_PC_MODE_ALL,
    GPX_PC_MODE_LIVEALL,
    GPX_PC_MODE_MIN,
    GPX_PC_MODE_LIVEMIN,
    GPX_PC_MODE_MAX,
    GPX_PC_MODE_LIVEMAX,
    GPX_PC_MODE_SUM,
    GPX_PC_MODE_LIVESUM,
    GPX_PC_MODE_MOSTRECENT,
    GPX_PC_MODE_LIVEMOSTRECENT,
    GPX_PC_MODES
};

/* What a file's name says. */
struct gpx_pc_name {
    enum gpx_pc_kind kind;
    enum gpx_pc_mode mode; /* GPX_PC_MODE_NONE unless a gauge */
    pid_t pid;
};

/* "counter", "gauge", ... */
const char *gpx_pc_kind_label(enum gpx_pc_kind kind);

/* "all", "liveall", "min", ...; "" for GPX_PC_MODE_NONE. */
const char *gpx_pc_mode_label(enum gpx_pc_mode mode);

/* Whether mode is one of the live* modes (dropped when a process ends). */
int gpx_pc_mode_is_live(enum gpx_pc_mode mode);

/* Parses a kind, and for a gauge "_<mode>", from the start of text (e.g.
 * "gauge_max" or "counter"); *end points after it. Returns 0 or -1. */
int gpx_pc_parse_prefix(const char *text, struct gpx_pc_name *out, const char **end);

/* Parses a file name such as "gauge_livesum_123.db". Returns 0, or -1 when
 * the name is not one prometheus_client writes. */
int gpx_pc_parse_name(const char *file_name, struct gpx_pc_name *out);

/* One entry of a file; key is not NUL-terminated and points into the data. */
struct gpx_pc_entry {
    const char *key;
    size_t key_len;
    double value;
    double timestamp;
};

/* Called for each entry; a non-zero return stops the walk. */
typedef int (*gpx_pc_entry_fn)(void *ctx, const struct gpx_pc_entry *entry);

/* Walks the entries of a file's bytes. Returns the number of entries
 * delivered, or -1 when the data is damaged (the entries before the damage
 * were delivered), or -2 when fn stopped the walk. */
long gpx_pc_parse(const void *data, size_t len, gpx_pc_entry_fn fn, void *ctx);

/* Reads the used part of file `name` in directory `dirfd` into a malloc'ed
 * buffer. Returns 0, or -1 with errno set (ENOENT when it vanished). */
int gpx_pc_read_file(int dirfd, const char *name, void **data, size_t *len);

/* Writer, for gpx's own store and the tests: begin, entries, end. */
int gpx_pc_encode_begin(struct gpx_buf *out);
int gpx_pc_encode_entry(struct gpx_buf *out, const char *key, size_t key_len, double value, double timestamp);
int gpx_pc_encode_end(struct gpx_buf *out);

/* Replaces file `name` in dirfd with `len` bytes atomically: writes
 * "<name>.tmp", syncs it, renames it over `name`. Returns 0, or -1. */
int gpx_pc_replace_file(int dirfd, const char *name, const void *data, size_t len);

/* A parsed key. Strings belong to the key until gpx_pc_key_free. */
struct gpx_pc_label {
    const char *name;
    const char *value;
};

struct gpx_pc_key {
    void *json; /* Jansson's root */
    const char *metric;
    const char *sample;
    const char *help;
    struct gpx_pc_label *labels; /* sorted by name */
    size_t label_count;
};

/* Parses a key. Returns 0, or -1 when it is not the JSON
 * `[str, str, {str: str, ...}, str]` prometheus_client writes. */
int gpx_pc_parse_key(const char *key, size_t len, struct gpx_pc_key *out);
void gpx_pc_key_free(struct gpx_pc_key *key);

/* Formats a double as prometheus_client's floatToGoString does (Python's
 * repr, "+Inf", "-Inf", "NaN", exponent form from 1e+07 up). */
void gpx_pc_format_double(char *buf, size_t len, double value);

#endif
