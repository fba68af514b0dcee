/* policy.h - every number and table of the SPEC that an operator may change.
 *
 * One struct holds the windows, thresholds, fees and the reason table. The
 * defaults are SPEC's; esc_policy_parse() overrides them from the text of a
 * configuration file. Pure: parsing takes text, never a path. */
#ifndef ESC_POLICY_H
#define ESC_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"   /* ESC_REASON_CODE_MAX, ESC_REASON_LABEL_MAX, ESC_REASONS_MAX */
#include "core/tracking.h" /* struct esc_carrier */

#define ESC_MS_PER_HOUR INT64_C(3600000)
#define ESC_MS_PER_DAY  INT64_C(86400000)

enum esc_fault { ESC_FAULT_BUYER, ESC_FAULT_SELLER };

struct esc_reason {
	char code[ESC_REASON_CODE_MAX];
	char label[ESC_REASON_LABEL_MAX];
	enum esc_fault fault;
	bool recommended;
};

/* What a tracking number that fails its carrier's check does at ship time:
 * refused (422, with a hint), or taken and flagged on the order. */
enum esc_tracking_mode { ESC_TRACKING_REFUSE, ESC_TRACKING_FLAG };

/* How a payment method settles a refund to it. */
enum esc_method { ESC_METHOD_CARD, ESC_METHOD_WALLET, ESC_METHOD_BALANCE, ESC_METHOD_COUNT };

struct esc_policy {
	/* Order deadlines (SPEC §2). */
	int64_t payment_window_ms;           /* 24 h */
	int64_t ship_window_ms;              /* handling time, 7 days */
	int64_t response_window_ms;          /* seller answers a request, 72 h */
	int32_t delivery_days_default;       /* promised delivery, 60 days */
	int32_t delivery_days_max;           /* the most an order may promise */
	int64_t protection_extra_ms;         /* after the promised date, 15 days */
	int64_t confirm_window_ms;           /* after delivery, 15 days */
	int64_t dispute_after_completion_ms; /* 15 days */
	int32_t cancel_requests_max;         /* per order, 2 */

	/* Dispute windows (SPEC §5). */
	int64_t dispute_seller_window_ms; /* the seller answers, 5 days */
	int64_t dispute_buyer_window_ms;  /* the buyer answers an offer or rejection, 5 days */
	int64_t return_ship_window_ms;    /* the buyer ships the goods back, 10 days */
	int64_t return_receive_window_ms; /* the seller confirms receipt, 10 days */

	/* Money (SPEC §4). */
	int32_t fee_basis_points;                  /* 500 = 5 % */
	int64_t refund_alert_ms;                   /* 10 days */
	int32_t settle_days_min[ESC_METHOD_COUNT]; /* card 3, wallet 1, balance 0 */
	int32_t settle_days_max[ESC_METHOD_COUNT]; /* card 7, wallet 1, balance 0 */

	/* Buyer reputation (SPEC §6). */
	int64_t buyer_short_window_ms;    /* 30 days */
	int64_t buyer_long_window_ms;     /* 90 days */
	int32_t watch_cancellations;      /* 3 in the short window */
	int32_t restricted_cancellations; /* 5 in the short window */
	int32_t restricted_rate_percent;  /* over 30 % ... */
	int32_t restricted_rate_min_paid; /* ... with 10+ paid orders */
	int32_t suspended_cancellations;  /* 10 in the long window */
	int32_t suspended_lost_disputes;  /* 3 in the long window */

	/* Seller score (SPEC §6): 100 minus the weighted faults per order,
	 * in points per fault per order, over the seller window. */
	int64_t seller_window_ms;               /* 90 days */
	int32_t seller_min_orders;              /* denominator floor, 10 */
	int32_t seller_weight_fault_cancel;     /* 100 points */
	int32_t seller_weight_missed_ship;      /* 150 */
	int32_t seller_weight_lost_dispute;     /* 200 */
	int32_t seller_weight_invalid_tracking; /* 200 */

	/* The reason table (SPEC §3), in display order. */
	struct esc_reason reasons[ESC_REASONS_MAX];
	size_t reasons_count;

