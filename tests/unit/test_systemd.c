/* test_systemd.c - escrowd serve under systemd (issue 18 item 2): the
 * messages a Type=notify unit's daemon sends, received on the test's own
 * $NOTIFY_SOCKET (a unix datagram socket, as systemd's); the operator key
 * from a file and from a systemd credential; and systemd-analyze verify
 * on dist/escrowd.service. SQLite only: none of it touches the store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <sodium.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

#define KEY "systemd-operator-key-0001"

static char binary[300];

struct daemon {
	char dir[256], sock_path[300], log[300];
	int sock, port;
	pid_t pid;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A port free now, below Linux's ephemeral range (32768 up): a port
 * the kernel hands out could be taken, between this check and the
 * daemon's bind, by another suite's client socket (test_hardening binds
 * hundreds), and the daemon would exit before READY=1. */
static int free_port(void)
{
	for (int tries = 0; tries < 1000; tries++) {
		struct sockaddr_in sa = {
			.sin_family = AF_INET,
			.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
			.sin_port = htons((uint16_t)(20000 + randombytes_uniform(12000)))};
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		assert_true(fd >= 0);
		bool free = !bind(fd, (struct sockaddr *)&sa, sizeof sa);
		close(fd);
		if (free)
			return ntohs(sa.sin_port);
	}
	fail_msg("no free port from 20000 to 31999");
	return 0;
}

/* The notify socket, bound before the daemon starts, as systemd does. */
static void daemon_init(struct daemon *d)
{
	memset(d, 0, sizeof *d);
	d->pid = -1;
	esc_test_tmpdir(d->dir, sizeof d->dir);
	esc_test_path(d->sock_path, sizeof d->sock_path, d->dir, "notify");
	esc_test_path(d->log, sizeof d->log, d->dir, "daemon.log");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	assert_true(strlen(d->sock_path) < sizeof sa.sun_path);
	strcpy(sa.sun_path, d->sock_path);
	d->sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(d->sock >= 0);
	assert_int_equal(bind(d->sock, (struct sockaddr *)&sa, sizeof sa), 0);
	d->port = free_port();
}

/* escrowd serve with NOTIFY_SOCKET and the environment given (NAME=VALUE
 * strings, NULL-terminated), its stderr in daemon.log. */
