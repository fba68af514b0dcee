/* test_faults.c - fault injection (curl's torture mode, SQLite's I/O-error
 * loops): every store call a command makes is failed in turn, on a fresh
 * copy of the same starting state, and afterwards nothing may be half-done
 * and a retry must succeed. Then the same for the calls of one command in
 * the middle of a batch, and for a failing commit.
 *
 * A starting state is set up once per test and copied for each run: the
 * SQLite file, or on PostgreSQL (faults-pg) a CREATE DATABASE with it as
 * the template, made while the run before goes on: some 400 runs, each
 * on a new database, in about a minute. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fcntl.h>
#include <unistd.h>

#include "engine/engine.h"
#include "store/store.h"
#include "pgtest.h"
#include "support.h"
#include "util/error.h"

#define HOUR ESC_MS_PER_HOUR
#define DAY  ESC_MS_PER_DAY

/* ---- the fault hook ---- */

#define VERBS_MAX 128

struct hook {
	int calls;             /* calls seen, the recovery verbs not counted */
	int fail_at;           /* fail this call (1-based); 0 = none */
	const char *fail_verb; /* or: fail every call of this verb ... */
	int fail_verb_nth;     /* ... only its nth (1-based), 0 = every one */
	int verb_seen;         /* calls of fail_verb so far */
	int failed;            /* faults injected */
	int code;              /* the fault: ESC_EIO unless set */
	char failed_verb[32];  /* the verb of the first injected fault */
	/* Break a loop: fail deadlines_claim from this call of it on (0 = never). */
	int due_calls, due_fail_from;
	char verbs[VERBS_MAX][32]; /* the verbs called, in order */
};

static bool recovery_verb(const char *verb)
{
	/* The way back from a failure: failing it would test nothing the
	 * engine can do anything about. */
	return !strcmp(verb, "rollback") || !strcmp(verb, "savepoint_rollback");
}

static int hook_fn(void *arg, const char *verb)
{
	struct hook *h = arg;
	bool fail = false;

	if (recovery_verb(verb))
		return 0;
	h->calls++;
	if (h->calls <= VERBS_MAX)
		snprintf(h->verbs[h->calls - 1], sizeof h->verbs[0], "%s", verb);
	if (!strcmp(verb, "deadlines_claim")) {
		h->due_calls++;
		if (h->due_fail_from && h->due_calls >= h->due_fail_from)
			fail = true;
	}
	if (h->fail_at && h->calls == h->fail_at)
		fail = true;
	if (h->fail_verb && !strcmp(verb, h->fail_verb)) {
		h->verb_seen++;
		if (!h->fail_verb_nth || h->verb_seen == h->fail_verb_nth)
			fail = true;
	}
	if (!fail)
		return 0;
	if (!h->failed++)
		snprintf(h->failed_verb, sizeof h->failed_verb, "%s", verb);
	return h->code ? h->code : ESC_EIO;
}

static void hook_install(struct esc_fixture *f, struct hook *h)
{
	esc_engine_writer(f->e)->fault = hook_fn;
	esc_engine_writer(f->e)->fault_arg = h;
}

static void hook_remove(struct esc_fixture *f)
{
	esc_engine_writer(f->e)->fault = NULL;
	esc_engine_writer(f->e)->fault_arg = NULL;
}

/* ---- the starting states and the commands ---- */

#define ORDERS_MAX 3

/* A fresh fixture and the orders a command acts on. */
struct state {
	struct esc_fixture f;
	struct esc_order o[ORDERS_MAX];
	size_t orders;
};

static void begin_state(struct state *st)
{
	memset(st, 0, sizeof *st);
	esc_fixture_init(&st->f);
}

static void add_order(struct state *st, struct esc_order o)
{
	assert_true(st->orders < ORDERS_MAX);
	st->o[st->orders++] = o;
}

static struct esc_order new_order(struct state *st, int64_t total)
{
	return esc_fixture_order(&st->f, &st->f.buyer, &st->f.seller, total);
}

static struct esc_order paid(struct state *st, int64_t total)
{
	struct esc_order o = new_order(st, total);
	return esc_fixture_pay(&st->f, &o, ESC_METHOD_CARD);
}

static struct esc_order requested(struct state *st, int64_t total)
{
	struct esc_order o = paid(st, total);
	return esc_fixture_request(&st->f, &o, "no_longer_needed", ESC_REFUND_TO_ORIGINAL);
}

static struct esc_order shipped(struct state *st, int64_t total)
{
	struct esc_order o = paid(st, total);
	return esc_fixture_as(&st->f, &o, ESC_EV_SHIP, ESC_ACTOR_SELLER);
}

static struct esc_order accepted(struct state *st, int64_t total)
{
	struct esc_order o = requested(st, total);
	return esc_fixture_as(&st->f, &o, ESC_EV_ACCEPT_CANCELLATION, ESC_ACTOR_SELLER);
}

static void advance(struct state *st, int64_t ms)
{
	assert_int_equal(esc_engine_advance(st->f.e, ms), 0);
}

static void setup_users(struct state *st)
{
	begin_state(st);
}

static void setup_created(struct state *st)
{
	begin_state(st);
	add_order(st, new_order(st, 12345));
}

/* The buyer has 5000 on the store balance (a cancelled order refunded to
 * it) and an unpaid order of 3000. */
static void setup_created_with_balance(struct state *st)
{
	begin_state(st);
	struct esc_order a = paid(st, 5000);
	a = esc_fixture_request(&st->f, &a, "no_longer_needed", ESC_REFUND_TO_BALANCE);
	esc_fixture_as(&st->f, &a, ESC_EV_ACCEPT_CANCELLATION, ESC_ACTOR_SELLER);
	add_order(st, new_order(st, 3000));
}

static void setup_paid(struct state *st)
{
	begin_state(st);
	add_order(st, paid(st, 12345));
}

static void setup_requested(struct state *st)
{
	begin_state(st);
	add_order(st, requested(st, 12345));
}

static void setup_shipped(struct state *st)
{
	begin_state(st);
	add_order(st, shipped(st, 12345));
}

