/* test_store.c - the store contract: each verb of store.h, one fact per
 * test, through the interface only, so the same table runs unchanged
 * against every backend (run_store_contract): SQLite always, PostgreSQL
 * when ESC_TEST_PG names a server (tests/pg/server start prints one).
 * What ledger_check finds in a store damaged by hand runs on both too;
 * the facts of one backend (SQLite's file, WAL and checkpoints;
 * PostgreSQL's serialization failures and lost connections) follow in
 * groups of their own. */
#include <ctype.h>
#include <inttypes.h>
#include <setjmp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "pgtest.h"
#include "store/common.h"
#include "store/pg/migrations.h"
#include "store/sqlite/migrations.h"
#include "store/store.h"
#include "support.h"
#include "util/error.h"
#include "util/id.h"

/* ---- fixture: a new, empty store per test ---- */

struct store_fixture {
	char dir[256];
	char path[320];
	char url[340];
	struct esc_store *s;
};

struct backend {
	const char *name;
	/* Make a new empty store's URL (and whatever it needs) in f. */
	void (*fresh)(struct store_fixture *f);
	void (*cleanup)(struct store_fixture *f);
	/* Run SQL on the store through a connection of its own: the only way
	 * to damage what the interface keeps sound. */
	void (*raw_sql)(struct store_fixture *f, const char *sql);
};

static const struct backend *backend;

static void open_url(struct store_fixture *f)
{
	char err[256] = "";
	int rc = esc_store_open(f->url, &f->s, err, sizeof err);

	if (rc)
		fprintf(stderr, "open %s: %s\n", f->url, err);
	assert_int_equal(rc, 0);
	assert_non_null(f->s);
}

static void reopen(struct store_fixture *f)
{
	esc_store_close(f->s);
	f->s = NULL;
	open_url(f);
}

static int setup(void **state)
{
	struct store_fixture *f = calloc(1, sizeof *f);

	assert_non_null(f);
	backend->fresh(f);
	open_url(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct store_fixture *f = *state;

	esc_store_close(f->s);
	backend->cleanup(f);
	free(f);
	return 0;
}

static void sqlite_fresh(struct store_fixture *f)
{
	esc_test_tmpdir(f->dir, sizeof f->dir);
	esc_test_path(f->path, sizeof f->path, f->dir, "store.db");
	snprintf(f->url, sizeof f->url, "sqlite:%s", f->path);
}

static void sqlite_cleanup(struct store_fixture *f)
{
	esc_test_rmdir(f->dir);
}

static void sqlite_raw_sql(struct store_fixture *f, const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;
	int rc = sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, NULL);

	assert_int_equal(rc, SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fprintf(stderr, "raw sql: %s\n", msg ? msg : "?");
	sqlite3_free(msg);
	assert_int_equal(rc, SQLITE_OK);
	sqlite3_close(db);
}

static const struct backend sqlite_backend = {"sqlite", sqlite_fresh, sqlite_cleanup,
					      sqlite_raw_sql};

static void pg_fresh(struct store_fixture *f)
{
	assert_int_equal(esc_test_pg_fresh(f->url, sizeof f->url), 0);
}

static void pg_cleanup(struct store_fixture *f)
{
	esc_test_pg_drop(f->url);
}

/* The result of SQL on a connection of its own to f's database; the
 * caller PQclears it. */
static PGresult *pg_raw(struct store_fixture *f, const char *sql)
{
	PGconn *conn = PQconnectdb(f->url);
	PGresult *res = NULL;
	ExecStatusType st;

	if (PQstatus(conn) != CONNECTION_OK)
		fail_msg("raw sql: %s", PQerrorMessage(conn));
	res = PQexec(conn, sql);
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		fail_msg("raw sql: %s", PQerrorMessage(conn));
	PQfinish(conn);
	return res;
}

static void pg_raw_sql(struct store_fixture *f, const char *sql)
{
	PQclear(pg_raw(f, sql));
}

static int64_t pg_raw_int(struct store_fixture *f, const char *sql)
{
	PGresult *res = pg_raw(f, sql);
	int64_t v = 0;

	assert_int_equal(PQntuples(res), 1);
	v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return v;
}

static const struct backend pg_backend = {"postgresql", pg_fresh, pg_cleanup, pg_raw_sql};

static void raw_sql(struct store_fixture *f, const char *sql)
{
	backend->raw_sql(f, sql);
}

/* ---- builders ---- */

#define T0 ESC_TEST_T0

static void copy(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src);
}

#define COPY(field, src) copy((field), sizeof(field), (src))

/* field filled to its last byte with c: the longest value it holds. */
static void fill(char *dst, size_t size, char c)
{
	memset(dst, c, size - 1);
	dst[size - 1] = '\0';
}

#define FILL(field, c) fill((field), sizeof(field), (c))

/* A 64-character hex hash made of c. */
static void hash_hex(char out[ESC_HASH_HEX_SIZE], char c)
{
	memset(out, c, ESC_HASH_HEX_SIZE - 1);
	out[ESC_HASH_HEX_SIZE - 1] = '\0';
}

static struct esc_user user(const char *id, const char *email)
{
	struct esc_user u;

	memset(&u, 0, sizeof u);
	COPY(u.id, id);
	u.role = ESC_ACTOR_BUYER;
	COPY(u.name, "Alice Example");
	COPY(u.email, email);
	COPY(u.password_hash, "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA");
	u.created_at_ms = T0;
	return u;
}

/* An order with every field set to a value of its own. */
static struct esc_order order(const char *id, const char *buyer, const char *seller)
{
	struct esc_order o;

	memset(&o, 0, sizeof o);
	COPY(o.id, id);
	COPY(o.buyer_id, buyer);
	COPY(o.seller_id, seller);
	COPY(o.currency, "EUR");
	o.total_minor = 12345;
	o.paid_minor = 12000;
	o.refunded_minor = 300;
	o.released_minor = 500;
	o.fee_minor = 25;
	o.method = ESC_METHOD_WALLET;
	o.state = ESC_ST_SHIPPED;
	o.version = 7;
	o.policy_version = 3;
	o.delivery_days = 30;
	o.items_count = 2;
	o.cancel_requests = 1;
	COPY(o.cancel_reason, "out_of_stock");
	COPY(o.cancel_comment, "Please cancel \xc3\xbc \"quoted\" 'single'");
	o.refund_to = ESC_REFUND_TO_BALANCE;
	COPY(o.reject_message, "It ships tomorrow");
	COPY(o.carrier, "DHL");
	COPY(o.tracking, "JD014600003SE");
	o.created_at_ms = T0 + 1;
	o.paid_at_ms = T0 + 2;
	o.shipped_at_ms = T0 + 3;
	o.promised_at_ms = T0 + 4;
	o.delivered_at_ms = T0 + 5;
	o.ended_at_ms = T0 + 6;
	for (int k = 0; k < ESC_DL_ORDER_COUNT; k++)
		o.due_ms[k] = T0 + 100 + k;
	o.refunds_count = 3;
	o.disputes_count = 1;
	COPY(o.dispute_ground, "not_as_described");
	COPY(o.dispute_outcome, "return_and_refund");
	o.dispute_amount_minor = 4000;
	o.dispute_opened_at_ms = T0 + 7;
	o.dispute_paused_ms = 86400000;
	o.dispute_state = ESC_DS_AWAITING_RETURN;
	o.dispute_from = ESC_ST_DELIVERED;
	COPY(o.dispute_description, "The lid is cracked");
	o.dispute_offer_minor = 1500;
	o.dispute_agreed_minor = 2500;
	COPY(o.dispute_message, "Half, as it still works");
	COPY(o.dispute_resolution, "offer_accepted");
	COPY(o.dispute_reason, "The photos show the crack");
	o.dispute_escalated_at_ms = T0 + 8;
	o.dispute_decided_at_ms = T0 + 11;
	o.dispute_resolved_at_ms = T0 + 9;
	COPY(o.return_carrier, "Posturinn");
	COPY(o.return_tracking, "RR987654321IS");
	o.return_shipped_at_ms = T0 + 10;
	o.dispute_refund_minor = 2000;
	o.dispute_recommended_minor = 1750;
	COPY(o.dispute_recommendation, "Both gave evidence.\nThe seller's score is 40.");
	return o;
}

static void insert_order(struct esc_store *s, const struct esc_order *o)
{
	struct esc_item items[2];
	int rc;

	memset(items, 0, sizeof items);
	COPY(items[0].title, "Blue scarf");
	items[0].quantity = 2;
	items[0].unit_price_minor = 1500;
	COPY(items[0].image_url, "https://img.example.com/scarf.png");
	COPY(items[1].title, "Red hat");
	items[1].quantity = 1;
	items[1].unit_price_minor = 9345;
	ESC_STORE(rc, s, order_insert, o, items, 2);
	assert_int_equal(rc, 0);
}

/* Ids of one millisecond rise in the order they were made, and are
 * unique; the next millisecond's are above them all. */
static void ids_of_one_millisecond_rise(void **state)
{
	enum { N = 20000 };
	static char ids[N + 1][ESC_ID_SIZE];
	(void)state;
	for (int i = 0; i < N; i++)
		esc_id_new(ids[i], "ord_", T0);
	esc_id_new(ids[N], "ord_", T0 + 1);
	for (int i = 1; i <= N; i++) {
		assert_int_equal(strlen(ids[i]), 24);
		if (strcmp(ids[i - 1], ids[i]) >= 0)
			fail_msg("id %d: %s after %s", i, ids[i], ids[i - 1]);
	}
}

/* n time-ordered order ids, oldest first. */
static void order_ids(char ids[][ESC_ID_SIZE], int n)
{
	for (int i = 0; i < n; i++)
		esc_id_new(ids[i], "ord_", T0 + i * 1000);
}

static struct esc_transfer transfer(const char *id, const char *order_id, const char *kind,
				    const char *from, const char *to, int64_t amount)
{
	struct esc_transfer t;

	memset(&t, 0, sizeof t);
	COPY(t.id, id);
	COPY(t.order_id, order_id);
	COPY(t.kind, kind);
	COPY(t.from, from);
	COPY(t.to, to);
	t.amount_minor = amount;
	COPY(t.currency, "EUR");
	return t;
}

static void append(struct esc_store *s, struct esc_transfer t)
{
	int rc;

	ESC_STORE(rc, s, transfers_append, &t, 1, T0);
	assert_int_equal(rc, 0);
}

static int64_t balance(struct esc_store *s, const char *account)
{
	int64_t v = -1;
	int rc;

	ESC_STORE(rc, s, balance_get, account, "EUR", &v);
	assert_int_equal(rc, 0);
	return v;
}

static struct esc_refund refund(const char *id, const char *order_id, int64_t created)
{
	struct esc_refund r;

	memset(&r, 0, sizeof r);
	COPY(r.id, id);
	COPY(r.order_id, order_id);
	r.amount_minor = 700;
	r.method = ESC_METHOD_CARD;
	r.status = ESC_REFUND_PENDING;
	r.created_at_ms = created;
	r.alert_due_ms = created + 10 * ESC_MS_PER_DAY;
	r.settle_days_min = 3;
	r.settle_days_max = 7;
	return r;
}

static struct esc_history history(const char *order_id, int64_t version)
{
	struct esc_history h;

	memset(&h, 0, sizeof h);
	COPY(h.order_id, order_id);
	h.version = version;
	h.at_ms = T0 + version;
	h.actor = ESC_ACTOR_SELLER;
	COPY(h.actor_id, "usr_seller");
	h.event = ESC_EV_SHIP;
	h.from = ESC_ST_AWAITING_SHIPMENT;
	h.to = ESC_ST_SHIPPED;
	COPY(h.type, "order.shipped");
	COPY(h.detail, "{\"carrier\":\"DHL\",\"tracking\":\"JD1\"}");
	return h;
}

/* h's event (a command's), carrying h: one row. */
static void append_history(struct esc_store *s, const struct esc_history *h)
{
	struct esc_outbox_row row = {
		.at_ms = h->at_ms, .version = h->version, .payload = "{}", .history = h};
	int rc;

	COPY(row.type, h->type);
	COPY(row.order_id, h->order_id);
	ESC_STORE(rc, s, outbox_append, &row);
	assert_int_equal(rc, 0);
}

static void set_deadline(struct esc_store *s, const char *order_id, enum esc_deadline_kind kind,
			 int64_t due, bool set)
{
	struct esc_deadline_op op;
	int rc;

	memset(&op, 0, sizeof op);
	op.set = set;
	op.kind = kind;
	op.due_ms = due;
	ESC_STORE(rc, s, deadline_apply, order_id, &op);
	assert_int_equal(rc, 0);
}

static size_t due(struct esc_store *s, int64_t now, struct esc_deadline *out, size_t max)
{
	size_t n = 99;
	int rc;

	ESC_STORE(rc, s, deadlines_due, now, out, max, &n);
	assert_int_equal(rc, 0);
	return n;
}

static struct esc_ledger_report *check_ledger(struct esc_store *s)
{
	static struct esc_ledger_report r;
	char hash[ESC_POLICY_HASH_HEX_SIZE];
	int64_t v = 0;
	int rc;

	/* order() pins its orders to pol_3: the store keeps it, as the
	 * engine that made them would have (policy_version_exists). */
	for (int i = 1; i <= 3; i++) {
		snprintf(hash, sizeof hash, "test-policy-%d", i);
		ESC_STORE(rc, s, policy_find, hash, &v);
		if (rc == ESC_ENOTFOUND)
			ESC_STORE(rc, s, policy_add, hash, "", T0, &v);
		assert_int_equal(rc, 0);
	}
	ESC_STORE(rc, s, ledger_check, &r);
	assert_int_equal(rc, 0);
	return &r;
}

/* Whether the report lists a problem starting with prefix. */
static bool has_problem(const struct esc_ledger_report *r, const char *prefix)
{
	size_t listed = r->problems_count < ESC_CHECK_PROBLEMS_MAX ? r->problems_count
								   : ESC_CHECK_PROBLEMS_MAX;

	for (size_t i = 0; i < listed; i++)
		if (strncmp(r->problems[i], prefix, strlen(prefix)) == 0)
			return true;
	return false;
}

static void print_problems(const struct esc_ledger_report *r)
{
	for (size_t i = 0; i < r->problems_count && i < ESC_CHECK_PROBLEMS_MAX; i++)
		fprintf(stderr, "  problem: %s\n", r->problems[i]);
}

/* ---- users ---- */

static void user_insert_then_get_returns_every_field(void **state)
{
	struct store_fixture *f = *state;
	struct esc_user u = user("usr_a", "alice@example.com"), got;
	int rc;

	u.role = ESC_ACTOR_ARBITER;
	u.suspension_lifted_at_ms = T0 + 5;
	FILL(u.name, 'n');
	ESC_STORE(rc, f->s, user_insert, &u);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, user_get, "usr_a", &got);
	assert_int_equal(rc, 0);
	assert_string_equal(got.id, u.id);
	assert_int_equal(got.role, ESC_ACTOR_ARBITER);
	assert_string_equal(got.name, u.name);
	assert_string_equal(got.email, u.email);
	assert_string_equal(got.password_hash, u.password_hash);
	assert_int_equal(got.created_at_ms, T0);
	assert_int_equal(got.suspension_lifted_at_ms, T0 + 5);
}

static void user_get_of_missing_id_is_not_found(void **state)
{
	struct store_fixture *f = *state;
	struct esc_user got;
	int rc;

	ESC_STORE(rc, f->s, user_get, "usr_nobody", &got);
	assert_int_equal(rc, ESC_ENOTFOUND);
}

static void user_insert_of_taken_id_is_duplicate(void **state)
{
	struct store_fixture *f = *state;
	struct esc_user a = user("usr_a", "a@example.com"), b = user("usr_a", "b@example.com");
	int rc;

	ESC_STORE(rc, f->s, user_insert, &a);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, user_insert, &b);
	assert_int_equal(rc, ESC_EDUPLICATE);
}

/* A failed verb leaves the backend's words for the log: PostgreSQL's
 * message; SQLite keeps none. */
static void a_failed_verb_leaves_the_stores_message_for_the_log(void **state)
{
	struct store_fixture *f = *state;
	struct esc_user a = user("usr_a", "a@example.com");
	int rc;

	assert_string_equal(esc_store_last_error(NULL), "");
	ESC_STORE(rc, f->s, user_insert, &a);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, user_insert, &a);
	assert_int_equal(rc, ESC_EDUPLICATE);
	if (backend == &pg_backend)
		assert_non_null(strstr(esc_store_last_error(f->s), "duplicate key"));
	else
		assert_string_equal(esc_store_last_error(f->s), "");
}

static void user_insert_of_taken_email_in_any_case_is_duplicate(void **state)
{
	struct store_fixture *f = *state;
	struct esc_user a = user("usr_a", "same@example.com"),
			b = user("usr_b", "SAME@example.com");
	int rc;

	ESC_STORE(rc, f->s, user_insert, &a);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, user_insert, &b);
	assert_int_equal(rc, ESC_EDUPLICATE);
}

static void user_by_email_finds_the_user(void **state)
{
	struct store_fixture *f = *state;
	struct esc_user a = user("usr_a", "a@example.com"), b = user("usr_b", "b@example.com"), got;
	int rc;

	ESC_STORE(rc, f->s, user_insert, &a);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, user_insert, &b);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, user_by_email, "b@example.com", &got);
	assert_int_equal(rc, 0);
	assert_string_equal(got.id, "usr_b");
	ESC_STORE(rc, f->s, user_by_email, "c@example.com", &got);
	assert_int_equal(rc, ESC_ENOTFOUND);
}

static void user_update_writes_every_field(void **state)
{
	struct store_fixture *f = *state;
	struct esc_user u = user("usr_a", "a@example.com"), got;
	int rc;

	ESC_STORE(rc, f->s, user_insert, &u);
	assert_int_equal(rc, 0);
	u.role = ESC_ACTOR_SELLER;
	COPY(u.name, "Alice Renamed");
	COPY(u.email, "new@example.com");
	COPY(u.password_hash, "$argon2id$new");
	u.suspension_lifted_at_ms = T0 + 99;
	u.lift_ms_cancellations = 12;
	u.lift_ms_lost_disputes = 3;
	ESC_STORE(rc, f->s, user_update, &u);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, user_get, "usr_a", &got);
	assert_int_equal(rc, 0);
	assert_int_equal(got.role, ESC_ACTOR_SELLER);
	assert_string_equal(got.name, "Alice Renamed");
	assert_string_equal(got.email, "new@example.com");
	assert_string_equal(got.password_hash, "$argon2id$new");
	assert_int_equal(got.suspension_lifted_at_ms, T0 + 99);
	assert_int_equal(got.lift_ms_cancellations, 12);
	assert_int_equal(got.lift_ms_lost_disputes, 3);
}

static void user_update_of_missing_id_is_not_found(void **state)
{
	struct store_fixture *f = *state;
	struct esc_user u = user("usr_a", "a@example.com");
	int rc;

	ESC_STORE(rc, f->s, user_update, &u);
	assert_int_equal(rc, ESC_ENOTFOUND);
}

static void users_list_goes_up_by_id_from_the_cursor(void **state)
{
	struct store_fixture *f = *state;
	const char *ids[] = {"usr_c", "usr_a", "usr_d", "usr_b"};
	struct esc_user got[4];
	size_t n = 99;
	int rc;

	for (int i = 0; i < 4; i++) {
		char email[64];
		snprintf(email, sizeof email, "%s@example.com", ids[i]);
		struct esc_user u = user(ids[i], email);
		ESC_STORE(rc, f->s, user_insert, &u);
		assert_int_equal(rc, 0);
	}
	ESC_STORE(rc, f->s, users_list, NULL, got, 3, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 3);
	assert_string_equal(got[0].id, "usr_a");
	assert_string_equal(got[1].id, "usr_b");
	assert_string_equal(got[2].id, "usr_c");
	ESC_STORE(rc, f->s, users_list, "usr_c", got, 3, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 1);
	assert_string_equal(got[0].id, "usr_d");
}

/* ---- orders ---- */

static void order_insert_then_get_returns_every_field(void **state)
{
	struct store_fixture *f = *state;
	struct esc_order o = order("ord_1", "usr_b", "usr_s"), got;
	int rc;

	insert_order(f->s, &o);
	ESC_STORE(rc, f->s, order_get, "ord_1", &got);
	assert_int_equal(rc, 0);
	esc_assert_orders_equal(&got, &o);
}

static void order_strings_of_full_field_length_read_back_whole(void **state)
{
	struct store_fixture *f = *state;
	struct esc_order o = order("ord_1", "usr_b", "usr_s"), got;
	int rc;

	FILL(o.cancel_reason, 'r');
	FILL(o.cancel_comment, 'c');
	FILL(o.reject_message, 'm');
	FILL(o.carrier, 'k');
	FILL(o.tracking, 't');
	FILL(o.dispute_description, 'd');
	FILL(o.dispute_message, 's');
	FILL(o.dispute_reason, 'a');
	FILL(o.dispute_recommendation, 'w');
	FILL(o.return_tracking, 'u');
	insert_order(f->s, &o);
	ESC_STORE(rc, f->s, order_get, "ord_1", &got);
	assert_int_equal(rc, 0);
	esc_assert_orders_equal(&got, &o);
}

static void order_insert_of_taken_id_is_duplicate(void **state)
{
	struct store_fixture *f = *state;
	struct esc_order o = order("ord_1", "usr_b", "usr_s");
	int rc;

	insert_order(f->s, &o);
	ESC_STORE(rc, f->s, order_insert, &o, NULL, 0);
	assert_int_equal(rc, ESC_EDUPLICATE);
}

static void order_get_of_missing_id_is_not_found(void **state)
{
	struct store_fixture *f = *state;
	struct esc_order got;
	int rc;

	ESC_STORE(rc, f->s, order_get, "ord_nothing", &got);
	assert_int_equal(rc, ESC_ENOTFOUND);
}

static void order_items_come_back_in_line_order(void **state)
{
	struct store_fixture *f = *state;
	struct esc_order o = order("ord_1", "usr_b", "usr_s");
	struct esc_item items[3];
	size_t n = 99;
	int rc;

	insert_order(f->s, &o);
	ESC_STORE(rc, f->s, order_items, "ord_1", items, 3, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
	assert_string_equal(items[0].title, "Blue scarf");
	assert_int_equal(items[0].quantity, 2);
	assert_int_equal(items[0].unit_price_minor, 1500);
	/* Issue 17: an item's picture; "" for none. */
	assert_string_equal(items[0].image_url, "https://img.example.com/scarf.png");
	assert_string_equal(items[1].title, "Red hat");
	assert_int_equal(items[1].quantity, 1);
	assert_int_equal(items[1].unit_price_minor, 9345);
	assert_string_equal(items[1].image_url, "");
}

static void order_items_stop_at_max(void **state)
{
	struct store_fixture *f = *state;
	struct esc_order o = order("ord_1", "usr_b", "usr_s");
	struct esc_item items[1];
	size_t n = 99;
	int rc;

	insert_order(f->s, &o);
	ESC_STORE(rc, f->s, order_items, "ord_1", items, 1, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 1);
	assert_string_equal(items[0].title, "Blue scarf");
}

static void order_update_at_the_expected_version_writes_the_order(void **state)
{
	struct store_fixture *f = *state;
	struct esc_order o = order("ord_1", "usr_b", "usr_s"), got;
	int rc;

	insert_order(f->s, &o);
	o.version = 8;
	o.state = ESC_ST_COMPLETED;
	o.released_minor = 11700;
	COPY(o.tracking, "NEW");
	o.due_ms[ESC_DL_CONFIRM] = 0;
	ESC_STORE(rc, f->s, order_update, &o, 7);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, order_get, "ord_1", &got);
	assert_int_equal(rc, 0);
	esc_assert_orders_equal(&got, &o);
}

static void order_update_at_a_stale_version_is_conflict(void **state)
{
	struct store_fixture *f = *state;
	struct esc_order o = order("ord_1", "usr_b", "usr_s"), changed, got;
	int rc;

	insert_order(f->s, &o);
	changed = o;
	changed.version = 9;
	changed.state = ESC_ST_CLOSED;
	ESC_STORE(rc, f->s, order_update, &changed, 6);
	assert_int_equal(rc, ESC_ECONFLICT);
	ESC_STORE(rc, f->s, order_get, "ord_1", &got);
	assert_int_equal(rc, 0);
	esc_assert_orders_equal(&got, &o);
}

static void order_update_of_missing_id_is_not_found(void **state)
{
	struct store_fixture *f = *state;
	struct esc_order o = order("ord_1", "usr_b", "usr_s");
	int rc;

	ESC_STORE(rc, f->s, order_update, &o, 7);
	assert_int_equal(rc, ESC_ENOTFOUND);
}

/* Five orders: buyers b1 b2 b1 b2 b1, sellers s1 s1 s2 s2 s1, states
 * alternating awaiting_payment / shipped. */
static void five_orders(struct store_fixture *f, char ids[5][ESC_ID_SIZE])
{
	const char *buyers[] = {"usr_b1", "usr_b2", "usr_b1", "usr_b2", "usr_b1"};
	const char *sellers[] = {"usr_s1", "usr_s1", "usr_s2", "usr_s2", "usr_s1"};

	order_ids(ids, 5);
	for (int i = 0; i < 5; i++) {
		struct esc_order o = order(ids[i], buyers[i], sellers[i]);
		o.state = i % 2 ? ESC_ST_SHIPPED : ESC_ST_AWAITING_PAYMENT;
		insert_order(f->s, &o);
	}
}

static void orders_list_pages_newest_first_with_has_more(void **state)
{
	struct store_fixture *f = *state;
	char ids[5][ESC_ID_SIZE];
	struct esc_order got[5];
	struct esc_order_filter all = {.state = -1};
	size_t n = 99;
	bool more = false;
	int rc;

	five_orders(f, ids);
	ESC_STORE(rc, f->s, orders_list, &all, got, 2, &n, &more);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
	assert_true(more);
	assert_string_equal(got[0].id, ids[4]);
	assert_string_equal(got[1].id, ids[3]);
	all.starting_after = ids[3];
	ESC_STORE(rc, f->s, orders_list, &all, got, 2, &n, &more);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
	assert_true(more);
	assert_string_equal(got[0].id, ids[2]);
	assert_string_equal(got[1].id, ids[1]);
	all.starting_after = ids[1];
	ESC_STORE(rc, f->s, orders_list, &all, got, 2, &n, &more);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 1);
	assert_false(more);
	assert_string_equal(got[0].id, ids[0]);
}

static void orders_list_with_exactly_max_left_has_no_more(void **state)
{
	struct store_fixture *f = *state;
	char ids[5][ESC_ID_SIZE];
	struct esc_order got[5];
	struct esc_order_filter all = {.state = -1};
	size_t n = 99;
	bool more = true;
	int rc;

	five_orders(f, ids);
	ESC_STORE(rc, f->s, orders_list, &all, got, 5, &n, &more);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 5);
	assert_false(more);
}

static void orders_list_filters_by_buyer(void **state)
{
	struct store_fixture *f = *state;
	char ids[5][ESC_ID_SIZE];
	struct esc_order got[5];
	struct esc_order_filter by = {.buyer_id = "usr_b1", .state = -1};
	size_t n = 99;
	bool more = true;
	int rc;

	five_orders(f, ids);
	ESC_STORE(rc, f->s, orders_list, &by, got, 5, &n, &more);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 3);
	assert_false(more);
	assert_string_equal(got[0].id, ids[4]);
	assert_string_equal(got[1].id, ids[2]);
	assert_string_equal(got[2].id, ids[0]);
	by.starting_after = ids[2];
	ESC_STORE(rc, f->s, orders_list, &by, got, 5, &n, &more);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 1);
	assert_string_equal(got[0].id, ids[0]);
}

static void orders_list_filters_by_seller(void **state)
{
	struct store_fixture *f = *state;
	char ids[5][ESC_ID_SIZE];
	struct esc_order got[5];
	struct esc_order_filter by = {.seller_id = "usr_s2", .state = -1};
	size_t n = 99;
	bool more = true;
	int rc;

	five_orders(f, ids);
	ESC_STORE(rc, f->s, orders_list, &by, got, 5, &n, &more);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
	assert_string_equal(got[0].id, ids[3]);
	assert_string_equal(got[1].id, ids[2]);
}

static void orders_list_filters_by_state(void **state)
{
	struct store_fixture *f = *state;
	char ids[5][ESC_ID_SIZE];
	struct esc_order got[5];
	struct esc_order_filter by = {.state = ESC_ST_SHIPPED};
	size_t n = 99;
	bool more = true;
	int rc;

	five_orders(f, ids);
	ESC_STORE(rc, f->s, orders_list, &by, got, 5, &n, &more);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
	assert_string_equal(got[0].id, ids[3]);
	assert_string_equal(got[1].id, ids[1]);
}

static void orders_list_combines_filters(void **state)
{
	struct store_fixture *f = *state;
	char ids[5][ESC_ID_SIZE];
	struct esc_order got[5];
	struct esc_order_filter by = {
		.buyer_id = "usr_b1", .seller_id = "usr_s1", .state = ESC_ST_AWAITING_PAYMENT};
	size_t n = 99;
	bool more = true;
	int rc;

	five_orders(f, ids);
	ESC_STORE(rc, f->s, orders_list, &by, got, 5, &n, &more);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
	assert_string_equal(got[0].id, ids[4]);
	assert_string_equal(got[1].id, ids[0]);
}

static void orders_count_counts_each_state(void **state)
{
	struct store_fixture *f = *state;
	char ids[5][ESC_ID_SIZE];
	int64_t counts[ESC_ST_COUNT];
	int rc;

	five_orders(f, ids);
	ESC_STORE(rc, f->s, orders_count, NULL, NULL, counts);
	assert_int_equal(rc, 0);
	for (int i = 0; i < ESC_ST_COUNT; i++) {
		int64_t want = i == ESC_ST_AWAITING_PAYMENT ? 3 : i == ESC_ST_SHIPPED ? 2 : 0;
		assert_int_equal(counts[i], want);
	}
}

