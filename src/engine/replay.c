/* replay.c - escrowd replay: the recorded commands under another policy
 * (see replay.h). */
#include "engine/replay.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/reputation.h"
#include "engine/engine.h"
#include "store/store.h"
#include "util/error.h"
#include "util/text.h"
#include "util/timefmt.h"

#define PAGE       256 /* history rows read at once, and commands run per step */
#define USERS_PAGE 256
#define SIDES      2

/* One recorded command, ready to run on either side. */
struct rec {
	enum esc_event event;
	enum esc_actor actor;
	char actor_id[ESC_ID_SIZE];
	size_t order; /* index in the replay's orders */
	int64_t at_ms;
	struct esc_args args;   /* strings point into the fields below */
	int refund_n;           /* the refund's number on its order (id-rN), 0 for none */
	int32_t policy_version; /* create: the store's version of the order (pol_N) */
	char reason[ESC_REASON_CODE_MAX];
	char comment[ESC_TEXT_MAX + 1];
	char message[ESC_TEXT_MAX + 1];
	char description[ESC_TEXT_MAX + 1];
	char carrier[ESC_CARRIER_MAX + 1];
	char tracking[ESC_TRACKING_MAX + 1];
	char ground[ESC_GROUND_SIZE];
	char outcome[ESC_GROUND_SIZE];
	struct esc_item items[ESC_ITEMS_MAX];
};

struct replay;

/* A side's room for one step's batch. On the heap, not _Thread_local: a
 * thread-local array is part of every thread the process starts (each of
 * serve's HTTP workers got these 2 MB, zeroed, for nothing). */
struct step_space {
	struct esc_command cmds[PAGE];
	struct esc_result res[PAGE];
	char refund_ids[PAGE][ESC_ID_SIZE + 16];
	size_t at[PAGE]; /* cmds[i] is recs[at[i]] */
};

/* One run: an engine on a scratch store in memory, under one policy, in
 * a thread of its own. */
struct side {
	struct replay *rp;
	struct step_space *space;
	int k;
	struct esc_engine *e;
	int64_t now;
	const struct rec *recs; /* the page it replays */
	size_t n;
	int rc;
	char err[256];
};

/* The commands of one page of history, as the reader left them for both
 * runs: each run replays the pages in order at its own pace, and the
 * reader fills a page again once both have replayed it. */
struct page {
	struct rec *recs;
	size_t n;
	int readers; /* runs yet to replay it */
};

#define PAGES 4 /* pages read ahead of the slower run */

struct replay {
	const struct esc_replay_options *opt;
	struct esc_store *src;
	struct esc_replay_report *out;
	size_t orders_cap;
	char (*ids)[SIDES][ESC_ID_SIZE]; /* each order's id on each side, "" until made */
	size_t *slots;                   /* hash of the store's order ids: index + 1, 0 empty */
	size_t slots_cap;
	struct side sides[SIDES];
	/* The pipeline: the calling thread reads, each run replays (mu
	 * guards what follows). */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct page pages[PAGES];
	int64_t published;   /* pages filled so far */
	bool read_all;       /* no page is to come */
	bool stop;           /* a run or the reader failed: all stop */
	int64_t done[SIDES]; /* commands each run replayed */
	/* The base run follows the store's policy versions (opt->base NULL):
	 * each of the store's versions, by number, as the base store numbers
	 * it (0: none). */
	bool pin;
	int32_t *versions;
	size_t versions_n;
	struct esc_policy newest; /* the store's newest version: the base engine's */
};

/* ---- the store's orders: an open-addressing hash of their ids ---- */

static size_t hash_id(const char *s)
{
	size_t h = 1469598103934665603u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return h;
}

static size_t *slot_of(struct replay *rp, const char *id)
{
	size_t i = hash_id(id) & (rp->slots_cap - 1);
	for (;;) {
		size_t v = rp->slots[i];
		if (!v || !strcmp(rp->out->orders[v - 1].order_id, id))
			return &rp->slots[i];
		i = (i + 1) & (rp->slots_cap - 1);
	}
}

static long order_find(struct replay *rp, const char *id)
{
	if (!rp->slots_cap)
		return -1;
	size_t v = *slot_of(rp, id);
	return v ? (long)v - 1 : -1;
}

static int rehash(struct replay *rp, size_t cap)
{
	size_t *slots = calloc(cap, sizeof *slots);
	if (!slots)
		return ESC_ENOMEM;
	free(rp->slots);
	rp->slots = slots;
	rp->slots_cap = cap;
	for (size_t i = 0; i < rp->out->orders_count; i++)
		*slot_of(rp, rp->out->orders[i].order_id) = i + 1;
	return 0;
}

static int order_add(struct replay *rp, const char *id)
{
	struct esc_replay_report *r = rp->out;
	if (r->orders_count == rp->orders_cap) {
		size_t cap = rp->orders_cap ? 2 * rp->orders_cap : 1024;
		void *o = realloc(r->orders, cap * sizeof *r->orders);
		if (!o)
			return ESC_ENOMEM;
		r->orders = o;
		void *ids = realloc(rp->ids, cap * sizeof *rp->ids);
		if (!ids)
			return ESC_ENOMEM;
		rp->ids = ids;
		rp->orders_cap = cap;
	}
	if (2 * (r->orders_count + 1) > rp->slots_cap) {
		int rc = rehash(rp, rp->slots_cap ? 2 * rp->slots_cap : 4096);
		if (rc)
			return rc;
	}
	struct esc_replay_order *o = &r->orders[r->orders_count];
	memset(o, 0, sizeof *o);
	memset(rp->ids[r->orders_count], 0, sizeof rp->ids[0]);
	snprintf(o->order_id, sizeof o->order_id, "%s", id);
	*slot_of(rp, id) = ++r->orders_count;
	return 0;
}

