/* test_engine.c - the engine's use cases on a real SQLite file: the
 * cancellation flow of SPEC §2-§3, refusals that write nothing (§7), buyer
 * levels (§6), group commit and durability. Each test looks at the rows
 * the store kept, not only at the result, and checks the ledger. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <errno.h>
#include <linux/capability.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <jansson.h>

#include "engine/engine.h"
#include "engine/view.h"
#include "http/idempotency.h"
#include "store/store.h"
#include "support.h"
#include "util/error.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "webhook/feed.h"

#define DAY  ESC_MS_PER_DAY
#define HOUR ESC_MS_PER_HOUR

#define TOTAL      INT64_C(12345)
#define FAR_FUTURE (ESC_TEST_T0 + 3650 * DAY)

/* --- fixture and helpers ------------------------------------------------- */

static struct esc_store *store(struct esc_fixture *f)
{
	return esc_engine_writer(f->e);
}

/* Durable commits since the engine opened. */
static int64_t commits_made(struct esc_fixture *f)
{
	struct esc_engine_counters n;
	esc_engine_counters(f->e, &n);
	return n.commits;
}

static int64_t orders_total(struct esc_fixture *f)
{
	int64_t counts[ESC_ST_COUNT], total = 0;
	int rc;
	ESC_STORE(rc, store(f), orders_count, NULL, NULL, counts);
	assert_int_equal(rc, 0);
	for (int i = 0; i < ESC_ST_COUNT; i++)
		total += counts[i];
	return total;
}

/* Every mark the user has, whenever it was made. */
static struct esc_rep_counts marks(struct esc_fixture *f, const char *user_id)
{
	struct esc_rep_counts c;
	int rc;
	ESC_STORE(rc, store(f), mark_counts, user_id, 0, 0, &c);
	assert_int_equal(rc, 0);
	return c;
}

static size_t refunds_of(struct esc_fixture *f, const char *order_id, struct esc_refund *out,
			 size_t max)
{
	size_t n = 0;
	int rc;
	ESC_STORE(rc, store(f), refunds_list, order_id, -1, NULL, out, max, &n);
	assert_int_equal(rc, 0);
	return n;
}

static size_t refunds_all(struct esc_fixture *f)
{
	struct esc_refund r[16];
	size_t n = 0;
	int rc;
	ESC_STORE(rc, store(f), refunds_list, NULL, -1, NULL, r, 16, &n);
	assert_int_equal(rc, 0);
	return n;
}

/* The queue rows of an order, whenever due. */
static size_t deadlines_of(struct esc_fixture *f, const char *order_id, struct esc_deadline *out,
			   size_t max)
{
	struct esc_deadline rows[64];
	size_t n = 0, k = 0;
	int rc;
	ESC_STORE(rc, store(f), deadlines_due, FAR_FUTURE, rows, 64, &n);
	assert_int_equal(rc, 0);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(rows[i].order_id, order_id) && k < max)
			out[k++] = rows[i];
	return k;
}

/* What a refused command must leave as it was. */
struct snapshot {
	int64_t version; /* 0 when there is no order */
	size_t history;
	int64_t outbox;
	int64_t transfers;
	int64_t orders;
	size_t refunds;
	int64_t buyer_cancelled;
};

static struct snapshot snap(struct esc_fixture *f, const char *order_id)
{
	struct snapshot s = {0};
	if (order_id) {
		s.version = esc_fixture_get(f, order_id).version;
		s.history = esc_fixture_history_count(f, order_id);
	}
	s.outbox = esc_fixture_outbox_count(f);
	s.transfers = esc_fixture_transfers_count(f);
	s.orders = orders_total(f);
	s.refunds = refunds_all(f);
	s.buyer_cancelled = marks(f, f->buyer.id).long_[ESC_MARK_BUYER_CANCELLED];
	return s;
}

static void assert_nothing_written(struct esc_fixture *f, const char *order_id,
				   const struct snapshot *before)
{
	struct snapshot after = snap(f, order_id);
	assert_int_equal(after.version, before->version);
	assert_int_equal(after.history, before->history);
	assert_int_equal(after.outbox, before->outbox);
	assert_int_equal(after.transfers, before->transfers);
	assert_int_equal(after.orders, before->orders);
	assert_int_equal(after.refunds, before->refunds);
	assert_int_equal(after.buyer_cancelled, before->buyer_cancelled);
}

static void cmd_init(struct esc_command *c, enum esc_event ev, enum esc_actor who,
		     const struct esc_order *o)
{
	const char *id = who == ESC_ACTOR_BUYER    ? o->buyer_id
			 : who == ESC_ACTOR_SELLER ? o->seller_id
						   : NULL;
	esc_command_init(c, ev, who, id, o->id);
}

static int run(struct esc_fixture *f, struct esc_command *c, struct esc_result *r)
{
	memset(r, 0, sizeof *r);
	return esc_fixture_run(f, c, r);
}

static struct esc_order paid(struct esc_fixture *f, const struct esc_user *buyer)
{
	struct esc_order o = esc_fixture_order(f, buyer, &f->seller, TOTAL);
	return esc_fixture_pay(f, &o, ESC_METHOD_CARD);
}

static struct esc_order requested(struct esc_fixture *f, const char *reason)
{
	struct esc_order o = paid(f, &f->buyer);
	return esc_fixture_request(f, &o, reason, ESC_REFUND_TO_ORIGINAL);
}

/* A cancellation after payment, accepted by the seller. */
static struct esc_order cancelled_after_payment(struct esc_fixture *f)
{
	struct esc_order o = requested(f, "no_longer_needed");
	return esc_fixture_as(f, &o, ESC_EV_ACCEPT_CANCELLATION, ESC_ACTOR_SELLER);
}

static int request_cancel(struct esc_fixture *f, const struct esc_order *o, const char *reason,
			  struct esc_result *r)
{
	struct esc_command c;
	cmd_init(&c, ESC_EV_CANCEL, ESC_ACTOR_BUYER, o);
	c.args.reason = reason;
	return run(f, &c, r);
}

static struct esc_order shipped(struct esc_fixture *f)
{
	struct esc_order o = paid(f, &f->buyer);
	return esc_fixture_as(f, &o, ESC_EV_SHIP, ESC_ACTOR_SELLER);
}

static enum esc_buyer_level buyer_level(struct esc_fixture *f)
{
	struct esc_buyer_rep rep;
	assert_int_equal(esc_engine_buyer_reputation(f->e, f->buyer.id, &rep), 0);
	return rep.level;
}

/* --- the cancellation flow (SPEC §2, §3) --------------------------------- */

static void test_spec_2_seller_accepts_cancellation_order_cancelled(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = requested(f, "no_longer_needed");
	struct esc_command c;
	struct esc_result r;

	cmd_init(&c, ESC_EV_ACCEPT_CANCELLATION, ESC_ACTOR_SELLER, &o);
	assert_int_equal(run(f, &c, &r), 0);
	assert_int_equal(r.order.state, ESC_ST_CANCELLED);
	assert_int_equal(esc_fixture_get(f, o.id).state, ESC_ST_CANCELLED);
	assert_int_equal(esc_fixture_get(f, o.id).ended_at_ms, esc_engine_now(f->e));
	esc_fixture_check(f);
}

static void test_spec_2_seller_accepts_cancellation_full_refund_to_card_pending(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = cancelled_after_payment(f);
	struct esc_refund rf[4];

	assert_int_equal(refunds_of(f, o.id, rf, 4), 1);
	assert_int_equal(rf[0].amount_minor, TOTAL);
	assert_int_equal(rf[0].method, ESC_METHOD_CARD);
	assert_int_equal(rf[0].status, ESC_REFUND_PENDING);
	assert_int_equal(o.refunded_minor, TOTAL);
	assert_int_equal(esc_fixture_escrow_balance(f, o.id), 0);
	assert_int_equal(esc_fixture_balance(f, ESC_ACCOUNT_IN_TRANSIT), TOTAL);
	esc_fixture_check(f);
}

static void test_spec_2_accepted_cancellation_result_carries_the_refund(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = requested(f, "no_longer_needed");
	struct esc_command c;
	struct esc_result r;
	struct esc_refund rf[4];

	cmd_init(&c, ESC_EV_ACCEPT_CANCELLATION, ESC_ACTOR_SELLER, &o);
	assert_int_equal(run(f, &c, &r), 0);
	assert_true(r.has_refund);
	assert_int_equal(refunds_of(f, o.id, rf, 4), 1);
	assert_string_equal(r.refund.id, rf[0].id);
	assert_int_equal(r.refund.amount_minor, TOTAL);
	assert_int_equal(r.refund.status, ESC_REFUND_PENDING);
	esc_fixture_check(f);
}

static void test_spec_7_history_has_one_row_per_command_with_states_and_actor(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = cancelled_after_payment(f);
	size_t n = 0;
	struct esc_history *h = esc_fixture_history(f, o.id, &n);

	assert_int_equal(n, 4);
	static const struct {
		enum esc_event event;
		enum esc_actor actor;
		enum esc_state from, to;
		const char *type;
	} want[] = {
		{ESC_EV_CREATE, ESC_ACTOR_OPERATOR, ESC_ST_NONE, ESC_ST_AWAITING_PAYMENT,
		 "order.created"},
		{ESC_EV_PAY, ESC_ACTOR_OPERATOR, ESC_ST_AWAITING_PAYMENT, ESC_ST_AWAITING_SHIPMENT,
		 "order.paid"},
		{ESC_EV_CANCEL, ESC_ACTOR_BUYER, ESC_ST_AWAITING_SHIPMENT,
		 ESC_ST_CANCELLATION_REQUESTED, "cancellation.requested"},
		{ESC_EV_ACCEPT_CANCELLATION, ESC_ACTOR_SELLER, ESC_ST_CANCELLATION_REQUESTED,
		 ESC_ST_CANCELLED, "cancellation.accepted"},
	};
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(h[i].version, (int64_t)i + 1);
		assert_int_equal(h[i].event, want[i].event);
		assert_int_equal(h[i].actor, want[i].actor);
		assert_int_equal(h[i].from, want[i].from);
		assert_int_equal(h[i].to, want[i].to);
		assert_string_equal(h[i].type, want[i].type);
		assert_int_equal(h[i].at_ms, ESC_TEST_T0);
	}
	assert_string_equal(h[0].actor_id, "");
	assert_string_equal(h[2].actor_id, f->buyer.id);
	assert_string_equal(h[3].actor_id, f->seller.id);
	assert_non_null(strstr(h[2].detail, "no_longer_needed"));
	free(h);
	esc_fixture_check(f);
}

static void test_spec_7_outbox_has_one_row_per_command(void **state)
{
	struct esc_fixture *f = *state;
	int64_t before = esc_fixture_outbox_count(f);
	struct esc_order o = esc_fixture_order(f, &f->buyer, &f->seller, TOTAL);
	assert_int_equal(esc_fixture_outbox_count(f), before + 1);
	o = esc_fixture_pay(f, &o, ESC_METHOD_CARD);
	assert_int_equal(esc_fixture_outbox_count(f), before + 2);
	o = esc_fixture_request(f, &o, "no_longer_needed", ESC_REFUND_TO_ORIGINAL);
	assert_int_equal(esc_fixture_outbox_count(f), before + 3);
	esc_fixture_as(f, &o, ESC_EV_ACCEPT_CANCELLATION, ESC_ACTOR_SELLER);
	assert_int_equal(esc_fixture_outbox_count(f), before + 4);
	esc_fixture_check(f);
}

static void test_spec_6_accepted_cancellation_marks_buyer_cancelled(void **state)
{
	struct esc_fixture *f = *state;
	cancelled_after_payment(f);
	assert_int_equal(marks(f, f->buyer.id).long_[ESC_MARK_BUYER_CANCELLED], 1);
	assert_int_equal(marks(f, f->buyer2.id).long_[ESC_MARK_BUYER_CANCELLED], 0);
	esc_fixture_check(f);
}

static void test_spec_3_seller_fault_reason_marks_seller_and_lowers_score(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_seller_rep rep;
	struct esc_order o = requested(f, "out_of_stock");

	assert_int_equal(esc_engine_seller_reputation(f->e, f->seller.id, &rep), 0);
	assert_int_equal(rep.score, 100);
	esc_fixture_as(f, &o, ESC_EV_ACCEPT_CANCELLATION, ESC_ACTOR_SELLER);
	assert_int_equal(marks(f, f->seller.id).long_[ESC_MARK_SELLER_FAULT_CANCEL], 1);
	assert_int_equal(marks(f, f->buyer.id).long_[ESC_MARK_BUYER_CANCELLED], 1);
	assert_int_equal(esc_engine_seller_reputation(f->e, f->seller.id, &rep), 0);
	assert_int_equal(rep.fault_cancels, 1);
	assert_true(rep.score < 100);
	esc_fixture_check(f);
}

