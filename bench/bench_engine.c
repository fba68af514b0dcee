/* bench_engine.c - the cancellation flow through the engine on a SQLite
 * file: commands per second and per-command latency, one command per
 * commit and many commands per commit (group commit), on an empty store and
 * on one holding 100,000 orders.
 *
 * The flow: create, pay, request cancellation, then accept (even flows) or
 * let the 72-hour response deadline expire (odd flows), then settle the
 * card refund. Every command is acknowledged after a durable commit
 * (WAL, synchronous=FULL). Prints figures; asserts nothing about speed.
 *
 * Each run also prints, per kind of command, the WAL frames it appended
 * and the process's CPU time, per command (the write set: docs/
 * ARCHITECTURE.md).
 *
 * Environment: ESC_BENCH_FLOWS (2000), ESC_BENCH_PREFILL (100000),
 * ESC_BENCH_BATCH (64), ESC_BENCH_DIR (a new directory under /tmp),
 * ESC_BENCH_GROUP_ONLY (1: only the runs of many commands a commit, for a
 * profile of the writer's CPU). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "util/error.h"

#include "bench_util.h"

#define BUYERS  2000
#define SELLERS 100

/* What each kind of command costs in a measured run: the writer's WAL
 * frames and the process's CPU time, per command (kinds: the flow's
 * steps, then the expired requests the deadline worker fires). */
enum { KIND_EXPIRE = 5, KINDS = 6 }; /* 0 to 4: the flow's steps */
static const char *const kind_names[KINDS] = {"create",           "pay",
					      "cancel (request)", "accept cancellation",
					      "refund settled",   "response deadline"};

struct kind_cost {
	size_t commands;
	int64_t frames;
	double cpu_s;
};

struct bench {
	struct esc_engine *e;
	struct kind_cost kinds[KINDS];
	struct esc_user buyers[BUYERS], sellers[SELLERS];
	double *lat_ms; /* per command */
	size_t lat_n, lat_max;
};

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench: %s: %s\n", what, esc_error_message(rc));
	exit(1);
}

struct flow {
	struct esc_order order;
	struct esc_item item;
	char refund_id[ESC_ID_SIZE];
	int step;
};

/* The command of the flow's current step (accept or expire by parity).
 * Returns 0 when the step is the clock's (expiry), filled otherwise. */
