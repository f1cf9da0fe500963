/* gpx_appstore.h - what ended processes of the app counted, kept by gpx.
 *
 * prometheus_client leaves one set of files per process. The master folds
 * the files of this server's ended processes into one store and removes
 * them, so that the directory holds about one set per live process however
 * many respawns happen. The store is a file in the same directory whose
 * name does not end in ".db" (prometheus_client reads only *.db), in
 * prometheus_client's own file format, with keys:
 *
 *   "<kind>\n<prometheus_client key>"   a folded value, kind being
 *                                       counter, histogram, summary,
 *                                       gauge_min, gauge_max, gauge_sum
 *                                       or gauge_mostrecent
 *   "pid\n<pid>"                        a process of this server: value 1
 *                                       while its files are its own, 2 once
 *                                       they were folded in (to be removed)
 *   "epoch\n"                           this store's identity, and
 *   "adopted\n"                         the identity of a store whose totals
 *                                       were taken from Redis
 *
 * Folding rules: counters, histograms and summaries add up; gauges in mode
 * min, max, sum and mostrecent keep what MultiProcessCollector shows for
 * them; live* gauges are dropped (as mark_process_dead does), and so are
 * `all` gauges, whose per-process series would grow with every respawn.
 *
 * A fold is exact even if the master dies in the middle: the store with the
 * values added and the pids marked 2 replaces the old one in one rename,
 * then the files are removed, then the marks. A store read finds either
 * the files or their values, never both: readers skip the files of pids
 * marked 2, and hold a shared lock that a fold takes exclusively.
 */
#ifndef GPX_APPSTORE_H
#define GPX_APPSTORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "gpx_buf.h"
#include "gpx_index.h"
#include "gpx_pcfile.h"

enum gpx_appstore_pid_state {
    GPX_PID_UNKNOWN = 0,
    GPX_PID_OWN = 1,    /* its files are its own */
    GPX_PID_FOLDED = 2, /* its values are in the store, its files to be removed */
    GPX_PID_FOLDING = 3 /* in memory only, during a fold */
};

struct gpx_appstore_value {
    char *key; /* "<kind>\n<json>" */
    size_t key_len;
    double value;
    double timestamp;
};

struct gpx_appstore_pid {
    pid_t pid;
    enum gpx_appstore_pid_state state;
};

struct gpx_appstore {
    struct gpx_appstore_value *values;
    size_t count, cap;
    struct gpx_index index; /* over values, by key */
    struct gpx_appstore_pid *pids;
    size_t pid_count, pid_cap;
    double epoch;   /* 0 until set */
    double adopted; /* 0 when none */
};

void gpx_appstore_init(struct gpx_appstore *st);
void gpx_appstore_free(struct gpx_appstore *st);

/* Loads file `name` of dirfd into an empty store. A missing file is an
 * empty store. Returns 0, or -1 when the file is damaged (what could be
 * read is kept) or cannot be read. */
int gpx_appstore_load(struct gpx_appstore *st, int dirfd, const char *name);

/* Writes the store over file `name` atomically. Returns 0, or -1. */
int gpx_appstore_save(const struct gpx_appstore *st, int dirfd, const char *name);

/* Encodes the store in the file format (what save writes, what Redis
 * storage publishes). Returns 0, or -1 on memory. */
int gpx_appstore_encode(const struct gpx_appstore *st, struct gpx_buf *out);

/* Reads an encoded store into an empty one. Returns 0, or -1 if damaged. */
int gpx_appstore_decode(struct gpx_appstore *st, const void *data, size_t len);

/* Folds one value of a process's file (kind and mode from its name) by the
 * rules above. Returns 0, or -1 on memory. */
int gpx_appstore_fold_value(struct gpx_appstore *st, enum gpx_pc_kind kind, enum gpx_pc_mode mode, const char *key,
                            size_t key_len, double value, double timestamp);

