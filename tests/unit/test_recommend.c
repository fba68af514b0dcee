/* test_recommend.c - the arbiter's recommendation (SPEC §5, §6): each rule
 * of recommend.h on its own, and together. Pure: no store, no clock. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/recommend.h"
#include "core/rules.h"

static struct esc_order disputed(const char *ground, int64_t asked)
{
	struct esc_order o;
	memset(&o, 0, sizeof o);
	snprintf(o.id, sizeof o.id, "ord_1");
	snprintf(o.carrier, sizeof o.carrier, "Posturinn");
	snprintf(o.tracking, sizeof o.tracking, "RR1IS");
	snprintf(o.dispute_ground, sizeof o.dispute_ground, "%s", ground);
	o.dispute_amount_minor = asked;
	o.disputes_count = 1;
	o.state = ESC_ST_IN_DISPUTE;
	o.dispute_state = ESC_DS_ESCALATED;
	return o;
}

static struct esc_dispute_facts facts(size_t buyer_files, size_t seller_files)
{
	struct esc_dispute_facts f;
	memset(&f, 0, sizeof f);
	f.buyer_evidence = buyer_files;
	f.seller_evidence = seller_files;
	f.buyer.level = ESC_LEVEL_GOOD;
	f.seller.score = 100;
	return f;
}

static int64_t recommend(const struct esc_order *o, const struct esc_dispute_facts *f,
			 struct esc_recommendation *r)
{
	esc_dispute_recommend(o, f, r);
	assert_true(r->reasons_count >= 1);
	for (size_t i = 0; i < r->reasons_count; i++) {
		const char *id = NULL;
		int weight = -1;
		assert_true(strlen(r->reasons[i]) > 10);
		/* Each reason names the rule it applied, with its weight. */
		if (!esc_recommendation_rule(o, r->reasons[i], &id, &weight))
			fail_msg("no rule for the reason '%s'", r->reasons[i]);
		assert_true(!strncmp(id, "recommend_", 10) && weight >= 0);
		/* A rule of the one catalogue (GET /v1/rules). */
		assert_true(esc_rule_parse(id) >= 0);
	}
	return r->refund_minor;
}

static void not_delivered_follows_the_carrier(void **state)
{
	struct esc_recommendation r;
	struct esc_order o = disputed("not_delivered", 4000);
	struct esc_dispute_facts f = facts(0, 0);
	(void)state;
	assert_true(recommend(&o, &f, &r) == 4000);
	assert_non_null(strstr(r.reasons[0], "never reported delivery"));
	o.delivered_at_ms = 1;
	assert_true(recommend(&o, &f, &r) == 0);
	o = disputed("invalid_tracking", 4000);
	assert_true(recommend(&o, &f, &r) == 4000);
}

static void not_as_described_follows_the_evidence(void **state)
{
	struct esc_recommendation r;
	struct esc_order o = disputed("not_as_described", 4001);
	struct esc_dispute_facts f = facts(0, 2);
	(void)state;
	assert_true(recommend(&o, &f, &r) == 0);
	f = facts(2, 0);
	assert_true(recommend(&o, &f, &r) == 4001);
	f = facts(2, 1);
	assert_true(recommend(&o, &f, &r) == 2000); /* half, rounded down */
	const char *id;
	int weight;
	assert_true(esc_recommendation_rule(&o, r.reasons[0], &id, &weight));
	assert_string_equal(id, "recommend_evidence");
	assert_int_equal(weight, 50);
}

static void a_counter_offer_is_the_least(void **state)
{
	struct esc_recommendation r;
	struct esc_order o = disputed("not_as_described", 4000);
	struct esc_dispute_facts f = facts(0, 0);
	(void)state;
	o.dispute_offer_minor = 1500;
	assert_true(recommend(&o, &f, &r) == 1500);
	assert_int_equal(r.reasons_count, 2);
	/* Even for a restricted buyer. */
	f.buyer.level = ESC_LEVEL_RESTRICTED;
	f = facts(2, 0);
	f.buyer.level = ESC_LEVEL_RESTRICTED;
	assert_true(recommend(&o, &f, &r) == 2000);
	o.dispute_offer_minor = 2500;
	assert_true(recommend(&o, &f, &r) == 2500);
}

