/* ratelimit.h - fixed-window counters of failed sign-ins, per account and
 * address, per account, and per address. The counts live in the store
 * (rate_hit), so that every process serving one database counts the same
 * failures. */
#ifndef ESC_RATELIMIT_H
#define ESC_RATELIMIT_H

#include <stdint.h>

#include "engine/engine.h"

#define ESC_RATELIMIT_KEY_MAX 400

struct esc_ratelimit {
	const char *name; /* the keys' prefix in the store: "signin.address" */
	int64_t window_ms;
	int max; /* failures allowed per window */
};

/* One sign-in's keys and windows, from esc_ratelimit_signin_begin() to
 * esc_ratelimit_signin_succeeded(). */
struct esc_signin_attempt {
	char pair[ESC_RATELIMIT_KEY_MAX]; /* the account from this address */
	char account[ESC_RATELIMIT_KEY_MAX];
	char address[ESC_RATELIMIT_KEY_MAX];
	int64_t account_window_ms; /* the window of pair and account */
	int64_t address_window_ms;
};

/* The rule (OWASP's authentication guidance: count failures, per account
 * and per source, and let the owner in while someone else guesses).
 * Only failures count: a wrong password, or any password for an unknown
 * email. With per_account->max = M (10) in its window (15 minutes) and
 * per_address->max = A (30) in its own (a minute), an attempt is
 * refused with 429 when
 *   - its address has A failures in the minute, on any accounts; or
 *   - its address has (M + 1) / 2 (5) failures on this account; or
 *   - the account has (M + 1) / 2 failures and the address has failed on
 *     it: past half, only an address without failures on the account
 *     may try (the owner, elsewhere); or
 *   - the account has M failures, whoever tries.
 * So one address gets 5 guesses at an account per window, and any number
 * of addresses together get M (10, as when every attempt counted): the
 * first 5, then one from each new address. Ten wrong passwords from one
 * address leave the owner free to sign in from another; a guesser with
 * six addresses or more can still make the account refuse everyone until
 * its window ends, the price of the bound.
 *
 * begin counts the attempt as a failure before the password is checked,
 * in the transaction that checks the counts, so that concurrent attempts
 * (from any process) cannot pass the limits together; a refused attempt
 * counts nothing. It returns 0 when the attempt may go on, ESC_ERATE with
 * *retry_after_ms (until the refusing windows end) when it may not, or
 * the store's failure. account is the email as typed (compared without
 * case), address the client's. */
int esc_ratelimit_signin_begin(struct esc_engine *e, const struct esc_ratelimit *per_account,
			       const struct esc_ratelimit *per_address, const char *account,
			       const char *address, int64_t now_ms, struct esc_signin_attempt *a,
			       int64_t *retry_after_ms);

/* The password was right: take back what begin counted, in the windows it
 * counted in (nothing when they have ended). 0 or the store's failure. */
int esc_ratelimit_signin_succeeded(struct esc_engine *e, const struct esc_signin_attempt *a);

#endif
