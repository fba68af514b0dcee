/* test_storage.c - the store failing under a real daemon (issue 12):
 * SQLite on a full file system and on I/O errors, PostgreSQL with its
 * connections killed and its server restarted under load. Every command
 * answers 2xx or 503 (a JSON error saying to try again), never 500 nor
 * nothing; nothing is half-done (`escrowd check`, each order's history);
 * a 503'd command sent again with its Idempotency-Key is applied once; and
 * the daemon serves again by itself, without a restart.
 *
 * `storage` runs the SQLite part, `storage-pg` (ESC_TEST_STORE=postgresql)
 * the PostgreSQL part. The full disk is a tmpfs of 32 MiB mounted in a
 * mount namespace of the test's own (root, or a user namespace otherwise;
 * skipped when neither is allowed); the I/O errors come from an
 * LD_PRELOAD shim (tests/shim/eio.c); the restarted server is a private
 * one (tests/pg/server), so that the other tests' server stays up. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pgtest.h"
#include "store/store.h"
#include "support.h"
#include "util/error.h"

extern char **environ;

#define KEY               "storage-operator-key-0001"
#define REQUEST_TIMEOUT_S 30L
#define TOTAL             1000 /* each order: one item of 10.00 EUR */

/* ---- the client ---- */

struct reply {
	long status; /* 0: no answer (curl's error in body) */
	char *body;
	size_t len;
	json_t *json;
	long retry_after; /* its Retry-After header's seconds; -1: none */
};

static size_t on_header(char *ptr, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	static const char name[] = "retry-after:";
	if (size * n > sizeof name - 1 && !strncasecmp(ptr, name, sizeof name - 1))
		r->retry_after = strtol(ptr + sizeof name - 1, NULL, 10);
	return size * n;
}

static size_t on_data(char *ptr, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	char *p = realloc(r->body, r->len + size * n + 1);
	if (!p)
		return 0;
	memcpy(p + r->len, ptr, size * n);
	r->len += size * n;
	p[r->len] = '\0';
	r->body = p;
	return size * n;
}

/* One request, from any thread: asserts nothing. A request that gets no
 * answer within REQUEST_TIMEOUT_S (a hang) has status 0. */
