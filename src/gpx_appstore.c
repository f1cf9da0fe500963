/* gpx_appstore.c - the store of ended processes' values (see gpx_appstore.h). */
#define _GNU_SOURCE
#include "gpx_appstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "gpx_file.h"

#define PID_PREFIX "pid\n"
#define EPOCH_KEY "epoch\n"
#define ADOPTED_KEY "adopted\n"

void
gpx_appstore_init(struct gpx_appstore *st)
{
    memset(st, 0, sizeof(*st));
}

void
gpx_appstore_free(struct gpx_appstore *st)
{
    size_t i;

    for (i = 0; i < st->count; i++) {
        free(st->values[i].key);
    }
    free(st->values);
    gpx_index_free(&st->index);
    free(st->pids);
    memset(st, 0, sizeof(*st));
}

static const char *
value_key_at(const void *items, size_t pos, size_t *len)
{
    const struct gpx_appstore_value *v = items;

    *len = v[pos].key_len;
    return v[pos].key;
}

/* The value stored under "<prefix>\n<key>", created (0, 0) when absent;
 * *created tells which. NULL on memory. */
static struct gpx_appstore_value *
value_for(struct gpx_appstore *st, const char *prefix, const char *key, size_t key_len, int *created)
{
    size_t plen = strlen(prefix), len = plen + 1 + key_len;
    struct gpx_appstore_value *v;
    uint32_t *slot;
    char *full = malloc(len + 1);

    if (full == NULL || gpx_grow(&st->values, &st->cap, st->count, sizeof(*st->values), 32) != 0) {
        free(full);
        return NULL;
    }
    memcpy(full, prefix, plen);
    full[plen] = '\n';
    memcpy(full + plen + 1, key, key_len);
    full[len] = '\0';
    slot = gpx_index_place(&st->index, full, len, st->values, value_key_at);
    if (slot == NULL) {
        free(full);
        return NULL;
    }
    if (*slot != 0) {
        free(full);
        *created = 0;
        return &st->values[*slot - 1];
    }
    v = &st->values[st->count];
    v->key = full;
    v->key_len = len;
    v->value = 0.0;
    v->timestamp = 0.0;
    gpx_index_fill(&st->index, slot, st->count++);
    *created = 1;
    return v;
}

int
gpx_appstore_fold_value(struct gpx_appstore *st, enum gpx_pc_kind kind, enum gpx_pc_mode mode, const char *key,
                        size_t key_len, double value, double timestamp)
{
    char prefix[32];
    struct gpx_appstore_value *v;
    int created;

    if (kind == GPX_PC_GAUGE && (mode == GPX_PC_MODE_ALL || gpx_pc_mode_is_live(mode))) {
        return 0;
    }
    if (kind == GPX_PC_GAUGE) {
        snprintf(prefix, sizeof(prefix), "gauge_%s", gpx_pc_mode_label(mode));
    } else {
        snprintf(prefix, sizeof(prefix), "%s", gpx_pc_kind_label(kind));
    }
    v = value_for(st, prefix, key, key_len, &created);
    if (v == NULL) {
        return -1;
    }
    switch (kind == GPX_PC_GAUGE ? mode : GPX_PC_MODE_SUM) {
    case GPX_PC_MODE_MIN:
        if (created || value < v->value) {
            v->value = value;
        }
        break;
    case GPX_PC_MODE_MAX:
        if (created || value > v->value) {
            v->value = value;
        }
        break;
    case GPX_PC_MODE_MOSTRECENT:
        if (created || timestamp > v->timestamp) {
            v->value = value;
            v->timestamp = timestamp;
        }
        break;
    default:
        v->value += value;
        break;
    }
    return 0;
}

