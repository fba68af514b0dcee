/* options.h - the configuration file's webhooks. keys.
 *
 *   webhooks.allow_private = false   true lets an endpoint's URL resolve
 *                                    to a loopback, private or link-local
 *                                    address (url.h lists them): for tests
 *                                    and receivers on the same network.
 *
 * The delivery part (retries, retention) adds its keys here. */
#ifndef ESC_WEBHOOK_OPTIONS_H
#define ESC_WEBHOOK_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

struct esc_webhook_options {
	bool allow_private; /* false */
};

void esc_webhook_options_default(struct esc_webhook_options *o);

/* One setting from the configuration file's webhooks. keys (the key
 * without its prefix): allow_private. ESC_EINVAL with why in err for an
 * unknown key or a bad value. */
int esc_webhook_option_set(struct esc_webhook_options *o, const char *key, const char *value,
			   char *err, size_t err_size);

#endif
