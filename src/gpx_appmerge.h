/* gpx_appmerge.h - the app's prometheus_client samples, merged by family.
 *
 * Collects the samples of prometheus_client's multiprocess files (and of
 * gpx's store of ended processes) as its MultiProcessCollector reads them
 * (MultiProcessCollector._read_metrics): one family per name and type, its
 * samples kept as read, each with its labels already in the form the page
 * carries. Accumulating and writing them is gpx_apprender's.
 *
 * Names are escaped here as prometheus_client escapes them (0.26, whose
 * names may hold any character; its default "underscores" escaping): every
 * character outside [a-zA-Z0-9_:] ([a-zA-Z0-9_] for label names), and a
 * digit in front, becomes one "_". `app.dotted` is `app_dotted`. Label
 * values are escaped as the text formats want them. A family whose labels
 * or samples no valid page can carry is marked to be left out, with what
 * makes it so (enum gpx_app_drop).
 */
#ifndef GPX_APPMERGE_H
#define GPX_APPMERGE_H

#include <stddef.h>
#include <sys/types.h>

#include "gpx_apphealth.h"
#include "gpx_appstore.h"
#include "gpx_index.h"
#include "gpx_pcfile.h"

/* The samples a family writes, after its name. */
enum gpx_app_suffix { GPX_SUFFIX_NONE, GPX_SUFFIX_TOTAL, GPX_SUFFIX_BUCKET, GPX_SUFFIX_COUNT, GPX_SUFFIX_SUM };

/* A sample as read from a file, before the accumulation. */
struct gpx_app_sample {
    char *labels;  /* `k="v",...` escaped, sorted by name, without le (histograms) and pid (gauges) */
    size_t pid_at; /* where a pid label sorts into labels */
    size_t le_at;  /* where an le label sorts into labels */
    double le;     /* buckets: the bound */
    enum gpx_app_suffix suffix;
    pid_t pid; /* gauges: the process that wrote it */
    double value;
    double timestamp;
};

struct gpx_app_family {
    char *id;              /* "<kind>\n<name>": the index key */
    const char *name;      /* the name in the files, after id's newline */
    char *escaped;         /* the name on the page */
    int plain;             /* the name is valid as it is (escaped is the same) */
    char *help;            /* of the first sample seen */
    char *source;          /* the first file it was seen in */
    enum gpx_pc_kind type; /* of the files it was seen in */
    enum gpx_pc_mode mode; /* of the last gauge file it was seen in */
    int invalid;           /* an enum gpx_app_drop, or -1 */
    char *why;             /* what makes it invalid */
    struct gpx_app_sample *samples;
    size_t count, cap;
};

struct gpx_appmerge {
    struct gpx_app_family *families;
    size_t count, cap;
    struct gpx_index by_id;
    int failed; /* memory ran out: the merge cannot be rendered whole */
};

/* Returns an empty merge, or NULL on memory. */
struct gpx_appmerge *gpx_appmerge_new(void);
void gpx_appmerge_free(struct gpx_appmerge *m);

/* Adds one sample as read from file `source` of kind/mode written by `pid`
 * (pid is the label of all/liveall gauges). A sample that no valid page
 * can carry marks its family to be left out. Returns 0, or -1 when the key
 * is not prometheus_client's (the sample is skipped) or memory ran out
 * (the merge then fails to render). */
int gpx_appmerge_add(struct gpx_appmerge *m, enum gpx_pc_kind kind, enum gpx_pc_mode mode, pid_t pid,
                     const char *source, const char *key, size_t key_len, double value, double timestamp);

/* What reading one file gave. */
struct gpx_app_file_read {
    long entries;              /* entries read */
    enum gpx_pc_layout layout; /* the layout decided; UNKNOWN when none reads it whole */
    long bad_keys;             /* entries whose key is not prometheus_client's */
};

/* Adds every entry of a file's bytes (the layout decided for this file).
 * Returns 0 when it was read whole, or -1 (the entries before the damage,
 * and those with good keys, were added; *read says what happened). */
int gpx_appmerge_add_file(struct gpx_appmerge *m, const char *file_name, const struct gpx_pc_name *name,
                          const void *data, size_t len, struct gpx_app_file_read *read);

/* Adds the values of gpx's store of ended processes, each as a value of
 * its kind, read from `source` (the store's file name, for reports). */
void gpx_appmerge_add_store(struct gpx_appmerge *m, const struct gpx_appstore *st, const char *source);

#endif
