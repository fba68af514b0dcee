/* test_random.c - the randomized invariant test: thousands of random
 * commands, clock moves, deadline firings, group commits and restarts on a
 * real SQLite file, with the ledger invariants (SPEC §4) checked after
 * every step and each order's own invariants after every command.
 *
 * The run is reproducible from its seed: ESC_SEED=N reruns it; otherwise
 * the seed comes from the time and is printed first. ESC_TEST_QUICK (set
 * by the sanitizer run) shortens it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/engine.h"
#include "store/store.h"
#include "support.h"
#include "util/error.h"

#define STEPS_DEFAULT 3000
#define STEPS_QUICK   800
#define POOL          40 /* orders in play at once */
#define BATCH_MAX     6  /* commands in one group commit */
#define BUYERS        6
#define SELLERS       3
#define ROWS_MAX      4096 /* deadline rows looked at by the queue check */
#define REFUNDS_SEEN  2048 /* refunds looked at across orders */

#define MINUTE (ESC_MS_PER_HOUR / 60)
#define HOUR   ESC_MS_PER_HOUR
#define DAY    ESC_MS_PER_DAY

/* ---- the PRNG: xorshift64*, seeded through splitmix64 ---- */

struct rng {
	uint64_t s;
};

static void rng_seed(struct rng *r, uint64_t seed)
{
	uint64_t z = seed + UINT64_C(0x9E3779B97F4A7C15);
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	z ^= z >> 31;
	r->s = z ? z : UINT64_C(0x2545F4914F6CDD1D);
}

static uint64_t rng_next(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * UINT64_C(0x2545F4914F6CDD1D);
}

/* Uniform in [0, n); n > 0. */
static uint64_t below(struct rng *r, uint64_t n)
{
	return (rng_next(r) >> 11) % n;
}

static int64_t between(struct rng *r, int64_t lo, int64_t hi)
{
	return lo + (int64_t)below(r, (uint64_t)(hi - lo + 1));
}

static bool chance(struct rng *r, int percent)
{
	return (int)below(r, 100) < percent;
}

#define PICK(r, arr) ((arr)[below((r), sizeof(arr) / sizeof((arr)[0]))])

/* ---- the simulation ---- */

/* Every order created, with what was last read of it. */
struct tracked {
	struct esc_order last;
};

struct sim {
	struct esc_fixture f;
	struct rng rng;
	uint64_t seed;
	long step, steps;
	bool done;
	char what[600]; /* the step under way, for the failure report */

	struct esc_user buyers[BUYERS], sellers[SELLERS], arbiter;

	char pool[POOL][ESC_ID_SIZE]; /* "" = free slot */
	int last_slot;                /* commands come in short runs per order */
	struct tracked *orders;
	size_t orders_count, orders_cap;
	int64_t orders_expected; /* as counted by the ledger check */
	int64_t outbox_expected;

	/* Per-command storage, so a batch's arguments stay valid. */
	struct esc_item items[BATCH_MAX][3];
	char refund_ids[BATCH_MAX][ESC_ID_SIZE];
	char refund_orders[BATCH_MAX][ESC_ID_SIZE];

	/* Counts, printed at the end to show what the run reached. */
	long accepted[ESC_EV_COUNT], refused[ESC_EV_COUNT];
	long reached[ESC_ST_COUNT];
	long fired, advances, batches, restarts;
	int64_t fired_at; /* when deadlines were last fired */
};

static void report(struct sim *s, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "\nrandom: FAILED at step %ld of %ld: ", s->step, s->steps);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nrandom: during: %s\n", s->what);
	fprintf(stderr, "random: seed=%llu; rerun with ESC_SEED=%llu\n",
		(unsigned long long)s->seed, (unsigned long long)s->seed);
}

#define REQUIRE(s, cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			report((s), __VA_ARGS__);                                                  \
			fail_msg("%s", #cond);                                                     \
		}                                                                                  \
	} while (0)

static struct esc_engine *E(struct sim *s)
{
	return s->f.e;
}

static int load(struct sim *s, const char *id, struct esc_order *o)
{
	int rc;
	ESC_STORE(rc, esc_engine_writer(E(s)), order_get, id, o);
	REQUIRE(s, rc == 0 || rc == ESC_ENOTFOUND, "order_get %s: %s", id, esc_error_name(rc));
	return rc;
}

static struct tracked *find_tracked(struct sim *s, const char *id)
{
	for (size_t i = 0; i < s->orders_count; i++)
		if (!strcmp(s->orders[i].last.id, id))
			return &s->orders[i];
	return NULL;
}

static void track(struct sim *s, const struct esc_order *o)
{
	struct tracked *t = find_tracked(s, o->id);
	if (!t) {
		if (s->orders_count == s->orders_cap) {
			s->orders_cap = s->orders_cap ? 2 * s->orders_cap : 256;
			s->orders = realloc(s->orders, s->orders_cap * sizeof *s->orders);
			assert_non_null(s->orders);
		}
		t = &s->orders[s->orders_count++];
		s->reached[o->state]++;
	} else if (t->last.state != o->state) {
		s->reached[o->state]++;
	}
	t->last = *o;
}

/* All refunds with `status` (-1: any), in an order that does not depend on
 * the random ids: by creation time, then by when their order was created.
 * Returns a malloc'd array of *n. */
static struct esc_refund *list_refunds(struct sim *s, int status, size_t *n)
{
	struct esc_refund *r = calloc(REFUNDS_SEEN, sizeof *r);
	int rc;
	assert_non_null(r);
	ESC_STORE(rc, esc_engine_writer(E(s)), refunds_list, NULL, status, NULL, r, REFUNDS_SEEN,
		  n);
	REQUIRE(s, rc == 0, "refunds_list: %s", esc_error_name(rc));
	REQUIRE(s, *n < REFUNDS_SEEN, "more than %d refunds", REFUNDS_SEEN);
	/* Insertion sort: the list is short and mostly sorted already. */
	for (size_t i = 1; i < *n; i++) {
		struct esc_refund x = r[i];
		struct tracked *tx = find_tracked(s, x.order_id);
		size_t j = i;
		while (j > 0) {
			struct tracked *ty = find_tracked(s, r[j - 1].order_id);
			bool after = r[j - 1].created_at_ms > x.created_at_ms ||
				     (r[j - 1].created_at_ms == x.created_at_ms && ty > tx);
			if (!after)
				break;
			r[j] = r[j - 1];
			j--;
		}
		r[j] = x;
	}
	return r;
}

/* ---- invariants ---- */

static bool rc_is_refusal(int rc)
{
	switch (rc) {
	case ESC_EINVAL:
	case ESC_ENOTFOUND:
	case ESC_EFORBIDDEN:
	case ESC_ESTATE:
	case ESC_ESHIPPED:
	case ESC_EPENDING:
	case ESC_EDEADLINE:
	case ESC_ELIMIT:
	case ESC_ESUSPENDED:
	case ESC_EPRECONDITION:
	case ESC_EAMOUNT:
	case ESC_EFUNDS:
	case ESC_EUNSUPPORTED:
		return true;
	default:
		return false;
	}
}

