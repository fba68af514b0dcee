/* policy.c - SPEC's defaults and the configuration parser that overrides them.
 *
 * The configuration is `key = value` lines; `#` starts a comment (to the
 * end of the line, so a label may not contain `#`); blank lines are
 * ignored; a later line for the same key wins. The keys are the fields of
 * struct esc_policy without their unit suffix:
 *
 *   durations (a number and a unit: ms, s, m, h, d; e.g. `72h`, `7d`)
 *     payment_window              ship_window
 *     response_window             protection_extra
 *     confirm_window              dispute_after_completion
 *     dispute_seller_window       dispute_buyer_window
 *     return_ship_window          return_receive_window
 *     refund_alert                buyer_short_window
 *     buyer_long_window           seller_window
 *   whole numbers (0 .. 2147483647)
 *     delivery_days_default       delivery_days_max
 *     cancel_requests_max         watch_cancellations
 *     restricted_cancellations    restricted_rate_min_paid
 *     suspended_cancellations     suspended_lost_disputes
 *     seller_min_orders           seller_weight_fault_cancel
 *     seller_weight_missed_ship   seller_weight_lost_dispute
 *     seller_weight_invalid_tracking
 *   percentages
 *     fee = 5%                    (up to two decimals: 2.55% is 255 bp)
 *     restricted_rate = 30%       (a whole percent)
 *   day ranges of refund settlement, per method (or one number: `1`)
 *     settle_days.card = 3..7     settle_days.wallet = 1..1
 *     settle_days.balance = 0..0
 *   the reason table
 *     reason.CODE = buyer|seller, Label text
 *         adds CODE at the end, or replaces its fault and label in place
 *         (keeping its position and recommendation); the label runs to
 *         the end of the line and may contain commas.
 *     reasons = clear
 *         empties the table, so the lines after it define it anew.
 *     recommended_reason = CODE | none
 *         marks that reason (already in the table) as the recommended one.
 *   the carriers whose tracking numbers are checked at ship time (issue
 *   16; core/tracking.h), none by default
 *     carrier.NAME = SCHEME PATTERN [EXAMPLE]
 *         NAME as sellers send `carrier` (compared case-blind), SCHEME the
 *         check digit: s10 (UPU S10), ups_1z or none; PATTERN a POSIX
 *         extended regular expression the whole number (upper case, no
 *         spaces or hyphens) must match; EXAMPLE a valid number for hints.
 *         E.g. `carrier.ups = ups_1z 1Z[0-9A-Z]{16}`.
 *     carriers = clear
 *         empties the table.
 *     carrier.NAME.tracking_url = https://...{tracking_number}...
 *         where the carrier's site shows a number (issue 17): an order
 *         shipped with NAME links there, the number percent-encoded in
 *         place of {tracking_number}. Any carrier, checked or not; no
 *         part of a policy version's text (it decides nothing).
 *     tracking_check = refuse | flag
 *         a number failing its carrier's check is refused (422 with a
 *         hint; the default), or taken and flagged: the order shows it and
 *         the seller's score counts it as an invalid tracking number.
 *
 * Values are checked one by one here; esc_policy_validate() checks how they
 * fit together. */
#include "core/policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/bug.h"
#include "util/error.h"
#include "util/strbuf.h"

/* Long enough for any sensible line; longer ones are refused rather than
 * cut, so a truncated label can never slip in. */
#define LINE_MAX_BYTES 512

/* Windows longer than this are refused: they would only be typos, and
 * keeping them small keeps `now + window` far from overflow. */
#define WINDOW_MAX_MS (3650 * ESC_MS_PER_DAY)
#define DAYS_MAX      3650

static const char *const method_names[ESC_METHOD_COUNT] = {
	[ESC_METHOD_CARD] = "card",
	[ESC_METHOD_WALLET] = "wallet",
	[ESC_METHOD_BALANCE] = "balance",
};

static const struct esc_reason default_reasons[] = {
	{"no_longer_needed", "I no longer need this order", ESC_FAULT_BUYER, true},
	{"change_order", "I want to change the order (size, colour, address)", ESC_FAULT_BUYER,
	 false},
	{"better_price", "I found a better price elsewhere", ESC_FAULT_BUYER, false},
	{"seller_asked", "The seller asked me to cancel", ESC_FAULT_SELLER, false},
	{"price_changed", "The seller changed the price", ESC_FAULT_SELLER, false},
	{"out_of_stock", "The seller says the item is out of stock", ESC_FAULT_SELLER, false},
	{"shipping_too_long", "The seller has not shipped in time", ESC_FAULT_SELLER, false},
};

_Static_assert(sizeof default_reasons / sizeof default_reasons[0] <= ESC_REASONS_MAX,
	       "the default reasons fit the table");

