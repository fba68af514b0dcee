/* worker.c - the webhook delivery worker; see worker.h. */
#include "webhook/worker.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "util/log.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/text.h"
#include "util/timefmt.h"
#include "webhook/endpoint.h"
#include "webhook/feed.h"
#include "webhook/sender.h"
#include "webhook/signature.h"
#include "webhook/url.h"

/* Rows a transaction takes at most: events fanned out, deliveries
 * claimed, events purged. */
#define FANOUT_MAX 256
#define CLAIM_MAX  64
#define PURGE_MAX  500
/* A claim is free after the longest attempt and this margin, even if its
 * holder lives on (it lost track of it). */
#define CLAIM_MARGIN_MS 60000
/* Upkeep (disable, purge) runs this often in real time, and at once when
 * escrowd's clock moved. */
#define UPKEEP_EVERY_MS 1000
/* The loop's waits: while work is in flight, and the longest idle one;
 * and the least time between the starts of two rounds, so that under load
 * a round takes the events of several commits in one transaction instead
 * of adding a transaction to each commit. */
#define WAIT_BUSY_MS 10
#define WAIT_IDLE_MS 200
#define ROUND_MIN_MS 5
/* The same when the last round found no delivery to make, claim or
 * record (events of no endpoint are fanned out all the same, a batch each
 * round): no commit then wakes the worker sooner. */
#define ROUND_IDLE_MS         100
#define ENDPOINTS_FAILING_MAX 16

/* A delivery in flight: the claimed row and where it went. */
struct flight {
	bool used;
	struct esc_webhook_delivery d;
	char url[sizeof(((struct esc_webhook_endpoint *)0)->url)];
};

/* An attempt's outcome, to record. */
struct outcome {
	struct esc_webhook_delivery d; /* as it becomes */
	struct esc_webhook_attempt a;
	char url[sizeof(((struct esc_webhook_endpoint *)0)->url)];
	bool conflict; /* its claim had passed on: not recorded */
};

struct esc_webhook_worker {
	struct esc_engine *e;
	struct esc_webhook_options opt;
	struct esc_webhook_sender *sender;
	struct esc_process process;
	bool first; /* no claim made yet */
	struct flight *flights;
	size_t flights_max, in_flight;
	struct outcome *outcomes; /* flights_max of them: one round's */
	size_t outcomes_n;
	/* One round's scratch (poll_round), made once: its claims make it
	 * larger than what malloc serves from its heap, and a round made at
	 * each poll was a map and an unmap of memory several times a second
	 * on an idle daemon. */
	struct round *round;
	int64_t upkeep_real_ms, upkeep_now_ms; /* when upkeep last ran */
	int idle_ms;                           /* the next idle wait */
	/* The store's failures: a run of them is logged at its first and
	 * when a round works again (log_store); round_failed: this round's. */
	struct esc_log_run store_run;
	bool round_failed;
	pthread_t thread;
	bool started;
	atomic_bool stop;
};

/* ---- the schedule (pure) ---- */

int64_t esc_webhook_retry_delay_ms(const struct esc_webhook_options *o, int64_t attempts,
				   double draw)
{
	int64_t ceiling = o->retry_first_ms > 0 ? o->retry_first_ms : 1;
	int64_t floor_ms = 1000;

	for (int64_t i = 1; i < attempts && ceiling < o->retry_max_ms; i++)
		ceiling *= 2;
	if (ceiling > o->retry_max_ms)
		ceiling = o->retry_max_ms;
	if (draw < 0 || draw >= 1)
		draw = 0;
	if (floor_ms > ceiling)
		floor_ms = ceiling;
	int64_t delay = (int64_t)(draw * (double)ceiling);
	return delay < floor_ms ? floor_ms : delay;
}