static void setup_delivered(struct state *st)
{
	begin_state(st);
	struct esc_order o = shipped(st, 12345);
	add_order(st, esc_fixture_as(&st->f, &o, ESC_EV_DELIVER, ESC_ACTOR_OPERATOR));
}

static int cmd_open_dispute(struct state *st);

/* A completed order: a dispute on it claws the release back. */
static void setup_completed(struct state *st)
{
	begin_state(st);
	struct esc_order o = shipped(st, 12345);
	add_order(st, esc_fixture_as(&st->f, &o, ESC_EV_CONFIRM_RECEIPT, ESC_ACTOR_BUYER));
}

static void setup_in_dispute(struct state *st)
{
	setup_shipped(st);
	assert_int_equal(cmd_open_dispute(st), 0);
}

static int dispute_answer(struct state *st, enum esc_event ev, enum esc_actor who, int64_t amount,
			  const char *message);
static int exec(struct state *st, struct esc_command *c);

/* The seller rejected the dispute and the buyer escalated it. */
static void setup_escalated(struct state *st)
{
	setup_in_dispute(st);
	assert_int_equal(dispute_answer(st, ESC_EV_REJECT_DISPUTE, ESC_ACTOR_SELLER, 0, "No."), 0);
	assert_int_equal(dispute_answer(st, ESC_EV_ESCALATE, ESC_ACTOR_BUYER, 0, NULL), 0);
}

/* A return_and_refund the seller accepted: the goods are to come back. */
static void setup_awaiting_return(struct state *st)
{
	setup_shipped(st);
	struct esc_command c;
	esc_command_init(&c, ESC_EV_OPEN_DISPUTE, ESC_ACTOR_BUYER, st->o[0].buyer_id, st->o[0].id);
	c.args.ground = "not_as_described";
	c.args.outcome = "return_and_refund";
	c.args.amount_minor = 2000;
	c.args.description = "It arrived broken.";
	assert_int_equal(exec(st, &c), 0);
	assert_int_equal(dispute_answer(st, ESC_EV_ACCEPT_DISPUTE, ESC_ACTOR_SELLER, 0, NULL), 0);
}

static void setup_returned(struct state *st)
{
	setup_awaiting_return(st);
	assert_int_equal(dispute_answer(st, ESC_EV_RETURN_SHIPMENT, ESC_ACTOR_BUYER, 0, NULL), 0);
}

static void setup_seller_silent(struct state *st)
{
	setup_in_dispute(st);
	advance(st, 5 * 24 * HOUR);
}

static void setup_accepted(struct state *st)
{
	begin_state(st);
	add_order(st, accepted(st, 12345));
}

static void setup_payment_due(struct state *st)
{
	setup_created(st);
	advance(st, 24 * HOUR + 1);
}

static void setup_ship_due(struct state *st)
{
	setup_paid(st);
	advance(st, 7 * DAY + 1);
}

static void setup_response_due(struct state *st)
{
	setup_requested(st);
	advance(st, 72 * HOUR + 1);
}

static void setup_protection_due(struct state *st)
{
	setup_shipped(st);
	advance(st, 75 * DAY + 1);
}

static void setup_confirm_due(struct state *st)
{
	setup_delivered(st);
	advance(st, 15 * DAY + 1);
}

static void setup_refund_alert_due(struct state *st)
{
	setup_accepted(st);
	advance(st, 10 * DAY + 1);
}

static int exec(struct state *st, struct esc_command *c)
{
	struct esc_result r;
	return esc_engine_exec(st->f.e, c, &r);
}

static int cmd_create(struct state *st)
{
	struct esc_command c;
	struct esc_item item = {.quantity = 2, .unit_price_minor = 2500};
	snprintf(item.title, sizeof item.title, "Wool socks");
	esc_command_init(&c, ESC_EV_CREATE, ESC_ACTOR_OPERATOR, NULL, NULL);
	c.args.buyer_id = st->f.buyer.id;
	c.args.seller_id = st->f.seller.id;
	c.args.currency = "EUR";
	c.args.items = &item;
	c.args.items_count = 1;
	return exec(st, &c);
}

static int pay(struct state *st, enum esc_method m)
{
	struct esc_command c;
	esc_command_init(&c, ESC_EV_PAY, ESC_ACTOR_OPERATOR, NULL, st->o[0].id);
	c.args.amount_minor = st->o[0].total_minor;
	c.args.method = (int)m;
	return exec(st, &c);
}

static int cmd_pay_card(struct state *st)
{
	return pay(st, ESC_METHOD_CARD);
}

static int cmd_pay_balance(struct state *st)
{
	return pay(st, ESC_METHOD_BALANCE);
}

/* The event by the party it belongs to, on order i. */
static void command_on(struct esc_command *c, const struct esc_order *o, enum esc_event ev,
		       enum esc_actor who)
{
	const char *id = who == ESC_ACTOR_BUYER    ? o->buyer_id
			 : who == ESC_ACTOR_SELLER ? o->seller_id
						   : NULL;
	esc_command_init(c, ev, who, id, o->id);
	if (ev == ESC_EV_CANCEL) {
		c->args.reason = "out_of_stock";
		c->args.comment = "The seller wrote that it is sold out.";
		c->args.refund_to = ESC_REFUND_TO_ORIGINAL;
	}
	if (ev == ESC_EV_REJECT_CANCELLATION)
		c->args.message = "It ships today.";
	if (ev == ESC_EV_SHIP) {
		c->args.carrier = "Posturinn";
		c->args.tracking = "RR123456789IS";
	}
}

static int as(struct state *st, enum esc_event ev, enum esc_actor who)
{
	struct esc_command c;
	command_on(&c, &st->o[0], ev, who);
	return exec(st, &c);
}

static int cmd_request(struct state *st)
{
	return as(st, ESC_EV_CANCEL, ESC_ACTOR_BUYER);
}

static int cmd_accept(struct state *st)
{
	return as(st, ESC_EV_ACCEPT_CANCELLATION, ESC_ACTOR_SELLER);
}

/* The answer an API request keeps with its command (Idempotency-Key):
 * the new status and version, as text. */
