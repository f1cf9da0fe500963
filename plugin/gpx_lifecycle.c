/* gpx_lifecycle.c - worker restarts by reason, read by the master.
 *
 * uWSGI calls no hook when a worker dies. Each master cycle (the top of the
 * master's loop, before it reaps) reads every worker: a worker that has
 * exited but is not reaped yet is read with waitid(WNOWAIT), which leaves it
 * for uWSGI to reap, with the flags uWSGI set when it decided to stop it
 * still in place. A worker reaped between two cycles (a window of a few
 * microseconds) is classified from what the previous cycle read. Each
 * process is counted once, under one reason, in its slot's counters.
 */
#include "gpx_glue.h"

#include <sys/wait.h>

#include "../src/gpx_restart.h"

/* What the master last read of a slot's process. */
struct seen_worker {
    pid_t pid;               /* tracked process, 0 when none */
    pid_t counted;           /* the last process counted, so that it is counted once */
    pid_t harakiri;          /* a process harakiri was triggered for */
    pid_t late_harakiri;     /* a process harakiri was triggered for after it had ended */
    uint64_t spawn_requests; /* the slot's request counter when tracking began */
    uint64_t requests;       /* ... at the last cycle */
    uint64_t rss, vsz;       /* the largest memory seen (the master resets it before an evil kill) */
    time_t last_spawn;
    int cursed;
    int cheaped;
    int pending_harakiri;
};

static struct seen_worker *seen;

/* Whether the server was reloading worker `wid`. A chain reload takes one
 * worker at a time (chain_reloading is the slot it waits for): the others
 * keep serving, and end for their own reasons meanwhile. */
static int
reloading(int wid)
{
    return uwsgi.status.gracefully_reloading || uwsgi.status.brutally_reloading ||
           uwsgi.status.chain_reloading == wid || uwsgi.status.workers_reloading;
}

/* evil-reload-on-rss/as: the master compares the size the worker itself
 * wrote (at the end of a request, or from its mem-collector thread), sends
 * SIGKILL and resets that size to 0 in the same step. The worker usually
 * writes while the master waits for events, and the check follows that
 * wait, before the next cycle: the size over the limit is rarely seen here.
 * A size back at 0 in a worker known to have one (it was seen, or the
 * worker served a request, which writes it) is that reset. Nothing else
 * zeroes the size of a live worker but the cheaper subsystem, which marks
 * the worker cheaped first. */
static void
note_evil_reset(struct seen_worker *s, const struct uwsgi_worker *uw)
{
    int had_size = uw->requests > s->spawn_requests;

    if (uwsgi.evil_reload_on_rss > 0 && uw->rss_size == 0 && (had_size || s->rss > 0) &&
        s->rss < (uint64_t)uwsgi.evil_reload_on_rss) {
        s->rss = (uint64_t)uwsgi.evil_reload_on_rss;
    }
    if (uwsgi.evil_reload_on_as > 0 && uw->vsz_size == 0 && (had_size || s->vsz > 0) &&
        s->vsz < (uint64_t)uwsgi.evil_reload_on_as) {
        s->vsz = (uint64_t)uwsgi.evil_reload_on_as;
    }
}

static void
count_restart(int wid, const struct seen_worker *s, enum gpx_exit_kind kind, int code)
{
    struct gpx_worker_end end;
    enum gpx_restart_reason reason;
    uint64_t max_requests = uwsgi.max_requests;

    memset(&end, 0, sizeof(end));
    end.kind = kind;
    end.code = code;
    end.harakiri = s->harakiri == s->pid || (s->pending_harakiri > 0 && s->late_harakiri != s->pid);
    end.cheaped = s->cheaped;
    end.reloading = reloading(wid);
    end.cursed = s->cursed;
    end.served = s->requests - s->spawn_requests;
#ifdef GPX_HAS_MAX_REQUESTS_DELTA
    if (max_requests > 0) {
        max_requests += (uint64_t)(wid - 1) * uwsgi.max_requests_delta;
    }
#endif
    end.max_requests = max_requests;
    end.rss = s->rss;
    end.vsz = s->vsz;
    end.reload_on_rss = uwsgi.reload_on_rss;
    end.reload_on_as = uwsgi.reload_on_as;
    end.evil_reload_on_rss = uwsgi.evil_reload_on_rss;
    end.evil_reload_on_as = uwsgi.evil_reload_on_as;
    end.lived = uwsgi_now() > s->last_spawn ? (uint64_t)(uwsgi_now() - s->last_spawn) : 0;
    end.max_lifetime = uwsgi.max_worker_lifetime;
    if (end.max_lifetime > 0) {
        end.max_lifetime += (uint64_t)(wid - 1) * uwsgi.max_worker_lifetime_delta;
    }
    reason = gpx_restart_classify(&end);
    GPX_BUMP(gpx_scoreboard_slot(&gpx.board, (unsigned)wid)->restarts[reason], 1);
    uwsgi_log("gpx: worker %d (pid %d) ended (%s %d): %s\n", wid, (int)s->pid,
              kind == GPX_EXIT_CODE     ? "exit code"
              : kind == GPX_EXIT_SIGNAL ? "signal"
                                        : "reaped before read, last state",
              code, gpx_restart_label(reason));
}

