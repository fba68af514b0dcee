/* test_events.c - events (issue 14 items 2 and 5) over HTTP, against the
 * real daemon on a loopback port with a manual clock: after each command
 * of the seed's flows, the newest event's data.object is what the
 * operator's GET of the same object answers at that moment, and its
 * version is the order's; the reputation events a command's marks cause,
 * and a lifted suspension's; and the feed, GET /v1/events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

#define KEY "events-operator-key-0001"

static struct esc_test_daemon d;

static int group_setup(void **state)
{
	(void)state;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	esc_test_tmpdir(d.dir, sizeof d.dir);
	esc_test_store(d.db, sizeof d.db, d.dir);
	esc_test_daemon_start(&d, KEY);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	esc_test_daemon_stop(&d);
	esc_test_store_drop(d.db);
	esc_test_rmdir(d.dir);
	curl_global_cleanup();
	return 0;
}

/* ---- HTTP ---- */

/* One request, through support.c's client; body may be NULL. */
static struct esc_test_reply call(const char *method, const char *path, const char *token,
				  const char *body)
{
	return esc_test_call(d.port, method, path, token, body);
}

static void drop(struct esc_test_reply *r)
{
	esc_test_reply_drop(r);
}

static const char *str(json_t *j, const char *key)
{
	return esc_test_str(j, key);
}

static void expect(const struct esc_test_reply *r, long status)
{
	if (r->status != status)
		fail_msg("expected %ld, got %ld: %s", status, r->status, r->body);
}

/* A request that must answer status; its JSON (the caller's reference). */
static json_t *must(const char *method, const char *path, const char *token, const char *body,
		    long status)
{
	struct esc_test_reply r = call(method, path, token, body);
	expect(&r, status);
	json_t *j = json_incref(r.json);
	drop(&r);
	return j;
}

static void step(const char *path, const char *token, const char *body)
{
	json_decref(must("POST", path, token, body, 200));
}

/* ---- users and orders ---- */

struct party {
	char id[64], token[80], email[80];
};

static unsigned serial;

static void sign_in(struct party *p)
{
	char body[300];
	snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"password-1\"}", p->email);
	json_t *j = must("POST", "/v1/sessions", "", body, 201);
	snprintf(p->token, sizeof p->token, "%s", str(j, "token"));
	json_decref(j);
}

/* A new user of role, signed in. */
static struct party user(const char *role)
{
	struct party p;
	char body[300];
	snprintf(p.email, sizeof p.email, "%s%u@events.test", role, ++serial);
	snprintf(
		body, sizeof body,
		"{\"role\":\"%s\",\"name\":\"%s %u\",\"email\":\"%s\",\"password\":\"password-1\"}",
		role, role, serial, p.email);
	json_t *j = must("POST", "/v1/users", KEY, body, 201);
	snprintf(p.id, sizeof p.id, "%s", str(j, "id"));
	json_decref(j);
	sign_in(&p);
	return p;
}

/* The clock moves; sessions are signed in again after it. */
static void clock_advance(int64_t seconds, struct party *again[], size_t n)
{
	char body[64];
	snprintf(body, sizeof body, "{\"seconds\":%lld}", (long long)seconds);
	json_decref(must("POST", "/v1/clock/advance", KEY, body, 200));
	for (size_t i = 0; i < n; i++)
		sign_in(again[i]);
}

static void order_path(char *out, size_t size, const char *id, const char *what)
{
	snprintf(out, size, "/v1/orders/%s%s%s", id, what ? "/" : "", what ? what : "");
}

/* ---- events ---- */

/* The order's events of a type or pattern (NULL: all), oldest first, read
 * page by page through the feed: the caller's array. */
static json_t *events_of(const char *order_id, const char *type)
{
	json_t *all = json_array();
	char path[400], after[40] = "";
	for (bool more = true; more;) {
		snprintf(path, sizeof path, "/v1/events?limit=7&order_id=%s%s%s%s%s", order_id,
			 type ? "&type=" : "", type ? type : "", after[0] ? "&starting_after=" : "",
			 after);
		json_t *page = must("GET", path, KEY, NULL, 200);
		json_t *data = json_object_get(page, "data");
		json_array_extend(all, data);
		more = json_is_true(json_object_get(page, "has_more"));
		if (json_array_size(data))
			snprintf(after, sizeof after, "%s",
				 str(json_array_get(data, json_array_size(data) - 1), "id"));
		json_decref(page);
	}
	return all;
}

/* The newest event of the order that type (a type or a pattern) selects;
 * the caller's reference. */
