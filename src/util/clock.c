/* clock.c - real and manual clocks. */
#include "util/clock.h"

#include <time.h>

int64_t esc_time_real_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
