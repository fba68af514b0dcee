/* test_policies.c - policy versions (issue 16 item 1): an order keeps the
 * policy it was created under across a restart with a new configuration,
 * a new order takes the new one, the same policy is one version however
 * many daemons start with it, and GET /v1/policies shows them. On both
 * stores (the -pg variant). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>

#include "engine/engine.h"
#include "engine/view.h"
#include "store/store.h"
#include "support.h"
#include "util/timefmt.h"

#define KEY "policies-operator-key-0001"

static struct esc_test_daemon d;

struct party {
	const char *role;
	char id[64], token[80];
};

static void party_new(struct party *p, const char *role)
{
	char body[300];
	p->role = role;
	snprintf(body, sizeof body,
		 "{\"role\":\"%s\",\"name\":\"%s\",\"email\":\"%s@policies.test\","
		 "\"password\":\"password-1\"}",
		 role, role, role);
	json_t *j = esc_test_must(d.port, "POST", "/v1/users", KEY, body, 201);
	snprintf(p->id, sizeof p->id, "%s", esc_test_str(j, "id"));
	json_decref(j);
	snprintf(body, sizeof body, "{\"email\":\"%s@policies.test\",\"password\":\"password-1\"}",
		 role);
	j = esc_test_must(d.port, "POST", "/v1/sessions", "", body, 201);
	snprintf(p->token, sizeof p->token, "%s", esc_test_str(j, "token"));
	json_decref(j);
}

/* A daemon on a new store with SPEC's defaults, and a buyer and a seller
 * signed in. */
static void daemon_start(struct party *buyer, struct party *seller)
{
	memset(&d, 0, sizeof d);
	esc_test_tmpdir(d.dir, sizeof d.dir);
	esc_test_store(d.db, sizeof d.db, d.dir);
	esc_test_daemon_start(&d, KEY);
	party_new(buyer, "buyer");
	party_new(seller, "seller");
}

static void daemon_stop(void)
{
	esc_test_daemon_stop(&d);
	esc_test_store_drop(d.db);
	esc_test_rmdir(d.dir);
}

/* A new order of 29.00 EUR, not paid: its id into id. */
static void order_created(const struct party *buyer, const struct party *seller, char *id,
			  size_t size)
{
	char body[400];
	snprintf(body, sizeof body,
		 "{\"buyer_id\":\"%s\",\"seller_id\":\"%s\",\"currency\":\"EUR\","
		 "\"items\":[{\"title\":\"Kettle\",\"quantity\":1,\"unit_price\":2900}]}",
		 buyer->id, seller->id);
	json_t *o = esc_test_must(d.port, "POST", "/v1/orders", KEY, body, 201);
	snprintf(id, size, "%s", esc_test_str(o, "id"));
	json_decref(o);
}

/* A new order, paid by method ("card", "wallet"): its id into id. */
static void order_paid_by(const struct party *buyer, const struct party *seller, const char *method,
			  char *id, size_t size)
{
	char body[100], path[160];
	order_created(buyer, seller, id, size);
	snprintf(path, sizeof path, "/v1/orders/%s/pay", id);
	snprintf(body, sizeof body, "{\"amount\":2900,\"payment_method\":\"%s\"}", method);
	json_decref(esc_test_must(d.port, "POST", path, KEY, body, 200));
}

/* A new order, paid by card: its id into id. */
static void order_paid(const struct party *buyer, const struct party *seller, char *id, size_t size)
{
	order_paid_by(buyer, seller, "card", id, size);
}

static json_t *order_get(const char *id)
{
	char path[160];
	snprintf(path, sizeof path, "/v1/orders/%s", id);
	return esc_test_must(d.port, "GET", path, KEY, NULL, 200);
}

static int64_t ms_of(const char *s)
{
	int64_t ms = 0;
	assert_int_equal(esc_time_parse(s, &ms), 0);
	return ms;
}

