/* gpx_boardfile.c - file storage: the scoreboard's copy on disk.
 *
 * Runs in the master only: before the first fork (open), in its cycle and
 * at its end (sync). Never on the request path, never through a mapping.
 */
#define _GNU_SOURCE
#include "gpx_boardfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gpx_file.h"
#include "gpx_layout.h"
#include "gpx_log.h"

/* The unit a sync compares and writes: a page, the kernel's own unit. */
#define SYNC_UNIT 4096u
/* A change of the same kind is logged at most once in this many seconds. */
#define CHANGE_LOG_SECONDS 60

_Static_assert(GPX_HEADER_SIZE % 8 == 0 && sizeof(struct gpx_slot) % 8 == 0 && sizeof(struct gpx_cell) % 8 == 0,
               "a board is made of 64-bit words");

const char *const gpx_boardfile_op_labels[GPX_BOARDFILE_OPS] = {"check", "write"};

static void
count_error(struct gpx_boardfile *f, enum gpx_boardfile_op op)
{
    if (f->status != NULL) {
        __atomic_add_fetch(&f->status->errors[op], 1, __ATOMIC_RELAXED);
    }
}

static void
set_up(struct gpx_boardfile *f, int up)
{
    if (f->status != NULL) {
        __atomic_store_n(&f->status->up, up, __ATOMIC_RELAXED);
    }
}

static int
pread_all(int fd, void *buf, size_t len, off_t offset)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = pread(fd, (char *)buf + done, len - done, offset + (off_t)done);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            if (n == 0) {
                errno = EIO; /* shorter than it said a moment ago */
            }
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

static int
pwrite_all(int fd, const void *buf, size_t len, off_t offset)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = pwrite(fd, (const char *)buf + done, len - done, offset + (off_t)done);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            if (n == 0) {
                errno = ENOSPC;
            }
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

/* Copies the board's words into `to` with the loads its writers pair with,
 * and says whether any differed. Workers keep writing meanwhile: each word
 * is whole, the copy as a whole is as of no single instant, like any read
 * of the board. */
static int
copy_words(void *to, const void *from, size_t len)
{
    uint64_t *dst = to;
    const uint64_t *src = from;
    size_t i, n = len / 8;
    int changed = 0;

    for (i = 0; i < n; i++) {
        uint64_t word = __atomic_load_n(&src[i], __ATOMIC_RELAXED);

        if (dst[i] != word) {
            dst[i] = word;
            changed = 1;
        }
    }
    return changed;
}

/* Takes what the file at f->fd is now, and its directory, to tell later
 * changes from them. */
static void
note_identity(struct gpx_boardfile *f, const struct stat *st)
{
    struct stat dir;

    f->dev = st->st_dev;
    f->ino = st->st_ino;
    f->mode = st->st_mode & 07777;
    f->owner = st->st_uid;
    f->group = st->st_gid;
    if (stat(f->dir, &dir) == 0) {
        f->dir_dev = dir.st_dev;
        f->dir_ino = dir.st_ino;
    }
}

static void
drop_file(struct gpx_boardfile *f)
{
    if (f->fd >= 0) {
        close(f->fd);
    }
    f->fd = -1;
    f->rewrite_all = 1;
}

/* Opens the temporary file, making the directory again if it was removed
 * (its parent must exist). */
