/* test_inbox.c - issue 17 items 3 and 4: unread messages (a read marker per
 * order and party, the order's and /v1/me's counts, the conversations),
 * and notifications (events of the caller's orders that someone else
 * caused, reminders derived from the clock, marked read). On both stores
 * (the -pg variant). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "core/notice.h"
#include "support.h"

#define KEY "inbox-operator-key-0001"

static struct esc_test_daemon d;

struct party {
	char id[64], token[80];
};

static struct party buyer, buyer2, seller, arbiter;

/* Sign p in anew (sessions end when idle: the clock moves here). */
static void sign_in(struct party *p, const char *name)
{
	char body[300];
	snprintf(body, sizeof body, "{\"email\":\"%s@inbox.test\",\"password\":\"password-1\"}",
		 name);
	json_t *j = esc_test_must(d.port, "POST", "/v1/sessions", "", body, 201);
	snprintf(p->token, sizeof p->token, "%s", esc_test_str(j, "token"));
	json_decref(j);
}

static void party_new(struct party *p, const char *role, const char *name)
{
	char email[100];
	snprintf(email, sizeof email, "%s@inbox.test", name);
	esc_test_user(d.port, KEY, role, name, email, p->id, p->token);
}

static int setup(void **state)
{
	(void)state;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	memset(&d, 0, sizeof d);
	esc_test_tmpdir(d.dir, sizeof d.dir);
	esc_test_store(d.db, sizeof d.db, d.dir);
	esc_test_daemon_start(&d, KEY);
	party_new(&buyer, "buyer", "buyer");
	party_new(&buyer2, "buyer", "buyer2");
	party_new(&seller, "seller", "seller");
	party_new(&arbiter, "arbiter", "arbiter");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	esc_test_daemon_stop(&d);
	esc_test_store_drop(d.db);
	esc_test_rmdir(d.dir);
	curl_global_cleanup();
	return 0;
}

/* A new order of 29.00 EUR from buyer to seller, paid by card. */
static void order_paid(char *id, size_t size)
{
	char body[400], path[160];
	snprintf(body, sizeof body,
		 "{\"buyer_id\":\"%s\",\"seller_id\":\"%s\",\"currency\":\"EUR\","
		 "\"items\":[{\"title\":\"Kettle\",\"quantity\":1,\"unit_price\":2900}]}",
		 buyer.id, seller.id);
	json_t *o = esc_test_must(d.port, "POST", "/v1/orders", KEY, body, 201);
	snprintf(id, size, "%s", esc_test_str(o, "id"));
	json_decref(o);
	snprintf(path, sizeof path, "/v1/orders/%s/pay", id);
	json_decref(esc_test_must(d.port, "POST", path, KEY,
				  "{\"amount\":2900,\"payment_method\":\"card\"}", 200));
}

static json_t *post(const char *id, const char *what, const char *token, const char *body,
		    long status)
{
	char path[200];
	snprintf(path, sizeof path, "/v1/orders/%s/%s", id, what);
	return esc_test_must(d.port, "POST", path, token, body, status);
}

static int64_t integer(json_t *j, const char *key)
{
	json_t *v = json_object_get(j, key);
	if (!json_is_integer(v))
		fail_msg("no integer %s in %s", key, json_dumps(j, 0));
	return (int64_t)json_integer_value(v);
}

static int64_t me(const struct party *p, const char *key)
{
	json_t *j = esc_test_must(d.port, "GET", "/v1/me", p->token, NULL, 200);
	int64_t n = integer(j, key);
	json_decref(j);
	return n;
}

static int64_t order_unread(const char *id, const struct party *p)
{
	char path[160];
	snprintf(path, sizeof path, "/v1/orders/%s", id);
	json_t *j = esc_test_must(d.port, "GET", path, p->token, NULL, 200);
	int64_t n = integer(j, "unread_messages");
	json_decref(j);
	return n;
}

static void read_up_to(const char *id, const struct party *p, int64_t seq, int64_t unread)
{
	char body[64];
	snprintf(body, sizeof body, "{\"seq\":%lld}", (long long)seq);
	json_t *j = post(id, "messages/read", p->token, body, 200);
	assert_int_equal(integer(j, "unread_messages"), unread);
	json_decref(j);
}

