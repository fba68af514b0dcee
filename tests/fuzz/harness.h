/* harness.h - the world of the request targets: an engine on a SQLite file
 * holding orders in known states, and a request run through the route
 * table and its handlers as server.c's dispatch() runs them, without a
 * socket or libmicrohttpd.
 *
 * What dispatch() does that is static in server.c is repeated here (the
 * JSON flags and depth limit of a body, the caller's role against the
 * route's mask); what needs a connection (headers, query arguments,
 * Content-Type, Idempotency-Key) is absent: handlers see none. */
#ifndef ESC_FUZZ_HARNESS_H
#define ESC_FUZZ_HARNESS_H

#include <stdbool.h>
#include <stddef.h>

#include "http/routes.h"

/* Who calls: the route's own first role, nobody, or one of the world's
 * parties (the stranger is a buyer who is no party to any order). */
enum fuzz_role {
	FUZZ_AS_ROUTE,
	FUZZ_AS_ANYONE,
	FUZZ_AS_OPERATOR,
	FUZZ_AS_BUYER,
	FUZZ_AS_SELLER,
	FUZZ_AS_ARBITER,
	FUZZ_AS_STRANGER,
	FUZZ_ROLE_COUNT
};

/* The ids a request may name by "@0" .. "@9", "@a", "@b" in its path or
 * JSON body: 0 an unpaid order, 1 a paid one, 2 one with a cancellation
 * requested, 3 a shipped one, 4 a shipped one with a dispute awaiting the
 * seller, 5 that dispute, 6 an escalated dispute, 7 a pending refund,
 * 8 the buyer (of every order), 9 a file of evidence of dispute 5, a the
 * seller, b the arbiter. */
#define FUZZ_IDS 12

/* Make the world once (a template store), then work on a copy of it.
 * Exits the process with a message when it cannot. */
void fuzz_world_init(void);
/* Id n (0 .. FUZZ_IDS - 1: "@0" .. "@9", "@a", "@b"). */
const char *fuzz_world_id(int n);

/* Put the working store back to the template's state before the next
 * request: after a command that changed it, so that every input meets
 * the same world. fuzz_handle marks it itself after a change it made. */
void fuzz_world_dirty(void);
struct esc_engine *fuzz_world_engine(void);

/* Run one request. path, and a JSON body, may name ids ("@3"); a query string is not
 * parsed. call holds the answer (out, raw, text, status); release it with
 * fuzz_call_release. Returns the route, or NULL when no route was found
 * (call->status 404 or 405). Aborts, naming the request, when an answer
 * breaks what a client is promised: a 5xx, a 2xx without a document, a
 * document that does not serialize. */
const struct esc_route *fuzz_handle(const char *method, const char *path, enum fuzz_role role,
				    const void *body, size_t body_len, struct esc_http_call *call);
void fuzz_call_release(struct esc_http_call *call);

#endif
