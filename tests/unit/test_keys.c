/* test_keys.c - operator keys (issue 18 item 7): `escrowd keys create`
 * shows a key's secret once, `list` shows each key's times and never a
 * secret, `revoke` makes every daemon on the store refuse the key at its
 * next request; the operator's routes (/v1/operator-keys) do the same over
 * HTTP. Two daemons serve one store (on PostgreSQL, as several daemons of
 * a cluster do; on SQLite, two processes on one file). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/keys.h"
#include "store/store.h"
#include "support.h"
#include "util/clock.h"
#include "util/id.h"

#define KEY "keys-operator-key-00001"

static struct esc_test_daemon a, b;
static char binary[300];

/* escrowd keys ARGS on the daemons' store: its exit status, its output in
 * out. */
static int keys(const char *args, char *out, size_t size)
{
	char line[1200];
	snprintf(line, sizeof line, "keys %s --db '%s'", args, a.db);
	return esc_test_run_cli(binary, NULL, line, out, size);
}

/* A new key named name: its secret and id, from create's output. */
static void create(const char *name, char secret[80], char id[64])
{
	char out[4096], args[300];
	snprintf(args, sizeof args, "create --name '%s'", name);
	if (keys(args, out, sizeof out))
		fail_msg("escrowd keys create failed:\n%s", out);
	const char *s = strstr(out, "secret: "), *i = strstr(out, "id: ");
	assert_non_null(s);
	assert_non_null(i);
	assert_int_equal(sscanf(s, "secret: %79s", secret), 1);
	assert_int_equal(sscanf(i, "id: %63s", id), 1);
	assert_int_equal(strncmp(secret, "esk_", 4), 0);
	assert_int_equal(strncmp(id, "key_", 4), 0);
}

static long status_of(const struct esc_test_daemon *d, const char *token)
{
	struct esc_test_reply r = esc_test_call(d->port, "GET", "/v1/ledger/check", token, NULL);
	long status = r.status;
	esc_test_reply_drop(&r);
	return status;
}

static int setup(void **state)
{
	(void)state;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(binary, sizeof binary, "%s/escrowd", getenv("ESC_BUILD_DIR"));
	memset(&a, 0, sizeof a);
	esc_test_tmpdir(a.dir, sizeof a.dir);
	esc_test_store(a.db, sizeof a.db, a.dir);
	esc_test_daemon_start(&a, KEY);
	b = a;
	b.pid = 0;
	b.port = 0;
	esc_test_daemon_start(&b, KEY);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	esc_test_daemon_stop(&b);
	esc_test_daemon_stop(&a);
	esc_test_store_drop(a.db);
	esc_test_rmdir(a.dir);
	curl_global_cleanup();
	return 0;
}

/* create prints the secret once; the key works on both daemons; list
 * names it with its id and times, never a secret, beside the key
 * --operator-key installed. */
static void issue_18_a_created_key_is_shown_once_and_serves(void **state)
{
	char secret[80], id[64], out[8192];
	(void)state;
	create("ci deploy", secret, id);
	assert_int_equal(status_of(&a, secret), 200);
	assert_int_equal(status_of(&b, secret), 200);
	assert_int_equal(keys("list", out, sizeof out), 0);
	assert_non_null(strstr(out, id));
	assert_non_null(strstr(out, "ci deploy"));
	assert_non_null(strstr(out, "operator-key (from --operator-key)"));
	assert_null(strstr(out, secret));
	assert_null(strstr(out, "esk_"));
	/* Its last use is written (the first use, and then at most once a
	 * minute): its row shows a time in the LAST USED column. */
	const char *row = strstr(out, id);
	char created[40] = "", used[40] = "";
	assert_int_equal(sscanf(row, "%*s %39s %39s", created, used), 2);
	assert_int_equal(strncmp(used, "20", 2), 0);
}

/* A key revoked on the command line is refused by every daemon on the
 * store at its next request: no cache to wait for. The other keys still
 * serve. */
