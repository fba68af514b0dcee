/* sqlite.c - the SQLite backend of store.h: every verb as cached, bound
 * statements over the schema of migrations.c.
 *
 * Durability: WAL with synchronous=FULL, so COMMIT returns once the WAL is
 * synced. Checkpoints never run inside a commit (wal_autocheckpoint=0): a
 * background thread with its own connection runs a PASSIVE checkpoint
 * every CHECKPOINT_INTERVAL_MS when something was committed, or at once
 * when the WAL grows past CHECKPOINT_WAL_PAGES (signalled from the WAL
 * hook), then a RESTART one when the WAL is that large, so that it stays
 * bounded under load, never waiting while it holds the writer back
 * (checkpoint()); close stops it and truncates the WAL. A connection
 * kept busy waits in steps of BUSY_SLEEP_US (busy_wait).
 *
 * Atomicity: a verb called outside a transaction runs in its own (BEGIN
 * IMMEDIATE .. COMMIT). Inside the caller's transaction a verb that fails
 * may have written part of its rows; the caller rolls back its savepoint
 * or transaction, as the engine does for every failed command.
 *
 * A full disk or an I/O error (SQLITE_FULL, SQLITE_IOERR) fails with
 * ESC_EBUSY: nothing of the transaction is kept, and the same command may
 * well succeed once the disk has room or works again (503, not 500).
 * SQLite may have rolled back the whole transaction by itself then; the
 * verbs that continue one (savepoints, commit, a verb's own) fail with
 * ESC_EBUSY too instead of running outside it.
 *
 * One thread at a time uses a store: statements are cached per verb and
 * the connection is opened without SQLite's mutexes. */
#include "store/sqlite/sqlite.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/sqlite/migrations.h"
#include "store/common.h"
#include "util/clock.h"
#include "util/id.h"
#include "util/error.h"
#include "util/bug.h"

#define BUSY_TIMEOUT_MS             5000
#define BUSY_SLEEP_US               100
#define CLOSE_BUSY_TIMEOUT_MS       200 /* the final checkpoint is best effort */
#define CHECKPOINT_INTERVAL_MS      200
#define CHECKPOINT_WAL_PAGES        4000
#define CHECKPOINT_RESTART_TRIES    20
#define CHECKPOINT_RESTART_PAUSE_US 1000

/* ---- statements ---- */

/* X(ID, SQL): prepared once at open; the shared ones are common.h's. */
#define STATEMENTS(X)                                                                              \
	X(BEGIN, "BEGIN IMMEDIATE")                                                                \
	X(BEGIN_READ, "BEGIN")                                                                     \
	X(COMMIT, "COMMIT")                                                                        \
	X(ROLLBACK, "ROLLBACK")                                                                    \
	X(SAVEPOINT, "SAVEPOINT cmd")                                                              \
	X(RELEASE, "RELEASE cmd")                                                                  \
	X(ROLLBACK_TO, "ROLLBACK TO cmd")                                                          \
	X(USER_BY_EMAIL, ESC_SQL_USER_SELECT " WHERE email = ?1")                                  \
	X(ENTRY_FIRST, "INSERT OR IGNORE INTO entries (transfer_id, leg, account, amount_minor, "  \
		       "currency, order_id, kind, at_ms) VALUES (?1, 0, ?2, ?3, ?4, ?5, ?6, ?7)")  \
	X(DEADLINES_CLAIM_LAST,                                                                    \
	  "SELECT due_ms, order_id, kind, ref FROM deadlines WHERE due_ms <= ?1 "                  \
	  "AND " ESC_SQL_CLAIM_FREE " ORDER BY due_ms, order_id, kind, ref LIMIT 1 OFFSET ?2")     \
	X(DEADLINES_CLAIM_UPTO,                                                                    \
	  "UPDATE deadlines SET claim_owner = ?3 WHERE (due_ms, order_id, kind, ref) <= "          \
	  "(?1, ?2, ?5, ?6) AND " ESC_SQL_CLAIM_FREE " RETURNING due_ms, order_id, kind, ref")     \
	X(DEADLINES_CLAIM_ALL,                                                                     \
	  "UPDATE deadlines SET claim_owner = ?3 WHERE due_ms <= ?1 AND " ESC_SQL_CLAIM_FREE " "   \
	  "RETURNING due_ms, order_id, kind, ref")                                                 \
	X(RATE_HIT, "INSERT INTO rate_limits (key, window_start_ms, count) "                       \
		    "VALUES (?1, ?2, max(?3, 0)) ON CONFLICT (key) DO UPDATE SET count = CASE "    \
		    "WHEN excluded.window_start_ms > window_start_ms THEN max(?3, 0) "             \
		    "WHEN excluded.window_start_ms = window_start_ms OR ?3 > 0 "                   \
		    "THEN max(count + ?3, 0) ELSE count END, "                                     \
		    "window_start_ms = max(window_start_ms, excluded.window_start_ms) "            \
		    "RETURNING count")                                                             \
	X(FANOUT_EVENTS, ESC_SQL_FANOUT_EVENTS)                                                    \
	X(OUTBOX_INSERT, ESC_SQL_OUTBOX_INSERT)                                                    \
	X(FANOUT_PENDING_ADD, "INSERT INTO fanout_pending (seq) VALUES (?1)")                      \
	X(MARK_INSERT, "INSERT OR IGNORE INTO marks (user_id, at_ms, order_id, mark) "             \
		       "VALUES (?1, ?2, ?3, ?4)")                                                  \
	ESC_SQL_STATEMENTS(X)                                                                      \
	ESC_SQL_CHECKS(X)

ESC_STATEMENTS_TABLE(STATEMENTS);

struct checkpointer {
	sqlite3 *db; /* its own connection, used only by its thread */
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;  /* close asks the thread to end */
	bool wake;  /* the WAL is large: checkpoint now */
	bool dirty; /* something was committed since the last checkpoint */
};

/* A caller a read connection looked up (caller_get), with the version
 * of the callers' tables it was read at (auth_version). */
#define CALLERS_KEPT 16
struct caller_kept {
	int64_t auth_version; /* 0: an empty slot */
	char token_hash[ESC_HASH_HEX_SIZE];
	bool is_key;
	int64_t key_used_at_ms;
	char key_id[ESC_ID_SIZE];
	struct esc_session session;
	struct esc_user user;
};

struct sq {
	struct esc_store base; /* first: the interface's view of us */
	sqlite3 *db;
	sqlite3_stmt *stmts[S_COUNT];
	sqlite3_stmt *orders_list[ESC_F_COMBINATIONS];
	/* A read connection's last callers (sq_caller_get), its PRAGMA
	 * data_version statement and its auth_version one, made at the first
	 * lookup, and the auth_version it read last, at which data_version. */
	struct caller_kept *callers;
	unsigned callers_next;
	sqlite3_stmt *data_version;
	sqlite3_stmt *auth_version;
	int64_t auth_read, auth_read_at;
	bool keep_map;       /* a read connection of the pool: its file's map is kept */
	bool in_tx;          /* the caller's begin succeeded, and it has not ended it */
	bool read_only;      /* read_only was called: PRAGMA query_only is on */
	bool file_read_only; /* opened ESC_STORE_READ: the file itself read-only */
	bool sync_ready;     /* ck.mu and ck.cv are initialised */
	struct checkpointer ck;
	/* WAL frames this connection appended (wal_hook), and the page size:
	 * read by wal_stats from other threads. */
	_Atomic int64_t wal_frames;
	int64_t page_size;
};

static struct sq *sq_of(struct esc_store *s)
{
	return (struct sq *)s;
}

/* ---- errors ---- */

static int map_rc(int src)
{
	int rc = ESC_EIO;

	switch (src & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_FULL:
	case SQLITE_IOERR:
		rc = ESC_EBUSY;
		break;
	case SQLITE_CONSTRAINT:
		if (src == SQLITE_CONSTRAINT_UNIQUE || src == SQLITE_CONSTRAINT_PRIMARYKEY)
			rc = ESC_EDUPLICATE;
		break;
	case SQLITE_NOMEM:
		rc = ESC_ENOMEM;
		break;
	default:
		break;
	}
	return rc;
}

/* The code of a statement that failed to step. SQLITE_READONLY from a
 * file SQLite could open only for reading keeps map_rc's ESC_EIO; from a
 * connection made read-only (PRAGMA query_only) it is a write sent
 * through a connection meant for reads: a bug. */
static int step_rc(sqlite3_stmt *st, int src)
{
	int rc = map_rc(src);

	if (src == SQLITE_READONLY && sqlite3_db_readonly(sqlite3_db_handle(st), "main") == 0)
		rc = ESC_EBUG;
	return rc;
}

/* ---- binding: the first failure sticks, and is returned by bind_end ---- */

struct bind {
	sqlite3_stmt *st;
	int src;      /* the first sqlite3_bind_* failure */
	bool invalid; /* a value that cannot be stored (enum out of range) */
};

static void b_i64(struct bind *b, int i, int64_t v)
{
	if (b->src == SQLITE_OK)
		b->src = sqlite3_bind_int64(b->st, i, v);
}

/* A fixed-size char field: never read past max bytes. */
static void b_field(struct bind *b, int i, const char *s, size_t max)
{
	if (b->src == SQLITE_OK)
		b->src = sqlite3_bind_text(b->st, i, s, (int)strnlen(s, max), SQLITE_STATIC);
}

/* A NUL-terminated string, or NULL. */
static void b_str(struct bind *b, int i, const char *s)
{
	if (b->src != SQLITE_OK)
		return;
	if (s)
		b->src = sqlite3_bind_text(b->st, i, s, -1, SQLITE_STATIC);
	else
		b->src = sqlite3_bind_null(b->st, i);
}

static void b_enum(struct bind *b, int i, const struct esc_enum *d, int v)
{
	const char *name = esc_enum_name(d, v);

	if (!name)
		b->invalid = true;
	else
		b_str(b, i, name);
}

static void bind_i64(void *b, int i, int64_t v)
{
	b_i64(b, i, v);
}

static void bind_text(void *arg, int i, const char *s, size_t bytes)
{
	struct bind *b = arg;

	if (b->src == SQLITE_OK)
		b->src = sqlite3_bind_text(b->st, i, s, (int)bytes, SQLITE_STATIC);
}

static const struct esc_binder binder = {bind_i64, bind_text};

/* count columns of record r of in, from its column first on, at the
 * parameters from i on. */
static void b_cols(struct bind *b, const struct esc_record *r, int first, int count, const void *in,
		   int i)
{
	if (esc_record_bind(r, first, count, in, i, &binder, b))
		b->invalid = true;
}

/* All of record r of in, at parameters 1.. */
#define B_RECORD(b, r, in) b_cols((b), (r), 0, (r)->count, (in), 1)

#define B_FIELD(b, i, field) b_field((b), (i), (field), sizeof(field))

/* Make a count a LIMIT: SQLite takes int64. */
static int64_t limit_of(size_t n)
{
	return n > (size_t)INT64_MAX ? INT64_MAX : (int64_t)n;
}

