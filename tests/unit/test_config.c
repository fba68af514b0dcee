/* test_config.c - the configuration's keys (engine/config.h): the table
 * against the parsers, and the escrowd binary taking every key from the
 * file, the environment and --set in the README's order of precedence.
 * The binary is $ESC_BUILD_DIR/escrowd. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/policy.h"
#include "engine/config.h"
#include "http/server.h"
#include "support.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "webhook/options.h"

#define OUTPUT_MAX 16384

static char binary[512];

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
	return 0;
}

static bool has_prefix(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

/* The keys cli/main.c's options take (not the policy's nor a section's). */
static bool option_key(const char *name)
{
	static const char *const options[] = {"db",
					      "listen",
					      "clock",
					      "operator_key",
					      "operator_key_file",
					      "password_hashing",
					      "quiet",
					      "db_pool",
					      "deadline_lease",
					      "commit_delay_us",
					      "writer_nice",
					      "log_level",
					      "mode"};
	for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
		if (!strcmp(name, options[i]))
			return true;
	return false;
}

/* ---- the table against the parsers ---- */

/* Each default the table states is the parser's own: set over the
 * defaults, it changes nothing, byte for byte. */
static void the_tables_defaults_are_the_parsers(void **state)
{
	(void)state;
	for (size_t i = 0; i < esc_config_keys_count; i++) {
		const struct esc_config_key *k = &esc_config_keys[i];
		char err[300] = "";
		int rc;
		if (!k->value || option_key(k->name))
			continue;
		if (has_prefix(k->name, "http.") || has_prefix(k->name, "webhooks.")) {
			struct esc_http_options def, set;
			esc_http_options_default(&def);
			esc_http_options_default(&set);
			rc = has_prefix(k->name, "http.")
				     ? esc_http_option_set(&set, k->name + 5, k->value, err,
							   sizeof err)
				     : esc_webhook_option_set(&set.webhooks, k->name + 9, k->value,
							      err, sizeof err);
			if (rc || memcmp(&def, &set, sizeof def))
				fail_msg("%s = %s: %s", k->name, k->value,
					 rc ? err : "not the default");
			continue;
		}
		struct esc_policy def, set;
		esc_policy_default(&def);
		esc_policy_default(&set);
		rc = esc_policy_set(&set, k->name, k->value, err, sizeof err);
		if (rc || memcmp(&def, &set, sizeof def))
			fail_msg("%s = %s: %s", k->name, k->value, rc ? err : "not the default");
	}
}

/* Every key of the policy's canonical text (every key it has, with a
 * carrier, a tracking link and a reason) is in the table. */
static void every_policy_key_is_in_the_table(void **state)
{
	struct esc_policy p;
	struct esc_strbuf sb;
	char err[300] = "";
	(void)state;
	esc_policy_default(&p);
	assert_int_equal(
		esc_policy_parse(
			&p,
			"carrier.ups = ups_1z 1Z[0-9A-Z]{16}\n"
			"carrier.dhl.tracking_url = https://dhl.example/t?n={tracking_number}\n"
			"tracking_check = flag\n",
			err, sizeof err),
		0);
	esc_strbuf_init(&sb, 1 << 20);
	assert_int_equal(esc_policy_format(&p, &sb), 0);
	size_t keys = 0;
	for (const char *line = esc_strbuf_str(&sb); *line;) {
		size_t n = strcspn(line, "\n");
		char key[200];
		size_t kn = strcspn(line, " =");
		if (n && *line != '#') {
			assert_true(kn < sizeof key);
			memcpy(key, line, kn);
			key[kn] = '\0';
			if (!esc_config_key_find(key))
				fail_msg("the policy's key '%s' is not in the table", key);
			keys++;
		}
		line += n + (line[n] == '\n');
	}
	assert_true(keys > 30);
	esc_strbuf_release(&sb);
}

