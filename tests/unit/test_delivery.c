/* test_delivery.c - the webhook delivery worker (webhook/worker.h) on a
 * real store (SQLite, or PostgreSQL as delivery-pg) with the engine's
 * manual clock, against a real receiver on a loopback port that checks
 * every signature as docs/webhooks.md says: the seeded flows arrive once
 * each, signed, in each order's version order; retries follow the
 * schedule as the clock moves; a receiver that never answers 2xx fails
 * the delivery after 3 days and gets its endpoint disabled, with an
 * event; a hanging receiver times out while another is served; a rotated
 * secret signs beside the new one for 24 hours; old events are purged
 * with their deliveries. The schedule itself is a pure function, checked
 * on its own. */
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
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "support.h"
#include "util/error.h"
#include "util/id.h"
#include "webhook/feed.h"
#include "webhook/options.h"
#include "webhook/signature.h"
#include "webhook/worker.h"

#define SEEN_MAX   512
#define BODY_MAX   (64 * 1024)
#define ROUTES_MAX 8
#define HOUR_MS    (3600 * INT64_C(1000))

/* ---- the receiver: records every request and checks its signature ---- */

struct seen {
	char path[64];
	char event_id[32];
	char signature[ESC_WEBHOOK_SIGNATURE_SIZE];
	char *body;
	bool valid_new, valid_old; /* verified with the route's secret, its old one */
};

/* What the receiver knows of a path: the secrets it checks with. */
struct route {
	char path[64];
	char secret[ESC_WEBHOOK_SECRET_SIZE];
	char secret_old[ESC_WEBHOOK_SECRET_SIZE];
};

static struct receiver {
	struct MHD_Daemon *daemon;
	int port;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool released; /* /hang answers */
	bool flaky_ok; /* /flaky answers 200 from now on */
	struct route routes[ROUTES_MAX];
	size_t routes_n;
	struct seen seen[SEEN_MAX];
	size_t seen_n;
} rx = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

struct upload {
	char data[BODY_MAX];
	size_t bytes;
};

static bool verify_with(const char *header, const struct upload *u, const char *secret)
{
	return secret[0] &&
	       esc_webhook_signature_verify(header, u->data, u->bytes, secret, (int64_t)time(NULL),
					    ESC_WEBHOOK_TOLERANCE_S, NULL, 0) == 0;
}

static void record(struct MHD_Connection *c, const char *url, const struct upload *u)
{
	const char *sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Escrowd-Signature");
	const char *id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Escrowd-Event-Id");

	pthread_mutex_lock(&rx.lock);
	if (rx.seen_n < SEEN_MAX) {
		struct seen *s = &rx.seen[rx.seen_n++];
		snprintf(s->path, sizeof s->path, "%s", url);
		snprintf(s->signature, sizeof s->signature, "%s", sig ? sig : "");
		snprintf(s->event_id, sizeof s->event_id, "%s", id ? id : "");
		s->body = strndup(u->data, u->bytes);
		for (size_t i = 0; i < rx.routes_n; i++) {
			if (strcmp(rx.routes[i].path, url))
				continue;
			s->valid_new = verify_with(s->signature, u, rx.routes[i].secret);
			s->valid_old = verify_with(s->signature, u, rx.routes[i].secret_old);
		}
	}
	pthread_cond_broadcast(&rx.cond);
	pthread_mutex_unlock(&rx.lock);
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *body)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result result = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return result;
}

/* Hold a request until released (20 s at most). */
static void hang(void)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 20;
	pthread_mutex_lock(&rx.lock);
	while (!rx.released && pthread_cond_timedwait(&rx.cond, &rx.lock, &until) == 0)
		;
	pthread_mutex_unlock(&rx.lock);
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
		*request_state = u = calloc(1, sizeof *u);
		return u ? MHD_YES : MHD_NO;
	}
	if (*upload_data_size > 0) {
		size_t room = sizeof u->data - u->bytes;
		size_t n = *upload_data_size < room ? *upload_data_size : room;
		memcpy(u->data + u->bytes, upload_data, n);
		u->bytes += n;
		*upload_data_size = 0;
		return MHD_YES;
	}
	record(c, url, u);
	if (!strcmp(url, "/fail"))
		return answer(c, 500, "boom");
	if (!strcmp(url, "/flaky")) {
		pthread_mutex_lock(&rx.lock);
		bool ok = rx.flaky_ok;
		pthread_mutex_unlock(&rx.lock);
		return ok ? answer(c, 204, "") : answer(c, 500, "not yet");
	}
	if (!strcmp(url, "/hang")) {
		hang();
		return answer(c, 200, "too late");
	}
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

