/* test_order.c - the order machine of SPEC §2-§6 through esc_decide() with
 * SPEC's default policy: an expected transition table written from the
 * SPEC and walked cell by cell, the effects of each event (disputes'
 * order-level part included), the money invariants after every accepted
 * decision, create's validation, and the `actions` list. Pure: no store,
 * no clock. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/order.h"
#include "core/policy.h"
#include "core/recommend.h"
#include "core/reputation.h"
#include "support.h"
#include "util/bug.h"
#include "util/error.h"

#define DAY  ESC_MS_PER_DAY
#define HOUR ESC_MS_PER_HOUR

#define ORDER_ID "ord_01JTESTORDER"
#define BUYER    "usr_buyer"
#define SELLER   "usr_seller"
#define OTHER    "usr_other"
#define ESCROW   "escrow:" ORDER_ID
#define REFUND1  ORDER_ID "-r1"

/* One item of 12345 minor units: 5 % is 617.25, so the fee is 617. */
#define TOTAL   INT64_C(12345)
#define TOTAL_S "12345"
#define FEE_S   "617"
#define NET_S   "11728"

/* The fixed times of the orders built below. */
#define T_CREATE  ESC_TEST_T0
#define T_PAY     (T_CREATE + HOUR)
#define T_REQUEST (T_PAY + HOUR)
#define T_SHIP    (T_PAY + DAY)
#define T_DELIVER (T_SHIP + 3 * DAY)
#define T_CONFIRM (T_DELIVER + DAY)
#define SHIP_DUE  (T_PAY + 7 * DAY)

static struct esc_policy policy;

static int setup_policy(void **state)
{
	(void)state;
	esc_policy_default(&policy);
	return 0;
}

/* --- The expected table, from SPEC §2 ------------------------------------ */

/* Who sends each event (SPEC §1, §2, §4). The dispute resolution of §5 is
 * the arbiter's decision (or a timer in §5; the order event is arbiter's). */
static enum esc_actor spec_actor(enum esc_event e)
{
	switch (e) {
	case ESC_EV_CREATE:
	case ESC_EV_PAY:
	case ESC_EV_DELIVER:
	case ESC_EV_REFUND_SETTLED:
	case ESC_EV_REFUND_FAILED:
		return ESC_ACTOR_OPERATOR;
	case ESC_EV_CANCEL:
	case ESC_EV_WITHDRAW_CANCELLATION:
	case ESC_EV_CONFIRM_RECEIPT:
	case ESC_EV_OPEN_DISPUTE:
	case ESC_EV_ACCEPT_OFFER:
	case ESC_EV_ESCALATE:
	case ESC_EV_WITHDRAW_DISPUTE:
	case ESC_EV_RETURN_SHIPMENT:
		return ESC_ACTOR_BUYER;
	case ESC_EV_ACCEPT_CANCELLATION:
	case ESC_EV_REJECT_CANCELLATION:
	case ESC_EV_SHIP:
	case ESC_EV_ACCEPT_DISPUTE:
	case ESC_EV_COUNTER_OFFER:
	case ESC_EV_REJECT_DISPUTE:
	case ESC_EV_RETURN_RECEIVED:
		return ESC_ACTOR_SELLER;
	case ESC_EV_RESOLVE_DISPUTE:
		return ESC_ACTOR_ARBITER;
	case ESC_EV_PAYMENT_DEADLINE:
	case ESC_EV_SHIP_DEADLINE:
	case ESC_EV_RESPONSE_DEADLINE:
	case ESC_EV_PROTECTION_DEADLINE:
	case ESC_EV_CONFIRM_DEADLINE:
	case ESC_EV_DISPUTE_DEADLINE:
	case ESC_EV_REFUND_OVERDUE:
		return ESC_ACTOR_SYSTEM;
	case ESC_EV_COUNT:
		break;
	}
	return ESC_ACTOR_COUNT;
}

static bool is_refund_event(enum esc_event e)
{
	return e == ESC_EV_REFUND_SETTLED || e == ESC_EV_REFUND_FAILED ||
	       e == ESC_EV_REFUND_OVERDUE;
}

/* SPEC §5's events of an order in dispute: the dispute machine's, tested
 * on their own below. */
static bool is_dispute_event(enum esc_event e)
{
	switch (e) {
	case ESC_EV_ACCEPT_DISPUTE:
	case ESC_EV_COUNTER_OFFER:
	case ESC_EV_REJECT_DISPUTE:
	case ESC_EV_ACCEPT_OFFER:
	case ESC_EV_ESCALATE:
	case ESC_EV_WITHDRAW_DISPUTE:
	case ESC_EV_RETURN_SHIPMENT:
	case ESC_EV_RETURN_RECEIVED:
	case ESC_EV_RESOLVE_DISPUTE:
	case ESC_EV_DISPUTE_DEADLINE:
		return true;
	default:
		return false;
	}
}

/* The deadline a deadline event fires on, or -1. */
static int deadline_of(enum esc_event e)
{
	switch (e) {
	case ESC_EV_PAYMENT_DEADLINE:
		return ESC_DL_PAYMENT;
	case ESC_EV_SHIP_DEADLINE:
		return ESC_DL_SHIP;
	case ESC_EV_RESPONSE_DEADLINE:
		return ESC_DL_RESPONSE;
	case ESC_EV_PROTECTION_DEADLINE:
		return ESC_DL_PROTECTION;
	case ESC_EV_CONFIRM_DEADLINE:
		return ESC_DL_CONFIRM;
	default:
		return -1;
	}
}

/* What one accepted transition moves, as space-separated tokens compared
 * as multisets: transfers "kind/from>to/amount", deadline ops "+kind" or
 * "-kind", marks "mark/user". The order is card-paid, refund to the
 * original method, reason no_longer_needed. */
#define T_PAYMENT "payment/external>" ESCROW "/" TOTAL_S
#define T_REFUND  "refund/" ESCROW ">refunds_in_transit/" TOTAL_S
#define T_RELEASE                                                                                  \
	"release/" ESCROW ">seller:" SELLER "/" NET_S " fee/" ESCROW ">platform:fees/" FEE_S
#define M_PAID      "buyer_paid/" BUYER " seller_sold/" SELLER
#define M_CANCELLED "buyer_cancelled/" BUYER
#define M_MISSED    "seller_missed_ship/" SELLER
/* A dispute on a completed order brings the release back into escrow. */
#define T_CLAWBACK                                                                                 \
	"clawback/seller:" SELLER ">" ESCROW "/" NET_S " fee_reversal/platform:fees>" ESCROW       \
	"/" FEE_S
#define M_OPENED      "buyer_dispute_opened/" BUYER
#define M_SELLER_LOST "seller_dispute_lost/" SELLER
#define M_BUYER_LOST  "buyer_dispute_lost/" BUYER

struct spec_row {
	enum esc_state from;
	enum esc_event event;
	int refusal; /* 0: allowed, to `to` with the effects below */
	enum esc_state to;
	const char *outbox, *transfers, *deadlines, *marks;
};

#define NONE          ESC_ST_NONE
#define AW_PAY        ESC_ST_AWAITING_PAYMENT
#define AW_SHIP       ESC_ST_AWAITING_SHIPMENT
#define REQUESTED     ESC_ST_CANCELLATION_REQUESTED
#define SHIPPED       ESC_ST_SHIPPED
#define DELIVERED     ESC_ST_DELIVERED
#define DISPUTE       ESC_ST_IN_DISPUTE
#define COMPLETED     ESC_ST_COMPLETED
#define CANCELLED     ESC_ST_CANCELLED
#define CLOSED        ESC_ST_CLOSED
#define REFUSED(code) code, ESC_ST_NONE, NULL, NULL, NULL, NULL