void esc_policy_default(struct esc_policy *p)
{
	ESC_ASSERT(p, "no policy to fill");
	memset(p, 0, sizeof *p);
	p->payment_window_ms = 24 * ESC_MS_PER_HOUR;
	p->ship_window_ms = 7 * ESC_MS_PER_DAY;
	p->response_window_ms = 72 * ESC_MS_PER_HOUR;
	p->delivery_days_default = 60;
	p->delivery_days_max = 365;
	p->protection_extra_ms = 15 * ESC_MS_PER_DAY;
	p->confirm_window_ms = 15 * ESC_MS_PER_DAY;
	p->dispute_after_completion_ms = 15 * ESC_MS_PER_DAY;
	p->dispute_seller_window_ms = 5 * ESC_MS_PER_DAY;
	p->dispute_buyer_window_ms = 5 * ESC_MS_PER_DAY;
	p->return_ship_window_ms = 10 * ESC_MS_PER_DAY;
	p->return_receive_window_ms = 10 * ESC_MS_PER_DAY;
	p->cancel_requests_max = 2;

	p->fee_basis_points = 500;
	p->refund_alert_ms = 10 * ESC_MS_PER_DAY;
	p->settle_days_min[ESC_METHOD_CARD] = 3;
	p->settle_days_max[ESC_METHOD_CARD] = 7;
	p->settle_days_min[ESC_METHOD_WALLET] = 1;
	p->settle_days_max[ESC_METHOD_WALLET] = 1;
	p->settle_days_min[ESC_METHOD_BALANCE] = 0;
	p->settle_days_max[ESC_METHOD_BALANCE] = 0;

	p->buyer_short_window_ms = 30 * ESC_MS_PER_DAY;
	p->buyer_long_window_ms = 90 * ESC_MS_PER_DAY;
	p->watch_cancellations = 3;
	p->restricted_cancellations = 5;
	p->restricted_rate_percent = 30;
	p->restricted_rate_min_paid = 10;
	p->suspended_cancellations = 10;
	p->suspended_lost_disputes = 3;

	p->seller_window_ms = 90 * ESC_MS_PER_DAY;
	p->seller_min_orders = 10;
	p->seller_weight_fault_cancel = 100;
	p->seller_weight_missed_ship = 150;
	p->seller_weight_lost_dispute = 200;
	p->seller_weight_invalid_tracking = 200;

	p->reasons_count = sizeof default_reasons / sizeof default_reasons[0];
	memcpy(p->reasons, default_reasons, sizeof default_reasons);
}

/* The parser's table: each plain key, what kind of value it takes and
 * where it goes. Reasons and settlement ranges have their own prefixes. */
enum value_kind { KIND_DURATION, KIND_COUNT, KIND_BASIS_POINTS, KIND_PERCENT };

struct key {
	const char *name;
	enum value_kind kind;
	size_t offset;
};

#define KEY(name, kind, field)                                                                     \
	{                                                                                          \
		name, kind, offsetof(struct esc_policy, field)                                     \
	}

static const struct key keys[] = {
	KEY("payment_window", KIND_DURATION, payment_window_ms),
	KEY("ship_window", KIND_DURATION, ship_window_ms),
	KEY("response_window", KIND_DURATION, response_window_ms),
	KEY("delivery_days_default", KIND_COUNT, delivery_days_default),
	KEY("delivery_days_max", KIND_COUNT, delivery_days_max),
	KEY("protection_extra", KIND_DURATION, protection_extra_ms),
	KEY("confirm_window", KIND_DURATION, confirm_window_ms),
	KEY("dispute_after_completion", KIND_DURATION, dispute_after_completion_ms),
	KEY("dispute_seller_window", KIND_DURATION, dispute_seller_window_ms),
	KEY("dispute_buyer_window", KIND_DURATION, dispute_buyer_window_ms),
	KEY("return_ship_window", KIND_DURATION, return_ship_window_ms),
	KEY("return_receive_window", KIND_DURATION, return_receive_window_ms),
	KEY("cancel_requests_max", KIND_COUNT, cancel_requests_max),
	KEY("fee", KIND_BASIS_POINTS, fee_basis_points),
	KEY("refund_alert", KIND_DURATION, refund_alert_ms),
	KEY("buyer_short_window", KIND_DURATION, buyer_short_window_ms),
	KEY("buyer_long_window", KIND_DURATION, buyer_long_window_ms),
	KEY("watch_cancellations", KIND_COUNT, watch_cancellations),
	KEY("restricted_cancellations", KIND_COUNT, restricted_cancellations),
	KEY("restricted_rate", KIND_PERCENT, restricted_rate_percent),
	KEY("restricted_rate_min_paid", KIND_COUNT, restricted_rate_min_paid),
	KEY("suspended_cancellations", KIND_COUNT, suspended_cancellations),
	KEY("suspended_lost_disputes", KIND_COUNT, suspended_lost_disputes),
	KEY("seller_window", KIND_DURATION, seller_window_ms),
	KEY("seller_min_orders", KIND_COUNT, seller_min_orders),
	KEY("seller_weight_fault_cancel", KIND_COUNT, seller_weight_fault_cancel),
	KEY("seller_weight_missed_ship", KIND_COUNT, seller_weight_missed_ship),
	KEY("seller_weight_lost_dispute", KIND_COUNT, seller_weight_lost_dispute),
	KEY("seller_weight_invalid_tracking", KIND_COUNT, seller_weight_invalid_tracking),
};

