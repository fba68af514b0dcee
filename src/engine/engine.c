/* engine.c - commands: load, decide (core), persist (store), commit. */
#include "engine/engine.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <sodium.h>

#include "core/event.h"
#include "engine/view.h"
#include "util/log.h"
#include "util/bug.h"
#include "util/error.h"
#include "util/id.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/timefmt.h"

#define MANUAL_CLOCK_KEY "manual_clock_ms"
/* Answers given back to the writer and not yet released, at most (more:
 * released by whoever gives them back), and the blocks of them its
 * thread keeps for the next batches' trees. */
#define GIVE_BACK_MAX           4096
#define WRITER_JSON_CACHE_BYTES (16 * 1024 * 1024)

struct known_policy {
	int32_t version;
	struct esc_policy *policy; /* owned */
};

struct esc_engine {
	struct esc_store *store;
	struct esc_policy policy;
	/* Policy versions (issue 16): policy is pol_<policy_version>; an
	 * order decides by the version it was created under, each other
	 * version parsed once from the store when first asked for, into
	 * known (appended to under policies_lock, never shrunk: each parsed
	 * policy stays where it is until the engine is freed). */
	int32_t policy_version;
	pthread_mutex_t policies_lock;
	struct known_policy *known;
	size_t known_count, known_cap;
	struct esc_clock clock;
	bool fast_password_hashing;
	/* options.no_events: no one reads this store's events or history,
	 * so none are written (escrowd replay's scratch stores). */
	bool no_events;
	/* This process as a deadline worker: id ("prc_" and 16 hex) names
	 * it on the deadlines it claims; its row is written at its first
	 * claim (working), renewed once a quarter of the lease by a claim
	 * that takes rows or by the webhook worker while it holds deliveries
	 * (beat_real_ms: the last renewal's real time, by either), deleted at
	 * free. */
	struct esc_process process;
	bool working;
	_Atomic int64_t beat_real_ms;
	struct esc_clock real_own;
	struct esc_clock *real; /* real_own or the options' real_clock */
	pthread_mutex_t lock;   /* one command batch at a time */
	/* run_one's effects (10 KiB), kept from one command to the next under
	 * lock: a block that large malloc'ed and freed each time made glibc
	 * consolidate its fast bins each time (issue 15). */
	struct esc_effects *fx;
	/* The time of the batch under way (0: none), at which its commands
	 * without one of their own run: read_ahead read the reputation
	 * counters at this time's window starts. */
	int64_t batch_now_ms;
	/* Read connections, each lent to one caller at a time: a caller
	 * takes a free one with an atomic exchange, from a place that turns
	 * with each call, and waits on pool_free only when all are busy
	 * (pool_waiters tells a release to wake it). A lock around the whole
	 * pool made every read of every thread meet on one mutex. */
	struct esc_store *readers[ESC_POOL_MAX];
	_Atomic bool reader_busy[ESC_POOL_MAX];
	size_t readers_count;
	_Atomic unsigned reader_next;
	_Atomic int pool_waiters;
	pthread_mutex_t pool_lock;
	pthread_cond_t pool_free;
	/* SQLite: a lent reader reads in one transaction, one snapshot from
	 * acquire to release, instead of one per statement (each took the
	 * WAL's read lock: a mutex and fcntl calls). Not on PostgreSQL, where
	 * BEGIN and its end would be two more round trips. */
	bool read_snapshots;
	/* Group commit: esc_engine_submit_async queues here, and the writer
	 * thread takes the whole queue as one batch. queue_lock guards the
	 * queue and the flags; the writer sleeps on queue_wake only when the
	 * queue is empty (writer_idle), so that a submission wakes it once,
	 * not at every command. */
	pthread_mutex_t queue_lock;
	pthread_cond_t queue_wake;
	struct esc_submission *queue_head, *queue_tail;
	size_t queue_len;
	pthread_t writer;
	bool writer_running, writer_idle, writer_stop;
	/* The commit delay (writer_linger): how long; when the writer took
	 * its last batch (esc_time_monotonic_us); whether that batch showed
	 * commands coming faster than commits; whether the writer is waiting
	 * now (the submission that makes LINGER_MAX wakes it). */
	int64_t commit_delay_us;
	int64_t batch_taken_us;
	/* The writer's nice (esc_engine_options.writer_nice), the errno of
	 * its refusal, and whether the writer has tried it (writer_start
	 * waits on fire_done for that). */
	int writer_nice, writer_nice_error;
	bool writer_nice_tried;
	bool writer_pressed, writer_lingering;
	/* Documents given back to the writer to release (under queue_lock;
	 * esc_engine_json_release), and the writer's copy while it releases
	 * them. */
	json_t *give_back[GIVE_BACK_MAX];
	size_t give_back_count;
	json_t *give_back_taken[GIVE_BACK_MAX];
	/* A call of esc_engine_fire_due waiting for the writer to fire one
	 * batch of deadlines (NULL: none), and the condition it waits on:
	 * the writer takes it after the commands queued before it, so that a
	 * worker firing batch after batch takes turns with the commands
	 * instead of holding them back. */
	struct fire_request *fire_req;
	pthread_cond_t fire_done;
	/* The writer's batch, allocated once: a result holds a whole order
	 * (7 KiB), and 256 of them allocated per batch were a mapping of
	 * their own, faulted in and unmapped each time (a quarter of the
	 * daemon's CPU under load went to the page faults and TLB flushes). */
	struct esc_command *group_cmds;
	struct esc_result *group_results;
	/* While the writer runs a command's reply builder: the event's
	 * object and the order it shows (esc_engine_reply_object). Only the
	 * writer, under lock, reads or writes them. */
	json_t *reply_object;
	const char *reply_text; /* or its text, esc_engine_reply_text's */
	size_t reply_text_len;
	const struct esc_order *reply_order;
	/* Counters since open, for metrics and benchmarks: atomics, added
	 * to by whoever holds lock and read by any thread without one
	 * (esc_engine_counters). Relaxed: each is a count of its own, and
	 * no other memory is published through them. commands_ok is not
	 * kept: it is the sum of events_ok, taken when read. */
	_Atomic int64_t commands_refused, commits, deadlines_fired;
	_Atomic int64_t retries; /* transactions run again after losing to another */
	_Atomic int64_t batch_reruns;            /* batches run again guarded (REDO_GUARDED) */
	_Atomic int64_t commit_delays;           /* writer_linger's waits */
	_Atomic int64_t events_ok[ESC_EV_COUNT]; /* accepted commands by event */
	_Atomic int64_t webhook[ESC_WC_COUNT];
	void (*on_commit)(void *arg); /* under lock */
	void *on_commit_arg;
};

/* This process's name on the deadlines it claims, and its lease. */
static void process_init(struct esc_engine *e, int64_t lease_ms)
{
	unsigned char r[8];
	randombytes_buf(r, sizeof r);
	memcpy(e->process.id, "prc_", 4);
	sodium_bin2hex(e->process.id + 4, sizeof e->process.id - 4, r, sizeof r);
	e->process.started_ms = esc_clock_now(e->real);
	e->process.lease_ms = lease_ms ? lease_ms : ESC_LEASE_MS_DEFAULT;
}

/* The writer's connection, and pool - 1 for reads (ESC_STORE_READER),
 * which wait for no commit and refuse writes. */
static int pool_open(struct esc_engine *e, const char *url, size_t pool, bool scratch, char *err,
		     size_t err_size)
{
	int rc = esc_store_open_mode(url, scratch ? ESC_STORE_SCRATCH : ESC_STORE_NORMAL, &e->store,
				     err, err_size);
	e->read_snapshots = strncmp(url, "postgresql://", 13) && strncmp(url, "postgres://", 11);
	if (!pool)
		pool = 1;
	if (pool > ESC_POOL_MAX)
		pool = ESC_POOL_MAX;
	while (!rc && e->readers_count + 1 < pool) {
		struct esc_store *r = NULL;
		/* Reads only: a write there is a bug (writes go through
		 * esc_engine_transact), and the store refuses it. */
		rc = esc_store_open_mode(url, ESC_STORE_READER, &r, err, err_size);
		if (rc)
			break;
		e->readers[e->readers_count++] = r;
	}
	return rc;
}

/* A real clock, or a manual one whose time is kept in the store: a
 * restart does not turn time back. */
static int clock_open(struct esc_engine *e, const struct esc_engine_options *opt, char *err,
		      size_t err_size)
{
	int64_t saved = 0;
	int rc;

	if (!opt->manual_clock) {
		esc_clock_init_real(&e->clock);
		return 0;
	}
	ESC_STORE(rc, e->store, meta_get, MANUAL_CLOCK_KEY, &saved);
	if (rc == ESC_ENOTFOUND) {
		saved = opt->manual_start_ms ? opt->manual_start_ms : esc_time_real_ms();
		ESC_STORE(rc, e->store, meta_set, MANUAL_CLOCK_KEY, saved);
	}
	if (rc) {
		esc_set_err(err, err_size, "cannot read or save the manual clock in the store");
		return rc;
	}
	esc_clock_init_manual(&e->clock, saved);
	return 0;
}

static int writer_start(struct esc_engine *e, char *err, size_t err_size);
static void writer_stop(struct esc_engine *e);
static int policies_open(struct esc_engine *e, char *err, size_t err_size);

int esc_engine_open(struct esc_engine **out, const char *url, const struct esc_policy *policy,
		    const struct esc_engine_options *opt, char *err, size_t err_size)
{
	static const struct esc_engine_options defaults = {0};
	struct esc_engine *e = NULL;
	int rc = 0;

	if (!opt)
		opt = &defaults;
	if (sodium_init() < 0) {
		/* Not a bug of ours: the system gave it no randomness. An
		 * internal error, which err names. */
		esc_set_err(err, err_size, "libsodium failed to initialize");
		rc = ESC_EBUG;
		goto out;
	}
	e = calloc(1, sizeof *e);
	if (!e) {
		rc = ESC_ENOMEM;
		goto out;
	}
	pthread_mutex_init(&e->lock, NULL);
	pthread_mutex_init(&e->pool_lock, NULL);
	pthread_cond_init(&e->pool_free, NULL);
	pthread_mutex_init(&e->queue_lock, NULL);
	esc_cond_init_monotonic(&e->queue_wake); /* writer_linger's wait */
	pthread_cond_init(&e->fire_done, NULL);
	pthread_mutex_init(&e->policies_lock, NULL);
	if (policy)
		e->policy = *policy;
	else
		esc_policy_default(&e->policy);
	rc = esc_policy_validate(&e->policy, err, err_size);
	if (rc)
		goto out;
	e->fast_password_hashing = opt->fast_password_hashing;
	e->no_events = opt->no_events;
	if (opt->commit_delay_us < 0 || opt->commit_delay_us > ESC_COMMIT_DELAY_US_MAX) {
		esc_set_err(err, err_size, "the commit delay must be from 0 to %d microseconds",
			    ESC_COMMIT_DELAY_US_MAX);
		rc = ESC_EINVAL;
		goto out;
	}
	e->commit_delay_us = opt->commit_delay_us;
	if (opt->writer_nice < ESC_WRITER_NICE_MIN || opt->writer_nice > 0) {
		esc_set_err(err, err_size, "the writer's nice must be from %d to 0",
			    ESC_WRITER_NICE_MIN);
		rc = ESC_EINVAL;
		goto out;
	}
	e->writer_nice = opt->writer_nice;
	if (opt->lease_ms < 0) {
		esc_set_err(err, err_size, "the deadline lease must not be negative");
		rc = ESC_EINVAL;
		goto out;
	}
	esc_clock_init_real(&e->real_own);
	e->real = opt->real_clock ? opt->real_clock : &e->real_own;
	process_init(e, opt->lease_ms);
	rc = pool_open(e, url, opt->scratch ? 1 : opt->pool, opt->scratch, err, err_size);
	if (!rc)
		rc = clock_open(e, opt, err, err_size);
	if (!rc)
		rc = policies_open(e, err, err_size);
	if (!rc)
		rc = writer_start(e, err, err_size);
out:
	if (rc && e) {
		esc_engine_free(e);
		e = NULL;
	}
	*out = e;
	return rc;
}

static int transact(struct esc_engine *e, int (*fn)(struct esc_store *s, void *arg), void *arg);
static void reads_yield(struct esc_engine *e);

/* A worker that stops gives its claims back and ends its lease, so that
 * another process fires them at once, not when the lease ends. */
static int end_tx(struct esc_store *s, void *arg)
{
	const struct esc_process *p = arg;
	int rc;
	ESC_STORE(rc, s, deadlines_release, p->id);
	if (!rc)
		ESC_STORE(rc, s, webhook_deliveries_release, p->id);
	if (!rc)
		ESC_STORE(rc, s, process_end, p->id);
	return rc;
}

void esc_engine_free(struct esc_engine *e)
{
	if (!e)
		return;
	writer_stop(e);
	if (e->store && e->working) {
		pthread_mutex_lock(&e->lock);
		/* Best effort: otherwise the lease ends by itself. */
		(void)transact(e, end_tx, &e->process);
		pthread_mutex_unlock(&e->lock);
	}
	if (e->store)
		esc_store_close(e->store);
	for (size_t i = 0; i < e->readers_count; i++)
		esc_store_close(e->readers[i]);
	pthread_mutex_destroy(&e->lock);
	pthread_mutex_destroy(&e->pool_lock);
	pthread_cond_destroy(&e->pool_free);
	pthread_mutex_destroy(&e->queue_lock);
	pthread_cond_destroy(&e->queue_wake);
	pthread_cond_destroy(&e->fire_done);
	pthread_mutex_destroy(&e->policies_lock);
	for (size_t i = 0; i < e->known_count; i++)
		free(e->known[i].policy);
	free(e->known);
	free(e->group_cmds);
	free(e->group_results);
	free(e->fx);
	free(e);
}

const struct esc_policy *esc_engine_policy(const struct esc_engine *e)
{
	return &e->policy;
}

/* Policy versions (issue 16). */

/* The longest canonical text kept: every key, the reason table and the
 * carriers at their limits fit well within it. */
#define POLICY_TEXT_MAX (256 * 1024)

/* The canonical text of p (esc_policy_format, into sb) and the hex of its
 * generichash. */
static int policy_hash(const struct esc_policy *p, struct esc_strbuf *sb,
		       char hex[ESC_POLICY_HASH_HEX_SIZE])
{
	unsigned char h[32];
	int rc = esc_policy_format(p, sb);
	if (rc)
		return rc;
	crypto_generichash(h, sizeof h, (const unsigned char *)esc_strbuf_str(sb),
			   strlen(esc_strbuf_str(sb)), NULL, 0);
	sodium_bin2hex(hex, ESC_POLICY_HASH_HEX_SIZE, h, sizeof h);
	return 0;
}

/* SPEC's defaults, then the daemon's policy: each found by its hash, or
 * added as the next version. */
struct policies_tx {
	const char *hash[2], *text[2];
	int64_t now_ms;
	int64_t version;
};

static int policies_tx(struct esc_store *s, void *arg)
{
	struct policies_tx *t = arg;
	int rc = 0;
	for (size_t i = 0; !rc && i < 2; i++) {
		ESC_STORE(rc, s, policy_find, t->hash[i], &t->version);
		if (rc == ESC_ENOTFOUND)
			ESC_STORE(rc, s, policy_add, t->hash[i], t->text[i], t->now_ms,
				  &t->version);
	}
	return rc;
}

