/* test_policy.c - SPEC's defaults, the configuration parser (every kind of
 * key, units, comments, the reason table, errors) and validation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/policy.h"
#include "util/error.h"
#include "util/strbuf.h"

#define DAY  ESC_MS_PER_DAY
#define HOUR ESC_MS_PER_HOUR

/* Parse text over the defaults; fail the test if parsing fails. */
static void parse_ok(struct esc_policy *p, const char *text)
{
	char err[256] = "";
	esc_policy_default(p);
	int rc = esc_policy_parse(p, text, err, sizeof err);
	if (rc != 0)
		fail_msg("parse failed: %s", err);
}

/* Parse text over the defaults, expect an error starting with `prefix`,
 * and check the policy is still exactly the defaults. */
static void parse_fails(const char *text, const char *prefix)
{
	struct esc_policy p, defaults;
	char err[256] = "";
	esc_policy_default(&p);
	esc_policy_default(&defaults);
	assert_int_equal(esc_policy_parse(&p, text, err, sizeof err), ESC_EINVAL);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("error '%s' does not start with '%s'", err, prefix);
	assert_memory_equal(&p, &defaults, sizeof p);
}

/* --- SPEC defaults ------------------------------------------------------ */

static void test_default_order_windows_are_spec_2(void **state)
{
	(void)state;
	struct esc_policy p;
	esc_policy_default(&p);
	assert_true(p.payment_window_ms == 24 * HOUR);
	assert_true(p.ship_window_ms == 7 * DAY);
	assert_true(p.response_window_ms == 72 * HOUR);
	assert_int_equal(p.delivery_days_default, 60);
	assert_int_equal(p.delivery_days_max, 365);
	assert_true(p.protection_extra_ms == 15 * DAY);
	assert_true(p.confirm_window_ms == 15 * DAY);
	assert_true(p.dispute_after_completion_ms == 15 * DAY);
	assert_int_equal(p.cancel_requests_max, 2);
}

static void test_default_money_is_spec_4_fee_5_percent_refund_alert_10_days(void **state)
{
	(void)state;
	struct esc_policy p;
	esc_policy_default(&p);
	assert_int_equal(p.fee_basis_points, 500);
	assert_true(p.refund_alert_ms == 10 * DAY);
}

static void test_default_settlement_is_spec_4_card_3_to_7_wallet_1_balance_0(void **state)
{
	(void)state;
	struct esc_policy p;
	esc_policy_default(&p);
	assert_int_equal(p.settle_days_min[ESC_METHOD_CARD], 3);
	assert_int_equal(p.settle_days_max[ESC_METHOD_CARD], 7);
	assert_int_equal(p.settle_days_min[ESC_METHOD_WALLET], 1);
	assert_int_equal(p.settle_days_max[ESC_METHOD_WALLET], 1);
	assert_int_equal(p.settle_days_min[ESC_METHOD_BALANCE], 0);
	assert_int_equal(p.settle_days_max[ESC_METHOD_BALANCE], 0);
}

static void test_default_buyer_thresholds_are_spec_6(void **state)
{
	(void)state;
	struct esc_policy p;
	esc_policy_default(&p);
	assert_true(p.buyer_short_window_ms == 30 * DAY);
	assert_true(p.buyer_long_window_ms == 90 * DAY);
	assert_int_equal(p.watch_cancellations, 3);
	assert_int_equal(p.restricted_cancellations, 5);
	assert_int_equal(p.restricted_rate_percent, 30);
	assert_int_equal(p.restricted_rate_min_paid, 10);
	assert_int_equal(p.suspended_cancellations, 10);
	assert_int_equal(p.suspended_lost_disputes, 3);
}

static void test_default_seller_score_is_90_days_weights_100_150_200_200(void **state)
{
	(void)state;
	struct esc_policy p;
	esc_policy_default(&p);
	assert_true(p.seller_window_ms == 90 * DAY);
	assert_int_equal(p.seller_min_orders, 10);
	assert_int_equal(p.seller_weight_fault_cancel, 100);
	assert_int_equal(p.seller_weight_missed_ship, 150);
	assert_int_equal(p.seller_weight_lost_dispute, 200);
	assert_int_equal(p.seller_weight_invalid_tracking, 200);
}

