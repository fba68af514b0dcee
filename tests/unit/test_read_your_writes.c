/* test_read_your_writes.c - a client that reads after an acknowledgement
 * sees what was acknowledged (issue 15: a command is acknowledged only
 * once its commit is durable), under load: many client threads at once,
 * each with its own buyer, seller and orders, each write followed at once
 * by the GETs that must show it, on the same connection or on another one
 * (another of the daemon's threads), with the read pool small, default and
 * large. A read from a pool connection that kept an older snapshot would
 * show the state before the write. On both stores (the -pg variant). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>

#include "support.h"

#define KEY "ryw-operator-key-0001"

/* Failures kept word for word; more are only counted. */
#define FAILURES_KEPT 8

struct run {
	struct esc_test_daemon d;
	int threads, rounds;
	pthread_mutex_t lock;
	int failures;
	char failure[FAILURES_KEPT][700];
	int64_t requests;
};

/* One client thread: its own buyer and seller, the order they write to
 * each other on, and two kept-alive connections: the writes take the
 * first, the reads that follow them the second in odd rounds (another of
 * the daemon's threads, perhaps) and the first in even ones. */
struct client {
	struct run *run;
	int n;
	CURL *conn[2];
	int reads; /* the connection the round's reads take */
	char *body;
	size_t len;
	int64_t requests;
	bool failed;
	char buyer_id[64], seller_id[64], buyer[80], seller[80], talk[64];
};

static void say(struct client *c, const char *fmt, ...)
{
	char line[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&c->run->lock);
	if (c->run->failures < FAILURES_KEPT)
		snprintf(c->run->failure[c->run->failures], sizeof c->run->failure[0],
			 "client %d: %s", c->n, line);
	c->run->failures++;
	pthread_mutex_unlock(&c->run->lock);
	c->failed = true; /* one failure per client: the next would follow from it */
}

static size_t take(char *ptr, size_t size, size_t n, void *arg)
{
	struct client *c = arg;
	char *p = realloc(c->body, c->len + size * n + 1);
	if (!p)
		return 0;
	memcpy(p + c->len, ptr, size * n);
	c->len += size * n;
	p[c->len] = '\0';
	c->body = p;
	return size * n;
}

/* A request on connection conn (kept alive between calls), which must
 * answer want: its JSON, the caller's reference; NULL once it failed. */
