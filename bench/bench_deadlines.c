/* bench_deadlines.c - 1,000,000 due deadlines fired through the engine,
 * and a store of 1,000,000 orders for bench.py to serve (issue 15).
 *
 * usage: bench_deadlines STORE_PATH
 *
 * Opens the engine with a manual clock on a new SQLite file (WAL,
 * synchronous=FULL, as the daemon does) and creates ESC_BENCH_ORDERS
 * orders (1,000,000) through esc_engine_exec_batch, ESC_BENCH_BATCH (256,
 * the group commit's largest batch) create commands a commit, from 1,000
 * buyers to 100 sellers: real orders, each with its payment deadline (24
 * hours). Then it moves the clock past them and times
 * esc_engine_fire_due until it fires no more, as `escrowd serve --clock
 * manual` does when its clock is advanced: every order expires unpaid
 * (cancelled, its deadline row dropped), each a command of the system
 * actor in a durable commit; beside the time, the process's CPU time and
 * the WAL bytes a deadline, which the machine's other load disturbs less.
 * Prints the figures on stdout as
 * `name value` lines for bench.py, the progress on stderr; asserts nothing
 * about speed. The store is left at STORE_PATH: bench.py serves it to
 * read a daemon's resident size and runs `escrowd check` on it. With
 * ESC_BENCH_FIRE_ONLY=1, STORE_PATH is the store of an earlier run stopped
 * before its deadlines fired (the orders' creation is the long part): no
 * order is created, and the deadlines there fire. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "util/error.h"

#include "bench_util.h"

#define BUYERS  1000
#define SELLERS 100

/* Progress on stderr: on a terminal, one line redrawn every 2 s; in a
 * log, a line every 20 s. */
static double progress_every(void)
{
	return isatty(2) ? 2 : 20;
}

static const char *progress_end(void)
{
	return isatty(2) ? "\r" : "\n";
}

/* This process's CPU time so far, user and system, in seconds. */
static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_deadlines: %s: %s\n", what, esc_error_message(rc));
	exit(1);
}

static struct esc_engine *open_engine(const char *path)
{
	struct esc_policy p;
	struct esc_engine_options opt = {.manual_clock = true, .fast_password_hashing = true};
	struct esc_engine *e = NULL;
	char err[300] = "";
	esc_policy_default(&p);
	int rc = esc_engine_open(&e, path, &p, &opt, err, sizeof err);
	if (rc) {
		fprintf(stderr, "bench_deadlines: %s\n", err);
		exit(1);
	}
	return e;
}

static void make_users(struct esc_engine *e, enum esc_actor role, const char *kind,
		       struct esc_user *out, int n)
{
	for (int i = 0; i < n; i++) {
		char name[64], email[64];
		snprintf(name, sizeof name, "%s %d", kind, i);
		snprintf(email, sizeof email, "%s%d@deadlines.test", kind, i);
		int rc = esc_engine_user_create(e, role, name, email, "bench-password", &out[i]);
		if (rc)
			die("user", rc);
	}
}