#define SETTLE_PREFIX  "settle_days."
#define REASON_PREFIX  "reason."
#define CARRIER_PREFIX "carrier."

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* s without its leading and trailing blanks, in place. */
static char *trim(char *s)
{
	while (is_space(*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && is_space(s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Leading decimal digits of *s into *out (at most `max`), advancing *s.
 * No sign is accepted: nothing here may be negative. */
static int parse_digits(const char **s, int64_t max, int64_t *out)
{
	const char *c = *s;
	int64_t v = 0;
	if (!is_digit(*c))
		return ESC_EINVAL;
	while (is_digit(*c)) {
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *c - '0', &v) ||
		    v > max)
			return ESC_EINVAL;
		c++;
	}
	*s = c;
	*out = v;
	return 0;
}

static int parse_count(const char *s, int32_t *out)
{
	int64_t v;
	if (parse_digits(&s, INT32_MAX, &v) || *s != '\0')
		return ESC_EINVAL;
	*out = (int32_t)v;
	return 0;
}

int esc_duration_parse(const char *s, int64_t *out_ms)
{
	static const struct {
		const char *name;
		int64_t ms;
	} units[] = {{"ms", 1},
		     {"s", 1000},
		     {"m", 60000},
		     {"h", ESC_MS_PER_HOUR},
		     {"d", ESC_MS_PER_DAY}};
	int64_t v;
	if (parse_digits(&s, INT64_MAX, &v))
		return ESC_EINVAL;
	while (is_space(*s))
		s++;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(s, units[i].name) != 0)
			continue;
		if (__builtin_mul_overflow(v, units[i].ms, &v))
			return ESC_EINVAL;
		*out_ms = v;
		return 0;
	}
	return ESC_EINVAL;
}

/* "5%", "2.5%", "2.55%" as basis points, 0 .. 100 %. Two decimals is all
 * a basis point can hold; more would be silently rounded, so it is refused. */
static int parse_basis_points(const char *s, int32_t *out)
{
	int64_t whole, bp;
	if (parse_digits(&s, 100, &whole))
		return ESC_EINVAL;
	bp = whole * 100;
	if (*s == '.') {
		s++;
		if (!is_digit(*s))
			return ESC_EINVAL;
		bp += (*s++ - '0') * 10;
		if (is_digit(*s))
			bp += *s++ - '0';
	}
	while (is_space(*s))
		s++;
	if (*s != '%' || s[1] != '\0' || bp > 10000)
		return ESC_EINVAL;
	*out = (int32_t)bp;
	return 0;
}

static int parse_percent(const char *s, int32_t *out)
{
	int32_t bp;
	if (parse_basis_points(s, &bp) || bp % 100 != 0)
		return ESC_EINVAL;
	*out = bp / 100;
	return 0;
}

/* "3..7" or "1" (meaning 1..1), in days. */
static int parse_day_range(const char *s, int32_t *min, int32_t *max)
{
	int64_t lo, hi;
	if (parse_digits(&s, DAYS_MAX, &lo))
		return ESC_EINVAL;
	hi = lo;
	if (s[0] == '.' && s[1] == '.') {
		s += 2;
		if (parse_digits(&s, DAYS_MAX, &hi))
			return ESC_EINVAL;
	}
	if (*s != '\0' || lo > hi)
		return ESC_EINVAL;
	*min = (int32_t)lo;
	*max = (int32_t)hi;
	return 0;
}

static bool reason_code_valid(const char *code)
{
	size_t n = 0;
	for (; code[n]; n++) {
		char c = code[n];
		if (!((c >= 'a' && c <= 'z') || is_digit(c) || c == '_'))
			return false;
	}
	return n > 0 && n < ESC_REASON_CODE_MAX;
}

static struct esc_reason *find_reason(struct esc_policy *p, const char *code)
{
	for (size_t i = 0; i < p->reasons_count; i++) {
		if (strcmp(p->reasons[i].code, code) == 0)
			return &p->reasons[i];
	}
	return NULL;
}

