/* pg.c - the PostgreSQL backend of store.h: every verb as a statement
 * prepared once per connection, its values bound, over the schema of
 * migrations.c.
 *
 * Concurrency: several processes share one database with no locks of
 * ours. begin is BEGIN ISOLATION LEVEL SERIALIZABLE; a transaction that
 * met a concurrent one fails with SQLSTATE 40001 (or 40P01), and from then
 * on every verb, savepoint_rollback and commit included, returns
 * ESC_ERETRY: the caller rolls back and runs the whole transaction again.
 *
 * Durability: COMMIT returns once the server has flushed its WAL (the
 * default synchronous_commit); nothing here turns that off.
 *
 * Unavailability: a lost connection, a server shutting down or starting,
 * a full or failing disk or memory or connections used up on its side
 * fail with ESC_EBUSY, which the caller may try again later (503, not
 * 500): nothing of the transaction is kept, except that a COMMIT whose
 * answer was lost may have committed (a retry by the request's
 * Idempotency-Key finds its answer then). A connection found closed
 * between transactions is made anew at once, without failing anything.
 *
 * Atomicity: a verb of several statements called outside a transaction
 * runs in its own, which it runs again itself on ESC_ERETRY (a few times:
 * nothing of the caller's is in it). A failed statement aborts
 * PostgreSQL's transaction: ROLLBACK TO SAVEPOINT makes it usable again,
 * which is what the engine does after a failed command, and rollback works
 * in any state, the connection lost included.
 *
 * Values travel apart from the SQL text: integers as decimal text,
 * strings and bytes in binary format (a string is its bytes up to its
 * field's size, sent with no copy). Rows come back as text, except the
 * evidence bytes, which come back in binary.
 *
 * One thread at a time uses a store, which is one connection; statements
 * are prepared on first use and again after the connection is made anew. */
#include "store/pg/pg.h"

#include <assert.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "store/pg/migrations.h"
#include "util/clock.h"
#include "store/common.h"
#include "util/error.h"

/* How often a verb's own transaction is run when concurrent ones keep
 * forcing it to abort, before ESC_ERETRY reaches the caller; between
 * tries it waits as esc_backoff_sleep() says. */
#define OWN_TX_TRIES   8
#define PARAMS_MAX     56 /* order_insert's */
#define ERROR_SIZE     256
#define TEXT_FORMAT    0
#define BINARY_FORMAT  1

/* ---- statements ---- */

/* The order columns an update writes, in bind and read order (as in
 * sqlite.c): id, buyer_id and seller_id are written at insert only. */
#define ORDER_COLS                                                                                 \
	"currency, total_minor, paid_minor, refunded_minor, released_minor, fee_minor, method, "   \
	"state, version, delivery_days, items_count, cancel_requests, cancel_reason, "             \
	"cancel_comment, refund_to, reject_message, carrier, tracking, created_at_ms, "            \
	"paid_at_ms, shipped_at_ms, promised_at_ms, delivered_at_ms, ended_at_ms, "                \
	"due_payment_ms, due_ship_ms, due_response_ms, due_protection_ms, due_confirm_ms, "        \
	"due_dispute_ms, refunds_count, disputes_count, dispute_ground, dispute_outcome, "         \
	"dispute_amount_minor, dispute_opened_at_ms, dispute_paused_ms, dispute_refund_minor, "    \
	"dispute_state, dispute_from, dispute_description, dispute_offer_minor, "                  \
	"dispute_agreed_minor, dispute_message, dispute_resolution, dispute_reason, "              \
	"dispute_escalated_at_ms, dispute_resolved_at_ms, return_carrier, return_tracking, "       \
	"return_shipped_at_ms, dispute_recommended_minor, dispute_recommendation"
#define ORDER_COLS_COUNT 53
#define ORDER_PARAMS                                                                               \
	"$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, "        \
	"$19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, "    \
	"$36, $37, $38, $39, $40, $41, $42, $43, $44, $45, $46, $47, $48, $49, $50, $51, $52, "    \
	"$53"
#define ORDER_SELECT "SELECT id, buyer_id, seller_id, " ORDER_COLS " FROM orders"

_Static_assert(ESC_DL_ORDER_COUNT == 6, "one due_*_ms column per order deadline kind");
_Static_assert(ORDER_COLS_COUNT + 3 <= PARAMS_MAX, "order_insert's parameters fit a bind");

#define EVIDENCE_COLS "order_id, seq, at_ms, author_id, role, content_type, filename, size, sha256"

#define USER_SELECT                                                                                \
	"SELECT id, role, name, email, password_hash, created_at_ms, suspension_lifted_at_ms "     \
	"FROM users"
#define HISTORY_SELECT                                                                             \
	"SELECT order_id, version, at_ms, actor, actor_id, event, from_state, to_state, type, "    \
	"detail FROM history"
/* After the refund named by parameter p in (created_at_ms, id) order, or
 * from the first when it is NULL; an unknown refund compares as NULL,
 * which gives none. */
#define REFUNDS_AFTER(p)                                                                           \
	"(" p "::text IS NULL OR (created_at_ms, id) > "                                           \
	"(SELECT created_at_ms, id FROM refunds WHERE id = " p "))"
#define REFUND_SELECT                                                                              \
	"SELECT id, order_id, amount_minor, method, status, created_at_ms, resolved_at_ms, "       \
	"alert_due_ms, settle_days_min, settle_days_max FROM refunds"
#define ESCROW_ACCOUNT "substr(account, 1, 7) = 'escrow:'"
#define KEPT_ACCOUNT   "(substr(account, 1, 6) = 'buyer:' OR substr(account, 1, 7) = 'seller:')"

/* A deadline row that the owner $3 may claim at the real time $4:
 * unclaimed, its own already, or held by a process without a lease then. */
#define CLAIM_FREE                                                                                 \
	"(claim_owner IS NULL OR claim_owner = $3 OR NOT EXISTS (SELECT 1 FROM processes p "       \
	"WHERE p.id = deadlines.claim_owner AND p.heartbeat_real_ms + p.lease_ms > $4))"