/* Folds every entry of a process's file (its bytes, in either layout;
 * kind, mode from its name). Returns 0; 1 when the file does not read whole
 * as prometheus_client's (gpx_pc_check_file): nothing of it is folded; or
 * -1 on memory. */
int gpx_appstore_fold_file(struct gpx_appstore *st, const struct gpx_pc_name *name, const void *data, size_t len);

/* Folds every value of another store in (Redis storage's restored totals). */
int gpx_appstore_fold_store(struct gpx_appstore *st, const struct gpx_appstore *other);

/* Redis storage's restore of totals published by another store: the
 * values become `stored` plus what was folded here since `baseline` (the
 * store as it was at start): added values from the baseline on, min, max
 * and most recent combined. Pids and identities are kept. Returns 0, or -1
 * on memory (st unchanged). */
int gpx_appstore_rebase(struct gpx_appstore *st, const struct gpx_appstore *baseline,
                        const struct gpx_appstore *stored);

/* A deep copy into an uninitialised dst. Returns 0, or -1. */
int gpx_appstore_copy(struct gpx_appstore *dst, const struct gpx_appstore *src);

/* Called with each value of a store, its kind and mode (from its key) and
 * the prometheus_client key that follows them. Returns 0 to go on, else
 * the walk stops and returns it. */
typedef int (*gpx_appstore_each_fn)(void *ctx, const struct gpx_appstore_value *v, enum gpx_pc_kind kind,
                                    enum gpx_pc_mode mode, const char *key, size_t key_len);

/* Walks the store's values (those of a kind folding keeps). Returns 0, or
 * what `each` returned to stop. */
int gpx_appstore_each(const struct gpx_appstore *st, gpx_appstore_each_fn each, void *ctx);

enum gpx_appstore_pid_state gpx_appstore_pid_state(const struct gpx_appstore *st, pid_t pid);

/* Records pid as one of this server's. Returns 1 when it was new, 0 when
 * already known, -1 on memory. */
int gpx_appstore_note_pid(struct gpx_appstore *st, pid_t pid);

/* Whether a process has ended: gone, or a zombie (it can write no more). */
int gpx_appstore_process_ended(pid_t pid);

/* Decides whether a known pid's process still runs. */
typedef int (*gpx_appstore_alive_fn)(void *ctx, pid_t pid);

/* Told of a file of an ended process that is left in place: it does not
 * read whole as prometheus_client's (damaged, or a layout gpx does not
 * know), so folding would lose what gpx cannot read of it. */
typedef void (*gpx_appstore_left_fn)(void *ctx, const char *file_name, enum gpx_pc_layout layout);

/* What a fold did. */
struct gpx_appstore_fold_result {
    unsigned processes; /* processes folded */
    unsigned files;     /* files removed */
    unsigned waiting;   /* known processes that have not ended yet */
    unsigned left;      /* files left in place (see gpx_appstore_left_fn) */
};

/* Folds the files of every known process that `alive` says has ended into
 * the store, saves it, removes the files, saves again; finishes a fold an
 * earlier master left half done. Takes the lock file exclusively meanwhile.
 * A file that does not read whole is neither folded nor removed: `left`
 * (may be NULL) is told, and its pid is forgotten like the others' (its
 * file is shown as any unknown process's). Returns 0, or -1 (err filled)
 * when the store could not be saved: then nothing was removed and the
 * store is as it was before the fold (the next fold tries again). */
int gpx_appstore_fold(struct gpx_appstore *st, int dirfd, const char *store_name, const char *lock_name,
                      gpx_appstore_alive_fn alive, gpx_appstore_left_fn left, void *ctx,
                      struct gpx_appstore_fold_result *result, char *err, size_t errlen);

/* Opens lock file `name` in dirfd and takes it (shared or exclusive).
 * Returns the descriptor (close it to release), or -1. */
int gpx_appstore_lock(int dirfd, const char *name, int exclusive);

#endif
