/* sender.c - webhook POSTs on libcurl's multi interface, with the URL guard
 * on every connection it opens (sender.h). */
#include "webhook/sender.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "util/bug.h"
#include "util/error.h"
#include "webhook/url.h"

#ifndef ESC_VERSION
#define ESC_VERSION "unknown"
#endif

/* Longest Escrowd-Event-Id or Escrowd-Signature value taken. */
#define HEADER_VALUE_BYTES_MAX 1024
/* Idle connections the multi handle keeps for reuse. */
#define CONNECTIONS_KEPT 64

struct transfer {
	struct transfer *prev, *next; /* in flight; then next in the results queue */
	struct esc_webhook_sender *sender;
	CURL *easy;
	struct curl_slist *headers;
	char *body;
	size_t answer_read;   /* bytes of the answer read, kept or not */
	bool answer_too_long; /* reading stopped at ESC_WEBHOOK_ANSWER_READ_MAX */
	char guard_error[ESC_WEBHOOK_ERROR_SIZE];
	char curl_error[CURL_ERROR_SIZE];
	struct esc_webhook_result result;
};

struct esc_webhook_sender {
	CURLM *multi;
	struct esc_webhook_sender_config config;
	char *proxy;
	struct transfer *in_flight; /* doubly linked */
	size_t in_flight_count;
	struct transfer *done_head, *done_tail; /* finished, unread, oldest first */
	size_t done_count;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_code;

static void global_init(void)
{
	global_code = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int esc_webhook_sender_new(const struct esc_webhook_sender_config *config,
			   struct esc_webhook_sender **out)
{
	struct esc_webhook_sender *s = NULL;
	int rc = 0;

	*out = NULL;
	pthread_once(&global_once, global_init);
	if (global_code != CURLE_OK) {
		rc = ESC_EBUG;
		goto out;
	}
	s = calloc(1, sizeof *s);
	if (s == NULL) {
		rc = ESC_ENOMEM;
		goto out;
	}
	if (config != NULL)
		s->config = *config;
	if (s->config.connect_timeout_ms <= 0)
		s->config.connect_timeout_ms = ESC_WEBHOOK_CONNECT_TIMEOUT_MS;
	if (s->config.request_timeout_ms <= 0)
		s->config.request_timeout_ms = ESC_WEBHOOK_REQUEST_TIMEOUT_MS;
	if (s->config.transfers_max == 0)
		s->config.transfers_max = ESC_WEBHOOK_TRANSFERS_MAX;
	if (s->config.proxy != NULL) {
		s->proxy = strdup(s->config.proxy);
		if (s->proxy == NULL) {
			rc = ESC_ENOMEM;
			goto out;
		}
	}
	s->config.proxy = s->proxy;
	s->multi = curl_multi_init();
	if (s->multi == NULL) {
		rc = ESC_ENOMEM;
		goto out;
	}
	if (curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, (long)CONNECTIONS_KEPT) != CURLM_OK) {
		rc = ESC_EBUG;
		goto out;
	}
	*out = s;
	s = NULL;
out:
	esc_webhook_sender_free(s);
	return rc;
}

static void transfer_free(struct transfer *t)
{
	if (t == NULL)
		return;
	if (t->easy != NULL)
		curl_easy_cleanup(t->easy);
	curl_slist_free_all(t->headers);
	free(t->body);
	free(t);
}

void esc_webhook_sender_free(struct esc_webhook_sender *s)
{
	if (s == NULL)
		return;
	while (s->in_flight != NULL) {
		struct transfer *t = s->in_flight;
		s->in_flight = t->next;
		curl_multi_remove_handle(s->multi, t->easy);
		transfer_free(t);
	}
	while (s->done_head != NULL) {
		struct transfer *t = s->done_head;
		s->done_head = t->next;
		transfer_free(t);
	}
	if (s->multi != NULL)
		curl_multi_cleanup(s->multi);
	free(s->proxy);
	free(s);
}

/* libcurl is about to open a socket to address: the URL guard's last word. */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
	struct transfer *t = clientp;