static void test_default_reasons_are_spec_3_in_order_with_faults(void **state)
{
	(void)state;
	static const struct {
		const char *code, *label;
		enum esc_fault fault;
	} want[] = {
		{"no_longer_needed", "I no longer need this order", ESC_FAULT_BUYER},
		{"change_order", "I want to change the order (size, colour, address)",
		 ESC_FAULT_BUYER},
		{"better_price", "I found a better price elsewhere", ESC_FAULT_BUYER},
		{"seller_asked", "The seller asked me to cancel", ESC_FAULT_SELLER},
		{"price_changed", "The seller changed the price", ESC_FAULT_SELLER},
		{"out_of_stock", "The seller says the item is out of stock", ESC_FAULT_SELLER},
		{"shipping_too_long", "The seller has not shipped in time", ESC_FAULT_SELLER},
	};
	struct esc_policy p;
	esc_policy_default(&p);
	assert_int_equal(p.reasons_count, 7);
	for (size_t i = 0; i < 7; i++) {
		assert_string_equal(p.reasons[i].code, want[i].code);
		assert_string_equal(p.reasons[i].label, want[i].label);
		assert_int_equal(p.reasons[i].fault, want[i].fault);
	}
}

static void test_default_reason_no_longer_needed_alone_is_recommended_spec_3(void **state)
{
	(void)state;
	struct esc_policy p;
	esc_policy_default(&p);
	assert_true(p.reasons[0].recommended);
	for (size_t i = 1; i < p.reasons_count; i++)
		assert_false(p.reasons[i].recommended);
}

static void test_default_policy_validates(void **state)
{
	(void)state;
	struct esc_policy p;
	char err[256] = "";
	esc_policy_default(&p);
	assert_int_equal(esc_policy_validate(&p, err, sizeof err), 0);
}

/* --- parsing: every kind of key ----------------------------------------- */

static void test_parse_empty_text_changes_nothing(void **state)
{
	(void)state;
	struct esc_policy p, defaults;
	parse_ok(&p, "");
	esc_policy_default(&defaults);
	assert_memory_equal(&p, &defaults, sizeof p);
}

static void test_parse_every_duration_key(void **state)
{
	(void)state;
	struct esc_policy p;
	parse_ok(&p, "payment_window = 2h\n"
		     "ship_window = 3d\n"
		     "response_window = 48h\n"
		     "protection_extra = 20d\n"
		     "confirm_window = 10d\n"
		     "dispute_after_completion = 5d\n"
		     "refund_alert = 12d\n"
		     "buyer_short_window = 14d\n"
		     "buyer_long_window = 60d\n"
		     "seller_window = 30d\n");
	assert_true(p.payment_window_ms == 2 * HOUR);
	assert_true(p.ship_window_ms == 3 * DAY);
	assert_true(p.response_window_ms == 48 * HOUR);
	assert_true(p.protection_extra_ms == 20 * DAY);
	assert_true(p.confirm_window_ms == 10 * DAY);
	assert_true(p.dispute_after_completion_ms == 5 * DAY);
	assert_true(p.refund_alert_ms == 12 * DAY);
	assert_true(p.buyer_short_window_ms == 14 * DAY);
	assert_true(p.buyer_long_window_ms == 60 * DAY);
	assert_true(p.seller_window_ms == 30 * DAY);
}

static void test_parse_duration_units_ms_s_m_h_d(void **state)
{
	(void)state;
	struct esc_policy p;
	parse_ok(&p, "payment_window = 500ms");
	assert_true(p.payment_window_ms == 500);
	parse_ok(&p, "payment_window = 10s");
	assert_true(p.payment_window_ms == 10000);
	parse_ok(&p, "payment_window = 30m");
	assert_true(p.payment_window_ms == 30 * 60000);
	parse_ok(&p, "payment_window = 72h");
	assert_true(p.payment_window_ms == 72 * HOUR);
	parse_ok(&p, "payment_window = 7d");
	assert_true(p.payment_window_ms == 7 * DAY);
}

static void test_parse_every_count_key(void **state)
{
	(void)state;
	struct esc_policy p;
	parse_ok(&p, "delivery_days_default = 30\n"
		     "delivery_days_max = 90\n"
		     "cancel_requests_max = 4\n"
		     "watch_cancellations = 2\n"
		     "restricted_cancellations = 6\n"
		     "restricted_rate_min_paid = 20\n"
		     "suspended_cancellations = 12\n"
		     "suspended_lost_disputes = 4\n"
		     "seller_min_orders = 25\n"
		     "seller_weight_fault_cancel = 110\n"
		     "seller_weight_missed_ship = 160\n"
		     "seller_weight_lost_dispute = 210\n"
		     "seller_weight_invalid_tracking = 220\n");
	assert_int_equal(p.delivery_days_default, 30);
	assert_int_equal(p.delivery_days_max, 90);
	assert_int_equal(p.cancel_requests_max, 4);
	assert_int_equal(p.watch_cancellations, 2);
	assert_int_equal(p.restricted_cancellations, 6);
	assert_int_equal(p.restricted_rate_min_paid, 20);
	assert_int_equal(p.suspended_cancellations, 12);
	assert_int_equal(p.suspended_lost_disputes, 4);
	assert_int_equal(p.seller_min_orders, 25);
	assert_int_equal(p.seller_weight_fault_cancel, 110);
	assert_int_equal(p.seller_weight_missed_ship, 160);
	assert_int_equal(p.seller_weight_lost_dispute, 210);
	assert_int_equal(p.seller_weight_invalid_tracking, 220);
}

