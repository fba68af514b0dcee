/* test_rules.c - the catalogue of rules (core/rules.h, issue 16 item 2):
 * every rule has its id, keys the configuration knows, and its three
 * sentences in both languages with the same placeholders; deadlines map
 * to their rules by the order's state; rendering fills placeholders and
 * says when it had to cut. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "core/policy.h"
#include "core/rules.h"
#include "util/error.h"
#include "support.h"
#include "util/strbuf.h"

/* The {names} of a sentence, sorted and joined, into out. */
static void placeholders(const char *s, char *out, size_t size)
{
	char names[16][32];
	size_t n = 0;
	for (const char *p = strchr(s, '{'); p; p = strchr(p + 1, '{')) {
		const char *close = strchr(p, '}');
		assert_non_null(close);
		assert_true(n < 16 && (size_t)(close - p) < 32);
		snprintf(names[n++], 32, "%.*s", (int)(close - p - 1), p + 1);
	}
	qsort(names, n, sizeof names[0], (int (*)(const void *, const void *))strcmp);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i && !strcmp(names[i], names[i - 1]))
			continue;
		strncat(out, names[i], size - strlen(out) - 2);
		strcat(out, " ");
	}
}

static void test_every_rule_is_whole_in_both_languages(void **state)
{
	(void)state;
	struct esc_policy p;
	struct esc_strbuf sb;
	esc_policy_default(&p);
	esc_strbuf_init(&sb, 64 * 1024);
	assert_int_equal(esc_policy_format(&p, &sb), 0);
	for (int r = 0; r < ESC_RULE_COUNT; r++) {
		const struct esc_rule_info *info = esc_rule((enum esc_rule)r);
		assert_non_null(info);
		assert_non_null(info->id);
		assert_int_equal(esc_rule_parse(info->id), r);
		/* Each key it reads is one the configuration writes. */
		char keys[300], *save = NULL;
		snprintf(keys, sizeof keys, "%s", info->keys);
		for (char *k = strtok_r(keys, " ", &save); k; k = strtok_r(NULL, " ", &save)) {
			char line[64];
			snprintf(line, sizeof line, "\n%s", k);
			if (!strstr(esc_strbuf_str(&sb), line) &&
			    strncmp(esc_strbuf_str(&sb), k, strlen(k)) && strcmp(k, "carriers"))
				fail_msg("rule %s reads '%s', which the configuration has not",
					 info->id, k);
		}
		for (int l = 0; l < ESC_LANG_COUNT; l++) {
			const struct esc_rule_text *t = &info->text[l];
			assert_true(t->says && *t->says && t->passes && *t->passes && t->passed &&
				    *t->passed);
		}
		/* The same placeholders in English and Icelandic, sentence by sentence. */
		const char *const *en = &info->text[ESC_LANG_EN].says;
		const char *const *is = &info->text[ESC_LANG_IS].says;
		for (int s = 0; s < 3; s++) {
			char a[300], b[300];
			placeholders(en[s], a, sizeof a);
			placeholders(is[s], b, sizeof b);
			if (strcmp(a, b))
				fail_msg("rule %s sentence %d: en has {%s}, is has {%s}", info->id,
					 s, a, b);
		}
		/* An event's sentence starts with the rule's id. */
		for (int l = 0; l < ESC_LANG_COUNT; l++)
			assert_int_equal(strncmp(info->text[l].passed, info->id, strlen(info->id)),
					 0);
	}
	assert_null(esc_rule(ESC_RULE_COUNT));
	assert_int_equal(esc_rule_parse("no_such_rule"), -1);
	esc_strbuf_release(&sb);
}