static json_t *newest(const char *order_id, const char *type)
{
	json_t *all = events_of(order_id, type);
	size_t n = json_array_size(all);
	if (!n)
		fail_msg("no %s event for %s", type ? type : "", order_id);
	json_t *ev = json_incref(json_array_get(all, n - 1));
	json_decref(all);
	return ev;
}

/* a and b are the same JSON, or the test fails showing both. */
static void same(json_t *a, json_t *b, const char *what)
{
	if (!json_equal(a, b)) {
		char *x = json_dumps(a, JSON_COMPACT), *y = json_dumps(b, JSON_COMPACT);
		fail_msg("%s differs:\nevent: %s\nGET:   %s", what, x, y);
	}
}

/* GET's answer without the rules of the deadlines ahead, which an
 * event's object leaves out (docs/webhooks.md): deadline_rules and each
 * action's deadline_rule, the dispute's too. Returns j. */
static json_t *without_deadline_rules(json_t *j)
{
	json_t *parts[] = {j, json_object_get(j, "dispute")}, *a;
	size_t i;
	for (size_t p = 0; p < 2; p++) {
		if (!json_is_object(parts[p]))
			continue;
		json_object_del(parts[p], "deadline_rules");
		json_object_del(parts[p], "deadline_rule");
		json_array_foreach(json_object_get(parts[p], "actions"), i, a)
			json_object_del(a, "deadline_rule");
	}
	return j;
}

/* The object a GET answers the operator now, for an event's type. */
static json_t *object_now(json_t *ev)
{
	const char *type = str(ev, "type");
	json_t *object = json_object_get(json_object_get(ev, "data"), "object");
	char path[300];
	if (!strncmp(type, "refund.", 7)) {
		snprintf(path, sizeof path, "/v1/refunds?order_id=%s", str(ev, "order_id"));
		json_t *list = must("GET", path, KEY, NULL, 200), *r, *found = NULL;
		size_t i;
		json_array_foreach(json_object_get(list, "data"), i,
				   r) if (!strcmp(str(r, "id"), str(object, "id"))) found =
			json_incref(r);
		json_decref(list);
		assert_non_null(found);
		return found;
	}
	if (!strncmp(type, "dispute.", 8))
		snprintf(path, sizeof path, "/v1/disputes/%s", str(object, "id"));
	else if (!strncmp(type, "reputation.", 11))
		snprintf(path, sizeof path, "/v1/users/%s/reputation", str(object, "user_id"));
	else
		order_path(path, sizeof path, str(ev, "order_id"), NULL);
	return without_deadline_rules(must("GET", path, KEY, NULL, 200));
}

/* The newest event of type's family on the order is of type, and carries
 * what GET answers now at the order's version. (Reputation events that
 * the command's marks caused come after its own.) */
static void newest_is(const char *order_id, const char *type)
{
	char path[200], pattern[48];
	snprintf(pattern, sizeof pattern, "%.*s.*", (int)strcspn(type, "."), type);
	json_t *ev = newest(order_id, pattern);
	assert_string_equal(str(ev, "type"), type);
	json_t *now = object_now(ev);
	same(json_object_get(json_object_get(ev, "data"), "object"), now, type);
	order_path(path, sizeof path, order_id, NULL);
	json_t *order = must("GET", path, KEY, NULL, 200);
	assert_int_equal(json_integer_value(json_object_get(ev, "version")),
			 json_integer_value(json_object_get(order, "version")));
	assert_string_equal(str(ev, "order_id"), order_id);
	assert_true(!strncmp(str(ev, "id"), "evt_", 4));
	json_decref(order);
	json_decref(now);
	json_decref(ev);
}

/* A new order between buyer and seller, paid by card; its id. */
static void paid_order(const struct party *buyer, const struct party *seller, char id[64])
{
	char body[400], path[160];
	snprintf(body, sizeof body,
		 "{\"buyer_id\":\"%s\",\"seller_id\":\"%s\",\"currency\":\"EUR\","
		 "\"items\":[{\"title\":\"Mug\",\"quantity\":2,\"unit_price\":2500}]}",
		 buyer->id, seller->id);
	json_t *j = must("POST", "/v1/orders", KEY, body, 201);
	snprintf(id, 64, "%s", str(j, "id"));
	json_decref(j);
	newest_is(id, "order.created");
	order_path(path, sizeof path, id, "pay");
	step(path, KEY, "{\"amount\":5000,\"payment_method\":\"card\"}");
	newest_is(id, "order.paid");
}

static void request_cancellation(const char *id, const struct party *buyer)
{
	char path[160];
	order_path(path, sizeof path, id, "cancel");
	step(path, buyer->token, "{\"reason\":\"no_longer_needed\"}");
	newest_is(id, "cancellation.requested");
}

