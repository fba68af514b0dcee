/* test_replay.c - escrowd replay (engine/replay.h, issue 16 item 4): the
 * recorded commands of a real store replayed under the same policy give
 * no difference and end as the store has them; under a 48-hour response
 * window exactly the orders built to differ do; the CSV; the store left
 * byte for byte as it was; bad arguments. On SQLite, and on PostgreSQL
 * as the source with ESC_TEST_STORE=postgresql. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/policy.h"
#include "engine/engine.h"
#include "engine/replay.h"
#include "store/store.h"
#include "support.h"
#include "util/error.h"

#define HOUR       (3600 * INT64_C(1000))
#define OUTPUT_MAX 16384
#define DIFFER     2

/* The source store, built once by the group's setup. */
static struct esc_fixture fx;
static char differ[DIFFER][ESC_ID_SIZE]; /* the orders a 48 h window changes */
static int64_t differ_total[DIFFER];
static size_t orders_made;

static void advance(int64_t ms)
{
	assert_int_equal(esc_engine_advance(fx.e, ms), 0);
	esc_fixture_fire(&fx);
}

static struct esc_order ship(const struct esc_order *o)
{
	return esc_fixture_as(&fx, o, ESC_EV_SHIP, ESC_ACTOR_SELLER);
}

/* Orders of every kind that a 72 h and a 48 h response window treat
 * alike, and DIFFER whose sellers reject the cancellation at 60 h, then
 * ship: under 48 h the request was approved at 48 h. */
static void build(void)
{
	struct esc_order plain[3], disputed, accepted, unpaid, late[DIFFER], balance;
	struct esc_command c;
	struct esc_result r;

	for (int i = 0; i < 3; i++) {
		plain[i] = esc_fixture_order(&fx, &fx.buyer, &fx.seller, 1000 + i);
		esc_fixture_pay(&fx, &plain[i], ESC_METHOD_CARD);
	}
	disputed = esc_fixture_order(&fx, &fx.buyer, &fx.seller2, 5000);
	esc_fixture_pay(&fx, &disputed, ESC_METHOD_WALLET);
	accepted = esc_fixture_order(&fx, &fx.buyer2, &fx.seller, 2500);
	esc_fixture_pay(&fx, &accepted, ESC_METHOD_CARD);
	unpaid = esc_fixture_order(&fx, &fx.buyer2, &fx.seller2, 700);
	balance = esc_fixture_order(&fx, &fx.buyer, &fx.seller2, 900);
	esc_fixture_pay(&fx, &balance, ESC_METHOD_CARD);
	for (int i = 0; i < DIFFER; i++) {
		late[i] = esc_fixture_order(&fx, &fx.buyer2, &fx.seller2, 3000 + i);
		differ_total[i] = late[i].total_minor;
		memcpy(differ[i], late[i].id, sizeof differ[i]);
		esc_fixture_pay(&fx, &late[i], ESC_METHOD_CARD);
		esc_fixture_request(&fx, &late[i], "no_longer_needed", ESC_REFUND_TO_ORIGINAL);
	}
	orders_made = 3 + 4 + DIFFER;

	advance(HOUR);
	for (int i = 0; i < 3; i++) {
		ship(&plain[i]);
		esc_fixture_as(&fx, &plain[i], ESC_EV_DELIVER, ESC_ACTOR_OPERATOR);
	}
	esc_fixture_as(&fx, &plain[0], ESC_EV_CONFIRM_RECEIPT, ESC_ACTOR_BUYER);
	ship(&disputed);
	/* A dispute answered with a counter-offer the buyer takes. */
	esc_command_init(&c, ESC_EV_OPEN_DISPUTE, ESC_ACTOR_BUYER, disputed.buyer_id, disputed.id);
	c.args.ground = "not_as_described";
	c.args.outcome = "refund_only";
	c.args.amount_minor = 3000;
	c.args.description = "The colour is not the one shown.";
	assert_int_equal(esc_fixture_run(&fx, &c, &r), 0);
	esc_command_init(&c, ESC_EV_COUNTER_OFFER, ESC_ACTOR_SELLER, disputed.seller_id,
			 disputed.id);
	c.args.amount_minor = 1200;
	c.args.message = "Half of it, and keep it.";
	assert_int_equal(esc_fixture_run(&fx, &c, &r), 0);
	esc_fixture_as(&fx, &disputed, ESC_EV_ACCEPT_OFFER, ESC_ACTOR_BUYER);
	/* A request the seller accepts at once, to the store balance. */
	esc_fixture_request(&fx, &balance, "out_of_stock", ESC_REFUND_TO_BALANCE);
	esc_fixture_as(&fx, &balance, ESC_EV_ACCEPT_CANCELLATION, ESC_ACTOR_SELLER);
	esc_fixture_request(&fx, &accepted, "price_changed", ESC_REFUND_TO_ORIGINAL);

	advance(9 * HOUR); /* 10 h */
	esc_fixture_as(&fx, &accepted, ESC_EV_ACCEPT_CANCELLATION, ESC_ACTOR_SELLER);

	advance(50 * HOUR); /* 60 h: the unpaid order's 24 h passed */
	for (int i = 0; i < DIFFER; i++)
		esc_fixture_as(&fx, &late[i], ESC_EV_REJECT_CANCELLATION, ESC_ACTOR_SELLER);
	advance(HOUR);
	for (int i = 0; i < DIFFER; i++) {
		ship(&late[i]);
		esc_fixture_as(&fx, &late[i], ESC_EV_DELIVER, ESC_ACTOR_OPERATOR);
		esc_fixture_as(&fx, &late[i], ESC_EV_CONFIRM_RECEIPT, ESC_ACTOR_BUYER);
	}
	/* Refunds to the card arrive: one settles, one fails. */
	advance(24 * HOUR);
	struct esc_refund rf[4];
	size_t n = 0;
	int rc;
	ESC_STORE(rc, esc_engine_writer(fx.e), refunds_list, NULL, ESC_REFUND_PENDING, NULL, rf, 4,
		  &n);
	assert_int_equal(rc, 0);
	for (size_t i = 0; i < n; i++) {
		esc_command_init(&c, i ? ESC_EV_REFUND_FAILED : ESC_EV_REFUND_SETTLED,
				 ESC_ACTOR_OPERATOR, NULL, rf[i].order_id);
		c.args.refund_id = rf[i].id;
		assert_int_equal(esc_fixture_run(&fx, &c, &r), 0);
	}
	assert_true(esc_fixture_get(&fx, unpaid.id).state == ESC_ST_CANCELLED);
	assert_true(esc_fixture_get(&fx, late[0].id).state == ESC_ST_COMPLETED);
}