/* The daemon's policy gets its version, registered if it is new. SPEC's
 * defaults are registered first, so that they are always pol_1. Two
 * daemons registering at once take the same number: the one that loses
 * runs its transaction again and finds the other's. */
static int policies_open(struct esc_engine *e, char *err, size_t err_size)
{
	struct esc_policy defaults;
	struct esc_strbuf sb[2];
	char hex[2][ESC_POLICY_HASH_HEX_SIZE];
	struct policies_tx t = {.now_ms = esc_clock_now(&e->clock)};
	int rc = 0;

	esc_policy_default(&defaults);
	for (size_t i = 0; i < 2; i++)
		esc_strbuf_init(&sb[i], POLICY_TEXT_MAX);
	rc = policy_hash(&defaults, &sb[0], hex[0]);
	if (!rc)
		rc = policy_hash(&e->policy, &sb[1], hex[1]);
	for (size_t i = 0; i < 2; i++) {
		t.hash[i] = hex[i];
		t.text[i] = esc_strbuf_str(&sb[i]);
	}
	pthread_mutex_lock(&e->lock);
	for (int attempt = 0; !rc; attempt++) {
		rc = transact(e, policies_tx, &t);
		if (rc != ESC_EDUPLICATE || attempt + 1 >= ESC_RETRY_MAX)
			break;
		rc = 0;
	}
	pthread_mutex_unlock(&e->lock);
	if (rc)
		esc_set_err(err, err_size, "cannot register the policy's version in the store: %s",
			    esc_error_message(rc));
	else
		e->policy_version = (int32_t)t.version;
	for (size_t i = 0; i < 2; i++)
		esc_strbuf_release(&sb[i]);
	return rc;
}

int32_t esc_engine_policy_version(const struct esc_engine *e)
{
	return e->policy_version;
}

static const struct esc_policy *known_find(struct esc_engine *e, int32_t version)
{
	const struct esc_policy *p = NULL;
	pthread_mutex_lock(&e->policies_lock);
	for (size_t i = 0; !p && i < e->known_count; i++)
		if (e->known[i].version == version)
			p = e->known[i].policy;
	pthread_mutex_unlock(&e->policies_lock);
	return p;
}

/* Keep p (parsed by this thread) as version's, unless another thread kept
 * one first: the one kept, and p freed otherwise. */
static const struct esc_policy *known_add(struct esc_engine *e, int32_t version,
					  struct esc_policy *p)
{
	const struct esc_policy *kept = NULL;
	pthread_mutex_lock(&e->policies_lock);
	for (size_t i = 0; !kept && i < e->known_count; i++)
		if (e->known[i].version == version)
			kept = e->known[i].policy;
	if (!kept && e->known_count == e->known_cap) {
		size_t cap = e->known_cap ? 2 * e->known_cap : 4;
		struct known_policy *k = realloc(e->known, cap * sizeof *k);
		if (k) {
			e->known = k;
			e->known_cap = cap;
		}
	}
	if (!kept && e->known_count < e->known_cap) {
		e->known[e->known_count++] = (struct known_policy){version, p};
		kept = p;
		p = NULL;
	}
	pthread_mutex_unlock(&e->policies_lock);
	free(p);
	return kept;
}

int esc_engine_policy_of(struct esc_engine *e, struct esc_store *s, int64_t version,
			 const struct esc_policy **out)
{
	struct esc_policy_row row = {0};
	struct esc_policy *p = NULL;
	int rc = 0;

	*out = NULL;
	if (version == e->policy_version) {
		*out = &e->policy;
		return 0;
	}
	if (version < 1 || version > INT32_MAX)
		return ESC_ENOTFOUND;
	*out = known_find(e, (int32_t)version);
	if (*out)
		return 0;
	ESC_STORE(rc, s, policy_get, version, &row);
	if (!rc) {
		p = malloc(sizeof *p);
		rc = p ? 0 : ESC_ENOMEM;
	}
	if (!rc) {
		/* A stored text is one a daemon parsed and validated; one this
		 * build cannot read is the store's fault, not the caller's. */
		esc_policy_default(p);
		if (esc_policy_parse(p, row.text, NULL, 0) || esc_policy_validate(p, NULL, 0))
			rc = ESC_EIO;
	}
	if (!rc) {
		*out = known_add(e, (int32_t)version, p);
		p = NULL;
		rc = *out ? 0 : ESC_ENOMEM;
	}
	free(p);
	free(row.text);
	return rc;
}

int esc_engine_order_policy(struct esc_engine *e, struct esc_store *s, const struct esc_order *o,
			    const struct esc_policy **out)
{
	if (!o->policy_version) {
		*out = &e->policy; /* a new order, not pinned yet */
		return 0;
	}
	return esc_engine_policy_of(e, s, o->policy_version, out);
}

bool esc_engine_clock_manual(const struct esc_engine *e)
{
	return e->clock.manual;
}

bool esc_engine_fast_password_hashing(const struct esc_engine *e)
{
	return e->fast_password_hashing;
}

int64_t esc_engine_now(struct esc_engine *e)
{
	return esc_clock_now(&e->clock);
}

void esc_engine_counters(struct esc_engine *e, struct esc_engine_counters *out)
{
	out->commands_ok = 0;
	for (size_t i = 0; i < ESC_EV_COUNT; i++) {
		out->events_ok[i] = atomic_load_explicit(&e->events_ok[i], memory_order_relaxed);
		out->commands_ok += out->events_ok[i];
	}
	out->commands_refused = atomic_load_explicit(&e->commands_refused, memory_order_relaxed);
	out->commits = atomic_load_explicit(&e->commits, memory_order_relaxed);
	out->deadlines_fired = atomic_load_explicit(&e->deadlines_fired, memory_order_relaxed);
	out->retries = atomic_load_explicit(&e->retries, memory_order_relaxed);
	out->batch_reruns = atomic_load_explicit(&e->batch_reruns, memory_order_relaxed);
	out->commit_delays = atomic_load_explicit(&e->commit_delays, memory_order_relaxed);
	out->has_wal = esc_store_wal_stats(e->store, &out->wal_frames, &out->wal_page_size);
	for (size_t i = 0; i < ESC_WC_COUNT; i++)
		out->webhook[i] = atomic_load_explicit(&e->webhook[i], memory_order_relaxed);
}

void esc_engine_webhook_count(struct esc_engine *e, enum esc_webhook_counter c, int64_t n)
{
	if ((int)c >= 0 && c < ESC_WC_COUNT)
		atomic_fetch_add_explicit(&e->webhook[c], n, memory_order_relaxed);
}

void esc_engine_on_commit(struct esc_engine *e, void (*fn)(void *arg), void *arg)
{
	pthread_mutex_lock(&e->lock);
	e->on_commit = fn;
	e->on_commit_arg = arg;
	pthread_mutex_unlock(&e->lock);
}

/* Under lock. */
static void committed(struct esc_engine *e)
{
	if (e->on_commit)
		e->on_commit(e->on_commit_arg);
}

void esc_engine_process(struct esc_engine *e, struct esc_process *out)
{
	/* id, started_ms and lease_ms never change; heartbeat_ms is the
	 * deadline worker's, written under lock, and not read here. */
	memset(out, 0, sizeof *out);
	memcpy(out->id, e->process.id, sizeof out->id);
	out->started_ms = e->process.started_ms;
	out->lease_ms = e->process.lease_ms;
	out->heartbeat_ms = esc_clock_now(e->real);
}

bool esc_engine_lease_due(struct esc_engine *e, int64_t real_ms)
{
	return real_ms - atomic_load(&e->beat_real_ms) >= e->process.lease_ms / 4;
}

void esc_engine_lease_renewed_at(struct esc_engine *e, int64_t real_ms)
{
	/* The later of two renewals that race. */
	int64_t seen = atomic_load(&e->beat_real_ms);
	while (seen < real_ms && !atomic_compare_exchange_weak(&e->beat_real_ms, &seen, real_ms))
		;
}

