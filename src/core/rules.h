/* rules.h - the catalogue of the rules escrowd decides by (issue 16).
 *
 * Every automatic decision names the rule behind it: a deadline names the
 * window that set it, an event the system wrote names the rule that fired,
 * a buyer's level and a seller's score the thresholds that set them. One
 * catalogue, used by the API (GET /v1/rules, the `rule` of deadlines and
 * events) and by the interface alike, so the words cannot drift apart.
 *
 * Each rule has an id (the configuration key it reads, where there is one:
 * "response_window"), and three sentences in English and Icelandic:
 *
 *   says     what the rule is, for the help page: "The seller answers a
 *            cancellation request within {window}."
 *   passes   what happens when its deadline passes (deadline rules) or
 *            what it does (the others), said before it happens.
 *   passed   the same, once it has happened, for the event's sentence.
 *
 * Sentences hold {name} placeholders that esc_rule_render fills (or
 * {name:one|many} where a noun follows a number: see esc_rule_render): window
 * (a length, "72 h"), amount ("29.00 EUR"), method ("card"), from and to
 * (dates), count, threshold, percent, min_paid, weight, score, released
 * (what the seller got), carrier and scheme (a carrier's check). A value not
 * given is left as its placeholder, which a test would see.
 *
 * Pure: data and string functions, no I/O, no clock. */
#ifndef ESC_RULES_H
#define ESC_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "core/order.h"  /* enum esc_deadline_kind, struct esc_order */
#include "core/policy.h" /* struct esc_policy */

enum esc_rule {
	/* Order deadlines (SPEC §2). */
	ESC_RULE_PAYMENT_WINDOW,
	ESC_RULE_SHIP_WINDOW,
	ESC_RULE_RESPONSE_WINDOW,
	ESC_RULE_PROTECTION_EXTRA,
	ESC_RULE_CONFIRM_WINDOW,
	/* Dispute windows (SPEC §5). */
	ESC_RULE_DISPUTE_SELLER_WINDOW,
	ESC_RULE_DISPUTE_BUYER_WINDOW,
	ESC_RULE_DISPUTE_ESCALATE_WINDOW,
	ESC_RULE_RETURN_SHIP_WINDOW,
	ESC_RULE_RETURN_RECEIVE_WINDOW,
	/* How long a completed order may still be disputed: the deadline of
	 * the buyer's dispute action, which no event fires. */
	ESC_RULE_DISPUTE_AFTER_COMPLETION,
	/* Money (SPEC §4). */
	ESC_RULE_REFUND_ALERT,
	ESC_RULE_FEE,
	/* Orders. */
	ESC_RULE_CANCEL_REQUESTS_MAX,
	ESC_RULE_TRACKING_CHECK,
	/* Buyer levels and the seller score (SPEC §6). */
	ESC_RULE_WATCH_CANCELLATIONS,
	ESC_RULE_RESTRICTED_CANCELLATIONS,
	ESC_RULE_RESTRICTED_RATE,
	ESC_RULE_SUSPENDED_CANCELLATIONS,
	ESC_RULE_SUSPENDED_LOST_DISPUTES,
	ESC_RULE_SELLER_SCORE,
	/* The arbiter's recommendation (core/recommend.h): each step that
	 * sets or weighs the refund it advises. */
	ESC_RULE_RECOMMEND_DELIVERY,
	ESC_RULE_RECOMMEND_EVIDENCE,
	ESC_RULE_RECOMMEND_SELLER_SCORE,
	ESC_RULE_RECOMMEND_BUYER_LEVEL,
	ESC_RULE_RECOMMEND_OFFER_FLOOR,
	ESC_RULE_COUNT
};

enum esc_lang { ESC_LANG_EN, ESC_LANG_IS, ESC_LANG_COUNT };

struct esc_rule_text {
	const char *says;
	const char *passes;
	const char *passed;
};

struct esc_rule_info {
	const char *id;      /* "response_window" */
	const char *keys;    /* the configuration keys it reads, space-separated */
	const char *decides; /* the system event it fires, or "" */
	struct esc_rule_text text[ESC_LANG_COUNT];
};

const struct esc_rule_info *esc_rule(enum esc_rule r);
/* The rule of that id, or -1. */
int esc_rule_parse(const char *id);
/* "en", "is" -> the language; -1 for another. */
int esc_lang_parse(const char *name);
const char *esc_lang_name(enum esc_lang lang);

/* The rule that set the order's deadline of kind k now: the order's own
 * kinds by their window, ESC_DL_DISPUTE by the dispute's state (the
 * seller's answer, the buyer's answer to an offer or a rejection, the
 * return shipment or its receipt), ESC_DL_REFUND the refund alert. -1 when
 * no rule sets that deadline in the order's state. */