static bool in_period(const struct esc_replay_options *opt, int64_t at_ms)
{
	return (!opt->since_ms || at_ms >= opt->since_ms) &&
	       (!opt->until_ms || at_ms < opt->until_ms);
}

/* ---- a command's inputs, from its history line ---- */

static void take_text(json_t *d, const char *name, char *dst, size_t size)
{
	const char *v = json_string_value(json_object_get(d, name));
	snprintf(dst, size, "%s", v ? v : "");
}

static int64_t take_int(json_t *d, const char *name)
{
	return json_integer_value(json_object_get(d, name));
}

/* The refund's number in its id ("ord_...-r2": 2), 0 when none. */
static int refund_number(const char *id)
{
	const char *r = id ? strrchr(id, '-') : NULL;
	return r && r[1] == 'r' ? atoi(r + 2) : 0;
}

static bool detail_read(enum esc_event ev)
{
	switch (ev) {
	case ESC_EV_CREATE:
	case ESC_EV_PAY:
	case ESC_EV_CANCEL:
	case ESC_EV_REJECT_CANCELLATION:
	case ESC_EV_REJECT_DISPUTE:
	case ESC_EV_SHIP:
	case ESC_EV_RETURN_SHIPMENT:
	case ESC_EV_OPEN_DISPUTE:
	case ESC_EV_COUNTER_OFFER:
	case ESC_EV_RESOLVE_DISPUTE:
	case ESC_EV_REFUND_SETTLED:
	case ESC_EV_REFUND_FAILED:
		return true;
	default:
		return false;
	}
}

/* rec from h, the line of an order of the replay's (index order). */
static int rec_make(struct replay *rp, const struct esc_history *h, size_t order, struct rec *c)
{
	struct esc_args *a = &c->args;
	struct esc_replay_order *o = &rp->out->orders[order];
	json_error_t jerr;
	json_t *d = NULL;
	int rc = 0;

	/* The detail is parsed only for the events that take inputs from it
	 * (the switch below); a missing member reads as empty. */
	if (detail_read(h->event)) {
		d = json_loads(h->detail[0] ? h->detail : "{}", 0, &jerr);
		if (!d)
			return ESC_EIO;
	}
	memset(a, 0, sizeof *a);
	a->method = -1;
	a->refund_to = -1;
	c->event = h->event;
	c->actor = h->actor;
	snprintf(c->actor_id, sizeof c->actor_id, "%s", h->actor_id);
	c->order = order;
	c->at_ms = h->at_ms;
	c->refund_n = 0;
	switch (h->event) {
	case ESC_EV_CREATE: {
		/* The parties, currency and items are the order's: they never
		 * change. delivery_days is the detail's, as asked. */
		struct esc_order so;
		size_t n = 0;
		ESC_STORE(rc, rp->src, order_get, h->order_id, &so);
		if (!rc)
			ESC_STORE(rc, rp->src, order_items, h->order_id, c->items, ESC_ITEMS_MAX,
				  &n);
		if (rc)
			break;
		snprintf(o->buyer_id, sizeof o->buyer_id, "%s", so.buyer_id);
		snprintf(o->seller_id, sizeof o->seller_id, "%s", so.seller_id);
		snprintf(o->currency, sizeof o->currency, "%s", so.currency);
		o->state_store = so.state;
		o->refunded_store_minor = so.refunded_minor;
		c->policy_version = so.policy_version;
		a->buyer_id = o->buyer_id;
		a->seller_id = o->seller_id;
		a->currency = o->currency;
		a->items = c->items;
		a->items_count = n;
		a->delivery_days = (int32_t)take_int(d, "delivery_days");
		break;
	}
	case ESC_EV_PAY:
		a->amount_minor = take_int(d, "amount");
		take_text(d, "payment_method", c->reason, sizeof c->reason);
		a->method = esc_method_parse(c->reason);
		break;
	case ESC_EV_CANCEL:
		if (json_object_get(d, "reason")) {
			take_text(d, "reason", c->reason, sizeof c->reason);
			take_text(d, "comment", c->comment, sizeof c->comment);
			take_text(d, "refund_to", c->message, sizeof c->message);
			a->reason = c->reason;
			a->comment = c->comment[0] ? c->comment : NULL;
			a->refund_to = esc_refund_to_parse(c->message);
		}
		break;
	case ESC_EV_REJECT_CANCELLATION:
	case ESC_EV_REJECT_DISPUTE:
		take_text(d, "message", c->message, sizeof c->message);
		a->message = c->message;
		break;
	case ESC_EV_SHIP:
	case ESC_EV_RETURN_SHIPMENT:
		take_text(d, "carrier", c->carrier, sizeof c->carrier);
		take_text(d, "tracking_number", c->tracking, sizeof c->tracking);
		a->carrier = c->carrier;
		a->tracking = c->tracking;
		break;
	case ESC_EV_OPEN_DISPUTE:
		take_text(d, "ground", c->ground, sizeof c->ground);
		take_text(d, "outcome", c->outcome, sizeof c->outcome);
		take_text(d, "description", c->description, sizeof c->description);
		a->ground = c->ground;
		a->outcome = c->outcome;
		a->description = c->description;
		a->amount_minor = take_int(d, "amount");
		/* Absent from the history of a dispute opened before it was
		 * asked: the original method. */
		take_text(d, "refund_to", c->message, sizeof c->message);
		a->refund_to = c->message[0] ? esc_refund_to_parse(c->message) : -1;
		break;
	case ESC_EV_COUNTER_OFFER:
		a->amount_minor = take_int(d, "amount");
		take_text(d, "message", c->message, sizeof c->message);
		a->message = c->message[0] ? c->message : NULL;
		break;
	case ESC_EV_RESOLVE_DISPUTE:
		/* A decision pays what was decided: the dispute's refund, or on a
		 * return_and_refund the amount agreed, paid once the goods are
		 * back. */
		a->amount_minor = json_object_get(d, "agreed_amount")
					  ? take_int(d, "agreed_amount")
					  : take_int(d, "dispute_refund");
		take_text(d, "reason", c->message, sizeof c->message);
		a->message = c->message;
		break;
	case ESC_EV_REFUND_SETTLED:
	case ESC_EV_REFUND_FAILED:
		take_text(d, "refund_id", c->carrier, sizeof c->carrier);
		c->refund_n = refund_number(c->carrier);
		break;
	default:
		break;
	}
	json_decref(d);
	return rc;
}

