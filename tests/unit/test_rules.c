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
#include <sqlite3.h>

#include "core/policy.h"
#include "core/rules.h"
#include "util/error.h"
#include "support.h"
#include "util/strbuf.h"
#include "util/timefmt.h"

/* The {names} of a sentence, sorted and joined, into out; a counted one,
 * {name:one|many}, as "name:" (the nouns differ by language, the name and
 * that it is counted do not). */
static void placeholders(const char *s, char *out, size_t size)
{
	char names[16][32];
	size_t n = 0;
	for (const char *p = strchr(s, '{'); p; p = strchr(p + 1, '{')) {
		const char *close = strchr(p, '}');
		assert_non_null(close);
		const char *colon = memchr(p, ':', (size_t)(close - p));
		const char *end = colon ? colon + 1 : close;
		if (colon)
			assert_non_null(memchr(colon, '|', (size_t)(close - colon)));
		assert_true(n < 16 && (size_t)(end - p) < 32);
		snprintf(names[n++], 32, "%.*s", (int)(end - p - 1), p + 1);
	}
	qsort(names, n, sizeof names[0], (int (*)(const void *, const void *))strcmp);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i && !strcmp(names[i], names[i - 1]))
			continue;
		size_t len = strlen(out);
		snprintf(out + len, size - len, "%s ", names[i]);
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
		esc_rule_render(esc_rule(ESC_RULE_RESPONSE_WINDOW)->text[ESC_LANG_EN].passed,
				ESC_LANG_EN, vars, 5, out, sizeof out),
		0);
	assert_string_equal(out,
			    "response_window of 72 h passed: the request was approved "
			    "automatically, 29.00 EUR refunded to the card, expected 2026-12-07 "
			    "to 2026-12-11.");
	/* A placeholder without a value stays; braces without a name too. */
	assert_int_equal(esc_rule_render("{a} and {b} {", ESC_LANG_EN, vars, 1, out, sizeof out),
			 0);
	assert_string_equal(out, "{a} and {b} {");
	/* Too small: cut, NUL-terminated, and said so. */
	assert_int_equal(esc_rule_render("window {window}!", ESC_LANG_EN, vars, 1, out, 10),
			 ESC_EINVAL);
	assert_string_equal(out, "window 72");
	/* A counted placeholder: the noun in the number its value takes, 1
	 * alone singular in English, 1, 21, 31 ... (not 11) in Icelandic; a
	 * value not a number takes the plural; without a value it stays. */
	static const struct {
		const char *count;
		enum esc_lang lang;
		enum esc_rule rule;
		const char *text;
	} counts[] = {
		{"0", ESC_LANG_EN, ESC_RULE_WATCH_CANCELLATIONS,
		 "watch_cancellations: 0 cancellations in 30 days, 3 or more: the buyer is "
		 "watched."},
		{"1", ESC_LANG_EN, ESC_RULE_WATCH_CANCELLATIONS,
		 "watch_cancellations: 1 cancellation in 30 days, 3 or more: the buyer is "
		 "watched."},
		{"2", ESC_LANG_EN, ESC_RULE_WATCH_CANCELLATIONS,
		 "watch_cancellations: 2 cancellations in 30 days, 3 or more: the buyer is "
		 "watched."},
		{"0", ESC_LANG_IS, ESC_RULE_WATCH_CANCELLATIONS,
		 "watch_cancellations: 0 afturkallanir á 30 daga tímabili, 3 eða fleiri: fylgst er "
		 "með kaupandanum."},
		{"1", ESC_LANG_IS, ESC_RULE_WATCH_CANCELLATIONS,
		 "watch_cancellations: 1 afturköllun á 30 daga tímabili, 3 eða fleiri: fylgst er "
		 "með kaupandanum."},
		{"2", ESC_LANG_IS, ESC_RULE_WATCH_CANCELLATIONS,
		 "watch_cancellations: 2 afturkallanir á 30 daga tímabili, 3 eða fleiri: fylgst er "
		 "með kaupandanum."},
		{"21", ESC_LANG_IS, ESC_RULE_WATCH_CANCELLATIONS,
		 "watch_cancellations: 21 afturköllun á 30 daga tímabili, 3 eða fleiri: fylgst er "
		 "með kaupandanum."},
		{"11", ESC_LANG_IS, ESC_RULE_WATCH_CANCELLATIONS,
		 "watch_cancellations: 11 afturkallanir á 30 daga tímabili, 3 eða fleiri: fylgst "
		 "er "
		 "með kaupandanum."},
		{"21", ESC_LANG_EN, ESC_RULE_WATCH_CANCELLATIONS,
		 "watch_cancellations: 21 cancellations in 30 days, 3 or more: the buyer is "
		 "watched."},
		{"0", ESC_LANG_EN, ESC_RULE_SUSPENDED_LOST_DISPUTES,
		 "suspended_lost_disputes: 0 disputes lost in 30 days, 3 or more: the buyer is "
		 "suspended."},
		{"1", ESC_LANG_EN, ESC_RULE_SUSPENDED_LOST_DISPUTES,
		 "suspended_lost_disputes: 1 dispute lost in 30 days, 3 or more: the buyer is "
		 "suspended."},
		{"2", ESC_LANG_EN, ESC_RULE_SUSPENDED_LOST_DISPUTES,
		 "suspended_lost_disputes: 2 disputes lost in 30 days, 3 or more: the buyer is "
		 "suspended."},
		{"0", ESC_LANG_IS, ESC_RULE_SUSPENDED_LOST_DISPUTES,
		 "suspended_lost_disputes: 0 töpuð ágreiningsmál á 30 daga tímabili, 3 eða fleiri: "
		 "kaupandinn er í banni."},
		{"1", ESC_LANG_IS, ESC_RULE_SUSPENDED_LOST_DISPUTES,
		 "suspended_lost_disputes: 1 tapað ágreiningsmál á 30 daga tímabili, 3 eða fleiri: "
		 "kaupandinn er í banni."},
		{"2", ESC_LANG_IS, ESC_RULE_SUSPENDED_LOST_DISPUTES,
		 "suspended_lost_disputes: 2 töpuð ágreiningsmál á 30 daga tímabili, 3 eða fleiri: "
		 "kaupandinn er í banni."},
		{"1", ESC_LANG_EN, ESC_RULE_RESTRICTED_RATE,
		 "restricted_rate: 50% of 1 paid order cancelled in 30 days, over 3: the buyer is "
		 "restricted."},
		{"1", ESC_LANG_IS, ESC_RULE_RESTRICTED_RATE,
		 "restricted_rate: 50% af 1 greiddri pöntun afturkallað á 30 daga tímabili, meira "
		 "en 3: kaupandinn er takmarkaður."},
		{"1", ESC_LANG_EN, ESC_RULE_SELLER_SCORE,
		 "seller_score: 67, from 1 fault over the orders of 30 days."},
		{"2", ESC_LANG_EN, ESC_RULE_SELLER_SCORE,
		 "seller_score: 67, from 2 faults over the orders of 30 days."},
		{"1", ESC_LANG_IS, ESC_RULE_SELLER_SCORE,
		 "seller_score: 67, af 1 broti á pöntunum 30 daga tímabils."},
		{"2", ESC_LANG_IS, ESC_RULE_SELLER_SCORE,
		 "seller_score: 67, af 2 brotum á pöntunum 30 daga tímabils."},
		{"many", ESC_LANG_EN, ESC_RULE_WATCH_CANCELLATIONS,
		 "watch_cancellations: many cancellations in 30 days, 3 or more: the buyer is "
		 "watched."},
	};
	for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
		const struct esc_rule_var cv[] = {
			{"count", counts[i].count},
			{"threshold", "3"},
			{"percent", "50%"},
			{"score", "67"},
			{"window", counts[i].lang == ESC_LANG_IS ? "30 daga" : "30 days"}};
		assert_int_equal(esc_rule_sentence(counts[i].rule, 2, counts[i].lang, cv, 5, out,
						   sizeof out),
				 0);
		assert_string_equal(out, counts[i].text);
	}
	/* The threshold is counted too where a noun follows it: "at most 1
	 * time", "0 of 1 cancellation"; and a counted placeholder without a
	 * value stays as it is. */
	const struct esc_rule_var one[] = {
		{"threshold", "1"}, {"count", "0"}, {"window", "7 days"}};
	assert_int_equal(esc_rule_sentence(ESC_RULE_CANCEL_REQUESTS_MAX, 0, ESC_LANG_EN, one, 1,
					   out, sizeof out),
			 0);
	assert_string_equal(out, "A buyer may ask to cancel an order at most 1 time.");
	assert_int_equal(esc_rule_sentence(ESC_RULE_CANCEL_REQUESTS_MAX, 0, ESC_LANG_IS, one, 1,
					   out, sizeof out),
			 0);
	assert_string_equal(out,
			    "Kaupandi getur beðið um afturköllun pöntunar í mesta lagi 1 sinni.");
	assert_int_equal(esc_rule_sentence(ESC_RULE_SUSPENDED_LOST_DISPUTES, 1, ESC_LANG_EN, one, 3,
					   out, sizeof out),
			 0);
	assert_string_equal(out, "0 of 1 lost dispute in 7 days before the account is suspended.");
	assert_int_equal(
		esc_rule_render("{n:day|days} left", ESC_LANG_EN, NULL, 0, out, sizeof out), 0);
	assert_string_equal(out, "{n:day|days} left");
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

