/* harness.c - the request targets' world (harness.h): a store with orders
 * in known states, kept as a template and copied back after any input
 * that changed it, and dispatch() without the socket. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/order.h"
#include "engine/engine.h"
#include "http/server.h"
#include "util/error.h"

/* server.c's limit on a body's nesting (JSON_DEPTH_MAX there). */
#define BODY_DEPTH_MAX 32
/* A fixed start for the manual clock: 2026-01-05T12:00:00Z. */
#define WORLD_T0_MS INT64_C(1767614400000)
#define PASSWORD    "fuzz-password"

static struct {
	char dir[256];
	bool own_dir;
	char template_db[300], work_db[300];
	struct esc_engine *e;
	bool dirty, building; /* building: the template, changed on purpose */
	bool verbose;         /* ESC_FUZZ_VERBOSE: each answer on stderr */
	struct esc_http_options opt;
	struct esc_http_limits limits;
	struct esc_user users[FUZZ_ROLE_COUNT];
	char ids[FUZZ_IDS][ESC_ID_SIZE + 16];
} world;

static void die(const char *what, const char *why)
{
	fprintf(stderr, "fuzz harness: %s: %s\n", what, why);
	exit(2);
}

static void remove_store(const char *db)
{
	static const char *const tails[] = {"", "-wal", "-shm", "-journal"};
	char path[320];
	for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
		snprintf(path, sizeof path, "%s%s", db, tails[i]);
		unlink(path);
	}
}

static void remove_world(void)
{
	if (world.e)
		esc_engine_free(world.e);
	world.e = NULL;
	remove_store(world.work_db);
	remove_store(world.template_db);
	if (world.own_dir)
		rmdir(world.dir);
}

static void copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out = -1;
	ssize_t n = 0;
	if (in < 0) {
		if (errno == ENOENT)
			return;
		die(from, strerror(errno));
	}
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (out < 0)
		die(to, strerror(errno));
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, (size_t)n) != n)
			die(to, strerror(errno));
	if (n < 0)
		die(from, strerror(errno));
	close(in);
	close(out);
}

static struct esc_engine *open_engine(const char *db)
{
	struct esc_engine_options opt = {.manual_clock = true,
					 .manual_start_ms = WORLD_T0_MS,
					 .fast_password_hashing = true};
	struct esc_engine *e = NULL;
	char err[300] = "";
	if (esc_engine_open(&e, db, NULL, &opt, err, sizeof err))
		die(db, err);
	return e;
}

/* The working store as the template left it. */
static void restore(void)
{
	char from[320], to[320];
	if (world.e)
		esc_engine_free(world.e);
	remove_store(world.work_db);
	copy_file(world.template_db, world.work_db);
	snprintf(from, sizeof from, "%s-wal", world.template_db);
	snprintf(to, sizeof to, "%s-wal", world.work_db);
	copy_file(from, to);
	world.e = open_engine(world.work_db);
	world.dirty = false;
}

void fuzz_world_dirty(void)
{
	world.dirty = !world.building;
}

struct esc_engine *fuzz_world_engine(void)
{
	if (world.dirty)
		restore();
	return world.e;
}

const char *fuzz_world_id(int n)
{
	return n >= 0 && n < FUZZ_IDS ? world.ids[n] : "";
}

/* A writable directory of our own: ESC_FUZZ_DIR (the runner's), else one
 * in /dev/shm (no disk under the commits), $TMPDIR or /tmp. */
static void make_dir(void)
{
	const char *given = getenv("ESC_FUZZ_DIR");
	if (given && *given) {
		snprintf(world.dir, sizeof world.dir, "%s", given);
		if (mkdir(world.dir, 0700) && errno != EEXIST)
			die(world.dir, strerror(errno));
	} else {
		const char *tmp = getenv("TMPDIR");
		const char *base = !access("/dev/shm", W_OK) ? "/dev/shm"
				   : tmp && *tmp             ? tmp
							     : "/tmp";
		snprintf(world.dir, sizeof world.dir, "%s/escrowd-fuzz-XXXXXX", base);
		if (!mkdtemp(world.dir))
			die(world.dir, strerror(errno));
		world.own_dir = true;
	}
	/* Two fuzzers may share a directory: the file names are the process's. */
	snprintf(world.template_db, sizeof world.template_db, "%s/template-%d.db", world.dir,
		 (int)getpid());
	snprintf(world.work_db, sizeof world.work_db, "%s/work-%d.db", world.dir, (int)getpid());
}

