/* gpx_appmetrics.c - the app's metrics read from its directory (see gpx_appmetrics.h). */
#define _GNU_SOURCE
#include "gpx_appmetrics.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpx_appmerge.h"
#include "gpx_apprender.h"
#include "gpx_appstore.h"

/* Counts and reports a file that could not be read whole: `why`, then
 * what became of it. */
static void
report_file(struct gpx_app_health *health, const char *dir, const char *file, const char *why, const char *then)
{
    struct gpx_app_report r;

    if (health == NULL) {
        return;
    }
    health->unreadable_files++;
    if (health->report == NULL || gpx_app_report_begin(&r) != 0) {
        return;
    }
    gpx_buf_printf(&r.key, "file\n%s\n%s", file, why);
    gpx_app_quote(&r.line, dir);
    gpx_buf_puts(&r.line, "/");
    gpx_app_quote(&r.line, file);
    gpx_buf_printf(&r.line, " cannot be read whole: %s; %s (gunicorn_exporter_app_files_unreadable)", why, then);
    gpx_app_report_end(&r, health->report, health->report_ctx);
}

int
gpx_appmetrics_render(struct gpx_buf *out, const struct gpx_appmetrics_place *place, enum gpx_format format,
                      const struct gpx_names *reserved, struct gpx_app_health *health)
{
    struct gpx_appstore st;
    struct gpx_appmerge *m;
    struct dirent *entry;
    DIR *dir;
    int fd, lock, rc;

    dir = opendir(place->dir);
    if (dir == NULL) {
        return 0;
    }
    m = gpx_appmerge_new();
    if (m == NULL) {
        closedir(dir);
        out->failed = 1;
        return -1;
    }
    fd = dirfd(dir);
    gpx_appstore_init(&st);
    /* Without the lock (a file it may not open), a scrape during a fold
     * could see a process both in its files and in the store. */
    lock = gpx_appstore_lock(fd, place->lock_name, 0);
    gpx_appstore_load(&st, fd, place->store_name);
    gpx_appmerge_add_store(m, &st, place->store_name);
    while ((entry = readdir(dir)) != NULL) {
        struct gpx_app_file_read read;
        struct gpx_pc_name name;
        char why[160];
        void *data;
        size_t len;

        if (gpx_pc_parse_name(entry->d_name, &name) != 0) {
            size_t n = strlen(entry->d_name);

            /* prometheus_client reads every *.db: one it names otherwise
             * (a process_identifier that is not a pid, another program's
             * file) is not silently passed over. */
            if (n > 3 && strcmp(entry->d_name + n - 3, ".db") == 0 && entry->d_type != DT_DIR) {
                report_file(health, place->dir, entry->d_name,
                            "its name is not <kind>_<pid>.db as prometheus_client names files by process id",
                            "gpx does not read it");
            }
            continue;
        }
        if (gpx_appstore_pid_state(&st, name.pid) == GPX_PID_FOLDED) {
            continue;
        }
        if (gpx_pc_read_file(fd, entry->d_name, &data, &len) != 0) {
            /* A live* gauge's file may be removed meanwhile (mark_process_dead),
             * an ended process's by a fold. */
            if (errno != ENOENT) {
                snprintf(why, sizeof(why), "%s", strerror(errno));
                report_file(health, place->dir, entry->d_name, why, "gpx does not read it");
            }
            continue;
        }
        if (gpx_appmerge_add_file(m, entry->d_name, &name, data, len, &read) != 0 && !m->failed) {
            if (read.layout == GPX_PC_LAYOUT_UNKNOWN) {
                snprintf(why, sizeof(why),
                         "neither of prometheus_client's layouts (value; value and timestamp) reads all of its %zu "
                         "bytes",
                         len);
            } else {
                snprintf(why, sizeof(why), "%ld of its entries have keys that are not prometheus_client's",
                         read.bad_keys);
            }
            report_file(health, place->dir, entry->d_name, why, "what could be read of it is served");
        }
        free(data);
    }
    if (lock >= 0) {
        close(lock);
    }
    closedir(dir);
    gpx_appstore_free(&st);
    rc = gpx_apprender_families(m, out, format, reserved, health);
    gpx_appmerge_free(m);
    return rc;
}