/* Issue 17: an order of buyer usr_b1 with one item titled title,
 * created at created_ms. */
static void insert_titled(struct esc_store *s, const char *id, const char *title,
			  int64_t created_ms)
{
	struct esc_order o = order(id, "usr_b1", "usr_s1");
	struct esc_item item;
	int rc;

	memset(&item, 0, sizeof item);
	COPY(item.title, title);
	item.quantity = 1;
	item.unit_price_minor = 500;
	o.created_at_ms = created_ms;
	ESC_STORE(rc, s, order_insert, &o, &item, 1);
	assert_int_equal(rc, 0);
}

/* The orders q finds among usr_b1's, as their count; the first's id. */
static size_t found(struct store_fixture *f, const char *q, char first[ESC_ID_SIZE])
{
	struct esc_order_filter by = {.buyer_id = "usr_b1", .state = -1, .q = q};
	struct esc_order got[5];
	size_t n = 99;
	bool more = true;
	int rc;

	ESC_STORE(rc, f->s, orders_list, &by, got, 5, &n, &more);
	assert_int_equal(rc, 0);
	assert_false(more);
	if (first)
		snprintf(first, ESC_ID_SIZE, "%s", n ? got[0].id : "");
	return n;
}

static void orders_list_q_finds_a_title_in_any_case_or_the_order_number(void **state)
{
	struct store_fixture *f = *state;
	char ids[4][ESC_ID_SIZE], first[ESC_ID_SIZE], end[16];

	order_ids(ids, 4);
	insert_titled(f->s, ids[0], "Wool Scarf, blue", T0);
	insert_titled(f->s, ids[1], "100% cotton shirt", T0);
	insert_titled(f->s, ids[2], "Lamp_shade", T0);
	insert_titled(f->s, ids[3], "Blue SCARF", T0);
	assert_int_equal(found(f, "scarf", first), 2);
	assert_string_equal(first, ids[3]);
	assert_int_equal(found(f, "WOOL sc", first), 1);
	assert_string_equal(first, ids[0]);
	/* LIKE's own characters are only themselves. */
	assert_int_equal(found(f, "0%", first), 1);
	assert_string_equal(first, ids[1]);
	assert_int_equal(found(f, "p_s", NULL), 1);
	assert_int_equal(found(f, "%", NULL), 1);
	assert_int_equal(found(f, "nothing like it", NULL), 0);
	/* The whole number, in any case, or its last 6 characters or more;
	 * fewer say nothing of the id. */
	assert_int_equal(found(f, ids[2], first), 1);
	assert_string_equal(first, ids[2]);
	for (char *c = ids[2]; *c; c++)
		*c = (char)toupper((unsigned char)*c);
	assert_int_equal(found(f, ids[2], first), 1);
	snprintf(end, sizeof end, "%s", ids[1] + strlen(ids[1]) - 6);
	assert_int_equal(found(f, end, first), 1);
	assert_int_equal(found(f, ids[1] + strlen(ids[1]) - 5, NULL), 0);
}

static void orders_list_filters_by_creation_time(void **state)
{
	struct store_fixture *f = *state;
	char ids[4][ESC_ID_SIZE];
	struct esc_order_filter by = {.buyer_id = "usr_b1", .state = -1};
	struct esc_order got[5];
	size_t n = 99;
	bool more = true;
	int rc;

	order_ids(ids, 4);
	for (int i = 0; i < 4; i++)
		insert_titled(f->s, ids[i], "Mug", T0 + i * 1000);
	by.created_from_ms = T0 + 1000;
	ESC_STORE(rc, f->s, orders_list, &by, got, 5, &n, &more);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 3);
	by.created_until_ms = T0 + 3000;
	ESC_STORE(rc, f->s, orders_list, &by, got, 5, &n, &more);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
	assert_string_equal(got[0].id, ids[2]);
	assert_string_equal(got[1].id, ids[1]);
	by.created_from_ms = 0;
	by.q = "mug";
	ESC_STORE(rc, f->s, orders_list, &by, got, 5, &n, &more);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 3);
	assert_string_equal(got[0].id, ids[2]);
}

static void orders_list_takes_a_tabs_states(void **state)
{
	struct store_fixture *f = *state;
	char ids[5][ESC_ID_SIZE];
	struct esc_order got[5];
	struct esc_order_filter by = {.state = ESC_ST_SHIPPED,
				      .states_also = {ESC_ST_AWAITING_PAYMENT},
				      .states_also_count = 1};
	size_t n = 99;
	bool more = true;
	int rc;

	five_orders(f, ids);
	ESC_STORE(rc, f->s, orders_list, &by, got, 5, &n, &more);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 5);
	by.states_also[0] = ESC_ST_COMPLETED;
	by.states_also[1] = ESC_ST_CLOSED;
	by.states_also_count = 2;
	ESC_STORE(rc, f->s, orders_list, &by, got, 5, &n, &more);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
}

static void orders_list_pages_disputes_oldest_first(void **state)
{
	struct store_fixture *f = *state;
	char ids[4][ESC_ID_SIZE];
	/* opened: ids[2] first, then ids[0], ids[3]; ids[1] is not escalated */
	const int64_t opened[4] = {T0 + 20, T0 + 5, T0 + 10, T0 + 30};
	struct esc_order_filter by = {
		.state = -1, .dispute_state = ESC_DS_ESCALATED, .oldest_dispute_first = true};
	struct esc_order got[4];
	size_t n = 99;
	bool more = false;
	int rc;

	order_ids(ids, 4);
	for (int i = 0; i < 4; i++) {
		struct esc_order o = order(ids[i], "usr_b1", "usr_s1");
		o.state = ESC_ST_IN_DISPUTE;
		o.dispute_state = i == 1 ? ESC_DS_REJECTED : ESC_DS_ESCALATED;
		o.dispute_opened_at_ms = opened[i];
		insert_order(f->s, &o);
	}
	ESC_STORE(rc, f->s, orders_list, &by, got, 2, &n, &more);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
	assert_true(more);
	assert_string_equal(got[0].id, ids[2]);
	assert_string_equal(got[1].id, ids[0]);
	by.starting_after = ids[0];
	ESC_STORE(rc, f->s, orders_list, &by, got, 2, &n, &more);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 1);
	assert_false(more);
	assert_string_equal(got[0].id, ids[3]);
}

static void orders_count_counts_a_partys_orders(void **state)
{
	struct store_fixture *f = *state;
	char ids[5][ESC_ID_SIZE];
	int64_t counts[ESC_ST_COUNT];
	int rc;

	five_orders(f, ids);
	ESC_STORE(rc, f->s, orders_count, "usr_b1", NULL, counts);
	assert_int_equal(rc, 0);
	assert_int_equal(counts[ESC_ST_AWAITING_PAYMENT], 3);
	assert_int_equal(counts[ESC_ST_SHIPPED], 0);
	ESC_STORE(rc, f->s, orders_count, NULL, "usr_s2", counts);
	assert_int_equal(rc, 0);
	assert_int_equal(counts[ESC_ST_AWAITING_PAYMENT], 1);
	assert_int_equal(counts[ESC_ST_SHIPPED], 1);
	ESC_STORE(rc, f->s, orders_count, "usr_nobody", NULL, counts);
	assert_int_equal(rc, 0);
	for (int i = 0; i < ESC_ST_COUNT; i++)
		assert_int_equal(counts[i], 0);
}

/* ---- history ---- */

static void history_list_returns_versions_after_oldest_first(void **state)
{
	struct store_fixture *f = *state;
	struct esc_history got[4];
	size_t n = 99;
	int rc;

	for (int v = 3; v >= 1; v--) {
		struct esc_history h = history("ord_1", v);
		append_history(f->s, &h);
	}
	struct esc_history other = history("ord_2", 2);
	append_history(f->s, &other);
	ESC_STORE(rc, f->s, history_list, "ord_1", 1, got, 4, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
	assert_int_equal(got[0].version, 2);
	assert_int_equal(got[1].version, 3);
	struct esc_history want = history("ord_1", 2);
	assert_string_equal(got[0].order_id, want.order_id);
	assert_int_equal(got[0].at_ms, want.at_ms);
	assert_int_equal(got[0].actor, want.actor);
	assert_string_equal(got[0].actor_id, want.actor_id);
	assert_int_equal(got[0].event, want.event);
	assert_int_equal(got[0].from, want.from);
	assert_int_equal(got[0].to, want.to);
	assert_string_equal(got[0].type, want.type);
	assert_string_equal(got[0].detail, want.detail);
}

/* Issue 15: a command's event and its history line are one row. Purged
 * (webhooks.retention_days), the event leaves the feed, and its line
 * stays; an event of no history line goes. The newest row stays. */
static void a_purged_event_keeps_its_history_line(void **state)
{
	struct store_fixture *f = *state;
	struct esc_history h1 = history("ord_1", 1), h2 = history("ord_1", 2), got[4];
	struct esc_outbox_row rep = {.at_ms = T0 + 2,
				     .type = "reputation.buyer_level_changed",
				     .order_id = "ord_1",
				     .version = 2,
				     .payload = "{\"object\":{}}"};
	struct esc_history late = history("ord_2", 1);
	struct esc_outbox_row out[4], one;
	char *payloads[4], *payload = NULL;
	size_t n = 0, purged = 0;
	int64_t count = 0;
	int rc;

	late.at_ms = T0 + 100;
	append_history(f->s, &h1);
	append_history(f->s, &h2);
	ESC_STORE(rc, f->s, outbox_append, &rep);
	assert_int_equal(rc, 0);
	append_history(f->s, &late);
	struct esc_event_filter all = {0};
	ESC_STORE(rc, f->s, events_list, &all, out, payloads, 4, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 4);
	int64_t first = out[0].seq;
	for (size_t i = 0; i < n; i++)
		free(payloads[i]);

	ESC_STORE(rc, f->s, webhook_purge, T0 + 50, 100, &purged);
	assert_int_equal(rc, 0);
	assert_int_equal(purged, 3);
	ESC_STORE(rc, f->s, events_list, &all, out, payloads, 4, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 1);
	assert_string_equal(out[0].order_id, "ord_2");
	free(payloads[0]);
	ESC_STORE(rc, f->s, webhook_event_get, first, &one, &payload);
	assert_int_equal(rc, ESC_ENOTFOUND);
	ESC_STORE(rc, f->s, outbox_count, &count);
	assert_int_equal(rc, 0);
	assert_int_equal(count, 1);
	ESC_STORE(rc, f->s, history_list, "ord_1", 0, got, 4, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
	assert_int_equal(got[1].version, 2);
	assert_int_equal(got[1].event, ESC_EV_SHIP);
	assert_string_equal(got[1].detail, h2.detail);
	/* Nothing more is old enough; the newest row is never purged. */
	ESC_STORE(rc, f->s, webhook_purge, T0 + 50, 100, &purged);
	assert_int_equal(rc, 0);
	assert_int_equal(purged, 0);
	ESC_STORE(rc, f->s, webhook_purge, T0 + 500, 100, &purged);
	assert_int_equal(rc, 0);
	assert_int_equal(purged, 0);
	ESC_STORE(rc, f->s, outbox_count, &count);
	assert_int_equal(count, 1);
}

/* ---- transfers and balances ---- */

static void transfer_moves_the_amount_between_accounts(void **state)
{
	struct store_fixture *f = *state;

	append(f->s, transfer("ord_1/pay", "ord_1", "payment", "external", "escrow:ord_1", 100));
	assert_int_equal(balance(f->s, "external"), -100);
	assert_int_equal(balance(f->s, "escrow:ord_1"), 100);
}

static void transfer_with_a_recorded_id_is_recorded_once(void **state)
{
	struct store_fixture *f = *state;
	struct esc_transfer t[2] = {
		transfer("ord_1/pay", "ord_1", "payment", "buyer:usr_b", "escrow:ord_1", 100),
		transfer("ord_1/pay", "ord_1", "payment", "buyer:usr_b", "escrow:ord_1", 100),
	};
	int rc;

	ESC_STORE(rc, f->s, transfers_append, t, 2, T0);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, transfers_append, t, 1, T0);
	assert_int_equal(rc, 0);
	assert_int_equal(balance(f->s, "buyer:usr_b"), -100);
	assert_int_equal(balance(f->s, "escrow:ord_1"), 100);
	assert_int_equal(check_ledger(f->s)->transfers_count, 1);
}

static void transfers_keep_buyer_and_seller_balances(void **state)
{
	struct store_fixture *f = *state;

	append(f->s, transfer("t1", "ord_1", "fail", "refunds_in_transit", "buyer:usr_b", 70));
	append(f->s, transfer("t2", "ord_1", "payment", "buyer:usr_b", "escrow:ord_1", 30));
	append(f->s, transfer("t3", "ord_1", "release", "escrow:ord_1", "seller:usr_s", 25));
	append(f->s, transfer("t4", "ord_1", "fee", "escrow:ord_1", "platform:fees", 5));
	assert_int_equal(balance(f->s, "buyer:usr_b"), 40);
	assert_int_equal(balance(f->s, "seller:usr_s"), 25);
	assert_int_equal(balance(f->s, "platform:fees"), 5);
	assert_int_equal(balance(f->s, "escrow:ord_1"), 0);
	assert_int_equal(balance(f->s, "refunds_in_transit"), -70);

	/* A kept account's balances, one per currency, by currency. */
	struct esc_transfer usd =
		transfer("t5", "ord_2", "fail", "refunds_in_transit", "buyer:usr_b", 9);
	COPY(usd.currency, "USD");
	append(f->s, usd);
	struct esc_balance b[4];
	size_t n = 99;
	int rc;
	ESC_STORE(rc, f->s, balances_of, "buyer:usr_b", b, 4, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
	assert_string_equal(b[0].currency, "EUR");
	assert_int_equal(b[0].amount_minor, 40);
	assert_string_equal(b[1].currency, "USD");
	assert_int_equal(b[1].amount_minor, 9);
	ESC_STORE(rc, f->s, balances_of, "buyer:usr_b", b, 1, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 1);
	ESC_STORE(rc, f->s, balances_of, "seller:usr_nobody", b, 4, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 0);
}

static void balance_of_an_account_without_entries_is_zero(void **state)
{
	struct store_fixture *f = *state;
	int64_t v = -1;
	int rc;

	assert_int_equal(balance(f->s, "buyer:usr_nobody"), 0);
	assert_int_equal(balance(f->s, "escrow:ord_nothing"), 0);
	append(f->s, transfer("t1", "ord_1", "fail", "external", "buyer:usr_b", 70));
	ESC_STORE(rc, f->s, balance_get, "buyer:usr_b", "USD", &v);
	assert_int_equal(rc, 0);
	assert_int_equal(v, 0);
}

static void transfer_of_a_negative_amount_is_invalid(void **state)
{
	struct store_fixture *f = *state;
	struct esc_transfer t = transfer("t1", "ord_1", "payment", "external", "escrow:ord_1", -1);
	int rc;

	ESC_STORE(rc, f->s, transfers_append, &t, 1, T0);
	assert_int_equal(rc, ESC_EINVAL);
	assert_int_equal(check_ledger(f->s)->transfers_count, 0);
}

/* ---- refunds ---- */

static void refund_insert_then_get_returns_every_field(void **state)
{
	struct store_fixture *f = *state;
	struct esc_refund r = refund("ord_1-r1", "ord_1", T0), got;
	int rc;

	r.method = ESC_METHOD_BALANCE;
	ESC_STORE(rc, f->s, refund_insert, &r);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, refund_get, "ord_1-r1", &got);
	assert_int_equal(rc, 0);
	assert_string_equal(got.id, r.id);
	assert_string_equal(got.order_id, r.order_id);
	assert_int_equal(got.amount_minor, 700);
	assert_int_equal(got.method, ESC_METHOD_BALANCE);
	assert_int_equal(got.status, ESC_REFUND_PENDING);
	assert_int_equal(got.created_at_ms, T0);
	assert_int_equal(got.resolved_at_ms, 0);
	assert_int_equal(got.alert_due_ms, r.alert_due_ms);
	assert_int_equal(got.settle_days_min, 3);
	assert_int_equal(got.settle_days_max, 7);
}

static void refund_insert_of_a_taken_id_is_duplicate(void **state)
{
	struct store_fixture *f = *state;
	struct esc_refund r = refund("ord_1-r1", "ord_1", T0);
	int rc;

	ESC_STORE(rc, f->s, refund_insert, &r);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, refund_insert, &r);
	assert_int_equal(rc, ESC_EDUPLICATE);
}

/* /metrics' escrowd_refunds_overdue: pending refunds whose alert is due
 * (raised: alert_due_ms 0; or due and not fired yet), never resolved
 * ones. */
static void refunds_overdue_counts_pending_refunds_past_their_alert(void **state)
{
	struct store_fixture *f = *state;
	struct esc_refund early = refund("ord_1-r1", "ord_1", T0),
			  late = refund("ord_2-r1", "ord_2", T0 + ESC_MS_PER_DAY),
			  raised = refund("ord_3-r1", "ord_3", T0),
			  settled = refund("ord_4-r1", "ord_4", T0);
	int64_t n = -1;
	int rc;

	raised.alert_due_ms = 0;
	settled.status = ESC_REFUND_SETTLED;
	settled.resolved_at_ms = T0 + 1;
	settled.alert_due_ms = 0;
	const struct esc_refund *all[] = {&early, &late, &raised, &settled};
	for (size_t i = 0; i < 4; i++) {
		ESC_STORE(rc, f->s, refund_insert, all[i]);
		assert_int_equal(rc, 0);
	}
	ESC_STORE(rc, f->s, refunds_overdue, T0, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 1); /* raised */
	ESC_STORE(rc, f->s, refunds_overdue, early.alert_due_ms, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2); /* and early, due now */
	ESC_STORE(rc, f->s, refunds_overdue, late.alert_due_ms, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 3);
}

static void refund_update_writes_status_and_times(void **state)
{
	struct store_fixture *f = *state;
	struct esc_refund r = refund("ord_1-r1", "ord_1", T0), got;
	int rc;

	ESC_STORE(rc, f->s, refund_insert, &r);
	assert_int_equal(rc, 0);
	r.status = ESC_REFUND_FAILED;
	r.resolved_at_ms = T0 + 50;
	r.alert_due_ms = 0;
	ESC_STORE(rc, f->s, refund_update, &r);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, refund_get, "ord_1-r1", &got);
	assert_int_equal(rc, 0);
	assert_int_equal(got.status, ESC_REFUND_FAILED);
	assert_int_equal(got.resolved_at_ms, T0 + 50);
	assert_int_equal(got.alert_due_ms, 0);
}

/* A party's refunds: those of the orders they bought (or sold), in a
 * status or all, oldest first, after a cursor. */
