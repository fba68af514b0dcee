/* main.c - the escrowd command line: one table of subcommands. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "engine/config.h"
#include "engine/demo.h"
#include "engine/engine.h"
#include "engine/replay.h"
#include "http/keys.h"
#include "http/server.h"
#include "cli/systemd.h"
#include "store/sqlite/backup.h"
#include "util/error.h"
#include "util/log.h"
#include "util/text.h"
#include "util/timefmt.h"
#include "webhook/worker.h"

#ifndef ESC_VERSION
#define ESC_VERSION "0.0.0"
#endif

/* What every subcommand may take. Each is a configuration key
 * (engine/config.h) with a flag of its own: the default, then the
 * configuration file (db = ...), then the environment (ESCROWD_DB), then
 * the flags and --set KEY=VALUE, in the order given, each winning over
 * those before (README, "Configuration"). */
struct options {
	const char *db;
	const char *config;
	const char *listen;
	const char *clock;
	const char *operator_key;
	const char *password_hashing;  /* interactive (the default) or minimum */
	const char *operator_key_file; /* the operator key, in a file of its own */
	const char *log_level;         /* debug, info (the default), warn or error */
	const char *mode;              /* production (the default) or test */
	bool quiet;
	unsigned pool;    /* db_pool: store connections, 0 = the default */
	int64_t lease_ms; /* deadline_lease, 0 = the engine's default */
	int64_t commit_delay_us;
	int writer_nice;
	struct esc_policy policy;
	struct esc_http_options http; /* the config file's http. keys */
	char *owned[8];               /* the string options' values, copies */
};

struct command {
	const char *name;
	int (*run)(const struct command *c, struct options *o, int argc, char **argv);
	const char *summary;
	const char *usage;
};

struct command;
static int cmd_demo(const struct command *c, struct options *o, int argc, char **argv);
static int cmd_check(const struct command *c, struct options *o, int argc, char **argv);
static int cmd_backup(const struct command *c, struct options *o, int argc, char **argv);
static int cmd_deadlines(const struct command *c, struct options *o, int argc, char **argv);
static int cmd_migrate(const struct command *c, struct options *o, int argc, char **argv);
static int cmd_serve(const struct command *c, struct options *o, int argc, char **argv);
static int cmd_replay(const struct command *c, struct options *o, int argc, char **argv);
static int cmd_keys(const struct command *c, struct options *o, int argc, char **argv);
static int cmd_config(const struct command *c, struct options *o, int argc, char **argv);

