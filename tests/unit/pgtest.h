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

/* Drop a database made by esc_test_pg_fresh, even with connections still
 * open to it. */
void esc_test_pg_drop(const char *url);

#endif
