/* test_proxy.c - escrowd behind a proxy, and TLS (issue 18 item 5):
 * --listen on [::1] and a host name; http.trusted_proxies, whose
 * X-Forwarded-For names the client for the sign-in limits and the log
 * and is ignored from anyone else; Secure cookies; HSTS; https served
 * with a certificate this test makes (openssl), checked by curl against
 * it. The settings are docs/operations.md's nginx configuration's: the
 * proxy on 127.0.0.1 sets X-Forwarded-For and X-Forwarded-Proto. SQLite
 * only: none of this touches the store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

#define KEY "proxy-test-operator-key-1"

struct daemon {
	char dir[256];
	char log[300];
	char url[120]; /* "http://127.0.0.1:PORT" as it said */
	int pid;
};

static const char *build_dir(void)
{
	return getenv("ESC_BUILD_DIR") ? getenv("ESC_BUILD_DIR") : "build";
}

/* The whole log so far, in out. */
static void log_read(const struct daemon *d, char *out, size_t size)
{
	out[0] = '\0';
	FILE *f = fopen(d->log, "r");
	if (!f)
		return;
	size_t n = fread(out, 1, size - 1, f);
	out[n] = '\0';
	fclose(f);
}

/* escrowd serve --listen listen with config (lines) in a new directory;
 * waits until it says where it listens (up to 30 s: the machine is
 * slow), or returns false when it exits first (its log then says why). */
static bool daemon_try(struct daemon *d, const char *listen, const char *config)
{
	char db[300], conf[300], exe[512];
	memset(d, 0, sizeof *d);
	esc_test_tmpdir(d->dir, sizeof d->dir);
	esc_test_path(db, sizeof db, d->dir, "escrowd.db");
	esc_test_path(conf, sizeof conf, d->dir, "escrowd.conf");
	esc_test_path(d->log, sizeof d->log, d->dir, "escrowd.log");
	snprintf(exe, sizeof exe, "%s/escrowd", build_dir());
	FILE *f = fopen(conf, "w");
	assert_non_null(f);
	fputs(config, f);
	fclose(f);
	d->pid = fork();
	assert_true(d->pid >= 0);
	if (d->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (!freopen(d->log, "w", stderr))
			_exit(127);
		execl(exe, exe, "serve", "--db", db, "--listen", listen, "--mode", "test",
		      "--clock", "manual", "--operator-key", KEY, "--config", conf, (char *)NULL);
		_exit(127);
	}
	char text[8192];
	for (int i = 0; i < 3000; i++) {
		log_read(d, text, sizeof text);
		const char *at = strstr(text, "listening on ");
		if (at && strchr(at, '\n')) {
			at += strlen("listening on ");
			size_t len = strcspn(at, "\"\n"); /* the msg of a JSON line */
			assert_true(len < sizeof d->url);
			memcpy(d->url, at, len);
			d->url[len] = '\0';
			return true;
		}
		int status;
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			return false;
		}
		usleep(10 * 1000);
	}
	fail_msg("escrowd did not start in 30 s: %s", text);
	return false;
}

static void daemon_start(struct daemon *d, const char *listen, const char *config)
{
	if (!daemon_try(d, listen, config)) {
		char text[8192];
		log_read(d, text, sizeof text);
		fail_msg("escrowd did not start: %s", text);
	}
}