/* Every cell of SPEC §2 that is not ESC_ESTATE (for the right actor). */
static const struct spec_row spec_table[] = {
	{NONE, ESC_EV_CREATE, 0, AW_PAY, "order.created", "", "+payment", ""},

	{AW_PAY, ESC_EV_PAY, 0, AW_SHIP, "order.paid", T_PAYMENT, "-payment +ship", M_PAID},
	{AW_PAY, ESC_EV_CANCEL, 0, CANCELLED, "order.cancelled", "", "-payment", ""},
	{AW_PAY, ESC_EV_PAYMENT_DEADLINE, 0, CANCELLED, "order.cancelled", "", "-payment", ""},

	{AW_SHIP, ESC_EV_CANCEL, 0, REQUESTED, "cancellation.requested", "", "+response", ""},
	{AW_SHIP, ESC_EV_SHIP, 0, SHIPPED, "order.shipped", "", "-ship +protection", ""},
	{AW_SHIP, ESC_EV_SHIP_DEADLINE, 0, CANCELLED, "order.cancelled", T_REFUND,
	 "-ship +refund_alert", M_MISSED},

	{REQUESTED, ESC_EV_ACCEPT_CANCELLATION, 0, CANCELLED, "cancellation.accepted", T_REFUND,
	 "-ship -response +refund_alert", M_CANCELLED},
	{REQUESTED, ESC_EV_REJECT_CANCELLATION, 0, AW_SHIP, "cancellation.rejected", "",
	 "-response", ""},
	{REQUESTED, ESC_EV_WITHDRAW_CANCELLATION, 0, AW_SHIP, "cancellation.withdrawn", "",
	 "-response", ""},
	{REQUESTED, ESC_EV_RESPONSE_DEADLINE, 0, CANCELLED, "cancellation.auto_approved", T_REFUND,
	 "-ship -response +refund_alert", M_CANCELLED},
	/* The ship deadline keeps running while a request is open (reject
	 * leaves it unchanged), but the seller cannot ship meanwhile: its
	 * passing grants the unanswered request, like the response deadline. */
	{REQUESTED, ESC_EV_SHIP_DEADLINE, 0, CANCELLED, "cancellation.auto_approved", T_REFUND,
	 "-ship -response +refund_alert", M_CANCELLED},
	{REQUESTED, ESC_EV_CANCEL, REFUSED(ESC_EPENDING)},
	{REQUESTED, ESC_EV_SHIP, REFUSED(ESC_EPENDING)},

	{SHIPPED, ESC_EV_DELIVER, 0, DELIVERED, "order.delivered", "", "-protection +confirm", ""},
	{SHIPPED, ESC_EV_CONFIRM_RECEIPT, 0, COMPLETED, "order.completed", T_RELEASE, "-protection",
	 ""},
	{SHIPPED, ESC_EV_PROTECTION_DEADLINE, 0, COMPLETED, "order.completed", T_RELEASE,
	 "-protection", ""},
	{SHIPPED, ESC_EV_CANCEL, REFUSED(ESC_ESHIPPED)},
	{SHIPPED, ESC_EV_OPEN_DISPUTE, 0, DISPUTE, "dispute.opened", "", "-protection +dispute",
	 M_OPENED},

	{DELIVERED, ESC_EV_CONFIRM_RECEIPT, 0, COMPLETED, "order.completed", T_RELEASE, "-confirm",
	 ""},
	{DELIVERED, ESC_EV_CONFIRM_DEADLINE, 0, COMPLETED, "order.completed", T_RELEASE, "-confirm",
	 ""},
	{DELIVERED, ESC_EV_CANCEL, REFUSED(ESC_ESHIPPED)},
	/* The dispute's window opens: the seller's 5 days. */
	{DELIVERED, ESC_EV_OPEN_DISPUTE, 0, DISPUTE, "dispute.opened", "", "-confirm +dispute",
	 M_OPENED},

	{DISPUTE, ESC_EV_CANCEL, REFUSED(ESC_ESHIPPED)},
	/* The dispute's own events: the dispute machine, tested below. */

	{COMPLETED, ESC_EV_CANCEL, REFUSED(ESC_ESHIPPED)},
	/* Within 15 days of completion; the release comes back. */
	{COMPLETED, ESC_EV_OPEN_DISPUTE, 0, DISPUTE, "dispute.opened", T_CLAWBACK, "+dispute",
	 M_OPENED},

	{CLOSED, ESC_EV_CANCEL, REFUSED(ESC_ESHIPPED)},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The expected answer of the table: 0 (allowed) or a refusal code. */
static int spec_refusal(enum esc_state s, enum esc_event e, enum esc_actor a)
{
	if (a != spec_actor(e))
		return ESC_EFORBIDDEN;
	if (is_refund_event(e))
		return 0;        /* refunds have their own machine, in any order state */
	if (is_dispute_event(e)) /* the dispute machine's, in dispute only */
		return s == ESC_ST_IN_DISPUTE ? 0 : ESC_ESTATE;
	for (size_t i = 0; i < COUNT(spec_table); i++)
		if (spec_table[i].from == s && spec_table[i].event == e)
			return spec_table[i].refusal;
	return ESC_ESTATE;
}

static const char *outcome_name(int code)
{
	return code ? esc_error_name(code) : "allowed";
}

/* --- Orders built from real events --------------------------------------- */

static struct esc_context ctx_of(enum esc_actor actor, int64_t now_ms)
{
	struct esc_context c = {
		.policy = &policy,
		.now_ms = now_ms,
		.actor = actor,
		.actor_id = NULL,
		.buyer_level = ESC_LEVEL_GOOD,
	};
	if (actor == ESC_ACTOR_BUYER)
		c.actor_id = BUYER;
	else if (actor == ESC_ACTOR_SELLER)
		c.actor_id = SELLER;
	return c;
}

static const struct esc_item one_item[] = {{"Blue teapot", 1, TOTAL, ""}};

/* Arguments good for every event: each reads only its own fields. */
static struct esc_args good_args(void)
{
	struct esc_args a = {
		.order_id = ORDER_ID,
		.buyer_id = BUYER,
		.seller_id = SELLER,
		.currency = "EUR",
		.items = one_item,
		.items_count = COUNT(one_item),
		.delivery_days = 0,
		.amount_minor = TOTAL,
		.method = ESC_METHOD_CARD,
		.buyer_balance_minor = 0,
		.reason = "no_longer_needed",
		.comment = NULL,
		.refund_to = -1,
		.message = "Sorry, it is packed already",
		.carrier = "DHL",
		.tracking = "JD014600006281230794",
		.refund_id = NULL,
		/* open_dispute asks for everything; resolve_dispute grants it
		 * (amount_minor) with `message` as its reason. */
		.ground = "not_as_described",
		.outcome = "refund_only",
		.description = "The lid arrived cracked",
	};
	return a;
}

static int64_t transfers_net(const struct esc_effects *fx, const char *account)
{
	int64_t net = 0;
	for (size_t i = 0; i < fx->transfers_count; i++) {
		if (!strcmp(fx->transfers[i].to, account))
			net += fx->transfers[i].amount_minor;
		if (!strcmp(fx->transfers[i].from, account))
			net -= fx->transfers[i].amount_minor;
	}
	return net;
}

/* SPEC §4's invariants, and the version rule, after an accepted decision. */
static void check_invariants(const struct esc_order *old, const struct esc_effects *fx)
{
	const struct esc_order *o = &fx->order;
	const char *st = esc_state_name(o->state);
	int64_t held = esc_order_held(o);
	char escrow[ESC_ACCOUNT_SIZE];

	for (size_t i = 0; i < fx->transfers_count; i++)
		if (fx->transfers[i].amount_minor <= 0)
			fail_msg("%s: transfer %s moves %lld", st, fx->transfers[i].id,
				 (long long)fx->transfers[i].amount_minor);
	if (held < 0)
		fail_msg("%s: held %lld is negative", st, (long long)held);
	if ((o->state == ESC_ST_COMPLETED || o->state == ESC_ST_CANCELLED ||
	     o->state == ESC_ST_CLOSED) &&
	    held != 0)
		fail_msg("%s: still holds %lld", st, (long long)held);
	if (o->state == ESC_ST_IN_DISPUTE && held <= 0)
		fail_msg("%s: holds %lld, nothing to decide on", st, (long long)held);
	if (o->refunded_minor > o->paid_minor)
		fail_msg("%s: refunded %lld > paid %lld", st, (long long)o->refunded_minor,
			 (long long)o->paid_minor);
	/* The escrow account moves exactly as the order's held amount. */
	esc_account_escrow(escrow, o->id);
	if (transfers_net(fx, escrow) != held - (old ? esc_order_held(old) : 0))
		fail_msg("%s: escrow moved %lld, held changed by %lld", st,
			 (long long)transfers_net(fx, escrow),
			 (long long)(held - (old ? esc_order_held(old) : 0)));
	if (o->version != (old ? old->version + 1 : 1))
		fail_msg("%s: version %lld after %lld", st, (long long)o->version,
			 (long long)(old ? old->version : 0));
	if (esc_state_final(o->state))
		for (int k = 0; k < ESC_DL_ORDER_COUNT; k++)
			if (o->due_ms[k])
				fail_msg("%s: final, but the %s deadline is set", st,
					 esc_deadline_name((enum esc_deadline_kind)k));
	if (!fx->outbox_type)
		fail_msg("%s: no outbox event", st);
	if (esc_order_check(o))
		fail_msg("%s: breaks an invariant: %s", st, esc_order_check(o));
}

/* Decide; the event must be accepted. Checks the invariants. */
static void accept_in(const struct esc_context *c, const struct esc_order *o, enum esc_event ev,
		      const struct esc_args *a, const struct esc_refund *r, struct esc_effects *fx)
{
	int rc = esc_decide(c, o, ev, a, r, fx);
	if (rc)
		fail_msg("%s by %s on a %s order refused: %s: %s", esc_event_name(ev),
			 esc_actor_name(c->actor), o ? esc_state_name(o->state) : "new",
			 esc_error_name(rc), fx->refusal_message);
	check_invariants(o, fx);
}

static void accept_at(enum esc_actor actor, int64_t now, const struct esc_order *o,
		      enum esc_event ev, const struct esc_args *a, struct esc_effects *fx)
{
	struct esc_context c = ctx_of(actor, now);
	accept_in(&c, o, ev, a, NULL, fx);
}

static struct esc_order apply(const struct esc_order *o, enum esc_actor actor, int64_t now,
			      enum esc_event ev, const struct esc_args *a)
{
	struct esc_effects fx;
	accept_at(actor, now, o, ev, a, &fx);
	return fx.order;
}

/* Decide; returns the refusal code (0 if accepted). A refusal must carry a
 * message and leave nothing to write. */
static int refusal_in(const struct esc_context *c, const struct esc_order *o, enum esc_event ev,
		      const struct esc_args *a, const struct esc_refund *r)
{
	struct esc_effects fx;
	int rc = esc_decide(c, o, ev, a, r, &fx);
	if (!rc)
		return 0;
	assert_int_equal(fx.refusal, rc);
	if (!fx.refusal_message[0])
		fail_msg("%s refused with %s but no message", esc_event_name(ev),
			 esc_error_name(rc));
	assert_int_equal(fx.transfers_count, 0);
	assert_int_equal(fx.deadlines_count, 0);
	assert_int_equal(fx.marks_count, 0);
	assert_false(fx.refund_new);
	assert_false(fx.refund_changed);
	assert_null(fx.outbox_type);
	return rc;
}

static void expect_refusal_in(int want, const struct esc_context *c, const struct esc_order *o,
			      enum esc_event ev, const struct esc_args *a,
			      const struct esc_refund *r)
{
	int got = refusal_in(c, o, ev, a, r);
	if (got != want)
		fail_msg("%s by %s at %lld: expected %s, got %s", esc_event_name(ev),
			 esc_actor_name(c->actor), (long long)c->now_ms, outcome_name(want),
			 outcome_name(got));
}

static void expect_refusal(int want, enum esc_actor actor, int64_t now, const struct esc_order *o,
			   enum esc_event ev, const struct esc_args *a)
{
	struct esc_context c = ctx_of(actor, now);
	expect_refusal_in(want, &c, o, ev, a, NULL);
}

static struct esc_order created_with(const struct esc_args *a)
{
	return apply(NULL, ESC_ACTOR_OPERATOR, T_CREATE, ESC_EV_CREATE, a);
}

static struct esc_order created(void)
{
	struct esc_args a = good_args();
	return created_with(&a);
}

static struct esc_order paid_from(const struct esc_order *o, enum esc_method m)
{
	struct esc_args a = good_args();
	a.method = (int)m;
	a.buyer_balance_minor = m == ESC_METHOD_BALANCE ? o->total_minor : 0;
	a.amount_minor = o->total_minor;
	return apply(o, ESC_ACTOR_OPERATOR, T_PAY, ESC_EV_PAY, &a);
}

static struct esc_order paid_by(enum esc_method m)
{
	struct esc_order o = created();
	return paid_from(&o, m);
}

static struct esc_order paid(void)
{
	return paid_by(ESC_METHOD_CARD);
}

static struct esc_order request_on(const struct esc_order *o, int64_t at, const char *reason,
				   int refund_to)
{
	struct esc_args a = good_args();
	a.reason = reason;
	a.refund_to = refund_to;
	return apply(o, ESC_ACTOR_BUYER, at, ESC_EV_CANCEL, &a);
}

static struct esc_order requested_for(const char *reason, int refund_to)
{
	struct esc_order o = paid();
	return request_on(&o, T_REQUEST, reason, refund_to);
}

static struct esc_order requested(void)
{
	return requested_for("no_longer_needed", -1);
}

static struct esc_order reject_on(const struct esc_order *o, int64_t at)
{
	struct esc_args a = good_args();
	return apply(o, ESC_ACTOR_SELLER, at, ESC_EV_REJECT_CANCELLATION, &a);
}

static struct esc_order ship_on(const struct esc_order *o, int64_t at)
{
	struct esc_args a = good_args();
	return apply(o, ESC_ACTOR_SELLER, at, ESC_EV_SHIP, &a);
}

static struct esc_order shipped(void)
{
	struct esc_order o = paid();
	return ship_on(&o, T_SHIP);
}

static struct esc_order delivered(void)
{
	struct esc_order o = shipped();
	return apply(&o, ESC_ACTOR_OPERATOR, T_DELIVER, ESC_EV_DELIVER, NULL);
}

static struct esc_order completed(void)
{
	struct esc_order o = delivered();
	return apply(&o, ESC_ACTOR_BUYER, T_CONFIRM, ESC_EV_CONFIRM_RECEIPT, NULL);
}

static struct esc_order cancelled_unpaid(void)
{
	struct esc_order o = created();
	return apply(&o, ESC_ACTOR_BUYER, T_CREATE + HOUR, ESC_EV_CANCEL, NULL);
}

/* Disputes. Orders of 10000 minor units make the money easy to read: 5 %
 * is exactly 500. */
#define T10K      INT64_C(10000)
#define T_DISPUTE (T_SHIP + 2 * DAY)
#define T_RESOLVE (T_DISPUTE + 5 * DAY)
#define DECISION  "The photos show the lid was cracked in transit"

static struct esc_order paid_of(int64_t total, enum esc_method m)
{
	struct esc_item item = {"Teapot", 1, total, ""};
	struct esc_args a = good_args();
	a.items = &item;
	a.items_count = 1;
	struct esc_order o = created_with(&a);
	return paid_from(&o, m);
}

static struct esc_order shipped_of(int64_t total)
{
	struct esc_order o = paid_of(total, ESC_METHOD_CARD);
	return ship_on(&o, T_SHIP);
}

static struct esc_order delivered_of(int64_t total)
{
	struct esc_order o = shipped_of(total);
	return apply(&o, ESC_ACTOR_OPERATOR, T_DELIVER, ESC_EV_DELIVER, NULL);
}

static struct esc_order completed_of(int64_t total)
{
	struct esc_order o = delivered_of(total);
	return apply(&o, ESC_ACTOR_BUYER, T_CONFIRM, ESC_EV_CONFIRM_RECEIPT, NULL);
}

static struct esc_args dispute_args(const char *ground, int64_t amount)
{
	struct esc_args a = good_args();
	a.ground = ground;
	a.amount_minor = amount;
	return a;
}

static struct esc_order open_on(const struct esc_order *o, int64_t at, const char *ground,
				int64_t amount)
{
	struct esc_args a = dispute_args(ground, amount);
	return apply(o, ESC_ACTOR_BUYER, at, ESC_EV_OPEN_DISPUTE, &a);
}

/* A shipped order of `total` in dispute since T_DISPUTE, asking `amount`. */
static struct esc_order disputed_of(int64_t total, const char *ground, int64_t amount)
{
	struct esc_order o = shipped_of(total);
	return open_on(&o, T_DISPUTE, ground, amount);
}

static struct esc_args decision_args(int64_t refund)
{
	struct esc_args a = good_args();
	a.amount_minor = refund;
	a.message = DECISION;
	return a;
}

/* The seller rejects the dispute an hour after it opened, the buyer
 * escalates it an hour later: the arbiter's to decide. */
static struct esc_order escalated_from(const struct esc_order *o)
{
	struct esc_args a = good_args();
	struct esc_order r = apply(o, ESC_ACTOR_SELLER, o->dispute_opened_at_ms + HOUR,
				   ESC_EV_REJECT_DISPUTE, &a);
	return apply(&r, ESC_ACTOR_BUYER, o->dispute_opened_at_ms + 2 * HOUR, ESC_EV_ESCALATE, &a);
}

/* Escalated, the arbiter decides a refund of `refund` at T_RESOLVE. */
static void resolve_in(const struct esc_order *o, int64_t refund, struct esc_effects *fx)
{
	struct esc_args a = decision_args(refund);
	struct esc_order e = escalated_from(o);
	accept_at(ESC_ACTOR_ARBITER, T_RESOLVE, &e, ESC_EV_RESOLVE_DISPUTE, &a, fx);
}

/* An order in `state` for sending `event`, built by real events; *last_ms
 * is the time of the last. False for ESC_ST_NONE (there is no order). */
static bool build_state(enum esc_state s, enum esc_event event, struct esc_order *o,
			int64_t *last_ms)
{
	struct esc_order p;
	switch (s) {
	case ESC_ST_AWAITING_PAYMENT:
		*o = created();
		*last_ms = T_CREATE;
		return true;
	case ESC_ST_AWAITING_SHIPMENT:
		*o = paid();
		*last_ms = T_PAY;
		return true;
	case ESC_ST_CANCELLATION_REQUESTED:
		/* For the ship deadline to pass while it is open, the request
		 * comes an hour before it. */
		*last_ms = event == ESC_EV_SHIP_DEADLINE ? SHIP_DUE - HOUR : T_REQUEST;
		p = paid();
		*o = request_on(&p, *last_ms, "no_longer_needed", -1);
		return true;
	case ESC_ST_SHIPPED:
		*o = shipped();
		*last_ms = T_SHIP;
		return true;
	case ESC_ST_DELIVERED:
		*o = delivered();
		*last_ms = T_DELIVER;
		return true;
	case ESC_ST_COMPLETED:
		*o = completed();
		*last_ms = T_CONFIRM;
		return true;
	case ESC_ST_CANCELLED:
		*o = cancelled_unpaid();
		*last_ms = T_CREATE + HOUR;
		return true;
	case ESC_ST_IN_DISPUTE:
		p = shipped();
		*o = open_on(&p, T_DISPUTE, "not_as_described", TOTAL);
		*last_ms = T_DISPUTE;
		return true;
	case ESC_ST_CLOSED: {
		struct esc_effects fx;
		p = shipped();
		p = open_on(&p, T_DISPUTE, "not_as_described", TOTAL);
		resolve_in(&p, TOTAL, &fx);
		*o = fx.order;
		*last_ms = T_RESOLVE;
		return true;
	}
	default:
		return false;
	}
}

/* --- Effects as tokens --------------------------------------------------- */

#define TOKENS_MAX 16

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Split a copy of `s` into sorted tokens. */
static size_t tokens(const char *s, char *buf, size_t size, char **out)
{
	size_t n = 0;
	snprintf(buf, size, "%s", s);
	for (char *save = NULL, *t = strtok_r(buf, " ", &save); t && n < TOKENS_MAX;
	     t = strtok_r(NULL, " ", &save))
		out[n++] = t;
	qsort(out, n, sizeof *out, cmp_str);
	return n;
}

static bool same_tokens(const char *want, const char *got)
{
	char wb[1024], gb[1024];
	char *wt[TOKENS_MAX], *gt[TOKENS_MAX];
	size_t wn = tokens(want, wb, sizeof wb, wt), gn = tokens(got, gb, sizeof gb, gt);
	if (wn != gn)
		return false;
	for (size_t i = 0; i < wn; i++)
		if (strcmp(wt[i], gt[i]))
			return false;
	return true;
}

static void append(char *buf, size_t size, const char *token)
{
	size_t n = strlen(buf);
	snprintf(buf + n, size - n, "%s%s", n ? " " : "", token);
}

static void transfers_str(const struct esc_effects *fx, char *buf, size_t size)
{
	char t[256];
	buf[0] = '\0';
	for (size_t i = 0; i < fx->transfers_count; i++) {
		const struct esc_transfer *x = &fx->transfers[i];
		snprintf(t, sizeof t, "%s/%s>%s/%lld", x->kind, x->from, x->to,
			 (long long)x->amount_minor);
		append(buf, size, t);
	}
}

static void deadlines_str(const struct esc_effects *fx, char *buf, size_t size)
{
	char t[64];
	buf[0] = '\0';
	for (size_t i = 0; i < fx->deadlines_count; i++) {
		snprintf(t, sizeof t, "%c%s", fx->deadlines[i].set ? '+' : '-',
			 esc_deadline_name(fx->deadlines[i].kind));
		append(buf, size, t);
	}
}

static void marks_str(const struct esc_effects *fx, char *buf, size_t size)
{
	char t[128];
	buf[0] = '\0';
	for (size_t i = 0; i < fx->marks_count; i++) {
		snprintf(t, sizeof t, "%s/%s", esc_mark_name(fx->marks[i].mark),
			 fx->marks[i].user_id);
		append(buf, size, t);
	}
}

static void assert_marks(const struct esc_effects *fx, const char *want)
{
	char got[512];
	marks_str(fx, got, sizeof got);
	if (!same_tokens(want, got))
		fail_msg("marks: expected [%s], got [%s]", want, got);
}

static void assert_transfers(const struct esc_effects *fx, const char *want)
{
	char got[1024];
	transfers_str(fx, got, sizeof got);
	if (!same_tokens(want, got))
		fail_msg("transfers: expected [%s], got [%s]", want, got);
}

/* The deadline op of this kind and direction, or NULL. */
static const struct esc_deadline_op *find_op(const struct esc_effects *fx, enum esc_deadline_kind k,
					     bool set)
{
	for (size_t i = 0; i < fx->deadlines_count; i++)
		if (fx->deadlines[i].kind == k && fx->deadlines[i].set == set)
			return &fx->deadlines[i];
	return NULL;
}

/* The transfer with this kind, or fail. */
static const struct esc_transfer *transfer_of(const struct esc_effects *fx, const char *kind)
{
	for (size_t i = 0; i < fx->transfers_count; i++)
		if (!strcmp(fx->transfers[i].kind, kind))
			return &fx->transfers[i];
	fail_msg("no %s transfer", kind);
	return NULL;
}

/* --- 1. The table ---------------------------------------------------------- */

static void test_spec_2_table_every_state_event_actor_matches_spec(void **state)
{
	(void)state;
	int mismatches = 0;
	for (int s = ESC_ST_NONE; s <= ESC_ST_CLOSED; s++)
		for (int e = 0; e < ESC_EV_COUNT; e++)
			for (int a = 0; a < ESC_ACTOR_COUNT; a++) {
				int want = spec_refusal((enum esc_state)s, (enum esc_event)e,
							(enum esc_actor)a);
				int got = esc_transition_allowed(
					(enum esc_state)s, (enum esc_event)e, (enum esc_actor)a);
				if (want == got)
					continue;
				print_message("state %s, event %s, actor %s: expected %s, got %s\n",
					      esc_state_name((enum esc_state)s),
					      esc_event_name((enum esc_event)e),
					      esc_actor_name((enum esc_actor)a), outcome_name(want),
					      outcome_name(got));
				mismatches++;
			}
	assert_int_equal(mismatches, 0);
}

/* One rule says who may see an order, for reads and commands alike. */
static void test_visibility_parties_arbiters_with_an_escalated_dispute_operator_all(void **state)
{
	struct esc_order o;
	(void)state;
	memset(&o, 0, sizeof o);
	snprintf(o.buyer_id, sizeof o.buyer_id, "usr_b");
	snprintf(o.seller_id, sizeof o.seller_id, "usr_s");
	assert_true(esc_order_visible(ESC_ACTOR_BUYER, "usr_b", &o));
	assert_false(esc_order_visible(ESC_ACTOR_BUYER, "usr_x", &o));
	assert_false(esc_order_visible(ESC_ACTOR_BUYER, NULL, &o));
	assert_true(esc_order_visible(ESC_ACTOR_SELLER, "usr_s", &o));
	assert_false(esc_order_visible(ESC_ACTOR_SELLER, "usr_b", &o));
	assert_false(esc_order_visible(ESC_ACTOR_ARBITER, "usr_a", &o));
	assert_true(esc_order_visible(ESC_ACTOR_OPERATOR, NULL, &o));
	assert_true(esc_order_visible(ESC_ACTOR_SYSTEM, NULL, &o));
	/* A dispute the parties settle alone is not the arbiters' (SPEC §1);
	 * escalated, open or decided, it is. */
	o.disputes_count = 1;
	o.state = ESC_ST_IN_DISPUTE;
	o.dispute_state = ESC_DS_REJECTED;
	assert_false(esc_order_visible(ESC_ACTOR_ARBITER, "usr_a", &o));
	o.dispute_state = ESC_DS_ESCALATED;
	o.dispute_escalated_at_ms = T_CREATE;
	assert_true(esc_order_visible(ESC_ACTOR_ARBITER, "usr_a", &o));
	o.state = ESC_ST_COMPLETED;
	o.dispute_state = ESC_DS_RESOLVED;
	assert_true(esc_order_visible(ESC_ACTOR_ARBITER, "usr_a", &o));
}

/* Every refusal of the table is what esc_decide answers on a real order in
 * that state, at a time no deadline has passed. */
static void test_spec_2_decide_refuses_as_the_table_on_real_orders(void **state)
{
	(void)state;
	int mismatches = 0;
	for (int s = ESC_ST_NONE; s <= ESC_ST_CLOSED; s++)
		for (int e = 0; e < ESC_EV_COUNT; e++) {
			struct esc_order o;
			int64_t last;
			if (e == ESC_EV_CREATE || is_refund_event((enum esc_event)e) ||
			    !build_state((enum esc_state)s, (enum esc_event)e, &o, &last))
				continue;
			for (int a = 0; a < ESC_ACTOR_COUNT; a++) {
				int want = spec_refusal((enum esc_state)s, (enum esc_event)e,
							(enum esc_actor)a);
				/* An order whose dispute was never escalated
				 * is not an arbiter's: not found, before the
				 * table. */
				if (a == ESC_ACTOR_ARBITER && !o.dispute_escalated_at_ms)
					want = ESC_ENOTFOUND;
				if (!want)
					continue;
				struct esc_args args = good_args();
				struct esc_context c = ctx_of((enum esc_actor)a, last + HOUR);
				int got = refusal_in(&c, &o, (enum esc_event)e, &args, NULL);
				if (want == got)
					continue;
				print_message("state %s, event %s, actor %s: expected %s, got %s\n",
					      esc_state_name((enum esc_state)s),
					      esc_event_name((enum esc_event)e),
					      esc_actor_name((enum esc_actor)a), outcome_name(want),
					      outcome_name(got));
				mismatches++;
			}
		}
	assert_int_equal(mismatches, 0);
}

/* Every allowed transition, from a real order in its state: the new state,
 * the version, the outbox event, and what it moves. Deadline events fire
 * exactly when due; the others come an hour after the last event. The
 * invariants of SPEC §4 are checked after each (accept_in). */
static void test_spec_2_every_allowed_transition_from_a_real_order(void **state)
{
	(void)state;
	int mismatches = 0;
	for (size_t i = 0; i < COUNT(spec_table); i++) {
		const struct spec_row *r = &spec_table[i];
		struct esc_order o = {0};
		struct esc_effects fx;
		struct esc_args a = good_args();
		int64_t last = T_CREATE - HOUR, now;
		char t[1024], d[512], m[512];
		if (r->refusal)
			continue;
		if (r->from != ESC_ST_NONE && !build_state(r->from, r->event, &o, &last))
			fail_msg("cannot build a %s order", esc_state_name(r->from));
		now = deadline_of(r->event) >= 0 ? o.due_ms[deadline_of(r->event)] : last + HOUR;
		if (deadline_of(r->event) >= 0 && now == 0)
			fail_msg("%s: the %s order has no such deadline", esc_event_name(r->event),
				 esc_state_name(r->from));
		accept_at(spec_actor(r->event), now, r->from == ESC_ST_NONE ? NULL : &o, r->event,
			  &a, &fx);
		transfers_str(&fx, t, sizeof t);
		deadlines_str(&fx, d, sizeof d);
		marks_str(&fx, m, sizeof m);
		if (fx.order.state != r->to || strcmp(fx.outbox_type, r->outbox) ||
		    !same_tokens(r->transfers, t) || !same_tokens(r->deadlines, d) ||
		    !same_tokens(r->marks, m)) {
			print_message("%s --%s--> expected %s %s T[%s] D[%s] M[%s]\n"
				      "%*s got %s %s T[%s] D[%s] M[%s]\n",
				      esc_state_name(r->from), esc_event_name(r->event),
				      esc_state_name(r->to), r->outbox, r->transfers, r->deadlines,
				      r->marks, 20, "", esc_state_name(fx.order.state),
				      fx.outbox_type, t, d, m);
			mismatches++;
		}
	}
	assert_int_equal(mismatches, 0);
}

/* --- 2. Effects: create and pay -------------------------------------------- */

static void test_spec_2_create_sets_payment_deadline_24h_and_version_1(void **state)
{
	(void)state;
	struct esc_args a = good_args();
	struct esc_effects fx;
	accept_at(ESC_ACTOR_OPERATOR, T_CREATE, NULL, ESC_EV_CREATE, &a, &fx);
	assert_int_equal(fx.order.state, ESC_ST_AWAITING_PAYMENT);
	assert_int_equal(fx.order.version, 1);
	assert_true(fx.order.total_minor == TOTAL);
	assert_true(fx.order.paid_minor == 0);
	assert_true(fx.order.due_ms[ESC_DL_PAYMENT] == T_CREATE + 24 * HOUR);
	const struct esc_deadline_op *op = find_op(&fx, ESC_DL_PAYMENT, true);
	assert_non_null(op);
	assert_true(op->due_ms == T_CREATE + 24 * HOUR);
	assert_int_equal(fx.deadlines_count, 1);
	assert_int_equal(fx.transfers_count, 0);
	assert_string_equal(fx.outbox_type, "order.created");
}

static void test_spec_4_pay_moves_total_from_external_to_escrow(void **state)
{
	(void)state;
	struct esc_order o = created();
	struct esc_args a = good_args();
	struct esc_effects fx;
	accept_at(ESC_ACTOR_OPERATOR, T_PAY, &o, ESC_EV_PAY, &a, &fx);
	assert_int_equal(fx.transfers_count, 1);
	assert_string_equal(fx.transfers[0].id, ORDER_ID "/payment");
	assert_string_equal(fx.transfers[0].from, "external");
	assert_string_equal(fx.transfers[0].to, ESCROW);
	assert_true(fx.transfers[0].amount_minor == TOTAL);
	assert_string_equal(fx.transfers[0].currency, "EUR");
	assert_true(fx.order.paid_minor == TOTAL);
	assert_true(esc_order_held(&fx.order) == TOTAL);
}

static void test_spec_2_pay_clears_payment_deadline_and_sets_ship_deadline_7_days(void **state)
{
	(void)state;
	struct esc_order o = created();
	struct esc_args a = good_args();
	struct esc_effects fx;
	accept_at(ESC_ACTOR_OPERATOR, T_PAY, &o, ESC_EV_PAY, &a, &fx);
	assert_int_equal(fx.order.state, ESC_ST_AWAITING_SHIPMENT);
	assert_true(fx.order.due_ms[ESC_DL_PAYMENT] == 0);
	assert_true(fx.order.due_ms[ESC_DL_SHIP] == T_PAY + 7 * DAY);
	const struct esc_deadline_op *del = find_op(&fx, ESC_DL_PAYMENT, false);
	const struct esc_deadline_op *set = find_op(&fx, ESC_DL_SHIP, true);
	assert_non_null(del);
	assert_true(del->due_ms == T_CREATE + 24 * HOUR);
	assert_non_null(set);
	assert_true(set->due_ms == T_PAY + 7 * DAY);
}

static void test_spec_6_pay_marks_buyer_paid_and_seller_sold(void **state)
{
	(void)state;
	struct esc_order o = created();
	struct esc_args a = good_args();
	struct esc_effects fx;
	accept_at(ESC_ACTOR_OPERATOR, T_PAY, &o, ESC_EV_PAY, &a, &fx);
	assert_marks(&fx, M_PAID);
}

static void test_spec_4_pay_from_balance_moves_from_buyer_account(void **state)
{
	(void)state;
	struct esc_order o = created();
	struct esc_args a = good_args();
	struct esc_effects fx;
	a.method = ESC_METHOD_BALANCE;
	a.buyer_balance_minor = TOTAL;
	accept_at(ESC_ACTOR_OPERATOR, T_PAY, &o, ESC_EV_PAY, &a, &fx);
	assert_transfers(&fx, "payment/buyer:" BUYER ">" ESCROW "/" TOTAL_S);
	assert_int_equal(fx.order.method, ESC_METHOD_BALANCE);
}

static void test_spec_4_pay_from_balance_refused_when_balance_short(void **state)
{
	(void)state;
	struct esc_order o = created();
	struct esc_args a = good_args();
	a.method = ESC_METHOD_BALANCE;
	a.buyer_balance_minor = TOTAL - 1;
	expect_refusal(ESC_EFUNDS, ESC_ACTOR_OPERATOR, T_PAY, &o, ESC_EV_PAY, &a);
}

static void test_spec_4_pay_of_another_amount_refused(void **state)
{
	(void)state;
	struct esc_order o = created();
	struct esc_args a = good_args();
	a.amount_minor = TOTAL - 1;
	expect_refusal(ESC_EAMOUNT, ESC_ACTOR_OPERATOR, T_PAY, &o, ESC_EV_PAY, &a);
	a.amount_minor = TOTAL + 1;
	expect_refusal(ESC_EAMOUNT, ESC_ACTOR_OPERATOR, T_PAY, &o, ESC_EV_PAY, &a);
}

static void test_spec_2_second_pay_refused_invalid_state(void **state)
{
	(void)state;
	struct esc_order o = paid();
	struct esc_args a = good_args();
	expect_refusal(ESC_ESTATE, ESC_ACTOR_OPERATOR, T_PAY + HOUR, &o, ESC_EV_PAY, &a);
}

/* --- Cancellation ---------------------------------------------------------- */

static void test_spec_2_unpaid_cancel_cancels_at_once_with_nothing_to_refund(void **state)
{
	(void)state;
	struct esc_order o = created();
	struct esc_effects fx;
	accept_at(ESC_ACTOR_BUYER, T_CREATE + HOUR, &o, ESC_EV_CANCEL, NULL, &fx);
	assert_int_equal(fx.order.state, ESC_ST_CANCELLED);
	assert_int_equal(fx.transfers_count, 0);
	assert_int_equal(fx.marks_count, 0);
	assert_false(fx.refund_new);
	assert_true(fx.order.refunded_minor == 0);
}

static void test_spec_2_request_sets_response_deadline_72h(void **state)
{
	(void)state;
	struct esc_order o = paid();
	struct esc_args a = good_args();
	struct esc_effects fx;
	accept_at(ESC_ACTOR_BUYER, T_REQUEST, &o, ESC_EV_CANCEL, &a, &fx);
	assert_int_equal(fx.order.state, ESC_ST_CANCELLATION_REQUESTED);
	assert_true(fx.order.due_ms[ESC_DL_RESPONSE] == T_REQUEST + 72 * HOUR);
	assert_true(fx.order.due_ms[ESC_DL_SHIP] == SHIP_DUE);
	assert_int_equal(fx.order.cancel_requests, 1);
	assert_string_equal(fx.order.cancel_reason, "no_longer_needed");
	assert_int_equal(fx.transfers_count, 0);
	assert_int_equal(fx.marks_count, 0);
	const struct esc_deadline_op *op = find_op(&fx, ESC_DL_RESPONSE, true);
	assert_non_null(op);
	assert_true(op->due_ms == T_REQUEST + 72 * HOUR);
}

static void test_spec_2_second_request_after_a_rejection_allowed(void **state)
{
	(void)state;
	struct esc_order o = requested();
	o = reject_on(&o, T_REQUEST + HOUR);
	o = request_on(&o, T_REQUEST + 2 * HOUR, "no_longer_needed", -1);
	assert_int_equal(o.state, ESC_ST_CANCELLATION_REQUESTED);
	assert_int_equal(o.cancel_requests, 2);
}

static void test_spec_2_third_request_after_two_rejections_refused_limit(void **state)
{
	(void)state;
	struct esc_order o = requested();
	struct esc_args a = good_args();
	o = reject_on(&o, T_REQUEST + HOUR);
	o = request_on(&o, T_REQUEST + 2 * HOUR, "no_longer_needed", -1);
	o = reject_on(&o, T_REQUEST + 3 * HOUR);
	expect_refusal(ESC_ELIMIT, ESC_ACTOR_BUYER, T_REQUEST + 4 * HOUR, &o, ESC_EV_CANCEL, &a);
}

static void test_spec_3_request_with_unknown_reason_refused_invalid(void **state)
{
	(void)state;
	struct esc_order o = paid();
	struct esc_args a = good_args();
	a.reason = "changed_my_mind";
	expect_refusal(ESC_EINVAL, ESC_ACTOR_BUYER, T_REQUEST, &o, ESC_EV_CANCEL, &a);
	a.reason = NULL;
	expect_refusal(ESC_EINVAL, ESC_ACTOR_BUYER, T_REQUEST, &o, ESC_EV_CANCEL, &a);
}

static void test_spec_6_suspended_buyer_cannot_request_cancellation(void **state)
{
	(void)state;
	struct esc_order o = paid();
	struct esc_args a = good_args();
	struct esc_context c = ctx_of(ESC_ACTOR_BUYER, T_REQUEST);
	c.buyer_level = ESC_LEVEL_SUSPENDED;
	expect_refusal_in(ESC_ESUSPENDED, &c, &o, ESC_EV_CANCEL, &a, NULL);
}

static void test_spec_2_open_request_blocks_another_request_pending(void **state)
{
	(void)state;
	struct esc_order o = requested();
	struct esc_args a = good_args();
	expect_refusal(ESC_EPENDING, ESC_ACTOR_BUYER, T_REQUEST + HOUR, &o, ESC_EV_CANCEL, &a);
}

static void test_spec_4_accept_refunds_card_pending_in_transit_with_alert_10_days(void **state)
{
	(void)state;
	struct esc_order o = requested();
	struct esc_args a = good_args();
	struct esc_effects fx;
	int64_t now = T_REQUEST + HOUR;
	accept_at(ESC_ACTOR_SELLER, now, &o, ESC_EV_ACCEPT_CANCELLATION, &a, &fx);
	assert_int_equal(fx.order.state, ESC_ST_CANCELLED);
	assert_transfers(&fx, T_REFUND);
	assert_string_equal(fx.transfers[0].id, REFUND1);
	assert_true(fx.order.refunded_minor == TOTAL);
	assert_true(fx.refund_new);
	assert_string_equal(fx.refund.id, REFUND1);
	assert_string_equal(fx.refund.order_id, ORDER_ID);
	assert_true(fx.refund.amount_minor == TOTAL);
	assert_int_equal(fx.refund.status, ESC_REFUND_PENDING);
	assert_int_equal(fx.refund.method, ESC_METHOD_CARD);
	assert_true(fx.refund.alert_due_ms == now + 10 * DAY);
	assert_int_equal(fx.refund.settle_days_min, 3);
	assert_int_equal(fx.refund.settle_days_max, 7);
	const struct esc_deadline_op *op = find_op(&fx, ESC_DL_REFUND, true);
	assert_non_null(op);
	assert_true(op->due_ms == now + 10 * DAY);
	assert_string_equal(op->ref, REFUND1);
}

static void test_spec_4_accept_with_refund_to_balance_settles_at_once(void **state)
{
	(void)state;
	struct esc_order o = requested_for("no_longer_needed", ESC_REFUND_TO_BALANCE);
	struct esc_args a = good_args();
	struct esc_effects fx;
	int64_t now = T_REQUEST + HOUR;
	accept_at(ESC_ACTOR_SELLER, now, &o, ESC_EV_ACCEPT_CANCELLATION, &a, &fx);
	assert_transfers(&fx, "refund/" ESCROW ">buyer:" BUYER "/" TOTAL_S);
	assert_true(fx.refund_new);
	assert_int_equal(fx.refund.status, ESC_REFUND_SETTLED);
	assert_int_equal(fx.refund.method, ESC_METHOD_BALANCE);
	assert_true(fx.refund.resolved_at_ms == now);
	assert_true(fx.refund.alert_due_ms == 0);
	assert_null(find_op(&fx, ESC_DL_REFUND, true));
}

static void test_spec_4_refund_of_a_balance_payment_goes_back_to_balance(void **state)
{
	(void)state;
	struct esc_order o = paid_by(ESC_METHOD_BALANCE);
	struct esc_args a = good_args();
	struct esc_effects fx;
	o = request_on(&o, T_REQUEST, "no_longer_needed", -1);
	accept_at(ESC_ACTOR_SELLER, T_REQUEST + HOUR, &o, ESC_EV_ACCEPT_CANCELLATION, &a, &fx);
	assert_transfers(&fx, "refund/" ESCROW ">buyer:" BUYER "/" TOTAL_S);
	assert_int_equal(fx.refund.status, ESC_REFUND_SETTLED);
}

static void test_spec_4_wallet_refund_is_shown_as_1_day(void **state)
{
	(void)state;
	struct esc_order o = paid_by(ESC_METHOD_WALLET);
	struct esc_args a = good_args();
	struct esc_effects fx;
	o = request_on(&o, T_REQUEST, "no_longer_needed", -1);
	accept_at(ESC_ACTOR_SELLER, T_REQUEST + HOUR, &o, ESC_EV_ACCEPT_CANCELLATION, &a, &fx);
	assert_int_equal(fx.refund.status, ESC_REFUND_PENDING);
	assert_int_equal(fx.refund.method, ESC_METHOD_WALLET);
	assert_int_equal(fx.refund.settle_days_min, 1);
	assert_int_equal(fx.refund.settle_days_max, 1);
}

/* SPEC §3's table, written out here: the fault of each reason. */
static const struct {
	const char *code;
	bool seller_fault;
} spec_3_reasons[] = {
	{"no_longer_needed", false}, {"change_order", false}, {"better_price", false},
	{"seller_asked", true},      {"price_changed", true}, {"out_of_stock", true},
	{"shipping_too_long", true},
};

static void test_spec_3_completed_cancellation_marks_seller_only_for_seller_fault(void **state)
{
	(void)state;
	for (size_t i = 0; i < COUNT(spec_3_reasons); i++) {
		const char *want = spec_3_reasons[i].seller_fault ? M_CANCELLED
					   " seller_fault_cancel/" SELLER
								  : M_CANCELLED;
		struct esc_order o = requested_for(spec_3_reasons[i].code, -1);
		struct esc_effects fx;
		char got[512];
		/* Accepted by the seller, or auto-approved: the same marks. */
		accept_at(ESC_ACTOR_SELLER, T_REQUEST + HOUR, &o, ESC_EV_ACCEPT_CANCELLATION, NULL,
			  &fx);
		marks_str(&fx, got, sizeof got);
		if (!same_tokens(want, got))
			fail_msg("accepted %s: marks [%s], expected [%s]", spec_3_reasons[i].code,
				 got, want);
		accept_at(ESC_ACTOR_SYSTEM, o.due_ms[ESC_DL_RESPONSE], &o, ESC_EV_RESPONSE_DEADLINE,
			  NULL, &fx);
		marks_str(&fx, got, sizeof got);
		if (!same_tokens(want, got))
			fail_msg("auto-approved %s: marks [%s], expected [%s]",
				 spec_3_reasons[i].code, got, want);
	}
}

static void test_spec_2_reject_requires_a_message(void **state)
{
	(void)state;
	struct esc_order o = requested();
	struct esc_args a = good_args();
	a.message = NULL;
	expect_refusal(ESC_EINVAL, ESC_ACTOR_SELLER, T_REQUEST + HOUR, &o,
		       ESC_EV_REJECT_CANCELLATION, &a);
	a.message = "";
	expect_refusal(ESC_EINVAL, ESC_ACTOR_SELLER, T_REQUEST + HOUR, &o,
		       ESC_EV_REJECT_CANCELLATION, &a);
	/* Blank says nothing either. */
	a.message = "  \n\t ";
	expect_refusal(ESC_EINVAL, ESC_ACTOR_SELLER, T_REQUEST + HOUR, &o,
		       ESC_EV_REJECT_CANCELLATION, &a);
	a.message = " ok ";
	struct esc_effects fx;
	accept_at(ESC_ACTOR_SELLER, T_REQUEST + HOUR, &o, ESC_EV_REJECT_CANCELLATION, &a, &fx);
}

/* Reject and withdraw: back to awaiting_shipment, the response deadline
 * gone, the ship deadline as it was (no op touches it). */
static void check_back_to_awaiting_shipment(enum esc_actor actor, enum esc_event ev)
{
	struct esc_order o = requested();
	struct esc_args a = good_args();
	struct esc_effects fx;
	accept_at(actor, T_REQUEST + HOUR, &o, ev, &a, &fx);
	assert_int_equal(fx.order.state, ESC_ST_AWAITING_SHIPMENT);
	assert_true(fx.order.due_ms[ESC_DL_SHIP] == SHIP_DUE);
	assert_true(fx.order.due_ms[ESC_DL_RESPONSE] == 0);
	assert_int_equal(fx.deadlines_count, 1);
	const struct esc_deadline_op *op = find_op(&fx, ESC_DL_RESPONSE, false);
	assert_non_null(op);
	assert_true(op->due_ms == T_REQUEST + 72 * HOUR);
	assert_int_equal(fx.transfers_count, 0);
	assert_int_equal(fx.marks_count, 0);
	assert_false(fx.refund_new);
}

static void test_spec_2_reject_returns_to_awaiting_shipment_ship_deadline_unchanged(void **state)
{
	(void)state;
	check_back_to_awaiting_shipment(ESC_ACTOR_SELLER, ESC_EV_REJECT_CANCELLATION);
}

static void test_spec_2_reject_keeps_the_message_for_the_buyer(void **state)
{
	(void)state;
	struct esc_order o = requested();
	o = reject_on(&o, T_REQUEST + HOUR);
	assert_string_equal(o.reject_message, "Sorry, it is packed already");
}

/* Issue 11 item 1: the rejection's message and the request's comment are
 * messages of the order's conversation, by the seller and the buyer; a
 * request without a comment and a withdrawal carry none. */
static void test_issue_11_item_1_reject_and_comment_carry_a_message(void **state)
{
	(void)state;
	struct esc_order o = requested();
	struct esc_args a = good_args();
	struct esc_effects fx;
	accept_at(ESC_ACTOR_SELLER, T_REQUEST + HOUR, &o, ESC_EV_REJECT_CANCELLATION, &a, &fx);
	assert_true(fx.message_new);
	assert_int_equal(fx.message.role, ESC_ACTOR_SELLER);
	assert_string_equal(fx.message.author_id, SELLER);
	assert_string_equal(fx.message.body, "Sorry, it is packed already");

	accept_at(ESC_ACTOR_BUYER, T_REQUEST + HOUR, &o, ESC_EV_WITHDRAW_CANCELLATION, &a, &fx);
	assert_false(fx.message_new);

	o = paid();
	accept_at(ESC_ACTOR_BUYER, T_REQUEST, &o, ESC_EV_CANCEL, &a, &fx);
	assert_false(fx.message_new);
	a.comment = "Wrong size, sorry";
	accept_at(ESC_ACTOR_BUYER, T_REQUEST, &o, ESC_EV_CANCEL, &a, &fx);
	assert_true(fx.message_new);
	assert_int_equal(fx.message.role, ESC_ACTOR_BUYER);
	assert_string_equal(fx.message.author_id, BUYER);
	assert_string_equal(fx.message.body, "Wrong size, sorry");
}

static void test_spec_2_withdraw_returns_to_awaiting_shipment_ship_deadline_unchanged(void **state)
{
	(void)state;
	check_back_to_awaiting_shipment(ESC_ACTOR_BUYER, ESC_EV_WITHDRAW_CANCELLATION);
}

static void test_spec_2_response_deadline_fires_when_due_and_auto_approves(void **state)
{
	(void)state;
	struct esc_order o = requested();
	struct esc_effects fx;
	int64_t due = o.due_ms[ESC_DL_RESPONSE];
	assert_true(due == T_REQUEST + 72 * HOUR);
	accept_at(ESC_ACTOR_SYSTEM, due, &o, ESC_EV_RESPONSE_DEADLINE, NULL, &fx);
	assert_int_equal(fx.order.state, ESC_ST_CANCELLED);
	assert_string_equal(fx.outbox_type, "cancellation.auto_approved");
	assert_transfers(&fx, T_REFUND);
	assert_true(fx.refund_new);
	assert_true(fx.order.refunded_minor == TOTAL);
}

static void test_spec_2_response_deadline_not_due_a_millisecond_early(void **state)
{
	(void)state;
	struct esc_order o = requested();
	expect_refusal(ESC_ESTATE, ESC_ACTOR_SYSTEM, o.due_ms[ESC_DL_RESPONSE] - 1, &o,
		       ESC_EV_RESPONSE_DEADLINE, NULL);
}

static void test_spec_2_answers_at_or_after_response_deadline_refused(void **state)
{
	(void)state;
	static const struct {
		enum esc_actor actor;
		enum esc_event event;
	} answers[] = {
		{ESC_ACTOR_SELLER, ESC_EV_ACCEPT_CANCELLATION},
		{ESC_ACTOR_SELLER, ESC_EV_REJECT_CANCELLATION},
		{ESC_ACTOR_BUYER, ESC_EV_WITHDRAW_CANCELLATION},
	};
	struct esc_order o = requested();
	struct esc_args a = good_args();
	int64_t due = o.due_ms[ESC_DL_RESPONSE];
	for (size_t i = 0; i < COUNT(answers); i++) {
		expect_refusal(ESC_EDEADLINE, answers[i].actor, due, &o, answers[i].event, &a);
		expect_refusal(ESC_EDEADLINE, answers[i].actor, due + HOUR, &o, answers[i].event,
			       &a);
	}
}

/* --- Shipping ---------------------------------------------------------------- */

static void test_spec_2_ship_requires_carrier_and_tracking(void **state)
{
	(void)state;
	struct esc_order o = paid();
	struct esc_args a = good_args();
	a.carrier = NULL;
	expect_refusal(ESC_EINVAL, ESC_ACTOR_SELLER, T_SHIP, &o, ESC_EV_SHIP, &a);
	a.carrier = "";
	expect_refusal(ESC_EINVAL, ESC_ACTOR_SELLER, T_SHIP, &o, ESC_EV_SHIP, &a);
	a = good_args();
	a.tracking = NULL;
	expect_refusal(ESC_EINVAL, ESC_ACTOR_SELLER, T_SHIP, &o, ESC_EV_SHIP, &a);
	a.tracking = "";
	expect_refusal(ESC_EINVAL, ESC_ACTOR_SELLER, T_SHIP, &o, ESC_EV_SHIP, &a);
}

static void test_spec_2_ship_promises_60_days_and_protects_15_days_more(void **state)
{
	(void)state;
	struct esc_order o = paid();
	struct esc_args a = good_args();
	struct esc_effects fx;
	accept_at(ESC_ACTOR_SELLER, T_SHIP, &o, ESC_EV_SHIP, &a, &fx);
	assert_int_equal(fx.order.state, ESC_ST_SHIPPED);
	assert_true(fx.order.promised_at_ms == T_SHIP + 60 * DAY);
	assert_true(fx.order.due_ms[ESC_DL_PROTECTION] == T_SHIP + 75 * DAY);
	assert_true(fx.order.due_ms[ESC_DL_SHIP] == 0);
	assert_string_equal(fx.order.carrier, "DHL");
	assert_string_equal(fx.order.tracking, "JD014600006281230794");
	assert_non_null(find_op(&fx, ESC_DL_SHIP, false));
	assert_int_equal(fx.transfers_count, 0);
}

static void test_spec_2_ship_promises_the_orders_delivery_days(void **state)
{
	(void)state;
	struct esc_args a = good_args();
	a.delivery_days = 10;
	struct esc_order o = created_with(&a);
	o = paid_from(&o, ESC_METHOD_CARD);
	o = ship_on(&o, T_SHIP);
	assert_true(o.promised_at_ms == T_SHIP + 10 * DAY);
	assert_true(o.due_ms[ESC_DL_PROTECTION] == T_SHIP + 25 * DAY);
}

static void test_spec_2_ship_at_or_after_ship_deadline_refused(void **state)
{
	(void)state;
	struct esc_order o = paid();
	struct esc_args a = good_args();
	expect_refusal(ESC_EDEADLINE, ESC_ACTOR_SELLER, SHIP_DUE, &o, ESC_EV_SHIP, &a);
	expect_refusal(ESC_EDEADLINE, ESC_ACTOR_SELLER, SHIP_DUE + DAY, &o, ESC_EV_SHIP, &a);
	/* The refusal says what happens instead: the deadline acts. */
	struct esc_context c = ctx_of(ESC_ACTOR_SELLER, SHIP_DUE);
	struct esc_effects fx;
	assert_int_equal(esc_decide(&c, &o, ESC_EV_SHIP, &a, NULL, &fx), ESC_EDEADLINE);
	assert_non_null(strstr(fx.refusal_hint, "the ship deadline itself"));
	assert_non_null(strstr(fx.refusal_hint, o.id));
}

static void test_spec_2_ship_while_cancellation_pending_refused(void **state)
{
	(void)state;
	struct esc_order o = requested();
	struct esc_args a = good_args();
	expect_refusal(ESC_EPENDING, ESC_ACTOR_SELLER, T_REQUEST + HOUR, &o, ESC_EV_SHIP, &a);
}

static void test_spec_2_ship_deadline_cancels_refunds_and_counts_against_seller(void **state)
{
	(void)state;
	struct esc_order o = paid();
	struct esc_effects fx;
	accept_at(ESC_ACTOR_SYSTEM, SHIP_DUE, &o, ESC_EV_SHIP_DEADLINE, NULL, &fx);
	assert_int_equal(fx.order.state, ESC_ST_CANCELLED);
	assert_transfers(&fx, T_REFUND);
	assert_true(fx.refund_new);
	assert_marks(&fx, M_MISSED);
}

/* The seller cannot ship while a request is open: the ship deadline
 * passing then grants the request (the reason's fault decides the seller's
 * mark), and is not a missed shipment. */
static void test_spec_2_ship_deadline_during_open_request_grants_it(void **state)
{
	(void)state;
	struct esc_order o = paid();
	struct esc_effects fx;
	o = request_on(&o, SHIP_DUE - HOUR, "no_longer_needed", -1);
	accept_at(ESC_ACTOR_SYSTEM, SHIP_DUE, &o, ESC_EV_SHIP_DEADLINE, NULL, &fx);
	assert_int_equal(fx.order.state, ESC_ST_CANCELLED);
	assert_string_equal(fx.outbox_type, "cancellation.auto_approved");
	assert_transfers(&fx, T_REFUND);
	assert_marks(&fx, M_CANCELLED);
	assert_true(fx.order.due_ms[ESC_DL_RESPONSE] == 0);
}

static void test_spec_2_ship_deadline_not_due_a_millisecond_early(void **state)
{
	(void)state;
	struct esc_order o = paid();
	expect_refusal(ESC_ESTATE, ESC_ACTOR_SYSTEM, SHIP_DUE - 1, &o, ESC_EV_SHIP_DEADLINE, NULL);
}

/* --- Delivery and completion ------------------------------------------------ */

static void test_spec_2_deliver_sets_confirm_deadline_15_days_and_clears_protection(void **state)
{
	(void)state;
	struct esc_order o = shipped();
	struct esc_effects fx;
	accept_at(ESC_ACTOR_OPERATOR, T_DELIVER, &o, ESC_EV_DELIVER, NULL, &fx);
	assert_int_equal(fx.order.state, ESC_ST_DELIVERED);
	assert_true(fx.order.due_ms[ESC_DL_CONFIRM] == T_DELIVER + 15 * DAY);
	assert_true(fx.order.due_ms[ESC_DL_PROTECTION] == 0);
	assert_non_null(find_op(&fx, ESC_DL_PROTECTION, false));
	assert_non_null(find_op(&fx, ESC_DL_CONFIRM, true));
}

static void check_release(const struct esc_effects *fx)
{
	assert_int_equal(fx->order.state, ESC_ST_COMPLETED);
	assert_transfers(fx, T_RELEASE);
	const struct esc_transfer *rel = transfer_of(fx, "release");
	const struct esc_transfer *fee = transfer_of(fx, "fee");
	assert_string_equal(rel->to, "seller:" SELLER);
	assert_true(rel->amount_minor == TOTAL - 617);
	assert_string_equal(fee->to, "platform:fees");
	assert_true(fee->amount_minor == 617);
	assert_string_not_equal(rel->id, fee->id);
	assert_true(fx->order.released_minor == TOTAL);
	assert_true(fx->order.fee_minor == 617);
	assert_true(esc_order_held(&fx->order) == 0);
}

static void test_spec_4_confirm_receipt_releases_to_seller_less_5_percent_fee(void **state)
{
	(void)state;
	struct esc_order o = delivered();
	struct esc_effects fx;
	accept_at(ESC_ACTOR_BUYER, T_CONFIRM, &o, ESC_EV_CONFIRM_RECEIPT, NULL, &fx);
	check_release(&fx);
}

static void test_spec_2_confirm_receipt_when_shipped_completes(void **state)
{
	(void)state;
	struct esc_order o = shipped();
	struct esc_effects fx;
	accept_at(ESC_ACTOR_BUYER, T_SHIP + DAY, &o, ESC_EV_CONFIRM_RECEIPT, NULL, &fx);
	check_release(&fx);
}

static void test_spec_2_protection_deadline_completes_as_confirm_receipt(void **state)
{
	(void)state;
	struct esc_order o = shipped();
	struct esc_effects fx;
	int64_t due = o.due_ms[ESC_DL_PROTECTION];
	expect_refusal(ESC_ESTATE, ESC_ACTOR_SYSTEM, due - 1, &o, ESC_EV_PROTECTION_DEADLINE, NULL);
	accept_at(ESC_ACTOR_SYSTEM, due, &o, ESC_EV_PROTECTION_DEADLINE, NULL, &fx);
	check_release(&fx);
}

static void test_spec_2_confirm_deadline_completes_as_confirm_receipt(void **state)
{
	(void)state;
	struct esc_order o = delivered();
	struct esc_effects fx;
	int64_t due = o.due_ms[ESC_DL_CONFIRM];
	expect_refusal(ESC_ESTATE, ESC_ACTOR_SYSTEM, due - 1, &o, ESC_EV_CONFIRM_DEADLINE, NULL);
	accept_at(ESC_ACTOR_SYSTEM, due, &o, ESC_EV_CONFIRM_DEADLINE, NULL, &fx);
	check_release(&fx);
}

static void test_spec_4_fee_rounds_half_even(void **state)
{
	(void)state;
	/* 5 % of 12330 is 616.5 -> 616; of 12350 is 617.5 -> 618. */
	static const struct {
		int64_t total, fee;
	} cases[] = {{12330, 616}, {12350, 618}, {10, 0}, {30, 2}};
	for (size_t i = 0; i < COUNT(cases); i++) {
		struct esc_item item = {"Teapot", 1, cases[i].total, ""};
		struct esc_args a = good_args();
		struct esc_effects fx;
		a.items = &item;
		a.items_count = 1;
		struct esc_order o = created_with(&a);
		o = paid_from(&o, ESC_METHOD_CARD);
		o = ship_on(&o, T_SHIP);
		accept_at(ESC_ACTOR_BUYER, T_SHIP + DAY, &o, ESC_EV_CONFIRM_RECEIPT, NULL, &fx);
		if (fx.order.fee_minor != cases[i].fee)
			fail_msg("total %lld: fee %lld, expected %lld", (long long)cases[i].total,
				 (long long)fx.order.fee_minor, (long long)cases[i].fee);
	}
}

static void test_spec_2_final_states_have_no_deadline(void **state)
{
	(void)state;
	struct esc_order o = requested(), finals[4];
	struct esc_effects fx;
	finals[0] = completed();
	finals[1] = cancelled_unpaid();
	accept_at(ESC_ACTOR_SELLER, T_REQUEST + HOUR, &o, ESC_EV_ACCEPT_CANCELLATION, NULL, &fx);
	finals[2] = fx.order;
	o = paid();
	accept_at(ESC_ACTOR_SYSTEM, SHIP_DUE, &o, ESC_EV_SHIP_DEADLINE, NULL, &fx);
	finals[3] = fx.order;
	for (size_t i = 0; i < COUNT(finals); i++)
		for (int k = 0; k < ESC_DL_ORDER_COUNT; k++)
			assert_true(finals[i].due_ms[k] == 0);
}

/* --- Access (SPEC §1) ------------------------------------------------------- */

static void test_spec_1_another_buyer_gets_not_found(void **state)
{
	(void)state;
	struct esc_order o = paid();
	struct esc_args a = good_args();
	struct esc_context c = ctx_of(ESC_ACTOR_BUYER, T_REQUEST);
	c.actor_id = OTHER;
	expect_refusal_in(ESC_ENOTFOUND, &c, &o, ESC_EV_CANCEL, &a, NULL);
	o = shipped();
	expect_refusal_in(ESC_ENOTFOUND, &c, &o, ESC_EV_CONFIRM_RECEIPT, &a, NULL);
}

static void test_spec_1_another_seller_gets_not_found(void **state)
{
	(void)state;
	struct esc_order o = paid();
	struct esc_args a = good_args();
	struct esc_context c = ctx_of(ESC_ACTOR_SELLER, T_SHIP);
	c.actor_id = OTHER;
	expect_refusal_in(ESC_ENOTFOUND, &c, &o, ESC_EV_SHIP, &a, NULL);
	o = requested();
	expect_refusal_in(ESC_ENOTFOUND, &c, &o, ESC_EV_ACCEPT_CANCELLATION, &a, NULL);
}

static void test_spec_1_the_seller_is_not_the_buyer_of_their_order(void **state)
{
	(void)state;
	struct esc_order o = paid();
	struct esc_args a = good_args();
	struct esc_context c = ctx_of(ESC_ACTOR_BUYER, T_REQUEST);
	c.actor_id = SELLER;
	expect_refusal_in(ESC_ENOTFOUND, &c, &o, ESC_EV_CANCEL, &a, NULL);
}

/* --- Refunds (SPEC §4) ------------------------------------------------------ */

/* A card-paid order cancelled at T_REQUEST + 1h: the order and its pending
 * refund. */
static void accepted_with_refund(struct esc_order *o, struct esc_refund *r)
{
	struct esc_order req = requested();
	struct esc_effects fx;
	accept_at(ESC_ACTOR_SELLER, T_REQUEST + HOUR, &req, ESC_EV_ACCEPT_CANCELLATION, NULL, &fx);
	assert_true(fx.refund_new);
	*o = fx.order;
	*r = fx.refund;
}

static void refund_event(enum esc_actor actor, int64_t now, const struct esc_order *o,
			 enum esc_event ev, const struct esc_refund *r, struct esc_effects *fx)
{
	struct esc_context c = ctx_of(actor, now);
	struct esc_args a = good_args();
	a.refund_id = r->id;
	accept_in(&c, o, ev, &a, r, fx);
}

static void test_spec_4_refund_settled_moves_in_transit_to_external(void **state)
{
	(void)state;
	struct esc_order o;
	struct esc_refund r;
	struct esc_effects fx;
	int64_t now = T_REQUEST + 4 * DAY;
	accepted_with_refund(&o, &r);
	refund_event(ESC_ACTOR_OPERATOR, now, &o, ESC_EV_REFUND_SETTLED, &r, &fx);
	assert_transfers(&fx, "settle/refunds_in_transit>external/" TOTAL_S);
	assert_string_equal(fx.transfers[0].id, REFUND1 "/settle");
	assert_true(fx.refund_changed);
	assert_int_equal(fx.refund.status, ESC_REFUND_SETTLED);
	assert_true(fx.refund.resolved_at_ms == now);
	assert_true(fx.refund.alert_due_ms == 0);
	assert_int_equal(fx.order.state, ESC_ST_CANCELLED);
	assert_string_equal(fx.outbox_type, "refund.settled");
}

static void test_spec_4_refund_settled_deletes_its_alert(void **state)
{
	(void)state;
	struct esc_order o;
	struct esc_refund r;
	struct esc_effects fx;
	accepted_with_refund(&o, &r);
	refund_event(ESC_ACTOR_OPERATOR, T_REQUEST + 4 * DAY, &o, ESC_EV_REFUND_SETTLED, &r, &fx);
	assert_int_equal(fx.deadlines_count, 1);
	const struct esc_deadline_op *op = find_op(&fx, ESC_DL_REFUND, false);
	assert_non_null(op);
	assert_string_equal(op->ref, REFUND1);
	assert_true(op->due_ms == r.alert_due_ms);
}

static void test_spec_4_refund_failed_moves_in_transit_to_buyer_balance(void **state)
{
	(void)state;
	struct esc_order o;
	struct esc_refund r;
	struct esc_effects fx;
	accepted_with_refund(&o, &r);
	refund_event(ESC_ACTOR_OPERATOR, T_REQUEST + 4 * DAY, &o, ESC_EV_REFUND_FAILED, &r, &fx);
	assert_transfers(&fx, "fail/refunds_in_transit>buyer:" BUYER "/" TOTAL_S);
	assert_int_equal(fx.refund.status, ESC_REFUND_FAILED);
	assert_non_null(find_op(&fx, ESC_DL_REFUND, false));
	assert_string_equal(fx.outbox_type, "refund.failed");
}

static void test_spec_4_refund_settled_twice_refused(void **state)
{
	(void)state;
	struct esc_order o;
	struct esc_refund r;
	struct esc_effects fx;
	struct esc_context c = ctx_of(ESC_ACTOR_OPERATOR, T_REQUEST + 5 * DAY);
	accepted_with_refund(&o, &r);
	refund_event(ESC_ACTOR_OPERATOR, T_REQUEST + 4 * DAY, &o, ESC_EV_REFUND_SETTLED, &r, &fx);
	expect_refusal_in(ESC_ESTATE, &c, &fx.order, ESC_EV_REFUND_SETTLED, NULL, &fx.refund);
	expect_refusal_in(ESC_ESTATE, &c, &fx.order, ESC_EV_REFUND_FAILED, NULL, &fx.refund);
}

static void test_spec_4_refund_overdue_alert_raised_only_when_due(void **state)
{
	(void)state;
	struct esc_order o;
	struct esc_refund r;
	struct esc_effects fx;
	accepted_with_refund(&o, &r);
	assert_true(r.alert_due_ms == T_REQUEST + HOUR + 10 * DAY);
	struct esc_context early = ctx_of(ESC_ACTOR_SYSTEM, r.alert_due_ms - 1);
	expect_refusal_in(ESC_ESTATE, &early, &o, ESC_EV_REFUND_OVERDUE, NULL, &r);
	refund_event(ESC_ACTOR_SYSTEM, r.alert_due_ms, &o, ESC_EV_REFUND_OVERDUE, &r, &fx);
	assert_string_equal(fx.outbox_type, "refund.overdue");
	assert_int_equal(fx.transfers_count, 0);
	assert_int_equal(fx.refund.status, ESC_REFUND_PENDING);
	assert_true(fx.refund.alert_due_ms == 0);
	assert_non_null(find_op(&fx, ESC_DL_REFUND, false));
}

static void test_spec_4_refund_overdue_alert_raised_once(void **state)
{
	(void)state;
	struct esc_order o;
	struct esc_refund r;
	struct esc_effects fx;
	accepted_with_refund(&o, &r);
	refund_event(ESC_ACTOR_SYSTEM, r.alert_due_ms, &o, ESC_EV_REFUND_OVERDUE, &r, &fx);
	struct esc_context later = ctx_of(ESC_ACTOR_SYSTEM, r.alert_due_ms + DAY);
	expect_refusal_in(ESC_ESTATE, &later, &fx.order, ESC_EV_REFUND_OVERDUE, NULL, &fx.refund);
}

static void test_spec_4_refund_of_another_order_not_found(void **state)
{
	(void)state;
	struct esc_order o;
	struct esc_refund r;
	accepted_with_refund(&o, &r);
	snprintf(r.order_id, sizeof r.order_id, "%s", "ord_someoneelse");
	struct esc_context c = ctx_of(ESC_ACTOR_OPERATOR, T_REQUEST + DAY);
	expect_refusal_in(ESC_ENOTFOUND, &c, &o, ESC_EV_REFUND_SETTLED, NULL, &r);
	expect_refusal_in(ESC_ENOTFOUND, &c, &o, ESC_EV_REFUND_SETTLED, NULL, NULL);
}

/* --- Disputes (SPEC §5) ------------------------------------------------------ */

static void test_spec_5_open_dispute_records_it_and_marks_the_buyer(void **state)
{
	(void)state;
	struct esc_order o = shipped_of(T10K);
	struct esc_args a = dispute_args("invalid_tracking", 4000);
	struct esc_effects fx;
	a.outcome = "return_and_refund";
	accept_at(ESC_ACTOR_BUYER, T_DISPUTE, &o, ESC_EV_OPEN_DISPUTE, &a, &fx);
	assert_int_equal(fx.order.state, ESC_ST_IN_DISPUTE);
	assert_string_equal(fx.outbox_type, "dispute.opened");
	assert_int_equal(fx.order.disputes_count, 1);
	assert_string_equal(fx.order.dispute_ground, "invalid_tracking");
	assert_string_equal(fx.order.dispute_outcome, "return_and_refund");
	assert_true(fx.order.dispute_amount_minor == 4000);
	assert_true(fx.order.dispute_opened_at_ms == T_DISPUTE);
	assert_true(esc_order_held(&fx.order) == T10K);
	assert_int_equal(fx.transfers_count, 0);
	assert_false(fx.refund_new);
	assert_marks(&fx, M_OPENED);
}

static void test_spec_5_not_delivered_before_the_promised_date_refused(void **state)
{
	(void)state;
	struct esc_order o = shipped();
	struct esc_args a = dispute_args("not_delivered", TOTAL);
	expect_refusal(ESC_ESTATE, ESC_ACTOR_BUYER, T_SHIP + HOUR, &o, ESC_EV_OPEN_DISPUTE, &a);
	expect_refusal(ESC_ESTATE, ESC_ACTOR_BUYER, o.promised_at_ms - 1, &o, ESC_EV_OPEN_DISPUTE,
		       &a);
}

static void test_spec_5_not_delivered_at_the_promised_date_allowed(void **state)
{
	(void)state;
	struct esc_order o = shipped();
	struct esc_args a = dispute_args("not_delivered", TOTAL);
	struct esc_effects fx;
	assert_true(o.promised_at_ms == T_SHIP + 60 * DAY);
	accept_at(ESC_ACTOR_BUYER, o.promised_at_ms, &o, ESC_EV_OPEN_DISPUTE, &a, &fx);
	assert_int_equal(fx.order.state, ESC_ST_IN_DISPUTE);
	assert_string_equal(fx.order.dispute_ground, "not_delivered");
	/* And any time after it, up to the protection deadline. */
	accept_at(ESC_ACTOR_BUYER, o.due_ms[ESC_DL_PROTECTION] - 1, &o, ESC_EV_OPEN_DISPUTE, &a,
		  &fx);
	assert_int_equal(fx.order.state, ESC_ST_IN_DISPUTE);
}

/* Delivered means it arrived: not_delivered is refused, even when the
 * delivery came after the promised date, and once that order completed. */
static void test_spec_5_not_delivered_from_delivered_or_completed_refused(void **state)
{
	(void)state;
	struct esc_args a = dispute_args("not_delivered", TOTAL);
	struct esc_args c = good_args();
	struct esc_order o = delivered();
	expect_refusal(ESC_ESTATE, ESC_ACTOR_BUYER, T_DELIVER + HOUR, &o, ESC_EV_OPEN_DISPUTE, &a);
	c.delivery_days = 1;
	o = created_with(&c);
	o = paid_from(&o, ESC_METHOD_CARD);
	o = ship_on(&o, T_SHIP);
	o = apply(&o, ESC_ACTOR_OPERATOR, T_DELIVER, ESC_EV_DELIVER, NULL);
	assert_true(T_DELIVER > o.promised_at_ms);
	expect_refusal(ESC_ESTATE, ESC_ACTOR_BUYER, T_DELIVER + HOUR, &o, ESC_EV_OPEN_DISPUTE, &a);
	o = completed();
	expect_refusal(ESC_ESTATE, ESC_ACTOR_BUYER, T_CONFIRM + HOUR, &o, ESC_EV_OPEN_DISPUTE, &a);
	/* Confirmed straight from shipped, after the promised date: the
	 * buyer said it arrived. */
	o = created_with(&c);
	o = paid_from(&o, ESC_METHOD_CARD);
	o = ship_on(&o, T_SHIP);
	o = apply(&o, ESC_ACTOR_BUYER, T_SHIP + 2 * DAY, ESC_EV_CONFIRM_RECEIPT, NULL);
	assert_true(o.delivered_at_ms == T_SHIP + 2 * DAY);
	expect_refusal(ESC_ESTATE, ESC_ACTOR_BUYER, T_SHIP + 2 * DAY + HOUR, &o,
		       ESC_EV_OPEN_DISPUTE, &a);
}

/* Completed by the protection deadline without a delivery: the parcel
 * never came, and within 15 days the buyer may still say so. */
static void test_spec_5_not_delivered_on_an_order_completed_without_delivery(void **state)
{
	(void)state;
	struct esc_args a = dispute_args("not_delivered", TOTAL);
	struct esc_order o = shipped();
	int64_t due = o.due_ms[ESC_DL_PROTECTION];
	o = apply(&o, ESC_ACTOR_SYSTEM, due, ESC_EV_PROTECTION_DEADLINE, NULL);
	assert_int_equal(o.state, ESC_ST_COMPLETED);
	assert_true(o.delivered_at_ms == 0);
	struct esc_effects fx;
	accept_at(ESC_ACTOR_BUYER, due + DAY, &o, ESC_EV_OPEN_DISPUTE, &a, &fx);
	assert_int_equal(fx.order.state, ESC_ST_IN_DISPUTE);
	assert_true(esc_order_held(&fx.order) == TOTAL); /* clawed back */
	expect_refusal(ESC_EDEADLINE, ESC_ACTOR_BUYER, due + 15 * DAY, &o, ESC_EV_OPEN_DISPUTE, &a);
	/* The refusal says the policy's window, whatever it is. */
	struct esc_policy twenty = policy;
	twenty.dispute_after_completion_ms = 20 * DAY;
	struct esc_context c = ctx_of(ESC_ACTOR_BUYER, due + 20 * DAY);
	c.policy = &twenty;
	assert_int_equal(esc_decide(&c, &o, ESC_EV_OPEN_DISPUTE, &a, NULL, &fx), ESC_EDEADLINE);
	assert_string_equal(fx.refusal_message,
			    "a completed order can be disputed within 20 days of completion");
}

static void
test_spec_5_invalid_tracking_and_not_as_described_open_from_shipped_and_delivered(void **state)
{
	(void)state;
	static const char *const grounds[] = {"invalid_tracking", "not_as_described"};
	for (size_t i = 0; i < COUNT(grounds); i++) {
		struct esc_args a = dispute_args(grounds[i], TOTAL);
		struct esc_order from[2];
		int64_t at[2] = {T_SHIP + HOUR, T_DELIVER + HOUR};
		from[0] = shipped();
		from[1] = delivered();
		for (size_t j = 0; j < COUNT(from); j++) {
			struct esc_effects fx;
			accept_at(ESC_ACTOR_BUYER, at[j], &from[j], ESC_EV_OPEN_DISPUTE, &a, &fx);
			assert_int_equal(fx.order.state, ESC_ST_IN_DISPUTE);
			assert_string_equal(fx.order.dispute_ground, grounds[i]);
		}
	}
}

static void test_spec_5_unknown_ground_refused_invalid(void **state)
{
	(void)state;
	static const char *const bad[] = {"lost_in_post", "", "NOT_DELIVERED"};
	struct esc_order o = shipped();
	for (size_t i = 0; i < COUNT(bad); i++) {
		struct esc_args a = dispute_args(bad[i], TOTAL);
		expect_refusal(ESC_EINVAL, ESC_ACTOR_BUYER, T_DISPUTE, &o, ESC_EV_OPEN_DISPUTE, &a);
	}
	struct esc_args a = dispute_args(NULL, TOTAL);
	expect_refusal(ESC_EINVAL, ESC_ACTOR_BUYER, T_DISPUTE, &o, ESC_EV_OPEN_DISPUTE, &a);
}

static void test_spec_5_outcome_must_be_refund_only_or_return_and_refund(void **state)
{
	(void)state;
	struct esc_order o = shipped();
	struct esc_args a = good_args();
	struct esc_effects fx;
	a.outcome = "replacement";
	expect_refusal(ESC_EINVAL, ESC_ACTOR_BUYER, T_DISPUTE, &o, ESC_EV_OPEN_DISPUTE, &a);
	a.outcome = NULL;
	expect_refusal(ESC_EINVAL, ESC_ACTOR_BUYER, T_DISPUTE, &o, ESC_EV_OPEN_DISPUTE, &a);
	a.outcome = "return_and_refund";
	accept_at(ESC_ACTOR_BUYER, T_DISPUTE, &o, ESC_EV_OPEN_DISPUTE, &a, &fx);
	a.outcome = "refund_only";
	accept_at(ESC_ACTOR_BUYER, T_DISPUTE, &o, ESC_EV_OPEN_DISPUTE, &a, &fx);
}

static void test_spec_5_dispute_requires_a_description(void **state)
{
	(void)state;
	struct esc_order o = shipped();
	struct esc_args a = good_args();
	a.description = NULL;
	expect_refusal(ESC_EINVAL, ESC_ACTOR_BUYER, T_DISPUTE, &o, ESC_EV_OPEN_DISPUTE, &a);
	a.description = "";
	expect_refusal(ESC_EINVAL, ESC_ACTOR_BUYER, T_DISPUTE, &o, ESC_EV_OPEN_DISPUTE, &a);
}

/* Up to what is still in escrow; on a completed order, what was paid (the
 * release comes back). */
static void test_spec_5_dispute_amount_from_1_to_what_was_paid(void **state)
{
	(void)state;
	static const int64_t bad[] = {0, -1, T10K + 1};
	struct esc_order from[2];
	int64_t at[2] = {T_DISPUTE, T_CONFIRM + HOUR};
	from[0] = shipped_of(T10K);
	from[1] = completed_of(T10K);
	for (size_t j = 0; j < COUNT(from); j++) {
		struct esc_effects fx;
		for (size_t i = 0; i < COUNT(bad); i++) {
			struct esc_args a = dispute_args("not_as_described", bad[i]);
			expect_refusal(ESC_EINVAL, ESC_ACTOR_BUYER, at[j], &from[j],
				       ESC_EV_OPEN_DISPUTE, &a);
		}
		struct esc_args a = dispute_args("not_as_described", 1);
		accept_at(ESC_ACTOR_BUYER, at[j], &from[j], ESC_EV_OPEN_DISPUTE, &a, &fx);
		assert_true(fx.order.dispute_amount_minor == 1);
		a.amount_minor = T10K;
		accept_at(ESC_ACTOR_BUYER, at[j], &from[j], ESC_EV_OPEN_DISPUTE, &a, &fx);
		assert_true(fx.order.dispute_amount_minor == T10K);
	}
}

/* A second dispute cannot follow a resolution (the order is final, and a
 * completed order that had one answers limit_reached); a shipped or
 * delivered order that says it had one is refused too. */
static void test_spec_5_one_dispute_per_order(void **state)
{
	(void)state;
	struct esc_order o = shipped();
	struct esc_args a = good_args();
	struct esc_effects fx;
	o.disputes_count = 1;
	expect_refusal(ESC_ELIMIT, ESC_ACTOR_BUYER, T_DISPUTE, &o, ESC_EV_OPEN_DISPUTE, &a);
	o = delivered();
	o.disputes_count = 1;
	expect_refusal(ESC_ELIMIT, ESC_ACTOR_BUYER, T_DELIVER + HOUR, &o, ESC_EV_OPEN_DISPUTE, &a);
	/* Resolved with a partial refund: completed, but not open to another. */
	o = disputed_of(T10K, "not_as_described", 4000);
	expect_refusal(ESC_ESTATE, ESC_ACTOR_BUYER, T_DISPUTE + HOUR, &o, ESC_EV_OPEN_DISPUTE, &a);
	resolve_in(&o, 1000, &fx);
	assert_int_equal(fx.order.state, ESC_ST_COMPLETED);
	a.amount_minor = 1;
	expect_refusal(ESC_ELIMIT, ESC_ACTOR_BUYER, T_RESOLVE + HOUR, &fx.order,
		       ESC_EV_OPEN_DISPUTE, &a);
}

static void test_spec_6_suspended_buyer_cannot_open_a_dispute(void **state)
{
	(void)state;
	struct esc_order from[3];
	int64_t at[3] = {T_DISPUTE, T_DELIVER + HOUR, T_CONFIRM + HOUR};
	struct esc_args a = good_args();
	from[0] = shipped();
	from[1] = delivered();
	from[2] = completed();
	for (size_t i = 0; i < COUNT(from); i++) {
		struct esc_context c = ctx_of(ESC_ACTOR_BUYER, at[i]);
		c.buyer_level = ESC_LEVEL_SUSPENDED;
		expect_refusal_in(ESC_ESUSPENDED, &c, &from[i], ESC_EV_OPEN_DISPUTE, &a, NULL);
	}
}

static void test_spec_2_open_dispute_at_or_after_the_protection_deadline_refused(void **state)
{
	(void)state;
	static const char *const grounds[] = {"invalid_tracking", "not_as_described",
					      "not_delivered"};
	struct esc_order o = shipped();
	int64_t due = o.due_ms[ESC_DL_PROTECTION];
	for (size_t i = 0; i < COUNT(grounds); i++) {
		struct esc_args a = dispute_args(grounds[i], TOTAL);
		struct esc_effects fx;
		expect_refusal(ESC_EDEADLINE, ESC_ACTOR_BUYER, due, &o, ESC_EV_OPEN_DISPUTE, &a);
		expect_refusal(ESC_EDEADLINE, ESC_ACTOR_BUYER, due + DAY, &o, ESC_EV_OPEN_DISPUTE,
			       &a);
		accept_at(ESC_ACTOR_BUYER, due - 1, &o, ESC_EV_OPEN_DISPUTE, &a, &fx);
	}
}

static void test_spec_2_open_dispute_at_or_after_the_confirm_deadline_refused(void **state)
{
	(void)state;
	struct esc_order o = delivered();
	struct esc_args a = good_args();
	struct esc_effects fx;
	int64_t due = o.due_ms[ESC_DL_CONFIRM];
	expect_refusal(ESC_EDEADLINE, ESC_ACTOR_BUYER, due, &o, ESC_EV_OPEN_DISPUTE, &a);
	expect_refusal(ESC_EDEADLINE, ESC_ACTOR_BUYER, due + DAY, &o, ESC_EV_OPEN_DISPUTE, &a);
	accept_at(ESC_ACTOR_BUYER, due - 1, &o, ESC_EV_OPEN_DISPUTE, &a, &fx);
}

static void test_spec_2_open_dispute_pauses_protection_keeping_the_time_left(void **state)
{
	(void)state;
	struct esc_order o = shipped();
	struct esc_args a = good_args();
	struct esc_effects fx;
	int64_t due = o.due_ms[ESC_DL_PROTECTION];
	accept_at(ESC_ACTOR_BUYER, T_DISPUTE, &o, ESC_EV_OPEN_DISPUTE, &a, &fx);
	assert_true(fx.order.due_ms[ESC_DL_PROTECTION] == 0);
	assert_true(fx.order.dispute_paused_ms == due - T_DISPUTE);
	assert_int_equal(fx.deadlines_count, 2);
	const struct esc_deadline_op *op = find_op(&fx, ESC_DL_PROTECTION, false);
	assert_non_null(op);
	assert_true(op->due_ms == due);
	/* The seller's window opens instead. */
	op = find_op(&fx, ESC_DL_DISPUTE, true);
	assert_non_null(op);
	assert_true(op->due_ms == T_DISPUTE + 5 * DAY);
	for (int k = 0; k < ESC_DL_ORDER_COUNT; k++)
		assert_true(fx.order.due_ms[k] == (k == ESC_DL_DISPUTE ? op->due_ms : 0));
}

static void test_spec_2_open_dispute_pauses_confirm_keeping_the_time_left(void **state)
{
	(void)state;
	struct esc_order o = delivered();
	struct esc_args a = good_args();
	struct esc_effects fx;
	int64_t due = o.due_ms[ESC_DL_CONFIRM], now = T_DELIVER + 2 * DAY;
	accept_at(ESC_ACTOR_BUYER, now, &o, ESC_EV_OPEN_DISPUTE, &a, &fx);
	assert_true(fx.order.due_ms[ESC_DL_CONFIRM] == 0);
	assert_true(fx.order.dispute_paused_ms == due - now);
	assert_true(fx.order.dispute_paused_ms == 13 * DAY);
	assert_int_equal(fx.deadlines_count, 2);
	const struct esc_deadline_op *op = find_op(&fx, ESC_DL_CONFIRM, false);
	assert_non_null(op);
	assert_true(op->due_ms == due);
}

/* 10000 released as 9500 to the seller and 500 fee: both come back. */
static void test_spec_2_completed_order_disputed_within_15_days_claws_back_the_release(void **state)
{
	(void)state;
	struct esc_order o = completed_of(T10K);
	struct esc_args a = dispute_args("not_as_described", T10K);
	struct esc_effects fx;
	assert_true(o.ended_at_ms == T_CONFIRM);
	assert_true(o.released_minor == T10K && o.fee_minor == 500);
	accept_at(ESC_ACTOR_BUYER, T_CONFIRM + 15 * DAY - 1, &o, ESC_EV_OPEN_DISPUTE, &a, &fx);
	assert_int_equal(fx.order.state, ESC_ST_IN_DISPUTE);
	assert_transfers(&fx, "clawback/seller:" SELLER ">" ESCROW "/9500"
			      " fee_reversal/platform:fees>" ESCROW "/500");
	const struct esc_transfer *back = transfer_of(&fx, "clawback");
	const struct esc_transfer *fee = transfer_of(&fx, "fee_reversal");
	assert_string_equal(back->id, ORDER_ID "/clawback");
	assert_string_equal(fee->id, ORDER_ID "/fee-reversal");
	assert_string_equal(back->currency, "EUR");
	assert_true(fx.order.released_minor == 0);
	assert_true(fx.order.fee_minor == 0);
	assert_true(esc_order_held(&fx.order) == T10K);
	assert_true(fx.order.ended_at_ms == 0);
	assert_int_equal(fx.deadlines_count, 1); /* the seller's window */
	assert_marks(&fx, M_OPENED);
}

static void test_spec_2_completed_order_dispute_at_15_days_refused(void **state)
{
	(void)state;
	struct esc_order o = completed_of(T10K);
	struct esc_args a = dispute_args("not_as_described", T10K);
	expect_refusal(ESC_EDEADLINE, ESC_ACTOR_BUYER, T_CONFIRM + 15 * DAY, &o,
		       ESC_EV_OPEN_DISPUTE, &a);
	expect_refusal(ESC_EDEADLINE, ESC_ACTOR_BUYER, T_CONFIRM + 30 * DAY, &o,
		       ESC_EV_OPEN_DISPUTE, &a);
}

static void test_spec_5_full_refund_closes_the_order(void **state)
{
	(void)state;
	struct esc_order o = disputed_of(T10K, "not_as_described", T10K);
	struct esc_effects fx;
	resolve_in(&o, T10K, &fx);
	assert_int_equal(fx.order.state, ESC_ST_CLOSED);
	assert_string_equal(fx.outbox_type, "dispute.resolved");
	assert_transfers(&fx, "refund/" ESCROW ">refunds_in_transit/10000");
	assert_true(fx.refund_new);
	assert_true(fx.refund.amount_minor == T10K);
	assert_int_equal(fx.refund.status, ESC_REFUND_PENDING);
	assert_int_equal(fx.refund.method, ESC_METHOD_CARD);
	assert_true(fx.order.refunded_minor == T10K);
	assert_true(fx.order.released_minor == 0);
	assert_true(fx.order.fee_minor == 0);
	assert_true(fx.order.dispute_refund_minor == T10K);
	assert_true(esc_order_held(&fx.order) == 0);
	assert_true(fx.order.ended_at_ms == T_RESOLVE);
	assert_marks(&fx, M_SELLER_LOST);
}

static void test_spec_5_partial_refund_completes_and_releases_the_rest_less_the_fee(void **state)
{
	(void)state;
	struct esc_order o = disputed_of(T10K, "not_as_described", T10K);
	struct esc_effects fx;
	resolve_in(&o, 4000, &fx);
	assert_int_equal(fx.order.state, ESC_ST_COMPLETED);
	assert_string_equal(fx.outbox_type, "dispute.resolved");
	assert_transfers(&fx, "refund/" ESCROW ">refunds_in_transit/4000"
			      " release/" ESCROW ">seller:" SELLER "/5700"
			      " fee/" ESCROW ">platform:fees/300");
	assert_string_equal(transfer_of(&fx, "refund")->id, REFUND1);
	assert_string_equal(transfer_of(&fx, "release")->id, ORDER_ID "/release/after-dispute");
	assert_string_equal(transfer_of(&fx, "fee")->id, ORDER_ID "/fee/after-dispute");
	/* The refund goes to the card, pending, with its alert. */
	assert_true(fx.refund_new);
	assert_string_equal(fx.refund.id, REFUND1);
	assert_true(fx.refund.amount_minor == 4000);
	assert_int_equal(fx.refund.method, ESC_METHOD_CARD);
	assert_int_equal(fx.refund.status, ESC_REFUND_PENDING);
	assert_true(fx.refund.alert_due_ms == T_RESOLVE + 10 * DAY);
	const struct esc_deadline_op *op = find_op(&fx, ESC_DL_REFUND, true);
	assert_non_null(op);
	assert_string_equal(op->ref, REFUND1);
	assert_true(op->due_ms == T_RESOLVE + 10 * DAY);
	assert_true(fx.order.refunded_minor == 4000);
	assert_true(fx.order.released_minor == 6000);
	assert_true(fx.order.fee_minor == 300);
	assert_true(fx.order.dispute_refund_minor == 4000);
	assert_true(esc_order_held(&fx.order) == 0);
	assert_marks(&fx, M_SELLER_LOST);
}

static void test_spec_4_fee_on_the_rest_after_a_dispute_rounds_half_even(void **state)
{
	(void)state;
	/* 5 % of 6990 is 349.5 -> 350; of 6970 is 348.5 -> 348. */
	static const struct {
		int64_t refund, fee;
	} cases[] = {{3010, 350}, {3030, 348}, {9990, 0}, {9970, 2}};
	for (size_t i = 0; i < COUNT(cases); i++) {
		struct esc_order o = disputed_of(T10K, "not_as_described", T10K);
		struct esc_effects fx;
		resolve_in(&o, cases[i].refund, &fx);
		if (fx.order.fee_minor != cases[i].fee)
			fail_msg("refund %lld: fee %lld, expected %lld", (long long)cases[i].refund,
				 (long long)fx.order.fee_minor, (long long)cases[i].fee);
		if (transfer_of(&fx, "release")->amount_minor !=
		    T10K - cases[i].refund - cases[i].fee)
			fail_msg("refund %lld: the seller gets %lld", (long long)cases[i].refund,
				 (long long)transfer_of(&fx, "release")->amount_minor);
	}
}

static void
test_spec_5_zero_refund_completes_with_full_release_and_counts_against_buyer(void **state)
{
	(void)state;
	struct esc_order o = disputed_of(T10K, "invalid_tracking", T10K);
	struct esc_effects fx;
	resolve_in(&o, 0, &fx);
	assert_int_equal(fx.order.state, ESC_ST_COMPLETED);
	assert_transfers(&fx, "release/" ESCROW ">seller:" SELLER "/9500"
			      " fee/" ESCROW ">platform:fees/500");
	assert_false(fx.refund_new);
	assert_null(find_op(&fx, ESC_DL_REFUND, true));
	assert_true(fx.order.refunded_minor == 0);
	assert_true(fx.order.released_minor == T10K);
	assert_true(fx.order.dispute_refund_minor == 0);
	/* Lost on invalid_tracking: nothing against the seller. */
	assert_marks(&fx, M_BUYER_LOST);
}

/* Any refund is a dispute the seller lost; on invalid_tracking it also
 * counts as an invalid tracking number (SPEC §6). */
static void test_spec_6_dispute_lost_on_invalid_tracking_counts_invalid_tracking(void **state)
{
	(void)state;
	static const int64_t refunds[] = {1, 4000, T10K};
	for (size_t i = 0; i < COUNT(refunds); i++) {
		struct esc_order o = disputed_of(T10K, "invalid_tracking", T10K);
		struct esc_effects fx;
		resolve_in(&o, refunds[i], &fx);
		assert_marks(&fx, M_SELLER_LOST " seller_invalid_tracking/" SELLER);
		o = disputed_of(T10K, "not_as_described", T10K);
		resolve_in(&o, refunds[i], &fx);
		assert_marks(&fx, M_SELLER_LOST);
	}
}

static void test_spec_5_resolution_refund_above_the_amount_asked_refused(void **state)
{
	(void)state;
	struct esc_order o = disputed_of(T10K, "not_as_described", 4000);
	struct esc_order e = escalated_from(&o);
	struct esc_effects fx;
	struct esc_args a = decision_args(4001);
	expect_refusal(ESC_EINVAL, ESC_ACTOR_ARBITER, T_RESOLVE, &e, ESC_EV_RESOLVE_DISPUTE, &a);
	a = decision_args(-1);
	expect_refusal(ESC_EINVAL, ESC_ACTOR_ARBITER, T_RESOLVE, &e, ESC_EV_RESOLVE_DISPUTE, &a);
	/* All that was asked, less than held: the rest is released. */
	resolve_in(&o, 4000, &fx);
	assert_int_equal(fx.order.state, ESC_ST_COMPLETED);
	assert_true(fx.order.released_minor == 6000);
}

static void test_spec_5_resolution_requires_a_written_reason(void **state)
{
	(void)state;
	struct esc_order d = disputed_of(T10K, "not_as_described", T10K);
	struct esc_order o = escalated_from(&d);
	struct esc_args a = decision_args(4000);
	a.message = NULL;
	expect_refusal(ESC_EINVAL, ESC_ACTOR_ARBITER, T_RESOLVE, &o, ESC_EV_RESOLVE_DISPUTE, &a);
	a.message = "";
	expect_refusal(ESC_EINVAL, ESC_ACTOR_ARBITER, T_RESOLVE, &o, ESC_EV_RESOLVE_DISPUTE, &a);
}

/* Issue 11 item 14: given the facts the arbiter's view reads, the decision
 * keeps the recommendation of the dispute as it stood before it; without
 * them it keeps none. */
static void test_issue_11_item_14_the_decision_keeps_its_recommendation(void **state)
{
	(void)state;
	struct esc_order d = disputed_of(T10K, "not_as_described", 4000);
	struct esc_order e = escalated_from(&d);
	struct esc_args a = decision_args(1000);
	struct esc_dispute_facts facts;
	struct esc_recommendation advised, kept;
	struct esc_effects fx;
	memset(&facts, 0, sizeof facts);
	facts.buyer_evidence = 1;
	facts.seller_evidence = 1;
	facts.seller.score = 60;
	esc_dispute_recommend(&e, &facts, &advised);
	assert_true(advised.refund_minor == 2000);

	struct esc_context c = ctx_of(ESC_ACTOR_ARBITER, T_RESOLVE);
	c.dispute_facts = &facts;
	accept_in(&c, &e, ESC_EV_RESOLVE_DISPUTE, &a, NULL, &fx);
	assert_true(esc_recommendation_kept(&fx.order, &kept));
	assert_true(kept.refund_minor == 2000);
	assert_int_equal(kept.reasons_count, advised.reasons_count);
	assert_string_equal(kept.reasons[0], advised.reasons[0]);
	assert_true(fx.order.dispute_refund_minor == 1000);

	c.dispute_facts = NULL;
	accept_in(&c, &e, ESC_EV_RESOLVE_DISPUTE, &a, NULL, &fx);
	assert_false(esc_recommendation_kept(&fx.order, &kept));
}

/* --- The dispute's life (SPEC §5) ------------------------------------------ */

static struct esc_order answer_at(const struct esc_order *o, enum esc_actor who, int64_t at,
				  enum esc_event ev, int64_t amount)
{
	struct esc_args a = good_args();
	a.amount_minor = amount;
	return apply(o, who, at, ev, &a);
}

static struct esc_order return_disputed(int64_t amount)
{
	struct esc_order o = shipped_of(T10K);
	struct esc_args a = dispute_args("not_as_described", amount);
	a.outcome = "return_and_refund";
	return apply(&o, ESC_ACTOR_BUYER, T_DISPUTE, ESC_EV_OPEN_DISPUTE, &a);
}

static void expect_resolved(const struct esc_effects *fx, int64_t refund, const char *resolution)
{
	const struct esc_order *o = &fx->order;
	assert_int_equal(o->dispute_state, ESC_DS_RESOLVED);
	assert_string_equal(o->dispute_resolution, resolution);
	assert_true(o->dispute_refund_minor == refund);
	assert_true(o->refunded_minor == refund);
	assert_int_equal(o->state, refund == T10K ? ESC_ST_CLOSED : ESC_ST_COMPLETED);
	assert_true(esc_order_held(o) == 0);
	assert_string_equal(fx->outbox_type, "dispute.resolved");
	for (int k = 0; k < ESC_DL_ORDER_COUNT; k++)
		assert_true(o->due_ms[k] == 0);
}

/* The seller accepts a refund_only: the refund is paid at once and the
 * rest released, less the fee on it. */
static void test_spec_5_seller_accepts_and_the_refund_is_paid_at_once(void **state)
{
	(void)state;
	struct esc_order o = disputed_of(T10K, "not_as_described", 4000);
	struct esc_effects fx;
	accept_at(ESC_ACTOR_SELLER, T_DISPUTE + HOUR, &o, ESC_EV_ACCEPT_DISPUTE, NULL, &fx);
	expect_resolved(&fx, 4000, "accepted");
	assert_transfers(&fx, "refund/" ESCROW ">refunds_in_transit/4000"
			      " release/" ESCROW ">seller:" SELLER "/5700"
			      " fee/" ESCROW ">platform:fees/300");
	assert_marks(&fx, M_SELLER_LOST);
}

/* A counter-offer is less than asked; the buyer takes it, or lets the 5
 * days pass, which takes it too. */
static void test_spec_5_counter_offer_taken_or_lapsed(void **state)
{
	(void)state;
	struct esc_order o = disputed_of(T10K, "not_as_described", 4000);
	struct esc_effects fx;
	int64_t at = T_DISPUTE + HOUR;
	struct esc_args a = good_args();
	a.amount_minor = 4000;
	expect_refusal(ESC_EINVAL, ESC_ACTOR_SELLER, at, &o, ESC_EV_COUNTER_OFFER, &a);
	a.amount_minor = 0;
	expect_refusal(ESC_EINVAL, ESC_ACTOR_SELLER, at, &o, ESC_EV_COUNTER_OFFER, &a);
	expect_refusal(ESC_EFORBIDDEN, ESC_ACTOR_BUYER, at, &o, ESC_EV_COUNTER_OFFER, &a);
	struct esc_order c = answer_at(&o, ESC_ACTOR_SELLER, at, ESC_EV_COUNTER_OFFER, 1500);
	assert_int_equal(c.dispute_state, ESC_DS_COUNTER_OFFERED);
	assert_true(c.dispute_offer_minor == 1500);
	assert_true(c.due_ms[ESC_DL_DISPUTE] == at + 5 * DAY);
	accept_at(ESC_ACTOR_BUYER, at + DAY, &c, ESC_EV_ACCEPT_OFFER, NULL, &fx);
	expect_resolved(&fx, 1500, "offer_accepted");
	/* Silence: not a millisecond early, then the offer stands. */
	expect_refusal(ESC_ESTATE, ESC_ACTOR_SYSTEM, at + 5 * DAY - 1, &c, ESC_EV_DISPUTE_DEADLINE,
		       NULL);
	expect_refusal(ESC_EDEADLINE, ESC_ACTOR_BUYER, at + 5 * DAY, &c, ESC_EV_ACCEPT_OFFER, NULL);
	accept_at(ESC_ACTOR_SYSTEM, at + 5 * DAY, &c, ESC_EV_DISPUTE_DEADLINE, NULL, &fx);
	expect_resolved(&fx, 1500, "offer_lapsed");
}

/* The seller's 5 days pass in silence: the buyer gets what they asked. */
static void test_spec_5_seller_silent_for_5_days_refunds_as_asked(void **state)
{
	(void)state;
	struct esc_order o = disputed_of(T10K, "invalid_tracking", T10K);
	struct esc_effects fx;
	int64_t due = T_DISPUTE + 5 * DAY;
	assert_true(o.due_ms[ESC_DL_DISPUTE] == due);
	expect_refusal(ESC_ESTATE, ESC_ACTOR_SYSTEM, due - 1, &o, ESC_EV_DISPUTE_DEADLINE, NULL);
	expect_refusal(ESC_EDEADLINE, ESC_ACTOR_SELLER, due, &o, ESC_EV_ACCEPT_DISPUTE, NULL);
	accept_at(ESC_ACTOR_SYSTEM, due, &o, ESC_EV_DISPUTE_DEADLINE, NULL, &fx);
	expect_resolved(&fx, T10K, "seller_silent");
	assert_marks(&fx, M_SELLER_LOST " seller_invalid_tracking/" SELLER);
}

/* After a rejection the buyer may escalate within 5 days; silence resolves
 * for the seller, and the buyer lost. */
static void test_spec_5_rejection_then_escalation_or_silence(void **state)
{
	(void)state;
	struct esc_order o = disputed_of(T10K, "not_as_described", 4000);
	struct esc_effects fx;
	int64_t at = T_DISPUTE + HOUR;
	struct esc_args a = good_args();
	a.message = NULL;
	expect_refusal(ESC_EINVAL, ESC_ACTOR_SELLER, at, &o, ESC_EV_REJECT_DISPUTE, &a);
	struct esc_order r = answer_at(&o, ESC_ACTOR_SELLER, at, ESC_EV_REJECT_DISPUTE, 0);
	assert_int_equal(r.dispute_state, ESC_DS_REJECTED);
	assert_string_equal(r.dispute_message, "Sorry, it is packed already");
	expect_refusal(ESC_ESTATE, ESC_ACTOR_BUYER, at + HOUR, &r, ESC_EV_ACCEPT_OFFER, NULL);
	struct esc_order e = answer_at(&r, ESC_ACTOR_BUYER, at + 5 * DAY - 1, ESC_EV_ESCALATE, 0);
	assert_int_equal(e.dispute_state, ESC_DS_ESCALATED);
	assert_true(e.due_ms[ESC_DL_DISPUTE] == 0);
	expect_refusal(ESC_EDEADLINE, ESC_ACTOR_BUYER, at + 5 * DAY, &r, ESC_EV_ESCALATE, NULL);
	expect_refusal(ESC_ESTATE, ESC_ACTOR_SYSTEM, at + 5 * DAY - 1, &r, ESC_EV_DISPUTE_DEADLINE,
		       NULL);
	accept_at(ESC_ACTOR_SYSTEM, at + 5 * DAY, &r, ESC_EV_DISPUTE_DEADLINE, NULL, &fx);
	expect_resolved(&fx, 0, "rejection_lapsed");
	assert_marks(&fx, M_BUYER_LOST);
}

/* return_and_refund: the agreed refund waits for the goods; the buyer has
 * 10 days to ship them back, the seller 10 days to confirm them. */
static void test_spec_5_return_and_refund_ships_back_then_refunds(void **state)
{
	(void)state;
	struct esc_order o = return_disputed(T10K);
	struct esc_effects fx;
	int64_t at = T_DISPUTE + HOUR;
	struct esc_order w = answer_at(&o, ESC_ACTOR_SELLER, at, ESC_EV_ACCEPT_DISPUTE, 0);
	assert_int_equal(w.state, ESC_ST_IN_DISPUTE);
	assert_int_equal(w.dispute_state, ESC_DS_AWAITING_RETURN);
	assert_true(w.dispute_agreed_minor == T10K);
	assert_true(w.refunded_minor == 0);
	assert_true(w.due_ms[ESC_DL_DISPUTE] == at + 10 * DAY);
	expect_refusal(ESC_ESTATE, ESC_ACTOR_SELLER, at + DAY, &w, ESC_EV_RETURN_RECEIVED, NULL);
	struct esc_order s = answer_at(&w, ESC_ACTOR_BUYER, at + DAY, ESC_EV_RETURN_SHIPMENT, 0);
	assert_string_equal(s.return_tracking, "JD014600006281230794");
	assert_true(s.due_ms[ESC_DL_DISPUTE] == at + 11 * DAY);
	expect_refusal(ESC_ESTATE, ESC_ACTOR_BUYER, at + DAY, &s, ESC_EV_RETURN_SHIPMENT, NULL);
	accept_at(ESC_ACTOR_SELLER, at + 2 * DAY, &s, ESC_EV_RETURN_RECEIVED, NULL, &fx);
	expect_resolved(&fx, T10K, "return_received");
	/* The seller silent for 10 days: taken as received. */
	expect_refusal(ESC_ESTATE, ESC_ACTOR_SYSTEM, at + 11 * DAY - 1, &s, ESC_EV_DISPUTE_DEADLINE,
		       NULL);
	expect_refusal(ESC_EDEADLINE, ESC_ACTOR_SELLER, at + 11 * DAY, &s, ESC_EV_RETURN_RECEIVED,
		       NULL);
	accept_at(ESC_ACTOR_SYSTEM, at + 11 * DAY, &s, ESC_EV_DISPUTE_DEADLINE, NULL, &fx);
	expect_resolved(&fx, T10K, "return_receipt_lapsed");
	/* The buyer silent for 10 days: they lose. */
	expect_refusal(ESC_ESTATE, ESC_ACTOR_SYSTEM, at + 10 * DAY - 1, &w, ESC_EV_DISPUTE_DEADLINE,
		       NULL);
	expect_refusal(ESC_EDEADLINE, ESC_ACTOR_BUYER, at + 10 * DAY, &w, ESC_EV_RETURN_SHIPMENT,
		       NULL);
	accept_at(ESC_ACTOR_SYSTEM, at + 10 * DAY, &w, ESC_EV_DISPUTE_DEADLINE, NULL, &fx);
	expect_resolved(&fx, 0, "return_not_shipped");
	assert_marks(&fx, M_BUYER_LOST);
}

/* An arbiter's refund on a return_and_refund dispute is agreed, as the
 * seller's acceptance is (SPEC §5): nothing is paid until the goods are
 * back, and a buyer who does not ship them back gets nothing. A decision
 * of no refund ends it at once, for the seller. */
static void test_spec_5_a_decided_return_and_refund_waits_for_the_goods(void **state)
{
	(void)state;
	struct esc_order o = return_disputed(T10K), e = escalated_from(&o);
	struct esc_args a = decision_args(6000);
	struct esc_effects fx;
	accept_at(ESC_ACTOR_ARBITER, T_RESOLVE, &e, ESC_EV_RESOLVE_DISPUTE, &a, &fx);
	struct esc_order w = fx.order;
	assert_int_equal(w.state, ESC_ST_IN_DISPUTE);
	assert_int_equal(w.dispute_state, ESC_DS_AWAITING_RETURN);
	assert_string_equal(w.dispute_resolution, "decided");
	assert_string_equal(w.dispute_reason, a.message);
	assert_true(w.dispute_decided_at_ms == T_RESOLVE && w.dispute_resolved_at_ms == 0);
	assert_true(w.dispute_agreed_minor == 6000);
	assert_true(w.refunded_minor == 0 && w.dispute_refund_minor == 0);
	assert_true(esc_order_held(&w) == T10K);
	assert_int_equal(fx.transfers_count, 0);
	assert_false(fx.refund_new);
	assert_int_equal(fx.marks_count, 0);
	assert_string_equal(fx.outbox_type, "dispute.decided");
	assert_true(w.due_ms[ESC_DL_DISPUTE] == T_RESOLVE + 10 * DAY);

	/* Shipped back and received: the decided refund is paid. */
	struct esc_order s =
		answer_at(&w, ESC_ACTOR_BUYER, T_RESOLVE + DAY, ESC_EV_RETURN_SHIPMENT, 0);
	accept_at(ESC_ACTOR_SELLER, T_RESOLVE + 2 * DAY, &s, ESC_EV_RETURN_RECEIVED, NULL, &fx);
	expect_resolved(&fx, 6000, "return_received");
	assert_marks(&fx, M_SELLER_LOST);
	/* Not shipped back in 10 days: the buyer gets nothing. */
	accept_at(ESC_ACTOR_SYSTEM, T_RESOLVE + 10 * DAY, &w, ESC_EV_DISPUTE_DEADLINE, NULL, &fx);
	expect_resolved(&fx, 0, "return_not_shipped");
	assert_marks(&fx, M_BUYER_LOST);
	/* No refund decided: over at once. */
	a = decision_args(0);
	accept_at(ESC_ACTOR_ARBITER, T_RESOLVE, &e, ESC_EV_RESOLVE_DISPUTE, &a, &fx);
	expect_resolved(&fx, 0, "decided");
	assert_marks(&fx, M_BUYER_LOST);
}

/* Withdrawn, the order goes back to shipped with the protection deadline
 * running from where it was paused; no mark on anyone; no second dispute. */
static void test_spec_5_withdrawn_dispute_resumes_the_paused_deadline(void **state)
{
	(void)state;
	struct esc_order s = shipped_of(T10K);
	int64_t left = s.due_ms[ESC_DL_PROTECTION] - T_DISPUTE;
	struct esc_order o = open_on(&s, T_DISPUTE, "not_as_described", 4000);
	struct esc_effects fx;
	int64_t at = T_DISPUTE + 3 * DAY;
	accept_at(ESC_ACTOR_BUYER, at, &o, ESC_EV_WITHDRAW_DISPUTE, NULL, &fx);
	assert_int_equal(fx.order.state, ESC_ST_SHIPPED);
	assert_int_equal(fx.order.dispute_state, ESC_DS_RESOLVED);
	assert_string_equal(fx.order.dispute_resolution, "withdrawn");
	assert_true(fx.order.due_ms[ESC_DL_PROTECTION] == at + left);
	assert_true(fx.order.due_ms[ESC_DL_DISPUTE] == 0);
	assert_int_equal(fx.transfers_count, 0);
	assert_int_equal(fx.marks_count, 0);
	assert_string_equal(fx.outbox_type, "dispute.resolved");
	struct esc_args a = dispute_args("not_as_described", 100);
	expect_refusal(ESC_ELIMIT, ESC_ACTOR_BUYER, at + HOUR, &fx.order, ESC_EV_OPEN_DISPUTE, &a);
}

/* The first release's transfer ids are recorded already (applying an id
 * twice records it once), so the release after a clawback needs its own. */
static void test_spec_5_completed_order_resolved_releases_again_under_new_ids(void **state)
{
	(void)state;
	struct esc_order o = completed_of(T10K);
	struct esc_effects fx;
	o = open_on(&o, T_CONFIRM + DAY, "not_as_described", T10K);
	resolve_in(&o, 4000, &fx);
	assert_int_equal(fx.order.state, ESC_ST_COMPLETED);
	assert_string_equal(transfer_of(&fx, "release")->id, ORDER_ID "/release/after-dispute");
	assert_string_equal(transfer_of(&fx, "fee")->id, ORDER_ID "/fee/after-dispute");
	assert_true(transfer_of(&fx, "release")->amount_minor == 5700);
	assert_true(fx.order.ended_at_ms == T_RESOLVE);
}

/* SPEC §4's invariants (checked by accept_in) after every open and every
 * resolution: each state a dispute opens from, each ground open there,
 * card and balance payments, asked amounts and refunds at the bounds. */
static void test_spec_4_invariants_hold_after_every_accepted_dispute_decision(void **state)
{
	(void)state;
	static const char *const grounds[] = {"invalid_tracking", "not_as_described",
					      "not_delivered"};
	static const enum esc_method methods[] = {ESC_METHOD_CARD, ESC_METHOD_BALANCE};
	static const int64_t asks[] = {1, 4000, T10K};
	int decisions = 0;
	for (size_t m = 0; m < COUNT(methods); m++)
		for (int s = ESC_ST_SHIPPED; s <= ESC_ST_COMPLETED; s++)
			for (size_t g = 0; g < COUNT(grounds); g++)
				for (size_t k = 0; k < COUNT(asks); k++) {
					struct esc_order o = paid_of(T10K, methods[m]);
					int64_t at;
					if (s == ESC_ST_IN_DISPUTE)
						continue;
					o = ship_on(&o, T_SHIP);
					at = T_DISPUTE;
					if (s >= ESC_ST_DELIVERED) {
						o = apply(&o, ESC_ACTOR_OPERATOR, T_DELIVER,
							  ESC_EV_DELIVER, NULL);
						at = T_DELIVER + HOUR;
					}
					if (s == ESC_ST_COMPLETED) {
						o = apply(&o, ESC_ACTOR_BUYER, T_CONFIRM,
							  ESC_EV_CONFIRM_RECEIPT, NULL);
						at = T_CONFIRM + HOUR;
					}
					if (g == 2) {
						if (s != ESC_ST_SHIPPED)
							continue;
						at = o.promised_at_ms;
					}
					o = open_on(&o, at, grounds[g], asks[k]);
					o = escalated_from(&o);
					decisions++;
					int64_t refunds[] = {0, 1, asks[k] / 2, asks[k]};
					for (size_t r = 0; r < COUNT(refunds); r++) {
						struct esc_effects fx;
						struct esc_args a = decision_args(refunds[r]);
						accept_at(ESC_ACTOR_ARBITER, at + DAY, &o,
							  ESC_EV_RESOLVE_DISPUTE, &a, &fx);
						assert_int_equal(fx.order.state,
								 refunds[r] == T10K
									 ? ESC_ST_CLOSED
									 : ESC_ST_COMPLETED);
						assert_true(fx.order.refunded_minor == refunds[r]);
						decisions++;
					}
				}
	assert_int_equal(decisions, 2 * (3 * 2 * 3 + 3) * 5);
}

/* --- 4. Create validation ---------------------------------------------------- */

static void expect_create_invalid(const struct esc_args *a)
{
	struct esc_context c = ctx_of(ESC_ACTOR_OPERATOR, T_CREATE);
	expect_refusal_in(ESC_EINVAL, &c, NULL, ESC_EV_CREATE, a, NULL);
}

static void test_spec_4_create_with_bad_currency_refused(void **state)
{
	(void)state;
	static const char *const bad[] = {"eur", "EU", "EURO", "", "E1R"};
	struct esc_args a = good_args();
	for (size_t i = 0; i < COUNT(bad); i++) {
		a.currency = bad[i];
		expect_create_invalid(&a);
	}
	a.currency = NULL;
	expect_create_invalid(&a);
}

static void test_spec_7_create_with_no_items_refused(void **state)
{
	(void)state;
	struct esc_args a = good_args();
	a.items_count = 0;
	expect_create_invalid(&a);
}

/* A required text that is blank is refused like an empty one: an item's
 * title, a shipment's carrier and tracking number. */
static void test_spec_7_required_texts_are_not_blank(void **state)
{
	(void)state;
	struct esc_item blank_title = one_item[0];
	struct esc_args a = good_args();
	snprintf(blank_title.title, sizeof blank_title.title, "   ");
	a.items = &blank_title;
	a.items_count = 1;
	expect_create_invalid(&a);
	struct esc_order o = paid();
	a = good_args();
	a.tracking = " ";
	expect_refusal(ESC_EINVAL, ESC_ACTOR_SELLER, T_REQUEST, &o, ESC_EV_SHIP, &a);
	a = good_args();
	a.carrier = "\t";
	expect_refusal(ESC_EINVAL, ESC_ACTOR_SELLER, T_REQUEST, &o, ESC_EV_SHIP, &a);
}

static void test_spec_7_create_with_more_than_100_items_refused(void **state)
{
	(void)state;
	static struct esc_item items[101];
	for (size_t i = 0; i < COUNT(items); i++) {
		snprintf(items[i].title, sizeof items[i].title, "Item %zu", i);
		items[i].quantity = 1;
		items[i].unit_price_minor = 100;
	}
	struct esc_args a = good_args();
	a.items = items;
	a.items_count = 100;
	struct esc_order o = created_with(&a); /* 100 is the most */
	assert_true(o.total_minor == 10000);
	a.items_count = 101;
	expect_create_invalid(&a);
}

static void test_spec_7_create_with_quantity_0_refused(void **state)
{
	(void)state;
	struct esc_item item = {"Teapot", 0, 100, ""};
	struct esc_args a = good_args();
	a.items = &item;
	a.items_count = 1;
	expect_create_invalid(&a);
}

static void test_spec_4_create_with_negative_price_refused(void **state)
{
	(void)state;
	struct esc_item item = {"Teapot", 1, -1, ""};
	struct esc_args a = good_args();
	a.items = &item;
	a.items_count = 1;
	expect_create_invalid(&a);
}

static void test_spec_4_create_with_overflowing_total_refused(void **state)
{
	(void)state;
	struct esc_item items[2] = {{"Yacht", 1, ESC_AMOUNT_MAX, ""},
				    {"Yacht", 1, ESC_AMOUNT_MAX, ""}};
	struct esc_args a = good_args();
	a.items = items;
	a.items_count = 2;
	expect_create_invalid(&a);
}

static void test_spec_1_create_with_buyer_as_seller_refused(void **state)
{
	(void)state;
	struct esc_args a = good_args();
	a.seller_id = BUYER;
	expect_create_invalid(&a);
}

/* esc_decide zeroes fx: a refusal after an accepted decision in the same
 * fx leaves no transfer, deadline or mark of the earlier one. */
static void test_spec_2_refusal_leaves_nothing_to_write(void **state)
{
	(void)state;
	struct esc_order o = created();
	struct esc_args a = good_args();
	struct esc_effects fx;
	struct esc_context c = ctx_of(ESC_ACTOR_OPERATOR, T_PAY);
	accept_in(&c, &o, ESC_EV_PAY, &a, NULL, &fx);
	assert_true(fx.transfers_count && fx.deadlines_count && fx.marks_count);
	a.amount_minor = TOTAL - 1;
	assert_int_equal(esc_decide(&c, &o, ESC_EV_PAY, &a, NULL, &fx), ESC_EAMOUNT);
	assert_int_equal(fx.refusal, ESC_EAMOUNT);
	assert_true(fx.refusal_message[0] != '\0');
	assert_int_equal(fx.transfers_count, 0);
	assert_int_equal(fx.deadlines_count, 0);
	assert_int_equal(fx.marks_count, 0);
	assert_false(fx.refund_new);
	assert_null(fx.outbox_type);
}

/* --- 5. Actions (SPEC §7) ------------------------------------------------- */

#define ACTIONS_MAX 8

static size_t actions_of(const struct esc_context *c, const struct esc_order *o,
			 struct esc_action *out)
{
	return esc_order_actions(c, o, out, ACTIONS_MAX);
}

static void test_spec_7_buyer_of_awaiting_shipment_may_cancel_until_ship_deadline(void **state)
{
	(void)state;
	struct esc_order o = paid();
	struct esc_action out[ACTIONS_MAX];
	struct esc_context c = ctx_of(ESC_ACTOR_BUYER, T_REQUEST);
	assert_int_equal(actions_of(&c, &o, out), 1);
	assert_int_equal(out[0].event, ESC_EV_CANCEL);
	assert_true(out[0].deadline_ms == SHIP_DUE);
}

static void test_spec_7_seller_of_awaiting_shipment_may_ship(void **state)
{
	(void)state;
	struct esc_order o = paid();
	struct esc_action out[ACTIONS_MAX];
	struct esc_context c = ctx_of(ESC_ACTOR_SELLER, T_REQUEST);
	assert_int_equal(actions_of(&c, &o, out), 1);
	assert_int_equal(out[0].event, ESC_EV_SHIP);
	assert_true(out[0].deadline_ms == SHIP_DUE);
}

static void test_spec_7_no_actions_once_ship_deadline_passed(void **state)
{
	(void)state;
	struct esc_order o = paid();
	struct esc_action out[ACTIONS_MAX];
	struct esc_context b = ctx_of(ESC_ACTOR_BUYER, SHIP_DUE);
	struct esc_context s = ctx_of(ESC_ACTOR_SELLER, SHIP_DUE);
	assert_int_equal(actions_of(&b, &o, out), 0);
	assert_int_equal(actions_of(&s, &o, out), 0);
}

static void test_spec_7_buyer_of_open_request_may_withdraw_until_response_deadline(void **state)
{
	(void)state;
	struct esc_order o = requested();
	struct esc_action out[ACTIONS_MAX];
	struct esc_context c = ctx_of(ESC_ACTOR_BUYER, T_REQUEST + HOUR);
	assert_int_equal(actions_of(&c, &o, out), 1);
	assert_int_equal(out[0].event, ESC_EV_WITHDRAW_CANCELLATION);
	assert_true(out[0].deadline_ms == T_REQUEST + 72 * HOUR);
}

/* SPEC §2: the seller answers a request within 72 hours, but the ship
 * deadline, which grants an open request too, cuts that short when it
 * comes first: the response deadline the order shows, and the actions'
 * deadlines, are the ship deadline's time, explained by its rule. */
static void test_spec_2_a_request_near_the_ship_deadline_is_answered_by_it(void **state)
{
	(void)state;
	struct esc_order p = paid();
	int64_t at = SHIP_DUE - 2 * DAY;
	struct esc_order o = request_on(&p, at, "no_longer_needed", -1);
	struct esc_action out[ACTIONS_MAX];
	struct esc_context s = ctx_of(ESC_ACTOR_SELLER, at + HOUR);
	struct esc_context b = ctx_of(ESC_ACTOR_BUYER, at + HOUR);
	assert_int_equal(o.state, ESC_ST_CANCELLATION_REQUESTED);
	assert_true(o.due_ms[ESC_DL_SHIP] == SHIP_DUE);
	assert_true(o.due_ms[ESC_DL_RESPONSE] == SHIP_DUE);
	assert_int_equal(esc_deadline_rule(&o, ESC_DL_RESPONSE), ESC_RULE_SHIP_WINDOW);
	size_t n = actions_of(&s, &o, out);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++)
		assert_true(out[i].deadline_ms == SHIP_DUE);
	assert_int_equal(actions_of(&b, &o, out), 1);
	assert_true(out[0].deadline_ms == SHIP_DUE);
	/* Asked early, the full window, and its own rule. */
	o = requested();
	assert_true(o.due_ms[ESC_DL_RESPONSE] == T_REQUEST + 72 * HOUR);
	assert_int_equal(esc_deadline_rule(&o, ESC_DL_RESPONSE), ESC_RULE_RESPONSE_WINDOW);
}