/* X(ID, SQL): prepared on first use on each connection. */
#define STATEMENTS(X)                                                                              \
	X(USER_INSERT, "INSERT INTO users (id, role, name, email, password_hash, created_at_ms, "  \
		       "suspension_lifted_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)")             \
	X(USER_GET, USER_SELECT " WHERE id = $1")                                                  \
	X(USER_BY_EMAIL, USER_SELECT " WHERE lower(email) = lower($1 COLLATE \"C\")")              \
	X(USER_UPDATE, "UPDATE users SET role = $2, name = $3, email = $4, password_hash = $5, "   \
		       "created_at_ms = $6, suspension_lifted_at_ms = $7 WHERE id = $1")           \
	X(USERS_LIST, USER_SELECT " WHERE id > $1 ORDER BY id LIMIT $2")                           \
	X(ORDER_INSERT, "INSERT INTO orders (" ORDER_COLS ", id, buyer_id, seller_id) "            \
			"VALUES (" ORDER_PARAMS ", $54, $55, $56)")                                \
	X(ORDER_UPDATE, "UPDATE orders SET (" ORDER_COLS ") = (" ORDER_PARAMS ") "                 \
			"WHERE id = $54 AND version = $55")                                        \
	X(ORDER_GET, ORDER_SELECT " WHERE id = $1")                                                \
	X(ORDER_EXISTS, "SELECT 1 FROM orders WHERE id = $1")                                      \
	X(ITEM_INSERT, "INSERT INTO order_items (order_id, line, title, quantity, "                \
		       "unit_price_minor) VALUES ($1, $2, $3, $4, $5)")                            \
	X(ITEMS_LIST, "SELECT title, quantity, unit_price_minor FROM order_items "                 \
		      "WHERE order_id = $1 ORDER BY line LIMIT $2")                                \
	X(ORDERS_COUNT, "SELECT state, COUNT(*) FROM orders GROUP BY state")                       \
	X(HISTORY_INSERT, "INSERT INTO history (order_id, version, at_ms, actor, actor_id, "       \
			  "event, from_state, to_state, type, detail) "                            \
			  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")                      \
	X(HISTORY_LIST,                                                                            \
	  HISTORY_SELECT " WHERE order_id = $1 AND version > $2 ORDER BY version LIMIT $3")        \
	X(ENTRY_FIRST, "INSERT INTO entries (transfer_id, leg, account, amount_minor, currency, "  \
		       "order_id, kind, at_ms) VALUES ($1, 0, $2, $3, $4, $5, $6, $7) "            \
		       "ON CONFLICT DO NOTHING")                                                   \
	X(ENTRY_SECOND, "INSERT INTO entries (transfer_id, leg, account, amount_minor, currency, " \
			"order_id, kind, at_ms) VALUES ($1, 1, $2, $3, $4, $5, $6, $7)")           \
	X(BALANCE_ADD, "INSERT INTO balances (account, currency, balance_minor) "                  \
		       "VALUES ($1, $2, $3) ON CONFLICT (account, currency) DO UPDATE "            \
		       "SET balance_minor = balances.balance_minor + excluded.balance_minor")      \
	X(BALANCE_KEPT, "SELECT balance_minor FROM balances WHERE account = $1 AND currency = $2") \
	X(BALANCE_ENTRIES, "SELECT COALESCE(SUM(amount_minor), 0) FROM entries "                   \
			   "WHERE account = $1 AND currency = $2")                                 \
	X(REFUND_INSERT, "INSERT INTO refunds (id, order_id, amount_minor, method, status, "       \
			 "created_at_ms, resolved_at_ms, alert_due_ms, settle_days_min, "          \
			 "settle_days_max) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")      \
	X(REFUND_UPDATE, "UPDATE refunds SET amount_minor = $3, method = $4, status = $5, "        \
			 "created_at_ms = $6, resolved_at_ms = $7, alert_due_ms = $8, "            \
			 "settle_days_min = $9, settle_days_max = $10 "                            \
			 "WHERE id = $1 AND order_id = $2")                                        \
	X(REFUND_GET, REFUND_SELECT " WHERE id = $1")                                              \
	X(REFUNDS_BY_ORDER,                                                                        \
	  REFUND_SELECT " WHERE order_id = $1 AND ($2::text IS NULL OR status = $2) "              \
			"AND " REFUNDS_AFTER("$4") " ORDER BY created_at_ms, id LIMIT $3")         \
	X(REFUNDS_ALL, REFUND_SELECT " WHERE ($1::text IS NULL OR status = $1) "                   \
				     "AND " REFUNDS_AFTER("$3") " ORDER BY created_at_ms, id "     \
								"LIMIT $2")                        \
	X(DEADLINE_INSERT, "INSERT INTO deadlines (due_ms, order_id, kind, ref) "                  \
			   "VALUES ($1, $2, $3, $4) ON CONFLICT (due_ms, order_id, kind, ref) "    \
			   "DO UPDATE SET claim_owner = NULL, claim_until_ms = 0")                 \
	X(DEADLINE_DELETE, "DELETE FROM deadlines WHERE due_ms = $1 AND order_id = $2 "            \
			   "AND kind = $3 AND ref = $4")                                           \
	X(DEADLINES_DUE, "SELECT due_ms, order_id, kind, ref FROM deadlines WHERE due_ms <= $1 "   \
			 "ORDER BY due_ms, order_id, kind, ref LIMIT $2")                          \
	X(DEADLINES_CLAIM,                                                                         \
	  "UPDATE deadlines SET claim_owner = $3 "                                                 \
	  "WHERE (due_ms, order_id, kind, ref) IN (SELECT due_ms, order_id, kind, ref "            \
	  "FROM deadlines WHERE due_ms <= $1 AND " CLAIM_FREE " "                                  \
	  "ORDER BY due_ms, order_id, kind, ref LIMIT $2) AND " CLAIM_FREE " "                     \
	  "RETURNING due_ms, order_id, kind, ref")                                                 \
	X(DEADLINES_RELEASE, "UPDATE deadlines SET claim_owner = NULL WHERE claim_owner IS NOT "   \
			     "NULL AND ($1::text IS NULL OR claim_owner = $1)")                    \
	X(PROCESS_BEAT,                                                                            \
	  "INSERT INTO processes (id, started_real_ms, heartbeat_real_ms, lease_ms) "              \
	  "VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET "                                \
	  "heartbeat_real_ms = excluded.heartbeat_real_ms, lease_ms = excluded.lease_ms")          \
	X(PROCESS_END, "DELETE FROM processes WHERE id = $1")                                      \
	X(PROCESSES_PURGE, "DELETE FROM processes WHERE heartbeat_real_ms + lease_ms <= $1")       \
	X(PROCESS_GET, "SELECT started_real_ms, heartbeat_real_ms, lease_ms FROM processes "       \
		       "WHERE id = $1")                                                            \
	X(OUTBOX_INSERT,                                                                           \
	  "INSERT INTO outbox (at_ms, type, order_id, payload) VALUES ($1, $2, $3, $4)")           \
	X(OUTBOX_COUNT, "SELECT COUNT(*) FROM outbox")                                             \
	X(MARK_INSERT, "INSERT INTO marks (user_id, at_ms, order_id, mark) "                       \
		       "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")                           \
	X(MARK_COUNTS, "SELECT mark, SUM(CASE WHEN at_ms > $2 THEN 1 ELSE 0 END), "                \
		       "SUM(CASE WHEN at_ms > $3 THEN 1 ELSE 0 END) FROM marks "                   \
		       "WHERE user_id = $1 AND at_ms > LEAST($2::bigint, $3::bigint) "             \
		       "GROUP BY mark")                                                            \
	X(MARKS_LIST, "SELECT at_ms, order_id, mark FROM marks WHERE user_id = $1 AND at_ms > $2 " \
		      "ORDER BY at_ms DESC, order_id DESC, mark DESC LIMIT $3")                    \
	X(LIFT_INSERT, "INSERT INTO suspension_lifts (user_id, at_ms, arbiter_id, reason) "        \
		       "VALUES ($1, $2, $3, $4)")                                                  \
	X(LIFTS_LIST, "SELECT at_ms, arbiter_id, reason FROM suspension_lifts WHERE user_id = $1 " \
		      "ORDER BY at_ms DESC LIMIT $2")                                              \
	X(META_GET, "SELECT value FROM meta WHERE key = $1")                                       \
	X(META_SET, "INSERT INTO meta (key, value) VALUES ($1, $2) "                               \
		    "ON CONFLICT (key) DO UPDATE SET value = excluded.value")                      \
	X(SESSION_INSERT, "INSERT INTO sessions (token_hash, user_id, csrf, created_at_ms, "       \
			  "last_seen_ms) VALUES ($1, $2, $3, $4, $5)")                             \
	X(SESSION_GET, "SELECT token_hash, user_id, csrf, created_at_ms, last_seen_ms "            \
		       "FROM sessions WHERE token_hash = $1")                                      \
	X(SESSION_TOUCH, "UPDATE sessions SET last_seen_ms = $2 WHERE token_hash = $1")            \
	X(SESSION_DELETE, "DELETE FROM sessions WHERE token_hash = $1")                            \
	X(API_KEY_INSERT, "INSERT INTO api_keys (key_hash, created_at_ms) VALUES ($1, $2)")        \
	X(API_KEY_EXISTS, "SELECT 1 FROM api_keys WHERE key_hash = $1")                            \
	X(REFUNDS_COUNT, "SELECT COUNT(*) FROM refunds WHERE status = $1")                         \
	X(API_KEYS_COUNT, "SELECT COUNT(*) FROM api_keys")                                         \
	X(IDEM_PUT, "INSERT INTO idempotency (scope, key, request_hash, status, response, "        \
		    "created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)")                              \
	X(IDEM_GET, "SELECT request_hash, status, response, created_at_ms FROM idempotency "       \
		    "WHERE scope = $1 AND key = $2")                                               \
	X(IDEM_PURGE, "DELETE FROM idempotency WHERE created_at_ms < $1")                          \
	X(IDEM_ANSWER, "UPDATE idempotency SET status = $3, response = $4 "                        \
		       "WHERE scope = $1 AND key = $2")                                            \
	X(MESSAGE_NEXT, "SELECT COALESCE(MAX(seq), 0) + 1 FROM messages WHERE order_id = $1")      \
	X(MESSAGE_INSERT, "INSERT INTO messages (order_id, seq, at_ms, author_id, role, body) "    \
			  "VALUES ($1, $2, $3, $4, $5, $6)")                                       \
	X(MESSAGES_LIST, "SELECT seq, at_ms, author_id, role, body FROM messages "                 \
			 "WHERE order_id = $1 AND seq > $2 ORDER BY seq LIMIT $3")                 \
	X(EVIDENCE_NEXT, "SELECT COALESCE(MAX(seq), 0) + 1 FROM evidence WHERE order_id = $1")     \
	X(EVIDENCE_INSERT, "INSERT INTO evidence (order_id, seq, at_ms, author_id, role, "         \
			   "content_type, filename, size, sha256, data) "                          \
			   "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")                     \
	X(EVIDENCE_LIST, "SELECT " EVIDENCE_COLS " FROM evidence WHERE order_id = $1 "             \
			 "ORDER BY seq LIMIT $2")                                                  \
	X(EVIDENCE_GET, "SELECT " EVIDENCE_COLS ", data FROM evidence "                            \
			"WHERE order_id = $1 AND seq = $2")                                        \
	X(RATE_HIT, "INSERT INTO rate_limits (key, window_start_ms, count) "                       \
		    "VALUES ($1, $2, GREATEST($3::bigint, 0)) ON CONFLICT (key) DO UPDATE SET "    \
		    "count = CASE WHEN excluded.window_start_ms > rate_limits.window_start_ms "    \
		    "THEN GREATEST($3::bigint, 0) "                                                \
		    "WHEN excluded.window_start_ms = rate_limits.window_start_ms "                 \
		    "OR $3::bigint > 0 THEN GREATEST(rate_limits.count + $3::bigint, 0) "          \
		    "ELSE rate_limits.count END, "                                                 \
		    "window_start_ms = GREATEST(rate_limits.window_start_ms, "                     \
		    "excluded.window_start_ms) RETURNING count")                                   \
	X(CHECK_TRANSFERS, "SELECT COUNT(DISTINCT transfer_id) FROM entries")                      \
	X(CHECK_ORDERS, "SELECT COUNT(*) FROM orders")                                             \
	X(CHECK_CURRENCIES, "SELECT currency, SUM(amount_minor) FROM entries GROUP BY currency "   \
			    "HAVING SUM(amount_minor) <> 0 ORDER BY currency")                     \
	X(CHECK_LEGS, "SELECT transfer_id, COUNT(*), SUM(amount_minor), "                          \
		      "COUNT(DISTINCT currency) FROM entries GROUP BY transfer_id "                \
		      "HAVING COUNT(*) <> 2 OR MIN(leg) <> 0 OR MAX(leg) <> 1 "                    \
		      "OR SUM(amount_minor) <> 0 OR COUNT(DISTINCT currency) <> 1 "                \
		      "ORDER BY transfer_id")                                                      \
	X(CHECK_ESCROW_NEGATIVE, "SELECT account, currency, SUM(amount_minor) FROM entries "       \
				 "WHERE " ESCROW_ACCOUNT " GROUP BY account, currency "            \
				 "HAVING SUM(amount_minor) < 0 ORDER BY account, currency")        \
	X(CHECK_REFUNDS,                                                                           \
	  "SELECT order_id, currency, paid, back FROM (SELECT order_id, currency, "                \
	  "SUM(CASE WHEN kind = 'payment' THEN amount_minor ELSE 0 END) AS paid, "                 \
	  "-SUM(CASE WHEN kind = 'refund' THEN amount_minor ELSE 0 END) AS back "                  \
	  "FROM entries WHERE account = 'escrow:' || order_id GROUP BY order_id, currency) t "     \
	  "WHERE back > paid ORDER BY order_id, currency")                                         \
	X(CHECK_ESCROW_ORDERS,                                                                     \
	  "SELECT o.id, o.currency, o.paid_minor - o.refunded_minor - o.released_minor, "          \
	  "COALESCE(e.total, 0) FROM orders o LEFT JOIN (SELECT account, currency, "               \
	  "SUM(amount_minor) AS total FROM entries WHERE " ESCROW_ACCOUNT                          \
	  " GROUP BY account, currency) e ON e.account = 'escrow:' || o.id "                       \
	  "AND e.currency = o.currency "                                                           \
	  "WHERE o.paid_minor - o.refunded_minor - o.released_minor <> COALESCE(e.total, 0) "      \
	  "ORDER BY o.id")                                                                         \
	X(CHECK_ESCROW_ORPHANS,                                                                    \
	  "SELECT account, currency, SUM(amount_minor) FROM entries e WHERE " ESCROW_ACCOUNT       \
	  " AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = substr(e.account, 8) "             \
	  "AND o.currency = e.currency) GROUP BY account, currency "                               \
	  "HAVING SUM(amount_minor) <> 0 ORDER BY account, currency")                              \
	X(CHECK_BALANCES,                                                                          \
	  "WITH s AS (SELECT account, currency, SUM(amount_minor) AS total FROM entries "          \
	  "WHERE " KEPT_ACCOUNT " GROUP BY account, currency) "                                    \
	  "SELECT b.account, b.currency, b.balance_minor, COALESCE(s.total, 0) "                   \
	  "FROM balances b LEFT JOIN s ON s.account = b.account AND s.currency = b.currency "      \
	  "WHERE b.balance_minor <> COALESCE(s.total, 0) "                                         \
	  "UNION ALL SELECT s.account, s.currency, 0, s.total FROM s WHERE s.total <> 0 "          \
	  "AND NOT EXISTS (SELECT 1 FROM balances b WHERE b.account = s.account "                  \
	  "AND b.currency = s.currency) ORDER BY 1, 2")

enum stmt_id {
#define X(id, sql) S_##id,
	STATEMENTS(X)
#undef X
		S_COUNT
};
_Static_assert(S_CHECK_BALANCES - S_CHECK_CURRENCIES + 1 == ESC_CHECKS_COUNT,
	       "the CHECK_* statements run in enum esc_check's order");

static const char *const stmt_sql[S_COUNT] = {
#define X(id, sql) [S_##id] = sql,
	STATEMENTS(X)
#undef X
};

/* Transactions take no values: their SQL is sent as it is. */
#define SQL_BEGIN       "BEGIN ISOLATION LEVEL SERIALIZABLE"
#define SQL_BEGIN_READ  "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
#define SQL_SAVEPOINT   "SAVEPOINT cmd"
#define SQL_RELEASE     "RELEASE SAVEPOINT cmd"
#define SQL_ROLLBACK_TO "ROLLBACK TO SAVEPOINT cmd"

/* orders_list filters; each combination is its own statement so that the
 * planner picks the index and the id range for it. */
enum { F_BUYER = 1, F_SELLER = 2, F_STATE = 4, F_AFTER = 8, F_DISPUTE = 16, F_COMBINATIONS = 32 };

struct pg {
	struct esc_store base; /* first: the interface's view of us */
	PGconn *conn;
	bool prepared[S_COUNT];
	bool orders_list_prepared[F_COMBINATIONS];
	bool in_tx;  /* a transaction is open: the caller's or a verb's own */
	bool doomed; /* it met a concurrent one: only a rollback helps */
	char error[ERROR_SIZE];
};

static struct pg *pg_of(struct esc_store *s)
{
	return (struct pg *)s;
}

/* ---- errors ---- */

