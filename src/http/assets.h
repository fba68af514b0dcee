/* assets.h - the web interface's files, embedded in the binary at build
 * time (tools/embed.c, from web/). */
#ifndef ESC_HTTP_ASSETS_H
#define ESC_HTTP_ASSETS_H

#include <stddef.h>

struct esc_asset {
	const char *name; /* base name: "app.js" */
	const char *type; /* Content-Type */
	const unsigned char *data;
	size_t len;
};

extern const struct esc_asset esc_assets[];
extern const size_t esc_assets_count;

/* The file of that name, or NULL. */
const struct esc_asset *esc_asset_find(const char *name);

#endif