/* The order's event rows, oldest first (at most 16), with their payloads
 * (malloc'd, the caller's). */
static size_t order_rows(struct esc_fixture *f, const char *order_id,
			 struct esc_outbox_row rows[16], char *payloads[16])
{
	struct esc_event_filter filter = {.order_id = order_id};
	size_t n = 0;
	int rc;
	ESC_STORE(rc, esc_engine_writer(f->e), events_list, &filter, rows, payloads, 16, &n);
	assert_int_equal(rc, 0);
	return n;
}

/* Issue 14: the events of the order, oldest first (at most 16), each as
 * JSON; the caller frees them with json_decref. */
static size_t events_of(struct esc_fixture *f, const char *order_id, json_t *out[16])
{
	struct esc_outbox_row rows[16];
	char *payloads[16];
	size_t n = order_rows(f, order_id, rows, payloads);
	for (size_t i = 0; i < n; i++) {
		struct esc_strbuf sb;
		json_error_t err;
		esc_strbuf_init(&sb, 1u << 24);
		assert_int_equal(esc_feed_event_json(&rows[i], &sb), 0);
		out[i] = json_loads(esc_strbuf_str(&sb), 0, &err);
		assert_non_null(out[i]);
		esc_strbuf_release(&sb);
		free(payloads[i]);
	}
	return n;
}

/* Issue 14: the event of a command carries the order as the operator's
 * view shows it after the command (engine/view.c), at its version; a
 * seller-fault cancellation lowers the seller's score, which writes
 * reputation.seller_score_changed after it with the score before, in the
 * same transaction. */
static void test_issue_14_events_carry_the_order_then_the_score_it_changed(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_seller_rep rep;
	json_t *ev[16], *now = NULL;
	struct esc_viewer v;
	struct esc_order o = requested(f, "out_of_stock");
	int64_t before = esc_fixture_outbox_count(f);

	o = esc_fixture_as(f, &o, ESC_EV_ACCEPT_CANCELLATION, ESC_ACTOR_SELLER);
	assert_int_equal(esc_fixture_outbox_count(f), before + 2);
	size_t n = events_of(f, o.id, ev);
	assert_true(n >= 2);
	json_t *own = ev[n - 2], *score = ev[n - 1];
	assert_string_equal(json_string_value(json_object_get(own, "type")),
			    "cancellation.accepted");
	assert_int_equal(json_integer_value(json_object_get(own, "version")), o.version);
	esc_viewer_init(&v, ESC_ACTOR_OPERATOR, NULL);
	v.for_event = true; /* without the deadlines' rules (view.h) */
	now = esc_view_order(f->e, esc_engine_writer(f->e), &v, &o);
	assert_true(json_equal(json_object_get(json_object_get(own, "data"), "object"), now));
	json_decref(now);

	assert_string_equal(json_string_value(json_object_get(score, "type")),
			    "reputation.seller_score_changed");
	assert_int_equal(json_integer_value(json_object_get(score, "version")), o.version);
	json_t *data = json_object_get(score, "data");
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(data, "previous"), "score")),
		100);
	assert_int_equal(esc_engine_seller_reputation(f->e, f->seller.id, &rep), 0);
	json_t *object = json_object_get(data, "object");
	assert_string_equal(json_string_value(json_object_get(object, "user_id")), f->seller.id);
	assert_int_equal(json_integer_value(json_object_get(object, "score")), rep.score);
	for (size_t i = 0; i < n; i++)
		json_decref(ev[i]);
	esc_fixture_check(f);
}

/* Issue 14: marks that move no level or score write no reputation event
 * (a cancellation for the buyer's own reason marks them once). */
static void test_issue_14_marks_that_change_nothing_write_no_reputation_event(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = requested(f, "no_longer_needed");
	int64_t before = esc_fixture_outbox_count(f);
	esc_fixture_as(f, &o, ESC_EV_ACCEPT_CANCELLATION, ESC_ACTOR_SELLER);
	assert_int_equal(marks(f, f->buyer.id).long_[ESC_MARK_BUYER_CANCELLED], 1);
	assert_int_equal(esc_fixture_outbox_count(f), before + 1);
	esc_fixture_check(f);
}

static void test_spec_3_buyer_fault_reason_leaves_seller_score(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_seller_rep rep;
	cancelled_after_payment(f); /* no_longer_needed: the buyer's fault */

	assert_int_equal(marks(f, f->seller.id).long_[ESC_MARK_SELLER_FAULT_CANCEL], 0);
	assert_int_equal(esc_engine_seller_reputation(f->e, f->seller.id, &rep), 0);
	assert_int_equal(rep.fault_cancels, 0);
	assert_int_equal(rep.score, 100);
	esc_fixture_check(f);
}

static void test_spec_2_request_sets_response_deadline_72_hours(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = requested(f, "no_longer_needed");
	struct esc_deadline d[8];
	size_t n = deadlines_of(f, o.id, d, 8);
	bool found = false;

	assert_int_equal(o.state, ESC_ST_CANCELLATION_REQUESTED);
	assert_int_equal(o.due_ms[ESC_DL_RESPONSE], ESC_TEST_T0 + 72 * HOUR);
	for (size_t i = 0; i < n; i++)
		found |= d[i].kind == ESC_DL_RESPONSE && d[i].due_ms == ESC_TEST_T0 + 72 * HOUR;
	assert_true(found);
	esc_fixture_check(f);
}

static void test_spec_2_seller_rejects_with_message_back_to_awaiting_shipment(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = paid(f, &f->buyer);
	int64_t ship_due = o.due_ms[ESC_DL_SHIP];
	struct esc_command c;
	struct esc_result r;

	o = esc_fixture_request(f, &o, "better_price", ESC_REFUND_TO_ORIGINAL);
	assert_int_equal(esc_engine_advance(f->e, HOUR), 0);
	cmd_init(&c, ESC_EV_REJECT_CANCELLATION, ESC_ACTOR_SELLER, &o);
	c.args.message = "Already packed, it ships today.";
	assert_int_equal(run(f, &c, &r), 0);

	struct esc_order got = esc_fixture_get(f, o.id);
	assert_int_equal(got.state, ESC_ST_AWAITING_SHIPMENT);
	assert_string_equal(got.reject_message, "Already packed, it ships today.");
	assert_int_equal(got.due_ms[ESC_DL_SHIP], ship_due);
	assert_int_equal(got.due_ms[ESC_DL_RESPONSE], 0);
	assert_int_equal(got.paid_minor, TOTAL);
	assert_int_equal(esc_fixture_escrow_balance(f, o.id), TOTAL);
	assert_int_equal(refunds_all(f), 0);

	struct esc_deadline d[8];
	size_t n = deadlines_of(f, o.id, d, 8);
	assert_int_equal(n, 1);
	assert_int_equal(d[0].kind, ESC_DL_SHIP);
	assert_int_equal(d[0].due_ms, ship_due);
	esc_fixture_check(f);
}

static void test_spec_2_rejection_leaves_no_reputation_mark(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = requested(f, "out_of_stock");
	esc_fixture_as(f, &o, ESC_EV_REJECT_CANCELLATION, ESC_ACTOR_SELLER);
	assert_int_equal(marks(f, f->buyer.id).long_[ESC_MARK_BUYER_CANCELLED], 0);
	assert_int_equal(marks(f, f->seller.id).long_[ESC_MARK_SELLER_FAULT_CANCEL], 0);
	esc_fixture_check(f);
}

static void test_spec_2_second_request_after_rejection_allowed(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = requested(f, "no_longer_needed");
	struct esc_result r;

	o = esc_fixture_as(f, &o, ESC_EV_REJECT_CANCELLATION, ESC_ACTOR_SELLER);
	assert_int_equal(request_cancel(f, &o, "change_order", &r), 0);
	assert_int_equal(r.order.state, ESC_ST_CANCELLATION_REQUESTED);
	assert_int_equal(r.order.cancel_requests, 2);
	assert_string_equal(esc_fixture_get(f, o.id).cancel_reason, "change_order");
	esc_fixture_check(f);
}

static void test_spec_2_third_request_refused_limit_reached_writes_nothing(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = requested(f, "no_longer_needed");
	struct esc_result r;

	o = esc_fixture_as(f, &o, ESC_EV_REJECT_CANCELLATION, ESC_ACTOR_SELLER);
	o = esc_fixture_request(f, &o, "change_order", ESC_REFUND_TO_ORIGINAL);
	o = esc_fixture_as(f, &o, ESC_EV_REJECT_CANCELLATION, ESC_ACTOR_SELLER);
	struct snapshot before = snap(f, o.id);
	assert_int_equal(request_cancel(f, &o, "no_longer_needed", &r), ESC_ELIMIT);
	assert_string_equal(esc_error_code(r.rc), "limit_reached");
	assert_nothing_written(f, o.id, &before);
	assert_int_equal(esc_fixture_get(f, o.id).state, ESC_ST_AWAITING_SHIPMENT);
	esc_fixture_check(f);
}

static void test_spec_2_buyer_withdraws_request_back_to_awaiting_shipment(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = requested(f, "no_longer_needed");
	int64_t ship_due = o.due_ms[ESC_DL_SHIP];

	o = esc_fixture_as(f, &o, ESC_EV_WITHDRAW_CANCELLATION, ESC_ACTOR_BUYER);
	struct esc_order got = esc_fixture_get(f, o.id);
	assert_int_equal(got.state, ESC_ST_AWAITING_SHIPMENT);
	assert_int_equal(got.due_ms[ESC_DL_RESPONSE], 0);
	assert_int_equal(got.due_ms[ESC_DL_SHIP], ship_due);
	assert_int_equal(esc_fixture_escrow_balance(f, o.id), TOTAL);
	assert_int_equal(refunds_all(f), 0);
	assert_int_equal(marks(f, f->buyer.id).long_[ESC_MARK_BUYER_CANCELLED], 0);
	esc_fixture_check(f);
}

static void test_spec_2_ship_while_request_open_refused_cancellation_pending(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = requested(f, "no_longer_needed");
	struct esc_command c;
	struct esc_result r;

	struct snapshot before = snap(f, o.id);
	cmd_init(&c, ESC_EV_SHIP, ESC_ACTOR_SELLER, &o);
	c.args.carrier = "Posturinn";
	c.args.tracking = "RR123456789IS";
	assert_int_equal(run(f, &c, &r), ESC_EPENDING);
	assert_string_equal(esc_error_code(r.rc), "cancellation_pending");
	assert_nothing_written(f, o.id, &before);
	assert_int_equal(esc_fixture_get(f, o.id).state, ESC_ST_CANCELLATION_REQUESTED);
	esc_fixture_check(f);
}

static void assert_cancel_refused_order_shipped(struct esc_fixture *f, const struct esc_order *o)
{
	struct esc_result r;
	struct snapshot before = snap(f, o->id);
	assert_int_equal(request_cancel(f, o, "no_longer_needed", &r), ESC_ESHIPPED);
	assert_string_equal(esc_error_code(r.rc), "order_shipped");
	assert_int_equal(esc_error_status(r.rc), 409);
	assert_non_null(strstr(r.message, "dispute"));
	assert_nothing_written(f, o->id, &before);
	esc_fixture_check(f);
}

static void test_spec_2_cancel_shipped_refused_order_shipped_points_to_dispute(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = shipped(f);
	assert_cancel_refused_order_shipped(f, &o);
}

static void test_spec_2_cancel_delivered_refused_order_shipped_points_to_dispute(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = shipped(f);
	o = esc_fixture_as(f, &o, ESC_EV_DELIVER, ESC_ACTOR_OPERATOR);
	assert_int_equal(o.state, ESC_ST_DELIVERED);
	assert_cancel_refused_order_shipped(f, &o);
}

static void test_spec_2_cancel_completed_refused_order_shipped_points_to_dispute(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = shipped(f);
	o = esc_fixture_as(f, &o, ESC_EV_CONFIRM_RECEIPT, ESC_ACTOR_BUYER);
	assert_int_equal(o.state, ESC_ST_COMPLETED);
	assert_cancel_refused_order_shipped(f, &o);
}

