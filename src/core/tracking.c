/* tracking.c - tracking numbers checked against their carrier: see
 * tracking.h. */
#include "core/tracking.h"

#include <ctype.h>
#include <pthread.h>
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

/* What a pattern asks of glibc's regcomp, which builds a node for each
 * atom, multiplies bounded repetitions out as copies ("[0-9]{10}" is ten,
 * "(A{9}){9}" 81) and then, for each node, the set of nodes reachable
 * without reading a character. That last step has no bound when a
 * repetition applies to something that can match nothing:
 * "((a{0,40}){0,40}){0,40}" takes gigabytes, "(()*){30}" minutes, and
 * "((){255}){255}" overflows the stack. So pattern_check reads the whole
 * pattern and refuses, with why:
 *   - a repetition (*, +, ?, {n,m}) of something that can match nothing;
 *   - a repetition directly after another ("[0-9]+?", "a{2}{3}"), which
 *     POSIX leaves undefined (an escaped "\+" or a bracketed "[+*]" is
 *     a character, not a repetition);
 *   - a count over REPEAT_MAX, or over NODES_MAX nodes once repetitions
 *     are multiplied out;
 *   - parentheses deeper than DEPTH_MAX, or without their pair;
 *   - '^' or '$' anywhere but at the start or end of the pattern or of
 *     one of its alternatives;
 *   - a backslash before a letter or a digit (a back-reference, a word
 *     boundary: nothing a tracking number needs), or before nothing;
 *   - a backslash inside brackets, where it is itself: "[\d]" is a
 *     backslash or a d, not the digit its writer meant;
 *   - what it cannot read (an unclosed bracket, a '{' without its count).
 * What it takes, regcomp may still refuse (a range "z-a"), in regerror's words.
 * The costliest patterns it takes that a review found ("a{0,255}" nineteen
 * times) compile in about 45 ms and 26 MB; none takes gigabytes. */
enum { REPEAT_MAX = 255, NODES_MAX = 10000, DEPTH_MAX = 15 };

struct pattern_level {
	long nodes;            /* the level's nodes so far */
	long last;             /* the last atom's, as repeated so far */
	bool have_last;        /* an atom a repetition may follow */
	bool last_empty;       /* the last atom can match nothing */
	bool last_repeated;    /* the last atom is a repetition ("a*") */
	bool prefix_empty;     /* so can the present alternative before it */
	bool any_branch_empty; /* an earlier alternative can */
};

static void level_open(struct pattern_level *l)
{
	*l = (struct pattern_level){.prefix_empty = true};
}

/* Whether the present alternative can match nothing. */
static bool branch_empty(const struct pattern_level *l)
{
	return l->prefix_empty && (!l->have_last || l->last_empty);
}

static void level_atom(struct pattern_level *l, long nodes, bool empty)
{
	l->prefix_empty = branch_empty(l);
	l->nodes += nodes;
	l->last = nodes;
	l->have_last = true;
	l->last_empty = empty;
	l->last_repeated = false;
}

/* A count of at most REPEAT_MAX from *p: its digits, or -1 when there are
 * none, -2 when it is over REPEAT_MAX. */
static long read_count(const char **p)
{
	long n = -1;

	while (isdigit((unsigned char)**p)) {
		n = (n < 0 ? 0 : n) * 10 + (**p - '0');
		if (n > REPEAT_MAX)
			return -2;
		(*p)++;
	}
	return n;
}

/* The repetition at *p ("{n}", "{n,}", "{n,m}", "{,m}") as n and m (-1 for
 * no upper bound); 0, or -1 with why. */
static int read_interval(const char **p, long *n, long *m, char *why, size_t why_size)
{
	(*p)++;
	*n = read_count(p);
	*m = *n;
	if (**p == ',') {
		(*p)++;
		*m = read_count(p);
		if (*n == -1)
			*n = 0;
	}
	if (*n == -2 || *m == -2) {
		snprintf(why, why_size, "a count is at most %d", REPEAT_MAX);
		return -1;
	}
	if (*n < 0 || **p != '}') {
		snprintf(why, why_size, "'{' is not followed by a count and '}'");
		return -1;
	}
	(*p)++;
	if (*m >= 0 && *m < *n) {
		snprintf(why, why_size, "{%ld,%ld} counts down", *n, *m);
		return -1;
	}
	return 0;
}