/* Ready a statement for the next call: drop its cursor and bindings. */
static void finish(sqlite3_stmt *st)
{
	if (!st)
		return; /* never prepared (bind_of) */
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static int bind_end(struct bind *b)
{
	int rc = 0;

	if (b->invalid)
		rc = ESC_EINVAL;
	else if (b->src != SQLITE_OK)
		rc = map_rc(b->src);
	if (rc)
		finish(b->st);
	return rc;
}

/* Statement id on q, prepared at its first use there (as the PostgreSQL
 * store's are): a read connection of a daemon's pool (ESC_STORE_READER)
 * prepares only what it runs, where preparing all 139 at open took 7 ms
 * a connection, half of a daemon's start. Every other connection
 * prepares them all at open (prepare_all), which checks this binary's
 * SQL against the schema. NULL, SQLite's code in *src, when it cannot be
 * prepared. */
static sqlite3_stmt *stmt_of(struct sq *q, enum stmt_id id, int *src)
{
	*src = SQLITE_OK;
	if (!q->stmts[id]) {
		*src = sqlite3_prepare_v3(q->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
					  &q->stmts[id], NULL);
		if (*src == SQLITE_OK && !q->stmts[id])
			*src = SQLITE_ERROR; /* no statement in the text: a bug */
	}
	return q->stmts[id];
}

/* Statement id (stmt_of), to bind: one that cannot be prepared fails at
 * bind_end, whose caller then runs nothing. */
static struct bind bind_of(struct sq *q, enum stmt_id id)
{
	struct bind b = {NULL, SQLITE_OK, false};

	b.st = stmt_of(q, id, &b.src);
	return b;
}

/* The connection whose transaction this thread began (sq_begin), until
 * it ends it: a statement of its must not run once SQLite rolled that
 * transaction back by itself (a full disk, an I/O error, memory), or it
 * would run on its own, outside it, and a verb of one statement would
 * commit alone (a key's answer for a command that is gone, say). */
static _Thread_local sqlite3 *tx_db;

static bool tx_gone(sqlite3_stmt *st)
{
	return tx_db && sqlite3_db_handle(st) == tx_db && sqlite3_get_autocommit(tx_db);
}

/* Run a bound statement that returns no rows, then ready it again. */
static int run(sqlite3_stmt *st)
{
	int src = tx_gone(st) ? SQLITE_ABORT : sqlite3_step(st);
	int rc = src == SQLITE_DONE ? 0 : src == SQLITE_ABORT ? ESC_EBUSY : step_rc(st, src);

	finish(st);
	return rc;
}

/* Step once: 1 for a row, 0 when done, or a negative code. */
static int next_row(sqlite3_stmt *st)
{
	if (tx_gone(st))
		return ESC_EBUSY;
	int src = sqlite3_step(st);
	int rc = 0;

	if (src == SQLITE_ROW)
		rc = 1;
	else if (src != SQLITE_DONE)
		rc = step_rc(st, src);
	return rc;
}

/* ---- reading ---- */

/* The row st is on, for the readers of common.h; its columns from
 * row->index on (0 but for a statement that reads several records). */
static int64_t row_i64(const struct esc_row *row, int col)
{
	return sqlite3_column_int64((sqlite3_stmt *)row->src, row->index + col);
}

static const char *row_text(const struct esc_row *row, int col, size_t *bytes)
{
	sqlite3_stmt *st = (sqlite3_stmt *)row->src;
	const char *text = (const char *)sqlite3_column_text(st, row->index + col);

	*bytes = text ? (size_t)sqlite3_column_bytes(st, row->index + col) : 0;
	return text;
}

static struct esc_row row_of(sqlite3_stmt *st)
{
	struct esc_row row = {row_i64, row_text, st, 0};

	return row;
}

/* A row whose columns are record r's, into out. */
static int read_record(sqlite3_stmt *st, const struct esc_record *r, void *out)
{
	struct esc_row row = row_of(st);

	return esc_record_read(r, &row, out);
}

/* The rows of a bound statement, each a record r, into out (at most max):
 * *n of them. With more, steps once beyond max to say in *more whether
 * another row follows. Readies the statement again. */
static int read_list(sqlite3_stmt *st, const struct esc_record *r, void *out, size_t max, size_t *n,
		     bool *more)
{
	struct esc_row row = row_of(st);
	int rc = 0;

	*n = 0;
	for (;;) {
		if (*n == max && !more)
			break;
		rc = next_row(st);
		if (rc <= 0)
			break;
		if (*n == max) {
			*more = true;
			rc = 0;
			break;
		}
		rc = esc_record_read(r, &row, (char *)out + *n * r->size);
		if (rc)
			break;
		(*n)++;
	}
	finish(st);
	return rc;
}

static int read_rows(sqlite3_stmt *st, const struct esc_record *r, void *out, size_t max, size_t *n)
{
	return read_list(st, r, out, max, n, NULL);
}

/* Copy a text column into a field of size bytes: bounded, cut at a UTF-8
 * character boundary, always NUL-terminated. */
static void col_field(sqlite3_stmt *st, int col, char *dst, size_t size)
{
	const char *text = (const char *)sqlite3_column_text(st, col);

	esc_field_copy(dst, size, text, text ? (size_t)sqlite3_column_bytes(st, col) : 0);
}

#define COL_FIELD(st, col, field) col_field((st), (col), (field), sizeof(field))

/* An enum column: its value, or ESC_EIO for a name this binary does not
 * know (a newer binary wrote it, or the file was damaged). */
static int col_enum(sqlite3_stmt *st, int col, const struct esc_enum *d, int *out)
{
	int v = esc_enum_parse(d, (const char *)sqlite3_column_text(st, col));
	int rc = 0;

	if (v < 0)
		rc = ESC_EIO;
	else
		*out = v;
	return rc;
}

/* ---- transactions ---- */

static int exec_id(struct sq *q, enum stmt_id id)
{
	int src = SQLITE_OK;
	sqlite3_stmt *st = stmt_of(q, id, &src);

	return st ? run(st) : map_rc(src);
}

/* The caller's transaction is gone: SQLite rolled it back by itself after
 * a full disk or an I/O error. */
static bool tx_lost(const struct sq *q)
{
	return q->in_tx && sqlite3_get_autocommit(q->db);
}

/* Run a statement that continues the caller's transaction, unless that is
 * gone: then it would run on its own, outside it. */
static int exec_in_tx(struct sq *q, enum stmt_id id)
{
	return tx_lost(q) ? ESC_EBUSY : exec_id(q, id);
}

/* The caller's transaction ended. */
static void tx_end(struct sq *q)
{
	q->in_tx = false;
	if (tx_db == q->db)
		tx_db = NULL;
}

/* A read-only connection's transaction reads: BEGIN IMMEDIATE would ask
 * for the write lock, which query_only refuses. */
static int sq_begin(struct esc_store *s)
{
	struct sq *q = sq_of(s);
	tx_end(q); /* a new one: whatever came before is over */
	int rc = exec_id(q, q->read_only ? S_BEGIN_READ : S_BEGIN);

	q->in_tx = !rc;
	if (!rc)
		tx_db = q->db;
	return rc;
}

static int sq_begin_weak(struct esc_store *s)
{
	return sq_begin(s);
}

static int sq_commit(struct esc_store *s)
{
	struct sq *q = sq_of(s);
	int rc = exec_in_tx(q, S_COMMIT);

	if (!rc)
		tx_end(q);
	return rc;
}

static int sq_rollback(struct esc_store *s)
{
	struct sq *q = sq_of(s);
	int rc = 0;

	tx_end(q);
	/* SQLite may have rolled back already (after an I/O error, say). */
	if (!sqlite3_get_autocommit(q->db))
		rc = exec_id(q, S_ROLLBACK);
	return rc;
}

static int64_t sq_changes(const struct esc_store *s)
{
	sqlite3 *db = ((const struct sq *)(const void *)s)->db;
	return sqlite3_get_autocommit(db) ? -1 : (int64_t)sqlite3_total_changes64(db);
}

static int sq_savepoint(struct esc_store *s)
{
	return exec_in_tx(sq_of(s), S_SAVEPOINT);
}

static int sq_savepoint_release(struct esc_store *s)
{
	return exec_in_tx(sq_of(s), S_RELEASE);
}

static int sq_savepoint_rollback(struct esc_store *s)
{
	struct sq *q = sq_of(s);
	int rc = exec_in_tx(q, S_ROLLBACK_TO);

	if (!rc)
		rc = exec_id(q, S_RELEASE);
	return rc;
}

static void checkpointer_stop(struct sq *q);

/* A read connection's map (keep_vfs): SQLite's limit, which a file
 * larger than it is mapped up to. */
#define KEEP_MAP_BYTES "2147418112"

static int sq_read_only(struct esc_store *s)
{
	struct sq *q = sq_of(s);
	int src = SQLITE_OK;

	ESC_ASSERT(sqlite3_get_autocommit(q->db), "read_only called inside a transaction");
	src = sqlite3_exec(q->db, "PRAGMA query_only = ON", NULL, NULL, NULL);
	/* A read connection of the pool reads the file through its map
	 * (keep_vfs). Only the daemon's speed depends on it. */
	if (src == SQLITE_OK && q->keep_map)
		(void)sqlite3_exec(q->db, "PRAGMA mmap_size = " KEEP_MAP_BYTES, NULL, NULL, NULL);
	if (src == SQLITE_OK) {
		q->read_only = true;
		/* It commits nothing, so it has nothing to checkpoint: its
		 * thread and connection would only wake on a timer (each read
		 * connection of the pool had them). The writer's checkpoints. */
		sqlite3_wal_hook(q->db, NULL, NULL);
		checkpointer_stop(q);
	}
	return src == SQLITE_OK ? 0 : map_rc(src);
}

/* A verb of several statements gets its own transaction when the caller
 * has none. *owned tells auto_end whether to end it. */
static int auto_begin(struct sq *q, enum stmt_id begin, bool *owned)
{
	int rc = 0;

	*owned = false;
	if (tx_lost(q)) {
		rc = ESC_EBUSY;
	} else if (sqlite3_get_autocommit(q->db)) {
		rc = exec_id(q, begin);
		*owned = !rc;
	}
	return rc;
}

static int auto_end(struct sq *q, bool owned, int rc)
{
	if (owned) {
		if (!rc)
			rc = exec_id(q, S_COMMIT);
		/* The verb's own failure is what the caller needs to see. */
		if (rc && !sqlite3_get_autocommit(q->db))
			(void)exec_id(q, S_ROLLBACK);
	}
	return rc;
}

/* ---- users ---- */

static int sq_user_insert(struct esc_store *s, const struct esc_user *u)
{
	struct bind b = bind_of(sq_of(s), S_USER_INSERT);
	int rc = 0;

	B_RECORD(&b, &esc_user_record, u);
	rc = bind_end(&b);
	if (!rc)
		rc = run(b.st);
	return rc;
}

static int sq_user_update(struct esc_store *s, const struct esc_user *u)
{
	struct sq *q = sq_of(s);
	struct bind b = bind_of(q, S_USER_UPDATE);
	int rc = 0;

	B_RECORD(&b, &esc_user_record, u);
	rc = bind_end(&b);
	if (rc)
		goto out;
	rc = run(b.st);
	if (!rc && sqlite3_changes(q->db) == 0)
		rc = ESC_ENOTFOUND;
out:
	return rc;
}

/* Read the one user a bound statement selects. */
static int user_one(sqlite3_stmt *st, struct esc_user *out)
{
	int rc = next_row(st);

	if (rc == 1)
		rc = read_record(st, &esc_user_record, out);
	else if (rc == 0)
		rc = ESC_ENOTFOUND;
	finish(st);
	return rc;
}

static int sq_user_get(struct esc_store *s, const char *id, struct esc_user *out)
{
	struct bind b = bind_of(sq_of(s), S_USER_GET);
	int rc = 0;

	b_str(&b, 1, id);
	rc = bind_end(&b);
	if (!rc)
		rc = user_one(b.st, out);
	return rc;
}

static int sq_user_by_email(struct esc_store *s, const char *email, struct esc_user *out)
{
	struct bind b = bind_of(sq_of(s), S_USER_BY_EMAIL);
	int rc = 0;

	b_str(&b, 1, email);
	rc = bind_end(&b);
	if (!rc)
		rc = user_one(b.st, out);
	return rc;
}

static int sq_users_list(struct esc_store *s, const char *starting_after, struct esc_user *out,
			 size_t max, size_t *n)
{
	struct bind b = bind_of(sq_of(s), S_USERS_LIST);
	int rc = 0;

	*n = 0;
	/* Every id sorts after "". */
	b_str(&b, 1, starting_after ? starting_after : "");
	b_i64(&b, 2, limit_of(max));
	rc = bind_end(&b);
	if (rc)
		goto out;
	rc = read_rows(b.st, &esc_user_record, out, max, n);
out:
	return rc;
}

/* ---- orders ---- */

static int sq_order_insert(struct esc_store *s, const struct esc_order *o,
			   const struct esc_item *items, size_t items_count)
{
	struct sq *q = sq_of(s);
	struct bind b = bind_of(q, S_ORDER_INSERT);
	bool owned = false;
	int rc = 0;

	ESC_ASSERT(items || !items_count, "items counted but not given");
	ESC_ASSERT(sqlite3_bind_parameter_count(b.st) == esc_order_insert_params(),
		   "order_insert's statement and the order columns disagree");
	if (esc_order_bind_insert(o, &binder, &b))
		b.invalid = true;
	rc = bind_end(&b);
	if (rc)
		goto out;
	rc = auto_begin(q, S_BEGIN, &owned);
	if (rc) {
		finish(b.st);
		goto out;
	}
	rc = run(b.st);
	for (size_t i = 0; !rc && i < items_count; i++) {
		struct bind bi = bind_of(q, S_ITEM_INSERT);
		B_FIELD(&bi, 1, o->id);
		b_i64(&bi, 2, (int64_t)i);
		B_FIELD(&bi, 3, items[i].title);
		b_i64(&bi, 4, items[i].quantity);
		b_i64(&bi, 5, items[i].unit_price_minor);
		B_FIELD(&bi, 6, items[i].image_url);
		rc = bind_end(&bi);
		if (!rc)
			rc = run(bi.st);
	}
	rc = auto_end(q, owned, rc);
out:
	return rc;
}

/* Read the one order a bound statement selects. */
static int order_one(sqlite3_stmt *st, struct esc_order *out)
{
	int rc = next_row(st);

	if (rc == 1)
		rc = read_record(st, &esc_order_record, out);
	else if (rc == 0)
		rc = ESC_ENOTFOUND;
	finish(st);
	return rc;
}

static int sq_order_get(struct esc_store *s, const char *id, struct esc_order *out)
{
	struct bind b = bind_of(sq_of(s), S_ORDER_GET);
	int rc = 0;

	b_str(&b, 1, id);
	rc = bind_end(&b);
	if (!rc)
		rc = order_one(b.st, out);
	return rc;
}

static int order_exists(struct sq *q, const char *id, bool *exists)
{
	struct bind b = bind_of(q, S_ORDER_EXISTS);
	int rc = 0;

	*exists = false;
	B_FIELD(&b, 1, id);
	rc = bind_end(&b);
	if (rc)
		goto out;
	rc = next_row(b.st);
	finish(b.st);
	if (rc == 1) {
		*exists = true;
		rc = 0;
	}
out:
	return rc;
}

static int sq_order_update(struct esc_store *s, const struct esc_order *o, int64_t expected_version)
{
	struct sq *q = sq_of(s);
	struct bind b = bind_of(q, S_ORDER_UPDATE);
	bool exists = false;
	int rc = 0;

	ESC_ASSERT(sqlite3_bind_parameter_count(b.st) == esc_order_update_params(),
		   "order_update's statement and the order columns disagree");
	if (esc_order_bind_update(o, expected_version, &binder, &b))
		b.invalid = true;
	rc = bind_end(&b);
	if (rc)
		goto out;
	rc = run(b.st);
	if (rc || sqlite3_changes(q->db) > 0)
		goto out;
	rc = order_exists(q, o->id, &exists);
	if (!rc)
		rc = exists ? ESC_ECONFLICT : ESC_ENOTFOUND;
out:
	return rc;
}

static int sq_order_items(struct esc_store *s, const char *order_id, struct esc_item *out,
			  size_t max, size_t *n)
{
	struct bind b = bind_of(sq_of(s), S_ITEMS_LIST);
	int rc = 0;

	*n = 0;
	b_str(&b, 1, order_id);
	b_i64(&b, 2, limit_of(max));
	rc = bind_end(&b);
	if (rc)
		goto out;
	rc = read_rows(b.st, &esc_item_record, out, max, n);
out:
	return rc;
}

/* The cached statement for one combination of orders_list filters. */
static int orders_list_stmt(struct sq *q, unsigned mask, sqlite3_stmt **out)
{
	char sql[ESC_SQL_SIZE];
	int src = SQLITE_OK;
	int rc = 0;

	if (!q->orders_list[mask]) {
		esc_orders_list_sql(mask, sql, sizeof sql);
		src = sqlite3_prepare_v3(q->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
					 &q->orders_list[mask], NULL);
		if (src != SQLITE_OK) {
			rc = map_rc(src);
			goto out;
		}
	}
	*out = q->orders_list[mask];
out:
	return rc;
}

static int sq_orders_list(struct esc_store *s, const struct esc_order_filter *f,
			  struct esc_order *out, size_t max, size_t *n, bool *has_more)
{
	struct bind b = {NULL, SQLITE_OK, false};
	struct esc_order_search search;
	int rc = 0;

	ESC_ASSERT(f, "orders_list without a filter");
	*n = 0;
	*has_more = false;
	rc = orders_list_stmt(sq_of(s), esc_order_filter_mask(f), &b.st);
	if (rc)
		goto out;
	if (esc_orders_list_bind(f, max, &search, &binder, &b))
		b.invalid = true;
	rc = bind_end(&b);
	if (!rc)
		rc = read_list(b.st, &esc_order_record, out, max, n, has_more);
out:
	return rc;
}

static int sq_orders_count(struct esc_store *s, const char *buyer_id, const char *seller_id,
			   int64_t counts[ESC_ST_COUNT])
{
	struct sq *q = sq_of(s);
	const char *party = buyer_id ? buyer_id : seller_id;
	struct bind b = bind_of(q, buyer_id    ? S_ORDERS_COUNT_BUYER
				   : seller_id ? S_ORDERS_COUNT_SELLER
					       : S_ORDERS_COUNT);
	sqlite3_stmt *st = b.st;
	int rc = 0;

	for (int i = 0; i < ESC_ST_COUNT; i++)
		counts[i] = 0;
	if (party)
		b_str(&b, 1, party);
	rc = bind_end(&b);
	for (; !rc;) {
		int state = 0;
		rc = next_row(st);
		if (rc <= 0)
			break;
		rc = col_enum(st, 0, &esc_enum_state, &state);
		if (rc)
			break;
		counts[state] = sqlite3_column_int64(st, 1);
	}
	finish(st);
	return rc;
}

/* ---- history: the lines the events carry (sq_outbox_append) ---- */

static int sq_history_list(struct esc_store *s, const char *order_id, int64_t after_version,
			   struct esc_history *out, size_t max, size_t *n)
{
	struct bind b = bind_of(sq_of(s), S_HISTORY_LIST);
	int rc = 0;

	*n = 0;
	b_str(&b, 1, order_id);
	b_i64(&b, 2, after_version);
	b_i64(&b, 3, limit_of(max));
	rc = bind_end(&b);
	if (rc)
		goto out;
	rc = read_rows(b.st, &esc_history_record, out, max, n);
out:
	return rc;
}

static int sq_history_scan(struct esc_store *s, int64_t after_seq, struct esc_history_row *out,
			   size_t max, size_t *n)
{
	struct bind b = bind_of(sq_of(s), S_HISTORY_SCAN);
	int rc = 0;

	*n = 0;
	b_i64(&b, 1, after_seq);
	b_i64(&b, 2, limit_of(max));
	rc = bind_end(&b);
	if (!rc)
		rc = read_rows(b.st, &esc_history_row_record, out, max, n);
	return rc;
}

/* ---- ledger ---- */

static int entry_insert(struct sq *q, enum stmt_id id, const struct esc_transfer *t,
			const char *account, int64_t amount, int64_t at_ms)
{
	struct bind b = bind_of(q, id);
	int rc = 0;

	B_FIELD(&b, 1, t->id);
	b_field(&b, 2, account, ESC_ACCOUNT_SIZE);
	b_i64(&b, 3, amount);
	B_FIELD(&b, 4, t->currency);
	B_FIELD(&b, 5, t->order_id);
	B_FIELD(&b, 6, t->kind);
	b_i64(&b, 7, at_ms);
	rc = bind_end(&b);
	if (!rc)
		rc = run(b.st);
	return rc;
}

static int balance_add(struct sq *q, const char *account, const char *currency, int64_t amount)
{
	struct bind b = bind_of(q, S_BALANCE_ADD);
	int rc = 0;

	b_field(&b, 1, account, ESC_ACCOUNT_SIZE);
	b_field(&b, 2, currency, ESC_CURRENCY_SIZE);
	b_i64(&b, 3, amount);
	rc = bind_end(&b);
	if (!rc)
		rc = run(b.st);
	return rc;
}

static int transfer_append(struct sq *q, const struct esc_transfer *t, int64_t at_ms)
{
	int rc = entry_insert(q, S_ENTRY_FIRST, t, t->from, -t->amount_minor, at_ms);

	/* Leg 0 exists already: this transfer was recorded before. */
	if (rc || sqlite3_changes(q->db) == 0)
		goto out;
	rc = entry_insert(q, S_ENTRY_SECOND, t, t->to, t->amount_minor, at_ms);
	if (!rc && esc_kept_account(t->from))
		rc = balance_add(q, t->from, t->currency, -t->amount_minor);
	if (!rc && esc_kept_account(t->to))
		rc = balance_add(q, t->to, t->currency, t->amount_minor);
out:
	return rc;
}

static int sq_transfers_append(struct esc_store *s, const struct esc_transfer *t, size_t n,
			       int64_t at_ms)
{
	struct sq *q = sq_of(s);
	bool owned = false;
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		if (t[i].amount_minor < 0 || !t[i].id[0]) {
			rc = ESC_EINVAL;
			goto out;
		}
	}
	rc = auto_begin(q, S_BEGIN, &owned);
	if (rc)
		goto out;
	for (size_t i = 0; !rc && i < n; i++)
		rc = transfer_append(q, &t[i], at_ms);
	rc = auto_end(q, owned, rc);
out:
	return rc;
}

