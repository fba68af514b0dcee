/* ratelimit.h - fixed-window counters by key (an account, an address), for
 * sign-in attempts. In memory, bounded: a full table forgets the oldest
 * windows first. */
#ifndef ESC_RATELIMIT_H
#define ESC_RATELIMIT_H

#include <pthread.h>
#include <stdint.h>

#define ESC_RATELIMIT_SLOTS   4096
#define ESC_RATELIMIT_KEY_MAX 128

struct esc_ratelimit {
	pthread_mutex_t mu;
	int64_t window_ms;
	int max; /* attempts allowed per window */
	struct esc_rate_slot {
		char key[ESC_RATELIMIT_KEY_MAX];
		int64_t window_start_ms;
		int count;
	} slots[ESC_RATELIMIT_SLOTS];
};

void esc_ratelimit_init(struct esc_ratelimit *rl, int max, int64_t window_ms);
void esc_ratelimit_release(struct esc_ratelimit *rl);

/* Count an attempt for key at now_ms. Returns 0 when it is allowed, or
 * ESC_ERATE with *retry_after_ms set when the window's attempts are used. */
int esc_ratelimit_hit(struct esc_ratelimit *rl, const char *key, int64_t now_ms,
		      int64_t *retry_after_ms);

#endif
