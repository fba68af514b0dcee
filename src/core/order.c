/* order.c - the order machine of SPEC §2 as one table, and esc_decide().
 *
 *                      create
 *                        |
 *                        v
 *               awaiting_payment --cancel / payment deadline--> cancelled
 *                        | pay
 *                        v
 *   +----------> awaiting_shipment --ship deadline (refund)--> cancelled
 *   | reject,            |    | cancel(reason)
 *   | withdraw           |    v
 *   +---------- cancellation_requested --accept / response deadline
 *                        |                 / ship deadline (refund)--> cancelled
 *                        | ship (only from awaiting_shipment)
 *                        v
 *                     shipped --protection deadline / confirm_receipt--> completed
 *                        | deliver                                          ^
 *                        v                                                  |
 *                    delivered --confirm deadline / confirm_receipt---------+
 *
 *   shipped, delivered, completed (15 days) --open_dispute--> in_dispute
 *   in_dispute --resolve_dispute--> closed (full refund) | completed (the rest
 *   released); the dispute's own life of offers and windows is the disputes
 *   subsystem's, which ends in resolve_dispute.
 *
 * Invariants of each state (money: held = paid - refunded - released):
 *   awaiting_payment        paid = 0; the payment deadline is set.
 *   awaiting_shipment       held = paid = total; the ship deadline is set.
 *   cancellation_requested  as awaiting_shipment, plus the response
 *                           deadline; cancel_requests <= the maximum.
 *   shipped                 held = total; carrier, tracking and the promised
 *                           date are set; the protection deadline is set.
 *   delivered               held = total; the confirm deadline is set.
 *   in_dispute              held > 0; protection and confirm paused (their
 *                           time left kept); one dispute per order.
 *   completed               held = 0: everything went to seller and fee,
 *                           less any refund a dispute decided.
 *   cancelled, closed       held = 0: everything paid was refunded.
 *   No final state has a deadline set.
 *
 * In every state: 0 < total <= ESC_AMOUNT_MAX; paid is 0 or total, and 0
 * only before payment (or cancelled unpaid); 0 <= refunded + released <=
 * paid; 0 <= fee <= released; no deadline is set but the state's own
 * (above; in dispute, the dispute's window, cleared while escalated);
 * once shipped, the carrier, tracking and promised date stay set; a
 * cancellation request has a reason. One dispute at most: the dispute's
 * state is none without one, open while in dispute (from shipped,
 * delivered or completed, asking 1 to held), resolved after, and only an
 * open dispute keeps paused time. esc_order_check() checks all of this
 * after every decision and after every read from a store.
 *
 * Pure: no I/O, no clock, no allocation. */
#include "core/order.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/event.h"
#include "core/recommend.h"
#include "core/rules.h"

#include "util/bug.h"
#include "util/error.h"

/* Names. */

static const char *const state_names[ESC_ST_COUNT] = {
	[ESC_ST_NONE] = "none",
	[ESC_ST_AWAITING_PAYMENT] = "awaiting_payment",
	[ESC_ST_AWAITING_SHIPMENT] = "awaiting_shipment",
	[ESC_ST_CANCELLATION_REQUESTED] = "cancellation_requested",
	[ESC_ST_SHIPPED] = "shipped",
	[ESC_ST_DELIVERED] = "delivered",
	[ESC_ST_IN_DISPUTE] = "in_dispute",
	[ESC_ST_COMPLETED] = "completed",
	[ESC_ST_CANCELLED] = "cancelled",
	[ESC_ST_CLOSED] = "closed",
};

static const char *const actor_names[ESC_ACTOR_COUNT] = {
	[ESC_ACTOR_OPERATOR] = "operator", [ESC_ACTOR_BUYER] = "buyer",
	[ESC_ACTOR_SELLER] = "seller",     [ESC_ACTOR_ARBITER] = "arbiter",
	[ESC_ACTOR_SYSTEM] = "system",
};

static const char *const deadline_names[ESC_DL_COUNT] = {
	[ESC_DL_PAYMENT] = "payment",     [ESC_DL_SHIP] = "ship",
	[ESC_DL_RESPONSE] = "response",   [ESC_DL_PROTECTION] = "protection",
	[ESC_DL_CONFIRM] = "confirm",     [ESC_DL_DISPUTE] = "dispute",
	[ESC_DL_REFUND] = "refund_alert",
};

static const char *const dispute_state_names[ESC_DS_COUNT] = {
	[ESC_DS_NONE] = "none",
	[ESC_DS_AWAITING_SELLER] = "awaiting_seller",
	[ESC_DS_COUNTER_OFFERED] = "counter_offered",
	[ESC_DS_REJECTED] = "rejected",
	[ESC_DS_ESCALATED] = "escalated",
	[ESC_DS_AWAITING_RETURN] = "awaiting_return",
	[ESC_DS_RESOLVED] = "resolved",
};

static const char *const refund_status_names[] = {"pending", "settled", "failed"};
static const char *const ground_names[ESC_GROUND_COUNT] = {
	[ESC_GROUND_INVALID_TRACKING] = "invalid_tracking",
	[ESC_GROUND_NOT_AS_DESCRIBED] = "not_as_described",
	[ESC_GROUND_NOT_DELIVERED] = "not_delivered",
};
static const char *const outcome_names[ESC_OUTCOME_COUNT] = {
	[ESC_OUTCOME_REFUND_ONLY] = "refund_only",
	[ESC_OUTCOME_RETURN_AND_REFUND] = "return_and_refund",
};
static const char *const refund_to_names[] = {"original", "balance"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

_Static_assert(COUNT(state_names) == ESC_ST_COUNT, "a name per state");
_Static_assert(COUNT(actor_names) == ESC_ACTOR_COUNT, "a name per actor");
_Static_assert(COUNT(deadline_names) == ESC_DL_COUNT, "a name per deadline");
_Static_assert(COUNT(dispute_state_names) == ESC_DS_COUNT, "a name per dispute state");

static const char *name_of(const char *const *names, size_t n, int v)
{
	return v >= 0 && (size_t)v < n && names[v] ? names[v] : "?";
}

static int parse_in(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++)
		if (names[i] && !strcmp(names[i], s))
			return (int)i;
	return -1;
}

const char *esc_state_name(enum esc_state s)
{
	return name_of(state_names, COUNT(state_names), (int)s);
}
/* An event's name is its row's in the table of events (core/event.h). */
const char *esc_event_name(enum esc_event e)
{
	const struct esc_event_spec *s = esc_event_spec(e);
	return s ? s->name : "?";
}
const char *esc_actor_name(enum esc_actor a)
{
	return name_of(actor_names, COUNT(actor_names), (int)a);
}
const char *esc_deadline_name(enum esc_deadline_kind k)
{
	return name_of(deadline_names, COUNT(deadline_names), (int)k);
}
const char *esc_refund_status_name(enum esc_refund_status s)
{
	return name_of(refund_status_names, COUNT(refund_status_names), (int)s);
}
const char *esc_refund_to_name(enum esc_refund_to t)
{
	return name_of(refund_to_names, COUNT(refund_to_names), (int)t);
}
int esc_state_parse(const char *name)
{
	int v = parse_in(state_names, COUNT(state_names), name);
	return v == ESC_ST_NONE ? -1 : v;
}
int esc_event_parse(const char *name)
{
	for (int e = 0; name && e < ESC_EV_COUNT; e++)
		if (!strcmp(esc_event_spec((enum esc_event)e)->name, name))
			return e;
	return -1;
}
int esc_actor_parse(const char *name)
{
	return parse_in(actor_names, COUNT(actor_names), name);
}
int esc_deadline_parse(const char *name)
{
	return parse_in(deadline_names, COUNT(deadline_names), name);
}
int esc_refund_status_parse(const char *name)
{
	return parse_in(refund_status_names, COUNT(refund_status_names), name);
}
int esc_refund_to_parse(const char *name)
{
	return parse_in(refund_to_names, COUNT(refund_to_names), name);
}
const char *esc_dispute_state_name(enum esc_dispute_state s)
{
	return name_of(dispute_state_names, COUNT(dispute_state_names), (int)s);
}

int esc_dispute_state_parse(const char *name)
{
	return parse_in(dispute_state_names, COUNT(dispute_state_names), name);
}

void esc_dispute_id(char out[ESC_ID_SIZE], const char *order_id)
{
	const char *own = strncmp(order_id, "ord_", 4) ? order_id : order_id + 4;
	snprintf(out, ESC_ID_SIZE, "dsp_%.*s", ESC_ID_SIZE - 5, own);
}

bool esc_dispute_order_id(char out[ESC_ID_SIZE], const char *dispute_id)
{
	if (strncmp(dispute_id, "dsp_", 4) || !dispute_id[4] || strlen(dispute_id) >= ESC_ID_SIZE)
		return false;
	snprintf(out, ESC_ID_SIZE, "ord_%s", dispute_id + 4);
	return true;
}

const char *esc_evidence_sniff(const unsigned char *data, size_t len)
{
	static const struct {
		const char *type;
		const char *magic;
		size_t n;
	} kinds[] = {
		{"image/jpeg", "\xff\xd8\xff", 3},
		{"image/png", "\x89PNG\r\n\x1a\n", 8},
		{"application/pdf", "%PDF-", 5},
	};
	for (size_t i = 0; i < COUNT(kinds); i++)
		if (len >= kinds[i].n && !memcmp(data, kinds[i].magic, kinds[i].n))
			return kinds[i].type;
	return NULL;
}

int esc_evidence_allowed(const struct esc_order *o, enum esc_actor actor, const char *actor_id,
			 size_t have, char *why, size_t why_size)
{
	int rc = 0;
	const char *text = NULL;
	if (!esc_order_visible(actor, actor_id, o) || !o->disputes_count)
		rc = ESC_ENOTFOUND, text = "no such dispute";
	else if (actor != ESC_ACTOR_BUYER && actor != ESC_ACTOR_SELLER)
		rc = ESC_EFORBIDDEN, text = "only the buyer and the seller add evidence";
	else if (o->dispute_state == ESC_DS_RESOLVED)
		rc = ESC_ESTATE, text = "the dispute is resolved";
	else if (have >= ESC_EVIDENCE_MAX)
		rc = ESC_ELIMIT, text = "a dispute holds 10 files at most";
	if (rc)
		snprintf(why, why_size, "%s", text);
	return rc;
}

const char *esc_ground_name(enum esc_ground g)
{
	return name_of(ground_names, COUNT(ground_names), (int)g);
}
const char *esc_outcome_name(enum esc_outcome o)
{
	return name_of(outcome_names, COUNT(outcome_names), (int)o);
}
int esc_ground_parse(const char *name)
{
	return parse_in(ground_names, COUNT(ground_names), name);
}
int esc_outcome_parse(const char *name)
{
	return parse_in(outcome_names, COUNT(outcome_names), name);
}

bool esc_state_final(enum esc_state s)
{
	return s == ESC_ST_COMPLETED || s == ESC_ST_CANCELLED || s == ESC_ST_CLOSED;
}

