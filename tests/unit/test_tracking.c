/* test_tracking.c - carriers as data (issue 16 item 5). The core
 * (core/tracking.h): the UPU S10 and UPS 1Z check digits on published and
 * corrupted numbers, the normal form, patterns, verdicts and hints. The
 * configuration: carrier.NAME lines and tracking_check. And over HTTP,
 * against the real daemon on each store: a failing number refused with 422
 * and a hint under tracking_check = refuse; taken, flagged on the order and
 * counted once on the seller's score under tracking_check = flag. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "core/policy.h"
#include "core/tracking.h"
#include "support.h"
#include "util/error.h"

/* regcomp, interposed on the C library's: it counts its calls (a kept
 * pattern is compiled once) and, while regcomp_fails is not 0, fails with
 * that code, as glibc's does when memory runs out (REG_ESPACE). Set only
 * while no other thread runs. */
static int (*real_regcomp)(regex_t *, const char *, int);
static atomic_long regcomp_calls;
static int regcomp_fails;

int regcomp(regex_t *restrict re, const char *restrict pattern, int flags)
{
	atomic_fetch_add(&regcomp_calls, 1);
	if (regcomp_fails)
		return regcomp_fails;
	return real_regcomp(re, pattern, flags);
}

static void test_s10_check_digit(void **state)
{
	(void)state;
	/* 1 2 3 4 5 6 7 8 weighted 8 6 4 2 3 5 9 7: 204, mod 11 = 6, 11 - 6 = 5. */
	assert_true(esc_s10_valid("RR123456785GB"));
	assert_false(esc_s10_valid("RR123456784GB"));
	/* 11 - 0 = 11 -> 5: serial 00000000. */
	assert_true(esc_s10_valid("EE000000005IS"));
	/* 11 - 1 = 10 -> 0: serial 00000008 sums 8 * 7 = 56, 56 mod 11 = 1. */
	assert_true(esc_s10_valid("CP000000080DE"));
	assert_false(esc_s10_valid("CP000000081DE"));
	/* A swapped pair of digits is caught. */
	assert_false(esc_s10_valid("RR213456785GB"));
	/* Shape: letters and digits where they belong, 13 characters. */
	assert_false(esc_s10_valid("R1123456785GB"));
	assert_false(esc_s10_valid("RR123456785G1"));
	assert_false(esc_s10_valid("RR12345678GB"));
	assert_false(esc_s10_valid(""));
}

static int s10_check_of(const char *serial)
{
	static const int w[8] = {8, 6, 4, 2, 3, 5, 9, 7};
	int sum = 0, c;

	for (int i = 0; i < 8; i++)
		sum += (serial[i] - '0') * w[i];
	c = 11 - sum % 11;
	return c == 10 ? 0 : c == 11 ? 5 : c;
}

static void test_s10_every_remainder(void **state)
{
	(void)state;
	/* Serials whose sums cover all eleven remainders: each is accepted with
	 * its own digit and refused with each of the other nine. */
	for (int n = 0; n < 200; n++) {
		char serial[9], number[14];

		snprintf(serial, sizeof(serial), "%08d", n * 7919);
		for (int d = 0; d <= 9; d++) {
			snprintf(number, sizeof(number), "LX%s%dFR", serial, d);
			assert_int_equal(esc_s10_valid(number), d == s10_check_of(serial));
		}
	}
}

static void test_ups_check_digit(void **state)
{
	(void)state;
	/* UPS's published sample number. */
	assert_true(esc_ups_1z_valid("1Z999AA10123456784"));
	assert_false(esc_ups_1z_valid("1Z999AA10123456785"));
	/* A changed letter changes the sum. */
	assert_false(esc_ups_1z_valid("1Z999AB10123456784"));
	/* Shape. */
	assert_false(esc_ups_1z_valid("1Y999AA10123456784"));
	assert_false(esc_ups_1z_valid("1Z999AA1012345678"));
	assert_false(esc_ups_1z_valid("1Z999AA1012345678A"));
	assert_false(esc_ups_1z_valid("1Z999aa10123456784"));
}

