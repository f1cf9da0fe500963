/* gpx_thread.c - threads with every signal blocked (see gpx_thread.h). */
#define _POSIX_C_SOURCE 200809L
#include "gpx_thread.h"

#include <signal.h>
#include <time.h>

int
gpx_thread_start(pthread_t *thread, void *(*run)(void *), void *arg)
{
    sigset_t all, old;
    int rc;

    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(thread, NULL, run, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

int
gpx_thread_wait(pthread_mutex_t *lock, pthread_cond_t *wake, const int *stopping, unsigned seconds)
{
    struct timespec until;
    int stop;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += seconds;
    pthread_mutex_lock(lock);
    while (!*stopping && pthread_cond_timedwait(wake, lock, &until) == 0) {
    }
    stop = *stopping;
    pthread_mutex_unlock(lock);
    return stop;
}