static int sq_balance_get(struct esc_store *s, const char *account, const char *currency,
			  int64_t *out)
{
	struct bind b =
		bind_of(sq_of(s), esc_kept_account(account) ? S_BALANCE_KEPT : S_BALANCE_ENTRIES);
	int rc = 0;

	*out = 0;
	b_str(&b, 1, account);
	b_str(&b, 2, currency);
	rc = bind_end(&b);
	if (rc)
		goto out;
	rc = next_row(b.st);
	if (rc == 1) {
		*out = sqlite3_column_int64(b.st, 0);
		rc = 0;
	}
	finish(b.st);
out:
	return rc;
}

static int sq_balances_of(struct esc_store *s, const char *account, struct esc_balance *out,
			  size_t max, size_t *n)
{
	struct bind b = bind_of(sq_of(s), S_BALANCES_OF);
	int rc;

	*n = 0;
	b_str(&b, 1, account);
	b_i64(&b, 2, (int64_t)max);
	rc = bind_end(&b);
	while (!rc && *n < max && (rc = next_row(b.st)) == 1) {
		const unsigned char *c = sqlite3_column_text(b.st, 0);
		snprintf(out[*n].currency, sizeof out[*n].currency, "%s", c ? (const char *)c : "");
		out[(*n)++].amount_minor = sqlite3_column_int64(b.st, 1);
		rc = 0;
	}
	finish(b.st);
	return rc;
}

/* ---- refunds ---- */

static int sq_refund_insert(struct esc_store *s, const struct esc_refund *r)
{
	struct bind b = bind_of(sq_of(s), S_REFUND_INSERT);
	int rc = 0;

	B_RECORD(&b, &esc_refund_record, r);
	rc = bind_end(&b);
	if (!rc)
		rc = run(b.st);
	return rc;
}

static int sq_refund_update(struct esc_store *s, const struct esc_refund *r)
{
	struct sq *q = sq_of(s);
	struct bind b = bind_of(q, S_REFUND_UPDATE);
	int rc = 0;

	B_RECORD(&b, &esc_refund_record, r);
	rc = bind_end(&b);
	if (rc)
		goto out;
	rc = run(b.st);
	if (!rc && sqlite3_changes(q->db) == 0)
		rc = ESC_ENOTFOUND;
out:
	return rc;
}

static int sq_refund_get(struct esc_store *s, const char *id, struct esc_refund *out)
{
	struct bind b = bind_of(sq_of(s), S_REFUND_GET);
	int rc = 0;

	b_str(&b, 1, id);
	rc = bind_end(&b);
	if (rc)
		goto out;
	rc = next_row(b.st);
	if (rc == 1)
		rc = read_record(b.st, &esc_refund_record, out);
	else if (rc == 0)
		rc = ESC_ENOTFOUND;
	finish(b.st);
out:
	return rc;
}

static int sq_refunds_list(struct esc_store *s, const char *order_id, int status,
			   const char *after_id, struct esc_refund *out, size_t max, size_t *n)
{
	struct sq *q = sq_of(s);
	struct bind b = bind_of(q, order_id ? S_REFUNDS_BY_ORDER : S_REFUNDS_ALL);
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
	rc = bind_end(&b);
	if (rc)
		goto out;
	rc = read_rows(b.st, &esc_refund_record, out, max, n);
out:
	return rc;
}

static int sq_refunds_of(struct esc_store *s, const char *user_id, bool seller, int status,
			 const char *after_id, struct esc_refund *out, size_t max, size_t *n)
{
	struct bind b = bind_of(sq_of(s), seller ? S_REFUNDS_OF_SELLER : S_REFUNDS_OF_BUYER);
	int rc;

	*n = 0;
	b_str(&b, 1, user_id);
	if (status >= 0)
		b_enum(&b, 2, &esc_enum_refund_status, status);
	else
		b_str(&b, 2, NULL);
	b_i64(&b, 3, limit_of(max));
	b_str(&b, 4, after_id);
	rc = bind_end(&b);
	if (!rc)
		rc = read_rows(b.st, &esc_refund_record, out, max, n);
	return rc;
}

/* ---- deadlines ---- */

/* Setting a row that is there, or deleting one that is not, changes
 * nothing and succeeds: the queue holds facts, not requests. */
static int sq_deadline_apply(struct esc_store *s, const char *order_id,
			     const struct esc_deadline_op *op)
{
	struct bind b = bind_of(sq_of(s), op->set ? S_DEADLINE_INSERT : S_DEADLINE_DELETE);
	int rc = 0;

	b_i64(&b, 1, op->due_ms);
	b_str(&b, 2, order_id);
	b_enum(&b, 3, &esc_enum_deadline, (int)op->kind);
	B_FIELD(&b, 4, op->ref);
	rc = bind_end(&b);
	if (!rc)
		rc = run(b.st);
	return rc;
}

static int sq_deadlines_due(struct esc_store *s, int64_t now_ms, struct esc_deadline *out,
			    size_t max, size_t *n)
{
	struct bind b = bind_of(sq_of(s), S_DEADLINES_DUE);
	int rc = 0;

	*n = 0;
	b_i64(&b, 1, now_ms);
	b_i64(&b, 2, limit_of(max));
	rc = bind_end(&b);
	if (rc)
		goto out;
	rc = read_rows(b.st, &esc_deadline_record, out, max, n);
out:
	return rc;
}

/* SQLite runs one writer at a time, so the UPDATE alone hands each row to
 * one caller. The soonest max rows are those up to the max-th claimable
 * one, whose key bounds the UPDATE's range of the primary key: an UPDATE
 * of the rows IN a subquery of them looked each up by due_ms alone, and
 * read every row of that due time for each claim (1,000,000 deadlines
 * made at one time of a manual clock: each claim read all that were
 * left). */
static int sq_deadlines_claim(struct esc_store *s, int64_t now_ms, const char *owner,
			      int64_t real_ms, struct esc_deadline *out, size_t max, size_t *n)
{
	struct sq *q = sq_of(s);
	struct bind b = bind_of(q, S_DEADLINES_CLAIM_LAST);
	struct esc_deadline last;
	size_t found = 0;
	bool more = false;
	int rc = 0;

	*n = 0;
	if (!max)
		goto out;
	b_i64(&b, 1, now_ms);
	b_i64(&b, 2, limit_of(max - 1));
	b_str(&b, 3, owner);
	b_i64(&b, 4, real_ms);
	rc = bind_end(&b);
	if (!rc)
		rc = read_rows(b.st, &esc_deadline_record, &last, 1, &found);
	if (rc)
		goto out;
	if (found) {
		b = bind_of(q, S_DEADLINES_CLAIM_UPTO);
		b_i64(&b, 1, last.due_ms);
		b_str(&b, 2, last.order_id);
		b_enum(&b, 5, &esc_enum_deadline, (int)last.kind);
		B_FIELD(&b, 6, last.ref);
	} else {
		/* Fewer than max: all of them. */
		b = bind_of(q, S_DEADLINES_CLAIM_ALL);
		b_i64(&b, 1, now_ms);
	}
	b_str(&b, 3, owner);
	b_i64(&b, 4, real_ms);
	rc = bind_end(&b);
	if (rc)
		goto out;
	rc = read_list(b.st, &esc_deadline_record, out, max, n, &more);
	/* The same rows as the count found, in the same transaction: a row
	 * beyond max is a bug. */
	ESC_ASSERT(!more, "more claimed deadlines than the LIMIT");
	if (!rc)
		qsort(out, *n, sizeof *out, esc_deadline_cmp);
out:
	return rc;
}

static int sq_deadlines_release(struct esc_store *s, const char *owner)
{
	struct bind b = bind_of(sq_of(s), S_DEADLINES_RELEASE);
	int rc = 0;

	b_str(&b, 1, owner);
	rc = bind_end(&b);
	if (!rc)
		rc = run(b.st);
	return rc;
}

/* ---- deadline workers' leases ---- */

static int sq_process_beat(struct esc_store *s, const struct esc_process *p)
{
	struct bind b = bind_of(sq_of(s), S_PROCESS_BEAT);
	int rc = 0;

	B_FIELD(&b, 1, p->id);
	b_i64(&b, 2, p->started_ms);
	b_i64(&b, 3, p->heartbeat_ms);
	b_i64(&b, 4, p->lease_ms);
	rc = bind_end(&b);
	if (!rc)
		rc = run(b.st);
	return rc;
}

static int sq_process_end(struct esc_store *s, const char *id)
{
	struct bind b = bind_of(sq_of(s), S_PROCESS_END);
	int rc = 0;

	b_str(&b, 1, id);
	rc = bind_end(&b);
	if (!rc)
		rc = run(b.st);
	return rc;
}

static int sq_processes_purge(struct esc_store *s, int64_t real_ms)
{
	struct bind b = bind_of(sq_of(s), S_PROCESSES_PURGE);
	int rc = 0;

	b_i64(&b, 1, real_ms);
	rc = bind_end(&b);
	if (!rc)
		rc = run(b.st);
	return rc;
}

static int sq_process_get(struct esc_store *s, const char *id, struct esc_process *out)
{
	struct bind b = bind_of(sq_of(s), S_PROCESS_GET);
	int rc = 0;

	b_str(&b, 1, id);
	rc = bind_end(&b);
	if (rc)
		goto out;
	rc = next_row(b.st);
	if (rc == 1) {
		memset(out, 0, sizeof *out);
		snprintf(out->id, sizeof out->id, "%s", id);
		out->started_ms = sqlite3_column_int64(b.st, 0);
		out->heartbeat_ms = sqlite3_column_int64(b.st, 1);
		out->lease_ms = sqlite3_column_int64(b.st, 2);
		rc = 0;
	} else if (rc == 0) {
		rc = ESC_ENOTFOUND;
	}
	finish(b.st);
out:
	return rc;
}

/* ---- outbox, marks, meta ---- */

/* One row: the event, and the history line it carries, if any; and its
 * row of fanout_pending, in the same transaction. */
