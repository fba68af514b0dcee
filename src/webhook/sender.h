/* sender.h - POST webhook deliveries, many at once, with libcurl's multi
 * interface: a slow or hanging receiver holds up no one but itself.
 *
 * A sender is a queue of transfers driven by one thread, the delivery
 * worker's:
 *
 *     esc_webhook_sender_new(&config, &sender);
 *     while (!stop) {
 *             while (room and a delivery is due)          // from the store
 *                     esc_webhook_sender_add(sender, &request);
 *             esc_webhook_sender_run(sender, 1000);       // waits <= 1 s
 *             while (esc_webhook_sender_result(sender, &result) == 1)
 *                     record(&result);                    // into the store
 *     }
 *     esc_webhook_sender_free(sender);
 *
 * esc_webhook_sender_wakeup may be called from any thread (a stop request)
 * to end a run's wait early; every other call belongs to the one thread.
 *
 * Each request is a POST of its body with the headers
 *
 *     Content-Type: application/json
 *     User-Agent: escrowd/VERSION
 *     Escrowd-Event-Id: <event_id>
 *     Escrowd-Signature: <signature>        (signature.h builds it)
 *
 * Redirects are not followed (a 3xx is the answer), proxies from the
 * environment (http_proxy, ...) are ignored unless config.proxy names one,
 * connections to one host are kept alive and reused by later requests
 * (the multi handle's connection cache), and every connection is checked
 * by the URL guard (url.h) just before it is opened, so a name that now
 * resolves to a private address is refused unless config.allow_private.
 * With a proxy the guard sees only the proxy's address: the proxy
 * resolves the receivers' names, so the guard there is the proxy's.
 *
 * libcurl's global state: the program calls curl_global_init(
 * CURL_GLOBAL_DEFAULT) once in main, before it starts threads (escrowd's
 * src/cli/main.c; a test's main or group setup). esc_webhook_sender_new
 * calls it too, once per process (pthread_once), for callers that did
 * not; curl_global_cleanup is left to the program's exit. */
#ifndef ESC_WEBHOOK_SENDER_H
#define ESC_WEBHOOK_SENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ESC_WEBHOOK_CONNECT_TIMEOUT_MS 5000
#define ESC_WEBHOOK_REQUEST_TIMEOUT_MS 10000
/* Transfers a sender holds by default: in flight plus finished unread. */
#define ESC_WEBHOOK_TRANSFERS_MAX 256
/* Bytes to hold a request's id with its NUL. */
#define ESC_WEBHOOK_REQUEST_ID_SIZE 64
/* Bytes of a receiver's answer kept in a result (more are read and
 * dropped, up to ESC_WEBHOOK_ANSWER_READ_MAX; then the transfer fails). */
#define ESC_WEBHOOK_ANSWER_BYTES_MAX 1024
#define ESC_WEBHOOK_ANSWER_READ_MAX  (1024 * 1024)
/* Bytes of a result's error text with its NUL. */
#define ESC_WEBHOOK_ERROR_SIZE 256
/* Most bytes of one request's body. */
#define ESC_WEBHOOK_BODY_BYTES_MAX (4 * 1024 * 1024)

struct esc_webhook_sender_config {
	int64_t connect_timeout_ms; /* 0: ESC_WEBHOOK_CONNECT_TIMEOUT_MS */
	int64_t request_timeout_ms; /* the whole request; 0: ESC_WEBHOOK_REQUEST_TIMEOUT_MS */
	size_t transfers_max;       /* 0: ESC_WEBHOOK_TRANSFERS_MAX */
	bool allow_private;         /* webhooks.allow_private: no URL guard on connect */
	const char *proxy;          /* a libcurl proxy URL, or NULL for none; copied */
};

struct esc_webhook_request {
	const char *id;        /* the caller's, opaque, < ESC_WEBHOOK_REQUEST_ID_SIZE bytes */
	const char *url;       /* a URL esc_webhook_url_parse accepts */
	const void *body;      /* body_bytes bytes, copied */
	size_t body_bytes;     /* at most ESC_WEBHOOK_BODY_BYTES_MAX */
	const char *event_id;  /* Escrowd-Event-Id */
	const char *signature; /* Escrowd-Signature, from esc_webhook_signature_header */
};

struct esc_webhook_result {
	char id[ESC_WEBHOOK_REQUEST_ID_SIZE]; /* the request's */
	int http_status;                      /* the answer's status; 0 when there was none */
	/* Why the transfer failed ("" when an answer came): libcurl's text
	 * ("Operation timed out after 10000 milliseconds ..."), or the URL
	 * guard's ("connection to 10.0.0.5, a private address; ..."). */
	char error[ESC_WEBHOOK_ERROR_SIZE];
	bool timed_out;      /* the connect or request timeout ended it */
	int64_t duration_ms; /* from the start of the transfer to its end */
	/* The first ESC_WEBHOOK_ANSWER_BYTES_MAX bytes of the answer's body,
	 * NUL-terminated (the body may hold NULs: answer_bytes counts). */
	char answer[ESC_WEBHOOK_ANSWER_BYTES_MAX + 1];
	size_t answer_bytes;
};

struct esc_webhook_sender;

/* Make a sender with config (NULL: all defaults). Returns 0 with *out
 * set, ESC_ENOMEM, or ESC_EBUG when libcurl fails to initialize. */
int esc_webhook_sender_new(const struct esc_webhook_sender_config *config,
			   struct esc_webhook_sender **out);

/* Abandon every transfer in flight (receivers see the connection close),
 * drop unread results and free the sender. NULL is allowed. */
void esc_webhook_sender_free(struct esc_webhook_sender *sender);

/* Start a POST of request (everything in it is copied; nothing is sent
 * before the next run). Returns 0; ESC_EINVAL when the request is not
 * valid (the URL's form per esc_webhook_url_parse, an id too long, a
 * header value holding a line break, a body over the maximum); ESC_ELIMIT
 * when the sender already holds config.transfers_max transfers (read
 * results or wait); ESC_ENOMEM. A failure leaves the sender as it was. */
int esc_webhook_sender_add(struct esc_webhook_sender *sender,
			   const struct esc_webhook_request *request);

/* Move every transfer on: send, receive, finish what is done. When that
 * finished none, wait for the network (or a wakeup) at most wait_ms
 * (>= 0; also when nothing is in flight) and move them on again. Returns the number of transfers
 * still in flight, or ESC_EIO when libcurl's multi handle fails. */
int esc_webhook_sender_run(struct esc_webhook_sender *sender, int wait_ms);

/* Take the oldest finished transfer's result into *out: returns 1, or 0
 * when none is waiting. */
int esc_webhook_sender_result(struct esc_webhook_sender *sender, struct esc_webhook_result *out);

/* Transfers in flight (added, not finished). */
size_t esc_webhook_sender_in_flight(const struct esc_webhook_sender *sender);

/* End the wait of a run in progress (or of the next one) early. Safe
 * from any thread while the sender exists. */
void esc_webhook_sender_wakeup(struct esc_webhook_sender *sender);

#endif
