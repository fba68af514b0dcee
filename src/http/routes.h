/* routes.h - the one table of the API's routes (SPEC §7). */
#ifndef ESC_HTTP_ROUTES_H
#define ESC_HTTP_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

#include "http/handler.h"

/* Who may call a route: a mask of these. */
enum {
	ESC_WHO_ANYONE = 1 << 0,
	ESC_WHO_OPERATOR = 1 << 1,
	ESC_WHO_BUYER = 1 << 2,
	ESC_WHO_SELLER = 1 << 3,
	ESC_WHO_ARBITER = 1 << 4,
	ESC_WHO_USER = ESC_WHO_BUYER | ESC_WHO_SELLER | ESC_WHO_ARBITER,
	ESC_WHO_SIGNED_IN = ESC_WHO_OPERATOR | ESC_WHO_USER,
};

/* What a route's request carries. */
enum esc_body {
	ESC_BODY_NONE = 0,
	ESC_BODY_JSON = 1, /* a JSON object (the table writes true) */
	ESC_BODY_FILE = 2, /* a file's bytes, its type in Content-Type, up to 5 MiB */
};

/* What an Idempotency-Key keeps of a POST's answer (http/idempotency.h). */
enum esc_keep {
	ESC_KEEP_PLAIN = 0, /* the answer, as it was sent */
	/* The answer holds a secret (a signing secret, an operator key's):
	 * kept sealed with a key made from the caller's bearer token, which
	 * the store never holds, so that only that caller can have it
	 * replayed. */
	ESC_KEEP_SEALED = 1,
	/* Nothing; the key is ignored: a sign-in, whose body holds a password
	 * that not even a hash of is to be kept, and whose answer is a new
	 * session's token. */
	ESC_KEEP_NEVER = 2,
};

struct esc_route {
	const char *method;
	const char *path; /* segments; "{id}" matches one segment */
	int (*handler)(struct esc_http_call *call);
	unsigned who;
	enum esc_body body;
	enum esc_keep keep; /* what an Idempotency-Key keeps of the answer */
	/* A command's route: the event it sends (enum esc_event), whose row
	 * in core/event.h says its fields, its path under its machine's
	 * route and the name its action is listed by; -1 for other routes. */
	int event;
};

extern const struct esc_route esc_routes[];
extern const size_t esc_routes_count;

/* Find the route for method and path; *param gets the {id} segment (a
 * pointer into buf, which holds a copy of path). Returns the route, or
 * NULL with *path_known telling whether another method would match. */
const struct esc_route *esc_route_find(const char *method, const char *path, char *buf,
				       size_t buf_size, const char **param, bool *path_known);

#endif
