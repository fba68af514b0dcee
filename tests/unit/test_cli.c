/* test_cli.c - the escrowd binary as an operator runs it (SPEC §7, command
 * line): exit codes, what it prints, and what demo, check and deadlines do
 * to a real store file. The binary is $ESC_BUILD_DIR/escrowd. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <sqlite3.h>

#include "engine/demo.h"
#include "engine/engine.h"
#include "store/common.h"
#include "store/sqlite/migrations.h"
#include "store/store.h"
#include "support.h"
#include "util/error.h"

#define OUTPUT_MAX 16384

static char binary[512];

/* One demo store, made once by `escrowd demo` for the tests that read it. */
static char demo_dir[256], demo_db[300];
static int demo_status;
static char demo_output[OUTPUT_MAX];

/* Run `escrowd ARGS` through the shell with ESCROWD_DB and ESCROWD_CONFIG
 * unset unless env sets them; stdout and stderr go to out. Returns the
 * exit status. */
static int run(const char *env, const char *args, char *out, size_t size)
{
	return esc_test_run_cli(binary, env, args, out, size);
}

static int group_setup(void **state)
{
	const char *dir = getenv("ESC_BUILD_DIR");
	(void)state;
	if (!dir || !*dir) {
		fprintf(stderr, "ESC_BUILD_DIR is not set: run through meson test\n");
		return -1;
	}
	snprintf(binary, sizeof binary, "%s/escrowd", dir);
	esc_test_tmpdir(demo_dir, sizeof demo_dir);
	esc_test_path(demo_db, sizeof demo_db, demo_dir, "demo.db");
	demo_status = esc_test_run_clif(binary, NULL, demo_output, sizeof demo_output,
					"demo --db '%s'", demo_db);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (demo_dir[0])
		esc_test_rmdir(demo_dir);
	return 0;
}

/* ---- version, help, unknown commands ---- */

static void version_prints_the_name_and_exits_0(void **state)
{
	char out[OUTPUT_MAX];
	(void)state;
	assert_int_equal(run(NULL, "--version", out, sizeof out), 0);
	assert_memory_equal(out, "escrowd ", 8);
}

static void help_lists_demo_and_check(void **state)
{
	char out[OUTPUT_MAX];
	(void)state;
	assert_int_equal(run(NULL, "--help", out, sizeof out), 0);
	esc_test_contains(out, "demo");
	esc_test_contains(out, "check");
	esc_test_contains(out, "deadlines");
}

static void command_help_shows_its_usage_and_exits_0(void **state)
{
	char out[OUTPUT_MAX];
	(void)state;
	assert_int_equal(run(NULL, "check --help", out, sizeof out), 0);
	esc_test_contains(out, "escrowd check --db");
}

static void unknown_command_exits_2(void **state)
{
	char out[OUTPUT_MAX];
	(void)state;
	assert_int_equal(run(NULL, "frobnicate", out, sizeof out), 2);
	esc_test_contains(out, "unknown command 'frobnicate'");
}

static void no_command_exits_2(void **state)
{
	char out[OUTPUT_MAX];
	(void)state;
	assert_int_equal(run(NULL, "", out, sizeof out), 2);
	esc_test_contains(out, "usage");
}

/* ---- demo ---- */

static void demo_exits_0_and_prints_how_to_sign_in(void **state)
{
	(void)state;
	if (demo_status)
		fail_msg("demo exited %d:\n%s", demo_status, demo_output);
	esc_test_contains(demo_output, "password: " ESC_DEMO_PASSWORD);
	esc_test_contains(demo_output, "ana@demo.escrowd.test");
	esc_test_contains(demo_output, "knits@demo.escrowd.test");
	esc_test_contains(demo_output, "arbiter@demo.escrowd.test");
}

static void check_after_demo_says_the_invariants_hold(void **state)
{
	char out[OUTPUT_MAX];
	(void)state;
	assert_int_equal(demo_status, 0);
	int status = esc_test_run_clif(binary, NULL, out, sizeof out, "check --db '%s'", demo_db);
	if (status)
		fail_msg("check exited %d:\n%s", status, out);
	esc_test_contains(out, "the store's invariants hold");
}

