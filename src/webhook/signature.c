/* signature.c - webhook secrets and the Escrowd-Signature header: HMAC-SHA256
 * over "t.body", several v1 entries during a rotation (signature.h). */
#include "webhook/signature.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "util/bug.h"
#include "util/error.h"

#define PREFIX_LENGTH  (sizeof ESC_WEBHOOK_SECRET_PREFIX - 1)
#define MAC_HEX_LENGTH (crypto_auth_hmacsha256_BYTES * 2)

_Static_assert(
	PREFIX_LENGTH + sodium_base64_ENCODED_LEN(ESC_WEBHOOK_SECRET_RANDOM_BYTES,
						  sodium_base64_VARIANT_URLSAFE_NO_PADDING) ==
		ESC_WEBHOOK_SECRET_SIZE,
	"a secret is the prefix and the base64url of its random bytes");
/* "t=" + 20 digits + two ",v1=HEX" + NUL */
_Static_assert(2 + 20 + 2 * (4 + MAC_HEX_LENGTH) + 1 <= ESC_WEBHOOK_SIGNATURE_SIZE,
	       "ESC_WEBHOOK_SIGNATURE_SIZE holds two v1 entries");

int esc_webhook_secret_new(char out[ESC_WEBHOOK_SECRET_SIZE])
{
	unsigned char random[ESC_WEBHOOK_SECRET_RANDOM_BYTES];

	if (sodium_init() < 0)
		return ESC_EBUG;
	randombytes_buf(random, sizeof random);
	memcpy(out, ESC_WEBHOOK_SECRET_PREFIX, PREFIX_LENGTH);
	sodium_bin2base64(out + PREFIX_LENGTH, ESC_WEBHOOK_SECRET_SIZE - PREFIX_LENGTH, random,
			  sizeof random, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(random, sizeof random);
	ESC_ASSERT(strlen(out) == ESC_WEBHOOK_SECRET_LENGTH, "secret of %zu characters",
		   strlen(out));
	return 0;
}

int esc_webhook_secret_valid(const char *s)
{
	unsigned char bin[ESC_WEBHOOK_SECRET_RANDOM_BYTES + 1];
	size_t bin_bytes = 0;
	const char *end = NULL;

	if (s == NULL || strlen(s) != ESC_WEBHOOK_SECRET_LENGTH ||
	    strncmp(s, ESC_WEBHOOK_SECRET_PREFIX, PREFIX_LENGTH) != 0)
		return 0;
	if (sodium_base642bin(bin, sizeof bin, s + PREFIX_LENGTH,
			      ESC_WEBHOOK_SECRET_LENGTH - PREFIX_LENGTH, NULL, &bin_bytes, &end,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return 0;
	return *end == '\0' && bin_bytes == ESC_WEBHOOK_SECRET_RANDOM_BYTES;
}

/* mac = HMAC-SHA256(secret, t + "." + body) */
static void sign(unsigned char mac[crypto_auth_hmacsha256_BYTES], int64_t t_s, const void *body,
		 size_t body_bytes, const char *secret)
{
	crypto_auth_hmacsha256_state state;
	char t[24];
	int t_length = snprintf(t, sizeof t, "%" PRId64 ".", t_s);

	ESC_ASSERT(t_length > 1 && (size_t)t_length < sizeof t, "t=%" PRId64, t_s);
	crypto_auth_hmacsha256_init(&state, (const unsigned char *)secret, strlen(secret));
	crypto_auth_hmacsha256_update(&state, (const unsigned char *)t, (size_t)t_length);
	if (body_bytes > 0)
		crypto_auth_hmacsha256_update(&state, body, body_bytes);
	crypto_auth_hmacsha256_final(&state, mac);
	sodium_memzero(&state, sizeof state);
}

static size_t add_v1(char *out, size_t out_size, int64_t t_s, const void *body, size_t body_bytes,
		     const char *secret)
{
	unsigned char mac[crypto_auth_hmacsha256_BYTES];

	ESC_ASSERT(out_size >= 4 + MAC_HEX_LENGTH + 1, "room for a v1 entry");
	sign(mac, t_s, body, body_bytes, secret);
	memcpy(out, ",v1=", 4);
	sodium_bin2hex(out + 4, out_size - 4, mac, sizeof mac);
	return 4 + MAC_HEX_LENGTH;
}

int esc_webhook_signature_header(char *out, size_t out_size, int64_t t_s, const void *body,
				 size_t body_bytes, const char *secret, const char *secret_old)
{
	size_t length;
	int n;

	ESC_ASSERT(out != NULL && out_size >= ESC_WEBHOOK_SIGNATURE_SIZE, "out of %zu bytes",
		   out_size);
	ESC_ASSERT(secret != NULL && secret[0] != '\0', "a secret");
	ESC_ASSERT(secret_old == NULL || secret_old[0] != '\0', "an old secret, if any");
	ESC_ASSERT(t_s >= 0, "t=%" PRId64, t_s);
	ESC_ASSERT(body != NULL || body_bytes == 0, "a body");
	n = snprintf(out, out_size, "t=%" PRId64, t_s);
	ESC_ASSERT(n > 0 && (size_t)n < out_size, "t fits");
	length = (size_t)n;
	length += add_v1(out + length, out_size - length, t_s, body, body_bytes, secret);
	if (secret_old != NULL)
		length +=
			add_v1(out + length, out_size - length, t_s, body, body_bytes, secret_old);
	ESC_ASSERT(length < out_size && out[length] == '\0', "header fits");
	return 0;
}

/* Parse a decimal of 1 to 18 digits (no sign) into *out. */
static int parse_seconds(const char *s, size_t length, int64_t *out)
{
	int64_t value = 0;

	if (length == 0 || length > 18)
		return -1;
	for (size_t i = 0; i < length; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		value = value * 10 + (s[i] - '0');
	}
	*out = value;
	return 0;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* A parsed Escrowd-Signature header: its t= and its v1= entries. */
struct parsed {
	int64_t t_s; /* -1 until seen */
	unsigned char v1[ESC_WEBHOOK_SIGNATURE_V1_MAX][crypto_auth_hmacsha256_BYTES];
	size_t v1_count;
};

/* One "key=value" entry of the header (entry to end, trimmed) into *h.
 * Unknown keys (v0, a future v2) are skipped. */
static int parse_entry(struct parsed *h, const char *entry, const char *end, char *err,
		       size_t err_size)
{
	const char *equals = memchr(entry, '=', (size_t)(end - entry));
	if (equals == NULL) {
		esc_set_err(err, err_size,
			    "the signature header has an entry without \"=\": \"%.*s\"",
			    (int)(end - entry), entry);
		return ESC_EINVAL;
	}
	size_t key_length = (size_t)(equals - entry);
	const char *value = equals + 1;
	size_t value_length = (size_t)(end - value);

	if (key_length == 1 && entry[0] == 't') {
		if (h->t_s >= 0) {
			esc_set_err(err, err_size, "the signature header has two t= entries");
			return ESC_EINVAL;
		}
		if (parse_seconds(value, value_length, &h->t_s) != 0) {
			esc_set_err(err, err_size,
				    "the signature header's t= is not a number of seconds: "
				    "\"%.*s\"",
				    (int)value_length, value);
			h->t_s = -1;
			return ESC_EINVAL;
		}
	} else if (key_length == 2 && entry[0] == 'v' && entry[1] == '1') {
		size_t bin_bytes = 0;
		const char *hex_end = NULL;

		if (h->v1_count == ESC_WEBHOOK_SIGNATURE_V1_MAX) {
			esc_set_err(err, err_size,
				    "the signature header has more than %d v1= entries",
				    ESC_WEBHOOK_SIGNATURE_V1_MAX);
			return ESC_EINVAL;
		}
		unsigned char *bin = h->v1[h->v1_count];
		if (value_length != MAC_HEX_LENGTH ||
		    sodium_hex2bin(bin, crypto_auth_hmacsha256_BYTES, value, value_length, NULL,
				   &bin_bytes, &hex_end) != 0 ||
		    bin_bytes != crypto_auth_hmacsha256_BYTES || hex_end != end) {
			esc_set_err(err, err_size,
				    "the signature header's v1= is not %d hex digits: \"%.*s\"",
				    (int)MAC_HEX_LENGTH, (int)value_length, value);
			return ESC_EINVAL;
		}
		h->v1_count++;
	}
	return 0;
}

/* The header's comma-separated entries into *h; both t= and a v1= must be
 * there. */
static int parse_header(struct parsed *h, const char *header, char *err, size_t err_size)
{
	const char *p = header;

	h->t_s = -1;
	h->v1_count = 0;
	if (strlen(header) > ESC_WEBHOOK_SIGNATURE_BYTES_MAX) {
		esc_set_err(err, err_size, "the signature header is longer than %d bytes",
			    ESC_WEBHOOK_SIGNATURE_BYTES_MAX);
		return ESC_EINVAL;
	}
	for (;;) {
		while (is_space(*p))
			p++;
		const char *entry = p;
		const char *end = strchr(entry, ',');
		if (end == NULL)
			end = entry + strlen(entry);
		p = end;
		while (end > entry && is_space(end[-1]))
			end--;
		int rc = parse_entry(h, entry, end, err, err_size);
		if (rc)
			return rc;
		if (*p == '\0')
			break;
		p++;
	}
	if (h->t_s < 0) {
		esc_set_err(err, err_size, "the signature header has no t= entry");
		return ESC_EINVAL;
	}
	if (h->v1_count == 0) {
		esc_set_err(err, err_size, "the signature header has no v1= entry");
		return ESC_EINVAL;
	}
	return 0;
}

int esc_webhook_signature_verify(const char *header, const void *body, size_t body_bytes,
				 const char *secret, int64_t now_s, int64_t tolerance_s, char *err,
				 size_t err_size)
{
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	struct parsed h;
	int matched = 0;
	int rc;

	ESC_ASSERT(header != NULL && secret != NULL && secret[0] != '\0', "a header and secret");
	ESC_ASSERT(body != NULL || body_bytes == 0, "a body");
	ESC_ASSERT(tolerance_s >= 0, "tolerance %" PRId64, tolerance_s);
	rc = parse_header(&h, header, err, err_size);
	if (rc)
		return rc;
	if (h.t_s < now_s - tolerance_s || h.t_s > now_s + tolerance_s) {
		esc_set_err(err, err_size,
			    "the signature's timestamp %" PRId64 " is %" PRId64
			    " seconds from now; at most %" PRId64 " are allowed",
			    h.t_s, h.t_s < now_s ? now_s - h.t_s : h.t_s - now_s, tolerance_s);
		return ESC_EUNAUTH;
	}
	sign(mac, h.t_s, body, body_bytes, secret);
	/* Compare with every entry, not stopping at a match, in constant time. */
	for (size_t i = 0; i < h.v1_count; i++)
		matched |= sodium_memcmp(mac, h.v1[i], sizeof mac) == 0;
	sodium_memzero(mac, sizeof mac);
	if (!matched) {
		esc_set_err(err, err_size, "no v1= signature matches the secret and the body");
		return ESC_EUNAUTH;
	}
	return 0;
}