/* The table is the parsers' gate: a key no entry has is refused even when
 * a section would take it, from the file as from --set. */
static int take_all(void *arg, const char *key, const char *value, char *err, size_t err_size)
{
	(void)arg, (void)key, (void)value, (void)err, (void)err_size;
	return 0;
}

static void a_key_the_table_lacks_is_refused(void **state)
{
	const struct esc_config_section greedy[] = {
		{.prefix = "http.", .set = take_all}, {.prefix = "new.", .set = take_all}, {0}};
	struct esc_policy p;
	char err[300] = "", dir[256], path[300];
	(void)state;
	esc_policy_default(&p);
	assert_int_equal(esc_config_set(&p, greedy, "new.key", "1", NULL, err, sizeof err),
			 ESC_EINVAL);
	esc_test_contains(err, "unknown key 'new.key'");
	assert_int_equal(esc_config_set(&p, greedy, "http.threadz", "1", NULL, err, sizeof err),
			 ESC_EINVAL);
	assert_int_equal(esc_config_set(&p, greedy, "http.threads", "1", NULL, err, sizeof err), 0);
	esc_test_tmpdir(dir, sizeof dir);
	esc_test_path(path, sizeof path, dir, "escrowd.conf");
	esc_test_write_file(path, "http.threads = 4\nnew.key = 1\n");
	int rc = esc_config_load(&p, path, greedy, err, sizeof err);
	esc_test_rmdir(dir);
	assert_int_equal(rc, ESC_EINVAL);
	esc_test_contains(err, "line 2: unknown key 'new.key'");
}

/* Patterns match names, plain keys only themselves; each plain key has a
 * variable of its own, and no two the same. */
static void patterns_and_variables(void **state)
{
	char a[200], b[200];
	(void)state;
	assert_string_equal(esc_config_key_find("carrier.ups")->name, "carrier.NAME");
	assert_string_equal(esc_config_key_find("carrier.ups.tracking_url")->name,
			    "carrier.NAME.tracking_url");
	assert_string_equal(esc_config_key_find("reason.damaged")->name, "reason.CODE");
	assert_string_equal(esc_config_key_find("carriers")->name, "carriers");
	assert_null(esc_config_key_find("reason."));
	assert_null(esc_config_key_find("carrier.ups.other"));
	assert_null(esc_config_key_find("http.threads.x"));
	assert_null(esc_config_key_find("settle_days.cheque"));
	const struct esc_config_key *threads = esc_config_key_find("http.threads");
	assert_int_equal(esc_config_env_name(threads, a, sizeof a), 0);
	assert_string_equal(a, "ESCROWD_HTTP_THREADS");
	assert_int_equal(esc_config_env_name(esc_config_key_find("reason.x"), a, sizeof a),
			 ESC_EINVAL);
	for (size_t i = 0; i < esc_config_keys_count; i++) {
		if (esc_config_env_name(&esc_config_keys[i], a, sizeof a))
			continue;
		assert_string_not_equal(a, "ESCROWD_CONFIG");
		for (size_t j = i + 1; j < esc_config_keys_count; j++)
			if (!esc_config_env_name(&esc_config_keys[j], b, sizeof b) && !strcmp(a, b))
				fail_msg("%s and %s share %s", esc_config_keys[i].name,
					 esc_config_keys[j].name, a);
	}
}

/* ---- the binary ---- */

/* escrowd config keys prints the table, one key a line, in its order. */
static void config_keys_lists_every_key_with_its_default(void **state)
{
	char out[OUTPUT_MAX], want[300];
	(void)state;
	assert_int_equal(run(NULL, "config keys", out, sizeof out), 0);
	const char *line = out;
	for (size_t i = 0; i < esc_config_keys_count; i++) {
		const struct esc_config_key *k = &esc_config_keys[i];
		snprintf(want, sizeof want, "%s ", k->name);
		if (strncmp(line, want, strlen(want)))
			fail_msg("line %zu is not %s's:\n%s", i + 1, k->name, line);
		snprintf(want, sizeof want, " %s ", k->value ? k->value : "-");
		const char *nl = strchr(line, '\n');
		assert_non_null(nl);
		const char *at = strstr(line, want);
		if (!at || at > nl)
			fail_msg("%s's line lacks its default %s", k->name, want);
		line = nl + 1;
	}
	assert_string_equal(line, "");
}

