/* engine.h - escrowd's use cases: load, let the core decide, persist.
 *
 * A command names an event on an order (or creates one). The engine loads
 * what the core needs, calls esc_decide(), and writes the new order, its
 * history row, transfers, refund, deadline changes, reputation marks, the
 * message the event carries and outbox row inside one savepoint of one
 * transaction. Several commands may share a transaction
 * (esc_engine_exec_batch; the writer thread's group commit,
 * esc_engine_submit_async); each stays all-or-nothing, and none is
 * acknowledged before the commit is durable.
 *
 * Deadlines are rows of the store's queue; esc_engine_fire_due() runs the
 * due ones through the same path, as commands of the system actor. The
 * engine is safe to call from several threads: commands are serialized. */
#ifndef ESC_ENGINE_H
#define ESC_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/order.h"
#include "core/policy.h"
#include "core/recommend.h"
#include "core/reputation.h"
#include "core/rules.h"
#include "store/store.h"
#include "util/clock.h"

/* A batch that loses to a concurrent transaction (ESC_ERETRY) is run
 * again in halves; one command at most this many times in all, with
 * jittered backoff. */
#define ESC_RETRY_MAX 12

/* A process holds the deadlines it claimed to fire by a lease, in real
 * time, that each claim renews: one that dies holding them leaves them to
 * the others when its lease ends, this long after its last claim unless
 * configured (deadline_lease). A process that ends cleanly gives its
 * claims back at once; on a store one process serves (SQLite), a new
 * process takes every claim it finds at its first claim. */
#define ESC_LEASE_MS_DEFAULT 15000

struct esc_engine_options {
	/* A manual clock (tests, demos). It starts where the store's saved
	 * manual time stands, else at manual_start_ms, else at real time. */
	bool manual_clock;
	int64_t manual_start_ms;
	/* Cheapest argon2id parameters: for tests only. */
	bool fast_password_hashing;
	/* Store connections in all (0 = 1): one writes, the others serve
	 * esc_engine_store_acquire() for reads. */
	size_t pool;
	/* The lease on claimed deadlines (0 = ESC_LEASE_MS_DEFAULT). */
	int64_t lease_ms;
	/* The real time that leases run on and Idempotency-Keys age by,
	 * whatever the clock above: NULL for the machine's. Tests give a
	 * manual clock and move it, so that none sleeps; it must outlive the
	 * engine. */
	struct esc_clock *real_clock;
	/* A throwaway SQLite store (store.h: ESC_STORE_SCRATCH), such as
	 * escrowd replay's: no commit is made durable. */
	bool scratch;
	/* No event (nor the history line it carries) is written, and no
	 * reputation event: for escrowd replay's scratch stores, whose
	 * events no one reads. */
	bool no_events;
	/* While commands come faster than the writer commits them, it takes
	 * a batch this many microseconds after the one before at the least,
	 * unless 8 commands wait (0: at once; at most ESC_COMMIT_DELAY_US_MAX).
	 * See writer_linger in engine.c. */
	int64_t commit_delay_us;
	/* The writer thread's nice, from ESC_WRITER_NICE_MIN to 0 (0: the
	 * process's). Every command waits for the writer's commit, so a
	 * writer that waits for a core holds all of them: at -10 it gets one
	 * before the HTTP threads and whatever else runs at 0. Lowering a
	 * nice needs CAP_SYS_NICE or an RLIMIT_NICE that allows it
	 * (systemd's LimitNICE=); without, the writer stays at the
	 * process's, and esc_engine_writer_nice says why. */
	int writer_nice;
};

/* The daemon's esc_engine_options.commit_delay_us (commit_delay_us in
 * its configuration), and the longest. */
#define ESC_COMMIT_DELAY_US_DEFAULT 500
#define ESC_COMMIT_DELAY_US_MAX     10000

/* The daemon's esc_engine_options.writer_nice (writer_nice in its
 * configuration), and the lowest. */
#define ESC_WRITER_NICE_DEFAULT (-10)
#define ESC_WRITER_NICE_MIN     (-20)

/* The most store connections an engine opens (esc_engine_options.pool). */
#define ESC_POOL_MAX 64

