/* id.c - time-ordered random ids. */
#include "util/id.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "util/bug.h"

static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz"; /* Crockford */

void esc_id_new(char out[ESC_ID_SIZE], const char *prefix, int64_t now_ms)
{
	size_t p = strlen(prefix);
	ESC_ASSERT(p <= 8, "the id prefix \"%s\" is over 8 bytes", prefix);
	memcpy(out, prefix, p);
	uint64_t t = (uint64_t)now_ms;
	for (int i = 9; i >= 0; i--) {
		out[p + (size_t)i] = alphabet[t & 31];
		t >>= 5;
	}
	unsigned char rnd[10];
	ssize_t got = getrandom(rnd, sizeof rnd, 0);
	/* Linux never fails or shortens a read of at most 256 bytes once the
	 * pool is ready, and this call waits for that. */
	ESC_ASSERT(got == (ssize_t)sizeof rnd, "getrandom gave %zd bytes: %s", got,
		   got < 0 ? strerror(errno) : "short read");
	for (int i = 0; i < 10; i++)
		out[p + 10 + (size_t)i] = alphabet[rnd[i] & 31];
	out[p + 20] = '\0';
}