int
gpx_appstore_each(const struct gpx_appstore *st, gpx_appstore_each_fn each, void *ctx)
{
    size_t i;

    for (i = 0; i < st->count; i++) {
        const struct gpx_appstore_value *v = &st->values[i];
        struct gpx_pc_name kind;
        const char *end;
        int rc;

        if (gpx_pc_parse_prefix(v->key, &kind, &end) != 0 || *end != '\n') {
            continue;
        }
        rc = each(ctx, v, kind.kind, kind.mode, end + 1, v->key_len - (size_t)(end + 1 - v->key));
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int
fold_stored(void *ctx, const struct gpx_appstore_value *v, enum gpx_pc_kind kind, enum gpx_pc_mode mode,
            const char *key, size_t key_len)
{
    return gpx_appstore_fold_value(ctx, kind, mode, key, key_len, v->value, v->timestamp);
}

int
gpx_appstore_fold_store(struct gpx_appstore *st, const struct gpx_appstore *other)
{
    return gpx_appstore_each(other, fold_stored, st);
}

struct rebase {
    struct gpx_appstore result;
    const struct gpx_appstore *baseline;
};

/* One value of the store folded into the rebased result: what adds up
 * counts from the baseline on; min, max and most recent combine as they
 * are. */
static int
rebase_value(void *ctx, const struct gpx_appstore_value *v, enum gpx_pc_kind kind, enum gpx_pc_mode mode,
             const char *key, size_t key_len)
{
    struct rebase *r = ctx;
    size_t before = gpx_index_find(&r->baseline->index, v->key, v->key_len, r->baseline->values, value_key_at);
    double value = v->value;

    if ((kind != GPX_PC_GAUGE || mode == GPX_PC_MODE_SUM) && before != 0) {
        value -= r->baseline->values[before - 1].value;
    }
    return gpx_appstore_fold_value(&r->result, kind, mode, key, key_len, value, v->timestamp);
}

int
gpx_appstore_rebase(struct gpx_appstore *st, const struct gpx_appstore *baseline, const struct gpx_appstore *stored)
{
    struct rebase r;
    size_t i;

    gpx_appstore_init(&r.result);
    r.baseline = baseline;
    if (gpx_appstore_fold_store(&r.result, stored) != 0 || gpx_appstore_each(st, rebase_value, &r) != 0) {
        gpx_appstore_free(&r.result);
        return -1;
    }
    for (i = 0; i < st->count; i++) {
        free(st->values[i].key);
    }
    free(st->values);
    gpx_index_free(&st->index);
    st->values = r.result.values;
    st->count = r.result.count;
    st->cap = r.result.cap;
    st->index = r.result.index;
    free(r.result.pids);
    return 0;
}

int
gpx_appstore_copy(struct gpx_appstore *dst, const struct gpx_appstore *src)
{
    size_t i;

    gpx_appstore_init(dst);
    dst->epoch = src->epoch;
    dst->adopted = src->adopted;
    dst->values = calloc(src->cap + 1, sizeof(*dst->values));
    dst->index.slot = calloc(src->index.cap + 1, sizeof(*dst->index.slot));
    dst->pids = calloc(src->pid_cap + 1, sizeof(*dst->pids));
    if (dst->values == NULL || dst->index.slot == NULL || dst->pids == NULL) {
        gpx_appstore_free(dst);
        return -1;
    }
    dst->cap = src->cap;
    for (i = 0; i < src->count; i++, dst->count++) {
        dst->values[i] = src->values[i];
        dst->values[i].key = malloc(src->values[i].key_len + 1);
        if (dst->values[i].key == NULL) {
            gpx_appstore_free(dst);
            return -1;
        }
        memcpy(dst->values[i].key, src->values[i].key, src->values[i].key_len + 1);
    }
    if (src->index.cap > 0) {
        memcpy(dst->index.slot, src->index.slot, src->index.cap * sizeof(*src->index.slot));
    }
    dst->index.cap = src->index.cap;
    dst->index.used = src->index.used;
    if (src->pid_count > 0) {
        memcpy(dst->pids, src->pids, src->pid_count * sizeof(*src->pids));
    }
    dst->pid_count = src->pid_count;
    dst->pid_cap = src->pid_cap;
    return 0;
}

enum gpx_appstore_pid_state
gpx_appstore_pid_state(const struct gpx_appstore *st, pid_t pid)
{
    size_t i;

    for (i = 0; i < st->pid_count; i++) {
        if (st->pids[i].pid == pid) {
            return st->pids[i].state;
        }
    }
    return GPX_PID_UNKNOWN;
}

static int
set_pid(struct gpx_appstore *st, pid_t pid, enum gpx_appstore_pid_state state)
{
    size_t i;

    for (i = 0; i < st->pid_count; i++) {
        if (st->pids[i].pid == pid) {
            if (state == GPX_PID_UNKNOWN) {
                st->pids[i] = st->pids[--st->pid_count];
            } else {
                st->pids[i].state = state;
            }
            return 0;
        }
    }
    if (state == GPX_PID_UNKNOWN) {
        return 0;
    }
    if (gpx_grow(&st->pids, &st->pid_cap, st->pid_count, sizeof(*st->pids), 16) != 0) {
        return -1;
    }
    st->pids[st->pid_count].pid = pid;
    st->pids[st->pid_count].state = state;
    st->pid_count++;
    return 0;
}

int
gpx_appstore_note_pid(struct gpx_appstore *st, pid_t pid)
{
    if (pid <= 0 || gpx_appstore_pid_state(st, pid) != GPX_PID_UNKNOWN) {
        return 0;
    }
    return set_pid(st, pid, GPX_PID_OWN) == 0 ? 1 : -1;
}

int
gpx_appstore_encode(const struct gpx_appstore *st, struct gpx_buf *out)
{
    char key[32];
    size_t i;

    gpx_pc_encode_begin(out);
    if (st->epoch != 0.0) {
        gpx_pc_encode_entry(out, EPOCH_KEY, strlen(EPOCH_KEY), st->epoch, 0.0);
    }
    if (st->adopted != 0.0) {
        gpx_pc_encode_entry(out, ADOPTED_KEY, strlen(ADOPTED_KEY), st->adopted, 0.0);
    }
    for (i = 0; i < st->pid_count; i++) {
        int n = snprintf(key, sizeof(key), PID_PREFIX "%d", (int)st->pids[i].pid);

        gpx_pc_encode_entry(out, key, (size_t)n, (double)st->pids[i].state, 0.0);
    }
    for (i = 0; i < st->count; i++) {
        gpx_pc_encode_entry(out, st->values[i].key, st->values[i].key_len, st->values[i].value,
                            st->values[i].timestamp);
    }
    return gpx_pc_encode_end(out);
}

static int
load_entry(void *ctx, const struct gpx_pc_entry *e)
{
    struct gpx_appstore *st = ctx;
    size_t plen = strlen(PID_PREFIX);
    struct gpx_pc_name kind;
    struct gpx_appstore_value *v;
    const char *end;
    int created;

    if (e->key_len == strlen(EPOCH_KEY) && memcmp(e->key, EPOCH_KEY, e->key_len) == 0) {
        st->epoch = e->value;
        return 0;
    }
    if (e->key_len == strlen(ADOPTED_KEY) && memcmp(e->key, ADOPTED_KEY, e->key_len) == 0) {
        st->adopted = e->value;
        return 0;
    }
    if (e->key_len > plen && e->key_len < plen + 12 && memcmp(e->key, PID_PREFIX, plen) == 0) {
        char digits[16];
        long pid;
        char *stop;

        memcpy(digits, e->key + plen, e->key_len - plen);
        digits[e->key_len - plen] = '\0';
        pid = strtol(digits, &stop, 10);
        if (*stop == '\0' && pid > 0 && pid <= INT32_MAX && (e->value == GPX_PID_OWN || e->value == GPX_PID_FOLDED)) {
            return set_pid(st, (pid_t)pid, e->value == GPX_PID_OWN ? GPX_PID_OWN : GPX_PID_FOLDED) == 0 ? 0 : 1;
        }
        return 0;
    }
    /* A value: "<kind>\n<key>", the kind one that folding keeps. */
    if (memchr(e->key, '\0', e->key_len) != NULL || memchr(e->key, '\n', e->key_len) == NULL) {
        return 0;
    }
    {
        char head[32];
        size_t hlen = (size_t)((const char *)memchr(e->key, '\n', e->key_len) - e->key);

        if (hlen >= sizeof(head)) {
            return 0;
        }
        memcpy(head, e->key, hlen);
        head[hlen] = '\0';
        if (gpx_pc_parse_prefix(head, &kind, &end) != 0 || *end != '\0' ||
            (kind.kind == GPX_PC_GAUGE && (kind.mode == GPX_PC_MODE_ALL || gpx_pc_mode_is_live(kind.mode)))) {
            return 0;
        }
        v = value_for(st, head, e->key + hlen + 1, e->key_len - hlen - 1, &created);
    }
    if (v == NULL) {
        return 1;
    }
    v->value = e->value;
    v->timestamp = e->timestamp;
    return 0;
}

int
gpx_appstore_decode(struct gpx_appstore *st, const void *data, size_t len)
{
    return gpx_pc_parse(data, len, load_entry, st) < 0 ? -1 : 0;
}

int
gpx_appstore_load(struct gpx_appstore *st, int dirfd, const char *name)
{
    void *data;
    size_t len;
    int rc;

    if (gpx_pc_read_file(dirfd, name, &data, &len) != 0) {
        return errno == ENOENT ? 0 : -1;
    }
    rc = gpx_appstore_decode(st, data, len);
    free(data);
    return rc;
}

int
gpx_appstore_save(const struct gpx_appstore *st, int dirfd, const char *name)
{
    struct gpx_buf buf;
    int rc;

    if (gpx_buf_init(&buf, 4096) != 0) {
        return -1;
    }
    rc = gpx_appstore_encode(st, &buf);
    if (rc == 0) {
        rc = gpx_pc_replace_file(dirfd, name, buf.data, buf.len);
    }
    gpx_buf_free(&buf);
    return rc;
}

int
gpx_appstore_process_ended(pid_t pid)
{
    char path[64], stat[512];
    const char *close_paren;
    ssize_t n;

    if (kill(pid, 0) != 0 && errno == ESRCH) {
        return 1;
    }
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    n = gpx_file_read_small(path, stat, sizeof(stat));
    if (n < 0) {
        return errno == ENOENT;
    }
    if (n == 0) {
        return 0;
    }
    /* "pid (comm) S ...": the state follows the last parenthesis. */
    close_paren = strrchr(stat, ')');
    return close_paren != NULL && close_paren[1] == ' ' && (close_paren[2] == 'Z' || close_paren[2] == 'X');
}

int
gpx_appstore_lock(int dirfd, const char *name, int exclusive)
{
    int fd = openat(dirfd, name, exclusive ? O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW : O_RDONLY | O_CLOEXEC, 0644);

    if (fd < 0) {
        return -1;
    }
    while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) != 0) {
        if (errno != EINTR) {
            close(fd);
            return -1;
        }
    }
    return fd;
}