/* The engine: opaque. Callers reach what they need of it through the
 * functions below (esc_engine_policy, esc_engine_clock_manual,
 * esc_engine_counters, esc_engine_writer). */
struct esc_engine;

/* The webhook delivery worker's counters (webhook/worker.h), kept with
 * the engine's so that /metrics shows them: deliveries by the outcome of
 * an attempt (delivered; failed and retried later; failed for good),
 * attempts in all, and endpoints the worker disabled. */
enum esc_webhook_counter {
	ESC_WC_DELIVERED,
	ESC_WC_RETRIED,
	ESC_WC_FAILED,
	ESC_WC_ATTEMPTS,
	ESC_WC_DISABLED,
	ESC_WC_COUNT
};

/* The engine's counters since it opened. Each is exact and never goes
 * back; a snapshot reads them one after another without stopping the
 * commands, so the counters of a commit made meanwhile may show in some
 * and not yet in others (commits counting it, events_ok not yet).
 * commands_ok is the sum of the snapshot's events_ok, always. */
struct esc_engine_counters {
	int64_t commands_ok;      /* accepted commands, committed */
	int64_t commands_refused; /* refused ones, and deadline rows dropped */
	int64_t commits;          /* durable commits of command batches */
	int64_t deadlines_fired;  /* deadlines that changed an order */
	int64_t retries;          /* transactions run again after losing to another */
	/* Batches rolled back and run again guarded (a savepoint a command)
	 * because a command run without one failed after it had written. */
	int64_t batch_reruns;
	/* Times the writer waited before a batch (commit_delay_us). */
	int64_t commit_delays;
	/* The writer's WAL frames appended, of wal_page_size bytes and a
	 * 24-byte header each (esc_store_wal_stats); has_wal false, and both
	 * 0, when the store keeps no such figure (PostgreSQL). */
	bool has_wal;
	int64_t wal_frames, wal_page_size;
	int64_t events_ok[ESC_EV_COUNT];
	int64_t webhook[ESC_WC_COUNT]; /* the delivery worker's (esc_engine_webhook_count) */
};

/* Open the store at url and an engine over it, and start its writer
 * thread (esc_engine_submit_async). policy may be NULL for the defaults;
 * it is copied. On failure err says why. Free with esc_engine_free(),
 * which first runs what is queued for the writer (each done called) and
 * stops it; a submission after that is refused (ESC_EBUSY). */
int esc_engine_open(struct esc_engine **out, const char *url, const struct esc_policy *policy,
		    const struct esc_engine_options *opt, char *err, size_t err_size);
void esc_engine_free(struct esc_engine *e);

int64_t esc_engine_now(struct esc_engine *e);
/* The policy the engine decides by (fixed for its life): the current
 * one, which new orders are pinned to and reputations are computed by. */
const struct esc_policy *esc_engine_policy(const struct esc_engine *e);
/* Its version in the store, N of "pol_N" (issue 16): found by the hash of
 * its canonical text, or registered as the next when the engine opened
 * (SPEC's defaults always pol_1). */
int32_t esc_engine_policy_version(const struct esc_engine *e);
/* The policy of an order: the version it was created under, by which its
 * deadlines, fees, outcomes and reasons are decided (the current one for
 * a new order, policy_version 0). *out stays valid until the engine is
 * freed. A version another daemon registered is read once through s (any
 * connection) and kept. 0, or a store failure. */
int esc_engine_order_policy(struct esc_engine *e, struct esc_store *s, const struct esc_order *o,
			    const struct esc_policy **out);
/* The same for a version number: ESC_ENOTFOUND when there is none. */
int esc_engine_policy_of(struct esc_engine *e, struct esc_store *s, int64_t version,
			 const struct esc_policy **out);
/* Whether the clock is manual: tests and demos move it
 * (esc_engine_advance); a real clock cannot be moved. */
bool esc_engine_clock_manual(const struct esc_engine *e);
/* A manual clock is the store's: catch up (never back) with the time a
 * move through any daemon kept in s (a connection the caller holds: the
 * writer's in a transaction, or a read connection). 0 on a real clock,
 * else the store's failure. Each batch of commands and round of deadlines
 * does it; a request, at its authentication. */
