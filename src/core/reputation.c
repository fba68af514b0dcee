/* reputation.c - buyer levels and seller scores (SPEC §6) from mark counts,
 * each with a sentence naming the rule that decided it. Integer math only. */
#include "core/reputation.h"

#include "core/rules.h"

#include <stdio.h>
#include <string.h>

#include "util/bug.h"

static const char *const mark_names[] = {
	[ESC_MARK_BUYER_PAID] = "buyer_paid",
	[ESC_MARK_BUYER_CANCELLED] = "buyer_cancelled",
	[ESC_MARK_BUYER_DISPUTE_OPENED] = "buyer_dispute_opened",
	[ESC_MARK_BUYER_DISPUTE_LOST] = "buyer_dispute_lost",
	[ESC_MARK_SELLER_SOLD] = "seller_sold",
	[ESC_MARK_SELLER_FAULT_CANCEL] = "seller_fault_cancel",
	[ESC_MARK_SELLER_MISSED_SHIP] = "seller_missed_ship",
	[ESC_MARK_SELLER_DISPUTE_LOST] = "seller_dispute_lost",
	[ESC_MARK_SELLER_INVALID_TRACKING] = "seller_invalid_tracking",
};

_Static_assert(sizeof mark_names / sizeof mark_names[0] == ESC_MARK_COUNT, "every mark has a name");

static const char *const level_names[] = {
	[ESC_LEVEL_GOOD] = "good",
	[ESC_LEVEL_WATCH] = "watch",
	[ESC_LEVEL_RESTRICTED] = "restricted",
	[ESC_LEVEL_SUSPENDED] = "suspended",
};

_Static_assert(sizeof level_names / sizeof level_names[0] == ESC_LEVEL_COUNT,
	       "every level has a name");

const char *esc_mark_name(enum esc_mark m)
{
	if ((int)m < 0 || m >= ESC_MARK_COUNT)
		return "unknown";
	return mark_names[m];
}

int esc_mark_parse(const char *name)
{
	if (!name)
		return -1;
	for (int m = 0; m < ESC_MARK_COUNT; m++) {
		if (strcmp(mark_names[m], name) == 0)
			return m;
	}
	return -1;
}

const char *esc_level_name(enum esc_buyer_level l)
{
	if ((int)l < 0 || l >= ESC_LEVEL_COUNT)
		return "unknown";
	return level_names[l];
}

/* A window as people say it: "30 days", "1 day", "36 hours", "90 minutes". */
static void window_words(int64_t ms, char *out, size_t size)
{
	static const struct {
		int64_t ms;
		const char *one, *many;
	} units[] = {{ESC_MS_PER_DAY, "day", "days"},
		     {ESC_MS_PER_HOUR, "hour", "hours"},
		     {60000, "minute", "minutes"},
		     {1000, "second", "seconds"}};
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (ms > 0 && ms % units[i].ms == 0) {
			int64_t n = ms / units[i].ms;
			snprintf(out, size, "%lld %s", (long long)n,
				 n == 1 ? units[i].one : units[i].many);
			return;
		}
	}
	snprintf(out, size, "%lld ms", (long long)ms);
}