struct fold_file {
    struct gpx_appstore *st;
    const struct gpx_pc_name *name;
    int failed;
};

static int
fold_entry(void *ctx, const struct gpx_pc_entry *e)
{
    struct fold_file *f = ctx;

    if (gpx_appstore_fold_value(f->st, f->name->kind, f->name->mode, e->key, e->key_len, e->value, e->timestamp) != 0) {
        f->failed = 1;
        return 1;
    }
    return 0;
}

int
gpx_appstore_fold_file(struct gpx_appstore *st, const struct gpx_pc_name *name, const void *data, size_t len)
{
    struct fold_file f = {st, name, 0};

    /* Only a file read whole: a prefix folded and the file removed would
     * lose what gpx could not read of it. */
    if (gpx_pc_check_file(data, len, NULL) != 0) {
        return 1;
    }
    gpx_pc_parse_file(data, len, fold_entry, &f, NULL);
    return f.failed ? -1 : 0;
}

/* Names of files a fold leaves in place. */
struct left_files {
    char **names;
    size_t count;
    gpx_appstore_left_fn left;
    void *ctx;
};

static int
is_left(const struct left_files *l, const char *name)
{
    size_t i;

    for (i = 0; i < l->count; i++) {
        if (strcmp(l->names[i], name) == 0) {
            return 1;
        }
    }
    return 0;
}