static void a_poor_seller_tilts_half_to_all(void **state)
{
	struct esc_recommendation r;
	struct esc_order o = disputed("not_as_described", 4000);
	struct esc_dispute_facts f = facts(1, 1);
	(void)state;
	f.seller.score = 59;
	assert_true(recommend(&o, &f, &r) == 4000);
	f.seller.score = 60;
	assert_true(recommend(&o, &f, &r) == 2000);
	/* Nothing stays nothing. */
	f = facts(0, 1);
	f.seller.score = 10;
	assert_true(recommend(&o, &f, &r) == 0);
}

/* SPEC §6: a restricted buyer's recommendation is weighted towards the
 * seller. */
static void spec_6_restricted_buyer_is_weighted_towards_the_seller(void **state)
{
	struct esc_recommendation r;
	struct esc_order o = disputed("not_delivered", 4000);
	struct esc_dispute_facts f = facts(0, 0);
	(void)state;
	f.buyer.level = ESC_LEVEL_WATCH;
	assert_true(recommend(&o, &f, &r) == 4000);
	f.buyer.level = ESC_LEVEL_RESTRICTED;
	snprintf(f.buyer.why, sizeof f.buyer.why, "5 cancellations in 30 days");
	assert_true(recommend(&o, &f, &r) == 2000);
	assert_non_null(strstr(r.reasons[r.reasons_count - 1], "restricted"));
	f.buyer.level = ESC_LEVEL_SUSPENDED;
	assert_true(recommend(&o, &f, &r) == 2000);
}

/* Issue 11 item 14: the recommendation kept in the order reads back as it
 * was, its reasons one a line (a line break inside one is a space); an
 * order without one keeps none. */
static void a_kept_recommendation_reads_back_whole(void **state)
{
	struct esc_recommendation r, back;
	struct esc_order o = disputed("not_as_described", 3500);
	struct esc_dispute_facts f = facts(1, 1);
	(void)state;
	assert_false(esc_recommendation_kept(&o, &back));
	f.seller.score = 40;
	snprintf(o.carrier, sizeof o.carrier, "Post\nurinn");
	recommend(&o, &f, &r);
	assert_true(r.reasons_count == 2);
	esc_recommendation_keep(&r, &o);
	assert_true(esc_recommendation_kept(&o, &back));
	assert_true(back.refund_minor == 3500);
	assert_int_equal(back.reasons_count, r.reasons_count);
	for (size_t i = 0; i < r.reasons_count; i++)
		assert_string_equal(back.reasons[i], r.reasons[i]);

	o = disputed("invalid_tracking", 3500);
	snprintf(o.carrier, sizeof o.carrier, "Post\nurinn");
	recommend(&o, &f, &r);
	esc_recommendation_keep(&r, &o);
	assert_true(esc_recommendation_kept(&o, &back));
	assert_int_equal(back.reasons_count, 1);
	assert_non_null(strstr(back.reasons[0], "Post urinn"));
	assert_null(strchr(back.reasons[0], '\n'));

	/* Every reason at its longest fits. */
	memset(&r, 0, sizeof r);
	r.reasons_count = ESC_RECOMMEND_REASONS_MAX;
	for (size_t i = 0; i < r.reasons_count; i++)
		memset(r.reasons[i], 'a' + (int)i, sizeof r.reasons[i] - 1);
	esc_recommendation_keep(&r, &o);
	assert_true(esc_recommendation_kept(&o, &back));
	assert_int_equal(back.reasons_count, ESC_RECOMMEND_REASONS_MAX);
	for (size_t i = 0; i < r.reasons_count; i++)
		assert_string_equal(back.reasons[i], r.reasons[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(not_delivered_follows_the_carrier),
		cmocka_unit_test(not_as_described_follows_the_evidence),
		cmocka_unit_test(a_counter_offer_is_the_least),
		cmocka_unit_test(a_poor_seller_tilts_half_to_all),
		cmocka_unit_test(spec_6_restricted_buyer_is_weighted_towards_the_seller),
		cmocka_unit_test(a_kept_recommendation_reads_back_whole),
	};
	return cmocka_run_group_tests_name("recommend", tests, NULL, NULL);
}