/* The daemon of a test over HTTP. */
static struct esc_test_daemon X;
static const char *XKEY = "rules-operator-key-0003";

/* A daemon of its own, under config (policy lines; NULL: SPEC's). */
static void explain_start_with(const char *config)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	memset(&X, 0, sizeof X);
	esc_test_tmpdir(X.dir, sizeof X.dir);
	esc_test_store(X.db, sizeof X.db, X.dir);
	esc_test_daemon_config(&X, config);
	esc_test_daemon_start(&X, XKEY);
}

static void explain_start(void)
{
	explain_start_with(NULL);
}

static void explain_stop(void)
{
	esc_test_daemon_stop(&X);
	esc_test_store_drop(X.db);
	esc_test_rmdir(X.dir);
	curl_global_cleanup();
}

/* GET /v1/rules on the real daemon, with a configured window: the
 * running policy's numbers, in both languages, to anyone. */
static void test_http_rules(void **state)
{
	(void)state;
	explain_start_with("response_window = 48h\nwatch_cancellations = 4\n");

	json_t *j = esc_test_must(X.port, "GET", "/v1/rules", "", NULL, 200);
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
		/* The recommendation's rules are in the one catalogue. */
		if (!strcmp(id, "recommend_seller_score")) {
			seen++;
			assert_string_equal(
				esc_test_str(says, "en"),
				"When the seller's score is under 60, the doubt goes to "
				"the buyer: a part of the amount asked becomes all of it.");
			assert_int_equal(json_array_size(json_object_get(rule, "keys")), 0);
		}
	}
	assert_int_equal(seen, 3);
	json_decref(j);
	explain_stop();
}

/* GET /v1/dispute-grounds on the real daemon (issue 17 item 6, the help
 * page): the three grounds, when each opens, and the running policy's
 * dispute_after_completion in both languages, to anyone. */
static void test_http_dispute_grounds(void **state)
{
	(void)state;
	explain_start_with("dispute_after_completion = 20d\n");

	json_t *j = esc_test_must(X.port, "GET", "/v1/dispute-grounds", "", NULL, 200);
	json_t *data = json_object_get(j, "data");
	assert_int_equal(json_array_size(data), 3);
	static const char *const want[][2] = {{"invalid_tracking", "shipped"},
					      {"not_as_described", "shipped"},
					      {"not_delivered", "promised_delivery_passed"}};
	for (size_t i = 0; i < 3; i++) {
		json_t *g = json_array_get(data, i), *says = json_object_get(g, "rule");
		assert_string_equal(esc_test_str(g, "ground"), want[i][0]);
		assert_string_equal(esc_test_str(g, "opens"), want[i][1]);
		assert_int_equal(json_integer_value(json_object_get(g, "after_completion_seconds")),
				 20 * 86400);
		assert_non_null(strstr(esc_test_str(says, "en"), "until 20 days after"));
		assert_non_null(strstr(esc_test_str(says, "is"), "innan 20 daga frá"));
		assert_null(strchr(esc_test_str(says, "en"), '{'));
		assert_null(strchr(esc_test_str(says, "is"), '{'));
	}
	assert_non_null(strstr(esc_test_str(json_object_get(json_array_get(data, 2), "rule"), "en"),
			       "promised delivery date has passed without delivery"));
	json_decref(j);
	explain_stop();
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

/* ---- every deadline's rule explains itself (issue 16 item 2) ---- */


struct who {
	char id[64], tok[80], email[80];
};

static void sign_in(struct who *w)
{
	char body[200];
	snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"password-1\"}", w->email);
	json_t *j = esc_test_must(X.port, "POST", "/v1/sessions", "", body, 201);
	snprintf(w->tok, sizeof w->tok, "%s", esc_test_str(j, "token"));
	json_decref(j);
}

static void user_new(struct who *w, const char *role)
{
	static unsigned serial;
	char body[300];
	snprintf(w->email, sizeof w->email, "%s%u@explain.test", role, ++serial);
	snprintf(
		body, sizeof body,
		"{\"role\":\"%s\",\"name\":\"%s %u\",\"email\":\"%s\",\"password\":\"password-1\"}",
		role, role, serial, w->email);
	json_t *j = esc_test_must(X.port, "POST", "/v1/users", XKEY, body, 201);
	snprintf(w->id, sizeof w->id, "%s", esc_test_str(j, "id"));
	json_decref(j);
	sign_in(w);
}

/* The clock moves by seconds; b and s sign in again after it. */
static void advance(int64_t seconds, struct who *b, struct who *s)
{
	char body[64];
	snprintf(body, sizeof body, "{\"seconds\":%lld}", (long long)seconds);
	json_decref(esc_test_must(X.port, "POST", "/v1/clock/advance", XKEY, body, 200));
	sign_in(b);
	sign_in(s);
}

static void step(const char *token, const char *fmt, const char *id, const char *body, long status)
{
	char path[200];
	snprintf(path, sizeof path, fmt, id);
	json_decref(esc_test_must(X.port, "POST", path, token, body, status));
}

/* An order of 29.00 EUR, paid by card unless paid is false. */
static void order_new(const struct who *b, const struct who *s, char id[64], bool paid)
{
	char body[300];
	snprintf(body, sizeof body,
		 "{\"buyer_id\":\"%s\",\"seller_id\":\"%s\",\"currency\":\"EUR\","
		 "\"items\":[{\"title\":\"Kettle\",\"quantity\":1,\"unit_price\":2900}]}",
		 b->id, s->id);
	json_t *o = esc_test_must(X.port, "POST", "/v1/orders", XKEY, body, 201);
	snprintf(id, 64, "%s", esc_test_str(o, "id"));
	json_decref(o);
	if (paid)
		step(XKEY, "/v1/orders/%s/pay", id, "{\"amount\":2900,\"payment_method\":\"card\"}",
		     200);
}

static json_t *order_get(const char *id, const char *token)
{
	char path[160];
	snprintf(path, sizeof path, "/v1/orders/%s", id);
	return esc_test_must(X.port, "GET", path, token, NULL, 200);
}

static int64_t ms_of(json_t *j, const char *key)
{
	int64_t ms = 0;
	assert_int_equal(esc_time_parse(esc_test_str(j, key), &ms), 0);
	return ms;
}

/* "2026-12-07": the day of ms. */
static void day_of(int64_t ms, char out[16])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 16, "%Y-%m-%d", &tm);
}

/* x explains rule over window_ms, from since to due, moving amount (-1:
 * nothing) to method (NULL: none). */
static void check_numbers(json_t *x, const char *rule, int64_t window_ms, json_int_t amount,
			  const char *method)
{
	if (!json_is_object(x))
		fail_msg("no explanation of %s", rule);
	assert_string_equal(esc_test_str(x, "rule"), rule);
	assert_string_equal(esc_test_str(x, "policy_version"), "pol_1");
	assert_int_equal(json_integer_value(json_object_get(x, "window_ms")), window_ms);
	assert_int_equal(ms_of(x, "due") - ms_of(x, "since"), window_ms);
	assert_string_equal(esc_test_str(x, "currency"), "EUR");
	if (amount < 0)
		assert_true(json_is_null(json_object_get(x, "amount")));
	else
		assert_int_equal(json_integer_value(json_object_get(x, "amount")), amount);
	if (method)
		assert_string_equal(esc_test_str(x, "method"), method);
	else
		assert_true(json_is_null(json_object_get(x, "method")));
	assert_null(strchr(esc_test_str(x, "text"), '{'));
}

