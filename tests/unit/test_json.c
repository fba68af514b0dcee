/* test_json.c - esc_json_text (util/json.h) writes the bytes of
 * json_dumps(j, JSON_COMPACT): the answers' text did not change when the
 * daemon stopped calling json_dumps (issue 15). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "util/json.h"

/* j's text both ways, the same bytes (or both refused). */
static void assert_same(const json_t *j)
{
	char *want = json_dumps(j, JSON_COMPACT);
	size_t len = 0;
	char *got = esc_json_text(j, 16, &len);
	if (!want) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, want);
	assert_int_equal(len, strlen(want));
	free(got);
	free(want);
}

static void test_scalars_and_containers(void **state)
{
	(void)state;
	json_t *j = json_pack(
		"{s:s, s:I, s:I, s:I, s:i, s:b, s:b, s:n, s:f, s:f, s:f, s:f, s:[], s:{}, "
		"s:[i, s, [], {}, [n]], s:{s:{s:{}}}}",
		"id", "ord_1", "big", (json_int_t)INT64_MAX, "small", (json_int_t)INT64_MIN, "zero",
		(json_int_t)0, "neg", -42, "t", 1, "f", 0, "nothing", "real", 0.1, "whole", 3.0,
		"huge", 1e300, "tiny", -2.5e-8, "empty_a", "empty_o", "mixed", 1, "x", "deep", "a",
		"b");
	assert_same(j);
	json_t *arr = json_array();
	assert_same(arr);
	json_decref(arr);
	json_decref(j);
}

static void test_strings_escaped_as_jansson_does(void **state)
{
	(void)state;
	const char *texts[] = {
		"",
		"plain",
		"quote \" and backslash \\ and slash /",
		"\b\f\n\r\t",
		"\x01\x02\x1f\x7f",
		"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", /* é, €, an emoji */
		"\xe2\x80\xa8\xe2\x80\xa9",                  /* U+2028, U+2029 */
		"<script>alert('x')</script> & </",
		"\xc3\xbe\xc3\xa6r \xc3\xb0\xc3\xb3 \xc3\x9e\xc3\x86", /* Icelandic */
	};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		json_t *j = json_pack("{s:s, s:[s]}", texts[i], texts[i], "in", texts[i]);
		assert_non_null(j);
		assert_same(j);
		json_decref(j);
	}
	/* An embedded NUL, in a value and in a key. */
	json_t *j = json_object();
	json_object_set_new(j, "nul", json_stringn("a\0b", 3));
	json_object_setn_new(j, "k\0ey", 4, json_true());
	assert_same(j);
	json_decref(j);
}

static void test_not_utf8_is_refused_as_jansson_does(void **state)
{
	(void)state;
	const char *bad[] = {
		"\xc0\xaf",         /* overlong '/' */
		"\xe0\x80\xaf",     /* overlong, three bytes */
		"\xed\xa0\x80",     /* a surrogate */
		"\xf4\x90\x80\x80", /* past U+10FFFF */
		"\xf5\x80\x80\x80", "\x80", "ab\xc3", "\xe2\x82", "\xff",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		json_t *j = json_object();
		json_object_set_new(j, "v", json_string_nocheck(bad[i]));
		assert_null(json_dumps(j, JSON_COMPACT));
		assert_same(j);
		json_decref(j);
	}
	/* Not a container: refused, as json_dumps refuses it. */
	json_t *s = json_string("x");
	assert_null(esc_json_text(s, 0, NULL));
	json_decref(s);
}

/* A random value of depth at most d, from seed. */
static json_t *random_value(unsigned *seed, int d)
{
	static const char *const pieces[] = {
		"a", "\xc3\xa9",         "\"", "\\", "\n", "\x01", "\xe2\x82\xac", " ",
		"/", "\xf0\x9f\x98\x80", "Z",  "\t"};
	int kind = rand_r(seed) % (d > 0 ? 8 : 6);
	switch (kind) {
	case 0:
		return json_integer((json_int_t)rand_r(seed) * (rand_r(seed) % 2 ? -1 : 1) *
				    (json_int_t)rand_r(seed));
	case 1:
		return json_real((double)rand_r(seed) / ((double)rand_r(seed) + 1.0));
	case 2:
		return json_boolean(rand_r(seed) % 2);
	case 3:
		return json_null();
	case 4:
	case 5: {
		char text[128] = "";
		int n = rand_r(seed) % 12;
		for (int i = 0; i < n; i++)
			strcat(text, pieces[rand_r(seed) % (sizeof pieces / sizeof pieces[0])]);
		return json_string(text);
	}
	case 6: {
		json_t *a = json_array();
		int n = rand_r(seed) % 6;
		for (int i = 0; i < n; i++)
			json_array_append_new(a, random_value(seed, d - 1));
		return a;
	}
	default: {
		json_t *o = json_object();
		int n = rand_r(seed) % 6;
		for (int i = 0; i < n; i++) {
			char key[32];
			snprintf(key, sizeof key, "k%d%s", rand_r(seed) % 50,
				 rand_r(seed) % 4 ? "" : "\xc3\xa9\"");
			json_object_set_new(o, key, random_value(seed, d - 1));
		}
		return o;
	}
	}
}

static void test_random_documents(void **state)
{
	(void)state;
	unsigned seed = 15;
	for (int i = 0; i < 3000; i++) {
		json_t *j = json_object();
		json_object_set_new(j, "v", random_value(&seed, 5));
		assert_same(j);
		json_decref(j);
	}
}

/* Strings are scanned eight bytes at a time: every byte value (a lone
 * byte of 0x80 or more is not UTF-8, refused) at every place of strings
 * long enough for two words and a tail, in a value and in a key. */
static void test_every_byte_at_every_place(void **state)
{
	(void)state;
	char text[24];
	for (int b = 1; b < 256; b++) {
		for (size_t at = 0; at < 20; at++) {
			memset(text, 'a', sizeof text - 1);
			text[sizeof text - 1] = '\0';
			text[at] = (char)b;
			json_t *j = json_object();
			json_object_set_new(j, "v", json_string_nocheck(text));
			json_object_set_new(j, text, json_true());
			assert_same(j);
			json_decref(j);
		}
	}
}

static void test_depth_past_the_limit_is_refused(void **state)
{
	(void)state;
	json_t *root = json_array(), *at = root;
	for (int i = 0; i < ESC_JSON_DEPTH_MAX + 10; i++) {
		json_t *next = json_array();
		json_array_append_new(at, next);
		at = next;
	}
	assert_null(esc_json_text(root, 0, NULL));
	json_decref(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scalars_and_containers),
		cmocka_unit_test(test_strings_escaped_as_jansson_does),
		cmocka_unit_test(test_not_utf8_is_refused_as_jansson_does),
		cmocka_unit_test(test_random_documents),
		cmocka_unit_test(test_every_byte_at_every_place),
		cmocka_unit_test(test_depth_past_the_limit_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
