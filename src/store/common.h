/* common.h - what the two store backends share: the stored names of the
 * enums, each record's columns (declared once: name, kind, place in the
 * struct, enum names) with the one code that binds and reads them, which
 * accounts keep a balance row, the order of claimed deadlines, the ledger
 * check's queries and the wording of its problems, and the verbs of the
 * ops table.
 *
 * A backend binds through struct esc_binder and reads through struct
 * esc_row, two small adapters over its own statement or result. Each
 * backend keeps what is its own: its SQL and placeholders, its
 * transactions, retries and error codes, its migrations. */
#ifndef ESC_STORE_COMMON_H
#define ESC_STORE_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* ---- enums stored as their names ---- */

struct esc_enum {
	int count;
	const char *(*name)(int value);
};

extern const struct esc_enum esc_enum_state, esc_enum_actor, esc_enum_event, esc_enum_deadline,
	esc_enum_refund_status, esc_enum_refund_to, esc_enum_method, esc_enum_mark,
	esc_enum_dispute_state;

/* The stored name of value, or NULL when value is out of range. */
const char *esc_enum_name(const struct esc_enum *e, int value);

/* The value whose name is text (NUL-terminated, or NULL), or -1. */
int esc_enum_parse(const struct esc_enum *e, const char *text);

/* ---- rows ---- */

/* One row of a backend's result, read by column number from 0. text is
 * NUL-terminated, *bytes long, or NULL for SQL NULL; it lives until the
 * backend moves on. */
struct esc_row {
	int64_t (*i64)(const struct esc_row *row, int col);
	const char *(*text)(const struct esc_row *row, int col, size_t *bytes);
	const void *src; /* the backend's statement or result */
	int index;       /* the row of src, where the backend needs one */
};

/* A text column as a C string: "" for SQL NULL. */
const char *esc_row_str(const struct esc_row *row, int col);

/* Copy text (n bytes, NULL when n is 0) into a field of size bytes:
 * bounded, cut at a UTF-8 character boundary, always NUL-terminated. */
void esc_field_copy(char *dst, size_t size, const char *text, size_t n);

/* An enum column into *out: 0, or ESC_EIO for a name this binary does not
 * know (a newer binary wrote it, or the row was changed by hand). */
int esc_row_enum(const struct esc_row *row, int col, const struct esc_enum *e, int *out);

/* ---- records: each one's columns, declared once ---- */

enum esc_col_kind {
	ESC_COL_INT,  /* int64_t, or int (clamped when read) */
	ESC_COL_TEXT, /* a char array: bound up to its NUL, read cut to fit */
	ESC_COL_ENUM, /* an enum, stored as its name */
};

struct esc_col {
	const char *name; /* the column's */
	enum esc_col_kind kind;
	size_t offset;                /* of the field in the record */
	size_t size;                  /* of the field */
	const struct esc_enum *names; /* ESC_COL_ENUM's */
};

/* A record's columns, in the order the backends select and insert them. */
struct esc_record {
	const struct esc_col *cols;
	int count;
	size_t size; /* of the struct */
};

/* orders: id, buyer_id, seller_id, then the columns an update writes
 * (the first three are written at insert only: the last two are indexed,
 * and leaving them out of the UPDATE keeps their indexes off the hot
 * path). The order's statements are built from this table (esc_sql_init),
 * so a new column is one row of it and one migration. */
#define ESC_ORDER_KEYS 3
extern const struct esc_record esc_order_record;

#define ESC_USER_COLUMNS                                                                           \
	"id, role, name, email, password_hash, created_at_ms, suspension_lifted_at_ms, "           \
	"lift_ms_cancellations, lift_ms_lost_disputes"
extern const struct esc_record esc_user_record;

#define ESC_HISTORY_COLUMNS                                                                        \
	"order_id, version, at_ms, actor, actor_id, event, from_state, to_state, type, detail"
extern const struct esc_record esc_history_record;
/* struct esc_history_row: seq, then ESC_HISTORY_COLUMNS. */
extern const struct esc_record esc_history_row_record;

#define ESC_REFUND_COLUMNS                                                                         \
	"id, order_id, amount_minor, method, status, created_at_ms, resolved_at_ms, "              \
	"alert_due_ms, settle_days_min, settle_days_max"
extern const struct esc_record esc_refund_record;

#define ESC_DEADLINE_COLUMNS "due_ms, order_id, kind, ref"
extern const struct esc_record esc_deadline_record;

#define ESC_ITEM_COLUMNS "title, quantity, unit_price_minor, image_url"
extern const struct esc_record esc_item_record;

#define ESC_API_KEY_COLUMNS "id, name, key_hash, created_at_ms, last_used_at_ms, revoked_at_ms"
extern const struct esc_record esc_api_key_record;

#define ESC_SESSION_COLUMNS "token_hash, user_id, csrf, created_at_ms, last_seen_ms"
extern const struct esc_record esc_session_record;

#define ESC_MARK_COLUMNS "at_ms, order_id, mark"
extern const struct esc_record esc_mark_record;

/* Reputation counters (issue 15): one row a user in reputation_counts,
 * holding for each mark the count of the user's marks with at_ms >
 * short_since_ms (short_<mark>) and with at_ms > long_since_ms
 * (long_<mark>). mark_append adds each new mark to them; mark_counts
 * moves the two window starts to those asked for, counting only the marks
 * between the old start and the new (esc_rep_move), and keeps them when
 * it is in a write transaction: each mark is read once as it enters the
 * counts and once as it leaves each window, instead of every window's
 * marks at every count. X(index, name, short parameter, long parameter)
 * in enum esc_mark's order (test_store.c checks it against
 * esc_mark_name); the parameters are REP_PUT's. */
#define ESC_REP_MARKS(X)                                                                           \
	X(0, buyer_paid, 4, 13)                                                                    \
	X(1, buyer_cancelled, 5, 14)                                                               \
	X(2, buyer_dispute_opened, 6, 15)                                                          \
	X(3, buyer_dispute_lost, 7, 16)                                                            \
	X(4, seller_sold, 8, 17)                                                                   \
	X(5, seller_fault_cancel, 9, 18)                                                           \
	X(6, seller_missed_ship, 10, 19)                                                           \
	X(7, seller_dispute_lost, 11, 20)                                                          \
	X(8, seller_invalid_tracking, 12, 21)
/* The window start of a counter row that counts every mark (a new row's,
 * and each migrated row's until its first count). */
#define ESC_REP_SINCE_ALL_MS        (-4611686018427387904LL)
#define ESC_SQL_REP_SINCE_ALL       "-4611686018427387904"
#define ESC_REP_COL_S(k, m, sp, lp) ", short_" #m
#define ESC_REP_COL_L(k, m, sp, lp) ", long_" #m
#define ESC_REP_COLUMNS                                                                            \
	"short_since_ms, long_since_ms" ESC_REP_MARKS(ESC_REP_COL_S) ESC_REP_MARKS(ESC_REP_COL_L)

/* A user's counter row, as stored. */
struct esc_rep_row {
	int64_t short_since_ms, long_since_ms;
	struct esc_rep_counts counts;
};

/* A row of ESC_REP_COLUMNS into out. */
void esc_rep_row_read(const struct esc_row *row, struct esc_rep_row *out);

/* Move r's window starts to short_since_ms and long_since_ms, keeping its
 * counts exact: tally(arg, after, upto, n) adds to n[mark] the user's
 * marks with after < at_ms <= upto, and is called only for a start that
 * moves (either way: a process whose clock lags asks for an earlier one).
 * *changed says whether a count changed. 0, a tally's failure, or
 * ESC_EIO when the counts went negative (counters that disagree with
 * their marks: escrowd check names them). */
int esc_rep_move(struct esc_rep_row *r, int64_t short_since_ms, int64_t long_since_ms,
		 int (*tally)(void *arg, int64_t after, int64_t upto, int32_t n[ESC_MARK_COUNT]),
		 void *arg, bool *changed);

#define ESC_LIFT_COLUMNS "user_id, at_ms, arbiter_id, reason"
extern const struct esc_record esc_lift_record;

#define ESC_MESSAGE_COLUMNS "order_id, seq, at_ms, author_id, role, body"
extern const struct esc_record esc_message_record;
/* struct esc_conversation: messages, unread, then the newest message's
 * ESC_MESSAGE_COLUMNS. */
extern const struct esc_record esc_conversation_record;

/* The ids of the orders user ?1 is the buyer or the seller of: each half
 * reads its own index (orders_buyer, orders_seller). */
#define ESC_SQL_USER_ORDERS                                                                        \
	"SELECT id FROM orders WHERE buyer_id = ?1 UNION ALL "                                     \
	"SELECT id FROM orders WHERE seller_id = ?1"
