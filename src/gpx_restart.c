/* gpx_restart.c - restart reasons (see gpx_restart.h). */
#include "gpx_restart.h"

static const char *const labels[GPX_RESTART_REASON_COUNT] = {
    "max_requests", "timeout", "memory", "lifetime", "idle", "crash", "signal", "reload",
};

const char *
gpx_restart_label(enum gpx_restart_reason reason)
{
    return (unsigned)reason < GPX_RESTART_REASON_COUNT ? labels[reason] : "crash";
}

const char *
gpx_restart_type_label(enum gpx_restart_reason reason)
{
    switch (reason) {
    case GPX_RESTART_MAX_REQUESTS:
    case GPX_RESTART_LIFETIME:
    case GPX_RESTART_IDLE:
    case GPX_RESTART_RELOAD:
        return "graceful";
    default:
        return "forced";
    }
}

static int
over(uint64_t value, uint64_t limit)
{
    return limit > 0 && value >= limit;
}

enum gpx_restart_reason
gpx_restart_classify(const struct gpx_worker_end *end)
{
    /* What the master did first: it decided these before the process ended. */
    if (end->harakiri) {
        return GPX_RESTART_TIMEOUT;
    }
    if (end->cheaped || (end->kind == GPX_EXIT_CODE && end->code == GPX_UWSGI_GO_CHEAP_CODE)) {
        return GPX_RESTART_IDLE;
    }
    if (end->kind == GPX_EXIT_SIGNAL) {
        /* evil-reload-on-rss/as kill with SIGKILL: the master read the size. */
        if (over(end->rss, end->evil_reload_on_rss) || over(end->vsz, end->evil_reload_on_as)) {
            return GPX_RESTART_MEMORY;
        }
        return end->reloading ? GPX_RESTART_RELOAD : GPX_RESTART_SIGNAL;
    }
    if (end->reloading || (end->kind == GPX_EXIT_CODE && end->code == GPX_UWSGI_RELOAD_CODE)) {
        return GPX_RESTART_RELOAD;
    }
    /* A worker that ended itself on a limit leaves its loop and exits 0
     * (2.0.x; the end code when a signal ended it), or was reaped before its
     * code could be read. */
    if (end->kind == GPX_EXIT_UNKNOWN ||
        (end->kind == GPX_EXIT_CODE && (end->code == 0 || end->code == GPX_UWSGI_END_CODE))) {
        if (over(end->served, end->max_requests)) {
            return GPX_RESTART_MAX_REQUESTS;
        }
        if (over(end->rss, end->reload_on_rss) || over(end->vsz, end->reload_on_as)) {
            return GPX_RESTART_MEMORY;
        }
        if (end->max_lifetime > 0 && end->lived >= end->max_lifetime) {
            return GPX_RESTART_LIFETIME;
        }
        if ((end->kind == GPX_EXIT_CODE && end->code == GPX_UWSGI_END_CODE) || end->cursed) {
            return GPX_RESTART_RELOAD;
        }
    }
    return GPX_RESTART_CRASH;
}
