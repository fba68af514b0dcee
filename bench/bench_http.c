/* bench_http.c - the escrowd daemon under HTTP load: requests per second
 * and per-request latency from N client threads on keep-alive connections,
 * for a trivial GET /healthz (the baseline), GET /v1/orders/{id} as the
 * order's buyer, and the cancellation flow (create, pay, cancel, accept,
 * settle the refund), each request acknowledged after its durable commit.
 *
 * It runs `escrowd migrate` on the store once, then starts the daemon
 * (argv[1], or ESC_BENCH_ESCROWD, or build-release/escrowd) with `serve
 * --listen 127.0.0.1:0 --mode test --clock manual` (a manual clock needs
 * mode = test), with a configuration that lifts the buyer reputation
 * thresholds (the benchmark's buyers cancel everything),
 * creates its buyers and sellers through the API and signs each in once (30
 * at a time, moving the manual clock past the per-address sign-in window
 * between batches). With several daemons on one store, the others start
 * after this setup: a daemon reads the manual clock's time from the store
 * when it starts, and only its own /v1/clock/advance moves it later. Client
 * thread i then talks to daemon i % N. Each client thread reuses one libcurl
 * handle; new connections are counted to show that keep-alive holds. Then
 * the flows run again with a webhook endpoint for every event at a receiver
 * on loopback (in this process, answering 200 at once): the deliveries per
 * second, and the outbox lag of each event of an order, from the answer to
 * its command to its arrival. Prints figures; asserts nothing about speed.
 *
 * The store: a new SQLite file (the default); the URL in ESC_BENCH_DB; or,
 * with ESC_BENCH_PG (a PostgreSQL admin URL, postgresql://USER@HOST:PORT/DB),
 * a new database made on that server for this run and dropped at its end,
 * so that every run starts empty.
 *
 * Environment: ESC_BENCH_CLIENTS (8), ESC_BENCH_DAEMONS (1),
 * ESC_BENCH_REQUESTS (20000 requests of each GET), ESC_BENCH_FLOWS
 * (ESC_BENCH_REQUESTS / 10), ESC_BENCH_DIR (a new directory under /tmp),
 * ESC_BENCH_SUMMARY (a file to which one line of the cancellation flow's
 * figures is appended, under a header when the file is empty),
 * ESC_BENCH_VERBOSE (copy the daemons' logs to stderr). */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
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

#include "bench_util.h"

#define KEY           "bench-operator-key-0123456789"
#define PASSWORD      "bench-password-1"
#define BUYERS_MAX    240 /* the default; sellers are a quarter of the buyers */
#define SIGNIN_BATCH  30  /* sign-ins per address per minute */
#define SIGNIN_WINDOW 61  /* seconds the clock moves between batches */
#define FLOW_STEPS    5
#define DAEMONS_MAX   16

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

struct daemon {
	pid_t pid;
	int port;
};

struct bench {
	char dir[256];
	char db[600];       /* the store's URL */
	char store[200];    /* what it is, for the header */
	bool pg;            /* PostgreSQL */
	char pg_admin[600]; /* the server's admin URL, when db was made here */
	char pg_name[64];   /* the database made here, dropped at the end */
	bool pg_made;
	struct daemon daemons[DAEMONS_MAX];
	int daemons_count; /* started, so far */
	int clients;
	struct curl_slist *op_auth;  /* the operator's headers */
	struct curl_slist *json_hdr; /* no Authorization */
	struct user buyers[BUYERS_MAX], sellers[BUYERS_MAX / 4];
	size_t buyers_count, sellers_count;
	struct order *orders; /* paid, read by the GET test */
	size_t orders_count;
};

static struct bench B;

/* ---- PostgreSQL: a database of its own for each run ---- */

static bool is_pg_url(const char *url)
{
	return !strncmp(url, "postgresql://", 13) || !strncmp(url, "postgres://", 11);
}

/* url with its database name replaced by name: the path after the host, up
 * to the parameters after '?'. Returns 0, or -1 when out is too small. */