static void test_parse_count_accepts_int32_max(void **state)
{
	(void)state;
	struct esc_policy p;
	parse_ok(&p, "seller_min_orders = 2147483647");
	assert_int_equal(p.seller_min_orders, INT32_MAX);
}

static void test_parse_fee_whole_percent_to_basis_points(void **state)
{
	(void)state;
	struct esc_policy p;
	parse_ok(&p, "fee = 7%");
	assert_int_equal(p.fee_basis_points, 700);
}

static void test_parse_fee_decimal_percent_to_basis_points(void **state)
{
	(void)state;
	struct esc_policy p;
	parse_ok(&p, "fee = 2.5%");
	assert_int_equal(p.fee_basis_points, 250);
	parse_ok(&p, "fee = 2.55%");
	assert_int_equal(p.fee_basis_points, 255);
	parse_ok(&p, "fee = 0%");
	assert_int_equal(p.fee_basis_points, 0);
	parse_ok(&p, "fee = 100%");
	assert_int_equal(p.fee_basis_points, 10000);
}

static void test_parse_restricted_rate_whole_percent(void **state)
{
	(void)state;
	struct esc_policy p;
	parse_ok(&p, "restricted_rate = 25%");
	assert_int_equal(p.restricted_rate_percent, 25);
}

static void test_parse_settle_days_range_per_method(void **state)
{
	(void)state;
	struct esc_policy p;
	parse_ok(&p, "settle_days.card = 2..10\n"
		     "settle_days.wallet = 0..2\n"
		     "settle_days.balance = 1\n");
	assert_int_equal(p.settle_days_min[ESC_METHOD_CARD], 2);
	assert_int_equal(p.settle_days_max[ESC_METHOD_CARD], 10);
	assert_int_equal(p.settle_days_min[ESC_METHOD_WALLET], 0);
	assert_int_equal(p.settle_days_max[ESC_METHOD_WALLET], 2);
	assert_int_equal(p.settle_days_min[ESC_METHOD_BALANCE], 1);
	assert_int_equal(p.settle_days_max[ESC_METHOD_BALANCE], 1);
}

static void test_parse_ignores_comments_blank_lines_and_spaces(void **state)
{
	(void)state;
	struct esc_policy p;
	parse_ok(&p, "# escrowd policy\n"
		     "\n"
		     "   \t\n"
		     "  ship_window\t=   5d   # a shorter handling time\r\n"
		     "# fee = 9%\n"
		     "fee=4%");
	assert_true(p.ship_window_ms == 5 * DAY);
	assert_int_equal(p.fee_basis_points, 400);
}

static void test_parse_later_line_wins(void **state)
{
	(void)state;
	struct esc_policy p;
	parse_ok(&p, "fee = 4%\nfee = 6%\n");
	assert_int_equal(p.fee_basis_points, 600);
}

static void test_parse_leaves_other_keys_at_their_values(void **state)
{
	(void)state;
	struct esc_policy p, defaults;
	parse_ok(&p, "fee = 4%\n");
	esc_policy_default(&defaults);
	defaults.fee_basis_points = 400;
	assert_memory_equal(&p, &defaults, sizeof p);
}

/* --- parsing: the reason table (SPEC §3: reasons are configuration) ---- */

static void test_parse_reason_adds_at_the_end(void **state)
{
	(void)state;
	struct esc_policy p;
	parse_ok(&p, "reason.wrong_colour = seller, The colour is not the one shown");
	assert_int_equal(p.reasons_count, 8);
	assert_string_equal(p.reasons[7].code, "wrong_colour");
	assert_string_equal(p.reasons[7].label, "The colour is not the one shown");
	assert_int_equal(p.reasons[7].fault, ESC_FAULT_SELLER);
	assert_false(p.reasons[7].recommended);
}

static void test_parse_reason_replaces_in_place_keeping_recommendation(void **state)
{
	(void)state;
	struct esc_policy p;
	parse_ok(&p, "reason.no_longer_needed = buyer, I changed my mind\n"
		     "reason.better_price = seller, Cheaper elsewhere\n");
	assert_int_equal(p.reasons_count, 7);
	assert_string_equal(p.reasons[0].code, "no_longer_needed");
	assert_string_equal(p.reasons[0].label, "I changed my mind");
	assert_true(p.reasons[0].recommended);
	assert_string_equal(p.reasons[2].code, "better_price");
	assert_int_equal(p.reasons[2].fault, ESC_FAULT_SELLER);
}