static void receiver_reset(void)
{
	pthread_mutex_lock(&rx.lock);
	for (size_t i = 0; i < rx.seen_n; i++)
		free(rx.seen[i].body);
	rx.seen_n = 0;
	rx.routes_n = 0;
	rx.flaky_ok = false;
	pthread_mutex_unlock(&rx.lock);
}

static int receiver_setup(void **state)
{
	struct sockaddr_in address = {.sin_family = AF_INET,
				      .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	const union MHD_DaemonInfo *info;
	(void)state;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rx.daemon = MHD_start_daemon(MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD |
					     MHD_USE_THREAD_PER_CONNECTION,
				     0, NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, &address,
				     MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
				     MHD_OPTION_CONNECTION_LIMIT, 500u, MHD_OPTION_END);
	assert_non_null(rx.daemon);
	info = MHD_get_daemon_info(rx.daemon, MHD_DAEMON_INFO_BIND_PORT);
	assert_non_null(info);
	rx.port = info->port;
	return 0;
}

static int receiver_teardown(void **state)
{
	(void)state;
	pthread_mutex_lock(&rx.lock);
	rx.released = true;
	pthread_cond_broadcast(&rx.cond);
	pthread_mutex_unlock(&rx.lock);
	MHD_stop_daemon(rx.daemon);
	receiver_reset();
	curl_global_cleanup();
	return 0;
}

static size_t seen_at(const char *path)
{
	size_t n = 0;
	pthread_mutex_lock(&rx.lock);
	for (size_t i = 0; i < rx.seen_n; i++)
		n += !strcmp(rx.seen[i].path, path);
	pthread_mutex_unlock(&rx.lock);
	return n;
}

/* The last request seen at path, copied (its body is the caller's). */
static struct seen last_at(const char *path)
{
	struct seen out = {0};
	pthread_mutex_lock(&rx.lock);
	for (size_t i = 0; i < rx.seen_n; i++)
		if (!strcmp(rx.seen[i].path, path))
			out = rx.seen[i];
	out.body = out.body ? strdup(out.body) : NULL;
	pthread_mutex_unlock(&rx.lock);
	return out;
}

/* ---- escrowd's side ---- */

static int endpoint_insert_tx(struct esc_store *s, void *arg)
{
	int rc;
	ESC_STORE(rc, s, webhook_endpoint_insert, (const struct esc_webhook_endpoint *)arg);
	return rc;
}

/* An endpoint at the receiver's path taking events; the receiver learns
 * its secret (and old, a rotation's previous secret signing until
 * old_until_ms, when not NULL). */
static struct esc_webhook_endpoint endpoint_add(struct esc_fixture *f, const char *path,
						const char *events, bool old, int64_t old_until_ms)
{
	struct esc_webhook_endpoint w = {0};
	int64_t now = esc_engine_now(f->e);
	esc_id_new(w.id, "whe_", now);
	snprintf(w.url, sizeof w.url, "http://127.0.0.1:%d%s", rx.port, path);
	snprintf(w.events, sizeof w.events, "%s", events);
	w.enabled = 1;
	w.created_at_ms = w.updated_at_ms = now;
	assert_int_equal(esc_webhook_secret_new(w.secret), 0);
	if (old) {
		assert_int_equal(esc_webhook_secret_new(w.secret_previous), 0);
		w.secret_previous_until_ms = old_until_ms;
	}
	assert_int_equal(esc_engine_transact(f->e, endpoint_insert_tx, &w), 0);
	pthread_mutex_lock(&rx.lock);
	struct route *r = &rx.routes[rx.routes_n++];
	snprintf(r->path, sizeof r->path, "%s", path);
	snprintf(r->secret, sizeof r->secret, "%s", w.secret);
	snprintf(r->secret_old, sizeof r->secret_old, "%s", w.secret_previous);
	pthread_mutex_unlock(&rx.lock);
	return w;
}

static struct esc_webhook_endpoint endpoint_get(struct esc_fixture *f, const char *id)
{
	struct esc_webhook_endpoint w;
	struct esc_store *s = esc_engine_store_acquire(f->e);
	int rc;
	ESC_STORE(rc, s, webhook_endpoint_get, id, &w);
	esc_engine_store_release(f->e, s);
	assert_int_equal(rc, 0);
	return w;
}

static struct esc_webhook_stats stats(struct esc_fixture *f)
{
	struct esc_webhook_stats st;
	struct esc_store *s = esc_engine_store_acquire(f->e);
	int rc;
	ESC_STORE(rc, s, webhook_stats, &st);
	esc_engine_store_release(f->e, s);
	assert_int_equal(rc, 0);
	return st;
}

static int64_t counter(struct esc_fixture *f, enum esc_webhook_counter c)
{
	struct esc_engine_counters n;
	esc_engine_counters(f->e, &n);
	return n.webhook[c];
}

static struct esc_webhook_options options(void)
{
	struct esc_webhook_options o;
	esc_webhook_options_default(&o);
	o.allow_private = true;
	o.request_timeout_ms = 1000;
	o.connect_timeout_ms = 1000;
	return o;
}

static struct esc_webhook_worker *worker_new(struct esc_fixture *f,
					     const struct esc_webhook_options *o)
{
	struct esc_webhook_worker *w = NULL;
	assert_int_equal(esc_webhook_worker_new(f->e, o, &w), 0);
	return w;
}

static int64_t real_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Poll w until path has seen want requests and nothing is in flight, or
 * limit_ms of real time passed; the requests seen at path. */
static size_t poll_until(struct esc_webhook_worker *w, const char *path, size_t want,
			 int64_t limit_ms)
{
	int64_t start = real_ms();
	while (real_ms() - start < limit_ms) {
		assert_int_equal(esc_webhook_worker_poll(w, 20), 0);
		if (seen_at(path) >= want && !esc_webhook_worker_in_flight(w))
			break;
	}
	return seen_at(path);
}

/* A few rounds with nothing expected to arrive. */
static void poll_idle(struct esc_webhook_worker *w)
{
	for (int i = 0; i < 5; i++)
		assert_int_equal(esc_webhook_worker_poll(w, 10), 0);
}

static void advance(struct esc_fixture *f, int64_t ms)
{
	assert_int_equal(esc_engine_advance(f->e, ms), 0);
}

/* The outbox's rows, read as the API reads (the fixture's own reader uses
 * the writer's connection, which the worker's thread may be using). */
static int64_t outbox_count(struct esc_fixture *f)
{
	int64_t n = 0;
	struct esc_store *s = esc_engine_store_acquire(f->e);
	int rc;
	ESC_STORE(rc, s, outbox_count, &n);
	esc_engine_store_release(f->e, s);
	assert_int_equal(rc, 0);
	return n;
}

static struct esc_order one_order(struct esc_fixture *f)
{
	return esc_fixture_order(f, &f->buyer, &f->seller, 1000);
}

/* ---- the schedule ---- */

static void test_retry_delay_doubles_up_to_the_cap_with_full_jitter(void **state)
{
	struct esc_webhook_options o;
	(void)state;
	esc_webhook_options_default(&o);
	assert_int_equal(esc_webhook_retry_delay_ms(&o, 1, 0.5), 15000);
	assert_int_equal(esc_webhook_retry_delay_ms(&o, 2, 0.5), 30000);
	assert_int_equal(esc_webhook_retry_delay_ms(&o, 3, 0.5), 60000);
	assert_int_equal(esc_webhook_retry_delay_ms(&o, 3, 0.25), 30000);
	/* The ceiling stops at retry_max (6 h), however many attempts. */
	assert_int_equal(esc_webhook_retry_delay_ms(&o, 20, 0.5), 3 * HOUR_MS);
	assert_int_equal(esc_webhook_retry_delay_ms(&o, 100000, 0.5), 3 * HOUR_MS);
	/* Full jitter: anywhere below the ceiling, but never under 1 s. */
	assert_int_equal(esc_webhook_retry_delay_ms(&o, 1, 0.0), 1000);
	assert_true(esc_webhook_retry_delay_ms(&o, 1, 0.99999) < 30000);
	assert_true(esc_webhook_retry_delay_ms(&o, 1, 0.99999) >= 29999);
	/* Configured otherwise. */
	o.retry_first_ms = 10000;
	o.retry_max_ms = 40000;
	assert_int_equal(esc_webhook_retry_delay_ms(&o, 1, 0.5), 5000);
	assert_int_equal(esc_webhook_retry_delay_ms(&o, 4, 0.5), 20000);
}

static void test_after_attempt_delivers_retries_then_fails_after_retry_for(void **state)
{
	struct esc_webhook_options o;
	struct esc_webhook_delivery d = {.created_at_ms = ESC_TEST_T0, .status = ESC_WD_PENDING};
	(void)state;
	esc_webhook_options_default(&o);
	struct esc_webhook_delivery ok = d;
	esc_webhook_after_attempt(&o, &ok, 204, ESC_TEST_T0 + 5, 0.5);
	assert_string_equal(ok.status, ESC_WD_DELIVERED);
	assert_int_equal(ok.delivered_at_ms, ESC_TEST_T0 + 5);
	assert_int_equal(ok.attempts, 1);

	esc_webhook_after_attempt(&o, &d, 500, ESC_TEST_T0, 0.5);
	assert_string_equal(d.status, ESC_WD_PENDING);
	assert_int_equal(d.attempts, 1);
	assert_int_equal(d.last_status_code, 500);
	assert_int_equal(d.next_at_ms, ESC_TEST_T0 + 15000);
	esc_webhook_after_attempt(&o, &d, 0, ESC_TEST_T0 + 20000, 0.5);
	assert_int_equal(d.next_at_ms, ESC_TEST_T0 + 20000 + 30000);
	/* The last retry is at retry_for (72 h) from the delivery's start ... */
	esc_webhook_after_attempt(&o, &d, 503, ESC_TEST_T0 + 72 * HOUR_MS - 1000, 0.99);
	assert_string_equal(d.status, ESC_WD_PENDING);
	assert_int_equal(d.next_at_ms, ESC_TEST_T0 + 72 * HOUR_MS);
	/* ... and one failing then is the end. */
	esc_webhook_after_attempt(&o, &d, 503, ESC_TEST_T0 + 72 * HOUR_MS, 0.5);
	assert_string_equal(d.status, ESC_WD_FAILED);
	assert_int_equal(d.attempts, 4);
	assert_int_equal(d.delivered_at_ms, 0);
}

static void test_options_read_the_delivery_keys(void **state)
{
	struct esc_webhook_options o;
	char err[200];
	(void)state;
	esc_webhook_options_default(&o);
	assert_int_equal(o.retry_first_ms, 30000);
	assert_int_equal(o.retry_max_ms, 6 * HOUR_MS);
	assert_int_equal(o.retry_for_ms, 72 * HOUR_MS);
	assert_int_equal(o.disable_after_ms, 72 * HOUR_MS);
	assert_int_equal(o.retention_ms, 30 * 24 * HOUR_MS);
	assert_int_equal(esc_webhook_option_set(&o, "retry_first_seconds", "5", err, sizeof err),
			 0);
	assert_int_equal(o.retry_first_ms, 5000);
	assert_int_equal(esc_webhook_option_set(&o, "retention_days", "7", err, sizeof err), 0);
	assert_int_equal(o.retention_ms, 7 * 24 * HOUR_MS);
	assert_int_equal(esc_webhook_option_set(&o, "retry_for_hours", "24", err, sizeof err), 0);
	assert_int_equal(o.retry_for_ms, 24 * HOUR_MS);
	assert_int_equal(
		esc_webhook_option_set(&o, "request_timeout_seconds", "2", err, sizeof err), 0);
	assert_int_equal(o.request_timeout_ms, 2000);
	assert_int_equal(esc_webhook_option_set(&o, "retry_max_seconds", "-1", err, sizeof err),
			 ESC_EINVAL);
	assert_non_null(strstr(err, "webhooks.retry_max_seconds"));
	assert_int_equal(esc_webhook_option_set(&o, "retention_days", "0", err, sizeof err),
			 ESC_EINVAL);
	assert_int_equal(esc_webhook_option_set(&o, "retry_soon", "1", err, sizeof err),
			 ESC_EINVAL);
}

/* ---- against the receiver ---- */

/* The seeded flows: a cancellation accepted, one rejected then shipped
 * and delivered, an unpaid order cancelled. */
static void seed_flows(struct esc_fixture *f)
{
	struct esc_order a = one_order(f), b = one_order(f), c = one_order(f);
	a = esc_fixture_pay(f, &a, ESC_METHOD_CARD);
	b = esc_fixture_pay(f, &b, ESC_METHOD_CARD);
	a = esc_fixture_request(f, &a, "no_longer_needed", ESC_REFUND_TO_ORIGINAL);
	(void)esc_fixture_as(f, &a, ESC_EV_ACCEPT_CANCELLATION, ESC_ACTOR_SELLER);
	struct esc_command cmd;
	struct esc_result res;
	esc_command_init(&cmd, ESC_EV_SHIP, ESC_ACTOR_SELLER, f->seller.id, b.id);
	cmd.args.carrier = "DHL";
	cmd.args.tracking = "TRACK123";
	assert_int_equal(esc_fixture_run(f, &cmd, &res), 0);
	b = res.order;
	(void)esc_fixture_as(f, &b, ESC_EV_DELIVER, ESC_ACTOR_OPERATOR);
	(void)esc_fixture_as(f, &c, ESC_EV_CANCEL, ESC_ACTOR_BUYER);
}

/* Every request at path: signed with its secret, each event once, and
 * each order's events in the order of its versions. */
static size_t check_arrivals(const char *path)
{
	size_t n = 0;
	pthread_mutex_lock(&rx.lock);
	for (size_t i = 0; i < rx.seen_n; i++) {
		const struct seen *s = &rx.seen[i];
		if (strcmp(s->path, path))
			continue;
		n++;
		assert_true(s->valid_new);
		json_t *j = json_loads(s->body, 0, NULL);
		assert_non_null(j);
		assert_string_equal(json_string_value(json_object_get(j, "id")), s->event_id);
		const char *order = json_string_value(json_object_get(j, "order_id"));
		json_int_t version = json_integer_value(json_object_get(j, "version"));
		for (size_t k = 0; k < i; k++) {
			const struct seen *t = &rx.seen[k];
			if (strcmp(t->path, path))
				continue;
			assert_string_not_equal(t->event_id, s->event_id);
			json_t *tj = json_loads(t->body, 0, NULL);
			const char *torder = json_string_value(json_object_get(tj, "order_id"));
			if (order && torder && !strcmp(order, torder))
				assert_true(json_integer_value(json_object_get(tj, "version")) <
					    version);
			json_decref(tj);
		}
		json_decref(j);
	}
	pthread_mutex_unlock(&rx.lock);
	return n;
}

static void test_each_event_arrives_once_signed_in_version_order(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_webhook_options o = options();
	receiver_reset();
	endpoint_add(f, "/all", "*", false, 0);
	endpoint_add(f, "/cancellations", "cancellation.*", false, 0);
	/* The worker's own thread, woken by the commits. */
	struct esc_webhook_worker *w = worker_new(f, &o);
	assert_int_equal(esc_webhook_worker_start(w), 0);
	seed_flows(f);
	int64_t events = outbox_count(f), start = real_ms();
	assert_true(events >= 10);
	while (seen_at("/all") < (size_t)events && real_ms() - start < 20000)
		usleep(10 * 1000);
	usleep(200 * 1000); /* a duplicate, if any, would show by now */
	esc_webhook_worker_free(w);
	assert_int_equal(check_arrivals("/all"), (size_t)events);
	size_t cancellations = check_arrivals("/cancellations");
	assert_true(cancellations >= 2); /* requested, accepted */
	pthread_mutex_lock(&rx.lock);
	for (size_t i = 0; i < rx.seen_n; i++)
		if (!strcmp(rx.seen[i].path, "/cancellations"))
			assert_non_null(strstr(rx.seen[i].body, "\"type\":\"cancellation."));
	pthread_mutex_unlock(&rx.lock);
	struct esc_webhook_stats st = stats(f);
	assert_int_equal(st.deliveries_pending, 0);
	assert_int_equal(st.oldest_undelivered_ms, 0);
	assert_int_equal(counter(f, ESC_WC_DELIVERED), events + (int64_t)cancellations);
	assert_int_equal(counter(f, ESC_WC_RETRIED), 0);
}

static void test_a_500_is_retried_on_the_schedule_as_the_clock_moves(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_webhook_options o = options();
	receiver_reset();
	endpoint_add(f, "/flaky", "order.*", false, 0);
	struct esc_webhook_worker *w = worker_new(f, &o);
	(void)one_order(f); /* order.created */
	assert_int_equal(poll_until(w, "/flaky", 1, 5000), 1);
	assert_int_equal(counter(f, ESC_WC_RETRIED), 1);
	assert_int_equal(stats(f).deliveries_pending, 1);
	/* Not before its time: every delay is 1 s at least. */
	advance(f, 500);
	poll_idle(w);
	assert_int_equal(seen_at("/flaky"), 1);
	pthread_mutex_lock(&rx.lock);
	rx.flaky_ok = true;
	pthread_mutex_unlock(&rx.lock);
	/* The first retry is due within retry_first (30 s). */
	advance(f, 30000);
	assert_int_equal(poll_until(w, "/flaky", 2, 5000), 2);
	poll_idle(w);
	assert_int_equal(seen_at("/flaky"), 2);
	assert_int_equal(counter(f, ESC_WC_DELIVERED), 1);
	assert_int_equal(counter(f, ESC_WC_ATTEMPTS), 2);
	assert_int_equal(stats(f).deliveries_pending, 0);
	pthread_mutex_lock(&rx.lock);
	assert_true(rx.seen[0].valid_new && rx.seen[1].valid_new);
	assert_string_equal(rx.seen[0].event_id, rx.seen[1].event_id);
	assert_string_equal(rx.seen[0].body, rx.seen[1].body);
	pthread_mutex_unlock(&rx.lock);
	esc_webhook_worker_free(w);
}

static void test_never_2xx_fails_after_3_days_and_disables_the_endpoint(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_webhook_options o = options();
	receiver_reset();
	struct esc_webhook_endpoint bad = endpoint_add(f, "/fail", "order.*", false, 0);
	endpoint_add(f, "/watch", "webhook_endpoint.*", false, 0);
	struct esc_webhook_worker *w = worker_new(f, &o);
	(void)one_order(f);
	assert_int_equal(poll_until(w, "/fail", 1, 5000), 1);
	/* Each 6 hours (the longest delay) one more attempt, for 3 days. */
	for (int i = 1; i <= 13; i++) {
		advance(f, 6 * HOUR_MS);
		(void)poll_until(w, "/fail", (size_t)i + 1, 3000);
		poll_idle(w);
	}
	(void)poll_until(w, "/watch", 1, 5000);
	size_t attempts = seen_at("/fail");
	/* 13 at 0, 6, ..., 72 h; or 12 when the endpoint was disabled first. */
	assert_true(attempts == 12 || attempts == 13);
	assert_int_equal(counter(f, ESC_WC_FAILED), 1);
	assert_int_equal(counter(f, ESC_WC_RETRIED), (int64_t)attempts - (attempts == 13));
	assert_int_equal(stats(f).deliveries_pending, 0);
	struct esc_webhook_endpoint now = endpoint_get(f, bad.id);
	assert_int_equal(now.enabled, 0);
	assert_int_equal(now.disabled_at_ms, ESC_TEST_T0 + 72 * HOUR_MS);
	assert_int_equal(counter(f, ESC_WC_DISABLED), 1);
	assert_int_equal(stats(f).endpoints_disabled, 1);
	/* The event: the endpoint as the API shows it, never its secret. */
	assert_int_equal(seen_at("/watch"), 1);
	struct seen s = last_at("/watch");
	assert_true(s.valid_new);
	json_t *j = json_loads(s.body, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "type")),
			    "webhook_endpoint.disabled");
	assert_true(json_is_null(json_object_get(j, "order_id")));
	json_t *obj = json_object_get(json_object_get(j, "data"), "object");
	assert_string_equal(json_string_value(json_object_get(obj, "id")), bad.id);
	assert_true(json_is_false(json_object_get(obj, "enabled")));
	assert_null(json_object_get(obj, "secret"));
	assert_null(strstr(s.body, bad.secret));
	json_decref(j);
	free(s.body);
	/* Disabled, it is sent nothing more. */
	(void)one_order(f);
	poll_idle(w);
	assert_int_equal(seen_at("/fail"), attempts);
	esc_webhook_worker_free(w);
}

