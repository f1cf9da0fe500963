/* gpx_deadline.h - deadlines on CLOCK_MONOTONIC, for work made of several
 * blocking steps (connecting, asking each Sentinel, reading replies) that
 * must all end within one timeout. */
#ifndef GPX_DEADLINE_H
#define GPX_DEADLINE_H

#include <time.h>

/* The monotonic time `ms` milliseconds from now. */
struct timespec gpx_deadline_in(unsigned long ms);

/* Milliseconds left before `deadline`, 0 once it has passed. */
long gpx_deadline_left_ms(const struct timespec *deadline);

#endif