static struct reply request(int port, const char *method, const char *path, const char *token,
			    const char *body, const char *idempotency_key)
{
	struct reply r = {.retry_after = -1};
	char url[512], auth[300], idem[300];
	struct curl_slist *h = NULL;
	CURL *c = curl_easy_init();
	if (!c)
		return r;
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, REQUEST_TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (token) {
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
		h = curl_slist_append(h, auth);
	}
	if (idempotency_key) {
		snprintf(idem, sizeof idem, "Idempotency-Key: %s", idempotency_key);
		h = curl_slist_append(h, idem);
	}
	if (body) {
		h = curl_slist_append(h, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	CURLcode cc = curl_easy_perform(c);
	if (cc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
		json_error_t err;
		r.json = r.body ? json_loads(r.body, 0, &err) : NULL;
	} else {
		free(r.body);
		r.body = strdup(curl_easy_strerror(cc));
		r.len = r.body ? strlen(r.body) : 0;
	}
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return r;
}

static void drop(struct reply *r)
{
	json_decref(r->json);
	free(r->body);
	memset(r, 0, sizeof *r);
}

static const char *str(json_t *j, const char *key)
{
	const char *s = json_string_value(json_object_get(j, key));
	return s ? s : "";
}

/* ---- the daemon, with an environment of its own ---- */

struct daemon {
	int pid; /* 0 once stopped */
	int port;
	pthread_t drain;
	FILE *log;
	/* Lines of its log saying a store failure with what the backend
	 * said (engine.c's log_failure): read once the drain has ended. */
	long store_failures, store_failures_said;
	/* The webhook worker's lines while its store failed: a failure
	 * ("webhooks: ... failed"), whether it said what the store said, and
	 * the line that it works again, with its count of failed rounds.
	 * Read while the daemon runs. */
	_Atomic long webhook_failed, webhook_failed_said, webhook_again, webhook_again_failures;
};

/* The daemon's log, read to its end (shown with ESC_TEST_VERBOSE), its
 * store failure lines counted. */
static void *drain_counting(void *arg)
{
	struct daemon *d = arg;
	char line[2048];
	while (fgets(line, sizeof line, d->log)) {
		if (getenv("ESC_TEST_VERBOSE"))
			fputs(line, stderr);
		/* engine.c's log_failure: {"time":...,"level":"error","msg":
		 * "store failure at commit (N commands undone)",...,
		 * "store_said":"what the store said"} */
		if (strstr(line, "\"msg\":\"store failure at ") &&
		    strstr(line, "\"level\":\"error\"")) {
			d->store_failures++;
			if (strstr(line, "\"store_said\":\""))
				d->store_failures_said++;
		}
		/* util/log.c's esc_log_run_failed and esc_log_run_ok. */
		if (strstr(line, "\"msg\":\"webhooks: ") && strstr(line, " failed\"")) {
			if (strstr(line, "\"store_said\":\""))
				d->webhook_failed_said++;
			d->webhook_failed++;
		}
		const char *again = strstr(line, "\"msg\":\"webhooks: working again");
		const char *count = again ? strstr(again, "\"failures\":") : NULL;
		if (count) {
			d->webhook_again_failures = atol(count + strlen("\"failures\":"));
			d->webhook_again++;
		}
	}
	fclose(d->log);
	return NULL;
}

struct loads;

/* What a test has running, for cleanup() to end when the test fails
 * half-way: nothing may outlive the test. */
static struct {
	struct daemon *daemon;
	struct loads *loads;
	char server[64];   /* a private PostgreSQL server's directory */
	char mounted[300]; /* a tmpfs */
	char dir[256];     /* a temporary directory */
} live;

static const char *build_dir(void)
{
	const char *build = getenv("ESC_BUILD_DIR");
	return build && *build ? build : "build";
}

/* `escrowd serve` on db with a manual clock, and extra ("NAME=value", up
 * to NULL) added to (or replacing in) the test's environment. */
static void daemon_start(struct daemon *d, const char *db, const char *const *extra)
{
	static const char mark[] = "listening on http://127.0.0.1:";
	char exe[512];
	const char *env[256];
	size_t n = 0;
	int fds[2];

	snprintf(exe, sizeof exe, "%s/escrowd", build_dir());
	for (char **e = environ; *e && n + 16 < sizeof env / sizeof env[0]; e++) {
		bool replaced = false;
		for (const char *const *x = extra; x && *x; x++) {
			size_t name = strcspn(*x, "=");
			replaced |= !strncmp(*e, *x, name + 1);
		}
		if (!replaced)
			env[n++] = *e;
	}
	for (const char *const *x = extra; x && *x; x++)
		env[n++] = *x;
	env[n] = NULL;
	assert_int_equal(pipe(fds), 0);
	d->pid = fork();
	assert_true(d->pid >= 0);
	if (d->pid == 0) {
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		execve(exe,
		       (char *const[]){exe, "serve", "--db", (char *)db, "--listen", "127.0.0.1:0",
				       "--mode", "test", "--clock", "manual", "--operator-key", KEY,
				       NULL},
		       (char *const *)env);
		_exit(127);
	}
	close(fds[1]);
	FILE *f = fdopen(fds[0], "r");
	char line[2048];
	d->port = 0;
	while (!d->port && fgets(line, sizeof line, f)) {
		const char *p = strstr(line, mark);
		if (p)
			d->port = atoi(p + strlen(mark));
		else if (getenv("ESC_TEST_VERBOSE"))
			fputs(line, stderr);
	}
	if (!d->port) {
		kill(d->pid, SIGKILL);
		waitpid(d->pid, NULL, 0);
		fail_msg("escrowd serve --db %s did not start", db);
	}
	d->log = f;
	d->store_failures = d->store_failures_said = 0;
	d->webhook_failed = d->webhook_failed_said = 0;
	d->webhook_again = d->webhook_again_failures = 0;
	assert_int_equal(pthread_create(&d->drain, NULL, drain_counting, d), 0);
	live.daemon = d;
}

/* SIGTERM: the daemon must finish cleanly, whatever its store went
 * through. */
static void daemon_stop(struct daemon *d)
{
	int status = 0;
	kill(d->pid, SIGTERM);
	assert_int_equal(waitpid(d->pid, &status, 0), d->pid);
	pthread_join(d->drain, NULL);
	d->pid = 0;
	live.daemon = NULL;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("the daemon did not stop cleanly (status %#x)", status);
}

/* ---- the marketplace and its commands ---- */

struct market {
	int port;
	char buyer_id[64], seller_id[64];
	char buyer_token[80], seller_token[80];
};

static void make_user(struct market *m, const char *role, const char *email, char *id, char *token)
{
	char body[300];
	snprintf(body, sizeof body,
		 "{\"role\":\"%s\",\"name\":\"%s\",\"email\":\"%s\",\"password\":\"password-1\"}",
		 role, role, email);
	struct reply r = request(m->port, "POST", "/v1/users", KEY, body, NULL);
	if (r.status != 201)
		fail_msg("POST /v1/users: %ld %s", r.status, r.body ? r.body : "");
	snprintf(id, 64, "%s", str(r.json, "id"));
	drop(&r);
	snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"password-1\"}", email);
	r = request(m->port, "POST", "/v1/sessions", NULL, body, NULL);
	if (r.status != 201)
		fail_msg("POST /v1/sessions: %ld %s", r.status, r.body ? r.body : "");
	snprintf(token, 80, "%s", str(r.json, "token"));
	drop(&r);
}

static void market_init(struct market *m, int port)
{
	memset(m, 0, sizeof *m);
	m->port = port;
	make_user(m, "buyer", "buyer@storage.test", m->buyer_id, m->buyer_token);
	make_user(m, "seller", "seller@storage.test", m->seller_id, m->seller_token);
}

/* Each order goes through these commands, each with its own key: the
 * operator's, the seller's and the buyer's, and money moved at each
 * payment and release. (Not cancellations: ten would suspend the buyer.) */
enum step { CREATE, PAY, SHIP, CONFIRM, STEPS };
static const enum esc_event step_event[STEPS] = {ESC_EV_CREATE, ESC_EV_PAY, ESC_EV_SHIP,
						 ESC_EV_CONFIRM_RECEIPT};
static const long step_status[STEPS] = {201, 200, 200, 200};

struct slot {
	char order_id[64];
	int done;    /* steps answered 2xx */
	bool failed; /* its next step was answered 503 and not sent again yet */
};

/* What a client saw; counters shared by the load threads. */
struct tally {
	atomic_long sent, ok, unavailable;
	pthread_mutex_t lock;
	char problem[600]; /* the first answer that was neither 2xx nor 503 */
};

static void tally_init(struct tally *t)
{
	memset(t, 0, sizeof *t);
	pthread_mutex_init(&t->lock, NULL);
}

static void tally_problem(struct tally *t, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&t->lock);
	if (!t->problem[0]) {
		va_start(ap, fmt);
		vsnprintf(t->problem, sizeof t->problem, fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&t->lock);
}

static void tally_assert_clean(struct tally *t)
{
	if (t->problem[0])
		fail_msg("%s", t->problem);
}

/* Send the slot's next step with its Idempotency-Key (run, slot, step):
 * returns its status. 2xx moves the slot on; 503 must be a JSON error
 * "unavailable" with a message and a Retry-After; anything else is a
 * problem. */
static long step_send(const struct market *m, const char *run, int index, struct slot *sl,
		      struct tally *t)
{
	char path[160], body[400], key[96];
	const char *token = KEY;
	enum step step = (enum step)sl->done;
	long status = 0;

	snprintf(key, sizeof key, "%s-%d-%d", run, index, (int)step);
	switch (step) {
	case CREATE:
		snprintf(path, sizeof path, "/v1/orders");
		snprintf(body, sizeof body,
			 "{\"buyer_id\":\"%s\",\"seller_id\":\"%s\",\"currency\":\"EUR\","
			 "\"items\":[{\"title\":\"Mug\",\"quantity\":1,\"unit_price\":%d}]}",
			 m->buyer_id, m->seller_id, TOTAL);
		break;
	case PAY:
		snprintf(path, sizeof path, "/v1/orders/%s/pay", sl->order_id);
		snprintf(body, sizeof body, "{\"amount\":%d,\"payment_method\":\"card\"}", TOTAL);
		break;
	case SHIP:
		snprintf(path, sizeof path, "/v1/orders/%s/ship", sl->order_id);
		snprintf(body, sizeof body,
			 "{\"carrier\":\"Posturinn\",\"tracking_number\":\"RR%09dIS\"}", index);
		token = m->seller_token;
		break;
	default:
		snprintf(path, sizeof path, "/v1/orders/%s/confirm-receipt", sl->order_id);
		snprintf(body, sizeof body, "{}");
		token = m->buyer_token;
		break;
	}
	struct reply r = request(m->port, "POST", path, token, body, key);
	status = r.status;
	t->sent++;
	if (status == step_status[step]) {
		t->ok++;
		if (step == CREATE)
			snprintf(sl->order_id, sizeof sl->order_id, "%s", str(r.json, "id"));
		if (step == CREATE && !sl->order_id[0])
			tally_problem(t, "POST %s (key %s): no id in %s", path, key, r.body);
		sl->done++;
		sl->failed = false;
	} else if (status == 503) {
		json_t *err = json_object_get(r.json, "error");
		t->unavailable++;
		sl->failed = true;
		if (strcmp(str(err, "code"), "unavailable") || !str(err, "message")[0])
			tally_problem(t, "POST %s (key %s): 503 without its JSON error: %s", path,
				      key, r.body ? r.body : "");
		if (r.retry_after < 1)
			tally_problem(t, "POST %s (key %s): 503 without a Retry-After", path, key);
	} else {
		tally_problem(t, "POST %s (key %s): %ld %s", path, key, status,
			      r.body ? r.body : "(no answer)");
	}
	drop(&r);
	return status;
}

/* Take the slot to `to` steps, every answer 2xx. */
static void slot_to(const struct market *m, const char *run, int index, struct slot *sl, int to,
		    struct tally *t)
{
	while (sl->done < to) {
		int step = sl->done;
		long status = step_send(m, run, index, sl, t);
		if (status != step_status[step])
			fail_msg("%s: slot %d step %d answered %ld: %s", run, index, step, status,
				 t->problem);
	}
	tally_assert_clean(t);
}

/* The order's history through the API, as its party the buyer sees it. */
static size_t events_seen(const struct market *m, const char *order_id)
{
	char path[160];
	snprintf(path, sizeof path, "/v1/orders/%.100s/events?limit=100", order_id);
	struct reply r = request(m->port, "GET", path, m->buyer_token, NULL, NULL);
	if (r.status != 200)
		fail_msg("GET %s: %ld %s", path, r.status, r.body ? r.body : "");
	size_t n = json_array_size(json_object_get(r.json, "data"));
	drop(&r);
	return n;
}

/* The buyer's orders, through the API. */
static size_t orders_seen(const struct market *m)
{
	char path[200], after[64] = "";
	size_t count = 0;
	for (;;) {
		snprintf(path, sizeof path, "/v1/orders?limit=100%s%s",
			 after[0] ? "&starting_after=" : "", after);
		struct reply r = request(m->port, "GET", path, m->buyer_token, NULL, NULL);
		if (r.status != 200)
			fail_msg("GET %s: %ld %s", path, r.status, r.body ? r.body : "");
		json_t *data = json_object_get(r.json, "data");
		size_t n = json_array_size(data);
		count += n;
		if (n)
			snprintf(after, sizeof after, "%s", str(json_array_get(data, n - 1), "id"));
		bool more = json_is_true(json_object_get(r.json, "has_more"));
		drop(&r);
		if (!more || !n)
			return count;
	}
}

/* Nothing of a 503'd command is there: each failed slot's order has the
 * history of its 2xx steps only, and the orders are those whose creation
 * was answered. */
static void failed_commands_absent(const struct market *m, const struct slot *slots, int n)
{
	size_t created = 0;
	for (int i = 0; i < n; i++) {
		created += slots[i].done > 0;
		if (slots[i].failed && slots[i].done > 0 &&
		    events_seen(m, slots[i].order_id) != (size_t)slots[i].done)
			fail_msg("order %s: a command answered 503 is in its history",
				 slots[i].order_id);
	}
	assert_int_equal(orders_seen(m), created);
}

/* ---- after: the store itself ---- */

static void escrowd_check(const char *db)
{
	char cmd[1024], line[512];
	snprintf(cmd, sizeof cmd, "'%s/escrowd' check --db '%s' 2>&1", build_dir(), db);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof line, p))
		fprintf(stderr, "escrowd check: %s", line);
	int status = pclose(p);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("escrowd check --db %s failed", db);
}