static bool sqlstate_is(const char *state, const char *want)
{
	return state && strcmp(state, want) == 0;
}

/* Whether the server is gone or short of something it needs: the
 * connection lost (class 08, or no connection left), the server shutting
 * down or starting (57P01..57P03), out of disk, memory or connections
 * (class 53), an I/O error (58030). */
static bool unavailable(const struct pg *p, const char *state)
{
	if (PQstatus(p->conn) != CONNECTION_OK)
		return true;
	if (!state)
		return false;
	return !strncmp(state, "08", 2) || !strncmp(state, "53", 2) ||
	       sqlstate_is(state, "57P01") || sqlstate_is(state, "57P02") ||
	       sqlstate_is(state, "57P03") || sqlstate_is(state, "58030");
}

/* The code of a failed statement (res NULL: libpq had no result). Once a
 * transaction met a concurrent one, everything in it fails: say ERETRY. */
static int fail(struct pg *p, const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	int rc = ESC_EIO;

	esc_pg_one_line(p->error, sizeof p->error, msg ? msg : PQerrorMessage(p->conn));
	if (sqlstate_is(state, "40001") || sqlstate_is(state, "40P01"))
		rc = ESC_ERETRY;
	else if (sqlstate_is(state, "23505"))
		rc = ESC_EDUPLICATE;
	else if (sqlstate_is(state, "55P03") || sqlstate_is(state, "57014"))
		rc = ESC_EBUSY; /* lock_timeout, statement_timeout */
	else if (unavailable(p, state))
		rc = ESC_EBUSY;
	else if (p->doomed)
		rc = ESC_ERETRY;
	if (rc == ESC_ERETRY && p->in_tx)
		p->doomed = true;
	return rc;
}

/* ---- binding: values by parameter number, $1 first ---- */

struct bind {
	int n;        /* the highest parameter set */
	bool invalid; /* a value that cannot be stored (enum out of range) */
	const char *values[PARAMS_MAX];
	int lengths[PARAMS_MAX];
	int formats[PARAMS_MAX];
	char ints[PARAMS_MAX][24];
};

static void b_set(struct bind *b, int i, const char *value, size_t length, int format)
{
	assert(i >= 1 && i <= PARAMS_MAX);
	if (length > INT_MAX) {
		b->invalid = true;
		length = 0;
	}
	b->values[i - 1] = value;
	b->lengths[i - 1] = (int)length;
	b->formats[i - 1] = format;
	if (i > b->n)
		b->n = i;
}

static void b_i64(struct bind *b, int i, int64_t v)
{
	assert(i >= 1 && i <= PARAMS_MAX);
	snprintf(b->ints[i - 1], sizeof b->ints[i - 1], "%lld", (long long)v);
	b_set(b, i, b->ints[i - 1], 0, TEXT_FORMAT);
}

/* A fixed-size char field: never read past max bytes. A text value in
 * binary format is its bytes, so none is copied. */
static void b_field(struct bind *b, int i, const char *s, size_t max)
{
	b_set(b, i, s, strnlen(s, max), BINARY_FORMAT);
}

/* A NUL-terminated string, or NULL. */
static void b_str(struct bind *b, int i, const char *s)
{
	if (s)
		b_set(b, i, s, strlen(s), BINARY_FORMAT);
	else
		b_set(b, i, NULL, 0, TEXT_FORMAT);
}

static void b_bytes(struct bind *b, int i, const void *data, int64_t size)
{
	/* Bytes promised but no pointer to them: libpq would read size bytes
	 * from wherever "" lies. */
	if (size < 0 || (!data && size > 0)) {
		b->invalid = true;
		size = 0;
	}
	/* NULL would be SQL NULL; no bytes are still a value. */
	b_set(b, i, data ? data : "", (size_t)size, BINARY_FORMAT);
}

static void b_enum(struct bind *b, int i, const struct esc_enum *d, int v)
{
	const char *name = esc_enum_name(d, v);

	if (!name)
		b->invalid = true;
	b_str(b, i, name ? name : "");
}

#define B_FIELD(b, i, field) b_field((b), (i), (field), sizeof(field))

/* Make a count a LIMIT: PostgreSQL takes a bigint. */
static int64_t limit_of(size_t n)
{
	return n > (size_t)INT64_MAX ? INT64_MAX : (int64_t)n;
}

/* ---- running ---- */

static void quiet(void *arg, const char *message)
{
	/* Notices (a ROLLBACK with no transaction, say) are not errors. */
	(void)arg;
	(void)message;
}

/* Read what the server sent unasked while the connection sat idle: only
 * its reason for closing it (a restart, pg_terminate_backend, an idle
 * timeout), then the end. libpq marks the connection lost once it has
 * read both, so that the next statement does not fail on it. */
static void read_idle_input(struct pg *p)
{
	struct pollfd pfd = {.fd = PQsocket(p->conn), .events = POLLIN};

	for (int i = 0; i < 4 && PQstatus(p->conn) == CONNECTION_OK; i++) {
		if (pfd.fd < 0 || poll(&pfd, 1, 0) <= 0 || !PQconsumeInput(p->conn))
			break;
	}
}

/* The connection, made anew when it was lost, but only between
 * transactions: one that lost its connection is gone, and the caller must
 * roll back before anything else. */
static int ready(struct pg *p)
{
	int rc = 0;

	if (!p->in_tx)
		read_idle_input(p);
	if (PQstatus(p->conn) == CONNECTION_OK)
		goto out;
	if (p->in_tx) {
		rc = ESC_EBUSY;
		esc_pg_one_line(p->error, sizeof p->error, PQerrorMessage(p->conn));
		goto out;
	}
	PQreset(p->conn);
	memset(p->prepared, 0, sizeof p->prepared);
	memset(p->orders_list_prepared, 0, sizeof p->orders_list_prepared);
	if (PQstatus(p->conn) != CONNECTION_OK) {
		rc = ESC_EBUSY;
		esc_pg_one_line(p->error, sizeof p->error, PQerrorMessage(p->conn));
		goto out;
	}
	PQsetNoticeProcessor(p->conn, quiet, NULL);
out:
	return rc;
}

/* Run SQL that takes no values and returns no rows. */
static int exec_plain(struct pg *p, const char *sql)
{
	PGresult *res = NULL;
	int rc = ready(p);

	if (rc)
		goto out;
	res = PQexec(p->conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = fail(p, res);
out:
	PQclear(res);
	return rc;
}

/* Run a statement with b's values, preparing it first if this connection
 * has not; *out (when not NULL) gets its result, the caller's to PQclear. */
static int exec_stmt(struct pg *p, const char *name, const char *sql, bool *prepared,
		     const struct bind *b, int result_format, PGresult **out)
{
	PGresult *res = NULL;
	ExecStatusType st;
	int rc = 0;

	if (out)
		*out = NULL;
	if (b->invalid) {
		rc = ESC_EINVAL;
		goto out;
	}
	/* Spare the round trip: the server would refuse it. */
	if (p->doomed) {
		rc = ESC_ERETRY;
		goto out;
	}
	rc = ready(p);
	if (rc)
		goto out;
	if (!*prepared) {
		res = PQprepare(p->conn, name, sql, 0, NULL);
		/* 42P05: prepared already, though we did not hear back. */
		if (PQresultStatus(res) != PGRES_COMMAND_OK &&
		    !sqlstate_is(PQresultErrorField(res, PG_DIAG_SQLSTATE), "42P05")) {
			rc = fail(p, res);
			goto out;
		}
		PQclear(res);
		*prepared = true;
	}
	res = PQexecPrepared(p->conn, name, b->n, b->values, b->lengths, b->formats, result_format);
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		rc = fail(p, res);
		goto out;
	}
	if (out) {
		*out = res;
		res = NULL;
	}
out:
	PQclear(res);
	return rc;
}

static int exec_id(struct pg *p, enum stmt_id id, const struct bind *b, int result_format,
		   PGresult **out)
{
	char name[16];

	snprintf(name, sizeof name, "e%d", (int)id);
	return exec_stmt(p, name, stmt_sql[id], &p->prepared[id], b, result_format, out);
}

/* A statement's rows, as text. */
static int query(struct pg *p, enum stmt_id id, const struct bind *b, PGresult **out)
{
	return exec_id(p, id, b, TEXT_FORMAT, out);
}

/* Run a statement that returns no rows. */
static int run(struct pg *p, enum stmt_id id, const struct bind *b)
{
	return exec_id(p, id, b, TEXT_FORMAT, NULL);
}

/* Run a statement that writes rows; *changes is how many. */
static int run_changes(struct pg *p, enum stmt_id id, const struct bind *b, int64_t *changes)
{
	PGresult *res = NULL;
	int rc = query(p, id, b, &res);

	*changes = rc ? 0 : strtoll(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return rc;
}

/* Run a statement that writes at most one row: ESC_ENOTFOUND when it
 * wrote none. */
static int run_one(struct pg *p, enum stmt_id id, const struct bind *b)
{
	int64_t changes = 0;
	int rc = run_changes(p, id, b, &changes);

	if (!rc && changes == 0)
		rc = ESC_ENOTFOUND;
	return rc;
}

/* ---- reading ---- */

static const char *col_str(const PGresult *res, int row, int col)
{
	return PQgetvalue(res, row, col); /* "" for NULL */
}

/* An integer column, in text or in binary (bigint, or integer). */
static int64_t col_i64(const PGresult *res, int row, int col)
{
	const char *v = PQgetvalue(res, row, col);
	int64_t out = 0;

	if (PQgetisnull(res, row, col))
		goto out;
	if (PQfformat(res, col) == BINARY_FORMAT) {
		int len = PQgetlength(res, row, col);
		uint64_t u = 0;
		assert(len == 8 || len == 4);
		for (int i = 0; i < len; i++)
			u = u << 8 | (unsigned char)v[i];
		out = len == 4 ? (int32_t)(uint32_t)u : (int64_t)u;
	} else {
		out = strtoll(v, NULL, 10);
	}
out:
	return out;
}

static int col_int(const PGresult *res, int row, int col)
{
	int64_t v = col_i64(res, row, col);
	return v > INT_MAX ? INT_MAX : v < INT_MIN ? INT_MIN : (int)v;
}

/* Row index of res, for the readers of common.h. */
static int64_t row_i64(const struct esc_row *row, int col)
{
	return col_i64(row->src, row->index, col);
}

static const char *row_text(const struct esc_row *row, int col, size_t *bytes)
{
	const PGresult *res = row->src;
	bool null = PQgetisnull(res, row->index, col);

	*bytes = null ? 0 : (size_t)PQgetlength(res, row->index, col);
	return null ? NULL : PQgetvalue(res, row->index, col);
}

#define ROW_OF(res, i) {row_i64, row_text, (res), (i)}

/* Copy a text column into a field of size bytes: bounded, cut at a UTF-8
 * character boundary, always NUL-terminated. */
static void col_field(const PGresult *res, int row, int col, char *dst, size_t size)
{
	esc_field_copy(dst, size, PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col));
}

#define COL_FIELD(res, row, col, field) col_field((res), (row), (col), (field), sizeof(field))

/* An enum column: its value, or ESC_EIO for a name this binary does not
 * know (a newer binary wrote it, or someone changed the row by hand). */
static int col_enum(const PGresult *res, int row, int col, const struct esc_enum *d, int *out)
{
	char name[64];
	int v = 0;
	int rc = 0;

	col_field(res, row, col, name, sizeof name);
	v = esc_enum_parse(d, name);
	if (v < 0)
		rc = ESC_EIO;
	else
		*out = v;
	return rc;
}

