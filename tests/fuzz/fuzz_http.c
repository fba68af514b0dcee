/* fuzz_http.c - libFuzzer target: raw bytes on a connection to the real
 * server (esc_http_serve on loopback, over the harness's world), so that
 * what fuzz_request cannot reach is reached: libmicrohttpd's parsing, the
 * head's checks (lengths, control bytes, Content-Type), authentication by
 * key, session and cookie with its CSRF token, Idempotency-Key and query
 * arguments.
 *
 * Input: the bytes sent, after these are replaced (harness.h's ids too):
 *
 *   @0 .. @9, @a, @b   the world's ids
 *   @K                 the operator's API key
 *   @S                 the buyer's session token (Bearer or cookie)
 *   @X                 that session's CSRF token
 *   @L                 the length of what follows the first blank line
 *
 *   POST /v1/orders/@1/cancel HTTP/1.1\r\nAuthorization: Bearer @S\r\n
 *   Content-Type: application/json\r\nContent-Length: @L\r\n\r\n{"reason":...}
 *
 * Then the client's side is closed, and the first answer read to its
 * end. What must hold: the server answers or closes within a few
 * seconds and goes on serving; no answer is a 5xx; every answer of the API
 * that refuses (4xx) is a JSON document {"error":{"code","message"}} with
 * both non-empty, except libmicrohttpd's own few pages for a request it
 * cannot parse (counted, not refused); every JSON answer parses. Only the
 * first answer on the connection is checked (a later one's length would
 * depend on the method of a request the fuzzer cut up). The world's store
 * is not restored between inputs: the server holds it open. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"
#include "http/server.h"

#define OPERATOR_KEY "fuzz-http-operator-key-0001"
#define SENT_MAX     (64 * 1024)
#define ANSWER_MAX   (8 * 1024 * 1024)
#define WAIT_MS      5000

static struct {
	pthread_t thread;
	volatile sig_atomic_t stop;
	uint16_t port;
	struct esc_http_options opt;
	char err[300];
	int serve_rc;
	char session[200], csrf[100];
} srv;

static void die(const char *what, const char *why)
{
	fprintf(stderr, "fuzz_http: %s: %s\n", what, why);
	exit(2);
}

static void *serve_main(void *arg)
{
	(void)arg;
	srv.serve_rc = esc_http_serve(fuzz_world_engine(), &srv.opt, &srv.stop, &srv.port, srv.err,
				      sizeof srv.err);
	return NULL;
}

static void stop_server(void)
{
	srv.stop = 1;
	pthread_join(srv.thread, NULL);
}

static int connect_server(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(__atomic_load_n(&srv.port, __ATOMIC_ACQUIRE)),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
		fprintf(stderr, "fuzz_http: cannot connect to the server: %s\n", strerror(errno));
		abort(); /* the server died or stopped accepting */
	}
	return fd;
}

/* A header's value in the head [head, end), or NULL; *len its length. */
static const char *header(const char *head, const char *end, const char *name, size_t *len)
{
	size_t nl = strlen(name);
	for (const char *p = head; p && p < end; p = memchr(p, '\n', (size_t)(end - p))) {
		if (*p == '\n')
			p++;
		if ((size_t)(end - p) > nl + 1 && !strncasecmp(p, name, nl) && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (v < end && *v == ' ')
				v++;
			const char *e = memchr(v, '\r', (size_t)(end - v));
			*len = (size_t)((e ? e : end) - v);
			return v;
		}
	}
	return NULL;
}

/* Whether the first answer in [in, in + len) has all arrived: its head,
 * and its body by Content-Length (none for HEAD, 204 or 304) or to the
 * last chunk; without either, only the server's close ends it. */
static bool answer_complete(const char *in, size_t len, bool head_request)
{
	const char *end = memmem(in, len, "\r\n\r\n", 4);
	if (!end)
		return false;
	size_t head = (size_t)(end + 4 - in), vlen = 0;
	int status = 0;
	sscanf(in, "HTTP/1.%*1[01] %3d ", &status);
	if (head_request || status == 204 || status == 304)
		return true;
	const char *v = header(in, end, "Content-Length", &vlen);
	if (v)
		return len - head >= strtoul(v, NULL, 10);
	if (header(in, end, "Transfer-Encoding", &vlen))
		return memmem(end + 4, len - head, "\r\n0\r\n\r\n", 7) != NULL ||
		       (len - head >= 5 && !memcmp(end + 4, "0\r\n\r\n", 5));
	return false;
}