static void refunds_of_a_party_are_their_orders_refunds(void **state)
{
	struct store_fixture *f = *state;
	struct esc_order os[3] = {order("ord_1", "usr_b1", "usr_s1"),
				  order("ord_2", "usr_b2", "usr_s1"),
				  order("ord_3", "usr_b1", "usr_s2")};
	struct esc_refund rs[4] = {
		refund("ord_1-r1", "ord_1", T0 + 1),
		refund("ord_2-r1", "ord_2", T0 + 2),
		refund("ord_3-r1", "ord_3", T0 + 3),
		refund("ord_1-r2", "ord_1", T0 + 4),
	};
	struct esc_refund got[4];
	size_t n = 99;
	int rc;

	for (int i = 0; i < 3; i++)
		insert_order(f->s, &os[i]);
	rs[2].status = ESC_REFUND_SETTLED;
	for (int i = 0; i < 4; i++) {
		ESC_STORE(rc, f->s, refund_insert, &rs[i]);
		assert_int_equal(rc, 0);
	}
	ESC_STORE(rc, f->s, refunds_of, "usr_b1", false, -1, NULL, got, 4, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 3);
	assert_string_equal(got[0].id, "ord_1-r1");
	assert_string_equal(got[1].id, "ord_3-r1");
	assert_string_equal(got[2].id, "ord_1-r2");
	ESC_STORE(rc, f->s, refunds_of, "usr_b1", false, ESC_REFUND_PENDING, NULL, got, 4, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
	assert_string_equal(got[1].id, "ord_1-r2");
	ESC_STORE(rc, f->s, refunds_of, "usr_s1", true, -1, NULL, got, 4, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 3);
	assert_string_equal(got[1].id, "ord_2-r1");
	ESC_STORE(rc, f->s, refunds_of, "usr_s1", true, -1, "ord_1-r1", got, 1, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 1);
	assert_string_equal(got[0].id, "ord_2-r1");
	/* A buyer's id as a seller's, and one with no orders: none. */
	ESC_STORE(rc, f->s, refunds_of, "usr_b1", true, -1, NULL, got, 4, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 0);
	ESC_STORE(rc, f->s, refunds_of, "usr_none", false, -1, NULL, got, 4, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 0);
}

static void refund_get_and_update_of_missing_id_are_not_found(void **state)
{
	struct store_fixture *f = *state;
	struct esc_refund r = refund("ord_1-r1", "ord_1", T0), got;
	int rc;

	ESC_STORE(rc, f->s, refund_get, "ord_1-r1", &got);
	assert_int_equal(rc, ESC_ENOTFOUND);
	ESC_STORE(rc, f->s, refund_update, &r);
	assert_int_equal(rc, ESC_ENOTFOUND);
}

static void refunds_list_filters_by_order_and_status_oldest_first(void **state)
{
	struct store_fixture *f = *state;
	struct esc_refund rs[4] = {
		refund("ord_1-r1", "ord_1", T0 + 1),
		refund("ord_2-r1", "ord_2", T0 + 2),
		refund("ord_1-r2", "ord_1", T0 + 3),
		refund("ord_1-r3", "ord_1", T0 + 4),
	};
	struct esc_refund got[4];
	size_t n = 99;
	int rc;

	rs[2].status = ESC_REFUND_SETTLED;
	for (int i = 0; i < 4; i++) {
		ESC_STORE(rc, f->s, refund_insert, &rs[i]);
		assert_int_equal(rc, 0);
	}
	ESC_STORE(rc, f->s, refunds_list, "ord_1", -1, NULL, got, 4, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 3);
	assert_string_equal(got[0].id, "ord_1-r1");
	assert_string_equal(got[1].id, "ord_1-r2");
	assert_string_equal(got[2].id, "ord_1-r3");
	ESC_STORE(rc, f->s, refunds_list, "ord_1", ESC_REFUND_PENDING, NULL, got, 4, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
	assert_string_equal(got[0].id, "ord_1-r1");
	assert_string_equal(got[1].id, "ord_1-r3");
	ESC_STORE(rc, f->s, refunds_list, NULL, ESC_REFUND_PENDING, NULL, got, 4, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 3);
	assert_string_equal(got[1].id, "ord_2-r1");
	ESC_STORE(rc, f->s, refunds_list, NULL, -1, NULL, got, 2, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
	/* A cursor: the ones after a refund, in the same order. */
	ESC_STORE(rc, f->s, refunds_list, NULL, -1, "ord_2-r1", got, 4, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
	assert_string_equal(got[0].id, "ord_1-r2");
	assert_string_equal(got[1].id, "ord_1-r3");
	ESC_STORE(rc, f->s, refunds_list, "ord_1", ESC_REFUND_PENDING, "ord_1-r1", got, 4, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 1);
	assert_string_equal(got[0].id, "ord_1-r3");
	ESC_STORE(rc, f->s, refunds_list, NULL, -1, "ref_unknown", got, 4, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 0);
}

/* ---- deadlines ---- */

static void deadlines_due_come_soonest_first_up_to_max(void **state)
{
	struct store_fixture *f = *state;
	struct esc_deadline got[4];

	set_deadline(f->s, "ord_3", ESC_DL_SHIP, T0 + 30, true);
	set_deadline(f->s, "ord_1", ESC_DL_PAYMENT, T0 + 10, true);
	set_deadline(f->s, "ord_2", ESC_DL_CONFIRM, T0 + 20, true);
	set_deadline(f->s, "ord_4", ESC_DL_PROTECTION, T0 + 40, true);
	assert_int_equal(due(f->s, T0 + 100, got, 3), 3);
	assert_string_equal(got[0].order_id, "ord_1");
	assert_int_equal(got[0].kind, ESC_DL_PAYMENT);
	assert_int_equal(got[0].due_ms, T0 + 10);
	assert_string_equal(got[1].order_id, "ord_2");
	assert_int_equal(got[1].kind, ESC_DL_CONFIRM);
	assert_string_equal(got[2].order_id, "ord_3");
}

static void deadline_due_exactly_now_is_due_and_one_later_is_not(void **state)
{
	struct store_fixture *f = *state;
	struct esc_deadline got[2];

	set_deadline(f->s, "ord_1", ESC_DL_SHIP, T0, true);
	assert_int_equal(due(f->s, T0 - 1, got, 2), 0);
	assert_int_equal(due(f->s, T0, got, 2), 1);
	assert_int_equal(got[0].due_ms, T0);
}

static void deadline_delete_removes_only_that_row(void **state)
{
	struct store_fixture *f = *state;
	struct esc_deadline got[3];

	set_deadline(f->s, "ord_1", ESC_DL_SHIP, T0, true);
	set_deadline(f->s, "ord_1", ESC_DL_RESPONSE, T0, true);
	set_deadline(f->s, "ord_1", ESC_DL_SHIP, T0, false);
	assert_int_equal(due(f->s, T0, got, 3), 1);
	assert_int_equal(got[0].kind, ESC_DL_RESPONSE);
}

static void deadline_set_twice_is_one_row(void **state)
{
	struct store_fixture *f = *state;
	struct esc_deadline got[3];

	set_deadline(f->s, "ord_1", ESC_DL_SHIP, T0, true);
	set_deadline(f->s, "ord_1", ESC_DL_SHIP, T0, true);
	assert_int_equal(due(f->s, T0, got, 3), 1);
}

static void deadline_of_a_refund_keeps_its_ref(void **state)
{
	struct store_fixture *f = *state;
	struct esc_deadline_op op = {true, ESC_DL_REFUND, T0, "ord_1-r2"};
	struct esc_deadline got[2];
	int rc;

	ESC_STORE(rc, f->s, deadline_apply, "ord_1", &op);
	assert_int_equal(rc, 0);
	assert_int_equal(due(f->s, T0, got, 2), 1);
	assert_int_equal(got[0].kind, ESC_DL_REFUND);
	assert_string_equal(got[0].ref, "ord_1-r2");
}

static size_t claim(struct esc_store *s, int64_t now, const char *owner, int64_t real,
		    struct esc_deadline *out, size_t max)
{
	size_t n = 99;
	int rc;

	ESC_STORE(rc, s, deadlines_claim, now, owner, real, out, max, &n);
	assert_int_equal(rc, 0);
	return n;
}

/* Real time, for leases: another day than T0, as the machine's clock is
 * not escrowd's. */
#define R0 (T0 + 1000 * INT64_C(86400) * 3)

/* Process id's lease: lease_ms from its heartbeat at real. */
static void beat(struct esc_store *s, const char *id, int64_t real, int64_t lease_ms)
{
	struct esc_process p = {.started_ms = R0, .heartbeat_ms = real, .lease_ms = lease_ms};
	int rc;

	copy(p.id, sizeof p.id, id);
	ESC_STORE(rc, s, process_beat, &p);
	assert_int_equal(rc, 0);
}

/* /metrics' escrowd_deadline_oldest_due_seconds: the soonest row's due
 * time, claimed or not; 0 for an empty queue. */
static void deadline_soonest_is_the_queue_head_or_zero(void **state)
{
	struct store_fixture *f = *state;
	struct esc_deadline got[1];
	int64_t due = -1;
	int rc;

	ESC_STORE(rc, f->s, deadline_soonest, &due);
	assert_int_equal(rc, 0);
	assert_int_equal(due, 0);
	set_deadline(f->s, "ord_2", ESC_DL_SHIP, T0 + 20, true);
	set_deadline(f->s, "ord_1", ESC_DL_PAYMENT, T0 + 10, true);
	beat(f->s, "worker-a", R0, 1000);
	assert_int_equal(claim(f->s, T0 + 10, "worker-a", R0, got, 1), 1);
	ESC_STORE(rc, f->s, deadline_soonest, &due);
	assert_int_equal(rc, 0);
	assert_int_equal(due, T0 + 10);
	set_deadline(f->s, "ord_1", ESC_DL_PAYMENT, T0 + 10, false);
	ESC_STORE(rc, f->s, deadline_soonest, &due);
	assert_int_equal(rc, 0);
	assert_int_equal(due, T0 + 20);
}

static void deadlines_claim_takes_due_rows_soonest_first_up_to_max(void **state)
{
	struct store_fixture *f = *state;
	struct esc_deadline got[4];

	set_deadline(f->s, "ord_3", ESC_DL_SHIP, T0 + 30, true);
	set_deadline(f->s, "ord_1", ESC_DL_PAYMENT, T0 + 10, true);
	set_deadline(f->s, "ord_2", ESC_DL_CONFIRM, T0 + 20, true);
	set_deadline(f->s, "ord_4", ESC_DL_PROTECTION, T0 + 51, true);
	beat(f->s, "worker-a", R0, 1000);
	beat(f->s, "worker-b", R0, 1000);
	assert_int_equal(claim(f->s, T0 + 50, "worker-a", R0, got, 2), 2);
	assert_string_equal(got[0].order_id, "ord_1");
	assert_int_equal(got[0].kind, ESC_DL_PAYMENT);
	assert_int_equal(got[0].due_ms, T0 + 10);
	assert_string_equal(got[1].order_id, "ord_2");
	assert_int_equal(got[1].kind, ESC_DL_CONFIRM);
	/* What a holds is not handed out again; ord_4 is not due yet. */
	assert_int_equal(claim(f->s, T0 + 50, "worker-b", R0, got, 4), 1);
	assert_string_equal(got[0].order_id, "ord_3");
	assert_int_equal(claim(f->s, T0 + 50, "worker-c", R0, got, 4), 0);
}

/* Rows due at one time (a manual clock's orders made at once) are
 * claimed in key order, max at a time, past the rows another holds. */
static void deadlines_due_at_one_time_are_claimed_in_key_order(void **state)
{
	struct store_fixture *f = *state;
	struct esc_deadline got[5];
	char id[16];

	for (int i = 5; i >= 1; i--) {
		snprintf(id, sizeof id, "ord_%d", i);
		set_deadline(f->s, id, ESC_DL_SHIP, T0, true);
	}
	beat(f->s, "worker-a", R0, 1000);
	beat(f->s, "worker-b", R0, 1000);
	assert_int_equal(claim(f->s, T0, "worker-a", R0, got, 2), 2);
	assert_string_equal(got[0].order_id, "ord_1");
	assert_string_equal(got[1].order_id, "ord_2");
	assert_int_equal(claim(f->s, T0, "worker-b", R0, got, 2), 2);
	assert_string_equal(got[0].order_id, "ord_3");
	assert_string_equal(got[1].order_id, "ord_4");
	/* Fewer left than max: all of them. */
	assert_int_equal(claim(f->s, T0, "worker-c", R0, got, 5), 1);
	assert_string_equal(got[0].order_id, "ord_5");
}

/* The lease is real time: escrowd's clock (a manual one, say) moving on
 * does not end it, and it ends on time whatever that clock says. */
static void a_claim_passes_to_another_owner_when_its_lease_ends(void **state)
{
	struct store_fixture *f = *state;
	struct esc_deadline got[2];

	set_deadline(f->s, "ord_1", ESC_DL_SHIP, T0, true);
	beat(f->s, "worker-a", R0, 60);
	assert_int_equal(claim(f->s, T0, "worker-a", R0, got, 2), 1);
	assert_int_equal(claim(f->s, T0 + 1000 * INT64_C(86400), "worker-b", R0 + 59, got, 2), 0);
	assert_int_equal(claim(f->s, T0, "worker-b", R0 + 60, got, 2), 1);
	assert_string_equal(got[0].order_id, "ord_1");
	assert_int_equal(got[0].kind, ESC_DL_SHIP);
	/* Now b's, which has no lease either: a may take it back. */
	assert_int_equal(claim(f->s, T0, "worker-a", R0 + 60, got, 2), 1);
}

static void a_heartbeat_renews_the_lease_of_every_claim_of_its_process(void **state)
{
	struct store_fixture *f = *state;
	struct esc_deadline got[2];

	set_deadline(f->s, "ord_1", ESC_DL_SHIP, T0, true);
	beat(f->s, "worker-a", R0, 60);
	assert_int_equal(claim(f->s, T0, "worker-a", R0, got, 2), 1);
	beat(f->s, "worker-a", R0 + 50, 60);
	assert_int_equal(claim(f->s, T0, "worker-b", R0 + 109, got, 2), 0);
	assert_int_equal(claim(f->s, T0, "worker-b", R0 + 110, got, 2), 1);
}

static void a_claim_of_a_process_without_a_row_is_free(void **state)
{
	struct store_fixture *f = *state;
	struct esc_deadline got[2];

	set_deadline(f->s, "ord_1", ESC_DL_SHIP, T0, true);
	assert_int_equal(claim(f->s, T0, "worker-a", R0, got, 2), 1);
	assert_int_equal(claim(f->s, T0, "worker-b", R0, got, 2), 1);
}

/* A row a worker claimed but could not fire (and could not give back) is
 * its to take again, while its lease holds the others off. */
static void an_owner_claims_its_own_rows_again(void **state)
{
	struct store_fixture *f = *state;
	struct esc_deadline got[2];

	set_deadline(f->s, "ord_1", ESC_DL_SHIP, T0, true);
	beat(f->s, "worker-a", R0, 60);
	assert_int_equal(claim(f->s, T0, "worker-a", R0, got, 2), 1);
	assert_int_equal(claim(f->s, T0, "worker-a", R0 + 1, got, 2), 1);
	assert_int_equal(claim(f->s, T0, "worker-b", R0 + 1, got, 2), 0);
}

static void a_deadline_set_again_drops_its_claim(void **state)
{
	struct store_fixture *f = *state;
	struct esc_deadline got[2];

	set_deadline(f->s, "ord_1", ESC_DL_SHIP, T0, true);
	beat(f->s, "worker-a", R0, 60);
	assert_int_equal(claim(f->s, T0, "worker-a", R0, got, 2), 1);
	set_deadline(f->s, "ord_1", ESC_DL_SHIP, T0, true);
	assert_int_equal(claim(f->s, T0, "worker-b", R0, got, 2), 1);
}

static void a_claimed_deadline_is_deleted_like_any_other(void **state)
{
	struct store_fixture *f = *state;
	struct esc_deadline got[2];

	set_deadline(f->s, "ord_1", ESC_DL_SHIP, T0, true);
	beat(f->s, "worker-a", R0, 60);
	assert_int_equal(claim(f->s, T0, "worker-a", R0, got, 2), 1);
	set_deadline(f->s, "ord_1", ESC_DL_SHIP, T0, false);
	assert_int_equal(due(f->s, T0 + 1000, got, 2), 0);
	assert_int_equal(claim(f->s, T0 + 1000, "worker-b", R0 + 2000, got, 2), 0);
}

static void deadlines_release_gives_back_one_owners_claims(void **state)
{
	struct store_fixture *f = *state;
	struct esc_deadline got[2];
	int rc;

	set_deadline(f->s, "ord_1", ESC_DL_SHIP, T0, true);
	set_deadline(f->s, "ord_2", ESC_DL_SHIP, T0, true);
	beat(f->s, "worker-a", R0, 60);
	beat(f->s, "worker-b", R0, 60);
	assert_int_equal(claim(f->s, T0, "worker-a", R0, got, 1), 1);
	assert_int_equal(claim(f->s, T0, "worker-b", R0, got, 1), 1);
	ESC_STORE(rc, f->s, deadlines_release, "worker-a");
	assert_int_equal(rc, 0);
	assert_int_equal(claim(f->s, T0, "worker-c", R0, got, 2), 1);
	assert_string_equal(got[0].order_id, "ord_1");
}

static void deadlines_release_of_no_owner_gives_back_every_claim(void **state)
{
	struct store_fixture *f = *state;
	struct esc_deadline got[2];
	int rc;

	set_deadline(f->s, "ord_1", ESC_DL_SHIP, T0, true);
	set_deadline(f->s, "ord_2", ESC_DL_SHIP, T0, true);
	beat(f->s, "worker-a", R0, 60);
	beat(f->s, "worker-b", R0, 60);
	assert_int_equal(claim(f->s, T0, "worker-a", R0, got, 1), 1);
	assert_int_equal(claim(f->s, T0, "worker-b", R0, got, 1), 1);
	ESC_STORE(rc, f->s, deadlines_release, NULL);
	assert_int_equal(rc, 0);
	assert_int_equal(claim(f->s, T0, "worker-c", R0, got, 2), 2);
}

static void process_beat_moves_the_heartbeat_and_keeps_the_start(void **state)
{
	struct store_fixture *f = *state;
	struct esc_process p = {.started_ms = R0, .heartbeat_ms = R0, .lease_ms = 15000}, got;
	int rc;

	copy(p.id, sizeof p.id, "prc_0123456789abcdef");
	ESC_STORE(rc, f->s, process_beat, &p);
	assert_int_equal(rc, 0);
	p.started_ms = R0 + 7; /* not the row's to change */
	p.heartbeat_ms = R0 + 5000;
	p.lease_ms = 2000;
	ESC_STORE(rc, f->s, process_beat, &p);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, process_get, p.id, &got);
	assert_int_equal(rc, 0);
	assert_string_equal(got.id, p.id);
	assert_int_equal(got.started_ms, R0);
	assert_int_equal(got.heartbeat_ms, R0 + 5000);
	assert_int_equal(got.lease_ms, 2000);
}

static void process_end_deletes_the_row_once(void **state)
{
	struct store_fixture *f = *state;
	struct esc_process got;
	int rc;

	beat(f->s, "worker-a", R0, 60);
	ESC_STORE(rc, f->s, process_end, "worker-a");
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, process_get, "worker-a", &got);
	assert_int_equal(rc, ESC_ENOTFOUND);
	ESC_STORE(rc, f->s, process_end, "worker-a");
	assert_int_equal(rc, 0);
}

static void processes_purge_forgets_only_ended_leases(void **state)
{
	struct store_fixture *f = *state;
	struct esc_process got;
	int rc;

	beat(f->s, "worker-a", R0, 60);
	beat(f->s, "worker-b", R0, 61);
	ESC_STORE(rc, f->s, processes_purge, R0 + 60);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, process_get, "worker-a", &got);
	assert_int_equal(rc, ESC_ENOTFOUND);
	ESC_STORE(rc, f->s, process_get, "worker-b", &got);
	assert_int_equal(rc, 0);
}

static void a_row_claimed_through_one_store_is_not_claimed_through_another(void **state)
{
	struct store_fixture *f = *state;
	struct esc_deadline got[2];
	struct esc_store *other = NULL;
	char err[256] = "";
	int rc;

	set_deadline(f->s, "ord_1", ESC_DL_SHIP, T0, true);
	set_deadline(f->s, "ord_2", ESC_DL_SHIP, T0 + 1, true);
	rc = esc_store_open(f->url, &other, err, sizeof err);
	assert_int_equal(rc, 0);
	ESC_STORE0(rc, f->s, begin);
	assert_int_equal(rc, 0);
	beat(f->s, "worker-a", R0, 60);
	assert_int_equal(claim(f->s, T0 + 5, "worker-a", R0, got, 1), 1);
	ESC_STORE0(rc, f->s, commit);
	assert_int_equal(rc, 0);
	ESC_STORE0(rc, other, begin);
	assert_int_equal(rc, 0);
	beat(other, "worker-b", R0, 60);
	assert_int_equal(claim(other, T0 + 5, "worker-b", R0, got, 2), 1);
	assert_string_equal(got[0].order_id, "ord_2");
	ESC_STORE0(rc, other, commit);
	assert_int_equal(rc, 0);
	esc_store_close(other);
}

static int64_t rate_add(struct esc_store *s, const char *key, int64_t window_start, int64_t delta)
{
	int64_t count = -1;
	int rc;

	ESC_STORE(rc, s, rate_hit, key, window_start, delta, &count);
	assert_int_equal(rc, 0);
	return count;
}

static int64_t rate_hit(struct esc_store *s, const char *key, int64_t window_start)
{
	return rate_add(s, key, window_start, 1);
}

static void rate_hit_counts_the_attempts_of_a_window_per_key(void **state)
{
	struct store_fixture *f = *state;

	assert_int_equal(rate_hit(f->s, "login:1.2.3.4", T0), 1);
	assert_int_equal(rate_hit(f->s, "login:1.2.3.4", T0), 2);
	assert_int_equal(rate_hit(f->s, "login:5.6.7.8", T0), 1);
	assert_int_equal(rate_hit(f->s, "login:1.2.3.4", T0), 3);
}

static void rate_hit_in_a_new_window_starts_from_one(void **state)
{
	struct store_fixture *f = *state;

	assert_int_equal(rate_hit(f->s, "login:1.2.3.4", T0), 1);
	assert_int_equal(rate_hit(f->s, "login:1.2.3.4", T0), 2);
	assert_int_equal(rate_hit(f->s, "login:1.2.3.4", T0 + 60000), 1);
	assert_int_equal(rate_hit(f->s, "login:1.2.3.4", T0 + 60000), 2);
	/* A lagging caller's attempt counts in the key's current window. */
	assert_int_equal(rate_hit(f->s, "login:1.2.3.4", T0), 3);
	assert_int_equal(rate_hit(f->s, "login:1.2.3.4", T0 + 120000), 1);
}

/* A sign-in found right takes back the failure counted in advance: only
 * from the window it was counted in, and never below nothing. */
static void rate_hit_takes_back_only_from_the_window_named(void **state)
{
	struct store_fixture *f = *state;

	assert_int_equal(rate_add(f->s, "login:1.2.3.4", T0, 3), 3);
	assert_int_equal(rate_add(f->s, "login:1.2.3.4", T0, -1), 2);
	assert_int_equal(rate_add(f->s, "login:1.2.3.4", T0, -5), 0);
	assert_int_equal(rate_hit(f->s, "login:1.2.3.4", T0), 1);
	/* The window has moved on: what the old one counted is not taken
	 * from the new one. */
	assert_int_equal(rate_hit(f->s, "login:1.2.3.4", T0 + 60000), 1);
	assert_int_equal(rate_add(f->s, "login:1.2.3.4", T0, -1), 1);
	assert_int_equal(rate_add(f->s, "login:1.2.3.4", T0 + 60000, -1), 0);
	/* Taking back from a key never counted leaves it at nothing. */
	assert_int_equal(rate_add(f->s, "login:5.6.7.8", T0, -1), 0);
	assert_int_equal(rate_hit(f->s, "login:5.6.7.8", T0), 1);
	/* Taking back in a window newer than the key's starts it empty. */
	assert_int_equal(rate_add(f->s, "login:5.6.7.8", T0 + 60000, -1), 0);
	assert_int_equal(rate_hit(f->s, "login:5.6.7.8", T0), 1);
}

static void rate_hits_survive_close_and_reopen(void **state)
{
	struct store_fixture *f = *state;

	assert_int_equal(rate_hit(f->s, "login:1.2.3.4", T0), 1);
	reopen(f);
	assert_int_equal(rate_hit(f->s, "login:1.2.3.4", T0), 2);
}

/* ---- outbox, marks, meta ---- */

static void outbox_append_adds_one_row(void **state)
{
	struct store_fixture *f = *state;
	struct esc_outbox_row row = {.at_ms = T0,
				     .type = "order.paid",
				     .order_id = "ord_1",
				     .version = 2,
				     .payload = "{\"id\":\"ord_1\"}"};
	int64_t n = -1;
	int rc;

	ESC_STORE(rc, f->s, outbox_count, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 0);
	ESC_STORE(rc, f->s, outbox_append, &row);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, outbox_append, &row);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, outbox_count, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
}

/* GET /v1/events's verb: oldest first after a seq, by exact type, by
 * family prefix and by order, each payload returned whole. */
static void events_list_filters_by_seq_type_family_and_order(void **state)
{
	struct store_fixture *f = *state;
	static const struct {
		const char *type, *order_id;
	} rows[] = {{"order.created", "ord_1"},
		    {"order.paid", "ord_1"},
		    {"cancellation.requested", "ord_2"},
		    {"reputation.suspension_lifted", ""}};
	struct esc_outbox_row out[8];
	char *payloads[8];
	size_t n = 0;
	int rc;

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct esc_outbox_row row = {.at_ms = T0 + (int64_t)i,
					     .version = (int64_t)i,
					     .payload = "{\"object\":{\"id\":\"x\"}}"};
		snprintf(row.type, sizeof row.type, "%s", rows[i].type);
		snprintf(row.order_id, sizeof row.order_id, "%s", rows[i].order_id);
		ESC_STORE(rc, f->s, outbox_append, &row);
		assert_int_equal(rc, 0);
	}
	struct esc_event_filter all = {0};
	ESC_STORE(rc, f->s, events_list, &all, out, payloads, 8, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 4);
	assert_string_equal(out[0].type, "order.created");
	assert_string_equal(out[3].order_id, "");
	assert_true(out[0].seq < out[1].seq && out[2].seq < out[3].seq);
	assert_int_equal(out[2].at_ms, T0 + 2);
	assert_int_equal(out[2].version, 2);
	assert_string_equal(out[1].payload, "{\"object\":{\"id\":\"x\"}}");
	int64_t second = out[1].seq;
	for (size_t i = 0; i < n; i++)
		free(payloads[i]);

	struct esc_event_filter after = {.after_seq = second};
	ESC_STORE(rc, f->s, events_list, &after, out, payloads, 1, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 1);
	assert_string_equal(out[0].type, "cancellation.requested");
	free(payloads[0]);

	struct esc_event_filter family = {.type_prefix = "order."};
	ESC_STORE(rc, f->s, events_list, &family, out, payloads, 8, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++)
		free(payloads[i]);

	struct esc_event_filter exact = {.type = "order.paid", .order_id = "ord_1"};
	ESC_STORE(rc, f->s, events_list, &exact, out, payloads, 8, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].seq, second);
	free(payloads[0]);

	struct esc_event_filter other = {.order_id = "ord_2", .type_prefix = "order."};
	ESC_STORE(rc, f->s, events_list, &other, out, payloads, 8, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 0);
}

static void mark_counts_count_marks_strictly_after_each_window_start(void **state)
{
	struct store_fixture *f = *state;
	struct esc_rep_counts c;
	int rc;

	/* at T0-90: in neither window (the start is excluded); T0-50: long
	 * only; T0-30 (short start, excluded) long only; T0-10: both. */
	int64_t times[] = {T0 - 90, T0 - 50, T0 - 30, T0 - 10};
	for (int i = 0; i < 4; i++) {
		char oid[16];
		snprintf(oid, sizeof oid, "ord_%d", i);
		ESC_STORE(rc, f->s, mark_append, "usr_b", ESC_MARK_BUYER_CANCELLED, oid, times[i],
			  NULL);
		assert_int_equal(rc, 0);
	}
	ESC_STORE(rc, f->s, mark_append, "usr_b", ESC_MARK_BUYER_PAID, "ord_9", T0 - 10, NULL);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, mark_append, "usr_other", ESC_MARK_BUYER_PAID, "ord_9", T0 - 10, NULL);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, mark_counts, "usr_b", T0 - 30, T0 - 90, &c);
	assert_int_equal(rc, 0);
	assert_int_equal(c.short_[ESC_MARK_BUYER_CANCELLED], 1);
	assert_int_equal(c.long_[ESC_MARK_BUYER_CANCELLED], 3);
	assert_int_equal(c.short_[ESC_MARK_BUYER_PAID], 1);
	assert_int_equal(c.long_[ESC_MARK_BUYER_PAID], 1);
	assert_int_equal(c.long_[ESC_MARK_SELLER_SOLD], 0);
}

/* marks_tally adds the marks of (after, upto] to what n holds, by kind,
 * the user's only. */
static void marks_tally_adds_a_users_marks_between_two_times(void **state)
{
	struct store_fixture *f = *state;
	int32_t n[ESC_MARK_COUNT] = {0};
	int rc;

	int64_t times[] = {T0 - 20, T0 - 10, T0 - 10, T0};
	for (int i = 0; i < 4; i++) {
		char oid[16];
		snprintf(oid, sizeof oid, "ord_%d", i);
		ESC_STORE(rc, f->s, mark_append, "usr_b",
			  i == 2 ? ESC_MARK_BUYER_DISPUTE_LOST : ESC_MARK_BUYER_CANCELLED, oid,
			  times[i], NULL);
		assert_int_equal(rc, 0);
	}
	ESC_STORE(rc, f->s, mark_append, "usr_other", ESC_MARK_BUYER_CANCELLED, "ord_9", T0 - 10,
		  NULL);
	assert_int_equal(rc, 0);
	n[ESC_MARK_BUYER_CANCELLED] = 5;
	ESC_STORE(rc, f->s, marks_tally, "usr_b", T0 - 20, T0 - 10, n);
	assert_int_equal(rc, 0);
	assert_int_equal(n[ESC_MARK_BUYER_CANCELLED], 6);
	assert_int_equal(n[ESC_MARK_BUYER_DISPUTE_LOST], 1);
	memset(n, 0, sizeof n);
	ESC_STORE(rc, f->s, marks_tally, "usr_b", T0 - 21, T0, n);
	assert_int_equal(rc, 0);
	assert_int_equal(n[ESC_MARK_BUYER_CANCELLED], 3);
	assert_int_equal(n[ESC_MARK_BUYER_DISPUTE_LOST], 1);
	assert_int_equal(n[ESC_MARK_BUYER_PAID], 0);
	memset(n, 0, sizeof n);
	ESC_STORE(rc, f->s, marks_tally, "usr_b", T0, T0 + 100, n);
	assert_int_equal(rc, 0);
	assert_int_equal(n[ESC_MARK_BUYER_CANCELLED], 0);
}

/* A write transaction begun, and read_ahead asked for ra where the
 * backend has it. */
static void begin_reading_ahead(struct esc_store *s, const struct esc_read_ahead *ra)
{
	int rc;

	ESC_STORE0(rc, s, begin);
	assert_int_equal(rc, 0);
	if (s->ops->read_ahead) {
		ESC_STORE(rc, s, read_ahead, ra);
		assert_int_equal(rc, 0);
	}
}

/* Issue 15: read_ahead (PostgreSQL's one round trip for a batch's reads)
 * changes no answer: in a write transaction, what it read is what the
 * verbs give, until a write of the transaction changes a row, and after
 * a savepoint's rollback of that write; ids that no row can have (quotes,
 * braces, bytes that are not UTF-8, too long) fail nothing. A backend
 * without it (SQLite) gives the same answers. */
static void reads_after_read_ahead_are_the_transactions_own(void **state)
{
	struct store_fixture *f = *state;
	struct esc_order o = order("ord_1", "usr_b", "usr_s"), got;
	struct esc_user b = user("usr_b", "b@example.com"), s = user("usr_s", "s@example.com"), u;
	struct esc_refund r = refund("ord_1-r1", "ord_1", T0), rg;
	struct esc_item items[3];
	struct esc_rep_counts c;
	size_t n = 0;
	int rc;

	s.role = ESC_ACTOR_SELLER;
	ESC_STORE(rc, f->s, user_insert, &b);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, user_insert, &s);
	assert_int_equal(rc, 0);
	insert_order(f->s, &o);
	ESC_STORE(rc, f->s, refund_insert, &r);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, mark_append, "usr_b", ESC_MARK_BUYER_PAID, "ord_0", T0 - 10, NULL);
	assert_int_equal(rc, 0);
	/* A mark at the batch's time already (the same fact again adds
	 * nothing). */
	ESC_STORE(rc, f->s, mark_append, "usr_s", ESC_MARK_SELLER_SOLD, "ord_0", T0 - 5, NULL);
	assert_int_equal(rc, 0);
	bool added = false;
	struct esc_message msg = {.at_ms = T0, .role = ESC_ACTOR_SELLER};
	COPY(msg.order_id, "ord_1");
	COPY(msg.author_id, "usr_s");
	COPY(msg.body, "Shipping tomorrow");
	ESC_STORE(rc, f->s, message_append, &msg);
	assert_int_equal(rc, 0);
	struct esc_refund list[ESC_REFUNDS_MAX];
	int64_t unread = -1;

	const char *orders[] = {"ord_1", "ord_\"}{,\\", "ord_\xff\xfe", "ord_missing",
				"ord_0123456789012345678901234567890123456789012345678901234567"};
	const char *users[] = {"usr_b", "usr_\"'"};
	const char *refunds[] = {"ord_1-r1", "x}"};
	const char *unread_orders[] = {"ord_1", "ord_1", "ord_\"", "ord_missing"};
	const char *unread_users[] = {"usr_b", "usr_s", "usr_b", "usr_b"};
	struct esc_read_ahead ra = {.order_ids = orders,
				    .unread_order_ids = unread_orders,
				    .unread_user_ids = unread_users,
				    .unread_count = 4,
				    .orders_count = 5,
				    .user_ids = users,
				    .users_count = 2,
				    .refund_ids = refunds,
				    .refunds_count = 2,
				    .buyer_since_ms = {T0 - 30, T0 - 90},
				    .seller_since_ms = {T0 - 30, T0 - 120},
				    .at_ms = T0 - 5};
	begin_reading_ahead(f->s, &ra);
	/* What was read ahead, as the verbs read it. */
	ESC_STORE(rc, f->s, order_get, "ord_1", &got);
	assert_int_equal(rc, 0);
	esc_assert_orders_equal(&got, &o);
	ESC_STORE(rc, f->s, order_get, "ord_missing", &got);
	assert_int_equal(rc, ESC_ENOTFOUND);
	ESC_STORE(rc, f->s, order_items, "ord_1", items, 1, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 1);
	ESC_STORE(rc, f->s, order_items, "ord_1", items, 3, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
	assert_string_equal(items[0].title, "Blue scarf");
	assert_string_equal(items[1].title, "Red hat");
	assert_int_equal(items[1].unit_price_minor, 9345);
	ESC_STORE(rc, f->s, user_get, "usr_s", &u);
	assert_int_equal(rc, 0);
	assert_string_equal(u.email, "s@example.com");
	assert_int_equal(u.role, ESC_ACTOR_SELLER);
	ESC_STORE(rc, f->s, refund_get, "ord_1-r1", &rg);
	assert_int_equal(rc, 0);
	assert_int_equal(rg.amount_minor, 700);
	ESC_STORE(rc, f->s, mark_counts, "usr_b", T0 - 30, T0 - 90, &c);
	assert_int_equal(rc, 0);
	assert_int_equal(c.short_[ESC_MARK_BUYER_PAID], 1);
	ESC_STORE(rc, f->s, mark_counts, "usr_s", T0 - 30, T0 - 120, &c);
	assert_int_equal(rc, 0);
	assert_int_equal(c.long_[ESC_MARK_SELLER_SOLD], 1);
	ESC_STORE(rc, f->s, messages_unread, "usr_b", "ord_1", &unread);
	assert_int_equal(rc, 0);
	assert_int_equal(unread, 1);
	ESC_STORE(rc, f->s, messages_unread, "usr_s", "ord_1", &unread);
	assert_int_equal(rc, 0);
	assert_int_equal(unread, 0);
	ESC_STORE(rc, f->s, refunds_list, "ord_1", -1, NULL, list, ESC_REFUNDS_MAX, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].id, "ord_1-r1");

	/* The transaction's writes, read back: marks, the same fact once,
	 * one undone by a savepoint's rollback, ... */
	ESC_STORE(rc, f->s, mark_append, "usr_s", ESC_MARK_SELLER_SOLD, "ord_0", T0 - 5, &added);
	assert_int_equal(rc, 0);
	assert_false(added);
	ESC_STORE0(rc, f->s, savepoint);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, mark_append, "usr_s", ESC_MARK_SELLER_MISSED_SHIP, "ord_1", T0 - 5,
		  &added);
	assert_int_equal(rc, 0);
	assert_true(added);
	ESC_STORE(rc, f->s, mark_append, "usr_s", ESC_MARK_SELLER_MISSED_SHIP, "ord_1", T0 - 5,
		  &added);
	assert_int_equal(rc, 0);
	assert_false(added);
	ESC_STORE0(rc, f->s, savepoint_rollback);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, mark_append, "usr_s", ESC_MARK_SELLER_MISSED_SHIP, "ord_1", T0 - 5,
		  &added);
	assert_int_equal(rc, 0);
	assert_true(added);
	/* ... a refund newer than the order's others, ... */
	struct esc_refund r2 = refund("ord_1-r2", "ord_1", T0 + 3);
	ESC_STORE(rc, f->s, refund_insert, &r2);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, refunds_list, "ord_1", -1, NULL, list, ESC_REFUNDS_MAX, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].id, "ord_1-r1");
	assert_string_equal(list[1].id, "ord_1-r2");
	ESC_STORE(rc, f->s, refunds_list, "ord_1", -1, NULL, list, 1, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].id, "ord_1-r1");
	COPY(msg.body, "Or today");
	msg.at_ms = T0 + 4;
	ESC_STORE(rc, f->s, message_append, &msg);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, messages_unread, "usr_b", "ord_1", &unread);
	assert_int_equal(rc, 0);
	assert_int_equal(unread, 2);

	/* ... and the rows read ahead. */
	ESC_STORE(rc, f->s, mark_append, "usr_b", ESC_MARK_BUYER_CANCELLED, "ord_1", T0 - 5,
		  &added);
	assert_int_equal(rc, 0);
	assert_true(added);
	ESC_STORE(rc, f->s, mark_append, "usr_b", ESC_MARK_BUYER_CANCELLED, "ord_1", T0 - 5,
		  &added);
	assert_int_equal(rc, 0);
	assert_false(added);
	ESC_STORE(rc, f->s, mark_counts, "usr_b", T0 - 30, T0 - 90, &c);
	assert_int_equal(rc, 0);
	assert_int_equal(c.short_[ESC_MARK_BUYER_CANCELLED], 1);
	assert_int_equal(c.short_[ESC_MARK_BUYER_PAID], 1);
	ESC_STORE(rc, f->s, mark_append, "usr_s", ESC_MARK_SELLER_SOLD, "ord_1", T0 - 5, NULL);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, mark_counts, "usr_s", T0 - 30, T0 - 120, &c);
	assert_int_equal(rc, 0);
	assert_int_equal(c.long_[ESC_MARK_SELLER_SOLD], 2);
	assert_int_equal(c.long_[ESC_MARK_SELLER_MISSED_SHIP], 1);
	struct esc_order o2 = o;
	o2.version = o.version + 1;
	o2.state = ESC_ST_DELIVERED;
	ESC_STORE(rc, f->s, order_update, &o2, o.version);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, order_get, "ord_1", &got);
	assert_int_equal(rc, 0);
	assert_int_equal(got.version, o2.version);
	assert_int_equal(got.state, ESC_ST_DELIVERED);
	s.suspension_lifted_at_ms = T0 + 1;
	COPY(s.name, "Renamed Seller");
	ESC_STORE(rc, f->s, user_update, &s);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, user_get, "usr_s", &u);
	assert_int_equal(rc, 0);
	assert_string_equal(u.name, "Renamed Seller");
	r.status = ESC_REFUND_SETTLED;
	r.resolved_at_ms = T0 + 2;
	ESC_STORE(rc, f->s, refund_update, &r);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, refund_get, "ord_1-r1", &rg);
	assert_int_equal(rc, 0);
	assert_int_equal(rg.status, ESC_REFUND_SETTLED);

	/* A write undone by a savepoint's rollback: the row as it was. */
	ESC_STORE0(rc, f->s, savepoint);
	assert_int_equal(rc, 0);
	struct esc_order o3 = o2;
	o3.version = o2.version + 1;
	o3.state = ESC_ST_CLOSED;
	ESC_STORE(rc, f->s, order_update, &o3, o2.version);
	assert_int_equal(rc, 0);
	ESC_STORE0(rc, f->s, savepoint_rollback);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, order_get, "ord_1", &got);
	assert_int_equal(rc, 0);
	assert_int_equal(got.version, o2.version);
	ESC_STORE0(rc, f->s, commit);
	assert_int_equal(rc, 0);

	/* The next transaction reads what this one wrote. */
	begin_reading_ahead(f->s, &ra);
	ESC_STORE(rc, f->s, order_get, "ord_1", &got);
	assert_int_equal(rc, 0);
	assert_int_equal(got.version, o2.version);
	ESC_STORE(rc, f->s, mark_counts, "usr_b", T0 - 30, T0 - 90, &c);
	assert_int_equal(rc, 0);
	assert_int_equal(c.short_[ESC_MARK_BUYER_CANCELLED], 1);
	ESC_STORE(rc, f->s, user_get, "usr_s", &u);
	assert_int_equal(rc, 0);
	assert_string_equal(u.name, "Renamed Seller");
	ESC_STORE(rc, f->s, messages_unread, "usr_b", "ord_1", &unread);
	assert_int_equal(rc, 0);
	assert_int_equal(unread, 2);
	/* A refund inserted, then undone by a savepoint's rollback. */
	ESC_STORE0(rc, f->s, savepoint);
	assert_int_equal(rc, 0);
	struct esc_refund r3 = refund("ord_1-r3", "ord_1", T0 + 6);
	ESC_STORE(rc, f->s, refund_insert, &r3);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, refunds_list, "ord_1", -1, NULL, list, ESC_REFUNDS_MAX, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 3);
	assert_string_equal(list[2].id, "ord_1-r3");
	ESC_STORE0(rc, f->s, savepoint_rollback);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, refunds_list, "ord_1", -1, NULL, list, ESC_REFUNDS_MAX, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].id, "ord_1-r1");
	assert_int_equal(list[0].status, ESC_REFUND_SETTLED);
	assert_string_equal(list[1].id, "ord_1-r2");
	ESC_STORE0(rc, f->s, rollback);
	assert_int_equal(rc, 0);
}

