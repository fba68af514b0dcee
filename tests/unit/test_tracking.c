/* test_tracking.c - carriers as data (core/tracking.h): the UPU S10 and
 * UPS 1Z check digits on published and corrupted numbers, the normal form,
 * patterns, the verdicts and the hints. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/tracking.h"
#include "util/error.h"

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
	char err[200];

	assert_int_equal(
		esc_carrier_init(&c, "Bad Name", "", ESC_CHECK_NONE, NULL, err, sizeof(err)),
		ESC_EINVAL);
	assert_non_null(strstr(err, "a-z, 0-9"));
	assert_int_equal(
		esc_carrier_init(&c, "x", "([0-9]", ESC_CHECK_NONE, NULL, err, sizeof(err)),
		ESC_EINVAL);
	assert_non_null(strstr(err, "regular expression"));
	/* An example that fails the carrier's own check is a mistake in the
	 * configuration, caught at start-up. */
	assert_int_equal(esc_carrier_init(&c, "ups", "1Z[0-9A-Z]{16}", ESC_CHECK_UPS_1Z,
					  "1Z999AA10123456785", err, sizeof(err)),
			 ESC_EINVAL);
	assert_non_null(strstr(err, "example"));
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_s10_check_digit),
		cmocka_unit_test(test_s10_every_remainder),
		cmocka_unit_test(test_ups_check_digit),
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_carriers_and_verdicts),
		cmocka_unit_test(test_bad_carriers_say_why),
		cmocka_unit_test(test_scheme_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