static int sq_outbox_append(struct esc_store *s, const struct esc_outbox_row *row)
{
	struct sq *q = sq_of(s);
	struct bind b = bind_of(q, S_OUTBOX_INSERT);
	const struct esc_history *h = row->history;
	bool owned = false;
	int rc = 0;

	if (h) {
		esc_outbox_history_assert(row);
		B_RECORD(&b, &esc_history_record, h);
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
	rc = auto_begin(q, S_BEGIN, &owned);
	if (!rc)
		rc = bind_end(&b);
	else
		finish(b.st);
	if (!rc)
		rc = run(b.st);
	if (!rc) {
		struct bind f = bind_of(q, S_FANOUT_PENDING_ADD);
		b_i64(&f, 1, sqlite3_last_insert_rowid(q->db));
		rc = bind_end(&f);
		if (!rc)
			rc = run(f.st);
	}
	return auto_end(q, owned, rc);
}

/* The single integer a statement without parameters returns. */
static int scalar(sqlite3_stmt *st, int64_t *out)
{
	int rc = next_row(st);

	*out = 0;
	if (rc == 1) {
		*out = sqlite3_column_int64(st, 0);
		rc = 0;
	} else if (rc == 0) {
		rc = ESC_EIO;
	}
	finish(st);
	return rc;
}

static int scalar_id(struct sq *q, enum stmt_id id, int64_t *out)
{
	int src = SQLITE_OK;
	sqlite3_stmt *st = stmt_of(q, id, &src);

	*out = 0;
	return st ? scalar(st, out) : map_rc(src);
}

static int sq_outbox_count(struct esc_store *s, int64_t *n)
{
	return scalar_id(sq_of(s), S_OUTBOX_COUNT, n);
}

static int sq_meta_get(struct esc_store *s, const char *key, int64_t *value);
static int sq_meta_set(struct esc_store *s, const char *key, int64_t value);

static int sq_events_list(struct esc_store *s, const struct esc_event_filter *f,
			  struct esc_outbox_row *out, char **payloads, size_t max, size_t *n)
{
	struct bind b = bind_of(sq_of(s), S_EVENTS_LIST);
	int rc = 0;

	int64_t purged = 0;

	*n = 0;
	/* Purged events stay as history lines: start after them. */
	rc = sq_meta_get(s, ESC_META_EVENTS_PURGED, &purged);
	if (rc && rc != ESC_ENOTFOUND)
		return rc;
	rc = 0;
	b_i64(&b, 1, f->after_seq > purged ? f->after_seq : purged);
	b_str(&b, 2, f->type);
	b_str(&b, 3, f->type_prefix);
	b_str(&b, 4, f->order_id);
	b_i64(&b, 5, limit_of(max));
	rc = bind_end(&b);
	if (rc)
		return rc;
	while (*n < max && (rc = next_row(b.st)) == 1) {
		struct esc_outbox_row *row = &out[*n];
		const char *text = (const char *)sqlite3_column_text(b.st, 5);
		memset(row, 0, sizeof *row);
		row->seq = sqlite3_column_int64(b.st, 0);
		row->at_ms = sqlite3_column_int64(b.st, 1);
		COL_FIELD(b.st, 2, row->type);
		COL_FIELD(b.st, 3, row->order_id);
		row->version = sqlite3_column_int64(b.st, 4);
		payloads[*n] = strdup(text ? text : "");
		if (!payloads[*n]) {
			rc = ESC_ENOMEM;
			break;
		}
		row->payload = payloads[(*n)++];
	}
	finish(b.st);
	return rc < 0 ? rc : 0;
}

/* The same mark for the same user, order and time is one fact: appending
 * it again changes nothing. A new one counts in its user's counters. */
static int sq_mark_append(struct esc_store *s, const char *user_id, enum esc_mark mark,
			  const char *order_id, int64_t at_ms, bool *added)
{
	struct sq *q = sq_of(s);
	struct bind b = bind_of(q, S_MARK_INSERT);
	bool add = false;
	int rc = 0;

	b_str(&b, 1, user_id);
	b_i64(&b, 2, at_ms);
	b_str(&b, 3, order_id ? order_id : "");
	b_enum(&b, 4, &esc_enum_mark, (int)mark);
	rc = bind_end(&b);
	if (!rc)
		rc = run(b.st);
	add = !rc && sqlite3_changes(q->db) > 0;
	if (add) {
		b = bind_of(q, S_REP_MARK);
		b_str(&b, 1, user_id);
		b_i64(&b, 2, (int64_t)mark);
		b_i64(&b, 3, at_ms);
		rc = bind_end(&b);
		if (!rc)
			rc = run(b.st);
	}
	if (added)
		*added = !rc && add;
	return rc;
}

struct tally_arg {
	struct sq *q;
	const char *user_id;
};

/* esc_rep_move's tally: the user's marks with after < at_ms <= upto. */
static int sq_tally(void *arg, int64_t after, int64_t upto, int32_t n[ESC_MARK_COUNT])
{
	struct tally_arg *t = arg;
	struct bind b = bind_of(t->q, S_MARKS_BETWEEN);
	int rc = 0;

	b_str(&b, 1, t->user_id);
	b_i64(&b, 2, after);
	b_i64(&b, 3, upto);
	rc = bind_end(&b);
	if (rc)
		return rc;
	for (;;) {
		int mark = 0;
		rc = next_row(b.st);
		if (rc <= 0)
			break;
		rc = col_enum(b.st, 0, &esc_enum_mark, &mark);
		if (rc)
			break;
		n[mark]++;
	}
	finish(b.st);
	return rc;
}

/* The user's counters (none: no marks), moved to the windows asked for;
 * kept so moved when this connection writes in a transaction. */
static int sq_mark_counts(struct esc_store *s, const char *user_id, int64_t short_since_ms,
			  int64_t long_since_ms, struct esc_rep_counts *out)
{
	struct sq *q = sq_of(s);
	struct bind b = bind_of(q, S_REP_GET);
	struct tally_arg t = {q, user_id};
	struct esc_rep_row r;
	bool changed = false;
	int rc = 0;

	memset(out, 0, sizeof *out);
	b_str(&b, 1, user_id);
	rc = bind_end(&b);
	if (rc)
		return rc;
	rc = next_row(b.st);
	if (rc > 0) {
		struct esc_row row = row_of(b.st);
		esc_rep_row_read(&row, &r);
	}
	finish(b.st);
	if (rc <= 0)
		return rc;
	rc = esc_rep_move(&r, short_since_ms, long_since_ms, sq_tally, &t, &changed);
	if (!rc && changed && q->in_tx && !q->read_only) {
		b = bind_of(q, S_REP_PUT);
		b_str(&b, 1, user_id);
		b_i64(&b, 2, r.short_since_ms);
		b_i64(&b, 3, r.long_since_ms);
		for (int m = 0; m < ESC_MARK_COUNT; m++) {
			b_i64(&b, 4 + m, r.counts.short_[m]);
			b_i64(&b, 4 + ESC_MARK_COUNT + m, r.counts.long_[m]);
		}
		rc = bind_end(&b);
		if (!rc)
			rc = run(b.st);
	}
	if (!rc)
		*out = r.counts;
	return rc;
}

static int sq_marks_tally(struct esc_store *s, const char *user_id, int64_t after_ms,
			  int64_t upto_ms, int32_t n[ESC_MARK_COUNT])
{
	struct tally_arg t = {sq_of(s), user_id};
	return sq_tally(&t, after_ms, upto_ms, n);
}

static int sq_marks_list(struct esc_store *s, const char *user_id, int64_t since_ms,
			 struct esc_mark_row *out, size_t max, size_t *n)
{
	struct bind b = bind_of(sq_of(s), S_MARKS_LIST);
	int rc = 0;

	*n = 0;
	b_str(&b, 1, user_id);
	b_i64(&b, 2, since_ms);
	b_i64(&b, 3, limit_of(max));
	rc = bind_end(&b);
	if (rc)
		goto out;
	rc = read_rows(b.st, &esc_mark_record, out, max, n);
out:
	return rc < 0 ? rc : 0;
}

static int sq_mark_oldest(struct esc_store *s, const char *user_id, enum esc_mark mark,
			  int64_t since_ms, int64_t *at_ms)
{
	struct bind b = bind_of(sq_of(s), S_MARK_OLDEST);
	int rc = 0;

	b_str(&b, 1, user_id);
	b_str(&b, 2, esc_mark_name(mark));
	b_i64(&b, 3, since_ms);
	rc = bind_end(&b);
	if (!rc)
		rc = scalar(b.st, at_ms);
	return rc;
}

/* Policy versions (issue 16). */

static int sq_policy_add(struct esc_store *s, const char *hash, const char *text,
			 int64_t created_at_ms, int64_t *version)
{
	struct bind b = bind_of(sq_of(s), S_POLICY_ADD);
	int rc = 0;

	b_str(&b, 1, hash);
	b_str(&b, 2, text);
	b_i64(&b, 3, created_at_ms);
	rc = bind_end(&b);
	if (!rc)
		rc = scalar(b.st, version);
	return rc;
}

static int sq_policy_find(struct esc_store *s, const char *hash, int64_t *version)
{
	struct bind b = bind_of(sq_of(s), S_POLICY_FIND);
	int rc = 0;

	b_str(&b, 1, hash);
	rc = bind_end(&b);
	if (!rc)
		rc = scalar(b.st, version);
	if (!rc && *version == 0)
		rc = ESC_ENOTFOUND;
	return rc;
}

static int sq_policies_list(struct esc_store *s, int64_t after_version, struct esc_policy_row *out,
			    size_t max, size_t *n)
{
	struct bind b = bind_of(sq_of(s), S_POLICIES_LIST);
	int rc = 0;

	*n = 0;
	b_i64(&b, 1, after_version);
	b_i64(&b, 2, limit_of(max));
	rc = bind_end(&b);
	if (rc)
		return rc;
	struct esc_row row = row_of(b.st);
	while (*n < max && (rc = next_row(b.st)) == 1) {
		rc = esc_policy_row_read(&row, &out[*n]);
		if (rc)
			break;
		(*n)++;
	}
	finish(b.st);
	return rc < 0 ? rc : 0;
}

static int sq_lift_insert(struct esc_store *s, const struct esc_lift *l)
{
	struct bind b = bind_of(sq_of(s), S_LIFT_INSERT);
	int rc = 0;

	B_RECORD(&b, &esc_lift_record, l);
	rc = bind_end(&b);
	if (!rc)
		rc = run(b.st);
	return rc;
}

static int sq_lifts_list(struct esc_store *s, const char *user_id, struct esc_lift *out, size_t max,
			 size_t *n)
{
	struct bind b = bind_of(sq_of(s), S_LIFTS_LIST);
	int rc = 0;

	*n = 0;
	b_str(&b, 1, user_id);
	b_i64(&b, 2, limit_of(max));
	rc = bind_end(&b);
	if (rc)
		goto out;
	rc = read_rows(b.st, &esc_lift_record, out, max, n);
out:
	return rc < 0 ? rc : 0;
}

static int sq_meta_get(struct esc_store *s, const char *key, int64_t *value)
{
	struct bind b = bind_of(sq_of(s), S_META_GET);
	int rc = 0;

	b_str(&b, 1, key);
	rc = bind_end(&b);
	if (rc)
		goto out;
	rc = next_row(b.st);
	if (rc == 1) {
		*value = sqlite3_column_int64(b.st, 0);
		rc = 0;
	} else if (rc == 0) {
		rc = ESC_ENOTFOUND;
	}
	finish(b.st);
out:
	return rc;
}

static int sq_meta_set(struct esc_store *s, const char *key, int64_t value)
{
	struct bind b = bind_of(sq_of(s), S_META_SET);
	int rc = 0;

	b_str(&b, 1, key);
	b_i64(&b, 2, value);
	rc = bind_end(&b);
	if (!rc)
		rc = run(b.st);
	return rc;
}

static int sq_rate_hit(struct esc_store *s, const char *key, int64_t window_start_ms, int64_t delta,
		       int64_t *count)
{
	struct bind b = bind_of(sq_of(s), S_RATE_HIT);
	int rc = 0;

	ESC_ASSERT(delta != 0, "rate_hit with no delta");
	*count = 0;
	b_str(&b, 1, key);
	b_i64(&b, 2, window_start_ms);
	b_i64(&b, 3, delta);
	rc = bind_end(&b);
	if (!rc)
		rc = scalar(b.st, count);
	return rc;
}

/* ---- sessions and API keys ---- */

static int sq_session_insert(struct esc_store *s, const struct esc_session *session)
{
	struct bind b = bind_of(sq_of(s), S_SESSION_INSERT);
	int rc = 0;

	B_RECORD(&b, &esc_session_record, session);
	rc = bind_end(&b);
	if (!rc)
		rc = run(b.st);
	return rc;
}

static int sq_session_get(struct esc_store *s, const char *token_hash, struct esc_session *out)
{
	struct bind b = bind_of(sq_of(s), S_SESSION_GET);
	int rc = 0;

	b_str(&b, 1, token_hash);
	rc = bind_end(&b);
	if (rc)
		goto out;
	rc = next_row(b.st);
	if (rc == 1)
		rc = read_record(b.st, &esc_session_record, out);
	else if (rc == 0)
		rc = ESC_ENOTFOUND;
	finish(b.st);
out:
	return rc;
}

/* Run a bound statement that writes at most one row: ESC_ENOTFOUND when
 * it wrote none. */
static int run_one(struct sq *q, sqlite3_stmt *st)
{
	int rc = run(st);

	if (!rc && sqlite3_changes(q->db) == 0)
		rc = ESC_ENOTFOUND;
	return rc;
}

static int sq_session_touch(struct esc_store *s, const char *token_hash, int64_t last_seen_ms)
{
	struct sq *q = sq_of(s);
	struct bind b = bind_of(q, S_SESSION_TOUCH);
	int rc = 0;

	b_str(&b, 1, token_hash);
	b_i64(&b, 2, last_seen_ms);
	rc = bind_end(&b);
	if (!rc)
		rc = run_one(q, b.st);
	return rc;
}

static int sq_session_delete(struct esc_store *s, const char *token_hash)
{
	struct sq *q = sq_of(s);
	struct bind b = bind_of(q, S_SESSION_DELETE);
	int rc = 0;

	b_str(&b, 1, token_hash);
	rc = bind_end(&b);
	if (!rc)
		rc = run_one(q, b.st);
	return rc;
}

static int sq_api_key_insert(struct esc_store *s, const struct esc_api_key *k)
{
	struct bind b = bind_of(sq_of(s), S_API_KEY_INSERT);
	int rc = 0;

	B_RECORD(&b, &esc_api_key_record, k);
	rc = bind_end(&b);
	if (!rc)
		rc = run(b.st);
	return rc;
}

static int sq_api_keys_list(struct esc_store *s, struct esc_api_key *out, size_t max, size_t *n)
{
	struct bind b = bind_of(sq_of(s), S_API_KEYS_LIST);
	int rc = 0;

	*n = 0;
	b_i64(&b, 1, limit_of(max));
	rc = bind_end(&b);
	if (!rc)
		rc = read_rows(b.st, &esc_api_key_record, out, max, n);
	return rc;
}

static int sq_api_key_get(struct esc_store *s, const char *id, struct esc_api_key *out)
{
	struct bind b = bind_of(sq_of(s), S_API_KEY_GET);
	int rc = 0;

	b_str(&b, 1, id);
	rc = bind_end(&b);
	if (rc)
		goto out;
	rc = next_row(b.st);
	if (rc == 1)
		rc = read_record(b.st, &esc_api_key_record, out);
	else if (rc == 0)
		rc = ESC_ENOTFOUND;
	finish(b.st);
out:
	return rc;
}

static int sq_api_key_revoke(struct esc_store *s, const char *id, int64_t at_ms)
{
	struct sq *q = sq_of(s);
	struct bind b = bind_of(q, S_API_KEY_REVOKE);
	int rc = 0;

	b_str(&b, 1, id);
	b_i64(&b, 2, at_ms);
	rc = bind_end(&b);
	if (!rc)
		rc = run_one(q, b.st);
	return rc;
}

static int sq_api_key_touch(struct esc_store *s, const char *key_hash, int64_t at_ms)
{
	struct bind b = bind_of(sq_of(s), S_API_KEY_TOUCH);
	int rc = 0;

	b_str(&b, 1, key_hash);
	b_i64(&b, 2, at_ms);
	b_i64(&b, 3, at_ms - 60 * 1000);
	rc = bind_end(&b);
	if (!rc)
		rc = run(b.st);
	return rc;
}

/* The version of the database a read connection reads now: PRAGMA
 * data_version, which changes whenever another connection (the writer,
 * another daemon) has committed since; a read connection commits
 * nothing itself. Run first in a lending, it begins the lending's read
 * transaction, so the reads after it see the version it says. 0 when it
 * cannot be had. */
static int64_t data_version(struct sq *q)
{
	int64_t v = 0;
	if (!q->data_version &&
	    sqlite3_prepare_v3(q->db, "PRAGMA data_version", -1, SQLITE_PREPARE_PERSISTENT,
			       &q->data_version, NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(q->data_version) == SQLITE_ROW)
		v = sqlite3_column_int64(q->data_version, 0);
	sqlite3_reset(q->data_version);
	return v > 0 ? v : 0;
}

/* The version of the callers' tables (users, sessions, api_keys) that a
 * read connection reads now: auth_version's one row, which the schema's
 * triggers raise in the transaction of every write to them, whoever
 * writes (this daemon, another, escrowd keys). Read again only when
 * data_version has moved: a commit of anything. The commits of commands
 * move data_version hundreds of times a second and auth_version hardly
 * ever, so a lookup under writes reads this one page where the caller's
 * statement read four to six (issue 15: sq_caller_get was 11 % of the
 * HTTP threads' CPU under POST /v1/orders). 0 when it cannot be had. */
static int64_t auth_version(struct sq *q)
{
	int64_t at = data_version(q), v = 0;

	if (!at)
		return 0;
	if (at == q->auth_read_at)
		return q->auth_read;
	if (!q->auth_version &&
	    sqlite3_prepare_v3(q->db, "SELECT version FROM auth_version WHERE id = 1", -1,
			       SQLITE_PREPARE_PERSISTENT, &q->auth_version, NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(q->auth_version) == SQLITE_ROW)
		v = sqlite3_column_int64(q->auth_version, 0);
	sqlite3_reset(q->auth_version);
	q->auth_read = v > 0 ? v : 0;
	q->auth_read_at = v > 0 ? at : 0;
	return q->auth_read;
}

/* The caller a read connection read for token_hash at this version of
 * the callers' tables, or NULL. The lookup reads no clock: at the same
 * version it answers the same, so a kept answer is exact, and a
 * sign-out, a session's touch, a key's revocation or touch or a user's
 * change, once committed, changes the version and is read anew. */
static struct caller_kept *caller_find(struct sq *q, const char *token_hash, int64_t version)
{
	for (unsigned i = 0; q->callers && version && i < CALLERS_KEPT; i++)
		if (q->callers[i].auth_version == version &&
		    !strcmp(q->callers[i].token_hash, token_hash))
			return &q->callers[i];
	return NULL;
}

static void caller_keep(struct sq *q, const char *token_hash, int64_t version, bool is_key,
			int64_t key_used_at_ms, const char *key_id,
			const struct esc_session *session, const struct esc_user *user)
{
	/* A key's id is kept only when the caller asked for it. */
	if (!version || strlen(token_hash) >= ESC_HASH_HEX_SIZE || (is_key && !key_id))
		return;
	if (!q->callers)
		q->callers = calloc(CALLERS_KEPT, sizeof *q->callers);
	if (!q->callers)
		return;
	struct caller_kept *k = &q->callers[q->callers_next++ % CALLERS_KEPT];
	k->auth_version = version;
	snprintf(k->token_hash, sizeof k->token_hash, "%s", token_hash);
	k->is_key = is_key;
	k->key_used_at_ms = key_used_at_ms;
	snprintf(k->key_id, sizeof k->key_id, "%s", key_id ? key_id : "");
	k->session = *session;
	k->user = *user;
}

static int sq_caller_get(struct esc_store *s, const char *token_hash, bool *is_key,
			 int64_t *key_used_at_ms, char *key_id, struct esc_session *session,
			 struct esc_user *user)
{
	struct sq *q = sq_of(s);
	struct bind b = bind_of(q, S_CALLER_GET);
	struct esc_row row;
	int64_t version = 0;
	int rc = 0;

	/* A read connection (the pool's: HTTP's lookups) keeps its last
	 * callers, ~10 % of a GET /v1/orders/{id} (issue 15). Not the
	 * writer: its own commits leave its data_version as it was. */
	if (q->read_only && !q->file_read_only)
		version = auth_version(q);
	const struct caller_kept *kept = caller_find(q, token_hash, version);
	if (kept) {
		*is_key = kept->is_key;
		*key_used_at_ms = kept->key_used_at_ms;
		if (key_id)
			snprintf(key_id, ESC_ID_SIZE, "%s", kept->key_id);
		*session = kept->session;
		*user = kept->user;
		return 0;
	}

	*is_key = false;
	*key_used_at_ms = -1;
	if (key_id)
		key_id[0] = '\0';
	memset(session, 0, sizeof *session);
	memset(user, 0, sizeof *user);
	b_str(&b, 1, token_hash);
	rc = bind_end(&b);
	if (rc)
		goto out;
	rc = next_row(b.st);
	if (rc == 1) {
		/* The key's last use (-1: no active key), the session's 5
		 * columns, the user's. */
		rc = 0;
		*key_used_at_ms = sqlite3_column_int64(b.st, 0);
		*is_key = *key_used_at_ms >= 0;
		if (key_id && *is_key)
			col_field(b.st, 15, key_id, ESC_ID_SIZE);
		row = row_of(b.st);
		row.index = 1;
		if (sqlite3_column_type(b.st, 1) != SQLITE_NULL)
			rc = esc_record_read(&esc_session_record, &row, session);
		row.index = 6;
		if (!rc && sqlite3_column_type(b.st, 6) != SQLITE_NULL)
			rc = esc_record_read(&esc_user_record, &row, user);
		if (!rc && !*is_key && !session->token_hash[0])
			rc = ESC_ENOTFOUND;
	} else if (rc == 0) {
		rc = ESC_EIO; /* the statement always answers one row */
	}
	finish(b.st);
	if (!rc)
		caller_keep(q, token_hash, version, *is_key, *key_used_at_ms, key_id, session,
			    user);
out:
	return rc;
}

static int sq_api_key_exists(struct esc_store *s, const char *key_hash)
{
	struct bind b = bind_of(sq_of(s), S_API_KEY_EXISTS);
	int rc = 0;

	b_str(&b, 1, key_hash);
	rc = bind_end(&b);
	if (rc)
		goto out;
	rc = next_row(b.st);
	if (rc == 1)
		rc = 0;
	else if (rc == 0)
		rc = ESC_ENOTFOUND;
	finish(b.st);
out:
	return rc;
}

static int sq_idempotency_put(struct esc_store *s, const struct esc_idempotency *rec)
{
	struct bind b = bind_of(sq_of(s), S_IDEM_PUT);
	int rc = 0;

	B_FIELD(&b, 1, rec->scope);
	B_FIELD(&b, 2, rec->key);
	B_FIELD(&b, 3, rec->request_hash);
	b_i64(&b, 4, rec->status);
	b_str(&b, 5, rec->response ? rec->response : "");
	b_i64(&b, 6, rec->created_at_ms);
	rc = bind_end(&b);
	if (!rc)
		rc = run(b.st);
	return rc;
}

static int sq_idempotency_answer(struct esc_store *s, const struct esc_idempotency *rec)
{
	struct sq *q = sq_of(s);
	struct bind b = bind_of(q, S_IDEM_ANSWER);
	int rc = 0;

	B_FIELD(&b, 1, rec->scope);
	B_FIELD(&b, 2, rec->key);
	b_i64(&b, 3, rec->status);
	b_str(&b, 4, rec->response ? rec->response : "");
	rc = bind_end(&b);
	if (!rc)
		rc = run_one(q, b.st);
	return rc;
}

static int sq_idempotency_get(struct esc_store *s, const char *scope, const char *key,
			      struct esc_idempotency *out)
{
	struct bind b = bind_of(sq_of(s), S_IDEM_GET);
	int rc = 0;

	b_str(&b, 1, scope);
	b_str(&b, 2, key);
	rc = bind_end(&b);
	if (rc)
		goto out;
	rc = next_row(b.st);
	if (rc == 1) {
		memset(out, 0, sizeof *out);
		snprintf(out->scope, sizeof out->scope, "%s", scope);
		snprintf(out->key, sizeof out->key, "%s", key);
		COL_FIELD(b.st, 0, out->request_hash);
		out->status = sqlite3_column_int(b.st, 1);
		const char *text = (const char *)sqlite3_column_text(b.st, 2);
		out->response = strdup(text ? text : "");
		out->created_at_ms = sqlite3_column_int64(b.st, 3);
		rc = out->response ? 0 : ESC_ENOMEM;
	} else if (rc == 0) {
		rc = ESC_ENOTFOUND;
	}
	finish(b.st);
out:
	return rc;
}

static int sq_idempotency_purge(struct esc_store *s, int64_t before_ms)
{
	struct bind b = bind_of(sq_of(s), S_IDEM_PURGE);
	int rc = 0;

	b_i64(&b, 1, before_ms);
	rc = bind_end(&b);
	if (!rc)
		rc = run(b.st);
	return rc;
}

/* The next number of an order's messages or files: what statement id
 * (SELECT COALESCE(MAX(seq), 0) + 1 ... WHERE order_id = ?1) answers. */
static int next_seq(struct sq *q, enum stmt_id id, const char *order_id, int64_t *seq)
{
	struct bind b = bind_of(q, id);
	int rc = 0;

	b_str(&b, 1, order_id);
	rc = bind_end(&b);
	if (rc)
		return rc;
	rc = next_row(b.st);
	if (rc == 1) {
		*seq = sqlite3_column_int64(b.st, 0);
		rc = 0;
	} else if (rc == 0) {
		rc = ESC_EIO;
	}
	finish(b.st);
	return rc;
}

static int sq_message_append(struct esc_store *s, struct esc_message *m)
{
	struct sq *q = sq_of(s);
	int rc = next_seq(q, S_MESSAGE_NEXT, m->order_id, &m->seq);
	if (rc)
		goto out;
	struct bind ins = bind_of(q, S_MESSAGE_INSERT);
	B_RECORD(&ins, &esc_message_record, m);
	rc = bind_end(&ins);
	if (!rc)
		rc = run(ins.st);
out:
	return rc;
}

static int sq_messages_list(struct esc_store *s, const char *order_id, int64_t after_seq,
			    struct esc_message *out, size_t max, size_t *n)
{
	struct bind b = bind_of(sq_of(s), S_MESSAGES_LIST);
	int rc = 0;

	*n = 0;
	b_str(&b, 1, order_id);
	b_i64(&b, 2, after_seq);
	b_i64(&b, 3, (int64_t)max);
	rc = bind_end(&b);
	if (rc)
		goto out;
	rc = read_rows(b.st, &esc_message_record, out, max, n);
out:
	return rc < 0 ? rc : 0;
}

/* ---- read markers and notifications (issue 17) ---- */

static int sq_message_read(struct esc_store *s, const char *order_id, const char *user_id,
			   int64_t seq)
{
	struct bind b = bind_of(sq_of(s), S_MESSAGE_READ);
	int rc = 0;

	b_str(&b, 1, order_id);
	b_str(&b, 2, user_id);
	b_i64(&b, 3, seq);
	rc = bind_end(&b);
	if (!rc)
		rc = run(b.st);
	return rc;
}

static int sq_messages_unread(struct esc_store *s, const char *user_id, const char *order_id,
			      int64_t *n)
{
	struct sq *q = sq_of(s);
	struct bind b = bind_of(q, order_id ? S_MESSAGES_UNREAD_ORDER : S_MESSAGES_UNREAD_ALL);
	int rc = 0;

	*n = 0;
	b_str(&b, 1, user_id);
	if (order_id)
		b_str(&b, 2, order_id);
	rc = bind_end(&b);
	if (!rc)
		rc = scalar(b.st, n);
	return rc;
}

static int sq_conversations_list(struct esc_store *s, const char *user_id,
				 const char *starting_after, struct esc_conversation *out,
				 size_t max, size_t *n)
{
	struct bind b = bind_of(sq_of(s), S_CONVERSATIONS_LIST);
	int rc = 0;

	*n = 0;
	b_str(&b, 1, user_id);
	b_str(&b, 2, starting_after);
	b_i64(&b, 3, limit_of(max));
	rc = bind_end(&b);
	if (rc)
		goto out;
	rc = read_rows(b.st, &esc_conversation_record, out, max, n);
out:
	return rc < 0 ? rc : 0;
}

static int sq_notifications_list(struct esc_store *s, const char *user_id,
				 const struct esc_notification_mark *before,
				 struct esc_history_row *out, size_t max, size_t *n)
{
	struct bind b = bind_of(sq_of(s), S_NOTIFICATIONS_LIST);
	int rc = 0;

	*n = 0;
	b_str(&b, 1, user_id);
	b_i64(&b, 2, before->at_ms);
	b_i64(&b, 3, before->seq);
	b_i64(&b, 4, limit_of(max));
	rc = bind_end(&b);
	if (rc)
		goto out;
	rc = read_rows(b.st, &esc_history_row_record, out, max, n);
out:
	return rc < 0 ? rc : 0;
}

static int sq_notifications_unread(struct esc_store *s, const char *user_id,
				   const struct esc_notification_mark *after, int64_t *n)
{
	struct bind b = bind_of(sq_of(s), S_NOTIFICATIONS_UNREAD);
	int rc = 0;

	*n = 0;
	b_str(&b, 1, user_id);
	b_i64(&b, 2, after->at_ms);
	b_i64(&b, 3, after->seq);
	rc = bind_end(&b);
	if (!rc)
		rc = scalar(b.st, n);
	return rc;
}

static int sq_notification_mark(struct esc_store *s, const char *user_id,
				struct esc_notification_mark *out)
{
	struct bind b = bind_of(sq_of(s), S_NOTIFICATION_MARK);
	int rc = 0;

	out->at_ms = out->seq = 0;
	b_str(&b, 1, user_id);
	rc = bind_end(&b);
	if (rc)
		return rc;
	rc = next_row(b.st);
	if (rc == 1) {
		out->at_ms = sqlite3_column_int64(b.st, 0);
		out->seq = sqlite3_column_int64(b.st, 1);
		rc = 0;
	}
	finish(b.st);
	return rc < 0 ? rc : 0;
}

static int sq_notification_read(struct esc_store *s, const char *user_id,
				const struct esc_notification_mark *m)
{
	struct bind b = bind_of(sq_of(s), S_NOTIFICATION_READ);
	int rc = 0;

	b_str(&b, 1, user_id);
	b_i64(&b, 2, m->at_ms);
	b_i64(&b, 3, m->seq);
	rc = bind_end(&b);
	if (!rc)
		rc = run(b.st);
	return rc;
}

static int sq_evidence_append(struct esc_store *s, struct esc_evidence *ev, const void *data)
{
	struct sq *q = sq_of(s);
	int rc = next_seq(q, S_EVIDENCE_NEXT, ev->order_id, &ev->seq);
	if (rc)
		goto out;
	struct bind ins = bind_of(q, S_EVIDENCE_INSERT);
	B_RECORD(&ins, &esc_evidence_record, ev);
	if (ins.src == SQLITE_OK)
		ins.src = sqlite3_bind_blob64(ins.st, 10, data, (sqlite3_uint64)ev->size,
					      SQLITE_STATIC);
	rc = bind_end(&ins);
	if (!rc)
		rc = run(ins.st);
out:
	return rc;
}

/* Columns as ESC_EVIDENCE_COLUMNS lists them. */
static int sq_evidence_list(struct esc_store *s, const char *order_id, struct esc_evidence *out,
			    size_t max, size_t *n)
{
	struct bind b = bind_of(sq_of(s), S_EVIDENCE_LIST);
	int rc = 0;

	*n = 0;
	b_str(&b, 1, order_id);
	b_i64(&b, 2, limit_of(max));
	rc = bind_end(&b);
	if (rc)
		goto out;
	rc = read_rows(b.st, &esc_evidence_record, out, max, n);
out:
	return rc < 0 ? rc : 0;
}

static int sq_evidence_get(struct esc_store *s, const char *order_id, int64_t seq,
			   struct esc_evidence *out, void **data)
{
	struct bind b = bind_of(sq_of(s), S_EVIDENCE_GET);
	int rc = 0;

	*data = NULL;
	b_str(&b, 1, order_id);
	b_i64(&b, 2, seq);
	rc = bind_end(&b);
	if (rc)
		goto out;
	rc = next_row(b.st);
	if (rc == 1) {
		rc = read_record(b.st, &esc_evidence_record, out);
		int len = sqlite3_column_bytes(b.st, 9);
		const void *blob = sqlite3_column_blob(b.st, 9);
		if (!rc && (len < 0 || (int64_t)len != out->size))
			rc = ESC_EIO;
		if (!rc) {
			*data = malloc(len ? (size_t)len : 1);
			if (!*data)
				rc = ESC_ENOMEM;
			else if (len)
				memcpy(*data, blob, (size_t)len);
		}
	} else if (rc == 0) {
		rc = ESC_ENOTFOUND;
	}
	finish(b.st);
out:
	return rc;
}

/* ---- webhook endpoints ---- */

static int sq_webhook_endpoint_insert(struct esc_store *s, const struct esc_webhook_endpoint *w)
{
	struct bind b = bind_of(sq_of(s), S_WEBHOOK_ENDPOINT_INSERT);
	int rc = 0;

	B_RECORD(&b, &esc_webhook_endpoint_record, w);
	rc = bind_end(&b);
	if (!rc)
		rc = run(b.st);
	return rc;
}

static int sq_webhook_endpoint_get(struct esc_store *s, const char *id,
				   struct esc_webhook_endpoint *out)
{
	struct bind b = bind_of(sq_of(s), S_WEBHOOK_ENDPOINT_GET);
	int rc = 0;

	b_str(&b, 1, id);
	rc = bind_end(&b);
	if (rc)
		goto out;
	rc = next_row(b.st);
	if (rc == 1)
		rc = read_record(b.st, &esc_webhook_endpoint_record, out);
	else if (rc == 0)
		rc = ESC_ENOTFOUND;
	finish(b.st);
out:
	return rc;
}

static int sq_webhook_endpoint_update(struct esc_store *s, const struct esc_webhook_endpoint *w)
{
	const struct esc_record *r = &esc_webhook_endpoint_record;
	struct sq *q = sq_of(s);
	struct bind b = bind_of(q, S_WEBHOOK_ENDPOINT_UPDATE);
	int rc = 0;

	b_cols(&b, r, 0, 1, w, 1);
	b_cols(&b, r, ESC_WEBHOOK_ENDPOINT_KEYS, r->count - ESC_WEBHOOK_ENDPOINT_KEYS, w, 2);
	rc = bind_end(&b);
	if (!rc)
		rc = run_one(q, b.st);
	return rc;
}

static int sq_webhook_endpoints_count(struct esc_store *s, int64_t *n)
{
	return scalar_id(sq_of(s), S_WEBHOOK_ENDPOINTS_COUNT, n);
}

static int sq_webhook_endpoint_delete(struct esc_store *s, const char *id)
{
	struct sq *q = sq_of(s);
	struct bind b = bind_of(q, S_WEBHOOK_ENDPOINT_DELETE);
	int rc = 0;

	b_str(&b, 1, id);
	rc = bind_end(&b);
	if (!rc)
		rc = run_one(q, b.st);
	return rc;
}

static int sq_webhook_endpoints_list(struct esc_store *s, const char *starting_after,
				     struct esc_webhook_endpoint *out, size_t max, size_t *n,
				     bool *has_more)
{
	struct bind b = bind_of(sq_of(s), S_WEBHOOK_ENDPOINTS_LIST);
	int rc = 0;

	*n = 0;
	*has_more = false;
	b_str(&b, 1, starting_after);
	/* One more than asked tells whether more follow. */
	b_i64(&b, 2, limit_of(max) < INT64_MAX ? limit_of(max) + 1 : INT64_MAX);
	rc = bind_end(&b);
	if (!rc)
		rc = read_list(b.st, &esc_webhook_endpoint_record, out, max, n, has_more);
	return rc;
}

/* ---- webhook deliveries ---- */

/* An event fanout reads, and an endpoint it matches against. */
struct fan_event {
	int64_t seq, at_ms;
	char type[48];
	char order_id[ESC_ID_SIZE];
};
struct fan_endpoint {
	char id[ESC_ID_SIZE];
	char events[ESC_WEBHOOK_EVENTS_SIZE];
};

#define FANOUT_ENDPOINTS_MAX ESC_WEBHOOK_ENDPOINTS_MAX

static int fan_events(struct sq *q, size_t max, struct fan_event *out, size_t *n)
{
	struct bind b = bind_of(q, S_FANOUT_EVENTS);
	int rc = 0;

	*n = 0;
	b_i64(&b, 1, limit_of(max));
	rc = bind_end(&b);
	while (!rc && *n < max && (rc = next_row(b.st)) == 1) {
		out[*n].seq = sqlite3_column_int64(b.st, 0);
		COL_FIELD(b.st, 1, out[*n].type);
		COL_FIELD(b.st, 2, out[*n].order_id);
		out[*n].at_ms = sqlite3_column_int64(b.st, 3);
		(*n)++;
		rc = 0;
	}
	if (rc == 1)
		rc = 0;
	finish(b.st);
	return rc;
}

static int fan_endpoints(struct sq *q, struct fan_endpoint *out, size_t max, size_t *n)
{
	struct bind b = bind_of(q, S_FANOUT_ENDPOINTS);
	int rc = 0;

	*n = 0;
	b_i64(&b, 1, limit_of(max));
	rc = bind_end(&b);
	while (!rc && *n < max && (rc = next_row(b.st)) == 1) {
		COL_FIELD(b.st, 0, out[*n].id);
		COL_FIELD(b.st, 1, out[*n].events);
		(*n)++;
		rc = 0;
	}
	if (rc == 1)
		rc = 0;
	finish(b.st);
	return rc;
}

/* One event's deliveries, then its mark. */
static int fan_one(struct sq *q, const struct fan_event *ev, const struct fan_endpoint *eps,
		   size_t eps_n, int64_t now_ms, size_t *made)
{
	int rc = 0;

	for (size_t i = 0; !rc && i < eps_n; i++) {
		struct bind b = bind_of(q, S_FANOUT_INSERT);
		char id[ESC_ID_SIZE];
		if (!esc_webhook_events_match(eps[i].events, ev->type))
			continue;
		esc_id_new(id, "whd_", now_ms);
		b_str(&b, 1, id);
		b_i64(&b, 2, ev->seq);
		B_FIELD(&b, 3, eps[i].id);
		B_FIELD(&b, 4, ev->order_id);
		b_i64(&b, 5, now_ms);
		rc = bind_end(&b);
		if (!rc)
			rc = run(b.st);
		if (!rc)
			*made += (size_t)sqlite3_changes(q->db);
	}
	if (!rc) {
		struct bind b = bind_of(q, S_FANOUT_DONE);
		b_i64(&b, 1, ev->seq);
		rc = bind_end(&b);
		if (!rc)
			rc = run(b.st);
	}
	return rc;
}

static int sq_webhook_fanout(struct esc_store *s, int64_t now_ms, size_t max, size_t *events,
			     size_t *made)
{
	struct sq *q = sq_of(s);
	struct fan_event *evs = calloc(max ? max : 1, sizeof *evs);
	struct fan_endpoint *eps = NULL; /* large: made once there is an event */
	size_t eps_n = 0;
	bool owned = false;
	int rc = evs ? 0 : ESC_ENOMEM;

	*events = *made = 0;
	if (!rc)
		rc = auto_begin(q, S_BEGIN, &owned);
	if (!rc)
		rc = fan_events(q, max, evs, events);
	if (!rc && *events) {
		eps = calloc(FANOUT_ENDPOINTS_MAX, sizeof *eps);
		rc = eps ? fan_endpoints(q, eps, FANOUT_ENDPOINTS_MAX, &eps_n) : ESC_ENOMEM;
	}
	for (size_t i = 0; !rc && i < *events; i++)
		rc = fan_one(q, &evs[i], eps, eps_n, now_ms, made);
	rc = auto_end(q, owned, rc);
	if (rc)
		*events = *made = 0;
	free(evs);
	free(eps);
	return rc;
}

/* SQLite runs one writer at a time, so the UPDATE alone hands each row to
 * one caller. */
static int sq_webhook_deliveries_claim(struct esc_store *s, int64_t now_ms, const char *owner,
				       int64_t real_ms, int64_t until_real_ms,
				       struct esc_webhook_delivery *out, size_t max, size_t *n)
{
	struct bind b = bind_of(sq_of(s), S_DELIVERIES_CLAIM);
	bool more = false;
	int rc = 0;

	*n = 0;
	b_i64(&b, 1, now_ms);
	b_i64(&b, 2, limit_of(max));
	b_str(&b, 3, owner);
	b_i64(&b, 4, real_ms);
	b_i64(&b, 5, until_real_ms);
	rc = bind_end(&b);
	if (rc)
		goto out;
	rc = read_list(b.st, &esc_webhook_delivery_record, out, max, n, &more);
	ESC_ASSERT(!more, "more claimed deliveries than the LIMIT");
	if (!rc)
		qsort(out, *n, sizeof *out, esc_delivery_cmp);
out:
	return rc;
}

static int finish_body(struct sq *q, const char *owner, const struct esc_webhook_delivery *d,
		       const struct esc_webhook_attempt *a)
{
	struct bind b = bind_of(q, S_DELIVERY_FINISH);
	bool delivered = !strcmp(d->status, ESC_WD_DELIVERED);
	int rc = 0;

	B_FIELD(&b, 1, d->id);
	b_str(&b, 2, owner);
	B_FIELD(&b, 3, d->status);
	b_i64(&b, 4, d->next_at_ms);
	b_i64(&b, 5, d->attempts);
	b_i64(&b, 6, d->last_attempt_at_ms);
	b_i64(&b, 7, d->last_status_code);
	b_i64(&b, 8, d->delivered_at_ms);
	rc = bind_end(&b);
	if (!rc)
		rc = run_one(q, b.st);
	if (rc == ESC_ENOTFOUND)
		rc = ESC_ECONFLICT;
	if (!rc) {
		struct bind ba = bind_of(q, S_ATTEMPT_INSERT);
		B_RECORD(&ba, &esc_webhook_attempt_record, a);
		rc = bind_end(&ba);
		if (!rc)
			rc = run(ba.st);
	}
	if (!rc) {
		struct bind be = bind_of(q, S_ENDPOINT_FAILING);
		B_FIELD(&be, 1, d->endpoint_id);
		b_i64(&be, 2, delivered ? 0 : a->at_ms);
		rc = bind_end(&be);
		if (!rc)
			rc = run(be.st);
	}
	return rc;
}

static int sq_webhook_delivery_finish(struct esc_store *s, const char *owner,
				      const struct esc_webhook_delivery *d,
				      const struct esc_webhook_attempt *a)
{
	struct sq *q = sq_of(s);
	bool owned = false;
	int rc = auto_begin(q, S_BEGIN, &owned);

	if (!rc)
		rc = finish_body(q, owner, d, a);
	return auto_end(q, owned, rc);
}

static int sq_webhook_deliveries_release(struct esc_store *s, const char *owner)
{
	struct bind b = bind_of(sq_of(s), S_DELIVERIES_RELEASE);
	int rc = 0;

	b_str(&b, 1, owner);
	rc = bind_end(&b);
	if (!rc)
		rc = run(b.st);
	return rc;
}

static int sq_webhook_event_get(struct esc_store *s, int64_t seq, struct esc_outbox_row *out,
				char **payload)
{
	struct bind b = bind_of(sq_of(s), S_EVENT_GET);
	int rc = 0;

	*payload = NULL;
	memset(out, 0, sizeof *out);
	b_i64(&b, 1, seq);
	rc = bind_end(&b);
	if (rc)
		return rc;
	rc = next_row(b.st);
	if (rc == 1) {
		const char *text = (const char *)sqlite3_column_text(b.st, 5);
		out->seq = sqlite3_column_int64(b.st, 0);
		out->at_ms = sqlite3_column_int64(b.st, 1);
		COL_FIELD(b.st, 2, out->type);
		COL_FIELD(b.st, 3, out->order_id);
		out->version = sqlite3_column_int64(b.st, 4);
		*payload = strdup(text ? text : "{}");
		rc = *payload ? 0 : ESC_ENOMEM;
		out->payload = *payload;
	} else if (rc == 0) {
		rc = ESC_ENOTFOUND;
	}
	finish(b.st);
	return rc;
}

static int sq_webhook_endpoints_failing(struct esc_store *s, int64_t before_ms,
					struct esc_webhook_endpoint *out, size_t max, size_t *n)
{
	struct bind b = bind_of(sq_of(s), S_ENDPOINTS_FAILING);
	int rc = 0;

	*n = 0;
	b_i64(&b, 1, before_ms);
	b_i64(&b, 2, limit_of(max));
	rc = bind_end(&b);
	if (!rc)
		rc = read_rows(b.st, &esc_webhook_endpoint_record, out, max, n);
	return rc;
}

/* The purge's range (*from, *to]: the events after the cursor, in seq
 * order, up to the first not older than before_ms, never the newest
 * row; *events counts those not purged yet. */
static int purge_range(struct esc_store *s, int64_t before_ms, size_t max, int64_t *from,
		       int64_t *to, size_t *events)
{
	struct sq *q = sq_of(s);
	struct bind b = bind_of(q, S_PURGE_WINDOW);
	int64_t last = 0;
	int rc = sq_meta_get(s, ESC_META_EVENTS_PURGED, from);

	if (rc == ESC_ENOTFOUND)
		*from = 0;
	else if (rc)
		return rc;
	*to = *from;
	*events = 0;
	rc = scalar_id(q, S_PURGE_LAST, &last);
	if (rc)
		return rc;
	b_i64(&b, 1, *from);
	b_i64(&b, 2, limit_of(max));
	rc = bind_end(&b);
	if (rc)
		return rc;
	while ((rc = next_row(b.st)) == 1) {
		int64_t seq = sqlite3_column_int64(b.st, 0);
		if (sqlite3_column_int64(b.st, 1) >= before_ms || seq >= last)
			break;
		*to = seq;
		*events += (size_t)sqlite3_column_int64(b.st, 2);
	}
	finish(b.st);
	return rc < 0 ? rc : 0;
}

static int sq_webhook_purge(struct esc_store *s, int64_t before_ms, size_t max, size_t *purged)
{
	static const enum stmt_id steps[] = {S_PURGE_ATTEMPTS, S_PURGE_DELIVERIES, S_PURGE_EVENTS,
					     S_PURGE_PAYLOADS, S_PURGE_PENDING};
	struct sq *q = sq_of(s);
	bool owned = false;
	int64_t from = 0, to = 0;
	size_t events = 0;
	int rc = auto_begin(q, S_BEGIN, &owned);

	*purged = 0;
	if (!rc)
		rc = purge_range(s, before_ms, max, &from, &to, &events);
	for (size_t i = 0; !rc && to > from && i < sizeof steps / sizeof steps[0]; i++) {
		struct bind b = bind_of(q, steps[i]);
		b_i64(&b, 1, from);
		b_i64(&b, 2, to);
		rc = bind_end(&b);
		if (!rc)
			rc = run(b.st);
	}
	if (!rc && to > from)
		rc = sq_meta_set(s, ESC_META_EVENTS_PURGED, to);
	rc = auto_end(q, owned, rc);
	if (!rc)
		*purged = events;
	return rc;
}

static int sq_webhook_stats(struct esc_store *s, struct esc_webhook_stats *out)
{
	int src = SQLITE_OK;
	sqlite3_stmt *st = stmt_of(sq_of(s), S_WEBHOOK_STATS, &src);
	int rc = 0;

	memset(out, 0, sizeof *out);
	if (!st)
		return map_rc(src);
	rc = next_row(st);
	if (rc == 1) {
		int64_t fan = sqlite3_column_int64(st, 0), pending = sqlite3_column_int64(st, 1);
		out->oldest_undelivered_ms = !fan                        ? pending
					     : !pending || fan < pending ? fan
									 : pending;
		out->endpoints_disabled = sqlite3_column_int64(st, 2);
		out->deliveries_pending = sqlite3_column_int64(st, 3);
		rc = 0;
	} else if (rc == 0) {
		rc = ESC_EIO;
	}
	finish(st);
	return rc;
}

/* ---- webhook deliveries as the operator sees them ---- */

/* Deliveries with their event's type (the column after the record's)
 * into out, at most max: *n of them; *more (when not NULL) whether
 * another row follows. Readies the statement again. */
static int read_deliveries(sqlite3_stmt *st, struct esc_webhook_delivery_seen *out, size_t max,
			   size_t *n, bool *more)
{
	const struct esc_record *r = &esc_webhook_delivery_record;
	struct esc_row row = row_of(st);
	int rc = 0;

	*n = 0;
	for (;;) {
		rc = next_row(st);
		if (rc <= 0)
			break;
		if (*n == max) {
			if (more)
				*more = true;
			rc = 0;
			break;
		}
		rc = esc_record_read(r, &row, &out[*n].d);
		if (rc)
			break;
		COL_FIELD(st, r->count, out[*n].event_type);
		(*n)++;
	}
	finish(st);
	return rc;
}

static int sq_webhook_deliveries_list(struct esc_store *s,
				      const struct esc_webhook_delivery_filter *f,
				      struct esc_webhook_delivery_seen *out, size_t max, size_t *n,
				      bool *has_more)
{
	struct sq *q = sq_of(s);
	enum stmt_id id = f->event_seq >= 0 ? S_WEBHOOK_DELIVERIES_BY_EVENT
			  : f->endpoint_id  ? S_WEBHOOK_DELIVERIES_BY_ENDPOINT
					    : S_WEBHOOK_DELIVERIES_LIST;
	struct bind b = bind_of(q, id);
	int rc = 0;

	*n = 0;
	*has_more = false;
	b_str(&b, 1, f->endpoint_id);
	b_i64(&b, 2, f->event_seq);
	b_str(&b, 3, f->status);
	b_str(&b, 4, f->starting_after);
	/* One more than asked tells whether more follow. */
	b_i64(&b, 5, limit_of(max) < INT64_MAX ? limit_of(max) + 1 : INT64_MAX);
	rc = bind_end(&b);
	if (!rc)
		rc = read_deliveries(b.st, out, max, n, has_more);
	return rc;
}

static int sq_webhook_delivery_get(struct esc_store *s, const char *id,
				   struct esc_webhook_delivery_seen *out)
{
	struct bind b = bind_of(sq_of(s), S_WEBHOOK_DELIVERY_GET);
	size_t n = 0;
	int rc = 0;

	b_str(&b, 1, id);
	rc = bind_end(&b);
	if (!rc)
		rc = read_deliveries(b.st, out, 1, &n, NULL);
	if (!rc && n == 0)
		rc = ESC_ENOTFOUND;
	return rc;
}

static int sq_webhook_attempts_list(struct esc_store *s, const char *delivery_id, int64_t after_n,
				    struct esc_webhook_attempt *out, size_t max, size_t *n)
{
	struct bind b = bind_of(sq_of(s), S_WEBHOOK_ATTEMPTS_LIST);
	int rc = 0;

	*n = 0;
	b_str(&b, 1, delivery_id);
	b_i64(&b, 2, after_n);
	b_i64(&b, 3, limit_of(max));
	rc = bind_end(&b);
	if (!rc)
		rc = read_rows(b.st, &esc_webhook_attempt_record, out, max, n);
	return rc;
}

static int sq_webhook_delivery_retry_now(struct esc_store *s, const char *id, int64_t now_ms)
{
	struct sq *q = sq_of(s);
	struct bind b = bind_of(q, S_WEBHOOK_DELIVERY_RETRY_NOW);
	int rc = 0;

	b_str(&b, 1, id);
	b_i64(&b, 2, now_ms);
	rc = bind_end(&b);
	if (!rc)
		rc = run_one(q, b.st);
	return rc;
}

static int sq_refunds_count(struct esc_store *s, enum esc_refund_status status, int64_t *n)
{
	struct bind b = bind_of(sq_of(s), S_REFUNDS_COUNT);
	int rc = 0;

	b_str(&b, 1, esc_refund_status_name(status));
	rc = bind_end(&b);
	if (!rc)
		rc = scalar(b.st, n);
	return rc;
}

static int sq_refunds_overdue(struct esc_store *s, int64_t now_ms, int64_t *n)
{
	struct bind b = bind_of(sq_of(s), S_REFUNDS_OVERDUE);
	int rc = 0;

	b_str(&b, 1, esc_refund_status_name(ESC_REFUND_PENDING));
	b_i64(&b, 2, now_ms);
	rc = bind_end(&b);
	if (!rc)
		rc = scalar(b.st, n);
	return rc;
}

static int sq_deadline_soonest(struct esc_store *s, int64_t *due_ms)
{
	return scalar_id(sq_of(s), S_DEADLINE_SOONEST, due_ms);
}

static int sq_api_keys_count(struct esc_store *s, int64_t *n)
{
	return scalar_id(sq_of(s), S_API_KEYS_COUNT, n);
}

/* ---- ledger_check ---- */

/* Run check which; each row it returns is a problem. */
static int check(struct sq *q, enum esc_check which, struct esc_ledger_report *r)
{
	int src = SQLITE_OK;
	sqlite3_stmt *st = stmt_of(q, (enum stmt_id)(S_CHECK_CURRENCIES + which), &src);
	struct esc_row row = row_of(st);
	int rc = 0;

	if (!st)
		return map_rc(src);
	for (;;) {
		rc = next_row(st);
		if (rc <= 0)
			break;
		esc_check_say(which, &row, r);
	}
	finish(st);
	return rc;
}

static int sq_ledger_check(struct esc_store *s, struct esc_ledger_report *out)
{
	struct sq *q = sq_of(s);
	bool owned = false;
	int rc = 0;

	memset(out, 0, sizeof *out);
	/* One read transaction: every query sees the same snapshot. */
	rc = auto_begin(q, S_BEGIN_READ, &owned);
	if (rc)
		goto out;
	rc = scalar_id(q, S_CHECK_TRANSFERS, &out->transfers_count);
	if (!rc)
		rc = scalar_id(q, S_CHECK_ORDERS, &out->orders_count);
	for (int k = 0; !rc && k < ESC_CHECKS_COUNT; k++)
		rc = check(q, (enum esc_check)k, out);
	rc = auto_end(q, owned, rc);
out:
	return rc;
}

/* ---- the checkpointer ---- */

/* Called by SQLite on the writing thread after each commit. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct sq *q = arg;

	(void)name;
	/* The pages the pager wrote since the last call are the frames this
	 * commit (and any spill before it) appended, however often the WAL
	 * restarted: the WAL's page count alone would not say. */
	int written = 0, highwater = 0;
	if (sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_WRITE, &written, &highwater, 1) ==
	    SQLITE_OK)
		atomic_fetch_add_explicit(&q->wal_frames, written, memory_order_relaxed);
	pthread_mutex_lock(&q->ck.mu);
	q->ck.dirty = true;
	if (pages >= CHECKPOINT_WAL_PAGES && !q->ck.wake) {
		q->ck.wake = true;
		pthread_cond_signal(&q->ck.cv);
	}
	pthread_mutex_unlock(&q->ck.mu);
	return SQLITE_OK;
}

/* A PASSIVE checkpoint copies the frames the WAL holds when it starts;
 * under load the writer appends meanwhile, so the WAL is never all copied
 * and SQLite never starts it over: it would grow as long as the load
 * lasts, each frame extending the file. Once it holds
 * CHECKPOINT_WAL_PAGES, a RESTART checkpoint follows, so that the next
 * commit writes the WAL from its start. RESTART takes the writer's lock,
 * copies what the passive one left, then needs every reader off the WAL;
 * the checkpointer's connection has no busy handler, so it never waits
 * for either while holding the writer back: busy (the writer in a
 * transaction, a reader on the WAL), it lets go at once and tries again
 * CHECKPOINT_RESTART_PAUSE_US later, CHECKPOINT_RESTART_TRIES times, then
 * at the next round. With SQLite's busy handler of 50 ms instead, a
 * RESTART that got the lock and then met a reader held the writer 20 to
 * 50 ms, the tail of the answers (bench.py's p99 at half load 11 to 16
 * ms, 6.5 ms after). */
static void checkpoint(struct checkpointer *ck)
{
	int log = 0, done = 0;
	int src = sqlite3_wal_checkpoint_v2(ck->db, "main", SQLITE_CHECKPOINT_PASSIVE, &log, &done);

	for (int i = 0;
	     src == SQLITE_OK && log >= CHECKPOINT_WAL_PAGES && i < CHECKPOINT_RESTART_TRIES; i++) {
		if (i)
			nanosleep(&(struct timespec){0, CHECKPOINT_RESTART_PAUSE_US * 1000L}, NULL);
		int restart = sqlite3_wal_checkpoint_v2(ck->db, "main", SQLITE_CHECKPOINT_RESTART,
							NULL, NULL);
		if (restart != SQLITE_BUSY)
			break;
	}
}

static void *checkpointer_main(void *arg)
{
	struct sq *q = arg;
	struct checkpointer *ck = &q->ck;

	pthread_mutex_lock(&ck->mu);
	while (!ck->stop) {
		if (!ck->wake) {
			struct timespec until = esc_monotonic_deadline(
				esc_time_monotonic_us() + CHECKPOINT_INTERVAL_MS * INT64_C(1000));
			pthread_cond_timedwait(&ck->cv, &ck->mu, &until);
		}
		if (ck->stop)
			break;
		bool work = ck->dirty;
		ck->dirty = false;
		ck->wake = false;
		pthread_mutex_unlock(&ck->mu);
		/* PASSIVE never waits for the writer and never blocks it;
		 * SQLITE_BUSY (another checkpoint running) is fine, and the
		 * next round retries whatever did not get done. */
		if (work)
			checkpoint(ck);
		pthread_mutex_lock(&ck->mu);
	}
	pthread_mutex_unlock(&ck->mu);
	return NULL;
}

static int sync_init(struct sq *q)
{
	int rc = ESC_EIO;

	if (esc_cond_init_monotonic(&q->ck.cv))
		goto out;
	if (pthread_mutex_init(&q->ck.mu, NULL)) {
		pthread_cond_destroy(&q->ck.cv);
		goto out;
	}
	q->sync_ready = true;
	rc = 0;
out:
	return rc;
}

static int checkpointer_start(struct sq *q, const char *path, char *err, size_t err_size)
{
	int src =
		sqlite3_open_v2(path, &q->ck.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	int rc = 0;

	if (src == SQLITE_OK)
		src = sqlite3_exec(q->ck.db, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
	/* No busy handler: see checkpoint(). */
	if (src != SQLITE_OK) {
		rc = map_rc(src);
		esc_set_err(err, err_size, "%s: cannot open the checkpoint connection: %s", path,
			    q->ck.db ? sqlite3_errmsg(q->ck.db) : sqlite3_errstr(src));
		goto out;
	}
	/* Checkpoint what opening (migrations) left in the WAL. */
	q->ck.dirty = true;
	if (pthread_create(&q->ck.thread, NULL, checkpointer_main, q)) {
		rc = ESC_EIO;
		esc_set_err(err, err_size, "%s: cannot start the checkpoint thread", path);
		goto out;
	}
	q->ck.started = true;
out:
	return rc;
}

/* ---- open and close ---- */

/* The checkpointer's thread stopped and its connection closed. */
static void checkpointer_stop(struct sq *q)
{
	if (q->ck.started) {
		pthread_mutex_lock(&q->ck.mu);
		q->ck.stop = true;
		pthread_cond_signal(&q->ck.cv);
		pthread_mutex_unlock(&q->ck.mu);
		pthread_join(q->ck.thread, NULL);
		q->ck.started = false;
	}
	if (q->ck.db) {
		int src = sqlite3_close(q->ck.db);
		ESC_ASSERT(src == SQLITE_OK, "a connection closed with statements not finalized");
		q->ck.db = NULL;
	}
}

static void sq_close(struct esc_store *s)
{
	struct sq *q = sq_of(s);
	int src = SQLITE_OK;

	checkpointer_stop(q);
	tx_end(q);
	if (q->db) {
		sqlite3_wal_hook(q->db, NULL, NULL);
		for (int i = 0; i < S_COUNT; i++)
			if (q->stmts[i])
				finish(q->stmts[i]);
		for (int i = 0; i < ESC_F_COMBINATIONS; i++)
			if (q->orders_list[i])
				finish(q->orders_list[i]);
		/* A transaction left open by the caller is not committed. */
		if (!sqlite3_get_autocommit(q->db))
			(void)sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
		for (int i = 0; i < S_COUNT; i++)
			sqlite3_finalize(q->stmts[i]);
		for (int i = 0; i < ESC_F_COMBINATIONS; i++)
			sqlite3_finalize(q->orders_list[i]);
		sqlite3_finalize(q->data_version);
		q->data_version = NULL;
		sqlite3_finalize(q->auth_version);
		q->auth_version = NULL;
		/* Best effort: another process may be reading. */
		sqlite3_busy_timeout(q->db, CLOSE_BUSY_TIMEOUT_MS);
		if (!q->file_read_only)
			(void)sqlite3_wal_checkpoint_v2(q->db, "main", SQLITE_CHECKPOINT_TRUNCATE,
							NULL, NULL);
		src = sqlite3_close(q->db);
		ESC_ASSERT(src == SQLITE_OK, "a connection closed with statements not finalized");
	}
	if (q->sync_ready) {
		pthread_cond_destroy(&q->ck.cv);
		pthread_mutex_destroy(&q->ck.mu);
	}
	(void)src;
	free(q->callers);
	free(q);
}

static void sq_wal_stats(const struct esc_store *s, int64_t *frames, int64_t *page_size)
{
	const struct sq *q = (const struct sq *)s;

	*frames = atomic_load_explicit(&q->wal_frames, memory_order_relaxed);
	*page_size = q->page_size;
}

static const struct esc_store_ops sqlite_ops = {
	.name = "sqlite",
	.shared = false,
	.close = sq_close,
	.wal_stats = sq_wal_stats,
	.changes = sq_changes,
	ESC_STORE_VERBS(sq),
};

/* The text of the single row a PRAGMA returns, into out. */
static int pragma_text(sqlite3 *db, const char *sql, char *out, size_t size)
{
	sqlite3_stmt *st = NULL;
	int src = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	int rc = 0;

	out[0] = '\0';
	if (src == SQLITE_OK)
		src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		col_field(st, 0, out, size);
	else
		rc = map_rc(src);
	sqlite3_finalize(st);
	return rc;
}

/* SQLite's own busy handler (sqlite3_busy_timeout) sleeps 1, 2, 5, 10,
 * 15, 20, 25 ms... between tries: a writer held back 3 ms by the
 * checkpointer's RESTART found the lock free 8 ms later, and a few
 * milliseconds grew into tens at the tail of the answers. This one tries
 * again every BUSY_SLEEP_US, for BUSY_TIMEOUT_MS in all. */
static int busy_wait(void *arg, int tries)
{
	(void)arg;
	if ((int64_t)tries * BUSY_SLEEP_US >= (int64_t)BUSY_TIMEOUT_MS * 1000)
		return 0;
	nanosleep(&(struct timespec){0, BUSY_SLEEP_US * 1000L}, NULL);
	return 1;
}

static int configure(struct sq *q, const char *path, char *err, size_t err_size)
{
	char mode[16];
	int src = SQLITE_OK;
	int rc = 0;

	sqlite3_extended_result_codes(q->db, 1);
	sqlite3_busy_handler(q->db, busy_wait, NULL);
	rc = pragma_text(q->db, "PRAGMA journal_mode = WAL", mode, sizeof mode);
	if (!rc && strcmp(mode, "wal") != 0)
		rc = ESC_EIO;
	if (rc) {
		esc_set_err(err, err_size, "%s: cannot switch the store to WAL mode: %s", path,
			    sqlite3_errmsg(q->db));
		goto out;
	}
	src = sqlite3_exec(q->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
	/* Checkpoints run in the background thread, never inside a commit. */
	if (src == SQLITE_OK)
		src = sqlite3_wal_autocheckpoint(q->db, 0);
	if (src != SQLITE_OK) {
		rc = map_rc(src);
		esc_set_err(err, err_size, "%s: cannot configure the store: %s", path,
			    sqlite3_errmsg(q->db));
	}
out:
	return rc;
}

static int prepare_all(struct sq *q, const char *path, char *err, size_t err_size)
{
	int rc = 0;

	esc_sql_init();
	for (int i = 0; i < S_COUNT; i++) {
		int src = sqlite3_prepare_v3(q->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
					     &q->stmts[i], NULL);
		if (src != SQLITE_OK) {
			rc = map_rc(src);
			esc_set_err(err, err_size, "%s: cannot prepare statement %d: %s", path, i,
				    sqlite3_errmsg(q->db));
			break;
		}
	}
	return rc;
}

/* ---- the WAL's writes, gathered ----
 *
 * SQLite appends a commit to the WAL one frame at a time, in two writes
 * each (its 24-byte header, then the page): a commit of 60 pages was 120
 * pwrite calls, ~13 % of the writer's CPU under load. A VFS over the
 * default one gathers the writes to a WAL file that follow one another
 * into one buffer and writes it at once: when the commit's last frame is
 * complete (its header says it commits), before a sync, a read, a size,
 * a truncation or a file control of that file, before a write elsewhere
 * in it, and when the buffer is full. So nothing that SQLite reads back,
 * or makes visible to other connections (it writes the wal-index after
 * the commit frame), is still in the buffer; and the commit is durable,
 * and acknowledged, only after the sync, as before. Other files go to the
 * default VFS unchanged. Only the writer's connection writes its WAL, so
 * only it allocates a buffer. */

/* A file of a VFS below (gather_vfs, keep_vfs) over the default one: its
 * own methods, and the default VFS's file, right after it, which the
 * calls it does not change go to as they are. */
struct shim_file {
	sqlite3_file base;  /* pMethods: the shim's */
	sqlite3_file *real; /* the default VFS's file */
};

#define SHIM_REAL(f) (((struct shim_file *)(f))->real)

static int shim_lock(sqlite3_file *f, int level)
{
	return SHIM_REAL(f)->pMethods->xLock(SHIM_REAL(f), level);
}

static int shim_unlock(sqlite3_file *f, int level)
{
	return SHIM_REAL(f)->pMethods->xUnlock(SHIM_REAL(f), level);
}

static int shim_check_lock(sqlite3_file *f, int *out)
{
	return SHIM_REAL(f)->pMethods->xCheckReservedLock(SHIM_REAL(f), out);
}

static int shim_sector_size(sqlite3_file *f)
{
	return SHIM_REAL(f)->pMethods->xSectorSize(SHIM_REAL(f));
}

static int shim_device(sqlite3_file *f)
{
	return SHIM_REAL(f)->pMethods->xDeviceCharacteristics(SHIM_REAL(f));
}

/* The unix VFS writes at most 128 KiB - 1 bytes a call (a longer write
 * comes out short, as if the disk were full): 31 frames of 4 KiB pages. */
#define WAL_GATHER_BYTES (124 * 1024)
#define WAL_FRAME_HEADER 24

struct gather_file {
	struct shim_file shim; /* pMethods: gather_methods */
	unsigned char *buf;  /* WAL_GATHER_BYTES, allocated at the first write */
	size_t len;          /* bytes in buf */
	sqlite3_int64 off;   /* where buf[0] goes in the file */
	bool commit_pending; /* the last header written was a commit frame's */
};

static sqlite3_vfs gather_vfs;
static sqlite3_io_methods gather_methods;

static int gather_flush(struct gather_file *g)
{
	int src = SQLITE_OK;

	if (g->len) {
		src = g->shim.real->pMethods->xWrite(g->shim.real, g->buf, (int)g->len, g->off);
		/* Failed: SQLite fails the commit and writes its frames again. */
		g->len = 0;
	}
	return src;
}

static int gather_close(sqlite3_file *f)
{
	struct gather_file *g = (struct gather_file *)f;
	int src = gather_flush(g);
	int closed = g->shim.real->pMethods->xClose(g->shim.real);

	free(g->buf);
	g->buf = NULL;
	return src != SQLITE_OK ? src : closed;
}

static int gather_read(sqlite3_file *f, void *out, int n, sqlite3_int64 off)
{
	struct gather_file *g = (struct gather_file *)f;
	int src = gather_flush(g);

	return src != SQLITE_OK ? src : g->shim.real->pMethods->xRead(g->shim.real, out, n, off);
}

/* A frame header's second word is the database's size in pages after a
 * commit, 0 in the frames before. */
static bool commit_header(const void *data, int n)
{
	const unsigned char *h = data;
	return n == WAL_FRAME_HEADER && (h[4] | h[5] | h[6] | h[7]) != 0;
}

static int gather_write(sqlite3_file *f, const void *data, int n, sqlite3_int64 off)
{
	struct gather_file *g = (struct gather_file *)f;
	bool ends_commit = n != WAL_FRAME_HEADER && g->commit_pending;
	int src = SQLITE_OK;

	g->commit_pending =
		n == WAL_FRAME_HEADER ? commit_header(data, n) : g->commit_pending && !ends_commit;
	if (!g->buf)
		g->buf = malloc(WAL_GATHER_BYTES);
	if (g->len &&
	    (off != g->off + (sqlite3_int64)g->len || g->len + (size_t)n > WAL_GATHER_BYTES))
		src = gather_flush(g);
	if (src == SQLITE_OK && (!g->buf || (size_t)n > WAL_GATHER_BYTES))
		return g->shim.real->pMethods->xWrite(g->shim.real, data, n, off);
	if (src != SQLITE_OK)
		return src;
	if (!g->len)
		g->off = off;
	memcpy(g->buf + g->len, data, (size_t)n);
	g->len += (size_t)n;
	return ends_commit ? gather_flush(g) : SQLITE_OK;
}

static int gather_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	struct gather_file *g = (struct gather_file *)f;
	int src = gather_flush(g);

	return src != SQLITE_OK ? src : g->shim.real->pMethods->xTruncate(g->shim.real, size);
}

static int gather_sync(sqlite3_file *f, int flags)
{
	struct gather_file *g = (struct gather_file *)f;
	int src = gather_flush(g);

	return src != SQLITE_OK ? src : g->shim.real->pMethods->xSync(g->shim.real, flags);
}

static int gather_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	struct gather_file *g = (struct gather_file *)f;
	int src = gather_flush(g);

	return src != SQLITE_OK ? src : g->shim.real->pMethods->xFileSize(g->shim.real, size);
}

static int gather_control(sqlite3_file *f, int op, void *arg)
{
	struct gather_file *g = (struct gather_file *)f;
	int src = gather_flush(g);

	return src != SQLITE_OK ? src : g->shim.real->pMethods->xFileControl(g->shim.real, op, arg);
}

static int gather_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags,
		       int *out_flags)
{
	sqlite3_vfs *base = vfs->pAppData;
	struct gather_file *g = (struct gather_file *)f;
	int src;

	/* Not a WAL: the default VFS's own file, in place (szOsFile is
	 * larger than it needs). */
	if (!(flags & SQLITE_OPEN_WAL))
		return base->xOpen(base, name, f, flags, out_flags);
	memset(g, 0, sizeof *g);
	g->shim.real = (sqlite3_file *)(g + 1);
	src = base->xOpen(base, name, g->shim.real, flags, out_flags);
	/* On failure SQLite calls xClose only if pMethods is set: the
	 * default VFS's file cleans up after itself then. */
	if (src == SQLITE_OK)
		g->shim.base.pMethods = &gather_methods;
	return src;
}

/* Registered once, over the default VFS; not made the default: the store
 * names it when it opens a connection (esc_sqlite_open). */
static void gather_register(void)
{
	sqlite3_vfs *base = sqlite3_vfs_find(NULL);

	if (!base)
		return;
	gather_vfs = *base;
	gather_vfs.pNext = NULL;
	gather_vfs.zName = "escrowd-wal-gather";
	gather_vfs.pAppData = base;
	gather_vfs.szOsFile = (int)sizeof(struct gather_file) + base->szOsFile;
	gather_vfs.xOpen = gather_open;
	gather_methods = (sqlite3_io_methods){
		.iVersion = 1,
		.xClose = gather_close,
		.xRead = gather_read,
		.xWrite = gather_write,
		.xTruncate = gather_truncate,
		.xSync = gather_sync,
		.xFileSize = gather_file_size,
		.xLock = shim_lock,
		.xUnlock = shim_unlock,
		.xCheckReservedLock = shim_check_lock,
		.xFileControl = gather_control,
		.xSectorSize = shim_sector_size,
		.xDeviceCharacteristics = shim_device,
	};
	if (sqlite3_vfs_register(&gather_vfs, 0) != SQLITE_OK)
		gather_vfs.zName = NULL; /* the default VFS then */
}

/* ---- a read connection's map, kept across commits ----
 *
 * A read connection of the pool reads the file through a memory map: a
 * page its cache lacks is then a load from the kernel's page cache, not a
 * pread. SQLite's own map (the default VFS's) is dropped whenever a read
 * begins after another connection committed (xUnfetch(0, NULL), with the
 * page cache), because the file's size may have changed: a TLB shootdown
 * on every core, then a page fault for each page read again. Under writes
 * every lending did so: munmap was 10 % of the daemon's CPU under POST
 * /v1/orders (2026-12-04), and the pool read unmapped since. Unmapped, a
 * GET of a random order of a store larger than the connection's cache is
 * a pread for each b-tree leaf it reads (the order, its items, its
 * refunds): 17.6 % of its CPU on bench.py's store after the flow.
 *
 * Whatever a commit changes, a page the connection reads from the file
 * (not one its snapshot finds in the WAL) is the same bytes through a
 * shared map as through a pread, so the map need not be dropped unless
 * the file shrank (a page past its end would fault, SIGBUS). keep_vfs
 * forwards every call to the default VFS's file but the signal to drop
 * the map: there it looks at the file's size and drops the map only when
 * the file is smaller than it last saw. Pages the file grew by since it
 * was mapped are read with pread; once KEEP_MISSES fetches past the map
 * came with no commit in between, the map is made again, the file's end
 * included. Dropping it at growth instead (16 MiB past the map) cost the
 * flow's accept and settle a sixth more CPU a command (munmap, then a
 * page fault for every page read again), and the quiet map before it
 * (2026-12-04) let a commit every 0.2 s unmap it: a GET of a random
 * order there took 62-97 us of the daemon's CPU, 42-48 us with the map
 * kept. Only the daemon's speed depends on this, never what is read. */

#define KEEP_MISSES 1024u

struct keep_file {
	struct shim_file shim; /* pMethods: keep_methods */
	sqlite3_int64 seen; /* the file's size when last looked at */
	sqlite3_int64 at;   /* ... when the default VFS's file was last told to drop its map */
	unsigned fetched;   /* pages fetched and not yet given back */
	unsigned misses;    /* fetches past the map since the last commit */
};

static sqlite3_vfs keep_vfs;
static sqlite3_io_methods keep_methods;

/* Drop the default VFS's map (made again, the file's size now, at the
 * next fetch): only with no page fetched out. */
static int keep_drop(struct keep_file *k, sqlite3_int64 size)
{
	k->at = size;
	k->misses = 0;
	return k->shim.real->pMethods->xUnfetch(k->shim.real, 0, NULL);
}

static int keep_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **out)
{
	struct keep_file *k = (struct keep_file *)f;
	sqlite3_int64 size = 0;
	int src = SQLITE_OK;

	/* Quiet, and many pages read past the map: map the file's end too,
	 * at the first fetch with no page fetched out. */
	if (!k->fetched && k->misses >= KEEP_MISSES) {
		k->misses = 0;
		if (k->shim.real->pMethods->xFileSize(k->shim.real, &size) == SQLITE_OK &&
		    size > k->at) {
			k->seen = size;
			src = keep_drop(k, size);
		}
	}
	if (src == SQLITE_OK)
		src = k->shim.real->pMethods->xFetch(k->shim.real, off, n, out);
	if (src == SQLITE_OK && *out)
		k->fetched++;
	else if (src == SQLITE_OK)
		k->misses += k->misses < KEEP_MISSES;
	return src;
}

