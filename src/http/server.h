/* server.h - escrowd serve: the HTTP/JSON API over the engine.
 *
 * libmicrohttpd accepts and parses; the route table (routes.c) says which
 * handler serves a method and path, who may call it and whether it takes a
 * body. Authentication, limits and Idempotency-Keys are applied here,
 * once, for every route. A handler gets its call and gives its answer
 * through handler.h, the contract between the two. */
#ifndef ESC_HTTP_SERVER_H
#define ESC_HTTP_SERVER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "webhook/options.h"

/* http.image_origins (issue 17): the origins items' pictures may come
 * from, at most 8 of at most 100 bytes each. */
#define ESC_IMAGE_ORIGINS_MAX      8
#define ESC_IMAGE_ORIGIN_BYTES_MAX 100

/* http.trusted_proxies (issue 18): at most 16 addresses or CIDR ranges. */
#define ESC_TRUSTED_PROXIES_MAX 16

struct esc_cidr {
	int family;             /* AF_INET or AF_INET6 */
	unsigned char addr[16]; /* 4 bytes for IPv4 */
	unsigned bits;          /* the prefix's length */
};

/* What esc_http_serve tells its caller about its life (escrowd serve
 * passes it on to systemd, cli/main.c). */
enum esc_http_state {
	ESC_HTTP_READY,    /* the socket listens: requests are answered */
	ESC_HTTP_ALIVE,    /* the serving loop turned, about every 100 ms */
	ESC_HTTP_STOPPING, /* asked to stop: finishing the requests in flight */
};

struct esc_http_options {
	/* "HOST:PORT": an IPv4 address, [IPv6] or a host name (the first
	 * of its addresses that binds); port 0 picks one. */
	char listen[280];
	const char *operator_key; /* installed at start when set */
	size_t body_bytes_max;    /* 1 MiB */
	/* 1024: epoll holds idle ones cheaply. Past it, and past
	 * connections_per_address from one address, a new connection
	 * closes the idlest (server.c, conns_make_room). */
	unsigned connections_max;
	/* From one client address, 64; 0: no limit (behind a proxy, every
	 * client has the proxy's address). */
	unsigned connections_per_address;
	/* A connection silent this long is closed, 30 s (a body or an
	 * answer on its way; before a request, header_timeout_ms is shorter). */
	unsigned timeout_s;
	/* A request's line and headers must all arrive within this of the
	 * connection's start or of the previous answer on it, 10 s. */
	int64_t header_timeout_ms;
	/* A body may take body_timeout_ms, 10 s, and a second more for each
	 * body_rate_min bytes (1 KiB) that arrived: a body slower than that
	 * on average is cut off. */
	int64_t body_timeout_ms;
	size_t body_rate_min;
	int64_t session_idle_ms; /* 12 hours */
	unsigned threads;        /* worker threads, 32: each waits out its commit */
	int signin_per_account;  /* failures per account per 15 minutes, 10 (ratelimit.h) */
	int signin_per_address;  /* failures per address per minute, 30 */
	unsigned hashing_max;    /* argon2id hashes running at once, 2 */
	bool quiet;              /* no request log lines */
	/* mode = test (SPEC §8): a manual clock is served, and
	 * POST /v1/clock/advance moves it. false, production, the default:
	 * esc_http_serve refuses an engine on a manual clock, and the route
	 * answers 403 production_mode. */
	bool test_mode;
	/* The origins ("https://img.example.com", "http://127.0.0.1:8000")
	 * an item's image_url may name, each after one space; the
	 * Content-Security-Policy's img-src lists them. "" for none: an
	 * order may then carry no image_url. */
	char image_origins[ESC_IMAGE_ORIGINS_MAX * (ESC_IMAGE_ORIGIN_BYTES_MAX + 1) + 1];
	/* The proxies whose X-Forwarded-For and X-Forwarded-Proto are
	 * believed (issue 18): from anyone else both are ignored. */
	struct esc_cidr trusted_proxies[ESC_TRUSTED_PROXIES_MAX];
	size_t trusted_proxies_count;
	/* Strict-Transport-Security's max-age on answers served over https
	 * (TLS, or a trusted proxy's https); 0: none. */
	int64_t hsts_ms;
	/* TLS served here: PEM files of the certificate (chain) and its
	 * key; both empty for plain HTTP. */
	char tls_cert[256], tls_key[256];
	/* "HOST:PORT" of the admin listener, which serves /metrics and
	 * /healthz alone (the API's listener then answers /metrics with a
	 * 404); "" for none. */
	char admin_listen[280];
	struct esc_webhook_options webhooks; /* the file's webhooks. keys */
	/* Called from the serving thread as its state changes; NULL: none. */
	void (*on_state)(void *arg, enum esc_http_state state);
	void *on_state_arg;
};

void esc_http_options_default(struct esc_http_options *o);

/* One setting from the configuration file's http. keys (the key without
 * its prefix): threads, connections_max, connections_per_address,
 * timeout, header_timeout, body_timeout, body_rate_min, body_max,
 * session_idle, signin_per_account, signin_per_address, hashing_max,
 * image_origins (origins separated by spaces: https://HOST[:PORT], or
 * http:// for a loopback host: localhost, 127.x.x.x, [::1]),
 * trusted_proxies (addresses and CIDR ranges separated by spaces or
 * commas), hsts (a duration, 0 for none), tls_cert, tls_key (files),
 * admin_listen (HOST:PORT).
 * ESC_EINVAL with why in err for an unknown key or a bad value. */
int esc_http_option_set(struct esc_http_options *o, const char *key, const char *value, char *err,
			size_t err_size);

/* A listen address's syntax (--listen, http.admin_listen; name says
 * which): HOST:PORT with an IPv4 address, [IPv6] or a host name, and a
 * port 0-65535. The host, without brackets, into host (host_size bytes;
 * 256 is enough); ESC_EINVAL with why in err. Nothing is resolved. */
int esc_http_listen_check(const char *name, const char *listen, char *host, size_t host_size,
			  char *err, size_t err_size);

/* Serve until *stop becomes non-zero (SIGTERM, SIGINT), then finish the
 * requests in flight and return 0. On a start failure err says why. The
 * bound port is written to *port when port is not NULL, and "listening on
 * http://HOST:PORT" goes to stderr once the socket is open. */
int esc_http_serve(struct esc_engine *e, const struct esc_http_options *opt,
		   volatile sig_atomic_t *stop, uint16_t *port, char *err, size_t err_size);

#endif