static void test_spec_7_seller_of_open_request_may_accept_or_reject(void **state)
{
	(void)state;
	struct esc_order o = requested();
	struct esc_action out[ACTIONS_MAX];
	struct esc_context c = ctx_of(ESC_ACTOR_SELLER, T_REQUEST + HOUR);
	bool accept = false, reject = false;
	size_t n = actions_of(&c, &o, out);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		accept |= out[i].event == ESC_EV_ACCEPT_CANCELLATION;
		reject |= out[i].event == ESC_EV_REJECT_CANCELLATION;
		assert_true(out[i].deadline_ms == T_REQUEST + 72 * HOUR);
	}
	assert_true(accept && reject);
}

static void test_spec_1_another_buyer_gets_no_actions(void **state)
{
	(void)state;
	struct esc_order o = paid();
	struct esc_action out[ACTIONS_MAX];
	struct esc_context c = ctx_of(ESC_ACTOR_BUYER, T_REQUEST);
	c.actor_id = OTHER;
	assert_int_equal(actions_of(&c, &o, out), 0);
}

static void test_spec_6_suspended_buyer_is_not_offered_cancel(void **state)
{
	(void)state;
	struct esc_order o = paid();
	struct esc_action out[ACTIONS_MAX];
	struct esc_context c = ctx_of(ESC_ACTOR_BUYER, T_REQUEST);
	c.buyer_level = ESC_LEVEL_SUSPENDED;
	assert_int_equal(actions_of(&c, &o, out), 0);
}