static void advance(int64_t seconds)
{
	char body[64];
	snprintf(body, sizeof body, "{\"seconds\":%lld}", (long long)seconds);
	json_decref(esc_test_must(d.port, "POST", "/v1/clock/advance", KEY, body, 200));
	sign_in(&buyer, "buyer");
	sign_in(&buyer2, "buyer2");
	sign_in(&seller, "seller");
	sign_in(&arbiter, "arbiter");
}

/* The caller's notifications (the first page, up to 100). */
static json_t *notifications(const struct party *p)
{
	json_t *j =
		esc_test_must(d.port, "GET", "/v1/notifications?limit=100", p->token, NULL, 200);
	json_t *data = json_incref(json_object_get(j, "data"));
	json_decref(j);
	return data;
}

/* The first notification of order id, or NULL. */
static json_t *about(json_t *list, const char *id)
{
	size_t i;
	json_t *n;
	json_array_foreach(list, i, n) if (!strcmp(esc_test_str(n, "order_id"), id)) return n;
	return NULL;
}

/* The caller's conversation of order id. */
static json_t *conversation(const struct party *p, const char *id)
{
	json_t *c = esc_test_must(d.port, "GET", "/v1/conversations", p->token, NULL, 200);
	json_t *data = json_object_get(c, "data"), *one = NULL, *v;
	size_t i;
	json_array_foreach(data, i, v) if (!strcmp(esc_test_str(v, "order_id"), id)) one = v;
	if (!one)
		fail_msg("no conversation of %s", id);
	json_incref(one);
	json_decref(c);
	return one;
}

/* The reminder of order id in list, or NULL. */
static json_t *reminder_of(json_t *list, const char *id)
{
	size_t i;
	json_t *n;
	json_array_foreach(list, i, n) if (!strcmp(esc_test_str(n, "order_id"), id) &&
					   !strcmp(esc_test_str(n, "kind"), "reminder")) return n;
	return NULL;
}

/* Issue 17 item 3: a message from the other party is unread on the order,
 * in /v1/me and in the conversations until the reader marks it read; the
 * marker never moves back; the author's own messages are never unread. */
static void issue_17_item_3_unread_messages_go_up_and_down(void **state)
{
	char id[64];
	(void)state;
	order_paid(id, sizeof id);
	int64_t before = me(&seller, "unread_messages");
	json_decref(post(id, "messages", buyer.token, "{\"body\":\"Is it blue?\"}", 201));
	json_decref(post(id, "messages", buyer.token, "{\"body\":\"Or green?\"}", 201));
	assert_int_equal(order_unread(id, &seller), 2);
	assert_int_equal(order_unread(id, &buyer), 0);
	assert_int_equal(me(&seller, "unread_messages"), before + 2);

	json_t *c = esc_test_must(d.port, "GET", "/v1/conversations", seller.token, NULL, 200);
	json_t *first = json_array_get(json_object_get(c, "data"), 0);
	assert_string_equal(esc_test_str(first, "order_id"), id);
	assert_int_equal(integer(first, "unread_messages"), 2);
	assert_int_equal(integer(first, "messages"), 2);
	assert_string_equal(esc_test_str(first, "title"), "Kettle");
	assert_string_equal(esc_test_str(json_object_get(first, "last_message"), "body"),
			    "Or green?");
	json_decref(c);

	read_up_to(id, &seller, 1, 1);
	read_up_to(id, &seller, 2, 0);
	read_up_to(id, &seller, 1, 0); /* never back */
	assert_int_equal(me(&seller, "unread_messages"), before);
	json_decref(post(id, "messages", seller.token, "{\"body\":\"Blue.\"}", 201));
	assert_int_equal(order_unread(id, &buyer), 1);
	assert_int_equal(order_unread(id, &seller), 0);

	/* Not a message of the order: refused, with what to send. */
	json_t *e = post(id, "messages/read", seller.token, "{\"seq\":99}", 400);
	assert_true(strlen(esc_test_str(json_object_get(e, "error"), "hint")) > 0);
	json_decref(e);
	json_decref(post(id, "messages/read", seller.token, "{\"seq\":-1}", 400));
	json_decref(post(id, "messages/read", seller.token, "{\"seq\":1,\"x\":1}", 400));
}