	/* Tracking numbers (issue 16): the carriers whose numbers are checked
	 * at ship time (none by default: another carrier's number is taken
	 * unchecked), and what a failing number does. */
	struct esc_carrier carriers[ESC_CARRIERS_MAX];
	size_t carriers_count;
	enum esc_tracking_mode tracking_check; /* refuse */

	/* Where each carrier's site shows a number (issue 17), none by
	 * default. Not a rule: left out of the canonical text
	 * (esc_policy_format), so that a carrier's new site makes no new
	 * version and every order links to the running configuration's. */
	struct esc_tracking_url tracking_urls[ESC_CARRIERS_MAX];
	size_t tracking_urls_count;
};

/* Fill *p with SPEC's defaults. */
void esc_policy_default(struct esc_policy *p);

/* Apply the configuration text `text` (NUL-terminated) over *p.
 *
 * Format: one `key = value` per line; `#` starts a comment; blank lines are
 * ignored. Durations take a unit: `72h`, `7d`, `30m`, `10s`, `500ms`.
 * Percentages: `fee = 5%` or `fee = 2.5%` (to basis points). A reason line
 * `reason.CODE = buyer|seller, Label text` adds or replaces a reason; a line
 * `reasons = clear` empties the table first; `recommended_reason = CODE`
 * (or `none`) marks the recommended one. `settle_days.card = 3..7` sets a
 * method's expected settlement. `carrier.NAME = SCHEME PATTERN [EXAMPLE]`
 * adds or replaces a carrier, `carriers = clear` empties their table, and
 * `tracking_check = refuse|flag` says what a failing number does;
 * `carrier.NAME.tracking_url = https://...{tracking_number}...` says
 * where the carrier's site shows a number. The
 * keys are listed at the top of policy.c. Unknown keys are errors.
 *
 * Returns 0, or ESC_EINVAL with a message "line N: ..." in err (err_size
 * bytes, may be NULL). On error *p is left unchanged. */
int esc_policy_parse(struct esc_policy *p, const char *text, char *err, size_t err_size);

/* Keys that another layer owns in the same text (a daemon's settings):
 * set() is given each line's key and value first, and answers
 * ESC_ENOTFOUND for a key that is not its own, which the policy then reads;
 * any other failure is the line's error, with why. set() runs as the lines
 * are read, so it may have taken some when a later line fails. */
struct esc_policy_other {
	int (*set)(void *arg, const char *key, const char *value, char *why, size_t why_size);
	void *arg;
};
int esc_policy_parse_with(struct esc_policy *p, const char *text,
			  const struct esc_policy_other *other, char *err, size_t err_size);

/* One key's value over *p, as a line `key = value` of the text would set
 * it (reason.CODE, reasons = clear, ... in the order given). Returns 0, or
 * ESC_EINVAL with "KEY: ..." in err (no line number); *p is unchanged on
 * failure. Not validated: esc_policy_validate() once all are set. */
int esc_policy_set(struct esc_policy *p, const char *key, const char *value, char *err,
		   size_t err_size);

/* The policy as configuration text that esc_policy_parse reads back over
 * SPEC's defaults into the same policy, every key on its own line in one
 * fixed order: its canonical form, which a policy version's content hash
 * is taken of (issue 16). Into sb (cleared first); 0, ESC_ENOMEM, or
 * ESC_EINVAL when sb's limit is too small. */
struct esc_strbuf;
int esc_policy_format(const struct esc_policy *p, struct esc_strbuf *sb);

/* Check the policy is usable (positive windows of at most 3650 days, so
 * that now + window cannot overflow; watch <= restricted <= suspended; at
 * least one reason). Returns 0 or ESC_EINVAL with a message in err. */
int esc_policy_validate(const struct esc_policy *p, char *err, size_t err_size);

/* The reason with this code, or NULL. */
const struct esc_reason *esc_policy_reason(const struct esc_policy *p, const char *code);

/* Method by name ("card", "wallet", "balance") or -1. */
int esc_method_parse(const char *name);
/* A duration as in the configuration: digits and a unit, ms s m h or d
 * ("72h"). ESC_EINVAL otherwise. */
int esc_duration_parse(const char *s, int64_t *out_ms);
const char *esc_method_name(enum esc_method m);

#endif
