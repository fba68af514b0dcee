/* bench_replay.c - escrowd replay's speed (engine/replay.h): commands
 * replayed per second, both runs (the base policy and the new one)
 * counted once, as `escrowd replay` reports them.
 *
 * The source store is a SQLite file built here through the engine on a
 * manual clock, 256 commands a commit, its events and history written as
 * the daemon writes them (as a scratch store, no commit made durable, only
 * to build it sooner: 20,100 users made one a commit): flows of create, pay, a cancellation request
 * and then either the seller's acceptance, or a rejection at 60 h and
 * ship, deliver, confirm; some flows are left unpaid for the payment
 * deadline. Then it is replayed under a 48-hour response window, which
 * changes the rejected ones. Prints figures; asserts nothing about speed.
 *
 * Environment: ESC_BENCH_REPLAY_COMMANDS (1000000), ESC_BENCH_DIR (a new
 * directory under /tmp), ESC_BENCH_KEEP (keep the store),
 * ESC_BENCH_REPLAY_ONLY (replay the store ESC_BENCH_DIR kept, unbuilt). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/replay.h"
#include "util/error.h"

#include "bench_util.h"

#define BUYERS  20000
#define SELLERS 100
#define BATCH   256
#define HOUR    (3600 * INT64_C(1000))

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_replay: %s: %s\n", what, esc_error_message(rc));
	exit(1);
}

struct flow {
	char id[ESC_ID_SIZE];
	const char *buyer, *seller;
	int kind; /* 0: accepted, 1: rejected at 60 h and completed, 2: unpaid */
};

static struct esc_user buyers[BUYERS], sellers[SELLERS];
static struct esc_item item = {.title = "Bench item", .quantity = 1, .unit_price_minor = 2599};

/* Run n commands in one transaction; every one must pass. */
static void batch(struct esc_engine *e, struct esc_command *c, size_t n, struct flow **f)
{
	static struct esc_result res[BATCH];
	int rc = esc_engine_exec_batch(e, c, n, res);
	if (rc)
		die("batch", rc);
	for (size_t i = 0; i < n; i++) {
		if (res[i].rc) {
			fprintf(stderr, "bench_replay: %s: %s\n", esc_event_name(c[i].event),
				res[i].message);
			exit(1);
		}
		if (c[i].event == ESC_EV_CREATE)
			memcpy(f[i]->id, res[i].order.id, ESC_ID_SIZE);
	}
}

/* Each flow's step as a command, BATCH at a time. */
static size_t step(struct esc_engine *e, struct flow *flows, size_t n, enum esc_event ev,
		   enum esc_actor who, int kind)
{
	static struct esc_command c[BATCH];
	static struct flow *f[BATCH];
	size_t k = 0, done = 0;
	for (size_t i = 0; i < n; i++) {
		struct flow *fl = &flows[i];
		if (kind >= 0 && fl->kind != kind)
			continue;
		if (kind == -2 && fl->kind == 2)
			continue;
		const char *actor = who == ESC_ACTOR_BUYER    ? fl->buyer
				    : who == ESC_ACTOR_SELLER ? fl->seller
							      : NULL;
		esc_command_init(&c[k], ev, who, actor, ev == ESC_EV_CREATE ? NULL : fl->id);
		switch (ev) {
		case ESC_EV_CREATE:
			c[k].args.buyer_id = fl->buyer;
			c[k].args.seller_id = fl->seller;
			c[k].args.currency = "EUR";
			c[k].args.items = &item;
			c[k].args.items_count = 1;
			break;
		case ESC_EV_PAY:
			c[k].args.amount_minor = item.unit_price_minor;
			c[k].args.method = ESC_METHOD_CARD;
			break;
		case ESC_EV_CANCEL:
			c[k].args.reason = "no_longer_needed";
			break;
		case ESC_EV_REJECT_CANCELLATION:
			c[k].args.message = "It ships today.";
			break;
		case ESC_EV_SHIP:
			c[k].args.carrier = "Posturinn";
			c[k].args.tracking = "RR123456789IS";
			break;
		default:
			break;
		}
		f[k++] = fl;
		done++;
		if (k == BATCH) {
			batch(e, c, k, f);
			k = 0;
		}
	}
	if (k)
		batch(e, c, k, f);
	return done;
}

static void advance(struct esc_engine *e, int64_t ms, size_t *fired_all)
{
	size_t fired = 0;
	int rc = esc_engine_advance(e, ms);
	do {
		if (!rc)
			rc = esc_engine_fire_due(e, 0, &fired);
		*fired_all += fired;
	} while (!rc && fired);
	if (rc)
		die("advance", rc);
}

/* n users of a role: "Buyer 7", buyer7@bench.test. */
static void users_make(struct esc_engine *e, enum esc_actor role, const char *title,
		       const char *kind, struct esc_user *out, int n)
{
	for (int i = 0; i < n; i++) {
		char name[32], email[64];
		snprintf(name, sizeof name, "%s %d", title, i);
		snprintf(email, sizeof email, "%s%d@bench.test", kind, i);
		int rc = esc_engine_user_create(e, role, name, email, "bench-password", &out[i]);
		if (rc)
			die(kind, rc);
	}
}

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void progress(void *arg, int64_t done, int64_t total)
{
	(void)arg, (void)done, (void)total;
}

