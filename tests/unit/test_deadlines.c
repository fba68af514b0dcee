/* test_deadlines.c - SPEC §2 and §8 deadlines through the engine: each one
 * a millisecond before and when it passes, exactly once, made obsolete by a
 * command, across restarts, and many at once. Time moves only with
 * esc_engine_advance (the manual clock); nothing sleeps. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "engine/engine.h"
#include "store/store.h"
#include "support.h"
#include "util/error.h"
#include "util/timefmt.h"
#include "webhook/options.h"
#include "webhook/worker.h"

#define HOUR ESC_MS_PER_HOUR
#define DAY  ESC_MS_PER_DAY

#define TOTAL INT64_C(10000) /* 100.00 EUR: a 5 % fee of 500 */

/* ---- helpers ---- */

static void advance(struct esc_fixture *f, int64_t ms)
{
	assert_int_equal(esc_engine_advance(f->e, ms), 0);
}

/* Move the clock to exactly `at`. */
static void advance_to(struct esc_fixture *f, int64_t at)
{
	int64_t now = esc_engine_now(f->e);
	assert_true(at >= now);
	advance(f, at - now);
}

static size_t refunds_of(struct esc_fixture *f, const char *order_id, struct esc_refund *out,
			 size_t max)
{
	size_t n = 0;
	int rc;
	ESC_STORE(rc, esc_engine_writer(f->e), refunds_list, order_id, -1, NULL, out, max, &n);
	assert_int_equal(rc, 0);
	return n;
}

/* The type of the order's latest history row (the outbox row's type). */
static void last_type(struct esc_fixture *f, const char *order_id, char *out, size_t size)
{
	struct esc_history *h = calloc(32, sizeof *h);
	size_t n = 0;
	int rc;
	assert_non_null(h);
	ESC_STORE(rc, esc_engine_writer(f->e), history_list, order_id, 0, h, 32, &n);
	assert_int_equal(rc, 0);
	assert_true(n > 0);
	snprintf(out, size, "%s", h[n - 1].type);
	free(h);
}

static struct esc_seller_rep seller_rep(struct esc_fixture *f)
{
	struct esc_seller_rep r;
	assert_int_equal(esc_engine_seller_reputation(f->e, f->seller.id, &r), 0);
	return r;
}

static struct esc_buyer_rep buyer_rep(struct esc_fixture *f)
{
	struct esc_buyer_rep r;
	assert_int_equal(esc_engine_buyer_reputation(f->e, f->buyer.id, &r), 0);
	return r;
}

static struct esc_order new_order(struct esc_fixture *f)
{
	return esc_fixture_order(f, &f->buyer, &f->seller, TOTAL);
}

static struct esc_order paid_order(struct esc_fixture *f)
{
	struct esc_order o = new_order(f);
	return esc_fixture_pay(f, &o, ESC_METHOD_CARD);
}

static struct esc_order shipped_order(struct esc_fixture *f)
{
	struct esc_order o = paid_order(f);
	return esc_fixture_as(f, &o, ESC_EV_SHIP, ESC_ACTOR_SELLER);
}

static struct esc_order delivered_order(struct esc_fixture *f)
{
	struct esc_order o = shipped_order(f);
	return esc_fixture_as(f, &o, ESC_EV_DELIVER, ESC_ACTOR_OPERATOR);
}

/* ---- payment: 24 h ---- */

static void spec_2_payment_deadline_does_not_fire_a_millisecond_early(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = new_order(f);
	advance_to(f, o.created_at_ms + 24 * HOUR - 1);
	assert_int_equal(esc_fixture_fire(f), 0);
	assert_int_equal(esc_fixture_get(f, o.id).state, ESC_ST_AWAITING_PAYMENT);
}

static void spec_2_payment_deadline_cancels_the_order_at_24_hours(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = new_order(f);
	advance_to(f, o.created_at_ms + 24 * HOUR);
	assert_int_equal(esc_fixture_fire(f), 1);
	struct esc_order after = esc_fixture_get(f, o.id);
	assert_int_equal(after.state, ESC_ST_CANCELLED);
	assert_int_equal(after.paid_minor, 0);
	assert_int_equal(after.refunded_minor, 0);
}

/* ---- ship: 7 days after payment ---- */

static void spec_2_ship_deadline_does_not_fire_a_millisecond_early(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = paid_order(f);
	advance_to(f, o.paid_at_ms + 7 * DAY - 1);
	assert_int_equal(esc_fixture_fire(f), 0);
	assert_int_equal(esc_fixture_get(f, o.id).state, ESC_ST_AWAITING_SHIPMENT);
}

static void spec_2_ship_deadline_cancels_with_a_full_refund_at_7_days(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_refund r[4];
	struct esc_order o = paid_order(f);
	advance_to(f, o.paid_at_ms + 7 * DAY);
	assert_int_equal(esc_fixture_fire(f), 1);
	struct esc_order after = esc_fixture_get(f, o.id);
	assert_int_equal(after.state, ESC_ST_CANCELLED);
	assert_int_equal(after.refunded_minor, TOTAL);
	assert_int_equal(esc_order_held(&after), 0);
	assert_int_equal(refunds_of(f, o.id, r, 4), 1);
	assert_int_equal(r[0].amount_minor, TOTAL);
}

static void spec_2_ship_deadline_marks_the_seller_missed_ship(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = paid_order(f);
	assert_int_equal(seller_rep(f).missed_ships, 0);
	advance_to(f, o.paid_at_ms + 7 * DAY);
	assert_int_equal(esc_fixture_fire(f), 1);
	assert_int_equal(seller_rep(f).missed_ships, 1);
}