static void test_a_hanging_receiver_times_out_while_another_is_served(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_webhook_options o = options();
	o.request_timeout_ms = 2000;
	receiver_reset();
	endpoint_add(f, "/hang", "order.*", false, 0);
	endpoint_add(f, "/quick", "order.*", false, 0);
	struct esc_webhook_worker *w = worker_new(f, &o);
	(void)one_order(f);
	int64_t start = real_ms();
	/* The quick one served and done while the hanging one is still in
	 * flight: it held no one up. */
	while ((seen_at("/quick") < 1 || seen_at("/hang") < 1 ||
		esc_webhook_worker_in_flight(w) > 1) &&
	       real_ms() - start < 1500)
		assert_int_equal(esc_webhook_worker_poll(w, 20), 0);
	assert_int_equal(seen_at("/quick"), 1);
	assert_int_equal(seen_at("/hang"), 1);
	assert_int_equal(esc_webhook_worker_in_flight(w), 1);
	assert_int_equal(counter(f, ESC_WC_DELIVERED), 1);
	while (esc_webhook_worker_in_flight(w) && real_ms() - start < 5000)
		assert_int_equal(esc_webhook_worker_poll(w, 20), 0);
	/* Timed out after the request timeout (2 s here): retried later. */
	assert_int_equal(esc_webhook_worker_in_flight(w), 0);
	assert_true(real_ms() - start >= 1900);
	assert_int_equal(counter(f, ESC_WC_DELIVERED), 1);
	assert_int_equal(counter(f, ESC_WC_RETRIED), 1);
	assert_int_equal(stats(f).deliveries_pending, 1);
	esc_webhook_worker_free(w);
}

