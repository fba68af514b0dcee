/* reputation.h - buyer levels and seller scores (SPEC §6), from counts.
 *
 * The store counts reputation marks over time windows; these pure
 * functions turn the counts into a level or a score, with the rule that
 * decided it. */
#ifndef ESC_REPUTATION_H
#define ESC_REPUTATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/policy.h"

/* What an order event leaves on a user's record. Stored with the user,
 * the order and the time; counted over windows. */
enum esc_mark {
	ESC_MARK_BUYER_PAID,      /* the buyer paid an order */
	ESC_MARK_BUYER_CANCELLED, /* a cancellation after payment */
	ESC_MARK_BUYER_DISPUTE_OPENED,
	ESC_MARK_BUYER_DISPUTE_LOST,
	ESC_MARK_SELLER_SOLD,         /* an order of the seller's was paid */
	ESC_MARK_SELLER_FAULT_CANCEL, /* cancelled for a seller-fault reason */
	ESC_MARK_SELLER_MISSED_SHIP,  /* the ship deadline passed */
	ESC_MARK_SELLER_DISPUTE_LOST,
	ESC_MARK_SELLER_INVALID_TRACKING,
	ESC_MARK_COUNT
};

const char *esc_mark_name(enum esc_mark m);
int esc_mark_parse(const char *name); /* or -1 */

/* Counts of each mark in the short (30 days) and long (90 days) windows
 * ending now. Buyer levels read both; seller scores read `long_`. A buyer
 * whose suspension an arbiter lifted within the long window also has
 * `lifted_`: the cancellations after payment and lost disputes made since
 * the lift, which alone can suspend them again. */
struct esc_rep_counts {
	int32_t short_[ESC_MARK_COUNT];
	int32_t long_[ESC_MARK_COUNT];
	int32_t lifted_[ESC_MARK_COUNT];
};

enum esc_buyer_level {
	ESC_LEVEL_GOOD,
	ESC_LEVEL_WATCH,
	ESC_LEVEL_RESTRICTED,
	ESC_LEVEL_SUSPENDED,
	ESC_LEVEL_COUNT
};

const char *esc_level_name(enum esc_buyer_level l);

struct esc_buyer_rep {
	enum esc_buyer_level level;
	/* Why: a short English sentence naming the rule and the numbers,
	 * e.g. "5 cancellations after payment in 30 days (restricted at 5)". */
	char why[160];
	int rule; /* enum esc_rule (core/rules.h) of the threshold that set it */
	int32_t cancellations_short;
	int32_t cancellations_long;
	int32_t paid_long;
	int32_t rate_percent; /* cancellations_long * 100 / paid_long, floor */
	int32_t disputes_lost_long;
	/* An arbiter lifted a suspension within the long window: the
	 * cancellations after payment and lost disputes made since. */
	bool lifted;
	int32_t cancellations_since_lift;
	int32_t disputes_lost_since_lift;
};

/* The buyer's level from their counts. `lifted` is true when an arbiter
 * lifted a suspension within the long window: the marks from before the
 * lift then hold the buyer at restricted at most, and only those since
 * (c->lifted_) count towards a new suspension. */
void esc_buyer_reputation(const struct esc_policy *p, const struct esc_rep_counts *c, bool lifted,
			  struct esc_buyer_rep *out);

struct esc_seller_rep {
	int32_t score; /* 0..100 */
	char why[160];
	int rule; /* ESC_RULE_SELLER_SCORE */
	int32_t orders_long;
	int32_t fault_cancels;
	int32_t missed_ships;
	int32_t disputes_lost;
	int32_t invalid_tracking;
};

void esc_seller_reputation(const struct esc_policy *p, const struct esc_rep_counts *c,
			   struct esc_seller_rep *out);

/* The buyer's cancellation budget (issue 16 item 3): how many more
 * cancellations after payment keep the buyer at their level, the level and
 * the rule the next one beyond that brings, and when the oldest
 * cancellation counted leaves each window. */
struct esc_cancel_budget {
	enum esc_buyer_level level;      /* now */
	enum esc_buyer_level next_level; /* after `left` + 1 more; == level when none changes it */
	int32_t left;                    /* more cancellations that keep the level; -1: no limit */
	int next_rule;                   /* enum esc_rule that would set next_level, or -1 */
	int64_t short_leaves_ms;         /* the oldest in the short window leaves it; 0: none */
	int64_t long_leaves_ms;          /* the same for the long window */
};

/* From the counts and the times of the buyer's cancellations after payment
 * (any order, those older than the long window ignored), at now_ms. */
void esc_cancel_budget(const struct esc_policy *p, const struct esc_rep_counts *c, bool lifted,
		       const int64_t *cancelled_at, size_t n, int64_t now_ms,
		       struct esc_cancel_budget *out);

#endif