/* What an order must satisfy whatever happened to it (SPEC §4 and the
 * state invariants of order.c). */
static void check_order(struct sim *s, const struct esc_order *o)
{
	int64_t held = esc_order_held(o);
	const char *st = esc_state_name(o->state);
	REQUIRE(s, o->version >= 1, "%s: version %lld", o->id, (long long)o->version);
	REQUIRE(s, !esc_order_check(o), "%s (%s): breaks an invariant: %s", o->id, st,
		esc_order_check(o));
	REQUIRE(s, o->paid_minor >= 0 && o->refunded_minor >= 0 && o->released_minor >= 0,
		"%s: negative money: paid %lld refunded %lld released %lld", o->id,
		(long long)o->paid_minor, (long long)o->refunded_minor,
		(long long)o->released_minor);
	REQUIRE(s, held >= 0, "%s (%s): held %lld < 0", o->id, st, (long long)held);
	REQUIRE(s, o->refunded_minor <= o->paid_minor, "%s: refunded %lld > paid %lld", o->id,
		(long long)o->refunded_minor, (long long)o->paid_minor);
	REQUIRE(s, o->fee_minor >= 0 && o->fee_minor <= o->released_minor,
		"%s: fee %lld of released %lld", o->id, (long long)o->fee_minor,
		(long long)o->released_minor);
	REQUIRE(s, o->paid_minor == 0 || o->paid_minor == o->total_minor,
		"%s: paid %lld of total %lld", o->id, (long long)o->paid_minor,
		(long long)o->total_minor);
	REQUIRE(s, o->cancel_requests >= 0 && o->cancel_requests <= 2, "%s: %d requests", o->id,
		o->cancel_requests);
	switch (o->state) {
	case ESC_ST_AWAITING_PAYMENT:
		REQUIRE(s, o->paid_minor == 0, "%s: awaiting payment but paid %lld", o->id,
			(long long)o->paid_minor);
		REQUIRE(s, o->due_ms[ESC_DL_PAYMENT] != 0, "%s: no payment deadline", o->id);
		break;
	case ESC_ST_AWAITING_SHIPMENT:
	case ESC_ST_CANCELLATION_REQUESTED:
	case ESC_ST_SHIPPED:
	case ESC_ST_DELIVERED:
		REQUIRE(s, held == o->total_minor && o->paid_minor == o->total_minor,
			"%s (%s): held %lld, paid %lld, total %lld", o->id, st, (long long)held,
			(long long)o->paid_minor, (long long)o->total_minor);
		break;
	case ESC_ST_IN_DISPUTE: {
		enum esc_dispute_state ds = o->dispute_state;
		bool windowed = ds == ESC_DS_AWAITING_SELLER || ds == ESC_DS_COUNTER_OFFERED ||
				ds == ESC_DS_REJECTED || ds == ESC_DS_AWAITING_RETURN;
		REQUIRE(s, held > 0, "%s: in dispute with nothing held", o->id);
		REQUIRE(s, ds != ESC_DS_NONE && ds != ESC_DS_RESOLVED, "%s: in dispute, dispute %s",
			o->id, esc_dispute_state_name(ds));
		REQUIRE(s, (o->due_ms[ESC_DL_DISPUTE] != 0) == windowed,
			"%s: dispute %s with its window %s", o->id, esc_dispute_state_name(ds),
			o->due_ms[ESC_DL_DISPUTE] ? "set" : "unset");
		/* Amounts never exceed what is still held (SPEC §5). */
		REQUIRE(s,
			o->dispute_amount_minor <= held && o->dispute_offer_minor <= held &&
				o->dispute_agreed_minor <= o->dispute_amount_minor,
			"%s: asked %lld, offered %lld, agreed %lld, held %lld", o->id,
			(long long)o->dispute_amount_minor, (long long)o->dispute_offer_minor,
			(long long)o->dispute_agreed_minor, (long long)held);
		break;
	}
	case ESC_ST_COMPLETED:
	case ESC_ST_CANCELLED:
	case ESC_ST_CLOSED:
		REQUIRE(s, held == 0, "%s (%s): holds %lld", o->id, st, (long long)held);
		for (int k = 0; k < ESC_DL_ORDER_COUNT; k++)
			REQUIRE(s, o->due_ms[k] == 0, "%s (%s): %s deadline still set", o->id, st,
				esc_deadline_name((enum esc_deadline_kind)k));
		REQUIRE(s, o->ended_at_ms != 0, "%s (%s): no end time", o->id, st);
		REQUIRE(s, !o->disputes_count || o->dispute_state == ESC_DS_RESOLVED,
			"%s (%s): dispute still %s", o->id, st,
			esc_dispute_state_name(o->dispute_state));
		REQUIRE(s, o->dispute_refund_minor <= o->dispute_amount_minor,
			"%s: refunded %lld of %lld asked in its dispute", o->id,
			(long long)o->dispute_refund_minor, (long long)o->dispute_amount_minor);
		break;
	default:
		REQUIRE(s, false, "%s: state %d", o->id, (int)o->state);
	}
	if (o->state == ESC_ST_CANCELLATION_REQUESTED)
		REQUIRE(s, o->due_ms[ESC_DL_RESPONSE] != 0, "%s: request without deadline", o->id);
	if (o->state == ESC_ST_AWAITING_SHIPMENT || o->state == ESC_ST_CANCELLATION_REQUESTED)
		REQUIRE(s, o->due_ms[ESC_DL_SHIP] != 0, "%s: no ship deadline", o->id);
	if (o->state == ESC_ST_SHIPPED)
		REQUIRE(s, o->due_ms[ESC_DL_PROTECTION] != 0, "%s: no protection deadline", o->id);
	if (o->state == ESC_ST_DELIVERED)
		REQUIRE(s, o->due_ms[ESC_DL_CONFIRM] != 0, "%s: no confirm deadline", o->id);
}

/* The order against the store: its refunds add up to what it refunded,
 * and its latest history row is its version. */
static void check_order_store(struct sim *s, const struct esc_order *o)
{
	struct esc_refund r[ESC_REFUNDS_MAX + 2];
	struct esc_history h;
	size_t n = 0;
	int64_t sum = 0;
	int rc;
	ESC_STORE(rc, esc_engine_writer(E(s)), refunds_list, o->id, -1, NULL, r,
		  ESC_REFUNDS_MAX + 2, &n);
	REQUIRE(s, rc == 0, "refunds_list: %s", esc_error_name(rc));
	for (size_t i = 0; i < n; i++) {
		REQUIRE(s, r[i].amount_minor > 0, "%s: refund of %lld", r[i].id,
			(long long)r[i].amount_minor);
		sum += r[i].amount_minor;
	}
	REQUIRE(s, sum == o->refunded_minor, "%s: refunds add up to %lld, refunded %lld", o->id,
		(long long)sum, (long long)o->refunded_minor);
	REQUIRE(s, (int32_t)n == o->refunds_count, "%s: %zu refunds, refunds_count %d", o->id, n,
		o->refunds_count);
	ESC_STORE(rc, esc_engine_writer(E(s)), history_list, o->id, o->version - 1, &h, 1, &n);
	REQUIRE(s, rc == 0 && n == 1 && h.version == o->version && h.to == o->state,
		"%s: the history does not end at version %lld", o->id, (long long)o->version);
}