/* The explanation of the system's event on order id that rule fired: in
 * the feed (GET /v1/events) and the same in the order's history. The
 * caller's reference. */
static json_t *explanation_of(const char *id, const char *rule)
{
	char path[200];
	json_t *found = NULL, *ev;
	size_t i;
	snprintf(path, sizeof path, "/v1/events?limit=100&order_id=%s", id);
	json_t *feed = esc_test_must(X.port, "GET", path, XKEY, NULL, 200);
	json_array_foreach(json_object_get(feed, "data"), i, ev)
	{
		json_t *x = json_object_get(json_object_get(ev, "data"), "explanation");
		if (x && !strcmp(esc_test_str(x, "rule"), rule)) {
			assert_null(found);
			found = json_incref(x);
		}
	}
	json_decref(feed);
	if (!found)
		fail_msg("no event of %s explained by %s", id, rule);
	snprintf(path, sizeof path, "/v1/orders/%s/events", id);
	json_t *history = esc_test_must(X.port, "GET", path, XKEY, NULL, 200), *h;
	bool same = false;
	json_array_foreach(json_object_get(history, "data"), i, h)
	{
		json_t *x = json_object_get(json_object_get(h, "detail"), "explanation");
		same = same || (x && json_equal(x, found));
		if (x)
			assert_string_equal(esc_test_str(h, "actor"), "system");
	}
	json_decref(history);
	assert_true(same);
	return found;
}

/* The order's first refund: its expected arrival from its creation. */
static void refund_days(const char *id, char from[16], char to[16])
{
	char path[200];
	snprintf(path, sizeof path, "/v1/refunds?order_id=%s", id);
	json_t *list = esc_test_must(X.port, "GET", path, XKEY, NULL, 200);
	json_t *r = json_array_get(json_object_get(list, "data"), 0);
	assert_non_null(r);
	int64_t at = ms_of(r, "created_at");
	json_t *days = json_object_get(r, "expected_days");
	day_of(at + json_integer_value(json_object_get(days, "min")) * 86400000, from);
	day_of(at + json_integer_value(json_object_get(days, "max")) * 86400000, to);
	json_decref(list);
}

/* The rule of the action named name in list, or NULL. */
static json_t *action_rule(json_t *list, const char *name)
{
	size_t i;
	json_t *a;
	json_array_foreach(list, i, a) if (!strcmp(esc_test_str(a, "name"),
						   name)) return json_object_get(a,
										 "deadline_rule");
	return NULL;
}


#define H  (INT64_C(3600000))
#define DY (24 * H)

/* The order's own windows: payment, ship (and the refund's alert after
 * it), response, protection and confirm; each deadline names its rule
 * and says what its passing does with the order's numbers, in English or
 * Icelandic; each firing writes the rule's explanation with the numbers. */
static void test_http_order_deadlines_explained(void **state)
{
	(void)state;
	struct who b, s;
	char id[64], from[16], to[16], want[400];
	explain_start();
	user_new(&b, "buyer");
	user_new(&s, "seller");

	/* payment_window */
	order_new(&b, &s, id, false);
	json_t *o = order_get(id, b.tok);
	json_t *x = json_object_get(json_object_get(o, "deadline_rules"), "payment");
	check_numbers(x, "payment_window", 24 * H, -1, NULL);
	assert_string_equal(esc_test_str(x, "window"), "24 hours");
	assert_string_equal(esc_test_str(x, "text"),
			    "If it is not paid by then, the order is cancelled.");
	assert_true(json_equal(json_object_get(x, "due"),
			       json_object_get(json_object_get(o, "deadlines"), "payment")));
	assert_true(json_equal(action_rule(json_object_get(o, "actions"), "pay"), x) ||
		    !action_rule(json_object_get(o, "actions"), "pay"));
	json_decref(o);
	advance(25 * 3600, &b, &s);
	x = explanation_of(id, "payment_window");
	check_numbers(x, "payment_window", 24 * H, -1, NULL);
	assert_string_equal(esc_test_str(x, "text"),
			    "payment_window of 24 hours passed: the order was cancelled.");
	json_decref(x);

	/* ship_window, then refund_alert on its refund */
	order_new(&b, &s, id, true);
	o = order_get(id, s.tok);
	x = json_object_get(json_object_get(o, "deadline_rules"), "ship");
	check_numbers(x, "ship_window", 7 * DY, 2900, "card");
	assert_string_equal(esc_test_str(x, "window"), "7 days");
	assert_string_equal(esc_test_str(x, "text"),
			    "If the seller has not shipped by then, the order is cancelled and "
			    "29.00 EUR goes back to the card it was paid with.");
	assert_true(json_equal(action_rule(json_object_get(o, "actions"), "ship"), x));
	json_decref(o);
	esc_test_header = "Accept-Language: is";
	o = order_get(id, b.tok);
	x = json_object_get(json_object_get(o, "deadline_rules"), "ship");
	assert_string_equal(esc_test_str(x, "window"), "7 daga");
	assert_string_equal(esc_test_str(x, "text"),
			    "Ef seljandinn hefur ekki sent fyrir þann tíma er pöntunin afturkölluð "
			    "og 29,00 EUR fer aftur á kortið sem greitt var með.");
	json_decref(o);
	advance(8 * 86400, &b, &s);
	x = explanation_of(id, "ship_window");
	check_numbers(x, "ship_window", 7 * DY, 2900, "card");
	refund_days(id, from, to);
	assert_string_equal(esc_test_str(x, "expected_from"), from);
	assert_string_equal(esc_test_str(x, "expected_to"), to);
	snprintf(want, sizeof want,
		 "ship_window of 7 days passed: the order was cancelled, 29.00 EUR refunded to "
		 "the card, expected %s to %s.",
		 from, to);
	assert_string_equal(esc_test_str(x, "text"), want);
	json_decref(x);
	advance(11 * 86400, &b, &s);
	x = explanation_of(id, "refund_alert");
	check_numbers(x, "refund_alert", 10 * DY, 2900, "card");
	assert_string_equal(esc_test_str(x, "text"),
			    "refund_alert of 10 days passed: the refund of 29.00 EUR was not "
			    "confirmed, the marketplace was alerted.");
	json_decref(x);

	/* response_window */
	order_new(&b, &s, id, true);
	step(b.tok, "/v1/orders/%s/cancel", id, "{\"reason\":\"no_longer_needed\"}", 200);
	o = order_get(id, b.tok);
	x = json_object_get(json_object_get(o, "deadline_rules"), "response");
	check_numbers(x, "response_window", 72 * H, 2900, "card");
	assert_string_equal(esc_test_str(x, "window"), "72 hours");
	assert_string_equal(esc_test_str(x, "text"),
			    "If the seller has not answered by then, the request is approved and "
			    "29.00 EUR goes back to the card.");
	json_decref(o);
	o = order_get(id, s.tok);
	assert_true(json_equal(action_rule(json_object_get(o, "actions"), "cancellation/accept"),
			       json_object_get(json_object_get(o, "deadline_rules"), "response")));
	json_decref(o);
	advance(73 * 3600, &b, &s);
	x = explanation_of(id, "response_window");
	check_numbers(x, "response_window", 72 * H, 2900, "card");
	refund_days(id, from, to);
	snprintf(want, sizeof want,
		 "response_window of 72 hours passed: the request was approved automatically, "
		 "29.00 EUR refunded to the card, expected %s to %s.",
		 from, to);
	assert_string_equal(esc_test_str(x, "text"), want);
	json_decref(x);

	/* protection_extra: 29.00 less the 5 % fee is released */
	order_new(&b, &s, id, true);
	step(s.tok, "/v1/orders/%s/ship", id,
	     "{\"carrier\":\"Posturinn\",\"tracking_number\":\"RR1IS\"}", 200);
	o = order_get(id, b.tok);
	x = json_object_get(json_object_get(o, "deadline_rules"), "protection");
	check_numbers(x, "protection_extra", 15 * DY, 2755, NULL);
	assert_string_equal(esc_test_str(x, "text"),
			    "If no dispute is open by then, the order completes and 27.55 EUR is "
			    "released to the seller.");
	json_decref(o);
	advance(76 * 86400, &b, &s);
	x = explanation_of(id, "protection_extra");
	check_numbers(x, "protection_extra", 15 * DY, 2755, NULL);
	assert_string_equal(esc_test_str(x, "text"),
			    "protection_extra of 15 days after the promised date passed: the order "
			    "completed, 27.55 EUR released to the seller.");
	json_decref(x);

	/* confirm_window */
	order_new(&b, &s, id, true);
	step(s.tok, "/v1/orders/%s/ship", id,
	     "{\"carrier\":\"Posturinn\",\"tracking_number\":\"RR2IS\"}", 200);
	step(XKEY, "/v1/orders/%s/deliver", id, "{}", 200);
	o = order_get(id, b.tok);
	x = json_object_get(json_object_get(o, "deadline_rules"), "confirm");
	check_numbers(x, "confirm_window", 15 * DY, 2755, NULL);
	json_decref(o);
	advance(16 * 86400, &b, &s);
	x = explanation_of(id, "confirm_window");
	check_numbers(x, "confirm_window", 15 * DY, 2755, NULL);
	assert_string_equal(esc_test_str(x, "text"),
			    "confirm_window of 15 days after delivery passed: the order completed, "
			    "27.55 EUR released to the seller.");
	json_decref(x);

	/* dispute_after_completion: the completed order's dispute action,
	 * from its end; nothing fires then, the action goes. */
	for (int lang = 0; lang < 2; lang++) {
		esc_test_header = lang ? "Accept-Language: is" : NULL;
		o = order_get(id, b.tok);
		assert_string_equal(esc_test_str(o, "status"), "completed");
		x = action_rule(json_object_get(o, "actions"), "disputes");
		check_numbers(x, "dispute_after_completion", 15 * DY, -1, NULL);
		assert_true(
			json_equal(json_object_get(x, "since"), json_object_get(o, "ended_at")));
		assert_true(
			json_equal(json_object_get(x, "due"),
				   json_object_get(json_array_get(json_object_get(o, "actions"), 0),
						   "deadline")));
		assert_string_equal(esc_test_str(x, "window"), lang ? "15 daga" : "15 days");
		assert_string_equal(
			esc_test_str(x, "text"),
			lang ? "Eftir það er ekki hægt að opna ágreiningsmál um hana og "
			       "það sem var greitt seljandanum er hans."
			     : "After that, no dispute can be opened on it, and what was "
			       "released stays with the seller.");
		json_decref(o);
	}
	explain_stop();
}