static int group_setup(void **state)
{
	(void)state;
	esc_fixture_init(&fx);
	build();
	esc_fixture_check(&fx);
	/* Closed: the file as it stays (its WAL checkpointed). */
	esc_engine_free(fx.e);
	fx.e = NULL;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	esc_test_store_drop(fx.db);
	esc_test_rmdir(fx.dir);
	return 0;
}

static void replay(const struct esc_policy *policy, struct esc_replay_report *rep)
{
	struct esc_policy base;
	struct esc_replay_options ro = {.source = fx.db, .base = &base, .policy = policy};
	char err[400] = "";
	esc_policy_default(&base);
	int rc = esc_replay_run(&ro, rep, err, sizeof err);
	if (rc)
		fail_msg("replay: %s", err);
}

static bool is_differ(const char *id)
{
	for (int i = 0; i < DIFFER; i++)
		if (!strcmp(differ[i], id))
			return true;
	return false;
}

/* The base run ends as the store does, and the same policy twice gives
 * no difference: every order, buyer and seller alike. */
static void test_same_policy(void **state)
{
	struct esc_policy p;
	struct esc_replay_report rep;
	(void)state;
	esc_policy_default(&p);
	replay(&p, &rep);
	assert_int_equal(rep.orders_count, orders_made);
	assert_int_equal(rep.base_unlike_store, 0);
	assert_int_equal(rep.refused[0], 0);
	assert_int_equal(rep.refused[1], 0);
	assert_true(rep.deadlines_skipped > 0); /* the unpaid order's, at least */
	for (size_t i = 0; i < rep.orders_count; i++) {
		const struct esc_replay_order *o = &rep.orders[i];
		assert_true(o->made[0] && o->made[1]);
		assert_int_equal(o->state[0], o->state_store);
		assert_int_equal(o->refunded_minor[0], o->refunded_store_minor);
		assert_int_equal(o->state[0], o->state[1]);
		assert_int_equal(o->refunded_minor[0], o->refunded_minor[1]);
		assert_int_equal(o->refunds_count[0], o->refunds_count[1]);
	}
	assert_int_equal(rep.users_count, 4);
	for (size_t i = 0; i < rep.users_count; i++)
		assert_int_equal(rep.users[i].value[0], rep.users[i].value[1]);
	/* The printed report says so. */
	char buf[8192];
	FILE *m = fmemopen(buf, sizeof buf, "w");
	esc_replay_print(&rep, m);
	fclose(m);
	assert_non_null(strstr(buf, "orders whose outcome changes: 0 of 9"));
	assert_non_null(strstr(buf, "refunds added: 0 orders\n"));
	assert_non_null(strstr(buf, "refunds removed: 0 orders\n"));
	assert_null(strstr(buf, "note:"));
	esc_replay_report_release(&rep);
}

