/* ratelimit.h - fixed-window counters by key (an account, an address), for
 * sign-in attempts. The counts live in the store (rate_hit), so that every
 * process serving one database counts the same attempts. */
#ifndef ESC_RATELIMIT_H
#define ESC_RATELIMIT_H

#include <stdint.h>

#include "engine/engine.h"

#define ESC_RATELIMIT_KEY_MAX 300

struct esc_ratelimit {
	const char *name; /* the keys' prefix in the store: "signin.address" */
	int64_t window_ms;
	int max; /* attempts allowed per window */
};

/* Count an attempt for key at now_ms. Returns 0 when it is allowed,
 * ESC_ERATE with *retry_after_ms set when the window's attempts are used,
 * or the store's failure. Windows start at multiples of window_ms. */
int esc_ratelimit_hit(struct esc_engine *e, const struct esc_ratelimit *rl, const char *key,
		      int64_t now_ms, int64_t *retry_after_ms);

#endif