static void demo_store_holds_every_state(void **state)
{
	static const enum esc_state reachable[] = {
		ESC_ST_AWAITING_PAYMENT, ESC_ST_AWAITING_SHIPMENT, ESC_ST_CANCELLATION_REQUESTED,
		ESC_ST_SHIPPED,          ESC_ST_DELIVERED,         ESC_ST_IN_DISPUTE,
		ESC_ST_COMPLETED,        ESC_ST_CANCELLED,         ESC_ST_CLOSED,
	};
	_Static_assert(sizeof reachable / sizeof reachable[0] == ESC_ST_COUNT - 1,
		       "every state but none");
	int64_t counts[ESC_ST_COUNT] = {0};
	struct esc_store *s = NULL;
	char err[300] = "";
	int rc;
	(void)state;
	assert_int_equal(demo_status, 0);
	rc = esc_store_open(demo_db, &s, err, sizeof err);
	if (rc)
		fail_msg("open %s: %s", demo_db, err);
	ESC_STORE(rc, s, orders_count, NULL, NULL, counts);
	esc_store_close(s);
	assert_int_equal(rc, 0);
	for (size_t i = 0; i < sizeof reachable / sizeof reachable[0]; i++)
		if (counts[reachable[i]] < 1)
			fail_msg("the demo has no order in state %s", esc_state_name(reachable[i]));
}

/* The argon2id cost a store's user was hashed at: "m=65536,t=2" is
 * libsodium's interactive cost, "m=8,t=1" its least. */
static void hash_of(const char *db, const char *email, char *out, size_t size)
{
	struct esc_store *s = NULL;
	struct esc_user u;
	char err[300] = "";
	int rc = esc_store_open(db, &s, err, sizeof err);
	if (rc)
		fail_msg("open %s: %s", db, err);
	ESC_STORE(rc, s, user_by_email, email, &u);
	esc_store_close(s);
	assert_int_equal(rc, 0);
	snprintf(out, size, "%s", u.password_hash);
}

/* Passwords are hashed at argon2id's interactive cost unless
 * password_hashing = minimum says otherwise, as the tests' daemons do
 * (meson.build): the demo above ran with the tests' environment. */
static void passwords_are_hashed_at_the_interactive_cost_by_default(void **state)
{
	char dir[256], db[300], out[OUTPUT_MAX], hash[ESC_HASH_SIZE];
	(void)state;
	esc_test_tmpdir(dir, sizeof dir);
	esc_test_path(db, sizeof db, dir, "default.db");
	int status = esc_test_run_clif(binary, "ESCROWD_PASSWORD_HASHING=", out, sizeof out,
				       "demo --db '%s'", db);
	if (status)
		fail_msg("demo exited %d:\n%s", status, out);
	hash_of(db, "ana@demo.escrowd.test", hash, sizeof hash);
	if (!strstr(hash, "$argon2id$") || !strstr(hash, "$m=65536,t=2,"))
		fail_msg("a default hash is not argon2id at the interactive cost: %s", hash);
	status = esc_test_run_clif(binary, "ESCROWD_PASSWORD_HASHING=fast", out, sizeof out,
				   "demo --db '%s'", db);
	assert_int_equal(status, 2);
	esc_test_contains(
		out,
		"ESCROWD_PASSWORD_HASHING: password_hashing: 'fast' is not interactive or minimum");
	esc_test_rmdir(dir);
	if (getenv("ESCROWD_PASSWORD_HASHING")) {
		hash_of(demo_db, "ana@demo.escrowd.test", hash, sizeof hash);
		if (!strstr(hash, "$m=8,t=1,"))
			fail_msg("password_hashing = minimum gave %s", hash);
	}
}

static void demo_twice_says_it_holds_the_demo_already(void **state)
{
	char out[OUTPUT_MAX];
	(void)state;
	assert_int_equal(demo_status, 0);
	int status = esc_test_run_clif(binary, NULL, out, sizeof out, "demo --db '%s'", demo_db);
	if (status)
		fail_msg("second demo exited %d:\n%s", status, out);
	esc_test_contains(out, "holds the demo marketplace already");
	esc_test_contains(out, "password: " ESC_DEMO_PASSWORD);
}

/* ---- options ---- */