/* A hanging receiver takes at most 32 of the worker's transfers: the
 * others stay free for the other endpoints. */
static void test_a_hanging_receiver_holds_at_most_32_deliveries(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_webhook_options o = options();
	o.request_timeout_ms = 2000;
	receiver_reset();
	endpoint_add(f, "/hang", "order.created", false, 0);
	endpoint_add(f, "/quick", "order.created", false, 0);
	struct esc_webhook_worker *w = worker_new(f, &o);
	for (int i = 0; i < 40; i++)
		(void)one_order(f);
	int64_t start = real_ms();
	while (seen_at("/quick") < 40 && real_ms() - start < 5000)
		assert_int_equal(esc_webhook_worker_poll(w, 20), 0);
	assert_int_equal(seen_at("/quick"), 40);
	/* The quick ones' answers are read; the hanging ones stay. */
	while ((esc_webhook_worker_in_flight(w) > 32 || seen_at("/hang") < 32) &&
	       real_ms() - start < 1500)
		assert_int_equal(esc_webhook_worker_poll(w, 20), 0);
	assert_int_equal(seen_at("/hang"), 32);
	assert_int_equal(esc_webhook_worker_in_flight(w), 32);
	esc_webhook_worker_free(w);
}

static void test_a_rotated_secret_signs_beside_the_new_for_24_hours(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_webhook_options o = options();
	receiver_reset();
	endpoint_add(f, "/rot", "order.*", true, ESC_TEST_T0 + 24 * HOUR_MS);
	struct esc_webhook_worker *w = worker_new(f, &o);
	(void)one_order(f);
	assert_int_equal(poll_until(w, "/rot", 1, 5000), 1);
	struct seen s = last_at("/rot");
	assert_true(s.valid_new);
	assert_true(s.valid_old);
	assert_non_null(strstr(strstr(s.signature, "v1=") + 3, "v1="));
	free(s.body);
	advance(f, 24 * HOUR_MS);
	(void)one_order(f);
	assert_int_equal(poll_until(w, "/rot", 2, 5000), 2);
	s = last_at("/rot");
	assert_true(s.valid_new);
	assert_false(s.valid_old);
	assert_null(strstr(strstr(s.signature, "v1=") + 3, "v1="));
	free(s.body);
	esc_webhook_worker_free(w);
}