void esc_webhook_after_attempt(const struct esc_webhook_options *o, struct esc_webhook_delivery *d,
			       int status, int64_t now_ms, double draw)
{
	int64_t last = d->created_at_ms + o->retry_for_ms;

	d->attempts++;
	d->last_attempt_at_ms = now_ms;
	d->last_status_code = status;
	if (status >= 200 && status < 300) {
		snprintf(d->status, sizeof d->status, "%s", ESC_WD_DELIVERED);
		d->delivered_at_ms = now_ms;
	} else if (now_ms >= last) {
		snprintf(d->status, sizeof d->status, "%s", ESC_WD_FAILED);
	} else {
		int64_t next = now_ms + esc_webhook_retry_delay_ms(o, d->attempts, draw);
		snprintf(d->status, sizeof d->status, "%s", ESC_WD_PENDING);
		d->next_at_ms = next < last ? next : last;
	}
}

/* A draw in [0, 1) for the jitter: randomness stays out of the schedule. */
static double draw(void)
{
	return (double)(randombytes_random() >> 8) / (double)(1u << 24);
}

/* ---- store transactions ---- */

struct round {
	struct esc_webhook_worker *w;
	int64_t now_ms;
	size_t events, made;
	size_t room, n;
	bool beat; /* the lease was renewed */
	/* Last: a round starts with the members above zeroed, these as the
	 * last round left them (the first n are written before being read). */
	struct esc_webhook_delivery claimed[CLAIM_MAX];
};

/* Fan out, claim, renew the lease: one transaction. */
static int round_tx(struct esc_store *s, void *arg)
{
	struct round *r = arg;
	struct esc_webhook_worker *w = r->w;
	int64_t real = w->process.heartbeat_ms;
	int64_t until =
		real + w->opt.connect_timeout_ms + w->opt.request_timeout_ms + CLAIM_MARGIN_MS;
	int rc = 0;

	r->events = r->made = r->n = 0;
	if (w->first)
		ESC_STORE(rc, s, processes_purge, real);
	/* A store one process serves: whoever held claims there is gone. */
	if (!rc && w->first && !s->ops->shared)
		ESC_STORE(rc, s, webhook_deliveries_release, NULL);
	if (!rc)
		ESC_STORE(rc, s, webhook_fanout, r->now_ms, FANOUT_MAX, &r->events, &r->made);
	if (!rc && r->room)
		ESC_STORE(rc, s, webhook_deliveries_claim, r->now_ms, w->process.id, real, until,
			  r->claimed, r->room, &r->n);
	/* The lease holds the deliveries claimed and in flight: it is
	 * renewed with them once a quarter of it has passed, counted from
	 * the deadline worker's renewal too (the engine keeps the later of
	 * the two), and not while this process holds none: an idle daemon
	 * writes nothing (claim_tx in engine.c). */
	r->beat = !rc && (w->first || ((r->n || w->in_flight) && esc_engine_lease_due(w->e, real)));
	if (r->beat)
		ESC_STORE(rc, s, process_beat, &w->process);
	return rc;
}

int esc_webhook_fanout_before_change(struct esc_store *s, int64_t now_ms)
{
	size_t events = 0, made = 0;
	int rc = 0;

	do
		ESC_STORE(rc, s, webhook_fanout, now_ms, FANOUT_MAX, &events, &made);
	while (!rc && events == FANOUT_MAX);
	return rc;
}

struct finishing {
	struct esc_webhook_worker *w;
};

static int finish_tx(struct esc_store *s, void *arg)
{
	struct esc_webhook_worker *w = ((struct finishing *)arg)->w;
	int rc = 0;

	for (size_t i = 0; !rc && i < w->outcomes_n; i++) {
		struct outcome *o = &w->outcomes[i];
		ESC_STORE(rc, s, webhook_delivery_finish, w->process.id, &o->d, &o->a);
		o->conflict = rc == ESC_ECONFLICT;
		if (rc == ESC_ECONFLICT)
			rc = 0;
	}
	return rc;
}

/* A store failure of this round, to the log: while the store does not
 * answer, each round fails the same way (about five a second, each in
 * several steps), and only the first of them is written, then the round
 * that works again (poll_round). */
