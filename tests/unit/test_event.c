/* test_event.c - the table of events (core/event.h) against the transition
 * tables of core/order.c: the actors, machines and outbox types agree;
 * paths invert; the loads and the history fields are what the engine read
 * and wrote before the table (issue 13 item 4). Pure: no store, no clock. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/event.h"
#include "core/order.h"
#include "core/policy.h"
#include "support.h"
#include "util/error.h"

#define DAY  ESC_MS_PER_DAY
#define HOUR ESC_MS_PER_HOUR

#define ORDER_ID "ord_01JTESTEVENT"
#define BUYER    "usr_buyer"
#define SELLER   "usr_seller"
#define TOTAL    INT64_C(12345)

#define T_CREATE ESC_TEST_T0
#define T_PAY    (T_CREATE + HOUR)
#define T_SHIP   (T_PAY + DAY)

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static struct esc_policy policy;

static int setup_policy(void **state)
{
	(void)state;
	esc_policy_default(&policy);
	return 0;
}

static const struct esc_item one_item[] = {{"Blue teapot", 1, TOTAL, ""}};

static struct esc_args good_args(void)
{
	struct esc_args a = {
		.order_id = ORDER_ID,
		.buyer_id = BUYER,
		.seller_id = SELLER,
		.currency = "EUR",
		.items = one_item,
		.items_count = COUNT(one_item),
		.amount_minor = TOTAL,
		.method = ESC_METHOD_CARD,
		.reason = "no_longer_needed",
		.refund_to = -1,
		.message = "Not as described: the photos show it whole",
		.carrier = "DHL",
		.tracking = "JD014600006281230794",
		.ground = "not_as_described",
		.outcome = "refund_only",
		.description = "The lid arrived cracked",
	};
	return a;
}

static struct esc_context ctx_of(enum esc_actor actor, int64_t now_ms)
{
	struct esc_context c = {.policy = &policy, .now_ms = now_ms, .actor = actor};
	if (actor == ESC_ACTOR_BUYER)
		c.actor_id = BUYER;
	else if (actor == ESC_ACTOR_SELLER)
		c.actor_id = SELLER;
	return c;
}

/* Decide, expecting acceptance; the effects in *fx. */
static void decide(const struct esc_order *o, enum esc_actor actor, int64_t now, enum esc_event ev,
		   const struct esc_args *a, struct esc_effects *fx)
{
	struct esc_context c = ctx_of(actor, now);
	int rc = esc_decide(&c, o, ev, a, NULL, fx);
	if (rc)
		fail_msg("%s refused: %s", esc_event_name(ev), fx->refusal_message);
}

static struct esc_order apply(const struct esc_order *o, enum esc_actor actor, int64_t now,
			      enum esc_event ev, const struct esc_args *a)
{
	static struct esc_effects fx;
	decide(o, actor, now, ev, a, &fx);
	return fx.order;
}

static struct esc_order created(void)
{
	struct esc_args a = good_args();
	return apply(NULL, ESC_ACTOR_OPERATOR, T_CREATE, ESC_EV_CREATE, &a);
}

static struct esc_order paid(void)
{
	struct esc_order o = created();
	struct esc_args a = good_args();
	return apply(&o, ESC_ACTOR_OPERATOR, T_PAY, ESC_EV_PAY, &a);
}

static struct esc_order shipped(void)
{
	struct esc_order o = paid();
	struct esc_args a = good_args();
	return apply(&o, ESC_ACTOR_SELLER, T_SHIP, ESC_EV_SHIP, &a);
}

static struct esc_order disputed(void)
{
	struct esc_order o = shipped();
	struct esc_args a = good_args();
	a.amount_minor = 5000;
	return apply(&o, ESC_ACTOR_BUYER, T_SHIP + DAY, ESC_EV_OPEN_DISPUTE, &a);
}

/* Rejected and escalated: the arbiter's to decide. */
static struct esc_order escalated(void)
{
	struct esc_order o = disputed();
	struct esc_args a = good_args();
	int64_t t = o.dispute_opened_at_ms;
	o = apply(&o, ESC_ACTOR_SELLER, t + HOUR, ESC_EV_REJECT_DISPUTE, &a);
	return apply(&o, ESC_ACTOR_BUYER, t + 2 * HOUR, ESC_EV_ESCALATE, &a);
}

/* --- The table against the transition tables ---------------------------- */