/* Accounts. */

void esc_account_escrow(char out[ESC_ACCOUNT_SIZE], const char *order_id)
{
	snprintf(out, ESC_ACCOUNT_SIZE, "escrow:%s", order_id);
}
void esc_account_buyer(char out[ESC_ACCOUNT_SIZE], const char *user_id)
{
	snprintf(out, ESC_ACCOUNT_SIZE, "buyer:%s", user_id);
}
void esc_account_seller(char out[ESC_ACCOUNT_SIZE], const char *user_id)
{
	snprintf(out, ESC_ACCOUNT_SIZE, "seller:%s", user_id);
}

int64_t esc_order_held(const struct esc_order *o)
{
	return o->paid_minor - o->refunded_minor - o->released_minor;
}

/* The invariants of the diagram at the top of this file. */

#define DL_BIT(k) (1u << ESC_DL_##k)

/* The deadlines each state keeps: all of them set, and no other. */
static const unsigned state_deadlines[ESC_ST_COUNT] = {
	[ESC_ST_AWAITING_PAYMENT] = DL_BIT(PAYMENT),
	[ESC_ST_AWAITING_SHIPMENT] = DL_BIT(SHIP),
	[ESC_ST_CANCELLATION_REQUESTED] = DL_BIT(SHIP) | DL_BIT(RESPONSE),
	[ESC_ST_SHIPPED] = DL_BIT(PROTECTION),
	[ESC_ST_DELIVERED] = DL_BIT(CONFIRM),
	[ESC_ST_IN_DISPUTE] = DL_BIT(DISPUTE), /* but none while escalated */
};

static const char *const deadline_missing[ESC_DL_ORDER_COUNT] = {
	[ESC_DL_PAYMENT] = "awaiting payment, the payment deadline must be set",
	[ESC_DL_SHIP] = "awaiting shipment, the ship deadline must be set",
	[ESC_DL_RESPONSE] = "with a cancellation requested, the response deadline must be set",
	[ESC_DL_PROTECTION] = "shipped, the protection deadline must be set",
	[ESC_DL_CONFIRM] = "delivered, the confirm deadline must be set",
	[ESC_DL_DISPUTE] = "in an open dispute not escalated, the dispute deadline must be set",
};
static const char *const deadline_stray[ESC_DL_ORDER_COUNT] = {
	[ESC_DL_PAYMENT] = "the payment deadline is set outside awaiting_payment",
	[ESC_DL_SHIP] = "the ship deadline is set outside awaiting_shipment and "
			"cancellation_requested",
	[ESC_DL_RESPONSE] = "the response deadline is set outside cancellation_requested",
	[ESC_DL_PROTECTION] = "the protection deadline is set outside shipped",
	[ESC_DL_CONFIRM] = "the confirm deadline is set outside delivered",
	[ESC_DL_DISPUTE] = "the dispute deadline is set outside an open dispute's window",
};
_Static_assert(COUNT(deadline_missing) == ESC_DL_ORDER_COUNT, "a sentence per deadline");
_Static_assert(COUNT(deadline_stray) == ESC_DL_ORDER_COUNT, "a sentence per deadline");

static bool dispute_open(enum esc_dispute_state s)
{
	return s > ESC_DS_NONE && s < ESC_DS_RESOLVED;
}

static const char *check_money(const struct esc_order *o)
{
	int64_t held = esc_order_held(o);
	enum esc_state s = o->state;
	if (o->total_minor <= 0 || o->total_minor > ESC_AMOUNT_MAX)
		return "the total is from 1 to ESC_AMOUNT_MAX";
	if (o->paid_minor != 0 && o->paid_minor != o->total_minor)
		return "paid is 0 or the total";
	if (o->refunded_minor < 0 || o->released_minor < 0 ||
	    o->refunded_minor > o->paid_minor - o->released_minor)
		return "refunded and released are not negative and together at most paid";
	if (o->fee_minor < 0 || o->fee_minor > o->released_minor)
		return "the fee is from 0 to what was released";
	if (o->refunded_minor > 0 && o->refunds_count < 1)
		return "a refunded amount has a refund";
	switch (s) {
	case ESC_ST_AWAITING_PAYMENT:
		if (o->paid_minor != 0)
			return "awaiting payment, paid is 0";
		break;
	case ESC_ST_AWAITING_SHIPMENT:
	case ESC_ST_CANCELLATION_REQUESTED:
	case ESC_ST_SHIPPED:
	case ESC_ST_DELIVERED:
		if (o->paid_minor != o->total_minor || held != o->total_minor)
			return "from payment to delivery, held = paid = total";
		break;
	case ESC_ST_IN_DISPUTE:
		if (o->paid_minor != o->total_minor || held <= 0)
			return "in dispute, paid = total and held > 0";
		break;
	case ESC_ST_COMPLETED:
		if (o->paid_minor != o->total_minor || held != 0)
			return "completed, paid = total and held = 0";
		break;
	case ESC_ST_CANCELLED:
	case ESC_ST_CLOSED:
		if (held != 0 || o->refunded_minor != o->paid_minor)
			return "cancelled or closed, everything paid was refunded";
		break;
	default:
		break;
	}
	return NULL;
}

static const char *check_deadlines(const struct esc_order *o)
{
	unsigned keep = state_deadlines[o->state];
	if (o->state == ESC_ST_IN_DISPUTE && o->dispute_state == ESC_DS_ESCALATED)
		keep = 0;
	for (int k = 0; k < ESC_DL_ORDER_COUNT; k++) {
		bool set = o->due_ms[k] != 0, kept = keep & (1u << k);
		if (o->due_ms[k] < 0)
			return "a deadline is not negative";
		if (kept && !set)
			return deadline_missing[k];
		if (!kept && set)
			return deadline_stray[k];
	}
	return NULL;
}

static const char *check_dispute(const struct esc_order *o)
{
	enum esc_dispute_state ds = o->dispute_state;
	if (o->disputes_count < 0 || o->disputes_count > 1)
		return "an order has one dispute at most";
	if ((int)ds < 0 || ds >= ESC_DS_COUNT)
		return "the dispute's state is a known one";
	if ((ds == ESC_DS_NONE) != (o->disputes_count == 0))
		return "the dispute's state is none exactly when there is no dispute";
	if (o->state == ESC_ST_IN_DISPUTE) {
		if (!dispute_open(ds))
			return "in dispute, the dispute is open";
		if (o->dispute_from != ESC_ST_SHIPPED && o->dispute_from != ESC_ST_DELIVERED &&
		    o->dispute_from != ESC_ST_COMPLETED)
			return "in dispute, it was opened from shipped, delivered or completed";
		if (o->dispute_amount_minor < 1 || o->dispute_amount_minor > esc_order_held(o))
			return "in dispute, the amount asked is from 1 to what is held";
		if (o->dispute_paused_ms < 0)
			return "in dispute, the paused time left is not negative";
	} else {
		if (dispute_open(ds))
			return "a dispute is open only while the order is in dispute";
		if (o->dispute_paused_ms != 0)
			return "only an open dispute keeps paused time";
	}
	return NULL;
}

const char *esc_order_check(const struct esc_order *o)
{
	const char *why = NULL;
	enum esc_state s = o->state;
	if (s <= ESC_ST_NONE || s >= ESC_ST_COUNT)
		return "the state is a known one, not none";
	if (o->version < 1)
		return "the version is at least 1";
	if (!o->id[0] || !o->buyer_id[0] || !o->seller_id[0])
		return "the order, its buyer and its seller have ids";
	if ((int)o->method < 0 || o->method >= ESC_METHOD_COUNT)
		return "the payment method is a known one";
	if (o->cancel_requests < 0 || o->refunds_count < 0)
		return "counts are not negative";
	why = check_money(o);
	if (!why)
		why = check_deadlines(o);
	if (!why)
		why = check_dispute(o);
	if (why)
		return why;
	if (s == ESC_ST_CANCELLATION_REQUESTED && (o->cancel_requests < 1 || !o->cancel_reason[0]))
		return "with a cancellation requested, there is a request with a reason";
	if ((s == ESC_ST_SHIPPED || s == ESC_ST_DELIVERED || s == ESC_ST_IN_DISPUTE ||
	     s == ESC_ST_COMPLETED) &&
	    (!o->carrier[0] || !o->tracking[0] || !o->promised_at_ms))
		return "once shipped, the carrier, tracking and promised date are set";
	return NULL;
}

void esc_order_assert(const struct esc_order *o, const char *when)
{
	const char *why = esc_order_check(o);
	if (why)
		ESC_BUG("order %s (%s, version %lld) %s breaks an invariant: %s", o->id,
			esc_state_name(o->state), (long long)o->version, when, why);
}

/* The decision. */

struct decision {
	const struct esc_context *ctx;
	const struct esc_order *old; /* NULL for create */
	const struct esc_args *args; /* NULL when only asking "is it open?" */
	const struct esc_refund *refund;
	struct esc_effects *fx;
	enum esc_event event;
	/* ship: the tracking number's verdict, found by guard_ship (which
	 * runs first) for effect_ship; unchecked until then. */
	enum esc_tracking_verdict tracking;
};

typedef int (*guard_fn)(struct decision *d);
typedef int (*effect_fn)(struct decision *d);

#define NO_DEADLINE (-1)

/* One row: in state `from`, `actor` may send `event`. Either it is refused
 * with `refusal` (a row that only names the reason), or the guard runs, the
 * order moves to `to`, and the effect fills in the rest. `until` names the
 * deadline that bounds the action (shown in `actions`); when `strict`,
 * the action is refused with deadline_passed once it has passed. */
struct transition {
	enum esc_state from;
	enum esc_event event;
	enum esc_actor actor;
	int refusal;
	guard_fn guard;
	enum esc_state to;
	effect_fn effect;
	const char *outbox_type;
	int until;
	bool strict;
};

static int refuse(struct decision *d, int code, const char *fmt, const char *arg)
{
	d->fx->refusal = code;
	snprintf(d->fx->refusal_message, sizeof d->fx->refusal_message, fmt, arg ? arg : "");
	return code;
}

/* An answer refused because deadline `name` has passed (message: fmt
 * with the name), and what to do instead: nothing, the deadline acts
 * (SPEC §2 and §5: each deadline's row). */
static int refuse_passed(struct decision *d, const char *fmt, const char *name)
{
	int rc = refuse(d, ESC_EDEADLINE, fmt, name);
	snprintf(d->fx->refusal_hint, sizeof d->fx->refusal_hint,
		 "escrowd acts on the %s deadline itself: GET /v1/orders/%s shows what it did",
		 name, d->old->id);
	return rc;
}

/* Whether s holds nothing but spaces, tabs and line ends (or nothing). */
static bool blank(const char *s)
{
	return s[strspn(s, " \t\r\n")] == '\0';
}

/* A text of at most max bytes, no control bytes but tab and line feed;
 * a required one not blank: a message of spaces says nothing. */
static bool text_ok(const char *s, size_t max, bool required)
{
	if (!s)
		return !required;
	size_t n = strlen(s);
	if (required && blank(s))
		return false;
	if (n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 && s[i] != '\n' && s[i] != '\t')
			return false;
	return true;
}

