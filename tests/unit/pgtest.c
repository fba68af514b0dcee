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

/* A database name of this process's own. */
static void new_name(char *name, size_t size)
{
	uint32_t rnd = 0;

	assert_int_equal(getrandom(&rnd, sizeof rnd, 0), (ssize_t)sizeof rnd);
	snprintf(name, size, "esc_test_%ld_%u_%08x", (long)getpid(), ++databases_made,
		 (unsigned)rnd);
}

/* ESC_TEST_PG's URL naming the database name instead. */
static void url_of(char *url, size_t size, const char *admin, const char *name)
{
	size_t start = 0, end = 0;
	int n = 0;

	dbname_span(admin, &start, &end);
	n = snprintf(url, size, "%.*s%s%s%s", (int)start, admin, admin[start - 1] == '/' ? "" : "/",
		     name, admin + end);
	assert_true(n > 0 && (size_t)n < size);
}

/* The database name of a URL made here. */
static void name_of(char *name, size_t size, const char *url)
{
	size_t start = 0, end = 0;

	dbname_span(url, &start, &end);
	assert_true(end > start && end - start < size);
	snprintf(name, size, "%.*s", (int)(end - start), url + start);
}

int esc_test_pg_fresh(char *url, size_t size)
{
	const char *admin = getenv("ESC_TEST_PG");
	char name[64];

	if (!admin || !*admin)
		return -1;
	new_name(name, sizeof name);
	create_database(admin, name);
	url_of(url, size, admin, name);
	return 0;
}

struct esc_test_pg_copier {
	PGconn *conn;   /* ESC_TEST_PG's, making the next copy */
	char sql[256];  /* CREATE DATABASE "%s" TEMPLATE "template" */
	char ahead[64]; /* the copy being made */
	char admin[512];
};

/* Start making the next copy, and return. */
static void copy_ahead(struct esc_test_pg_copier *c)
{
	char sql[512], *ident = NULL;

	new_name(c->ahead, sizeof c->ahead);
	ident = PQescapeIdentifier(c->conn, c->ahead, strlen(c->ahead));
	assert_non_null(ident);
	snprintf(sql, sizeof sql, c->sql, ident);
	PQfreemem(ident);
	if (!PQsendQuery(c->conn, sql))
		fail_msg("CREATE DATABASE ... TEMPLATE: %s", PQerrorMessage(c->conn));
}

/* Wait for the copy being made; its name stays in c->ahead. */
static void copy_wait(struct esc_test_pg_copier *c)
{
	PGresult *res = NULL;
	bool ok = true;

	while ((res = PQgetResult(c->conn))) {
		ok &= PQresultStatus(res) == PGRES_COMMAND_OK;
		PQclear(res);
	}
	if (!ok)
		fail_msg("CREATE DATABASE %s failed: %s", c->ahead, PQerrorMessage(c->conn));
}

struct esc_test_pg_copier *esc_test_pg_copier_new(const char *template_url)
{
	const char *admin = getenv("ESC_TEST_PG");
	struct esc_test_pg_copier *c = NULL;
	char template_name[64], *ident = NULL;

	if (!admin || !*admin)
		return NULL;
	c = calloc(1, sizeof *c);
	assert_non_null(c);
	snprintf(c->admin, sizeof c->admin, "%s", admin);
	name_of(template_name, sizeof template_name, template_url);
	c->conn = PQconnectdb(admin);
	if (PQstatus(c->conn) != CONNECTION_OK)
		fail_msg("cannot connect to ESC_TEST_PG: %s", PQerrorMessage(c->conn));
	ident = PQescapeIdentifier(c->conn, template_name, strlen(template_name));
	assert_non_null(ident);
	/* PostgreSQL 15's default strategy, WAL_LOG, copies the blocks through
	 * the WAL, where FILE_COPY would checkpoint twice: what all the tests
	 * sharing the server have written, each time. */
	snprintf(c->sql, sizeof c->sql, "CREATE DATABASE %%s TEMPLATE %s", ident);
	PQfreemem(ident);
	copy_ahead(c);
	return c;
}

void esc_test_pg_copy(struct esc_test_pg_copier *c, char *url, size_t size)
{
	copy_wait(c);
	url_of(url, size, c->admin, c->ahead);
	copy_ahead(c);
}

void esc_test_pg_copier_free(struct esc_test_pg_copier *c)
{
	char name[64];

	if (!c)
		return;
	copy_wait(c);
	snprintf(name, sizeof name, "%s", c->ahead);
	PQfinish(c->conn);
	admin_exec(c->admin, "DROP DATABASE IF EXISTS", name, "");
	free(c);
}

void esc_test_pg_drop(const char *url)
{
	const char *admin = getenv("ESC_TEST_PG");
	char name[64];

	assert_non_null(admin);
	name_of(name, sizeof name, url);
	/* FORCE (PostgreSQL 13): a test that failed may have left a store open. */
	admin_exec(admin, "DROP DATABASE IF EXISTS", name, " WITH (FORCE)");
}
