/* test_metrics.c - logs and metrics (issue 18 item 8), on a real daemon
 * (escrowd serve on a real store: SQLite, or PostgreSQL in metrics-pg)
 * with a manual clock and an admin listener (http.admin_listen):
 *
 *   - /metrics is served on the admin listener, and no longer on the
 *     API's, with the version built, the process's figures, the oldest
 *     due deadline's age (moving with the manual clock while another
 *     process holds the deadline), overdue refunds and store retries;
 *   - every line the daemon wrote is one JSON object with a time, a level
 *     and a msg, and each request's line says who called: a user's id,
 *     or "operator:" and the key's id; no query string reaches the log;
 *   - util/log.h's lines are JSON whatever their fields hold (quotes,
 *     control characters, bytes that are not UTF-8, values too long). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <dirent.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store.h"
#include "support.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/timefmt.h"

#define KEY "metrics-operator-key-0001"

/* The daemon: its stderr in log, its API's port and its admin port. */
static struct {
	char dir[256], db[300], config[300], log[300];
	int pid, port, admin;
} d;

/* The number after "mark" in the log, once a line holds it; 0 when the
 * daemon ended first. */
static int port_in_log(const char *mark)
{
	char text[16384];
	for (int i = 0; i < 3000; i++) {
		FILE *f = fopen(d.log, "r");
		size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
		if (f)
			fclose(f);
		text[n] = '\0';
		const char *at = strstr(text, mark);
		if (at)
			return atoi(at + strlen(mark));
		int status;
		if (waitpid(d.pid, &status, WNOHANG) == d.pid)
			return 0;
		usleep(10 * 1000); /* the daemon starting, not a time the test waits out */
	}
	return 0;
}