static void sqlite_integrity(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	const char *ok = (const char *)sqlite3_column_text(st, 0);
	if (!ok || strcmp(ok, "ok"))
		fail_msg("PRAGMA integrity_check: %s", ok ? ok : "(null)");
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* With the daemon stopped: the ledger holds, the store has exactly the
 * slots' orders, and each order's history is its 2xx steps, each once
 * and in order. */
static void store_holds(const char *db, struct slot *const *slots, const int *counts, int groups)
{
	struct esc_store *s = NULL;
	struct esc_history h[16];
	int64_t by_state[ESC_ST_COUNT], orders = 0, expected = 0;
	char err[300] = "";
	int rc;

	escrowd_check(db);
	if (esc_store_open(db, &s, err, sizeof err))
		fail_msg("cannot open %s: %s", db, err);
	ESC_STORE(rc, s, orders_count, NULL, NULL, by_state);
	assert_int_equal(rc, 0);
	for (int k = 0; k < ESC_ST_COUNT; k++)
		orders += by_state[k];
	for (int g = 0; g < groups; g++) {
		for (int i = 0; i < counts[g]; i++) {
			const struct slot *sl = &slots[g][i];
			size_t n = 0;
			if (!sl->done)
				continue;
			expected++;
			ESC_STORE(rc, s, history_list, sl->order_id, 0, h, 16, &n);
			assert_int_equal(rc, 0);
			if (n != (size_t)sl->done)
				fail_msg("order %s: %zu history rows for %d commands answered 2xx",
					 sl->order_id, n, sl->done);
			for (size_t k = 0; k < n; k++)
				if (h[k].event != step_event[k])
					fail_msg("order %s: history row %zu is %s, not %s",
						 sl->order_id, k, esc_event_name(h[k].event),
						 esc_event_name(step_event[k]));
		}
	}
	if (orders != expected)
		fail_msg("%lld orders in the store, %lld created", (long long)orders,
			 (long long)expected);
	esc_store_close(s);
}

/* ---- SQLite: a full file system ---- */

static bool own_mounts;     /* in a mount namespace of our own */
static char no_mounts[200]; /* why not */

static int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* Before any thread: a mount namespace whose mounts nobody else sees and
 * which ends with the test, as root, or else inside a user namespace
 * where this process is root. */
static void enter_mount_namespace(void)
{
	char map[64];
	uid_t uid = geteuid();
	gid_t gid = getegid();

	if (uid != 0) {
		if (unshare(CLONE_NEWUSER | CLONE_NEWNS)) {
			snprintf(no_mounts, sizeof no_mounts,
				 "not root, and no user namespace (%s)", strerror(errno));
			return;
		}
		(void)write_text("/proc/self/setgroups", "deny");
		snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
		if (write_text("/proc/self/uid_map", map)) {
			snprintf(no_mounts, sizeof no_mounts, "cannot map the user namespace");
			return;
		}
		snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
		(void)write_text("/proc/self/gid_map", map);
	} else if (unshare(CLONE_NEWNS)) {
		snprintf(no_mounts, sizeof no_mounts, "no mount namespace (%s)", strerror(errno));
		return;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) {
		snprintf(no_mounts, sizeof no_mounts, "cannot make the mounts private (%s)",
			 strerror(errno));
		return;
	}
	own_mounts = true;
}

/* Fill the file system of path with a file there until it has no room. */
static int64_t fill(const char *path)
{
	static char block[65536];
	int64_t bytes = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	for (size_t size = sizeof block; size >= 512; size /= 8) {
		ssize_t n;
		while ((n = write(fd, block, size)) > 0)
			bytes += n;
		assert_true(n < 0 && errno == ENOSPC);
	}
	close(fd);
	return bytes;
}

#define FULL_SLOTS  64
#define FULL_EARLY  6  /* taken to the end before the disk fills */
#define FULL_STAGED 12 /* left at each step in turn, to meet the full disk there */
#define FULL_SENDS  160
#define FULL_ENOUGH 24 /* 503s: then the disk has made its point */

static void issue_12_storage_sqlite_full_disk_answers_503_and_recovers(void **cmstate)
{
	static struct slot slots[FULL_SLOTS];
	struct tally t;
	struct daemon d = {0};
	struct market m;
	char dir[256], disk[300], db[320], filler[320];
	(void)cmstate;

	if (!own_mounts) {
		print_message("skipped: no file system of our own to fill: %s\n", no_mounts);
		skip();
	}
	memset(slots, 0, sizeof slots);
	tally_init(&t);
	esc_test_tmpdir(dir, sizeof dir);
	snprintf(live.dir, sizeof live.dir, "%s", dir);
	esc_test_path(disk, sizeof disk, dir, "disk");
	assert_int_equal(mkdir(disk, 0700), 0);
	/* 32 MiB: once the filler is gone, room for the WAL, which grows to
	 * some 16 MiB under a steady stream of commits before it starts over
	 * (the store's CHECKPOINT_WAL_PAGES). */
	if (mount("tmpfs", disk, "tmpfs", MS_NOSUID | MS_NODEV, "size=32m,mode=0700")) {
		print_message("skipped: cannot mount a tmpfs: %s\n", strerror(errno));
		skip();
	}
	snprintf(live.mounted, sizeof live.mounted, "%s", disk);
	esc_test_path(db, sizeof db, disk, "escrowd.db");
	esc_test_path(filler, sizeof filler, disk, "filler");
	daemon_start(&d, db, NULL);
	market_init(&m, d.port);

	/* Room: orders go through, and some are left at each step. */
	int n = 0;
	for (; n < FULL_EARLY; n++)
		slot_to(&m, "full", n, &slots[n], STEPS, &t);
	for (int k = 0; k < FULL_STAGED; k++, n++)
		slot_to(&m, "full", n, &slots[n], k % STEPS, &t);
	long sent_with_room = t.sent;

	/* No room: each staged order's next command, then new orders, until
	 * enough 503s. A 503 leaves its order where it was. */
	int64_t filled = fill(filler);
	for (int i = FULL_EARLY; i < FULL_SLOTS; i++) {
		if (i == n)
			n++;
		while (slots[i].done < STEPS && step_send(&m, "full", i, &slots[i], &t) / 100 == 2)
			;
		tally_assert_clean(&t);
		if (t.sent - sent_with_room >= FULL_SENDS || t.unavailable >= FULL_ENOUGH)
			break;
	}
	long sent_full = t.sent - sent_with_room, unavailable = t.unavailable;
	if (!unavailable)
		fail_msg("%ld commands on a full disk, none answered 503", sent_full);
	/* Reads still work on a full disk. */
	char path[160];
	snprintf(path, sizeof path, "/v1/orders/%s", slots[0].order_id);
	struct reply r = request(m.port, "GET", path, m.buyer_token, NULL, NULL);
	if (r.status != 200)
		fail_msg("GET %s on a full disk: %ld %s", path, r.status, r.body ? r.body : "");
	drop(&r);

	/* Room again: nothing of the 503'd commands is there; sent again with
	 * their keys they succeed, once, without a restart. */
	assert_int_equal(unlink(filler), 0);
	failed_commands_absent(&m, slots, n);
	int retried = 0;
	for (int i = 0; i < n; i++) {
		if (!slots[i].failed)
			continue;
		retried++;
		long status = step_send(&m, "full", i, &slots[i], &t);
		if (status / 100 != 2)
			fail_msg("slot %d sent again after the disk has room: %ld (%s)", i, status,
				 t.problem);
	}
	for (int i = 0; i < n; i++)
		slot_to(&m, "full", i, &slots[i], STEPS, &t);
	daemon_stop(&d);

	struct slot *groups[] = {slots};
	store_holds(db, groups, &n, 1);
	sqlite_integrity(db);
	print_message("sqlite full disk: %ld commands (%ld on the full disk, a filler of %lld "
		      "bytes), %ld answered 503, all retried by key: %d, each applied once; "
		      "%d orders\n",
		      (long)t.sent, sent_full, (long long)filled, unavailable, retried, n);
	assert_int_equal(umount(disk), 0);
	live.mounted[0] = '\0';
}

/* ---- SQLite: I/O errors ---- */

#define EIO_SLOTS  32
#define EIO_EARLY  4
#define EIO_STAGED 16 /* 4 per step: 2 for failing writes, 2 for failing syncs */

/* Each staged slot's next command, with the flag file holding mode: all
 * of them are answered 503, and reads still work. */
static long eio_phase(const struct market *m, struct slot *slots, int from, int count,
		      const char *flag, const char *mode, struct tally *t)
{
	FILE *f = fopen(flag, "w");
	assert_non_null(f);
	fputs(mode, f);
	fclose(f);
	long before = t->unavailable;
	for (int i = from; i < from + count; i++) {
		long status = step_send(m, "eio", i, &slots[i], t);
		tally_assert_clean(t);
		if (status != 503)
			fail_msg("step %d of slot %d with failing %s: %ld, not 503", slots[i].done,
				 i, mode, status);
	}
	char path[160];
	snprintf(path, sizeof path, "/v1/orders/%s", slots[0].order_id);
	struct reply r = request(m->port, "GET", path, m->buyer_token, NULL, NULL);
	if (r.status != 200)
		fail_msg("GET %s with failing %s: %ld %s", path, mode, r.status,
			 r.body ? r.body : "");
	drop(&r);
	assert_int_equal(unlink(flag), 0);
	return t->unavailable - before;
}

static long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) ? 0 : (long)st.st_size;
}