/* ---- building the template through the API's own handlers ---- */

/* A request of the setup: must answer 2xx; returns the answer's string
 * field `field` (of the document, or of its first element of `list`). */
static void setup_call(const char *method, const char *path, enum fuzz_role role, const char *body,
		       const char *list, const char *field, char *out, size_t out_size)
{
	struct esc_http_call call;
	const struct esc_route *route =
		fuzz_handle(method, path, role, body, body ? strlen(body) : 0, &call);
	if (!route || call.status >= 300) {
		char *text = call.out ? json_dumps(call.out, JSON_COMPACT) : NULL;
		fprintf(stderr, "fuzz harness: setup %s %s %s answered %d %s\n", method, path,
			body ? body : "", call.status, text ? text : "");
		exit(2);
	}
	if (field) {
		/* A document written as its text (GET /v1/orders/{id}) is read
		 * back. */
		json_t *read = !call.out && call.out_text
				       ? json_loadb(call.out_text, call.out_text_len, 0, NULL)
				       : NULL;
		json_t *all = call.out ? call.out : read;
		json_t *doc = list ? json_array_get(json_object_get(all, list), 0) : all;
		const char *v = json_string_value(json_object_get(doc, field));
		if (!v)
			die(path, "the setup's answer lacks its id");
		snprintf(out, out_size, "%s", v);
		json_decref(read);
	}
	fuzz_call_release(&call);
}

static void make_order(char *id, bool paid)
{
	char body[400];
	snprintf(body, sizeof body,
		 "{\"buyer_id\":\"%s\",\"seller_id\":\"%s\",\"currency\":\"EUR\","
		 "\"items\":[{\"title\":\"Wool scarf\",\"quantity\":2,\"unit_price\":1250}]}",
		 world.users[FUZZ_AS_BUYER].id, world.users[FUZZ_AS_SELLER].id);
	setup_call("POST", "/v1/orders", FUZZ_AS_OPERATOR, body, NULL, "id", id, ESC_ID_SIZE);
	if (paid) {
		char path[100];
		snprintf(path, sizeof path, "/v1/orders/%s/pay", id);
		setup_call("POST", path, FUZZ_AS_OPERATOR,
			   "{\"amount\":2500,\"payment_method\":\"card\"}", NULL, NULL, NULL, 0);
	}
}

static void on_order(const char *id, const char *verb, enum fuzz_role role, const char *body)
{
	char path[160];
	snprintf(path, sizeof path, "/v1/orders/%s/%s", id, verb);
	setup_call("POST", path, role, body, NULL, NULL, NULL, 0);
}