/* SPEC §1: another buyer's order is not found, its conversation is not
 * theirs, and arbiters and the operator have no inbox. */
static void issue_17_the_inbox_is_the_callers_own(void **state)
{
	char id[64];
	(void)state;
	order_paid(id, sizeof id);
	json_decref(post(id, "messages", seller.token, "{\"body\":\"Thanks!\"}", 201));
	json_decref(post(id, "messages/read", buyer2.token, "{\"seq\":1}", 404));
	json_t *c = esc_test_must(d.port, "GET", "/v1/conversations", buyer2.token, NULL, 200);
	assert_int_equal(json_array_size(json_object_get(c, "data")), 0);
	json_decref(c);
	json_t *n = notifications(&buyer2);
	assert_null(about(n, id));
	json_decref(n);
	assert_int_equal(me(&buyer2, "unread_messages"), 0);
	assert_int_equal(me(&buyer2, "unread_notifications"), 0);
	json_decref(esc_test_must(d.port, "GET", "/v1/notifications", arbiter.token, NULL, 403));
	json_decref(esc_test_must(d.port, "GET", "/v1/notifications", KEY, NULL, 403));
	json_decref(esc_test_must(d.port, "GET", "/v1/conversations", arbiter.token, NULL, 403));
}

/* Issue 17 item 3: the seller's rejection message is a message of the
 * order's conversation, unread by the buyer; item 4: the rejection is the
 * buyer's notification, not the seller's. */
static void issue_17_the_rejection_message_is_in_the_conversation(void **state)
{
	char id[64];
	(void)state;
	order_paid(id, sizeof id);
	json_decref(post(id, "cancel", buyer.token, "{\"reason\":\"change_order\"}", 200));
	json_decref(post(id, "cancellation/reject", seller.token,
			 "{\"message\":\"Already packed, ships today\"}", 200));
	assert_int_equal(order_unread(id, &buyer), 1);
	json_t *first = conversation(&buyer, id);
	json_t *last = json_object_get(first, "last_message");
	assert_string_equal(esc_test_str(last, "body"), "Already packed, ships today");
	assert_string_equal(esc_test_str(last, "role"), "seller");
	assert_int_equal(integer(first, "unread_messages"), 1);
	json_decref(first);

	json_t *n = notifications(&buyer);
	json_t *rejected = about(n, id);
	assert_non_null(rejected);
	assert_string_equal(esc_test_str(rejected, "event"), "reject_cancellation");
	assert_string_equal(esc_test_str(rejected, "kind"), "event");
	assert_non_null(strstr(esc_test_str(rejected, "sentence"), "rejected your cancellation"));
	json_decref(n);
	n = notifications(&seller);
	json_t *asked = about(n, id);
	assert_string_equal(esc_test_str(asked, "event"), "cancel");
	assert_string_equal(esc_test_str(asked, "sentence"),
			    "The buyer asked to cancel the order.");
	json_decref(n);
}

/* Issue 17 item 4: the seller's acceptance and the refund's arrival are
 * the buyer's notifications, in their language, unread until marked read
 * through the newest; a later one is unread again. */
