/* error.h - escrowd's one list of error codes.
 *
 * Every failure and every refusal is a negative ESC_E* code. The list below
 * gives each its API code string, its HTTP status and a default message, so
 * C codes and API codes never drift apart (libuv's error map).
 *
 * These are failures the world can cause (input, the store, memory, the
 * system). A bug of our own aborts instead (util/bug.h); EBUG, despite
 * its name, is what is left: an internal failure that is no one's input,
 * such as libsodium finding no randomness at start. */
#ifndef ESC_ERROR_H
#define ESC_ERROR_H

/* X(NAME, api_code, http_status, message) */
#define ESC_ERRORS(X)                                                                              \
	X(EINVAL, "invalid_request", 400, "the request is not valid")                              \
	X(ENOTFOUND, "not_found", 404, "no such object")                                           \
	X(EUNAUTH, "unauthenticated", 401, "sign in first")                                        \
	X(EFORBIDDEN, "forbidden", 403, "your role may not do this")                               \
	X(ESTATE, "invalid_state", 409, "the order's status does not allow this")                  \
	X(ESHIPPED, "order_shipped", 409,                                                          \
	  "the order has shipped and can no longer be cancelled; "                                 \
	  "open a dispute instead")                                                                \
	X(EPENDING, "cancellation_pending", 409,                                                   \
	  "a cancellation request is open; answer it first")                                       \
	X(EDEADLINE, "deadline_passed", 409, "the deadline for this has passed")                   \
	X(ELIMIT, "limit_reached", 409, "the limit for this order has been reached")               \
	X(ESUSPENDED, "account_suspended", 403, "the account is suspended")                        \
	X(ECONFLICT, "conflict", 409, "the order changed meanwhile")                               \
	X(EPRECONDITION, "precondition_failed", 412,                                               \
	  "the order's version does not match If-Match")                                           \
	X(EIDEMPOTENCY, "idempotency_mismatch", 422,                                               \
	  "the idempotency key was used with another body")                                        \
	X(EAMOUNT, "amount_mismatch", 422, "the amount does not match the order")                  \
	X(EFUNDS, "insufficient_balance", 409, "the store balance is too small")                   \
	X(EDUPLICATE, "already_exists", 409, "it exists already")                                  \
	X(ETOOLARGE, "payload_too_large", 413, "the request body is too large")                    \
	X(EMEDIA, "unsupported_media_type", 415, "the file is not a JPEG, PNG or PDF")             \
	X(ERATE, "rate_limited", 429, "too many attempts; try again later")                        \
	X(EMETHOD, "method_not_allowed", 405, "this path does not take that method")               \
	X(EUNSUPPORTED, "not_supported", 501, "this is not supported by this version of escrowd")  \
	X(ENOMEM, "internal", 500, "out of memory")                                                \
	X(EIO, "internal", 500, "the store failed")                                                \
	X(EBUSY, "unavailable", 503, "the store is unavailable; try again")                        \
	X(ERETRY, "unavailable", 503, "the transaction met a concurrent one; try again")           \
	X(EBUG, "internal", 500, "an internal error")                                              \
	X(ETRACKING, "invalid_tracking_number", 422,                                               \
	  "the tracking number fails its carrier's pattern or check digit")                        \
	X(EPRODUCTION, "production_mode", 403,                                                     \
	  "the daemon runs in production mode: this is for tests only")

enum esc_error {
	ESC_OK = 0,
#define X(name, code, status, msg) ESC_##name,
	ESC_ERROR_FIRST_ = -1000,
	ESC_ERRORS(X)
#undef X
		ESC_ERROR_END_
};

/* Codes run from ESC_EINVAL (-999) upward; all are negative. */

/* The API code string ("not_found"); "internal" for unknown codes. */
const char *esc_error_code(int rc);
/* The HTTP status of a code; 500 for unknown codes. */
int esc_error_status(int rc);
/* The default English message of a code. */
const char *esc_error_message(int rc);
/* The C name of a code ("ESC_ENOTFOUND"), for logs and tests. */
const char *esc_error_name(int rc);

#include <stddef.h>

/* Write a message into a caller's error buffer (err may be NULL or
 * err_size 0: then nothing is written). */
void esc_set_err(char *err, size_t err_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
