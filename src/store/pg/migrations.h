/* migrations.h - the PostgreSQL schema as numbered migrations.
 *
 * Migration N (1-based) takes a database from schema version N-1 to N; the
 * versions applied are the rows of schema_migrations. esc_pg_migrate()
 * applies the missing ones at open, each in its own transaction that first
 * records its number, so that of several processes opening one database at
 * once exactly one applies each; it refuses a database whose version is
 * newer than this binary knows. After this file's own come the steps both
 * backends share (common.h's esc_migrations_shared), in PostgreSQL's
 * words, as the next numbers. */
#ifndef ESC_PG_MIGRATIONS_H
#define ESC_PG_MIGRATIONS_H

#include <stddef.h>

#include <libpq-fe.h>

/* The schema version this binary writes: the number of migrations, ours
 * and the shared ones. */
int esc_pg_schema_version(void);

/* Bring the database of conn up to esc_pg_schema_version(). Returns 0,
 * ESC_EUNSUPPORTED when the database is newer than this binary, or ESC_EIO;
 * with a message in err (err_size bytes, may be NULL). *found (found may
 * be NULL) gets the schema version the database had at the first read, 0
 * for a new one, once it is read: other processes may move it on while
 * this one migrates. */
int esc_pg_migrate(PGconn *conn, int *found, char *err, size_t err_size);

/* esc_pg_migrate with shared (NULL-terminated) in place of
 * esc_migrations_shared: for the tests of the runner. */
int esc_pg_migrate_with(PGconn *conn, const char *const *shared, int *found, char *err,
			size_t err_size);

/* A libpq message on one line in dst (size bytes, cut to fit): PostgreSQL's
 * end in a newline and may go on over indented lines. For both files of
 * the backend. */
void esc_pg_one_line(char *dst, size_t size, const char *msg);

/* 0 when the schema is this version's; else ESC_EUNSUPPORTED with why in
 * err (for a store opened read-only, which cannot migrate). */
int esc_pg_schema_check(PGconn *conn, char *err, size_t err_size);

#endif