static int keep_unfetch(sqlite3_file *f, sqlite3_int64 off, void *page)
{
	struct keep_file *k = (struct keep_file *)f;
	sqlite3_int64 size = 0;

	if (page) {
		k->fetched--;
		return k->shim.real->pMethods->xUnfetch(k->shim.real, off, page);
	}
	/* Something committed (or a read failed): nothing is fetched out. */
	k->misses = 0;
	if (k->shim.real->pMethods->xFileSize(k->shim.real, &size) != SQLITE_OK)
		return keep_drop(k, 0);
	bool drop = size < k->seen;
	k->seen = size;
	return drop ? keep_drop(k, size) : SQLITE_OK;
}

static int keep_close(sqlite3_file *f)
{
	return SHIM_REAL(f)->pMethods->xClose(SHIM_REAL(f));
}

static int keep_read(sqlite3_file *f, void *out, int n, sqlite3_int64 off)
{
	return SHIM_REAL(f)->pMethods->xRead(SHIM_REAL(f), out, n, off);
}

static int keep_write(sqlite3_file *f, const void *data, int n, sqlite3_int64 off)
{
	return SHIM_REAL(f)->pMethods->xWrite(SHIM_REAL(f), data, n, off);
}

static int keep_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return SHIM_REAL(f)->pMethods->xTruncate(SHIM_REAL(f), size);
}

