/* test_timefmt.c - RFC 3339 times (SPEC §8: all times UTC, RFC 3339). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "support.h"
#include "util/error.h"
#include "util/timefmt.h"

static void test_format_is_utc_with_milliseconds(void **state)
{
	char s[ESC_TIME_SIZE];
	(void)state;
	esc_time_format(ESC_TEST_T0 + 123, s);
	assert_string_equal(s, "2026-01-05T12:00:00.123Z");
	esc_time_format(0, s);
	assert_string_equal(s, "1970-01-01T00:00:00.000Z");
}

static void test_format_handles_leap_days(void **state)
{
	char s[ESC_TIME_SIZE];
	(void)state;
	esc_time_format(INT64_C(1709164800000), s); /* 2024-02-29 */
	assert_string_equal(s, "2024-02-29T00:00:00.000Z");
}

static void test_parse_round_trips_format(void **state)
{
	char s[ESC_TIME_SIZE];
	int64_t ms = 0;
	(void)state;
	for (int64_t t = 0; t < INT64_C(4102444800000); t += INT64_C(86400000) * 97 + 12345) {
		esc_time_format(t, s);
		assert_int_equal(esc_time_parse(s, &ms), 0);
		assert_true(ms == t);
	}
}

static void test_parse_takes_offsets_and_no_fraction(void **state)
{
	int64_t ms = 0;
	(void)state;
	assert_int_equal(esc_time_parse("2026-01-05T13:00:00+01:00", &ms), 0);
	assert_true(ms == ESC_TEST_T0);
	assert_int_equal(esc_time_parse("2026-01-05T12:00:00.5Z", &ms), 0);
	assert_true(ms == ESC_TEST_T0 + 500);
}

static void test_parse_refuses_malformed_times(void **state)
{
	static const char *const bad[] = {
		"",
		"2026-01-05",
		"2026-01-05T12:00:00",
		"2026-13-05T12:00:00Z",
		"2026-01-05T25:00:00Z",
		"2026-01-05T12:00:00.Z",
		"2026-01-05T12:00:00Zjunk",
		"2026-01-05 12:00:00Z",
		"2026-01-05T12:00:00+0100",
	};
	int64_t ms = 0;
	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(esc_time_parse(bad[i], &ms), ESC_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_is_utc_with_milliseconds),
		cmocka_unit_test(test_format_handles_leap_days),
		cmocka_unit_test(test_parse_round_trips_format),
		cmocka_unit_test(test_parse_takes_offsets_and_no_fraction),
		cmocka_unit_test(test_parse_refuses_malformed_times),
	};
	return cmocka_run_group_tests_name("timefmt", tests, NULL, NULL);
}