static int flow_command(struct bench *b, struct flow *f, size_t index, struct esc_command *c)
{
	switch (f->step) {
	case 0:
		esc_command_init(c, ESC_EV_CREATE, ESC_ACTOR_OPERATOR, NULL, NULL);
		f->item.quantity = 1;
		f->item.unit_price_minor = 1000 + (int64_t)(index % 9000);
		snprintf(f->item.title, sizeof f->item.title, "Item %zu", index);
		c->args.buyer_id = b->buyers[index % BUYERS].id;
		c->args.seller_id = b->sellers[index % SELLERS].id;
		c->args.currency = "EUR";
		c->args.items = &f->item;
		c->args.items_count = 1;
		return 1;
	case 1:
		esc_command_init(c, ESC_EV_PAY, ESC_ACTOR_OPERATOR, NULL, f->order.id);
		c->args.amount_minor = f->order.total_minor;
		c->args.method = ESC_METHOD_CARD;
		return 1;
	case 2:
		esc_command_init(c, ESC_EV_CANCEL, ESC_ACTOR_BUYER, f->order.buyer_id, f->order.id);
		c->args.reason = index % 4 ? "no_longer_needed" : "out_of_stock";
		c->args.refund_to = ESC_REFUND_TO_ORIGINAL;
		return 1;
	case 3:
		if (index % 2)
			return 0; /* expires: the deadline worker's */
		esc_command_init(c, ESC_EV_ACCEPT_CANCELLATION, ESC_ACTOR_SELLER,
				 f->order.seller_id, f->order.id);
		return 1;
	default:
		snprintf(f->refund_id, sizeof f->refund_id, "%.40s-r1", f->order.id);
		esc_command_init(c, ESC_EV_REFUND_SETTLED, ESC_ACTOR_OPERATOR, NULL, f->order.id);
		c->args.refund_id = f->refund_id;
		return 1;
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wal_frames(struct bench *b)
{
	struct esc_engine_counters c;
	esc_engine_counters(b->e, &c);
	return c.wal_frames;
}

/* Charge what happened since *frames and *cpu to kind's n commands. */
static void charge(struct bench *b, int kind, size_t n, int64_t frames, double cpu)
{
	b->kinds[kind].commands += n;
	b->kinds[kind].frames += wal_frames(b) - frames;
	b->kinds[kind].cpu_s += cpu_s() - cpu;
}

static void record(struct bench *b, double ms)
{
	if (b->lat_n < b->lat_max)
		b->lat_ms[b->lat_n++] = ms;
}

/* Run `count` flows, `batch` commands per commit. Returns commands run. */
static size_t run_flows(struct bench *b, size_t count, size_t batch, size_t base, bool measure)
{
	struct flow *flows = calloc(count, sizeof *flows);
	struct esc_command *cmds = calloc(batch, sizeof *cmds);
	struct esc_result *res = calloc(batch, sizeof *res);
	size_t *which = calloc(batch, sizeof *which);
	size_t commands = 0;
	if (!flows || !cmds || !res || !which)
		die("memory", ESC_ENOMEM);
	for (int step = 0; step < 5; step++) {
		if (step == 4) {
			/* The odd flows' requests expire: move past 72 hours and
			 * let the worker fire them, timed like commands. */
			size_t fired = 0;
			esc_engine_advance(b->e, 72 * 3600 * 1000LL);
			do {
				double t0 = now_s(), c0 = cpu_s();
				int64_t f0 = wal_frames(b);
				int rc = esc_engine_fire_due(b->e, batch, &fired);
				double dt = (now_s() - t0) * 1000;
				if (rc)
					die("deadlines", rc);
				if (measure)
					charge(b, KIND_EXPIRE, fired, f0, c0);
				for (size_t k = 0; measure && k < fired; k++)
					record(b, dt);
				commands += fired;
			} while (fired);
		}
		size_t i = 0;
		while (i < count) {
			size_t n = 0;
			for (; i < count && n < batch; i++) {
				flows[i].step = step;
				if (!flow_command(b, &flows[i], base + i, &cmds[n]))
					continue;
				which[n++] = i;
			}
			if (!n)
				continue;
			double t0 = now_s(), c0 = cpu_s();
			int64_t f0 = wal_frames(b);
			int rc = esc_engine_exec_batch(b->e, cmds, n, res);
			double dt = (now_s() - t0) * 1000;
			if (rc)
				die("commit", rc);
			if (measure)
				charge(b, step, n, f0, c0);
			for (size_t k = 0; k < n; k++) {
				if (res[k].rc) {
					fprintf(stderr, "bench: %s refused: %s\n",
						esc_event_name(cmds[k].event), res[k].message);
					exit(1);
				}
				flows[which[k]].order = res[k].order;
				if (measure)
					record(b, dt);
			}
			commands += n;
		}
	}
	free(flows);
	free(cmds);
	free(res);
	free(which);
	return commands;
}

/* Fill the store with orders in a spread of states, 512 commands per
 * commit, printing progress. */
static void prefill(struct bench *b, size_t orders)
{
	size_t done = 0, chunk = 10000;
	double t0 = now_s();
	while (done < orders) {
		size_t n = orders - done < chunk ? orders - done : chunk;
		run_flows(b, n, 512, 1000000 + done, false);
		done += n;
		fprintf(stderr, "\r  prefill: %zu / %zu orders (%.0f s)", done, orders,
			now_s() - t0);
	}
	fprintf(stderr, "\n");
}

static void measure(struct bench *b, const char *store, size_t flows, size_t batch, size_t base)
{
	b->lat_n = 0;
	double t0 = now_s();
	size_t commands = run_flows(b, flows, batch, base, true);
	double secs = now_s() - t0;
	qsort(b->lat_ms, b->lat_n, sizeof *b->lat_ms, cmp_double);
	double p50 = b->lat_n ? b->lat_ms[b->lat_n / 2] : 0;
	double p99 = b->lat_n ? b->lat_ms[(size_t)((double)b->lat_n * 0.99)] : 0;
	printf("%-16s %4zu/commit %9.0f %9.3f %9.3f %9zu\n", store, batch, (double)commands / secs,
	       p50, p99, commands);
	for (int k = 0; k < KINDS; k++) {
		struct kind_cost *c = &b->kinds[k];
		if (c->commands)
			printf("  %-22s %6.2f WAL frames %7.0f us CPU per command\n", kind_names[k],
			       (double)c->frames / (double)c->commands,
			       c->cpu_s * 1e6 / (double)c->commands);
	}
	memset(b->kinds, 0, sizeof b->kinds);
	fflush(stdout);
}

static void open_bench(struct bench *b, const char *path)
{
	struct esc_policy p;
	struct esc_engine_options opt = {.manual_clock = true, .fast_password_hashing = true};
	char err[300] = "";
	esc_policy_default(&p);
	/* The benchmark's buyers cancel far more than real ones: lift the
	 * reputation thresholds so that no request is refused. */
	p.watch_cancellations = 1000000000;
	p.restricted_cancellations = 1000000000;
	p.suspended_cancellations = 1000000000;
	p.restricted_rate_percent = 100;
	int rc = esc_engine_open(&b->e, path, &p, &opt, err, sizeof err);
	if (rc) {
		fprintf(stderr, "bench: %s\n", err);
		exit(1);
	}
	for (int i = 0; i < BUYERS; i++) {
		char name[64], email[64];
		snprintf(name, sizeof name, "Buyer %d", i);
		snprintf(email, sizeof email, "buyer%d@bench.test", i);
		rc = esc_engine_user_create(b->e, ESC_ACTOR_BUYER, name, email, "bench-password",
					    &b->buyers[i]);
		if (rc)
			die("user", rc);
	}
	for (int i = 0; i < SELLERS; i++) {
		char name[64], email[64];
		snprintf(name, sizeof name, "Seller %d", i);
		snprintf(email, sizeof email, "seller%d@bench.test", i);
		rc = esc_engine_user_create(b->e, ESC_ACTOR_SELLER, name, email, "bench-password",
					    &b->sellers[i]);
		if (rc)
			die("user", rc);
	}
}

int main(void)
{
	size_t flows = (size_t)env_long("ESC_BENCH_FLOWS", 2000);
	size_t prefill_orders = (size_t)env_long("ESC_BENCH_PREFILL", 100000);
	size_t batch = (size_t)env_long("ESC_BENCH_BATCH", 64);
	bool group_only = env_long("ESC_BENCH_GROUP_ONLY", 0) != 0;
	char dir[256], path[300];
	const char *base = getenv("ESC_BENCH_DIR");
	snprintf(dir, sizeof dir, "%s/escrowd-bench-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	struct bench b = {0};
	b.lat_max = flows * 6;
	b.lat_ms = calloc(b.lat_max, sizeof *b.lat_ms);

	printf("escrowd engine benchmark: the cancellation flow (create, pay, request,\n"
	       "accept or expire, settle) on SQLite, WAL, synchronous=FULL; %ld cores.\n"
	       "Latency is per command, from submit to durable commit.\n\n",
	       sysconf(_SC_NPROCESSORS_ONLN));
	printf("%-16s %11s %9s %9s %9s %9s\n", "store", "commit", "cmds/s", "p50 ms", "p99 ms",
	       "commands");

	if (!group_only) {
		snprintf(path, sizeof path, "%s/empty.db", dir);
		open_bench(&b, path);
		measure(&b, "empty", flows, 1, 0);
		esc_engine_free(b.e);
		unlink(path);
	}

	snprintf(path, sizeof path, "%s/empty-group.db", dir);
	open_bench(&b, path);
	measure(&b, "empty", flows, batch, 0);
	esc_engine_free(b.e);

	snprintf(path, sizeof path, "%s/full.db", dir);
	open_bench(&b, path);
	if (prefill_orders) {
		fprintf(stderr, "filling a store with %zu orders...\n", prefill_orders);
		prefill(&b, prefill_orders);
	}
	char label[32];
	snprintf(label, sizeof label, "%zu orders", prefill_orders);
	if (!group_only)
		measure(&b, label, flows, 1, 0);
	measure(&b, label, flows, batch, flows);
	esc_engine_free(b.e);

	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench: could not remove %s\n", dir);
	free(b.lat_ms);
	return 0;
}