/* The id of the order's first refund. */
static void first_refund(const char *id, char refund[64])
{
	char path[160];
	order_path(path, sizeof path, id, NULL);
	json_t *o = must("GET", path, KEY, NULL, 200);
	snprintf(refund, 64, "%s", str(json_array_get(json_object_get(o, "refunds"), 0), "id"));
	assert_true(refund[0]);
	json_decref(o);
}

/* ---- the seed's flows, event by event ---- */

static void cancellation_accepted_then_its_refund_settled(void **state)
{
	struct party buyer = user("buyer"), seller = user("seller");
	char id[64], path[160], refund[64];
	(void)state;
	paid_order(&buyer, &seller, id);
	request_cancellation(id, &buyer);
	order_path(path, sizeof path, id, "cancellation/accept");
	step(path, seller.token, "{}");
	newest_is(id, "cancellation.accepted");
	first_refund(id, refund);
	snprintf(path, sizeof path, "/v1/refunds/%s/settle", refund);
	step(path, KEY, "{}");
	newest_is(id, "refund.settled");
}

static void cancellation_rejected_then_withdrawn_request(void **state)
{
	struct party buyer = user("buyer"), seller = user("seller");
	char id[64], path[160];
	(void)state;
	paid_order(&buyer, &seller, id);
	request_cancellation(id, &buyer);
	order_path(path, sizeof path, id, "cancellation/reject");
	step(path, seller.token, "{\"message\":\"It is packed already\"}");
	newest_is(id, "cancellation.rejected");
	request_cancellation(id, &buyer);
	order_path(path, sizeof path, id, "cancellation/withdraw");
	step(path, buyer.token, "{}");
	newest_is(id, "cancellation.withdrawn");
}

/* The seller stays silent: the clock grants the request, and the
 * refund's alert passes too. */
static void cancellation_auto_approved_by_the_clock(void **state)
{
	struct party buyer = user("buyer"), seller = user("seller");
	struct party *again[] = {&buyer, &seller};
	char id[64];
	(void)state;
	paid_order(&buyer, &seller, id);
	request_cancellation(id, &buyer);
	clock_advance(73 * 3600, again, 2);
	newest_is(id, "cancellation.auto_approved");
	clock_advance(30 * 86400, again, 2);
	newest_is(id, "refund.overdue");
}

static void shipped_delivered_completed(void **state)
{
	struct party buyer = user("buyer"), seller = user("seller");
	char id[64], path[160];
	(void)state;
	paid_order(&buyer, &seller, id);
	order_path(path, sizeof path, id, "ship");
	step(path, seller.token, "{\"carrier\":\"Posturinn\",\"tracking_number\":\"RR1IS\"}");
	newest_is(id, "order.shipped");
	order_path(path, sizeof path, id, "deliver");
	step(path, KEY, "{}");
	newest_is(id, "order.delivered");
	order_path(path, sizeof path, id, "confirm-receipt");
	step(path, buyer.token, "{}");
	newest_is(id, "order.completed");
}

/* The reputation events of the order whose previous differs from now. */
static size_t reputation_changes(const char *id, const char *type, const char *user_id)
{
	json_t *all = events_of(id, type), *ev;
	size_t i, n = 0;
	json_array_foreach(all, i, ev)
	{
		json_t *data = json_object_get(ev, "data");
		json_t *object = json_object_get(data, "object"),
		       *prev = json_object_get(data, "previous");
		assert_non_null(prev);
		if (strcmp(str(object, "user_id"), user_id))
			continue;
		if (json_object_get(prev, "score"))
			assert_int_not_equal(json_integer_value(json_object_get(prev, "score")),
					     json_integer_value(json_object_get(object, "score")));
		else
			assert_string_not_equal(str(prev, "level"), str(object, "level"));
		n++;
	}
	json_decref(all);
	return n;
}

/* A dispute from its opening to an arbiter's decision for the buyer: each
 * step's event carries the dispute as the operator's GET shows it; the
 * decision lowers the seller's score, which writes its own event. */