static void escrowd_db_in_the_environment_replaces_db(void **state)
{
	char out[OUTPUT_MAX], env[400];
	(void)state;
	assert_int_equal(demo_status, 0);
	snprintf(env, sizeof env, "ESCROWD_DB='%s'", demo_db);
	int status = run(env, "check", out, sizeof out);
	if (status)
		fail_msg("check with ESCROWD_DB exited %d:\n%s", status, out);
	esc_test_contains(out, "the store's invariants hold");
}

static void check_without_db_exits_2_naming_db(void **state)
{
	char out[OUTPUT_MAX];
	(void)state;
	assert_int_equal(run(NULL, "check", out, sizeof out), 2);
	esc_test_contains(out, "--db");
}

static void config_with_a_bad_line_exits_2_naming_the_line(void **state)
{
	char dir[256], config[300], db[300], out[OUTPUT_MAX];
	(void)state;
	esc_test_tmpdir(dir, sizeof dir);
	esc_test_path(config, sizeof config, dir, "escrowd.conf");
	esc_test_path(db, sizeof db, dir, "escrowd.db");
	FILE *f = fopen(config, "w");
	assert_non_null(f);
	fputs("# windows\nresponse_window = 72h\nthis line has no equals sign\n", f);
	assert_int_equal(fclose(f), 0);
	int status = esc_test_run_clif(binary, NULL, out, sizeof out,
				       "check --db '%s' --config '%s'", db, config);
	esc_test_rmdir(dir);
	if (status != 2)
		fail_msg("check with a bad config exited %d:\n%s", status, out);
	esc_test_contains(out, "line 3");
}

/* A NUL byte would end the parser's text early, and the lines after it
 * would be ignored without a word: the file is refused, naming the line
 * (found by tests/fuzz's config target's review, issue 12). */
static void config_with_a_nul_byte_exits_2_naming_the_line(void **state)
{
	char dir[256], config[300], db[300], out[OUTPUT_MAX];
	static const char text[] = "fee = 5%\n\0fee = nonsense\n";
	(void)state;
	esc_test_tmpdir(dir, sizeof dir);
	esc_test_path(config, sizeof config, dir, "escrowd.conf");
	esc_test_path(db, sizeof db, dir, "escrowd.db");
	FILE *f = fopen(config, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, sizeof text - 1, f), sizeof text - 1);
	assert_int_equal(fclose(f), 0);
	int status = esc_test_run_clif(binary, NULL, out, sizeof out,
				       "check --db '%s' --config '%s'", db, config);
	esc_test_rmdir(dir);
	if (status != 2)
		fail_msg("check with a NUL in its config exited %d:\n%s", status, out);
	esc_test_contains(out, "line 2: a NUL byte");
}

/* The daemon's http. keys: an unknown key or a bad value names its line
 * and what it expects, and the policy lines around it keep their numbers. */
static void config_http_keys_are_checked(void **state)
{
	static const struct {
		const char *text, *expect;
	} cases[] = {
		{"fee = 5%\nhttp.threads = 0\n", "line 2: http.threads: '0' is not a number"},
		{"http.timeout = 30\n", "line 1: http.timeout: '30' is not a duration"},
		{"http.body_max = 2GiB\n", "http.body_max: '2GiB' is not a size"},
		{"quiet = yes\n", "line 1: quiet: 'yes' is not true or false"},
		{"db_pool = 0\n", "line 1: db_pool: '0' is not a number from 1 to 64"},
		{"db_pool = 8x\n", "line 1: db_pool: '8x' is not a number from 1 to 64"},
		{"commit_delay_us = 10001\n", "line 1: commit_delay_us: '10001' is not a number of "
					      "microseconds from 0 (no delay) "
					      "to 10000"},
		{"commit_delay_us = -1\n", "commit_delay_us: '-1' is not a number of microseconds"},
		{"writer_nice = 1\n",
		 "line 1: writer_nice: '1' is not a nice from -20 (the most favoured) to 0"},
		{"writer_nice = -21\n", "writer_nice: '-21' is not a nice from -20"},
		{"writer_nice = high\n", "writer_nice: 'high' is not a nice"},
		{"http.connection_max = 4\n", "line 1: unknown key 'http.connection_max'"},
		{"http.connections_max = 4 # fewer\nfee = 101%\n", "line 2"},
	};
	char dir[256], config[300], db[300], out[OUTPUT_MAX];
	(void)state;
	esc_test_tmpdir(dir, sizeof dir);
	esc_test_path(config, sizeof config, dir, "escrowd.conf");
	esc_test_path(db, sizeof db, dir, "escrowd.db");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		FILE *f = fopen(config, "w");
		assert_non_null(f);
		fputs(cases[i].text, f);
		assert_int_equal(fclose(f), 0);
		int status = esc_test_run_clif(binary, NULL, out, sizeof out,
					       "serve --db '%s' --config '%s'", db, config);
		if (status != 2 || !strstr(out, cases[i].expect))
			fail_msg("%s: exited %d, expected 2 and '%s':\n%s", cases[i].text, status,
				 cases[i].expect, out);
	}
	esc_test_rmdir(dir);
}