static void test_deadlines_name_their_rule(void **state)
{
	(void)state;
	struct esc_order o;
	memset(&o, 0, sizeof o);
	assert_int_equal(esc_deadline_rule(&o, ESC_DL_PAYMENT), ESC_RULE_PAYMENT_WINDOW);
	assert_int_equal(esc_deadline_rule(&o, ESC_DL_SHIP), ESC_RULE_SHIP_WINDOW);
	assert_int_equal(esc_deadline_rule(&o, ESC_DL_RESPONSE), ESC_RULE_RESPONSE_WINDOW);
	assert_int_equal(esc_deadline_rule(&o, ESC_DL_PROTECTION), ESC_RULE_PROTECTION_EXTRA);
	assert_int_equal(esc_deadline_rule(&o, ESC_DL_CONFIRM), ESC_RULE_CONFIRM_WINDOW);
	assert_int_equal(esc_deadline_rule(&o, ESC_DL_REFUND), ESC_RULE_REFUND_ALERT);
	assert_int_equal(esc_deadline_rule(&o, ESC_DL_DISPUTE), -1);
	o.dispute_state = ESC_DS_AWAITING_SELLER;
	assert_int_equal(esc_deadline_rule(&o, ESC_DL_DISPUTE), ESC_RULE_DISPUTE_SELLER_WINDOW);
	o.dispute_state = ESC_DS_COUNTER_OFFERED;
	assert_int_equal(esc_deadline_rule(&o, ESC_DL_DISPUTE), ESC_RULE_DISPUTE_BUYER_WINDOW);
	o.dispute_state = ESC_DS_REJECTED;
	assert_int_equal(esc_deadline_rule(&o, ESC_DL_DISPUTE), ESC_RULE_DISPUTE_ESCALATE_WINDOW);
	o.dispute_state = ESC_DS_AWAITING_RETURN;
	assert_int_equal(esc_deadline_rule(&o, ESC_DL_DISPUTE), ESC_RULE_RETURN_SHIP_WINDOW);
	o.return_shipped_at_ms = 1;
	assert_int_equal(esc_deadline_rule(&o, ESC_DL_DISPUTE), ESC_RULE_RETURN_RECEIVE_WINDOW);
	o.dispute_state = ESC_DS_ESCALATED;
	assert_int_equal(esc_deadline_rule(&o, ESC_DL_DISPUTE), -1);
}

static void test_render(void **state)
{
	(void)state;
	const struct esc_rule_var vars[] = {{"window", "72 h"},
					    {"amount", "29.00 EUR"},
					    {"method", "card"},
					    {"from", "2026-12-07"},
					    {"to", "2026-12-11"}};
	char out[300];
	assert_int_equal(
		esc_rule_render(esc_rule(ESC_RULE_RESPONSE_WINDOW)->text[ESC_LANG_EN].passed, vars,
				5, out, sizeof out),
		0);
	assert_string_equal(out,
			    "response_window of 72 h passed: the request was approved "
			    "automatically, 29.00 EUR refunded to the card, expected 2026-12-07 "
			    "to 2026-12-11.");
	/* A placeholder without a value stays; braces without a name too. */
	assert_int_equal(esc_rule_render("{a} and {b} {", vars, 1, out, sizeof out), 0);
	assert_string_equal(out, "{a} and {b} {");
	/* Too small: cut, NUL-terminated, and said so. */
	assert_int_equal(esc_rule_render("window {window}!", vars, 1, out, 10), ESC_EINVAL);
	assert_string_equal(out, "window 72");
	assert_int_equal(esc_lang_parse("is"), ESC_LANG_IS);
	assert_string_equal(esc_lang_name(ESC_LANG_EN), "en");
	assert_int_equal(esc_lang_parse("de"), -1);
}

