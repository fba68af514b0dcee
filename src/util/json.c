/* json.c - compact JSON text from jansson's values, byte for byte as
 * json_dumps(j, JSON_COMPACT) writes it; request bodies read quickly
 * when they are common; jansson's small blocks kept per thread (json.h). */
#include "util/json.h"

#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static bool reserve(struct esc_json_out *o, size_t extra)
{
	if (o->failed)
		return false;
	if (extra < o->alloc - o->len)
		return true;
	size_t alloc = o->alloc;
	while (extra >= alloc - o->len) {
		if (alloc > SIZE_MAX / 2) {
			o->failed = true;
			return false;
		}
		alloc *= 2;
	}
	char *p = realloc(o->buf, alloc);
	if (!p) {
		o->failed = true;
		return false;
	}
	o->buf = p;
	o->alloc = alloc;
	return true;
}

static void put(struct esc_json_out *o, const char *s, size_t n)
{
	if (reserve(o, n)) {
		memcpy(o->buf + o->len, s, n);
		o->len += n;
	}
}

static void put_c(struct esc_json_out *o, char c)
{
	if (reserve(o, 1))
		o->buf[o->len++] = c;
}

/* The length of the UTF-8 character at s (n bytes left), 0 when it is
 * not one: jansson's utf8_check_first and utf8_check_full, which refuse
 * overlong forms, surrogates and what is past U+10FFFF. */
static size_t utf8_char(const unsigned char *s, size_t n)
{
	unsigned char u = s[0];
	size_t count;
	int32_t value;
	if (u >= 0xC2 && u <= 0xDF) {
		count = 2;
		value = u & 0x1F;
	} else if (u >= 0xE0 && u <= 0xEF) {
		count = 3;
		value = u & 0xF;
	} else if (u >= 0xF0 && u <= 0xF4) {
		count = 4;
		value = u & 0x7;
	} else {
		return 0;
	}
	if (count > n)
		return 0;
	for (size_t i = 1; i < count; i++) {
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
		value = (value << 6) + (s[i] & 0x3F);
	}
	if (value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF) ||
	    (count == 3 && value < 0x800) || (count == 4 && value < 0x10000))
		return 0;
	return count;
}

/* The bytes a string shows as they are, unless UTF-8 must be checked:
 * printable ASCII but '"' and '\\'. */
#define P16 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
#define Z16 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
/* clang-format off */
static const unsigned char plain[256] = {
	Z16, Z16,                                        /* 0x00-0x1F */
	1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 0x22 '"' */
	P16, P16,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,  /* 0x5C '\\' */
	P16, P16,                                        /* 0x60-0x7F */
	Z16, Z16, Z16, Z16, Z16, Z16, Z16, Z16,          /* 0x80-0xFF */
};
/* clang-format on */
#undef P16
#undef Z16

/* Whether the 8 bytes of x are all plain (the table's 1s): none under
 * 0x20, at or over 0x80, '"' or '\\'. A byte under n is found by
 * subtracting n from each (the borrow sets its top bit), one equal to c
 * by the same test on x ^ c, which makes it 0. */
#define ONES          0x0101010101010101u
#define TOPS          0x8080808080808080u
#define UNDER(x, n)   (((x) - ONES * (n)) & ~(x) & TOPS)
#define EQUALS(x, c)  UNDER((x) ^ (ONES * (c)), 1)
static inline bool plain8(uint64_t x)
{
	return !((x & TOPS) | UNDER(x, 0x20) | EQUALS(x, '"') | EQUALS(x, '\\'));
}

/* How many bytes from the start of s (n bytes) are plain: eight at a
 * time, then one by one. */
static inline size_t plain_run(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i + 8 <= n) {
		uint64_t x;
		memcpy(&x, s + i, 8);
		if (!plain8(x))
			break;
		i += 8;
	}
	while (i < n && plain[s[i]])
		i++;
	return i;
}

/* The rest of put_string from i, the first byte that is not plain:
 * characters past ASCII checked, the rest escaped. */
