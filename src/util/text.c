/* text.c - refusing the characters that disguise user-written text. */
#include "util/text.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/error.h"

/* The next code point of s (n bytes left), or -1 when the bytes are not
 * UTF-8 (overlong forms, surrogates and values above U+10FFFF too). */
static int32_t next_code_point(const unsigned char *s, size_t n, size_t *used)
{
	static const int32_t min_of[] = {0, 0, 0x80, 0x800, 0x10000};
	unsigned char b = s[0];
	size_t len = b < 0x80             ? 1
		     : (b & 0xe0) == 0xc0 ? 2
		     : (b & 0xf0) == 0xe0 ? 3
		     : (b & 0xf8) == 0xf0 ? 4
					  : 0;
	if (!len || len > n)
		return -1;
	int32_t cp = len == 1 ? b : b & (0x7f >> len);
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min_of[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*used = len;
	return cp;
}

static bool is_control(int32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

/* The embeddings and overrides (LRE, RLE, PDF, LRO, RLO): an override
 * lays a run of letters out backwards ("Trojan Source"). Prose needs only
 * the marks and the isolates, which Unicode recommends in their place. */
static bool is_bidi_override(int32_t cp)
{
	return cp >= 0x202a && cp <= 0x202e;
}

/* Unicode's Bidi_Control characters. */
static bool is_bidi_control(int32_t cp)
{
	return cp == 0x061c || cp == 0x200e || cp == 0x200f || is_bidi_override(cp) ||
	       (cp >= 0x2066 && cp <= 0x2069);
}

/* White space, and the characters that show nothing: a text of them only
 * shows as blank (a user named " " or U+200B). */
static bool is_invisible(int32_t cp)
{
	return (cp >= 0x09 && cp <= 0x0d) || cp == 0x20 || cp == 0x85 || cp == 0xa0 || cp == 0xad ||
	       cp == 0x34f || cp == 0x61c || cp == 0x115f || cp == 0x1160 || cp == 0x1680 ||
	       cp == 0x17b4 || cp == 0x17b5 || cp == 0x180e || (cp >= 0x2000 && cp <= 0x200f) ||
	       (cp >= 0x2028 && cp <= 0x202f) || (cp >= 0x205f && cp <= 0x206f) || cp == 0x3000 ||
	       cp == 0x3164 || (cp >= 0xfe00 && cp <= 0xfe0f) || cp == 0xfeff || cp == 0xffa0 ||
	       (cp >= 0xe0000 && cp <= 0xe0fff);
}

int esc_text_check(const char *s, size_t n, enum esc_text_kind kind, char *why, size_t why_size)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, used = 0;
	bool shown = false;
	while (i < n) {
		int32_t cp = next_code_point(p + i, n - i, &used);
		if (cp < 0) {
			esc_set_err(why, why_size, "bytes that are not UTF-8");
			return ESC_EINVAL;
		}
		bool line_break = cp == '\n' || cp == '\r' || cp == 0x2028 || cp == 0x2029;
		shown = shown || !is_invisible(cp);
		if (kind == ESC_TEXT_LINES && (cp == '\t' || line_break)) {
			i += used;
			continue;
		}
		if (line_break) {
			esc_set_err(why, why_size, "a line break (U+%04X): it is one line",
				    (unsigned)cp);
			return ESC_EINVAL;
		}
		if (is_control(cp)) {
			esc_set_err(why, why_size, "U+%04X, a control character", (unsigned)cp);
			return ESC_EINVAL;
		}
		if (kind == ESC_TEXT_LINE ? is_bidi_control(cp) : is_bidi_override(cp)) {
			esc_set_err(why, why_size,
				    "U+%04X, a bidirectional %s, which can make the text "
				    "look like other text",
				    (unsigned)cp, is_bidi_override(cp) ? "override" : "control");
			return ESC_EINVAL;
		}
		i += used;
	}
	if (n && !shown) {
		esc_set_err(why, why_size, "only white space or characters that show nothing");
		return ESC_EINVAL;
	}
	return 0;
}

/* The length of the valid UTF-8 character at s (Unicode's table 3-7: no
 * overlong forms, no surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_char(const unsigned char *s)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xBF;
	size_t n;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4;
	else
		return 0;
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xED)
		hi = 0x9F;
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xF4)
		hi = 0x8F;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return n;
}

void esc_utf8_mend(char *s)
{
	unsigned char *in = (unsigned char *)s, *out = in;
	while (*in) {
		size_t n = utf8_char(in);
		if (!n) {
			in++;
			continue;
		}
		memmove(out, in, n);
		out += n;
		in += n;
	}
	*out = '\0';
}

/* A store URL as it may be written to a terminal or a log: a
 * PostgreSQL password (postgresql://user:PASSWORD@host/db, ?password=
 * in its query, or password= in a libpq keyword string) replaced by ***.
 * Returns out, cut to size when it must be. */
const char *esc_db_shown(const char *db, char *out, size_t size)
{
	size_t n = 0;
	const char *p = db;
	const char *scheme = strstr(db, "://");
	const char *at = NULL;
	if (scheme) {
		/* The authority ends at the first '/', '?' or '#'; its user
		 * information, at its last '@'. */
		const char *auth = scheme + 3;
		size_t alen = strcspn(auth, "/?#");
		for (size_t i = 0; i < alen; i++)
			if (auth[i] == '@')
				at = auth + i;
		if (at) {
			const char *colon = memchr(auth, ':', (size_t)(at - auth));
			if (colon) {
				n = (size_t)(colon + 1 - db);
				if (n >= size)
					n = size - 1;
				memcpy(out, db, n);
				n += (size_t)snprintf(out + n, size - n, "***");
				if (n >= size)
					n = size - 1;
				p = at;
			}
		}
	}
	/* password=VALUE after the start, a blank, '?' or '&': the value
	 * up to the next '&' (a URL's query) or blank (a keyword string; a
	 * quoted value up to its closing quote). */
	while (*p && n + 1 < size) {
		bool start =
			p == db || p[-1] == ' ' || p[-1] == '\t' || p[-1] == '?' || p[-1] == '&';
		if (start && !strncasecmp(p, "password", 8)) {
			const char *v = p + 8;
			while (*v == ' ')
				v++;
			if (*v == '=') {
				v++;
				while (*v == ' ' && !scheme)
					v++;
				size_t keep = (size_t)(v - p);
				if (n + keep + 4 >= size)
					break;
				memcpy(out + n, p, keep);
				n += keep;
				memcpy(out + n, "***", 3);
				n += 3;
				if (*v == '\'' && !scheme) {
					for (v++; *v && *v != '\''; v++)
						if (*v == '\\' && v[1])
							v++;
					if (*v)
						v++;
				} else {
					v += strcspn(v, scheme ? "&#" : " \t");
				}
				p = v;
				continue;
			}
		}
		out[n++] = *p++;
	}
	out[n] = '\0';
	return out;
}
