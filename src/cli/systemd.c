/* systemd.c - escrowd serve's messages to systemd (systemd.h). */
#include "cli/systemd.h"

#include <systemd/sd-daemon.h>

#include "util/clock.h"

void esc_systemd_init(struct esc_systemd *s)
{
	uint64_t us = 0;
	s->watchdog_us = sd_watchdog_enabled(0, &us) > 0 ? us : 0;
	s->last_ping_us = esc_time_monotonic_us();
}

void esc_systemd_on_state(void *arg, enum esc_http_state state)
{
	struct esc_systemd *s = arg;
	switch (state) {
	case ESC_HTTP_READY:
		sd_notify(0, "READY=1\nSTATUS=serving");
		s->last_ping_us = esc_time_monotonic_us();
		break;
	case ESC_HTTP_ALIVE:
		/* A quarter of the interval: the loop turns every 100 ms
		 * or so, and a ping may then come up to a turn late. */
		if (s->watchdog_us &&
		    esc_time_monotonic_us() - s->last_ping_us >= (int64_t)(s->watchdog_us / 4)) {
			sd_notify(0, "WATCHDOG=1");
			s->last_ping_us = esc_time_monotonic_us();
		}
		break;
	case ESC_HTTP_STOPPING:
		sd_notify(0, "STOPPING=1\nSTATUS=finishing the requests in flight");
		break;
	}
}
