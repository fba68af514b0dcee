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

#include <stddef.h>

#include <jansson.h>

#define ESC_JSON_DEPTH_MAX 2048

/* j (an object or an array) as compact JSON text: malloc'd,
 * NUL-terminated, its length in *len when len is not NULL. NULL, as
 * json_dumps gives, for anything else, for text that is not UTF-8 and
 * when memory runs out. size_hint: the bytes to start with (0: a
 * default), grown as needed. */
char *esc_json_text(const json_t *j, size_t size_hint, size_t *len);

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