static void test_every_event_has_its_row_and_name(void **state)
{
	(void)state;
	for (int e = 0; e < ESC_EV_COUNT; e++) {
		const struct esc_event_spec *s = esc_event_spec((enum esc_event)e);
		assert_non_null(s);
		assert_int_equal(s->event, e);
		assert_string_equal(s->name, esc_event_name((enum esc_event)e));
		assert_int_equal(esc_event_parse(s->name), e);
	}
	assert_null(esc_event_spec(ESC_EV_COUNT));
	assert_null(esc_event_spec((enum esc_event) - 1));
}

static void test_actors_are_exactly_those_the_transition_table_lets_send(void **state)
{
	(void)state;
	for (int e = 0; e < ESC_EV_COUNT; e++) {
		for (int a = 0; a < ESC_ACTOR_COUNT; a++) {
			bool allowed = false;
			for (int s = 0; s < ESC_ST_COUNT; s++)
				if (esc_transition_allowed((enum esc_state)s, (enum esc_event)e,
							   (enum esc_actor)a) != ESC_EFORBIDDEN)
					allowed = true;
			bool listed = esc_event_sent_by((enum esc_event)e, (enum esc_actor)a);
			if (allowed != listed)
				fail_msg("%s by %s: the transition table %s it, the event table %s",
					 esc_event_name((enum esc_event)e),
					 esc_actor_name((enum esc_actor)a),
					 allowed ? "allows" : "refuses",
					 listed ? "lists it" : "does not");
		}
	}
}

static bool listed(const struct esc_event_spec *s, const char *type)
{
	for (size_t i = 0; i < COUNT(s->outbox_types) && s->outbox_types[i]; i++)
		if (!strcmp(s->outbox_types[i], type))
			return true;
	return false;
}

static void test_every_outbox_type_a_transition_writes_is_listed(void **state)
{
	(void)state;
	for (int e = 0; e < ESC_EV_COUNT; e++) {
		const struct esc_event_spec *s = esc_event_spec((enum esc_event)e);
		const char *type;
		size_t rows = 0;
		for (size_t i = 0; (type = esc_transition_outbox((enum esc_event)e, i)); i++) {
			rows++;
			if (!listed(s, type))
				fail_msg("%s writes %s, which its row does not list", s->name,
					 type);
			assert_true(esc_event_writes((enum esc_event)e, type));
		}
		assert_true(rows > 0); /* every event has a transition */
	}
}

/* A type the rows do not write is the one effects name themselves: a
 * dispute that ends is "dispute.resolved". */
static void test_every_listed_outbox_type_is_written_by_a_row_or_a_dispute_ending(void **state)
{
	(void)state;
	for (int e = 0; e < ESC_EV_COUNT; e++) {
		const struct esc_event_spec *s = esc_event_spec((enum esc_event)e);
		assert_non_null(s->outbox_types[0]);
		for (size_t i = 0; i < COUNT(s->outbox_types) && s->outbox_types[i]; i++) {
			const char *type = s->outbox_types[i], *row;
			bool found = false;
			for (size_t j = 0; (row = esc_transition_outbox((enum esc_event)e, j)); j++)
				if (!strcmp(row, type))
					found = true;
			if (!found && !(s->machine == ESC_MACHINE_DISPUTE &&
					!strcmp(type, "dispute.resolved")))
				fail_msg("%s lists %s, which nothing writes", s->name, type);
		}
		assert_false(esc_event_writes((enum esc_event)e, "order.unknown"));
	}
}

/* The effects' own type, seen through esc_decide(): a refund_only dispute
 * the seller accepts, and one whose offer the buyer takes, are resolved. */
static void test_dispute_endings_write_a_listed_type(void **state)
{
	(void)state;
	struct esc_effects fx;
	struct esc_args a = good_args();
	struct esc_order o = disputed();
	decide(&o, ESC_ACTOR_SELLER, o.dispute_opened_at_ms + HOUR, ESC_EV_ACCEPT_DISPUTE, &a, &fx);
	assert_string_equal(fx.outbox_type, "dispute.resolved");
	assert_true(esc_event_writes(ESC_EV_ACCEPT_DISPUTE, fx.outbox_type));

	a.amount_minor = 1000;
	struct esc_order offered = apply(&o, ESC_ACTOR_SELLER, o.dispute_opened_at_ms + HOUR,
					 ESC_EV_COUNTER_OFFER, &a);
	decide(&offered, ESC_ACTOR_BUYER, o.dispute_opened_at_ms + 2 * HOUR, ESC_EV_ACCEPT_OFFER,
	       &a, &fx);
	assert_string_equal(fx.outbox_type, "dispute.resolved");
	assert_true(esc_event_writes(ESC_EV_ACCEPT_OFFER, fx.outbox_type));
}