int esc_deadline_rule(const struct esc_order *o, enum esc_deadline_kind k);

/* A placeholder's value. */
struct esc_rule_var {
	const char *name;
	const char *value;
};

/* The sentence template with each {name} of vars replaced, into out
 * (always NUL-terminated). A counted placeholder, {name:one|many}, gives
 * the value and the noun in the number it takes in lang ("{count:
 * cancellation|cancellations}": "1 cancellation", "0 cancellations"; in
 * Icelandic 21 takes the singular, 11 the plural). 0, or ESC_EINVAL when
 * out was too small (what fitted is there). */
int esc_rule_render(const char *template, enum esc_lang lang, const struct esc_rule_var *vars,
		    size_t n, char *out, size_t size);

/* A window's length as the sentences say it: "72 hours", "7 days", "90
 * minutes"; in Icelandic in the genitive, "72 klukkustunda", "7 daga"
 * (days once it is over 72 hours and whole days, as the interface). */
void esc_rule_window(int64_t ms, enum esc_lang lang, char *out, size_t size);

/* The length of the window a rule reads from p, in ms; 0 for a rule of
 * no window (fee, cancel_requests_max, tracking_check). */
int64_t esc_rule_window_ms(const struct esc_policy *p, enum esc_rule r);

/* A percent as the sentences say it, from basis points: "5%", "2.55%";
 * in Icelandic "5 %", "2,55 %". */
void esc_rule_percent(int64_t basis_points, enum esc_lang lang, char *out, size_t size);

/* The rule's sentence (0 says, 1 passes, 2 passed) in lang with vars
 * filled; as esc_rule_render. */
int esc_rule_sentence(enum esc_rule r, int which, enum esc_lang lang,
		      const struct esc_rule_var *vars, size_t n, char *out, size_t size);

/* An automatic decision, explained (issue 16 item 2): the rule that made
 * it and the numbers behind it, for a deadline before it passes (what
 * would happen, in the order's `deadline_rules`) and for the event the
 * system wrote when it did (the event's `explanation`). */
struct esc_explanation {
	int rule;               /* enum esc_rule; -1: nothing to explain */
	int32_t policy_version; /* the order's policy (pol_N), set by the caller */
	int64_t window_ms;      /* the rule's window */
	int64_t since_ms;       /* when the window began: due_ms - window_ms */
	int64_t due_ms;         /* when it passes or passed */
	/* What moves: the refund (method where it goes) or the release to
	 * the seller (method -1); has_amount false when nothing does. */
	bool has_amount;
	int64_t amount_minor;
	char currency[ESC_CURRENCY_SIZE];
	int method; /* enum esc_method of the refund, or -1 */
	/* When a refund should arrive: due_ms plus the method's settle days
	 * (0 = no refund). */
	int64_t expected_from_ms, expected_to_ms;
};

/* Explain deadline k of order o passing at due_ms: what the core decides
 * then (esc_decide as the system at due_ms; refund: the refund it names,
 * for ESC_DL_REFUND, else NULL), or, with fx given, what it decided
 * (the event written). x->rule is -1 when no rule sets that deadline or
 * the core would refuse it. */
void esc_explain_deadline(const struct esc_policy *p, const struct esc_order *o,
			  enum esc_deadline_kind k, int64_t due_ms, const struct esc_refund *refund,
			  const struct esc_effects *fx, struct esc_explanation *x);

/* Explain the deadline of a completed order's dispute action
 * (esc_order_dispute_until): nothing fires then, the action goes. x->rule
 * is -1 for an order not completed. */
void esc_explain_dispute_cutoff(const struct esc_policy *p, const struct esc_order *o,
				struct esc_explanation *x);

/* An amount as the sentences say it: "29.00 EUR" (the currency's own
 * minor unit, ISO 4217: "2599 ISK", "1.500 KWD"). */
void esc_rule_amount(int64_t minor, const char *currency, enum esc_lang lang, char *out,
		     size_t size);

/* The rule's `passes` (passed false) or `passed` sentence with x's
 * numbers, in lang; 0, or ESC_EINVAL when x explains nothing or out was
 * too small. */
int esc_explanation_render(const struct esc_explanation *x, bool passed, enum esc_lang lang,
			   char *out, size_t size);

/* The rule's `says` sentence with the policy's numbers in it, for the help
 * page: "The seller answers a cancellation request within 72 hours." */
int esc_rule_says(const struct esc_policy *p, enum esc_rule r, enum esc_lang lang, char *out,
		  size_t size);

#endif