static void issue_18_a_revoked_key_is_refused_at_once_by_every_daemon(void **state)
{
	char secret[80], id[64], out[4096], args[200];
	(void)state;
	create("to revoke", secret, id);
	assert_int_equal(status_of(&a, secret), 200);
	assert_int_equal(status_of(&b, secret), 200);
	snprintf(args, sizeof args, "revoke --id %s", id);
	if (keys(args, out, sizeof out))
		fail_msg("escrowd keys revoke failed:\n%s", out);
	assert_int_equal(status_of(&a, secret), 401);
	assert_int_equal(status_of(&b, secret), 401);
	assert_int_equal(status_of(&a, KEY), 200);
	assert_int_equal(status_of(&b, KEY), 200);
	/* Again: it says when it was revoked, and exits 1. */
	assert_int_equal(keys(args, out, sizeof out), 1);
	assert_non_null(strstr(out, "revoked already"));
}

/* revoke takes a name when one active key has it. */
static void issue_18_a_key_is_revoked_by_its_name(void **state)
{
	char secret[80], id[64], other[80], other_id[64], out[4096];
	(void)state;
	create("twin", secret, id);
	create("twin", other, other_id);
	assert_int_equal(keys("revoke --name twin", out, sizeof out), 1);
	assert_non_null(strstr(out, "several active keys"));
	assert_int_equal(status_of(&a, secret), 200);
	char args[200];
	snprintf(args, sizeof args, "revoke --id %s", id);
	assert_int_equal(keys(args, out, sizeof out), 0);
	assert_int_equal(keys("revoke --name twin", out, sizeof out), 0);
	assert_non_null(strstr(out, other_id));
	assert_int_equal(status_of(&b, other), 401);
}

static void issue_18_keys_refuses_what_it_cannot_do(void **state)
{
	char out[4096];
	(void)state;
	assert_int_equal(keys("create", out, sizeof out), 2);
	assert_non_null(strstr(out, "--name NAME is required"));
	assert_int_equal(keys("revoke", out, sizeof out), 2);
	assert_non_null(strstr(out, "give --id ID or --name NAME"));
	assert_int_equal(keys("revoke --id key_none", out, sizeof out), 1);
	assert_non_null(strstr(out, "no key is key_none"));
	assert_int_equal(keys("rotate", out, sizeof out), 2);
	assert_int_equal(esc_test_run_cli(binary, NULL, "keys --help", out, sizeof out), 0);
	assert_non_null(strstr(out, "escrowd keys create --db URL --name NAME"));
}

/* ---- the operator's routes: /v1/operator-keys ---- */

/* POST /v1/operator-keys on d with token: its secret in secret, its id in
 * id; the key as answered. */
static json_t *api_create(const struct esc_test_daemon *d, const char *token, const char *name,
			  char secret[80], char id[64])
{
	char body[300];
	snprintf(body, sizeof body, "{\"name\":\"%s\"}", name);
	json_t *k = esc_test_must(d->port, "POST", "/v1/operator-keys", token, body, 201);
	snprintf(secret, 80, "%s", esc_test_str(k, "secret"));
	snprintf(id, 64, "%s", esc_test_str(k, "id"));
	return k;
}

/* Every key, walked page by page (limit 2) with token on d. */
static json_t *api_all(const struct esc_test_daemon *d, const char *token)
{
	json_t *all = json_array();
	char path[200] = "/v1/operator-keys?limit=2";
	for (;;) {
		json_t *page = esc_test_must(d->port, "GET", path, token, NULL, 200);
		json_t *data = json_object_get(page, "data");
		assert_true(json_array_size(data) <= 2);
		json_array_extend(all, data);
		bool more = json_is_true(json_object_get(page, "has_more"));
		if (more)
			snprintf(path, sizeof path, "/v1/operator-keys?limit=2&starting_after=%s",
				 esc_test_str(json_array_get(data, json_array_size(data) - 1),
					      "id"));
		json_decref(page);
		if (!more)
			return all;
	}
}

/* The key of that id in a list of keys, or NULL. */
static json_t *key_in(json_t *list, const char *id)
{
	size_t i;
	json_t *k;
	json_array_foreach(list, i, k)
	{
		if (!strcmp(esc_test_str(k, "id"), id))
			return k;
	}
	return NULL;
}

/* A request's status, and its error's message into msg. */
static long api_status(const struct esc_test_daemon *d, const char *method, const char *path,
		       const char *token, const char *body, char msg[300])
{
	struct esc_test_reply r = esc_test_call(d->port, method, path, token, body);
	long status = r.status;
	snprintf(msg, 300, "%s", esc_test_str(json_object_get(r.json, "error"), "message"));
	esc_test_reply_drop(&r);
	return status;
}

