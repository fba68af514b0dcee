/* server.c - libmicrohttpd glue: bodies, limits, authentication, routing,
 * JSON responses, the deadline ticker and a clean stop. */
#include "http/server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netdb.h>
#include <stdarg.h>
#include <stddef.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <sodium.h>

#include "http/handler.h"
#include "http/idempotency.h"
#include "http/keys.h"
#include "http/routes.h"
#include "util/bug.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/json.h"
#include "util/log.h"
#include "util/text.h"
#include "util/strbuf.h"
#include "util/timefmt.h"

#define JSON_DEPTH_MAX 32
_Static_assert(JSON_DEPTH_MAX == ESC_JSON_READ_DEPTH_MAX,
	       "esc_json_parse reads bodies as deep as read_body accepts");
#define COOKIE_NAME    "escrowd_session"

/* Prometheus counters: requests by route and status, and one latency
 * histogram. Updated with relaxed atomics from the worker threads. */
static const int statuses[] = {200, 201, 202, 204, 304, 400, 401, 403, 404, 405,
			       409, 412, 413, 415, 422, 429, 500, 501, 503, 505};
#define STATUSES (sizeof statuses / sizeof statuses[0])
static const double buckets_ms[] = {0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000};
#define BUCKETS    (sizeof buckets_ms / sizeof buckets_ms[0])
#define ROUTES_MAX 128 /* at least esc_routes_count: esc_http_serve checks */

struct metrics {
	_Atomic uint64_t requests[ROUTES_MAX + 1][STATUSES + 1]; /* last row: no route */
	_Atomic uint64_t latency[BUCKETS + 1];
	_Atomic uint64_t latency_sum_us;
	_Atomic uint64_t latency_count;
	_Atomic uint64_t connections_cut;     /* past a head's or a body's deadline */
	_Atomic uint64_t connections_evicted; /* idle, closed to make room */
};

/* A connection from its accept to its close (issue 12 defect 1), and the
 * time by which its client must have sent what it owes: the next
 * request's line and headers, or the body being read. libmicrohttpd's
 * own timeout restarts with every byte, so a client trickling a byte at a
 * time would hold the connection for ever; the reaper thread shuts down
 * the socket of a connection past its deadline, and libmicrohttpd then
 * closes it as closed by the client. The socket is shut down under
 * conns_lock, and libmicrohttpd reports a connection closed (unlinking it
 * under the same lock) before it closes its socket, so the reaper never
 * touches a descriptor that another connection has taken.
 *
 * A pool thread busy with one request (an argon2id hash waiting its turn,
 * a read waiting for the store) reads none of its other connections:
 * what their clients sent waits in the socket. A connection past its
 * deadline whose socket still holds unread bytes is behind through the
 * server's fault, not its client's: it is given the deadline's span again
 * instead of being cut. So is one whose own thread is busy right now:
 * libmicrohttpd may have read its head already and not yet looked at it
 * (it reads every ready connection, then processes each). A slow client
 * cannot use this: an idle thread reads what arrives at once, so its
 * bytes never wait unread, and once the busy thread is free the new
 * deadline runs as any other. */
#define THREAD_SLOTS 256

struct conn {
	int fd;
	int slot;            /* its pool thread's slot in server.busy */
	int64_t deadline_us; /* 0: none, the daemon is answering */
	int64_t span_us;     /* the deadline's length, given again when behind */
	int64_t idle_us;     /* since when it waits for a request's head; 0: not */
	bool reaped;         /* shut down, or about to be dropped */
	bool linger;         /* answered before its body: drain it at the close */
	bool served;         /* a request was answered on it */
	bool line_in;        /* the request line of the head awaited came */
	unsigned char address[17]; /* the client's: family, then its bytes */
	struct conn *prev, *next;
};

/* A connection past the limits (http.connections_per_address from one
 * address, http.connections_max in all) is still accepted and closes the
 * idlest connection, of its own address first (conn_idlest: one waiting
 * for a request's head and holding none, never answered on before one
 * kept alive, then the one waiting longest). Idle connections, or heads
 * trickled a byte at a time, so hold no slot that a client with a
 * request needs. From one address, when none is found, the one of any
 * kind waiting longest goes, else the new connection (conns_make_room;
 * libmicrohttpd's own count per address would also count the closed ones
 * it has not yet seen go, and refuse in a burst). In all, the new one
 * stays, and libmicrohttpd stops accepting an eighth past
 * connections_max: new connections wait in the listen queue. */
static unsigned limit_hard(unsigned limit)
{
	return limit + limit / 8 + 1;
}

/* A connection answered before its body was read (a 413 for a body too
 * large, a 400 for a bad head) is closed with the client perhaps still
 * sending. Closed with unread bytes, a socket resets, and the client's
 * system may drop the answer unread: so its socket is kept (a duplicate
 * of libmicrohttpd's descriptor) and drained for up to LINGER_US, until
 * the client, having read the answer, closes (Apache's and nginx's
 * lingering close). */
#define LINGER_MAX 256
#define LINGER_US  (2 * 1000 * 1000)

struct lingering {
	int fd;
	int64_t until_us;
};

/* The server (handler.h names it for esc_http_metrics; its members are
 * this file's). */
struct esc_http_server {
	struct esc_engine *e;
	struct esc_http_options opt;
	struct esc_http_limits *limits;
	struct metrics *metrics;
	struct esc_idem_running running; /* Idempotency-Keys running here */
	pthread_mutex_t conns_lock;      /* conns and every conn's fields */
	pthread_cond_t conns_wake;       /* the reaper's stop */
	struct conn *conns;
	size_t conns_count;
	bool reaper_stop;
	struct lingering lingering[LINGER_MAX];
	size_t lingering_count;
	/* Per pool thread (by slot): requests it is answering right now. */
	atomic_int busy[THREAD_SLOTS];
	/* Per pool thread (by slot): a request's block, ended and kept for
	 * the next (on_uri, on_completed). A request is 4 KB: allocated
	 * anew, its calloc made malloc merge every small block the last
	 * answer freed (malloc_consolidate), 4 % of a GET's CPU. */
	_Atomic(struct request *) spare[THREAD_SLOTS];
	atomic_int slots_given;
	/* Commands left to the engine's writer (command_queue): suspended
	 * counts the connections suspended until their commit, queued those
	 * whose request has not ended yet. At the stop, no command is left
	 * to the writer any more (stopping), and libmicrohttpd is stopped
	 * only once none is suspended: it would abort otherwise. */
	pthread_mutex_t queue_lock;
	pthread_cond_t queue_idle;
	size_t suspended, queued;
	bool stopping;
	/* Past the drain (drain_commands): libmicrohttpd is about to close
	 * every connection, so a change that comes in now is refused (503,
	 * nothing done) rather than done with its answer lost. */
	bool closing;
	bool tls;      /* TLS served here (http.tls_cert) */
	bool loopback; /* listening on a loopback address only */
	/* Bytes of files (evidence) answered and not yet sent or dropped:
	 * each is held in memory until its client has read it. */
	atomic_size_t files_held;
};

struct request {
	struct esc_strbuf body;
	int64_t started_us;
	char id[20]; /* the request id, in the log and X-Request-Id */
	char etag[24]; /* the answer's ETag (the handler's), or empty */
	int route;     /* index into esc_routes, or -1 */
	/* The route found once, with the head (on_head), for dispatch: its
	 * row, its {id} (in path) and whether another method has the path. */
	const struct esc_route *found;
	const char *param;
	bool path_known;
	int status;
	bool too_large;
	bool head_read; /* the handler saw the line and headers */
	bool answered;  /* a response is queued: later calls do nothing */
	bool close;     /* answer with Connection: close */
	struct conn *conn;
	/* The request's target as received, before libmicrohttpd decodes
	 * it in place; uri_bad says why it is refused, when it is. */
	const char *uri_at;
	size_t uri_len;
	char uri_bad[120];
	int64_t body_started_us;
	uint64_t body_received;
	uint64_t body_length; /* by Content-Length; UINT64_MAX when chunked */
	/* The handler's call, kept with the request: a command's answer is
	 * sent by a later call of on_request, once its commit is durable
	 * (handler.h's esc_http_pending). call.param points into path. */
	struct esc_http_call call;
	struct esc_idempotency idem;
	struct esc_idem_claim claim;
	char path[512];
	/* A command left to the writer: its connection is suspended until
	 * on_committed sets committed and resumes it. */
	struct esc_http_server *srv;
	struct MHD_Connection *connection;
	bool queued;  /* its answer is still owed */
	bool counted; /* in srv->queued until the request ends */
	atomic_bool committed;
	char method[8], target[200]; /* for the log, should its client go */
};

void esc_http_options_default(struct esc_http_options *o)
{
	memset(o, 0, sizeof *o);
	snprintf(o->listen, sizeof o->listen, "127.0.0.1:8080");
	o->body_bytes_max = 1024 * 1024;
	o->connections_max = 1024;
	o->connections_per_address = 64;
	o->timeout_s = 30;
	o->header_timeout_ms = 10 * 1000;
	o->body_timeout_ms = 10 * 1000;
	o->body_rate_min = 1024;
	o->session_idle_ms = 12 * ESC_MS_PER_HOUR;
	/* No thread waits for a commit (command_queue): the threads serve
	 * reads and sign-ins, whose argon2id holds its thread, and every
	 * connection a thread serves waits while it does. Measured with 4,
	 * 8, 16 and 32 (issue 15): fewer gave smaller commits and more CPU
	 * per command, 16 and 32 were level; 32 lets a burst of sign-ins
	 * stall fewer connections. */
	o->threads = 32;
	o->signin_per_account = 10;
	o->signin_per_address = 30;
	o->hashing_max = 2;
	esc_webhook_options_default(&o->webhooks);
}

/* A whole number from min to max, with an optional KiB or MiB unit when
 * bytes. */
static int parse_number(const char *value, bool bytes, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(value, &end, 10);
	if (end == value || *value == '-' || *value == '+' || errno)
		return ESC_EINVAL;
	while (*end == ' ')
		end++;
	if (bytes && !strcmp(end, "KiB"))
		v = v > INT64_MAX / 1024 ? INT64_MAX : v * 1024;
	else if (bytes && !strcmp(end, "MiB"))
		v = v > INT64_MAX / (1024 * 1024) ? INT64_MAX : v * 1024 * 1024;
	else if (*end)
		return ESC_EINVAL;
	if (v < min || v > max)
		return ESC_EINVAL;
	*out = v;
	return 0;
}

/* One origin of http.image_origins, of len bytes at s: a scheme, a host
 * and perhaps a port, nothing else. https for any host; http only for a
 * loopback one, since a page served over https would not load it. */
static bool image_origin_ok(const char *s, size_t len)
{
	const char *host, *end = s + len, *port = NULL;
	bool https = len > 8 && !strncmp(s, "https://", 8);
	if (len > ESC_IMAGE_ORIGIN_BYTES_MAX || (!https && (len <= 7 || strncmp(s, "http://", 7))))
		return false;
	host = s + (https ? 8 : 7);
	if (*host == '[') {
		const char *close = memchr(host, ']', (size_t)(end - host));
		if (!close || close == host + 1)
			return false;
		for (const char *c = host + 1; c < close; c++)
			if (!isxdigit((unsigned char)*c) && *c != ':' && *c != '.')
				return false;
		port = close + 1 < end ? close + 1 : NULL;
		if (port && *port != ':')
			return false;
	} else {
		const char *c = host;
		while (c < end && (isalnum((unsigned char)*c) || *c == '-' || *c == '.'))
			c++;
		if (c == host || host[0] == '.' || host[0] == '-' || c[-1] == '.' || c[-1] == '-')
			return false;
		port = c < end ? c : NULL;
		if (port && *port != ':')
			return false;
	}
	if (port) {
		long v = 0;
		if (port + 1 == end || end - port > 6)
			return false;
		for (const char *c = port + 1; c < end; c++) {
			if (!isdigit((unsigned char)*c))
				return false;
			v = v * 10 + (*c - '0');
		}
		if (v < 1 || v > 65535)
			return false;
	}
	if (!https) {
		size_t hl = (size_t)((port ? port : end) - host);
		bool loop =
			(hl == 9 && !strncasecmp(host, "localhost", 9)) ||
			(hl == 5 && !strncmp(host, "[::1]", 5)) ||
			(hl >= 9 && !strncmp(host, "127.", 4) && isdigit((unsigned char)host[4]));
		if (!loop)
			return false;
	}
	return true;
}

/* http.image_origins = ORIGIN ...: each checked, kept with a space before
 * it (as img-src lists them). */
static int image_origins_set(struct esc_http_options *o, const char *value, char *err,
			     size_t err_size)
{
	char kept[sizeof o->image_origins] = "";
	size_t used = 0;
	int n = 0;
	for (const char *s = value; *s;) {
		size_t len = strcspn(s, " \t");
		if (!len) {
			s++;
			continue;
		}
		if (!image_origin_ok(s, len)) {
			esc_set_err(err, err_size,
				    "http.image_origins: '%.*s' is not an origin like "
				    "https://img.example.com or https://cdn.example.com:8443 (a "
				    "scheme and a host, no path; http:// only for a loopback host)",
				    (int)(len > ESC_IMAGE_ORIGIN_BYTES_MAX
						  ? ESC_IMAGE_ORIGIN_BYTES_MAX
						  : len),
				    s);
			return ESC_EINVAL;
		}
		if (++n > ESC_IMAGE_ORIGINS_MAX) {
			esc_set_err(err, err_size, "http.image_origins: at most %d origins",
				    ESC_IMAGE_ORIGINS_MAX);
			return ESC_EINVAL;
		}
		kept[used++] = ' ';
		memcpy(kept + used, s, len);
		used += len;
		kept[used] = '\0';
		s += len;
	}
	memcpy(o->image_origins, kept, sizeof kept);
	return 0;
}

/* An IP address (IPv4, or IPv6 perhaps in brackets) of len bytes at s
 * into family and addr; an IPv4-mapped IPv6 address is its IPv4 one. */
static bool ip_parse(const char *s, size_t len, int *family, unsigned char addr[16])
{
	char text[INET6_ADDRSTRLEN + 2];
	if (len && s[0] == '[' && s[len - 1] == ']') {
		s++;
		len -= 2;
	}
	if (!len || len >= sizeof text)
		return false;
	memcpy(text, s, len);
	text[len] = '\0';
	if (inet_pton(AF_INET, text, addr) == 1) {
		*family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, text, addr) != 1)
		return false;
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	*family = AF_INET6;
	if (!memcmp(addr, mapped, sizeof mapped)) {
		memmove(addr, addr + 12, 4);
		*family = AF_INET;
	}
	return true;
}

/* http.trusted_proxies = ADDRESS[/BITS] ...: separated by spaces or
 * commas; "" trusts none. */
static int trusted_proxies_set(struct esc_http_options *o, const char *value, char *err,
			       size_t err_size)
{
	struct esc_cidr kept[ESC_TRUSTED_PROXIES_MAX];
	size_t n = 0;
	const char *s = value;
	for (;;) {
		while (*s == ' ' || *s == ',' || *s == '\t')
			s++;
		if (!*s)
			break;
		size_t len = strcspn(s, " ,\t");
		const char *slash = memchr(s, '/', len);
		size_t alen = slash ? (size_t)(slash - s) : len;
		struct esc_cidr c = {0};
		bool ok = ip_parse(s, alen, &c.family, c.addr);
		unsigned max = c.family == AF_INET ? 32 : 128;
		c.bits = max;
		if (ok && slash) {
			int64_t bits = -1;
			char digits[8] = "";
			size_t dlen = len - alen - 1;
			if (dlen && dlen < sizeof digits) {
				memcpy(digits, slash + 1, dlen);
				digits[dlen] = '\0';
			}
			ok = dlen && dlen < sizeof digits &&
			     !parse_number(digits, false, 0, max, &bits);
			c.bits = (unsigned)bits;
		}
		if (!ok) {
			esc_set_err(
				err, err_size,
				"http.trusted_proxies: '%.*s' is not an address or a range like "
				"127.0.0.1, 10.0.0.0/8 or fd00::/8",
				(int)(len > 100 ? 100 : len), s);
			return ESC_EINVAL;
		}
		if (n == ESC_TRUSTED_PROXIES_MAX) {
			esc_set_err(err, err_size,
				    "http.trusted_proxies: at most %d addresses or ranges",
				    ESC_TRUSTED_PROXIES_MAX);
			return ESC_EINVAL;
		}
		kept[n++] = c;
		s += len;
	}
	memcpy(o->trusted_proxies, kept, n * sizeof kept[0]);
	o->trusted_proxies_count = n;
	return 0;
}