/* A shipped order with a dispute opened for outcome and 29.00 EUR; its
 * dispute's id into dsp. */
static void disputed(const struct who *b, const struct who *s, const char *outcome, char id[64],
		     char dsp[64])
{
	char path[200], body[300];
	order_new(b, s, id, true);
	step(s->tok, "/v1/orders/%s/ship", id,
	     "{\"carrier\":\"Posturinn\",\"tracking_number\":\"RR3IS\"}", 200);
	snprintf(path, sizeof path, "/v1/orders/%s/disputes", id);
	snprintf(body, sizeof body,
		 "{\"ground\":\"not_as_described\",\"outcome\":\"%s\",\"amount\":2900,"
		 "\"description\":\"The handle came off\"}",
		 outcome);
	json_t *j = esc_test_must(X.port, "POST", path, b->tok, body, 201);
	snprintf(dsp, 64, "%s", esc_test_str(j, "id"));
	json_decref(j);
}

/* The dispute's deadline, as the order shows it, names rule. */
static json_t *dispute_rule(const char *id, const char *token, const char *rule)
{
	json_t *o = order_get(id, token);
	json_t *x = json_object_get(json_object_get(o, "deadline_rules"), "dispute");
	assert_string_equal(esc_test_str(x, "rule"), rule);
	assert_true(json_equal(json_object_get(json_object_get(o, "dispute"), "deadline_rule"), x));
	json_incref(x);
	json_decref(o);
	return x;
}

/* A step of a case: who sends what where ({dsp}: the dispute's id). */
struct dispute_step {
	bool seller;
	const char *path, *body;
};

/* The dispute's windows: the seller's answer, the buyer's answer to an
 * offer or a rejection, the return's shipment and its receipt. Each case
 * opens a dispute for outcome, takes its steps, checks the rule its
 * deadline names and what it says, lets it pass and checks the event's
 * explanation: amount -1 when nothing moves back (no method then). */
static void test_http_dispute_deadlines_explained(void **state)
{
	static const struct {
		const char *outcome;
		struct dispute_step steps[2];
		const char *rule;
		int64_t window_ms, advance_s;
		json_int_t amount;
		const char *passes, *passed;
	} cases[] = {
		{"refund_only",
		 {{0}},
		 "dispute_seller_window",
		 5 * DY,
		 6 * 86400,
		 2900,
		 "If the seller has not answered by then, the dispute is resolved for the buyer "
		 "as asked: 29.00 EUR back.",
		 "dispute_seller_window of 5 days passed: the dispute was resolved for the buyer, "
		 "29.00 EUR refunded."},
		{"refund_only",
		 {{true, "/v1/disputes/%s/counter-offer",
		   "{\"amount\":1000,\"message\":\"Half of it\"}"}},
		 "dispute_buyer_window",
		 5 * DY,
		 6 * 86400,
		 1000,
		 NULL,
		 "dispute_buyer_window of 5 days passed: the seller's offer was accepted, 10.00 "
		 "EUR "
		 "refunded."},
		/* Resolved for the seller: nothing moves back; the seller's
		 * money is released. */
		{"refund_only",
		 {{true, "/v1/disputes/%s/reject", "{\"message\":\"It was fine\"}"}},
		 "dispute_escalate_window",
		 5 * DY,
		 6 * 86400,
		 -1,
		 NULL,
		 "dispute_escalate_window of 5 days after the rejection passed: the dispute was "
		 "resolved for the seller."},
		/* The goods never went back. */
		{"return_and_refund",
		 {{true, "/v1/disputes/%s/accept", "{}"}},
		 "return_ship_window",
		 10 * DY,
		 11 * 86400,
		 -1,
		 NULL,
		 "return_ship_window of 10 days passed: the goods were not shipped back, the "
		 "dispute was resolved for the seller."},
		/* Taken as received, refunded. */
		{"return_and_refund",
		 {{true, "/v1/disputes/%s/accept", "{}"},
		  {false, "/v1/disputes/%s/return-shipment",
		   "{\"carrier\":\"Posturinn\",\"tracking_number\":\"RR4IS\"}"}},
		 "return_receive_window",
		 10 * DY,
		 11 * 86400,
		 2900,
		 NULL,
		 "return_receive_window of 10 days passed: receipt was taken as confirmed, 29.00 "
		 "EUR refunded."},
	};
	(void)state;
	struct who b, s;
	char id[64], dsp[64], path[200];
	explain_start();
	user_new(&s, "seller");
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		const char *method = cases[c].amount < 0 ? NULL : "card";
		user_new(&b, "buyer");
		disputed(&b, &s, cases[c].outcome, id, dsp);
		for (size_t i = 0; i < 2 && cases[c].steps[i].path; i++) {
			snprintf(path, sizeof path, cases[c].steps[i].path, dsp);
			json_decref(esc_test_must(X.port, "POST", path,
						  cases[c].steps[i].seller ? s.tok : b.tok,
						  cases[c].steps[i].body, 200));
		}
		json_t *x = dispute_rule(id, b.tok, cases[c].rule);
		if (cases[c].amount < 0)
			assert_int_equal(json_integer_value(json_object_get(x, "window_ms")),
					 cases[c].window_ms);
		else
			check_numbers(x, cases[c].rule, cases[c].window_ms, cases[c].amount,
				      method);
		if (cases[c].passes)
			assert_string_equal(esc_test_str(x, "text"), cases[c].passes);
		json_decref(x);
		advance(cases[c].advance_s, &b, &s);
		x = explanation_of(id, cases[c].rule);
		if (cases[c].amount < 0)
			assert_int_equal(json_integer_value(json_object_get(x, "window_ms")),
					 cases[c].window_ms);
		else
			check_numbers(x, cases[c].rule, cases[c].window_ms, cases[c].amount,
				      method);
		assert_string_equal(esc_test_str(x, "text"), cases[c].passed);
		json_decref(x);
	}
	explain_stop();
}