/* Under a 48-hour response window, the requests the sellers rejected at
 * 60 h were approved at 48 h: those orders, and no other, end cancelled
 * with their whole amount refunded, and the sellers' rejections, ships and
 * the rest of those orders' commands are refused. */
static void test_48h_window(void **state)
{
	struct esc_policy p;
	struct esc_replay_report rep;
	(void)state;
	esc_policy_default(&p);
	p.response_window_ms = 48 * HOUR;
	replay(&p, &rep);
	assert_int_equal(rep.orders_count, orders_made);
	assert_int_equal(rep.base_unlike_store, 0);
	size_t changed = 0;
	for (size_t i = 0; i < rep.orders_count; i++) {
		const struct esc_replay_order *o = &rep.orders[i];
		bool differs =
			o->state[0] != o->state[1] || o->refunded_minor[0] != o->refunded_minor[1];
		assert_int_equal(differs, is_differ(o->order_id));
		if (!differs)
			continue;
		changed++;
		assert_int_equal(o->state[0], ESC_ST_COMPLETED);
		assert_int_equal(o->state[1], ESC_ST_CANCELLED);
		assert_int_equal(o->refunded_minor[0], 0);
		assert_int_equal(o->refunded_minor[1],
				 differ_total[strcmp(o->order_id, differ[0]) ? 1 : 0]);
	}
	assert_int_equal(changed, DIFFER);
	/* Per order: reject, ship, deliver, confirm refused. */
	assert_int_equal(rep.refused[0], 0);
	assert_int_equal(rep.refused[1], 4 * DIFFER);
	assert_int_equal(rep.refused_by_event[1][ESC_EV_REJECT_CANCELLATION], DIFFER);
	assert_int_equal(rep.refused_by_event[1][ESC_EV_SHIP], DIFFER);
	char buf[8192];
	FILE *m = fmemopen(buf, sizeof buf, "w");
	esc_replay_print(&rep, m);
	fclose(m);
	assert_non_null(strstr(buf, "orders whose outcome changes: 2 of 9"));
	assert_non_null(strstr(buf, "completed -> cancelled"));
	char want[64];
	snprintf(want, sizeof want, "refunds added: 2 orders, %lld EUR",
		 (long long)(differ_total[0] + differ_total[1]));
	assert_non_null(strstr(buf, want));
	esc_replay_report_release(&rep);
}

static void replay_base(const struct esc_policy *base, const struct esc_policy *policy,
			const char *db, struct esc_replay_report *rep)
{
	struct esc_replay_options ro = {.source = db, .base = base, .policy = policy};
	char err[400] = "";
	int rc = esc_replay_run(&ro, rep, err, sizeof err);
	if (rc)
		fail_msg("replay: %s", err);
}

/* A store that ran under two policies: the default one (pol_1), then a
 * 96-hour response window (pol_2), under which a seller rejected a
 * request at 80 h and the order completed. The base run follows each
 * order's recorded version and ends as the store does; a base run of one
 * policy (--config) does not; and under 72 h that order alone changes. */