/* http.tls_cert and http.tls_key: a file's path, "" for none. */
static int path_set(char *out, size_t size, const char *key, const char *value, char *err,
		    size_t err_size)
{
	if (strlen(value) >= size) {
		esc_set_err(err, err_size, "http.%s: a path of at most %zu bytes", key, size - 1);
		return ESC_EINVAL;
	}
	snprintf(out, size, "%s", value);
	return 0;
}

int esc_http_option_set(struct esc_http_options *o, const char *key, const char *value, char *err,
			size_t err_size)
{
	/* What each key sets: u an unsigned number, i an int, z a size in
	 * bytes, m a duration in ms, s a duration in whole seconds. */
	static const struct {
		const char *key;
		char kind;
		size_t offset;
		int64_t min, max;
		const char *expect;
	} keys[] = {
		{"threads", 'u', offsetof(struct esc_http_options, threads), 1, 256,
		 "a number of threads from 1 to 256"},
		{"connections_max", 'u', offsetof(struct esc_http_options, connections_max), 1,
		 65536, "a number of connections from 1 to 65536"},
		{"connections_per_address", 'u',
		 offsetof(struct esc_http_options, connections_per_address), 0, 65536,
		 "a number of connections from 0 (no limit) to 65536"},
		{"timeout", 's', offsetof(struct esc_http_options, timeout_s), 1000, ESC_MS_PER_DAY,
		 "a duration from 1s to 1d, like 30s"},
		{"header_timeout", 'm', offsetof(struct esc_http_options, header_timeout_ms), 100,
		 ESC_MS_PER_HOUR, "a duration from 100ms to 1h, like 10s"},
		{"body_timeout", 'm', offsetof(struct esc_http_options, body_timeout_ms), 100,
		 ESC_MS_PER_HOUR, "a duration from 100ms to 1h, like 10s"},
		{"body_rate_min", 'z', offsetof(struct esc_http_options, body_rate_min), 1,
		 64 * 1024 * 1024, "a size per second from 1 byte to 64 MiB, like 1KiB"},
		{"body_max", 'z', offsetof(struct esc_http_options, body_bytes_max), 1024,
		 64 * 1024 * 1024, "a size from 1 KiB to 64 MiB, like 1MiB or 65536"},
		{"session_idle", 'm', offsetof(struct esc_http_options, session_idle_ms), 60000,
		 365 * ESC_MS_PER_DAY, "a duration from 1m to 365d, like 12h"},
		{"signin_per_account", 'i', offsetof(struct esc_http_options, signin_per_account),
		 1, 1000000, "a number of attempts from 1 to 1000000"},
		{"signin_per_address", 'i', offsetof(struct esc_http_options, signin_per_address),
		 1, 1000000, "a number of attempts from 1 to 1000000"},
		{"hashing_max", 'u', offsetof(struct esc_http_options, hashing_max), 1, 64,
		 "a number of hashes from 1 to 64"},
		{"hsts", 'm', offsetof(struct esc_http_options, hsts_ms), 0, 730 * ESC_MS_PER_DAY,
		 "a duration from 0 (none) to 730d, like 180d"},
	};
	if (!strcmp(key, "image_origins"))
		return image_origins_set(o, value, err, err_size);
	if (!strcmp(key, "hsts") && !strcmp(value, "0")) {
		o->hsts_ms = 0;
		return 0;
	}
	if (!strcmp(key, "trusted_proxies"))
		return trusted_proxies_set(o, value, err, err_size);
	if (!strcmp(key, "tls_cert"))
		return path_set(o->tls_cert, sizeof o->tls_cert, key, value, err, err_size);
	if (!strcmp(key, "tls_key"))
		return path_set(o->tls_key, sizeof o->tls_key, key, value, err, err_size);
	if (!strcmp(key, "admin_listen")) {
		/* "" for none, as --set http.admin_listen= puts it back. */
		if (strlen(value) >= sizeof o->admin_listen || (*value && !strchr(value, ':'))) {
			esc_set_err(err, err_size,
				    "http.admin_listen: '%s' is not HOST:PORT (127.0.0.1:9090, "
				    "[::1]:9090)",
				    value);
			return ESC_EINVAL;
		}
		snprintf(o->admin_listen, sizeof o->admin_listen, "%s", value);
		return 0;
	}
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		if (strcmp(key, keys[i].key))
			continue;
		char kind = keys[i].kind;
		int64_t v = 0;
		int rc = kind == 'm' || kind == 's'
				 ? esc_duration_parse(value, &v)
				 : parse_number(value, kind == 'z', keys[i].min, keys[i].max, &v);
		if (!rc && (v < keys[i].min || v > keys[i].max))
			rc = ESC_EINVAL;
		if (rc) {
			esc_set_err(err, err_size, "http.%s: '%s' is not %s", key, value,
				    keys[i].expect);
			return ESC_EINVAL;
		}
		char *field = (char *)o + keys[i].offset;
		if (kind == 'u')
			*(unsigned *)(void *)field = (unsigned)v;
		else if (kind == 'i')
			*(int *)(void *)field = (int)v;
		else if (kind == 'z')
			*(size_t *)(void *)field = (size_t)v;
		else if (kind == 'm')
			*(int64_t *)(void *)field = v;
		else
			*(unsigned *)(void *)field = (unsigned)((v + 999) / 1000);
		return 0;
	}
	esc_set_err(err, err_size, "unknown key 'http.%s'", key);
	return ESC_EINVAL;
}

const char *esc_http_query(const struct esc_http_call *call, const char *name)
{
	return MHD_lookup_connection_value((struct MHD_Connection *)call->connection,
					   MHD_GET_ARGUMENT_KIND, name);
}

const char *esc_http_header(const struct esc_http_call *call, const char *name)
{
	return MHD_lookup_connection_value((struct MHD_Connection *)call->connection,
					   MHD_HEADER_KIND, name);
}

/* The hex BLAKE2b-256 of a token: what the store keeps. */
static void token_hash(const char *token, char out[ESC_HASH_HEX_SIZE])
{
	esc_key_hash(token, out);
}

static int json_depth(const json_t *j)
{
	int deepest = 0;
	if (json_is_object(j)) {
		const char *k;
		json_t *v;
		json_object_foreach((json_t *)j, k, v)
		{
			int d = json_depth(v);
			if (d > deepest)
				deepest = d;
		}
		return deepest + 1;
	}
	if (json_is_array(j)) {
		size_t i;
		json_t *v;
		json_array_foreach(j, i, v)
		{
			int d = json_depth(v);
			if (d > deepest)
				deepest = d;
		}
		return deepest + 1;
	}
	return 0;
}

/* What to do about a refusal of code rc, for one whose handler said
 * nothing more: every error document has a hint (SPEC §7). A not_found
 * one reveals nothing: a path, an id that does not exist and an object
 * of another user's get the same. */
static const char *default_hint(int rc)
{
	/* Every code has one: -Wswitch names a code added without it. */
	switch ((enum esc_error)rc) {
	case ESC_EUNAUTH:
		return "sign in with POST /v1/sessions and send its token as Authorization: Bearer "
		       "TOKEN, or an operator key";
	case ESC_ESTATE:
	case ESC_EDEADLINE:
		return "read the object again: an order's or a dispute's actions list what may be "
		       "done now, each with its deadline";
	case ESC_ESUSPENDED:
		return "an arbiter may lift the suspension: ask the marketplace";
	case ESC_ECONFLICT:
		return "read the current state (GET it) and send the request again if it still "
		       "applies";
	case ESC_EPRECONDITION:
		return "read the order again and send its current version in If-Match";
	case ESC_EIDEMPOTENCY:
		return "send a new request with a new Idempotency-Key, or this key with the first "
		       "request's path and body";
	case ESC_EAMOUNT:
		return "send the order's total as amount (GET /v1/orders/{id}: total)";
	case ESC_EFUNDS:
		return "the buyer's store balance is less than the order's total: report the "
		       "payment by card or wallet";
	case ESC_ERATE:
		return "wait for the seconds in Retry-After before trying again";
	case ESC_EBUSY:
	case ESC_ERETRY:
		return "send the request again after Retry-After (a POST with the same "
		       "Idempotency-Key)";
	case ESC_EINVAL:
		return "correct the value the message names and send it again";
	case ESC_ENOTFOUND:
		return "check the path and the id (GET /v1/openapi.json lists the paths); an "
		       "object the caller may not see answers 404 too";
	case ESC_EFORBIDDEN:
		return "sign in with a role that may do this (x-escrowd-who in GET "
		       "/v1/openapi.json names them); a change made with the session cookie also "
		       "sends X-CSRF-Token";
	case ESC_ESHIPPED:
		return "open a dispute instead (POST /v1/orders/{id}/disputes) while the order's "
		       "actions list one";
	case ESC_EPENDING:
		return "the seller answers the cancellation request first (accept or reject); the "
		       "buyer may withdraw it";
	case ESC_ELIMIT:
		return "read the object again: its actions list what may still be done";
	case ESC_EDUPLICATE:
		return "use the one that exists, or send another value";
	case ESC_ETOOLARGE:
		return "send a smaller body";
	case ESC_EMEDIA:
		return "send the Content-Type the route takes: application/json, or for evidence a "
		       "JPEG, PNG or PDF with its own type";
	case ESC_EMETHOD:
		return "GET /v1/openapi.json lists the methods each path takes";
	case ESC_EUNSUPPORTED:
		return "this build or store does not offer it: see the operator's documentation";
	case ESC_ENOMEM:
	case ESC_EIO:
	case ESC_EBUG:
		return "send the request again (a POST with the same Idempotency-Key); if it "
		       "fails again, give the marketplace the X-Request-Id of the answer";
	case ESC_ETRACKING:
		return "check the tracking number with the carrier and send it as the carrier "
		       "printed it";
	case ESC_EPRODUCTION:
		return "run a daemon in test mode (escrowd serve --mode test) for this";
	case ESC_OK:
	case ESC_ERROR_FIRST_:
	case ESC_ERROR_END_:
		break;
	}
	return NULL;
}

/* An error's document gets its code's default hint where it has none. */
static void hint_default(json_t *doc, int rc)
{
	json_t *err = json_object_get(doc, "error");
	const char *hint = default_hint(rc);
	if (json_is_object(err) && hint && !json_object_get(err, "hint"))
		json_object_set_new(err, "hint", json_string(hint));
}

static json_t *error_doc(int rc, const char *message, const char *hint)
{
	/* A message may quote what the client sent (its Content-Type, say),
	 * which need not be UTF-8: JSON holds whole characters only, and a
	 * refusal without its document would say nothing. */
	char text[400];
	snprintf(text, sizeof text, "%s", message && *message ? message : esc_error_message(rc));
	esc_utf8_mend(text);
	json_t *err = json_pack("{s:s, s:s}", "code", esc_error_code(rc), "message", text);
	if (hint)
		json_object_set_new(err, "hint", json_string(hint));
	json_t *doc = json_pack("{s:o}", "error", err);
	hint_default(doc, rc);
	return doc;
}

static void add_hsts(struct MHD_Response *r, const struct request *req, struct MHD_Connection *c);

/* The first block of an answer's text: an order is about 2 KB, and a
 * block grown by doubling would copy it once or twice. */
#define ANSWER_BYTES 4096

#define SERVICE_UNAVAILABLE_RETRY_S "1"

/* Queue r, the answer of status with its headers; r is released. */
static enum MHD_Result respond_with(struct MHD_Connection *c, struct request *req, int status,
				    struct MHD_Response *r, const char *type,
				    const char *set_cookie, const char *retry_after)
{
	req->status = status;
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Request-Id", req->id);
	if (req->close)
		MHD_add_response_header(r, "Connection", "close");
	if (set_cookie && *set_cookie)
		MHD_add_response_header(r, "Set-Cookie", set_cookie);
	if (req->etag[0] && status < 300)
		MHD_add_response_header(r, "ETag", req->etag);
	/* A 503 (the store does not answer, or the daemon is stopping) says
	 * when to try again: a second, as a client sending its key again
	 * would anyway (RFC 9110 section 10.2.3). */
	if (status == 503 && !(retry_after && *retry_after))
		retry_after = SERVICE_UNAVAILABLE_RETRY_S;
	if (retry_after && *retry_after)
		MHD_add_response_header(r, "Retry-After", retry_after);
	add_hsts(r, req, c);
	enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	return ok;
}

static enum MHD_Result respond_text(struct MHD_Connection *c, struct request *req, int status,
				    char *text, const char *type, const char *set_cookie,
				    const char *retry_after)
{
	size_t len = text ? strlen(text) : 0;
	struct MHD_Response *r =
		MHD_create_response_from_buffer(len, text ? text : "", MHD_RESPMEM_MUST_COPY);
	return respond_with(c, req, status, r, type, set_cookie, retry_after);
}

/* JSON text of len bytes, malloc'd (or NULL: an empty body), handed to
 * libmicrohttpd, which frees it once sent: no copy. */
static enum MHD_Result respond_json_owned(struct MHD_Connection *c, struct request *req, int status,
					  char *text, size_t len, const char *set_cookie,
					  const char *retry_after)
{
	struct MHD_Response *r =
		text ? MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE)
		     : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!r)
		free(text);
	return respond_with(c, req, status, r, "application/json", set_cookie, retry_after);
}

/* At most this many bytes of files held for their clients at once (a file
 * of evidence is at most 5 MiB; about 25 of them): a download past it is
 * answered 503, try again, so that slow or stalled readers cannot make the
 * daemon hold every file they asked for. */
#define FILES_HELD_MAX ((size_t)128 << 20)

/* A file's bytes handed to libmicrohttpd, counted in files_held until it
 * has sent them or dropped them with the connection. */
struct file_held {
	struct esc_http_server *srv;
	void *data;
	size_t len;
};

static void file_release(void *cls)
{
	struct file_held *h = cls;
	atomic_fetch_sub(&h->srv->files_held, h->len);
	free(h->data);
	free(h);
}

/* A response with call's file, which it takes, or NULL: *full when
 * files_held has no room for it (call keeps the file then). */
static struct MHD_Response *file_response(struct esc_http_server *srv, struct esc_http_call *call,
					  bool *full)
{
	size_t len = call->raw_len, held = atomic_fetch_add(&srv->files_held, len) + len;
	struct file_held *h = NULL;
	struct MHD_Response *r = NULL;
	/* One file is always answered, whatever its size. */
	*full = held > FILES_HELD_MAX && held != len;
	if (!*full && (h = malloc(sizeof *h))) {
		*h = (struct file_held){srv, call->raw, len};
		r = MHD_create_response_from_buffer_with_free_callback_cls(len, call->raw,
									   file_release, h);
	}
	if (r) {
		call->raw = NULL;
		return r;
	}
	free(h);
	atomic_fetch_sub(&srv->files_held, len);
	return NULL;
}

/* A file's bytes, as a download the browser does not interpret. */
static enum MHD_Result respond_error(struct MHD_Connection *c, struct request *req, int rc,
				     const char *message);