/* A deadline of the order, in ms, less a time of the order, in ms. */
static int64_t deadline_after(json_t *o, const char *deadline, const char *since)
{
	json_t *dl = json_object_get(o, "deadlines");
	return ms_of(esc_test_str(dl, deadline)) - ms_of(esc_test_str(o, since));
}

static void cancel(const struct party *buyer, const char *id)
{
	char path[160];
	snprintf(path, sizeof path, "/v1/orders/%s/cancel", id);
	json_decref(esc_test_must(d.port, "POST", path, buyer->token,
				  "{\"reason\":\"no_longer_needed\"}", 200));
}

/* The time of the order's last history line: when the cancel request was
 * made. */
static int64_t requested_at(const char *id)
{
	char path[160];
	snprintf(path, sizeof path, "/v1/orders/%s/events", id);
	json_t *h = esc_test_must(d.port, "GET", path, KEY, NULL, 200);
	json_t *data = json_object_get(h, "data");
	assert_true(json_array_size(data) > 0);
	int64_t at = ms_of(esc_test_str(json_array_get(data, json_array_size(data) - 1), "at"));
	json_decref(h);
	return at;
}

static void advance(int64_t seconds)
{
	char body[64];
	snprintf(body, sizeof body, "{\"seconds\":%lld}", (long long)seconds);
	json_decref(esc_test_must(d.port, "POST", "/v1/clock/advance", KEY, body, 200));
}

/* Shipped, delivered and confirmed: the order completes, the seller is
 * paid and the fee kept. Its fee, in minor units. */
static int64_t complete(const struct party *buyer, const struct party *seller, const char *id)
{
	char path[160];
	snprintf(path, sizeof path, "/v1/orders/%s/ship", id);
	json_decref(esc_test_must(
		d.port, "POST", path, seller->token,
		"{\"carrier\":\"Posturinn\",\"tracking_number\":\"RR123456785IS\"}", 200));
	snprintf(path, sizeof path, "/v1/orders/%s/deliver", id);
	json_decref(esc_test_must(d.port, "POST", path, KEY, "{}", 200));
	snprintf(path, sizeof path, "/v1/orders/%s/confirm-receipt", id);
	json_t *o = esc_test_must(d.port, "POST", path, buyer->token, "{}", 200);
	assert_string_equal(esc_test_str(o, "status"), "completed");
	int64_t fee = json_integer_value(json_object_get(o, "fee"));
	json_decref(o);
	return fee;
}

static const char *status_of(const char *id, char *out, size_t size)
{
	json_t *o = order_get(id);
	snprintf(out, size, "%s", esc_test_str(o, "status"));
	json_decref(o);
	return out;
}

#define HOUR INT64_C(3600000)
#define DAY  (24 * HOUR)

/* An order created under pol_1 keeps its windows after a restart with a
 * new configuration: the deadline set before, and one set after (the
 * response window of a cancel request made after the restart), and its
 * fee; a new order takes the new policy, and its deadlines fire by it. */