/* Every deadline an order shows is in the queue, and nothing due now is
 * left unfired; every pending refund's alert is queued. */
static void check_queue(struct sim *s, bool fired)
{
	static struct esc_deadline rows[ROWS_MAX];
	struct esc_refund *pending = NULL;
	size_t n = 0, np = 0;
	int64_t now = esc_engine_now(E(s));
	int rc;
	ESC_STORE(rc, esc_engine_writer(E(s)), deadlines_due, INT64_MAX, rows, ROWS_MAX, &n);
	REQUIRE(s, rc == 0, "deadlines_due: %s", esc_error_name(rc));
	if (fired)
		REQUIRE(s, n == 0 || rows[0].due_ms > now,
			"a %s deadline of %s due at %lld is still queued at %lld after firing",
			esc_deadline_name(rows[0].kind), rows[0].order_id,
			(long long)rows[0].due_ms, (long long)now);
	if (n == ROWS_MAX)
		return; /* too many to say a row is missing */
	for (int i = 0; i < POOL; i++) {
		struct esc_order o;
		if (!s->pool[i][0] || load(s, s->pool[i], &o))
			continue;
		check_order(s, &o);
		for (int k = 0; k < ESC_DL_ORDER_COUNT; k++) {
			bool found = false;
			if (!o.due_ms[k])
				continue;
			for (size_t j = 0; j < n && !found; j++)
				found = rows[j].kind == (enum esc_deadline_kind)k &&
					rows[j].due_ms == o.due_ms[k] &&
					!strcmp(rows[j].order_id, o.id);
			REQUIRE(s, found, "%s (%s): its %s deadline at %lld is not queued", o.id,
				esc_state_name(o.state),
				esc_deadline_name((enum esc_deadline_kind)k),
				(long long)o.due_ms[k]);
		}
	}
	pending = list_refunds(s, ESC_REFUND_PENDING, &np);
	for (size_t i = 0; i < np; i++) {
		bool found = !pending[i].alert_due_ms;
		for (size_t j = 0; j < n && !found; j++)
			found = rows[j].kind == ESC_DL_REFUND &&
				!strcmp(rows[j].ref, pending[i].id) &&
				rows[j].due_ms == pending[i].alert_due_ms;
		REQUIRE(s, found, "pending refund %s: its alert is not queued", pending[i].id);
	}
	free(pending);
}

/* The reputation events (issue 14) in the outbox: written beside a
 * command's own event when its marks move a level or a score, so counted
 * apart from the commands'. */
static int64_t reputation_events(struct sim *s)
{
	struct esc_outbox_row rows[64];
	char *payloads[64];
	struct esc_event_filter f = {.type_prefix = "reputation."};
	int64_t total = 0;
	size_t n = 0;
	do {
		int rc;
		ESC_STORE(rc, esc_engine_writer(E(s)), events_list, &f, rows, payloads, 64, &n);
		REQUIRE(s, rc == 0, "events_list: %s", esc_error_name(rc));
		for (size_t i = 0; i < n; i++)
			free(payloads[i]);
		if (n)
			f.after_seq = rows[n - 1].seq;
		total += (int64_t)n;
	} while (n == 64);
	return total;
}

static void check_ledger(struct sim *s)
{
	struct esc_ledger_report rep;
	int64_t outbox = 0;
	int rc = esc_engine_check(E(s), &rep);
	REQUIRE(s, rc == 0, "esc_engine_check: %s", esc_error_name(rc));
	if (rep.problems_count) {
		for (size_t i = 0; i < rep.problems_count && i < ESC_CHECK_PROBLEMS_MAX; i++)
			fprintf(stderr, "ledger: %s\n", rep.problems[i]);
		REQUIRE(s, false, "%zu ledger problems", rep.problems_count);
	}
	REQUIRE(s, rep.orders_count == s->orders_expected, "%lld orders stored, %lld created",
		(long long)rep.orders_count, (long long)s->orders_expected);
	ESC_STORE(rc, esc_engine_writer(E(s)), outbox_count, &outbox);
	int64_t reputation = rc ? 0 : reputation_events(s);
	REQUIRE(s, rc == 0 && outbox - reputation == s->outbox_expected,
		"%lld outbox rows (%lld of them reputation events), %lld accepted events",
		(long long)outbox, (long long)reputation, (long long)s->outbox_expected);
	for (int i = 0; i < BUYERS; i++) {
		char account[ESC_ACCOUNT_SIZE];
		int64_t b = 0;
		esc_account_buyer(account, s->buyers[i].id);
		ESC_STORE(rc, esc_engine_writer(E(s)), balance_get, account, "EUR", &b);
		REQUIRE(s, rc == 0 && b >= 0, "%s: balance %lld", account, (long long)b);
	}
}

/* ---- random commands ---- */

static const enum esc_actor event_actor[ESC_EV_COUNT] = {
	[ESC_EV_CREATE] = ESC_ACTOR_OPERATOR,
	[ESC_EV_PAY] = ESC_ACTOR_OPERATOR,
	[ESC_EV_CANCEL] = ESC_ACTOR_BUYER,
	[ESC_EV_ACCEPT_CANCELLATION] = ESC_ACTOR_SELLER,
	[ESC_EV_REJECT_CANCELLATION] = ESC_ACTOR_SELLER,
	[ESC_EV_WITHDRAW_CANCELLATION] = ESC_ACTOR_BUYER,
	[ESC_EV_SHIP] = ESC_ACTOR_SELLER,
	[ESC_EV_DELIVER] = ESC_ACTOR_OPERATOR,
	[ESC_EV_CONFIRM_RECEIPT] = ESC_ACTOR_BUYER,
	[ESC_EV_OPEN_DISPUTE] = ESC_ACTOR_BUYER,
	[ESC_EV_ACCEPT_DISPUTE] = ESC_ACTOR_SELLER,
	[ESC_EV_COUNTER_OFFER] = ESC_ACTOR_SELLER,
	[ESC_EV_REJECT_DISPUTE] = ESC_ACTOR_SELLER,
	[ESC_EV_ACCEPT_OFFER] = ESC_ACTOR_BUYER,
	[ESC_EV_ESCALATE] = ESC_ACTOR_BUYER,
	[ESC_EV_WITHDRAW_DISPUTE] = ESC_ACTOR_BUYER,
	[ESC_EV_RETURN_SHIPMENT] = ESC_ACTOR_BUYER,
	[ESC_EV_RETURN_RECEIVED] = ESC_ACTOR_SELLER,
	[ESC_EV_RESOLVE_DISPUTE] = ESC_ACTOR_ARBITER,
	[ESC_EV_DISPUTE_DEADLINE] = ESC_ACTOR_SYSTEM,
	[ESC_EV_PAYMENT_DEADLINE] = ESC_ACTOR_SYSTEM,
	[ESC_EV_SHIP_DEADLINE] = ESC_ACTOR_SYSTEM,
	[ESC_EV_RESPONSE_DEADLINE] = ESC_ACTOR_SYSTEM,
	[ESC_EV_PROTECTION_DEADLINE] = ESC_ACTOR_SYSTEM,
	[ESC_EV_CONFIRM_DEADLINE] = ESC_ACTOR_SYSTEM,
	[ESC_EV_REFUND_SETTLED] = ESC_ACTOR_OPERATOR,
	[ESC_EV_REFUND_FAILED] = ESC_ACTOR_OPERATOR,
	[ESC_EV_REFUND_OVERDUE] = ESC_ACTOR_SYSTEM,
};