static enum MHD_Result respond_raw(struct esc_http_server *srv, struct MHD_Connection *c,
				   struct request *req, int status, struct esc_http_call *call)
{
	bool full = false;
	struct MHD_Response *r =
		call->raw ? file_response(srv, call, &full)
			  : MHD_create_response_from_buffer(call->raw_len, (void *)call->raw_static,
							    MHD_RESPMEM_PERSISTENT);
	if (full)
		return respond_error(
			c, req, ESC_EBUSY,
			"too many files are being downloaded from escrowd at once; try "
			"again in a second");
	req->status = status;
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", call->raw_type);
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	/* The web interface runs no inline script and loads nothing from
	 * elsewhere (issue 5) but items' pictures from the configuration's
	 * http.image_origins (issue 17); a file of evidence cannot run at
	 * all. Its manifest and service worker are its own (issue 17). */
	char csp[320 + sizeof call->opt->image_origins];
	snprintf(csp, sizeof csp,
		 "default-src 'none'; script-src 'self'; style-src 'self'; "
		 "img-src 'self' data: blob:%s; connect-src 'self'; form-action 'self'; "
		 "manifest-src 'self'; worker-src 'self'; "
		 "frame-ancestors 'none'; base-uri 'none'",
		 call->opt ? call->opt->image_origins : "");
	MHD_add_response_header(r, "Content-Security-Policy", csp);
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "X-Request-Id", req->id);
	add_hsts(r, req, c);
	if (call->raw_disposition[0])
		MHD_add_response_header(r, "Content-Disposition", call->raw_disposition);
	enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	return ok;
}

static enum MHD_Result respond_error_hint(struct MHD_Connection *c, struct request *req, int rc,
					  const char *message, const char *hint)
{
	json_t *doc = error_doc(rc, message, hint);
	size_t len = 0;
	char *text = esc_json_text(doc, 0, &len);
	json_decref(doc);
	return respond_json_owned(c, req, esc_error_status(rc), text, len, NULL, NULL);
}

static enum MHD_Result respond_error(struct MHD_Connection *c, struct request *req, int rc,
				     const char *message)
{
	return respond_error_hint(c, req, rc, message, NULL);
}

/* The session token from a Bearer header, or else from the cookie. */
static const char *find_token(struct MHD_Connection *c, bool *by_cookie)
{
	const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	*by_cookie = false;
	if (auth && !strncmp(auth, "Bearer ", 7) && auth[7])
		return auth + 7;
	const char *cookie = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, COOKIE_NAME);
	if (cookie && *cookie) {
		*by_cookie = true;
		return cookie;
	}
	return NULL;
}

static int session_delete_tx(struct esc_store *s, void *arg)
{
	const char *token_hash = arg;
	int rc;
	ESC_STORE(rc, s, session_delete, token_hash);
	return rc;
}

int esc_http_session_delete(struct esc_engine *e, const char *token_hash)
{
	return esc_engine_transact(e, session_delete_tx, (void *)token_hash);
}

struct session_touch {
	const char *token_hash;
	int64_t now_ms;
};

static int session_touch_tx(struct esc_store *s, void *arg)
{
	const struct session_touch *t = arg;
	int rc;
	ESC_STORE(rc, s, session_touch, t->token_hash, t->now_ms);
	return rc;
}

static int key_touch_tx(struct esc_store *s, void *arg)
{
	const struct session_touch *t = arg;
	int rc;
	ESC_STORE(rc, s, api_key_touch, t->token_hash, t->now_ms);
	return rc;
}

/* Who is calling: an operator key, a live session, or no one. A cookie
 * session must send its CSRF token with a POST. The reads use a
 * connection of the read pool; an expired session's deletion and a
 * session's touch go through the engine's door for writes
 * (esc_engine_transact), once the read connection is given back. */
static int authenticate(struct esc_http_server *srv, struct MHD_Connection *c, const char *method,
			struct esc_caller *who)
{
	struct esc_session session;
	const char *token = find_token(c, &who->by_cookie);
	bool expired = false, touch = false, key_touch = false;
	int64_t key_used_at_ms = -1;
	int rc = 0;

	who->kind = ESC_CALLER_ANONYMOUS;
	if (!token)
		return 0;
	if (strlen(token) > 200)
		return ESC_EUNAUTH;
	token_hash(token, who->token_hash);
	/* The key, the session and its user in one read (one round trip on
	 * PostgreSQL). A cookie carries a session, never a key. */
	bool is_key = false;
	struct esc_store *s = esc_engine_store_acquire(srv->e);
	/* A manual clock moved through another daemon on the store: this
	 * request runs at its time (nothing on a real clock). */
	(void)esc_engine_clock_sync(srv->e, s);
	int64_t now = esc_engine_now(srv->e);
	ESC_STORE(rc, s, caller_get, who->token_hash, &is_key, &key_used_at_ms, who->key_id,
		  &session, &who->user);
	if (!rc && is_key && !who->by_cookie) {
		memset(&who->user, 0, sizeof who->user);
		who->kind = ESC_CALLER_OPERATOR;
		/* A key's last use is written at most once a minute (as a
		 * session's touch): a read stays a read. */
		key_touch = now - key_used_at_ms >= 60 * 1000;
		goto out;
	}
	if (rc == ESC_ENOTFOUND || (!rc && !session.token_hash[0])) {
		rc = ESC_EUNAUTH;
		goto out;
	}
	if (rc)
		goto out;
	if (now - session.last_seen_ms > srv->opt.session_idle_ms) {
		expired = true;
		rc = ESC_EUNAUTH;
		goto out;
	}
	if (who->by_cookie && strcmp(method, "GET")) {
		const char *csrf = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-CSRF-Token");
		if (!csrf || strlen(csrf) != strlen(session.csrf) ||
		    sodium_memcmp(csrf, session.csrf, strlen(session.csrf)) != 0) {
			rc = ESC_EFORBIDDEN;
			goto out;
		}
	}
	snprintf(who->csrf, sizeof who->csrf, "%s", session.csrf);
	if (!who->user.id[0]) {
		rc = ESC_EUNAUTH;
		goto out;
	}
	/* Touch at most once a minute: a read stays a read. */
	touch = now - session.last_seen_ms > 60 * 1000;
	who->kind = ESC_CALLER_USER;
out:
	if (who->kind != ESC_CALLER_USER)
		memset(&who->user, 0, sizeof who->user);
	esc_engine_store_release(srv->e, s);
	/* The expired session goes, whether or not its deletion succeeds:
	 * the caller is refused either way. A failed touch fails the
	 * request, as a failed read does. */
	if (expired)
		(void)esc_http_session_delete(srv->e, who->token_hash);
	if (touch) {
		struct session_touch t = {.token_hash = who->token_hash, .now_ms = now};
		rc = esc_engine_transact(srv->e, session_touch_tx, &t);
	}
	if (key_touch) {
		struct session_touch t = {.token_hash = who->token_hash, .now_ms = now};
		rc = esc_engine_transact(srv->e, key_touch_tx, &t);
	}
	return rc;
}

static unsigned caller_mask(const struct esc_caller *who)
{
	if (who->kind == ESC_CALLER_OPERATOR)
		return ESC_WHO_OPERATOR;
	if (who->kind != ESC_CALLER_USER)
		return 0;
	switch (who->user.role) {
	case ESC_ACTOR_BUYER:
		return ESC_WHO_BUYER;
	case ESC_ACTOR_SELLER:
		return ESC_WHO_SELLER;
	case ESC_ACTOR_ARBITER:
		return ESC_WHO_ARBITER;
	default:
		return 0;
	}
}

/* The method a route is found by: HEAD is GET without the body, which
 * libmicrohttpd leaves out. */
static const char *route_method(const char *method)
{
	return strcmp(method, "HEAD") ? method : "GET";
}

/* Is a Content-Type JSON's ("application/json", any case, with or
 * without parameters such as charset)? */
static bool is_json_media_type(const char *type)
{
	static const char json[] = "application/json";
	if (!type || strncasecmp(type, json, sizeof json - 1))
		return false;
	type += sizeof json - 1;
	while (*type == ' ' || *type == '\t')
		type++;
	return !*type || *type == ';';
}

/* Authenticate the caller into call->caller, then check that its role may
 * call the route: 0, or the refusal with its message in *why. */
static int admit(struct esc_http_server *srv, struct MHD_Connection *c,
		 const struct esc_route *route, struct esc_http_call *call, const char **why)
{
	int rc = authenticate(srv, c, call->method, &call->caller);
	*why = NULL;
	if (rc && (route->who & ESC_WHO_ANYONE)) {
		/* A stale or half-sent credential does not lock anyone out of
		 * what anyone may do: the page, signing in again. */
		memset(&call->caller, 0, sizeof call->caller);
		call->caller.kind = ESC_CALLER_ANONYMOUS;
		rc = 0;
	}
	if (rc) {
		*why = rc == ESC_EFORBIDDEN
			       ? "a cookie-authenticated change needs the X-CSRF-Token header with "
				 "the session's csrf_token (GET /v1/me gives it)"
		       : rc == ESC_EUNAUTH ? "the session or API key is unknown, expired or "
					     "revoked: sign in again, or use a live key"
					   : NULL;
		return rc;
	}
	if (route->who & ESC_WHO_ANYONE)
		return 0;
	unsigned mask = caller_mask(&call->caller);
	if (!mask) {
		*why = "sign in first";
		return ESC_EUNAUTH;
	}
	if (!(route->who & mask)) {
		*why = "your role may not do this (the OpenAPI document, GET /v1/openapi.json, "
		       "names the roles of each operation in x-escrowd-who)";
		return ESC_EFORBIDDEN;
	}
	return 0;
}

/* The request's body into call: a file's bytes for an ESC_BODY_FILE
 * route, else a JSON object ({} when there is none). 0, or the refusal
 * with its message in why and perhaps a hint. */
static int read_body(struct esc_http_server *srv, struct MHD_Connection *c,
		     const struct esc_route *route, const struct request *req,
		     struct esc_http_call *call, char *why, size_t why_size, const char **hint)
{
	json_error_t jerr;
	*hint = NULL;
	if (req->too_large) {
		snprintf(why, why_size, "the request body is larger than %zu bytes",
			 route->body == ESC_BODY_FILE ? (size_t)ESC_EVIDENCE_BYTES_MAX
						      : srv->opt.body_bytes_max);
		return ESC_ETOOLARGE;
	}
	if (route->body == ESC_BODY_JSON && req->body.len) {
		/* Issue 12 defect 7: only JSON is read as JSON. A form or text
		 * body is what a page of another site can send without asking
		 * (a CORS "simple request"), and it is not what was meant. */
		const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
		if (!is_json_media_type(type)) {
			snprintf(why, why_size,
				 "the body is sent as %.60s, and this route reads JSON only",
				 type ? type : "no Content-Type");
			*hint = "send the body with Content-Type: application/json";
			return ESC_EMEDIA;
		}
	}
	if (route->body == ESC_BODY_FILE) {
		call->file = req->body.buf;
		call->file_len = req->body.len;
	} else if (route->body && req->body.len) {
		/* The common body quickly; jansson reads the rest, and says
		 * what is wrong with a body that is not JSON. */
		call->body = esc_json_parse(req->body.buf, req->body.len);
		if (!call->body)
			call->body = json_loadb(req->body.buf, req->body.len,
						JSON_REJECT_DUPLICATES, &jerr);
		if (!call->body) {
			/* jansson's words, but not the name of its flag. */
			if (strstr(jerr.text, "JSON_ALLOW_NUL"))
				snprintf(jerr.text, sizeof jerr.text,
					 "a string holds \\u0000, which escrowd does not take");
			snprintf(why, why_size, "the body is not valid JSON: %s (line %d)",
				 jerr.text, jerr.line);
			return ESC_EINVAL;
		}
		if (!json_is_object(call->body) || json_depth(call->body) > JSON_DEPTH_MAX) {
			snprintf(why, why_size, "%s",
				 json_is_object(call->body) ? "the body is nested too deeply"
							    : "the body must be a JSON object");
			json_decref(call->body);
			call->body = NULL;
			return ESC_EINVAL;
		}
	} else if (req->body.len) {
		snprintf(why, why_size, "this route takes no body");
		return ESC_EINVAL;
	}
	if (!call->body)
		call->body = json_object();
	return 0;
}

/* The peer's address, IPv4-mapped IPv6 ones as IPv4; false when unknown.
 * Taken from the socket address as it is: no text and back (ip_parse
 * reads the same bytes from inet_ntop's text). */