/* The history lines that are user ?1's notifications (store.h). */
#define ESC_SQL_NOTIFICATIONS_OF                                                                   \
	"FROM outbox WHERE order_id IN (" ESC_SQL_USER_ORDERS ") AND event <> '' "                 \
	"AND event <> 'create' AND actor_id <> ?1"
/* Conversations (conversations_list): each of user ?1's orders that holds
 * messages, with u (1 when some are unread) and the newest one's time. */
#define ESC_SQL_CONVERSATIONS                                                                      \
	"WITH c AS (SELECT m.order_id AS order_id, COUNT(*) AS messages, "                         \
	"SUM(CASE WHEN m.author_id <> ?1 AND m.seq > COALESCE(r.seq, 0) THEN 1 ELSE 0 END) "       \
	"AS unread, MAX(m.seq) AS last_seq FROM messages AS m "                                    \
	"LEFT JOIN message_reads AS r ON r.order_id = m.order_id AND r.user_id = ?1 "              \
	"WHERE m.order_id IN (" ESC_SQL_USER_ORDERS ") GROUP BY m.order_id), "                     \
	"k AS (SELECT c.order_id, c.messages, c.unread, c.last_seq, "                              \
	"CASE WHEN c.unread > 0 THEN 1 ELSE 0 END AS u, l.at_ms AS last_at_ms FROM c "             \
	"JOIN messages AS l ON l.order_id = c.order_id AND l.seq = c.last_seq) "                   \
	"SELECT k.messages, k.unread, l.order_id, l.seq, l.at_ms, l.author_id, l.role, l.body "    \
	"FROM k JOIN messages AS l ON l.order_id = k.order_id AND l.seq = k.last_seq "             \
	"WHERE CAST(?2 AS TEXT) IS NULL OR (k.u, k.last_at_ms, k.order_id) < "                     \
	"(SELECT u, last_at_ms, order_id FROM k WHERE order_id = ?2) "                             \
	"ORDER BY k.u DESC, k.last_at_ms DESC, k.order_id DESC LIMIT ?3"

#define ESC_EVIDENCE_COLUMNS                                                                       \
	"order_id, seq, at_ms, author_id, role, content_type, filename, size, sha256"
extern const struct esc_record esc_evidence_record;

#define ESC_WEBHOOK_ENDPOINT_COLUMNS                                                               \
	"id, created_at_ms, url, description, events, enabled, secret, secret_previous, "          \
	"secret_previous_until_ms, updated_at_ms, failing_since_ms, disabled_at_ms"
extern const struct esc_record esc_webhook_endpoint_record;
/* webhook_endpoint_update binds id at ?1 and the columns from this one
 * on at ?2.. (created_at_ms, before it, is never written again). */
#define ESC_WEBHOOK_ENDPOINT_KEYS 2

#define ESC_WEBHOOK_DELIVERY_COLUMNS                                                               \
	"id, event_seq, endpoint_id, order_id, status, created_at_ms, next_at_ms, attempts, "      \
	"claim_owner, claim_until_ms, last_attempt_at_ms, last_status_code, delivered_at_ms"
extern const struct esc_record esc_webhook_delivery_record;

#define ESC_WEBHOOK_ATTEMPT_COLUMNS "delivery_id, n, at_ms, status_code, duration_ms, error, answer"
extern const struct esc_record esc_webhook_attempt_record;

/* orders_list's filters; each combination is its own statement so that
 * the planner picks the index and the id range for it. */
enum {
	ESC_F_BUYER = 1,
	ESC_F_SELLER = 2,
	ESC_F_STATE = 4,
	ESC_F_AFTER = 8,
	ESC_F_DISPUTE = 16,
	ESC_F_Q = 32,
	ESC_F_FROM = 64,
	ESC_F_UNTIL = 128,
	ESC_F_OLDEST = 256,
	ESC_F_ESCALATED = 512,
	ESC_F_COMBINATIONS = 1024
};

/* What a search binds: the backend's, kept until the statement has run
 * (the binders do not copy). */
struct esc_order_search {
	char exact[ESC_SEARCH_MAX + 1];      /* q in lower case */
	char id_end[2 * ESC_SEARCH_MAX + 2]; /* LIKE '%q', or "" (matches no id) */
	char title[2 * ESC_SEARCH_MAX + 3];  /* LIKE '%q%' in lower case */
};

/* The ESC_F_* filters f sets. */
unsigned esc_order_filter_mask(const struct esc_order_filter *f);

/* orders_list's statement for the filters of mask, with ?N placeholders,
 * into sql (size bytes; a statement longer than that is a bug). */
void esc_orders_list_sql(unsigned mask, char *sql, size_t size);

/* Whether the names of r's columns from first on, joined by ", ", are
 * list: the SQL and the mapping name the same columns. */
bool esc_record_names(const struct esc_record *r, int first, const char *list);

/* Read a row whose columns are r's, in its order, into out (cleared
 * first): 0, or ESC_EIO for an enum name this binary does not know. */
int esc_record_read(const struct esc_record *r, const struct esc_row *row, void *out);

/* How a backend binds a value to parameter param (1 for the first). */
struct esc_binder {
	void (*i64)(void *bind, int param, int64_t value);
	void (*text)(void *bind, int param, const char *text, size_t bytes);
};

/* Bind count columns of in, r's from first on, to the parameters from
 * param on: 0, or ESC_EINVAL for an enum value with no name (the others
 * are bound all the same). */
int esc_record_bind(const struct esc_record *r, int first, int count, const void *in, int param,
		    const struct esc_binder *b, void *bind);

/* Policy versions (issue 16), the same in both backends: a row of
 * POLICIES_LIST (version, hash, text, created_at_ms) into out, its text
 * malloc'd (0, or ESC_ENOMEM); and the policy_get verb, one row of the
 * backend's policies_list. */
int esc_policy_row_read(const struct esc_row *row, struct esc_policy_row *out);
int esc_policy_get(struct esc_store *s, int64_t version, struct esc_policy_row *out);

/* ---- the SQL both dialects share ---- */

/* Statements are written once, with ?N placeholders: SQLite takes them
 * as they are, and PostgreSQL's backend writes each $N when it prepares
 * it (esc_sql_dollars). A statement whose SQL differs in more than its
 * placeholders stays in its backend's own list. */

/* Copy sql into out (size bytes) with each ?N placeholder written $N;
 * quoted text and quoted names are copied as they are. A statement
 * longer than out is a bug. */
void esc_sql_dollars(const char *sql, char *out, size_t size);

/* The longest statement a backend builds or rewrites, in bytes, and the
 * most parameters one takes (order_insert's, with room to grow:
 * esc_sql_init asserts that the order's columns fit). */
#define ESC_SQL_SIZE       8192
#define ESC_SQL_PARAMS_MAX 128

/* The order's statements, built from esc_order_record with ?N
 * placeholders by esc_sql_init(), which each backend calls when it opens
 * a store and before it prepares any; read-only after that.
 * - esc_sql_order_select: every column, in the table's order, FROM orders
 * - esc_sql_order_get: that WHERE id = ?1
 * - esc_sql_order_insert: every column, bound by esc_order_bind_insert
 * - esc_sql_order_update: the columns after the keys, WHERE id and
 *   version, bound by esc_order_bind_update */
extern char esc_sql_order_select[ESC_SQL_SIZE], esc_sql_order_get[ESC_SQL_SIZE],
	esc_sql_order_insert[ESC_SQL_SIZE], esc_sql_order_update[ESC_SQL_SIZE];

/* Build the statements above, once per process (pthread_once); later
 * calls return at once. */
void esc_sql_init(void);

/* The number of parameters of esc_sql_order_insert and of
 * esc_sql_order_update. */
int esc_order_insert_params(void);
int esc_order_update_params(void);

/* Bind o to esc_sql_order_insert's parameters: 0, or ESC_EINVAL for an
 * enum value with no name (the others are bound all the same). */
int esc_order_bind_insert(const struct esc_order *o, const struct esc_binder *b, void *bind);

/* Bind o, and the version the row must still have, to
 * esc_sql_order_update's parameters: as esc_order_bind_insert. */
int esc_order_bind_update(const struct esc_order *o, int64_t expected_version,
			  const struct esc_binder *b, void *bind);

/* The history is read from the one event table (outbox): an order's rows
 * that carry a history line (event <> ''). */
#define ESC_SQL_USER_SELECT    "SELECT " ESC_USER_COLUMNS " FROM users"
#define ESC_SQL_HISTORY_SELECT "SELECT " ESC_HISTORY_COLUMNS " FROM outbox"
#define ESC_SQL_REFUND_SELECT  "SELECT " ESC_REFUND_COLUMNS " FROM refunds"
#define ESC_SQL_WEBHOOK_ENDPOINT_SELECT                                                            \
	"SELECT " ESC_WEBHOOK_ENDPOINT_COLUMNS " FROM webhook_endpoints"
