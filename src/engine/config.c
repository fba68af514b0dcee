/* config.c - the configuration file: read it, hand its text to the core. */
#include "engine/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

#define CONFIG_BYTES_MAX (1024 * 1024)

/* The section a key belongs to, with the key it is given, or NULL. */
static const struct esc_config_section *section_of(const struct esc_config_section *sections,
						   const char *key, const char **given)
{
	for (const struct esc_config_section *c = sections; c && c->set; c++) {
		if (c->prefix && !strncmp(key, c->prefix, strlen(c->prefix))) {
			*given = key + strlen(c->prefix);
			return c;
		}
		for (const char *const *k = c->keys; k && *k; k++) {
			if (!strcmp(key, *k)) {
				*given = key;
				return c;
			}
		}
	}
	return NULL;
}

/* A line for one of the sections, or ESC_ENOTFOUND for the policy's. */
static int set_in_section(void *arg, const char *key, const char *value, char *why, size_t why_size)
{
	const char *given = NULL;
	const struct esc_config_section *c = section_of(arg, key, &given);
	return c ? c->set(c->arg, given, value, why, why_size) : ESC_ENOTFOUND;
}

int esc_config_load(struct esc_policy *p, const char *path,
		    const struct esc_config_section *sections, char *err, size_t err_size)
{
	char *text = NULL, why[200] = "";
	size_t len = 0;
	int rc = 0;
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		rc = ESC_EIO;
		goto out;
	}
	text = malloc(CONFIG_BYTES_MAX + 1);
	if (!text) {
		rc = ESC_ENOMEM;
		goto out;
	}
	len = fread(text, 1, CONFIG_BYTES_MAX + 1, f);
	if (ferror(f) || len > CONFIG_BYTES_MAX) {
		snprintf(err, err_size, "%s: %s", path,
			 ferror(f) ? "cannot read it" : "larger than 1 MiB");
		rc = ESC_EIO;
		goto out;
	}
	text[len] = '\0';
	/* The parser reads a C string: a NUL would end the file there, and
	 * whatever follows it would be ignored without a word. */
	const char *nul = memchr(text, '\0', len);
	if (nul) {
		int line = 1;
		for (const char *c = text; c < nul; c++)
			line += *c == '\n';
		snprintf(err, err_size, "%s: line %d: a NUL byte: a configuration file is text", path, line);
		rc = ESC_EINVAL;
		goto out;
	}
	struct esc_policy next = *p;
	const struct esc_policy_other other = {.set = set_in_section, .arg = (void *)sections};
	rc = esc_policy_parse_with(&next, text, sections ? &other : NULL, why, sizeof why);
	if (!rc)
		rc = esc_policy_validate(&next, why, sizeof why);
	if (rc) {
		snprintf(err, err_size, "%s: %s", path, why);
		goto out;
	}
	*p = next;
out:
	if (f)
		fclose(f);
	free(text);
	return rc;
}
