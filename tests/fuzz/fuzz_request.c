/* fuzz_request.c - libFuzzer target: a request through the route table
 * (esc_route_find) and the handler it names, on the harness's world.
 *
 * Input: a first line "METHOD PATH [ROLE]", the body after it. "@0" ..
 * "@9" in PATH name the world's orders, disputes, refund, buyer and file
 * (harness.h); ROLE is anyone, operator, buyer, seller, arbiter or
 * stranger, else the route's own first role:
 *
 *   POST /v1/orders/@1/cancel buyer
 *   {"reason":"no_longer_needed","refund_to":"balance"}
 */
#include <stdint.h>
#include <string.h>

#include "harness.h"

static enum fuzz_role role_named(const char *name)
{
	static const char *const names[FUZZ_ROLE_COUNT] = {
		[FUZZ_AS_ANYONE] = "anyone",   [FUZZ_AS_OPERATOR] = "operator",
		[FUZZ_AS_BUYER] = "buyer",     [FUZZ_AS_SELLER] = "seller",
		[FUZZ_AS_ARBITER] = "arbiter", [FUZZ_AS_STRANGER] = "stranger",
	};
	for (int i = 0; i < FUZZ_ROLE_COUNT; i++)
		if (names[i] && !strcmp(names[i], name))
			return (enum fuzz_role)i;
	return FUZZ_AS_ROUTE;
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
	char line[1200];
	const uint8_t *nl = memchr(data, '\n', size);
	size_t n = nl ? (size_t)(nl - data) : size;
	if (n >= sizeof line)
		return -1; /* longer than any request line worth the time */
	memcpy(line, data, n);
	line[n] = '\0';
	char *save = NULL;
	const char *method = strtok_r(line, " ", &save);
	const char *path = strtok_r(NULL, " ", &save);
	const char *role = strtok_r(NULL, " ", &save);
	if (!method || !path)
		return 0;
	const uint8_t *body = nl ? nl + 1 : data + size;
	struct esc_http_call call;
	fuzz_handle(method, path, role ? role_named(role) : FUZZ_AS_ROUTE, body,
		    (size_t)(data + size - body), &call);
	fuzz_call_release(&call);
	return 0;
}