static void test_parse_reason_label_may_contain_commas(void **state)
{
	(void)state;
	struct esc_policy p;
	parse_ok(&p, "reason.change_order = buyer, Change size, colour, or address");
	assert_string_equal(p.reasons[1].label, "Change size, colour, or address");
}

static void test_parse_reasons_clear_empties_the_table_first(void **state)
{
	(void)state;
	struct esc_policy p;
	parse_ok(&p, "reasons = clear\n"
		     "reason.mistake = buyer, I ordered by mistake\n"
		     "reason.late = seller, The seller is late\n"
		     "recommended_reason = mistake\n");
	assert_int_equal(p.reasons_count, 2);
	assert_string_equal(p.reasons[0].code, "mistake");
	assert_true(p.reasons[0].recommended);
	assert_string_equal(p.reasons[1].code, "late");
	assert_false(p.reasons[1].recommended);
	assert_null(esc_policy_reason(&p, "no_longer_needed"));
}

static void test_parse_recommended_reason_moves_the_recommendation(void **state)
{
	(void)state;
	struct esc_policy p;
	parse_ok(&p, "recommended_reason = better_price");
	assert_false(p.reasons[0].recommended);
	assert_true(p.reasons[2].recommended);
	parse_ok(&p, "recommended_reason = none");
	for (size_t i = 0; i < p.reasons_count; i++)
		assert_false(p.reasons[i].recommended);
}

static void test_parse_reason_fills_table_to_16(void **state)
{
	(void)state;
	struct esc_policy p;
	char text[1024] = "";
	for (int i = 0; i < ESC_REASONS_MAX - 7; i++) {
		char line[64];
		snprintf(line, sizeof line, "reason.extra_%d = buyer, Extra %d\n", i, i);
		strcat(text, line);
	}
	parse_ok(&p, text);
	assert_int_equal(p.reasons_count, ESC_REASONS_MAX);
}

static void test_parse_reason_past_16_fails(void **state)
{
	(void)state;
	char text[1024] = "";
	for (int i = 0; i <= ESC_REASONS_MAX - 7; i++) {
		char line[64];
		snprintf(line, sizeof line, "reason.extra_%d = buyer, Extra %d\n", i, i);
		strcat(text, line);
	}
	parse_fails(text, "line 10: ");
}

/* --- parsing: errors say the line and leave the policy alone ----------- */

static void test_parse_unknown_key_fails_with_line_number(void **state)
{
	(void)state;
	parse_fails("fee = 4%\n\n# x\nship_windw = 3d\n", "line 4: unknown key 'ship_windw'");
}

static void test_parse_bad_line_late_leaves_earlier_lines_unapplied(void **state)
{
	(void)state;
	parse_fails("fee = 9%\nreasons = clear\nship_window = soon\n", "line 3: ship_window");
}

static void test_parse_line_without_equals_fails(void **state)
{
	(void)state;
	parse_fails("fee 5%", "line 1: expected 'key = value'");
}

static void test_parse_empty_value_fails(void **state)
{
	(void)state;
	parse_fails("fee =   # nothing\n", "line 1: fee");
}

static void test_parse_duration_without_unit_fails(void **state)
{
	(void)state;
	parse_fails("ship_window = 7", "line 1: ship_window");
}

static void test_parse_duration_with_unknown_unit_fails(void **state)
{
	(void)state;
	parse_fails("ship_window = 7w", "line 1: ship_window");
	parse_fails("ship_window = 7dd", "line 1: ship_window");
}

static void test_parse_negative_duration_fails(void **state)
{
	(void)state;
	parse_fails("ship_window = -7d", "line 1: ship_window");
}

static void test_parse_duration_overflow_fails(void **state)
{
	(void)state;
	/* fits in int64 as a number, but not once multiplied to ms */
	parse_fails("ship_window = 9223372036854775d", "line 1: ship_window");
	/* does not fit at all */
	parse_fails("ship_window = 99999999999999999999ms", "line 1: ship_window");
}

static void test_parse_count_with_junk_fails(void **state)
{
	(void)state;
	parse_fails("watch_cancellations = 3x", "line 1: watch_cancellations");
	parse_fails("watch_cancellations = 3 4", "line 1: watch_cancellations");
	parse_fails("watch_cancellations = three", "line 1: watch_cancellations");
	parse_fails("watch_cancellations = 0x10", "line 1: watch_cancellations");
}