static void test_spec_2_buyer_with_two_requests_used_is_not_offered_cancel(void **state)
{
	(void)state;
	struct esc_order o = requested();
	struct esc_action out[ACTIONS_MAX];
	o = reject_on(&o, T_REQUEST + HOUR);
	o = request_on(&o, T_REQUEST + 2 * HOUR, "no_longer_needed", -1);
	o = reject_on(&o, T_REQUEST + 3 * HOUR);
	struct esc_context c = ctx_of(ESC_ACTOR_BUYER, T_REQUEST + 4 * HOUR);
	assert_int_equal(actions_of(&c, &o, out), 0);
}

/* The action for `event` in out[0..n), or NULL. */
static const struct esc_action *action_of(const struct esc_action *out, size_t n,
					  enum esc_event event)
{
	for (size_t i = 0; i < n; i++)
		if (out[i].event == event)
			return &out[i];
	return NULL;
}

static void
test_spec_7_buyer_of_shipped_order_may_open_dispute_until_protection_deadline(void **state)
{
	(void)state;
	struct esc_order o = shipped();
	struct esc_action out[ACTIONS_MAX];
	struct esc_context c = ctx_of(ESC_ACTOR_BUYER, T_DISPUTE);
	size_t n = actions_of(&c, &o, out);
	const struct esc_action *a = action_of(out, n, ESC_EV_OPEN_DISPUTE);
	assert_int_equal(n, 2);
	assert_non_null(action_of(out, n, ESC_EV_CONFIRM_RECEIPT));
	assert_non_null(a);
	assert_true(a->deadline_ms == o.due_ms[ESC_DL_PROTECTION]);
	c.now_ms = o.due_ms[ESC_DL_PROTECTION];
	n = actions_of(&c, &o, out);
	assert_null(action_of(out, n, ESC_EV_OPEN_DISPUTE));
}