static void test_events_older_than_retention_are_purged_with_deliveries(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_webhook_options o = options();
	receiver_reset();
	/* Retried for longer than events are kept: still pending when purged. */
	o.retry_for_ms = o.disable_after_ms = 40 * 24 * HOUR_MS;
	endpoint_add(f, "/kept", "order.*", false, 0);
	endpoint_add(f, "/fail", "order.*", false, 0);
	struct esc_webhook_worker *w = worker_new(f, &o);
	struct esc_order a = one_order(f);
	(void)esc_fixture_pay(f, &a, ESC_METHOD_CARD);
	assert_int_equal(poll_until(w, "/kept", 2, 5000), 2);
	assert_int_equal(outbox_count(f), 2);
	assert_int_equal(stats(f).deliveries_pending, 2);
	/* Kept 30 days ... */
	advance(f, 29 * 24 * HOUR_MS);
	poll_idle(w);
	assert_int_equal(outbox_count(f), 2);
	/* ... then gone, with their deliveries (pending ones too). */
	advance(f, 2 * 24 * HOUR_MS);
	struct esc_order b = one_order(f); /* a new event stays */
	(void)b;
	(void)poll_until(w, "/kept", 3, 5000);
	poll_idle(w);
	assert_int_equal(outbox_count(f), 1);
	struct esc_webhook_stats st = stats(f);
	assert_int_equal(st.deliveries_pending, 1); /* the new event's to /fail */
	assert_int_equal(st.oldest_undelivered_ms, ESC_TEST_T0 + 31 * 24 * HOUR_MS);
	/* The newest event outlives its 30 days: an empty outbox would number
	 * the next event (SQLite) as an old one, and give its id again. */
	advance(f, 31 * 24 * HOUR_MS);
	poll_idle(w);
	poll_idle(w);
	assert_int_equal(outbox_count(f), 1);
	esc_webhook_worker_free(w);
}