static void copy(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

static void deadline_set(struct decision *d, enum esc_deadline_kind k, int64_t due_ms)
{
	d->fx->order.due_ms[k] = due_ms;
}

static void deadline_clear_all(struct decision *d)
{
	for (int k = 0; k < ESC_DL_ORDER_COUNT; k++)
		d->fx->order.due_ms[k] = 0;
}

static void add_transfer(struct decision *d, const char *id, const char *kind, const char *from,
			 const char *to, int64_t amount)
{
	struct esc_effects *fx = d->fx;
	if (amount <= 0)
		return;
	/* The table never needs more; a bug if it did. */
	ESC_ASSERT(fx->transfers_count < ESC_EFFECT_TRANSFERS_MAX,
		   "a %s transfer on %s is one too many", kind, fx->order.id);
	struct esc_transfer *t = &fx->transfers[fx->transfers_count++];
	copy(t->id, sizeof t->id, id);
	copy(t->order_id, sizeof t->order_id, fx->order.id);
	copy(t->kind, sizeof t->kind, kind);
	copy(t->from, sizeof t->from, from);
	copy(t->to, sizeof t->to, to);
	t->amount_minor = amount;
	copy(t->currency, sizeof t->currency, fx->order.currency);
}

static void add_mark(struct decision *d, const char *user_id, enum esc_mark m)
{
	struct esc_effects *fx = d->fx;
	ESC_ASSERT(fx->marks_count < ESC_EFFECT_MARKS_MAX, "mark %s on %s is one too many",
		   esc_mark_name(m), fx->order.id);
	struct esc_mark_op *op = &fx->marks[fx->marks_count++];
	copy(op->user_id, sizeof op->user_id, user_id);
	op->mark = m;
}

static void add_message(struct decision *d, enum esc_actor role, const char *author_id,
			const char *body)
{
	struct esc_effects *fx = d->fx;
	fx->message_new = true;
	fx->message.role = role;
	copy(fx->message.author_id, sizeof fx->message.author_id, author_id);
	copy(fx->message.body, sizeof fx->message.body, body);
}

static void add_deadline_op(struct esc_effects *fx, bool set, enum esc_deadline_kind k,
			    int64_t due_ms, const char *ref)
{
	ESC_ASSERT(fx->deadlines_count < ESC_EFFECT_DEADLINES_MAX,
		   "deadline change %s on %s is one too many", esc_deadline_name(k), fx->order.id);
	struct esc_deadline_op *op = &fx->deadlines[fx->deadlines_count++];
	op->set = set;
	op->kind = k;
	op->due_ms = due_ms;
	copy(op->ref, sizeof op->ref, ref);
}

/* Refund everything still held to the buyer: to the store balance at once
 * when they asked for it (or paid from it), else to the original method,
 * pending until the payment integration reports the outcome. */
static void refund(struct decision *d, enum esc_refund_to to, int64_t amount)
{
	struct esc_effects *fx = d->fx;
	struct esc_order *o = &fx->order;
	const struct esc_policy *p = d->ctx->policy;
	if (amount <= 0)
		return;
	/* Callers never refund more than is held. */
	ESC_ASSERT(amount <= esc_order_held(o), "a refund of %lld on %s, which holds %lld",
		   (long long)amount, o->id, (long long)esc_order_held(o));
	struct esc_refund *r = &fx->refund;
	memset(r, 0, sizeof *r);
	o->refunds_count++;
	snprintf(r->id, sizeof r->id, "%.40s-r%u", o->id, (unsigned)o->refunds_count % 100u);
	copy(r->order_id, sizeof r->order_id, o->id);
	r->amount_minor = amount;
	r->created_at_ms = d->ctx->now_ms;
	char escrow[ESC_ACCOUNT_SIZE];
	esc_account_escrow(escrow, o->id);
	if (to == ESC_REFUND_TO_BALANCE || o->method == ESC_METHOD_BALANCE) {
		char buyer[ESC_ACCOUNT_SIZE];
		esc_account_buyer(buyer, o->buyer_id);
		r->method = ESC_METHOD_BALANCE;
		r->status = ESC_REFUND_SETTLED;
		r->resolved_at_ms = d->ctx->now_ms;
		add_transfer(d, r->id, "refund", escrow, buyer, amount);
	} else {
		r->method = o->method;
		r->status = ESC_REFUND_PENDING;
		r->alert_due_ms = d->ctx->now_ms + p->refund_alert_ms;
		add_transfer(d, r->id, "refund", escrow, ESC_ACCOUNT_IN_TRANSIT, amount);
		add_deadline_op(fx, true, ESC_DL_REFUND, r->alert_due_ms, r->id);
	}
	r->settle_days_min = p->settle_days_min[r->method];
	r->settle_days_max = p->settle_days_max[r->method];
	o->refunded_minor += amount;
	fx->refund_new = true;
}

static void refund_held(struct decision *d, enum esc_refund_to to)
{
	refund(d, to, esc_order_held(&d->fx->order));
}

/* Everything held goes to the seller, less the platform fee. After a
 * dispute the ids differ from the first release's, which a dispute on a
 * completed order clawed back. */
static void release_held(struct decision *d)
{
	struct esc_order *o = &d->fx->order;
	int64_t held = esc_order_held(o), fee = 0;
	if (held <= 0)
		return;
	/* held <= ESC_AMOUNT_MAX and the fee is at most 100 %: cannot fail. */
	int fee_rc = esc_money_fee(held, d->ctx->policy->fee_basis_points, &fee);
	ESC_ASSERT(fee_rc == 0, "no fee at %d basis points on %lld",
		   (int)d->ctx->policy->fee_basis_points, (long long)held);
	char escrow[ESC_ACCOUNT_SIZE], seller[ESC_ACCOUNT_SIZE], id[ESC_TRANSFER_ID_SIZE];
	esc_account_escrow(escrow, o->id);
	esc_account_seller(seller, o->seller_id);
	const char *again = o->disputes_count ? "/after-dispute" : "";
	snprintf(id, sizeof id, "%s/release%s", o->id, again);
	add_transfer(d, id, "release", escrow, seller, held - fee);
	snprintf(id, sizeof id, "%s/fee%s", o->id, again);
	add_transfer(d, id, "fee", escrow, ESC_ACCOUNT_FEES, fee);
	o->released_minor += held;
	o->fee_minor += fee;
}

/* Guards: 0, or a refusal (set in fx). With d->args NULL only the checks
 * that do not depend on the request's arguments run. */

static int guard_create(struct decision *d)
{
	const struct esc_args *a = d->args;
	const struct esc_policy *p = d->ctx->policy;
	int64_t total = 0;
	if (!a)
		return 0;
	/* Refund ids append "-rN" to the order id: keep room for it. */
	if (!a->order_id || !*a->order_id || strlen(a->order_id) > ESC_ORDER_ID_MAX)
		return refuse(d, ESC_EINVAL, "the order needs an id of at most 40 bytes", NULL);
	if (!a->buyer_id || !*a->buyer_id || strlen(a->buyer_id) >= ESC_ID_SIZE)
		return refuse(d, ESC_EINVAL, "buyer_id is required", NULL);
	if (!a->seller_id || !*a->seller_id || strlen(a->seller_id) >= ESC_ID_SIZE)
		return refuse(d, ESC_EINVAL, "seller_id is required", NULL);
	if (!strcmp(a->buyer_id, a->seller_id))
		return refuse(d, ESC_EINVAL, "the buyer and the seller must differ", NULL);
	if (!a->currency || !esc_currency_valid(a->currency))
		return refuse(d, ESC_EINVAL,
			      "currency must be an ISO 4217 code of three capital letters", NULL);
	if (a->items_count == 0 || !a->items)
		return refuse(d, ESC_EINVAL, "an order needs at least one item", NULL);
	if (a->items_count > ESC_ITEMS_MAX)
		return refuse(d, ESC_EINVAL, "an order has at most 100 items", NULL);
	for (size_t i = 0; i < a->items_count; i++) {
		const struct esc_item *it = &a->items[i];
		int64_t line;
		if (!text_ok(it->title, ESC_TITLE_MAX, true))
			return refuse(d, ESC_EINVAL,
				      "each item needs a title of 1 to 200 printable bytes, not "
				      "only spaces",
				      NULL);
		if (it->quantity < 1 || it->quantity > ESC_QUANTITY_MAX)
			return refuse(d, ESC_EINVAL,
				      "each item's quantity must be from 1 to 1000000", NULL);
		if (!esc_amount_valid(it->unit_price_minor))
			return refuse(d, ESC_EINVAL,
				      "unit_price must be a whole number of minor units from 0 "
				      "to 10^15",
				      NULL);
		if (esc_money_mul(it->quantity, it->unit_price_minor, &line) ||
		    esc_money_add(total, line, &total) || !esc_amount_valid(total))
			return refuse(d, ESC_EINVAL, "the order's total is too large", NULL);
	}
	if (total <= 0)
		return refuse(d, ESC_EINVAL, "the order's total must be above zero", NULL);
	if (a->delivery_days < 0 || a->delivery_days > p->delivery_days_max)
		return refuse(d, ESC_EINVAL, "delivery_days is out of range", NULL);
	return 0;
}

static int guard_pay(struct decision *d)
{
	const struct esc_args *a = d->args;
	if (!a)
		return 0;
	if (a->method < 0 || a->method >= ESC_METHOD_COUNT)
		return refuse(d, ESC_EINVAL, "payment_method must be card, wallet or balance",
			      NULL);
	if (!esc_amount_valid(a->amount_minor))
		return refuse(d, ESC_EINVAL, "amount must be from 0 to 10^15 minor units", NULL);
	if (a->amount_minor != d->old->total_minor)
		return refuse(d, ESC_EAMOUNT, "the payment must equal the order's total", NULL);
	if (a->method == ESC_METHOD_BALANCE && a->buyer_balance_minor < a->amount_minor)
		return refuse(d, ESC_EFUNDS, "the buyer's store balance does not cover the order",
			      NULL);
	return 0;
}

static int guard_request(struct decision *d)
{
	const struct esc_order *o = d->old;
	const struct esc_args *a = d->args;
	if (d->ctx->buyer_level == ESC_LEVEL_SUSPENDED)
		return refuse(d, ESC_ESUSPENDED,
			      "your account is suspended: you cannot request cancellations until "
			      "an arbiter lifts the suspension (ask the marketplace)",
			      NULL);
	if (o->cancel_requests >= d->ctx->policy->cancel_requests_max) {
		d->fx->refusal_rule =
			(struct esc_refusal_rule){.set = true,
						  .rule = ESC_RULE_CANCEL_REQUESTS_MAX,
						  .threshold = d->ctx->policy->cancel_requests_max,
						  .count = o->cancel_requests};
		return refuse(d, ESC_ELIMIT,
			      "you have asked to cancel this order as many times as allowed", NULL);
	}
	if (!a)
		return 0;
	if (!a->reason || !esc_policy_reason(d->ctx->policy, a->reason))
		return refuse(d, ESC_EINVAL, "reason must be one of GET /v1/cancellation-reasons",
			      NULL);
	if (!text_ok(a->comment, ESC_TEXT_MAX, false))
		return refuse(d, ESC_EINVAL, "the comment is at most 1000 printable bytes", NULL);
	if (a->refund_to < -1 || a->refund_to > ESC_REFUND_TO_BALANCE)
		return refuse(d, ESC_EINVAL, "refund_to must be original or balance", NULL);
	return 0;
}

static int guard_reject(struct decision *d)
{
	if (d->args && !text_ok(d->args->message, ESC_TEXT_MAX, true))
		return refuse(d, ESC_EINVAL,
			      "a rejection needs a message of 1 to 1000 printable bytes, not only "
			      "spaces",
			      NULL);
	return 0;
}

/* The shipment's tracking number against its carrier in the policy (issue
 * 16): ESC_TRACKING_UNCHECKED for a carrier the policy does not list. */
static enum esc_tracking_verdict tracking_verdict(const struct decision *d,
						  const struct esc_carrier **carrier)
{
	const struct esc_policy *p = d->ctx->policy;
	char normal[ESC_TRACKING_MAX + 1];
	*carrier = esc_carrier_find(p->carriers, p->carriers_count, d->args->carrier);
	if (!*carrier)
		return ESC_TRACKING_UNCHECKED;
	if (esc_tracking_normalize(d->args->tracking, normal, sizeof normal) != 0)
		return ESC_TRACKING_BAD_FORMAT;
	return esc_tracking_check(*carrier, normal);
}

static const char *tracking_check_name(enum esc_tracking_verdict v)
{
	switch (v) {
	case ESC_TRACKING_VALID:
		return "valid";
	case ESC_TRACKING_BAD_FORMAT:
		return "invalid_format";
	case ESC_TRACKING_BAD_CHECK:
		return "invalid_check_digit";
	case ESC_TRACKING_UNCHECKED:
		break;
	}
	return "";
}

static int guard_ship(struct decision *d)
{
	const struct esc_args *a = d->args;
	if (!a)
		return 0;
	if (!text_ok(a->carrier, ESC_CARRIER_MAX, true))
		return refuse(d, ESC_EINVAL, "carrier is required (at most 64 bytes)", NULL);
	if (!a->tracking || blank(a->tracking))
		return refuse(d, ESC_EINVAL, "tracking_number is required", NULL);
	if (strlen(a->tracking) > ESC_TRACKING_MAX)
		return refuse(d, ESC_EINVAL, "tracking_number is at most 64 characters", NULL);
	if (!text_ok(a->tracking, ESC_TRACKING_MAX, true))
		return refuse(d, ESC_EINVAL, "tracking_number must be printable characters", NULL);
	const struct esc_carrier *c;
	enum esc_tracking_verdict v = tracking_verdict(d, &c);
	d->tracking = v;
	if ((v == ESC_TRACKING_BAD_FORMAT || v == ESC_TRACKING_BAD_CHECK) &&
	    d->ctx->policy->tracking_check == ESC_TRACKING_REFUSE) {
		esc_tracking_hint(c, d->fx->refusal_hint, sizeof d->fx->refusal_hint);
		d->fx->refusal_rule =
			(struct esc_refusal_rule){.set = true, .rule = ESC_RULE_TRACKING_CHECK};
		copy(d->fx->refusal_rule.carrier, sizeof d->fx->refusal_rule.carrier, c->name);
		copy(d->fx->refusal_rule.scheme, sizeof d->fx->refusal_rule.scheme,
		     esc_check_scheme_name(c->check));
		return refuse(d, ESC_ETRACKING,
			      v == ESC_TRACKING_BAD_CHECK
				      ? "tracking_number's check digit is wrong for carrier %s: "
					"check the number on the label"
				      : "tracking_number is not a number of carrier %s",
			      c->name);
	}
	return 0;
}

/* A dispute (SPEC §5): one per order, on a ground open to it now, for at
 * most what is still held (or, on a completed order, what was released and
 * comes back). */
static int guard_open_dispute(struct decision *d)
{
	const struct esc_order *o = d->old;
	const struct esc_args *a = d->args;
	const struct esc_policy *p = d->ctx->policy;
	int64_t can_ask = o->paid_minor - o->refunded_minor;
	if (d->ctx->buyer_level == ESC_LEVEL_SUSPENDED)
		return refuse(d, ESC_ESUSPENDED,
			      "your account is suspended: you cannot open disputes until an "
			      "arbiter lifts the suspension (ask the marketplace)",
			      NULL);
	if (o->disputes_count > 0)
		return refuse(d, ESC_ELIMIT, "an order has one dispute at most", NULL);
	if (o->state == ESC_ST_COMPLETED && d->ctx->now_ms >= esc_order_dispute_until(p, o)) {
		char window[64];
		esc_rule_window(p->dispute_after_completion_ms, ESC_LANG_EN, window, sizeof window);
		return refuse(d, ESC_EDEADLINE,
			      "a completed order can be disputed within %s of completion", window);
	}
	if (!a)
		return 0;
	int ground = esc_ground_parse(a->ground);
	if (ground < 0)
		return refuse(d, ESC_EINVAL,
			      "ground must be invalid_tracking, not_as_described or not_delivered",
			      NULL);
	/* Never delivered: shipped, or completed by the protection deadline
	 * (a confirmed receipt counts as delivered). */
	if (ground == ESC_GROUND_NOT_DELIVERED &&
	    (o->delivered_at_ms || d->ctx->now_ms < o->promised_at_ms))
		return refuse(d, ESC_ESTATE,
			      "not_delivered can be opened only once the promised delivery date "
			      "has passed without delivery",
			      NULL);
	if (esc_outcome_parse(a->outcome) < 0)
		return refuse(d, ESC_EINVAL, "outcome must be refund_only or return_and_refund",
			      NULL);
	if (a->amount_minor < 1 || a->amount_minor > can_ask)
		return refuse(d, ESC_EINVAL,
			      "amount must be at least 1 and at most what was paid for the order",
			      NULL);
	if (!text_ok(a->description, ESC_TEXT_MAX, true))
		return refuse(d, ESC_EINVAL,
			      "a dispute needs a description of 1 to 1000 printable bytes, not "
			      "only spaces",
			      NULL);
	if (a->refund_to < -1 || a->refund_to > ESC_REFUND_TO_BALANCE)
		return refuse(d, ESC_EINVAL, "refund_to must be original or balance", NULL);
	return 0;
}

static int guard_resolve_dispute(struct decision *d)
{
	const struct esc_args *a = d->args;
	if (!a)
		return 0;
	if (a->amount_minor < 0 || a->amount_minor > d->old->dispute_amount_minor)
		return refuse(d, ESC_EINVAL,
			      "the refund must be from 0 to the amount the buyer asked for", NULL);
	if (!text_ok(a->message, ESC_TEXT_MAX, true))
		return refuse(d, ESC_EINVAL, "a decision needs a written reason", NULL);
	return 0;
}

/* A deadline event fires only when its deadline is set and due. */
static int guard_due(struct decision *d, enum esc_deadline_kind k)
{
	int64_t due = d->old->due_ms[k];
	if (due == 0 || d->ctx->now_ms < due)
		return refuse(d, ESC_ESTATE, "the %s deadline is not due", esc_deadline_name(k));
	return 0;
}
static int guard_payment_due(struct decision *d)
{
	return guard_due(d, ESC_DL_PAYMENT);
}
static int guard_ship_due(struct decision *d)
{
	return guard_due(d, ESC_DL_SHIP);
}
static int guard_response_due(struct decision *d)
{
	return guard_due(d, ESC_DL_RESPONSE);
}
static int guard_protection_due(struct decision *d)
{
	return guard_due(d, ESC_DL_PROTECTION);
}
static int guard_confirm_due(struct decision *d)
{
	return guard_due(d, ESC_DL_CONFIRM);
}

/* Effects: change fx->order and add what the change moves. */

static int effect_create(struct decision *d)
{
	const struct esc_args *a = d->args;
	const struct esc_policy *p = d->ctx->policy;
	struct esc_order *o = &d->fx->order;
	int64_t total = 0;
	for (size_t i = 0; i < a->items_count; i++)
		total += a->items[i].quantity * a->items[i].unit_price_minor; /* checked */
	copy(o->id, sizeof o->id, a->order_id);
	copy(o->buyer_id, sizeof o->buyer_id, a->buyer_id);
	copy(o->seller_id, sizeof o->seller_id, a->seller_id);
	copy(o->currency, sizeof o->currency, a->currency);
	o->total_minor = total;
	o->items_count = (int32_t)a->items_count;
	o->delivery_days = a->delivery_days ? a->delivery_days : p->delivery_days_default;
	o->created_at_ms = d->ctx->now_ms;
	o->method = ESC_METHOD_CARD;
	deadline_set(d, ESC_DL_PAYMENT, d->ctx->now_ms + p->payment_window_ms);
	return 0;
}

static int effect_pay(struct decision *d)
{
	struct esc_order *o = &d->fx->order;
	char from[ESC_ACCOUNT_SIZE], escrow[ESC_ACCOUNT_SIZE], id[ESC_TRANSFER_ID_SIZE];
	o->method = (enum esc_method)d->args->method;
	o->paid_minor = d->args->amount_minor;
	o->paid_at_ms = d->ctx->now_ms;
	if (o->method == ESC_METHOD_BALANCE)
		esc_account_buyer(from, o->buyer_id);
	else
		copy(from, sizeof from, ESC_ACCOUNT_EXTERNAL);
	esc_account_escrow(escrow, o->id);
	snprintf(id, sizeof id, "%s/payment", o->id);
	add_transfer(d, id, "payment", from, escrow, o->paid_minor);
	deadline_set(d, ESC_DL_PAYMENT, 0);
	deadline_set(d, ESC_DL_SHIP, d->ctx->now_ms + d->ctx->policy->ship_window_ms);
	add_mark(d, o->buyer_id, ESC_MARK_BUYER_PAID);
	add_mark(d, o->seller_id, ESC_MARK_SELLER_SOLD);
	return 0;
}

static int effect_end(struct decision *d)
{
	d->fx->order.ended_at_ms = d->ctx->now_ms;
	deadline_clear_all(d);
	return 0;
}

static int effect_request(struct decision *d)
{
	struct esc_order *o = &d->fx->order;
	const struct esc_args *a = d->args;
	o->cancel_requests++;
	copy(o->cancel_reason, sizeof o->cancel_reason, a->reason);
	copy(o->cancel_comment, sizeof o->cancel_comment, a->comment);
	o->refund_to = a->refund_to < 0 ? ESC_REFUND_TO_ORIGINAL : (enum esc_refund_to)a->refund_to;
	o->reject_message[0] = '\0';
	/* The comment is the buyer's word to the seller: in the conversation. */
	if (o->cancel_comment[0])
		add_message(d, ESC_ACTOR_BUYER, o->buyer_id, o->cancel_comment);
	/* The response window, cut short by the ship deadline when that comes
	 * first: it grants the request too (the table's row), so the time the
	 * order shows, its actions and the buyer's preview say when the
	 * request is granted (esc_deadline_rule: the ship window's rule). */
	int64_t due = d->ctx->now_ms + d->ctx->policy->response_window_ms;
	if (o->due_ms[ESC_DL_SHIP] && o->due_ms[ESC_DL_SHIP] < due)
		due = o->due_ms[ESC_DL_SHIP];
	deadline_set(d, ESC_DL_RESPONSE, due);
	return 0;
}

/* The buyer's cancellation went through: the seller accepted, or did not
 * answer in time. A full refund; a mark on the buyer; a seller-fault reason
 * marks the seller too. */
static int effect_cancellation_done(struct decision *d)
{
	struct esc_order *o = &d->fx->order;
	const struct esc_reason *r = esc_policy_reason(d->ctx->policy, o->cancel_reason);
	refund_held(d, o->refund_to);
	add_mark(d, o->buyer_id, ESC_MARK_BUYER_CANCELLED);
	if (r && r->fault == ESC_FAULT_SELLER)
		add_mark(d, o->seller_id, ESC_MARK_SELLER_FAULT_CANCEL);
	return effect_end(d);
}

static int effect_request_closed(struct decision *d)
{
	struct esc_order *o = &d->fx->order;
	if (d->event == ESC_EV_REJECT_CANCELLATION) {
		copy(o->reject_message, sizeof o->reject_message, d->args->message);
		/* SPEC §2: "message to buyer", in the order's conversation. */
		add_message(d, ESC_ACTOR_SELLER, o->seller_id, o->reject_message);
	}
	deadline_set(d, ESC_DL_RESPONSE, 0);
	return 0;
}

static int effect_ship(struct decision *d)
{
	struct esc_order *o = &d->fx->order;
	const struct esc_policy *p = d->ctx->policy;
	copy(o->carrier, sizeof o->carrier, d->args->carrier);
	esc_tracking_kept(d->args->tracking, o->tracking, sizeof o->tracking);
	/* A number that failed its carrier's check got here only under
	 * tracking_check = flag: flagged on the order, and on the seller's
	 * score as an invalid tracking number (SPEC §6). */
	enum esc_tracking_verdict v = d->tracking;
	copy(o->tracking_check, sizeof o->tracking_check, tracking_check_name(v));
	if (v == ESC_TRACKING_BAD_FORMAT || v == ESC_TRACKING_BAD_CHECK)
		add_mark(d, o->seller_id, ESC_MARK_SELLER_INVALID_TRACKING);
	o->shipped_at_ms = d->ctx->now_ms;
	o->promised_at_ms = d->ctx->now_ms + (int64_t)o->delivery_days * ESC_MS_PER_DAY;
	deadline_set(d, ESC_DL_SHIP, 0);
	deadline_set(d, ESC_DL_PROTECTION, o->promised_at_ms + p->protection_extra_ms);
	return 0;
}

/* The seller did not ship in time: a full refund, and a mark on the
 * seller. */
static int effect_ship_missed(struct decision *d)
{
	struct esc_order *o = &d->fx->order;
	refund_held(d, ESC_REFUND_TO_ORIGINAL);
	add_mark(d, o->seller_id, ESC_MARK_SELLER_MISSED_SHIP);
	return effect_end(d);
}

static int effect_deliver(struct decision *d)
{
	struct esc_order *o = &d->fx->order;
	o->delivered_at_ms = d->ctx->now_ms;
	deadline_set(d, ESC_DL_PROTECTION, 0);
	deadline_set(d, ESC_DL_CONFIRM, d->ctx->now_ms + d->ctx->policy->confirm_window_ms);
	return 0;
}

static int effect_complete(struct decision *d)
{
	/* The buyer confirming receipt says it was delivered. */
	if (d->event == ESC_EV_CONFIRM_RECEIPT && !d->fx->order.delivered_at_ms)
		d->fx->order.delivered_at_ms = d->ctx->now_ms;
	release_held(d);
	return effect_end(d);
}

/* Opening a dispute pauses the deadline that would complete the order
 * (protection or confirm) and keeps what it had left. On a completed order
 * the release comes back into escrow: the seller's part from their payable
 * balance, and the platform's fee. */
static int effect_open_dispute(struct decision *d)
{
	struct esc_order *o = &d->fx->order;
	const struct esc_args *a = d->args;
	int64_t now = d->ctx->now_ms;
	for (int k = ESC_DL_PROTECTION; k <= ESC_DL_CONFIRM; k++) {
		if (o->due_ms[k]) {
			o->dispute_paused_ms = o->due_ms[k] > now ? o->due_ms[k] - now : 0;
			o->due_ms[k] = 0;
		}
	}
	if (d->old->state == ESC_ST_COMPLETED) {
		char escrow[ESC_ACCOUNT_SIZE], seller[ESC_ACCOUNT_SIZE], id[ESC_TRANSFER_ID_SIZE];
		esc_account_escrow(escrow, o->id);
		esc_account_seller(seller, o->seller_id);
		snprintf(id, sizeof id, "%s/clawback", o->id);
		add_transfer(d, id, "clawback", seller, escrow, o->released_minor - o->fee_minor);
		snprintf(id, sizeof id, "%s/fee-reversal", o->id);
		add_transfer(d, id, "fee_reversal", ESC_ACCOUNT_FEES, escrow, o->fee_minor);
		o->released_minor = 0;
		o->fee_minor = 0;
		o->ended_at_ms = 0;
	}
	o->disputes_count++;
	copy(o->dispute_ground, sizeof o->dispute_ground, a->ground);
	copy(o->dispute_outcome, sizeof o->dispute_outcome, a->outcome);
	copy(o->dispute_description, sizeof o->dispute_description, a->description);
	o->dispute_amount_minor = a->amount_minor;
	/* Where its refund goes (SPEC §4), as a cancellation's has its own. */
	o->dispute_refund_to =
		a->refund_to < 0 ? ESC_REFUND_TO_ORIGINAL : (enum esc_refund_to)a->refund_to;
	o->dispute_opened_at_ms = now;
	o->dispute_state = ESC_DS_AWAITING_SELLER;
	o->dispute_from = d->old->state;
	deadline_set(d, ESC_DL_DISPUTE, now + d->ctx->policy->dispute_seller_window_ms);
	add_mark(d, o->buyer_id, ESC_MARK_BUYER_DISPUTE_OPENED);
	return 0;
}

/* The dispute ends: `amount` goes back to the buyer, to where they asked
 * when they opened it (the original method unless the balance); a
 * full refund closes the order, anything less completes it, releasing the
 * rest to the seller (SPEC §5). A dispute the buyer won money in counts
 * against the seller (and an invalid tracking number as such); one the
 * buyer lost counts against the buyer; a withdrawn one against no one. */
static int dispute_resolve(struct decision *d, int64_t amount, const char *resolution)
{
	struct esc_order *o = &d->fx->order;
	bool full = amount == esc_order_held(o);
	o->dispute_refund_minor = amount;
	o->dispute_paused_ms = 0;
	o->dispute_state = ESC_DS_RESOLVED;
	o->dispute_resolved_at_ms = d->ctx->now_ms;
	copy(o->dispute_resolution, sizeof o->dispute_resolution, resolution);
	refund(d, o->dispute_refund_to, amount);
	if (!full)
		release_held(d);
	o->state = full ? ESC_ST_CLOSED : ESC_ST_COMPLETED;
	if (amount > 0) {
		add_mark(d, o->seller_id, ESC_MARK_SELLER_DISPUTE_LOST);
		/* Counted once: a number flagged at ship time was counted then. */
		if (!strcmp(o->dispute_ground, "invalid_tracking") &&
		    strncmp(o->tracking_check, "invalid", 7) != 0)
			add_mark(d, o->seller_id, ESC_MARK_SELLER_INVALID_TRACKING);
	} else if (strcmp(resolution, "withdrawn")) {
		add_mark(d, o->buyer_id, ESC_MARK_BUYER_DISPUTE_LOST);
	}
	d->fx->outbox_type = "dispute.resolved";
	return effect_end(d);
}

/* A refund is agreed (the seller accepted, the buyer took an offer, or
 * an arbiter decided): paid at once, or once the goods are back for a
 * return_and_refund. */
static int dispute_agree(struct decision *d, int64_t amount, const char *resolution)
{
	struct esc_order *o = &d->fx->order;
	if (strcmp(o->dispute_outcome, "return_and_refund") || amount == 0)
		return dispute_resolve(d, amount, resolution);
	o->dispute_state = ESC_DS_AWAITING_RETURN;
	o->dispute_agreed_minor = amount;
	copy(o->dispute_resolution, sizeof o->dispute_resolution, resolution);
	deadline_set(d, ESC_DL_DISPUTE, d->ctx->now_ms + d->ctx->policy->return_ship_window_ms);
	return 0;
}

static int guard_counter_offer(struct decision *d)
{
	const struct esc_args *a = d->args;
	if (!a)
		return 0;
	if (a->amount_minor < 1 || a->amount_minor >= d->old->dispute_amount_minor)
		return refuse(d, ESC_EINVAL,
			      "a counter-offer is at least 1 and less than the amount asked for",
			      NULL);
	if (!text_ok(a->message, ESC_TEXT_MAX, false))
		return refuse(d, ESC_EINVAL, "the message is at most 1000 printable bytes", NULL);
	return 0;
}

static int guard_reject_dispute(struct decision *d)
{
	if (!d->args)
		return 0;
	if (!text_ok(d->args->message, ESC_TEXT_MAX, true))
		return refuse(d, ESC_EINVAL,
			      "a rejection needs a message of 1 to 1000 printable bytes, not only "
			      "spaces",
			      NULL);
	return 0;
}

static int guard_return_shipment(struct decision *d)
{
	if (d->old->return_shipped_at_ms)
		return refuse(d, ESC_ESTATE, "the goods have been shipped back already", NULL);
	return guard_ship(d);
}

static int guard_return_received(struct decision *d)
{
	if (!d->old->return_shipped_at_ms)
		return refuse(d, ESC_ESTATE, "the goods have not been shipped back yet", NULL);
	return 0;
}

static int guard_dispute_due(struct decision *d)
{
	return guard_due(d, ESC_DL_DISPUTE);
}

static int effect_accept_dispute(struct decision *d)
{
	return dispute_agree(d, d->old->dispute_amount_minor, "accepted");
}

static int effect_counter_offer(struct decision *d)
{
	struct esc_order *o = &d->fx->order;
	o->dispute_state = ESC_DS_COUNTER_OFFERED;
	o->dispute_offer_minor = d->args->amount_minor;
	copy(o->dispute_message, sizeof o->dispute_message, d->args->message);
	deadline_set(d, ESC_DL_DISPUTE, d->ctx->now_ms + d->ctx->policy->dispute_buyer_window_ms);
	return 0;
}

static int effect_reject_dispute(struct decision *d)
{
	struct esc_order *o = &d->fx->order;
	o->dispute_state = ESC_DS_REJECTED;
	copy(o->dispute_message, sizeof o->dispute_message, d->args->message);
	deadline_set(d, ESC_DL_DISPUTE, d->ctx->now_ms + d->ctx->policy->dispute_buyer_window_ms);
	return 0;
}

static int effect_accept_offer(struct decision *d)
{
	return dispute_agree(d, d->old->dispute_offer_minor, "offer_accepted");
}

static int effect_escalate(struct decision *d)
{
	struct esc_order *o = &d->fx->order;
	o->dispute_state = ESC_DS_ESCALATED;
	o->dispute_escalated_at_ms = d->ctx->now_ms;
	deadline_set(d, ESC_DL_DISPUTE, 0);
	return 0;
}

/* The buyer gives the dispute up: nothing is refunded. An order disputed
 * while shipped or delivered goes back there, its paused deadline running
 * again from where it stopped; one disputed after completion completes
 * again, released anew. */
static int effect_withdraw_dispute(struct decision *d)
{
	struct esc_order *o = &d->fx->order;
	int64_t now = d->ctx->now_ms;
	if (o->dispute_from == ESC_ST_COMPLETED)
		return dispute_resolve(d, 0, "withdrawn");
	o->dispute_state = ESC_DS_RESOLVED;
	o->dispute_resolved_at_ms = now;
	o->dispute_refund_minor = 0;
	copy(o->dispute_resolution, sizeof o->dispute_resolution, "withdrawn");
	o->state = o->dispute_from;
	deadline_set(d, ESC_DL_DISPUTE, 0);
	deadline_set(d, o->state == ESC_ST_DELIVERED ? ESC_DL_CONFIRM : ESC_DL_PROTECTION,
		     now + o->dispute_paused_ms);
	o->dispute_paused_ms = 0;
	return 0;
}

static int effect_return_shipment(struct decision *d)
{
	struct esc_order *o = &d->fx->order;
	copy(o->return_carrier, sizeof o->return_carrier, d->args->carrier);
	esc_tracking_kept(d->args->tracking, o->return_tracking, sizeof o->return_tracking);
	o->return_shipped_at_ms = d->ctx->now_ms;
	deadline_set(d, ESC_DL_DISPUTE, d->ctx->now_ms + d->ctx->policy->return_receive_window_ms);
	return 0;
}

static int effect_return_received(struct decision *d)
{
	return dispute_resolve(d, d->old->dispute_agreed_minor, "return_received");
}

static int effect_decide(struct decision *d)
{
	struct esc_order *o = &d->fx->order;
	copy(o->dispute_reason, sizeof o->dispute_reason, d->args->message);
	o->dispute_decided_at_ms = d->ctx->now_ms;
	/* The recommendation the arbiter decided beside, from the dispute as
	 * it was: the decision's marks will move the reputations it reads. */
	if (d->ctx->dispute_facts) {
		struct esc_recommendation rec;
		esc_dispute_recommend(d->old, d->ctx->dispute_facts, &rec);
		esc_recommendation_keep(&rec, o);
	}
	/* A refund decided on a return_and_refund dispute is agreed, as the
	 * seller's acceptance is: paid once the goods are back (SPEC §5). */
	return dispute_agree(d, d->args->amount_minor, "decided");
}

/* A window passed in silence (SPEC §5): the seller's, and the buyer is
 * granted what they asked; the buyer's after an offer, and it is taken;
 * after a rejection, and the seller wins; the buyer's to ship the goods
 * back, and the buyer loses; the seller's to confirm them, and they are
 * taken as received. */
static int effect_dispute_deadline(struct decision *d)
{
	const struct esc_order *o = d->old;
	switch (o->dispute_state) {
	case ESC_DS_AWAITING_SELLER:
		return dispute_agree(d, o->dispute_amount_minor, "seller_silent");
	case ESC_DS_COUNTER_OFFERED:
		return dispute_agree(d, o->dispute_offer_minor, "offer_lapsed");
	case ESC_DS_REJECTED:
		return dispute_resolve(d, 0, "rejection_lapsed");
	case ESC_DS_AWAITING_RETURN:
		if (!o->return_shipped_at_ms)
			return dispute_resolve(d, 0, "return_not_shipped");
		return dispute_resolve(d, o->dispute_agreed_minor, "return_receipt_lapsed");
	default:
		return refuse(d, ESC_ESTATE, "the dispute has no window open", NULL);
	}
}

/* The table. Rows for the same (from, event) pair are not allowed; every
 * event has one actor (a test checks both). */
#define DL(k) ESC_DL_##k
static const struct transition table[] = {
	/* from, event, actor, refusal, guard, to, effect, outbox, until, strict */
	{ESC_ST_NONE, ESC_EV_CREATE, ESC_ACTOR_OPERATOR, 0, guard_create, ESC_ST_AWAITING_PAYMENT,
	 effect_create, "order.created", NO_DEADLINE, false},

	{ESC_ST_AWAITING_PAYMENT, ESC_EV_PAY, ESC_ACTOR_OPERATOR, 0, guard_pay,
	 ESC_ST_AWAITING_SHIPMENT, effect_pay, "order.paid", DL(PAYMENT), true},
	{ESC_ST_AWAITING_PAYMENT, ESC_EV_CANCEL, ESC_ACTOR_BUYER, 0, NULL, ESC_ST_CANCELLED,
	 effect_end, "order.cancelled", DL(PAYMENT), false},
	{ESC_ST_AWAITING_PAYMENT, ESC_EV_PAYMENT_DEADLINE, ESC_ACTOR_SYSTEM, 0, guard_payment_due,
	 ESC_ST_CANCELLED, effect_end, "order.cancelled", NO_DEADLINE, false},

	{ESC_ST_AWAITING_SHIPMENT, ESC_EV_CANCEL, ESC_ACTOR_BUYER, 0, guard_request,
	 ESC_ST_CANCELLATION_REQUESTED, effect_request, "cancellation.requested", DL(SHIP), true},
	{ESC_ST_AWAITING_SHIPMENT, ESC_EV_SHIP, ESC_ACTOR_SELLER, 0, guard_ship, ESC_ST_SHIPPED,
	 effect_ship, "order.shipped", DL(SHIP), true},
	{ESC_ST_AWAITING_SHIPMENT, ESC_EV_SHIP_DEADLINE, ESC_ACTOR_SYSTEM, 0, guard_ship_due,
	 ESC_ST_CANCELLED, effect_ship_missed, "order.cancelled", NO_DEADLINE, false},
	{ESC_ST_AWAITING_SHIPMENT, ESC_EV_OPEN_DISPUTE, ESC_ACTOR_BUYER, ESC_ESTATE, NULL, 0, NULL,
	 NULL, NO_DEADLINE, false},

	{ESC_ST_CANCELLATION_REQUESTED, ESC_EV_ACCEPT_CANCELLATION, ESC_ACTOR_SELLER, 0, NULL,
	 ESC_ST_CANCELLED, effect_cancellation_done, "cancellation.accepted", DL(RESPONSE), true},
	{ESC_ST_CANCELLATION_REQUESTED, ESC_EV_REJECT_CANCELLATION, ESC_ACTOR_SELLER, 0,
	 guard_reject, ESC_ST_AWAITING_SHIPMENT, effect_request_closed, "cancellation.rejected",
	 DL(RESPONSE), true},
	{ESC_ST_CANCELLATION_REQUESTED, ESC_EV_WITHDRAW_CANCELLATION, ESC_ACTOR_BUYER, 0, NULL,
	 ESC_ST_AWAITING_SHIPMENT, effect_request_closed, "cancellation.withdrawn", DL(RESPONSE),
	 true},
	{ESC_ST_CANCELLATION_REQUESTED, ESC_EV_RESPONSE_DEADLINE, ESC_ACTOR_SYSTEM, 0,
	 guard_response_due, ESC_ST_CANCELLED, effect_cancellation_done,
	 "cancellation.auto_approved", NO_DEADLINE, false},
	/* The seller cannot ship while a request is open, so the ship deadline
	 * passing then is not a missed shipment: the seller left the request
	 * unanswered, and it is granted as if the response deadline passed. */
	{ESC_ST_CANCELLATION_REQUESTED, ESC_EV_SHIP_DEADLINE, ESC_ACTOR_SYSTEM, 0, guard_ship_due,
	 ESC_ST_CANCELLED, effect_cancellation_done, "cancellation.auto_approved", NO_DEADLINE,
	 false},
	{ESC_ST_CANCELLATION_REQUESTED, ESC_EV_CANCEL, ESC_ACTOR_BUYER, ESC_EPENDING, NULL, 0, NULL,
	 NULL, NO_DEADLINE, false},
	{ESC_ST_CANCELLATION_REQUESTED, ESC_EV_SHIP, ESC_ACTOR_SELLER, ESC_EPENDING, NULL, 0, NULL,
	 NULL, NO_DEADLINE, false},
	{ESC_ST_CANCELLATION_REQUESTED, ESC_EV_OPEN_DISPUTE, ESC_ACTOR_BUYER, ESC_ESTATE, NULL, 0,
	 NULL, NULL, NO_DEADLINE, false},

	{ESC_ST_SHIPPED, ESC_EV_DELIVER, ESC_ACTOR_OPERATOR, 0, NULL, ESC_ST_DELIVERED,
	 effect_deliver, "order.delivered", NO_DEADLINE, false},
	{ESC_ST_SHIPPED, ESC_EV_CONFIRM_RECEIPT, ESC_ACTOR_BUYER, 0, NULL, ESC_ST_COMPLETED,
	 effect_complete, "order.completed", DL(PROTECTION), false},
	{ESC_ST_SHIPPED, ESC_EV_PROTECTION_DEADLINE, ESC_ACTOR_SYSTEM, 0, guard_protection_due,
	 ESC_ST_COMPLETED, effect_complete, "order.completed", NO_DEADLINE, false},
	{ESC_ST_SHIPPED, ESC_EV_CANCEL, ESC_ACTOR_BUYER, ESC_ESHIPPED, NULL, 0, NULL, NULL,
	 NO_DEADLINE, false},
	{ESC_ST_SHIPPED, ESC_EV_OPEN_DISPUTE, ESC_ACTOR_BUYER, 0, guard_open_dispute,
	 ESC_ST_IN_DISPUTE, effect_open_dispute, "dispute.opened", DL(PROTECTION), true},

	{ESC_ST_DELIVERED, ESC_EV_CONFIRM_RECEIPT, ESC_ACTOR_BUYER, 0, NULL, ESC_ST_COMPLETED,
	 effect_complete, "order.completed", DL(CONFIRM), false},
	{ESC_ST_DELIVERED, ESC_EV_CONFIRM_DEADLINE, ESC_ACTOR_SYSTEM, 0, guard_confirm_due,
	 ESC_ST_COMPLETED, effect_complete, "order.completed", NO_DEADLINE, false},
	{ESC_ST_DELIVERED, ESC_EV_CANCEL, ESC_ACTOR_BUYER, ESC_ESHIPPED, NULL, 0, NULL, NULL,
	 NO_DEADLINE, false},
	{ESC_ST_DELIVERED, ESC_EV_OPEN_DISPUTE, ESC_ACTOR_BUYER, 0, guard_open_dispute,
	 ESC_ST_IN_DISPUTE, effect_open_dispute, "dispute.opened", DL(CONFIRM), true},

	{ESC_ST_IN_DISPUTE, ESC_EV_CANCEL, ESC_ACTOR_BUYER, ESC_ESHIPPED, NULL, 0, NULL, NULL,
	 NO_DEADLINE, false},
	/* The dispute's own events: see dispute_table. */

	{ESC_ST_COMPLETED, ESC_EV_CANCEL, ESC_ACTOR_BUYER, ESC_ESHIPPED, NULL, 0, NULL, NULL,
	 NO_DEADLINE, false},
	{ESC_ST_COMPLETED, ESC_EV_OPEN_DISPUTE, ESC_ACTOR_BUYER, 0, guard_open_dispute,
	 ESC_ST_IN_DISPUTE, effect_open_dispute, "dispute.opened", NO_DEADLINE, false},
	{ESC_ST_CLOSED, ESC_EV_CANCEL, ESC_ACTOR_BUYER, ESC_ESHIPPED, NULL, 0, NULL, NULL,
	 NO_DEADLINE, false},
};
#undef DL

/* The dispute machine (SPEC §5), for an order in dispute: in dispute state
 * `from`, `actor` may send `event`. The parties' answers are bounded by the
 * dispute's window (ESC_DL_DISPUTE) and refused once it has passed; the
 * window's own event runs its silent outcome. An effect that ends the
 * dispute moves the order to closed or completed (or, withdrawn, back to
 * where it was) and names the outbox event "dispute.resolved". */
struct dispute_transition {
	enum esc_dispute_state from;
	enum esc_event event;
	enum esc_actor actor;
	guard_fn guard;
	effect_fn effect;
	const char *outbox_type;
};
#define DS(s) ESC_DS_##s
static const struct dispute_transition dispute_table[] = {
	{DS(AWAITING_SELLER), ESC_EV_ACCEPT_DISPUTE, ESC_ACTOR_SELLER, NULL, effect_accept_dispute,
	 "dispute.accepted"},
	{DS(AWAITING_SELLER), ESC_EV_COUNTER_OFFER, ESC_ACTOR_SELLER, guard_counter_offer,
	 effect_counter_offer, "dispute.counter_offered"},
	{DS(AWAITING_SELLER), ESC_EV_REJECT_DISPUTE, ESC_ACTOR_SELLER, guard_reject_dispute,
	 effect_reject_dispute, "dispute.rejected"},
	{DS(AWAITING_SELLER), ESC_EV_WITHDRAW_DISPUTE, ESC_ACTOR_BUYER, NULL,
	 effect_withdraw_dispute, "dispute.resolved"},
	{DS(AWAITING_SELLER), ESC_EV_DISPUTE_DEADLINE, ESC_ACTOR_SYSTEM, guard_dispute_due,
	 effect_dispute_deadline, "dispute.accepted"},

	{DS(COUNTER_OFFERED), ESC_EV_ACCEPT_OFFER, ESC_ACTOR_BUYER, NULL, effect_accept_offer,
	 "dispute.offer_accepted"},
	{DS(COUNTER_OFFERED), ESC_EV_ESCALATE, ESC_ACTOR_BUYER, NULL, effect_escalate,
	 "dispute.escalated"},
	{DS(COUNTER_OFFERED), ESC_EV_WITHDRAW_DISPUTE, ESC_ACTOR_BUYER, NULL,
	 effect_withdraw_dispute, "dispute.resolved"},
	{DS(COUNTER_OFFERED), ESC_EV_DISPUTE_DEADLINE, ESC_ACTOR_SYSTEM, guard_dispute_due,
	 effect_dispute_deadline, "dispute.offer_accepted"},

	{DS(REJECTED), ESC_EV_ESCALATE, ESC_ACTOR_BUYER, NULL, effect_escalate,
	 "dispute.escalated"},
	{DS(REJECTED), ESC_EV_WITHDRAW_DISPUTE, ESC_ACTOR_BUYER, NULL, effect_withdraw_dispute,
	 "dispute.resolved"},
	{DS(REJECTED), ESC_EV_DISPUTE_DEADLINE, ESC_ACTOR_SYSTEM, guard_dispute_due,
	 effect_dispute_deadline, "dispute.resolved"},

	{DS(ESCALATED), ESC_EV_RESOLVE_DISPUTE, ESC_ACTOR_ARBITER, guard_resolve_dispute,
	 effect_decide, "dispute.decided"},
	{DS(ESCALATED), ESC_EV_WITHDRAW_DISPUTE, ESC_ACTOR_BUYER, NULL, effect_withdraw_dispute,
	 "dispute.resolved"},

	{DS(AWAITING_RETURN), ESC_EV_RETURN_SHIPMENT, ESC_ACTOR_BUYER, guard_return_shipment,
	 effect_return_shipment, "dispute.return_shipped"},
	{DS(AWAITING_RETURN), ESC_EV_RETURN_RECEIVED, ESC_ACTOR_SELLER, guard_return_received,
	 effect_return_received, "dispute.resolved"},
	{DS(AWAITING_RETURN), ESC_EV_DISPUTE_DEADLINE, ESC_ACTOR_SYSTEM, guard_dispute_due,
	 effect_dispute_deadline, "dispute.resolved"},
};
#undef DS

bool esc_event_is_dispute(enum esc_event e)
{
	const struct esc_event_spec *s = esc_event_spec(e);
	return s && s->machine == ESC_MACHINE_DISPUTE;
}

static const struct dispute_transition *find_dispute(enum esc_dispute_state from, enum esc_event e)
{
	for (size_t i = 0; i < COUNT(dispute_table); i++)
		if (dispute_table[i].from == from && dispute_table[i].event == e)
			return &dispute_table[i];
	return NULL;
}

/* The refund machine: pending -> settled | failed, and one alert while
 * pending. The order's state does not change. */
struct refund_transition {
	enum esc_event event;
	enum esc_actor actor;
	const char *outbox_type;
};
static const struct refund_transition refund_table[] = {
	{ESC_EV_REFUND_SETTLED, ESC_ACTOR_OPERATOR, "refund.settled"},
	{ESC_EV_REFUND_FAILED, ESC_ACTOR_OPERATOR, "refund.failed"},
	{ESC_EV_REFUND_OVERDUE, ESC_ACTOR_SYSTEM, "refund.overdue"},
};

/* The actor of each event: the same in every row that names it. */
static int event_actor(enum esc_event e)
{
	for (size_t i = 0; i < COUNT(table); i++)
		if (table[i].event == e)
			return (int)table[i].actor;
	for (size_t i = 0; i < COUNT(refund_table); i++)
		if (refund_table[i].event == e)
			return (int)refund_table[i].actor;
	for (size_t i = 0; i < COUNT(dispute_table); i++)
		if (dispute_table[i].event == e)
			return (int)dispute_table[i].actor;
	return -1;
}

static const struct transition *find(enum esc_state from, enum esc_event e)
{
	for (size_t i = 0; i < COUNT(table); i++)
		if (table[i].from == from && table[i].event == e)
			return &table[i];
	return NULL;
}

static bool is_refund_event(enum esc_event e)
{
	const struct esc_event_spec *s = esc_event_spec(e);
	return s && s->machine == ESC_MACHINE_REFUND;
}

static const char *refused_message(int code)
{
	switch (code) {
	case ESC_ESHIPPED:
		return "the order has shipped, so it can no longer be cancelled; "
		       "if something is wrong, open a dispute";
	case ESC_EPENDING:
		return "a cancellation request is open on this order; it must be answered "
		       "first";
	default:
		return esc_error_message(code);
	}
}

bool esc_order_visible(enum esc_actor actor, const char *actor_id, const struct esc_order *o)
{
	const char *id = actor_id ? actor_id : "";
	switch (actor) {
	case ESC_ACTOR_BUYER:
		return !strcmp(id, o->buyer_id);
	case ESC_ACTOR_SELLER:
		return !strcmp(id, o->seller_id);
	case ESC_ACTOR_ARBITER:
		/* SPEC §1: the arbiter's are the escalated disputes (and, once
		 * decided, still theirs); a dispute the parties settled alone
		 * is not. */
		return o->dispute_escalated_at_ms > 0;
	default:
		return true;
	}
}

static int check_party(struct decision *d)
{
	if (!esc_order_visible(d->ctx->actor, d->ctx->actor_id, d->old))
		return refuse(d, ESC_ENOTFOUND, "no such order", NULL);
	return 0;
}

/* Run the row's checks: deadline, guard. */
static int check_row(struct decision *d, const struct transition *t)
{
	int rc = 0;
	if (t->refusal) {
		rc = refuse(d, t->refusal, "%s", refused_message(t->refusal));
		goto out;
	}
	if (t->strict && t->until != NO_DEADLINE) {
		int64_t due = d->old->due_ms[t->until];
		if (due && d->ctx->now_ms >= due) {
			const char *name = esc_deadline_name((enum esc_deadline_kind)t->until);
			rc = refuse_passed(d, "the %s deadline has passed", name);
			goto out;
		}
	}
	if (t->guard)
		rc = t->guard(d);
out:
	return rc;
}

/* Deadline rows follow the order's due times: delete what changed or
 * ended, insert what is new. */
static void diff_deadlines(const struct esc_order *old, struct esc_effects *fx)
{
	for (int k = 0; k < ESC_DL_ORDER_COUNT; k++) {
		int64_t before = old ? old->due_ms[k] : 0, after = fx->order.due_ms[k];
		if (before == after)
			continue;
		if (before)
			add_deadline_op(fx, false, (enum esc_deadline_kind)k, before, "");
		if (after)
			add_deadline_op(fx, true, (enum esc_deadline_kind)k, after, "");
	}
}

static int decide_refund(struct decision *d, enum esc_event event)
{
	struct esc_effects *fx = d->fx;
	const struct esc_refund *r = d->refund;
	const struct refund_transition *t = NULL;
	int rc = 0;
	for (size_t i = 0; i < COUNT(refund_table); i++)
		if (refund_table[i].event == event)
			t = &refund_table[i];
	if (!r || strcmp(r->order_id, d->old->id)) {
		rc = refuse(d, ESC_ENOTFOUND, "no such refund", NULL);
		goto out;
	}
	if (r->status != ESC_REFUND_PENDING) {
		rc = refuse(d, ESC_ESTATE, "the refund is %s already",
			    esc_refund_status_name(r->status));
		goto out;
	}
	fx->refund = *r;
	fx->refund_changed = true;
	fx->outbox_type = t->outbox_type;
	char id[ESC_TRANSFER_ID_SIZE], buyer[ESC_ACCOUNT_SIZE];
	switch (event) {
	case ESC_EV_REFUND_OVERDUE:
		if (!r->alert_due_ms || d->ctx->now_ms < r->alert_due_ms) {
			rc = refuse(d, ESC_ESTATE, "the refund's alert is not due", NULL);
			goto out;
		}
		/* The alert is raised once: its queue row goes. */
		add_deadline_op(fx, false, ESC_DL_REFUND, r->alert_due_ms, r->id);
		fx->refund.alert_due_ms = 0;
		break;
	case ESC_EV_REFUND_SETTLED:
		snprintf(id, sizeof id, "%s/settle", r->id);
		add_transfer(d, id, "settle", ESC_ACCOUNT_IN_TRANSIT, ESC_ACCOUNT_EXTERNAL,
			     r->amount_minor);
		goto resolved;
	case ESC_EV_REFUND_FAILED:
		snprintf(id, sizeof id, "%s/fail", r->id);
		esc_account_buyer(buyer, d->old->buyer_id);
		add_transfer(d, id, "fail", ESC_ACCOUNT_IN_TRANSIT, buyer, r->amount_minor);
		goto resolved;
	default:
		ESC_BUG("%s is not a refund event", esc_event_name(event));
	}
	goto out;
resolved:
	fx->refund.status = event == ESC_EV_REFUND_SETTLED ? ESC_REFUND_SETTLED : ESC_REFUND_FAILED;
	fx->refund.resolved_at_ms = d->ctx->now_ms;
	if (r->alert_due_ms)
		add_deadline_op(fx, false, ESC_DL_REFUND, r->alert_due_ms, r->id);
	fx->refund.alert_due_ms = 0;
out:
	return rc;
}

/* A party's answer is refused once the dispute's window has passed. */
static int check_dispute_row(struct decision *d, const struct dispute_transition *t)
{
	int64_t due = d->old->due_ms[ESC_DL_DISPUTE];
	if (t->actor != ESC_ACTOR_SYSTEM && due && d->ctx->now_ms >= due)
		return refuse_passed(d, "the dispute's window has passed", "dispute");
	return t->guard ? t->guard(d) : 0;
}

static int decide_dispute(struct decision *d, enum esc_event event)
{
	const struct esc_order *o = d->old;
	struct esc_effects *fx = d->fx;
	if (o->state != ESC_ST_IN_DISPUTE)
		return refuse(d, ESC_ESTATE, "the order has no open dispute", NULL);
	const struct dispute_transition *t = find_dispute(o->dispute_state, event);
	if (!t) {
		char what[120];
		snprintf(what, sizeof what, "%s is not possible while the dispute is %s",
			 esc_event_name(event), esc_dispute_state_name(o->dispute_state));
		return refuse(d, ESC_ESTATE, "%s", what);
	}
	int rc = check_dispute_row(d, t);
	if (!rc)
		rc = t->effect(d);
	if (!rc && !fx->outbox_type)
		fx->outbox_type = t->outbox_type;
	return rc;
}

/* The checks every event passes before its machine's: a known event, the
 * caller's own order (another party's answers not_found before anything
 * else, so that no answer reveals it exists), the event's actor, and an
 * order to act on (none for create). */
static int check_entry(struct decision *d)
{
	enum esc_event event = d->event;
	int actor = 0;
	if ((int)event < 0 || event >= ESC_EV_COUNT)
		return refuse(d, ESC_EINVAL, "unknown event", NULL);
	if (d->old) {
		int rc = check_party(d);
		if (rc)
			return rc;
	}
	actor = event_actor(event);
	if (actor != (int)d->ctx->actor)
		return refuse(d, ESC_EFORBIDDEN, "only the %s may do this",
			      esc_actor_name((enum esc_actor)actor));
	if ((event == ESC_EV_CREATE) != (d->old == NULL))
		return refuse(d, event == ESC_EV_CREATE ? ESC_EDUPLICATE : ESC_ENOTFOUND,
			      event == ESC_EV_CREATE ? "the order exists already" : "no such order",
			      NULL);
	return 0;
}

/* The order machine's row for the order's state: its checks, the move,
 * its effect. */
static int decide_order(struct decision *d)
{
	struct esc_effects *fx = d->fx;
	enum esc_state from = d->old ? d->old->state : ESC_ST_NONE;
	const struct transition *t = find(from, d->event);
	int rc = 0;
	if (!t) {
		char what[120];
		snprintf(what, sizeof what, "%s is not possible while the order is %s",
			 esc_event_name(d->event), esc_state_name(from));
		return refuse(d, ESC_ESTATE, "%s", what);
	}
	rc = check_row(d, t);
	if (rc)
		return rc;
	fx->order.state = t->to;
	rc = t->effect(d);
	if (rc)
		return rc;
	fx->outbox_type = t->outbox_type;
	return 0;
}

/* What every accepted decision ends with: the next version, and the
 * promises the tables keep checked. */
static void decided(struct decision *d)
{
	struct esc_effects *fx = d->fx;
	const struct esc_order *order = d->old;
	fx->order.version = order ? order->version + 1 : 1;
	/* The table of events lists what each event may write (core/event.h). */
	ESC_ASSERT(esc_event_writes(d->event, fx->outbox_type), "%s wrote %s, which its row omits",
		   esc_event_name(d->event), fx->outbox_type ? fx->outbox_type : "nothing");
	/* Every order the machine makes keeps the diagram's invariants. */
	const char *broken = esc_order_check(&fx->order);
	if (broken)
		ESC_BUG("%s took order %s from %s to %s (version %lld), which breaks an "
			"invariant: %s",
			esc_event_name(d->event), fx->order.id,
			esc_state_name(order ? order->state : ESC_ST_NONE),
			esc_state_name(fx->order.state), (long long)fx->order.version, broken);
}

/* A refusal writes nothing: keep only the code and the message. */
static int refused(struct esc_effects *fx, int rc)
{
	int code = fx->refusal ? fx->refusal : rc;
	char message[sizeof fx->refusal_message];
	char hint[sizeof fx->refusal_hint];
	struct esc_refusal_rule rule = fx->refusal_rule;
	memcpy(message, fx->refusal_message, sizeof message);
	memcpy(hint, fx->refusal_hint, sizeof hint);
	memset(fx, 0, sizeof *fx);
	fx->refusal = code;
	fx->refusal_rule = rule;
	memcpy(fx->refusal_message, message, sizeof message);
	memcpy(fx->refusal_hint, hint, sizeof hint);
	if (!fx->refusal_message[0])
		snprintf(fx->refusal_message, sizeof fx->refusal_message, "%s",
			 esc_error_message(code));
	return code;
}

int esc_decide(const struct esc_context *ctx, const struct esc_order *order, enum esc_event event,
	       const struct esc_args *args, const struct esc_refund *refund, struct esc_effects *fx)
{
	static const struct esc_args no_args = {.method = -1, .refund_to = -1};
	struct decision d = {ctx, order, args ? args : &no_args, refund,
			     fx,  event, ESC_TRACKING_UNCHECKED};
	int rc = 0;

	memset(fx, 0, sizeof *fx);
	rc = check_entry(&d);
	if (rc)
		goto out;
	if (order)
		fx->order = *order;
	if (is_refund_event(event)) {
		rc = decide_refund(&d, event);
	} else if (esc_event_is_dispute(event)) {
		rc = decide_dispute(&d, event);
		if (!rc)
			diff_deadlines(order, fx);
	} else {
		rc = decide_order(&d);
		if (!rc)
			diff_deadlines(order, fx);
	}
	if (!rc)
		decided(&d);
out:
	return rc ? refused(fx, rc) : 0;
}

int esc_transition_allowed(enum esc_state state, enum esc_event event, enum esc_actor actor)
{
	if (event_actor(event) != (int)actor)
		return ESC_EFORBIDDEN;
	if (is_refund_event(event))
		return 0;
	if (esc_event_is_dispute(event)) /* then the dispute machine decides */
		return state == ESC_ST_IN_DISPUTE ? 0 : ESC_ESTATE;
	const struct transition *t = find(state, event);
	if (!t)
		return ESC_ESTATE;
	return t->refusal;
}

const char *esc_transition_outbox(enum esc_event event, size_t i)
{
	for (size_t j = 0; j < COUNT(table); j++)
		if (table[j].event == event && !table[j].refusal && i-- == 0)
			return table[j].outbox_type;
	for (size_t j = 0; j < COUNT(dispute_table); j++)
		if (dispute_table[j].event == event && i-- == 0)
			return dispute_table[j].outbox_type;
	for (size_t j = 0; j < COUNT(refund_table); j++)
		if (refund_table[j].event == event && i-- == 0)
			return refund_table[j].outbox_type;
	return NULL;
}

int64_t esc_order_dispute_until(const struct esc_policy *p, const struct esc_order *o)
{
	return o->ended_at_ms + p->dispute_after_completion_ms;
}

size_t esc_order_actions(const struct esc_context *ctx, const struct esc_order *order,
			 struct esc_action *out, size_t max)
{
	size_t n = 0;
	/* Scratch for the checks: a guard or check only writes a refusal
	 * into it (refusal, its message, hint and rule), never reads it, so
	 * one row's refusal cannot change the next row's answer. Only those
	 * fields are zeroed, once: zeroing all 10 KiB for every row tried
	 * was a tenth of a GET's CPU, and once per call still 1.4 %. */
	struct esc_effects fx;
	_Static_assert(offsetof(struct esc_effects, refusal) == 0 &&
			      offsetof(struct esc_effects, refusal_rule) <
				      offsetof(struct esc_effects, order),
		      "the refusal's fields come first in struct esc_effects");
	memset(&fx, 0, offsetof(struct esc_effects, order));
	for (size_t i = 0; i < COUNT(table) && n < max; i++) {
		const struct transition *t = &table[i];
		if (t->from != order->state || t->actor != ctx->actor || t->refusal ||
		    t->actor == ESC_ACTOR_SYSTEM)
			continue;
		struct decision d = {ctx, order, NULL, NULL, &fx, t->event, ESC_TRACKING_UNCHECKED};
		if (check_party(&d) || check_row(&d, t))
			continue;
		out[n].event = t->event;
		out[n].deadline_ms = t->until == NO_DEADLINE ? 0 : order->due_ms[t->until];
		if (t->event == ESC_EV_OPEN_DISPUTE && order->state == ESC_ST_COMPLETED)
			out[n].deadline_ms = esc_order_dispute_until(ctx->policy, order);
		n++;
	}
	for (size_t i = 0; i < COUNT(dispute_table) && n < max; i++) {
		const struct dispute_transition *t = &dispute_table[i];
		if (order->state != ESC_ST_IN_DISPUTE || t->from != order->dispute_state ||
		    t->actor != ctx->actor || t->actor == ESC_ACTOR_SYSTEM)
			continue;
		struct decision d = {ctx, order, NULL, NULL, &fx, t->event, ESC_TRACKING_UNCHECKED};
		if (check_party(&d) || check_dispute_row(&d, t))
			continue;
		out[n].event = t->event;
		out[n].deadline_ms = order->due_ms[ESC_DL_DISPUTE];
		n++;
	}
	return n;
}
