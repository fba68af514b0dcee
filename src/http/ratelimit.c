/* ratelimit.c - fixed windows in an open-addressed table. */
#include "http/ratelimit.h"

#include <stdio.h>
#include <string.h>

#include "util/error.h"

#define PROBES 8

void esc_ratelimit_init(struct esc_ratelimit *rl, int max, int64_t window_ms)
{
	memset(rl->slots, 0, sizeof rl->slots);
	pthread_mutex_init(&rl->mu, NULL);
	rl->max = max;
	rl->window_ms = window_ms;
}

void esc_ratelimit_release(struct esc_ratelimit *rl)
{
	pthread_mutex_destroy(&rl->mu);
}

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

int esc_ratelimit_hit(struct esc_ratelimit *rl, const char *key, int64_t now_ms,
		      int64_t *retry_after_ms)
{
	char k[ESC_RATELIMIT_KEY_MAX];
	struct esc_rate_slot *slot = NULL, *oldest = NULL;
	int rc = 0;
	snprintf(k, sizeof k, "%s", key);
	uint64_t h = hash(k);
	pthread_mutex_lock(&rl->mu);
	for (int i = 0; i < PROBES && !slot; i++) {
		struct esc_rate_slot *s = &rl->slots[(h + (uint64_t)i) % ESC_RATELIMIT_SLOTS];
		if (!strcmp(s->key, k))
			slot = s;
		else if (!oldest || s->window_start_ms < oldest->window_start_ms)
			oldest = s;
	}
	if (!slot) {
		slot = oldest;
		snprintf(slot->key, sizeof slot->key, "%s", k);
		slot->window_start_ms = now_ms;
		slot->count = 0;
	}
	if (now_ms - slot->window_start_ms >= rl->window_ms) {
		slot->window_start_ms = now_ms;
		slot->count = 0;
	}
	if (slot->count >= rl->max) {
		*retry_after_ms = slot->window_start_ms + rl->window_ms - now_ms;
		rc = ESC_ERATE;
	} else {
		slot->count++;
	}
	pthread_mutex_unlock(&rl->mu);
	return rc;
}