/* A key made through the API shows its secret once and serves on both
 * daemons; the list shows it with its times and never a secret; revoked
 * through one daemon it is refused with 401 by both at their next
 * request, and listed with its revocation, by `escrowd keys list` too. */
static void issue_18_operator_routes_make_list_and_revoke_a_key(void **state)
{
	char secret[80], id[64], path[160], msg[300], out[16384];
	(void)state;
	json_t *k = api_create(&a, KEY, "made over http", secret, id);
	assert_int_equal(strncmp(secret, "esk_", 4), 0);
	assert_int_equal(strlen(secret), 47);
	assert_int_equal(strncmp(id, "key_", 4), 0);
	assert_string_equal(esc_test_str(k, "name"), "made over http");
	assert_int_equal(strncmp(esc_test_str(k, "created_at"), "20", 2), 0);
	assert_true(json_is_null(json_object_get(k, "last_used_at")));
	assert_true(json_is_null(json_object_get(k, "revoked_at")));
	json_decref(k);
	assert_int_equal(status_of(&a, secret), 200);
	assert_int_equal(status_of(&b, secret), 200);

	/* Listed, to the new key itself on the other daemon: used, active,
	 * and no secret anywhere in the answer. */
	struct esc_test_reply r =
		esc_test_call(b.port, "GET", "/v1/operator-keys?limit=100", secret, NULL);
	assert_int_equal(r.status, 200);
	assert_null(strstr(r.body, "esk_"));
	assert_null(strstr(r.body, "secret"));
	assert_null(strstr(r.body, "hash"));
	json_t *listed = key_in(json_object_get(r.json, "data"), id);
	assert_non_null(listed);
	assert_string_equal(esc_test_str(listed, "name"), "made over http");
	assert_int_equal(strncmp(esc_test_str(listed, "last_used_at"), "20", 2), 0);
	assert_true(json_is_null(json_object_get(listed, "revoked_at")));
	assert_false(json_is_true(json_object_get(r.json, "has_more")));
	esc_test_reply_drop(&r);

	snprintf(path, sizeof path, "/v1/operator-keys/%s/revoke", id);
	k = esc_test_must(a.port, "POST", path, KEY, "{}", 200);
	assert_string_equal(esc_test_str(k, "id"), id);
	assert_int_equal(strncmp(esc_test_str(k, "revoked_at"), "20", 2), 0);
	assert_null(json_object_get(k, "secret"));
	json_decref(k);
	assert_int_equal(status_of(&a, secret), 401);
	assert_int_equal(status_of(&b, secret), 401);
	assert_int_equal(status_of(&b, KEY), 200);

	/* Listed as revoked, on the other daemon and on the host. */
	json_t *all = api_all(&b, KEY);
	listed = key_in(all, id);
	assert_non_null(listed);
	assert_int_equal(strncmp(esc_test_str(listed, "revoked_at"), "20", 2), 0);
	json_decref(all);
	assert_int_equal(keys("list", out, sizeof out), 0);
	const char *row = strstr(out, id);
	assert_non_null(row);
	char created[40] = "", used[40] = "", revoked[40] = "";
	assert_int_equal(sscanf(row, "%*s %39s %39s %39s", created, used, revoked), 3);
	assert_int_equal(strncmp(revoked, "20", 2), 0);

	/* Again: 409, saying when. An unknown id: 404. A name is no id here
	 * (escrowd keys revoke --name is the host's). */
	assert_int_equal(api_status(&b, "POST", path, KEY, "{}", msg), 409);
	assert_non_null(strstr(msg, "revoked already, at 20"));
	assert_int_equal(
		api_status(&b, "POST", "/v1/operator-keys/key_none/revoke", KEY, "{}", msg), 404);
	assert_non_null(strstr(msg, "no operator key with this id"));
	json_decref(api_create(&a, KEY, "by-name-only", secret, id));
	assert_int_equal(
		api_status(&a, "POST", "/v1/operator-keys/by-name-only/revoke", KEY, "{}", msg),
		404);
	assert_int_equal(status_of(&a, secret), 200);
}