static void test_normalize(void **state)
{
	(void)state;
	char out[ESC_TRACKING_MAX + 1];
	char long_one[ESC_TRACKING_MAX + 2];

	assert_int_equal(esc_tracking_normalize("1z 999 aa1-0123456784", out, sizeof(out)), 0);
	assert_string_equal(out, "1Z999AA10123456784");
	assert_int_equal(esc_tracking_normalize(" - ", out, sizeof(out)), ESC_EINVAL);
	assert_int_equal(esc_tracking_normalize("RR12/3456785GB", out, sizeof(out)), ESC_EINVAL);
	assert_int_equal(esc_tracking_normalize("RR12\xc3\xa9"
						"3456785GB",
						out, sizeof(out)),
			 ESC_EINVAL);
	memset(long_one, '7', sizeof(long_one) - 1);
	long_one[sizeof(long_one) - 1] = '\0';
	assert_int_equal(esc_tracking_normalize(long_one, out, sizeof(out)), ESC_EINVAL);
	long_one[ESC_TRACKING_MAX] = '\0';
	assert_int_equal(esc_tracking_normalize(long_one, out, sizeof(out)), 0);

	/* What an order keeps: the normal form, or as typed when there is
	 * none. */
	esc_tracking_kept("rr 123 456 785-is", out, sizeof(out));
	assert_string_equal(out, "RR123456785IS");
	esc_tracking_kept("RR12/3456785GB", out, sizeof(out));
	assert_string_equal(out, "RR12/3456785GB");
	esc_tracking_kept(" - ", out, sizeof(out));
	assert_string_equal(out, " - ");
}

static void test_carriers_and_verdicts(void **state)
{
	(void)state;
	struct esc_carrier t[3];
	char err[200], hint[200];

	assert_int_equal(esc_carrier_init(&t[0], "posturinn", "[A-Z]{2}[0-9]{9}IS", ESC_CHECK_S10,
					  NULL, err, sizeof(err)),
			 0);
	assert_int_equal(esc_carrier_init(&t[1], "ups", "1Z[0-9A-Z]{16}", ESC_CHECK_UPS_1Z, "", err,
					  sizeof(err)),
			 0);
	assert_int_equal(esc_carrier_init(&t[2], "dhl", "[0-9]{10,11}", ESC_CHECK_NONE,
					  "1234567890", err, sizeof(err)),
			 0);

	assert_ptr_equal(esc_carrier_find(t, 3, "UPS"), &t[1]);
	assert_null(esc_carrier_find(t, 3, "fedex"));

	assert_int_equal(esc_tracking_check(&t[0], "EE000000005IS"), ESC_TRACKING_VALID);
	assert_int_equal(esc_tracking_check(&t[0], "EE000000006IS"), ESC_TRACKING_BAD_CHECK);
	/* Valid S10 of another country: the carrier's pattern wants IS. */
	assert_int_equal(esc_tracking_check(&t[0], "RR123456785GB"), ESC_TRACKING_BAD_FORMAT);
	assert_int_equal(esc_tracking_check(&t[1], "1Z999AA10123456784"), ESC_TRACKING_VALID);
	assert_int_equal(esc_tracking_check(&t[1], "1Z999AA10123456780"), ESC_TRACKING_BAD_CHECK);
	assert_int_equal(esc_tracking_check(&t[1], "12345"), ESC_TRACKING_BAD_FORMAT);
	assert_int_equal(esc_tracking_check(&t[2], "12345678901"), ESC_TRACKING_VALID);
	assert_int_equal(esc_tracking_check(&t[2], "123456789"), ESC_TRACKING_BAD_FORMAT);
	/* The pattern is anchored: a longer number with a match inside fails. */
	assert_int_equal(esc_tracking_check(&t[2], "1234567890123"), ESC_TRACKING_BAD_FORMAT);
	assert_int_equal(esc_tracking_check(NULL, "anything"), ESC_TRACKING_UNCHECKED);

	esc_tracking_hint(&t[1], hint, sizeof(hint));
	assert_string_equal(hint, "ups numbers are 1Z, fifteen letters or digits and a check "
				  "digit, like 1Z999AA10123456784.");
	esc_tracking_hint(&t[2], hint, sizeof(hint));
	assert_string_equal(hint, "dhl numbers look like 1234567890.");
}

