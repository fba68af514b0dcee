/* test_http_authz.c - the authorization matrix over HTTP (SPEC §1, §7).
 *
 * For every route of esc_routes (the table itself, so a new route is
 * covered without editing this file) and every kind of caller, the route
 * is called against a fresh order in a state where it would otherwise
 * succeed, with a body that would be accepted. The status expected comes
 * from the route's `who` mask and the order-party rule alone (see
 * expected_status). A refused call must change nothing: the order's
 * version, the ledger's counts and the clock are compared before and
 * after, and the same request from a caller who may make it must still
 * succeed afterwards. The matrix runs twice: with bearer tokens, and with
 * session cookies plus their X-CSRF-Token. Every mismatch is printed as one
 * row of a table, and the test fails at the end if there is any. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http/routes.h"
#include "support.h"

#define KEY      "authz-operator-key-000001"
#define PASSWORD "password-1"

/* ---- the daemon (support.c) ---- */

static struct esc_test_daemon d;

/* ---- requests ---- */

/* How a request authenticates: nothing, a bearer token, or a session
 * cookie with its CSRF token. */
struct cred {
	const char *bearer;
	const char *cookie;
	const char *csrf;
};

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

static struct reply call_typed(const char *method, const char *path, const struct cred *cr,
			       const char *body, const char *type);

static struct reply call(const char *method, const char *path, const struct cred *cr,
			 const char *body)
{
	return call_typed(method, path, cr, body, NULL);
}

/* The same with a body of another Content-Type than JSON (NULL: JSON). */
static struct reply call_typed(const char *method, const char *path, const struct cred *cr,
			       const char *body, const char *type)
{
	struct reply r = {0};
	char url[512], line[300];
	struct curl_slist *h = NULL;
	CURL *c = curl_easy_init();
	assert_non_null(c);
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", d.port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	if (cr && cr->bearer) {
		snprintf(line, sizeof line, "Authorization: Bearer %s", cr->bearer);
		h = curl_slist_append(h, line);
	}
	if (cr && cr->cookie) {
		snprintf(line, sizeof line, "Cookie: escrowd_session=%s", cr->cookie);
		h = curl_slist_append(h, line);
		snprintf(line, sizeof line, "X-CSRF-Token: %s", cr->csrf ? cr->csrf : "");
		h = curl_slist_append(h, line);
	}
	if (body) {
		snprintf(line, sizeof line, "Content-Type: %s", type ? type : "application/json");
		h = curl_slist_append(h, line);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	/* Not every route answers JSON (/metrics): r.json is NULL then. */
	json_error_t err;
	r.json = r.body ? json_loads(r.body, 0, &err) : NULL;
	return r;
}

static void drop(struct reply *r)
{
	json_decref(r->json);
	free(r->body);
}

static const char *str(json_t *j, const char *key)
{
	const char *s = json_string_value(json_object_get(j, key));
	return s ? s : "";
}

static const struct cred operator_cred = {.bearer = KEY};

/* An operator call that must answer `status`. */
static json_t *op(const char *method, const char *path, const char *body, long status)
{
	struct reply r = call(method, path, &operator_cred, body);
	if (r.status != status)
		fail_msg("setup: %s %s: expected %ld, got %ld: %s", method, path, status, r.status,
			 r.body);
	json_t *j = json_incref(r.json);
	drop(&r);
	return j;
}

/* ---- callers ---- */

enum caller {
	C_ANONYMOUS,
	C_OTHER_BUYER,
	C_OTHER_SELLER,
	C_BUYER,
	C_SELLER,
	C_ARBITER,
	C_OPERATOR,
	C_COUNT
};

struct caller_info {
	const char *name;
	const char *role; /* of the user, NULL for anonymous and operator */
	unsigned mask;    /* what the route table calls it */
	bool party;       /* a party to the orders made here */
};

/* The arbiter is no party: it sees only orders that have had a dispute
 * (the dispute routes' orders here). */
static const struct caller_info callers[C_COUNT] = {
	[C_ANONYMOUS] = {"anonymous", NULL, 0, false},
	[C_OTHER_BUYER] = {"other buyer", "buyer", ESC_WHO_BUYER, false},
	[C_OTHER_SELLER] = {"other seller", "seller", ESC_WHO_SELLER, false},
	[C_BUYER] = {"order's buyer", "buyer", ESC_WHO_BUYER, true},
	[C_SELLER] = {"order's seller", "seller", ESC_WHO_SELLER, true},
	[C_ARBITER] = {"arbiter", "arbiter", ESC_WHO_ARBITER, false},
	[C_OPERATOR] = {"operator", NULL, ESC_WHO_OPERATOR, true},
};

struct session {
	char token[80];
	char csrf[80];
};

static struct {
	char id[64];
	char email[80];
	struct session s;
} users[C_COUNT];

static char visitor_email[] = "visitor@authz.test";

/* The order's buyer changes now and then: each cancellation after payment
 * counts on the buyer's record, and ten in 90 days suspend them (SPEC §6),
 * which would refuse the cancellation requests this test needs. */
#define POOL_MAX    16
#define CANCELS_MAX 9

static struct {
	char id[64];
	char email[80];
	struct session s;
	int cancels;
} pool[POOL_MAX];
static int pool_n, pool_cur;