static void
test_spec_7_buyer_of_delivered_order_may_open_dispute_until_confirm_deadline(void **state)
{
	(void)state;
	struct esc_order o = delivered();
	struct esc_action out[ACTIONS_MAX];
	struct esc_context c = ctx_of(ESC_ACTOR_BUYER, T_DELIVER + HOUR);
	size_t n = actions_of(&c, &o, out);
	const struct esc_action *a = action_of(out, n, ESC_EV_OPEN_DISPUTE);
	assert_int_equal(n, 2);
	assert_non_null(a);
	assert_true(a->deadline_ms == T_DELIVER + 15 * DAY);
	c.now_ms = o.due_ms[ESC_DL_CONFIRM];
	n = actions_of(&c, &o, out);
	assert_null(action_of(out, n, ESC_EV_OPEN_DISPUTE));
}

static void test_spec_7_buyer_of_completed_order_may_open_dispute_for_15_days(void **state)
{
	(void)state;
	struct esc_order o = completed();
	struct esc_action out[ACTIONS_MAX];
	struct esc_context c = ctx_of(ESC_ACTOR_BUYER, T_CONFIRM + HOUR);
	assert_int_equal(actions_of(&c, &o, out), 1);
	assert_int_equal(out[0].event, ESC_EV_OPEN_DISPUTE);
	assert_true(out[0].deadline_ms == T_CONFIRM + 15 * DAY);
	c.now_ms = T_CONFIRM + 15 * DAY;
	assert_int_equal(actions_of(&c, &o, out), 0);
}

