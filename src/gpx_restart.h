/* gpx_restart.h - why a worker was replaced, from what the master saw.
 *
 * uWSGI calls no hook when a worker dies. The glue reads each worker's state
 * every master cycle and, when a worker's exit can be read before the
 * master reaps it, the exit status too; this module turns that into one of
 * a fixed set of reasons (docs/metrics.md lists them). Plain data in, a
 * reason out: unit-testable.
 */
#ifndef GPX_RESTART_H
#define GPX_RESTART_H

#include <stdint.h>

enum gpx_restart_reason {
    GPX_RESTART_MAX_REQUESTS,
    GPX_RESTART_TIMEOUT,
    GPX_RESTART_MEMORY,
    GPX_RESTART_LIFETIME,
    GPX_RESTART_IDLE,
    GPX_RESTART_CRASH,
    GPX_RESTART_SIGNAL,
    GPX_RESTART_RELOAD,
    GPX_RESTART_REASON_COUNT
};

/* How the process ended, when the master could read it before reaping. */
enum gpx_exit_kind { GPX_EXIT_UNKNOWN, GPX_EXIT_CODE, GPX_EXIT_SIGNAL };

/* uWSGI's exit codes that mean "asked to go" (uwsgi.h). */
#define GPX_UWSGI_RELOAD_CODE 17
#define GPX_UWSGI_END_CODE 30
#define GPX_UWSGI_GO_CHEAP_CODE 15

/* What the master knew of a worker that ended. */
struct gpx_worker_end {
    enum gpx_exit_kind kind;
    int code;               /* exit code or signal number */
    int harakiri;           /* a harakiri was triggered for this process */
    int cheaped;            /* the cheaper subsystem stopped it */
    int reloading;          /* the server or its workers were reloading */
    int cursed;             /* uWSGI asked it to stop (cursed_at set) */
    uint64_t served;        /* requests it served */
    uint64_t max_requests;  /* its max-requests limit, 0 when none */
    uint64_t rss, vsz;      /* last memory seen, bytes */
    uint64_t reload_on_rss; /* limits, 0 when none */
    uint64_t reload_on_as;
    uint64_t evil_reload_on_rss;
    uint64_t evil_reload_on_as;
    uint64_t lived;        /* seconds it ran */
    uint64_t max_lifetime; /* its max-worker-lifetime, 0 when none */
};

/* The reason uWSGI acted on. */
enum gpx_restart_reason gpx_restart_classify(const struct gpx_worker_end *end);

/* The label value of a reason ("max_requests", "timeout", ...). */
const char *gpx_restart_label(enum gpx_restart_reason reason);

/* The exporter's restart_type of a reason: "graceful" when uWSGI asked the
 * worker to finish and it did (max_requests, lifetime, idle, reload),
 * "forced" when it was killed or died (timeout, memory, crash, signal). A
 * value out of range is "forced", as its label is "crash". */
const char *gpx_restart_type_label(enum gpx_restart_reason reason);

#endif