static void test_recorded_versions(void **state)
{
	struct esc_fixture f;
	struct esc_policy p96, p72;
	struct esc_replay_report rep;
	struct esc_engine_options eo = {.manual_clock = true,
					.manual_start_ms = ESC_TEST_T0,
					.fast_password_hashing = true};
	char err[300] = "";
	(void)state;
	esc_policy_default(&p72);
	esc_policy_default(&p96);
	p96.response_window_ms = 96 * HOUR;

	esc_fixture_init(&f);
	struct esc_order a = esc_fixture_order(&f, &f.buyer, &f.seller, 1500);
	esc_fixture_pay(&f, &a, ESC_METHOD_CARD);
	esc_fixture_as(&f, &a, ESC_EV_SHIP, ESC_ACTOR_SELLER);
	esc_engine_free(f.e);
	assert_int_equal(esc_engine_open(&f.e, f.db, &p96, &eo, err, sizeof err), 0);
	struct esc_order z = esc_fixture_order(&f, &f.buyer2, &f.seller2, 4200);
	esc_fixture_pay(&f, &z, ESC_METHOD_CARD);
	esc_fixture_request(&f, &z, "no_longer_needed", ESC_REFUND_TO_ORIGINAL);
	assert_int_equal(esc_engine_advance(f.e, 80 * HOUR), 0);
	esc_fixture_fire(&f);
	esc_fixture_as(&f, &z, ESC_EV_REJECT_CANCELLATION, ESC_ACTOR_SELLER);
	esc_fixture_as(&f, &z, ESC_EV_SHIP, ESC_ACTOR_SELLER);
	esc_fixture_as(&f, &z, ESC_EV_DELIVER, ESC_ACTOR_OPERATOR);
	esc_fixture_as(&f, &z, ESC_EV_CONFIRM_RECEIPT, ESC_ACTOR_BUYER);
	esc_fixture_as(&f, &a, ESC_EV_CONFIRM_RECEIPT, ESC_ACTOR_BUYER);
	assert_int_not_equal(esc_fixture_get(&f, z.id).policy_version,
			     esc_fixture_get(&f, a.id).policy_version);
	esc_engine_free(f.e);
	f.e = NULL;

	replay_base(NULL, &p96, f.db, &rep);
	assert_int_equal(rep.orders_count, 2);
	assert_true(rep.base_versions >= 2);
	assert_int_equal(rep.base_unlike_store, 0);
	for (size_t i = 0; i < rep.orders_count; i++) {
		assert_int_equal(rep.orders[i].state[0], ESC_ST_COMPLETED);
		assert_int_equal(rep.orders[i].state[1], ESC_ST_COMPLETED);
	}
	esc_replay_report_release(&rep);

	replay_base(&p72, &p72, f.db, &rep);
	assert_int_equal(rep.base_versions, 0);
	assert_int_equal(rep.base_unlike_store, 1);
	esc_replay_report_release(&rep);

	replay_base(NULL, &p72, f.db, &rep);
	assert_int_equal(rep.base_unlike_store, 0);
	for (size_t i = 0; i < rep.orders_count; i++) {
		const struct esc_replay_order *o = &rep.orders[i];
		bool is_z = !strcmp(o->order_id, z.id);
		assert_int_equal(o->state[0], ESC_ST_COMPLETED);
		assert_int_equal(o->state[1], is_z ? ESC_ST_CANCELLED : ESC_ST_COMPLETED);
		assert_int_equal(o->refunded_minor[1], is_z ? 4200 : 0);
	}
	esc_replay_report_release(&rep);
	esc_test_store_drop(f.db);
	esc_test_rmdir(f.dir);
}

/* --- the command line --- */

static char binary[512];

