/* test_reputation.c - SPEC §6: buyer levels at and one below each threshold,
 * the arbiter's lift, and the seller score's weights, floor and clamp. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/reputation.h"
#include "core/rules.h"

static struct esc_policy policy;

static int setup(void **state)
{
	(void)state;
	esc_policy_default(&policy);
	return 0;
}

/* Counts where the short window's marks are also in the long window, as
 * they are in life (30 days lie inside 90). */
static struct esc_rep_counts buyer_counts(int32_t cancelled_30, int32_t cancelled_90,
					  int32_t paid_90, int32_t lost_90)
{
	struct esc_rep_counts c;
	memset(&c, 0, sizeof c);
	c.short_[ESC_MARK_BUYER_CANCELLED] = cancelled_30;
	c.long_[ESC_MARK_BUYER_CANCELLED] = cancelled_90;
	c.short_[ESC_MARK_BUYER_PAID] = paid_90;
	c.long_[ESC_MARK_BUYER_PAID] = paid_90;
	c.long_[ESC_MARK_BUYER_DISPUTE_LOST] = lost_90;
	c.short_[ESC_MARK_BUYER_DISPUTE_LOST] = lost_90;
	return c;
}

static struct esc_buyer_rep buyer(int32_t cancelled_30, int32_t cancelled_90, int32_t paid_90,
				  int32_t lost_90, bool lifted)
{
	struct esc_rep_counts c = buyer_counts(cancelled_30, cancelled_90, paid_90, lost_90);
	struct esc_buyer_rep r;
	esc_buyer_reputation(&policy, &c, lifted, &r);
	return r;
}

/* --- names ------------------------------------------------------------- */

static void test_mark_names_round_trip(void **state)
{
	(void)state;
	assert_string_equal(esc_mark_name(ESC_MARK_BUYER_PAID), "buyer_paid");
	assert_string_equal(esc_mark_name(ESC_MARK_SELLER_FAULT_CANCEL), "seller_fault_cancel");
	for (int m = 0; m < ESC_MARK_COUNT; m++)
		assert_int_equal(esc_mark_parse(esc_mark_name((enum esc_mark)m)), m);
	assert_int_equal(esc_mark_parse("buyer_paid "), -1);
	assert_int_equal(esc_mark_parse(NULL), -1);
}

static void test_level_names_are_good_watch_restricted_suspended(void **state)
{
	(void)state;
	assert_string_equal(esc_level_name(ESC_LEVEL_GOOD), "good");
	assert_string_equal(esc_level_name(ESC_LEVEL_WATCH), "watch");
	assert_string_equal(esc_level_name(ESC_LEVEL_RESTRICTED), "restricted");
	assert_string_equal(esc_level_name(ESC_LEVEL_SUSPENDED), "suspended");
}

/* --- buyer: good and watch --------------------------------------------- */

static void test_buyer_good_with_no_marks(void **state)
{
	(void)state;
	struct esc_buyer_rep r = buyer(0, 0, 0, 0, false);
	assert_int_equal(r.level, ESC_LEVEL_GOOD);
	assert_int_equal(r.rate_percent, 0);
}

static void test_buyer_good_at_2_cancellations_in_30_days(void **state)
{
	(void)state;
	struct esc_buyer_rep r = buyer(2, 2, 20, 0, false);
	assert_int_equal(r.level, ESC_LEVEL_GOOD);
	assert_string_equal(r.why, "2 cancellations after payment in 30 days (below watch at 3)");
}

static void test_buyer_watch_at_3_cancellations_in_30_days(void **state)
{
	(void)state;
	struct esc_buyer_rep r = buyer(3, 3, 20, 0, false);
	assert_int_equal(r.level, ESC_LEVEL_WATCH);
	assert_string_equal(r.why, "3 cancellations after payment in 30 days (watch at 3)");
	assert_int_equal(r.cancellations_short, 3);
}

static void test_buyer_watch_counts_the_30_day_window_not_90(void **state)
{
	(void)state;
	/* 4 in 90 days but only 2 of them in the last 30 */
	struct esc_buyer_rep r = buyer(2, 4, 20, 0, false);
	assert_int_equal(r.level, ESC_LEVEL_GOOD);
}

/* --- buyer: restricted --------------------------------------------------- */

