/* migrations.c - the SQLite schema, one numbered migration per change.
 *
 * Append new migrations at the end; never edit one that has shipped. The
 * schema keeps the write set lean (PERF.md): tables whose keys grow with
 * time-ordered ids are WITHOUT ROWID (one b-tree per row written), and hot
 * tables carry only the indexes that listing needs, on columns written
 * once at insert. Enums are stored as their names. */
#include "store/sqlite/migrations.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "store/common.h"
#include "util/error.h"

static const char *const migrations[] = {
	/* 1: the first schema. */
	"CREATE TABLE users (\n"
	"  id TEXT NOT NULL PRIMARY KEY,\n"
	"  role TEXT NOT NULL,\n"
	"  name TEXT NOT NULL,\n"
	"  email TEXT NOT NULL COLLATE NOCASE UNIQUE,\n"
	"  password_hash TEXT NOT NULL,\n"
	"  created_at_ms INTEGER NOT NULL,\n"
	"  suspension_lifted_at_ms INTEGER NOT NULL\n"
	") WITHOUT ROWID;\n"

	/* buyer_id and seller_id are written only at insert, so their
	 * indexes cost nothing on the update path. */
	"CREATE TABLE orders (\n"
	"  id TEXT NOT NULL PRIMARY KEY,\n"
	"  buyer_id TEXT NOT NULL,\n"
	"  seller_id TEXT NOT NULL,\n"
	"  currency TEXT NOT NULL,\n"
	"  total_minor INTEGER NOT NULL,\n"
	"  paid_minor INTEGER NOT NULL,\n"
	"  refunded_minor INTEGER NOT NULL,\n"
	"  released_minor INTEGER NOT NULL,\n"
	"  fee_minor INTEGER NOT NULL,\n"
	"  method TEXT NOT NULL,\n"
	"  state TEXT NOT NULL,\n"
	"  version INTEGER NOT NULL,\n"
	"  delivery_days INTEGER NOT NULL,\n"
	"  items_count INTEGER NOT NULL,\n"
	"  cancel_requests INTEGER NOT NULL,\n"
	"  cancel_reason TEXT NOT NULL,\n"
	"  cancel_comment TEXT NOT NULL,\n"
	"  refund_to TEXT NOT NULL,\n"
	"  reject_message TEXT NOT NULL,\n"
	"  carrier TEXT NOT NULL,\n"
	"  tracking TEXT NOT NULL,\n"
	"  created_at_ms INTEGER NOT NULL,\n"
	"  paid_at_ms INTEGER NOT NULL,\n"
	"  shipped_at_ms INTEGER NOT NULL,\n"
	"  promised_at_ms INTEGER NOT NULL,\n"
	"  delivered_at_ms INTEGER NOT NULL,\n"
	"  ended_at_ms INTEGER NOT NULL,\n"
	"  due_payment_ms INTEGER NOT NULL,\n"
	"  due_ship_ms INTEGER NOT NULL,\n"
	"  due_response_ms INTEGER NOT NULL,\n"
	"  due_protection_ms INTEGER NOT NULL,\n"
	"  due_confirm_ms INTEGER NOT NULL,\n"
	"  refunds_count INTEGER NOT NULL,\n"
	"  disputes_count INTEGER NOT NULL,\n"
	"  dispute_ground TEXT NOT NULL,\n"
	"  dispute_outcome TEXT NOT NULL,\n"
	"  dispute_amount_minor INTEGER NOT NULL,\n"
	"  dispute_opened_at_ms INTEGER NOT NULL,\n"
	"  dispute_paused_ms INTEGER NOT NULL,\n"
	"  dispute_refund_minor INTEGER NOT NULL\n"
	") WITHOUT ROWID;\n"
	"CREATE INDEX orders_buyer ON orders (buyer_id, id);\n"
	"CREATE INDEX orders_seller ON orders (seller_id, id);\n"

	"CREATE TABLE order_items (\n"
	"  order_id TEXT NOT NULL,\n"
	"  line INTEGER NOT NULL,\n"
	"  title TEXT NOT NULL,\n"
	"  quantity INTEGER NOT NULL,\n"
	"  unit_price_minor INTEGER NOT NULL,\n"
	"  PRIMARY KEY (order_id, line)\n"
	") WITHOUT ROWID;\n"

	"CREATE TABLE history (\n"
	"  order_id TEXT NOT NULL,\n"
	"  version INTEGER NOT NULL,\n"
	"  at_ms INTEGER NOT NULL,\n"
	"  actor TEXT NOT NULL,\n"
	"  actor_id TEXT NOT NULL,\n"
	"  event TEXT NOT NULL,\n"
	"  from_state TEXT NOT NULL,\n"
	"  to_state TEXT NOT NULL,\n"
	"  type TEXT NOT NULL,\n"
	"  detail TEXT NOT NULL,\n"
	"  PRIMARY KEY (order_id, version)\n"
	") WITHOUT ROWID;\n"

	/* Two rows per transfer: leg 0 takes the amount from `from`
	 * (negative), leg 1 puts it on `to` (positive). */
	"CREATE TABLE entries (\n"
	"  transfer_id TEXT NOT NULL,\n"
	"  leg INTEGER NOT NULL,\n"
	"  account TEXT NOT NULL,\n"
	"  amount_minor INTEGER NOT NULL,\n"
	"  currency TEXT NOT NULL,\n"
	"  order_id TEXT NOT NULL,\n"
	"  kind TEXT NOT NULL,\n"
	"  at_ms INTEGER NOT NULL,\n"
	"  PRIMARY KEY (transfer_id, leg)\n"
	") WITHOUT ROWID;\n"

	/* Kept only for buyer: and seller: accounts, which are read on the
	 * hot path (paying from the store balance). */
	"CREATE TABLE balances (\n"
	"  account TEXT NOT NULL,\n"
	"  currency TEXT NOT NULL,\n"
	"  balance_minor INTEGER NOT NULL,\n"
	"  PRIMARY KEY (account, currency)\n"
	") WITHOUT ROWID;\n"

	"CREATE TABLE refunds (\n"
	"  id TEXT NOT NULL PRIMARY KEY,\n"
	"  order_id TEXT NOT NULL,\n"
	"  amount_minor INTEGER NOT NULL,\n"
	"  method TEXT NOT NULL,\n"
	"  status TEXT NOT NULL,\n"
	"  created_at_ms INTEGER NOT NULL,\n"
	"  resolved_at_ms INTEGER NOT NULL,\n"
	"  alert_due_ms INTEGER NOT NULL,\n"
	"  settle_days_min INTEGER NOT NULL,\n"
	"  settle_days_max INTEGER NOT NULL\n"
	") WITHOUT ROWID;\n"
	"CREATE INDEX refunds_order ON refunds (order_id, id);\n"

	"CREATE TABLE deadlines (\n"
	"  due_ms INTEGER NOT NULL,\n"
	"  order_id TEXT NOT NULL,\n"
	"  kind TEXT NOT NULL,\n"
	"  ref TEXT NOT NULL,\n"
	"  PRIMARY KEY (due_ms, order_id, kind, ref)\n"
	") WITHOUT ROWID;\n"

	"CREATE TABLE outbox (\n"
	"  seq INTEGER PRIMARY KEY,\n"
	"  at_ms INTEGER NOT NULL,\n"
	"  type TEXT NOT NULL,\n"
	"  order_id TEXT NOT NULL,\n"
	"  payload TEXT NOT NULL\n"
	");\n"

	"CREATE TABLE marks (\n"
	"  user_id TEXT NOT NULL,\n"
	"  at_ms INTEGER NOT NULL,\n"
	"  order_id TEXT NOT NULL,\n"
	"  mark TEXT NOT NULL,\n"
	"  PRIMARY KEY (user_id, at_ms, order_id, mark)\n"
	") WITHOUT ROWID;\n"

	"CREATE TABLE meta (\n"
	"  key TEXT NOT NULL PRIMARY KEY,\n"
	"  value INTEGER NOT NULL\n"
	") WITHOUT ROWID;\n"

	/* Keyed by the hex hash of the token or key: neither is stored. */
	"CREATE TABLE sessions (\n"
	"  token_hash TEXT PRIMARY KEY,\n"
	"  user_id TEXT NOT NULL,\n"
	"  csrf TEXT NOT NULL,\n"
	"  created_at_ms INTEGER NOT NULL,\n"
	"  last_seen_ms INTEGER NOT NULL\n"
	") WITHOUT ROWID;\n"

	"CREATE TABLE api_keys (\n"
	"  key_hash TEXT PRIMARY KEY,\n"
	"  created_at_ms INTEGER NOT NULL\n"
	") WITHOUT ROWID;\n"
	"CREATE TABLE idempotency (\n"
	"  scope TEXT NOT NULL,\n"
	"  key TEXT NOT NULL,\n"
	"  request_hash TEXT NOT NULL,\n"
	"  status INTEGER NOT NULL,\n"
	"  response TEXT NOT NULL,\n"
	"  created_at_ms INTEGER NOT NULL,\n"
	"  PRIMARY KEY (scope, key)\n"
	") WITHOUT ROWID;\n"
	"CREATE TABLE messages (\n"
	"  order_id TEXT NOT NULL,\n"
	"  seq INTEGER NOT NULL,\n"
	"  at_ms INTEGER NOT NULL,\n"
	"  author_id TEXT NOT NULL,\n"
	"  role TEXT NOT NULL,\n"
	"  body TEXT NOT NULL,\n"
	"  PRIMARY KEY (order_id, seq)\n"
	") WITHOUT ROWID;\n",

	/* 2: the dispute's own life (SPEC §5) in the order row: its state and
	 * window, the seller's answer, the return, how it ended. */
	"ALTER TABLE orders ADD COLUMN due_dispute_ms INTEGER NOT NULL DEFAULT 0;\n"
	"ALTER TABLE orders ADD COLUMN dispute_state TEXT NOT NULL DEFAULT 'none';\n"
	"ALTER TABLE orders ADD COLUMN dispute_from TEXT NOT NULL DEFAULT 'none';\n"
	"ALTER TABLE orders ADD COLUMN dispute_description TEXT NOT NULL DEFAULT '';\n"
	"ALTER TABLE orders ADD COLUMN dispute_offer_minor INTEGER NOT NULL DEFAULT 0;\n"
	"ALTER TABLE orders ADD COLUMN dispute_agreed_minor INTEGER NOT NULL DEFAULT 0;\n"
	"ALTER TABLE orders ADD COLUMN dispute_message TEXT NOT NULL DEFAULT '';\n"
	"ALTER TABLE orders ADD COLUMN dispute_resolution TEXT NOT NULL DEFAULT '';\n"
	"ALTER TABLE orders ADD COLUMN dispute_reason TEXT NOT NULL DEFAULT '';\n"
	"ALTER TABLE orders ADD COLUMN dispute_escalated_at_ms INTEGER NOT NULL DEFAULT 0;\n"
	"ALTER TABLE orders ADD COLUMN dispute_resolved_at_ms INTEGER NOT NULL DEFAULT 0;\n"
	"ALTER TABLE orders ADD COLUMN return_carrier TEXT NOT NULL DEFAULT '';\n"
	"ALTER TABLE orders ADD COLUMN return_tracking TEXT NOT NULL DEFAULT '';\n"
	"ALTER TABLE orders ADD COLUMN return_shipped_at_ms INTEGER NOT NULL DEFAULT 0;\n"
	/* Orders in dispute were decided by an arbiter before: escalated. */
	"UPDATE orders SET dispute_state = 'escalated', dispute_from = 'shipped' "
	"WHERE state = 'in_dispute';\n"
	"UPDATE orders SET dispute_state = 'resolved', dispute_resolution = 'decided' "
	"WHERE disputes_count > 0 AND state <> 'in_dispute';\n",

	/* 3: evidence files, their bytes in the store so that a backup holds
	 * them (a rowid table: its rows are large); lifted suspensions. */
	"CREATE TABLE evidence (\n"
	"  order_id TEXT NOT NULL,\n"
	"  seq INTEGER NOT NULL,\n"
	"  at_ms INTEGER NOT NULL,\n"
	"  author_id TEXT NOT NULL,\n"
	"  role TEXT NOT NULL,\n"
	"  content_type TEXT NOT NULL,\n"
	"  filename TEXT NOT NULL,\n"
	"  size INTEGER NOT NULL,\n"
	"  sha256 TEXT NOT NULL,\n"
	"  data BLOB NOT NULL,\n"
	"  UNIQUE (order_id, seq)\n"
	");\n"
	/* Suspensions an arbiter lifted, with the reason (SPEC §6). */
	"CREATE TABLE suspension_lifts (\n"
	"  user_id TEXT NOT NULL,\n"
	"  at_ms INTEGER NOT NULL,\n"
	"  arbiter_id TEXT NOT NULL,\n"
	"  reason TEXT NOT NULL,\n"
	"  PRIMARY KEY (user_id, at_ms)\n"
	") WITHOUT ROWID;\n",

	/* 4: deadline claims, so that of several processes on one store each
	 * row fires in one; counters of rate-limit windows, shared by them. */
	"ALTER TABLE deadlines ADD COLUMN claim_owner TEXT;\n"
	"ALTER TABLE deadlines ADD COLUMN claim_until_ms INTEGER NOT NULL DEFAULT 0;\n"
	"CREATE TABLE rate_limits (\n"
	"  key TEXT NOT NULL PRIMARY KEY,\n"
	"  window_start_ms INTEGER NOT NULL,\n"
	"  count INTEGER NOT NULL\n"
	") WITHOUT ROWID;\n",

	/* 5: the arbiter's recommendation kept with the decision (issue 11
	 * item 14): its amount and its reasons, one a line. */
	"ALTER TABLE orders ADD COLUMN dispute_recommended_minor INTEGER NOT NULL DEFAULT 0;\n"
	"ALTER TABLE orders ADD COLUMN dispute_recommendation TEXT NOT NULL DEFAULT '';\n",

	/* 6: the API says "status" for every lifecycle (issue 11 item 2):
	 * the dispute events' history detail too. A user's text in a detail
	 * is a JSON string, its quotes escaped, so it cannot match. */
	"UPDATE history SET detail = replace(detail, '\"dispute_state\":', '\"dispute_status\":') "
	"WHERE detail LIKE '%\"dispute_state\":%';\n",

	/* 7: a claim on a deadline belongs to a process and lasts as long as
	 * that process's lease, in real time (issue 12 item 2), no longer
	 * until a time on escrowd's clock. claim_until_ms stays, unread, for
	 * a daemon of the version before during an upgrade. Only claimed
	 * rows are in the index, so setting a deadline does not write it. */
	"CREATE TABLE processes (\n"
	"  id TEXT NOT NULL PRIMARY KEY,\n"
	"  started_real_ms INTEGER NOT NULL,\n"
	"  heartbeat_real_ms INTEGER NOT NULL,\n"
	"  lease_ms INTEGER NOT NULL\n"
	") WITHOUT ROWID;\n"
	"CREATE INDEX deadlines_claimed ON deadlines (claim_owner) "
	"WHERE claim_owner IS NOT NULL;\n",
};

