/* support.h - helpers shared by the cmocka tests: temporary directories
 * holding real SQLite files, removed when the test ends. */
#ifndef ESC_TEST_SUPPORT_H
#define ESC_TEST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

/* Make a new directory under $TMPDIR (or /tmp) and write its path into
 * out. Aborts the test on failure. */
void esc_test_tmpdir(char *out, size_t size);
/* Remove a directory made by esc_test_tmpdir and everything in it. */
void esc_test_rmdir(const char *dir);
/* out = dir + "/" + name. */
void esc_test_path(char *out, size_t size, const char *dir, const char *name);

/* A fixed start for manual clocks: 2026-01-05T12:00:00Z. */
#define ESC_TEST_T0 INT64_C(1767614400000)

/* Run the escrowd binary at path with args (shell words, quoted by the
 * caller), ESCROWD_DB and ESCROWD_CONFIG unset and env (NAME=value
 * words, or NULL) set; its stdout and stderr together into out (cut to
 * size). Returns its exit status; fails the test if it did not exit. */
int esc_test_run_cli(const char *binary, const char *env, const char *args, char *out, size_t size);
/* The same with args made printf's way from fmt. */
int esc_test_run_clif(const char *binary, const char *env, char *out, size_t size, const char *fmt,
		      ...) __attribute__((format(printf, 5, 6)));

/* Fail the test unless out holds what (and show out). */
void esc_test_contains(const char *out, const char *what);

/* Write text to a new file at path (or over it). */
void esc_test_write_file(const char *path, const char *text);

#endif

/* Assert that two orders agree in every field. */
struct esc_order;
void esc_assert_orders_equal(const struct esc_order *a, const struct esc_order *b);

/* The store of one test: a new SQLite file in dir, or, when the test runs
 * on PostgreSQL (ESC_TEST_STORE=postgresql, as meson's "-pg" tests do), a
 * new database on ESC_TEST_PG's server. esc_test_store_drop forgets it
 * (the directory is the caller's to remove). */
void esc_test_store(char *out, size_t size, const char *dir);
void esc_test_store_drop(const char *url);
/* For main(): exit 77 (skipped) when the test should run on PostgreSQL
 * but no server was given, and say so. */
void esc_test_store_or_skip(const char *name);

/* The real daemon for HTTP tests: `escrowd serve` (from $ESC_BUILD_DIR) on
 * 127.0.0.1 with a port of its choosing, a manual clock and the operator
 * key given, on the store at db (set dir and db first). Its log is drained
 * in a thread (shown with ESC_TEST_VERBOSE=1), so it never blocks. stop
 * sends SIGTERM and asserts a clean exit, leaks included under ASan. */
struct esc_test_daemon {
	char dir[256];
	char db[300];
	char config[300]; /* --config, when not empty */
	int pid;
	int port;
	struct esc_test_log *log; /* the end of its stderr, kept by a thread */
};
/* A thread's body: read a daemon's log (a FILE * on its stderr) to its
 * end, which its exit brings, echoing it when ESC_TEST_VERBOSE is set. */
void *esc_test_drain_log(void *arg);

/* Run fn in a child; it must die of SIGABRT, having written want (a part
 * of its stderr): a bug's ESC_BUG or ESC_ASSERT. */
void esc_test_expect_abort(void (*fn)(void), const char *want);

void esc_test_daemon_start(struct esc_test_daemon *d, const char *operator_key);
/* The daemon's --config: text (policy and settings lines) written to
 * escrowd.conf in d->dir (set dir first); NULL for none. */
void esc_test_daemon_config(struct esc_test_daemon *d, const char *text);
/* SIGTERM, then the daemon must exit 0; when it does not, its exit
 * status or signal and the end of its log are shown. */
void esc_test_daemon_stop(struct esc_test_daemon *d);

/* Engine fixtures: an engine on a new store (esc_test_store), with a manual clock at ESC_TEST_T0
 * and fast password hashing, and a buyer and a seller. */
#include "engine/engine.h"