static void test_parse_negative_count_fails(void **state)
{
	(void)state;
	parse_fails("watch_cancellations = -1", "line 1: watch_cancellations");
	parse_fails("watch_cancellations = +1", "line 1: watch_cancellations");
}

static void test_parse_count_past_int32_max_fails(void **state)
{
	(void)state;
	parse_fails("seller_min_orders = 2147483648", "line 1: seller_min_orders");
}

static void test_parse_fee_without_percent_sign_fails(void **state)
{
	(void)state;
	parse_fails("fee = 5", "line 1: fee");
}

static void test_parse_fee_above_100_percent_fails(void **state)
{
	(void)state;
	parse_fails("fee = 100.01%", "line 1: fee");
	parse_fails("fee = 101%", "line 1: fee");
}

static void test_parse_fee_with_three_decimals_fails(void **state)
{
	(void)state;
	parse_fails("fee = 2.555%", "line 1: fee");
}

static void test_parse_restricted_rate_with_decimals_fails(void **state)
{
	(void)state;
	parse_fails("restricted_rate = 30.5%", "line 1: restricted_rate");
}

static void test_parse_settle_days_for_unknown_method_fails(void **state)
{
	(void)state;
	parse_fails("settle_days.cheque = 5..9", "line 1: unknown payment method");
}

static void test_parse_settle_days_min_above_max_fails(void **state)
{
	(void)state;
	parse_fails("settle_days.card = 7..3", "line 1: settle_days.card");
	parse_fails("settle_days.card = 3..", "line 1: settle_days.card");
}

static void test_parse_reason_with_bad_fault_fails(void **state)
{
	(void)state;
	parse_fails("reason.x = platform, The platform did it", "line 1: reason.x");
}

static void test_parse_reason_without_label_fails(void **state)
{
	(void)state;
	parse_fails("reason.x = buyer", "line 1: reason.x");
	parse_fails("reason.x = buyer,   ", "line 1: reason.x");
}

static void test_parse_reason_with_bad_code_fails(void **state)
{
	(void)state;
	parse_fails("reason.Bad-Code = buyer, Label", "line 1: reason code");
	parse_fails("reason. = buyer, Label", "line 1: reason code");
}

static void test_parse_reasons_with_value_other_than_clear_fails(void **state)
{
	(void)state;
	parse_fails("reasons = reset", "line 1: reasons");
}

static void test_parse_recommended_reason_must_exist(void **state)
{
	(void)state;
	parse_fails("recommended_reason = nope", "line 1: recommended_reason");
}

static void test_parse_overlong_line_fails(void **state)
{
	(void)state;
	char text[1200];
	memset(text, ' ', sizeof text - 1);
	text[sizeof text - 1] = '\0';
	memcpy(text, "fee = 5%\n", 9);
	parse_fails(text, "line 2: ");
}

static void test_parse_error_with_null_err_still_fails(void **state)
{
	(void)state;
	struct esc_policy p;
	esc_policy_default(&p);
	assert_int_equal(esc_policy_parse(&p, "nope = 1", NULL, 0), ESC_EINVAL);
}

/* --- validate ------------------------------------------------------------ */

static void validate_fails(const char *text, const char *word)
{
	struct esc_policy p;
	char err[256] = "";
	parse_ok(&p, text);
	assert_int_equal(esc_policy_validate(&p, err, sizeof err), ESC_EINVAL);
	if (!strstr(err, word))
		fail_msg("error '%s' does not mention '%s'", err, word);
}

static void test_validate_refuses_zero_window(void **state)
{
	(void)state;
	validate_fails("response_window = 0h", "response_window");
	validate_fails("payment_window = 0ms", "payment_window");
}

static void test_validate_refuses_window_over_3650_days(void **state)
{
	(void)state;
	validate_fails("seller_window = 3651d", "seller_window");
}

static void test_validate_refuses_short_buyer_window_longer_than_long(void **state)
{
	(void)state;
	validate_fails("buyer_short_window = 100d", "buyer_short_window");
}

static void test_validate_refuses_delivery_default_above_max(void **state)
{
	(void)state;
	validate_fails("delivery_days_default = 400", "delivery_days_default");
}

static void test_validate_refuses_zero_cancel_requests(void **state)
{
	(void)state;
	validate_fails("cancel_requests_max = 0", "cancel_requests_max");
}

static void test_validate_refuses_unordered_buyer_thresholds(void **state)
{
	(void)state;
	validate_fails("watch_cancellations = 6", "watch_cancellations");
	validate_fails("suspended_cancellations = 4", "suspended_cancellations");
	validate_fails("watch_cancellations = 0", "watch_cancellations");
}