/* The machine, as the transition tables behave: a dispute event is
 * possible only on an order in dispute; a refund event in any state; an
 * order event only in the states whose rows name it. */
static void test_machine_matches_the_tables(void **state)
{
	(void)state;
	for (int e = 0; e < ESC_EV_COUNT; e++) {
		const struct esc_event_spec *s = esc_event_spec((enum esc_event)e);
		enum esc_actor actor = ESC_ACTOR_COUNT;
		for (int a = 0; a < ESC_ACTOR_COUNT; a++)
			if (s->actors & (1u << a))
				actor = (enum esc_actor)a;
		assert_int_not_equal(actor, ESC_ACTOR_COUNT);
		size_t open = 0;
		for (int st = 0; st < ESC_ST_COUNT; st++) {
			int rc = esc_transition_allowed((enum esc_state)st, s->event, actor);
			if (s->machine == ESC_MACHINE_DISPUTE)
				assert_int_equal(rc, st == ESC_ST_IN_DISPUTE ? 0 : ESC_ESTATE);
			else if (s->machine == ESC_MACHINE_REFUND)
				assert_int_equal(rc, 0);
			open += rc == 0;
		}
		if (s->machine == ESC_MACHINE_ORDER)
			assert_true(open >= 1 && open < ESC_ST_COUNT);
		assert_int_equal(esc_event_is_dispute(s->event), s->machine == ESC_MACHINE_DISPUTE);
	}
}

/* --- Paths and fields ----------------------------------------------------- */

static void test_by_path_inverts_path(void **state)
{
	(void)state;
	size_t paths = 0;
	for (int e = 0; e < ESC_EV_COUNT; e++) {
		const struct esc_event_spec *s = esc_event_spec((enum esc_event)e);
		if (!s->path)
			continue;
		paths++;
		assert_int_equal(esc_event_by_path(s->machine, s->path), e);
	}
	/* Every event a party or the operator sends by a request but create. */
	assert_int_equal(paths, 20);
	assert_int_equal(esc_event_by_path(ESC_MACHINE_ORDER, "cancellation/accept"),
			 ESC_EV_ACCEPT_CANCELLATION);
	assert_int_equal(esc_event_by_path(ESC_MACHINE_DISPUTE, "decide"), ESC_EV_RESOLVE_DISPUTE);
	assert_int_equal(esc_event_by_path(ESC_MACHINE_REFUND, "settle"), ESC_EV_REFUND_SETTLED);
	assert_int_equal(esc_event_by_path(ESC_MACHINE_ORDER, "accept"), -1);
	assert_int_equal(esc_event_by_path(ESC_MACHINE_DISPUTE, "ship"), -1);
	assert_int_equal(esc_event_by_path(ESC_MACHINE_ORDER, "cancellation"), -1);
	assert_int_equal(esc_event_by_path(ESC_MACHINE_ORDER, ""), -1);
	assert_int_equal(esc_event_by_path(ESC_MACHINE_ORDER, NULL), -1);
	assert_string_equal(esc_machine_route(ESC_MACHINE_ORDER), "/v1/orders/{id}/");
	assert_string_equal(esc_machine_route(ESC_MACHINE_DISPUTE), "/v1/disputes/{id}/");
	assert_string_equal(esc_machine_route(ESC_MACHINE_REFUND), "/v1/refunds/{id}/");
}

/* `actions` lists an order's and a dispute's events by their path; the
 * system's events and the refund's have none to list. */
static void test_action_names_are_the_paths_of_order_and_dispute_actions(void **state)
{
	(void)state;
	for (int e = 0; e < ESC_EV_COUNT; e++) {
		const struct esc_event_spec *s = esc_event_spec((enum esc_event)e);
		if (s->machine == ESC_MACHINE_REFUND || !s->path) {
			assert_null(s->action_name);
			continue;
		}
		assert_string_equal(s->action_name, s->path);
	}
}

