/* The monotonic clock every timing in kvlab reads. */
#ifndef KVLAB_BASE_CLOCK_H
#define KVLAB_BASE_CLOCK_H

/* Seconds on CLOCK_MONOTONIC (differences only: the origin is arbitrary). */
double kv_clock_s(void);

#endif