static void sign_in(const char *email, struct session *s)
{
	char body[300];
	snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", email, PASSWORD);
	struct reply r = call("POST", "/v1/sessions", NULL, body);
	if (r.status != 201)
		fail_msg("sign-in of %s: %ld: %s", email, r.status, r.body);
	snprintf(s->token, sizeof s->token, "%s", str(r.json, "token"));
	snprintf(s->csrf, sizeof s->csrf, "%s", str(r.json, "csrf_token"));
	drop(&r);
}

static void make_user(const char *role, const char *email, char id[64])
{
	char body[300];
	snprintf(body, sizeof body,
		 "{\"role\":\"%s\",\"name\":\"%s\",\"email\":\"%s\",\"password\":\"%s\"}", role,
		 email, email, PASSWORD);
	json_t *j = op("POST", "/v1/users", body, 201);
	snprintf(id, 64, "%s", str(j, "id"));
	json_decref(j);
}

/* Make the order's buyer one of the pool whose record still allows a
 * cancellation request, adding a buyer to the pool when none does. */
static void choose_buyer(void)
{
	while (pool_cur < pool_n && pool[pool_cur].cancels >= CANCELS_MAX)
		pool_cur++;
	if (pool_cur == pool_n) {
		if (pool_n == POOL_MAX)
			fail_msg("setup: all %d buyers of the pool have %d cancellations", POOL_MAX,
				 CANCELS_MAX);
		snprintf(pool[pool_n].email, sizeof pool[pool_n].email, "buyer%d@authz.test",
			 pool_n);
		make_user("buyer", pool[pool_n].email, pool[pool_n].id);
		sign_in(pool[pool_n].email, &pool[pool_n].s);
		pool_n++;
	}
	memcpy(users[C_BUYER].id, pool[pool_cur].id, sizeof users[C_BUYER].id);
	memcpy(users[C_BUYER].email, pool[pool_cur].email, sizeof users[C_BUYER].email);
	users[C_BUYER].s = pool[pool_cur].s;
}

/* ---- what each route needs to succeed ---- */

enum prep {
	PREP_NONE,
	PREP_UNPAID,
	PREP_PAID,
	PREP_REQUESTED,
	PREP_SHIPPED,
	PREP_REFUND,
	/* A shipped order in dispute, its dispute brought to: */
	PREP_DISPUTED, /* awaiting_seller */
	PREP_COUNTERED,
	PREP_REJECTED,
	PREP_ESCALATED,
	PREP_RETURN_AGREED, /* awaiting_return, not yet shipped back */
	PREP_RETURN_SHIPPED,
	PREP_EVIDENCE,  /* awaiting_seller, with a PNG from the buyer */
	PREP_SUSPENDED, /* no order: a new buyer who lost 3 disputes */
	PREP_WEBHOOK,   /* no order: a webhook endpoint */
	PREP_DELIVERY,  /* no order: a webhook delivery */
	PREP_KEY,       /* no order: an operator key (not the operator's own) */
};

/* The smallest file the type check takes for a PNG: its signature. */
#define PNG_BODY "\x89PNG\r\n\x1a\nnot really an image"

/* A route's preconditions. Routes not listed get the defaults: a paid
 * order when the path has an {id} (the order's id), "{}" when the route
 * takes a body, and 200. In templates, {order}, {refund}, {buyer},
 * {seller} and {n} (a number new for each request) are replaced. */
struct setup {
	const char *method, *path;
	enum prep prep;
	const char *body;
	const char *id;    /* what {id} of the path becomes: "{order}" by default */
	const char *query; /* appended to the path */
	long ok;           /* the status of a success: 200 by default */
	bool signs_out;    /* users call it with a session of their own */
	const char *type;  /* the body's Content-Type when not JSON */
};

#define ORDER_BODY                                                                                 \
	"{\"buyer_id\":\"{buyer}\",\"seller_id\":\"{seller}\",\"currency\":\"EUR\","               \
	"\"items\":[{\"title\":\"Mug\",\"quantity\":2,\"unit_price\":2500}]}"

#define WEBHOOK_BODY "{\"url\":\"https://198.51.100.7/hooks\",\"events\":[\"*\"]}"