static void test_validate_refuses_zero_seller_min_orders(void **state)
{
	(void)state;
	validate_fails("seller_min_orders = 0", "seller_min_orders");
}

static void test_validate_refuses_zero_lost_dispute_threshold(void **state)
{
	(void)state;
	validate_fails("suspended_lost_disputes = 0", "suspended_lost_disputes");
}

static void test_validate_refuses_empty_reason_table(void **state)
{
	(void)state;
	validate_fails("reasons = clear", "reasons");
}

static void test_validate_refuses_settle_range_set_backwards_in_code(void **state)
{
	(void)state;
	struct esc_policy p;
	char err[256] = "";
	esc_policy_default(&p);
	p.settle_days_min[ESC_METHOD_WALLET] = 5;
	assert_int_equal(esc_policy_validate(&p, err, sizeof err), ESC_EINVAL);
	assert_non_null(strstr(err, "settle_days.wallet"));
}

static void test_validate_refuses_duplicate_reason_codes(void **state)
{
	(void)state;
	struct esc_policy p;
	char err[256] = "";
	esc_policy_default(&p);
	memcpy(p.reasons[1].code, "no_longer_needed", sizeof "no_longer_needed");
	assert_int_equal(esc_policy_validate(&p, err, sizeof err), ESC_EINVAL);
	assert_non_null(strstr(err, "no_longer_needed"));
}

static void test_validate_accepts_a_full_custom_policy(void **state)
{
	(void)state;
	struct esc_policy p;
	char err[256] = "";
	parse_ok(&p, "payment_window = 1h\nship_window = 2d\nfee = 3.5%\n"
		     "reasons = clear\nreason.only = buyer, The only reason\n");
	assert_int_equal(esc_policy_validate(&p, err, sizeof err), 0);
}

/* --- lookups --------------------------------------------------------------- */

static void test_policy_reason_finds_by_code(void **state)
{
	(void)state;
	struct esc_policy p;
	esc_policy_default(&p);
	const struct esc_reason *r = esc_policy_reason(&p, "out_of_stock");
	assert_non_null(r);
	assert_int_equal(r->fault, ESC_FAULT_SELLER);
	assert_null(esc_policy_reason(&p, "out_of_stocks"));
	assert_null(esc_policy_reason(&p, ""));
	assert_null(esc_policy_reason(&p, NULL));
}

static void test_method_names_round_trip(void **state)
{
	(void)state;
	assert_int_equal(esc_method_parse("card"), ESC_METHOD_CARD);
	assert_int_equal(esc_method_parse("wallet"), ESC_METHOD_WALLET);
	assert_int_equal(esc_method_parse("balance"), ESC_METHOD_BALANCE);
	for (int m = 0; m < ESC_METHOD_COUNT; m++)
		assert_int_equal(esc_method_parse(esc_method_name((enum esc_method)m)), m);
}

static void test_method_parse_unknown_is_minus_one(void **state)
{
	(void)state;
	assert_int_equal(esc_method_parse("Card"), -1);
	assert_int_equal(esc_method_parse(""), -1);
	assert_int_equal(esc_method_parse(NULL), -1);
}

/* Another layer's keys in the same text: given to it first, its errors
 * named by line, the rest read as the policy's. */
static int take_http(void *arg, const char *key, const char *value, char *why, size_t why_size)
{
	int *taken = arg;
	if (strncmp(key, "http.", 5))
		return ESC_ENOTFOUND;
	if (strcmp(value, "4")) {
		snprintf(why, why_size, "%s: '%s' is not 4", key, value);
		return ESC_EINVAL;
	}
	(*taken)++;
	return 0;
}

static void test_parse_with_gives_another_layer_its_keys(void **state)
{
	struct esc_policy p;
	char err[200];
	int taken = 0;
	const struct esc_policy_other other = {.set = take_http, .arg = &taken};
	(void)state;
	esc_policy_default(&p);
	assert_int_equal(esc_policy_parse_with(&p, "fee = 3%\nhttp.threads = 4 # workers\n", &other,
					       err, sizeof err),
			 0);
	assert_int_equal(taken, 1);
	assert_int_equal(p.fee_basis_points, 300);
	assert_int_equal(esc_policy_parse_with(&p, "fee = 4%\n\nhttp.threads = 5\n", &other, err,
					       sizeof err),
			 ESC_EINVAL);
	assert_string_equal(err, "line 3: http.threads: '5' is not 4");
	assert_int_equal(p.fee_basis_points, 300); /* unchanged on failure */
	/* Without the other layer, its keys are unknown. */
	assert_int_equal(esc_policy_parse(&p, "http.threads = 4\n", err, sizeof err), ESC_EINVAL);
}

