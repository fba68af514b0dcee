/* test_deliveries.c - seeing and replaying webhook deliveries (issue 14
 * item 5; docs/webhooks.md, "Seeing and replaying deliveries").
 *
 * The real daemon, on a manual clock with webhooks.allow_private = true,
 * delivers to a receiver on a loopback port (libmicrohttpd) whose answer
 * the test chooses: GET /v1/webhook-deliveries with its filters and
 * cursor, its refusals, one delivery and its attempts, and
 * POST /v1/webhook-deliveries/{id}/retry of a failed and of a delivered
 * delivery. Waits are for the delivery worker's network I/O (real time,
 * generous); escrowd's time moves only through POST /v1/clock/advance.
 * Last, the store's verbs behind them on a store of their own: the list's
 * order, filters and cursor, attempts, and retry_now taking a claim away
 * from the worker that holds it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "support.h"
#include "util/timefmt.h"

#define KEY    "deliveries-operator-key-0001"
#define WAIT_S 20 /* the most a delivery may take to arrive (real time) */

static struct esc_test_daemon d;

/* ---- the receiver: /ok answers 200 "ok"; /flaky answers flaky_status ---- */

#define BODIES_MAX 64

static struct receiver {
	struct MHD_Daemon *daemon;
	int port;
	atomic_int flaky_status;
	pthread_mutex_t lock;
	struct {
		char event_id[32];
		char body[4096];
	} got[BODIES_MAX];
	size_t got_n;
} rx = {.lock = PTHREAD_MUTEX_INITIALIZER};

struct upload {
	char data[4096];
	size_t bytes;
};

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *body)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result result = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return result;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **request_state)
{
	struct upload *u = *request_state;
	(void)cls;
	(void)method;
	(void)version;
	if (!u) {
		u = calloc(1, sizeof *u);
		*request_state = u;
		return u ? MHD_YES : MHD_NO;
	}
	if (*upload_data_size > 0) {
		size_t room = sizeof u->data - 1 - u->bytes;
		size_t n = *upload_data_size < room ? *upload_data_size : room;
		memcpy(u->data + u->bytes, upload_data, n);
		u->bytes += n;
		*upload_data_size = 0;
		return MHD_YES;
	}
	const char *id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Escrowd-Event-Id");
	pthread_mutex_lock(&rx.lock);
	if (rx.got_n < BODIES_MAX) {
		snprintf(rx.got[rx.got_n].event_id, sizeof rx.got[0].event_id, "%s", id ? id : "");
		memcpy(rx.got[rx.got_n].body, u->data, u->bytes + 1);
		rx.got_n++;
	}
	pthread_mutex_unlock(&rx.lock);
	if (strstr(url, "/flaky"))
		return answer(c, (unsigned)atomic_load(&rx.flaky_status), "{\"error\":\"down\"}");
	return answer(c, 200, "ok");
}

static void completed(void *cls, struct MHD_Connection *c, void **request_state,
		      enum MHD_RequestTerminationCode code)
{
	(void)cls;
	(void)c;
	(void)code;
	free(*request_state);
	*request_state = NULL;
}

/* The bodies received for event_id: how many, the first into first. */
static size_t received(const char *event_id, char *first, size_t size)
{
	size_t n = 0;
	pthread_mutex_lock(&rx.lock);
	for (size_t i = 0; i < rx.got_n; i++) {
		if (strcmp(rx.got[i].event_id, event_id))
			continue;
		if (!n++ && first)
			snprintf(first, size, "%s", rx.got[i].body);
		else if (first)
			assert_string_equal(rx.got[i].body, first); /* the same bytes */
	}
	pthread_mutex_unlock(&rx.lock);
	return n;
}