static void put_string_slow(struct esc_json_out *o, const char *str, size_t n, size_t i)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *s = (const unsigned char *)str;
	size_t run = 0;
	while (i < n) {
		i += plain_run(s + i, n - i);
		if (i == n)
			break;
		unsigned char c = s[i];
		if (c >= 0x80) {
			size_t k = utf8_char(s + i, n - i);
			if (!k) {
				o->failed = true;
				return;
			}
			i += k;
			continue;
		}
		put(o, str + run, i - run);
		char esc[6] = {'\\', 0, '0', '0', 0, 0};
		size_t esc_len = 2;
		switch (c) {
		case '"':
		case '\\':
			esc[1] = (char)c;
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		default:
			esc[1] = 'u';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xF];
			esc_len = 6;
		}
		put(o, esc, esc_len);
		run = ++i;
	}
	put(o, str + run, n - run);
	put_c(o, '"');
}

/* s (n bytes) as a JSON string: '"' and '\\' escaped, control characters
 * by name or as \u00XX (upper-case hex), everything else as it is. Most
 * strings (keys, ids, times) are plain ASCII: room is made once, and
 * their bytes are copied as they are checked, eight at a time (room for
 * eight more is made, so that the last word may be stored whole); extra
 * is room for what follows (a ':' after a key). */
static void put_string(struct esc_json_out *o, const char *str, size_t n, size_t extra)
{
	const unsigned char *s = (const unsigned char *)str;
	if (!reserve(o, n + 2 + 8 + extra))
		return;
	char *d = o->buf + o->len + 1;
	size_t i = 0;
	o->buf[o->len] = '"';
	while (i + 8 <= n) {
		uint64_t x;
		memcpy(&x, s + i, 8);
		if (!plain8(x))
			break;
		memcpy(d + i, &x, 8);
		i += 8;
	}
	while (i < n && plain[s[i]]) {
		d[i] = (char)s[i];
		i++;
	}
	o->len += i + 1;
	if (i < n) {
		put_string_slow(o, str + i, n - i, 0);
		return;
	}
	d[i] = '"';
	o->len++;
}

static void put_integer(struct esc_json_out *o, json_int_t v)
{
	char digits[24];
	size_t at = sizeof digits;
	/* The magnitude as unsigned: INT64_MIN has none as signed. */
	uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do {
		digits[--at] = (char)('0' + m % 10);
		m /= 10;
	} while (m);
	if (v < 0)
		digits[--at] = '-';
	put(o, digits + at, sizeof digits - at);
}

static void put_value(struct esc_json_out *o, const json_t *j, int depth)
{
	if (o->failed)
		return;
	if (depth > ESC_JSON_DEPTH_MAX) {
		o->failed = true;
		return;
	}
	switch (json_typeof(j)) {
	case JSON_OBJECT: {
		const char *key;
		json_t *v;
		bool first = true;
		put_c(o, '{');
		/* Insertion order, as json_dumps without JSON_SORT_KEYS. */
		for (void *it = json_object_iter((json_t *)j); it && !o->failed;
		     it = json_object_iter_next((json_t *)j, it)) {
			key = json_object_iter_key(it);
			v = json_object_iter_value(it);
			if (!first)
				put_c(o, ',');
			first = false;
			put_string(o, key, json_object_iter_key_len(it), 1);
			put_c(o, ':');
			put_value(o, v, depth + 1);
		}
		put_c(o, '}');
		break;
	}
	case JSON_ARRAY: {
		size_t n = json_array_size(j);
		put_c(o, '[');
		for (size_t i = 0; i < n && !o->failed; i++) {
			if (i)
				put_c(o, ',');
			put_value(o, json_array_get(j, i), depth + 1);
		}
		put_c(o, ']');
		break;
	}
	case JSON_STRING:
		put_string(o, json_string_value(j), json_string_length(j), 0);
		break;
	case JSON_INTEGER:
		put_integer(o, json_integer_value(j));
		break;
	case JSON_REAL: {
		/* Rare in an answer: jansson's own digits (%.17g, trimmed). */
		char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!text) {
			o->failed = true;
			return;
		}
		put(o, text, strlen(text));
		free(text);
		break;
	}
	case JSON_TRUE:
		put(o, "true", 4);
		break;
	case JSON_FALSE:
		put(o, "false", 5);
		break;
	case JSON_NULL:
		put(o, "null", 4);
		break;
	}
}

