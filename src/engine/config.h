/* config.h - reading the policy from a configuration file. */
#ifndef ESC_CONFIG_H
#define ESC_CONFIG_H

#include <stddef.h>

#include "core/policy.h"

/* Settings of another layer in the same file: each line whose key starts
 * with prefix ("http.") goes to set(), with the key after the prefix. */
struct esc_config_section {
	const char *prefix;
	int (*set)(void *arg, const char *key, const char *value, char *err, size_t err_size);
	void *arg;
};

/* Read the file at path (at most 1 MiB): the section's lines go to the
 * section (when not NULL), the others are applied over *p with
 * esc_policy_parse, then validated. Returns 0, or ESC_EIO / ESC_EINVAL
 * with "PATH: ..." in err; *p is unchanged on failure (the section may
 * have taken some lines). */
int esc_config_load(struct esc_policy *p, const char *path,
		    const struct esc_config_section *section, char *err, size_t err_size);

#endif