static void test_bad_carriers_say_why(void **state)
{
	(void)state;
	struct esc_carrier c;
	char err[400];

	assert_int_equal(
		esc_carrier_init(&c, "Bad Name", "", ESC_CHECK_NONE, NULL, err, sizeof(err)),
		ESC_EINVAL);
	assert_non_null(strstr(err, "a-z, 0-9"));
	assert_int_equal(
		esc_carrier_init(&c, "x", "([0-9]", ESC_CHECK_NONE, NULL, err, sizeof(err)),
		ESC_EINVAL);
	assert_non_null(strstr(err, "regular expression"));
	/* What would take regcomp gigabytes, minutes or its stack is refused
	 * first, with why: repetitions multiplied out past the nodes' limit, a
	 * count over 255, a repetition of what can match nothing (however it
	 * is written), a ')' that would close the anchors' group, '^' or '$'
	 * inside an alternative. */
	static const struct {
		const char *pattern, *why;
	} refused[] = {
		{"((([0-9]{100}){100}){100})", "over 10000 nodes"},
		{"(a{,200}){,200}", "can match nothing"},
		{"(a{1,200}){200}", "over 10000 nodes"},
		{"q++++++++++++++++++++{8}IS", "'+' repeats a repetition"},
		{"[0-9]{300}", "at most 255"},
		{"a{0,255}{0,255}", "'{' repeats a repetition"},
		{"[0-9]*?", "'?' repeats a repetition, which POSIX leaves undefined"},
		{"1Z[0-9]?*", "'*' repeats a repetition"},
		/* A repetition directly after another, whether or not the first
		 * can match nothing: POSIX leaves it undefined, and glibc reads
		 * "+?" as optional, so "[0-9]+?" takes an empty number. */
		{"[0-9]+?", "'?' repeats a repetition, which POSIX leaves undefined ([0-9]+? is "
			    "([0-9]+)?, not a lazy +): write one, [0-9]{2,6}, or group the first, "
			    "([0-9]{2}){3}"},
		{"[0-9]{2}?", "'?' repeats a repetition"},
		{"a+*", "'*' repeats a repetition"},
		{"a{2}{3}", "'{' repeats a repetition"},
		{"1Z[0-9]++", "'+' repeats a repetition"},
		{"(1Z)+{2}", "'{' repeats a repetition"},
		{"[+*]\\+++", "'+' repeats a repetition"},
		{"([0-9]*)?", "'?' repeats what can match nothing"},
		{"((){255}){255}", "can match nothing"},
		{"(()*){30}", "can match nothing"},
		{"((a|)*){30}", "can match nothing"},
		{"([0-9]?){5}", "'{' repeats what can match nothing"},
		{"(a?b?){3}", "can match nothing"},
		{"(x|y?)+", "can match nothing"},
		{"(^){9}", "'^' only at the start"},
		{"^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^($|^)($|^)(a|b|c|d){0,255}",
		 "'^' only at the start"},
		{"$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$(^|$)(^|$)", "'$' only at the start"},
		{"1Z$[0-9]{16}", "'$' only at the start"},
		{")+++++++++++", "')' without its '('"},
		{"1)(([0-9]{100}){100}", "')' without its '('"},
		{"(((((((((((((((((1)))))))))))))))))", "nested at most 15"},
		{"[0-9]{,", "'{' is not followed by a count"},
		{"a{ 5}", "'{' is not followed by a count"},
		{"[0-9]{5,3}", "counts down"},
		{"*1", "'*' repeats nothing"},
		{"[[:digit:]", "'[' without its ']'"},
		{"[\\d", "'[' without its ']'"},
		{"[\\d]{10}",
		 "a backslash inside brackets matches a backslash: write [0-9], not [\\d]"},
		{"1Z[A-Z\\0-9]{16}", "a backslash inside brackets"},
		{"[]\\]", "a backslash inside brackets"},
		{"[[:digit:]\\.]{4}", "a backslash inside brackets"},
		{"(1Z)\\1", "\\1: a backslash"},
		{"\\<1Z", "\\<: a backslash"},
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		assert_int_equal(esc_carrier_init(&c, "x", refused[i].pattern, ESC_CHECK_NONE, NULL,
						  err, sizeof(err)),
				 ESC_EINVAL);
		if (!strstr(err, refused[i].why))
			fail_msg("%s: \"%s\" does not say \"%s\"", refused[i].pattern, err,
				 refused[i].why);
	}
	/* Ordinary patterns pass: alternatives, ranges, escapes, a group
	 * repeated, classes, an optional prefix, {,m} and {n,}. */
	assert_int_equal(esc_carrier_init(&c, "x", "JD[0-9]{16,18}|[0-9]{10}|\\([A-Z]+\\)",
					  ESC_CHECK_NONE, NULL, err, sizeof(err)),
			 0);
	assert_int_equal(esc_carrier_init(&c, "x", "(1Z[0-9A-Z]{16}){1,3}", ESC_CHECK_NONE, NULL,
					  err, sizeof(err)),
			 0);
	static const char *const taken[] = {
		"(JD)?[0-9]{10}",
		"[[:digit:]]{5}",
		"[[.-.]A-Z]{2}",
		"1Z[0-9]{,16}",
		"[0-9]{10,}",
		"(a?b){3}",
		"^1Z[0-9]{16}$|^[0-9]{10}$",
		"(x|y?z)+",
		"\\.[0-9]+",
		"(a|b|c|d|e|f|g|h|i|j){0,255}",
		/* A repetition character escaped or in brackets is a
		 * character, so a repetition may follow it. */
		"[+*]+",
		"\\+*",
		"A\\*?[0-9]{3}",
		"[?]{2}",
		"([0-9]{2}){3}",
		"([0-9]+)?",
	};
	for (size_t i = 0; i < sizeof(taken) / sizeof(taken[0]); i++)
		if (esc_carrier_init(&c, "x", taken[i], ESC_CHECK_NONE, NULL, err, sizeof(err)) !=
		    0)
			fail_msg("%s: %s", taken[i], err);
	/* An example that fails the carrier's own check is a mistake in the
	 * configuration, caught at start-up. */
	assert_int_equal(esc_carrier_init(&c, "ups", "1Z[0-9A-Z]{16}", ESC_CHECK_UPS_1Z,
					  "1Z999AA10123456785", err, sizeof(err)),
			 ESC_EINVAL);
	assert_non_null(strstr(err, "example"));
}