/* ---- one run ---- */

static bool store_failure(int rc)
{
	return rc == ESC_EIO || rc == ESC_EBUSY || rc == ESC_ENOMEM || rc == ESC_EBUG ||
	       rc == ESC_ERETRY;
}

static int clock_to(struct side *sd, int64_t t)
{
	int rc = 0;
	if (t > sd->now) {
		rc = esc_engine_advance(sd->e, t - sd->now);
		if (!rc)
			sd->now = t;
	}
	return rc;
}

/* Fire every deadline due at or before t, each at its due time, then move
 * the clock to t. */
static int fire_until(struct side *sd, int64_t t)
{
	struct esc_store *s = esc_engine_writer(sd->e);
	int64_t last_due = -1;
	int rc = 0;

	for (;;) {
		struct esc_deadline d;
		size_t n = 0, fired = 0;
		ESC_STORE(rc, s, deadlines_due, t, &d, 1, &n);
		if (rc || !n)
			break;
		rc = clock_to(sd, d.due_ms);
		if (!rc)
			rc = esc_engine_fire_due(sd->e, 0, &fired);
		if (rc)
			break;
		/* A row that neither fired nor went is a bug of the engine's. */
		if (!fired && d.due_ms == last_due && d.due_ms <= sd->now) {
			size_t again = 0;
			struct esc_deadline d2;
			ESC_STORE(rc, s, deadlines_due, d.due_ms, &d2, 1, &again);
			if (!rc && again && !strcmp(d2.order_id, d.order_id) && d2.kind == d.kind) {
				snprintf(sd->err, sizeof sd->err,
					 "a deadline of %s does not fire in the replay",
					 d.order_id);
				rc = ESC_EBUG;
			}
			if (rc)
				break;
		}
		last_due = d.due_ms;
	}
	if (!rc)
		rc = clock_to(sd, t);
	return rc;
}

/* How far past a batch's first command the batch may reach: the shortest
 * window a command can set a deadline by, so that no deadline a command
 * of the batch sets falls due before the batch's last command. (A
 * dispute's end resumes a paused deadline with what it had left, which
 * may be shorter: a batch ends after each dispute event.) */
static int64_t horizon(const struct esc_policy *p)
{
	const int64_t w[] = {p->payment_window_ms,        p->ship_window_ms,
			     p->response_window_ms,       p->protection_extra_ms,
			     p->confirm_window_ms,        p->dispute_seller_window_ms,
			     p->dispute_buyer_window_ms,  p->return_ship_window_ms,
			     p->return_receive_window_ms, p->refund_alert_ms};
	int64_t h = INT64_MAX;
	for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
		if (w[i] > 0 && w[i] < h)
			h = w[i];
	return h;
}

static bool ends_batch(enum esc_event ev)
{
	return ev == ESC_EV_OPEN_DISPUTE || esc_event_is_dispute(ev);
}

static void refuse(struct side *sd, enum esc_event ev)
{
	sd->rp->out->refused[sd->k]++;
	sd->rp->out->refused_by_event[sd->k][ev]++;
}

/* The commands sd->recs[0..n), in batches of one transaction each (one
 * commit, as the daemon's group commit): each batch holds commands up to
 * the next deadline due, within the horizon, and none that needs an order
 * the batch itself creates. Between batches, what is due fires. */
