/* tracking.c - tracking numbers checked against their carrier: see
 * tracking.h. */
#include "core/tracking.h"

#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/bug.h"
#include "util/error.h"

static const struct {
	const char *name;
	enum esc_check_scheme scheme;
	const char *shape;   /* for hints */
	const char *example; /* passes the scheme */
} SCHEMES[] = {
	{"none", ESC_CHECK_NONE, NULL, NULL},
	{"s10", ESC_CHECK_S10,
	 "two letters, eight digits, a check digit and a two-letter country code", "RR123456785GB"},
	{"ups_1z", ESC_CHECK_UPS_1Z, "1Z, fifteen letters or digits and a check digit",
	 "1Z999AA10123456784"},
};

bool esc_check_scheme_parse(const char *name, enum esc_check_scheme *out)
{
	for (size_t i = 0; i < sizeof(SCHEMES) / sizeof(SCHEMES[0]); i++) {
		if (strcmp(name, SCHEMES[i].name) == 0) {
			*out = SCHEMES[i].scheme;
			return true;
		}
	}
	return false;
}

const char *esc_check_scheme_name(enum esc_check_scheme scheme)
{
	return SCHEMES[scheme].name;
}

int esc_tracking_normalize(const char *number, char *out, size_t out_size)
{
	size_t n = 0;

	if (out_size < ESC_TRACKING_MAX + 1)
		return ESC_EINVAL;
	for (const char *p = number; *p; p++) {
		unsigned char ch = (unsigned char)*p;

		if (ch == ' ' || ch == '-')
			continue;
		if (!isascii(ch) || !isalnum(ch) || n == ESC_TRACKING_MAX)
			return ESC_EINVAL;
		out[n++] = (char)toupper(ch);
	}
	out[n] = '\0';
	return n ? 0 : ESC_EINVAL;
}

void esc_tracking_kept(const char *typed, char *out, size_t out_size)
{
	if (esc_tracking_normalize(typed, out, out_size) != 0)
		snprintf(out, out_size, "%s", typed);
}

static bool all_digits(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

static bool all_upper(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < 'A' || p[i] > 'Z')
			return false;
	return true;
}

static bool s10_shape(const char *number)
{
	return strlen(number) == 13 && all_upper(number, 2) && all_digits(number + 2, 9) &&
	       all_upper(number + 11, 2);
}

static bool s10_digit(const char *number)
{
	static const int WEIGHT[8] = {8, 6, 4, 2, 3, 5, 9, 7};
	int sum = 0, check;

	for (int i = 0; i < 8; i++)
		sum += (number[2 + i] - '0') * WEIGHT[i];
	check = 11 - sum % 11;
	if (check == 10)
		check = 0;
	else if (check == 11)
		check = 5;
	return number[10] - '0' == check;
}

static bool ups_shape(const char *number)
{
	if (strlen(number) != 18 || number[0] != '1' || number[1] != 'Z' ||
	    !all_digits(number + 17, 1))
		return false;
	for (int i = 2; i < 17; i++)
		if (!isdigit((unsigned char)number[i]) && !isupper((unsigned char)number[i]))
			return false;
	return true;
}

static bool ups_digit(const char *number)
{
	int sum = 0;

	for (int i = 0; i < 15; i++) {
		char ch = number[2 + i];
		int v = ch >= '0' && ch <= '9' ? ch - '0' : (ch - 3) % 10;

		sum += i % 2 ? 2 * v : v;
	}
	return number[17] - '0' == (10 - sum % 10) % 10;
}

bool esc_s10_valid(const char *number)
{
	return s10_shape(number) && s10_digit(number);
}

bool esc_ups_1z_valid(const char *number)
{
	return ups_shape(number) && ups_digit(number);
}

/* How many copies of its atoms the pattern asks for, with bounded
 * repetitions multiplied out as glibc's regcomp expands them ("[0-9]{10}"
 * is 10, "(A{9}){9}" 81), alternatives added; TOO_MUCH when a count is
 * over 255 or the total runs away, MALFORMED where it cannot read the
 * pattern (regcomp then says why). A configuration cannot ask for a
 * pattern that takes gigabytes to compile. */