/* A check compiles its carrier's pattern the first time only: a second
 * check of a number gives the same verdict and compiles nothing, and a
 * kept pattern is still checked while regcomp would fail. */
static void test_checks_keep_their_pattern(void **state)
{
	(void)state;
	static const struct {
		const char *pattern;
		enum esc_check_scheme check;
		const char *number;
		enum esc_tracking_verdict verdict;
	} cases[] = {
		{"TW[0-9]{8}", ESC_CHECK_NONE, "TW12345678", ESC_TRACKING_VALID},
		{"TX[0-9]{8}", ESC_CHECK_NONE, "TX1234567", ESC_TRACKING_BAD_FORMAT},
		{"1Z[0-9A-Z]{16}|TY", ESC_CHECK_UPS_1Z, "1Z999AA10123456784", ESC_TRACKING_VALID},
		{"1Z[0-9A-Z]{16}|TZ", ESC_CHECK_UPS_1Z, "1Z999AA10123456785",
		 ESC_TRACKING_BAD_CHECK},
		{"[A-Z]{2}[0-9]{9}(IS|TW)", ESC_CHECK_S10, "EE000000005IS", ESC_TRACKING_VALID},
		{"", ESC_CHECK_S10, "EE000000006IS", ESC_TRACKING_BAD_CHECK},
	};
	struct esc_carrier c;
	char err[300];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(esc_carrier_init(&c, "x", cases[i].pattern, cases[i].check, NULL,
						  err, sizeof(err)),
				 0);
		long before = atomic_load(&regcomp_calls);
		assert_int_equal(esc_tracking_check(&c, cases[i].number), cases[i].verdict);
		assert_int_equal(atomic_load(&regcomp_calls) - before, *cases[i].pattern ? 1 : 0);
		before = atomic_load(&regcomp_calls);
		assert_int_equal(esc_tracking_check(&c, cases[i].number), cases[i].verdict);
		assert_int_equal(atomic_load(&regcomp_calls), before);
		regcomp_fails = REG_ESPACE;
		assert_int_equal(esc_tracking_check(&c, cases[i].number), cases[i].verdict);
		regcomp_fails = 0;
	}
}

/* When regcomp fails for want of memory, the refusal says so in
 * regerror's words, not that the pattern is not one escrowd takes; a check
 * of a pattern not kept is then a bad format, as before. */
static void test_regcomp_out_of_memory(void **state)
{
	(void)state;
	static const int codes[] = {REG_ESPACE, REG_ESIZE};
	struct esc_carrier c;
	char err[300], words[100];

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		regerror(codes[i], NULL, words, sizeof(words));
		regcomp_fails = codes[i];
		assert_int_equal(esc_carrier_init(&c, "oom", "OM[0-9]{8}", ESC_CHECK_NONE, NULL,
						  err, sizeof(err)),
				 ESC_EINVAL);
		regcomp_fails = 0;
		if (strncmp(err, "carrier oom: ", 13) != 0 || !strstr(err, words) ||
		    strstr(err, "not a POSIX"))
			fail_msg("%s: \"%s\" does not say \"%s\"", words, err, words);
	}
	assert_int_equal(
		esc_carrier_init(&c, "oom", "OM[0-9]{8}", ESC_CHECK_NONE, NULL, err, sizeof(err)),
		0);
	regcomp_fails = REG_ESPACE;
	assert_int_equal(esc_tracking_check(&c, "OM12345678"), ESC_TRACKING_BAD_FORMAT);
	regcomp_fails = 0;
	/* Nothing was kept of the failure. */
	assert_int_equal(esc_tracking_check(&c, "OM12345678"), ESC_TRACKING_VALID);
	/* A pattern regcomp refuses is still said not to be one, and why, in
	 * regerror's words. */
	assert_int_equal(esc_carrier_init(&c, "x", "[z-a]", ESC_CHECK_NONE, NULL, err, sizeof(err)),
			 ESC_EINVAL);
	regerror(REG_ERANGE, NULL, words, sizeof(words));
	if (!strstr(err, "is not a POSIX extended regular expression: ") || !strstr(err, words))
		fail_msg("\"%s\" does not say \"%s\"", err, words);
}

/* Checks from several threads at once, on patterns kept and new (each
 * thread races the others to compile and keep them): each verdict is the
 * one a check on its own gives. ThreadSanitizer's build runs it too. */
enum { CHECK_THREADS = 8, CHECKS_EACH = 400 };