static void test_an_order_keeps_the_policy_it_was_created_under(void **state)
{
	(void)state;
	struct party buyer, seller;
	char old_id[64], new_id[64], status[64], old_paid[64], new_paid[64];
	daemon_start(&buyer, &seller);

	/* Under SPEC's defaults (pol_1): shipped within 7 days of payment. */
	order_paid(&buyer, &seller, old_id, sizeof old_id);
	json_t *o = order_get(old_id);
	assert_string_equal(esc_test_str(o, "policy_version"), "pol_1");
	assert_int_equal(deadline_after(o, "ship", "paid_at"), 7 * DAY);
	json_decref(o);
	order_paid(&buyer, &seller, old_paid, sizeof old_paid);

	/* A restart with shorter windows and a smaller fee: pol_2. */
	esc_test_daemon_stop(&d);
	esc_test_daemon_config(&d, "ship_window = 3d\nresponse_window = 48h\nfee = 2%\n");
	esc_test_daemon_start(&d, KEY);

	o = order_get(old_id);
	assert_string_equal(esc_test_str(o, "policy_version"), "pol_1");
	assert_int_equal(deadline_after(o, "ship", "paid_at"), 7 * DAY);
	json_decref(o);
	/* A deadline set after the restart follows the order's policy too. */
	cancel(&buyer, old_id);
	o = order_get(old_id);
	assert_int_equal(ms_of(esc_test_str(json_object_get(o, "deadlines"), "response")) -
				 requested_at(old_id),
			 72 * HOUR);
	json_decref(o);

	/* Its fee is the one it was created under: 5 % of 29.00. */
	assert_int_equal(complete(&buyer, &seller, old_paid), 145);

	/* A new order takes the new policy. */
	order_paid(&buyer, &seller, new_paid, sizeof new_paid);
	assert_int_equal(complete(&buyer, &seller, new_paid), 58);
	order_paid(&buyer, &seller, new_id, sizeof new_id);
	o = order_get(new_id);
	assert_string_equal(esc_test_str(o, "policy_version"), "pol_2");
	assert_int_equal(deadline_after(o, "ship", "paid_at"), 3 * DAY);
	json_decref(o);
	cancel(&buyer, new_id);
	o = order_get(new_id);
	assert_int_equal(ms_of(esc_test_str(json_object_get(o, "deadlines"), "response")) -
				 requested_at(new_id),
			 48 * HOUR);
	json_decref(o);

	/* 50 hours on: the new order's request was approved by its 48-hour
	 * window; the old one's 72 hours have not passed. */
	advance(50 * 3600);
	assert_string_equal(status_of(new_id, status, sizeof status), "cancelled");
	assert_string_equal(status_of(old_id, status, sizeof status), "cancellation_requested");
	advance(24 * 3600);
	assert_string_equal(status_of(old_id, status, sizeof status), "cancelled");

	daemon_stop();
}

/* The ids of GET /v1/policies, joined by spaces, and the current one. */
static void policies_ids(const char *token, char *ids, size_t size, char *current,
			 size_t current_size)
{
	json_t *j = esc_test_must(d.port, "GET", "/v1/policies", token, NULL, 200);
	json_t *data = json_object_get(j, "data"), *p;
	size_t i, n = 0;
	ids[0] = current[0] = '\0';
	json_array_foreach(data, i, p)
	{
		n += (size_t)snprintf(ids + n, size - n, "%s%s", i ? " " : "",
				      esc_test_str(p, "id"));
		if (json_is_true(json_object_get(p, "current")))
			snprintf(current, current_size, "%s", esc_test_str(p, "id"));
	}
	assert_false(json_is_true(json_object_get(j, "has_more")));
	json_decref(j);
}

/* GET /v1/policies and /v1/policies/{id}: both versions with their values
 * and text; restarts with a policy already kept make no new version; an
 * unknown id is a 404 that says where the ids are. */