static bool peer_address(struct MHD_Connection *c, int *family, unsigned char addr[16])
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!ci || !ci->client_addr)
		return false;
	if (ci->client_addr->sa_family == AF_INET) {
		memcpy(addr, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, 4);
		*family = AF_INET;
		return true;
	}
	if (ci->client_addr->sa_family != AF_INET6)
		return false;
	const unsigned char *a6 =
		((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr.s6_addr;
	if (!memcmp(a6, mapped, sizeof mapped)) {
		memcpy(addr, a6 + 12, 4);
		*family = AF_INET;
	} else {
		memcpy(addr, a6, 16);
		*family = AF_INET6;
	}
	return true;
}

static bool trusted(const struct esc_http_options *o, int family, const unsigned char addr[16])
{
	for (size_t i = 0; i < o->trusted_proxies_count; i++) {
		const struct esc_cidr *t = &o->trusted_proxies[i];
		if (t->family != family)
			continue;
		unsigned whole = t->bits / 8, rest = t->bits % 8;
		if (memcmp(t->addr, addr, whole))
			continue;
		if (rest && ((t->addr[whole] ^ addr[whole]) & (0xff00u >> rest) & 0xff))
			continue;
		return true;
	}
	return false;
}

struct forwarded {
	char list[1024]; /* every X-Forwarded-For header's addresses, joined by commas */
	size_t len;
	bool cut; /* longer than list */
};

static enum MHD_Result forwarded_collect(void *cls, enum MHD_ValueKind kind, const char *key,
					 const char *value)
{
	struct forwarded *f = cls;
	(void)kind;
	if (strcasecmp(key, "X-Forwarded-For") || !value)
		return MHD_YES;
	int n = snprintf(f->list + f->len, sizeof f->list - f->len, "%s%s", f->len ? "," : "",
			 value);
	if (n < 0 || (size_t)n >= sizeof f->list - f->len)
		f->cut = true;
	else
		f->len += (size_t)n;
	return MHD_YES;
}

/* An address as inet_ntop writes it; an IPv4 one digit by digit (glibc's
 * inet_ntop formats each byte with sprintf, for every request). */
static void address_format(int family, const unsigned char addr[16], char *out, size_t out_size)
{
	if (family != AF_INET || out_size < INET_ADDRSTRLEN) {
		inet_ntop(family, addr, out, (socklen_t)out_size);
		return;
	}
	char *o = out;
	for (int i = 0; i < 4; i++) {
		unsigned v = addr[i];
		if (i)
			*o++ = '.';
		if (v >= 100)
			*o++ = (char)('0' + v / 100);
		if (v >= 10)
			*o++ = (char)('0' + v / 10 % 10);
		*o++ = (char)('0' + v % 10);
	}
	*o = '\0';
}

/* The client's address (call->address) and whether it came over https:
 * the peer's own, unless the peer is a trusted proxy (http.trusted_proxies);
 * then the right-most address of X-Forwarded-For that is not itself a
 * trusted proxy (each proxy appends the address it heard from, so those
 * to its left are the client's to forge), and X-Forwarded-Proto. */
static void client_address(const struct esc_http_server *srv, struct MHD_Connection *c, char *out,
			   size_t out_size, bool *https)
{
	int family;
	unsigned char addr[16];
	*https = srv->tls;
	if (!peer_address(c, &family, addr)) {
		snprintf(out, out_size, "unknown");
		return;
	}
	if (trusted(&srv->opt, family, addr)) {
		const char *proto =
			MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-Proto");
		if (proto && !srv->tls) {
			size_t len = strcspn(proto, ", ");
			*https = len == 5 && !strncasecmp(proto, "https", 5);
		}
		struct forwarded f = {.len = 0};
		MHD_get_connection_values(c, MHD_HEADER_KIND, forwarded_collect, &f);
		size_t end = f.cut ? 0 : f.len; /* a list cut short: the peer's */
		while (end > 0) {
			size_t start = end;
			while (start > 0 && f.list[start - 1] != ',')
				start--;
			const char *a = f.list + start;
			size_t len = end - start;
			while (len && (*a == ' ' || *a == '\t')) {
				a++;
				len--;
			}
			while (len && (a[len - 1] == ' ' || a[len - 1] == '\t'))
				len--;
			int ff;
			unsigned char fa[16];
			if (!ip_parse(a, len, &ff, fa))
				break; /* not an address: the last proxy's word stands */
			family = ff;
			memcpy(addr, fa, sizeof fa);
			if (!trusted(&srv->opt, family, addr))
				break;
			end = start ? start - 1 : 0;
		}
	}
	address_format(family, addr, out, out_size);
}

/* Strict-Transport-Security on an answer that goes out over https, when
 * http.hsts is set. */
static void add_hsts(struct MHD_Response *r, const struct request *req, struct MHD_Connection *c)
{
	const struct esc_http_server *srv = req->srv;
	if (!srv || !srv->opt.hsts_ms)
		return;
	char address[64], value[64];
	bool https;
	client_address(srv, c, address, sizeof address, &https);
	if (!https)
		return;
	snprintf(value, sizeof value, "max-age=%lld", (long long)(srv->opt.hsts_ms / 1000));
	MHD_add_response_header(r, "Strict-Transport-Security", value);
}

/* Step 1 of idempotency.h, for a POST that sends a key to a route whose
 * answer may be kept: true when that answered the request already (*ok),
 * replaying the first answer or refusing the key; else call->idem is set
 * when a key is to be kept. */
static bool idem_begin(struct esc_http_server *srv, struct MHD_Connection *c, const char *url,
		       const struct esc_route *route, struct request *req,
		       struct esc_http_call *call, struct esc_idempotency *idem,
		       struct esc_idem_claim *claim, enum MHD_Result *ok)
{
	const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
	const char *seal_with = NULL;
	struct esc_idempotency seen = {0};
	bool by_cookie;
	if (!key || strcmp(call->method, "POST") || route->keep == ESC_KEEP_NEVER)
		return false;
	/* A sealed answer's key comes from the caller's bearer token: a
	 * caller without one (no such route takes it) keeps nothing. */
	if (route->keep == ESC_KEEP_SEALED &&
	    (!(seal_with = find_token(c, &by_cookie)) || by_cookie))
		return false;
	int rc = esc_idem_start(srv->e, &srv->running, call, key, url, req->body.buf, req->body.len,
				seal_with, idem, &seen, claim);
	if (rc == ESC_EDUPLICATE) /* the same key and body: the first answer again */
		*ok = respond_text(c, req, seen.status, seen.response, "application/json", NULL,
				   NULL);
	else if (rc)
		*ok = respond_error(c, req, rc, esc_idem_refusal(rc));
	else
		call->idem = idem;
	if (seen.response && idem->sealed) /* it held a secret */
		sodium_memzero(seen.response, strlen(seen.response));
	free(seen.response);
	return rc != 0;
}

/* What the handler left in call, sent; rc is what it returned. An answer
 * no write kept is kept for the request's key (idempotency.h step 4); a
 * key that another process answered meanwhile gets that answer (step 3). */
static enum MHD_Result answer_kept(struct esc_http_server *srv, struct MHD_Connection *c,
				   struct request *req, struct esc_http_call *call)
{
	int status = 0;
	char *kept = esc_idem_kept(srv->e, call->idem, &status);
	enum MHD_Result ok =
		kept ? respond_text(c, req, status, kept, "application/json", NULL, NULL)
		     : respond_error(c, req, status < 0 ? ESC_EIDEMPOTENCY : ESC_ECONFLICT,
				     status < 0 ? esc_idem_refusal(ESC_EIDEMPOTENCY) : NULL);
	if (kept && call->idem->sealed) /* it held a secret */
		sodium_memzero(kept, strlen(kept));
	free(kept);
	return ok;
}

static enum MHD_Result answer(struct esc_http_server *srv, struct MHD_Connection *c,
			      struct request *req, struct esc_http_call *call, int rc)
{
	if (call->idem_answered)
		return answer_kept(srv, c, req, call);
	if (!rc)
		snprintf(req->etag, sizeof req->etag, "%s", call->etag);
	if (rc && !call->out)
		call->out = error_doc(rc, NULL, NULL);
	if (rc) {
		call->status = esc_error_status(rc);
		hint_default(call->out, rc);
	}
	/* A document a handler wrote as its text (routes.c's GET
	 * /v1/orders/{id}) is answered as a document is: no copy, its
	 * headers. */
	if (call->out_text && !rc) {
		char *text = call->out_text;
		call->out_text = NULL;
		return respond_json_owned(c, req, call->status, text, call->out_text_len,
					  call->set_cookie, call->retry_after);
	}
	if ((call->raw || call->raw_static) && !rc)
		return respond_raw(srv, c, req, call->status, call);
	if (call->text)
		return respond_text(c, req, call->status, call->text, "text/plain; version=0.0.4",
				    NULL, NULL);
	/* A command's reply kept for its key was written with this status
	 * (routes.c's reply_build: esc_idem_answer from its document, or
	 * esc_idem_answer_text, then nothing changes it on success): that
	 * text is the answer, not made again. */
	struct esc_idempotency *kept = call->idem;
	if (!rc && call->reply_built && call->idem_kept && kept && kept->response &&
	    !kept->sealed && kept->status == call->status) {
		char *text = kept->response;
		kept->response = NULL;
		return respond_json_owned(c, req, call->status, text, strlen(text),
					  call->set_cookie, call->retry_after);
	}
	json_t *doc = call->out ? call->out : json_object();
	size_t len = 0;
	char *text = esc_json_text(doc, ANSWER_BYTES, &len);
	if (!call->out)
		json_decref(doc);
	if (call->idem && !call->idem_kept &&
	    esc_idem_keep(srv->e, call->idem, call->status, text ? text : "{}") == ESC_EDUPLICATE) {
		free(text);
		return answer_kept(srv, c, req, call);
	}
	return respond_json_owned(c, req, call->status, text, len, call->set_cookie,
				  call->retry_after);
}

/* What a request's call holds, freed once its answer is queued, or when
 * the request ends without one (its client went away while its command
 * was queued, or the daemon stopped). Each pointer is cleared: a second
 * call frees nothing. */
static void call_release(struct esc_http_server *srv, struct request *req)
{
	struct esc_http_call *call = &req->call;
	esc_idem_release(&srv->running, &req->claim);
	free(req->idem.response);
	req->idem.response = NULL;
	free(call->text);
	call->text = NULL;
	free(call->raw);
	call->raw = NULL;
	free(call->out_text);
	call->out_text = NULL;
	/* A command's answer, made by the writer: its blocks go back there
	 * (esc_engine_json_release). */
	if (call->reply_built)
		esc_engine_json_release(srv->e, call->out);
	else
		json_decref(call->out);
	call->out = NULL;
	json_decref(call->body);
	call->body = NULL;
	if (call->pending) {
		call->pending->release(call->pending);
		call->pending = NULL;
	}
}

/* The half of a command's request after its commit, in an HTTP thread:
 * the handler's own half (pending's finish), then the answer. */
static enum MHD_Result command_answer(struct esc_http_server *srv, struct MHD_Connection *c,
				      struct request *req)
{
	int rc = req->call.pending->finish(&req->call);
	enum MHD_Result ok = answer(srv, c, req, &req->call, rc);
	call_release(srv, req);
	return ok;
}

/* The writer's done (engine.h), in its thread: the command's result is
 * in, the connection goes back to libmicrohttpd, whose pool calls
 * on_request again to answer. */
static void on_committed(void *arg)
{
	struct request *req = arg;
	struct esc_http_server *srv = req->srv;
	atomic_store_explicit(&req->committed, true, memory_order_release);
	MHD_resume_connection(req->connection);
	/* From here the request may end in another thread: req is not ours. */
	pthread_mutex_lock(&srv->queue_lock);
	srv->suspended--;
	if (srv->stopping)
		pthread_cond_broadcast(&srv->queue_idle);
	pthread_mutex_unlock(&srv->queue_lock);
}

/* Whether a request may be served: once the daemon stops, a change (any
 * method but GET and HEAD) that comes in is refused (503, nothing done),
 * so that the changes in flight drain and are answered before
 * libmicrohttpd closes every connection: a change made then and its
 * answer lost would be made again by a client that sends it again
 * without an Idempotency-Key. Reads are served to the end: losing one
 * loses nothing. */
static bool stop_admit(struct esc_http_server *srv, const char *method)
{
	if (!strcmp(method, "GET") || !strcmp(method, "HEAD"))
		return true;
	/* Without queue_lock, which every command takes already: a change
	 * that reads false as the stop begins is a change admitted before it
	 * (command_queue decides under the lock). */
	return !__atomic_load_n(&srv->stopping, __ATOMIC_ACQUIRE);
}

static enum MHD_Result refuse_stopping(struct MHD_Connection *c, struct request *req)
{
	return respond_error_hint(c, req, ESC_EBUSY, "escrowd is stopping: nothing was done",
				  "send the request again: to another daemon of the store, or "
				  "after the restart");
}

/* Leave the call's pending command to the engine's writer
 * (esc_engine_submit_async): the connection is suspended until its
 * commit, and this thread goes on with other connections; so a commit
 * holds every command waiting, however few the threads. While the daemon
 * stops, a command admitted before the stop runs here instead, this
 * thread waiting for it (nothing may be suspended when libmicrohttpd
 * stops), and once the drain is over one is refused. */
static enum MHD_Result command_queue(struct esc_http_server *srv, struct MHD_Connection *c,
				     const char *url, const char *method, struct request *req)
{
	struct esc_http_pending *p = req->call.pending;
	pthread_mutex_lock(&srv->queue_lock);
	bool stopping = srv->stopping, closing = srv->closing;
	if (!stopping) {
		srv->suspended++;
		srv->queued++;
	} else if (!closing) {
		/* Admitted before the stop: run here, its answer owed all the
		 * same, so the drain waits for it. */
		srv->queued++;
		req->counted = true;
	}
	pthread_mutex_unlock(&srv->queue_lock);
	if (closing)
		return refuse_stopping(c, req); /* the drain is over: nothing done */
	if (stopping) {
		esc_engine_submit(srv->e, p->sub.cmd, p->sub.res);
		return command_answer(srv, c, req);
	}
	req->srv = srv;
	req->connection = c;
	req->queued = req->counted = true;
	snprintf(req->method, sizeof req->method, "%s", method);
	snprintf(req->target, sizeof req->target, "%s", url);
	p->sub.done = on_committed;
	p->sub.arg = req;
	/* Suspended before the writer may resume it. */
	MHD_suspend_connection(c);
	if (esc_engine_submit_async(srv->e, &p->sub))
		on_committed(req); /* refused (the engine stops): answered at once */
	return MHD_YES;
}

/* A whole request: its route, its caller, its body and its key, then its
 * handler and its answer; or, for a command, the command queued, and its
 * answer later (command_answer). */
static enum MHD_Result dispatch(struct esc_http_server *srv, struct MHD_Connection *c,
				const char *url, const char *method, struct request *req)
{
	struct esc_http_call *call = &req->call;
	char why[512];
	const char *hint = NULL;
	enum MHD_Result ok;

	*call = (struct esc_http_call){.e = srv->e,
				       .opt = &srv->opt,
				       .method = route_method(method),
				       .connection = c,
				       .limits = srv->limits,
				       .viewer = {.buyer_level = -1},
				       .server = srv,
				       .async = true};
	/* The client, for the log and the limits, before anything may
	 * refuse the request. */
	bool https;
	client_address(srv, c, call->address, sizeof call->address, &https);
	call->cookie_secure = https || !srv->loopback;
	const struct esc_route *route = req->found;
	bool path_known = req->path_known;
	call->param = req->param;
	if (!route)
		return respond_error(c, req, path_known ? ESC_EMETHOD : ESC_ENOTFOUND,
				     path_known ? NULL : "no such path");
	call->event = route->event;
	/* A read (GET, HEAD) authenticates and answers on one connection of
	 * the read pool, taken at its first read: one snapshot, one
	 * transaction. */
	bool reads = !strcmp(call->method, "GET");
	if (reads)
		esc_engine_reads_begin(srv->e);
	int rc = admit(srv, c, route, call, &hint);
	if (rc) {
		if (reads)
			esc_engine_reads_end(srv->e);
		return respond_error(c, req, rc, hint);
	}
	rc = read_body(srv, c, route, req, call, why, sizeof why, &hint);
	if (rc) {
		if (reads)
			esc_engine_reads_end(srv->e);
		call_release(srv, req);
		return respond_error_hint(c, req, rc, why, hint);
	}
	if (!idem_begin(srv, c, url, route, req, call, &req->idem, &req->claim, &ok)) {
		call->status = 200;
		rc = route->handler(call);
		if (reads)
			esc_engine_reads_end(srv->e);
		if (!rc && call->pending)
			return command_queue(srv, c, url, method, req);
		ESC_ASSERT(!call->pending, "a handler that failed left a command pending");
		ok = answer(srv, c, req, call, rc);
	}
	if (reads)
		esc_engine_reads_end(srv->e); /* a replay or a refused key */
	call_release(srv, req);
	return ok;
}

/* Count the request, and log it as one JSON line on stderr. */
static void record(struct esc_http_server *srv, struct request *req, const char *url,
		   const char *method)
{
	struct metrics *m = srv->metrics;
	int64_t us = esc_time_monotonic_us() - req->started_us;
	size_t st = STATUSES;
	for (size_t i = 0; i < STATUSES; i++)
		if (statuses[i] == req->status)
			st = i;
	int route = req->route >= 0 && req->route < ROUTES_MAX ? req->route : ROUTES_MAX;
	atomic_fetch_add_explicit(&m->requests[route][st], 1, memory_order_relaxed);
	size_t b = 0;
	while (b < BUCKETS && (double)us / 1000.0 > buckets_ms[b])
		b++;
	atomic_fetch_add_explicit(&m->latency[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->latency_sum_us, (uint64_t)us, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->latency_count, 1, memory_order_relaxed);
	enum esc_log_level level = req->status >= 500 ? ESC_LOG_ERROR : ESC_LOG_INFO;
	if (srv->opt.quiet || !esc_log_enabled(level))
		return;
	/* Who called: a user's id, or "operator:" and the key's id. */
	const struct esc_caller *who = &req->call.caller;
	char caller[ESC_ID_SIZE + 16];
	if (who->kind == ESC_CALLER_USER)
		snprintf(caller, sizeof caller, "%s", who->user.id);
	else if (who->kind == ESC_CALLER_OPERATOR)
		snprintf(caller, sizeof caller, "operator:%s",
			 who->key_id[0] ? who->key_id : "unknown");
	else
		caller[0] = '\0';
	/* url is the path: libmicrohttpd keeps the query apart, so that no
	 * query argument (a search, a secret sent where it should not be)
	 * reaches the log. */
	esc_log(level, "request", ESC_LOG_STR("request_id", req->id), ESC_LOG_STR("method", method),
		ESC_LOG_STR("path", url), ESC_LOG_INT("status", req->status),
		ESC_LOG_REAL("duration_ms", (double)us / 1000.0),
		ESC_LOG_STR("address", req->call.address[0] ? req->call.address : NULL),
		ESC_LOG_STR("caller", caller[0] ? caller : NULL));
}

/* Requests by route and status. */
static void metrics_requests(struct esc_strbuf *sb, const struct metrics *m)
{
	esc_strbuf_adds(sb,
			"# HELP escrowd_http_requests_total HTTP requests by route and status.\n"
			"# TYPE escrowd_http_requests_total counter\n");
	for (size_t r = 0; r <= esc_routes_count; r++) {
		const char *path = r < esc_routes_count ? esc_routes[r].path : "unmatched";
		const char *method = r < esc_routes_count ? esc_routes[r].method : "";
		size_t row = r < esc_routes_count ? r : ROUTES_MAX;
		for (size_t st = 0; st <= STATUSES; st++) {
			uint64_t v =
				atomic_load_explicit(&m->requests[row][st], memory_order_relaxed);
			char status[8] = "other";
			if (st < STATUSES)
				snprintf(status, sizeof status, "%d", statuses[st]);
			if (v)
				esc_strbuf_addf(
					sb,
					"escrowd_http_requests_total{method=\"%s\",route=\"%s\","
					"status=\"%s\"} %llu\n",
					method, path, status, (unsigned long long)v);
		}
	}
}

/* The latency histogram. */
static void metrics_latency(struct esc_strbuf *sb, const struct metrics *m)
{
	uint64_t cumulative = 0;
	esc_strbuf_adds(sb, "# HELP escrowd_http_request_duration_seconds Request latency.\n"
			    "# TYPE escrowd_http_request_duration_seconds histogram\n");
	for (size_t b = 0; b <= BUCKETS; b++) {
		cumulative += atomic_load_explicit(&m->latency[b], memory_order_relaxed);
		if (b < BUCKETS)
			esc_strbuf_addf(sb,
					"escrowd_http_request_duration_seconds_bucket{le=\"%g\"} "
					"%llu\n",
					buckets_ms[b] / 1000.0, (unsigned long long)cumulative);
		else
			esc_strbuf_addf(sb,
					"escrowd_http_request_duration_seconds_bucket{le=\"+Inf\"} "
					"%llu\n",
					(unsigned long long)cumulative);
	}
	esc_strbuf_addf(sb,
			"escrowd_http_request_duration_seconds_sum %.6f\n"
			"escrowd_http_request_duration_seconds_count %llu\n",
			(double)atomic_load(&m->latency_sum_us) / 1e6,
			(unsigned long long)atomic_load(&m->latency_count));
}

/* Open connections, those cut for slowness and those closed idle to
 * make room. */
static void metrics_connections(struct esc_strbuf *sb, const struct esc_http_server *srv)
{
	pthread_mutex_lock((pthread_mutex_t *)&srv->conns_lock);
	size_t open = srv->conns_count;
	pthread_mutex_unlock((pthread_mutex_t *)&srv->conns_lock);
	esc_strbuf_addf(sb,
			"# HELP escrowd_http_connections Open client connections.\n"
			"# TYPE escrowd_http_connections gauge\n"
			"escrowd_http_connections %zu\n"
			"# HELP escrowd_http_connections_cut_total Connections closed because "
			"their client was too slow to send a request's head or body.\n"
			"# TYPE escrowd_http_connections_cut_total counter\n"
			"escrowd_http_connections_cut_total %llu\n"
			"# HELP escrowd_http_connections_evicted_total Connections closed to hold "
			"http.connections_per_address or http.connections_max: the idlest, or a "
			"new one from an address whose connections were all busy.\n"
			"# TYPE escrowd_http_connections_evicted_total counter\n"
			"escrowd_http_connections_evicted_total %llu\n",
			open, (unsigned long long)atomic_load(&srv->metrics->connections_cut),
			(unsigned long long)atomic_load(&srv->metrics->connections_evicted));
}

/* The version built, and the process as the kernel sees it (the names
 * Prometheus's client libraries give these figures). */
static void metrics_process(struct esc_strbuf *sb)
{
	double resident = -1, cpu = -1;
	long long fds = -1, fds_max = -1;
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long long size, pages;
	if (f && fscanf(f, "%llu %llu", &size, &pages) == 2)
		resident = (double)pages * (double)sysconf(_SC_PAGESIZE);
	if (f)
		fclose(f);
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		fds = -1; /* d's own descriptor is not the process's */
		for (struct dirent *ent; (ent = readdir(d));)
			if (ent->d_name[0] != '.')
				fds++;
		closedir(d);
	}
	struct rlimit rl;
	if (!getrlimit(RLIMIT_NOFILE, &rl))
		fds_max = rl.rlim_cur == RLIM_INFINITY ? -1 : (long long)rl.rlim_cur;
	struct rusage ru;
	if (!getrusage(RUSAGE_SELF, &ru))
		cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
		      (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	esc_strbuf_addf(sb,
			"# HELP escrowd_build_info The escrowd version serving, always 1.\n"
			"# TYPE escrowd_build_info gauge\n"
			"escrowd_build_info{version=\"%s\"} 1\n"
			"# HELP process_resident_memory_bytes Resident memory (-1: unknown).\n"
			"# TYPE process_resident_memory_bytes gauge\n"
			"process_resident_memory_bytes %.0f\n"
			"# HELP process_open_fds Open file descriptors (-1: unknown).\n"
			"# TYPE process_open_fds gauge\n"
			"process_open_fds %lld\n"
			"# HELP process_max_fds The most file descriptors the process may open "
			"(-1: no limit).\n"
			"# TYPE process_max_fds gauge\n"
			"process_max_fds %lld\n"
			"# HELP process_cpu_seconds_total User and system CPU time spent.\n"
			"# TYPE process_cpu_seconds_total counter\n"
			"process_cpu_seconds_total %.3f\n",
			ESC_VERSION, resident, fds, fds_max, cpu);
}

/* The engine's counters, and what the store holds: refunds pending and
 * overdue, and the oldest deadline due and not fired. */
static void metrics_engine(struct esc_strbuf *sb, struct esc_engine *e)
{
	struct esc_engine_counters n;
	int64_t pending = 0, overdue = 0, soonest = 0, now = esc_engine_now(e);
	int rc;
	esc_strbuf_adds(sb, "# HELP escrowd_commands_total Accepted commands by event.\n"
			    "# TYPE escrowd_commands_total counter\n");
	esc_engine_counters(e, &n);
	struct esc_store *s = esc_engine_store_acquire(e);
	ESC_STORE(rc, s, refunds_count, ESC_REFUND_PENDING, &pending);
	if (rc)
		pending = -1;
	ESC_STORE(rc, s, refunds_overdue, now, &overdue);
	if (rc)
		overdue = -1;
	ESC_STORE(rc, s, deadline_soonest, &soonest);
	esc_engine_store_release(e, s);
	/* In the escrow's time: a manual clock's moves age it. */
	double oldest_due = rc                         ? -1.0
			    : soonest && soonest < now ? (double)(now - soonest) / 1000.0
						       : 0;
	for (int ev = 0; ev < ESC_EV_COUNT; ev++)
		esc_strbuf_addf(sb, "escrowd_commands_total{event=\"%s\"} %lld\n",
				esc_event_name((enum esc_event)ev), (long long)n.events_ok[ev]);
	esc_strbuf_addf(
		sb,
		"# HELP escrowd_commands_refused_total Commands refused by a rule or input.\n"
		"# TYPE escrowd_commands_refused_total counter\n"
		"escrowd_commands_refused_total %lld\n"
		"# HELP escrowd_commits_total Durable commits.\n"
		"# TYPE escrowd_commits_total counter\n"
		"escrowd_commits_total %lld\n"
		"# HELP escrowd_deadlines_fired_total Deadlines that fired.\n"
		"# TYPE escrowd_deadlines_fired_total counter\n"
		"escrowd_deadlines_fired_total %lld\n"
		"# HELP escrowd_refunds_pending Refunds waiting for the payment integration "
		"(-1: the store did not answer).\n"
		"# TYPE escrowd_refunds_pending gauge\n"
		"escrowd_refunds_pending %lld\n"
		"# HELP escrowd_refunds_overdue Pending refunds past their refund_alert window "
		"(refund_overdue raised, or due to be): not confirmed by the payment "
		"integration in time (-1: the store did not answer).\n"
		"# TYPE escrowd_refunds_overdue gauge\n"
		"escrowd_refunds_overdue %lld\n"
		"# HELP escrowd_deadline_oldest_due_seconds How long the oldest deadline due "
		"and not yet fired has been due, in the escrow's time; 0 when none (-1: the "
		"store did not answer).\n"
		"# TYPE escrowd_deadline_oldest_due_seconds gauge\n"
		"escrowd_deadline_oldest_due_seconds %.3f\n",
		(long long)n.commands_refused, (long long)n.commits, (long long)n.deadlines_fired,
		(long long)pending, (long long)overdue, oldest_due);
	esc_strbuf_addf(sb,
			"# HELP escrowd_store_retries_total Transactions run again after losing "
			"to a concurrent one (PostgreSQL serialization failures and deadlocks).\n"
			"# TYPE escrowd_store_retries_total counter\n"
			"escrowd_store_retries_total %lld\n"
			"# HELP escrowd_batches_rerun_total Batches of commands rolled back and "
			"run again with a savepoint for each command, because one run without "
			"failed after it had written (SQLite).\n"
			"# TYPE escrowd_batches_rerun_total counter\n"
			"escrowd_batches_rerun_total %lld\n"
			"# HELP escrowd_commit_delays_total Times the writer waited before a "
			"commit for more commands to join it (commit_delay_us).\n"
			"# TYPE escrowd_commit_delays_total counter\n"
			"escrowd_commit_delays_total %lld\n",
			(long long)(n.retries + esc_store_retries()), (long long)n.batch_reruns,
			(long long)n.commit_delays);
	if (n.has_wal)
		esc_strbuf_addf(
			sb,
			"# HELP escrowd_store_wal_frames_total Frames the writer appended "
			"to the SQLite WAL: escrowd_store_page_size_bytes and a 24-byte "
			"header each.\n"
			"# TYPE escrowd_store_wal_frames_total counter\n"
			"escrowd_store_wal_frames_total %lld\n"
			"# HELP escrowd_store_page_size_bytes The SQLite store's page size.\n"
			"# TYPE escrowd_store_page_size_bytes gauge\n"
			"escrowd_store_page_size_bytes %lld\n",
			(long long)n.wal_frames, (long long)n.wal_page_size);
}

/* The webhook delivery worker's counters, and what the store says of
 * deliveries now (-1: the store did not answer). */
static void metrics_webhooks(struct esc_strbuf *sb, struct esc_engine *e)
{
	static const char *const outcomes[] = {"delivered", "retried", "failed"};
	struct esc_engine_counters n;
	struct esc_webhook_stats st;
	int64_t lag_ms = 0;
	int rc;
	esc_engine_counters(e, &n);
	struct esc_store *s = esc_engine_store_acquire(e);
	ESC_STORE(rc, s, webhook_stats, &st);
	esc_engine_store_release(e, s);
	if (!rc && st.oldest_undelivered_ms)
		lag_ms = esc_engine_now(e) - st.oldest_undelivered_ms;
	esc_strbuf_adds(sb, "# HELP escrowd_webhook_deliveries_total Delivery attempts by "
			    "outcome: delivered, failed and retried later, failed for good.\n"
			    "# TYPE escrowd_webhook_deliveries_total counter\n");
	for (int i = 0; i < 3; i++)
		esc_strbuf_addf(sb, "escrowd_webhook_deliveries_total{outcome=\"%s\"} %lld\n",
				outcomes[i], (long long)n.webhook[ESC_WC_DELIVERED + i]);
	esc_strbuf_addf(
		sb,
		"# HELP escrowd_webhook_attempts_total Delivery attempts made.\n"
		"# TYPE escrowd_webhook_attempts_total counter\n"
		"escrowd_webhook_attempts_total %lld\n"
		"# HELP escrowd_webhook_endpoints_disabled_total Endpoints this process disabled "
		"after failing too long.\n"
		"# TYPE escrowd_webhook_endpoints_disabled_total counter\n"
		"escrowd_webhook_endpoints_disabled_total %lld\n"
		"# HELP escrowd_webhook_endpoints_disabled Endpoints disabled by failures.\n"
		"# TYPE escrowd_webhook_endpoints_disabled gauge\n"
		"escrowd_webhook_endpoints_disabled %lld\n"
		"# HELP escrowd_webhook_deliveries_pending Deliveries waiting to be delivered.\n"
		"# TYPE escrowd_webhook_deliveries_pending gauge\n"
		"escrowd_webhook_deliveries_pending %lld\n"
		"# HELP escrowd_webhook_outbox_lag_seconds Age of the oldest undelivered event "
		"(not yet fanned out, or with a pending delivery); 0 when none.\n"
		"# TYPE escrowd_webhook_outbox_lag_seconds gauge\n"
		"escrowd_webhook_outbox_lag_seconds %.3f\n",
		(long long)n.webhook[ESC_WC_ATTEMPTS], (long long)n.webhook[ESC_WC_DISABLED],
		(long long)(rc ? -1 : st.endpoints_disabled),
		(long long)(rc ? -1 : st.deliveries_pending), rc ? -1.0 : (double)lag_ms / 1000.0);
}

static char *metrics_text(const struct esc_http_server *srv)
{
	struct esc_strbuf sb;
	esc_strbuf_init(&sb, 4 * 1024 * 1024);
	metrics_process(&sb);
	metrics_requests(&sb, srv->metrics);
	metrics_latency(&sb, srv->metrics);
	metrics_connections(&sb, srv);
	metrics_engine(&sb, srv->e);
	metrics_webhooks(&sb, srv->e);
	char *out = strdup(esc_strbuf_str(&sb));
	esc_strbuf_release(&sb);
	return out;
}

char *esc_http_metrics(const struct esc_http_call *call)
{
	return metrics_text(call->server);
}

bool esc_http_metrics_here(const struct esc_http_call *call)
{
	return !call->server || !call->server->opt.admin_listen[0];
}

/* ---- the admin listener (http.admin_listen) ----
 *
 * /metrics and /healthz on an address of their own, for Prometheus and
 * a load balancer's checks on a network the API's clients do not reach;
 * the API's listener then answers /metrics with a 404. One thread: a
 * scrape every few seconds is all it serves. Nothing else is there:
 * no session, no key, no body. */
static enum MHD_Result admin_answer(struct MHD_Connection *c, unsigned status, const char *type,
				    char *text)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	enum MHD_Result ok = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ok;
}

static char *admin_error(int rc, const char *message)
{
	json_t *doc = error_doc(rc, message, "this listener serves GET /metrics and GET /healthz");
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	return text;
}

static enum MHD_Result on_admin(void *cls, struct MHD_Connection *c, const char *url,
				const char *method, const char *version, const char *upload,
				size_t *upload_size, void **con_cls)
{
	static int seen;
	struct esc_http_server *srv = cls;
	(void)version;
	(void)upload;
	if (!*con_cls) {
		*con_cls = &seen; /* the head: wait for the end of the request */
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0; /* a body is read and dropped */
		return MHD_YES;
	}
	int64_t started = esc_time_monotonic_us();
	unsigned status = 200;
	const char *type = "application/json";
	char *text;
	bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
	if (get && !strcmp(url, "/metrics")) {
		text = metrics_text(srv);
		type = "text/plain; version=0.0.4";
	} else if (get && !strcmp(url, "/healthz")) {
		text = strdup(srv->opt.test_mode ? "{\"status\":\"ok\",\"mode\":\"test\"}"
						 : "{\"status\":\"ok\",\"mode\":\"production\"}");
	} else {
		bool known = !strcmp(url, "/metrics") || !strcmp(url, "/healthz");
		int rc = known ? ESC_EMETHOD : ESC_ENOTFOUND;
		status = (unsigned)esc_error_status(rc);
		text = admin_error(rc, known ? "this path takes GET" : "no such path");
	}
	if (!text)
		return MHD_NO;
	esc_log(ESC_LOG_DEBUG, "admin request", ESC_LOG_STR("method", method),
		ESC_LOG_STR("path", url), ESC_LOG_INT("status", status),
		ESC_LOG_REAL("duration_ms", (double)(esc_time_monotonic_us() - started) / 1000.0));
	return admin_answer(c, status, type, text);
}

/* ---- connections and their deadlines (issue 12 defect 1) ---- */

/* The calling thread's slot in srv->busy, given on its first call. */
static int thread_slot(struct esc_http_server *srv)
{
	static _Thread_local int slot = -1;
	if (slot < 0)
		slot = atomic_fetch_add(&srv->slots_given, 1) % THREAD_SLOTS;
	return slot;
}

/* Run the calling HTTP thread as SCHED_BATCH, once: a thread the writer
 * wakes (its connection's commit is in) then waits for the tick or a
 * free core instead of preempting the writer, whose next batch every
 * connection waits for. Under `POST /v1/orders` at 64 connections the
 * writer was preempted about 2,900 times a second, once for most of the
 * connections it resumed (perf sched, ARCHITECTURE.md). Unprivileged; a
 * refusal (a seccomp filter, say) leaves the thread as it was. */
static void worker_yields(void)
{
	static _Thread_local bool done;
	if (!done)
		(void)sched_setscheduler(0, SCHED_BATCH, &(struct sched_param){0});
	done = true;
}

/* Whether the server is behind on the connection, not its client: its
 * socket holds bytes not yet read, or its thread is busy answering. */
static bool conn_unread(struct esc_http_server *srv, const struct conn *k)
{
	int n = 0;
	if (k->slot >= 0 && atomic_load(&srv->busy[k->slot]) > 0)
		return true;
	return ioctl(k->fd, FIONREAD, &n) == 0 && n > 0;
}

/* Set a connection's deadline (0: none), span_us after now or after the
 * moment it is found behind, unless the reaper cut it off; false when it
 * did. With enforce, a deadline that passed before the reaper saw it
 * counts too, unless the server is behind: the request is dropped. Its
 * callers run once a request's head is in: the connection is no longer
 * idle. */
static bool conn_deadline(struct esc_http_server *srv, struct conn *k, int64_t deadline_us,
			  int64_t span_us, bool enforce)
{
	bool ok = true;
	if (!k)
		return true;
	pthread_mutex_lock(&srv->conns_lock);
	if (!k->reaped && enforce && k->deadline_us && esc_time_monotonic_us() > k->deadline_us &&
	    !conn_unread(srv, k)) {
		k->reaped = true;
		atomic_fetch_add_explicit(&srv->metrics->connections_cut, 1, memory_order_relaxed);
	}
	if (k->reaped) {
		ok = false;
	} else {
		k->deadline_us = deadline_us;
		k->span_us = span_us;
		k->idle_us = 0;
	}
	pthread_mutex_unlock(&srv->conns_lock);
	return ok;
}

/* Answered, the connection waits for its next request's head, by
 * header_timeout. */
static void conn_await_head(struct esc_http_server *srv, struct conn *k)
{
	if (!k)
		return;
	int64_t now = esc_time_monotonic_us();
	pthread_mutex_lock(&srv->conns_lock);
	if (!k->reaped) {
		k->span_us = srv->opt.header_timeout_ms * 1000;
		k->deadline_us = now + k->span_us;
		k->idle_us = now;
		k->served = true;
		k->line_in = false;
	}
	pthread_mutex_unlock(&srv->conns_lock);
}

/* The client's address, as family and bytes (zeros when unknown). */
static void conn_address(struct MHD_Connection *c, unsigned char address[17])
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	memset(address, 0, 17);
	if (!ci || !ci->client_addr)
		return;
	const struct sockaddr *sa = ci->client_addr;
	address[0] = (unsigned char)sa->sa_family;
	if (sa->sa_family == AF_INET)
		memcpy(address + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	else if (sa->sa_family == AF_INET6)
		memcpy(address + 1, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
}

/* A connection's rank as a victim, lowest first: never answered on (0:
 * a flood's connections, silent or trickling a head, are such), kept
 * alive after an answer and silent (1), kept alive with its next
 * request's line come (2: a client's request may be under way). */
static int conn_rank(const struct conn *o)
{
	return !o->served ? 0 : o->line_in ? 2 : 1;
}

/* Whether a silent connection may hold a request not yet handled: a
 * whole head waits in its socket (over TLS, any bytes), or, kept alive,
 * any bytes do or its thread is busy (libmicrohttpd may have read a head
 * and not yet looked at it). A connection never answered on with part
 * of a head unread does not: under a flood most of them are so. */
static bool conn_holds_request(struct esc_http_server *srv, const struct conn *k)
{
	char buf[4096];
	if (k->served)
		return conn_unread(srv, k);
	ssize_t n = recv(k->fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
	return n > 0 && (srv->tls || memmem(buf, (size_t)n, "\r\n\r\n", 4) ||
			 memmem(buf, (size_t)n, "\n\n", 2));
}

/* The idlest connection waiting for a request's head, other than k,
 * and of k's address when mine: by conn_rank, then the one waiting
 * longest, passing over one that may hold a request (conn_holds_request).
 * With last_resort, when none of the first ranks is found, the one of
 * any rank that has waited longest: a head trickled a byte at a time has
 * its line in too. Called with conns_lock held. */
static struct conn *conn_idlest(struct esc_http_server *srv, const struct conn *k, bool mine,
				bool last_resort)
{
	const struct conn *skipped[8];
	struct conn *oldest = NULL;
	int skips = 0;
	while (skips < 8) {
		struct conn *best = NULL;
		for (struct conn *o = srv->conns; o; o = o->next) {
			bool skip = o == k || o->reaped || !o->idle_us ||
				    (mine && memcmp(o->address, k->address, sizeof k->address));
			if (!skip && (!oldest || o->idle_us < oldest->idle_us))
				oldest = o;
			skip = skip || conn_rank(o) == 2;
			for (int i = 0; i < skips && !skip; i++)
				skip = skipped[i] == o;
			if (skip)
				continue;
			if (!best || conn_rank(o) < conn_rank(best) ||
			    (conn_rank(o) == conn_rank(best) && o->idle_us < best->idle_us))
				best = o;
		}
		if (!best)
			break;
		if (!conn_holds_request(srv, best))
			return best;
		skipped[skips++] = best;
	}
	return last_resort ? oldest : NULL;
}

/* Make room beside k, just accepted (limit_hard): past
 * connections_per_address from its address, or connections_max in all,
 * shut down the idlest connection; from one address with none at all
 * waiting for a head, k. Called with conns_lock held. */
static void conns_make_room(struct esc_http_server *srv, struct conn *k)
{
	size_t live = 0, mine = 0;
	for (const struct conn *o = srv->conns; o; o = o->next) {
		if (o->reaped)
			continue;
		live++;
		mine += !memcmp(o->address, k->address, sizeof k->address);
	}
	struct conn *victim = NULL;
	if (srv->opt.connections_per_address && mine > srv->opt.connections_per_address) {
		victim = conn_idlest(srv, k, true, true);
		if (!victim)
			victim = k;
	} else if (live > srv->opt.connections_max) {
		victim = conn_idlest(srv, k, false, false);
	}
	if (!victim)
		return;
	shutdown(victim->fd, SHUT_RDWR);
	victim->reaped = true;
	atomic_fetch_add_explicit(&srv->metrics->connections_evicted, 1, memory_order_relaxed);
}

/* Drain the connection after its answer, at its close. Being answered,
 * it is not idle. */
static void conn_linger(struct esc_http_server *srv, struct conn *k)
{
	if (!k)
		return;
	pthread_mutex_lock(&srv->conns_lock);
	k->linger = true;
	k->idle_us = 0;
	pthread_mutex_unlock(&srv->conns_lock);
}

/* A request's line has come (its headers may still be on their way). */
static void conn_line_in(struct esc_http_server *srv, struct conn *k)
{
	if (!k)
		return;
	pthread_mutex_lock(&srv->conns_lock);
	k->line_in = true;
	pthread_mutex_unlock(&srv->conns_lock);
}

static struct conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct esc_http_server *srv = cls;
	struct conn *k = *socket_context;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		worker_yields();
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		k = calloc(1, sizeof *k);
		if (!k || !ci) {
			free(k); /* untracked: only the idle timeout applies */
			return;
		}
		k->fd = ci->connect_fd;
		k->slot = thread_slot(srv);
		k->span_us = srv->opt.header_timeout_ms * 1000;
		k->idle_us = esc_time_monotonic_us();
		k->deadline_us = k->idle_us + k->span_us;
		conn_address(c, k->address);
		pthread_mutex_lock(&srv->conns_lock);
		k->next = srv->conns;
		if (srv->conns)
			srv->conns->prev = k;
		srv->conns = k;
		srv->conns_count++;
		conns_make_room(srv, k);
		pthread_mutex_unlock(&srv->conns_lock);
		*socket_context = k;
		return;
	}
	if (code != MHD_CONNECTION_NOTIFY_CLOSED || !k)
		return;
	pthread_mutex_lock(&srv->conns_lock);
	if (k->prev)
		k->prev->next = k->next;
	else
		srv->conns = k->next;
	if (k->next)
		k->next->prev = k->prev;
	srv->conns_count--;
	/* libmicrohttpd has sent the answer and shut down its side; it
	 * closes its descriptor next, the duplicate keeps the socket. */
	if (k->linger && !k->reaped && srv->lingering_count < LINGER_MAX) {
		int fd = fcntl(k->fd, F_DUPFD_CLOEXEC, 0);
		if (fd >= 0)
			srv->lingering[srv->lingering_count++] =
				(struct lingering){fd, esc_time_monotonic_us() + LINGER_US};
	}
	pthread_mutex_unlock(&srv->conns_lock);
	free(k);
	*socket_context = NULL;
}

/* Read and drop what the lingering sockets received; close those whose
 * client closed, or whose time is up. Called with conns_lock held. */
static void drain_lingering(struct esc_http_server *srv, int64_t now, bool all)
{
	char sink[16384];
	for (size_t i = 0; i < srv->lingering_count;) {
		struct lingering *l = &srv->lingering[i];
		bool done = all || now > l->until_us;
		/* At most 1 MiB a socket a turn: the lock is held. */
		for (int turn = 0; !done && turn < 64; turn++) {
			ssize_t n = recv(l->fd, sink, sizeof sink, MSG_DONTWAIT);
			if (n > 0)
				continue;
			done = n == 0 ||
			       (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
			break;
		}
		if (!done) {
			i++;
			continue;
		}
		close(l->fd);
		*l = srv->lingering[--srv->lingering_count];
	}
}

/* Shut down the connections past their deadline and drain the lingering
 * ones, ten times a second, until reaper_stop. */
static void *reaper_main(void *arg)
{
	struct esc_http_server *srv = arg;
	pthread_mutex_lock(&srv->conns_lock);
	while (!srv->reaper_stop) {
		int64_t now = esc_time_monotonic_us();
		for (struct conn *k = srv->conns; k; k = k->next) {
			if (k->reaped || !k->deadline_us || now <= k->deadline_us)
				continue;
			if (conn_unread(srv, k)) {
				k->deadline_us = now + k->span_us;
				continue;
			}
			shutdown(k->fd, SHUT_RDWR);
			k->reaped = true;
			atomic_fetch_add_explicit(&srv->metrics->connections_cut, 1,
						  memory_order_relaxed);
		}
		drain_lingering(srv, now, false);
		struct timespec ts = esc_monotonic_deadline(esc_time_monotonic_us() + 100 * 1000);
		pthread_cond_timedwait(&srv->conns_wake, &srv->conns_lock, &ts);
	}
	drain_lingering(srv, esc_time_monotonic_us(), true);
	pthread_mutex_unlock(&srv->conns_lock);
	return NULL;
}

/* ---- a request's head, checked before its body is read ---- */

/* Why a target (path and query, as received) is refused, or NULL: a
 * control byte, raw or %-escaped (issue 12 defect 6: "app.js%00.png"
 * was decoded to "app.js" and served it). */
static bool uri_refused(const char *uri, char *why, size_t why_size)
{
	for (const unsigned char *p = (const unsigned char *)uri; *p; p++) {
		if (*p < 0x21 || *p == 0x7f) {
			esc_set_err(why, why_size, "the path holds the control byte 0x%02x", *p);
			return true;
		}
		if (*p == '%' && isxdigit(p[1]) && isxdigit(p[2])) {
			char hex[3] = {(char)p[1], (char)p[2], '\0'};
			long v = strtol(hex, NULL, 16);
			if (v < 0x20 || v == 0x7f) {
				esc_set_err(why, why_size,
					    "the path holds %%%s, an escaped control byte", hex);
				return true;
			}
		}
	}
	return false;
}

/* Whether a target's query holds more than QUERY_PARAMS_MAX parameters;
 * it is then cut after the last one kept. libmicrohttpd 0.9.75 parses the
 * query (after the URI callback) into records in the connection's 32 KiB
 * pool; a few hundred "a=1&" fill it, and the 431 it then means to send
 * is lost (it takes the read buffer away, and the caller sets the
 * connection's state back to reading headers): the client waited for
 * the head's deadline and got nothing. Cut, the query fits, and the
 * request is answered 400. The target is libmicrohttpd's own buffer,
 * which it writes a NUL into at each '&' next anyway. */
#define QUERY_PARAMS_MAX 100 /* on_head's hint says it */
static bool query_cut(char *uri, char *why, size_t why_size)
{
	char *p = strchr(uri, '?');
	for (int params = 1; p && (p = strchr(p + 1, '&')); params++) {
		if (params == QUERY_PARAMS_MAX) {
			*p = '\0';
			esc_set_err(why, why_size, "the query holds more than %d parameters",
				    QUERY_PARAMS_MAX);
			return true;
		}
	}
	return false;
}

/* libmicrohttpd (0.9.75) parses a request's head where it received it,
 * ending each string (method, target, version, each header's name and
 * value) with a NUL written over the separator after it. A NUL sent by
 * the client ends a string early and hides what follows ("abc\0one" is
 * read as "abc"): the next string then starts further on than one
 * separator (or a line break, CR LF or LF) explains. head_scan walks the
 * strings in order and measures those gaps. A header libmicrohttpd copied
 * elsewhere (a line folded onto the next, obsolete since RFC 7230) is
 * refused as well. tests/unit/test_hardening.c "issue 12 defect 6" fails
 * if a libmicrohttpd parses otherwise. */
struct head_scan {
	uintptr_t end;    /* one past the head's last byte */
	uintptr_t cursor; /* one past the last string seen */
	const char *prev; /* its header's name ("" for the request line) */
	size_t prev_size;
	int content_lengths;  /* Content-Length headers */
	int transfer_codings; /* Transfer-Encoding headers */
	bool chunked_only;    /* each of them says "chunked" alone */
	unsigned singles;     /* which of single_headers were seen */
	char why[160];        /* the first fault */
};

/* Headers a request sends once at most: where a proxy in front reads the
 * last copy and escrowd the first, the two would see another caller,
 * key or type (an attack review sent two Authorization headers, the
 * operator key last). Content-Length is counted on its own. */
static const char *const single_headers[] = {"Authorization",   "Content-Type", "Host",
					     "Idempotency-Key", "If-Match",     "X-CSRF-Token"};

static bool is_token_char(unsigned char ch)
{
	return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
				   size_t key_size, const char *value, size_t value_size)
{
	struct head_scan *h = cls;
	uintptr_t k = (uintptr_t)key, v = (uintptr_t)value;
	(void)kind;
	if (!value)
		v = k + key_size + 1;
	if (k < h->cursor + 1 || v < k + key_size + 1 || v + value_size > h->end) {
		/* Not named: libmicrohttpd joined the lines, and the name
		 * it reports runs on into the value (a credential's, say). */
		snprintf(h->why, sizeof h->why,
			 "a header is folded onto a second line (obsolete line folding)");
		return MHD_NO;
	}
	if (k > h->cursor + 2) {
		snprintf(h->why, sizeof h->why, "%s%.*s holds a NUL byte",
			 h->prev_size ? "the header " : "the request line",
			 (int)(h->prev_size > 40 ? 40 : h->prev_size), h->prev);
		return MHD_NO;
	}
	for (size_t i = 0; i < key_size; i++) {
		if (!is_token_char((unsigned char)key[i])) {
			snprintf(h->why, sizeof h->why, "a header's name holds the byte 0x%02x",
				 (unsigned char)key[i]);
			return MHD_NO;
		}
	}
	for (size_t i = 0; i < value_size; i++) {
		unsigned char ch = (unsigned char)value[i];
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
			snprintf(h->why, sizeof h->why,
				 "the header %.*s holds the control byte 0x%02x",
				 (int)(key_size > 40 ? 40 : key_size), key, ch);
			return MHD_NO;
		}
	}
	if (key_size == 14 && !strncasecmp(key, "Content-Length", 14))
		h->content_lengths++;
	for (size_t i = 0; i < sizeof single_headers / sizeof *single_headers; i++) {
		if (key_size != strlen(single_headers[i]) ||
		    strncasecmp(key, single_headers[i], key_size))
			continue;
		if (h->singles & 1u << i) {
			snprintf(h->why, sizeof h->why, "%s is sent more than once",
				 single_headers[i]);
			return MHD_NO;
		}
		h->singles |= 1u << i;
	}
	if (key_size == 17 && !strncasecmp(key, "Transfer-Encoding", 17)) {
		size_t n = value_size;
		while (n && (value[n - 1] == ' ' || value[n - 1] == '\t'))
			n--;
		h->transfer_codings++;
		if (n != 7 || strncasecmp(value, "chunked", 7))
			h->chunked_only = false;
	}
	h->cursor = v + value_size;
	h->prev = key;
	h->prev_size = key_size;
	return MHD_YES;
}

/* 0, or ESC_EINVAL with why when the head is refused: a NUL or control
 * byte anywhere (defect 6), or a length that two headers could disagree
 * on (defect 5, RFC 9112 section 6.3: the answer closes the connection,
 * so that no body is read as a second request). */
static int check_head(struct MHD_Connection *c, const char *method, const char *version,
		      const struct request *req, char *why, size_t why_size)
{
	if (req->uri_bad[0]) {
		esc_set_err(why, why_size, "%s", req->uri_bad);
		return ESC_EINVAL;
	}
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	uintptr_t start = (uintptr_t)method, uri = (uintptr_t)req->uri_at;
	if (!ci || uri != start + strlen(method) + 1 ||
	    (uintptr_t)version != uri + req->uri_len + 1) {
		esc_set_err(why, why_size, "the request line holds a NUL byte");
		return ESC_EINVAL;
	}
	struct head_scan h = {.end = start + ci->header_size,
			      .cursor = (uintptr_t)version + strlen(version),
			      .prev = "",
			      .chunked_only = true};
	MHD_get_connection_values_n(c, MHD_HEADER_KIND, scan_header, &h);
	/* After the last string: its line break and the empty line's. */
	if (!h.why[0] && (h.end < h.cursor + 2 || h.end > h.cursor + 4))
		snprintf(h.why, sizeof h.why, "%s%.*s holds a NUL byte",
			 h.prev_size ? "the header " : "the request line",
			 (int)(h.prev_size > 40 ? 40 : h.prev_size), h.prev);
	if (!h.why[0] && h.content_lengths > 1)
		snprintf(h.why, sizeof h.why, "Content-Length is sent more than once");
	if (!h.why[0] && h.content_lengths && h.transfer_codings)
		snprintf(h.why, sizeof h.why, "Content-Length and Transfer-Encoding are both sent");
	if (!h.why[0] && h.transfer_codings && (h.transfer_codings > 1 || !h.chunked_only))
		snprintf(h.why, sizeof h.why, "Transfer-Encoding may only be chunked, once");
	if (!h.why[0] && h.transfer_codings && strcmp(version, "HTTP/1.1"))
		snprintf(h.why, sizeof h.why, "Transfer-Encoding needs HTTP/1.1");
	if (!h.why[0])
		return 0;
	esc_set_err(why, why_size, "%s", h.why);
	return ESC_EINVAL;
}

/* A request id: 64 bits that look random, without a getrandom call per
 * request (a system call under every request, /healthz's too). Each
 * thread draws a seed once and walks splitmix64's sequence from it,
 * whose outputs do not repeat within a thread; across threads two ids
 * meet as seldom as two random ones. Ids name log lines; nothing secret. */
static uint64_t request_id_next(void)
{
	static _Thread_local uint64_t state;
	static _Thread_local bool seeded;
	if (!seeded) {
		randombytes_buf(&state, sizeof state);
		seeded = true;
	}
	uint64_t z = (state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* libmicrohttpd's call once a request's line is in, before its headers:
 * the request begins here, with its target as received. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct esc_http_server *srv = cls;
	struct request *req = atomic_exchange(&srv->spare[thread_slot(srv)], NULL);
	if (req)
		memset(req, 0, sizeof *req);
	else
		req = calloc(1, sizeof *req);
	if (!req)
		return NULL;
	req->srv = cls;
	req->started_us = esc_time_monotonic_us();
	req->route = -1;
	uint64_t id = request_id_next();
	unsigned char rnd[8];
	memcpy(rnd, &id, sizeof rnd);
	sodium_bin2hex(req->id, sizeof req->id, rnd, sizeof rnd);
	req->uri_at = uri;
	req->uri_len = strlen(uri);
	if (!uri_refused(uri, req->uri_bad, sizeof req->uri_bad))
		query_cut((char *)uri, req->uri_bad, sizeof req->uri_bad);
	req->conn = conn_of(c);
	conn_line_in(srv, req->conn);
	return req;
}

/* Room for a body of the announced length (at most the limit) in one
 * block, not grown by a dozen doublings that each copy it and leave a
 * freed block behind in the thread's arena. A block that large is a
 * mapping of its own (keep_large_blocks_out_of_arenas), whose pages cost
 * nothing until the body's bytes fill them. Without the memory, the body
 * grows as it comes. */
static void body_reserve(struct esc_strbuf *body, unsigned long long length)
{
	if (!length || length > body->max || body->buf)
		return;
	char *p = malloc((size_t)length + 1);
	if (!p)
		return;
	p[0] = '\0';
	body->buf = p;
	body->alloc = (size_t)length + 1;
}

/* The first call, with the line and headers: refuse what must not be
 * read on (the connection is closed after the answer, as a body may
 * follow), else start the body's clock. */
static enum MHD_Result on_head(struct esc_http_server *srv, struct MHD_Connection *c,
			       const char *url, const char *method, const char *version,
			       struct request *req)
{
	char why[200];
	enum MHD_Result ok;
	req->head_read = true;
	/* Found once: dispatch takes it from here. */
	const struct esc_route *route = esc_route_find(route_method(method), url, req->path,
						       sizeof req->path, &req->param,
						       &req->path_known);
	req->found = route;
	/* A file upload may be larger than a JSON body. */
	size_t limit = route && route->body == ESC_BODY_FILE ? (size_t)ESC_EVIDENCE_BYTES_MAX
							     : srv->opt.body_bytes_max;
	esc_strbuf_init(&req->body, limit);
	req->route = route ? (int)(route - esc_routes) : -1;
	int rc = check_head(c, method, version, req, why, sizeof why);
	if (rc) {
		req->close = req->answered = true;
		conn_linger(srv, req->conn);
		ok = respond_error_hint(c, req, rc, why,
					"send each header once, with visible characters only, "
					"and a path without control bytes and with at most 100 "
					"query parameters");
		record(srv, req, url, method);
		return ok;
	}
	/* A body announced larger than the limit is refused before it is
	 * sent (issue 12 defect 1), also to a client that waits for 100
	 * Continue. */
	const char *length = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
	if (length && strtoull(length, NULL, 10) > limit) {
		req->close = req->answered = true;
		conn_linger(srv, req->conn);
		snprintf(why, sizeof why, "the request body is larger than %zu bytes", limit);
		ok = respond_error_hint(c, req, ESC_ETOOLARGE, why,
					route && route->body == ESC_BODY_FILE
						? "evidence files are at most 5 MiB each"
						: "send a smaller body");
		record(srv, req, url, method);
		return ok;
	}
	if (length)
		body_reserve(&req->body, strtoull(length, NULL, 10));
	req->body_length = length ? strtoull(length, NULL, 10) : UINT64_MAX;
	req->body_started_us = esc_time_monotonic_us();
	if (!conn_deadline(srv, req->conn, req->body_started_us + srv->opt.body_timeout_ms * 1000,
			   srv->opt.body_timeout_ms * 1000, false))
		return MHD_NO;
	return MHD_YES;
}

/* Some of the body: kept, and the body's deadline moved by what came, so
 * that a body slower than body_rate_min on average is cut off. Its last
 * bytes are not: read late by a busy thread, they came in time for all
 * the server knows. */
static enum MHD_Result on_body(struct esc_http_server *srv, struct request *req, const char *upload,
			       size_t *upload_size)
{
	req->body_received += *upload_size;
	int64_t deadline = req->body_started_us + srv->opt.body_timeout_ms * 1000 +
			   (int64_t)(req->body_received * 1000000 / srv->opt.body_rate_min);
	if (!conn_deadline(srv, req->conn, deadline, srv->opt.body_timeout_ms * 1000,
			   req->body_received < req->body_length))
		return MHD_NO;
	if (!req->too_large && esc_strbuf_add(&req->body, upload, *upload_size))
		req->too_large = true;
	*upload_size = 0;
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct esc_http_server *srv = cls;
	struct request *req = *con_cls;
	enum MHD_Result ok;
	if (!req)
		return MHD_NO; /* on_uri found no memory */
	if (req->queued) {
		/* Resumed (on_committed): the command's commit is in. */
		ESC_ASSERT(atomic_load_explicit(&req->committed, memory_order_acquire),
			   "a request called again before its command's commit");
		req->queued = false;
		int slot = thread_slot(srv);
		atomic_fetch_add(&srv->busy[slot], 1);
		ok = command_answer(srv, c, req);
		atomic_fetch_sub(&srv->busy[slot], 1);
		record(srv, req, url, method);
		return ok;
	}
	if (req->answered) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (!req->head_read)
		return on_head(srv, c, url, method, version, req);
	if (*upload_size)
		return on_body(srv, req, upload, upload_size);
	/* The whole request is in: from here the daemon owes the answer,
	 * and no deadline runs (a command may wait for its commit). */
	if (!conn_deadline(srv, req->conn, 0, 0, false))
		return MHD_NO;
	req->answered = true;
	if (!stop_admit(srv, method)) {
		enum MHD_Result refused = refuse_stopping(c, req);
		record(srv, req, url, method);
		return refused;
	}
	int slot = thread_slot(srv);
	atomic_fetch_add(&srv->busy[slot], 1);
	ok = dispatch(srv, c, url, method, req);
	atomic_fetch_sub(&srv->busy[slot], 1);
	if (!req->queued)
		record(srv, req, url, method);
	return ok;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct esc_http_server *srv = cls;
	struct request *req = *con_cls;
	(void)toe;
	/* Kept alive, the connection now waits for the next request's head. */
	conn_await_head(srv, conn_of(c));
	if (!req)
		return;
	if (req->queued) {
		/* Its command ran, but its client went (or the daemon stops)
		 * before the answer: logged with the command's outcome. */
		int rc = req->call.pending->sub.res->rc;
		req->status = rc ? esc_error_status(rc) : req->call.status;
		record(srv, req, req->target, req->method);
	}
	call_release(srv, req);
	if (req->counted) {
		pthread_mutex_lock(&srv->queue_lock);
		srv->queued--;
		if (srv->stopping)
			pthread_cond_broadcast(&srv->queue_idle);
		pthread_mutex_unlock(&srv->queue_lock);
	}
	esc_strbuf_release(&req->body);
	free(atomic_exchange(&srv->spare[thread_slot(srv)], req));
	*con_cls = NULL;
}

int esc_http_listen_check(const char *name, const char *listen, char *host, size_t host_size,
			  char *err, size_t err_size)
{
	const char *colon = strrchr(listen, ':'), *h = listen;
	size_t hlen = colon ? (size_t)(colon - listen) : 0;
	if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
		h++;
		hlen -= 2;
	}
	char *end = NULL;
	long port = colon ? strtol(colon + 1, &end, 10) : -1;
	if (!colon || !hlen || hlen >= host_size || !colon[1] || *end || port < 0 || port > 65535 ||
	    (memchr(h, ':', hlen) && h == listen)) {
		esc_set_err(err, err_size,
			    "%s must be HOST:PORT (127.0.0.1:8080, [::1]:8080 or "
			    "localhost:8080), not '%s'",
			    name, listen);
		return ESC_EINVAL;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	return 0;
}

/* --listen's HOST:PORT: an IPv4 address, [IPv6] or a host name, and a
 * port; *list the addresses it names (freeaddrinfo), or ESC_EINVAL with
 * why in err. */
static int parse_listen(const char *name, const char *listen, struct addrinfo **list, char *err,
			size_t err_size)
{
	char host[256];
	if (esc_http_listen_check(name, listen, host, sizeof host, err, err_size))
		return ESC_EINVAL;
	const char *colon = strrchr(listen, ':');
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	int grc = getaddrinfo(host, colon + 1, &hints, list);
	if (grc) {
		esc_set_err(err, err_size, "%s %s: cannot resolve '%s': %s", name, listen, host,
			    gai_strerror(grc));
		return ESC_EINVAL;
	}
	return 0;
}

static void address_text(const struct sockaddr *sa, char *out, size_t size)
{
	char text[INET6_ADDRSTRLEN];
	if (sa->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, text,
			  sizeof text);
		snprintf(out, size, "[%s]", text);
	} else {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, text, sizeof text);
		snprintf(out, size, "%s", text);
	}
}