static void side_step(struct side *sd)
{
	struct esc_command *cmds = sd->space->cmds;
	struct esc_result *res = sd->space->res;
	char(*refund_ids)[ESC_ID_SIZE + 16] = sd->space->refund_ids;
	size_t *at = sd->space->at;
	struct replay *rp = sd->rp;
	struct esc_replay_report *r = rp->out;
	struct esc_store *s = esc_engine_writer(sd->e);
	int64_t h = horizon(esc_engine_policy(sd->e));
	size_t i = 0;
	int rc = 0;

	while (!rc && i < sd->n) {
		struct esc_deadline d;
		size_t due_n = 0, m = 0;
		rc = fire_until(sd, sd->recs[i].at_ms);
		if (!rc)
			ESC_STORE(rc, s, deadlines_due, INT64_MAX, &d, 1, &due_n);
		if (rc)
			break;
		int64_t limit = due_n ? d.due_ms : INT64_MAX, last = sd->now;
		if (sd->now < limit - h)
			limit = sd->now + h < limit ? sd->now + h : limit;
		for (; i < sd->n && m < PAGE; i++) {
			const struct rec *c = &sd->recs[i];
			const char *id = rp->ids[c->order][sd->k];
			if (m && c->at_ms >= limit)
				break;
			if (c->event != ESC_EV_CREATE && !id[0]) {
				bool pending = false;
				for (size_t j = 0; j < m && !pending; j++)
					pending = cmds[j].event == ESC_EV_CREATE &&
						  sd->recs[at[j]].order == c->order;
				if (pending)
					break;        /* its id comes with the batch's results */
				refuse(sd, c->event); /* its order was never made here */
				continue;
			}
			struct esc_command *cmd = &cmds[m];
			esc_command_init(cmd, c->event, c->actor,
					 c->actor_id[0] ? c->actor_id : NULL,
					 c->event == ESC_EV_CREATE ? NULL : id);
			cmd->args = c->args;
			if (sd->k == 0 && rp->pin && c->event == ESC_EV_CREATE &&
			    c->policy_version > 0 && (size_t)c->policy_version < rp->versions_n)
				cmd->policy_version = rp->versions[c->policy_version];
			/* Time never goes back, even where two processes' clocks
			 * recorded it so. */
			cmd->at_ms = last = c->at_ms > last ? c->at_ms : last;
			if (c->refund_n) {
				snprintf(refund_ids[m], sizeof refund_ids[m], "%s-r%d", id,
					 c->refund_n);
				cmd->args.refund_id = refund_ids[m];
			}
			at[m++] = i;
			if (ends_batch(c->event)) {
				i++;
				break;
			}
		}
		if (!m)
			continue;
		rc = esc_engine_exec_batch(sd->e, cmds, m, res);
		if (rc) {
			snprintf(sd->err, sizeof sd->err, "a batch of %zu commands: %s", m,
				 res[0].message);
			break;
		}
		for (size_t j = 0; j < m; j++) {
			const struct rec *c = &sd->recs[at[j]];
			if (!res[j].rc && c->event == ESC_EV_CREATE) {
				snprintf(rp->ids[c->order][sd->k], ESC_ID_SIZE, "%s",
					 res[j].order.id);
				r->orders[c->order].made[sd->k] = true;
			} else if (res[j].rc && store_failure(res[j].rc)) {
				rc = res[j].rc;
				snprintf(sd->err, sizeof sd->err, "%s on %s: %s",
					 esc_event_name(c->event), r->orders[c->order].order_id,
					 res[j].message);
				break;
			} else if (res[j].rc) {
				refuse(sd, c->event);
			}
		}
		/* The clock follows the batch's last command. */
		if (!rc)
			rc = clock_to(sd, cmds[m - 1].at_ms);
	}
	sd->rc = rc;
}

/* Wait for page p (false: no more pages, or stop). */
static bool page_wait(struct replay *rp, int64_t p)
{
	bool go;
	pthread_mutex_lock(&rp->mu);
	while (p >= rp->published && !rp->read_all && !rp->stop)
		pthread_cond_wait(&rp->cv, &rp->mu);
	go = p < rp->published && !rp->stop;
	pthread_mutex_unlock(&rp->mu);
	return go;
}

static int read_side(struct side *sd);

/* One run's thread: every page as the reader publishes it, then the last
 * deadlines, then its orders as it left them. */
static void *side_main(void *arg)
{
	struct side *sd = arg;
	struct replay *rp = sd->rp;
	bool stopped;

	for (int64_t p = 0; page_wait(rp, p); p++) {
		struct page *pg = &rp->pages[p % PAGES];
		sd->recs = pg->recs;
		sd->n = pg->n;
		side_step(sd);
		pthread_mutex_lock(&rp->mu);
		pg->readers--;
		rp->done[sd->k] += (int64_t)pg->n;
		if (sd->rc)
			rp->stop = true;
		pthread_cond_broadcast(&rp->cv);
		pthread_mutex_unlock(&rp->mu);
		if (sd->rc)
			return NULL;
	}
	pthread_mutex_lock(&rp->mu);
	stopped = rp->stop;
	pthread_mutex_unlock(&rp->mu);
	if (stopped)
		return NULL;
	sd->rc = fire_until(sd, rp->out->end_ms);
	if (sd->rc && !sd->err[0])
		snprintf(sd->err, sizeof sd->err, "firing the last deadlines: %s",
			 esc_error_message(sd->rc));
	if (!sd->rc)
		sd->rc = read_side(sd);
	return NULL;
}

/* The reader's side of the pipeline: the page it may fill next, once both
 * runs are done with it (NULL: stop). */
static struct page *page_free(struct replay *rp, int64_t p, int64_t *done)
{
	struct page *pg = &rp->pages[p % PAGES];
	bool stop;
	pthread_mutex_lock(&rp->mu);
	while (pg->readers && !rp->stop)
		pthread_cond_wait(&rp->cv, &rp->mu);
	stop = rp->stop;
	*done = (rp->done[0] + rp->done[1]) / SIDES;
	pthread_mutex_unlock(&rp->mu);
	return stop ? NULL : pg;
}

static void page_publish(struct replay *rp, struct page *pg, size_t n)
{
	pthread_mutex_lock(&rp->mu);
	pg->n = n;
	pg->readers = SIDES;
	rp->published++;
	pthread_cond_broadcast(&rp->cv);
	pthread_mutex_unlock(&rp->mu);
}

static void read_end(struct replay *rp, int rc)
{
	pthread_mutex_lock(&rp->mu);
	rp->read_all = true;
	if (rc)
		rp->stop = true;
	pthread_cond_broadcast(&rp->cv);
	pthread_mutex_unlock(&rp->mu);
}

/* fn on each side, side 1 in a thread of its own when one starts. */
static void both(struct replay *rp, void *(*fn)(void *))
{
	pthread_t t;
	bool threaded = !pthread_create(&t, NULL, fn, &rp->sides[1]);
	fn(&rp->sides[0]);
	if (threaded)
		pthread_join(t, NULL);
	else
		fn(&rp->sides[1]);
}

static int sides_rc(struct replay *rp, char *err, size_t err_size)
{
	for (int k = 0; k < SIDES; k++) {
		if (rp->sides[k].rc) {
			snprintf(err, err_size, "the replay under the %s policy failed: %s",
				 k ? "new" : "base",
				 rp->sides[k].err[0] ? rp->sides[k].err
						     : esc_error_message(rp->sides[k].rc));
			return rp->sides[k].rc;
		}
	}
	return 0;
}

