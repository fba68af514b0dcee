/* options.c - the configuration file's webhooks. keys; see options.h. */
#include "webhook/options.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/policy.h"
#include "util/error.h"

void esc_webhook_options_default(struct esc_webhook_options *o)
{
	memset(o, 0, sizeof *o);
	o->retry_first_ms = 30 * 1000;
	o->retry_max_ms = 6 * ESC_MS_PER_HOUR;
	o->retry_for_ms = 72 * ESC_MS_PER_HOUR;
	o->disable_after_ms = 72 * ESC_MS_PER_HOUR;
	o->retention_ms = 30 * 24 * ESC_MS_PER_HOUR;
	o->connect_timeout_ms = 5 * 1000;
	o->request_timeout_ms = 10 * 1000;
}

/* The whole-number keys: each one's unit in ms and its bounds. */
static const struct {
	const char *key;
	size_t offset;
	int64_t unit_ms, min, max;
} numbers[] = {
	{"retry_first_seconds", offsetof(struct esc_webhook_options, retry_first_ms), 1000, 1,
	 86400},
	{"retry_max_seconds", offsetof(struct esc_webhook_options, retry_max_ms), 1000, 1,
	 7 * 86400},
	{"retry_for_hours", offsetof(struct esc_webhook_options, retry_for_ms), ESC_MS_PER_HOUR, 0,
	 24 * 365},
	{"disable_after_hours", offsetof(struct esc_webhook_options, disable_after_ms),
	 ESC_MS_PER_HOUR, 1, 24 * 365},
	{"retention_days", offsetof(struct esc_webhook_options, retention_ms), 24 * ESC_MS_PER_HOUR,
	 1, 3650},
	{"connect_timeout_seconds", offsetof(struct esc_webhook_options, connect_timeout_ms), 1000,
	 1, 600},
	{"request_timeout_seconds", offsetof(struct esc_webhook_options, request_timeout_ms), 1000,
	 1, 600},
};

static int set_number(struct esc_webhook_options *o, size_t i, const char *value, char *err,
		      size_t err_size)
{
	char *end = NULL;
	long long v = 0;

	errno = 0;
	v = strtoll(value, &end, 10);
	if (end == value || *end || errno || *value == '+' || *value == '-' || v < numbers[i].min ||
	    v > numbers[i].max) {
		esc_set_err(err, err_size,
			    "webhooks.%s: '%s' is not a whole number from %lld to %lld",
			    numbers[i].key, value, (long long)numbers[i].min,
			    (long long)numbers[i].max);
		return ESC_EINVAL;
	}
	*(int64_t *)((char *)o + numbers[i].offset) = (int64_t)v * numbers[i].unit_ms;
	return 0;
}

int esc_webhook_option_set(struct esc_webhook_options *o, const char *key, const char *value,
			   char *err, size_t err_size)
{
	for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++)
		if (!strcmp(key, numbers[i].key))
			return set_number(o, i, value, err, err_size);
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