	(void)purpose;
	if (esc_webhook_address_check(&address->addr, t->sender->config.allow_private,
				      "connection to", t->guard_error, sizeof t->guard_error) != 0)
		return CURL_SOCKET_BAD;
	return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

/* Keep the answer's first bytes; read and drop the rest up to a limit. */
static size_t write_answer(char *data, size_t size, size_t count, void *userdata)
{
	struct transfer *t = userdata;
	size_t bytes = size * count;
	size_t room = ESC_WEBHOOK_ANSWER_BYTES_MAX - t->result.answer_bytes;
	size_t kept = bytes < room ? bytes : room;

	if (t->answer_read + bytes > ESC_WEBHOOK_ANSWER_READ_MAX) {
		t->answer_too_long = true;
		return 0;
	}
	memcpy(t->result.answer + t->result.answer_bytes, data, kept);
	t->result.answer_bytes += kept;
	t->result.answer[t->result.answer_bytes] = '\0';
	t->answer_read += bytes;
	return bytes;
}

static bool header_value_ok(const char *value)
{
	return value != NULL && strlen(value) <= HEADER_VALUE_BYTES_MAX &&
	       strpbrk(value, "\r\n") == NULL;
}

static int add_header(struct curl_slist **list, const char *name, const char *value)
{
	size_t size = strlen(name) + 2 + strlen(value) + 1;
	char *line = malloc(size);
	struct curl_slist *longer;

	if (line == NULL)
		return ESC_ENOMEM;
	snprintf(line, size, "%s: %s", name, value);
	longer = curl_slist_append(*list, line);
	free(line);
	if (longer == NULL)
		return ESC_ENOMEM;
	*list = longer;
	return 0;
}

/* Every option set on an easy handle; any failure is memory or a bug. */
static int configure(struct transfer *t, const struct esc_webhook_request *r)
{
	const struct esc_webhook_sender_config *c = &t->sender->config;
	CURL *e = t->easy;
	CURLcode code = CURLE_OK;

#define SET(option, value)                                                                         \
	do {                                                                                       \
		if (code == CURLE_OK)                                                              \
			code = curl_easy_setopt(e, option, value);                                 \
	} while (0)
	SET(CURLOPT_PRIVATE, (void *)t);
	SET(CURLOPT_URL, r->url);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_POST, 1L);
	SET(CURLOPT_POSTFIELDS, t->body);
	SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_bytes);
	SET(CURLOPT_HTTPHEADER, t->headers);
	SET(CURLOPT_USERAGENT, "escrowd/" ESC_VERSION);
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	/* "" ignores http_proxy and its kin in the environment. */
	SET(CURLOPT_PROXY, c->proxy != NULL ? c->proxy : "");
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
	SET(CURLOPT_TIMEOUT_MS, (long)c->request_timeout_ms);
	SET(CURLOPT_WRITEFUNCTION, write_answer);
	SET(CURLOPT_WRITEDATA, (void *)t);
	SET(CURLOPT_ERRORBUFFER, t->curl_error);
	if (!c->allow_private && c->proxy == NULL) {
		SET(CURLOPT_OPENSOCKETFUNCTION, open_socket);
		SET(CURLOPT_OPENSOCKETDATA, (void *)t);
	}
#undef SET
	if (code == CURLE_OUT_OF_MEMORY)
		return ESC_ENOMEM;
	ESC_ASSERT(code == CURLE_OK, "curl_easy_setopt: %s", curl_easy_strerror(code));
	return 0;
}

int esc_webhook_sender_add(struct esc_webhook_sender *s, const struct esc_webhook_request *r)
{
	struct transfer *t = NULL;
	const char *id = r->id != NULL ? r->id : "";
	CURLMcode mc;
	int rc = 0;

	ESC_ASSERT(s != NULL && r != NULL, "a sender and a request");
	if (strlen(id) >= ESC_WEBHOOK_REQUEST_ID_SIZE || r->url == NULL ||
	    !header_value_ok(r->event_id) || !header_value_ok(r->signature) ||
	    r->body_bytes > ESC_WEBHOOK_BODY_BYTES_MAX || (r->body == NULL && r->body_bytes > 0)) {
		rc = ESC_EINVAL;
		goto out;
	}
	rc = esc_webhook_url_parse(r->url, NULL, NULL, 0);
	if (rc)
		goto out;
	if (s->in_flight_count + s->done_count >= s->config.transfers_max) {
		rc = ESC_ELIMIT;
		goto out;
	}
	t = calloc(1, sizeof *t);
	if (t == NULL) {
		rc = ESC_ENOMEM;
		goto out;
	}
	t->sender = s;
	memcpy(t->result.id, id, strlen(id) + 1);
	t->body = malloc(r->body_bytes + 1);
	if (t->body == NULL) {
		rc = ESC_ENOMEM;
		goto out;
	}
	if (r->body_bytes > 0)
		memcpy(t->body, r->body, r->body_bytes);
	t->body[r->body_bytes] = '\0';
	/* "Expect:" stops libcurl waiting for a 100 Continue on large bodies. */
	rc = add_header(&t->headers, "Content-Type", "application/json");
	if (!rc)
		rc = add_header(&t->headers, "Escrowd-Event-Id", r->event_id);
	if (!rc)
		rc = add_header(&t->headers, "Escrowd-Signature", r->signature);
	if (!rc)
		rc = add_header(&t->headers, "Expect", "");
	if (rc)
		goto out;
	t->easy = curl_easy_init();
	if (t->easy == NULL) {
		rc = ESC_ENOMEM;
		goto out;
	}
	rc = configure(t, r);
	if (rc)
		goto out;
	mc = curl_multi_add_handle(s->multi, t->easy);
	if (mc != CURLM_OK) {
		rc = mc == CURLM_OUT_OF_MEMORY ? ESC_ENOMEM : ESC_EIO;
		goto out;
	}
	t->next = s->in_flight;
	if (s->in_flight != NULL)
		s->in_flight->prev = t;
	s->in_flight = t;
	s->in_flight_count++;
	t = NULL;
out:
	transfer_free(t);
	return rc;
}

