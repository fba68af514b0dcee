/* store.h - the store interface: domain verbs, one backend each.
 *
 * The engine speaks only these verbs; src/store/sqlite/ and src/store/pg/
 * implement them. Every verb returns 0 or a negative ESC_E* code:
 * ESC_ENOTFOUND for a missing row, ESC_ECONFLICT for a failed
 * compare-and-set, ESC_EDUPLICATE for a unique key taken, ESC_EBUSY when
 * the database is locked or cannot be used for now (a full or failing
 * disk, the connection to the server lost: roll back, and try again
 * later), ESC_ERETRY when a concurrent transaction forced this one to
 * abort (roll back and run the whole transaction again), ESC_EBUG for a
 * write through a connection made read-only (read_only: a bug, on which
 * ESC_STORE aborts), ESC_EIO for anything else.
 *
 * Transactions: begin .. commit|rollback brackets one commit; inside it,
 * savepoint .. release|rollback_to brackets one command, so that several
 * commands share one durable commit (group commit) and each stays
 * all-or-nothing (a backend with the changes op spares the engine the
 * savepoints: see it). commit returns only once the commit is durable.
 *
 * Calls go through the esc_store_* wrappers below, which give tests one
 * place to inject a failure into any call of any backend. */
#ifndef ESC_STORE_H
#define ESC_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"
#include "core/order.h"
#include "core/reputation.h"
#include "util/bug.h"
#include "util/error.h"

#define ESC_HASH_SIZE 128 /* crypto_pwhash_STRBYTES */

struct esc_user {
	char id[ESC_ID_SIZE];
	enum esc_actor role; /* buyer, seller or arbiter */
	char name[ESC_NAME_MAX + 1];
	char email[ESC_EMAIL_MAX + 1];
	char password_hash[ESC_HASH_SIZE];
	int64_t created_at_ms;
	int64_t suspension_lifted_at_ms; /* 0 = never lifted */
	/* The buyer's cancellations after payment and lost disputes made in
	 * the lift's millisecond before it (-1: not recorded, a lift of an
	 * earlier version: none made in its millisecond counts after it). */
	int64_t lift_ms_cancellations;
	int64_t lift_ms_lost_disputes;
};

/* One line of an order's history: who, what, when, before and after. It
 * is kept in the row of the command's own event (outbox_append), and
 * stays when the event is purged. */
struct esc_history {
	char order_id[ESC_ID_SIZE];
	int64_t version; /* the order's version after: the row's key */
	int64_t at_ms;
	enum esc_actor actor;
	char actor_id[ESC_ID_SIZE]; /* "" for operator and system */
	enum esc_event event;
	enum esc_state from, to;
	char type[48]; /* the outbox type, e.g. "cancellation.accepted" */
	/* What the event carried, as JSON text: one user text of at most
	 * ESC_TEXT_MAX bytes, which escaping at most doubles, and short fields. */
	char detail[2 * ESC_TEXT_MAX + 400];
};

/* A history line with its row's seq (history_scan): replay reads the
 * recorded commands of every order in the order they committed. */
struct esc_history_row {
	int64_t seq;
	struct esc_history h;
};

/* A process that fires deadlines, and its lease on what it claims. Times
 * are real time (the machine's clock, never a manual one), so that a
 * lease ends on time whatever escrowd's clock says. */
struct esc_process {
	char id[ESC_ID_SIZE];
	int64_t started_ms;   /* real time */
	int64_t heartbeat_ms; /* real time: the lease runs from here ... */
	int64_t lease_ms;     /* ... for this long */
};

/* A row of the deadline queue. */
struct esc_deadline {
	int64_t due_ms;
	char order_id[ESC_ID_SIZE];
	enum esc_deadline_kind kind;
	char ref[ESC_ID_SIZE];
};

/* An outbox row: one event (webhook/feed.h) that a command wrote. Its id
 * is "evt_" and its seq (feed.h: esc_feed_event_id). The command's own
 * event carries its order's history line in the same row (history); the
 * events a command causes besides (reputation.*) and those of no order
 * carry none. */
struct esc_outbox_row {
	int64_t seq; /* given by the store on append; read back by lists */
	int64_t at_ms;
	char type[48];
	char order_id[ESC_ID_SIZE]; /* "" for an event of no order */
	int64_t version;            /* the order's version the event shows; 0 for none */
	const char *payload;        /* JSON text: the event's data (webhook/feed.h) */
	/* Appending: the history line this event writes (its order_id,
	 * version, at_ms and type are the row's), or NULL. Not read back. */
	const struct esc_history *history;
};

/* A policy version (issue 16): pol_N, the hex of the generichash of its
 * canonical text (esc_policy_format), the text itself, and when a daemon
 * first ran with it. text is malloc'd by the verbs that read a row: the
 * caller's to free. */
#define ESC_POLICY_HASH_HEX_SIZE 65 /* 32 bytes in hex, and the NUL */
struct esc_policy_row {
	int64_t version;
	char hash[ESC_POLICY_HASH_HEX_SIZE];
	char *text;
	int64_t created_at_ms;
};

/* Which events GET /v1/events lists: those after after_seq, oldest first,
 * of type type (exact), or whose type begins with type_prefix ("order."
 * for "order.*"), and of order order_id; NULL for any. */
struct esc_event_filter {
	int64_t after_seq;
	const char *type;
	const char *type_prefix;
	const char *order_id;
};

/* The longest search (GET /v1/orders?q=) in bytes. */
#define ESC_SEARCH_MAX 100
/* The shortest end of an order id that q matches (an exact id always). */
#define ESC_SEARCH_ID_END_MIN 6
/* The most states one filter takes (a web tab's: state and states_also). */
#define ESC_FILTER_STATES_ALSO 2