/* ---- seller response: 72 h after the request ---- */

static struct esc_order requested_order(struct esc_fixture *f, enum esc_refund_to to)
{
	struct esc_order o = paid_order(f);
	advance(f, HOUR);
	return esc_fixture_request(f, &o, "no_longer_needed", to);
}

static void spec_2_response_deadline_does_not_fire_a_millisecond_early(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = requested_order(f, ESC_REFUND_TO_ORIGINAL);
	int64_t requested_at = esc_engine_now(f->e);
	advance_to(f, requested_at + 72 * HOUR - 1);
	assert_int_equal(esc_fixture_fire(f), 0);
	assert_int_equal(esc_fixture_get(f, o.id).state, ESC_ST_CANCELLATION_REQUESTED);
}

static void spec_2_response_deadline_auto_approves_with_a_refund_at_72_hours(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_refund r[4];
	char type[48];
	struct esc_order o = requested_order(f, ESC_REFUND_TO_ORIGINAL);
	int64_t requested_at = esc_engine_now(f->e);
	advance_to(f, requested_at + 72 * HOUR);
	assert_int_equal(esc_fixture_fire(f), 1);
	struct esc_order after = esc_fixture_get(f, o.id);
	assert_int_equal(after.state, ESC_ST_CANCELLED);
	assert_int_equal(after.refunded_minor, TOTAL);
	assert_int_equal(refunds_of(f, o.id, r, 4), 1);
	assert_int_equal(r[0].amount_minor, TOTAL);
	last_type(f, o.id, type, sizeof type);
	assert_string_equal(type, "cancellation.auto_approved");
}

/* Issue 11 item 4: a deadline that fires late (the daemon was down, or
 * the clock jumped) says in its history when it was due, so a reader
 * tells how long the window was, not how long it took to fire. */
static void issue_11_item_4_a_late_deadline_says_when_it_was_due(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = requested_order(f, ESC_REFUND_TO_ORIGINAL);
	int64_t due = esc_engine_now(f->e) + 72 * HOUR;
	char want[ESC_TIME_SIZE + 16], at[ESC_TIME_SIZE];
	advance_to(f, due + 5 * HOUR);
	assert_int_equal(esc_fixture_fire(f), 1);
	size_t n = 0;
	struct esc_history *h = esc_fixture_history(f, o.id, &n);
	assert_true(n > 0);
	assert_int_equal(h[n - 1].event, ESC_EV_RESPONSE_DEADLINE);
	assert_int_equal(h[n - 1].at_ms, due + 5 * HOUR);
	esc_time_format(due, at);
	snprintf(want, sizeof want, "\"due_at\":\"%s\"", at);
	if (!strstr(h[n - 1].detail, want))
		fail_msg("%s not in %s", want, h[n - 1].detail);
	free(h);
}

/* ---- protection: promised date (60 days) + 15 days after shipping ---- */

static void spec_2_protection_deadline_does_not_fire_a_millisecond_early(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = shipped_order(f);
	assert_int_equal(o.promised_at_ms, o.shipped_at_ms + 60 * DAY);
	advance_to(f, o.shipped_at_ms + 75 * DAY - 1);
	assert_int_equal(esc_fixture_fire(f), 0);
	assert_int_equal(esc_fixture_get(f, o.id).state, ESC_ST_SHIPPED);
}

static void spec_2_protection_deadline_releases_to_the_seller_less_5_percent(void **state)
{
	struct esc_fixture *f = *state;
	char seller[ESC_ACCOUNT_SIZE];
	struct esc_order o = shipped_order(f);
	esc_account_seller(seller, f->seller.id);
	advance_to(f, o.shipped_at_ms + 75 * DAY);
	assert_int_equal(esc_fixture_fire(f), 1);
	struct esc_order after = esc_fixture_get(f, o.id);
	assert_int_equal(after.state, ESC_ST_COMPLETED);
	assert_int_equal(after.released_minor, TOTAL);
	assert_int_equal(after.fee_minor, 500);
	assert_int_equal(esc_fixture_balance(f, seller), TOTAL - 500);
	assert_int_equal(esc_fixture_balance(f, ESC_ACCOUNT_FEES), 500);
}

static void spec_2_delivery_days_sets_the_promised_date_and_protection(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_command c;
	struct esc_result r;
	struct esc_item item = {.quantity = 1, .unit_price_minor = TOTAL};
	snprintf(item.title, sizeof item.title, "Quick item");
	esc_command_init(&c, ESC_EV_CREATE, ESC_ACTOR_OPERATOR, NULL, NULL);
	c.args.buyer_id = f->buyer.id;
	c.args.seller_id = f->seller.id;
	c.args.currency = "EUR";
	c.args.items = &item;
	c.args.items_count = 1;
	c.args.delivery_days = 10;
	assert_int_equal(esc_fixture_run(f, &c, &r), 0);
	struct esc_order o = esc_fixture_pay(f, &r.order, ESC_METHOD_CARD);
	o = esc_fixture_as(f, &o, ESC_EV_SHIP, ESC_ACTOR_SELLER);
	assert_int_equal(o.promised_at_ms, o.shipped_at_ms + 10 * DAY);
	advance_to(f, o.shipped_at_ms + 25 * DAY - 1);
	assert_int_equal(esc_fixture_fire(f), 0);
	advance(f, 1);
	assert_int_equal(esc_fixture_fire(f), 1);
	assert_int_equal(esc_fixture_get(f, o.id).state, ESC_ST_COMPLETED);
}

/* ---- confirm: 15 days after delivery ---- */