/* Issue 15: counts come from counters that mark_append keeps and
 * mark_counts moves with the windows, exact at every window start: later
 * (marks leave), earlier (a process whose clock lags), inside a write
 * transaction (the moved counters are kept) and outside it. */
static void mark_counts_follow_each_window_as_it_moves(void **state)
{
	struct store_fixture *f = *state;
	struct esc_rep_counts c;
	int rc;

	int64_t times[] = {T0 - 50, T0 - 40, T0 - 30, T0 - 20};
	for (int i = 0; i < 4; i++) {
		char oid[16];
		snprintf(oid, sizeof oid, "ord_%d", i);
		ESC_STORE(rc, f->s, mark_append, "usr_s", ESC_MARK_SELLER_SOLD, oid, times[i],
			  NULL);
		assert_int_equal(rc, 0);
	}
	ESC_STORE(rc, f->s, mark_append, "usr_s", ESC_MARK_SELLER_MISSED_SHIP, "ord_1", T0 - 40,
		  NULL);
	assert_int_equal(rc, 0);
	/* Windows starting at T0-35 and T0-55, in a transaction: kept. */
	ESC_STORE0(rc, f->s, begin);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, mark_counts, "usr_s", T0 - 35, T0 - 55, &c);
	assert_int_equal(rc, 0);
	assert_int_equal(c.short_[ESC_MARK_SELLER_SOLD], 2);
	assert_int_equal(c.long_[ESC_MARK_SELLER_SOLD], 4);
	assert_int_equal(c.short_[ESC_MARK_SELLER_MISSED_SHIP], 0);
	assert_int_equal(c.long_[ESC_MARK_SELLER_MISSED_SHIP], 1);
	/* A mark after the kept starts counts in both; one before the short
	 * start in the long window only. */
	ESC_STORE(rc, f->s, mark_append, "usr_s", ESC_MARK_SELLER_SOLD, "ord_5", T0 - 10, NULL);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, mark_append, "usr_s", ESC_MARK_SELLER_SOLD, "ord_6", T0 - 45, NULL);
	assert_int_equal(rc, 0);
	ESC_STORE0(rc, f->s, commit);
	assert_int_equal(rc, 0);
	assert_int_equal(check_ledger(f->s)->problems_count, 0);
	/* Later: T0-40 is the start, excluded; T0-20 leaves the short one. */
	ESC_STORE(rc, f->s, mark_counts, "usr_s", T0 - 20, T0 - 40, &c);
	assert_int_equal(rc, 0);
	assert_int_equal(c.short_[ESC_MARK_SELLER_SOLD], 1);
	assert_int_equal(c.long_[ESC_MARK_SELLER_SOLD], 3);
	assert_int_equal(c.long_[ESC_MARK_SELLER_MISSED_SHIP], 0);
	/* Earlier than any start kept: the marks come back. */
	ESC_STORE(rc, f->s, mark_counts, "usr_s", T0 - 60, T0 - 60, &c);
	assert_int_equal(rc, 0);
	assert_int_equal(c.short_[ESC_MARK_SELLER_SOLD], 6);
	assert_int_equal(c.long_[ESC_MARK_SELLER_SOLD], 6);
	assert_int_equal(c.long_[ESC_MARK_SELLER_MISSED_SHIP], 1);
	/* A user with no marks has no counters, and counts nothing. */
	ESC_STORE(rc, f->s, mark_counts, "usr_none", T0 - 60, T0 - 60, &c);
	assert_int_equal(rc, 0);
	assert_int_equal(c.long_[ESC_MARK_SELLER_SOLD], 0);
	assert_int_equal(check_ledger(f->s)->problems_count, 0);
}

static void marks_list_gives_marks_after_a_time_newest_first(void **state)
{
	struct store_fixture *f = *state;
	struct esc_mark_row got[4];
	size_t n = 99;
	int rc;

	ESC_STORE(rc, f->s, mark_append, "usr_b", ESC_MARK_BUYER_PAID, "ord_1", T0 - 30, NULL);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, mark_append, "usr_b", ESC_MARK_BUYER_CANCELLED, "ord_2", T0 - 10, NULL);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, mark_append, "usr_b", ESC_MARK_BUYER_PAID, "ord_0", T0 - 90, NULL);
	assert_int_equal(rc, 0);
	/* The same fact again is one mark, and the call says it added none. */
	bool added = true;
	ESC_STORE(rc, f->s, mark_append, "usr_b", ESC_MARK_BUYER_PAID, "ord_1", T0 - 30, &added);
	assert_int_equal(rc, 0);
	assert_false(added);
	ESC_STORE(rc, f->s, mark_append, "usr_y", ESC_MARK_BUYER_PAID, "ord_1", T0 - 30, &added);
	assert_int_equal(rc, 0);
	assert_true(added);
	ESC_STORE(rc, f->s, mark_append, "usr_x", ESC_MARK_BUYER_PAID, "ord_3", T0 - 5, NULL);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, marks_list, "usr_b", T0 - 90, got, 4, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
	assert_int_equal(got[0].at_ms, T0 - 10);
	assert_string_equal(got[0].order_id, "ord_2");
	assert_int_equal(got[0].mark, ESC_MARK_BUYER_CANCELLED);
	assert_int_equal(got[1].at_ms, T0 - 30);
	assert_int_equal(got[1].mark, ESC_MARK_BUYER_PAID);
}

static void lifts_list_gives_a_users_lifts_newest_first(void **state)
{
	struct store_fixture *f = *state;
	struct esc_lift a = {"usr_b", T0, "usr_arb", "Paid back"}, b = a, got[3];
	size_t n = 99;
	int rc;

	b.at_ms = T0 + 10;
	FILL(b.reason, 'w');
	ESC_STORE(rc, f->s, lift_insert, &a);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, lift_insert, &b);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, lifts_list, "usr_b", got, 3, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
	assert_string_equal(got[0].user_id, "usr_b");
	assert_int_equal(got[0].at_ms, T0 + 10);
	assert_string_equal(got[0].reason, b.reason);
	assert_string_equal(got[1].arbiter_id, "usr_arb");
	assert_string_equal(got[1].reason, "Paid back");
	ESC_STORE(rc, f->s, lifts_list, "usr_other", got, 3, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 0);
}

static struct esc_message message(const char *order_id, const char *body)
{
	struct esc_message m;

	memset(&m, 0, sizeof m);
	COPY(m.order_id, order_id);
	m.at_ms = T0;
	COPY(m.author_id, "usr_b");
	m.role = ESC_ACTOR_BUYER;
	COPY(m.body, body);
	return m;
}

static void messages_are_numbered_per_order_and_listed_after_a_seq(void **state)
{
	struct store_fixture *f = *state;
	struct esc_message m, got[4];
	size_t n = 99;
	int rc;

	for (int i = 0; i < 3; i++) {
		m = message("ord_1", "Where is it?");
		m.at_ms = T0 + i;
		ESC_STORE(rc, f->s, message_append, &m);
		assert_int_equal(rc, 0);
		assert_int_equal(m.seq, i + 1);
	}
	m = message("ord_2", "Hello");
	m.role = ESC_ACTOR_SELLER;
	FILL(m.body, 'b');
	ESC_STORE(rc, f->s, message_append, &m);
	assert_int_equal(rc, 0);
	assert_int_equal(m.seq, 1);
	ESC_STORE(rc, f->s, messages_list, "ord_1", 1, got, 4, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
	assert_int_equal(got[0].seq, 2);
	assert_int_equal(got[0].at_ms, T0 + 1);
	assert_string_equal(got[0].order_id, "ord_1");
	assert_string_equal(got[0].author_id, "usr_b");
	assert_int_equal(got[0].role, ESC_ACTOR_BUYER);
	assert_string_equal(got[0].body, "Where is it?");
	assert_int_equal(got[1].seq, 3);
	ESC_STORE(rc, f->s, messages_list, "ord_2", 0, got, 4, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 1);
	assert_int_equal(got[0].role, ESC_ACTOR_SELLER);
	assert_string_equal(got[0].body, m.body);
}

/* Issue 17 item 3: a party's read marker counts the other party's
 * messages after it as unread, per order and over all the party's orders,
 * and never moves back; the conversations put the unread ones first. */
static void message_read_markers_count_what_the_other_party_wrote(void **state)
{
	struct store_fixture *f = *state;
	struct esc_order o1 = order("ord_1", "usr_b", "usr_s"),
			 o2 = order("ord_2", "usr_b", "usr_s");
	struct esc_conversation c[4];
	struct esc_message m;
	size_t n = 99;
	int64_t unread = -1;
	int rc;

	insert_order(f->s, &o1);
	insert_order(f->s, &o2);
	for (int i = 0; i < 2; i++) {
		m = message("ord_1", "Where is it?");
		m.at_ms = T0 + i;
		ESC_STORE(rc, f->s, message_append, &m);
		assert_int_equal(rc, 0);
	}
	m = message("ord_2", "Shipped today");
	COPY(m.author_id, "usr_s");
	m.role = ESC_ACTOR_SELLER;
	m.at_ms = T0 + 5;
	ESC_STORE(rc, f->s, message_append, &m);
	assert_int_equal(rc, 0);

	ESC_STORE(rc, f->s, messages_unread, "usr_s", NULL, &unread);
	assert_int_equal(rc, 0);
	assert_int_equal(unread, 2);
	ESC_STORE(rc, f->s, messages_unread, "usr_b", NULL, &unread);
	assert_int_equal(unread, 1);
	ESC_STORE(rc, f->s, message_read, "ord_1", "usr_s", 1);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, messages_unread, "usr_s", "ord_1", &unread);
	assert_int_equal(unread, 1);
	ESC_STORE(rc, f->s, message_read, "ord_1", "usr_s", 0); /* never back */
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, messages_unread, "usr_s", "ord_1", &unread);
	assert_int_equal(unread, 1);
	ESC_STORE(rc, f->s, message_read, "ord_1", "usr_s", 2);
	ESC_STORE(rc, f->s, messages_unread, "usr_s", NULL, &unread);
	assert_int_equal(unread, 0);
	ESC_STORE(rc, f->s, messages_unread, "usr_x", NULL, &unread);
	assert_int_equal(unread, 0);

	/* The buyer: ord_2 has one unread, ord_1 none, though newer. */
	ESC_STORE(rc, f->s, conversations_list, "usr_b", NULL, c, 4, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
	assert_string_equal(c[0].last.order_id, "ord_2");
	assert_int_equal(c[0].unread, 1);
	assert_int_equal(c[0].messages, 1);
	assert_string_equal(c[0].last.body, "Shipped today");
	assert_int_equal(c[0].last.role, ESC_ACTOR_SELLER);
	assert_string_equal(c[1].last.order_id, "ord_1");
	assert_int_equal(c[1].unread, 0);
	assert_int_equal(c[1].messages, 2);
	assert_int_equal(c[1].last.seq, 2);
	ESC_STORE(rc, f->s, conversations_list, "usr_b", "ord_2", c, 4, &n);
	assert_int_equal(n, 1);
	assert_string_equal(c[0].last.order_id, "ord_1");
	ESC_STORE(rc, f->s, conversations_list, "usr_b", "ord_9", c, 4, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 0);
}

/* Issue 17 item 4: a user's notifications are the history lines of their
 * orders that others wrote, newest first before a mark; the mark counts
 * the unread and never moves back. */
static void notifications_are_the_others_history_of_ones_orders(void **state)
{
	struct store_fixture *f = *state;
	struct esc_order o1 = order("ord_1", "usr_b", "usr_seller");
	struct esc_order o2 = order("ord_2", "usr_other", "usr_seller");
	struct esc_history_row got[8];
	struct esc_notification_mark all = {INT64_MAX, INT64_MAX}, mark;
	size_t n = 99;
	int64_t unread = -1;
	int rc;

	insert_order(f->s, &o1);
	insert_order(f->s, &o2);
	for (int v = 1; v <= 3; v++) {
		struct esc_history h = history("ord_1", v);
		append_history(f->s, &h);
	}
	struct esc_history mine = history("ord_1", 4);
	COPY(mine.actor_id, "usr_b");
	mine.actor = ESC_ACTOR_BUYER;
	append_history(f->s, &mine);
	struct esc_history other = history("ord_2", 1);
	append_history(f->s, &other);

	ESC_STORE(rc, f->s, notifications_list, "usr_b", &all, got, 8, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 3);
	assert_int_equal(got[0].h.version, 3);
	assert_int_equal(got[2].h.version, 1);
	assert_string_equal(got[0].h.order_id, "ord_1");
	assert_int_equal(got[0].h.event, ESC_EV_SHIP);
	struct esc_notification_mark before = {got[1].h.at_ms, got[1].seq};
	ESC_STORE(rc, f->s, notifications_list, "usr_b", &before, got, 8, &n);
	assert_int_equal(n, 1);
	assert_int_equal(got[0].h.version, 1);

	ESC_STORE(rc, f->s, notification_mark, "usr_b", &mark);
	assert_int_equal(rc, 0);
	assert_int_equal(mark.at_ms, 0);
	assert_int_equal(mark.seq, 0);
	ESC_STORE(rc, f->s, notifications_unread, "usr_b", &mark, &unread);
	assert_int_equal(unread, 3);
	ESC_STORE(rc, f->s, notification_read, "usr_b", &before);
	assert_int_equal(rc, 0);
	struct esc_notification_mark older = {before.at_ms - 1, 1};
	ESC_STORE(rc, f->s, notification_read, "usr_b", &older); /* never back */
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, notification_mark, "usr_b", &mark);
	assert_int_equal(mark.at_ms, before.at_ms);
	assert_int_equal(mark.seq, before.seq);
	ESC_STORE(rc, f->s, notifications_unread, "usr_b", &mark, &unread);
	assert_int_equal(unread, 1);
	/* The seller's: the buyer's line only, the others being their own
	 * (history() is usr_seller's). */
	ESC_STORE(rc, f->s, notifications_list, "usr_seller", &all, got, 8, &n);
	assert_int_equal(n, 1);
	assert_int_equal(got[0].h.version, 4);
}

static struct esc_evidence evidence(const char *order_id, int64_t size)
{
	struct esc_evidence ev;

	memset(&ev, 0, sizeof ev);
	COPY(ev.order_id, order_id);
	ev.at_ms = T0;
	COPY(ev.author_id, "usr_b");
	ev.role = ESC_ACTOR_BUYER;
	COPY(ev.content_type, "image/png");
	FILL(ev.filename, 'f');
	ev.size = size;
	hash_hex(ev.sha256, 'e');
	return ev;
}

static void evidence_keeps_every_byte_and_is_numbered_per_order(void **state)
{
	struct store_fixture *f = *state;
	unsigned char bytes[300];
	struct esc_evidence ev, got[3];
	void *data = NULL;
	size_t n = 99;
	int rc;

	/* Every byte value, NUL and invalid UTF-8 included. */
	for (size_t i = 0; i < sizeof bytes; i++)
		bytes[i] = (unsigned char)(i * 7);
	ev = evidence("ord_1", 3);
	ESC_STORE(rc, f->s, evidence_append, &ev, "abc");
	assert_int_equal(rc, 0);
	assert_int_equal(ev.seq, 1);
	ev = evidence("ord_1", sizeof bytes);
	ev.role = ESC_ACTOR_SELLER;
	ESC_STORE(rc, f->s, evidence_append, &ev, bytes);
	assert_int_equal(rc, 0);
	assert_int_equal(ev.seq, 2);
	ESC_STORE(rc, f->s, evidence_list, "ord_1", got, 3, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
	assert_int_equal(got[0].seq, 1);
	assert_int_equal(got[0].size, 3);
	assert_int_equal(got[1].seq, 2);
	assert_int_equal(got[1].role, ESC_ACTOR_SELLER);
	ESC_STORE(rc, f->s, evidence_get, "ord_1", 2, &got[2], &data);
	assert_int_equal(rc, 0);
	assert_string_equal(got[2].order_id, "ord_1");
	assert_int_equal(got[2].at_ms, T0);
	assert_string_equal(got[2].author_id, "usr_b");
	assert_string_equal(got[2].content_type, "image/png");
	assert_string_equal(got[2].filename, ev.filename);
	assert_int_equal(got[2].size, sizeof bytes);
	assert_string_equal(got[2].sha256, ev.sha256);
	assert_memory_equal(data, bytes, sizeof bytes);
	free(data);
	data = NULL;
	ESC_STORE(rc, f->s, evidence_get, "ord_1", 3, &got[2], &data);
	assert_int_equal(rc, ESC_ENOTFOUND);
	assert_null(data);
}

static void evidence_of_no_bytes_reads_back_empty(void **state)
{
	struct store_fixture *f = *state;
	struct esc_evidence ev = evidence("ord_1", 0), got;
	void *data = NULL;
	int rc;

	ESC_STORE(rc, f->s, evidence_append, &ev, "");
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, evidence_get, "ord_1", 1, &got, &data);
	assert_int_equal(rc, 0);
	assert_int_equal(got.size, 0);
	assert_non_null(data);
	free(data);
}

/* A file that says it has bytes but brings none is refused, not read from
 * wherever its pointer falls. */
static void evidence_of_bytes_without_data_is_refused(void **state)
{
	struct store_fixture *f = *state;
	struct esc_evidence ev = evidence("ord_1", 64), got[1];
	size_t n = 99;
	int rc;

	ESC_STORE(rc, f->s, evidence_append, &ev, NULL);
	assert_int_not_equal(rc, 0);
	ESC_STORE(rc, f->s, evidence_list, "ord_1", got, 1, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 0);
}

static void meta_get_of_a_missing_key_is_not_found(void **state)
{
	struct store_fixture *f = *state;
	int64_t v = 0;
	int rc;

	ESC_STORE(rc, f->s, meta_get, "clock", &v);
	assert_int_equal(rc, ESC_ENOTFOUND);
}

static void meta_set_overwrites_the_value(void **state)
{
	struct store_fixture *f = *state;
	int64_t v = 0;
	int rc;

	ESC_STORE(rc, f->s, meta_set, "clock", T0);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, meta_set, "clock", T0 + 5);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, meta_get, "clock", &v);
	assert_int_equal(rc, 0);
	assert_int_equal(v, T0 + 5);
}

/* ---- sessions and API keys ---- */

/* A session with every field set, csrf to its full length. */
static struct esc_session session(char c)
{
	struct esc_session se;

	memset(&se, 0, sizeof se);
	hash_hex(se.token_hash, c);
	COPY(se.user_id, "usr_a");
	FILL(se.csrf, 'x');
	se.csrf[0] = c;
	se.created_at_ms = T0;
	se.last_seen_ms = T0 + 1;
	return se;
}

static void insert_session(struct esc_store *s, const struct esc_session *se)
{
	int rc;

	ESC_STORE(rc, s, session_insert, se);
	assert_int_equal(rc, 0);
}

/* A user and a session of theirs: a read connection's caller. */
static void insert_caller(struct esc_store *s, const struct esc_user *u,
			  const struct esc_session *se)
{
	int rc;

	ESC_STORE(rc, s, user_insert, u);
	assert_int_equal(rc, 0);
	insert_session(s, se);
}

static void session_insert_then_get_returns_every_field(void **state)
{
	struct store_fixture *f = *state;
	struct esc_session se = session('a'), got;
	int rc;

	insert_session(f->s, &se);
	ESC_STORE(rc, f->s, session_get, se.token_hash, &got);
	assert_int_equal(rc, 0);
	assert_string_equal(got.token_hash, se.token_hash);
	assert_string_equal(got.user_id, "usr_a");
	assert_string_equal(got.csrf, se.csrf);
	assert_int_equal(got.created_at_ms, T0);
	assert_int_equal(got.last_seen_ms, T0 + 1);
}

static void session_get_of_missing_hash_is_not_found(void **state)
{
	struct store_fixture *f = *state;
	struct esc_session se = session('a'), got;
	int rc;

	insert_session(f->s, &se);
	se = session('b');
	ESC_STORE(rc, f->s, session_get, se.token_hash, &got);
	assert_int_equal(rc, ESC_ENOTFOUND);
}

static void session_insert_of_taken_hash_is_duplicate(void **state)
{
	struct store_fixture *f = *state;
	struct esc_session se = session('a');
	int rc;

	insert_session(f->s, &se);
	COPY(se.user_id, "usr_b");
	ESC_STORE(rc, f->s, session_insert, &se);
	assert_int_equal(rc, ESC_EDUPLICATE);
}

static void session_touch_moves_last_seen_only(void **state)
{
	struct store_fixture *f = *state;
	struct esc_session se = session('a'), other = session('b'), got;
	int rc;

	insert_session(f->s, &se);
	insert_session(f->s, &other);
	ESC_STORE(rc, f->s, session_touch, se.token_hash, T0 + 60000);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, session_get, se.token_hash, &got);
	assert_int_equal(rc, 0);
	assert_int_equal(got.last_seen_ms, T0 + 60000);
	assert_int_equal(got.created_at_ms, T0);
	assert_string_equal(got.user_id, "usr_a");
	assert_string_equal(got.csrf, se.csrf);
	ESC_STORE(rc, f->s, session_get, other.token_hash, &got);
	assert_int_equal(rc, 0);
	assert_int_equal(got.last_seen_ms, T0 + 1);
}

static void session_touch_of_missing_hash_is_not_found(void **state)
{
	struct store_fixture *f = *state;
	struct esc_session se = session('a');
	int rc;

	ESC_STORE(rc, f->s, session_touch, se.token_hash, T0 + 60000);
	assert_int_equal(rc, ESC_ENOTFOUND);
}

static void session_delete_then_get_is_not_found(void **state)
{
	struct store_fixture *f = *state;
	struct esc_session se = session('a'), other = session('b'), got;
	int rc;

	insert_session(f->s, &se);
	insert_session(f->s, &other);
	ESC_STORE(rc, f->s, session_delete, se.token_hash);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, session_get, se.token_hash, &got);
	assert_int_equal(rc, ESC_ENOTFOUND);
	ESC_STORE(rc, f->s, session_get, other.token_hash, &got);
	assert_int_equal(rc, 0);
}

static void session_delete_of_missing_hash_is_not_found(void **state)
{
	struct store_fixture *f = *state;
	struct esc_session se = session('a');
	int rc;

	ESC_STORE(rc, f->s, session_delete, se.token_hash);
	assert_int_equal(rc, ESC_ENOTFOUND);
}

/* ---- webhook endpoints ---- */

/* An endpoint with every field set, the long ones to their full length. */
static struct esc_webhook_endpoint endpoint(const char *id)
{
	struct esc_webhook_endpoint w;

	memset(&w, 0, sizeof w);
	COPY(w.id, id);
	COPY(w.url, "https://example.com/hooks");
	FILL(w.description, 'd');
	FILL(w.events, 'e');
	COPY(w.events, "order.* refund.created");
	w.enabled = 1;
	FILL(w.secret, 's');
	FILL(w.secret_previous, 'p');
	w.secret_previous_until_ms = T0 + 5;
	w.created_at_ms = T0;
	w.updated_at_ms = T0 + 1;
	w.failing_since_ms = T0 + 2;
	w.disabled_at_ms = T0 + 3;
	return w;
}

static void insert_endpoint(struct esc_store *s, const struct esc_webhook_endpoint *w)
{
	int rc;

	ESC_STORE(rc, s, webhook_endpoint_insert, w);
	assert_int_equal(rc, 0);
}

static void assert_endpoint_equal(const struct esc_webhook_endpoint *got,
				  const struct esc_webhook_endpoint *want)
{
	assert_string_equal(got->id, want->id);
	assert_string_equal(got->url, want->url);
	assert_string_equal(got->description, want->description);
	assert_string_equal(got->events, want->events);
	assert_int_equal(got->enabled, want->enabled);
	assert_string_equal(got->secret, want->secret);
	assert_string_equal(got->secret_previous, want->secret_previous);
	assert_int_equal(got->secret_previous_until_ms, want->secret_previous_until_ms);
	assert_int_equal(got->created_at_ms, want->created_at_ms);
	assert_int_equal(got->updated_at_ms, want->updated_at_ms);
	assert_int_equal(got->failing_since_ms, want->failing_since_ms);
	assert_int_equal(got->disabled_at_ms, want->disabled_at_ms);
}

static void webhook_endpoint_insert_then_get_returns_every_field(void **state)
{
	struct store_fixture *f = *state;
	struct esc_webhook_endpoint w = endpoint("whe_a"), got;
	int rc;

	FILL(w.url, 'u');
	insert_endpoint(f->s, &w);
	ESC_STORE(rc, f->s, webhook_endpoint_get, "whe_a", &got);
	assert_int_equal(rc, 0);
	assert_endpoint_equal(&got, &w);
}

static void webhook_endpoint_get_of_missing_id_is_not_found(void **state)
{
	struct store_fixture *f = *state;
	struct esc_webhook_endpoint w = endpoint("whe_a"), got;
	int rc;

	insert_endpoint(f->s, &w);
	ESC_STORE(rc, f->s, webhook_endpoint_get, "whe_b", &got);
	assert_int_equal(rc, ESC_ENOTFOUND);
}

static void webhook_endpoint_insert_of_taken_id_is_duplicate(void **state)
{
	struct store_fixture *f = *state;
	struct esc_webhook_endpoint w = endpoint("whe_a");
	int rc;

	insert_endpoint(f->s, &w);
	ESC_STORE(rc, f->s, webhook_endpoint_insert, &w);
	assert_int_equal(rc, ESC_EDUPLICATE);
}

/* Every field is written but the id and the time of creation. */
static void webhook_endpoint_update_writes_all_but_id_and_creation(void **state)
{
	struct store_fixture *f = *state;
	struct esc_webhook_endpoint w = endpoint("whe_a"), other = endpoint("whe_b"), got;
	int rc;

	insert_endpoint(f->s, &w);
	insert_endpoint(f->s, &other);
	COPY(w.url, "http://example.org/other");
	COPY(w.description, "new");
	COPY(w.events, "*");
	w.enabled = 0;
	COPY(w.secret, "whsec_new");
	COPY(w.secret_previous, "");
	w.secret_previous_until_ms = 0;
	w.updated_at_ms = T0 + 10;
	w.failing_since_ms = 0;
	w.disabled_at_ms = T0 + 11;
	w.created_at_ms = T0 + 99; /* not written */
	ESC_STORE(rc, f->s, webhook_endpoint_update, &w);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, webhook_endpoint_get, "whe_a", &got);
	assert_int_equal(rc, 0);
	w.created_at_ms = T0;
	assert_endpoint_equal(&got, &w);
	ESC_STORE(rc, f->s, webhook_endpoint_get, "whe_b", &got);
	assert_int_equal(rc, 0);
	assert_endpoint_equal(&got, &other);
}

static void webhook_endpoint_update_of_missing_id_is_not_found(void **state)
{
	struct store_fixture *f = *state;
	struct esc_webhook_endpoint w = endpoint("whe_a");
	int rc;

	ESC_STORE(rc, f->s, webhook_endpoint_update, &w);
	assert_int_equal(rc, ESC_ENOTFOUND);
}

static void webhook_endpoint_delete_then_get_is_not_found(void **state)
{
	struct store_fixture *f = *state;
	struct esc_webhook_endpoint w = endpoint("whe_a"), other = endpoint("whe_b"), got;
	int rc;

	insert_endpoint(f->s, &w);
	insert_endpoint(f->s, &other);
	ESC_STORE(rc, f->s, webhook_endpoint_delete, "whe_a");
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, webhook_endpoint_get, "whe_a", &got);
	assert_int_equal(rc, ESC_ENOTFOUND);
	ESC_STORE(rc, f->s, webhook_endpoint_get, "whe_b", &got);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, webhook_endpoint_delete, "whe_a");
	assert_int_equal(rc, ESC_ENOTFOUND);
}