static void issue_17_item_4_notifications_after_acceptance_and_refund(void **state)
{
	char id[64], path[200], through[96];
	(void)state;
	order_paid(id, sizeof id);
	json_t *n = notifications(&buyer);
	snprintf(through, sizeof through, "%s", esc_test_str(json_array_get(n, 0), "id"));
	json_decref(n);
	snprintf(path, sizeof path, "{\"through\":\"%s\"}", through);
	json_t *r = esc_test_must(d.port, "POST", "/v1/notifications/read", buyer.token, path, 200);
	assert_int_equal(integer(r, "unread_notifications"), 0);
	json_decref(r);
	assert_int_equal(me(&buyer, "unread_notifications"), 0);

	json_decref(post(id, "cancel", buyer.token, "{\"reason\":\"change_order\"}", 200));
	assert_int_equal(me(&buyer, "unread_notifications"), 0); /* the buyer's own */
	json_decref(post(id, "cancellation/accept", seller.token, "{}", 200));
	assert_int_equal(me(&buyer, "unread_notifications"), 1);
	n = notifications(&buyer);
	json_t *first = json_array_get(n, 0);
	assert_string_equal(esc_test_str(first, "sentence"),
			    "The seller accepted your cancellation.");
	assert_false(json_is_true(json_object_get(first, "read")));
	snprintf(through, sizeof through, "%s", esc_test_str(first, "id"));
	json_decref(n);
	snprintf(path, sizeof path, "{\"through\":\"%s\"}", through);
	json_decref(
		esc_test_must(d.port, "POST", "/v1/notifications/read", buyer.token, path, 200));
	assert_int_equal(me(&buyer, "unread_notifications"), 0);

	snprintf(path, sizeof path, "/v1/refunds?order_id=%s", id);
	json_t *refunds = esc_test_must(d.port, "GET", path, KEY, NULL, 200);
	snprintf(path, sizeof path, "/v1/refunds/%s/settle",
		 esc_test_str(json_array_get(json_object_get(refunds, "data"), 0), "id"));
	json_decref(refunds);
	json_decref(esc_test_must(d.port, "POST", path, KEY, "{}", 200));
	assert_int_equal(me(&buyer, "unread_notifications"), 1);
	n = notifications(&buyer);
	first = json_array_get(n, 0);
	assert_string_equal(esc_test_str(first, "sentence"), "Your refund of €29.00 arrived.");
	assert_string_equal(esc_test_str(first, "type"), "refund.settled");
	assert_true(json_is_true(json_object_get(json_array_get(n, 1), "read")));
	json_decref(n);
	esc_test_header = "Accept-Language: is";
	n = esc_test_must(d.port, "GET", "/v1/notifications?limit=1", buyer.token, NULL, 200);
	assert_string_equal(esc_test_str(json_array_get(json_object_get(n, "data"), 0), "sentence"),
			    "Endurgreiðsla þín, 29,00\xc2\xa0€, barst.");
	json_decref(n);
}

/* Issue 17 item 4: "The seller has 24 hours left to answer" is no event:
 * it is due once the clock is within 24 hours of the open request's
 * deadline, with the same id each time, for both parties; it goes when
 * the request does. */
static void issue_17_item_4_the_reminder_comes_within_24_hours(void **state)
{
	char id[64];
	(void)state;
	order_paid(id, sizeof id);
	json_decref(post(id, "cancel", buyer.token, "{\"reason\":\"change_order\"}", 200));
	int64_t unread = me(&buyer, "unread_notifications");
	advance(47 * 3600);
	json_t *n = notifications(&buyer);
	assert_null(reminder_of(n, id));
	json_decref(n);
	assert_int_equal(me(&buyer, "unread_notifications"), unread);
	advance(3600);
	n = notifications(&buyer);
	json_t *r = reminder_of(n, id);
	assert_non_null(r);
	assert_string_equal(esc_test_str(r, "kind"), "reminder");
	assert_true(json_is_null(json_object_get(r, "event")));
	assert_string_equal(esc_test_str(r, "sentence"),
			    "The seller has 24 hours left to answer your cancellation request.");
	char rid[96];
	snprintf(rid, sizeof rid, "%s", esc_test_str(r, "id"));
	json_decref(n);
	assert_int_equal(me(&buyer, "unread_notifications"), unread + 1);
	advance(600);
	n = notifications(&buyer);
	assert_string_equal(esc_test_str(reminder_of(n, id), "id"), rid);
	json_decref(n);
	n = notifications(&seller);
	assert_string_equal(esc_test_str(reminder_of(n, id), "sentence"),
			    "You have 24 hours left to answer the buyer's cancellation request.");
	json_decref(n);
	json_decref(post(id, "cancellation/withdraw", buyer.token, "{}", 200));
	n = notifications(&buyer);
	assert_null(reminder_of(n, id));
	json_decref(n);
}

/* Issue 17 item 4: a notification says an amount as the interface around
 * it does (web/text.js's money(), Intl with CLDR's narrow symbols), in
 * English and Icelandic: the symbol, groups of three, the currency's own
 * minor unit, and no-break spaces (U+00A0, written NB here). The expected
 * texts are Intl's, en-GB and is-IS. */