/* ---- setting up and reading out ---- */

struct users_page {
	const struct esc_user *u;
	size_t n;
};

static int users_tx(struct esc_store *s, void *arg)
{
	const struct users_page *p = arg;
	int rc = 0;
	for (size_t i = 0; !rc && i < p->n; i++)
		ESC_STORE(rc, s, user_insert, &p->u[i]);
	return rc;
}

/* Every user of the store, on both sides, as they are. */
static int users_copy(struct replay *rp)
{
	struct esc_user *u = malloc(USERS_PAGE * sizeof *u);
	char after[ESC_ID_SIZE] = "";
	int rc = u ? 0 : ESC_ENOMEM;
	for (;;) {
		size_t n = 0;
		if (!rc)
			ESC_STORE(rc, rp->src, users_list, after[0] ? after : NULL, u, USERS_PAGE,
				  &n);
		if (rc || !n)
			break;
		struct users_page p = {u, n};
		for (int k = 0; !rc && k < SIDES; k++)
			rc = esc_engine_transact(rp->sides[k].e, users_tx, &p);
		snprintf(after, sizeof after, "%s", u[n - 1].id);
		if (n < USERS_PAGE)
			break;
	}
	free(u);
	return rc;
}

/* The store's policy versions, oldest first. */
struct versions {
	struct esc_policy_row *rows;
	size_t n;
	int32_t *map;
};

static void versions_release(struct versions *v)
{
	for (size_t i = 0; v->rows && i < v->n; i++)
		free(v->rows[i].text);
	free(v->rows);
	v->rows = NULL;
	v->n = 0;
}

static int versions_read(struct replay *rp, struct versions *v)
{
	size_t cap = 0;
	int64_t after = 0;
	int rc = 0;
	for (;;) {
		size_t n = 0;
		if (v->n + 16 > cap) {
			size_t c = cap ? 2 * cap : 64;
			void *rows = realloc(v->rows, c * sizeof *v->rows);
			if (!rows)
				return ESC_ENOMEM;
			v->rows = rows;
			cap = c;
		}
		ESC_STORE(rc, rp->src, policies_list, after, v->rows + v->n, 16, &n);
		v->n += n;
		if (rc || n < 16)
			break;
		after = v->rows[v->n - 1].version;
	}
	return rc;
}

/* Each version in the base store, found by its hash or added. */
static int versions_tx(struct esc_store *s, void *arg)
{
	struct versions *v = arg;
	int rc = 0;
	for (size_t i = 0; !rc && i < v->n; i++) {
		int64_t local = 0;
		ESC_STORE(rc, s, policy_find, v->rows[i].hash, &local);
		if (rc == ESC_ENOTFOUND)
			ESC_STORE(rc, s, policy_add, v->rows[i].hash, v->rows[i].text,
				  v->rows[i].created_at_ms, &local);
		if (!rc && v->rows[i].version > 0 && v->rows[i].version <= INT32_MAX)
			v->map[v->rows[i].version] = (int32_t)local;
	}
	return rc;
}

static int open_sides(struct replay *rp, char *err, size_t err_size)
{
	const struct esc_policy *pol[SIDES] = {rp->opt->base, rp->opt->policy};
	struct versions v = {0};
	int rc = 0;

	if (!pol[0]) {
		/* The base run: the store's own policies, each order under the
		 * version it recorded, the engine (reputations) under the
		 * newest. */
		rp->pin = true;
		rp->out->base_recorded = true;
		esc_policy_default(&rp->newest);
		rc = versions_read(rp, &v);
		if (!rc && v.n &&
		    (esc_policy_parse(&rp->newest, v.rows[v.n - 1].text, NULL, 0) ||
		     esc_policy_validate(&rp->newest, NULL, 0)))
			rc = ESC_EIO;
		if (rc) {
			snprintf(err, err_size, "cannot read the store's policy versions");
			versions_release(&v);
			return rc;
		}
		pol[0] = &rp->newest;
		rp->out->base_versions = v.n;
	}
	for (int k = 0; k < SIDES; k++) {
		struct esc_engine_options eo = {.manual_clock = true,
						.manual_start_ms = rp->out->first_ms,
						.scratch = true,
						.no_events = true};
		char why[256] = "";
		struct side *sd = &rp->sides[k];
		sd->rp = rp;
		sd->k = k;
		sd->now = rp->out->first_ms;
		sd->space = malloc(sizeof *sd->space);
		if (!sd->space) {
			rc = ESC_ENOMEM;
			break;
		}
		rc = esc_engine_open(&sd->e, ":memory:", pol[k], &eo, why, sizeof why);
		if (rc) {
			snprintf(err, err_size, "the %s policy: %s", k ? "new" : "base",
				 why[0] ? why : esc_error_message(rc));
			break;
		}
	}
	if (!rc && v.n) {
		int64_t top = v.rows[v.n - 1].version;
		rp->versions_n = top > 0 && top < INT32_MAX ? (size_t)top + 1 : 0;
		rp->versions = v.map = calloc(rp->versions_n ? rp->versions_n : 1, sizeof *v.map);
		rc = v.map ? esc_engine_transact(rp->sides[0].e, versions_tx, &v) : ESC_ENOMEM;
		if (rc)
			snprintf(err, err_size, "cannot copy the store's policy versions: %s",
				 esc_error_message(rc));
	}
	versions_release(&v);
	return rc;
}

static int user_add(struct esc_replay_report *r, size_t *cap, const char *id, enum esc_actor role)
{
	if (!id[0])
		return 0;
	if (r->users_count == *cap) {
		size_t c = *cap ? 2 * *cap : 256;
		void *u = realloc(r->users, c * sizeof *r->users);
		if (!u)
			return ESC_ENOMEM;
		r->users = u;
		*cap = c;
	}
	struct esc_replay_user *u = &r->users[r->users_count++];
	memset(u, 0, sizeof *u);
	snprintf(u->id, sizeof u->id, "%s", id);
	u->role = role;
	return 0;
}

