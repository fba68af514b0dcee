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
 * Round trips: inside a transaction the connection is in libpq's pipeline
 * mode. BEGIN, savepoints and the writes whose answer nothing waits for
 * (run_later: outbox rows, deadline rows, transfers, counters, inserts of
 * new ids) are sent as they come and their answers read with the next
 * statement that must be answered (a read, COMMIT): one round trip for
 * all. Such a write that fails dooms the whole transaction (every verb,
 * savepoint_rollback and commit return its code), since the command that
 * sent it may have answered already: the caller rolls back, and the
 * engine runs the batch again when the code is ESC_ERETRY (a
 * serialization failure or a deadlock); any other failure there is
 * ESC_EBUSY (a lock timeout, a lost connection: 503) or ESC_EIO for the
 * batch's commands, never a refusal code. Writes whose answer decides
 * something (a key the caller may find taken, a mark that may be there)
 * are waited for, as are reads; in a transaction of one snapshot the
 * order's compare-and-set is not (pg_order_update), nor a mark whose
 * user's marks at its time read_ahead read (pg_mark_append). A
 * transaction also reads each user once (user_get): its snapshot gives
 * the same row until it writes one; and read_ahead reads a batch's rows
 * in one round trip, kept for the transaction (struct ahead).
 *
 * One thread at a time uses a store, which is one connection; statements
 * are prepared on first use and again after the connection is made anew. */
#include "store/pg/pg.h"

#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "store/pg/migrations.h"
#include "util/clock.h"
#include "store/common.h"
#include "util/id.h"
#include "util/error.h"
#include "util/bug.h"

/* How often a verb's own transaction is run when concurrent ones keep
 * forcing it to abort, before ESC_ERETRY reaches the caller; between
 * tries it waits as esc_backoff_sleep() says. */
#define OWN_TX_TRIES  8
#define PARAMS_MAX    ESC_SQL_PARAMS_MAX
#define ERROR_SIZE    256
#define SQL_SIZE      ESC_SQL_SIZE /* a statement's, with $N placeholders */
#define TEXT_FORMAT   0
#define BINARY_FORMAT 1
/* The most answers owed in a pipeline before they are read (a Sync sent
 * and every answer read): a command owes a dozen or so, and each of its
 * reads collects them. */
#define PIPE_MAX 256
/* Users kept for the rest of a transaction (struct pg's users). */
#define USERS_KEPT 32

/* ---- statements ---- */

/* X(ID, SQL): prepared on first use on each connection, each ?N written
 * $N then (esc_sql_dollars); the shared ones are common.h's. */
#define TRANSFER_ADD                                                                               \
	"ON CONFLICT (account, currency) DO UPDATE "                                               \
	"SET balance_minor = balances.balance_minor + excluded.balance_minor"

#define STATEMENTS(X)                                                                              \
	X(USER_BY_EMAIL, ESC_SQL_USER_SELECT " WHERE lower(email) = lower(?1 COLLATE \"C\")")      \
	X(ENTRY_FIRST, "INSERT INTO entries (transfer_id, leg, account, amount_minor, currency, "  \
		       "order_id, kind, at_ms) VALUES (?1, 0, ?2, ?3, ?4, ?5, ?6, ?7) "            \
		       "ON CONFLICT DO NOTHING")                                                   \
	/* A transfer in one statement, sent without waiting (run_later):                          \
	 * its two legs and the kept balances it moves (?10, ?11: 1 when                           \
	 * the account's balance is kept), all only when leg 0 was not                             \
	 * stored already (a transfer recorded before). */                                         \
	X(TRANSFER, "WITH f AS (INSERT INTO entries (transfer_id, leg, account, amount_minor, "    \
		    "currency, order_id, kind, at_ms) VALUES (?1, 0, ?2, ?3, ?4, ?5, ?6, ?7) "     \
		    "ON CONFLICT DO NOTHING RETURNING transfer_id), "                              \
		    "l AS (INSERT INTO entries (transfer_id, leg, account, amount_minor, "         \
		    "currency, order_id, kind, at_ms) SELECT transfer_id, 1, CAST(?8 AS TEXT), "   \
		    "CAST(?9 AS BIGINT), ?4, ?5, ?6, ?7 FROM f), "                                 \
		    "b AS (INSERT INTO balances (account, currency, balance_minor) "               \
		    "SELECT ?2, ?4, ?3 FROM f WHERE CAST(?10 AS BIGINT) = 1 " TRANSFER_ADD ") "    \
		    "INSERT INTO balances (account, currency, balance_minor) "                     \
		    "SELECT ?8, ?4, ?9 FROM f WHERE CAST(?11 AS BIGINT) = 1 " TRANSFER_ADD)        \
	/* The user's counters, and the marks each window's move passes                            \
	 * over (esc_rep_move's tallies: between the row's start and the                           \
	 * new one, ?2 and ?3), in one round trip. */                                              \
	X(REP_GET_MOVED, "SELECT " ESC_REP_COLUMNS ", "                                            \
			 "ARRAY(SELECT m.mark FROM marks m WHERE m.user_id = r.user_id "           \
			 "AND m.at_ms > LEAST(r.short_since_ms, CAST(?2 AS BIGINT)) "              \
			 "AND m.at_ms <= GREATEST(r.short_since_ms, CAST(?2 AS BIGINT))), "        \
			 "ARRAY(SELECT m.mark FROM marks m WHERE m.user_id = r.user_id "           \
			 "AND m.at_ms > LEAST(r.long_since_ms, CAST(?3 AS BIGINT)) "               \
			 "AND m.at_ms <= GREATEST(r.long_since_ms, CAST(?3 AS BIGINT))) "          \
			 "FROM reputation_counts r WHERE r.user_id = ?1")                          \
	X(DEADLINES_CLAIM,                                                                         \
	  "UPDATE deadlines SET claim_owner = ?3 "                                                 \
	  "WHERE (due_ms, order_id, kind, ref) IN (SELECT due_ms, order_id, kind, ref "            \
	  "FROM deadlines WHERE due_ms <= ?1 AND " ESC_SQL_CLAIM_FREE " "                          \
	  "ORDER BY due_ms, order_id, kind, ref LIMIT ?2) AND " ESC_SQL_CLAIM_FREE " "             \
	  "RETURNING due_ms, order_id, kind, ref")                                                 \
	/* ESC_SQL_FANOUT_EVENTS with its LIMIT on the pending rows, inside:                       \
	 * then the plan is a walk of fanout_pending's first rows and one                          \
	 * outbox lookup each, whatever the statistics say. Joined first, a                        \
	 * planner that thought fanout_pending large (its rows come and go)                        \
	 * chose a merge join that read the outbox's key from its first row:                       \
	 * 15 ms a call with 50,000 events, 20 % of the server's CPU in the                        \
	 * flow's phases. A pending row always has its event (one                                  \
	 * statement writes both, the purge deletes both in one                                    \
	 * transaction): one without would take a place of LIMIT. The                              \
	 * event is looked up by a LATERAL subquery with its own LIMIT,                            \
	 * which the planner cannot turn into a join: a plan made while                            \
	 * the outbox was small (a new database, statistics not yet                                \
	 * gathered) hashed the whole outbox at every call, 3 ms and more                          \
	 * with 30,000 events (auto_explain during bench.py's pay phase). */                       \
	X(FANOUT_EVENTS, "SELECT f.seq, o.type, o.order_id, o.at_ms FROM (SELECT seq FROM "        \
			 "fanout_pending ORDER BY seq LIMIT ?1 FOR UPDATE SKIP LOCKED) f "         \
			 "JOIN LATERAL (SELECT type, order_id, at_ms FROM outbox "                 \
			 "WHERE outbox.seq = f.seq LIMIT 1) o ON true ORDER BY f.seq")             \
	X(OUTBOX_INSERT, "WITH e AS (" ESC_SQL_OUTBOX_INSERT " RETURNING seq) "                    \
			 "INSERT INTO fanout_pending (seq) SELECT seq FROM e")                     \
	X(MARK_INSERT, "INSERT INTO marks (user_id, at_ms, order_id, mark) "                       \
		       "VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING")                           \
	X(RATE_HIT, "INSERT INTO rate_limits (key, window_start_ms, count) "                       \
		    "VALUES (?1, ?2, GREATEST(?3::bigint, 0)) ON CONFLICT (key) DO UPDATE SET "    \
		    "count = CASE WHEN excluded.window_start_ms > rate_limits.window_start_ms "    \
		    "THEN GREATEST(?3::bigint, 0) "                                                \
		    "WHEN excluded.window_start_ms = rate_limits.window_start_ms "                 \
		    "OR ?3::bigint > 0 THEN GREATEST(rate_limits.count + ?3::bigint, 0) "          \
		    "ELSE rate_limits.count END, "                                                 \
		    "window_start_ms = GREATEST(rate_limits.window_start_ms, "                     \
		    "excluded.window_start_ms) RETURNING count")                                   \
	/* read_ahead's, one round trip for all: ?1 the orders' ids, ?2 the                        \
	 * users' besides the orders' parties, ?3..?6 the window starts                            \
	 * (buyer short, long, seller short, long). Each row is looked up by                       \
	 * its key in a LATERAL subquery with its own LIMIT, which no plan                         \
	 * can turn into a scan: a generic plan made while the orders were                         \
	 * few (a new database) scanned them all at every call, 30 ms a                            \
	 * batch once there were 20,000. The users: */                                             \
	X(USERS_AHEAD,                                                                             \
	  "WITH " AHEAD_USER_IDS " SELECT u.* FROM i CROSS JOIN LATERAL (" ESC_SQL_USER_SELECT     \
	  " WHERE users.id = i.id LIMIT 1) u")                                                     \
	/* ... their counters as REP_GET_MOVED reads them, each at its role's                      \
	 * window starts (written after the arrays), with whether the user                         \
	 * has a counters row at all: */                                                           \
	X(COUNTS_AHEAD,                                                                            \
	  "WITH " AHEAD_USER_IDS ", a AS (SELECT u.id, CASE WHEN u.role = 'seller' "               \
	  "THEN CAST(?5 AS BIGINT) ELSE CAST(?3 AS BIGINT) END AS s, CASE WHEN "                   \
	  "u.role = 'seller' THEN CAST(?6 AS BIGINT) ELSE CAST(?4 AS BIGINT) END AS l "            \
	  "FROM i CROSS JOIN LATERAL (SELECT id, role FROM users WHERE users.id = i.id "           \
	  "LIMIT 1) u) SELECT " ESC_REP_COLUMNS ", "                                               \
	  "ARRAY(SELECT m.mark FROM marks m WHERE m.user_id = a.id "                               \
	  "AND m.at_ms > LEAST(r.short_since_ms, a.s) "                                            \
	  "AND m.at_ms <= GREATEST(r.short_since_ms, a.s)), "                                      \
	  "ARRAY(SELECT m.mark FROM marks m WHERE m.user_id = a.id "                               \
	  "AND m.at_ms > LEAST(r.long_since_ms, a.l) "                                             \
	  "AND m.at_ms <= GREATEST(r.long_since_ms, a.l)), "                                       \
	  "a.id, a.s, a.l, CASE WHEN r.user_id IS NULL THEN 0 ELSE 1 END FROM a "                  \
	  "LEFT JOIN LATERAL (SELECT * FROM reputation_counts WHERE "                              \
	  "reputation_counts.user_id = a.id LIMIT 1) r ON true")                                   \
	/* ... the orders' items, an order's together (its id last): */                            \
	X(ITEMS_AHEAD, "SELECT t.title, t.quantity, t.unit_price_minor, t.image_url, k.id "        \
		       "FROM " AHEAD_KEYS " CROSS JOIN LATERAL (SELECT " ESC_ITEM_COLUMNS          \
		       ", line FROM order_items WHERE order_items.order_id = k.id "                \
		       "ORDER BY line LIMIT 1000) t ORDER BY k.id, t.line")                        \
	/* ... the orders' refunds, oldest first, an order's together (its                         \
	 * id last; one row of NULLs for an order without one): */                                 \
	X(ORDER_REFUNDS_AHEAD,                                                                     \
	  "SELECT r.*, k.id FROM " AHEAD_KEYS " LEFT JOIN LATERAL (" ESC_SQL_REFUND_SELECT         \
	  " WHERE refunds.order_id = k.id ORDER BY "                                               \
	  "created_at_ms, id LIMIT " AHEAD_STR(                                                    \
		  ESC_REFUNDS_MAX) ") r ON true "                                                  \
				   "ORDER BY k.id, r.created_at_ms, r.id")                         \
	/* ... the messages each user (?2) has not read of each order (?1),                        \
	 * as MESSAGES_UNREAD_ORDER counts them, by "ORDER USER": */                               \
	X(UNREAD_AHEAD, "SELECT k.o || ' ' || k.u, (SELECT COUNT(*) FROM messages "                \
			"WHERE order_id = k.o AND author_id <> k.u AND seq > COALESCE("            \
			"(SELECT seq FROM message_reads WHERE order_id = k.o AND "                 \
			"user_id = k.u), 0)) FROM (SELECT DISTINCT o, u FROM "                     \
			"unnest(CAST(?1 AS TEXT[]), CAST(?2 AS TEXT[])) AS x(o, u)) k")            \
	/* ... the marks the users have at the batch's time (?3), by                               \
	 * "USER ORDER MARK" (NULL for a user with none), after the user: */                       \
	X(MARKS_AHEAD, "WITH " AHEAD_USER_IDS " SELECT i.id, i.id || ' ' || m.order_id || ' ' "    \
		       "|| m.mark FROM i LEFT JOIN LATERAL (SELECT order_id, mark FROM marks "     \
		       "WHERE marks.user_id = i.id AND marks.at_ms = CAST(?3 AS BIGINT) "          \
		       "LIMIT 1000) m ON true ORDER BY i.id")                                      \
	/* ... and, before BEGIN, the turns of the parties of ?1's orders                          \
	 * and of the users ?2 names (take_turns): a session advisory lock                         \
	 * on each, in one order: */                                                               \
	X(PARTIES_LOCK, "WITH " AHEAD_USER_IDS " SELECT COUNT(pg_advisory_lock(" TURNS_CLASS       \
			", l.k)) FROM (SELECT DISTINCT hashtext(id) AS k FROM i ORDER BY k) l")    \
	/* ... the refunds (?1 their ids), and the orders: */                                      \
	X(REFUNDS_AHEAD,                                                                           \
	  "SELECT r.* FROM " AHEAD_KEYS " CROSS JOIN LATERAL (" ESC_SQL_REFUND_SELECT              \
	  " WHERE refunds.id = k.id LIMIT 1) r")                                                   \
	X(ORDERS_AHEAD, sql_orders_ahead)                                                          \
	ESC_SQL_STATEMENTS(X)                                                                      \
	ESC_SQL_CHECKS(X)

/* The first key of take_turns' advisory locks ("escr"), the second a
 * user id's hashtext: apart from other applications' one-key locks. */
#define TURNS_CLASS "1702060914"

/* read_ahead's keys (?1's ids, each once), and the users, i: the parties
 * of ?1's orders and the users ?2 names. */
#define AHEAD_KEYS    "(SELECT DISTINCT unnest(CAST(?1 AS TEXT[])) AS id) k"
#define AHEAD_STR_(x) #x
#define AHEAD_STR(x)  AHEAD_STR_(x)
#define AHEAD_USER_IDS                                                                             \
	"o AS (SELECT x.buyer_id, x.seller_id FROM " AHEAD_KEYS " CROSS JOIN LATERAL "             \
	"(SELECT buyer_id, seller_id FROM orders WHERE orders.id = k.id LIMIT 1) x), "             \
	"i AS (SELECT buyer_id AS id FROM o UNION SELECT seller_id FROM o UNION "                  \
	"SELECT unnest(CAST(?2 AS TEXT[])))"