static void log_store_said(struct esc_webhook_worker *w, const char *what, int rc, const char *said)
{
	/* A try is a round: its first failure counts. */
	if (!rc || w->round_failed)
		return;
	w->round_failed = true;
	esc_log_run_failed(&w->store_run, "webhooks", what, esc_error_message(rc), said);
}

/* The same for a failure of esc_engine_transact. */
static void log_store(struct esc_webhook_worker *w, const char *what, int rc)
{
	log_store_said(w, what, rc, esc_engine_store_said());
}

/* ---- sending ---- */

static struct outcome *outcome_new(struct esc_webhook_worker *w,
				   const struct esc_webhook_delivery *d, const char *url)
{
	struct outcome *o = &w->outcomes[w->outcomes_n++];

	memset(o, 0, sizeof *o);
	o->d = *d;
	snprintf(o->url, sizeof o->url, "%s", url);
	snprintf(o->a.delivery_id, sizeof o->a.delivery_id, "%s", d->id);
	return o;
}

/* An attempt that could not be made: failed for good when final (its
 * endpoint or event is gone), else retried on the schedule. */
static void outcome_unsent(struct esc_webhook_worker *w, const struct esc_webhook_delivery *d,
			   const char *url, const char *error, bool final, int64_t now_ms)
{
	struct outcome *o = outcome_new(w, d, url);

	esc_webhook_after_attempt(&w->opt, &o->d, 0, now_ms, draw());
	if (final && strcmp(o->d.status, ESC_WD_DELIVERED)) {
		snprintf(o->d.status, sizeof o->d.status, "%s", ESC_WD_FAILED);
		o->d.next_at_ms = now_ms;
	}
	o->a.n = o->d.attempts;
	o->a.at_ms = now_ms;
	snprintf(o->a.error, sizeof o->a.error, "%s", error);
}

static struct flight *flight_free_slot(struct esc_webhook_worker *w)
{
	for (size_t i = 0; i < w->flights_max; i++)
		if (!w->flights[i].used)
			return &w->flights[i];
	return NULL;
}

/* What is needed to send d: its endpoint (kept from the last delivery
 * when the same) and its event's JSON. */
struct prepared {
	struct esc_webhook_endpoint ep;
	bool ep_found;
	struct esc_strbuf body;
	const char *missing; /* why it cannot be sent at all */
};

static int prepare(struct esc_store *s, const struct esc_webhook_delivery *d, struct prepared *p)
{
	struct esc_outbox_row row;
	char *payload = NULL;
	int rc = 0;

	p->missing = NULL;
	if (!p->ep_found || strcmp(p->ep.id, d->endpoint_id)) {
		ESC_STORE(rc, s, webhook_endpoint_get, d->endpoint_id, &p->ep);
		p->ep_found = !rc;
		if (rc == ESC_ENOTFOUND) {
			p->missing = "the endpoint was deleted";
			return 0;
		}
		if (rc)
			return rc;
	}
	if (!p->ep.enabled) {
		p->missing = "the endpoint is disabled";
		return 0;
	}
	ESC_STORE(rc, s, webhook_event_get, d->event_seq, &row, &payload);
	if (rc == ESC_ENOTFOUND) {
		p->missing = "the event was purged";
		return 0;
	}
	esc_strbuf_release(&p->body);
	esc_strbuf_init(&p->body, ESC_WEBHOOK_BODY_BYTES_MAX);
	if (!rc)
		rc = esc_feed_event_json(&row, &p->body);
	free(payload);
	return rc;
}

/* Sign p's body and hand it to the sender; an invalid request (its URL)
 * is an attempt that failed. */
static void send_one(struct esc_webhook_worker *w, const struct esc_webhook_delivery *d,
		     struct prepared *p, int64_t now_ms)
{
	char signature[ESC_WEBHOOK_SIGNATURE_SIZE], event_id[ESC_FEED_ID_SIZE];
	const char *body = esc_strbuf_str(&p->body);
	struct flight *f = flight_free_slot(w);
	int rc = 0;

