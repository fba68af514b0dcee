/* text.h - what user-written text may hold (issue 12 defect 7).
 *
 * Text people write for others to read (a name, an item's title, a
 * message) is shown by every interface as it came, so it must not hold
 * characters that change how the text around it looks: control
 * characters, and in one-line text the bidirectional controls, with
 * which "Shop\u202Egpj.exe" shows as "Shopexe.jpg" and one shop or order
 * can pass for another. Letters of every script are welcome. */
#ifndef ESC_UTIL_TEXT_H
#define ESC_UTIL_TEXT_H

#include <stddef.h>

enum esc_text_kind {
	/* One line: a name, a title, a carrier, a tracking number, an
	 * email. No control characters (C0, DEL, C1), no line or paragraph
	 * separators (U+2028, U+2029), no bidirectional controls (U+061C,
	 * U+200E, U+200F, U+202A to U+202E, U+2066 to U+2069). */
	ESC_TEXT_LINE,
	/* Lines: a message, a comment, a description. Tab, line feed and
	 * carriage return are allowed; other control characters are not.
	 * Bidirectional marks and isolates are allowed: right-to-left prose
	 * needs them; the embeddings and overrides (U+202A to U+202E) are
	 * not. */
	ESC_TEXT_LINES,
};

/* 0 when s, n bytes of UTF-8, holds only what kind allows; ESC_EINVAL
 * otherwise (also for bytes that are not UTF-8, and for a text of white
 * space and invisible characters only, which shows as blank), with what
 * was found in why ("U+202E, a bidirectional override"; why may be
 * NULL). An empty text passes: whether a field may be empty is its own
 * rule. */
int esc_text_check(const char *s, size_t n, enum esc_text_kind kind, char *why, size_t why_size);

/* Drop from s, in place, every byte that is not part of a whole, valid
 * UTF-8 character: a text cut at a byte count ("%.60s", a fixed buffer)
 * may end inside a character, and JSON must hold UTF-8 only. */
void esc_utf8_mend(char *s);

/* A store URL as it may be written to a terminal or a log: a
 * PostgreSQL password (postgresql://user:PASSWORD@host/db, ?password=
 * in its query, or password= in a libpq keyword string) replaced by ***.
 * Returns out, cut to size when it must be. ESC_DB_SHOWN_MAX is room
 * enough for any URL escrowd takes. */
#define ESC_DB_SHOWN_MAX 1024
const char *esc_db_shown(const char *db, char *out, size_t size);

#endif