static int
open_tmp(struct gpx_boardfile *f, char *err, size_t errlen)
{
    int fd = open(f->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);

    if (fd < 0 && errno == ENOENT) {
        if (gpx_file_make_dir(f->dir, f->uid, f->gid) != 0) {
            gpx_set_error(err, errlen, "cannot make the directory %s: %s", f->dir, strerror(errno));
            return -1;
        }
        fd = open(f->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    }
    if (fd < 0) {
        gpx_set_error(err, errlen, "cannot create %s: %s", f->tmp, strerror(errno));
    }
    return fd;
}

/* Writes a whole new file from the board under the temporary name, its
 * space reserved first, and renames it over the path. On failure the path
 * is as it was and no temporary file is left. */
static int
write_new_file(struct gpx_boardfile *f, const struct gpx_scoreboard *board, char *err, size_t errlen)
{
    struct stat st;
    int fd, rc;

    copy_words(f->image, board->base, f->size);
    fd = open_tmp(f, err, errlen);
    if (fd < 0) {
        return -1;
    }
    gpx_file_give(fd, f->tmp, f->uid, f->gid); /* not fatal: the master can still write it */
    /* Reserved before anything is written: the whole file fits, or nothing
     * is made. posix_fallocate returns the error rather than setting errno. */
    rc = posix_fallocate(fd, 0, (off_t)f->size);
    if (rc != 0) {
        gpx_set_error(err, errlen, "cannot reserve %zu bytes for %s: %s", f->size, f->path, strerror(rc));
        goto failed;
    }
    if (pwrite_all(fd, f->image, f->size, 0) != 0 || fdatasync(fd) != 0) {
        gpx_set_error(err, errlen, "cannot write %s: %s", f->tmp, strerror(errno));
        goto failed;
    }
    if (rename(f->tmp, f->path) != 0) {
        gpx_set_error(err, errlen, "cannot rename %s to %s: %s", f->tmp, f->path, strerror(errno));
        goto failed;
    }
    if (fstat(fd, &st) != 0) {
        gpx_set_error(err, errlen, "cannot read the state of %s: %s", f->path, strerror(errno));
        close(fd);
        drop_file(f);
        return -1;
    }
    drop_file(f);
    f->fd = fd;
    note_identity(f, &st);
    f->rewrite_all = 0;
    f->written_at = time(NULL);
    return 0;

failed:
    rc = errno;
    close(fd);
    unlink(f->tmp);
    errno = rc;
    f->rewrite_all = 1;
    return -1;
}

/* Writes the pages of the board that differ from the file's (all of them
 * when `all`), in runs of adjacent pages. */
static int
write_changes(struct gpx_boardfile *f, const struct gpx_scoreboard *board, int all, char *err, size_t errlen)
{
    size_t off, run = SIZE_MAX;

    for (off = 0; off < f->size || run != SIZE_MAX; off += SYNC_UNIT) {
        size_t len = off < f->size ? (f->size - off < SYNC_UNIT ? f->size - off : SYNC_UNIT) : 0;
        /* copy_words first: it brings the image up to date either way. */
        int dirty = len > 0 && (copy_words(f->image + off, board->base + off, len) || all);

        if (dirty && run == SIZE_MAX) {
            run = off;
        } else if (!dirty && run != SIZE_MAX) {
            size_t end = off < f->size ? off : f->size;

            if (pwrite_all(f->fd, f->image + run, end - run, (off_t)run) != 0) {
                gpx_set_error(err, errlen, "cannot write %s: %s", f->path, strerror(errno));
                /* The image is ahead of the file now: write it all next time. */
                f->rewrite_all = 1;
                return -1;
            }
            run = SIZE_MAX;
        }
    }
    f->rewrite_all = 0;
    return 0;
}

/* A change another process made to the file: counted, and logged unless a
 * change of the same kind was logged in the last minute (a script that
 * truncates the file in a loop, or a second server with the same instance
 * name renaming its own file over this one, must not fill the log). */
static void changed(struct gpx_boardfile *f, enum gpx_boardfile_change kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
changed(struct gpx_boardfile *f, enum gpx_boardfile_change kind, const char *fmt, ...)
{
    char line[PATH_MAX + 512];
    time_t now = time(NULL);
    size_t len;
    va_list ap;

    count_error(f, GPX_BOARDFILE_CHECK);
    if (f->noted_at[kind] != 0 && now - f->noted_at[kind] < CHANGE_LOG_SECONDS) {
        f->unsaid[kind]++;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    len = strlen(line);
    if (f->unsaid[kind] > 0 && len < sizeof(line)) {
        snprintf(line + len, sizeof(line) - len, " (the same change, %u more time(s) since the last such line)",
                 f->unsaid[kind]);
    }
    f->noted_at[kind] = now;
    f->unsaid[kind] = 0;
    gpx_log(f->log, "%s", line);
}

/* Whether the file at the path, not this handle's, is a gpx scoreboard. */
static int
path_is_a_board(const struct gpx_boardfile *f)
{
    char magic[sizeof(GPX_BOARD_MAGIC) - 1];
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    int is =
        fd >= 0 && pread_all(fd, magic, sizeof(magic), 0) == 0 && memcmp(magic, GPX_BOARD_MAGIC, sizeof(magic)) == 0;

    if (fd >= 0) {
        close(fd);
    }
    return is;
}

/* Whether the path still holds the file this handle wrote, unchanged. A
 * file removed, replaced or resized is dropped (a new one is written from
 * memory); a mode or owner changed is set back. Each change found is
 * counted and logged.
 *
 * A change made between this check and the writes that follow is seen at
 * the next sync, but for one case: a truncation just before the write of
 * the last page leaves the file its size with zeros before that page. The
 * final sync (exit, reload) writes every page, so only a master killed
 * before it could leave such a file. */
static void
check(struct gpx_boardfile *f)
{
    struct stat st, at;
    mode_t mode;

    if (f->fd < 0) {
        return;
    }
    if (fstat(f->fd, &st) != 0) {
        changed(f, GPX_CHANGE_UNREADABLE,
                "gpx: %s cannot be read back (%s); gpx writes it again from the counts in memory", f->path,
                strerror(errno));
        drop_file(f);
        return;
    }
    if (stat(f->path, &at) != 0) {
        int why = errno;
        struct stat dir;

        if (why == ENOENT || why == ENOTDIR) {
            /* Made again since (by gpx's app store, say), it is not the one
             * the file was in. */
            int dir_gone = stat(f->dir, &dir) != 0 || !S_ISDIR(dir.st_mode) || dir.st_dev != f->dir_dev ||
                           dir.st_ino != f->dir_ino;

            changed(f, dir_gone ? GPX_CHANGE_DIR_REMOVED : GPX_CHANGE_REMOVED,
                    "gpx: %s was removed by another process%s; gpx writes it again from the counts in memory", f->path,
                    dir_gone ? ", with its directory" : "");
        } else {
            changed(f, GPX_CHANGE_UNREADABLE,
                    "gpx: %s cannot be looked up (%s); gpx writes it again from the counts in memory", f->path,
                    strerror(why));
        }
        drop_file(f);
        return;
    }
    if (at.st_dev != f->dev || at.st_ino != f->ino) {
        changed(f, GPX_CHANGE_REPLACED,
                "gpx: %s was replaced by another file%s; gpx writes its counts from memory over it", f->path,
                path_is_a_board(f) ? " (a gpx scoreboard: does another server run with the same gpx-instance?)" : "");
        drop_file(f);
        return;
    }
    if ((uint64_t)st.st_size != (uint64_t)f->size) {
        changed(f, GPX_CHANGE_RESIZED,
                "gpx: %s was %s to %lld bytes by another process (it should have %zu); gpx writes it again from the "
                "counts in memory",
                f->path, (uint64_t)st.st_size < (uint64_t)f->size ? "truncated" : "extended", (long long)st.st_size,
                f->size);
        drop_file(f);
        return;
    }
    /* The next master (after a reload, as the same user) must be able to
     * open the file: its mode and owner are gpx's to keep. */
    mode = st.st_mode & 07777;
    if (mode != f->mode) {
        if (fchmod(f->fd, f->mode) == 0) {
            changed(f, GPX_CHANGE_MODE, "gpx: the mode of %s was changed to %04o by another process; set back to %04o",
                    f->path, (unsigned)mode, (unsigned)f->mode);
        } else {
            changed(f, GPX_CHANGE_MODE,
                    "gpx: the mode of %s was changed to %04o by another process and cannot be set back (%s); gpx "
                    "writes the file again from the counts in memory",
                    f->path, (unsigned)mode, strerror(errno));
            drop_file(f);
            return;
        }
    }
    if (st.st_uid != f->owner || st.st_gid != f->group) {
        if (fchown(f->fd, f->owner, f->group) == 0) {
            changed(f, GPX_CHANGE_OWNER,
                    "gpx: the owner of %s was changed to %u:%u by another process; set back to %u:%u", f->path,
                    (unsigned)st.st_uid, (unsigned)st.st_gid, (unsigned)f->owner, (unsigned)f->group);
        } else {
            changed(f, GPX_CHANGE_OWNER,
                    "gpx: the owner of %s was changed to %u:%u by another process and cannot be set back (%s); gpx "
                    "writes the file again from the counts in memory",
                    f->path, (unsigned)st.st_uid, (unsigned)st.st_gid, strerror(errno));
            drop_file(f);
        }
    }
}

int
gpx_boardfile_sync(struct gpx_boardfile *f, const struct gpx_scoreboard *board, int final, char *err, size_t errlen)
{
    char why[PATH_MAX + 256];
    int rc;

    if (f->image == NULL || board->base == NULL || board->size != f->size) {
        gpx_set_error(err, errlen, "no scoreboard file is open");
        return -1;
    }
    check(f);
    if (f->fd < 0) {
        rc = write_new_file(f, board, why, sizeof(why));
    } else {
        rc = write_changes(f, board, final || f->rewrite_all, why, sizeof(why));
        if (rc == 0 && final && fdatasync(f->fd) != 0) {
            snprintf(why, sizeof(why), "cannot write %s: %s", f->path, strerror(errno));
            f->rewrite_all = 1;
            rc = -1;
        }
        if (rc == 0) {
            f->written_at = time(NULL);
        }
    }
    if (rc != 0) {
        count_error(f, GPX_BOARDFILE_WRITE);
        set_up(f, 0);
        if (!f->failing && !final) {
            gpx_log(f->log,
                    "gpx: %s; counting in memory (gunicorn_exporter_storage_up 0), trying again every %u s until "
                    "the file can be written",
                    why, f->retry_seconds);
        }
        f->failing = 1;
        gpx_set_error(err, errlen, "%s", why);
        return -1;
    }
    if (f->failing) {
        gpx_log(f->log, "gpx: %s written again: it holds the counts kept in memory meanwhile", f->path);
        f->failing = 0;
    }
    set_up(f, 1);
    return 0;
}

int
gpx_boardfile_holds_counts(const struct gpx_boardfile *f, time_t *written_at)
{
    if (written_at != NULL) {
        *written_at = f->written_at;
    }
    return f->fd >= 0 && f->written_at > 0;
}

void
gpx_boardfile_close(struct gpx_boardfile *f)
{
    if (f->fd >= 0) {
        close(f->fd);
    }
    free(f->image);
    f->image = NULL;
    f->fd = -1;
}

/* -- open ----------------------------------------------------------------- */

/* Checks an existing file's header against what this build writes. */
static int
check_header(const struct gpx_board_header *h, off_t file_size, const char *path, char *err, size_t errlen)
{
    if (memcmp(h->magic, GPX_BOARD_MAGIC, sizeof(h->magic)) != 0) {
        gpx_set_error(err, errlen,
                      "%s is not a gpx scoreboard (bad magic); move it away or set gpx-cleanup-db-files = true", path);
        return -1;
    }
    if (gpx_layout_board_is_v3(h)) {
        /* gpx 0.1's board: read into this layout by restore(). */
        if (h->workers == 0 || h->cores == 0 ||
            h->map_size != GPX_HEADER_SIZE + (uint64_t)h->workers *
                                                 (sizeof(struct gpx_slot) + (uint64_t)h->cores * GPX_CELL_V3_SIZE) ||
            (uint64_t)file_size < h->map_size) {
            gpx_set_error(err, errlen,
                          "%s is damaged (a layout 3 board of %u workers x %u cores, %lld bytes); move it "
                          "away or set gpx-cleanup-db-files = true",
                          path, h->workers, h->cores, (long long)file_size);
            return -1;
        }
        return 0;
    }
    if (h->layout_version != GPX_LAYOUT_VERSION || h->header_size != GPX_HEADER_SIZE ||
        h->slot_size != sizeof(struct gpx_slot) || h->cell_size != sizeof(struct gpx_cell)) {
        gpx_set_error(err, errlen,
                      "%s was written by another gpx layout (version %u, %u-byte cells; this gpx writes version %u, "
                      "%zu-byte cells); move it away or set gpx-cleanup-db-files = true",
                      path, h->layout_version, h->cell_size, GPX_LAYOUT_VERSION, sizeof(struct gpx_cell));
        return -1;
    }
    if (h->workers == 0 || h->cores == 0 || h->map_size != gpx_scoreboard_map_size(h->workers, h->cores) ||
        (uint64_t)file_size < h->map_size) {
        gpx_set_error(err, errlen,
                      "%s is damaged (%u workers x %u cores need %zu bytes, the file has %lld); move it away or set "
                      "gpx-cleanup-db-files = true",
                      path, h->workers, h->cores, gpx_scoreboard_map_size(h->workers, h->cores), (long long)file_size);
        return -1;
    }
    return 0;
}

static int
all_zero(const unsigned char *p, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (p[i] != 0) {
            return 0;
        }
    }
    return 1;
}

/* Whether the file holds nothing but zeros from `from` on. */
static int
zero_from(int fd, off_t from, off_t size)
{
    unsigned char chunk[8192];

    while (from < size) {
        size_t len = size - from < (off_t)sizeof(chunk) ? (size_t)(size - from) : sizeof(chunk);

        if (pread_all(fd, chunk, len, from) != 0 || !all_zero(chunk, len)) {
            return 0;
        }
        from += (off_t)len;
    }
    return 1;
}

static int
set_paths(struct gpx_boardfile *f, const char *path, char *err, size_t errlen)
{
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash == NULL ? 1 : (slash == path ? 1 : (size_t)(slash - path));

    if (snprintf(f->path, sizeof(f->path), "%s", path) >= (int)sizeof(f->path) ||
        snprintf(f->tmp, sizeof(f->tmp), "%s.tmp", path) >= (int)sizeof(f->tmp)) {
        gpx_set_error(err, errlen, "path too long: %s", path);
        return -1;
    }
    if (slash == NULL) {
        strcpy(f->dir, ".");
    } else {
        memcpy(f->dir, path, dirlen);
        f->dir[dirlen] = '\0';
    }
    return 0;
}

/* Reads the file at `fd` into a new board: the same layout as it is, more
 * workers with new zeroed blocks, another core count folded. Sets *same
 * when the board has the file's exact layout. Returns 0, or -1. */
static int
restore(struct gpx_scoreboard *board, int fd, const struct gpx_board_header *head, const char *path,
        const struct gpx_boardfile_options *o, int *same, char *err, size_t errlen)
{
    unsigned want = head->workers > o->workers ? head->workers : o->workers;
    struct gpx_scoreboard old;
    unsigned char *copy = malloc(head->map_size);
    unsigned w;

    if (copy == NULL) {
        gpx_set_error(err, errlen, "out of memory reading %s", path);
        return -1;
    }
    if (pread_all(fd, copy, head->map_size, 0) != 0) {
        gpx_set_error(err, errlen, "cannot read %s: %s", path, strerror(errno));
        free(copy);
        return -1;
    }
    if (gpx_layout_board_is_v3(head)) {
        size_t len;
        unsigned char *upgraded = gpx_layout_board_upgrade(copy, head->map_size, &len);

        free(copy);
        if (upgraded == NULL) {
            gpx_set_error(err, errlen, "out of memory reading %s", path);
            return -1;
        }
        copy = upgraded;
    }
    if (gpx_scoreboard_open_anonymous(board, want, o->cores, err, errlen) != 0) {
        free(copy);
        return -1;
    }
    gpx_scoreboard_attach(&old, copy, gpx_scoreboard_map_size(head->workers, head->cores));
    if (head->cores == o->cores) {
        memcpy(board->base, copy, old.size);
    } else {
        memcpy(gpx_scoreboard_error_names(board), gpx_scoreboard_error_names(&old), sizeof(struct gpx_error_names));
        for (w = 1; w <= old.workers; w++) {
            memcpy(gpx_scoreboard_slot(board, w), gpx_scoreboard_slot(&old, w), sizeof(struct gpx_slot));
            gpx_scoreboard_sum_worker(&old, w, gpx_scoreboard_cell(board, w, 0));
        }
    }
    gpx_scoreboard_fill_header(board->header, want, o->cores, head->created_unix);
    /* No worker runs yet: a name a dead one left half-written is freed. */
    gpx_error_names_repair(gpx_scoreboard_error_names(board));
    *same = want == head->workers && head->cores == o->cores && head->layout_version == GPX_LAYOUT_VERSION;
    free(copy);
    return 0;
}

/* The board is ready; the path must hold its file. */
static int
settle(struct gpx_boardfile *f, const struct gpx_scoreboard *board, int existing_fd,
       const struct gpx_boardfile_options *o, char *err, size_t errlen)
{
    char why[PATH_MAX + 256];
    struct stat st;
    int rc;

    f->size = board->size;
    f->image = calloc(1, f->size);
    if (f->image == NULL) {
        gpx_set_error(err, errlen, "out of memory for a copy of %s", f->path);
        return -1;
    }
    if (existing_fd >= 0) {
        /* Kept as it is; its space reserved, should it have holes (a file
         * that was sized and never written whole). */
        rc = posix_fallocate(existing_fd, 0, (off_t)f->size);
        if (rc == 0 && fstat(existing_fd, &st) == 0) {
            f->fd = existing_fd;
            note_identity(f, &st);
            memcpy(f->image, board->base, f->size);
            f->rewrite_all = 0;
            f->written_at = time(NULL);
            set_up(f, 1);
            return 0;
        }
        snprintf(why, sizeof(why), "cannot reserve %zu bytes for %s: %s", f->size, f->path,
                 strerror(rc != 0 ? rc : errno));
        close(existing_fd);
        f->rewrite_all = 1;
    } else if (write_new_file(f, board, why, sizeof(why)) == 0) {
        set_up(f, 1);
        return 0;
    }
    if (!o->keep_going) {
        gpx_set_error(err, errlen,
                      "%s (file storage keeps the counters in this file: make room in %s, or set "
                      "gpx-multiproc-dir to another directory)",
                      why, f->dir);
        free(f->image);
        f->image = NULL;
        return -1;
    }
    count_error(f, GPX_BOARDFILE_WRITE);
    set_up(f, 0);
    f->failing = 1;
    gpx_log(f->log,
            "gpx: %s; counting in memory (gunicorn_exporter_storage_up 0), trying again every %u s until the file "
            "can be written",
            why, f->retry_seconds);
    return 0;
}

int
gpx_boardfile_open(struct gpx_boardfile *f, struct gpx_scoreboard *board, const struct gpx_boardfile_options *o,
                   enum gpx_boardfile_start *start, char *err, size_t errlen)
{
    unsigned char head_bytes[GPX_HEADER_SIZE];
    struct gpx_board_header head = {0};
    struct stat st;
    size_t got = 0;
    off_t leftover = -1;
    int fd, same = 0;

    memset(f, 0, sizeof(*f));
    memset(board, 0, sizeof(*board));
    f->fd = -1;
    f->uid = o->uid;
    f->gid = o->gid;
    f->retry_seconds = o->retry_seconds > 0 ? o->retry_seconds : 1;
    f->status = o->status;
    f->log = o->log;
    *start = GPX_BOARDFILE_NEW;
    if (o->workers == 0 || o->cores == 0) {
        gpx_set_error(err, errlen, "a scoreboard needs at least one worker and one core");
        return -1;
    }
    if (set_paths(f, o->path, err, errlen) != 0) {
        return -1;
    }
    fd = open(f->path, O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno != ENOENT) {
        gpx_set_error(err, errlen, "cannot open %s: %s", f->path, strerror(errno));
        return -1;
    }
    if (fd >= 0) {
        if (fstat(fd, &st) != 0) {
            gpx_set_error(err, errlen, "cannot read the state of %s: %s", f->path, strerror(errno));
            close(fd);
            return -1;
        }
        got = st.st_size < (off_t)sizeof(head_bytes) ? (size_t)st.st_size : sizeof(head_bytes);
        if (pread_all(fd, head_bytes, got, 0) != 0) {
            gpx_set_error(err, errlen, "cannot read %s: %s", f->path, strerror(errno));
            close(fd);
            return -1;
        }
        if (all_zero(head_bytes, got) && zero_from(fd, (off_t)got, st.st_size)) {
            /* What a creation that did not finish leaves (an older gpx
             * sized the file first and could die writing its header): no
             * counters to lose, so no reason to refuse it. */
            leftover = st.st_size;
            close(fd);
            fd = -1;
        }
    }
    if (fd < 0) {
        if (gpx_scoreboard_open_anonymous(board, o->workers, o->cores, err, errlen) != 0) {
            return -1;
        }
    } else {
        if (got < sizeof(head)) {
            gpx_set_error(err, errlen,
                          "%s is damaged (shorter than a gpx header); move it away or set gpx-cleanup-db-files = true",
                          f->path);
            close(fd);
            return -1;
        }
        memcpy(&head, head_bytes, sizeof(head));
        if (check_header(&head, st.st_size, f->path, err, errlen) != 0 ||
            restore(board, fd, &head, f->path, o, &same, err, errlen) != 0) {
            close(fd);
            return -1;
        }
        *start = GPX_BOARDFILE_CONTINUED;
        same = same && (uint64_t)st.st_size == head.map_size;
        if (!same) {
            close(fd);
            fd = -1;
        }
    }
    if (settle(f, board, fd, o, err, errlen) != 0) {
        gpx_scoreboard_close(board);
        return -1;
    }
    /* Said once the file is made: a refused start logs only its reason. */
    if (f->fd < 0) {
        return 0;
    }
    if (leftover >= 0) {
        gpx_log(f->log,
                "gpx: %s held no counters (%lld bytes, all zero: a file whose making did not finish); replaced by a "
                "new file, the counters begin at zero",
                f->path, (long long)leftover);
    } else if (*start == GPX_BOARDFILE_CONTINUED && head.layout_version != GPX_LAYOUT_VERSION) {
        gpx_log(f->log,
                "gpx: %s read from gpx 0.1's layout %u (counts kept; the native histograms start from the classic "
                "buckets' bounds) and written again in layout %u",
                f->path, head.layout_version, GPX_LAYOUT_VERSION);
    } else if (*start == GPX_BOARDFILE_CONTINUED && head.cores != o->cores) {
        gpx_log(f->log, "gpx: %s folded from %u workers x %u cores to %u x %u (counts kept)", f->path, head.workers,
                head.cores, board->workers, o->cores);
    } else if (*start == GPX_BOARDFILE_CONTINUED && head.workers != board->workers) {
        gpx_log(f->log, "gpx: %s grown from %u to %u workers", f->path, head.workers, board->workers);
    }
    return 0;
}
