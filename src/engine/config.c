/* config.c - the configuration file: read it, hand its text to the core. */
#include "engine/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

#define CONFIG_BYTES_MAX (1024 * 1024)

int esc_config_load(struct esc_policy *p, const char *path, char *err, size_t err_size)
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
