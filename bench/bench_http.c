/* bench_http.c - the escrowd daemon under HTTP load: requests per second
 * and per-request latency from N client threads on keep-alive connections,
 * for a trivial GET /healthz (the baseline), GET /v1/orders/{id} as the
 * order's buyer, and the cancellation flow (create, pay, cancel, accept,
 * settle the refund), each request acknowledged after its durable commit.
 *
 * It starts the daemon (argv[1], or ESC_BENCH_ESCROWD, or
 * build-release/escrowd) with `serve --listen 127.0.0.1:0 --clock manual`
 * on a temporary SQLite store, with a configuration that lifts the buyer
 * reputation thresholds (the benchmark's buyers cancel everything), creates
 * its buyers and sellers through the API and signs each in once (30 at a
 * time, moving the manual clock past the per-address sign-in window between
 * batches). Each client thread reuses one libcurl handle; new connections
 * are counted to show that keep-alive holds. Prints figures; asserts
 * nothing about speed.
 *
 * Environment: ESC_BENCH_CLIENTS (8), ESC_BENCH_REQUESTS (20000 requests
 * of each GET), ESC_BENCH_FLOWS (ESC_BENCH_REQUESTS / 10), ESC_BENCH_DIR (a
 * new directory under /tmp), ESC_BENCH_VERBOSE (copy the daemon's log to
 * stderr). */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KEY           "bench-operator-key-0123456789"
#define PASSWORD      "bench-password-1"
#define BUYERS        240
#define SELLERS       60
#define SIGNIN_BATCH  30 /* sign-ins per address per minute */
#define SIGNIN_WINDOW 61 /* seconds the clock moves between batches */
#define FLOW_STEPS    5

static const char *const step_names[FLOW_STEPS] = {"create", "pay", "cancel", "accept", "settle"};

struct user {
	char id[64];
	char email[64];
	struct curl_slist *auth; /* Authorization and Content-Type */
};

struct order {
	char id[64];
	int buyer;
};

struct bench {
	char dir[256];
	pid_t pid;
	int port;
	int clients;
	struct curl_slist *op_auth;  /* the operator's headers */
	struct curl_slist *json_hdr; /* no Authorization */
	struct user buyers[BUYERS], sellers[SELLERS];
	struct order *orders; /* paid, read by the GET test */
	size_t orders_count;
};

static struct bench B;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long env_long(const char *name, long def)
{
	const char *v = getenv(name);
	return v && *v ? strtol(v, NULL, 10) : def;
}

static void cleanup(void)
{
	if (B.pid > 0) {
		kill(B.pid, SIGTERM);
		waitpid(B.pid, NULL, 0);
		B.pid = 0;
	}
	if (B.dir[0]) {
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", B.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench: could not remove %s\n", B.dir);
		B.dir[0] = '\0';
	}
}

static pthread_mutex_t dying = PTHREAD_MUTEX_INITIALIZER;

/* Stop the daemon, remove the store and exit; a second client thread
 * failing meanwhile waits here for the exit. */
__attribute__((format(printf, 1, 2))) static _Noreturn void die(const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&dying);
	va_start(ap, fmt);
	fprintf(stderr, "bench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	cleanup();
	exit(1);
}

/* ---- the daemon ---- */

/* Read the daemon's log to its end (its exit closes the pipe), so that it
 * never blocks on a full pipe. */
static void *drain_log(void *arg)
{
	FILE *f = arg;
	char buf[65536];
	bool verbose = getenv("ESC_BENCH_VERBOSE") != NULL;
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		if (verbose)
			fwrite(buf, 1, n, stderr);
	fclose(f);
	return NULL;
}

