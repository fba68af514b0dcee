/* ratelimit.c - failed sign-ins counted in fixed windows in the store; the
 * rule is in ratelimit.h. */
#include "http/ratelimit.h"

#include <stdio.h>
#include <string.h>

#include "util/error.h"

struct begin {
	struct esc_signin_attempt *a;
	const struct esc_ratelimit *per_account, *per_address;
	int64_t now_ms, retry_after_ms;
};

static int64_t window_end(int64_t start_ms, const struct esc_ratelimit *rl, int64_t now_ms)
{
	return start_ms + rl->window_ms - now_ms;
}

/* Count the attempt on its three keys, then look at the counts with it:
 * over a limit, the error rolls the counting back. The keys are taken in
 * one order (pair, account, address) by every attempt, so that on
 * PostgreSQL concurrent ones wait for each other without a deadlock. */
static int begin_tx(struct esc_store *s, void *arg)
{
	struct begin *b = arg;
	struct esc_signin_attempt *a = b->a;
	int64_t pair = 0, account = 0, address = 0, end = 0;
	int half = (b->per_account->max + 1) / 2;
	int rc;

	ESC_STORE(rc, s, rate_hit, a->pair, a->account_window_ms, 1, &pair);
	if (!rc)
		ESC_STORE(rc, s, rate_hit, a->account, a->account_window_ms, 1, &account);
	if (!rc)
		ESC_STORE(rc, s, rate_hit, a->address, a->address_window_ms, 1, &address);
	if (rc)
		goto out;
	/* pair, account and address count this attempt: before it, the
	 * address had pair - 1 failures on the account. */
	bool failed_here = pair - 1 > 0;
	if (pair > half || account > (failed_here ? half : b->per_account->max))
		end = window_end(a->account_window_ms, b->per_account, b->now_ms);
	if (address > b->per_address->max) {
		int64_t e = window_end(a->address_window_ms, b->per_address, b->now_ms);
		if (e > end)
			end = e;
	}
	if (end > 0) {
		b->retry_after_ms = end;
		rc = ESC_ERATE;
	}
out:
	return rc;
}

int esc_ratelimit_signin_begin(struct esc_engine *e, const struct esc_ratelimit *per_account,
			       const struct esc_ratelimit *per_address, const char *account,
			       const char *address, int64_t now_ms, struct esc_signin_attempt *a,
			       int64_t *retry_after_ms)
{
	struct begin b = {
		.a = a, .per_account = per_account, .per_address = per_address, .now_ms = now_ms};
	/* Longer is no one's email (ESC_EMAIL_MAX), and counts as its start. */
	char email[ESC_EMAIL_MAX + 1];
	int rc;

	memset(a, 0, sizeof *a);
	snprintf(email, sizeof email, "%s", account);
	for (char *p = email; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	/* An address holds no space: the pair's key splits at the first. */
	snprintf(a->pair, sizeof a->pair, "%s+address:%s %s", per_account->name, address, email);
	snprintf(a->account, sizeof a->account, "%s:%s", per_account->name, email);
	snprintf(a->address, sizeof a->address, "%s:%s", per_address->name, address);
	a->account_window_ms = now_ms - now_ms % per_account->window_ms;
	a->address_window_ms = now_ms - now_ms % per_address->window_ms;
	rc = esc_engine_transact(e, begin_tx, &b);
	if (rc == ESC_ERATE)
		*retry_after_ms = b.retry_after_ms;
	return rc;
}

static int succeeded_tx(struct esc_store *s, void *arg)
{
	const struct esc_signin_attempt *a = arg;
	int64_t count;
	int rc;

	ESC_STORE(rc, s, rate_hit, a->pair, a->account_window_ms, -1, &count);
	if (!rc)
		ESC_STORE(rc, s, rate_hit, a->account, a->account_window_ms, -1, &count);
	if (!rc)
		ESC_STORE(rc, s, rate_hit, a->address, a->address_window_ms, -1, &count);
	return rc;
}

int esc_ratelimit_signin_succeeded(struct esc_engine *e, const struct esc_signin_attempt *a)
{
	return esc_engine_transact(e, succeeded_tx, (void *)a);
}