struct esc_fixture {
	char dir[256];
	char db[300];
	struct esc_engine *e;
	struct esc_user buyer, buyer2, seller, seller2;
};

void esc_fixture_init(struct esc_fixture *f);
/* Close and reopen the engine on the same file (a restart). */
void esc_fixture_restart(struct esc_fixture *f);
void esc_fixture_release(struct esc_fixture *f);
/* cmocka group hooks: a new fixture in *state; at the end the ledger
 * invariants are checked and the fixture released. */
int esc_fixture_setup(void **state);
int esc_fixture_teardown(void **state);

/* Create an order of `total` EUR minor units from buyer to seller; asserts
 * success and returns the order. */
struct esc_order esc_fixture_order(struct esc_fixture *f, const struct esc_user *buyer,
				   const struct esc_user *seller, int64_t total);
/* Run a command; returns the result's rc. */
int esc_fixture_run(struct esc_fixture *f, struct esc_command *c, struct esc_result *r);
/* Shorthands that assert success and return the order after. */
struct esc_order esc_fixture_pay(struct esc_fixture *f, const struct esc_order *o,
				 enum esc_method m);
struct esc_order esc_fixture_request(struct esc_fixture *f, const struct esc_order *o,
				     const char *reason, enum esc_refund_to to);
struct esc_order esc_fixture_as(struct esc_fixture *f, const struct esc_order *o, enum esc_event ev,
				enum esc_actor who);
/* Reads that assert success. */
struct esc_order esc_fixture_get(struct esc_fixture *f, const char *order_id);
/* The order's history rows, oldest first (at most 64), in a buffer the
 * caller frees. */
struct esc_history *esc_fixture_history(struct esc_fixture *f, const char *order_id, size_t *n);
size_t esc_fixture_history_count(struct esc_fixture *f, const char *order_id);
int64_t esc_fixture_outbox_count(struct esc_fixture *f);
int64_t esc_fixture_transfers_count(struct esc_fixture *f);
/* An account's EUR balance; escrow_balance: that of the order's escrow. */
int64_t esc_fixture_balance(struct esc_fixture *f, const char *account);
int64_t esc_fixture_escrow_balance(struct esc_fixture *f, const char *order_id);
/* Assert the store's invariants hold (escrowd check's). */
void esc_fixture_check(struct esc_fixture *f);
/* An engine on the fixture's store, as another process would be (a manual
 * clock), whose leases (lease_ms, 0 for the default) run on the clock
 * real; and the heartbeat of its process's row, as another reads it. */
struct esc_engine *esc_fixture_process(struct esc_fixture *f, struct esc_clock *real,
				       int64_t lease_ms);
int64_t esc_fixture_heartbeat(struct esc_fixture *f, struct esc_engine *e);
/* Fire due deadlines until none is left; returns how many fired. */
size_t esc_fixture_fire(struct esc_fixture *f);

/* HTTP against a test daemon, for the suites that drive the API: one
 * request with curl (the caller has run curl_global_init), its status and
 * its JSON answer (fails the test when the answer is not JSON). token is
 * an operator key or a session token, "" for none; body may be NULL. */
#include <jansson.h>

struct esc_test_reply {
	long status;
	char *body;
	size_t len;
	json_t *json;
};

/* One more header ("Accept-Language: is") for the next call only. */
extern const char *esc_test_header;
struct esc_test_reply esc_test_call(int port, const char *method, const char *path,
				    const char *token, const char *body);
void esc_test_reply_drop(struct esc_test_reply *r);
/* A request that must answer status; its JSON, the caller's reference. */
json_t *esc_test_must(int port, const char *method, const char *path, const char *token,
		      const char *body, long status);
/* A string member of j, "" when missing. */
const char *esc_test_str(json_t *j, const char *key);

/* A new user made by the operator (key) on the daemon at port, with the
 * password "password-1": its id in id (64 bytes) and, when token is not
 * NULL, a new session's token in token (80 bytes). Fails the test when
 * the daemon refuses. */
void esc_test_user(int port, const char *key, const char *role, const char *name, const char *email,
		   char *id, char *token);