/* `reason.CODE = buyer|seller, Label`. */
static int parse_reason(struct esc_policy *p, const char *code, char *value, char *err,
			size_t err_size)
{
	int rc = 0;
	enum esc_fault fault;
	char *comma = strchr(value, ',');
	if (!reason_code_valid(code)) {
		esc_set_err(err, err_size, "reason code '%s' must be 1 to %d of a-z, 0-9 and _",
			    code, ESC_REASON_CODE_MAX - 1);
		rc = ESC_EINVAL;
		goto out;
	}
	if (!comma) {
		esc_set_err(err, err_size, "reason.%s: expected 'buyer|seller, Label'", code);
		rc = ESC_EINVAL;
		goto out;
	}
	*comma = '\0';
	const char *who = trim(value);
	const char *label = trim(comma + 1);
	if (strcmp(who, "buyer") == 0) {
		fault = ESC_FAULT_BUYER;
	} else if (strcmp(who, "seller") == 0) {
		fault = ESC_FAULT_SELLER;
	} else {
		esc_set_err(err, err_size, "reason.%s: fault '%s' is not buyer or seller", code,
			    who);
		rc = ESC_EINVAL;
		goto out;
	}
	if (label[0] == '\0' || strlen(label) >= ESC_REASON_LABEL_MAX) {
		esc_set_err(err, err_size, "reason.%s: the label must be 1 to %d bytes", code,
			    ESC_REASON_LABEL_MAX - 1);
		rc = ESC_EINVAL;
		goto out;
	}
	struct esc_reason *r = find_reason(p, code);
	if (!r) {
		if (p->reasons_count >= ESC_REASONS_MAX) {
			esc_set_err(err, err_size, "reason.%s: at most %d reasons", code,
				    ESC_REASONS_MAX);
			rc = ESC_EINVAL;
			goto out;
		}
		r = &p->reasons[p->reasons_count++];
		memset(r, 0, sizeof *r);
		snprintf(r->code, sizeof r->code, "%s", code);
	}
	r->fault = fault;
	snprintf(r->label, sizeof r->label, "%s", label);
out:
	return rc;
}

#define TRACKING_URL_SUFFIX ".tracking_url"

/* `carrier.NAME.tracking_url = TEMPLATE`: added, or replaced in place. */
static int parse_tracking_url(struct esc_policy *p, const char *key, const char *value, char *err,
			      size_t err_size)
{
	char name[ESC_CARRIER_MAX + 2], why[300];
	size_t n = strlen(key) - strlen(TRACKING_URL_SUFFIX);
	struct esc_tracking_url u;
	snprintf(name, sizeof name, "%.*s", (int)(n < sizeof name ? n : sizeof name - 1), key);
	if (n >= sizeof name || esc_tracking_url_init(&u, name, value, why, sizeof why) != 0) {
		if (n >= sizeof name)
			snprintf(why, sizeof why, "carrier name '%.64s...' is too long", key);
		esc_set_err(err, err_size, "%s", why);
		return ESC_EINVAL;
	}
	for (size_t i = 0; i < p->tracking_urls_count; i++) {
		if (!strcmp(p->tracking_urls[i].carrier, u.carrier)) {
			memcpy(&p->tracking_urls[i], &u, sizeof u);
			return 0;
		}
	}
	if (p->tracking_urls_count >= ESC_CARRIERS_MAX) {
		esc_set_err(err, err_size, "carrier.%s: at most %d tracking URLs", key,
			    ESC_CARRIERS_MAX);
		return ESC_EINVAL;
	}
	memcpy(&p->tracking_urls[p->tracking_urls_count++], &u, sizeof u);
	return 0;
}

/* `carrier.NAME = SCHEME PATTERN [EXAMPLE]`: added, or replaced in place. */
static int parse_carrier(struct esc_policy *p, const char *name, char *value, char *err,
			 size_t err_size)
{
	char *words[4] = {0}, *save = NULL;
	size_t n = 0;
	for (char *w = strtok_r(value, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (n == 3) {
			n++;
			break;
		}
		words[n++] = w;
	}
	enum esc_check_scheme scheme;
	if (n < 2 || n > 3) {
		esc_set_err(err, err_size,
			    "carrier.%s: expected 'SCHEME PATTERN [EXAMPLE]', as in "
			    "'ups_1z 1Z[0-9A-Z]{16}'",
			    name);
		return ESC_EINVAL;
	}
	if (!esc_check_scheme_parse(words[0], &scheme)) {
		esc_set_err(err, err_size,
			    "carrier.%s: check scheme '%s' is not s10, ups_1z or none", name,
			    words[0]);
		return ESC_EINVAL;
	}
	struct esc_carrier c;
	char why[300];
	if (esc_carrier_init(&c, name, words[1], scheme, words[2], why, sizeof why) != 0) {
		esc_set_err(err, err_size, "%s", why);
		return ESC_EINVAL;
	}
	for (size_t i = 0; i < p->carriers_count; i++) {
		if (!strcmp(p->carriers[i].name, c.name)) {
			memcpy(&p->carriers[i], &c, sizeof c);
			return 0;
		}
	}
	if (p->carriers_count >= ESC_CARRIERS_MAX) {
		esc_set_err(err, err_size, "carrier.%s: at most %d carriers", name,
			    ESC_CARRIERS_MAX);
		return ESC_EINVAL;
	}
	memcpy(&p->carriers[p->carriers_count++], &c, sizeof c);
	return 0;
}

static int parse_recommended(struct esc_policy *p, const char *value, char *err, size_t err_size)
{
	struct esc_reason *r = NULL;
	if (strcmp(value, "none") != 0) {
		r = find_reason(p, value);
		if (!r) {
			esc_set_err(err, err_size,
				    "recommended_reason: no reason '%s' is defined above", value);
			return ESC_EINVAL;
		}
	}
	for (size_t i = 0; i < p->reasons_count; i++)
		p->reasons[i].recommended = &p->reasons[i] == r;
	return 0;
}

static int parse_plain(struct esc_policy *p, const char *name, const char *value, char *err,
		       size_t err_size)
{
	const struct key *k = NULL;
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		if (strcmp(keys[i].name, name) == 0) {
			k = &keys[i];
			break;
		}
	}
	if (!k) {
		esc_set_err(err, err_size, "unknown key '%s'", name);
		return ESC_EINVAL;
	}
	char *field = (char *)p + k->offset;
	switch (k->kind) {
	case KIND_DURATION:
		if (esc_duration_parse(value, (int64_t *)(void *)field) == 0)
			return 0;
		esc_set_err(err, err_size,
			    "%s: '%s' is not a duration (a whole number and ms, s, m, h or d)",
			    name, value);
		return ESC_EINVAL;
	case KIND_COUNT:
		if (parse_count(value, (int32_t *)(void *)field) == 0)
			return 0;
		esc_set_err(err, err_size, "%s: '%s' is not a whole number", name, value);
		return ESC_EINVAL;
	case KIND_BASIS_POINTS:
		if (parse_basis_points(value, (int32_t *)(void *)field) == 0)
			return 0;
		esc_set_err(err, err_size,
			    "%s: '%s' is not a percentage from 0%% to 100%% with at most two "
			    "decimals",
			    name, value);
		return ESC_EINVAL;
	case KIND_PERCENT:
		if (parse_percent(value, (int32_t *)(void *)field) == 0)
			return 0;
		esc_set_err(err, err_size, "%s: '%s' is not a whole percentage from 0%% to 100%%",
			    name, value);
		return ESC_EINVAL;
	}
	ESC_BUG("key '%s' has value kind %d, which no case handles", name, (int)k->kind);
}