static void issue_12_storage_sqlite_io_errors_answer_503_and_recover(void **cmstate)
{
	static struct slot slots[EIO_SLOTS];
	const char *shim = getenv("ESC_EIO_SHIM");
	char dir[256], db[300], flag[300], count_file[310];
	char env_preload[400], env_flag[330], env_dir[300], env_asan[600];
	struct tally t;
	struct daemon d = {0};
	struct market m;
	(void)cmstate;

	if (!shim || access(shim, R_OK)) {
		print_message("skipped: no EIO shim (ESC_EIO_SHIM; meson builds it)\n");
		skip();
	}
	memset(slots, 0, sizeof slots);
	tally_init(&t);
	esc_test_tmpdir(dir, sizeof dir);
	snprintf(live.dir, sizeof live.dir, "%s", dir);
	esc_test_path(db, sizeof db, dir, "escrowd.db");
	esc_test_path(flag, sizeof flag, dir, "eio-flag");
	snprintf(count_file, sizeof count_file, "%s.count", flag);
	snprintf(env_preload, sizeof env_preload, "LD_PRELOAD=%s", shim);
	snprintf(env_flag, sizeof env_flag, "ESC_EIO_FLAG=%s", flag);
	snprintf(env_dir, sizeof env_dir, "ESC_EIO_DIR=%s", dir);
	/* Under ASan the shim comes before its runtime; that is fine. */
	const char *asan = getenv("ASAN_OPTIONS");
	snprintf(env_asan, sizeof env_asan, "ASAN_OPTIONS=%s%sverify_asan_link_order=0",
		 asan ? asan : "", asan && *asan ? ":" : "");
	const char *const env[] = {env_preload, env_flag, env_dir, env_asan, NULL};
	daemon_start(&d, db, env);
	market_init(&m, d.port);

	int n = 0;
	for (; n < EIO_EARLY; n++)
		slot_to(&m, "eio", n, &slots[n], STEPS, &t);
	for (int k = 0; k < EIO_STAGED; k++, n++)
		slot_to(&m, "eio", n, &slots[n], k % STEPS, &t);

	/* Writes fail, then only syncs (the WAL written, its fsync not):
	 * each step of the lifecycle meets each. */
	long write_errors = eio_phase(&m, slots, EIO_EARLY, EIO_STAGED / 2, flag, "writes", &t);
	long sync_errors =
		eio_phase(&m, slots, EIO_EARLY + EIO_STAGED / 2, EIO_STAGED / 2, flag, "sync", &t);
	long faults = file_size(count_file);
	assert_true(faults > 0);

	failed_commands_absent(&m, slots, n);
	int retried = 0;
	for (int i = 0; i < n; i++) {
		if (!slots[i].failed)
			continue;
		retried++;
		long status = step_send(&m, "eio", i, &slots[i], &t);
		if (status / 100 != 2)
			fail_msg("slot %d sent again after the I/O errors: %ld (%s)", i, status,
				 t.problem);
	}
	for (int i = 0; i < n; i++)
		slot_to(&m, "eio", i, &slots[i], STEPS, &t);
	daemon_stop(&d);

	struct slot *groups[] = {slots};
	store_holds(db, groups, &n, 1);
	sqlite_integrity(db);
	print_message("sqlite I/O errors: %ld commands, %ld answered 503 (%ld with writes "
		      "failing, %ld with fsync failing; %ld faults injected), all retried by "
		      "key: %d, each applied once; %d orders\n",
		      (long)t.sent, (long)t.unavailable, write_errors, sync_errors, faults, retried,
		      n);
}

