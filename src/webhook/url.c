/* url.c - the webhook URL guard: libcurl's URL API for the form,
 * getaddrinfo and an address table for where it leads (url.h). */
#include "webhook/url.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "util/bug.h"
#include "util/error.h"

#define ALLOW_HINT "webhooks.allow_private = true allows it"

/* IPv4 ranges that are not public, in host byte order. */
static const struct {
	uint32_t network;
	int prefix_bits;
	const char *kind;
} ipv4_ranges[] = {
	{0x00000000, 8, "an unspecified address"},
	{0x0A000000, 8, "a private address"},
	{0x64400000, 10, "a shared (carrier-grade NAT) address"},
	{0x7F000000, 8, "a loopback address"},
	{0xA9FE0000, 16, "a link-local address"},
	{0xAC100000, 12, "a private address"},
	{0xC0000000, 24, "a reserved address"}, /* IETF protocol assignments */
	{0xC0A80000, 16, "a private address"},
	{0xC6120000, 15, "a benchmarking address"},
	{0xE0000000, 4, "a multicast address"},
	{0xF0000000, 4, "a reserved address"},
};

static const char *ipv4_kind(uint32_t address)
{
	for (size_t i = 0; i < sizeof ipv4_ranges / sizeof ipv4_ranges[0]; i++) {
		uint32_t mask = UINT32_MAX << (32 - ipv4_ranges[i].prefix_bits);
		if ((address & mask) == ipv4_ranges[i].network)
			return ipv4_ranges[i].kind;
	}
	return NULL;
}

static uint32_t ipv4_at(const unsigned char *bytes)
{
	return (uint32_t)bytes[0] << 24 | (uint32_t)bytes[1] << 16 | (uint32_t)bytes[2] << 8 |
	       (uint32_t)bytes[3];
}

static const char *ipv6_kind(const unsigned char a[16])
{
	static const unsigned char zero[12] = {0};
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	/* IPv4-translated (RFC 2765): ::ffff:0:a.b.c.d */
	static const unsigned char translated[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0};
	static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b};
	static const unsigned char nat64_local[6] = {0, 0x64, 0xff, 0x9b, 0, 1}; /* /48 */
	static const unsigned char discard[8] = {0x01, 0x00};                   /* 100::/64 */

	if (memcmp(a, zero, 12) == 0) {
		uint32_t low = ipv4_at(a + 12);
		if (low == 0)
			return "an unspecified address";
		if (low == 1)
			return "a loopback address";
		return "a reserved address"; /* IPv4-compatible, deprecated */
	}
	if (memcmp(a, mapped, 12) == 0 || memcmp(a, translated, 12) == 0 ||
	    memcmp(a, nat64, 12) == 0)
		return ipv4_kind(ipv4_at(a + 12));
	/* Local-use NAT64 (RFC 8215): a translator of the network's own. */
	if (memcmp(a, nat64_local, 6) == 0)
		return "a private address";
	if (memcmp(a, discard, 8) == 0)
		return "a reserved address";
	/* 2001::/23, IETF protocol assignments: Teredo, benchmarking, ... */
	if (a[0] == 0x20 && a[1] == 0x01 && a[2] < 0x02)
		return "a reserved address";
	if (a[0] == 0x20 && a[1] == 0x02)
		return ipv4_kind(ipv4_at(a + 2)); /* 6to4 */
	if ((a[0] & 0xfe) == 0xfc)
		return "a private address";
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
		return "a link-local address";
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0)
		return "a private address";
	if (a[0] == 0xff)
		return "a multicast address";
	return NULL;
}

const char *esc_webhook_address_kind(const struct sockaddr *address)
{
	ESC_ASSERT(address != NULL, "an address");
	if (address->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)address;
		return ipv4_kind(ntohl(in->sin_addr.s_addr));
	}
	if (address->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)address;
		return ipv6_kind(in6->sin6_addr.s6_addr);
	}
	return NULL;
}

int esc_webhook_address_check(const struct sockaddr *address, bool allow_private,
			      const char *prefix, char *err, size_t err_size)
{
	char text[INET6_ADDRSTRLEN] = "?";
	const char *kind;

	if (allow_private)
		return 0;
	kind = esc_webhook_address_kind(address);
	if (kind == NULL && (address->sa_family == AF_INET || address->sa_family == AF_INET6))
		return 0;
	if (address->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)address)->sin_addr, text,
			  sizeof text);
	else if (address->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)address)->sin6_addr, text,
			  sizeof text);
	if (kind == NULL)
		esc_set_err(err, err_size, "%s an address that is neither IPv4 nor IPv6", prefix);
	else
		esc_set_err(err, err_size, "%s %s, %s; " ALLOW_HINT, prefix, text, kind);
	return ESC_EINVAL;
}

static int url_error(CURLUcode uc, char *err, size_t err_size)
{
	if (uc == CURLUE_OUT_OF_MEMORY)
		return ESC_ENOMEM;
	esc_set_err(err, err_size, "url is not a valid URL: %s", curl_url_strerror(uc));
	return ESC_EINVAL;
}

/* The parsed url's scheme is http or https, followed by "//" and a host
 * as written. */
