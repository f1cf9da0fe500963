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
 * multiple of 8 (at least one), then the numbers. Integers and doubles are
 * in the machine's byte order. The releases that distributions still ship
 * differ in two ways, and a directory may hold files of several:
 *
 *   - the numbers: the value alone (8 bytes) before 0.18 (Debian 12's 0.16
 *     among them), the value and a timestamp (16 bytes) from 0.18 on;
 *   - the key: `[metric_name, sample_name, {labels}]`, without the help,
 *     before 0.16 (0.9 for instance), whose
 *     collector showed the help "Multiprocess metric".
 *
 * Nothing in a file says which layout it has: gpx_pc_parse_file decides per
 * file, by which one reads the whole file as prometheus_client's entries.
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
    double timestamp; /* 0 in the value-only layout */
};

/* Called for each entry; a non-zero return stops the walk. */
typedef int (*gpx_pc_entry_fn)(void *ctx, const struct gpx_pc_entry *entry);

/* How an entry's numbers are stored (the bytes after its key). */
enum gpx_pc_layout {
    GPX_PC_LAYOUT_UNKNOWN = 0,          /* no layout reads the file whole */
    GPX_PC_LAYOUT_VALUE = 8,            /* prometheus_client before 0.18 */
    GPX_PC_LAYOUT_VALUE_TIMESTAMP = 16, /* 0.18 and later, and gpx's store */
};

/* "value" or "value and timestamp" (for log lines); "unknown". */
const char *gpx_pc_layout_label(enum gpx_pc_layout layout);

/* Walks the entries of bytes in the value-and-timestamp layout (gpx's own
 * store, whose keys are not JSON). Returns the number of entries
 * delivered, or -1 when the data is damaged (the entries before the damage
 * were delivered), or -2 when fn stopped the walk. */
long gpx_pc_parse(const void *data, size_t len, gpx_pc_entry_fn fn, void *ctx);

/* Walks the entries of bytes in the given layout, as gpx_pc_parse. */
long gpx_pc_parse_as(const void *data, size_t len, enum gpx_pc_layout layout, gpx_pc_entry_fn fn, void *ctx);

/* Walks the entries of an app's prometheus_client file, in the layout that
 * reads all of it (every key a JSON array, the last entry ending exactly at
 * "used"). The value-and-timestamp layout is tried first: no file
 * prometheus_client writes reads whole both ways. *layout (may be NULL)
 * tells the decision. When neither layout reads the file whole, the
 * entries before the damage (a key that is not a JSON array is damage) in
 * the layout that reads more of them are delivered, *layout is
 * GPX_PC_LAYOUT_UNKNOWN and -1 is returned. Else as gpx_pc_parse. */
long gpx_pc_parse_file(const void *data, size_t len, gpx_pc_entry_fn fn, void *ctx, enum gpx_pc_layout *layout);

/* Whether an app's file reads whole (see gpx_pc_parse_file) with every key
 * one prometheus_client writes (gpx_pc_parse_key). Returns 0, or -1; *layout
 * (may be NULL) as gpx_pc_parse_file says. */
int gpx_pc_check_file(const void *data, size_t len, enum gpx_pc_layout *layout);

/* Reads the used part of file `name` in directory `dirfd` into a malloc'ed
 * buffer. Returns 0, or -1 with errno set (ENOENT when it vanished). */
int gpx_pc_read_file(int dirfd, const char *name, void **data, size_t *len);

/* Writer, for gpx's own store and the tests: begin, entries, end. Entries
 * in the value-and-timestamp layout, or in the one given. */
int gpx_pc_encode_begin(struct gpx_buf *out);
int gpx_pc_encode_entry(struct gpx_buf *out, const char *key, size_t key_len, double value, double timestamp);
int gpx_pc_encode_entry_as(struct gpx_buf *out, enum gpx_pc_layout layout, const char *key, size_t key_len,
                           double value, double timestamp);
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

/* The help that prometheus_client's collector showed for keys without one
 * (releases before 0.16). */
#define GPX_PC_OLD_HELP "Multiprocess metric"

/* Parses a key. Returns 0, or -1 when it is not the JSON
 * `[str, str, {str: str, ...}, str]` prometheus_client writes, or its
 * older form without the help (then help is GPX_PC_OLD_HELP). */
int gpx_pc_parse_key(const char *key, size_t len, struct gpx_pc_key *out);
void gpx_pc_key_free(struct gpx_pc_key *key);

/* Formats a double as prometheus_client's floatToGoString does (Python's
 * repr, "+Inf", "-Inf", "NaN", exponent form from 1e+07 up). */
void gpx_pc_format_double(char *buf, size_t len, double value);

#endif