/* SPEC §7: each option also comes from the configuration file; a flag
 * wins over it. */
static void config_gives_the_options_and_flags_win(void **state)
{
	char dir[256], config[300], db[300], other[300], out[OUTPUT_MAX];
	(void)state;
	esc_test_tmpdir(dir, sizeof dir);
	esc_test_path(config, sizeof config, dir, "escrowd.conf");
	esc_test_path(db, sizeof db, dir, "from-config.db");
	esc_test_path(other, sizeof other, dir, "from-flag.db");
	FILE *f = fopen(config, "w");
	assert_non_null(f);
	fprintf(f, "db = %s\nquiet = true\n", db);
	assert_int_equal(fclose(f), 0);
	int status = esc_test_run_clif(binary, NULL, out, sizeof out, "demo --config '%s'", config);
	if (status != 0)
		fail_msg("demo with db from the config exited %d:\n%s", status, out);
	assert_int_equal(access(db, F_OK), 0);
	status = esc_test_run_clif(binary, NULL, out, sizeof out, "check --config '%s' --db '%s'",
				   config, other);
	assert_int_equal(status, 1); /* the flag's store, which does not exist */
	esc_test_contains(out, "from-flag.db");
	status = esc_test_run_clif(binary, NULL, out, sizeof out, "check --config '%s'", config);
	assert_int_equal(status, 0);
	esc_test_contains(out, "the store's invariants hold");
	esc_test_rmdir(dir);
}

static void db_takes_a_sqlite_url(void **state)
{
	char out[OUTPUT_MAX];
	(void)state;
	assert_int_equal(demo_status, 0);
	int status =
		esc_test_run_clif(binary, NULL, out, sizeof out, "check --db 'sqlite:%s'", demo_db);
	if (status)
		fail_msg("check --db sqlite:PATH exited %d:\n%s", status, out);
	esc_test_contains(out, "the store's invariants hold");
}

/* ---- check on a missing or damaged store ---- */

/* migrate creates or brings a store to this version's schema, says which
 * it did, and says why when it cannot reach one. */
static void migrate_prepares_a_store_and_names_a_failure(void **state)
{
	char dir[256], db[300], out[OUTPUT_MAX], said[200];
	(void)state;
	esc_test_tmpdir(dir, sizeof dir);
	esc_test_path(db, sizeof db, dir, "escrowd.db");
	int status = esc_test_run_clif(binary, NULL, out, sizeof out, "migrate --db '%s'", db);
	if (status != 0)
		fail_msg("migrate exited %d:\n%s", status, out);
	snprintf(said, sizeof said, "made a new sqlite store at schema version %d\n",
		 esc_sqlite_schema_version());
	esc_test_contains(out, said);
	status = esc_test_run_clif(binary, NULL, out, sizeof out, "migrate --db '%s'",
				   db); /* again: nothing to do */
	assert_int_equal(status, 0);
	snprintf(said, sizeof said,
		 "the sqlite store is at schema version %d, this version's: nothing to migrate\n",
		 esc_sqlite_schema_version());
	esc_test_contains(out, said);
	status = esc_test_run_clif(binary, NULL, out, sizeof out, "check --db '%s'", db);
	assert_int_equal(status, 0);
	status = esc_test_run_clif(binary, NULL, out, sizeof out,
				   "migrate --db '%s/no/such/dir/x.db'", dir);
	esc_test_rmdir(dir);
	assert_int_equal(status, 1);
	esc_test_contains(out, "escrowd migrate: cannot migrate");
}

