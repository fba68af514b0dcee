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
 * two never give out the same bytes, and the last id's random part. */
#define POOL_BYTES 250
static _Thread_local unsigned char pool[POOL_BYTES];
static _Thread_local size_t pool_left;
static pthread_once_t fork_hook = PTHREAD_ONCE_INIT;

static _Thread_local int64_t last_ms = INT64_MIN;
static _Thread_local uint64_t last_random;

static void pool_forget(void)
{
	pool_left = 0;
	last_ms = INT64_MIN;
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

/* The random part: 50 bits, 10 base-32 characters. A thread's next id in
 * the same millisecond takes the last one's plus 1 to 65,536, so that ids
 * made in a burst (a manual clock's, or over 1,000 a second) still sort
 * as they were made. A millisecond's first is drawn from the lower half,
 * so that the steps have 2^49 to go: 8 billion ids of one millisecond at
 * the least before it would start afresh. */
#define RANDOM_BITS 50
#define RANDOM_MAX  ((UINT64_C(1) << RANDOM_BITS) - 1)
#define STEP_MAX    (UINT64_C(1) << 16)

static uint64_t random_bits(int bytes)
{
	unsigned char b[8];
	uint64_t v = 0;
	random_take(b, (size_t)bytes);
	for (int i = 0; i < bytes; i++)
		v = v << 8 | b[i];
	return v;
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
	uint64_t r;
	if (now_ms == last_ms && last_random <= RANDOM_MAX - STEP_MAX)
		r = last_random + 1 + random_bits(2);
	else
		r = random_bits(7) & RANDOM_MAX >> 1;
	last_ms = now_ms;
	last_random = r;
	for (int i = 19; i >= 10; i--) {
		out[p + (size_t)i] = alphabet[r & 31];
		r >>= 5;
	}
	out[p + 20] = '\0';
}