static void test_spec_2_unpaid_cancel_cancels_at_once_without_transfers_or_marks(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = esc_fixture_order(f, &f->buyer, &f->seller, TOTAL);
	int64_t transfers = esc_fixture_transfers_count(f);
	struct esc_result r;

	assert_int_equal(request_cancel(f, &o, NULL, &r), 0);
	assert_int_equal(r.order.state, ESC_ST_CANCELLED);
	assert_false(r.has_refund);
	struct esc_order got = esc_fixture_get(f, o.id);
	assert_int_equal(got.state, ESC_ST_CANCELLED);
	assert_int_equal(got.due_ms[ESC_DL_PAYMENT], 0);
	assert_int_equal(esc_fixture_transfers_count(f), transfers);
	assert_int_equal(refunds_all(f), 0);
	struct esc_rep_counts b = marks(f, f->buyer.id), s = marks(f, f->seller.id);
	for (int m = 0; m < ESC_MARK_COUNT; m++) {
		assert_int_equal(b.long_[m], 0);
		assert_int_equal(s.long_[m], 0);
	}
	struct esc_deadline d[4];
	assert_int_equal(deadlines_of(f, o.id, d, 4), 0);
	esc_fixture_check(f);
}

/* --- bad input: refused with its code, nothing written (SPEC §7) --------- */

static void test_spec_7_unknown_order_refused_not_found(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = paid(f, &f->buyer);
	struct esc_command c;
	struct esc_result r;

	struct snapshot before = snap(f, o.id);
	esc_command_init(&c, ESC_EV_CANCEL, ESC_ACTOR_BUYER, f->buyer.id, "ord_NOSUCHORDER");
	c.args.reason = "no_longer_needed";
	assert_int_equal(run(f, &c, &r), ESC_ENOTFOUND);
	assert_false(r.has_order);
	assert_nothing_written(f, o.id, &before);
	esc_fixture_check(f);
}

static void test_spec_3_unknown_reason_refused_invalid_request(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = paid(f, &f->buyer);
	struct esc_result r;

	struct snapshot before = snap(f, o.id);
	assert_int_equal(request_cancel(f, &o, "changed_my_mind", &r), ESC_EINVAL);
	assert_nothing_written(f, o.id, &before);
	assert_int_equal(request_cancel(f, &o, NULL, &r), ESC_EINVAL);
	assert_nothing_written(f, o.id, &before);
	esc_fixture_check(f);
}

static int pay_amount(struct esc_fixture *f, const struct esc_order *o, int64_t amount,
		      enum esc_method m, struct esc_result *r)
{
	struct esc_command c;
	cmd_init(&c, ESC_EV_PAY, ESC_ACTOR_OPERATOR, o);
	c.args.amount_minor = amount;
	c.args.method = (int)m;
	return run(f, &c, r);
}

static void test_spec_4_negative_payment_refused_invalid_request(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = esc_fixture_order(f, &f->buyer, &f->seller, TOTAL);
	struct esc_result r;

	struct snapshot before = snap(f, o.id);
	assert_int_equal(pay_amount(f, &o, -TOTAL, ESC_METHOD_CARD, &r), ESC_EINVAL);
	assert_nothing_written(f, o.id, &before);
	assert_int_equal(esc_fixture_get(f, o.id).state, ESC_ST_AWAITING_PAYMENT);
	esc_fixture_check(f);
}

static void test_spec_4_overflowing_payment_refused_invalid_request(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = esc_fixture_order(f, &f->buyer, &f->seller, TOTAL);
	struct esc_result r;

	struct snapshot before = snap(f, o.id);
	assert_int_equal(pay_amount(f, &o, INT64_MAX, ESC_METHOD_CARD, &r), ESC_EINVAL);
	assert_nothing_written(f, o.id, &before);
	esc_fixture_check(f);
}

static void test_spec_4_payment_not_equal_to_total_refused_amount_mismatch(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = esc_fixture_order(f, &f->buyer, &f->seller, TOTAL);
	struct esc_result r;

	struct snapshot before = snap(f, o.id);
	assert_int_equal(pay_amount(f, &o, TOTAL - 1, ESC_METHOD_CARD, &r), ESC_EAMOUNT);
	assert_nothing_written(f, o.id, &before);
	assert_int_equal(pay_amount(f, &o, TOTAL + 1, ESC_METHOD_CARD, &r), ESC_EAMOUNT);
	assert_nothing_written(f, o.id, &before);
	esc_fixture_check(f);
}

static void test_spec_4_payment_without_method_refused_invalid_request(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = esc_fixture_order(f, &f->buyer, &f->seller, TOTAL);
	struct esc_command c;
	struct esc_result r;

	struct snapshot before = snap(f, o.id);
	cmd_init(&c, ESC_EV_PAY, ESC_ACTOR_OPERATOR, &o);
	c.args.amount_minor = TOTAL; /* method left at -1 */
	assert_int_equal(run(f, &c, &r), ESC_EINVAL);
	assert_nothing_written(f, o.id, &before);
	esc_fixture_check(f);
}

static void test_spec_2_second_payment_refused_invalid_state(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = paid(f, &f->buyer);
	struct esc_result r;

	struct snapshot before = snap(f, o.id);
	assert_int_equal(pay_amount(f, &o, TOTAL, ESC_METHOD_CARD, &r), ESC_ESTATE);
	assert_true(r.has_order);
	assert_int_equal(r.order.state, ESC_ST_AWAITING_SHIPMENT);
	assert_nothing_written(f, o.id, &before);
	assert_int_equal(esc_fixture_escrow_balance(f, o.id), TOTAL);
	esc_fixture_check(f);
}

static void test_spec_7_create_for_unknown_buyer_refused_not_found(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_command c;
	struct esc_result r;
	struct esc_item item = {.quantity = 1, .unit_price_minor = TOTAL};
	snprintf(item.title, sizeof item.title, "Test item");

	struct snapshot before = snap(f, NULL);
	esc_command_init(&c, ESC_EV_CREATE, ESC_ACTOR_OPERATOR, NULL, NULL);
	c.args.buyer_id = "usr_NOSUCHBUYER";
	c.args.seller_id = f->seller.id;
	c.args.currency = "EUR";
	c.args.items = &item;
	c.args.items_count = 1;
	assert_int_equal(run(f, &c, &r), ESC_ENOTFOUND);
	assert_false(r.has_order);
	assert_nothing_written(f, NULL, &before);
	esc_fixture_check(f);
}

static void test_spec_7_create_with_seller_as_buyer_refused_not_found(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_command c;
	struct esc_result r;
	struct esc_item item = {.quantity = 1, .unit_price_minor = TOTAL};
	snprintf(item.title, sizeof item.title, "Test item");

	struct snapshot before = snap(f, NULL);
	esc_command_init(&c, ESC_EV_CREATE, ESC_ACTOR_OPERATOR, NULL, NULL);
	c.args.buyer_id = f->seller2.id;
	c.args.seller_id = f->seller.id;
	c.args.currency = "EUR";
	c.args.items = &item;
	c.args.items_count = 1;
	assert_int_equal(run(f, &c, &r), ESC_ENOTFOUND);
	assert_nothing_written(f, NULL, &before);
	esc_fixture_check(f);
}

static void test_spec_1_another_buyer_refused_not_found_without_the_order(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = paid(f, &f->buyer);
	struct esc_command c;
	struct esc_result r;

	struct snapshot before = snap(f, o.id);
	esc_command_init(&c, ESC_EV_CANCEL, ESC_ACTOR_BUYER, f->buyer2.id, o.id);
	c.args.reason = "no_longer_needed";
	assert_int_equal(run(f, &c, &r), ESC_ENOTFOUND);
	assert_false(r.has_order);
	assert_null(strstr(r.message, o.id));
	assert_nothing_written(f, o.id, &before);
	esc_fixture_check(f);
}

static void test_spec_1_another_seller_refused_not_found_without_the_order(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = paid(f, &f->buyer);
	struct esc_command c;
	struct esc_result r;

	struct snapshot before = snap(f, o.id);
	esc_command_init(&c, ESC_EV_SHIP, ESC_ACTOR_SELLER, f->seller2.id, o.id);
	c.args.carrier = "Posturinn";
	c.args.tracking = "RR123456789IS";
	assert_int_equal(run(f, &c, &r), ESC_ENOTFOUND);
	assert_false(r.has_order);
	assert_nothing_written(f, o.id, &before);
	esc_fixture_check(f);
}

static void test_spec_1_another_buyer_with_if_match_refused_not_found(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = paid(f, &f->buyer);
	struct esc_command c;
	struct esc_result r;

	struct snapshot before = snap(f, o.id);
	esc_command_init(&c, ESC_EV_CANCEL, ESC_ACTOR_BUYER, f->buyer2.id, o.id);
	c.args.reason = "no_longer_needed";
	c.if_match = o.version + 7;
	assert_int_equal(run(f, &c, &r), ESC_ENOTFOUND);
	assert_false(r.has_order);
	assert_nothing_written(f, o.id, &before);
	esc_fixture_check(f);
}

static void test_spec_1_seller_sending_cancel_refused_forbidden(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = paid(f, &f->buyer);
	struct esc_command c;
	struct esc_result r;

	struct snapshot before = snap(f, o.id);
	cmd_init(&c, ESC_EV_CANCEL, ESC_ACTOR_SELLER, &o);
	c.args.reason = "no_longer_needed";
	assert_int_equal(run(f, &c, &r), ESC_EFORBIDDEN);
	assert_nothing_written(f, o.id, &before);
	esc_fixture_check(f);
}

static void test_spec_7_stale_if_match_refused_precondition_failed(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = paid(f, &f->buyer);
	struct esc_command c;
	struct esc_result r;

	struct snapshot before = snap(f, o.id);
	cmd_init(&c, ESC_EV_CANCEL, ESC_ACTOR_BUYER, &o);
	c.args.reason = "no_longer_needed";
	c.if_match = o.version - 1;
	assert_int_equal(run(f, &c, &r), ESC_EPRECONDITION);
	assert_int_equal(esc_error_status(r.rc), 412);
	assert_true(r.has_order);
	assert_int_equal(r.order.version, o.version);
	assert_nothing_written(f, o.id, &before);
	esc_fixture_check(f);
}

static void test_spec_7_current_if_match_accepted(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = paid(f, &f->buyer);
	struct esc_command c;
	struct esc_result r;

	cmd_init(&c, ESC_EV_CANCEL, ESC_ACTOR_BUYER, &o);
	c.args.reason = "no_longer_needed";
	c.if_match = o.version;
	assert_int_equal(run(f, &c, &r), 0);
	assert_int_equal(r.order.version, o.version + 1);
	esc_fixture_check(f);
}

static void test_spec_7_ship_with_empty_carrier_refused_invalid_request(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = paid(f, &f->buyer);
	struct esc_command c;
	struct esc_result r;

	struct snapshot before = snap(f, o.id);
	cmd_init(&c, ESC_EV_SHIP, ESC_ACTOR_SELLER, &o);
	c.args.carrier = "";
	c.args.tracking = "RR123456789IS";
	assert_int_equal(run(f, &c, &r), ESC_EINVAL);
	assert_nothing_written(f, o.id, &before);
	assert_int_equal(esc_fixture_get(f, o.id).state, ESC_ST_AWAITING_SHIPMENT);
	esc_fixture_check(f);
}

static void test_spec_7_reject_without_message_refused_invalid_request(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = requested(f, "no_longer_needed");
	struct esc_command c;
	struct esc_result r;

	struct snapshot before = snap(f, o.id);
	cmd_init(&c, ESC_EV_REJECT_CANCELLATION, ESC_ACTOR_SELLER, &o);
	assert_int_equal(run(f, &c, &r), ESC_EINVAL);
	assert_nothing_written(f, o.id, &before);
	c.args.message = "";
	assert_int_equal(run(f, &c, &r), ESC_EINVAL);
	assert_nothing_written(f, o.id, &before);
	assert_int_equal(esc_fixture_get(f, o.id).state, ESC_ST_CANCELLATION_REQUESTED);
	esc_fixture_check(f);
}

static void test_spec_7_comment_over_1000_bytes_refused_invalid_request(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = paid(f, &f->buyer);
	struct esc_command c;
	struct esc_result r;
	char comment[ESC_TEXT_MAX + 2];

	memset(comment, 'a', ESC_TEXT_MAX + 1);
	comment[ESC_TEXT_MAX + 1] = '\0';
	struct snapshot before = snap(f, o.id);
	cmd_init(&c, ESC_EV_CANCEL, ESC_ACTOR_BUYER, &o);
	c.args.reason = "no_longer_needed";
	c.args.comment = comment;
	assert_int_equal(run(f, &c, &r), ESC_EINVAL);
	assert_nothing_written(f, o.id, &before);
	esc_fixture_check(f);
}

static void test_spec_7_comment_of_1000_bytes_kept(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = paid(f, &f->buyer);
	struct esc_command c;
	struct esc_result r;
	char comment[ESC_TEXT_MAX + 1];

	memset(comment, 'a', ESC_TEXT_MAX);
	comment[ESC_TEXT_MAX] = '\0';
	cmd_init(&c, ESC_EV_CANCEL, ESC_ACTOR_BUYER, &o);
	c.args.reason = "no_longer_needed";
	c.args.comment = comment;
	assert_int_equal(run(f, &c, &r), 0);
	assert_string_equal(esc_fixture_get(f, o.id).cancel_comment, comment);
	esc_fixture_check(f);
}