/* Events that fit a state, weighted towards moving the order on. */
struct weighted {
	enum esc_event event;
	int weight;
};

static const struct weighted fit_awaiting_payment[] = {
	{ESC_EV_PAY, 70}, {ESC_EV_CANCEL, 20}, {ESC_EV_PAYMENT_DEADLINE, 5}, {ESC_EV_SHIP, 5}};
static const struct weighted fit_awaiting_shipment[] = {{ESC_EV_SHIP, 45},
							{ESC_EV_CANCEL, 40},
							{ESC_EV_SHIP_DEADLINE, 5},
							{ESC_EV_PAY, 5},
							{ESC_EV_ACCEPT_CANCELLATION, 5}};
static const struct weighted fit_requested[] = {{ESC_EV_ACCEPT_CANCELLATION, 30},
						{ESC_EV_REJECT_CANCELLATION, 30},
						{ESC_EV_WITHDRAW_CANCELLATION, 25},
						{ESC_EV_RESPONSE_DEADLINE, 5},
						{ESC_EV_SHIP, 5},
						{ESC_EV_CANCEL, 5}};
static const struct weighted fit_shipped[] = {{ESC_EV_DELIVER, 35},
					      {ESC_EV_CONFIRM_RECEIPT, 15},
					      {ESC_EV_OPEN_DISPUTE, 30},
					      {ESC_EV_CANCEL, 10},
					      {ESC_EV_PROTECTION_DEADLINE, 10}};
static const struct weighted fit_delivered[] = {{ESC_EV_CONFIRM_RECEIPT, 45},
						{ESC_EV_OPEN_DISPUTE, 25},
						{ESC_EV_CANCEL, 15},
						{ESC_EV_CONFIRM_DEADLINE, 15}};
/* In dispute, by the dispute's state: mostly what it takes, a little of
 * what it refuses. */
static const struct weighted fit_awaiting_seller[] = {
	{ESC_EV_ACCEPT_DISPUTE, 25},  {ESC_EV_COUNTER_OFFER, 30},  {ESC_EV_REJECT_DISPUTE, 30},
	{ESC_EV_WITHDRAW_DISPUTE, 5}, {ESC_EV_RESOLVE_DISPUTE, 5}, {ESC_EV_CANCEL, 5}};
static const struct weighted fit_countered[] = {{ESC_EV_ACCEPT_OFFER, 40},
						{ESC_EV_ESCALATE, 40},
						{ESC_EV_WITHDRAW_DISPUTE, 10},
						{ESC_EV_ACCEPT_DISPUTE, 10}};
static const struct weighted fit_rejected[] = {
	{ESC_EV_ESCALATE, 70}, {ESC_EV_WITHDRAW_DISPUTE, 15}, {ESC_EV_ACCEPT_OFFER, 15}};
static const struct weighted fit_escalated[] = {
	{ESC_EV_RESOLVE_DISPUTE, 80}, {ESC_EV_WITHDRAW_DISPUTE, 10}, {ESC_EV_ESCALATE, 10}};
static const struct weighted fit_awaiting_return[] = {{ESC_EV_RETURN_SHIPMENT, 45},
						      {ESC_EV_RETURN_RECEIVED, 45},
						      {ESC_EV_DISPUTE_DEADLINE, 5},
						      {ESC_EV_RESOLVE_DISPUTE, 5}};
static const struct weighted fit_final[] = {{ESC_EV_OPEN_DISPUTE, 40},
					    {ESC_EV_CANCEL, 20},
					    {ESC_EV_PAY, 15},
					    {ESC_EV_SHIP, 15},
					    {ESC_EV_RESOLVE_DISPUTE, 10}};

#define FIT(a)                                                                                     \
	{                                                                                          \
		a, sizeof(a) / sizeof((a)[0])                                                      \
	}
static const struct {
	const struct weighted *w;
	size_t n;
} fits[ESC_ST_COUNT] = {
	[ESC_ST_AWAITING_PAYMENT] = FIT(fit_awaiting_payment),
	[ESC_ST_AWAITING_SHIPMENT] = FIT(fit_awaiting_shipment),
	[ESC_ST_CANCELLATION_REQUESTED] = FIT(fit_requested),
	[ESC_ST_SHIPPED] = FIT(fit_shipped),
	[ESC_ST_DELIVERED] = FIT(fit_delivered),
	[ESC_ST_COMPLETED] = FIT(fit_final),
	[ESC_ST_CANCELLED] = FIT(fit_final),
	[ESC_ST_CLOSED] = FIT(fit_final),
};

static const struct {
	const struct weighted *w;
	size_t n;
} dispute_fits[ESC_DS_COUNT] = {
	[ESC_DS_AWAITING_SELLER] = FIT(fit_awaiting_seller),
	[ESC_DS_COUNTER_OFFERED] = FIT(fit_countered),
	[ESC_DS_REJECTED] = FIT(fit_rejected),
	[ESC_DS_ESCALATED] = FIT(fit_escalated),
	[ESC_DS_AWAITING_RETURN] = FIT(fit_awaiting_return),
};

static enum esc_event pick_event(struct sim *s, const struct esc_order *o)
{
	int total = 0, x;
	enum esc_state st = o->state;
	const struct weighted *w = NULL;
	size_t n = 0;
	if (st == ESC_ST_IN_DISPUTE && o->dispute_state < ESC_DS_COUNT) {
		w = dispute_fits[o->dispute_state].w;
		n = dispute_fits[o->dispute_state].n;
	} else if (st > ESC_ST_NONE && st < ESC_ST_COUNT) {
		w = fits[st].w;
		n = fits[st].n;
	}
	if (!n || chance(&s->rng, 20))
		return (enum esc_event)below(&s->rng, ESC_EV_COUNT);
	for (size_t i = 0; i < n; i++)
		total += w[i].weight;
	x = (int)below(&s->rng, (uint64_t)total);
	for (size_t i = 0; i < n; i++) {
		x -= w[i].weight;
		if (x < 0)
			return w[i].event;
	}
	return fits[st].w[0].event;
}