static const struct command commands[] = {
	{"serve", cmd_serve, "run the HTTP/JSON API daemon",
	 "escrowd serve --db PATH [--listen HOST:PORT] [--config FILE] [--clock manual]\n"
	 "              [--operator-key KEY | --operator-key-file FILE]\n"
	 "              [--mode production|test] [--password-hashing minimum] [--quiet]\n"
	 "              [--log-level LEVEL]\n"
	 "  Serves the API on HOST:PORT (127.0.0.1:8080; ESCROWD_LISTEN): an IPv4\n"
	 "  address, [IPv6] ([::1]:8080) or a host name (the first of its addresses\n"
	 "  that binds). --operator-key\n"
	 "  (ESCROWD_OPERATOR_KEY, at least 16 characters) installs an operator API key;\n"
	 "  --operator-key-file (ESCROWD_OPERATOR_KEY_FILE) reads it from FILE's first\n"
	 "  line instead. With neither, the systemd credential operator_key is used\n"
	 "  when there is one ($CREDENTIALS_DIRECTORY/operator_key, LoadCredential=).\n"
	 "  Under systemd (NOTIFY_SOCKET) it says READY=1 once it listens, STOPPING=1\n"
	 "  on SIGTERM, and WATCHDOG=1 while it serves when WATCHDOG_USEC is set.\n"
	 "  --clock manual (ESCROWD_CLOCK) starts a manual clock that moves only through\n"
	 "  POST /v1/clock/advance: for tests and demos only, in --mode test\n"
	 "  (ESCROWD_MODE). --mode production, the default, refuses both: serve exits 2\n"
	 "  and the route answers 403 production_mode. SIGTERM or SIGINT finish\n"
	 "  the requests in flight and stop. Every line the daemon writes to stderr is\n"
	 "  one JSON object (time, level, msg, fields); each request is one unless\n"
	 "  --quiet (ESCROWD_QUIET=true). --log-level (ESCROWD_LOG_LEVEL) is debug,\n"
	 "  info (the default), warn or error: the least level written. A mistake in\n"
	 "  the command line or the configuration is told in plain text before the\n"
	 "  daemon starts. --password-hashing minimum\n"
	 "  (ESCROWD_PASSWORD_HASHING; also for demo) hashes new passwords with argon2id\n"
	 "  at libsodium's least cost instead of its interactive one: for tests only\n"
	 "  (warned against in production mode).\n"
	 "  Every option is also a configuration key (db = PATH, listen =, clock =,\n"
	 "  operator_key =, operator_key_file =, password_hashing =, log_level =,\n"
	 "  mode =, quiet = true),\n"
	 "  and every key may be set in the config file, by its ESCROWD_ variable\n"
	 "  or with --set KEY=VALUE: a flag or --set wins over the environment, which\n"
	 "  wins over the file (escrowd config --help). db_pool = 8: store\n"
	 "  connections in all, one for writes and the rest for reads.\n"
	 "  deadline_lease = 15s: a daemon killed while firing deadlines holds\n"
	 "  them this long, in real time, before another takes them (1s to 1h).\n"
	 "  commit_delay_us = 500: while commands come faster than they are\n"
	 "  committed, a commit starts this long after the one before at the\n"
	 "  least, unless 8 commands wait (0 to 10000; 0: at once).\n"
	 "  writer_nice = -10: the writer thread's nice (-20 to 0), so that\n"
	 "  under load it gets a core first; below 0 needs CAP_SYS_NICE or an\n"
	 "  RLIMIT_NICE that allows it (systemd: LimitNICE=-10), else it stays\n"
	 "  at 0 and serve says so. The\n"
	 "  http. keys set the daemon's limits (defaults shown):\n"
	 "    http.threads = 32                http.connections_max = 1024\n"
	 "    http.connections_per_address = 64 (0: no limit, as behind a proxy)\n"
	 "    http.timeout = 30s (silent)      http.body_max = 1MiB\n"
	 "    http.header_timeout = 10s (a request's line and headers, in all; also\n"
	 "      how long a kept-alive connection waits for its next request)\n"
	 "    http.body_timeout = 10s          http.body_rate_min = 1KiB (per second,\n"
	 "      after body_timeout: a slower body is cut off)\n"
	 "    http.session_idle = 12h          http.hashing_max = 2 (argon2id at once)\n"
	 "    http.signin_per_account = 10 (failed sign-ins per account per 15 minutes;\n"
	 "      one address gets half)\n"
	 "    http.signin_per_address = 30 (failed sign-ins per address per minute)\n"
	 "    http.image_origins = (none) origins items' image_url may name, as\n"
	 "      https://img.example.com; the pages' img-src lists them\n"
	 "    http.trusted_proxies = (none) proxies' addresses and CIDR ranges (127.0.0.1\n"
	 "      10.0.0.0/8 fd00::/8) whose X-Forwarded-For names the client (logs, limits)\n"
	 "      and whose X-Forwarded-Proto: https makes cookies Secure; others' ignored\n"
	 "    http.hsts = 0 (none) Strict-Transport-Security max-age over https, as 180d\n"
	 "    http.tls_cert, http.tls_key = (none) PEM files: serve https (GnuTLS)\n"
	 "    http.admin_listen = (none) HOST:PORT serving /metrics and /healthz alone;\n"
	 "      the API's /metrics then answers 404\n"
	 "  Cookies are Secure unless plain HTTP is served on a loopback address.\n"
	 "  webhooks.allow_private = false: true lets a webhook endpoint's URL reach a\n"
	 "  loopback, private or link-local address (tests, a receiver nearby).\n"
	 "  Webhook delivery (docs/webhooks.md), whole numbers:\n"
	 "    webhooks.retry_first_seconds = 30  webhooks.retry_max_seconds = 21600\n"
	 "    webhooks.retry_for_hours = 72      webhooks.disable_after_hours = 72\n"
	 "    webhooks.retention_days = 30       webhooks.connect_timeout_seconds = 5\n"
	 "    webhooks.request_timeout_seconds = 10\n"},
	{"demo", cmd_demo, "fill a store with a small demo marketplace",
	 "escrowd demo --db PATH [--config FILE] [--mode production|test]\n"
	 "  Creates buyers, sellers, an arbiter and orders in every state by running\n"
	 "  escrowd's own commands, then prints how to sign in. On a store that has\n"
	 "  the demo already it only prints the sign-in details. It says the mode\n"
	 "  (ESCROWD_MODE, mode =) escrowd serve would run the store in.\n"},
	{"check", cmd_check, "verify the invariants of a store (ledger, policies)",
	 "escrowd check --db PATH\n"
	 "  Verifies that each currency's transfers sum to zero, that no escrow\n"
	 "  account is negative and that no order refunded more than it was paid,\n"
	 "  with the store's own consistency checks, and that every order's policy\n"
	 "  version is kept and each kept version's text matches its hash. Exits 1\n"
	 "  naming each broken invariant, or when there is no store at PATH (none is\n"
	 "  made).\n"},
	{"backup", cmd_backup, "copy a live SQLite store to a new file",
	 "escrowd backup --db PATH --to FILE\n"
	 "  Copies the SQLite store at PATH, while a daemon serves it, to the new file\n"
	 "  FILE (which must not exist) with SQLite's online backup API: the store as\n"
	 "  it stood when the copy began. On a terminal it shows the pages copied.\n"
	 "  The copy is checked with PRAGMA integrity_check before it takes its\n"
	 "  name, then as escrowd check does. To restore, stop the daemon and put\n"
	 "  FILE in the store's place (docs/operations.md). A PostgreSQL store is\n"
	 "  backed up with pg_dump or continuous archiving instead. Exits 0 when the\n"
	 "  copy is made and checked, 1 when it failed or its check did, 2 on a\n"
	 "  usage error (FILE exists, no store at PATH).\n"},
	{"migrate", cmd_migrate, "bring a store's schema up to this version, then exit",
	 "escrowd migrate --db URL [--config FILE]\n"
	 "  Applies the migrations the store lacks, in one transaction each, and\n"
	 "  exits. serve, demo, check, deadlines and keys do this when they open a\n"
	 "  store (backup and replay only read it); run it alone to migrate before\n"
	 "  starting several daemons on one PostgreSQL database. It says whether it\n"
	 "  made a new store, migrated one (from which schema version to which) or\n"
	 "  found nothing to migrate.\n"},
	{"replay", cmd_replay, "what another policy would have done with the recorded commands",
	 "escrowd replay --db URL --policy FILE [--config FILE] [--since DATE] [--until DATE]\n"
	 "               [--csv FILE]\n"
	 "  Replays the recorded commands of the orders created in the period (DATE is\n"
	 "  2026-11-01 or an RFC 3339 time, UTC; --until excluded) twice, on scratch\n"
	 "  stores in memory: under the policies the store recorded (each order under\n"
	 "  the version it was created under; with --config, all under its policy)\n"
	 "  and under FILE's, a configuration file whose policy lines are read\n"
	 "  (other keys ignored). Prints what differs: orders whose outcome\n"
	 "  changes, by kind; refunds added and removed, per currency; buyers whose\n"
	 "  level changes; sellers whose score moves by more than 5 points. --csv FILE\n"
	 "  writes one row per order that changes. The store is opened read-only and\n"
	 "  never written. A progress bar goes to stderr when it is a terminal.\n"
	 "  Exits 0 after a report, 1 when the store cannot be read, 2 on bad\n"
	 "  arguments or an invalid policy.\n"},
	{"keys", cmd_keys, "create, list and revoke operator API keys",
	 "escrowd keys create --db URL --name NAME [--config FILE]\n"
	 "escrowd keys list --db URL [--config FILE]\n"
	 "escrowd keys revoke --db URL (--id ID | --name NAME) [--config FILE]\n"
	 "  create makes an operator API key named NAME (1 to 100 characters) and\n"
	 "  prints its id and its secret, once: the store keeps only its hash.\n"
	 "  list prints each key's id, name, creation, last use (written at most once\n"
	 "  a minute) and revocation, times in UTC. revoke revokes the key of that id,\n"
	 "  or the one active key of that name; every daemon on the store refuses it\n"
	 "  from its next request on (the key is read from the store on each). Here\n"
	 "  the last active key may be revoked (the API refuses that); create another\n"
	 "  to call the API again. Exits 0 when done, 1 when there is no store at\n"
	 "  URL (none is made), the store fails or no key matches, 2 on a usage\n"
	 "  error.\n"},
	{"config", cmd_config, "list the configuration keys, or check a configuration",
	 "escrowd config keys\n"
	 "escrowd config check [--config FILE] [--set KEY=VALUE]... [--db URL] [...]\n"
	 "  keys prints every configuration key, one a line: its name, its default\n"
	 "  (- for none) and what it sets. A pattern's capitals stand for any name\n"
	 "  (reason.CODE, carrier.NAME). Each key may be a line of the config file\n"
	 "  (KEY = VALUE), --set KEY=VALUE (any command, repeatable) or, unless a\n"
	 "  pattern, the variable ESCROWD_KEY (upper case, dots to underscores:\n"
	 "  ESCROWD_HTTP_THREADS). The default, then the file, then the environment,\n"
	 "  then the flags and --set in their order: each wins over those before.\n"
	 "  --set KEY= puts a key back to its default (or none) over them all.\n"
	 "  check reads the configuration as every command does (the file, the\n"
	 "  environment, the flags and --set), checks every value and the policy\n"
	 "  they make, and says so: it exits 0 when it is valid, 2 naming the first\n"
	 "  bad setting and where it came from.\n"},
	{"deadlines", cmd_deadlines, "fire the deadlines that are due, then exit",
	 "escrowd deadlines --db PATH [--config FILE]\n"
	 "  Fires every deadline due now (payment, ship, response, protection,\n"
	 "  confirm, refund alerts) exactly once, and prints how many fired. Exits 1\n"
	 "  when there is no store at PATH (none is made) or the store fails.\n"},
};
#define COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
	fprintf(out,
		"escrowd %s - order protection for online marketplaces\n\n"
		"usage: escrowd COMMAND [OPTIONS]\n\ncommands:\n",
		ESC_VERSION);
	for (size_t i = 0; i < COMMANDS; i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\noptions (also from the environment):\n"
		     "  --db URL         the store: a SQLite file, sqlite:PATH, or\n"
		     "                   postgresql://USER@HOST:PORT/DB (ESCROWD_DB)\n"
		     "  --config FILE    policy, limits and these options (ESCROWD_CONFIG)\n"
		     "  --set KEY=VALUE  any configuration key (escrowd config keys), over the\n"
		     "                   file and the ESCROWD_ variables; repeatable; KEY=\n"
		     "                   for the key's default\n"
		     "  --help           this text; escrowd COMMAND --help for one command\n"
		     "  --version        the version\n");
}