static void test_buyer_watch_not_restricted_at_4_cancellations_in_30_days(void **state)
{
	(void)state;
	struct esc_buyer_rep r = buyer(4, 4, 20, 0, false);
	assert_int_equal(r.level, ESC_LEVEL_WATCH);
}

static void test_buyer_restricted_at_5_cancellations_in_30_days(void **state)
{
	(void)state;
	struct esc_buyer_rep r = buyer(5, 5, 20, 0, false);
	assert_int_equal(r.level, ESC_LEVEL_RESTRICTED);
	assert_string_equal(r.why, "5 cancellations after payment in 30 days (restricted at 5)");
}

static void test_buyer_restricted_at_rate_31_percent_with_10_paid_in_90_days(void **state)
{
	(void)state;
	/* 31 of 100 would also suspend at 10 in 90 days; lift that bar to
	 * see the rate rule alone. */
	policy.suspended_cancellations = 1000;
	struct esc_buyer_rep r = buyer(0, 31, 100, 0, false);
	assert_int_equal(r.level, ESC_LEVEL_RESTRICTED);
	assert_int_equal(r.rate_percent, 31);
	assert_string_equal(r.why, "31 of 100 paid orders cancelled after payment in 90 days, "
				   "over 30 % (restricted with 10+ paid)");
}

static void test_buyer_not_restricted_at_rate_30_percent_with_100_paid(void **state)
{
	(void)state;
	policy.suspended_cancellations = 1000;
	struct esc_buyer_rep r = buyer(0, 30, 100, 0, false);
	assert_int_equal(r.level, ESC_LEVEL_GOOD);
	assert_int_equal(r.rate_percent, 30);
}

static void test_buyer_restricted_at_rate_40_percent_with_exactly_10_paid(void **state)
{
	(void)state;
	struct esc_buyer_rep r = buyer(0, 4, 10, 0, false);
	assert_int_equal(r.level, ESC_LEVEL_RESTRICTED);
	assert_int_equal(r.rate_percent, 40);
}

static void test_buyer_restricted_at_rate_just_over_30_percent(void **state)
{
	(void)state;
	/* 4 of 13 is 30.8 %: over 30 % though the floor shows 30 */
	struct esc_buyer_rep r = buyer(0, 4, 13, 0, false);
	assert_int_equal(r.level, ESC_LEVEL_RESTRICTED);
	assert_int_equal(r.rate_percent, 30);
}

static void test_buyer_not_restricted_at_rate_exactly_30_percent(void **state)
{
	(void)state;
	/* 3 of 10 is exactly 30 %: the rule is "over 30 %" */
	struct esc_buyer_rep r = buyer(0, 3, 10, 0, false);
	assert_int_equal(r.level, ESC_LEVEL_GOOD);
	assert_int_equal(r.rate_percent, 30);
	/* 6 of 20 likewise, and 7 of 20 (35 %) is over */
	assert_int_equal(buyer(0, 6, 20, 0, false).level, ESC_LEVEL_GOOD);
	assert_int_equal(buyer(0, 7, 20, 0, false).level, ESC_LEVEL_RESTRICTED);
}

static void test_buyer_not_restricted_by_rate_with_9_paid_orders(void **state)
{
	(void)state;
	/* 4 of 9 is 44 %, but the rate counts from 10 paid orders */
	struct esc_buyer_rep r = buyer(0, 4, 9, 0, false);
	assert_int_equal(r.level, ESC_LEVEL_GOOD);
	assert_int_equal(r.rate_percent, 44);
	assert_int_equal(r.paid_long, 9);
}

/* --- buyer: suspended ---------------------------------------------------- */

static void test_buyer_not_suspended_at_9_cancellations_in_90_days(void **state)
{
	(void)state;
	/* 9 of 100 is under 30 %, and only 2 in the last 30 days */
	struct esc_buyer_rep r = buyer(2, 9, 100, 0, false);
	assert_int_equal(r.level, ESC_LEVEL_GOOD);
	r = buyer(5, 9, 100, 0, false);
	assert_int_equal(r.level, ESC_LEVEL_RESTRICTED);
}