static const struct setup setups[] = {
	{"POST", "/v1/users", PREP_NONE,
	 "{\"role\":\"buyer\",\"name\":\"U{n}\",\"email\":\"u{n}@authz.test\",\"password\":"
	 "\"" PASSWORD "\"}",
	 NULL, NULL, 201, false, NULL},
	{"POST", "/v1/sessions", PREP_NONE,
	 "{\"email\":\"visitor@authz.test\",\"password\":\"" PASSWORD "\"}", NULL, NULL, 201, false,
	 NULL},
	{"DELETE", "/v1/sessions/current", PREP_NONE, NULL, NULL, NULL, 200, true, NULL},
	{"POST", "/v1/orders", PREP_NONE, ORDER_BODY, NULL, NULL, 201, false, NULL},
	{"POST", "/v1/orders/{id}/pay", PREP_UNPAID,
	 "{\"amount\":5000,\"payment_method\":\"card\"}", NULL, NULL, 200, false, NULL},
	{"POST", "/v1/orders/{id}/cancel", PREP_PAID,
	 "{\"reason\":\"no_longer_needed\",\"refund_to\":\"original\"}", NULL, NULL, 200, false,
	 NULL},
	{"POST", "/v1/orders/{id}/cancellation/accept", PREP_REQUESTED, "{}", NULL, NULL, 200,
	 false, NULL},
	{"POST", "/v1/orders/{id}/cancellation/reject", PREP_REQUESTED,
	 "{\"message\":\"It is packed already\"}", NULL, NULL, 200, false, NULL},
	{"POST", "/v1/orders/{id}/cancellation/withdraw", PREP_REQUESTED, "{}", NULL, NULL, 200,
	 false, NULL},
	{"POST", "/v1/orders/{id}/ship", PREP_PAID,
	 "{\"carrier\":\"Posturinn\",\"tracking_number\":\"RR{n}IS\"}", NULL, NULL, 200, false,
	 NULL},
	{"POST", "/v1/orders/{id}/deliver", PREP_SHIPPED, "{}", NULL, NULL, 200, false, NULL},
	{"POST", "/v1/orders/{id}/confirm-receipt", PREP_SHIPPED, "{}", NULL, NULL, 200, false,
	 NULL},
	{"GET", "/v1/refunds", PREP_REFUND, NULL, NULL, "?order_id={order}", 200, false, NULL},
	{"POST", "/v1/refunds/{id}/settle", PREP_REFUND, "{}", "{refund}", NULL, 200, false, NULL},
	{"POST", "/v1/refunds/{id}/fail", PREP_REFUND, "{}", "{refund}", NULL, 200, false, NULL},
	{"POST", "/v1/orders/{id}/messages", PREP_PAID, "{\"body\":\"Hello {n}\"}", NULL, NULL, 201,
	 false, NULL},
	/* Issue 17: the read markers (seq 0 reads none; the id of a
	 * notification of long ago). */
	{"POST", "/v1/orders/{id}/messages/read", PREP_PAID, "{\"seq\":0}", NULL, NULL, 200, false,
	 NULL},
	{"POST", "/v1/notifications/read", PREP_NONE, "{\"through\":\"ntf_1_1\"}", NULL, NULL, 200,
	 false, NULL},
	/* A user's reputation is visible to everyone signed in. */
	{"GET", "/v1/users/{id}/reputation", PREP_NONE, NULL, "{seller}", NULL, 200, false, NULL},
	{"POST", "/v1/orders/{id}/disputes", PREP_SHIPPED,
	 "{\"ground\":\"not_as_described\",\"outcome\":\"refund_only\",\"amount\":1000,"
	 "\"description\":\"Broken {n}\"}",
	 NULL, NULL, 201, false, NULL},
	{"GET", "/v1/disputes", PREP_ESCALATED, NULL, NULL, NULL, 200, false, NULL},
	{"GET", "/v1/disputes/{id}", PREP_DISPUTED, NULL, "{dispute}", NULL, 200, false, NULL},
	{"POST", "/v1/disputes/{id}/accept", PREP_DISPUTED, "{}", "{dispute}", NULL, 200, false,
	 NULL},
	{"POST", "/v1/disputes/{id}/counter-offer", PREP_DISPUTED,
	 "{\"amount\":500,\"message\":\"Half {n}\"}", "{dispute}", NULL, 200, false, NULL},
	{"POST", "/v1/disputes/{id}/reject", PREP_DISPUTED, "{\"message\":\"No {n}\"}", "{dispute}",
	 NULL, 200, false, NULL},
	{"POST", "/v1/disputes/{id}/accept-offer", PREP_COUNTERED, "{}", "{dispute}", NULL, 200,
	 false, NULL},
	{"POST", "/v1/disputes/{id}/escalate", PREP_REJECTED, "{}", "{dispute}", NULL, 200, false,
	 NULL},
	{"POST", "/v1/disputes/{id}/withdraw", PREP_DISPUTED, "{}", "{dispute}", NULL, 200, false,
	 NULL},
	{"POST", "/v1/disputes/{id}/return-shipment", PREP_RETURN_AGREED,
	 "{\"carrier\":\"Posturinn\",\"tracking_number\":\"RR{n}IS\"}", "{dispute}", NULL, 200,
	 false, NULL},
	{"POST", "/v1/disputes/{id}/return-received", PREP_RETURN_SHIPPED, "{}", "{dispute}", NULL,
	 200, false, NULL},
	{"POST", "/v1/disputes/{id}/evidence", PREP_DISPUTED, PNG_BODY, "{dispute}", NULL, 201,
	 false, "image/png"},
	{"POST", "/v1/users/{id}/suspension/lift", PREP_SUSPENDED,
	 "{\"reason\":\"Lost parcels {n}\"}", "{suspended}", NULL, 200, false, NULL},
	{"GET", "/v1/evidence/{id}", PREP_EVIDENCE, NULL, "{evidence}", NULL, 200, false, NULL},
	{"POST", "/v1/disputes/{id}/decide", PREP_ESCALATED,
	 "{\"refund_amount\":500,\"reason\":\"Half is fair {n}\"}", "{dispute}", NULL, 200, false,
	 NULL},
	/* The web interface's files are anyone's. */
	{"GET", "/static/{id}", PREP_NONE, NULL, "app.js", NULL, 200, false, NULL},
	/* Webhook endpoints (issue 14): the operator's alone. */
	{"POST", "/v1/webhook-endpoints", PREP_NONE, WEBHOOK_BODY, NULL, NULL, 201, false, NULL},
	{"GET", "/v1/webhook-endpoints", PREP_NONE, NULL, NULL, NULL, 200, false, NULL},
	{"GET", "/v1/webhook-endpoints/{id}", PREP_WEBHOOK, NULL, "{webhook}", NULL, 200, false,
	 NULL},
	{"POST", "/v1/webhook-endpoints/{id}", PREP_WEBHOOK, "{\"description\":\"D{n}\"}",
	 "{webhook}", NULL, 200, false, NULL},
	{"DELETE", "/v1/webhook-endpoints/{id}", PREP_WEBHOOK, NULL, "{webhook}", NULL, 200, false,
	 NULL},
	{"POST", "/v1/webhook-endpoints/{id}/rotate-secret", PREP_WEBHOOK, "{}", "{webhook}", NULL,
	 200, false, NULL},
	/* The event feed (issue 14): the operator's alone. The first event
	 * exists once any order does. */
	{"GET", "/v1/events/{id}", PREP_PAID, NULL, "evt_0000000000000001", NULL, 200, false, NULL},
	/* Policy versions are no secret: anyone signed in reads them. pol_1
	 * is SPEC's defaults, in every store. */
	{"GET", "/v1/policies/{id}", PREP_NONE, NULL, "pol_1", NULL, 200, false, NULL},
	{"GET", "/v1/webhook-deliveries", PREP_NONE, NULL, NULL, NULL, 200, false, NULL},
	{"GET", "/v1/webhook-deliveries/{id}", PREP_DELIVERY, NULL, "{delivery}", NULL, 200, false,
	 NULL},
	{"POST", "/v1/webhook-deliveries/{id}/retry", PREP_DELIVERY, "{}", "{delivery}", NULL, 202,
	 false, NULL},
	/* Operator keys (issue 18 item 7): the operator's alone. A revocation
	 * revokes a key made for the cell, never the operator's own. */
	{"POST", "/v1/operator-keys", PREP_NONE, "{\"name\":\"K{n}\"}", NULL, NULL, 201, false,
	 NULL},
	{"GET", "/v1/operator-keys", PREP_NONE, NULL, NULL, NULL, 200, false, NULL},
	{"POST", "/v1/operator-keys/{id}/revoke", PREP_KEY, "{}", "{key}", NULL, 200, false, NULL},
	/* Only its status is checked: the clock moving is its effect. */
	{"POST", "/v1/clock/advance", PREP_NONE, "{\"seconds\":60}", NULL, NULL, 200, false, NULL},
};

