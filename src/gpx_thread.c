/* gpx_thread.c - threads with every signal blocked (see gpx_thread.h). */
#define _POSIX_C_SOURCE 200809L
#include "gpx_thread.h"

#include <signal.h>

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