static int read_user(const PGresult *res, int row, struct esc_user *u)
{
	int role = 0;
	int rc = 0;

	memset(u, 0, sizeof *u);
	COL_FIELD(res, row, 0, u->id);
	rc = col_enum(res, row, 1, &esc_enum_actor, &role);
	u->role = (enum esc_actor)role;
	COL_FIELD(res, row, 2, u->name);
	COL_FIELD(res, row, 3, u->email);
	COL_FIELD(res, row, 4, u->password_hash);
	u->created_at_ms = col_i64(res, row, 5);
	u->suspension_lifted_at_ms = col_i64(res, row, 6);
	return rc;
}

/* Columns as ORDER_SELECT lists them. */
static int read_order(const PGresult *res, int row, struct esc_order *o)
{
	int method = 0, state = 0, refund_to = 0, dispute_state = 0, dispute_from = 0;
	int c = 0;
	int rc = 0;

	memset(o, 0, sizeof *o);
	COL_FIELD(res, row, c++, o->id);
	COL_FIELD(res, row, c++, o->buyer_id);
	COL_FIELD(res, row, c++, o->seller_id);
	COL_FIELD(res, row, c++, o->currency);
	o->total_minor = col_i64(res, row, c++);
	o->paid_minor = col_i64(res, row, c++);
	o->refunded_minor = col_i64(res, row, c++);
	o->released_minor = col_i64(res, row, c++);
	o->fee_minor = col_i64(res, row, c++);
	if (!rc)
		rc = col_enum(res, row, c, &esc_enum_method, &method);
	c++;
	if (!rc)
		rc = col_enum(res, row, c, &esc_enum_state, &state);
	c++;
	o->version = col_i64(res, row, c++);
	o->delivery_days = col_int(res, row, c++);
	o->items_count = col_int(res, row, c++);
	o->cancel_requests = col_int(res, row, c++);
	COL_FIELD(res, row, c++, o->cancel_reason);
	COL_FIELD(res, row, c++, o->cancel_comment);
	if (!rc)
		rc = col_enum(res, row, c, &esc_enum_refund_to, &refund_to);
	c++;
	COL_FIELD(res, row, c++, o->reject_message);
	COL_FIELD(res, row, c++, o->carrier);
	COL_FIELD(res, row, c++, o->tracking);
	o->created_at_ms = col_i64(res, row, c++);
	o->paid_at_ms = col_i64(res, row, c++);
	o->shipped_at_ms = col_i64(res, row, c++);
	o->promised_at_ms = col_i64(res, row, c++);
	o->delivered_at_ms = col_i64(res, row, c++);
	o->ended_at_ms = col_i64(res, row, c++);
	for (int k = 0; k < ESC_DL_ORDER_COUNT; k++)
		o->due_ms[k] = col_i64(res, row, c++);
	o->refunds_count = col_int(res, row, c++);
	o->disputes_count = col_int(res, row, c++);
	COL_FIELD(res, row, c++, o->dispute_ground);
	COL_FIELD(res, row, c++, o->dispute_outcome);
	o->dispute_amount_minor = col_i64(res, row, c++);
	o->dispute_opened_at_ms = col_i64(res, row, c++);
	o->dispute_paused_ms = col_i64(res, row, c++);
	o->dispute_refund_minor = col_i64(res, row, c++);
	if (!rc)
		rc = col_enum(res, row, c, &esc_enum_dispute_state, &dispute_state);
	c++;
	if (!rc)
		rc = col_enum(res, row, c, &esc_enum_state, &dispute_from);
	c++;
	COL_FIELD(res, row, c++, o->dispute_description);
	o->dispute_offer_minor = col_i64(res, row, c++);
	o->dispute_agreed_minor = col_i64(res, row, c++);
	COL_FIELD(res, row, c++, o->dispute_message);
	COL_FIELD(res, row, c++, o->dispute_resolution);
	COL_FIELD(res, row, c++, o->dispute_reason);
	o->dispute_escalated_at_ms = col_i64(res, row, c++);
	o->dispute_resolved_at_ms = col_i64(res, row, c++);
	COL_FIELD(res, row, c++, o->return_carrier);
	COL_FIELD(res, row, c++, o->return_tracking);
	o->return_shipped_at_ms = col_i64(res, row, c++);
	o->dispute_recommended_minor = col_i64(res, row, c++);
	COL_FIELD(res, row, c++, o->dispute_recommendation);
	assert(c == 3 + ORDER_COLS_COUNT);
	o->dispute_state = (enum esc_dispute_state)dispute_state;
	o->dispute_from = (enum esc_state)dispute_from;
	o->method = (enum esc_method)method;
	o->state = (enum esc_state)state;
	o->refund_to = (enum esc_refund_to)refund_to;
	return rc;
}

static int read_history(const PGresult *res, int row, struct esc_history *h)
{
	int actor = 0, event = 0, from = 0, to = 0;
	int rc = 0;

	memset(h, 0, sizeof *h);
	COL_FIELD(res, row, 0, h->order_id);
	h->version = col_i64(res, row, 1);
	h->at_ms = col_i64(res, row, 2);
	rc = col_enum(res, row, 3, &esc_enum_actor, &actor);
	COL_FIELD(res, row, 4, h->actor_id);
	if (!rc)
		rc = col_enum(res, row, 5, &esc_enum_event, &event);
	if (!rc)
		rc = col_enum(res, row, 6, &esc_enum_state, &from);
	if (!rc)
		rc = col_enum(res, row, 7, &esc_enum_state, &to);
	COL_FIELD(res, row, 8, h->type);
	COL_FIELD(res, row, 9, h->detail);
	h->actor = (enum esc_actor)actor;
	h->event = (enum esc_event)event;
	h->from = (enum esc_state)from;
	h->to = (enum esc_state)to;
	return rc;
}

static int read_refund(const PGresult *res, int row, struct esc_refund *r)
{
	int method = 0, status = 0;
	int rc = 0;

	memset(r, 0, sizeof *r);
	COL_FIELD(res, row, 0, r->id);
	COL_FIELD(res, row, 1, r->order_id);
	r->amount_minor = col_i64(res, row, 2);
	rc = col_enum(res, row, 3, &esc_enum_method, &method);
	if (!rc)
		rc = col_enum(res, row, 4, &esc_enum_refund_status, &status);
	r->created_at_ms = col_i64(res, row, 5);
	r->resolved_at_ms = col_i64(res, row, 6);
	r->alert_due_ms = col_i64(res, row, 7);
	r->settle_days_min = col_int(res, row, 8);
	r->settle_days_max = col_int(res, row, 9);
	r->method = (enum esc_method)method;
	r->status = (enum esc_refund_status)status;
	return rc;
}

/* Columns: due_ms, order_id, kind, ref. */
static int read_deadline(const PGresult *res, int row, struct esc_deadline *d)
{
	int kind = 0;
	int rc = 0;

	memset(d, 0, sizeof *d);
	d->due_ms = col_i64(res, row, 0);
	COL_FIELD(res, row, 1, d->order_id);
	rc = col_enum(res, row, 2, &esc_enum_deadline, &kind);
	d->kind = (enum esc_deadline_kind)kind;
	COL_FIELD(res, row, 3, d->ref);
	return rc;
}

/* How many rows of res a list may take. */
static int rows_max(const PGresult *res, size_t max)
{
	int rows = PQntuples(res);
	return (size_t)rows > max ? (int)max : rows;
}

/* ---- transactions ---- */

static int tx_begin(struct pg *p, const char *sql)
{
	int rc = 0;

	/* As SQLite says: no transaction within a transaction. */
	if (p->in_tx) {
		rc = ESC_EIO;
		goto out;
	}
	/* The server must agree that none is open: a COMMIT or ROLLBACK that
	 * failed on a live connection could leave one, and BEGIN there only
	 * warns, so that this transaction's writes would join the old one. */
	if (PQstatus(p->conn) == CONNECTION_OK && PQtransactionStatus(p->conn) != PQTRANS_IDLE &&
	    (exec_plain(p, "ROLLBACK") || PQtransactionStatus(p->conn) != PQTRANS_IDLE)) {
		rc = ESC_EIO;
		goto out;
	}
	rc = exec_plain(p, sql);
	if (!rc) {
		p->in_tx = true;
		p->doomed = false;
	}
out:
	return rc;
}

/* Works in any state: after a failed statement, after COMMIT failed, with
 * no transaction, and with the connection lost (the server rolled back
 * when it went). */
static int tx_rollback(struct pg *p)
{
	int rc = 0;

	p->in_tx = false;
	p->doomed = false;
	if (PQstatus(p->conn) != CONNECTION_OK || PQtransactionStatus(p->conn) == PQTRANS_IDLE)
		goto out;
	rc = exec_plain(p, "ROLLBACK");
	if (rc && PQstatus(p->conn) != CONNECTION_OK)
		rc = 0;
out:
	return rc;
}

static int tx_commit(struct pg *p)
{
	PGresult *res = NULL;
	int rc = 0;

	if (!p->in_tx) {
		rc = ESC_EIO;
		goto out;
	}
	/* PostgreSQL answers COMMIT of a failed transaction by rolling it
	 * back: say why it failed instead of pretending. */
	if (p->doomed)
		rc = ESC_ERETRY;
	else if (PQstatus(p->conn) != CONNECTION_OK)
		rc = ESC_EBUSY; /* lost before COMMIT: the server rolled back */
	else if (PQtransactionStatus(p->conn) != PQTRANS_INTRANS)
		rc = ESC_EIO;
	if (rc) {
		(void)tx_rollback(p);
		goto out;
	}
	res = PQexec(p->conn, "COMMIT");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = fail(p, res);
	else if (strcmp(PQcmdStatus(res), "COMMIT") != 0)
		rc = ESC_EIO;
	p->in_tx = false;
	p->doomed = false;
out:
	PQclear(res);
	return rc;
}

static int pg_begin(struct esc_store *s)
{
	return tx_begin(pg_of(s), SQL_BEGIN);
}

static int pg_commit(struct esc_store *s)
{
	return tx_commit(pg_of(s));
}

static int pg_rollback(struct esc_store *s)
{
	return tx_rollback(pg_of(s));
}

static int pg_savepoint(struct esc_store *s)
{
	struct pg *p = pg_of(s);

	return p->doomed ? ESC_ERETRY : exec_plain(p, SQL_SAVEPOINT);
}

static int pg_savepoint_release(struct esc_store *s)
{
	struct pg *p = pg_of(s);

	return p->doomed ? ESC_ERETRY : exec_plain(p, SQL_RELEASE);
}

/* Undoes the command's statements, a failed one included, and leaves the
 * transaction usable; not after a serialization failure, which dooms the
 * whole transaction (the same statements would fail again). */
static int pg_savepoint_rollback(struct esc_store *s)
{
	struct pg *p = pg_of(s);
	int rc = p->doomed ? ESC_ERETRY : exec_plain(p, SQL_ROLLBACK_TO);

	if (!rc)
		rc = exec_plain(p, SQL_RELEASE);
	return rc;
}

/* A verb of several statements: inside the caller's transaction as it
 * is; outside, in a transaction of its own, run again when a concurrent
 * one forced it to abort (body starts its output afresh each time). */
static int atomically(struct pg *p, const char *begin, int (*body)(struct pg *, void *), void *arg)
{
	int rc = 0;

	if (p->in_tx)
		return body(p, arg);
	for (int tries = 1;; tries++) {
		rc = tx_begin(p, begin);
		if (rc)
			break;
		rc = body(p, arg);
		if (rc)
			(void)tx_rollback(p);
		else
			rc = tx_commit(p);
		if (rc != ESC_ERETRY || tries == OWN_TX_TRIES)
			break;
		esc_backoff_sleep(tries);
	}
	return rc;
}

/* ---- users ---- */

static void bind_user(struct bind *b, const struct esc_user *u)
{
	B_FIELD(b, 1, u->id);
	b_enum(b, 2, &esc_enum_actor, (int)u->role);
	B_FIELD(b, 3, u->name);
	B_FIELD(b, 4, u->email);
	B_FIELD(b, 5, u->password_hash);
	b_i64(b, 6, u->created_at_ms);
	b_i64(b, 7, u->suspension_lifted_at_ms);
}