static struct setup setup_for(const struct esc_route *rt)
{
	for (size_t i = 0; i < sizeof setups / sizeof setups[0]; i++)
		if (!strcmp(setups[i].method, rt->method) && !strcmp(setups[i].path, rt->path))
			return setups[i];
	struct setup s = {.method = rt->method,
			  .path = rt->path,
			  .prep = strstr(rt->path, "{id}") ? PREP_PAID : PREP_NONE,
			  .body = rt->body ? "{}" : NULL,
			  .ok = 200};
	return s;
}

/* Does the request name an order, so that the order-party rule applies? */
static bool on_order(const struct esc_route *rt, const struct setup *su)
{
	bool names_user =
		su->id && (!strcmp(su->id, "{buyer}") || !strcmp(su->id, "{seller}") ||
			   !strcmp(su->id, "{suspended}") || !strcmp(su->id, "{webhook}") ||
			   !strcmp(su->id, "{delivery}") || !strcmp(su->id, "{key}") ||
			   !strncmp(su->id, "pol_", 4)); /* a policy version */
	return (strstr(rt->path, "{id}") && !names_user) ||
	       (su->query && strstr(su->query, "{order}"));
}

/* The status a caller gets: the route table's role check first (anyone
 * passes an ANYONE route; no one signed in is 401; a role outside the
 * mask is 403), then the order-party rule of SPEC §1 (another party's
 * order is 404, not 403; an arbiter sees the orders whose dispute was
 * escalated), else
 * the route's success. */
static long expected_status(const struct esc_route *rt, const struct setup *su, bool about_order,
			    enum caller c, long ok)
{
	if (rt->who & ESC_WHO_ANYONE)
		return ok;
	if (!callers[c].mask)
		return 401;
	if (!(rt->who & callers[c].mask))
		return 403;
	if (about_order && !callers[c].party && !(c == C_ARBITER && su->prep == PREP_ESCALATED))
		return 404;
	return ok;
}

/* ---- one cell of the matrix ---- */

struct cell {
	char order[64];
	char refund[64];
	char dispute[64];
	char evidence[80];
	char suspended[64]; /* a suspended buyer's id */
	char webhook[64];   /* a webhook endpoint's id */
	char delivery[64];  /* a webhook delivery's id */
	char key[64];       /* an operator key's id */
};

static unsigned long serial;