/* Newest id first, a page at a time, with whether more follow. */
static void webhook_endpoints_list_pages_by_id_descending(void **state)
{
	struct store_fixture *f = *state;
	static const char *const ids[] = {"whe_b", "whe_d", "whe_a", "whe_c", "whe_e"};
	struct esc_webhook_endpoint w, got[4];
	bool more = true;
	size_t n = 99;
	int rc;

	ESC_STORE(rc, f->s, webhook_endpoints_list, NULL, got, 4, &n, &more);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 0);
	assert_false(more);
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		w = endpoint(ids[i]);
		insert_endpoint(f->s, &w);
	}
	int64_t count = 0;
	ESC_STORE(rc, f->s, webhook_endpoints_count, &count);
	assert_int_equal(rc, 0);
	assert_int_equal(count, 5);
	ESC_STORE(rc, f->s, webhook_endpoints_list, NULL, got, 2, &n, &more);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
	assert_true(more);
	assert_string_equal(got[0].id, "whe_e");
	assert_string_equal(got[1].id, "whe_d");
	w = endpoint("whe_e");
	assert_endpoint_equal(&got[0], &w);
	ESC_STORE(rc, f->s, webhook_endpoints_list, "whe_d", got, 3, &n, &more);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 3);
	assert_false(more);
	assert_string_equal(got[0].id, "whe_c");
	assert_string_equal(got[2].id, "whe_a");
	ESC_STORE(rc, f->s, webhook_endpoints_list, "whe_b", got, 4, &n, &more);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 1);
	assert_false(more);
	assert_string_equal(got[0].id, "whe_a");
}

/* An operator key of hash at at_ms, its id from the hash. */
static int insert_key(struct esc_store *s, const char *hash, int64_t at_ms)
{
	struct esc_api_key k = {.created_at_ms = at_ms};
	int rc;

	snprintf(k.id, sizeof k.id, "key_%.12s", hash);
	snprintf(k.name, sizeof k.name, "key %.4s", hash);
	snprintf(k.key_hash, sizeof k.key_hash, "%s", hash);
	ESC_STORE(rc, s, api_key_insert, &k);
	return rc;
}

/* Issue 18 item 7: a revoked key is no caller, and counts no more; a
 * key's last use moves at most once a minute. */
static void revoked_key_is_no_caller(void **state)
{
	struct store_fixture *f = *state;
	struct esc_session sg;
	struct esc_user ug;
	struct esc_api_key k[4];
	char a[ESC_HASH_HEX_SIZE], b[ESC_HASH_HEX_SIZE], id[ESC_ID_SIZE];
	bool is_key = false;
	int64_t used = 0, n = 0;
	size_t count = 0;
	int rc;

	hash_hex(a, 'a');
	hash_hex(b, 'b');
	assert_int_equal(insert_key(f->s, a, T0), 0);
	assert_int_equal(insert_key(f->s, b, T0 + 1), 0);
	ESC_STORE(rc, f->s, caller_get, a, &is_key, &used, NULL, &sg, &ug);
	assert_int_equal(rc, 0);
	assert_true(is_key);
	assert_int_equal(used, 0);
	snprintf(id, sizeof id, "key_%.12s", a);
	ESC_STORE(rc, f->s, api_key_revoke, id, T0 + 5);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, api_key_revoke, id, T0 + 6);
	assert_int_equal(rc, ESC_ENOTFOUND);
	ESC_STORE(rc, f->s, caller_get, a, &is_key, &used, NULL, &sg, &ug);
	assert_int_equal(rc, ESC_ENOTFOUND);
	assert_false(is_key);
	ESC_STORE(rc, f->s, api_key_exists, a);
	assert_int_equal(rc, ESC_ENOTFOUND);
	ESC_STORE(rc, f->s, api_keys_count, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 1);
	ESC_STORE(rc, f->s, api_keys_list, k, 4, &count);
	assert_int_equal(rc, 0);
	assert_int_equal(count, 2);
	assert_string_equal(k[0].id, id);
	assert_int_equal(k[0].revoked_at_ms, T0 + 5);
	assert_int_equal(k[1].revoked_at_ms, 0);
	assert_int_equal(k[1].created_at_ms, T0 + 1);
	assert_string_equal(k[1].key_hash, b);
	ESC_STORE(rc, f->s, api_key_get, k[1].id, &k[2]);
	assert_int_equal(rc, 0);
	assert_string_equal(k[2].name, k[1].name);
	ESC_STORE(rc, f->s, api_key_get, "key_none", &k[2]);
	assert_int_equal(rc, ESC_ENOTFOUND);

	ESC_STORE(rc, f->s, api_key_touch, b, T0 + 120000);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, api_key_touch, b, T0 + 150000); /* within the minute */
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, caller_get, b, &is_key, &used, NULL, &sg, &ug);
	assert_int_equal(rc, 0);
	assert_int_equal(used, T0 + 120000);
	ESC_STORE(rc, f->s, api_key_touch, b, T0 + 180000);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, caller_get, b, &is_key, &used, NULL, &sg, &ug);
	assert_int_equal(rc, 0);
	assert_int_equal(used, T0 + 180000);
}

/* Issue 15 lever 3: who a token is, in one statement: a session with its
 * user, a session whose user is not there, an operator key, or nothing. */
static void caller_get_reads_a_key_or_a_session_with_its_user(void **state)
{
	struct store_fixture *f = *state;
	struct esc_session se = session('a'), sg;
	struct esc_user u = user("usr_a", "a@example.test"), ug;
	char key[ESC_HASH_HEX_SIZE];
	bool is_key = true;
	int64_t used = 0;
	int rc;

	insert_session(f->s, &se);
	ESC_STORE(rc, f->s, caller_get, se.token_hash, &is_key, &used, NULL, &sg, &ug);
	assert_int_equal(rc, 0);
	assert_false(is_key);
	assert_string_equal(sg.token_hash, se.token_hash);
	assert_string_equal(ug.id, "");
	ESC_STORE(rc, f->s, user_insert, &u);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, caller_get, se.token_hash, &is_key, &used, NULL, &sg, &ug);
	assert_int_equal(rc, 0);
	assert_false(is_key);
	assert_string_equal(sg.user_id, "usr_a");
	assert_string_equal(sg.csrf, se.csrf);
	assert_int_equal(sg.created_at_ms, T0);
	assert_int_equal(sg.last_seen_ms, T0 + 1);
	assert_string_equal(ug.id, "usr_a");
	assert_int_equal(ug.role, ESC_ACTOR_BUYER);
	assert_string_equal(ug.name, u.name);
	assert_string_equal(ug.email, u.email);
	assert_string_equal(ug.password_hash, u.password_hash);
	assert_int_equal(ug.created_at_ms, T0);

	hash_hex(key, 'k');
	rc = insert_key(f->s, key, T0);
	assert_int_equal(rc, 0);
	char key_id[ESC_ID_SIZE] = "?", want[ESC_ID_SIZE];
	ESC_STORE(rc, f->s, caller_get, key, &is_key, &used, key_id, &sg, &ug);
	assert_int_equal(rc, 0);
	assert_true(is_key);
	snprintf(want, sizeof want, "key_%.12s", key); /* insert_key's id: the log's caller */
	assert_string_equal(key_id, want);
	assert_string_equal(sg.token_hash, "");
	assert_string_equal(ug.id, "");

	se = session('b');
	ESC_STORE(rc, f->s, caller_get, se.token_hash, &is_key, &used, key_id, &sg, &ug);
	assert_int_equal(rc, ESC_ENOTFOUND);
	assert_false(is_key);
	assert_string_equal(key_id, "");
}

static void api_key_exists_once_inserted(void **state)
{
	struct store_fixture *f = *state;
	char key[ESC_HASH_HEX_SIZE];
	int rc;

	hash_hex(key, 'k');
	rc = insert_key(f->s, key, T0);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, api_key_exists, key);
	assert_int_equal(rc, 0);
}

static void api_key_exists_of_unknown_hash_is_not_found(void **state)
{
	struct store_fixture *f = *state;
	char key[ESC_HASH_HEX_SIZE], other[ESC_HASH_HEX_SIZE];
	int rc;

	hash_hex(key, 'k');
	hash_hex(other, 'j');
	rc = insert_key(f->s, key, T0);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, api_key_exists, other);
	assert_int_equal(rc, ESC_ENOTFOUND);
}

static void api_key_insert_of_taken_hash_is_duplicate(void **state)
{
	struct store_fixture *f = *state;
	char key[ESC_HASH_HEX_SIZE];
	int rc;

	hash_hex(key, 'k');
	rc = insert_key(f->s, key, T0);
	assert_int_equal(rc, 0);
	rc = insert_key(f->s, key, T0 + 1);
	assert_int_equal(rc, ESC_EDUPLICATE);
}

static void idempotency_key_keeps_its_first_answer(void **state)
{
	struct store_fixture *f = *state;
	struct esc_idempotency rec = {.created_at_ms = T0, .status = 201}, got;
	int rc;

	snprintf(rec.scope, sizeof rec.scope, "user:usr_1");
	snprintf(rec.key, sizeof rec.key, "key-1");
	hash_hex(rec.request_hash, 'r');
	rec.response = "{\"id\":\"x\"}";
	ESC_STORE(rc, f->s, idempotency_put, &rec);
	assert_int_equal(rc, 0);
	/* A second answer for the key is refused; the first stays. */
	rec.status = 200;
	rec.response = "{}";
	ESC_STORE(rc, f->s, idempotency_put, &rec);
	assert_int_equal(rc, ESC_EDUPLICATE);
	ESC_STORE(rc, f->s, idempotency_get, "user:usr_1", "key-1", &got);
	assert_int_equal(rc, 0);
	assert_int_equal(got.status, 201);
	assert_string_equal(got.request_hash, rec.request_hash);
	assert_string_equal(got.response, "{\"id\":\"x\"}");
	assert_true(got.created_at_ms == T0);
	free(got.response);
	/* Another scope's key of the same name is another key. */
	ESC_STORE(rc, f->s, idempotency_get, "user:usr_2", "key-1", &got);
	assert_int_equal(rc, ESC_ENOTFOUND);
	ESC_STORE(rc, f->s, idempotency_purge, T0 + 1);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, idempotency_get, "user:usr_1", "key-1", &got);
	assert_int_equal(rc, ESC_ENOTFOUND);
}

/* A kept answer written anew: its status and response, nothing else. */
static void idempotency_answer_rewrites_a_kept_keys_answer(void **state)
{
	struct store_fixture *f = *state;
	struct esc_idempotency rec = {.created_at_ms = T0, .status = 200}, got;
	int rc;

	snprintf(rec.scope, sizeof rec.scope, "operator:op");
	snprintf(rec.key, sizeof rec.key, "key-1");
	hash_hex(rec.request_hash, 'r');
	rec.response = "{\"deadlines_fired\":0}";
	ESC_STORE(rc, f->s, idempotency_put, &rec);
	assert_int_equal(rc, 0);
	rec.status = 201;
	rec.response = "{\"deadlines_fired\":3}";
	rec.created_at_ms = T0 + 5;
	ESC_STORE(rc, f->s, idempotency_answer, &rec);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, idempotency_get, "operator:op", "key-1", &got);
	assert_int_equal(rc, 0);
	assert_int_equal(got.status, 201);
	assert_string_equal(got.response, "{\"deadlines_fired\":3}");
	assert_true(got.created_at_ms == T0);
	free(got.response);
}

static void idempotency_answer_of_a_key_not_kept_is_not_found(void **state)
{
	struct store_fixture *f = *state;
	struct esc_idempotency rec = {.created_at_ms = T0, .status = 200, .response = "{}"};
	int rc;

	snprintf(rec.scope, sizeof rec.scope, "operator:op");
	snprintf(rec.key, sizeof rec.key, "key-1");
	ESC_STORE(rc, f->s, idempotency_answer, &rec);
	assert_int_equal(rc, ESC_ENOTFOUND);
}

static void api_keys_count_counts_each_key(void **state)
{
	struct store_fixture *f = *state;
	char a[ESC_HASH_HEX_SIZE], b[ESC_HASH_HEX_SIZE];
	int64_t n = -1;
	int rc;

	ESC_STORE(rc, f->s, api_keys_count, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 0);
	hash_hex(a, 'a');
	hash_hex(b, 'b');
	rc = insert_key(f->s, a, T0);
	assert_int_equal(rc, 0);
	rc = insert_key(f->s, b, T0);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, api_keys_count, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
}

/* ---- transactions and durability ---- */

static bool user_exists(struct esc_store *s, const char *id)
{
	struct esc_user u;
	int rc;

	ESC_STORE(rc, s, user_get, id, &u);
	assert_true(rc == 0 || rc == ESC_ENOTFOUND);
	return rc == 0;
}

static void insert_user(struct esc_store *s, const char *id)
{
	char email[64];
	int rc;

	snprintf(email, sizeof email, "%s@example.com", id);
	struct esc_user u = user(id, email);
	ESC_STORE(rc, s, user_insert, &u);
	assert_int_equal(rc, 0);
}

static void savepoint_rollback_undoes_only_its_command(void **state)
{
	struct store_fixture *f = *state;
	int rc;

	ESC_STORE0(rc, f->s, begin);
	assert_int_equal(rc, 0);
	ESC_STORE0(rc, f->s, savepoint);
	assert_int_equal(rc, 0);
	insert_user(f->s, "usr_kept");
	ESC_STORE0(rc, f->s, savepoint_release);
	assert_int_equal(rc, 0);
	ESC_STORE0(rc, f->s, savepoint);
	assert_int_equal(rc, 0);
	insert_user(f->s, "usr_undone");
	append(f->s, transfer("t1", "ord_1", "payment", "buyer:usr_b", "escrow:ord_1", 10));
	ESC_STORE0(rc, f->s, savepoint_rollback);
	assert_int_equal(rc, 0);
	ESC_STORE0(rc, f->s, commit);
	assert_int_equal(rc, 0);
	reopen(f);
	assert_true(user_exists(f->s, "usr_kept"));
	assert_false(user_exists(f->s, "usr_undone"));
	assert_int_equal(balance(f->s, "buyer:usr_b"), 0);
}

static void a_failed_verb_in_a_savepoint_is_undone_and_the_transaction_goes_on(void **state)
{
	struct store_fixture *f = *state;
	struct esc_user dup = user("usr_kept", "other@example.com");
	int rc;

	ESC_STORE0(rc, f->s, begin);
	assert_int_equal(rc, 0);
	ESC_STORE0(rc, f->s, savepoint);
	assert_int_equal(rc, 0);
	insert_user(f->s, "usr_kept");
	ESC_STORE0(rc, f->s, savepoint_release);
	assert_int_equal(rc, 0);
	ESC_STORE0(rc, f->s, savepoint);
	assert_int_equal(rc, 0);
	insert_user(f->s, "usr_undone");
	ESC_STORE(rc, f->s, user_insert, &dup);
	assert_int_equal(rc, ESC_EDUPLICATE);
	ESC_STORE0(rc, f->s, savepoint_rollback);
	assert_int_equal(rc, 0);
	ESC_STORE0(rc, f->s, savepoint);
	assert_int_equal(rc, 0);
	insert_user(f->s, "usr_after");
	ESC_STORE0(rc, f->s, savepoint_release);
	assert_int_equal(rc, 0);
	ESC_STORE0(rc, f->s, commit);
	assert_int_equal(rc, 0);
	reopen(f);
	assert_true(user_exists(f->s, "usr_kept"));
	assert_false(user_exists(f->s, "usr_undone"));
	assert_true(user_exists(f->s, "usr_after"));
}

static void rollback_after_a_failed_verb_leaves_a_usable_store(void **state)
{
	struct store_fixture *f = *state;
	struct esc_user dup = user("usr_a", "other@example.com");
	int rc;

	insert_user(f->s, "usr_a");
	ESC_STORE0(rc, f->s, begin);
	assert_int_equal(rc, 0);
	insert_user(f->s, "usr_undone");
	ESC_STORE(rc, f->s, user_insert, &dup);
	assert_int_equal(rc, ESC_EDUPLICATE);
	ESC_STORE0(rc, f->s, rollback);
	assert_int_equal(rc, 0);
	/* Twice is harmless: the engine rolls back whatever failed. */
	ESC_STORE0(rc, f->s, rollback);
	assert_int_equal(rc, 0);
	assert_false(user_exists(f->s, "usr_undone"));
	insert_user(f->s, "usr_b");
	assert_true(user_exists(f->s, "usr_b"));
}

static void rollback_undoes_the_whole_transaction(void **state)
{
	struct store_fixture *f = *state;
	int rc;

	ESC_STORE0(rc, f->s, begin);
	assert_int_equal(rc, 0);
	ESC_STORE0(rc, f->s, savepoint);
	assert_int_equal(rc, 0);
	insert_user(f->s, "usr_a");
	ESC_STORE0(rc, f->s, savepoint_release);
	assert_int_equal(rc, 0);
	ESC_STORE0(rc, f->s, savepoint);
	assert_int_equal(rc, 0);
	insert_user(f->s, "usr_b");
	ESC_STORE0(rc, f->s, savepoint_release);
	assert_int_equal(rc, 0);
	ESC_STORE0(rc, f->s, rollback);
	assert_int_equal(rc, 0);
	assert_false(user_exists(f->s, "usr_a"));
	assert_false(user_exists(f->s, "usr_b"));
}

static void transaction_left_open_at_close_is_not_committed(void **state)
{
	struct store_fixture *f = *state;
	int rc;

	ESC_STORE0(rc, f->s, begin);
	assert_int_equal(rc, 0);
	insert_user(f->s, "usr_a");
	reopen(f);
	assert_false(user_exists(f->s, "usr_a"));
}

static void everything_written_survives_close_and_reopen(void **state)
{
	struct store_fixture *f = *state;
	struct esc_order o = order("ord_1", "usr_b", "usr_s"), got;
	struct esc_refund r = refund("ord_1-r1", "ord_1", T0), rgot;
	struct esc_history h = history("ord_1", 1), hgot[2];
	struct esc_outbox_row row = {.at_ms = T0 + 1,
				     .type = "order.shipped",
				     .order_id = "ord_1",
				     .version = 1,
				     .payload = "{}",
				     .history = &h};
	struct esc_session se = session('a'), sgot;
	char key[ESC_HASH_HEX_SIZE];
	struct esc_deadline dl[2];
	struct esc_rep_counts c;
	struct esc_item items[2];
	int64_t v = 0;
	size_t n = 0;
	int rc;

	hash_hex(key, 'k');
	insert_user(f->s, "usr_b");
	insert_order(f->s, &o);
	append(f->s, transfer("t1", "ord_1", "payment", "buyer:usr_b", "escrow:ord_1", 10));
	ESC_STORE(rc, f->s, refund_insert, &r);
	assert_int_equal(rc, 0);
	set_deadline(f->s, "ord_1", ESC_DL_SHIP, T0, true);
	ESC_STORE(rc, f->s, outbox_append, &row);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, mark_append, "usr_b", ESC_MARK_BUYER_PAID, "ord_1", T0, NULL);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, meta_set, "clock", 42);
	assert_int_equal(rc, 0);
	insert_session(f->s, &se);
	rc = insert_key(f->s, key, T0);
	assert_int_equal(rc, 0);

	reopen(f);
	assert_true(user_exists(f->s, "usr_b"));
	ESC_STORE(rc, f->s, order_get, "ord_1", &got);
	assert_int_equal(rc, 0);
	esc_assert_orders_equal(&got, &o);
	ESC_STORE(rc, f->s, order_items, "ord_1", items, 2, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
	ESC_STORE(rc, f->s, history_list, "ord_1", 0, hgot, 2, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 1);
	assert_int_equal(balance(f->s, "buyer:usr_b"), -10);
	assert_int_equal(balance(f->s, "escrow:ord_1"), 10);
	ESC_STORE(rc, f->s, refund_get, "ord_1-r1", &rgot);
	assert_int_equal(rc, 0);
	assert_int_equal(due(f->s, T0, dl, 2), 1);
	ESC_STORE(rc, f->s, outbox_count, &v);
	assert_int_equal(rc, 0);
	assert_int_equal(v, 1);
	ESC_STORE(rc, f->s, mark_counts, "usr_b", T0 - 1, T0 - 1, &c);
	assert_int_equal(rc, 0);
	assert_int_equal(c.long_[ESC_MARK_BUYER_PAID], 1);
	ESC_STORE(rc, f->s, meta_get, "clock", &v);
	assert_int_equal(rc, 0);
	assert_int_equal(v, 42);
	ESC_STORE(rc, f->s, session_get, se.token_hash, &sgot);
	assert_int_equal(rc, 0);
	assert_string_equal(sgot.csrf, se.csrf);
	assert_int_equal(sgot.last_seen_ms, se.last_seen_ms);
	ESC_STORE(rc, f->s, api_key_exists, key);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, api_keys_count, &v);
	assert_int_equal(rc, 0);
	assert_int_equal(v, 1);
}

static int fail_order_get(void *arg, const char *verb)
{
	(void)arg;
	return strcmp(verb, "order_get") == 0 ? ESC_EIO : 0;
}

/* A second connection to f's store opened in mode, then made read-only
 * (the read_only verb). */
static struct esc_store *open_read_only_as(struct store_fixture *f, enum esc_store_mode mode)
{
	struct esc_store *s = NULL;
	char err[256] = "";
	int rc = esc_store_open_mode(f->url, mode, &s, err, sizeof err);

	if (rc)
		fprintf(stderr, "open %s: %s\n", f->url, err);
	assert_int_equal(rc, 0);
	ESC_STORE0(rc, s, read_only);
	assert_int_equal(rc, 0);
	return s;
}

/* A second connection to f's store, made read-only as the engine's read
 * pool makes its own. */
static struct esc_store *open_read_only(struct store_fixture *f)
{
	return open_read_only_as(f, ESC_STORE_NORMAL);
}

/* Issue 15: a read connection may keep the callers it looked up, but
 * whatever is committed meanwhile is read anew at once (SPEC's sessions:
 * a sign-out, a user's role or suspension, a session's touch, a key's
 * revocation), in a read transaction as on its own. */
static void a_read_connections_caller_follows_every_commit(void **state)
{
	struct store_fixture *f = *state;
	struct esc_store *ro = open_read_only(f);
	struct esc_session se = session('a'), sg;
	struct esc_user u = user("usr_a", "a@example.test"), ug;
	char key[ESC_HASH_HEX_SIZE], key_id[ESC_ID_SIZE] = "?", want[ESC_ID_SIZE];
	bool is_key = true;
	int64_t used = 0;
	int rc;

	insert_caller(f->s, &u, &se);
	for (int i = 0; i < 2; i++) {
		ESC_STORE(rc, ro, caller_get, se.token_hash, &is_key, &used, NULL, &sg, &ug);
		assert_int_equal(rc, 0);
		assert_false(is_key);
		assert_string_equal(ug.id, "usr_a");
		assert_int_equal(ug.role, ESC_ACTOR_BUYER);
		assert_int_equal(sg.last_seen_ms, T0 + 1);
	}
	u.role = ESC_ACTOR_SELLER;
	u.suspension_lifted_at_ms = T0 + 7;
	ESC_STORE(rc, f->s, user_update, &u);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, ro, caller_get, se.token_hash, &is_key, &used, NULL, &sg, &ug);
	assert_int_equal(rc, 0);
	assert_int_equal(ug.role, ESC_ACTOR_SELLER);
	assert_int_equal(ug.suspension_lifted_at_ms, T0 + 7);
	ESC_STORE(rc, f->s, session_touch, se.token_hash, T0 + 120000);
	assert_int_equal(rc, 0);
	ESC_STORE0(rc, ro, begin);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, ro, caller_get, se.token_hash, &is_key, &used, NULL, &sg, &ug);
	assert_int_equal(rc, 0);
	assert_int_equal(sg.last_seen_ms, T0 + 120000);
	ESC_STORE0(rc, ro, rollback);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, session_delete, se.token_hash);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, ro, caller_get, se.token_hash, &is_key, &used, NULL, &sg, &ug);
	assert_int_equal(rc, ESC_ENOTFOUND);

	/* A key: its id when asked for, after a lookup that did not ask. */
	hash_hex(key, 'k');
	assert_int_equal(insert_key(f->s, key, T0), 0);
	ESC_STORE(rc, ro, caller_get, key, &is_key, &used, NULL, &sg, &ug);
	assert_int_equal(rc, 0);
	assert_true(is_key);
	ESC_STORE(rc, ro, caller_get, key, &is_key, &used, key_id, &sg, &ug);
	assert_int_equal(rc, 0);
	snprintf(want, sizeof want, "key_%.12s", key);
	assert_string_equal(key_id, want);
	ESC_STORE(rc, f->s, api_key_revoke, want, T0 + 5);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, ro, caller_get, key, &is_key, &used, key_id, &sg, &ug);
	assert_int_equal(rc, ESC_ENOTFOUND);
	esc_store_close(ro);
}

/* For write_through_read_only, run in a child. */
static struct store_fixture *read_only_fixture;

static void write_through_read_only(void)
{
	struct esc_store *s = open_read_only(read_only_fixture);
	struct esc_user u = user("usr_c", "c@example.com");
	int rc;
	ESC_STORE(rc, s, user_insert, &u);
	(void)rc;
}

/* A read-only connection reads what was committed; a write through it,
 * on its own or in a transaction, fails as a bug and changes nothing. */
static void a_read_only_connection_reads_and_refuses_writes(void **state)
{
	struct store_fixture *f = *state;
	struct esc_store *ro = open_read_only(f);
	struct esc_order o = order("ord_1", "usr_b", "usr_s"), got;
	struct esc_user u = user("usr_b", "b@example.com"), seen;
	struct esc_user all[4];
	size_t n = 0;
	int rc;

	insert_user(f->s, "usr_a");
	ESC_STORE(rc, ro, user_get, "usr_a", &seen);
	assert_int_equal(rc, 0);
	assert_string_equal(seen.id, "usr_a");
	rc = ro->ops->user_insert(ro, &u); /* ESC_STORE would abort: a bug */
	assert_int_equal(rc, ESC_EBUG);
	/* A verb of several statements, in a transaction of its own. */
	rc = ro->ops->order_insert(ro, &o, NULL, 0);
	assert_int_equal(rc, ESC_EBUG);
	/* In the caller's transaction: it reads, and a write fails. */
	ESC_STORE0(rc, ro, begin);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, ro, user_get, "usr_a", &seen);
	assert_int_equal(rc, 0);
	rc = ro->ops->user_insert(ro, &u); /* ESC_STORE would abort: a bug */
	assert_int_equal(rc, ESC_EBUG);
	ESC_STORE0(rc, ro, rollback);
	assert_int_equal(rc, 0);
	/* The data is as it was, and the connection still reads. */
	ESC_STORE(rc, f->s, users_list, NULL, all, 4, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 1);
	assert_string_equal(all[0].id, "usr_a");
	ESC_STORE(rc, f->s, order_get, "ord_1", &got);
	assert_int_equal(rc, ESC_ENOTFOUND);
	ESC_STORE(rc, ro, users_list, NULL, all, 4, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 1);
	esc_store_close(ro);

	/* Through ESC_STORE, as the daemon calls verbs, such a write is a bug
	 * and aborts saying which verb (in a child, on a connection of its
	 * own). */
	read_only_fixture = f;
	esc_test_expect_abort(write_through_read_only,
			      "the store verb user_insert wrote through a read-only connection");
}

static void an_injected_fault_is_returned_instead_of_the_verb(void **state)
{
	struct store_fixture *f = *state;
	struct esc_order o = order("ord_1", "usr_b", "usr_s"), got;
	int rc;

	insert_order(f->s, &o);
	f->s->fault = fail_order_get;
	ESC_STORE(rc, f->s, order_get, "ord_1", &got);
	f->s->fault = NULL;
	assert_int_equal(rc, ESC_EIO);
}

/* ---- ledger_check on a sound ledger ---- */

static void ledger_check_of_a_sound_ledger_finds_nothing(void **state)
{
	struct store_fixture *f = *state;
	struct esc_order o = order("ord_1", "usr_b", "usr_s");
	struct esc_ledger_report *r;

	o.paid_minor = 100;
	o.refunded_minor = 30;
	o.released_minor = 60;
	insert_order(f->s, &o);
	append(f->s, transfer("ord_1/pay", "ord_1", "payment", "external", "escrow:ord_1", 100));
	append(f->s,
	       transfer("ord_1/refund/1", "ord_1", "refund", "escrow:ord_1", "buyer:usr_b", 30));
	append(f->s,
	       transfer("ord_1/release", "ord_1", "release", "escrow:ord_1", "seller:usr_s", 57));
	append(f->s, transfer("ord_1/fee", "ord_1", "fee", "escrow:ord_1", "platform:fees", 3));
	r = check_ledger(f->s);
	print_problems(r);
	assert_int_equal(r->problems_count, 0);
	assert_int_equal(r->transfers_count, 4);
	assert_int_equal(r->orders_count, 1);
}

static void ledger_check_finds_a_refund_beyond_what_was_paid(void **state)
{
	struct store_fixture *f = *state;
	struct esc_order o = order("ord_1", "usr_b", "usr_s");
	struct esc_ledger_report *r;

	o.paid_minor = 100;
	o.refunded_minor = 150;
	o.released_minor = 0;
	insert_order(f->s, &o);
	append(f->s, transfer("ord_1/pay", "ord_1", "payment", "external", "escrow:ord_1", 100));
	append(f->s,
	       transfer("ord_1/refund/1", "ord_1", "refund", "escrow:ord_1", "buyer:usr_b", 150));
	r = check_ledger(f->s);
	assert_true(has_problem(r, "refunds_within_paid: ord_1 refunded 150 EUR"));
	assert_true(has_problem(r, "escrow_not_negative: escrow:ord_1 is -50 EUR"));
}

static void ledger_check_finds_escrow_that_differs_from_its_order(void **state)
{
	struct store_fixture *f = *state;
	struct esc_order o = order("ord_1", "usr_b", "usr_s");
	struct esc_ledger_report *r;

	o.paid_minor = 100;
	o.refunded_minor = 0;
	o.released_minor = 0;
	insert_order(f->s, &o);
	append(f->s, transfer("ord_1/pay", "ord_1", "payment", "external", "escrow:ord_1", 90));
	r = check_ledger(f->s);
	print_problems(r);
	assert_int_equal(r->problems_count, 1);
	assert_true(has_problem(r, "escrow_matches_order: escrow:ord_1 holds 90 EUR"));
}