/* After the refund named by parameter p in (created_at_ms, id) order, or
 * from the first when it is NULL; an unknown refund compares as NULL,
 * which gives none. (PostgreSQL needs the CAST to type a NULL.) */
#define ESC_SQL_REFUNDS_AFTER(p)                                                                   \
	"(CAST(" p " AS TEXT) IS NULL OR (created_at_ms, id) > "                                   \
	"(SELECT created_at_ms, id FROM refunds WHERE id = " p "))"

/* A deadline row that the owner ?3 may claim at the real time ?4:
 * unclaimed, its own already, or held by a process without a lease then. */
#define ESC_SQL_CLAIM_FREE                                                                         \
	"(claim_owner IS NULL OR claim_owner = ?3 OR NOT EXISTS (SELECT 1 FROM processes p "       \
	"WHERE p.id = deadlines.claim_owner AND p.heartbeat_real_ms + p.lease_ms > ?4))"

/* outbox_append's row: its history line, when it carries one, is of the
 * same order, version, time and type (asserted); the payload to store
 * ("" stored as "null", which the feed shows the same: an empty payload
 * marks a purged event). */
void esc_outbox_history_assert(const struct esc_outbox_row *row);
const char *esc_outbox_payload(const struct esc_outbox_row *row);
/* The event row; each store writes its fanout_pending row beside it in
 * the same transaction (SQLite: a second statement, PostgreSQL: this
 * one's RETURNING seq). */
#define ESC_SQL_OUTBOX_INSERT                                                                      \
	"INSERT INTO outbox (" ESC_HISTORY_COLUMNS ", payload) VALUES "                            \
	"(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"

/* ---- webhook deliveries (the worker's verbs) ---- */

/* The events fanout takes: those with a row in fanout_pending, which the
 * command writes beside its event and fanout deletes (the event row is
 * written once). PostgreSQL has its own (pg.c's FANOUT_EVENTS: the
 * pending rows taken FOR UPDATE SKIP LOCKED, then joined). */
#define ESC_SQL_FANOUT_EVENTS                                                                      \
	"SELECT f.seq, o.type, o.order_id, o.at_ms FROM fanout_pending f JOIN outbox o "           \
	"ON o.seq = f.seq ORDER BY f.seq LIMIT ?1"

/* Delivery row t is held: by a process with a lease at the real time ?4,
 * and before its claim_until_ms. */
#define ESC_SQL_DELIVERY_HELD(t)                                                                   \
	"(" t ".claim_owner IS NOT NULL AND " t ".claim_until_ms > ?4 AND EXISTS (SELECT 1 FROM "  \
	"processes p WHERE p.id = " t ".claim_owner AND p.heartbeat_real_ms + p.lease_ms > ?4))"

/* The purge's cursor: every event up to this seq is purged (meta). */
#define ESC_META_EVENTS_PURGED "events_purged_seq"

/* Claim for ?3 up to ?2 deliveries due at ?1 (escrowd's clock), not held
 * at the real time ?4, with the claim held until ?5: see store.h. Neither
 * two of one (endpoint, order) at once nor one ahead of an earlier one
 * not tried yet or due again, nor one after an earlier event of its order
 * that is not fanned out yet (another daemon holds it: its delivery does
 * not exist yet), nor one of an endpoint that holds
 * ESC_SQL_ENDPOINT_HELD_MAX already. The outer test runs again on each row
 * (PostgreSQL outside SERIALIZABLE: a row claimed meanwhile is skipped). */
/* An endpoint with this many deliveries held gets no more claimed: a
 * receiver that hangs holds at most these (and one claim's batch) of the
 * worker's transfers, not all of them. */
#define ESC_SQL_ENDPOINT_HELD_MAX "32"
/* clang-format off */
#define ESC_SQL_DELIVERIES_CLAIM                                                                   \
	"UPDATE webhook_deliveries AS w SET claim_owner = ?3, claim_until_ms = ?5 "                \
	"WHERE w.id IN (SELECT d.id FROM webhook_deliveries d WHERE d.status = 'pending' "         \
	"AND d.next_at_ms <= ?1 AND NOT " ESC_SQL_DELIVERY_HELD("d") " "                           \
	"AND NOT EXISTS (SELECT 1 FROM webhook_deliveries o WHERE d.order_id <> '' "               \
	"AND o.endpoint_id = d.endpoint_id AND o.order_id = d.order_id "                           \
	"AND o.status = 'pending' AND o.id <> d.id "                                               \
	"AND ((o.event_seq < d.event_seq AND (o.attempts = 0 OR o.next_at_ms <= ?1)) "             \
	"OR " ESC_SQL_DELIVERY_HELD("o") ")) "                                                     \
	"AND NOT EXISTS (SELECT 1 FROM fanout_pending f JOIN outbox e ON e.seq = f.seq "           \
	"WHERE d.order_id <> '' AND f.seq < d.event_seq AND e.order_id = d.order_id) "             \
	"AND (SELECT COUNT(*) FROM webhook_deliveries h WHERE h.endpoint_id = d.endpoint_id "      \
	"AND h.claim_owner IS NOT NULL AND " ESC_SQL_DELIVERY_HELD("h") ") < "                     \
	ESC_SQL_ENDPOINT_HELD_MAX " "                                                              \
	"ORDER BY d.event_seq, d.id LIMIT ?2) AND w.status = 'pending' "                           \
	"AND NOT " ESC_SQL_DELIVERY_HELD("w") " RETURNING " ESC_WEBHOOK_DELIVERY_COLUMNS
/* clang-format on */

