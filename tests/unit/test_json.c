/* test_json.c - esc_json_text (util/json.h) writes the bytes of
 * json_dumps(j, JSON_COMPACT): the answers' text did not change when the
 * daemon stopped calling json_dumps (issue 15); esc_json_parse reads what
 * json_loadb reads; jansson's kept blocks stay malloc's. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

/* A text written piece by piece (esc_json_out) is the tree's text; a
 * string that is not UTF-8 fails it, as it fails json_dumps. */
static void test_pieces_write_what_the_tree_writes(void **state)
{
	(void)state;
	const char *text = "caf\xc3\xa9 \"q\" \\ \n\x01 /";
	json_t *sub = json_pack("{s:[i, n]}", "a", 7);
	json_t *j = json_pack("{s:s, s:I, s:n, s:O}", "s", text, "n", (json_int_t)INT64_MIN, "z",
			      "sub", sub);
	char *want = esc_json_text(j, 0, NULL);
	struct esc_json_out out;
	assert_int_equal(esc_json_out_init(&out, 1), 0); /* grown as it goes */
	ESC_JSON_OUT_LIT(&out, "{\"s\":");
	esc_json_out_string(&out, text);
	ESC_JSON_OUT_LIT(&out, ",\"n\":");
	esc_json_out_int(&out, INT64_MIN);
	ESC_JSON_OUT_LIT(&out, ",\"z\":null,\"sub\":");
	esc_json_out_value(&out, sub);
	ESC_JSON_OUT_LIT(&out, "}");
	size_t len = 0;
	char *got = esc_json_out_finish(&out, &len);
	assert_non_null(want);
	assert_non_null(got);
	assert_string_equal(got, want);
	assert_int_equal(len, strlen(want));
	free(got);
	free(want);
	json_decref(sub);
	json_decref(j);

	assert_int_equal(esc_json_out_init(&out, 0), 0);
	esc_json_out_string(&out, "ab\xc3");
	assert_true(out.failed);
	ESC_JSON_OUT_LIT(&out, "}");
	assert_null(esc_json_out_finish(&out, NULL));
	assert_int_equal(esc_json_out_init(&out, 0), 0);
	esc_json_out_value(&out, NULL);
	assert_null(esc_json_out_finish(&out, NULL));
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

/* esc_json_parse reads text as json_loadb(JSON_REJECT_DUPLICATES) does
 * (the same values, keys in the same order), or leaves it to jansson:
 * true when it read it. */
static bool parse_same(const char *text, size_t len)
{
	json_error_t err;
	json_t *want = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
	json_t *got = esc_json_parse(text, len);
	if (got) {
		assert_non_null(want);
		assert_true(json_equal(got, want));
		char *a = json_dumps(got, JSON_COMPACT), *b = json_dumps(want, JSON_COMPACT);
		assert_string_equal(a, b);
		free(a);
		free(b);
	}
	bool read = got != NULL;
	json_decref(got);
	json_decref(want);
	return read;
}

static bool parse_same_s(const char *text)
{
	return parse_same(text, strlen(text));
}

static void test_parse_reads_what_jansson_reads(void **state)
{
	(void)state;
	/* A command's body, as clients send it: read here. */
	assert_true(parse_same_s(
		"{\"buyer_id\":\"usr_1\",\"seller_id\":\"usr_2\",\"currency\":\"EUR\","
		"\"items\":[{\"title\":\"Bench item \xc3\xa9\xe2\x82\xac\",\"quantity\":1,"
		"\"unit_price\":2599,\"image_url\":null}],\"delivery_days\":0}"));
	assert_true(parse_same_s(" \t\r\n{ \"a\" : [ ] , \"b\" : { } , \"c\" : [1, -2, 0, -0,"
				 " true, false, null, \"\"] }\n "));
	assert_true(parse_same_s("{\"big\":999999999999999999,\"small\":-999999999999999999}"));
	assert_true(parse_same_s("{}"));
	/* Left to jansson: escapes, reals, long integers, other tops, and
	 * everything it refuses. */
	const char *left[] = {
		"{\"a\":\"x\\\"y\"}", "{\"a\":\"\\u00e9\"}", "{\"a\\n\":1}", "{\"a\":1.5}",
		"{\"a\":1e3}", "{\"a\":1E3}", "{\"a\":-0.0}", "{\"a\":1234567890123456789}",
		"{\"a\":9223372036854775807}", "{\"a\":-9223372036854775808}",
		"{\"a\":99999999999999999999999}", "[1,2]", "\"s\"", "1", "", "   ", "{",
		"{\"a\":1,\"a\":2}", "{\"a\":01}", "{\"a\":-}", "{\"a\":--1}", "{\"a\":+1}",
		"{\"a\":1,}", "{,}", "{\"a\"}", "{\"a\":}", "{\"a\" 1}", "{\"a\":1}x",
		"{\"a\":1} {}", "{\"a\":tru}", "{\"a\":truex}", "{\"a\":nul}", "{\"a\":True}",
		"{\"a\":[1 2]}", "{\"a\":[1,]}", "{a:1}", "{'a':1}", "{\"a\":\"\x01\"}",
		"{\"a\":\"\t\"}", "{\"a\":\"\xc0\xaf\"}", "{\"a\":\"\xed\xa0\x80\"}",
		"{\"a\":\"\xff\"}", "{\"a\":\"ab\xc3\"}", "\xef\xbb\xbf{}", "{\"a\":\"x}",
		"{\"a\":1.}", "{\"a\":.5}", "{\"a\":0x10}", "{\"a\":NaN}", "{\"a\":Infinity}",
		"{\"a\":[[[]]]]}", "{\"a\":{}}}", "{\"a\":/*c*/1}",
	};
	for (size_t i = 0; i < sizeof left / sizeof left[0]; i++)
		assert_false(parse_same_s(left[i]));
	/* NUL bytes, inside a string and outside. */
	assert_false(parse_same("{\"a\":\"x\0y\"}", 11));
	assert_false(parse_same("{\"a\":1}\0", 8));
	assert_false(parse_same("{\"a\0\":1}", 9));
	/* Nested to the limit, and past it. */
	char deep[200] = "";
	for (int i = 0; i < ESC_JSON_READ_DEPTH_MAX; i++)
		strcat(deep, i ? "[" : "{\"a\":");
	for (int i = 0; i < ESC_JSON_READ_DEPTH_MAX; i++)
		strcat(deep, i < ESC_JSON_READ_DEPTH_MAX - 1 ? "]" : "}");
	assert_true(parse_same_s(deep));
	char deeper[200] = "";
	for (int i = 0; i <= ESC_JSON_READ_DEPTH_MAX; i++)
		strcat(deeper, i ? "[" : "{\"a\":");
	for (int i = 0; i <= ESC_JSON_READ_DEPTH_MAX; i++)
		strcat(deeper, i < ESC_JSON_READ_DEPTH_MAX ? "]" : "}");
	assert_false(parse_same_s(deeper));
}

/* Random documents as jansson writes them, compact and indented, then
 * each with every byte changed to each of a few others: whatever
 * esc_json_parse reads, jansson reads the same. */
static void test_parse_random_and_broken_documents(void **state)
{
	(void)state;
	static const char swaps[] = {'"', '\\', ',', ':', '{', '}', '[', ']', '0', '9', '-',
				     '.', 'e', ' ', '\n', 'a', 't', '\0', (char)0x80, (char)0xc3};
	unsigned seed = 16;
	size_t read = 0;
	for (int i = 0; i < 400; i++) {
		json_t *j = json_object();
		json_object_set_new(j, "v", random_value(&seed, 4));
		char *text = json_dumps(j, i % 2 ? JSON_COMPACT : JSON_INDENT(2));
		size_t len = strlen(text);
		read += parse_same(text, len);
		for (size_t at = 0; at < len && at < 120; at++) {
			char was = text[at];
			for (size_t k = 0; k < sizeof swaps; k++) {
				text[at] = swaps[k];
				parse_same(text, len);
			}
			text[at] = was;
		}
		free(text);
		json_decref(j);
	}
	assert_true(read > 40); /* documents without reals or escapes are read */
}

/* jansson's blocks are kept by each thread for the next tree
 * (util/json.c): they stay malloc's, so that what json_dumps returns
 * may be freed with free(), a tree made in one thread may be freed in
 * another, and a thread's kept blocks are freed when it ends. A
 * sanitizer's build keeps no blocks (json.h), so this runs the cache in
 * the plain build only: `valgrind --leak-check=full build/test_json`
 * finds a leak or a bad free there. */
static json_t *some_tree(int n)
{
	json_t *j = json_object();
	for (int i = 0; i < n; i++) {
		char key[64];
		snprintf(key, sizeof key, "key-%d-%s", i, i % 3 ? "" : "a longer key, past 24 bytes");
		json_object_set_new(j, key, json_pack("{s:s, s:i, s:[s, n]}", "text", key, "n", i,
						      "list", "x", key));
	}
	return j;
}

static void *free_trees(void *arg)
{
	json_t **trees = arg;
	for (int i = 0; i < 8; i++)
		json_decref(trees[i]);
	json_t *mine = some_tree(50); /* made from the blocks freed here */
	char *text = json_dumps(mine, JSON_COMPACT);
	free(text);
	json_decref(mine);
	return NULL;
}

static void test_blocks_are_malloc_blocks(void **state)
{
	(void)state;
	for (int round = 0; round < 3; round++) {
		json_t *j = some_tree(200);
		char *text = json_dumps(j, JSON_COMPACT);
		json_decref(j);
		j = some_tree(200);
		char *again = json_dumps(j, JSON_COMPACT);
		assert_string_equal(text, again);
		free(text);
		free(again);
		json_decref(j);
	}
	json_t *trees[8];
	for (int i = 0; i < 8; i++)
		trees[i] = some_tree(100);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, free_trees, trees), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
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
		cmocka_unit_test(test_pieces_write_what_the_tree_writes),
		cmocka_unit_test(test_random_documents),
		cmocka_unit_test(test_every_byte_at_every_place),
		cmocka_unit_test(test_parse_reads_what_jansson_reads),
		cmocka_unit_test(test_parse_random_and_broken_documents),
		cmocka_unit_test(test_blocks_are_malloc_blocks),
		cmocka_unit_test(test_depth_past_the_limit_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