/* A key may revoke itself: the answer is its last. The last active key
 * may not be revoked through the API (the host's escrowd keys may). */
static void issue_18_operator_key_revokes_itself_but_never_the_last(void **state)
{
	char secret[80], id[64], path[160], msg[300], key_id[64] = "";
	(void)state;
	json_decref(api_create(&a, KEY, "short-lived", secret, id));
	snprintf(path, sizeof path, "/v1/operator-keys/%s/revoke", id);
	json_decref(esc_test_must(b.port, "POST", path, secret, NULL, 200));
	assert_int_equal(status_of(&a, secret), 401);
	assert_int_equal(status_of(&b, secret), 401);

	/* Every other active key revoked, KEY is the last. */
	json_t *all = api_all(&a, KEY);
	size_t i;
	json_t *k;
	json_array_foreach(all, i, k)
	{
		if (!json_is_null(json_object_get(k, "revoked_at")))
			continue;
		if (!strcmp(esc_test_str(k, "name"), "operator-key (from --operator-key)")) {
			snprintf(key_id, sizeof key_id, "%s", esc_test_str(k, "id"));
			continue;
		}
		snprintf(path, sizeof path, "/v1/operator-keys/%s/revoke", esc_test_str(k, "id"));
		json_decref(esc_test_must(a.port, "POST", path, KEY, "{}", 200));
	}
	json_decref(all);
	assert_true(key_id[0]);
	snprintf(path, sizeof path, "/v1/operator-keys/%s/revoke", key_id);
	assert_int_equal(api_status(&b, "POST", path, KEY, "{}", msg), 409);
	assert_non_null(strstr(msg, "the last active operator key"));
	assert_non_null(strstr(msg, "POST /v1/operator-keys"));
	assert_int_equal(status_of(&a, KEY), 200);
}

/* Bad requests get 400 with what to do; pages walk the whole list in
 * order. */