static void test_buyer_suspended_at_10_cancellations_in_90_days(void **state)
{
	(void)state;
	struct esc_buyer_rep r = buyer(0, 10, 100, 0, false);
	assert_int_equal(r.level, ESC_LEVEL_SUSPENDED);
	assert_string_equal(r.why, "10 cancellations after payment in 90 days (suspended at 10)");
	assert_int_equal(r.cancellations_long, 10);
}

static void test_buyer_not_suspended_at_2_lost_disputes_in_90_days(void **state)
{
	(void)state;
	struct esc_buyer_rep r = buyer(0, 0, 10, 2, false);
	assert_int_equal(r.level, ESC_LEVEL_GOOD);
	assert_int_equal(r.disputes_lost_long, 2);
}

static void test_buyer_suspended_at_3_lost_disputes_in_90_days(void **state)
{
	(void)state;
	struct esc_buyer_rep r = buyer(0, 0, 10, 3, false);
	assert_int_equal(r.level, ESC_LEVEL_SUSPENDED);
	assert_string_equal(r.why, "3 disputes lost in 90 days (suspended at 3)");
}

static void test_buyer_suspension_lifted_by_arbiter_is_restricted(void **state)
{
	(void)state;
	struct esc_buyer_rep r = buyer(0, 10, 100, 0, true);
	assert_int_equal(r.level, ESC_LEVEL_RESTRICTED);
	assert_string_equal(r.why, "suspension lifted by an arbiter; 10 cancellations after "
				   "payment in 90 days (suspended at 10)");
	r = buyer(0, 0, 10, 3, true);
	assert_int_equal(r.level, ESC_LEVEL_RESTRICTED);
}

/* After a lift, only the marks made since can suspend the buyer again
 * (the counts' lifted_), by either rule. */
static void test_buyer_suspended_again_by_marks_since_the_lift(void **state)
{
	(void)state;
	struct esc_rep_counts c = buyer_counts(0, 12, 100, 0);
	struct esc_buyer_rep r;
	c.lifted_[ESC_MARK_BUYER_CANCELLED] = 9;
	esc_buyer_reputation(&policy, &c, true, &r);
	assert_int_equal(r.level, ESC_LEVEL_RESTRICTED);
	c.lifted_[ESC_MARK_BUYER_CANCELLED] = 10;
	esc_buyer_reputation(&policy, &c, true, &r);
	assert_int_equal(r.level, ESC_LEVEL_SUSPENDED);
	assert_int_equal(r.rule, ESC_RULE_SUSPENDED_CANCELLATIONS);
	assert_string_equal(r.why, "10 cancellations after payment since an arbiter lifted the "
				   "suspension (suspended at 10 in 90 days)");
	/* Not read unless lifted. */
	c = buyer_counts(0, 0, 10, 2);
	c.lifted_[ESC_MARK_BUYER_DISPUTE_LOST] = 3;
	esc_buyer_reputation(&policy, &c, false, &r);
	assert_int_equal(r.level, ESC_LEVEL_GOOD);
	c.long_[ESC_MARK_BUYER_DISPUTE_LOST] = 5;
	esc_buyer_reputation(&policy, &c, true, &r);
	assert_int_equal(r.level, ESC_LEVEL_SUSPENDED);
	assert_int_equal(r.rule, ESC_RULE_SUSPENDED_LOST_DISPUTES);
	assert_string_equal(r.why, "3 disputes lost since an arbiter lifted the suspension "
				   "(suspended at 3 in 90 days)");
	/* The budget counts the next cancellations towards it. */
	struct esc_cancel_budget b;
	c = buyer_counts(0, 12, 100, 0);
	c.lifted_[ESC_MARK_BUYER_CANCELLED] = 7;
	esc_cancel_budget(&policy, &c, true, NULL, 0, 0, &b);
	assert_int_equal(b.level, ESC_LEVEL_RESTRICTED);
	assert_int_equal(b.next_level, ESC_LEVEL_SUSPENDED);
	assert_int_equal(b.left, 2);
}

static void test_buyer_lift_does_not_change_lower_levels(void **state)
{
	(void)state;
	assert_int_equal(buyer(0, 0, 0, 0, true).level, ESC_LEVEL_GOOD);
	assert_int_equal(buyer(3, 3, 20, 0, true).level, ESC_LEVEL_WATCH);
	assert_int_equal(buyer(5, 5, 20, 0, true).level, ESC_LEVEL_RESTRICTED);
}

