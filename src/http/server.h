/* server.h - escrowd serve: the HTTP/JSON API over the engine.
 *
 * libmicrohttpd accepts and parses; the route table (routes.c) says which
 * handler serves a method and path, who may call it and whether it takes a
 * body. Authentication and limits are applied here, once, for every route.
 * Handlers turn JSON into engine commands and results back into JSON. */
#ifndef ESC_HTTP_SERVER_H
#define ESC_HTTP_SERVER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <semaphore.h>

#include "engine/engine.h"
#include "http/ratelimit.h"

struct esc_http_options {
	char listen[64];          /* "HOST:PORT", IPv4; port 0 picks one */
	const char *operator_key; /* installed at start when set */
	size_t body_bytes_max;    /* 1 MiB */
	unsigned connections_max; /* 1024: epoll holds idle ones cheaply */
	/* From one client address, 64; 0: no limit (behind a proxy, every
	 * client has the proxy's address). */
	unsigned connections_per_address;
	/* A connection silent this long is closed, 30 s (a body or an
	 * answer on its way; before a request, header_timeout_ms is shorter). */
	unsigned timeout_s;
	/* A request's line and headers must all arrive within this of the
	 * connection's start or of the previous answer on it, 10 s. */
	int64_t header_timeout_ms;
	/* A body may take body_timeout_ms, 10 s, and a second more for each
	 * body_rate_min bytes (1 KiB) that arrived: a body slower than that
	 * on average is cut off. */
	int64_t body_timeout_ms;
	size_t body_rate_min;
	int64_t session_idle_ms; /* 12 hours */
	unsigned threads;        /* worker threads, 32: each waits out its commit */
	int signin_per_account;  /* failures per account per 15 minutes, 10 (ratelimit.h) */
	int signin_per_address;  /* failures per address per minute, 30 */
	unsigned hashing_max;    /* argon2id hashes running at once, 2 */
	bool quiet;              /* no request log lines */
};

/* Shared by all requests: sign-in limits and the bound on hashing. */
struct esc_http_limits {
	struct esc_ratelimit by_account;
	struct esc_ratelimit by_address;
	sem_t hashing;
};

void esc_http_options_default(struct esc_http_options *o);

/* One setting from the configuration file's http. keys (the key without
 * its prefix): threads, connections_max, connections_per_address,
 * timeout, header_timeout, body_timeout, body_rate_min, body_max,
 * session_idle, signin_per_account, signin_per_address, hashing_max.
 * ESC_EINVAL with why in err for an unknown key or a bad value. */
int esc_http_option_set(struct esc_http_options *o, const char *key, const char *value, char *err,
			size_t err_size);

/* Serve until *stop becomes non-zero (SIGTERM, SIGINT), then finish the
 * requests in flight and return 0. On a start failure err says why. The
 * bound port is written to *port when port is not NULL, and "listening on
 * http://HOST:PORT" goes to stderr once the socket is open. */
int esc_http_serve(struct esc_engine *e, const struct esc_http_options *opt,
		   volatile sig_atomic_t *stop, uint16_t *port, char *err, size_t err_size);

/* Who is calling. */
enum esc_caller_kind { ESC_CALLER_ANONYMOUS, ESC_CALLER_OPERATOR, ESC_CALLER_USER };

struct esc_caller {
	enum esc_caller_kind kind;
	struct esc_user user; /* when kind is ESC_CALLER_USER */
	bool by_cookie;
	char token_hash[ESC_HASH_HEX_SIZE];
	char csrf[64]; /* the session's CSRF token, for GET /v1/me */
};

/* One call of a handler: what came in, and what goes out. */
struct esc_http_call {
	struct esc_engine *e;
	const struct esc_http_options *opt;
	struct esc_caller caller;
	const char *method;
	const char *param; /* the {id} of the path, or NULL */
	json_t *body;      /* an object ({} when the route takes none) */
	const void *file;  /* an ESC_BODY_FILE route's bytes */
	size_t file_len;
	void *connection; /* for query arguments */
	struct esc_http_limits *limits;
	const void *server; /* the server, for metrics */
	char address[64];   /* the client's IP address */
	int buyer_level;    /* the calling buyer's level, read once: -1 until then */
	/* Users' names already read for this answer (a list names the same
	 * parties again and again). */
	struct {
		char id[ESC_ID_SIZE];
		char name[ESC_NAME_MAX + 1];
	} names[4];
	unsigned names_next;
	/* The request's Idempotency-Key, or NULL. A handler whose command
	 * keeps the answer (esc_reply) sets idem_kept; idem_answered when the
	 * key was answered meanwhile, so the kept answer is replayed. */
	struct esc_idempotency *idem;
	bool idem_kept, idem_answered;
	const struct esc_command *command; /* running, for its reply */
	bool reply_built;
	/* Out. */
	int status;
	json_t *out;            /* owned: the response document */
	char set_cookie[200];   /* a Set-Cookie header, when not empty */
	char retry_after[24];   /* a Retry-After header (seconds), when not empty */
	char *text;             /* a text/plain response instead of out (owned) */
	void *raw;              /* or these bytes (owned) ... */
	const void *raw_static; /* ... or these, which outlive the call */
	size_t raw_len;
	char raw_type[48];         /* ... of this Content-Type */
	char raw_disposition[160]; /* and this Content-Disposition */
};

/* The Prometheus text of the daemon's counters (malloc'd). */
char *esc_http_metrics(const struct esc_http_call *call);

/* End the session whose token hashes to token_hash, through the engine's
 * door for writes (esc_engine_transact): 0 or the store's failure. */
int esc_http_session_delete(struct esc_engine *e, const char *token_hash);

/* A query argument or a request header of the call, or NULL. */
const char *esc_http_query(const struct esc_http_call *call, const char *name);
const char *esc_http_header(const struct esc_http_call *call, const char *name);

#endif