/* Expand a template; {n} takes the value n. */
static void expand(const char *t, const struct cell *x, unsigned long n, char *out, size_t size)
{
	size_t o = 0;
	out[0] = '\0';
	while (*t && o + 1 < size) {
		const char *v = NULL;
		char num[24];
		size_t skip = 0;
		if (!strncmp(t, "{order}", 7))
			v = x->order, skip = 7;
		else if (!strncmp(t, "{refund}", 8))
			v = x->refund, skip = 8;
		else if (!strncmp(t, "{dispute}", 9))
			v = x->dispute, skip = 9;
		else if (!strncmp(t, "{evidence}", 10))
			v = x->evidence, skip = 10;
		else if (!strncmp(t, "{suspended}", 11))
			v = x->suspended, skip = 11;
		else if (!strncmp(t, "{webhook}", 9))
			v = x->webhook, skip = 9;
		else if (!strncmp(t, "{delivery}", 10))
			v = x->delivery, skip = 10;
		else if (!strncmp(t, "{key}", 5))
			v = x->key, skip = 5;
		else if (!strncmp(t, "{buyer}", 7))
			v = users[C_BUYER].id, skip = 7;
		else if (!strncmp(t, "{seller}", 8))
			v = users[C_SELLER].id, skip = 8;
		else if (!strncmp(t, "{n}", 3)) {
			snprintf(num, sizeof num, "%lu", n);
			v = num, skip = 3;
		}
		if (v) {
			int k = snprintf(out + o, size - o, "%s", v);
			assert_true(k >= 0 && (size_t)k < size - o);
			o += (size_t)k;
			t += skip;
		} else {
			out[o++] = *t++;
			out[o] = '\0';
		}
	}
	assert_true(!*t);
}

/* A party's step in the setup, which must succeed. */
static json_t *step(enum caller c, const char *path, const char *body, long status)
{
	struct cred cr = {.bearer = users[c].s.token};
	struct reply r = call("POST", path, &cr, body);
	if (r.status != status)
		fail_msg("setup: %s: %ld: %s", path, r.status, r.body);
	json_t *j = json_incref(r.json);
	drop(&r);
	return j;
}

/* Open a dispute on the shipped order and bring it to `prep`. */
static void dispute_to(enum prep prep, struct cell *x)
{
	char path[200];
	bool ret = prep >= PREP_RETURN_AGREED;
	snprintf(path, sizeof path, "/v1/orders/%s/disputes", x->order);
	json_t *j = step(C_BUYER, path,
			 ret ? "{\"ground\":\"not_as_described\",\"outcome\":\"return_and_refund\","
			       "\"amount\":1000,\"description\":\"Broken\"}"
			     : "{\"ground\":\"not_as_described\",\"outcome\":\"refund_only\","
			       "\"amount\":1000,\"description\":\"Broken\"}",
			 201);
	snprintf(x->dispute, sizeof x->dispute, "%s", str(j, "id"));
	json_decref(j);
#define DSTEP(c, what, body)                                                                       \
	do {                                                                                       \
		snprintf(path, sizeof path, "/v1/disputes/%s/%s", x->dispute, what);               \
		json_decref(step(c, path, body, 200));                                             \
	} while (0)
	if (prep == PREP_COUNTERED)
		DSTEP(C_SELLER, "counter-offer", "{\"amount\":500}");
	if (prep == PREP_REJECTED || prep == PREP_ESCALATED)
		DSTEP(C_SELLER, "reject", "{\"message\":\"No\"}");
	if (prep == PREP_ESCALATED)
		DSTEP(C_BUYER, "escalate", "{}");
	if (ret)
		DSTEP(C_SELLER, "accept", "{}");
	if (prep == PREP_RETURN_SHIPPED)
		DSTEP(C_BUYER, "return-shipment",
		      "{\"carrier\":\"Posturinn\",\"tracking_number\":\"RR2IS\"}");
	if (prep == PREP_EVIDENCE) {
		struct cred buyer = {.bearer = users[C_BUYER].s.token};
		snprintf(path, sizeof path, "/v1/disputes/%s/evidence?filename=crack.png",
			 x->dispute);
		struct reply r = call_typed("POST", path, &buyer, PNG_BODY, "image/png");
		if (r.status != 201)
			fail_msg("setup: evidence: %ld: %s", r.status, r.body);
		snprintf(x->evidence, sizeof x->evidence, "%s", str(r.json, "id"));
		drop(&r);
	}
#undef DSTEP
}