static void test_window_and_says(void **state)
{
	(void)state;
	char out[400];
	static const struct {
		int64_t ms;
		const char *en, *is;
	} w[] = {
		{72 * ESC_MS_PER_HOUR, "72 hours", "72 klukkustunda"},
		{24 * ESC_MS_PER_HOUR, "24 hours", "24 klukkustunda"},
		{ESC_MS_PER_HOUR, "1 hour", "1 klukkustundar"},
		{7 * ESC_MS_PER_DAY, "7 days", "7 daga"},
		{21 * ESC_MS_PER_DAY, "21 days", "21 dags"},
		{11 * ESC_MS_PER_DAY, "11 days", "11 daga"},
		{90 * 60000, "90 minutes", "90 mínútna"},
		{1500, "1500 milliseconds", "1500 millisekúndna"},
		{(72 + 1) * ESC_MS_PER_HOUR, "73 hours", "73 klukkustunda"},
	};
	for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
		esc_rule_window(w[i].ms, ESC_LANG_EN, out, sizeof out);
		assert_string_equal(out, w[i].en);
		esc_rule_window(w[i].ms, ESC_LANG_IS, out, sizeof out);
		assert_string_equal(out, w[i].is);
	}

	struct esc_policy p;
	esc_policy_default(&p);
	assert_int_equal(esc_rule_says(&p, ESC_RULE_RESPONSE_WINDOW, ESC_LANG_EN, out, sizeof out),
			 0);
	assert_string_equal(out, "The seller answers a cancellation request within 72 hours.");
	assert_int_equal(esc_rule_says(&p, ESC_RULE_RESPONSE_WINDOW, ESC_LANG_IS, out, sizeof out),
			 0);
	assert_string_equal(out, "Seljandinn svarar beiðni um afturköllun innan 72 klukkustunda.");
	assert_int_equal(
		esc_rule_says(&p, ESC_RULE_WATCH_CANCELLATIONS, ESC_LANG_IS, out, sizeof out), 0);
	assert_non_null(
		strstr(out, "3 eða fleiri afturkallanir eftir greiðslu á 30 daga tímabili"));
	assert_int_equal(esc_rule_says(&p, ESC_RULE_FEE, ESC_LANG_EN, out, sizeof out), 0);
	assert_non_null(strstr(out, "keeps 5% of what is released"));
	/* The policy's numbers, not SPEC's, once configured. */
	p.response_window_ms = 48 * ESC_MS_PER_HOUR;
	p.fee_basis_points = 255;
	assert_int_equal(esc_rule_says(&p, ESC_RULE_RESPONSE_WINDOW, ESC_LANG_EN, out, sizeof out),
			 0);
	assert_string_equal(out, "The seller answers a cancellation request within 48 hours.");
	assert_int_equal(esc_rule_says(&p, ESC_RULE_FEE, ESC_LANG_IS, out, sizeof out), 0);
	assert_non_null(strstr(out, "2,55 %"));
	/* Every rule's help sentence is whole: no placeholder left. */
	for (int r = 0; r < ESC_RULE_COUNT; r++)
		for (int l = 0; l < ESC_LANG_COUNT; l++) {
			assert_int_equal(esc_rule_says(&p, (enum esc_rule)r, (enum esc_lang)l, out,
						       sizeof out),
					 0);
			if (strchr(out, '{'))
				fail_msg("%s in %s: %s", esc_rule((enum esc_rule)r)->id,
					 esc_lang_name((enum esc_lang)l), out);
		}
}

/* GET /v1/rules on the real daemon, with a configured window: the
 * running policy's numbers, in both languages, to anyone. */
