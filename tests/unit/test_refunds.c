/* test_refunds.c - every refund path of SPEC §4 through the engine on a
 * real SQLite file: to the card (pending in refunds_in_transit until the
 * operator settles or fails it), to the store balance (settled at once),
 * the expected settlement times, the 10-day alert, and the refusals. The
 * ledger is checked after each scenario. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "store/store.h"
#include "support.h"
#include "util/error.h"

#define DAY  ESC_MS_PER_DAY
#define HOUR ESC_MS_PER_HOUR

#define TOTAL      INT64_C(12345)
#define FAR_FUTURE (ESC_TEST_T0 + 3650 * DAY)

/* --- fixture and helpers ------------------------------------------------- */

static struct esc_store *store(struct esc_fixture *f)
{
	return esc_engine_writer(f->e);
}

static struct esc_refund refund_get(struct esc_fixture *f, const char *id)
{
	struct esc_refund r;
	int rc;
	ESC_STORE(rc, store(f), refund_get, id, &r);
	assert_int_equal(rc, 0);
	return r;
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

/* The order's only refund. */
static struct esc_refund the_refund(struct esc_fixture *f, const char *order_id)
{
	struct esc_refund r[4];
	assert_int_equal(refunds_of(f, order_id, r, 4), 1);
	return r[0];
}

/* How many history rows of the order have this type. */
static size_t history_typed(struct esc_fixture *f, const char *order_id, const char *type)
{
	size_t n = 0, k = 0;
	struct esc_history *h = esc_fixture_history(f, order_id, &n);
	for (size_t i = 0; i < n; i++)
		k += !strcmp(h[i].type, type);
	free(h);
	return k;
}

static int64_t buyer_balance(struct esc_fixture *f, const struct esc_user *u)
{
	char account[ESC_ACCOUNT_SIZE];
	esc_account_buyer(account, u->id);
	return esc_fixture_balance(f, account);
}

/* The refund alert rows in the queue for this refund, whenever due. */
static size_t alerts_of(struct esc_fixture *f, const char *refund_id, int64_t *due)
{
	struct esc_deadline rows[64];
	size_t n = 0, k = 0;
	int rc;
	ESC_STORE(rc, store(f), deadlines_due, FAR_FUTURE, rows, 64, &n);
	assert_int_equal(rc, 0);
	for (size_t i = 0; i < n; i++) {
		if (rows[i].kind == ESC_DL_REFUND && !strcmp(rows[i].ref, refund_id)) {
			if (due)
				*due = rows[i].due_ms;
			k++;
		}
	}
	return k;
}

/* What a refused command must leave as it was. */
struct snapshot {
	int64_t version;
	size_t history;
	int64_t outbox;
	int64_t transfers;
	int64_t buyer_balance;
	int64_t in_transit;
};

static struct snapshot snap(struct esc_fixture *f, const char *order_id)
{
	struct snapshot s = {
		.version = esc_fixture_get(f, order_id).version,
		.history = esc_fixture_history_count(f, order_id),
		.outbox = esc_fixture_outbox_count(f),
		.transfers = esc_fixture_transfers_count(f),
		.buyer_balance = buyer_balance(f, &f->buyer),
		.in_transit = esc_fixture_balance(f, ESC_ACCOUNT_IN_TRANSIT),
	};
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
	assert_int_equal(after.buyer_balance, before->buyer_balance);
	assert_int_equal(after.in_transit, before->in_transit);
}

static int run(struct esc_fixture *f, struct esc_command *c, struct esc_result *r)
{
	memset(r, 0, sizeof *r);
	return esc_fixture_run(f, c, r);
}

/* An order of `total` paid with `m`, its cancellation requested with
 * refund_to `to` and accepted by the seller. */
static struct esc_order cancelled(struct esc_fixture *f, int64_t total, enum esc_method m,
				  enum esc_refund_to to)
{
	struct esc_order o = esc_fixture_order(f, &f->buyer, &f->seller, total);
	o = esc_fixture_pay(f, &o, m);
	o = esc_fixture_request(f, &o, "no_longer_needed", to);
	return esc_fixture_as(f, &o, ESC_EV_ACCEPT_CANCELLATION, ESC_ACTOR_SELLER);
}

static struct esc_order cancelled_card(struct esc_fixture *f)
{
	return cancelled(f, TOTAL, ESC_METHOD_CARD, ESC_REFUND_TO_ORIGINAL);
}

/* The operator reports a refund's outcome. */
static int report(struct esc_fixture *f, enum esc_event ev, const char *order_id,
		  const char *refund_id, struct esc_result *r)
{
	struct esc_command c;
	esc_command_init(&c, ev, ESC_ACTOR_OPERATOR, NULL, order_id);
	c.args.refund_id = refund_id;
	return run(f, &c, r);
}

static int pay(struct esc_fixture *f, const struct esc_order *o, int64_t amount, enum esc_method m,
	       struct esc_result *r)
{
	struct esc_command c;
	esc_command_init(&c, ESC_EV_PAY, ESC_ACTOR_OPERATOR, NULL, o->id);
	c.args.amount_minor = amount;
	c.args.method = (int)m;
	return run(f, &c, r);
}

/* The buyer gets TOTAL in their store balance: a card refund that failed. */
static void fund_buyer_balance(struct esc_fixture *f)
{
	struct esc_result r;
	struct esc_order o = cancelled_card(f);
	struct esc_refund rf = the_refund(f, o.id);
	assert_int_equal(report(f, ESC_EV_REFUND_FAILED, o.id, rf.id, &r), 0);
	assert_int_equal(buyer_balance(f, &f->buyer), TOTAL);
}

/* --- to the original method: pending, then settled or failed ------------- */

static void test_spec_4_card_refund_pending_in_refunds_in_transit(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = cancelled_card(f);
	struct esc_refund rf = the_refund(f, o.id);

	assert_int_equal(rf.status, ESC_REFUND_PENDING);
	assert_int_equal(rf.method, ESC_METHOD_CARD);
	assert_int_equal(rf.amount_minor, TOTAL);
	assert_string_equal(rf.order_id, o.id);
	assert_int_equal(rf.resolved_at_ms, 0);
	assert_int_equal(esc_fixture_balance(f, ESC_ACCOUNT_IN_TRANSIT), TOTAL);
	assert_int_equal(esc_fixture_escrow_balance(f, o.id), 0);
	assert_int_equal(esc_fixture_balance(f, ESC_ACCOUNT_EXTERNAL), -TOTAL);
	assert_int_equal(buyer_balance(f, &f->buyer), 0);
	esc_fixture_check(f);
}

static void test_spec_4_card_refund_shows_settle_days_3_to_7(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = cancelled_card(f);
	struct esc_refund rf = the_refund(f, o.id);

	assert_int_equal(rf.settle_days_min, 3);
	assert_int_equal(rf.settle_days_max, 7);
	esc_fixture_check(f);
}

static void test_spec_4_wallet_refund_shows_settle_days_1_to_1(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = cancelled(f, TOTAL, ESC_METHOD_WALLET, ESC_REFUND_TO_ORIGINAL);
	struct esc_refund rf = the_refund(f, o.id);

	assert_int_equal(rf.method, ESC_METHOD_WALLET);
	assert_int_equal(rf.status, ESC_REFUND_PENDING);
	assert_int_equal(rf.settle_days_min, 1);
	assert_int_equal(rf.settle_days_max, 1);
	assert_int_equal(esc_fixture_balance(f, ESC_ACCOUNT_IN_TRANSIT), TOTAL);
	esc_fixture_check(f);
}

static void test_spec_4_pending_refund_sets_alert_10_days_out(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = cancelled_card(f);
	struct esc_refund rf = the_refund(f, o.id);
	int64_t due = 0;

	assert_int_equal(rf.alert_due_ms, ESC_TEST_T0 + 10 * DAY);
	assert_int_equal(alerts_of(f, rf.id, &due), 1);
	assert_int_equal(due, ESC_TEST_T0 + 10 * DAY);
	esc_fixture_check(f);
}

static void test_spec_4_operator_settles_card_refund_money_to_external(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = cancelled_card(f);
	struct esc_refund rf = the_refund(f, o.id);
	struct esc_result r;

	assert_int_equal(esc_engine_advance(f->e, 4 * DAY), 0);
	assert_int_equal(report(f, ESC_EV_REFUND_SETTLED, o.id, rf.id, &r), 0);
	assert_true(r.has_refund);
	assert_int_equal(r.refund.status, ESC_REFUND_SETTLED);

	struct esc_refund got = refund_get(f, rf.id);
	assert_int_equal(got.status, ESC_REFUND_SETTLED);
	assert_int_equal(got.resolved_at_ms, ESC_TEST_T0 + 4 * DAY);
	assert_int_equal(got.alert_due_ms, 0);
	assert_int_equal(got.amount_minor, TOTAL);
	assert_int_equal(esc_fixture_balance(f, ESC_ACCOUNT_IN_TRANSIT), 0);
	assert_int_equal(esc_fixture_balance(f, ESC_ACCOUNT_EXTERNAL), 0);
	assert_int_equal(buyer_balance(f, &f->buyer), 0);
	assert_int_equal(esc_fixture_escrow_balance(f, o.id), 0);
	esc_fixture_check(f);
}

static void test_spec_7_refund_settled_appends_one_history_and_outbox_row(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = cancelled_card(f);
	struct esc_refund rf = the_refund(f, o.id);
	struct esc_result r;
	int64_t outbox = esc_fixture_outbox_count(f);
	size_t rows = esc_fixture_history_count(f, o.id);

	assert_int_equal(report(f, ESC_EV_REFUND_SETTLED, o.id, rf.id, &r), 0);
	assert_int_equal(esc_fixture_outbox_count(f), outbox + 1);
	assert_int_equal(esc_fixture_history_count(f, o.id), rows + 1);
	assert_int_equal(history_typed(f, o.id, "refund.settled"), 1);
	struct esc_order got = esc_fixture_get(f, o.id);
	assert_int_equal(got.state, ESC_ST_CANCELLED);
	assert_int_equal(got.version, o.version + 1);
	esc_fixture_check(f);
}

static void test_spec_4_failed_card_refund_goes_to_buyer_store_balance(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = cancelled_card(f);
	struct esc_refund rf = the_refund(f, o.id);
	struct esc_result r;

	assert_int_equal(report(f, ESC_EV_REFUND_FAILED, o.id, rf.id, &r), 0);
	struct esc_refund got = refund_get(f, rf.id);
	assert_int_equal(got.status, ESC_REFUND_FAILED);
	assert_int_equal(got.alert_due_ms, 0);
	assert_int_equal(buyer_balance(f, &f->buyer), TOTAL);
	assert_int_equal(esc_fixture_balance(f, ESC_ACCOUNT_IN_TRANSIT), 0);
	assert_int_equal(esc_fixture_balance(f, ESC_ACCOUNT_EXTERNAL), -TOTAL);
	assert_int_equal(history_typed(f, o.id, "refund.failed"), 1);
	esc_fixture_check(f);
}

/* --- to the store balance: settled at once ------------------------------- */

static void test_spec_4_refund_to_balance_settled_at_once_buyer_credited(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = cancelled(f, TOTAL, ESC_METHOD_CARD, ESC_REFUND_TO_BALANCE);
	struct esc_refund rf = the_refund(f, o.id);

	assert_int_equal(rf.method, ESC_METHOD_BALANCE);
	assert_int_equal(rf.status, ESC_REFUND_SETTLED);
	assert_int_equal(rf.resolved_at_ms, ESC_TEST_T0);
	assert_int_equal(rf.alert_due_ms, 0);
	assert_int_equal(rf.settle_days_min, 0);
	assert_int_equal(rf.settle_days_max, 0);
	assert_int_equal(buyer_balance(f, &f->buyer), TOTAL);
	assert_int_equal(esc_fixture_balance(f, ESC_ACCOUNT_IN_TRANSIT), 0);
	assert_int_equal(esc_fixture_escrow_balance(f, o.id), 0);
	assert_int_equal(alerts_of(f, rf.id, NULL), 0);
	esc_fixture_check(f);
}

static void test_spec_4_order_paid_from_balance_refunded_to_balance_at_once(void **state)
{
	struct esc_fixture *f = *state;
	fund_buyer_balance(f);
	int64_t in_transit = esc_fixture_balance(f, ESC_ACCOUNT_IN_TRANSIT);

	struct esc_order o = esc_fixture_order(f, &f->buyer, &f->seller, TOTAL - 45);
	o = esc_fixture_pay(f, &o, ESC_METHOD_BALANCE);
	assert_int_equal(o.method, ESC_METHOD_BALANCE);
	assert_int_equal(buyer_balance(f, &f->buyer), 45);
	assert_int_equal(esc_fixture_escrow_balance(f, o.id), TOTAL - 45);

	o = esc_fixture_request(f, &o, "no_longer_needed", ESC_REFUND_TO_ORIGINAL);
	o = esc_fixture_as(f, &o, ESC_EV_ACCEPT_CANCELLATION, ESC_ACTOR_SELLER);
	struct esc_refund rf = the_refund(f, o.id);
	assert_int_equal(rf.method, ESC_METHOD_BALANCE);
	assert_int_equal(rf.status, ESC_REFUND_SETTLED);
	assert_int_equal(rf.amount_minor, TOTAL - 45);
	assert_int_equal(alerts_of(f, rf.id, NULL), 0);
	assert_int_equal(buyer_balance(f, &f->buyer), TOTAL);
	assert_int_equal(esc_fixture_balance(f, ESC_ACCOUNT_IN_TRANSIT), in_transit);
	assert_int_equal(esc_fixture_escrow_balance(f, o.id), 0);
	esc_fixture_check(f);
}

static void test_spec_4_paying_more_than_store_balance_refused_insufficient_balance(void **state)
{
	struct esc_fixture *f = *state;
	fund_buyer_balance(f);
	struct esc_order o = esc_fixture_order(f, &f->buyer, &f->seller, TOTAL + 1);
	struct esc_result r;

	struct snapshot before = snap(f, o.id);
	assert_int_equal(pay(f, &o, TOTAL + 1, ESC_METHOD_BALANCE, &r), ESC_EFUNDS);
	assert_string_equal(esc_error_code(r.rc), "insufficient_balance");
	assert_nothing_written(f, o.id, &before);
	assert_int_equal(esc_fixture_get(f, o.id).state, ESC_ST_AWAITING_PAYMENT);
	assert_int_equal(buyer_balance(f, &f->buyer), TOTAL);
	esc_fixture_check(f);
}

static void test_spec_4_paying_from_empty_store_balance_refused_insufficient_balance(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = esc_fixture_order(f, &f->buyer, &f->seller, TOTAL);
	struct esc_result r;

	struct snapshot before = snap(f, o.id);
	assert_int_equal(pay(f, &o, TOTAL, ESC_METHOD_BALANCE, &r), ESC_EFUNDS);
	assert_nothing_written(f, o.id, &before);
	esc_fixture_check(f);
}

static void test_spec_4_paying_exactly_the_store_balance_accepted(void **state)
{
	struct esc_fixture *f = *state;
	fund_buyer_balance(f);
	struct esc_order o = esc_fixture_order(f, &f->buyer, &f->seller, TOTAL);
	struct esc_result r;

	assert_int_equal(pay(f, &o, TOTAL, ESC_METHOD_BALANCE, &r), 0);
	assert_int_equal(buyer_balance(f, &f->buyer), 0);
	assert_int_equal(esc_fixture_escrow_balance(f, o.id), TOTAL);
	esc_fixture_check(f);
}

static void test_spec_4_another_buyers_store_balance_does_not_pay(void **state)
{
	struct esc_fixture *f = *state;
	fund_buyer_balance(f); /* buyer, not buyer2 */
	struct esc_order o = esc_fixture_order(f, &f->buyer2, &f->seller, TOTAL);
	struct esc_result r;

	assert_int_equal(pay(f, &o, TOTAL, ESC_METHOD_BALANCE, &r), ESC_EFUNDS);
	assert_int_equal(buyer_balance(f, &f->buyer), TOTAL);
	esc_fixture_check(f);
}

/* --- refusals ------------------------------------------------------------ */

static void test_spec_4_settling_twice_refused_invalid_state(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = cancelled_card(f);
	struct esc_refund rf = the_refund(f, o.id);
	struct esc_result r;

	assert_int_equal(report(f, ESC_EV_REFUND_SETTLED, o.id, rf.id, &r), 0);
	struct snapshot before = snap(f, o.id);
	assert_int_equal(report(f, ESC_EV_REFUND_SETTLED, o.id, rf.id, &r), ESC_ESTATE);
	assert_nothing_written(f, o.id, &before);
	assert_int_equal(esc_fixture_balance(f, ESC_ACCOUNT_EXTERNAL), 0);
	esc_fixture_check(f);
}

static void test_spec_4_failing_a_settled_refund_refused_invalid_state(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = cancelled_card(f);
	struct esc_refund rf = the_refund(f, o.id);
	struct esc_result r;

	assert_int_equal(report(f, ESC_EV_REFUND_SETTLED, o.id, rf.id, &r), 0);
	struct snapshot before = snap(f, o.id);
	assert_int_equal(report(f, ESC_EV_REFUND_FAILED, o.id, rf.id, &r), ESC_ESTATE);
	assert_nothing_written(f, o.id, &before);
	assert_int_equal(refund_get(f, rf.id).status, ESC_REFUND_SETTLED);
	esc_fixture_check(f);
}

static void test_spec_4_settling_a_balance_refund_refused_invalid_state(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = cancelled(f, TOTAL, ESC_METHOD_CARD, ESC_REFUND_TO_BALANCE);
	struct esc_refund rf = the_refund(f, o.id);
	struct esc_result r;

	struct snapshot before = snap(f, o.id);
	assert_int_equal(report(f, ESC_EV_REFUND_SETTLED, o.id, rf.id, &r), ESC_ESTATE);
	assert_nothing_written(f, o.id, &before);
	esc_fixture_check(f);
}

static void test_spec_4_settling_unknown_refund_refused_not_found(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = cancelled_card(f);
	struct esc_result r;

	struct snapshot before = snap(f, o.id);
	assert_int_equal(report(f, ESC_EV_REFUND_SETTLED, o.id, "ref_NOSUCHREFUND", &r),
			 ESC_ENOTFOUND);
	assert_nothing_written(f, o.id, &before);
	assert_int_equal(report(f, ESC_EV_REFUND_FAILED, o.id, "ref_NOSUCHREFUND", &r),
			 ESC_ENOTFOUND);
	assert_nothing_written(f, o.id, &before);
	assert_int_equal(report(f, ESC_EV_REFUND_SETTLED, o.id, NULL, &r), ESC_ENOTFOUND);
	assert_nothing_written(f, o.id, &before);
	esc_fixture_check(f);
}

static void test_spec_4_settling_refund_of_another_order_refused_not_found(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order a = cancelled_card(f);
	struct esc_order b = cancelled_card(f);
	struct esc_refund ra = the_refund(f, a.id);
	struct esc_result r;

	struct snapshot before = snap(f, b.id);
	assert_int_equal(report(f, ESC_EV_REFUND_SETTLED, b.id, ra.id, &r), ESC_ENOTFOUND);
	assert_nothing_written(f, b.id, &before);
	assert_int_equal(refund_get(f, ra.id).status, ESC_REFUND_PENDING);
	esc_fixture_check(f);
}

static void test_spec_1_buyer_settling_a_refund_refused_forbidden(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = cancelled_card(f);
	struct esc_refund rf = the_refund(f, o.id);
	struct esc_command c;
	struct esc_result r;

	struct snapshot before = snap(f, o.id);
	esc_command_init(&c, ESC_EV_REFUND_SETTLED, ESC_ACTOR_BUYER, f->buyer.id, o.id);
	c.args.refund_id = rf.id;
	assert_int_equal(run(f, &c, &r), ESC_EFORBIDDEN);
	assert_nothing_written(f, o.id, &before);
	esc_fixture_check(f);
}

/* --- the 10-day alert ---------------------------------------------------- */

static void test_spec_4_refund_alert_not_raised_before_10_days(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = cancelled_card(f);
	int64_t outbox = esc_fixture_outbox_count(f);

	assert_int_equal(esc_engine_advance(f->e, 10 * DAY - 1), 0);
	assert_int_equal(esc_fixture_fire(f), 0);
	assert_int_equal(esc_fixture_outbox_count(f), outbox);
	assert_int_equal(history_typed(f, o.id, "refund.overdue"), 0);
	esc_fixture_check(f);
}

static void test_spec_4_refund_alert_raised_once_after_10_days(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = cancelled_card(f);
	struct esc_refund rf = the_refund(f, o.id);
	int64_t outbox = esc_fixture_outbox_count(f);

	assert_int_equal(esc_engine_advance(f->e, 10 * DAY), 0);
	assert_int_equal(esc_fixture_fire(f), 1);
	assert_int_equal(esc_fixture_outbox_count(f), outbox + 1);
	assert_int_equal(history_typed(f, o.id, "refund.overdue"), 1);
	assert_int_equal(alerts_of(f, rf.id, NULL), 0);

	assert_int_equal(esc_engine_advance(f->e, 30 * DAY), 0);
	assert_int_equal(esc_fixture_fire(f), 0);
	assert_int_equal(esc_fixture_outbox_count(f), outbox + 1);
	assert_int_equal(history_typed(f, o.id, "refund.overdue"), 1);
	esc_fixture_check(f);
}

static void test_spec_4_refund_alert_leaves_refund_pending_and_money_in_transit(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = cancelled_card(f);
	struct esc_refund rf = the_refund(f, o.id);

	assert_int_equal(esc_engine_advance(f->e, 11 * DAY), 0);
	assert_int_equal(esc_fixture_fire(f), 1);
	struct esc_refund got = refund_get(f, rf.id);
	assert_int_equal(got.status, ESC_REFUND_PENDING);
	assert_int_equal(esc_fixture_balance(f, ESC_ACCOUNT_IN_TRANSIT), TOTAL);
	assert_int_equal(esc_fixture_get(f, o.id).state, ESC_ST_CANCELLED);
	esc_fixture_check(f);
}

static void test_spec_4_refund_settled_after_its_alert(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = cancelled_card(f);
	struct esc_refund rf = the_refund(f, o.id);
	struct esc_result r;

	assert_int_equal(esc_engine_advance(f->e, 11 * DAY), 0);
	assert_int_equal(esc_fixture_fire(f), 1);
	assert_int_equal(report(f, ESC_EV_REFUND_SETTLED, o.id, rf.id, &r), 0);
	assert_int_equal(refund_get(f, rf.id).status, ESC_REFUND_SETTLED);
	assert_int_equal(esc_fixture_balance(f, ESC_ACCOUNT_IN_TRANSIT), 0);
	esc_fixture_check(f);
}

static void test_spec_4_settled_refund_raises_no_alert(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = cancelled_card(f);
	struct esc_refund rf = the_refund(f, o.id);
	struct esc_result r;

	assert_int_equal(esc_engine_advance(f->e, 5 * DAY), 0);
	assert_int_equal(report(f, ESC_EV_REFUND_SETTLED, o.id, rf.id, &r), 0);
	assert_int_equal(alerts_of(f, rf.id, NULL), 0);
	int64_t outbox = esc_fixture_outbox_count(f);
	assert_int_equal(esc_engine_advance(f->e, 30 * DAY), 0);
	assert_int_equal(esc_fixture_fire(f), 0);
	assert_int_equal(esc_fixture_outbox_count(f), outbox);
	assert_int_equal(history_typed(f, o.id, "refund.overdue"), 0);
	esc_fixture_check(f);
}

static void test_spec_4_failed_refund_raises_no_alert(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = cancelled_card(f);
	struct esc_refund rf = the_refund(f, o.id);
	struct esc_result r;

	assert_int_equal(report(f, ESC_EV_REFUND_FAILED, o.id, rf.id, &r), 0);
	int64_t outbox = esc_fixture_outbox_count(f);
	assert_int_equal(esc_engine_advance(f->e, 30 * DAY), 0);
	assert_int_equal(esc_fixture_fire(f), 0);
	assert_int_equal(esc_fixture_outbox_count(f), outbox);
	assert_int_equal(history_typed(f, o.id, "refund.overdue"), 0);
	esc_fixture_check(f);
}

static void test_spec_8_refund_alert_due_while_down_fires_once_after_restart(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = cancelled_card(f);

	assert_int_equal(esc_engine_advance(f->e, 12 * DAY), 0);
	esc_fixture_restart(f);
	assert_int_equal(esc_fixture_fire(f), 1);
	esc_fixture_restart(f);
	assert_int_equal(esc_fixture_fire(f), 0);
	assert_int_equal(history_typed(f, o.id, "refund.overdue"), 1);
	esc_fixture_check(f);
}

/* --- refunds made by deadlines, and never more than was paid ------------- */

static void test_spec_4_auto_approved_cancellation_refunds_as_requested(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = esc_fixture_order(f, &f->buyer, &f->seller, TOTAL);
	o = esc_fixture_pay(f, &o, ESC_METHOD_CARD);
	o = esc_fixture_request(f, &o, "no_longer_needed", ESC_REFUND_TO_BALANCE);

	assert_int_equal(esc_engine_advance(f->e, 72 * HOUR), 0);
	assert_int_equal(esc_fixture_fire(f), 1);
	assert_int_equal(esc_fixture_get(f, o.id).state, ESC_ST_CANCELLED);
	struct esc_refund rf = the_refund(f, o.id);
	assert_int_equal(rf.method, ESC_METHOD_BALANCE);
	assert_int_equal(rf.status, ESC_REFUND_SETTLED);
	assert_int_equal(buyer_balance(f, &f->buyer), TOTAL);
	esc_fixture_check(f);
}

static void test_spec_4_missed_ship_deadline_refunds_to_card_pending(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = esc_fixture_order(f, &f->buyer, &f->seller, TOTAL);
	o = esc_fixture_pay(f, &o, ESC_METHOD_CARD);

	assert_int_equal(esc_engine_advance(f->e, 7 * DAY), 0);
	assert_int_equal(esc_fixture_fire(f), 1);
	assert_int_equal(esc_fixture_get(f, o.id).state, ESC_ST_CANCELLED);
	struct esc_refund rf = the_refund(f, o.id);
	assert_int_equal(rf.method, ESC_METHOD_CARD);
	assert_int_equal(rf.status, ESC_REFUND_PENDING);
	assert_int_equal(rf.amount_minor, TOTAL);
	assert_int_equal(esc_fixture_balance(f, ESC_ACCOUNT_IN_TRANSIT), TOTAL);
	esc_fixture_check(f);
}

static void test_spec_4_refund_never_exceeds_what_was_paid(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_order o = esc_fixture_order(f, &f->buyer, &f->seller, TOTAL);
	struct esc_result r;
	struct esc_command c;

	o = esc_fixture_pay(f, &o, ESC_METHOD_CARD);
	/* Asked on the ship deadline's last day: the response deadline comes
	 * after it, so both are due in the same batch below; only the first
	 * may refund. */
	assert_int_equal(esc_engine_advance(f->e, 7 * DAY - HOUR), 0);
	o = esc_fixture_request(f, &o, "out_of_stock", ESC_REFUND_TO_ORIGINAL);
	assert_int_equal(esc_engine_advance(f->e, 20 * DAY), 0);
	assert_int_equal(esc_fixture_fire(f), 1);

	/* The seller's late accept finds nothing to refund. */
	esc_command_init(&c, ESC_EV_ACCEPT_CANCELLATION, ESC_ACTOR_SELLER, f->seller.id, o.id);
	assert_int_equal(run(f, &c, &r), ESC_ESTATE);

	struct esc_refund rf[4];
	size_t n = refunds_of(f, o.id, rf, 4);
	int64_t refunded = 0;
	for (size_t i = 0; i < n; i++)
		refunded += rf[i].amount_minor;
	struct esc_order got = esc_fixture_get(f, o.id);
	assert_int_equal(n, 1);
	assert_int_equal(refunded, TOTAL);
	assert_int_equal(got.refunded_minor, got.paid_minor);
	assert_int_equal(esc_fixture_escrow_balance(f, o.id), 0);
	struct esc_ledger_report rep;
	assert_int_equal(esc_engine_check(f->e, &rep), 0);
	assert_int_equal(rep.problems_count, 0);
	esc_fixture_check(f);
}

int main(void)
{
	esc_test_store_or_skip("refunds");
#define T(name) cmocka_unit_test_setup_teardown(name, esc_fixture_setup, esc_fixture_teardown)
	const struct CMUnitTest tests[] = {
		T(test_spec_4_card_refund_pending_in_refunds_in_transit),
		T(test_spec_4_card_refund_shows_settle_days_3_to_7),
		T(test_spec_4_wallet_refund_shows_settle_days_1_to_1),
		T(test_spec_4_pending_refund_sets_alert_10_days_out),
		T(test_spec_4_operator_settles_card_refund_money_to_external),
		T(test_spec_7_refund_settled_appends_one_history_and_outbox_row),
		T(test_spec_4_failed_card_refund_goes_to_buyer_store_balance),
		T(test_spec_4_refund_to_balance_settled_at_once_buyer_credited),
		T(test_spec_4_order_paid_from_balance_refunded_to_balance_at_once),
		T(test_spec_4_paying_more_than_store_balance_refused_insufficient_balance),
		T(test_spec_4_paying_from_empty_store_balance_refused_insufficient_balance),
		T(test_spec_4_paying_exactly_the_store_balance_accepted),
		T(test_spec_4_another_buyers_store_balance_does_not_pay),
		T(test_spec_4_settling_twice_refused_invalid_state),
		T(test_spec_4_failing_a_settled_refund_refused_invalid_state),
		T(test_spec_4_settling_a_balance_refund_refused_invalid_state),
		T(test_spec_4_settling_unknown_refund_refused_not_found),
		T(test_spec_4_settling_refund_of_another_order_refused_not_found),
		T(test_spec_1_buyer_settling_a_refund_refused_forbidden),
		T(test_spec_4_refund_alert_not_raised_before_10_days),
		T(test_spec_4_refund_alert_raised_once_after_10_days),
		T(test_spec_4_refund_alert_leaves_refund_pending_and_money_in_transit),
		T(test_spec_4_refund_settled_after_its_alert),
		T(test_spec_4_settled_refund_raises_no_alert),
		T(test_spec_4_failed_refund_raises_no_alert),
		T(test_spec_8_refund_alert_due_while_down_fires_once_after_restart),
		T(test_spec_4_auto_approved_cancellation_refunds_as_requested),
		T(test_spec_4_missed_ship_deadline_refunds_to_card_pending),
		T(test_spec_4_refund_never_exceeds_what_was_paid),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