static int run(const char *args, char *out, size_t size)
{
	return esc_test_run_cli(binary, NULL, args, out, size);
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	long n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	char *buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static bool on_sqlite(void)
{
	return strncmp(fx.db, "postgres", 8) != 0;
}

/* escrowd replay: the report, the CSV, and the store's file unchanged. */
static void test_cli_report_and_csv(void **state)
{
	char policy[400], csv[400], args[2048], out[OUTPUT_MAX];
	size_t before_len = 0, after_len = 0, csv_len = 0;
	char *before = NULL;
	(void)state;
	esc_test_path(policy, sizeof policy, fx.dir, "p48.conf");
	esc_test_path(csv, sizeof csv, fx.dir, "changes.csv");
	esc_test_write_file(policy,
			    "# a shorter answer window\nresponse_window = 48h\ndb = ignored.db\n");
	if (on_sqlite())
		before = read_file(fx.db, &before_len);
	snprintf(args, sizeof args, "replay --db '%s' --policy '%s' --csv '%s'", fx.db, policy,
		 csv);
	assert_int_equal(run(args, out, sizeof out), 0);
	esc_test_contains(out, "replayed ");
	esc_test_contains(out, "commands of 9 orders");
	esc_test_contains(out, "orders whose outcome changes: 2 of 9");
	esc_test_contains(out, "completed -> cancelled");
	esc_test_contains(out, "2 orders written to");
	/* No progress bar when stderr is not a terminal. */
	assert_null(strstr(out, "replaying ["));
	char *text = read_file(csv, &csv_len);
	char want[1024];
	int n = snprintf(want, sizeof want,
			 "order_id,buyer_id,seller_id,currency,outcome_before,outcome_after,"
			 "refunded_before,refunded_after\n"
			 "%s,%s,%s,EUR,completed,cancelled,0,%lld\n"
			 "%s,%s,%s,EUR,completed,cancelled,0,%lld\n",
			 differ[0], fx.buyer2.id, fx.seller2.id, (long long)differ_total[0],
			 differ[1], fx.buyer2.id, fx.seller2.id, (long long)differ_total[1]);
	assert_true(n > 0 && (size_t)n < sizeof want);
	assert_string_equal(text, want);
	free(text);
	if (before) {
		char *after = read_file(fx.db, &after_len);
		assert_int_equal(after_len, before_len);
		assert_memory_equal(after, before, before_len);
		free(after);
		free(before);
	}
	/* The same policy: no difference. */
	esc_test_write_file(policy, "response_window = 72h\n");
	snprintf(args, sizeof args, "replay --db '%s' --policy '%s'", fx.db, policy);
	assert_int_equal(run(args, out, sizeof out), 0);
	esc_test_contains(out, "orders whose outcome changes: 0 of 9");
	esc_test_contains(out, "commands refused: 0 under the base policy, 0 under the new one");
	/* A period that holds no creation. */
	snprintf(args, sizeof args, "replay --db '%s' --policy '%s' --since 2030-01-01", fx.db,
		 policy);
	assert_int_equal(run(args, out, sizeof out), 0);
	esc_test_contains(out, "nothing to replay");
	snprintf(args, sizeof args,
		 "replay --db '%s' --policy '%s' --since 2026-01-05 --until 2026-01-06T00:00:00Z",
		 fx.db, policy);
	assert_int_equal(run(args, out, sizeof out), 0);
	esc_test_contains(out, "commands of 9 orders");
}

static void test_cli_bad_arguments(void **state)
{
	char policy[400], bad[400], args[2048], out[OUTPUT_MAX], missing[400];
	(void)state;
	esc_test_path(policy, sizeof policy, fx.dir, "same.conf");
	esc_test_path(bad, sizeof bad, fx.dir, "bad.conf");
	esc_test_path(missing, sizeof missing, fx.dir, "no-such.db");
	esc_test_write_file(policy, "");
	esc_test_write_file(bad, "response_window = soon\n");

	snprintf(args, sizeof args, "replay --db '%s'", fx.db);
	assert_int_equal(run(args, out, sizeof out), 2);
	esc_test_contains(out, "--policy is required");
	snprintf(args, sizeof args, "replay --policy '%s'", policy);
	assert_int_equal(run(args, out, sizeof out), 2);
	esc_test_contains(out, "--db is required");
	snprintf(args, sizeof args, "replay --db '%s' --policy '%s'", missing, policy);
	assert_int_equal(run(args, out, sizeof out), 1);
	esc_test_contains(out, "no store at");
	snprintf(args, sizeof args, "replay --db '%s' --policy '%s'", fx.db, bad);
	assert_int_equal(run(args, out, sizeof out), 2);
	esc_test_contains(out, "--policy: ");
	esc_test_contains(out, "response_window");
	snprintf(args, sizeof args, "replay --db '%s' --policy '%s/nothing.conf'", fx.db, fx.dir);
	assert_int_equal(run(args, out, sizeof out), 2);
	esc_test_contains(out, "--policy: ");
	snprintf(args, sizeof args, "replay --db '%s' --policy '%s' --since yesterday", fx.db,
		 policy);
	assert_int_equal(run(args, out, sizeof out), 2);
	esc_test_contains(out, "--since 'yesterday' is not a date");
	snprintf(args, sizeof args,
		 "replay --db '%s' --policy '%s' --since 2026-02-01 --until 2026-01-01", fx.db,
		 policy);
	assert_int_equal(run(args, out, sizeof out), 2);
	esc_test_contains(out, "--until must come after --since");
	snprintf(args, sizeof args, "replay --db '%s' --policy '%s' --frobnicate", fx.db, policy);
	assert_int_equal(run(args, out, sizeof out), 2);
	assert_int_equal(run("replay --help", out, sizeof out), 0);
	esc_test_contains(out, "escrowd replay --db URL --policy FILE");
}

int main(void)
{
	const char *dir = getenv("ESC_BUILD_DIR");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_policy),       cmocka_unit_test(test_48h_window),
		cmocka_unit_test(test_recorded_versions), cmocka_unit_test(test_cli_report_and_csv),
		cmocka_unit_test(test_cli_bad_arguments),
	};
	esc_test_store_or_skip("replay");
	snprintf(binary, sizeof binary, "%s/escrowd", dir && *dir ? dir : ".");
	return cmocka_run_group_tests_name("replay", tests, group_setup, group_teardown);
}