static void build_template(void)
{
	static const struct {
		enum fuzz_role role;
		enum esc_actor actor;
		const char *name, *email;
	} people[] = {
		{FUZZ_AS_BUYER, ESC_ACTOR_BUYER, "Ana Buyer", "ana@fuzz.test"},
		{FUZZ_AS_SELLER, ESC_ACTOR_SELLER, "Sol Seller", "sol@fuzz.test"},
		{FUZZ_AS_ARBITER, ESC_ACTOR_ARBITER, "Ari Arbiter", "ari@fuzz.test"},
		{FUZZ_AS_STRANGER, ESC_ACTOR_BUYER, "Sam Stranger", "sam@fuzz.test"},
	};
	static const unsigned char png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
	static const char *const ship = "{\"carrier\":\"Posturinn\",\"tracking_number\":\"RR1IS\"}";
	static const char *const dispute = "{\"ground\":\"not_as_described\","
					   "\"outcome\":\"refund_only\",\"amount\":2500,"
					   "\"description\":\"The scarf is cotton, not wool.\"}";
	char path[160], why[200];
	world.e = open_engine(world.template_db);
	world.building = true;
	for (size_t i = 0; i < sizeof people / sizeof people[0]; i++)
		if (esc_engine_user_create(world.e, people[i].actor, people[i].name,
					   people[i].email, PASSWORD, &world.users[people[i].role]))
			die(people[i].email, "cannot create the user");
	snprintf(world.ids[8], sizeof world.ids[8], "%s", world.users[FUZZ_AS_BUYER].id);
	snprintf(world.ids[10], sizeof world.ids[10], "%s", world.users[FUZZ_AS_SELLER].id);
	snprintf(world.ids[11], sizeof world.ids[11], "%s", world.users[FUZZ_AS_ARBITER].id);

	make_order(world.ids[0], false);
	make_order(world.ids[1], true);
	make_order(world.ids[2], true);
	on_order(world.ids[2], "cancel", FUZZ_AS_BUYER, "{\"reason\":\"no_longer_needed\"}");
	make_order(world.ids[3], true);
	on_order(world.ids[3], "ship", FUZZ_AS_SELLER, ship);
	make_order(world.ids[4], true);
	on_order(world.ids[4], "ship", FUZZ_AS_SELLER, ship);
	snprintf(path, sizeof path, "/v1/orders/%s/disputes", world.ids[4]);
	setup_call("POST", path, FUZZ_AS_BUYER, dispute, NULL, "id", world.ids[5],
		   sizeof world.ids[5]);

	char escalated[ESC_ID_SIZE];
	make_order(escalated, true);
	on_order(escalated, "ship", FUZZ_AS_SELLER, ship);
	snprintf(path, sizeof path, "/v1/orders/%s/disputes", escalated);
	setup_call("POST", path, FUZZ_AS_BUYER, dispute, NULL, "id", world.ids[6],
		   sizeof world.ids[6]);
	snprintf(path, sizeof path, "/v1/disputes/%s/reject", world.ids[6]);
	setup_call("POST", path, FUZZ_AS_SELLER, "{\"message\":\"It is wool.\"}", NULL, NULL, NULL,
		   0);
	snprintf(path, sizeof path, "/v1/disputes/%s/escalate", world.ids[6]);
	setup_call("POST", path, FUZZ_AS_BUYER, NULL, NULL, NULL, NULL, 0);

	char refunded[ESC_ID_SIZE];
	make_order(refunded, true);
	on_order(refunded, "cancel", FUZZ_AS_BUYER, "{\"reason\":\"better_price\"}");
	snprintf(path, sizeof path, "/v1/orders/%s/cancellation/accept", refunded);
	setup_call("POST", path, FUZZ_AS_SELLER, NULL, NULL, NULL, NULL, 0);
	snprintf(path, sizeof path, "/v1/orders/%s", refunded);
	setup_call("GET", path, FUZZ_AS_BUYER, NULL, "refunds", "id", world.ids[7],
		   sizeof world.ids[7]);

	/* A file of evidence: the handler needs a Content-Type, which the
	 * harness cannot give, so the engine takes it directly. */
	char order_id[ESC_ID_SIZE];
	struct esc_evidence ev;
	esc_dispute_order_id(order_id, world.ids[5]);
	if (esc_engine_evidence_add(world.e, ESC_ACTOR_BUYER, world.users[FUZZ_AS_BUYER].id,
				    order_id, "image/png", "scarf.png", png, sizeof png - 1, &ev,
				    why, sizeof why, NULL))
		die("evidence", why);
	snprintf(path, sizeof path, "/v1/disputes/%s", world.ids[5]);
	setup_call("GET", path, FUZZ_AS_BUYER, NULL, "evidence", "id", world.ids[9],
		   sizeof world.ids[9]);

	esc_engine_free(world.e);
	world.e = NULL;
	world.building = false;
}

void fuzz_world_init(void)
{
	if (world.e)
		return;
	make_dir();
	atexit(remove_world);
	world.verbose = getenv("ESC_FUZZ_VERBOSE") && *getenv("ESC_FUZZ_VERBOSE");
	esc_http_options_default(&world.opt);
	world.opt.quiet = true;
	world.opt.test_mode = true; /* the world's clock is manual */
	world.limits.by_account = (struct esc_ratelimit){"signin.account", 15 * 60 * 1000,
							 world.opt.signin_per_account};
	world.limits.by_address =
		(struct esc_ratelimit){"signin.address", 60 * 1000, world.opt.signin_per_address};
	sem_init(&world.limits.hashing, 0, 1);
	build_template();
	restore();
}

/* ---- one request ---- */

static int json_depth(const json_t *j)
{
	int deepest = 0;
	const char *k;
	size_t i;
	json_t *v;
	if (json_is_object(j)) {
		json_object_foreach((json_t *)j, k, v)
		{
			int d = json_depth(v);
			deepest = d > deepest ? d : deepest;
		}
		return deepest + 1;
	}
	if (json_is_array(j)) {
		json_array_foreach(j, i, v)
		{
			int d = json_depth(v);
			deepest = d > deepest ? d : deepest;
		}
		return deepest + 1;
	}
	return 0;
}