/* ---- the cancellation preview (issue 16 item 3) ---- */

/* Every row of every table of the SQLite store, as text, into *out
 * (malloc'd; *len its size); false on PostgreSQL. Two tables are left
 * out: the daemon's own liveness (processes: the workers renew their lease
 * on the real clock every few seconds) and the events the webhook fanout
 * has not passed yet (fanout_pending), which background workers write
 * whatever the requests do. Everything a request could write is in. */
static bool store_rows(char **out, size_t *len)
{
	sqlite3 *db;
	sqlite3_stmt *tables, *st;
	char sql[300];
	*out = NULL;
	*len = 0;
	if (!strncmp(X.db, "postgresql://", 13))
		return false;
	FILE *f = open_memstream(out, len);
	assert_non_null(f);
	assert_int_equal(sqlite3_open_v2(X.db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT name FROM sqlite_master WHERE type = 'table' "
					    "AND name NOT IN ('processes', 'fanout_pending') "
					    "ORDER BY name",
					    -1, &tables, NULL),
			 SQLITE_OK);
	while (sqlite3_step(tables) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(tables, 0);
		snprintf(sql, sizeof sql, "SELECT * FROM \"%s\"", t);
		assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
		fprintf(f, "table %s\n", t);
		while (sqlite3_step(st) == SQLITE_ROW) {
			for (int c = 0; c < sqlite3_column_count(st); c++) {
				const void *v = sqlite3_column_blob(st, c);
				int n = sqlite3_column_bytes(st, c);
				fprintf(f, "%d:%d:", sqlite3_column_type(st, c), n);
				if (n)
					fwrite(v, 1, (size_t)n, f);
				fputc('|', f);
			}
			fputc('\n', f);
		}
		sqlite3_finalize(st);
	}
	sqlite3_finalize(tables);
	sqlite3_close(db);
	fclose(f);
	return true;
}

/* What the store shows of the order and the ledger: its history, the
 * events, the ledger's check. The caller's. */
static json_t *what_shows(const char *id)
{
	char path[200];
	json_t *j = json_object();
	snprintf(path, sizeof path, "/v1/orders/%s/events", id);
	json_object_set_new(j, "history", esc_test_must(X.port, "GET", path, XKEY, NULL, 200));
	snprintf(path, sizeof path, "/v1/events?limit=100&order_id=%s", id);
	json_object_set_new(j, "events", esc_test_must(X.port, "GET", path, XKEY, NULL, 200));
	json_object_set_new(j, "check",
			    esc_test_must(X.port, "GET", "/v1/ledger/check", XKEY, NULL, 200));
	json_object_set_new(j, "order", order_get(id, XKEY));
	return j;
}

static json_t *preview(const char *id, const char *token, const char *body, long status)
{
	char path[200];
	snprintf(path, sizeof path, "/v1/orders/%s/cancel", id);
	return esc_test_must(X.port, "POST", path, token, body, status);
}

static void test_http_cancel_preview(void **state)
{
	(void)state;
	struct who b, s;
	char id[64], unpaid[64], from[16], to[16], *bytes0, *bytes1;
	size_t len0, len1;
	explain_start();
	user_new(&b, "buyer");
	user_new(&s, "seller");
	order_new(&b, &s, unpaid, false);
	order_new(&b, &s, id, true);

	json_t *before = what_shows(id);
	bool sqlite = store_rows(&bytes0, &len0);

	/* A paid order: a request to the seller, who has 72 hours; if
	 * accepted (or not answered) 29.00 EUR goes back to the card. */
	esc_test_header = "Idempotency-Key: preview-key-1";
	json_t *p = preview(id, b.tok, "{\"reason\":\"no_longer_needed\",\"preview\":true}", 200);
	assert_true(json_is_true(json_object_get(p, "preview")));
	assert_string_equal(esc_test_str(p, "status"), "cancellation_requested");
	assert_false(json_is_true(json_object_get(p, "immediate")));
	json_t *r = json_object_get(p, "refund");
	assert_int_equal(json_integer_value(json_object_get(r, "amount")), 2900);
	assert_string_equal(esc_test_str(r, "currency"), "EUR");
	assert_string_equal(esc_test_str(r, "method"), "card");
	json_t *me = esc_test_must(X.port, "GET", "/v1/me", b.tok, NULL, 200);
	int64_t now = ms_of(me, "now");
	json_decref(me);
	day_of(now + 3 * 86400000LL, from);
	day_of(now + 7 * 86400000LL, to);
	assert_string_equal(esc_test_str(r, "expected_from"), from);
	assert_string_equal(esc_test_str(r, "expected_to"), to);
	assert_string_equal(esc_test_str(p, "fault"), "buyer");
	assert_int_equal(ms_of(p, "response_deadline"), now + 72 * H);
	json_t *x = json_object_get(p, "response_rule");
	check_numbers(x, "response_window", 72 * H, 2900, "card");
	assert_string_equal(esc_test_str(x, "text"),
			    "If the seller has not answered by then, the request is approved and "
			    "29.00 EUR goes back to the card.");
	assert_string_equal(esc_test_str(p, "policy_version"), "pol_1");
	assert_string_equal(esc_test_str(p, "buyer_level"), "good");
	assert_string_equal(esc_test_str(p, "buyer_level_after"), "good");
	json_t *budget = json_object_get(p, "cancellation_budget_after");
	assert_int_equal(json_integer_value(json_object_get(budget, "cancellations_left")), 1);
	assert_int_equal(ms_of(budget, "oldest_leaves_30_days_at"), now + 30 * DY);
	json_decref(p);

	/* A seller-fault reason counts against the seller's score; the
	 * buyer's budget counts every cancellation after payment (SPEC §6),
	 * as the core marks it. In Icelandic when asked. */
	esc_test_header = "Accept-Language: is";
	p = preview(id, b.tok, "{\"reason\":\"seller_asked\",\"preview\":true}", 200);
	assert_string_equal(esc_test_str(p, "fault"), "seller");
	budget = json_object_get(p, "cancellation_budget_after");
	assert_int_equal(json_integer_value(json_object_get(budget, "cancellations_left")), 1);
	assert_non_null(strstr(esc_test_str(json_object_get(p, "response_rule"), "text"),
			       "29,00 EUR fer aftur á kortið"));
	json_decref(p);

	/* Refused as the command would be: no reason, another's order, an
	 * unknown reason, a stale If-Match; preview must be a boolean. */
	json_decref(preview(id, b.tok, "{\"preview\":true}", 400));
	json_decref(preview(id, s.tok, "{\"reason\":\"no_longer_needed\",\"preview\":true}", 403));
	json_decref(preview(id, b.tok, "{\"reason\":\"nope\",\"preview\":true}", 400));
	json_decref(preview(id, b.tok, "{\"reason\":\"no_longer_needed\",\"preview\":1}", 400));
	esc_test_header = "If-Match: 1";
	json_decref(preview(id, b.tok, "{\"reason\":\"no_longer_needed\",\"preview\":true}", 412));

	/* Unpaid: cancelled at once, nothing to refund. */
	p = preview(unpaid, b.tok, "{\"preview\":true}", 200);
	assert_string_equal(esc_test_str(p, "status"), "cancelled");
	assert_true(json_is_true(json_object_get(p, "immediate")));
	assert_true(json_is_null(json_object_get(p, "refund")));
	assert_true(json_is_null(json_object_get(p, "response_rule")));
	assert_true(json_is_null(json_object_get(p, "response_deadline")));
	json_decref(p);

	/* Nothing was written: every row of the store, the history, the
	 * events, the ledger and the order. */
	json_t *after = what_shows(id);
	assert_true(json_equal(before, after));
	json_decref(after);
	if (sqlite) {
		assert_true(store_rows(&bytes1, &len1));
		assert_int_equal(len0, len1);
		assert_memory_equal(bytes0, bytes1, len0);
		free(bytes1);
	}
	json_decref(before);

	/* The preview kept no answer for its Idempotency-Key: the command
	 * with the same key and another body runs, and the rows show it. */
	esc_test_header = "Idempotency-Key: preview-key-1";
	p = preview(id, b.tok, "{\"reason\":\"no_longer_needed\"}", 200);
	assert_string_equal(esc_test_str(p, "status"), "cancellation_requested");
	json_decref(p);
	if (sqlite) {
		assert_true(store_rows(&bytes1, &len1));
		assert_true(len0 != len1 || memcmp(bytes0, bytes1, len0));
		free(bytes1);
	}
	free(bytes0);
	explain_stop();
}