static int group_setup(void **state)
{
	struct sockaddr_in address = {.sin_family = AF_INET,
				      .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	(void)state;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	atomic_store(&rx.flaky_status, 200);
	rx.daemon = MHD_start_daemon(MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD |
					     MHD_USE_THREAD_PER_CONNECTION,
				     0, NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, &address,
				     MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
	assert_non_null(rx.daemon);
	rx.port = MHD_get_daemon_info(rx.daemon, MHD_DAEMON_INFO_BIND_PORT)->port;

	esc_test_tmpdir(d.dir, sizeof d.dir);
	esc_test_store(d.db, sizeof d.db, d.dir);
	esc_test_daemon_config(&d, "webhooks.allow_private = true\n");
	esc_test_daemon_start(&d, KEY);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	esc_test_daemon_stop(&d);
	esc_test_store_drop(d.db);
	esc_test_rmdir(d.dir);
	MHD_stop_daemon(rx.daemon);
	curl_global_cleanup();
	return 0;
}

/* ---- requests ---- */

struct reply {
	long status;
	char *body;
	size_t len;
	json_t *json;
};

static size_t on_data(char *ptr, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	char *p = realloc(r->body, r->len + size * n + 1);
	assert_non_null(p);
	memcpy(p + r->len, ptr, size * n);
	r->len += size * n;
	p[r->len] = '\0';
	r->body = p;
	return size * n;
}

/* One request with the operator key; body and extra (a header line) may
 * be NULL. */
static struct reply call(const char *method, const char *path, const char *body, const char *extra)
{
	struct reply r = {0};
	char url[600];
	struct curl_slist *h = curl_slist_append(NULL, "Authorization: Bearer " KEY);
	CURL *c = curl_easy_init();
	assert_non_null(c);
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", d.port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	if (extra)
		h = curl_slist_append(h, extra);
	if (body) {
		h = curl_slist_append(h, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	r.json = r.body ? json_loads(r.body, 0, NULL) : NULL;
	if (!r.json)
		fail_msg("%s %s: not JSON: %s", method, path, r.body ? r.body : "(empty)");
	return r;
}

static void drop(struct reply *r)
{
	json_decref(r->json);
	free(r->body);
}

static void expect(const struct reply *r, long status)
{
	if (r->status != status)
		fail_msg("expected %ld, got %ld: %s", status, r->status, r->body);
}

static const char *str(json_t *j, const char *key)
{
	const char *s = json_string_value(json_object_get(j, key));
	return s ? s : "";
}

/* A 400 invalid_request whose message holds want. */
static void refused(const char *path, const char *want)
{
	struct reply r = call("GET", path, NULL, NULL);
	expect(&r, 400);
	json_t *e = json_object_get(r.json, "error");
	assert_string_equal(str(e, "code"), "invalid_request");
	if (!strstr(str(e, "message"), want))
		fail_msg("%s: '%s' does not say '%s'", path, str(e, "message"), want);
	drop(&r);
}

/* POST path with body: the answer's id, after asserting status. */
static void post_id(const char *path, const char *body, long status, char id[64])
{
	struct reply r = call("POST", path, body, NULL);
	expect(&r, status);
	snprintf(id, 64, "%s", str(r.json, "id"));
	drop(&r);
}

/* An endpoint for events at the receiver's path. */
static void endpoint_new(const char *path, const char *events, char id[64])
{
	char body[300];
	snprintf(body, sizeof body, "{\"url\":\"http://127.0.0.1:%d%s\",\"events\":%s}", rx.port,
		 path, events);
	post_id("/v1/webhook-endpoints", body, 201, id);
}

static void endpoint_delete(const char *id)
{
	char path[128];
	snprintf(path, sizeof path, "/v1/webhook-endpoints/%s", id);
	struct reply r = call("DELETE", path, NULL, NULL);
	expect(&r, 200);
	drop(&r);
}

/* A new order between a buyer and a seller made once: its id. */
static void order_new(char id[64])
{
	static char buyer[64], seller[64];
	char body[400];
	if (!buyer[0]) {
		post_id("/v1/users",
			"{\"role\":\"buyer\",\"name\":\"Ana\",\"email\":\"ana@deliveries.test\","
			"\"password\":\"password-1\"}",
			201, buyer);
		post_id("/v1/users",
			"{\"role\":\"seller\",\"name\":\"Shop\",\"email\":\"shop@deliveries.test\","
			"\"password\":\"password-1\"}",
			201, seller);
	}
	snprintf(body, sizeof body,
		 "{\"buyer_id\":\"%s\",\"seller_id\":\"%s\",\"currency\":\"EUR\",\"items\":"
		 "[{\"title\":\"Mug\",\"quantity\":1,\"unit_price\":2500}]}",
		 buyer, seller);
	post_id("/v1/orders", body, 201, id);
}

/* GET path (a delivery list) until every delivery of it is delivered and
 * there are want of them, or fail after WAIT_S: the last answer. */
static struct reply listed_delivered(const char *path, size_t want)
{
	for (int i = 0; i < WAIT_S * 10; i++) {
		struct reply r = call("GET", path, NULL, NULL);
		expect(&r, 200);
		json_t *data = json_object_get(r.json, "data"), *v;
		size_t k, done = 0;
		json_array_foreach(data, k, v) done += !strcmp(str(v, "status"), "delivered");
		if (json_array_size(data) == want && done == want)
			return r;
		drop(&r);
		usleep(100 * 1000);
	}
	fail_msg("%s: not %zu deliveries delivered within %d s", path, want, WAIT_S);
	return (struct reply){0};
}

/* GET /v1/webhook-deliveries/{id} until its status is status (and, with
 * attempts > 0, it has made that many): the delivery (a reply). */
static struct reply delivery_until(const char *id, const char *status, int64_t attempts)
{
	char path[128];
	snprintf(path, sizeof path, "/v1/webhook-deliveries/%s", id);
	for (int i = 0; i < WAIT_S * 10; i++) {
		struct reply r = call("GET", path, NULL, NULL);
		expect(&r, 200);
		json_int_t n = json_integer_value(json_object_get(r.json, "attempts_count"));
		if (!strcmp(str(r.json, "status"), status) && (attempts <= 0 || n >= attempts))
			return r;
		drop(&r);
		usleep(100 * 1000);
	}
	fail_msg("%s: not %s within %d s", path, status, WAIT_S);
	return (struct reply){0};
}

/* Move escrowd's clock: its time after. */
static int64_t advance(int64_t seconds)
{
	char body[64];
	int64_t now = 0;
	snprintf(body, sizeof body, "{\"seconds\":%lld}", (long long)seconds);
	struct reply r = call("POST", "/v1/clock/advance", body, NULL);
	expect(&r, 200);
	assert_int_equal(esc_time_parse(str(r.json, "now"), &now), 0);
	drop(&r);
	return now;
}

/* ---- the tests ---- */

/* Two endpoints, one order's two events: four deliveries, listed newest
 * first with their attempts, by each filter and by cursor; bad filters
 * and unknown ids refused. */
static void deliveries_are_listed_by_filter_and_cursor(void **state)
{
	char orders[64], every[64], order[64], path[300], paid[64] = "";
	(void)state;
	endpoint_new("/ok/orders", "[\"order.created\",\"order.paid\"]", orders);
	endpoint_new("/ok/every", "[\"*\"]", every);
	order_new(order);
	snprintf(path, sizeof path, "/v1/orders/%s/pay", order);
	struct reply r = call("POST", path, "{\"amount\":2500,\"payment_method\":\"card\"}", NULL);
	expect(&r, 200);
	drop(&r);

	/* Each endpoint has both events, delivered once, answered 200 "ok". */
	snprintf(path, sizeof path, "/v1/webhook-deliveries?endpoint_id=%s", orders);
	r = listed_delivered(path, 2);
	json_t *data = json_object_get(r.json, "data"), *v;
	size_t k;
	json_array_foreach(data, k, v)
	{
		assert_string_equal(str(v, "endpoint_id"), orders);
		assert_string_equal(str(v, "order_id"), order);
		assert_int_equal(json_integer_value(json_object_get(v, "attempts_count")), 1);
		assert_true(json_is_null(json_object_get(v, "next_attempt_at")));
		assert_true(json_is_string(json_object_get(v, "delivered_at")));
		assert_true(json_is_string(json_object_get(v, "created_at")));
		assert_int_equal(strncmp(str(v, "id"), "whd_", 4), 0);
		json_t *attempts = json_object_get(v, "attempts");
		assert_int_equal(json_array_size(attempts), 1);
		json_t *a = json_array_get(attempts, 0);
		assert_int_equal(json_integer_value(json_object_get(a, "status_code")), 200);
		assert_string_equal(str(a, "response_body"), "ok");
		assert_true(json_is_null(json_object_get(a, "error")));
		assert_true(json_is_integer(json_object_get(a, "duration_ms")));
		assert_true(json_is_string(json_object_get(a, "at")));
	}
	/* Newest first: the payment's event, then the order's creation. */
	assert_string_equal(str(json_array_get(data, 0), "event_type"), "order.paid");
	assert_string_equal(str(json_array_get(data, 1), "event_type"), "order.created");
	assert_true(strcmp(str(json_array_get(data, 0), "event_id"),
			   str(json_array_get(data, 1), "event_id")) > 0);
	snprintf(paid, sizeof paid, "%s", str(json_array_get(data, 0), "event_id"));
	drop(&r);
	snprintf(path, sizeof path, "/v1/webhook-deliveries?endpoint_id=%s", every);
	r = listed_delivered(path, 2);
	drop(&r);

	/* By event: one delivery per endpoint; with an endpoint too, one. */
	snprintf(path, sizeof path, "/v1/webhook-deliveries?event_id=%s", paid);
	r = listed_delivered(path, 2);
	json_array_foreach(json_object_get(r.json, "data"), k, v)
		assert_string_equal(str(v, "event_id"), paid);
	drop(&r);
	snprintf(path, sizeof path, "/v1/webhook-deliveries?event_id=%s&endpoint_id=%s", paid,
		 every);
	r = listed_delivered(path, 1);
	char one[64];
	snprintf(one, sizeof one, "%s",
		 str(json_array_get(json_object_get(r.json, "data"), 0), "id"));
	drop(&r);
	/* By status. */
	snprintf(path, sizeof path, "/v1/webhook-deliveries?endpoint_id=%s&status=delivered",
		 every);
	r = listed_delivered(path, 2);
	drop(&r);
	snprintf(path, sizeof path, "/v1/webhook-deliveries?endpoint_id=%s&status=failed", every);
	r = call("GET", path, NULL, NULL);
	expect(&r, 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "data")), 0);
	drop(&r);

	/* By cursor, a page of one at a time. */
	char first[64], first_event[64];
	snprintf(path, sizeof path, "/v1/webhook-deliveries?endpoint_id=%s&limit=1", every);
	r = call("GET", path, NULL, NULL);
	expect(&r, 200);
	assert_true(json_is_true(json_object_get(r.json, "has_more")));
	snprintf(first, sizeof first, "%s",
		 str(json_array_get(json_object_get(r.json, "data"), 0), "id"));
	snprintf(first_event, sizeof first_event, "%s",
		 str(json_array_get(json_object_get(r.json, "data"), 0), "event_id"));
	assert_string_equal(first_event, paid);
	drop(&r);
	snprintf(path, sizeof path,
		 "/v1/webhook-deliveries?endpoint_id=%s&limit=1&starting_after=%s", every, first);
	r = call("GET", path, NULL, NULL);
	expect(&r, 200);
	assert_false(json_is_true(json_object_get(r.json, "has_more")));
	data = json_object_get(r.json, "data");
	assert_int_equal(json_array_size(data), 1);
	assert_string_not_equal(str(json_array_get(data, 0), "id"), first);
	assert_true(strcmp(str(json_array_get(data, 0), "event_id"), first_event) < 0);
	drop(&r);

	/* One, as the list shows it. */
	snprintf(path, sizeof path, "/v1/webhook-deliveries/%s", one);
	r = call("GET", path, NULL, NULL);
	expect(&r, 200);
	assert_string_equal(str(r.json, "id"), one);
	assert_string_equal(str(r.json, "event_id"), paid);
	assert_string_equal(str(r.json, "endpoint_id"), every);
	assert_string_equal(str(r.json, "status"), "delivered");
	drop(&r);

	/* Refusals. */
	refused("/v1/webhook-deliveries?status=done", "pending, delivered or failed");
	refused("/v1/webhook-deliveries?status=", "pending, delivered or failed");
	refused("/v1/webhook-deliveries?event_id=evt_12", "evt_");
	refused("/v1/webhook-deliveries?event_id=evt_00000000000000zz", "evt_");
	snprintf(path, sizeof path, "/v1/webhook-deliveries?event_id=%s", order);
	refused(path, "evt_");
	refused("/v1/webhook-deliveries?limit=0", "limit");
	r = call("GET", "/v1/webhook-deliveries/whd_00000000000000000000", NULL, NULL);
	expect(&r, 404);
	assert_string_equal(str(json_object_get(r.json, "error"), "code"), "not_found");
	drop(&r);
	r = call("POST", "/v1/webhook-deliveries/whd_00000000000000000000/retry", "{}", NULL);
	expect(&r, 404);
	drop(&r);
	snprintf(path, sizeof path, "/v1/webhook-deliveries/%s/retry", one);
	r = call("POST", path, "{\"now\":true}", NULL);
	expect(&r, 400);
	drop(&r);

	/* A delivered delivery retried is delivered once more: the same
	 * event, byte for byte. */
	char body[4096];
	assert_int_equal(received(paid, body, sizeof body), 2); /* one per endpoint */
	r = call("POST", path, NULL, NULL);
	expect(&r, 202);
	assert_string_equal(str(r.json, "status"), "pending");
	drop(&r);
	r = delivery_until(one, "delivered", 2);
	assert_int_equal(json_array_size(json_object_get(r.json, "attempts")), 2);
	drop(&r);
	assert_int_equal(received(paid, body, sizeof body), 3);
	assert_non_null(strstr(body, paid));

	endpoint_delete(orders);
	endpoint_delete(every);
}

/* A receiver answering 500 for more than the retry period: the delivery
 * fails. Once the receiver answers 200 and the endpoint is enabled
 * again, the delivery retried is pending and due at once on escrowd's
 * clock, an Idempotency-Key replays that answer, and it is delivered,
 * its earlier attempts kept. */
static void a_failed_delivery_retried_is_pending_due_now_and_delivered(void **state)
{
	char endpoint[64], order[64], path[300], id[64];
	int64_t now = 0;
	(void)state;
	atomic_store(&rx.flaky_status, 500);
	endpoint_new("/flaky", "[\"order.created\"]", endpoint);
	order_new(order);
	snprintf(path, sizeof path, "/v1/webhook-deliveries?endpoint_id=%s", endpoint);
	struct reply r = {0};
	for (int i = 0; i < WAIT_S * 10; i++) {
		r = call("GET", path, NULL, NULL);
		json_t *first = json_array_get(json_object_get(r.json, "data"), 0);
		if (first && json_integer_value(json_object_get(first, "attempts_count")) >= 1)
			break;
		drop(&r);
		r = (struct reply){0};
		usleep(100 * 1000);
	}
	assert_non_null(r.json);
	json_t *v = json_array_get(json_object_get(r.json, "data"), 0);
	snprintf(id, sizeof id, "%s", str(v, "id"));
	assert_string_equal(str(v, "status"), "pending");
	assert_true(json_is_string(json_object_get(v, "next_attempt_at")));
	json_t *a = json_array_get(json_object_get(v, "attempts"), 0);
	assert_int_equal(json_integer_value(json_object_get(a, "status_code")), 500);
	assert_string_equal(str(a, "response_body"), "{\"error\":\"down\"}");
	assert_true(json_is_null(json_object_get(a, "error")));
	drop(&r);

	/* Four days on escrowd's clock, half a day at a time, each attempt
	 * made before the clock moves on: failed. */
	json_int_t attempts = 1;
	for (int step = 0; step < 8; step++) {
		now = advance(12 * 3600);
		for (int i = 0; i < WAIT_S * 10; i++) {
			r = call("GET", path, NULL, NULL);
			v = json_array_get(json_object_get(r.json, "data"), 0);
			int64_t next = 0;
			const char *at = str(v, "next_attempt_at");
			bool settled = strcmp(str(v, "status"), "pending") ||
				       (at[0] && !esc_time_parse(at, &next) && next > now);
			attempts = json_integer_value(json_object_get(v, "attempts_count"));
			drop(&r);
			if (settled)
				break;
			usleep(100 * 1000);
		}
	}
	snprintf(path, sizeof path, "/v1/webhook-deliveries/%s", id);
	r = call("GET", path, NULL, NULL);
	expect(&r, 200);
	assert_string_equal(str(r.json, "status"), "failed");
	assert_true(json_is_null(json_object_get(r.json, "next_attempt_at")));
	assert_true(json_is_null(json_object_get(r.json, "delivered_at")));
	assert_true(attempts > 1);
	drop(&r);

	/* The receiver is fixed and the endpoint, which its failures may have
	 * disabled, enabled again (a disabled endpoint's deliveries are not
	 * sent). Retried: pending, due now; the same key replays the answer. */
	atomic_store(&rx.flaky_status, 200);
	snprintf(path, sizeof path, "/v1/webhook-endpoints/%s", endpoint);
	r = call("POST", path, "{\"enabled\":true}", NULL);
	expect(&r, 200);
	drop(&r);
	snprintf(path, sizeof path, "/v1/webhook-deliveries/%s/retry", id);
	r = call("POST", path, "{}", "Idempotency-Key: retry-failed-1");
	expect(&r, 202);
	assert_string_equal(str(r.json, "status"), "pending");
	int64_t due = 0;
	assert_int_equal(esc_time_parse(str(r.json, "next_attempt_at"), &due), 0);
	assert_int_equal(due, now);
	assert_int_equal(json_integer_value(json_object_get(r.json, "attempts_count")), attempts);
	char *first = strdup(r.body);
	drop(&r);
	r = call("POST", path, "{}", "Idempotency-Key: retry-failed-1");
	expect(&r, 202);
	assert_string_equal(r.body, first);
	free(first);
	drop(&r);

	/* Delivered, with one attempt more; the failed ones are kept. */
	r = delivery_until(id, "delivered", attempts + 1);
	json_t *list = json_object_get(r.json, "attempts");
	assert_int_equal(json_integer_value(json_object_get(r.json, "attempts_count")),
			 attempts + 1);
	a = json_array_get(list, json_array_size(list) - 1);
	assert_int_equal(json_integer_value(json_object_get(a, "status_code")), 200);
	assert_true(json_is_null(json_object_get(a, "error")));
	size_t k, refused = 0;
	json_array_foreach(list, k, a) refused +=
		json_integer_value(json_object_get(a, "status_code")) == 500;
	assert_true(refused >= 1);
	assert_true(json_is_string(json_object_get(r.json, "delivered_at")));
	assert_true(json_is_null(json_object_get(r.json, "next_attempt_at")));
	drop(&r);
	endpoint_delete(endpoint);
}

/* POST body to path, answered 200. */
static void post_ok(const char *path, const char *body)
{
	struct reply r = call("POST", path, body, NULL);
	expect(&r, 200);
	drop(&r);
}

/* An event written through another connection to the store, as another
 * daemon would: the worker finds it at its next round, not at once. */
static void event_written_beside(const char *order_id)
{
	struct esc_store *s = NULL;
	char err[256];
	int rc;
	struct esc_outbox_row row = {.at_ms = ESC_TEST_T0,
				     .type = "order.paid",
				     .version = 2,
				     .payload = "{\"object\":{}}"};
	snprintf(row.order_id, sizeof row.order_id, "%s", order_id);
	assert_int_equal(esc_store_open(d.db, &s, err, sizeof err), 0);
	ESC_STORE(rc, s, outbox_append, &row);
	assert_int_equal(rc, 0);
	esc_store_close(s);
}

/* The endpoint's deliveries: exactly want of them delivered, the newest
 * of type newest_type. */
static void endpoint_delivered(const char *endpoint, size_t want, const char *newest_type)
{
	char path[160];
	snprintf(path, sizeof path, "/v1/webhook-deliveries?endpoint_id=%s", endpoint);
	struct reply r = listed_delivered(path, want);
	assert_string_equal(str(json_array_get(json_object_get(r.json, "data"), 0), "event_type"),
			    newest_type);
	drop(&r);
}

/* docs/webhooks.md: an endpoint gets the events written while it is
 * enabled, and only those, however far behind the worker is when it is
 * added or enabled again: an event it has not fanned out yet when that
 * commits goes to the endpoints as they were. */
static void an_endpoint_gets_only_the_events_written_while_it_is_enabled(void **state)
{
	(void)state;
	char endpoint[64], order[64], path[128];

	/* Written before the endpoint: not sent to it. */
	event_written_beside("ord_before_the_endpoint");
	endpoint_new("/enabled-only", "[\"order.*\"]", endpoint);
	order_new(order);
	endpoint_delivered(endpoint, 1, "order.created");

	/* Written while it is off: not sent to it once enabled again. */
	snprintf(path, sizeof path, "/v1/webhook-endpoints/%s", endpoint);
	post_ok(path, "{\"enabled\":false}");
	event_written_beside("ord_while_it_is_off");
	post_ok(path, "{\"enabled\":true}");
	snprintf(path, sizeof path, "/v1/orders/%s/pay", order);
	post_ok(path, "{\"amount\":2500,\"payment_method\":\"card\"}");
	endpoint_delivered(endpoint, 2, "order.paid");
	endpoint_delete(endpoint);
}

/* Registering past ESC_WEBHOOK_ENDPOINTS_MAX (what fanout reads) is
 * refused with limit_reached, saying what to do; nothing is written. The
 * endpoints up to the limit are written by the test through its own
 * connection to the daemon's store, in one transaction. */
static void endpoints_past_the_limit_are_refused(void **state)
{
	(void)state;
	struct esc_store *s = NULL;
	char err[256], id[ESC_ID_SIZE];
	int64_t n = 0, added = 0;
	int rc;
	assert_int_equal(esc_store_open(d.db, &s, err, sizeof err), 0);
	ESC_STORE(rc, s, webhook_endpoints_count, &n);
	assert_int_equal(rc, 0);
	ESC_STORE0(rc, s, begin);
	assert_int_equal(rc, 0);
	for (; n + added < ESC_WEBHOOK_ENDPOINTS_MAX; added++) {
		struct esc_webhook_endpoint w = {.url = "https://198.51.100.7/h",
						 .events = "order.paid",
						 .enabled = 0,
						 .secret = "whsec_x",
						 .created_at_ms = ESC_TEST_T0,
						 .updated_at_ms = ESC_TEST_T0};
		snprintf(w.id, sizeof w.id, "whe_limit%06lld", (long long)added);
		ESC_STORE(rc, s, webhook_endpoint_insert, &w);
		assert_int_equal(rc, 0);
	}
	ESC_STORE0(rc, s, commit);
	assert_int_equal(rc, 0);

	struct reply r = call("POST", "/v1/webhook-endpoints",
			      "{\"url\":\"http://127.0.0.1:9/h\",\"events\":[\"*\"]}", NULL);
	expect(&r, 409);
	json_t *e = json_object_get(r.json, "error");
	assert_string_equal(str(e, "code"), "limit_reached");
	assert_non_null(strstr(str(e, "message"), "1024 webhook endpoints"));
	drop(&r);
	ESC_STORE(rc, s, webhook_endpoints_count, &n);
	assert_int_equal(n, ESC_WEBHOOK_ENDPOINTS_MAX);

	ESC_STORE0(rc, s, begin);
	assert_int_equal(rc, 0);
	for (int64_t i = 0; i < added; i++) {
		snprintf(id, sizeof id, "whe_limit%06lld", (long long)i);
		ESC_STORE(rc, s, webhook_endpoint_delete, id);
		assert_int_equal(rc, 0);
	}
	ESC_STORE0(rc, s, commit);
	assert_int_equal(rc, 0);
	esc_store_close(s);
}

/* ---- the store's verbs, on a store of their own (both backends) ---- */

/* Three events (two of one order) fanned out to one endpoint for "*". */
static struct esc_store *store_with_deliveries(char dir[256], char url[300])
{
	struct esc_store *s = NULL;
	char err[256];
	int rc;
	esc_test_tmpdir(dir, 256);
	esc_test_store(url, 300, dir);
	assert_int_equal(esc_store_open(url, &s, err, sizeof err), 0);
	struct esc_webhook_endpoint w = {.id = "whe_store",
					 .url = "https://198.51.100.7/h",
					 .events = "*",
					 .enabled = 1,
					 .secret = "whsec_x",
					 .created_at_ms = ESC_TEST_T0,
					 .updated_at_ms = ESC_TEST_T0};
	ESC_STORE(rc, s, webhook_endpoint_insert, &w);
	assert_int_equal(rc, 0);
	const struct esc_outbox_row rows[] = {
		{.at_ms = ESC_TEST_T0,
		 .type = "order.created",
		 .order_id = "ord_a",
		 .version = 1,
		 .payload = "{}"},
		{.at_ms = ESC_TEST_T0,
		 .type = "order.paid",
		 .order_id = "ord_a",
		 .version = 2,
		 .payload = "{}"},
		{.at_ms = ESC_TEST_T0,
		 .type = "order.created",
		 .order_id = "ord_b",
		 .version = 1,
		 .payload = "{}"},
	};
	for (size_t i = 0; i < 3; i++) {
		ESC_STORE(rc, s, outbox_append, &rows[i]);
		assert_int_equal(rc, 0);
	}
	size_t events = 0, made = 0;
	ESC_STORE(rc, s, webhook_fanout, ESC_TEST_T0, 10, &events, &made);
	assert_int_equal(rc, 0);
	assert_int_equal(made, 3);
	return s;
}

/* list: newest event first, each filter, the cursor; get; attempts after
 * a number; retry_now drops a claim (the holder's finish is refused) and
 * makes the delivery due; unknown ids. */
static void store_verbs_list_get_attempts_and_retry(void **state)
{
	char dir[256], url[300];
	struct esc_webhook_delivery_seen seen[4], one;
	size_t n = 0;
	bool more = false;
	int rc;
	(void)state;
	struct esc_store *s = store_with_deliveries(dir, url);

	struct esc_webhook_delivery_filter f = {.event_seq = -1};
	ESC_STORE(rc, s, webhook_deliveries_list, &f, seen, 4, &n, &more);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 3);
	assert_false(more);
	assert_true(seen[0].d.event_seq > seen[1].d.event_seq &&
		    seen[1].d.event_seq > seen[2].d.event_seq);
	assert_string_equal(seen[1].event_type, "order.paid");
	assert_string_equal(seen[1].d.order_id, "ord_a");
	assert_string_equal(seen[1].d.status, ESC_WD_PENDING);
	int64_t paid_seq = seen[1].d.event_seq;

	/* The cursor: a page of two, then the rest after its last. */
	ESC_STORE(rc, s, webhook_deliveries_list, &f, seen, 2, &n, &more);
	assert_int_equal(n, 2);
	assert_true(more);
	f.starting_after = seen[1].d.id;
	ESC_STORE(rc, s, webhook_deliveries_list, &f, seen, 2, &n, &more);
	assert_int_equal(n, 1);
	assert_false(more);
	assert_string_equal(seen[0].event_type, "order.created");
	assert_string_equal(seen[0].d.order_id, "ord_a");
	f.starting_after = "whd_unknown";
	ESC_STORE(rc, s, webhook_deliveries_list, &f, seen, 4, &n, &more);
	assert_int_equal(n, 0);

	/* Each filter. */
	f = (struct esc_webhook_delivery_filter){.event_seq = paid_seq};
	ESC_STORE(rc, s, webhook_deliveries_list, &f, seen, 4, &n, &more);
	assert_int_equal(n, 1);
	assert_int_equal(seen[0].d.event_seq, paid_seq);
	f = (struct esc_webhook_delivery_filter){
		.endpoint_id = "whe_store", .event_seq = -1, .status = ESC_WD_PENDING};
	ESC_STORE(rc, s, webhook_deliveries_list, &f, seen, 4, &n, &more);
	assert_int_equal(n, 3);
	f.status = ESC_WD_DELIVERED;
	ESC_STORE(rc, s, webhook_deliveries_list, &f, seen, 4, &n, &more);
	assert_int_equal(n, 0);
	f = (struct esc_webhook_delivery_filter){.endpoint_id = "whe_other", .event_seq = -1};
	ESC_STORE(rc, s, webhook_deliveries_list, &f, seen, 4, &n, &more);
	assert_int_equal(n, 0);

	/* A worker claims and finishes one: its attempt is listed. */
	int64_t real = ESC_TEST_T0;
	struct esc_process p = {
		.id = "prc_store", .started_ms = real, .heartbeat_ms = real, .lease_ms = 60000};
	struct esc_webhook_delivery claimed[4];
	ESC_STORE(rc, s, process_beat, &p);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, s, webhook_deliveries_claim, ESC_TEST_T0, p.id, real, real + 60000, claimed,
		  4, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2); /* ord_a's first event, and ord_b's */
	struct esc_webhook_delivery done = claimed[0];
	struct esc_webhook_attempt a = {
		.n = 1, .at_ms = ESC_TEST_T0, .status_code = 200, .duration_ms = 7, .answer = "ok"};
	snprintf(a.delivery_id, sizeof a.delivery_id, "%s", done.id);
	snprintf(done.status, sizeof done.status, "%s", ESC_WD_DELIVERED);
	done.attempts = 1;
	done.delivered_at_ms = done.last_attempt_at_ms = ESC_TEST_T0;
	done.last_status_code = 200;
	ESC_STORE(rc, s, webhook_delivery_finish, p.id, &done, &a);
	assert_int_equal(rc, 0);
	struct esc_webhook_attempt got[2];
	ESC_STORE(rc, s, webhook_attempts_list, done.id, 0, got, 2, &n);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 1);
	assert_int_equal(got[0].status_code, 200);
	assert_int_equal(got[0].duration_ms, 7);
	assert_string_equal(got[0].answer, "ok");
	ESC_STORE(rc, s, webhook_attempts_list, done.id, 1, got, 2, &n);
	assert_int_equal(n, 0);
	ESC_STORE(rc, s, webhook_delivery_get, done.id, &one);
	assert_int_equal(rc, 0);
	assert_string_equal(one.d.status, ESC_WD_DELIVERED);
	assert_int_equal(one.d.attempts, 1);

	/* retry_now on the other, still claimed: due now, its claim gone, so
	 * the holder's finish is refused; on the delivered one: pending. */
	struct esc_webhook_delivery held = claimed[1];
	ESC_STORE(rc, s, webhook_delivery_retry_now, held.id, ESC_TEST_T0 + 5000);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, s, webhook_delivery_get, held.id, &one);
	assert_string_equal(one.d.status, ESC_WD_PENDING);
	assert_int_equal(one.d.next_at_ms, ESC_TEST_T0 + 5000);
	assert_string_equal(one.d.claim_owner, "");
	snprintf(a.delivery_id, sizeof a.delivery_id, "%s", held.id);
	held.attempts = 1;
	snprintf(held.status, sizeof held.status, "%s", ESC_WD_DELIVERED);
	ESC_STORE(rc, s, webhook_delivery_finish, p.id, &held, &a);
	assert_int_equal(rc, ESC_ECONFLICT);
	ESC_STORE(rc, s, webhook_delivery_retry_now, done.id, ESC_TEST_T0 + 6000);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, s, webhook_delivery_get, done.id, &one);
	assert_string_equal(one.d.status, ESC_WD_PENDING);
	assert_int_equal(one.d.next_at_ms, ESC_TEST_T0 + 6000);
	assert_int_equal(one.d.attempts, 1);

	ESC_STORE(rc, s, webhook_delivery_get, "whd_unknown", &one);
	assert_int_equal(rc, ESC_ENOTFOUND);
	ESC_STORE(rc, s, webhook_delivery_retry_now, "whd_unknown", ESC_TEST_T0);
	assert_int_equal(rc, ESC_ENOTFOUND);

	esc_store_close(s);
	esc_test_store_drop(url);
	esc_test_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(deliveries_are_listed_by_filter_and_cursor),
		cmocka_unit_test(endpoints_past_the_limit_are_refused),
		cmocka_unit_test(a_failed_delivery_retried_is_pending_due_now_and_delivered),
		cmocka_unit_test(store_verbs_list_get_attempts_and_retry),
		cmocka_unit_test(an_endpoint_gets_only_the_events_written_while_it_is_enabled),
	};
	esc_test_store_or_skip("test_deliveries");
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