static int user_cmp(const void *a, const void *b)
{
	const struct esc_replay_user *x = a, *y = b;
	int c = strcmp(x->id, y->id);
	return c ? c : (int)x->role - (int)y->role;
}

/* Each order as run sd left it, at the end (in its thread). */
static int read_side(struct side *sd)
{
	struct esc_replay_report *r = sd->rp->out;
	struct esc_store *s = esc_engine_writer(sd->e);
	int k = sd->k, rc = 0;

	for (size_t i = 0; !rc && i < r->orders_count; i++) {
		struct esc_replay_order *o = &r->orders[i];
		struct esc_order so;
		if (!o->made[k])
			continue;
		ESC_STORE(rc, s, order_get, sd->rp->ids[i][k], &so);
		if (rc)
			break;
		o->state[k] = so.state;
		o->refunded_minor[k] = so.refunded_minor;
		o->refunds_count[k] = so.refunds_count;
	}
	if (rc && !sd->err[0])
		snprintf(sd->err, sizeof sd->err, "reading the orders: %s",
			 esc_store_last_error(s));
	return rc;
}

/* Each buyer's level and seller's score as run sd left them. */
static void *users_side(void *arg)
{
	struct side *sd = arg;
	struct esc_replay_report *r = sd->rp->out;
	int k = sd->k, rc = 0;

	for (size_t i = 0; !rc && i < r->users_count; i++) {
		struct esc_replay_user *u = &r->users[i];
		if (u->role == ESC_ACTOR_BUYER) {
			struct esc_buyer_rep b;
			rc = esc_engine_buyer_reputation(sd->e, u->id, &b);
			u->value[k] = (int)b.level;
		} else {
			struct esc_seller_rep sr;
			rc = esc_engine_seller_reputation(sd->e, u->id, &sr);
			u->value[k] = (int)sr.score;
		}
	}
	sd->rc = rc;
	if (rc)
		snprintf(sd->err, sizeof sd->err, "reading the reputations: %s",
			 esc_error_message(rc));
	return NULL;
}

/* Each order against the store, then the buyers and sellers as each run
 * left them (the runs' orders are read in their threads: read_side). */
static int read_out(struct replay *rp, char *err, size_t err_size)
{
	struct esc_replay_report *r = rp->out;
	size_t cap = 0;
	int rc = 0;

	for (size_t i = 0; !rc && i < r->orders_count; i++) {
		struct esc_replay_order *o = &r->orders[i];
		/* The store's state was read with the order's create
		 * (rec_make), in the same read transaction. */
		if (!o->made[0] || o->state[0] != o->state_store ||
		    o->refunded_minor[0] != o->refunded_store_minor)
			r->base_unlike_store++;
		rc = user_add(r, &cap, o->buyer_id, ESC_ACTOR_BUYER);
		if (!rc)
			rc = user_add(r, &cap, o->seller_id, ESC_ACTOR_SELLER);
	}
	if (rc || !r->users_count)
		return rc;
	qsort(r->users, r->users_count, sizeof *r->users, user_cmp);
	size_t n = 1;
	for (size_t i = 1; i < r->users_count; i++)
		if (user_cmp(&r->users[i], &r->users[n - 1]))
			r->users[n++] = r->users[i];
	r->users_count = n;
	both(rp, users_side);
	return sides_rc(rp, err, err_size);
}

/* The first pass: the orders created in the period, how many commands of
 * theirs there are, and the store's last time. */
static int survey(struct replay *rp, struct esc_history_row *rows, int64_t *total)
{
	struct esc_replay_report *r = rp->out;
	int64_t after = 0;
	int rc = 0;
	*total = 0;
	for (;;) {
		size_t n = 0;
		ESC_STORE(rc, rp->src, history_scan, after, rows, PAGE, &n);
		if (rc || !n)
			break;
		for (size_t i = 0; !rc && i < n; i++) {
			const struct esc_history *h = &rows[i].h;
			if (h->at_ms > r->end_ms)
				r->end_ms = h->at_ms;
			if (h->event == ESC_EV_CREATE && in_period(rp->opt, h->at_ms)) {
				if (!r->orders_count)
					r->first_ms = h->at_ms;
				rc = order_add(rp, h->order_id);
				(*total)++;
			} else if (h->actor != ESC_ACTOR_SYSTEM &&
				   order_find(rp, h->order_id) >= 0) {
				(*total)++;
			}
		}
		after = rows[n - 1].seq;
		if (n < PAGE)
			break;
	}
	return rc;
}

/* The second pass: the reader (this thread) turns each page of history
 * into commands for both runs, each run replaying in its own thread what
 * was read, PAGES pages behind at most. */
