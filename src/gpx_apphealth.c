/* gpx_apphealth.c - what was left out, said once (see gpx_apphealth.h). */
#include "gpx_apphealth.h"

static const char *const drop_labels[GPX_APP_DROPS] = {"gpx_name", "duplicate_name", "invalid_labels",
                                                       "invalid_samples", "invalid_name"};

const char *
gpx_app_drop_label(enum gpx_app_drop reason)
{
    return (unsigned)reason < GPX_APP_DROPS ? drop_labels[reason] : "unknown";
}

int
gpx_app_report_begin(struct gpx_app_report *r)
{
    if (gpx_buf_init(&r->key, 128) != 0) {
        return -1;
    }
    if (gpx_buf_init(&r->line, 256) != 0) {
        gpx_buf_free(&r->key);
        return -1;
    }
    return 0;
}

void
gpx_app_report_end(struct gpx_app_report *r, gpx_app_report_fn report, void *ctx)
{
    if (report != NULL && !r->key.failed && !r->line.failed) {
        report(ctx, r->key.data, r->line.data);
    }
    gpx_buf_free(&r->key);
    gpx_buf_free(&r->line);
}

void
gpx_app_log_init(struct gpx_app_log *log, gpx_log_fn fn)
{
    pthread_mutex_init(&log->lock, NULL);
    gpx_names_init(&log->said);
    log->full = 0;
    log->log = fn;
}

void
gpx_app_log_report(void *ctx, const char *key, const char *line)
{
    struct gpx_app_log *log = ctx;
    int say = 0, full = 0;

    pthread_mutex_lock(&log->lock);
    if (!gpx_names_has(&log->said, key)) {
        if (log->said.used < GPX_APP_LOG_KEYS && gpx_names_add(&log->said, key) == 0) {
            say = 1;
        } else if (!log->full) {
            log->full = full = 1;
        }
    }
    pthread_mutex_unlock(&log->lock);
    if (say) {
        gpx_log(log->log, "gpx: %s", line);
    } else if (full) {
        gpx_log(log->log, "gpx: more problems with the app's prometheus_client metrics are not logged (the health "
                          "families gunicorn_exporter_app_* still count them)");
    }
}

void
gpx_app_quote(struct gpx_buf *out, const char *text)
{
    const unsigned char *p;

    for (p = (const unsigned char *)text; *p != '\0'; p++) {
        if (*p == '\n') {
            gpx_buf_puts(out, "\\n");
        } else if (*p == '\t') {
            gpx_buf_puts(out, "\\t");
        } else if (*p == '\\') {
            gpx_buf_puts(out, "\\\\");
        } else if (*p < 0x20 || *p >= 0x7f) {
            gpx_buf_printf(out, "\\x%02x", *p);
        } else {
            gpx_buf_append(out, (const char *)p, 1);
        }
    }
}