/* Every key with a default takes it from --set, from its variable and
 * from the file, on the real binary: all of them at once from each
 * source (a refused one is named in the output). */
static void every_key_takes_its_default_from_each_source(void **state)
{
	char out[OUTPUT_MAX], dir[256], path[300], name[200];
	struct esc_strbuf file, set, env;
	(void)state;
	esc_strbuf_init(&file, 1 << 16);
	esc_strbuf_init(&set, 1 << 16);
	esc_strbuf_init(&env, 1 << 16);
	assert_int_equal(esc_strbuf_adds(&set, "config check"), 0);
	for (size_t i = 0; i < esc_config_keys_count; i++) {
		const struct esc_config_key *k = &esc_config_keys[i];
		if (!k->value)
			continue;
		assert_int_equal(esc_strbuf_addf(&set, " --set '%s=%s'", k->name, k->value), 0);
		assert_int_equal(esc_config_env_name(k, name, sizeof name), 0);
		assert_int_equal(esc_strbuf_addf(&env, "%s='%s' ", name, k->value), 0);
		assert_int_equal(esc_strbuf_addf(&file, "%s = %s\n", k->name, k->value), 0);
	}
	int status = run(NULL, esc_strbuf_str(&set), out, sizeof out);
	if (status)
		fail_msg("every default with --set exited %d:\n%s", status, out);
	status = run(esc_strbuf_str(&env), "config check", out, sizeof out);
	if (status || strstr(out, "ESCROWD_"))
		fail_msg("every default in its ESCROWD_ variable exited %d:\n%s", status, out);
	esc_test_tmpdir(dir, sizeof dir);
	esc_test_path(path, sizeof path, dir, "defaults.conf");
	esc_test_write_file(path, esc_strbuf_str(&file));
	status = esc_test_run_clif(binary, NULL, out, sizeof out, "config check --config '%s'",
				   path);
	esc_test_rmdir(dir);
	esc_strbuf_release(&file);
	esc_strbuf_release(&set);
	esc_strbuf_release(&env);
	if (status)
		fail_msg("a file of every default exited %d:\n%s", status, out);
}

/* The README's order: the file, then the environment, then --set and the
 * flags in their order. watch_cancellations = 7 alone breaks the policy
 * (watch <= restricted = 5), so which value won shows in the exit code; db
 * shows in check's error, which names the store it could not open. */