static void test_only_system_events_and_create_have_no_path(void **state)
{
	(void)state;
	for (int e = 0; e < ESC_EV_COUNT; e++) {
		const struct esc_event_spec *s = esc_event_spec((enum esc_event)e);
		bool system = s->actors == (1u << ESC_ACTOR_SYSTEM);
		assert_int_equal(system, s->deadline >= 0);
		assert_int_equal(s->path == NULL, system || e == ESC_EV_CREATE);
		assert_int_equal(s->custom_request, e == ESC_EV_CREATE);
		assert_int_equal(s->creates, e == ESC_EV_CREATE || e == ESC_EV_OPEN_DISPUTE);
	}
}

/* Every deadline kind has its event, as the deadline worker fires it. */
static void test_every_deadline_has_its_event(void **state)
{
	(void)state;
	static const enum esc_event want[ESC_DL_COUNT] = {
		[ESC_DL_PAYMENT] = ESC_EV_PAYMENT_DEADLINE,
		[ESC_DL_SHIP] = ESC_EV_SHIP_DEADLINE,
		[ESC_DL_RESPONSE] = ESC_EV_RESPONSE_DEADLINE,
		[ESC_DL_PROTECTION] = ESC_EV_PROTECTION_DEADLINE,
		[ESC_DL_CONFIRM] = ESC_EV_CONFIRM_DEADLINE,
		[ESC_DL_DISPUTE] = ESC_EV_DISPUTE_DEADLINE,
		[ESC_DL_REFUND] = ESC_EV_REFUND_OVERDUE,
	};
	for (int k = 0; k < ESC_DL_COUNT; k++) {
		assert_int_equal(esc_event_of_deadline((enum esc_deadline_kind)k), want[k]);
		assert_int_equal(esc_event_spec(want[k])->deadline, k);
	}
	assert_int_equal(esc_event_of_deadline(ESC_DL_COUNT), -1);
}

static void test_fields_are_well_formed(void **state)
{
	(void)state;
	for (int e = 0; e < ESC_EV_COUNT; e++) {
		const struct esc_event_spec *s = esc_event_spec((enum esc_event)e);
		size_t n = 0;
		for (; s->fields[n].name; n++) {
			const struct esc_field *f = &s->fields[n];
			assert_true(n < ESC_EVENT_FIELDS_MAX);
			assert_true(f->offset < sizeof(struct esc_args));
			assert_int_equal(f->parse != NULL, f->kind == ESC_FIELD_ENUM);
			assert_int_equal(f->expected != NULL, f->kind == ESC_FIELD_ENUM);
			for (size_t j = 0; j < n; j++)
				assert_string_not_equal(s->fields[j].name, f->name);
		}
		if (n)
			assert_non_null(s->path);
	}
}

static void test_fields_of_a_few_events(void **state)
{
	(void)state;
	const struct esc_event_spec *pay = esc_event_spec(ESC_EV_PAY);
	assert_string_equal(pay->fields[0].name, "amount");
	assert_int_equal(pay->fields[0].kind, ESC_FIELD_INT);
	assert_int_equal(pay->fields[0].offset, offsetof(struct esc_args, amount_minor));
	assert_string_equal(pay->fields[1].name, "payment_method");
	assert_int_equal(pay->fields[1].kind, ESC_FIELD_ENUM);
	assert_true(pay->fields[1].required && pay->fields[1].core_refuses);
	assert_int_equal(pay->fields[1].parse("balance"), ESC_METHOD_BALANCE);
	assert_int_equal(pay->fields[1].parse("cash"), -1);
	assert_null(pay->fields[2].name);

	const struct esc_event_spec *cancel = esc_event_spec(ESC_EV_CANCEL);
	assert_int_equal(cancel->fields[0].kind, ESC_FIELD_NAME);
	assert_false(cancel->fields[0].required);
	assert_int_equal(cancel->fields[1].kind, ESC_FIELD_LINES);
	assert_string_equal(cancel->fields[2].name, "refund_to");
	assert_false(cancel->fields[2].core_refuses);
	assert_string_equal(cancel->fields[2].expected, "original or balance");

	const struct esc_event_spec *decide_ = esc_event_spec(ESC_EV_RESOLVE_DISPUTE);
	assert_string_equal(decide_->fields[0].name, "refund_amount");
	assert_int_equal(decide_->fields[0].offset, offsetof(struct esc_args, amount_minor));
	assert_string_equal(decide_->fields[1].name, "reason");
	assert_int_equal(decide_->fields[1].offset, offsetof(struct esc_args, message));

	const struct esc_event_spec *ret = esc_event_spec(ESC_EV_RETURN_SHIPMENT);
	assert_int_equal(ret->fields[0].kind, ESC_FIELD_LINE);
	assert_string_equal(ret->fields[1].name, "tracking_number");
	assert_int_equal(ret->fields[1].offset, offsetof(struct esc_args, tracking));
	assert_null(esc_event_spec(ESC_EV_ACCEPT_DISPUTE)->fields[0].name);
}