static const char *plural(int64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

void esc_buyer_reputation(const struct esc_policy *p, const struct esc_rep_counts *c, bool lifted,
			  struct esc_buyer_rep *out)
{
	char short_w[32], long_w[32];
	ESC_ASSERT(p && c && out, "a buyer's reputation needs a policy, counts and a place");
	memset(out, 0, sizeof *out);
	out->cancellations_short = c->short_[ESC_MARK_BUYER_CANCELLED];
	out->cancellations_long = c->long_[ESC_MARK_BUYER_CANCELLED];
	out->paid_long = c->long_[ESC_MARK_BUYER_PAID];
	out->disputes_lost_long = c->long_[ESC_MARK_BUYER_DISPUTE_LOST];
	ESC_ASSERT(out->cancellations_short >= 0 && out->cancellations_long >= 0 &&
			   out->paid_long >= 0 && out->disputes_lost_long >= 0,
		   "negative mark counts for a buyer");
	/* int64_t: cancellations * 100 must not overflow int32_t. */
	int64_t cancelled = out->cancellations_long, paid = out->paid_long;
	if (paid > 0)
		out->rate_percent = (int32_t)(cancelled * 100 / paid);
	window_words(p->buyer_short_window_ms, short_w, sizeof short_w);
	window_words(p->buyer_long_window_ms, long_w, sizeof long_w);

	int32_t cs = out->cancellations_short;
	int32_t lost = out->disputes_lost_long;
	const char *lift_note = lifted ? "suspension lifted by an arbiter; " : "";
	enum esc_buyer_level suspended = lifted ? ESC_LEVEL_RESTRICTED : ESC_LEVEL_SUSPENDED;
	int32_t cancelled_since = c->lifted_[ESC_MARK_BUYER_CANCELLED];
	int32_t lost_since = c->lifted_[ESC_MARK_BUYER_DISPUTE_LOST];
	out->lifted = lifted;
	out->cancellations_since_lift = lifted ? cancelled_since : 0;
	out->disputes_lost_since_lift = lifted ? lost_since : 0;

	if (lifted && cancelled_since >= p->suspended_cancellations) {
		out->level = ESC_LEVEL_SUSPENDED;
		out->rule = ESC_RULE_SUSPENDED_CANCELLATIONS;
		snprintf(out->why, sizeof out->why,
			 "%d %s after payment since an arbiter lifted the suspension (suspended at "
			 "%d in %s)",
			 cancelled_since, plural(cancelled_since, "cancellation", "cancellations"),
			 p->suspended_cancellations, long_w);
	} else if (lifted && lost_since >= p->suspended_lost_disputes) {
		out->level = ESC_LEVEL_SUSPENDED;
		out->rule = ESC_RULE_SUSPENDED_LOST_DISPUTES;
		snprintf(
			out->why, sizeof out->why,
			"%d %s lost since an arbiter lifted the suspension (suspended at %d in %s)",
			lost_since, plural(lost_since, "dispute", "disputes"),
			p->suspended_lost_disputes, long_w);
	} else if (cancelled >= p->suspended_cancellations) {
		out->level = suspended;
		out->rule = ESC_RULE_SUSPENDED_CANCELLATIONS;
		snprintf(out->why, sizeof out->why,
			 "%s%lld %s after payment in %s (suspended at %d)", lift_note,
			 (long long)cancelled, plural(cancelled, "cancellation", "cancellations"),
			 long_w, p->suspended_cancellations);
	} else if (lost >= p->suspended_lost_disputes) {
		out->level = suspended;
		out->rule = ESC_RULE_SUSPENDED_LOST_DISPUTES;
		snprintf(out->why, sizeof out->why, "%s%d %s lost in %s (suspended at %d)",
			 lift_note, lost, plural(lost, "dispute", "disputes"), long_w,
			 p->suspended_lost_disputes);
	} else if (cs >= p->restricted_cancellations) {
		out->level = ESC_LEVEL_RESTRICTED;
		out->rule = ESC_RULE_RESTRICTED_CANCELLATIONS;
		snprintf(out->why, sizeof out->why, "%d %s after payment in %s (restricted at %d)",
			 cs, plural(cs, "cancellation", "cancellations"), short_w,
			 p->restricted_cancellations);
	} else if (paid >= p->restricted_rate_min_paid &&
		   cancelled * 100 > (int64_t)p->restricted_rate_percent * paid) {
		/* Compared as cross products, so 30.5 % is over 30 % even
		 * though rate_percent shows 30. */
		out->level = ESC_LEVEL_RESTRICTED;
		out->rule = ESC_RULE_RESTRICTED_RATE;
		snprintf(out->why, sizeof out->why,
			 "%lld of %lld paid orders cancelled after payment in %s, over %d %% "
			 "(restricted with %d+ paid)",
			 (long long)cancelled, (long long)paid, long_w, p->restricted_rate_percent,
			 p->restricted_rate_min_paid);
	} else if (cs >= p->watch_cancellations) {
		out->level = ESC_LEVEL_WATCH;
		out->rule = ESC_RULE_WATCH_CANCELLATIONS;
		snprintf(out->why, sizeof out->why, "%d %s after payment in %s (watch at %d)", cs,
			 plural(cs, "cancellation", "cancellations"), short_w,
			 p->watch_cancellations);
	} else {
		out->level = ESC_LEVEL_GOOD;
		out->rule = ESC_RULE_WATCH_CANCELLATIONS; /* the one below which it stays good */
		snprintf(out->why, sizeof out->why, "%d %s after payment in %s (below watch at %d)",
			 cs, plural(cs, "cancellation", "cancellations"), short_w,
			 p->watch_cancellations);
	}
}

/* Appends ", N thing(s)" (or "N thing(s)" first) when n > 0. */
static void add_fault(char *why, size_t size, int32_t n, const char *one, const char *many)
{
	size_t len = strlen(why);
	if (n <= 0 || len >= size)
		return;
	snprintf(why + len, size - len, "%s%d %s", len ? ", " : "", n, plural(n, one, many));
}

void esc_seller_reputation(const struct esc_policy *p, const struct esc_rep_counts *c,
			   struct esc_seller_rep *out)
{
	char window[32];
	ESC_ASSERT(p && c && out, "a seller's reputation needs a policy, counts and a place");
	memset(out, 0, sizeof *out);
	out->orders_long = c->long_[ESC_MARK_SELLER_SOLD];
	out->fault_cancels = c->long_[ESC_MARK_SELLER_FAULT_CANCEL];
	out->missed_ships = c->long_[ESC_MARK_SELLER_MISSED_SHIP];
	out->disputes_lost = c->long_[ESC_MARK_SELLER_DISPUTE_LOST];
	out->invalid_tracking = c->long_[ESC_MARK_SELLER_INVALID_TRACKING];
	out->rule = ESC_RULE_SELLER_SCORE;
	ESC_ASSERT(out->orders_long >= 0 && out->fault_cancels >= 0 && out->missed_ships >= 0 &&
			   out->disputes_lost >= 0 && out->invalid_tracking >= 0,
		   "negative mark counts for a seller");

	/* Weights are points per fault per order: a fault on every order
	 * costs the weight; the floor on orders keeps a new seller's one
	 * mishap from sinking the score. int64_t: int32 x int32 fits. */
	int64_t penalty = (int64_t)p->seller_weight_fault_cancel * out->fault_cancels +
			  (int64_t)p->seller_weight_missed_ship * out->missed_ships +
			  (int64_t)p->seller_weight_lost_dispute * out->disputes_lost +
			  (int64_t)p->seller_weight_invalid_tracking * out->invalid_tracking;
	int64_t orders = out->orders_long;
	if (orders < p->seller_min_orders)
		orders = p->seller_min_orders;
	if (orders < 1)
		orders = 1;
	int64_t deduction = penalty > 0 ? (penalty + orders - 1) / orders : 0;
	int64_t score = 100 - deduction;
	if (score < 0)
		score = 0;
	if (score > 100)
		score = 100;
	out->score = (int32_t)score;

	window_words(p->seller_window_ms, window, sizeof window);
	out->why[0] = '\0';
	add_fault(out->why, sizeof out->why, out->fault_cancels, "seller-fault cancellation",
		  "seller-fault cancellations");
	add_fault(out->why, sizeof out->why, out->missed_ships, "missed ship deadline",
		  "missed ship deadlines");
	add_fault(out->why, sizeof out->why, out->disputes_lost, "lost dispute", "lost disputes");
	add_fault(out->why, sizeof out->why, out->invalid_tracking, "invalid tracking number",
		  "invalid tracking numbers");
	size_t len = strlen(out->why);
	if (len == 0)
		snprintf(out->why, sizeof out->why, "no faults in %s", window);
	else if (len < sizeof out->why)
		snprintf(out->why + len, sizeof out->why - len, " in %s", window);
}

void esc_cancel_budget(const struct esc_policy *p, const struct esc_rep_counts *c, bool lifted,
		       const int64_t *cancelled_at, size_t n, int64_t now_ms,
		       struct esc_cancel_budget *out)
{
	struct esc_buyer_rep now_rep, then;
	ESC_ASSERT(p && c && out && (n == 0 || cancelled_at), "a budget needs its inputs");
	memset(out, 0, sizeof *out);
	esc_buyer_reputation(p, c, lifted, &now_rep);
	out->level = now_rep.level;
	out->next_level = now_rep.level;
	out->left = -1;
	out->next_rule = -1;
	/* Each cancellation after payment adds one to both windows; the
	 * level can only rise with them, and the suspension threshold in the
	 * long window bounds how many need trying. */
	int32_t most = p->suspended_cancellations + 1;
	for (int32_t k = 1; k <= most; k++) {
		struct esc_rep_counts more = *c;
		more.short_[ESC_MARK_BUYER_CANCELLED] += k;
		more.long_[ESC_MARK_BUYER_CANCELLED] += k;
		more.lifted_[ESC_MARK_BUYER_CANCELLED] += k;
		esc_buyer_reputation(p, &more, lifted, &then);
		if (then.level != now_rep.level) {
			out->next_level = then.level;
			out->left = k - 1;
			out->next_rule = then.rule;
			break;
		}
	}
	for (size_t i = 0; i < n; i++) {
		int64_t t = cancelled_at[i];
		if (t > now_ms - p->buyer_short_window_ms &&
		    (!out->short_leaves_ms || t + p->buyer_short_window_ms < out->short_leaves_ms))
			out->short_leaves_ms = t + p->buyer_short_window_ms;
		if (t > now_ms - p->buyer_long_window_ms &&
		    (!out->long_leaves_ms || t + p->buyer_long_window_ms < out->long_leaves_ms))
			out->long_leaves_ms = t + p->buyer_long_window_ms;
	}
}
