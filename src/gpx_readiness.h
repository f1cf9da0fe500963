/* gpx_readiness.h - whether the server can take work now: the rule of
 * /readyz.
 *
 * The master decides, once per cycle, from what it reads of uWSGI, and
 * keeps the answer in shared memory; the metrics thread (GET /readyz) and a
 * worker (the `gpx-readyz` route action) only read it. Not ready, in this
 * order of precedence:
 *
 *   stopping    the master is shutting down
 *   reloading   a reload of the server or of its workers is under way
 *   no app      no worker has an application loaded (uWSGI went on without
 *               one: no need-app, an app that failed to import)
 *   no worker   no worker is accepting requests
 *   saturated   every accepting worker is busy and more than `queue`
 *               connections wait in a listen queue
 *   busy        at least busy_percent of the accepting workers are busy,
 *               whatever the queue (busy_percent 0: never)
 *
 * With `queue` 0 (the default), saturated is "every worker busy and the
 * listen queue growing": a connection that waits while no worker is free is
 * one the queue gained. busy_percent stops the traffic earlier, before
 * anything waits.
 */
#ifndef GPX_READINESS_H
#define GPX_READINESS_H

#include <stddef.h>
#include <stdint.h>

enum gpx_readiness {
    GPX_READY,
    GPX_NOT_READY_STOPPING,
    GPX_NOT_READY_RELOADING,
    GPX_NOT_READY_NO_APP,
    GPX_NOT_READY_NO_WORKER,
    GPX_NOT_READY_SATURATED,
    GPX_NOT_READY_BUSY,
};

/* The thresholds (gpx-readyz-busy-percent, gpx-readyz-queue,
 * gpx-readyz-saturation). */
struct gpx_readiness_rule {
    int saturation;        /* judge saturation and busy at all */
    unsigned busy_percent; /* 0..100; 0: busy is never judged */
    uint64_t queue;        /* connections that may wait while every worker is busy */
};

/* What the master read this cycle. */
struct gpx_readiness_facts {
    int stopping;
    int reloading;
    int app_loaded;     /* some worker (or the master, before lazy loading) has an app */
    unsigned accepting; /* workers that take requests (alive, not stopping, paused or cheaped) */
    unsigned busy;      /* of those, in a request on every thread or async core */
    uint64_t queued;    /* connections waiting in the fullest TCP listen queue */
};

/* The answer the readers see: written by the master with atomic stores,
 * read with atomic loads, from any process (shared memory). */
struct gpx_readiness_state {
    int decided; /* 0 until the master's first cycle */
    int verdict; /* enum gpx_readiness */
    unsigned accepting, busy;
    uint64_t queued;
    uint64_t queue_limit;
    unsigned busy_percent;
};

enum gpx_readiness gpx_readiness_decide(const struct gpx_readiness_rule *rule, const struct gpx_readiness_facts *f);

/* Stores the verdict and the facts behind it. */
void gpx_readiness_publish(struct gpx_readiness_state *state, const struct gpx_readiness_rule *rule,
                           const struct gpx_readiness_facts *f, enum gpx_readiness verdict);

/* Reads the state: returns 1 when ready, with "ok: <busy> of <accepting>
 * workers busy, <queued> connections waiting" in `why`, else 0 with one
 * line of why ("not ready: ..."). A state never decided is not ready. */
int gpx_readiness_read(const struct gpx_readiness_state *state, char *why, size_t len);

#endif