static int keep_sync(sqlite3_file *f, int flags)
{
	return SHIM_REAL(f)->pMethods->xSync(SHIM_REAL(f), flags);
}

static int keep_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return SHIM_REAL(f)->pMethods->xFileSize(SHIM_REAL(f), size);
}

static int keep_control(sqlite3_file *f, int op, void *arg)
{
	return SHIM_REAL(f)->pMethods->xFileControl(SHIM_REAL(f), op, arg);
}

static int keep_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **out)
{
	return SHIM_REAL(f)->pMethods->xShmMap(SHIM_REAL(f), region, size, extend, out);
}

static int keep_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	return SHIM_REAL(f)->pMethods->xShmLock(SHIM_REAL(f), offset, n, flags);
}

static void keep_shm_barrier(sqlite3_file *f)
{
	SHIM_REAL(f)->pMethods->xShmBarrier(SHIM_REAL(f));
}

static int keep_shm_unmap(sqlite3_file *f, int delete_flag)
{
	return SHIM_REAL(f)->pMethods->xShmUnmap(SHIM_REAL(f), delete_flag);
}

static int keep_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
	sqlite3_vfs *base = vfs->pAppData;
	struct keep_file *k = (struct keep_file *)f;
	int src;

	/* Not the database: the default VFS's own file, in place. */
	if (!(flags & SQLITE_OPEN_MAIN_DB))
		return base->xOpen(base, name, f, flags, out_flags);
	memset(k, 0, sizeof *k);
	k->shim.real = (sqlite3_file *)(k + 1);
	src = base->xOpen(base, name, k->shim.real, flags, out_flags);
	/* A file without the version 3 methods (fetch, the WAL's shared
	 * memory) cannot be wrapped: none is then. */
	if (src != SQLITE_OK || k->shim.real->pMethods->iVersion >= 3) {
		if (src == SQLITE_OK &&
		    k->shim.real->pMethods->xFileSize(k->shim.real, &k->seen) != SQLITE_OK)
			k->seen = 0;
		if (src == SQLITE_OK)
			k->shim.base.pMethods = &keep_methods;
		return src;
	}
	k->shim.real->pMethods->xClose(k->shim.real);
	return base->xOpen(base, name, f, flags, out_flags);
}