/* ---- PostgreSQL: load, and the faults beside it ---- */

#define LOAD_THREADS   4
#define LOAD_SLOTS_MAX 256
#define RETRY_PAUSE_MS 20
#define RETRY_MAX      1500 /* 30 s of 503s for one command: more is a hang */

struct load {
	const struct market *m;
	char run[32];
	atomic_bool *stop;
	struct tally *t;
	struct slot slots[LOAD_SLOTS_MAX];
	int n;
	int most_tries; /* the most sends one command took */
};

/* A client: orders through every step, each command sent again with its
 * key after a 503 until it is answered 2xx. */
static void *load_main(void *arg)
{
	struct load *l = arg;
	while (!atomic_load(l->stop) && l->n < LOAD_SLOTS_MAX) {
		struct slot *sl = &l->slots[l->n++];
		while (sl->done < STEPS) {
			int tries = 0;
			long status;
			do {
				tries++;
				status = step_send(l->m, l->run, l->n - 1, sl, l->t);
				if (status == 503)
					poll(NULL, 0, RETRY_PAUSE_MS);
			} while (status == 503 && tries < RETRY_MAX);
			if (tries > l->most_tries)
				l->most_tries = tries;
			if (status / 100 != 2) {
				tally_problem(l->t, "%s: a command answered %ld after %d tries",
					      l->run, status, tries);
				return NULL;
			}
		}
	}
	return NULL;
}