static int setup(void **state)
{
	(void)state;
	char exe[512];
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(exe, sizeof exe, "%s/escrowd", getenv("ESC_BUILD_DIR"));
	esc_test_tmpdir(d.dir, sizeof d.dir);
	esc_test_store(d.db, sizeof d.db, d.dir);
	esc_test_path(d.config, sizeof d.config, d.dir, "escrowd.conf");
	esc_test_path(d.log, sizeof d.log, d.dir, "daemon.log");
	FILE *f = fopen(d.config, "w");
	assert_non_null(f);
	fputs("http.admin_listen = 127.0.0.1:0\nlog_level = debug\n", f);
	fclose(f);
	d.pid = fork();
	assert_true(d.pid >= 0);
	if (d.pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (!freopen(d.log, "w", stderr))
			_exit(127);
		execl(exe, exe, "serve", "--db", d.db, "--listen", "127.0.0.1:0", "--clock",
		      "manual", "--operator-key", KEY, "--config", d.config, (char *)NULL);
		_exit(127);
	}
	d.port = port_in_log("listening on http://127.0.0.1:");
	d.admin = port_in_log("admin listener on http://127.0.0.1:");
	assert_true(d.port > 0);
	assert_true(d.admin > 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (d.pid > 0) {
		kill(d.pid, SIGTERM);
		waitpid(d.pid, NULL, 0);
	}
	esc_test_store_drop(d.db);
	esc_test_rmdir(d.dir);
	curl_global_cleanup();
	return 0;
}

static size_t gather(char *data, size_t size, size_t n, void *arg)
{
	struct esc_test_reply *r = arg;
	char *grown = realloc(r->body, r->len + size * n + 1);
	assert_non_null(grown);
	memcpy(grown + r->len, data, size * n);
	r->len += size * n;
	grown[r->len] = '\0';
	r->body = grown;
	return size * n;
}

/* The admin listener's /metrics text (the caller frees it): Prometheus
 * text, which esc_test_call would refuse as not JSON. */
static char *scrape(void)
{
	char url[64];
	struct esc_test_reply r = {0};
	snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", d.admin);
	CURL *h = curl_easy_init();
	assert_non_null(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, gather);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
	curl_easy_cleanup(h);
	if (r.status != 200 || !r.body)
		fail_msg("admin /metrics answered %ld: %s", r.status, r.body ? r.body : "");
	return r.body;
}

/* The value of the series named (with its labels) name in text. */
static double series(const char *text, const char *name)
{
	size_t len = strlen(name);
	for (const char *at = text; (at = strstr(at, name)); at += len)
		if ((at == text || at[-1] == '\n') && at[len] == ' ')
			return strtod(at + len + 1, NULL);
	fail_msg("no %s in /metrics:\n%s", name, text);
	return 0;
}

/* Its HELP and TYPE lines. */
static void described(const char *text, const char *name, const char *type)
{
	char help[128], line[128];
	snprintf(help, sizeof help, "# HELP %s ", name);
	snprintf(line, sizeof line, "# TYPE %s %s\n", name, type);
	if (!strstr(text, help) || !strstr(text, line))
		fail_msg("%s has no HELP or TYPE %s line", name, type);
}

static double metric(const char *name)
{
	char *text = scrape();
	double v = series(text, name);
	free(text);
	return v;
}

/* ---- the admin listener ---- */

static void metrics_are_served_on_the_admin_listener_alone(void **state)
{
	(void)state;
	char *text = scrape();
	assert_non_null(strstr(text, "escrowd_http_requests_total"));
	free(text);
	struct esc_test_reply r = esc_test_call(d.port, "GET", "/metrics", "", NULL);
	assert_int_equal(r.status, 404);
	assert_non_null(strstr(r.body, "http.admin_listen"));
	esc_test_reply_drop(&r);
	r = esc_test_call(d.admin, "GET", "/healthz", "", NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(esc_test_str(r.json, "status"), "ok");
	/* The mode too, as the API's /healthz says it: a check pointed here
	 * can make sure a production host is not in test mode. */
	assert_string_equal(esc_test_str(r.json, "mode"), "test");
	esc_test_reply_drop(&r);
	/* Nothing of the API is there, whoever asks. */
	r = esc_test_call(d.admin, "GET", "/v1/orders", KEY, NULL);
	assert_int_equal(r.status, 404);
	esc_test_reply_drop(&r);
	r = esc_test_call(d.admin, "POST", "/metrics", "", "{}");
	assert_int_equal(r.status, 405);
	esc_test_reply_drop(&r);
	/* The API's listener answers the API as before. */
	r = esc_test_call(d.port, "GET", "/healthz", "", NULL);
	assert_int_equal(r.status, 200);
	esc_test_reply_drop(&r);
}

static void the_new_series_are_there_with_sensible_values(void **state)
{
	(void)state;
	char *text = scrape();
	described(text, "escrowd_build_info", "gauge");
	assert_true(series(text, "escrowd_build_info{version=\"" ESC_VERSION "\"}") == 1);
	described(text, "process_resident_memory_bytes", "gauge");
	double resident = series(text, "process_resident_memory_bytes");
	assert_true(resident > 1024 * 1024 && resident < 64.0 * 1024 * 1024 * 1024);
	described(text, "process_open_fds", "gauge");
	described(text, "process_max_fds", "gauge");
	double fds = series(text, "process_open_fds"), max = series(text, "process_max_fds");
	assert_true(fds >= 4); /* stdin..stderr, the listeners' sockets, the store */
	assert_true(max < 0 || fds <= max);
	described(text, "process_cpu_seconds_total", "counter");
	double cpu = series(text, "process_cpu_seconds_total");
	assert_true(cpu >= 0 && cpu < 3600);
	described(text, "escrowd_deadline_oldest_due_seconds", "gauge");
	assert_true(series(text, "escrowd_deadline_oldest_due_seconds") == 0);
	described(text, "escrowd_refunds_overdue", "gauge");
	assert_true(series(text, "escrowd_refunds_overdue") == 0);
	described(text, "escrowd_store_retries_total", "counter");
	assert_true(series(text, "escrowd_store_retries_total") >= 0);
	described(text, "escrowd_batches_rerun_total", "counter");
	assert_true(series(text, "escrowd_batches_rerun_total") >= 0);
	described(text, "escrowd_commit_delays_total", "counter");
	assert_true(series(text, "escrowd_commit_delays_total") >= 0);
	free(text);
	/* CPU time only grows. */
	assert_true(metric("process_cpu_seconds_total") >= cpu);
}

/* ---- deadlines due and refunds overdue ---- */

static char buyer_id[64], seller_id[64], buyer_token[80], seller_token[80], refund_id[64];

static void make_user(const char *role, const char *email, char id[64], char token[80])
{
	esc_test_user(d.port, KEY, role, role, email, id, token);
}

/* A card-paid order cancelled by agreement: a refund pending, whose
 * refund_alert (10 days) is a deadline. */
static void pending_refund(void)
{
	char body[400], path[160];
	make_user("buyer", "buyer@metrics.test", buyer_id, buyer_token);
	make_user("seller", "seller@metrics.test", seller_id, seller_token);
	snprintf(body, sizeof body,
		 "{\"buyer_id\":\"%s\",\"seller_id\":\"%s\",\"currency\":\"EUR\","
		 "\"items\":[{\"title\":\"Mug\",\"quantity\":2,\"unit_price\":2500}]}",
		 buyer_id, seller_id);
	json_t *o = esc_test_must(d.port, "POST", "/v1/orders", KEY, body, 201);
	char id[64];
	snprintf(id, sizeof id, "%s", esc_test_str(o, "id"));
	json_decref(o);
	snprintf(path, sizeof path, "/v1/orders/%s/pay", id);
	json_decref(esc_test_must(d.port, "POST", path, KEY,
				  "{\"amount\":5000,\"payment_method\":\"card\"}", 200));
	snprintf(path, sizeof path, "/v1/orders/%s/cancel?secret=query-secret-1", id);
	json_decref(esc_test_must(d.port, "POST", path, buyer_token,
				  "{\"reason\":\"no_longer_needed\"}", 200));
	snprintf(path, sizeof path, "/v1/orders/%s/cancellation/accept", id);
	o = esc_test_must(d.port, "POST", path, seller_token, "{}", 200);
	json_t *refund = json_array_get(json_object_get(o, "refunds"), 0);
	assert_string_equal(esc_test_str(refund, "status"), "pending");
	snprintf(refund_id, sizeof refund_id, "%s", esc_test_str(refund, "id"));
	json_decref(o);
}

/* Move the manual clock; its new time. */
static int64_t advance(int64_t seconds)
{
	char body[64];
	int64_t now = 0;
	snprintf(body, sizeof body, "{\"seconds\":%lld}", (long long)seconds);
	json_t *j = esc_test_must(d.port, "POST", "/v1/clock/advance", KEY, body, 200);
	assert_int_equal(esc_time_parse(esc_test_str(j, "now"), &now), 0);
	json_decref(j);
	return now;
}

static void the_oldest_due_deadline_ages_with_the_clock_while_another_daemon_holds_it(void **state)
{
	(void)state;
	struct esc_store *s = NULL;
	char err[300] = "";
	struct esc_deadline rows[64];
	size_t n = 0;
	int64_t soonest = 0;
	int rc;

	pending_refund();
	/* Another daemon, alive for an hour of real time, claims every
	 * deadline: this one cannot fire them, and they stay due. */
	assert_int_equal(esc_store_open(d.db, &s, err, sizeof err), 0);
	struct esc_process other = {.id = "prc_other_daemon",
				    .started_ms = esc_time_real_ms(),
				    .heartbeat_ms = esc_time_real_ms(),
				    .lease_ms = 3600 * 1000};
	ESC_STORE(rc, s, process_beat, &other);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, s, deadlines_claim, INT64_MAX / 2, other.id, esc_time_real_ms(), rows, 64,
		  &n);
	assert_int_equal(rc, 0);
	assert_true(n >= 1); /* the refund's alert at least */
	ESC_STORE(rc, s, deadline_soonest, &soonest);
	assert_int_equal(rc, 0);
	assert_true(soonest > 0);

	/* 11 days on: everything is due (the refund's alert after 10), none
	 * fired. The age is the escrow's time since the soonest was due. */
	int64_t now = advance(11 * 86400);
	assert_true(soonest < now);
	assert_true(metric("escrowd_deadline_oldest_due_seconds") ==
		    (double)(now - soonest) / 1000.0);
	assert_true(metric("escrowd_refunds_overdue") == 1);
	assert_true(metric("escrowd_refunds_pending") == 1);
	/* Half an hour more: half an hour older. */
	int64_t later = advance(1800);
	assert_int_equal(later - now, 1800 * 1000);
	assert_true(metric("escrowd_deadline_oldest_due_seconds") ==
		    (double)(later - soonest) / 1000.0);

	/* The other daemon lets go: the next move fires them all. */
	ESC_STORE(rc, s, deadlines_release, other.id);
	assert_int_equal(rc, 0);
	ESC_STORE(rc, s, process_end, other.id);
	assert_int_equal(rc, 0);
	esc_store_close(s);
	advance(0);
	assert_true(metric("escrowd_deadline_oldest_due_seconds") == 0);
	/* The alert was raised: the refund is still overdue until the
	 * payment integration confirms it. */
	assert_true(metric("escrowd_refunds_overdue") == 1);
	char path[160];
	snprintf(path, sizeof path, "/v1/refunds/%s/settle", refund_id);
	json_decref(esc_test_must(d.port, "POST", path, KEY, "{}", 200));
	assert_true(metric("escrowd_refunds_overdue") == 0);
	assert_true(metric("escrowd_refunds_pending") == 0);
}

/* ---- the log ---- */

/* Stop the daemon, then read its log: each line one JSON object with a
 * time, a level and a msg; the requests' lines with their callers. */
static void every_line_the_daemon_wrote_is_json_with_level_and_caller(void **state)
{
	(void)state;
	char line[ESC_LOG_LINE_MAX + 2];
	char operator_caller[80] = "";
	bool listening = false, admin = false, stopped = false, debug = false, user = false;
	size_t lines = 0, requests = 0;

	/* The operator key's id, as the store keeps it: the only key. */
	struct esc_store *s = NULL;
	struct esc_api_key keys[4];
	size_t n = 0;
	char err[300] = "";
	int rc;
	assert_int_equal(esc_store_open(d.db, &s, err, sizeof err), 0);
	ESC_STORE(rc, s, api_keys_list, keys, 4, &n);
	esc_store_close(s);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 1);
	snprintf(operator_caller, sizeof operator_caller, "operator:%s", keys[0].id);

	kill(d.pid, SIGTERM);
	int status = 0;
	assert_int_equal(waitpid(d.pid, &status, 0), d.pid);
	d.pid = 0;
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	FILE *f = fopen(d.log, "r");
	assert_non_null(f);
	while (fgets(line, sizeof line, f)) {
		json_error_t jerr;
		lines++;
		assert_non_null(strchr(line, '\n'));
		json_t *j = json_loads(line, 0, &jerr);
		if (!json_is_object(j))
			fail_msg("a log line is not a JSON object (%s): %s", jerr.text, line);
		int64_t ms = 0;
		if (esc_time_parse(esc_test_str(j, "time"), &ms))
			fail_msg("no RFC 3339 time: %s", line);
		/* Real time: the manual clock moved 11 days, the log did not. */
		assert_true(ms > esc_time_real_ms() - 3600 * 1000 && ms <= esc_time_real_ms());
		const char *level = esc_test_str(j, "level"), *msg = esc_test_str(j, "msg");
		enum esc_log_level parsed;
		if (esc_log_level_parse(level, &parsed))
			fail_msg("no level: %s", line);
		assert_true(*msg);
		debug |= parsed == ESC_LOG_DEBUG;
		listening |= !strncmp(msg, "listening on http://127.0.0.1:", 30);
		admin |= !strncmp(msg, "admin listener on http://127.0.0.1:", 35);
		stopped |= !strcmp(msg, "stopped");
		if (!strcmp(msg, "request")) {
			requests++;
			const char *path = esc_test_str(j, "path"),
				   *caller = esc_test_str(j, "caller");
			assert_true(json_is_integer(json_object_get(j, "status")));
			assert_true(json_is_number(json_object_get(j, "duration_ms")));
			assert_string_equal(esc_test_str(j, "address"), "127.0.0.1");
			assert_true(*esc_test_str(j, "method"));
			if (!strcmp(path, "/v1/clock/advance") || !strcmp(path, "/v1/users"))
				assert_string_equal(caller, operator_caller);
			size_t len = strlen(path);
			if (len > 7 && !strcmp(path + len - 7, "/cancel")) {
				assert_string_equal(caller, buyer_id);
				user = true;
			}
			if (strstr(path, "/cancellation/accept"))
				assert_string_equal(caller, seller_id);
			if (!strcmp(path, "/healthz") || !strcmp(path, "/v1/sessions"))
				assert_null(json_object_get(j, "caller"));
		}
		json_decref(j);
	}
	fclose(f);
	assert_true(lines > 10);
	assert_true(requests > 10);
	assert_true(listening && admin && stopped && user);
	assert_true(debug); /* log_level = debug: the admin listener's requests */
	/* The query is never logged. */
	char text[65536];
	f = fopen(d.log, "r");
	size_t got = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[got] = '\0';
	assert_null(strstr(text, "query-secret-1"));
}