static void test_http_rules(void **state)
{
	(void)state;
	struct esc_test_daemon d = {0};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	esc_test_tmpdir(d.dir, sizeof d.dir);
	esc_test_store(d.db, sizeof d.db, d.dir);
	esc_test_path(d.config, sizeof d.config, d.dir, "escrowd.conf");
	FILE *f = fopen(d.config, "w");
	assert_non_null(f);
	fputs("response_window = 48h\nwatch_cancellations = 4\n", f);
	fclose(f);
	esc_test_daemon_start(&d, "rules-operator-key-0001");

	json_t *j = esc_test_must(d.port, "GET", "/v1/rules", "", NULL, 200);
	json_t *data = json_object_get(j, "data"), *rule;
	size_t i;
	assert_int_equal(json_array_size(data), ESC_RULE_COUNT);
	int seen = 0;
	json_array_foreach(data, i, rule)
	{
		const char *id = esc_test_str(rule, "id");
		json_t *says = json_object_get(rule, "rule");
		assert_int_equal(esc_rule_parse(id), (int)i);
		assert_non_null(strstr(
			esc_test_str(json_object_get(json_object_get(rule, "templates"), "en"),
				     "passed"),
			id));
		if (!strcmp(id, "response_window")) {
			seen++;
			assert_string_equal(esc_test_str(says, "en"),
					    "The seller answers a cancellation "
					    "request within 48 hours.");
			assert_string_equal(esc_test_str(says, "is"),
					    "Seljandinn svarar beiðni um afturköllun innan 48 "
					    "klukkustunda.");
			assert_string_equal(esc_test_str(rule, "event"), "response_deadline");
			assert_string_equal(
				json_string_value(json_array_get(json_object_get(rule, "keys"), 0)),
				"response_window");
		}
		if (!strcmp(id, "watch_cancellations")) {
			seen++;
			assert_non_null(
				strstr(esc_test_str(says, "en"), "4 or more cancellations"));
			assert_true(json_is_null(json_object_get(rule, "event")));
		}
	}
	assert_int_equal(seen, 2);
	json_decref(j);
	esc_test_daemon_stop(&d);
	esc_test_store_drop(d.db);
	esc_test_rmdir(d.dir);
	curl_global_cleanup();
}

/* The cancellation budget (issue 16 item 3) over HTTP: in /v1/me for the
 * buyer, in their reputation for them and the operator, never for a
 * seller; after one cancellation after payment, one more keeps the buyer
 * good, and it leaves the 30-day window 30 days after it was made. */
static int64_t parse_time(const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	assert_non_null(strptime(s, "%Y-%m-%dT%H:%M:%S", &tm));
	return (int64_t)timegm(&tm);
}