/* One key's value into p (value may be cut up in place). */
static int set_key(struct esc_policy *p, const char *name, char *value, char *err, size_t err_size)
{
	if (strncmp(name, REASON_PREFIX, strlen(REASON_PREFIX)) == 0)
		return parse_reason(p, name + strlen(REASON_PREFIX), value, err, err_size);
	if (strcmp(name, "reasons") == 0) {
		if (strcmp(value, "clear") != 0) {
			esc_set_err(err, err_size, "reasons: the only value is 'clear'");
			return ESC_EINVAL;
		}
		p->reasons_count = 0;
		memset(p->reasons, 0, sizeof p->reasons);
		return 0;
	}
	if (strcmp(name, "recommended_reason") == 0)
		return parse_recommended(p, value, err, err_size);
	if (strncmp(name, CARRIER_PREFIX, strlen(CARRIER_PREFIX)) == 0 &&
	    strlen(name) > strlen(CARRIER_PREFIX TRACKING_URL_SUFFIX) &&
	    !strcmp(name + strlen(name) - strlen(TRACKING_URL_SUFFIX), TRACKING_URL_SUFFIX))
		return parse_tracking_url(p, name + strlen(CARRIER_PREFIX), value, err, err_size);
	if (strncmp(name, CARRIER_PREFIX, strlen(CARRIER_PREFIX)) == 0)
		return parse_carrier(p, name + strlen(CARRIER_PREFIX), value, err, err_size);
	if (strcmp(name, "carriers") == 0) {
		if (strcmp(value, "clear") != 0) {
			esc_set_err(err, err_size, "carriers: the only value is 'clear'");
			return ESC_EINVAL;
		}
		p->carriers_count = 0;
		memset(p->carriers, 0, sizeof p->carriers);
		return 0;
	}
	if (strcmp(name, "tracking_check") == 0) {
		if (strcmp(value, "refuse") == 0)
			p->tracking_check = ESC_TRACKING_REFUSE;
		else if (strcmp(value, "flag") == 0)
			p->tracking_check = ESC_TRACKING_FLAG;
		else {
			esc_set_err(err, err_size, "tracking_check: '%s' is not refuse or flag",
				    value);
			return ESC_EINVAL;
		}
		return 0;
	}
	if (strncmp(name, SETTLE_PREFIX, strlen(SETTLE_PREFIX)) == 0) {
		int m = esc_method_parse(name + strlen(SETTLE_PREFIX));
		if (m < 0) {
			esc_set_err(err, err_size, "unknown payment method in '%s'", name);
			return ESC_EINVAL;
		}
		if (parse_day_range(value, &p->settle_days_min[m], &p->settle_days_max[m]) != 0) {
			esc_set_err(err, err_size,
				    "%s: '%s' is not a day range like 3..7 (0 to %d, min "
				    "first)",
				    name, value, DAYS_MAX);
			return ESC_EINVAL;
		}
		return 0;
	}
	return parse_plain(p, name, value, err, err_size);
}

/* One line, without its newline, into p; its errors without the line's
 * number (parse_line adds it). */