static void spec_2_confirm_deadline_does_not_fire_a_millisecond_early(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = delivered_order(f);
	advance_to(f, o.delivered_at_ms + 15 * DAY - 1);
	assert_int_equal(esc_fixture_fire(f), 0);
	assert_int_equal(esc_fixture_get(f, o.id).state, ESC_ST_DELIVERED);
}

static void spec_2_confirm_deadline_completes_the_order_at_15_days(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = delivered_order(f);
	advance_to(f, o.delivered_at_ms + 15 * DAY);
	assert_int_equal(esc_fixture_fire(f), 1);
	struct esc_order after = esc_fixture_get(f, o.id);
	assert_int_equal(after.state, ESC_ST_COMPLETED);
	assert_int_equal(after.released_minor, TOTAL);
	assert_int_equal(after.fee_minor, 500);
}

/* ---- refund alert: 10 days ---- */

static struct esc_refund pending_refund(struct esc_fixture *f, struct esc_order *o)
{
	struct esc_refund r[4];
	*o = requested_order(f, ESC_REFUND_TO_ORIGINAL);
	*o = esc_fixture_as(f, o, ESC_EV_ACCEPT_CANCELLATION, ESC_ACTOR_SELLER);
	assert_int_equal(refunds_of(f, o->id, r, 4), 1);
	assert_int_equal(r[0].status, ESC_REFUND_PENDING);
	return r[0];
}

static void spec_4_refund_alert_does_not_fire_a_millisecond_early(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o;
	struct esc_refund r = pending_refund(f, &o);
	assert_int_equal(r.alert_due_ms, r.created_at_ms + 10 * DAY);
	advance_to(f, r.created_at_ms + 10 * DAY - 1);
	assert_int_equal(esc_fixture_fire(f), 0);
	assert_int_equal(esc_fixture_get(f, o.id).version, o.version);
}

static void spec_4_refund_alert_raises_refund_overdue_at_10_days(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o;
	struct esc_refund after[4];
	char type[48];
	struct esc_refund r = pending_refund(f, &o);
	advance_to(f, r.created_at_ms + 10 * DAY);
	assert_int_equal(esc_fixture_fire(f), 1);
	last_type(f, o.id, type, sizeof type);
	assert_string_equal(type, "refund.overdue");
	assert_int_equal(refunds_of(f, o.id, after, 4), 1);
	assert_int_equal(after[0].status, ESC_REFUND_PENDING);
	assert_int_equal(after[0].alert_due_ms, 0);
}

/* ---- exactly once ---- */

static void spec_8_a_fired_deadline_never_fires_again(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = new_order(f);
	advance_to(f, o.created_at_ms + 24 * HOUR);
	assert_int_equal(esc_fixture_fire(f), 1);
	int64_t version = esc_fixture_get(f, o.id).version;
	assert_int_equal(esc_fixture_fire(f), 0);
	advance(f, 30 * DAY);
	assert_int_equal(esc_fixture_fire(f), 0);
	assert_int_equal(esc_fixture_get(f, o.id).version, version);
}

static void spec_8_a_raised_refund_alert_never_fires_again(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o;
	struct esc_refund r = pending_refund(f, &o);
	advance_to(f, r.created_at_ms + 10 * DAY);
	assert_int_equal(esc_fixture_fire(f), 1);
	advance(f, 30 * DAY);
	assert_int_equal(esc_fixture_fire(f), 0);
}

static void spec_2_response_deadline_never_fires_after_the_seller_answers(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = requested_order(f, ESC_REFUND_TO_ORIGINAL);
	int64_t requested_at = esc_engine_now(f->e);
	advance(f, 71 * HOUR);
	o = esc_fixture_as(f, &o, ESC_EV_REJECT_CANCELLATION, ESC_ACTOR_SELLER);
	advance_to(f, requested_at + 72 * HOUR + HOUR);
	assert_int_equal(esc_fixture_fire(f), 0);
	struct esc_order after = esc_fixture_get(f, o.id);
	assert_int_equal(after.state, ESC_ST_AWAITING_SHIPMENT);
	assert_int_equal(after.version, o.version);
}

static void spec_2_ship_deadline_never_fires_after_shipping(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = paid_order(f);
	advance(f, 6 * DAY);
	o = esc_fixture_as(f, &o, ESC_EV_SHIP, ESC_ACTOR_SELLER);
	advance_to(f, o.paid_at_ms + 8 * DAY);
	assert_int_equal(esc_fixture_fire(f), 0);
	struct esc_order after = esc_fixture_get(f, o.id);
	assert_int_equal(after.state, ESC_ST_SHIPPED);
	assert_int_equal(after.version, o.version);
	assert_int_equal(seller_rep(f).missed_ships, 0);
}

/* ---- restarts (SPEC §8) ---- */

static void spec_8_the_manual_clock_survives_a_restart(void **state)
{
	struct esc_fixture *f = *state;
	advance(f, 5 * DAY + 123);
	int64_t before = esc_engine_now(f->e);
	esc_fixture_restart(f);
	assert_int_equal(esc_engine_now(f->e), before);
	assert_int_equal(before, ESC_TEST_T0 + 5 * DAY + 123);
}

static void spec_8_a_deadline_due_across_a_restart_fires_once(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_refund r[4];
	struct esc_order o = requested_order(f, ESC_REFUND_TO_ORIGINAL);
	int64_t requested_at = esc_engine_now(f->e);
	esc_fixture_restart(f);
	assert_int_equal(esc_engine_now(f->e), requested_at);
	advance(f, 72 * HOUR + 1);
	assert_int_equal(esc_fixture_fire(f), 1);
	assert_int_equal(refunds_of(f, o.id, r, 4), 1);
	assert_int_equal(esc_fixture_get(f, o.id).state, ESC_ST_CANCELLED);
	esc_fixture_restart(f);
	assert_int_equal(esc_fixture_fire(f), 0);
	assert_int_equal(refunds_of(f, o.id, r, 4), 1);
	assert_int_equal(esc_fixture_get(f, o.id).refunded_minor, TOTAL);
}