/* Issue 15: a delivery is held by its claim and by the process's lease
 * (ESC_SQL_DELIVERY_HELD). The worker renews the lease while it holds a
 * delivery, once a quarter of it has passed, and not while it holds none:
 * an idle daemon writes nothing. The lease runs on a clock moved by hand
 * (an engine of its own on the fixture's store, as test_deadlines does). */
static void issue_15_the_lease_is_renewed_while_a_delivery_is_in_flight(void **state)
{
	struct esc_fixture *f = *state;
	struct esc_webhook_options o = options();
	o.request_timeout_ms = 20000; /* the receiver answers when told */
	const int64_t real0 = ESC_TEST_T0 + 24 * HOUR_MS, lease = 2000;
	struct esc_clock real;
	esc_clock_init_manual(&real, real0);
	struct esc_engine *e = esc_fixture_process(f, &real, lease);
	receiver_reset();
	endpoint_add(f, "/hang", "order.created", false, 0);
	struct esc_webhook_worker *w = NULL;
	assert_int_equal(esc_webhook_worker_new(e, &o, &w), 0);
	assert_int_equal(esc_webhook_worker_poll(w, 0), 0); /* the first round */
	assert_int_equal(esc_fixture_heartbeat(f, e), real0);
	esc_clock_advance(&real, lease);
	poll_idle(w);
	assert_int_equal(esc_fixture_heartbeat(f, e), real0);

	/* The claim renews the lease with the delivery it takes... */
	(void)one_order(f);
	int64_t start = real_ms();
	while (seen_at("/hang") < 1 && real_ms() - start < 5000)
		assert_int_equal(esc_webhook_worker_poll(w, 20), 0);
	assert_int_equal(seen_at("/hang"), 1);
	assert_int_equal(esc_webhook_worker_in_flight(w), 1);
	assert_int_equal(esc_fixture_heartbeat(f, e), real0 + lease);
	/* ... and the rounds while it is in flight, each quarter. */
	esc_clock_advance(&real, lease / 4 - 1);
	assert_int_equal(esc_webhook_worker_poll(w, 0), 0);
	assert_int_equal(esc_fixture_heartbeat(f, e), real0 + lease);
	esc_clock_advance(&real, 1);
	assert_int_equal(esc_webhook_worker_poll(w, 0), 0);
	assert_int_equal(esc_fixture_heartbeat(f, e), real0 + lease + lease / 4);

	/* Answered: nothing held, nothing renewed. */
	pthread_mutex_lock(&rx.lock);
	rx.released = true;
	pthread_cond_broadcast(&rx.cond);
	pthread_mutex_unlock(&rx.lock);
	start = real_ms();
	while (esc_webhook_worker_in_flight(w) && real_ms() - start < 5000)
		assert_int_equal(esc_webhook_worker_poll(w, 20), 0);
	assert_int_equal(esc_webhook_worker_in_flight(w), 0);
	assert_int_equal(stats(f).deliveries_pending, 0); /* delivered */
	pthread_mutex_lock(&rx.lock);
	rx.released = false;
	pthread_mutex_unlock(&rx.lock);
	int64_t last = esc_fixture_heartbeat(f, e);
	esc_clock_advance(&real, 2 * lease);
	poll_idle(w);
	assert_int_equal(esc_fixture_heartbeat(f, e), last);
	esc_webhook_worker_free(w);
	esc_engine_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retry_delay_doubles_up_to_the_cap_with_full_jitter),
		cmocka_unit_test(test_after_attempt_delivers_retries_then_fails_after_retry_for),
		cmocka_unit_test(test_options_read_the_delivery_keys),
		cmocka_unit_test_setup_teardown(
			test_each_event_arrives_once_signed_in_version_order, esc_fixture_setup,
			esc_fixture_teardown),
		cmocka_unit_test_setup_teardown(
			test_a_500_is_retried_on_the_schedule_as_the_clock_moves, esc_fixture_setup,
			esc_fixture_teardown),
		cmocka_unit_test_setup_teardown(
			test_never_2xx_fails_after_3_days_and_disables_the_endpoint,
			esc_fixture_setup, esc_fixture_teardown),
		cmocka_unit_test_setup_teardown(
			test_a_hanging_receiver_times_out_while_another_is_served,
			esc_fixture_setup, esc_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_a_hanging_receiver_holds_at_most_32_deliveries,
						esc_fixture_setup, esc_fixture_teardown),
		cmocka_unit_test_setup_teardown(
			test_a_rotated_secret_signs_beside_the_new_for_24_hours, esc_fixture_setup,
			esc_fixture_teardown),
		cmocka_unit_test_setup_teardown(
			test_events_older_than_retention_are_purged_with_deliveries,
			esc_fixture_setup, esc_fixture_teardown),
		cmocka_unit_test_setup_teardown(
			issue_15_the_lease_is_renewed_while_a_delivery_is_in_flight,
			esc_fixture_setup, esc_fixture_teardown),
	};
	esc_test_store_or_skip("delivery");
	return cmocka_run_group_tests(tests, receiver_setup, receiver_teardown);
}