/* esc_policy_format: the canonical text of a policy, which parses back
 * over the defaults into the same policy (and so formats the same again). */
static void format_of(const struct esc_policy *p, struct esc_strbuf *sb)
{
	esc_strbuf_init(sb, 64 * 1024);
	assert_int_equal(esc_policy_format(p, sb), 0);
}

static void assert_round_trip(const struct esc_policy *p)
{
	struct esc_strbuf a, b;
	struct esc_policy back;
	char err[300];
	format_of(p, &a);
	esc_policy_default(&back);
	if (esc_policy_parse(&back, esc_strbuf_str(&a), err, sizeof err) != 0)
		fail_msg("the canonical text does not parse: %s\n%s", err, esc_strbuf_str(&a));
	format_of(&back, &b);
	assert_string_equal(esc_strbuf_str(&a), esc_strbuf_str(&b));
	assert_true(back.response_window_ms == p->response_window_ms);
	assert_int_equal(back.fee_basis_points, p->fee_basis_points);
	assert_int_equal(back.reasons_count, p->reasons_count);
	for (size_t i = 0; i < p->reasons_count; i++) {
		assert_string_equal(back.reasons[i].code, p->reasons[i].code);
		assert_string_equal(back.reasons[i].label, p->reasons[i].label);
		assert_int_equal(back.reasons[i].fault, p->reasons[i].fault);
		assert_int_equal(back.reasons[i].recommended, p->reasons[i].recommended);
	}
	assert_int_equal(back.carriers_count, p->carriers_count);
	for (size_t i = 0; i < p->carriers_count; i++)
		assert_string_equal(back.carriers[i].example, p->carriers[i].example);
	esc_strbuf_release(&a);
	esc_strbuf_release(&b);
}