static void spec_8_a_deadline_passed_while_down_fires_after_the_restart(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_refund r[4];
	struct esc_order o = requested_order(f, ESC_REFUND_TO_ORIGINAL);
	advance(f, 72 * HOUR + 1);
	esc_fixture_restart(f);
	assert_int_equal(esc_fixture_fire(f), 1);
	assert_int_equal(refunds_of(f, o.id, r, 4), 1);
	esc_fixture_restart(f);
	assert_int_equal(esc_fixture_fire(f), 0);
	assert_int_equal(refunds_of(f, o.id, r, 4), 1);
}

/* ---- the dispute's windows (SPEC §5) ---- */

static struct esc_order disputed_order(struct esc_fixture *f, const char *outcome)
{
	struct esc_order o = shipped_order(f);
	struct esc_command c;
	struct esc_result res;
	esc_command_init(&c, ESC_EV_OPEN_DISPUTE, ESC_ACTOR_BUYER, o.buyer_id, o.id);
	c.args.ground = "not_as_described";
	c.args.outcome = outcome;
	c.args.amount_minor = 4000;
	c.args.description = "The lid is cracked";
	assert_int_equal(esc_engine_exec(f->e, &c, &res), 0);
	return res.order;
}

/* The seller's 5 days run across a restart; the window fires once, not a
 * millisecond early, granting what was asked. */
static void spec_5_seller_window_across_a_restart_fires_once(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_refund r[4];
	char type[64];
	struct esc_order o = disputed_order(f, "refund_only");
	int64_t due = o.due_ms[ESC_DL_DISPUTE];
	assert_true(due == esc_engine_now(f->e) + 5 * DAY);
	esc_fixture_restart(f);
	advance_to(f, due - 1);
	assert_int_equal(esc_fixture_fire(f), 0);
	advance(f, 1);
	assert_int_equal(esc_fixture_fire(f), 1);
	o = esc_fixture_get(f, o.id);
	assert_int_equal(o.state, ESC_ST_COMPLETED);
	assert_string_equal(o.dispute_resolution, "seller_silent");
	last_type(f, o.id, type, sizeof type);
	assert_string_equal(type, "dispute.resolved");
	assert_int_equal(refunds_of(f, o.id, r, 4), 1);
	assert_true(r[0].amount_minor == 4000);
	esc_fixture_restart(f);
	assert_int_equal(esc_fixture_fire(f), 0);
	assert_int_equal(refunds_of(f, o.id, r, 4), 1);
}

/* Answered, the seller's window is replaced by the buyer's: the old row
 * never fires. */
static void spec_5_an_answered_window_never_fires(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = disputed_order(f, "return_and_refund");
	int64_t seller_due = o.due_ms[ESC_DL_DISPUTE];
	advance(f, DAY);
	o = esc_fixture_as(f, &o, ESC_EV_ACCEPT_DISPUTE, ESC_ACTOR_SELLER);
	assert_int_equal(o.dispute_state, ESC_DS_AWAITING_RETURN);
	assert_true(o.due_ms[ESC_DL_DISPUTE] == esc_engine_now(f->e) + 10 * DAY);
	advance_to(f, seller_due);
	assert_int_equal(esc_fixture_fire(f), 0);
	/* The buyer's 10 days to ship it back pass: they lose. */
	advance_to(f, o.due_ms[ESC_DL_DISPUTE]);
	assert_int_equal(esc_fixture_fire(f), 1);
	o = esc_fixture_get(f, o.id);
	assert_string_equal(o.dispute_resolution, "return_not_shipped");
	assert_true(o.refunded_minor == 0);
	assert_int_equal(o.state, ESC_ST_COMPLETED);
}

/* ---- the ship deadline while a cancellation request is open ---- */

/* Paid at T0, asked to cancel 6 days later: the ship deadline (7 days)
 * comes before the response window's end (9 days), and cuts it short:
 * both are due at 7 days, and one of them grants the request. */
static struct esc_order late_request(struct esc_fixture *f, enum esc_refund_to to)
{
	struct esc_order o = paid_order(f);
	int64_t ship = o.due_ms[ESC_DL_SHIP];
	advance(f, 6 * DAY);
	o = esc_fixture_request(f, &o, "no_longer_needed", to);
	assert_int_equal(o.due_ms[ESC_DL_SHIP], ship);
	assert_int_equal(o.due_ms[ESC_DL_RESPONSE], ship);
	advance_to(f, ship - 1);
	assert_int_equal(esc_fixture_fire(f), 0);
	advance_to(f, ship);
	assert_int_equal(esc_fixture_fire(f), 1);
	return esc_fixture_get(f, o.id);
}

static void spec_2_ship_deadline_during_a_request_cancels_with_a_full_refund(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_refund r[4];
	struct esc_order o = late_request(f, ESC_REFUND_TO_ORIGINAL);
	assert_int_equal(o.state, ESC_ST_CANCELLED);
	assert_int_equal(o.refunded_minor, TOTAL);
	assert_int_equal(refunds_of(f, o.id, r, 4), 1);
	assert_int_equal(r[0].amount_minor, TOTAL);
}

