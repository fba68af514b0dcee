/* signature.h - webhook signing secrets and the Escrowd-Signature header.
 *
 * A secret is "whsec_" followed by 32 random bytes in base64url without
 * padding (RFC 4648 §5: A-Z a-z 0-9 - _), 49 printable characters in all,
 * safe to copy and paste. The HMAC key is the whole secret string's bytes,
 * prefix included, exactly as a receiver copies it: a receiver never
 * decodes anything.
 *
 * Every delivery carries
 *
 *     Escrowd-Signature: t=1767614400,v1=5f2b...(64 hex digits)
 *
 * where t is the time of signing in Unix seconds and v1 is the lowercase hex
 * of HMAC-SHA256(key = secret, message = t in decimal + "." + the raw body)
 * (libsodium's crypto_auth_hmacsha256). While a secret is being rotated the
 * header carries one v1 per secret, the new one first:
 *
 *     Escrowd-Signature: t=1767614400,v1=NEW,v1=OLD
 *
 * A receiver accepts the delivery when t is within its tolerance (300 s)
 * of its own clock and any v1 matches. docs/webhooks.md shows this in
 * Python and Node with a fixed test vector that test_webhook checks.
 *
 * Everything here is pure (no I/O, no clock: the caller passes the times)
 * except esc_webhook_secret_new, which draws randomness. */
#ifndef ESC_WEBHOOK_SIGNATURE_H
#define ESC_WEBHOOK_SIGNATURE_H

#include <stddef.h>
#include <stdint.h>

#define ESC_WEBHOOK_SECRET_PREFIX "whsec_"
/* Random bytes in a secret. */
#define ESC_WEBHOOK_SECRET_RANDOM_BYTES 32
/* Characters of a secret: the prefix and 43 base64url characters. */
#define ESC_WEBHOOK_SECRET_LENGTH 49
/* Bytes to hold a secret with its NUL. */
#define ESC_WEBHOOK_SECRET_SIZE (ESC_WEBHOOK_SECRET_LENGTH + 1)

/* The header's name. */
#define ESC_WEBHOOK_SIGNATURE_HEADER "Escrowd-Signature"
/* Bytes to hold a header value with two v1 entries and its NUL. */
#define ESC_WEBHOOK_SIGNATURE_SIZE 160
/* The longest header value esc_webhook_signature_verify reads. */
#define ESC_WEBHOOK_SIGNATURE_BYTES_MAX 1024
/* Most v1 entries esc_webhook_signature_verify takes in one header. */
#define ESC_WEBHOOK_SIGNATURE_V1_MAX 8
/* How far a receiver lets t be from its clock, either way. */
#define ESC_WEBHOOK_TOLERANCE_S 300

/* Write a new random secret ("whsec_" + 43 characters) into out.
 * Returns 0, or ESC_EBUG when libsodium cannot initialize. */
int esc_webhook_secret_new(char out[ESC_WEBHOOK_SECRET_SIZE]);

/* 1 when s has the form of a secret made by esc_webhook_secret_new (the
 * prefix and 43 base64url characters that decode to 32 bytes), else 0. */
int esc_webhook_secret_valid(const char *s);

/* Write the Escrowd-Signature header value for body (body_bytes bytes,
 * any bytes) signed at t_s (Unix seconds, >= 0) under secret, and, when
 * secret_old is not NULL, under secret_old too as a second v1 entry (the
 * rotation overlap). Secrets are any non-empty strings; their bytes are
 * the key. out gets "t=T,v1=HEX" or "t=T,v1=HEX,v1=HEX_OLD" with its NUL.
 * Returns 0. A NULL or empty secret, a negative t_s or an out smaller than
 * ESC_WEBHOOK_SIGNATURE_SIZE is a bug. */
int esc_webhook_signature_header(char *out, size_t out_size, int64_t t_s, const void *body,
				 size_t body_bytes, const char *secret, const char *secret_old);

/* Check a received Escrowd-Signature header value against body under
 * secret at the receiver's time now_s (Unix seconds), allowing t to be
 * tolerance_s seconds away either way (ESC_WEBHOOK_TOLERANCE_S is the
 * documented value). Any v1 entry matching is enough; each comparison is
 * constant-time. Entries are separated by commas, spaces around them are
 * ignored, and keys other than t and v1 (a future v2) are skipped.
 *
 * Returns 0 when the delivery is authentic; otherwise writes the reason
 * into err (may be NULL) and returns
 *   ESC_EINVAL  the header is malformed: too long, an entry without "=",
 *               no t or two of them, t not a decimal number, no v1, a v1
 *               that is not 64 hex digits, more than
 *               ESC_WEBHOOK_SIGNATURE_V1_MAX v1 entries;
 *   ESC_EUNAUTH t is more than tolerance_s from now_s, or no v1 matches.
 * A NULL header, body (unless body_bytes is 0) or secret, an empty secret
 * or a negative tolerance_s is a bug. */
int esc_webhook_signature_verify(const char *header, const void *body, size_t body_bytes,
				 const char *secret, int64_t now_s, int64_t tolerance_s, char *err,
				 size_t err_size);

#endif