/* The ']' that closes the bracket expression at s ("[A-Z]", "[^0-9]",
 * "[[:digit:]]"), or NULL when there is none. */
static const char *bracket_end(const char *s)
{
	s++;
	if (*s == '^')
		s++;
	if (*s == ']')
		s++;
	for (; *s && *s != ']'; s++) {
		if (s[0] == '[' && (s[1] == ':' || s[1] == '.' || s[1] == '=')) {
			char end = s[1];
			const char *close = s + 2;
			while (*close && !(close[0] == end && close[1] == ']'))
				close++;
			if (!*close)
				return NULL;
			s = close + 1;
		}
	}
	return *s ? s : NULL;
}

/* The bracket expression at *p read past its ']'; -1 with why when it has
 * none or holds a backslash. */
static int read_bracket(const char **p, char *why, size_t why_size)
{
	const char *end = bracket_end(*p);

	if (end == NULL) {
		snprintf(why, why_size, "a '[' without its ']'");
		return -1;
	}
	/* Inside brackets a backslash is itself: "[\d]" is a backslash or a
	 * d, never the digit its writer meant. */
	if (memchr(*p, '\\', (size_t)(end - *p))) {
		snprintf(why, why_size,
			 "a backslash inside brackets matches a backslash: write [0-9], not [\\d]");
		return -1;
	}
	*p = end + 1;
	return 0;
}

/* The repetition at *p applied to l's last atom. */
static int repeat(struct pattern_level *l, const char **p, char *why, size_t why_size)
{
	char op = **p;
	long n = 1, m = -1, last;

	if (!l->have_last) {
		snprintf(why, why_size, "'%c' repeats nothing", op);
		return -1;
	}
	if (l->last_repeated) {
		/* POSIX leaves two adjacent repetitions undefined; glibc reads
		 * "[0-9]+?" as "([0-9]+)?", which matches nothing too, where
		 * its writer meant PCRE's lazy '+'. */
		snprintf(why, why_size,
			 "'%c' repeats a repetition, which POSIX leaves undefined ([0-9]+? is "
			 "([0-9]+)?, not a lazy +): write one, [0-9]{2,6}, or group the first, "
			 "([0-9]{2}){3}",
			 op);
		return -1;
	}
	if (l->last_empty) {
		snprintf(why, why_size,
			 "'%c' repeats what can match nothing: write [0-9]{0,5}, not ([0-9]?){5}",
			 op);
		return -1;
	}
	if (op == '{') {
		if (read_interval(p, &n, &m, why, why_size) != 0)
			return -1;
	} else {
		n = op == '+';
		(*p)++;
	}
	/* regcomp's copies: n of the atom, then m - n optional ones (or one
	 * starred), each optional one under a node of its own. */
	long copies = m < 0 ? n + 1 : m;
	last = l->last * (copies > 1 ? copies : 1) + (m < 0 ? 1 : m - n);
	l->nodes += last - l->last;
	l->last = last;
	l->last_empty = n == 0;
	l->last_repeated = true;
	return 0;
}

/* The nodes regcomp would build for pattern, or -1 with why it is
 * refused. */
