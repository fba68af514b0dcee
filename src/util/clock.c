/* clock.c - real and manual clocks. */
#include "util/clock.h"

#include <sys/random.h>
#include <time.h>

int64_t esc_time_real_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t esc_time_monotonic_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int esc_cond_init_monotonic(pthread_cond_t *c)
{
	pthread_condattr_t attr;
	int rc = pthread_condattr_init(&attr);

	if (rc)
		return rc;
	rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (!rc)
		rc = pthread_cond_init(c, &attr);
	pthread_condattr_destroy(&attr);
	return rc;
}

struct timespec esc_monotonic_deadline(int64_t at_us)
{
	return (struct timespec){.tv_sec = (time_t)(at_us / 1000000),
				 .tv_nsec = (long)(at_us % 1000000) * 1000L};
}

void esc_clock_init_real(struct esc_clock *c)
{
	c->manual = false;
	atomic_store(&c->manual_now_ms, 0);
}

void esc_clock_init_manual(struct esc_clock *c, int64_t start_ms)
{
	c->manual = true;
	atomic_store(&c->manual_now_ms, start_ms);
}

int64_t esc_clock_now(const struct esc_clock *c)
{
	if (!c->manual)
		return esc_time_real_ms();
	return atomic_load(&((struct esc_clock *)c)->manual_now_ms);
}

int64_t esc_clock_advance(struct esc_clock *c, int64_t ms)
{
	if (!c->manual || ms < 0)
		return -1;
	return atomic_fetch_add(&c->manual_now_ms, ms) + ms;
}

int64_t esc_clock_catch_up(struct esc_clock *c, int64_t at_ms)
{
	if (!c->manual)
		return -1;
	int64_t now = atomic_load(&c->manual_now_ms);
	while (now < at_ms && !atomic_compare_exchange_weak(&c->manual_now_ms, &now, at_ms))
		;
	return now < at_ms ? at_ms : now;
}

void esc_backoff_sleep(int attempt)
{
	uint32_t cap_us = 1000u << (attempt < 0 ? 0 : attempt < 6 ? attempt : 6);
	uint32_t r = 0;
	if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
		r = (uint32_t)attempt * 2654435761u;
	struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(r % cap_us + 1) * 1000L};
	nanosleep(&ts, NULL);
}