static int parse_line_at(struct esc_policy *p, const struct esc_policy_other *other, char *text,
			 char *err, size_t err_size)
{
	char *hash = strchr(text, '#');
	if (hash)
		*hash = '\0';
	char *s = trim(text);
	if (*s == '\0')
		return 0;
	char *eq = strchr(s, '=');
	if (!eq) {
		esc_set_err(err, err_size, "expected 'key = value'");
		return ESC_EINVAL;
	}
	*eq = '\0';
	char *name = trim(s);
	char *value = trim(eq + 1);
	if (*name == '\0') {
		esc_set_err(err, err_size, "expected a key before '='");
		return ESC_EINVAL;
	}
	if (*value == '\0') {
		esc_set_err(err, err_size, "%s: expected a value after '='", name);
		return ESC_EINVAL;
	}
	if (other) {
		char why[200] = "";
		int rc = other->set(other->arg, name, value, why, sizeof why);
		if (rc != ESC_ENOTFOUND) {
			if (rc)
				esc_set_err(err, err_size, "%s", why);
			return rc;
		}
	}
	return set_key(p, name, value, err, err_size);
}

static int parse_line(struct esc_policy *p, const struct esc_policy_other *other, int line,
		      char *text, char *err, size_t err_size)
{
	char why[300] = "";
	int rc = parse_line_at(p, other, text, why, sizeof why);
	if (rc)
		esc_set_err(err, err_size, "line %d: %s", line, why);
	return rc;
}

int esc_policy_set(struct esc_policy *p, const char *key, const char *value, char *err,
		   size_t err_size)
{
	char buf[LINE_MAX_BYTES];
	struct esc_policy copy;
	ESC_ASSERT(p && key && value, "setting a key needs a policy, a key and a value");
	if (strlen(value) >= sizeof buf) {
		esc_set_err(err, err_size, "%s: longer than %d bytes", key, LINE_MAX_BYTES - 1);
		return ESC_EINVAL;
	}
	if (!*key || !*value) {
		esc_set_err(err, err_size, "%s: expected a key and a value", key);
		return ESC_EINVAL;
	}
	snprintf(buf, sizeof buf, "%s", value);
	memcpy(&copy, p, sizeof copy);
	int rc = set_key(&copy, key, buf, err, err_size);
	if (!rc)
		memcpy(p, &copy, sizeof *p);
	return rc;
}

int esc_policy_parse(struct esc_policy *p, const char *text, char *err, size_t err_size)
{
	return esc_policy_parse_with(p, text, NULL, err, err_size);
}

int esc_policy_parse_with(struct esc_policy *p, const char *text,
			  const struct esc_policy_other *other, char *err, size_t err_size)
{
	int rc = 0;
	/* Parse into a copy so that a bad line anywhere leaves *p as it was;
	 * memcpy rather than assignment so padding bytes are kept too, and a
	 * policy compares equal to itself byte for byte. */
	struct esc_policy copy;
	char buf[LINE_MAX_BYTES];
	int line = 0;
	ESC_ASSERT(p && text, "parsing needs a policy and a text");
	memcpy(&copy, p, sizeof copy);
	const char *s = text;
	while (*s) {
		const char *nl = strchr(s, '\n');
		size_t n = nl ? (size_t)(nl - s) : strlen(s);
		line++;
		if (n >= sizeof buf) {
			esc_set_err(err, err_size, "line %d: longer than %d bytes", line,
				    LINE_MAX_BYTES - 1);
			rc = ESC_EINVAL;
			goto out;
		}
		memcpy(buf, s, n);
		buf[n] = '\0';
		rc = parse_line(&copy, other, line, buf, err, err_size);
		if (rc)
			goto out;
		s += n;
		if (*s == '\n')
			s++;
	}
	memcpy(p, &copy, sizeof *p);
out:
	return rc;
}

static bool window_ok(int64_t ms)
{
	return ms > 0 && ms <= WINDOW_MAX_MS;
}

/* The checks of esc_policy_validate(), by part: each returns 0, or
 * ESC_EINVAL with the first broken rule in err. */

