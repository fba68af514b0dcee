/* options.h - the configuration file's webhooks. keys.
 *
 *   webhooks.allow_private = false   true lets an endpoint's URL resolve
 *                                    to a loopback, private or link-local
 *                                    address (url.h lists them): for tests
 *                                    and receivers on the same network.
 *
 * Delivery (worker.h; docs/webhooks.md, "Delivery and retries"), each a
 * whole number:
 *
 *   webhooks.retry_first_seconds = 30      the first retry's delay, at most
 *   webhooks.retry_max_seconds = 21600     no delay longer (6 hours)
 *   webhooks.retry_for_hours = 72          retried this long, then failed
 *   webhooks.disable_after_hours = 72      an endpoint failing this long is
 *                                          disabled
 *   webhooks.retention_days = 30           events (and their deliveries)
 *                                          are purged after this long
 *   webhooks.connect_timeout_seconds = 5   a delivery's connection
 *   webhooks.request_timeout_seconds = 10  a delivery's whole request */
#ifndef ESC_WEBHOOK_OPTIONS_H
#define ESC_WEBHOOK_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct esc_webhook_options {
	bool allow_private;         /* false */
	int64_t retry_first_ms;     /* 30 s */
	int64_t retry_max_ms;       /* 6 h */
	int64_t retry_for_ms;       /* 72 h */
	int64_t disable_after_ms;   /* 72 h */
	int64_t retention_ms;       /* 30 days */
	int64_t connect_timeout_ms; /* 5 s */
	int64_t request_timeout_ms; /* 10 s */
};

void esc_webhook_options_default(struct esc_webhook_options *o);

/* One setting from the configuration file's webhooks. keys (the key
 * without its prefix), as listed above. ESC_EINVAL with why in err for an
 * unknown key or a bad value. */
int esc_webhook_option_set(struct esc_webhook_options *o, const char *key, const char *value,
			   char *err, size_t err_size);

#endif
