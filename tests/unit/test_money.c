/* test_money.c - integer money: overflow at the int64 edges, the half-even
 * fee of SPEC §4, amount and currency validity. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/money.h"
#include "util/error.h"

/* A value no function under test would produce, to show *out untouched. */
#define UNTOUCHED INT64_C(-42)

static void test_add_sums_two_amounts(void **state)
{
	(void)state;
	int64_t out = UNTOUCHED;
	assert_int_equal(esc_money_add(1250, 750, &out), 0);
	assert_int_equal(out, 2000);
}

static void test_add_reaches_int64_max_exactly(void **state)
{
	(void)state;
	int64_t out = UNTOUCHED;
	assert_int_equal(esc_money_add(INT64_MAX - 1, 1, &out), 0);
	assert_true(out == INT64_MAX);
}

static void test_add_past_int64_max_fails_and_leaves_out(void **state)
{
	(void)state;
	int64_t out = UNTOUCHED;
	assert_int_equal(esc_money_add(INT64_MAX, 1, &out), ESC_EINVAL);
	assert_int_equal(out, UNTOUCHED);
}

static void test_add_past_int64_min_fails(void **state)
{
	(void)state;
	int64_t out = UNTOUCHED;
	assert_int_equal(esc_money_add(INT64_MIN, -1, &out), ESC_EINVAL);
	assert_int_equal(out, UNTOUCHED);
}

static void test_sub_reaches_int64_min_exactly(void **state)
{
	(void)state;
	int64_t out = UNTOUCHED;
	assert_int_equal(esc_money_sub(INT64_MIN + 1, 1, &out), 0);
	assert_true(out == INT64_MIN);
}

static void test_sub_past_int64_min_fails_and_leaves_out(void **state)
{
	(void)state;
	int64_t out = UNTOUCHED;
	assert_int_equal(esc_money_sub(INT64_MIN, 1, &out), ESC_EINVAL);
	assert_int_equal(out, UNTOUCHED);
}

static void test_sub_of_int64_min_from_zero_fails(void **state)
{
	(void)state;
	int64_t out = UNTOUCHED;
	assert_int_equal(esc_money_sub(0, INT64_MIN, &out), ESC_EINVAL);
	assert_int_equal(out, UNTOUCHED);
}

static void test_sub_may_go_negative(void **state)
{
	(void)state;
	int64_t out = UNTOUCHED;
	assert_int_equal(esc_money_sub(100, 250, &out), 0);
	assert_int_equal(out, -150);
}

static void test_mul_multiplies(void **state)
{
	(void)state;
	int64_t out = UNTOUCHED;
	assert_int_equal(esc_money_mul(1999, 3, &out), 0);
	assert_int_equal(out, 5997);
}

static void test_mul_past_int64_max_fails_and_leaves_out(void **state)
{
	(void)state;
	int64_t out = UNTOUCHED;
	assert_int_equal(esc_money_mul(INT64_MAX / 2 + 1, 2, &out), ESC_EINVAL);
	assert_int_equal(out, UNTOUCHED);
}

static void test_mul_of_int64_min_by_minus_one_fails(void **state)
{
	(void)state;
	int64_t out = UNTOUCHED;
	assert_int_equal(esc_money_mul(INT64_MIN, -1, &out), ESC_EINVAL);
	assert_int_equal(out, UNTOUCHED);
}

static void test_mul_just_below_int64_max_succeeds(void **state)
{
	(void)state;
	int64_t out = UNTOUCHED;
	assert_int_equal(esc_money_mul(INT64_MAX / 2, 2, &out), 0);
	assert_true(out == INT64_MAX - 1);
}

/* SPEC §4: the platform fee is rounded half-even in minor units. */
static int64_t fee(int64_t amount, int32_t bp)
{
	int64_t out = UNTOUCHED;
	assert_int_equal(esc_money_fee(amount, bp, &out), 0);
	return out;
}

static void test_fee_5_percent_of_1000_is_50(void **state)
{
	(void)state;
	assert_int_equal(fee(1000, 500), 50);
}

static void test_fee_half_even_0_5_rounds_down_to_0(void **state)
{
	(void)state;
	assert_int_equal(fee(10, 500), 0);
}

static void test_fee_half_even_1_5_rounds_up_to_2(void **state)
{
	(void)state;
	assert_int_equal(fee(30, 500), 2);
}

static void test_fee_half_even_2_5_rounds_down_to_2(void **state)
{
	(void)state;
	assert_int_equal(fee(50, 500), 2);
}

static void test_fee_half_even_3_5_rounds_up_to_4(void **state)
{
	(void)state;
	assert_int_equal(fee(70, 500), 4);
}

static void test_fee_below_half_rounds_down(void **state)
{
	(void)state;
	/* 5 % of 29 = 1.45 */
	assert_int_equal(fee(29, 500), 1);
}

static void test_fee_above_half_rounds_up(void **state)
{
	(void)state;
	/* 5 % of 31 = 1.55 */
	assert_int_equal(fee(31, 500), 2);
}

static void test_fee_fractional_basis_points_round_half_even(void **state)
{
	(void)state;
	/* 2.5 % of 100 = 2.5 -> 2; of 300 = 7.5 -> 8 */
	assert_int_equal(fee(100, 250), 2);
	assert_int_equal(fee(300, 250), 8);
}

static void test_fee_of_zero_amount_is_zero(void **state)
{
	(void)state;
	assert_int_equal(fee(0, 500), 0);
}

static void test_fee_at_zero_basis_points_is_zero(void **state)
{
	(void)state;
	assert_int_equal(fee(123456, 0), 0);
}

static void test_fee_at_10000_basis_points_is_the_amount(void **state)
{
	(void)state;
	assert_true(fee(ESC_AMOUNT_MAX, 10000) == ESC_AMOUNT_MAX);
}