enum { TOO_MUCH = -1, MALFORMED = -2 };
static long pattern_cost(const char *p)
{
	long stack[16], last[16];
	int depth = 0;
	stack[0] = 0;
	last[0] = 0;
	while (*p) {
		long atom = 1;
		switch (*p) {
		case '\\':
			if (!*++p)
				return MALFORMED;
			p++;
			break;
		case '[':
			p++;
			if (*p == '^')
				p++;
			if (*p == ']')
				p++;
			while (*p && *p != ']')
				p++;
			if (!*p)
				return MALFORMED;
			p++;
			break;
		case '(':
			if (++depth == 16)
				return MALFORMED;
			stack[depth] = 0;
			last[depth] = 0;
			p++;
			continue;
		case ')':
			if (depth == 0)
				return MALFORMED;
			atom = stack[depth--];
			p++;
			break;
		case '{': {
			char *end;
			long n = strtol(p + 1, &end, 10), m = n;
			if (end == p + 1 || n < 0)
				return MALFORMED;
			if (n > 255)
				return TOO_MUCH;
			if (*end == ',') {
				m = end[1] == '}' ? n + 1 : strtol(end + 1, &end, 10);
				if (end[0] == ',')
					end++;
				if (m < n)
					return MALFORMED;
				if (m > 255)
					return TOO_MUCH;
			}
			if (*end != '}')
				return MALFORMED;
			p = end + 1;
			/* The atom before it, repeated. */
			stack[depth] += last[depth] * ((m > 1 ? m : 1) - 1);
			last[depth] *= m > 1 ? m : 1;
			if (stack[depth] > 100000)
				return TOO_MUCH;
			continue;
		}
		case '*':
		case '?':
		case '|':
			p++;
			continue;
		case '+':
			atom = last[depth];
			p++;
			break;
		default:
			p++;
			break;
		}
		stack[depth] += atom;
		last[depth] = atom;
		if (stack[depth] > 100000)
			return TOO_MUCH;
	}
	return depth == 0 ? stack[0] : MALFORMED;
}

/* The pattern anchored at both ends: the whole number must match. */
static int compile(const char *pattern, regex_t *re)
{
	char anchored[ESC_CARRIER_PATTERN_MAX + 8];

	snprintf(anchored, sizeof(anchored), "^(%s)$", pattern);
	return regcomp(re, anchored, REG_EXTENDED | REG_NOSUB);
}

static bool name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > ESC_CARRIER_MAX)
		return false;
	for (const char *p = name; *p; p++)
		if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_' ||
		      *p == '-'))
			return false;
	return true;
}

int esc_carrier_init(struct esc_carrier *c, const char *name, const char *pattern,
		     enum esc_check_scheme check, const char *example, char *err, size_t err_size)
{
	char normal[ESC_TRACKING_MAX + 1];
	regex_t re;

	memset(c, 0, sizeof(*c));
	if (!name_valid(name)) {
		esc_set_err(err, err_size,
			    "a carrier's name is 1 to %d bytes of a-z, 0-9, _ and -: \"%.64s\"",
			    ESC_CARRIER_MAX, name);
		return ESC_EINVAL;
	}
	if (strlen(pattern) >= sizeof(c->pattern)) {
		esc_set_err(err, err_size, "carrier %s: the pattern is longer than %d bytes", name,
			    ESC_CARRIER_PATTERN_MAX - 1);
		return ESC_EINVAL;
	}
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->pattern, sizeof(c->pattern), "%s", pattern);
	c->check = check;
	long cost = pattern_cost(pattern);
	if (cost == TOO_MUCH || cost > 10000) {
		esc_set_err(
			err, err_size,
			"carrier %s: the pattern \"%s\" repeats too much: counts up to 255, "
			"and at most 10000 characters' worth once repetitions are multiplied out",
			name, pattern);
		return ESC_EINVAL;
	}
	if (compile(pattern, &re) != 0) {
		esc_set_err(err, err_size,
			    "carrier %s: the pattern \"%s\" is not a POSIX extended regular "
			    "expression",
			    name, pattern);
		return ESC_EINVAL;
	}
	regfree(&re);
	if (example && *example) {
		if (esc_tracking_normalize(example, normal, sizeof(normal)) != 0 ||
		    esc_tracking_check(c, normal) != ESC_TRACKING_VALID) {
			esc_set_err(err, err_size,
				    "carrier %s: the example \"%s\" fails the carrier's own "
				    "pattern or check digit",
				    name, example);
			return ESC_EINVAL;
		}
		snprintf(c->example, sizeof(c->example), "%s", normal);
	} else if (SCHEMES[check].example &&
		   esc_tracking_check(c, SCHEMES[check].example) == ESC_TRACKING_VALID) {
		/* The scheme's own example, when the carrier's pattern takes it. */
		snprintf(c->example, sizeof(c->example), "%s", SCHEMES[check].example);
	}
	return 0;
}

const struct esc_carrier *esc_carrier_find(const struct esc_carrier *table, size_t n,
					   const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(table[i].name, name) == 0)
			return &table[i];
	return NULL;
}

