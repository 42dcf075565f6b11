/*
 * clock -- the milter's waits and timings, all on CLOCK_MONOTONIC: a step
 * of the system clock (NTP at boot, an administrator's date) neither
 * stretches a wait for the writer's batch or a quarantine copy into hours
 * nor cuts it short. Waits on a condition variable use
 * pthread_cond_clockwait(..., CLOCK_MONOTONIC, &deadline) (glibc 2.30).
 */
#ifndef SPAMSIFT_MILTER_CLOCK_H
#define SPAMSIFT_MILTER_CLOCK_H

#include <time.h>

/* The monotonic time ms milliseconds from now. */
static inline struct timespec clock_after_ms(long ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

/* Milliseconds since t (a CLOCK_MONOTONIC time). */
static inline double clock_since_ms(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) * 1000 +
	    (double)(now.tv_nsec - t->tv_nsec) / 1e6;
}

/*
 * Seconds on CLOCK_MONOTONIC, for the once-a-minute limits of log lines,
 * which a step of the system clock back would otherwise silence for as
 * long as the step. Counted from a day before boot, so that a limit whose
 * last time is 0 (never) lets the first line through right after boot.
 */
static inline time_t clock_now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + 86400;
}

/* Sleep ms milliseconds. */
static inline void clock_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

#endif