static const char *const reasons_ok[] = {"no_longer_needed", "change_order",  "better_price",
					 "seller_asked",     "price_changed", "out_of_stock",
					 "shipping_too_long"};
static const char *const reasons_bad[] = {NULL, "", "NO_LONGER_NEEDED", "because",
					  "no_longer_needed "};
static const char *const carriers[] = {"Posturinn", "DHL", "UPS", "La Poste", "PostNord"};
static const char *const trackings[] = {"RR123456789IS", "1Z999AA10123456784", "JJD000390007200000",
					"00340434161094042557"};
static const char *const grounds[] = {"invalid_tracking", "not_as_described", "not_delivered"};
static const char *const outcomes[] = {"refund_only", "return_and_refund"};

static char long_text[ESC_TEXT_MAX + 2]; /* one byte too long */
static char long_carrier[ESC_CARRIER_MAX + 2];

/* A string argument: mostly one of `good`, sometimes missing, empty, too
 * long or with a control character. */
static const char *text_arg(struct sim *s, const char *good, const char *too_long)
{
	switch (below(&s->rng, 20)) {
	case 0:
		return NULL;
	case 1:
		return "";
	case 2:
		return too_long;
	case 3:
		return "bad\001text";
	default:
		return good;
	}
}

static const char *actor_id_for(struct sim *s, enum esc_actor a, const struct esc_order *o)
{
	if (a == ESC_ACTOR_BUYER) {
		if (o && chance(&s->rng, 85))
			return o->buyer_id;
		return s->buyers[below(&s->rng, BUYERS)].id;
	}
	if (a == ESC_ACTOR_SELLER) {
		if (o && chance(&s->rng, 85))
			return o->seller_id;
		return s->sellers[below(&s->rng, SELLERS)].id;
	}
	if (a == ESC_ACTOR_ARBITER)
		return s->arbiter.id;
	return chance(&s->rng, 95) ? NULL : s->buyers[0].id;
}

static void fill_create(struct sim *s, struct esc_command *c, int k)
{
	struct esc_item *items = s->items[k];
	size_t n = (size_t)between(&s->rng, 1, 3);
	for (size_t i = 0; i < n; i++) {
		snprintf(items[i].title, sizeof items[i].title, "Item %zu", i + 1);
		items[i].quantity = between(&s->rng, 1, 3);
		items[i].unit_price_minor = between(&s->rng, 1, 50000);
		if (chance(&s->rng, 2))
			items[i].quantity = PICK(&s->rng, ((int64_t[]){0, -1, 2000000}));
		if (chance(&s->rng, 2))
			items[i].unit_price_minor = PICK(&s->rng, ((int64_t[]){-1, 0}));
		if (chance(&s->rng, 1))
			items[i].title[0] = '\0';
	}
	c->args.items = items;
	c->args.items_count = n;
	c->args.buyer_id = s->buyers[below(&s->rng, BUYERS)].id;
	c->args.seller_id = s->sellers[below(&s->rng, SELLERS)].id;
	if (chance(&s->rng, 3))
		c->args.buyer_id =
			PICK(&s->rng, ((const char *[]){s->sellers[0].id, "usr_nobody", NULL}));
	if (chance(&s->rng, 3))
		c->args.seller_id =
			PICK(&s->rng, ((const char *[]){s->buyers[0].id, "usr_nobody", NULL}));
	c->args.currency = chance(&s->rng, 95)
				   ? "EUR"
				   : PICK(&s->rng, ((const char *[]){"USD", "eur", "EURO", NULL}));
	if (chance(&s->rng, 30))
		c->args.delivery_days = (int32_t)between(&s->rng, 1, 120);
	if (chance(&s->rng, 3))
		c->args.delivery_days = PICK(&s->rng, ((int32_t[]){-1, 366, 100000}));
}

static void fill_args(struct sim *s, struct esc_command *c, const struct esc_order *o, int k)
{
	struct esc_args *a = &c->args;
	int64_t total = o ? o->total_minor : 1000;
	switch (c->event) {
	case ESC_EV_CREATE:
		fill_create(s, c, k);
		break;
	case ESC_EV_PAY:
		a->amount_minor =
			chance(&s->rng, 85)
				? total
				: PICK(&s->rng, ((int64_t[]){total + 1, total - 1, 0, -5, INT64_MAX,
							     ESC_AMOUNT_MAX + 1}));
		a->method = chance(&s->rng, 95) ? (int)PICK(&s->rng, ((int[]){0, 0, 0, 1, 1, 2}))
						: PICK(&s->rng, ((int[]){-1, 3, 99}));
		break;
	case ESC_EV_CANCEL:
		a->reason = chance(&s->rng, 85) ? PICK(&s->rng, reasons_ok)
						: PICK(&s->rng, reasons_bad);
		a->refund_to = chance(&s->rng, 95) ? PICK(&s->rng, ((int[]){-1, 0, 1, 1}))
						   : PICK(&s->rng, ((int[]){2, -7, 100}));
		a->comment =
			chance(&s->rng, 50) ? NULL : text_arg(s, "Changed my mind.", long_text);
		break;
	case ESC_EV_REJECT_CANCELLATION:
		a->message = text_arg(s, "It is packed and ships today.", long_text);
		break;
	case ESC_EV_SHIP:
		a->carrier = text_arg(s, PICK(&s->rng, carriers), long_carrier);
		a->tracking = text_arg(s, PICK(&s->rng, trackings), long_carrier);
		break;
	case ESC_EV_OPEN_DISPUTE:
		a->ground = chance(&s->rng, 90) ? PICK(&s->rng, grounds) : "broken";
		a->outcome = chance(&s->rng, 90) ? PICK(&s->rng, outcomes) : NULL;
		a->amount_minor = chance(&s->rng, 40) ? total
				  : chance(&s->rng, 75)
					  ? between(&s->rng, 1, total)
					  : PICK(&s->rng, ((int64_t[]){0, -1, total + 1}));
		a->description = text_arg(s, "It is not what the listing showed.", long_text);
		break;
	case ESC_EV_COUNTER_OFFER: {
		int64_t asked = o && o->dispute_amount_minor ? o->dispute_amount_minor : total;
		a->amount_minor = chance(&s->rng, 85) && asked > 1
					  ? between(&s->rng, 1, asked - 1)
					  : PICK(&s->rng, ((int64_t[]){0, asked, -3}));
		a->message = chance(&s->rng, 50) ? NULL : text_arg(s, "Half, then.", long_text);
		break;
	}
	case ESC_EV_REJECT_DISPUTE:
		a->message = text_arg(s, "It left here whole.", long_text);
		break;
	case ESC_EV_RETURN_SHIPMENT:
		a->carrier = text_arg(s, PICK(&s->rng, carriers), long_carrier);
		a->tracking = text_arg(s, PICK(&s->rng, trackings), long_carrier);
		break;
	case ESC_EV_RESOLVE_DISPUTE: {
		int64_t asked = o && o->dispute_amount_minor ? o->dispute_amount_minor : total;
		a->amount_minor = chance(&s->rng, 90)
					  ? PICK(&s->rng, ((int64_t[]){0, asked, asked / 2,
								       between(&s->rng, 0, asked)}))
					  : PICK(&s->rng, ((int64_t[]){-1, asked + 1}));
		a->message = text_arg(s, "Decided on the evidence.", long_text);
		break;
	}
	case ESC_EV_REFUND_SETTLED:
	case ESC_EV_REFUND_FAILED:
	case ESC_EV_REFUND_OVERDUE:
		/* Usually a refund of this order, else someone else's or none. */
		if (o) {
			struct esc_refund r[ESC_REFUNDS_MAX];
			size_t n = 0;
			int rc;
			ESC_STORE(rc, esc_engine_writer(E(s)), refunds_list, o->id, -1, NULL, r,
				  ESC_REFUNDS_MAX, &n);
			REQUIRE(s, rc == 0, "refunds_list: %s", esc_error_name(rc));
			if (n)
				snprintf(s->refund_ids[k], ESC_ID_SIZE, "%s",
					 r[below(&s->rng, n)].id);
			else
				snprintf(s->refund_ids[k], ESC_ID_SIZE, "%.40s-r1", o->id);
		} else {
			snprintf(s->refund_ids[k], ESC_ID_SIZE, "ord_nothing-r1");
		}
		a->refund_id = chance(&s->rng, 95) ? s->refund_ids[k] : NULL;
		break;
	default:
		break;
	}
}

