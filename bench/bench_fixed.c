/*
 * bench_fixed - an open-loop load at a fixed rate, for the p99 of issue 15.
 *
 * Usage: bench_fixed PORT RATE CONNS SECONDS KEY BODIES
 *
 * Sends POST /v1/orders to 127.0.0.1:PORT at RATE requests a second for
 * SECONDS, over CONNS keep-alive connections, each request's body the next
 * line of the file BODIES (cycled), with "Authorization: Bearer KEY".
 * BODIES "-" sends every request with an empty body: the group-commit
 * reference reads none, and hangs on one it does not read.
 *
 * Request k is due at start + k / RATE, whatever became of the ones
 * before it. A due request goes out on an idle connection at once; when
 * none is idle it waits, and its latency still counts from the time it
 * was due, not from the time it went out. A closed-loop load (each
 * connection pausing after each answer, as wrk's delay() does) slows down
 * when the server does and never sees the queue it would have built: the
 * "coordinated omission" that hides the tail. The timer is a timerfd set
 * to the next due time, so the generator sleeps between requests and
 * leaves the two cores to the server.
 *
 * Prints one line: "due sent answered refused p50_us p99_us p999_us
 * max_us seconds", where refused counts answers other than 201 (or
 * ESC_FIXED_OK's status: 200 for the group-commit reference, which answers
 * any request so) and connections lost with a request on them. With ESC_FIXED_TRACE=FILE it
 * also writes each answer's due time (µs from the start) and latency
 * there, a line each.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

enum { RBUF = 65536, MAX_CONNS = 4096 };

struct conn {
	int fd;
	int busy;       /* a request is out on it */
	int64_t due_us; /* when that request was due */
	size_t len;
	char buf[RBUF];
};

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static int dial(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int one = 1;
	int fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		die("connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* The length of the whole answer at the start of c->buf, 0 while it is
 * incomplete, -1 when it cannot be read (no Content-Length). */
static long answer_length(const struct conn *c, int *status)
{
	const char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
	const char *p;
	long body = -1;

	if (end == NULL)
		return 0;
	if (c->len < 12 || strncmp(c->buf, "HTTP/1.", 7) != 0)
		return -1;
	*status = atoi(c->buf + 9);
	for (p = c->buf; p < end; p++) {
		if ((p == c->buf || p[-1] == '\n') && strncasecmp(p, "Content-Length:", 15) == 0) {
			body = strtol(p + 15, NULL, 10);
			break;
		}
	}
	if (body < 0)
		return -1;
	if ((size_t)(end + 4 - c->buf) + (size_t)body > c->len)
		return 0;
	return (long)(end + 4 - c->buf) + body;
}

int main(int argc, char **argv)
{
	static struct conn conns[MAX_CONNS];
	struct epoll_event ev, evs[256];
	char **bodies = NULL, *line = NULL, req[8192];
	size_t nbodies = 0, cap = 0, linecap = 0;
	int64_t *lat, *queue, start, end, total, next = 0, qhead = 0, qtail = 0;
	int64_t sent = 0, answered = 0, refused = 0;
	int port, nconns, ep, tfd, i, n;
	double rate, seconds;
	const char *key;
	ssize_t got;
	FILE *f, *trace = NULL;

	if (argc != 7) {
		fprintf(stderr, "usage: bench_fixed PORT RATE CONNS SECONDS KEY BODIES\n");
		return 2;
	}
	const char *ok = getenv("ESC_FIXED_OK");
	int ok_status = ok ? atoi(ok) : 201;
	port = atoi(argv[1]);
	rate = atof(argv[2]);
	nconns = atoi(argv[3]);
	seconds = atof(argv[4]);
	key = argv[5];
	if (rate <= 0 || seconds <= 0 || nconns < 1 || nconns > MAX_CONNS) {
		fprintf(stderr, "bench_fixed: RATE and SECONDS > 0, 1 <= CONNS <= %d\n", MAX_CONNS);
		return 2;
	}
	if (!strcmp(argv[6], "-")) {
		bodies = malloc(sizeof(*bodies));
		if (bodies == NULL || (bodies[0] = strdup("")) == NULL)
			die("malloc");
		nbodies = cap = 1;
		f = NULL;
	} else if ((f = fopen(argv[6], "r")) == NULL) {
		die(argv[6]);
	}
	while (f && (got = getline(&line, &linecap, f)) > 0) {
		if (line[got - 1] == '\n')
			line[--got] = '\0';
		if (got == 0)
			continue;
		if (nbodies == cap) {
			cap = cap ? 2 * cap : 64;
			bodies = realloc(bodies, cap * sizeof(*bodies));
			if (bodies == NULL)
				die("realloc");
		}
		bodies[nbodies++] = strdup(line);
	}
	free(line);
	if (f)
		fclose(f);
	if (nbodies == 0) {
		fprintf(stderr, "bench_fixed: %s has no bodies\n", argv[6]);
		return 2;
	}

	total = (int64_t)(rate * seconds);
	/* ESC_FIXED_TRACE=FILE: each answer's due time (µs from the start)
	 * and latency, a line each, to see when the slow ones came. */
	if (getenv("ESC_FIXED_TRACE") && !(trace = fopen(getenv("ESC_FIXED_TRACE"), "w"))) {
		perror(getenv("ESC_FIXED_TRACE"));
		return 2;
	}
	lat = calloc((size_t)total + 1, sizeof(*lat));
	queue = calloc((size_t)total + 1, sizeof(*queue));
	if (lat == NULL || queue == NULL)
		die("calloc");
	ep = epoll_create1(EPOLL_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (ep < 0 || tfd < 0)
		die("epoll/timerfd");
	ev = (struct epoll_event){.events = EPOLLIN, .data.u32 = (uint32_t)nconns};
	epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
	for (i = 0; i < nconns; i++) {
		conns[i].fd = dial(port);
		ev = (struct epoll_event){.events = EPOLLIN, .data.u32 = (uint32_t)i};
		epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
	}

	start = now_us();
	end = start + (int64_t)(seconds * 1e6);
	for (;;) {
		int64_t now = now_us();
		struct itimerspec its = {0};

		while (next < total && start + (int64_t)((double)next * 1e6 / rate) <= now)
			queue[qtail++] = start + (int64_t)((double)next++ * 1e6 / rate);
		for (i = 0; i < nconns && qhead < qtail; i++) {
			struct conn *c = &conns[i];
			const char *body;
			int len;

			if (c->busy)
				continue;
			body = bodies[sent % (int64_t)nbodies];
			len = snprintf(
				req, sizeof(req),
				"POST /v1/orders HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				"Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
				"Content-Length: %zu\r\n\r\n%s",
				key, strlen(body), body);
			if (len <= 0 || (size_t)len >= sizeof(req) ||
			    write(c->fd, req, (size_t)len) != len)
				die("write");
			c->busy = 1;
			c->due_us = queue[qhead++];
			sent++;
		}
		if (next >= total && answered + refused >= sent && qhead == qtail)
			break;
		if (now > end + 30000000) {
			fprintf(stderr,
				"bench_fixed: %lld answers still missing 30 s after the end\n",
				(long long)(sent - answered - refused));
			break;
		}
		if (next < total) {
			int64_t due = start + (int64_t)((double)next * 1e6 / rate);

			its.it_value.tv_sec = due / 1000000;
			its.it_value.tv_nsec = (due % 1000000) * 1000;
			if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
				its.it_value.tv_nsec = 1;
			timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
		}
		n = epoll_wait(ep, evs, 256, next < total ? -1 : 1000);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (int k = 0; k < n; k++) {
			uint32_t id = evs[k].data.u32;
			struct conn *c;
			long whole;
			int status = 0;

			if (id == (uint32_t)nconns) {
				uint64_t ticks;

				if (read(tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
					die("timerfd");
				continue;
			}
			c = &conns[id];
			got = read(c->fd, c->buf + c->len, RBUF - c->len);
			if (got <= 0) {
				/* Lost: a request on it counts as refused; dial again. */
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
				if (c->busy)
					refused++;
				c->busy = 0;
				c->len = 0;
				c->fd = dial(port);
				ev = (struct epoll_event){.events = EPOLLIN, .data.u32 = id};
				epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
				continue;
			}
			c->len += (size_t)got;
			whole = answer_length(c, &status);
			if (whole == 0)
				continue;
			if (whole < 0 || !c->busy) {
				fprintf(stderr, "bench_fixed: an answer it cannot read\n");
				return 1;
			}
			if (status == ok_status) {
				lat[answered++] = now_us() - c->due_us;
				if (trace)
					fprintf(trace, "%lld %lld\n",
						(long long)(c->due_us - start),
						(long long)lat[answered - 1]);
			} else
				refused++;
			c->busy = 0;
			c->len -= (size_t)whole;
			memmove(c->buf, c->buf + whole, c->len);
		}
	}
	qsort(lat, (size_t)answered, sizeof(*lat), cmp_i64);
#define PCT(p) (answered ? lat[(int64_t)((double)(answered - 1) * (p))] : 0)
	printf("%lld %lld %lld %lld %lld %lld %lld %lld %.3f\n", (long long)total, (long long)sent,
	       (long long)answered, (long long)refused, (long long)PCT(0.50), (long long)PCT(0.99),
	       (long long)PCT(0.999), (long long)PCT(1.0), (double)(now_us() - start) / 1e6);
	for (i = 0; i < nconns; i++)
		close(conns[i].fd);
	for (size_t b = 0; b < nbodies; b++)
		free(bodies[b]);
	free(bodies);
	free(lat);
	free(queue);
	if (trace)
		fclose(trace);
	return 0;
}