/* Each party's actions follow the dispute's state, with its window. */
static void test_spec_7_dispute_actions_follow_its_state(void **state)
{
	(void)state;
	struct esc_order o = disputed_of(T10K, "not_as_described", 4000);
	struct esc_action out[ACTIONS_MAX];
	struct esc_context c = ctx_of(ESC_ACTOR_SELLER, T_DISPUTE + HOUR);
	assert_int_equal(actions_of(&c, &o, out), 3);
	assert_int_equal(out[0].event, ESC_EV_ACCEPT_DISPUTE);
	assert_int_equal(out[1].event, ESC_EV_COUNTER_OFFER);
	assert_int_equal(out[2].event, ESC_EV_REJECT_DISPUTE);
	assert_true(out[0].deadline_ms == T_DISPUTE + 5 * DAY);
	c = ctx_of(ESC_ACTOR_BUYER, T_DISPUTE + HOUR);
	assert_int_equal(actions_of(&c, &o, out), 1);
	assert_int_equal(out[0].event, ESC_EV_WITHDRAW_DISPUTE);
	c = ctx_of(ESC_ACTOR_SELLER, T_DISPUTE + 5 * DAY);
	assert_int_equal(actions_of(&c, &o, out), 0);
}

static void test_spec_7_arbiter_of_disputed_order_may_resolve_it(void **state)
{
	(void)state;
	struct esc_order d = disputed_of(T10K, "not_as_described", T10K);
	struct esc_action out[ACTIONS_MAX];
	struct esc_context c = ctx_of(ESC_ACTOR_ARBITER, T_RESOLVE);
	/* Not before it is escalated. */
	assert_int_equal(actions_of(&c, &d, out), 0);
	struct esc_order o = escalated_from(&d);
	assert_int_equal(actions_of(&c, &o, out), 1);
	assert_int_equal(out[0].event, ESC_EV_RESOLVE_DISPUTE);
	assert_true(out[0].deadline_ms == 0);
	/* The seller waits for the decision; the buyer may still withdraw. */
	c = ctx_of(ESC_ACTOR_BUYER, T_RESOLVE);
	assert_int_equal(actions_of(&c, &o, out), 1);
	assert_int_equal(out[0].event, ESC_EV_WITHDRAW_DISPUTE);
	c = ctx_of(ESC_ACTOR_SELLER, T_RESOLVE);
	assert_int_equal(actions_of(&c, &o, out), 0);
}