/* A new buyer who lost three disputes in a row: suspended (SPEC §6). */
static void suspended_buyer(struct cell *x)
{
	static int made;
	char email[80], body[512], path[200];
	struct session s;
	snprintf(email, sizeof email, "suspended%d@authz.test", made++);
	make_user("buyer", email, x->suspended);
	sign_in(email, &s);
	const struct cred buyer = {.bearer = s.token}, seller = {.bearer = users[C_SELLER].s.token},
			  arbiter = {.bearer = users[C_ARBITER].s.token};
	for (int i = 0; i < 3; i++) {
		snprintf(body, sizeof body,
			 "{\"buyer_id\":\"%s\",\"seller_id\":\"%s\",\"currency\":\"EUR\","
			 "\"items\":[{\"title\":\"Mug\",\"quantity\":1,\"unit_price\":900}]}",
			 x->suspended, users[C_SELLER].id);
		json_t *j = op("POST", "/v1/orders", body, 201);
		char order[64], dsp[64];
		snprintf(order, sizeof order, "%s", str(j, "id"));
		json_decref(j);
		struct {
			const struct cred *who;
			const char *what, *body;
			long status;
		} steps[] = {
			{&operator_cred, "pay", "{\"amount\":900,\"payment_method\":\"card\"}",
			 200},
			{&seller, "ship",
			 "{\"carrier\":\"Posturinn\",\"tracking_number\":\"RR3IS\"}", 200},
			{&buyer, "disputes",
			 "{\"ground\":\"not_as_described\",\"outcome\":\"refund_only\",\"amount\":"
			 "100,\"description\":\"Scratched\"}",
			 201},
		};
		for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
			snprintf(path, sizeof path, "/v1/orders/%s/%s", order, steps[k].what);
			struct reply r = call("POST", path, steps[k].who, steps[k].body);
			if (r.status != steps[k].status)
				fail_msg("setup: %s: %ld: %s", path, r.status, r.body);
			if (k == 2)
				snprintf(dsp, sizeof dsp, "%s", str(r.json, "id"));
			drop(&r);
		}
		struct {
			const struct cred *who;
			const char *what, *body;
		} answers[] = {
			{&seller, "reject", "{\"message\":\"No\"}"},
			{&buyer, "escalate", "{}"},
			{&arbiter, "decide", "{\"refund_amount\":0,\"reason\":\"Not shown\"}"},
		};
		for (size_t k = 0; k < sizeof answers / sizeof answers[0]; k++) {
			snprintf(path, sizeof path, "/v1/disputes/%s/%s", dsp, answers[k].what);
			struct reply r = call("POST", path, answers[k].who, answers[k].body);
			if (r.status != 200)
				fail_msg("setup: %s: %ld: %s", path, r.status, r.body);
			drop(&r);
		}
	}
}

/* A webhook delivery, the same for every cell (reading or retrying it
 * changes nothing the matrix compares): an endpoint for order.created,
 * an order, and the delivery the worker makes for it (waited for, in
 * real time); the endpoint is then paused, so that the matrix's other
 * orders make no more. */
static void a_delivery(char id[64])
{
	static char made[64];
	char path[160], body[600];
	json_t *j;
	if (!made[0]) {
		j = op("POST", "/v1/webhook-endpoints",
		       "{\"url\":\"https://198.51.100.7/hooks\",\"events\":[\"order.created\"]}",
		       201);
		char endpoint[64];
		snprintf(endpoint, sizeof endpoint, "%s", str(j, "id"));
		json_decref(j);
		struct cell none = {0};
		expand(ORDER_BODY, &none, 0, body, sizeof body);
		json_decref(op("POST", "/v1/orders", body, 201));
		snprintf(path, sizeof path, "/v1/webhook-deliveries?endpoint_id=%s", endpoint);
		for (int i = 0; i < 200 && !made[0]; i++) {
			j = op("GET", path, NULL, 200);
			json_t *first = json_array_get(json_object_get(j, "data"), 0);
			if (first)
				snprintf(made, sizeof made, "%s", str(first, "id"));
			json_decref(j);
			if (!made[0])
				usleep(100 * 1000);
		}
		if (!made[0])
			fail_msg("setup: no delivery to %s within 20 s", endpoint);
		snprintf(path, sizeof path, "/v1/webhook-endpoints/%s", endpoint);
		json_decref(op("POST", path, "{\"enabled\":false}", 200));
	}
	snprintf(id, 64, "%s", made);
}

/* A fresh order of the order's buyer and seller, brought to `prep`. */
static void prepare(enum prep prep, struct cell *x)
{
	char body[512], path[200];
	json_t *j;
	memset(x, 0, sizeof *x);
	if (prep == PREP_NONE)
		return;
	if (prep == PREP_SUSPENDED) {
		suspended_buyer(x);
		return;
	}
	if (prep == PREP_WEBHOOK) {
		j = op("POST", "/v1/webhook-endpoints", WEBHOOK_BODY, 201);
		snprintf(x->webhook, sizeof x->webhook, "%s", str(j, "id"));
		json_decref(j);
		return;
	}
	if (prep == PREP_DELIVERY) {
		a_delivery(x->delivery);
		return;
	}
	if (prep == PREP_KEY) {
		j = op("POST", "/v1/operator-keys", "{\"name\":\"to revoke\"}", 201);
		snprintf(x->key, sizeof x->key, "%s", str(j, "id"));
		json_decref(j);
		return;
	}
	expand(ORDER_BODY, x, 0, body, sizeof body);
	j = op("POST", "/v1/orders", body, 201);
	snprintf(x->order, sizeof x->order, "%s", str(j, "id"));
	json_decref(j);
	if (prep == PREP_UNPAID)
		return;
	snprintf(path, sizeof path, "/v1/orders/%s/pay", x->order);
	json_decref(op("POST", path, "{\"amount\":5000,\"payment_method\":\"card\"}", 200));
	if (prep == PREP_SHIPPED || prep >= PREP_DISPUTED) {
		struct cred seller = {.bearer = users[C_SELLER].s.token};
		snprintf(path, sizeof path, "/v1/orders/%s/ship", x->order);
		struct reply r = call("POST", path, &seller,
				      "{\"carrier\":\"Posturinn\",\"tracking_number\":\"RR1IS\"}");
		if (r.status != 200)
			fail_msg("setup: ship: %ld: %s", r.status, r.body);
		drop(&r);
		if (prep >= PREP_DISPUTED)
			dispute_to(prep, x);
		return;
	}
	if (prep == PREP_PAID)
		return;
	struct cred buyer = {.bearer = users[C_BUYER].s.token};
	snprintf(path, sizeof path, "/v1/orders/%s/cancel", x->order);
	struct reply r = call("POST", path, &buyer,
			      "{\"reason\":\"no_longer_needed\",\"refund_to\":\"original\"}");
	if (r.status != 200)
		fail_msg("setup: cancel: %ld: %s", r.status, r.body);
	drop(&r);
	if (prep == PREP_REQUESTED)
		return;
	struct cred seller = {.bearer = users[C_SELLER].s.token};
	snprintf(path, sizeof path, "/v1/orders/%s/cancellation/accept", x->order);
	r = call("POST", path, &seller, "{}");
	if (r.status != 200)
		fail_msg("setup: accept: %ld: %s", r.status, r.body);
	json_t *refund = json_array_get(json_object_get(r.json, "refunds"), 0);
	assert_string_equal(str(refund, "status"), "pending");
	snprintf(x->refund, sizeof x->refund, "%s", str(refund, "id"));
	drop(&r);
}