	esc_feed_event_id(d->event_seq, event_id);
	/* t is the real Unix time: the receiver compares it with its clock. */
	esc_webhook_signature_header(signature, sizeof signature, (int64_t)time(NULL), body,
				     p->body.len, p->ep.secret,
				     esc_webhook_previous(&p->ep, now_ms));
	struct esc_webhook_request req = {.id = d->id,
					  .url = p->ep.url,
					  .body = body,
					  .body_bytes = p->body.len,
					  .event_id = event_id,
					  .signature = signature};
	rc = f ? esc_webhook_sender_add(w->sender, &req) : ESC_ELIMIT;
	if (rc) {
		outcome_unsent(w, d, p->ep.url, esc_error_message(rc), false, now_ms);
		return;
	}
	f->used = true;
	f->d = *d;
	f->d.last_attempt_at_ms = now_ms; /* when it was sent, until it ends */
	snprintf(f->url, sizeof f->url, "%s", p->ep.url);
	w->in_flight++;
}

static int send_claimed(struct esc_webhook_worker *w, const struct round *r)
{
	struct esc_store *s = esc_engine_store_acquire(w->e);
	struct prepared *p = calloc(1, sizeof *p);
	int rc = p ? 0 : ESC_ENOMEM;

	if (p)
		esc_strbuf_init(&p->body, ESC_WEBHOOK_BODY_BYTES_MAX);
	/* A delivery that cannot be prepared (a store error, a body over the
	 * limit) is an attempt that failed, retried on its schedule: the
	 * others of the batch go on, none is left claimed and unsent. */
	for (size_t i = 0; p && i < r->n; i++) {
		const struct esc_webhook_delivery *d = &r->claimed[i];
		int err = prepare(s, d, p);
		if (err) {
			log_store_said(w, "a delivery's event or endpoint", err,
				       esc_store_last_error(s));
			outcome_unsent(w, d, p->ep_found ? p->ep.url : "", esc_error_message(err),
				       false, r->now_ms);
		} else if (p->missing) {
			outcome_unsent(w, d, p->ep_found ? p->ep.url : "", p->missing, true,
				       r->now_ms);
		} else {
			send_one(w, d, p, r->now_ms);
		}
	}
	esc_engine_store_release(w->e, s);
	if (p)
		esc_strbuf_release(&p->body);
	free(p);
	return rc;
}

/* ---- recording ---- */

static struct flight *flight_of(struct esc_webhook_worker *w, const char *id)
{
	for (size_t i = 0; i < w->flights_max; i++)
		if (w->flights[i].used && !strcmp(w->flights[i].d.id, id))
			return &w->flights[i];
	return NULL;
}

/* The answer's first bytes as text: NULs made '?', what is not UTF-8
 * dropped. */
static void answer_text(char *dst, size_t size, const struct esc_webhook_result *res)
{
	size_t n = res->answer_bytes < size - 1 ? res->answer_bytes : size - 1;

	for (size_t i = 0; i < n; i++)
		dst[i] = res->answer[i] ? res->answer[i] : '?';
	dst[n] = '\0';
	esc_utf8_mend(dst);
}

static void take_results(struct esc_webhook_worker *w, int64_t now_ms)
{
	struct esc_webhook_result res;

	while (w->outcomes_n < w->flights_max + CLAIM_MAX &&
	       esc_webhook_sender_result(w->sender, &res) == 1) {
		struct flight *f = flight_of(w, res.id);
		if (!f)
			continue;
		struct outcome *o = outcome_new(w, &f->d, f->url);
		int64_t sent = f->d.last_attempt_at_ms;
		esc_webhook_after_attempt(&w->opt, &o->d, res.http_status, now_ms, draw());
		o->d.last_attempt_at_ms = sent;
		o->a.n = o->d.attempts;
		o->a.at_ms = sent;
		o->a.status_code = res.http_status;
		o->a.duration_ms = res.duration_ms;
		snprintf(o->a.error, sizeof o->a.error, "%s", res.error);
		esc_utf8_mend(o->a.error);
		answer_text(o->a.answer, sizeof o->a.answer, &res);
		f->used = false;
		w->in_flight--;
	}
}