/* ---- the rules without a deadline fire with their numbers (issue 16) ---- */

/* The reputation of w, as the operator (or token) reads it. The caller's. */
static json_t *reputation_of(const struct who *w, const char *token)
{
	char path[160];
	snprintf(path, sizeof path, "/v1/users/%s/reputation", w->id);
	return esc_test_must(X.port, "GET", path, token ? token : XKEY, NULL, 200);
}

/* A paid order of b's with s, cancelled at b's request for reason and
 * accepted by s: one cancellation after payment. */
static void cancelled(const struct who *b, const struct who *s, const char *reason)
{
	char id[64], body[100];
	order_new(b, s, id, true);
	snprintf(body, sizeof body, "{\"reason\":\"%s\"}", reason);
	step(b->tok, "/v1/orders/%s/cancel", id, body, 200);
	step(s->tok, "/v1/orders/%s/cancellation/accept", id, "{}", 200);
}

/* x (a RuleExplanation) names rule under the policy pol_N of version,
 * with count and threshold (-1: not there) over window_ms (0: none). */
static void check_rule(json_t *x, const char *rule, const char *version, json_int_t count,
		       json_int_t threshold, int64_t window_ms)
{
	if (!json_is_object(x))
		fail_msg("no explanation of %s", rule);
	assert_string_equal(esc_test_str(x, "rule"), rule);
	assert_string_equal(esc_test_str(x, "policy_version"), version);
	if (count < 0)
		assert_null(json_object_get(x, "count"));
	else
		assert_int_equal(json_integer_value(json_object_get(x, "count")), count);
	if (threshold < 0)
		assert_null(json_object_get(x, "threshold"));
	else
		assert_int_equal(json_integer_value(json_object_get(x, "threshold")), threshold);
	if (window_ms)
		assert_int_equal(json_integer_value(json_object_get(x, "window_ms")), window_ms);
	else
		assert_null(json_object_get(x, "window_ms"));
	assert_null(strchr(esc_test_str(x, "text"), '{'));
}

/* Each buyer level by its own rule, a seller's score, and the refusals a
 * rule makes, under a small policy so that few orders reach them. */
static const char *const SMALL =
	"watch_cancellations = 1\nrestricted_cancellations = 2\nsuspended_cancellations = 3\n"
	"suspended_lost_disputes = 1\nrestricted_rate = 30%\nrestricted_rate_min_paid = 2\n"
	"cancel_requests_max = 1\nseller_min_orders = 1\n"
	"carrier.ups = ups_1z 1Z[0-9A-Z]{16}\n";

static void test_http_levels_and_refusals_explained(void **state)
{
	(void)state;
	struct who s, lost, watch, restricted, suspended, rate, good, sx, bq;
	char id[64], dsp[64], path[200];
	explain_start_with(SMALL);
	user_new(&s, "seller");

	/* suspended_lost_disputes: a dispute the seller rejected and the buyer
	 * did not escalate is lost; one suspends under this policy. */
	user_new(&lost, "buyer");
	disputed(&lost, &s, "refund_only", id, dsp);
	snprintf(path, sizeof path, "/v1/disputes/%s/reject", dsp);
	json_decref(esc_test_must(X.port, "POST", path, s.tok, "{\"message\":\"Fine\"}", 200));
	advance(6 * 86400, &lost, &s);

	user_new(&watch, "buyer");
	cancelled(&watch, &s, "no_longer_needed");
	user_new(&restricted, "buyer");
	for (int i = 0; i < 2; i++)
		cancelled(&restricted, &s, "no_longer_needed");
	user_new(&suspended, "buyer");
	for (int i = 0; i < 3; i++)
		cancelled(&suspended, &s, "no_longer_needed");
	/* restricted_rate: one of two paid orders cancelled, 50 % over 30 %,
	 * with one cancellation, under restricted_cancellations' 2. */
	user_new(&rate, "buyer");
	order_new(&rate, &s, id, true);
	cancelled(&rate, &s, "no_longer_needed");

	const struct {
		struct who *w;
		const char *level, *rule;
		json_int_t count, threshold;
		int64_t window_ms;
		const char *text;
	} levels[] = {
		{&watch, "watch", "watch_cancellations", 1, 1, 30 * DY,
		 "watch_cancellations: 1 cancellation in 30 days, 1 or more: the buyer is "
		 "watched."},
		{&restricted, "restricted", "restricted_cancellations", 2, 2, 30 * DY,
		 "restricted_cancellations: 2 cancellations in 30 days, 2 or more: the buyer is "
		 "restricted."},
		{&rate, "restricted", "restricted_rate", 2, 30, 90 * DY,
		 "restricted_rate: 50% of 2 paid orders cancelled in 90 days, over 30%: the buyer "
		 "is restricted."},
		{&suspended, "suspended", "suspended_cancellations", 3, 3, 90 * DY,
		 "suspended_cancellations: 3 cancellations in 90 days, 3 or more: the buyer is "
		 "suspended."},
		{&lost, "suspended", "suspended_lost_disputes", 1, 1, 90 * DY,
		 "suspended_lost_disputes: 1 dispute lost in 90 days, 1 or more: the buyer is "
		 "suspended."},
	};
	for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
		json_t *r = reputation_of(levels[i].w, NULL);
		assert_string_equal(esc_test_str(r, "level"), levels[i].level);
		assert_string_equal(esc_test_str(r, "rule"), levels[i].rule);
		json_t *x = json_object_get(r, "explanation");
		check_rule(x, levels[i].rule, "pol_2", levels[i].count, levels[i].threshold,
			   levels[i].window_ms);
		assert_string_equal(esc_test_str(x, "text"), levels[i].text);
		json_decref(r);
	}
	json_t *r = reputation_of(&rate, NULL), *x = json_object_get(r, "explanation");
	assert_int_equal(json_integer_value(json_object_get(x, "percent")), 50);
	assert_int_equal(json_integer_value(json_object_get(x, "min_paid")), 2);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "counts"),
							    "cancellation_rate_percent")),
			 50);
	json_decref(r);
	/* To the buyer, in Icelandic when asked. */
	esc_test_header = "Accept-Language: is";
	r = reputation_of(&restricted, restricted.tok);
	assert_string_equal(esc_test_str(json_object_get(r, "explanation"), "text"),
			    "restricted_cancellations: 2 afturkallanir á 30 daga tímabili, 2 eða "
			    "fleiri: kaupandinn er takmarkaður.");
	assert_string_equal(esc_test_str(json_object_get(r, "explanation"), "window"), "30 daga");
	json_decref(r);

	/* cancel_requests_max: one request an order; the second is refused
	 * with the rule and its numbers. A good buyer's level says how far
	 * from watch it is. */
	user_new(&good, "buyer");
	order_new(&good, &s, id, true);
	step(good.tok, "/v1/orders/%s/cancel", id, "{\"reason\":\"no_longer_needed\"}", 200);
	step(s.tok, "/v1/orders/%s/cancellation/reject", id, "{\"message\":\"Sent already\"}", 200);
	snprintf(path, sizeof path, "/v1/orders/%s/cancel", id);
	json_t *e = esc_test_must(X.port, "POST", path, good.tok,
				  "{\"reason\":\"no_longer_needed\"}", 409);
	json_t *err = json_object_get(e, "error");
	assert_string_equal(esc_test_str(err, "code"), "limit_reached");
	x = json_object_get(err, "explanation");
	check_rule(x, "cancel_requests_max", "pol_2", 1, 1, 0);
	assert_string_equal(esc_test_str(x, "text"),
			    "cancel_requests_max of 1 reached: no more requests for this order.");
	json_decref(e);
	r = reputation_of(&good, good.tok);
	assert_string_equal(esc_test_str(r, "level"), "good");
	x = json_object_get(r, "explanation");
	check_rule(x, "watch_cancellations", "pol_2", 0, 1, 30 * DY);
	assert_string_equal(esc_test_str(x, "text"),
			    "0 of 1 cancellation in 30 days: the next ones make the account "
			    "watched.");
	json_decref(r);

	/* tracking_check = refuse (SPEC's): a 1Z number with a wrong check
	 * digit is refused, naming the rule, the carrier and its scheme. */
	snprintf(path, sizeof path, "/v1/orders/%s/ship", id);
	e = esc_test_must(X.port, "POST", path, s.tok,
			  "{\"carrier\":\"ups\",\"tracking_number\":\"1Z999AA10123456785\"}", 422);
	err = json_object_get(e, "error");
	assert_string_equal(esc_test_str(err, "code"), "invalid_tracking_number");
	x = json_object_get(err, "explanation");
	check_rule(x, "tracking_check", "pol_2", -1, -1, 0);
	assert_string_equal(esc_test_str(x, "carrier"), "ups");
	assert_string_equal(esc_test_str(x, "scheme"), "ups_1z");
	assert_string_equal(esc_test_str(x, "text"),
			    "tracking_check: the number failed the check of carrier ups (ups_1z).");
	json_decref(e);
	/* A refusal of no rule names none. */
	e = esc_test_must(X.port, "POST", path, s.tok, "{\"carrier\":\"ups\"}", 400);
	assert_null(json_object_get(json_object_get(e, "error"), "explanation"));
	json_decref(e);

	/* seller_score: a seller-fault cancellation (100 points) and a
	 * missed ship deadline (150) over three orders sold. */
	user_new(&sx, "seller");
	user_new(&bq, "buyer");
	cancelled(&bq, &sx, "seller_asked");
	order_new(&bq, &sx, id, true);
	order_new(&bq, &sx, id, true);
	step(sx.tok, "/v1/orders/%s/ship", id,
	     "{\"carrier\":\"Posturinn\",\"tracking_number\":\"RR9IS\"}", 200);
	advance(8 * 86400, &bq, &sx);
	r = reputation_of(&sx, NULL);
	json_t *counts = json_object_get(r, "counts");
	assert_int_equal(json_integer_value(json_object_get(counts, "orders_90_days")), 3);
	assert_int_equal(json_integer_value(json_object_get(counts, "seller_fault_cancellations")),
			 1);
	assert_int_equal(json_integer_value(json_object_get(counts, "missed_ship_deadlines")), 1);
	x = json_object_get(r, "explanation");
	check_rule(x, "seller_score", "pol_2", 2, -1, 90 * DY);
	json_t *w = json_object_get(x, "weights");
	json_int_t penalty = json_integer_value(json_object_get(w, "seller_fault_cancellations")) +
			     json_integer_value(json_object_get(w, "missed_ship_deadlines"));
	assert_int_equal(penalty, 250);
	assert_int_equal(json_integer_value(json_object_get(x, "min_orders")), 1);
	/* 100 less 250 points over 3 orders, rounded up: 84. */
	assert_int_equal(json_integer_value(json_object_get(x, "score")), 16);
	assert_int_equal(json_integer_value(json_object_get(r, "score")), 16);
	assert_string_equal(esc_test_str(x, "text"),
			    "seller_score: 16, from 2 faults over the orders of 90 days.");
	json_decref(r);
	explain_stop();
}