/* Send it all, close our side, and read the first answer until it is
 * complete or the server closes: the bytes (malloc'd, NUL-terminated)
 * and their length; NULL when nothing came for WAIT_MS. A server that
 * waits for more of a request cut short closes it at its header or body
 * deadline (short here). libmicrohttpd 0.9.75 with epoll may keep the
 * connection after answering even though our side is closed (the close
 * came in the same wake-up as the request): hence reading to the
 * answer's end rather than to the close. */
static char *exchange(const char *out, size_t out_len, bool head_request, size_t *got)
{
	int fd = connect_server();
	size_t sent = 0;
	while (sent < out_len) {
		ssize_t n = send(fd, out + sent, out_len - sent, MSG_NOSIGNAL);
		if (n <= 0)
			break; /* the server closed early: an answer may wait */
		sent += (size_t)n;
	}
	shutdown(fd, SHUT_WR);
	size_t cap = 65536, len = 0;
	char *in = malloc(cap + 1);
	while (!answer_complete(in, len, head_request)) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, WAIT_MS) <= 0) {
			free(in);
			close(fd);
			return NULL;
		}
		if (len == cap) {
			if (cap >= ANSWER_MAX)
				break;
			cap *= 2;
			in = realloc(in, cap + 1);
		}
		ssize_t n = recv(fd, in + len, cap - len, 0);
		if (n <= 0)
			break; /* closed, or reset after its answer */
		len += (size_t)n;
	}
	close(fd);
	in[len] = '\0';
	*got = len;
	return in;
}

/* The fuzzer's bytes with the @ names replaced; NULL when too long. */
static char *expand(const uint8_t *data, size_t size, size_t *out_len)
{
	char *out = malloc(SENT_MAX + 1);
	size_t n = 0, length_at = (size_t)-1;
	for (size_t i = 0; i < size; i++) {
		const char *with = NULL;
		char one[2] = {(char)data[i], 0};
		if (data[i] == '@' && i + 1 < size) {
			unsigned char c = data[i + 1];
			if (c >= '0' && c <= '9')
				with = fuzz_world_id(c - '0');
			else if (c == 'a' || c == 'b')
				with = fuzz_world_id(10 + c - 'a');
			else if (c == 'K')
				with = OPERATOR_KEY;
			else if (c == 'S')
				with = srv.session;
			else if (c == 'X')
				with = srv.csrf;
			else if (c == 'L') {
				with = "";
				length_at = n;
			}
			if (with)
				i++;
		}
		if (!with)
			with = one[0] ? one : NULL;
		size_t w = with ? strlen(with) : 1;
		if (n + w + 20 > SENT_MAX) {
			free(out);
			return NULL;
		}
		if (with)
			memcpy(out + n, with, w);
		else
			out[n] = '\0'; /* a NUL byte of the input */
		n += w;
	}
	if (length_at != (size_t)-1) {
		const char *blank = memmem(out, n, "\r\n\r\n", 4);
		size_t body = blank ? n - (size_t)(blank + 4 - out) : 0;
		char digits[24];
		int d = snprintf(digits, sizeof digits, "%zu", body);
		memmove(out + length_at + (size_t)d, out + length_at, n - length_at);
		memcpy(out + length_at, digits, (size_t)d);
		n += (size_t)d;
	}
	out[n] = '\0';
	*out_len = n;
	return out;
}

static void broken(const char *what, const char *sent, size_t sent_len, const char *answer)
{
	fprintf(stderr,
		"fuzz_http: %s\n--- sent (%zu bytes) ---\n%.2000s\n--- answer ---\n%.2000s\n", what,
		sent_len, sent, answer ? answer : "(none)");
	abort();
}