static int validate_windows(const struct esc_policy *p, char *err, size_t err_size)
{
	static const struct {
		const char *name;
		size_t offset;
	} windows[] = {
		{"payment_window", offsetof(struct esc_policy, payment_window_ms)},
		{"ship_window", offsetof(struct esc_policy, ship_window_ms)},
		{"response_window", offsetof(struct esc_policy, response_window_ms)},
		{"protection_extra", offsetof(struct esc_policy, protection_extra_ms)},
		{"confirm_window", offsetof(struct esc_policy, confirm_window_ms)},
		{"dispute_after_completion",
		 offsetof(struct esc_policy, dispute_after_completion_ms)},
		{"dispute_seller_window", offsetof(struct esc_policy, dispute_seller_window_ms)},
		{"dispute_buyer_window", offsetof(struct esc_policy, dispute_buyer_window_ms)},
		{"return_ship_window", offsetof(struct esc_policy, return_ship_window_ms)},
		{"return_receive_window", offsetof(struct esc_policy, return_receive_window_ms)},
		{"refund_alert", offsetof(struct esc_policy, refund_alert_ms)},
		{"buyer_short_window", offsetof(struct esc_policy, buyer_short_window_ms)},
		{"buyer_long_window", offsetof(struct esc_policy, buyer_long_window_ms)},
		{"seller_window", offsetof(struct esc_policy, seller_window_ms)},
	};
	for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++) {
		int64_t ms;
		memcpy(&ms, (const char *)p + windows[i].offset, sizeof ms);
		if (!window_ok(ms)) {
			esc_set_err(err, err_size, "%s must be more than 0 and at most %d days",
				    windows[i].name, DAYS_MAX);
			return ESC_EINVAL;
		}
	}
	if (p->buyer_short_window_ms > p->buyer_long_window_ms) {
		esc_set_err(err, err_size,
			    "buyer_short_window must not be longer than buyer_long_window");
		return ESC_EINVAL;
	}
	return 0;
}

/* Delivery, requests, the fee and the refunds' settling days. */
static int validate_orders(const struct esc_policy *p, char *err, size_t err_size)
{
	if (p->delivery_days_max < 1 || p->delivery_days_max > DAYS_MAX) {
		esc_set_err(err, err_size, "delivery_days_max must be 1 to %d", DAYS_MAX);
		return ESC_EINVAL;
	}
	if (p->delivery_days_default < 1 || p->delivery_days_default > p->delivery_days_max) {
		esc_set_err(err, err_size,
			    "delivery_days_default must be 1 to delivery_days_max (%d)",
			    p->delivery_days_max);
		return ESC_EINVAL;
	}
	if (p->cancel_requests_max < 1) {
		esc_set_err(err, err_size, "cancel_requests_max must be at least 1");
		return ESC_EINVAL;
	}
	if (p->fee_basis_points < 0 || p->fee_basis_points > 10000) {
		esc_set_err(err, err_size, "fee must be 0%% to 100%%");
		return ESC_EINVAL;
	}
	for (int m = 0; m < ESC_METHOD_COUNT; m++) {
		if (p->settle_days_min[m] < 0 || p->settle_days_min[m] > p->settle_days_max[m] ||
		    p->settle_days_max[m] > DAYS_MAX) {
			esc_set_err(err, err_size,
				    "settle_days.%s must be a range min..max within 0..%d",
				    method_names[m], DAYS_MAX);
			return ESC_EINVAL;
		}
	}
	return 0;
}

/* The buyer levels' thresholds and the seller score's weights. */
static int validate_reputation(const struct esc_policy *p, char *err, size_t err_size)
{
	/* The buyer levels escalate: a threshold below the one under it
	 * would make a level unreachable. */
	if (p->watch_cancellations < 1 || p->restricted_cancellations < p->watch_cancellations ||
	    p->suspended_cancellations < p->restricted_cancellations) {
		esc_set_err(err, err_size,
			    "cancellation thresholds must satisfy 1 <= watch_cancellations <= "
			    "restricted_cancellations <= suspended_cancellations");
		return ESC_EINVAL;
	}
	if (p->restricted_rate_percent < 0 || p->restricted_rate_percent > 100) {
		esc_set_err(err, err_size, "restricted_rate must be 0%% to 100%%");
		return ESC_EINVAL;
	}
	if (p->restricted_rate_min_paid < 1) {
		esc_set_err(err, err_size, "restricted_rate_min_paid must be at least 1");
		return ESC_EINVAL;
	}
	if (p->suspended_lost_disputes < 1) {
		esc_set_err(err, err_size, "suspended_lost_disputes must be at least 1");
		return ESC_EINVAL;
	}
	if (p->seller_min_orders < 1) {
		esc_set_err(err, err_size, "seller_min_orders must be at least 1");
		return ESC_EINVAL;
	}
	if (p->seller_weight_fault_cancel < 0 || p->seller_weight_missed_ship < 0 ||
	    p->seller_weight_lost_dispute < 0 || p->seller_weight_invalid_tracking < 0) {
		esc_set_err(err, err_size, "seller weights must not be negative");
		return ESC_EINVAL;
	}
	return 0;
}

static int validate_reasons(const struct esc_policy *p, char *err, size_t err_size)
{
	if (p->reasons_count < 1 || p->reasons_count > ESC_REASONS_MAX) {
		esc_set_err(err, err_size, "there must be 1 to %d cancellation reasons",
			    ESC_REASONS_MAX);
		return ESC_EINVAL;
	}
	for (size_t i = 0; i < p->reasons_count; i++) {
		const struct esc_reason *r = &p->reasons[i];
		if (!reason_code_valid(r->code) || r->label[0] == '\0') {
			esc_set_err(err, err_size,
				    "reason %zu needs a code of a-z, 0-9, _ and a label", i + 1);
			return ESC_EINVAL;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(p->reasons[j].code, r->code) == 0) {
				esc_set_err(err, err_size, "reason '%s' is listed twice", r->code);
				return ESC_EINVAL;
			}
		}
	}
	return 0;
}

