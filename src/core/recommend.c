/* recommend.c - the arbiter's recommendation: see recommend.h. */
#include "core/recommend.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define SELLER_POOR_SCORE ESC_RECOMMEND_POOR_SCORE

static void reason(struct esc_recommendation *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void reason(struct esc_recommendation *r, const char *fmt, ...)
{
	va_list ap;
	if (r->reasons_count >= ESC_RECOMMEND_REASONS_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(r->reasons[r->reasons_count++], sizeof r->reasons[0], fmt, ap);
	va_end(ap);
}

void esc_dispute_recommend(const struct esc_order *o, const struct esc_dispute_facts *f,
			   struct esc_recommendation *out)
{
	int64_t asked = o->dispute_amount_minor, amount = 0;
	bool delivered = o->delivered_at_ms != 0;
	memset(out, 0, sizeof *out);

	/* 1. The ground. */
	if (!strcmp(o->dispute_ground, "not_delivered") ||
	    !strcmp(o->dispute_ground, "invalid_tracking")) {
		if (delivered) {
			reason(out,
			       "The carrier reported the parcel delivered (%s %s): the "
			       "claim is not borne out.",
			       o->carrier, o->tracking);
		} else {
			amount = asked;
			reason(out,
			       "The carrier never reported delivery of %s %s: the buyer "
			       "has nothing to show for the order.",
			       o->carrier, o->tracking);
		}
	} else if (f->buyer_evidence == 0) {
		reason(out, "The buyer gave no evidence that the goods are not as described.");
	} else if (f->seller_evidence == 0) {
		amount = asked;
		reason(out, "The buyer gave %zu file(s) of evidence and the seller none.",
		       f->buyer_evidence);
	} else {
		amount = asked / 2;
		reason(out,
		       "Both gave evidence (buyer %zu, seller %zu): half of the amount "
		       "asked.",
		       f->buyer_evidence, f->seller_evidence);
	}
	/* 2. A seller with a poor record. */
	if (f->seller.score < SELLER_POOR_SCORE && amount > 0 && amount < asked) {
		amount = asked;
		reason(out, "The seller's score is %d (under %d): the doubt goes to the buyer.",
		       (int)f->seller.score, SELLER_POOR_SCORE);
	}
	/* 3. A buyer whose record weighs against them. */
	if ((f->buyer.level == ESC_LEVEL_RESTRICTED || f->buyer.level == ESC_LEVEL_SUSPENDED) &&
	    amount > 0) {
		amount /= 2;
		reason(out, "The buyer is %s (%s): weighted towards the seller, halved.",
		       esc_level_name(f->buyer.level), f->buyer.why);
	}
	/* 4. What the seller conceded, whatever the records say. */
	if (o->dispute_offer_minor > amount) {
		amount = o->dispute_offer_minor;
		reason(out, "The seller offered %lld themselves: not less than that.",
		       (long long)o->dispute_offer_minor);
	}
	if (amount > asked)
		amount = asked;
	out->refund_minor = amount;
}

/* Every reason (at most ESC_RECOMMEND_REASON_SIZE - 1 bytes) and the
 * newlines between them fit in the order's copy: nothing kept is cut. */
_Static_assert((ESC_RECOMMEND_REASONS_MAX * ESC_RECOMMEND_REASON_SIZE) - 1 <=
		       ESC_RECOMMENDATION_MAX,
	       "a kept recommendation holds all its reasons");

void esc_recommendation_keep(const struct esc_recommendation *r, struct esc_order *o)
{
	size_t at = 0, size = sizeof o->dispute_recommendation;
	o->dispute_recommended_minor = r->refund_minor;
	o->dispute_recommendation[0] = '\0';
	for (size_t i = 0; i < r->reasons_count; i++) {
		if (i && at + 1 < size)
			o->dispute_recommendation[at++] = '\n';
		for (const char *p = r->reasons[i]; *p && at + 1 < size; p++)
			o->dispute_recommendation[at++] = *p == '\n' ? ' ' : *p;
		o->dispute_recommendation[at] = '\0';
	}
}

bool esc_recommendation_kept(const struct esc_order *o, struct esc_recommendation *out)
{
	const char *p = o->dispute_recommendation;
	memset(out, 0, sizeof *out);
	if (!*p)
		return false;
	out->refund_minor = o->dispute_recommended_minor;
	while (*p && out->reasons_count < ESC_RECOMMEND_REASONS_MAX) {
		size_t n = strcspn(p, "\n");
		snprintf(out->reasons[out->reasons_count++], sizeof out->reasons[0], "%.*s", (int)n,
			 p);
		p += n;
		if (*p)
			p++;
	}
	return true;
}

bool esc_recommendation_rule(const struct esc_order *o, const char *reason, const char **id,
			     int *weight_percent)
{
	static const struct {
		const char *starts;
		const char *id;
		int weight;
	} rules[] = {
		{"The carrier reported the parcel delivered", "recommend_delivery", 0},
		{"The carrier never reported delivery", "recommend_delivery", 100},
		{"The buyer gave no evidence", "recommend_evidence", 0},
		{"The buyer gave ", "recommend_evidence", 100},
		{"Both gave evidence", "recommend_evidence", 50},
		{"The seller's score is", "recommend_seller_score", 200},
		{"The buyer is ", "recommend_buyer_level", 50},
		{"The seller offered", "recommend_offer_floor", -1},
	};
	for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
		if (strncmp(reason, rules[i].starts, strlen(rules[i].starts)))
			continue;
		*id = rules[i].id;
		*weight_percent = rules[i].weight;
		if (rules[i].weight < 0)
			*weight_percent = o->dispute_amount_minor > 0
						  ? (int)(o->dispute_offer_minor * 100 /
							  o->dispute_amount_minor)
						  : 0;
		return true;
	}
	return false;
}