/* Registered once, over the default VFS, beside gather_vfs; the pool's
 * read connections name it (esc_sqlite_open_mode, ESC_STORE_READER). */
static void keep_register(void)
{
	sqlite3_vfs *base = sqlite3_vfs_find(NULL);

	if (!base)
		return;
	keep_vfs = *base;
	keep_vfs.pNext = NULL;
	keep_vfs.zName = "escrowd-keep-map";
	keep_vfs.pAppData = base;
	keep_vfs.szOsFile = (int)sizeof(struct keep_file) + base->szOsFile;
	keep_vfs.xOpen = keep_open;
	keep_methods = (sqlite3_io_methods){
		.iVersion = 3,
		.xClose = keep_close,
		.xRead = keep_read,
		.xWrite = keep_write,
		.xTruncate = keep_truncate,
		.xSync = keep_sync,
		.xFileSize = keep_file_size,
		.xLock = shim_lock,
		.xUnlock = shim_unlock,
		.xCheckReservedLock = shim_check_lock,
		.xFileControl = keep_control,
		.xSectorSize = shim_sector_size,
		.xDeviceCharacteristics = shim_device,
		.xShmMap = keep_shm_map,
		.xShmLock = keep_shm_lock,
		.xShmBarrier = keep_shm_barrier,
		.xShmUnmap = keep_shm_unmap,
		.xFetch = keep_fetch,
		.xUnfetch = keep_unfetch,
	};
	if (sqlite3_vfs_register(&keep_vfs, 0) != SQLITE_OK)
		keep_vfs.zName = NULL; /* the default VFS then, with SQLite's own map */
}