static void test_buyer_levels_follow_configured_thresholds(void **state)
{
	(void)state;
	policy.watch_cancellations = 1;
	policy.buyer_short_window_ms = 7 * ESC_MS_PER_DAY;
	struct esc_buyer_rep r = buyer(1, 1, 20, 0, false);
	assert_int_equal(r.level, ESC_LEVEL_WATCH);
	assert_string_equal(r.why, "1 cancellation after payment in 7 days (watch at 1)");
}

/* --- seller score -------------------------------------------------------- */

static struct esc_seller_rep seller(int32_t sold, int32_t fault_cancels, int32_t missed,
				    int32_t lost, int32_t invalid)
{
	struct esc_rep_counts c;
	struct esc_seller_rep r;
	memset(&c, 0, sizeof c);
	c.long_[ESC_MARK_SELLER_SOLD] = sold;
	c.long_[ESC_MARK_SELLER_FAULT_CANCEL] = fault_cancels;
	c.long_[ESC_MARK_SELLER_MISSED_SHIP] = missed;
	c.long_[ESC_MARK_SELLER_DISPUTE_LOST] = lost;
	c.long_[ESC_MARK_SELLER_INVALID_TRACKING] = invalid;
	esc_seller_reputation(&policy, &c, &r);
	return r;
}

static void test_seller_score_100_with_no_faults_in_90_days(void **state)
{
	(void)state;
	struct esc_seller_rep r = seller(50, 0, 0, 0, 0);
	assert_int_equal(r.score, 100);
	assert_string_equal(r.why, "no faults in 90 days");
	r = seller(0, 0, 0, 0, 0);
	assert_int_equal(r.score, 100);
}

static void test_seller_fault_cancel_weighs_100_per_order(void **state)
{
	(void)state;
	/* 1 of 20 orders: 100 / 20 = 5 points */
	struct esc_seller_rep r = seller(20, 1, 0, 0, 0);
	assert_int_equal(r.score, 95);
	assert_int_equal(r.fault_cancels, 1);
	assert_string_equal(r.why, "1 seller-fault cancellation in 90 days");
}

static void test_seller_missed_ship_weighs_150_per_order(void **state)
{
	(void)state;
	/* 150 / 20 = 7.5, rounded up to 8 */
	struct esc_seller_rep r = seller(20, 0, 1, 0, 0);
	assert_int_equal(r.score, 92);
	assert_string_equal(r.why, "1 missed ship deadline in 90 days");
}

static void test_seller_lost_dispute_weighs_200_per_order(void **state)
{
	(void)state;
	struct esc_seller_rep r = seller(20, 0, 0, 1, 0);
	assert_int_equal(r.score, 90);
	assert_string_equal(r.why, "1 lost dispute in 90 days");
}

static void test_seller_invalid_tracking_weighs_200_per_order(void **state)
{
	(void)state;
	struct esc_seller_rep r = seller(20, 0, 0, 0, 1);
	assert_int_equal(r.score, 90);
	assert_string_equal(r.why, "1 invalid tracking number in 90 days");
}

static void test_seller_deduction_rounds_up(void **state)
{
	(void)state;
	/* 100 / 30 = 3.33 -> 4 points */
	assert_int_equal(seller(30, 1, 0, 0, 0).score, 96);
	/* 100 / 1000 = 0.1 -> 1 point: any fault shows */
	assert_int_equal(seller(1000, 1, 0, 0, 0).score, 99);
}

static void test_seller_faults_add_up_and_are_all_named(void **state)
{
	(void)state;
	/* (2*100 + 1*150 + 1*200 + 3*200) / 40 = 1150 / 40 = 28.75 -> 29 */
	struct esc_seller_rep r = seller(40, 2, 1, 1, 3);
	assert_int_equal(r.score, 71);
	assert_string_equal(r.why, "2 seller-fault cancellations, 1 missed ship deadline, 1 lost "
				   "dispute, 3 invalid tracking numbers in 90 days");
}