/* Evidence of a dispute: a few bytes of PNG, sent by token. */
static void evidence(const char *dsp, const char *token)
{
	static const char png[] = {(char)0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 'x', 'y'};
	char url[300], auth[200];
	struct curl_slist *h = NULL;
	long status = 0;
	CURL *c = curl_easy_init();
	assert_non_null(c);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/disputes/%s/evidence", X.port, dsp);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, png);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)sizeof png);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fwrite);
	FILE *sink = fopen("/dev/null", "w");
	curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
	snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
	h = curl_slist_append(h, auth);
	h = curl_slist_append(h, "Content-Type: image/png");
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	fclose(sink);
	assert_int_equal(status, 201);
}

/* The fee of the one event of order id that released money: in the feed
 * and the same in the order's history. The caller's. */
static json_t *fee_of(const char *id)
{
	char path[200];
	json_t *found = NULL, *ev;
	size_t i;
	snprintf(path, sizeof path, "/v1/events?limit=100&order_id=%s", id);
	json_t *feed = esc_test_must(X.port, "GET", path, XKEY, NULL, 200);
	json_array_foreach(json_object_get(feed, "data"), i, ev)
	{
		json_t *x = json_object_get(json_object_get(ev, "data"), "fee_explanation");
		if (x) {
			assert_null(found);
			found = json_incref(x);
		}
	}
	json_decref(feed);
	if (!found)
		fail_msg("no event of %s released money", id);
	snprintf(path, sizeof path, "/v1/orders/%s/events", id);
	json_t *history = esc_test_must(X.port, "GET", path, XKEY, NULL, 200), *h;
	bool same = false;
	json_array_foreach(json_object_get(history, "data"), i, h)
	{
		json_t *x = json_object_get(json_object_get(h, "detail"), "fee_explanation");
		same = same || (x && json_equal(x, found));
	}
	json_decref(history);
	assert_true(same);
	return found;
}

static void check_fee(json_t *x, json_int_t fee, json_int_t released, const char *text)
{
	check_rule(x, "fee", "pol_2", -1, -1, 0);
	assert_true(json_number_value(json_object_get(x, "percent")) == 5.0);
	assert_int_equal(json_integer_value(json_object_get(x, "amount")), fee);
	assert_int_equal(json_integer_value(json_object_get(x, "released")), released);
	assert_string_equal(esc_test_str(x, "currency"), "EUR");
	assert_string_equal(esc_test_str(x, "text"), text);
}

/* The arbiter's view of dispute dsp: its recommendation's rules are, in
 * order, rules[] with weights[]; it advises refund. */
static void check_recommendation(const char *dsp, const char *arbiter, json_int_t refund,
				 const char *const *rules, const int *weights, size_t n,
				 const char *first_text)
{
	char path[160];
	snprintf(path, sizeof path, "/v1/disputes/%s", dsp);
	json_t *d = esc_test_must(X.port, "GET", path, arbiter, NULL, 200);
	json_t *rec = json_object_get(d, "recommendation"), *list = json_object_get(rec, "rules");
	assert_int_equal(json_integer_value(json_object_get(rec, "refund_amount")), refund);
	if (json_array_size(list) != n)
		fail_msg("dispute %s: %s", dsp, json_dumps(rec, 0));
	for (size_t i = 0; i < n; i++) {
		json_t *r = json_array_get(list, i);
		assert_string_equal(esc_test_str(r, "rule"), rules[i]);
		assert_int_equal(json_integer_value(json_object_get(r, "weight_percent")),
				 weights[i]);
		/* A rule of the catalogue, its sentence with the weight. */
		assert_true(esc_rule_parse(rules[i]) >= 0);
		assert_int_equal(strncmp(esc_test_str(r, "text"), rules[i], strlen(rules[i])), 0);
		assert_null(strchr(esc_test_str(r, "text"), '{'));
	}
	assert_string_equal(esc_test_str(json_array_get(list, 0), "text"), first_text);
	json_decref(d);
}

/* An escalated dispute of b's with s: ground, outcome refund_only, 29.00
 * EUR; evidence from each (buyer, seller) when asked; offer (0: none) or a
 * rejection before the buyer escalates. On a shipped order of ship's
 * carrier and number. */
