/* bench_util.h - the few helpers every benchmark program uses: a
 * monotonic clock in seconds and a number from the environment. */
#ifndef ESC_BENCH_UTIL_H
#define ESC_BENCH_UTIL_H

#include <stdlib.h>
#include <time.h>

static inline double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline long env_long(const char *name, long def)
{
	const char *v = getenv(name);
	return v && *v ? strtol(v, NULL, 10) : def;
}

#endif