static int url_with_database(char *out, size_t size, const char *url, const char *name)
{
	const char *host = strstr(url, "://");
	host = host ? host + 3 : url;
	const char *params = strchr(host, '?');
	if (!params)
		params = host + strlen(host);
	const char *path = memchr(host, '/', (size_t)(params - host));
	if (!path)
		path = params;
	int n = snprintf(out, size, "%.*s/%s%s", (int)(path - url), url, name, params);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* libpq's message, without its last newline. */
static void copy_message(char *err, size_t err_size, const char *msg)
{
	snprintf(err, err_size, "%s", msg);
	size_t n = strlen(err);
	while (n && err[n - 1] == '\n')
		err[--n] = '\0';
}

/* CREATE DATABASE B.pg_name, or DROP it, on the server of B.pg_admin.
 * Returns 0, or -1 with the reason in err. Never dies: cleanup calls it. */
static int pg_database(bool create, char *err, size_t err_size)
{
	int rc = -1;
	char sql[300];
	char *name = NULL;
	PGresult *res = NULL;
	PGconn *conn = PQconnectdb(B.pg_admin);
	if (PQstatus(conn) != CONNECTION_OK)
		goto out;
	name = PQescapeIdentifier(conn, B.pg_name, strlen(B.pg_name));
	if (!name)
		goto out;
	/* FORCE: the daemons of a failed run may still be connected. */
	snprintf(sql, sizeof sql,
		 create ? "CREATE DATABASE %s" : "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
	res = PQexec(conn, sql);
	if (PQresultStatus(res) == PGRES_COMMAND_OK)
		rc = 0;
out:
	if (rc)
		copy_message(err, err_size, res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
	PQfreemem(name);
	PQclear(res);
	PQfinish(conn);
	return rc;
}

/* ---- the end of a run ---- */

/* Stop the daemons, drop the database made here and remove the
 * directory. */
static void cleanup(void)
{
	char err[300];
	for (int k = 0; k < B.daemons_count; k++)
		if (B.daemons[k].pid > 0)
			kill(B.daemons[k].pid, SIGTERM);
	for (int k = 0; k < B.daemons_count; k++)
		if (B.daemons[k].pid > 0) {
			waitpid(B.daemons[k].pid, NULL, 0);
			B.daemons[k].pid = 0;
		}
	if (B.pg_made) {
		if (pg_database(false, err, sizeof err))
			fprintf(stderr, "bench: could not drop the database %s: %s\n", B.pg_name,
				err);
		B.pg_made = false;
	}
	if (B.dir[0]) {
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", B.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench: could not remove %s\n", B.dir);
		B.dir[0] = '\0';
	}
}

/* The last lines of each daemon's log, to say why a run failed. */
static void log_tails(void)
{
	for (int k = 0; k < B.daemons_count; k++) {
		char buf[4096], path[300];
		snprintf(path, sizeof path, "%s/daemon-%d.log", B.dir, k);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		fseek(f, 0, SEEK_END);
		long size = ftell(f);
		fseek(f, size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0, SEEK_SET);
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[n] = '\0';
		if (n)
			fprintf(stderr, "bench: the end of daemon %d's log:\n%s%s", k, buf,
				buf[n - 1] == '\n' ? "" : "\n");
	}
}

static pthread_mutex_t dying = PTHREAD_MUTEX_INITIALIZER;

/* Stop the daemons, remove the store and exit; a second client thread
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
	log_tails();
	cleanup();
	exit(1);
}

/* ---- PostgreSQL: what the server says ---- */

/* One row of a query without parameters on the store's database, its
 * values copied into row[0 .. n-1]; -1 with the reason in err. */
static int pg_row(const char *sql, char row[][32], int n, char *err, size_t err_size)
{
	int rc = -1;
	PGresult *res = NULL;
	PGconn *conn = PQconnectdb(B.db);
	if (PQstatus(conn) != CONNECTION_OK)
		goto out;
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) < n)
		goto out;
	for (int i = 0; i < n; i++)
		snprintf(row[i], sizeof row[i], "%s", PQgetvalue(res, 0, i));
	rc = 0;
out:
	if (rc)
		copy_message(err, err_size, res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
	PQclear(res);
	PQfinish(conn);
	return rc;
}

/* The server's version and the settings that make its commits durable,
 * read from the server itself, for the header. */
static void pg_describe(void)
{
	char row[3][32], err[300];
	if (pg_row("SELECT current_setting('server_version'), current_setting('fsync'), "
		   "current_setting('synchronous_commit')",
		   row, 3, err, sizeof err))
		die("cannot read the PostgreSQL server's settings: %s", err);
	row[0][strcspn(row[0], " ")] = '\0'; /* "15.18", not its packager's words */
	snprintf(B.store, sizeof B.store, "PostgreSQL %s (fsync=%s, synchronous_commit=%s%s)",
		 row[0], row[1], row[2], B.pg_made ? ", a new database" : "");
}

/* The database's transaction counters once the daemons are gone; its
 * rollbacks are mostly transactions that lost to a concurrent one (a
 * serialization failure or a deadlock) and ran again. */
static void pg_counters(void)
{
	char row[3][32], err[300];
	/* A backend reports its counters as it exits, which may be a moment
	 * after its daemon closed the connection. */
	for (int i = 0; i < 50; i++) {
		if (pg_row("SELECT count(*) FROM pg_stat_activity WHERE datname = "
			   "current_database() AND pid <> pg_backend_pid()",
			   row, 1, err, sizeof err))
			die("cannot read pg_stat_activity: %s", err);
		if (!strcmp(row[0], "0"))
			break;
		usleep(100 * 1000);
	}
	if (pg_row("SELECT xact_commit, xact_rollback, deadlocks FROM pg_stat_database WHERE "
		   "datname = current_database()",
		   row, 3, err, sizeof err))
		die("cannot read pg_stat_database: %s", err);
	printf("PostgreSQL, this database%s: %s transactions committed, %s rolled back, "
	       "%s deadlocks.\n",
	       B.pg_made ? "" : " since its counters were reset", row[0], row[1], row[2]);
}

/* ---- the daemons ---- */

struct drain {
	FILE *from, *to;
};

/* Copy a daemon's log to its file to the end (its exit closes the pipe),
 * so that it never blocks on a full pipe. */
static void *drain_log(void *arg)
{
	struct drain *d = arg;
	char buf[65536];
	bool verbose = getenv("ESC_BENCH_VERBOSE") != NULL;
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, d->from)) > 0) {
		fwrite(buf, 1, n, d->to);
		fflush(d->to);
		if (verbose)
			fwrite(buf, 1, n, stderr);
	}
	fclose(d->from);
	fclose(d->to);
	free(d);
	return NULL;
}