static void spec_2_ship_deadline_during_a_request_keeps_the_buyers_refund_to(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_refund r[4];
	char buyer[ESC_ACCOUNT_SIZE];
	struct esc_order o = late_request(f, ESC_REFUND_TO_BALANCE);
	esc_account_buyer(buyer, f->buyer.id);
	assert_int_equal(refunds_of(f, o.id, r, 4), 1);
	assert_int_equal(r[0].method, ESC_METHOD_BALANCE);
	assert_int_equal(r[0].status, ESC_REFUND_SETTLED);
	assert_int_equal(esc_fixture_balance(f, buyer), TOTAL);
}

/* The seller cannot ship while a request is open, so the ship deadline
 * passing then grants the request as the response deadline would: the
 * cancellation counts for the buyer, and against the seller only for a
 * seller-fault reason, never as a missed shipment. */
static void spec_2_ship_deadline_during_a_request_grants_it_not_a_missed_shipment(void **state)
{
	struct esc_fixture *f = *state;
	late_request(f, ESC_REFUND_TO_ORIGINAL);
	struct esc_seller_rep s = seller_rep(f);
	assert_int_equal(s.missed_ships, 0);
	assert_int_equal(s.fault_cancels, 0); /* no_longer_needed is the buyer's */
}

static void spec_2_ship_deadline_during_a_request_counts_as_the_buyers_cancellation(void **state)
{
	struct esc_fixture *f = *state;
	late_request(f, ESC_REFUND_TO_ORIGINAL);
	struct esc_buyer_rep b = buyer_rep(f);
	assert_int_equal(b.cancellations_short, 1);
	assert_int_equal(b.cancellations_long, 1);
}

/* ---- many at once ---- */

#define MANY 300

static void spec_8_many_deadlines_due_at_once_all_fire_once(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_command *c = calloc(MANY, sizeof *c);
	struct esc_result *r = calloc(MANY, sizeof *r);
	char(*ids)[ESC_ID_SIZE] = calloc(MANY, sizeof *ids);
	struct esc_item item = {.quantity = 1, .unit_price_minor = TOTAL};
	size_t fired = 0, total = 0, rounds = 0;
	assert_true(c && r && ids);
	snprintf(item.title, sizeof item.title, "Bulk item");
	for (size_t i = 0; i < MANY; i++) {
		esc_command_init(&c[i], ESC_EV_CREATE, ESC_ACTOR_OPERATOR, NULL, NULL);
		c[i].args.buyer_id = i % 2 ? f->buyer.id : f->buyer2.id;
		c[i].args.seller_id = i % 3 ? f->seller.id : f->seller2.id;
		c[i].args.currency = "EUR";
		c[i].args.items = &item;
		c[i].args.items_count = 1;
	}
	assert_int_equal(esc_engine_exec_batch(f->e, c, MANY, r), 0);
	for (size_t i = 0; i < MANY; i++) {
		assert_int_equal(r[i].rc, 0);
		snprintf(ids[i], sizeof ids[i], "%s", r[i].order.id);
	}
	advance(f, 24 * HOUR);
	do {
		assert_int_equal(esc_engine_fire_due(f->e, 0, &fired), 0);
		total += fired;
		rounds += fired > 0;
	} while (fired);
	assert_int_equal(total, MANY);
	assert_true(rounds > 1);
	assert_int_equal(esc_fixture_fire(f), 0);
	for (size_t i = 0; i < MANY; i++) {
		assert_int_equal(esc_fixture_get(f, ids[i]).state, ESC_ST_CANCELLED);
		assert_int_equal(esc_fixture_history_count(f, ids[i]), 2); /* created, cancelled */
	}
	free(c);
	free(r);
	free(ids);
}

/* A worker thread that fires until a batch fires nothing, as serve's
 * loop does. */
struct firer {
	struct esc_engine *e;
	size_t total;
	int rc;
};

static void *fire_all(void *arg)
{
	struct firer *w = arg;
	size_t fired = 0;
	do {
		w->rc = esc_engine_fire_due(w->e, 0, &fired);
		w->total += fired;
	} while (!w->rc && fired);
	return NULL;
}

/* Batches of deadlines are the writer's turns: two threads firing at
 * once while commands are submitted fire each deadline once between
 * the commands, and every command is answered. */
static void spec_8_deadlines_fired_from_two_threads_take_turns_with_commands(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_command *c = calloc(MANY, sizeof *c);
	struct esc_result *r = calloc(MANY, sizeof *r);
	char(*ids)[ESC_ID_SIZE] = calloc(MANY, sizeof *ids);
	struct esc_item item = {.quantity = 1, .unit_price_minor = TOTAL};
	struct firer w[2] = {{.e = f->e}, {.e = f->e}};
	pthread_t t[2];
	assert_true(c && r && ids);
	snprintf(item.title, sizeof item.title, "Bulk item");
	for (size_t i = 0; i < MANY; i++) {
		esc_command_init(&c[i], ESC_EV_CREATE, ESC_ACTOR_OPERATOR, NULL, NULL);
		c[i].args.buyer_id = f->buyer.id;
		c[i].args.seller_id = f->seller.id;
		c[i].args.currency = "EUR";
		c[i].args.items = &item;
		c[i].args.items_count = 1;
	}
	assert_int_equal(esc_engine_exec_batch(f->e, c, MANY, r), 0);
	for (size_t i = 0; i < MANY; i++)
		snprintf(ids[i], sizeof ids[i], "%s", r[i].order.id);
	advance(f, 24 * HOUR);
	for (int k = 0; k < 2; k++)
		assert_int_equal(pthread_create(&t[k], NULL, fire_all, &w[k]), 0);
	/* Meanwhile, new orders through the writer's queue. */
	for (size_t i = 0; i < 20; i++)
		assert_int_equal(esc_engine_submit(f->e, &c[i], &r[i]), 0);
	for (int k = 0; k < 2; k++) {
		assert_int_equal(pthread_join(t[k], NULL), 0);
		assert_int_equal(w[k].rc, 0);
	}
	assert_int_equal(w[0].total + w[1].total, MANY);
	assert_int_equal(esc_fixture_fire(f), 0);
	for (size_t i = 0; i < MANY; i++) {
		assert_int_equal(esc_fixture_get(f, ids[i]).state, ESC_ST_CANCELLED);
		assert_int_equal(esc_fixture_history_count(f, ids[i]), 2); /* created, cancelled */
	}
	for (size_t i = 0; i < 20; i++)
		assert_int_equal(esc_fixture_get(f, r[i].order.id).state, ESC_ST_AWAITING_PAYMENT);
	free(c);
	free(r);
	free(ids);
}