char *esc_json_text(const json_t *j, size_t size_hint, size_t *len)
{
	if (!json_is_object(j) && !json_is_array(j))
		return NULL;
	struct esc_json_out o = {.alloc = size_hint ? size_hint : 1024};
	o.buf = malloc(o.alloc);
	if (!o.buf)
		return NULL;
	put_value(&o, j, 1);
	if (reserve(&o, 1))
		o.buf[o.len] = '\0';
	if (o.failed) {
		free(o.buf);
		return NULL;
	}
	if (len)
		*len = o.len;
	return o.buf;
}

/* ---- writing without a tree ---- */

int esc_json_out_init(struct esc_json_out *o, size_t size_hint)
{
	*o = (struct esc_json_out){.alloc = size_hint ? size_hint : 1024};
	o->buf = malloc(o->alloc);
	if (!o->buf) {
		o->alloc = 0;
		o->failed = true;
	}
	return o->failed ? -1 : 0;
}

void esc_json_out_release(struct esc_json_out *o)
{
	free(o->buf);
	*o = (struct esc_json_out){.failed = true};
}

void esc_json_out_raw(struct esc_json_out *o, const char *text, size_t n)
{
	put(o, text, n);
}

void esc_json_out_string(struct esc_json_out *o, const char *s)
{
	put_string(o, s, strlen(s), 0);
}

void esc_json_out_int(struct esc_json_out *o, int64_t v)
{
	put_integer(o, (json_int_t)v);
}

void esc_json_out_value(struct esc_json_out *o, const json_t *j)
{
	if (!j)
		o->failed = true;
	else
		put_value(o, j, 1);
}

char *esc_json_out_finish(struct esc_json_out *o, size_t *len)
{
	char *text = NULL;
	if (reserve(o, 1))
		o->buf[o->len] = '\0';
	if (!o->failed) {
		text = o->buf;
		if (len)
			*len = o->len;
		o->buf = NULL;
	}
	esc_json_out_release(o);
	return text;
}

/* ---- reading: esc_json_parse ---- */

struct in {
	const unsigned char *p, *end;
	int depth;
};

static void skip_space(struct in *in)
{
	while (in->p < in->end &&
	       (*in->p == ' ' || *in->p == '\t' || *in->p == '\n' || *in->p == '\r'))
		in->p++;
}

/* A string at in->p (after its opening quote) with neither an escape nor
 * a control byte, whose characters past ASCII are UTF-8 as jansson
 * checks it: its bytes and their count, in->p past the closing quote.
 * false for anything else. */
static bool read_string(struct in *in, const char **s, size_t *n)
{
	const unsigned char *start = in->p, *p = in->p;
	for (;;) {
		p += plain_run(p, (size_t)(in->end - p));
		if (p == in->end)
			return false;
		if (*p == '"')
			break;
		if (*p < 0x80)
			return false; /* an escape or a control byte */
		size_t k = utf8_char(p, (size_t)(in->end - p));
		if (!k)
			return false;
		p += k;
	}
	*s = (const char *)start;
	*n = (size_t)(p - start);
	in->p = p + 1;
	return true;
}

/* An integer of at most 18 digits (no overflow to check), with jansson's
 * syntax: a '-' perhaps, then 0 or a digit 1-9 and more digits, and no
 * fraction or exponent (a real is left to jansson). */
static json_t *read_integer(struct in *in)
{
	const unsigned char *p = in->p;
	bool minus = *p == '-';
	if (minus)
		p++;
	const unsigned char *digits = p;
	uint64_t v = 0; /* 19 digits at most: no wrap */
	while (p < in->end && *p >= '0' && *p <= '9' && p - digits < 19)
		v = v * 10 + (uint64_t)(*p++ - '0');
	size_t count = (size_t)(p - digits);
	if (!count || count > 18 || (count > 1 && *digits == '0'))
		return NULL;
	if (p < in->end && (*p == '.' || *p == 'e' || *p == 'E'))
		return NULL;
	in->p = p;
	return json_integer(minus ? -(json_int_t)v : (json_int_t)v);
}