/* The id that "@" and ch name, or NULL. */
static const char *id_named(char ch)
{
	static const char names[FUZZ_IDS + 1] = "0123456789ab";
	const char *at = ch ? strchr(names, ch) : NULL;
	return at ? world.ids[at - names] : NULL;
}

/* "@N" in a body of size bytes becomes the world's id N: malloc'd, its
 * length in *len. */
static char *expand_body(const char *body, size_t size, size_t *len)
{
	char *out = malloc(size * (ESC_ID_SIZE + 16) / 2 + 1);
	size_t n = 0;
	if (!out)
		die("body", "out of memory");
	for (size_t i = 0; i < size; i++) {
		const char *id = body[i] == '@' && i + 1 < size ? id_named(body[i + 1]) : NULL;
		if (id) {
			memcpy(out + n, id, strlen(id));
			n += strlen(id);
			i++;
			continue;
		}
		out[n++] = body[i];
	}
	*len = n;
	return out;
}

/* The same in a path, cut at size - 1 bytes. */
static void expand_ids(const char *path, char *out, size_t size)
{
	size_t n = 0;
	for (const char *p = path; *p && n + 1 < size; p++) {
		const char *id = p[0] == '@' ? id_named(p[1]) : NULL;
		if (id) {
			size_t len = strlen(id);
			if (n + len + 1 >= size)
				break;
			memcpy(out + n, id, len);
			n += len;
			p++;
			continue;
		}
		out[n++] = *p;
	}
	out[n] = '\0';
}

static enum fuzz_role route_role(const struct esc_route *route)
{
	if (route->who & ESC_WHO_ANYONE)
		return FUZZ_AS_ANYONE;
	if (route->who & ESC_WHO_OPERATOR)
		return FUZZ_AS_OPERATOR;
	if (route->who & ESC_WHO_BUYER)
		return FUZZ_AS_BUYER;
	if (route->who & ESC_WHO_SELLER)
		return FUZZ_AS_SELLER;
	return FUZZ_AS_ARBITER;
}

static const char *role_name(enum fuzz_role role)
{
	static const char *const names[FUZZ_ROLE_COUNT] = {
		[FUZZ_AS_ROUTE] = "route",       [FUZZ_AS_ANYONE] = "anyone",
		[FUZZ_AS_OPERATOR] = "operator", [FUZZ_AS_BUYER] = "buyer",
		[FUZZ_AS_SELLER] = "seller",     [FUZZ_AS_ARBITER] = "arbiter",
		[FUZZ_AS_STRANGER] = "stranger",
	};
	return role >= 0 && role < FUZZ_ROLE_COUNT ? names[role] : "?";
}

static unsigned role_mask(enum fuzz_role role)
{
	switch (role) {
	case FUZZ_AS_OPERATOR:
		return ESC_WHO_OPERATOR;
	case FUZZ_AS_BUYER:
	case FUZZ_AS_STRANGER:
		return ESC_WHO_BUYER;
	case FUZZ_AS_SELLER:
		return ESC_WHO_SELLER;
	case FUZZ_AS_ARBITER:
		return ESC_WHO_ARBITER;
	default:
		return 0;
	}
}

/* A broken promise to the client: say what and abort, so that libFuzzer
 * keeps the input. */
static void broken(const char *what, const char *method, const char *path,
		   const struct esc_http_call *call, int rc)
{
	char *text = call->out ? json_dumps(call->out, JSON_COMPACT) : NULL;
	fprintf(stderr, "fuzz: %s: %s %s answered %d (rc %d %s) %.2000s\n", what, method, path,
		call->status, rc, rc ? esc_error_code(rc) : "",
		text ? text : call->out_text ? call->out_text : "(no document)");
	free(text);
	abort();
}