#define ESC_SQL_DELIVERY_STATEMENTS(X)                                                             \
	X(FANOUT_ENDPOINTS, "SELECT id, events FROM webhook_endpoints WHERE enabled = 1 "          \
			    "ORDER BY id LIMIT ?1")                                                \
	X(FANOUT_INSERT, "INSERT INTO webhook_deliveries (id, event_seq, endpoint_id, order_id, "  \
			 "status, created_at_ms, next_at_ms) VALUES (?1, ?2, ?3, ?4, 'pending', "  \
			 "?5, ?5) ON CONFLICT (event_seq, endpoint_id) DO NOTHING")                \
	X(FANOUT_DONE, "DELETE FROM fanout_pending WHERE seq = ?1")                                \
	X(DELIVERIES_CLAIM, ESC_SQL_DELIVERIES_CLAIM)                                              \
	X(DELIVERY_FINISH,                                                                         \
	  "UPDATE webhook_deliveries SET status = ?3, next_at_ms = ?4, attempts = ?5, "            \
	  "last_attempt_at_ms = ?6, last_status_code = ?7, delivered_at_ms = ?8, "                 \
	  "claim_owner = NULL, claim_until_ms = 0 WHERE id = ?1 AND claim_owner = ?2")             \
	X(ATTEMPT_INSERT, "INSERT INTO webhook_attempts (" ESC_WEBHOOK_ATTEMPT_COLUMNS ") "        \
			  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")                                   \
	X(ENDPOINT_FAILING, "UPDATE webhook_endpoints SET failing_since_ms = CASE "                \
			    "WHEN CAST(?2 AS BIGINT) = 0 THEN 0 WHEN failing_since_ms = 0 "        \
			    "THEN CAST(?2 AS BIGINT) ELSE failing_since_ms END WHERE id = ?1")     \
	X(DELIVERIES_RELEASE,                                                                      \
	  "UPDATE webhook_deliveries SET claim_owner = NULL, claim_until_ms = 0 "                  \
	  "WHERE claim_owner IS NOT NULL AND (CAST(?1 AS TEXT) IS NULL OR claim_owner = ?1)")      \
	X(EVENT_GET, "SELECT seq, at_ms, type, order_id, version, payload FROM outbox "            \
		     "WHERE seq = ?1 AND payload <> ''")                                           \
	X(ENDPOINTS_FAILING, ESC_SQL_WEBHOOK_ENDPOINT_SELECT                                       \
	  " WHERE enabled = 1 AND failing_since_ms > 0 AND failing_since_ms <= ?1 "                \
	  "ORDER BY id LIMIT ?2")                                                                  \
	X(PURGE_WINDOW, "SELECT seq, at_ms, CASE WHEN payload = '' THEN 0 ELSE 1 END FROM outbox " \
			"WHERE seq > ?1 ORDER BY seq LIMIT ?2")                                    \
	X(PURGE_LAST, "SELECT COALESCE(MAX(seq), 0) FROM outbox")                                  \
	X(PURGE_ATTEMPTS, "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM "     \
			  "webhook_deliveries WHERE event_seq > ?1 AND event_seq <= ?2)")          \
	X(PURGE_DELIVERIES, "DELETE FROM webhook_deliveries WHERE event_seq > ?1 "                 \
			    "AND event_seq <= ?2")                                                 \
	X(PURGE_EVENTS, "DELETE FROM outbox WHERE seq > ?1 AND seq <= ?2 AND event = ''")          \
	X(PURGE_PAYLOADS, "UPDATE outbox SET payload = '' WHERE seq > ?1 "                         \
			  "AND seq <= ?2 AND event <> '' AND payload <> ''")                       \
	X(PURGE_PENDING, "DELETE FROM fanout_pending WHERE seq > ?1 AND seq <= ?2")                \
	X(WEBHOOK_STATS,                                                                           \
	  "SELECT COALESCE((SELECT o.at_ms FROM outbox o "                                         \
	  "WHERE o.seq = (SELECT MIN(seq) FROM fanout_pending)), 0), "                             \
	  "COALESCE((SELECT MIN(o.at_ms) FROM webhook_deliveries d JOIN outbox o "                 \
	  "ON o.seq = d.event_seq WHERE d.status = 'pending'), 0), "                               \
	  "(SELECT COUNT(*) FROM webhook_endpoints WHERE enabled = 0 AND disabled_at_ms > 0), "    \
	  "(SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending')")

/* Whether an endpoint's patterns (events: joined by single spaces) take
 * an event of type type. */
bool esc_webhook_events_match(const char *events, const char *type);

/* qsort order of claimed deliveries: oldest event first. */
int esc_delivery_cmp(const void *a, const void *b);

/* Deliveries as the operator sees them: the row and its event's type, a
 * column after the record's. The list goes newest event first (then by
 * id: ids sort by the time on escrowd's clock, which a manual clock
 * holds still), with the filters ?1 endpoint_id (NULL: any), ?2
 * event_seq (-1: any), ?3 status (NULL: any), ?4 a delivery id to start
 * after (NULL: from the newest; an unknown one gives none), and ?5 the
 * LIMIT. Each statement names every parameter (PostgreSQL types them
 * from their use); BY_EVENT and BY_ENDPOINT lead with the filter their
 * index serves. */
#define ESC_SQL_WEBHOOK_SEEN_SELECT                                                                \
	"SELECT " ESC_WEBHOOK_DELIVERY_COLUMNS ", (SELECT o.type FROM outbox o "                   \
	"WHERE o.seq = webhook_deliveries.event_seq) FROM webhook_deliveries"
#define ESC_SQL_WEBHOOK_SEEN_FILTER                                                                \
	"(CAST(?1 AS TEXT) IS NULL OR endpoint_id = ?1) AND "                                      \
	"(CAST(?2 AS BIGINT) < 0 OR event_seq = ?2) AND "                                          \
	"(CAST(?3 AS TEXT) IS NULL OR status = ?3) AND "                                           \
	"(CAST(?4 AS TEXT) IS NULL OR (event_seq, id) < (SELECT s.event_seq, s.id FROM "           \
	"webhook_deliveries s WHERE s.id = ?4)) ORDER BY event_seq DESC, id DESC LIMIT ?5"
#define ESC_SQL_WEBHOOK_SEEN(X)                                                                    \
	X(WEBHOOK_DELIVERIES_LIST,                                                                 \
	  ESC_SQL_WEBHOOK_SEEN_SELECT " WHERE " ESC_SQL_WEBHOOK_SEEN_FILTER)                       \
	X(WEBHOOK_DELIVERIES_BY_EVENT,                                                             \
	  ESC_SQL_WEBHOOK_SEEN_SELECT " WHERE event_seq = ?2 AND " ESC_SQL_WEBHOOK_SEEN_FILTER)    \
	X(WEBHOOK_DELIVERIES_BY_ENDPOINT,                                                          \
	  ESC_SQL_WEBHOOK_SEEN_SELECT " WHERE endpoint_id = ?1 AND " ESC_SQL_WEBHOOK_SEEN_FILTER)  \
	X(WEBHOOK_DELIVERY_GET, ESC_SQL_WEBHOOK_SEEN_SELECT " WHERE id = ?1")                      \
	X(WEBHOOK_ATTEMPTS_LIST, "SELECT " ESC_WEBHOOK_ATTEMPT_COLUMNS " FROM webhook_attempts "   \
				 "WHERE delivery_id = ?1 AND n > ?2 ORDER BY n LIMIT ?3")          \
	X(WEBHOOK_DELIVERY_RETRY_NOW, "UPDATE webhook_deliveries SET status = 'pending', "         \
				      "next_at_ms = ?2, claim_owner = NULL, claim_until_ms = 0, "  \
				      "delivered_at_ms = 0 "                                       \
				      "WHERE id = ?1")

/* X(ID, SQL) for every statement both backends run as it is written here,
 * for a backend's list of statements. */
/* A new mark (?2 its index in enum esc_mark, ?3 its at_ms) in its user's
 * (?1) counters: a new row counts it in both windows; an old one in each
 * window whose start is before it. */
#define ESC_REP_NEW(k, m, sp, lp) ", CASE WHEN ?2 = " #k " THEN 1 ELSE 0 END"
#define ESC_REP_ADD(k, m, sp, lp)                                                                  \
	", short_" #m " = reputation_counts.short_" #m " + CASE WHEN ?2 = " #k                     \
	" AND ?3 > reputation_counts.short_since_ms THEN 1 ELSE 0 END, long_" #m                   \
	" = reputation_counts.long_" #m " + CASE WHEN ?2 = " #k                                    \
	" AND ?3 > reputation_counts.long_since_ms THEN 1 ELSE 0 END"
#define ESC_SQL_REP_MARK                                                                           \
	"INSERT INTO reputation_counts (user_id, " ESC_REP_COLUMNS                                 \
	") VALUES (?1, " ESC_SQL_REP_SINCE_ALL ", " ESC_SQL_REP_SINCE_ALL                          \
	ESC_REP_MARKS(ESC_REP_NEW) ESC_REP_MARKS(                                                  \
		ESC_REP_NEW) ") ON CONFLICT (user_id) DO UPDATE SET "                              \
			     "short_since_ms = reputation_counts.short_since_ms" ESC_REP_MARKS(    \
				     ESC_REP_ADD)
/* A user's (?1) counters at new window starts (?2, ?3). */
#define ESC_REP_SET_S(k, m, sp, lp) ", short_" #m " = ?" #sp
#define ESC_REP_SET_L(k, m, sp, lp) ", long_" #m " = ?" #lp
#define ESC_SQL_REP_PUT                                                                            \
	"UPDATE reputation_counts SET short_since_ms = ?2, long_since_ms = ?3" ESC_REP_MARKS(      \
		ESC_REP_SET_S) ESC_REP_MARKS(ESC_REP_SET_L) " WHERE user_id = ?1"

/* A refund's later fields (ESC_REFUND_COLUMNS' numbering). Its order and
 * its creation time are fixed when it is made: matched, not set. SQLite
 * rewrites every index entry that holds a column a SET names, even to the
 * same value, so setting created_at_ms wrote refunds_order's pages again
 * at every settle (issue 15: the pages a command writes). */
#define ESC_SQL_REFUND_UPDATE                                                                      \
	"UPDATE refunds SET amount_minor = ?3, method = ?4, status = ?5, resolved_at_ms = ?7, "    \
	"alert_due_ms = ?8, settle_days_min = ?9, settle_days_max = ?10 "                          \
	"WHERE id = ?1 AND order_id = ?2 AND created_at_ms = ?6"

#define ESC_SQL_STATEMENTS(X)                                                                      \
	X(USER_INSERT,                                                                             \
	  "INSERT INTO users (" ESC_USER_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")  \
	X(USER_GET, ESC_SQL_USER_SELECT " WHERE id = ?1")                                          \
	X(USER_UPDATE, "UPDATE users SET role = ?2, name = ?3, email = ?4, password_hash = ?5, "   \
		       "created_at_ms = ?6, suspension_lifted_at_ms = ?7, "                        \
		       "lift_ms_cancellations = ?8, lift_ms_lost_disputes = ?9 "                   \
		       "WHERE id = ?1")                                                            \
	X(USERS_LIST, ESC_SQL_USER_SELECT " WHERE id > ?1 ORDER BY id LIMIT ?2")                   \
	X(ORDER_INSERT, esc_sql_order_insert)                                                      \
	X(ORDER_UPDATE, esc_sql_order_update)                                                      \
	X(ORDER_GET, esc_sql_order_get)                                                            \
	X(ORDER_EXISTS, "SELECT 1 FROM orders WHERE id = ?1")                                      \
	X(ITEM_INSERT, "INSERT INTO order_items (order_id, line, title, quantity, "                \
		       "unit_price_minor, image_url) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")             \
	X(ITEMS_LIST, "SELECT " ESC_ITEM_COLUMNS " FROM order_items "                              \
		      "WHERE order_id = ?1 ORDER BY line LIMIT ?2")                                \
	X(ORDERS_COUNT, "SELECT state, COUNT(*) FROM orders GROUP BY state")                       \
	X(ORDERS_COUNT_BUYER, "SELECT state, COUNT(*) FROM orders WHERE buyer_id = ?1 "            \
			      "GROUP BY state")                                                    \
	X(ORDERS_COUNT_SELLER, "SELECT state, COUNT(*) FROM orders WHERE seller_id = ?1 "          \
			       "GROUP BY state")                                                   \
	X(HISTORY_LIST, ESC_SQL_HISTORY_SELECT " WHERE order_id = ?1 AND event <> '' "             \
					       "AND version > ?2 ORDER BY version LIMIT ?3")       \
	X(HISTORY_SCAN, "SELECT seq, " ESC_HISTORY_COLUMNS " FROM outbox WHERE seq > ?1 "          \
			"AND event <> '' ORDER BY seq LIMIT ?2")                                   \
	X(ENTRY_SECOND, "INSERT INTO entries (transfer_id, leg, account, amount_minor, currency, " \
			"order_id, kind, at_ms) VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6, ?7)")           \
	X(BALANCE_ADD, "INSERT INTO balances (account, currency, balance_minor) "                  \
		       "VALUES (?1, ?2, ?3) ON CONFLICT (account, currency) DO UPDATE "            \
		       "SET balance_minor = balances.balance_minor + excluded.balance_minor")      \
	X(BALANCE_KEPT, "SELECT balance_minor FROM balances WHERE account = ?1 AND currency = ?2") \
	X(BALANCES_OF, "SELECT currency, balance_minor FROM balances WHERE account = ?1 "          \
		       "ORDER BY currency LIMIT ?2")                                               \
	X(BALANCE_ENTRIES, "SELECT COALESCE(SUM(amount_minor), 0) FROM entries "                   \
			   "WHERE account = ?1 AND currency = ?2")                                 \
	X(REFUND_INSERT, "INSERT INTO refunds (" ESC_REFUND_COLUMNS ") "                           \
			 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")                       \
	X(REFUND_UPDATE, ESC_SQL_REFUND_UPDATE)                                                    \
	X(REFUND_GET, ESC_SQL_REFUND_SELECT " WHERE id = ?1")                                      \
	X(REFUNDS_BY_ORDER, ESC_SQL_REFUND_SELECT                                                  \
	  " WHERE order_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR "                                 \
	  "status = ?2) AND " ESC_SQL_REFUNDS_AFTER("?4") " "                                      \
							  "ORDER BY created_at_ms, id LIMIT ?3")   \
	X(REFUNDS_ALL, ESC_SQL_REFUND_SELECT                                                       \
	  " WHERE (CAST(?1 AS TEXT) IS NULL OR status = ?1) "                                      \
	  "AND " ESC_SQL_REFUNDS_AFTER("?3") " "                                                   \
					     "ORDER BY created_at_ms, id LIMIT ?2")                \
	X(REFUNDS_OF_BUYER, ESC_SQL_REFUND_SELECT                                                  \
	  " WHERE order_id IN (SELECT id FROM orders WHERE buyer_id = ?1) "                        \
	  "AND (CAST(?2 AS TEXT) IS NULL OR status = ?2) AND " ESC_SQL_REFUNDS_AFTER(              \
		  "?4") " "                                                                        \
			"ORDER BY created_at_ms, id LIMIT ?3")                                     \
	X(REFUNDS_OF_SELLER, ESC_SQL_REFUND_SELECT                                                 \
	  " WHERE order_id IN (SELECT id FROM orders WHERE seller_id = ?1) "                       \
	  "AND (CAST(?2 AS TEXT) IS NULL OR status = ?2) AND " ESC_SQL_REFUNDS_AFTER(              \
		  "?4") " "                                                                        \
			"ORDER BY created_at_ms, id LIMIT ?3")                                     \
	X(REFUNDS_COUNT, "SELECT COUNT(*) FROM refunds WHERE status = ?1")                         \
	X(REFUNDS_OVERDUE, "SELECT COUNT(*) FROM refunds WHERE status = ?1 "                       \
			   "AND alert_due_ms <= ?2")                                               \
	X(DEADLINE_SOONEST, "SELECT COALESCE(MIN(due_ms), 0) FROM deadlines")                      \
	X(DEADLINE_INSERT, "INSERT INTO deadlines (" ESC_DEADLINE_COLUMNS ") "                     \
			   "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (" ESC_DEADLINE_COLUMNS ") "       \
			   "DO UPDATE SET claim_owner = NULL, claim_until_ms = 0")                 \
	X(DEADLINE_DELETE, "DELETE FROM deadlines WHERE due_ms = ?1 AND order_id = ?2 "            \
			   "AND kind = ?3 AND ref = ?4")                                           \
	X(DEADLINES_DUE, "SELECT " ESC_DEADLINE_COLUMNS " FROM deadlines WHERE due_ms <= ?1 "      \
			 "ORDER BY " ESC_DEADLINE_COLUMNS " LIMIT ?2")                             \
	X(DEADLINES_RELEASE, "UPDATE deadlines SET claim_owner = NULL WHERE claim_owner IS NOT "   \
			     "NULL AND (CAST(?1 AS TEXT) IS NULL OR claim_owner = ?1)")            \
	X(PROCESS_BEAT,                                                                            \
	  "INSERT INTO processes (id, started_real_ms, heartbeat_real_ms, lease_ms) "              \
	  "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO UPDATE SET "                                \
	  "heartbeat_real_ms = excluded.heartbeat_real_ms, lease_ms = excluded.lease_ms")          \
	X(PROCESS_END, "DELETE FROM processes WHERE id = ?1")                                      \
	X(PROCESSES_PURGE, "DELETE FROM processes WHERE heartbeat_real_ms + lease_ms <= ?1")       \
	X(PROCESS_GET, "SELECT started_real_ms, heartbeat_real_ms, lease_ms FROM processes "       \
		       "WHERE id = ?1")                                                            \
	X(OUTBOX_COUNT, "SELECT COUNT(*) FROM outbox WHERE payload <> ''")                         \
	X(EVENTS_LIST,                                                                             \
	  "SELECT seq, at_ms, type, order_id, version, payload FROM outbox "                       \
	  "WHERE seq > ?1 AND payload <> '' AND (CAST(?2 AS TEXT) IS NULL OR type = ?2) "          \
	  "AND (CAST(?3 AS TEXT) IS NULL OR substr(type, 1, length(CAST(?3 AS TEXT))) "            \
	  "= CAST(?3 AS TEXT)) AND (CAST(?4 AS TEXT) IS NULL OR order_id = ?4) "                   \
	  "ORDER BY seq LIMIT ?5")                                                                 \
	X(POLICY_ADD, "INSERT INTO policies (version, hash, text, created_at_ms) "                 \
		      "SELECT COALESCE(MAX(version), 0) + 1, CAST(?1 AS TEXT), CAST(?2 AS TEXT), " \
		      "CAST(?3 AS BIGINT) FROM policies RETURNING version")                        \
	X(POLICY_FIND, "SELECT COALESCE(MAX(version), 0) FROM policies WHERE hash = ?1")           \
	X(POLICIES_LIST, "SELECT version, hash, text, created_at_ms FROM policies "                \
			 "WHERE version > ?1 ORDER BY version LIMIT ?2")                           \
	X(MARK_OLDEST, "SELECT COALESCE(MIN(at_ms), 0) FROM marks "                                \
		       "WHERE user_id = ?1 AND mark = ?2 AND at_ms > ?3")                          \
	X(MARKS_LIST, "SELECT " ESC_MARK_COLUMNS " FROM marks WHERE user_id = ?1 AND at_ms > ?2 "  \
		      "ORDER BY at_ms DESC, order_id DESC, mark DESC LIMIT ?3")                    \
	X(REP_GET, "SELECT " ESC_REP_COLUMNS " FROM reputation_counts WHERE user_id = ?1")         \
	X(REP_MARK, ESC_SQL_REP_MARK)                                                              \
	X(REP_PUT, ESC_SQL_REP_PUT)                                                                \
	X(MARKS_BETWEEN, "SELECT mark FROM marks WHERE user_id = ?1 AND at_ms > ?2 "               \
			 "AND at_ms <= ?3")                                                        \
	X(LIFT_INSERT, "INSERT INTO suspension_lifts (" ESC_LIFT_COLUMNS ") "                      \
		       "VALUES (?1, ?2, ?3, ?4)")                                                  \
	X(LIFTS_LIST, "SELECT " ESC_LIFT_COLUMNS " FROM suspension_lifts WHERE user_id = ?1 "      \
		      "ORDER BY at_ms DESC LIMIT ?2")                                              \
	X(META_GET, "SELECT value FROM meta WHERE key = ?1")                                       \
	X(META_SET, "INSERT INTO meta (key, value) VALUES (?1, ?2) "                               \
		    "ON CONFLICT (key) DO UPDATE SET value = excluded.value")                      \
	X(SESSION_INSERT,                                                                          \
	  "INSERT INTO sessions (" ESC_SESSION_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5)")            \
	X(SESSION_GET, "SELECT " ESC_SESSION_COLUMNS " FROM sessions WHERE token_hash = ?1")       \
	X(SESSION_TOUCH, "UPDATE sessions SET last_seen_ms = ?2 WHERE token_hash = ?1")            \
	X(SESSION_DELETE, "DELETE FROM sessions WHERE token_hash = ?1")                            \
	X(CALLER_GET, "SELECT COALESCE(k.last_used_at_ms, -1), "                                   \
		      "s.token_hash, s.user_id, s.csrf, s.created_at_ms, s.last_seen_ms, u.id, "   \
		      "u.role, u.name, u.email, u.password_hash, u.created_at_ms, "                \
		      "u.suspension_lifted_at_ms, u.lift_ms_cancellations, "                       \
		      "u.lift_ms_lost_disputes, COALESCE(k.id, '') "                               \
		      "FROM (SELECT 1 AS one) AS o "                                               \
		      "LEFT JOIN api_keys AS k ON k.key_hash = ?1 AND k.revoked_at_ms = 0 "        \
		      "LEFT JOIN sessions AS s ON s.token_hash = ?1 "                              \
		      "LEFT JOIN users AS u ON u.id = s.user_id")                                  \
	X(API_KEY_INSERT, "INSERT INTO api_keys (" ESC_API_KEY_COLUMNS ") "                        \
			  "VALUES (?1, ?2, ?3, ?4, ?5, ?6)")                                       \
	X(API_KEY_EXISTS, "SELECT 1 FROM api_keys WHERE key_hash = ?1 AND revoked_at_ms = 0")      \
	X(API_KEYS_COUNT, "SELECT COUNT(*) FROM api_keys WHERE revoked_at_ms = 0")                 \
	X(API_KEYS_LIST, "SELECT " ESC_API_KEY_COLUMNS " FROM api_keys "                           \
			 "ORDER BY created_at_ms, id LIMIT ?1")                                    \
	X(API_KEY_GET, "SELECT " ESC_API_KEY_COLUMNS " FROM api_keys WHERE id = ?1")               \
	X(API_KEY_REVOKE, "UPDATE api_keys SET revoked_at_ms = ?2 "                                \
			  "WHERE id = ?1 AND revoked_at_ms = 0")                                   \
	X(API_KEY_TOUCH, "UPDATE api_keys SET last_used_at_ms = ?2 "                               \
			 "WHERE key_hash = ?1 AND last_used_at_ms <= ?3")                          \
	X(IDEM_PUT, "INSERT INTO idempotency (scope, key, request_hash, status, response, "        \
		    "created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")                              \
	X(IDEM_GET, "SELECT request_hash, status, response, created_at_ms FROM idempotency "       \
		    "WHERE scope = ?1 AND key = ?2")                                               \
	X(IDEM_PURGE, "DELETE FROM idempotency WHERE created_at_ms < ?1")                          \
	X(IDEM_ANSWER, "UPDATE idempotency SET status = ?3, response = ?4 "                        \
		       "WHERE scope = ?1 AND key = ?2")                                            \
	X(MESSAGE_NEXT, "SELECT COALESCE(MAX(seq), 0) + 1 FROM messages WHERE order_id = ?1")      \
	X(MESSAGE_INSERT, "INSERT INTO messages (" ESC_MESSAGE_COLUMNS ") "                        \
			  "VALUES (?1, ?2, ?3, ?4, ?5, ?6)")                                       \
	X(MESSAGES_LIST, "SELECT " ESC_MESSAGE_COLUMNS " FROM messages "                           \
			 "WHERE order_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3")                 \
	X(MESSAGE_READ, "INSERT INTO message_reads (order_id, user_id, seq) VALUES (?1, ?2, ?3) "  \
			"ON CONFLICT (order_id, user_id) DO UPDATE SET seq = CASE WHEN "           \
			"excluded.seq > message_reads.seq THEN excluded.seq "                      \
			"ELSE message_reads.seq END")                                              \
	X(MESSAGES_UNREAD_ORDER, "SELECT COUNT(*) FROM messages WHERE order_id = ?2 "              \
				 "AND author_id <> ?1 AND seq > COALESCE((SELECT seq FROM "        \
				 "message_reads WHERE order_id = ?2 AND user_id = ?1), 0)")        \
	X(MESSAGES_UNREAD_ALL, "SELECT COUNT(*) FROM messages AS m LEFT JOIN message_reads AS r "  \
			       "ON r.order_id = m.order_id AND r.user_id = ?1 WHERE m.order_id "   \
			       "IN (" ESC_SQL_USER_ORDERS ") AND m.author_id <> ?1 "               \
			       "AND m.seq > COALESCE(r.seq, 0)")                                   \
	X(CONVERSATIONS_LIST, ESC_SQL_CONVERSATIONS)                                               \
	X(NOTIFICATIONS_LIST, "SELECT seq, " ESC_HISTORY_COLUMNS " " ESC_SQL_NOTIFICATIONS_OF      \
			      " AND (at_ms < ?2 OR (at_ms = ?2 AND seq < ?3)) "                    \
			      "ORDER BY at_ms DESC, seq DESC LIMIT ?4")                            \
	X(NOTIFICATIONS_UNREAD, "SELECT COUNT(*) " ESC_SQL_NOTIFICATIONS_OF                        \
				" AND (at_ms > ?2 OR (at_ms = ?2 AND seq > ?3))")                  \
	X(NOTIFICATION_MARK, "SELECT at_ms, seq FROM notification_reads WHERE user_id = ?1")       \
	X(NOTIFICATION_READ,                                                                       \
	  "INSERT INTO notification_reads (user_id, at_ms, seq) "                                  \
	  "VALUES (?1, ?2, ?3) ON CONFLICT (user_id) DO UPDATE SET "                               \
	  "at_ms = excluded.at_ms, seq = excluded.seq WHERE "                                      \
	  "excluded.at_ms > notification_reads.at_ms OR (excluded.at_ms = "                        \
	  "notification_reads.at_ms AND excluded.seq > notification_reads.seq)")                   \
	X(EVIDENCE_NEXT, "SELECT COALESCE(MAX(seq), 0) + 1 FROM evidence WHERE order_id = ?1")     \
	X(EVIDENCE_INSERT, "INSERT INTO evidence (" ESC_EVIDENCE_COLUMNS ", data) "                \
			   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")                     \
	X(EVIDENCE_LIST, "SELECT " ESC_EVIDENCE_COLUMNS " FROM evidence WHERE order_id = ?1 "      \
			 "ORDER BY seq LIMIT ?2")                                                  \
	X(EVIDENCE_GET, "SELECT " ESC_EVIDENCE_COLUMNS ", data FROM evidence "                     \
			"WHERE order_id = ?1 AND seq = ?2")                                        \
	X(WEBHOOK_ENDPOINT_INSERT, "INSERT INTO webhook_endpoints (" ESC_WEBHOOK_ENDPOINT_COLUMNS  \
				   ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)") \
	X(WEBHOOK_ENDPOINT_GET, ESC_SQL_WEBHOOK_ENDPOINT_SELECT " WHERE id = ?1")                  \
	X(WEBHOOK_ENDPOINT_UPDATE,                                                                 \
	  "UPDATE webhook_endpoints SET url = ?2, description = ?3, events = ?4, enabled = ?5, "   \
	  "secret = ?6, secret_previous = ?7, secret_previous_until_ms = ?8, "                     \
	  "updated_at_ms = ?9, failing_since_ms = ?10, disabled_at_ms = ?11 WHERE id = ?1")        \
	X(WEBHOOK_ENDPOINT_DELETE, "DELETE FROM webhook_endpoints WHERE id = ?1")                  \
	X(WEBHOOK_ENDPOINTS_COUNT, "SELECT COUNT(*) FROM webhook_endpoints")                       \
	X(WEBHOOK_ENDPOINTS_LIST, ESC_SQL_WEBHOOK_ENDPOINT_SELECT                                  \
	  " WHERE (CAST(?1 AS TEXT) IS NULL OR id < ?1) ORDER BY id DESC LIMIT ?2")                \
	ESC_SQL_DELIVERY_STATEMENTS(X)                                                             \
	ESC_SQL_WEBHOOK_SEEN(X)