int esc_engine_clock_sync(struct esc_engine *e, struct esc_store *s);
/* New passwords are hashed at argon2id's least cost (options). */
bool esc_engine_fast_password_hashing(const struct esc_engine *e);
/* The nice the writer thread runs at: esc_engine_options.writer_nice,
 * or 0 when it was not asked for or not allowed, with *error the errno
 * of the refusal (EACCES, EPERM; else 0). */
int esc_engine_writer_nice(const struct esc_engine *e, int *error);
/* Copy the counters into *out, from any thread. It waits for no command
 * or commit (the counters are atomics), so /metrics answers while a
 * commit hangs. */
void esc_engine_counters(struct esc_engine *e, struct esc_engine_counters *out);
/* Add n to a webhook counter, from any thread. */
void esc_engine_webhook_count(struct esc_engine *e, enum esc_webhook_counter c, int64_t n);
/* Call fn(arg) after every durable commit of commands and every move of
 * the manual clock (NULL: none), under the engine's lock: fn must be
 * quick and take no engine lock (the delivery worker's wakeup). */
void esc_engine_on_commit(struct esc_engine *e, void (*fn)(void *arg), void *arg);
/* This process as a worker that claims rows (deadlines, deliveries): its
 * id and lease, with heartbeat_ms the real time now. */
void esc_engine_process(struct esc_engine *e, struct esc_process *out);
/* Whether a quarter of this process's lease has passed at the real time
 * real_ms since its last renewal, by the deadline worker's claim or
 * another worker that renews the same row (esc_engine_lease_renewed_at
 * tells it): a worker that holds claims renews it then, so that each
 * claim starts with three quarters of a lease, and two workers do not
 * both renew it within a quarter. */
bool esc_engine_lease_due(struct esc_engine *e, int64_t real_ms);
void esc_engine_lease_renewed_at(struct esc_engine *e, int64_t real_ms);
/* Real time (the options' real_clock, or the machine's), whatever
 * esc_engine_now() says: what leases run on and Idempotency-Keys age by,
 * so that moving a manual clock neither ends a lease nor forgets a key. */
int64_t esc_engine_real_ms(struct esc_engine *e);
/* Move the manual clock forward by ms, saving its time in the store first.
 * ESC_EINVAL on a real clock or a negative step. */
int esc_engine_advance(struct esc_engine *e, int64_t ms);

/* Idempotency-Keys are kept 24 hours (SPEC §7) of real time: a manual
 * clock's moves do not age them, so that an answered 72 h advance sent
 * again is replayed, not applied again. A new record's created_at_ms is
 * esc_engine_real_ms(). */
#define ESC_IDEMPOTENCY_KEEP_MS (24 * ESC_MS_PER_HOUR)

/* The answer kept for scope's key (out->response malloc'd, the caller's),
 * or ESC_ENOTFOUND when there is none or it was kept more than
 * ESC_IDEMPOTENCY_KEEP_MS ago in real time: then it, and every other that
 * old, is forgotten (through esc_engine_transact() when s is a read
 * connection). The caller holds s, from esc_engine_store_acquire(). */
int esc_engine_idempotency_get(struct esc_engine *e, struct esc_store *s, const char *scope,
			       const char *key, struct esc_idempotency *out);

/* The answer to a move of the clock (POST /v1/clock/advance), kept with
 * it. build() fills record's status and response (malloc'd, replacing
 * what it held; the issuer frees the last) for the clock at now_ms with
 * fired deadlines fired, and whatever else the issuer answers with; record
 * may be NULL (no Idempotency-Key). It runs under the engine's lock and
 * may be called several times: the last call's answer is the answer. */
struct esc_advance_reply {
	int (*build)(void *arg, int64_t now_ms, size_t fired, struct esc_idempotency *record);
	void *arg;
	struct esc_idempotency *record;
};