static const struct {
	const char *name, *pattern;
	enum esc_check_scheme check;
	const char *number;
	enum esc_tracking_verdict verdict;
} THREADED[] = {
	{"ups", "1Z[0-9A-Z]{16}", ESC_CHECK_UPS_1Z, "1Z999AA10123456784", ESC_TRACKING_VALID},
	{"ups", "1Z[0-9A-Z]{16}", ESC_CHECK_UPS_1Z, "1Z999AA10123456780", ESC_TRACKING_BAD_CHECK},
	{"t1", "TH1[0-9]{6}", ESC_CHECK_NONE, "TH1123456", ESC_TRACKING_VALID},
	{"t1", "TH1[0-9]{6}", ESC_CHECK_NONE, "TH112345", ESC_TRACKING_BAD_FORMAT},
	{"t2", "TH2([0-9]{3}|[A-Z]{3}){2}", ESC_CHECK_NONE, "TH2123ABC", ESC_TRACKING_VALID},
	{"t3", "[A-Z]{2}[0-9]{9}TH", ESC_CHECK_S10, "RR123456785TH", ESC_TRACKING_VALID},
	{"t3", "[A-Z]{2}[0-9]{9}TH", ESC_CHECK_S10, "RR123456785GB", ESC_TRACKING_BAD_FORMAT},
	{"t4", "(a|b|c|d){0,255}TH", ESC_CHECK_NONE, "TH", ESC_TRACKING_VALID},
};

static void *check_many(void *arg)
{
	struct esc_carrier c[sizeof(THREADED) / sizeof(THREADED[0])];
	size_t n = sizeof(THREADED) / sizeof(THREADED[0]), wrong = 0;
	char err[300];

	for (size_t i = 0; i < n; i++)
		if (esc_carrier_init(&c[i], THREADED[i].name, THREADED[i].pattern,
				     THREADED[i].check, NULL, err, sizeof(err)) != 0)
			wrong++;
	for (int k = 0; k < CHECKS_EACH; k++) {
		size_t i = ((size_t)k + (size_t)(uintptr_t)arg) % n;
		if (esc_tracking_check(&c[i], THREADED[i].number) != THREADED[i].verdict)
			wrong++;
	}
	return (void *)(uintptr_t)wrong;
}

static void test_checks_from_threads(void **state)
{
	(void)state;
	pthread_t t[CHECK_THREADS];

	for (uintptr_t i = 0; i < CHECK_THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, check_many, (void *)i), 0);
	for (int i = 0; i < CHECK_THREADS; i++) {
		void *wrong;
		assert_int_equal(pthread_join(t[i], &wrong), 0);
		assert_int_equal((uintptr_t)wrong, 0);
	}
}

/* Past ESC_TRACKING_PATTERNS_KEPT patterns, checks are as right as before,
 * each compiling its own pattern. Last of the core tests: it fills the
 * table. */
static void test_patterns_past_the_kept(void **state)
{
	(void)state;
	struct esc_carrier c;
	char pattern[40], number[40], err[300];

	for (int n = 1; n <= 2 * ESC_TRACKING_PATTERNS_KEPT; n++) {
		snprintf(pattern, sizeof(pattern), "K[0-9]{%d}", n);
		assert_int_equal(
			esc_carrier_init(&c, "k", pattern, ESC_CHECK_NONE, NULL, err, sizeof(err)),
			0);
		snprintf(number, sizeof(number), "K%0*d", n > 9 ? 9 : n, 0);
		for (int twice = 0; twice < 2; twice++) {
			assert_int_equal(esc_tracking_check(&c, number),
					 n <= 9 ? ESC_TRACKING_VALID : ESC_TRACKING_BAD_FORMAT);
			assert_int_equal(esc_tracking_check(&c, "K"), ESC_TRACKING_BAD_FORMAT);
		}
	}
	/* The table is full now: a new pattern is compiled for each check. */
	assert_int_equal(
		esc_carrier_init(&c, "k", "KN[0-9]+", ESC_CHECK_NONE, NULL, err, sizeof(err)), 0);
	for (int i = 0; i < 3; i++) {
		long before = atomic_load(&regcomp_calls);
		assert_int_equal(esc_tracking_check(&c, "KN12"), ESC_TRACKING_VALID);
		assert_int_equal(atomic_load(&regcomp_calls) - before, 1);
	}
}

static void test_scheme_names(void **state)
{
	(void)state;
	enum esc_check_scheme s;

	assert_true(esc_check_scheme_parse("s10", &s));
	assert_int_equal(s, ESC_CHECK_S10);
	assert_true(esc_check_scheme_parse("ups_1z", &s));
	assert_string_equal(esc_check_scheme_name(s), "ups_1z");
	assert_false(esc_check_scheme_parse("luhn", &s));
}