static void ledger_check_finds_escrow_without_an_order(void **state)
{
	struct store_fixture *f = *state;
	struct esc_ledger_report *r;

	append(f->s, transfer("ord_9/pay", "ord_9", "payment", "external", "escrow:ord_9", 10));
	r = check_ledger(f->s);
	assert_int_equal(r->problems_count, 1);
	assert_true(has_problem(r, "escrow_matches_order: escrow:ord_9 holds 10 EUR"));
}

/* ---- the schema's runner ---- */

#define ESC_MIGRATIONS_TEST_MAX 64

/* The schema version f's store records. */
static int64_t recorded_version(struct store_fixture *f)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	if (backend == &pg_backend)
		return pg_raw_int(f, "SELECT MAX(version) FROM schema_migrations");
	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static int64_t written_version(void)
{
	return backend == &pg_backend ? esc_pg_schema_version() : esc_sqlite_schema_version();
}

/* Run the backend's migrations with steps as the shared list, through a
 * connection of the test's own. Returns the schema version the runner
 * found. */
static int migrate_with(struct store_fixture *f, const char *const *steps)
{
	char err[256] = "";
	int rc = 0, found = -1;

	if (backend == &pg_backend) {
		PGconn *conn = PQconnectdb(f->url);
		assert_int_equal(PQstatus(conn), CONNECTION_OK);
		rc = esc_pg_migrate_with(conn, steps, &found, err, sizeof err);
		PQfinish(conn);
	} else {
		sqlite3 *db = NULL;
		assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, NULL),
				 SQLITE_OK);
		sqlite3_busy_timeout(db, 5000);
		rc = esc_sqlite_migrate_with(db, steps, &found, err, sizeof err);
		sqlite3_close(db);
	}
	if (rc)
		fprintf(stderr, "migrate: %s\n", err);
	assert_int_equal(rc, 0);
	return found;
}

/* The fixture's store, new, with the shared migrations run up to (not
 * including) the first step whose SQL holds marker: a store of the schema
 * before that step, for an upgrade test. */
static void migrated_before(struct store_fixture *f, const char *marker)
{
	const char *before[ESC_MIGRATIONS_TEST_MAX];
	size_t i = 0;

	esc_store_close(f->s);
	f->s = NULL;
	backend->cleanup(f);
	backend->fresh(f);
	if (backend != &pg_backend) {
		sqlite3 *db = NULL;
		assert_int_equal(sqlite3_open_v2(f->path, &db,
						 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
				 SQLITE_OK);
		sqlite3_close(db);
	}
	while (esc_migrations_shared[i] && !strstr(esc_migrations_shared[i], marker)) {
		before[i] = esc_migrations_shared[i];
		i++;
	}
	assert_non_null(esc_migrations_shared[i]);
	before[i] = NULL;
	assert_int_equal(migrate_with(f, before), 0); /* a new store */
}

/* A fresh store and the same store opened again record the version this
 * binary writes: its own migrations and the shared ones. */
static void a_store_opened_again_keeps_the_schema_version(void **state)
{
	struct store_fixture *f = *state;

	/* Each backend's own list ends there: what comes after is shared. */
	assert_int_equal(written_version(), (backend == &pg_backend ? 4 : 7) +
						    esc_migrations_count(esc_migrations_shared));
	assert_int_equal(recorded_version(f), written_version());
	/* The store says it was new, and then that it was this version's. */
	assert_int_equal(f->s->schema_version_found, 0);
	assert_int_equal(f->s->schema_version, written_version());
	insert_user(f->s, "usr_a");
	reopen(f);
	assert_int_equal(recorded_version(f), written_version());
	assert_int_equal(f->s->schema_version_found, written_version());
	assert_int_equal(f->s->schema_version, written_version());
	assert_true(user_exists(f->s, "usr_a"));
}

/* A store two steps behind, opened, says the version it had and the one
 * it has now (what escrowd migrate prints). */
static void a_store_opened_at_an_older_schema_says_which_it_had(void **state)
{
	struct store_fixture *f = *state;
	int n = esc_migrations_count(esc_migrations_shared);

	assert_true(n >= 2);
	migrated_before(f, esc_migrations_shared[n - 2]);
	assert_int_equal(recorded_version(f), written_version() - 2);
	open_url(f);
	assert_int_equal(f->s->schema_version_found, written_version() - 2);
	assert_int_equal(f->s->schema_version, written_version());
	assert_int_equal(recorded_version(f), written_version());
}

static int64_t raw_int(struct store_fixture *f, const char *sql);

/* The single integer sql returns, on either backend. */
static int64_t any_raw_int(struct store_fixture *f, const char *sql)
{
	return backend == &pg_backend ? pg_raw_int(f, sql) : raw_int(f, sql);
}

/* Issue 15: a store of the schema before, with its history table and its
 * outbox, upgrades in place with nothing lost: each history row in the
 * row of its event, events as they were (ids, payloads, fanout), and
 * the history rows whose event is gone (purged, or written before events
 * had versions) kept as history lines that no list shows as events. */
static void a_store_with_history_and_outbox_tables_upgrades_to_one_row(void **state)
{
	struct store_fixture *f = *state;
	struct esc_history h[4];
	struct esc_outbox_row out[8];
	char *payloads[8];
	size_t n = 0;
	int64_t count = 0;
	int rc;

	/* A new store, migrated up to the step that merges the tables. */
	migrated_before(f, "DROP TABLE history");
	raw_sql(f, "INSERT INTO history (order_id, version, at_ms, actor, actor_id, event, "
		   "from_state, to_state, type, detail) VALUES "
		   "('ord_1', 1, 1000, 'operator', '', 'create', 'none', 'awaiting_payment', "
		   "'order.created', '{}'), "
		   "('ord_1', 2, 2000, 'operator', '', 'pay', 'awaiting_payment', "
		   "'awaiting_shipment', 'order.paid', '{\"amount\":500}'), "
		   "('ord_0', 1, 500, 'operator', '', 'create', 'none', 'awaiting_payment', "
		   "'order.created', '{}'), "
		   "('ord_9', 1, 100, 'operator', '', 'create', 'none', 'awaiting_payment', "
		   "'order.created', '{}')");
	raw_sql(f, "INSERT INTO outbox (at_ms, type, order_id, payload, version, fanout_done) "
		   "VALUES (500, 'order.created', 'ord_0', '{\"id\":\"ord_0\"}', 0, 1), "
		   "(1000, 'order.created', 'ord_1', '{\"object\":{\"v\":1}}', 1, 1), "
		   "(2000, 'order.paid', 'ord_1', '{\"object\":{\"v\":2}}', 2, 0), "
		   "(2000, 'reputation.buyer_level_changed', 'ord_1', '{\"object\":{}}', 2, 1), "
		   "(2500, 'reputation.suspension_lifted', '', '', 0, 1)");

	migrate_with(f, esc_migrations_shared);
	assert_int_equal(recorded_version(f), written_version());
	open_url(f);
	struct esc_event_filter all = {0};
	ESC_STORE(rc, f->s, events_list, &all, out, payloads, 8, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 5);
	static const char *const types[] = {"order.created", "order.created", "order.paid",
					    "reputation.buyer_level_changed",
					    "reputation.suspension_lifted"};
	for (size_t k = 0; k < n; k++) {
		assert_int_equal(out[k].seq, (int64_t)k + 1);
		assert_string_equal(out[k].type, types[k]);
	}
	assert_string_equal(out[0].payload, "{\"id\":\"ord_0\"}");
	assert_int_equal(out[0].version, 0);
	assert_string_equal(out[2].payload, "{\"object\":{\"v\":2}}");
	assert_int_equal(out[2].version, 2);
	assert_string_equal(out[4].payload, "null"); /* shown as before: "object": null */
	for (size_t k = 0; k < n; k++)
		free(payloads[k]);
	ESC_STORE(rc, f->s, outbox_count, &count);
	assert_int_equal(rc, 0);
	assert_int_equal(count, 5);
	/* order.paid was not fanned out yet: it still is to be. */
	assert_int_equal(any_raw_int(f, "SELECT COUNT(*) FROM fanout_pending"), 1);
	assert_int_equal(any_raw_int(f, "SELECT seq FROM fanout_pending"), 3);

	ESC_STORE(rc, f->s, history_list, "ord_1", 0, h, 4, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
	assert_int_equal(h[0].event, ESC_EV_CREATE);
	assert_int_equal(h[1].event, ESC_EV_PAY);
	assert_int_equal(h[1].from, ESC_ST_AWAITING_PAYMENT);
	assert_int_equal(h[1].to, ESC_ST_AWAITING_SHIPMENT);
	assert_int_equal(h[1].at_ms, 2000);
	assert_string_equal(h[1].type, "order.paid");
	assert_string_equal(h[1].detail, "{\"amount\":500}");
	for (const char *const *id = (const char *const[]){"ord_0", "ord_9", NULL}; *id; id++) {
		ESC_STORE(rc, f->s, history_list, *id, 0, h, 4, &n);
		assert_int_equal(rc, 0);
		assert_int_equal(n, 1);
		assert_int_equal(h[0].event, ESC_EV_CREATE);
		assert_int_equal(h[0].to, ESC_ST_AWAITING_PAYMENT);
	}
	/* A new event is numbered after every row. */
	struct esc_history next = history("ord_1", 3);
	append_history(f->s, &next);
	struct esc_event_filter after = {.after_seq = 5};
	ESC_STORE(rc, f->s, events_list, &after, out, payloads, 8, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 1);
	assert_true(out[0].seq > 7);
	free(payloads[0]);
}

/* Issue 15: the fanout deletes the events' rows of fanout_pending and
 * leaves their event rows as the command wrote them (on PostgreSQL the
 * same tuple: ctid and xmin); a purge takes the pending row of an event
 * it purges with it. */
static void the_fanout_leaves_the_event_rows_as_they_were(void **state)
{
	struct store_fixture *f = *state;
	struct esc_webhook_endpoint w = {.id = "whe_all",
					 .url = "https://198.51.100.7/h",
					 .events = "*",
					 .enabled = 1,
					 .secret = "whsec_x",
					 .created_at_ms = T0,
					 .updated_at_ms = T0};
	struct esc_history h1 = history("ord_1", 1), h2 = history("ord_1", 2);
	struct esc_history h3 = history("ord_2", 1);
	size_t events = 0, made = 0, purged = 0;
	int rc;

	ESC_STORE(rc, f->s, webhook_endpoint_insert, &w);
	assert_int_equal(rc, 0);
	append_history(f->s, &h1);
	append_history(f->s, &h2);
	append_history(f->s, &h3);
	assert_int_equal(any_raw_int(f, "SELECT COUNT(*) FROM fanout_pending f JOIN outbox o "
					"ON o.seq = f.seq"),
			 3);
	raw_sql(f, backend == &pg_backend
			   ? "CREATE TABLE outbox_before AS SELECT *, ctid::text AS at_ctid, "
			     "xmin::text AS at_xmin FROM outbox"
			   : "CREATE TABLE outbox_before AS SELECT * FROM outbox");

	ESC_STORE(rc, f->s, webhook_fanout, T0, 10, &events, &made);
	assert_int_equal(rc, 0);
	assert_int_equal(events, 3);
	assert_int_equal(made, 3);
	assert_int_equal(any_raw_int(f, "SELECT COUNT(*) FROM fanout_pending"), 0);
	assert_int_equal(any_raw_int(f, "SELECT COUNT(*) FROM outbox"), 3);
	if (backend == &pg_backend)
		assert_int_equal(pg_raw_int(f, "SELECT COUNT(*) FROM outbox o JOIN outbox_before b "
					       "ON b.seq = o.seq AND b.at_ctid = o.ctid::text "
					       "AND b.at_xmin = o.xmin::text"),
				 3);
	else
		assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM (SELECT * FROM outbox EXCEPT "
					    "SELECT * FROM outbox_before)"),
				 0);
	ESC_STORE(rc, f->s, webhook_fanout, T0, 10, &events, &made);
	assert_int_equal(rc, 0);
	assert_int_equal(events, 0);

	/* Two events not fanned out; the purge takes the older (never the
	 * newest row), and its pending row: the fanout passes only the
	 * other. */
	struct esc_history h4 = history("ord_3", 1), h5 = history("ord_3", 2);
	h4.at_ms = h5.at_ms = T0 + 10;
	append_history(f->s, &h4);
	append_history(f->s, &h5);
	assert_int_equal(any_raw_int(f, "SELECT COUNT(*) FROM fanout_pending"), 2);
	ESC_STORE(rc, f->s, webhook_purge, T0 + 50, 100, &purged);
	assert_int_equal(rc, 0);
	assert_int_equal(purged, 4);
	assert_int_equal(any_raw_int(f, "SELECT COUNT(*) FROM fanout_pending"), 1);
	ESC_STORE(rc, f->s, webhook_fanout, T0, 10, &events, &made);
	assert_int_equal(rc, 0);
	assert_int_equal(events, 1);
	assert_int_equal(made, 1);
	assert_int_equal(any_raw_int(f, "SELECT COUNT(*) FROM fanout_pending"), 0);
}

/* Issue 15: a store of the schema before fanout_pending (each event's
 * outbox.fanout_done) upgrades with the events not fanned out yet still
 * to be, and only those; the column's partial index is gone. */
static void a_store_with_fanout_done_upgrades_to_fanout_pending(void **state)
{
	struct store_fixture *f = *state;
	size_t events = 0, made = 0;
	int rc;

	migrated_before(f, "CREATE TABLE fanout_pending");
	raw_sql(f, "INSERT INTO webhook_endpoints (id, created_at_ms, url, events, secret, "
		   "updated_at_ms) VALUES ('whe_all', 1, 'https://198.51.100.7/h', '*', "
		   "'whsec_x', 1)");
	raw_sql(f, "INSERT INTO outbox (at_ms, type, order_id, payload, version, fanout_done) "
		   "VALUES (1000, 'order.created', 'ord_1', '{}', 1, 1), "
		   "(2000, 'order.paid', 'ord_1', '{}', 2, 0), "
		   "(2500, 'order.created', 'ord_2', '{}', 1, 1), "
		   "(3000, 'order.created', 'ord_3', '{}', 1, 0)");

	migrate_with(f, esc_migrations_shared);
	assert_int_equal(recorded_version(f), written_version());
	assert_int_equal(any_raw_int(f, "SELECT COUNT(*) FROM fanout_pending"), 2);
	assert_int_equal(any_raw_int(f, "SELECT MIN(seq) FROM fanout_pending"), 2);
	assert_int_equal(any_raw_int(f, "SELECT MAX(seq) FROM fanout_pending"), 4);
	assert_int_equal(any_raw_int(f, backend == &pg_backend
						? "SELECT COUNT(*) FROM pg_indexes "
						  "WHERE indexname = 'outbox_fanout'"
						: "SELECT COUNT(*) FROM sqlite_master "
						  "WHERE name = 'outbox_fanout'"),
			 0);
	open_url(f);
	ESC_STORE(rc, f->s, webhook_fanout, T0, 10, &events, &made);
	assert_int_equal(rc, 0);
	assert_int_equal(events, 2);
	assert_int_equal(made, 2);
	assert_int_equal(any_raw_int(f, "SELECT COUNT(*) FROM webhook_deliveries "
					"WHERE event_seq IN (2, 4)"),
			 2);
	assert_int_equal(any_raw_int(f, "SELECT COUNT(*) FROM fanout_pending"), 0);
}

/* Issue 15: a store of the schema before refunds were keyed by their
 * order upgrades with every refund's every field, each still found by its
 * id and by its order (oldest first), and a taken id still refused. */
static void a_store_upgrades_to_refunds_keyed_by_their_order(void **state)
{
	struct store_fixture *f = *state;
	struct esc_refund got[4], r;
	size_t n = 0;
	int rc;

	migrated_before(f, "CREATE TABLE refunds_by_order");
	raw_sql(f, "INSERT INTO refunds (id, order_id, amount_minor, method, status, "
		   "created_at_ms, resolved_at_ms, alert_due_ms, settle_days_min, "
		   "settle_days_max) VALUES "
		   "('ord_1-r2', 'ord_1', 300, 'card', 'pending', 1000, 0, 9000, 3, 7), "
		   "('ord_1-r1', 'ord_1', 200, 'balance', 'settled', 2000, 2500, 0, 0, 0), "
		   "('ord_2-r1', 'ord_2', 100, 'card', 'pending', 1500, 0, 9500, 3, 7)");

	migrate_with(f, esc_migrations_shared);
	assert_int_equal(recorded_version(f), written_version());
	open_url(f);
	ESC_STORE(rc, f->s, refund_get, "ord_1-r1", &r);
	assert_int_equal(rc, 0);
	assert_string_equal(r.order_id, "ord_1");
	assert_int_equal(r.amount_minor, 200);
	assert_int_equal(r.method, ESC_METHOD_BALANCE);
	assert_int_equal(r.status, ESC_REFUND_SETTLED);
	assert_int_equal(r.created_at_ms, 2000);
	assert_int_equal(r.resolved_at_ms, 2500);
	assert_int_equal(r.alert_due_ms, 0);
	ESC_STORE(rc, f->s, refunds_list, "ord_1", -1, NULL, got, 4, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
	assert_string_equal(got[0].id, "ord_1-r2");
	assert_int_equal(got[0].amount_minor, 300);
	assert_int_equal(got[0].alert_due_ms, 9000);
	assert_int_equal(got[0].settle_days_max, 7);
	assert_string_equal(got[1].id, "ord_1-r1");
	ESC_STORE(rc, f->s, refunds_list, NULL, ESC_REFUND_PENDING, NULL, got, 4, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
	assert_string_equal(got[0].id, "ord_1-r2");
	assert_string_equal(got[1].id, "ord_2-r1");
	r = got[1];
	r.status = ESC_REFUND_SETTLED;
	r.resolved_at_ms = 3000;
	ESC_STORE(rc, f->s, refund_update, &r);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, refund_get, "ord_2-r1", &r);
	assert_int_equal(rc, 0);
	assert_int_equal(r.status, ESC_REFUND_SETTLED);
	assert_int_equal(r.resolved_at_ms, 3000);
	ESC_STORE(rc, f->s, refund_insert, &r);
	assert_int_equal(rc, ESC_EDUPLICATE);
	/* Another order's refund of that id is the same id, refused too. */
	COPY(r.order_id, "ord_9");
	ESC_STORE(rc, f->s, refund_insert, &r);
	assert_int_equal(rc, ESC_EDUPLICATE);
	assert_int_equal(any_raw_int(f, "SELECT COUNT(*) FROM refunds"), 3);
	/* SQLite keeps the rows in their order's key: the view reads them off
	 * one b-tree. */
	if (backend != &pg_backend)
		assert_int_equal(raw_int(f,
					 "SELECT COUNT(*) FROM pragma_index_list('refunds') AS l, "
					 "pragma_index_info(l.name) AS i WHERE l.origin = 'pk' AND "
					 "((i.seqno = 0 AND i.name = 'order_id') OR "
					 "(i.seqno = 1 AND i.name = 'created_at_ms') OR "
					 "(i.seqno = 2 AND i.name = 'id'))"),
				 3);
}

/* A shared step applies after the backend's own migrations, in its words,
 * as the next version, once. */
static void a_shared_step_applies_once_after_the_backends_own(void **state)
{
	struct store_fixture *f = *state;
	static const char *const steps[] = {
		"CREATE TABLE migration_probe (id {text} PRIMARY KEY, n {int}, b {bytes}, "
		"t {text_null}, m {int_null}){without_rowid};\n"
		"ALTER TABLE orders ADD COLUMN probe_minor {int} DEFAULT 0;\n",
		NULL,
	};
	const char *more[ESC_MIGRATIONS_TEST_MAX];
	int n = esc_migrations_count(esc_migrations_shared);

	/* The product's shared steps, then the probe. */
	assert_true(n + 2 <= ESC_MIGRATIONS_TEST_MAX);
	for (int i = 0; i < n; i++)
		more[i] = esc_migrations_shared[i];
	more[n] = steps[0];
	more[n + 1] = NULL;
	insert_user(f->s, "usr_a");
	assert_int_equal(migrate_with(f, more), written_version());
	assert_int_equal(recorded_version(f), written_version() + 1);
	assert_int_equal(migrate_with(f, more), written_version() + 1);
	assert_int_equal(recorded_version(f), written_version() + 1);
	raw_sql(f, "INSERT INTO migration_probe (id, n, b) VALUES ('a', 1, 'x')");
	raw_sql(f, "UPDATE orders SET probe_minor = 1");
	/* The store as this binary knows it is older: it refuses to open it. */
	esc_store_close(f->s);
	f->s = NULL;
	{
		struct esc_store *s = NULL;
		char err[256] = "";
		assert_int_equal(esc_store_open(f->url, &s, err, sizeof err), ESC_EUNSUPPORTED);
		assert_null(s);
	}
}

/* ---- the contract table ---- */

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

static const struct CMUnitTest contract[] = {
	T(user_insert_then_get_returns_every_field),
	T(reads_after_read_ahead_are_the_transactions_own),
	T(user_get_of_missing_id_is_not_found),
	T(user_insert_of_taken_id_is_duplicate),
	T(a_failed_verb_leaves_the_stores_message_for_the_log),
	T(user_insert_of_taken_email_in_any_case_is_duplicate),
	T(user_by_email_finds_the_user),
	T(user_update_writes_every_field),
	T(user_update_of_missing_id_is_not_found),
	T(users_list_goes_up_by_id_from_the_cursor),
	T(order_insert_then_get_returns_every_field),
	T(order_strings_of_full_field_length_read_back_whole),
	T(order_insert_of_taken_id_is_duplicate),
	T(order_get_of_missing_id_is_not_found),
	T(order_items_come_back_in_line_order),
	T(order_items_stop_at_max),
	T(order_update_at_the_expected_version_writes_the_order),
	T(order_update_at_a_stale_version_is_conflict),
	T(order_update_of_missing_id_is_not_found),
	T(orders_list_pages_newest_first_with_has_more),
	T(orders_list_with_exactly_max_left_has_no_more),
	T(orders_list_filters_by_buyer),
	T(orders_list_filters_by_seller),
	T(orders_list_filters_by_state),
	T(orders_list_combines_filters),
	T(orders_count_counts_each_state),
	T(orders_list_q_finds_a_title_in_any_case_or_the_order_number),
	T(orders_list_filters_by_creation_time),
	T(orders_list_takes_a_tabs_states),
	T(orders_list_pages_disputes_oldest_first),
	T(orders_count_counts_a_partys_orders),
	T(history_list_returns_versions_after_oldest_first),
	T(a_purged_event_keeps_its_history_line),
	T(transfer_moves_the_amount_between_accounts),
	T(transfer_with_a_recorded_id_is_recorded_once),
	T(transfers_keep_buyer_and_seller_balances),
	T(balance_of_an_account_without_entries_is_zero),
	T(transfer_of_a_negative_amount_is_invalid),
	T(refund_insert_then_get_returns_every_field),
	T(refund_insert_of_a_taken_id_is_duplicate),
	T(refund_update_writes_status_and_times),
	T(refund_get_and_update_of_missing_id_are_not_found),
	T(refunds_list_filters_by_order_and_status_oldest_first),
	T(refunds_of_a_party_are_their_orders_refunds),
	T(deadlines_due_come_soonest_first_up_to_max),
	T(deadline_due_exactly_now_is_due_and_one_later_is_not),
	T(deadline_delete_removes_only_that_row),
	T(deadline_set_twice_is_one_row),
	T(deadline_of_a_refund_keeps_its_ref),
	T(refunds_overdue_counts_pending_refunds_past_their_alert),
	T(deadline_soonest_is_the_queue_head_or_zero),
	T(deadlines_claim_takes_due_rows_soonest_first_up_to_max),
	T(deadlines_due_at_one_time_are_claimed_in_key_order),
	T(a_claim_passes_to_another_owner_when_its_lease_ends),
	T(a_heartbeat_renews_the_lease_of_every_claim_of_its_process),
	T(a_claim_of_a_process_without_a_row_is_free),
	T(an_owner_claims_its_own_rows_again),
	T(a_deadline_set_again_drops_its_claim),
	T(a_claimed_deadline_is_deleted_like_any_other),
	T(deadlines_release_gives_back_one_owners_claims),
	T(deadlines_release_of_no_owner_gives_back_every_claim),
	T(process_beat_moves_the_heartbeat_and_keeps_the_start),
	T(process_end_deletes_the_row_once),
	T(processes_purge_forgets_only_ended_leases),
	T(a_row_claimed_through_one_store_is_not_claimed_through_another),
	T(rate_hit_counts_the_attempts_of_a_window_per_key),
	T(rate_hit_in_a_new_window_starts_from_one),
	T(rate_hit_takes_back_only_from_the_window_named),
	T(rate_hits_survive_close_and_reopen),
	T(outbox_append_adds_one_row),
	T(events_list_filters_by_seq_type_family_and_order),
	T(mark_counts_count_marks_strictly_after_each_window_start),
	T(marks_tally_adds_a_users_marks_between_two_times),
	T(mark_counts_follow_each_window_as_it_moves),
	T(marks_list_gives_marks_after_a_time_newest_first),
	T(lifts_list_gives_a_users_lifts_newest_first),
	T(messages_are_numbered_per_order_and_listed_after_a_seq),
	T(message_read_markers_count_what_the_other_party_wrote),
	T(notifications_are_the_others_history_of_ones_orders),
	T(evidence_keeps_every_byte_and_is_numbered_per_order),
	T(evidence_of_no_bytes_reads_back_empty),
	T(evidence_of_bytes_without_data_is_refused),
	T(meta_get_of_a_missing_key_is_not_found),
	T(meta_set_overwrites_the_value),
	T(session_insert_then_get_returns_every_field),
	T(session_get_of_missing_hash_is_not_found),
	T(caller_get_reads_a_key_or_a_session_with_its_user),
	T(a_read_connections_caller_follows_every_commit),
	T(session_insert_of_taken_hash_is_duplicate),
	T(session_touch_moves_last_seen_only),
	T(session_touch_of_missing_hash_is_not_found),
	T(session_delete_then_get_is_not_found),
	T(session_delete_of_missing_hash_is_not_found),
	T(webhook_endpoint_insert_then_get_returns_every_field),
	T(webhook_endpoint_get_of_missing_id_is_not_found),
	T(webhook_endpoint_insert_of_taken_id_is_duplicate),
	T(webhook_endpoint_update_writes_all_but_id_and_creation),
	T(webhook_endpoint_update_of_missing_id_is_not_found),
	T(webhook_endpoint_delete_then_get_is_not_found),
	T(webhook_endpoints_list_pages_by_id_descending),
	T(api_key_exists_once_inserted),
	T(api_key_exists_of_unknown_hash_is_not_found),
	T(api_key_insert_of_taken_hash_is_duplicate),
	T(api_keys_count_counts_each_key),
	T(revoked_key_is_no_caller),
	T(idempotency_key_keeps_its_first_answer),
	T(idempotency_answer_rewrites_a_kept_keys_answer),
	T(idempotency_answer_of_a_key_not_kept_is_not_found),
	T(savepoint_rollback_undoes_only_its_command),
	T(a_failed_verb_in_a_savepoint_is_undone_and_the_transaction_goes_on),
	T(rollback_after_a_failed_verb_leaves_a_usable_store),
	T(rollback_undoes_the_whole_transaction),
	T(transaction_left_open_at_close_is_not_committed),
	T(everything_written_survives_close_and_reopen),
	T(a_read_only_connection_reads_and_refuses_writes),
	T(an_injected_fault_is_returned_instead_of_the_verb),
	T(ledger_check_of_a_sound_ledger_finds_nothing),
	T(ledger_check_finds_a_refund_beyond_what_was_paid),
	T(ledger_check_finds_escrow_that_differs_from_its_order),
	T(ledger_check_finds_escrow_without_an_order),
	T(a_store_opened_again_keeps_the_schema_version),
	T(a_store_opened_at_an_older_schema_says_which_it_had),
	T(a_shared_step_applies_once_after_the_backends_own),
	T(a_store_with_history_and_outbox_tables_upgrades_to_one_row),
	T(the_fanout_leaves_the_event_rows_as_they_were),
	T(a_store_with_fanout_done_upgrades_to_fanout_pending),
	T(a_store_upgrades_to_refunds_keyed_by_their_order),
};

/* Run every contract test against a new store of backend b per test. */
static int run_store_contract(const struct backend *b)
{
	char name[64];

	backend = b;
	snprintf(name, sizeof name, "store contract (%s)", b->name);
	return cmocka_run_group_tests_name(name, contract, NULL, NULL);
}

/* ---- SQLite only: the file itself ---- */

static int64_t raw_int(struct store_fixture *f, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v = 0;
	int rc = sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, NULL);

	assert_int_equal(rc, SQLITE_OK);
	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	assert_int_equal(rc, SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void store_uses_wal_and_the_latest_schema(void **state)
{
	struct store_fixture *f = *state;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_int_equal(raw_int(f, "PRAGMA user_version"), esc_sqlite_schema_version());
}

static void reopening_applies_no_migration_twice(void **state)
{
	struct store_fixture *f = *state;

	insert_user(f->s, "usr_a");
	reopen(f);
	reopen(f);
	assert_int_equal(raw_int(f, "PRAGMA user_version"), esc_sqlite_schema_version());
	assert_true(user_exists(f->s, "usr_a"));
}

static void a_store_newer_than_the_binary_is_refused(void **state)
{
	struct store_fixture *f = *state;
	struct esc_store *s = NULL;
	char sql[64], err[256] = "";
	int rc;

	esc_store_close(f->s);
	f->s = NULL;
	snprintf(sql, sizeof sql, "PRAGMA user_version = %d", esc_sqlite_schema_version() + 1);
	raw_sql(f, sql);
	rc = esc_store_open(f->url, &s, err, sizeof err);
	assert_int_equal(rc, ESC_EUNSUPPORTED);
	assert_null(s);
	assert_non_null(strstr(err, "newer than this escrowd"));
	/* Refusing changed nothing. */
	assert_int_equal(raw_int(f, "PRAGMA user_version"), esc_sqlite_schema_version() + 1);
	/* Let teardown close something. */
	snprintf(sql, sizeof sql, "PRAGMA user_version = %d", esc_sqlite_schema_version());
	raw_sql(f, sql);
	open_url(f);
}

static void a_plain_path_opens_the_same_store(void **state)
{
	struct store_fixture *f = *state;
	struct esc_store *s = NULL;
	struct esc_user u;
	char err[256] = "";
	int rc;

	insert_user(f->s, "usr_a");
	esc_store_close(f->s);
	f->s = NULL;
	rc = esc_store_open(f->path, &s, err, sizeof err);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, s, user_get, "usr_a", &u);
	assert_int_equal(rc, 0);
	f->s = s;
}

static void an_unopenable_path_fails_with_a_message(void **state)
{
	struct store_fixture *f = *state;
	struct esc_store *s = NULL;
	char path[400], err[512] = "";
	int rc;

	snprintf(path, sizeof path, "%s/no/such/dir/store.db", f->dir);
	rc = esc_store_open(path, &s, err, sizeof err);
	assert_int_not_equal(rc, 0);
	assert_null(s);
	assert_non_null(strstr(err, "no/such/dir"));
}

static void close_leaves_no_wal_behind(void **state)
{
	struct store_fixture *f = *state;
	char wal[400];
	struct stat st;

	insert_user(f->s, "usr_a");
	esc_store_close(f->s);
	f->s = NULL;
	snprintf(wal, sizeof wal, "%s-wal", f->path);
	assert_true(stat(wal, &st) != 0 || st.st_size == 0);
	open_url(f);
}

/* One lending of a read connection, as the engine's pool makes it: the
 * caller first (it reads the store's version), then the user. */
static void lend_and_read(struct esc_store *ro, const char *token_hash, const char *name)
{
	struct esc_session sg;
	struct esc_user ug;
	bool is_key = false;
	int64_t used = 0;
	int rc;

	ESC_STORE0(rc, ro, begin);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, ro, caller_get, token_hash, &is_key, &used, NULL, &sg, &ug);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, ro, user_get, "usr_a", &ug);
	assert_int_equal(rc, 0);
	assert_string_equal(ug.name, name);
	ESC_STORE0(rc, ro, rollback);
	assert_int_equal(rc, 0);
}