/* One JSON line on stderr for a failed attempt: the endpoint's URL as a
 * log may show it (esc_webhook_url_for_log); its id names it whole. */
static void log_failed(const struct outcome *o)
{
	char event_id[ESC_FEED_ID_SIZE], next[ESC_TIME_SIZE], url[sizeof o->url];
	bool failed = !strcmp(o->d.status, ESC_WD_FAILED);
	esc_webhook_url_for_log(o->url, url, sizeof url);

	esc_feed_event_id(o->d.event_seq, event_id);
	esc_time_format(o->d.next_at_ms, next);
	esc_log(ESC_LOG_WARN, "webhook attempt failed", ESC_LOG_STR("delivery_id", o->d.id),
		ESC_LOG_STR("event_id", event_id), ESC_LOG_STR("endpoint_id", o->d.endpoint_id),
		ESC_LOG_STR("url", url), ESC_LOG_STR("status", o->d.status),
		ESC_LOG_INT("attempt", o->a.n), ESC_LOG_INT("status_code", o->a.status_code),
		ESC_LOG_STR("error", o->a.error), ESC_LOG_INT("duration_ms", o->a.duration_ms),
		ESC_LOG_STR("next_attempt_at", failed ? "failed" : next));
}

static void count(struct esc_webhook_worker *w, const struct outcome *o)
{
	enum esc_webhook_counter c = ESC_WC_RETRIED;

	if (!strcmp(o->d.status, ESC_WD_DELIVERED))
		c = ESC_WC_DELIVERED;
	else if (!strcmp(o->d.status, ESC_WD_FAILED))
		c = ESC_WC_FAILED;
	esc_engine_webhook_count(w->e, c, 1);
	esc_engine_webhook_count(w->e, ESC_WC_ATTEMPTS, 1);
	if (c != ESC_WC_DELIVERED)
		log_failed(o);
}

/* Record the round's outcomes in one transaction. On a store failure
 * they are dropped: the claims run out and the deliveries go again. */
static int record(struct esc_webhook_worker *w)
{
	struct finishing f = {w};
	int rc = 0;

	if (!w->outcomes_n)
		return 0;
	rc = esc_engine_transact_weak(w->e, finish_tx, &f);
	log_store(w, "recording attempts", rc);
	for (size_t i = 0; !rc && i < w->outcomes_n; i++)
		if (!w->outcomes[i].conflict)
			count(w, &w->outcomes[i]);
	w->outcomes_n = 0;
	return rc;
}

/* ---- upkeep: disable failing endpoints, purge old events ---- */

struct disable {
	int64_t now_ms, before_ms;
	size_t disabled;
	struct esc_webhook_endpoint eps[ENDPOINTS_FAILING_MAX];
};

/* Disable one endpoint and write its event (never its secret). */
static int disable_one(struct esc_store *s, struct esc_webhook_endpoint *ep, int64_t now_ms)
{
	struct esc_outbox_row row = {.at_ms = now_ms, .type = "webhook_endpoint.disabled"};
	json_t *j = NULL;
	char *payload = NULL;
	int rc = 0;

	rc = esc_webhook_fanout_before_change(s, now_ms);
	if (rc)
		return rc;
	ep->enabled = 0;
	ep->disabled_at_ms = now_ms;
	ep->updated_at_ms = now_ms;
	ESC_STORE(rc, s, webhook_endpoint_update, ep);
	if (rc)
		return rc;
	/* The event's data, as the engine writes a command's (feed.h). */
	j = json_pack("{s:o}", "object", esc_webhook_endpoint_json(ep, now_ms));
	payload = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!payload)
		return ESC_ENOMEM;
	row.payload = payload;
	ESC_STORE(rc, s, outbox_append, &row);
	free(payload);
	return rc;
}