/* Add n to one of the counters. */
static void counter_add(_Atomic int64_t *counter, int64_t n)
{
	atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

int64_t esc_engine_real_ms(struct esc_engine *e)
{
	return esc_clock_now(e->real);
}

/* Forget the answers kept before *arg (ms of real time). */
static int purge_tx(struct esc_store *s, void *arg)
{
	const int64_t *before = arg;
	int rc;
	ESC_STORE(rc, s, idempotency_purge, *before);
	return rc;
}

int esc_engine_idempotency_get(struct esc_engine *e, struct esc_store *s, const char *scope,
			       const char *key, struct esc_idempotency *out)
{
	int64_t before = esc_engine_real_ms(e) - ESC_IDEMPOTENCY_KEEP_MS;
	int rc;
	ESC_STORE(rc, s, idempotency_get, scope, key, out);
	if (!rc && out->created_at_ms < before) {
		free(out->response);
		out->response = NULL;
		/* Forgetting is a write: on the writer, which s is when the pool
		 * is one (under the lock), else through the door. */
		if (s == e->store)
			rc = purge_tx(s, &before);
		else
			rc = esc_engine_transact(e, purge_tx, &before);
		if (!rc)
			rc = ESC_ENOTFOUND;
	}
	return rc;
}

/* A manual clock is the store's: every daemon on it keeps the time kept
 * there, which only moves forward. Catch up with it, never back: in a
 * transaction of s, or on its own. 0 on a real clock; the store's
 * failure, which fails what was to run at that time. */
int esc_engine_clock_sync(struct esc_engine *e, struct esc_store *s)
{
	int64_t kept = 0;
	int rc;
	if (!e->clock.manual)
		return 0;
	ESC_STORE(rc, s, meta_get, MANUAL_CLOCK_KEY, &kept);
	if (rc == ESC_ENOTFOUND)
		return 0;
	if (!rc)
		esc_clock_catch_up(&e->clock, kept);
	return rc;
}

struct move {
	int64_t local_ms, ms; /* this daemon's time, and the step */
	int64_t next_ms;      /* the new time: from the later of it and the store's */
	const struct esc_advance_reply *reply;
};

/* The clock's new time and the answer to the move, together. The step is
 * taken from the time kept in the store when another daemon moved it
 * further than this one has seen, so that no move turns it back. */
static int move_tx(struct esc_store *s, void *arg)
{
	struct move *m = arg;
	const struct esc_advance_reply *r = m->reply;
	int64_t kept = 0;
	int rc;
	ESC_STORE(rc, s, meta_get, MANUAL_CLOCK_KEY, &kept);
	if (rc == ESC_ENOTFOUND) {
		kept = 0;
		rc = 0;
	}
	if (rc)
		return rc;
	m->next_ms = (kept > m->local_ms ? kept : m->local_ms) + m->ms;
	ESC_STORE(rc, s, meta_set, MANUAL_CLOCK_KEY, m->next_ms);
	if (!rc && r)
		rc = r->build(r->arg, m->next_ms, 0, r->record);
	if (!rc && r && r->record)
		ESC_STORE(rc, s, idempotency_put, r->record);
	return rc;
}

/* Already locked. */
static int move(struct esc_engine *e, int64_t ms, const struct esc_advance_reply *reply)
{
	struct move m = {.local_ms = esc_clock_now(&e->clock), .ms = ms, .reply = reply};
	int rc = transact(e, move_tx, &m);
	if (!rc) {
		esc_clock_catch_up(&e->clock, m.next_ms);
		committed(e);
	}
	return rc;
}

int esc_engine_advance(struct esc_engine *e, int64_t ms)
{
	if (!e->clock.manual || ms < 0)
		return ESC_EINVAL;
	pthread_mutex_lock(&e->lock);
	int rc = move(e, ms, NULL);
	pthread_mutex_unlock(&e->lock);
	return rc;
}

static int answer_tx(struct esc_store *s, void *arg)
{
	const struct esc_idempotency *record = arg;
	int rc;
	ESC_STORE(rc, s, idempotency_answer, record);
	return rc;
}

int esc_engine_advance_and_fire(struct esc_engine *e, int64_t ms,
				const struct esc_advance_reply *reply, size_t *fired)
{
	size_t count = 0, total = 0;
	int rc = 0;
	if (!e->clock.manual || ms < 0)
		return ESC_EINVAL;
	pthread_mutex_lock(&e->lock);
	rc = move(e, ms, reply);
	int64_t now = esc_clock_now(&e->clock);
	pthread_mutex_unlock(&e->lock);
	while (!rc) {
		rc = esc_engine_fire_due(e, 0, &count);
		total += count;
		if (!count)
			break;
	}
	if (!rc && reply && total) {
		/* The answer with the count, in place of the one kept with the
		 * move. */
		pthread_mutex_lock(&e->lock);
		rc = reply->build(reply->arg, now, total, reply->record);
		if (!rc && reply->record)
			rc = transact(e, answer_tx, reply->record);
		pthread_mutex_unlock(&e->lock);
	}
	if (fired)
		*fired = total;
	return rc;
}

void esc_command_init(struct esc_command *c, enum esc_event event, enum esc_actor actor,
		      const char *actor_id, const char *order_id)
{
	memset(c, 0, sizeof *c);
	c->event = event;
	c->actor = actor;
	c->actor_id = actor_id;
	c->order_id = order_id;
	c->args.method = -1;
	c->args.refund_to = -1;
}

/* Reputation. */

/* Did an arbiter lift the buyer's suspension within the long window? */
static bool suspension_lifted(const struct esc_engine *e, const struct esc_user *u, int64_t now)
{
	return u->suspension_lifted_at_ms &&
	       u->suspension_lifted_at_ms > now - e->policy.buyer_long_window_ms;
}

/* The buyer's marks with after_ms < at_ms <= upto_ms, by kind. */
static int marks_between(struct esc_store *s, const char *user_id, int64_t after_ms,
			 int64_t upto_ms, int32_t n[ESC_MARK_COUNT])
{
	int rc;
	memset(n, 0, sizeof(int32_t) * ESC_MARK_COUNT);
	ESC_STORE(rc, s, marks_tally, user_id, after_ms, upto_ms, n);
	return rc;
}

/* A buyer's counts at now; after a lift, with the cancellations and lost
 * disputes made since it (esc_buyer_reputation), in its own millisecond
 * too: those counted from its millisecond on, less the ones of that
 * millisecond it recorded as made before it. A lift of an earlier version
 * recorded none (-1): the marks after its millisecond. A read of the
 * buyer's marks that only a lifted buyer costs. */
static int load_counts(struct esc_engine *e, struct esc_store *s, const struct esc_user *u,
		       int64_t now, struct esc_rep_counts *c)
{
	int rc;
	const struct esc_policy *p = &e->policy;
	int64_t lift = u->suspension_lifted_at_ms;
	ESC_STORE(rc, s, mark_counts, u->id, now - p->buyer_short_window_ms,
		  now - p->buyer_long_window_ms, c);
	memset(c->lifted_, 0, sizeof c->lifted_);
	if (rc || !suspension_lifted(e, u, now))
		return rc;
	bool recorded = u->lift_ms_cancellations >= 0 && u->lift_ms_lost_disputes >= 0;
	int32_t n[ESC_MARK_COUNT];
	rc = marks_between(s, u->id, recorded ? lift - 1 : lift, now, n);
	int64_t cancelled = n[ESC_MARK_BUYER_CANCELLED] - (recorded ? u->lift_ms_cancellations : 0);
	int64_t lost = n[ESC_MARK_BUYER_DISPUTE_LOST] - (recorded ? u->lift_ms_lost_disputes : 0);
	c->lifted_[ESC_MARK_BUYER_CANCELLED] = cancelled > 0 ? (int32_t)cancelled : 0;
	c->lifted_[ESC_MARK_BUYER_DISPUTE_LOST] = lost > 0 ? (int32_t)lost : 0;
	return rc;
}

/* The buyer's level from their counts at now. */
static void buyer_level_of(struct esc_engine *e, const struct esc_user *u,
			   const struct esc_rep_counts *counts, int64_t now,
			   struct esc_buyer_rep *out)
{
	esc_buyer_reputation(&e->policy, counts, suspension_lifted(e, u, now), out);
}

static int buyer_reputation(struct esc_engine *e, struct esc_store *s, const struct esc_user *u,
			    int64_t now, struct esc_buyer_rep *out)
{
	struct esc_rep_counts counts;
	int rc = load_counts(e, s, u, now, &counts);
	if (!rc)
		buyer_level_of(e, u, &counts, now, out);
	return rc;
}

/* A seller's counts: the long window of the counts is the seller's. */
static int seller_counts(struct esc_engine *e, struct esc_store *s, const char *user_id,
			 int64_t now, struct esc_rep_counts *c)
{
	int rc;
	ESC_STORE(rc, s, mark_counts, user_id, now - e->policy.buyer_short_window_ms,
		  now - e->policy.seller_window_ms, c);
	return rc;
}

static int get_user(struct esc_store *s, const char *id, struct esc_user *u)
{
	int rc;
	ESC_STORE(rc, s, user_get, id, u);
	return rc;
}

int esc_engine_buyer_reputation_held(struct esc_engine *e, struct esc_store *s, const char *user_id,
				     struct esc_buyer_rep *out)
{
	struct esc_user u;
	int rc = get_user(s, user_id, &u);
	if (!rc && u.role != ESC_ACTOR_BUYER)
		rc = ESC_ENOTFOUND;
	if (!rc)
		rc = buyer_reputation(e, s, &u, esc_engine_now(e), out);
	return rc;
}

int esc_engine_cancel_budget_held(struct esc_engine *e, struct esc_store *s, const char *user_id,
				  struct esc_cancel_budget *out)
{
	const struct esc_policy *p = &e->policy;
	int64_t now = esc_engine_now(e), at[2] = {0, 0};
	struct esc_rep_counts counts;
	struct esc_user u;
	int rc = get_user(s, user_id, &u);
	if (!rc && u.role != ESC_ACTOR_BUYER)
		rc = ESC_ENOTFOUND;
	if (!rc)
		rc = load_counts(e, s, &u, now, &counts);
	/* The oldest cancellation in each window is all the budget needs of
	 * their times. */
	if (!rc)
		ESC_STORE(rc, s, mark_oldest, u.id, ESC_MARK_BUYER_CANCELLED,
			  now - p->buyer_short_window_ms, &at[0]);
	if (!rc)
		ESC_STORE(rc, s, mark_oldest, u.id, ESC_MARK_BUYER_CANCELLED,
			  now - p->buyer_long_window_ms, &at[1]);
	if (rc)
		return rc;
	int64_t times[2];
	size_t n = 0;
	for (size_t i = 0; i < 2; i++)
		if (at[i])
			times[n++] = at[i];
	esc_cancel_budget(p, &counts, suspension_lifted(e, &u, now), times, n, now, out);
	return 0;
}

int esc_engine_buyer_reputation(struct esc_engine *e, const char *user_id,
				struct esc_buyer_rep *out)
{
	struct esc_store *s = esc_engine_store_acquire(e);
	int rc = esc_engine_buyer_reputation_held(e, s, user_id, out);
	esc_engine_store_release(e, s);
	return rc;
}

static int seller_reputation(struct esc_engine *e, struct esc_store *s, const char *user_id,
			     int64_t now, struct esc_seller_rep *out)
{
	struct esc_rep_counts counts;
	int rc = seller_counts(e, s, user_id, now, &counts);
	if (!rc)
		esc_seller_reputation(&e->policy, &counts, out);
	return rc;
}

int esc_engine_seller_reputation_held(struct esc_engine *e, struct esc_store *s,
				      const char *user_id, struct esc_seller_rep *out)
{
	struct esc_user u;
	int rc = get_user(s, user_id, &u);
	if (!rc && u.role != ESC_ACTOR_SELLER)
		rc = ESC_ENOTFOUND;
	if (!rc)
		rc = seller_reputation(e, s, user_id, esc_engine_now(e), out);
	return rc;
}

int esc_engine_seller_reputation(struct esc_engine *e, const char *user_id,
				 struct esc_seller_rep *out)
{
	struct esc_store *s = esc_engine_store_acquire(e);
	int rc = esc_engine_seller_reputation_held(e, s, user_id, out);
	esc_engine_store_release(e, s);
	return rc;
}

int esc_engine_dispute_facts_of(struct esc_engine *e, struct esc_store *s,
				const struct esc_order *o, const struct esc_evidence *ev, size_t n,
				struct esc_dispute_facts *out)
{
	int rc;
	memset(out, 0, sizeof *out);
	for (size_t i = 0; i < n; i++) {
		if (ev[i].role == ESC_ACTOR_BUYER)
			out->buyer_evidence++;
		else
			out->seller_evidence++;
	}
	rc = esc_engine_buyer_reputation_held(e, s, o->buyer_id, &out->buyer);
	if (!rc)
		rc = esc_engine_seller_reputation_held(e, s, o->seller_id, &out->seller);
	return rc;
}

int esc_engine_dispute_facts_held(struct esc_engine *e, struct esc_store *s,
				  const struct esc_order *o, struct esc_dispute_facts *out)
{
	struct esc_evidence ev[ESC_EVIDENCE_MAX];
	size_t n = 0;
	int rc;
	memset(out, 0, sizeof *out);
	ESC_STORE(rc, s, evidence_list, o->id, ev, ESC_EVIDENCE_MAX, &n);
	if (!rc)
		rc = esc_engine_dispute_facts_of(e, s, o, ev, n, out);
	return rc;
}

/* A user the command marks: their counts, kept up to date with the
 * command's marks as they are written, and their level (a buyer) or score
 * (a seller) before the marks. */
struct rep_before {
	struct esc_user u;
	struct esc_rep_counts counts;
	int value;
};

/* What one command works on: what the engine loaded for the core, then
 * what the core decided. */
struct run {
	const struct esc_command *cmd;
	struct esc_context ctx;
	struct esc_args args;       /* the command's, with what the engine adds */
	char order_id[ESC_ID_SIZE]; /* create: the new order's id */
	bool have_order, have_refund;
	struct esc_order order; /* as it was before the command */
	struct esc_refund refund;
	struct esc_dispute_facts facts;
	/* The buyer's mark counts, when the core needed their level: the
	 * reputation events reuse them instead of counting again. */
	bool have_buyer_counts;
	struct esc_user buyer;
	/* create: the parties, read to check them (ESC_LOAD_PARTIES). */
	bool have_parties;
	struct esc_user parties[2];
	/* The users the command marks, read by reps_before. */
	const struct rep_before *reps;
	size_t reps_n;
	struct esc_rep_counts buyer_counts;
	struct esc_effects *fx;
	/* Where load_order and load_needs read: the writer's connection in a
	 * command's transaction, a read connection for a preview. */
	struct esc_store *store;
	/* The event's data.object, once record() made it: a tree, or for an
	 * order the event's data as text (event_text), where its object
	 * begins at EVENT_OBJECT_AT and its "actions" member at actions_at. */
	json_t *object;
	char *text;
	size_t actions_at;
	/* A deadline row that no longer matches its order or refund, or that
	 * cannot fire: it is dropped, the refusal being the code returned. */
	bool stale;
};

/* The history row's detail, and the event's data (the outbox row's
 * payload). */

/* The history row's detail: the event's fields as the table of events
 * lists them (esc_event_details), in its order. */
static int detail_json(const struct run *r, struct esc_strbuf *sb)
{
	const struct esc_effects *fx = r->fx;
	const struct esc_refund *refund = fx->refund_new || fx->refund_changed ? &fx->refund : NULL;
	struct esc_detail d[ESC_DETAILS_MAX];
	size_t n = esc_event_details(r->cmd->event, r->have_order ? &r->order : NULL, &fx->order,
				     &r->cmd->args, refund, d);
	int rc = esc_strbuf_adds(sb, "{");
	for (size_t i = 0; !rc && i < n; i++) {
		rc = esc_strbuf_addf(sb, "%s\"%s\":", i ? "," : "", d[i].name);
		if (rc)
			break;
		switch (d[i].kind) {
		case ESC_DETAIL_TEXT:
			rc = esc_strbuf_add_json(sb, d[i].text);
			break;
		case ESC_DETAIL_INT:
			rc = esc_strbuf_addf(sb, "%lld", (long long)d[i].value);
			break;
		case ESC_DETAIL_TIME: {
			char at[ESC_TIME_SIZE];
			esc_time_format(d[i].value, at);
			rc = esc_strbuf_add_json(sb, at);
			break;
		}
		}
	}
	if (!rc)
		rc = esc_strbuf_adds(sb, "}");
	return rc;
}

/* An event's data (webhook/feed.h) as JSON text (malloc'd into *out):
 * {"object": object}, with "previous" beside it (reputation events) or
 * "explanation" (the system's events, issue 16) and "fee_explanation"
 * (money released to the seller) when given. Takes object, previous,
 * explanation and fee. */
static int data_text(json_t *object, json_t *previous, json_t *explanation, json_t *fee, char **out)
{
	json_t *data = json_pack("{s:o}", "object", object);
	*out = NULL;
	if (data && previous)
		json_object_set_new(data, "previous", previous);
	else
		json_decref(previous);
	if (data && explanation)
		json_object_set_new(data, "explanation", explanation);
	else
		json_decref(explanation);
	if (data && fee)
		json_object_set_new(data, "fee_explanation", fee);
	else
		json_decref(fee);
	if (data)
		*out = esc_json_text(data, 4096, NULL); /* json_dumps's bytes, faster */
	json_decref(data);
	return *out ? 0 : ESC_ENOMEM;
}

/* The viewer of an event's object: the operator, knowing what the command
 * read or made already, which is not read back. */
static void event_viewer(const struct run *r, const struct esc_history *h, struct esc_viewer *v)
{
	esc_viewer_init(v, ESC_ACTOR_OPERATOR, NULL);
	v->for_event = true;
	v->history_next = h; /* written with the event, after this view */
	for (int i = 0; r->have_parties && i < 2; i++)
		esc_viewer_know_name(v, &r->parties[i]);
	for (size_t i = 0; i < r->reps_n; i++)
		esc_viewer_know_name(v, &r->reps[i].u);
	if (r->have_buyer_counts)
		esc_viewer_know_name(v, &r->buyer);
	if (!r->have_order) {
		v->new_order = true;
		v->items = r->args.items;
		v->items_count = r->args.items_count;
	}
}

/* An event whose data.object is the order (not a refund's or a
 * dispute's event). */
static bool event_shows_order(const struct run *r)
{
	return strncmp(r->fx->outbox_type, "refund.", 7) &&
	       strncmp(r->fx->outbox_type, "dispute.", 8);
}

/* The text data_text would write for an order's event (r->object as
 * event_object makes it), written without the tree: making, writing and
 * freeing it took ~15 % of the daemon's CPU under POST /v1/orders and the
 * flow's commands (issue 15). Into r->text, with r->actions_at; 0 with
 * r->text NULL when a string is not UTF-8 or memory ran out: the tree is
 * made then, as before. */
#define EVENT_OBJECT_AT (sizeof "{\"object\":" - 1)
static int event_text(struct esc_engine *e, struct run *r, const struct esc_history *h, json_t *why,
		      json_t *fee)
{
	struct esc_viewer v;
	struct esc_json_out out;
	size_t at = 0;
	if (esc_json_out_init(&out, 4096))
		return 0;
	event_viewer(r, h, &v);
	ESC_JSON_OUT_LIT(&out, "{\"object\":");
	/* No reply is being built: it writes the whole object. */
	bool written = esc_view_order_text(e, e->store, &v, &r->fx->order, &out, &at);
	ESC_ASSERT(written, "an event's object taken for a reply's");
	ESC_JSON_OUT_LIT(&out, "}");
	if (why) {
		ESC_JSON_OUT_LIT(&out, ",\"explanation\":");
		esc_json_out_value(&out, why);
	}
	if (fee) {
		ESC_JSON_OUT_LIT(&out, ",\"fee_explanation\":");
		esc_json_out_value(&out, fee);
	}
	ESC_JSON_OUT_LIT(&out, "}");
	if (v.failed) {
		esc_json_out_release(&out);
		return v.failed;
	}
	r->text = esc_json_out_finish(&out, NULL);
	r->actions_at = at;
	return 0;
}

/* The event's data.object: what the operator's GET answers now, inside the
 * command's transaction: the refund (refund.*, as GET /v1/refunds lists
 * it), the dispute (dispute.*, as GET /v1/disputes/{id}), else the order
 * (GET /v1/orders/{id}). */
static int event_object(struct esc_engine *e, const struct run *r, const struct esc_history *h,
			json_t **out)
{
	const struct esc_effects *fx = r->fx;
	struct esc_viewer v;
	int rc = 0;

	*out = NULL;
	event_viewer(r, h, &v);
	if (!strncmp(fx->outbox_type, "refund.", 7)) {
		/* The refund as the command wrote it (every column, so the row
		 * reads back the same) or loaded it: read again only when it
		 * has neither. */
		struct esc_refund refund;
		if (fx->refund_new || fx->refund_changed)
			refund = fx->refund;
		else if (r->have_refund)
			refund = r->refund;
		else
			ESC_STORE(rc, e->store, refund_get, r->refund.id, &refund);
		if (!rc)
			*out = esc_view_refund(&refund);
	} else if (!strncmp(fx->outbox_type, "dispute.", 8)) {
		rc = esc_view_dispute_full(e, e->store, &v, &fx->order, out);
	} else {
		*out = esc_view_order(e, e->store, &v, &fx->order);
	}
	if (!rc && v.failed)
		rc = v.failed;
	if (!rc && !*out)
		rc = ESC_ENOMEM;
	if (rc) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

/* The user named on a new order must exist in that role (a missing id is
 * the core's to refuse). */
static int expect_user(struct esc_engine *e, const char *id, enum esc_actor role,
		       struct esc_user *u, struct esc_result *res)
{
	int rc = id ? get_user(e->store, id, u) : 0;
	if (!rc && id && u->role != role)
		rc = ESC_ENOTFOUND;
	if (rc == ESC_ENOTFOUND)
		snprintf(res->message, sizeof res->message, "no %s with id %.60s",
			 esc_actor_name(role), id);
	return rc;
}

/* Load the order the command names (create: give the new one its id), and
 * check the deadline row and If-Match against it. */
static int load_order(struct esc_engine *e, struct run *r, struct esc_result *res)
{
	(void)e;
	const struct esc_command *cmd = r->cmd;
	int rc = 0;

	if (cmd->event == ESC_EV_CREATE) {
		esc_id_new(r->order_id, "ord_", r->ctx.now_ms);
		r->args.order_id = r->order_id;
		return 0;
	}
	if (!cmd->order_id)
		return ESC_ENOTFOUND;
	ESC_STORE(rc, r->store, order_get, cmd->order_id, &r->order);
	r->stale = rc == ESC_ENOTFOUND && cmd->deadline;
	if (rc)
		return rc;
	esc_order_assert(&r->order, "as read from the store");
	r->have_order = true;
	res->has_order = true;
	res->order = r->order;

	if (cmd->deadline && cmd->deadline->kind < ESC_DL_ORDER_COUNT &&
	    r->order.due_ms[cmd->deadline->kind] != cmd->deadline->due_ms) {
		r->stale = true;
		return 0;
	}
	if (cmd->if_match && r->order.version != cmd->if_match) {
		/* Another party's order stays unknown to them. */
		const char *party = cmd->actor == ESC_ACTOR_BUYER    ? r->order.buyer_id
				    : cmd->actor == ESC_ACTOR_SELLER ? r->order.seller_id
								     : NULL;
		bool mine = !party || (cmd->actor_id && !strcmp(cmd->actor_id, party));
		if (!mine)
			res->has_order = false;
		return mine ? ESC_EPRECONDITION : ESC_ENOTFOUND;
	}
	return 0;
}

/* What the core needs beyond the order, as the table of events says for
 * this event, actor and order (esc_event_loads). */
static int load_needs(struct esc_engine *e, struct run *r, struct esc_result *res)
{
	const struct esc_command *cmd = r->cmd;
	struct esc_store *s = r->store;
	const struct esc_order *o = r->have_order ? &r->order : NULL;
	unsigned loads = esc_event_loads(cmd->event, cmd->actor, cmd->actor_id, o, &r->args);
	int rc = 0;

	if (loads & ESC_LOAD_PARTIES) {
		rc = expect_user(e, r->args.buyer_id, ESC_ACTOR_BUYER, &r->parties[0], res);
		if (!rc)
			rc = expect_user(e, r->args.seller_id, ESC_ACTOR_SELLER, &r->parties[1],
					 res);
		if (rc)
			return rc;
		r->have_parties = r->args.buyer_id && r->args.seller_id;
	}
	if (loads & ESC_LOAD_BUYER_LEVEL) {
		struct esc_buyer_rep rep;
		rc = get_user(s, o->buyer_id, &r->buyer);
		if (!rc)
			rc = load_counts(e, s, &r->buyer, r->ctx.now_ms, &r->buyer_counts);
		if (rc)
			return rc;
		r->have_buyer_counts = true;
		buyer_level_of(e, &r->buyer, &r->buyer_counts, r->ctx.now_ms, &rep);
		r->ctx.buyer_level = rep.level;
		res->buyer_level = rep.level;
	}
	if (loads & ESC_LOAD_BALANCE) {
		char account[ESC_ACCOUNT_SIZE];
		esc_account_buyer(account, o->buyer_id);
		ESC_STORE(rc, s, balance_get, account, o->currency, &r->args.buyer_balance_minor);
		if (rc)
			return rc;
	}
	if (loads & ESC_LOAD_REFUND) {
		const char *rid = cmd->deadline ? cmd->deadline->ref : r->args.refund_id;
		rc = rid ? 0 : ESC_ENOTFOUND;
		if (!rc)
			ESC_STORE(rc, s, refund_get, rid, &r->refund);
		r->stale = rc == ESC_ENOTFOUND && cmd->deadline;
		if (rc)
			return rc;
		r->have_refund = true;
		if (cmd->deadline && r->refund.alert_due_ms != cmd->deadline->due_ms) {
			r->stale = true;
			return 0;
		}
	}
	/* An arbiter's decision keeps the recommendation it was made beside,
	 * read as the arbiter's view reads it (GET /v1/disputes/{id}). */
	if (loads & ESC_LOAD_DISPUTE_FACTS) {
		rc = esc_engine_dispute_facts_held(e, s, o, &r->facts);
		if (rc)
			return rc;
		r->ctx.dispute_facts = &r->facts;
	}
	return 0;
}

/* The core decides. A refusal says why in res; on a deadline row, it
 * makes the row stale: a row that cannot fire is dropped. */
static int decide(struct run *r, struct esc_result *res)
{
	int rc = esc_decide(&r->ctx, r->have_order ? &r->order : NULL, r->cmd->event, &r->args,
			    r->have_refund ? &r->refund : NULL, r->fx);
	if (rc) {
		snprintf(res->message, sizeof res->message, "%s", r->fx->refusal_message);
		snprintf(res->hint, sizeof res->hint, "%s", r->fx->refusal_hint);
		res->refusal_rule = r->fx->refusal_rule;
		r->stale = r->cmd->deadline != NULL;
	}
	return rc;
}

/* Persist what the core decided: the order, then everything that hangs
 * off it (transfers, the refund, deadline changes, the message the event
 * carries); the reputation marks are marks_write's. */
static int persist(struct esc_engine *e, const struct run *r)
{
	struct esc_store *s = e->store;
	const struct esc_effects *fx = r->fx;
	int64_t now = r->ctx.now_ms;
	int rc;

	if (r->have_order)
		ESC_STORE(rc, s, order_update, &fx->order, r->order.version);
	else
		ESC_STORE(rc, s, order_insert, &fx->order, r->args.items, r->args.items_count);
	if (!rc && fx->transfers_count)
		ESC_STORE(rc, s, transfers_append, fx->transfers, fx->transfers_count, now);
	if (!rc && fx->refund_new)
		ESC_STORE(rc, s, refund_insert, &fx->refund);
	else if (!rc && fx->refund_changed)
		ESC_STORE(rc, s, refund_update, &fx->refund);
	for (size_t i = 0; !rc && i < fx->deadlines_count; i++)
		ESC_STORE(rc, s, deadline_apply, fx->order.id, &fx->deadlines[i]);
	if (!rc && fx->message_new) {
		/* As if its author had posted it: one conversation per order. */
		struct esc_message m = {.at_ms = now, .role = fx->message.role};
		snprintf(m.order_id, sizeof m.order_id, "%s", fx->order.id);
		snprintf(m.author_id, sizeof m.author_id, "%s", fx->message.author_id);
		snprintf(m.body, sizeof m.body, "%s", fx->message.body);
		ESC_STORE(rc, s, message_append, &m);
	}
	return rc;
}

/* An outbox row: the event of type (webhook/feed.h), with its data. */
static int outbox_write(struct esc_store *s, const char *type, const char *order_id,
			int64_t version, int64_t at_ms, const char *data)
{
	struct esc_outbox_row row = {.at_ms = at_ms, .version = version, .payload = data};
	int rc;
	snprintf(row.type, sizeof row.type, "%s", type);
	snprintf(row.order_id, sizeof row.order_id, "%s", order_id);
	ESC_STORE(rc, s, outbox_append, &row);
	return rc;
}

/* Reputation events (issue 14): a buyer's level or a seller's score that
 * a command's marks changed. Only a command that marks someone computes
 * anything: most mark no one. */

/* The level or score that counts give u at now. */
static int rep_value(struct esc_engine *e, const struct esc_user *u,
		     const struct esc_rep_counts *counts, int64_t now)
{
	struct esc_buyer_rep b;
	struct esc_seller_rep sr;
	if (u->role == ESC_ACTOR_BUYER) {
		buyer_level_of(e, u, counts, now, &b);
		return (int)b.level;
	}
	esc_seller_reputation(&e->policy, counts, &sr);
	return (int)sr.score;
}

/* The marked buyers' and sellers' counts and values before the command's
 * marks: one count of each user's marks per command (a buyer's that the
 * core's level needed is not counted again). */
static int reps_before(struct esc_engine *e, const struct run *r, struct rep_before *out, size_t *n)
{
	const struct esc_effects *fx = r->fx;
	int64_t now = r->ctx.now_ms;
	int rc = 0;
	*n = 0;
	for (size_t i = 0; !rc && i < fx->marks_count; i++) {
		const char *id = fx->marks[i].user_id;
		struct rep_before *b = &out[*n];
		bool seen = false;
		for (size_t j = 0; j < *n; j++)
			seen = seen || !strcmp(out[j].u.id, id);
		if (seen)
			continue;
		if (r->have_buyer_counts && !strcmp(r->buyer.id, id)) {
			b->u = r->buyer;
			b->counts = r->buyer_counts;
		} else {
			rc = get_user(e->store, id, &b->u);
			if (rc || (b->u.role != ESC_ACTOR_BUYER && b->u.role != ESC_ACTOR_SELLER))
				continue;
			if (b->u.role == ESC_ACTOR_BUYER)
				rc = load_counts(e, e->store, &b->u, now, &b->counts);
			else
				rc = seller_counts(e, e->store, id, now, &b->counts);
			if (rc)
				continue;
		}
		b->value = rep_value(e, &b->u, &b->counts, now);
		(*n)++;
	}
	return rc;
}

/* The command's marks, at now; each one added counts in its user's
 * counts, as the store would count it: then the counts after the command
 * need no second count. (The same fact again is one mark, not added.) */
static int marks_write(struct esc_engine *e, const struct run *r, struct rep_before *reps, size_t n)
{
	const struct esc_effects *fx = r->fx;
	const struct esc_policy *p = &e->policy;
	int64_t now = r->ctx.now_ms;
	int rc = 0;
	for (size_t i = 0; !rc && i < fx->marks_count; i++) {
		const struct esc_mark_op *m = &fx->marks[i];
		bool added = false;
		ESC_STORE(rc, e->store, mark_append, m->user_id, m->mark, fx->order.id, now,
			  &added);
		for (size_t j = 0; !rc && added && j < n; j++) {
			if (strcmp(reps[j].u.id, m->user_id))
				continue;
			int64_t long_ms = reps[j].u.role == ESC_ACTOR_BUYER
						  ? p->buyer_long_window_ms
						  : p->seller_window_ms;
			/* mark_counts counts at_ms > now - window. */
			if (now > now - p->buyer_short_window_ms)
				reps[j].counts.short_[m->mark]++;
			if (now > now - long_ms)
				reps[j].counts.long_[m->mark]++;
			reps[j].counts.lifted_[m->mark]++; /* read after a lift only */
		}
	}
	return rc;
}

/* A reputation event's data: the user's reputation as GET
 * /v1/users/{id}/reputation answers, and what changed as it was. */
static int rep_data(struct esc_engine *e, struct esc_store *s, const struct esc_user *u,
		    int previous, char **data)
{
	struct esc_viewer v;
	json_t *object = NULL;
	esc_viewer_init(&v, ESC_ACTOR_OPERATOR, NULL);
	int rc = esc_view_reputation(e, s, &v, u, &object);
	if (!rc && v.failed)
		rc = v.failed;
	if (rc) {
		json_decref(object);
		return rc;
	}
	json_t *prev = u->role == ESC_ACTOR_BUYER
			       ? json_pack("{s:s}", "level",
					   esc_level_name((enum esc_buyer_level)previous))
			       : json_pack("{s:i}", "score", previous);
	return data_text(object, prev, NULL, NULL, data);
}

/* After the command's own event: one for each marked user whose level or
 * score its marks changed. */
static int reps_after(struct esc_engine *e, const struct run *r, const struct rep_before *before,
		      size_t n)
{
	const struct esc_effects *fx = r->fx;
	int rc = 0;
	for (size_t i = 0; !rc && !e->no_events && i < n; i++) {
		const struct esc_user *u = &before[i].u;
		bool buyer = u->role == ESC_ACTOR_BUYER;
		char *data = NULL;
		int after = rep_value(e, u, &before[i].counts, r->ctx.now_ms);
		if (after == before[i].value)
			continue;
		rc = rep_data(e, e->store, u, before[i].value, &data);
		if (!rc)
			rc = outbox_write(e->store,
					  buyer ? ESC_TYPE_BUYER_LEVEL_CHANGED
						: ESC_TYPE_SELLER_SCORE_CHANGED,
					  fx->order.id, fx->order.version, r->ctx.now_ms, data);
		free(data);
	}
	return rc;
}

/* The history line's detail with "explanation": why beside its fields. */
static int add_explanation(char *detail, size_t size, json_t *why)
{
	char *text = json_is_null(why) ? NULL : json_dumps(why, JSON_COMPACT);
	size_t len = strlen(detail);
	if (json_is_null(why))
		return 0;
	if (!text)
		return ESC_ENOMEM;
	ESC_ASSERT(len >= 2 && detail[len - 1] == '}' &&
			   len + strlen(text) + sizeof ",\"explanation\":" < size,
		   "the explanation does not fit the history detail %s", detail);
	char *at = detail + len - 1;
	if (len > 2)
		*at++ = ',';
	at = stpcpy(at, "\"explanation\":");
	at = stpcpy(at, text);
	strcpy(at, "}");
	free(text);
	return 0;
}

/* The fee taken from money the command released to the seller (a
 * RuleExplanation of rule fee), or NULL when it released none. */
static json_t *fee_explanation(const struct run *r)
{
	const struct esc_effects *fx = r->fx;
	const struct esc_policy *p = r->ctx.policy;
	int64_t released = 0, fee = 0;
	bool release = false;
	for (size_t i = 0; i < fx->transfers_count; i++) {
		if (!strcmp(fx->transfers[i].kind, "release")) {
			release = true;
			released += fx->transfers[i].amount_minor;
		} else if (!strcmp(fx->transfers[i].kind, "fee")) {
			fee += fx->transfers[i].amount_minor;
		}
	}
	if (!release)
		return NULL;
	const char *currency = fx->order.currency;
	char pct[32], amount[48], paid[48];
	esc_rule_percent(p->fee_basis_points, ESC_LANG_EN, pct, sizeof pct);
	esc_rule_amount(fee, currency, ESC_LANG_EN, amount, sizeof amount);
	esc_rule_amount(released, currency, ESC_LANG_EN, paid, sizeof paid);
	const struct esc_rule_var vars[] = {
		{"percent", pct}, {"amount", amount}, {"released", paid}};
	json_t *j = esc_view_rule_explanation(ESC_RULE_FEE, fx->order.policy_version, true, 0, vars,
					      3, ESC_LANG_EN);
	if (!j)
		return NULL;
	json_object_set_new(j, "percent", json_real((double)p->fee_basis_points / 100.0));
	json_object_set_new(j, "amount", json_integer((json_int_t)fee));
	json_object_set_new(j, "released", json_integer((json_int_t)released));
	json_object_set_new(j, "currency", json_string(currency));
	return j;
}

/* The history line's detail with "key": value beside its fields, when it
 * fits: 0, ESC_EINVAL when it does not (detail unchanged), ESC_ENOMEM. */
static int add_field(char *detail, size_t size, const char *key, json_t *value)
{
	char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
	size_t len = strlen(detail);
	if (!text)
		return ESC_ENOMEM;
	if (len < 2 || detail[len - 1] != '}' ||
	    len + strlen(text) + strlen(key) + sizeof ",\"\":" >= size) {
		free(text);
		return ESC_EINVAL;
	}
	char *at = detail + len - 1;
	if (len > 2)
		*at++ = ',';
	at += sprintf(at, "\"%s\":%s}", key, text);
	free(text);
	return 0;
}

/* The command's event, with the order's history line in the same row
 * (outbox_append); sb is scratch. */
static int record(struct esc_engine *e, struct run *r, struct esc_strbuf *sb)
{
	const struct esc_command *cmd = r->cmd;
	const struct esc_effects *fx = r->fx;
	int64_t now = r->ctx.now_ms;
	struct esc_history h = {.version = fx->order.version,
				.at_ms = now,
				.actor = cmd->actor,
				.event = cmd->event,
				.from = r->have_order ? r->order.state : ESC_ST_NONE,
				.to = fx->order.state};
	int rc;

	if (e->no_events)
		return 0; /* no one reads this store's events or history */
	snprintf(h.order_id, sizeof h.order_id, "%s", fx->order.id);
	snprintf(h.actor_id, sizeof h.actor_id, "%s", cmd->actor_id ? cmd->actor_id : "");
	snprintf(h.type, sizeof h.type, "%s", fx->outbox_type);
	rc = detail_json(r, sb);
	/* The detail is sized for what the guards allow: every text at most
	 * doubles when escaped. Only running out of memory may fail it. */
	ESC_ASSERT(rc != ESC_EINVAL, "the history detail of %s on %s outgrew %zu bytes",
		   esc_event_name(cmd->event), fx->order.id, sizeof h.detail - 1);
	if (rc)
		return rc;
	snprintf(h.detail, sizeof h.detail, "%s", esc_strbuf_str(sb));

	/* The system's event explains itself (issue 16 item 2): the rule
	 * whose deadline passed and the numbers of what it did, in the
	 * history line and the event's data alike. */
	json_t *why = NULL;
	if (cmd->actor == ESC_ACTOR_SYSTEM && cmd->deadline) {
		struct esc_explanation x;
		esc_explain_deadline(r->ctx.policy, &r->order, cmd->deadline->kind,
				     cmd->deadline->due_ms, r->have_refund ? &r->refund : NULL, fx,
				     &x);
		why = esc_view_explanation(&x, true, ESC_LANG_EN);
		rc = why ? add_explanation(h.detail, sizeof h.detail, why) : ESC_ENOMEM;
		if (rc)
			return rc;
	}

	/* Money released to the seller names the fee taken from it (rule
	 * fee), in the event's data and, where it fits beside the longest
	 * texts the guards allow, in the history line. */
	json_t *fee = fee_explanation(r);
	if (fee) {
		rc = add_field(h.detail, sizeof h.detail, "fee_explanation", fee);
		if (rc == ESC_ENOMEM) {
			json_decref(why);
			json_decref(fee);
			return rc;
		}
		rc = 0;
	}

	char *data = NULL;
	rc = event_shows_order(r) ? event_text(e, r, &h, why, fee) : 0;
	if (rc || r->text) {
		json_decref(why);
		json_decref(fee);
	} else {
		rc = event_object(e, r, &h, &r->object);
		if (!rc) {
			rc = data_text(json_incref(r->object), NULL, why, fee, &data);
		} else {
			json_decref(why);
			json_decref(fee);
		}
	}
	if (rc)
		return rc;
	/* One row: the event, carrying the history line. */
	struct esc_outbox_row row = {.at_ms = now,
				     .version = h.version,
				     .payload = r->text ? r->text : data,
				     .history = &h};
	snprintf(row.type, sizeof row.type, "%s", h.type);
	snprintf(row.order_id, sizeof row.order_id, "%s", h.order_id);
	ESC_STORE(rc, e->store, outbox_append, &row);
	free(data);
	return rc;
}

/* The result, and the issuer's answer kept with the command. */
static int answer(struct esc_engine *e, const struct run *r, struct esc_result *res)
{
	const struct esc_command *cmd = r->cmd;
	int rc = 0;

	res->has_order = true;
	res->order = r->fx->order;
	res->has_refund = r->fx->refund_new || r->fx->refund_changed;
	if (res->has_refund)
		res->refund = r->fx->refund;
	if (!cmd->reply)
		return 0;
	e->reply_object = r->object;
	e->reply_text = r->text ? r->text + EVENT_OBJECT_AT : NULL;
	e->reply_text_len = r->text ? r->actions_at - EVENT_OBJECT_AT : 0;
	e->reply_order = &r->fx->order;
	rc = cmd->reply->build(cmd->reply->arg, e, e->store, res);
	e->reply_object = NULL;
	e->reply_text = NULL;
	e->reply_order = NULL;
	if (!rc && cmd->reply->record)
		ESC_STORE(rc, e->store, idempotency_put, cmd->reply->record);
	if (rc == ESC_EDUPLICATE)
		snprintf(res->message, sizeof res->message,
			 "the Idempotency-Key was answered meanwhile");
	return rc;
}

json_t *esc_engine_reply_object(struct esc_engine *e, struct esc_store *s,
				const struct esc_order *o)
{
	/* Another connection is never the writer's command: its reader
	 * reads nothing the writer writes here. */
	if (s != e->store || !e->reply_object || !e->reply_order)
		return NULL;
	if (strcmp(o->id, e->reply_order->id) || o->version != e->reply_order->version)
		return NULL;
	return e->reply_object;
}

bool esc_engine_reply_text(struct esc_engine *e, struct esc_store *s, const struct esc_order *o,
			   const char **text, size_t *len)
{
	/* As esc_engine_reply_object. */
	if (s != e->store || !e->reply_text || !e->reply_order)
		return false;
	if (strcmp(o->id, e->reply_order->id) || o->version != e->reply_order->version)
		return false;
	*text = e->reply_text;
	*len = e->reply_text_len;
	return true;
}

/* A queue row that no longer matches its order or refund: drop it, so it
 * never fires; refusal (0: ESC_ESTATE) is the command's result. Nothing
 * else changes. */
static int drop_stale(struct esc_engine *e, const struct esc_command *cmd, int refusal,
		      struct esc_result *res)
{
	struct esc_deadline_op op = {
		.set = false, .kind = cmd->deadline->kind, .due_ms = cmd->deadline->due_ms};
	int rc;
	snprintf(op.ref, sizeof op.ref, "%s", cmd->deadline->ref);
	ESC_STORE(rc, e->store, deadline_apply, cmd->deadline->order_id, &op);
	if (!rc) {
		res->rc = refusal ? refusal : ESC_ESTATE;
		if (!res->message[0])
			snprintf(res->message, sizeof res->message,
				 "the deadline no longer applies");
	}
	return rc;
}

/* One command, inside the caller's transaction (and savepoint, when the
 * batch is guarded: exec_one): load what the core needs,
 * let it decide, persist its effects, record the history and outbox rows,
 * answer. Returns 0 when there is something to keep (res->rc may still be
 * a refusal for a deadline row that was dropped), or the refusal or
 * failure, when what it wrote must be undone. */
static int run_one(struct esc_engine *e, const struct esc_command *cmd, struct esc_result *res)
{
	struct run r = {.cmd = cmd,
			.args = cmd->args,
			.store = e->store,
			.ctx = {.policy = &e->policy,
				.now_ms = cmd->at_ms        ? cmd->at_ms
					  : e->batch_now_ms ? e->batch_now_ms
							    : esc_clock_now(&e->clock),
				.actor = cmd->actor,
				.actor_id = cmd->actor_id,
				.buyer_level = ESC_LEVEL_GOOD}};
	struct esc_strbuf sb;
	struct rep_before reps[ESC_EFFECT_MARKS_MAX];
	size_t reps_n = 0;
	int rc = 0;

	esc_strbuf_init(&sb, sizeof((struct esc_history *)0)->detail - 1);
	if (!e->fx)
		e->fx = malloc(sizeof *e->fx);
	r.fx = e->fx;
	if (!r.fx)
		rc = ESC_ENOMEM;
	if (!rc)
		rc = load_order(e, &r, res);
	/* An order decides by the policy it was created under (issue 16). */
	if (!rc && !r.stale && r.have_order)
		rc = esc_engine_order_policy(e, e->store, &r.order, &r.ctx.policy);
	else if (!rc && !r.have_order && cmd->policy_version)
		rc = esc_engine_policy_of(e, e->store, cmd->policy_version, &r.ctx.policy);
	if (!rc && !r.stale)
		rc = load_needs(e, &r, res);
	if (!rc && !r.stale)
		rc = decide(&r, res);
	if (!rc && !r.stale && !r.have_order)
		r.fx->order.policy_version =
			cmd->policy_version ? cmd->policy_version : e->policy_version;
	if (r.stale) {
		rc = drop_stale(e, cmd, rc, res);
		goto out;
	}
	if (!rc)
		rc = reps_before(e, &r, reps, &reps_n);
	r.reps = reps;
	r.reps_n = reps_n;
	if (!rc)
		rc = persist(e, &r);
	if (!rc)
		rc = marks_write(e, &r, reps, reps_n);
	if (!rc)
		rc = record(e, &r, &sb);
	if (!rc)
		rc = reps_after(e, &r, reps, reps_n);
	if (!rc)
		rc = answer(e, &r, res);
out:
	if (rc == ESC_ENOTFOUND)
		res->has_order = false; /* another party's order stays unknown */
	if (rc && !res->message[0])
		snprintf(res->message, sizeof res->message, "%s", esc_error_message(rc));
	esc_strbuf_release(&sb);
	json_decref(r.object);
	free(r.text);
	return rc;
}

/* The cancellation preview (issue 16 item 3): see engine.h. */
int esc_engine_preview_cancel(struct esc_engine *e, struct esc_store *s,
			      const struct esc_command *cmd, struct esc_cancel_preview *out)
{
	struct run r = {.cmd = cmd,
			.args = cmd->args,
			.store = s,
			.ctx = {.policy = &e->policy,
				.now_ms = esc_engine_now(e),
				.actor = cmd->actor,
				.actor_id = cmd->actor_id,
				.buyer_level = ESC_LEVEL_GOOD}};
	struct esc_result *res = calloc(1, sizeof *res);
	struct esc_effects *accept = malloc(sizeof *accept);
	const struct esc_effects *final;
	struct esc_rep_counts counts;
	struct esc_buyer_rep rep;
	int64_t now = r.ctx.now_ms, at[2] = {0, 0};
	int rc = 0;

	memset(out, 0, sizeof *out);
	out->response.rule = -1;
	r.fx = malloc(sizeof *r.fx);
	if (!r.fx || !res || !accept)
		rc = ESC_ENOMEM;
	if (!rc)
		rc = load_order(e, &r, res);
	if (!rc && r.have_order)
		rc = esc_engine_order_policy(e, s, &r.order, &r.ctx.policy);
	if (!rc)
		rc = load_needs(e, &r, res);
	if (!rc)
		rc = decide(&r, res);
	out->rc = rc;
	snprintf(out->message, sizeof out->message, "%s",
		 res && res->message[0] ? res->message : esc_error_message(rc));
	snprintf(out->hint, sizeof out->hint, "%s", res ? res->hint : "");
	if (res && res->has_order)
		out->order = res->order;
	if (rc)
		goto done;
	out->order = r.fx->order;
	out->policy_version = r.order.policy_version;
	final = r.fx;
	/* A request: what its acceptance does, which the response window's
	 * passing does too (the seller's answer, decided as the core would
	 * now). */
	if (r.fx->order.state == ESC_ST_CANCELLATION_REQUESTED) {
		struct esc_context seller = r.ctx;
		struct esc_args none = {.method = -1, .refund_to = -1};
		seller.actor = ESC_ACTOR_SELLER;
		seller.actor_id = r.order.seller_id;
		rc = esc_decide(&seller, &r.fx->order, ESC_EV_ACCEPT_CANCELLATION, &none, NULL,
				accept);
		ESC_ASSERT(rc == 0, "a cancellation request on %s cannot be accepted: %s",
			   r.order.id, accept->refusal_message);
		final = accept;
		esc_explain_deadline(r.ctx.policy, &r.fx->order, ESC_DL_RESPONSE,
				     r.fx->order.due_ms[ESC_DL_RESPONSE], NULL, NULL,
				     &out->response);
		out->response.policy_version = r.order.policy_version;
	} else {
		out->immediate = true;
	}
	out->has_refund = final->refund_new;
	if (out->has_refund)
		out->refund = final->refund;
	const struct esc_reason *why = r.args.reason && *r.args.reason
					       ? esc_policy_reason(r.ctx.policy, r.args.reason)
					       : NULL;
	out->fault = why ? (why->fault == ESC_FAULT_SELLER ? "seller" : "buyer") : NULL;
	/* The buyer's level and budget after: their counts with the marks
	 * the cancellation adds. */
	if (!r.have_buyer_counts) {
		rc = get_user(s, r.order.buyer_id, &r.buyer);
		if (!rc)
			rc = load_counts(e, s, &r.buyer, now, &r.buyer_counts);
	}
	if (!rc)
		ESC_STORE(rc, s, mark_oldest, r.buyer.id, ESC_MARK_BUYER_CANCELLED,
			  now - e->policy.buyer_short_window_ms, &at[0]);
	if (!rc)
		ESC_STORE(rc, s, mark_oldest, r.buyer.id, ESC_MARK_BUYER_CANCELLED,
			  now - e->policy.buyer_long_window_ms, &at[1]);
	if (rc) {
		out->rc = rc;
		snprintf(out->message, sizeof out->message, "%s", esc_error_message(rc));
		goto done;
	}
	counts = r.buyer_counts;
	buyer_level_of(e, &r.buyer, &counts, now, &rep);
	out->level_before = rep.level;
	int64_t times[3];
	size_t n = 0;
	for (size_t i = 0; i < 2; i++)
		if (at[i])
			times[n++] = at[i];
	for (size_t i = 0; i < final->marks_count; i++) {
		const struct esc_mark_op *m = &final->marks[i];
		if (strcmp(m->user_id, r.buyer.id))
			continue;
		counts.short_[m->mark]++;
		counts.long_[m->mark]++;
		counts.lifted_[m->mark]++;
		if (m->mark == ESC_MARK_BUYER_CANCELLED)
			times[n++] = now;
	}
	buyer_level_of(e, &r.buyer, &counts, now, &rep);
	out->level_after = rep.level;
	esc_cancel_budget(&e->policy, &counts, suspension_lifted(e, &r.buyer, now), times, n, now,
			  &out->budget_after);
done:
	free(r.fx);
	free(accept);
	free(res);
	return out->rc;
}

static void result_reset(struct esc_result *r)
{
	memset(r, 0, sizeof *r);
}

/* The transaction is gone: what had succeeded fails with rc. Refusals
 * stand, as they wrote nothing either way. */
/* A store's failure of a whole batch, to the log with what the backend
 * said (before a rollback replaces it): the answers say only "the store is
 * unavailable", which tells the operator nothing. Losing a race is not a
 * failure. */
static void log_failure(struct esc_store *s, int rc, const char *what, size_t n)
{
	if (rc == ESC_ERETRY)
		return;
	const char *said = esc_store_last_error(s);
	char msg[160];
	snprintf(msg, sizeof msg, "store failure at %s (%zu command%s undone)", what, n,
		 n == 1 ? "" : "s");
	esc_log(ESC_LOG_ERROR, msg, ESC_LOG_STR("at", what), ESC_LOG_INT("commands_undone", n),
		ESC_LOG_STR("error", esc_error_message(rc)),
		ESC_LOG_STR("store_said", said[0] ? said : NULL));
}

static void fail_all(size_t n, struct esc_result *res, int rc)
{
	for (size_t i = 0; i < n; i++) {
		if (res[i].rc == 0) {
			res[i].rc = rc;
			res[i].has_refund = false;
			snprintf(res[i].message, sizeof res[i].message, "%s",
				 esc_error_message(rc));
		}
	}
}

/* One command of a batch in its savepoint (guarded), or with none when
 * the store counts its changes (esc_store_changes): a command that fails
 * having changed nothing needs no undo, and one that fails after a write
 * returns REDO_GUARDED, for the batch to be run again guarded.
 * Returns 0, or a failure that dooms the whole transaction (which the
 * caller rolls back). *refused counts the commands refused. */
#define REDO_GUARDED 1 /* not an ESC_E* code: those are negative */
static int exec_one(struct esc_engine *e, const struct esc_command *cmd, struct esc_result *res,
		    bool guarded, size_t n, size_t *refused)
{
	struct esc_store *s = e->store;
	int64_t before = guarded ? 0 : esc_store_changes(s);
	int rc = 0, undo;

	/* The backend rolled the transaction back by itself (a full disk, an
	 * I/O error, memory): nothing may run on outside it. ESC_EBUSY, as a
	 * savepoint refused then: 503, the batch may well pass later. */
	if (!guarded && before < 0)
		return ESC_EBUSY;
	if (guarded) {
		ESC_STORE0(rc, s, savepoint);
		if (rc) {
			res->rc = rc;
			snprintf(res->message, sizeof res->message, "%s", esc_error_message(rc));
			return 0;
		}
	}
	int one = run_one(e, cmd, res);
	if (one == ESC_ERETRY)
		return one;
	if (one) {
		res->rc = one;
		if (esc_error_status(one) >= 500)
			log_failure(s, one, "a command's statement", 1);
		if (guarded) {
			ESC_STORE0(undo, s, savepoint_rollback);
		} else {
			int64_t after = esc_store_changes(s);
			/* The transaction is gone (the backend rolled it back):
			 * nothing can go on in it. */
			undo = after < 0 ? ESC_EBUSY : after != before ? REDO_GUARDED : 0;
		}
		if (undo == REDO_GUARDED)
			return undo;
		if (undo) {
			/* Cannot undo one command: undo them all. */
			log_failure(s, undo, guarded ? "savepoint rollback" : "transaction lost",
				    n);
			return undo;
		}
		(*refused)++;
		return 0;
	}
	if (guarded) {
		ESC_STORE0(rc, s, savepoint_release);
		if (rc) {
			log_failure(s, rc, "savepoint release", n);
			return rc;
		}
	} else if (esc_store_changes(s) < 0) {
		/* Lost while the command ran (a read whose failure it let
		 * pass): what it wrote is gone with it. */
		log_failure(s, ESC_EBUSY, "transaction lost", n);
		return ESC_EBUSY;
	}
	if (res->rc != 0)
		(*refused)++;
	return 0;
}

/* Ask the store to read together what the batch's commands will read
 * one by one (read_ahead): their orders and refunds, a new order's
 * parties, the counters of the parties at the windows' starts at now, as
 * load_counts and seller_counts ask for them, and the messages a party
 * acting has not read. */
static int read_ahead(struct esc_engine *e, const struct esc_command *cmds, size_t n,
		      const bool *skip, int64_t now)
{
	struct esc_store *s = e->store;
	const struct esc_policy *p = &e->policy;
	const char **ids = NULL;
	struct esc_read_ahead ra = {
		.buyer_since_ms = {now - p->buyer_short_window_ms, now - p->buyer_long_window_ms},
		.seller_since_ms = {now - p->buyer_short_window_ms, now - p->seller_window_ms},
		.at_ms = now};
	int rc = 0;

	if (!s->ops->read_ahead)
		return 0;
	ids = malloc(6 * n * sizeof *ids);
	if (!ids)
		return ESC_ENOMEM;
	ra.order_ids = ids;
	ra.user_ids = ids + n;
	ra.refund_ids = ids + 3 * n;
	ra.unread_order_ids = ids + 4 * n;
	ra.unread_user_ids = ids + 5 * n;
	for (size_t i = 0; i < n; i++) {
		const struct esc_command *c = &cmds[i];
		if (skip && skip[i])
			continue;
		if (c->order_id)
			ids[ra.orders_count++] = c->order_id;
		/* A party's answer says how many messages they have not read
		 * (the HTTP layer's reply). */
		if (c->order_id && c->actor_id &&
		    (c->actor == ESC_ACTOR_BUYER || c->actor == ESC_ACTOR_SELLER)) {
			ids[4 * n + ra.unread_count] = c->order_id;
			ids[5 * n + ra.unread_count++] = c->actor_id;
		}
		if (c->event == ESC_EV_CREATE) {
			if (c->args.buyer_id)
				ids[n + ra.users_count++] = c->args.buyer_id;
			if (c->args.seller_id)
				ids[n + ra.users_count++] = c->args.seller_id;
		}
		const char *refund = c->deadline ? c->deadline->ref : c->args.refund_id;
		if (refund && refund[0])
			ids[3 * n + ra.refunds_count++] = refund;
	}
	ESC_STORE(rc, s, read_ahead, &ra);
	free(ids);
	return rc;
}

/* One attempt at a batch. A command that meets a concurrent transaction
 * (ESC_ERETRY: PostgreSQL's serialization failure or deadlock) dooms the
 * whole transaction: it is rolled back and every command fails with
 * ESC_ERETRY, for the caller to run the batch again.
 *
 * Commands run without savepoints when the store counts its changes
 * (SQLite): a refusal writes nothing, so there is nothing to undo. When a
 * command fails after a write, the transaction is rolled back and the
 * batch runs again at once with a savepoint around each command, that
 * command left out with the failure it met: the same outcome as if it had
 * been guarded from the start. skip (NULL: none) marks the commands left
 * out, whose results stand. */
static int exec_batch_once(struct esc_engine *e, const struct esc_command *cmds, size_t n,
			   struct esc_result *res, const bool *skip)
{
	struct esc_store *s = e->store;
	bool guarded = skip || esc_store_changes(s) == -2;
	int rc = 0, undo;
	size_t refused = 0;

	for (size_t i = 0; i < n; i++)
		if (!skip || !skip[i])
			result_reset(&res[i]);
	ESC_STORE0(rc, s, begin);
	if (rc) {
		log_failure(s, rc, "begin", n);
		fail_all(n, res, rc);
		goto out;
	}
	rc = esc_engine_clock_sync(e, s);
	e->batch_now_ms = esc_clock_now(&e->clock);
	if (!rc)
		rc = read_ahead(e, cmds, n, skip, e->batch_now_ms);
	if (rc) {
		log_failure(s, rc, "read ahead", n);
		ESC_STORE0(undo, s, rollback);
		(void)undo;
		fail_all(n, res, rc);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (skip && skip[i]) {
			refused++;
			continue;
		}
		rc = exec_one(e, &cmds[i], &res[i], guarded, n, &refused);
		if (rc == REDO_GUARDED) {
			ESC_STORE0(undo, s, rollback);
			(void)undo;
			counter_add(&e->batch_reruns, 1);
			bool *left = calloc(n, sizeof *left);
			if (!left) {
				rc = ESC_ENOMEM;
				fail_all(n, res, rc);
				goto out;
			}
			left[i] = true;
			rc = exec_batch_once(e, cmds, n, res, left);
			free(left);
			return rc;
		}
		if (rc == ESC_ERETRY) {
			ESC_STORE0(undo, s, rollback);
			(void)undo;
			fail_all(n, res, rc);
			res[i].rc = rc;
			goto out;
		}
		if (rc) {
			ESC_STORE0(undo, s, rollback);
			(void)undo;
			fail_all(n, res, rc);
			goto out;
		}
	}
	ESC_STORE0(rc, s, commit);
	if (rc) {
		log_failure(s, rc, "commit", n);
		ESC_STORE0(undo, s, rollback);
		(void)undo;
		fail_all(n, res, rc);
		goto out;
	}
	counter_add(&e->commits, 1);
	committed(e);
	for (size_t i = 0; i < n; i++)
		if (res[i].rc == 0)
			counter_add(&e->events_ok[cmds[i].event], 1);
	counter_add(&e->commands_refused, (int64_t)refused);
out:
	e->batch_now_ms = 0;
	return rc;
}

/* Whether an attempt lost to a concurrent transaction. */
static bool lost_race(int rc, const struct esc_result *res, size_t n)
{
	if (rc == ESC_ERETRY)
		return true;
	for (size_t i = 0; i < n; i++)
		if (res[i].rc == ESC_ERETRY)
			return true;
	return false;
}

/* Already locked. Runs the batch again while it loses to concurrent
 * transactions; the core decides afresh on what each attempt reads, so a
 * retry is the same commands, not a replay of their effects. A batch of
 * several commands that lost runs again as two halves, each a transaction
 * of its own: the more a transaction reads and writes, the likelier it
 * meets another, and under SERIALIZABLE a big batch could lose every
 * time. One command runs again up to ESC_RETRY_MAX times in all. */
static int exec_batch(struct esc_engine *e, const struct esc_command *cmds, size_t n,
		      struct esc_result *res)
{
	int rc = 0;

	for (int attempt = 0;; attempt++) {
		rc = exec_batch_once(e, cmds, n, res, NULL);
		if (!lost_race(rc, res, n))
			break;
		counter_add(&e->retries, 1);
		if (n > 1) {
			size_t half = n / 2;
			int first = exec_batch(e, cmds, half, res);
			int second = exec_batch(e, cmds + half, n - half, res + half);
			return first ? first : second;
		}
		if (attempt + 1 >= ESC_RETRY_MAX)
			break;
		esc_backoff_sleep(attempt);
	}
	return rc;
}

int esc_engine_exec_batch(struct esc_engine *e, const struct esc_command *cmds, size_t n,
			  struct esc_result *res)
{
	pthread_mutex_lock(&e->lock);
	int rc = exec_batch(e, cmds, n, res);
	pthread_mutex_unlock(&e->lock);
	return rc;
}

/* ---- group commit: the writer thread ---- */

#define GROUP_MAX 256

/* Run n submissions as one batch and give each its result. Not under
 * queue_lock: the next commands queue meanwhile, while this commit's
 * fsync runs. */
static void writer_run(struct esc_engine *e, struct esc_submission **batch, size_t n)
{
	struct esc_command *cmds = e->group_cmds;
	struct esc_result *results = e->group_results;
	for (size_t i = 0; i < n; i++)
		cmds[i] = *batch[i]->cmd;
	esc_engine_exec_batch(e, cmds, n, results);
	/* Under load (writer_linger)? Read before the answers go out: a
	 * client answered may send its next command at once. */
	if (e->commit_delay_us) {
		pthread_mutex_lock(&e->queue_lock);
		e->writer_pressed = n > 1 || e->queue_head != NULL;
		pthread_mutex_unlock(&e->queue_lock);
	}
	for (size_t i = 0; i < n; i++) {
		/* done may free the submission: read it first. */
		void (*done)(void *arg) = batch[i]->done;
		void *arg = batch[i]->arg;
		*batch[i]->res = results[i];
		done(arg);
	}
}

/* What the store said of this thread's last failed transact or
 * fire_batch (esc_engine_store_said). */
#define ESC_STORE_SAID_SIZE 256
static _Thread_local char store_said[ESC_STORE_SAID_SIZE];

/* A call of esc_engine_fire_due, handed to the writer. */
struct fire_request {
	size_t max;
	size_t fired;
	int rc;
	bool done;
	char said[ESC_STORE_SAID_SIZE]; /* the writer's store_said after it */
};

static int fire_batch(struct esc_engine *e, size_t max, size_t *fired);

/* The writer: whatever is queued, up to GROUP_MAX commands, as one batch,
 * then one batch of deadlines if a worker asked for it; asleep while
 * nothing is. A worker that asks again at once is behind the commands
 * queued meanwhile: commands and deadlines take turns. Once told to stop,
 * it runs what is still queued, then ends. */
/* The documents given back so far, released; the caller holds
 * queue_lock, and holds it again on return. */
static void give_back_release(struct esc_engine *e)
{
	size_t n = e->give_back_count;
	if (!n)
		return;
	memcpy(e->give_back_taken, e->give_back, n * sizeof e->give_back[0]);
	e->give_back_count = 0;
	pthread_mutex_unlock(&e->queue_lock);
	for (size_t i = 0; i < n; i++)
		json_decref(e->give_back_taken[i]);
	pthread_mutex_lock(&e->queue_lock);
}

void esc_engine_json_release(struct esc_engine *e, json_t *j)
{
	if (!j)
		return;
	pthread_mutex_lock(&e->queue_lock);
	bool kept = e->writer_running && !e->writer_stop && e->give_back_count < GIVE_BACK_MAX;
	if (kept)
		e->give_back[e->give_back_count++] = j;
	pthread_mutex_unlock(&e->queue_lock);
	if (!kept)
		json_decref(j);
}

/* The commit delay. Each commit costs a sync of the WAL: a write and a
 * flush that the machine's disk carries whatever the commit holds. Under
 * a moderate load (POST /v1/orders at 6,000 a second, open loop) the
 * writer committed each command or two on its own, 2,600 syncs and 150 MB
 * of WAL a second, and the virtual machine was held still for 7-11 ms
 * about every 100 ms (its host's share of CPU and I/O spent): p99 11 ms
 * where p50 was 0.6 ms. Under load, the writer now takes a batch no
 * sooner than commit_delay_us (500) after it took the one before, unless
 * LINGER_MAX commands are waiting: 4 commands a commit at that load, p99
 * 5.3-10.3 ms in seven runs, p50 0.8-1.1 ms (none: 1.7-2.5 a commit,
 * p99 9.8-12.9 ms, p50 0.5-0.7; docs/ARCHITECTURE.md, "The commit
 * delay").
 *
 * Under load: the batch before held more than one command, or more were
 * queued when its commit ended, before its answers went out
 * (writer_pressed). A lone client sending one command after another is
 * never kept waiting, and clients that each wait for their answer are
 * not either once their turn takes longer than the delay (a commit, its
 * answer and the next request: about 0.5 ms here). Nor is anything once
 * the writer stops or a worker asks for deadlines to be fired. Called
 * and returning with queue_lock held. */
#define LINGER_MAX 8

static void writer_linger(struct esc_engine *e)
{
	if (!e->commit_delay_us || !e->writer_pressed || !e->queue_head ||
	    e->queue_len >= LINGER_MAX || e->writer_stop || e->fire_req)
		return;
	int64_t until_us = e->batch_taken_us + e->commit_delay_us;
	if (esc_time_monotonic_us() >= until_us)
		return;
	struct timespec until = esc_monotonic_deadline(until_us);
	e->writer_lingering = true;
	counter_add(&e->commit_delays, 1);
	while (e->queue_len < LINGER_MAX && !e->writer_stop && !e->fire_req) {
		/* writer_idle: a fire request or the stop wakes it too. */
		e->writer_idle = true;
		if (pthread_cond_timedwait(&e->queue_wake, &e->queue_lock, &until) == ETIMEDOUT)
			break;
	}
	e->writer_lingering = false;
	e->writer_idle = false;
}

/* The writer's own nice (esc_engine_options.writer_nice): Linux sets a
 * thread's with its id. Told to writer_start through fire_done. */
static void writer_renice(struct esc_engine *e)
{
	int error = 0;
	if (e->writer_nice && setpriority(PRIO_PROCESS, (id_t)gettid(), e->writer_nice))
		error = errno;
	pthread_mutex_lock(&e->queue_lock);
	if (error)
		e->writer_nice = 0;
	e->writer_nice_error = error;
	e->writer_nice_tried = true;
	pthread_cond_broadcast(&e->fire_done);
	pthread_mutex_unlock(&e->queue_lock);
}

static void *writer_main(void *arg)
{
	struct esc_engine *e = arg;
	struct esc_submission *batch[GROUP_MAX];
	writer_renice(e);
	/* The answers' trees come back here (esc_engine_json_release): room
	 * for a few batches' blocks. */
	esc_json_cache_limit(WRITER_JSON_CACHE_BYTES);
	pthread_mutex_lock(&e->queue_lock);
	for (;;) {
		while (!e->queue_head && !e->fire_req && !e->writer_stop) {
			e->writer_idle = true;
			pthread_cond_wait(&e->queue_wake, &e->queue_lock);
		}
		e->writer_idle = false;
		give_back_release(e);
		if (!e->queue_head && !e->fire_req)
			break;
		writer_linger(e);
		size_t n = 0;
		while (e->queue_head && n < GROUP_MAX) {
			batch[n++] = e->queue_head;
			e->queue_head = e->queue_head->next;
		}
		e->queue_len -= n;
		if (n && e->commit_delay_us)
			e->batch_taken_us = esc_time_monotonic_us();
		if (!e->queue_head)
			e->queue_tail = NULL;
		struct fire_request *fire = e->fire_req;
		pthread_mutex_unlock(&e->queue_lock);
		if (n)
			writer_run(e, batch, n);
		if (fire) {
			store_said[0] = '\0';
			fire->rc = fire_batch(e, fire->max, &fire->fired);
			snprintf(fire->said, sizeof fire->said, "%s", store_said);
		}
		pthread_mutex_lock(&e->queue_lock);
		if (fire) {
			e->fire_req = NULL;
			fire->done = true;
			pthread_cond_broadcast(&e->fire_done);
		}
	}
	pthread_mutex_unlock(&e->queue_lock);
	return NULL;
}

static int writer_start(struct esc_engine *e, char *err, size_t err_size)
{
	e->group_cmds = malloc(GROUP_MAX * sizeof *e->group_cmds);
	e->group_results = malloc(GROUP_MAX * sizeof *e->group_results);
	if (!e->group_cmds || !e->group_results) {
		esc_set_err(err, err_size, "no memory for the writer's batch");
		return ESC_ENOMEM;
	}
	if (pthread_create(&e->writer, NULL, writer_main, e)) {
		esc_set_err(err, err_size, "cannot start the writer thread");
		return ESC_ENOMEM;
	}
	e->writer_running = true;
	/* Its nice tried, so that esc_engine_writer_nice says how it went. */
	pthread_mutex_lock(&e->queue_lock);
	while (!e->writer_nice_tried)
		pthread_cond_wait(&e->fire_done, &e->queue_lock);
	pthread_mutex_unlock(&e->queue_lock);
	return 0;
}

int esc_engine_writer_nice(const struct esc_engine *e, int *error)
{
	*error = e->writer_nice_error;
	return e->writer_nice;
}

/* Run what is queued, then stop the writer; later submissions are
 * refused. */
static void writer_stop(struct esc_engine *e)
{
	if (!e->writer_running)
		return;
	pthread_mutex_lock(&e->queue_lock);
	e->writer_stop = true;
	pthread_cond_signal(&e->queue_wake);
	pthread_mutex_unlock(&e->queue_lock);
	pthread_join(e->writer, NULL);
	e->writer_running = false;
	/* Given back after the writer's last look: released here. */
	pthread_mutex_lock(&e->queue_lock);
	give_back_release(e);
	pthread_mutex_unlock(&e->queue_lock);
}

int esc_engine_submit_async(struct esc_engine *e, struct esc_submission *sub)
{
	bool wake = false;
	sub->next = NULL;
	pthread_mutex_lock(&e->queue_lock);
	if (e->writer_stop || !e->writer_running) {
		pthread_mutex_unlock(&e->queue_lock);
		memset(sub->res, 0, sizeof *sub->res);
		sub->res->rc = ESC_EBUSY;
		snprintf(sub->res->message, sizeof sub->res->message, "the engine is stopping");
		return ESC_EBUSY;
	}
	if (e->queue_tail)
		e->queue_tail->next = sub;
	else
		e->queue_head = sub;
	e->queue_tail = sub;
	e->queue_len++;
	if (e->writer_idle && (!e->writer_lingering || e->queue_len >= LINGER_MAX)) {
		/* One wakeup for the writer, whatever joins the queue before
		 * it runs (while it lingers: once the batch is large enough). */
		e->writer_idle = false;
		wake = true;
	}
	pthread_mutex_unlock(&e->queue_lock);
	if (wake)
		pthread_cond_signal(&e->queue_wake);
	return 0;
}

/* A synchronous caller, waiting for its command's done. */
struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
};

static void waiter_wake(void *arg)
{
	struct waiter *w = arg;
	pthread_mutex_lock(&w->lock);
	w->done = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

int esc_engine_submit(struct esc_engine *e, const struct esc_command *cmd, struct esc_result *res)
{
	struct waiter w = {.done = false};
	struct esc_submission sub = {.cmd = cmd, .res = res, .done = waiter_wake, .arg = &w};
	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	if (!esc_engine_submit_async(e, &sub)) {
		pthread_mutex_lock(&w.lock);
		while (!w.done)
			pthread_cond_wait(&w.cond, &w.lock);
		pthread_mutex_unlock(&w.lock);
	}
	pthread_mutex_destroy(&w.lock);
	pthread_cond_destroy(&w.cond);
	return res->rc;
}

int esc_engine_exec(struct esc_engine *e, const struct esc_command *cmd, struct esc_result *res)
{
	esc_engine_exec_batch(e, cmd, 1, res);
	return res->rc;
}

#define FIRE_BATCH_MAX 256

struct claim {
	struct esc_process *process;
	bool first; /* this process's first claim */
	bool take_all;
	bool stale;     /* a quarter of the lease has passed since its renewal */
	bool beat;      /* the lease was renewed */
	int64_t now_ms; /* escrowd's clock: what is due */
	struct esc_deadline *rows;
	size_t max, n;
};

/* Claim under this process's lease, in one transaction: a claim that
 * takes rows renews the lease with them once a quarter of it has passed
 * since the last renewal (the first claim always does), so that every
 * claim starts with three quarters of a lease at least. A claim that
 * takes nothing renews nothing: a lease only holds claims, and this
 * process holds none between its claims (each batch fires what it took,
 * or gives it back). So an idle daemon writes nothing: a renewal is a
 * commit, after which every read connection drops its cache (its map of
 * the file stays: keep_vfs in sqlite.c). The webhook worker renews the same
 * row by the same rule while it holds deliveries (round_tx). The first
 * claim also forgets the processes whose lease has ended and, on a store
 * that one process serves, takes back every claim there: whoever held
 * them is gone. (A second daemon on the same SQLite file, if any, loses its
 * claims too; SQLite runs one writer at a time, so each row it then fires
 * after us finds its order moved on, and is dropped: each deadline still
 * fires once.) */
static int claim_tx(struct esc_store *s, void *arg)
{
	struct claim *c = arg;
	int64_t real = c->process->heartbeat_ms;
	int rc = 0;
	if (c->first)
		ESC_STORE(rc, s, processes_purge, real);
	if (!rc && c->take_all)
		ESC_STORE(rc, s, deadlines_release, NULL);
	if (!rc)
		ESC_STORE(rc, s, deadlines_claim, c->now_ms, c->process->id, real, c->rows, c->max,
			  &c->n);
	c->beat = !rc && (c->first || (c->stale && c->n));
	if (c->beat)
		ESC_STORE(rc, s, process_beat, c->process);
	return rc;
}

/* Give a claimed row back, so that any process may fire it at once:
 * setting a row again drops its claim. Best effort: otherwise this
 * process takes it again at its next claim, or the others when its lease
 * ends. */
static int unclaim_tx(struct esc_store *s, void *arg)
{
	const struct esc_deadline *d = arg;
	struct esc_deadline_op op = {.set = true, .kind = d->kind, .due_ms = d->due_ms};
	int rc;
	snprintf(op.ref, sizeof op.ref, "%s", d->ref);
	ESC_STORE(rc, s, deadline_apply, d->order_id, &op);
	return rc;
}

static bool store_failure(int rc)
{
	return rc == ESC_EIO || rc == ESC_EBUSY || rc == ESC_ENOMEM || rc == ESC_ERETRY;
}

int esc_engine_fire_due(struct esc_engine *e, size_t max, size_t *fired)
{
	struct fire_request req = {.max = max};
	pthread_mutex_lock(&e->queue_lock);
	/* One request at a time: a second caller waits for the first's turn
	 * to end. */
	while (e->fire_req && !e->writer_stop)
		pthread_cond_wait(&e->fire_done, &e->queue_lock);
	if (e->writer_stop || !e->writer_running) {
		/* The engine is being freed: fire here, as the writer would. */
		pthread_mutex_unlock(&e->queue_lock);
		return fire_batch(e, max, fired);
	}
	e->fire_req = &req;
	if (e->writer_idle) {
		e->writer_idle = false;
		pthread_cond_signal(&e->queue_wake);
	}
	while (!req.done)
		pthread_cond_wait(&e->fire_done, &e->queue_lock);
	pthread_mutex_unlock(&e->queue_lock);
	if (fired)
		*fired = req.fired;
	snprintf(store_said, sizeof store_said, "%s", req.said);
	return req.rc;
}

/* One batch of due deadlines, claimed and fired (see esc_engine_fire_due):
 * in the writer's thread, or in the caller's once the writer is gone. */
static int fire_batch(struct esc_engine *e, size_t max, size_t *fired)
{
	struct claim c = {.process = &e->process};
	struct esc_command *cmds = NULL;
	struct esc_result *res = NULL;
	size_t count = 0;
	int rc = 0, failure = 0;

	if (max == 0 || max > FIRE_BATCH_MAX)
		max = FIRE_BATCH_MAX;
	c.max = max;
	c.rows = calloc(max, sizeof *c.rows);
	if (!c.rows) {
		rc = ESC_ENOMEM;
		goto out;
	}
	pthread_mutex_lock(&e->lock);
	/* A full batch of stale rows fires nothing but is not the end. */
	do {
		/* Rows are claimed first, in a transaction of their own, so that
		 * of several processes one fires each; a process that dies
		 * holding claims loses them when its lease ends. */
		rc = esc_engine_clock_sync(e, e->store);
		if (rc)
			break;
		c.now_ms = esc_clock_now(&e->clock);
		c.first = !e->working;
		c.take_all = c.first && !e->store->ops->shared;
		e->process.heartbeat_ms = esc_clock_now(e->real);
		c.stale = esc_engine_lease_due(e, e->process.heartbeat_ms);
		rc = transact(e, claim_tx, &c);
		if (!rc && c.beat)
			esc_engine_lease_renewed_at(e, e->process.heartbeat_ms);
		if (!rc)
			e->working = true;
		if (rc || !c.n)
			break;
		/* The commands and their results (~2 MB for a full batch, which
		 * malloc maps and unmaps) only once there is something to fire:
		 * most claims of an idle daemon take nothing. */
		if (!cmds)
			cmds = calloc(max, sizeof *cmds);
		if (!res)
			res = calloc(max, sizeof *res);
		if (!cmds || !res) {
			for (size_t i = 0; i < c.n; i++)
				(void)transact(e, unclaim_tx, &c.rows[i]);
			rc = ESC_ENOMEM;
			break;
		}
		for (size_t i = 0; i < c.n; i++) {
			int ev = esc_event_of_deadline(c.rows[i].kind);
			ESC_ASSERT(ev >= 0, "deadline kind %d has no event", (int)c.rows[i].kind);
			esc_command_init(&cmds[i], (enum esc_event)ev, ESC_ACTOR_SYSTEM, NULL,
					 c.rows[i].order_id);
			cmds[i].deadline = &c.rows[i];
		}
		rc = exec_batch(e, cmds, c.n, res);
		/* Each command's own result: a batch run again in halves may
		 * commit one half and fail the other. */
		for (size_t i = 0; i < c.n; i++) {
			count += res[i].rc == 0;
			/* A refusal drops its row; a failure keeps it for the next
			 * run and is reported, not retried here. */
			if (store_failure(res[i].rc)) {
				if (!failure)
					failure = res[i].rc;
				(void)transact(e, unclaim_tx, &c.rows[i]);
			}
		}
	} while (!rc && !failure && count == 0 && c.n == max);
	counter_add(&e->deadlines_fired, (int64_t)count);
	if (!rc)
		rc = failure;
	pthread_mutex_unlock(&e->lock);
out:
	if (fired)
		*fired = count;
	free(c.rows);
	free(cmds);
	free(res);
	return rc;
}

const char *esc_engine_store_said(void)
{
	return store_said[0] ? store_said : NULL;
}

/* Already locked. fn in a transaction of its own (weak: begin_weak's),
 * run again while it loses to a concurrent one. */
static int transact_in(struct esc_engine *e, bool weak, int (*fn)(struct esc_store *s, void *arg),
		       void *arg)
{
	int rc, undo;

	store_said[0] = '\0';
	for (int attempt = 0;; attempt++) {
		if (weak)
			ESC_STORE0(rc, e->store, begin_weak);
		else
			ESC_STORE0(rc, e->store, begin);
		bool begun = !rc;
		if (begun) {
			rc = fn(e->store, arg);
			if (!rc)
				ESC_STORE0(rc, e->store, commit);
		}
		if (rc)
			snprintf(store_said, sizeof store_said, "%s",
				 esc_store_last_error(e->store));
		if (rc && begun) {
			ESC_STORE0(undo, e->store, rollback);
			(void)undo;
		}
		if (rc != ESC_ERETRY || attempt + 1 >= ESC_RETRY_MAX)
			return rc;
		counter_add(&e->retries, 1);
		esc_backoff_sleep(attempt);
	}
}

static int transact(struct esc_engine *e, int (*fn)(struct esc_store *s, void *arg), void *arg)
{
	return transact_in(e, false, fn, arg);
}

int esc_engine_transact(struct esc_engine *e, int (*fn)(struct esc_store *s, void *arg), void *arg)
{
	/* The thread's reads after this write see it: their snapshot starts
	 * again (esc_engine_reads_begin). */
	reads_yield(e);
	pthread_mutex_lock(&e->lock);
	int rc = transact(e, fn, arg);
	pthread_mutex_unlock(&e->lock);
	return rc;
}

int esc_engine_transact_weak(struct esc_engine *e, int (*fn)(struct esc_store *s, void *arg),
			     void *arg)
{
	pthread_mutex_lock(&e->lock);
	int rc = transact_in(e, true, fn, arg);
	pthread_mutex_unlock(&e->lock);
	return rc;
}

/* Users. */

bool esc_engine_email_ok(const char *s)
{
	const char *at = s ? strchr(s, '@') : NULL;
	if (!at || at == s || !at[1] || strchr(at + 1, '@') || strlen(s) > ESC_EMAIL_MAX)
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			return false;
	return true;
}

struct user_insert {
	struct esc_engine *e;
	struct esc_user *u;
	struct esc_user *out;
	const struct esc_tx_hook *after;
};

/* The user is born at its transaction's time, its id made of it. */
static int user_tx(struct esc_store *s, void *arg)
{
	struct user_insert *x = arg;
	int rc;
	x->u->created_at_ms = esc_clock_now(&x->e->clock);
	esc_id_new(x->u->id, "usr_", x->u->created_at_ms);
	if (x->out)
		*x->out = *x->u; /* for after->run, which may answer with it */
	ESC_STORE(rc, s, user_insert, x->u);
	if (!rc && x->after)
		rc = x->after->run(x->after->arg, s);
	return rc;
}

int esc_engine_user_create(struct esc_engine *e, enum esc_actor role, const char *name,
			   const char *email, const char *password, struct esc_user *out)
{
	return esc_engine_user_create_with(e, role, name, email, password, out, NULL);
}

int esc_engine_user_create_with(struct esc_engine *e, enum esc_actor role, const char *name,
				const char *email, const char *password, struct esc_user *out,
				const struct esc_tx_hook *after)
{
	struct esc_user u;
	int rc = 0;
	memset(&u, 0, sizeof u);
	if (role != ESC_ACTOR_BUYER && role != ESC_ACTOR_SELLER && role != ESC_ACTOR_ARBITER)
		return ESC_EINVAL;
	if (!name || !*name || strlen(name) > ESC_NAME_MAX || !esc_engine_email_ok(email))
		return ESC_EINVAL;
	if (!password || strlen(password) < 8 || strlen(password) > 1024)
		return ESC_EINVAL;
	u.role = role;
	snprintf(u.name, sizeof u.name, "%s", name);
	for (size_t i = 0; email[i] && i < ESC_EMAIL_MAX; i++)
		u.email[i] = (char)(email[i] >= 'A' && email[i] <= 'Z' ? email[i] + 32 : email[i]);
	unsigned long long ops = e->fast_password_hashing ? crypto_pwhash_OPSLIMIT_MIN
							  : crypto_pwhash_OPSLIMIT_INTERACTIVE;
	size_t mem = e->fast_password_hashing ? crypto_pwhash_MEMLIMIT_MIN
					      : crypto_pwhash_MEMLIMIT_INTERACTIVE;
	if (crypto_pwhash_str(u.password_hash, password, strlen(password), ops, mem))
		return ESC_ENOMEM;
	struct user_insert x = {.e = e, .u = &u, .out = out, .after = after};
	rc = esc_engine_transact(e, user_tx, &x);
	return rc;
}

struct lift {
	struct esc_engine *e;
	const char *user_id;
	struct esc_lift l;
	struct esc_user u;
	struct esc_buyer_rep *after;
};

static int lift_tx(struct esc_store *s, void *arg)
{
	struct lift *x = arg;
	struct esc_buyer_rep rep;
	x->l.at_ms = esc_clock_now(&x->e->clock);
	int rc = get_user(s, x->user_id, &x->u);
	if (!rc && x->u.role != ESC_ACTOR_BUYER)
		rc = ESC_ENOTFOUND;
	if (!rc)
		rc = buyer_reputation(x->e, s, &x->u, x->l.at_ms, &rep);
	if (!rc && rep.level != ESC_LEVEL_SUSPENDED)
		rc = ESC_ESTATE;
	/* The marks of its millisecond it forgives: made before it. */
	int32_t n[ESC_MARK_COUNT];
	if (!rc)
		rc = marks_between(s, x->u.id, x->l.at_ms - 1, x->l.at_ms, n);
	if (rc)
		return rc;
	/* The user and the record of why, together. */
	x->u.suspension_lifted_at_ms = x->l.at_ms;
	x->u.lift_ms_cancellations = n[ESC_MARK_BUYER_CANCELLED];
	x->u.lift_ms_lost_disputes = n[ESC_MARK_BUYER_DISPUTE_LOST];
	ESC_STORE(rc, s, user_update, &x->u);
	if (!rc)
		ESC_STORE(rc, s, lift_insert, &x->l);
	/* The level it leaves, as read once it is written. */
	if (!rc)
		rc = buyer_reputation(x->e, s, &x->u, x->l.at_ms, x->after);
	/* Its event, in the same transaction: of no order. */
	char *data = NULL;
	if (!rc)
		rc = rep_data(x->e, s, &x->u, ESC_LEVEL_SUSPENDED, &data);
	if (!rc)
		rc = outbox_write(s, ESC_TYPE_SUSPENSION_LIFTED, "", 0, x->l.at_ms, data);
	free(data);
	return rc;
}

int esc_engine_lift_suspension(struct esc_engine *e, const char *arbiter_id, const char *user_id,
			       const char *reason, struct esc_buyer_rep *after)
{
	struct lift x = {.e = e, .user_id = user_id, .after = after};
	size_t n = reason ? strlen(reason) : 0;
	if (n == 0 || n > ESC_TEXT_MAX)
		return ESC_EINVAL;
	snprintf(x.l.user_id, sizeof x.l.user_id, "%s", user_id);
	snprintf(x.l.arbiter_id, sizeof x.l.arbiter_id, "%s", arbiter_id ? arbiter_id : "");
	snprintf(x.l.reason, sizeof x.l.reason, "%s", reason);
	return esc_engine_transact(e, lift_tx, &x);
}

struct evidence {
	struct esc_engine *e;
	struct esc_evidence *ev;
	const void *data;
	const struct esc_tx_hook *after;
	struct esc_evidence *have; /* room for ESC_EVIDENCE_MAX */
	char *why;
	size_t why_size;
};

/* The count of files and the new one in one transaction: two uploads at
 * once cannot both be the tenth. */
static int evidence_tx(struct esc_store *s, void *arg)
{
	struct evidence *x = arg;
	struct esc_order o;
	size_t n = 0;
	int rc;

	x->why[0] = '\0';
	x->ev->at_ms = esc_clock_now(&x->e->clock);
	ESC_STORE(rc, s, order_get, x->ev->order_id, &o);
	if (rc == ESC_ENOTFOUND)
		snprintf(x->why, x->why_size, "no such dispute");
	if (!rc)
		esc_order_assert(&o, "as read from the store");
	if (!rc)
		ESC_STORE(rc, s, evidence_list, x->ev->order_id, x->have, ESC_EVIDENCE_MAX, &n);
	if (!rc)
		rc = esc_evidence_allowed(&o, x->ev->role,
					  x->ev->author_id[0] ? x->ev->author_id : NULL, n, x->why,
					  x->why_size);
	if (!rc)
		ESC_STORE(rc, s, evidence_append, x->ev, x->data);
	if (!rc && x->after)
		rc = x->after->run(x->after->arg, s);
	return rc;
}

int esc_engine_evidence_add(struct esc_engine *e, enum esc_actor actor, const char *actor_id,
			    const char *order_id, const char *declared, const char *filename,
			    const void *data, size_t len, struct esc_evidence *out, char *why,
			    size_t why_size, const struct esc_tx_hook *after)
{
	why[0] = '\0';
	if (len > ESC_EVIDENCE_BYTES_MAX) {
		snprintf(why, why_size, "a file is 5 MiB at most");
		return ESC_ETOOLARGE;
	}
	const char *type = esc_evidence_sniff(data, len);
	if (!type) {
		snprintf(why, why_size, "the file is not a JPEG, PNG or PDF");
		return ESC_EMEDIA;
	}
	if (!declared || strcmp(declared, type)) {
		snprintf(why, why_size, "the file is %s, not %s as declared", type,
			 declared ? declared : "(none)");
		return ESC_EMEDIA;
	}
	memset(out, 0, sizeof *out);
	snprintf(out->order_id, sizeof out->order_id, "%s", order_id);
	snprintf(out->author_id, sizeof out->author_id, "%s", actor_id ? actor_id : "");
	out->role = actor;
	snprintf(out->content_type, sizeof out->content_type, "%s", type);
	snprintf(out->filename, sizeof out->filename, "%s", filename ? filename : "");
	out->size = (int64_t)len;
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, data, len);
	sodium_bin2hex(out->sha256, sizeof out->sha256, h, sizeof h);
	struct evidence x = {
		.e = e, .ev = out, .data = data, .after = after, .why = why, .why_size = why_size};
	x.have = calloc(ESC_EVIDENCE_MAX, sizeof *x.have);
	if (!x.have)
		return ESC_ENOMEM;
	int rc = esc_engine_transact(e, evidence_tx, &x);
	free(x.have);
	return rc;
}

static bool reader_take(struct esc_engine *e, size_t *out)
{
	unsigned start = atomic_fetch_add(&e->reader_next, 1);
	for (size_t i = 0; i < e->readers_count; i++) {
		size_t k = (start + i) % e->readers_count;
		if (!atomic_exchange(&e->reader_busy[k], true)) {
			*out = k;
			return true;
		}
	}
	return false;
}

static bool reader_any_free(struct esc_engine *e)
{
	for (size_t i = 0; i < e->readers_count; i++)
		if (!atomic_load(&e->reader_busy[i]))
			return true;
	return false;
}

/* A thread's reads that belong together (esc_engine_reads_begin): the
 * reader its first acquire took, kept until reads_end, and how many of
 * its acquires are not yet released. */
static _Thread_local struct reads_scope {
	struct esc_engine *e;
	struct esc_store *held;
	unsigned depth;
} scope;

static struct esc_store *reader_lend(struct esc_engine *e)
{
	size_t k;
	while (!reader_take(e, &k)) {
		/* All busy: wait for a release. The count is raised before
		 * looking again, and a release frees before reading it, so one
		 * of the two sees the other. */
		pthread_mutex_lock(&e->pool_lock);
		atomic_fetch_add(&e->pool_waiters, 1);
		if (!reader_any_free(e))
			pthread_cond_wait(&e->pool_free, &e->pool_lock);
		atomic_fetch_sub(&e->pool_waiters, 1);
		pthread_mutex_unlock(&e->pool_lock);
	}
	struct esc_store *s = e->readers[k];
	if (e->read_snapshots) {
		int rc;
		/* A failed BEGIN leaves each statement its own transaction,
		 * as before: the reads still answer. */
		ESC_STORE0(rc, s, begin);
		(void)rc;
	}
	return s;
}

static void reader_return(struct esc_engine *e, struct esc_store *s)
{
	if (e->read_snapshots) {
		int rc;
		ESC_STORE0(rc, s, rollback);
		(void)rc;
	}
	for (size_t i = 0; i < e->readers_count; i++) {
		if (e->readers[i] == s) {
			atomic_store(&e->reader_busy[i], false);
			break;
		}
	}
	if (atomic_load(&e->pool_waiters)) {
		pthread_mutex_lock(&e->pool_lock);
		pthread_cond_signal(&e->pool_free);
		pthread_mutex_unlock(&e->pool_lock);
	}
}

struct esc_store *esc_engine_store_acquire(struct esc_engine *e)
{
	if (!e->readers_count) {
		pthread_mutex_lock(&e->lock);
		return e->store;
	}
	if (scope.e != e)
		return reader_lend(e);
	if (!scope.held)
		scope.held = reader_lend(e);
	scope.depth++;
	return scope.held;
}

void esc_engine_store_release(struct esc_engine *e, struct esc_store *s)
{
	if (s == e->store) {
		pthread_mutex_unlock(&e->lock);
		return;
	}
	if (scope.e == e && s == scope.held) {
		ESC_ASSERT(scope.depth > 0, "a reader released more often than acquired");
		scope.depth--;
		return;
	}
	reader_return(e, s);
}

void esc_engine_reads_begin(struct esc_engine *e)
{
	ESC_ASSERT(!scope.e, "esc_engine_reads_begin inside reads already begun");
	/* With a pool of one the reader is the writer, under the engine's
	 * lock: held for a whole request, it would keep every command and
	 * write waiting, and a write of the request's own would wait for
	 * ever. Each acquire takes it and gives it back, as outside. */
	if (e->readers_count)
		scope.e = e;
}

/* The scope's reader back to the pool, when no acquire of the thread
 * still uses it. */
static void reads_yield(struct esc_engine *e)
{
	if (scope.e == e && scope.held && !scope.depth) {
		reader_return(e, scope.held);
		scope.held = NULL;
	}
}

void esc_engine_reads_end(struct esc_engine *e)
{
	if (scope.e != e)
		return;
	ESC_ASSERT(!scope.depth, "reads ended with %u acquires not released", scope.depth);
	reads_yield(e);
	scope = (struct reads_scope){0};
}

struct esc_store *esc_engine_writer(struct esc_engine *e)
{
	return e->store;
}

/* Each kept policy version (issue 16) is what it says: its text hashes to
 * its hash, as at registration (policy_hash), and parses as a policy
 * this build can decide by. An order pinned to a version the store lacks
 * is the store's check (policy_version_exists). */
static int check_policies(struct esc_store *s, struct esc_ledger_report *out)
{
	struct esc_policy_row rows[16];
	struct esc_policy *p = malloc(sizeof *p);
	int64_t after = 0;
	size_t n = 0;
	int rc = p ? 0 : ESC_ENOMEM;
	do {
		if (!rc)
			ESC_STORE(rc, s, policies_list, after, rows, sizeof rows / sizeof rows[0],
				  &n);
		for (size_t i = 0; i < n; i++) {
			const char *text = rows[i].text;
			unsigned char h[32];
			char hex[ESC_POLICY_HASH_HEX_SIZE], err[160] = "";
			crypto_generichash(h, sizeof h, (const unsigned char *)text, strlen(text),
					   NULL, 0);
			sodium_bin2hex(hex, sizeof hex, h, sizeof h);
			if (!rc && strcmp(hex, rows[i].hash))
				esc_ledger_problem(
					out,
					"policy_hash_matches_text: pol_%lld's text hashes to "
					"%.16s..., not its stored %.16s...",
					(long long)rows[i].version, hex, rows[i].hash);
			if (!rc) {
				esc_policy_default(p);
				if (esc_policy_parse(p, text, err, sizeof err) ||
				    esc_policy_validate(p, err, sizeof err))
					esc_ledger_problem(
						out,
						"policy_text_parses: pol_%lld's text is not "
						"a policy: %s",
						(long long)rows[i].version, err);
			}
			after = rows[i].version;
			free(rows[i].text);
		}
	} while (!rc && n == sizeof rows / sizeof rows[0]);
	free(p);
	return rc;
}

int esc_engine_check(struct esc_engine *e, struct esc_ledger_report *out)
{
	int rc;
	pthread_mutex_lock(&e->lock);
	ESC_STORE(rc, e->store, ledger_check, out);
	if (!rc)
		rc = check_policies(e->store, out);
	pthread_mutex_unlock(&e->lock);
	return rc;
}