/* Move the manual clock forward by ms, then fire what is due, as often as
 * needed; *fired (or NULL) counts what fired. The clock's new time and
 * reply's record commit in one transaction, so that the key's answer
 * exists exactly when the move does: a request run again after a crash
 * replays it instead of moving the clock twice. If the key was answered
 * meanwhile, nothing moves and ESC_EDUPLICATE is returned. Once the
 * deadlines fired, build() runs again with their count, which the record
 * keeps too (a crash before leaves the count 0 there; the daemon fires
 * what is due when it starts). A failure to fire is returned, the move
 * standing. ESC_EINVAL on a real clock or a negative step; reply may be
 * NULL. */
int esc_engine_advance_and_fire(struct esc_engine *e, int64_t ms,
				const struct esc_advance_reply *reply, size_t *fired);

struct esc_result;

/* What a command's issuer answers, built inside the command's transaction.
 * build() runs after the command succeeded, under the engine's lock: it
 * may read s (the command's store, inside its transaction) and call
 * esc_engine_*_held() with it, never a locking esc_engine_* function.
 * When record is set, build() fills its status and response (malloc'd;
 * the issuer frees it) and the engine keeps the record with the command,
 * so that the answer to an Idempotency-Key exists
 * exactly when the command does. If the key was answered meanwhile, the
 * command is undone with ESC_EDUPLICATE. */
struct esc_reply {
	int (*build)(void *arg, struct esc_engine *e, struct esc_store *s,
		     const struct esc_result *res);
	void *arg;
	struct esc_idempotency *record;
};

struct esc_command {
	enum esc_event event;
	enum esc_actor actor;
	const char *actor_id; /* the buyer's or seller's user id */
	const char *order_id; /* NULL for create: the engine picks the id */
	int64_t if_match;     /* expected version; 0 = any */
	struct esc_args args; /* see esc_args; order_id is set by the engine */
	/* Set by the deadline worker: the queue row that fired. */
	const struct esc_deadline *deadline;
	const struct esc_reply *reply; /* optional */
	/* When it runs: 0 for now, the clock's time. escrowd replay
	 * (engine/replay.h) gives each command of a batch its recorded
	 * time, at or after the clock's, with no deadline due in between. */
	int64_t at_ms;
	/* create only: pin the new order to this policy version of the
	 * store's (pol_N) and decide it by it, instead of the engine's own:
	 * escrowd replay's base run, which follows the versions the store
	 * recorded. 0: the engine's. */
	int32_t policy_version;
};

/* Initialize a command with no arguments (method and refund_to unset). */
void esc_command_init(struct esc_command *c, enum esc_event event, enum esc_actor actor,
		      const char *actor_id, const char *order_id);

struct esc_result {
	int rc;                               /* 0, or the ESC_E* refusal or failure */
	char message[200];                    /* why, when rc != 0 */
	char hint[200];                       /* what to do instead, or "" */
	struct esc_refusal_rule refusal_rule; /* the policy's rule it applied, if set */
	bool has_order;
	struct esc_order order; /* after the command; on a refusal, as it is */
	bool has_refund;
	struct esc_refund refund;         /* a refund the command made or changed */
	enum esc_buyer_level buyer_level; /* for cancel: the buyer's level before */
};

/* Inside a reply's build (struct esc_reply), on the writer's connection s:
 * the event's object (the operator's view of the order, engine/view.h) when
 * o is the order the command leaves and the event's object was made as a
 * tree, or NULL. The view of that order for another viewer differs only in
 * its actions (esc_view_order), which that view sets in this object
 * itself: the event's text is written already. */
struct json_t *esc_engine_reply_object(struct esc_engine *e, struct esc_store *s,
				       const struct esc_order *o);

/* The same when the event's object was written as text, without a tree
 * (the order's events, unless its text could not be written): true, with
 * *text and *len its members before "actions" (from its opening brace to
 * esc_view_order_text's actions_at); false otherwise. Another viewer's
 * view shares them unless the order has a dispute (the viewer's actions
 * are in it) or a shipment and the viewer another language than the
 * event's English (a tracking number's rule). */
bool esc_engine_reply_text(struct esc_engine *e, struct esc_store *s, const struct esc_order *o,
			   const char **text, size_t *len);