static bool address_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
	return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
}

/* A PEM file of at most 1 MiB, NUL-terminated, into *out (free it). */
static int read_pem(const char *key, const char *path, char **out, char *err, size_t err_size)
{
	struct esc_strbuf sb;
	char chunk[4096];
	esc_strbuf_init(&sb, 1024 * 1024);
	FILE *f = fopen(path, "rb");
	if (!f) {
		esc_set_err(err, err_size, "http.%s: cannot read %s: %s", key, path,
			    strerror(errno));
		return ESC_EINVAL;
	}
	size_t n;
	bool failed = false;
	while (!failed && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
		failed = esc_strbuf_add(&sb, chunk, n) != 0;
	failed = failed || ferror(f);
	fclose(f);
	if (failed || !strstr(esc_strbuf_str(&sb), "-----BEGIN ")) {
		esc_set_err(err, err_size, "http.%s: %s is not a PEM file (-----BEGIN ...)", key,
			    path);
		esc_strbuf_release(&sb);
		return ESC_EINVAL;
	}
	*out = sb.buf;
	return 0;
}

/* Install the operator key given at start (kept hashed). */
static int install_key(struct esc_engine *e, const char *key, char *err, size_t err_size)
{
	int rc;
	if (strlen(key) < ESC_KEY_SECRET_MIN) {
		esc_set_err(err, err_size, "--operator-key must be at least %d characters",
			    ESC_KEY_SECRET_MIN);
		return ESC_EINVAL;
	}
	rc = esc_keys_install(e, key, ESC_KEY_NAME_OPERATOR_KEY);
	if (rc == ESC_ELIMIT)
		esc_set_err(
			err, err_size,
			"cannot store the operator key: the store holds %d operator keys, revoked "
			"ones included, the most it keeps; start with a key it has",
			ESC_API_KEYS_MAX);
	else if (rc)
		esc_set_err(err, err_size, "cannot store the operator key: %s",
			    esc_error_message(rc));
	return rc;
}

static int serve(struct esc_http_server *srv, volatile sig_atomic_t *stop, uint16_t *port,
		 char *err, size_t err_size);

int esc_http_serve(struct esc_engine *e, const struct esc_http_options *opt,
		   volatile sig_atomic_t *stop, uint16_t *port, char *err, size_t err_size)
{
	struct esc_http_server srv = {.e = e, .opt = *opt};
	int rc;

	ESC_ASSERT(esc_routes_count <= ROUTES_MAX, "%zu routes, and metrics count %d",
		   esc_routes_count, ROUTES_MAX);

	/* SPEC §8: production mode never serves a manual clock (escrowd
	 * serve says so before it gets here). */
	if (esc_engine_clock_manual(e) && !opt->test_mode) {
		esc_set_err(err, err_size, "a manual clock is served in mode = test only");
		return ESC_EINVAL;
	}
	esc_idem_running_init(&srv.running);
	pthread_mutex_init(&srv.conns_lock, NULL);
	pthread_mutex_init(&srv.queue_lock, NULL);
	esc_cond_init_monotonic(&srv.conns_wake);
	esc_cond_init_monotonic(&srv.queue_idle);
	srv.limits = calloc(1, sizeof *srv.limits);
	srv.metrics = calloc(1, sizeof *srv.metrics);
	if (!srv.limits || !srv.metrics) {
		free(srv.limits);
		free(srv.metrics);
		esc_idem_running_release(&srv.running);
		pthread_mutex_destroy(&srv.conns_lock);
		pthread_cond_destroy(&srv.conns_wake);
		pthread_mutex_destroy(&srv.queue_lock);
		pthread_cond_destroy(&srv.queue_idle);
		return ESC_ENOMEM;
	}
	srv.limits->by_account =
		(struct esc_ratelimit){"signin.account", 15 * 60 * 1000, opt->signin_per_account};
	srv.limits->by_address =
		(struct esc_ratelimit){"signin.address", 60 * 1000, opt->signin_per_address};
	sem_init(&srv.limits->hashing, 0, opt->hashing_max ? opt->hashing_max : 1);
	rc = serve(&srv, stop, port, err, err_size);
	for (size_t i = 0; i < THREAD_SLOTS; i++)
		free(atomic_load(&srv.spare[i]));
	sem_destroy(&srv.limits->hashing);
	free(srv.limits);
	free(srv.metrics);
	esc_idem_running_release(&srv.running);
	pthread_mutex_destroy(&srv.conns_lock);
	pthread_cond_destroy(&srv.conns_wake);
	pthread_mutex_destroy(&srv.queue_lock);
	pthread_cond_destroy(&srv.queue_idle);
	return rc;
}

/* epoll takes as many connections as the process may open files: make
 * room for connections_max and the store's files (soft limit up to the
 * hard one), or say what to change. */
static void make_room_for_connections(unsigned connections)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)connections + 256;
	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ? rl.rlim_max : want;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur < want) {
		char msg[300];
		snprintf(msg, sizeof msg,
			 "at most %llu files may be open, and http.connections_max = %u needs "
			 "%llu: raise the limit (ulimit -n, or LimitNOFILE= for systemd) or lower "
			 "http.connections_max",
			 (unsigned long long)rl.rlim_cur, connections, (unsigned long long)want);
		esc_log(ESC_LOG_WARN, msg, ESC_LOG_INT("open_files_max", rl.rlim_cur),
			ESC_LOG_INT("open_files_wanted", want));
	}
}