static void start_daemon(const char *exe)
{
	char db[300], conf[300], line[512];
	int fds[2];
	snprintf(db, sizeof db, "%s/escrowd.db", B.dir);
	snprintf(conf, sizeof conf, "%s/bench.conf", B.dir);
	FILE *c = fopen(conf, "w");
	if (!c)
		die("cannot write %s: %s", conf, strerror(errno));
	/* The same lifted thresholds as bench_engine: no buyer is suspended. */
	fprintf(c, "watch_cancellations = 1000000000\n"
		   "restricted_cancellations = 1000000000\n"
		   "suspended_cancellations = 1000000000\n"
		   "restricted_rate = 100%%\n");
	if (getenv("ESC_BENCH_THREADS"))
		fprintf(c, "http.threads = %s\n", getenv("ESC_BENCH_THREADS"));
	fclose(c);
	if (access(exe, X_OK))
		die("cannot run %s: %s (build it: ninja -C build-release)", exe, strerror(errno));
	if (pipe(fds))
		die("pipe: %s", strerror(errno));
	B.pid = fork();
	if (B.pid < 0)
		die("fork: %s", strerror(errno));
	if (B.pid == 0) {
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		execl(exe, exe, "serve", "--db", db, "--config", conf, "--listen", "127.0.0.1:0",
		      "--clock", "manual", "--operator-key", KEY, "--quiet", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	FILE *f = fdopen(fds[0], "r");
	const char *mark = "listening on http://127.0.0.1:";
	while (!B.port && fgets(line, sizeof line, f)) {
		const char *p = strstr(line, mark);
		if (p)
			B.port = atoi(p + strlen(mark));
		else if (getenv("ESC_BENCH_VERBOSE") || !strstr(line, "manual clock"))
			fputs(line, stderr);
	}
	if (!B.port)
		die("%s did not start listening", exe);
	pthread_t t;
	if (pthread_create(&t, NULL, drain_log, f))
		die("cannot start a thread");
	pthread_detach(t);
}

/* SIGTERM: the daemon finishes what is in flight and exits 0. */
static void stop_daemon(void)
{
	int status = 0;
	kill(B.pid, SIGTERM);
	if (waitpid(B.pid, &status, 0) != B.pid || !WIFEXITED(status) || WEXITSTATUS(status))
		fprintf(stderr, "bench: the daemon did not exit cleanly (status %d)\n", status);
	B.pid = 0;
}

/* ---- one client: a libcurl handle kept for a whole test ---- */

struct client {
	CURL *h;
	char *buf;
	size_t len, cap;
	long conns; /* new connections made */
	char url[512];
};

static size_t on_data(char *ptr, size_t size, size_t n, void *arg)
{
	struct client *c = arg;
	size_t len = size * n;
	if (c->len + len + 1 > c->cap) {
		size_t cap = (c->len + len + 1) * 2;
		char *p = realloc(c->buf, cap);
		if (!p)
			return 0;
		c->buf = p;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, ptr, len);
	c->len += len;
	c->buf[c->len] = '\0';
	return len;
}

static void client_open(struct client *c)
{
	memset(c, 0, sizeof *c);
	c->h = curl_easy_init();
	if (!c->h)
		die("curl_easy_init failed");
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->h, CURLOPT_TCP_NODELAY, 1L);
}

static void client_close(struct client *c)
{
	curl_easy_cleanup(c->h);
	free(c->buf);
}

/* One request; body NULL for a GET. Dies unless the answer has the
 * expected status. Returns its latency in ms; the answer is in c->buf. */
static double request(struct client *c, const char *path, struct curl_slist *hdr, const char *body,
		      long expect)
{
	long status = 0, conns = 0;
	snprintf(c->url, sizeof c->url, "http://127.0.0.1:%d%s", B.port, path);
	curl_easy_setopt(c->h, CURLOPT_URL, c->url);
	curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, hdr);
	if (body)
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
	else
		curl_easy_setopt(c->h, CURLOPT_HTTPGET, 1L);
	c->len = 0;
	if (c->buf)
		c->buf[0] = '\0';
	double t0 = now_s();
	CURLcode rc = curl_easy_perform(c->h);
	double ms = (now_s() - t0) * 1000;
	if (rc != CURLE_OK)
		die("%s: %s", path, curl_easy_strerror(rc));
	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(c->h, CURLINFO_NUM_CONNECTS, &conns);
	c->conns += conns;
	if (status != expect) {
		char what[600];
		snprintf(what, sizeof what, "%s %s: status %ld", body ? "POST" : "GET", path,
			 status);
		die("%s: %s", what, c->buf ? c->buf : "(no body)");
	}
	return ms;
}