static int set_http(void *arg, const char *key, const char *value, char *err, size_t err_size)
{
	return esc_http_option_set(arg, key, value, err, err_size);
}

static int set_webhooks(void *arg, const char *key, const char *value, char *err, size_t err_size)
{
	return esc_webhook_option_set(arg, key, value, err, err_size);
}

/* The first eight are strings, in the order of set_option's fields. */
static const char *const option_keys[] = {
	"db",          "listen", "clock", "operator_key", "password_hashing", "operator_key_file",
	"log_level",   "mode",   "quiet", "db_pool",      "deadline_lease",   "commit_delay_us",
	"writer_nice", NULL};

#define LEASE_MS_MIN 1000
#define LEASE_MS_MAX (3600 * 1000)
_Static_assert(ESC_LEASE_MS_DEFAULT == 15000, "serve --help says deadline_lease = 15s");
_Static_assert(ESC_COMMIT_DELAY_US_DEFAULT == 500, "serve --help and config.c say 500");
_Static_assert(ESC_WRITER_NICE_DEFAULT == -10, "serve --help and config.c say -10");

/* A string option's value, when it is one of those given. */
static int one_of(const char *key, const char *value, const char *a, const char *b, char *err,
		  size_t err_size)
{
	if (!*value || !strcmp(value, a) || !strcmp(value, b))
		return 0;
	snprintf(err, err_size, "%s: '%s' is not %s or %s", key, value, a, b);
	return ESC_EINVAL;
}

/* One of the options, from wherever it came (the configuration's order
 * decides which wins). An empty string, which only a flag can give
 * (--db ''), unsets a string option. */
static int set_option(void *arg, const char *key, const char *value, char *err, size_t err_size)
{
	struct options *o = arg;
	const char **fields[] = {&o->db,
				 &o->listen,
				 &o->clock,
				 &o->operator_key,
				 &o->password_hashing,
				 &o->operator_key_file,
				 &o->log_level,
				 &o->mode};
	if (!strcmp(key, "quiet")) {
		bool on = !strcmp(value, "true"), off = !strcmp(value, "false");
		if (!on && !off) {
			snprintf(err, err_size, "quiet: '%s' is not true or false", value);
			return ESC_EINVAL;
		}
		o->quiet = on;
		return 0;
	}
	if (!strcmp(key, "db_pool")) {
		char *end = NULL;
		unsigned long n = strtoul(value, &end, 10);
		if (!*value || *end || n < 1 || n > ESC_POOL_MAX) {
			snprintf(err, err_size, "db_pool: '%s' is not a number from 1 to %d", value,
				 ESC_POOL_MAX);
			return ESC_EINVAL;
		}
		o->pool = (unsigned)n;
		return 0;
	}
	if (!strcmp(key, "commit_delay_us")) {
		char *end = NULL;
		long long us = strtoll(value, &end, 10);
		if (!*value || *end || us < 0 || us > ESC_COMMIT_DELAY_US_MAX) {
			snprintf(err, err_size,
				 "commit_delay_us: '%s' is not a number of microseconds from 0 "
				 "(no delay) to %d",
				 value, ESC_COMMIT_DELAY_US_MAX);
			return ESC_EINVAL;
		}
		o->commit_delay_us = us;
		return 0;
	}
	if (!strcmp(key, "writer_nice")) {
		char *end = NULL;
		long n = strtol(value, &end, 10);
		if (!*value || *end || n < ESC_WRITER_NICE_MIN || n > 0) {
			snprintf(err, err_size,
				 "writer_nice: '%s' is not a nice from %d (the most favoured) to 0",
				 value, ESC_WRITER_NICE_MIN);
			return ESC_EINVAL;
		}
		o->writer_nice = (int)n;
		return 0;
	}
	if (!strcmp(key, "deadline_lease")) {
		int64_t ms = 0;
		if (esc_duration_parse(value, &ms) || ms < LEASE_MS_MIN || ms > LEASE_MS_MAX) {
			snprintf(err, err_size, "deadline_lease: '%s' is not a time from 1s to 1h",
				 value);
			return ESC_EINVAL;
		}
		o->lease_ms = ms;
		return 0;
	}
	enum esc_log_level level;
	if (!strcmp(key, "log_level") && *value && esc_log_level_parse(value, &level)) {
		snprintf(err, err_size, "log_level: '%s' is not debug, info, warn or error", value);
		return ESC_EINVAL;
	}
	if (!strcmp(key, "mode") && one_of(key, value, "production", "test", err, err_size)) {
		snprintf(err, err_size,
			 "mode: '%s' is neither production (the default) nor test (which allows "
			 "--clock manual, for tests only)",
			 value);
		return ESC_EINVAL;
	}
	if ((!strcmp(key, "clock") && one_of(key, value, "real", "manual", err, err_size)) ||
	    (!strcmp(key, "password_hashing") &&
	     one_of(key, value, "interactive", "minimum", err, err_size)))
		return ESC_EINVAL;
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		if (strcmp(key, option_keys[i]))
			continue;
		free(o->owned[i]);
		o->owned[i] = *value ? strdup(value) : NULL;
		if (*value && !o->owned[i])
			return ESC_ENOMEM;
		*fields[i] = o->owned[i];
		return 0;
	}
	snprintf(err, err_size, "unknown option '%s'", key);
	return ESC_EINVAL;
}

static void options_release(struct options *o)
{
	for (size_t i = 0; i < sizeof o->owned / sizeof o->owned[0]; i++)
		free(o->owned[i]);
}

#define EXTRA_MAX 8 /* a command's own options, beside the common ones */
#define EXTRA_OPT 0x100
#define KEY_MAX   128 /* a configuration key's bytes, at most */

/* A setting of the command line, applied once the file and the
 * environment have been: a flag's (key and value) or --set's (KEY=VALUE
 * in text, key NULL). */
struct setting {
	const char *key, *text, *flag;
};

/* Warn of the ESCROWD_ variables that are no key's: a typo would
 * otherwise change nothing without a word. */
static void warn_unknown_env(void)
{
	extern char **environ;
	char known[KEY_MAX + 16];
	for (char **e = environ; e && *e; e++) {
		size_t n = strcspn(*e, "=");
		bool found = !strncmp(*e, "ESCROWD_CONFIG=", 15);
		if (strncmp(*e, "ESCROWD_", 8))
			continue;
		for (size_t i = 0; !found && i < esc_config_keys_count; i++)
			found = !esc_config_env_name(&esc_config_keys[i], known, sizeof known) &&
				strlen(known) == n && !strncmp(*e, known, n);
		if (!found)
			fprintf(stderr,
				"escrowd: %.*s is no configuration key's variable: ignored "
				"(escrowd "
				"config keys lists the keys; reason.CODE and carrier.NAME keys "
				"have "
				"none: set them in the file or with --set)\n",
				(int)n, *e);
	}
}

/* Every key's variable that is set and not empty, over what the file
 * gave. 0, or 2 with why on stderr. */
static int options_from_env(const struct command *c, struct options *o,
			    const struct esc_config_section *sections, bool *policy)
{
	char name[KEY_MAX + 16], err[400];
	warn_unknown_env();
	for (size_t i = 0; i < esc_config_keys_count; i++) {
		bool to_policy = false;
		if (esc_config_env_name(&esc_config_keys[i], name, sizeof name))
			continue;
		const char *value = getenv(name);
		if (!value || !*value)
			continue;
		if (esc_config_set(&o->policy, sections, esc_config_keys[i].name, value, &to_policy,
				   err, sizeof err)) {
			fprintf(stderr, "escrowd %s: %s: %s\n", c->name, name, err);
			return 2;
		}
		*policy |= to_policy;
	}
	return 0;
}

