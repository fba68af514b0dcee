/* support.c - temporary directories for tests. */
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pgtest.h"
#include "util/error.h"

int esc_test_run_cli(const char *binary, const char *env, const char *args, char *out, size_t size)
{
	char *cmd = NULL;
	size_t len = 0;
	int n = asprintf(&cmd, "env -u ESCROWD_DB -u ESCROWD_CONFIG %s '%s' %s 2>&1",
			 env ? env : "", binary, args);
	assert_true(n > 0);
	FILE *p = popen(cmd, "r");
	free(cmd);
	assert_non_null(p);
	out[0] = '\0';
	while (len + 1 < size) {
		size_t got = fread(out + len, 1, size - 1 - len, p);
		if (!got)
			break;
		len += got;
	}
	out[len] = '\0';
	int status = pclose(p);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

int esc_test_run_clif(const char *binary, const char *env, char *out, size_t size, const char *fmt,
		      ...)
{
	char args[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(args, sizeof args, fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof args);
	return esc_test_run_cli(binary, env, args, out, size);
}

void esc_test_contains(const char *out, const char *what)
{
	if (!strstr(out, what))
		fail_msg("expected \"%s\" in the output:\n%s", what, out);
}

void esc_test_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

void esc_test_tmpdir(char *out, size_t size)
{
	const char *base = getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	int n = snprintf(out, size, "%s/escrowd-test-XXXXXX", base);
	assert_true(n > 0 && (size_t)n < size);
	assert_non_null(mkdtemp(out));
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void esc_test_rmdir(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void esc_test_path(char *out, size_t size, const char *dir, const char *name)
{
	int n = snprintf(out, size, "%s/%s", dir, name);
	assert_true(n > 0 && (size_t)n < size);
}

static bool on_postgresql(void)
{
	const char *which = getenv("ESC_TEST_STORE");
	return which && !strcmp(which, "postgresql");
}

void esc_test_store(char *out, size_t size, const char *dir)
{
	if (!on_postgresql()) {
		esc_test_path(out, size, dir, "escrowd.db");
		return;
	}
	if (esc_test_pg_fresh(out, size))
		fail_msg("ESC_TEST_STORE=postgresql needs ESC_TEST_PG, the server's admin URL");
}

void esc_test_store_drop(const char *url)
{
	if (!strncmp(url, "postgresql://", 13))
		esc_test_pg_drop(url);
}

void esc_test_store_or_skip(const char *name)
{
	if (on_postgresql() && !getenv("ESC_TEST_PG")) {
		printf("%s: skipped: no PostgreSQL server (ESC_TEST_PG); make test starts one\n",
		       name);
		exit(77);
	}
}

void esc_assert_orders_equal(const struct esc_order *a, const struct esc_order *b)
{
	assert_string_equal(a->id, b->id);
	assert_string_equal(a->buyer_id, b->buyer_id);
	assert_string_equal(a->seller_id, b->seller_id);
	assert_string_equal(a->currency, b->currency);
	assert_int_equal(a->total_minor, b->total_minor);
	assert_int_equal(a->paid_minor, b->paid_minor);
	assert_int_equal(a->refunded_minor, b->refunded_minor);
	assert_int_equal(a->released_minor, b->released_minor);
	assert_int_equal(a->fee_minor, b->fee_minor);
	assert_int_equal(a->method, b->method);
	assert_int_equal(a->state, b->state);
	assert_int_equal(a->version, b->version);
	assert_int_equal(a->policy_version, b->policy_version);
	assert_int_equal(a->delivery_days, b->delivery_days);
	assert_int_equal(a->items_count, b->items_count);
	assert_int_equal(a->cancel_requests, b->cancel_requests);
	assert_string_equal(a->cancel_reason, b->cancel_reason);
	assert_string_equal(a->cancel_comment, b->cancel_comment);
	assert_int_equal(a->refund_to, b->refund_to);
	assert_string_equal(a->reject_message, b->reject_message);
	assert_string_equal(a->carrier, b->carrier);
	assert_string_equal(a->tracking, b->tracking);
	assert_int_equal(a->created_at_ms, b->created_at_ms);
	assert_int_equal(a->paid_at_ms, b->paid_at_ms);
	assert_int_equal(a->shipped_at_ms, b->shipped_at_ms);
	assert_int_equal(a->promised_at_ms, b->promised_at_ms);
	assert_int_equal(a->delivered_at_ms, b->delivered_at_ms);
	assert_int_equal(a->ended_at_ms, b->ended_at_ms);
	for (int k = 0; k < ESC_DL_ORDER_COUNT; k++)
		assert_int_equal(a->due_ms[k], b->due_ms[k]);
	assert_int_equal(a->refunds_count, b->refunds_count);
	assert_int_equal(a->disputes_count, b->disputes_count);
	assert_string_equal(a->dispute_ground, b->dispute_ground);
	assert_string_equal(a->dispute_outcome, b->dispute_outcome);
	assert_int_equal(a->dispute_amount_minor, b->dispute_amount_minor);
	assert_int_equal(a->dispute_opened_at_ms, b->dispute_opened_at_ms);
	assert_int_equal(a->dispute_paused_ms, b->dispute_paused_ms);
	assert_int_equal(a->dispute_refund_minor, b->dispute_refund_minor);
	assert_int_equal(a->dispute_state, b->dispute_state);
	assert_int_equal(a->dispute_from, b->dispute_from);
	assert_string_equal(a->dispute_description, b->dispute_description);
	assert_int_equal(a->dispute_offer_minor, b->dispute_offer_minor);
	assert_int_equal(a->dispute_agreed_minor, b->dispute_agreed_minor);
	assert_string_equal(a->dispute_message, b->dispute_message);
	assert_string_equal(a->dispute_resolution, b->dispute_resolution);
	assert_string_equal(a->dispute_reason, b->dispute_reason);
	assert_int_equal(a->dispute_escalated_at_ms, b->dispute_escalated_at_ms);
	assert_int_equal(a->dispute_resolved_at_ms, b->dispute_resolved_at_ms);
	assert_string_equal(a->return_carrier, b->return_carrier);
	assert_string_equal(a->return_tracking, b->return_tracking);
	assert_int_equal(a->return_shipped_at_ms, b->return_shipped_at_ms);
	assert_int_equal(a->dispute_recommended_minor, b->dispute_recommended_minor);
	assert_string_equal(a->dispute_recommendation, b->dispute_recommendation);
}

static void open_engine(struct esc_fixture *f)
{
	struct esc_engine_options opt = {.manual_clock = true,
					 .manual_start_ms = ESC_TEST_T0,
					 .fast_password_hashing = true};
	char err[300] = "";
	int rc = esc_engine_open(&f->e, f->db, NULL, &opt, err, sizeof err);
	if (rc)
		fprintf(stderr, "engine open: %s\n", err);
	assert_int_equal(rc, 0);
}

void esc_fixture_init(struct esc_fixture *f)
{
	memset(f, 0, sizeof *f);
	esc_test_tmpdir(f->dir, sizeof f->dir);
	esc_test_store(f->db, sizeof f->db, f->dir);
	open_engine(f);
	assert_int_equal(esc_engine_user_create(f->e, ESC_ACTOR_BUYER, "Buyer One",
						"buyer1@example.test", "password-1", &f->buyer),
			 0);
	assert_int_equal(esc_engine_user_create(f->e, ESC_ACTOR_BUYER, "Buyer Two",
						"buyer2@example.test", "password-2", &f->buyer2),
			 0);
	assert_int_equal(esc_engine_user_create(f->e, ESC_ACTOR_SELLER, "Seller One",
						"seller1@example.test", "password-3", &f->seller),
			 0);
	assert_int_equal(esc_engine_user_create(f->e, ESC_ACTOR_SELLER, "Seller Two",
						"seller2@example.test", "password-4", &f->seller2),
			 0);
}

void esc_fixture_restart(struct esc_fixture *f)
{
	esc_engine_free(f->e);
	f->e = NULL;
	open_engine(f);
}

void esc_fixture_release(struct esc_fixture *f)
{
	esc_engine_free(f->e);
	f->e = NULL;
	esc_test_store_drop(f->db);
	esc_test_rmdir(f->dir);
}

int esc_fixture_setup(void **state)
{
	struct esc_fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	esc_fixture_init(f);
	*state = f;
	return 0;
}

int esc_fixture_teardown(void **state)
{
	struct esc_fixture *f = *state;
	if (f->e)
		esc_fixture_check(f);
	esc_fixture_release(f);
	free(f);
	return 0;
}

int esc_fixture_run(struct esc_fixture *f, struct esc_command *c, struct esc_result *r)
{
	return esc_engine_exec(f->e, c, r);
}

struct esc_order esc_fixture_order(struct esc_fixture *f, const struct esc_user *buyer,
				   const struct esc_user *seller, int64_t total)
{
	struct esc_command c;
	struct esc_result r;
	struct esc_item item = {.quantity = 1, .unit_price_minor = total};
	snprintf(item.title, sizeof item.title, "Test item");
	esc_command_init(&c, ESC_EV_CREATE, ESC_ACTOR_OPERATOR, NULL, NULL);
	c.args.buyer_id = buyer->id;
	c.args.seller_id = seller->id;
	c.args.currency = "EUR";
	c.args.items = &item;
	c.args.items_count = 1;
	int rc = esc_engine_exec(f->e, &c, &r);
	if (rc)
		fprintf(stderr, "create: %s\n", r.message);
	assert_int_equal(rc, 0);
	return r.order;
}

static struct esc_order must(struct esc_fixture *f, struct esc_command *c)
{
	struct esc_result r;
	int rc = esc_engine_exec(f->e, c, &r);
	if (rc)
		fprintf(stderr, "%s: %s (%s)\n", esc_event_name(c->event), r.message,
			esc_error_name(rc));
	assert_int_equal(rc, 0);
	return r.order;
}

struct esc_order esc_fixture_pay(struct esc_fixture *f, const struct esc_order *o,
				 enum esc_method m)
{
	struct esc_command c;
	esc_command_init(&c, ESC_EV_PAY, ESC_ACTOR_OPERATOR, NULL, o->id);
	c.args.amount_minor = o->total_minor;
	c.args.method = (int)m;
	return must(f, &c);
}

struct esc_order esc_fixture_request(struct esc_fixture *f, const struct esc_order *o,
				     const char *reason, enum esc_refund_to to)
{
	struct esc_command c;
	esc_command_init(&c, ESC_EV_CANCEL, ESC_ACTOR_BUYER, o->buyer_id, o->id);
	c.args.reason = reason;
	c.args.refund_to = (int)to;
	return must(f, &c);
}

struct esc_order esc_fixture_as(struct esc_fixture *f, const struct esc_order *o, enum esc_event ev,
				enum esc_actor who)
{
	struct esc_command c;
	const char *id = who == ESC_ACTOR_BUYER    ? o->buyer_id
			 : who == ESC_ACTOR_SELLER ? o->seller_id
						   : NULL;
	esc_command_init(&c, ev, who, id, o->id);
	if (ev == ESC_EV_SHIP) {
		c.args.carrier = "Posturinn";
		c.args.tracking = "RR123456789IS";
	}
	if (ev == ESC_EV_REJECT_CANCELLATION)
		c.args.message = "It ships today.";
	return must(f, &c);
}

struct esc_order esc_fixture_get(struct esc_fixture *f, const char *order_id)
{
	struct esc_order o;
	int rc;
	ESC_STORE(rc, esc_engine_writer(f->e), order_get, order_id, &o);
	assert_int_equal(rc, 0);
	return o;
}

struct esc_engine *esc_fixture_process(struct esc_fixture *f, struct esc_clock *real,
				       int64_t lease_ms)
{
	struct esc_engine_options opt = {.manual_clock = true,
					 .fast_password_hashing = true,
					 .lease_ms = lease_ms,
					 .real_clock = real};
	struct esc_engine *e = NULL;
	char err[300] = "";
	if (esc_engine_open(&e, f->db, NULL, &opt, err, sizeof err))
		fail_msg("another engine: %s", err);
	return e;
}

int64_t esc_fixture_heartbeat(struct esc_fixture *f, struct esc_engine *e)
{
	struct esc_process me, row;
	int rc;
	esc_engine_process(e, &me);
	ESC_STORE(rc, esc_engine_writer(f->e), process_get, me.id, &row);
	assert_int_equal(rc, 0);
	return row.heartbeat_ms;
}

#define HISTORY_ROWS_MAX 64

struct esc_history *esc_fixture_history(struct esc_fixture *f, const char *order_id, size_t *n)
{
	struct esc_history *h = calloc(HISTORY_ROWS_MAX, sizeof *h);
	int rc;
	assert_non_null(h);
	ESC_STORE(rc, esc_engine_writer(f->e), history_list, order_id, 0, h, HISTORY_ROWS_MAX, n);
	assert_int_equal(rc, 0);
	return h;
}

size_t esc_fixture_history_count(struct esc_fixture *f, const char *order_id)
{
	size_t n = 0;
	free(esc_fixture_history(f, order_id, &n));
	return n;
}

int64_t esc_fixture_outbox_count(struct esc_fixture *f)
{
	int64_t n = 0;
	int rc;
	ESC_STORE(rc, esc_engine_writer(f->e), outbox_count, &n);
	assert_int_equal(rc, 0);
	return n;
}

int64_t esc_fixture_transfers_count(struct esc_fixture *f)
{
	struct esc_ledger_report rep;
	assert_int_equal(esc_engine_check(f->e, &rep), 0);
	return rep.transfers_count;
}

int64_t esc_fixture_balance(struct esc_fixture *f, const char *account)
{
	int64_t b = 0;
	int rc;
	ESC_STORE(rc, esc_engine_writer(f->e), balance_get, account, "EUR", &b);
	assert_int_equal(rc, 0);
	return b;
}

int64_t esc_fixture_escrow_balance(struct esc_fixture *f, const char *order_id)
{
	char account[ESC_ACCOUNT_SIZE];
	esc_account_escrow(account, order_id);
	return esc_fixture_balance(f, account);
}

void esc_fixture_check(struct esc_fixture *f)
{
	struct esc_ledger_report rep;
	assert_int_equal(esc_engine_check(f->e, &rep), 0);
	for (size_t i = 0; i < rep.problems_count && i < ESC_CHECK_PROBLEMS_MAX; i++)
		fprintf(stderr, "ledger: %s\n", rep.problems[i]);
	assert_int_equal(rep.problems_count, 0);
}

size_t esc_fixture_fire(struct esc_fixture *f)
{
	size_t total = 0, fired = 0;
	do {
		assert_int_equal(esc_engine_fire_due(f->e, 0, &fired), 0);
		total += fired;
	} while (fired);
	return total;
}

void *esc_test_drain_log(void *arg)
{
	FILE *f = arg;
	char line[2048];
	while (fgets(line, sizeof line, f))
		if (getenv("ESC_TEST_VERBOSE"))
			fputs(line, stderr);
	fclose(f);
	return NULL;
}

/* The last lines a daemon wrote, for when it ends badly: the log is
 * echoed only under ESC_TEST_VERBOSE, and a daemon that dies of a signal
 * at its stop says nothing else. tail is read once the thread is joined. */
struct esc_test_log {
	FILE *f;
	pthread_t thread;
	char tail[8192];
	size_t len;
};

static void *drain_kept(void *arg)
{
	struct esc_test_log *log = arg;
	char line[2048]; /* shorter than tail: a line always fits */
	while (fgets(line, sizeof line, log->f)) {
		if (getenv("ESC_TEST_VERBOSE"))
			fputs(line, stderr);
		size_t n = strlen(line);
		if (log->len + n >= sizeof log->tail) {
			size_t drop = log->len + n + 1 - sizeof log->tail;
			memmove(log->tail, log->tail + drop, log->len - drop);
			log->len -= drop;
		}
		memcpy(log->tail + log->len, line, n);
		log->len += n;
		log->tail[log->len] = '\0';
	}
	fclose(log->f);
	return NULL;
}

void esc_test_daemon_config(struct esc_test_daemon *d, const char *text)
{
	if (!text) {
		d->config[0] = '\0';
		return;
	}
	esc_test_path(d->config, sizeof d->config, d->dir, "escrowd.conf");
	FILE *f = fopen(d->config, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

void esc_test_daemon_start(struct esc_test_daemon *d, const char *operator_key)
{
	int fds[2];
	char exe[512], listen_arg[] = "127.0.0.1:0";
	const char *build = getenv("ESC_BUILD_DIR");
	const char *mark = "listening on http://127.0.0.1:";
	snprintf(exe, sizeof exe, "%s/escrowd", build ? build : "build");
	assert_int_equal(pipe(fds), 0);
	d->pid = fork();
	assert_true(d->pid >= 0);
	if (d->pid == 0) {
		/* A test that fails ends without stopping its daemon, which
		 * holds the test's stdout: the runner would wait for it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fds[1], 2);
		close(fds[0]);
		/* A manual clock needs mode = test (SPEC §8). */
		if (d->config[0])
			execl(exe, exe, "serve", "--db", d->db, "--listen", listen_arg, "--mode",
			      "test", "--clock", "manual", "--operator-key", operator_key,
			      "--config", d->config, (char *)NULL);
		else
			execl(exe, exe, "serve", "--db", d->db, "--listen", listen_arg, "--mode",
			      "test", "--clock", "manual", "--operator-key", operator_key,
			      (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	/* Wait for the port, then keep draining the log lines. */
	FILE *f = fdopen(fds[0], "r");
	char line[256];
	d->port = 0;
	while (fgets(line, sizeof line, f)) {
		const char *p = strstr(line, mark);
		if (p) {
			d->port = atoi(p + strlen(mark));
			break;
		}
	}
	assert_true(d->port > 0);
	d->log = calloc(1, sizeof *d->log);
	assert_non_null(d->log);
	d->log->f = f;
	assert_int_equal(pthread_create(&d->log->thread, NULL, drain_kept, d->log), 0);
}

void esc_test_daemon_stop(struct esc_test_daemon *d)
{
	int status = 0;
	kill(d->pid, SIGTERM);
	assert_int_equal(waitpid(d->pid, &status, 0), d->pid);
	/* Its exit closed the pipe: the thread has read it all. */
	struct esc_test_log *log = d->log;
	d->log = NULL;
	if (log)
		pthread_join(log->thread, NULL);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		if (WIFSIGNALED(status))
			fprintf(stderr, "the daemon on port %d died of signal %d (%s) after SIGTERM\n",
				d->port, WTERMSIG(status), strsignal(WTERMSIG(status)));
		else
			fprintf(stderr, "the daemon on port %d exited %d after SIGTERM\n", d->port,
				WEXITSTATUS(status));
		fprintf(stderr, "the end of its log:\n%s\n", log ? log->tail : "(not kept)");
	}
	free(log);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

void esc_test_expect_abort(void (*fn)(void), const char *want)
{
	int fds[2];
	char out[2048];
	size_t n = 0;
	int status = 0;
	assert_int_equal(pipe(fds), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit none = {0, 0};
		setrlimit(RLIMIT_CORE, &none); /* no core file */
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		fn();
		_exit(0); /* not reached when fn aborts */
	}
	close(fds[1]);
	while (n < sizeof out - 1) {
		ssize_t got = read(fds[0], out + n, sizeof out - 1 - n);
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	out[n] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
		fail_msg("the child did not abort (status %d): %s", status, out);
	if (!strstr(out, want))
		fail_msg("wanted \"%s\" in \"%s\"", want, out);
}

/* ---- HTTP for the suites that drive the API ---- */

static size_t reply_data(char *ptr, size_t size, size_t n, void *arg)
{
	struct esc_test_reply *r = arg;
	char *p = realloc(r->body, r->len + size * n + 1);
	assert_non_null(p);
	memcpy(p + r->len, ptr, size * n);
	r->len += size * n;
	p[r->len] = '\0';
	r->body = p;
	return size * n;
}

const char *esc_test_header;

struct esc_test_reply esc_test_call(int port, const char *method, const char *path,
				    const char *token, const char *body)
{
	struct esc_test_reply r = {0};
	char url[512], auth[300];
	struct curl_slist *h = NULL;
	CURL *c = curl_easy_init();
	assert_non_null(c);
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, reply_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	if (token && *token) {
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
		h = curl_slist_append(h, auth);
	}
	if (esc_test_header) {
		h = curl_slist_append(h, esc_test_header);
		esc_test_header = NULL;
	}
	if (body) {
		h = curl_slist_append(h, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	json_error_t err;
	r.json = r.body ? json_loads(r.body, 0, &err) : NULL;
	if (!r.json)
		fail_msg("%s %s: not JSON: %s", method, path, r.body ? r.body : "(empty)");
	return r;
}

void esc_test_reply_drop(struct esc_test_reply *r)
{
	json_decref(r->json);
	free(r->body);
	r->json = NULL;
	r->body = NULL;
}

json_t *esc_test_must(int port, const char *method, const char *path, const char *token,
		      const char *body, long status)
{
	struct esc_test_reply r = esc_test_call(port, method, path, token, body);
	if (r.status != status)
		fail_msg("%s %s: expected %ld, got %ld: %s", method, path, status, r.status,
			 r.body);
	json_t *j = json_incref(r.json);
	esc_test_reply_drop(&r);
	return j;
}

const char *esc_test_str(json_t *j, const char *key)
{
	const char *s = json_string_value(json_object_get(j, key));
	return s ? s : "";
}

void esc_test_user(int port, const char *key, const char *role, const char *name, const char *email,
		   char *id, char *token)
{
	char body[400];
	snprintf(body, sizeof body,
		 "{\"role\":\"%s\",\"name\":\"%s\",\"email\":\"%s\",\"password\":\"password-1\"}",
		 role, name, email);
	json_t *j = esc_test_must(port, "POST", "/v1/users", key, body, 201);
	snprintf(id, 64, "%s", esc_test_str(j, "id"));
	json_decref(j);
	if (!token)
		return;
	snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"password-1\"}", email);
	j = esc_test_must(port, "POST", "/v1/sessions", NULL, body, 201);
	snprintf(token, 80, "%s", esc_test_str(j, "token"));
	json_decref(j);
}