struct esc_order_filter {
	const char *buyer_id;  /* NULL = any */
	const char *seller_id; /* NULL = any */
	int state;             /* enum esc_state, or -1 = any */
	/* more states besides state (which must then be set): any of them */
	int states_also[ESC_FILTER_STATES_ALSO];
	size_t states_also_count;
	int dispute_state;          /* enum esc_dispute_state; ESC_DS_NONE (0) = any */
	const char *starting_after; /* an order id, or NULL: ids descending */
	/* Issue 17: an item title containing q (ASCII letters in any case),
	 * the order id q, or an id ending in q (ESC_SEARCH_ID_END_MIN bytes or
	 * more); at most ESC_SEARCH_MAX bytes. NULL = any. */
	const char *q;
	int64_t created_from_ms;  /* created at or after; 0 = any */
	int64_t created_until_ms; /* created before; 0 = any */
	/* Disputes oldest first (by dispute_opened_at_ms, then id), and
	 * starting_after the one after it in that order; else ids descending. */
	bool oldest_dispute_first;
	/* Only orders whose dispute was escalated (an arbiter's: SPEC §1). */
	bool escalated;
};

#define ESC_CHECK_PROBLEMS_MAX 32
#define ESC_CHECK_PROBLEM_SIZE 256

/* What `escrowd check` reports. Each problem is one line that starts with
 * the name of the broken invariant:
 *   transfers_sum_to_zero   a currency's entries do not sum to zero
 *   transfer_legs           a transfer is not two legs that cancel out
 *   escrow_not_negative     an escrow account is below zero
 *   refunds_within_paid     an order refunded more than it was paid
 *   escrow_matches_order    an escrow balance differs from the order's
 *   balances_match_entries  a kept user balance differs from its entries
 *   policy_version_exists   an order is pinned to a version not kept
 *   policy_hash_matches_text, policy_text_parses  a kept policy version
 *                           is not the text registered (engine.c) */
struct esc_ledger_report {
	int64_t transfers_count;
	int64_t orders_count;
	size_t problems_count; /* may exceed what is listed */
	char problems[ESC_CHECK_PROBLEMS_MAX][ESC_CHECK_PROBLEM_SIZE];
};