/* A random command for slot k of a batch, on order o (NULL: none). */
static void make_command(struct sim *s, struct esc_command *c, enum esc_event ev,
			 const struct esc_order *o, int k)
{
	enum esc_actor actor = event_actor[ev];
	if (chance(&s->rng, 8))
		actor = (enum esc_actor)below(&s->rng, ESC_ACTOR_COUNT);
	esc_command_init(c, ev, actor, actor_id_for(s, actor, o), o ? o->id : NULL);
	if (!o && ev != ESC_EV_CREATE)
		c->order_id = chance(&s->rng, 50) ? "ord_does_not_exist" : NULL;
	fill_args(s, c, o, k);
	if (o && chance(&s->rng, 8))
		c->if_match = o->version + (chance(&s->rng, 50) ? 0 : between(&s->rng, -1, 1));
}

/* A command that pays, ships, settles a refund: whatever fits the order;
 * on a free or finished slot, mostly a new order. */
static void random_command(struct sim *s, struct esc_command *c, int k, int *slot_out)
{
	int slot = chance(&s->rng, 70) ? s->last_slot : (int)below(&s->rng, POOL);
	struct esc_order o;
	bool have = s->pool[slot][0] && load(s, s->pool[slot], &o) == 0;
	*slot_out = slot;
	s->last_slot = slot;
	if (!have || (esc_state_final(o.state) && chance(&s->rng, 75))) {
		make_command(s, c, ESC_EV_CREATE, NULL, k);
		return;
	}
	enum esc_event ev = pick_event(s, &o);
	if (chance(&s->rng, o.refunds_count ? 12 : 1))
		ev = PICK(&s->rng,
			  ((enum esc_event[]){ESC_EV_REFUND_SETTLED, ESC_EV_REFUND_FAILED,
					      ESC_EV_REFUND_SETTLED, ESC_EV_REFUND_OVERDUE}));
	if (chance(&s->rng, 1)) {
		make_command(s, c, ev, NULL, k); /* an order that does not exist */
		return;
	}
	make_command(s, c, ev, &o, k);
}

/* A refund event on a pending refund of any order, as the payment
 * integration would send it. */
static bool refund_command(struct sim *s, struct esc_command *c, int k)
{
	size_t n = 0;
	struct esc_refund *r = list_refunds(s, chance(&s->rng, 85) ? ESC_REFUND_PENDING : -1, &n);
	if (!n) {
		free(r);
		return false;
	}
	struct esc_refund pick = r[below(&s->rng, n)];
	free(r);
	snprintf(s->refund_ids[k], ESC_ID_SIZE, "%s", pick.id);
	snprintf(s->refund_orders[k], ESC_ID_SIZE, "%s", pick.order_id);
	enum esc_event ev = chance(&s->rng, 60)   ? ESC_EV_REFUND_SETTLED
			    : chance(&s->rng, 90) ? ESC_EV_REFUND_FAILED
						  : ESC_EV_REFUND_OVERDUE;
	enum esc_actor actor = chance(&s->rng, 95) ? event_actor[ev] : ESC_ACTOR_BUYER;
	esc_command_init(c, ev, actor, NULL, s->refund_orders[k]);
	c->args.refund_id = s->refund_ids[k];
	if (chance(&s->rng, 5)) {
		/* Named on another order. */
		int slot = (int)below(&s->rng, POOL);
		/* A copy: the batch may put a new order in the slot meanwhile. */
		if (s->pool[slot][0]) {
			memcpy(s->refund_orders[k], s->pool[slot], sizeof s->refund_orders[k]);
			c->order_id = s->refund_orders[k];
		}
	}
	return true;
}

static void describe(const struct esc_command *c, char *out, size_t size)
{
	const struct esc_args *a = &c->args;
	snprintf(out, size,
		 "%s by %s (%s) on %s if_match=%lld amount=%lld method=%d reason=%s refund_to=%d "
		 "refund=%s ground=%s",
		 esc_event_name(c->event), esc_actor_name(c->actor),
		 c->actor_id ? c->actor_id : "-", c->order_id ? c->order_id : "-",
		 (long long)c->if_match, (long long)a->amount_minor, a->method,
		 a->reason ? a->reason : "-", a->refund_to, a->refund_id ? a->refund_id : "-",
		 a->ground ? a->ground : "-");
}

/* ---- running commands with their checks ---- */

struct before {
	char id[ESC_ID_SIZE];
	struct esc_order order;
	int64_t running; /* version as the batch went */
};

static bool is_party(const struct esc_command *c, const struct esc_order *o)
{
	if (c->actor == ESC_ACTOR_BUYER)
		return c->actor_id && !strcmp(c->actor_id, o->buyer_id);
	if (c->actor == ESC_ACTOR_SELLER)
		return c->actor_id && !strcmp(c->actor_id, o->seller_id);
	return true;
}

/* Run n commands (one: esc_engine_exec; more: one group commit) and check
 * each: an accepted command bumps its order's version by exactly one and
 * leaves it valid; a refusal is a rule's, not a failure, and changes
 * nothing. */