/* The TCP port pid listens on, found in /proc (its sockets' inodes
 * against /proc/net/tcp's listening ones): a daemon at log_level warn
 * says no "listening on". 0 while it listens on none. */
static int listening_port(int pid)
{
	char path[64], link[64], line[512];
	unsigned long inodes[64];
	size_t n = 0;
	snprintf(path, sizeof path, "/proc/%d/fd", pid);
	DIR *dir = opendir(path);
	if (!dir)
		return 0;
	for (struct dirent *e; (e = readdir(dir)) && n < 64;) {
		char fd[384];
		snprintf(fd, sizeof fd, "%s/%s", path, e->d_name);
		ssize_t len = readlink(fd, link, sizeof link - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (!strncmp(link, "socket:[", 8))
			inodes[n++] = strtoul(link + 8, NULL, 10);
	}
	closedir(dir);
	FILE *f = fopen("/proc/net/tcp", "r");
	if (!f)
		return 0;
	int port = 0;
	while (!port && fgets(line, sizeof line, f)) {
		unsigned local_port, state;
		unsigned long inode;
		/* sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode */
		if (sscanf(line, " %*d: %*x:%x %*x:%*x %x %*x:%*x %*x:%*x %*x %*u %*u %lu",
			   &local_port, &state, &inode) != 3 ||
		    state != 0x0A)
			continue;
		for (size_t i = 0; i < n; i++)
			if (inodes[i] == inode)
				port = (int)local_port;
	}
	fclose(f);
	return port;
}

/* escrowd serve at level (--log-level) with a manual clock: once its
 * port answers, one request (an info line: "request", /healthz), then
 * SIGTERM; its whole log into text. */
static void serve_at_level(const char *level, char *text, size_t size)
{
	char exe[512], dir[256], db[300], log[300];
	snprintf(exe, sizeof exe, "%s/escrowd", getenv("ESC_BUILD_DIR"));
	esc_test_tmpdir(dir, sizeof dir);
	esc_test_store(db, sizeof db, dir);
	esc_test_path(log, sizeof log, dir, "daemon.log");
	int pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (!freopen(log, "w", stderr))
			_exit(127);
		execl(exe, exe, "serve", "--db", db, "--listen", "127.0.0.1:0", "--clock", "manual",
		      "--operator-key", KEY, "--log-level", level, (char *)NULL);
		_exit(127);
	}
	int port = 0, status = 0;
	for (int i = 0; i < 3000 && !(port = listening_port(pid)); i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			fail_msg("escrowd serve --log-level %s ended before it listened", level);
		usleep(10 * 1000); /* the daemon starting, not a time the test waits out */
	}
	assert_true(port > 0);
	struct esc_test_reply r = esc_test_call(port, "GET", "/healthz", "", NULL);
	assert_int_equal(r.status, 200);
	esc_test_reply_drop(&r);
	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	FILE *f = fopen(log, "r");
	assert_non_null(f);
	size_t n = fread(text, 1, size - 1, f);
	fclose(f);
	text[n] = '\0';
	esc_test_store_drop(db);
	esc_test_rmdir(dir);
}

