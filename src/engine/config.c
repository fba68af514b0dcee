/* config.c - the configuration file: read it, hand its text to the core. */
#include "engine/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

#define CONFIG_BYTES_MAX (1024 * 1024)

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\r')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

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

/* Hand the sections' lines to them and blank those lines in text, so that
 * the policy parser sees the rest with its line numbers unchanged. */
static int take_sections(char *text, const struct esc_config_section *sections, char *why,
			 size_t why_size)
{
	int line = 0;
	for (char *s = text; *s;) {
		char *nl = strchr(s, '\n');
		size_t n = nl ? (size_t)(nl - s) : strlen(s);
		char buf[512];
		line++;
		if (n < sizeof buf) {
			memcpy(buf, s, n);
			buf[n] = '\0';
			char *hash = strchr(buf, '#');
			if (hash)
				*hash = '\0';
			char *eq = strchr(buf, '=');
			const char *given = NULL;
			const struct esc_config_section *c = NULL;
			if (eq) {
				*eq = '\0';
				c = section_of(sections, trim(buf), &given);
			}
			if (c) {
				char why_line[200] = "";
				int rc = c->set(c->arg, given, trim(eq + 1), why_line,
						sizeof why_line);
				if (rc) {
					snprintf(why, why_size, "line %d: %s", line, why_line);
					return rc;
				}
				memset(s, ' ', n);
			}
		}
		s += n;
		if (*s == '\n')
			s++;
	}
	return 0;
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
	struct esc_policy next = *p;
	rc = sections ? take_sections(text, sections, why, sizeof why) : 0;
	if (!rc)
		rc = esc_policy_parse(&next, text, why, sizeof why);
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