static void issue_17_item_4_amounts_as_the_interface_writes_them(void **state)
{
	(void)state;
	static const struct {
		int64_t minor;
		const char *currency, *en, *is;
	} cases[] = {
		{2900, "EUR", "€29.00", "29,00NB€"},
		{1000, "EUR", "€10.00", "10,00NB€"},
		{123456789, "EUR", "€1,234,567.89", "1.234.567,89NB€"},
		{5, "USD", "$0.05", "0,05NB$"},
		{2599, "ISK", "krNB2,599", "2.599NBkr."},
		{1500, "KWD", "KWDNB1.500", "1,500NBKWD"},
		{123450, "CHF", "CHFNB1,234.50", "1.234,50NBCHF"},
		{100, "GBP", "£1.00", "1,00NB£"},
		{99, "AFN", "؋0.99", "0,99NB؋"},
		{1234, "ZMW", "ZKNB12.34", "12,34NBZK"},
		{1234, "TWD", "$12.34", "12,34NBNT$"},
		{0, "JPY", "¥0", "0NB¥"},
		{-1050, "EUR", "-€10.50", "-10,50NB€"},
	};
	char out[64], want[64];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		for (int lang = 0; lang < ESC_LANG_COUNT; lang++) {
			const char *w = lang == ESC_LANG_IS ? cases[i].is : cases[i].en;
			size_t o = 0;
			for (const char *c = w; *c && o + 3 < sizeof want; c++) {
				if (c[0] == 'N' && c[1] == 'B') {
					want[o++] = '\xc2';
					want[o++] = '\xa0';
					c++;
				} else {
					want[o++] = *c;
				}
			}
			want[o] = '\0';
			esc_notice_amount(cases[i].minor, cases[i].currency, (enum esc_lang)lang,
					  out, sizeof out);
			if (strcmp(out, want))
				fail_msg("%lld %s (%s): \"%s\", not \"%s\"",
					 (long long)cases[i].minor, cases[i].currency,
					 esc_lang_name((enum esc_lang)lang), out, want);
		}
	}
	/* The sentence holds it as it is. */
	esc_notice_amount(1000, "EUR", ESC_LANG_EN, out, sizeof out);
	assert_int_equal(esc_notice_sentence(ESC_EV_PAY, ESC_ST_AWAITING_SHIPMENT, ESC_ACTOR_BUYER,
					     out, ESC_LANG_EN, want, sizeof want),
			 0);
	assert_string_equal(want, "Your payment of €10.00 was received.");
}

/* SPEC §7: the notifications page by cursor, newest first, each once. */
static void issue_17_item_4_notifications_page_by_cursor(void **state)
{
	char path[200], after[96] = "";
	(void)state;
	json_t *all = notifications(&seller);
	size_t total = json_array_size(all);
	assert_true(total >= 3);
	for (size_t i = 0; i < total; i++) {
		if (after[0])
			snprintf(path, sizeof path, "/v1/notifications?limit=1&starting_after=%s",
				 after);
		else
			snprintf(path, sizeof path, "/v1/notifications?limit=1");
		json_t *page = esc_test_must(d.port, "GET", path, seller.token, NULL, 200);
		json_t *one = json_array_get(json_object_get(page, "data"), 0);
		assert_string_equal(esc_test_str(one, "id"),
				    esc_test_str(json_array_get(all, i), "id"));
		assert_int_equal(json_is_true(json_object_get(page, "has_more")), i + 1 < total);
		snprintf(after, sizeof after, "%s", esc_test_str(one, "id"));
		json_decref(page);
	}
	json_decref(all);
	json_decref(esc_test_must(d.port, "GET", "/v1/notifications?starting_after=x", seller.token,
				  NULL, 400));
	json_decref(esc_test_must(d.port, "POST", "/v1/notifications/read", seller.token,
				  "{\"through\":\"evt_1\"}", 400));
}

int main(void)
{
	esc_test_store_or_skip("inbox");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(issue_17_item_3_unread_messages_go_up_and_down),
		cmocka_unit_test(issue_17_the_inbox_is_the_callers_own),
		cmocka_unit_test(issue_17_the_rejection_message_is_in_the_conversation),
		cmocka_unit_test(issue_17_item_4_notifications_after_acceptance_and_refund),
		cmocka_unit_test(issue_17_item_4_the_reminder_comes_within_24_hours),
		cmocka_unit_test(issue_17_item_4_notifications_page_by_cursor),
		cmocka_unit_test(issue_17_item_4_amounts_as_the_interface_writes_them),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