static int
leave(struct left_files *l, const char *name, const void *data, size_t len)
{
    enum gpx_pc_layout layout;
    char **grown = realloc(l->names, (l->count + 1) * sizeof(*grown));

    if (grown == NULL) {
        return -1;
    }
    l->names = grown;
    l->names[l->count] = strdup(name);
    if (l->names[l->count] == NULL) {
        return -1;
    }
    l->count++;
    if (l->left != NULL) {
        gpx_pc_check_file(data, len, &layout);
        l->left(l->ctx, name, layout);
    }
    return 0;
}

/* Whether a file to be removed does not read whole: then it is left too
 * (a master that died between a fold's steps folded none of it). */
static int
unreadable(int dirfd, const char *name, struct left_files *left)
{
    void *data;
    size_t len;
    int bad;

    if (gpx_pc_read_file(dirfd, name, &data, &len) != 0) {
        return 0;
    }
    bad = gpx_pc_check_file(data, len, NULL) != 0;
    if (bad) {
        leave(left, name, data, len);
    }
    free(data);
    return bad;
}

/* Folds (or, with fold 0, removes) the files of every pid in `state`,
 * but those left in place. */
static int
walk_files(struct gpx_appstore *st, int dirfd, enum gpx_appstore_pid_state state, int fold, unsigned *removed,
           struct left_files *left)
{
    DIR *dir;
    struct dirent *entry;
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    while ((entry = readdir(dir)) != NULL) {
        struct gpx_pc_name name;

        if (gpx_pc_parse_name(entry->d_name, &name) != 0 || gpx_appstore_pid_state(st, name.pid) != state) {
            continue;
        }
        if (fold) {
            void *data;
            size_t len;
            int failed;

            if (gpx_pc_read_file(dirfd, entry->d_name, &data, &len) != 0) {
                continue;
            }
            failed = gpx_appstore_fold_file(st, &name, data, len);
            if (failed == 1) {
                failed = leave(left, entry->d_name, data, len);
            }
            free(data);
            if (failed) {
                closedir(dir);
                return -1;
            }
        } else if (!is_left(left, entry->d_name) && !unreadable(dirfd, entry->d_name, left) &&
                   unlinkat(dirfd, entry->d_name, 0) == 0) {
            (*removed)++;
        }
    }
    closedir(dir);
    return 0;
}

