/* migrations.h - the SQLite schema as numbered migrations.
 *
 * Migration N (1-based) takes a store from schema version N-1 to N; the
 * version is PRAGMA user_version. esc_sqlite_migrate() applies the missing
 * ones at open, each inside its own transaction, and refuses a store whose
 * version is newer than this binary knows. After this file's own come the
 * steps both backends share (common.h's esc_migrations_shared), in
 * SQLite's words, as the next numbers. */
#ifndef ESC_SQLITE_MIGRATIONS_H
#define ESC_SQLITE_MIGRATIONS_H

#include <stddef.h>

#include <sqlite3.h>

/* The schema version this binary writes: the number of migrations, ours
 * and the shared ones. */
int esc_sqlite_schema_version(void);

/* Bring db (WAL already set) up to esc_sqlite_schema_version(). Returns 0,
 * ESC_EUNSUPPORTED when the store is newer than this binary, ESC_EBUSY when
 * it stays locked, or ESC_EIO; with a message in err (err_size bytes, may
 * be NULL). *found (found may be NULL) gets the schema version the store
 * had before, 0 for a new one, once it is read. */
int esc_sqlite_migrate(sqlite3 *db, int *found, char *err, size_t err_size);

/* esc_sqlite_migrate with shared (NULL-terminated) in place of
 * esc_migrations_shared: for the tests of the runner. */
int esc_sqlite_migrate_with(sqlite3 *db, const char *const *shared, int *found, char *err,
			    size_t err_size);

/* 0 when the schema is this version's; else ESC_EUNSUPPORTED with why in
 * err (for a store opened read-only, which cannot migrate). */
int esc_sqlite_schema_check(sqlite3 *db, char *err, size_t err_size);

#endif