/* Request bodies (up to http.body_max, 1 MiB; evidence files 5 MiB) and
 * jansson's copies of their strings are allocated and freed by the
 * worker threads, which glibc spreads over arenas of their own (8 per
 * core). glibc's mmap threshold starts at 128 KiB but rises to the size
 * of the largest mapped block freed (up to 32 MiB): after the first large
 * body, every later one is carved out of an arena, where the hole it
 * leaves stays, pinned by the small blocks that live longer around it,
 * so that each arena keeps megabytes and a long run of 200 KB bodies
 * crept (issue 12: +25 MB after 5,000 of them, then 30 bytes a request).
 * A fixed threshold stops the rise: a block of 128 KiB or more is a
 * mapping of its own, given back to the system when freed. */
static void keep_large_blocks_out_of_arenas(void)
{
#ifdef M_MMAP_THRESHOLD
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
	/* Fixing the threshold also fixes the trim threshold at 128 KiB:
	 * each arena then gave its top back (madvise, and a TLB flush on
	 * every core) and faulted it in again many times a second under
	 * load. 1 MiB of top per arena stays. */
#ifdef M_TRIM_THRESHOLD
	mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
#endif
}

/* libmicrohttpd's messages, one line each; at most ten a second, since
 * a client can cause one per connection (an address over its limit). */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static int64_t second;
	static unsigned lines, dropped;
	char line[300];
	(void)cls;
	vsnprintf(line, sizeof line, fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	int64_t now = esc_time_monotonic_us() / 1000000;
	pthread_mutex_lock(&lock);
	if (now != second) {
		if (dropped)
			esc_log(ESC_LOG_WARN, "libmicrohttpd: more messages left out",
				ESC_LOG_INT("count", dropped));
		second = now;
		lines = dropped = 0;
	}
	if (lines < 10) {
		lines++;
		char msg[320];
		snprintf(msg, sizeof msg, "libmicrohttpd: %s", line);
		esc_log(ESC_LOG_WARN, msg);
	} else {
		dropped++;
	}
	pthread_mutex_unlock(&lock);
}