static void
free_left(struct left_files *l)
{
    size_t i;

    for (i = 0; i < l->count; i++) {
        free(l->names[i]);
    }
    free(l->names);
}

int
gpx_appstore_fold(struct gpx_appstore *st, int dirfd, const char *store_name, const char *lock_name,
                  gpx_appstore_alive_fn alive, gpx_appstore_left_fn left, void *ctx,
                  struct gpx_appstore_fold_result *result, char *err, size_t errlen)
{
    struct left_files kept = {NULL, 0, left, ctx};
    struct gpx_appstore before;
    size_t i;
    unsigned ended = 0, pending = 0;
    int lock, rc = 0;

    memset(result, 0, sizeof(*result));
    for (i = 0; i < st->pid_count; i++) {
        if (st->pids[i].state == GPX_PID_FOLDED) {
            pending++;
        } else if (alive(ctx, st->pids[i].pid)) {
            result->waiting++;
        } else {
            st->pids[i].state = GPX_PID_FOLDING;
            ended++;
        }
    }
    if (ended == 0 && pending == 0) {
        return 0;
    }
    lock = gpx_appstore_lock(dirfd, lock_name, 1);
    if (ended > 0) {
        /* What to go back to: the files stay, so their values must not. */
        if (gpx_appstore_copy(&before, st) != 0) {
            gpx_appstore_free(&before);
            snprintf(err, errlen, "cannot fold ended processes' files into %s: out of memory", store_name);
            rc = -1;
        } else {
            /* Step 1: the values in, the pids marked, in one rename. */
            rc = walk_files(st, dirfd, GPX_PID_FOLDING, 1, NULL, &kept);
            for (i = 0; i < st->pid_count; i++) {
                if (st->pids[i].state == GPX_PID_FOLDING) {
                    st->pids[i].state = GPX_PID_FOLDED;
                }
            }
            if (rc != 0 || gpx_appstore_save(st, dirfd, store_name) != 0) {
                snprintf(err, errlen, "cannot fold ended processes' files into %s: %s", store_name, strerror(errno));
                gpx_appstore_free(st);
                *st = before;
                rc = -1;
            } else {
                gpx_appstore_free(&before);
            }
        }
        if (rc != 0) {
            for (i = 0; i < st->pid_count; i++) {
                if (st->pids[i].state == GPX_PID_FOLDING) {
                    st->pids[i].state = GPX_PID_OWN; /* not folded: the next fold tries again */
                }
            }
            if (lock >= 0) {
                close(lock);
            }
            free_left(&kept);
            return -1;
        }
        result->processes = ended;
    }
    /* Step 2: the files out. Step 3: the marks out. */
    walk_files(st, dirfd, GPX_PID_FOLDED, 0, &result->files, &kept);
    result->left = (unsigned)kept.count;
    free_left(&kept);
    for (i = st->pid_count; i-- > 0;) {
        if (st->pids[i].state == GPX_PID_FOLDED) {
            set_pid(st, st->pids[i].pid, GPX_PID_UNKNOWN);
        }
    }
    if (gpx_appstore_save(st, dirfd, store_name) != 0) {
        /* The files are gone and their values kept: the marks stay until
         * the next save, which is as exact. */
        snprintf(err, errlen, "cannot save %s: %s", store_name, strerror(errno));
        rc = -1;
    }
    if (lock >= 0) {
        close(lock);
    }
    return rc;
}