/* ORDER_GET's columns, for the orders of a list of ids (sql_build, once,
 * from esc_sql_order_select). */
static char sql_orders_ahead[ESC_SQL_SIZE];
static pthread_once_t sql_once = PTHREAD_ONCE_INIT;

static void sql_build(void)
{
	esc_sql_init();
	ESC_ASSERT(strlen(esc_sql_order_select) < sizeof sql_orders_ahead / 2,
		   "the order's columns leave no room for read_ahead's statement");
	int len = snprintf(sql_orders_ahead, sizeof sql_orders_ahead,
			   "SELECT o.* FROM " AHEAD_KEYS " CROSS JOIN LATERAL (%.*s "
			   "WHERE orders.id = k.id LIMIT 1) o",
			   (int)(sizeof sql_orders_ahead / 2), esc_sql_order_select);
	ESC_ASSERT(len > 0 && (size_t)len < sizeof sql_orders_ahead,
		   "the order's columns leave no room for read_ahead's statement");
}

ESC_STATEMENTS_TABLE(STATEMENTS);

/* Transactions take no values: their SQL is sent as it is. */
#define SQL_BEGIN       "BEGIN ISOLATION LEVEL SERIALIZABLE"
#define SQL_BEGIN_READ  "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
#define SQL_SAVEPOINT   "SAVEPOINT cmd"
#define SQL_ROLLBACK_TO "ROLLBACK TO SAVEPOINT cmd"
#define SQL_RESAVEPOINT "RELEASE SAVEPOINT cmd; SAVEPOINT cmd"
#define SQL_READ_ONLY   "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"
/* A writer's statements find rows by key, and a plan made for each call's
 * values costs more than it could save: read_ahead's, whose arrays change
 * size from batch to batch, were planned anew at one call in four (take
 * turns' 1,031 times in 4,391 in one run). A session that reads only
 * keeps PostgreSQL's choice: its lists' filters differ in how many rows
 * they keep. */
#define SQL_WRITER_PLANS "SET plan_cache_mode = force_generic_plan"
#define SQL_UNLOCK_TURNS "SELECT pg_advisory_unlock_all()"

/* read_ahead's rows, each a row (items: rows) of one of its answers,
 * found by kind and id until the transaction ends or a write of its own
 * changes the row (gone). Its snapshot gives the same rows meanwhile:
 * read_ahead runs only in a transaction that reads one snapshot, before
 * any write, and every verb that writes such a row marks it gone, so no
 * row kept can be one that a savepoint's rollback undid. */
enum ahead_kind {
	AH_ORDER,
	AH_ITEMS,
	AH_USER,
	AH_COUNTS,
	AH_REFUND,
	AH_UNREAD,        /* id: "ORDER USER" */
	AH_ORDER_REFUNDS, /* an order's every refund, oldest first */
	AH_MARKS_READ,    /* a user whose marks at marks_at were read */
	AH_MARK,          /* id: "USER ORDER MARK", a mark at marks_at */
	AH_KINDS
};

/* A mark's key in AH_MARK and in struct ahead's marks: "USER ORDER MARK". */
#define MARK_KEY_SIZE (2 * ESC_ID_SIZE + 48)

struct ahead_row {
	unsigned char kind; /* enum ahead_kind */
	bool gone;
	bool absent;    /* AH_COUNTS: the user has no counters row */
	const char *id; /* the order's, user's or refund's, in res */
	const PGresult *res;
	int row, rows;    /* rows: AH_ITEMS's and AH_ORDER_REFUNDS's count, from row on */
	int64_t since[2]; /* AH_COUNTS: the window starts it was read at */
};

struct ahead {
	PGresult *res[AH_KINDS];
	struct ahead_row *rows;
	size_t n, cap;
	/* The refunds this transaction inserted into an order whose
	 * AH_ORDER_REFUNDS row is kept, each newer than every refund before
	 * it (else the row is gone): refunds_list gives them after it. */
	struct esc_refund *added;
	size_t added_n, added_cap;
	/* The time whose marks were read (0: none), and the marks this
	 * transaction added at it: marks_sp of them before the command's
	 * savepoint, which a rollback to it keeps. */
	int64_t marks_at;
	char (*marks)[MARK_KEY_SIZE];
	size_t marks_n, marks_cap, marks_sp;
	uint32_t *slots; /* open addressing by kind and id: index + 1, 0 free */
	size_t slots_n;  /* a power of two, at least twice n */
};

struct pg {
	struct esc_store base; /* first: the interface's view of us */
	PGconn *conn;
	bool prepared[S_COUNT];
	bool orders_list_prepared[ESC_F_COMBINATIONS];
	bool in_tx;     /* a transaction is open: the caller's or a verb's own */
	bool doomed;    /* it met a concurrent one: only a rollback helps */
	bool own_tx;    /* the transaction is a verb's own (atomically) */
	bool read_only; /* read_only was called: every transaction is READ ONLY */
	bool closing;   /* the server said it closes the connection (a FATAL notice) */
	/* Savepoints cost no round trip of their own: savepoint only asks
	 * for one (sp_wanted), and the next statement sends it first, in one
	 * message with the release of the one before (sp_open: a savepoint
	 * "cmd" is set in this transaction). A command that sends nothing
	 * needs none; a release is left to the next savepoint or COMMIT. */
	bool sp_wanted, sp_open;
	/* Inside a transaction the connection is in libpq's pipeline mode:
	 * statements are sent as they come, and a writer's statement whose
	 * answer nothing waits for (run_later) is not waited for; the next
	 * statement that must be answered (a read, COMMIT) sends a Sync and
	 * reads every answer owed, in order, in the same round trip.
	 * owed[0..owed_n) says what each answer owed must be. */
	bool pipe;
	/* BEGIN waits for the transaction's first statement, so that
	 * take_turns can go before it: its SQL until it is sent. */
	const char *begin_sql;
	/* take_turns took session advisory locks: released after COMMIT
	 * (in its round trip) or ROLLBACK, or with the session. */
	bool turns;
	int owed_n;
	unsigned char owed[PIPE_MAX];
	/* What every verb of a doomed transaction returns: ESC_ERETRY, or
	 * the failure of a statement sent without waiting, which undoes the
	 * whole transaction since no one command can be blamed for it. */
	int doom_rc;
	/* The users this transaction read (user_get), read again from here:
	 * its snapshot gives the same row until it writes one, which
	 * empties it, as do the transaction's end and a savepoint's
	 * rollback. A batch reads its few sellers once. */
	struct esc_user users[USERS_KEPT];
	int users_n, users_next;
	/* What read_ahead read for this transaction (struct ahead), and
	 * the answers of its statements as pipe_collect reads them. */
	struct ahead ahead;
	PGresult *kept[AH_KINDS];
	int kept_n;
	bool snapshot; /* the transaction reads one snapshot (not READ COMMITTED) */
	char error[ERROR_SIZE];
};

static struct pg *pg_of(struct esc_store *s)
{
	return (struct pg *)s;
}

static void users_forget(struct pg *p)
{
	p->users_n = p->users_next = 0;
}

/* Whether a write whose answer must change one row can go without
 * waiting (OWE_ONE_ROW): in the caller's transaction of one snapshot, in
 * the pipeline, where what the caller read is the row's unless another
 * transaction wrote it, which fails this one with 40001 anyway. */
static bool one_row_unwaited(const struct pg *p)
{
	return p->in_tx && p->pipe && p->snapshot && !p->own_tx;
}

/* ---- what read_ahead read ---- */

static size_t ahead_hash(unsigned kind, const char *id)
{
	uint64_t h = 1469598103934665603ULL ^ kind; /* FNV-1a */

	for (const unsigned char *c = (const unsigned char *)id; *c; c++)
		h = (h ^ *c) * 1099511628211ULL;
	return (size_t)(h ^ (h >> 29));
}

/* The row kept of that kind and id, unless none or gone. */
static struct ahead_row *ahead_find(struct pg *p, enum ahead_kind kind, const char *id)
{
	struct ahead *a = &p->ahead;

	if (!a->slots_n || !id || !p->in_tx)
		return NULL;
	for (size_t i = ahead_hash(kind, id) & (a->slots_n - 1);; i = (i + 1) & (a->slots_n - 1)) {
		uint32_t k = a->slots[i];
		if (!k)
			return NULL;
		struct ahead_row *r = &a->rows[k - 1];
		if (r->kind == kind && !strcmp(r->id, id))
			return r->gone ? NULL : r;
	}
}

/* A write of this transaction changes the row: read it as usual now. */
static void ahead_drop(struct pg *p, enum ahead_kind kind, const char *id)
{
	struct ahead_row *r = ahead_find(p, kind, id);

	if (r)
		r->gone = true;
}

static void ahead_drop_kind(struct pg *p, enum ahead_kind kind)
{
	for (size_t i = 0; i < p->ahead.n; i++)
		if (p->ahead.rows[i].kind == kind)
			p->ahead.rows[i].gone = true;
}

/* A savepoint's rollback undoes the refunds inserted since: their
 * orders' refunds are read again. */
static void ahead_refunds_undone(struct pg *p)
{
	struct ahead *a = &p->ahead;

	for (size_t i = 0; i < a->added_n; i++)
		ahead_drop(p, AH_ORDER_REFUNDS, a->added[i].order_id);
	a->added_n = 0;
}

/* At the transaction's end: nothing kept. */
static void ahead_clear(struct pg *p)
{
	struct ahead *a = &p->ahead;

	for (int k = 0; k < AH_KINDS; k++) {
		PQclear(a->res[k]);
		a->res[k] = NULL;
	}
	a->n = 0;
	a->slots_n = 0;
	a->added_n = 0;
	a->marks_at = 0;
	a->marks_n = a->marks_sp = 0;
}

static void ahead_free(struct pg *p)
{
	ahead_clear(p);
	free(p->ahead.rows);
	free(p->ahead.slots);
	free(p->ahead.added);
	free(p->ahead.marks);
	p->ahead = (struct ahead){0};
}

/* Keep row (rows) of res as kind's row for id (a key: one row a kind
 * and id). */
static int ahead_add(struct pg *p, enum ahead_kind kind, const PGresult *res, int row, int rows,
		     const char *id)
{
	struct ahead *a = &p->ahead;

	if (a->n == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 64;
		struct ahead_row *more = realloc(a->rows, cap * sizeof *more);
		if (!more)
			return ESC_ENOMEM;
		a->rows = more;
		a->cap = cap;
	}
	a->rows[a->n] = (struct ahead_row){
		.kind = (unsigned char)kind, .id = id, .res = res, .row = row, .rows = rows};
	a->n++;
	return 0;
}