static long pattern_check(const char *p, char *why, size_t why_size)
{
	struct pattern_level levels[DEPTH_MAX + 1], *l = levels;

	level_open(l);
	while (*p) {
		switch (*p) {
		case '\\':
			if (!p[1] || isalnum((unsigned char)p[1]) || strchr("<>`'", p[1])) {
				snprintf(why, why_size,
					 p[1] ? "\\%c: a backslash is taken only before a "
						"punctuation character"
					      : "it ends with a backslash",
					 p[1]);
				return -1;
			}
			p += 2;
			level_atom(l, 1, false);
			break;
		case '[':
			if (read_bracket(&p, why, why_size) != 0)
				return -1;
			level_atom(l, 1, false);
			break;
		case '(':
			if (l == levels + DEPTH_MAX) {
				snprintf(why, why_size, "parentheses are nested at most %d deep",
					 DEPTH_MAX);
				return -1;
			}
			level_open(++l);
			p++;
			break;
		case ')': {
			if (l == levels) {
				snprintf(why, why_size, "a ')' without its '('");
				return -1;
			}
			bool empty = branch_empty(l) || l->any_branch_empty;
			long nodes = l->nodes + 1;
			l--;
			level_atom(l, nodes, empty);
			p++;
			break;
		}
		case '|':
			l->any_branch_empty = l->any_branch_empty || branch_empty(l);
			l->prefix_empty = true;
			l->have_last = false;
			l->nodes++;
			p++;
			break;
		case '^':
		case '$':
			/* Elsewhere regcomp copies what follows an anchor for
			 * each one: thirty '^', twenty-four "($|^)" and three
			 * "(a|b|c|d){0,255}" took over 1 GB. */
			if (l != levels || (*p == '^' ? l->have_last : p[1] && p[1] != '|')) {
				snprintf(why, why_size,
					 "'%c' only at the start ('^') or the end ('$') of the "
					 "pattern or of one of its alternatives",
					 *p);
				return -1;
			}
			level_atom(l, 1, true);
			p++;
			break;
		case '*':
		case '+':
		case '?':
		case '{':
			if (repeat(l, &p, why, why_size) != 0)
				return -1;
			break;
		default:
			level_atom(l, 1, false);
			p++;
			break;
		}
		if (l->nodes > NODES_MAX) {
			snprintf(why, why_size,
				 "it is over %d nodes once its repetitions are multiplied out",
				 NODES_MAX);
			return -1;
		}
	}
	if (l != levels) {
		snprintf(why, why_size, "a '(' without its ')'");
		return -1;
	}
	return l->nodes;
}

/* The pattern anchored at both ends: the whole number must match. */
static int compile(const char *pattern, regex_t *re)
{
	char anchored[ESC_CARRIER_PATTERN_MAX + 8];

	snprintf(anchored, sizeof(anchored), "^(%s)$", pattern);
	return regcomp(re, anchored, REG_EXTENDED | REG_NOSUB);
}

/* Compiled patterns kept for the process, so that a ship command does not
 * compile its carrier's pattern again (about 10 us for an ordinary one,
 * 45 ms and 26 MB for the costliest pattern_check takes). Keyed by the
 * pattern as configured. An entry, once in the table, is never changed or
 * freed: a check finds its regex_t under the lock and runs it after,
 * alongside other threads' checks (glibc's regexec locks the regex_t it
 * runs, and POSIX makes regexec thread-safe). The table is bounded, in
 * entries and in pattern_check's nodes between them (a rough measure of
 * what they hold); a pattern past either is compiled for each check, as
 * before. What it holds stays reachable from the static table, so leak
 * checkers see no leak. */
enum { MEMO_NODES_MAX = 4 * NODES_MAX };

static struct {
	char pattern[ESC_CARRIER_PATTERN_MAX];
	regex_t *re;
} memo[ESC_TRACKING_PATTERNS_KEPT];
static size_t memo_count;
static long memo_nodes;
static pthread_mutex_t memo_lock = PTHREAD_MUTEX_INITIALIZER;

/* The kept regex_t of pattern, or NULL; under memo_lock. */
static regex_t *memo_find(const char *pattern)
{
	for (size_t i = 0; i < memo_count; i++)
		if (strcmp(memo[i].pattern, pattern) == 0)
			return memo[i].re;
	return NULL;
}

/* Keep re, compiled from pattern (pattern_check's nodes), when there is
 * room; under memo_lock. */
static bool memo_add(const char *pattern, long nodes, regex_t *re)
{
	if (memo_count == ESC_TRACKING_PATTERNS_KEPT || nodes < 0 ||
	    memo_nodes + nodes > MEMO_NODES_MAX)
		return false;
	snprintf(memo[memo_count].pattern, sizeof(memo[memo_count].pattern), "%s", pattern);
	memo[memo_count].re = re;
	memo_count++;
	memo_nodes += nodes;
	return true;
}

/* pattern compiled: a kept one, or one of its own (*owned: the caller
 * regfrees and frees it) when the table has no room; NULL when regcomp
 * fails or memory runs out. */