static void the_file_then_the_environment_then_set(void **state)
{
	char out[OUTPUT_MAX], dir[256], conf[300];
	(void)state;
	esc_test_tmpdir(dir, sizeof dir);
	esc_test_path(conf, sizeof conf, dir, "escrowd.conf");
	esc_test_write_file(conf, "watch_cancellations = 7\ndb = from-file.db\n");

	assert_int_equal(esc_test_run_clif(binary, NULL, out, sizeof out,
					   "config check --config '%s'", conf),
			 2);
	esc_test_contains(out, "watch_cancellations");
	/* The environment over the file. */
	assert_int_equal(esc_test_run_clif(binary, "ESCROWD_WATCH_CANCELLATIONS=3", out, sizeof out,
					   "config check --config '%s'", conf),
			 0);
	/* --set over the environment, and over the file. */
	assert_int_equal(esc_test_run_clif(binary, "ESCROWD_WATCH_CANCELLATIONS=3", out, sizeof out,
					   "config check --config '%s' --set watch_cancellations=8",
					   conf),
			 2);
	esc_test_contains(out,
			  "the policy (the config file, ESCROWD_ variables and --set together)");
	assert_int_equal(esc_test_run_clif(binary, NULL, out, sizeof out,
					   "config check --config '%s' --set watch_cancellations=2",
					   conf),
			 0);
	/* The last of --set and the flags wins. */
	assert_int_equal(esc_test_run_clif(binary, NULL, out, sizeof out,
					   "config check --config '%s' --set watch_cancellations=2 "
					   "--set watch_cancellations=9",
					   conf),
			 2);

	/* db: the file's, the environment's, a flag's, --set's. */
	assert_int_equal(
		esc_test_run_clif(binary, NULL, out, sizeof out, "check --config '%s'", conf), 2);
	assert_int_equal(esc_test_run_clif(binary, "ESCROWD_WATCH_CANCELLATIONS=3", out, sizeof out,
					   "check --config '%s'", conf),
			 1);
	esc_test_contains(out, "from-file.db");
	assert_int_equal(esc_test_run_clif(binary,
					   "ESCROWD_WATCH_CANCELLATIONS=3 ESCROWD_DB=from-env.db",
					   out, sizeof out, "check --config '%s'", conf),
			 1);
	esc_test_contains(out, "from-env.db");
	assert_int_equal(esc_test_run_clif(
				 binary, "ESCROWD_WATCH_CANCELLATIONS=3 ESCROWD_DB=from-env.db",
				 out, sizeof out, "check --config '%s' --set db=from-set.db", conf),
			 1);
	esc_test_contains(out, "from-set.db");
	assert_int_equal(
		esc_test_run_clif(binary, "ESCROWD_WATCH_CANCELLATIONS=3 ESCROWD_DB=from-env.db",
				  out, sizeof out,
				  "check --config '%s' --set db=from-set.db --db from-flag.db",
				  conf),
		1);
	esc_test_contains(out, "from-flag.db");
	esc_test_rmdir(dir);
}

/* --set KEY= puts the key back to its default over the file, the
 * environment and the flags before it (the README's Configuration), and
 * a later setting wins over it as over any. watch_cancellations = 7 or 8
 * alone breaks the policy (watch <= restricted = 5); its default, 3, does
 * not. */