static void test_spec_6_suspended_buyer_is_not_offered_open_dispute(void **state)
{
	(void)state;
	struct esc_order o = shipped();
	struct esc_action out[ACTIONS_MAX];
	struct esc_context c = ctx_of(ESC_ACTOR_BUYER, T_DISPUTE);
	c.buyer_level = ESC_LEVEL_SUSPENDED;
	assert_int_equal(actions_of(&c, &o, out), 1);
	assert_int_equal(out[0].event, ESC_EV_CONFIRM_RECEIPT);
	o = completed();
	c.now_ms = T_CONFIRM + HOUR;
	assert_int_equal(actions_of(&c, &o, out), 0);
}

static void test_spec_5_buyer_of_order_resolved_after_dispute_is_not_offered_another(void **state)
{
	(void)state;
	struct esc_order o = disputed_of(T10K, "not_as_described", T10K);
	struct esc_action out[ACTIONS_MAX];
	struct esc_effects fx;
	resolve_in(&o, 1000, &fx);
	struct esc_context c = ctx_of(ESC_ACTOR_BUYER, T_RESOLVE + HOUR);
	assert_int_equal(actions_of(&c, &fx.order, out), 0);
}

/* --- The state diagram's invariants (esc_order_check) --------------------- */

/* Every order the machine makes, one per state and the dispute's own
 * states, keeps them. */
static void test_issue_13_item_5_orders_the_machine_makes_pass_the_check(void **state)
{
	(void)state;
	struct esc_order o;
	int64_t last = 0;
	for (int s = ESC_ST_NONE + 1; s < ESC_ST_COUNT; s++) {
		assert_true(build_state((enum esc_state)s, ESC_EV_CREATE, &o, &last));
		assert_int_equal(o.state, s);
		if (esc_order_check(&o))
			fail_msg("%s: %s", esc_state_name(o.state), esc_order_check(&o));
	}
	struct esc_order d = disputed_of(T10K, "not_as_described", 4000);
	assert_null(esc_order_check(&d));
	o = escalated_from(&d);
	assert_int_equal(o.dispute_state, ESC_DS_ESCALATED);
	assert_null(esc_order_check(&o));
	o = cancelled_unpaid();
	assert_null(esc_order_check(&o));
}