/* The last answer, parsed. */
static json_t *answer(struct client *c)
{
	json_error_t err;
	json_t *j = json_loadb(c->buf ? c->buf : "", c->len, 0, &err);
	if (!j)
		die("the answer is not JSON: %s", c->buf ? c->buf : "(empty)");
	return j;
}

static void copy_string(char *dst, size_t size, json_t *obj, const char *key, struct client *c)
{
	const char *s = json_string_value(json_object_get(obj, key));
	if (!s)
		die("no '%s' in the answer: %s", key, c->buf);
	snprintf(dst, size, "%s", s);
}

/* ---- running work on all clients ---- */

struct test {
	const char *name;
	size_t count;        /* work items */
	size_t per_item;     /* requests per item */
	double *lat_ms;      /* count * per_item, item-major */
	_Atomic size_t next; /* next item to take */
	long conns;          /* new connections, all clients */
	double secs;         /* wall time */
	void (*item)(struct client *c, size_t i, double *lat);
	pthread_mutex_t mu;
};

static void *worker(void *arg)
{
	struct test *t = arg;
	struct client c;
	client_open(&c);
	for (;;) {
		size_t i = atomic_fetch_add(&t->next, 1);
		if (i >= t->count)
			break;
		t->item(&c, i, t->lat_ms ? &t->lat_ms[i * t->per_item] : NULL);
	}
	pthread_mutex_lock(&t->mu);
	t->conns += c.conns;
	pthread_mutex_unlock(&t->mu);
	client_close(&c);
	return NULL;
}

/* Run the items of t on `clients` threads, each with its own handle. */
static void run(struct test *t, int clients)
{
	pthread_t *th = calloc((size_t)clients, sizeof *th);
	if (!th)
		die("memory");
	atomic_store(&t->next, 0);
	t->conns = 0;
	pthread_mutex_init(&t->mu, NULL);
	double t0 = now_s();
	for (int k = 0; k < clients; k++)
		if (pthread_create(&th[k], NULL, worker, t))
			die("cannot start a thread");
	for (int k = 0; k < clients; k++)
		pthread_join(th[k], NULL);
	t->secs = now_s() - t0;
	pthread_mutex_destroy(&t->mu);
	free(th);
}

/* ---- setup: users, sessions and paid orders through the API ---- */

static struct curl_slist *auth_headers(const char *token)
{
	char line[300];
	struct curl_slist *h = NULL;
	snprintf(line, sizeof line, "Authorization: Bearer %s", token);
	h = curl_slist_append(h, line);
	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, "Expect:");
	if (!h)
		die("memory");
	return h;
}

static struct user *user_at(size_t i)
{
	return i < BUYERS ? &B.buyers[i] : &B.sellers[i - BUYERS];
}

static void item_user_create(struct client *c, size_t i, double *lat)
{
	struct user *u = user_at(i);
	bool buyer = i < BUYERS;
	char body[400];
	(void)lat;
	snprintf(u->email, sizeof u->email, "%s%zu@bench.test", buyer ? "buyer" : "seller",
		 buyer ? i : i - BUYERS);
	snprintf(body, sizeof body,
		 "{\"role\":\"%s\",\"name\":\"%s %zu\",\"email\":\"%s\",\"password\":\"" PASSWORD
		 "\"}",
		 buyer ? "buyer" : "seller", buyer ? "Buyer" : "Seller", i, u->email);
	request(c, "/v1/users", B.op_auth, body, 201);
	json_t *j = answer(c);
	copy_string(u->id, sizeof u->id, j, "id", c);
	json_decref(j);
}