/* What a buyer's cancel command would do now, without writing anything
 * (issue 16 item 3): the core decides on what the engine loads for the
 * command, read through s (a read connection); no transaction is
 * committed, no idempotency row or event written. A request (a paid order)
 * is followed by the seller's acceptance, decided now, which its response
 * window's passing does too. */
struct esc_cancel_preview {
	int rc;            /* 0, or the refusal the command would answer */
	char message[200]; /* why, when rc != 0 */
	char hint[200];
	struct esc_order order; /* after the cancel command (as it is, refused) */
	bool immediate;         /* cancelled at once, not a request to the seller */
	bool has_refund;
	struct esc_refund refund; /* what confirming (and its acceptance) refunds */
	const char *fault;        /* "buyer" or "seller", by the reason; NULL for none */
	/* A request's response deadline: its rule and what its passing does
	 * (core/rules.h); rule -1 when immediate. */
	struct esc_explanation response;
	int32_t policy_version;
	enum esc_buyer_level level_before, level_after;
	struct esc_cancel_budget budget_after;
};
int esc_engine_preview_cancel(struct esc_engine *e, struct esc_store *s,
			      const struct esc_command *cmd, struct esc_cancel_preview *out);

/* Run one command in its own transaction. Returns res->rc. */
int esc_engine_exec(struct esc_engine *e, const struct esc_command *cmd, struct esc_result *res);

/* Run n commands in one transaction (one durable commit). res[i] is
 * cmd[i]'s result: a refused or failed command leaves nothing behind and
 * does not disturb the others. If the commit itself fails, every command
 * fails with its code. Returns 0, or the commit's failure. */
int esc_engine_exec_batch(struct esc_engine *e, const struct esc_command *cmds, size_t n,
			  struct esc_result *res);

/* Group commit. The engine's writer, a thread of its own started by
 * esc_engine_open, takes every command queued (up to 256) into one
 * esc_engine_exec_batch: one durable commit for all of them, however many
 * threads queued them. Each command stays all-or-nothing and is
 * acknowledged after its commit.
 *
 * A command submitted for the writer: cmd, res, done and arg are the
 * caller's, and so is the submission's memory; all of it (and whatever
 * cmd points to, its reply's arg too) must live until done(arg) runs.
 * next is the engine's. */
struct esc_submission {
	const struct esc_command *cmd;
	struct esc_result *res;
	void (*done)(void *arg);
	void *arg;
	struct esc_submission *next;
};

/* Queue sub for the writer and return at once. Once the commit that holds
 * the command is durable (or the command failed), the writer fills
 * *sub->res and calls sub->done(sub->arg), once, from its own thread:
 * done must be quick (the next batch waits for it), must not call
 * esc_engine_submit, and may free sub. cmd's reply (esc_reply) runs in the
 * writer's thread too. Returns 0; or ESC_EBUSY when the engine is being
 * freed: nothing is queued, done is not called, and res says why. */
int esc_engine_submit_async(struct esc_engine *e, struct esc_submission *sub);

/* Release j (json_decref) on the writer's thread, at its next batch: a
 * command's answer, whose tree the writer made inside the command's
 * transaction, given back once its text is sent. Its blocks then go back
 * to the writer's own cache (util/json.h) for the next commands' trees,
 * instead of through malloc's shared bins (issue 15). Released at once
 * when the writer is not running, or has too many waiting. NULL: nothing. */
void esc_engine_json_release(struct esc_engine *e, struct json_t *j);

/* Run one command through the writer, sharing its commit with what other
 * threads submit meanwhile, and wait for its result: esc_engine_submit_async
 * and a wait. Not from the writer's thread (a reply's build, a done).
 * Returns res->rc. */
int esc_engine_submit(struct esc_engine *e, const struct esc_command *cmd, struct esc_result *res);

/* Fire the deadlines due now, up to max (0 = 256) per transaction. *fired
 * counts the deadlines that changed an order; stale rows are dropped. A
 * deadline that fails on a store error stays queued and its error is
 * returned. Rows are claimed first under this process's lease (see
 * ESC_LEASE_MS_DEFAULT), which the claim renews. */