/* One broken field each: the check names the invariant it breaks. */
static void expect_broken(const struct esc_order *o, const char *want)
{
	const char *got = esc_order_check(o);
	if (!got || strcmp(got, want))
		fail_msg("%s: wanted \"%s\", got \"%s\"", esc_state_name(o->state), want,
			 got ? got : "(keeps them all)");
}

static void test_issue_13_item_5_check_names_each_broken_invariant(void **state)
{
	(void)state;
	const struct esc_order created_o = created(), paid_o = paid(), requested_o = requested(),
			       shipped_o = shipped(), delivered_o = delivered(),
			       completed_o = completed();
	struct esc_order disputed_o = shipped(), closed_o, escalated_o, o;
	int64_t last = 0;
	disputed_o = open_on(&disputed_o, T_DISPUTE, "not_as_described", TOTAL / 2);
	escalated_o = escalated_from(&disputed_o);
	assert_true(build_state(ESC_ST_CLOSED, ESC_EV_CREATE, &closed_o, &last));

#define BROKEN(from, change, want)                                                                 \
	do {                                                                                       \
		o = (from);                                                                        \
		change;                                                                            \
		expect_broken(&o, want);                                                           \
	} while (0)

	/* Every order. */
	BROKEN(created_o, o.state = ESC_ST_NONE, "the state is a known one, not none");
	BROKEN(created_o, o.state = ESC_ST_COUNT, "the state is a known one, not none");
	BROKEN(paid_o, o.version = 0, "the version is at least 1");
	BROKEN(paid_o, o.seller_id[0] = '\0', "the order, its buyer and its seller have ids");
	BROKEN(paid_o, o.method = ESC_METHOD_COUNT, "the payment method is a known one");
	BROKEN(paid_o, o.refunds_count = -1, "counts are not negative");

	/* Money. */
	BROKEN(created_o, o.total_minor = 0, "the total is from 1 to ESC_AMOUNT_MAX");
	BROKEN(created_o, o.total_minor = ESC_AMOUNT_MAX + 1,
	       "the total is from 1 to ESC_AMOUNT_MAX");
	BROKEN(paid_o, o.paid_minor = TOTAL - 1, "paid is 0 or the total");
	BROKEN(completed_o, o.refunded_minor = 1,
	       "refunded and released are not negative and together at most paid");
	BROKEN(paid_o, o.released_minor = -1,
	       "refunded and released are not negative and together at most paid");
	BROKEN(completed_o, o.fee_minor = o.released_minor + 1,
	       "the fee is from 0 to what was released");
	BROKEN(closed_o, o.refunds_count = 0, "a refunded amount has a refund");
	BROKEN(created_o, o.paid_minor = TOTAL, "awaiting payment, paid is 0");
	BROKEN(paid_o, o.paid_minor = 0, "from payment to delivery, held = paid = total");
	BROKEN(requested_o, (o.refunded_minor = 1, o.refunds_count = 1),
	       "from payment to delivery, held = paid = total");
	BROKEN(shipped_o, o.released_minor = 1, "from payment to delivery, held = paid = total");
	BROKEN(delivered_o, o.released_minor = TOTAL,
	       "from payment to delivery, held = paid = total");
	BROKEN(disputed_o, o.released_minor = TOTAL, "in dispute, paid = total and held > 0");
	BROKEN(completed_o, o.released_minor -= 1, "completed, paid = total and held = 0");
	BROKEN(closed_o, o.refunded_minor -= 1,
	       "cancelled or closed, everything paid was refunded");

	/* Deadlines: each state's own set, and no other. */
	BROKEN(created_o, o.due_ms[ESC_DL_SHIP] = -1, "a deadline is not negative");
	BROKEN(created_o, o.due_ms[ESC_DL_PAYMENT] = 0,
	       "awaiting payment, the payment deadline must be set");
	BROKEN(paid_o, o.due_ms[ESC_DL_SHIP] = 0,
	       "awaiting shipment, the ship deadline must be set");
	BROKEN(requested_o, o.due_ms[ESC_DL_SHIP] = 0,
	       "awaiting shipment, the ship deadline must be set");
	BROKEN(requested_o, o.due_ms[ESC_DL_RESPONSE] = 0,
	       "with a cancellation requested, the response deadline must be set");
	BROKEN(shipped_o, o.due_ms[ESC_DL_PROTECTION] = 0,
	       "shipped, the protection deadline must be set");
	BROKEN(delivered_o, o.due_ms[ESC_DL_CONFIRM] = 0,
	       "delivered, the confirm deadline must be set");
	BROKEN(disputed_o, o.due_ms[ESC_DL_DISPUTE] = 0,
	       "in an open dispute not escalated, the dispute deadline must be set");
	BROKEN(paid_o, o.due_ms[ESC_DL_PAYMENT] = T_PAY,
	       "the payment deadline is set outside awaiting_payment");
	BROKEN(shipped_o, o.due_ms[ESC_DL_SHIP] = SHIP_DUE,
	       "the ship deadline is set outside awaiting_shipment and cancellation_requested");
	BROKEN(paid_o, o.due_ms[ESC_DL_RESPONSE] = SHIP_DUE,
	       "the response deadline is set outside cancellation_requested");
	BROKEN(delivered_o, o.due_ms[ESC_DL_PROTECTION] = SHIP_DUE,
	       "the protection deadline is set outside shipped");
	BROKEN(disputed_o, o.due_ms[ESC_DL_CONFIRM] = SHIP_DUE,
	       "the confirm deadline is set outside delivered");
	BROKEN(escalated_o, o.due_ms[ESC_DL_DISPUTE] = T_RESOLVE,
	       "the dispute deadline is set outside an open dispute's window");
	BROKEN(completed_o, o.due_ms[ESC_DL_DISPUTE] = T_RESOLVE,
	       "the dispute deadline is set outside an open dispute's window");
	BROKEN(closed_o, o.due_ms[ESC_DL_CONFIRM] = T_RESOLVE,
	       "the confirm deadline is set outside delivered");

	/* The dispute. */
	BROKEN(disputed_o, o.disputes_count = 2, "an order has one dispute at most");
	BROKEN(disputed_o, o.dispute_state = ESC_DS_COUNT, "the dispute's state is a known one");
	BROKEN(shipped_o, o.disputes_count = 1,
	       "the dispute's state is none exactly when there is no dispute");
	BROKEN(closed_o, (o.disputes_count = 0),
	       "the dispute's state is none exactly when there is no dispute");
	BROKEN(disputed_o, o.dispute_state = ESC_DS_RESOLVED, "in dispute, the dispute is open");
	BROKEN(disputed_o, o.dispute_from = ESC_ST_AWAITING_SHIPMENT,
	       "in dispute, it was opened from shipped, delivered or completed");
	BROKEN(disputed_o, o.dispute_amount_minor = TOTAL + 1,
	       "in dispute, the amount asked is from 1 to what is held");
	BROKEN(disputed_o, o.dispute_amount_minor = 0,
	       "in dispute, the amount asked is from 1 to what is held");
	BROKEN(disputed_o, o.dispute_paused_ms = -1,
	       "in dispute, the paused time left is not negative");
	BROKEN(shipped_o, (o.disputes_count = 1, o.dispute_state = ESC_DS_AWAITING_SELLER),
	       "a dispute is open only while the order is in dispute");
	BROKEN(shipped_o, o.dispute_paused_ms = HOUR, "only an open dispute keeps paused time");

	/* The rest. */
	BROKEN(requested_o, o.cancel_reason[0] = '\0',
	       "with a cancellation requested, there is a request with a reason");
	BROKEN(requested_o, o.cancel_requests = 0,
	       "with a cancellation requested, there is a request with a reason");
	BROKEN(shipped_o, o.carrier[0] = '\0',
	       "once shipped, the carrier, tracking and promised date are set");
	BROKEN(delivered_o, o.tracking[0] = '\0',
	       "once shipped, the carrier, tracking and promised date are set");
	BROKEN(completed_o, o.promised_at_ms = 0,
	       "once shipped, the carrier, tracking and promised date are set");
#undef BROKEN
}

static void bug_now(void)
{
	ESC_BUG("the %s is %d", "answer", 42);
}

static void assert_false_now(void)
{
	int two = 2;
	ESC_ASSERT(two + two == 5, "two and two make %d", two + two);
}

static void broken_order_now(void)
{
	struct esc_order o = shipped();
	o.carrier[0] = '\0';
	esc_order_assert(&o, "in a test");
}

/* One way to fail on a bug, in every build: where, why, then abort. */
static void test_issue_13_item_5_a_bug_aborts_saying_where_and_why(void **state)
{
	(void)state;
	esc_test_expect_abort(bug_now, "BUG at tests/unit/test_order.c:");
	esc_test_expect_abort(bug_now, " in bug_now: the answer is 42\"}\n");
	esc_test_expect_abort(
		assert_false_now,
		" in assert_false_now: two and two make 4 (failed: two + two == 5)\"}\n");
	esc_test_expect_abort(broken_order_now, "BUG at src/core/order.c:");
	esc_test_expect_abort(broken_order_now,
			      "order " ORDER_ID
			      " (shipped, version 3) in a test breaks an invariant: once "
			      "shipped, the carrier, tracking and promised date are set\"}\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_2_table_every_state_event_actor_matches_spec),
		cmocka_unit_test(
			test_visibility_parties_arbiters_with_an_escalated_dispute_operator_all),
		cmocka_unit_test(test_spec_2_decide_refuses_as_the_table_on_real_orders),
		cmocka_unit_test(test_spec_2_every_allowed_transition_from_a_real_order),
		cmocka_unit_test(test_spec_2_create_sets_payment_deadline_24h_and_version_1),
		cmocka_unit_test(test_spec_4_pay_moves_total_from_external_to_escrow),
		cmocka_unit_test(
			test_spec_2_pay_clears_payment_deadline_and_sets_ship_deadline_7_days),
		cmocka_unit_test(test_spec_6_pay_marks_buyer_paid_and_seller_sold),
		cmocka_unit_test(test_spec_4_pay_from_balance_moves_from_buyer_account),
		cmocka_unit_test(test_spec_4_pay_from_balance_refused_when_balance_short),
		cmocka_unit_test(test_spec_4_pay_of_another_amount_refused),
		cmocka_unit_test(test_spec_2_second_pay_refused_invalid_state),
		cmocka_unit_test(test_spec_2_unpaid_cancel_cancels_at_once_with_nothing_to_refund),
		cmocka_unit_test(test_spec_2_request_sets_response_deadline_72h),
		cmocka_unit_test(test_spec_2_second_request_after_a_rejection_allowed),
		cmocka_unit_test(test_spec_2_third_request_after_two_rejections_refused_limit),
		cmocka_unit_test(test_spec_3_request_with_unknown_reason_refused_invalid),
		cmocka_unit_test(test_spec_6_suspended_buyer_cannot_request_cancellation),
		cmocka_unit_test(test_spec_2_open_request_blocks_another_request_pending),
		cmocka_unit_test(
			test_spec_4_accept_refunds_card_pending_in_transit_with_alert_10_days),
		cmocka_unit_test(test_spec_4_accept_with_refund_to_balance_settles_at_once),
		cmocka_unit_test(test_spec_4_refund_of_a_balance_payment_goes_back_to_balance),
		cmocka_unit_test(test_spec_4_wallet_refund_is_shown_as_1_day),
		cmocka_unit_test(
			test_spec_3_completed_cancellation_marks_seller_only_for_seller_fault),
		cmocka_unit_test(test_spec_2_reject_requires_a_message),
		cmocka_unit_test(test_spec_7_required_texts_are_not_blank),
		cmocka_unit_test(
			test_spec_2_reject_returns_to_awaiting_shipment_ship_deadline_unchanged),
		cmocka_unit_test(test_spec_2_reject_keeps_the_message_for_the_buyer),
		cmocka_unit_test(test_issue_11_item_1_reject_and_comment_carry_a_message),
		cmocka_unit_test(
			test_spec_2_withdraw_returns_to_awaiting_shipment_ship_deadline_unchanged),
		cmocka_unit_test(test_spec_2_response_deadline_fires_when_due_and_auto_approves),
		cmocka_unit_test(test_spec_2_response_deadline_not_due_a_millisecond_early),
		cmocka_unit_test(test_spec_2_answers_at_or_after_response_deadline_refused),
		cmocka_unit_test(test_spec_2_ship_requires_carrier_and_tracking),
		cmocka_unit_test(test_spec_2_ship_promises_60_days_and_protects_15_days_more),
		cmocka_unit_test(test_spec_2_ship_promises_the_orders_delivery_days),
		cmocka_unit_test(test_spec_2_ship_at_or_after_ship_deadline_refused),
		cmocka_unit_test(test_spec_2_ship_while_cancellation_pending_refused),
		cmocka_unit_test(
			test_spec_2_ship_deadline_cancels_refunds_and_counts_against_seller),
		cmocka_unit_test(test_spec_2_ship_deadline_during_open_request_grants_it),
		cmocka_unit_test(test_spec_2_ship_deadline_not_due_a_millisecond_early),
		cmocka_unit_test(
			test_spec_2_deliver_sets_confirm_deadline_15_days_and_clears_protection),
		cmocka_unit_test(test_spec_4_confirm_receipt_releases_to_seller_less_5_percent_fee),
		cmocka_unit_test(test_spec_2_confirm_receipt_when_shipped_completes),
		cmocka_unit_test(test_spec_2_protection_deadline_completes_as_confirm_receipt),
		cmocka_unit_test(test_spec_2_confirm_deadline_completes_as_confirm_receipt),
		cmocka_unit_test(test_spec_4_fee_rounds_half_even),
		cmocka_unit_test(test_spec_2_final_states_have_no_deadline),
		cmocka_unit_test(test_spec_1_another_buyer_gets_not_found),
		cmocka_unit_test(test_spec_1_another_seller_gets_not_found),
		cmocka_unit_test(test_spec_1_the_seller_is_not_the_buyer_of_their_order),
		cmocka_unit_test(test_spec_4_refund_settled_moves_in_transit_to_external),
		cmocka_unit_test(test_spec_4_refund_settled_deletes_its_alert),
		cmocka_unit_test(test_spec_4_refund_failed_moves_in_transit_to_buyer_balance),
		cmocka_unit_test(test_spec_4_refund_settled_twice_refused),
		cmocka_unit_test(test_spec_4_refund_overdue_alert_raised_only_when_due),
		cmocka_unit_test(test_spec_4_refund_overdue_alert_raised_once),
		cmocka_unit_test(test_spec_4_refund_of_another_order_not_found),
		cmocka_unit_test(test_spec_5_open_dispute_records_it_and_marks_the_buyer),
		cmocka_unit_test(test_spec_5_not_delivered_before_the_promised_date_refused),
		cmocka_unit_test(test_spec_5_not_delivered_at_the_promised_date_allowed),
		cmocka_unit_test(test_spec_5_not_delivered_from_delivered_or_completed_refused),
		cmocka_unit_test(test_spec_5_not_delivered_on_an_order_completed_without_delivery),
		cmocka_unit_test(
			test_spec_5_invalid_tracking_and_not_as_described_open_from_shipped_and_delivered),
		cmocka_unit_test(test_spec_5_unknown_ground_refused_invalid),
		cmocka_unit_test(test_spec_5_outcome_must_be_refund_only_or_return_and_refund),
		cmocka_unit_test(test_spec_5_dispute_requires_a_description),
		cmocka_unit_test(test_spec_5_dispute_amount_from_1_to_what_was_paid),
		cmocka_unit_test(test_spec_5_one_dispute_per_order),
		cmocka_unit_test(test_spec_6_suspended_buyer_cannot_open_a_dispute),
		cmocka_unit_test(
			test_spec_2_open_dispute_at_or_after_the_protection_deadline_refused),
		cmocka_unit_test(test_spec_2_open_dispute_at_or_after_the_confirm_deadline_refused),
		cmocka_unit_test(test_spec_2_open_dispute_pauses_protection_keeping_the_time_left),
		cmocka_unit_test(test_spec_2_open_dispute_pauses_confirm_keeping_the_time_left),
		cmocka_unit_test(
			test_spec_2_completed_order_disputed_within_15_days_claws_back_the_release),
		cmocka_unit_test(test_spec_2_completed_order_dispute_at_15_days_refused),
		cmocka_unit_test(test_spec_5_full_refund_closes_the_order),
		cmocka_unit_test(
			test_spec_5_partial_refund_completes_and_releases_the_rest_less_the_fee),
		cmocka_unit_test(test_spec_4_fee_on_the_rest_after_a_dispute_rounds_half_even),
		cmocka_unit_test(
			test_spec_5_zero_refund_completes_with_full_release_and_counts_against_buyer),
		cmocka_unit_test(
			test_spec_6_dispute_lost_on_invalid_tracking_counts_invalid_tracking),
		cmocka_unit_test(test_spec_5_resolution_refund_above_the_amount_asked_refused),
		cmocka_unit_test(test_spec_5_resolution_requires_a_written_reason),
		cmocka_unit_test(test_issue_11_item_14_the_decision_keeps_its_recommendation),
		cmocka_unit_test(test_spec_5_completed_order_resolved_releases_again_under_new_ids),
		cmocka_unit_test(test_spec_4_invariants_hold_after_every_accepted_dispute_decision),
		cmocka_unit_test(test_spec_4_create_with_bad_currency_refused),
		cmocka_unit_test(test_spec_7_create_with_no_items_refused),
		cmocka_unit_test(test_spec_7_create_with_more_than_100_items_refused),
		cmocka_unit_test(test_spec_7_create_with_quantity_0_refused),
		cmocka_unit_test(test_spec_4_create_with_negative_price_refused),
		cmocka_unit_test(test_spec_4_create_with_overflowing_total_refused),
		cmocka_unit_test(test_spec_1_create_with_buyer_as_seller_refused),
		cmocka_unit_test(test_spec_2_refusal_leaves_nothing_to_write),
		cmocka_unit_test(
			test_spec_7_buyer_of_awaiting_shipment_may_cancel_until_ship_deadline),
		cmocka_unit_test(test_spec_7_seller_of_awaiting_shipment_may_ship),
		cmocka_unit_test(test_spec_7_no_actions_once_ship_deadline_passed),
		cmocka_unit_test(
			test_spec_7_buyer_of_open_request_may_withdraw_until_response_deadline),
		cmocka_unit_test(test_spec_7_seller_of_open_request_may_accept_or_reject),
		cmocka_unit_test(test_spec_2_a_request_near_the_ship_deadline_is_answered_by_it),
		cmocka_unit_test(test_spec_1_another_buyer_gets_no_actions),
		cmocka_unit_test(test_spec_6_suspended_buyer_is_not_offered_cancel),
		cmocka_unit_test(test_spec_2_buyer_with_two_requests_used_is_not_offered_cancel),
		cmocka_unit_test(
			test_spec_7_buyer_of_shipped_order_may_open_dispute_until_protection_deadline),
		cmocka_unit_test(
			test_spec_7_buyer_of_delivered_order_may_open_dispute_until_confirm_deadline),
		cmocka_unit_test(test_spec_7_buyer_of_completed_order_may_open_dispute_for_15_days),
		cmocka_unit_test(test_spec_7_arbiter_of_disputed_order_may_resolve_it),
		cmocka_unit_test(test_spec_5_seller_accepts_and_the_refund_is_paid_at_once),
		cmocka_unit_test(test_spec_5_counter_offer_taken_or_lapsed),
		cmocka_unit_test(test_spec_5_seller_silent_for_5_days_refunds_as_asked),
		cmocka_unit_test(test_spec_5_rejection_then_escalation_or_silence),
		cmocka_unit_test(test_spec_5_return_and_refund_ships_back_then_refunds),
		cmocka_unit_test(test_spec_5_a_decided_return_and_refund_waits_for_the_goods),
		cmocka_unit_test(test_spec_5_withdrawn_dispute_resumes_the_paused_deadline),
		cmocka_unit_test(test_spec_7_dispute_actions_follow_its_state),
		cmocka_unit_test(test_spec_6_suspended_buyer_is_not_offered_open_dispute),
		cmocka_unit_test(
			test_spec_5_buyer_of_order_resolved_after_dispute_is_not_offered_another),
		cmocka_unit_test(test_issue_13_item_5_orders_the_machine_makes_pass_the_check),
		cmocka_unit_test(test_issue_13_item_5_check_names_each_broken_invariant),
		cmocka_unit_test(test_issue_13_item_5_a_bug_aborts_saying_where_and_why),
	};
	return cmocka_run_group_tests(tests, setup_policy, NULL);
}