/* The slots for the rows read: made once they are all known. */
static int ahead_index(struct pg *p)
{
	struct ahead *a = &p->ahead;
	size_t want = 16;

	while (want < 2 * a->n)
		want *= 2;
	uint32_t *slots = realloc(a->slots, want * sizeof *slots);
	if (!slots)
		return ESC_ENOMEM;
	a->slots = slots;
	memset(slots, 0, want * sizeof *slots);
	for (size_t k = 0; k < a->n; k++) {
		size_t i = ahead_hash(a->rows[k].kind, a->rows[k].id) & (want - 1);
		while (slots[i])
			i = (i + 1) & (want - 1);
		slots[i] = (uint32_t)(k + 1);
	}
	a->slots_n = want;
	return 0;
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

/* From now on every verb of the transaction fails with rc, until the
 * caller rolls back. */
static void doom(struct pg *p, int rc)
{
	if (!p->in_tx || p->doomed)
		return;
	p->doomed = true;
	p->doom_rc = rc;
}

/* The code of a failed statement (res NULL: libpq had no result). Once a
 * transaction met a concurrent one, everything in it fails: say ERETRY
 * (or what doomed it). */
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
	else if (sqlstate_is(state, "25006") && p->read_only)
		rc = ESC_EBUG; /* a write sent through a connection made for reads */
	else if (sqlstate_is(state, "55P03") || sqlstate_is(state, "57014"))
		rc = ESC_EBUSY; /* lock_timeout, statement_timeout */
	else if (unavailable(p, state))
		rc = ESC_EBUSY;
	else if (p->doomed)
		rc = p->doom_rc;
	if (rc == ESC_ERETRY)
		doom(p, rc);
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
	ESC_ASSERT(i >= 1 && i <= PARAMS_MAX, "a parameter numbered beyond PARAMS_MAX");
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
	ESC_ASSERT(i >= 1 && i <= PARAMS_MAX, "a parameter numbered beyond PARAMS_MAX");
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

static void bind_i64(void *b, int i, int64_t v)
{
	b_i64(b, i, v);
}

static void bind_text(void *b, int i, const char *s, size_t bytes)
{
	b_set(b, i, s, bytes, BINARY_FORMAT);
}

static const struct esc_binder binder = {bind_i64, bind_text};

/* count columns of record r of in, its column first the first, bound from
 * parameter i on. */
static void b_cols(struct bind *b, const struct esc_record *r, int first, int count, const void *in,
		   int i)
{
	if (esc_record_bind(r, first, count, in, i, &binder, b))
		b->invalid = true;
}

/* The whole record r of in, as $1, $2, ... */
static void b_record(struct bind *b, const struct esc_record *r, const void *in)
{
	b_cols(b, r, 0, r->count, in, 1);
}

#define B_FIELD(b, i, field) b_field((b), (i), (field), sizeof(field))

/* Make a count a LIMIT: PostgreSQL takes a bigint. */
static int64_t limit_of(size_t n)
{
	return n > (size_t)INT64_MAX ? INT64_MAX : (int64_t)n;
}

/* ---- running ---- */

/* Notices (a ROLLBACK with no transaction, say) are not errors, except
 * one: the reason the server gives for closing the connection, sent
 * unasked while it sat idle, which libpq hands to the notice receiver.
 * arg is the store. */
static void on_notice(void *arg, const PGresult *res)
{
	struct pg *p = arg;
	const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

	if (severity && (strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0)) {
		p->closing = true;
		esc_pg_one_line(p->error, sizeof p->error, msg ? msg : "the server closes");
	}
}

/* Read what the server sent unasked while the connection sat idle: only
 * its reason for closing it (a restart, pg_terminate_backend, an idle
 * timeout), then the end. libpq marks the connection lost once it has
 * read the end; the reason alone (the server may not have closed its end
 * yet when it has left pg_stat_activity) sets p->closing, as parsing it
 * (PQisBusy) passes it to on_notice. Either way the next statement does
 * not fail on it: ready() makes the connection anew. */
static void read_idle_input(struct pg *p)
{
	struct pollfd pfd = {.fd = PQsocket(p->conn), .events = POLLIN};

	for (int i = 0; i < 4 && PQstatus(p->conn) == CONNECTION_OK; i++) {
		if (pfd.fd < 0 || poll(&pfd, 1, 0) <= 0 || !PQconsumeInput(p->conn))
			break;
		(void)PQisBusy(p->conn);
	}
}

/* Make every transaction of this session READ ONLY from the next on. */
static int set_read_only(struct pg *p)
{
	PGresult *res = PQexec(p->conn, SQL_READ_ONLY);
	int rc = 0;

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = fail(p, res);
	PQclear(res);
	/* PostgreSQL's own plans again (SQL_WRITER_PLANS), where the
	 * server knows the setting. */
	if (!rc)
		PQclear(PQexec(p->conn, "RESET plan_cache_mode"));
	return rc;
}

/* A new session's settings, at open and whenever the connection is made
 * anew: read-only ones refuse writes (set_read_only), a writer's plan
 * once (SQL_WRITER_PLANS; a server that does not know the setting,
 * before PostgreSQL 12, plans as it would). */
static int set_session(struct pg *p, bool read_only)
{
	if (read_only)
		return set_read_only(p);
	PQclear(PQexec(p->conn, SQL_WRITER_PLANS));
	return 0;
}

/* The connection, made anew when it was lost, but only between
 * transactions: one that lost its connection is gone, and the caller must
 * roll back before anything else. */
static int ready(struct pg *p)
{
	int rc = 0;

	if (!p->in_tx)
		read_idle_input(p);
	if (PQstatus(p->conn) == CONNECTION_OK && !p->closing)
		goto out;
	if (p->in_tx) {
		rc = ESC_EBUSY;
		if (PQstatus(p->conn) != CONNECTION_OK)
			esc_pg_one_line(p->error, sizeof p->error, PQerrorMessage(p->conn));
		goto out;
	}
	PQreset(p->conn);
	p->closing = false;
	memset(p->prepared, 0, sizeof p->prepared);
	memset(p->orders_list_prepared, 0, sizeof p->orders_list_prepared);
	if (PQstatus(p->conn) != CONNECTION_OK) {
		rc = ESC_EBUSY;
		esc_pg_one_line(p->error, sizeof p->error, PQerrorMessage(p->conn));
		goto out;
	}
	PQsetNoticeReceiver(p->conn, on_notice, p);
	/* A session's settings go with it: the new one refuses writes too. */
	rc = set_session(p, p->read_only);
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

/* ---- the pipeline: statements of a transaction sent without waiting ---- */

/* What an answer owed in the pipeline must be. */
enum owed {
	OWE_DONE,    /* any success */
	OWE_ANSWER,  /* the statement waited for: its result is the caller's */
	OWE_PREPARE, /* a statement prepared: 42P05 (prepared already) is fine */
	OWE_KEEP,    /* a read whose result goes to p->kept (read_ahead) */
	OWE_ONE_ROW, /* a write that must change one row, else ESC_ERETRY */
	OWE_SYNC,    /* a Sync sent amid the statements (take_turns) */
	OWE_UNLOCK,  /* the release of take_turns' locks: no failure of the caller's */
};

/* The connection failed while sending or reading (a backend killed, the
 * server gone): the transaction is gone with it, and the connection is
 * made anew before the next one (ready), libpq's pipeline with it, even
 * when libpq has not seen the end yet. */
static int pipe_lost(struct pg *p)
{
	esc_pg_one_line(p->error, sizeof p->error, PQerrorMessage(p->conn));
	p->owed_n = 0;
	p->closing = true;
	return ESC_EBUSY;
}

/* The code of one answer read from the pipeline, as it was owed. */
static int pipe_answer(struct pg *p, PGresult *res, enum owed owed)
{
	ExecStatusType st = PQresultStatus(res);

	if (st == PGRES_PIPELINE_ABORTED)
		return p->doomed ? p->doom_rc : ESC_EIO; /* skipped after a failure */
	if (owed == OWE_PREPARE && st != PGRES_COMMAND_OK &&
	    sqlstate_is(PQresultErrorField(res, PG_DIAG_SQLSTATE), "42P05"))
		return 0;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		return fail(p, res);
	return 0;
}

/* Send a Sync and read every answer owed, in order. The first failure is
 * returned; a failure of a statement nobody waited for dooms the
 * transaction (no one command can be blamed for it), while the failure of
 * the one waited for (OWE_ANSWER, the last but for a release of turns) is
 * its caller's as without a pipeline (a savepoint rollback undoes it).
 * *last (unless NULL) gets its answer when it succeeded: the caller's to
 * PQclear. */
static int pipe_collect(struct pg *p, PGresult **last)
{
	int n = p->owed_n, rc = 0;

	if (last)
		*last = NULL;
	if (!n)
		return 0;
	if (!PQpipelineSync(p->conn))
		return pipe_lost(p);
	for (int i = 0; i < n; i++) {
		PGresult *res = PQgetResult(p->conn);
		int one;

		if (!res) {
			rc = rc ? rc : pipe_lost(p);
			goto out;
		}
		/* A Sync's answer is all it says (no NULL after it). In its
		 * place, the server's reason for ending the session (a
		 * restart, pg_terminate_backend) is a busy store's, as any
		 * statement's would be; anything else is out of step. */
		if (p->owed[i] == OWE_SYNC) {
			if (PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
				one = PQresultStatus(res) == PGRES_FATAL_ERROR ? fail(p, res)
									       : ESC_EIO;
				rc = rc ? rc : (one == ESC_EBUSY ? one : ESC_EIO);
				p->closing = true; /* made anew */
			}
			PQclear(res);
			continue;
		}
		one = pipe_answer(p, res, (enum owed)p->owed[i]);
		if (!one && p->owed[i] == OWE_ONE_ROW && strcmp(PQcmdTuples(res), "1") != 0)
			one = ESC_ERETRY;
		/* Released or not (skipped after a failed COMMIT), the
		 * transaction's fate is COMMIT's: unlock_turns sees to it. */
		if (p->owed[i] == OWE_UNLOCK) {
			if (!one)
				p->turns = false;
			one = 0;
		}
		if (one && !rc) {
			rc = one;
			/* In the caller's transaction it is nobody's
			 * refusal (a key taken, a duplicate): the batch's
			 * commands fail with it, so only a race (ERETRY:
			 * the engine runs them again) or a busy server or
			 * connection (503) keeps its code. A verb's own
			 * transaction holds that verb alone: its code. */
			if (p->owed[i] != OWE_ANSWER) {
				if (!p->own_tx && rc != ESC_ERETRY && rc != ESC_EBUSY)
					rc = ESC_EIO;
				doom(p, rc);
			}
		}
		if (!one && last && !*last && p->owed[i] == OWE_ANSWER)
			*last = res;
		else if (!one && p->owed[i] == OWE_KEEP && p->kept_n < AH_KINDS)
			p->kept[p->kept_n++] = res;
		else
			PQclear(res);
		/* Each statement's answer ends with NULL. */
		while ((res = PQgetResult(p->conn))) {
			ExecStatusType st = PQresultStatus(res);
			PQclear(res);
			if (st == PGRES_PIPELINE_SYNC) {
				rc = rc ? rc : ESC_EIO; /* fewer answers than owed */
				p->closing = true;      /* out of step: made anew */
				p->owed_n = 0;
				goto out_cleared;
			}
		}
		if (PQstatus(p->conn) != CONNECTION_OK) {
			rc = rc ? rc : pipe_lost(p);
			goto out;
		}
	}
	/* Then the Sync's own answer. */
	for (;;) {
		PGresult *res = PQgetResult(p->conn);
		ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
		PQclear(res);
		if (st == PGRES_PIPELINE_SYNC)
			break;
		if (!res || PQstatus(p->conn) != CONNECTION_OK) {
			rc = rc ? rc : pipe_lost(p);
			goto out;
		}
	}
	p->owed_n = 0;
out_cleared:
	if (rc && last && *last) {
		PQclear(*last);
		*last = NULL;
	}
	return rc;
out:
	p->owed_n = 0;
	goto out_cleared;
}

/* Send SQL with no values into the pipeline (a savepoint, COMMIT). */
static int pipe_send_plain(struct pg *p, const char *sql, enum owed owed)
{
	int rc = 0;

	if (p->owed_n >= PIPE_MAX && (rc = pipe_collect(p, NULL)))
		return rc;
	if (!PQsendQueryParams(p->conn, sql, 0, NULL, NULL, NULL, NULL, TEXT_FORMAT))
		return pipe_lost(p);
	p->owed[p->owed_n++] = (unsigned char)owed;
	return 0;
}

/* Enter the pipeline, at BEGIN, which goes with the transaction's first
 * statement (send_begin): take_turns may go before it. */
static int pipe_begin(struct pg *p, const char *sql)
{
	if (!PQenterPipelineMode(p->conn))
		return ESC_EIO;
	p->pipe = true;
	p->owed_n = 0;
	p->begin_sql = sql;
	return 0;
}

/* Send the BEGIN that waits for the transaction's first statement. */
static int send_begin(struct pg *p)
{
	const char *sql = p->begin_sql;

	p->begin_sql = NULL;
	return sql ? pipe_send_plain(p, sql, OWE_DONE) : 0;
}

/* Leave the pipeline, reading what is still owed (whatever it says):
 * before ROLLBACK, after COMMIT. A lost connection leaves it too
 * (PQreset). */
static void pipe_end(struct pg *p)
{
	if (!p->pipe)
		return;
	p->pipe = false;
	p->begin_sql = NULL;
	if (PQstatus(p->conn) != CONNECTION_OK)
		return;
	if (p->owed_n) {
		bool doomed = p->doomed;
		int doom_rc = p->doom_rc;
		(void)pipe_collect(p, NULL);
		p->doomed = doomed;
		p->doom_rc = doom_rc;
	}
	/* Answers libpq still waits for: only a new connection leaves them. */
	if (!PQexitPipelineMode(p->conn))
		p->closing = true;
}

/* The savepoint a command asked for, sent before its first statement: in
 * the pipeline as two statements (a Parse holds one), else in one
 * message. */
static int send_savepoint(struct pg *p)
{
	int rc = 0;

	if (!p->pipe)
		rc = exec_plain(p, p->sp_open ? SQL_RESAVEPOINT : SQL_SAVEPOINT);
	else {
		if (p->sp_open)
			rc = pipe_send_plain(p, "RELEASE SAVEPOINT cmd", OWE_DONE);
		if (!rc)
			rc = pipe_send_plain(p, SQL_SAVEPOINT, OWE_DONE);
	}
	if (!rc) {
		p->sp_open = true;
		p->sp_wanted = false;
	}
	return rc;
}

/* Prepare a statement (its ?N written $N) on this connection. */
static int prepare(struct pg *p, const char *name, const char *sql, bool *prepared)
{
	char text[SQL_SIZE];
	PGresult *res = NULL;
	int rc = 0;

	esc_sql_dollars(sql, text, sizeof text);
	if (p->pipe) {
		if (p->owed_n >= PIPE_MAX && (rc = pipe_collect(p, NULL)))
			return rc;
		if (!PQsendPrepare(p->conn, name, text, 0, NULL))
			return pipe_lost(p);
		p->owed[p->owed_n++] = OWE_PREPARE;
		/* Waited for: a failed Parse must not be taken for a later
		 * statement's failure. Once per connection and statement. */
		rc = pipe_collect(p, NULL);
	} else {
		res = PQprepare(p->conn, name, text, 0, NULL);
		/* 42P05: prepared already, though we did not hear back. */
		if (PQresultStatus(res) != PGRES_COMMAND_OK &&
		    !sqlstate_is(PQresultErrorField(res, PG_DIAG_SQLSTATE), "42P05"))
			rc = fail(p, res);
		PQclear(res);
	}
	if (!rc)
		*prepared = true;
	return rc;
}

/* Run a statement with b's values, preparing it first if this connection
 * has not; *out (when not NULL) gets its result, the caller's to PQclear.
 * later OWE_DONE, inside a transaction: send it and return
 * at once, its answer read with the next one waited for (pipe_collect);
 * OWE_ANSWER: wait for it. */
static int exec_stmt(struct pg *p, const char *name, const char *sql, bool *prepared,
		     const struct bind *b, int result_format, PGresult **out, enum owed later)
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
		rc = p->doom_rc;
		goto out;
	}
	rc = ready(p);
	if (!rc && p->pipe)
		rc = send_begin(p);
	if (!rc && p->sp_wanted)
		rc = send_savepoint(p);
	if (!rc && !*prepared)
		rc = prepare(p, name, sql, prepared);
	if (rc)
		goto out;
	if (p->pipe) {
		if (p->owed_n >= PIPE_MAX && (rc = pipe_collect(p, NULL)))
			goto out;
		if (!PQsendQueryPrepared(p->conn, name, b->n, b->values, b->lengths, b->formats,
					 result_format)) {
			rc = pipe_lost(p);
			goto out;
		}
		p->owed[p->owed_n++] = (unsigned char)later;
		if (later == OWE_ANSWER)
			rc = pipe_collect(p, out);
		goto out;
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
		   PGresult **out, enum owed later)
{
	char name[16];

	snprintf(name, sizeof name, "e%d", (int)id);
	return exec_stmt(p, name, stmt_sql[id], &p->prepared[id], b, result_format, out, later);
}

/* A statement's rows, as text. */
static int query(struct pg *p, enum stmt_id id, const struct bind *b, PGresult **out)
{
	return exec_id(p, id, b, TEXT_FORMAT, out, OWE_ANSWER);
}

/* Run a statement that returns no rows. */
static int run(struct pg *p, enum stmt_id id, const struct bind *b)
{
	return exec_id(p, id, b, TEXT_FORMAT, NULL, OWE_ANSWER);
}

/* Run a statement that returns no rows, and whose failure is never a
 * refusal of the command (no key of its can be taken by the caller's own
 * doing): inside a transaction it is sent without waiting for its answer,
 * and a failure found later fails the whole transaction. */
static int run_later(struct pg *p, enum stmt_id id, const struct bind *b)
{
	return exec_id(p, id, b, TEXT_FORMAT, NULL, OWE_DONE);
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
		ESC_ASSERT(len == 8 || len == 4,
			   "an integer column that is neither int4 nor int8 in our own schema");
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

static struct esc_row row_of(const PGresult *res, int i)
{
	struct esc_row row = {row_i64, row_text, res, i};

	return row;
}

/* Row i of res, whose columns are record r's, into out. */
static int read_record(const PGresult *res, int i, const struct esc_record *r, void *out)
{
	struct esc_row row = row_of(res, i);

	return esc_record_read(r, &row, out);
}

/* How many rows of res a list may take. */
static int rows_max(const PGresult *res, size_t max)
{
	int rows = PQntuples(res);
	return (size_t)rows > max ? (int)max : rows;
}

/* The rows of res, each a record r, into out (at most max): *n of them. */
/* Rows first..first+count-1 of res, each a record r, appended to out
 * after its *n records. */
static int read_rows_at(const PGresult *res, int first, int count, const struct esc_record *r,
			void *out, size_t *n)
{
	int rc = 0;

	for (int i = first; !rc && i < first + count; i++) {
		rc = read_record(res, i, r, (char *)out + *n * r->size);
		if (!rc)
			(*n)++;
	}
	return rc;
}

static int read_rows(const PGresult *res, const struct esc_record *r, void *out, size_t max,
		     size_t *n)
{
	return read_rows_at(res, 0, rows_max(res, max), r, out, n);
}

/* How a list verb reads its rows: read_rows, or a verb's own that reads
 * a column after the record's (read_deliveries). */
typedef int rows_reader(const PGresult *res, const struct esc_record *r, void *out, size_t max,
			size_t *n);

/* Run statement id with b and read its rows, r's records, with read into
 * out (at most max): the shape of every list verb. has_more, unless NULL,
 * says whether the statement gave more rows than max (a page's verb asks
 * for one more than it takes). */
static int query_rows_with(struct pg *p, enum stmt_id id, struct bind *b, rows_reader *read,
			   const struct esc_record *r, void *out, size_t max, size_t *n,
			   bool *has_more)
{
	PGresult *res = NULL;
	int rc = query(p, id, b, &res);

	if (!rc && has_more)
		*has_more = (size_t)PQntuples(res) > max;
	if (!rc)
		rc = read(res, r, out, max, n);
	PQclear(res);
	return rc;
}

static int query_rows(struct pg *p, enum stmt_id id, struct bind *b, const struct esc_record *r,
		      void *out, size_t max, size_t *n)
{
	return query_rows_with(p, id, b, read_rows, r, out, max, n, NULL);
}

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

/* ---- transactions ---- */

static int tx_begin(struct pg *p, const char *sql)
{
	int rc = 0;

	/* As SQLite says: no transaction within a transaction. */
	if (p->in_tx) {
		rc = ESC_EIO;
		goto out;
	}
	/* A connection lost or left unusable is made anew first. */
	rc = ready(p);
	if (rc)
		goto out;
	/* The server must agree that none is open: a COMMIT or ROLLBACK that
	 * failed on a live connection could leave one, and BEGIN there only
	 * warns, so that this transaction's writes would join the old one. */
	if (PQstatus(p->conn) == CONNECTION_OK && PQtransactionStatus(p->conn) != PQTRANS_IDLE &&
	    (exec_plain(p, "ROLLBACK") || PQtransactionStatus(p->conn) != PQTRANS_IDLE)) {
		rc = ESC_EIO;
		goto out;
	}
	/* BEGIN goes with the transaction's first statement, in the
	 * pipeline (pipe_begin). */
	rc = ready(p);
	if (!rc)
		rc = pipe_begin(p, sql);
	if (rc == ESC_EIO && !p->pipe)
		rc = exec_plain(p, sql); /* no pipeline: as it is */
	else if (rc)
		pipe_end(p);
	if (!rc) {
		p->in_tx = true;
		p->doomed = false;
		p->doom_rc = ESC_ERETRY;
		p->sp_wanted = p->sp_open = false;
		p->snapshot = strstr(sql, "READ COMMITTED") == NULL;
		users_forget(p);
		ahead_clear(p);
	}
out:
	return rc;
}

/* Release take_turns' locks where COMMIT's round trip did not: after a
 * rollback, or a COMMIT that failed; called once the transaction is over.
 * Should that fail too, the session ends at once, and its locks with it
 * (ready makes the connection anew), rather than at this store's next
 * transaction, which an idle daemon may not have for long. */
static void unlock_turns(struct pg *p)
{
	PGresult *res = NULL;

	if (!p->turns)
		return;
	p->turns = false;
	if (PQstatus(p->conn) != CONNECTION_OK)
		return; /* gone with the session */
	res = PQexec(p->conn, SQL_UNLOCK_TURNS);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		p->closing = true;
		(void)ready(p);
	}
	PQclear(res);
}

/* Works in any state: after a failed statement, after COMMIT failed, with
 * no transaction, and with the connection lost (the server rolled back
 * when it went). */
static int tx_rollback(struct pg *p)
{
	int rc = 0;

	pipe_end(p);
	p->in_tx = false;
	p->doomed = false;
	p->sp_wanted = p->sp_open = false;
	users_forget(p);
	ahead_clear(p);
	if (PQstatus(p->conn) != CONNECTION_OK || PQtransactionStatus(p->conn) == PQTRANS_IDLE)
		goto out;
	rc = exec_plain(p, "ROLLBACK");
	if (rc && PQstatus(p->conn) != CONNECTION_OK)
		rc = 0;
out:
	unlock_turns(p);
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
		rc = p->doom_rc;
	else if (PQstatus(p->conn) != CONNECTION_OK)
		rc = ESC_EBUSY; /* lost before COMMIT: the server rolled back */
	else if (!p->pipe && PQtransactionStatus(p->conn) != PQTRANS_INTRANS)
		rc = ESC_EIO;
	if (rc) {
		(void)tx_rollback(p);
		goto out;
	}
	if (p->pipe && p->begin_sql) {
		/* Nothing was sent but take_turns, if that: nothing to
		 * commit. */
		pipe_end(p);
		goto done;
	}
	if (p->pipe) {
		/* COMMIT reads every answer still owed: a write that failed
		 * unseen fails it (its transaction is left aborted, for the
		 * caller's rollback). The turns are released in the same
		 * round trip, once it is durable: room for both first, so
		 * that sending the release cannot read COMMIT's answer. */
		if (p->owed_n >= PIPE_MAX - 1)
			rc = pipe_collect(p, NULL);
		if (!rc)
			rc = pipe_send_plain(p, "COMMIT", OWE_ANSWER);
		if (!rc && p->turns)
			rc = pipe_send_plain(p, SQL_UNLOCK_TURNS, OWE_UNLOCK);
		if (!rc)
			rc = pipe_collect(p, &res);
		pipe_end(p);
		/* The server skipped COMMIT after the failure (its
		 * transaction is left open and aborted): end it here, as a
		 * failed COMMIT without a pipeline does, so that the next
		 * statement outside a transaction is not refused. */
		if (rc) {
			(void)tx_rollback(p);
			goto out;
		}
	} else {
		res = PQexec(p->conn, "COMMIT");
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			rc = fail(p, res);
	}
	if (!rc && (!res || strcmp(PQcmdStatus(res), "COMMIT") != 0))
		rc = ESC_EIO;
done:
	users_forget(p);
	ahead_clear(p);
	p->in_tx = false;
	p->doomed = false;
	p->sp_wanted = p->sp_open = false;
	unlock_turns(p);
out:
	PQclear(res);
	return rc;
}

static int pg_begin(struct esc_store *s)
{
	return tx_begin(pg_of(s), SQL_BEGIN);
}

static int pg_begin_weak(struct esc_store *s)
{
	return tx_begin(pg_of(s), "BEGIN ISOLATION LEVEL READ COMMITTED");
}

static int pg_commit(struct esc_store *s)
{
	return tx_commit(pg_of(s));
}

static int pg_rollback(struct esc_store *s)
{
	return tx_rollback(pg_of(s));
}

/* Asks for a savepoint, which the command's first statement sets. */
static int pg_savepoint(struct esc_store *s)
{
	struct pg *p = pg_of(s);

	if (p->doomed)
		return p->doom_rc;
	p->sp_wanted = true;
	p->ahead.marks_sp = p->ahead.marks_n; /* the command before is kept */
	return 0;
}

/* Keeps the command's work: nothing to send (the next savepoint releases
 * this one, COMMIT all). */
static int pg_savepoint_release(struct esc_store *s)
{
	struct pg *p = pg_of(s);

	if (p->doomed)
		return p->doom_rc;
	p->sp_wanted = false;
	return 0;
}

/* Undoes the command's statements, a failed one included, and leaves the
 * transaction usable, the savepoint set where it was; nothing to undo
 * when the command sent no statement. Not after a serialization failure,
 * which dooms the whole transaction (the same statements would fail
 * again). */
static int pg_savepoint_rollback(struct esc_store *s)
{
	struct pg *p = pg_of(s);

	if (p->doomed)
		return p->doom_rc;
	users_forget(p);
	ahead_refunds_undone(p);
	p->ahead.marks_n = p->ahead.marks_sp;
	if (p->sp_wanted) {
		p->sp_wanted = false;
		return 0;
	}
	/* In the pipeline it goes with the next statement, and a failure
	 * of it fails the transaction there. */
	return p->pipe ? pipe_send_plain(p, SQL_ROLLBACK_TO, OWE_DONE)
		       : exec_plain(p, SQL_ROLLBACK_TO);
}

static int pg_read_only(struct esc_store *s)
{
	struct pg *p = pg_of(s);
	int rc = 0;

	ESC_ASSERT(!p->in_tx, "read_only called inside a transaction");
	rc = ready(p);
	if (!rc)
		rc = set_read_only(p);
	if (!rc)
		p->read_only = true;
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
		p->own_tx = true;
		rc = body(p, arg);
		if (rc)
			(void)tx_rollback(p);
		else
			rc = tx_commit(p);
		p->own_tx = false;
		if (rc != ESC_ERETRY || tries == OWN_TX_TRIES)
			break;
		esc_store_retries_count();
		esc_backoff_sleep(tries);
	}
	return rc;
}