/* ---- several processes on one store ---- */

/* A second engine on the fixture's store, as another process would be,
 * its manual clock where the first one's stands. */
static struct esc_engine *second_engine(struct esc_fixture *f)
{
	struct esc_engine_options opt = {.manual_clock = true, .fast_password_hashing = true};
	struct esc_engine *e = NULL;
	char err[300] = "";
	int rc = esc_engine_open(&e, f->db, NULL, &opt, err, sizeof err);
	if (rc)
		fail_msg("second engine: %s", err);
	assert_int_equal(esc_engine_now(e), esc_engine_now(f->e));
	return e;
}

/* Real time for leases, moved by hand: a day after the manual clock's
 * start, as the machine's clock is not escrowd's. */
#define REAL0 (ESC_TEST_T0 + DAY)

/* SIGKILL, as an engine sees it: from the commit of its first claim on,
 * nothing it asks of the store happens, its release at the end included. */
struct kill {
	bool claimed, dead;
};

static int kill_after_claim(void *arg, const char *verb)
{
	struct kill *k = arg;
	if (k->dead)
		return ESC_EIO;
	if (!strcmp(verb, "deadlines_claim"))
		k->claimed = true;
	else if (k->claimed && !strcmp(verb, "commit"))
		k->dead = true; /* this commit is the last thing it does */
	return 0;
}

/* The issue's scenario: the clock moved past n response deadlines, and
 * the process firing them killed once it had claimed them. Fills o with
 * the orders and returns the time the killed process stopped at; the
 * killed engine is gone, its claims and its lease left behind. */
#define KILLED_MAX 10
static int64_t kill_mid_firing(struct esc_fixture *f, struct esc_clock *real, int64_t lease_ms,
			       struct esc_order *o, size_t n)
{
	static struct kill k;
	size_t fired = 99;
	for (size_t i = 0; i < n; i++)
		o[i] = requested_order(f, ESC_REFUND_TO_ORIGINAL);
	struct esc_engine *killed = esc_fixture_process(f, real, lease_ms);
	memset(&k, 0, sizeof k);
	esc_engine_writer(killed)->fault = kill_after_claim;
	esc_engine_writer(killed)->fault_arg = &k;
	assert_int_equal(esc_engine_advance(killed, 72 * HOUR), 0);
	assert_int_not_equal(esc_engine_fire_due(killed, 0, &fired), 0);
	assert_int_equal(fired, 0);
	assert_true(k.dead);
	int64_t now = esc_engine_now(killed);
	esc_engine_free(killed);
	/* Its rows are still queued, claimed. */
	struct esc_deadline rows[KILLED_MAX + 1];
	size_t due = 0;
	int rc;
	ESC_STORE(rc, esc_engine_writer(f->e), deadlines_due, now, rows, KILLED_MAX + 1, &due);
	assert_int_equal(rc, 0);
	assert_int_equal(due, n);
	return now;
}

static void assert_granted_once(struct esc_fixture *f, const struct esc_order *o, size_t n)
{
	char type[48];
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(esc_fixture_get(f, o[i].id).state, ESC_ST_CANCELLED);
		last_type(f, o[i].id, type, sizeof type);
		assert_string_equal(type, "cancellation.auto_approved");
		/* created, paid, requested, granted */
		assert_int_equal(esc_fixture_history_count(f, o[i].id), 4);
	}
}

/* SPEC §8 and §9: what a process held when it was killed fires at
 * another process as soon as the killed one's lease ends, in real time,
 * with escrowd's clock where it stands; not a millisecond before. */
static void spec_9_a_killed_process_claims_fire_elsewhere_when_its_lease_ends(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o[KILLED_MAX];
	struct esc_clock real;
	size_t fired = 99;
	esc_clock_init_manual(&real, REAL0);
	/* A process that was running already (it made its first claim). */
	struct esc_engine *other = esc_fixture_process(f, &real, 0);
	assert_int_equal(esc_engine_fire_due(other, 0, &fired), 0);
	assert_int_equal(fired, 0);

	int64_t now = kill_mid_firing(f, &real, 2000, o, KILLED_MAX);
	/* The other takes the store's manual clock at its round. */
	assert_int_equal(esc_engine_fire_due(other, 0, &fired), 0);
	assert_int_equal(fired, 0);
	esc_clock_advance(&real, 2000 - 1);
	assert_int_equal(esc_engine_fire_due(other, 0, &fired), 0);
	assert_int_equal(fired, 0);
	esc_clock_advance(&real, 1);
	assert_int_equal(esc_engine_fire_due(other, 0, &fired), 0);
	assert_int_equal(fired, KILLED_MAX);
	assert_int_equal(esc_engine_fire_due(other, 0, &fired), 0);
	assert_int_equal(fired, 0);
	assert_int_equal(esc_engine_now(other), now);
	esc_engine_free(other);
	assert_granted_once(f, o, KILLED_MAX);
}

