/* config.h - the configuration: its keys, and reading them from a file,
 * the environment and the command line (README, "Configuration"). */
#ifndef ESC_CONFIG_H
#define ESC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "core/policy.h"

/* One configuration key: its name (a pattern's variable part in capitals:
 * "reason.CODE" stands for reason.no_longer_needed and every other code),
 * its default as a file writes it (NULL when it has none: unset, or a
 * pattern), and what it does, in one line. */
struct esc_config_key {
	const char *name;
	const char *value;
	const char *meaning;
};

/* Every key the configuration takes, in the order `escrowd config keys`
 * prints them and the environment's variables are applied. A key not here
 * is refused wherever it comes from: the file, --set or a flag. */
extern const struct esc_config_key esc_config_keys[];
extern const size_t esc_config_keys_count;

/* The table's entry for key (a pattern's for a key it matches, as
 * carrier.NAME for carrier.ups), or NULL. */
const struct esc_config_key *esc_config_key_find(const char *key);

/* Whether an entry is a pattern (reason.CODE, carrier.NAME): those have no
 * environment variable. */
bool esc_config_key_is_pattern(const struct esc_config_key *k);

/* The environment variable of a key that is not a pattern: ESCROWD_ and
 * its name upper-cased, dots and dashes to underscores
 * (ESCROWD_HTTP_THREADS). Returns 0, or ESC_EINVAL for a pattern or when
 * out (size bytes) is too small. */
int esc_config_env_name(const struct esc_config_key *k, char *out, size_t size);

/* Settings of another layer: each key that starts with prefix ("http."),
 * or is one of keys (a NULL-terminated list), goes to set(): with the key
 * after the prefix, or the whole key. The policy takes the rest. */
struct esc_config_section {
	const char *prefix;
	const char *const *keys;
	int (*set)(void *arg, const char *key, const char *value, char *err, size_t err_size);
	void *arg;
};

/* One key's value, from wherever it came: refused unless the table has the
 * key; given to its section (sections: an array ended by one whose set is
 * NULL; or NULL), or else applied over *p (esc_policy_set), not validated.
 * *policy (may be NULL) says whether it went to the policy. Returns 0, or
 * ESC_EINVAL / ESC_ENOMEM with "KEY: ..." in err. */
int esc_config_set(struct esc_policy *p, const struct esc_config_section *sections, const char *key,
		   const char *value, bool *policy, char *err, size_t err_size);

/* Key back to its default over whatever gave it a value before (--set
 * KEY=, an empty value): the table's default, given as esc_config_set
 * gives a value; for a key without one, the empty value, which its
 * section takes as unset (db, operator_key, http.tls_cert,
 * http.admin_listen). Refused, ESC_EINVAL with "KEY: ..." in err, for an
 * unknown key and for the policy's keys without a default: reasons,
 * carriers and the keys of the operator's naming (reason.CODE,
 * carrier.NAME), which change tables line by line. *policy as
 * esc_config_set's. */
int esc_config_clear(struct esc_policy *p, const struct esc_config_section *sections,
		     const char *key, bool *policy, char *err, size_t err_size);

/* Read the file at path (at most 1 MiB): each line as esc_config_set
 * would take it, the policy's lines over *p, not validated. Returns 0, or
 * ESC_EIO / ESC_EINVAL with "PATH: ..." (and "line N: ") in err; *p is
 * unchanged on failure (the sections may have taken some lines). */
int esc_config_read(struct esc_policy *p, const char *path,
		    const struct esc_config_section *sections, char *err, size_t err_size);

/* esc_config_read, then esc_policy_validate: a file alone. */
int esc_config_load(struct esc_policy *p, const char *path,
		    const struct esc_config_section *sections, char *err, size_t err_size);

#endif