static int pg_user_insert(struct esc_store *s, const struct esc_user *u)
{
	struct bind b = {0};

	bind_user(&b, u);
	return run(pg_of(s), S_USER_INSERT, &b);
}

static int pg_user_update(struct esc_store *s, const struct esc_user *u)
{
	struct bind b = {0};

	bind_user(&b, u);
	return run_one(pg_of(s), S_USER_UPDATE, &b);
}

/* The one user statement id selects by key. */
static int user_one(struct pg *p, enum stmt_id id, const char *key, struct esc_user *out)
{
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	b_str(&b, 1, key);
	rc = query(p, id, &b, &res);
	if (!rc)
		rc = PQntuples(res) > 0 ? read_user(res, 0, out) : ESC_ENOTFOUND;
	PQclear(res);
	return rc;
}

static int pg_user_get(struct esc_store *s, const char *id, struct esc_user *out)
{
	return user_one(pg_of(s), S_USER_GET, id, out);
}

static int pg_user_by_email(struct esc_store *s, const char *email, struct esc_user *out)
{
	return user_one(pg_of(s), S_USER_BY_EMAIL, email, out);
}

static int pg_users_list(struct esc_store *s, const char *starting_after, struct esc_user *out,
			 size_t max, size_t *n)
{
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	*n = 0;
	/* Every id sorts after "". */
	b_str(&b, 1, starting_after ? starting_after : "");
	b_i64(&b, 2, limit_of(max));
	rc = query(pg_of(s), S_USERS_LIST, &b, &res);
	for (int row = 0; !rc && row < rows_max(res, max); row++) {
		rc = read_user(res, row, &out[*n]);
		if (!rc)
			(*n)++;
	}
	PQclear(res);
	return rc;
}

/* ---- orders ---- */

/* The ORDER_COLS of o, at parameters 1..ORDER_COLS_COUNT. */
static void bind_order_cols(struct bind *b, const struct esc_order *o)
{
	int i = 1;

	B_FIELD(b, i++, o->currency);
	b_i64(b, i++, o->total_minor);
	b_i64(b, i++, o->paid_minor);
	b_i64(b, i++, o->refunded_minor);
	b_i64(b, i++, o->released_minor);
	b_i64(b, i++, o->fee_minor);
	b_enum(b, i++, &esc_enum_method, (int)o->method);
	b_enum(b, i++, &esc_enum_state, (int)o->state);
	b_i64(b, i++, o->version);
	b_i64(b, i++, o->delivery_days);
	b_i64(b, i++, o->items_count);
	b_i64(b, i++, o->cancel_requests);
	B_FIELD(b, i++, o->cancel_reason);
	B_FIELD(b, i++, o->cancel_comment);
	b_enum(b, i++, &esc_enum_refund_to, (int)o->refund_to);
	B_FIELD(b, i++, o->reject_message);
	B_FIELD(b, i++, o->carrier);
	B_FIELD(b, i++, o->tracking);
	b_i64(b, i++, o->created_at_ms);
	b_i64(b, i++, o->paid_at_ms);
	b_i64(b, i++, o->shipped_at_ms);
	b_i64(b, i++, o->promised_at_ms);
	b_i64(b, i++, o->delivered_at_ms);
	b_i64(b, i++, o->ended_at_ms);
	for (int k = 0; k < ESC_DL_ORDER_COUNT; k++)
		b_i64(b, i++, o->due_ms[k]);
	b_i64(b, i++, o->refunds_count);
	b_i64(b, i++, o->disputes_count);
	B_FIELD(b, i++, o->dispute_ground);
	B_FIELD(b, i++, o->dispute_outcome);
	b_i64(b, i++, o->dispute_amount_minor);
	b_i64(b, i++, o->dispute_opened_at_ms);
	b_i64(b, i++, o->dispute_paused_ms);
	b_i64(b, i++, o->dispute_refund_minor);
	b_enum(b, i++, &esc_enum_dispute_state, (int)o->dispute_state);
	b_enum(b, i++, &esc_enum_state, (int)o->dispute_from);
	B_FIELD(b, i++, o->dispute_description);
	b_i64(b, i++, o->dispute_offer_minor);
	b_i64(b, i++, o->dispute_agreed_minor);
	B_FIELD(b, i++, o->dispute_message);
	B_FIELD(b, i++, o->dispute_resolution);
	B_FIELD(b, i++, o->dispute_reason);
	b_i64(b, i++, o->dispute_escalated_at_ms);
	b_i64(b, i++, o->dispute_resolved_at_ms);
	B_FIELD(b, i++, o->return_carrier);
	B_FIELD(b, i++, o->return_tracking);
	b_i64(b, i++, o->return_shipped_at_ms);
	b_i64(b, i++, o->dispute_recommended_minor);
	B_FIELD(b, i++, o->dispute_recommendation);
	assert(i == ORDER_COLS_COUNT + 1);
}

struct order_insert {
	const struct esc_order *o;
	const struct esc_item *items;
	size_t items_count;
};

static int order_insert_body(struct pg *p, void *arg)
{
	const struct order_insert *a = arg;
	const struct esc_order *o = a->o;
	struct bind b = {0};
	int rc = 0;

	bind_order_cols(&b, o);
	B_FIELD(&b, ORDER_COLS_COUNT + 1, o->id);
	B_FIELD(&b, ORDER_COLS_COUNT + 2, o->buyer_id);
	B_FIELD(&b, ORDER_COLS_COUNT + 3, o->seller_id);
	rc = run(p, S_ORDER_INSERT, &b);
	for (size_t i = 0; !rc && i < a->items_count; i++) {
		struct bind bi = {0};
		B_FIELD(&bi, 1, o->id);
		b_i64(&bi, 2, (int64_t)i);
		B_FIELD(&bi, 3, a->items[i].title);
		b_i64(&bi, 4, a->items[i].quantity);
		b_i64(&bi, 5, a->items[i].unit_price_minor);
		rc = run(p, S_ITEM_INSERT, &bi);
	}
	return rc;
}

static int pg_order_insert(struct esc_store *s, const struct esc_order *o,
			   const struct esc_item *items, size_t items_count)
{
	struct order_insert a = {o, items, items_count};

	assert(items || !items_count);
	return atomically(pg_of(s), SQL_BEGIN, order_insert_body, &a);
}

static int pg_order_get(struct esc_store *s, const char *id, struct esc_order *out)
{
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	b_str(&b, 1, id);
	rc = query(pg_of(s), S_ORDER_GET, &b, &res);
	if (!rc)
		rc = PQntuples(res) > 0 ? read_order(res, 0, out) : ESC_ENOTFOUND;
	PQclear(res);
	return rc;
}

static int order_exists(struct pg *p, const char *id, bool *exists)
{
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	B_FIELD(&b, 1, id);
	rc = query(p, S_ORDER_EXISTS, &b, &res);
	*exists = !rc && PQntuples(res) > 0;
	PQclear(res);
	return rc;
}

/* Compare-and-set on the version: no lock is taken before, and under
 * SERIALIZABLE a concurrent writer of the row makes one of the two fail
 * with ESC_ERETRY. */
static int pg_order_update(struct esc_store *s, const struct esc_order *o, int64_t expected_version)
{
	struct pg *p = pg_of(s);
	struct bind b = {0};
	bool exists = false;
	int64_t changes = 0;
	int rc = 0;

	bind_order_cols(&b, o);
	B_FIELD(&b, ORDER_COLS_COUNT + 1, o->id);
	b_i64(&b, ORDER_COLS_COUNT + 2, expected_version);
	rc = run_changes(p, S_ORDER_UPDATE, &b, &changes);
	if (rc || changes > 0)
		goto out;
	rc = order_exists(p, o->id, &exists);
	if (!rc)
		rc = exists ? ESC_ECONFLICT : ESC_ENOTFOUND;
out:
	return rc;
}

static int pg_order_items(struct esc_store *s, const char *order_id, struct esc_item *out,
			  size_t max, size_t *n)
{
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	*n = 0;
	b_str(&b, 1, order_id);
	b_i64(&b, 2, limit_of(max));
	rc = query(pg_of(s), S_ITEMS_LIST, &b, &res);
	for (int row = 0; !rc && row < rows_max(res, max); row++) {
		struct esc_item *it = &out[*n];
		memset(it, 0, sizeof *it);
		COL_FIELD(res, row, 0, it->title);
		it->quantity = col_i64(res, row, 1);
		it->unit_price_minor = col_i64(res, row, 2);
		(*n)++;
	}
	PQclear(res);
	return rc;
}

/* The orders_list filters in parameter order: a statement and its values
 * both follow this table. */
static const struct {
	unsigned flag;
	const char *cond; /* with the parameter's number */
} order_filters[] = {
	{F_BUYER, " AND buyer_id = $%d"}, {F_SELLER, " AND seller_id = $%d"},
	{F_STATE, " AND state = $%d"},    {F_DISPUTE, " AND dispute_state = $%d"},
	{F_AFTER, " AND id < $%d"},
};

#define ORDER_FILTERS_COUNT (sizeof order_filters / sizeof order_filters[0])

static void orders_list_sql(unsigned mask, char *sql, size_t size)
{
	int len = snprintf(sql, size, "%s WHERE TRUE", ORDER_SELECT);
	int k = 1;

	for (size_t i = 0; i < ORDER_FILTERS_COUNT; i++) {
		if (mask & order_filters[i].flag) {
			assert(len > 0 && (size_t)len < size);
			len += snprintf(sql + len, size - (size_t)len, order_filters[i].cond, k++);
		}
	}
	assert(len > 0 && (size_t)len < size);
	len += snprintf(sql + len, size - (size_t)len, " ORDER BY id DESC LIMIT $%d", k);
	assert(len > 0 && (size_t)len < size);
}

static int pg_orders_list(struct esc_store *s, const struct esc_order_filter *f,
			  struct esc_order *out, size_t max, size_t *n, bool *has_more)
{
	struct pg *p = pg_of(s);
	unsigned mask = 0;
	struct bind b = {0};
	PGresult *res = NULL;
	char sql[1024], name[16];
	int k = 1;
	int rc = 0;

	assert(f);
	*n = 0;
	*has_more = false;
	if (f->buyer_id)
		mask |= F_BUYER;
	if (f->seller_id)
		mask |= F_SELLER;
	if (f->state >= 0)
		mask |= F_STATE;
	if (f->starting_after)
		mask |= F_AFTER;
	if (f->dispute_state > ESC_DS_NONE)
		mask |= F_DISPUTE;
	assert(mask < F_COMBINATIONS);
	for (size_t i = 0; i < ORDER_FILTERS_COUNT; i++) {
		switch (mask & order_filters[i].flag) {
		case F_BUYER:
			b_str(&b, k++, f->buyer_id);
			break;
		case F_SELLER:
			b_str(&b, k++, f->seller_id);
			break;
		case F_STATE:
			b_enum(&b, k++, &esc_enum_state, f->state);
			break;
		case F_DISPUTE:
			b_enum(&b, k++, &esc_enum_dispute_state, f->dispute_state);
			break;
		case F_AFTER:
			b_str(&b, k++, f->starting_after);
			break;
		default:
			break;
		}
	}
	/* One more than asked tells whether more follow. */
	b_i64(&b, k, limit_of(max) < INT64_MAX ? limit_of(max) + 1 : INT64_MAX);
	orders_list_sql(mask, sql, sizeof sql);
	snprintf(name, sizeof name, "l%u", mask);
	rc = exec_stmt(p, name, sql, &p->orders_list_prepared[mask], &b, TEXT_FORMAT, &res);
	if (rc)
		goto out;
	*has_more = (size_t)PQntuples(res) > max;
	for (int row = 0; !rc && row < rows_max(res, max); row++) {
		rc = read_order(res, row, &out[*n]);
		if (!rc)
			(*n)++;
	}
out:
	PQclear(res);
	return rc;
}