/* log_level = warn (here --log-level): the daemon's warnings, and no
 * info line though it listened and answered a request (no "listening
 * on", no request line, no "stopped"); at info, the same daemon writes
 * them, so the test sees a level that is ignored. */
static void log_level_warn_leaves_the_info_lines_out(void **state)
{
	(void)state;
	char text[16384];
	serve_at_level("warn", text, sizeof text);
	if (!strstr(text, "\"level\":\"warn\",\"msg\":\"manual clock") ||
	    strstr(text, "\"level\":\"info\"") || strstr(text, "listening on") ||
	    strstr(text, "\"path\":\"/healthz\"") || strstr(text, "\"msg\":\"stopped\""))
		fail_msg("at log_level warn the daemon wrote:\n%s", text);
	serve_at_level("info", text, sizeof text);
	if (!strstr(text, "\"level\":\"warn\",\"msg\":\"manual clock") ||
	    !strstr(text, "listening on") ||
	    !strstr(text, "\"level\":\"info\",\"msg\":\"request\"") ||
	    !strstr(text, "\"path\":\"/healthz\"") || !strstr(text, "\"msg\":\"stopped\""))
		fail_msg("at log_level info the daemon wrote:\n%s", text);
}

/* ---- util/log.h ---- */

/* A line of text's lines as JSON: the index'th, or fail. */
static json_t *line_json(const char *text, int index)
{
	const char *p = text;
	for (int i = 0; i < index && p; i++) {
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	if (!p || !*p)
		fail_msg("no line %d in:\n%s", index + 1, text);
	json_error_t jerr;
	json_t *j = json_loadb(p, strcspn(p, "\n"), 0, &jerr);
	if (!j)
		fail_msg("line %d is not JSON (%s):\n%s", index + 1, jerr.text, text);
	return j;
}

/* A background task's run of failures (util/log.h's esc_log_run, the
 * webhook worker's and the deadline worker's): its first failure is an
 * error line with what the store said, the next ones are only counted,
 * and the try that works ends the run with the count. A try that works
 * with no run going on writes nothing. tests/unit/test_storage.c has the
 * webhook worker's lines while a PostgreSQL server is down. */
static void a_failing_task_is_logged_at_its_first_failure_and_when_it_works_again(void **state)
{
	(void)state;
	char text[8192];
	FILE *tmp = tmpfile();
	assert_non_null(tmp);
	fflush(stderr);
	int saved = dup(2);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(tmp), 2) >= 0);
	struct esc_log_run run = {0};
	esc_log_run_ok(&run, "deadlines");
	for (int i = 0; i < 5; i++)
		esc_log_run_failed(&run, "deadlines", "firing", "the store is unavailable; try again",
				   i ? "the same again" : "connection refused");
	esc_log_run_ok(&run, "deadlines");
	esc_log_run_ok(&run, "deadlines");
	esc_log_run_failed(&run, "deadlines", "firing", "the store failed", "");
	assert_true(dup2(saved, 2) >= 0);
	close(saved);
	rewind(tmp);
	size_t n = fread(text, 1, sizeof text - 1, tmp);
	text[n] = '\0';
	fclose(tmp);

	int lines = 0;
	for (const char *p = text; (p = strchr(p, '\n')); p++)
		lines++;
	if (lines != 3)
		fail_msg("want 3 lines, the run wrote %d:\n%s", lines, text);
	json_t *j = line_json(text, 0);
	assert_string_equal(esc_test_str(j, "level"), "error");
	assert_string_equal(esc_test_str(j, "msg"), "deadlines: firing failed");
	assert_string_equal(esc_test_str(j, "error"), "the store is unavailable; try again");
	assert_string_equal(esc_test_str(j, "store_said"), "connection refused");
	assert_non_null(strstr(esc_test_str(j, "next_failures"), "counted"));
	json_decref(j);
	j = line_json(text, 1);
	assert_string_equal(esc_test_str(j, "level"), "info");
	assert_non_null(strstr(esc_test_str(j, "msg"),
			       "deadlines: working again after 5 failed tries over "));
	assert_int_equal(json_integer_value(json_object_get(j, "failures")), 5);
	assert_true(json_real_value(json_object_get(j, "seconds")) >= 0);
	json_decref(j);
	j = line_json(text, 2);
	assert_string_equal(esc_test_str(j, "msg"), "deadlines: firing failed");
	assert_null(json_object_get(j, "store_said"));
	json_decref(j);
}