static void daemon_stop(struct daemon *d)
{
	int status = 0;
	if (d->pid) {
		kill(d->pid, SIGTERM);
		assert_int_equal(waitpid(d->pid, &status, 0), d->pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	esc_test_rmdir(d->dir);
}

/* A start that must fail, saying want. */
static void refused(const char *listen, const char *config, const char *want)
{
	struct daemon d;
	char text[8192];
	if (daemon_try(&d, listen, config))
		fail_msg("escrowd started with %s", config);
	log_read(&d, text, sizeof text);
	if (!strstr(text, want))
		fail_msg("expected \"%s\", it said: %s", want, text);
	esc_test_rmdir(d.dir);
}

struct reply {
	long status;
	char head[4096];
	char body[4096];
	size_t head_len, body_len;
};

static size_t on_head(char *data, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	size_t len = size * n;
	if (r->head_len + len < sizeof r->head) {
		memcpy(r->head + r->head_len, data, len);
		r->head_len += len;
		r->head[r->head_len] = '\0';
	}
	return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	size_t len = size * n;
	if (r->body_len + len < sizeof r->body) {
		memcpy(r->body + r->body_len, data, len);
		r->body_len += len;
		r->body[r->body_len] = '\0';
	}
	return len;
}

/* One request to d with the headers given (NULL-ended); cainfo for https. */
static struct reply call(const struct daemon *d, const char *method, const char *path,
			 const char *body, const char *cainfo, const char *const *headers)
{
	struct reply r = {0};
	char url[300];
	snprintf(url, sizeof url, "%s%s", d->url, path);
	CURL *c = curl_easy_init();
	assert_non_null(c);
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	for (size_t i = 0; headers && headers[i]; i++)
		h = curl_slist_append(h, headers[i]);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_head);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	if (cainfo)
		curl_easy_setopt(c, CURLOPT_CAINFO, cainfo);
	CURLcode rc = curl_easy_perform(c);
	if (rc != CURLE_OK)
		fail_msg("%s %s: %s", method, url, curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return r;
}

/* The value of a response header, "" when it is missing. */
static const char *header(const struct reply *r, const char *name, char *out, size_t size)
{
	out[0] = '\0';
	char want[80];
	snprintf(want, sizeof want, "\n%s:", name);
	const char *at = strcasestr(r->head, want);
	if (at) {
		at += strlen(want);
		while (*at == ' ')
			at++;
		size_t len = strcspn(at, "\r\n");
		snprintf(out, size, "%.*s", (int)(len < size ? len : size - 1), at);
	}
	return out;
}

/* A failed sign-in of nobody@proxy.test, forwarded for xff (NULL: no
 * header): its status, 401 or 429. */
static long wrong_password(const struct daemon *d, const char *xff)
{
	char line[200];
	snprintf(line, sizeof line, "X-Forwarded-For: %s", xff ? xff : "");
	const char *headers[] = {xff ? line : NULL, NULL};
	struct reply r =
		call(d, "POST", "/v1/sessions",
		     "{\"email\":\"nobody@proxy.test\",\"password\":\"guess-123\"}", NULL, headers);
	if (r.status != 401 && r.status != 429)
		fail_msg("sign-in: %ld %s", r.status, r.body);
	return r.status;
}

/* A buyer made with the operator key, then signed in with extra headers:
 * the session's Set-Cookie. */
static void signed_in_cookie(const struct daemon *d, const char *cainfo, const char *email,
			     const char *const *headers, char *cookie, size_t size)
{
	char body[300], auth[100];
	snprintf(auth, sizeof auth, "Authorization: Bearer %s", KEY);
	const char *op[] = {auth, NULL};
	snprintf(body, sizeof body,
		 "{\"role\":\"buyer\",\"name\":\"Proxy Buyer\",\"email\":\"%s\","
		 "\"password\":\"password-1\"}",
		 email);
	struct reply r = call(d, "POST", "/v1/users", body, cainfo, op);
	if (r.status != 201)
		fail_msg("POST /v1/users: %ld %s", r.status, r.body);
	snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"password-1\"}", email);
	r = call(d, "POST", "/v1/sessions", body, cainfo, headers);
	if (r.status != 201)
		fail_msg("POST /v1/sessions: %ld %s", r.status, r.body);
	header(&r, "Set-Cookie", cookie, size);
	assert_non_null(strstr(cookie, "escrowd_session="));
}

/* docs/operations.md's nginx on 127.0.0.1: the forwarded address has its
 * own sign-in limit, whatever the client put to its left. */
static void test_forwarded_address_from_trusted_proxy(void **state)
{
	(void)state;
	struct daemon d;
	daemon_start(&d, "127.0.0.1:0",
		     "http.trusted_proxies = 127.0.0.1 ::1\n"
		     "http.signin_per_address = 3\nhttp.signin_per_account = 1000\n");
	/* The client forged 198.51.100.7; nginx appended what it heard. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(wrong_password(&d, "198.51.100.7, 203.0.113.5"), 401);
	assert_int_equal(wrong_password(&d, "203.0.113.5"), 429);
	assert_int_equal(wrong_password(&d, "10.1.2.3, 203.0.113.5"), 429);
	/* Another client behind the same proxy, and the proxy itself. */
	assert_int_equal(wrong_password(&d, "203.0.113.6"), 401);
	assert_int_equal(wrong_password(&d, "2001:db8::6"), 401);
	assert_int_equal(wrong_password(&d, NULL), 401);
	/* A chain of trusted proxies: the right-most address not one of them. */
	assert_int_equal(wrong_password(&d, "203.0.113.5, 127.0.0.1"), 429);
	/* Not an address: the proxy's word for it stands (its own address). */
	assert_int_equal(wrong_password(&d, "unknown"), 401);
	char text[16384];
	log_read(&d, text, sizeof text);
	assert_non_null(strstr(text, "\"address\":\"203.0.113.5\""));
	assert_non_null(strstr(text, "\"address\":\"2001:db8::6\""));
	daemon_stop(&d);
}

/* From a peer not trusted, X-Forwarded-For is the client's to forge: it
 * is ignored, and all the attempts count against the peer. */
static void test_forwarded_address_ignored_from_others(void **state)
{
	(void)state;
	struct daemon d;
	daemon_start(&d, "127.0.0.1:0",
		     "http.trusted_proxies = 10.0.0.0/8, fd00::/8\n"
		     "http.signin_per_address = 3\nhttp.signin_per_account = 1000\n");
	/* X-Forwarded-Proto is ignored too: no Secure cookie on loopback. */
	char cookie[300];
	const char *https[] = {"X-Forwarded-Proto: https", NULL};
	signed_in_cookie(&d, NULL, "b1@proxy.test", https, cookie, sizeof cookie);
	assert_null(strstr(cookie, "Secure"));
	assert_int_equal(wrong_password(&d, "203.0.113.1"), 401);
	assert_int_equal(wrong_password(&d, "203.0.113.2"), 401);
	assert_int_equal(wrong_password(&d, "10.0.0.1"), 401);
	assert_int_equal(wrong_password(&d, "203.0.113.3"), 429);
	char text[16384];
	log_read(&d, text, sizeof text);
	assert_null(strstr(text, "203.0.113.1"));
	assert_non_null(strstr(text, "\"address\":\"127.0.0.1\""));
	daemon_stop(&d);
}

/* Secure unless plain HTTP on loopback; behind a trusted proxy that says
 * https, Secure, with HSTS when configured. */
static void test_secure_cookies_and_hsts(void **state)
{
	(void)state;
	struct daemon d;
	char cookie[300], value[100];
	daemon_start(&d, "127.0.0.1:0", "http.trusted_proxies = 127.0.0.1\nhttp.hsts = 180d\n");
	signed_in_cookie(&d, NULL, "b1@proxy.test", NULL, cookie, sizeof cookie);
	assert_null(strstr(cookie, "Secure"));
	struct reply r = call(&d, "GET", "/healthz", NULL, NULL, NULL);
	assert_string_equal(header(&r, "Strict-Transport-Security", value, sizeof value), "");
	const char *https[] = {"X-Forwarded-For: 203.0.113.5", "X-Forwarded-Proto: https", NULL};
	signed_in_cookie(&d, NULL, "b2@proxy.test", https, cookie, sizeof cookie);
	assert_non_null(strstr(cookie, "; Secure"));
	assert_non_null(strstr(cookie, "HttpOnly; SameSite=Strict"));
	r = call(&d, "GET", "/healthz", NULL, NULL, https);
	assert_int_equal(r.status, 200);
	assert_string_equal(header(&r, "Strict-Transport-Security", value, sizeof value),
			    "max-age=15552000");
	const char *http[] = {"X-Forwarded-Proto: http", NULL};
	r = call(&d, "GET", "/healthz", NULL, NULL, http);
	assert_string_equal(header(&r, "Strict-Transport-Security", value, sizeof value), "");
	daemon_stop(&d);

	/* Plain HTTP on every address: Secure (the browser then keeps the
	 * cookie off plain HTTP but on loopback). */
	daemon_start(&d, "0.0.0.0:0", "");
	char port[12];
	snprintf(port, sizeof port, "%s", strrchr(d.url, ':') + 1);
	snprintf(d.url, sizeof d.url, "http://127.0.0.1:%s", port);
	signed_in_cookie(&d, NULL, "b3@proxy.test", NULL, cookie, sizeof cookie);
	assert_non_null(strstr(cookie, "; Secure"));
	daemon_stop(&d);
}

/* --listen [::1]:0 and localhost:0. */
static void test_listen_ipv6_and_host_names(void **state)
{
	(void)state;
	struct daemon d;
	daemon_start(&d, "[::1]:0", "http.trusted_proxies = ::1\n");
	assert_non_null(strstr(d.url, "http://[::1]:"));
	struct reply r = call(&d, "GET", "/healthz", NULL, NULL, NULL);
	assert_int_equal(r.status, 200);
	const char *xff[] = {"X-Forwarded-For: 2001:db8::1", NULL};
	r = call(&d, "GET", "/healthz", NULL, NULL, xff);
	assert_int_equal(r.status, 200);
	char text[16384];
	log_read(&d, text, sizeof text);
	assert_non_null(strstr(text, "\"address\":\"2001:db8::1\""));
	daemon_stop(&d);

	daemon_start(&d, "localhost:0", "");
	assert_true(strstr(d.url, "http://127.0.0.1:") || strstr(d.url, "http://[::1]:"));
	r = call(&d, "GET", "/healthz", NULL, NULL, NULL);
	assert_int_equal(r.status, 200);
	daemon_stop(&d);

	refused("[::1:0", "", "--listen must be HOST:PORT");
	refused("::1:8080", "", "--listen must be HOST:PORT");
	refused("no-such-host.invalid:0", "", "cannot resolve 'no-such-host.invalid'");
	refused("127.0.0.1:0", "http.trusted_proxies = 10.0.0.0/33\n",
		"http.trusted_proxies: '10.0.0.0/33' is not an address or a range");
	refused("127.0.0.1:0", "http.hsts = forever\n", "http.hsts: 'forever' is not a duration");
}

/* openssl's argv, run in dir; false when openssl is missing. */
static bool openssl(const char *dir, const char *args)
{
	char cmd[1500], out[2000];
	snprintf(cmd, sizeof cmd, "cd '%s' && openssl %s 2>&1", dir, args);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, sizeof out - 1, p);
	out[n] = '\0';
	int status = pclose(p);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return false;
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail_msg("openssl %s: %s", args, out);
	return true;
}