static void escalated(const struct who *b, const struct who *s, const char *ground,
		      const char *ship, bool buyer_files, bool seller_files, int offer, char id[64],
		      char dsp[64])
{
	char path[200], body[300];
	order_new(b, s, id, true);
	step(s->tok, "/v1/orders/%s/ship", id, ship, 200);
	snprintf(path, sizeof path, "/v1/orders/%s/disputes", id);
	snprintf(body, sizeof body,
		 "{\"ground\":\"%s\",\"outcome\":\"refund_only\",\"amount\":2900,"
		 "\"description\":\"Not what I paid for\"}",
		 ground);
	json_t *j = esc_test_must(X.port, "POST", path, b->tok, body, 201);
	snprintf(dsp, 64, "%s", esc_test_str(j, "id"));
	json_decref(j);
	if (buyer_files)
		evidence(dsp, b->tok);
	if (seller_files)
		evidence(dsp, s->tok);
	if (offer) {
		snprintf(path, sizeof path, "/v1/disputes/%s/counter-offer", dsp);
		snprintf(body, sizeof body, "{\"amount\":%d,\"message\":\"Some of it\"}", offer);
	} else {
		snprintf(path, sizeof path, "/v1/disputes/%s/reject", dsp);
		snprintf(body, sizeof body, "{\"message\":\"It was fine\"}");
	}
	json_decref(esc_test_must(X.port, "POST", path, s->tok, body, 200));
	snprintf(path, sizeof path, "/v1/disputes/%s/escalate", dsp);
	json_decref(esc_test_must(X.port, "POST", path, b->tok, "{}", 200));
}

/* The fee on every release (a confirmed receipt, a dispute decided in
 * part, the confirm window passing), a number taken and flagged, and the
 * arbiter's recommendation naming each rule it applied with its weight. */
static void test_http_fee_flag_and_recommendation_explained(void **state)
{
	(void)state;
	struct who b, restricted, s, poor, s3, arbiter;
	char id[64], dsp[64], flagged[64], flagged_dsp[64], path[200];
	static const char *const ups_bad =
		"{\"carrier\":\"ups\",\"tracking_number\":\"1Z999AA10123456785\"}";
	static const char *const posturinn =
		"{\"carrier\":\"Posturinn\",\"tracking_number\":\"RR5IS\"}";
	explain_start_with("carrier.ups = ups_1z 1Z[0-9A-Z]{16}\ntracking_check = flag\n"
			   "restricted_cancellations = 1\nwatch_cancellations = 1\n"
			   "seller_min_orders = 1\n");
	user_new(&b, "buyer");
	user_new(&s, "seller");
	user_new(&poor, "seller");
	user_new(&s3, "seller");
	user_new(&arbiter, "arbiter");

	/* fee: the buyer confirms receipt; 5 % of 29.00 is kept. */
	order_new(&b, &s, id, true);
	step(s.tok, "/v1/orders/%s/ship", id, posturinn, 200);
	step(XKEY, "/v1/orders/%s/deliver", id, "{}", 200);
	step(b.tok, "/v1/orders/%s/confirm-receipt", id, "{}", 200);
	json_t *x = fee_of(id);
	check_fee(x, 145, 2755,
		  "fee of 5%: 1.45 EUR kept when the money was released, 27.55 EUR paid to the "
		  "seller.");
	json_decref(x);

	/* tracking_check = flag: the number is taken, the shipment names
	 * the rule; the invalid_tracking dispute opens at once. The carrier
	 * never reported delivery: all of it (recommend_delivery). */
	escalated(&b, &poor, "invalid_tracking", ups_bad, false, false, 0, flagged, flagged_dsp);
	json_t *o = order_get(flagged, b.tok);
	json_t *ship = json_object_get(o, "shipment");
	assert_string_equal(esc_test_str(ship, "tracking_check"), "invalid_check_digit");
	x = json_object_get(ship, "tracking_rule");
	check_rule(x, "tracking_check", "pol_2", -1, -1, 0);
	assert_string_equal(esc_test_str(x, "carrier"), "ups");
	assert_string_equal(esc_test_str(x, "scheme"), "ups_1z");
	assert_string_equal(esc_test_str(x, "text"),
			    "tracking_check: the number failed the check of carrier ups (ups_1z).");
	json_decref(o);

	/* The ship command's answer in Icelandic names the rule in
	 * Icelandic, as GET does: not the event's English view. A seller of
	 * its own: the flagged number counts against them. */
	struct who shipper;
	user_new(&shipper, "seller");
	order_new(&b, &shipper, id, true);
	snprintf(path, sizeof path, "/v1/orders/%s/ship", id);
	esc_test_header = "Accept-Language: is";
	o = esc_test_must(X.port, "POST", path, shipper.tok, ups_bad, 200);
	esc_test_header = "Accept-Language: is";
	json_t *read = order_get(id, shipper.tok);
	x = json_object_get(json_object_get(o, "shipment"), "tracking_rule");
	assert_non_null(strstr(esc_test_str(x, "text"), "flutningsaðilans"));
	assert_true(json_equal(o, read));
	json_decref(read);
	json_decref(o);
	check_recommendation(flagged_dsp, arbiter.tok, 2900,
			     (const char *const[]){"recommend_delivery"}, (const int[]){100}, 1,
			     "recommend_delivery: 100% of the amount asked, by the carrier's "
			     "delivery report.");

	/* Both gave evidence: half; the seller's score is under 60 (the
	 * flagged number: 200 points over 2 orders), so all of it. */
	escalated(&b, &poor, "not_as_described", posturinn, true, true, 0, id, dsp);
	check_recommendation(dsp, arbiter.tok, 2900,
			     (const char *const[]){"recommend_evidence", "recommend_seller_score"},
			     (const int[]){50, 200}, 2,
			     "recommend_evidence: 50% of the amount asked, by the evidence given.");

	/* A restricted buyer (one cancellation under this policy) with only
	 * their own evidence: all of it, halved. */
	user_new(&restricted, "buyer");
	cancelled(&restricted, &s3, "no_longer_needed");
	escalated(&restricted, &s3, "not_as_described", posturinn, true, false, 0, id, dsp);
	check_recommendation(
		dsp, arbiter.tok, 1450,
		(const char *const[]){"recommend_evidence", "recommend_buyer_level"},
		(const int[]){100, 50}, 2,
		"recommend_evidence: 100% of the amount asked, by the evidence given.");

	/* No evidence: nothing, but the seller offered 10.00 of 29.00. */
	escalated(&b, &s3, "not_as_described", posturinn, false, false, 1000, id, dsp);
	check_recommendation(dsp, arbiter.tok, 1000,
			     (const char *const[]){"recommend_evidence", "recommend_offer_floor"},
			     (const int[]){0, 34}, 2,
			     "recommend_evidence: 0% of the amount asked, by the evidence given.");

	/* fee: the arbiter decides 10.00 back; 5 % of the 19.00 released. */
	snprintf(path, sizeof path, "/v1/disputes/%s/decide", dsp);
	json_decref(esc_test_must(X.port, "POST", path, arbiter.tok,
				  "{\"refund_amount\":1000,\"reason\":\"As offered\"}", 200));
	x = fee_of(id);
	check_fee(x, 95, 1805,
		  "fee of 5%: 0.95 EUR kept when the money was released, 18.05 EUR paid to the "
		  "seller.");
	json_decref(x);

	/* fee: the confirm window passes; the event explains both rules. */
	order_new(&b, &s, id, true);
	step(s.tok, "/v1/orders/%s/ship", id, posturinn, 200);
	step(XKEY, "/v1/orders/%s/deliver", id, "{}", 200);
	advance(16 * 86400, &b, &s);
	x = explanation_of(id, "confirm_window");
	assert_int_equal(json_integer_value(json_object_get(x, "amount")), 2755);
	json_decref(x);
	x = fee_of(id);
	check_fee(x, 145, 2755,
		  "fee of 5%: 1.45 EUR kept when the money was released, 27.55 EUR paid to the "
		  "seller.");
	json_decref(x);
	explain_stop();
}

int main(void)
{
	esc_test_store_or_skip("rules");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_rule_is_whole_in_both_languages),
		cmocka_unit_test(test_deadlines_name_their_rule),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_window_and_says),
		cmocka_unit_test(test_http_rules),
		cmocka_unit_test(test_http_dispute_grounds),
		cmocka_unit_test(test_http_cancel_budget),
		cmocka_unit_test(test_http_order_deadlines_explained),
		cmocka_unit_test(test_http_dispute_deadlines_explained),
		cmocka_unit_test(test_http_cancel_preview),
		cmocka_unit_test(test_http_levels_and_refusals_explained),
		cmocka_unit_test(test_http_fee_flag_and_recommendation_explained),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