/* The command line's settings, in their order. 0, or 2 with why on
 * stderr. */
static int options_from_flags(const struct command *c, struct options *o,
			      const struct esc_config_section *sections,
			      const struct setting *settings, size_t n, bool *policy)
{
	char key[KEY_MAX], err[400];
	for (size_t i = 0; i < n; i++) {
		const struct setting *s = &settings[i];
		const char *value = s->text;
		bool to_policy = false;
		if (!s->key) {
			const char *eq = strchr(s->text, '=');
			size_t len = eq ? (size_t)(eq - s->text) : 0;
			if (!eq || !len || len >= sizeof key) {
				fprintf(stderr,
					"escrowd %s: --set '%s': expected KEY=VALUE, as in --set "
					"http.threads=16, or KEY= for the key's default (escrowd "
					"config keys lists the keys)\n",
					c->name, s->text);
				return 2;
			}
			memcpy(key, s->text, len);
			key[len] = '\0';
			value = eq + 1;
		}
		/* --set KEY= puts the key back to its default, over the file,
		 * the environment and the flags before it. */
		int rc = !s->key && !*value
				 ? esc_config_clear(&o->policy, sections, key, &to_policy, err,
						    sizeof err)
				 : esc_config_set(&o->policy, sections, s->key ? s->key : key,
						  value, &to_policy, err, sizeof err);
		if (rc) {
			fprintf(stderr, "escrowd %s: %s: %s\n", c->name, s->flag, err);
			return 2;
		}
		*policy |= to_policy;
	}
	return 0;
}

/* The configuration, lowest first: the defaults, the file, the
 * environment, the command line's settings; then the policy they made is
 * validated. 0, or 2 with why on stderr. */
static int configure(const struct command *c, struct options *o, const struct setting *settings,
		     size_t n)
{
	char err[400] = "", why[300] = "";
	bool policy = false;
	esc_policy_default(&o->policy);
	esc_http_options_default(&o->http);
	const struct esc_config_section sections[] = {
		{.keys = option_keys, .set = set_option, .arg = o},
		{.prefix = "http.", .set = set_http, .arg = &o->http},
		{.prefix = "webhooks.", .set = set_webhooks, .arg = &o->http.webhooks},
		{0},
	};
	if (!o->config || !*o->config)
		o->config = getenv("ESCROWD_CONFIG");
	if (o->config && *o->config &&
	    esc_config_read(&o->policy, o->config, sections, err, sizeof err)) {
		fprintf(stderr, "escrowd %s: %s\n", c->name, err);
		return 2;
	}
	if (options_from_env(c, o, sections, &policy) ||
	    options_from_flags(c, o, sections, settings, n, &policy))
		return 2;
	if (esc_policy_validate(&o->policy, why, sizeof why)) {
		if (policy)
			fprintf(stderr,
				"escrowd %s: the policy (the config file, ESCROWD_ variables and "
				"--set together): %s\n",
				c->name, why);
		else
			fprintf(stderr, "escrowd %s: %s: %s\n", c->name,
				o->config && *o->config ? o->config : "the policy", why);
		return 2;
	}
	return 0;
}

/* The flags that set a key: each one's getopt character and key. */
static const struct {
	int ch;
	const char *key, *flag;
} key_flags[] = {
	{'d', "db", "--db"},
	{'l', "listen", "--listen"},
	{'k', "clock", "--clock"},
	{'o', "operator_key", "--operator-key"},
	{'f', "operator_key_file", "--operator-key-file"},
	{'p', "password_hashing", "--password-hashing"},
	{'q', "quiet", "--quiet"},
	{'v', "log_level", "--log-level"},
	{'m', "mode", "--mode"},
};
#define KEY_FLAGS (sizeof key_flags / sizeof key_flags[0])

/* Read the command line: the settings (into settings, *n of them) to
 * apply once the file and the environment have been, --config, and the
 * command's own options. 0, 1 for --help shown, or 2 on error. */
static int read_flags(const struct command *c, struct options *o, int argc, char **argv,
		      const char *const *extra, const char **values, struct setting *settings,
		      size_t *n)
{
	struct option longopts[13 + EXTRA_MAX] = {
		{"db", required_argument, NULL, 'd'},
		{"config", required_argument, NULL, 'c'},
		{"listen", required_argument, NULL, 'l'},
		{"clock", required_argument, NULL, 'k'},
		{"operator-key", required_argument, NULL, 'o'},
		{"operator-key-file", required_argument, NULL, 'f'},
		{"password-hashing", required_argument, NULL, 'p'},
		{"quiet", no_argument, NULL, 'q'},
		{"log-level", required_argument, NULL, 'v'},
		{"mode", required_argument, NULL, 'm'},
		{"set", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
	};
	size_t common = 12, extra_n = 0, f;
	int ch;
	for (; extra && extra[extra_n]; extra_n++) {
		ESC_ASSERT(extra_n < EXTRA_MAX, "escrowd %s: too many options", c->name);
		longopts[common + extra_n] = (struct option){extra[extra_n], required_argument,
							     NULL, EXTRA_OPT + (int)extra_n};
	}
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		for (f = 0; f < KEY_FLAGS && key_flags[f].ch != ch; f++)
			;
		if (f < KEY_FLAGS)
			settings[(*n)++] = (struct setting){
				key_flags[f].key, ch == 'q' ? "true" : optarg, key_flags[f].flag};
		else if (ch == 's')
			settings[(*n)++] = (struct setting){NULL, optarg, "--set"};
		else if (ch == 'c')
			o->config = optarg;
		else if (ch >= EXTRA_OPT && ch < EXTRA_OPT + (int)extra_n)
			values[ch - EXTRA_OPT] = optarg;
		else {
			fputs(c->usage, ch == 'h' ? stdout : stderr);
			return ch == 'h' ? 1 : 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "escrowd %s: unexpected argument '%s'\n%s", c->name, argv[optind],
			c->usage);
		return 2;
	}
	return 0;
}

/* Parse the common options and a command's own (extra: each takes a
 * value, stored into values[i] for extra[i]; NULL for none), and read the
 * configuration; returns 0, 1 for --help shown, or 2 on error. */
static int parse_with(const struct command *c, struct options *o, int argc, char **argv,
		      const char *const *extra, const char **values)
{
	size_t n = 0;
	struct setting *settings = calloc((size_t)argc + 1, sizeof *settings);
	if (!settings) {
		fprintf(stderr, "escrowd %s: out of memory\n", c->name);
		return 2;
	}
	int rc = read_flags(c, o, argc, argv, extra, values, settings, &n);
	if (!rc)
		rc = configure(c, o, settings, n);
	free(settings);
	if (rc)
		return rc;
	/* log_level is checked as it is set. */
	enum esc_log_level level = ESC_LOG_INFO;
	if (o->log_level && *o->log_level)
		esc_log_level_parse(o->log_level, &level);
	esc_log_set_level(level);
	/* Every command but escrowd config works on a store. */
	if (c->run != cmd_config && (!o->db || !*o->db)) {
		fprintf(stderr,
			"escrowd %s: --db is required (or ESCROWD_DB, or db = in the config)\n%s",
			c->name, c->usage);
		return 2;
	}
	return 0;
}

static int parse(const struct command *c, struct options *o, int argc, char **argv)
{
	return parse_with(c, o, argc, argv, NULL, NULL);
}

/* mode = test (SPEC §8): a manual clock may be asked for; production,
 * the default, refuses it. */
static bool test_mode(const struct options *o)
{
	return o->mode && !strcmp(o->mode, "test");
}