int esc_engine_fire_due(struct esc_engine *e, size_t max, size_t *fired);

/* Writes that are not commands: one door.
 *
 * A command changes an order, through esc_engine_exec(), _exec_batch() or
 * _submit(). Every other write goes through esc_engine_transact(): a
 * session's sign-in, touch and sign-out, API keys, the Idempotency-Key
 * record of a request that ran no command, messages, sign-in counts, and
 * the engine's own below (users, evidence, a lifted suspension, the
 * manual clock, deadline claims). It runs on the writer's connection,
 * under the lock that serializes command batches, in a transaction of its
 * own that runs again, with backoff, while it loses to a concurrent one
 * (at most ESC_RETRY_MAX times). The connections of
 * esc_engine_store_acquire() are for reads only: the store refuses a
 * write there (read_only), as a bug.
 *
 * Work for the transaction of such a write, after the write and before
 * its commit: an HTTP request keeps its Idempotency-Key's answer there,
 * so that the key and the write exist together. A non-zero return undoes
 * the write and is returned. It may run more than once (a transaction
 * that lost a race runs again). */
struct esc_tx_hook {
	int (*run)(void *arg, struct esc_store *s);
	void *arg;
};

/* Add a file of evidence to an order's open dispute, by its buyer or
 * seller. declared is the Content-Type the file came with: it must be
 * the type its bytes are (JPEG, PNG or PDF); at most 5 MiB, 10 per
 * dispute. *out describes the kept file. Refusals: ESC_ENOTFOUND,
 * ESC_EFORBIDDEN, ESC_ESTATE, ESC_ELIMIT, ESC_ETOOLARGE, ESC_EMEDIA, with
 * why in why. after (or NULL) runs in the same transaction. */
int esc_engine_evidence_add(struct esc_engine *e, enum esc_actor actor, const char *actor_id,
			    const char *order_id, const char *declared, const char *filename,
			    const void *data, size_t len, struct esc_evidence *out, char *why,
			    size_t why_size, const struct esc_tx_hook *after);

/* Users. role is buyer, seller or arbiter; the password is hashed with
 * argon2id. ESC_EDUPLICATE when the email is taken; ESC_EINVAL for a name
 * of 0 or more than ESC_NAME_MAX bytes, an email esc_engine_email_ok
 * refuses, or a password of fewer than 8 or more than 1024 bytes, checked
 * in that order. */
/* One address (name@host, one @, no spaces or control bytes), at most
 * ESC_EMAIL_MAX bytes. */
bool esc_engine_email_ok(const char *email);
int esc_engine_user_create(struct esc_engine *e, enum esc_actor role, const char *name,
			   const char *email, const char *password, struct esc_user *out);
/* The same with after (or NULL) in the user's transaction; *out is the
 * new user already when it runs. */
int esc_engine_user_create_with(struct esc_engine *e, enum esc_actor role, const char *name,
				const char *email, const char *password, struct esc_user *out,
				const struct esc_tx_hook *after);

/* Reputation, now. Like every esc_engine_* call, safe from any thread. */
int esc_engine_buyer_reputation(struct esc_engine *e, const char *user_id,
				struct esc_buyer_rep *out);
/* The same for a caller that holds a store s: between
 * esc_engine_store_acquire() and release, or the store an esc_reply's
 * build(). */
int esc_engine_buyer_reputation_held(struct esc_engine *e, struct esc_store *s, const char *user_id,
				     struct esc_buyer_rep *out);
/* The buyer's cancellation budget now (issue 16 item 3; core/reputation.h),
 * on a store the caller holds. ESC_ENOTFOUND for a user who is not a
 * buyer. */
int esc_engine_cancel_budget_held(struct esc_engine *e, struct esc_store *s, const char *user_id,
				  struct esc_cancel_budget *out);
int esc_engine_seller_reputation(struct esc_engine *e, const char *user_id,
				 struct esc_seller_rep *out);
int esc_engine_seller_reputation_held(struct esc_engine *e, struct esc_store *s,
				      const char *user_id, struct esc_seller_rep *out);