/* Add a problem to r (counted always, listed while there is room). */
void esc_ledger_problem(struct esc_ledger_report *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A signed-in session. The token itself is never stored: only its hash
 * (hex of a 32-byte BLAKE2b), so a copy of the store signs no one in. */
#define ESC_HASH_HEX_SIZE 65
#define ESC_CSRF_SIZE     48
/* An operator API key (issue 18 item 7). The secret is shown once, when
 * it is made; the store keeps its hash. */
#define ESC_API_KEY_NAME_MAX 100
#define ESC_API_KEYS_MAX     1000
struct esc_api_key {
	char id[ESC_ID_SIZE]; /* "key_..." */
	char name[ESC_API_KEY_NAME_MAX + 1];
	char key_hash[ESC_HASH_HEX_SIZE];
	int64_t created_at_ms;
	int64_t last_used_at_ms; /* 0: never used */
	int64_t revoked_at_ms;   /* 0: active */
};

struct esc_session {
	char token_hash[ESC_HASH_HEX_SIZE];
	char user_id[ESC_ID_SIZE];
	char csrf[ESC_CSRF_SIZE]; /* the CSRF token, for cookie-authenticated POSTs */
	int64_t created_at_ms;
	int64_t last_seen_ms; /* idle expiry counts from here */
};

/* A file of evidence for an order's dispute; its bytes travel apart. */
struct esc_evidence {
	char order_id[ESC_ID_SIZE];
	int64_t seq; /* 1, 2, ... per order; set by evidence_append */
	int64_t at_ms;
	char author_id[ESC_ID_SIZE];
	enum esc_actor role;
	char content_type[32];
	char filename[ESC_FILENAME_MAX + 1];
	int64_t size;
	char sha256[65]; /* hex */
};

/* A mark on a user's record, as listed. */
struct esc_mark_row {
	int64_t at_ms;
	char order_id[ESC_ID_SIZE];
	enum esc_mark mark;
};

/* An arbiter lifted a buyer's suspension, and why. */
struct esc_lift {
	char user_id[ESC_ID_SIZE];
	int64_t at_ms;
	char arbiter_id[ESC_ID_SIZE];
	char reason[ESC_TEXT_MAX + 1];
};

/* A message between the parties of an order. */
struct esc_message {
	char order_id[ESC_ID_SIZE];
	int64_t seq; /* 1, 2, ... per order; set by message_append */
	int64_t at_ms;
	char author_id[ESC_ID_SIZE];
	enum esc_actor role;
	char body[ESC_TEXT_MAX + 1];
};

/* An order's conversation as one of its parties sees it
 * (conversations_list): how many messages it holds, how many of them the
 * other party wrote after the party's read marker, and the newest. */
struct esc_conversation {
	int64_t messages;
	int64_t unread;
	struct esc_message last;
};

/* Where a user's notifications were read up to (issue 17 item 4): a
 * notification at (at_ms, seq) is read when it is not after this, in that
 * order. Both 0 when the user read none. */
struct esc_notification_mark {
	int64_t at_ms;
	int64_t seq;
};

/* An Idempotency-Key's record: who sent it, the hash of the request, and
 * the answer to replay. */
#define ESC_IDEM_SCOPE_SIZE 96
struct esc_idempotency {
	char scope[ESC_IDEM_SCOPE_SIZE]; /* the caller: keys are theirs alone */
	char key[ESC_IDEM_KEY_MAX + 1];
	char request_hash[ESC_HASH_HEX_SIZE];
	int status;     /* the answer's HTTP status */
	char *response; /* the answer's body; malloc'd by idempotency_get */
	int64_t created_at_ms;
	/* Never stored: when sealed, response is written and read sealed
	 * with this key (http/idempotency.h, a route's ESC_KEEP_SEALED). */
	bool sealed;
	unsigned char seal[32];
};

/* An account's balance in one currency. */
struct esc_balance {
	char currency[ESC_CURRENCY_SIZE];
	int64_t amount_minor;
};

/* A webhook endpoint: where events are POSTed, which ones, and the
 * secrets that sign them. events holds the subscribed patterns joined by
 * single spaces ("order.* refund.created"). While a secret is rotated,
 * the previous one signs beside the new until secret_previous_until_ms
 * (escrowd's clock); "" and 0 when there is none. */
#define ESC_WEBHOOK_DESCRIPTION_MAX 200
#define ESC_WEBHOOK_EVENTS_MAX      32
#define ESC_WEBHOOK_EVENTS_SIZE     (ESC_WEBHOOK_EVENTS_MAX * 48)
/* The most endpoints a store holds: fanout reads them all for each batch
 * of events, and registering one more is refused (limit_reached). */
#define ESC_WEBHOOK_ENDPOINTS_MAX 1024

struct esc_webhook_endpoint {
	char id[ESC_ID_SIZE];
	char url[2048 + 1]; /* ESC_WEBHOOK_URL_BYTES_MAX */
	char description[ESC_WEBHOOK_DESCRIPTION_MAX + 1];
	char events[ESC_WEBHOOK_EVENTS_SIZE];
	int enabled;              /* 0 or 1 */
	char secret[50];          /* ESC_WEBHOOK_SECRET_SIZE */
	char secret_previous[50]; /* "" when none */
	int64_t secret_previous_until_ms;
	int64_t created_at_ms;
	int64_t updated_at_ms;
	int64_t failing_since_ms; /* 0 = not failing */
	int64_t disabled_at_ms;   /* 0 = not disabled by failures */
};

/* A delivery of one event to one endpoint (issue 14): made by the
 * worker's fanout, claimed when due, finished after each attempt. Times
 * are escrowd's clock, except claim_until_ms (real time, as leases). */
#define ESC_WD_PENDING   "pending"
#define ESC_WD_DELIVERED "delivered"
#define ESC_WD_FAILED    "failed"
struct esc_webhook_delivery {
	char id[ESC_ID_SIZE]; /* "whd_..." */
	int64_t event_seq;    /* the outbox row's seq: the event is "evt_" + it */
	char endpoint_id[ESC_ID_SIZE];
	char order_id[ESC_ID_SIZE]; /* the event's; "" when none */
	char status[12];            /* ESC_WD_PENDING, _DELIVERED or _FAILED */
	int64_t created_at_ms;
	int64_t next_at_ms;            /* when the next attempt is due (pending) */
	int64_t attempts;              /* made so far */
	char claim_owner[ESC_ID_SIZE]; /* the process sending it now; "" (NULL) for none */
	int64_t claim_until_ms;        /* real time: the claim is free after it */
	int64_t last_attempt_at_ms;    /* 0 = none yet */
	int64_t last_status_code;      /* the last answer's HTTP status; 0 = none */
	int64_t delivered_at_ms;       /* 0 = not delivered */
};

/* One attempt of a delivery: n from 1; status_code 0 when no answer came
 * (error says why, "" when one came); answer holds the first 1 KiB of
 * the answer's body as text. */
#define ESC_WEBHOOK_ATTEMPT_ERROR_SIZE  256
#define ESC_WEBHOOK_ATTEMPT_ANSWER_SIZE (1024 + 1)
struct esc_webhook_attempt {
	char delivery_id[ESC_ID_SIZE];
	int64_t n;
	int64_t at_ms;
	int64_t status_code;
	int64_t duration_ms;
	char error[ESC_WEBHOOK_ATTEMPT_ERROR_SIZE];
	char answer[ESC_WEBHOOK_ATTEMPT_ANSWER_SIZE];
};

/* What GET /metrics shows of deliveries, from the store. */
struct esc_webhook_stats {
	int64_t oldest_undelivered_ms; /* the at_ms of the oldest event not yet fanned out or
					* with a pending delivery; 0 when none */
	int64_t endpoints_disabled;    /* endpoints disabled by failures */
	int64_t deliveries_pending;
};

/* A delivery as GET /v1/webhook-deliveries shows it: its row and its
 * event's type ("" when the event was purged meanwhile). */
struct esc_webhook_delivery_seen {
	struct esc_webhook_delivery d;
	char event_type[48];
};

/* Which deliveries webhook_deliveries_list gives: each field narrows. */
struct esc_webhook_delivery_filter {
	const char *endpoint_id;    /* NULL = any */
	int64_t event_seq;          /* -1 = any */
	const char *status;         /* ESC_WD_*, or NULL = any */
	const char *starting_after; /* a delivery id, or NULL: from the newest */
};

struct esc_store;

/* What a batch of commands is about to read (read_ahead). */
struct esc_read_ahead {
	const char *const *order_ids; /* the orders the commands name */
	size_t orders_count;
	const char *const *user_ids; /* users besides the orders' parties */
	size_t users_count;
	const char *const *refund_ids;
	size_t refunds_count;
	/* The messages of order unread_order_ids[i] that user
	 * unread_user_ids[i] has not read (messages_unread), for each i. */
	const char *const *unread_order_ids;
	const char *const *unread_user_ids;
	size_t unread_count;
	/* mark_counts' window starts for a buyer's counters and for a
	 * seller's (short, long): the engine's, at the batch's time. */
	int64_t buyer_since_ms[2], seller_since_ms[2];
	/* The batch's time: the marks the parties have at it are read too,
	 * so that mark_append at this time knows a mark there already. */
	int64_t at_ms;
};

struct esc_store_ops {
	const char *name; /* "sqlite", "postgresql" */
	/* Several processes share the store as a rule (PostgreSQL: the
	 * scale-out store). Otherwise one process serves it (SQLite), and
	 * the claims a new process finds there are a dead one's. */
	bool shared;
	void (*close)(struct esc_store *s);
	/* The backend's last error message, for logs (NULL: it keeps none). */
	const char *(*last_error)(const struct esc_store *s);
	/* What this connection appended to its write-ahead log since it
	 * opened, in frames of *page_size bytes (each with a 24-byte header),
	 * for /metrics and the benchmark's WAL bytes per command. Any thread
	 * may call it while the connection works: it reads counters only.
	 * NULL: the backend keeps no such figure (PostgreSQL). */
	void (*wal_stats)(const struct esc_store *s, int64_t *frames, int64_t *page_size);
	/* The rows this connection has inserted, updated or deleted since it
	 * opened, by statements that completed, or -1 outside a transaction
	 * (one the backend rolled back by itself included). A backend that
	 * gives it keeps a failed statement from leaving a change behind, so
	 * that a command that failed with the count unchanged wrote nothing:
	 * the engine then runs a batch's commands without savepoints (each
	 * one's sub-journal cost SQLite a copy of every page it changed) and
	 * runs the batch again with them only when a command fails after a
	 * write. NULL: every command runs in its savepoint (PostgreSQL). */
	int64_t (*changes)(const struct esc_store *s);

	/* Inside a transaction, before its first write: read together what
	 * ra names (the orders, their items, refunds and parties, those
	 * parties' reputation counters at ra's window starts, the refunds,
	 * the messages unread), so that this transaction's later reads of
	 * the same rows (order_get, order_items, refunds_list of an order's
	 * every refund, user_get, mark_counts with those window starts,
	 * refund_get, messages_unread of an order, whether mark_append at
	 * ra's time adds a mark) are answered from what was read, until a
	 * write of its own changes one. What it does not find is read as usual. NULL: the
	 * backend's reads cost no round trip to save (SQLite). Called first
	 * thing in the transaction, it may also make it wait for other
	 * processes' transactions with a user of ra's in common to end
	 * (PostgreSQL's take_turns), so that they do not fail each other. */
	int (*read_ahead)(struct esc_store *s, const struct esc_read_ahead *ra);

	int (*begin)(struct esc_store *s);
	int (*commit)(struct esc_store *s);
	int (*rollback)(struct esc_store *s);
	int (*savepoint)(struct esc_store *s);
	int (*savepoint_release)(struct esc_store *s);
	int (*savepoint_rollback)(struct esc_store *s);

	/* Make this connection refuse writes from now on, for a pool that
	 * serves reads. Call it outside a transaction. It lasts as long as
	 * the store does (PostgreSQL: a connection made anew refuses them
	 * too). A verb that writes then fails with ESC_EBUG, since writing
	 * through such a connection is a bug, and changes nothing; begin
	 * opens a transaction that reads only. SQLite: PRAGMA query_only;
	 * PostgreSQL: every transaction of the session READ ONLY. */
	int (*read_only)(struct esc_store *s);

	int (*user_insert)(struct esc_store *s, const struct esc_user *u);
	int (*user_get)(struct esc_store *s, const char *id, struct esc_user *out);
	int (*user_by_email)(struct esc_store *s, const char *email, struct esc_user *out);
	int (*user_update)(struct esc_store *s, const struct esc_user *u);
	int (*users_list)(struct esc_store *s, const char *starting_after, struct esc_user *out,
			  size_t max, size_t *n);

	int (*order_insert)(struct esc_store *s, const struct esc_order *o,
			    const struct esc_item *items, size_t items_count);
	int (*order_get)(struct esc_store *s, const char *id, struct esc_order *out);
	/* Write o where the stored version is expected_version; ESC_ECONFLICT
	 * when it is not. */
	int (*order_update)(struct esc_store *s, const struct esc_order *o,
			    int64_t expected_version);
	int (*order_items)(struct esc_store *s, const char *order_id, struct esc_item *out,
			   size_t max, size_t *n);
	/* Orders matching f, newest id first, at most max. *has_more tells
	 * whether more follow. */
	int (*orders_list)(struct esc_store *s, const struct esc_order_filter *f,
			   struct esc_order *out, size_t max, size_t *n, bool *has_more);
	/* How many orders are in each state: of buyer_id's if given, else of
	 * seller_id's if given, else all. */
	int (*orders_count)(struct esc_store *s, const char *buyer_id, const char *seller_id,
			    int64_t counts[ESC_ST_COUNT]);

	/* History lines of an order with version > after_version, oldest
	 * first: those its commands' events wrote (outbox_append), purged
	 * or not. */
	int (*history_list)(struct esc_store *s, const char *order_id, int64_t after_version,
			    struct esc_history *out, size_t max, size_t *n);

	/* History lines of every order with after_seq < seq, in seq order
	 * (the order the commands committed), at most max: the recorded
	 * commands, system ones included, that `escrowd replay` reads. */
	int (*history_scan)(struct esc_store *s, int64_t after_seq, struct esc_history_row *out,
			    size_t max, size_t *n);

	/* Append transfers; a transfer whose id is stored already is skipped
	 * (ESC_EDUPLICATE is not returned). Keeps buyer: and seller: balances. */
	int (*transfers_append)(struct esc_store *s, const struct esc_transfer *t, size_t n,
				int64_t at_ms);
	/* The balance of an account in a currency (0 when it has none). */
	int (*balance_get)(struct esc_store *s, const char *account, const char *currency,
			   int64_t *out);
	/* A kept account's balances (a buyer's or a seller's: buyer: and
	 * seller:), one per currency it ever held, by currency: at most max
	 * into out, their number in *n. */
	int (*balances_of)(struct esc_store *s, const char *account, struct esc_balance *out,
			   size_t max, size_t *n);

	int (*refund_insert)(struct esc_store *s, const struct esc_refund *r);
	int (*refund_update)(struct esc_store *s, const struct esc_refund *r);
	int (*refund_get)(struct esc_store *s, const char *id, struct esc_refund *out);
	/* Refunds oldest first, of one order or all (order_id NULL), in a
	 * status or all (-1), after the refund after_id (a cursor) or from the
	 * first (NULL). An unknown after_id gives none. */
	int (*refunds_list)(struct esc_store *s, const char *order_id, int status,
			    const char *after_id, struct esc_refund *out, size_t max, size_t *n);
	/* The same for the orders of one party: the buyer's (seller false)
	 * or the seller's, user_id. */
	int (*refunds_of)(struct esc_store *s, const char *user_id, bool seller, int status,
			  const char *after_id, struct esc_refund *out, size_t max, size_t *n);
	/* How many refunds are in a status (for the pending gauge). */
	int (*refunds_count)(struct esc_store *s, enum esc_refund_status status, int64_t *n);
	/* Pending refunds whose refund_alert is due at now_ms: raised
	 * (refund_overdue fired, which clears alert_due_ms) or due and not
	 * fired yet. For /metrics: escrowd_refunds_overdue. */
	int (*refunds_overdue)(struct esc_store *s, int64_t now_ms, int64_t *n);
	/* The due time of the soonest row of the deadline queue, fired or
	 * claimed or not (the queue holds only deadlines not yet fired); 0
	 * when the queue is empty. Read by the primary key's first column.
	 * For /metrics: escrowd_deadline_oldest_due_seconds. */
	int (*deadline_soonest)(struct esc_store *s, int64_t *due_ms);

	/* Insert (op->set) or delete a row of the deadline queue. */
	int (*deadline_apply)(struct esc_store *s, const char *order_id,
			      const struct esc_deadline_op *op);
	/* Rows due at or before now_ms, claimed or not, soonest first, at
	 * most max. */
	int (*deadlines_due)(struct esc_store *s, int64_t now_ms, struct esc_deadline *out,
			     size_t max, size_t *n);
	/* Claim for owner up to max deadline rows due at or before now_ms
	 * that no live process holds, soonest first; out lists those claimed.
	 * A row is free when it was never claimed, or owner holds it
	 * already, or its holder has no lease at real_ms (real time): no
	 * process row, or heartbeat_ms + lease_ms <= real_ms. Several
	 * processes may call it at once: a row goes to one of them. Setting a
	 * row again (deadline_apply) drops its claim. */
	int (*deadlines_claim)(struct esc_store *s, int64_t now_ms, const char *owner,
			       int64_t real_ms, struct esc_deadline *out, size_t max, size_t *n);
	/* Give back the claims of owner, or with owner NULL every claim. */
	int (*deadlines_release)(struct esc_store *s, const char *owner);

	/* Deadline workers' leases. process_beat writes p: a new row, or the
	 * heartbeat and lease of its row (started_ms stays). process_end
	 * deletes a process's row, if it is there.
	 * processes_purge deletes the rows whose lease ended at or before
	 * real_ms: their claims are free already. */
	int (*process_beat)(struct esc_store *s, const struct esc_process *p);
	int (*process_end)(struct esc_store *s, const char *id);
	int (*processes_purge)(struct esc_store *s, int64_t real_ms);
	/* The process row of id (ESC_ENOTFOUND when none). */
	int (*process_get)(struct esc_store *s, const char *id, struct esc_process *out);

	/* Append one event, with the history line it carries (row->history):
	 * one row for both. */
	int (*outbox_append)(struct esc_store *s, const struct esc_outbox_row *row);
	/* How many events there are (purged ones not counted). */
	int (*outbox_count)(struct esc_store *s, int64_t *n);
	/* The events f selects, oldest first, at most max: out[i] with its
	 * payload malloc'd into payloads[i] (out[i].payload points at it).
	 * The caller frees payloads[0..*n), also after a failure. */
	int (*events_list)(struct esc_store *s, const struct esc_event_filter *f,
			   struct esc_outbox_row *out, char **payloads, size_t max, size_t *n);

	/* A mark; the same fact again (user, time, order, mark) is one mark:
	 * *added (unless NULL) says whether this call added it. A mark added
	 * counts in its user's reputation counters too. */
	int (*mark_append)(struct esc_store *s, const char *user_id, enum esc_mark mark,
			   const char *order_id, int64_t at_ms, bool *added);
	/* Count the user's marks with at_ms > short_since_ms and > long_since_ms,
	 * from the counters mark_append keeps: only the marks between the
	 * counters' window starts and these are read. Inside a write
	 * transaction the counters are kept at these starts. */
	int (*mark_counts)(struct esc_store *s, const char *user_id, int64_t short_since_ms,
			   int64_t long_since_ms, struct esc_rep_counts *out);
	/* Add to n[mark] the user's marks with after_ms < at_ms <= upto_ms,
	 * each kind (a buyer's since an arbiter lifted a suspension). */
	int (*marks_tally)(struct esc_store *s, const char *user_id, int64_t after_ms,
			   int64_t upto_ms, int32_t n[ESC_MARK_COUNT]);
	/* The user's marks with at_ms > since_ms, newest first. */
	int (*marks_list)(struct esc_store *s, const char *user_id, int64_t since_ms,
			  struct esc_mark_row *out, size_t max, size_t *n);
	/* The time of the user's oldest mark of that kind after since_ms, 0
	 * when there is none (a cancellation budget's window, issue 16). */
	int (*mark_oldest)(struct esc_store *s, const char *user_id, enum esc_mark mark,
			   int64_t since_ms, int64_t *at_ms);
	/* Suspensions lifted: record one; list a user's, newest first. */
	int (*lift_insert)(struct esc_store *s, const struct esc_lift *l);
	int (*lifts_list)(struct esc_store *s, const char *user_id, struct esc_lift *out,
			  size_t max, size_t *n);

	/* Small durable settings, such as the manual clock's time. */
	int (*meta_get)(struct esc_store *s, const char *key, int64_t *value);
	int (*meta_set)(struct esc_store *s, const char *key, int64_t value);

	int (*ledger_check)(struct esc_store *s, struct esc_ledger_report *out);

	/* Sessions, by token hash. session_touch moves last_seen_ms. */
	int (*session_insert)(struct esc_store *s, const struct esc_session *session);
	int (*session_get)(struct esc_store *s, const char *token_hash, struct esc_session *out);
	int (*session_touch)(struct esc_store *s, const char *token_hash, int64_t last_seen_ms);
	int (*session_delete)(struct esc_store *s, const char *token_hash);
	/* Who a request's token is, in one statement (one round trip): the
	 * active (not revoked) operator key whose hash is token_hash (*is_key,
	 * with *key_used_at_ms its last_used_at_ms and key_id, when not NULL,
	 * its id: ESC_ID_SIZE bytes, "" when none), and the session of that
	 * hash (session->token_hash empty when none) with its user (user->id
	 * empty when none). 0, or ESC_ENOTFOUND when it is neither an active
	 * key nor a session. */
	int (*caller_get)(struct esc_store *s, const char *token_hash, bool *is_key,
			  int64_t *key_used_at_ms, char *key_id, struct esc_session *session,
			  struct esc_user *user);
	/* Operator API keys. insert: ESC_EDUPLICATE when the id or the hash
	 * is stored already. exists: an active key of that hash (0 or
	 * ESC_ENOTFOUND). count: the active keys. */
	int (*api_key_insert)(struct esc_store *s, const struct esc_api_key *k);
	int (*api_key_exists)(struct esc_store *s, const char *key_hash); /* 0 or ENOTFOUND */
	int (*api_keys_count)(struct esc_store *s, int64_t *n);
	/* Every key, revoked ones too, oldest first (at most max). */
	int (*api_keys_list)(struct esc_store *s, struct esc_api_key *out, size_t max, size_t *n);
	/* The key of that id, revoked or not; ESC_ENOTFOUND. */
	int (*api_key_get)(struct esc_store *s, const char *id, struct esc_api_key *out);
	/* Revoke the active key of that id at at_ms: ESC_ENOTFOUND when no
	 * active key has it. */
	int (*api_key_revoke)(struct esc_store *s, const char *id, int64_t at_ms);
	/* Set last_used_at_ms to at_ms when it is older than a minute: the
	 * caller calls it only when caller_get's key_used_at_ms is, so a
	 * key's requests write at most once a minute. */
	int (*api_key_touch)(struct esc_store *s, const char *key_hash, int64_t at_ms);

	/* Idempotency keys: put keeps a request's answer (ESC_EDUPLICATE
	 * when the scope has the key already); answer writes a kept key's
	 * status and response anew (ESC_ENOTFOUND when it is not kept), for a
	 * request whose answer grows after the write it was kept with; get
	 * reads one (its response is the caller's to free); purge drops those
	 * created before a time. */
	int (*idempotency_put)(struct esc_store *s, const struct esc_idempotency *rec);
	int (*idempotency_answer)(struct esc_store *s, const struct esc_idempotency *rec);
	int (*idempotency_get)(struct esc_store *s, const char *scope, const char *key,
			       struct esc_idempotency *out);
	int (*idempotency_purge)(struct esc_store *s, int64_t before_ms);

	/* Messages: append numbers the message (m->seq); list gives those with
	 * seq > after_seq, oldest first. */
	int (*message_append)(struct esc_store *s, struct esc_message *m);
	int (*messages_list)(struct esc_store *s, const char *order_id, int64_t after_seq,
			     struct esc_message *out, size_t max, size_t *n);

	/* Read markers of messages (issue 17 item 3): message_read records
	 * that user_id read order_id's messages up to seq (a marker never
	 * moves back, so a repeat or an older seq changes nothing).
	 * messages_unread counts the messages another wrote after the user's
	 * marker: of order_id, or (order_id NULL) of every order the user is
	 * the buyer or the seller of. conversations_list gives the user's
	 * orders that hold messages, those with unread ones first, then by
	 * their newest message, newest first (then order id, descending),
	 * after the order starting_after in that order (NULL: from the
	 * first; an order of no conversation gives none), at most max. */
	int (*message_read)(struct esc_store *s, const char *order_id, const char *user_id,
			    int64_t seq);
	int (*messages_unread)(struct esc_store *s, const char *user_id, const char *order_id,
			       int64_t *n);
	int (*conversations_list)(struct esc_store *s, const char *user_id,
				  const char *starting_after, struct esc_conversation *out,
				  size_t max, size_t *n);

	/* Notifications (issue 17 item 4): the history lines of the orders
	 * user_id is the buyer or the seller of that someone else wrote (the
	 * other party, an arbiter, the operator, escrowd; never the order's
	 * creation), newest first by (at_ms, seq), those before `before` (a
	 * mark; {INT64_MAX, INT64_MAX} from the newest), at most max.
	 * notifications_unread counts those after `after`. notification_mark
	 * reads the user's mark ({0, 0} when none); notification_read moves it
	 * to m when m is after it (never back). */
	int (*notifications_list)(struct esc_store *s, const char *user_id,
				  const struct esc_notification_mark *before,
				  struct esc_history_row *out, size_t max, size_t *n);
	int (*notifications_unread)(struct esc_store *s, const char *user_id,
				    const struct esc_notification_mark *after, int64_t *n);
	int (*notification_mark)(struct esc_store *s, const char *user_id,
				 struct esc_notification_mark *out);
	int (*notification_read)(struct esc_store *s, const char *user_id,
				 const struct esc_notification_mark *m);

	/* Evidence: append numbers the file (ev->seq) and keeps its bytes
	 * (ev->size of them); list gives an order's files, oldest first;
	 * get reads one with its bytes (*data malloc'd, the caller's). */
	int (*evidence_append)(struct esc_store *s, struct esc_evidence *ev, const void *data);
	int (*evidence_list)(struct esc_store *s, const char *order_id, struct esc_evidence *out,
			     size_t max, size_t *n);
	int (*evidence_get)(struct esc_store *s, const char *order_id, int64_t seq,
			    struct esc_evidence *out, void **data);

	/* Add delta (not 0) to a rate-limit key's count in the fixed window
	 * that starts at window_start_ms; *count is the window's count after
	 * it. A key's older window is forgotten when a new one starts. A
	 * positive delta naming a window older than the key's current one (a
	 * process whose clock lags) counts in the current one; a negative
	 * delta takes back only from the window it names, never below 0, so
	 * that what was counted in a window now gone is not taken from the
	 * next. */
	int (*rate_hit)(struct esc_store *s, const char *key, int64_t window_start_ms,
			int64_t delta, int64_t *count);

	/* Webhook endpoints, by id: insert (ESC_EDUPLICATE when the id is
	 * taken), get, update every field but id and created_at_ms, delete
	 * (the last three ESC_ENOTFOUND when there is none); list gives them
	 * newest id first, after the id starting_after (NULL: from the
	 * first), at most max, *has_more telling whether more follow. */
	int (*webhook_endpoint_insert)(struct esc_store *s, const struct esc_webhook_endpoint *w);
	int (*webhook_endpoint_get)(struct esc_store *s, const char *id,
				    struct esc_webhook_endpoint *out);
	int (*webhook_endpoint_update)(struct esc_store *s, const struct esc_webhook_endpoint *w);
	int (*webhook_endpoint_delete)(struct esc_store *s, const char *id);
	int (*webhook_endpoints_list)(struct esc_store *s, const char *starting_after,
				      struct esc_webhook_endpoint *out, size_t max, size_t *n,
				      bool *has_more);
	/* Endpoints registered, enabled or not (at most
	 * ESC_WEBHOOK_ENDPOINTS_MAX: fanout reads that many). */
	int (*webhook_endpoints_count)(struct esc_store *s, int64_t *n);

	/* Deliveries (the worker's). fanout takes up to max events not yet
	 * fanned out, in seq order (PostgreSQL: rows another transaction
	 * holds are skipped, so several daemons split them), makes one
	 * pending delivery due at now_ms per enabled endpoint whose patterns
	 * match the event's type (one that exists already is kept), and marks
	 * them done; *events counts them, *made the deliveries made. */
	int (*webhook_fanout)(struct esc_store *s, int64_t now_ms, size_t max, size_t *events,
			      size_t *made);
	/* Claim for owner up to max pending deliveries due at or before
	 * now_ms, oldest event first, free as deadlines are (no live holder:
	 * unclaimed, or a holder with no lease at real_ms, or a claim whose
	 * claim_until_ms has passed), never two of one (endpoint, order) at
	 * once nor one whose earlier same-(endpoint, order) delivery is still
	 * pending untried or due; each claimed gets claim_until_ms
	 * until_real_ms. out lists those claimed, oldest event first. */
	int (*webhook_deliveries_claim)(struct esc_store *s, int64_t now_ms, const char *owner,
					int64_t real_ms, int64_t until_real_ms,
					struct esc_webhook_delivery *out, size_t max, size_t *n);
	/* Record an attempt of d, claimed by owner: a's row (a->n is
	 * d->attempts), and d's status, next_at_ms, attempts, last_* and
	 * delivered_at_ms; the claim is released. The endpoint's
	 * failing_since_ms is cleared when d was delivered, else set to
	 * a->at_ms unless set already. ESC_ECONFLICT when owner no longer
	 * holds d (its claim passed on): nothing is written. */
	int (*webhook_delivery_finish)(struct esc_store *s, const char *owner,
				       const struct esc_webhook_delivery *d,
				       const struct esc_webhook_attempt *a);
	/* Give back owner's claims on deliveries, or every claim (NULL). */
	int (*webhook_deliveries_release)(struct esc_store *s, const char *owner);
	/* The outbox row of seq with its payload (malloc'd into *payload and
	 * pointed at by out->payload; the caller frees it): ESC_ENOTFOUND
	 * when there is none (purged). */
	int (*webhook_event_get)(struct esc_store *s, int64_t seq, struct esc_outbox_row *out,
				 char **payload);
	/* Enabled endpoints failing since at or before before_ms, at most max. */
	int (*webhook_endpoints_failing)(struct esc_store *s, int64_t before_ms,
					 struct esc_webhook_endpoint *out, size_t max, size_t *n);
	/* Purge the oldest events with at_ms < before_ms, in seq order up to
	 * the first younger one, never the newest event, with their
	 * deliveries and attempts; of up to max rows. A purged event is gone
	 * from the feed and webhook_event_get; a history line it carried
	 * stays (its row loses the payload). *purged counts the events. */
	int (*webhook_purge)(struct esc_store *s, int64_t before_ms, size_t max, size_t *purged);
	/* Begin a transaction that takes no part in PostgreSQL's
	 * serializable checks (READ COMMITTED: each statement sees what was
	 * committed before it), for the delivery worker's fanout, claims and
	 * records, whose row locks and re-checks keep them right and which
	 * would otherwise make the commands' transactions fail as concurrent
	 * with them. SQLite: as begin. */
	int (*begin_weak)(struct esc_store *s);
	int (*webhook_stats)(struct esc_store *s, struct esc_webhook_stats *out);

	/* Deliveries as the operator sees them (GET /v1/webhook-deliveries).
	 * list gives those f lets through, newest event first (then by id,
	 * descending), at most max, *has_more telling whether more follow;
	 * get reads one (ESC_ENOTFOUND when there is none). attempts_list gives a delivery's
	 * attempts with n > after_n, oldest first, at most max. retry_now makes a delivery pending
	 * and due at now_ms whatever its status, and drops its claim (a worker sending it now finds
	 * it passed on: ESC_ECONFLICT at finish, and it is sent again): ESC_ENOTFOUND when there is
	 * none. */
	int (*webhook_deliveries_list)(struct esc_store *s,
				       const struct esc_webhook_delivery_filter *f,
				       struct esc_webhook_delivery_seen *out, size_t max, size_t *n,
				       bool *has_more);
	int (*webhook_delivery_get)(struct esc_store *s, const char *id,
				    struct esc_webhook_delivery_seen *out);
	int (*webhook_attempts_list)(struct esc_store *s, const char *delivery_id, int64_t after_n,
				     struct esc_webhook_attempt *out, size_t max, size_t *n);
	int (*webhook_delivery_retry_now)(struct esc_store *s, const char *id, int64_t now_ms);

	/* Policy versions (issue 16). policy_add keeps a new one numbered
	 * one after the last (*version): ESC_EDUPLICATE when its hash is kept
	 * already, or when a concurrent transaction took the number (run the
	 * transaction again). policy_find gives the version of a hash
	 * (ESC_ENOTFOUND when none); policy_get one version (ESC_ENOTFOUND);
	 * policies_list those after after_version, oldest first, at most max.
	 * The texts read are malloc'd: the caller frees them, also after a
	 * failure (policies_list sets *n to those read). */
	int (*policy_add)(struct esc_store *s, const char *hash, const char *text,
			  int64_t created_at_ms, int64_t *version);
	int (*policy_find)(struct esc_store *s, const char *hash, int64_t *version);
	int (*policy_get)(struct esc_store *s, int64_t version, struct esc_policy_row *out);
	int (*policies_list)(struct esc_store *s, int64_t after_version, struct esc_policy_row *out,
			     size_t max, size_t *n);
};

/* Fault injection for tests: called before every wrapped verb with its
 * name; a non-zero return is returned instead of calling the backend. */
typedef int (*esc_store_fault_fn)(void *arg, const char *verb);

struct esc_store {
	const struct esc_store_ops *ops;
	esc_store_fault_fn fault;
	void *fault_arg;
	/* Set by an open that migrates (ESC_STORE_NORMAL, ESC_STORE_SCRATCH;
	 * 0 after the others): the schema version the store had when opened,
	 * 0 for a new store (PostgreSQL: as first read; other processes may
	 * have migrated it since), and the one it has now, this binary's. For
	 * escrowd migrate to say what it did. */
	int schema_version_found;
	int schema_version;
};

/* Open a store by URL: "sqlite:PATH" or a plain path (SQLite), or a
 * "postgresql://" or "postgres://" libpq URI (PostgreSQL, one connection
 * per store; see store/pg/pg.h). Applies migrations. On success *out is
 * owned by the caller; release with esc_store_close(). */
int esc_store_open(const char *url, struct esc_store **out, char *err, size_t err_size);

/* How esc_store_open_mode opens a store. */
enum esc_store_mode {
	ESC_STORE_NORMAL, /* as esc_store_open */
	/* Reads only, for a tool that must leave the store as it is
	 * (escrowd replay): nothing is migrated or written (SQLite: the file
	 * opened read-only, PostgreSQL: every transaction READ ONLY), and a
	 * store whose schema is not this version's is refused (ESC_EUNSUPPORTED,
	 * err says to migrate it). A path with no file is ESC_ENOTFOUND. */
	ESC_STORE_READ,
	/* A throwaway SQLite store (replay's scratch, ":memory:" or a file):
	 * migrated, but no commit is made durable (synchronous off, the
	 * journal in memory, no checkpointer). Its data may be lost in a
	 * crash: never a real store. PostgreSQL refuses it (ESC_EINVAL). */
	ESC_STORE_SCRATCH,
	/* A read connection of a daemon's pool (engine/engine.c), opened
	 * after its writer's ESC_STORE_NORMAL one has migrated the store:
	 * it refuses writes (as after read_only), migrates nothing (a schema
	 * not this version's is refused, as by ESC_STORE_READ) and, on
	 * SQLite, leaves checkpoints to the writer's connection and prepares
	 * each statement at its first use. Seven of them opened as NORMAL
	 * ones took half of a daemon's start. */
	ESC_STORE_READER,
};
int esc_store_open_mode(const char *url, enum esc_store_mode mode, struct esc_store **out,
			char *err, size_t err_size);
void esc_store_close(struct esc_store *s);

/* What the backend last said of a failure on s, on one line, for the log
 * line of an answer that a store's failure made (a 503, say): "" when it
 * said nothing or keeps no message (SQLite). Valid until s's next call;
 * the verbs themselves return only ESC_E* codes. */
const char *esc_store_last_error(const struct esc_store *s);

/* The WAL frames s appended and its page size (store_ops.wal_stats):
 * false, and both 0, when the backend keeps no such figure. */
bool esc_store_wal_stats(const struct esc_store *s, int64_t *frames, int64_t *page_size);

/* store_ops.changes: -2 when the backend gives no such count. */
int64_t esc_store_changes(const struct esc_store *s);

/* Transactions a backend ran again by itself, in every store of the
 * process: a verb's own transaction that lost to a concurrent one
 * (PostgreSQL's serialization failures, pg.c's atomically). The engine
 * counts the transactions it runs again (esc_engine_counters' retries);
 * /metrics adds both. count adds one. */
int64_t esc_store_retries(void);
void esc_store_retries_count(void);

static inline int esc_store_fault_(struct esc_store *s, const char *verb)
{
	return s->fault ? s->fault(s->fault_arg, verb) : 0;
}

/* A verb's ESC_EBUG is a write sent through a connection made read-only:
 * a bug of ours, which aborts here (util/bug.h), naming the verb and what
 * the store said. Only the store's own tests call a verb without it. */
static inline int esc_store_checked_(struct esc_store *s, const char *verb, int rc)
{
	if (rc == ESC_EBUG)
		ESC_BUG("the store verb %s wrote through a read-only connection: %s", verb,
			esc_store_last_error(s));
	return rc;
}

/* rc = the verb's result, or the injected fault's. */
#define ESC_STORE(rc, s, verb, ...)                                                                \
	do {                                                                                       \
		(rc) = esc_store_fault_((s), #verb);                                               \
		if (!(rc))                                                                         \
			(rc) = esc_store_checked_((s), #verb, (s)->ops->verb((s), __VA_ARGS__));   \
	} while (0)
#define ESC_STORE0(rc, s, verb)                                                                    \
	do {                                                                                       \
		(rc) = esc_store_fault_((s), #verb);                                               \
		if (!(rc))                                                                         \
			(rc) = esc_store_checked_((s), #verb, (s)->ops->verb((s)));                \
	} while (0)

#endif