/* Text the rules accept is kept whole in the history: JSON escaping may
 * make it several times longer than its 1000 bytes. */
static void test_spec_7_history_keeps_a_1000_byte_comment_of_quotes_whole(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = paid(f, &f->buyer);
	struct esc_command c;
	struct esc_result r;
	char comment[ESC_TEXT_MAX + 1];
	char *want = calloc(1, 3 * ESC_TEXT_MAX + 200);
	size_t n = 0;

	assert_non_null(want);
	memset(comment, '"', ESC_TEXT_MAX);
	comment[ESC_TEXT_MAX] = '\0';
	cmd_init(&c, ESC_EV_CANCEL, ESC_ACTOR_BUYER, &o);
	c.args.reason = "no_longer_needed";
	c.args.comment = comment;
	assert_int_equal(run(f, &c, &r), 0);
	strcpy(want, "{\"reason\":\"no_longer_needed\",\"comment\":\"");
	for (size_t i = 0; i < ESC_TEXT_MAX; i++)
		strcat(want, "\\\"");
	strcat(want, "\",\"refund_to\":\"original\"}");

	struct esc_history *h = esc_fixture_history(f, o.id, &n);
	assert_int_equal(n, 3);
	assert_int_equal(h[2].event, ESC_EV_CANCEL);
	assert_int_equal(strlen(h[2].detail), strlen(want)); /* not cut short */
	assert_string_equal(h[2].detail, want);
	free(h);
	free(want);
	esc_fixture_check(f);
}

static void test_spec_7_comment_of_1000_line_breaks_accepted(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = paid(f, &f->buyer);
	struct esc_command c;
	struct esc_result r;
	char comment[ESC_TEXT_MAX + 1];

	memset(comment, '\n', ESC_TEXT_MAX);
	comment[ESC_TEXT_MAX] = '\0';
	cmd_init(&c, ESC_EV_CANCEL, ESC_ACTOR_BUYER, &o);
	c.args.reason = "no_longer_needed";
	c.args.comment = comment;
	assert_int_equal(run(f, &c, &r), 0);
	assert_int_equal(esc_fixture_get(f, o.id).state, ESC_ST_CANCELLATION_REQUESTED);
	assert_int_equal(esc_fixture_history_count(f, o.id), 3);
	esc_fixture_check(f);
}

static void test_spec_1_non_party_with_wrong_role_refused_not_found(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = paid(f, &f->buyer);
	struct esc_command c;
	struct esc_result r;

	struct snapshot before = snap(f, o.id);
	/* Another shop's seller sends the buyer's event: answered as for an
	 * order that does not exist, so its existence is not revealed. */
	esc_command_init(&c, ESC_EV_CANCEL, ESC_ACTOR_SELLER, f->seller2.id, o.id);
	c.args.reason = "no_longer_needed";
	assert_int_equal(run(f, &c, &r), ESC_ENOTFOUND);
	assert_false(r.has_order);
	assert_nothing_written(f, o.id, &before);
	esc_fixture_check(f);
}

/* --- buyer levels through the engine (SPEC §6) --------------------------- */

static void cancel_after_payment_times(struct esc_fixture *f, int n)
{
	for (int i = 0; i < n; i++)
		cancelled_after_payment(f);
}

static void test_spec_6_three_cancellations_in_30_days_put_buyer_on_watch(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_result r;

	cancel_after_payment_times(f, 2);
	struct esc_order o = paid(f, &f->buyer);
	assert_int_equal(request_cancel(f, &o, "no_longer_needed", &r), 0);
	assert_int_equal(r.buyer_level, ESC_LEVEL_GOOD);
	esc_fixture_as(f, &r.order, ESC_EV_ACCEPT_CANCELLATION, ESC_ACTOR_SELLER);

	assert_int_equal(buyer_level(f), ESC_LEVEL_WATCH);
	o = paid(f, &f->buyer);
	assert_int_equal(request_cancel(f, &o, "no_longer_needed", &r), 0);
	assert_int_equal(r.buyer_level, ESC_LEVEL_WATCH);
	esc_fixture_check(f);
}

static void test_spec_6_five_cancellations_in_30_days_restrict_buyer(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_result r;

	cancel_after_payment_times(f, 4);
	assert_int_equal(buyer_level(f), ESC_LEVEL_WATCH);
	cancel_after_payment_times(f, 1);
	assert_int_equal(buyer_level(f), ESC_LEVEL_RESTRICTED);
	struct esc_order o = paid(f, &f->buyer);
	assert_int_equal(request_cancel(f, &o, "no_longer_needed", &r), 0);
	assert_int_equal(r.buyer_level, ESC_LEVEL_RESTRICTED);
	esc_fixture_check(f);
}

static void test_spec_6_ten_cancellations_in_90_days_suspend_requests(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_result r;

	cancel_after_payment_times(f, 9);
	assert_int_equal(buyer_level(f), ESC_LEVEL_RESTRICTED);
	cancel_after_payment_times(f, 1);
	assert_int_equal(buyer_level(f), ESC_LEVEL_SUSPENDED);

	struct esc_order o = paid(f, &f->buyer);
	struct snapshot before = snap(f, o.id);
	assert_int_equal(request_cancel(f, &o, "no_longer_needed", &r), ESC_ESUSPENDED);
	assert_string_equal(esc_error_code(r.rc), "account_suspended");
	assert_nothing_written(f, o.id, &before);
	assert_int_equal(esc_fixture_get(f, o.id).state, ESC_ST_AWAITING_SHIPMENT);
	esc_fixture_check(f);
}

/* Sets the marks a lift recorded of its millisecond (-1: a lift of a
 * version before it recorded them). */
static int lift_ms_set(struct esc_store *s, void *arg)
{
	struct esc_user *u = arg;
	int rc;
	ESC_STORE(rc, s, user_update, u);
	return rc;
}

/* SPEC §6: an arbiter's lift holds the buyer at restricted; the
 * cancellations after it suspend them again, those made in its own
 * millisecond too (the manual clock stands still here). A lift of an
 * earlier version counts none of its millisecond's. */
static void test_spec_6_cancellations_after_a_lift_suspend_again(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_buyer_rep rep;
	struct esc_user u;
	int rc;

	cancel_after_payment_times(f, 10);
	assert_int_equal(buyer_level(f), ESC_LEVEL_SUSPENDED);
	assert_int_equal(esc_engine_lift_suspension(f->e, "usr_arbiter", f->buyer.id,
						    "The card was stolen", &rep),
			 0);
	assert_int_equal(rep.level, ESC_LEVEL_RESTRICTED);
	ESC_STORE(rc, store(f), user_get, f->buyer.id, &u);
	assert_int_equal(rc, 0);
	assert_int_equal(u.lift_ms_cancellations, 10);
	assert_int_equal(u.lift_ms_lost_disputes, 0);
	cancel_after_payment_times(f, 9);
	assert_int_equal(buyer_level(f), ESC_LEVEL_RESTRICTED);
	cancel_after_payment_times(f, 1);
	assert_int_equal(buyer_level(f), ESC_LEVEL_SUSPENDED);
	assert_int_equal(esc_engine_buyer_reputation(f->e, f->buyer.id, &rep), 0);
	assert_string_equal(rep.why, "10 cancellations after payment since an arbiter lifted the "
				     "suspension (suspended at 10 in 90 days)");

	u.lift_ms_cancellations = -1;
	u.lift_ms_lost_disputes = -1;
	assert_int_equal(esc_engine_transact(f->e, lift_ms_set, &u), 0);
	assert_int_equal(buyer_level(f), ESC_LEVEL_RESTRICTED);
	assert_int_equal(esc_engine_advance(f->e, 1), 0);
	cancel_after_payment_times(f, 9);
	assert_int_equal(buyer_level(f), ESC_LEVEL_RESTRICTED);
	cancel_after_payment_times(f, 1);
	assert_int_equal(buyer_level(f), ESC_LEVEL_SUSPENDED);
	esc_fixture_check(f);
}

static void test_spec_6_ten_cancellations_spread_over_90_days_suspend(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_result r;
	struct esc_buyer_rep rep;

	cancel_after_payment_times(f, 5);
	assert_int_equal(esc_engine_advance(f->e, 40 * DAY), 0);
	cancel_after_payment_times(f, 5);
	assert_int_equal(esc_engine_buyer_reputation(f->e, f->buyer.id, &rep), 0);
	assert_int_equal(rep.cancellations_short, 5);
	assert_int_equal(rep.cancellations_long, 10);
	assert_int_equal(rep.level, ESC_LEVEL_SUSPENDED);
	struct esc_order o = paid(f, &f->buyer);
	assert_int_equal(request_cancel(f, &o, "no_longer_needed", &r), ESC_ESUSPENDED);
	esc_fixture_check(f);
}

static void test_spec_6_restricted_buyer_recovers_after_30_days(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_result r;

	cancel_after_payment_times(f, 5);
	assert_int_equal(buyer_level(f), ESC_LEVEL_RESTRICTED);
	assert_int_equal(esc_engine_advance(f->e, 30 * DAY - 1), 0);
	assert_int_equal(buyer_level(f), ESC_LEVEL_RESTRICTED);
	assert_int_equal(esc_engine_advance(f->e, 1), 0);
	assert_int_equal(buyer_level(f), ESC_LEVEL_GOOD);
	struct esc_order o = paid(f, &f->buyer);
	assert_int_equal(request_cancel(f, &o, "no_longer_needed", &r), 0);
	assert_int_equal(r.buyer_level, ESC_LEVEL_GOOD);
	esc_fixture_check(f);
}

static void test_spec_6_suspended_buyer_recovers_after_90_days(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_result r;

	cancel_after_payment_times(f, 10);
	assert_int_equal(esc_engine_advance(f->e, 31 * DAY), 0);
	assert_int_equal(buyer_level(f), ESC_LEVEL_SUSPENDED);
	assert_int_equal(esc_engine_advance(f->e, 59 * DAY), 0);
	assert_int_equal(buyer_level(f), ESC_LEVEL_GOOD);
	struct esc_order o = paid(f, &f->buyer);
	assert_int_equal(request_cancel(f, &o, "no_longer_needed", &r), 0);
	assert_int_equal(r.buyer_level, ESC_LEVEL_GOOD);
	esc_fixture_check(f);
}

static void test_spec_6_cancellation_rate_over_30_percent_of_10_paid_restricts(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_result r;
	struct esc_buyer_rep rep;

	cancel_after_payment_times(f, 4);
	assert_int_equal(esc_engine_advance(f->e, 31 * DAY), 0); /* out of the 30 days */
	for (int i = 0; i < 5; i++)
		paid(f, &f->buyer);
	assert_int_equal(esc_engine_buyer_reputation(f->e, f->buyer.id, &rep), 0);
	assert_int_equal(rep.paid_long, 9);
	assert_int_equal(rep.level, ESC_LEVEL_GOOD); /* 4 of 9: fewer than 10 paid */

	struct esc_order o = paid(f, &f->buyer);
	assert_int_equal(esc_engine_buyer_reputation(f->e, f->buyer.id, &rep), 0);
	assert_int_equal(rep.cancellations_short, 0);
	assert_int_equal(rep.rate_percent, 40);
	assert_int_equal(rep.level, ESC_LEVEL_RESTRICTED);
	assert_int_equal(request_cancel(f, &o, "no_longer_needed", &r), 0);
	assert_int_equal(r.buyer_level, ESC_LEVEL_RESTRICTED);
	esc_fixture_check(f);
}

static void test_spec_6_unpaid_cancellations_do_not_count(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_result r;

	for (int i = 0; i < 10; i++) {
		struct esc_order o = esc_fixture_order(f, &f->buyer, &f->seller, TOTAL);
		assert_int_equal(request_cancel(f, &o, NULL, &r), 0);
		assert_int_equal(r.order.state, ESC_ST_CANCELLED);
	}
	assert_int_equal(marks(f, f->buyer.id).long_[ESC_MARK_BUYER_CANCELLED], 0);
	assert_int_equal(buyer_level(f), ESC_LEVEL_GOOD);
	struct esc_order o = paid(f, &f->buyer);
	assert_int_equal(request_cancel(f, &o, "no_longer_needed", &r), 0);
	assert_int_equal(r.buyer_level, ESC_LEVEL_GOOD);
	esc_fixture_check(f);
}