static int pg_orders_count(struct esc_store *s, int64_t counts[ESC_ST_COUNT])
{
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	for (int i = 0; i < ESC_ST_COUNT; i++)
		counts[i] = 0;
	rc = query(pg_of(s), S_ORDERS_COUNT, &b, &res);
	for (int row = 0; !rc && row < PQntuples(res); row++) {
		int state = 0;
		rc = col_enum(res, row, 0, &esc_enum_state, &state);
		if (!rc)
			counts[state] = col_i64(res, row, 1);
	}
	PQclear(res);
	return rc;
}

/* ---- history ---- */

static int pg_history_append(struct esc_store *s, const struct esc_history *h)
{
	struct bind b = {0};

	B_FIELD(&b, 1, h->order_id);
	b_i64(&b, 2, h->version);
	b_i64(&b, 3, h->at_ms);
	b_enum(&b, 4, &esc_enum_actor, (int)h->actor);
	B_FIELD(&b, 5, h->actor_id);
	b_enum(&b, 6, &esc_enum_event, (int)h->event);
	b_enum(&b, 7, &esc_enum_state, (int)h->from);
	b_enum(&b, 8, &esc_enum_state, (int)h->to);
	B_FIELD(&b, 9, h->type);
	B_FIELD(&b, 10, h->detail);
	return run(pg_of(s), S_HISTORY_INSERT, &b);
}

static int pg_history_list(struct esc_store *s, const char *order_id, int64_t after_version,
			   struct esc_history *out, size_t max, size_t *n)
{
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	*n = 0;
	b_str(&b, 1, order_id);
	b_i64(&b, 2, after_version);
	b_i64(&b, 3, limit_of(max));
	rc = query(pg_of(s), S_HISTORY_LIST, &b, &res);
	for (int row = 0; !rc && row < rows_max(res, max); row++) {
		rc = read_history(res, row, &out[*n]);
		if (!rc)
			(*n)++;
	}
	PQclear(res);
	return rc;
}

/* ---- ledger ---- */

static int entry_insert(struct pg *p, enum stmt_id id, const struct esc_transfer *t,
			const char *account, int64_t amount, int64_t at_ms, int64_t *changes)
{
	struct bind b = {0};

	B_FIELD(&b, 1, t->id);
	b_field(&b, 2, account, ESC_ACCOUNT_SIZE);
	b_i64(&b, 3, amount);
	B_FIELD(&b, 4, t->currency);
	B_FIELD(&b, 5, t->order_id);
	B_FIELD(&b, 6, t->kind);
	b_i64(&b, 7, at_ms);
	return run_changes(p, id, &b, changes);
}

static int balance_add(struct pg *p, const char *account, const char *currency, int64_t amount)
{
	struct bind b = {0};

	b_field(&b, 1, account, ESC_ACCOUNT_SIZE);
	b_field(&b, 2, currency, ESC_CURRENCY_SIZE);
	b_i64(&b, 3, amount);
	return run(p, S_BALANCE_ADD, &b);
}

static int transfer_append(struct pg *p, const struct esc_transfer *t, int64_t at_ms)
{
	int64_t changes = 0;
	int rc = entry_insert(p, S_ENTRY_FIRST, t, t->from, -t->amount_minor, at_ms, &changes);

	/* Leg 0 exists already: this transfer was recorded before. */
	if (rc || changes == 0)
		goto out;
	rc = entry_insert(p, S_ENTRY_SECOND, t, t->to, t->amount_minor, at_ms, &changes);
	if (!rc && esc_kept_account(t->from))
		rc = balance_add(p, t->from, t->currency, -t->amount_minor);
	if (!rc && esc_kept_account(t->to))
		rc = balance_add(p, t->to, t->currency, t->amount_minor);
out:
	return rc;
}

struct transfers_append {
	const struct esc_transfer *t;
	size_t n;
	int64_t at_ms;
};

static int transfers_append_body(struct pg *p, void *arg)
{
	const struct transfers_append *a = arg;
	int rc = 0;

	for (size_t i = 0; !rc && i < a->n; i++)
		rc = transfer_append(p, &a->t[i], a->at_ms);
	return rc;
}

static int pg_transfers_append(struct esc_store *s, const struct esc_transfer *t, size_t n,
			       int64_t at_ms)
{
	struct transfers_append a = {t, n, at_ms};
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		if (t[i].amount_minor < 0 || !t[i].id[0]) {
			rc = ESC_EINVAL;
			goto out;
		}
	}
	rc = atomically(pg_of(s), SQL_BEGIN, transfers_append_body, &a);
out:
	return rc;
}

static int pg_balance_get(struct esc_store *s, const char *account, const char *currency,
			  int64_t *out)
{
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	*out = 0;
	b_str(&b, 1, account);
	b_str(&b, 2, currency);
	rc = query(pg_of(s), esc_kept_account(account) ? S_BALANCE_KEPT : S_BALANCE_ENTRIES, &b, &res);
	if (!rc && PQntuples(res) > 0)
		*out = col_i64(res, 0, 0);
	PQclear(res);
	return rc;
}

/* ---- refunds ---- */

static void bind_refund(struct bind *b, const struct esc_refund *r)
{
	B_FIELD(b, 1, r->id);
	B_FIELD(b, 2, r->order_id);
	b_i64(b, 3, r->amount_minor);
	b_enum(b, 4, &esc_enum_method, (int)r->method);
	b_enum(b, 5, &esc_enum_refund_status, (int)r->status);
	b_i64(b, 6, r->created_at_ms);
	b_i64(b, 7, r->resolved_at_ms);
	b_i64(b, 8, r->alert_due_ms);
	b_i64(b, 9, r->settle_days_min);
	b_i64(b, 10, r->settle_days_max);
}

static int pg_refund_insert(struct esc_store *s, const struct esc_refund *r)
{
	struct bind b = {0};

	bind_refund(&b, r);
	return run(pg_of(s), S_REFUND_INSERT, &b);
}

static int pg_refund_update(struct esc_store *s, const struct esc_refund *r)
{
	struct bind b = {0};

	bind_refund(&b, r);
	return run_one(pg_of(s), S_REFUND_UPDATE, &b);
}

static int pg_refund_get(struct esc_store *s, const char *id, struct esc_refund *out)
{
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	b_str(&b, 1, id);
	rc = query(pg_of(s), S_REFUND_GET, &b, &res);
	if (!rc)
		rc = PQntuples(res) > 0 ? read_refund(res, 0, out) : ESC_ENOTFOUND;
	PQclear(res);
	return rc;
}

static int pg_refunds_list(struct esc_store *s, const char *order_id, int status,
			   const char *after_id, struct esc_refund *out, size_t max, size_t *n)
{
	struct bind b = {0};
	PGresult *res = NULL;
	int i = 1;
	int rc = 0;

	*n = 0;
	/* REFUNDS_BY_ORDER: order, status, limit, after; REFUNDS_ALL: the
	 * same without the order. */
	if (order_id)
		b_str(&b, i++, order_id);
	if (status >= 0)
		b_enum(&b, i++, &esc_enum_refund_status, status);
	else
		b_str(&b, i++, NULL);
	b_i64(&b, i++, limit_of(max));
	b_str(&b, i++, after_id);
	rc = query(pg_of(s), order_id ? S_REFUNDS_BY_ORDER : S_REFUNDS_ALL, &b, &res);
	for (int row = 0; !rc && row < rows_max(res, max); row++) {
		rc = read_refund(res, row, &out[*n]);
		if (!rc)
			(*n)++;
	}
	PQclear(res);
	return rc;
}

/* ---- deadlines ---- */

/* Setting a row that is there (which drops its claim), or deleting one
 * that is not, succeeds: the queue holds facts, not requests. */
static int pg_deadline_apply(struct esc_store *s, const char *order_id,
			     const struct esc_deadline_op *op)
{
	struct bind b = {0};

	b_i64(&b, 1, op->due_ms);
	b_str(&b, 2, order_id);
	b_enum(&b, 3, &esc_enum_deadline, (int)op->kind);
	B_FIELD(&b, 4, op->ref);
	return run(pg_of(s), op->set ? S_DEADLINE_INSERT : S_DEADLINE_DELETE, &b);
}

static int deadlines_read(const PGresult *res, struct esc_deadline *out, size_t max, size_t *n)
{
	int rc = 0;

	for (int row = 0; !rc && row < rows_max(res, max); row++) {
		rc = read_deadline(res, row, &out[*n]);
		if (!rc)
			(*n)++;
	}
	return rc;
}

static int pg_deadlines_due(struct esc_store *s, int64_t now_ms, struct esc_deadline *out,
			    size_t max, size_t *n)
{
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	*n = 0;
	b_i64(&b, 1, now_ms);
	b_i64(&b, 2, limit_of(max));
	rc = query(pg_of(s), S_DEADLINES_DUE, &b, &res);
	if (!rc)
		rc = deadlines_read(res, out, max, n);
	PQclear(res);
	return rc;
}

/* Under SERIALIZABLE two callers that pick the same row cannot both
 * commit: one gets ESC_ERETRY. Outside a transaction (READ COMMITTED by
 * default) the outer test of the claim is checked again on the row's
 * newest version, so a row claimed meanwhile is skipped, not taken twice
 * (unless its new holder's lease is newer than the statement's snapshot:
 * then the order, moved on, drops the second firing). */
static int pg_deadlines_claim(struct esc_store *s, int64_t now_ms, const char *owner,
			      int64_t real_ms, struct esc_deadline *out, size_t max, size_t *n)
{
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	*n = 0;
	b_i64(&b, 1, now_ms);
	b_i64(&b, 2, limit_of(max));
	b_str(&b, 3, owner);
	b_i64(&b, 4, real_ms);
	rc = query(pg_of(s), S_DEADLINES_CLAIM, &b, &res);
	/* The LIMIT holds the rows to max; a row beyond it is a bug. */
	assert(rc || (size_t)PQntuples(res) <= max);
	if (!rc)
		rc = deadlines_read(res, out, max, n);
	if (!rc)
		qsort(out, *n, sizeof *out, esc_deadline_cmp);
	PQclear(res);
	return rc;
}

static int pg_deadlines_release(struct esc_store *s, const char *owner)
{
	struct bind b = {0};

	b_str(&b, 1, owner);
	return run(pg_of(s), S_DEADLINES_RELEASE, &b);
}

/* ---- deadline workers' leases ---- */

static int pg_process_beat(struct esc_store *s, const struct esc_process *p)
{
	struct bind b = {0};

	B_FIELD(&b, 1, p->id);
	b_i64(&b, 2, p->started_ms);
	b_i64(&b, 3, p->heartbeat_ms);
	b_i64(&b, 4, p->lease_ms);
	return run(pg_of(s), S_PROCESS_BEAT, &b);
}

static int pg_process_end(struct esc_store *s, const char *id)
{
	struct bind b = {0};

	b_str(&b, 1, id);
	return run(pg_of(s), S_PROCESS_END, &b);
}

static int pg_processes_purge(struct esc_store *s, int64_t real_ms)
{
	struct bind b = {0};

	b_i64(&b, 1, real_ms);
	return run(pg_of(s), S_PROCESSES_PURGE, &b);
}

static int pg_process_get(struct esc_store *s, const char *id, struct esc_process *out)
{
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	b_str(&b, 1, id);
	rc = query(pg_of(s), S_PROCESS_GET, &b, &res);
	if (!rc && PQntuples(res) > 0) {
		memset(out, 0, sizeof *out);
		snprintf(out->id, sizeof out->id, "%s", id);
		out->started_ms = col_i64(res, 0, 0);
		out->heartbeat_ms = col_i64(res, 0, 1);
		out->lease_ms = col_i64(res, 0, 2);
	} else if (!rc) {
		rc = ESC_ENOTFOUND;
	}
	PQclear(res);
	return rc;
}