static void issue_18_operator_routes_refuse_bad_requests_and_page(void **state)
{
	char msg[300], secret[80], id[64], body[300];
	(void)state;
	static const struct {
		const char *body, *says;
	} bad[] = {
		{"{}", "'name' is required"},
		{"{\"name\":7}", "'name' must be a string"},
		{"{\"name\":\"\"}", "'name' must be 1 to 100 bytes"},
		{"{\"name\":\"two\\nlines\"}", "'name' must not hold"},
		{"{\"name\":\"k\",\"scope\":\"all\"}", "unknown field 'scope'"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(api_status(&a, "POST", "/v1/operator-keys", KEY, bad[i].body, msg),
				 400);
		if (!strstr(msg, bad[i].says))
			fail_msg("%s: %s, not %s", bad[i].body, msg, bad[i].says);
	}
	memset(body, 0, sizeof body);
	snprintf(body, sizeof body, "{\"name\":\"%0101d\"}", 0);
	assert_int_equal(api_status(&a, "POST", "/v1/operator-keys", KEY, body, msg), 400);
	assert_non_null(strstr(msg, "'name' must be 1 to 100 bytes"));
	assert_int_equal(api_status(&a, "GET", "/v1/operator-keys?limit=0", KEY, NULL, msg), 400);
	assert_int_equal(
		api_status(&a, "GET", "/v1/operator-keys?starting_after=key_none", KEY, NULL, msg),
		400);
	assert_non_null(strstr(msg, "starting_after must be an operator key's id"));
	assert_int_equal(api_status(&a, "POST", "/v1/operator-keys/key_x/revoke", KEY,
				    "{\"now\":true}", msg),
			 400);

	/* Pages of 2 give the list of 100, in the same order (oldest first;
	 * keys of one millisecond by their ids). */
	for (int i = 0; i < 3; i++)
		json_decref(api_create(&b, KEY, "page", secret, id));
	json_t *all = api_all(&a, KEY);
	json_t *one = esc_test_must(a.port, "GET", "/v1/operator-keys?limit=100", KEY, NULL, 200);
	json_t *data = json_object_get(one, "data");
	assert_true(json_array_size(data) >= 4);
	assert_int_equal(json_array_size(all), json_array_size(data));
	for (size_t i = 0; i < json_array_size(data); i++)
		assert_string_equal(esc_test_str(json_array_get(all, i), "id"),
				    esc_test_str(json_array_get(data, i), "id"));
	assert_non_null(key_in(all, id));
	json_decref(one);
	json_decref(all);
}

/* n more keys on the daemons' store, named "filler", written by the store
 * itself while the daemons serve it. */
static void fill_keys(size_t n)
{
	char err[300], secret[64];
	struct esc_store *s = NULL;
	int rc = esc_store_open(a.db, &s, err, sizeof err);
	if (rc)
		fail_msg("open %s: %s", a.db, err);
	ESC_STORE0(rc, s, begin);
	assert_int_equal(rc, 0);
	for (size_t i = 0; i < n; i++) {
		struct esc_api_key k = {.created_at_ms = esc_time_real_ms()};
		esc_id_new(k.id, "key_", k.created_at_ms);
		snprintf(k.name, sizeof k.name, "filler");
		snprintf(secret, sizeof secret, "esk_filler_%zu", i);
		esc_key_hash(secret, k.key_hash);
		ESC_STORE(rc, s, api_key_insert, &k);
		assert_int_equal(rc, 0);
	}
	ESC_STORE0(rc, s, commit);
	assert_int_equal(rc, 0);
	esc_store_close(s);
}

/* The store keeps at most ESC_API_KEYS_MAX keys, revoked ones included
 * (each is listed, and each can be revoked): the next one is refused with
 * 409 limit_reached by the API and by `escrowd keys create`, and the list
 * still holds every key. Runs last: it fills the store. */
static void issue_18_keys_past_the_most_kept_are_refused(void **state)
{
	char msg[300], out[4096];
	(void)state;
	json_t *all = api_all(&a, KEY);
	size_t had = json_array_size(all);
	json_decref(all);
	/* All but the last through the store, in one transaction (through
	 * the API, each lists every key before it inserts one: 20 s under
	 * ASan), the last through the API. */
	fill_keys(ESC_API_KEYS_MAX - 1 - had);
	assert_int_equal(
		api_status(&a, "POST", "/v1/operator-keys", KEY, "{\"name\":\"filler\"}", msg),
		201);
	assert_int_equal(
		api_status(&b, "POST", "/v1/operator-keys", KEY, "{\"name\":\"one more\"}", msg),
		409);
	assert_non_null(strstr(msg, "the store holds 1000 operator keys"));
	assert_int_equal(keys("create --name 'one more'", out, sizeof out), 1);
	assert_non_null(strstr(out, "the most it keeps"));
	json_t *page = esc_test_must(a.port, "GET", "/v1/operator-keys?limit=100", KEY, NULL, 200);
	assert_true(json_is_true(json_object_get(page, "has_more")));
	json_decref(page);
	all = api_all(&a, KEY);
	assert_int_equal(json_array_size(all), ESC_API_KEYS_MAX);
	json_decref(all);

	/* serve installs its --operator-key: one the store has already
	 * still starts; a new one is refused, and says why. */
	esc_test_daemon_stop(&b);
	esc_test_daemon_start(&b, KEY);
	char line[1200];
	snprintf(line, sizeof line,
		 "serve --db '%s' --listen 127.0.0.1:0 --operator-key one-more-operator-key-0001",
		 a.db);
	assert_int_equal(esc_test_run_cli(binary, "ESCROWD_MODE=test", line, out, sizeof out), 1);
	if (!strstr(out, "the store holds 1000 operator keys"))
		fail_msg("serve with a new key on a full store said:\n%s", out);
}

int main(void)
{
	esc_test_store_or_skip("keys");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(issue_18_a_created_key_is_shown_once_and_serves),
		cmocka_unit_test(issue_18_a_revoked_key_is_refused_at_once_by_every_daemon),
		cmocka_unit_test(issue_18_a_key_is_revoked_by_its_name),
		cmocka_unit_test(issue_18_keys_refuses_what_it_cannot_do),
		cmocka_unit_test(issue_18_operator_routes_make_list_and_revoke_a_key),
		cmocka_unit_test(issue_18_operator_key_revokes_itself_but_never_the_last),
		cmocka_unit_test(issue_18_operator_routes_refuse_bad_requests_and_page),
		cmocka_unit_test(issue_18_keys_past_the_most_kept_are_refused),
	};
	return cmocka_run_group_tests_name("keys", tests, setup, teardown);
}