/* Bind f's values and the LIMIT (one more than max: whether more follow)
 * to the parameters of esc_orders_list_sql's statement for f: 0, or
 * ESC_EINVAL for an enum value with no name. */
int esc_orders_list_bind(const struct esc_order_filter *f, size_t max,
			 struct esc_order_search *search, const struct esc_binder *b, void *bind);

/* ---- the ledger ---- */

/* Balances are kept in their own table only for the accounts read on the
 * hot path; every other account's balance is the sum of its entries. */
bool esc_kept_account(const char *account);
#define ESC_SQL_KEPT_ACCOUNT                                                                       \
	"(substr(account, 1, 6) = 'buyer:' OR substr(account, 1, 7) = 'seller:')"
#define ESC_SQL_ESCROW_ACCOUNT "substr(account, 1, 7) = 'escrow:'"

/* qsort order of claimed deadlines: the order deadlines_due lists them,
 * since RETURNING keeps no order of its own. */
int esc_deadline_cmp(const void *a, const void *b);

/* The ledger check's queries, in the order they run; each row one
 * returns is a problem, and its columns are as the backends' CHECK_*
 * statements select them. */
enum esc_check {
	ESC_CHECK_CURRENCIES,
	ESC_CHECK_LEGS,
	ESC_CHECK_ESCROW_NEGATIVE,
	ESC_CHECK_REFUNDS,
	ESC_CHECK_ESCROW_ORDERS,
	ESC_CHECK_ESCROW_ORPHANS,
	ESC_CHECK_BALANCES,
	ESC_CHECK_REPUTATION,
	ESC_CHECK_POLICY_VERSIONS,
	ESC_CHECKS_COUNT
};