/* password_hashing = minimum: argon2id at libsodium's least cost. */
static bool fast_hashing(const struct options *o)
{
	return o->password_hashing && !strcmp(o->password_hashing, "minimum");
}

static int open_engine(const char *name, struct options *o, struct esc_engine **e)
{
	char err[300] = "";
	struct esc_engine_options eo = {.lease_ms = o->lease_ms,
					.fast_password_hashing = fast_hashing(o)};
	char db[ESC_DB_SHOWN_MAX];
	int rc = esc_engine_open(e, o->db, &o->policy, &eo, err, sizeof err);
	if (rc)
		fprintf(stderr, "escrowd %s: cannot open %s: %s\n", name,
			esc_db_shown(o->db, db, sizeof db), err[0] ? err : esc_error_message(rc));
	return rc;
}

static int cmd_demo(const struct command *c, struct options *o, int argc, char **argv)
{
	struct esc_engine *e = NULL;
	int rc = parse(c, o, argc, argv);
	if (rc)
		return rc == 1 ? 0 : rc;
	if (open_engine("demo", o, &e))
		return 1;
	rc = esc_demo_fill(e, stdout);
	esc_engine_free(e);
	if (!rc || rc == ESC_EDUPLICATE)
		printf(test_mode(o)
			       ? "mode = test: escrowd serve may run this store on a manual "
				 "clock (--clock manual, POST /v1/clock/advance)\n"
			       : "mode = production (the default): escrowd serve runs this "
				 "store on the real clock; a manual clock needs mode = test\n");
	return rc && rc != ESC_EDUPLICATE ? 1 : 0;
}

static bool is_postgresql(const char *url)
{
	return !strncmp(url, "postgresql://", 13) || !strncmp(url, "postgres://", 11);
}

/* Whether o->db names a store that exists, said on stderr when not: the
 * commands that work on a store (check, deadlines, keys) must not make an
 * empty one at a mistyped path, and then pass, fire nothing or keep a key
 * no daemon serves. serve, demo and migrate make the store. A PostgreSQL
 * URL is left to the server. */
static bool store_exists(const char *name, const struct options *o)
{
	const char *path = strncmp(o->db, "sqlite:", 7) ? o->db : o->db + 7;
	if (is_postgresql(o->db) || !access(path, F_OK))
		return true;
	fprintf(stderr, "escrowd %s: no store at %s (escrowd migrate --db %s makes one)\n", name,
		path, path);
	return false;
}

static int cmd_migrate(const struct command *c, struct options *o, int argc, char **argv)
{
	struct esc_store *s = NULL;
	char err[300] = "";
	int rc = parse(c, o, argc, argv);
	if (rc)
		return rc == 1 ? 0 : rc;
	rc = esc_store_open(o->db, &s, err, sizeof err);
	if (rc) {
		char db[ESC_DB_SHOWN_MAX];
		fprintf(stderr, "escrowd migrate: cannot migrate %s: %s\n",
			esc_db_shown(o->db, db, sizeof db), err[0] ? err : esc_error_message(rc));
		return 1;
	}
	int found = s->schema_version_found, now = s->schema_version;
	if (found == 0)
		printf("made a new %s store at schema version %d\n", s->ops->name, now);
	else if (found < now)
		printf("migrated the %s store from schema version %d to %d (%d step%s)\n",
		       s->ops->name, found, now, now - found, now - found == 1 ? "" : "s");
	else
		printf("the %s store is at schema version %d, this version's: nothing to migrate\n",
		       s->ops->name, now);
	esc_store_close(s);
	return 0;
}

/* escrowd check's verdict on the store o->db names, printed: 0 when its
 * invariants hold, else 1. */
static int check_store(const char *name, struct options *o)
{
	struct esc_engine *e = NULL;
	struct esc_ledger_report rep;
	int rc;
	if (open_engine(name, o, &e))
		return 1;
	rc = esc_engine_check(e, &rep);
	esc_engine_free(e);
	if (rc) {
		fprintf(stderr, "escrowd %s: the store failed: %s\n", name, esc_error_message(rc));
		return 1;
	}
	for (size_t i = 0; i < rep.problems_count && i < ESC_CHECK_PROBLEMS_MAX; i++)
		printf("BROKEN %s\n", rep.problems[i]);
	if (rep.problems_count > ESC_CHECK_PROBLEMS_MAX)
		printf("... and %zu more\n", rep.problems_count - ESC_CHECK_PROBLEMS_MAX);
	printf("%lld orders, %lld transfers: ", (long long)rep.orders_count,
	       (long long)rep.transfers_count);
	if (!rep.problems_count) {
		printf("the store's invariants hold\n");
		return 0;
	}
	/* The verdict names the invariants broken (those listed), not only
	 * the ledger's: a policy version's problem is no ledger's. */
	printf("the store's invariants are BROKEN: %zu %s", rep.problems_count,
	       rep.problems_count == 1 ? "problem" : "problems");
	size_t listed = rep.problems_count < ESC_CHECK_PROBLEMS_MAX ? rep.problems_count
								    : ESC_CHECK_PROBLEMS_MAX;
	for (size_t i = 0, named = 0; i < listed; i++) {
		size_t len = strcspn(rep.problems[i], ":");
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = strcspn(rep.problems[j], ":") == len &&
			       !strncmp(rep.problems[j], rep.problems[i], len);
		if (!seen)
			printf("%s%.*s", named++ ? ", " : " (", (int)len, rep.problems[i]);
		if (i == listed - 1)
			printf(")");
	}
	printf("\n");
	return 1;
}

static int cmd_check(const struct command *c, struct options *o, int argc, char **argv)
{
	int rc = parse(c, o, argc, argv);
	if (rc)
		return rc == 1 ? 0 : rc;
	if (!store_exists("check", o))
		return 1;
	return check_store("check", o);
}

/* The copy's progress, on a terminal only: one line, drawn again. */
static void backup_progress(void *arg, int64_t copied, int64_t total)
{
	(void)arg;
	fprintf(stderr, "\rescrowd backup: %lld of %lld pages copied (%lld%%)", (long long)copied,
		(long long)total, total ? (long long)(copied * 100 / total) : 100LL);
	if (copied == total)
		fputc('\n', stderr);
}

static int cmd_backup(const struct command *c, struct options *o, int argc, char **argv)
{
	static const char *const extra[] = {"to", NULL};
	const char *values[1] = {NULL};
	struct esc_backup_report rep;
	struct timespec t0, t1;
	char err[600] = "";
	int rc = parse_with(c, o, argc, argv, extra, values);
	if (rc)
		return rc == 1 ? 0 : rc;
	const char *to = values[0];
	if (!to || !*to) {
		fprintf(stderr,
			"escrowd backup: --to FILE is required: the new file to copy to\n%s",
			c->usage);
		return 2;
	}
	if (is_postgresql(o->db)) {
		char db[ESC_DB_SHOWN_MAX];
		fprintf(stderr,
			"escrowd backup: %s is a PostgreSQL store: back it up with pg_dump "
			"or continuous archiving (docs/operations.md)\n",
			esc_db_shown(o->db, db, sizeof db));
		return 2;
	}
	const char *path = strncmp(o->db, "sqlite:", 7) ? o->db : o->db + 7;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = esc_sqlite_backup(path, to, isatty(STDERR_FILENO) ? backup_progress : NULL, NULL, &rep,
			       err, sizeof err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc) {
		fprintf(stderr, "escrowd backup: %s\n", err);
		return rc == ESC_EIO ? 1 : 2;
	}
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("escrowd backup: %s copied to %s: %lld pages, %.1f MiB, in %.1f s; "
	       "integrity_check ok\n",
	       path, to, (long long)rep.pages_total,
	       (double)(rep.pages_total * rep.page_size) / (1024.0 * 1024.0), s);
	/* The copy must pass what the store passes. */
	o->db = to;
	return check_store("backup", o);
}