static void set_key_empty_puts_back_the_default(void **state)
{
	char out[OUTPUT_MAX], dir[256], conf[300];
	(void)state;
	esc_test_tmpdir(dir, sizeof dir);
	esc_test_path(conf, sizeof conf, dir, "escrowd.conf");
	esc_test_write_file(conf, "watch_cancellations = 7\ndb = from-file.db\n");

	/* Over the file, the environment, and an earlier --set. */
	assert_int_equal(
		esc_test_run_clif(binary, NULL, out, sizeof out,
				  "config check --config '%s' --set watch_cancellations=", conf),
		0);
	assert_int_equal(esc_test_run_clif(binary, "ESCROWD_WATCH_CANCELLATIONS=8", out, sizeof out,
					   "config check --set watch_cancellations="),
			 0);
	assert_int_equal(esc_test_run_clif(binary, NULL, out, sizeof out,
					   "config check --set watch_cancellations=8 --set "
					   "watch_cancellations="),
			 0);
	/* The later wins. */
	assert_int_equal(esc_test_run_clif(binary, NULL, out, sizeof out,
					   "config check --set watch_cancellations= --set "
					   "watch_cancellations=8"),
			 2);
	/* A key without a default is unset: db, as the file, the environment
	 * or --db gave it. */
	assert_int_equal(esc_test_run_clif(binary, "ESCROWD_WATCH_CANCELLATIONS=3", out, sizeof out,
					   "check --config '%s' --set db=", conf),
			 2);
	esc_test_contains(out, "--db is required");
	assert_int_equal(esc_test_run_clif(binary, "ESCROWD_DB=from-env.db", out, sizeof out,
					   "check --set db="),
			 2);
	esc_test_contains(out, "--db is required");
	assert_int_equal(esc_test_run_clif(binary, NULL, out, sizeof out,
					   "check --db from-flag.db --set db="),
			 2);
	esc_test_contains(out, "--db is required");
	/* And the other layers' keys without one: what config check refuses
	 * set alone is not refused once cleared. */
	static const char *const unset[] = {
		"--set http.tls_cert=/nonexistent/cert.pem --set http.tls_cert=",
		"--set http.admin_listen=127.0.0.1:99999 --set http.admin_listen=",
		"--set operator_key=short --set operator_key=",
		"--set http.trusted_proxies=10.0.0.0/8 --set http.trusted_proxies=",
		"--set http.image_origins=https://img.example.com --set http.image_origins=",
	};
	for (size_t i = 0; i < sizeof unset / sizeof unset[0]; i++) {
		int status = esc_test_run_clif(binary, NULL, out, sizeof out,
					       "config check --mode production %s", unset[i]);
		if (status)
			fail_msg("%s exited %d:\n%s", unset[i], status, out);
	}
	/* Every key but the tables' (reasons, carriers and the keys of the
	 * operator's naming) may be cleared: all of them at once; each of
	 * the tables' is refused alone. */
	struct esc_strbuf all;
	esc_strbuf_init(&all, 1 << 16);
	assert_int_equal(esc_strbuf_adds(&all, "config check"), 0);
	for (size_t i = 0; i < esc_config_keys_count; i++) {
		const struct esc_config_key *k = &esc_config_keys[i];
		bool table =
			!k->value && (esc_config_key_is_pattern(k) || !strcmp(k->name, "reasons") ||
				      !strcmp(k->name, "carriers"));
		if (!table) {
			assert_int_equal(esc_strbuf_addf(&all, " --set '%s='", k->name), 0);
			continue;
		}
		int status = esc_test_run_clif(binary, NULL, out, sizeof out,
					       "config check --set '%s='", k->name);
		if (status != 2)
			fail_msg("--set %s= exited %d:\n%s", k->name, status, out);
	}
	int status = esc_test_run_cli(binary, NULL, esc_strbuf_str(&all), out, sizeof out);
	if (status)
		fail_msg("every key but the tables' cleared exited %d:\n%s", status, out);
	esc_strbuf_release(&all);
	esc_test_rmdir(dir);
}

/* A bad value names where it came from and what the key takes; exit 2. */
static void bad_settings_name_their_source(void **state)
{
	static const struct {
		const char *env, *args, *expect;
	} cases[] = {
		{NULL, "config check --set http.threads=0",
		 "escrowd config: --set: http.threads: '0' is not a number of threads from 1 to "
		 "256"},
		{NULL, "check --db x.db --set fee=101%",
		 "escrowd check: --set: fee: '101%' is not a"},
		{NULL, "config check --set http.threadz=4",
		 "--set: unknown key 'http.threadz' (escrowd config keys lists every key)"},
		{NULL, "config check --set fee", "--set 'fee': expected KEY=VALUE"},
		{NULL, "config check --set =5", "--set '=5': expected KEY=VALUE"},
		{NULL, "config check --set http.threadz=",
		 "--set: unknown key 'http.threadz' (escrowd config keys lists every key)"},
		{NULL, "config check --set reasons=",
		 "--set: reasons: no default to go back to: it takes clear"},
		{NULL, "config check --set carrier.ups=",
		 "--set: carrier.ups: a key of your naming has no default to go back to"},
		{NULL, "config check --set reason.no_longer_needed=",
		 "--set: reason.no_longer_needed: a key of your naming has no default"},
		{NULL, "config check --set reason.x=platform,Label",
		 "--set: reason.x: fault 'platform' is not buyer or seller"},
		{NULL, "config check --clock sometimes", "--clock: clock: 'sometimes' is not real"},
		{"ESCROWD_HTTP_BODY_MAX=2GiB", "config check",
		 "ESCROWD_HTTP_BODY_MAX: http.body_max: '2GiB' is not a size"},
		{"ESCROWD_QUIET=yes", "config check", "ESCROWD_QUIET: quiet: 'yes' is not true"},
		{"ESCROWD_WEBHOOKS_ALLOW_PRIVATE=1", "config check",
		 "ESCROWD_WEBHOOKS_ALLOW_PRIVATE: webhooks.allow_private: '1' is not true or "
		 "false"},
	};
	char out[OUTPUT_MAX];
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int status = run(cases[i].env, cases[i].args, out, sizeof out);
		if (status != 2 || !strstr(out, cases[i].expect))
			fail_msg("%s %s: exited %d, expected 2 and \"%s\":\n%s",
				 cases[i].env ? cases[i].env : "", cases[i].args, status,
				 cases[i].expect, out);
	}
}