/* --- Loads ---------------------------------------------------------------- */

static void test_loads_as_the_engine_read_them(void **state)
{
	(void)state;
	struct esc_order unpaid = created(), o = paid(), d = escalated();
	struct esc_args card = good_args(), balance = good_args();
	balance.method = ESC_METHOD_BALANCE;
	const enum esc_actor B = ESC_ACTOR_BUYER, A = ESC_ACTOR_ARBITER, P = ESC_ACTOR_OPERATOR;

	assert_int_equal(esc_event_loads(ESC_EV_CREATE, P, NULL, NULL, &card), ESC_LOAD_PARTIES);
	assert_int_equal(esc_event_loads(ESC_EV_PAY, P, NULL, &unpaid, &card), 0);
	assert_int_equal(esc_event_loads(ESC_EV_PAY, P, NULL, &unpaid, &balance), ESC_LOAD_BALANCE);
	/* The level counts for a request, not for cancelling an unpaid order,
	 * and only when the order's own buyer sends it. */
	assert_int_equal(esc_event_loads(ESC_EV_CANCEL, B, BUYER, &o, &card), ESC_LOAD_BUYER_LEVEL);
	assert_int_equal(esc_event_loads(ESC_EV_CANCEL, B, BUYER, &unpaid, &card), 0);
	assert_int_equal(esc_event_loads(ESC_EV_CANCEL, B, "usr_other", &o, &card), 0);
	assert_int_equal(esc_event_loads(ESC_EV_CANCEL, B, NULL, &o, &card), 0);
	assert_int_equal(esc_event_loads(ESC_EV_CANCEL, ESC_ACTOR_SELLER, SELLER, &o, &card), 0);
	assert_int_equal(esc_event_loads(ESC_EV_OPEN_DISPUTE, B, BUYER, &unpaid, &card),
			 ESC_LOAD_BUYER_LEVEL);
	assert_int_equal(esc_event_loads(ESC_EV_REFUND_SETTLED, P, NULL, &o, NULL),
			 ESC_LOAD_REFUND);
	assert_int_equal(esc_event_loads(ESC_EV_REFUND_FAILED, P, NULL, &o, NULL), ESC_LOAD_REFUND);
	assert_int_equal(esc_event_loads(ESC_EV_REFUND_OVERDUE, ESC_ACTOR_SYSTEM, NULL, &o, NULL),
			 ESC_LOAD_REFUND);
	assert_int_equal(esc_event_loads(ESC_EV_RESOLVE_DISPUTE, A, "usr_arb", &d, &card),
			 ESC_LOAD_DISPUTE_FACTS);
	assert_int_equal(esc_event_loads(ESC_EV_RESOLVE_DISPUTE, A, "usr_arb", &o, &card), 0);
	assert_int_equal(esc_event_loads(ESC_EV_RESOLVE_DISPUTE, B, BUYER, &d, &card), 0);
	/* Everything else needs only the order. */
	for (int e = 0; e < ESC_EV_COUNT; e++)
		for (int a = 0; a < ESC_ACTOR_COUNT; a++)
			if (!esc_event_spec((enum esc_event)e)->loads)
				assert_int_equal(esc_event_loads((enum esc_event)e,
								 (enum esc_actor)a, BUYER, &o,
								 &balance),
						 0);
}

/* --- History fields ------------------------------------------------------- */

struct want {
	const char *name;
	enum esc_detail_kind kind;
	const char *text;
	int64_t value;
};

static void assert_details(const struct esc_detail *got, size_t n, const struct want *want,
			   size_t want_n)
{
	for (size_t i = 0; i < n && i < want_n; i++) {
		assert_string_equal(got[i].name, want[i].name);
		assert_int_equal(got[i].kind, want[i].kind);
		if (want[i].kind == ESC_DETAIL_TEXT)
			assert_string_equal(got[i].text, want[i].text);
		else
			assert_int_equal(got[i].value, want[i].value);
	}
	assert_int_equal(n, want_n);
}