static void test_spec_6_another_buyers_cancellations_do_not_count(void **state)
{
	struct esc_fixture *f = *state;
	for (int i = 0; i < 5; i++) {
		struct esc_order o = paid(f, &f->buyer2);
		o = esc_fixture_request(f, &o, "no_longer_needed", ESC_REFUND_TO_ORIGINAL);
		esc_fixture_as(f, &o, ESC_EV_ACCEPT_CANCELLATION, ESC_ACTOR_SELLER);
	}
	assert_int_equal(buyer_level(f), ESC_LEVEL_GOOD);
	esc_fixture_check(f);
}

/* --- group commit -------------------------------------------------------- */

static void test_engine_batch_refused_command_leaves_nothing_others_persist(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order a = esc_fixture_order(f, &f->buyer, &f->seller, TOTAL);
	struct esc_order b = esc_fixture_order(f, &f->buyer, &f->seller, TOTAL);
	struct esc_order c = esc_fixture_order(f, &f->buyer2, &f->seller, TOTAL);
	struct esc_command cmds[3];
	struct esc_result res[3];
	int64_t outbox = esc_fixture_outbox_count(f), transfers = esc_fixture_transfers_count(f);

	cmd_init(&cmds[0], ESC_EV_PAY, ESC_ACTOR_OPERATOR, &a);
	cmds[0].args.amount_minor = TOTAL;
	cmds[0].args.method = ESC_METHOD_CARD;
	cmd_init(&cmds[1], ESC_EV_PAY, ESC_ACTOR_OPERATOR, &b);
	cmds[1].args.amount_minor = TOTAL + 1; /* refused */
	cmds[1].args.method = ESC_METHOD_CARD;
	cmd_init(&cmds[2], ESC_EV_PAY, ESC_ACTOR_OPERATOR, &c);
	cmds[2].args.amount_minor = TOTAL;
	cmds[2].args.method = ESC_METHOD_WALLET;
	assert_int_equal(esc_engine_exec_batch(f->e, cmds, 3, res), 0);

	assert_int_equal(res[0].rc, 0);
	assert_int_equal(res[1].rc, ESC_EAMOUNT);
	assert_int_equal(res[2].rc, 0);
	assert_int_equal(esc_fixture_get(f, a.id).state, ESC_ST_AWAITING_SHIPMENT);
	assert_int_equal(esc_fixture_get(f, c.id).state, ESC_ST_AWAITING_SHIPMENT);
	assert_int_equal(esc_fixture_history_count(f, a.id), 2);
	assert_int_equal(esc_fixture_history_count(f, c.id), 2);
	struct esc_order got = esc_fixture_get(f, b.id);
	assert_int_equal(got.state, ESC_ST_AWAITING_PAYMENT);
	assert_int_equal(got.version, 1);
	assert_int_equal(got.paid_minor, 0);
	assert_int_equal(esc_fixture_history_count(f, b.id), 1);
	assert_int_equal(esc_fixture_escrow_balance(f, b.id), 0);
	assert_int_equal(esc_fixture_escrow_balance(f, a.id), TOTAL);
	assert_int_equal(esc_fixture_escrow_balance(f, c.id), TOTAL);
	assert_int_equal(esc_fixture_outbox_count(f), outbox + 2);
	assert_int_equal(esc_fixture_transfers_count(f), transfers + 2);
	assert_int_equal(marks(f, f->buyer.id).long_[ESC_MARK_BUYER_PAID], 1);
	assert_int_equal(marks(f, f->buyer2.id).long_[ESC_MARK_BUYER_PAID], 1);
	esc_fixture_check(f);
}

static void test_engine_batch_commands_on_one_order_see_each_other(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = esc_fixture_order(f, &f->buyer, &f->seller, TOTAL);
	struct esc_command cmds[2];
	struct esc_result res[2];

	cmd_init(&cmds[0], ESC_EV_PAY, ESC_ACTOR_OPERATOR, &o);
	cmds[0].args.amount_minor = TOTAL;
	cmds[0].args.method = ESC_METHOD_CARD;
	cmd_init(&cmds[1], ESC_EV_CANCEL, ESC_ACTOR_BUYER, &o);
	cmds[1].args.reason = "no_longer_needed";
	assert_int_equal(esc_engine_exec_batch(f->e, cmds, 2, res), 0);

	assert_int_equal(res[0].rc, 0);
	assert_int_equal(res[1].rc, 0);
	assert_int_equal(res[0].order.version, 2);
	assert_int_equal(res[1].order.version, 3);
	assert_int_equal(res[1].order.state, ESC_ST_CANCELLATION_REQUESTED);
	struct esc_order got = esc_fixture_get(f, o.id);
	assert_int_equal(got.state, ESC_ST_CANCELLATION_REQUESTED);
	assert_int_equal(got.version, 3);
	assert_int_equal(got.paid_minor, TOTAL);
	assert_int_equal(esc_fixture_history_count(f, o.id), 3);
	esc_fixture_check(f);
}

static void test_engine_batch_second_command_refused_keeps_first_on_same_order(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = esc_fixture_order(f, &f->buyer, &f->seller, TOTAL);
	struct esc_command cmds[2];
	struct esc_result res[2];

	cmd_init(&cmds[0], ESC_EV_PAY, ESC_ACTOR_OPERATOR, &o);
	cmds[0].args.amount_minor = TOTAL;
	cmds[0].args.method = ESC_METHOD_CARD;
	cmd_init(&cmds[1], ESC_EV_PAY, ESC_ACTOR_OPERATOR, &o); /* second payment */
	cmds[1].args.amount_minor = TOTAL;
	cmds[1].args.method = ESC_METHOD_CARD;
	assert_int_equal(esc_engine_exec_batch(f->e, cmds, 2, res), 0);

	assert_int_equal(res[0].rc, 0);
	assert_int_equal(res[1].rc, ESC_ESTATE);
	assert_int_equal(esc_fixture_get(f, o.id).version, 2);
	assert_int_equal(esc_fixture_history_count(f, o.id), 2);
	assert_int_equal(esc_fixture_escrow_balance(f, o.id), TOTAL);
	esc_fixture_check(f);
}

/* --- versions and durability --------------------------------------------- */

static void test_spec_7_version_increments_by_one_per_command(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = esc_fixture_order(f, &f->buyer, &f->seller, TOTAL);
	assert_int_equal(o.version, 1);
	o = esc_fixture_pay(f, &o, ESC_METHOD_CARD);
	assert_int_equal(o.version, 2);
	o = esc_fixture_request(f, &o, "no_longer_needed", ESC_REFUND_TO_ORIGINAL);
	assert_int_equal(o.version, 3);
	o = esc_fixture_as(f, &o, ESC_EV_REJECT_CANCELLATION, ESC_ACTOR_SELLER);
	assert_int_equal(o.version, 4);
	o = esc_fixture_as(f, &o, ESC_EV_SHIP, ESC_ACTOR_SELLER);
	assert_int_equal(o.version, 5);
	o = esc_fixture_as(f, &o, ESC_EV_DELIVER, ESC_ACTOR_OPERATOR);
	assert_int_equal(o.version, 6);
	o = esc_fixture_as(f, &o, ESC_EV_CONFIRM_RECEIPT, ESC_ACTOR_BUYER);
	assert_int_equal(o.version, 7);
	assert_int_equal(esc_fixture_get(f, o.id).version, 7);
	assert_int_equal(esc_fixture_history_count(f, o.id), 7);
	esc_fixture_check(f);
}

static void test_engine_order_after_restart_is_the_same(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = paid(f, &f->buyer);
	struct esc_command c;
	struct esc_result r;

	assert_int_equal(esc_engine_advance(f->e, HOUR), 0);
	cmd_init(&c, ESC_EV_CANCEL, ESC_ACTOR_BUYER, &o);
	c.args.reason = "price_changed";
	c.args.comment = "It was 10 EUR cheaper yesterday.";
	c.args.refund_to = ESC_REFUND_TO_BALANCE;
	assert_int_equal(run(f, &c, &r), 0);
	o = esc_fixture_as(f, &r.order, ESC_EV_REJECT_CANCELLATION, ESC_ACTOR_SELLER);
	o = esc_fixture_as(f, &o, ESC_EV_SHIP, ESC_ACTOR_SELLER);
	int64_t now = esc_engine_now(f->e);

	esc_fixture_restart(f);
	assert_int_equal(esc_engine_now(f->e), now);
	struct esc_order got = esc_fixture_get(f, o.id);
	esc_assert_orders_equal(&got, &o);
	assert_int_equal(esc_fixture_history_count(f, o.id), 5);
	esc_fixture_check(f);
}

static void test_engine_cancelled_order_after_restart_is_the_same(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = cancelled_after_payment(f);
	struct esc_refund before[4], after[4];

	assert_int_equal(refunds_of(f, o.id, before, 4), 1);
	esc_fixture_restart(f);
	struct esc_order got = esc_fixture_get(f, o.id);
	esc_assert_orders_equal(&got, &o);
	assert_int_equal(refunds_of(f, o.id, after, 4), 1);
	assert_string_equal(after[0].id, before[0].id);
	assert_int_equal(after[0].status, ESC_REFUND_PENDING);
	assert_int_equal(after[0].alert_due_ms, before[0].alert_due_ms);
	esc_fixture_check(f);
}

/* Group commit: commands submitted from many threads share commits, and
 * each is acknowledged with its own result after its commit. */
struct submitter {
	struct esc_fixture *f;
	struct esc_engine *e; /* NULL: f->e */
	int ok;
};

static void *submit_creates(void *arg)
{
	struct submitter *sub = arg;
	for (int i = 0; i < 40; i++) {
		struct esc_command c;
		struct esc_result r;
		struct esc_item item = {.quantity = 1, .unit_price_minor = 100 + i};
		snprintf(item.title, sizeof item.title, "Thread item");
		esc_command_init(&c, ESC_EV_CREATE, ESC_ACTOR_OPERATOR, NULL, NULL);
		c.args.buyer_id = sub->f->buyer.id;
		c.args.seller_id = sub->f->seller.id;
		c.args.currency = "EUR";
		c.args.items = &item;
		c.args.items_count = 1;
		if (esc_engine_submit(sub->e ? sub->e : sub->f->e, &c, &r) == 0 &&
		    r.order.total_minor == 100 + i)
			sub->ok++;
	}
	return NULL;
}

/* threads threads (at most 8) submitting 40 creates each to e (NULL:
 * f->e) at once, every one answered with its own result. */
static void submit_from_threads(struct esc_fixture *f, struct esc_engine *e, int threads)
{
	struct submitter subs[8];
	pthread_t t[8];
	assert_true(threads <= 8);
	for (int i = 0; i < threads; i++) {
		subs[i] = (struct submitter){f, e, 0};
		assert_int_equal(pthread_create(&t[i], NULL, submit_creates, &subs[i]), 0);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(subs[i].ok, 40);
	}
}

static void test_engine_submit_from_threads_shares_commits(void **state)
{
	struct esc_fixture *f = *state;
	enum { THREADS = 8 };
	int64_t commits = commits_made(f), before = orders_total(f);
	submit_from_threads(f, NULL, THREADS);
	assert_int_equal(orders_total(f) - before, THREADS * 40);
	assert_true(commits_made(f) - commits <= THREADS * 40);
	print_message("%d commands in %lld commits\n", THREADS * 40,
		      (long long)(commits_made(f) - commits));
}

/* An engine on the fixture's store whose writer waits the longest commit
 * delay under load. */
static struct esc_engine *delaying_engine(struct esc_fixture *f)
{
	struct esc_engine_options opt = {.manual_clock = true,
					 .fast_password_hashing = true,
					 .commit_delay_us = ESC_COMMIT_DELAY_US_MAX};
	struct esc_engine *e = NULL;
	char err[300] = "";
	assert_int_equal(esc_engine_open(&e, f->db, NULL, &opt, err, sizeof err), 0);
	return e;
}

static int64_t commit_delays(struct esc_engine *e, int64_t *commits)
{
	struct esc_engine_counters n;
	esc_engine_counters(e, &n);
	*commits = n.commits;
	return n.commit_delays;
}

/* Issue 15: the commit delay keeps no lone client waiting. A client that
 * sends one command after another, each after its answer, has its own
 * commit each time, at once: the writer waits only after a batch that
 * showed commands coming faster than commits. */
static void issue_15_the_commit_delay_keeps_a_lone_client_waiting_never(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_engine *e = delaying_engine(f);
	struct submitter sub = {f, e, 0};
	int64_t before = 0, commits = 0;
	commit_delays(e, &before);
	submit_creates(&sub);
	assert_int_equal(sub.ok, 40);
	assert_int_equal(commit_delays(e, &commits), 0);
	assert_int_equal(commits - before, 40);
	esc_engine_free(e);
}

/* Under load it waits, and every command still has its own answer after
 * its commit: 4 threads of 40 commands each, with the longest delay (4:
 * fewer than the 8 queued that end a wait at once). */
