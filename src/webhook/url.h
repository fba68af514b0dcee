/* url.h - which URLs escrowd may POST webhooks to (the SSRF guard).
 *
 * A webhook URL is http:// or https://, has a host, carries no user name
 * or password and is at most ESC_WEBHOOK_URL_BYTES_MAX bytes; libcurl's
 * URL API parses it. Unless the configuration says webhooks.allow_private
 * = true, every address its host resolves to must be public: refused are
 *
 *   loopback      127.0.0.0/8, ::1
 *   private       10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7,
 *                 fec0::/10 (the old site-local)
 *   link-local    169.254.0.0/16, fe80::/10
 *   unspecified   0.0.0.0/8, ::
 *   multicast     224.0.0.0/4, ff00::/8
 *   shared        100.64.0.0/10 (carrier-grade NAT)
 *   reserved      240.0.0.0/4 (with 255.255.255.255), ::/96 (IPv4-compatible)
 *
 * and an IPv4 address embedded in IPv6 (::ffff:0:0/96 IPv4-mapped,
 * 64:ff9b::/96 NAT64, 2002::/16 6to4) is judged as that IPv4 address.
 *
 * The check is made twice: when an endpoint is registered
 * (esc_webhook_url_check, which resolves the name), and again on every
 * connection the sender opens (sender.c calls esc_webhook_address_check on
 * the address libcurl is about to connect to), so a name that resolved to
 * a public address then and resolves to 10.0.0.5 now (DNS rebinding) is
 * still refused. */
#ifndef ESC_WEBHOOK_URL_H
#define ESC_WEBHOOK_URL_H

#include <stdbool.h>
#include <stddef.h>

struct sockaddr;

#define ESC_WEBHOOK_URL_BYTES_MAX 2048
/* Bytes to hold a host name from a valid URL, with its NUL. */
#define ESC_WEBHOOK_HOST_SIZE 256

/* Check url's form without resolving anything: http or https, a host, no
 * user or password, at most ESC_WEBHOOK_URL_BYTES_MAX bytes. On success
 * writes the host (without an IPv6 literal's brackets) into host when
 * host is not NULL and returns 0; otherwise writes the reason, addressed
 * to the operator who typed the URL, into err and returns ESC_EINVAL
 * (ESC_ENOMEM when libcurl runs out of memory). */
int esc_webhook_url_parse(const char *url, char host[ESC_WEBHOOK_HOST_SIZE], char *err,
			  size_t err_size);

/* esc_webhook_url_parse, then resolve the host with getaddrinfo (this
 * blocks for as long as the system's resolver takes) and, unless
 * allow_private, refuse it when any of its addresses is not public:
 * "url resolves to 10.0.0.5, a private address; webhooks.allow_private =
 * true allows it". A host that does not resolve is refused too. Returns 0,
 * or ESC_EINVAL with the reason in err (ESC_ENOMEM when memory runs out). */
int esc_webhook_url_check(const char *url, bool allow_private, char *err, size_t err_size);

/* url as a log may show it, in out (size bytes): without a query or a
 * fragment, which often hold a token, and without user:password@. */
void esc_webhook_url_for_log(const char *url, char *out, size_t size);

/* What kind of non-public address address is ("a private address", "a
 * loopback address", ...), or NULL when it is public or not IPv4 or IPv6.
 * The string is static. */
const char *esc_webhook_address_kind(const struct sockaddr *address);

/* Refuse connecting to address unless it is public or allow_private:
 * returns 0, or ESC_EINVAL with "PREFIX ADDRESS, a KIND; webhooks.
 * allow_private = true allows it" in err (prefix, e.g. "url resolves to",
 * is the caller's). */
int esc_webhook_address_check(const struct sockaddr *address, bool allow_private,
			      const char *prefix, char *err, size_t err_size);

#endif