static int replay_pages(struct replay *rp, struct esc_history_row *rows, int64_t total, char *err,
			size_t err_size)
{
	const struct esc_replay_options *opt = rp->opt;
	struct esc_replay_report *out = rp->out;
	pthread_t t[SIDES];
	int started = 0, rc = 0;
	int64_t after = 0, done = 0;

	for (int p = 0; p < PAGES; p++) {
		rp->pages[p].recs = malloc(PAGE * sizeof *rp->pages[p].recs);
		if (!rp->pages[p].recs)
			rc = ESC_ENOMEM;
	}
	for (; !rc && started < SIDES; started++)
		if (pthread_create(&t[started], NULL, side_main, &rp->sides[started]))
			break;
	if (!rc && started < SIDES) {
		snprintf(err, err_size, "cannot start the replay's threads");
		rc = ESC_ENOMEM;
	}
	for (int64_t p = 0; !rc;) {
		size_t n = 0, m = 0;
		struct page *pg = page_free(rp, p, &done);
		if (!pg)
			break;
		if (opt->progress)
			opt->progress(opt->progress_arg, done, total);
		ESC_STORE(rc, rp->src, history_scan, after, rows, PAGE, &n);
		if (rc || !n)
			break;
		for (size_t i = 0; !rc && i < n; i++) {
			const struct esc_history *h = &rows[i].h;
			long o = order_find(rp, h->order_id);
			if (o < 0)
				continue;
			if (h->event == ESC_EV_CREATE && !in_period(opt, h->at_ms))
				continue;
			if (h->actor == ESC_ACTOR_SYSTEM) {
				out->deadlines_skipped++;
				continue;
			}
			rc = rec_make(rp, h, (size_t)o, &pg->recs[m]);
			if (!rc)
				m++;
		}
		after = rows[n - 1].seq;
		if (!rc && m) {
			out->commands += (int64_t)m;
			page_publish(rp, pg, m);
			p++;
		}
		if (n < PAGE)
			break;
	}
	read_end(rp, rc);
	for (int k = 0; k < started; k++)
		pthread_join(t[k], NULL);
	if (opt->progress && !rc)
		opt->progress(opt->progress_arg, out->commands, total);
	for (int p = 0; p < PAGES; p++)
		free(rp->pages[p].recs);
	if (!rc)
		rc = sides_rc(rp, err, err_size);
	return rc;
}

int esc_replay_run(const struct esc_replay_options *opt, struct esc_replay_report *out, char *err,
		   size_t err_size)
{
	struct replay rp = {.opt = opt,
			    .out = out,
			    .mu = PTHREAD_MUTEX_INITIALIZER,
			    .cv = PTHREAD_COND_INITIALIZER};
	struct esc_history_row *rows = malloc(PAGE * sizeof *rows);
	char why[300] = "";
	int64_t total = 0;
	int rc = rows ? 0 : ESC_ENOMEM;

	memset(out, 0, sizeof *out);
	if (!rc)
		rc = esc_store_open_mode(opt->source, ESC_STORE_READ, &rp.src, why, sizeof why);
	if (rc) {
		char shown[ESC_DB_SHOWN_MAX];
		snprintf(err, err_size, "cannot read %s: %s",
			 esc_db_shown(opt->source, shown, sizeof shown),
			 why[0] ? why : esc_error_message(rc));
		goto out;
	}
	/* One read transaction for all that is read: one snapshot of the
	 * store, however long the replay takes. */
	ESC_STORE0(rc, rp.src, begin);
	if (!rc)
		rc = survey(&rp, rows, &total);
	if (!rc && !out->orders_count)
		goto out; /* nothing to replay */
	if (!rc)
		rc = open_sides(&rp, err, err_size);
	if (rc)
		goto out;
	rc = users_copy(&rp);
	if (!rc)
		rc = replay_pages(&rp, rows, total, err, err_size);
	if (!rc)
		rc = read_out(&rp, err, err_size);
	if (rc && !err[0]) {
		char shown[ESC_DB_SHOWN_MAX];
		snprintf(err, err_size, "%s: %s", esc_db_shown(opt->source, shown, sizeof shown),
			 rp.src ? esc_store_last_error(rp.src) : esc_error_message(rc));
	}
out:
	for (int k = 0; k < SIDES; k++) {
		if (rp.sides[k].e)
			esc_engine_free(rp.sides[k].e);
		free(rp.sides[k].space);
	}
	if (rp.src) {
		int end = 0;
		ESC_STORE0(end, rp.src, rollback);
		(void)end;
	}
	esc_store_close(rp.src);
	free(rp.ids);
	free(rp.slots);
	free(rp.versions);
	free(rows);
	pthread_cond_destroy(&rp.cv);
	pthread_mutex_destroy(&rp.mu);
	if (rc)
		esc_replay_report_release(out);
	return rc;
}

void esc_replay_report_release(struct esc_replay_report *r)
{
	free(r->orders);
	free(r->users);
	r->orders = NULL;
	r->users = NULL;
	r->orders_count = r->users_count = 0;
}

/* ---- the report ---- */

static const char *outcome_name(const struct esc_replay_order *o, int k)
{
	return o->made[k] ? esc_state_name(o->state[k]) : "not_created";
}

static bool outcome_changed(const struct esc_replay_order *o)
{
	return o->made[0] != o->made[1] || (o->made[0] && o->state[0] != o->state[1]);
}

static bool refund_changed(const struct esc_replay_order *o)
{
	return o->refunded_minor[0] != o->refunded_minor[1];
}

#define KINDS_MAX      64
#define CURRENCIES_MAX 32

struct kind {
	char name[64];
	int64_t n;
};

struct money {
	char currency[ESC_CURRENCY_SIZE];
	int64_t added_n, added_minor, removed_n, removed_minor;
};

static struct money *money_of(struct money *m, size_t *n, const char *currency)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(m[i].currency, currency))
			return &m[i];
	if (*n == CURRENCIES_MAX)
		return NULL;
	memset(&m[*n], 0, sizeof m[*n]);
	snprintf(m[*n].currency, sizeof m[*n].currency, "%s", currency);
	return &m[(*n)++];
}