/* What the arbiter's recommendation for o's dispute reads now: the
 * evidence each party gave and both reputations. The caller holds s, as
 * for the *_held reputations above; the decide command reads the same. */
int esc_engine_dispute_facts_held(struct esc_engine *e, struct esc_store *s,
				  const struct esc_order *o, struct esc_dispute_facts *out);
/* The same from the dispute's evidence ev[0..n), already read. */
int esc_engine_dispute_facts_of(struct esc_engine *e, struct esc_store *s,
				const struct esc_order *o, const struct esc_evidence *ev, size_t n,
				struct esc_dispute_facts *out);

/* An arbiter lifts a buyer's suspension (SPEC §6), with a written reason
 * kept in the user's record: the marks before it then hold the buyer at
 * restricted at most for the rest of the long window, and only those made
 * after it can suspend them again. ESC_ENOTFOUND for no such buyer, ESC_ESTATE
 * when not suspended, ESC_EINVAL without a reason; *after is the level
 * then. */
int esc_engine_lift_suspension(struct esc_engine *e, const char *arbiter_id, const char *user_id,
			       const char *reason, struct esc_buyer_rep *after);

/* The door for writes that are not commands (see above): fn in a
 * transaction of its own on the writer's connection, under the engine's
 * lock, run again (with backoff) while it loses to a concurrent
 * transaction. fn returns 0 to commit; anything else rolls back and is
 * returned. Since it may run more than once, fn starts afresh each time
 * (what it read or wrote in arg before is stale). Not from inside
 * another engine call (an esc_reply's build(), a hook), nor while holding
 * a store from esc_engine_store_acquire(): with a pool of one, that is
 * the writer, under the same lock. */
int esc_engine_transact(struct esc_engine *e, int (*fn)(struct esc_store *s, void *arg), void *arg);
/* The same in a transaction of the store's begin_weak (PostgreSQL: READ
 * COMMITTED), for the delivery worker's writes, which must not make
 * commands fail as concurrent with them; fn's statements keep themselves
 * right with row locks and re-checks. */
int esc_engine_transact_weak(struct esc_engine *e, int (*fn)(struct esc_store *s, void *arg),
			     void *arg);

/* What the store said of the calling thread's last failed
 * esc_engine_transact(), esc_engine_transact_weak() or
 * esc_engine_fire_due() (esc_store_last_error's words, taken before the
 * rollback), for a log line: NULL when it said nothing. */
const char *esc_engine_store_said(void);

/* Reads for the API: a connection of the pool's, or with a pool of one
 * the writer's under the engine's lock, so that reads see only committed
 * commands. For reads only (a pool's connection is read-only): writes go
 * through esc_engine_transact(). Give
 * it back with esc_engine_store_release(). */
struct esc_store *esc_engine_store_acquire(struct esc_engine *e);
void esc_engine_store_release(struct esc_engine *e, struct esc_store *s);

/* Reads that belong together, such as an HTTP request's authentication
 * and its handler's: between begin and end, the calling thread's
 * acquires all return the connection the first one took, which goes back
 * to the pool at end (or at the thread's next esc_engine_transact(), so
 * that its reads after a write see it). One connection a request, and on
 * SQLite one snapshot and one read transaction. Release what you acquire
 * as outside; end in the thread that began. With a pool of one (no read
 * connection), nothing changes: each acquire takes the engine's lock. */
void esc_engine_reads_begin(struct esc_engine *e);
void esc_engine_reads_end(struct esc_engine *e);

/* The writer's connection, the one commands and esc_engine_transact()
 * write through: for tests and offline tools, when no command runs (no
 * other thread uses the engine meanwhile). A daemon's code reads through
 * esc_engine_store_acquire() and writes through the doors above. */
struct esc_store *esc_engine_writer(struct esc_engine *e);

/* The store's invariants (escrowd check): the ledger's (SPEC §4) and the
 * policy versions' (every order's version kept, each kept text hashing to
 * its hash and parsing); each broken one a problem in *out. */
int esc_engine_check(struct esc_engine *e, struct esc_ledger_report *out);

#endif