static void issue_15_the_commit_delay_answers_every_command_under_load(void **state)
{
	struct esc_fixture *f = *state;
	enum { THREADS = 4 };
	struct esc_engine *e = delaying_engine(f);
	int64_t before = orders_total(f), first = 0, commits = 0, delays = 0;
	commit_delays(e, &first);
	submit_from_threads(f, e, THREADS);
	delays = commit_delays(e, &commits);
	assert_int_equal(orders_total(f) - before, THREADS * 40);
	assert_true(commits - first < THREADS * 40);
	assert_true(delays > 0);
	print_message("%d commands in %lld commits, %lld delays\n", THREADS * 40,
		      (long long)(commits - first), (long long)delays);
	esc_engine_free(e);
	esc_fixture_check(f);
}

/* --- the writer's nice (issue 15) */

/* How many of this process's threads run at nice, from /proc: the
 * 17th field after the command's closing parenthesis of each stat. */
static int threads_at_nice(int nice)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *t;
	int n = 0;
	assert_non_null(d);
	while ((t = readdir(d))) {
		char path[300], stat[1024];
		if (t->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/self/task/%s/stat", t->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue; /* a thread that ended meanwhile */
		size_t len = fread(stat, 1, sizeof stat - 1, f);
		fclose(f);
		stat[len] = '\0';
		char *p = strrchr(stat, ')'), *save = NULL, *field = NULL;
		assert_non_null(p);
		field = strtok_r(p + 1, " ", &save);
		for (int i = 1; field && i < 17; i++)
			field = strtok_r(NULL, " ", &save);
		assert_non_null(field);
		n += atoi(field) == nice;
	}
	closedir(d);
	return n;
}

/* Whether a thread of this process may lower its nice to nice: a thread
 * of its own tries, and ends. */
static void *try_nice(void *arg)
{
	int *nice = arg;
	*nice = setpriority(PRIO_PROCESS, (id_t)gettid(), *nice) ? errno : 0;
	return NULL;
}

static int nice_refused(int nice)
{
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, try_nice, &nice), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	return nice;
}

static struct esc_engine *nice_engine(struct esc_fixture *f, int nice)
{
	struct esc_engine_options opt = {
		.manual_clock = true, .fast_password_hashing = true, .writer_nice = nice};
	struct esc_engine *e = NULL;
	char err[300] = "";
	int rc = esc_engine_open(&e, f->db, NULL, &opt, err, sizeof err);
	if (rc)
		fail_msg("open with writer_nice %d: %s", nice, err);
	return e;
}

/* Issue 15: the writer thread runs at its writer_nice, and only it, when
 * the process may lower a nice (root, CAP_SYS_NICE, RLIMIT_NICE); else at
 * the process's, with the refusal's errno to say why. A nice above 0 or
 * below -20 is refused. */
static void issue_15_the_writer_runs_at_its_nice(void **state)
{
	struct esc_fixture *f = *state;
	enum { NICE = -3 };
	int refused = nice_refused(NICE), error = -1;
	assert_int_equal(threads_at_nice(NICE), 0);
	struct esc_engine *e = nice_engine(f, NICE);
	int nice = esc_engine_writer_nice(e, &error);
	if (refused) {
		assert_int_equal(nice, 0);
		assert_int_equal(error, refused);
		assert_int_equal(threads_at_nice(NICE), 0);
	} else {
		assert_int_equal(nice, NICE);
		assert_int_equal(error, 0);
		assert_int_equal(threads_at_nice(NICE), 1);
	}
	/* Its commands commit as before. */
	struct submitter sub = {f, e, 0};
	submit_creates(&sub);
	assert_int_equal(sub.ok, 40);
	esc_engine_free(e);
	assert_int_equal(threads_at_nice(NICE), 0);
	print_message("writer_nice %d: %s\n", NICE, refused ? strerror(refused) : "applied");

	e = nice_engine(f, 0);
	assert_int_equal(esc_engine_writer_nice(e, &error), 0);
	assert_int_equal(error, 0);
	esc_engine_free(e);

	struct esc_engine_options opt = {.manual_clock = true, .writer_nice = 1};
	char err[300] = "";
	e = NULL;
	assert_int_equal(esc_engine_open(&e, f->db, NULL, &opt, err, sizeof err), ESC_EINVAL);
	assert_null(e);
	esc_test_contains(err, "the writer's nice must be from -20 to 0");
	opt.writer_nice = ESC_WRITER_NICE_MIN - 1;
	assert_int_equal(esc_engine_open(&e, f->db, NULL, &opt, err, sizeof err), ESC_EINVAL);
}

/* An engine opened by a thread that may not lower a nice: it drops
 * CAP_SYS_NICE from its own effective set (capabilities are a thread's;
 * the writer it starts inherits them), under an RLIMIT_NICE of 0. */
struct unprivileged_open {
	struct esc_fixture *f;
	int nice, error, capset, open_rc;
};

static void *open_unprivileged(void *arg)
{
	struct unprivileged_open *u = arg;
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
	if (syscall(SYS_capget, &h, d) == 0) {
		d[CAP_TO_INDEX(CAP_SYS_NICE)].effective &= ~CAP_TO_MASK(CAP_SYS_NICE);
		u->capset = (int)syscall(SYS_capset, &h, d);
	} else {
		u->capset = -1;
	}
	/* Not nice_engine: cmocka fails a test only from its own thread. */
	struct esc_engine_options opt = {
		.manual_clock = true, .fast_password_hashing = true, .writer_nice = -3};
	struct esc_engine *e = NULL;
	char err[300] = "";
	u->open_rc = esc_engine_open(&e, u->f->db, NULL, &opt, err, sizeof err);
	if (!u->open_rc)
		u->nice = esc_engine_writer_nice(e, &u->error);
	esc_engine_free(e);
	return NULL;
}

/* Issue 15: where lowering a nice is not allowed, the engine opens all
 * the same, its writer at the process's nice, and says why. */
static void issue_15_a_writer_refused_its_nice_runs_at_the_processs(void **state)
{
	struct esc_fixture *f = *state;
	struct rlimit lim;
	assert_int_equal(getrlimit(RLIMIT_NICE, &lim), 0);
	if (lim.rlim_cur >= 20 - (-3)) {
		print_message("skipped: RLIMIT_NICE %llu allows nice -3 to anyone\n",
			      (unsigned long long)lim.rlim_cur);
		skip();
	}
	struct unprivileged_open u = {.f = f, .nice = 1, .error = 0};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, open_unprivileged, &u), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(u.capset, 0);
	assert_int_equal(u.open_rc, 0);
	assert_int_equal(u.nice, 0);
	assert_true(u.error == EACCES || u.error == EPERM);
	assert_int_equal(threads_at_nice(-3), 0);
}

/* --- the manual clock's move and its Idempotency-Key (issue 12, defect 3) */

/* An issuer's answer to a move: "NOW FIRED", counted in *calls. */
static int answer(void *arg, int64_t now, size_t fired, struct esc_idempotency *record)
{
	int *calls = arg;
	char text[64];
	(*calls)++;
	if (!record)
		return 0;
	snprintf(text, sizeof text, "%lld %zu", (long long)now, fired);
	free(record->response);
	record->status = 200;
	record->response = strdup(text);
	return record->response ? 0 : ESC_ENOMEM;
}

/* A fault: every call of the verb named by arg fails. */
static int fail_verb(void *arg, const char *verb)
{
	return strcmp(verb, arg) ? 0 : ESC_EIO;
}

static struct esc_idempotency advance_key(const char *key)
{
	struct esc_idempotency r = {.created_at_ms = ESC_TEST_T0};
	snprintf(r.scope, sizeof r.scope, "operator:test");
	snprintf(r.key, sizeof r.key, "%s", key);
	snprintf(r.request_hash, sizeof r.request_hash, "%064d", 7);
	return r;
}

/* The record of key as the store keeps it, or its absence. */
static int kept(struct esc_fixture *f, const char *key, char *response, size_t size)
{
	struct esc_idempotency got;
	int rc;
	ESC_STORE(rc, store(f), idempotency_get, "operator:test", key, &got);
	if (!rc) {
		snprintf(response, size, "%s", got.response);
		free(got.response);
	}
	return rc;
}

static void issue_12_a_move_keeps_its_answer_in_its_transaction(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_idempotency record = advance_key("k1");
	int calls = 0;
	char text[64], want[64];
	int64_t at = esc_engine_now(f->e);
	struct esc_advance_reply reply = {.build = answer, .arg = &calls, .record = &record};
	assert_int_equal(esc_engine_advance_and_fire(f->e, HOUR, &reply, NULL), 0);
	free(record.response);
	snprintf(want, sizeof want, "%lld 0", (long long)(at + HOUR));
	assert_int_equal(kept(f, "k1", text, sizeof text), 0);
	assert_string_equal(text, want);
	assert_int_equal(calls, 1);
	esc_fixture_restart(f);
	assert_int_equal(esc_engine_now(f->e), at + HOUR);
}

static void issue_12_a_move_whose_answer_is_not_kept_does_not_move(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_idempotency record = advance_key("k1");
	int calls = 0;
	char text[64];
	int64_t at = esc_engine_now(f->e);
	struct esc_advance_reply reply = {.build = answer, .arg = &calls, .record = &record};
	esc_engine_writer(f->e)->fault = fail_verb;
	esc_engine_writer(f->e)->fault_arg = (void *)"idempotency_put";
	assert_int_equal(esc_engine_advance_and_fire(f->e, HOUR, &reply, NULL), ESC_EIO);
	esc_engine_writer(f->e)->fault = NULL;
	free(record.response);
	assert_int_equal(esc_engine_now(f->e), at);
	assert_int_equal(kept(f, "k1", text, sizeof text), ESC_ENOTFOUND);
	esc_fixture_restart(f);
	assert_int_equal(esc_engine_now(f->e), at);
}

/* Two daemons ran one key at once: the one that commits second moves
 * nothing, and its request replays the first one's answer. */
static void issue_12_a_move_whose_key_was_answered_meanwhile_does_not_move(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_idempotency first = advance_key("k1"), record = advance_key("k1");
	int calls = 0, rc;
	char text[64];
	int64_t at = esc_engine_now(f->e);
	first.status = 200;
	first.response = (char *)"the first answer";
	ESC_STORE(rc, store(f), idempotency_put, &first);
	assert_int_equal(rc, 0);
	struct esc_advance_reply reply = {.build = answer, .arg = &calls, .record = &record};
	assert_int_equal(esc_engine_advance_and_fire(f->e, HOUR, &reply, NULL), ESC_EDUPLICATE);
	free(record.response);
	assert_int_equal(esc_engine_now(f->e), at);
	assert_int_equal(kept(f, "k1", text, sizeof text), 0);
	assert_string_equal(text, "the first answer");
	esc_fixture_restart(f);
	assert_int_equal(esc_engine_now(f->e), at);
}

/* A request that wrote nothing (a refusal) keeps its answer for its key
 * (idempotency.h step 4). When another process answered the key
 * meanwhile, as a retry at another daemon may meet while the first
 * daemon's commit lands (three_daemons once answered a retried cancel
 * with 409 cancellation_pending: the first daemon, killed, had made it),
 * the keep says so, and that answer is the one to give, if it is this
 * request's. */
static void issue_15_a_refusal_whose_key_was_answered_meanwhile_gives_that_answer(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_idempotency first = advance_key("k2"), mine = advance_key("k2");
	struct esc_idempotency fresh = advance_key("k3");
	int rc, status = 0;
	char *text;
	first.status = 200;
	first.response = (char *)"{\"the\":\"first answer\"}";
	ESC_STORE(rc, store(f), idempotency_put, &first);
	assert_int_equal(rc, 0);
	assert_int_equal(esc_idem_keep(f->e, &mine, 409, "{\"error\":{}}"), ESC_EDUPLICATE);
	text = esc_idem_kept(f->e, &mine, &status);
	assert_non_null(text);
	assert_int_equal(status, 200);
	assert_string_equal(text, first.response);
	free(text);
	/* Another request under the same key: not its answer (422). */
	snprintf(mine.request_hash, sizeof mine.request_hash, "%064d", 8);
	assert_null(esc_idem_kept(f->e, &mine, &status));
	assert_int_equal(status, -1);
	/* A key no one answered keeps the refusal. */
	assert_int_equal(esc_idem_keep(f->e, &fresh, 409, "{\"error\":{}}"), 0);
	text = esc_idem_kept(f->e, &fresh, &status);
	assert_non_null(text);
	assert_int_equal(status, 409);
	assert_string_equal(text, "{\"error\":{}}");
	free(text);
}

/* SIGKILL, as an engine sees it: nothing it asks of the store happens
 * after the first commit (the move's). */