static void daemon_start(struct daemon *d, const char *const *env, const char *extra_args)
{
	char cmd[1500];
	snprintf(cmd, sizeof cmd,
		 "exec '%s' serve --db '%s/escrowd.db' --listen 127.0.0.1:%d --quiet %s "
		 "2>>'%s'",
		 binary, d->dir, d->port, extra_args ? extra_args : "", d->log);
	d->pid = fork();
	assert_true(d->pid >= 0);
	if (d->pid == 0) {
		unsetenv("WATCHDOG_USEC");
		unsetenv("WATCHDOG_PID");
		unsetenv("CREDENTIALS_DIRECTORY");
		unsetenv("ESCROWD_OPERATOR_KEY");
		unsetenv("ESCROWD_OPERATOR_KEY_FILE");
		setenv("NOTIFY_SOCKET", d->sock_path, 1);
		for (size_t i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
}

/* The next message within ms, "" when none came. */
static void next_message(struct daemon *d, int ms, char *out, size_t size)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	setsockopt(d->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	ssize_t n = recv(d->sock, out, size - 1, 0);
	out[n > 0 ? n : 0] = '\0';
}

/* Wait for a message holding want, up to ms; the others are skipped. */
static bool wait_for(struct daemon *d, const char *want, int ms)
{
	char msg[512];
	int64_t end = now_ms() + ms;
	while (now_ms() < end) {
		next_message(d, (int)(end - now_ms()) + 1, msg, sizeof msg);
		if (strstr(msg, want))
			return true;
	}
	return false;
}

static int daemon_wait(struct daemon *d)
{
	int status = 0;
	assert_int_equal(waitpid(d->pid, &status, 0), d->pid);
	d->pid = -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void daemon_release(struct daemon *d)
{
	if (d->pid > 0) {
		kill(d->pid, SIGKILL);
		waitpid(d->pid, NULL, 0);
	}
	close(d->sock);
	esc_test_rmdir(d->dir);
}

static void print_log(const struct daemon *d)
{
	char line[512];
	FILE *f = fopen(d->log, "r");
	while (f && fgets(line, sizeof line, f))
		fprintf(stderr, "  daemon: %s", line);
	if (f)
		fclose(f);
}

static long get_status(int port, const char *path, const char *token)
{
	struct esc_test_reply r = esc_test_call(port, "GET", path, token, NULL);
	long status = r.status;
	esc_test_reply_drop(&r);
	return status;
}

static void issue_18_ready_once_the_port_answers_then_stopping_on_sigterm(void **state)
{
	(void)state;
	struct daemon d;
	char msg[512];
	daemon_init(&d);
	daemon_start(&d, NULL, NULL);
	next_message(&d, 60000, msg, sizeof msg);
	if (!strstr(msg, "READY=1"))
		print_log(&d);
	/* The first message is READY=1, and the port answers at once. */
	assert_non_null(strstr(msg, "READY=1"));
	assert_int_equal(get_status(d.port, "/healthz", ""), 200);
	/* No watchdog asked for: no pings. */
	next_message(&d, 600, msg, sizeof msg);
	assert_string_equal(msg, "");
	assert_int_equal(kill(d.pid, SIGTERM), 0);
	next_message(&d, 10000, msg, sizeof msg);
	assert_non_null(strstr(msg, "STOPPING=1"));
	assert_int_equal(daemon_wait(&d), 0);
	daemon_release(&d);
}

static void issue_18_watchdog_pings_while_it_serves(void **state)
{
	(void)state;
	struct daemon d;
	const char *env[] = {"WATCHDOG_USEC=200000", NULL};
	char msg[512];
	daemon_init(&d);
	daemon_start(&d, env, NULL);
	assert_true(wait_for(&d, "READY=1", 60000));
	/* Every 50 ms or so (a quarter of 200 ms, on a loop turning every
	 * 100 ms): at least 5 in the next second and a half, and never a
	 * second without one, however loaded the machine. */
	int pings = 0;
	int64_t start = now_ms(), last = start, gap = 0;
	while (now_ms() - start < 1500) {
		next_message(&d, 1000, msg, sizeof msg);
		if (!strcmp(msg, "WATCHDOG=1")) {
			pings++;
			gap = now_ms() - last > gap ? now_ms() - last : gap;
			last = now_ms();
		}
	}
	assert_true(pings >= 5);
	assert_true(gap < 1000);
	assert_int_equal(kill(d.pid, SIGTERM), 0);
	assert_true(wait_for(&d, "STOPPING=1", 10000));
	assert_int_equal(daemon_wait(&d), 0);
	daemon_release(&d);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

/* The key from --operator-key-file, from the environment's
 * ESCROWD_OPERATOR_KEY_FILE, from the config file's operator_key_file,
 * and from $CREDENTIALS_DIRECTORY/operator_key: each then opens the
 * operator's routes. */
static void issue_18_operator_key_from_a_file_or_a_credential(void **state)
{
	(void)state;
	struct daemon d;
	char key_path[300], creds[300], cred_path[320], config[300], args[700], env_file[400],
		env_creds[400];
	daemon_init(&d);
	esc_test_path(key_path, sizeof key_path, d.dir, "operator_key");
	write_file(key_path, KEY "\n", 0600);
	esc_test_path(creds, sizeof creds, d.dir, "credentials");
	assert_int_equal(mkdir(creds, 0700), 0);
	snprintf(cred_path, sizeof cred_path, "%s/operator_key", creds);
	write_file(cred_path, KEY, 0400);
	esc_test_path(config, sizeof config, d.dir, "escrowd.conf");
	snprintf(args, sizeof args, "operator_key_file = %s\n", key_path);
	write_file(config, args, 0600);
	snprintf(env_file, sizeof env_file, "ESCROWD_OPERATOR_KEY_FILE=%s", key_path);
	snprintf(env_creds, sizeof env_creds, "CREDENTIALS_DIRECTORY=%s", creds);

	const char *flag_args = NULL, *no_env[] = {NULL}, *file_env[] = {env_file, NULL},
		   *creds_env[] = {env_creds, NULL};
	char flag[400], conf_arg[400];
	snprintf(flag, sizeof flag, "--operator-key-file '%s'", key_path);
	snprintf(conf_arg, sizeof conf_arg, "--config '%s'", config);
	struct {
		const char *const *env;
		const char *args;
	} ways[] = {{no_env, flag}, {file_env, flag_args}, {no_env, conf_arg}, {creds_env, NULL}};
	for (size_t i = 0; i < sizeof ways / sizeof ways[0]; i++) {
		d.port = free_port();
		daemon_start(&d, ways[i].env, ways[i].args);
		if (!wait_for(&d, "READY=1", 60000))
			print_log(&d);
		assert_int_equal(get_status(d.port, "/v1/policies", KEY), 200);
		assert_int_equal(get_status(d.port, "/v1/policies", "systemd-wrong-key-00001"),
				 401);
		kill(d.pid, SIGTERM);
		assert_int_equal(daemon_wait(&d), 0);
	}
	daemon_release(&d);
}

static void issue_18_operator_key_file_mistakes_are_refused(void **state)
{
	(void)state;
	struct daemon d;
	char path[300], args[700], out[4096];
	daemon_init(&d);
	esc_test_path(path, sizeof path, d.dir, "empty");
	write_file(path, "\n", 0600);
	snprintf(args, sizeof args, "serve --db '%s/escrowd.db' --operator-key-file '%s'", d.dir,
		 path);
	assert_int_equal(esc_test_run_cli(binary, NULL, args, out, sizeof out), 2);
	assert_non_null(strstr(out, "is empty"));
	snprintf(args, sizeof args, "serve --db '%s/escrowd.db' --operator-key-file '%s/none'",
		 d.dir, d.dir);
	assert_int_equal(esc_test_run_cli(binary, NULL, args, out, sizeof out), 2);
	assert_non_null(strstr(out, "cannot read operator_key_file"));
	snprintf(args, sizeof args,
		 "serve --db '%s/escrowd.db' --operator-key " KEY " --operator-key-file '%s'",
		 d.dir, path);
	assert_int_equal(esc_test_run_cli(binary, NULL, args, out, sizeof out), 2);
	assert_non_null(strstr(out, "keep one"));
	daemon_release(&d);
}

/* systemd-analyze verify on the unit meson configured, its ExecStart
 * pointed at this build's binary (verify checks that it exists). */
static void issue_18_the_unit_verifies(void **state)
{
	(void)state;
	char dir[256], cmd[2000], out[8192] = "";
	const char *build = getenv("ESC_BUILD_DIR");
	if (system("systemd-analyze --version >/dev/null 2>&1")) {
		fprintf(stderr, "SKIP: systemd-analyze cannot run here (make test-deps installs "
				"Debian's systemd package)\n");
		skip();
	}
	esc_test_tmpdir(dir, sizeof dir);
	snprintf(cmd, sizeof cmd,
		 "sed 's|^ExecStart=[^ ]*|ExecStart=%s|' '%s/escrowd.service' "
		 ">'%s/escrowd.service' && cd '%s' && systemd-analyze verify "
		 "--recursive-errors=no ./escrowd.service 2>&1",
		 binary, build, dir, dir);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, sizeof out - 1, p);
	out[n] = '\0';
	int rc = pclose(p);
	if (rc || n)
		fprintf(stderr, "systemd-analyze verify:\n%s", out);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 0);
	esc_test_rmdir(dir);
}

int main(void)
{
	const char *store = getenv("ESC_TEST_STORE");
	if (store && !strcmp(store, "postgresql"))
		return 77;
	snprintf(binary, sizeof binary, "%s/escrowd", getenv("ESC_BUILD_DIR"));
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(issue_18_ready_once_the_port_answers_then_stopping_on_sigterm),
		cmocka_unit_test(issue_18_watchdog_pings_while_it_serves),
		cmocka_unit_test(issue_18_operator_key_from_a_file_or_a_credential),
		cmocka_unit_test(issue_18_operator_key_file_mistakes_are_refused),
		cmocka_unit_test(issue_18_the_unit_verifies),
	};
	int rc = cmocka_run_group_tests_name("systemd", tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