static void test_format_parses_back_to_the_same_policy(void **state)
{
	(void)state;
	struct esc_policy p;
	struct esc_strbuf sb;
	char err[300];
	esc_policy_default(&p);
	assert_round_trip(&p);
	format_of(&p, &sb);
	/* Each duration in its largest exact unit; the fee with two decimals. */
	assert_non_null(strstr(esc_strbuf_str(&sb), "response_window = 3d\n"));
	assert_non_null(strstr(esc_strbuf_str(&sb), "payment_window = 1d\n"));
	assert_non_null(strstr(esc_strbuf_str(&sb), "fee = 5.00%\n"));
	assert_non_null(strstr(esc_strbuf_str(&sb), "settle_days.card = 3..7\n"));
	esc_strbuf_release(&sb);

	assert_int_equal(
		esc_policy_parse(&p,
				 "response_window = 90m\nship_window = 1500ms\n"
				 "fee = 2.55%\nrestricted_rate = 25%\n"
				 "reason.damaged_listing = seller, The listing was wrong, badly\n"
				 "recommended_reason = damaged_listing\n"
				 "carrier.ups = ups_1z 1Z[0-9A-Z]{16}\n"
				 "carrier.dhl = none [0-9]{10,11} 1234567890\n"
				 "tracking_check = flag\n",
				 err, sizeof err),
		0);
	assert_round_trip(&p);
	format_of(&p, &sb);
	assert_non_null(strstr(esc_strbuf_str(&sb), "response_window = 90m\n"));
	assert_non_null(strstr(esc_strbuf_str(&sb), "ship_window = 1500ms\n"));
	assert_non_null(strstr(esc_strbuf_str(&sb), "fee = 2.55%\n"));
	assert_non_null(strstr(esc_strbuf_str(&sb),
			       "carrier.ups = ups_1z 1Z[0-9A-Z]{16} 1Z999AA10123456784\n"));
	assert_non_null(strstr(esc_strbuf_str(&sb), "recommended_reason = damaged_listing\n"));
	esc_strbuf_release(&sb);

	/* Too small a buffer is said so. */
	struct esc_strbuf tiny;
	esc_strbuf_init(&tiny, 100);
	assert_int_equal(esc_policy_format(&p, &tiny), ESC_EINVAL);
	esc_strbuf_release(&tiny);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_parses_back_to_the_same_policy),
		cmocka_unit_test(test_default_order_windows_are_spec_2),
		cmocka_unit_test(test_default_money_is_spec_4_fee_5_percent_refund_alert_10_days),
		cmocka_unit_test(test_default_settlement_is_spec_4_card_3_to_7_wallet_1_balance_0),
		cmocka_unit_test(test_default_buyer_thresholds_are_spec_6),
		cmocka_unit_test(test_default_seller_score_is_90_days_weights_100_150_200_200),
		cmocka_unit_test(test_default_reasons_are_spec_3_in_order_with_faults),
		cmocka_unit_test(test_default_reason_no_longer_needed_alone_is_recommended_spec_3),
		cmocka_unit_test(test_default_policy_validates),
		cmocka_unit_test(test_parse_empty_text_changes_nothing),
		cmocka_unit_test(test_parse_every_duration_key),
		cmocka_unit_test(test_parse_duration_units_ms_s_m_h_d),
		cmocka_unit_test(test_parse_every_count_key),
		cmocka_unit_test(test_parse_count_accepts_int32_max),
		cmocka_unit_test(test_parse_fee_whole_percent_to_basis_points),
		cmocka_unit_test(test_parse_fee_decimal_percent_to_basis_points),
		cmocka_unit_test(test_parse_restricted_rate_whole_percent),
		cmocka_unit_test(test_parse_settle_days_range_per_method),
		cmocka_unit_test(test_parse_ignores_comments_blank_lines_and_spaces),
		cmocka_unit_test(test_parse_later_line_wins),
		cmocka_unit_test(test_parse_leaves_other_keys_at_their_values),
		cmocka_unit_test(test_parse_reason_adds_at_the_end),
		cmocka_unit_test(test_parse_reason_replaces_in_place_keeping_recommendation),
		cmocka_unit_test(test_parse_reason_label_may_contain_commas),
		cmocka_unit_test(test_parse_reasons_clear_empties_the_table_first),
		cmocka_unit_test(test_parse_recommended_reason_moves_the_recommendation),
		cmocka_unit_test(test_parse_reason_fills_table_to_16),
		cmocka_unit_test(test_parse_reason_past_16_fails),
		cmocka_unit_test(test_parse_unknown_key_fails_with_line_number),
		cmocka_unit_test(test_parse_with_gives_another_layer_its_keys),
		cmocka_unit_test(test_parse_bad_line_late_leaves_earlier_lines_unapplied),
		cmocka_unit_test(test_parse_line_without_equals_fails),
		cmocka_unit_test(test_parse_empty_value_fails),
		cmocka_unit_test(test_parse_duration_without_unit_fails),
		cmocka_unit_test(test_parse_duration_with_unknown_unit_fails),
		cmocka_unit_test(test_parse_negative_duration_fails),
		cmocka_unit_test(test_parse_duration_overflow_fails),
		cmocka_unit_test(test_parse_count_with_junk_fails),
		cmocka_unit_test(test_parse_negative_count_fails),
		cmocka_unit_test(test_parse_count_past_int32_max_fails),
		cmocka_unit_test(test_parse_fee_without_percent_sign_fails),
		cmocka_unit_test(test_parse_fee_above_100_percent_fails),
		cmocka_unit_test(test_parse_fee_with_three_decimals_fails),
		cmocka_unit_test(test_parse_restricted_rate_with_decimals_fails),
		cmocka_unit_test(test_parse_settle_days_for_unknown_method_fails),
		cmocka_unit_test(test_parse_settle_days_min_above_max_fails),
		cmocka_unit_test(test_parse_reason_with_bad_fault_fails),
		cmocka_unit_test(test_parse_reason_without_label_fails),
		cmocka_unit_test(test_parse_reason_with_bad_code_fails),
		cmocka_unit_test(test_parse_reasons_with_value_other_than_clear_fails),
		cmocka_unit_test(test_parse_recommended_reason_must_exist),
		cmocka_unit_test(test_parse_overlong_line_fails),
		cmocka_unit_test(test_parse_error_with_null_err_still_fails),
		cmocka_unit_test(test_validate_refuses_zero_window),
		cmocka_unit_test(test_validate_refuses_window_over_3650_days),
		cmocka_unit_test(test_validate_refuses_short_buyer_window_longer_than_long),
		cmocka_unit_test(test_validate_refuses_delivery_default_above_max),
		cmocka_unit_test(test_validate_refuses_zero_cancel_requests),
		cmocka_unit_test(test_validate_refuses_unordered_buyer_thresholds),
		cmocka_unit_test(test_validate_refuses_zero_seller_min_orders),
		cmocka_unit_test(test_validate_refuses_zero_lost_dispute_threshold),
		cmocka_unit_test(test_validate_refuses_empty_reason_table),
		cmocka_unit_test(test_validate_refuses_settle_range_set_backwards_in_code),
		cmocka_unit_test(test_validate_refuses_duplicate_reason_codes),
		cmocka_unit_test(test_validate_accepts_a_full_custom_policy),
		cmocka_unit_test(test_policy_reason_finds_by_code),
		cmocka_unit_test(test_method_names_round_trip),
		cmocka_unit_test(test_method_parse_unknown_is_minus_one),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