/* At the stop: a change that comes in is refused (stop_admit), one
 * admitted before runs in its thread (command_queue) rather than being
 * left to the writer, and libmicrohttpd 0.9.75 aborts in
 * MHD_stop_daemon if a connection is still suspended: wait until the
 * writer has resumed every one. Then give their answers up to 2 s to go
 * out, as a request in flight in a thread gets. */
static void drain_commands(struct esc_http_server *srv)
{
	struct timespec until = esc_monotonic_deadline(esc_time_monotonic_us() + 2 * 1000 * 1000);
	pthread_mutex_lock(&srv->queue_lock);
	__atomic_store_n(&srv->stopping, true, __ATOMIC_RELEASE); /* stop_admit reads it */
	while (srv->suspended)
		pthread_cond_wait(&srv->queue_idle, &srv->queue_lock);
	while (srv->queued &&
	       pthread_cond_timedwait(&srv->queue_idle, &srv->queue_lock, &until) != ETIMEDOUT)
		;
	srv->closing = true;
	pthread_mutex_unlock(&srv->queue_lock);
}

/* Run the daemon until *stop; srv outlives it. */
static void tell(const struct esc_http_options *opt, enum esc_http_state state)
{
	if (opt->on_state)
		opt->on_state(opt->on_state_arg, state);
}

