/* options.c - the configuration file's webhooks. keys; see options.h. */
#include "webhook/options.h"

#include <string.h>

#include "util/error.h"

void esc_webhook_options_default(struct esc_webhook_options *o)
{
	memset(o, 0, sizeof *o);
}

int esc_webhook_option_set(struct esc_webhook_options *o, const char *key, const char *value,
			   char *err, size_t err_size)
{
	if (strcmp(key, "allow_private")) {
		esc_set_err(err, err_size, "unknown key 'webhooks.%s'", key);
		return ESC_EINVAL;
	}
	if (!strcmp(value, "true")) {
		o->allow_private = true;
	} else if (!strcmp(value, "false")) {
		o->allow_private = false;
	} else {
		esc_set_err(err, err_size, "webhooks.allow_private: '%s' is not true or false",
			    value);
		return ESC_EINVAL;
	}
	return 0;
}