/* Issue 15: the deadline worker claims every second. A claim that takes
 * rows renews the process's lease with them once a quarter of it has
 * passed since the last renewal, its own or the webhook worker's, so that
 * each claim starts with three quarters of a lease; a claim that takes
 * nothing renews nothing. An idle daemon then commits nothing (a commit
 * makes every read connection drop its cache and its map of the file). */
static void issue_15_a_claim_renews_the_lease_only_with_rows_it_takes(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_clock real;
	size_t fired = 99;
	struct esc_order o[3];
	for (size_t i = 0; i < 3; i++)
		o[i] = requested_order(f, ESC_REFUND_TO_ORIGINAL);
	esc_clock_init_manual(&real, REAL0);
	struct esc_engine *e = esc_fixture_process(f, &real, 2000);
	/* The first claim writes the process's row. */
	assert_int_equal(esc_engine_fire_due(e, 0, &fired), 0);
	assert_int_equal(fired, 0);
	assert_int_equal(esc_fixture_heartbeat(f, e), REAL0);
	/* Idle: nothing due, nothing held, nothing written, even once the
	 * lease has ended. */
	esc_clock_advance(&real, 2000 / 4);
	assert_int_equal(esc_engine_fire_due(e, 0, &fired), 0);
	assert_int_equal(esc_fixture_heartbeat(f, e), REAL0);
	esc_clock_advance(&real, 3 * 2000);
	assert_int_equal(esc_engine_fire_due(e, 0, &fired), 0);
	assert_int_equal(fired, 0);
	assert_int_equal(esc_fixture_heartbeat(f, e), REAL0);
	/* The three fall due: the claim that takes the first renews the
	 * lease with it; one a quarter lease later, less a millisecond, does
	 * not; one at the quarter does. */
	int64_t t = REAL0 + 2000 / 4 + 3 * 2000;
	assert_int_equal(esc_engine_advance(e, 72 * HOUR), 0);
	assert_int_equal(esc_engine_fire_due(e, 1, &fired), 0);
	assert_int_equal(fired, 1);
	assert_int_equal(esc_fixture_heartbeat(f, e), t);
	esc_clock_advance(&real, 2000 / 4 - 1);
	assert_int_equal(esc_engine_fire_due(e, 1, &fired), 0);
	assert_int_equal(fired, 1);
	assert_int_equal(esc_fixture_heartbeat(f, e), t);
	esc_clock_advance(&real, 1);
	assert_int_equal(esc_engine_fire_due(e, 1, &fired), 0);
	assert_int_equal(fired, 1);
	assert_int_equal(esc_fixture_heartbeat(f, e), t + 2000 / 4);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(esc_fixture_get(f, o[i].id).state, ESC_ST_CANCELLED);
	t += 2000 / 4;

	/* The webhook worker renews the same row. Its first round does; an
	 * idle one does not; and a claim counts the quarter from its
	 * renewal too. (Its renewals while it holds deliveries: test_delivery.) */
	struct esc_order later = requested_order(f, ESC_REFUND_TO_ORIGINAL);
	struct esc_webhook_options wo;
	struct esc_webhook_worker *w = NULL;
	esc_webhook_options_default(&wo);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	assert_int_equal(esc_webhook_worker_new(e, &wo, &w), 0);
	esc_clock_advance(&real, 100);
	assert_int_equal(esc_webhook_worker_poll(w, 0), 0); /* its first round */
	assert_int_equal(esc_fixture_heartbeat(f, e), t + 100);
	/* 499 ms after the claim's renewal, 399 after the worker's. */
	esc_clock_advance(&real, 399);
	assert_int_equal(esc_engine_advance(e, 72 * HOUR), 0);
	assert_int_equal(esc_engine_fire_due(e, 0, &fired), 0);
	assert_int_equal(fired, 1);
	assert_int_equal(esc_fixture_heartbeat(f, e), t + 100);
	esc_clock_advance(&real, 2000);
	assert_int_equal(esc_webhook_worker_poll(w, 0), 0);
	assert_int_equal(esc_fixture_heartbeat(f, e), t + 100);
	assert_int_equal(esc_fixture_get(f, later.id).state, ESC_ST_CANCELLED);
	esc_webhook_worker_free(w);
	curl_global_cleanup();
	esc_engine_free(e);
}

/* SPEC §8: after a SIGKILL mid-firing, the restarted daemon fires what
 * the killed one held as soon as it may, escrowd's clock unmoved: at
 * once on SQLite, which one process serves, so that whoever held a claim
 * there is gone; on PostgreSQL, where the holder may be a live daemon on
 * another machine, when the killed process's lease ends. */
static void spec_8_a_restart_fires_what_a_killed_process_held(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o[KILLED_MAX];
	struct esc_clock real;
	size_t fired = 99;
	esc_clock_init_manual(&real, REAL0);
	kill_mid_firing(f, &real, 0, o, KILLED_MAX);

	struct esc_engine *restarted = esc_fixture_process(f, &real, 0);
	int64_t now = esc_engine_now(restarted);
	if (esc_engine_writer(restarted)->ops->shared) {
		assert_int_equal(esc_engine_fire_due(restarted, 0, &fired), 0);
		assert_int_equal(fired, 0);
		esc_clock_advance(&real, ESC_LEASE_MS_DEFAULT);
	}
	assert_int_equal(esc_engine_fire_due(restarted, 0, &fired), 0);
	assert_int_equal(fired, KILLED_MAX);
	assert_int_equal(esc_engine_fire_due(restarted, 0, &fired), 0);
	assert_int_equal(fired, 0);
	assert_int_equal(esc_engine_now(restarted), now);
	esc_engine_free(restarted);
	assert_granted_once(f, o, KILLED_MAX);
}