/* What a refused call must leave as it was. */
struct print {
	json_int_t version; /* of the cell's order, -1 without one */
	json_int_t orders, transfers;
	char now[40];
};

static void fingerprint(const struct cell *x, struct print *p)
{
	char path[200];
	json_t *j;
	p->version = -1;
	if (x->order[0]) {
		snprintf(path, sizeof path, "/v1/orders/%s", x->order);
		j = op("GET", path, NULL, 200);
		p->version = json_integer_value(json_object_get(j, "version"));
		json_decref(j);
	}
	j = op("GET", "/v1/ledger/check", NULL, 200);
	p->orders = json_integer_value(json_object_get(j, "orders"));
	p->transfers = json_integer_value(json_object_get(j, "transfers"));
	json_decref(j);
	/* Advancing by nothing tells the time. */
	j = op("POST", "/v1/clock/advance", "{\"seconds\":0}", 200);
	snprintf(p->now, sizeof p->now, "%s", str(j, "now"));
	json_decref(j);
}

/* The credentials of caller c: its session, or a new one when the route
 * ends the session it is called with. */
static void credentials(enum caller c, bool by_cookie, bool own_session, struct session *fresh,
			struct cred *cr)
{
	memset(cr, 0, sizeof *cr);
	if (c == C_OPERATOR) {
		cr->bearer = KEY;
		return;
	}
	if (c == C_ANONYMOUS)
		return;
	const struct session *s = &users[c].s;
	if (own_session) {
		sign_in(users[c].email, fresh);
		s = fresh;
	}
	if (by_cookie) {
		cr->cookie = s->token;
		cr->csrf = s->csrf;
	} else {
		cr->bearer = s->token;
	}
}

static int mismatches;

static void row(const struct esc_route *rt, enum caller c, bool by_cookie, const char *expected,
		const char *got)
{
	char route[80];
	if (!mismatches++)
		printf("%-58s %-15s %-6s %-22s %s\n", "ROUTE", "CALLER", "AUTH", "EXPECTED", "GOT");
	snprintf(route, sizeof route, "%s %s", rt->method, rt->path);
	printf("%-58s %-15s %-6s %-22s %s\n", route, callers[c].name,
	       by_cookie ? "cookie" : "bearer", expected, got);
	fflush(stdout);
}

static void got_text(const struct reply *r, char *out, size_t size)
{
	const char *code = str(json_object_get(r->json, "error"), "code");
	snprintf(out, size, "%ld%s%s%s", r->status, *code ? " (" : "", code, *code ? ")" : "");
}

/* A refused call changed nothing: the order's version, the ledger's
 * counts and the clock are as they were, and whoever may make the same
 * request still can, once. */
static void check_refusal(const struct esc_route *rt, const struct setup *su, bool about_order,
			  enum caller c, bool by_cookie, const struct cell *x,
			  const struct print *before, const char *path, const char *body)
{
	struct print after;
	struct session fresh;
	struct cred cr;
	struct reply r;
	char exp_text[32], got[100];

	fingerprint(x, &after);
	if (after.version != before->version || after.orders != before->orders ||
	    after.transfers != before->transfers || strcmp(after.now, before->now)) {
		snprintf(got, sizeof got, "changed: v%lld->%lld o%lld->%lld t%lld->%lld",
			 (long long)before->version, (long long)after.version,
			 (long long)before->orders, (long long)after.orders,
			 (long long)before->transfers, (long long)after.transfers);
		row(rt, c, by_cookie, "no side effect", got);
	}
	for (int k = C_OPERATOR; k >= 0; k--) {
		enum caller rightful = (enum caller)k;
		if (expected_status(rt, su, about_order, rightful, su->ok) != su->ok)
			continue;
		credentials(rightful, by_cookie, su->signs_out, &fresh, &cr);
		r = call_typed(rt->method, path, &cr, su->body ? body : NULL, su->type);
		if (r.status != su->ok) {
			snprintf(exp_text, sizeof exp_text, "%ld after refusal", su->ok);
			got_text(&r, got, sizeof got);
			row(rt, rightful, by_cookie, exp_text, got);
		}
		drop(&r);
		break;
	}
}

