/* fuzz_body.c - libFuzzer target: one JSON body given to every route that
 * reads one, each on the world's object it fits best and as the route's
 * own first role: the body's parsing (jansson with server.c's flags and
 * depth limit) and each handler's fields, into an engine command.
 *
 * Input: the body's bytes, e.g. {"amount":2500,"payment_method":"card"}. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

/* The world's id (harness.h) that a route's {id} is best given. */
static int id_for(const char *pattern)
{
	static const struct {
		const char *part;
		int id;
	} fits[] = {
		{"/cancellation/", 2},
		{"/pay", 0},
		{"/deliver", 3},
		{"/confirm-receipt", 3},
		{"/v1/orders/{id}/disputes", 3},
		{"/v1/users/", 8},
		{"/decide", 6},
		{"/v1/disputes/", 5},
		{"/v1/refunds/", 7},
		{"/v1/evidence/", 9},
	};
	for (size_t i = 0; i < sizeof fits / sizeof fits[0]; i++)
		if (strstr(pattern, fits[i].part))
			return fits[i].id;
	return 1; /* a paid order: ship, cancel, messages */
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_world_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i < esc_routes_count; i++) {
		const struct esc_route *r = &esc_routes[i];
		char path[200], *brace;
		if (r->body != ESC_BODY_JSON)
			continue;
		snprintf(path, sizeof path, "%s", r->path);
		brace = strstr(path, "{id}");
		if (brace) {
			char tail[200];
			snprintf(tail, sizeof tail, "%s", brace + 4);
			snprintf(brace, sizeof path - (size_t)(brace - path), "@%d%s",
				 id_for(r->path), tail);
		}
		struct esc_http_call call;
		fuzz_handle(r->method, path, FUZZ_AS_ROUTE, data, size, &call);
		/* A body that is no JSON object is refused before any handler
		 * (400 without a document): so it is by every route. */
		bool unread = call.status == 400 && !call.out;
		fuzz_call_release(&call);
		if (unread)
			break;
	}
	return 0;
}
