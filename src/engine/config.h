/* config.h - reading the policy from a configuration file. */
#ifndef ESC_CONFIG_H
#define ESC_CONFIG_H

#include <stddef.h>

#include "core/policy.h"

/* Settings of another layer in the same file: each line whose key starts
 * with prefix ("http."), or is one of keys (a NULL-terminated list), goes
 * to set(): with the key after the prefix, or the whole key. */
struct esc_config_section {
	const char *prefix;
	const char *const *keys;
	int (*set)(void *arg, const char *key, const char *value, char *err, size_t err_size);
	void *arg;
};

/* Read the file at path (at most 1 MiB): the lines of the sections (an
 * array ended by one whose set is NULL; or NULL) go to them, the others
 * are applied over *p with esc_policy_parse, then validated. Returns 0, or
 * ESC_EIO / ESC_EINVAL with "PATH: ..." in err; *p is unchanged on failure
 * (the sections may have taken some lines). */
int esc_config_load(struct esc_policy *p, const char *path,
		    const struct esc_config_section *sections, char *err, size_t err_size);

#endif