static void test_policy_carriers(void **state)
{
	(void)state;
	struct esc_policy p;
	char err[300];

	esc_policy_default(&p);
	assert_int_equal(p.carriers_count, 0);
	assert_int_equal(p.tracking_check, ESC_TRACKING_REFUSE);
	assert_int_equal(esc_policy_parse(&p,
					  "carrier.ups = ups_1z 1Z[0-9A-Z]{16}\n"
					  "carrier.dhl = none [0-9]{10,11} 1234567890\n"
					  "tracking_check = flag\n",
					  err, sizeof err),
			 0);
	assert_int_equal(p.carriers_count, 2);
	assert_string_equal(p.carriers[0].name, "ups");
	assert_int_equal(p.carriers[0].check, ESC_CHECK_UPS_1Z);
	assert_string_equal(p.carriers[0].example, "1Z999AA10123456784");
	assert_string_equal(p.carriers[1].pattern, "[0-9]{10,11}");
	assert_int_equal(p.tracking_check, ESC_TRACKING_FLAG);
	/* A later line replaces a carrier in place; clear empties the table. */
	assert_int_equal(esc_policy_parse(&p, "carrier.ups = none 1Z.*\n", err, sizeof err), 0);
	assert_int_equal(p.carriers_count, 2);
	assert_int_equal(p.carriers[0].check, ESC_CHECK_NONE);
	assert_int_equal(esc_policy_parse(&p, "carriers = clear\n", err, sizeof err), 0);
	assert_int_equal(p.carriers_count, 0);

	/* Mistakes are refused with the line and why, leaving p as it was. */
	static const struct {
		const char *text, *why;
	} bad[] = {
		{"carrier.ups = ups_1z\n", "line 1: carrier.ups: expected 'SCHEME PATTERN"},
		{"carrier.ups = luhn [0-9]+\n", "check scheme 'luhn' is not s10, ups_1z or none"},
		{"carrier.ups = none ([0-9]\n", "not a POSIX extended regular expression"},
		{"carrier.dhl = none [\\d]{10}\n", "write [0-9], not [\\d]"},
		{"carrier.UPS = none [0-9]+\n", "a-z, 0-9, _ and -"},
		{"carrier.ups = ups_1z 1Z[0-9A-Z]{16} 1Z999AA10123456785\n",
		 "fails the carrier's own"},
		{"carrier.ups = none a b c\n", "expected 'SCHEME PATTERN [EXAMPLE]'"},
		{"tracking_check = warn\n", "line 1: tracking_check: 'warn' is not refuse or flag"},
		{"carriers = all\n", "the only value is 'clear'"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		assert_int_equal(esc_policy_parse(&p, bad[i].text, err, sizeof err), ESC_EINVAL);
		if (!strstr(err, bad[i].why))
			fail_msg("%s: said \"%s\", not \"%s\"", bad[i].text, err, bad[i].why);
	}
	assert_int_equal(p.carriers_count, 0);
}

/* ---- over HTTP ---- */

#define KEY "tracking-operator-key-01"

static struct esc_test_daemon d;

struct party {
	char id[64], token[80];
};

static struct party user(const char *role)
{
	static unsigned serial;
	struct party p;
	char body[300], email[80];
	snprintf(email, sizeof email, "%s%u@tracking.test", role, ++serial);
	snprintf(body, sizeof body,
		 "{\"role\":\"%s\",\"name\":\"%s %u\",\"email\":\"%s\","
		 "\"password\":\"password-1\"}",
		 role, role, serial, email);
	json_t *j = esc_test_must(d.port, "POST", "/v1/users", KEY, body, 201);
	snprintf(p.id, sizeof p.id, "%s", esc_test_str(j, "id"));
	json_decref(j);
	snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"password-1\"}", email);
	j = esc_test_must(d.port, "POST", "/v1/sessions", "", body, 201);
	snprintf(p.token, sizeof p.token, "%s", esc_test_str(j, "token"));
	json_decref(j);
	return p;
}

/* A paid order from buyer to seller, awaiting shipment. */
static void paid_order(const struct party *buyer, const struct party *seller, char id[64])
{
	char body[400], path[128];
	snprintf(body, sizeof body,
		 "{\"buyer_id\":\"%s\",\"seller_id\":\"%s\",\"currency\":\"EUR\","
		 "\"items\":[{\"title\":\"Lamp\",\"quantity\":1,\"unit_price\":2900}]}",
		 buyer->id, seller->id);
	json_t *j = esc_test_must(d.port, "POST", "/v1/orders", KEY, body, 201);
	snprintf(id, 64, "%s", esc_test_str(j, "id"));
	json_decref(j);
	snprintf(path, sizeof path, "/v1/orders/%s/pay", id);
	json_decref(esc_test_must(d.port, "POST", path, KEY,
				  "{\"amount\":2900,\"payment_method\":\"card\"}", 200));
}