struct loads {
	struct load l[LOAD_THREADS];
	pthread_t threads[LOAD_THREADS];
	atomic_bool stop;
	struct tally t;
};

static void loads_start(struct loads *ls, const struct market *m, const char *run)
{
	memset(ls, 0, sizeof *ls);
	tally_init(&ls->t);
	atomic_init(&ls->stop, false);
	for (int i = 0; i < LOAD_THREADS; i++) {
		ls->l[i].m = m;
		ls->l[i].stop = &ls->stop;
		ls->l[i].t = &ls->t;
		snprintf(ls->l[i].run, sizeof ls->l[i].run, "%s%d", run, i);
		assert_int_equal(pthread_create(&ls->threads[i], NULL, load_main, &ls->l[i]), 0);
	}
	live.loads = ls;
}

/* Let every client finish its order, and check what they saw. */
static void loads_finish(struct loads *ls, int *most_tries)
{
	atomic_store(&ls->stop, true);
	*most_tries = 0;
	for (int i = 0; i < LOAD_THREADS; i++) {
		pthread_join(ls->threads[i], NULL);
		if (ls->l[i].most_tries > *most_tries)
			*most_tries = ls->l[i].most_tries;
	}
	live.loads = NULL;
	tally_assert_clean(&ls->t);
}