/* libmicrohttpd's own pages for a request it cannot parse: HTML, no JSON.
 * For a Content-Length that is not a number (400) or too large a number
 * (413), libmicrohttpd 0.9.75 sends its page's head twice (the first
 * head's length then covers the second head): its defect, out of
 * escrowd's reach, since it answers before any callback sees the request;
 * counted and allowed. */
static unsigned long mhd_doubled_heads, unanswered;

static bool mhd_own_page(const char *body)
{
	if (!strncmp(body, "HTTP/1.1 400 ", 13) || !strncmp(body, "HTTP/1.1 413 ", 13)) {
		const char *again = strstr(body, "\r\n\r\n");
		if (again && !strncmp(again + 4, "<html>", 6)) {
			mhd_doubled_heads++;
			return true;
		}
	}
	return !strncmp(body, "<html>", 6);
}

static void check_answer(const char *sent, size_t sent_len, const char *answer, size_t len,
			 bool head_request)
{
	int status = 0;
	if (len == 0)
		return; /* closed without a word: a request cut off or refused at once */
	if (sscanf(answer, "HTTP/1.%*1[01] %3d ", &status) != 1 || status < 100)
		broken("the answer does not start with a status line", sent, sent_len, answer);
	const char *end = strstr(answer, "\r\n\r\n");
	if (!end)
		broken("the answer's head has no end", sent, sent_len, answer);
	const char *body = end + 4;
	size_t tlen = 0, clen_len = 0;
	const char *type = header(answer, end, "Content-Type", &tlen);
	/* libmicrohttpd's own 505 for a version it does not speak is right
	 * (its pages have no Content-Type; escrowd's answers all have one). */
	if (status >= 500 && !(status == 505 && !type))
		broken("a request answered a server error", sent, sent_len, answer);
	const char *clen = header(answer, end, "Content-Length", &clen_len);
	size_t body_len = len - (size_t)(body - answer);
	if (head_request || status == 204 || status == 304)
		return;
	if (clen) {
		size_t want = strtoul(clen, NULL, 10);
		if (want > body_len)
			broken("the answer is shorter than its Content-Length", sent, sent_len,
			       answer);
		body_len = want;
	} else if (header(answer, end, "Transfer-Encoding", &tlen)) {
		return; /* chunked: served files and long lists; not an error */
	}
	bool json = type && tlen >= 16 && !strncmp(type, "application/json", 16);
	if (!json) {
		if (status >= 400 && !mhd_own_page(body))
			broken("a refusal is not a JSON document", sent, sent_len, answer);
		return;
	}
	json_error_t jerr;
	json_t *doc = json_loadb(body, body_len, 0, &jerr);
	if (!doc)
		broken("a JSON answer does not parse", sent, sent_len, answer);
	if (status >= 400) {
		json_t *err = json_object_get(doc, "error");
		const char *code = json_string_value(json_object_get(err, "code"));
		const char *message = json_string_value(json_object_get(err, "message"));
		if (!code || !*code || !message || !*message)
			broken("a refusal's document lacks its code or message", sent, sent_len,
			       answer);
	}
	json_decref(doc);
}

/* Sign the buyer in through the server, for @S and @X. */
static void sign_in(void)
{
	static const char body[] = "{\"email\":\"ana@fuzz.test\",\"password\":\"fuzz-password\"}";
	char req[512];
	size_t got = 0;
	int n = snprintf(req, sizeof req,
			 "POST /v1/sessions HTTP/1.1\r\nHost: fuzz\r\nContent-Type: "
			 "application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
			 sizeof body - 1, body);
	char *answer = exchange(req, (size_t)n, false, &got);
	const char *json = answer ? strstr(answer, "\r\n\r\n") : NULL;
	json_t *doc = json ? json_loads(json + 4, 0, NULL) : NULL;
	const char *token = json_string_value(json_object_get(doc, "token"));
	const char *csrf = json_string_value(json_object_get(doc, "csrf_token"));
	if (!token || !csrf)
		die("sign-in", answer ? answer : "no answer");
	snprintf(srv.session, sizeof srv.session, "%s", token);
	snprintf(srv.csrf, sizeof srv.csrf, "%s", csrf);
	json_decref(doc);
	free(answer);
}

/* An input whose connection got neither answer nor close, kept in
 * $ESC_FUZZ_UNANSWERED (a directory) when set, for study. */