enum esc_tracking_verdict esc_tracking_check(const struct esc_carrier *c, const char *number)
{
	if (c == NULL)
		return ESC_TRACKING_UNCHECKED;
	if (*c->pattern) {
		regex_t re;
		bool match;

		if (compile(c->pattern, &re) != 0)
			return ESC_TRACKING_BAD_FORMAT; /* esc_carrier_init let none such in */
		match = regexec(&re, number, 0, NULL, 0) == 0;
		regfree(&re);
		if (!match)
			return ESC_TRACKING_BAD_FORMAT;
	}
	switch (c->check) {
	case ESC_CHECK_S10:
		if (!s10_shape(number))
			return ESC_TRACKING_BAD_FORMAT;
		return s10_digit(number) ? ESC_TRACKING_VALID : ESC_TRACKING_BAD_CHECK;
	case ESC_CHECK_UPS_1Z:
		if (!ups_shape(number))
			return ESC_TRACKING_BAD_FORMAT;
		return ups_digit(number) ? ESC_TRACKING_VALID : ESC_TRACKING_BAD_CHECK;
	case ESC_CHECK_NONE:
		break;
	}
	return ESC_TRACKING_VALID;
}

void esc_tracking_hint(const struct esc_carrier *c, char *out, size_t out_size)
{
	const char *shape = SCHEMES[c->check].shape;

	if (shape && *c->example)
		snprintf(out, out_size, "%s numbers are %s, like %s.", c->name, shape, c->example);
	else if (shape)
		snprintf(out, out_size, "%s numbers are %s.", c->name, shape);
	else if (*c->example)
		snprintf(out, out_size, "%s numbers look like %s.", c->name, c->example);
	else
		snprintf(out, out_size, "%s numbers match the pattern %s.", c->name, c->pattern);
}

#define NUMBER_PLACEHOLDER "{tracking_number}"

int esc_tracking_url_init(struct esc_tracking_url *u, const char *carrier, const char *template_,
			  char *err, size_t err_size)
{
	const char *at = strstr(template_, NUMBER_PLACEHOLDER);
	size_t n = strlen(template_);
	bool ok = n <= ESC_TRACKING_URL_MAX && !strncmp(template_, "https://", 8) && n > 8 &&
		  at && !strstr(at + 1, NUMBER_PLACEHOLDER);

	memset(u, 0, sizeof(*u));
	if (!name_valid(carrier)) {
		esc_set_err(err, err_size,
			    "carrier name '%.64s' must be 1-%d characters of a-z, 0-9, _ and -",
			    carrier, ESC_CARRIER_MAX);
		return ESC_EINVAL;
	}
	for (const char *p = template_; ok && *p; p++)
		ok = *p > ' ' && *p < 0x7f && !strchr("\"'<>\\^`|", *p);
	if (!ok) {
		esc_set_err(err, err_size,
			    "carrier.%s.tracking_url must be an https:// URL of at most %d bytes "
			    "(no spaces or quotes) with {tracking_number} once where the number "
			    "goes, as in https://www.dhl.com/track?id={tracking_number}",
			    carrier, ESC_TRACKING_URL_MAX);
		return ESC_EINVAL;
	}
	snprintf(u->carrier, sizeof(u->carrier), "%s", carrier);
	snprintf(u->template_, sizeof(u->template_), "%s", template_);
	return 0;
}

const struct esc_tracking_url *esc_tracking_url_find(const struct esc_tracking_url *table, size_t n,
						     const char *carrier)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(table[i].carrier, carrier) == 0)
			return &table[i];
	return NULL;
}

void esc_tracking_url_fill(const struct esc_tracking_url *u, const char *number, char *out,
			   size_t out_size)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *at = strstr(u->template_, NUMBER_PLACEHOLDER);
	size_t used = 0;

	ESC_ASSERT(at && out_size >= ESC_TRACKING_LINK_SIZE, "a checked template and room for it");
	memcpy(out, u->template_, (size_t)(at - u->template_));
	used = (size_t)(at - u->template_);
	for (const unsigned char *p = (const unsigned char *)number;
	     *p && used + 4 < out_size && p - (const unsigned char *)number < ESC_TRACKING_MAX;
	     p++) {
		if (isalnum(*p) || strchr("-._~", *p)) {
			out[used++] = (char)*p;
		} else {
			out[used++] = '%';
			out[used++] = hex[*p >> 4];
			out[used++] = hex[*p & 15];
		}
	}
	snprintf(out + used, out_size - used, "%s", at + strlen(NUMBER_PLACEHOLDER));
}