/* The ledger check's queries, the same SQL in both dialects: two counts,
 * then one per enum esc_check. */
#define ESC_SQL_CHECK_TRANSFERS "SELECT COUNT(DISTINCT transfer_id) FROM entries"
#define ESC_SQL_CHECK_ORDERS    "SELECT COUNT(*) FROM orders"
#define ESC_SQL_CHECK_CURRENCIES                                                                   \
	"SELECT currency, SUM(amount_minor) FROM entries GROUP BY currency "                       \
	"HAVING SUM(amount_minor) <> 0 ORDER BY currency"
#define ESC_SQL_CHECK_LEGS                                                                         \
	"SELECT transfer_id, COUNT(*), SUM(amount_minor), "                                        \
	"COUNT(DISTINCT currency) FROM entries GROUP BY transfer_id "                              \
	"HAVING COUNT(*) <> 2 OR MIN(leg) <> 0 OR MAX(leg) <> 1 "                                  \
	"OR SUM(amount_minor) <> 0 OR COUNT(DISTINCT currency) <> 1 "                              \
	"ORDER BY transfer_id"
#define ESC_SQL_CHECK_ESCROW_NEGATIVE                                                              \
	"SELECT account, currency, SUM(amount_minor) FROM entries "                                \
	"WHERE " ESC_SQL_ESCROW_ACCOUNT " GROUP BY account, currency "                             \
	"HAVING SUM(amount_minor) < 0 ORDER BY account, currency"
