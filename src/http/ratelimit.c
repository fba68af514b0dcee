/* ratelimit.c - fixed windows, counted in the store. */
#include "http/ratelimit.h"

#include <stdio.h>

#include "util/error.h"

struct hit {
	const char *key;
	int64_t window_start_ms, count;
};

static int hit_tx(struct esc_store *s, void *arg)
{
	struct hit *h = arg;
	int rc;
	ESC_STORE(rc, s, rate_hit, h->key, h->window_start_ms, 1, &h->count);
	return rc;
}

int esc_ratelimit_hit(struct esc_engine *e, const struct esc_ratelimit *rl, const char *key,
		      int64_t now_ms, int64_t *retry_after_ms)
{
	char k[ESC_RATELIMIT_KEY_MAX];
	struct hit h = {.key = k};
	snprintf(k, sizeof k, "%s:%s", rl->name, key);
	h.window_start_ms = now_ms - now_ms % rl->window_ms;
	int rc = esc_engine_transact(e, hit_tx, &h);
	if (rc)
		return rc;
	if (h.count > rl->max) {
		*retry_after_ms = h.window_start_ms + rl->window_ms - now_ms;
		return ESC_ERATE;
	}
	return 0;
}