static void test_fee_of_amount_max_does_not_overflow(void **state)
{
	(void)state;
	/* 10^15 * 500 overflows int64 if multiplied naively. */
	assert_true(fee(ESC_AMOUNT_MAX, 500) == INT64_C(50000000000000));
	/* 5 % of 10^15 - 10 = 49999999999999.5: the quotient is odd, so the
	 * half rounds up to the even neighbour. */
	assert_true(fee(ESC_AMOUNT_MAX - 10, 500) == INT64_C(50000000000000));
	/* 5 % of 10^15 - 30 = 49999999999998.5 -> quotient even, stays. */
	assert_true(fee(ESC_AMOUNT_MAX - 30, 500) == INT64_C(49999999999998));
}

static void test_fee_of_int64_max_does_not_overflow(void **state)
{
	(void)state;
	/* INT64_MAX * 1 bp / 10000 = 922337203685477.5807 -> rounds up. */
	assert_true(fee(INT64_MAX, 1) == INT64_C(922337203685478));
	assert_true(fee(INT64_MAX, 10000) == INT64_MAX);
}

static void test_fee_of_negative_amount_fails(void **state)
{
	(void)state;
	int64_t out = UNTOUCHED;
	assert_int_equal(esc_money_fee(-1, 500, &out), ESC_EINVAL);
	assert_int_equal(out, UNTOUCHED);
}

static void test_fee_outside_0_to_10000_basis_points_fails(void **state)
{
	(void)state;
	int64_t out = UNTOUCHED;
	assert_int_equal(esc_money_fee(100, -1, &out), ESC_EINVAL);
	assert_int_equal(esc_money_fee(100, 10001, &out), ESC_EINVAL);
	assert_int_equal(out, UNTOUCHED);
}

static void test_amount_valid_from_0_to_amount_max(void **state)
{
	(void)state;
	assert_true(esc_amount_valid(0));
	assert_true(esc_amount_valid(1));
	assert_true(esc_amount_valid(ESC_AMOUNT_MAX));
}

static void test_amount_invalid_when_negative_or_above_max(void **state)
{
	(void)state;
	assert_false(esc_amount_valid(-1));
	assert_false(esc_amount_valid(INT64_MIN));
	assert_false(esc_amount_valid(ESC_AMOUNT_MAX + 1));
	assert_false(esc_amount_valid(INT64_MAX));
}

static void test_currency_valid_for_three_upper_case_letters(void **state)
{
	(void)state;
	assert_true(esc_currency_valid("EUR"));
	assert_true(esc_currency_valid("USD"));
	assert_true(esc_currency_valid("JPY"));
}

static void test_currency_invalid_when_lower_case(void **state)
{
	(void)state;
	assert_false(esc_currency_valid("eur"));
	assert_false(esc_currency_valid("Eur"));
}

static void test_currency_invalid_when_not_three_letters(void **state)
{
	(void)state;
	assert_false(esc_currency_valid(""));
	assert_false(esc_currency_valid("EU"));
	assert_false(esc_currency_valid("EURO"));
	assert_false(esc_currency_valid("E1R"));
	assert_false(esc_currency_valid("EU "));
	assert_false(esc_currency_valid(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_sums_two_amounts),
		cmocka_unit_test(test_add_reaches_int64_max_exactly),
		cmocka_unit_test(test_add_past_int64_max_fails_and_leaves_out),
		cmocka_unit_test(test_add_past_int64_min_fails),
		cmocka_unit_test(test_sub_reaches_int64_min_exactly),
		cmocka_unit_test(test_sub_past_int64_min_fails_and_leaves_out),
		cmocka_unit_test(test_sub_of_int64_min_from_zero_fails),
		cmocka_unit_test(test_sub_may_go_negative),
		cmocka_unit_test(test_mul_multiplies),
		cmocka_unit_test(test_mul_past_int64_max_fails_and_leaves_out),
		cmocka_unit_test(test_mul_of_int64_min_by_minus_one_fails),
		cmocka_unit_test(test_mul_just_below_int64_max_succeeds),
		cmocka_unit_test(test_fee_5_percent_of_1000_is_50),
		cmocka_unit_test(test_fee_half_even_0_5_rounds_down_to_0),
		cmocka_unit_test(test_fee_half_even_1_5_rounds_up_to_2),
		cmocka_unit_test(test_fee_half_even_2_5_rounds_down_to_2),
		cmocka_unit_test(test_fee_half_even_3_5_rounds_up_to_4),
		cmocka_unit_test(test_fee_below_half_rounds_down),
		cmocka_unit_test(test_fee_above_half_rounds_up),
		cmocka_unit_test(test_fee_fractional_basis_points_round_half_even),
		cmocka_unit_test(test_fee_of_zero_amount_is_zero),
		cmocka_unit_test(test_fee_at_zero_basis_points_is_zero),
		cmocka_unit_test(test_fee_at_10000_basis_points_is_the_amount),
		cmocka_unit_test(test_fee_of_amount_max_does_not_overflow),
		cmocka_unit_test(test_fee_of_int64_max_does_not_overflow),
		cmocka_unit_test(test_fee_of_negative_amount_fails),
		cmocka_unit_test(test_fee_outside_0_to_10000_basis_points_fails),
		cmocka_unit_test(test_amount_valid_from_0_to_amount_max),
		cmocka_unit_test(test_amount_invalid_when_negative_or_above_max),
		cmocka_unit_test(test_currency_valid_for_three_upper_case_letters),
		cmocka_unit_test(test_currency_invalid_when_lower_case),
		cmocka_unit_test(test_currency_invalid_when_not_three_letters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