/* The clients' orders and one more (serves_at_once's) are the store's. */
static void loads_hold(struct loads *ls, struct slot *after, const char *db)
{
	struct slot *groups[LOAD_THREADS + 1];
	int counts[LOAD_THREADS + 1];
	for (int i = 0; i < LOAD_THREADS; i++) {
		groups[i] = ls->l[i].slots;
		counts[i] = ls->l[i].n;
	}
	groups[LOAD_THREADS] = after;
	counts[LOAD_THREADS] = 1;
	store_holds(db, groups, counts, LOAD_THREADS + 1);
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* After the faults: a new order through every step, each command answered
 * 2xx the first time: the daemon has its connections back by itself. */
static void serves_at_once(const struct market *m, const char *run, struct slot *sl)
{
	struct tally t;
	tally_init(&t);
	memset(sl, 0, sizeof *sl);
	for (int k = 0; k < STEPS; k++) {
		long status = step_send(m, run, 0, sl, &t);
		if (status != step_status[k])
			fail_msg("%s: after the faults, step %d answered %ld: %s", run, k, status,
				 t.problem);
	}
}

/* The database name at the end of a URL (with no query: the test
 * servers' URLs have none). */
static const char *db_name(const char *url)
{
	const char *slash = strrchr(url, '/');
	assert_non_null(slash);
	assert_null(strchr(slash, '?'));
	return slash + 1;
}

/* Kill every connection the daemon has to name's database; how many.
 * killed (unless NULL) gets their pids, as an int[] literal. */
static long kill_all(PGconn *admin, const char *name, char *killed, size_t size)
{
	PGresult *res = PQexecParams(
		admin,
		"SELECT count(pg_terminate_backend(pid)), "
		"'{' || COALESCE(string_agg(pid::text, ','), '') || '}' FROM pg_stat_activity "
		"WHERE datname = $1 AND pid <> pg_backend_pid()",
		1, NULL, (const char *const[]){name}, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("pg_terminate_backend: %s", PQerrorMessage(admin));
	long n = atol(PQgetvalue(res, 0, 0));
	if (killed)
		snprintf(killed, size, "%s", PQgetvalue(res, 0, 1));
	PQclear(res);
	return n;
}

/* Wait (5 s at most) until the backends killed (an int[] literal) are
 * gone. The daemon's workers may connect anew meanwhile: those are not
 * waited for. */
static void wait_gone(PGconn *admin, const char *killed)
{
	for (int i = 0; i < 500; i++) {
		PGresult *res = PQexecParams(admin,
					     "SELECT count(*) FROM pg_stat_activity WHERE "
					     "pid = ANY(CAST($1 AS int[]))",
					     1, NULL, (const char *const[]){killed}, NULL, NULL, 0);
		assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
		long n = atol(PQgetvalue(res, 0, 0));
		PQclear(res);
		if (!n)
			return;
		poll(NULL, 0, 10);
	}
	fail_msg("the killed connections %s are still there after 5 s", killed);
}

#define KILL_PAUSE_MS  40
#define KILL_ENOUGH    20 /* 503s */
#define KILL_ACKED_MIN 100
#define KILL_SECONDS   20.0

static void issue_12_storage_pg_backends_killed_under_load(void **cmstate)
{
	char db[300];
	struct daemon d = {0};
	struct market m;
	struct slot after;
	static struct loads ls;
	struct timespec t0;
	long kills = 0, rounds = 0;
	int most_tries = 0;
	(void)cmstate;

	assert_int_equal(esc_test_pg_fresh(db, sizeof db), 0);
	daemon_start(&d, db, NULL);
	market_init(&m, d.port);

	PGconn *admin = PQconnectdb(getenv("ESC_TEST_PG"));
	if (PQstatus(admin) != CONNECTION_OK)
		fail_msg("ESC_TEST_PG: %s", PQerrorMessage(admin));
	const char *name = db_name(db);
	loads_start(&ls, &m, "kill");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* Every connection of the daemon, whatever it is doing, again and
	 * again, until enough commands met it. */
	while (seconds_since(&t0) < KILL_SECONDS &&
	       (ls.t.unavailable < KILL_ENOUGH || ls.t.ok < KILL_ACKED_MIN) && !ls.t.problem[0]) {
		kills += kill_all(admin, name, NULL, 0);
		rounds++;
		poll(NULL, 0, KILL_PAUSE_MS);
	}
	loads_finish(&ls, &most_tries);
	if (!kills || !ls.t.unavailable)
		fail_msg("%ld connections killed, %ld commands answered 503: no fault met", kills,
			 (long)ls.t.unavailable);
	/* Once more with the daemon idle: its next commands must not fail on
	 * the connections it has not used since. */
	char killed[4096];
	long idle_kills = kill_all(admin, name, killed, sizeof killed);
	wait_gone(admin, killed);
	PQfinish(admin);
	serves_at_once(&m, "kill-after", &after);
	daemon_stop(&d);
	/* Every 503 has a line in the log saying what PostgreSQL said. */
	if (!d.store_failures_said)
		fail_msg("%ld commands answered 503, and no log line says what the store said "
			 "(%ld store failure lines)",
			 (long)ls.t.unavailable, d.store_failures);
	loads_hold(&ls, &after, db);
	long acked = (long)ls.t.ok;
	print_message("pg backends killed: %ld commands by %d clients, %ld answered 2xx, %ld "
		      "answered 503 and were sent again by key (at most %d sends for one); %ld "
		      "connections killed in %ld rounds over %.1f s, then %ld idle ones, and the "
		      "next %d commands answered 2xx at once; each command applied once\n",
		      (long)ls.t.sent, LOAD_THREADS, acked, (long)ls.t.unavailable, most_tries,
		      kills, rounds, seconds_since(&t0), idle_kills, STEPS);
	esc_test_store_drop(db);
}

/* tests/pg/server VERB DIR [ARG]: its first line of output (the URL for
 * start) in out; its exit status. */
static int pg_server(const char *verb, const char *dir, const char *arg, char *out, size_t size)
{
	char cmd[1024], line[512] = "";
	snprintf(cmd, sizeof cmd, "'%s/tests/pg/server' %s '%s' %s", getenv("ESC_SOURCE_DIR"), verb,
		 dir, arg ? arg : "");
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	if (!fgets(line, sizeof line, p))
		line[0] = '\0';
	while (fgetc(p) != EOF)
		;
	int status = pclose(p);
	if (out)
		snprintf(out, size, "%.*s", (int)strcspn(line, "\r\n"), line);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A private server (tests/pg/server start DIR --fast) with a database
 * named name: the database's URL in db. The test is skipped without
 * ESC_SOURCE_DIR, where the script is. */
static void private_server(char *server, size_t server_size, const char *name, char *db,
			   size_t db_size)
{
	char admin_url[300], sql[64];

	if (!getenv("ESC_SOURCE_DIR")) {
		print_message("skipped: no ESC_SOURCE_DIR to find tests/pg/server in\n");
		skip();
	}
	/* Under /tmp, short, for its unix socket. */
	snprintf(server, server_size, "/tmp/escrowd-pg-storage-%ld", (long)getpid());
	if (pg_server("start", server, "--fast", admin_url, sizeof admin_url))
		fail_msg("tests/pg/server start %s failed", server);
	snprintf(live.server, sizeof live.server, "%s", server);
	PGconn *admin = PQconnectdb(admin_url);
	if (PQstatus(admin) != CONNECTION_OK)
		fail_msg("%s: %s", admin_url, PQerrorMessage(admin));
	snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
	PGresult *res = PQexec(admin, sql);
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	PQfinish(admin);
	size_t base = strlen(admin_url) - strlen(db_name(admin_url));
	snprintf(db, db_size, "%.*s%s", (int)base, admin_url, name);
}

#define RESTARTS        2
#define RESTART_ACKED   40 /* commands answered between restarts */
#define RESTART_SECONDS 60.0

/* Wait until the clients have had `more` commands answered 2xx. */
static void wait_acked(struct loads *ls, long more, const struct timespec *t0)
{
	long target = (long)ls->t.ok + more;
	while ((long)ls->t.ok < target && !ls->t.problem[0]) {
		if (seconds_since(t0) > RESTART_SECONDS)
			fail_msg("the clients are stuck at %ld commands answered", (long)ls->t.ok);
		poll(NULL, 0, 10);
	}
}

static void issue_12_storage_pg_server_restarted_under_load(void **cmstate)
{
	char server[64], db[320];
	struct daemon d = {0};
	struct market m;
	struct slot after;
	static struct loads ls;
	struct timespec t0;
	int most_tries = 0;
	(void)cmstate;

	/* A server of this test's own: the one in ESC_TEST_PG serves the
	 * other tests. */
	private_server(server, sizeof server, "storage", db, sizeof db);

	daemon_start(&d, db, NULL);
	market_init(&m, d.port);
	loads_start(&ls, &m, "restart");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	long unavailable_at[RESTARTS + 1] = {0};
	for (int k = 0; k < RESTARTS; k++) {
		wait_acked(&ls, RESTART_ACKED, &t0);
		unavailable_at[k] = (long)ls.t.unavailable;
		if (pg_server("restart", server, NULL, NULL, 0))
			fail_msg("tests/pg/server restart %s failed", server);
	}
	wait_acked(&ls, RESTART_ACKED, &t0);
	unavailable_at[RESTARTS] = (long)ls.t.unavailable;
	loads_finish(&ls, &most_tries);
	if (!ls.t.unavailable)
		fail_msg("%d restarts under load, no command answered 503", RESTARTS);
	/* Once more with the daemon idle: its next commands must not fail on
	 * the connections the restart closed. */
	if (pg_server("restart", server, NULL, NULL, 0))
		fail_msg("tests/pg/server restart %s failed", server);
	serves_at_once(&m, "restart-after", &after);
	daemon_stop(&d);
	loads_hold(&ls, &after, db);
	print_message("pg server restarted %d times under load (immediate stop): %ld "
		      "commands by %d clients, %ld answered 2xx, %ld answered 503 (%ld at the "
		      "1st restart, %ld at the 2nd) and were sent again by key (at most %d sends "
		      "for one) over %.1f s; restarted once more idle, and the next 4 commands "
		      "answered 2xx at once; each command applied once\n",
		      RESTARTS, (long)ls.t.sent, LOAD_THREADS, (long)ls.t.ok,
		      (long)ls.t.unavailable, unavailable_at[1] - unavailable_at[0],
		      unavailable_at[2] - unavailable_at[1], most_tries, seconds_since(&t0));
	live.server[0] = '\0';
	(void)pg_server("stop", server, NULL, NULL, 0);
}

#define DOWN_SECONDS "2"
#define AGAIN_WAIT_S 30.0

/* The store gone for two seconds: the webhook worker, which tries its
 * round about five times a second, logs the first failure with what
 * PostgreSQL said, then nothing until a round works again, which it
 * logs with the count of failed rounds. */
static void issue_12_storage_pg_down_is_two_lines_of_the_webhook_worker(void **cmstate)
{
	char server[64], db[320];
	struct daemon d = {0};
	struct market m;
	struct slot after;
	struct timespec t0;
	(void)cmstate;

	private_server(server, sizeof server, "outage", db, sizeof db);
	daemon_start(&d, db, NULL);
	market_init(&m, d.port);
	if (pg_server("restart", server, "--down " DOWN_SECONDS, NULL, 0))
		fail_msg("tests/pg/server restart %s --down %s failed", server, DOWN_SECONDS);
	serves_at_once(&m, "outage-after", &after);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!d.webhook_again) {
		if (seconds_since(&t0) > AGAIN_WAIT_S)
			fail_msg(
				"%.0f s after the store came back, the webhook worker has not said "
				"it works again (%ld failure lines)",
				AGAIN_WAIT_S, (long)d.webhook_failed);
		poll(NULL, 0, 20);
	}
	daemon_stop(&d);
	if (d.webhook_failed != 1 || d.webhook_failed_said != 1 || d.webhook_again != 1)
		fail_msg("the store down for %s s: %ld webhook failure lines (%ld saying what "
			 "the store said) and %ld \"working again\" lines; want 1, 1 and 1",
			 DOWN_SECONDS, (long)d.webhook_failed, (long)d.webhook_failed_said,
			 (long)d.webhook_again);
	if (d.webhook_again_failures < 2)
		fail_msg("the store down for %s s, and the worker counted %ld failed rounds",
			 DOWN_SECONDS, (long)d.webhook_again_failures);
	print_message("pg server down for %s s: the webhook worker logged its first failure and "
		      "that it works again after %ld failed rounds, nothing between\n",
		      DOWN_SECONDS, (long)d.webhook_again_failures);
	live.server[0] = '\0';
	(void)pg_server("stop", server, NULL, NULL, 0);
}

/* After each test: end what it left running (when it failed half-way),
 * and remove its directory. */
static int cleanup(void **cmstate)
{
	(void)cmstate;
	if (live.loads)
		atomic_store(&live.loads->stop, true);
	if (live.daemon && live.daemon->pid > 0) {
		kill(live.daemon->pid, SIGKILL);
		waitpid(live.daemon->pid, NULL, 0);
		pthread_join(live.daemon->drain, NULL);
		live.daemon->pid = 0;
	}
	if (live.loads)
		for (int i = 0; i < LOAD_THREADS; i++)
			pthread_join(live.loads->threads[i], NULL);
	if (live.server[0])
		(void)pg_server("stop", live.server, NULL, NULL, 0);
	if (live.mounted[0])
		(void)umount2(live.mounted, MNT_DETACH);
	if (live.dir[0])
		esc_test_rmdir(live.dir);
	memset(&live, 0, sizeof live);
	return 0;
}

int main(void)
{
	const char *which = getenv("ESC_TEST_STORE");
	bool pg = which && !strcmp(which, "postgresql");
	int failed = 0;

	esc_test_store_or_skip("storage");
	if (!pg)
		enter_mount_namespace(); /* before any thread */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest sqlite_tests[] = {
		cmocka_unit_test_teardown(
			issue_12_storage_sqlite_full_disk_answers_503_and_recovers, cleanup),
		cmocka_unit_test_teardown(issue_12_storage_sqlite_io_errors_answer_503_and_recover,
					  cleanup),
	};
	const struct CMUnitTest pg_tests[] = {
		cmocka_unit_test_teardown(issue_12_storage_pg_backends_killed_under_load, cleanup),
		cmocka_unit_test_teardown(issue_12_storage_pg_server_restarted_under_load, cleanup),
		cmocka_unit_test_teardown(
			issue_12_storage_pg_down_is_two_lines_of_the_webhook_worker, cleanup),
	};
	if (pg)
		failed = cmocka_run_group_tests_name("storage faults on PostgreSQL", pg_tests, NULL,
						     NULL);
	else
		failed = cmocka_run_group_tests_name("storage faults on SQLite", sqlite_tests, NULL,
						     NULL);
	curl_global_cleanup();
	return failed;
}
