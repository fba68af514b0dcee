/* handler.h - the contract between the server and a route's handler: the
 * call (what came in: its caller, its path parameter, its body), and its
 * answer (a status and a JSON document, text or bytes, and headers).
 *
 * server.c (libmicrohttpd's side) fills a call, runs the route's handler
 * and sends what the handler left in it; routes.c (the table and its
 * handlers) reads the call and answers in it. Neither includes the
 * other's header: this one is their only door. */
#ifndef ESC_HTTP_HANDLER_H
#define ESC_HTTP_HANDLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <semaphore.h>

#include "engine/engine.h"
#include "engine/view.h"
#include "http/ratelimit.h"

struct esc_http_options; /* server.h: the daemon's settings */
struct esc_http_server;  /* server.c: the server serving the call */

/* Shared by all requests: sign-in limits and the bound on hashing. */
struct esc_http_limits {
	struct esc_ratelimit by_account;
	struct esc_ratelimit by_address;
	sem_t hashing;
};

/* Who is calling. */
enum esc_caller_kind { ESC_CALLER_ANONYMOUS, ESC_CALLER_OPERATOR, ESC_CALLER_USER };

struct esc_caller {
	enum esc_caller_kind kind;
	struct esc_user user;     /* when kind is ESC_CALLER_USER */
	char key_id[ESC_ID_SIZE]; /* the operator key's id, when ESC_CALLER_OPERATOR */
	bool by_cookie;
	char token_hash[ESC_HASH_HEX_SIZE];
	char csrf[64]; /* the session's CSRF token, for GET /v1/me */
};

struct esc_http_call;

/* A command on its way through the engine (routes.c's submit): the
 * handler's half before the commit is done, its answer comes after.
 *
 * In a call with async set (the server's), a command route's handler
 * returns 0 with call->pending set, and the rest is the server's: it sets
 * sub's done and arg, suspends the connection and queues sub
 * (esc_engine_submit_async), so that no HTTP thread waits for a commit.
 * The writer's done resumes the connection; in an HTTP thread again the
 * server calls finish(call), which turns the result into the answer in
 * call and returns what the handler would have returned, and answers as
 * for any handler. release(p) frees it, and what sub's command points
 * to, whether finish ran or not (the client may have gone, the daemon may
 * be stopping): the server calls it once, when the request ends.
 *
 * Without async (a handler called outside the server, as the fuzzers do)
 * the handler runs its command through esc_engine_submit and finishes it
 * before it returns: call->pending stays NULL. */
struct esc_http_pending {
	struct esc_submission sub;
	int (*finish)(struct esc_http_call *call);
	void (*release)(struct esc_http_pending *p);
};

/* One call of a handler: what came in, and what goes out. */
struct esc_http_call {
	struct esc_engine *e;
	const struct esc_http_options *opt;
	struct esc_caller caller;
	const char *method;
	const char *param; /* the {id} of the path, or NULL */
	int event;         /* a command route's event (its row's), or -1 */
	json_t *body;      /* an object ({} when the route takes none) */
	const void *file;  /* an ESC_BODY_FILE route's bytes */
	size_t file_len;
	void *connection; /* for query arguments */
	struct esc_http_limits *limits;
	/* The server, for its metrics (esc_http_metrics); NULL when a
	 * handler runs without one (the fuzzers). */
	const struct esc_http_server *server;
	/* The client's IP address: the peer's, or the one a trusted proxy
	 * forwarded (X-Forwarded-For). */
	char address[64];
	/* Cookies are Secure: served over TLS, behind a trusted proxy that
	 * says https, or anywhere but plain HTTP on loopback. */
	bool cookie_secure;
	/* The caller as the views see it, with what they read once for this
	 * answer (a list names the same parties again and again); routes.c
	 * sets its actor and id from caller. */
	struct esc_viewer viewer;
	/* The request's Idempotency-Key, or NULL (idempotency.h). A handler
	 * whose write keeps the answer sets idem_kept; idem_answered when
	 * the key was answered meanwhile, so the kept answer is replayed. */
	struct esc_idempotency *idem;
	bool idem_kept, idem_answered;
	const struct esc_command *command; /* running, for its reply */
	bool reply_built;
	bool async;                       /* a command may be left pending */
	struct esc_http_pending *pending; /* the command left pending, or NULL */
	/* Out. */
	int status;
	json_t *out;            /* owned: the response document */
	char *out_text;         /* or that document as its JSON text (owned) */
	size_t out_text_len;
	char set_cookie[200];   /* a Set-Cookie header, when not empty */
	char retry_after[24];   /* a Retry-After header (seconds), when not empty */
	char etag[24];          /* an ETag header ("7": an order's version), or empty */
	char *text;             /* a text/plain response instead of out (owned) */
	void *raw;              /* or these bytes (owned) ... */
	const void *raw_static; /* ... or these, which outlive the call */
	size_t raw_len;
	char raw_type[48];         /* ... of this Content-Type */
	char raw_disposition[160]; /* and this Content-Disposition */
};

/* A query argument or a request header of the call, or NULL. */
const char *esc_http_query(const struct esc_http_call *call, const char *name);
const char *esc_http_header(const struct esc_http_call *call, const char *name);

/* The Prometheus text of the daemon's counters (malloc'd), from
 * call->server. */
char *esc_http_metrics(const struct esc_http_call *call);
/* Whether the call's listener serves /metrics: false when the admin
 * listener (http.admin_listen) does instead. */
bool esc_http_metrics_here(const struct esc_http_call *call);

/* End the session whose token hashes to token_hash, through the engine's
 * door for writes (esc_engine_transact): 0 or the store's failure. */
int esc_http_session_delete(struct esc_engine *e, const char *token_hash);

#endif