static json_t *read_value(struct in *in);

/* After a member of an object or an array: 1 at its close (taken), 0
 * after a ',' (taken, and the space after it), -1 for anything else. */
static int member_end(struct in *in, char close)
{
	skip_space(in);
	if (in->p == in->end)
		return -1;
	if (*in->p == close) {
		in->p++;
		return 1;
	}
	if (*in->p != ',')
		return -1;
	in->p++;
	skip_space(in);
	return 0;
}

static json_t *read_object(struct in *in)
{
	json_t *obj = json_object();
	if (!obj)
		return NULL;
	skip_space(in);
	if (in->p < in->end && *in->p == '}') {
		in->p++;
		return obj;
	}
	for (;;) {
		const char *key;
		size_t key_len;
		if (in->p == in->end || *in->p != '"')
			break;
		in->p++;
		/* A key with a NUL is refused by jansson: read_string takes
		 * none (a NUL is a control byte). */
		if (!read_string(in, &key, &key_len))
			break;
		skip_space(in);
		if (in->p == in->end || *in->p != ':')
			break;
		in->p++;
		skip_space(in);
		json_t *v = read_value(in);
		if (!v)
			break;
		/* JSON_REJECT_DUPLICATES: jansson says which key. */
		if (json_object_getn(obj, key, key_len)) {
			json_decref(v);
			break;
		}
		if (json_object_setn_new_nocheck(obj, key, key_len, v))
			break; /* v is released */
		int end = member_end(in, '}');
		if (end > 0)
			return obj;
		if (end < 0)
			break;
	}
	json_decref(obj);
	return NULL;
}

static json_t *read_array(struct in *in)
{
	json_t *arr = json_array();
	if (!arr)
		return NULL;
	skip_space(in);
	if (in->p < in->end && *in->p == ']') {
		in->p++;
		return arr;
	}
	for (;;) {
		json_t *v = read_value(in);
		if (!v || json_array_append_new(arr, v))
			break; /* v, if any, is released */
		int end = member_end(in, ']');
		if (end > 0)
			return arr;
		if (end < 0)
			break;
	}
	json_decref(arr);
	return NULL;
}

/* A literal's word, ended by what may follow a value. */
static bool read_word(struct in *in, const char *word, size_t n)
{
	if ((size_t)(in->end - in->p) < n || memcmp(in->p, word, n))
		return false;
	const unsigned char *after = in->p + n;
	if (after < in->end && !memchr(" \t\n\r,}]", *after, 7)) /* never the NUL */
		return false;
	in->p = after;
	return true;
}

static json_t *read_value(struct in *in)
{
	if (in->p == in->end)
		return NULL;
	switch (*in->p) {
	case '{':
	case '[': {
		if (++in->depth > ESC_JSON_READ_DEPTH_MAX)
			return NULL;
		bool obj = *in->p++ == '{';
		json_t *v = obj ? read_object(in) : read_array(in);
		in->depth--;
		return v;
	}
	case '"': {
		const char *s;
		size_t n;
		in->p++;
		return read_string(in, &s, &n) ? json_stringn_nocheck(s, n) : NULL;
	}
	case 't':
		return read_word(in, "true", 4) ? json_true() : NULL;
	case 'f':
		return read_word(in, "false", 5) ? json_false() : NULL;
	case 'n':
		return read_word(in, "null", 4) ? json_null() : NULL;
	default:
		return *in->p == '-' || (*in->p >= '0' && *in->p <= '9') ? read_integer(in)
									  : NULL;
	}
}