/* migrate on a store two steps behind says from which version to which
 * it took it. */
static void migrate_says_from_which_version_it_took_an_older_store(void **state)
{
	const char *before[64];
	char dir[256], path[300], err[256] = "", out[OUTPUT_MAX], said[200];
	sqlite3 *db = NULL;
	int n = esc_migrations_count(esc_migrations_shared), version = esc_sqlite_schema_version();
	(void)state;
	assert_true(n >= 2 && n - 2 < 64);
	for (int i = 0; i < n - 2; i++)
		before[i] = esc_migrations_shared[i];
	before[n - 2] = NULL;
	esc_test_tmpdir(dir, sizeof dir);
	esc_test_path(path, sizeof path, dir, "escrowd.db");
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	int rc = esc_sqlite_migrate_with(db, before, NULL, err, sizeof err);
	sqlite3_close(db);
	if (rc) {
		esc_test_rmdir(dir);
		fail_msg("the older store: %s", err);
	}
	int status = esc_test_run_clif(binary, NULL, out, sizeof out, "migrate --db '%s'", path);
	esc_test_rmdir(dir);
	if (status != 0)
		fail_msg("migrate exited %d:\n%s", status, out);
	snprintf(said, sizeof said,
		 "migrated the sqlite store from schema version %d to %d (2 steps)\n", version - 2,
		 version);
	esc_test_contains(out, said);
}

/* A mistyped path is not a store: check (whose invariants would hold on an
 * empty one), deadlines (which would fire nothing) and keys (whose key no
 * daemon would serve) say there is no store there, exit 1, and leave no
 * new file behind. */
static void check_on_a_missing_store_fails_and_creates_nothing(void **state)
{
	static const char *const commands[] = {"check", "deadlines", "keys list",
					       "keys create --name ops", "keys revoke --name ops"};
	char dir[256], path[300], out[OUTPUT_MAX], said[700];
	(void)state;
	esc_test_tmpdir(dir, sizeof dir);
	esc_test_path(path, sizeof path, dir, "typo.db");
	snprintf(said, sizeof said, "no store at %s (escrowd migrate --db %s makes one)", path,
		 path);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		int status = esc_test_run_clif(binary, NULL, out, sizeof out, "%s --db '%s'",
					       commands[i], path);
		FILE *f = fopen(path, "rb");
		bool created = f != NULL;
		if (f)
			fclose(f);
		if (status != 1 || created || !strstr(out, said)) {
			esc_test_rmdir(dir);
			fail_msg("%s on a missing store exited %d and %s the file:\n%s",
				 commands[i], status, created ? "created" : "did not create", out);
		}
	}
	esc_test_rmdir(dir);
}

static void check_on_a_broken_ledger_exits_1_naming_the_invariant(void **state)
{
	struct esc_fixture f;
	sqlite3 *db = NULL;
	char *why = NULL, out[OUTPUT_MAX];
	(void)state;
	esc_fixture_init(&f);
	struct esc_order o = esc_fixture_order(&f, &f.buyer, &f.seller, 4200);
	esc_fixture_pay(&f, &o, ESC_METHOD_CARD);
	esc_engine_free(f.e);
	f.e = NULL;

	/* One leg of the payment grows by 1: the currency no longer sums to 0. */
	assert_int_equal(sqlite3_open(f.db, &db), SQLITE_OK);
	int rc = sqlite3_exec(db,
			      "UPDATE entries SET amount_minor = amount_minor + 1 WHERE "
			      "(transfer_id, leg) = (SELECT transfer_id, leg FROM entries "
			      "ORDER BY transfer_id, leg LIMIT 1)",
			      NULL, NULL, &why);
	if (rc != SQLITE_OK)
		fail_msg("update: %s", why ? why : "?");
	assert_int_equal(sqlite3_changes(db), 1);
	sqlite3_close(db);

	int status = esc_test_run_clif(binary, NULL, out, sizeof out, "check --db '%s'", f.db);
	esc_test_rmdir(f.dir);
	if (status != 1)
		fail_msg("check on a broken ledger exited %d:\n%s", status, out);
	esc_test_contains(out, "BROKEN transfers_sum_to_zero");
	esc_test_contains(out,
			  "the store's invariants are BROKEN: 2 problems (transfers_sum_to_zero, "
			  "transfer_legs)");
}