int esc_policy_validate(const struct esc_policy *p, char *err, size_t err_size)
{
	ESC_ASSERT(p, "no policy to validate");
	int rc = validate_windows(p, err, err_size);
	if (!rc)
		rc = validate_orders(p, err, err_size);
	if (!rc)
		rc = validate_reputation(p, err, err_size);
	if (!rc)
		rc = validate_reasons(p, err, err_size);
	return rc;
}

const struct esc_reason *esc_policy_reason(const struct esc_policy *p, const char *code)
{
	if (!p || !code)
		return NULL;
	for (size_t i = 0; i < p->reasons_count && i < ESC_REASONS_MAX; i++) {
		if (strcmp(p->reasons[i].code, code) == 0)
			return &p->reasons[i];
	}
	return NULL;
}

int esc_method_parse(const char *name)
{
	if (!name)
		return -1;
	for (int m = 0; m < ESC_METHOD_COUNT; m++) {
		if (strcmp(method_names[m], name) == 0)
			return m;
	}
	return -1;
}

const char *esc_method_name(enum esc_method m)
{
	if ((int)m < 0 || m >= ESC_METHOD_COUNT)
		return "unknown";
	return method_names[m];
}

/* A duration in its largest exact unit: 72h, 7d, 1500ms. */
static int add_duration(struct esc_strbuf *sb, const char *name, int64_t ms)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = {{"d", ESC_MS_PER_DAY}, {"h", ESC_MS_PER_HOUR}, {"m", 60000}, {"s", 1000}};
	for (size_t i = 0; ms > 0 && i < sizeof units / sizeof units[0]; i++)
		if (ms % units[i].ms == 0)
			return esc_strbuf_addf(sb, "%s = %lld%s\n", name,
					       (long long)(ms / units[i].ms), units[i].unit);
	return esc_strbuf_addf(sb, "%s = %lldms\n", name, (long long)ms);
}

int esc_policy_format(const struct esc_policy *p, struct esc_strbuf *sb)
{
	int rc = 0;
	const struct esc_reason *recommended = NULL;
	sb->len = 0;
	if (sb->buf)
		sb->buf[0] = '\0';
	for (size_t i = 0; !rc && i < sizeof keys / sizeof keys[0]; i++) {
		const char *field = (const char *)p + keys[i].offset;
		int32_t v32;
		int64_t v64;
		switch (keys[i].kind) {
		case KIND_DURATION:
			memcpy(&v64, field, sizeof v64);
			rc = add_duration(sb, keys[i].name, v64);
			break;
		case KIND_COUNT:
			memcpy(&v32, field, sizeof v32);
			rc = esc_strbuf_addf(sb, "%s = %d\n", keys[i].name, (int)v32);
			break;
		case KIND_BASIS_POINTS:
			memcpy(&v32, field, sizeof v32);
			rc = esc_strbuf_addf(sb, "%s = %d.%02d%%\n", keys[i].name, (int)(v32 / 100),
					     (int)(v32 % 100));
			break;
		case KIND_PERCENT:
			memcpy(&v32, field, sizeof v32);
			rc = esc_strbuf_addf(sb, "%s = %d%%\n", keys[i].name, (int)v32);
			break;
		}
	}
	for (int m = 0; !rc && m < ESC_METHOD_COUNT; m++)
		rc = esc_strbuf_addf(sb, SETTLE_PREFIX "%s = %d..%d\n",
				     esc_method_name((enum esc_method)m),
				     (int)p->settle_days_min[m], (int)p->settle_days_max[m]);
	if (!rc)
		rc = esc_strbuf_adds(sb, "reasons = clear\n");
	for (size_t i = 0; !rc && i < p->reasons_count; i++) {
		const struct esc_reason *r = &p->reasons[i];
		rc = esc_strbuf_addf(sb, REASON_PREFIX "%s = %s, %s\n", r->code,
				     r->fault == ESC_FAULT_SELLER ? "seller" : "buyer", r->label);
		if (r->recommended)
			recommended = r;
	}
	if (!rc)
		rc = esc_strbuf_addf(sb, "recommended_reason = %s\n",
				     recommended ? recommended->code : "none");
	if (!rc)
		rc = esc_strbuf_adds(sb, "carriers = clear\n");
	for (size_t i = 0; !rc && i < p->carriers_count; i++) {
		const struct esc_carrier *c = &p->carriers[i];
		rc = esc_strbuf_addf(sb, CARRIER_PREFIX "%s = %s %s%s%s\n", c->name,
				     esc_check_scheme_name(c->check), c->pattern,
				     *c->example ? " " : "", c->example);
	}
	if (!rc)
		rc = esc_strbuf_addf(sb, "tracking_check = %s\n",
				     p->tracking_check == ESC_TRACKING_FLAG ? "flag" : "refuse");
	return rc;
}