#define ESC_SQL_CHECK_REFUNDS                                                                      \
	"SELECT order_id, currency, paid, back FROM (SELECT order_id, currency, "                  \
	"SUM(CASE WHEN kind = 'payment' THEN amount_minor ELSE 0 END) AS paid, "                   \
	"-SUM(CASE WHEN kind = 'refund' THEN amount_minor ELSE 0 END) AS back "                    \
	"FROM entries WHERE account = 'escrow:' || order_id GROUP BY order_id, currency) t "       \
	"WHERE back > paid ORDER BY order_id, currency"
#define ESC_SQL_CHECK_ESCROW_ORDERS                                                                \
	"SELECT o.id, o.currency, o.paid_minor - o.refunded_minor - o.released_minor, "            \
	"COALESCE(e.total, 0) FROM orders o LEFT JOIN (SELECT account, currency, "                 \
	"SUM(amount_minor) AS total FROM entries WHERE " ESC_SQL_ESCROW_ACCOUNT                    \
	" GROUP BY account, currency) e ON e.account = 'escrow:' || o.id "                         \
	"AND e.currency = o.currency "                                                             \
	"WHERE o.paid_minor - o.refunded_minor - o.released_minor <> COALESCE(e.total, 0) "        \
	"ORDER BY o.id"
#define ESC_SQL_CHECK_ESCROW_ORPHANS                                                               \
	"SELECT account, currency, SUM(amount_minor) FROM entries e WHERE " ESC_SQL_ESCROW_ACCOUNT \
	" AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = substr(e.account, 8) "               \
	"AND o.currency = e.currency) GROUP BY account, currency "                                 \
	"HAVING SUM(amount_minor) <> 0 ORDER BY account, currency"
#define ESC_SQL_CHECK_BALANCES                                                                     \
	"WITH s AS (SELECT account, currency, SUM(amount_minor) AS total FROM entries "            \
	"WHERE " ESC_SQL_KEPT_ACCOUNT " GROUP BY account, currency) "                              \
	"SELECT b.account, b.currency, b.balance_minor, COALESCE(s.total, 0) "                     \
	"FROM balances b LEFT JOIN s ON s.account = b.account AND s.currency = b.currency "        \
	"WHERE b.balance_minor <> COALESCE(s.total, 0) "                                           \
	"UNION ALL SELECT s.account, s.currency, 0, s.total FROM s WHERE s.total <> 0 "            \
	"AND NOT EXISTS (SELECT 1 FROM balances b WHERE b.account = s.account "                    \
	"AND b.currency = s.currency) ORDER BY 1, 2"

/* Each user whose reputation counters disagree with their marks (1), or
 * who has marks and no counters (0). */
#define ESC_REP_KS(k, m, sp, lp)                                                                   \
	", SUM(CASE WHEN m.mark = '" #m "' AND m.at_ms > r.short_since_ms THEN 1 ELSE 0 END) "     \
	"AS short_" #m
#define ESC_REP_KL(k, m, sp, lp)                                                                   \
	", SUM(CASE WHEN m.mark = '" #m "' AND m.at_ms > r.long_since_ms THEN 1 ELSE 0 END) "      \
	"AS long_" #m
#define ESC_REP_DIFF(k, m, sp, lp)                                                                 \
	" OR r.short_" #m " <> k.short_" #m " OR r.long_" #m " <> k.long_" #m
#define ESC_SQL_CHECK_REPUTATION                                                                   \
	"WITH k AS (SELECT r.user_id AS user_id" ESC_REP_MARKS(ESC_REP_KS) ESC_REP_MARKS(          \
		ESC_REP_KL) " FROM reputation_counts r LEFT JOIN marks m "                         \
			    "ON m.user_id = r.user_id GROUP BY r.user_id) "                        \
			    "SELECT r.user_id, 1 FROM reputation_counts r JOIN k ON k.user_id = "  \
			    "r.user_id "                                                           \
			    "WHERE 1 = 0" ESC_REP_MARKS(                                           \
				    ESC_REP_DIFF) " UNION ALL SELECT DISTINCT m.user_id, 0 "       \
						  "FROM marks m WHERE NOT EXISTS (SELECT 1 FROM "  \
						  "reputation_counts r "                           \
						  "WHERE r.user_id = m.user_id) ORDER BY 1"

/* Each order pinned to a policy version the store does not keep (issue
 * 16): its id and the version (0 when none). */
#define ESC_SQL_CHECK_POLICY_VERSIONS                                                              \
	"SELECT o.id, COALESCE(o.policy_version, 0) FROM orders o WHERE NOT EXISTS "               \
	"(SELECT 1 FROM policies p WHERE p.version = o.policy_version) ORDER BY o.id"

/* X(ID, SQL) for every query of the ledger check, for a backend's list of
 * statements. */
#define ESC_SQL_CHECKS(X)                                                                          \
	X(CHECK_TRANSFERS, ESC_SQL_CHECK_TRANSFERS)                                                \
	X(CHECK_ORDERS, ESC_SQL_CHECK_ORDERS)                                                      \
	X(CHECK_CURRENCIES, ESC_SQL_CHECK_CURRENCIES)                                              \
	X(CHECK_LEGS, ESC_SQL_CHECK_LEGS)                                                          \
	X(CHECK_ESCROW_NEGATIVE, ESC_SQL_CHECK_ESCROW_NEGATIVE)                                    \
	X(CHECK_REFUNDS, ESC_SQL_CHECK_REFUNDS)                                                    \
	X(CHECK_ESCROW_ORDERS, ESC_SQL_CHECK_ESCROW_ORDERS)                                        \
	X(CHECK_ESCROW_ORPHANS, ESC_SQL_CHECK_ESCROW_ORPHANS)                                      \
	X(CHECK_BALANCES, ESC_SQL_CHECK_BALANCES)                                                  \
	X(CHECK_REPUTATION, ESC_SQL_CHECK_REPUTATION)                                              \
	X(CHECK_POLICY_VERSIONS, ESC_SQL_CHECK_POLICY_VERSIONS)

