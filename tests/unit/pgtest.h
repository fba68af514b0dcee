/* pgtest.h - new PostgreSQL databases for tests, one per test, on the
 * server whose admin URL is in the environment variable ESC_TEST_PG (as
 * `tests/pg/server start DIR` prints it). */
#ifndef ESC_TEST_PGTEST_H
#define ESC_TEST_PGTEST_H

#include <stddef.h>

/* Create a new, empty database with a name of its own (pid, counter and
 * random) and write its URL (ESC_TEST_PG's, naming it) into url. Its
 * default collation is ICU's en-US when the server has ICU, so that tests
 * meet a locale whose order is not the bytes'. Returns 0, or -1 when
 * ESC_TEST_PG is not set; fails the test when the server refuses. */
int esc_test_pg_fresh(char *url, size_t size);

/* Copies of one database, each a new database named as esc_test_pg_fresh
 * names them: CREATE DATABASE ... TEMPLATE, so that tests that start many
 * times from the same state (a migrated store with users and orders)
 * build it once. No connection may be open to the template meanwhile.
 * Each copy taken starts the next one on the server, which makes it while
 * the test uses this one. new returns NULL when ESC_TEST_PG is not set;
 * failures fail the test. free drops the copy made ahead: the template
 * and the copies taken are the caller's to drop (esc_test_pg_drop). */
struct esc_test_pg_copier;
struct esc_test_pg_copier *esc_test_pg_copier_new(const char *template_url);
void esc_test_pg_copy(struct esc_test_pg_copier *c, char *url, size_t size);
void esc_test_pg_copier_free(struct esc_test_pg_copier *c);

/* Drop a database made by esc_test_pg_fresh, even with connections still
 * open to it. */
void esc_test_pg_drop(const char *url);

#endif