static int kept_build(void *arg, struct esc_engine *e, struct esc_store *s,
		      const struct esc_result *res)
{
	struct esc_idempotency *rec = arg;
	char text[64];
	(void)e;
	(void)s;
	snprintf(text, sizeof text, "{\"status\":\"%s\",\"version\":%lld}",
		 esc_state_name(res->order.state), (long long)res->order.version);
	free(rec->response);
	rec->response = strdup(text);
	rec->status = 200;
	return rec->response ? 0 : ESC_ENOMEM;
}

static void kept_record(struct esc_idempotency *rec, const char *key)
{
	memset(rec, 0, sizeof *rec);
	snprintf(rec->scope, sizeof rec->scope, "user:test");
	snprintf(rec->key, sizeof rec->key, "%s", key);
	memset(rec->request_hash, 'a', ESC_HASH_HEX_SIZE - 1);
	rec->created_at_ms = 1;
}

/* Accept with an Idempotency-Key: a failed call must leave no record
 * either, or the retry (same key) would be refused as answered. */
static int cmd_accept_kept(struct state *st)
{
	struct esc_idempotency rec;
	kept_record(&rec, "accept-1");
	struct esc_reply reply = {.build = kept_build, .arg = &rec, .record = &rec};
	struct esc_command c;
	command_on(&c, &st->o[0], ESC_EV_ACCEPT_CANCELLATION, ESC_ACTOR_SELLER);
	c.reply = &reply;
	int rc = exec(st, &c);
	free(rec.response);
	return rc;
}

static int cmd_reject(struct state *st)
{
	return as(st, ESC_EV_REJECT_CANCELLATION, ESC_ACTOR_SELLER);
}

static int cmd_withdraw(struct state *st)
{
	return as(st, ESC_EV_WITHDRAW_CANCELLATION, ESC_ACTOR_BUYER);
}

static int cmd_ship(struct state *st)
{
	return as(st, ESC_EV_SHIP, ESC_ACTOR_SELLER);
}

static int cmd_deliver(struct state *st)
{
	return as(st, ESC_EV_DELIVER, ESC_ACTOR_OPERATOR);
}

static int cmd_confirm(struct state *st)
{
	return as(st, ESC_EV_CONFIRM_RECEIPT, ESC_ACTOR_BUYER);
}

static int cmd_open_dispute(struct state *st)
{
	struct esc_command c;
	esc_command_init(&c, ESC_EV_OPEN_DISPUTE, ESC_ACTOR_BUYER, st->o[0].buyer_id, st->o[0].id);
	c.args.ground = "not_as_described";
	c.args.outcome = "refund_only";
	c.args.amount_minor = 2000;
	c.args.description = "It arrived broken.";
	return exec(st, &c);
}

static int dispute_answer(struct state *st, enum esc_event ev, enum esc_actor who, int64_t amount,
			  const char *message)
{
	struct esc_command c;
	esc_command_init(&c, ev, who,
			 who == ESC_ACTOR_BUYER ? st->o[0].buyer_id : st->o[0].seller_id,
			 st->o[0].id);
	c.args.amount_minor = amount;
	c.args.message = message;
	c.args.carrier = "Posturinn";
	c.args.tracking = "RR987654321IS";
	return exec(st, &c);
}

static int cmd_counter_offer(struct state *st)
{
	return dispute_answer(st, ESC_EV_COUNTER_OFFER, ESC_ACTOR_SELLER, 500, "Half, then.");
}

static int cmd_accept_dispute(struct state *st)
{
	return dispute_answer(st, ESC_EV_ACCEPT_DISPUTE, ESC_ACTOR_SELLER, 0, NULL);
}

static int cmd_return_shipment(struct state *st)
{
	return dispute_answer(st, ESC_EV_RETURN_SHIPMENT, ESC_ACTOR_BUYER, 0, NULL);
}

static int cmd_return_received(struct state *st)
{
	return dispute_answer(st, ESC_EV_RETURN_RECEIVED, ESC_ACTOR_SELLER, 0, NULL);
}

static int cmd_resolve_dispute(struct state *st)
{
	struct esc_command c;
	esc_command_init(&c, ESC_EV_RESOLVE_DISPUTE, ESC_ACTOR_ARBITER, "usr_arbiter", st->o[0].id);
	c.args.amount_minor = 1000;
	c.args.message = "Half of the asked amount is fair.";
	return exec(st, &c);
}

static int refund_event(struct state *st, enum esc_event ev)
{
	struct esc_command c;
	char refund_id[ESC_ID_SIZE];
	snprintf(refund_id, sizeof refund_id, "%.40s-r1", st->o[0].id);
	esc_command_init(&c, ev, ESC_ACTOR_OPERATOR, NULL, st->o[0].id);
	c.args.refund_id = refund_id;
	return exec(st, &c);
}

static int cmd_refund_settle(struct state *st)
{
	return refund_event(st, ESC_EV_REFUND_SETTLED);
}

static int cmd_refund_fail(struct state *st)
{
	return refund_event(st, ESC_EV_REFUND_FAILED);
}

/* Firing is a command too: it succeeded when the one due deadline fired.
 * (esc_engine_fire_due returns 0 when a deadline failed with a store error;
 * see fire_due_reports_a_failed_deadline below.) */
#define NOT_FIRED 1

static int cmd_fire(struct state *st)
{
	size_t fired = 0;
	int rc = esc_engine_fire_due(st->f.e, 0, &fired);
	if (rc)
		return rc;
	return fired == 1 ? 0 : NOT_FIRED;
}

struct fault_case {
	const char *name;
	void (*setup)(struct state *st);
	int (*command)(struct state *st);
};