static regex_t *pattern_compiled(const char *pattern, bool *owned)
{
	regex_t *kept, *re;
	char why[200];
	long nodes;
	bool added;

	*owned = false;
	pthread_mutex_lock(&memo_lock);
	kept = memo_find(pattern);
	pthread_mutex_unlock(&memo_lock);
	if (kept)
		return kept;
	/* Compiled outside the lock, so that other carriers' checks go on
	 * meanwhile; two threads may compile one pattern at once, and the
	 * first to come back keeps it. */
	re = malloc(sizeof(*re));
	if (re == NULL)
		return NULL;
	if (compile(pattern, re) != 0) {
		free(re);
		return NULL;
	}
	nodes = pattern_check(pattern, why, sizeof(why)); /* its weight, outside the lock */
	pthread_mutex_lock(&memo_lock);
	kept = memo_find(pattern);
	added = kept == NULL && memo_add(pattern, nodes, re);
	pthread_mutex_unlock(&memo_lock);
	if (added)
		return re;
	if (kept) {
		regfree(re);
		free(re);
		return kept;
	}
	*owned = true;
	return re;
}

/* The verdict on number for c, whose pattern compiled is re (NULL when
 * c has no pattern). */
static enum esc_tracking_verdict verdict(const struct esc_carrier *c, const regex_t *re,
					 const char *number)
{
	if (re && regexec(re, number, 0, NULL, 0) != 0)
		return ESC_TRACKING_BAD_FORMAT;
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
	char normal[ESC_TRACKING_MAX + 1], why[200];
	regex_t re, *pattern_re;
	int rc = 0, code;

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
	if (pattern_check(pattern, why, sizeof(why)) < 0) {
		esc_set_err(err, err_size,
			    "carrier %s: the pattern is not a POSIX extended regular expression "
			    "escrowd takes (%s): \"%s\"",
			    name, why, pattern);
		return ESC_EINVAL;
	}
	code = compile(pattern, &re);
	if (code == REG_ESPACE || code == REG_ESIZE) {
		/* Not the pattern's fault (memory ran out): regcomp says what. */
		regerror(code, &re, why, sizeof(why));
		esc_set_err(err, err_size,
			    "carrier %s: the pattern \"%s\" could not be compiled: %s", name,
			    pattern, why);
		return ESC_EINVAL;
	}
	if (code != 0) {
		regerror(code, &re, why, sizeof(why));
		esc_set_err(err, err_size,
			    "carrier %s: the pattern \"%s\" is not a POSIX extended regular "
			    "expression: %s",
			    name, pattern, why);
		return ESC_EINVAL;
	}
	/* The examples are checked with this regex_t, not esc_tracking_check's
	 * kept ones: reading a configuration (or a policy version, or the
	 * fuzzer's inputs) keeps nothing. An empty pattern takes any number. */
	pattern_re = *pattern ? &re : NULL;
	if (example && *example) {
		if (esc_tracking_normalize(example, normal, sizeof(normal)) != 0 ||
		    verdict(c, pattern_re, normal) != ESC_TRACKING_VALID) {
			esc_set_err(err, err_size,
				    "carrier %s: the example \"%s\" fails the carrier's own "
				    "pattern or check digit",
				    name, example);
			rc = ESC_EINVAL;
			goto out;
		}
		snprintf(c->example, sizeof(c->example), "%s", normal);
	} else if (SCHEMES[check].example &&
		   verdict(c, pattern_re, SCHEMES[check].example) == ESC_TRACKING_VALID) {
		/* The scheme's own example, when the carrier's pattern takes it. */
		snprintf(c->example, sizeof(c->example), "%s", SCHEMES[check].example);
	}
out:
	regfree(&re);
	return rc;
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
	enum esc_tracking_verdict v;
	regex_t *re;
	bool owned;

	if (c == NULL)
		return ESC_TRACKING_UNCHECKED;
	if (!*c->pattern)
		return verdict(c, NULL, number);
	re = pattern_compiled(c->pattern, &owned);
	if (re == NULL)
		return ESC_TRACKING_BAD_FORMAT; /* esc_carrier_init let none such in */
	v = verdict(c, re, number);
	if (owned) {
		regfree(re);
		free(re);
	}
	return v;
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
	bool ok = n <= ESC_TRACKING_URL_MAX && !strncmp(template_, "https://", 8) && n > 8 && at &&
		  !strstr(at + 1, NUMBER_PLACEHOLDER);

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