/* Our own; then the shared steps of common.c (esc_migrations_shared)
 * take the numbers after these. */
#define MIGRATIONS_COUNT ((int)(sizeof(migrations) / sizeof(migrations[0])))

int esc_sqlite_schema_version(void)
{
	return MIGRATIONS_COUNT + esc_migrations_count(esc_migrations_shared);
}

static int map_rc(int src)
{
	int primary = src & 0xff;

	if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED)
		return ESC_EBUSY;
	return ESC_EIO;
}

static int user_version(sqlite3 *db, int *out)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;
	int src = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);

	if (src != SQLITE_OK) {
		rc = map_rc(src);
		goto out;
	}
	src = sqlite3_step(st);
	if (src != SQLITE_ROW) {
		rc = map_rc(src);
		goto out;
	}
	*out = sqlite3_column_int(st, 0);
out:
	sqlite3_finalize(st);
	return rc;
}

/* Apply migration `index` (0-based), whose SQL is text, unless another
 * process did meanwhile. */
static int apply_one(sqlite3 *db, int index, const char *text, char *err, size_t err_size)
{
	char sql[64];
	int version = 0;
	int rc = 0;
	int src = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);

	if (src != SQLITE_OK) {
		rc = map_rc(src);
		esc_set_err(err, err_size, "cannot lock the store to migrate it: %s",
			    sqlite3_errmsg(db));
		goto out;
	}
	rc = user_version(db, &version);
	if (rc) {
		esc_set_err(err, err_size, "cannot read the schema version: %s",
			    sqlite3_errmsg(db));
		goto rollback;
	}
	if (version > index)
		goto commit;
	src = sqlite3_exec(db, text, NULL, NULL, NULL);
	if (src != SQLITE_OK) {
		rc = map_rc(src);
		esc_set_err(err, err_size, "migration %d failed: %s", index + 1,
			    sqlite3_errmsg(db));
		goto rollback;
	}
	/* PRAGMA takes no parameters; the value is our own integer. */
	snprintf(sql, sizeof sql, "PRAGMA user_version = %d", index + 1);
	src = sqlite3_exec(db, sql, NULL, NULL, NULL);
	if (src != SQLITE_OK) {
		rc = map_rc(src);
		esc_set_err(err, err_size, "cannot record schema version %d: %s", index + 1,
			    sqlite3_errmsg(db));
		goto rollback;
	}
