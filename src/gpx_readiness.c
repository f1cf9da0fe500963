/* gpx_readiness.c - the rule of /readyz (see gpx_readiness.h). */
#include "gpx_readiness.h"

#include <inttypes.h>
#include <stdio.h>

enum gpx_readiness
gpx_readiness_decide(const struct gpx_readiness_rule *rule, const struct gpx_readiness_facts *f)
{
    if (f->stopping) {
        return GPX_NOT_READY_STOPPING;
    }
    if (f->reloading) {
        return GPX_NOT_READY_RELOADING;
    }
    if (!f->app_loaded) {
        return GPX_NOT_READY_NO_APP;
    }
    if (f->accepting == 0) {
        return GPX_NOT_READY_NO_WORKER;
    }
    if (!rule->saturation) {
        return GPX_READY;
    }
    if (f->busy >= f->accepting && f->queued > rule->queue) {
        return GPX_NOT_READY_SATURATED;
    }
    /* busy / accepting >= busy_percent / 100, in integers. */
    if (rule->busy_percent > 0 && (uint64_t)f->busy * 100 >= (uint64_t)rule->busy_percent * f->accepting) {
        return GPX_NOT_READY_BUSY;
    }
    return GPX_READY;
}

void
gpx_readiness_publish(struct gpx_readiness_state *state, const struct gpx_readiness_rule *rule,
                      const struct gpx_readiness_facts *f, enum gpx_readiness verdict)
{
    __atomic_store_n(&state->accepting, f->accepting, __ATOMIC_RELAXED);
    __atomic_store_n(&state->busy, f->busy, __ATOMIC_RELAXED);
    __atomic_store_n(&state->queued, f->queued, __ATOMIC_RELAXED);
    __atomic_store_n(&state->queue_limit, rule->queue, __ATOMIC_RELAXED);
    __atomic_store_n(&state->busy_percent, rule->busy_percent, __ATOMIC_RELAXED);
    __atomic_store_n(&state->verdict, (int)verdict, __ATOMIC_RELAXED);
    __atomic_store_n(&state->decided, 1, __ATOMIC_RELEASE);
}

int
gpx_readiness_read(const struct gpx_readiness_state *state, char *why, size_t len)
{
    unsigned busy, accepting;
    uint64_t queued;
    int verdict;

    if (!__atomic_load_n(&state->decided, __ATOMIC_ACQUIRE)) {
        snprintf(why, len, "not ready: the master has not checked the workers yet");
        return 0;
    }
    verdict = __atomic_load_n(&state->verdict, __ATOMIC_RELAXED);
    busy = __atomic_load_n(&state->busy, __ATOMIC_RELAXED);
    accepting = __atomic_load_n(&state->accepting, __ATOMIC_RELAXED);
    queued = __atomic_load_n(&state->queued, __ATOMIC_RELAXED);
    switch ((enum gpx_readiness)verdict) {
    case GPX_READY:
        snprintf(why, len, "ok: %u of %u workers busy, %" PRIu64 " connections waiting", busy, accepting, queued);
        return 1;
    case GPX_NOT_READY_STOPPING:
        snprintf(why, len, "not ready: the server is stopping");
        break;
    case GPX_NOT_READY_RELOADING:
        snprintf(why, len, "not ready: the server is reloading");
        break;
    case GPX_NOT_READY_NO_APP:
        snprintf(why, len, "not ready: no application is loaded");
        break;
    case GPX_NOT_READY_NO_WORKER:
        snprintf(why, len, "not ready: no worker accepts requests");
        break;
    case GPX_NOT_READY_SATURATED:
        snprintf(why, len,
                 "not ready: %u of %u workers busy and %" PRIu64 " connections waiting (more than %" PRIu64 ")", busy,
                 accepting, queued, __atomic_load_n(&state->queue_limit, __ATOMIC_RELAXED));
        break;
    case GPX_NOT_READY_BUSY:
        snprintf(why, len, "not ready: %u of %u workers busy (at least %u%%)", busy, accepting,
                 __atomic_load_n(&state->busy_percent, __ATOMIC_RELAXED));
        break;
    default:
        snprintf(why, len, "not ready");
        break;
    }
    return 0;
}