static int check_scheme(CURLU *u, const char *url, char *err, size_t err_size)
{
	char *scheme = NULL;
	size_t length;
	int rc = 0;
	CURLUcode uc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);

	if (uc != CURLUE_OK) {
		rc = url_error(uc, err, err_size);
		goto out;
	}
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
		esc_set_err(err, err_size, "url must start with http:// or https://, not %s://",
			    scheme);
		rc = ESC_EINVAL;
		goto out;
	}
	/* libcurl reads "https:/host" and "https:///host" as https://host;
	 * an operator who typed either meant something else. */
	length = strlen(scheme);
	if (strncasecmp(url, scheme, length) != 0 || strncmp(url + length, "://", 3) != 0 ||
	    url[length + 3] == '/' || url[length + 3] == '\\') {
		esc_set_err(err, err_size, "url has no host: it must start with %s://HOST", scheme);
		rc = ESC_EINVAL;
	}
out:
	curl_free(scheme);
	return rc;
}

int esc_webhook_url_parse(const char *url, char host[ESC_WEBHOOK_HOST_SIZE], char *err,
			  size_t err_size)
{
	CURLU *u = NULL;
	char *part = NULL;
	CURLUcode uc;
	size_t length;
	int rc = 0;

	ESC_ASSERT(url != NULL, "a url");
	if (strlen(url) > ESC_WEBHOOK_URL_BYTES_MAX) {
		esc_set_err(err, err_size, "url is longer than %d bytes",
			    ESC_WEBHOOK_URL_BYTES_MAX);
		rc = ESC_EINVAL;
		goto out;
	}
	u = curl_url();
	if (u == NULL) {
		rc = ESC_ENOMEM;
		goto out;
	}
	/* Any scheme parses, so that "ftp://" gets the message below. */
	uc = curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
	if (uc != CURLUE_OK) {
		rc = url_error(uc, err, err_size);
		goto out;
	}
	rc = check_scheme(u, url, err, err_size);
	if (rc)
		goto out;
	uc = curl_url_get(u, CURLUPART_USER, &part, 0);
	if (uc == CURLUE_OK || (uc = curl_url_get(u, CURLUPART_PASSWORD, &part, 0)) == CURLUE_OK) {
		esc_set_err(err, err_size,
			    "url must not carry a user name or password; "
			    "the signature authenticates escrowd to the receiver");
		rc = ESC_EINVAL;
		goto out;
	}
	uc = curl_url_get(u, CURLUPART_HOST, &part, 0);
	if (uc != CURLUE_OK || part[0] == '\0') {
		esc_set_err(err, err_size, "url has no host");
		rc = ESC_EINVAL;
		goto out;
	}
	length = strlen(part);
	if (part[0] == '[' && length >= 2 && part[length - 1] == ']') {
		memmove(part, part + 1, length - 2);
		part[length - 2] = '\0';
		length -= 2;
	}
	if (length >= ESC_WEBHOOK_HOST_SIZE) {
		esc_set_err(err, err_size, "url's host is longer than %d bytes",
			    ESC_WEBHOOK_HOST_SIZE - 1);
		rc = ESC_EINVAL;
		goto out;
	}
	/* libcurl takes port 0, which no delivery can reach. */
	char *port = NULL;
	if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK && atoi(port) == 0) {
		esc_set_err(err, err_size, "url's port must be from 1 to 65535");
		rc = ESC_EINVAL;
	}
	curl_free(port);
	if (!rc && host != NULL)
		memcpy(host, part, length + 1);
out:
	curl_free(part);
	curl_url_cleanup(u);
	return rc;
}

int esc_webhook_url_check(const char *url, bool allow_private, char *err, size_t err_size)
{
	char host[ESC_WEBHOOK_HOST_SIZE];
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_IDN};
	struct addrinfo *list = NULL;
	int gai;
	int rc;

	rc = esc_webhook_url_parse(url, host, err, err_size);
	if (rc)
		goto out;
	gai = getaddrinfo(host, NULL, &hints, &list);
	if (gai == EAI_MEMORY) {
		rc = ESC_ENOMEM;
		goto out;
	}
	if (gai != 0) {
		esc_set_err(err, err_size, "url's host %s does not resolve: %s", host,
			    gai_strerror(gai));
		rc = ESC_EINVAL;
		goto out;
	}
	for (const struct addrinfo *a = list; a != NULL; a = a->ai_next) {
		rc = esc_webhook_address_check(a->ai_addr, allow_private, "url resolves to", err,
					       err_size);
		if (rc)
			goto out;
	}
out:
	if (list != NULL)
		freeaddrinfo(list);
	return rc;
}

void esc_webhook_url_for_log(const char *url, char *out, size_t size)
{
	const char *host = strstr(url, "://");
	host = host ? host + 3 : url;
	size_t scheme = (size_t)(host - url);
	const char *at = memchr(host, '@', strcspn(host, "/?#"));
	const char *from = at ? at + 1 : host;
	snprintf(out, size, "%.*s%.*s", (int)scheme, url, (int)strcspn(from, "?#"), from);
}
