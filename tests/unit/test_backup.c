/* test_backup.c - escrowd backup (issue 18 item 4): a SQLite store copied
 * while a daemon serves it under load, checked, and served again from the
 * copy. SQLite only: a PostgreSQL store is backed up with pg_dump, and
 * escrowd backup says so. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support.h"

#define KEY "backup-operator-key-00001"

static struct esc_test_daemon d;
static char buyer_id[64], seller_id[64], binary[300];

static void user(const char *role, const char *email, char id[64])
{
	esc_test_user(d.port, KEY, role, email, email, id, NULL);
}

/* A new order; 0 when created, with its id. No cmocka assertion: the load
 * thread calls it too. */
static int order_new(char *id, size_t size)
{
	char body[400];
	snprintf(body, sizeof body,
		 "{\"buyer_id\":\"%s\",\"seller_id\":\"%s\",\"currency\":\"EUR\","
		 "\"items\":[{\"title\":\"Backup mug\",\"quantity\":1,\"unit_price\":1500}]}",
		 buyer_id, seller_id);
	struct esc_test_reply r = esc_test_call(d.port, "POST", "/v1/orders", KEY, body);
	int rc = r.status == 201 ? 0 : -1;
	if (!rc)
		snprintf(id, size, "%s", esc_test_str(r.json, "id"));
	esc_test_reply_drop(&r);
	return rc;
}

struct load {
	atomic_bool stop;
	atomic_long created, failed;
};

static void *load_run(void *arg)
{
	struct load *l = arg;
	char id[64];
	while (!atomic_load(&l->stop)) {
		if (order_new(id, sizeof id))
			atomic_fetch_add(&l->failed, 1);
		else
			atomic_fetch_add(&l->created, 1);
	}
	return NULL;
}

static int64_t count_orders(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t n = -1;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM orders", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static int setup(void **state)
{
	(void)state;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(binary, sizeof binary, "%s/escrowd", getenv("ESC_BUILD_DIR"));
	memset(&d, 0, sizeof d);
	esc_test_tmpdir(d.dir, sizeof d.dir);
	esc_test_path(d.db, sizeof d.db, d.dir, "escrowd.db");
	esc_test_daemon_start(&d, KEY);
	user("buyer", "buyer@backup.test", buyer_id);
	user("seller", "seller@backup.test", seller_id);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	esc_test_daemon_stop(&d);
	esc_test_rmdir(d.dir);
	curl_global_cleanup();
	return 0;
}

/* Four load threads create orders all through the copy. The copy holds
 * every order created before it began, passes integrity_check and escrowd
 * check (the command runs both), and a daemon started on it serves them;
 * the daemon being copied never fails a request meanwhile. */
static void issue_18_a_store_backed_up_under_load_is_whole_and_serves_again(void **state)
{
	enum { BEFORE = 200, THREADS = 4 };
	char first[64], id[64], copy[300], out[4096], args[800], path[200];
	struct load l = {0};
	pthread_t t[THREADS];
	(void)state;
	assert_int_equal(order_new(first, sizeof first), 0);
	for (int i = 1; i < BEFORE; i++)
		assert_int_equal(order_new(id, sizeof id), 0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, load_run, &l), 0);
	while (atomic_load(&l.created) < 50)
		usleep(1000);
	esc_test_path(copy, sizeof copy, d.dir, "copy.db");
	snprintf(args, sizeof args, "backup --db '%s' --to '%s'", d.db, copy);
	int status = esc_test_run_cli(binary, NULL, args, out, sizeof out);
	long during = atomic_load(&l.created);
	atomic_store(&l.stop, true);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	if (status)
		fail_msg("escrowd backup exited %d:\n%s", status, out);
	if (!strstr(out, "integrity_check ok") || !strstr(out, "the store's invariants hold"))
		fail_msg("escrowd backup said:\n%s", out);
	assert_int_equal(atomic_load(&l.failed), 0);
	int64_t copied = count_orders(copy);
	if (copied < BEFORE || copied > BEFORE + atomic_load(&l.created))
		fail_msg("the copy holds %lld orders: %d were made before it began, %ld during it",
			 (long long)copied, BEFORE, during);
	print_message("backup: %lld orders copied while %ld were created beside it\n",
		      (long long)copied, atomic_load(&l.created));

	/* A second backup to the same name is refused: nothing overwritten. */
	status = esc_test_run_cli(binary, NULL, args, out, sizeof out);
	assert_int_equal(status, 2);
	assert_non_null(strstr(out, "exists already"));

	/* Restore: a daemon on the copy serves the orders made before it. */
	struct esc_test_daemon r = {0};
	snprintf(r.dir, sizeof r.dir, "%s", d.dir);
	snprintf(r.db, sizeof r.db, "%s", copy);
	esc_test_daemon_start(&r, KEY);
	snprintf(path, sizeof path, "/v1/orders/%s", first);
	json_t *o = esc_test_must(r.port, "GET", path, KEY, NULL, 200);
	assert_string_equal(esc_test_str(o, "status"), "awaiting_payment");
	json_decref(o);
	json_t *check = esc_test_must(r.port, "GET", "/v1/ledger/check", KEY, NULL, 200);
	assert_true(json_is_true(json_object_get(check, "ok")));
	json_decref(check);
	esc_test_daemon_stop(&r);
}

/* What escrowd backup refuses, each with a clear word and exit 2. */
static void issue_18_backup_refuses_what_it_cannot_do(void **state)
{
	char out[4096], args[800], missing[300];
	(void)state;
	esc_test_path(missing, sizeof missing, d.dir, "missing.db");
	snprintf(args, sizeof args, "backup --db '%s' --to '%s/x.db'", missing, d.dir);
	assert_int_equal(esc_test_run_cli(binary, NULL, args, out, sizeof out), 2);
	assert_non_null(strstr(out, "No such file"));
	assert_int_equal(access(missing, F_OK), -1); /* nothing created */
	snprintf(args, sizeof args, "backup --db '%s'", d.db);
	assert_int_equal(esc_test_run_cli(binary, NULL, args, out, sizeof out), 2);
	assert_non_null(strstr(out, "--to FILE is required"));
	snprintf(args, sizeof args, "backup --db postgresql://nobody@127.0.0.1:1/x --to '%s/y.db'",
		 d.dir);
	assert_int_equal(esc_test_run_cli(binary, NULL, args, out, sizeof out), 2);
	assert_non_null(strstr(out, "pg_dump"));
}

int main(void)
{
	/* SQLite only; on the PostgreSQL run there is nothing to copy. */
	const char *store = getenv("ESC_TEST_STORE");
	if (store && !strcmp(store, "postgresql"))
		return 77;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(issue_18_a_store_backed_up_under_load_is_whole_and_serves_again),
		cmocka_unit_test(issue_18_backup_refuses_what_it_cannot_do),
	};
	return cmocka_run_group_tests_name("backup", tests, setup, teardown);
}