/* Fill t's result from its finished transfer. */
static void finish(struct transfer *t, CURLcode code)
{
	struct esc_webhook_result *r = &t->result;
	curl_off_t total_us = 0;
	long status = 0;

	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME_T, &total_us);
	r->http_status = (int)status;
	r->duration_ms = (int64_t)(total_us / 1000);
	r->timed_out = code == CURLE_OPERATION_TIMEDOUT;
	r->error[0] = '\0';
	if (code == CURLE_OK)
		return;
	if (code == CURLE_WRITE_ERROR && t->answer_too_long)
		esc_set_err(r->error, sizeof r->error, "the answer is longer than %d bytes",
			    ESC_WEBHOOK_ANSWER_READ_MAX);
	else if (code == CURLE_COULDNT_CONNECT && t->guard_error[0] != '\0')
		esc_set_err(r->error, sizeof r->error, "%s", t->guard_error);
	else if (t->curl_error[0] != '\0')
		esc_set_err(r->error, sizeof r->error, "%s", t->curl_error);
	else
		esc_set_err(r->error, sizeof r->error, "%s", curl_easy_strerror(code));
}

/* Move every finished transfer from in flight to the results queue. */
static int collect(struct esc_webhook_sender *s)
{
	CURLMsg *message;
	int queued = 0;
	int finished = 0;

	while ((message = curl_multi_info_read(s->multi, &queued)) != NULL) {
		struct transfer *t = NULL;
		CURL *easy = message->easy_handle;
		CURLcode code = message->data.result;

		if (message->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
		ESC_ASSERT(t != NULL && t->easy == easy, "a transfer of this sender");
		finish(t, code);
		curl_multi_remove_handle(s->multi, easy);
		curl_easy_cleanup(easy);
		t->easy = NULL;
		curl_slist_free_all(t->headers);
		t->headers = NULL;
		free(t->body);
		t->body = NULL;
		if (t->prev != NULL)
			t->prev->next = t->next;
		else
			s->in_flight = t->next;
		if (t->next != NULL)
			t->next->prev = t->prev;
		s->in_flight_count--;
		t->prev = t->next = NULL;
		if (s->done_tail != NULL)
			s->done_tail->next = t;
		else
			s->done_head = t;
		s->done_tail = t;
		s->done_count++;
		finished++;
	}
	return finished;
}

int esc_webhook_sender_run(struct esc_webhook_sender *s, int wait_ms)
{
	int running = 0;
	int rc = 0;

	ESC_ASSERT(wait_ms >= 0, "wait of %d ms", wait_ms);
	if (curl_multi_perform(s->multi, &running) != CURLM_OK) {
		rc = ESC_EIO;
		goto out;
	}
	if (collect(s) > 0)
		goto out;
	if (curl_multi_poll(s->multi, NULL, 0, wait_ms, NULL) != CURLM_OK ||
	    curl_multi_perform(s->multi, &running) != CURLM_OK) {
		rc = ESC_EIO;
		goto out;
	}
	collect(s);
out:
	return rc ? rc : (int)s->in_flight_count;
}

int esc_webhook_sender_result(struct esc_webhook_sender *s, struct esc_webhook_result *out)
{
	struct transfer *t = s->done_head;

	if (t == NULL)
		return 0;
	s->done_head = t->next;
	if (s->done_head == NULL)
		s->done_tail = NULL;
	s->done_count--;
	*out = t->result;
	transfer_free(t);
	return 1;
}

size_t esc_webhook_sender_in_flight(const struct esc_webhook_sender *s)
{
	return s->in_flight_count;
}

void esc_webhook_sender_wakeup(struct esc_webhook_sender *s)
{
	curl_multi_wakeup(s->multi);
}
