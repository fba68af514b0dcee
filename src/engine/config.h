/* config.h - reading the policy from a configuration file. */
#ifndef ESC_CONFIG_H
#define ESC_CONFIG_H

#include <stddef.h>

#include "core/policy.h"

/* Read the file at path (at most 1 MiB) and apply it over *p with
 * esc_policy_parse, then validate. Returns 0, or ESC_EIO / ESC_EINVAL with
 * "PATH: ..." in err. */
int esc_config_load(struct esc_policy *p, const char *path, char *err, size_t err_size);

#endif