static void a_dispute_decided_and_the_seller_score_event(void **state)
{
	struct party buyer = user("buyer"), seller = user("seller"), arbiter = user("arbiter");
	char id[64], path[200], dsp[64];
	(void)state;
	paid_order(&buyer, &seller, id);
	order_path(path, sizeof path, id, "ship");
	step(path, seller.token, "{\"carrier\":\"Posturinn\",\"tracking_number\":\"RR2IS\"}");
	order_path(path, sizeof path, id, "disputes");
	json_t *j = must("POST", path, buyer.token,
			 "{\"ground\":\"not_as_described\",\"outcome\":\"refund_only\","
			 "\"amount\":2000,\"description\":\"The handle came off\"}",
			 201);
	snprintf(dsp, sizeof dsp, "%s", str(j, "id"));
	json_decref(j);
	newest_is(id, "dispute.opened");
	snprintf(path, sizeof path, "/v1/disputes/%s/reject", dsp);
	step(path, seller.token, "{\"message\":\"It was fine\"}");
	newest_is(id, "dispute.rejected");
	snprintf(path, sizeof path, "/v1/disputes/%s/escalate", dsp);
	step(path, buyer.token, "{}");
	newest_is(id, "dispute.escalated");
	snprintf(path, sizeof path, "/v1/disputes/%s/decide", dsp);
	step(path, arbiter.token, "{\"refund_amount\":2000,\"reason\":\"Photos show it\"}");
	newest_is(id, "dispute.resolved");
	newest_is(id, "reputation.seller_score_changed");
	assert_int_equal(reputation_changes(id, "reputation.*", seller.id), 1);
	/* The refund the decision made settles. */
	char refund[64];
	first_refund(id, refund);
	snprintf(path, sizeof path, "/v1/refunds/%s/settle", refund);
	step(path, KEY, "{}");
	newest_is(id, "refund.settled");
}

/* A dispute the buyer loses: an arbiter decides no refund. Returns the
 * order's id. */
static void lose_a_dispute(const struct party *buyer, const struct party *seller,
			   const struct party *arbiter, char id[64])
{
	char path[200], dsp[64];
	paid_order(buyer, seller, id);
	order_path(path, sizeof path, id, "ship");
	step(path, seller->token, "{\"carrier\":\"Posturinn\",\"tracking_number\":\"RR7IS\"}");
	order_path(path, sizeof path, id, "disputes");
	json_t *j = must("POST", path, buyer->token,
			 "{\"ground\":\"invalid_tracking\",\"outcome\":\"refund_only\","
			 "\"amount\":100,\"description\":\"No such parcel\"}",
			 201);
	snprintf(dsp, sizeof dsp, "%s", str(j, "id"));
	json_decref(j);
	snprintf(path, sizeof path, "/v1/disputes/%s/reject", dsp);
	step(path, seller->token, "{\"message\":\"It is on its way\"}");
	snprintf(path, sizeof path, "/v1/disputes/%s/escalate", dsp);
	step(path, buyer->token, "{}");
	snprintf(path, sizeof path, "/v1/disputes/%s/decide", dsp);
	step(path, arbiter->token, "{\"refund_amount\":0,\"reason\":\"It was delivered\"}");
	newest_is(id, "dispute.resolved");
}

static json_t *reputation(const char *user_id)
{
	char path[160];
	snprintf(path, sizeof path, "/v1/users/%s/reputation", user_id);
	return must("GET", path, KEY, NULL, 200);
}

/* Each lost dispute that moves the buyer's level writes
 * reputation.buyer_level_changed with the level before; the third
 * suspends; an arbiter's lift writes reputation.suspension_lifted, of no
 * order. */
static void buyer_level_events_and_a_lifted_suspension(void **state)
{
	struct party buyer = user("buyer"), seller = user("seller"), arbiter = user("arbiter");
	char id[64], path[200];
	size_t changes = 0;
	(void)state;
	for (int i = 0; i < 3; i++) {
		json_t *before = reputation(buyer.id);
		lose_a_dispute(&buyer, &seller, &arbiter, id);
		json_t *after = reputation(buyer.id);
		if (strcmp(str(before, "level"), str(after, "level"))) {
			newest_is(id, "reputation.buyer_level_changed");
			json_t *ev = newest(id, "reputation.buyer_level_changed");
			json_t *prev = json_object_get(json_object_get(ev, "data"), "previous");
			assert_string_equal(str(prev, "level"), str(before, "level"));
			assert_null(json_object_get(prev, "score"));
			json_decref(ev);
			changes++;
		} else {
			assert_int_equal(
				reputation_changes(id, "reputation.buyer_level_changed", buyer.id),
				0);
		}
		json_decref(before);
		json_decref(after);
	}
	assert_true(changes >= 1);
	json_t *rep = reputation(buyer.id);
	assert_string_equal(str(rep, "level"), "suspended");
	json_decref(rep);

	snprintf(path, sizeof path, "/v1/users/%s/suspension/lift", buyer.id);
	step(path, arbiter.token, "{\"reason\":\"The parcels were lost by one depot\"}");
	json_t *page = must("GET", "/v1/events?type=reputation.suspension_lifted&limit=100", KEY,
			    NULL, 200);
	json_t *data = json_object_get(page, "data");
	json_t *ev = json_array_get(data, json_array_size(data) - 1);
	assert_non_null(ev);
	assert_string_equal(str(ev, "type"), "reputation.suspension_lifted");
	assert_true(json_is_null(json_object_get(ev, "order_id")));
	assert_true(json_is_null(json_object_get(ev, "version")));
	json_t *now = reputation(buyer.id);
	same(json_object_get(json_object_get(ev, "data"), "object"), now, "the lifted reputation");
	assert_string_equal(str(json_object_get(json_object_get(ev, "data"), "previous"), "level"),
			    "suspended");
	json_decref(now);
	json_decref(page);
}