static int dead_after_commit(void *arg, const char *verb)
{
	bool *dead = arg;
	if (*dead)
		return ESC_EIO;
	if (!strcmp(verb, "commit"))
		*dead = true;
	return 0;
}

/* The issue's case: killed after the move, the same request sent again
 * (to the restarted daemon) finds the answer and moves nothing: one hour,
 * not two. */
static void issue_12_a_move_sent_again_after_a_crash_moves_the_clock_once(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_idempotency record = advance_key("k1");
	int calls = 0;
	bool dead = false;
	char text[64], want[64];
	int64_t at = esc_engine_now(f->e);
	struct esc_order o = esc_fixture_order(f, &f->buyer, &f->seller, TOTAL);
	struct esc_advance_reply reply = {.build = answer, .arg = &calls, .record = &record};
	esc_engine_writer(f->e)->fault = dead_after_commit;
	esc_engine_writer(f->e)->fault_arg = &dead;
	assert_int_equal(esc_engine_advance_and_fire(f->e, 24 * HOUR, &reply, NULL), ESC_EIO);
	assert_true(dead);
	free(record.response);
	record.response = NULL;
	esc_fixture_restart(f);
	assert_int_equal(esc_engine_now(f->e), at + 24 * HOUR);
	snprintf(want, sizeof want, "%lld 0", (long long)(at + 24 * HOUR));
	assert_int_equal(kept(f, "k1", text, sizeof text), 0);
	assert_string_equal(text, want);
	assert_int_equal(esc_engine_advance_and_fire(f->e, 24 * HOUR, &reply, NULL),
			 ESC_EDUPLICATE);
	free(record.response);
	assert_int_equal(esc_engine_now(f->e), at + 24 * HOUR);
	/* What the move made due fires at the next firing, once. */
	assert_int_equal(esc_fixture_get(f, o.id).state, ESC_ST_AWAITING_PAYMENT);
	assert_int_equal(esc_fixture_fire(f), 1);
	assert_int_equal(esc_fixture_get(f, o.id).state, ESC_ST_CANCELLED);
}

static void issue_12_a_moves_answer_counts_the_deadlines_it_fired(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_idempotency record = advance_key("k1");
	int calls = 0;
	size_t fired = 0;
	char text[64], want[64];
	for (int i = 0; i < 3; i++)
		esc_fixture_order(f, &f->buyer, &f->seller, TOTAL);
	int64_t at = esc_engine_now(f->e);
	struct esc_advance_reply reply = {.build = answer, .arg = &calls, .record = &record};
	assert_int_equal(esc_engine_advance_and_fire(f->e, 24 * HOUR, &reply, &fired), 0);
	assert_int_equal(fired, 3);
	assert_int_equal(calls, 2);
	snprintf(want, sizeof want, "%lld 3", (long long)(at + 24 * HOUR));
	assert_string_equal(record.response, want);
	free(record.response);
	assert_int_equal(kept(f, "k1", text, sizeof text), 0);
	assert_string_equal(text, want);
}

static void issue_12_a_move_without_a_key_is_answered_too(void **state)
{
	struct esc_fixture *f = *state;
	int calls = 0;
	int64_t at = esc_engine_now(f->e);
	esc_fixture_order(f, &f->buyer, &f->seller, TOTAL);
	struct esc_advance_reply reply = {.build = answer, .arg = &calls};
	assert_int_equal(esc_engine_advance_and_fire(f->e, 24 * HOUR, &reply, NULL), 0);
	assert_int_equal(calls, 2);
	assert_int_equal(esc_engine_now(f->e), at + 24 * HOUR);
}

/* SPEC §7's 24 hours are real ones: the manual clock's 72 h leave a key
 * kept; a day of real time and a millisecond forget it, and the others as
 * old with it. */
/* SPEC §8: the manual clock is the store's, and never goes back. Two
 * engines on one store (two daemons): a move on the one that is behind
 * starts from the store's time, the other catches up at its next command
 * or round of deadlines, and a restart finds the latest time. */
static void spec_8_the_daemons_on_a_store_keep_one_manual_clock(void **state)
{
	struct esc_fixture *f = *state, g = *f;
	struct esc_engine_options opt = {.manual_clock = true, .fast_password_hashing = true};
	char err[300] = "";
	int64_t t0 = esc_engine_now(f->e);
	assert_int_equal(esc_engine_open(&g.e, f->db, NULL, &opt, err, sizeof err), 0);
	assert_true(esc_engine_now(g.e) == t0);

	assert_int_equal(esc_engine_advance(f->e, 3 * DAY), 0);
	assert_int_equal(esc_engine_advance(g.e, 60000), 0);
	assert_true(esc_engine_now(g.e) == t0 + 3 * DAY + 60000);
	/* A round of deadlines catches up... */
	assert_int_equal(esc_engine_fire_due(f->e, 0, NULL), 0);
	assert_true(esc_engine_now(f->e) == t0 + 3 * DAY + 60000);
	/* ... and so does a command, which runs at the store's time. */
	assert_int_equal(esc_engine_advance(f->e, HOUR), 0);
	struct esc_order o = esc_fixture_order(&g, &f->buyer, &f->seller, 1000);
	assert_true(o.created_at_ms == t0 + 3 * DAY + 60000 + HOUR);
	assert_true(esc_engine_now(g.e) == o.created_at_ms);
	esc_engine_free(g.e);
	esc_fixture_restart(f);
	assert_true(esc_engine_now(f->e) == t0 + 3 * DAY + 60000 + HOUR);
}

static void issue_12_idempotency_keys_age_by_real_time_not_the_manual_clock(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_clock real;
	struct esc_engine_options opt = {
		.manual_clock = true, .fast_password_hashing = true, .real_clock = &real};
	struct esc_engine *e = NULL;
	struct esc_idempotency first = advance_key("k1"), other = advance_key("k2"), got;
	char err[300] = "";
	int rc;
	esc_clock_init_manual(&real, ESC_TEST_T0 + DAY);
	assert_int_equal(esc_engine_open(&e, f->db, NULL, &opt, err, sizeof err), 0);
	first.created_at_ms = esc_engine_real_ms(e);
	first.status = 200;
	first.response = (char *)"the answer";
	other.created_at_ms = first.created_at_ms + 1;
	other.response = (char *)"";
	ESC_STORE(rc, esc_engine_writer(e), idempotency_put, &first);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, esc_engine_writer(e), idempotency_put, &other);
	assert_int_equal(rc, 0);

	assert_int_equal(esc_engine_advance(e, 72 * HOUR), 0);
	esc_clock_advance(&real, ESC_IDEMPOTENCY_KEEP_MS);
	assert_int_equal(
		esc_engine_idempotency_get(e, esc_engine_writer(e), "operator:test", "k1", &got),
		0);
	assert_string_equal(got.response, "the answer");
	free(got.response);
	esc_clock_advance(&real, 1);
	assert_int_equal(
		esc_engine_idempotency_get(e, esc_engine_writer(e), "operator:test", "k1", &got),
		ESC_ENOTFOUND);
	ESC_STORE(rc, esc_engine_writer(e), idempotency_get, "operator:test", "k1", &got);
	assert_int_equal(rc, ESC_ENOTFOUND);
	/* A millisecond younger: kept. */
	assert_int_equal(
		esc_engine_idempotency_get(e, esc_engine_writer(e), "operator:test", "k2", &got),
		0);
	free(got.response);
	esc_engine_free(e);
}

static int session_insert_tx(struct esc_store *s, void *arg)
{
	int rc;
	ESC_STORE(rc, s, session_insert, arg);
	return rc;
}

/* Issue 15 lever 3: a request's reads (esc_engine_reads_begin) share one
 * connection of the pool, and a write of the same thread in between
 * starts their snapshot again: the reads after it see it. */
static void test_issue_15_reads_of_a_scope_share_a_connection_and_see_its_writes(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_engine_options opt = {.manual_clock = true,
					 .manual_start_ms = ESC_TEST_T0,
					 .fast_password_hashing = true,
					 .pool = 3};
	char err[300] = "";
	struct esc_session in = {.created_at_ms = ESC_TEST_T0, .last_seen_ms = ESC_TEST_T0}, out;
	int rc;
	esc_engine_free(f->e);
	assert_int_equal(esc_engine_open(&f->e, f->db, NULL, &opt, err, sizeof err), 0);
	struct esc_engine *e = f->e;
	snprintf(in.token_hash, sizeof in.token_hash, "%s", "scope-test-token-hash");
	snprintf(in.user_id, sizeof in.user_id, "%s", f->buyer.id);
	snprintf(in.csrf, sizeof in.csrf, "%s", "csrf");

	esc_engine_reads_begin(e);
	struct esc_store *a = esc_engine_store_acquire(e);
	struct esc_store *b = esc_engine_store_acquire(e);
	assert_ptr_equal(a, b);
	assert_ptr_not_equal(a, esc_engine_writer(e));
	ESC_STORE(rc, b, session_get, in.token_hash, &out);
	assert_int_equal(rc, ESC_ENOTFOUND);
	esc_engine_store_release(e, b);
	esc_engine_store_release(e, a);
	assert_int_equal(esc_engine_transact(e, session_insert_tx, &in), 0);
	struct esc_store *c = esc_engine_store_acquire(e);
	ESC_STORE(rc, c, session_get, in.token_hash, &out);
	assert_int_equal(rc, 0);
	assert_string_equal(out.user_id, f->buyer.id);
	esc_engine_store_release(e, c);
	esc_engine_reads_end(e);

	/* Outside a scope each acquire lends a connection of its own: both
	 * readers are free again. */
	struct esc_store *x = esc_engine_store_acquire(e);
	struct esc_store *y = esc_engine_store_acquire(e);
	assert_ptr_not_equal(x, y);
	esc_engine_store_release(e, y);
	esc_engine_store_release(e, x);
}

/* --- issue 15: a reply is the order as a read after the commit shows it -- */

struct view_reply {
	enum esc_actor actor;
	const char *user_id;
	char *json; /* what the reply showed, malloc'd */
	char *text; /* the same written as text (esc_view_order_text) */
	bool written;
	bool from_event; /* the event's text was at hand */
};

static int view_reply_build(void *arg, struct esc_engine *e, struct esc_store *s,
			    const struct esc_result *res)
{
	struct view_reply *vr = arg;
	struct esc_viewer v;
	struct esc_json_out out;
	/* As text first: from the event's text, which the tree does not
	 * touch. */
	const char *prefix = NULL;
	size_t prefix_len = 0;
	vr->from_event = esc_engine_reply_text(e, s, &res->order, &prefix, &prefix_len);
	esc_viewer_init(&v, vr->actor, vr->user_id);
	(void)esc_json_out_init(&out, 0);
	vr->written = esc_view_order_text(e, s, &v, &res->order, &out, NULL);
	esc_json_out_raw(&out, "}", 1);
	free(vr->text);
	vr->text = esc_json_out_finish(&out, NULL);
	esc_viewer_init(&v, vr->actor, vr->user_id);
	json_t *j = esc_view_order(e, s, &v, &res->order);
	free(vr->json);
	vr->json = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	return vr->json ? 0 : ESC_ENOMEM;
}

/* The data of the order's event at version, as written (malloc'd). */
static char *event_data(struct esc_fixture *f, const char *order_id, int64_t version)
{
	struct esc_outbox_row rows[16];
	char *payloads[16], *data = NULL;
	size_t n = order_rows(f, order_id, rows, payloads);
	for (size_t i = 0; i < n; i++) {
		if (!data && rows[i].version == version && strncmp(rows[i].type, "reputation.", 11))
			data = payloads[i];
		else
			free(payloads[i]);
	}
	assert_non_null(data);
	return data;
}

/* The order as v reads it on a read connection, after the commit. */
static char *view_read(struct esc_fixture *f, enum esc_actor actor, const char *user_id,
		       const char *order_id)
{
	struct esc_store *s = esc_engine_store_acquire(f->e);
	struct esc_order o;
	struct esc_viewer v;
	int rc;
	ESC_STORE(rc, s, order_get, order_id, &o);
	assert_int_equal(rc, 0);
	esc_viewer_init(&v, actor, user_id);
	json_t *j = esc_view_order(f->e, s, &v, &o);
	esc_engine_store_release(f->e, s);
	char *out = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	assert_non_null(out);
	return out;
}

/* The reply of each command, built from the event's text inside the
 * transaction (or as the tree, anew), is byte for byte what a read shows
 * the same viewer; the event's data, written as text, is the operator's
 * view for an event as its tree would be written. */
