/* replay.h - what another policy would have done (escrowd replay, issue 16).
 *
 * A store keeps every accepted command with its event row: the history
 * line (who, what, when, the order's version) and its detail, the
 * command's inputs (core/event.h: esc_event_details; create's items,
 * parties and currency are the order's own, which never change). Replay
 * reads the commands of the orders created in a period, in the order they
 * committed, from the store opened read-only (store.h: ESC_STORE_READ),
 * and runs them through the engine twice, on two scratch stores in memory
 * (ESC_STORE_SCRATCH) with the same users: once under the policies the
 * store ran under (base: each order under the policy version it was
 * created under, as the store recorded it) and once under the policy to
 * try. Each command
 * runs at its recorded time on a manual clock; deadlines are not replayed
 * but fire as the clock passes them, each at its due time, under the
 * replay's own policy. The two runs are compared, not the replay against
 * the store: the engine is deterministic, so the same policy twice gives
 * no difference at all, and what differs is the policy's doing alone.
 *
 * What replay cannot know: a command refused when it was sent left no
 * row, so it is not tried again under the other policy; a command that
 * no longer applies (the order went another way) is refused in the
 * replay and counted. A lifted suspension is the user's as it stands. */
#ifndef ESC_REPLAY_H
#define ESC_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/order.h"
#include "core/policy.h"

struct esc_replay_options {
	const char *source;              /* the store's URL: opened read-only */
	/* The base run's policy; NULL for the store's own: each order
	 * under the policy version the store recorded for it (pol_N, the
	 * engine's reputations under the newest). */
	const struct esc_policy *base;
	const struct esc_policy *policy; /* the policy to try */
	int64_t since_ms, until_ms;      /* orders created in [since, until); 0: open */
	/* Called now and then with the commands replayed so far and in all
	 * (NULL: none), from the calling thread. */
	void (*progress)(void *arg, int64_t done, int64_t total);
	void *progress_arg;
};

/* One order as each run left it: [0] under base, [1] under policy. */
struct esc_replay_order {
	char order_id[ESC_ID_SIZE]; /* the store's id */
	char buyer_id[ESC_ID_SIZE];
	char seller_id[ESC_ID_SIZE];
	char currency[ESC_CURRENCY_SIZE];
	bool made[2]; /* its create ran */
	enum esc_state state[2];
	int64_t refunded_minor[2];
	int32_t refunds_count[2];
	/* As the store has it now: what the base run should give. */
	enum esc_state state_store;
	int64_t refunded_store_minor;
};

/* A buyer's level or a seller's score at the end of each run. */
struct esc_replay_user {
	char id[ESC_ID_SIZE];
	enum esc_actor role; /* buyer or seller */
	int value[2];        /* enum esc_buyer_level, or the score 0-100 */
};

struct esc_replay_report {
	int64_t commands;             /* recorded commands replayed (system ones left out) */
	int64_t deadlines_skipped;    /* recorded system commands: each run fires its own */
	int64_t refused[2];           /* commands refused in each run */
	int64_t refused_by_event[2][ESC_EV_COUNT];
	/* Orders whose base run ends otherwise than the store has them (state
	 * or refunded amount): the base policy is not the one the store ran
	 * under, or commands refused then would pass now. 0 when the replay
	 * is faithful. */
	size_t base_unlike_store;
	/* The store's policy versions the base run followed (0: it ran under
	 * options.base). */
	size_t base_versions;
	bool base_recorded; /* the base run followed the store's versions */
	int64_t first_ms, end_ms;     /* the first command's time; the store's last */
	struct esc_replay_order *orders; /* in creation order */
	size_t orders_count;
	struct esc_replay_user *users; /* the parties of those orders */
	size_t users_count;
};

/* Replay (see above) into *out; free it with esc_replay_report_release.
 * On failure (ESC_ENOTFOUND: no such store; ESC_EUNSUPPORTED: a schema
 * to migrate first; a store's failure) err says why. */
int esc_replay_run(const struct esc_replay_options *opt, struct esc_replay_report *out, char *err,
		   size_t err_size);
void esc_replay_report_release(struct esc_replay_report *r);

/* The report as escrowd replay prints it: orders whose outcome changes,
 * counted by kind ("cancelled -> completed"); refunds added and removed,
 * count and sum per currency; buyers whose level changes; sellers whose
 * score moves by more than ESC_REPLAY_SCORE_STEP points. */
#define ESC_REPLAY_SCORE_STEP 5
void esc_replay_print(const struct esc_replay_report *r, FILE *out);
/* One CSV row per order whose outcome or refund changes, after a header:
 * order_id,buyer_id,seller_id,currency,outcome_before,outcome_after,
 * refunded_before,refunded_after (amounts in minor units). Returns the
 * rows written. */
size_t esc_replay_csv(const struct esc_replay_report *r, FILE *out);

#endif
