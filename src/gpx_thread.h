/* gpx_thread.h - threads of the master that leave its signals alone.
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

#endif