static size_t signin_base; /* the first user of the current batch */

static void item_sign_in(struct client *c, size_t i, double *lat)
{
	struct user *u = user_at(signin_base + i);
	char body[300], token[128];
	(void)lat;
	snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"" PASSWORD "\"}", u->email);
	request(c, "/v1/sessions", B.json_hdr, body, 201);
	json_t *j = answer(c);
	copy_string(token, sizeof token, j, "token", c);
	json_decref(j);
	u->auth = auth_headers(token);
}

/* Create and pay an order of buyer `buyer`; its id into id. Returns the
 * latencies of the two requests into lat (if not NULL). */
static void create_and_pay(struct client *c, size_t n, size_t buyer, char *id, size_t id_size,
			   double *lat)
{
	char body[600], path[160];
	long long price = 1000 + (long long)(n % 9000);
	snprintf(body, sizeof body,
		 "{\"buyer_id\":\"%s\",\"seller_id\":\"%s\",\"currency\":\"EUR\","
		 "\"items\":[{\"title\":\"Item %zu\",\"quantity\":1,\"unit_price\":%lld}]}",
		 B.buyers[buyer].id, B.sellers[n % SELLERS].id, n, price);
	double ms = request(c, "/v1/orders", B.op_auth, body, 201);
	if (lat)
		lat[0] = ms;
	json_t *j = answer(c);
	copy_string(id, id_size, j, "id", c);
	long long total = (long long)json_integer_value(json_object_get(j, "total"));
	json_decref(j);
	snprintf(path, sizeof path, "/v1/orders/%s/pay", id);
	snprintf(body, sizeof body, "{\"amount\":%lld,\"payment_method\":\"card\"}", total);
	ms = request(c, path, B.op_auth, body, 200);
	if (lat)
		lat[1] = ms;
}

static void item_paid_order(struct client *c, size_t i, double *lat)
{
	(void)lat;
	B.orders[i].buyer = (int)(i % BUYERS);
	create_and_pay(c, i, i % BUYERS, B.orders[i].id, sizeof B.orders[i].id, NULL);
}

static void setup(int clients)
{
	struct test t = {.item = item_user_create, .count = BUYERS + SELLERS};
	double t0 = now_s();
	B.op_auth = auth_headers(KEY);
	B.json_hdr = curl_slist_append(NULL, "Content-Type: application/json");
	B.json_hdr = curl_slist_append(B.json_hdr, "Expect:");
	if (!B.json_hdr)
		die("memory");
	run(&t, clients);
	fprintf(stderr, "  %d buyers and %d sellers created (%.1f s)\n", BUYERS, SELLERS,
		now_s() - t0);

	/* Sign-in allows 30 attempts per address per minute: batches of 30,
	 * the manual clock moved past the minute between them. */
	t0 = now_s();
	struct client c;
	char advance[64];
	snprintf(advance, sizeof advance, "{\"seconds\":%d}", SIGNIN_WINDOW);
	client_open(&c);
	for (signin_base = 0; signin_base < BUYERS + SELLERS; signin_base += SIGNIN_BATCH) {
		if (signin_base)
			request(&c, "/v1/clock/advance", B.op_auth, advance, 200);
		struct test s = {.item = item_sign_in,
				 .count = BUYERS + SELLERS - signin_base < SIGNIN_BATCH
						  ? BUYERS + SELLERS - signin_base
						  : SIGNIN_BATCH};
		run(&s, clients);
	}
	client_close(&c);
	fprintf(stderr, "  %d sessions opened (%.1f s)\n", BUYERS + SELLERS, now_s() - t0);

	t0 = now_s();
	B.orders_count = BUYERS * 2;
	B.orders = calloc(B.orders_count, sizeof *B.orders);
	if (!B.orders)
		die("memory");
	struct test o = {.item = item_paid_order, .count = B.orders_count};
	run(&o, clients);
	fprintf(stderr, "  %zu paid orders (%.1f s)\n", B.orders_count, now_s() - t0);
}

