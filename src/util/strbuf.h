/* strbuf.h - a growable string with a hard limit (Git's strbuf, curl's
 * dynbuf). Appends past the limit fail with ESC_EINVAL and leave the
 * buffer as it was; allocation failures give ESC_ENOMEM. */
#ifndef ESC_STRBUF_H
#define ESC_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

struct esc_strbuf {
	char *buf; /* always NUL-terminated once anything is added */
	size_t len;
	size_t alloc;
	size_t max; /* most bytes it may hold, not counting the NUL */
};

void esc_strbuf_init(struct esc_strbuf *sb, size_t max);
void esc_strbuf_release(struct esc_strbuf *sb);
int esc_strbuf_add(struct esc_strbuf *sb, const char *data, size_t len);
int esc_strbuf_adds(struct esc_strbuf *sb, const char *s);
int esc_strbuf_addf(struct esc_strbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Append s as a JSON string literal, quotes included. */
int esc_strbuf_add_json(struct esc_strbuf *sb, const char *s);
/* The contents ("" when empty); owned by sb. */
const char *esc_strbuf_str(const struct esc_strbuf *sb);

#endif