static void test_the_versions_over_http(void **state)
{
	(void)state;
	struct party buyer;
	char ids[200], current[32];
	memset(&d, 0, sizeof d);
	esc_test_tmpdir(d.dir, sizeof d.dir);
	esc_test_store(d.db, sizeof d.db, d.dir);
	esc_test_daemon_config(&d, "response_window = 48h\nfee = 2.55%\n");
	esc_test_daemon_start(&d, KEY);
	party_new(&buyer, "buyer");

	/* SPEC's defaults are pol_1 even when the first daemon runs another
	 * policy. */
	policies_ids(buyer.token, ids, sizeof ids, current, sizeof current);
	assert_string_equal(ids, "pol_1 pol_2");
	assert_string_equal(current, "pol_2");

	/* Each version by its id, with its values. */
	json_t *p1 = esc_test_must(d.port, "GET", "/v1/policies/pol_1", buyer.token, NULL, 200);
	json_t *p2 = esc_test_must(d.port, "GET", "/v1/policies/pol_2", KEY, NULL, 200);
	json_t *v1 = json_object_get(p1, "values"), *v2 = json_object_get(p2, "values");
	assert_int_equal(json_integer_value(json_object_get(v1, "response_window_seconds")),
			 72 * 3600);
	assert_int_equal(json_integer_value(json_object_get(v2, "response_window_seconds")),
			 48 * 3600);
	assert_int_equal(json_integer_value(json_object_get(v1, "fee_basis_points")), 500);
	assert_int_equal(json_integer_value(json_object_get(v2, "fee_basis_points")), 255);
	assert_int_equal(json_integer_value(json_object_get(v2, "ship_window_seconds")), 7 * 86400);
	assert_int_equal(json_array_size(json_object_get(v2, "reasons")), 7);
	assert_false(json_is_true(json_object_get(p1, "current")));
	assert_true(json_is_true(json_object_get(p2, "current")));
	assert_int_equal(strlen(esc_test_str(p1, "hash")), 64);
	assert_string_not_equal(esc_test_str(p1, "hash"), esc_test_str(p2, "hash"));
	assert_non_null(strstr(esc_test_str(p2, "text"), "response_window = 2d\n"));
	assert_non_null(strstr(esc_test_str(p1, "text"), "response_window = 3d\n"));
	assert_true(ms_of(esc_test_str(p2, "created_at")) > 0);
	json_decref(p1);
	json_decref(p2);

	/* A page at a time. */
	json_t *j = esc_test_must(d.port, "GET", "/v1/policies?limit=1", KEY, NULL, 200);
	assert_true(json_is_true(json_object_get(j, "has_more")));
	assert_string_equal(esc_test_str(json_array_get(json_object_get(j, "data"), 0), "id"),
			    "pol_1");
	json_decref(j);
	j = esc_test_must(d.port, "GET", "/v1/policies?starting_after=pol_1", KEY, NULL, 200);
	assert_int_equal(json_array_size(json_object_get(j, "data")), 1);
	assert_string_equal(esc_test_str(json_array_get(json_object_get(j, "data"), 0), "id"),
			    "pol_2");
	json_decref(j);
	json_decref(esc_test_must(d.port, "GET", "/v1/policies?starting_after=2", KEY, NULL, 400));

	/* Unknown ids: 404, saying where the ids are. */
	const char *unknown[] = {"/v1/policies/pol_3", "/v1/policies/pol_0", "/v1/policies/2",
				 "/v1/policies/pol_x"};
	for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
		j = esc_test_must(d.port, "GET", unknown[i], KEY, NULL, 404);
		json_t *err = json_object_get(j, "error");
		assert_string_equal(esc_test_str(err, "code"), "not_found");
		assert_non_null(strstr(esc_test_str(err, "message"), "GET /v1/policies"));
		json_decref(j);
	}
	/* Signed-in callers only. */
	json_decref(esc_test_must(d.port, "GET", "/v1/policies", "", NULL, 401));

	/* The same configuration again, then SPEC's defaults again: no new
	 * version, the current one follows the daemon. */
	esc_test_daemon_stop(&d);
	esc_test_daemon_start(&d, KEY);
	policies_ids(KEY, ids, sizeof ids, current, sizeof current);
	assert_string_equal(ids, "pol_1 pol_2");
	assert_string_equal(current, "pol_2");
	esc_test_daemon_stop(&d);
	esc_test_daemon_config(&d, NULL);
	esc_test_daemon_start(&d, KEY);
	policies_ids(KEY, ids, sizeof ids, current, sizeof current);
	assert_string_equal(ids, "pol_1 pol_2");
	assert_string_equal(current, "pol_1");

	daemon_stop();
}

/* Engines opening at once on one store, two with one policy and two with
 * another: each policy is one version, SPEC's defaults pol_1, and nothing
 * else is kept (on PostgreSQL, the loser of a race for a number runs its
 * transaction again). */
struct opener {
	const char *url;
	struct esc_policy policy;
	struct esc_engine *e;
	int rc;
	pthread_barrier_t *start;
};

