/* gpx_file.c - files read whole, directories made again (see gpx_file.h). */
#define _POSIX_C_SOURCE 200809L
#include "gpx_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

ssize_t
gpx_file_read_fd(int fd, void *buf, size_t size)
{
    size_t got = 0;

    while (got < size) {
        ssize_t n = read(fd, (char *)buf + got, size - got);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -1;
        }
        if (n == 0) {
            break;
        }
        got += (size_t)n;
    }
    return (ssize_t)got;
}

char *
gpx_file_read(const char *path, size_t max, size_t *len, char *why, size_t whylen)
{
    char *text = malloc(max + 2);
    ssize_t n;
    int fd, saved;

    *len = 0;
    if (text == NULL) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, whylen, "cannot open it: %s", strerror(errno));
        free(text);
        return NULL;
    }
    /* One byte more than allowed: a file that fills it is too large. */
    n = gpx_file_read_fd(fd, text, max + 1);
    saved = errno;
    close(fd);
    if (n < 0 || (size_t)n > max) {
        if (n < 0) {
            snprintf(why, whylen, "cannot read it: %s", strerror(saved));
        } else {
            snprintf(why, whylen, "larger than %zu bytes", max);
        }
        free(text);
        return NULL;
    }
    text[n] = '\0';
    *len = (size_t)n;
    return text;
}

ssize_t
gpx_file_read_small(const char *path, char *buf, size_t size)
{
    ssize_t n;
    int fd, saved;

    if (size == 0) {
        errno = EINVAL;
        return -1;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    n = gpx_file_read_fd(fd, buf, size - 1);
    saved = errno;
    close(fd);
    if (n < 0) {
        errno = saved;
        return -1;
    }
    buf[n] = '\0';
    return n;
}

int
gpx_file_give(int fd, const char *path, uid_t uid, gid_t gid)
{
    if (geteuid() != 0 || (uid == (uid_t)-1 && gid == (gid_t)-1)) {
        return 0;
    }
    return fd >= 0 ? fchown(fd, uid, gid) : chown(path, uid, gid);
}

int
gpx_file_make_dir(const char *dir, uid_t uid, gid_t gid)
{
    struct stat st;

    if (mkdir(dir, 0755) != 0) {
        if (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) {
            return 0;
        }
        return -1;
    }
    gpx_file_give(-1, dir, uid, gid);
    return 0;
}