void esc_replay_print(const struct esc_replay_report *r, FILE *out)
{
	struct kind kinds[KINDS_MAX];
	struct money money[CURRENCIES_MAX];
	size_t kinds_n = 0, money_n = 0, changed = 0;
	char from[ESC_TIME_SIZE], to[ESC_TIME_SIZE];

	if (!r->orders_count) {
		fprintf(out, "no orders were created in the period: nothing to replay\n");
		return;
	}
	esc_time_format(r->first_ms, from);
	esc_time_format(r->end_ms, to);
	fprintf(out, "replayed %lld commands of %zu orders, %s to %s\n", (long long)r->commands,
		r->orders_count, from, to);
	fprintf(out,
		"(deadlines fired by each policy; %lld recorded deadline events not replayed)\n",
		(long long)r->deadlines_skipped);
	if (r->base_recorded && r->base_versions)
		fprintf(out,
			"base: each order under the policy version the store recorded for it "
			"(%zu %s)\n",
			r->base_versions, r->base_versions == 1 ? "version" : "versions");
	else if (r->base_recorded)
		fprintf(out, "base: the store records no policy version yet: every order under "
			     "SPEC's defaults (pol_1)\n");
	else
		fprintf(out, "base: every order under the configuration's policy\n");
	if (r->base_unlike_store)
		fprintf(out,
			"note: under the base policy %zu orders end otherwise than the store has "
			"them (was the store run under another policy than --config's?)\n",
			r->base_unlike_store);
	for (size_t i = 0; i < r->orders_count; i++) {
		const struct esc_replay_order *o = &r->orders[i];
		struct money *m = money_of(money, &money_n, o->currency);
		int64_t d = o->refunded_minor[1] - o->refunded_minor[0];
		if (m && d > 0) {
			m->added_n++;
			m->added_minor += d;
		} else if (m && d < 0) {
			m->removed_n++;
			m->removed_minor -= d;
		}
		if (!outcome_changed(o))
			continue;
		changed++;
		char name[64];
		snprintf(name, sizeof name, "%s -> %s", outcome_name(o, 0), outcome_name(o, 1));
		size_t k = 0;
		while (k < kinds_n && strcmp(kinds[k].name, name))
			k++;
		if (k == kinds_n && kinds_n < KINDS_MAX) {
			snprintf(kinds[k].name, sizeof kinds[k].name, "%s", name);
			kinds[k].n = 0;
			kinds_n++;
		}
		if (k < kinds_n)
			kinds[k].n++;
	}
	fprintf(out, "\norders whose outcome changes: %zu of %zu\n", changed, r->orders_count);
	for (size_t k = 0; k < kinds_n; k++)
		fprintf(out, "  %-40s %lld\n", kinds[k].name, (long long)kinds[k].n);

	int64_t added = 0, removed = 0;
	for (size_t i = 0; i < money_n; i++) {
		added += money[i].added_n;
		removed += money[i].removed_n;
	}
	fprintf(out, "\nrefunds added: %lld orders", (long long)added);
	for (size_t i = 0; i < money_n; i++)
		if (money[i].added_n)
			fprintf(out, ", %lld %s", (long long)money[i].added_minor,
				money[i].currency);
	fprintf(out, "\nrefunds removed: %lld orders", (long long)removed);
	for (size_t i = 0; i < money_n; i++)
		if (money[i].removed_n)
			fprintf(out, ", %lld %s", (long long)money[i].removed_minor,
				money[i].currency);
	fprintf(out,
		"\n(amounts in minor units, the sum of what each order's refunds change by)\n");

	size_t buyers = 0, sellers = 0;
	for (size_t i = 0; i < r->users_count; i++) {
		const struct esc_replay_user *u = &r->users[i];
		if (u->role == ESC_ACTOR_BUYER && u->value[0] != u->value[1])
			buyers++;
		if (u->role == ESC_ACTOR_SELLER &&
		    abs(u->value[0] - u->value[1]) > ESC_REPLAY_SCORE_STEP)
			sellers++;
	}
	fprintf(out, "\nbuyers whose level changes: %zu\n", buyers);
	for (size_t i = 0; i < r->users_count; i++) {
		const struct esc_replay_user *u = &r->users[i];
		if (u->role == ESC_ACTOR_BUYER && u->value[0] != u->value[1])
			fprintf(out, "  %s  %s -> %s\n", u->id,
				esc_level_name((enum esc_buyer_level)u->value[0]),
				esc_level_name((enum esc_buyer_level)u->value[1]));
	}
	fprintf(out, "sellers whose score changes by more than %d points: %zu\n",
		ESC_REPLAY_SCORE_STEP, sellers);
	for (size_t i = 0; i < r->users_count; i++) {
		const struct esc_replay_user *u = &r->users[i];
		if (u->role == ESC_ACTOR_SELLER &&
		    abs(u->value[0] - u->value[1]) > ESC_REPLAY_SCORE_STEP)
			fprintf(out, "  %s  %d -> %d\n", u->id, u->value[0], u->value[1]);
	}

	fprintf(out, "\ncommands refused: %lld under the base policy, %lld under the new one\n",
		(long long)r->refused[0], (long long)r->refused[1]);
	for (int e = 0; e < ESC_EV_COUNT; e++) {
		if (r->refused_by_event[0][e] == r->refused_by_event[1][e])
			continue;
		fprintf(out, "  %-40s %lld -> %lld\n", esc_event_name((enum esc_event)e),
			(long long)r->refused_by_event[0][e], (long long)r->refused_by_event[1][e]);
	}
}

size_t esc_replay_csv(const struct esc_replay_report *r, FILE *out)
{
	size_t rows = 0;
	fprintf(out, "order_id,buyer_id,seller_id,currency,outcome_before,outcome_after,"
		     "refunded_before,refunded_after\n");
	for (size_t i = 0; i < r->orders_count; i++) {
		const struct esc_replay_order *o = &r->orders[i];
		if (!outcome_changed(o) && !refund_changed(o))
			continue;
		fprintf(out, "%s,%s,%s,%s,%s,%s,%lld,%lld\n", o->order_id, o->buyer_id,
			o->seller_id, o->currency, outcome_name(o, 0), outcome_name(o, 1),
			(long long)o->refunded_minor[0], (long long)o->refunded_minor[1]);
		rows++;
	}
	return rows;
}