static void *open_one(void *arg)
{
	struct opener *o = arg;
	struct esc_engine_options opt = {.manual_clock = true,
					 .manual_start_ms = ESC_TEST_T0,
					 .fast_password_hashing = true};
	char err[256] = "";
	pthread_barrier_wait(o->start);
	o->rc = esc_engine_open(&o->e, o->url, &o->policy, &opt, err, sizeof err);
	if (o->rc)
		fprintf(stderr, "open: %s\n", err);
	return NULL;
}

static void test_daemons_at_once_make_one_version_each(void **state)
{
	(void)state;
	char dir[256], url[300];
	struct opener o[4];
	pthread_t t[4];
	pthread_barrier_t start;
	esc_test_tmpdir(dir, sizeof dir);
	esc_test_store(url, sizeof url, dir);
	/* The store migrated first: the race is for the numbers, not the
	 * schema. */
	struct esc_engine *first = NULL;
	struct esc_policy defaults;
	esc_policy_default(&defaults);
	char err[256];
	assert_int_equal(esc_engine_open(&first, url, &defaults, NULL, err, sizeof err), 0);
	assert_int_equal(esc_engine_policy_version(first), 1);
	esc_engine_free(first);

	pthread_barrier_init(&start, NULL, 4);
	for (int i = 0; i < 4; i++) {
		memset(&o[i], 0, sizeof o[i]);
		o[i].url = url;
		o[i].start = &start;
		esc_policy_default(&o[i].policy);
		assert_int_equal(
			esc_policy_parse(&o[i].policy,
					 i % 2 ? "response_window = 24h\n" : "ship_window = 2d\n",
					 NULL, 0),
			0);
		assert_int_equal(pthread_create(&t[i], NULL, open_one, &o[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&start);
	for (int i = 0; i < 4; i++)
		assert_int_equal(o[i].rc, 0);
	int32_t a = esc_engine_policy_version(o[0].e), b = esc_engine_policy_version(o[1].e);
	assert_int_equal(esc_engine_policy_version(o[2].e), a);
	assert_int_equal(esc_engine_policy_version(o[3].e), b);
	assert_true((a == 2 && b == 3) || (a == 3 && b == 2));

	/* Each engine reads the other's version from the store, once. */
	struct esc_store *s = esc_engine_store_acquire(o[0].e);
	const struct esc_policy *other = NULL, *again = NULL;
	assert_int_equal(esc_engine_policy_of(o[0].e, s, b, &other), 0);
	assert_int_equal(other->response_window_ms, 24 * HOUR);
	assert_int_equal(esc_engine_policy_of(o[0].e, s, b, &again), 0);
	assert_ptr_equal(other, again);
	assert_int_equal(esc_engine_policy_of(o[0].e, s, 1, &other), 0);
	assert_int_equal(other->response_window_ms, 72 * HOUR);
	assert_int_equal(esc_engine_policy_of(o[0].e, s, 4, &other), ESC_ENOTFOUND);
	struct esc_policy_row rows[8];
	size_t n = 0;
	int rc;
	ESC_STORE(rc, s, policies_list, 0, rows, 8, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(rows[i].version, (int64_t)i + 1);
		free(rows[i].text);
	}
	esc_engine_store_release(o[0].e, s);

	for (int i = 0; i < 4; i++)
		esc_engine_free(o[i].e);
	esc_test_store_drop(url);
	esc_test_rmdir(dir);
}

/* Two daemons on one store with different policies: an order created by
 * one is decided by the other under the order's version, which the other
 * reads from the store (it never ran it), and shows as that version. */
static void test_another_daemons_order_follows_its_version(void **state)
{
	(void)state;
	struct esc_fixture f;
	struct esc_engine *defaults_engine, *other = NULL;
	struct esc_policy p;
	char err[256] = "";
	esc_fixture_init(&f); /* SPEC's defaults: pol_1 */
	esc_policy_default(&p);
	assert_int_equal(esc_policy_parse(&p, "response_window = 30h\n", NULL, 0), 0);
	struct esc_engine_options opt = {.manual_clock = true,
					 .manual_start_ms = ESC_TEST_T0,
					 .fast_password_hashing = true};
	assert_int_equal(esc_engine_open(&other, f.db, &p, &opt, err, sizeof err), 0);
	assert_int_equal(esc_engine_policy_version(other), 2);

	/* The other daemon creates and takes payment for the order. */
	defaults_engine = f.e;
	f.e = other;
	struct esc_order o = esc_fixture_order(&f, &f.buyer, &f.seller, 2900);
	o = esc_fixture_pay(&f, &o, ESC_METHOD_CARD);
	assert_int_equal(o.policy_version, 2);
	f.e = defaults_engine;

	/* The first daemon, which runs pol_1, takes the cancel request: the
	 * seller has the order's 30 hours to answer, not 72. */
	int64_t now = esc_engine_now(f.e);
	o = esc_fixture_request(&f, &o, "no_longer_needed", ESC_REFUND_TO_ORIGINAL);
	assert_int_equal(o.policy_version, 2);
	assert_int_equal(o.due_ms[ESC_DL_RESPONSE] - now, 30 * HOUR);
	/* And its view of the order says so. */
	struct esc_store *s = esc_engine_store_acquire(f.e);
	struct esc_viewer v;
	esc_viewer_init(&v, ESC_ACTOR_OPERATOR, NULL);
	json_t *j = esc_view_order(f.e, s, &v, &o);
	esc_engine_store_release(f.e, s);
	assert_int_equal(v.failed, 0);
	assert_string_equal(esc_test_str(j, "policy_version"), "pol_2");
	json_decref(j);

	esc_engine_free(other);
	esc_fixture_check(&f);
	esc_fixture_release(&f);
}

/* POST /v1/orders/{id}/cancel with body (and header, for this call only)
 * as token: the answer, which must be status. */
static json_t *cancel_answer(const char *id, const char *token, const char *header,
			     const char *body, long status)
{
	char path[160];
	snprintf(path, sizeof path, "/v1/orders/%s/cancel", id);
	esc_test_header = header;
	return esc_test_must(d.port, "POST", path, token, body, status);
}

/* The preview's refusals are the command's, byte for byte as JSON: a
 * stale If-Match (412) and an order past cancelling (409) carry the order
 * as it is, so the client can refresh; a 403 shows none. */
static void test_preview_refusals_show_the_order(void **state)
{
	(void)state;
	struct party buyer, seller;
	char paid[64], shipped[64], unpaid[64], path[160];
	daemon_start(&buyer, &seller);
	order_paid(&buyer, &seller, paid, sizeof paid);
	order_paid(&buyer, &seller, shipped, sizeof shipped);
	snprintf(path, sizeof path, "/v1/orders/%s/ship", shipped);
	json_decref(esc_test_must(
		d.port, "POST", path, seller.token,
		"{\"carrier\":\"Posturinn\",\"tracking_number\":\"RR123456785IS\"}", 200));
	/* An unpaid order, cancelled at once: no more to cancel. */
	order_created(&buyer, &seller, unpaid, sizeof unpaid);
	json_decref(cancel_answer(unpaid, buyer.token, NULL, "{}", 200));

	const struct {
		const char *id, *header;
		long status;
	} cases[] = {
		{paid, "If-Match: 1", 412},
		{paid, "If-Match: \"1\"", 412},
		{shipped, NULL, 409},
		{unpaid, NULL, 409},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *pv = cancel_answer(cases[i].id, buyer.token, cases[i].header,
					   "{\"reason\":\"no_longer_needed\",\"preview\":true}",
					   cases[i].status);
		json_t *cmd = cancel_answer(cases[i].id, buyer.token, cases[i].header,
					    "{\"reason\":\"no_longer_needed\"}", cases[i].status);
		json_t *now = order_get(cases[i].id);
		json_t *shown = json_object_get(pv, "order");
		assert_non_null(shown);
		assert_string_equal(esc_test_str(shown, "id"), cases[i].id);
		assert_int_equal(json_integer_value(json_object_get(shown, "version")),
				 json_integer_value(json_object_get(now, "version")));
		assert_string_equal(esc_test_str(shown, "status"), esc_test_str(now, "status"));
		assert_true(json_equal(pv, cmd));
		json_decref(now);
		json_decref(cmd);
		json_decref(pv);
	}

	/* Not the buyer's to cancel: refused as the command is, with no
	 * order. */
	json_t *pv = cancel_answer(paid, seller.token, "If-Match: 1",
				   "{\"reason\":\"no_longer_needed\",\"preview\":true}", 403);
	json_t *cmd = cancel_answer(paid, seller.token, "If-Match: 1",
				    "{\"reason\":\"no_longer_needed\"}", 403);
	assert_null(json_object_get(pv, "order"));
	assert_true(json_equal(pv, cmd));
	json_decref(cmd);
	json_decref(pv);

	daemon_stop();
}

/* The refund sentences in Icelandic name the method in Icelandic, with
 * the preposition it takes: "á kortið", "í veskið"; English keeps the
 * method's name. */
static void test_icelandic_sentences_name_the_method(void **state)
{
	(void)state;
	struct party buyer, seller;
	char card[64], wallet[64], path[160];
	daemon_start(&buyer, &seller);
	order_paid_by(&buyer, &seller, "card", card, sizeof card);
	order_paid_by(&buyer, &seller, "wallet", wallet, sizeof wallet);

	const struct {
		const char *id, *is, *en;
	} cases[] = {
		{card, "29,00 EUR fer aftur á kortið sem greitt var með.",
		 "29.00 EUR goes back to the card it was paid with."},
		{wallet, "29,00 EUR fer aftur í veskið sem greitt var með.",
		 "29.00 EUR goes back to the wallet it was paid with."},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		/* The ship deadline's sentence on the order. */
		snprintf(path, sizeof path, "/v1/orders/%s", cases[i].id);
		esc_test_header = "Accept-Language: is";
		json_t *o = esc_test_must(d.port, "GET", path, buyer.token, NULL, 200);
		const char *text = esc_test_str(
			json_object_get(json_object_get(o, "deadline_rules"), "ship"), "text");
		assert_non_null(strstr(text, cases[i].is));
		assert_null(strstr(text, "card"));
		assert_null(strstr(text, "wallet"));
		json_decref(o);
		o = esc_test_must(d.port, "GET", path, buyer.token, NULL, 200);
		text = esc_test_str(json_object_get(json_object_get(o, "deadline_rules"), "ship"),
				    "text");
		assert_non_null(strstr(text, cases[i].en));
		json_decref(o);
	}
	/* The cancellation preview's: "fer aftur í veskið." */
	json_t *p = cancel_answer(wallet, buyer.token, "Accept-Language: is",
				  "{\"reason\":\"no_longer_needed\",\"preview\":true}", 200);
	assert_non_null(strstr(esc_test_str(json_object_get(p, "response_rule"), "text"),
			       "29,00 EUR fer aftur í veskið."));
	assert_string_equal(esc_test_str(json_object_get(p, "refund"), "method"), "wallet");
	json_decref(p);

	daemon_stop();
}

/* Run sql on the store at db behind escrowd's back: one row changed. */
static void tamper(const char *db, const char *sql)
{
	if (!strncmp(db, "postgres", 8)) {
		PGconn *conn = PQconnectdb(db);
		assert_int_equal(PQstatus(conn), CONNECTION_OK);
		PGresult *res = PQexec(conn, sql);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			fail_msg("%s: %s", sql, PQerrorMessage(conn));
		assert_string_equal(PQcmdTuples(res), "1");
		PQclear(res);
		PQfinish(conn);
		return;
	}
	sqlite3 *q = NULL;
	char *why = NULL;
	assert_int_equal(sqlite3_open(db, &q), SQLITE_OK);
	if (sqlite3_exec(q, sql, NULL, NULL, &why) != SQLITE_OK)
		fail_msg("%s: %s", sql, why ? why : "?");
	assert_int_equal(sqlite3_changes(q), 1);
	sqlite3_close(q);
}

/* `escrowd check --db db`: its exit status, its output into out. */
static int check_run(const char *db, char *out, size_t size)
{
	char args[400], binary[512];
	snprintf(args, sizeof args, "check --db '%s'", db);
	snprintf(binary, sizeof binary, "%s/escrowd", getenv("ESC_BUILD_DIR"));
	return esc_test_run_cli(binary, NULL, args, out, size);
}

/* escrowd check verifies the policy versions: each order's version is
 * kept, and each kept version's text hashes to its hash and parses. A
 * row changed behind escrowd's back is named (the order's id, the
 * version) and check exits 1. */
static void test_check_verifies_the_policy_versions(void **state)
{
	(void)state;
	struct esc_fixture f;
	char out[8192], sql[300], want[200];
	esc_fixture_init(&f);
	struct esc_order o = esc_fixture_order(&f, &f.buyer, &f.seller, 2900);
	esc_fixture_pay(&f, &o, ESC_METHOD_CARD);
	esc_engine_free(f.e);
	f.e = NULL;
	int status = check_run(f.db, out, sizeof out);
	if (status)
		fail_msg("check on a sound store exited %d:\n%s", status, out);

	/* An order pinned to a version the store does not keep. */
	snprintf(sql, sizeof sql, "UPDATE orders SET policy_version = 7 WHERE id = '%s'", o.id);
	tamper(f.db, sql);
	assert_int_equal(check_run(f.db, out, sizeof out), 1);
	snprintf(want, sizeof want, "BROKEN policy_version_exists: order %s is pinned to pol_7",
		 o.id);
	esc_test_contains(out, want);
	/* The verdict names what is broken: a policy version, no ledger. */
	esc_test_contains(out,
			  "the store's invariants are BROKEN: 1 problem (policy_version_exists)\n");
	assert_null(strstr(out, "ledger"));
	snprintf(sql, sizeof sql, "UPDATE orders SET policy_version = 1 WHERE id = '%s'", o.id);
	tamper(f.db, sql);
	status = check_run(f.db, out, sizeof out);
	if (status)
		fail_msg("check on a mended store exited %d:\n%s", status, out);

	/* A version whose text was changed: it no longer hashes to its hash;
	 * changed to what no policy is, it does not parse either. */
	tamper(f.db, "UPDATE policies SET text = text || 'fee = 4%\n' WHERE version = 1");
	assert_int_equal(check_run(f.db, out, sizeof out), 1);
	esc_test_contains(out, "BROKEN policy_hash_matches_text: pol_1's text hashes to ");
	assert_null(strstr(out, "policy_text_parses"));
	tamper(f.db, "UPDATE policies SET text = 'fee = lots' WHERE version = 1");
	assert_int_equal(check_run(f.db, out, sizeof out), 1);
	esc_test_contains(out, "BROKEN policy_hash_matches_text: pol_1's");
	esc_test_contains(out, "BROKEN policy_text_parses: pol_1's text is not a policy: line 1");
	esc_test_contains(
		out, "the store's invariants are BROKEN: 2 problems (policy_hash_matches_text, "
		     "policy_text_parses)\n");

	esc_fixture_release(&f);
}

int main(void)
{
	esc_test_store_or_skip("policies");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_an_order_keeps_the_policy_it_was_created_under),
		cmocka_unit_test(test_the_versions_over_http),
		cmocka_unit_test(test_daemons_at_once_make_one_version_each),
		cmocka_unit_test(test_another_daemons_order_follows_its_version),
		cmocka_unit_test(test_preview_refusals_show_the_order),
		cmocka_unit_test(test_icelandic_sentences_name_the_method),
		cmocka_unit_test(test_check_verifies_the_policy_versions),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
