/* gpx_boardfile.h - file storage: the scoreboard's copy on disk.
 *
 * The workers count in anonymous shared memory (gpx_scoreboard.h), which no
 * other process can shrink or remove: nothing done to a file can fault
 * their stores, or the master's reads. The file
 * <gpx-multiproc-dir>/gpx_<instance>.scoreboard is the copy that outlives
 * the master: the board is read from it at start, and the master writes
 * into it what changed, every cycle, then everything at exit and before a
 * reload. It is only ever read and written with pread and pwrite, never
 * mapped: a full or failing filesystem is an error return, never a SIGBUS.
 *
 * A file is made whole or not at all: written under a temporary name with
 * its space reserved first (posix_fallocate), then renamed into place. A
 * leftover that holds no counters (empty, or all zeros: a creation that
 * never finished) is replaced. Whatever another process does to the file
 * (truncates, replaces or removes it, removes its directory, changes its
 * mode or owner), the next sync notices, logs it (once a minute at most
 * for a change that repeats), counts it, and writes the file again from
 * memory. A write that fails leaves the counts
 * in memory, marks the storage down (logged once), and is tried again at
 * every sync until it succeeds (logged once more).
 */
#ifndef GPX_BOARDFILE_H
#define GPX_BOARDFILE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "gpx_log.h"
#include "gpx_scoreboard.h"

/* What gunicorn_exporter_storage_errors_total{operation} counts for files. */
enum gpx_boardfile_op {
    GPX_BOARDFILE_CHECK, /* a sync found the file changed by another process */
    GPX_BOARDFILE_WRITE, /* a write of the file (reserving, writing, renaming) failed */
    GPX_BOARDFILE_OPS
};

/* The operations' labels, by enum gpx_boardfile_op: "check", "write". */
extern const char *const gpx_boardfile_op_labels[GPX_BOARDFILE_OPS];

/* The storage's health, in memory shared with every renderer: written by
 * the master's syncs, read by any process. */
struct gpx_boardfile_status {
    int up;                             /* the file holds the counts as of the last sync */
    uint64_t errors[GPX_BOARDFILE_OPS]; /* by enum gpx_boardfile_op */
};

/* Kinds of changes another process makes to the file, each logged at most
 * once a minute (all of them counted). */
enum gpx_boardfile_change {
    GPX_CHANGE_REMOVED,
    GPX_CHANGE_DIR_REMOVED,
    GPX_CHANGE_REPLACED,
    GPX_CHANGE_RESIZED,
    GPX_CHANGE_MODE,
    GPX_CHANGE_OWNER,
    GPX_CHANGE_UNREADABLE,
    GPX_CHANGE_KINDS
};

/* Where the counters of a new board came from. */
enum gpx_boardfile_start {
    GPX_BOARDFILE_NEW,       /* no file, or one without counters: they begin at zero */
    GPX_BOARDFILE_CONTINUED, /* the file's counts (grown or folded when the layout changed) */
};

struct gpx_boardfile_options {
    const char *path;                    /* the file */
    unsigned workers;                    /* worker slots configured */
    unsigned cores;                      /* cells per slot */
    uid_t uid;                           /* owner of the files made when running as root, or -1 */
    gid_t gid;                           /* group, likewise */
    int keep_going;                      /* a write that fails at open leaves the storage down instead of failing */
    unsigned retry_seconds;              /* how often the caller syncs (for the log) */
    struct gpx_boardfile_status *status; /* or NULL */
    gpx_log_fn log;                      /* lines about the file, or NULL */
};

/* The master's handle on the file. */
struct gpx_boardfile {
    char path[PATH_MAX];
    char tmp[PATH_MAX + 8]; /* "<path>.tmp": where a new file is written */
    char dir[PATH_MAX];
    uid_t uid;
    gid_t gid;
    unsigned retry_seconds;
    int fd;    /* the file the path held when last checked, or -1: a new one is due */
    dev_t dev; /* its identity, mode and owner, to tell what another process changed */
    ino_t ino;
    dev_t dir_dev; /* its directory's identity: another directory at the path is a removed one */
    ino_t dir_ino;
    mode_t mode;
    uid_t owner;
    gid_t group;
    unsigned char *image;              /* what the file holds, as last written */
    size_t size;                       /* bytes of the board and of the file */
    int rewrite_all;                   /* the file's content is not known: the next write is a whole one */
    int failing;                       /* the last write failed: the storage is down */
    time_t written_at;                 /* when the file last held every count (unix seconds), 0: never */
    time_t noted_at[GPX_CHANGE_KINDS]; /* when a change of each kind was last logged */
    unsigned unsaid[GPX_CHANGE_KINDS]; /* changes of each kind seen since, not logged */
    struct gpx_boardfile_status *status;
    gpx_log_fn log;
};

/* Maps an anonymous board for o->workers slots (more if the file has more)
 * of o->cores cells, fills it from the file when there is one, and makes
 * sure the path holds a whole file of the board's size with its space
 * reserved: an existing file of the same layout is kept, a file with fewer
 * workers is grown and one with another core count folded (each worker's
 * cells summed into its first cell; both logged), either written anew.
 * A file of another layout version, or damaged, is refused; so is a file
 * that cannot be written (a full filesystem), unless o->keep_going: then
 * the board counts in memory with the storage down, and each sync tries
 * again. Returns 0 with *start set, or -1 with err filled and nothing
 * mapped, no file left behind. */
int gpx_boardfile_open(struct gpx_boardfile *f, struct gpx_scoreboard *board, const struct gpx_boardfile_options *o,
                       enum gpx_boardfile_start *start, char *err, size_t errlen);

/* The master's copy of the board into the file (board: the one of open).
 * First checks that the path still holds the file, unchanged, and writes a
 * new one from memory when not; then writes the pages that changed (all of
 * them, and waits for the disk, when `final`). Returns 0, or -1 with err
 * filled: the counts stay in memory. Lines are logged when the file was
 * changed by another process, and when writing starts or stops failing
 * (not when `final`: the caller says what a failed last write means). */
int gpx_boardfile_sync(struct gpx_boardfile *f, const struct gpx_scoreboard *board, int final, char *err,
                       size_t errlen);

/* Whether the path holds this board's file, and as of when (unix seconds),
 * for the caller's last words. */
int gpx_boardfile_holds_counts(const struct gpx_boardfile *f, time_t *written_at);

/* Closes the file and frees the handle's memory (not the board). In a
 * worker, drops what it inherited: only the master writes the file. */
void gpx_boardfile_close(struct gpx_boardfile *f);

#endif