/* ---- the feed: GET /v1/events ---- */

/* Every event once, oldest first, whatever the page size; type by exact
 * name and by family; GET /v1/events/{id} is the listed event. */
static void the_feed_pages_forward_and_filters(void **state)
{
	struct party buyer = user("buyer"), seller = user("seller");
	char id[64], path[200];
	(void)state;
	paid_order(&buyer, &seller, id);
	request_cancellation(id, &buyer);
	json_t *all = events_of(id, NULL), *ev, *one = NULL;
	size_t i;
	assert_true(json_array_size(all) >= 3);
	json_array_foreach(all, i, ev)
	{
		if (i)
			assert_true(strcmp(str(json_array_get(all, i - 1), "id"), str(ev, "id")) <
				    0);
		snprintf(path, sizeof path, "/v1/events/%s", str(ev, "id"));
		one = must("GET", path, KEY, NULL, 200);
		same(one, ev, "GET /v1/events/{id}");
		json_decref(one);
	}
	json_t *orders = events_of(id, "order.*"), *paid = events_of(id, "order.paid");
	json_array_foreach(orders, i, ev) assert_true(!strncmp(str(ev, "type"), "order.", 6));
	assert_int_equal(json_array_size(orders), 2);
	assert_int_equal(json_array_size(paid), 1);
	assert_string_equal(str(json_array_get(paid, 0), "type"), "order.paid");
	json_t *star = events_of(id, "*");
	assert_int_equal(json_array_size(star), json_array_size(all));
	json_decref(star);
	json_decref(paid);
	json_decref(orders);
	json_decref(all);
}

static void the_feed_refuses_bad_filters_and_unknown_ids(void **state)
{
	(void)state;
	struct esc_test_reply r = call("GET", "/v1/events?type=order.exploded", KEY, NULL);
	expect(&r, 400);
	assert_non_null(strstr(r.body, "order.exploded"));
	drop(&r);
	r = call("GET", "/v1/events?type=orders.*", KEY, NULL);
	expect(&r, 400);
	drop(&r);
	r = call("GET", "/v1/events?starting_after=ord_1", KEY, NULL);
	expect(&r, 400);
	drop(&r);
	r = call("GET", "/v1/events?limit=0", KEY, NULL);
	expect(&r, 400);
	drop(&r);
	r = call("GET", "/v1/events/evt_7fffffffffff0000", KEY, NULL);
	expect(&r, 404);
	drop(&r);
	r = call("GET", "/v1/events/evt_nothex", KEY, NULL);
	expect(&r, 404);
	drop(&r);
	/* The last event's id as a cursor: an empty page. */
	json_t *page = must("GET", "/v1/events?limit=100", KEY, NULL, 200);
	json_t *data = json_object_get(page, "data");
	if (json_array_size(data)) {
		char path[200];
		snprintf(path, sizeof path, "/v1/events?starting_after=%s",
			 str(json_array_get(data, json_array_size(data) - 1), "id"));
		json_t *after = must("GET", path, KEY, NULL, 200);
		if (!json_is_true(json_object_get(page, "has_more")))
			assert_int_equal(json_array_size(json_object_get(after, "data")), 0);
		json_decref(after);
	}
	json_decref(page);
}

int main(void)
{
	esc_test_store_or_skip("events");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cancellation_accepted_then_its_refund_settled),
		cmocka_unit_test(cancellation_rejected_then_withdrawn_request),
		cmocka_unit_test(cancellation_auto_approved_by_the_clock),
		cmocka_unit_test(shipped_delivered_completed),
		cmocka_unit_test(a_dispute_decided_and_the_seller_score_event),
		cmocka_unit_test(buyer_level_events_and_a_lifted_suspension),
		cmocka_unit_test(the_feed_pages_forward_and_filters),
		cmocka_unit_test(the_feed_refuses_bad_filters_and_unknown_ids),
	};
	return cmocka_run_group_tests_name("events", tests, group_setup, group_teardown);
}