static const struct fault_case cases[] = {
	{"create", setup_users, cmd_create},
	{"pay by card", setup_created, cmd_pay_card},
	{"pay from the store balance", setup_created_with_balance, cmd_pay_balance},
	{"request cancellation (a comment: a message)", setup_paid, cmd_request},
	{"accept cancellation (card refund)", setup_requested, cmd_accept},
	{"accept cancellation keeping the answer to its Idempotency-Key", setup_requested,
	 cmd_accept_kept},
	{"reject cancellation (a message)", setup_requested, cmd_reject},
	{"withdraw cancellation", setup_requested, cmd_withdraw},
	{"ship", setup_paid, cmd_ship},
	{"deliver", setup_shipped, cmd_deliver},
	{"confirm receipt (release with fee)", setup_delivered, cmd_confirm},
	{"refund settled", setup_accepted, cmd_refund_settle},
	{"refund failed (to the store balance)", setup_accepted, cmd_refund_fail},
	{"payment deadline fires", setup_payment_due, cmd_fire},
	{"ship deadline fires", setup_ship_due, cmd_fire},
	{"response deadline fires (72 h)", setup_response_due, cmd_fire},
	{"protection deadline fires", setup_protection_due, cmd_fire},
	{"confirm deadline fires", setup_confirm_due, cmd_fire},
	{"refund alert fires", setup_refund_alert_due, cmd_fire},
	{"open a dispute (pauses protection)", setup_shipped, cmd_open_dispute},
	{"open a dispute on a completed order (clawback)", setup_completed, cmd_open_dispute},
	{"counter-offer in a dispute", setup_in_dispute, cmd_counter_offer},
	{"accept a dispute (refund, release)", setup_in_dispute, cmd_accept_dispute},
	{"the seller's dispute window fires (refund as asked)", setup_seller_silent, cmd_fire},
	{"ship the goods back", setup_awaiting_return, cmd_return_shipment},
	{"returned goods received (refund, release)", setup_returned, cmd_return_received},
	{"resolve an escalated dispute (partial refund, release)", setup_escalated,
	 cmd_resolve_dispute},
};
#define CASES (sizeof cases / sizeof cases[0])

/* The messages a case's command adds to the conversation: the buyer's
 * comment and the seller's rejection (issue 11 item 1), kept with the
 * command or not at all. */
static size_t messages_added(const struct fault_case *c)
{
	return c->command == cmd_request || c->command == cmd_reject ? 1 : 0;
}

/* ---- snapshots: everything a command may touch ---- */

#define HISTORY_MAX   32
#define DEADLINES_MAX 64

static const char *const fixed_accounts[] = {ESC_ACCOUNT_EXTERNAL, ESC_ACCOUNT_FEES,
					     ESC_ACCOUNT_IN_TRANSIT};
#define FIXED_ACCOUNTS (sizeof fixed_accounts / sizeof fixed_accounts[0])
#define USERS          4

struct order_snapshot {
	bool exists;
	struct esc_order order;
	size_t history;
	size_t messages;
	size_t refunds_count;
	struct esc_refund refunds[ESC_REFUNDS_MAX];
	int64_t escrow_balance;
};

struct snapshot {
	int64_t counts[ESC_ST_COUNT];
	struct order_snapshot orders[ORDERS_MAX];
	int64_t outbox;
	size_t deadlines_count;
	struct esc_deadline deadlines[DEADLINES_MAX];
	struct esc_rep_counts marks[USERS];
	int64_t user_balances[USERS][2]; /* buyer:, seller: */
	int64_t fixed_balances[FIXED_ACCOUNTS];
	int64_t transfers;
};

static struct esc_history history_buf[HISTORY_MAX];
#define MESSAGES_MAX 8
static struct esc_message messages_buf[MESSAGES_MAX];

static void take_snapshot(struct state *st, struct snapshot *sn)
{
	struct esc_store *s = esc_engine_writer(st->f.e);
	const struct esc_user *users[USERS] = {&st->f.buyer, &st->f.buyer2, &st->f.seller,
					       &st->f.seller2};
	char account[ESC_ACCOUNT_SIZE];
	struct esc_ledger_report rep;
	int rc;

	assert_null(s->fault);
	memset(sn, 0, sizeof *sn);
	ESC_STORE(rc, s, orders_count, NULL, NULL, sn->counts);
	assert_int_equal(rc, 0);
	for (size_t i = 0; i < st->orders; i++) {
		struct order_snapshot *os = &sn->orders[i];
		ESC_STORE(rc, s, order_get, st->o[i].id, &os->order);
		assert_int_equal(rc, 0);
		os->exists = true;
		ESC_STORE(rc, s, history_list, st->o[i].id, 0, history_buf, HISTORY_MAX,
			  &os->history);
		assert_int_equal(rc, 0);
		ESC_STORE(rc, s, messages_list, st->o[i].id, 0, messages_buf, MESSAGES_MAX,
			  &os->messages);
		assert_int_equal(rc, 0);
		ESC_STORE(rc, s, refunds_list, st->o[i].id, -1, NULL, os->refunds, ESC_REFUNDS_MAX,
			  &os->refunds_count);
		assert_int_equal(rc, 0);
		esc_account_escrow(account, st->o[i].id);
		ESC_STORE(rc, s, balance_get, account, "EUR", &os->escrow_balance);
		assert_int_equal(rc, 0);
	}
	ESC_STORE(rc, s, outbox_count, &sn->outbox);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, s, deadlines_due, INT64_MAX, sn->deadlines, DEADLINES_MAX,
		  &sn->deadlines_count);
	assert_int_equal(rc, 0);
	assert_true(sn->deadlines_count < DEADLINES_MAX);
	for (size_t u = 0; u < USERS; u++) {
		ESC_STORE(rc, s, mark_counts, users[u]->id, 0, 0, &sn->marks[u]);
		assert_int_equal(rc, 0);
		esc_account_buyer(account, users[u]->id);
		ESC_STORE(rc, s, balance_get, account, "EUR", &sn->user_balances[u][0]);
		assert_int_equal(rc, 0);
		esc_account_seller(account, users[u]->id);
		ESC_STORE(rc, s, balance_get, account, "EUR", &sn->user_balances[u][1]);
		assert_int_equal(rc, 0);
	}
	for (size_t i = 0; i < FIXED_ACCOUNTS; i++) {
		ESC_STORE(rc, s, balance_get, fixed_accounts[i], "EUR", &sn->fixed_balances[i]);
		assert_int_equal(rc, 0);
	}
	assert_int_equal(esc_engine_check(st->f.e, &rep), 0);
	for (size_t i = 0; i < rep.problems_count && i < ESC_CHECK_PROBLEMS_MAX; i++)
		fprintf(stderr, "ledger: %s\n", rep.problems[i]);
	assert_int_equal(rep.problems_count, 0);
	sn->transfers = rep.transfers_count;
}

