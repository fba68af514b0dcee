/* systemd.h - escrowd serve under systemd (a Type=notify unit).
 *
 * With $NOTIFY_SOCKET set (systemd sets it for Type=notify), the daemon
 * says READY=1 once its socket listens, STOPPING=1 when asked to stop,
 * and, when the unit has WatchdogSec= ($WATCHDOG_USEC), WATCHDOG=1 from
 * its serving loop at a quarter of that interval: a loop that hangs stops
 * the pings and systemd restarts the daemon. Without $NOTIFY_SOCKET each
 * is a no-op. libsystemd's sd_notify does the sending. */
#ifndef ESC_CLI_SYSTEMD_H
#define ESC_CLI_SYSTEMD_H

#include <stdint.h>

#include "http/server.h"

struct esc_systemd {
	uint64_t watchdog_us; /* 0: no watchdog */
	int64_t last_ping_us; /* monotonic */
};

/* Reads $WATCHDOG_USEC (and $WATCHDOG_PID) once, at start. */
void esc_systemd_init(struct esc_systemd *s);

/* esc_http_options.on_state, with the struct esc_systemd as its arg. */
void esc_systemd_on_state(void *arg, enum esc_http_state state);

#endif
