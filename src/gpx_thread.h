/* gpx_thread.h - threads of the master that leave its signals alone, and
 * wait for their stop.
 *
 * A thread inherits its creator's signal mask; one started with every signal
 * blocked never takes the master's SIGCHLD, SIGHUP or SIGINT, and neither do
 * the threads it starts (libmicrohttpd's, for one).
 */
#ifndef GPX_THREAD_H
#define GPX_THREAD_H

#include <pthread.h>

/* pthread_create with every signal blocked in the new thread. Returns 0 or
 * an error number. */
int gpx_thread_start(pthread_t *thread, void *(*run)(void *), void *arg);

/* Waits `seconds`, or less when *stopping is set (under `lock`, with
 * `wake` signalled). Returns *stopping. */
int gpx_thread_wait(pthread_mutex_t *lock, pthread_cond_t *wake, const int *stopping, unsigned seconds);

#endif