static int cmd_deadlines(const struct command *c, struct options *o, int argc, char **argv)
{
	struct esc_engine *e = NULL;
	size_t fired = 0, total = 0;
	int rc = parse(c, o, argc, argv);
	if (rc)
		return rc == 1 ? 0 : rc;
	if (!store_exists("deadlines", o) || open_engine("deadlines", o, &e))
		return 1;
	do {
		rc = esc_engine_fire_due(e, 0, &fired);
		total += fired;
	} while (!rc && fired);
	esc_engine_free(e);
	if (rc) {
		fprintf(stderr, "escrowd deadlines: %s\n", esc_error_message(rc));
		return 1;
	}
	printf("%zu deadlines fired\n", total);
	return 0;
}

/* A policy file's other keys (db =, http. and webhooks. lines) are the
 * daemon's, not the policy's: replay reads past them. */
static int ignore_option(void *arg, const char *key, const char *value, char *err, size_t err_size)
{
	(void)arg, (void)key, (void)value, (void)err, (void)err_size;
	return 0;
}

static int load_policy(const char *path, struct esc_policy *p, char *err, size_t err_size)
{
	const struct esc_config_section sections[] = {
		{.keys = option_keys, .set = ignore_option},
		{.prefix = "http.", .set = ignore_option},
		{.prefix = "webhooks.", .set = ignore_option},
		{0},
	};
	esc_policy_default(p);
	return esc_config_load(p, path, sections, err, err_size);
}

/* A day (2026-11-01, its midnight UTC) or an RFC 3339 time. */
static int parse_date(const char *s, int64_t *ms)
{
	char day[32];
	if (strlen(s) == 10) {
		snprintf(day, sizeof day, "%sT00:00:00Z", s);
		s = day;
	}
	return esc_time_parse(s, ms) || *ms <= 0 ? ESC_EINVAL : 0;
}

static void progress_bar(void *arg, int64_t done, int64_t total)
{
	int width = 40, filled = total ? (int)(done * width / total) : width;
	(void)arg;
	fprintf(stderr, "\rreplaying [%.*s%*s] %lld/%lld commands", filled,
		"########################################", width - filled, "", (long long)done,
		(long long)total);
	if (done >= total)
		fputc('\n', stderr);
	fflush(stderr);
}

static int cmd_replay(const struct command *c, struct options *o, int argc, char **argv)
{
	static const char *const extra[] = {"policy", "since", "until", "csv", NULL};
	const char *values[4] = {NULL};
	const char *policy, *since, *until, *csv;
	struct esc_policy next;
	struct esc_replay_options ro = {0};
	struct esc_replay_report rep;
	char err[400] = "";
	int rc = parse_with(c, o, argc, argv, extra, values);

	if (rc)
		return rc == 1 ? 0 : rc;
	policy = values[0], since = values[1], until = values[2], csv = values[3];
	if (!policy || !*policy) {
		fprintf(stderr, "escrowd replay: --policy is required\n%s", c->usage);
		return 2;
	}
	if (since && parse_date(since, &ro.since_ms)) {
		fprintf(stderr,
			"escrowd replay: --since '%s' is not a date (2026-11-01) or an RFC 3339 "
			"time (2026-11-01T08:00:00Z)\n",
			since);
		return 2;
	}
	if (until && parse_date(until, &ro.until_ms)) {
		fprintf(stderr,
			"escrowd replay: --until '%s' is not a date (2026-11-01) or an RFC 3339 "
			"time (2026-11-01T08:00:00Z)\n",
			until);
		return 2;
	}
	if (ro.since_ms && ro.until_ms && ro.until_ms <= ro.since_ms) {
		fprintf(stderr, "escrowd replay: --until must come after --since\n");
		return 2;
	}
	if (load_policy(policy, &next, err, sizeof err)) {
		fprintf(stderr, "escrowd replay: --policy: %s\n", err);
		return 2;
	}
	FILE *csv_out = NULL;
	if (csv) {
		csv_out = fopen(csv, "w");
		if (!csv_out) {
			fprintf(stderr, "escrowd replay: cannot write %s: %s\n", csv,
				strerror(errno));
			return 2;
		}
	}
	ro.source = o->db;
	ro.base = o->config && *o->config ? &o->policy : NULL;
	ro.policy = &next;
	if (isatty(STDERR_FILENO))
		ro.progress = progress_bar;
	rc = esc_replay_run(&ro, &rep, err, sizeof err);
	if (rc) {
		fprintf(stderr, "escrowd replay: %s\n", err[0] ? err : esc_error_message(rc));
		if (csv_out) {
			fclose(csv_out);
			remove(csv);
		}
		return 1;
	}
	esc_replay_print(&rep, stdout);
	if (csv_out) {
		size_t rows = esc_replay_csv(&rep, csv_out);
		if (fclose(csv_out)) {
			fprintf(stderr, "escrowd replay: cannot write %s: %s\n", csv,
				strerror(errno));
			rc = 1;
		} else {
			printf("\n%zu orders written to %s\n", rows, csv);
		}
	}
	esc_replay_report_release(&rep);
	return rc ? 1 : 0;
}

/* escrowd serve's own lines, from the start of its work on: one JSON
 * line each (util/log.h), as every line of the running daemon. */