#define AUTH_VERSION "SELECT version FROM auth_version"

/* Issue 15: every write to the callers' tables raises auth_version in its
 * own transaction, whichever connection makes it (a daemon, escrowd keys,
 * sqlite3), and a write to any other table leaves it: a read connection
 * keeps its callers while it stays. */
static void a_write_to_the_callers_tables_raises_the_auth_version(void **state)
{
	struct store_fixture *f = *state;
	struct esc_session se = session('a');
	struct esc_user u = user("usr_a", "a@example.test");
	struct esc_order o = order("ord_1", "usr_a", "usr_s");
	char key[ESC_HASH_HEX_SIZE], key_id[ESC_ID_SIZE];
	int64_t v = raw_int(f, AUTH_VERSION);
	int rc;

	assert_true(v > 0);
	ESC_STORE(rc, f->s, user_insert, &u);
	assert_int_equal(rc, 0);
	assert_int_equal(raw_int(f, AUTH_VERSION), ++v);
	insert_session(f->s, &se);
	assert_int_equal(raw_int(f, AUTH_VERSION), ++v);
	ESC_STORE(rc, f->s, session_touch, se.token_hash, T0 + 120000);
	assert_int_equal(rc, 0);
	assert_int_equal(raw_int(f, AUTH_VERSION), ++v);
	hash_hex(key, 'k');
	assert_int_equal(insert_key(f->s, key, T0), 0);
	assert_int_equal(raw_int(f, AUTH_VERSION), ++v);
	ESC_STORE(rc, f->s, api_key_touch, key, T0 + 120000);
	assert_int_equal(rc, 0);
	assert_int_equal(raw_int(f, AUTH_VERSION), ++v);

	/* Other tables, in a transaction of several writes. */
	ESC_STORE0(rc, f->s, begin);
	assert_int_equal(rc, 0);
	insert_order(f->s, &o);
	ESC_STORE(rc, f->s, meta_set, "some_key", 42);
	assert_int_equal(rc, 0);
	ESC_STORE0(rc, f->s, commit);
	assert_int_equal(rc, 0);
	assert_int_equal(raw_int(f, AUTH_VERSION), v);

	/* A rolled back write raises nothing. */
	ESC_STORE0(rc, f->s, begin);
	assert_int_equal(rc, 0);
	u.suspension_lifted_at_ms = T0 + 9;
	ESC_STORE(rc, f->s, user_update, &u);
	assert_int_equal(rc, 0);
	ESC_STORE0(rc, f->s, rollback);
	assert_int_equal(rc, 0);
	assert_int_equal(raw_int(f, AUTH_VERSION), v);

	ESC_STORE(rc, f->s, user_update, &u);
	assert_int_equal(rc, 0);
	assert_int_equal(raw_int(f, AUTH_VERSION), ++v);
	snprintf(key_id, sizeof key_id, "key_%.12s", key);
	ESC_STORE(rc, f->s, api_key_revoke, key_id, T0 + 5);
	assert_int_equal(rc, 0);
	assert_int_equal(raw_int(f, AUTH_VERSION), ++v);
	ESC_STORE(rc, f->s, session_delete, se.token_hash);
	assert_int_equal(rc, 0);
	assert_int_equal(raw_int(f, AUTH_VERSION), ++v);
	/* Another connection's writes, none of the store's verbs. */
	raw_sql(f, "UPDATE users SET name = 'Renamed' WHERE id = 'usr_a'");
	assert_int_equal(raw_int(f, AUTH_VERSION), ++v);
	raw_sql(f, "DELETE FROM api_keys");
	assert_int_equal(raw_int(f, AUTH_VERSION), ++v);
	raw_sql(f, "DELETE FROM users");
	assert_int_equal(raw_int(f, AUTH_VERSION), ++v);
}

/* Issue 15: a read connection's kept caller outlives the commits of
 * commands, and not a revocation or a sign-out that another process
 * wrote straight into the file. */
static void a_read_connection_keeps_its_caller_until_the_callers_tables_change(void **state)
{
	struct store_fixture *f = *state;
	struct esc_store *ro = open_read_only(f);
	struct esc_session se = session('a'), sg;
	struct esc_user u = user("usr_a", "a@example.test"), ug;
	char key[ESC_HASH_HEX_SIZE], sql[200];
	bool is_key = false;
	int64_t used = 0;
	int rc;

	insert_caller(f->s, &u, &se);
	hash_hex(key, 'k');
	assert_int_equal(insert_key(f->s, key, T0), 0);
	for (int i = 0; i < 3; i++) {
		char id[ESC_ID_SIZE];
		esc_id_new(id, "ord_", T0 + i);
		struct esc_order o = order(id, "usr_a", "usr_s");
		insert_order(f->s, &o); /* a command's commit */
		lend_and_read(ro, se.token_hash, u.name);
		ESC_STORE0(rc, ro, begin);
		assert_int_equal(rc, 0);
		ESC_STORE(rc, ro, caller_get, key, &is_key, &used, NULL, &sg, &ug);
		assert_int_equal(rc, 0);
		assert_true(is_key);
		ESC_STORE0(rc, ro, rollback);
		assert_int_equal(rc, 0);
	}
	snprintf(sql, sizeof sql, "UPDATE api_keys SET revoked_at_ms = 5 WHERE key_hash = '%s'",
		 key);
	raw_sql(f, sql);
	ESC_STORE(rc, ro, caller_get, key, &is_key, &used, NULL, &sg, &ug);
	assert_int_equal(rc, ESC_ENOTFOUND);
	snprintf(sql, sizeof sql, "DELETE FROM sessions WHERE token_hash = '%s'", se.token_hash);
	raw_sql(f, sql);
	ESC_STORE(rc, ro, caller_get, se.token_hash, &is_key, &used, NULL, &sg, &ug);
	assert_int_equal(rc, ESC_ENOTFOUND);
	esc_store_close(ro);
}

/* The bytes of path this process maps, and where its first map begins. */
static int64_t mapped_of(const char *path, uintptr_t *start)
{
	char line[1024];
	size_t n = strlen(path);
	int64_t bytes = 0;
	FILE *m = fopen("/proc/self/maps", "r");

	*start = 0;
	assert_non_null(m);
	while (fgets(line, sizeof line, m)) {
		size_t len = strcspn(line, "\n");
		uintptr_t from = 0, to = 0;
		if (len < n || strncmp(line + len - n, path, n) ||
		    sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &from, &to) != 2)
			continue;
		if (!*start)
			*start = from;
		bytes += (int64_t)(to - from);
	}
	fclose(m);
	return bytes;
}

static int64_t file_bytes(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return (int64_t)st.st_size;
}

/* n copies of the order seed_id, ids "ord_pad_" and a number, in the
 * database file (one transaction, then a checkpoint). */
static void pad_orders(struct store_fixture *f, const char *seed_id, int n)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char sql[4096];

	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT group_concat(name, ', ') FROM "
					    "pragma_table_info('orders') WHERE name <> 'id'",
					    -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	const char *cols = (const char *)sqlite3_column_text(st, 0);
	snprintf(sql, sizeof sql,
		 "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < %d) "
		 "INSERT INTO orders (id, %s) SELECT printf('ord_pad_%%06d', i), %s "
		 "FROM k, orders WHERE orders.id = '%s'; PRAGMA wal_checkpoint(TRUNCATE);",
		 n, cols, cols, seed_id);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static int64_t orders_counted(struct esc_store *ro)
{
	int64_t counts[ESC_ST_COUNT], all = 0;
	int rc;

	ESC_STORE(rc, ro, orders_count, NULL, NULL, counts);
	assert_int_equal(rc, 0);
	for (int i = 0; i < ESC_ST_COUNT; i++)
		all += counts[i];
	return all;
}

/* Issue 15: a read connection of the pool reads the file through a map
 * that commits leave in place (keep_vfs, sqlite.c): it reads each commit
 * all the same, and what the file grew by; it maps the file again when
 * many pages were read past the map with nothing committed, and when the
 * file shrank (nothing is read past its end). */
static void a_pool_read_connection_keeps_its_map_across_commits(void **state)
{
	struct store_fixture *f = *state;
	struct esc_store *ro = open_read_only_as(f, ESC_STORE_READER); /* the pool's */
	struct esc_session se = session('a');
	struct esc_user u = user("usr_a", "a@example.test");
	struct esc_order o = order("ord_seed", "usr_a", "usr_s");
	uintptr_t start = 0, now = 0;
	int rc;

	insert_caller(f->s, &u, &se);
	insert_order(f->s, &o);
	/* In the database file, where a map reads them (not the WAL). */
	raw_sql(f, "PRAGMA wal_checkpoint(TRUNCATE)");
	lend_and_read(ro, se.token_hash, u.name);
	int64_t mapped = mapped_of(f->path, &start);
	assert_true(mapped > 0);
	for (int i = 0; i < 3; i++) {
		snprintf(u.name, sizeof u.name, "Renamed %d", i);
		ESC_STORE(rc, f->s, user_update, &u);
		assert_int_equal(rc, 0);
		raw_sql(f, "PRAGMA wal_checkpoint(TRUNCATE)");
		lend_and_read(ro, se.token_hash, u.name);
		assert_int_equal(mapped_of(f->path, &now), mapped);
		assert_true(now == start);
	}

	/* Grown: the new orders' pages are read with pread, the map where
	 * it was; read past it again and again with nothing committed (a
	 * scan of them all), it is made again at the next read, whole. */
	pad_orders(f, "ord_seed", 12000);
	assert_true(file_bytes(f->path) > mapped + 4 * 1024 * 1024);
	assert_int_equal(orders_counted(ro), 12001);
	assert_int_equal(mapped_of(f->path, &now), mapped);
	assert_int_equal(orders_counted(ro), 12001);
	assert_true(mapped_of(f->path, &now) >= file_bytes(f->path));

	/* Shrunk: never read past the file's end. */
	raw_sql(f, "DELETE FROM orders WHERE id LIKE 'ord_pad_%'; VACUUM; "
		   "PRAGMA wal_checkpoint(TRUNCATE)");
	assert_true(file_bytes(f->path) < 1024 * 1024);
	lend_and_read(ro, se.token_hash, u.name);
	assert_int_equal(orders_counted(ro), 1);
	assert_true(mapped_of(f->path, &now) <= file_bytes(f->path));
	assert_true(mapped_of(f->path, &now) > 0);
	esc_store_close(ro);
}

static void the_checkpointer_moves_commits_into_the_database_file(void **state)
{
	struct store_fixture *f = *state;
	struct stat before, now;
	int rc;

	assert_int_equal(stat(f->path, &before), 0);
	ESC_STORE0(rc, f->s, begin);
	assert_int_equal(rc, 0);
	for (int i = 0; i < 200; i++) {
		char id[ESC_ID_SIZE];
		esc_id_new(id, "ord_", T0 + i);
		struct esc_order o = order(id, "usr_b", "usr_s");
		FILL(o.cancel_comment, 'x');
		insert_order(f->s, &o);
	}
	ESC_STORE0(rc, f->s, commit);
	assert_int_equal(rc, 0);
	/* Nothing but the background thread writes the database file while
	 * the store is open; give it up to 10 s. */
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(stat(f->path, &now), 0);
		if (now.st_size > before.st_size + 200 * 1000)
			break;
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	}
	assert_true(now.st_size > before.st_size + 200 * 1000);
}

static void an_overlong_stored_string_is_cut_to_its_field(void **state)
{
	struct store_fixture *f = *state;
	struct esc_order o = order("ord_1", "usr_b", "usr_s"), got;
	int rc;

	insert_order(f->s, &o);
	/* 2-byte characters, so the cut must not split one. */
	raw_sql(f, "UPDATE orders SET carrier = replace(hex(zeroblob(200)), '00', "
		   "char(252)), tracking = 'abc' || replace(hex(zeroblob(100)), '00', char(252))");
	ESC_STORE(rc, f->s, order_get, "ord_1", &got);
	assert_int_equal(rc, 0);
	assert_int_equal(strlen(got.carrier), ESC_CARRIER_MAX);
	for (size_t i = 0; i < ESC_CARRIER_MAX; i += 2)
		assert_memory_equal(got.carrier + i, "\xc3\xbc", 2);
	/* 3 + 2k bytes: the 64-byte limit falls inside a character. */
	assert_int_equal(strlen(got.tracking), ESC_TRACKING_MAX - 1);
	assert_memory_equal(got.tracking + ESC_TRACKING_MAX - 3, "\xc3\xbc", 2);
}

/* ---- any backend: what ledger_check finds in a store damaged by hand ---- */

static void an_unknown_state_name_is_an_io_error(void **state)
{
	struct store_fixture *f = *state;
	struct esc_order o = order("ord_1", "usr_b", "usr_s"), got;
	int rc;

	insert_order(f->s, &o);
	raw_sql(f, "UPDATE orders SET state = 'from_the_future'");
	ESC_STORE(rc, f->s, order_get, "ord_1", &got);
	assert_int_equal(rc, ESC_EIO);
}

/* A paid order whose ledger is sound: each test breaks one thing. */
static void sound_order(struct store_fixture *f)
{
	struct esc_order o = order("ord_1", "usr_b", "usr_s");

	o.paid_minor = 100;
	o.refunded_minor = 0;
	o.released_minor = 0;
	insert_order(f->s, &o);
	append(f->s, transfer("ord_1/pay", "ord_1", "payment", "buyer:usr_b", "escrow:ord_1", 100));
	assert_int_equal(check_ledger(f->s)->problems_count, 0);
}

static void ledger_check_finds_a_currency_that_does_not_sum_to_zero(void **state)
{
	struct store_fixture *f = *state;
	struct esc_ledger_report *r;

	sound_order(f);
	raw_sql(f, "UPDATE entries SET amount_minor = amount_minor + 12 "
		   "WHERE transfer_id = 'ord_1/pay' AND leg = 0");
	r = check_ledger(f->s);
	assert_true(has_problem(r, "transfers_sum_to_zero: EUR entries sum to 12, not 0"));
}

static void ledger_check_finds_a_transfer_with_one_leg(void **state)
{
	struct store_fixture *f = *state;
	struct esc_ledger_report *r;

	sound_order(f);
	raw_sql(f, "DELETE FROM entries WHERE transfer_id = 'ord_1/pay' AND leg = 1");
	r = check_ledger(f->s);
	assert_true(has_problem(r, "transfer_legs: ord_1/pay has 1 legs"));
}

static void ledger_check_finds_a_transfer_across_currencies(void **state)
{
	struct store_fixture *f = *state;
	struct esc_ledger_report *r;

	sound_order(f);
	raw_sql(f, "UPDATE entries SET currency = 'USD' WHERE leg = 1");
	r = check_ledger(f->s);
	assert_true(has_problem(r, "transfer_legs: ord_1/pay has legs in 2 currencies"));
}

static void ledger_check_finds_a_negative_escrow(void **state)
{
	struct store_fixture *f = *state;
	struct esc_ledger_report *r;

	sound_order(f);
	raw_sql(f,
		"UPDATE entries SET amount_minor = -amount_minor WHERE transfer_id = 'ord_1/pay'");
	r = check_ledger(f->s);
	assert_true(has_problem(r, "escrow_not_negative: escrow:ord_1 is -100 EUR"));
}

static void ledger_check_finds_an_escrow_that_differs_from_the_order_row(void **state)
{
	struct store_fixture *f = *state;
	struct esc_ledger_report *r;

	sound_order(f);
	raw_sql(f, "UPDATE orders SET released_minor = 40");
	r = check_ledger(f->s);
	assert_int_equal(r->problems_count, 1);
	assert_true(has_problem(r, "escrow_matches_order: escrow:ord_1 holds 100 EUR"));
}

static void ledger_check_finds_a_balance_that_differs_from_its_entries(void **state)
{
	struct store_fixture *f = *state;
	struct esc_ledger_report *r;

	sound_order(f);
	raw_sql(f, "UPDATE balances SET balance_minor = balance_minor + 1");
	r = check_ledger(f->s);
	assert_int_equal(r->problems_count, 1);
	assert_true(has_problem(r, "balances_match_entries: buyer:usr_b is -99 EUR, but its "
				   "entries sum to -100"));
}

/* Issue 15: escrowd check proves the reputation counters against the
 * marks they count. */
static void ledger_check_finds_reputation_counters_that_disagree_with_marks(void **state)
{
	struct store_fixture *f = *state;
	struct esc_ledger_report *r;
	int rc;

	sound_order(f);
	ESC_STORE(rc, f->s, mark_append, "usr_b", ESC_MARK_BUYER_PAID, "ord_1", T0, NULL);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, mark_append, "usr_s", ESC_MARK_SELLER_SOLD, "ord_1", T0, NULL);
	assert_int_equal(rc, 0);
	assert_int_equal(check_ledger(f->s)->problems_count, 0);
	raw_sql(f, "UPDATE reputation_counts SET long_buyer_paid = 2 WHERE user_id = 'usr_b'");
	raw_sql(f, "DELETE FROM reputation_counts WHERE user_id = 'usr_s'");
	r = check_ledger(f->s);
	assert_int_equal(r->problems_count, 2);
	assert_true(has_problem(r, "reputation_counts_match_marks: usr_b's reputation counters "
				   "disagree with their marks"));
	assert_true(has_problem(r, "reputation_counts_match_marks: usr_s has marks but no "
				   "counters"));
}

/* Issue 15's migration step counts the marks a store held before it, as
 * every mark from the start of time. */
static void the_counters_step_counts_the_marks_already_there(void **state)
{
	struct store_fixture *f = *state;
	const char *step = NULL;
	struct esc_rep_counts c;
	int rc;

	for (int i = 0; esc_migrations_shared[i]; i++)
		if (strstr(esc_migrations_shared[i], "CREATE TABLE reputation_counts"))
			step = esc_migrations_shared[i];
	assert_non_null(step);
	raw_sql(f, "DROP TABLE reputation_counts");
	raw_sql(f, "INSERT INTO marks (user_id, at_ms, order_id, mark) VALUES "
		   "('usr_b', 100, 'ord_1', 'buyer_paid'), ('usr_b', 200, 'ord_1', "
		   "'buyer_cancelled'), "
		   "('usr_b', 300, 'ord_2', 'buyer_paid'), ('usr_s', 100, 'ord_1', 'seller_sold')");
	char *sql = esc_migration_sql(step,
				      backend == &pg_backend ? ESC_DIALECT_PG : ESC_DIALECT_SQLITE);
	assert_non_null(sql);
	raw_sql(f, sql);
	free(sql);
	assert_int_equal(check_ledger(f->s)->problems_count, 0);
	ESC_STORE(rc, f->s, mark_counts, "usr_b", 150, 0, &c);
	assert_int_equal(rc, 0);
	assert_int_equal(c.short_[ESC_MARK_BUYER_PAID], 1);
	assert_int_equal(c.long_[ESC_MARK_BUYER_PAID], 2);
	assert_int_equal(c.short_[ESC_MARK_BUYER_CANCELLED], 1);
	ESC_STORE(rc, f->s, mark_counts, "usr_s", 100, 99, &c);
	assert_int_equal(rc, 0);
	assert_int_equal(c.short_[ESC_MARK_SELLER_SOLD], 0);
	assert_int_equal(c.long_[ESC_MARK_SELLER_SOLD], 1);
}

static void ledger_check_finds_entries_of_a_kept_account_without_a_balance(void **state)
{
	struct store_fixture *f = *state;
	struct esc_ledger_report *r;

	sound_order(f);
	raw_sql(f, "DELETE FROM balances");
	r = check_ledger(f->s);
	assert_int_equal(r->problems_count, 1);
	assert_true(has_problem(r, "balances_match_entries: buyer:usr_b is 0 EUR"));
}

static void ledger_check_counts_problems_beyond_those_it_lists(void **state)
{
	struct store_fixture *f = *state;
	struct esc_ledger_report *r;

	raw_sql(f, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40) "
		   "INSERT INTO entries SELECT 't' || i, 0, 'external', 1, 'EUR', 'ord_1', "
		   "'payment', 0 FROM n");
	r = check_ledger(f->s);
	/* 40 one-legged transfers and one currency off by 40. */
	assert_int_equal(r->problems_count, 41);
	assert_int_equal(r->transfers_count, 40);
	assert_true(has_problem(r, "transfers_sum_to_zero: EUR entries sum to 40, not 0"));
	assert_true(strlen(r->problems[ESC_CHECK_PROBLEMS_MAX - 1]) > 0);
}

#define S(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

static const struct CMUnitTest sqlite_only[] = {
	S(store_uses_wal_and_the_latest_schema),
	S(reopening_applies_no_migration_twice),
	S(a_store_newer_than_the_binary_is_refused),
	S(a_plain_path_opens_the_same_store),
	S(an_unopenable_path_fails_with_a_message),
	S(close_leaves_no_wal_behind),
	S(the_checkpointer_moves_commits_into_the_database_file),
	S(an_overlong_stored_string_is_cut_to_its_field),
	S(a_pool_read_connection_keeps_its_map_across_commits),
	S(a_write_to_the_callers_tables_raises_the_auth_version),
	S(a_read_connection_keeps_its_caller_until_the_callers_tables_change),
};

static const struct CMUnitTest damaged[] = {
	S(an_unknown_state_name_is_an_io_error),
	S(ledger_check_finds_a_currency_that_does_not_sum_to_zero),
	S(ledger_check_finds_a_transfer_with_one_leg),
	S(ledger_check_finds_a_transfer_across_currencies),
	S(ledger_check_finds_a_negative_escrow),
	S(ledger_check_finds_an_escrow_that_differs_from_the_order_row),
	S(ledger_check_finds_a_balance_that_differs_from_its_entries),
	S(ledger_check_finds_entries_of_a_kept_account_without_a_balance),
	S(ledger_check_finds_reputation_counters_that_disagree_with_marks),
	S(the_counters_step_counts_the_marks_already_there),
	S(ledger_check_counts_problems_beyond_those_it_lists),
};

/* Run the damage tests against a new store of backend b per test. */
static int run_damaged(const struct backend *b)
{
	char name[64];

	backend = b;
	snprintf(name, sizeof name, "store damaged by hand (%s)", b->name);
	return cmocka_run_group_tests_name(name, damaged, NULL, NULL);
}

/* ---- opening by URL, with no server needed ---- */

static void a_postgresql_server_that_cannot_be_reached_fails_with_a_message(void **state)
{
	struct esc_store *s = NULL;
	char err[512] = "";
	int rc;

	(void)state;
	/* Port 1 on loopback: refused at once. */
	rc = esc_store_open("postgresql://escrowd@127.0.0.1:1/escrowd?connect_timeout=5", &s, err,
			    sizeof err);
	assert_int_equal(rc, ESC_EIO);
	assert_null(s);
	assert_non_null(strstr(err, "cannot connect to PostgreSQL: "));
	assert_non_null(strstr(err, "127.0.0.1"));
	assert_null(strchr(err, '\n'));
	rc = esc_store_open("postgres://escrowd@127.0.0.1:1/escrowd?connect_timeout=5", &s, err,
			    sizeof err);
	assert_int_equal(rc, ESC_EIO);
	assert_null(s);
}

/* The URL goes to libpq whole: a parameter it does not know is refused
 * by name, before any connection. */
static void a_postgresql_url_parameter_libpq_does_not_know_is_refused(void **state)
{
	struct esc_store *s = NULL;
	char err[512] = "";
	int rc;

	(void)state;
	rc = esc_store_open("postgresql://escrowd@127.0.0.1:1/escrowd?pool=8", &s, err, sizeof err);
	assert_int_equal(rc, ESC_EIO);
	assert_null(s);
	assert_non_null(strstr(err, "pool"));
}

/* ---- the mapping both backends share ---- */

/* The SQL's column lists and the records' mappings name the same columns,
 * in the same order. */
static void each_records_columns_are_the_ones_its_sql_lists(void **state)
{
	(void)state;
	assert_true(esc_record_names(&esc_user_record, 0, ESC_USER_COLUMNS));
	assert_true(esc_record_names(&esc_history_record, 0, ESC_HISTORY_COLUMNS));
	assert_true(esc_record_names(&esc_refund_record, 0, ESC_REFUND_COLUMNS));
	assert_true(esc_record_names(&esc_deadline_record, 0, ESC_DEADLINE_COLUMNS));
	assert_true(esc_record_names(&esc_item_record, 0, ESC_ITEM_COLUMNS));
	assert_true(esc_record_names(&esc_session_record, 0, ESC_SESSION_COLUMNS));
	assert_true(esc_record_names(&esc_mark_record, 0, ESC_MARK_COLUMNS));
	assert_true(esc_record_names(&esc_lift_record, 0, ESC_LIFT_COLUMNS));
	assert_true(esc_record_names(&esc_message_record, 0, ESC_MESSAGE_COLUMNS));
	assert_true(esc_record_names(&esc_evidence_record, 0, ESC_EVIDENCE_COLUMNS));
	assert_true(
		esc_record_names(&esc_webhook_endpoint_record, 0, ESC_WEBHOOK_ENDPOINT_COLUMNS));
	assert_true(
		esc_record_names(&esc_webhook_delivery_record, 0, ESC_WEBHOOK_DELIVERY_COLUMNS));
	assert_true(esc_record_names(&esc_webhook_attempt_record, 0, ESC_WEBHOOK_ATTEMPT_COLUMNS));
	assert_false(esc_record_names(&esc_user_record, 0, "id, role"));
	assert_false(esc_record_names(&esc_user_record, 1, ESC_USER_COLUMNS));
}

/* The text of sql between after and before, into out. */
static void between(const char *sql, const char *after, const char *before, char *out, size_t size)
{
	const char *from = strstr(sql, after);
	const char *to = NULL;

	assert_non_null(from);
	from += strlen(after);
	to = strstr(from, before);
	assert_non_null(to);
	assert_true((size_t)(to - from) < size);
	memcpy(out, from, (size_t)(to - from));
	out[to - from] = '\0';
}

/* "?first, ?first+1, ..., ?last" */
static void numbered(int first, int last, char *out, size_t size)
{
	size_t n = 0;

	out[0] = '\0';
	for (int i = first; i <= last; i++)
		n += (size_t)snprintf(out + n, size - n, "%s?%d", i > first ? ", " : "", i);
	assert_true(n < size);
}

/* The order's statements are written from its column table: every
 * column, in its order, each with its own parameter, and the keys only at
 * insert. */
static void the_order_statements_are_built_from_its_columns(void **state)
{
	int count = esc_order_record.count, updated = count - ESC_ORDER_KEYS;
	char list[ESC_SQL_SIZE], want[ESC_SQL_SIZE + 64];

	(void)state;
	esc_sql_init();
	esc_sql_init();
	between(esc_sql_order_select, "SELECT ", " FROM orders", list, sizeof list);
	assert_true(esc_record_names(&esc_order_record, 0, list));
	snprintf(want, sizeof want, "%s WHERE id = ?1", esc_sql_order_select);
	assert_string_equal(esc_sql_order_get, want);

	between(esc_sql_order_insert, "INSERT INTO orders (", ") VALUES (", list, sizeof list);
	assert_true(esc_record_names(&esc_order_record, 0, list));
	between(esc_sql_order_insert, ") VALUES (", ")", list, sizeof list);
	numbered(1, count, want, sizeof want);
	assert_string_equal(list, want);
	assert_int_equal(esc_order_insert_params(), count);

	between(esc_sql_order_update, "UPDATE orders SET (", ") = (", list, sizeof list);
	assert_true(esc_record_names(&esc_order_record, ESC_ORDER_KEYS, list));
	assert_null(strstr(list, "buyer_id"));
	between(esc_sql_order_update, ") = (", ") WHERE", list, sizeof list);
	numbered(1, updated, want, sizeof want);
	assert_string_equal(list, want);
	snprintf(want, sizeof want, ") WHERE id = ?%d AND version = ?%d", updated + 1, updated + 2);
	assert_non_null(strstr(esc_sql_order_update, want));
	assert_int_equal(esc_order_update_params(), updated + 2);
	assert_true(esc_order_update_params() <= ESC_SQL_PARAMS_MAX);
}