static void same_refund(const struct esc_refund *a, const struct esc_refund *b)
{
	assert_string_equal(a->id, b->id);
	assert_int_equal(a->amount_minor, b->amount_minor);
	assert_int_equal(a->method, b->method);
	assert_int_equal(a->status, b->status);
	assert_int_equal(a->resolved_at_ms, b->resolved_at_ms);
	assert_int_equal(a->alert_due_ms, b->alert_due_ms);
}

static void same_order_snapshot(const struct order_snapshot *a, const struct order_snapshot *b)
{
	assert_int_equal(a->exists, b->exists);
	if (!a->exists)
		return;
	esc_assert_orders_equal(&a->order, &b->order);
	assert_int_equal(a->history, b->history);
	assert_int_equal(a->messages, b->messages);
	assert_int_equal(a->refunds_count, b->refunds_count);
	for (size_t i = 0; i < a->refunds_count; i++)
		same_refund(&a->refunds[i], &b->refunds[i]);
	assert_int_equal(a->escrow_balance, b->escrow_balance);
}

static void same_deadlines(const struct snapshot *a, const struct snapshot *b)
{
	assert_int_equal(a->deadlines_count, b->deadlines_count);
	for (size_t i = 0; i < a->deadlines_count; i++) {
		assert_int_equal(a->deadlines[i].due_ms, b->deadlines[i].due_ms);
		assert_string_equal(a->deadlines[i].order_id, b->deadlines[i].order_id);
		assert_int_equal(a->deadlines[i].kind, b->deadlines[i].kind);
		assert_string_equal(a->deadlines[i].ref, b->deadlines[i].ref);
	}
}

/* The deadline rows of one order are the same in a and b. */
static void same_deadlines_of(const struct snapshot *a, const struct snapshot *b,
			      const char *order_id)
{
	size_t i = 0, j = 0;
	for (;;) {
		while (i < a->deadlines_count && strcmp(a->deadlines[i].order_id, order_id))
			i++;
		while (j < b->deadlines_count && strcmp(b->deadlines[j].order_id, order_id))
			j++;
		if (i == a->deadlines_count || j == b->deadlines_count)
			break;
		assert_int_equal(a->deadlines[i].due_ms, b->deadlines[j].due_ms);
		assert_int_equal(a->deadlines[i].kind, b->deadlines[j].kind);
		assert_string_equal(a->deadlines[i].ref, b->deadlines[j].ref);
		i++;
		j++;
	}
	assert_int_equal(i == a->deadlines_count, j == b->deadlines_count);
}

/* Nothing at all changed between a and b. */
static void same_snapshot(const struct snapshot *a, const struct snapshot *b)
{
	for (int k = 0; k < ESC_ST_COUNT; k++)
		assert_int_equal(a->counts[k], b->counts[k]);
	for (size_t i = 0; i < ORDERS_MAX; i++)
		same_order_snapshot(&a->orders[i], &b->orders[i]);
	assert_int_equal(a->outbox, b->outbox);
	same_deadlines(a, b);
	assert_memory_equal(a->marks, b->marks, sizeof a->marks);
	assert_memory_equal(a->user_balances, b->user_balances, sizeof a->user_balances);
	assert_memory_equal(a->fixed_balances, b->fixed_balances, sizeof a->fixed_balances);
	assert_int_equal(a->transfers, b->transfers);
}

/* ---- the torture loop ---- */

static void release_state(struct state *st)
{
	hook_remove(&st->f);
	esc_fixture_release(&st->f);
}

/* A starting state, set up once: its store, with no engine open on it
 * (a template database takes no connections), and the users and orders
 * the commands act on. */
struct start {
	struct state st;
	struct esc_test_pg_copier *copier; /* on PostgreSQL */
};

static void start_make(struct start *sp, void (*setup)(struct state *st))
{
	setup(&sp->st);
	/* Closing checkpoints the SQLite WAL into the file. */
	esc_engine_free(sp->st.f.e);
	sp->st.f.e = NULL;
	sp->copier = strncmp(sp->st.f.db, "postgresql://", 13)
			     ? NULL
			     : esc_test_pg_copier_new(sp->st.f.db);
}