static struct esc_test_reply ship(const struct party *seller, const char *id, const char *carrier,
				  const char *number)
{
	char body[400], path[128];
	snprintf(path, sizeof path, "/v1/orders/%s/ship", id);
	snprintf(body, sizeof body, "{\"carrier\":\"%s\",\"tracking_number\":\"%s\"}", carrier,
		 number);
	return esc_test_call(d.port, "POST", path, seller->token, body);
}

static const char *shipment_check(json_t *order)
{
	return esc_test_str(json_object_get(order, "shipment"), "tracking_check");
}

static void start(const char *config_text)
{
	esc_test_tmpdir(d.dir, sizeof d.dir);
	esc_test_store(d.db, sizeof d.db, d.dir);
	esc_test_daemon_config(&d, config_text);
	esc_test_daemon_start(&d, KEY);
}

static void stop(void)
{
	esc_test_daemon_stop(&d);
	esc_test_store_drop(d.db);
	esc_test_rmdir(d.dir);
}

static const char CARRIERS[] = "carrier.ups = ups_1z 1Z[0-9A-Z]{16}\n"
			       "carrier.posturinn = s10 [A-Z]{2}[0-9]{9}IS\n";

static void test_http_refuse(void **state)
{
	(void)state;
	char id[64], path[128];
	start(CARRIERS);
	struct party buyer = user("buyer"), seller = user("seller");
	paid_order(&buyer, &seller, id);

	/* One digit off: 422 with UPS's shape and example, nothing written. */
	struct esc_test_reply r = ship(&seller, id, "UPS", "1Z999AA10123456785");
	assert_int_equal(r.status, 422);
	json_t *err = json_object_get(r.json, "error");
	assert_string_equal(esc_test_str(err, "code"), "invalid_tracking_number");
	assert_non_null(strstr(esc_test_str(err, "message"), "check digit is wrong"));
	assert_string_equal(esc_test_str(err, "hint"),
			    "ups numbers are 1Z, fifteen letters or digits and a check digit, like "
			    "1Z999AA10123456784.");
	esc_test_reply_drop(&r);
	snprintf(path, sizeof path, "/v1/orders/%s", id);
	json_t *o = esc_test_must(d.port, "GET", path, KEY, NULL, 200);
	assert_string_equal(esc_test_str(o, "status"), "awaiting_shipment");
	json_decref(o);

	/* Not the carrier's shape at all. */
	r = ship(&seller, id, "posturinn", "RR123IS");
	assert_int_equal(r.status, 422);
	assert_non_null(strstr(esc_test_str(json_object_get(r.json, "error"), "message"),
			       "not a number of carrier posturinn"));
	esc_test_reply_drop(&r);

	/* The same number as a person types it: spaces, lower case. */
	r = ship(&seller, id, "ups", "1z 999 aa1 0123456784");
	assert_int_equal(r.status, 200);
	assert_string_equal(shipment_check(r.json), "valid");
	assert_string_equal(esc_test_str(r.json, "status"), "shipped");
	esc_test_reply_drop(&r);

	/* A carrier the configuration does not list: taken, unchecked. */
	paid_order(&buyer, &seller, id);
	r = ship(&seller, id, "DHL", "JD0146000034");
	assert_int_equal(r.status, 200);
	assert_string_equal(shipment_check(r.json), "unchecked");
	esc_test_reply_drop(&r);
	stop();
}

static const char *shipment_number(json_t *order)
{
	return esc_test_str(json_object_get(order, "shipment"), "tracking_number");
}

/* A number is kept and shown in its normal form, whatever the carrier; one
 * with no normal form as typed. Its length: at most 64 characters, said
 * so; an empty one is required. */
