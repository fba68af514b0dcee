/* test_webhook.c - webhooks' first parts: the signature against a fixed
 * vector and an independent Python computation, the URL guard on literal
 * addresses, the multi sender against a real receiver on a loopback port,
 * and the Python and Node snippets of docs/webhooks.md run on the vector. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support.h"
#include "util/error.h"
#include "webhook/feed.h"
#include "webhook/sender.h"
#include "webhook/signature.h"
#include "webhook/url.h"

extern char **environ;

/* The test vector of docs/webhooks.md, computed once with Python's hmac. */
#define VECTOR_SECRET     "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
#define VECTOR_SECRET_NEW "whsec_ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8"
#define VECTOR_T          INT64_C(1767614400)
#define VECTOR_BODY                                                                                \
	"{\"id\":\"evt_01KE6Q3Z4N7C2M5V8XQ0\",\"type\":\"order.paid\",\"created\":\"2026-01-"      \
	"05T12:00:00Z\",\"data\":{\"object\":{\"id\":\"ord_01KE6Q3Z4N9D4F7H2K5M\",\"status\":"     \
	"\"awaiting_shipment\",\"version\":2}}}"
#define VECTOR_V1              "e242c28e7578db259cd65a982af46a1a2b22a6063ee6fc9c9dbf6e07933cf164"
#define VECTOR_V1_NEW          "f402236e7c64b9112baa4c50507bd0d8e713f441f64eab240df0fa2ba4979dcb"
#define VECTOR_HEADER          "t=1767614400,v1=" VECTOR_V1
#define VECTOR_ROTATION_HEADER "t=1767614400,v1=" VECTOR_V1_NEW ",v1=" VECTOR_V1

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run argv (a program looked up in PATH) with extra NAME=VALUE variables
 * added to the environment; its standard output goes into out. Returns its
 * exit status, or -1 when it did not exit. */
static int run_program(const char *const argv[], const char *const extra_env[], char *out,
		       size_t out_size)
{
	size_t environ_count = 0, extra_count = 0, length = 0;
	int fds[2];
	int status = 0;
	pid_t pid;

	while (environ[environ_count] != NULL)
		environ_count++;
	while (extra_env != NULL && extra_env[extra_count] != NULL)
		extra_count++;
	char **envp = calloc(environ_count + extra_count + 1, sizeof *envp);
	assert_non_null(envp);
	for (size_t i = 0; i < extra_count; i++)
		envp[i] = (char *)extra_env[i];
	for (size_t i = 0; i < environ_count; i++)
		envp[extra_count + i] = environ[i];
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execvpe(argv[0], (char *const *)argv, envp);
		_exit(127);
	}
	close(fds[1]);
	for (;;) {
		ssize_t n = read(fds[0], out + length, out_size - 1 - length);
		if (n <= 0)
			break;
		length += (size_t)n;
		assert_true(length < out_size - 1);
	}
	out[length] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	free(envp);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- signatures ------------------------------------------------------ */

static void test_signature_header_matches_the_fixed_vector(void **state)
{
	(void)state;
	char header[ESC_WEBHOOK_SIGNATURE_SIZE];
	assert_int_equal(esc_webhook_signature_header(header, sizeof header, VECTOR_T, VECTOR_BODY,
						      strlen(VECTOR_BODY), VECTOR_SECRET, NULL),
			 0);
	assert_string_equal(header, VECTOR_HEADER);
}

static void test_rotation_header_carries_the_new_v1_then_the_old(void **state)
{
	(void)state;
	char header[ESC_WEBHOOK_SIGNATURE_SIZE];
	assert_int_equal(esc_webhook_signature_header(header, sizeof header, VECTOR_T, VECTOR_BODY,
						      strlen(VECTOR_BODY), VECTOR_SECRET_NEW,
						      VECTOR_SECRET),
			 0);
	assert_string_equal(header, VECTOR_ROTATION_HEADER);
}

/* An independent computation: Python's hmac on a fresh secret and a body
 * with non-ASCII bytes must give the v1 escrowd gives. */
static void test_signature_agrees_with_python_hmac(void **state)
{
	(void)state;
	char secret[ESC_WEBHOOK_SECRET_SIZE], header[ESC_WEBHOOK_SIGNATURE_SIZE];
	char expected[ESC_WEBHOOK_SIGNATURE_SIZE + 2], out[256];
	char secret_env[100], body_env[200];
	const char *body = "{\"note\":\"vi\xc3\xb0 sendum \xe2\x82\xac 12\"}";
	const char *argv[] = {"python3", "-c",
			      "import hashlib, hmac, os\n"
			      "secret = os.environb[b'ESC_SECRET']\n"
			      "body = os.environb[b'ESC_BODY']\n"
			      "print('t=1700000000,v1=' + hmac.new(secret, b'1700000000.' + body, "
			      "hashlib.sha256).hexdigest())\n",
			      NULL};

	assert_int_equal(esc_webhook_secret_new(secret), 0);
	snprintf(secret_env, sizeof secret_env, "ESC_SECRET=%s", secret);
	snprintf(body_env, sizeof body_env, "ESC_BODY=%s", body);
	const char *env[] = {secret_env, body_env, NULL};
	assert_int_equal(run_program(argv, env, out, sizeof out), 0);
	assert_int_equal(esc_webhook_signature_header(header, sizeof header, 1700000000, body,
						      strlen(body), secret, NULL),
			 0);
	snprintf(expected, sizeof expected, "%s\n", header);
	assert_string_equal(out, expected);
}