/* Count a cancellation after payment on the order's buyer. */
static void count_cancellation(const struct cell *x)
{
	char path[200];
	if (!x->order[0])
		return;
	snprintf(path, sizeof path, "/v1/orders/%s", x->order);
	json_t *j = op("GET", path, NULL, 200);
	if (!strcmp(str(j, "status"), "cancelled") &&
	    json_integer_value(json_object_get(j, "paid")))
		pool[pool_cur].cancels++;
	json_decref(j);
}

static void run_cell(const struct esc_route *rt, enum caller c, bool by_cookie)
{
	const struct setup su = setup_for(rt);
	const bool about_order = on_order(rt, &su);
	const long want = expected_status(rt, &su, about_order, c, su.ok);
	char id[64], path[400], body[512] = "", query[200], exp_text[32], got[64];
	struct cell x;
	struct print before;
	struct session fresh;
	struct cred cr;
	const char *p;
	size_t o = 0;

	choose_buyer();
	prepare(su.prep, &x);
	/* The path with its {id}, then the query. */
	expand(su.id ? su.id : "{order}", &x, 0, id, sizeof id);
	for (p = rt->path; *p && o + 1 < sizeof path;) {
		if (!strncmp(p, "{id}", 4)) {
			o += (size_t)snprintf(path + o, sizeof path - o, "%s", id);
			p += 4;
		} else {
			path[o++] = *p++;
		}
	}
	path[o] = '\0';
	expand(su.query ? su.query : "", &x, 0, query, sizeof query);
	snprintf(path + o, sizeof path - o, "%s", query);
	const unsigned long n = ++serial;
	if (su.body)
		expand(su.body, &x, n, body, sizeof body);

	fingerprint(&x, &before);
	credentials(c, by_cookie, su.signs_out, &fresh, &cr);
	struct reply r = call_typed(rt->method, path, &cr, su.body ? body : NULL, su.type);
	snprintf(exp_text, sizeof exp_text, "%ld", want);
	if (r.status != want) {
		got_text(&r, got, sizeof got);
		row(rt, c, by_cookie, exp_text, got);
	}
	bool refused = r.status >= 300;
	drop(&r);
	if (refused)
		check_refusal(rt, &su, about_order, c, by_cookie, &x, &before, path, body);
	count_cancellation(&x);
}

/* ---- the tests ---- */

static int group_setup(void **state)
{
	static const enum caller with_user[] = {C_OTHER_BUYER, C_OTHER_SELLER, C_SELLER, C_ARBITER};
	(void)state;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	esc_test_tmpdir(d.dir, sizeof d.dir);
	esc_test_store(d.db, sizeof d.db, d.dir);
	esc_test_daemon_start(&d, KEY);
	for (size_t i = 0; i < sizeof with_user / sizeof with_user[0]; i++) {
		enum caller c = with_user[i];
		snprintf(users[c].email, sizeof users[c].email, "caller%zu@authz.test", i);
		make_user(callers[c].role, users[c].email, users[c].id);
		sign_in(users[c].email, &users[c].s);
	}
	char visitor_id[64];
	make_user("buyer", visitor_email, visitor_id);
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

static void matrix(bool by_cookie)
{
	mismatches = 0;
	/* Sign-in attempts are limited per account and address over windows
	 * of the (manual) clock: start with fresh windows. */
	json_decref(op("POST", "/v1/clock/advance", "{\"seconds\":960}", 200));
	for (size_t i = 0; i < esc_routes_count; i++)
		for (int c = 0; c < C_COUNT; c++)
			run_cell(&esc_routes[i], (enum caller)c, by_cookie);
	json_t *j = op("GET", "/v1/ledger/check", NULL, 200);
	if (!json_is_true(json_object_get(j, "ok")))
		fail_msg("the ledger is broken after the matrix");
	json_decref(j);
	if (mismatches)
		fail_msg("%d mismatches in the authorization matrix (%zu routes x %d callers)",
			 mismatches, esc_routes_count, (int)C_COUNT);
}

/* Under ESC_TEST_QUICK (make test's sanitizer runs, and the PostgreSQL
 * run) only the matrix with session cookies runs: it takes the same
 * paths through the daemon and CSRF besides, and each matrix costs
 * minutes there. */
static void spec_1_every_route_by_every_caller_with_bearer_tokens(void **state)
{
	(void)state;
	if (getenv("ESC_TEST_QUICK"))
		skip();
	matrix(false);
}

static void spec_1_every_route_by_every_caller_with_session_cookies(void **state)
{
	(void)state;
	matrix(true);
}

int main(void)
{
	esc_test_store_or_skip("http_authz");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(spec_1_every_route_by_every_caller_with_bearer_tokens),
		cmocka_unit_test(spec_1_every_route_by_every_caller_with_session_cookies),
	};
	return cmocka_run_group_tests_name("http_authz", tests, group_setup, group_teardown);
}