/* Pattern keys and the ordered ones work through --set in their order;
 * an ESCROWD_ variable that is no key's is named, and ignored. */
static void set_takes_patterns_and_unknown_variables_are_named(void **state)
{
	char out[OUTPUT_MAX];
	(void)state;
	int status = run(NULL,
			 "config check --set reasons=clear --set 'reason.late=seller, It is late' "
			 "--set recommended_reason=late --set 'carrier.ups=ups_1z 1Z[0-9A-Z]{16}' "
			 "--set 'carrier.ups.tracking_url=https://ups.example/{tracking_number}'",
			 out, sizeof out);
	if (status)
		fail_msg("pattern keys through --set exited %d:\n%s", status, out);
	assert_int_equal(run(NULL, "config check --set recommended_reason=late", out, sizeof out),
			 2);
	esc_test_contains(out, "--set: recommended_reason: no reason 'late'");
	assert_int_equal(
		run("ESCROWD_HTTP_THREAD=4 ESCROWD_CARRIER_UPS=x", "config check", out, sizeof out),
		0);
	esc_test_contains(out, "ESCROWD_HTTP_THREAD is no configuration key's variable: ignored");
	esc_test_contains(out, "ESCROWD_CARRIER_UPS is no configuration key's variable");
	esc_test_contains(out, "the configuration is valid");
}

/* What escrowd serve refuses at start, escrowd config check refuses
 * too, naming the setting, with the same words (exit 2); and serve says
 * it before it opens the store: no file is made. --mode production, as
 * the tests run with ESCROWD_MODE=test (meson.build). */