/* ---- users ---- */

static int pg_user_insert(struct esc_store *s, const struct esc_user *u)
{
	struct bind b = {0};

	users_forget(pg_of(s));
	ahead_drop_kind(pg_of(s), AH_USER);
	b_record(&b, &esc_user_record, u);
	return run(pg_of(s), S_USER_INSERT, &b);
}

static int pg_user_update(struct esc_store *s, const struct esc_user *u)
{
	struct bind b = {0};

	users_forget(pg_of(s));
	ahead_drop_kind(pg_of(s), AH_USER);
	b_record(&b, &esc_user_record, u);
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
		rc = PQntuples(res) > 0 ? read_record(res, 0, &esc_user_record, out)
					: ESC_ENOTFOUND;
	PQclear(res);
	return rc;
}

static int pg_user_get(struct esc_store *s, const char *id, struct esc_user *out)
{
	struct pg *p = pg_of(s);
	int rc = 0;

	if (!p->in_tx || !p->snapshot || !id)
		return user_one(p, S_USER_GET, id, out);
	const struct ahead_row *a = ahead_find(p, AH_USER, id);
	if (a)
		return p->doomed ? p->doom_rc : read_record(a->res, a->row, &esc_user_record, out);
	for (int i = 0; i < p->users_n; i++) {
		if (strcmp(p->users[i].id, id) == 0) {
			*out = p->users[i];
			return p->doomed ? p->doom_rc : 0;
		}
	}
	rc = user_one(p, S_USER_GET, id, out);
	if (!rc && strlen(id) < sizeof out->id) {
		p->users[p->users_next] = *out;
		p->users_next = (p->users_next + 1) % USERS_KEPT;
		if (p->users_n < USERS_KEPT)
			p->users_n++;
	}
	return rc;
}

static int pg_user_by_email(struct esc_store *s, const char *email, struct esc_user *out)
{
	return user_one(pg_of(s), S_USER_BY_EMAIL, email, out);
}

static int pg_users_list(struct esc_store *s, const char *starting_after, struct esc_user *out,
			 size_t max, size_t *n)
{
	struct bind b = {0};

	*n = 0;
	/* Every id sorts after "". */
	b_str(&b, 1, starting_after ? starting_after : "");
	b_i64(&b, 2, limit_of(max));
	return query_rows(pg_of(s), S_USERS_LIST, &b, &esc_user_record, out, max, n);
}

/* ---- reading ahead ---- */

/* Whether id can be one of ours (letters, digits, '_' and '-', shorter
 * than ESC_ID_SIZE): only those are sent, so that nothing a request
 * names can make read_ahead's statements fail for the batch; a command's
 * read of any other finds it as usual. */
static bool ahead_id_ok(const char *id)
{
	size_t len = id ? strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				     "0123456789_-")
			: 0;
	return len && !id[len] && len < ESC_ID_SIZE;
}

/* ids[i] (and with[i], unless with is NULL) for each i whose ids are
 * ahead_id_ok, as text[] literals, {"a","b"}: *out and *out_with,
 * malloc'd (NULL: no memory), *count of them. */
static int ids_arrays(const char *const *ids, const char *const *with, size_t n, char **out,
		      char **out_with, size_t *count)
{
	char *o[2] = {malloc(n * (ESC_ID_SIZE + 3) + 3), malloc(n * (ESC_ID_SIZE + 3) + 3)};
	size_t len[2] = {0, 0};

	*count = 0;
	if (!o[0] || !o[1]) {
		free(o[0]);
		free(o[1]);
		*out = NULL;
		if (out_with)
			*out_with = NULL;
		return ESC_ENOMEM;
	}
	for (int k = 0; k < 2; k++)
		o[k][len[k]++] = '{';
	for (size_t i = 0; i < n; i++) {
		if (!ahead_id_ok(ids[i]) || (with && !ahead_id_ok(with[i])))
			continue;
		for (int k = 0; k < (with ? 2 : 1); k++)
			len[k] += (size_t)sprintf(o[k] + len[k], "%s\"%s\"", *count ? "," : "",
						  k ? with[i] : ids[i]);
		(*count)++;
	}
	for (int k = 0; k < 2; k++) {
		o[k][len[k]++] = '}';
		o[k][len[k]] = '\0';
	}
	*out = o[0];
	if (out_with)
		*out_with = o[1];
	else
		free(o[1]);
	return 0;
}

/* Keep the rows of read_ahead's answers (in the order it sent them). */
static int ahead_keep(struct pg *p, const enum ahead_kind *kinds, int sent)
{
	struct ahead *a = &p->ahead;
	int rc = 0;

	for (int k = 0; !rc && k < sent; k++) {
		PGresult *res = p->kept[k];
		int rows = PQntuples(res);
		a->res[kinds[k]] = res;
		p->kept[k] = NULL;
		for (int i = 0; !rc && i < rows; i++) {
			switch (kinds[k]) {
			case AH_ITEMS:
			case AH_ORDER_REFUNDS: {
				/* An order's rows, together: its id last; a
				 * refund's id NULL in an order without one. */
				int cols = PQnfields(res), j = i;
				const char *id = col_str(res, i, cols - 1);
				while (j + 1 < rows && !strcmp(col_str(res, j + 1, cols - 1), id))
					j++;
				int n = kinds[k] == AH_ORDER_REFUNDS && PQgetisnull(res, i, 0)
						? 0
						: j - i + 1;
				rc = ahead_add(p, kinds[k], res, i, n, id);
				i = j;
				break;
			}
			case AH_MARKS_READ:
				/* A user once, each of their marks. */
				if (!i || strcmp(col_str(res, i - 1, 0), col_str(res, i, 0)))
					rc = ahead_add(p, AH_MARKS_READ, res, i, 1,
						       col_str(res, i, 0));
				if (!rc && !PQgetisnull(res, i, 1))
					rc = ahead_add(p, AH_MARK, res, i, 1, col_str(res, i, 1));
				break;
			case AH_COUNTS: {
				/* After the counters and the two arrays: the
				 * id, the window starts, whether a row is. */
				int c = 2 + 2 * ESC_MARK_COUNT + 2;
				rc = ahead_add(p, AH_COUNTS, res, i, 1, col_str(res, i, c));
				if (!rc) {
					struct ahead_row *r = &a->rows[a->n - 1];
					r->since[0] = col_i64(res, i, c + 1);
					r->since[1] = col_i64(res, i, c + 2);
					r->absent = col_i64(res, i, c + 3) == 0;
				}
				break;
			}
			default: /* the id first */
				rc = ahead_add(p, kinds[k], res, i, 1, col_str(res, i, 0));
			}
		}
	}
	return rc ? rc : ahead_index(p);
}

/* One of read_ahead's statements, with its answer kept for ahead_keep. */
static int ahead_send(struct pg *p, enum stmt_id id, const struct bind *b, enum ahead_kind kind,
		      enum ahead_kind *kinds, int *sent)
{
	int rc = exec_id(p, id, b, TEXT_FORMAT, NULL, OWE_KEEP);

	if (!rc)
		kinds[(*sent)++] = kind;
	return rc;
}

/* Before BEGIN: wait for the turns of the batch's parties (b: ?1 the
 * orders, ?2 the other users), a session advisory lock on each taken in
 * one order, so that a batch of another process that shares a user with
 * this one is not concurrent with it: the later waits, and its snapshot,
 * taken after, sees the earlier's work instead of failing with 40001
 * after doing its own. A party's id never changes, so reading them
 * before the snapshot is safe; SERIALIZABLE keeps the transaction
 * correct without the locks (users the batch reads later, a hash shared
 * by two ids only make it wait more or fail as before). Sent with a Sync
 * of its own: BEGIN and the reads follow in the same round trip. */