static void test_details_of_create_and_pay(void **state)
{
	(void)state;
	struct esc_detail out[ESC_DETAILS_MAX];
	struct esc_args a = good_args();
	struct esc_order o = created(), p = paid();
	size_t n = esc_event_details(ESC_EV_CREATE, NULL, &o, &a, NULL, out);
	const struct want create[] = {{"total", ESC_DETAIL_INT, NULL, TOTAL},
				      {"currency", ESC_DETAIL_TEXT, "EUR", 0}};
	assert_details(out, n, create, COUNT(create));
	/* delivery_days as asked, when asked (escrowd replay reads it). */
	a.delivery_days = 20;
	n = esc_event_details(ESC_EV_CREATE, NULL, &o, &a, NULL, out);
	const struct want create_days[] = {{"total", ESC_DETAIL_INT, NULL, TOTAL},
					   {"currency", ESC_DETAIL_TEXT, "EUR", 0},
					   {"delivery_days", ESC_DETAIL_INT, NULL, 20}};
	assert_details(out, n, create_days, COUNT(create_days));
	a.delivery_days = 0;

	n = esc_event_details(ESC_EV_PAY, &o, &p, &a, NULL, out);
	const struct want pay[] = {{"amount", ESC_DETAIL_INT, NULL, TOTAL},
				   {"payment_method", ESC_DETAIL_TEXT, "card", 0}};
	assert_details(out, n, pay, COUNT(pay));
}

static void test_details_of_cancel_request_and_of_unpaid_cancel(void **state)
{
	(void)state;
	struct esc_detail out[ESC_DETAILS_MAX];
	struct esc_args a = good_args();
	a.comment = "Found it cheaper";
	a.refund_to = ESC_REFUND_TO_BALANCE;
	struct esc_order o = paid(), unpaid = created();
	struct esc_order r = apply(&o, ESC_ACTOR_BUYER, T_PAY + HOUR, ESC_EV_CANCEL, &a);
	size_t n = esc_event_details(ESC_EV_CANCEL, &o, &r, &a, NULL, out);
	const struct want request[] = {{"reason", ESC_DETAIL_TEXT, "no_longer_needed", 0},
				       {"comment", ESC_DETAIL_TEXT, "Found it cheaper", 0},
				       {"refund_to", ESC_DETAIL_TEXT, "balance", 0}};
	assert_details(out, n, request, COUNT(request));

	struct esc_order c = apply(&unpaid, ESC_ACTOR_BUYER, T_CREATE + HOUR, ESC_EV_CANCEL, &a);
	assert_int_equal(esc_event_details(ESC_EV_CANCEL, &unpaid, &c, &a, NULL, out), 0);
}

/* A deadline says when it was due; a refund the command made is named. */
static void test_details_of_ship_deadline_with_its_due_time_and_refund(void **state)
{
	(void)state;
	struct esc_detail out[ESC_DETAILS_MAX];
	struct esc_effects fx;
	struct esc_order o = paid();
	int64_t due = o.due_ms[ESC_DL_SHIP];
	decide(&o, ESC_ACTOR_SYSTEM, due + 5, ESC_EV_SHIP_DEADLINE, NULL, &fx);
	assert_true(fx.refund_new);
	size_t n = esc_event_details(ESC_EV_SHIP_DEADLINE, &o, &fx.order, NULL, &fx.refund, out);
	const struct want want[] = {{"due_at", ESC_DETAIL_TIME, NULL, due},
				    {"refund_id", ESC_DETAIL_TEXT, ORDER_ID "-r1", 0},
				    {"refund_amount", ESC_DETAIL_INT, NULL, TOTAL},
				    {"refund_status", ESC_DETAIL_TEXT, "pending", 0}};
	assert_details(out, n, want, COUNT(want));
}