static void test_seller_orders_floor_at_10_min_orders(void **state)
{
	(void)state;
	/* 1 fault on 2 orders counts as over 10 orders: 100 / 10 = 10 */
	struct esc_seller_rep r = seller(2, 1, 0, 0, 0);
	assert_int_equal(r.score, 90);
	assert_int_equal(r.orders_long, 2);
	/* with no orders at all, likewise */
	assert_int_equal(seller(0, 1, 0, 0, 0).score, 90);
	/* at exactly 10 orders the floor and the count agree */
	assert_int_equal(seller(10, 1, 0, 0, 0).score, 90);
	/* 11 orders: 100 / 11 = 9.09 -> 10 */
	assert_int_equal(seller(11, 1, 0, 0, 0).score, 90);
	/* 12 orders: 100 / 12 = 8.33 -> 9 */
	assert_int_equal(seller(12, 1, 0, 0, 0).score, 91);
}

static void test_seller_score_clamps_at_0(void **state)
{
	(void)state;
	/* 20 lost disputes on 10 orders: 4000 / 10 = 400 points */
	struct esc_seller_rep r = seller(10, 0, 0, 20, 0);
	assert_int_equal(r.score, 0);
	/* exactly 100 points lands on 0 too */
	assert_int_equal(seller(10, 10, 0, 0, 0).score, 0);
	/* and the largest counts do not overflow */
	assert_int_equal(seller(1, INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX).score, 0);
}

static void test_seller_score_follows_configured_weights(void **state)
{
	(void)state;
	policy.seller_weight_missed_ship = 0;
	policy.seller_window_ms = 30 * ESC_MS_PER_DAY;
	struct esc_seller_rep r = seller(10, 0, 5, 0, 0);
	assert_int_equal(r.score, 100);
	assert_string_equal(r.why, "5 missed ship deadlines in 30 days");
}

#define T(name) cmocka_unit_test_setup(name, setup)

/* --- the rule behind a level, and the cancellation budget (issue 16) ----- */

static void test_levels_name_their_rule(void **state)
{
	(void)state;
	assert_int_equal(buyer(0, 0, 0, 0, false).rule, ESC_RULE_WATCH_CANCELLATIONS);
	assert_int_equal(buyer(3, 3, 20, 0, false).rule, ESC_RULE_WATCH_CANCELLATIONS);
	assert_int_equal(buyer(5, 5, 20, 0, false).rule, ESC_RULE_RESTRICTED_CANCELLATIONS);
	assert_int_equal(buyer(1, 4, 10, 0, false).rule, ESC_RULE_RESTRICTED_RATE);
	assert_int_equal(buyer(1, 10, 40, 0, false).rule, ESC_RULE_SUSPENDED_CANCELLATIONS);
	assert_int_equal(buyer(0, 0, 5, 3, false).rule, ESC_RULE_SUSPENDED_LOST_DISPUTES);
	struct esc_rep_counts c;
	struct esc_seller_rep s;
	memset(&c, 0, sizeof c);
	esc_seller_reputation(&policy, &c, &s);
	assert_int_equal(s.rule, ESC_RULE_SELLER_SCORE);
}

static struct esc_cancel_budget budget(int32_t cancelled_30, int32_t cancelled_90, int32_t paid_90,
				       const int64_t *at, size_t n, int64_t now)
{
	struct esc_rep_counts c = buyer_counts(cancelled_30, cancelled_90, paid_90, 0);
	struct esc_cancel_budget b;
	esc_cancel_budget(&policy, &c, false, at, n, now, &b);
	return b;
}

