/* test_mode.c - production mode (SPEC §8, issue 18 item 6): mode =
 * production, the default, refuses `escrowd serve --clock manual` (exit 2,
 * saying to set mode = test) and answers POST /v1/clock/advance with 403
 * production_mode; mode = test, from the flag, the environment or the
 * configuration file, allows both. Real daemons on a real store (SQLite,
 * or PostgreSQL in the -pg variant); meson's test_env sets
 * ESCROWD_MODE=test, which each test here unsets or sets itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

#define KEY "mode-test-operator-key-01"

static char binary[300], dir[256], db[300], config_test[300], config_production[300],
	config_bad[300];

/* A daemon started here: its pid and port, and its log up to the moment it
 * listened (or all of it, when it exited instead). */
struct daemon {
	int pid;
	int port;
	int status; /* the exit status, when it did not start */
	char log[8192];
};

/* Start `escrowd serve --db DB --listen 127.0.0.1:0 --operator-key KEY
 * ARGS...` with ESCROWD_MODE set to mode (NULL: unset). true when it
 * listens; false when it exited first, with its exit status in d->status. */
static bool start(struct daemon *d, const char *mode, const char *const *args)
{
	const char *argv[24] = {binary,     "serve",       "--db",           db,
				"--listen", "127.0.0.1:0", "--operator-key", KEY};
	size_t n = 8;
	for (; args && *args; args++) {
		assert_true(n < sizeof argv / sizeof argv[0] - 1);
		argv[n++] = *args;
	}
	argv[n] = NULL;
	int fds[2];
	memset(d, 0, sizeof *d);
	assert_int_equal(pipe(fds), 0);
	d->pid = fork();
	assert_true(d->pid >= 0);
	if (d->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		if (mode)
			setenv("ESCROWD_MODE", mode, 1);
		else
			unsetenv("ESCROWD_MODE");
		execv(binary, (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	FILE *f = fdopen(fds[0], "r");
	assert_non_null(f);
	const char *mark = "listening on http://127.0.0.1:";
	char line[2048];
	size_t len = 0;
	while (fgets(line, sizeof line, f)) {
		snprintf(d->log + len, sizeof d->log - len, "%s", line);
		len = strlen(d->log);
		const char *p = strstr(line, mark);
		if (p) {
			d->port = atoi(p + strlen(mark));
			pthread_t drain;
			assert_int_equal(pthread_create(&drain, NULL, esc_test_drain_log, f), 0);
			pthread_detach(drain);
			return true;
		}
	}
	fclose(f);
	int status = 0;
	assert_int_equal(waitpid(d->pid, &status, 0), d->pid);
	assert_true(WIFEXITED(status));
	d->status = WEXITSTATUS(status);
	d->pid = 0;
	return false;
}

static void stop(struct daemon *d)
{
	int status = 0;
	kill(d->pid, SIGTERM);
	assert_int_equal(waitpid(d->pid, &status, 0), d->pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void must_start(struct daemon *d, const char *mode, const char *const *args)
{
	if (!start(d, mode, args))
		fail_msg("escrowd serve exited %d:\n%s", d->status, d->log);
}

/* The daemon refuses to start: exit 2 and why. */
static void refused(const char *mode, const char *const *args, const char *why)
{
	struct daemon d;
	if (start(&d, mode, args)) {
		stop(&d);
		fail_msg("escrowd serve started (mode %s), but should have exited 2 with \"%s\"",
			 mode ? mode : "unset", why);
	}
	if (d.status != 2)
		fail_msg("escrowd serve exited %d, not 2:\n%s", d.status, d.log);
	esc_test_contains(d.log, why);
}

static int setup(void **state)
{
	(void)state;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(binary, sizeof binary, "%s/escrowd", getenv("ESC_BUILD_DIR"));
	esc_test_tmpdir(dir, sizeof dir);
	esc_test_store(db, sizeof db, dir);
	esc_test_path(config_test, sizeof config_test, dir, "test.conf");
	esc_test_path(config_production, sizeof config_production, dir, "production.conf");
	esc_test_path(config_bad, sizeof config_bad, dir, "bad.conf");
	esc_test_write_file(config_test, "mode = test\n");
	esc_test_write_file(config_production, "mode = production\n");
	esc_test_write_file(config_bad, "mode = staging\n");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	esc_test_store_drop(db);
	esc_test_rmdir(dir);
	curl_global_cleanup();
	return 0;
}

static const char *const manual[] = {"--clock", "manual", NULL};
#define WHY_MANUAL "set mode = test in the config (or --mode test, ESCROWD_MODE=test)"

/* With no mode anywhere, or production said by the flag, the environment
 * or the file, --clock manual is refused, whichever way it came. */
static void issue_18_production_is_the_default_and_refuses_a_manual_clock(void **state)
{
	(void)state;
	refused(NULL, manual, WHY_MANUAL);
	refused(NULL, manual, "--clock manual is for tests and demos");
	refused(NULL, manual, "runs in production mode (the default)");
	refused(NULL, (const char *const[]){"--mode", "production", "--clock", "manual", NULL},
		WHY_MANUAL);
	refused("production", manual, WHY_MANUAL);
	refused(NULL,
		(const char *const[]){"--config", config_production, "--clock", "manual", NULL},
		WHY_MANUAL);
	/* ESCROWD_CLOCK and clock = in the file are the same request. */
	char config[300];
	esc_test_path(config, sizeof config, dir, "clock.conf");
	esc_test_write_file(config, "clock = manual\n");
	refused(NULL, (const char *const[]){"--config", config, NULL}, WHY_MANUAL);
}

/* A mode that is neither production nor test is named, and the way to
 * say it right is given, from each of the three places. */
static void issue_18_a_bad_mode_is_a_clear_error(void **state)
{
	(void)state;
	refused(NULL, (const char *const[]){"--mode", "prod", NULL},
		"--mode: mode: 'prod' is neither production (the default) nor test (which "
		"allows --clock manual, for tests only)");
	refused("Test", NULL, "ESCROWD_MODE: mode: 'Test' is neither production");
	refused(NULL, (const char *const[]){"--config", config_bad, NULL},
		"bad.conf: line 1: mode: 'staging' is neither production");
	char out[4096];
	int rc = esc_test_run_cli(binary, "ESCROWD_MODE=x", "demo --db /nonexistent/d.db", out,
				  sizeof out);
	assert_int_equal(rc, 2);
	esc_test_contains(out, "escrowd demo: ESCROWD_MODE: mode: 'x' is neither production");
}

/* An advance that must answer status, with code when not 200. */
static void advance(const struct daemon *d, long status, const char *code)
{
	json_t *j = esc_test_must(d->port, "POST", "/v1/clock/advance", KEY, "{\"seconds\": 60}",
				  status);
	if (code) {
		json_t *err = json_object_get(j, "error");
		assert_string_equal(esc_test_str(err, "code"), code);
	} else {
		assert_non_null(json_object_get(j, "now"));
	}
	json_decref(j);
}

static void healthz_says(const struct daemon *d, const char *mode)
{
	json_t *j = esc_test_must(d->port, "GET", "/healthz", "", NULL, 200);
	assert_string_equal(esc_test_str(j, "status"), "ok");
	assert_string_equal(esc_test_str(j, "mode"), mode);
	json_decref(j);
}

/* mode = test from the flag, the environment or the file: the manual
 * clock runs and POST /v1/clock/advance moves it. */
static void issue_18_test_mode_allows_a_manual_clock(void **state)
{
	struct daemon d;
	(void)state;
	must_start(&d, NULL, (const char *const[]){"--mode", "test", "--clock", "manual", NULL});
	esc_test_contains(d.log,
			  "mode = test: --clock manual and POST /v1/clock/advance are allowed");
	esc_test_contains(d.log, "manual clock: time moves only through POST /v1/clock/advance");
	healthz_says(&d, "test");
	advance(&d, 200, NULL);
	stop(&d);

	must_start(&d, "test", manual);
	advance(&d, 200, NULL);
	stop(&d);

	must_start(&d, NULL,
		   (const char *const[]){"--config", config_test, "--clock", "manual", NULL});
	healthz_says(&d, "test");
	advance(&d, 200, NULL);
	stop(&d);
}

/* A flag wins over the environment, which wins over the file. */
static void issue_18_the_mode_flag_wins_over_the_environment_over_the_file(void **state)
{
	struct daemon d;
	(void)state;
	refused("production",
		(const char *const[]){"--config", config_test, "--clock", "manual", NULL},
		WHY_MANUAL);
	must_start(&d, "test",
		   (const char *const[]){"--config", config_production, "--clock", "manual", NULL});
	stop(&d);
	must_start(&d, "production",
		   (const char *const[]){"--mode", "test", "--clock", "manual", NULL});
	stop(&d);
	refused("test", (const char *const[]){"--mode", "production", "--clock", "manual", NULL},
		WHY_MANUAL);
}

/* A production daemon serves on the real clock; its advance is refused
 * with production_mode and a hint, whatever the body, and /healthz says
 * the mode. */
static void issue_18_a_production_daemon_refuses_clock_advance(void **state)
{
	struct daemon d;
	(void)state;
	must_start(&d, NULL, NULL);
	esc_test_contains(d.log, "mode = production: the clock is real");
	healthz_says(&d, "production");
	struct esc_test_reply r =
		esc_test_call(d.port, "POST", "/v1/clock/advance", KEY, "{\"seconds\": 60}");
	assert_int_equal(r.status, 403);
	json_t *err = json_object_get(r.json, "error");
	assert_string_equal(esc_test_str(err, "code"), "production_mode");
	esc_test_contains(esc_test_str(err, "message"), "the daemon runs in production mode");
	esc_test_contains(esc_test_str(err, "hint"), "mode = test");
	esc_test_contains(esc_test_str(err, "hint"), "--clock manual");
	esc_test_reply_drop(&r);
	/* Not a question of the body: refused before it is read. */
	json_decref(esc_test_must(d.port, "POST", "/v1/clock/advance", KEY, "{\"years\": 1}", 403));
	/* The operator's other routes serve as ever. */
	json_decref(esc_test_must(d.port, "GET", "/v1/ledger/check", KEY, NULL, 200));
	stop(&d);
}

/* mode = test on the real clock: nothing to advance, as before (404). */
static void issue_18_a_test_daemon_on_the_real_clock_has_no_clock_to_advance(void **state)
{
	struct daemon d;
	(void)state;
	must_start(&d, "test", NULL);
	healthz_says(&d, "test");
	advance(&d, 404, "not_found");
	stop(&d);
}

/* password_hashing = minimum is allowed everywhere, but production mode
 * warns that it makes a stolen store's passwords cheap to guess. */
static void issue_18_minimum_password_hashing_is_warned_against_in_production(void **state)
{
	struct daemon d;
	(void)state;
	must_start(&d, NULL, (const char *const[]){"--password-hashing", "minimum", NULL});
	esc_test_contains(d.log, "password_hashing = minimum in production mode");
	esc_test_contains(d.log, "remove the setting");
	stop(&d);
	must_start(&d, "test", (const char *const[]){"--password-hashing", "minimum", NULL});
	if (strstr(d.log, "in production mode"))
		fail_msg("a production warning in test mode:\n%s", d.log);
	stop(&d);
	/* (meson's test_env says minimum: the flag wins.) */
	must_start(&d, NULL, (const char *const[]){"--password-hashing", "interactive", NULL});
	if (strstr(d.log, "password_hashing"))
		fail_msg("a warning at the interactive cost:\n%s", d.log);
	stop(&d);
}

/* escrowd demo says the mode a daemon would serve its store in. */
static void issue_18_demo_says_the_mode(void **state)
{
	char out[8192], args[400];
	(void)state;
	snprintf(args, sizeof args, "demo --db '%s'", db);
	int rc = esc_test_run_cli(binary, "-u ESCROWD_MODE", args, out, sizeof out);
	if (rc)
		fail_msg("escrowd demo exited %d:\n%s", rc, out);
	esc_test_contains(out, "mode = production (the default)");
	esc_test_contains(out, "a manual clock needs mode = test");
	snprintf(args, sizeof args, "demo --db '%s' --mode test", db);
	rc = esc_test_run_cli(binary, "-u ESCROWD_MODE", args, out, sizeof out);
	if (rc)
		fail_msg("escrowd demo --mode test exited %d:\n%s", rc, out);
	esc_test_contains(out, "The store holds the demo marketplace already.");
	esc_test_contains(out, "mode = test: escrowd serve may run this store on a manual clock");
}

int main(void)
{
	esc_test_store_or_skip("mode");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(issue_18_production_is_the_default_and_refuses_a_manual_clock),
		cmocka_unit_test(issue_18_a_bad_mode_is_a_clear_error),
		cmocka_unit_test(issue_18_test_mode_allows_a_manual_clock),
		cmocka_unit_test(issue_18_the_mode_flag_wins_over_the_environment_over_the_file),
		cmocka_unit_test(issue_18_a_production_daemon_refuses_clock_advance),
		cmocka_unit_test(issue_18_a_test_daemon_on_the_real_clock_has_no_clock_to_advance),
		cmocka_unit_test(issue_18_minimum_password_hashing_is_warned_against_in_production),
		cmocka_unit_test(issue_18_demo_says_the_mode),
	};
	return cmocka_run_group_tests_name("mode", tests, setup, teardown);
}