/* ---- the tests ---- */

static void item_healthz(struct client *c, size_t i, double *lat)
{
	(void)i;
	lat[0] = request(c, "/healthz", NULL, NULL, 200);
}

static void item_get_order(struct client *c, size_t i, double *lat)
{
	const struct order *o = &B.orders[i % B.orders_count];
	char path[160];
	snprintf(path, sizeof path, "/v1/orders/%s", o->id);
	lat[0] = request(c, path, B.buyers[o->buyer].auth, NULL, 200);
}

static void item_flow(struct client *c, size_t i, double *lat)
{
	/* Numbered after the GET test's orders; buyers and sellers in turn. */
	size_t n = B.orders_count + i, buyer = n % BUYERS;
	char id[64], path[200], refund[96];
	create_and_pay(c, n, buyer, id, sizeof id, lat);
	snprintf(path, sizeof path, "/v1/orders/%s/cancel", id);
	lat[2] = request(c, path, B.buyers[buyer].auth, "{\"reason\":\"no_longer_needed\"}", 200);
	snprintf(path, sizeof path, "/v1/orders/%s/cancellation/accept", id);
	lat[3] = request(c, path, B.sellers[n % SELLERS].auth, "{}", 200);
	json_t *j = answer(c);
	json_t *r = json_array_get(json_object_get(j, "refunds"), 0);
	if (!r)
		die("no refund after the acceptance: %s", c->buf);
	copy_string(refund, sizeof refund, r, "id", c);
	json_decref(j);
	snprintf(path, sizeof path, "/v1/refunds/%s/settle", refund);
	lat[4] = request(c, path, B.op_auth, "{}", 200);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct figures {
	double rate, p50, p99;
};

static struct figures percentiles(double *lat, size_t n)
{
	struct figures f = {0};
	qsort(lat, n, sizeof *lat, cmp_double);
	if (n) {
		f.p50 = lat[n / 2];
		f.p99 = lat[(size_t)((double)n * 0.99)];
	}
	return f;
}

static struct figures base;

static void row(const char *name, const struct figures *f, size_t requests, long conns)
{
	printf("%-22s %8.0f %9.3f %9.3f %9zu %6ld %9.3f %8.2f %8.2f\n", name, f->rate, f->p50,
	       f->p99, requests, conns, f->rate / base.rate, f->p50 / base.p50, f->p99 / base.p99);
	fflush(stdout);
}

static struct figures measure(struct test *t, int clients)
{
	size_t n = t->count * t->per_item;
	t->lat_ms = calloc(n, sizeof *t->lat_ms);
	if (!t->lat_ms)
		die("memory");
	run(t, clients);
	/* Sorted in a copy: the flow's steps are read from t->lat_ms. */
	double *sorted = malloc(n * sizeof *sorted);
	if (!sorted)
		die("memory");
	memcpy(sorted, t->lat_ms, n * sizeof *sorted);
	struct figures f = percentiles(sorted, n);
	free(sorted);
	f.rate = (double)n / t->secs;
	return f;
}

/* The flow's steps, each from its own column of the latencies. */
static void step_rows(const struct test *t)
{
	double *lat = calloc(t->count ? t->count : 1, sizeof *lat);
	if (!lat)
		die("memory");
	for (int s = 0; s < FLOW_STEPS; s++) {
		for (size_t i = 0; i < t->count; i++)
			lat[i] = t->lat_ms[i * FLOW_STEPS + (size_t)s];
		struct figures f = percentiles(lat, t->count);
		char name[40];
		snprintf(name, sizeof name, "  %s", step_names[s]);
		printf("%-22s %8s %9.3f %9.3f %9zu %6s %9s %8.2f %8.2f\n", name, "-", f.p50, f.p99,
		       t->count, "-", "-", f.p50 / base.p50, f.p99 / base.p99);
	}
	free(lat);
}

static void keepalive_check(const struct test *t, int clients)
{
	if (t->conns > clients)
		printf("  ! %s: %ld new connections for %d clients: keep-alive is not holding\n",
		       t->name, t->conns, clients);
}

/* The ledger after the flows: every refund settled, every cent placed. */
static void ledger_check(void)
{
	struct client c;
	client_open(&c);
	request(&c, "/v1/ledger/check", B.op_auth, NULL, 200);
	json_t *j = answer(&c);
	if (!json_is_true(json_object_get(j, "ok")))
		printf("  ! the ledger check found problems: %s\n", c.buf);
	json_decref(j);
	client_close(&c);
}

int main(int argc, char **argv)
{
	const char *exe = argc > 1 ? argv[1] : getenv("ESC_BENCH_ESCROWD");
	long clients_l = env_long("ESC_BENCH_CLIENTS", 8);
	long requests_l = env_long("ESC_BENCH_REQUESTS", 20000);
	long flows_l = env_long("ESC_BENCH_FLOWS", requests_l / 10 > 0 ? requests_l / 10 : 1);
	const char *tmp = getenv("ESC_BENCH_DIR");
	if (!exe || !*exe)
		exe = "build-release/escrowd";
	if (clients_l < 1 || clients_l > 200 || requests_l < 1 || flows_l < 1)
		die("ESC_BENCH_CLIENTS (1 to 200), ESC_BENCH_REQUESTS and ESC_BENCH_FLOWS must "
		    "be positive");
	int clients = (int)clients_l;
	size_t requests = (size_t)requests_l, flows = (size_t)flows_l;
	snprintf(B.dir, sizeof B.dir, "%s/escrowd-bench-http-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(B.dir)) {
		perror("mkdtemp");
		B.dir[0] = '\0';
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	start_daemon(exe);
	fprintf(stderr, "setting up through the API on port %d...\n", B.port);
	setup(clients);

	printf("escrowd HTTP benchmark: %s on 127.0.0.1, SQLite (WAL, synchronous=FULL);\n"
	       "%d client threads on keep-alive connections, %ld cores (clients and daemon "
	       "share them).\n"
	       "Latency is per request, from send to the whole answer; the /hz columns divide "
	       "by GET /healthz's.\n\n",
	       exe, clients, sysconf(_SC_NPROCESSORS_ONLN));
	printf("%-22s %8s %9s %9s %9s %6s %9s %8s %8s\n", "test", "req/s", "p50 ms", "p99 ms",
	       "requests", "conns", "req/s/hz", "p50/hz", "p99/hz");

	struct test health = {
		.name = "GET /healthz", .count = requests, .per_item = 1, .item = item_healthz};
	base = measure(&health, clients);
	row(health.name, &base, requests, health.conns);

	struct test get = {.name = "GET /v1/orders/{id}",
			   .count = requests,
			   .per_item = 1,
			   .item = item_get_order};
	struct figures f = measure(&get, clients);
	row(get.name, &f, requests, get.conns);

	struct test flow = {.name = "cancellation flow",
			    .count = flows,
			    .per_item = FLOW_STEPS,
			    .item = item_flow};
	f = measure(&flow, clients);
	row(flow.name, &f, flows * FLOW_STEPS, flow.conns);
	step_rows(&flow);
	printf("\n%zu cancellation flows of %d requests: %.0f flows/s.\n", flows, FLOW_STEPS,
	       (double)flows / flow.secs);
	ledger_check();
	keepalive_check(&health, clients);
	keepalive_check(&get, clients);
	keepalive_check(&flow, clients);

	stop_daemon();
	cleanup();
	free(health.lat_ms);
	free(get.lat_ms);
	free(flow.lat_ms);
	free(B.orders);
	curl_slist_free_all(B.op_auth);
	for (size_t i = 0; i < BUYERS + SELLERS; i++)
		curl_slist_free_all(user_at(i)->auth);
	curl_slist_free_all(B.json_hdr);
	curl_global_cleanup();
	return 0;
}