static void test_http_normal_form(void **state)
{
	(void)state;
	char id[64], path[128], long_one[ESC_TRACKING_MAX + 2];
	start(CARRIERS);
	struct party buyer = user("buyer"), seller = user("seller");

	const struct {
		const char *carrier, *typed, *kept, *check;
	} cases[] = {
		{"ups", "1z 999 aa1-0123456784", "1Z999AA10123456784", "valid"},
		{"DHL", "jd 0146-000034", "JD0146000034", "unchecked"},
		{"DHL", "JD0146/000034", "JD0146/000034", "unchecked"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		paid_order(&buyer, &seller, id);
		struct esc_test_reply r = ship(&seller, id, cases[i].carrier, cases[i].typed);
		assert_int_equal(r.status, 200);
		assert_string_equal(shipment_number(r.json), cases[i].kept);
		assert_string_equal(shipment_check(r.json), cases[i].check);
		esc_test_reply_drop(&r);
		snprintf(path, sizeof path, "/v1/orders/%s", id);
		json_t *o = esc_test_must(d.port, "GET", path, buyer.token, NULL, 200);
		assert_string_equal(shipment_number(o), cases[i].kept);
		json_decref(o);
	}

	/* 65 characters: refused, saying the limit; 64 are taken. */
	paid_order(&buyer, &seller, id);
	memset(long_one, '7', sizeof long_one - 1);
	long_one[sizeof long_one - 1] = '\0';
	struct esc_test_reply r = ship(&seller, id, "DHL", long_one);
	assert_int_equal(r.status, 400);
	assert_string_equal(esc_test_str(json_object_get(r.json, "error"), "message"),
			    "tracking_number is at most 64 characters");
	esc_test_reply_drop(&r);
	r = ship(&seller, id, "DHL", "");
	assert_int_equal(r.status, 400);
	assert_string_equal(esc_test_str(json_object_get(r.json, "error"), "message"),
			    "tracking_number is required");
	esc_test_reply_drop(&r);
	long_one[ESC_TRACKING_MAX] = '\0';
	r = ship(&seller, id, "DHL", long_one);
	assert_int_equal(r.status, 200);
	assert_string_equal(shipment_number(r.json), long_one);
	esc_test_reply_drop(&r);
	stop();
}

static int invalid_tracking_count(const char *seller_id)
{
	char path[128];
	snprintf(path, sizeof path, "/v1/users/%s/reputation", seller_id);
	json_t *j = esc_test_must(d.port, "GET", path, KEY, NULL, 200);
	int n = (int)json_integer_value(
		json_object_get(json_object_get(j, "counts"), "invalid_tracking_numbers"));
	json_decref(j);
	return n;
}

static void test_http_flag(void **state)
{
	(void)state;
	char id[64], path[128], body[300];
	char config[400];
	snprintf(config, sizeof config, "%stracking_check = flag\n", CARRIERS);
	start(config);
	struct party buyer = user("buyer"), seller = user("seller");
	paid_order(&buyer, &seller, id);
	assert_int_equal(invalid_tracking_count(seller.id), 0);

	/* RR12345678 5 IS is valid: 4 is taken and flagged. */
	struct esc_test_reply r = ship(&seller, id, "Posturinn", "RR123456784IS");
	assert_int_equal(r.status, 200);
	assert_string_equal(shipment_check(r.json), "invalid_check_digit");
	esc_test_reply_drop(&r);
	assert_int_equal(invalid_tracking_count(seller.id), 1);

	/* The buyer may open the invalid_tracking dispute at once; the seller
	 * gives in, and the number is still counted once. */
	snprintf(path, sizeof path, "/v1/orders/%s/disputes", id);
	json_t *dispute = esc_test_must(d.port, "POST", path, buyer.token,
					"{\"ground\":\"invalid_tracking\",\"outcome\":"
					"\"refund_only\",\"amount\":2900,\"description\":"
					"\"The number is not a real one.\"}",
					201);
	snprintf(path, sizeof path, "/v1/disputes/%s/accept", esc_test_str(dispute, "id"));
	json_decref(dispute);
	json_t *after = esc_test_must(d.port, "POST", path, seller.token, "{}", 200);
	assert_string_equal(esc_test_str(after, "status"), "resolved");
	json_decref(after);
	assert_int_equal(invalid_tracking_count(seller.id), 1);

	/* A valid number is not flagged. */
	paid_order(&buyer, &seller, id);
	snprintf(body, sizeof body, "RR123456785IS");
	r = ship(&seller, id, "posturinn", body);
	assert_int_equal(r.status, 200);
	assert_string_equal(shipment_check(r.json), "valid");
	esc_test_reply_drop(&r);
	assert_int_equal(invalid_tracking_count(seller.id), 1);
	stop();
}

static int http_setup(void **state)
{
	(void)state;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return 0;
}

static int http_teardown(void **state)
{
	(void)state;
	curl_global_cleanup();
	return 0;
}

int main(void)
{
	esc_test_store_or_skip("tracking");
	*(void **)&real_regcomp = dlsym(RTLD_NEXT, "regcomp");
	if (real_regcomp == NULL)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_s10_check_digit),
		cmocka_unit_test(test_s10_every_remainder),
		cmocka_unit_test(test_ups_check_digit),
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_carriers_and_verdicts),
		cmocka_unit_test(test_bad_carriers_say_why),
		cmocka_unit_test(test_scheme_names),
		cmocka_unit_test(test_policy_carriers),
		cmocka_unit_test(test_checks_keep_their_pattern),
		cmocka_unit_test(test_regcomp_out_of_memory),
		cmocka_unit_test(test_checks_from_threads),
		cmocka_unit_test(test_patterns_past_the_kept),
	};
	const struct CMUnitTest http[] = {
		cmocka_unit_test(test_http_refuse),
		cmocka_unit_test(test_http_flag),
		cmocka_unit_test(test_http_normal_form),
	};
	int failed = cmocka_run_group_tests_name("core", tests, NULL, NULL);
	return failed + cmocka_run_group_tests_name("http", http, http_setup, http_teardown);
}