static void test_cancel_budget(void **state)
{
	(void)state;
	const int64_t day = ESC_MS_PER_DAY, now = 1000 * day;

	/* None yet: two more keep the buyer good, the third makes them watched. */
	struct esc_cancel_budget b = budget(0, 0, 20, NULL, 0, now);
	assert_int_equal(b.level, ESC_LEVEL_GOOD);
	assert_int_equal(b.left, 2);
	assert_int_equal(b.next_level, ESC_LEVEL_WATCH);
	assert_int_equal(b.next_rule, ESC_RULE_WATCH_CANCELLATIONS);
	assert_true(b.short_leaves_ms == 0 && b.long_leaves_ms == 0);

	/* Two, 10 and 40 days ago: the one of 10 days ago is the oldest in
	 * the 30-day window and leaves it in 20 days; the 90-day window's
	 * oldest leaves in 50. Next one makes them watched. */
	const int64_t at[] = {now - 10 * day, now - 40 * day, now - 200 * day};
	b = budget(1, 2, 20, at, 3, now);
	assert_int_equal(b.left, 1);
	assert_true(b.short_leaves_ms == now + 20 * day);
	assert_true(b.long_leaves_ms == now + 50 * day);

	/* Watched at 3: two more keep them watched, the third restricts. */
	b = budget(3, 3, 20, NULL, 0, now);
	assert_int_equal(b.level, ESC_LEVEL_WATCH);
	assert_int_equal(b.left, 1);
	assert_int_equal(b.next_level, ESC_LEVEL_RESTRICTED);
	assert_int_equal(b.next_rule, ESC_RULE_RESTRICTED_CANCELLATIONS);

	/* The rate bites first: 2 of 10 paid cancelled in 90 days, one more is
	 * 30 %, not over; the second is 40 % and restricts. */
	b = budget(0, 2, 10, NULL, 0, now);
	assert_int_equal(b.level, ESC_LEVEL_GOOD);
	assert_int_equal(b.left, 1);
	assert_int_equal(b.next_level, ESC_LEVEL_RESTRICTED);
	assert_int_equal(b.next_rule, ESC_RULE_RESTRICTED_RATE);

	/* Restricted with 9 in 90 days: the next one suspends. */
	b = budget(5, 9, 40, NULL, 0, now);
	assert_int_equal(b.level, ESC_LEVEL_RESTRICTED);
	assert_int_equal(b.left, 0);
	assert_int_equal(b.next_level, ESC_LEVEL_SUSPENDED);
	assert_int_equal(b.next_rule, ESC_RULE_SUSPENDED_CANCELLATIONS);

	/* Suspended: nothing more changes it. */
	b = budget(10, 10, 40, NULL, 0, now);
	assert_int_equal(b.level, ESC_LEVEL_SUSPENDED);
	assert_int_equal(b.left, -1);
	assert_int_equal(b.next_rule, -1);
	assert_int_equal(b.next_level, ESC_LEVEL_SUSPENDED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_mark_names_round_trip),
		T(test_levels_name_their_rule),
		T(test_cancel_budget),
		T(test_level_names_are_good_watch_restricted_suspended),
		T(test_buyer_good_with_no_marks),
		T(test_buyer_good_at_2_cancellations_in_30_days),
		T(test_buyer_watch_at_3_cancellations_in_30_days),
		T(test_buyer_watch_counts_the_30_day_window_not_90),
		T(test_buyer_watch_not_restricted_at_4_cancellations_in_30_days),
		T(test_buyer_restricted_at_5_cancellations_in_30_days),
		T(test_buyer_restricted_at_rate_31_percent_with_10_paid_in_90_days),
		T(test_buyer_not_restricted_at_rate_30_percent_with_100_paid),
		T(test_buyer_restricted_at_rate_40_percent_with_exactly_10_paid),
		T(test_buyer_restricted_at_rate_just_over_30_percent),
		T(test_buyer_not_restricted_at_rate_exactly_30_percent),
		T(test_buyer_not_restricted_by_rate_with_9_paid_orders),
		T(test_buyer_not_suspended_at_9_cancellations_in_90_days),
		T(test_buyer_suspended_at_10_cancellations_in_90_days),
		T(test_buyer_not_suspended_at_2_lost_disputes_in_90_days),
		T(test_buyer_suspended_at_3_lost_disputes_in_90_days),
		T(test_buyer_suspension_lifted_by_arbiter_is_restricted),
		T(test_buyer_suspended_again_by_marks_since_the_lift),
		T(test_buyer_lift_does_not_change_lower_levels),
		T(test_buyer_levels_follow_configured_thresholds),
		T(test_seller_score_100_with_no_faults_in_90_days),
		T(test_seller_fault_cancel_weighs_100_per_order),
		T(test_seller_missed_ship_weighs_150_per_order),
		T(test_seller_lost_dispute_weighs_200_per_order),
		T(test_seller_invalid_tracking_weighs_200_per_order),
		T(test_seller_deduction_rounds_up),
		T(test_seller_faults_add_up_and_are_all_named),
		T(test_seller_orders_floor_at_10_min_orders),
		T(test_seller_score_clamps_at_0),
		T(test_seller_score_follows_configured_weights),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