/* https with a certificate made here, verified by curl against it; HSTS;
 * Secure cookies; bad files refuse to start. */
static void test_tls(void **state)
{
	(void)state;
	char certs[256], config[1200], cert[300], key[300], other[300], ca[300];
	esc_test_tmpdir(certs, sizeof certs);
	if (!openssl(certs, "version")) {
		esc_test_rmdir(certs);
		skip();
	}
	openssl(certs, "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		       "-keyout key.pem -out cert.pem -days 2 -subj /CN=localhost "
		       "-addext subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1");
	openssl(certs, "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out other.pem");
	esc_test_path(cert, sizeof cert, certs, "cert.pem");
	esc_test_path(key, sizeof key, certs, "key.pem");
	esc_test_path(other, sizeof other, certs, "other.pem");
	snprintf(ca, sizeof ca, "%s", cert);

	struct daemon d;
	snprintf(config, sizeof config, "http.tls_cert = %s\nhttp.tls_key = %s\nhttp.hsts = 180d\n",
		 cert, key);
	daemon_start(&d, "127.0.0.1:0", config);
	assert_non_null(strstr(d.url, "https://127.0.0.1:"));
	struct reply r = call(&d, "GET", "/healthz", NULL, ca, NULL);
	assert_int_equal(r.status, 200);
	char value[100], cookie[300];
	assert_string_equal(header(&r, "Strict-Transport-Security", value, sizeof value),
			    "max-age=15552000");
	signed_in_cookie(&d, ca, "tls@proxy.test", NULL, cookie, sizeof cookie);
	assert_non_null(strstr(cookie, "; Secure"));
	/* Over https, an untrusted X-Forwarded-Proto: http changes nothing. */
	const char *http[] = {"X-Forwarded-Proto: http", NULL};
	r = call(&d, "GET", "/healthz", NULL, ca, http);
	assert_string_equal(header(&r, "Strict-Transport-Security", value, sizeof value),
			    "max-age=15552000");
	daemon_stop(&d);

	snprintf(config, sizeof config, "http.tls_cert = %s\n", cert);
	refused("127.0.0.1:0", config, "TLS needs both http.tls_cert and http.tls_key");
	snprintf(config, sizeof config, "http.tls_cert = %s\nhttp.tls_key = %s/missing.pem\n", cert,
		 certs);
	refused("127.0.0.1:0", config, "http.tls_key: cannot read");
	char plain[300];
	esc_test_path(plain, sizeof plain, certs, "plain.txt");
	FILE *f = fopen(plain, "w");
	assert_non_null(f);
	fputs("not a certificate\n", f);
	fclose(f);
	snprintf(config, sizeof config, "http.tls_cert = %s\nhttp.tls_key = %s\n", plain, key);
	refused("127.0.0.1:0", config, "is not a PEM file");
	snprintf(config, sizeof config, "http.tls_cert = %s\nhttp.tls_key = %s\n", cert, other);
	refused("127.0.0.1:0", config, "cannot serve TLS on 127.0.0.1:0");
	esc_test_rmdir(certs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forwarded_address_from_trusted_proxy),
		cmocka_unit_test(test_forwarded_address_ignored_from_others),
		cmocka_unit_test(test_secure_cookies_and_hsts),
		cmocka_unit_test(test_listen_ipv6_and_host_names),
		cmocka_unit_test(test_tls),
	};
	curl_global_init(CURL_GLOBAL_ALL);
	int failed = cmocka_run_group_tests_name("proxy", tests, NULL, NULL);
	curl_global_cleanup();
	return failed;
}