/* A process that stops cleanly gives back what it claimed and could not
 * fire, so that another fires it at once, its lease notwithstanding. */
static int fail_firing(void *arg, const char *verb)
{
	(void)arg;
	/* The command, and the row's release after it, fail. */
	return !strcmp(verb, "order_update") || !strcmp(verb, "deadline_apply") ? ESC_EIO : 0;
}

static void spec_9_a_process_that_stops_gives_its_claims_back(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_clock real;
	size_t fired = 99;
	esc_clock_init_manual(&real, REAL0);
	struct esc_engine *other = esc_fixture_process(f, &real, 0);
	assert_int_equal(esc_engine_fire_due(other, 0, &fired), 0);
	struct esc_order o = requested_order(f, ESC_REFUND_TO_ORIGINAL);
	struct esc_engine *stopping = esc_fixture_process(f, &real, 0);
	assert_int_equal(esc_engine_advance(stopping, 72 * HOUR), 0);
	esc_engine_writer(stopping)->fault = fail_firing;
	assert_int_equal(esc_engine_fire_due(stopping, 0, &fired), ESC_EIO);
	assert_int_equal(fired, 0);
	/* Held: the other may not fire it. */
	assert_int_equal(esc_engine_fire_due(other, 0, &fired), 0);
	assert_int_equal(fired, 0);
	esc_engine_writer(stopping)->fault = NULL;
	esc_engine_free(stopping);
	assert_int_equal(esc_engine_fire_due(other, 0, &fired), 0);
	assert_int_equal(fired, 1);
	esc_engine_free(other);
	assert_granted_once(f, &o, 1);
}

/* Two processes firing the same due deadlines: each fires once. */
static void spec_9_two_processes_fire_each_deadline_once(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o[6];
	size_t one = 0, two = 0;
	for (size_t i = 0; i < 6; i++)
		o[i] = new_order(f);
	advance(f, 24 * HOUR);
	struct esc_engine *other = second_engine(f);
	assert_int_equal(esc_engine_fire_due(other, 3, &one), 0);
	assert_int_equal(esc_engine_fire_due(f->e, 0, &two), 0);
	assert_int_equal(one, 3);
	assert_int_equal(two, 3);
	assert_int_equal(esc_engine_fire_due(other, 0, &one), 0);
	assert_int_equal(one, 0);
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(esc_fixture_history_count(f, o[i].id), 2);
	esc_engine_free(other);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, esc_fixture_setup, esc_fixture_teardown)

int main(void)
{
	esc_test_store_or_skip("deadlines");
	static const struct CMUnitTest tests[] = {
		T(spec_2_payment_deadline_does_not_fire_a_millisecond_early),
		T(spec_2_payment_deadline_cancels_the_order_at_24_hours),
		T(spec_2_ship_deadline_does_not_fire_a_millisecond_early),
		T(spec_2_ship_deadline_cancels_with_a_full_refund_at_7_days),
		T(spec_2_ship_deadline_marks_the_seller_missed_ship),
		T(spec_2_response_deadline_does_not_fire_a_millisecond_early),
		T(spec_2_response_deadline_auto_approves_with_a_refund_at_72_hours),
		T(issue_11_item_4_a_late_deadline_says_when_it_was_due),
		T(spec_2_protection_deadline_does_not_fire_a_millisecond_early),
		T(spec_2_protection_deadline_releases_to_the_seller_less_5_percent),
		T(spec_2_delivery_days_sets_the_promised_date_and_protection),
		T(spec_2_confirm_deadline_does_not_fire_a_millisecond_early),
		T(spec_2_confirm_deadline_completes_the_order_at_15_days),
		T(spec_4_refund_alert_does_not_fire_a_millisecond_early),
		T(spec_4_refund_alert_raises_refund_overdue_at_10_days),
		T(spec_8_a_fired_deadline_never_fires_again),
		T(spec_8_a_raised_refund_alert_never_fires_again),
		T(spec_2_response_deadline_never_fires_after_the_seller_answers),
		T(spec_2_ship_deadline_never_fires_after_shipping),
		T(spec_8_the_manual_clock_survives_a_restart),
		T(spec_8_a_deadline_due_across_a_restart_fires_once),
		T(spec_8_a_deadline_passed_while_down_fires_after_the_restart),
		T(spec_5_seller_window_across_a_restart_fires_once),
		T(spec_5_an_answered_window_never_fires),
		T(spec_2_ship_deadline_during_a_request_cancels_with_a_full_refund),
		T(spec_2_ship_deadline_during_a_request_keeps_the_buyers_refund_to),
		T(spec_2_ship_deadline_during_a_request_grants_it_not_a_missed_shipment),
		T(spec_2_ship_deadline_during_a_request_counts_as_the_buyers_cancellation),
		T(spec_8_many_deadlines_due_at_once_all_fire_once),
		T(spec_8_deadlines_fired_from_two_threads_take_turns_with_commands),
		T(spec_9_a_killed_process_claims_fire_elsewhere_when_its_lease_ends),
		T(spec_8_a_restart_fires_what_a_killed_process_held),
		T(issue_15_a_claim_renews_the_lease_only_with_rows_it_takes),
		T(spec_9_a_process_that_stops_gives_its_claims_back),
		T(spec_9_two_processes_fire_each_deadline_once),
	};
	return cmocka_run_group_tests_name("deadlines", tests, NULL, NULL);
}
