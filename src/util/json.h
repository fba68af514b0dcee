/* json.h - an answer's JSON text, made quickly (issue 15).
 *
 * esc_json_text writes exactly the bytes of jansson's
 * json_dumps(j, JSON_COMPACT) (test_json compares them), without what
 * makes json_dumps slow for a 2 KB answer: a loop check that prints
 * each object's address and keeps it in a hash table, a callback per
 * piece of text, a buffer grown from 16 bytes, and a copy at the end.
 * The values an answer is built from are trees (no object holds
 * itself); one nested deeper than ESC_JSON_DEPTH_MAX is refused, as a
 * loop would be. */
#ifndef ESC_UTIL_JSON_H
#define ESC_UTIL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define ESC_JSON_DEPTH_MAX 2048

/* j (an object or an array) as compact JSON text: malloc'd,
 * NUL-terminated, its length in *len when len is not NULL. NULL, as
 * json_dumps gives, for anything else, for text that is not UTF-8 and
 * when memory runs out. size_hint: the bytes to start with (0: a
 * default), grown as needed. */
char *esc_json_text(const json_t *j, size_t size_hint, size_t *len);

/* A JSON text written piece by piece, for an answer made without a tree
 * (issue 15: GET /v1/orders/{id}): each piece as esc_json_text writes
 * its value, so that the text is the same bytes as the tree's. The
 * caller writes the punctuation and the keys (esc_json_out_raw). A
 * string that is not UTF-8, a NULL value and a failed allocation mark
 * it failed; later pieces then write nothing. */
struct esc_json_out {
	char *buf;
	size_t len, alloc;
	bool failed;
};

/* 0, or -1 (failed) when the first size_hint bytes (0: a default) cannot
 * be had. */
int esc_json_out_init(struct esc_json_out *o, size_t size_hint);
/* Free what o holds (it is left failed). */
void esc_json_out_release(struct esc_json_out *o);
/* n bytes as they are: punctuation, "key": and literals (null, true). */
void esc_json_out_raw(struct esc_json_out *o, const char *text, size_t n);
/* A string literal's bytes ("" lit "" refuses anything else, whose
 * sizeof would not be its length). */
#define ESC_JSON_OUT_LIT(o, lit) esc_json_out_raw((o), "" lit "", sizeof(lit) - 1)
/* s as a JSON string, quoted and escaped as jansson dumps it. */
void esc_json_out_string(struct esc_json_out *o, const char *s);
void esc_json_out_int(struct esc_json_out *o, int64_t v);
/* j (any value; NULL fails o) as esc_json_text writes it. */
void esc_json_out_value(struct esc_json_out *o, const json_t *j);
/* The text (malloc'd, NUL-terminated, its length in *len when len is
 * not NULL), or NULL when o failed; o is released either way. */
char *esc_json_out_finish(struct esc_json_out *o, size_t *len);

/* A request body, read quickly (issue 15): a JSON object, as
 * json_loadb(text, len, JSON_REJECT_DUPLICATES) reads it, the same tree
 * with its keys in the same order (test_json compares them). Only what
 * is common is read here: strings without escapes, integers of at most
 * 18 digits, true, false and null, nested at most
 * ESC_JSON_READ_DEPTH_MAX deep. NULL for anything else, valid or not,
 * and when memory runs out: the caller then asks json_loadb, which reads
 * it or says what is wrong, in its own words. */
#define ESC_JSON_READ_DEPTH_MAX 32
json_t *esc_json_parse(const char *text, size_t len);

/* Linking json.o also sets jansson's allocator for the whole process,
 * before main (json_set_alloc_funcs: nothing else may call it): each
 * thread keeps up to 64 KiB of the small blocks jansson frees and hands
 * them back to jansson first (at most 16 MiB with http.threads at 256),
 * freed when the thread ends. They are malloc's blocks: a text jansson
 * made may be freed with free(). Not in a sanitizer's build, where every
 * block goes back to free() so that a use after the last json_decref is
 * seen. */

/* The calling thread keeps up to bytes of them instead (at least 512):
 * the engine's writer, which makes the trees of the commands' answers
 * and gets them back to free (esc_engine_json_release). */
void esc_json_cache_limit(size_t bytes);

#endif