static int take_turns(struct pg *p, const struct bind *b)
{
	const char *begin = p->begin_sql;
	int rc = 0;

	p->begin_sql = NULL; /* not before the locks */
	rc = exec_id(p, S_PARTIES_LOCK, b, TEXT_FORMAT, NULL, OWE_DONE);
	p->begin_sql = begin;
	if (rc)
		return rc;
	p->turns = true;
	if (!PQpipelineSync(p->conn))
		return pipe_lost(p);
	p->owed[p->owed_n++] = OWE_SYNC;
	return 0;
}

static int pg_read_ahead(struct esc_store *s, const struct esc_read_ahead *ra)
{
	struct pg *p = pg_of(s);
	size_t orders = 0, users = 0, refunds = 0, unread = 0;
	char *order_ids = NULL, *user_ids = NULL, *refund_ids = NULL, *unread_orders = NULL,
	     *unread_users = NULL;
	enum ahead_kind kinds[AH_KINDS];
	int sent = 0, rc = 0;

	/* Kept rows must be what a later read would read: in a
	 * transaction of one snapshot, before it writes. */
	if (!p->in_tx || !p->snapshot || !p->pipe || p->ahead.n || p->doomed)
		return p->doomed ? p->doom_rc : 0;
	rc = ids_arrays(ra->order_ids, NULL, ra->orders_count, &order_ids, NULL, &orders);
	if (!rc)
		rc = ids_arrays(ra->user_ids, NULL, ra->users_count, &user_ids, NULL, &users);
	if (!rc)
		rc = ids_arrays(ra->refund_ids, NULL, ra->refunds_count, &refund_ids, NULL,
				&refunds);
	if (!rc)
		rc = ids_arrays(ra->unread_order_ids, ra->unread_user_ids, ra->unread_count,
				&unread_orders, &unread_users, &unread);
	if (rc)
		goto out;
	p->kept_n = 0;
	struct bind b = {0};
	b_set(&b, 1, order_ids, strlen(order_ids), TEXT_FORMAT);
	b_set(&b, 2, user_ids, strlen(user_ids), TEXT_FORMAT);
	if (p->begin_sql && !p->sp_wanted && (orders || users))
		rc = take_turns(p, &b);
	if (!rc && orders) {
		struct bind one = {0};
		b_set(&one, 1, order_ids, strlen(order_ids), TEXT_FORMAT);
		rc = ahead_send(p, S_ORDERS_AHEAD, &one, AH_ORDER, kinds, &sent);
		if (!rc)
			rc = ahead_send(p, S_ITEMS_AHEAD, &one, AH_ITEMS, kinds, &sent);
		if (!rc)
			rc = ahead_send(p, S_ORDER_REFUNDS_AHEAD, &one, AH_ORDER_REFUNDS, kinds,
					&sent);
	}
	if (!rc && (orders || users)) {
		rc = ahead_send(p, S_USERS_AHEAD, &b, AH_USER, kinds, &sent);
		b_i64(&b, 3, ra->buyer_since_ms[0]);
		b_i64(&b, 4, ra->buyer_since_ms[1]);
		b_i64(&b, 5, ra->seller_since_ms[0]);
		b_i64(&b, 6, ra->seller_since_ms[1]);
		if (!rc)
			rc = ahead_send(p, S_COUNTS_AHEAD, &b, AH_COUNTS, kinds, &sent);
		struct bind marks = {0};
		b_set(&marks, 1, order_ids, strlen(order_ids), TEXT_FORMAT);
		b_set(&marks, 2, user_ids, strlen(user_ids), TEXT_FORMAT);
		b_i64(&marks, 3, ra->at_ms);
		if (!rc && ra->at_ms > 0)
			rc = ahead_send(p, S_MARKS_AHEAD, &marks, AH_MARKS_READ, kinds, &sent);
	}
	if (!rc && refunds) {
		struct bind one = {0};
		b_set(&one, 1, refund_ids, strlen(refund_ids), TEXT_FORMAT);
		rc = ahead_send(p, S_REFUNDS_AHEAD, &one, AH_REFUND, kinds, &sent);
	}
	if (!rc && unread) {
		struct bind two = {0};
		b_set(&two, 1, unread_orders, strlen(unread_orders), TEXT_FORMAT);
		b_set(&two, 2, unread_users, strlen(unread_users), TEXT_FORMAT);
		rc = ahead_send(p, S_UNREAD_AHEAD, &two, AH_UNREAD, kinds, &sent);
	}
	/* One round trip for all: their answers, BEGIN's before them. */
	if (!rc && sent)
		rc = pipe_collect(p, NULL);
	if (!rc && p->kept_n != sent)
		rc = ESC_EIO;
	if (!rc)
		rc = ahead_keep(p, kinds, sent);
	if (!rc)
		p->ahead.marks_at = ra->at_ms;
out:
	for (int k = 0; k < p->kept_n; k++)
		PQclear(p->kept[k]);
	p->kept_n = 0;
	if (rc)
		ahead_clear(p);
	free(order_ids);
	free(user_ids);
	free(refund_ids);
	free(unread_orders);
	free(unread_users);
	return rc;
}

/* ---- orders ---- */

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

	if (esc_order_bind_insert(o, &binder, &b))
		b.invalid = true;
	rc = run_later(p, S_ORDER_INSERT, &b);
	for (size_t i = 0; !rc && i < a->items_count; i++) {
		struct bind bi = {0};
		B_FIELD(&bi, 1, o->id);
		b_i64(&bi, 2, (int64_t)i);
		B_FIELD(&bi, 3, a->items[i].title);
		b_i64(&bi, 4, a->items[i].quantity);
		b_i64(&bi, 5, a->items[i].unit_price_minor);
		B_FIELD(&bi, 6, a->items[i].image_url);
		rc = run_later(p, S_ITEM_INSERT, &bi);
	}
	return rc;
}

static int pg_order_insert(struct esc_store *s, const struct esc_order *o,
			   const struct esc_item *items, size_t items_count)
{
	struct order_insert a = {o, items, items_count};

	ESC_ASSERT(items || !items_count, "items counted but not given");
	return atomically(pg_of(s), SQL_BEGIN, order_insert_body, &a);
}

