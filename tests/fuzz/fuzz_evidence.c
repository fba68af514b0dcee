/* fuzz_evidence.c - libFuzzer target: a file of evidence. Its type is
 * found from its bytes (esc_evidence_sniff); a file of a known type is
 * added to the world's escalated dispute by its buyer and must come back
 * from GET /v1/evidence/{id} byte for byte, with that type; any other is
 * refused with 415.
 *
 * Input: the file's bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/order.h"
#include "harness.h"
#include "util/error.h"

static const struct {
	const char *type, *magic;
	size_t n;
} kinds[] = {
	{"image/jpeg", "\xff\xd8\xff", 3},
	{"image/png", "\x89PNG\r\n\x1a\n", 8},
	{"application/pdf", "%PDF-", 5},
};

static void fail(const char *what, const char *type)
{
	fprintf(stderr, "fuzz: evidence: %s (%s)\n", what, type ? type : "no type");
	abort();
}

/* The type's magic number starts the bytes, and only one type's does. */
static void check_sniff(const unsigned char *data, size_t size, const char *type)
{
	const char *expected = NULL;
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (size >= kinds[i].n && !memcmp(data, kinds[i].magic, kinds[i].n))
			expected = kinds[i].type;
	if (!type != !expected || (type && strcmp(type, expected)))
		fail("esc_evidence_sniff disagrees with the magic numbers", type);
}

/* GET the file back through its dispute's list and compare. */
static void check_served(const char *order_id, int64_t seq, const unsigned char *data, size_t size,
			 const char *type)
{
	struct esc_http_call call;
	char path[200] = "";
	fuzz_handle("GET", "/v1/disputes/@6", FUZZ_AS_BUYER, NULL, 0, &call);
	size_t i;
	json_t *ev;
	json_array_foreach(json_object_get(call.out, "evidence"), i, ev)
	{
		if (json_integer_value(json_object_get(ev, "seq")) == seq)
			snprintf(path, sizeof path, "%s",
				 json_string_value(json_object_get(ev, "url")));
	}
	fuzz_call_release(&call);
	if (!*path)
		fail("an accepted file is not listed with its dispute", order_id);
	fuzz_handle("GET", path, FUZZ_AS_ARBITER, NULL, 0, &call);
	if (call.status != 200 || call.raw_len != size || (size && !call.raw) ||
	    (size && memcmp(call.raw, data, size)) || strcmp(call.raw_type, type))
		fail("the file served is not the file given", call.raw_type);
	fuzz_call_release(&call);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_world_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const char *type = esc_evidence_sniff(data, size);
	check_sniff(data, size, type);

	char order_id[ESC_ID_SIZE], why[200] = "";
	struct esc_evidence ev;
	struct esc_engine *e = fuzz_world_engine();
	esc_dispute_order_id(order_id, fuzz_world_id(6));
	/* The buyer of the world's orders is its user 8. */
	int rc = esc_engine_evidence_add(e, ESC_ACTOR_BUYER, fuzz_world_id(8), order_id,
					 type ? type : "application/octet-stream", "file", data,
					 size, &ev, why, sizeof why, NULL);
	if (!type && rc != ESC_EMEDIA)
		fail("a file of no known type is not refused as such", why);
	if (type && rc && rc != ESC_ETOOLARGE)
		fail("a file of a known type is refused", why);
	if (rc)
		return 0;
	check_served(order_id, ev.seq, data, size, type);
	/* A dispute holds ESC_EVIDENCE_MAX files: start afresh after that. */
	if (ev.seq >= ESC_EVIDENCE_MAX)
		fuzz_world_dirty();
	return 0;
}