/* Copy one file of a SQLite store, when it exists. */
static void copy_file(const char *from_dir, const char *to_dir, const char *name)
{
	char from[300], to[300], buf[65536];
	ssize_t n;
	esc_test_path(from, sizeof from, from_dir, name);
	esc_test_path(to, sizeof to, to_dir, name);
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return;
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(out >= 0);
	while ((n = read(in, buf, sizeof buf)) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	assert_int_equal(n, 0);
	close(in);
	close(out);
}

/* A fresh copy of the starting state in *st, its engine open. */
static void start_copy(const struct start *sp, struct state *st)
{
	*st = sp->st;
	esc_test_tmpdir(st->f.dir, sizeof st->f.dir);
	if (sp->copier) {
		esc_test_pg_copy(sp->copier, st->f.db, sizeof st->f.db);
	} else {
		esc_test_path(st->f.db, sizeof st->f.db, st->f.dir, "escrowd.db");
		copy_file(sp->st.f.dir, st->f.dir, "escrowd.db");
		copy_file(sp->st.f.dir, st->f.dir, "escrowd.db-wal");
	}
	esc_fixture_restart(&st->f); /* opens the engine on the copy */
}

static void start_release(struct start *sp)
{
	esc_test_pg_copier_free(sp->copier);
	sp->copier = NULL;
	esc_fixture_release(&sp->st.f);
}

/* Run the case's command once with a hook that fails nothing; returns the
 * number of store calls it made (verbs listed in *h). */
static int count_calls(const struct start *sp, const struct fault_case *c, struct hook *h)
{
	struct state st;
	start_copy(sp, &st);
	memset(h, 0, sizeof *h);
	hook_install(&st.f, h);
	int rc = c->command(&st);
	hook_remove(&st.f);
	if (rc)
		fprintf(stderr, "%s: fails without a fault: %s\n", c->name, esc_error_name(rc));
	assert_int_equal(rc, 0);
	esc_fixture_check(&st.f);
	release_state(&st);
	assert_true(h->calls > 0 && h->calls <= VERBS_MAX);
	return h->calls;
}

/* Failing any one store call of the command fails it, leaves the store as
 * it was, and a retry without the fault succeeds. */
static void every_failed_call_leaves_nothing_behind(void **cmstate)
{
	const struct fault_case *c = *cmstate;
	static struct hook counted, h;
	static struct snapshot before, after;
	static struct start start;
	start_make(&start, c->setup);
	int count = count_calls(&start, c, &counted);
	print_message("%s: %d store calls, each failed in turn\n", c->name, count);

	for (int k = 1; k <= count; k++) {
		struct state st;
		start_copy(&start, &st);
		take_snapshot(&st, &before);

		memset(&h, 0, sizeof h);
		h.fail_at = k;
		hook_install(&st.f, &h);
		int rc = c->command(&st);
		hook_remove(&st.f);
		if (h.failed != 1 || rc == 0)
			fail_msg("%s: failing call %d of %d (%s) %s", c->name, k, count,
				 counted.verbs[k - 1],
				 h.failed != 1 ? "was never made" : "still reported success");

		take_snapshot(&st, &after);
		same_snapshot(&before, &after);

		rc = c->command(&st);
		if (rc)
			fail_msg("%s: after failing call %d (%s), the retry fails: %d", c->name, k,
				 counted.verbs[k - 1], rc);
		/* The retry's messages once: the failed call left none. */
		take_snapshot(&st, &after);
		for (size_t i = 0; i < st.orders; i++)
			assert_int_equal(after.orders[i].messages,
					 before.orders[i].messages +
						 (i == 0 ? messages_added(c) : 0));
		esc_fixture_check(&st.f);
		release_state(&st);
	}
	start_release(&start);
}

/* ---- batches ---- */

/* Three paid orders: ship the 1st, accept the cancellation of the 2nd,
 * request cancellation of the 3rd. */
static void setup_batch(struct state *st)
{
	begin_state(st);
	add_order(st, paid(st, 1000));
	add_order(st, requested(st, 2000));
	add_order(st, paid(st, 3000));
}

static void batch_commands(struct state *st, struct esc_command cmds[3])
{
	command_on(&cmds[0], &st->o[0], ESC_EV_SHIP, ESC_ACTOR_SELLER);
	command_on(&cmds[1], &st->o[1], ESC_EV_ACCEPT_CANCELLATION, ESC_ACTOR_SELLER);
	command_on(&cmds[2], &st->o[2], ESC_EV_CANCEL, ESC_ACTOR_BUYER);
}

static const enum esc_state batch_after[3] = {ESC_ST_SHIPPED, ESC_ST_CANCELLED,
					      ESC_ST_CANCELLATION_REQUESTED};

static int run_batch(struct state *st, struct esc_result res[3])
{
	struct esc_command cmds[3];
	batch_commands(st, cmds);
	return esc_engine_exec_batch(st->f.e, cmds, 3, res);
}

static int find_verb(const struct hook *h, const char *verb, int nth)
{
	for (int i = 0; i < h->calls && i < VERBS_MAX; i++)
		if (!strcmp(h->verbs[i], verb) && --nth == 0)
			return i + 1;
	return 0;
}

static void order_now(struct state *st, size_t i, struct esc_order *out)
{
	int rc;
	ESC_STORE(rc, esc_engine_writer(st->f.e), order_get, st->o[i].id, out);
	assert_int_equal(rc, 0);
}

/* Failing any call of the 2nd command of a batch (its savepoint or its own
 * store calls) leaves the 1st and 3rd committed and the 2nd absent. On
 * SQLite, which runs the commands without savepoints, a call failed after
 * the 2nd's first write makes the engine run the batch again, guarded,
 * without the 2nd: the same outcome. */
static void failure_inside_a_batch_spares_the_other_commands(void **cmstate)
{
	static struct hook counted, h;
	static struct snapshot before, after;
	static struct start start;
	struct esc_result res[3];
	struct state st;
	(void)cmstate;

	start_make(&start, setup_batch);
	start_copy(&start, &st);
	memset(&counted, 0, sizeof counted);
	hook_install(&st.f, &counted);
	assert_int_equal(run_batch(&st, res), 0);
	hook_remove(&st.f);
	for (int i = 0; i < 3; i++)
		assert_int_equal(res[i].rc, 0);
	bool counts_changes = esc_store_changes(esc_engine_writer(st.f.e)) != -2;
	release_state(&st);
	/* begin, savepoint, (1st), savepoint_release, savepoint, (2nd),
	 * savepoint_release, ...: the 2nd command's calls are from the 2nd
	 * savepoint up to its release, which is the batch's (see below). */
	int first = find_verb(&counted, "savepoint", 2);
	int last = find_verb(&counted, "savepoint_release", 2) - 1;
	if (!first && counts_changes) {
		/* A store that counts its changes (SQLite) runs the commands
		 * without savepoints: the 2nd's calls are from its order_get
		 * (each command reads its order once, first) to the 3rd's. */
		first = find_verb(&counted, "order_get", 2);
		last = find_verb(&counted, "order_get", 3) - 1;
	}
	assert_true(first > 0 && last > first);

	int reruns = 0; /* batches run again guarded, over every k */
	for (int k = first; k <= last; k++) {
		struct esc_engine_counters n0, n1;
		start_copy(&start, &st);
		take_snapshot(&st, &before);
		memset(&h, 0, sizeof h);
		h.fail_at = k;
		hook_install(&st.f, &h);
		esc_engine_counters(st.f.e, &n0);
		int rc = run_batch(&st, res);
		esc_engine_counters(st.f.e, &n1);
		hook_remove(&st.f);
		assert_int_equal(h.failed, 1);
		/* At most once a failure, and only where there are no
		 * savepoints to roll back to (/metrics'
		 * escrowd_batches_rerun_total). */
		assert_in_range(n1.batch_reruns - n0.batch_reruns, 0, counts_changes ? 1 : 0);
		reruns += (int)(n1.batch_reruns - n0.batch_reruns);
		if (rc || res[0].rc || !res[1].rc || res[2].rc)
			fail_msg("failing call %d (%s): batch %d, results %d %d %d", k,
				 counted.verbs[k - 1], rc, res[0].rc, res[1].rc, res[2].rc);
		take_snapshot(&st, &after);
		/* The 2nd is absent ... */
		same_order_snapshot(&before.orders[1], &after.orders[1]);
		same_deadlines_of(&before, &after, st.o[1].id);
		/* ... and the 1st and 3rd are committed: one history and outbox
		 * row each, and no transfer (shipping and requesting move no
		 * money). */
		for (size_t i = 0; i < 3; i += 2) {
			assert_int_equal(after.orders[i].order.state, batch_after[i]);
			assert_int_equal(after.orders[i].order.version,
					 before.orders[i].order.version + 1);
			assert_int_equal(after.orders[i].history, before.orders[i].history + 1);
		}
		assert_int_equal(after.outbox, before.outbox + 2);
		assert_int_equal(after.transfers, before.transfers);

		/* Nothing left behind blocks the 2nd. */
		struct esc_command c;
		struct esc_result r;
		command_on(&c, &st.o[1], ESC_EV_ACCEPT_CANCELLATION, ESC_ACTOR_SELLER);
		assert_int_equal(esc_engine_exec(st.f.e, &c, &r), 0);
		esc_fixture_check(&st.f);
		release_state(&st);
	}
	/* A failure after the 2nd's first write, without savepoints, runs
	 * the batch again. */
	if (counts_changes)
		assert_true(reruns > 0);
	start_release(&start);
}

/* Fail the nth call of verb in the batch: every command fails and the
 * store is as it was; then the same batch succeeds. */
static void batch_fails_whole(const char *verb, int nth)
{
	static struct hook h;
	static struct snapshot before, after;
	struct esc_result res[3];
	struct state st;

	setup_batch(&st);
	if (!strncmp(verb, "savepoint", 9) && esc_store_changes(esc_engine_writer(st.f.e)) != -2) {
		/* A store that counts its changes (SQLite) runs a batch's
		 * commands without savepoints. */
		release_state(&st);
		skip();
	}
	take_snapshot(&st, &before);
	memset(&h, 0, sizeof h);
	h.fail_verb = verb;
	h.fail_verb_nth = nth;
	hook_install(&st.f, &h);
	int rc = run_batch(&st, res);
	hook_remove(&st.f);
	assert_int_equal(h.failed, 1);
	assert_int_equal(rc, ESC_EIO);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(res[i].rc, ESC_EIO);
		assert_false(res[i].has_refund);
	}
	take_snapshot(&st, &after);
	same_snapshot(&before, &after);

	assert_int_equal(run_batch(&st, res), 0);
	for (size_t i = 0; i < 3; i++) {
		struct esc_order o;
		assert_int_equal(res[i].rc, 0);
		order_now(&st, i, &o);
		assert_int_equal(o.state, batch_after[i]);
	}
	esc_fixture_check(&st.f);
	release_state(&st);
}