static void test_details_of_open_dispute_and_of_a_decision(void **state)
{
	(void)state;
	struct esc_detail out[ESC_DETAILS_MAX];
	struct esc_effects fx;
	struct esc_args a = good_args();
	a.amount_minor = 5000;
	struct esc_order s = shipped(), d = disputed();
	size_t n = esc_event_details(ESC_EV_OPEN_DISPUTE, &s, &d, &a, NULL, out);
	const struct want open[] = {{"ground", ESC_DETAIL_TEXT, "not_as_described", 0},
				    {"outcome", ESC_DETAIL_TEXT, "refund_only", 0},
				    {"amount", ESC_DETAIL_INT, NULL, 5000},
				    {"description", ESC_DETAIL_TEXT, "The lid arrived cracked", 0},
				    {"refund_to", ESC_DETAIL_TEXT, "original", 0}};
	assert_details(out, n, open, COUNT(open));

	struct esc_order e = escalated();
	a.amount_minor = 2000;
	a.message = "Half the damage is shown";
	decide(&e, ESC_ACTOR_ARBITER, e.dispute_escalated_at_ms + DAY, ESC_EV_RESOLVE_DISPUTE, &a,
	       &fx);
	n = esc_event_details(ESC_EV_RESOLVE_DISPUTE, &e, &fx.order, &a, &fx.refund, out);
	const struct want decided[] = {
		{"reason", ESC_DETAIL_TEXT, "Half the damage is shown", 0},
		{"dispute_status", ESC_DETAIL_TEXT, "resolved", 0},
		{"resolution", ESC_DETAIL_TEXT, "decided", 0},
		{"dispute_refund", ESC_DETAIL_INT, NULL, 2000},
		{"refund_id", ESC_DETAIL_TEXT, ORDER_ID "-r1", 0},
		{"refund_amount", ESC_DETAIL_INT, NULL, 2000},
		{"refund_status", ESC_DETAIL_TEXT, "pending", 0},
	};
	assert_details(out, n, decided, COUNT(decided));
}

/* A counter-offer without a message leaves it out; the dispute's state
 * follows. */
static void test_details_of_a_counter_offer(void **state)
{
	(void)state;
	struct esc_detail out[ESC_DETAILS_MAX];
	struct esc_args a = good_args();
	a.amount_minor = 1000;
	a.message = NULL;
	struct esc_order d = disputed();
	struct esc_order c = apply(&d, ESC_ACTOR_SELLER, d.dispute_opened_at_ms + HOUR,
				   ESC_EV_COUNTER_OFFER, &a);
	size_t n = esc_event_details(ESC_EV_COUNTER_OFFER, &d, &c, &a, NULL, out);
	const struct want want[] = {{"amount", ESC_DETAIL_INT, NULL, 1000},
				    {"dispute_status", ESC_DETAIL_TEXT, "counter_offered", 0}};
	assert_details(out, n, want, COUNT(want));
}

/* Webhook patterns: "*", a family's wildcard, or a type escrowd writes. */
static void test_webhook_patterns_are_all_a_family_or_a_written_type(void **state)
{
	(void)state;
	assert_true(esc_event_pattern_valid("*"));
	for (size_t i = 0; esc_event_families[i]; i++) {
		char wildcard[64];
		snprintf(wildcard, sizeof wildcard, "%s.*", esc_event_families[i]);
		assert_true(esc_event_pattern_valid(wildcard));
		assert_false(esc_event_pattern_valid(esc_event_families[i]));
	}
	assert_true(esc_event_pattern_valid("reputation.*"));
	/* Every type a row writes, and each in its family. */
	for (int e = 0; e < ESC_EV_COUNT; e++) {
		const struct esc_event_spec *spec = esc_event_spec((enum esc_event)e);
		for (size_t i = 0; i < COUNT(spec->outbox_types) && spec->outbox_types[i]; i++) {
			const char *type = spec->outbox_types[i];
			bool in_family = false;
			assert_true(esc_event_type_known(type));
			assert_true(esc_event_pattern_valid(type));
			for (size_t f = 0; esc_event_families[f]; f++) {
				size_t n = strlen(esc_event_families[f]);
				in_family =
					in_family || (!strncmp(type, esc_event_families[f], n) &&
						      type[n] == '.');
			}
			assert_true(in_family);
		}
	}
	assert_true(esc_event_type_known("order.paid"));
	assert_true(esc_event_type_known("dispute.resolved"));
	assert_false(esc_event_type_known("order.exploded"));
	assert_false(esc_event_pattern_valid("order.exploded"));
	assert_false(esc_event_pattern_valid(""));
	assert_false(esc_event_pattern_valid(NULL));
	assert_false(esc_event_pattern_valid("**"));
	assert_false(esc_event_pattern_valid("order.*.x"));
	assert_false(esc_event_pattern_valid("orders.*"));
	assert_false(esc_event_pattern_valid("order.paid "));
	assert_false(esc_event_pattern_valid("ORDER.*"));
}