static void run_commands(struct sim *s, const struct esc_command *cmds, size_t n, int *slots)
{
	struct before b[BATCH_MAX];
	struct esc_result res[BATCH_MAX];
	size_t nb = 0;

	for (size_t i = 0; i < n; i++) {
		const char *id = cmds[i].order_id;
		bool seen = false;
		if (cmds[i].event == ESC_EV_CREATE || !id)
			continue;
		for (size_t j = 0; j < nb && !seen; j++)
			seen = !strcmp(b[j].id, id);
		if (seen)
			continue;
		snprintf(b[nb].id, sizeof b[nb].id, "%s", id);
		if (load(s, id, &b[nb].order) == 0) {
			b[nb].running = b[nb].order.version;
			nb++;
		}
	}
	if (n == 1) {
		esc_engine_exec(E(s), &cmds[0], &res[0]);
	} else {
		int rc = esc_engine_exec_batch(E(s), cmds, n, res);
		REQUIRE(s, rc == 0, "exec_batch: %s", esc_error_name(rc));
	}

	for (size_t i = 0; i < n; i++) {
		const struct esc_command *c = &cmds[i];
		struct before *bi = NULL;
		char what[300];
		describe(c, what, sizeof what);
		for (size_t j = 0; j < nb && c->order_id && !bi; j++)
			if (!strcmp(b[j].id, c->order_id))
				bi = &b[j];
		if (res[i].rc) {
			s->refused[c->event]++;
			REQUIRE(s, rc_is_refusal(res[i].rc), "command %zu (%s) failed: %s: %s", i,
				what, esc_error_name(res[i].rc), res[i].message);
			REQUIRE(s, !res[i].has_refund, "a refused command reports a refund");
			if (res[i].has_order && bi)
				REQUIRE(s, res[i].order.version == bi->running,
					"command %zu (%s) refused (%s) shows version %lld, not "
					"%lld",
					i, what, esc_error_name(res[i].rc),
					(long long)res[i].order.version, (long long)bi->running);
			if (res[i].rc == ESC_ENOTFOUND)
				REQUIRE(s, !res[i].has_order, "not_found shows the order");
			continue;
		}
		s->accepted[c->event]++;
		s->outbox_expected++;
		REQUIRE(s, res[i].has_order, "command %zu (%s) accepted without an order", i, what);
		check_order(s, &res[i].order);
		if (c->event == ESC_EV_CREATE) {
			REQUIRE(s, res[i].order.version == 1, "a new order at version %lld",
				(long long)res[i].order.version);
			REQUIRE(s, find_tracked(s, res[i].order.id) == NULL,
				"create reused order id %s", res[i].order.id);
			s->orders_expected++;
			track(s, &res[i].order);
			if (slots && slots[i] >= 0) {
				snprintf(s->pool[slots[i]], ESC_ID_SIZE, "%s", res[i].order.id);
			} else {
				for (int p = 0; p < POOL; p++) {
					if (!s->pool[p][0]) {
						snprintf(s->pool[p], ESC_ID_SIZE, "%s",
							 res[i].order.id);
						break;
					}
				}
			}
			continue;
		}
		REQUIRE(s, bi != NULL, "command %zu (%s) accepted on an unknown order", i, what);
		REQUIRE(s, is_party(c, &bi->order), "command %zu (%s) accepted from a non-party", i,
			what);
		REQUIRE(s, res[i].order.version == bi->running + 1,
			"command %zu (%s): version %lld after %lld", i, what,
			(long long)res[i].order.version, (long long)bi->running);
		bi->running = res[i].order.version;
	}

	/* What the store holds now. */
	for (size_t j = 0; j < nb; j++) {
		struct esc_order now;
		REQUIRE(s, load(s, b[j].id, &now) == 0, "%s vanished", b[j].id);
		REQUIRE(s, now.version == b[j].running, "%s: stored version %lld, expected %lld",
			b[j].id, (long long)now.version, (long long)b[j].running);
		if (now.version == b[j].order.version) {
			const struct esc_order *o = &b[j].order;
			REQUIRE(s,
				now.state == o->state && now.paid_minor == o->paid_minor &&
					now.refunded_minor == o->refunded_minor &&
					now.released_minor == o->released_minor &&
					now.refunds_count == o->refunds_count &&
					!memcmp(now.due_ms, o->due_ms, sizeof now.due_ms),
				"%s changed without a new version", b[j].id);
		}
		check_order(s, &now);
		check_order_store(s, &now);
		track(s, &now);
	}
}

/* ---- the steps ---- */

static void step_command(struct sim *s)
{
	struct esc_command c;
	int slot = -1;
	random_command(s, &c, 0, &slot);
	char d[300];
	describe(&c, d, sizeof d);
	snprintf(s->what, sizeof s->what, "exec %s", d);
	run_commands(s, &c, 1, &slot);
}

static void step_refund(struct sim *s)
{
	struct esc_command c;
	char d[300];
	if (!refund_command(s, &c, 0))
		return;
	describe(&c, d, sizeof d);
	snprintf(s->what, sizeof s->what, "exec %s", d);
	run_commands(s, &c, 1, NULL);
}

static void step_batch(struct sim *s)
{
	struct esc_command c[BATCH_MAX];
	int slots[BATCH_MAX];
	size_t n = (size_t)between(&s->rng, 2, BATCH_MAX);
	size_t len = 0;
	len += (size_t)snprintf(s->what, sizeof s->what, "batch of %zu:", n);
	for (size_t i = 0; i < n; i++) {
		slots[i] = -1;
		if (chance(&s->rng, 15) && refund_command(s, &c[i], (int)i)) {
			/* a refund event */
		} else {
			random_command(s, &c[i], (int)i, &slots[i]);
			/* Two creates must not claim one slot. */
			for (size_t j = 0; j < i; j++)
				if (slots[j] == slots[i])
					slots[i] = -1;
		}
		if (len < sizeof s->what)
			len += (size_t)snprintf(s->what + len, sizeof s->what - len, " [%s]",
						esc_event_name(c[i].event));
	}
	s->batches++;
	run_commands(s, c, n, slots);
}

/* Orders that firing may change: those not finished, and those finished
 * recently enough for a refund alert to come since the last firing. */
static bool may_fire(const struct esc_order *o, int64_t fired_at, int64_t alert_ms)
{
	return !esc_state_final(o->state) || o->ended_at_ms + alert_ms >= fired_at;
}