/* A batch that loses to a concurrent transaction (PostgreSQL's 40001 at
 * verb's nth call) is run again, in two halves (two commits), and each
 * command then succeeds once. */
static void batch_retried(const char *verb, int nth)
{
	static struct hook h;
	struct esc_result res[3];
	struct state st;

	setup_batch(&st);
	memset(&h, 0, sizeof h);
	h.fail_verb = verb;
	h.fail_verb_nth = nth;
	h.code = ESC_ERETRY;
	hook_install(&st.f, &h);
	struct esc_engine_counters before, after;
	esc_engine_counters(st.f.e, &before);
	int rc = run_batch(&st, res);
	hook_remove(&st.f);
	assert_int_equal(h.failed, 1);
	assert_int_equal(rc, 0);
	esc_engine_counters(st.f.e, &after);
	assert_int_equal(after.retries, before.retries + 1);
	assert_int_equal(after.commits, before.commits + 2);
	for (size_t i = 0; i < 3; i++) {
		struct esc_order o;
		struct esc_history hist[8];
		size_t n = 0;
		assert_int_equal(res[i].rc, 0);
		order_now(&st, i, &o);
		assert_int_equal(o.state, batch_after[i]);
		/* Once: the first attempt left no row behind. */
		ESC_STORE(rc, esc_engine_writer(st.f.e), history_list, o.id, o.version - 1, hist, 8,
			  &n);
		assert_int_equal(rc, 0);
		assert_int_equal(n, 1);
	}
	esc_fixture_check(&st.f);
	release_state(&st);
}

static void a_batch_that_loses_at_commit_runs_again(void **cmstate)
{
	(void)cmstate;
	batch_retried("commit", 1);
}

static void a_batch_that_loses_inside_a_command_runs_again(void **cmstate)
{
	(void)cmstate;
	batch_retried("order_update", 2);
}

/* A batch that loses every time is split down to single commands, each
 * of which gives up after ESC_RETRY_MAX attempts, failing with ESC_ERETRY
 * (503); nothing is kept. 3 commands: 1 attempt of the 3, 1 of the last
 * 2, then ESC_RETRY_MAX of each. */
static void a_batch_that_always_loses_gives_up(void **cmstate)
{
	static struct hook h;
	static struct snapshot before, after;
	struct esc_result res[3];
	struct state st;
	(void)cmstate;

	setup_batch(&st);
	take_snapshot(&st, &before);
	memset(&h, 0, sizeof h);
	h.fail_verb = "commit";
	h.code = ESC_ERETRY;
	hook_install(&st.f, &h);
	int rc = run_batch(&st, res);
	hook_remove(&st.f);
	assert_int_equal(rc, ESC_ERETRY);
	assert_int_equal(h.failed, 2 + 3 * ESC_RETRY_MAX);
	for (int i = 0; i < 3; i++)
		assert_int_equal(res[i].rc, ESC_ERETRY);
	take_snapshot(&st, &after);
	same_snapshot(&before, &after);
	release_state(&st);
}