static int disable_tx(struct esc_store *s, void *arg)
{
	struct disable *x = arg;
	size_t n = 0;
	int rc = 0;

	x->disabled = 0;
	ESC_STORE(rc, s, webhook_endpoints_failing, x->before_ms, x->eps, ENDPOINTS_FAILING_MAX,
		  &n);
	for (size_t i = 0; !rc && i < n; i++)
		rc = disable_one(s, &x->eps[i], x->now_ms);
	if (!rc)
		x->disabled = n;
	return rc;
}

struct purge {
	int64_t before_ms;
	size_t purged;
};

static int purge_tx(struct esc_store *s, void *arg)
{
	struct purge *x = arg;
	int rc;

	ESC_STORE(rc, s, webhook_purge, x->before_ms, PURGE_MAX, &x->purged);
	return rc;
}

static int upkeep(struct esc_webhook_worker *w, int64_t now_ms)
{
	int64_t real = esc_engine_real_ms(w->e);
	struct disable *x = NULL;
	struct purge p = {now_ms - w->opt.retention_ms, 0};
	int rc = 0;

	if (real - w->upkeep_real_ms < UPKEEP_EVERY_MS && now_ms == w->upkeep_now_ms)
		return 0;
	w->upkeep_real_ms = real;
	w->upkeep_now_ms = now_ms;
	x = calloc(1, sizeof *x);
	if (!x)
		return ESC_ENOMEM;
	x->now_ms = now_ms;
	x->before_ms = now_ms - w->opt.disable_after_ms;
	do {
		rc = esc_engine_transact(w->e, disable_tx, x);
		if (!rc && x->disabled)
			esc_engine_webhook_count(w->e, ESC_WC_DISABLED, (int64_t)x->disabled);
	} while (!rc && x->disabled == ENDPOINTS_FAILING_MAX);
	log_store(w, "disabling endpoints", rc);
	free(x);
	for (int i = 0; !rc && i < 20; i++) {
		rc = esc_engine_transact_weak(w->e, purge_tx, &p);
		if (p.purged < PURGE_MAX)
			break;
	}
	log_store(w, "purging events", rc);
	return rc;
}

/* ---- the loop ---- */

/* One round; *worked tells whether it found anything to do. */
static int poll_round(struct esc_webhook_worker *w, int wait_ms, bool *worked)
{
	struct round *r = w->round;
	int rc = 0, run = 0;

	*worked = false;
	w->round_failed = false;
	memset(r, 0, offsetof(struct round, claimed));
	r->w = w;
	r->now_ms = esc_engine_now(w->e);
	rc = upkeep(w, r->now_ms);
	r->room = w->flights_max - w->in_flight;
	if (r->room > CLAIM_MAX)
		r->room = CLAIM_MAX;
	esc_engine_process(w->e, &w->process);
	rc = esc_engine_transact_weak(w->e, round_tx, r);
	log_store(w, "fanout and claim", rc);
	if (!rc && r->beat)
		esc_engine_lease_renewed_at(w->e, w->process.heartbeat_ms);
	if (!rc)
		w->first = false;
	if (!rc && r->n)
		rc = send_claimed(w, r);
	*worked = r->made || r->n || w->outcomes_n || r->events == FANOUT_MAX;
	run = esc_webhook_sender_run(w->sender, *worked ? 0 : wait_ms);
	if (run < 0 && !rc)
		rc = run;
	take_results(w, esc_engine_now(w->e));
	*worked = *worked || w->outcomes_n;
	if (!rc)
		rc = record(w);
	if (!w->round_failed)
		esc_log_run_ok(&w->store_run, "webhooks");
	return rc;
}

int esc_webhook_worker_poll(struct esc_webhook_worker *w, int wait_ms)
{
	bool worked = false;

	return poll_round(w, wait_ms, &worked);
}

size_t esc_webhook_worker_in_flight(const struct esc_webhook_worker *w)
{
	return w->in_flight;
}

static int64_t monotonic_ms(void)
{
	return esc_time_monotonic_us() / 1000;
}