/* enum stmt_id (S_ID for each X(ID, SQL) of list, then S_COUNT) and
 * stmt_sql[], the SQL of each, from a backend's list of statements, which
 * holds ESC_SQL_CHECKS in enum esc_check's order. */
#define ESC_STMT_ID(id, sql)  S_##id,
#define ESC_STMT_SQL(id, sql) [S_##id] = sql,
#define ESC_STATEMENTS_TABLE(list)                                                                 \
	enum stmt_id { list(ESC_STMT_ID) S_COUNT };                                                \
	_Static_assert(S_CHECK_POLICY_VERSIONS - S_CHECK_CURRENCIES + 1 == ESC_CHECKS_COUNT,       \
		       "the CHECK_* statements run in enum esc_check's order");                    \
	static const char *const stmt_sql[S_COUNT] = {list(ESC_STMT_SQL)}

/* Add the problem a row of check which says to r. */
void esc_check_say(enum esc_check which, const struct esc_row *row, struct esc_ledger_report *r);

/* ---- migrations written once ---- */

/* Each backend has its own numbered migrations (sqlite/migrations.c,
 * pg/migrations.c), append-only, for what was written before this list.
 * Then it applies the steps of esc_migrations_shared, in order, as its
 * next numbers, recorded as its own are: a store's schema version is its
 * own count plus the shared count. A step is SQL both dialects read the
 * same way, with these words for the types of columns:
 *   {int}   a 64-bit integer, NOT NULL    {int_null}   one that may be NULL
 *   {text}  a text, NOT NULL              {text_null}  one that may be NULL
 *   {bytes} bytes, NOT NULL
 *   {without_rowid} after a CREATE TABLE's ")" whose key grows with time
 *                   (SQLite's WITHOUT ROWID; nothing on PostgreSQL)
 * Text compares byte by byte on both (PostgreSQL's COLLATE "C"). */
enum esc_dialect { ESC_DIALECT_SQLITE, ESC_DIALECT_PG };
/* A shared migration step that begins with this is the SQLite store's
 * alone: PostgreSQL counts it, and runs nothing. */
#define ESC_SQLITE_ONLY "{sqlite_only}"

/* NULL-terminated. Append at the end; never edit a step that has
 * shipped. */
extern const char *const esc_migrations_shared[];

/* The number of steps of a NULL-terminated list. */
int esc_migrations_count(const char *const *steps);

/* step in d's words: malloc'd, the caller's to free; NULL when out of
 * memory. Braces that are not one of the words above stay as they are. */
char *esc_migration_sql(const char *step, enum esc_dialect d);

/* The verbs of struct esc_store_ops, each given by the backend's function
 * prefix_verb (close and the flags are the backend's to set). */
#define ESC_STORE_VERBS(prefix)                                                                    \
	.begin = prefix##_begin, .commit = prefix##_commit, .rollback = prefix##_rollback,         \
	.savepoint = prefix##_savepoint, .savepoint_release = prefix##_savepoint_release,          \
	.savepoint_rollback = prefix##_savepoint_rollback, .user_insert = prefix##_user_insert,    \
	.user_get = prefix##_user_get, .user_by_email = prefix##_user_by_email,                    \
	.user_update = prefix##_user_update, .users_list = prefix##_users_list,                    \
	.order_insert = prefix##_order_insert, .order_get = prefix##_order_get,                    \
	.order_update = prefix##_order_update, .order_items = prefix##_order_items,                \
	.orders_list = prefix##_orders_list, .orders_count = prefix##_orders_count,                \
	.history_list = prefix##_history_list, .history_scan = prefix##_history_scan,              \
	.transfers_append = prefix##_transfers_append, .balance_get = prefix##_balance_get,        \
	.balances_of = prefix##_balances_of, .refund_insert = prefix##_refund_insert,              \
	.refund_update = prefix##_refund_update, .refund_get = prefix##_refund_get,                \
	.refunds_list = prefix##_refunds_list, .refunds_of = prefix##_refunds_of,                  \
	.deadline_apply = prefix##_deadline_apply, .deadlines_due = prefix##_deadlines_due,        \
	.deadlines_claim = prefix##_deadlines_claim,                                               \
	.deadlines_release = prefix##_deadlines_release, .process_beat = prefix##_process_beat,    \
	.process_end = prefix##_process_end, .processes_purge = prefix##_processes_purge,          \
	.process_get = prefix##_process_get, .outbox_append = prefix##_outbox_append,              \
	.outbox_count = prefix##_outbox_count, .events_list = prefix##_events_list,                \
	.mark_append = prefix##_mark_append, .mark_counts = prefix##_mark_counts,                  \
	.marks_list = prefix##_marks_list, .mark_oldest = prefix##_mark_oldest,                    \
	.marks_tally = prefix##_marks_tally, .lift_insert = prefix##_lift_insert,                  \
	.lifts_list = prefix##_lifts_list, .meta_get = prefix##_meta_get,                          \
	.meta_set = prefix##_meta_set, .ledger_check = prefix##_ledger_check,                      \
	.session_insert = prefix##_session_insert, .session_get = prefix##_session_get,            \
	.session_touch = prefix##_session_touch, .session_delete = prefix##_session_delete,        \
	.caller_get = prefix##_caller_get, .api_key_insert = prefix##_api_key_insert,              \
	.api_key_exists = prefix##_api_key_exists, .api_keys_count = prefix##_api_keys_count,      \
	.api_keys_list = prefix##_api_keys_list, .api_key_get = prefix##_api_key_get,              \
	.api_key_revoke = prefix##_api_key_revoke, .api_key_touch = prefix##_api_key_touch,        \
	.refunds_count = prefix##_refunds_count, .refunds_overdue = prefix##_refunds_overdue,      \
	.deadline_soonest = prefix##_deadline_soonest,                                             \
	.idempotency_put = prefix##_idempotency_put,                                               \
	.idempotency_answer = prefix##_idempotency_answer,                                         \
	.idempotency_get = prefix##_idempotency_get,                                               \
	.idempotency_purge = prefix##_idempotency_purge,                                           \
	.message_append = prefix##_message_append, .messages_list = prefix##_messages_list,        \
	.message_read = prefix##_message_read, .messages_unread = prefix##_messages_unread,        \
	.conversations_list = prefix##_conversations_list,                                         \
	.notifications_list = prefix##_notifications_list,                                         \
	.notifications_unread = prefix##_notifications_unread,                                     \
	.notification_mark = prefix##_notification_mark,                                           \
	.notification_read = prefix##_notification_read,                                           \
	.evidence_append = prefix##_evidence_append, .evidence_list = prefix##_evidence_list,      \
	.evidence_get = prefix##_evidence_get, .rate_hit = prefix##_rate_hit,                      \
	.read_only = prefix##_read_only,                                                           \
	.webhook_endpoint_insert = prefix##_webhook_endpoint_insert,                               \
	.webhook_endpoint_get = prefix##_webhook_endpoint_get,                                     \
	.webhook_endpoint_update = prefix##_webhook_endpoint_update,                               \
	.webhook_endpoint_delete = prefix##_webhook_endpoint_delete,                               \
	.webhook_endpoints_list = prefix##_webhook_endpoints_list,                                 \
	.webhook_endpoints_count = prefix##_webhook_endpoints_count,                               \
	.webhook_fanout = prefix##_webhook_fanout,                                                 \
	.webhook_deliveries_claim = prefix##_webhook_deliveries_claim,                             \
	.webhook_delivery_finish = prefix##_webhook_delivery_finish,                               \
	.webhook_deliveries_release = prefix##_webhook_deliveries_release,                         \
	.webhook_event_get = prefix##_webhook_event_get,                                           \
	.webhook_endpoints_failing = prefix##_webhook_endpoints_failing,                           \
	.webhook_purge = prefix##_webhook_purge, .webhook_stats = prefix##_webhook_stats,          \
	.begin_weak = prefix##_begin_weak,                                                         \
	.webhook_deliveries_list = prefix##_webhook_deliveries_list,                               \
	.webhook_delivery_get = prefix##_webhook_delivery_get,                                     \
	.webhook_attempts_list = prefix##_webhook_attempts_list,                                   \
	.webhook_delivery_retry_now = prefix##_webhook_delivery_retry_now,                         \
	.policy_add = prefix##_policy_add, .policy_find = prefix##_policy_find,                    \
	.policy_get = esc_policy_get, .policies_list = prefix##_policies_list

#endif