static void test_secret_new_is_whsec_and_43_base64url_characters(void **state)
{
	(void)state;
	char a[ESC_WEBHOOK_SECRET_SIZE], b[ESC_WEBHOOK_SECRET_SIZE];
	assert_int_equal(esc_webhook_secret_new(a), 0);
	assert_int_equal(esc_webhook_secret_new(b), 0);
	assert_int_equal(strlen(a), 49);
	assert_memory_equal(a, "whsec_", 6);
	assert_int_equal(
		strspn(a + 6, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
		43);
	assert_true(esc_webhook_secret_valid(a));
	assert_string_not_equal(a, b);
}

static void test_secret_valid_refuses_other_forms(void **state)
{
	(void)state;
	assert_true(esc_webhook_secret_valid(VECTOR_SECRET));
	assert_false(esc_webhook_secret_valid(NULL));
	assert_false(esc_webhook_secret_valid(""));
	assert_false(esc_webhook_secret_valid("whsec_"));
	/* the right length, the wrong prefix */
	assert_false(esc_webhook_secret_valid("whsek_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"));
	/* standard base64's + and / are not base64url */
	assert_false(esc_webhook_secret_valid("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+"));
	/* padding */
	assert_false(esc_webhook_secret_valid("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh="));
	assert_false(esc_webhook_secret_valid(VECTOR_SECRET "A"));
}

static int verify(const char *header, const char *body, const char *secret, int64_t now_s,
		  char *err, size_t err_size)
{
	return esc_webhook_signature_verify(header, body, strlen(body), secret, now_s,
					    ESC_WEBHOOK_TOLERANCE_S, err, err_size);
}

static void test_verify_accepts_the_fixed_vector(void **state)
{
	(void)state;
	char err[200] = "";
	assert_int_equal(
		verify(VECTOR_HEADER, VECTOR_BODY, VECTOR_SECRET, VECTOR_T, err, sizeof err), 0);
	assert_string_equal(err, "");
}

static void test_verify_accepts_300_seconds_either_way_and_refuses_301(void **state)
{
	(void)state;
	char err[200] = "";
	assert_int_equal(
		verify(VECTOR_HEADER, VECTOR_BODY, VECTOR_SECRET, VECTOR_T + 300, err, sizeof err),
		0);
	assert_int_equal(
		verify(VECTOR_HEADER, VECTOR_BODY, VECTOR_SECRET, VECTOR_T - 300, err, sizeof err),
		0);
	assert_int_equal(
		verify(VECTOR_HEADER, VECTOR_BODY, VECTOR_SECRET, VECTOR_T + 301, err, sizeof err),
		ESC_EUNAUTH);
	assert_string_equal(err, "the signature's timestamp 1767614400 is 301 seconds from now; "
				 "at most 300 are allowed");
	/* a timestamp from the future is refused alike */
	assert_int_equal(
		verify(VECTOR_HEADER, VECTOR_BODY, VECTOR_SECRET, VECTOR_T - 301, err, sizeof err),
		ESC_EUNAUTH);
}

static void test_verify_refuses_a_tampered_body(void **state)
{
	(void)state;
	char body[] = VECTOR_BODY;
	char err[200] = "";
	*strstr(body, "2}}}") = '3'; /* "version":3 */
	assert_int_equal(verify(VECTOR_HEADER, body, VECTOR_SECRET, VECTOR_T, err, sizeof err),
			 ESC_EUNAUTH);
	assert_string_equal(err, "no v1= signature matches the secret and the body");
	/* one byte more */
	assert_int_equal(esc_webhook_signature_verify(VECTOR_HEADER, VECTOR_BODY " ",
						      strlen(VECTOR_BODY) + 1, VECTOR_SECRET,
						      VECTOR_T, 300, err, sizeof err),
			 ESC_EUNAUTH);
}

static void test_verify_refuses_a_wrong_secret(void **state)
{
	(void)state;
	char err[200] = "";
	assert_int_equal(
		verify(VECTOR_HEADER, VECTOR_BODY, VECTOR_SECRET_NEW, VECTOR_T, err, sizeof err),
		ESC_EUNAUTH);
	/* the secret's bytes are the key: without its prefix it is another key */
	assert_int_equal(
		verify(VECTOR_HEADER, VECTOR_BODY, VECTOR_SECRET + 6, VECTOR_T, err, sizeof err),
		ESC_EUNAUTH);
}

static void test_verify_accepts_either_secret_during_a_rotation(void **state)
{
	(void)state;
	char err[200] = "";
	assert_int_equal(verify(VECTOR_ROTATION_HEADER, VECTOR_BODY, VECTOR_SECRET, VECTOR_T, err,
				sizeof err),
			 0);
	assert_int_equal(verify(VECTOR_ROTATION_HEADER, VECTOR_BODY, VECTOR_SECRET_NEW, VECTOR_T,
				err, sizeof err),
			 0);
	assert_int_equal(verify(VECTOR_ROTATION_HEADER, VECTOR_BODY, "whsec_another", VECTOR_T, err,
				sizeof err),
			 ESC_EUNAUTH);
}

static void test_verify_skips_unknown_keys_and_spaces(void **state)
{
	(void)state;
	char err[200] = "";
	assert_int_equal(verify(" t=1767614400 , v0=abc,v2=" VECTOR_V1_NEW ", v1=" VECTOR_V1 " ",
				VECTOR_BODY, VECTOR_SECRET, VECTOR_T, err, sizeof err),
			 0);
	/* the order of the entries does not matter; upper-case hex is hex */
	assert_int_equal(
		verify("v1=E242C28E7578DB259CD65A982AF46A1A2B22A6063EE6FC9C9DBF6E07933CF164"
		       ",t=1767614400",
		       VECTOR_BODY, VECTOR_SECRET, VECTOR_T, err, sizeof err),
		0);
}

static void test_verify_refuses_malformed_headers_with_a_reason(void **state)
{
	(void)state;
	static const struct {
		const char *header;
		const char *reason;
	} cases[] = {
		{"", "an entry without \"=\""},
		{"v1=" VECTOR_V1, "no t= entry"},
		{"t=1767614400", "no v1= entry"},
		{"t=1767614400,v0=" VECTOR_V1, "no v1= entry"},
		{"t=1767614400,v1=" VECTOR_V1 ",", "an entry without \"=\""},
		{"t=1767614400,,v1=" VECTOR_V1, "an entry without \"=\""},
		{"t=1767614400;v1=" VECTOR_V1, "is not a number of seconds"},
		{"t=,v1=" VECTOR_V1, "is not a number of seconds"},
		{"t=-1767614400,v1=" VECTOR_V1, "is not a number of seconds"},
		{"t=+1767614400,v1=" VECTOR_V1, "is not a number of seconds"},
		{"t=1767614400.5,v1=" VECTOR_V1, "is not a number of seconds"},
		{"t=9999999999999999999,v1=" VECTOR_V1, "is not a number of seconds"},
		{"t=1767614400,t=1767614400,v1=" VECTOR_V1, "two t= entries"},
		{"t=1767614400,v1=" VECTOR_V1 "00", "is not 64 hex digits"},
		{"t=1767614400,v1=e242", "is not 64 hex digits"},
		{"t=1767614400,v1=", "is not 64 hex digits"},
		{"t=1767614400,v1=g242c28e7578db259cd65a982af46a1a2b22a6063ee6fc9c9dbf6e07933cf164",
		 "is not 64 hex digits"},
		{"t=1767614400,v1=" VECTOR_V1 ",v1=" VECTOR_V1 ",v1=" VECTOR_V1 ",v1=" VECTOR_V1
		 ",v1=" VECTOR_V1 ",v1=" VECTOR_V1 ",v1=" VECTOR_V1 ",v1=" VECTOR_V1
		 ",v1=" VECTOR_V1,
		 "more than 8 v1= entries"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char err[200] = "";
		int rc = verify(cases[i].header, VECTOR_BODY, VECTOR_SECRET, VECTOR_T, err,
				sizeof err);
		if (rc != ESC_EINVAL || strstr(err, cases[i].reason) == NULL)
			fail_msg("header \"%s\": %s, \"%s\"; expected ESC_EINVAL, \"%s\"",
				 cases[i].header, esc_error_name(rc), err, cases[i].reason);
	}
}

static void test_verify_refuses_a_header_over_1024_bytes(void **state)
{
	(void)state;
	char header[1100], err[200] = "";
	snprintf(header, sizeof header, "%s,x=", VECTOR_HEADER);
	memset(header + strlen(header), 'a', 1030 - strlen(header));
	header[1030] = '\0';
	assert_int_equal(verify(header, VECTOR_BODY, VECTOR_SECRET, VECTOR_T, err, sizeof err),
			 ESC_EINVAL);
	assert_string_equal(err, "the signature header is longer than 1024 bytes");
}

static void test_signature_covers_an_empty_body(void **state)
{
	(void)state;
	char header[ESC_WEBHOOK_SIGNATURE_SIZE];
	assert_int_equal(esc_webhook_signature_header(header, sizeof header, 5, NULL, 0,
						      VECTOR_SECRET, NULL),
			 0);
	assert_int_equal(
		esc_webhook_signature_verify(header, NULL, 0, VECTOR_SECRET, 5, 0, NULL, 0), 0);
	assert_int_equal(esc_webhook_signature_verify(header, "x", 1, VECTOR_SECRET, 5, 0, NULL, 0),
			 ESC_EUNAUTH);
}

/* ---- the URL guard --------------------------------------------------- */

static void test_url_parse_takes_http_and_https_urls_with_a_host(void **state)
{
	(void)state;
	static const struct {
		const char *url;
		const char *host;
	} good[] = {
		{"https://hooks.example.com/escrowd", "hooks.example.com"},
		{"http://hooks.example.com:8080/a?b=c#d", "hooks.example.com"},
		{"HTTPS://Hooks.Example.com/", "Hooks.Example.com"},
		{"https://198.51.100.7/", "198.51.100.7"},
		{"https://[2001:db8::1]:8443/x", "2001:db8::1"},
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		char host[ESC_WEBHOOK_HOST_SIZE] = "", err[300] = "";
		int rc = esc_webhook_url_parse(good[i].url, host, err, sizeof err);
		if (rc != 0 || strcmp(host, good[i].host) != 0)
			fail_msg("%s: %s, host \"%s\", \"%s\"", good[i].url, esc_error_name(rc),
				 host, err);
	}
}

static void test_url_parse_refuses_other_urls_with_a_reason(void **state)
{
	(void)state;
	static const struct {
		const char *url;
		const char *reason;
	} bad[] = {
		{"", "url is not a valid URL"},
		{"hooks.example.com/escrowd", "url is not a valid URL"},
		{"ftp://hooks.example.com/", "url must start with http:// or https://, not ftp://"},
		{"file:///etc/passwd", "url"},
		{"gopher://hooks.example.com/", "url must start with http:// or https://"},
		{"javascript:alert(1)", "url"},
		{"https://user:secret@hooks.example.com/",
		 "url must not carry a user name or password"},
		{"https://user@hooks.example.com/", "url must not carry a user name or password"},
		{"https:///escrowd", "url has no host: it must start with https://HOST"},
		{"https:/hooks.example.com/", "url has no host: it must start with https://HOST"},
		{"https:\\\\hooks.example.com/", "url"},
		{"https://hooks example.com/", "url is not a valid URL"},
		{"https://hooks.example.com/\r\nX-Evil: 1", "url is not a valid URL"},
		{"http://8.8.8.8:0/", "url's port must be from 1 to 65535"},
		{"https://hooks.example.com:00/", "url's port must be from 1 to 65535"},
		{"https://hooks.example.com:99999/", "url is not a valid URL"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char err[300] = "";
		int rc = esc_webhook_url_parse(bad[i].url, NULL, err, sizeof err);
		if (rc != ESC_EINVAL || strstr(err, bad[i].reason) != err)
			fail_msg("\"%s\": %s, \"%s\"; expected ESC_EINVAL, \"%s...\"", bad[i].url,
				 esc_error_name(rc), err, bad[i].reason);
	}
}

static void test_url_parse_refuses_more_than_2048_bytes(void **state)
{
	(void)state;
	char url[2100], err[300] = "";
	strcpy(url, "https://hooks.example.com/");
	memset(url + strlen(url), 'a', 2048 - strlen(url));
	url[2048] = '\0';
	assert_int_equal(esc_webhook_url_parse(url, NULL, err, sizeof err), 0);
	strcat(url, "a");
	assert_int_equal(esc_webhook_url_parse(url, NULL, err, sizeof err), ESC_EINVAL);
	assert_string_equal(err, "url is longer than 2048 bytes");
}

/* A failed attempt's log line names the endpoint's URL without what often
 * holds a secret: the query, the fragment, user:password@. */
static void test_url_for_log_drops_the_query_and_the_credentials(void **state)
{
	static const struct {
		const char *url, *logged;
	} cases[] = {
		{"https://hooks.example.com/escrowd", "https://hooks.example.com/escrowd"},
		{"https://hooks.example.com/in?token=s3cret&x=1", "https://hooks.example.com/in"},
		{"https://hooks.example.com/in#s3cret", "https://hooks.example.com/in"},
		{"https://me:s3cret@hooks.example.com/in", "https://hooks.example.com/in"},
		{"https://me:s3cret@hooks.example.com?token=s3cret", "https://hooks.example.com"},
		{"http://127.0.0.1:8080/a@b", "http://127.0.0.1:8080/a@b"},
	};
	char out[200];
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		esc_webhook_url_for_log(cases[i].url, out, sizeof out);
		assert_string_equal(out, cases[i].logged);
	}
}

static void test_url_check_refuses_a_private_address_in_the_operators_words(void **state)
{
	(void)state;
	char err[300] = "";
	assert_int_equal(esc_webhook_url_check("https://10.0.0.5/hooks", false, err, sizeof err),
			 ESC_EINVAL);
	assert_string_equal(err, "url resolves to 10.0.0.5, a private address; "
				 "webhooks.allow_private = true allows it");
	assert_int_equal(esc_webhook_url_check("https://10.0.0.5/hooks", true, err, sizeof err), 0);
}

/* Literal addresses only: this machine has no DNS beyond its own names. */
static void test_url_check_judges_every_kind_of_address(void **state)
{
	(void)state;
	static const struct {
		const char *url;
		const char *kind; /* NULL: public, allowed */
	} cases[] = {
		{"http://127.0.0.1/", "a loopback address"},
		{"http://127.1.2.3:8080/", "a loopback address"},
		{"http://localhost/", "a loopback address"},
		{"http://[::1]/", "a loopback address"},
		{"http://10.255.255.255/", "a private address"},
		{"http://172.16.0.1/", "a private address"},
		{"http://172.31.255.254/", "a private address"},
		{"http://192.168.1.1/", "a private address"},
		{"http://[fc00::1]/", "a private address"},
		{"http://[fd12:3456::1]/", "a private address"},
		{"http://169.254.169.254/latest/meta-data/", "a link-local address"},
		{"http://[fe80::1]/", "a link-local address"},
		{"http://0.0.0.0/", "an unspecified address"},
		{"http://[::]/", "an unspecified address"},
		{"http://224.0.0.1/", "a multicast address"},
		{"http://[ff02::1]/", "a multicast address"},
		{"http://100.64.0.1/", "a shared (carrier-grade NAT) address"},
		{"http://100.127.255.254/", "a shared (carrier-grade NAT) address"},
		{"http://255.255.255.255/", "a reserved address"},
		{"http://[::ffff:10.0.0.5]/", "a private address"},
		{"http://[::ffff:127.0.0.1]/", "a loopback address"},
		{"http://[::ffff:169.254.169.254]/", "a link-local address"},
		{"http://[64:ff9b::a9fe:a9fe]/", "a link-local address"},
		{"http://[2002:c0a8:0101::1]/", "a private address"},
		/* 127.0.0.1 again: IPv4-translated, local-use NAT64 */
		{"http://[::ffff:0:7f00:1]/", "a loopback address"},
		{"http://[64:ff9b:1::7f00:1]/", "a private address"},
		{"http://[64:ff9b:1::808:808]/", "a private address"},
		/* special-purpose ranges */
		{"http://192.0.0.1/", "a reserved address"},
		{"http://198.18.0.1/", "a benchmarking address"},
		{"http://198.19.255.254/", "a benchmarking address"},
		{"http://[100::1]/", "a reserved address"},
		{"http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "a reserved address"},
		{"http://[2001:2::1]/", "a reserved address"},
		/* other spellings of 127.0.0.1 */
		{"http://2130706433/", "a loopback address"},
		{"http://0x7f.1/", "a loopback address"},
		{"http://017700000001/", "a loopback address"},
		/* the edges of the ranges */
		{"http://172.15.255.255/", NULL},
		{"http://172.32.0.0/", NULL},
		{"http://100.63.255.255/", NULL},
		{"http://100.128.0.0/", NULL},
		{"http://169.253.255.255/", NULL},
		{"http://11.0.0.1/", NULL},
		{"http://198.51.100.7/", NULL},
		{"http://198.17.255.255/", NULL},
		{"http://198.20.0.0/", NULL},
		{"http://192.0.1.255/", NULL},
		{"http://[2001:200::1]/", NULL},
		{"http://[101::1]/", NULL},
		{"http://[64:ff9b:2::1]/", NULL},
		{"http://[2001:db8::1]/", NULL},
		{"http://[2606:4700::1111]/", NULL},
		{"http://[::ffff:198.51.100.7]/", NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char err[300] = "", allowed_err[300] = "";
		int rc = esc_webhook_url_check(cases[i].url, false, err, sizeof err);
		int allowed =
			esc_webhook_url_check(cases[i].url, true, allowed_err, sizeof allowed_err);
		if (allowed != 0)
			fail_msg("%s with allow_private: %s, \"%s\"", cases[i].url,
				 esc_error_name(allowed), allowed_err);
		if (cases[i].kind == NULL && rc != 0)
			fail_msg("%s: %s, \"%s\"; expected it allowed", cases[i].url,
				 esc_error_name(rc), err);
		if (cases[i].kind != NULL &&
		    (rc != ESC_EINVAL || strstr(err, cases[i].kind) == NULL ||
		     strstr(err, "webhooks.allow_private = true allows it") == NULL))
			fail_msg("%s: %s, \"%s\"; expected \"%s\"", cases[i].url,
				 esc_error_name(rc), err, cases[i].kind);
	}
}

static void test_url_check_refuses_a_host_that_does_not_resolve(void **state)
{
	(void)state;
	char err[300] = "";
	assert_int_equal(
		esc_webhook_url_check("https://no-such-host.invalid/", true, err, sizeof err),
		ESC_EINVAL);
	assert_non_null(strstr(err, "url's host no-such-host.invalid does not resolve"));
}

/* ---- the sender, against a real receiver ----------------------------- */

#define GATE_COUNT      50   /* /gate answers once this many wait at it */
#define HANG_TIMEOUT_MS 1500 /* the request timeout of the hanging test */
#define SEEN_MAX        256
#define BIG_BYTES       5000

struct seen {
	char path[128];
	char signature[ESC_WEBHOOK_SIGNATURE_SIZE];
	char event_id[64];
	char user_agent[64];
	char content_type[64];
	char body[1024];
	size_t body_bytes;
	int client_port;
};

static struct receiver {
	struct MHD_Daemon *daemon;
	int port;
	pthread_mutex_t lock;
	pthread_cond_t released_cond;
	bool released;
	/* /gate: requests waiting there now, the most at once, and whether
	 * GATE_COUNT were there together (then all are answered). */
	int gate_waiting, gate_most;
	bool gate_open;
	struct seen seen[SEEN_MAX];
	size_t seen_count;
} rx = {.lock = PTHREAD_MUTEX_INITIALIZER, .released_cond = PTHREAD_COND_INITIALIZER};

struct upload {
	char data[1024];
	size_t bytes;
};

static void copy_header(struct MHD_Connection *c, const char *name, char *out, size_t size)
{
	const char *value = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
	snprintf(out, size, "%s", value != NULL ? value : "");
}

static void record(struct MHD_Connection *c, const char *url, const struct upload *u)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	pthread_mutex_lock(&rx.lock);
	if (rx.seen_count < SEEN_MAX) {
		struct seen *s = &rx.seen[rx.seen_count++];
		snprintf(s->path, sizeof s->path, "%s", url);
		copy_header(c, "Escrowd-Signature", s->signature, sizeof s->signature);
		copy_header(c, "Escrowd-Event-Id", s->event_id, sizeof s->event_id);
		copy_header(c, "User-Agent", s->user_agent, sizeof s->user_agent);
		copy_header(c, "Content-Type", s->content_type, sizeof s->content_type);
		memcpy(s->body, u->data, u->bytes);
		s->body_bytes = u->bytes;
		s->client_port = 0;
		if (info != NULL && info->client_addr->sa_family == AF_INET)
			s->client_port =
				ntohs(((const struct sockaddr_in *)info->client_addr)->sin_port);
	}
	pthread_mutex_unlock(&rx.lock);
}

static size_t seen_count(const char *path)
{
	size_t count = 0;
	pthread_mutex_lock(&rx.lock);
	for (size_t i = 0; i < rx.seen_count; i++)
		if (path == NULL || strstr(rx.seen[i].path, path) != NULL)
			count++;
	pthread_mutex_unlock(&rx.lock);
	return count;
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *body,
			      size_t body_bytes)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(body_bytes, (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result result;
	if (status == 302)
		MHD_add_response_header(r, "Location", "/ok");
	result = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return result;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **request_state)
{
	struct upload *u = *request_state;
	(void)cls;
	(void)method;
	(void)version;
	if (u == NULL) {
		u = calloc(1, sizeof *u);
		if (u == NULL)
			return MHD_NO;
		*request_state = u;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t room = sizeof u->data - u->bytes;
		size_t n = *upload_data_size < room ? *upload_data_size : room;
		memcpy(u->data + u->bytes, upload_data, n);
		u->bytes += n;
		*upload_data_size = 0;
		return MHD_YES;
	}
	record(c, url, u);
	if (strstr(url, "/fail") != NULL)
		return answer(c, 500, "boom: the receiver failed", 25);
	if (strstr(url, "/gate") != NULL) {
		/* Held until GATE_COUNT requests are here at once: a sender
		 * that sent one at a time would see none answered. */
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 20; /* at most, should the sender never get there */
		pthread_mutex_lock(&rx.lock);
		if (++rx.gate_waiting > rx.gate_most)
			rx.gate_most = rx.gate_waiting;
		if (rx.gate_waiting >= GATE_COUNT)
			rx.gate_open = true;
		pthread_cond_broadcast(&rx.released_cond);
		while (!rx.gate_open &&
		       pthread_cond_timedwait(&rx.released_cond, &rx.lock, &until) == 0)
			;
		rx.gate_waiting--;
		pthread_mutex_unlock(&rx.lock);
		return answer(c, 200, "gate ok", 7);
	}
	if (strstr(url, "/hang") != NULL) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 20; /* at most, should a test forget to release it */
		pthread_mutex_lock(&rx.lock);
		while (!rx.released &&
		       pthread_cond_timedwait(&rx.released_cond, &rx.lock, &until) == 0)
			;
		pthread_mutex_unlock(&rx.lock);
		return answer(c, 200, "too late", 8);
	}
	if (strstr(url, "/redirect") != NULL)
		return answer(c, 302, "", 0);
	if (strstr(url, "/big") != NULL) {
		static char big[BIG_BYTES];
		for (size_t i = 0; i < sizeof big; i++)
			big[i] = (char)('a' + i % 26);
		return answer(c, 200, big, sizeof big);
	}
	return answer(c, 200, "ok", 2);
}

static void completed(void *cls, struct MHD_Connection *c, void **request_state,
		      enum MHD_RequestTerminationCode code)
{
	(void)cls;
	(void)c;
	(void)code;
	free(*request_state);
	*request_state = NULL;
}

static void release_hanging(void)
{
	pthread_mutex_lock(&rx.lock);
	rx.released = true;
	pthread_cond_broadcast(&rx.released_cond);
	pthread_mutex_unlock(&rx.lock);
}

static int receiver_setup(void **state)
{
	(void)state;
	struct sockaddr_in address = {.sin_family = AF_INET,
				      .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	const union MHD_DaemonInfo *info;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rx.daemon = MHD_start_daemon(MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD |
					     MHD_USE_THREAD_PER_CONNECTION,
				     0, NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, &address,
				     MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
				     MHD_OPTION_CONNECTION_LIMIT, 500u, MHD_OPTION_END);
	assert_non_null(rx.daemon);
	info = MHD_get_daemon_info(rx.daemon, MHD_DAEMON_INFO_BIND_PORT);
	assert_non_null(info);
	rx.port = info->port;
	return 0;
}

static int receiver_teardown(void **state)
{
	(void)state;
	release_hanging();
	MHD_stop_daemon(rx.daemon);
	curl_global_cleanup();
	return 0;
}

static void url_for(char *out, size_t size, const char *path)
{
	snprintf(out, size, "http://127.0.0.1:%d%s", rx.port, path);
}

static struct esc_webhook_sender *sender_new(bool allow_private, int64_t request_timeout_ms)
{
	struct esc_webhook_sender_config config = {
		.connect_timeout_ms = 2000,
		.request_timeout_ms = request_timeout_ms,
		.allow_private = allow_private,
	};
	struct esc_webhook_sender *s = NULL;
	assert_int_equal(esc_webhook_sender_new(&config, &s), 0);
	assert_non_null(s);
	return s;
}

/* Add a POST of a small signed event to path, with id as given. */
static void add(struct esc_webhook_sender *s, const char *path, const char *id)
{
	char url[200], body[200], signature[ESC_WEBHOOK_SIGNATURE_SIZE];
	url_for(url, sizeof url, path);
	snprintf(body, sizeof body, "{\"id\":\"evt_%s\",\"type\":\"order.paid\"}", id);
	esc_webhook_signature_header(signature, sizeof signature, VECTOR_T, body, strlen(body),
				     VECTOR_SECRET, NULL);
	char event_id[80];
	snprintf(event_id, sizeof event_id, "evt_%s", id);
	struct esc_webhook_request r = {
		.id = id,
		.url = url,
		.body = body,
		.body_bytes = strlen(body),
		.event_id = event_id,
		.signature = signature,
	};
	assert_int_equal(esc_webhook_sender_add(s, &r), 0);
}

/* Run the sender until count results are in (or limit_ms passes). */
static size_t collect(struct esc_webhook_sender *s, struct esc_webhook_result *results,
		      size_t count, int64_t limit_ms)
{
	int64_t start = now_ms();
	size_t got = 0;
	while (got < count && now_ms() - start < limit_ms) {
		assert_true(esc_webhook_sender_run(s, 100) >= 0);
		while (got < count && esc_webhook_sender_result(s, &results[got]) == 1)
			got++;
	}
	return got;
}

static void test_sender_posts_a_signed_event_the_receiver_verifies(void **state)
{
	(void)state;
	struct esc_webhook_sender *s = sender_new(true, 0);
	struct esc_webhook_result r;
	size_t before = seen_count(NULL);

	add(s, "/ok", "one");
	assert_int_equal(esc_webhook_sender_in_flight(s), 1);
	assert_int_equal(collect(s, &r, 1, 10000), 1);
	assert_string_equal(r.id, "one");
	assert_int_equal(r.http_status, 200);
	assert_string_equal(r.error, "");
	assert_false(r.timed_out);
	assert_int_equal(r.answer_bytes, 2);
	assert_string_equal(r.answer, "ok");
	assert_true(r.duration_ms >= 0 && r.duration_ms < 5000);
	assert_int_equal(esc_webhook_sender_in_flight(s), 0);

	assert_int_equal(seen_count(NULL), before + 1);
	const struct seen *seen = &rx.seen[before];
	assert_string_equal(seen->path, "/ok");
	assert_string_equal(seen->event_id, "evt_one");
	assert_string_equal(seen->content_type, "application/json");
	assert_string_equal(seen->user_agent, "escrowd/" ESC_VERSION);
	assert_int_equal(seen->body_bytes, strlen("{\"id\":\"evt_one\",\"type\":\"order.paid\"}"));
	assert_memory_equal(seen->body, "{\"id\":\"evt_one\",\"type\":\"order.paid\"}",
			    seen->body_bytes);
	/* the receiver checks the signature as docs/webhooks.md says */
	char err[200] = "";
	assert_int_equal(esc_webhook_signature_verify(seen->signature, seen->body, seen->body_bytes,
						      VECTOR_SECRET, VECTOR_T,
						      ESC_WEBHOOK_TOLERANCE_S, err, sizeof err),
			 0);
	assert_int_equal(esc_webhook_signature_verify(seen->signature, seen->body, seen->body_bytes,
						      VECTOR_SECRET_NEW, VECTOR_T,
						      ESC_WEBHOOK_TOLERANCE_S, err, sizeof err),
			 ESC_EUNAUTH);
	esc_webhook_sender_free(s);
}

static void test_sender_reports_a_500_with_the_answer(void **state)
{
	(void)state;
	struct esc_webhook_sender *s = sender_new(true, 0);
	struct esc_webhook_result r;
	add(s, "/fail", "failing");
	assert_int_equal(collect(s, &r, 1, 10000), 1);
	assert_string_equal(r.id, "failing");
	assert_int_equal(r.http_status, 500);
	assert_string_equal(r.error, "");
	assert_string_equal(r.answer, "boom: the receiver failed");
	esc_webhook_sender_free(s);
}

static void test_sender_times_out_a_hanging_receiver_while_others_are_served(void **state)
{
	(void)state;
	struct esc_webhook_sender *s = sender_new(true, HANG_TIMEOUT_MS);
	struct esc_webhook_result results[4];

	pthread_mutex_lock(&rx.lock);
	rx.released = false;
	pthread_mutex_unlock(&rx.lock);
	add(s, "/hang", "hanging");
	/* until the receiver holds the hanging request */
	for (int64_t start = now_ms(); seen_count("/hang") == 0 && now_ms() - start < 5000;)
		assert_int_equal(esc_webhook_sender_run(s, 20), 1);
	assert_int_equal(seen_count("/hang"), 1);
	add(s, "/ok", "a");
	add(s, "/fail", "b");
	add(s, "/ok", "c");
	assert_int_equal(collect(s, results, 4, 10000), 4);
	release_hanging();
	/* the others were answered while the hanging one waited */
	for (int i = 0; i < 3; i++) {
		assert_string_not_equal(results[i].id, "hanging");
		assert_int_not_equal(results[i].http_status, 0);
	}
	assert_string_equal(results[3].id, "hanging");
	assert_int_equal(results[3].http_status, 0);
	assert_true(results[3].timed_out);
	assert_non_null(strstr(results[3].error, "timed out"));
	if (results[3].duration_ms < HANG_TIMEOUT_MS - 100 ||
	    results[3].duration_ms > HANG_TIMEOUT_MS + 5000)
		fail_msg("timed out after %lld ms; the timeout is %d ms",
			 (long long)results[3].duration_ms, HANG_TIMEOUT_MS);
	assert_int_equal(results[3].answer_bytes, 0);
	esc_webhook_sender_free(s);
}

/* A slow receiver holds up no one: 50 requests are in flight at once.
 * The receiver holds each until all 50 wait there together, so a sender
 * that sent them one by one would get no answer: no clock is read. */
static void test_sender_fifty_requests_are_in_flight_at_once(void **state)
{
	(void)state;
	struct esc_webhook_sender *s = sender_new(true, 0);
	struct esc_webhook_result *results = calloc(GATE_COUNT, sizeof *results);
	size_t before = seen_count("/gate");

	assert_non_null(results);
	for (int i = 0; i < GATE_COUNT; i++) {
		char id[16];
		snprintf(id, sizeof id, "gate%d", i);
		add(s, "/gate", id);
	}
	assert_int_equal(collect(s, results, GATE_COUNT, 30000), GATE_COUNT);
	for (int i = 0; i < GATE_COUNT; i++) {
		assert_int_equal(results[i].http_status, 200);
		assert_string_equal(results[i].answer, "gate ok");
	}
	assert_int_equal(seen_count("/gate"), before + GATE_COUNT);
	pthread_mutex_lock(&rx.lock);
	int most = rx.gate_most;
	pthread_mutex_unlock(&rx.lock);
	assert_int_equal(most, GATE_COUNT);
	free(results);
	esc_webhook_sender_free(s);
}

static void test_sender_does_not_follow_a_redirect(void **state)
{
	(void)state;
	struct esc_webhook_sender *s = sender_new(true, 0);
	struct esc_webhook_result r;
	size_t ok_before = seen_count("/ok");
	add(s, "/redirect", "moved");
	assert_int_equal(collect(s, &r, 1, 10000), 1);
	assert_int_equal(r.http_status, 302);
	assert_string_equal(r.error, "");
	assert_int_equal(seen_count("/ok"), ok_before);
	esc_webhook_sender_free(s);
}

static void test_sender_keeps_the_first_kib_of_the_answer(void **state)
{
	(void)state;
	struct esc_webhook_sender *s = sender_new(true, 0);
	struct esc_webhook_result r;
	add(s, "/big", "big");
	assert_int_equal(collect(s, &r, 1, 10000), 1);
	assert_int_equal(r.http_status, 200);
	assert_string_equal(r.error, "");
	assert_int_equal(r.answer_bytes, 1024);
	assert_int_equal(strlen(r.answer), 1024);
	assert_memory_equal(r.answer, "abcdefghijklmnopqrstuvwxyzabc", 29);
	esc_webhook_sender_free(s);
}

static void test_sender_reuses_a_kept_alive_connection(void **state)
{
	(void)state;
	struct esc_webhook_sender *s = sender_new(true, 0);
	struct esc_webhook_result r;
	size_t first = seen_count(NULL);
	add(s, "/ok", "first");
	assert_int_equal(collect(s, &r, 1, 10000), 1);
	add(s, "/ok", "second");
	assert_int_equal(collect(s, &r, 1, 10000), 1);
	assert_int_equal(r.http_status, 200);
	assert_int_equal(seen_count(NULL), first + 2);
	assert_int_not_equal(rx.seen[first].client_port, 0);
	assert_int_equal(rx.seen[first + 1].client_port, rx.seen[first].client_port);
	esc_webhook_sender_free(s);
}

/* The guard at connect time: a URL that passed registration but leads to
 * a loopback address now (as DNS rebinding would make it) is refused
 * before any connection is made. */
static void test_sender_refuses_to_connect_to_a_private_address(void **state)
{
	(void)state;
	struct esc_webhook_sender *s = sender_new(false, 0);
	struct esc_webhook_result results[2];
	size_t before = seen_count(NULL);
	char expected[200];
	char url[200];

	add(s, "/ok", "literal");
	snprintf(url, sizeof url, "http://localhost:%d/ok", rx.port);
	struct esc_webhook_request r = {.id = "named",
					.url = url,
					.body = "{}",
					.body_bytes = 2,
					.event_id = "evt_named",
					.signature = "t=1,v1=00"};
	assert_int_equal(esc_webhook_sender_add(s, &r), 0);
	assert_int_equal(collect(s, results, 2, 10000), 2);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(results[i].http_status, 0);
		assert_false(results[i].timed_out);
		assert_non_null(strstr(results[i].error,
				       "a loopback address; "
				       "webhooks.allow_private = true allows it"));
		if (strcmp(results[i].id, "literal") == 0) {
			snprintf(expected, sizeof expected,
				 "connection to 127.0.0.1, a loopback address; "
				 "webhooks.allow_private = true allows it");
			assert_string_equal(results[i].error, expected);
		}
	}
	assert_int_equal(seen_count(NULL), before);
	esc_webhook_sender_free(s);
}

static void test_sender_ignores_proxies_from_the_environment(void **state)
{
	(void)state;
	struct esc_webhook_sender *s = sender_new(true, 0);
	struct esc_webhook_result r;
	setenv("http_proxy", "http://127.0.0.1:9", 1);
	setenv("HTTP_PROXY", "http://127.0.0.1:9", 1);
	setenv("ALL_PROXY", "http://127.0.0.1:9", 1);
	add(s, "/ok", "direct");
	assert_int_equal(collect(s, &r, 1, 10000), 1);
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("ALL_PROXY");
	assert_int_equal(r.http_status, 200);
	esc_webhook_sender_free(s);
}

static void test_sender_goes_through_a_configured_proxy(void **state)
{
	(void)state;
	char proxy[100];
	struct esc_webhook_sender_config config = {.proxy = proxy};
	struct esc_webhook_sender *s = NULL;
	struct esc_webhook_result r;
	size_t before = seen_count("198.51.100.7");

	snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", rx.port);
	assert_int_equal(esc_webhook_sender_new(&config, &s), 0);
	struct esc_webhook_request request = {.id = "proxied",
					      .url = "http://198.51.100.7/ok",
					      .body = "{}",
					      .body_bytes = 2,
					      .event_id = "evt_proxied",
					      .signature = "t=1,v1=00"};
	assert_int_equal(esc_webhook_sender_add(s, &request), 0);
	assert_int_equal(collect(s, &r, 1, 10000), 1);
	assert_int_equal(r.http_status, 200);
	assert_int_equal(seen_count("198.51.100.7"), before + 1);
	esc_webhook_sender_free(s);
}

static void test_sender_reports_a_refused_connection(void **state)
{
	(void)state;
	struct sockaddr_in address = {.sin_family = AF_INET,
				      .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t length = sizeof address;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&address, sizeof address), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&address, &length), 0);
	close(fd); /* nothing listens there now */

	struct esc_webhook_sender *s = sender_new(true, 0);
	struct esc_webhook_result r;
	char url[100];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/ok", ntohs(address.sin_port));
	struct esc_webhook_request request = {.id = "nobody",
					      .url = url,
					      .body = "{}",
					      .body_bytes = 2,
					      .event_id = "evt_nobody",
					      .signature = "t=1,v1=00"};
	assert_int_equal(esc_webhook_sender_add(s, &request), 0);
	assert_int_equal(collect(s, &r, 1, 10000), 1);
	assert_int_equal(r.http_status, 0);
	assert_false(r.timed_out);
	assert_string_not_equal(r.error, "");
	esc_webhook_sender_free(s);
}

static void test_sender_add_refuses_bad_requests_and_a_full_sender(void **state)
{
	(void)state;
	struct esc_webhook_sender_config config = {.transfers_max = 2, .allow_private = true};
	struct esc_webhook_sender *s = NULL;
	char url[100];
	char long_id[100];
	struct esc_webhook_result r;

	assert_int_equal(esc_webhook_sender_new(&config, &s), 0);
	url_for(url, sizeof url, "/ok");
	memset(long_id, 'i', 64);
	long_id[64] = '\0';
	const struct esc_webhook_request good = {.id = "x",
						 .url = url,
						 .body = "{}",
						 .body_bytes = 2,
						 .event_id = "evt_x",
						 .signature = "t=1,v1=00"};
	struct esc_webhook_request bad;

	bad = good;
	bad.url = "ftp://127.0.0.1/";
	assert_int_equal(esc_webhook_sender_add(s, &bad), ESC_EINVAL);
	bad = good;
	bad.url = "http://user:pw@127.0.0.1/";
	assert_int_equal(esc_webhook_sender_add(s, &bad), ESC_EINVAL);
	bad = good;
	bad.signature = "t=1,v1=00\r\nX-Injected: 1";
	assert_int_equal(esc_webhook_sender_add(s, &bad), ESC_EINVAL);
	bad = good;
	bad.event_id = "evt_x\n";
	assert_int_equal(esc_webhook_sender_add(s, &bad), ESC_EINVAL);
	bad = good;
	bad.event_id = NULL;
	assert_int_equal(esc_webhook_sender_add(s, &bad), ESC_EINVAL);
	bad = good;
	bad.id = long_id;
	assert_int_equal(esc_webhook_sender_add(s, &bad), ESC_EINVAL);
	bad = good;
	bad.body_bytes = ESC_WEBHOOK_BODY_BYTES_MAX + 1;
	assert_int_equal(esc_webhook_sender_add(s, &bad), ESC_EINVAL);
	assert_int_equal(esc_webhook_sender_in_flight(s), 0);

	assert_int_equal(esc_webhook_sender_add(s, &good), 0);
	assert_int_equal(esc_webhook_sender_add(s, &good), 0);
	assert_int_equal(esc_webhook_sender_add(s, &good), ESC_ELIMIT);
	/* finished but unread results still count; reading one makes room */
	while (esc_webhook_sender_in_flight(s) > 0)
		assert_true(esc_webhook_sender_run(s, 100) >= 0);
	assert_int_equal(esc_webhook_sender_add(s, &good), ESC_ELIMIT);
	assert_int_equal(esc_webhook_sender_result(s, &r), 1);
	assert_int_equal(esc_webhook_sender_add(s, &good), 0);
	esc_webhook_sender_free(s); /* one unread, one in flight: freed */
}

static void *wake(void *arg)
{
	esc_webhook_sender_wakeup(arg);
	return NULL;
}

/* feed.h: an event's id is its seq in hex, read back the same; its JSON
 * wraps the row's payload as data.object. */
static void test_feed_event_ids_and_json(void **state)
{
	(void)state;
	char id[ESC_FEED_ID_SIZE];
	int64_t seq = -1;
	esc_feed_event_id(42, id);
	assert_string_equal(id, "evt_000000000000002a");
	assert_true(esc_feed_event_seq(id, &seq));
	assert_int_equal(seq, 42);
	assert_true(esc_feed_event_seq("evt_000000000000002A", &seq));
	assert_false(esc_feed_event_seq("evt_2a", &seq));
	assert_false(esc_feed_event_seq("ord_000000000000002a", &seq));
	assert_false(esc_feed_event_seq("evt_00000000000000zz", &seq));
	assert_false(esc_feed_event_seq("evt_8000000000000000", &seq));
	assert_false(esc_feed_event_seq(NULL, &seq));

	struct esc_outbox_row row = {
		.seq = 42, .at_ms = 1764669600000, .version = 7, .payload = "{\"id\":\"ord_x\"}"};
	snprintf(row.type, sizeof row.type, "order.paid");
	snprintf(row.order_id, sizeof row.order_id, "ord_x");
	struct esc_strbuf sb;
	esc_strbuf_init(&sb, 4096);
	assert_int_equal(esc_feed_event_json(&row, &sb), 0);
	assert_string_equal(esc_strbuf_str(&sb),
			    "{\"id\":\"evt_000000000000002a\",\"type\":\"order.paid\","
			    "\"created_at\":\"2025-12-02T10:00:00.000Z\",\"order_id\":\"ord_x\","
			    "\"version\":7,\"data\":{\"object\":{\"id\":\"ord_x\"}}}");
	esc_strbuf_release(&sb);
	row.order_id[0] = '\0';
	row.version = 0;
	row.payload = NULL;
	assert_int_equal(esc_feed_event_json(&row, &sb), 0);
	assert_non_null(strstr(esc_strbuf_str(&sb), "\"order_id\":null,\"version\":null,"
						    "\"data\":{\"object\":null}}"));
	esc_strbuf_release(&sb);
}

static void test_sender_wakeup_ends_a_runs_wait(void **state)
{
	(void)state;
	struct esc_webhook_sender *s = sender_new(true, 0);
	struct esc_webhook_result r;
	pthread_t thread;
	int64_t start;

	/* nothing in flight: a run waits its whole wait, unless woken */
	start = now_ms();
	assert_int_equal(esc_webhook_sender_run(s, 50), 0);
	assert_true(now_ms() - start >= 40);

	start = now_ms();
	assert_int_equal(pthread_create(&thread, NULL, wake, s), 0);
	assert_int_equal(pthread_join(thread, NULL), 0);
	assert_int_equal(esc_webhook_sender_run(s, 30000), 0);
	assert_true(now_ms() - start < 10000);

	/* a woken wait with a hanging transfer returns with it still in flight */
	pthread_mutex_lock(&rx.lock);
	rx.released = false;
	pthread_mutex_unlock(&rx.lock);
	size_t hanging_before = seen_count("/hang");
	add(s, "/hang", "woken");
	for (int64_t t0 = now_ms(); seen_count("/hang") == hanging_before && now_ms() - t0 < 5000;)
		assert_int_equal(esc_webhook_sender_run(s, 20), 1);
	assert_int_equal(seen_count("/hang"), hanging_before + 1);
	start = now_ms();
	esc_webhook_sender_wakeup(s);
	assert_int_equal(esc_webhook_sender_run(s, 30000), 1);
	assert_true(now_ms() - start < 10000);
	assert_int_equal(esc_webhook_sender_result(s, &r), 0);
	release_hanging();
	esc_webhook_sender_free(s);
}

/* ---- docs/webhooks.md ------------------------------------------------ */

static char *read_docs(void)
{
	const char *source = getenv("ESC_SOURCE_DIR");
	char path[512];
	FILE *f;
	char *text;
	long size;

	if (source == NULL)
		fail_msg("ESC_SOURCE_DIR is not set (meson sets it)");
	snprintf(path, sizeof path, "%s/docs/webhooks.md", source);
	f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open %s", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	assert_true(size > 0);
	rewind(f);
	text = malloc((size_t)size + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
	text[size] = '\0';
	fclose(f);
	return text;
}

static void test_docs_show_the_vector_the_code_computes(void **state)
{
	(void)state;
	char *docs = read_docs();
	char header[ESC_WEBHOOK_SIGNATURE_SIZE];
	char line[300];

	esc_webhook_signature_header(header, sizeof header, VECTOR_T, VECTOR_BODY,
				     strlen(VECTOR_BODY), VECTOR_SECRET, NULL);
	snprintf(line, sizeof line, "| header | `%s` |", header);
	assert_non_null(strstr(docs, line));
	assert_non_null(strstr(docs, "| secret | `" VECTOR_SECRET "`"));
	assert_non_null(strstr(docs, "| t | `1767614400`"));
	assert_non_null(strstr(docs, "\n" VECTOR_BODY "\n"));
	assert_int_equal(strlen(VECTOR_BODY), 179);
	assert_non_null(strstr(docs, "the 179 bytes below"));
	esc_webhook_signature_header(header, sizeof header, VECTOR_T, VECTOR_BODY,
				     strlen(VECTOR_BODY), VECTOR_SECRET_NEW, VECTOR_SECRET);
	snprintf(line, sizeof line, "\n%s\n", header);
	assert_non_null(strstr(docs, line));
	assert_non_null(strstr(docs, "300 seconds"));
	assert_non_null(strstr(docs, "24 hours"));
	free(docs);
}

/* Write the fenced block after "<!-- test_webhook: NAME -->" in the docs
 * to dir/NAME, followed by tail. */
static void extract_snippet(const char *docs, const char *name, const char *tail, char *path,
			    size_t path_size, const char *dir)
{
	char marker[100];
	const char *p, *start, *end;
	FILE *f;

	snprintf(marker, sizeof marker, "<!-- test_webhook: %s -->\n```", name);
	p = strstr(docs, marker);
	if (p == NULL)
		fail_msg("docs/webhooks.md has no \"<!-- test_webhook: %s -->\" block", name);
	start = strchr(p + strlen(marker), '\n');
	assert_non_null(start);
	start++;
	end = strstr(start, "\n```\n");
	assert_non_null(end);
	esc_test_path(path, path_size, dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fwrite(start, 1, (size_t)(end - start) + 1, f);
	fputs(tail, f);
	fclose(f);
}

struct snippet_case {
	const char *what;
	const char *secret;
	const char *header;
	const char *body;
	int64_t now_s;
	bool accepted;
};

static void run_snippet(const char *interpreter, const char *name, const char *tail)
{
	char dir[256], path[300], cases_path[300];
	char *docs = read_docs();
	char rotation[ESC_WEBHOOK_SIGNATURE_SIZE], fresh[ESC_WEBHOOK_SIGNATURE_SIZE];
	char secret[ESC_WEBHOOK_SECRET_SIZE];
	char expected[400] = "ok\n", out[400];
	const char *other_body = "{\"note\":\"vi\xc3\xb0 sendum \xe2\x82\xac 12\"}";
	FILE *f;

	assert_int_equal(esc_webhook_secret_new(secret), 0);
	esc_webhook_signature_header(rotation, sizeof rotation, VECTOR_T, VECTOR_BODY,
				     strlen(VECTOR_BODY), VECTOR_SECRET_NEW, VECTOR_SECRET);
	esc_webhook_signature_header(fresh, sizeof fresh, 1800000000, other_body,
				     strlen(other_body), secret, NULL);
	const struct snippet_case cases[] = {
		{"the vector", VECTOR_SECRET, VECTOR_HEADER, VECTOR_BODY, VECTOR_T, true},
		{"a rotation, old secret", VECTOR_SECRET, rotation, VECTOR_BODY, VECTOR_T, true},
		{"a rotation, new secret", VECTOR_SECRET_NEW, rotation, VECTOR_BODY, VECTOR_T,
		 true},
		{"a new secret, a non-ASCII body", secret, fresh, other_body, 1800000000 + 299,
		 true},
		{"a tampered body", secret, fresh,
		 "{\"note\":\"vi\xc3\xb0 sendum \xe2\x82\xac 13\"}", 1800000000, false},
		{"301 seconds late", secret, fresh, other_body, 1800000000 + 301, false},
		{"a wrong secret", VECTOR_SECRET_NEW, VECTOR_HEADER, VECTOR_BODY, VECTOR_T, false},
		{"a malformed header", VECTOR_SECRET, "v1=" VECTOR_V1, VECTOR_BODY, VECTOR_T,
		 false},
	};

	esc_test_tmpdir(dir, sizeof dir);
	extract_snippet(docs, name, tail, path, sizeof path, dir);
	/* One case a line: secret, header, the body in hex, now; tab-separated. */
	esc_test_path(cases_path, sizeof cases_path, dir, "cases.txt");
	f = fopen(cases_path, "w");
	assert_non_null(f);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		fprintf(f, "%s\t%s\t", cases[i].secret, cases[i].header);
		for (const unsigned char *b = (const unsigned char *)cases[i].body; *b; b++)
			fprintf(f, "%02x", *b);
		fprintf(f, "\t%lld\n", (long long)cases[i].now_s);
		strcat(expected, cases[i].accepted ? "accepted\n" : "refused\n");
	}
	fclose(f);
	const char *argv[] = {interpreter, path, cases_path, NULL};
	int status = run_program(argv, NULL, out, sizeof out);
	if (status != 0 || strcmp(out, expected) != 0) {
		for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
			print_message("case %zu: %s\n", i + 1, cases[i].what);
		fail_msg("the %s snippet of docs/webhooks.md: exit %d, \"%s\"; expected \"%s\"",
			 interpreter, status, out, expected);
	}
	esc_test_rmdir(dir);
	free(docs);
}

static void test_docs_python_snippet_verifies_what_escrowd_signs(void **state)
{
	(void)state;
	run_snippet("python3", "verify.py",
		    "\nimport sys\n"
		    "for line in open(sys.argv[1], encoding='ascii'):\n"
		    "    secret, header, body, now = line.rstrip('\\n').split('\\t')\n"
		    "    try:\n"
		    "        verify_signature(secret, header, bytes.fromhex(body), int(now))\n"
		    "        print('accepted')\n"
		    "    except ValueError:\n"
		    "        print('refused')\n");
}

static void test_docs_node_snippet_verifies_what_escrowd_signs(void **state)
{
	(void)state;
	run_snippet("node", "verify.js",
		    "\nconst lines = require('node:fs').readFileSync(process.argv[2], 'ascii');\n"
		    "for (const line of lines.split('\\n')) {\n"
		    "  if (line === '') continue;\n"
		    "  const [secret, header, body, now] = line.split('\\t');\n"
		    "  try {\n"
		    "    verifySignature(secret, header, Buffer.from(body, 'hex'), Number(now));\n"
		    "    console.log('accepted');\n"
		    "  } catch (error) {\n"
		    "    console.log('refused');\n"
		    "  }\n"
		    "}\n");
}

int main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_signature_header_matches_the_fixed_vector),
		cmocka_unit_test(test_rotation_header_carries_the_new_v1_then_the_old),
		cmocka_unit_test(test_signature_agrees_with_python_hmac),
		cmocka_unit_test(test_secret_new_is_whsec_and_43_base64url_characters),
		cmocka_unit_test(test_secret_valid_refuses_other_forms),
		cmocka_unit_test(test_verify_accepts_the_fixed_vector),
		cmocka_unit_test(test_verify_accepts_300_seconds_either_way_and_refuses_301),
		cmocka_unit_test(test_verify_refuses_a_tampered_body),
		cmocka_unit_test(test_verify_refuses_a_wrong_secret),
		cmocka_unit_test(test_verify_accepts_either_secret_during_a_rotation),
		cmocka_unit_test(test_verify_skips_unknown_keys_and_spaces),
		cmocka_unit_test(test_verify_refuses_malformed_headers_with_a_reason),
		cmocka_unit_test(test_verify_refuses_a_header_over_1024_bytes),
		cmocka_unit_test(test_signature_covers_an_empty_body),
		cmocka_unit_test(test_url_parse_takes_http_and_https_urls_with_a_host),
		cmocka_unit_test(test_url_parse_refuses_other_urls_with_a_reason),
		cmocka_unit_test(test_url_parse_refuses_more_than_2048_bytes),
		cmocka_unit_test(test_url_for_log_drops_the_query_and_the_credentials),
		cmocka_unit_test(test_url_check_refuses_a_private_address_in_the_operators_words),
		cmocka_unit_test(test_url_check_judges_every_kind_of_address),
		cmocka_unit_test(test_url_check_refuses_a_host_that_does_not_resolve),
		cmocka_unit_test(test_docs_show_the_vector_the_code_computes),
		cmocka_unit_test(test_docs_python_snippet_verifies_what_escrowd_signs),
		cmocka_unit_test(test_docs_node_snippet_verifies_what_escrowd_signs),
	};
	const struct CMUnitTest sender[] = {
		cmocka_unit_test(test_sender_posts_a_signed_event_the_receiver_verifies),
		cmocka_unit_test(test_sender_reports_a_500_with_the_answer),
		cmocka_unit_test(test_sender_times_out_a_hanging_receiver_while_others_are_served),
		cmocka_unit_test(test_sender_fifty_requests_are_in_flight_at_once),
		cmocka_unit_test(test_sender_does_not_follow_a_redirect),
		cmocka_unit_test(test_sender_keeps_the_first_kib_of_the_answer),
		cmocka_unit_test(test_sender_reuses_a_kept_alive_connection),
		cmocka_unit_test(test_sender_refuses_to_connect_to_a_private_address),
		cmocka_unit_test(test_sender_ignores_proxies_from_the_environment),
		cmocka_unit_test(test_sender_goes_through_a_configured_proxy),
		cmocka_unit_test(test_sender_reports_a_refused_connection),
		cmocka_unit_test(test_sender_add_refuses_bad_requests_and_a_full_sender),
		cmocka_unit_test(test_sender_wakeup_ends_a_runs_wait),
		cmocka_unit_test(test_feed_event_ids_and_json),
	};
	int failed =
		cmocka_run_group_tests_name("webhook signatures, URLs, docs", pure, NULL, NULL);
	failed += cmocka_run_group_tests_name("webhook sender", sender, receiver_setup,
					      receiver_teardown);
	return failed;
}