/* The counters' columns are the marks, in enum esc_mark's order. */
static void the_reputation_columns_are_the_marks_in_order(void **state)
{
	static const char *const names[] = {
#define NAME(k, m, sp, lp) [k] = #m,
		ESC_REP_MARKS(NAME)
#undef NAME
	};
	(void)state;
	assert_int_equal(sizeof names / sizeof names[0], ESC_MARK_COUNT);
	for (int m = 0; m < ESC_MARK_COUNT; m++)
		assert_string_equal(names[m], esc_mark_name((enum esc_mark)m));
}

/* A shared migration step in each dialect's words; other braces stay. */
static void a_shared_migration_step_gets_each_dialects_types(void **state)
{
	const char *step = "CREATE TABLE t (a {text}, b {int}, c {bytes}, d {text_null}, "
			   "e {int_null}, f {text} DEFAULT '{}'){without_rowid};";
	char *sq = esc_migration_sql(step, ESC_DIALECT_SQLITE);
	char *pg = esc_migration_sql(step, ESC_DIALECT_PG);

	(void)state;
	assert_string_equal(sq, "CREATE TABLE t (a TEXT NOT NULL, b INTEGER NOT NULL, "
				"c BLOB NOT NULL, d TEXT, e INTEGER, f TEXT NOT NULL DEFAULT "
				"'{}') WITHOUT ROWID;");
	assert_string_equal(pg, "CREATE TABLE t (a TEXT COLLATE \"C\" NOT NULL, b BIGINT NOT "
				"NULL, c BYTEA NOT NULL, d TEXT COLLATE \"C\", e BIGINT, "
				"f TEXT COLLATE \"C\" NOT NULL DEFAULT '{}');");
	free(sq);
	free(pg);
	/* A step of SQLite's alone: its SQL there, nothing on PostgreSQL. */
	sq = esc_migration_sql(ESC_SQLITE_ONLY "CREATE TABLE t (a {int});", ESC_DIALECT_SQLITE);
	pg = esc_migration_sql(ESC_SQLITE_ONLY "CREATE TABLE t (a {int});", ESC_DIALECT_PG);
	assert_string_equal(sq, "CREATE TABLE t (a INTEGER NOT NULL);");
	assert_string_equal(pg, "SELECT 1;\n");
	free(sq);
	free(pg);
	/* Every shipped step reads as SQL in both: no type word left over. */
	for (int i = 0; esc_migrations_shared[i]; i++) {
		for (int d = ESC_DIALECT_SQLITE; d <= ESC_DIALECT_PG; d++) {
			char *text = esc_migration_sql(esc_migrations_shared[i], d);
			assert_non_null(text);
			assert_null(strstr(text, "{int"));
			assert_null(strstr(text, "{text"));
			assert_null(strstr(text, "{bytes}"));
			assert_null(strstr(text, "{without_rowid}"));
			assert_null(strstr(text, ESC_SQLITE_ONLY));
			free(text);
		}
	}
}

/* PostgreSQL's dialect of the shared SQL: each ?N placeholder becomes $N,
 * and nothing else changes, quoted text and names included. */
static void shared_sql_gets_dollar_placeholders_for_postgresql(void **state)
{
	char out[128];

	(void)state;
	esc_sql_dollars("SELECT a FROM t WHERE id = ?1 AND n > ?12", out, sizeof out);
	assert_string_equal(out, "SELECT a FROM t WHERE id = $1 AND n > $12");
	esc_sql_dollars("SELECT '?1', \"?2\", 'it''s ?3' WHERE x = ?4", out, sizeof out);
	assert_string_equal(out, "SELECT '?1', \"?2\", 'it''s ?3' WHERE x = $4");
	esc_sql_dollars("SELECT ? FROM t", out, sizeof out);
	assert_string_equal(out, "SELECT ? FROM t");
}

static const struct CMUnitTest urls[] = {
	cmocka_unit_test(ids_of_one_millisecond_rise),
	cmocka_unit_test(each_records_columns_are_the_ones_its_sql_lists),
	cmocka_unit_test(the_order_statements_are_built_from_its_columns),
	cmocka_unit_test(a_shared_migration_step_gets_each_dialects_types),
	cmocka_unit_test(the_reputation_columns_are_the_marks_in_order),
	cmocka_unit_test(shared_sql_gets_dollar_placeholders_for_postgresql),
	cmocka_unit_test(a_postgresql_server_that_cannot_be_reached_fails_with_a_message),
	cmocka_unit_test(a_postgresql_url_parameter_libpq_does_not_know_is_refused),
};

/* ---- PostgreSQL only: schema, serialization failures, connections ---- */

static struct esc_store *open_other(struct store_fixture *f)
{
	struct esc_store *s = NULL;
	char err[256] = "";
	int rc = esc_store_open(f->url, &s, err, sizeof err);

	if (rc)
		fprintf(stderr, "open %s: %s\n", f->url, err);
	assert_int_equal(rc, 0);
	return s;
}

static void pg_store_records_each_migration_once(void **state)
{
	struct store_fixture *f = *state;

	assert_int_equal(pg_raw_int(f, "SELECT MAX(version) FROM schema_migrations"),
			 esc_pg_schema_version());
	insert_user(f->s, "usr_a");
	reopen(f);
	reopen(f);
	assert_int_equal(pg_raw_int(f, "SELECT COUNT(*) FROM schema_migrations"),
			 esc_pg_schema_version());
	assert_true(user_exists(f->s, "usr_a"));
}

struct opener {
	const char *url;
	struct esc_store *s;
	int rc;
	char err[256];
};

static void *open_one(void *arg)
{
	struct opener *o = arg;

	o->rc = esc_store_open(o->url, &o->s, o->err, sizeof o->err);
	return NULL;
}

static void pg_stores_opened_at_once_migrate_once(void **state)
{
	struct store_fixture *f = *state;
	struct store_fixture other;
	struct opener o[4];
	pthread_t t[4];

	/* A new database that several processes open at the same moment. */
	memset(&other, 0, sizeof other);
	pg_fresh(&other);
	for (int i = 0; i < 4; i++) {
		memset(&o[i], 0, sizeof o[i]);
		o[i].url = other.url;
		assert_int_equal(pthread_create(&t[i], NULL, open_one, &o[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	for (int i = 0; i < 4; i++) {
		if (o[i].rc)
			fprintf(stderr, "open: %s\n", o[i].err);
		assert_int_equal(o[i].rc, 0);
	}
	insert_user(o[3].s, "usr_a");
	assert_true(user_exists(o[0].s, "usr_a"));
	for (int i = 0; i < 4; i++)
		esc_store_close(o[i].s);
	assert_int_equal(pg_raw_int(&other, "SELECT COUNT(*) FROM schema_migrations"),
			 esc_pg_schema_version());
	pg_cleanup(&other);
	(void)f;
}

static void pg_database_newer_than_the_binary_is_refused(void **state)
{
	struct store_fixture *f = *state;
	struct esc_store *s = NULL;
	char sql[128], err[256] = "";
	int rc;

	esc_store_close(f->s);
	f->s = NULL;
	snprintf(sql, sizeof sql, "INSERT INTO schema_migrations (version) VALUES (%d)",
		 esc_pg_schema_version() + 1);
	raw_sql(f, sql);
	rc = esc_store_open(f->url, &s, err, sizeof err);
	assert_int_equal(rc, ESC_EUNSUPPORTED);
	assert_null(s);
	assert_non_null(strstr(err, "newer than this escrowd"));
	snprintf(sql, sizeof sql, "DELETE FROM schema_migrations WHERE version = %d",
		 esc_pg_schema_version() + 1);
	raw_sql(f, sql);
	open_url(f);
}

static void pg_text_sorts_byte_by_byte_whatever_the_locale(void **state)
{
	struct store_fixture *f = *state;
	const char *ids[] = {"usr_B", "usr_a", "usr_-", "usr__"};
	struct esc_user got[4];
	size_t n = 0;
	int rc;

	for (int i = 0; i < 4; i++)
		insert_user(f->s, ids[i]);
	ESC_STORE(rc, f->s, users_list, NULL, got, 4, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 4);
	/* '-' < 'B' < '_' < 'a' in ASCII. */
	assert_string_equal(got[0].id, "usr_-");
	assert_string_equal(got[1].id, "usr_B");
	assert_string_equal(got[2].id, "usr__");
	assert_string_equal(got[3].id, "usr_a");
}

static void pg_emails_fold_ascii_case_only(void **state)
{
	struct store_fixture *f = *state;
	struct esc_user a = user("usr_a", "\xc3\x89lise@example.com"), b, got;
	int rc;

	ESC_STORE(rc, f->s, user_insert, &a);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, user_by_email, "\xc3\x89LISE@EXAMPLE.COM", &got);
	assert_int_equal(rc, 0);
	assert_string_equal(got.id, "usr_a");
	/* As SQLite's NOCASE: é and É are two letters. */
	b = user("usr_b", "\xc3\xa9lise@example.com");
	ESC_STORE(rc, f->s, user_insert, &b);
	assert_int_equal(rc, 0);
}

/* A daemon's role may read and write rows without the right to create
 * tables (PostgreSQL 15 gives no one but the owner CREATE on public): it
 * opens a database that `escrowd migrate` brought up to date. */
static void pg_a_role_that_cannot_create_opens_a_migrated_database(void **state)
{
	struct store_fixture *f = *state;
	struct store_fixture other;
	PGresult *res = pg_raw(f, "SELECT current_database()");
	char role[80], sql[512];
	int n;

	assert_int_equal(PQntuples(res), 1);
	snprintf(role, sizeof role, "%s_rows", PQgetvalue(res, 0, 0));
	PQclear(res);
	snprintf(sql, sizeof sql,
		 "CREATE ROLE %s NOLOGIN; REVOKE CREATE ON SCHEMA public FROM PUBLIC; "
		 "GRANT USAGE ON SCHEMA public TO %s; "
		 "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %s",
		 role, role, role);
	raw_sql(f, sql);
	/* Connected as the test's superuser, acting as that role. */
	memset(&other, 0, sizeof other);
	n = snprintf(other.url, sizeof other.url, "%s%soptions=-crole%%3D%s", f->url,
		     strchr(f->url, '?') ? "&" : "?", role);
	assert_true(n > 0 && (size_t)n < sizeof other.url);
	open_url(&other);
	insert_user(other.s, "usr_a");
	assert_true(user_exists(other.s, "usr_a"));
	esc_store_close(other.s);
	snprintf(sql, sizeof sql, "DROP OWNED BY %s; DROP ROLE %s", role, role);
	raw_sql(f, sql);
}

/* Two transactions read one order; the first writes it and commits; the
 * second's write would lose that update, so PostgreSQL aborts it. */
/* b's transaction met a concurrent one: neither its savepoint nor its
 * commit can save it (ESC_ERETRY), and only its rollback ends it. */
static void assert_doomed(struct esc_store *b)
{
	int rc;

	ESC_STORE0(rc, b, savepoint_rollback);
	assert_int_equal(rc, ESC_ERETRY);
	ESC_STORE0(rc, b, commit);
	assert_int_equal(rc, ESC_ERETRY);
	ESC_STORE0(rc, b, rollback);
	assert_int_equal(rc, 0);
}

static void pg_a_concurrent_update_makes_the_later_transaction_retry(void **state)
{
	struct store_fixture *f = *state;
	struct esc_order o = order("ord_1", "usr_b", "usr_s"), a_view, b_view;
	struct esc_store *b = open_other(f);
	int rc;

	insert_order(f->s, &o);
	ESC_STORE0(rc, f->s, begin);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, order_get, "ord_1", &a_view);
	assert_int_equal(rc, 0);
	ESC_STORE0(rc, b, begin);
	assert_int_equal(rc, 0);
	ESC_STORE0(rc, b, savepoint);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, b, order_get, "ord_1", &b_view);
	assert_int_equal(rc, 0);
	a_view.version = 8;
	ESC_STORE(rc, f->s, order_update, &a_view, 7);
	assert_int_equal(rc, 0);
	ESC_STORE0(rc, f->s, commit);
	assert_int_equal(rc, 0);
	b_view.version = 8;
	ESC_STORE(rc, b, order_update, &b_view, 7);
	/* In the pipeline the update is not waited for: its failure comes
	 * with the next statement that is, and dooms the transaction. */
	if (!rc)
		ESC_STORE(rc, b, order_get, "ord_1", &b_view);
	assert_int_equal(rc, ESC_ERETRY);
	assert_doomed(b);
	/* Run again, it sees the first one's write and takes its turn. */
	ESC_STORE0(rc, b, begin);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, b, order_get, "ord_1", &b_view);
	assert_int_equal(rc, 0);
	assert_int_equal(b_view.version, 8);
	b_view.version = 9;
	ESC_STORE(rc, b, order_update, &b_view, 8);
	assert_int_equal(rc, 0);
	ESC_STORE0(rc, b, commit);
	assert_int_equal(rc, 0);
	esc_store_close(b);
}

/* One batch's transaction of another process: read_ahead of an order,
 * then its seller as it reads them (name) and the order (version), then
 * the order's write and commit. */
struct turn {
	struct esc_store *s;
	const char *order_id, *seller_id;
	int rc;
	int64_t version;
	char name[ESC_NAME_MAX + 1];
};

static void *take_turn(void *arg)
{
	struct turn *t = arg;
	const char *ids[] = {t->order_id};
	struct esc_read_ahead ra = {.order_ids = ids, .orders_count = 1};
	struct esc_user u;
	struct esc_order o;

	ESC_STORE0(t->rc, t->s, begin);
	if (!t->rc)
		ESC_STORE(t->rc, t->s, read_ahead, &ra);
	if (!t->rc)
		ESC_STORE(t->rc, t->s, user_get, t->seller_id, &u);
	if (!t->rc) {
		snprintf(t->name, sizeof t->name, "%s", u.name);
		ESC_STORE(t->rc, t->s, order_get, t->order_id, &o);
	}
	if (!t->rc) {
		t->version = o.version;
		o.version++;
		ESC_STORE(t->rc, t->s, order_update, &o, t->version);
	}
	if (!t->rc)
		ESC_STORE0(t->rc, t->s, commit);
	else {
		int rc;
		ESC_STORE0(rc, t->s, rollback);
		(void)rc;
	}
	return NULL;
}

/* take_turns' locks in this test's database (others run beside it). */
#define TURNS_IN_THIS_DATABASE                                                                     \
	"SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1702060914 "      \
	"AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
#define TURNS_WAITING TURNS_IN_THIS_DATABASE " AND NOT granted"

/* Issue 15: batches of two processes that share a party take turns
 * (pg.c's take_turns): the later waits for the earlier's commit before
 * its snapshot, so it reads the earlier's writes and commits its own
 * instead of failing with a serialization failure; batches with no
 * party in common do not wait; commit and rollback release the turns. */
static void pg_batches_that_share_a_party_take_turns(void **state)
{
	struct store_fixture *f = *state;
	struct esc_order o1 = order("ord_1", "usr_b", "usr_s"),
			 o2 = order("ord_2", "usr_c", "usr_t"),
			 o3 = order("ord_3", "usr_d", "usr_s");
	struct esc_user seller = user("usr_s", "s@example.com"),
			other = user("usr_t", "t@example.com");
	const char *ids[] = {"ord_1"};
	struct esc_read_ahead ra = {.order_ids = ids, .orders_count = 1};
	struct turn t = {.order_id = "ord_3", .seller_id = "usr_s"},
		    apart = {.order_id = "ord_2", .seller_id = "usr_t"};
	struct store_fixture timed;
	struct esc_order got;
	pthread_t thread;
	int rc, n;

	ESC_STORE(rc, f->s, user_insert, &seller);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, user_insert, &other);
	assert_int_equal(rc, 0);
	insert_order(f->s, &o1);
	insert_order(f->s, &o2);
	insert_order(f->s, &o3);
	/* A batch that waited wrongly fails after 10 s instead of hanging. */
	memset(&timed, 0, sizeof timed);
	n = snprintf(timed.url, sizeof timed.url, "%s%soptions=-clock_timeout%%3D10000", f->url,
		     strchr(f->url, '?') ? "&" : "?");
	assert_true(n > 0 && (size_t)n < sizeof timed.url);
	t.s = open_other(&timed);
	apart.s = t.s;
	/* The first batch renames its seller and writes its order. */
	begin_reading_ahead(f->s, &ra);
	snprintf(seller.name, sizeof seller.name, "Renamed shop");
	ESC_STORE(rc, f->s, user_update, &seller);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, order_get, "ord_1", &got);
	assert_int_equal(rc, 0);
	got.version++;
	ESC_STORE(rc, f->s, order_update, &got, got.version - 1);
	assert_int_equal(rc, 0);
	/* Another order, another buyer and seller: no wait. */
	take_turn(&apart);
	assert_int_equal(apart.rc, 0);
	assert_int_equal(apart.version, o2.version);
	/* Another order of the same seller: it waits for the turn, then
	 * reads the seller as the first batch left them. */
	assert_int_equal(pthread_create(&thread, NULL, take_turn, &t), 0);
	for (int i = 0; i < 1000 && pg_raw_int(f, TURNS_WAITING) == 0; i++)
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	assert_int_equal(pg_raw_int(f, TURNS_WAITING), 1);
	ESC_STORE0(rc, f->s, commit);
	assert_int_equal(rc, 0);
	assert_int_equal(pthread_join(thread, NULL), 0);
	assert_int_equal(t.rc, 0);
	assert_string_equal(t.name, "Renamed shop");
	ESC_STORE(rc, f->s, order_get, "ord_3", &got);
	assert_int_equal(rc, 0);
	assert_int_equal(got.version, o3.version + 1);
	assert_int_equal(pg_raw_int(f, TURNS_IN_THIS_DATABASE), 0);
	/* A rollback gives the turns back too. */
	begin_reading_ahead(f->s, &ra);
	assert_true(pg_raw_int(f, TURNS_IN_THIS_DATABASE) > 0);
	ESC_STORE0(rc, f->s, rollback);
	assert_int_equal(rc, 0);
	assert_int_equal(pg_raw_int(f, TURNS_IN_THIS_DATABASE), 0);
	esc_store_close(t.s);
}

/* A batch whose writes fill pg.c's pipeline (PIPE_MAX answers owed) up
 * to COMMIT, for every count around its size: COMMIT and the release of
 * the turns after it still fit in one round trip, COMMIT's answer is the
 * one reported, and every transfer is kept. */
static void pg_a_commit_after_a_full_pipeline_is_answered(void **state)
{
	struct store_fixture *f = *state;
	struct esc_order o = order("ord_1", "usr_b", "usr_s");
	const char *ids[] = {"ord_1"};
	struct esc_read_ahead ra = {.order_ids = ids, .orders_count = 1};
	int64_t moved = 0;
	char id[ESC_ID_SIZE];
	int rc;

	insert_order(f->s, &o);
	for (int n = 250; n <= 260; n++) {
		begin_reading_ahead(f->s, &ra);
		for (int i = 0; i < n; i++) {
			snprintf(id, sizeof id, "trf_%d_%d", n, i);
			append(f->s,
			       transfer(id, "ord_1", "pay", "external:card", "escrow:ord_1", 1));
		}
		ESC_STORE0(rc, f->s, commit);
		assert_int_equal(rc, 0);
		moved += n;
		assert_int_equal(balance(f->s, "escrow:ord_1"), moved);
		assert_int_equal(pg_raw_int(f, TURNS_IN_THIS_DATABASE), 0);
	}
}

/* A write sent without waiting for its answer (pg.c's pipeline: here a
 * deadline row changed by a concurrent transaction meanwhile) fails
 * where the transaction next waits: it is doomed whole, the savepoint
 * cannot save it, and nothing of it is kept. */
static void pg_a_write_not_waited_for_that_fails_dooms_the_transaction(void **state)
{
	struct store_fixture *f = *state;
	struct esc_store *b = open_other(f);
	struct esc_order o = order("ord_1", "usr_b", "usr_s"), got;
	struct esc_deadline rows[2];
	int rc;

	insert_order(f->s, &o);
	set_deadline(f->s, "ord_1", ESC_DL_SHIP, T0, true);
	ESC_STORE0(rc, b, begin);
	assert_int_equal(rc, 0);
	ESC_STORE0(rc, b, savepoint);
	assert_int_equal(rc, 0);
	assert_int_equal(due(b, T0, rows, 2), 1); /* b's snapshot */
	set_deadline(f->s, "ord_1", ESC_DL_SHIP, T0, true);
	/* Prepared first (waited for), then sent and not waited for. */
	set_deadline(b, "ord_1", ESC_DL_SHIP, T0, false);
	ESC_STORE(rc, b, order_get, "ord_1", &got);
	assert_int_equal(rc, ESC_ERETRY);
	assert_doomed(b);
	/* Nothing of b's: the row it deleted is there. */
	assert_int_equal(due(f->s, T0 + 10, rows, 2), 1);
	assert_int_equal(rows[0].kind, ESC_DL_SHIP);
	/* And b goes on: its next transaction commits. */
	ESC_STORE0(rc, b, begin);
	assert_int_equal(rc, 0);
	set_deadline(b, "ord_1", ESC_DL_CONFIRM, T0 + 5, true);
	ESC_STORE0(rc, b, commit);
	assert_int_equal(rc, 0);
	assert_int_equal(due(f->s, T0 + 10, rows, 2), 2);
	esc_store_close(b);
}

/* A write not waited for that fails for a reason of its own (here an
 * order's id taken: a duplicate) fails the caller's transaction as a
 * store failure, never with a refusal's code (ESC_EDUPLICATE would read
 * as a key answered meanwhile), and the COMMIT the server skipped leaves
 * no aborted transaction behind: the next statement outside one runs. */
static void
pg_a_duplicate_not_waited_for_fails_the_transaction_and_the_connection_goes_on(void **state)
{
	struct store_fixture *f = *state;
	struct esc_order o = order("ord_1", "usr_b", "usr_s"), got;
	struct esc_item item;
	int rc;

	insert_order(f->s, &o);
	memset(&item, 0, sizeof item);
	COPY(item.title, "Blue scarf");
	item.quantity = 1;
	item.unit_price_minor = 1500;
	/* In the caller's transaction: seen at the commit. */
	ESC_STORE0(rc, f->s, begin);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, f->s, order_insert, &o, &item, 1);
	if (rc == 0)
		ESC_STORE0(rc, f->s, commit);
	assert_int_equal(rc, ESC_EIO);
	ESC_STORE0(rc, f->s, rollback);
	assert_int_equal(rc, 0);
	/* On its own (the verb's own transaction, which holds it alone):
	 * its own code, and then the connection reads again. */
	ESC_STORE(rc, f->s, order_insert, &o, &item, 1);
	assert_int_equal(rc, ESC_EDUPLICATE);
	ESC_STORE(rc, f->s, order_get, "ord_1", &got);
	assert_int_equal(rc, 0);
	assert_string_equal(got.id, "ord_1");
}

static void pg_a_claim_racing_a_committed_claim_is_retried_not_doubled(void **state)
{
	struct store_fixture *f = *state;
	struct esc_store *b = open_other(f);
	struct esc_deadline got[2];
	size_t n = 99;
	int rc;

	set_deadline(f->s, "ord_1", ESC_DL_SHIP, T0, true);
	beat(f->s, "worker-a", R0, 60);
	ESC_STORE0(rc, b, begin);
	assert_int_equal(rc, 0);
	/* b's snapshot: the row unclaimed. */
	assert_int_equal(due(b, T0, got, 2), 1);
	assert_int_equal(claim(f->s, T0, "worker-a", R0, got, 2), 1);
	ESC_STORE(rc, b, deadlines_claim, T0, "worker-b", R0, got, 2, &n);
	assert_int_equal(rc, ESC_ERETRY);
	ESC_STORE0(rc, b, rollback);
	assert_int_equal(rc, 0);
	ESC_STORE0(rc, b, begin);
	assert_int_equal(rc, 0);
	assert_int_equal(claim(b, T0, "worker-b", R0, got, 2), 0);
	ESC_STORE0(rc, b, commit);
	assert_int_equal(rc, 0);
	esc_store_close(b);
}

static void pg_a_message_numbered_meanwhile_makes_the_transaction_retry(void **state)
{
	struct store_fixture *f = *state;
	struct esc_store *b = open_other(f);
	struct esc_message m = message("ord_1", "first"), late = message("ord_1", "second");
	struct esc_message got[2];
	size_t n = 99;
	int rc;

	ESC_STORE0(rc, b, begin);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, b, messages_list, "ord_1", 0, got, 2, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 0);
	ESC_STORE(rc, f->s, message_append, &m);
	assert_int_equal(rc, 0);
	assert_int_equal(m.seq, 1);
	/* b numbers from its snapshot: 1 again, taken meanwhile. */
	ESC_STORE(rc, b, message_append, &late);
	assert_int_equal(rc, ESC_ERETRY);
	ESC_STORE0(rc, b, rollback);
	assert_int_equal(rc, 0);
	/* Outside a transaction the verb runs again by itself. */
	ESC_STORE(rc, b, message_append, &late);
	assert_int_equal(rc, 0);
	assert_int_equal(late.seq, 2);
	esc_store_close(b);
}

/* Ends every other connection to f's database, as a server restart or a
 * network failure would. */
static void drop_connections(struct store_fixture *f)
{
	raw_sql(f, "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
		   "WHERE datname = current_database() AND pid <> pg_backend_pid()");
}

static void pg_a_lost_connection_fails_the_transaction_then_comes_back(void **state)
{
	struct store_fixture *f = *state;
	int rc;

	ESC_STORE0(rc, f->s, begin);
	assert_int_equal(rc, 0);
	insert_user(f->s, "usr_lost");
	drop_connections(f);
	struct esc_user u = user("usr_b", "b@example.com");
	/* Unavailable (503), not a failure of the store (500). */
	ESC_STORE(rc, f->s, user_insert, &u);
	assert_int_equal(rc, ESC_EBUSY);
	/* The transaction is gone: nothing else works until rollback. */
	ESC_STORE(rc, f->s, user_insert, &u);
	assert_int_equal(rc, ESC_EBUSY);
	ESC_STORE0(rc, f->s, commit);
	assert_int_not_equal(rc, 0);
	ESC_STORE0(rc, f->s, rollback);
	assert_int_equal(rc, 0);
	assert_false(user_exists(f->s, "usr_lost"));
	insert_user(f->s, "usr_c");
	assert_true(user_exists(f->s, "usr_c"));
}

static void pg_a_lost_connection_between_transactions_is_made_again(void **state)
{
	struct store_fixture *f = *state;
	struct esc_user u;
	int rc;

	insert_user(f->s, "usr_a");
	drop_connections(f);
	/* The server closed the connection while it was idle, and said so:
	 * the next call sees that before it sends anything, and connects
	 * again. (Lost in the middle of a call, the call fails: above.) */
	ESC_STORE(rc, f->s, user_get, "usr_a", &u);
	assert_int_equal(rc, 0);
	ESC_STORE0(rc, f->s, begin);
	assert_int_equal(rc, 0);
	insert_user(f->s, "usr_b");
	ESC_STORE0(rc, f->s, commit);
	assert_int_equal(rc, 0);
	assert_true(user_exists(f->s, "usr_b"));
}

/* The session's READ ONLY is set again on a connection made anew. */
static void pg_a_read_only_connection_made_again_still_refuses_writes(void **state)
{
	struct store_fixture *f = *state;
	struct esc_store *ro = open_read_only(f);
	struct esc_user u = user("usr_b", "b@example.com"), seen;
	int rc;

	insert_user(f->s, "usr_a");
	drop_connections(f);
	ESC_STORE(rc, ro, user_get, "usr_a", &seen);
	assert_int_equal(rc, 0);
	rc = ro->ops->user_insert(ro, &u); /* ESC_STORE would abort: a bug */
	assert_int_equal(rc, ESC_EBUG);
	assert_false(user_exists(f->s, "usr_b"));
	esc_store_close(ro);
}

static const struct CMUnitTest pg_only[] = {
	S(pg_store_records_each_migration_once),
	S(pg_stores_opened_at_once_migrate_once),
	S(pg_database_newer_than_the_binary_is_refused),
	S(pg_a_role_that_cannot_create_opens_a_migrated_database),
	S(pg_text_sorts_byte_by_byte_whatever_the_locale),
	S(pg_emails_fold_ascii_case_only),
	S(pg_a_concurrent_update_makes_the_later_transaction_retry),
	S(pg_batches_that_share_a_party_take_turns),
	S(pg_a_commit_after_a_full_pipeline_is_answered),
	S(pg_a_write_not_waited_for_that_fails_dooms_the_transaction),
	S(pg_a_duplicate_not_waited_for_fails_the_transaction_and_the_connection_goes_on),
	S(pg_a_claim_racing_a_committed_claim_is_retried_not_doubled),
	S(pg_a_message_numbered_meanwhile_makes_the_transaction_retry),
	S(pg_a_lost_connection_fails_the_transaction_then_comes_back),
	S(pg_a_lost_connection_between_transactions_is_made_again),
	S(pg_a_read_only_connection_made_again_still_refuses_writes),
};

int main(void)
{
	int failed = run_store_contract(&sqlite_backend);

	backend = &sqlite_backend;
	failed += cmocka_run_group_tests_name("store (sqlite only)", sqlite_only, NULL, NULL);
	failed += run_damaged(&sqlite_backend);
	failed += cmocka_run_group_tests_name("store URLs", urls, NULL, NULL);
	if (getenv("ESC_TEST_PG") && *getenv("ESC_TEST_PG")) {
		failed += run_store_contract(&pg_backend);
		failed += run_damaged(&pg_backend);
		backend = &pg_backend;
		failed +=
			cmocka_run_group_tests_name("store (postgresql only)", pg_only, NULL, NULL);
	} else {
		printf("store contract (postgresql): skipped, ESC_TEST_PG is not set "
		       "(tests/pg/server start DIR prints a URL for it)\n");
	}
	return failed;
}