static void config_check_refuses_what_serve_refuses(void **state)
{
	static const struct {
		const char *args, *expect;
	} cases[] = {
		{"--set clock=manual", "--clock manual is for tests and demos (clock = manual"},
		{"--set operator_key=0123456789abcdef --set operator_key_file=/nonexistent",
		 "both operator_key and operator_key_file are set"},
		{"--set operator_key=short", "operator_key (--operator-key, ESCROWD_OPERATOR_KEY): "
					     "the operator key must be at least 16 characters"},
		{"--set http.tls_cert=/nonexistent/cert.pem",
		 "TLS needs both http.tls_cert and http.tls_key (or neither, for plain HTTP): "
		 "http.tls_cert is set alone"},
		{"--set http.tls_key=/nonexistent/key.pem",
		 "TLS needs both http.tls_cert and http.tls_key (or neither, for plain HTTP): "
		 "http.tls_key is set alone"},
		{"--set http.admin_listen=127.0.0.1:99999",
		 "http.admin_listen must be HOST:PORT (127.0.0.1:8080, [::1]:8080 or "
		 "localhost:8080), not '127.0.0.1:99999'"},
		{"--set http.admin_listen=::1:9090", "http.admin_listen must be HOST:PORT"},
		{"--listen 127.0.0.1", "--listen must be HOST:PORT"},
	};
	char out[OUTPUT_MAX], dir[256], db[300];
	(void)state;
	esc_test_tmpdir(dir, sizeof dir);
	esc_test_path(db, sizeof db, dir, "never.db");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int status = esc_test_run_clif(binary, NULL, out, sizeof out,
					       "config check --mode production %s", cases[i].args);
		if (status != 2 || !strstr(out, "escrowd config check: ") ||
		    !strstr(out, cases[i].expect))
			fail_msg("config check %s: exited %d, expected 2 and \"%s\":\n%s",
				 cases[i].args, status, cases[i].expect, out);
		status = esc_test_run_clif(
			binary, NULL, out, sizeof out,
			"serve --db '%s' --listen 127.0.0.1:0 --mode production %s", db,
			cases[i].args);
		if (status != 2 || !strstr(out, "escrowd serve: ") || !strstr(out, cases[i].expect))
			fail_msg("serve %s: exited %d, expected 2 and \"%s\":\n%s", cases[i].args,
				 status, cases[i].expect, out);
		if (!access(db, F_OK))
			fail_msg("serve %s made the store before it refused", cases[i].args);
	}
	/* The same settings, right, pass. */
	int status = esc_test_run_clif(binary, NULL, out, sizeof out,
				       "config check --mode test --set clock=manual "
				       "--set operator_key=0123456789abcdef "
				       "--set http.admin_listen=[::1]:9090");
	if (status)
		fail_msg("a right configuration exited %d:\n%s", status, out);
	esc_test_rmdir(dir);
}

/* A PostgreSQL URL's password is never written: a store that cannot be
 * opened is named with *** in the password's place. */
static void a_store_urls_password_is_not_written(void **state)
{
	static const char *const urls[] = {
		"postgresql://escrow:Hunter2pw@127.0.0.1:1/escrowd?connect_timeout=2",
		"postgres://127.0.0.1:1/escrowd?user=escrow&password=Hunter2pw&connect_timeout=2",
	};
	static const char *const commands[] = {"check", "migrate", "deadlines",
					       "serve --listen 127.0.0.1:0"};
	char out[OUTPUT_MAX], dir[256], policy[300], replay[400];
	(void)state;
	esc_test_tmpdir(dir, sizeof dir);
	esc_test_path(policy, sizeof policy, dir, "policy.conf");
	esc_test_write_file(policy, "response_window = 48h\n");
	snprintf(replay, sizeof replay, "replay --policy '%s'", policy);
	for (size_t u = 0; u < sizeof urls / sizeof urls[0]; u++)
		for (size_t c = 0; c <= sizeof commands / sizeof commands[0]; c++) {
			/* and replay, which reads the store */
			const char *command =
				c < sizeof commands / sizeof commands[0] ? commands[c] : replay;
			int status = esc_test_run_clif(binary, NULL, out, sizeof out,
						       "%s --db '%s'", command, urls[u]);
			if (!status || strstr(out, "Hunter2pw") || !strstr(out, "***"))
				fail_msg("%s --db %s: exited %d:\n%s", command, urls[u], status,
					 out);
			esc_test_contains(out, "127.0.0.1:1/escrowd");
		}
	esc_test_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_tables_defaults_are_the_parsers),
		cmocka_unit_test(every_policy_key_is_in_the_table),
		cmocka_unit_test(a_key_the_table_lacks_is_refused),
		cmocka_unit_test(patterns_and_variables),
		cmocka_unit_test(config_keys_lists_every_key_with_its_default),
		cmocka_unit_test(every_key_takes_its_default_from_each_source),
		cmocka_unit_test(the_file_then_the_environment_then_set),
		cmocka_unit_test(set_key_empty_puts_back_the_default),
		cmocka_unit_test(bad_settings_name_their_source),
		cmocka_unit_test(set_takes_patterns_and_unknown_variables_are_named),
		cmocka_unit_test(config_check_refuses_what_serve_refuses),
		cmocka_unit_test(a_store_urls_password_is_not_written),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