static void test_webhook_patterns_match_their_types(void **state)
{
	(void)state;
	assert_true(esc_event_pattern_matches("*", "order.paid"));
	assert_true(esc_event_pattern_matches("order.*", "order.paid"));
	assert_false(esc_event_pattern_matches("order.*", "refund.settled"));
	assert_false(esc_event_pattern_matches("order.*", "orderx.paid"));
	assert_true(esc_event_pattern_matches("refund.settled", "refund.settled"));
	assert_false(esc_event_pattern_matches("refund.settled", "refund.failed"));
	assert_false(esc_event_pattern_matches(NULL, "order.paid"));
}

/* Issue 14: the reputation events are known types, in their family, and
 * esc_event_types lists every type once, the rows' and these. */
static void test_every_type_is_listed_once_reputation_events_included(void **state)
{
	(void)state;
	const char *types[128];
	size_t n = esc_event_types(types, COUNT(types));
	assert_true(n > 3 && n <= COUNT(types));
	for (size_t i = 0; i < n; i++) {
		assert_true(esc_event_type_known(types[i]));
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(types[i], types[j]);
	}
	for (size_t i = 0; esc_event_other_types[i]; i++) {
		const char *t = esc_event_other_types[i];
		bool listed = false;
		assert_true(esc_event_type_known(t));
		assert_true(esc_event_pattern_valid(t));
		assert_true(esc_event_pattern_matches("reputation.*", t) ||
			    !strcmp(t, "webhook_endpoint.disabled"));
		for (size_t j = 0; j < n; j++)
			listed = listed || !strcmp(types[j], t);
		assert_true(listed);
	}
	for (int e = 0; e < ESC_EV_COUNT; e++) {
		const struct esc_event_spec *spec = esc_event_spec((enum esc_event)e);
		for (size_t k = 0; k < COUNT(spec->outbox_types) && spec->outbox_types[k]; k++) {
			bool listed = false;
			for (size_t j = 0; j < n; j++)
				listed = listed || !strcmp(types[j], spec->outbox_types[k]);
			assert_true(listed);
		}
	}
	assert_true(esc_event_type_known(ESC_TYPE_SUSPENSION_LIFTED));
	assert_false(esc_event_type_known("reputation.exploded"));
	/* A short out[] gets the first ones; the count is all of them. */
	const char *two[2];
	assert_int_equal(esc_event_types(two, 2), n);
	assert_string_equal(two[0], types[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_event_has_its_row_and_name),
		cmocka_unit_test(test_actors_are_exactly_those_the_transition_table_lets_send),
		cmocka_unit_test(test_every_outbox_type_a_transition_writes_is_listed),
		cmocka_unit_test(
			test_every_listed_outbox_type_is_written_by_a_row_or_a_dispute_ending),
		cmocka_unit_test(test_dispute_endings_write_a_listed_type),
		cmocka_unit_test(test_machine_matches_the_tables),
		cmocka_unit_test(test_by_path_inverts_path),
		cmocka_unit_test(test_action_names_are_the_paths_of_order_and_dispute_actions),
		cmocka_unit_test(test_only_system_events_and_create_have_no_path),
		cmocka_unit_test(test_every_deadline_has_its_event),
		cmocka_unit_test(test_fields_are_well_formed),
		cmocka_unit_test(test_fields_of_a_few_events),
		cmocka_unit_test(test_loads_as_the_engine_read_them),
		cmocka_unit_test(test_details_of_create_and_pay),
		cmocka_unit_test(test_details_of_cancel_request_and_of_unpaid_cancel),
		cmocka_unit_test(test_details_of_ship_deadline_with_its_due_time_and_refund),
		cmocka_unit_test(test_details_of_open_dispute_and_of_a_decision),
		cmocka_unit_test(test_details_of_a_counter_offer),
		cmocka_unit_test(test_webhook_patterns_are_all_a_family_or_a_written_type),
		cmocka_unit_test(test_webhook_patterns_match_their_types),
		cmocka_unit_test(test_every_type_is_listed_once_reputation_events_included),
	};
	return cmocka_run_group_tests(tests, setup_policy, NULL);
}