commit:
	src = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (src != SQLITE_OK) {
		rc = map_rc(src);
		esc_set_err(err, err_size, "cannot commit migration %d: %s", index + 1,
			    sqlite3_errmsg(db));
		goto rollback;
	}
	goto out;
rollback:
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
out:
	return rc;
}

/* Apply migration index (0-based): one of ours, or a shared step in
 * SQLite's words. */
static int apply_index(sqlite3 *db, int index, const char *const *shared, char *err,
		       size_t err_size)
{
	char *text = NULL;
	int rc = 0;

	if (index < MIGRATIONS_COUNT)
		return apply_one(db, index, migrations[index], err, err_size);
	text = esc_migration_sql(shared[index - MIGRATIONS_COUNT], ESC_DIALECT_SQLITE);
	if (!text) {
		rc = ESC_ENOMEM;
		esc_set_err(err, err_size, "out of memory");
	} else {
		rc = apply_one(db, index, text, err, err_size);
	}
	free(text);
	return rc;
}

int esc_sqlite_migrate(sqlite3 *db, int *found, char *err, size_t err_size)
{
	return esc_sqlite_migrate_with(db, esc_migrations_shared, found, err, err_size);
}

int esc_sqlite_migrate_with(sqlite3 *db, const char *const *shared, int *found, char *err,
			    size_t err_size)
{
	int count = MIGRATIONS_COUNT + esc_migrations_count(shared);
	int version = 0;
	int rc = user_version(db, &version);

	if (rc) {
		esc_set_err(err, err_size, "cannot read the schema version: %s",
			    sqlite3_errmsg(db));
		goto out;
	}
	if (found)
		*found = version;
	if (version < 0) {
		rc = ESC_EIO;
		esc_set_err(err, err_size, "the store's schema version %d is not valid", version);
		goto out;
	}
	if (version > count) {
		rc = ESC_EUNSUPPORTED;
		esc_set_err(err, err_size,
			    "the store has schema version %d, newer than this escrowd knows (%d); "
			    "use a newer escrowd",
			    version, count);
		goto out;
	}
	for (int i = version; i < count; i++) {
		rc = apply_index(db, i, shared, err, err_size);
		if (rc)
			goto out;
	}
out:
	return rc;
}

int esc_sqlite_schema_check(sqlite3 *db, char *err, size_t err_size)
{
	int count = MIGRATIONS_COUNT + esc_migrations_count(esc_migrations_shared);
	int version = 0;
	int rc = user_version(db, &version);

	if (rc) {
		esc_set_err(err, err_size, "cannot read the schema version: %s",
			    sqlite3_errmsg(db));
		return rc;
	}
	if (version == count)
		return 0;
	if (version == 0)
		esc_set_err(err, err_size, "not an escrowd store");
	else
		esc_set_err(err, err_size,
			    "the store has schema version %d, this escrowd reads %d: %s", version,
			    count,
			    version < count ? "migrate it first (escrowd migrate)"
					    : "use a newer escrowd");
	return ESC_EUNSUPPORTED;
}
