/* test_keys.c - operator keys (issue 18 item 7): `escrowd keys create`
 * shows a key's secret once, `list` shows each key's times and never a
 * secret, `revoke` makes every daemon on the store refuse the key at its
 * next request. Two daemons serve one store (on PostgreSQL, as several
 * daemons of a cluster do; on SQLite, two processes on one file). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

#define KEY "keys-operator-key-00001"

static struct esc_test_daemon a, b;
static char binary[300];

/* escrowd keys ARGS on the daemons' store: its exit status, its output in
 * out. */
static int keys(const char *args, char *out, size_t size)
{
	char line[1200];
	snprintf(line, sizeof line, "keys %s --db '%s'", args, a.db);
	return esc_test_run_cli(binary, NULL, line, out, size);
}

/* A new key named name: its secret and id, from create's output. */
static void create(const char *name, char secret[80], char id[64])
{
	char out[4096], args[300];
	snprintf(args, sizeof args, "create --name '%s'", name);
	if (keys(args, out, sizeof out))
		fail_msg("escrowd keys create failed:\n%s", out);
	const char *s = strstr(out, "secret: "), *i = strstr(out, "id: ");
	assert_non_null(s);
	assert_non_null(i);
	assert_int_equal(sscanf(s, "secret: %79s", secret), 1);
	assert_int_equal(sscanf(i, "id: %63s", id), 1);
	assert_int_equal(strncmp(secret, "esk_", 4), 0);
	assert_int_equal(strncmp(id, "key_", 4), 0);
}

static long status_of(const struct esc_test_daemon *d, const char *token)
{
	struct esc_test_reply r = esc_test_call(d->port, "GET", "/v1/ledger/check", token, NULL);
	long status = r.status;
	esc_test_reply_drop(&r);
	return status;
}

static int setup(void **state)
{
	(void)state;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(binary, sizeof binary, "%s/escrowd", getenv("ESC_BUILD_DIR"));
	memset(&a, 0, sizeof a);
	esc_test_tmpdir(a.dir, sizeof a.dir);
	esc_test_store(a.db, sizeof a.db, a.dir);
	esc_test_daemon_start(&a, KEY);
	b = a;
	b.pid = 0;
	b.port = 0;
	esc_test_daemon_start(&b, KEY);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	esc_test_daemon_stop(&b);
	esc_test_daemon_stop(&a);
	esc_test_store_drop(a.db);
	esc_test_rmdir(a.dir);
	curl_global_cleanup();
	return 0;
}

/* create prints the secret once; the key works on both daemons; list
 * names it with its id and times, never a secret, beside the key
 * --operator-key installed. */
static void issue_18_a_created_key_is_shown_once_and_serves(void **state)
{
	char secret[80], id[64], out[8192];
	(void)state;
	create("ci deploy", secret, id);
	assert_int_equal(status_of(&a, secret), 200);
	assert_int_equal(status_of(&b, secret), 200);
	assert_int_equal(keys("list", out, sizeof out), 0);
	assert_non_null(strstr(out, id));
	assert_non_null(strstr(out, "ci deploy"));
	assert_non_null(strstr(out, "operator-key (from --operator-key)"));
	assert_null(strstr(out, secret));
	assert_null(strstr(out, "esk_"));
	/* Its last use is written (the first use, and then at most once a
	 * minute): its row shows a time in the LAST USED column. */
	const char *row = strstr(out, id);
	char created[40] = "", used[40] = "";
	assert_int_equal(sscanf(row, "%*s %39s %39s", created, used), 2);
	assert_int_equal(strncmp(used, "20", 2), 0);
}

/* A key revoked on the command line is refused by every daemon on the
 * store at its next request: no cache to wait for. The other keys still
 * serve. */
static void issue_18_a_revoked_key_is_refused_at_once_by_every_daemon(void **state)
{
	char secret[80], id[64], out[4096], args[200];
	(void)state;
	create("to revoke", secret, id);
	assert_int_equal(status_of(&a, secret), 200);
	assert_int_equal(status_of(&b, secret), 200);
	snprintf(args, sizeof args, "revoke --id %s", id);
	if (keys(args, out, sizeof out))
		fail_msg("escrowd keys revoke failed:\n%s", out);
	assert_int_equal(status_of(&a, secret), 401);
	assert_int_equal(status_of(&b, secret), 401);
	assert_int_equal(status_of(&a, KEY), 200);
	assert_int_equal(status_of(&b, KEY), 200);
	/* Again: it says when it was revoked, and exits 1. */
	assert_int_equal(keys(args, out, sizeof out), 1);
	assert_non_null(strstr(out, "revoked already"));
}

/* revoke takes a name when one active key has it. */
static void issue_18_a_key_is_revoked_by_its_name(void **state)
{
	char secret[80], id[64], other[80], other_id[64], out[4096];
	(void)state;
	create("twin", secret, id);
	create("twin", other, other_id);
	assert_int_equal(keys("revoke --name twin", out, sizeof out), 1);
	assert_non_null(strstr(out, "several active keys"));
	assert_int_equal(status_of(&a, secret), 200);
	char args[200];
	snprintf(args, sizeof args, "revoke --id %s", id);
	assert_int_equal(keys(args, out, sizeof out), 0);
	assert_int_equal(keys("revoke --name twin", out, sizeof out), 0);
	assert_non_null(strstr(out, other_id));
	assert_int_equal(status_of(&b, other), 401);
}

static void issue_18_keys_refuses_what_it_cannot_do(void **state)
{
	char out[4096];
	(void)state;
	assert_int_equal(keys("create", out, sizeof out), 2);
	assert_non_null(strstr(out, "--name NAME is required"));
	assert_int_equal(keys("revoke", out, sizeof out), 2);
	assert_non_null(strstr(out, "give --id ID or --name NAME"));
	assert_int_equal(keys("revoke --id key_none", out, sizeof out), 1);
	assert_non_null(strstr(out, "no key is key_none"));
	assert_int_equal(keys("rotate", out, sizeof out), 2);
	assert_int_equal(esc_test_run_cli(binary, NULL, "keys --help", out, sizeof out), 0);
	assert_non_null(strstr(out, "escrowd keys create --db URL --name NAME"));
}

int main(void)
{
	esc_test_store_or_skip("keys");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(issue_18_a_created_key_is_shown_once_and_serves),
		cmocka_unit_test(issue_18_a_revoked_key_is_refused_at_once_by_every_daemon),
		cmocka_unit_test(issue_18_a_key_is_revoked_by_its_name),
		cmocka_unit_test(issue_18_keys_refuses_what_it_cannot_do),
	};
	return cmocka_run_group_tests_name("keys", tests, setup, teardown);
}