/* The deadline worker's second between looks, in tenths, each told as
 * ALIVE (systemd's watchdog: a loop that hangs stops telling). */
static void nap(const struct esc_http_options *opt, volatile sig_atomic_t *stop)
{
	tell(opt, ESC_HTTP_ALIVE);
	for (int i = 0; i < 10 && !*stop; i++) {
		usleep(100 * 1000);
		tell(opt, ESC_HTTP_ALIVE);
	}
}

/* The admin listener (on_admin) when http.admin_listen is set; *out
 * stays NULL otherwise. 0, or ESC_EINVAL or ESC_EIO with why in err. */
static int admin_start(struct esc_http_server *srv, struct MHD_Daemon **out, char *err,
		       size_t err_size)
{
	struct addrinfo *list = NULL;
	char tried[512] = "", where[INET6_ADDRSTRLEN + 2] = "";
	*out = NULL;
	if (!srv->opt.admin_listen[0])
		return 0;
	if (parse_listen("http.admin_listen", srv->opt.admin_listen, &list, err, err_size))
		return ESC_EINVAL;
	for (const struct addrinfo *ai = list; ai && !*out; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		address_text(ai->ai_addr, where, sizeof where);
		size_t used = strlen(tried);
		snprintf(tried + used, sizeof tried - used, "%s%s", used ? ", " : "", where);
		/* epoll, as the API's listener: select() refuses a socket past
		 * FD_SETSIZE, which a busy daemon's descriptors reach. */
		unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
		if (ai->ai_family == AF_INET6)
			flags |= MHD_USE_IPv6;
		*out = MHD_start_daemon(
			flags, 0, NULL, NULL, on_admin, srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log,
			srv, MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT, 64u,
			MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
	}
	freeaddrinfo(list);
	if (!*out) {
		esc_set_err(err, err_size,
			    "cannot listen on http.admin_listen = %s (tried %s): is the port taken "
			    "(by another program, or by listen itself)? Choose another port",
			    srv->opt.admin_listen, tried);
		return ESC_EIO;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(*out, MHD_DAEMON_INFO_BIND_PORT);
	char url[INET6_ADDRSTRLEN + 20], msg[sizeof url + 64];
	snprintf(url, sizeof url, "http://%s:%u", where, info ? (unsigned)info->port : 0u);
	snprintf(msg, sizeof msg, "admin listener on %s: /metrics and /healthz", url);
	esc_log(ESC_LOG_INFO, msg, ESC_LOG_STR("url", url));
	return 0;
}

static int serve(struct esc_http_server *srv, volatile sig_atomic_t *stop, uint16_t *port,
		 char *err, size_t err_size)
{
	struct esc_engine *e = srv->e;
	const struct esc_http_options *opt = &srv->opt;
	struct addrinfo *list = NULL;
	struct MHD_Daemon *d = NULL;
	char *cert = NULL, *key = NULL;
	int rc = 0;

	if (parse_listen("--listen", opt->listen, &list, err, err_size))
		return ESC_EINVAL;
	if (!*opt->tls_cert != !*opt->tls_key) {
		esc_set_err(err, err_size,
			    "TLS needs both http.tls_cert and http.tls_key (or neither, for "
			    "plain HTTP)");
		freeaddrinfo(list);
		return ESC_EINVAL;
	}
	if (*opt->tls_cert) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			esc_set_err(err, err_size,
				    "this libmicrohttpd serves no TLS: leave http.tls_cert and "
				    "http.tls_key out and put a proxy in front");
			rc = ESC_EINVAL;
		}
		if (!rc)
			rc = read_pem("tls_cert", opt->tls_cert, &cert, err, err_size);
		if (!rc)
			rc = read_pem("tls_key", opt->tls_key, &key, err, err_size);
		if (rc) {
			free(cert);
			freeaddrinfo(list);
			return rc;
		}
		srv->tls = true;
	}
	if (opt->operator_key && *opt->operator_key) {
		rc = install_key(e, opt->operator_key, err, err_size);
		if (rc) {
			free(cert);
			free(key);
			freeaddrinfo(list);
			return rc;
		}
	}
	make_room_for_connections(limit_hard(opt->connections_max));
	keep_large_blocks_out_of_arenas();
	/* epoll in each of the pool's threads: idle connections cost no
	 * thread, and a command's connection is suspended while the
	 * engine's writer commits it (command_queue): no thread waits for a
	 * commit, and a commit holds every command waiting. A host name's
	 * addresses are tried in getaddrinfo's order: the first that binds
	 * serves. */
	char tried[512] = "", where[INET6_ADDRSTRLEN + 2] = "";
	const struct addrinfo *ai;
	for (ai = list; ai && !d; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		address_text(ai->ai_addr, where, sizeof where);
		size_t used = strlen(tried);
		snprintf(tried + used, sizeof tried - used, "%s%s", used ? ", " : "", where);
		unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC |
				 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
		if (ai->ai_family == AF_INET6)
			flags |= MHD_USE_IPv6;
		if (srv->tls)
			flags |= MHD_USE_TLS;
		d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv,
				     MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
				     MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_THREAD_POOL_SIZE,
				     (unsigned)opt->threads, MHD_OPTION_CONNECTION_LIMIT,
				     limit_hard(opt->connections_max),
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)opt->timeout_s,
				     MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
				     MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
				     MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
				     srv->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cert,
				     MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_END);
		if (d)
			srv->loopback = address_loopback(ai->ai_addr);
	}
	uint16_t wanted = 0;
	if (list)
		wanted = ntohs(list->ai_family == AF_INET6
				       ? ((struct sockaddr_in6 *)list->ai_addr)->sin6_port
				       : ((struct sockaddr_in *)list->ai_addr)->sin_port);
	freeaddrinfo(list);
	if (!d) {
		free(cert);
		free(key);
		if (srv->tls)
			esc_set_err(err, err_size,
				    "cannot serve TLS on %s (tried %s): is the address free, and "
				    "are http.tls_cert and http.tls_key a certificate and its key "
				    "in PEM? (the line above says which)",
				    opt->listen, tried);
		else
			esc_set_err(err, err_size, "cannot listen on %s (tried %s)", opt->listen,
				    tried);
		return ESC_EIO;
	}
	struct MHD_Daemon *admin = NULL;
	rc = admin_start(srv, &admin, err, err_size);
	if (rc) {
		MHD_stop_daemon(d);
		free(cert);
		free(key);
		return rc;
	}
	pthread_t reaper;
	if (pthread_create(&reaper, NULL, reaper_main, srv)) {
		if (admin)
			MHD_stop_daemon(admin);
		MHD_stop_daemon(d);
		free(cert);
		free(key);
		esc_set_err(err, err_size, "cannot start a thread");
		return ESC_ENOMEM;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	uint16_t bound = info ? info->port : wanted;
	if (port)
		*port = bound;
	char url[INET6_ADDRSTRLEN + 20], msg[sizeof url + 16];
	snprintf(url, sizeof url, "%s://%s:%u", srv->tls ? "https" : "http", where,
		 (unsigned)bound);
	snprintf(msg, sizeof msg, "listening on %s", url);
	esc_log(ESC_LOG_INFO, msg, ESC_LOG_STR("url", url));
	tell(opt, ESC_HTTP_READY);

	/* The deadline worker: fire what is due, batch after batch while
	 * batches fire something, then look again about a second later. Each
	 * batch is the writer's turn between two of its command batches
	 * (esc_engine_fire_due), so that a million due deadlines fire at the
	 * writer's speed without holding the commands back. A manual clock
	 * fires when it is advanced, in the request that moved it. */
	struct esc_log_run firing = {0};
	while (!*stop) {
		size_t fired = 0;
		if (!esc_engine_clock_manual(e)) {
			int frc = esc_engine_fire_due(e, 0, &fired);
			/* While the store does not answer, the first failure
			 * and the firing that works again are logged. */
			if (frc)
				esc_log_run_failed(&firing, "deadlines", "firing",
						   esc_error_message(frc), esc_engine_store_said());
			else
				esc_log_run_ok(&firing, "deadlines");
			if (!frc && fired)
				continue;
		}
		nap(opt, stop);
	}
	tell(opt, ESC_HTTP_STOPPING);
	/* Let the commands in flight finish, then stop. The listening socket
	 * stays open until MHD_stop_daemon: libmicrohttpd 0.9.75's
	 * MHD_quiesce_daemon takes it out of each pool thread's epoll set
	 * from this thread, and aborts ("Failed to remove listen FD from
	 * epoll set") when a busy thread took it out first. A change that
	 * comes in meanwhile is refused, 503 and nothing done (stop_admit),
	 * so that the drain ends and each change made is answered; a read is
	 * served. tests/unit/test_http.c
	 * limits_a_daemon_stopped_while_clients_connect_exits_cleanly and
	 * limits_a_daemon_stopped_under_load_answers_every_change_it_made. */
	drain_commands(srv);
	MHD_stop_daemon(d);
	if (admin)
		MHD_stop_daemon(admin);
	pthread_mutex_lock(&srv->conns_lock);
	srv->reaper_stop = true;
	pthread_cond_signal(&srv->conns_wake);
	pthread_mutex_unlock(&srv->conns_lock);
	pthread_join(reaper, NULL);
	free(cert);
	free(key);
	esc_log(ESC_LOG_INFO, "stopped");
	return 0;
}
