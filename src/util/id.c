/* id.c - time-ordered random ids. */
#include "util/id.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>

#include "util/bug.h"

static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz"; /* Crockford */

/* Random bytes taken from the kernel 250 at a time, each thread its own:
 * a getrandom call for each id was ~2.5 % of the writer's CPU (issue 15).
 * A child process forgets what its parent's thread had left, so that the
 * two never give out the same bytes. */
#define POOL_BYTES 250
static _Thread_local unsigned char pool[POOL_BYTES];
static _Thread_local size_t pool_left;
static pthread_once_t fork_hook = PTHREAD_ONCE_INIT;

static void pool_forget(void)
{
	pool_left = 0;
}

static void fork_hook_add(void)
{
	pthread_atfork(NULL, NULL, pool_forget);
}

static void random_take(unsigned char *out, size_t n)
{
	if (pool_left < n) {
		pthread_once(&fork_hook, fork_hook_add);
		ssize_t got = getrandom(pool, sizeof pool, 0);
		/* Linux never fails or shortens a read of at most 256 bytes once
		 * the pool is ready, and this call waits for that. */
		ESC_ASSERT(got == (ssize_t)sizeof pool, "getrandom gave %zd bytes: %s", got,
			   got < 0 ? strerror(errno) : "short read");
		pool_left = sizeof pool;
	}
	pool_left -= n;
	memcpy(out, pool + pool_left, n);
	/* Given out once: not kept where a later read could find it. */
	memset(pool + pool_left, 0, n);
}

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
	random_take(rnd, sizeof rnd);
	for (int i = 0; i < 10; i++)
		out[p + 10 + (size_t)i] = alphabet[rnd[i] & 31];
	out[p + 20] = '\0';
}
