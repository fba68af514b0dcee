/* strbuf.c - bounded growable strings. */
#include "util/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

void esc_strbuf_init(struct esc_strbuf *sb, size_t max)
{
	sb->buf = NULL;
	sb->len = 0;
	sb->alloc = 0;
	sb->max = max;
}

void esc_strbuf_release(struct esc_strbuf *sb)
{
	free(sb->buf);
	esc_strbuf_init(sb, sb->max);
}

static int grow(struct esc_strbuf *sb, size_t extra)
{
	if (extra > sb->max - sb->len)
		return ESC_EINVAL;
	size_t need = sb->len + extra + 1;
	if (need <= sb->alloc)
		return 0;
	size_t alloc = sb->alloc ? sb->alloc : 64;
	while (alloc < need)
		alloc *= 2;
	char *p = realloc(sb->buf, alloc);
	if (!p)
		return ESC_ENOMEM;
	sb->buf = p;
	sb->alloc = alloc;
	return 0;
}

int esc_strbuf_add(struct esc_strbuf *sb, const char *data, size_t len)
{
	int rc = grow(sb, len);
	if (rc)
		return rc;
	memcpy(sb->buf + sb->len, data, len);
	sb->len += len;
	sb->buf[sb->len] = '\0';
	return 0;
}

int esc_strbuf_adds(struct esc_strbuf *sb, const char *s)
{
	return esc_strbuf_add(sb, s, strlen(s));
}

int esc_strbuf_addf(struct esc_strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return ESC_EINVAL;
	int rc = grow(sb, (size_t)n);
	if (rc)
		return rc;
	va_start(ap, fmt);
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
	return 0;
}

int esc_strbuf_add_json(struct esc_strbuf *sb, const char *s)
{
	size_t start = sb->len;
	int rc = esc_strbuf_add(sb, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; !rc && *p; p++) {
		if (*p == '"' || *p == '\\') {
			char e[2] = {'\\', (char)*p};
			rc = esc_strbuf_add(sb, e, 2);
		} else if (*p == '\n' || *p == '\t' || *p == '\r') {
			/* Two bytes, so escaping at most doubles a text. */
			char e[2] = {'\\', *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r'};
			rc = esc_strbuf_add(sb, e, 2);
		} else if (*p < 0x20) {
			rc = esc_strbuf_addf(sb, "\\u%04x", *p);
		} else {
			rc = esc_strbuf_add(sb, (const char *)p, 1);
		}
	}
	if (!rc)
		rc = esc_strbuf_add(sb, "\"", 1);
	if (rc && sb->buf) {
		sb->len = start;
		sb->buf[start] = '\0';
	}
	return rc;
}

const char *esc_strbuf_str(const struct esc_strbuf *sb)
{
	return sb->buf ? sb->buf : "";
}