json_t *esc_json_parse(const char *text, size_t len)
{
	struct in in = {(const unsigned char *)text, (const unsigned char *)text + len, 0};
	skip_space(&in);
	if (in.p == in.end || *in.p != '{')
		return NULL;
	json_t *j = read_value(&in);
	skip_space(&in);
	if (j && in.p != in.end) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* ---- jansson's memory ----
 *
 * An answer is a tree of a few hundred small blocks (each value, each
 * key, each object's table), made and freed for every request: more
 * than glibc's per-thread cache holds (7 blocks a size), so that most
 * of them went through its shared bins, with an atomic operation or the
 * arena's lock each, and a tree made by the engine's writer and freed by
 * an HTTP thread took the writer's arena lock for every block. Each
 * thread now keeps the small blocks jansson frees, up to CACHE_BYTES, and
 * gives them back to jansson first. They are malloc's own blocks, taken
 * from malloc and given back to free: a block jansson hands out (the
 * text of json_dumps) may be freed with free(). */
#define CACHE_CLASSES 32          /* blocks of 24 to 504 bytes: 16 * k + 8 */
#define CACHE_BYTES   (64 * 1024) /* kept by a thread, at most, unless it says */

struct cached {
	struct cached *next;
};

struct block_cache {
	struct cached *head[CACHE_CLASSES];
	size_t bytes;
};

/* The thread's cache; DEAD once its thread has ended it. */
#define DEAD ((struct block_cache *)1)
static _Thread_local struct block_cache *cache;
static _Thread_local size_t cache_limit = CACHE_BYTES;
static pthread_key_t cache_key;
static bool cache_key_made;

static void cache_end(void *arg)
{
	struct block_cache *c = arg;
	cache = DEAD; /* a later free in this thread goes to free() */
	for (int k = 0; k < CACHE_CLASSES; k++)
		for (struct cached *b = c->head[k], *next; b; b = next) {
			next = b->next;
			free(b);
		}
	free(c);
}

static void *json_block_alloc(size_t n)
{
	struct block_cache *c = cache;
	if (c && c != DEAD) {
		size_t k = n <= 24 ? 1 : (n - 8 + 15) / 16; /* 16 * k + 8 >= n */
		if (k < CACHE_CLASSES && c->head[k]) {
			struct cached *b = c->head[k];
			c->head[k] = b->next;
			c->bytes -= 16 * k + 8;
			return b;
		}
	}
	return malloc(n);
}

static void json_block_free(void *p)
{
	struct block_cache *c = cache;
	if (!p)
		return;
	if (!c && cache_key_made) {
		c = calloc(1, sizeof *c);
		if (c && pthread_setspecific(cache_key, c)) {
			free(c);
			c = NULL;
		}
		cache = c ? c : DEAD;
	}
	/* Full (a thread that frees what others made, as the writer's
	 * answers): straight to free(), without asking the block's size. */
	if (!c || c == DEAD || c->bytes > cache_limit - (16 * CACHE_CLASSES - 8)) {
		free(p);
		return;
	}
	size_t usable = malloc_usable_size(p);
	size_t k = usable < 24 ? 0 : (usable - 8) / 16; /* 16 * k + 8 <= usable */
	if (!k || k >= CACHE_CLASSES || c->bytes + 16 * k + 8 > cache_limit) {
		free(p);
		return;
	}
	struct cached *b = p;
	b->next = c->head[k];
	c->head[k] = b;
	c->bytes += 16 * k + 8;
}

void esc_json_cache_limit(size_t bytes)
{
	cache_limit = bytes > 16 * CACHE_CLASSES ? bytes : 16 * CACHE_CLASSES;
}

/* A sanitizer's build keeps jansson on malloc and free: a block kept
 * here is never freed, so the sanitizer could not see a value used after
 * its last json_decref, or released twice (the tests run under ASan and
 * TSan to find just that). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define BLOCK_CACHE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define BLOCK_CACHE 0
#endif
#endif
#ifndef BLOCK_CACHE
#define BLOCK_CACHE 1
#endif

/* Before main, while the process has one thread: jansson's functions
 * are set before any thread may call them. */
__attribute__((constructor)) static void json_memory_init(void)
{
	if (!BLOCK_CACHE)
		return;
	cache_key_made = !pthread_key_create(&cache_key, cache_end);
	json_set_alloc_funcs(json_block_alloc, json_block_free);
}