static void
read_state(struct seen_worker *s, const struct uwsgi_worker *uw)
{
    s->requests = uw->requests;
    if (uw->rss_size > s->rss) {
        s->rss = uw->rss_size;
    }
    if (uw->vsz_size > s->vsz) {
        s->vsz = uw->vsz_size;
    }
    s->cursed = uw->cursed_at > 0 || !uw->manage_next_request;
    s->cheaped = uw->cheaped;
    s->pending_harakiri = uw->pending_harakiri;
}

static void
track(struct seen_worker *s, const struct uwsgi_worker *uw)
{
    pid_t counted = s->counted, harakiri = s->harakiri, late_harakiri = s->late_harakiri;

    memset(s, 0, sizeof(*s));
    s->counted = counted;
    s->harakiri = harakiri;
    s->late_harakiri = late_harakiri;
    s->pid = uw->pid;
    s->last_spawn = uw->last_spawn;
    s->spawn_requests = uw->requests;
    read_state(s, uw);
}

void
gpx_lifecycle_cycle(void)
{
    int wid;

    if (seen == NULL) {
        seen = uwsgi_calloc(sizeof(*seen) * (size_t)(uwsgi.numproc + 1));
    }
    for (wid = 1; wid <= uwsgi.numproc; wid++) {
        struct seen_worker *s = &seen[wid];
        const struct uwsgi_worker *uw = &uwsgi.workers[wid];

        if (s->pid > 0 && uw->pid == s->pid) {
            siginfo_t si;

            memset(&si, 0, sizeof(si));
            if (waitid(P_PID, (id_t)s->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == s->pid) {
                /* Ended, not reaped: uWSGI's flags still describe why. */
                read_state(s, uw);
                if (si.si_code != CLD_EXITED && si.si_status == SIGKILL && !s->cheaped) {
                    note_evil_reset(s, uw);
                }
                if (!uwsgi_instance_is_dying) {
                    count_restart(wid, s, si.si_code == CLD_EXITED ? GPX_EXIT_CODE : GPX_EXIT_SIGNAL, si.si_status);
                }
                s->counted = s->pid;
                s->pid = 0;
                continue;
            }
            read_state(s, uw);
            continue;
        }
        if (s->pid > 0) {
            /* Reaped since the last cycle: the last reading has to do. */
            if (!uwsgi_instance_is_dying) {
                s->requests = uw->requests > s->requests ? uw->requests : s->requests;
                count_restart(wid, s, GPX_EXIT_UNKNOWN, 0);
            }
            s->counted = s->pid;
            s->pid = 0;
        }
        if (uw->pid > 0 && uw->pid != s->counted) {
            track(s, uw);
        }
    }
}

/* Runs in the master just before it kills a worker for harakiri. The
 * master checks deadlines after its wait for events and reaps at its next
 * turn: a worker that ended meanwhile (killed from outside in the middle of
 * a request, say) still has its deadline, and often gets a harakiri once it
 * passes. That kill does nothing; the process ended for another reason. */
void
gpx_lifecycle_harakiri(int wid)
{
    if (seen != NULL && wid > 0 && wid <= uwsgi.numproc) {
        pid_t pid = uwsgi.workers[wid].pid;
        siginfo_t si;

        memset(&si, 0, sizeof(si));
        if (pid > 0 && waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid) {
            seen[wid].late_harakiri = pid;
        } else {
            seen[wid].harakiri = pid;
        }
    }
}