static void step_advance(struct sim *s)
{
	int64_t ms;
	int64_t alert = esc_engine_policy(E(s))->refund_alert_ms;
	switch (below(&s->rng, 20)) {
	case 0:
	case 1:
	case 2:
		ms = between(&s->rng, 1, 20) * DAY + between(&s->rng, 0, DAY);
		break;
	case 3:
	case 4:
	case 5:
	case 6:
	case 7:
	case 8:
		ms = between(&s->rng, 1, 23) * HOUR + between(&s->rng, 0, HOUR);
		break;
	default:
		ms = between(&s->rng, 1, 59) * MINUTE + between(&s->rng, 0, MINUTE);
		break;
	}
	/* Now and then the worker lags: commands meet deadlines that are
	 * due but not yet fired. */
	bool lag = chance(&s->rng, 25);
	int64_t before = esc_engine_now(E(s));
	snprintf(s->what, sizeof s->what, "advance %lld ms from %lld%s", (long long)ms,
		 (long long)before, lag ? " without firing" : " and fire");
	int rc = esc_engine_advance(E(s), ms);
	REQUIRE(s, rc == 0, "advance: %s", esc_error_name(rc));
	REQUIRE(s, esc_engine_now(E(s)) == before + ms, "the clock moved to %lld",
		(long long)esc_engine_now(E(s)));
	s->advances++;
	if (lag)
		return;

	size_t total = 0, fired = 0;
	do {
		rc = esc_engine_fire_due(E(s), 0, &fired);
		REQUIRE(s, rc == 0, "fire_due: %s", esc_error_name(rc));
		total += fired;
	} while (fired);
	s->fired += (long)total;
	s->outbox_expected += (int64_t)total;

	/* Each firing bumped one order's version by one, and left it valid. */
	int64_t bumps = 0;
	for (size_t i = 0; i < s->orders_count; i++) {
		struct esc_order now;
		struct tracked *t = &s->orders[i];
		if (!may_fire(&t->last, s->fired_at, alert))
			continue;
		REQUIRE(s, load(s, t->last.id, &now) == 0, "%s vanished", t->last.id);
		REQUIRE(s, now.version >= t->last.version, "%s went back to version %lld",
			t->last.id, (long long)now.version);
		if (now.version != t->last.version) {
			bumps += now.version - t->last.version;
			check_order(s, &now);
			check_order_store(s, &now);
		}
		track(s, &now);
	}
	REQUIRE(s, bumps == (int64_t)total, "%zu deadlines fired, versions moved by %lld", total,
		(long long)bumps);
	s->fired_at = esc_engine_now(E(s));
	check_queue(s, true);
}

static void step_restart(struct sim *s)
{
	int64_t before = esc_engine_now(E(s));
	snprintf(s->what, sizeof s->what, "restart at %lld", (long long)before);
	esc_fixture_restart(&s->f);
	REQUIRE(s, esc_engine_now(E(s)) == before, "the clock went from %lld to %lld",
		(long long)before, (long long)esc_engine_now(E(s)));
	s->restarts++;
}

/* ---- the test ---- */

static uint64_t seed_from_env(void)
{
	const char *env = getenv("ESC_SEED");
	struct timespec ts;
	if (env && *env)
		return strtoull(env, NULL, 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * UINT64_C(1000000007)) ^ (uint64_t)ts.tv_nsec ^
	       ((uint64_t)getpid() << 32);
}

static void make_users(struct sim *s)
{
	char name[64], email[96];
	for (int i = 0; i < BUYERS; i++) {
		if (i == 0) {
			s->buyers[i] = s->f.buyer;
			continue;
		}
		if (i == 1) {
			s->buyers[i] = s->f.buyer2;
			continue;
		}
		snprintf(name, sizeof name, "Buyer %d", i + 1);
		snprintf(email, sizeof email, "random-buyer%d@example.test", i + 1);
		assert_int_equal(esc_engine_user_create(E(s), ESC_ACTOR_BUYER, name, email,
							"password-b", &s->buyers[i]),
				 0);
	}
	s->sellers[0] = s->f.seller;
	s->sellers[1] = s->f.seller2;
	for (int i = 2; i < SELLERS; i++) {
		snprintf(name, sizeof name, "Seller %d", i + 1);
		snprintf(email, sizeof email, "random-seller%d@example.test", i + 1);
		assert_int_equal(esc_engine_user_create(E(s), ESC_ACTOR_SELLER, name, email,
							"password-s", &s->sellers[i]),
				 0);
	}
	assert_int_equal(esc_engine_user_create(E(s), ESC_ACTOR_ARBITER, "Arbiter",
						"random-arbiter@example.test", "password-a",
						&s->arbiter),
			 0);
}

static void print_summary(struct sim *s)
{
	long acc = 0, ref = 0;
	printf("random: seed=%llu steps=%ld fired=%ld advances=%ld batches=%ld restarts=%ld "
	       "orders=%zu\n",
	       (unsigned long long)s->seed, s->steps, s->fired, s->advances, s->batches,
	       s->restarts, s->orders_count);
	for (int e = 0; e < ESC_EV_COUNT; e++) {
		printf("random:   %-22s accepted %5ld refused %5ld\n",
		       esc_event_name((enum esc_event)e), s->accepted[e], s->refused[e]);
		acc += s->accepted[e];
		ref += s->refused[e];
	}
	printf("random:   commands accepted %ld, refused %ld\n", acc, ref);
	for (int st = ESC_ST_AWAITING_PAYMENT; st < ESC_ST_COUNT; st++)
		printf("random:   reached %-22s %5ld\n", esc_state_name((enum esc_state)st),
		       s->reached[st]);
}

static void ledger_and_orders_stay_valid_under_random_commands(void **state)
{
	struct sim *s = *state;
	memset(long_text, 'x', sizeof long_text - 1);
	memset(long_carrier, 'c', sizeof long_carrier - 1);
	make_users(s);
	check_ledger(s);
	for (s->step = 1; s->step <= s->steps; s->step++) {
		int x = (int)below(&s->rng, 1000);
		if (x < 4)
			step_restart(s);
		else if (x < 80)
			step_advance(s);
		else if (x < 120)
			step_batch(s);
		else if (x < 170)
			step_refund(s);
		else
			step_command(s);
		check_ledger(s);
		if (s->step % 50 == 0)
			check_queue(s, false);
	}
	check_queue(s, false);
	print_summary(s);
	s->done = true;
}

static int setup(void **state)
{
	struct sim *s = calloc(1, sizeof *s);
	assert_non_null(s);
	s->seed = seed_from_env();
	s->steps = getenv("ESC_TEST_QUICK") ? STEPS_QUICK : STEPS_DEFAULT;
	printf("seed=%llu\n", (unsigned long long)s->seed);
	fflush(stdout);
	rng_seed(&s->rng, s->seed);
	esc_fixture_init(&s->f);
	s->fired_at = esc_engine_now(s->f.e);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct sim *s = *state;
	if (!s->done)
		fprintf(stderr, "random: seed=%llu failed at step %ld; rerun with ESC_SEED=%llu\n",
			(unsigned long long)s->seed, s->step, (unsigned long long)s->seed);
	esc_fixture_release(&s->f);
	free(s->orders);
	free(s);
	return 0;
}

int main(void)
{
	esc_test_store_or_skip("random");
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(ledger_and_orders_stay_valid_under_random_commands,
						setup, teardown),
	};
	return cmocka_run_group_tests_name("random", tests, NULL, NULL);
}