static json_t *call(struct client *c, int conn, const char *method, const char *path,
		    const char *token, const char *body, long want)
{
	char url[300], auth[160];
	struct curl_slist *h = NULL;
	CURL *k = c->conn[conn];
	long status = 0;
	json_t *j = NULL;

	if (c->failed)
		return NULL;
	c->len = 0;
	free(c->body);
	c->body = NULL;
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", c->run->d.port, path);
	if (*token) {
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
		h = curl_slist_append(h, auth);
	}
	if (body)
		h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_setopt(k, CURLOPT_URL, url);
	curl_easy_setopt(k, CURLOPT_HTTPGET, 1L); /* forget the last call's body */
	curl_easy_setopt(k, CURLOPT_CUSTOMREQUEST, method);
	if (body)
		curl_easy_setopt(k, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(k, CURLOPT_HTTPHEADER, h);
	CURLcode cc = curl_easy_perform(k);
	curl_slist_free_all(h);
	c->requests++;
	if (cc != CURLE_OK) {
		say(c, "%s %s: %s", method, path, curl_easy_strerror(cc));
		return NULL;
	}
	curl_easy_getinfo(k, CURLINFO_RESPONSE_CODE, &status);
	j = c->body ? json_loads(c->body, 0, NULL) : NULL;
	if (status != want || !j) {
		say(c, "%s %s: expected %ld, got %ld: %s", method, path, want, status,
		    c->body ? c->body : "(no body)");
		json_decref(j);
		return NULL;
	}
	return j;
}

static int64_t integer(json_t *j, const char *key)
{
	return (int64_t)json_integer_value(json_object_get(j, key));
}

static const char *text(json_t *j, const char *key)
{
	const char *s = json_string_value(json_object_get(j, key));
	return s ? s : "";
}

/* A new user of role, signed in: its id and token. */
static bool user_new(struct client *c, const char *role, char *id, char *token)
{
	char body[300];
	snprintf(body, sizeof body,
		 "{\"role\":\"%s\",\"name\":\"%s %d\",\"email\":\"%s-%d@ryw.test\","
		 "\"password\":\"password-1\"}",
		 role, role, c->n, role, c->n);
	json_t *u = call(c, 0, "POST", "/v1/users", KEY, body, 201);
	snprintf(body, sizeof body, "{\"email\":\"%s-%d@ryw.test\",\"password\":\"password-1\"}",
		 role, c->n);
	json_t *s = u ? call(c, 0, "POST", "/v1/sessions", "", body, 201) : NULL;
	if (s) {
		snprintf(id, 64, "%s", text(u, "id"));
		snprintf(token, 80, "%s", text(s, "token"));
	}
	json_decref(u);
	json_decref(s);
	return s != NULL;
}

/* The integer at key of j (of its member when member is not NULL). */
static int64_t member_int(json_t *j, const char *member, const char *key)
{
	json_t *v = json_object_get(member ? json_object_get(j, member) : j, key);
	return json_is_integer(v) ? (int64_t)json_integer_value(v) : INT64_MIN;
}

/* GET path as token on the read connection; the integer at key (of
 * member when not NULL) must be want, in the answer to a read that follows
 * an acknowledged write (what). A wrong value is read again: the failure
 * says whether it was a stale read (right the second time) or a wrong
 * count (wrong again). */
static void expect(struct client *c, int round, const char *what, const char *path,
		   const char *token, const char *member, const char *key, int64_t want)
{
	json_t *j = call(c, c->reads, "GET", path, token, NULL, 200);
	if (!j)
		return;
	int64_t got = member_int(j, member, key);
	json_decref(j);
	if (got == want)
		return;
	j = call(c, c->reads, "GET", path, token, NULL, 200);
	int64_t again = j ? member_int(j, member, key) : INT64_MIN;
	json_decref(j);
	say(c,
	    "round %d: after %s was acknowledged, GET %s answered %s%s%s = %lld, not %lld; "
	    "read again at once: %lld (%s)",
	    round, what, path, member ? member : "", member ? "." : "", key, (long long)got,
	    (long long)want, (long long)again,
	    again == want ? "a stale read" : "the count itself is wrong");
}

/* The order's status must be status and its version version. */
static void expect_order(struct client *c, int round, const char *what, const char *id,
			 const char *token, const char *status, int64_t version)
{
	char path[160];
	snprintf(path, sizeof path, "/v1/orders/%s", id);
	json_t *o = call(c, c->reads, "GET", path, token, NULL, 200);
	if (o && (strcmp(text(o, "status"), status) || integer(o, "version") != version))
		say(c,
		    "round %d: after %s was acknowledged, GET %s answered %s version %lld, not "
		    "%s version %lld",
		    round, what, path, text(o, "status"), (long long)integer(o, "version"), status,
		    (long long)version);
	json_decref(o);
}

/* A new order from the client's buyer to its seller; paid when pay. Its
 * id into id, its version after into *version. */
static bool order_new(struct client *c, bool pay, char *id, int64_t *version)
{
	char body[400], path[160];
	snprintf(body, sizeof body,
		 "{\"buyer_id\":\"%s\",\"seller_id\":\"%s\",\"currency\":\"EUR\","
		 "\"items\":[{\"title\":\"Teapot\",\"quantity\":1,\"unit_price\":1500}]}",
		 c->buyer_id, c->seller_id);
	json_t *o = call(c, 0, "POST", "/v1/orders", KEY, body, 201);
	if (!o)
		return false;
	snprintf(id, 64, "%s", text(o, "id"));
	*version = integer(o, "version");
	json_decref(o);
	if (!pay)
		return true;
	snprintf(path, sizeof path, "/v1/orders/%s/pay", id);
	o = call(c, 0, "POST", path, KEY, "{\"amount\":1500,\"payment_method\":\"card\"}", 200);
	if (o)
		*version = integer(o, "version");
	json_decref(o);
	return o != NULL;
}

/* One round: an order made, then paid, then a message from the buyer,
 * then the seller's read marker; after each acknowledgement a GET. */
static void round_run(struct client *c, int r)
{
	char id[64], path[160], body[200];
	int64_t version = 0;

	c->reads = r % 2;

	/* The order is there, awaiting payment, in the seller's counts. */
	if (!order_new(c, false, id, &version))
		return;
	expect_order(c, r, "POST /v1/orders", id, c->seller, "awaiting_payment", version);
	expect(c, r, "POST /v1/orders", "/v1/me", c->seller, "order_counts", "awaiting_payment", 1);

	/* Paid: its new status and version, and the counts moved. */
	snprintf(path, sizeof path, "/v1/orders/%s/pay", id);
	json_t *o =
		call(c, 0, "POST", path, KEY, "{\"amount\":1500,\"payment_method\":\"card\"}", 200);
	if (!o)
		return;
	version = integer(o, "version");
	json_decref(o);
	expect_order(c, r, "POST .../pay", id, c->buyer, "awaiting_shipment", version);
	expect(c, r, "POST .../pay", "/v1/me", c->seller, "order_counts", "awaiting_shipment",
	       r + 2);
	expect(c, r, "POST .../pay", "/v1/me", c->seller, "order_counts", "awaiting_payment", 0);

	/* The buyer writes: one unread message for the seller, on /v1/me and
	 * on the order. */
	snprintf(path, sizeof path, "/v1/orders/%s/messages", c->talk);
	snprintf(body, sizeof body, "{\"body\":\"Round %d: is it wrapped?\"}", r);
	json_t *m = call(c, 0, "POST", path, c->buyer, body, 201);
	if (!m)
		return;
	int64_t seq = integer(m, "seq");
	json_decref(m);
	expect(c, r, "POST .../messages", "/v1/me", c->seller, NULL, "unread_messages", 1);
	snprintf(path, sizeof path, "/v1/orders/%s", c->talk);
	expect(c, r, "POST .../messages", path, c->seller, NULL, "unread_messages", 1);

	/* The seller read it: none unread, on /v1/me and on the order. */
	snprintf(path, sizeof path, "/v1/orders/%s/messages/read", c->talk);
	snprintf(body, sizeof body, "{\"seq\":%lld}", (long long)seq);
	json_decref(call(c, 0, "POST", path, c->seller, body, 200));
	expect(c, r, "POST .../messages/read", "/v1/me", c->seller, NULL, "unread_messages", 0);
	snprintf(path, sizeof path, "/v1/orders/%s", c->talk);
	expect(c, r, "POST .../messages/read", path, c->seller, NULL, "unread_messages", 0);
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	int64_t version = 0;

	for (int i = 0; i < 2; i++) {
		c->conn[i] = curl_easy_init();
		if (!c->conn[i]) {
			say(c, "curl_easy_init failed");
			return NULL;
		}
		curl_easy_setopt(c->conn[i], CURLOPT_WRITEFUNCTION, take);
		curl_easy_setopt(c->conn[i], CURLOPT_WRITEDATA, c);
		curl_easy_setopt(c->conn[i], CURLOPT_NOSIGNAL, 1L);
	}
	if (user_new(c, "buyer", c->buyer_id, c->buyer) &&
	    user_new(c, "seller", c->seller_id, c->seller) && order_new(c, true, c->talk, &version))
		for (int r = 0; r < c->run->rounds && !c->failed; r++)
			round_run(c, r);
	for (int i = 0; i < 2; i++)
		curl_easy_cleanup(c->conn[i]);
	free(c->body);
	pthread_mutex_lock(&c->run->lock);
	c->run->requests += c->requests;
	pthread_mutex_unlock(&c->run->lock);
	return NULL;
}

/* threads clients of rounds rounds each, on a daemon whose read pool is
 * made of pool - 1 connections (db_pool; 0: the default). */
static void hammer(int pool, int threads, int rounds)
{
	struct run *run = calloc(1, sizeof *run);
	struct client *c = calloc((size_t)threads, sizeof *c);
	pthread_t *t = calloc((size_t)threads, sizeof *t);
	char conf[64];

	assert_non_null(run);
	assert_non_null(c);
	assert_non_null(t);
	if (getenv("ESC_TEST_QUICK"))
		rounds = rounds / 10 > 2 ? rounds / 10 : 2;
	run->threads = threads;
	run->rounds = rounds;
	pthread_mutex_init(&run->lock, NULL);
	esc_test_tmpdir(run->d.dir, sizeof run->d.dir);
	esc_test_store(run->d.db, sizeof run->d.db, run->d.dir);
	snprintf(conf, sizeof conf, "db_pool = %d\n", pool);
	esc_test_daemon_config(&run->d, pool ? conf : NULL);
	esc_test_daemon_start(&run->d, KEY);
	for (int i = 0; i < threads; i++) {
		c[i].run = run;
		c[i].n = i;
		assert_int_equal(pthread_create(&t[i], NULL, client_main, &c[i]), 0);
	}
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	esc_test_daemon_stop(&run->d);
	esc_test_store_drop(run->d.db);
	esc_test_rmdir(run->d.dir);
	if (getenv("ESC_TEST_VERBOSE"))
		fprintf(stderr, "db_pool %d: %d clients x %d rounds, %lld requests\n", pool,
			threads, rounds, (long long)run->requests);
	for (int i = 0; i < run->failures && i < FAILURES_KEPT; i++)
		fprintf(stderr, "%s\n", run->failure[i]);
	int failures = run->failures;
	pthread_mutex_destroy(&run->lock);
	free(t);
	free(c);
	free(run);
	if (failures)
		fail_msg("%d reads did not show an acknowledged write (db_pool %d)", failures,
			 pool);
}

/* Rounds per client: the environment's (ESC_RYW_ROUNDS) when set, for a
 * longer run by hand, else n (n / 2 on PostgreSQL). hammer() then cuts
 * either under ESC_TEST_QUICK (the sanitizers' runs): a tenth, at least 2. */
static int rounds_or(int n)
{
	const char *s = getenv("ESC_RYW_ROUNDS");
	const char *store = getenv("ESC_TEST_STORE");
	if (s && atoi(s) > 0)
		return atoi(s);
	/* On PostgreSQL each request is several round trips: half as many
	 * rounds keep the suite as short. */
	return store && !strcmp(store, "postgresql") ? n / 2 : n;
}

static void a_read_after_an_acknowledged_write_sees_it(void **state)
{
	(void)state;
	hammer(0, 32, rounds_or(20));
}

static void the_same_with_one_read_connection(void **state)
{
	(void)state;
	hammer(2, 16, rounds_or(20));
}

static void the_same_with_fifteen_read_connections(void **state)
{
	(void)state;
	hammer(16, 32, rounds_or(20));
}

static int setup(void **state)
{
	(void)state;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	curl_global_cleanup();
	return 0;
}

int main(void)
{
	esc_test_store_or_skip("read_your_writes");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_read_after_an_acknowledged_write_sees_it),
		cmocka_unit_test(the_same_with_one_read_connection),
		cmocka_unit_test(the_same_with_fifteen_read_connections),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