static int pg_order_get(struct esc_store *s, const char *id, struct esc_order *out)
{
	struct pg *p = pg_of(s);
	const struct ahead_row *a = ahead_find(p, AH_ORDER, id);
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	if (a)
		return p->doomed ? p->doom_rc : read_record(a->res, a->row, &esc_order_record, out);
	b_str(&b, 1, id);
	rc = query(pg_of(s), S_ORDER_GET, &b, &res);
	if (!rc)
		rc = PQntuples(res) > 0 ? read_record(res, 0, &esc_order_record, out)
					: ESC_ENOTFOUND;
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
 * with ESC_ERETRY. In a transaction of one snapshot it is not waited for:
 * the version the caller read there (order_get) is the row's, unless
 * another transaction wrote it meanwhile, which fails this one with
 * 40001 anyway; a change of no row then dooms the transaction with
 * ESC_ERETRY (read again, the order says what happened). */
static int pg_order_update(struct esc_store *s, const struct esc_order *o, int64_t expected_version)
{
	struct pg *p = pg_of(s);
	struct bind b = {0};
	bool exists = false;
	int64_t changes = 0;
	int rc = 0;

	if (esc_order_bind_update(o, expected_version, &binder, &b))
		b.invalid = true;
	ahead_drop(p, AH_ORDER, o->id);
	if (one_row_unwaited(p))
		return exec_id(p, S_ORDER_UPDATE, &b, TEXT_FORMAT, NULL, OWE_ONE_ROW);
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
	struct pg *p = pg_of(s);
	const struct ahead_row *a = ahead_find(p, AH_ITEMS, order_id);
	struct bind b = {0};
	int rc = 0;

	*n = 0;
	if (a) {
		int count = (size_t)a->rows < max ? a->rows : (int)max;
		rc = read_rows_at(a->res, a->row, count, &esc_item_record, out, n);
		return rc ? rc : p->doomed ? p->doom_rc : 0;
	}
	b_str(&b, 1, order_id);
	b_i64(&b, 2, limit_of(max));
	return query_rows(pg_of(s), S_ITEMS_LIST, &b, &esc_item_record, out, max, n);
}

static int pg_orders_list(struct esc_store *s, const struct esc_order_filter *f,
			  struct esc_order *out, size_t max, size_t *n, bool *has_more)
{
	struct pg *p = pg_of(s);
	unsigned mask = 0;
	struct bind b = {0};
	struct esc_order_search search;
	PGresult *res = NULL;
	char sql[ESC_SQL_SIZE], name[16];
	int rc = 0;

	ESC_ASSERT(f, "orders_list without a filter");
	*n = 0;
	*has_more = false;
	mask = esc_order_filter_mask(f);
	if (esc_orders_list_bind(f, max, &search, &binder, &b))
		b.invalid = true;
	esc_orders_list_sql(mask, sql, sizeof sql);
	snprintf(name, sizeof name, "l%u", mask);
	rc = exec_stmt(p, name, sql, &p->orders_list_prepared[mask], &b, TEXT_FORMAT, &res,
		       OWE_ANSWER);
	if (rc)
		goto out;
	*has_more = (size_t)PQntuples(res) > max;
	rc = read_rows(res, &esc_order_record, out, max, n);
out:
	PQclear(res);
	return rc;
}

static int pg_orders_count(struct esc_store *s, const char *buyer_id, const char *seller_id,
			   int64_t counts[ESC_ST_COUNT])
{
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	for (int i = 0; i < ESC_ST_COUNT; i++)
		counts[i] = 0;
	if (buyer_id || seller_id)
		b_str(&b, 1, buyer_id ? buyer_id : seller_id);
	rc = query(pg_of(s),
		   buyer_id    ? S_ORDERS_COUNT_BUYER
		   : seller_id ? S_ORDERS_COUNT_SELLER
			       : S_ORDERS_COUNT,
		   &b, &res);
	for (int row = 0; !rc && row < PQntuples(res); row++) {
		int state = 0;
		rc = col_enum(res, row, 0, &esc_enum_state, &state);
		if (!rc)
			counts[state] = col_i64(res, row, 1);
	}
	PQclear(res);
	return rc;
}

/* ---- history: the lines the events carry (pg_outbox_append) ---- */

static int pg_history_list(struct esc_store *s, const char *order_id, int64_t after_version,
			   struct esc_history *out, size_t max, size_t *n)
{
	struct bind b = {0};

	*n = 0;
	b_str(&b, 1, order_id);
	b_i64(&b, 2, after_version);
	b_i64(&b, 3, limit_of(max));
	return query_rows(pg_of(s), S_HISTORY_LIST, &b, &esc_history_record, out, max, n);
}

static int pg_history_scan(struct esc_store *s, int64_t after_seq, struct esc_history_row *out,
			   size_t max, size_t *n)
{
	struct bind b = {0};

	*n = 0;
	b_i64(&b, 1, after_seq);
	b_i64(&b, 2, limit_of(max));
	return query_rows(pg_of(s), S_HISTORY_SCAN, &b, &esc_history_row_record, out, max, n);
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
	int rc = 0;

	/* One statement, not waited for, unless both legs are on one
	 * account (whose balance one statement could not move twice). */
	if (strncmp(t->from, t->to, ESC_ACCOUNT_SIZE) != 0) {
		struct bind b = {0};
		B_FIELD(&b, 1, t->id);
		b_field(&b, 2, t->from, ESC_ACCOUNT_SIZE);
		b_i64(&b, 3, -t->amount_minor);
		B_FIELD(&b, 4, t->currency);
		B_FIELD(&b, 5, t->order_id);
		B_FIELD(&b, 6, t->kind);
		b_i64(&b, 7, at_ms);
		b_field(&b, 8, t->to, ESC_ACCOUNT_SIZE);
		b_i64(&b, 9, t->amount_minor);
		b_i64(&b, 10, esc_kept_account(t->from));
		b_i64(&b, 11, esc_kept_account(t->to));
		return run_later(p, S_TRANSFER, &b);
	}
	rc = entry_insert(p, S_ENTRY_FIRST, t, t->from, -t->amount_minor, at_ms, &changes);

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
	rc = query(pg_of(s), esc_kept_account(account) ? S_BALANCE_KEPT : S_BALANCE_ENTRIES, &b,
		   &res);
	if (!rc && PQntuples(res) > 0)
		*out = col_i64(res, 0, 0);
	PQclear(res);
	return rc;
}

static int pg_balances_of(struct esc_store *s, const char *account, struct esc_balance *out,
			  size_t max, size_t *n)
{
	struct bind b = {0};
	PGresult *res = NULL;
	int rc;

	*n = 0;
	b_str(&b, 1, account);
	b_i64(&b, 2, (int64_t)max);
	rc = query(pg_of(s), S_BALANCES_OF, &b, &res);
	for (int row = 0; !rc && row < PQntuples(res) && *n < max; row++) {
		snprintf(out[*n].currency, sizeof out[*n].currency, "%s", col_str(res, row, 0));
		out[(*n)++].amount_minor = col_i64(res, row, 1);
	}
	PQclear(res);
	return rc;
}

/* ---- refunds ---- */

/* A refund this transaction inserts: given after the order's kept ones
 * (AH_ORDER_REFUNDS) when it is newer than each of them, else the
 * order's are read again. */
static void ahead_refund_added(struct pg *p, const struct esc_refund *r)
{
	struct ahead *a = &p->ahead;
	struct ahead_row *kept = ahead_find(p, AH_ORDER_REFUNDS, r->order_id);
	bool newest = kept != NULL;
	struct esc_refund old;

	for (int i = 0; newest && i < kept->rows; i++)
		newest = !read_record(kept->res, kept->row + i, &esc_refund_record, &old) &&
			 old.created_at_ms < r->created_at_ms;
	for (size_t i = 0; newest && i < a->added_n; i++)
		newest = strcmp(a->added[i].order_id, r->order_id) ||
			 a->added[i].created_at_ms < r->created_at_ms;
	if (newest && a->added_n == a->added_cap) {
		size_t cap = a->added_cap ? 2 * a->added_cap : 16;
		struct esc_refund *more = realloc(a->added, cap * sizeof *more);
		if (more) {
			a->added = more;
			a->added_cap = cap;
		}
		newest = more != NULL;
	}
	if (newest)
		a->added[a->added_n++] = *r;
	else if (kept)
		kept->gone = true;
}

static int pg_refund_insert(struct esc_store *s, const struct esc_refund *r)
{
	struct bind b = {0};

	ahead_drop(pg_of(s), AH_REFUND, r->id);
	ahead_refund_added(pg_of(s), r);
	b_record(&b, &esc_refund_record, r);
	return run_later(pg_of(s), S_REFUND_INSERT, &b);
}

static int pg_refund_update(struct esc_store *s, const struct esc_refund *r)
{
	struct pg *p = pg_of(s);
	struct bind b = {0};

	ahead_drop(p, AH_REFUND, r->id);
	ahead_drop(p, AH_ORDER_REFUNDS, r->order_id);
	b_record(&b, &esc_refund_record, r);
	/* As the order's compare-and-set (pg_order_update): the refund the
	 * caller read in this snapshot is there unless another transaction
	 * wrote it, which fails this one anyway. */
	if (one_row_unwaited(p))
		return exec_id(p, S_REFUND_UPDATE, &b, TEXT_FORMAT, NULL, OWE_ONE_ROW);
	return run_one(p, S_REFUND_UPDATE, &b);
}

static int pg_refund_get(struct esc_store *s, const char *id, struct esc_refund *out)
{
	struct pg *p = pg_of(s);
	const struct ahead_row *a = ahead_find(p, AH_REFUND, id);
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	if (a)
		return p->doomed ? p->doom_rc
				 : read_record(a->res, a->row, &esc_refund_record, out);
	b_str(&b, 1, id);
	rc = query(pg_of(s), S_REFUND_GET, &b, &res);
	if (!rc)
		rc = PQntuples(res) > 0 ? read_record(res, 0, &esc_refund_record, out)
					: ESC_ENOTFOUND;
	PQclear(res);
	return rc;
}

/* An order's every refund, from read_ahead's rows and the refunds
 * inserted since: false when they are not kept, or more than max. */
static bool ahead_refunds(struct pg *p, const char *order_id, struct esc_refund *out, size_t max,
			  size_t *n, int *rc)
{
	const struct ahead_row *kept = ahead_find(p, AH_ORDER_REFUNDS, order_id);
	struct ahead *a = &p->ahead;
	size_t added = 0;

	if (!kept)
		return false;
	for (size_t i = 0; i < a->added_n; i++)
		added += !strcmp(a->added[i].order_id, order_id);
	if ((size_t)kept->rows + added > max)
		return false;
	*rc = read_rows_at(kept->res, kept->row, kept->rows, &esc_refund_record, out, n);
	for (size_t i = 0; !*rc && i < a->added_n; i++)
		if (!strcmp(a->added[i].order_id, order_id))
			out[(*n)++] = a->added[i];
	if (!*rc && p->doomed)
		*rc = p->doom_rc;
	return true;
}

static int pg_refunds_list(struct esc_store *s, const char *order_id, int status,
			   const char *after_id, struct esc_refund *out, size_t max, size_t *n)
{
	struct bind b = {0};
	int i = 1, rc = 0;

	*n = 0;
	if (order_id && status < 0 && !after_id &&
	    ahead_refunds(pg_of(s), order_id, out, max, n, &rc))
		return rc;
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
	return query_rows(pg_of(s), order_id ? S_REFUNDS_BY_ORDER : S_REFUNDS_ALL, &b,
			  &esc_refund_record, out, max, n);
}

static int pg_refunds_of(struct esc_store *s, const char *user_id, bool seller, int status,
			 const char *after_id, struct esc_refund *out, size_t max, size_t *n)
{
	struct bind b = {0};

	*n = 0;
	b_str(&b, 1, user_id);
	if (status >= 0)
		b_enum(&b, 2, &esc_enum_refund_status, status);
	else
		b_str(&b, 2, NULL);
	b_i64(&b, 3, limit_of(max));
	b_str(&b, 4, after_id);
	return query_rows(pg_of(s), seller ? S_REFUNDS_OF_SELLER : S_REFUNDS_OF_BUYER, &b,
			  &esc_refund_record, out, max, n);
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
	return run_later(pg_of(s), op->set ? S_DEADLINE_INSERT : S_DEADLINE_DELETE, &b);
}

static int pg_deadlines_due(struct esc_store *s, int64_t now_ms, struct esc_deadline *out,
			    size_t max, size_t *n)
{
	struct bind b = {0};

	*n = 0;
	b_i64(&b, 1, now_ms);
	b_i64(&b, 2, limit_of(max));
	return query_rows(pg_of(s), S_DEADLINES_DUE, &b, &esc_deadline_record, out, max, n);
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
	ESC_ASSERT(rc || (size_t)PQntuples(res) <= max, "more claimed deadlines than the LIMIT");
	if (!rc)
		rc = read_rows(res, &esc_deadline_record, out, max, n);
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

/* One row: the event, and the history line it carries, if any. */
static int pg_outbox_append(struct esc_store *s, const struct esc_outbox_row *row)
{
	struct bind b = {0};
	const struct esc_history *h = row->history;

	if (h) {
		esc_outbox_history_assert(row);
		b_record(&b, &esc_history_record, h);
	} else {
		B_FIELD(&b, 1, row->order_id);
		b_i64(&b, 2, row->version);
		b_i64(&b, 3, row->at_ms);
		for (int i = 4; i <= 8; i++)
			b_str(&b, i, "");
		B_FIELD(&b, 9, row->type);
		b_str(&b, 10, "");
	}
	b_str(&b, 11, esc_outbox_payload(row));
	return run_later(pg_of(s), S_OUTBOX_INSERT, &b);
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

static int pg_meta_get(struct esc_store *s, const char *key, int64_t *value);

static int pg_events_list(struct esc_store *s, const struct esc_event_filter *f,
			  struct esc_outbox_row *out, char **payloads, size_t max, size_t *n)
{
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	int64_t purged = 0;

	*n = 0;
	/* Purged events stay as history lines: start after them. */
	rc = pg_meta_get(s, ESC_META_EVENTS_PURGED, &purged);
	if (rc && rc != ESC_ENOTFOUND)
		return rc;
	b_i64(&b, 1, f->after_seq > purged ? f->after_seq : purged);
	b_str(&b, 2, f->type);
	b_str(&b, 3, f->type_prefix);
	b_str(&b, 4, f->order_id);
	b_i64(&b, 5, limit_of(max));
	rc = query(pg_of(s), S_EVENTS_LIST, &b, &res);
	for (int i = 0; !rc && i < rows_max(res, max); i++) {
		struct esc_outbox_row *row = &out[*n];
		memset(row, 0, sizeof *row);
		row->seq = col_i64(res, i, 0);
		row->at_ms = col_i64(res, i, 1);
		COL_FIELD(res, i, 2, row->type);
		COL_FIELD(res, i, 3, row->order_id);
		row->version = col_i64(res, i, 4);
		payloads[*n] = strdup(col_str(res, i, 5));
		if (!payloads[*n])
			rc = ESC_ENOMEM;
		else
			row->payload = payloads[(*n)++];
	}
	PQclear(res);
	return rc;
}

/* Whether the mark keyed key was added by this transaction (and not
 * undone), or, when that is unknown, -1: outside read_ahead's users and
 * time. */
static int ahead_mark_known(struct pg *p, const char *user_id, const char *key, int64_t at_ms)
{
	struct ahead *a = &p->ahead;

	if (!a->marks_at || at_ms != a->marks_at || !one_row_unwaited(p) ||
	    !ahead_find(p, AH_MARKS_READ, user_id))
		return -1;
	if (ahead_find(p, AH_MARK, key))
		return 1;
	for (size_t i = 0; i < a->marks_n; i++)
		if (!strcmp(a->marks[i], key))
			return 1;
	return 0;
}

/* The same mark for the same user, order and time is one fact: appending
 * it again changes nothing. A new one counts in its user's counters.
 * Whether it is new is known without waiting when read_ahead read the
 * user's marks at that time (those of this transaction are kept here):
 * the insert must then add a row (OWE_ONE_ROW), which it does unless a
 * concurrent transaction added the same mark, a serialization failure
 * anyway. */
static int pg_mark_append(struct esc_store *s, const char *user_id, enum esc_mark mark,
			  const char *order_id, int64_t at_ms, bool *added)
{
	struct pg *p = pg_of(s);
	struct ahead *a = &p->ahead;
	const char *name = esc_enum_name(&esc_enum_mark, (int)mark);
	char key[MARK_KEY_SIZE];
	struct bind b = {0};
	int64_t changes = 0;
	int known = -1, rc;

	if (name && ahead_id_ok(user_id) && ahead_id_ok(order_id) &&
	    (size_t)snprintf(key, sizeof key, "%s %s %s", user_id, order_id, name) < sizeof key)
		known = ahead_mark_known(p, user_id, key, at_ms);
	if (known == 1) {
		if (added)
			*added = false;
		return p->doomed ? p->doom_rc : 0;
	}
	if (known == 0 && a->marks_n == a->marks_cap) {
		size_t cap = a->marks_cap ? 2 * a->marks_cap : 64;
		char(*more)[MARK_KEY_SIZE] = realloc(a->marks, cap * sizeof *more);
		if (!more)
			known = -1;
		else {
			a->marks = more;
			a->marks_cap = cap;
		}
	}
	b_str(&b, 1, user_id);
	b_i64(&b, 2, at_ms);
	b_str(&b, 3, order_id ? order_id : "");
	b_enum(&b, 4, &esc_enum_mark, (int)mark);
	ahead_drop(p, AH_COUNTS, user_id);
	if (known == 0) {
		rc = exec_id(p, S_MARK_INSERT, &b, TEXT_FORMAT, NULL, OWE_ONE_ROW);
		if (!rc)
			memcpy(a->marks[a->marks_n++], key, sizeof key);
		changes = !rc;
	} else
		rc = run_changes(p, S_MARK_INSERT, &b, &changes);
	if (!rc && changes > 0) {
		b = (struct bind){0};
		b_str(&b, 1, user_id);
		b_i64(&b, 2, (int64_t)mark);
		b_i64(&b, 3, at_ms);
		rc = run_later(p, S_REP_MARK, &b);
	}
	if (added)
		*added = !rc && changes > 0;
	return rc;
}

struct tally_arg {
	struct pg *p;
	const char *user_id;
	/* What REP_GET_MOVED read of each window's move (short, long): the
	 * marks in (after, upto], by kind. */
	bool have[2];
	int64_t after[2], upto[2];
	int32_t n[2][ESC_MARK_COUNT];
};

/* An array of mark names as PostgreSQL writes it ({a,b} or {}) into n:
 * false when a name is not a mark's. */
static bool marks_of_array(const char *text, int32_t n[ESC_MARK_COUNT])
{
	size_t len = strlen(text);
	char name[64];

	if (len < 2 || text[0] != '{' || text[len - 1] != '}')
		return false;
	for (size_t i = 1; i < len - 1;) {
		size_t j = i;
		while (j < len - 1 && text[j] != ',')
			j++;
		if (j - i >= sizeof name)
			return false;
		memcpy(name, text + i, j - i);
		name[j - i] = '\0';
		int mark = esc_enum_parse(&esc_enum_mark, name);
		if (mark < 0 || mark >= ESC_MARK_COUNT)
			return false;
		n[mark]++;
		i = j + 1;
	}
	return true;
}

/* esc_rep_move's tally: the user's marks with after < at_ms <= upto,
 * as read with the row when it asks for what was read. */
static int pg_tally(void *arg, int64_t after, int64_t upto, int32_t n[ESC_MARK_COUNT])
{
	struct tally_arg *t = arg;
	struct bind b = {0};
	PGresult *res = NULL;
	int rc;

	for (int w = 0; w < 2; w++) {
		if (t->have[w] && t->after[w] == after && t->upto[w] == upto) {
			for (int m = 0; m < ESC_MARK_COUNT; m++)
				n[m] += t->n[w][m];
			return 0;
		}
	}

	b_str(&b, 1, t->user_id);
	b_i64(&b, 2, after);
	b_i64(&b, 3, upto);
	rc = query(t->p, S_MARKS_BETWEEN, &b, &res);
	for (int row = 0; !rc && row < PQntuples(res); row++) {
		int mark = 0;
		rc = col_enum(res, row, 0, &esc_enum_mark, &mark);
		if (!rc)
			n[mark]++;
	}
	PQclear(res);
	return rc;
}

/* The user's counters (none: no marks), moved to the windows asked for;
 * kept so moved when this connection writes in a transaction. Read with
 * REP_GET_MOVED, or from read_ahead's row for the user when it was read
 * at the same window starts. */
static int pg_mark_counts(struct esc_store *s, const char *user_id, int64_t short_since_ms,
			  int64_t long_since_ms, struct esc_rep_counts *out)
{
	struct pg *p = pg_of(s);
	struct ahead_row *a = ahead_find(p, AH_COUNTS, user_id);
	struct tally_arg t = {.p = p, .user_id = user_id};
	struct bind b = {0};
	PGresult *res = NULL;
	const PGresult *from_res = NULL;
	int at = 0;
	struct esc_rep_row r;
	bool changed = false, found = false;
	int rc = 0;

	memset(out, 0, sizeof *out);
	if (a && a->since[0] == short_since_ms && a->since[1] == long_since_ms) {
		if (p->doomed)
			return p->doom_rc;
		from_res = a->absent ? NULL : a->res;
		at = a->row;
	} else {
		a = NULL;
		b_str(&b, 1, user_id);
		b_i64(&b, 2, short_since_ms);
		b_i64(&b, 3, long_since_ms);
		rc = query(p, S_REP_GET_MOVED, &b, &res);
		if (!rc && PQntuples(res) > 0)
			from_res = res;
	}
	if (!rc && from_res) {
		struct esc_row row = row_of(from_res, at);
		int64_t to[2] = {short_since_ms, long_since_ms};
		esc_rep_row_read(&row, &r);
		int64_t from[2] = {r.short_since_ms, r.long_since_ms};
		for (int w = 0; w < 2; w++) {
			t.after[w] = from[w] < to[w] ? from[w] : to[w];
			t.upto[w] = from[w] < to[w] ? to[w] : from[w];
			t.have[w] = marks_of_array(
				col_str(from_res, at, 2 + 2 * ESC_MARK_COUNT + w), t.n[w]);
		}
		found = true;
	}
	PQclear(res);
	if (!found)
		return rc;
	rc = esc_rep_move(&r, short_since_ms, long_since_ms, pg_tally, &t, &changed);
	if (!rc && changed && p->in_tx && !p->read_only) {
		b = (struct bind){0};
		b_str(&b, 1, user_id);
		b_i64(&b, 2, r.short_since_ms);
		b_i64(&b, 3, r.long_since_ms);
		for (int m = 0; m < ESC_MARK_COUNT; m++) {
			b_i64(&b, 4 + m, r.counts.short_[m]);
			b_i64(&b, 4 + ESC_MARK_COUNT + m, r.counts.long_[m]);
		}
		if (a)
			a->gone = true;
		rc = run_later(p, S_REP_PUT, &b);
	}
	if (!rc)
		*out = r.counts;
	return rc;
}

static int pg_marks_tally(struct esc_store *s, const char *user_id, int64_t after_ms,
			  int64_t upto_ms, int32_t n[ESC_MARK_COUNT])
{
	struct tally_arg t = {.p = pg_of(s), .user_id = user_id};
	return pg_tally(&t, after_ms, upto_ms, n);
}

static int pg_marks_list(struct esc_store *s, const char *user_id, int64_t since_ms,
			 struct esc_mark_row *out, size_t max, size_t *n)
{
	struct bind b = {0};

	*n = 0;
	b_str(&b, 1, user_id);
	b_i64(&b, 2, since_ms);
	b_i64(&b, 3, limit_of(max));
	return query_rows(pg_of(s), S_MARKS_LIST, &b, &esc_mark_record, out, max, n);
}

static int pg_mark_oldest(struct esc_store *s, const char *user_id, enum esc_mark mark,
			  int64_t since_ms, int64_t *at_ms)
{
	struct bind b = {0};

	b_str(&b, 1, user_id);
	b_str(&b, 2, esc_mark_name(mark));
	b_i64(&b, 3, since_ms);
	return scalar(pg_of(s), S_MARK_OLDEST, &b, at_ms);
}

/* Policy versions (issue 16). Two processes adding a version at once
 * both take the same number: one fails (EDUPLICATE or ERETRY) and its
 * transaction runs again. */

static int pg_policy_add(struct esc_store *s, const char *hash, const char *text,
			 int64_t created_at_ms, int64_t *version)
{
	struct bind b = {0};

	b_str(&b, 1, hash);
	b_str(&b, 2, text);
	b_i64(&b, 3, created_at_ms);
	return scalar(pg_of(s), S_POLICY_ADD, &b, version);
}

static int pg_policy_find(struct esc_store *s, const char *hash, int64_t *version)
{
	struct bind b = {0};
	int rc;

	b_str(&b, 1, hash);
	rc = scalar(pg_of(s), S_POLICY_FIND, &b, version);
	if (!rc && *version == 0)
		rc = ESC_ENOTFOUND;
	return rc;
}

static int pg_policies_list(struct esc_store *s, int64_t after_version, struct esc_policy_row *out,
			    size_t max, size_t *n)
{
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	*n = 0;
	b_i64(&b, 1, after_version);
	b_i64(&b, 2, limit_of(max));
	rc = query(pg_of(s), S_POLICIES_LIST, &b, &res);
	for (int i = 0; !rc && i < rows_max(res, max); i++) {
		struct esc_row row = row_of(res, i);
		rc = esc_policy_row_read(&row, &out[*n]);
		if (!rc)
			(*n)++;
	}
	PQclear(res);
	return rc;
}

static int pg_lift_insert(struct esc_store *s, const struct esc_lift *l)
{
	struct bind b = {0};

	b_record(&b, &esc_lift_record, l);
	return run(pg_of(s), S_LIFT_INSERT, &b);
}

static int pg_lifts_list(struct esc_store *s, const char *user_id, struct esc_lift *out, size_t max,
			 size_t *n)
{
	struct bind b = {0};

	*n = 0;
	b_str(&b, 1, user_id);
	b_i64(&b, 2, limit_of(max));
	return query_rows(pg_of(s), S_LIFTS_LIST, &b, &esc_lift_record, out, max, n);
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

	ESC_ASSERT(delta != 0, "rate_hit with no delta");
	b_str(&b, 1, key);
	b_i64(&b, 2, window_start_ms);
	b_i64(&b, 3, delta);
	return scalar(pg_of(s), S_RATE_HIT, &b, count);
}

/* ---- sessions and API keys ---- */

static int pg_session_insert(struct esc_store *s, const struct esc_session *session)
{
	struct bind b = {0};

	b_record(&b, &esc_session_record, session);
	return run(pg_of(s), S_SESSION_INSERT, &b);
}

static int pg_session_get(struct esc_store *s, const char *token_hash, struct esc_session *out)
{
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	b_str(&b, 1, token_hash);
	rc = query(pg_of(s), S_SESSION_GET, &b, &res);
	if (!rc)
		rc = PQntuples(res) > 0 ? read_record(res, 0, &esc_session_record, out)
					: ESC_ENOTFOUND;
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

static int pg_api_key_insert(struct esc_store *s, const struct esc_api_key *k)
{
	struct bind b = {0};

	b_record(&b, &esc_api_key_record, k);
	return run(pg_of(s), S_API_KEY_INSERT, &b);
}

static int pg_api_keys_list(struct esc_store *s, struct esc_api_key *out, size_t max, size_t *n)
{
	struct bind b = {0};

	*n = 0;
	b_i64(&b, 1, limit_of(max));
	return query_rows(pg_of(s), S_API_KEYS_LIST, &b, &esc_api_key_record, out, max, n);
}

static int pg_api_key_get(struct esc_store *s, const char *id, struct esc_api_key *out)
{
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	b_str(&b, 1, id);
	rc = query(pg_of(s), S_API_KEY_GET, &b, &res);
	if (!rc)
		rc = PQntuples(res) > 0 ? read_record(res, 0, &esc_api_key_record, out)
					: ESC_ENOTFOUND;
	PQclear(res);
	return rc;
}

static int pg_api_key_revoke(struct esc_store *s, const char *id, int64_t at_ms)
{
	struct bind b = {0};

	b_str(&b, 1, id);
	b_i64(&b, 2, at_ms);
	return run_one(pg_of(s), S_API_KEY_REVOKE, &b);
}

static int pg_api_key_touch(struct esc_store *s, const char *key_hash, int64_t at_ms)
{
	struct bind b = {0};

	b_str(&b, 1, key_hash);
	b_i64(&b, 2, at_ms);
	b_i64(&b, 3, at_ms - 60 * 1000);
	return run(pg_of(s), S_API_KEY_TOUCH, &b);
}

/* Row 0 of a result from its column first on, as a row of its own: a
 * statement that reads several records (caller_get). */
struct shifted {
	const PGresult *res;
	int first;
};

static int64_t shifted_i64(const struct esc_row *row, int col)
{
	const struct shifted *sh = row->src;
	return col_i64(sh->res, 0, sh->first + col);
}

static const char *shifted_text(const struct esc_row *row, int col, size_t *bytes)
{
	const struct shifted *sh = row->src;
	struct esc_row plain = row_of(sh->res, 0);
	return row_text(&plain, sh->first + col, bytes);
}

static int read_from(const PGresult *res, int first, const struct esc_record *r, void *out)
{
	struct shifted sh = {res, first};
	struct esc_row row = {shifted_i64, shifted_text, &sh, 0};
	return esc_record_read(r, &row, out);
}

static int pg_caller_get(struct esc_store *s, const char *token_hash, bool *is_key,
			 int64_t *key_used_at_ms, char *key_id, struct esc_session *session,
			 struct esc_user *user)
{
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	*is_key = false;
	*key_used_at_ms = -1;
	if (key_id)
		key_id[0] = '\0';
	memset(session, 0, sizeof *session);
	memset(user, 0, sizeof *user);
	b_str(&b, 1, token_hash);
	rc = query(pg_of(s), S_CALLER_GET, &b, &res);
	if (!rc && PQntuples(res) != 1)
		rc = ESC_EIO; /* the statement always answers one row */
	if (!rc) {
		/* The key's last use (-1: no active key), the session's 5
		 * columns, the user's. */
		*key_used_at_ms = col_i64(res, 0, 0);
		*is_key = *key_used_at_ms >= 0;
		if (key_id && *is_key)
			col_field(res, 0, 15, key_id, ESC_ID_SIZE);
		if (!PQgetisnull(res, 0, 1))
			rc = read_from(res, 1, &esc_session_record, session);
		if (!rc && !PQgetisnull(res, 0, 6))
			rc = read_from(res, 6, &esc_user_record, user);
		if (!rc && !*is_key && !session->token_hash[0])
			rc = ESC_ENOTFOUND;
	}
	PQclear(res);
	return rc;
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
		doom(p, rc);
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
	b_record(&b, &esc_message_record, m);
	rc = insert_numbered(p, S_MESSAGE_INSERT, &b);
out:
	return rc;
}

static int pg_message_append(struct esc_store *s, struct esc_message *m)
{
	ahead_drop_kind(pg_of(s), AH_UNREAD);
	return atomically(pg_of(s), SQL_BEGIN, message_append_body, m);
}

static int pg_messages_list(struct esc_store *s, const char *order_id, int64_t after_seq,
			    struct esc_message *out, size_t max, size_t *n)
{
	struct bind b = {0};

	*n = 0;
	b_str(&b, 1, order_id);
	b_i64(&b, 2, after_seq);
	b_i64(&b, 3, limit_of(max));
	return query_rows(pg_of(s), S_MESSAGES_LIST, &b, &esc_message_record, out, max, n);
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
	b_record(&b, &esc_evidence_record, ev);
	b_bytes(&b, 10, a->data, ev->size);
	rc = insert_numbered(p, S_EVIDENCE_INSERT, &b);
out:
	return rc;
}

/* ---- read markers and notifications (issue 17) ---- */

static int pg_message_read(struct esc_store *s, const char *order_id, const char *user_id,
			   int64_t seq)
{
	struct bind b = {0};

	b_str(&b, 1, order_id);
	b_str(&b, 2, user_id);
	b_i64(&b, 3, seq);
	ahead_drop_kind(pg_of(s), AH_UNREAD);
	return run(pg_of(s), S_MESSAGE_READ, &b);
}

static int pg_messages_unread(struct esc_store *s, const char *user_id, const char *order_id,
			      int64_t *n)
{
	struct pg *p = pg_of(s);
	struct bind b = {0};
	char key[2 * ESC_ID_SIZE + 2];

	if (order_id && user_id && p->ahead.n &&
	    (size_t)snprintf(key, sizeof key, "%s %s", order_id, user_id) < sizeof key) {
		const struct ahead_row *a = ahead_find(p, AH_UNREAD, key);
		if (a) {
			*n = col_i64(a->res, a->row, 1);
			return p->doomed ? p->doom_rc : 0;
		}
	}

	b_str(&b, 1, user_id);
	if (order_id)
		b_str(&b, 2, order_id);
	return scalar(pg_of(s), order_id ? S_MESSAGES_UNREAD_ORDER : S_MESSAGES_UNREAD_ALL, &b, n);
}

static int pg_conversations_list(struct esc_store *s, const char *user_id,
				 const char *starting_after, struct esc_conversation *out,
				 size_t max, size_t *n)
{
	struct bind b = {0};

	*n = 0;
	b_str(&b, 1, user_id);
	b_str(&b, 2, starting_after);
	b_i64(&b, 3, limit_of(max));
	return query_rows(pg_of(s), S_CONVERSATIONS_LIST, &b, &esc_conversation_record, out, max,
			  n);
}

static int pg_notifications_list(struct esc_store *s, const char *user_id,
				 const struct esc_notification_mark *before,
				 struct esc_history_row *out, size_t max, size_t *n)
{
	struct bind b = {0};

	*n = 0;
	b_str(&b, 1, user_id);
	b_i64(&b, 2, before->at_ms);
	b_i64(&b, 3, before->seq);
	b_i64(&b, 4, limit_of(max));
	return query_rows(pg_of(s), S_NOTIFICATIONS_LIST, &b, &esc_history_row_record, out, max, n);
}

static int pg_notifications_unread(struct esc_store *s, const char *user_id,
				   const struct esc_notification_mark *after, int64_t *n)
{
	struct bind b = {0};

	b_str(&b, 1, user_id);
	b_i64(&b, 2, after->at_ms);
	b_i64(&b, 3, after->seq);
	return scalar(pg_of(s), S_NOTIFICATIONS_UNREAD, &b, n);
}

static int pg_notification_mark(struct esc_store *s, const char *user_id,
				struct esc_notification_mark *out)
{
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	out->at_ms = out->seq = 0;
	b_str(&b, 1, user_id);
	rc = query(pg_of(s), S_NOTIFICATION_MARK, &b, &res);
	if (!rc && PQntuples(res) == 1) {
		out->at_ms = col_i64(res, 0, 0);
		out->seq = col_i64(res, 0, 1);
	}
	PQclear(res);
	return rc;
}

static int pg_notification_read(struct esc_store *s, const char *user_id,
				const struct esc_notification_mark *m)
{
	struct bind b = {0};

	b_str(&b, 1, user_id);
	b_i64(&b, 2, m->at_ms);
	b_i64(&b, 3, m->seq);
	return run(pg_of(s), S_NOTIFICATION_READ, &b);
}

static int pg_evidence_append(struct esc_store *s, struct esc_evidence *ev, const void *data)
{
	struct evidence_append a = {ev, data};

	return atomically(pg_of(s), SQL_BEGIN, evidence_append_body, &a);
}

/* Columns as ESC_EVIDENCE_COLUMNS lists them, in text or in binary. */
static int pg_evidence_list(struct esc_store *s, const char *order_id, struct esc_evidence *out,
			    size_t max, size_t *n)
{
	struct bind b = {0};

	*n = 0;
	b_str(&b, 1, order_id);
	b_i64(&b, 2, limit_of(max));
	return query_rows(pg_of(s), S_EVIDENCE_LIST, &b, &esc_evidence_record, out, max, n);
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
	rc = exec_id(pg_of(s), S_EVIDENCE_GET, &b, BINARY_FORMAT, &res, OWE_ANSWER);
	if (rc)
		goto out;
	if (PQntuples(res) == 0) {
		rc = ESC_ENOTFOUND;
		goto out;
	}
	rc = read_record(res, 0, &esc_evidence_record, out);
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

/* ---- webhook endpoints ---- */

static int pg_webhook_endpoint_insert(struct esc_store *s, const struct esc_webhook_endpoint *w)
{
	struct bind b = {0};

	b_record(&b, &esc_webhook_endpoint_record, w);
	return run(pg_of(s), S_WEBHOOK_ENDPOINT_INSERT, &b);
}

static int pg_webhook_endpoint_get(struct esc_store *s, const char *id,
				   struct esc_webhook_endpoint *out)
{
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	b_str(&b, 1, id);
	rc = query(pg_of(s), S_WEBHOOK_ENDPOINT_GET, &b, &res);
	if (!rc)
		rc = PQntuples(res) > 0 ? read_record(res, 0, &esc_webhook_endpoint_record, out)
					: ESC_ENOTFOUND;
	PQclear(res);
	return rc;
}

static int pg_webhook_endpoint_update(struct esc_store *s, const struct esc_webhook_endpoint *w)
{
	const struct esc_record *r = &esc_webhook_endpoint_record;
	struct bind b = {0};

	b_cols(&b, r, 0, 1, w, 1);
	b_cols(&b, r, ESC_WEBHOOK_ENDPOINT_KEYS, r->count - ESC_WEBHOOK_ENDPOINT_KEYS, w, 2);
	return run_one(pg_of(s), S_WEBHOOK_ENDPOINT_UPDATE, &b);
}

static int pg_webhook_endpoints_count(struct esc_store *s, int64_t *n)
{
	struct bind b = {0};

	return scalar(pg_of(s), S_WEBHOOK_ENDPOINTS_COUNT, &b, n);
}

static int pg_webhook_endpoint_delete(struct esc_store *s, const char *id)
{
	struct bind b = {0};

	b_str(&b, 1, id);
	return run_one(pg_of(s), S_WEBHOOK_ENDPOINT_DELETE, &b);
}

static int pg_webhook_endpoints_list(struct esc_store *s, const char *starting_after,
				     struct esc_webhook_endpoint *out, size_t max, size_t *n,
				     bool *has_more)
{
	struct bind b = {0};

	*n = 0;
	*has_more = false;
	b_str(&b, 1, starting_after);
	/* One more than asked tells whether more follow. */
	b_i64(&b, 2, limit_of(max) < INT64_MAX ? limit_of(max) + 1 : INT64_MAX);
	return query_rows_with(pg_of(s), S_WEBHOOK_ENDPOINTS_LIST, &b, read_rows,
			       &esc_webhook_endpoint_record, out, max, n, has_more);
}

/* ---- webhook deliveries ---- */

/* An endpoint fanout matches events against. */
struct fan_endpoint {
	char id[ESC_ID_SIZE];
	char events[ESC_WEBHOOK_EVENTS_SIZE];
};

#define FANOUT_ENDPOINTS_MAX ESC_WEBHOOK_ENDPOINTS_MAX

struct fanout {
	int64_t now_ms;
	size_t max, events, made;
	struct fan_endpoint *eps;
};

static int fan_endpoints(struct pg *p, struct fan_endpoint *out, size_t *n)
{
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	*n = 0;
	b_i64(&b, 1, FANOUT_ENDPOINTS_MAX);
	rc = query(p, S_FANOUT_ENDPOINTS, &b, &res);
	for (int i = 0; !rc && i < rows_max(res, FANOUT_ENDPOINTS_MAX); i++) {
		COL_FIELD(res, i, 0, out[*n].id);
		COL_FIELD(res, i, 1, out[*n].events);
		(*n)++;
	}
	PQclear(res);
	return rc;
}

/* Event row i of res: its deliveries, then its mark. */
static int fan_one(struct pg *p, struct fanout *f, const PGresult *res, int i, size_t eps_n)
{
	int64_t seq = col_i64(res, i, 0);
	int rc = 0;

	for (size_t k = 0; !rc && k < eps_n; k++) {
		struct bind b = {0};
		char id[ESC_ID_SIZE];
		int64_t changes = 0;
		if (!esc_webhook_events_match(f->eps[k].events, col_str(res, i, 1)))
			continue;
		esc_id_new(id, "whd_", f->now_ms);
		b_str(&b, 1, id);
		b_i64(&b, 2, seq);
		B_FIELD(&b, 3, f->eps[k].id);
		b_str(&b, 4, col_str(res, i, 2));
		b_i64(&b, 5, f->now_ms);
		rc = run_changes(p, S_FANOUT_INSERT, &b, &changes);
		f->made += (size_t)changes;
	}
	if (!rc) {
		struct bind b = {0};
		b_i64(&b, 1, seq);
		rc = run(p, S_FANOUT_DONE, &b);
	}
	return rc;
}

static int fanout_body(struct pg *p, void *arg)
{
	struct fanout *f = arg;
	struct bind b = {0};
	PGresult *res = NULL;
	size_t eps_n = 0;
	int rc = 0;

	f->events = f->made = 0;
	b_i64(&b, 1, limit_of(f->max));
	rc = query(p, S_FANOUT_EVENTS, &b, &res);
	if (!rc && PQntuples(res) > 0) {
		/* The endpoints' room (large) only when there is an event. */
		if (!f->eps)
			f->eps = calloc(FANOUT_ENDPOINTS_MAX, sizeof *f->eps);
		rc = f->eps ? fan_endpoints(p, f->eps, &eps_n) : ESC_ENOMEM;
	}
	for (int i = 0; !rc && i < rows_max(res, f->max); i++) {
		rc = fan_one(p, f, res, i, eps_n);
		if (!rc)
			f->events++;
	}
	PQclear(res);
	return rc;
}

static int pg_webhook_fanout(struct esc_store *s, int64_t now_ms, size_t max, size_t *events,
			     size_t *made)
{
	struct fanout f = {.now_ms = now_ms, .max = max};
	int rc = 0;

	rc = atomically(pg_of(s), SQL_BEGIN, fanout_body, &f);
	*events = rc ? 0 : f.events;
	*made = rc ? 0 : f.made;
	free(f.eps);
	return rc;
}

/* As pg_deadlines_claim: under SERIALIZABLE two claimers of one row
 * cannot both commit; outside, the outer test runs again on each row. */
static int pg_webhook_deliveries_claim(struct esc_store *s, int64_t now_ms, const char *owner,
				       int64_t real_ms, int64_t until_real_ms,
				       struct esc_webhook_delivery *out, size_t max, size_t *n)
{
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	*n = 0;
	b_i64(&b, 1, now_ms);
	b_i64(&b, 2, limit_of(max));
	b_str(&b, 3, owner);
	b_i64(&b, 4, real_ms);
	b_i64(&b, 5, until_real_ms);
	rc = query(pg_of(s), S_DELIVERIES_CLAIM, &b, &res);
	ESC_ASSERT(rc || (size_t)PQntuples(res) <= max, "more claimed deliveries than the LIMIT");
	if (!rc)
		rc = read_rows(res, &esc_webhook_delivery_record, out, max, n);
	if (!rc)
		qsort(out, *n, sizeof *out, esc_delivery_cmp);
	PQclear(res);
	return rc;
}

struct finish {
	const char *owner;
	const struct esc_webhook_delivery *d;
	const struct esc_webhook_attempt *a;
};

static int finish_body(struct pg *p, void *arg)
{
	const struct finish *f = arg;
	struct bind b = {0}, ba = {0}, be = {0};
	int rc = 0;

	B_FIELD(&b, 1, f->d->id);
	b_str(&b, 2, f->owner);
	B_FIELD(&b, 3, f->d->status);
	b_i64(&b, 4, f->d->next_at_ms);
	b_i64(&b, 5, f->d->attempts);
	b_i64(&b, 6, f->d->last_attempt_at_ms);
	b_i64(&b, 7, f->d->last_status_code);
	b_i64(&b, 8, f->d->delivered_at_ms);
	rc = run_one(p, S_DELIVERY_FINISH, &b);
	if (rc == ESC_ENOTFOUND)
		rc = ESC_ECONFLICT;
	if (!rc) {
		b_record(&ba, &esc_webhook_attempt_record, f->a);
		rc = run(p, S_ATTEMPT_INSERT, &ba);
	}
	if (!rc) {
		B_FIELD(&be, 1, f->d->endpoint_id);
		b_i64(&be, 2, !strcmp(f->d->status, ESC_WD_DELIVERED) ? 0 : f->a->at_ms);
		rc = run(p, S_ENDPOINT_FAILING, &be);
	}
	return rc;
}

static int pg_webhook_delivery_finish(struct esc_store *s, const char *owner,
				      const struct esc_webhook_delivery *d,
				      const struct esc_webhook_attempt *a)
{
	struct finish f = {owner, d, a};

	return atomically(pg_of(s), SQL_BEGIN, finish_body, &f);
}

static int pg_webhook_deliveries_release(struct esc_store *s, const char *owner)
{
	struct bind b = {0};

	b_str(&b, 1, owner);
	return run(pg_of(s), S_DELIVERIES_RELEASE, &b);
}

static int pg_webhook_event_get(struct esc_store *s, int64_t seq, struct esc_outbox_row *out,
				char **payload)
{
	struct bind b = {0};
	PGresult *res = NULL;
	int rc = 0;

	*payload = NULL;
	memset(out, 0, sizeof *out);
	b_i64(&b, 1, seq);
	rc = query(pg_of(s), S_EVENT_GET, &b, &res);
	if (!rc && PQntuples(res) > 0) {
		out->seq = col_i64(res, 0, 0);
		out->at_ms = col_i64(res, 0, 1);
		COL_FIELD(res, 0, 2, out->type);
		COL_FIELD(res, 0, 3, out->order_id);
		out->version = col_i64(res, 0, 4);
		*payload = strdup(col_str(res, 0, 5));
		rc = *payload ? 0 : ESC_ENOMEM;
		out->payload = *payload;
	} else if (!rc) {
		rc = ESC_ENOTFOUND;
	}
	PQclear(res);
	return rc;
}

static int pg_webhook_endpoints_failing(struct esc_store *s, int64_t before_ms,
					struct esc_webhook_endpoint *out, size_t max, size_t *n)
{
	struct bind b = {0};

	*n = 0;
	b_i64(&b, 1, before_ms);
	b_i64(&b, 2, limit_of(max));
	return query_rows(pg_of(s), S_ENDPOINTS_FAILING, &b, &esc_webhook_endpoint_record, out, max,
			  n);
}

struct purge {
	int64_t before_ms;
	size_t max, purged;
};

/* The purge's range (*from, *to]: the events after the cursor, in seq
 * order, up to the first not older than before_ms, never the newest
 * row; u->purged counts those not purged yet. */
static int purge_range(struct pg *p, struct purge *u, int64_t *from, int64_t *to)
{
	struct bind b = {0}, none = {0};
	PGresult *res = NULL;
	int64_t last = 0;
	int rc;

	b_str(&b, 1, ESC_META_EVENTS_PURGED);
	rc = query(p, S_META_GET, &b, &res);
	*from = !rc && PQntuples(res) > 0 ? col_i64(res, 0, 0) : 0;
	*to = *from;
	PQclear(res);
	res = NULL;
	if (!rc)
		rc = scalar(p, S_PURGE_LAST, &none, &last);
	if (rc)
		return rc;
	b = (struct bind){0};
	b_i64(&b, 1, *from);
	b_i64(&b, 2, limit_of(u->max));
	rc = query(p, S_PURGE_WINDOW, &b, &res);
	for (int i = 0; !rc && i < PQntuples(res); i++) {
		int64_t seq = col_i64(res, i, 0);
		if (col_i64(res, i, 1) >= u->before_ms || seq >= last)
			break;
		*to = seq;
		u->purged += (size_t)col_i64(res, i, 2);
	}
	PQclear(res);
	return rc;
}

static int purge_body(struct pg *p, void *arg)
{
	static const enum stmt_id steps[] = {S_PURGE_ATTEMPTS, S_PURGE_DELIVERIES, S_PURGE_EVENTS,
					     S_PURGE_PAYLOADS, S_PURGE_PENDING};
	struct purge *u = arg;
	int64_t from = 0, to = 0;
	int rc = 0;

	u->purged = 0;
	rc = purge_range(p, u, &from, &to);
	for (size_t i = 0; !rc && to > from && i < sizeof steps / sizeof steps[0]; i++) {
		struct bind b = {0};
		b_i64(&b, 1, from);
		b_i64(&b, 2, to);
		rc = run(p, steps[i], &b);
	}
	if (!rc && to > from) {
		struct bind b = {0};
		b_str(&b, 1, ESC_META_EVENTS_PURGED);
		b_i64(&b, 2, to);
		rc = run(p, S_META_SET, &b);
	}
	return rc;
}

static int pg_webhook_purge(struct esc_store *s, int64_t before_ms, size_t max, size_t *purged)
{
	struct purge u = {before_ms, max, 0};
	int rc = atomically(pg_of(s), SQL_BEGIN, purge_body, &u);

	*purged = rc ? 0 : u.purged;
	return rc;
}

static int pg_webhook_stats(struct esc_store *s, struct esc_webhook_stats *out)
{
	struct bind none = {0};
	PGresult *res = NULL;
	int rc = query(pg_of(s), S_WEBHOOK_STATS, &none, &res);

	memset(out, 0, sizeof *out);
	if (!rc && PQntuples(res) == 1) {
		int64_t fan = col_i64(res, 0, 0), pending = col_i64(res, 0, 1);
		out->oldest_undelivered_ms = !fan                        ? pending
					     : !pending || fan < pending ? fan
									 : pending;
		out->endpoints_disabled = col_i64(res, 0, 2);
		out->deliveries_pending = col_i64(res, 0, 3);
	} else if (!rc) {
		rc = ESC_EIO;
	}
	PQclear(res);
	return rc;
}

/* ---- webhook deliveries as the operator sees them ---- */

/* The rows of res, deliveries (r: esc_webhook_delivery_record) with their
 * event's type (the column after the record's), into out, an array of
 * struct esc_webhook_delivery_seen (at most max): *n of them. */
static int read_deliveries(const PGresult *res, const struct esc_record *r, void *out, size_t max,
			   size_t *n)
{
	struct esc_webhook_delivery_seen *seen = out;
	int rc = 0;

	for (int i = 0; !rc && i < rows_max(res, max); i++) {
		rc = read_record(res, i, r, &seen[*n].d);
		if (!rc) {
			COL_FIELD(res, i, r->count, seen[*n].event_type);
			(*n)++;
		}
	}
	return rc;
}

static int pg_webhook_deliveries_list(struct esc_store *s,
				      const struct esc_webhook_delivery_filter *f,
				      struct esc_webhook_delivery_seen *out, size_t max, size_t *n,
				      bool *has_more)
{
	enum stmt_id id = f->event_seq >= 0 ? S_WEBHOOK_DELIVERIES_BY_EVENT
			  : f->endpoint_id  ? S_WEBHOOK_DELIVERIES_BY_ENDPOINT
					    : S_WEBHOOK_DELIVERIES_LIST;
	struct bind b = {0};

	*n = 0;
	*has_more = false;
	b_str(&b, 1, f->endpoint_id);
	b_i64(&b, 2, f->event_seq);
	b_str(&b, 3, f->status);
	b_str(&b, 4, f->starting_after);
	/* One more than asked tells whether more follow. */
	b_i64(&b, 5, limit_of(max) < INT64_MAX ? limit_of(max) + 1 : INT64_MAX);
	return query_rows_with(pg_of(s), id, &b, read_deliveries, &esc_webhook_delivery_record, out,
			       max, n, has_more);
}

static int pg_webhook_delivery_get(struct esc_store *s, const char *id,
				   struct esc_webhook_delivery_seen *out)
{
	struct bind b = {0};
	size_t n = 0;
	int rc = 0;

	b_str(&b, 1, id);
	rc = query_rows_with(pg_of(s), S_WEBHOOK_DELIVERY_GET, &b, read_deliveries,
			     &esc_webhook_delivery_record, out, 1, &n, NULL);
	return !rc && n == 0 ? ESC_ENOTFOUND : rc;
}

static int pg_webhook_attempts_list(struct esc_store *s, const char *delivery_id, int64_t after_n,
				    struct esc_webhook_attempt *out, size_t max, size_t *n)
{
	struct bind b = {0};

	*n = 0;
	b_str(&b, 1, delivery_id);
	b_i64(&b, 2, after_n);
	b_i64(&b, 3, limit_of(max));
	return query_rows(pg_of(s), S_WEBHOOK_ATTEMPTS_LIST, &b, &esc_webhook_attempt_record, out,
			  max, n);
}

static int pg_webhook_delivery_retry_now(struct esc_store *s, const char *id, int64_t now_ms)
{
	struct bind b = {0};

	b_str(&b, 1, id);
	b_i64(&b, 2, now_ms);
	return run_one(pg_of(s), S_WEBHOOK_DELIVERY_RETRY_NOW, &b);
}

static int pg_refunds_count(struct esc_store *s, enum esc_refund_status status, int64_t *n)
{
	struct bind b = {0};

	b_enum(&b, 1, &esc_enum_refund_status, (int)status);
	return scalar(pg_of(s), S_REFUNDS_COUNT, &b, n);
}

static int pg_refunds_overdue(struct esc_store *s, int64_t now_ms, int64_t *n)
{
	struct bind b = {0};

	b_enum(&b, 1, &esc_enum_refund_status, ESC_REFUND_PENDING);
	b_i64(&b, 2, now_ms);
	return scalar(pg_of(s), S_REFUNDS_OVERDUE, &b, n);
}

static int pg_deadline_soonest(struct esc_store *s, int64_t *due_ms)
{
	struct bind b = {0};

	return scalar(pg_of(s), S_DEADLINE_SOONEST, &b, due_ms);
}

/* ---- ledger_check ---- */

/* Run check which: each row of its result is a problem. */
static int check(struct pg *p, enum esc_check which, struct esc_ledger_report *r)
{
	struct bind none = {0};
	PGresult *res = NULL;
	int rc = query(p, (enum stmt_id)(S_CHECK_CURRENCIES + which), &none, &res);

	for (int i = 0; !rc && i < PQntuples(res); i++) {
		struct esc_row row = row_of(res, i);
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
	ahead_free(p);
	free(p);
}

static const struct esc_store_ops pg_ops = {
	.name = "postgresql",
	.shared = true,
	.close = pg_close,
	.last_error = esc_pg_last_error,
	.read_ahead = pg_read_ahead,
	ESC_STORE_VERBS(pg),
};

const char *esc_pg_last_error(const struct esc_store *s)
{
	return s && s->ops == &pg_ops ? ((const struct pg *)s)->error : "";
}

int esc_pg_open(const char *url, struct esc_store **out, char *err, size_t err_size)
{
	return esc_pg_open_mode(url, false, out, err, err_size);
}

int esc_pg_open_mode(const char *url, bool read_only, struct esc_store **out, char *err,
		     size_t err_size)
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
	PQsetNoticeReceiver(p->conn, on_notice, p);
	pthread_once(&sql_once, sql_build);
	rc = read_only ? esc_pg_schema_check(p->conn, err, err_size)
		       : esc_pg_migrate(p->conn, &p->base.schema_version_found, err, err_size);
	if (!rc && !read_only)
		p->base.schema_version = esc_pg_schema_version();
	if (!rc) {
		rc = set_session(p, read_only);
		p->read_only = read_only && !rc;
		if (rc)
			esc_set_err(err, err_size, "cannot make the connection read-only");
	}
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