/* ---- outbox, marks, meta ---- */

static int pg_outbox_append(struct esc_store *s, const struct esc_outbox_row *row)
{
	struct bind b = {0};

	b_i64(&b, 1, row->at_ms);
	B_FIELD(&b, 2, row->type);
	B_FIELD(&b, 3, row->order_id);
	b_str(&b, 4, row->payload ? row->payload : "{}");
	return run(pg_of(s), S_OUTBOX_INSERT, &b);
}

/* The single integer a statement returns. */
static int scalar(struct pg *p, enum stmt_id id, const struct bind *b, int64_t *out)
{
	PGresult *res = NULL;
	int rc = query(p, id, b, &res);

	*out = 0;
	if (!rc && PQntuples(res) == 1)
		*out = col_i64(res, 0, 0);
	else if (!rc)
		rc = ESC_EIO;
	PQclear(res);
	return rc;
}

static int pg_outbox_count(struct esc_store *s, int64_t *n)
{
	struct bind b = {0};

	return scalar(pg_of(s), S_OUTBOX_COUNT, &b, n);
}

/* The same mark for the same user, order and time is one fact: appending
 * it again changes nothing. */
static int pg_mark_append(struct esc_store *s, const char *user_id, enum esc_mark mark,
			  const char *order_id, int64_t at_ms)
{
	struct bind b = {0};

	b_str(&b, 1, user_id);
	b_i64(&b, 2, at_ms);
	b_str(&b, 3, order_id ? order_id : "");
	b_enum(&b, 4, &esc_enum_mark, (int)mark);
	return run(pg_of(s), S_MARK_INSERT, &b);
}

static int pg_mark_counts(struct esc_store *s, const char *user_id, int64_t short_since_ms,
			  int64_t long_since_ms, struct esc_rep_counts *out)
{
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	memset(out, 0, sizeof *out);
	b_str(&b, 1, user_id);
	b_i64(&b, 2, short_since_ms);
	b_i64(&b, 3, long_since_ms);
	rc = query(pg_of(s), S_MARK_COUNTS, &b, &res);
	for (int row = 0; !rc && row < PQntuples(res); row++) {
		int mark = 0;
		rc = col_enum(res, row, 0, &esc_enum_mark, &mark);
		if (rc)
			break;
		out->short_[mark] = (int32_t)col_i64(res, row, 1);
		out->long_[mark] = (int32_t)col_i64(res, row, 2);
	}
	PQclear(res);
	return rc;
}

static int pg_marks_list(struct esc_store *s, const char *user_id, int64_t since_ms,
			 struct esc_mark_row *out, size_t max, size_t *n)
{
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	*n = 0;
	b_str(&b, 1, user_id);
	b_i64(&b, 2, since_ms);
	b_i64(&b, 3, limit_of(max));
	rc = query(pg_of(s), S_MARKS_LIST, &b, &res);
	for (int row = 0; !rc && row < rows_max(res, max); row++) {
		struct esc_mark_row *m = &out[*n];
		int mark = 0;
		memset(m, 0, sizeof *m);
		m->at_ms = col_i64(res, row, 0);
		COL_FIELD(res, row, 1, m->order_id);
		rc = col_enum(res, row, 2, &esc_enum_mark, &mark);
		m->mark = (enum esc_mark)mark;
		if (!rc)
			(*n)++;
	}
	PQclear(res);
	return rc;
}

static int pg_lift_insert(struct esc_store *s, const struct esc_lift *l)
{
	struct bind b = {0};

	B_FIELD(&b, 1, l->user_id);
	b_i64(&b, 2, l->at_ms);
	B_FIELD(&b, 3, l->arbiter_id);
	B_FIELD(&b, 4, l->reason);
	return run(pg_of(s), S_LIFT_INSERT, &b);
}

static int pg_lifts_list(struct esc_store *s, const char *user_id, struct esc_lift *out, size_t max,
			 size_t *n)
{
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	*n = 0;
	b_str(&b, 1, user_id);
	b_i64(&b, 2, limit_of(max));
	rc = query(pg_of(s), S_LIFTS_LIST, &b, &res);
	for (int row = 0; !rc && row < rows_max(res, max); row++) {
		struct esc_lift *l = &out[*n];
		memset(l, 0, sizeof *l);
		snprintf(l->user_id, sizeof l->user_id, "%s", user_id);
		l->at_ms = col_i64(res, row, 0);
		COL_FIELD(res, row, 1, l->arbiter_id);
		COL_FIELD(res, row, 2, l->reason);
		(*n)++;
	}
	PQclear(res);
	return rc;
}

static int pg_meta_get(struct esc_store *s, const char *key, int64_t *value)
{
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	b_str(&b, 1, key);
	rc = query(pg_of(s), S_META_GET, &b, &res);
	if (!rc && PQntuples(res) > 0)
		*value = col_i64(res, 0, 0);
	else if (!rc)
		rc = ESC_ENOTFOUND;
	PQclear(res);
	return rc;
}

static int pg_meta_set(struct esc_store *s, const char *key, int64_t value)
{
	struct bind b = {0};

	b_str(&b, 1, key);
	b_i64(&b, 2, value);
	return run(pg_of(s), S_META_SET, &b);
}

/* One statement: the upsert keeps concurrent hits from several processes
 * apart (the row lock orders them), and returns the count with this one. */
static int pg_rate_hit(struct esc_store *s, const char *key, int64_t window_start_ms, int64_t delta,
		       int64_t *count)
{
	struct bind b = {0};

	assert(delta != 0);
	b_str(&b, 1, key);
	b_i64(&b, 2, window_start_ms);
	b_i64(&b, 3, delta);
	return scalar(pg_of(s), S_RATE_HIT, &b, count);
}

/* ---- sessions and API keys ---- */

static int pg_session_insert(struct esc_store *s, const struct esc_session *session)
{
	struct bind b = {0};

	B_FIELD(&b, 1, session->token_hash);
	B_FIELD(&b, 2, session->user_id);
	B_FIELD(&b, 3, session->csrf);
	b_i64(&b, 4, session->created_at_ms);
	b_i64(&b, 5, session->last_seen_ms);
	return run(pg_of(s), S_SESSION_INSERT, &b);
}

static int pg_session_get(struct esc_store *s, const char *token_hash, struct esc_session *out)
{
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	b_str(&b, 1, token_hash);
	rc = query(pg_of(s), S_SESSION_GET, &b, &res);
	if (!rc && PQntuples(res) > 0) {
		memset(out, 0, sizeof *out);
		COL_FIELD(res, 0, 0, out->token_hash);
		COL_FIELD(res, 0, 1, out->user_id);
		COL_FIELD(res, 0, 2, out->csrf);
		out->created_at_ms = col_i64(res, 0, 3);
		out->last_seen_ms = col_i64(res, 0, 4);
	} else if (!rc) {
		rc = ESC_ENOTFOUND;
	}
	PQclear(res);
	return rc;
}

static int pg_session_touch(struct esc_store *s, const char *token_hash, int64_t last_seen_ms)
{
	struct bind b = {0};

	b_str(&b, 1, token_hash);
	b_i64(&b, 2, last_seen_ms);
	return run_one(pg_of(s), S_SESSION_TOUCH, &b);
}

static int pg_session_delete(struct esc_store *s, const char *token_hash)
{
	struct bind b = {0};

	b_str(&b, 1, token_hash);
	return run_one(pg_of(s), S_SESSION_DELETE, &b);
}

static int pg_api_key_insert(struct esc_store *s, const char *key_hash, int64_t created_at_ms)
{
	struct bind b = {0};

	b_str(&b, 1, key_hash);
	b_i64(&b, 2, created_at_ms);
	return run(pg_of(s), S_API_KEY_INSERT, &b);
}

static int pg_api_key_exists(struct esc_store *s, const char *key_hash)
{
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	b_str(&b, 1, key_hash);
	rc = query(pg_of(s), S_API_KEY_EXISTS, &b, &res);
	if (!rc && PQntuples(res) == 0)
		rc = ESC_ENOTFOUND;
	PQclear(res);
	return rc;
}

static int pg_api_keys_count(struct esc_store *s, int64_t *n)
{
	struct bind b = {0};

	return scalar(pg_of(s), S_API_KEYS_COUNT, &b, n);
}

static int pg_idempotency_put(struct esc_store *s, const struct esc_idempotency *rec)
{
	struct bind b = {0};

	B_FIELD(&b, 1, rec->scope);
	B_FIELD(&b, 2, rec->key);
	B_FIELD(&b, 3, rec->request_hash);
	b_i64(&b, 4, rec->status);
	b_str(&b, 5, rec->response ? rec->response : "");
	b_i64(&b, 6, rec->created_at_ms);
	return run(pg_of(s), S_IDEM_PUT, &b);
}

static int pg_idempotency_answer(struct esc_store *s, const struct esc_idempotency *rec)
{
	struct bind b = {0};

	B_FIELD(&b, 1, rec->scope);
	B_FIELD(&b, 2, rec->key);
	b_i64(&b, 3, rec->status);
	b_str(&b, 4, rec->response ? rec->response : "");
	return run_one(pg_of(s), S_IDEM_ANSWER, &b);
}

static int pg_idempotency_get(struct esc_store *s, const char *scope, const char *key,
			      struct esc_idempotency *out)
{
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	b_str(&b, 1, scope);
	b_str(&b, 2, key);
	rc = query(pg_of(s), S_IDEM_GET, &b, &res);
	if (!rc && PQntuples(res) > 0) {
		memset(out, 0, sizeof *out);
		snprintf(out->scope, sizeof out->scope, "%s", scope);
		snprintf(out->key, sizeof out->key, "%s", key);
		COL_FIELD(res, 0, 0, out->request_hash);
		out->status = col_int(res, 0, 1);
		out->response = strdup(col_str(res, 0, 2));
		out->created_at_ms = col_i64(res, 0, 3);
		rc = out->response ? 0 : ESC_ENOMEM;
	} else if (!rc) {
		rc = ESC_ENOTFOUND;
	}
	PQclear(res);
	return rc;
}

static int pg_idempotency_purge(struct esc_store *s, int64_t before_ms)
{
	struct bind b = {0};

	b_i64(&b, 1, before_ms);
	return run(pg_of(s), S_IDEM_PURGE, &b);
}

/* ---- messages and evidence ---- */

/* The next number of an order's messages or files: what statement id
 * (SELECT COALESCE(MAX(seq), 0) + 1 ... WHERE order_id = $1) answers.
 * SERIALIZABLE makes max + 1 safe: of two transactions that number the
 * same order at once, one fails. */
static int next_seq(struct pg *p, enum stmt_id id, const char *order_id, int64_t *seq)
{
	struct bind b = {0};

	b_str(&b, 1, order_id);
	return scalar(p, id, &b, seq);
}

/* A number taken meanwhile is a concurrent writer's, not a duplicate the
 * caller made: the transaction must run again, and counts as doomed. */
static int insert_numbered(struct pg *p, enum stmt_id id, const struct bind *b)
{
	int rc = run(p, id, b);

	if (rc == ESC_EDUPLICATE) {
		rc = ESC_ERETRY;
		if (p->in_tx)
			p->doomed = true;
	}
	return rc;
}

static int message_append_body(struct pg *p, void *arg)
{
	struct esc_message *m = arg;
	struct bind b = {0};
	int rc = next_seq(p, S_MESSAGE_NEXT, m->order_id, &m->seq);

	if (rc)
		goto out;
	B_FIELD(&b, 1, m->order_id);
	b_i64(&b, 2, m->seq);
	b_i64(&b, 3, m->at_ms);
	B_FIELD(&b, 4, m->author_id);
	b_enum(&b, 5, &esc_enum_actor, (int)m->role);
	B_FIELD(&b, 6, m->body);
	rc = insert_numbered(p, S_MESSAGE_INSERT, &b);
out:
	return rc;
}

