/* recommend.h - the arbiter's recommendation for a dispute (SPEC §5, §6).
 *
 * A pure function of the order and its dispute, the evidence each party
 * gave, the tracking and both reputations: a refund amount from 0 to what
 * the buyer asked, with the reasons that led to it, in words an arbiter
 * reads. It advises; the arbiter decides. */
#ifndef ESC_RECOMMEND_H
#define ESC_RECOMMEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"
#include "core/order.h"
#include "core/reputation.h"

/* Under this score a seller's doubt goes to the buyer (rule 2 below,
 * recommend_seller_score). */
#define ESC_RECOMMEND_POOR_SCORE 60

struct esc_recommendation {
	int64_t refund_minor;
	char reasons[ESC_RECOMMEND_REASONS_MAX][ESC_RECOMMEND_REASON_SIZE];
	size_t reasons_count;
};

/* What the recommendation reads beyond the order. */
struct esc_dispute_facts {
	size_t buyer_evidence;  /* files the buyer added */
	size_t seller_evidence; /* files the seller added */
	struct esc_buyer_rep buyer;
	struct esc_seller_rep seller;
};

/* The rules, in order:
 *  1. The ground sets the start. not_delivered and invalid_tracking: the
 *     amount asked when the carrier never reported delivery, nothing when
 *     it did. not_as_described: the amount asked when only the buyer gave
 *     evidence, half when both did, nothing when the buyer gave none.
 *  2. A seller scoring under 60 tilts it to the buyer: half becomes all.
 *  3. A restricted or suspended buyer's recommendation is weighted towards
 *     the seller (SPEC §6): it is halved.
 *  4. A seller's counter-offer is what the seller conceded: never less,
 *     whatever the records say.
 * Amounts are rounded down to the minor unit. */
void esc_dispute_recommend(const struct esc_order *o, const struct esc_dispute_facts *f,
			   struct esc_recommendation *out);

/* The rule a reason of a recommendation applied (issue 16): its id and
 * its weight, the percent of the amount asked it sets or multiplies by:
 *   recommend_delivery         100 (never delivered) or 0 (delivered)
 *   recommend_evidence         100 (only the buyer's), 50 (both), 0 (none)
 *   recommend_seller_score     200: a poor seller's half becomes all
 *   recommend_buyer_level      50: a restricted or suspended buyer's halved
 *   recommend_offer_floor      the seller's offer, in percent of asked
 * Read from the reason's words, so a kept recommendation names its rules
 * too. false for a reason of none of them. */
bool esc_recommendation_rule(const struct esc_order *o, const char *reason, const char **id,
			     int *weight_percent);

/* Keep r in o (dispute_recommended_minor and dispute_recommendation, its
 * reasons one a line; a line break inside a reason becomes a space). */
void esc_recommendation_keep(const struct esc_recommendation *r, struct esc_order *o);
/* The recommendation kept in o; false when none is. */
bool esc_recommendation_kept(const struct esc_order *o, struct esc_recommendation *out);

_Static_assert(ESC_RECOMMEND_REASONS_MAX * sizeof((struct esc_recommendation *)0)->reasons[0] <=
		       ESC_RECOMMENDATION_MAX + 1,
	       "every reason, one a line, fits the order's dispute_recommendation");

#endif