int main(void)
{
	long target = env_long("ESC_BENCH_REPLAY_COMMANDS", 1000000);
	/* A flow is 4.9 commands on average (measured): 0 and 1 alternate,
	 * every tenth is left unpaid (create only). */
	size_t flows_n = (size_t)((double)target / 4.9) + 1;
	const char *dir_env = getenv("ESC_BENCH_DIR");
	char dir[256], db[300], err[400] = "";
	struct esc_engine *e = NULL;
	struct esc_engine_options eo = {.manual_clock = true,
					.manual_start_ms = INT64_C(1767614400000),
					.fast_password_hashing = true,
					.scratch = true};
	struct flow *flows = calloc(flows_n, sizeof *flows);
	int rc;

	if (!flows)
		die("flows", ESC_ENOMEM);
	if (dir_env && *dir_env) {
		snprintf(dir, sizeof dir, "%s", dir_env);
	} else {
		snprintf(dir, sizeof dir, "/tmp/escrowd-bench-replay-XXXXXX");
		if (!mkdtemp(dir))
			die("mkdtemp", ESC_EIO);
	}
	snprintf(db, sizeof db, "%s/replay-source.db", dir);
	/* ESC_BENCH_REPLAY_ONLY=1: replay the store an earlier run kept. */
	if (getenv("ESC_BENCH_REPLAY_ONLY") && !access(db, F_OK))
		goto replay;
	unlink(db);
	rc = esc_engine_open(&e, db, NULL, &eo, err, sizeof err);
	if (rc) {
		fprintf(stderr, "bench_replay: %s\n", err);
		return 1;
	}
	double t0 = now_s();
	users_make(e, ESC_ACTOR_BUYER, "Buyer", "buyer", buyers, BUYERS);
	users_make(e, ESC_ACTOR_SELLER, "Seller", "seller", sellers, SELLERS);
	/* Flows in rounds of 10,000, a day apart. */
	size_t commands = 0, fired = 0;
	const size_t round = 10000;
	for (size_t start = 0; start < flows_n; start += round) {
		size_t n = flows_n - start < round ? flows_n - start : round;
		struct flow *f = &flows[start];
		for (size_t i = 0; i < n; i++) {
			size_t g = start + i;
			f[i].buyer = buyers[g % BUYERS].id;
			f[i].seller = sellers[(g / 7) % SELLERS].id;
			/* A buyer's flows alternate between accepted and
			 * rejected, so that no buyer reaches suspension
			 * (10 cancellations in 90 days) under the base policy. */
			f[i].kind = g % 10 == 9 ? 2 : (int)((g + g / BUYERS) % 2);
		}
		commands += step(e, f, n, ESC_EV_CREATE, ESC_ACTOR_OPERATOR, -1);
		commands += step(e, f, n, ESC_EV_PAY, ESC_ACTOR_OPERATOR, -2);
		commands += step(e, f, n, ESC_EV_CANCEL, ESC_ACTOR_BUYER, -2);
		advance(e, 10 * HOUR, &fired);
		commands += step(e, f, n, ESC_EV_ACCEPT_CANCELLATION, ESC_ACTOR_SELLER, 0);
		advance(e, 50 * HOUR, &fired);
		commands += step(e, f, n, ESC_EV_REJECT_CANCELLATION, ESC_ACTOR_SELLER, 1);
		commands += step(e, f, n, ESC_EV_SHIP, ESC_ACTOR_SELLER, 1);
		commands += step(e, f, n, ESC_EV_DELIVER, ESC_ACTOR_OPERATOR, 1);
		commands += step(e, f, n, ESC_EV_CONFIRM_RECEIPT, ESC_ACTOR_BUYER, 1);
		advance(e, 24 * HOUR, &fired);
	}
	esc_engine_free(e);
	double built = now_s() - t0;
	printf("source: %zu commands of %zu orders (%zu deadlines fired) built in %.1f s\n",
	       commands, flows_n, fired, built);

replay:;
	struct esc_policy base, p48;
	esc_policy_default(&base);
	esc_policy_default(&p48);
	p48.response_window_ms = 48 * HOUR;
	struct esc_replay_options ro = {.source = db,
					.base = &base,
					.policy = &p48,
					.progress = progress};
	struct esc_replay_report rep;
	double r0 = now_s(), c0 = cpu_s();
	rc = esc_replay_run(&ro, &rep, err, sizeof err);
	double took = now_s() - r0, cpu = cpu_s() - c0;
	if (rc) {
		fprintf(stderr, "bench_replay: replay: %s\n", err);
		return 1;
	}
	size_t changed = 0;
	for (size_t i = 0; i < rep.orders_count; i++)
		changed += rep.orders[i].state[0] != rep.orders[i].state[1];
	printf("replayed %lld commands of %zu orders in %.1f s (%zu outcomes change under 48 h; "
	       "%zu orders unlike the store under the base policy)\n",
	       (long long)rep.commands, rep.orders_count, took, changed, rep.base_unlike_store);
	/* Three threads (the reader and each run): on a loaded machine the
	 * wall time says more about the neighbours than CPU time does. */
	printf("replay CPU: %.0f us per command (both runs), %.0f%% of one core\n",
	       cpu * 1e6 / (double)rep.commands, 100 * cpu / took);
	printf("replay: %.0f commands/s\n", (double)rep.commands / took);
	esc_replay_report_release(&rep);
	free(flows);
	if (!getenv("ESC_BENCH_KEEP")) {
		unlink(db);
		if (!dir_env || !*dir_env)
			rmdir(dir);
	}
	return 0;
}
