/* pgtest.c - new PostgreSQL databases for tests (pgtest.h). Database
 * names are made here, of [a-z0-9_] only, and quoted as identifiers
 * besides: CREATE DATABASE takes no parameters. */
#include "pgtest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sys/random.h>
#include <unistd.h>

static unsigned databases_made;

/* Where the database name of a URL starts and ends: after the authority's
 * "/", up to the query. */
static void dbname_span(const char *url, size_t *start, size_t *end)
{
	const char *scheme = strstr(url, "://");
	const char *path = NULL;

	if (!scheme)
		fail_msg("ESC_TEST_PG is not a postgresql:// URL");
	path = scheme + 3 + strcspn(scheme + 3, "/?");
	*start = (size_t)(path - url);
	if (*path == '/')
		(*start)++;
	*end = *start + strcspn(url + *start, "?");
}

/* Run `verb "name"tail` on the admin connection: true when it worked.
 * Any other failure than the server's refusal fails the test. */
static bool admin_try(const char *admin, const char *verb, const char *name, const char *tail)
{
	PGconn *conn = PQconnectdb(admin);
	char *ident = NULL;
	char sql[256];
	PGresult *res = NULL;
	bool ok = false;

	if (PQstatus(conn) != CONNECTION_OK)
		fail_msg("cannot connect to ESC_TEST_PG: %s", PQerrorMessage(conn));
	ident = PQescapeIdentifier(conn, name, strlen(name));
	assert_non_null(ident);
	snprintf(sql, sizeof sql, "%s %s%s", verb, ident, tail);
	res = PQexec(conn, sql);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	PQfreemem(ident);
	PQfinish(conn);
	return ok;
}

static void admin_exec(const char *admin, const char *verb, const char *name, const char *tail)
{
	if (!admin_try(admin, verb, name, tail))
		fail_msg("%s %s%s failed on ESC_TEST_PG's server", verb, name, tail);
}

/* Production databases have a locale whose order is not the bytes' (ICU
 * en-US puts "usr_a" before "usr_B"), and the store must not depend on
 * it; servers without ICU (or before PostgreSQL 15) get the default. */
#define ICU_EN_US " TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"

static int icu_works = -1; /* not tried yet */

static void create_database(const char *admin, const char *name)
{
	if (icu_works != 0) {
		bool ok = admin_try(admin, "CREATE DATABASE", name, ICU_EN_US);
		if (icu_works < 0)
			icu_works = ok;
		if (ok)
			return;
	}
	admin_exec(admin, "CREATE DATABASE", name, "");
}

int esc_test_pg_fresh(char *url, size_t size)
{
	const char *admin = getenv("ESC_TEST_PG");
	char name[64];
	uint32_t rnd = 0;
	size_t start = 0, end = 0;
	int n = 0;

	if (!admin || !*admin)
		return -1;
	assert_int_equal(getrandom(&rnd, sizeof rnd, 0), (ssize_t)sizeof rnd);
	snprintf(name, sizeof name, "esc_test_%ld_%u_%08x", (long)getpid(), ++databases_made,
		 (unsigned)rnd);
	create_database(admin, name);
	dbname_span(admin, &start, &end);
	n = snprintf(url, size, "%.*s%s%s%s", (int)start, admin, admin[start - 1] == '/' ? "" : "/",
		     name, admin + end);
	assert_true(n > 0 && (size_t)n < size);
	return 0;
}

void esc_test_pg_drop(const char *url)
{
	const char *admin = getenv("ESC_TEST_PG");
	char name[64];
	size_t start = 0, end = 0;

	assert_non_null(admin);
	dbname_span(url, &start, &end);
	assert_true(end > start && end - start < sizeof name);
	snprintf(name, sizeof name, "%.*s", (int)(end - start), url + start);
	/* FORCE (PostgreSQL 13): a test that failed may have left a store open. */
	admin_exec(admin, "DROP DATABASE IF EXISTS", name, " WITH (FORCE)");
}