static void keep_unanswered(const uint8_t *data, size_t size)
{
	const char *dir = getenv("ESC_FUZZ_UNANSWERED");
	char path[512];
	if (!dir || !*dir)
		return;
	snprintf(path, sizeof path, "%s/unanswered-%d-%lu", dir, (int)getpid(), unanswered);
	FILE *f = fopen(path, "wb");
	if (f) {
		fwrite(data, 1, size, f);
		fclose(f);
	}
}

static void say_counts(void)
{
	if (mhd_doubled_heads)
		fprintf(stderr, "fuzz_http: %lu answers with libmicrohttpd's doubled 400 or 413 head\n",
			mhd_doubled_heads);
	if (unanswered)
		fprintf(stderr,
			"fuzz_http: %lu connections neither answered nor closed in 5 s "
			"(the server answered the next)\n",
			unanswered);
}

/* Where libmicrohttpd 0.9.75 looks for the request line: empty lines
 * before it are skipped (RFC 9112 §2.2), and so is a line whose first
 * byte is a NUL (empty as a C string), to its first CR or LF: "\r\n\r\nHEAD"
 * and "\0abc\r\nHEAD" are both a HEAD, whose answer has no body. */
static size_t lines_skipped(const char *s, size_t len)
{
	size_t p = 0;
	while (p < len && (s[p] == '\r' || s[p] == '\n' || s[p] == '\0')) {
		if (s[p] == '\0') /* the rest of a NUL-led line */
			while (p < len && s[p] != '\r' && s[p] != '\n')
				p++;
		if (p < len)
			p++; /* the CR or LF that ends a line */
	}
	return p;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_world_init();
	esc_http_options_default(&srv.opt);
	snprintf(srv.opt.listen, sizeof srv.opt.listen, "127.0.0.1:0");
	srv.opt.operator_key = OPERATOR_KEY;
	srv.opt.quiet = true;
	srv.opt.test_mode = true; /* the world's clock is manual (SPEC §8) */
	srv.opt.threads = 4;
	/* A request cut short waits this long for the rest (the reaper
	 * looks ten times a second): short, or such inputs set the pace. */
	srv.opt.header_timeout_ms = 150;
	srv.opt.body_timeout_ms = 150;
	srv.opt.body_bytes_max = 256 * 1024;
	/* The server's start writes "listening on" to stderr; keep it. */
	if (pthread_create(&srv.thread, NULL, serve_main, NULL))
		die("server", "cannot start its thread");
	for (int i = 0; i < 1000 && !__atomic_load_n(&srv.port, __ATOMIC_ACQUIRE); i++)
		usleep(10 * 1000);
	if (!__atomic_load_n(&srv.port, __ATOMIC_ACQUIRE))
		die("server", srv.err[0] ? srv.err : "did not start within 10 s");
	atexit(stop_server);
	atexit(say_counts);
	sign_in();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t out_len = 0, got = 0;
	char *out = expand(data, size, &out_len);
	if (!out)
		return -1;
	size_t lead = lines_skipped(out, out_len);
	bool head_request = out_len - lead >= 5 && !memcmp(out + lead, "HEAD ", 5);
	char *answer = exchange(out, out_len, head_request, &got);
	if (!answer) {
		/* Now and then (once in a few thousand inputs, never alone) a
		 * connection gets neither an answer nor its close: with ~2,000
		 * loopback connections in TIME-WAIT at once, not yet understood.
		 * The server must still serve: a stuck one fails the run. */
		static const char probe[] = "GET /healthz HTTP/1.1\r\nHost: fuzz\r\n\r\n";
		size_t probe_got = 0;
		char *alive = exchange(probe, sizeof probe - 1, false, &probe_got);
		if (!alive || strncmp(alive, "HTTP/1.1 200 ", 13))
			broken("the server neither answered nor closed within 5 s, and then "
			       "did not answer GET /healthz",
			       out, out_len, alive);
		free(alive);
		unanswered++;
		keep_unanswered(data, size);
		free(out);
		return 0;
	}
	check_answer(out, out_len, answer, got, head_request);
	free(answer);
	free(out);
	return 0;
}