static const struct esc_route *handle(const char *method, const char *path_in, enum fuzz_role role,
				      const void *body, size_t body_len, struct esc_http_call *call)
{
	char path[1024], buf[512];
	bool path_known = false;
	json_error_t jerr;
	const char *id_param = NULL;
	struct esc_engine *e = fuzz_world_engine();
	memset(call, 0, sizeof *call);
	expand_ids(path_in, path, sizeof path);
	if (!strcmp(method, "HEAD"))
		method = "GET";

	const struct esc_route *route =
		esc_route_find(method, path, buf, sizeof buf, &id_param, &path_known);
	/* What the router promises: the route's method; {id} as one whole
	 * segment of the path, copied into buf; no parameter otherwise. */
	if (route) {
		bool takes_id = strstr(route->path, "{id}") != NULL;
		if (strcmp(route->method, method) || takes_id != (id_param != NULL) ||
		    (id_param && (id_param < buf || id_param >= buf + sizeof buf || !*id_param ||
				  strchr(id_param, '/') || !strstr(path, id_param))))
			broken("the router's answer is inconsistent", method, path, call, 0);
	}
	if (!route) {
		call->status = path_known ? 405 : 404;
		return NULL;
	}

	if (role == FUZZ_AS_ROUTE)
		role = route_role(route);
	call->e = e;
	call->opt = &world.opt;
	call->method = method;
	call->param = id_param;
	call->event = route->event;
	call->limits = &world.limits;
	call->viewer.buyer_level = -1;
	snprintf(call->address, sizeof call->address, "127.0.0.1");
	call->caller.kind = role == FUZZ_AS_OPERATOR ? ESC_CALLER_OPERATOR
			    : role_mask(role)        ? ESC_CALLER_USER
						     : ESC_CALLER_ANONYMOUS;
	if (call->caller.kind == ESC_CALLER_USER) {
		call->caller.user = world.users[role];
		snprintf(call->caller.csrf, sizeof call->caller.csrf, "fuzz-csrf");
	}
	if (!(route->who & ESC_WHO_ANYONE)) {
		unsigned mask = role_mask(role);
		if (!(route->who & mask)) {
			call->status = mask ? 403 : 401;
			return route;
		}
	}

	/* The body, as dispatch() reads it. */
	if (route->body == ESC_BODY_FILE) {
		call->file = body;
		call->file_len = body_len;
	} else if (route->body == ESC_BODY_JSON && body_len) {
		size_t len = 0;
		char *text = expand_body(body, body_len, &len);
		call->body = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
		free(text);
		if (!call->body) {
			call->status = 400;
			return route;
		}
		if (!json_is_object(call->body) || json_depth(call->body) > BODY_DEPTH_MAX) {
			json_decref(call->body);
			call->body = NULL;
			call->status = 400;
			return route;
		}
	} else if (body_len) {
		call->status = 400;
		return route;
	}
	if (!call->body)
		call->body = json_object();

	/* The counters behind /metrics are the server's, which there is none of. */
	if (!strcmp(route->path, "/metrics")) {
		call->status = 200;
		return route;
	}
	call->status = 200;
	int rc = route->handler(call);
	if (rc) {
		int status = esc_error_status(rc);
		if (rc > 0 || status < 400)
			broken("a handler returned an unknown code", method, path, call, rc);
		call->status = status;
		if (status >= 500)
			broken("a request answered a server error", method, path, call, rc);
	} else {
		if (call->status < 200 || call->status >= 300)
			broken("a handler succeeded with a status that is not 2xx", method, path,
			       call, rc);
		if (!call->out && !call->out_text && !call->text && !call->raw &&
		    !call->raw_static)
			broken("a handler succeeded without an answer", method, path, call, rc);
		if (strcmp(method, "GET"))
			fuzz_world_dirty();
	}
	if (call->out) {
		char *text = json_dumps(call->out, JSON_COMPACT);
		if (!text)
			broken("the answer does not serialize", method, path, call, rc);
		free(text);
	}
	/* A document written as its text (GET /v1/orders/{id}) is a JSON
	 * object. */
	if (call->out_text) {
		json_t *doc = json_loadb(call->out_text, call->out_text_len, 0, NULL);
		if (!json_is_object(doc))
			broken("the answer's text is not a JSON object", method, path, call, rc);
		json_decref(doc);
	}
	return route;
}

const struct esc_route *fuzz_handle(const char *method, const char *path, enum fuzz_role role,
				    const void *body, size_t body_len, struct esc_http_call *call)
{
	const struct esc_route *route = handle(method, path, role, body, body_len, call);
	if (world.verbose) {
		char *text = call->out ? json_dumps(call->out, JSON_COMPACT) : NULL;
		fprintf(stderr, "fuzz: %s %s as %s: %d %.300s\n", method, path,
			route ? role_name(role == FUZZ_AS_ROUTE ? route_role(route) : role) : "-",
			call->status, text ? text : "");
		free(text);
	}
	return route;
}

void fuzz_call_release(struct esc_http_call *call)
{
	json_decref(call->body);
	json_decref(call->out);
	free(call->out_text);
	free(call->text);
	free(call->raw);
	memset(call, 0, sizeof *call);
}