/* Wait until spacing ms after start, moving the transfers on meanwhile
 * (a wakeup ends one wait, not the spacing). */
static void space_rounds(struct esc_webhook_worker *w, int64_t start, int64_t spacing)
{
	for (;;) {
		int64_t left = spacing - (monotonic_ms() - start);
		if (left <= 0 || atomic_load(&w->stop))
			break;
		(void)esc_webhook_sender_run(w->sender, (int)left);
	}
}

static void *loop(void *arg)
{
	struct esc_webhook_worker *w = arg;
	bool worked = false;

	while (!atomic_load(&w->stop)) {
		int wait = w->in_flight ? WAIT_BUSY_MS : w->idle_ms;
		int64_t start = monotonic_ms();
		if (poll_round(w, wait, &worked))
			worked = false; /* logged; look again after a wait */
		space_rounds(w, start, worked || w->in_flight ? ROUND_MIN_MS : ROUND_IDLE_MS);
		w->idle_ms = worked                          ? 1
			     : w->idle_ms * 2 > WAIT_IDLE_MS ? WAIT_IDLE_MS
							     : w->idle_ms * 2;
	}
	return NULL;
}

static void wake(void *arg)
{
	esc_webhook_sender_wakeup(((struct esc_webhook_worker *)arg)->sender);
}

int esc_webhook_worker_new(struct esc_engine *e, const struct esc_webhook_options *o,
			   struct esc_webhook_worker **out)
{
	struct esc_webhook_worker *w = calloc(1, sizeof *w);
	int rc = w ? 0 : ESC_ENOMEM;

	*out = NULL;
	if (rc)
		return rc;
	w->e = e;
	w->opt = *o;
	w->first = true;
	w->idle_ms = 1;
	w->flights_max = ESC_WEBHOOK_TRANSFERS_MAX;
	struct esc_webhook_sender_config sc = {.connect_timeout_ms = o->connect_timeout_ms,
					       .request_timeout_ms = o->request_timeout_ms,
					       .transfers_max = w->flights_max,
					       .allow_private = o->allow_private};
	w->flights = calloc(w->flights_max, sizeof *w->flights);
	w->outcomes = calloc(w->flights_max + CLAIM_MAX, sizeof *w->outcomes);
	w->round = calloc(1, sizeof *w->round);
	rc = w->flights && w->outcomes && w->round ? esc_webhook_sender_new(&sc, &w->sender)
						   : ESC_ENOMEM;
	if (rc) {
		esc_webhook_worker_free(w);
		return rc;
	}
	*out = w;
	return 0;
}

int esc_webhook_worker_start(struct esc_webhook_worker *w)
{
	esc_engine_on_commit(w->e, wake, w);
	if (pthread_create(&w->thread, NULL, loop, w)) {
		esc_engine_on_commit(w->e, NULL, NULL);
		return ESC_ENOMEM;
	}
	w->started = true;
	return 0;
}

static int release_tx(struct esc_store *s, void *arg)
{
	int rc;

	ESC_STORE(rc, s, webhook_deliveries_release, (const char *)arg);
	return rc;
}

void esc_webhook_worker_free(struct esc_webhook_worker *w)
{
	if (!w)
		return;
	if (w->started) {
		atomic_store(&w->stop, true);
		esc_webhook_sender_wakeup(w->sender);
		pthread_join(w->thread, NULL);
		esc_engine_on_commit(w->e, NULL, NULL);
	}
	esc_webhook_sender_free(w->sender);
	/* What was in flight goes again, at once, from whichever process.
	 * The last word: logged whatever failed before. */
	if (!w->first) {
		int rc = esc_engine_transact(w->e, release_tx, w->process.id);
		if (rc)
			esc_log(ESC_LOG_ERROR, "webhooks: giving back claims failed",
				ESC_LOG_STR("error", esc_error_message(rc)),
				ESC_LOG_STR("store_said", esc_engine_store_said()));
	}
	free(w->flights);
	free(w->outcomes);
	free(w->round);
	free(w);
}