/* The configuration every daemon reads; its path into conf. */
static void write_config(char *conf, size_t size)
{
	snprintf(conf, size, "%s/bench.conf", B.dir);
	FILE *c = fopen(conf, "w");
	if (!c)
		die("cannot write %s: %s", conf, strerror(errno));
	/* The same lifted thresholds as bench_engine: no buyer is suspended. */
	fprintf(c, "watch_cancellations = 1000000000\n"
		   "restricted_cancellations = 1000000000\n"
		   "suspended_cancellations = 1000000000\n"
		   "restricted_rate = 100%%\n"
		   "webhooks.allow_private = true\n");
	if (getenv("ESC_BENCH_THREADS"))
		fprintf(c, "http.threads = %s\n", getenv("ESC_BENCH_THREADS"));
	fclose(c);
}

/* escrowd migrate, once, before any daemon starts: daemons starting
 * together on a new database would race to migrate it. */
static void migrate(const char *exe, const char *conf)
{
	int status = 0;
	if (access(exe, X_OK))
		die("cannot run %s: %s (build it: ninja -C build-release)", exe, strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		/* Its line on stdout says the schema is current; errors stay. */
		if (!freopen("/dev/null", "w", stdout))
			_exit(127);
		execl(exe, exe, "migrate", "--db", B.db, "--config", conf, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		die("%s migrate --db %s failed (wait status %d)", exe, B.db, status);
}

/* Start the next daemon on the store and wait until it listens. */
static void start_daemon(const char *exe, const char *conf)
{
	if (B.daemons_count >= DAEMONS_MAX)
		die("at most %d daemons", DAEMONS_MAX);
	int k = B.daemons_count;
	struct daemon *d = &B.daemons[k];
	char line[512], path[300];
	int fds[2];
	snprintf(path, sizeof path, "%s/daemon-%d.log", B.dir, k);
	FILE *log = fopen(path, "w");
	if (!log)
		die("cannot write %s: %s", path, strerror(errno));
	setvbuf(log, NULL, _IOLBF, 0);
	if (pipe(fds))
		die("pipe: %s", strerror(errno));
	d->pid = fork();
	if (d->pid < 0)
		die("fork: %s", strerror(errno));
	if (d->pid == 0) {
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		execl(exe, exe, "serve", "--db", B.db, "--config", conf, "--listen", "127.0.0.1:0",
		      "--mode", "test", "--clock", "manual", "--operator-key", KEY, "--quiet",
		      (char *)NULL);
		_exit(127);
	}
	B.daemons_count++;
	close(fds[1]);
	FILE *f = fdopen(fds[0], "r");
	const char *mark = "listening on http://127.0.0.1:";
	while (!d->port && fgets(line, sizeof line, f)) {
		const char *p = strstr(line, mark);
		fputs(line, log);
		if (p)
			d->port = atoi(p + strlen(mark));
		else if (getenv("ESC_BENCH_VERBOSE") ||
			 (!strstr(line, "manual clock") && !strstr(line, "mode = test")))
			fputs(line, stderr);
	}
	if (!d->port)
		die("%s (daemon %d) did not start listening", exe, k);
	struct drain *dr = malloc(sizeof *dr);
	if (!dr)
		die("memory");
	dr->from = f;
	dr->to = log;
	pthread_t t;
	if (pthread_create(&t, NULL, drain_log, dr))
		die("cannot start a thread");
	pthread_detach(t);
}

/* SIGTERM: each daemon finishes what is in flight and exits 0. */
static void stop_daemons(void)
{
	for (int k = 0; k < B.daemons_count; k++)
		kill(B.daemons[k].pid, SIGTERM);
	for (int k = 0; k < B.daemons_count; k++) {
		int status = 0;
		struct daemon *d = &B.daemons[k];
		if (waitpid(d->pid, &status, 0) != d->pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			fprintf(stderr, "bench: daemon %d did not exit cleanly (status %d)\n", k,
				status);
		d->pid = 0;
	}
}

/* ---- one client: a libcurl handle kept for a whole test ---- */

struct client {
	CURL *h;
	int port; /* its daemon's */
	char *buf;
	size_t len, cap;
	long conns; /* new connections made */
	char url[512];
};

/* The receiver answers every POST 200 at once and notes, for each event
 * of an order, when it arrived; the clients note when each command on an
 * order was acknowledged (its answer read, after its commit). The outbox
 * lag of an event is the one less the other, joined by the order's id and
 * version. The daemon's manual clock stands still: the events' created_at
 * cannot serve. */
#define RX_BODY_MAX (64 * 1024)
#define RX_KEY_SIZE 64

struct rx_note {
	char key[RX_KEY_SIZE]; /* "ord_...:VERSION" */
	double ms;             /* real time */
};

struct rx_notes {
	struct rx_note *at;
	size_t cap;
	_Atomic size_t n;
};

static struct {
	struct MHD_Daemon *d;
	int port;
	bool on;                 /* the clients note their acknowledgements */
	struct rx_notes arrived; /* by the receiver */
	struct rx_notes acked;   /* by the clients */
	_Atomic size_t n;        /* deliveries received */
	_Atomic long long first_us, last_us;
} RX;

static double real_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000 + (double)ts.tv_nsec / 1e6;
}

/* Note the event or answer j (an order: its id and version) at ms. */
static void rx_note(struct rx_notes *notes, json_t *j, const char *id_key, double ms)
{
	const char *id = json_string_value(json_object_get(j, id_key));
	json_t *v = json_object_get(j, "version");
	if (!id || strncmp(id, "ord_", 4) || !json_is_integer(v))
		return;
	size_t i = atomic_fetch_add(&notes->n, 1);
	if (i >= notes->cap)
		return;
	snprintf(notes->at[i].key, RX_KEY_SIZE, "%s:%lld", id, (long long)json_integer_value(v));
	notes->at[i].ms = ms;
}

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

/* A client of daemon k % (the daemons started). */
static void client_open(struct client *c, int k)
{
	memset(c, 0, sizeof *c);
	c->port = B.daemons[k % B.daemons_count].port;
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
	snprintf(c->url, sizeof c->url, "http://127.0.0.1:%d%s", c->port, path);
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
	if (RX.on && body && status == expect && c->buf) {
		json_t *j = json_loadb(c->buf, c->len, 0, NULL);
		rx_note(&RX.acked, j, "id", real_ms());
		json_decref(j);
	}
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

struct worker {
	struct test *t;
	int k; /* the client's number */
};

static void *worker(void *arg)
{
	struct worker *w = arg;
	struct test *t = w->t;
	struct client c;
	client_open(&c, w->k);
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

/* Run the items of t on `clients` threads, each with its own handle on a
 * connection to daemon k % N for client k. */
static void run(struct test *t, int clients)
{
	pthread_t *th = calloc((size_t)clients, sizeof *th);
	struct worker *w = calloc((size_t)clients, sizeof *w);
	if (!th || !w)
		die("memory");
	atomic_store(&t->next, 0);
	t->conns = 0;
	pthread_mutex_init(&t->mu, NULL);
	double t0 = now_s();
	for (int k = 0; k < clients; k++) {
		w[k] = (struct worker){.t = t, .k = k};
		if (pthread_create(&th[k], NULL, worker, &w[k]))
			die("cannot start a thread");
	}
	for (int k = 0; k < clients; k++)
		pthread_join(th[k], NULL);
	t->secs = now_s() - t0;
	pthread_mutex_destroy(&t->mu);
	free(th);
	free(w);
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
	return i < B.buyers_count ? &B.buyers[i] : &B.sellers[i - B.buyers_count];
}

static void item_user_create(struct client *c, size_t i, double *lat)
{
	struct user *u = user_at(i);
	bool buyer = i < B.buyers_count;
	char body[400];
	(void)lat;
	snprintf(u->email, sizeof u->email, "%s%zu@bench.test", buyer ? "buyer" : "seller",
		 buyer ? i : i - B.buyers_count);
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
		 B.buyers[buyer].id, B.sellers[n % B.sellers_count].id, n, price);
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
	B.orders[i].buyer = (int)(i % B.buyers_count);
	create_and_pay(c, i, i % B.buyers_count, B.orders[i].id, sizeof B.orders[i].id, NULL);
}

static void setup(int clients)
{
	struct test t = {.item = item_user_create, .count = B.buyers_count + B.sellers_count};
	double t0 = now_s();
	B.op_auth = auth_headers(KEY);
	B.json_hdr = curl_slist_append(NULL, "Content-Type: application/json");
	B.json_hdr = curl_slist_append(B.json_hdr, "Expect:");
	if (!B.json_hdr)
		die("memory");
	run(&t, clients);
	fprintf(stderr, "  %zu buyers and %zu sellers created (%.1f s)\n", B.buyers_count,
		B.sellers_count, now_s() - t0);

	/* Sign-in allows 30 attempts per address per minute: batches of 30,
	 * the manual clock moved past the minute between them. */
	t0 = now_s();
	struct client c;
	char advance[64];
	snprintf(advance, sizeof advance, "{\"seconds\":%d}", SIGNIN_WINDOW);
	client_open(&c, 0);
	for (signin_base = 0; signin_base < B.buyers_count + B.sellers_count;
	     signin_base += SIGNIN_BATCH) {
		if (signin_base)
			request(&c, "/v1/clock/advance", B.op_auth, advance, 200);
		struct test s = {.item = item_sign_in,
				 .count = B.buyers_count + B.sellers_count - signin_base <
							  SIGNIN_BATCH
						  ? B.buyers_count + B.sellers_count - signin_base
						  : SIGNIN_BATCH};
		run(&s, clients);
	}
	client_close(&c);
	fprintf(stderr, "  %zu sessions opened (%.1f s)\n", B.buyers_count + B.sellers_count,
		now_s() - t0);

	t0 = now_s();
	B.orders_count = B.buyers_count * 2;
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
	size_t n = B.orders_count + i, buyer = n % B.buyers_count;
	char id[64], path[200], refund[96];
	create_and_pay(c, n, buyer, id, sizeof id, lat);
	snprintf(path, sizeof path, "/v1/orders/%s/cancel", id);
	lat[2] = request(c, path, B.buyers[buyer].auth, "{\"reason\":\"no_longer_needed\"}", 200);
	snprintf(path, sizeof path, "/v1/orders/%s/cancellation/accept", id);
	lat[3] = request(c, path, B.sellers[n % B.sellers_count].auth, "{}", 200);
	json_t *j = answer(c);
	json_t *r = json_array_get(json_object_get(j, "refunds"), 0);
	if (!r)
		die("no refund after the acceptance: %s", c->buf);
	copy_string(refund, sizeof refund, r, "id", c);
	json_decref(j);
	snprintf(path, sizeof path, "/v1/refunds/%s/settle", refund);
	lat[4] = request(c, path, B.op_auth, "{}", 200);
}

/* The flows of the second run, numbered after the first's. */
static size_t flows_done;

static void item_flow_hooked(struct client *c, size_t i, double *lat)
{
	item_flow(c, flows_done + i, lat);
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
	client_open(&c, 0);
	request(&c, "/v1/ledger/check", B.op_auth, NULL, 200);
	json_t *j = answer(&c);
	if (!json_is_true(json_object_get(j, "ok")))
		printf("  ! the ledger check found problems: %s\n", c.buf);
	json_decref(j);
	client_close(&c);
}

/* Accepted commands and commits of one daemon since it started. */
struct counters {
	long long commands, commits;
};

static struct counters daemon_counters(int k)
{
	struct client c;
	struct counters n = {0};
	client_open(&c, k);
	request(&c, "/metrics", NULL, NULL, 200);
	for (const char *line = c.buf; line && *line;) {
		const char *brace = strchr(line, '}'), *end = strchr(line, '\n');
		if (!strncmp(line, "escrowd_commands_total{", 23) && brace && (!end || brace < end))
			n.commands += strtoll(brace + 1, NULL, 10);
		else if (!strncmp(line, "escrowd_commits_total ", 22))
			n.commits = strtoll(line + 22, NULL, 10);
		line = end ? end + 1 : NULL;
	}
	client_close(&c);
	return n;
}

/* How the flows' commands shared commits in each daemon (group commit). */
static void commit_rows(const struct counters *before, const struct counters *after)
{
	for (int k = 0; k < B.daemons_count; k++) {
		long long commands = after[k].commands - before[k].commands;
		long long commits = after[k].commits - before[k].commits;
		printf("%s daemon %d: %lld commands in %lld commits (%.1f a commit).\n",
		       k ? "      " : "Flows:", k, commands, commits,
		       commits ? (double)commands / (double)commits : 0.0);
	}
}

/* The flow's figures as one line of the file in ESC_BENCH_SUMMARY, under a
 * header when the file is empty: a table that compares runs. */
static void summary_line(const struct figures *f, size_t flows, double flows_per_s)
{
	const char *path = getenv("ESC_BENCH_SUMMARY");
	if (!path || !*path)
		return;
	FILE *s = fopen(path, "a");
	if (!s)
		die("cannot write %s: %s", path, strerror(errno));
	fseek(s, 0, SEEK_END);
	if (ftell(s) == 0)
		fprintf(s, "%-12s %7s %7s %8s %8s %9s %9s\n", "store", "daemons", "flows",
			"flows/s", "req/s", "p50 ms", "p99 ms");
	fprintf(s, "%-12s %7d %7zu %8.0f %8.0f %9.3f %9.3f\n", B.pg ? "PostgreSQL" : "SQLite",
		B.daemons_count, flows, flows_per_s, f->rate, f->p50, f->p99);
	if (fclose(s))
		die("cannot write %s: %s", path, strerror(errno));
}

/* ---- webhooks: a receiver on loopback, and the outbox lag ---- */

struct rx_upload {
	char data[RX_BODY_MAX];
	size_t bytes;
};

static void rx_record(const struct rx_upload *u)
{
	double now = real_ms();
	json_t *j = json_loadb(u->data, u->bytes, 0, NULL);
	rx_note(&RX.arrived, j, "order_id", now);
	json_decref(j);
	atomic_fetch_add(&RX.n, 1);
	long long us = (long long)(now * 1000);
	long long zero = 0;
	atomic_compare_exchange_strong(&RX.first_us, &zero, us);
	atomic_store(&RX.last_us, us);
}

static enum MHD_Result rx_handle(void *cls, struct MHD_Connection *c, const char *url,
				 const char *method, const char *version, const char *data,
				 size_t *size, void **state)
{
	struct rx_upload *u = *state;
	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	if (!u) {
		*state = u = calloc(1, sizeof *u);
		return u ? MHD_YES : MHD_NO;
	}
	if (*size) {
		size_t n = *size < RX_BODY_MAX - u->bytes ? *size : RX_BODY_MAX - u->bytes;
		memcpy(u->data + u->bytes, data, n);
		u->bytes += n;
		*size = 0;
		return MHD_YES;
	}
	rx_record(u);
	struct MHD_Response *r =
		MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT);
	enum MHD_Result rc = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return rc;
}

static void rx_completed(void *cls, struct MHD_Connection *c, void **state,
			 enum MHD_RequestTerminationCode code)
{
	(void)cls;
	(void)c;
	(void)code;
	free(*state);
	*state = NULL;
}

static void rx_start(size_t cap)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	RX.arrived.cap = RX.acked.cap = cap;
	RX.arrived.at = calloc(cap, sizeof *RX.arrived.at);
	RX.acked.at = calloc(cap, sizeof *RX.acked.at);
	if (!RX.arrived.at || !RX.acked.at)
		die("memory");
	RX.d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD, 0, NULL, NULL, rx_handle, NULL,
				MHD_OPTION_SOCK_ADDR, &a, MHD_OPTION_THREAD_POOL_SIZE, 4u,
				MHD_OPTION_NOTIFY_COMPLETED, rx_completed, NULL,
				MHD_OPTION_CONNECTION_LIMIT, 1000u, MHD_OPTION_END);
	const union MHD_DaemonInfo *info =
		RX.d ? MHD_get_daemon_info(RX.d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
	if (!info)
		die("cannot start the webhook receiver");
	RX.port = info->port;
}

/* Register an endpoint for every event at the receiver. */
static void rx_subscribe(void)
{
	struct client c;
	char body[200];
	client_open(&c, 0);
	snprintf(body, sizeof body, "{\"url\":\"http://127.0.0.1:%d/hooks\",\"events\":[\"*\"]}",
		 RX.port);
	request(&c, "/v1/webhook-endpoints", B.op_auth, body, 201);
	client_close(&c);
}

/* Deliveries waiting in daemon k (-1: not shown). */
static long long daemon_pending(int k)
{
	struct client c;
	long long n = -1;
	const char *key = "escrowd_webhook_deliveries_pending ";
	client_open(&c, k);
	request(&c, "/metrics", NULL, NULL, 200);
	const char *p = c.buf ? strstr(c.buf, key) : NULL;
	if (p)
		n = strtoll(p + strlen(key), NULL, 10);
	client_close(&c);
	return n;
}

/* Wait until the receiver has had nothing new for half a second and no
 * delivery waits (at most a minute). */
static void rx_drain(void)
{
	double t0 = now_s();
	size_t seen = (size_t)-1;
	while (now_s() - t0 < 60) {
		size_t n = atomic_load(&RX.n);
		if (n == seen && daemon_pending(0) == 0)
			break;
		seen = n;
		usleep(500 * 1000);
	}
}

static int note_cmp(const void *a, const void *b)
{
	return strcmp(((const struct rx_note *)a)->key, ((const struct rx_note *)b)->key);
}

/* The lags of the events both noted, into lag (sorted); how many. */
static size_t rx_lags(double *lag)
{
	size_t na = atomic_load(&RX.arrived.n), nk = atomic_load(&RX.acked.n), k = 0;
	na = na < RX.arrived.cap ? na : RX.arrived.cap;
	nk = nk < RX.acked.cap ? nk : RX.acked.cap;
	qsort(RX.arrived.at, na, sizeof *RX.arrived.at, note_cmp);
	qsort(RX.acked.at, nk, sizeof *RX.acked.at, note_cmp);
	for (size_t i = 0, j = 0; i < na && j < nk;) {
		int c = strcmp(RX.arrived.at[i].key, RX.acked.at[j].key);
		if (c == 0)
			lag[k++] = RX.arrived.at[i++].ms - RX.acked.at[j].ms;
		else if (c < 0)
			i++;
		else
			j++;
	}
	qsort(lag, k, sizeof *lag, cmp_double);
	return k;
}

/* The deliveries' figures, after the flows with webhooks on. */
static void rx_report(size_t flows, double secs, double flows_per_s_without)
{
	size_t n = atomic_load(&RX.n);
	double *lag = calloc(RX.arrived.cap, sizeof *lag);
	if (!lag)
		die("memory");
	size_t k = rx_lags(lag);
	struct figures f = percentiles(lag, k);
	double span = (double)(atomic_load(&RX.last_us) - atomic_load(&RX.first_us)) / 1e6;
	printf("\nWebhooks: %zu cancellation flows with an endpoint for every event at a receiver "
	       "on loopback\n"
	       "  (answering 200 at once): %.0f flows/s (%.0f without), %zu deliveries, "
	       "%.0f deliveries/s\n"
	       "  (first to last arrival, %.1f s). Outbox lag, from a command's answer to its "
	       "event's arrival\n"
	       "  (%zu events of orders): p50 %.1f ms, p99 %.1f ms, max %.1f ms (negative: the "
	       "event came first).\n",
	       flows, (double)flows / secs, flows_per_s_without, n, span > 0 ? (double)n / span : 0,
	       span, k, f.p50, f.p99, k ? lag[k - 1] : 0.0);
	free(lag);
}

/* The store of this run: a new database on ESC_BENCH_PG's server, the URL
 * in ESC_BENCH_DB, or a new SQLite file in B.dir. */
static void choose_store(const char *db, const char *pg_admin)
{
	char err[300];
	int n;
	if (pg_admin && *pg_admin) {
		if (!is_pg_url(pg_admin))
			die("ESC_BENCH_PG is not a postgresql:// URL: %s", pg_admin);
		n = snprintf(B.pg_admin, sizeof B.pg_admin, "%s", pg_admin);
		snprintf(B.pg_name, sizeof B.pg_name, "escrowd_bench_%ld", (long)getpid());
		if (n < 0 || (size_t)n >= sizeof B.pg_admin ||
		    url_with_database(B.db, sizeof B.db, pg_admin, B.pg_name))
			die("ESC_BENCH_PG is too long");
		if (pg_database(true, err, sizeof err))
			die("cannot create the database %s: %s", B.pg_name, err);
		B.pg_made = true;
	} else if (db && *db) {
		n = snprintf(B.db, sizeof B.db, "%s", db);
		if (n < 0 || (size_t)n >= sizeof B.db)
			die("ESC_BENCH_DB is too long");
	} else {
		snprintf(B.db, sizeof B.db, "%s/escrowd.db", B.dir);
	}
	B.pg = is_pg_url(B.db);
	if (B.pg)
		pg_describe();
	else
		snprintf(B.store, sizeof B.store, "SQLite (WAL, synchronous=FULL)");
}

int main(int argc, char **argv)
{
	const char *exe = argc > 1 ? argv[1] : getenv("ESC_BENCH_ESCROWD");
	long clients_l = env_long("ESC_BENCH_CLIENTS", 8);
	long daemons_l = env_long("ESC_BENCH_DAEMONS", 1);
	long buyers_l = env_long("ESC_BENCH_BUYERS", BUYERS_MAX);
	long requests_l = env_long("ESC_BENCH_REQUESTS", 20000);
	long flows_l = env_long("ESC_BENCH_FLOWS", requests_l / 10 > 0 ? requests_l / 10 : 1);
	const char *tmp = getenv("ESC_BENCH_DIR");
	const char *db = getenv("ESC_BENCH_DB"), *pg_admin = getenv("ESC_BENCH_PG");
	char conf[300];
	if (!exe || !*exe)
		exe = "build-release/escrowd";
	if (clients_l < 1 || clients_l > 200 || requests_l < 1 || flows_l < 1)
		die("ESC_BENCH_CLIENTS (1 to 200), ESC_BENCH_REQUESTS and ESC_BENCH_FLOWS must "
		    "be positive");
	if (daemons_l < 1 || daemons_l > DAEMONS_MAX)
		die("ESC_BENCH_DAEMONS must be 1 to %d", DAEMONS_MAX);
	if (buyers_l < 4 || buyers_l > BUYERS_MAX)
		die("ESC_BENCH_BUYERS must be 4 to %d", BUYERS_MAX);
	if (db && *db && pg_admin && *pg_admin)
		die("ESC_BENCH_DB names a store, ESC_BENCH_PG a server to make one on: give one");
	int clients = (int)clients_l, daemons = (int)daemons_l;
	size_t requests = (size_t)requests_l, flows = (size_t)flows_l;
	B.buyers_count = (size_t)buyers_l;
	B.sellers_count = B.buyers_count / 4;
	snprintf(B.dir, sizeof B.dir, "%s/escrowd-bench-http-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(B.dir)) {
		perror("mkdtemp");
		B.dir[0] = '\0';
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	choose_store(db, pg_admin);
	write_config(conf, sizeof conf);
	migrate(exe, conf);
	start_daemon(exe, conf);
	fprintf(stderr, "setting up through the API on port %d...\n", B.daemons[0].port);
	setup(clients);
	while (B.daemons_count < daemons)
		start_daemon(exe, conf);

	char spread[64] = "";
	if (daemons > 1)
		snprintf(spread, sizeof spread, " (client i to daemon i mod %d)", daemons);

	printf("escrowd HTTP benchmark: %s on 127.0.0.1, %s;\n"
	       "%d daemon%s on the store, %d client threads on keep-alive connections%s,\n"
	       "%zu buyers and %zu sellers; %ld cores, shared by the clients%s.\n"
	       "Latency is per request, from send to the whole answer; the /hz columns divide "
	       "by GET /healthz's.\n\n",
	       exe, B.store, daemons, daemons > 1 ? "s" : "", clients, spread, B.buyers_count,
	       B.sellers_count, sysconf(_SC_NPROCESSORS_ONLN),
	       B.pg ? (daemons > 1 ? ", the daemons and the PostgreSQL server"
				   : ", the daemon and the PostgreSQL server")
		    : (daemons > 1 ? " and the daemons" : " and the daemon"));
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

	struct counters before[DAEMONS_MAX], after[DAEMONS_MAX];
	for (int k = 0; k < B.daemons_count; k++)
		before[k] = daemon_counters(k);
	struct test flow = {.name = "cancellation flow",
			    .count = flows,
			    .per_item = FLOW_STEPS,
			    .item = item_flow};
	f = measure(&flow, clients);
	row(flow.name, &f, flows * FLOW_STEPS, flow.conns);
	step_rows(&flow);
	for (int k = 0; k < B.daemons_count; k++)
		after[k] = daemon_counters(k);
	double flows_per_s = (double)flows / flow.secs;
	flows_done = flows;
	printf("\n%zu cancellation flows of %d requests: %.0f flows/s.\n", flows, FLOW_STEPS,
	       flows_per_s);
	commit_rows(before, after);
	/* The same flows again with a webhook endpoint for every event: the
	 * deliveries per second and the outbox lag. */
	rx_start(flows * 16 + 1024);
	rx_subscribe();
	RX.on = true;
	struct test hooked = {.name = "flow, webhooks on",
			      .count = flows,
			      .per_item = FLOW_STEPS,
			      .item = item_flow_hooked};
	struct figures fh = measure(&hooked, clients);
	row(hooked.name, &fh, flows * FLOW_STEPS, hooked.conns);
	RX.on = false;
	rx_drain();
	rx_report(flows, hooked.secs, flows_per_s);
	ledger_check();
	keepalive_check(&health, clients);
	keepalive_check(&get, clients);
	keepalive_check(&flow, clients);

	stop_daemons();
	if (B.pg)
		pg_counters();
	summary_line(&f, flows, flows_per_s);
	cleanup();
	free(health.lat_ms);
	free(get.lat_ms);
	free(flow.lat_ms);
	free(hooked.lat_ms);
	MHD_stop_daemon(RX.d);
	free(RX.arrived.at);
	free(RX.acked.at);
	free(B.orders);
	curl_slist_free_all(B.op_auth);
	for (size_t i = 0; i < B.buyers_count + B.sellers_count; i++)
		curl_slist_free_all(user_at(i)->auth);
	curl_slist_free_all(B.json_hdr);
	curl_global_cleanup();
	return 0;
}