int main(int argc, char **argv)
{
	size_t orders = (size_t)env_long("ESC_BENCH_ORDERS", 1000000);
	size_t batch = (size_t)env_long("ESC_BENCH_BATCH", 256);
	if (argc != 2 || !batch) {
		fprintf(stderr, "usage: bench_deadlines STORE_PATH (a new file)\n");
		return 2;
	}
	/* ESC_BENCH_FIRE_ONLY=1: the store of an earlier run, stopped before
	 * its deadlines fired (its creation is the long part): fire them. */
	bool fire_only = env_long("ESC_BENCH_FIRE_ONLY", 0) != 0;
	if (fire_only)
		orders = 0;
	if (!fire_only && !access(argv[1], F_OK)) {
		fprintf(stderr, "bench_deadlines: %s exists: give a new file\n", argv[1]);
		return 2;
	}
	static struct esc_user buyers[BUYERS], sellers[SELLERS];
	struct esc_engine *e = open_engine(argv[1]);
	if (!fire_only) {
		make_users(e, ESC_ACTOR_BUYER, "buyer", buyers, BUYERS);
		make_users(e, ESC_ACTOR_SELLER, "seller", sellers, SELLERS);
	}

	struct esc_command *cmds = calloc(batch, sizeof *cmds);
	struct esc_result *res = calloc(batch, sizeof *res);
	struct esc_item *items = calloc(batch, sizeof *items);
	if (!cmds || !res || !items)
		die("memory", ESC_ENOMEM);
	double t0 = now_s(), shown = t0;
	size_t made = 0;
	while (made < orders) {
		size_t n = orders - made < batch ? orders - made : batch;
		for (size_t k = 0; k < n; k++) {
			size_t i = made + k;
			esc_command_init(&cmds[k], ESC_EV_CREATE, ESC_ACTOR_OPERATOR, NULL, NULL);
			items[k].quantity = 1;
			items[k].unit_price_minor = 1000 + (int64_t)(i % 9000);
			snprintf(items[k].title, sizeof items[k].title, "Item %zu", i);
			cmds[k].args.buyer_id = buyers[i % BUYERS].id;
			cmds[k].args.seller_id = sellers[i % SELLERS].id;
			cmds[k].args.currency = "EUR";
			cmds[k].args.items = &items[k];
			cmds[k].args.items_count = 1;
		}
		int rc = esc_engine_exec_batch(e, cmds, n, res);
		if (rc)
			die("commit", rc);
		for (size_t k = 0; k < n; k++)
			if (res[k].rc) {
				fprintf(stderr, "bench_deadlines: create refused: %s\n",
					res[k].message);
				return 1;
			}
		made += n;
		if (now_s() - shown >= progress_every()) {
			shown = now_s();
			fprintf(stderr, "  %zu / %zu orders created (%.0f s)%s", made, orders,
				shown - t0, progress_end());
		}
	}
	double create_s = now_s() - t0;
	fprintf(stderr, "  %zu orders created in %.1f s%20s\n", made, create_s, "");

	/* Past every payment deadline; moving the clock fires nothing itself. */
	esc_engine_advance(e, 25 * 3600 * 1000LL);
	struct esc_engine_counters before, after;
	esc_engine_counters(e, &before);
	double cpu0 = cpu_s();
	t0 = now_s();
	shown = t0;
	size_t fired = 0, total = 0;
	do {
		int rc = esc_engine_fire_due(e, 0, &fired);
		if (rc)
			die("deadlines", rc);
		total += fired;
		if (now_s() - shown >= progress_every()) {
			shown = now_s();
			fprintf(stderr, "  %zu deadlines fired (%.0f s)%s", total, shown - t0,
				progress_end());
		}
	} while (fired);
	double fire_s = now_s() - t0;
	double fire_cpu = cpu_s() - cpu0;
	esc_engine_counters(e, &after);
	fprintf(stderr, "  %zu deadlines fired in %.1f s%20s\n", total, fire_s, "");
	long long commits = after.commits - before.commits;
	double wal = (double)(after.wal_frames - before.wal_frames) * (double)(after.wal_page_size + 24);
	esc_engine_free(e);

	printf("orders %zu\n", made);
	printf("create_seconds %.3f\n", create_s);
	printf("create_per_second %.0f\n", (double)made / create_s);
	printf("fired %zu\n", total);
	printf("fire_seconds %.3f\n", fire_s);
	printf("fire_per_second %.0f\n", fire_s > 0 ? (double)total / fire_s : 0.0);
	printf("fire_commits %lld\n", commits);
	printf("fire_cpu_us_each %.1f\n", total ? fire_cpu * 1e6 / (double)total : 0.0);
	printf("fire_wal_bytes_each %.0f\n", total ? wal / (double)total : 0.0);
	free(cmds);
	free(res);
	free(items);
	return 0;
}