/* ---- deadlines ---- */

/* 2020-01-01T00:00:00Z: an order created then is long past its payment
 * deadline on the real clock that the command line uses. */
#define LONG_AGO INT64_C(1577836800000)

static void deadlines_prints_how_many_fired(void **state)
{
	struct esc_engine_options opt = {
		.manual_clock = true, .manual_start_ms = LONG_AGO, .fast_password_hashing = true};
	char dir[256], path[300], err[300] = "", out[OUTPUT_MAX];
	struct esc_engine *e = NULL;
	struct esc_user buyer, seller;
	struct esc_command c;
	struct esc_result r;
	struct esc_item item = {.quantity = 1, .unit_price_minor = 990};
	(void)state;

	esc_test_tmpdir(dir, sizeof dir);
	esc_test_path(path, sizeof path, dir, "escrowd.db");
	assert_int_equal(esc_engine_open(&e, path, NULL, &opt, err, sizeof err), 0);
	assert_int_equal(esc_engine_user_create(e, ESC_ACTOR_BUYER, "B", "b@example.test",
						"password-1", &buyer),
			 0);
	assert_int_equal(esc_engine_user_create(e, ESC_ACTOR_SELLER, "S", "s@example.test",
						"password-2", &seller),
			 0);
	snprintf(item.title, sizeof item.title, "Old order");
	esc_command_init(&c, ESC_EV_CREATE, ESC_ACTOR_OPERATOR, NULL, NULL);
	c.args.buyer_id = buyer.id;
	c.args.seller_id = seller.id;
	c.args.currency = "EUR";
	c.args.items = &item;
	c.args.items_count = 1;
	assert_int_equal(esc_engine_exec(e, &c, &r), 0);
	esc_engine_free(e);

	int status = esc_test_run_clif(binary, NULL, out, sizeof out, "deadlines --db '%s'", path);
	if (status)
		fail_msg("deadlines exited %d:\n%s", status, out);
	esc_test_contains(out, "1 deadlines fired");
	/* Fired once, never twice. */
	status = esc_test_run_clif(binary, NULL, out, sizeof out, "deadlines --db '%s'", path);
	esc_test_rmdir(dir);
	assert_int_equal(status, 0);
	esc_test_contains(out, "0 deadlines fired");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(version_prints_the_name_and_exits_0),
		cmocka_unit_test(help_lists_demo_and_check),
		cmocka_unit_test(command_help_shows_its_usage_and_exits_0),
		cmocka_unit_test(unknown_command_exits_2),
		cmocka_unit_test(no_command_exits_2),
		cmocka_unit_test(demo_exits_0_and_prints_how_to_sign_in),
		cmocka_unit_test(check_after_demo_says_the_invariants_hold),
		cmocka_unit_test(demo_store_holds_every_state),
		cmocka_unit_test(passwords_are_hashed_at_the_interactive_cost_by_default),
		cmocka_unit_test(demo_twice_says_it_holds_the_demo_already),
		cmocka_unit_test(escrowd_db_in_the_environment_replaces_db),
		cmocka_unit_test(check_without_db_exits_2_naming_db),
		cmocka_unit_test(config_with_a_bad_line_exits_2_naming_the_line),
		cmocka_unit_test(config_with_a_nul_byte_exits_2_naming_the_line),
		cmocka_unit_test(config_http_keys_are_checked),
		cmocka_unit_test(config_gives_the_options_and_flags_win),
		cmocka_unit_test(db_takes_a_sqlite_url),
		cmocka_unit_test(check_on_a_missing_store_fails_and_creates_nothing),
		cmocka_unit_test(migrate_prepares_a_store_and_names_a_failure),
		cmocka_unit_test(migrate_says_from_which_version_it_took_an_older_store),
		cmocka_unit_test(check_on_a_broken_ledger_exits_1_naming_the_invariant),
		cmocka_unit_test(deadlines_prints_how_many_fired),
	};
	return cmocka_run_group_tests_name("cli", tests, group_setup, group_teardown);
}