static void say(enum esc_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(enum esc_log_level level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	esc_log(level, msg);
}

static volatile sig_atomic_t stopping;

#define KEY_BYTES_MAX 512

/* A warning found by the start-up checks: a JSON line from serve (its
 * lines are), plain text from escrowd config check. */
static void check_warn(const char *name, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void check_warn(const char *name, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (!strcmp(name, "serve"))
		esc_log(ESC_LOG_WARN, msg);
	else
		fprintf(stderr, "escrowd %s: warning: %s\n", name, msg);
}

/* A secret from a file of its own: its first line, without the line's
 * end or trailing blanks. 0, or 2 with why on stderr (plain text: a
 * mistake in the configuration). */
static int read_secret(const char *name, const char *what, const char *path, char *out, size_t size)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		fprintf(stderr, "escrowd %s: cannot read %s %s: %s\n", name, what, path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return 2;
	}
	if (st.st_mode & (S_IROTH | S_IWOTH))
		check_warn(name,
			   "%s %s may be read by every user of this machine: "
			   "chmod 600 it, or give it as a systemd credential (LoadCredential=)",
			   what, path);
	size_t n = 0;
	ssize_t got;
	while (n < size && (got = read(fd, out + n, size - n)) > 0)
		n += (size_t)got;
	close(fd);
	if (n == size) {
		explicit_bzero(out, size);
		fprintf(stderr, "escrowd %s: %s %s is longer than %zu bytes\n", name, what, path,
			size - 1);
		return 2;
	}
	out[n] = '\0';
	out[strcspn(out, "\r\n")] = '\0';
	n = strlen(out);
	while (n && (out[n - 1] == ' ' || out[n - 1] == '\t'))
		out[--n] = '\0';
	if (!n) {
		fprintf(stderr, "escrowd %s: %s %s is empty\n", name, what, path);
		return 2;
	}
	return 0;
}

/* The operator key: --operator-key, or the file --operator-key-file
 * names, or else the systemd credential operator_key when the unit gave
 * one ($CREDENTIALS_DIRECTORY/operator_key); NULL for none. Its source
 * into *source. 0, or 2 with why on stderr. */
static int operator_key(const char *name, const struct options *o, char *buf, size_t size,
			const char **key, const char **source)
{
	bool inline_key = o->operator_key && *o->operator_key;
	bool file = o->operator_key_file && *o->operator_key_file;
	const char *creds = getenv("CREDENTIALS_DIRECTORY");
	*key = NULL;
	*source = NULL;
	if (inline_key && file) {
		fprintf(stderr,
			"escrowd %s: both operator_key and operator_key_file are set "
			"(flag, environment or config file): keep one\n",
			name);
		return 2;
	}
	if (inline_key) {
		*key = o->operator_key;
		*source = "operator_key (--operator-key, ESCROWD_OPERATOR_KEY)";
		return 0;
	}
	if (file) {
		if (read_secret(name, "operator_key_file", o->operator_key_file, buf, size))
			return 2;
		*key = buf;
		*source = "operator_key_file";
		return 0;
	}
	if (creds && *creds) {
		char path[4096];
		snprintf(path, sizeof path, "%s/operator_key", creds);
		if (access(path, F_OK))
			return 0; /* no such credential: no operator key */
		if (read_secret(name, "the systemd credential", path, buf, size))
			return 2;
		*key = buf;
		*source = "the systemd credential operator_key";
	}
	return 0;
}

/* What escrowd serve checks before it opens the store, and escrowd
 * config check with it: the mode and the clock, the operator key's
 * source and length, the TLS pair, --listen's and http.admin_listen's
 * syntax. Fills ho->listen and ho->operator_key (read into key when it
 * comes from a file). 0, or 2 with why on stderr, in plain text: a
 * mistake here costs nothing. */
static int startup_check(const char *name, const struct options *o, struct esc_http_options *ho,
			 char *key, size_t key_size)
{
	char err[400] = "", host[256];
	const char *source = NULL;
	if (o->clock && !strcmp(o->clock, "manual") && !test_mode(o)) {
		fprintf(stderr,
			"escrowd %s: --clock manual is for tests and demos (clock = manual, "
			"ESCROWD_CLOCK): it lets the operator move time and fire every deadline at "
			"once. This daemon "
			"runs in production mode (the default); to use a manual clock, set mode = "
			"test in the config (or --mode test, ESCROWD_MODE=test), never on a store "
			"that serves real orders\n",
			name);
		return 2;
	}
	if (o->listen && *o->listen) {
		if (strlen(o->listen) >= sizeof ho->listen) {
			fprintf(stderr, "escrowd %s: --listen '%s' is too long\n", name, o->listen);
			return 2;
		}
		snprintf(ho->listen, sizeof ho->listen, "%s", o->listen);
	}
	if (esc_http_listen_check("--listen", ho->listen, host, sizeof host, err, sizeof err) ||
	    (ho->admin_listen[0] && esc_http_listen_check("http.admin_listen", ho->admin_listen,
							  host, sizeof host, err, sizeof err))) {
		fprintf(stderr, "escrowd %s: %s\n", name, err);
		return 2;
	}
	if (!ho->tls_cert[0] != !ho->tls_key[0]) {
		fprintf(stderr,
			"escrowd %s: TLS needs both http.tls_cert and http.tls_key (or neither, "
			"for plain HTTP): %s is set alone\n",
			name, ho->tls_cert[0] ? "http.tls_cert" : "http.tls_key");
		return 2;
	}
	if (operator_key(name, o, key, key_size, &ho->operator_key, &source))
		return 2;
	if (ho->operator_key && strlen(ho->operator_key) < ESC_KEY_SECRET_MIN) {
		fprintf(stderr,
			"escrowd %s: %s: the operator key must be at least %d characters; make a "
			"longer one (openssl rand -hex 24)\n",
			name, source, ESC_KEY_SECRET_MIN);
		return 2;
	}
	return 0;
}

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static int cmd_serve(const struct command *c, struct options *o, int argc, char **argv)
{
	struct esc_engine *e = NULL;
	struct esc_engine_options eo = {0};
	struct sigaction sa;
	char err[300] = "", db[ESC_DB_SHOWN_MAX];
	int rc = parse(c, o, argc, argv);
	if (rc)
		return rc == 1 ? 0 : rc;
	/* Every mistake the configuration can show is told before the store
	 * is opened (or migrated). */
	struct esc_http_options ho = o->http;
	char key[KEY_BYTES_MAX];
	struct esc_systemd sd;
	if (startup_check(c->name, o, &ho, key, sizeof key)) {
		explicit_bzero(key, sizeof key);
		return 2;
	}
	ho.quiet = o->quiet;
	esc_systemd_init(&sd);
	ho.on_state = esc_systemd_on_state;
	ho.on_state_arg = &sd;
	ho.test_mode = test_mode(o);
	eo.manual_clock = o->clock && !strcmp(o->clock, "manual");
	eo.pool = o->pool ? o->pool : 8;
	eo.lease_ms = o->lease_ms;
	eo.commit_delay_us = o->commit_delay_us;
	eo.writer_nice = o->writer_nice;
	eo.fast_password_hashing = fast_hashing(o);
	rc = esc_engine_open(&e, o->db, &o->policy, &eo, err, sizeof err);
	if (rc) {
		say(ESC_LOG_ERROR, "cannot open %s: %s", esc_db_shown(o->db, db, sizeof db),
		    err[0] ? err : esc_error_message(rc));
		explicit_bzero(key, sizeof key);
		return 1;
	}
	/* SPEC §8: what is due at start fires now. The real clock's worker
	 * does it as soon as the daemon listens; a manual clock fires only
	 * when advanced, so a daemon killed after moving it and before firing
	 * would otherwise leave what was due until the next move. */
	if (eo.manual_clock) {
		size_t fired = 0;
		do
			rc = esc_engine_fire_due(e, 0, &fired);
		while (!rc && fired);
		if (rc)
			say(ESC_LOG_ERROR, "deadlines: firing failed: %s", esc_error_message(rc));
		rc = 0;
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (ho.test_mode)
		esc_log(ESC_LOG_WARN,
			"mode = test: --clock manual and POST /v1/clock/advance are allowed; never "
			"serve real orders in this mode",
			ESC_LOG_STR("mode", "test"));
	else
		esc_log(ESC_LOG_INFO, "mode = production: the clock is real",
			ESC_LOG_STR("mode", "production"));
	if (eo.manual_clock)
		say(ESC_LOG_WARN, "manual clock: time moves only through "
				  "POST /v1/clock/advance");
	int nice_error = 0, nice = esc_engine_writer_nice(e, &nice_error);
	if (nice_error)
		esc_log(ESC_LOG_INFO,
			"the writer runs at the process's nice, not writer_nice: lowering a "
			"nice needs CAP_SYS_NICE or an RLIMIT_NICE that allows it (systemd: "
			"LimitNICE=)",
			ESC_LOG_INT("writer_nice", eo.writer_nice),
			ESC_LOG_STR("error", strerror(nice_error)));
	else if (nice)
		esc_log(ESC_LOG_DEBUG, "the writer runs at its writer_nice",
			ESC_LOG_INT("writer_nice", nice));
	if (eo.fast_password_hashing && !ho.test_mode)
		say(ESC_LOG_WARN,
		    "password_hashing = minimum in production mode: passwords are "
		    "hashed at argon2id's least cost, which makes a stolen store's "
		    "passwords cheap to guess; remove the setting (interactive is the "
		    "default)");
	else if (eo.fast_password_hashing)
		say(ESC_LOG_WARN, "password_hashing = minimum: passwords are hashed at "
				  "argon2id's least cost, for tests only");
	/* The webhook delivery worker: a thread of its own, beside the
	 * deadline worker that esc_http_serve runs. libcurl's global state
	 * first, before any thread (webhook/sender.h). */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	struct esc_webhook_worker *hooks = NULL;
	rc = esc_webhook_worker_new(e, &ho.webhooks, &hooks);
	if (!rc)
		rc = esc_webhook_worker_start(hooks);
	if (rc) {
		say(ESC_LOG_ERROR, "webhooks: %s", esc_error_message(rc));
		explicit_bzero(key, sizeof key);
		esc_webhook_worker_free(hooks);
		esc_engine_free(e);
		return 1;
	}
	rc = esc_http_serve(e, &ho, &stopping, NULL, err, sizeof err);
	explicit_bzero(key, sizeof key);
	if (rc)
		say(ESC_LOG_ERROR, "%s", err[0] ? err : esc_error_message(rc));
	esc_webhook_worker_free(hooks);
	esc_engine_free(e);
	return rc ? 1 : 0;
}

static int cmd_config(const struct command *c, struct options *o, int argc, char **argv)
{
	const char *verb = argc > 1 ? argv[1] : "";
	if (!strcmp(verb, "--help") || !strcmp(verb, "-h")) {
		fputs(c->usage, stdout);
		return 0;
	}
	if (!strcmp(verb, "keys")) {
		if (argc > 2) {
			fprintf(stderr, "escrowd config keys: takes no arguments\n%s", c->usage);
			return 2;
		}
		for (size_t i = 0; i < esc_config_keys_count; i++) {
			const struct esc_config_key *k = &esc_config_keys[i];
			printf("%-34s %-17s %s\n", k->name, k->value ? k->value : "-", k->meaning);
		}
		return 0;
	}
	if (strcmp(verb, "check")) {
		fprintf(stderr, "escrowd config: say keys or check\n%s", c->usage);
		return 2;
	}
	int rc = parse(c, o, argc - 1, argv + 1);
	if (rc)
		return rc == 1 ? 0 : rc;
	/* As escrowd serve will read it: its start-up checks too. */
	struct esc_http_options ho = o->http;
	char key[KEY_BYTES_MAX];
	rc = startup_check("config check", o, &ho, key, sizeof key);
	explicit_bzero(key, sizeof key);
	if (rc)
		return rc;
	printf("escrowd config: the configuration is valid%s%s\n",
	       o->config && *o->config ? ": " : "", o->config && *o->config ? o->config : "");
	return 0;
}

static void key_time(int64_t ms, char out[ESC_TIME_SIZE])
{
	if (ms > 0)
		esc_time_format(ms, out);
	else
		snprintf(out, ESC_TIME_SIZE, "-");
}

static int keys_list(struct esc_engine *e)
{
	struct esc_api_key *k = NULL;
	size_t n = 0;
	int rc = esc_keys_list(e, &k, &n);
	if (rc) {
		fprintf(stderr, "escrowd keys list: %s\n", esc_error_message(rc));
		return 1;
	}
	printf("%-26s %-24s %-24s %-24s %s\n", "ID", "CREATED", "LAST USED", "REVOKED", "NAME");
	for (size_t i = 0; i < n; i++) {
		char created[ESC_TIME_SIZE], used[ESC_TIME_SIZE], revoked[ESC_TIME_SIZE];
		esc_time_format(k[i].created_at_ms, created);
		key_time(k[i].last_used_at_ms, used);
		key_time(k[i].revoked_at_ms, revoked);
		printf("%-26s %-24s %-24s %-24s %s\n", k[i].id, created, used, revoked, k[i].name);
	}
	free(k);
	return 0;
}

static int cmd_keys(const struct command *c, struct options *o, int argc, char **argv)
{
	static const char *const extra[] = {"name", "id", NULL};
	const char *values[2] = {NULL, NULL};
	struct esc_engine *e = NULL;
	struct esc_api_key k;
	const char *verb = argc > 1 ? argv[1] : "";
	int rc;

	if (!strcmp(verb, "--help") || !strcmp(verb, "-h")) {
		fputs(c->usage, stdout);
		return 0;
	}
	if (strcmp(verb, "create") && strcmp(verb, "list") && strcmp(verb, "revoke")) {
		fprintf(stderr, "escrowd keys: say create, list or revoke\n%s", c->usage);
		return 2;
	}
	rc = parse_with(c, o, argc - 1, argv + 1, extra, values);
	if (rc)
		return rc == 1 ? 0 : rc;
	const char *name = values[0], *id = values[1];
	if (!strcmp(verb, "create") && (!name || !*name)) {
		fprintf(stderr, "escrowd keys create: --name NAME is required\n%s", c->usage);
		return 2;
	}
	if (!strcmp(verb, "revoke") && !(id && *id) == !(name && *name)) {
		fprintf(stderr, "escrowd keys revoke: give --id ID or --name NAME\n%s", c->usage);
		return 2;
	}
	if (!store_exists("keys", o) || open_engine("keys", o, &e))
		return 1;
	if (!strcmp(verb, "list")) {
		rc = keys_list(e);
	} else if (!strcmp(verb, "create")) {
		char secret[ESC_KEY_SECRET_SIZE];
		rc = esc_keys_create(e, name, secret, &k, NULL);
		if (rc == ESC_EINVAL) {
			fprintf(stderr,
				"escrowd keys create: --name takes 1 to %d characters, no control "
				"characters\n",
				ESC_API_KEY_NAME_MAX);
			rc = 2;
		} else if (rc == ESC_ELIMIT) {
			fprintf(stderr,
				"escrowd keys create: the store holds %d operator keys, revoked "
				"ones included, the most it keeps\n",
				ESC_API_KEYS_MAX);
			rc = 1;
		} else if (rc) {
			fprintf(stderr, "escrowd keys create: %s\n", esc_error_message(rc));
			rc = 1;
		} else {
			printf("id: %s\nname: %s\nsecret: %s\n"
			       "The secret is shown only now: keep it (the store keeps its "
			       "hash).\n",
			       k.id, k.name, secret);
		}
	} else {
		enum esc_keys_refusal why = 0;
		const char *ref = id && *id ? id : name;
		rc = esc_keys_revoke(e, ref, false, &k, &why);
		if (rc == ESC_ENOTFOUND) {
			fprintf(stderr, "escrowd keys revoke: no key is %s (escrowd keys list)\n",
				ref);
		} else if (rc == ESC_ECONFLICT && why == ESC_KEYS_REVOKED) {
			char at[ESC_TIME_SIZE];
			esc_time_format(k.revoked_at_ms, at);
			fprintf(stderr, "escrowd keys revoke: %s was revoked already, at %s\n",
				k.id, at);
		} else if (rc == ESC_ECONFLICT) {
			fprintf(stderr,
				"escrowd keys revoke: several active keys are named %s: give --id "
				"(escrowd keys list)\n",
				ref);
		} else if (rc) {
			fprintf(stderr, "escrowd keys revoke: %s\n", esc_error_message(rc));
		} else {
			printf("revoked %s (%s)\n", k.id, k.name);
		}
		rc = rc ? 1 : 0;
	}
	esc_engine_free(e);
	return rc;
}

int main(int argc, char **argv)
{
	struct options o = {.commit_delay_us = ESC_COMMIT_DELAY_US_DEFAULT,
			    .writer_nice = ESC_WRITER_NICE_DEFAULT};
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("escrowd %s\n", ESC_VERSION);
		return 0;
	}
	for (size_t i = 0; i < COMMANDS; i++) {
		if (!strcmp(argv[1], commands[i].name)) {
			int rc = commands[i].run(&commands[i], &o, argc - 1, argv + 1);
			options_release(&o);
			return rc;
		}
	}
	fprintf(stderr, "escrowd: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