static int pg_message_append(struct esc_store *s, struct esc_message *m)
{
	return atomically(pg_of(s), SQL_BEGIN, message_append_body, m);
}

static int pg_messages_list(struct esc_store *s, const char *order_id, int64_t after_seq,
			    struct esc_message *out, size_t max, size_t *n)
{
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	*n = 0;
	b_str(&b, 1, order_id);
	b_i64(&b, 2, after_seq);
	b_i64(&b, 3, limit_of(max));
	rc = query(pg_of(s), S_MESSAGES_LIST, &b, &res);
	for (int row = 0; !rc && row < rows_max(res, max); row++) {
		struct esc_message *m = &out[*n];
		int role = 0;
		memset(m, 0, sizeof *m);
		snprintf(m->order_id, sizeof m->order_id, "%s", order_id);
		m->seq = col_i64(res, row, 0);
		m->at_ms = col_i64(res, row, 1);
		COL_FIELD(res, row, 2, m->author_id);
		rc = col_enum(res, row, 3, &esc_enum_actor, &role);
		m->role = (enum esc_actor)role;
		COL_FIELD(res, row, 4, m->body);
		if (!rc)
			(*n)++;
	}
	PQclear(res);
	return rc;
}

struct evidence_append {
	struct esc_evidence *ev;
	const void *data;
};

static int evidence_append_body(struct pg *p, void *arg)
{
	struct evidence_append *a = arg;
	struct esc_evidence *ev = a->ev;
	struct bind b = {0};
	int rc = next_seq(p, S_EVIDENCE_NEXT, ev->order_id, &ev->seq);

	if (rc)
		goto out;
	B_FIELD(&b, 1, ev->order_id);
	b_i64(&b, 2, ev->seq);
	b_i64(&b, 3, ev->at_ms);
	B_FIELD(&b, 4, ev->author_id);
	b_enum(&b, 5, &esc_enum_actor, (int)ev->role);
	B_FIELD(&b, 6, ev->content_type);
	B_FIELD(&b, 7, ev->filename);
	b_i64(&b, 8, ev->size);
	B_FIELD(&b, 9, ev->sha256);
	b_bytes(&b, 10, a->data, ev->size);
	rc = insert_numbered(p, S_EVIDENCE_INSERT, &b);
out:
	return rc;
}

static int pg_evidence_append(struct esc_store *s, struct esc_evidence *ev, const void *data)
{
	struct evidence_append a = {ev, data};

	return atomically(pg_of(s), SQL_BEGIN, evidence_append_body, &a);
}

/* Columns as EVIDENCE_COLS lists them, in text or in binary. */
static int read_evidence(const PGresult *res, int row, struct esc_evidence *ev)
{
	int role = 0;
	int rc = 0;

	memset(ev, 0, sizeof *ev);
	COL_FIELD(res, row, 0, ev->order_id);
	ev->seq = col_i64(res, row, 1);
	ev->at_ms = col_i64(res, row, 2);
	COL_FIELD(res, row, 3, ev->author_id);
	rc = col_enum(res, row, 4, &esc_enum_actor, &role);
	ev->role = (enum esc_actor)role;
	COL_FIELD(res, row, 5, ev->content_type);
	COL_FIELD(res, row, 6, ev->filename);
	ev->size = col_i64(res, row, 7);
	COL_FIELD(res, row, 8, ev->sha256);
	return rc;
}

static int pg_evidence_list(struct esc_store *s, const char *order_id, struct esc_evidence *out,
			    size_t max, size_t *n)
{
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	*n = 0;
	b_str(&b, 1, order_id);
	b_i64(&b, 2, limit_of(max));
	rc = query(pg_of(s), S_EVIDENCE_LIST, &b, &res);
	for (int row = 0; !rc && row < rows_max(res, max); row++) {
		rc = read_evidence(res, row, &out[*n]);
		if (!rc)
			(*n)++;
	}
	PQclear(res);
	return rc;
}

/* The bytes come in binary, as they are: text would double them. */
static int pg_evidence_get(struct esc_store *s, const char *order_id, int64_t seq,
			   struct esc_evidence *out, void **data)
{
	struct bind b = {0};
	PGresult *res = NULL;
	int len = 0;
	int rc = 0;

	*data = NULL;
	b_str(&b, 1, order_id);
	b_i64(&b, 2, seq);
	rc = exec_id(pg_of(s), S_EVIDENCE_GET, &b, BINARY_FORMAT, &res);
	if (rc)
		goto out;
	if (PQntuples(res) == 0) {
		rc = ESC_ENOTFOUND;
		goto out;
	}
	rc = read_evidence(res, 0, out);
	len = PQgetlength(res, 0, 9);
	if (!rc && (int64_t)len != out->size)
		rc = ESC_EIO;
	if (rc)
		goto out;
	*data = malloc(len ? (size_t)len : 1);
	if (!*data)
		rc = ESC_ENOMEM;
	else if (len)
		memcpy(*data, PQgetvalue(res, 0, 9), (size_t)len);
out:
	PQclear(res);
	return rc;
}

static int pg_refunds_count(struct esc_store *s, enum esc_refund_status status, int64_t *n)
{
	struct bind b = {0};

	b_enum(&b, 1, &esc_enum_refund_status, (int)status);
	return scalar(pg_of(s), S_REFUNDS_COUNT, &b, n);
}

/* ---- ledger_check ---- */

/* Run check which: each row of its result is a problem. */
static int check(struct pg *p, enum esc_check which, struct esc_ledger_report *r)
{
	struct bind none = {0};
	PGresult *res = NULL;
	int rc = query(p, (enum stmt_id)(S_CHECK_CURRENCIES + which), &none, &res);

	for (int i = 0; !rc && i < PQntuples(res); i++) {
		struct esc_row row = ROW_OF(res, i);
		esc_check_say(which, &row, r);
	}
	PQclear(res);
	return rc;
}

static int ledger_check_body(struct pg *p, void *arg)
{
	struct esc_ledger_report *out = arg;
	struct bind none = {0};
	int rc = 0;

	memset(out, 0, sizeof *out);
	rc = scalar(p, S_CHECK_TRANSFERS, &none, &out->transfers_count);
	if (!rc)
		rc = scalar(p, S_CHECK_ORDERS, &none, &out->orders_count);
	for (int k = 0; !rc && k < ESC_CHECKS_COUNT; k++)
		rc = check(p, (enum esc_check)k, out);
	return rc;
}

/* One snapshot for every query; a read-only REPEATABLE READ transaction
 * never waits and never fails for a concurrent writer. */
static int pg_ledger_check(struct esc_store *s, struct esc_ledger_report *out)
{
	return atomically(pg_of(s), SQL_BEGIN_READ, ledger_check_body, out);
}

/* ---- open and close ---- */

static void pg_close(struct esc_store *s)
{
	struct pg *p = pg_of(s);

	if (p->conn) {
		/* A transaction left open by the caller is not committed;
		 * rolling it back now frees its locks at once. */
		(void)tx_rollback(p);
		PQfinish(p->conn);
	}
	free(p);
}

static const struct esc_store_ops pg_ops = {
	.name = "postgresql",
	.shared = true,
	.close = pg_close,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.savepoint = pg_savepoint,
	.savepoint_release = pg_savepoint_release,
	.savepoint_rollback = pg_savepoint_rollback,
	.user_insert = pg_user_insert,
	.user_get = pg_user_get,
	.user_by_email = pg_user_by_email,
	.user_update = pg_user_update,
	.users_list = pg_users_list,
	.order_insert = pg_order_insert,
	.order_get = pg_order_get,
	.order_update = pg_order_update,
	.order_items = pg_order_items,
	.orders_list = pg_orders_list,
	.orders_count = pg_orders_count,
	.history_append = pg_history_append,
	.history_list = pg_history_list,
	.transfers_append = pg_transfers_append,
	.balance_get = pg_balance_get,
	.refund_insert = pg_refund_insert,
	.refund_update = pg_refund_update,
	.refund_get = pg_refund_get,
	.refunds_list = pg_refunds_list,
	.refunds_count = pg_refunds_count,
	.deadline_apply = pg_deadline_apply,
	.deadlines_due = pg_deadlines_due,
	.deadlines_claim = pg_deadlines_claim,
	.deadlines_release = pg_deadlines_release,
	.process_beat = pg_process_beat,
	.process_end = pg_process_end,
	.processes_purge = pg_processes_purge,
	.process_get = pg_process_get,
	.outbox_append = pg_outbox_append,
	.outbox_count = pg_outbox_count,
	.mark_append = pg_mark_append,
	.mark_counts = pg_mark_counts,
	.marks_list = pg_marks_list,
	.lift_insert = pg_lift_insert,
	.lifts_list = pg_lifts_list,
	.meta_get = pg_meta_get,
	.meta_set = pg_meta_set,
	.ledger_check = pg_ledger_check,
	.session_insert = pg_session_insert,
	.session_get = pg_session_get,
	.session_touch = pg_session_touch,
	.session_delete = pg_session_delete,
	.api_key_insert = pg_api_key_insert,
	.api_key_exists = pg_api_key_exists,
	.api_keys_count = pg_api_keys_count,
	.idempotency_put = pg_idempotency_put,
	.idempotency_answer = pg_idempotency_answer,
	.idempotency_get = pg_idempotency_get,
	.idempotency_purge = pg_idempotency_purge,
	.message_append = pg_message_append,
	.messages_list = pg_messages_list,
	.evidence_append = pg_evidence_append,
	.evidence_list = pg_evidence_list,
	.evidence_get = pg_evidence_get,
	.rate_hit = pg_rate_hit,
};

const char *esc_pg_last_error(const struct esc_store *s)
{
	return s && s->ops == &pg_ops ? ((const struct pg *)s)->error : "";
}

int esc_pg_open(const char *url, struct esc_store **out, char *err, size_t err_size)
{
	/* The URL is expanded in place of dbname, as PQconnectdb would;
	 * after it, UTF-8 (every string escrowd stores is) and a name for
	 * pg_stat_activity unless the URL gives one. */
	static const char *const keys[] = {"dbname", "client_encoding", "fallback_application_name",
					   NULL};
	const char *values[] = {url, "UTF8", "escrowd", NULL};
	struct pg *p = calloc(1, sizeof *p);
	char msg[ERROR_SIZE];
	int rc = 0;

	*out = NULL;
	if (!p) {
		rc = ESC_ENOMEM;
		esc_set_err(err, err_size, "out of memory");
		goto out;
	}
	p->base.ops = &pg_ops;
	p->conn = PQconnectdbParams(keys, values, 1);
	if (!p->conn) {
		rc = ESC_ENOMEM;
		esc_set_err(err, err_size, "out of memory");
		goto fail;
	}
	if (PQstatus(p->conn) != CONNECTION_OK) {
		rc = ESC_EIO;
		esc_pg_one_line(msg, sizeof msg, PQerrorMessage(p->conn));
		esc_set_err(err, err_size, "cannot connect to PostgreSQL: %s", msg);
		goto fail;
	}
	PQsetNoticeProcessor(p->conn, quiet, NULL);
	rc = esc_pg_migrate(p->conn, err, err_size);
	if (rc) {
		/* Say which database: the message names the problem only. */
		snprintf(msg, sizeof msg, "%s", err && err_size ? err : "");
		esc_set_err(err, err_size, "PostgreSQL database %s: %s", PQdb(p->conn), msg);
		goto fail;
	}
	*out = &p->base;
	goto out;
fail:
	pg_close(&p->base);
out:
	return rc;
}