/* A failing commit fails every command of the batch and keeps none. */
static void failing_commit_fails_the_whole_batch(void **cmstate)
{
	(void)cmstate;
	batch_fails_whole("commit", 1);
}

/* A failing begin fails every command of the batch. */
static void failing_begin_fails_the_whole_batch(void **cmstate)
{
	(void)cmstate;
	batch_fails_whole("begin", 1);
}

/* A savepoint that cannot be released (the 2nd) fails the whole batch:
 * the 1st, already released into the transaction, is not kept either.
 * (PostgreSQL only: SQLite's batches have no savepoints.) */
static void failing_release_fails_the_whole_batch(void **cmstate)
{
	(void)cmstate;
	batch_fails_whole("savepoint_release", 2);
}

/* The kept answer is there exactly when the command is: a second command
 * with the same key is undone, and the first answer stays. */
static void a_kept_answer_is_kept_once(void **cmstate)
{
	struct state st;
	struct esc_idempotency rec, got;
	struct esc_order o;
	int rc;
	(void)cmstate;

	setup_requested(&st);
	add_order(&st, requested(&st, 500));
	assert_int_equal(cmd_accept_kept(&st), 0);
	ESC_STORE(rc, esc_engine_writer(st.f.e), idempotency_get, "user:test", "accept-1", &got);
	assert_int_equal(rc, 0);
	assert_int_equal(got.status, 200);
	assert_string_equal(got.response, "{\"status\":\"cancelled\",\"version\":4}");
	free(got.response);

	/* The same key on the other order: that command is undone. */
	kept_record(&rec, "accept-1");
	struct esc_reply reply = {.build = kept_build, .arg = &rec, .record = &rec};
	struct esc_command c;
	struct esc_result res;
	command_on(&c, &st.o[1], ESC_EV_ACCEPT_CANCELLATION, ESC_ACTOR_SELLER);
	c.reply = &reply;
	assert_int_equal(esc_engine_exec(st.f.e, &c, &res), ESC_EDUPLICATE);
	free(rec.response);
	order_now(&st, 1, &o);
	assert_int_equal(o.state, ESC_ST_CANCELLATION_REQUESTED);
	assert_true(o.version == st.o[1].version);
	ESC_STORE(rc, esc_engine_writer(st.f.e), idempotency_get, "user:test", "accept-1", &got);
	assert_int_equal(rc, 0);
	assert_string_equal(got.response, "{\"status\":\"cancelled\",\"version\":4}");
	free(got.response);
	esc_fixture_check(&st.f);
	release_state(&st);
}

/* ---- the deadline worker under faults ---- */

/* A due deadline whose store write fails is reported by
 * esc_engine_fire_due, not counted as fired nor swallowed: otherwise
 * `escrowd deadlines` prints "0 deadlines fired" and exits 0 while the
 * store fails. */
static void fire_due_reports_a_failed_deadline(void **cmstate)
{
	static struct hook h;
	struct state st;
	size_t fired = 99;
	(void)cmstate;

	setup_response_due(&st);
	memset(&h, 0, sizeof h);
	h.fail_verb = "order_update";
	hook_install(&st.f, &h);
	int rc = esc_engine_fire_due(st.f.e, 0, &fired);
	hook_remove(&st.f);
	assert_int_equal(h.failed, 1);
	assert_int_equal(fired, 0);
	if (rc != ESC_EIO)
		fail_msg("esc_engine_fire_due returned %d, not ESC_EIO, when the due deadline's "
			 "order_update failed",
			 rc);
	release_state(&st);
}

/* A full batch of due deadlines that all fail with a store error ends the
 * call (with the error) instead of fetching the same rows again forever.
 * The hook stops the loop at the 5th fetch so that the test ends. */
static void fire_due_does_not_spin_on_failing_deadlines(void **cmstate)
{
	static struct hook h;
	struct state st;
	size_t fired = 0;
	(void)cmstate;

	begin_state(&st);
	add_order(&st, new_order(&st, 1000));
	add_order(&st, new_order(&st, 2000));
	advance(&st, 24 * HOUR + 1);
	memset(&h, 0, sizeof h);
	h.fail_verb = "order_update";
	h.due_fail_from = 5;
	hook_install(&st.f, &h);
	int rc = esc_engine_fire_due(st.f.e, 2, &fired);
	hook_remove(&st.f);
	assert_int_not_equal(rc, 0);
	if (h.due_calls != 1)
		fail_msg("deadlines_claim was called %d times for the same 2 failing rows "
			 "(stopped by the test at 5)",
			 h.due_calls);
	release_state(&st);
}

int main(void)
{
	esc_test_store_or_skip("faults");
	struct CMUnitTest torture[CASES];
	char names[CASES][96];
	for (size_t i = 0; i < CASES; i++) {
		snprintf(names[i], sizeof names[i], "every failed store call: %s", cases[i].name);
		torture[i] =
			(struct CMUnitTest){.name = names[i],
					    .test_func = every_failed_call_leaves_nothing_behind,
					    .initial_state = (void *)&cases[i]};
	}
	const struct CMUnitTest batch[] = {
		cmocka_unit_test(failure_inside_a_batch_spares_the_other_commands),
		cmocka_unit_test(failing_commit_fails_the_whole_batch),
		cmocka_unit_test(failing_begin_fails_the_whole_batch),
		cmocka_unit_test(failing_release_fails_the_whole_batch),
		cmocka_unit_test(a_kept_answer_is_kept_once),
		cmocka_unit_test(a_batch_that_loses_at_commit_runs_again),
		cmocka_unit_test(a_batch_that_loses_inside_a_command_runs_again),
		cmocka_unit_test(a_batch_that_always_loses_gives_up),
		cmocka_unit_test(fire_due_reports_a_failed_deadline),
		cmocka_unit_test(fire_due_does_not_spin_on_failing_deadlines),
	};
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int failed =
		cmocka_run_group_tests_name("faults: each store call in turn", torture, NULL, NULL);
	failed += cmocka_run_group_tests_name("faults: batches and the deadline worker", batch,
					      NULL, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, "faults: %.1f s\n",
		(double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return failed;
}