/* SQLite counts the memory it holds under one mutex of the whole process,
 * taken by every allocation of every connection: under load most of the
 * daemon's futex calls were threads meeting there. escrowd reads no such
 * count. Before SQLite's first use; later, a refusal changes nothing. */
static void sqlite_configure(void)
{
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	/* Each command runs in a savepoint, whose sub-journal holds the pages
	 * it changes as they were. By default it is kept in memory in one
	 * 64 KiB block until it outgrows that, then in a temporary file: each
	 * command malloc'ed and freed 64 KiB (a free that large consolidates
	 * glibc's fast bins and may trim the heap), and a command that changed
	 * more than 16 pages wrote them to that file too. Kept in memory
	 * always, in 1 KiB blocks: a command changes a few dozen pages at
	 * most. (issue 15: CPU a command -10 to -25 %) */
	(void)sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, -1);
	gather_register();
	keep_register();
}

int esc_sqlite_open(const char *path, struct esc_store **out, char *err, size_t err_size)
{
	return esc_sqlite_open_mode(path, ESC_STORE_NORMAL, out, err, err_size);
}

/* Put the store's file before err's message, which names the problem
 * only (the schema check, the migrations, read_only). */
static void err_in_file(const char *path, char *err, size_t err_size)
{
	char why[256];
	snprintf(why, sizeof why, "%s", err && err_size ? err : "");
	esc_set_err(err, err_size, "%s: %s", path, why);
}

/* A scratch store (ESC_STORE_SCRATCH): nothing made durable. */
static int configure_scratch(struct sq *q, const char *path, char *err, size_t err_size)
{
	int src = sqlite3_exec(q->db,
			       "PRAGMA journal_mode = MEMORY; PRAGMA synchronous = OFF; "
			       "PRAGMA locking_mode = EXCLUSIVE; PRAGMA temp_store = MEMORY; "
			       "PRAGMA cache_size = -262144",
			       NULL, NULL, NULL);
	if (src == SQLITE_OK)
		return 0;
	esc_set_err(err, err_size, "%s: cannot configure the scratch store: %s", path,
		    sqlite3_errmsg(q->db));
	return map_rc(src);
}

int esc_sqlite_open_mode(const char *path, enum esc_store_mode mode, struct esc_store **out,
			 char *err, size_t err_size)
{
	static pthread_once_t configured = PTHREAD_ONCE_INIT;
	struct sq *q = calloc(1, sizeof *q);
	int src = SQLITE_OK;
	int rc = 0;

	*out = NULL;
	pthread_once(&configured, sqlite_configure);
	if (!q) {
		rc = ESC_ENOMEM;
		esc_set_err(err, err_size, "out of memory");
		goto out;
	}
	q->base.ops = &sqlite_ops;
	rc = sync_init(q);
	if (rc) {
		esc_set_err(err, err_size, "cannot create the checkpoint lock");
		goto fail;
	}
	if (mode == ESC_STORE_READ && access(path, F_OK)) {
		rc = ESC_ENOTFOUND;
		esc_set_err(err, err_size, "no store at %s", path);
		goto fail;
	}
	src = sqlite3_open_v2(
		path, &q->db,
		(mode == ESC_STORE_READ     ? SQLITE_OPEN_READONLY
		 : mode == ESC_STORE_READER ? SQLITE_OPEN_READWRITE
					    : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
			SQLITE_OPEN_NOMUTEX,
		mode == ESC_STORE_READER && keep_vfs.zName ? keep_vfs.zName : gather_vfs.zName);
	q->keep_map = mode == ESC_STORE_READER && keep_vfs.zName;
	if (src != SQLITE_OK) {
		rc = map_rc(src);
		esc_set_err(err, err_size, "%s: cannot open the store: %s", path,
			    q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(src));
		goto fail;
	}
	if (mode == ESC_STORE_READ) {
		q->file_read_only = true;
		sqlite3_extended_result_codes(q->db, 1);
		sqlite3_busy_handler(q->db, busy_wait, NULL);
		/* A reader of the whole store (replay): the file mapped, not
		 * read a page a system call (SQLite caps the size at what it
		 * was built for), and a larger cache. Nothing depends on it. */
		(void)sqlite3_exec(q->db,
				   "PRAGMA mmap_size = 1099511627776; PRAGMA cache_size = -65536",
				   NULL, NULL, NULL);
		rc = esc_sqlite_schema_check(q->db, err, err_size);
		if (!rc)
			rc = prepare_all(q, path, err, err_size);
		if (!rc)
			rc = sq_read_only(&q->base);
		if (rc) {
			err_in_file(path, err, err_size);
			goto fail;
		}
		*out = &q->base;
		goto out;
	}
	if (mode == ESC_STORE_READER) {
		/* The writer's connection migrated the store and prepared
		 * every statement: here each is prepared at its first use. */
		esc_sql_init();
		rc = configure(q, path, err, err_size);
		if (rc)
			goto fail;
		rc = esc_sqlite_schema_check(q->db, err, err_size);
		if (!rc && (rc = sq_read_only(&q->base)))
			esc_set_err(err, err_size, "cannot make the connection read-only");
		if (rc) {
			err_in_file(path, err, err_size);
			goto fail;
		}
		*out = &q->base;
		goto out;
	}
	if (mode == ESC_STORE_SCRATCH) {
		sqlite3_extended_result_codes(q->db, 1);
		rc = configure_scratch(q, path, err, err_size);
	} else {
		rc = configure(q, path, err, err_size);
	}
	if (rc)
		goto fail;
	rc = esc_sqlite_migrate(q->db, &q->base.schema_version_found, err, err_size);
	if (rc) {
		err_in_file(path, err, err_size);
		goto fail;
	}
	q->base.schema_version = esc_sqlite_schema_version();
	rc = prepare_all(q, path, err, err_size);
	if (rc)
		goto fail;
	char page_size[24];
	if (!pragma_text(q->db, "PRAGMA page_size", page_size, sizeof page_size))
		q->page_size = strtoll(page_size, NULL, 10);
	if (mode == ESC_STORE_SCRATCH) {
		*out = &q->base;
		goto out;
	}
	sqlite3_wal_hook(q->db, wal_hook, q);
	rc = checkpointer_start(q, path, err, err_size);
	if (rc)
		goto fail;
	*out = &q->base;
	goto out;
fail:
	sq_close(&q->base);
out:
	return rc;
}
