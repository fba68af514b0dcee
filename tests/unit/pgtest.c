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

/* This process's connection to ESC_TEST_PG, made once: a connection
 * costs a new server process, and the tests make and drop a database
 * each, hundreds a suite. */
static PGconn *admin_conn;
static pid_t admin_pid;

/* DROP DATABASE sent and not waited for, on a connection of its own: the
 * test goes on while the server removes the files (a fifth of a
 * test_faults round on PostgreSQL was the drop). The next drop, and the
 * process's exit, wait for it. */
static PGconn *drop_conn;
static bool drop_pending;

static PGconn *connect_admin(const char *admin)
{
	PGconn *conn = PQconnectdb(admin);

	if (PQstatus(conn) != CONNECTION_OK)
		fail_msg("cannot connect to ESC_TEST_PG: %s", PQerrorMessage(conn));
	return conn;
}

/* Wait for the drop sent last, if any; a failure is said, not fatal (at
 * exit there is no test to fail), and leaves a database behind. */
static void drop_wait(void)
{
	PGresult *res = NULL;

	if (!drop_pending)
		return;
	drop_pending = false;
	while ((res = PQgetResult(drop_conn))) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			fprintf(stderr, "pgtest: DROP DATABASE failed: %s",
				PQresultErrorMessage(res));
		PQclear(res);
	}
}

/* At exit, in the process that made the connections (a forked child
 * shares their sockets and leaves them alone). */
static void admin_close(void)
{
	if (getpid() != admin_pid)
		return;
	drop_wait();
	PQfinish(drop_conn);
	PQfinish(admin_conn);
	drop_conn = admin_conn = NULL;
}

static void admin_open(const char *admin)
{
	if (admin_conn && admin_pid == getpid())
		return;
	admin_conn = connect_admin(admin);
	drop_conn = connect_admin(admin);
	drop_pending = false;
	if (!admin_pid)
		atexit(admin_close);
	admin_pid = getpid();
}

/* `verb "name"tail` as SQL, the name quoted. */
static void admin_sql(char *sql, size_t size, const char *verb, const char *name, const char *tail)
{
	char *ident = PQescapeIdentifier(admin_conn, name, strlen(name));

	assert_non_null(ident);
	snprintf(sql, size, "%s %s%s", verb, ident, tail);
	PQfreemem(ident);
}

/* Run `verb "name"tail` on the admin connection: true when it worked.
 * Any other failure than the server's refusal fails the test. */
static bool admin_try(const char *admin, const char *verb, const char *name, const char *tail)
{
	char sql[256];
	PGresult *res = NULL;
	bool ok = false;

	admin_open(admin);
	if (PQstatus(admin_conn) != CONNECTION_OK)
		fail_msg("the connection to ESC_TEST_PG broke: %s", PQerrorMessage(admin_conn));
	admin_sql(sql, sizeof sql, verb, name, tail);
	res = PQexec(admin_conn, sql);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	return ok;
}

static void admin_exec(const char *admin, const char *verb, const char *name, const char *tail)
{
	if (!admin_try(admin, verb, name, tail))
		fail_msg("%s %s%s failed on ESC_TEST_PG's server", verb, name, tail);
}

/* Production databases have a locale whose order is not the bytes' (ICU
 * en-US puts "usr_a" before "usr_B"), and the store must not depend on
 * it; servers without ICU (or before PostgreSQL 15) get the default.
 * STRATEGY, PostgreSQL 15's too: FILE_COPY, see esc_test_pg_copier_new. */
#define ICU_EN_US " TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' STRATEGY FILE_COPY"

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
	/* FILE_COPY where the server has it (as ICU, PostgreSQL 15), not its
	 * default WAL_LOG, which writes every block of the copy through the
	 * WAL: on make test's server (fsync off, its files in memory) the two
	 * checkpoints FILE_COPY asks for cost less. faults-pg, copying its
	 * start state 500 times, took 99 s with WAL_LOG and 85 s with
	 * FILE_COPY. */
	snprintf(c->sql, sizeof c->sql, "CREATE DATABASE %%s TEMPLATE %s%s", ident,
		 icu_works > 0 ? " STRATEGY FILE_COPY" : "");
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
	char name[64], sql[256];

	assert_non_null(admin);
	name_of(name, sizeof name, url);
	admin_open(admin);
	drop_wait();
	/* FORCE (PostgreSQL 13): a test that failed may have left a store open. */
	admin_sql(sql, sizeof sql, "DROP DATABASE IF EXISTS", name, " WITH (FORCE)");
	if (!PQsendQuery(drop_conn, sql))
		fail_msg("DROP DATABASE %s: %s", name, PQerrorMessage(drop_conn));
	drop_pending = true;
}