static void test_issue_15_a_commands_reply_is_the_order_a_read_shows(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = paid(f, &f->buyer);
	struct {
		enum esc_event ev;
		enum esc_actor who;
	} steps[] = {
		{ESC_EV_CANCEL, ESC_ACTOR_BUYER},
		{ESC_EV_REJECT_CANCELLATION, ESC_ACTOR_SELLER},
		{ESC_EV_CANCEL, ESC_ACTOR_BUYER},
		{ESC_EV_ACCEPT_CANCELLATION, ESC_ACTOR_SELLER},
	};
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		struct view_reply vr = {.actor = steps[i].who};
		struct esc_reply reply = {view_reply_build, &vr, NULL};
		struct esc_command c;
		struct esc_result r;
		cmd_init(&c, steps[i].ev, steps[i].who, &o);
		c.args.reason = "out_of_stock";
		c.args.message = "It is on its way";
		c.reply = &reply;
		vr.user_id = c.actor_id;
		assert_int_equal(run(f, &c, &r), 0);
		o = r.order;
		assert_non_null(vr.json);
		char *read = view_read(f, steps[i].who, c.actor_id, o.id);
		assert_string_equal(vr.json, read);
		assert_true(vr.from_event);
		assert_true(vr.written);
		assert_non_null(vr.text);
		assert_string_equal(vr.text, read);
		free(read);
		free(vr.json);
		free(vr.text);

		struct esc_store *s = esc_engine_store_acquire(f->e);
		struct esc_viewer v;
		esc_viewer_init(&v, ESC_ACTOR_OPERATOR, NULL);
		v.for_event = true;
		json_t *object = esc_view_order(f->e, s, &v, &o);
		esc_engine_store_release(f->e, s);
		json_t *doc = json_pack("{s:o}", "object", object);
		char *tree = esc_json_text(doc, 0, NULL), *data = event_data(f, o.id, o.version);
		json_decref(doc);
		assert_non_null(tree);
		assert_string_equal(data, tree);
		free(tree);
		free(data);
	}
}

/* The order as text (esc_view_order_text, GET /v1/orders/{id}) is byte
 * for byte the text of its tree (esc_view_order, then esc_json_text):
 * for every viewer, in both languages. */
static void assert_text_is_tree(struct esc_fixture *f, const char *order_id)
{
	const enum esc_actor actors[] = {ESC_ACTOR_OPERATOR, ESC_ACTOR_BUYER, ESC_ACTOR_SELLER,
					 ESC_ACTOR_ARBITER};
	enum { N = sizeof actors / sizeof actors[0] * ESC_LANG_COUNT };
	char *tree[N], *text[N];
	bool written[N];
	/* Read and written under the store's lock (a pool of one is the
	 * writer's), compared after: a failed assertion leaves no lock
	 * held. */
	struct esc_store *s = esc_engine_store_acquire(f->e);
	struct esc_order o;
	int rc;
	ESC_STORE(rc, s, order_get, order_id, &o);
	for (size_t k = 0; k < N; k++) {
		enum esc_actor actor = actors[k / ESC_LANG_COUNT];
		const char *id = actor == ESC_ACTOR_BUYER    ? o.buyer_id
				 : actor == ESC_ACTOR_SELLER ? o.seller_id
							     : NULL;
		struct esc_viewer v;
		struct esc_json_out out;
		esc_viewer_init(&v, actor, id);
		v.lang = (enum esc_lang)(k % ESC_LANG_COUNT);
		json_t *j = rc ? NULL : esc_view_order(f->e, s, &v, &o);
		tree[k] = j ? esc_json_text(j, 0, NULL) : NULL;
		json_decref(j);
		esc_viewer_init(&v, actor, id);
		v.lang = (enum esc_lang)(k % ESC_LANG_COUNT);
		(void)esc_json_out_init(&out, 0);
		written[k] = !rc && esc_view_order_text(f->e, s, &v, &o, &out, NULL);
		esc_json_out_raw(&out, "}", 1);
		text[k] = esc_json_out_finish(&out, NULL);
	}
	esc_engine_store_release(f->e, s);
	assert_int_equal(rc, 0);
	for (size_t k = 0; k < N; k++) {
		assert_true(written[k]);
		assert_non_null(tree[k]);
		assert_non_null(text[k]);
		assert_string_equal(text[k], tree[k]);
		free(tree[k]);
		free(text[k]);
	}
}

static void test_issue_15_the_orders_text_is_its_trees(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_command c;
	struct esc_result r;
	/* Items past ASCII, with quotes, a control character and a
	 * picture. */
	struct esc_item items[2] = {{.quantity = 2, .unit_price_minor = 1500},
				    {.quantity = 1, .unit_price_minor = 2000}};
	snprintf(items[0].title, sizeof items[0].title, "Bók \"góð\"\tí \\ kassa");
	snprintf(items[1].title, sizeof items[1].title, "Mug / 🍵");
	snprintf(items[1].image_url, sizeof items[1].image_url, "https://img.example/m.png");
	esc_command_init(&c, ESC_EV_CREATE, ESC_ACTOR_OPERATOR, NULL, NULL);
	c.args.buyer_id = f->buyer.id;
	c.args.seller_id = f->seller.id;
	c.args.currency = "EUR";
	c.args.items = items;
	c.args.items_count = 2;
	c.args.delivery_days = 3;
	assert_int_equal(run(f, &c, &r), 0);
	struct esc_order o = r.order;
	assert_text_is_tree(f, o.id); /* unpaid: a payment deadline */
	o = esc_fixture_pay(f, &o, ESC_METHOD_CARD);
	assert_text_is_tree(f, o.id);
	o = esc_fixture_request(f, &o, "no_longer_needed", ESC_REFUND_TO_ORIGINAL);
	assert_text_is_tree(f, o.id); /* an open cancellation */
	o = esc_fixture_as(f, &o, ESC_EV_REJECT_CANCELLATION, ESC_ACTOR_SELLER);
	assert_text_is_tree(f, o.id); /* its rejection's message */
	o = esc_fixture_as(f, &o, ESC_EV_SHIP, ESC_ACTOR_SELLER);
	assert_text_is_tree(f, o.id); /* a shipment */
	o = esc_fixture_as(f, &o, ESC_EV_DELIVER, ESC_ACTOR_OPERATOR);
	assert_text_is_tree(f, o.id);
	esc_command_init(&c, ESC_EV_OPEN_DISPUTE, ESC_ACTOR_BUYER, o.buyer_id, o.id);
	c.args.ground = "not_as_described";
	c.args.outcome = "refund_only";
	c.args.amount_minor = 1000;
	c.args.description = "The lid is \"cracked\"";
	assert_int_equal(run(f, &c, &r), 0);
	assert_text_is_tree(f, o.id); /* a dispute, its actions and rules */
	o = esc_fixture_as(f, &r.order, ESC_EV_ACCEPT_DISPUTE, ESC_ACTOR_SELLER);
	assert_text_is_tree(f, o.id); /* a refund */

	/* A cancellation after payment, accepted: a refund pending. */
	o = cancelled_after_payment(f);
	assert_text_is_tree(f, o.id);
}

int main(void)
{
	esc_test_store_or_skip("engine");
#define T(name) cmocka_unit_test_setup_teardown(name, esc_fixture_setup, esc_fixture_teardown)
	const struct CMUnitTest tests[] = {
		T(test_spec_2_seller_accepts_cancellation_order_cancelled),
		T(test_issue_15_a_commands_reply_is_the_order_a_read_shows),
		T(test_issue_15_the_orders_text_is_its_trees),
		T(test_engine_submit_from_threads_shares_commits),
		T(issue_15_the_commit_delay_keeps_a_lone_client_waiting_never),
		T(issue_15_the_commit_delay_answers_every_command_under_load),
		T(issue_15_the_writer_runs_at_its_nice),
		T(issue_15_a_writer_refused_its_nice_runs_at_the_processs),
		T(test_issue_15_reads_of_a_scope_share_a_connection_and_see_its_writes),
		T(test_spec_2_seller_accepts_cancellation_full_refund_to_card_pending),
		T(test_spec_2_accepted_cancellation_result_carries_the_refund),
		T(test_spec_7_history_has_one_row_per_command_with_states_and_actor),
		T(test_spec_7_outbox_has_one_row_per_command),
		T(test_spec_6_accepted_cancellation_marks_buyer_cancelled),
		T(test_spec_3_seller_fault_reason_marks_seller_and_lowers_score),
		T(test_issue_14_events_carry_the_order_then_the_score_it_changed),
		T(test_issue_14_marks_that_change_nothing_write_no_reputation_event),
		T(test_spec_3_buyer_fault_reason_leaves_seller_score),
		T(test_spec_2_request_sets_response_deadline_72_hours),
		T(test_spec_2_seller_rejects_with_message_back_to_awaiting_shipment),
		T(test_spec_2_rejection_leaves_no_reputation_mark),
		T(test_spec_2_second_request_after_rejection_allowed),
		T(test_spec_2_third_request_refused_limit_reached_writes_nothing),
		T(test_spec_2_buyer_withdraws_request_back_to_awaiting_shipment),
		T(test_spec_2_ship_while_request_open_refused_cancellation_pending),
		T(test_spec_2_cancel_shipped_refused_order_shipped_points_to_dispute),
		T(test_spec_2_cancel_delivered_refused_order_shipped_points_to_dispute),
		T(test_spec_2_cancel_completed_refused_order_shipped_points_to_dispute),
		T(test_spec_2_unpaid_cancel_cancels_at_once_without_transfers_or_marks),
		T(test_spec_7_unknown_order_refused_not_found),
		T(test_spec_3_unknown_reason_refused_invalid_request),
		T(test_spec_4_negative_payment_refused_invalid_request),
		T(test_spec_4_overflowing_payment_refused_invalid_request),
		T(test_spec_4_payment_not_equal_to_total_refused_amount_mismatch),
		T(test_spec_4_payment_without_method_refused_invalid_request),
		T(test_spec_2_second_payment_refused_invalid_state),
		T(test_spec_7_create_for_unknown_buyer_refused_not_found),
		T(test_spec_7_create_with_seller_as_buyer_refused_not_found),
		T(test_spec_1_another_buyer_refused_not_found_without_the_order),
		T(test_spec_1_another_seller_refused_not_found_without_the_order),
		T(test_spec_1_another_buyer_with_if_match_refused_not_found),
		T(test_spec_1_seller_sending_cancel_refused_forbidden),
		T(test_spec_7_stale_if_match_refused_precondition_failed),
		T(test_spec_7_current_if_match_accepted),
		T(test_spec_7_ship_with_empty_carrier_refused_invalid_request),
		T(test_spec_7_reject_without_message_refused_invalid_request),
		T(test_spec_7_comment_over_1000_bytes_refused_invalid_request),
		T(test_spec_7_comment_of_1000_bytes_kept),
		T(test_spec_7_history_keeps_a_1000_byte_comment_of_quotes_whole),
		T(test_spec_7_comment_of_1000_line_breaks_accepted),
		T(test_spec_1_non_party_with_wrong_role_refused_not_found),
		T(test_spec_6_three_cancellations_in_30_days_put_buyer_on_watch),
		T(test_spec_6_five_cancellations_in_30_days_restrict_buyer),
		T(test_spec_6_ten_cancellations_in_90_days_suspend_requests),
		T(test_spec_6_ten_cancellations_spread_over_90_days_suspend),
		T(test_spec_6_cancellations_after_a_lift_suspend_again),
		T(test_spec_6_restricted_buyer_recovers_after_30_days),
		T(test_spec_6_suspended_buyer_recovers_after_90_days),
		T(test_spec_6_cancellation_rate_over_30_percent_of_10_paid_restricts),
		T(test_spec_6_unpaid_cancellations_do_not_count),
		T(test_spec_6_another_buyers_cancellations_do_not_count),
		T(test_engine_batch_refused_command_leaves_nothing_others_persist),
		T(test_engine_batch_commands_on_one_order_see_each_other),
		T(test_engine_batch_second_command_refused_keeps_first_on_same_order),
		T(test_spec_7_version_increments_by_one_per_command),
		T(test_engine_order_after_restart_is_the_same),
		T(test_engine_cancelled_order_after_restart_is_the_same),
		T(issue_12_a_move_keeps_its_answer_in_its_transaction),
		T(issue_12_a_move_whose_answer_is_not_kept_does_not_move),
		T(issue_12_a_move_whose_key_was_answered_meanwhile_does_not_move),
		T(issue_15_a_refusal_whose_key_was_answered_meanwhile_gives_that_answer),
		T(issue_12_a_move_sent_again_after_a_crash_moves_the_clock_once),
		T(issue_12_a_moves_answer_counts_the_deadlines_it_fired),
		T(issue_12_a_move_without_a_key_is_answered_too),
		T(issue_12_idempotency_keys_age_by_real_time_not_the_manual_clock),
		T(spec_8_the_daemons_on_a_store_keep_one_manual_clock),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