static void a_log_line_is_json_whatever_its_fields_hold(void **state)
{
	(void)state;
	char out[ESC_LOG_LINE_MAX + 1];
	/* Quotes, a backslash, control characters, a bidirectional control,
	 * a lone continuation byte, an overlong '/' and a cut character. */
	const char *nasty = "a \"quoted\" \\ path\n\t\x01\x7f \xe2\x80\xae \x80 \xc0\xaf \xe2\x82";
	size_t n = esc_log_format(
		out, ESC_LOG_WARN, ESC_TEST_T0, "m\xff",
		(const struct esc_log_field[]){ESC_LOG_STR("s", nasty), ESC_LOG_STR("absent", NULL),
					       ESC_LOG_INT("i", -42), ESC_LOG_REAL("f", 1.5),
					       ESC_LOG_BOOL("b", true)},
		5);
	assert_int_equal(n, strlen(out));
	assert_int_equal(out[n - 1], '\n');
	json_error_t jerr;
	json_t *j = json_loads(out, 0, &jerr);
	if (!j)
		fail_msg("not JSON (%s): %s", jerr.text, out);
	assert_string_equal(esc_test_str(j, "time"), "2026-01-05T12:00:00.000Z");
	assert_string_equal(esc_test_str(j, "level"), "warn");
	assert_string_equal(esc_test_str(j, "msg"), "m\xef\xbf\xbd");
	assert_string_equal(esc_test_str(j, "s"), "a \"quoted\" \\ path\n\t\x01\x7f \xe2\x80\xae "
						  "\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd "
						  "\xef\xbf\xbd\xef\xbf\xbd");
	assert_null(json_object_get(j, "absent"));
	assert_int_equal(json_integer_value(json_object_get(j, "i")), -42);
	assert_true(json_real_value(json_object_get(j, "f")) == 1.5);
	assert_true(json_is_true(json_object_get(j, "b")));
	assert_null(json_object_get(j, "truncated"));
	json_decref(j);

	/* A value too long is cut at a whole character, and said to be. */
	char *big = malloc(3 * ESC_LOG_LINE_MAX);
	assert_non_null(big);
	for (size_t i = 0; i + 2 < 3 * ESC_LOG_LINE_MAX; i += 2)
		memcpy(big + i, "\xc3\xa9", 2); /* é */
	big[3 * ESC_LOG_LINE_MAX - 1] = '\0';
	big[3 * ESC_LOG_LINE_MAX - 2] = '\0';
	n = esc_log_format(
		out, ESC_LOG_ERROR, ESC_TEST_T0, "long",
		(const struct esc_log_field[]){ESC_LOG_STR("big", big), ESC_LOG_INT("after", 1)},
		2);
	free(big);
	assert_true(n <= ESC_LOG_LINE_MAX);
	j = json_loads(out, 0, &jerr);
	if (!j)
		fail_msg("a cut line is not JSON (%s)", jerr.text);
	assert_true(json_is_true(json_object_get(j, "truncated")));
	assert_true(strlen(esc_test_str(j, "big")) > ESC_LOG_LINE_MAX / 2);
	assert_null(json_object_get(j, "after"));
	json_decref(j);

	/* A request's line whose path (the client's) ends it anywhere near
	 * the limit: whole fields or none, never a key without its value. */
	char *path = malloc(ESC_LOG_LINE_MAX);
	assert_non_null(path);
	for (size_t len = ESC_LOG_LINE_MAX - 400; len < ESC_LOG_LINE_MAX; len++) {
		memset(path, 'p', len);
		path[len] = '\0';
		n = esc_log_format(
			out, ESC_LOG_INFO, ESC_TEST_T0, "request",
			(const struct esc_log_field[]){
				ESC_LOG_STR("path", path), ESC_LOG_INT("status", 404),
				ESC_LOG_REAL("duration_ms", 1.105), ESC_LOG_BOOL("slow", false),
				ESC_LOG_INT("bytes", 1234567), ESC_LOG_STR("caller", "anonymous")},
			6);
		assert_true(n <= ESC_LOG_LINE_MAX);
		j = json_loads(out, 0, &jerr);
		if (!j)
			fail_msg("a %zu-byte path makes a line that is not JSON (%s): ...%s", len,
				 jerr.text, out + (n > 120 ? n - 120 : 0));
		json_decref(j);
	}
	free(path);

	/* The levels: below the one set, nothing; a bug's line always. */
	esc_log_set_level(ESC_LOG_WARN);
	assert_false(esc_log_enabled(ESC_LOG_INFO));
	assert_true(esc_log_enabled(ESC_LOG_WARN));
	assert_true(esc_log_enabled(ESC_LOG_FATAL));
	esc_log_set_level(ESC_LOG_INFO);
	enum esc_log_level l;
	assert_int_equal(esc_log_level_parse("error", &l), 0);
	assert_int_equal(l, ESC_LOG_ERROR);
	assert_int_equal(esc_log_level_parse("verbose", &l), -1);
	assert_int_equal(esc_log_level_parse("fatal", &l), -1);
}

int main(void)
{
	esc_test_store_or_skip("test_metrics");
	const struct CMUnitTest daemon_tests[] = {
		cmocka_unit_test(metrics_are_served_on_the_admin_listener_alone),
		cmocka_unit_test(the_new_series_are_there_with_sensible_values),
		cmocka_unit_test(
			the_oldest_due_deadline_ages_with_the_clock_while_another_daemon_holds_it),
		/* Last: it stops the daemon. */
		cmocka_unit_test(every_line_the_daemon_wrote_is_json_with_level_and_caller),
	};
	const struct CMUnitTest log_tests[] = {
		cmocka_unit_test(a_log_line_is_json_whatever_its_fields_hold),
		cmocka_unit_test(
			a_failing_task_is_logged_at_its_first_failure_and_when_it_works_again),
		cmocka_unit_test(log_level_warn_leaves_the_info_lines_out),
	};
	int failed = cmocka_run_group_tests_name("log", log_tests, NULL, NULL);
	return failed + cmocka_run_group_tests_name("daemon", daemon_tests, setup, teardown);
}