static void test_http_cancel_budget(void **state)
{
	(void)state;
	struct esc_test_daemon d = {0};
	const char *key = "rules-operator-key-0002";
	char body[400], path[160], buyer_id[64], seller_id[64], buyer_tok[80], seller_tok[80],
		order[64];
	curl_global_init(CURL_GLOBAL_DEFAULT);
	esc_test_tmpdir(d.dir, sizeof d.dir);
	esc_test_store(d.db, sizeof d.db, d.dir);
	esc_test_daemon_start(&d, key);

	struct {
		const char *role;
		char *id, *tok;
	} who[] = {{"buyer", buyer_id, buyer_tok}, {"seller", seller_id, seller_tok}};
	for (int i = 0; i < 2; i++) {
		snprintf(body, sizeof body,
			 "{\"role\":\"%s\",\"name\":\"%s\",\"email\":\"%s@budget.test\","
			 "\"password\":\"password-1\"}",
			 who[i].role, who[i].role, who[i].role);
		json_t *j = esc_test_must(d.port, "POST", "/v1/users", key, body, 201);
		snprintf(who[i].id, 64, "%s", esc_test_str(j, "id"));
		json_decref(j);
		snprintf(body, sizeof body,
			 "{\"email\":\"%s@budget.test\",\"password\":\"password-1\"}", who[i].role);
		j = esc_test_must(d.port, "POST", "/v1/sessions", "", body, 201);
		snprintf(who[i].tok, 80, "%s", esc_test_str(j, "token"));
		json_decref(j);
	}

	/* No cancellation yet: two more keep the buyer good. */
	json_t *me = esc_test_must(d.port, "GET", "/v1/me", buyer_tok, NULL, 200);
	json_t *b = json_object_get(me, "cancellation_budget");
	assert_string_equal(esc_test_str(b, "level"), "good");
	assert_int_equal(json_integer_value(json_object_get(b, "cancellations_left")), 2);
	assert_string_equal(esc_test_str(b, "next_level"), "watch");
	assert_string_equal(esc_test_str(b, "next_rule"), "watch_cancellations");
	assert_true(json_is_null(json_object_get(b, "oldest_leaves_30_days_at")));
	json_decref(me);

	/* A paid order, cancelled at the buyer's request. */
	snprintf(body, sizeof body,
		 "{\"buyer_id\":\"%s\",\"seller_id\":\"%s\",\"currency\":\"EUR\","
		 "\"items\":[{\"title\":\"Kettle\",\"quantity\":1,\"unit_price\":2900}]}",
		 buyer_id, seller_id);
	json_t *o = esc_test_must(d.port, "POST", "/v1/orders", key, body, 201);
	snprintf(order, sizeof order, "%s", esc_test_str(o, "id"));
	json_decref(o);
	snprintf(path, sizeof path, "/v1/orders/%s/pay", order);
	json_decref(esc_test_must(d.port, "POST", path, key,
				  "{\"amount\":2900,\"payment_method\":\"card\"}", 200));
	snprintf(path, sizeof path, "/v1/orders/%s/cancel", order);
	json_decref(esc_test_must(d.port, "POST", path, buyer_tok,
				  "{\"reason\":\"no_longer_needed\"}", 200));
	snprintf(path, sizeof path, "/v1/orders/%s/cancellation/accept", order);
	json_decref(esc_test_must(d.port, "POST", path, seller_tok, "{}", 200));

	me = esc_test_must(d.port, "GET", "/v1/me", buyer_tok, NULL, 200);
	b = json_object_get(me, "cancellation_budget");
	assert_int_equal(json_integer_value(json_object_get(b, "cancellations_left")), 1);
	int64_t now = parse_time(esc_test_str(me, "now"));
	assert_true(parse_time(esc_test_str(b, "oldest_leaves_30_days_at")) == now + 30 * 86400);
	assert_true(parse_time(esc_test_str(b, "oldest_leaves_90_days_at")) == now + 90 * 86400);
	json_decref(me);

	/* The same in the buyer's reputation, to them and to the operator; a
	 * seller sees the level, not the budget. */
	snprintf(path, sizeof path, "/v1/users/%s/reputation", buyer_id);
	json_t *r = esc_test_must(d.port, "GET", path, buyer_tok, NULL, 200);
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(r, "cancellation_budget"), "cancellations_left")),
			 1);
	json_decref(r);
	r = esc_test_must(d.port, "GET", path, key, NULL, 200);
	assert_non_null(json_object_get(r, "cancellation_budget"));
	json_decref(r);
	r = esc_test_must(d.port, "GET", path, seller_tok, NULL, 200);
	assert_string_equal(esc_test_str(r, "level"), "good");
	assert_string_equal(esc_test_str(r, "rule"), "watch_cancellations");
	assert_null(json_object_get(r, "cancellation_budget"));
	json_decref(r);
	/* A seller's score names its rule. */
	snprintf(path, sizeof path, "/v1/users/%s/reputation", seller_id);
	r = esc_test_must(d.port, "GET", path, key, NULL, 200);
	assert_string_equal(esc_test_str(r, "rule"), "seller_score");
	json_decref(r);
	/* A seller's /v1/me has none. */
	me = esc_test_must(d.port, "GET", "/v1/me", seller_tok, NULL, 200);
	assert_null(json_object_get(me, "cancellation_budget"));
	json_decref(me);

	esc_test_daemon_stop(&d);
	esc_test_store_drop(d.db);
	esc_test_rmdir(d.dir);
	curl_global_cleanup();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_rule_is_whole_in_both_languages),
		cmocka_unit_test(test_deadlines_name_their_rule),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_window_and_says),
		cmocka_unit_test(test_http_rules),
		cmocka_unit_test(test_http_cancel_budget),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
