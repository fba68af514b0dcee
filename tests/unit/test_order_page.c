/* test_order_page.c - what the API gives the order page of issue 17 item
 * 2. The configuration: carrier.NAME.tracking_url templates (core), and
 * http.image_origins, whose bad values keep the daemon from starting. And
 * over HTTP, against the real daemon on each store: an item's image_url
 * taken under an allowed origin and refused (naming the item and the
 * origins) with 400 under another or with none configured; the origins in the
 * Content-Security-Policy's img-src; a shipment's tracking_url from its
 * carrier's template, the number percent-encoded, null for a carrier
 * without one. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <stdlib.h>

#include "core/policy.h"
#include "core/tracking.h"
#include "http/server.h"
#include "support.h"
#include "util/error.h"
#include "util/strbuf.h"
#include <strings.h>
#include <sys/wait.h>

/* ---- the configuration ---- */

static void test_tracking_url_lines(void **state)
{
	(void)state;
	struct esc_policy p;
	char err[300] = "", link[ESC_TRACKING_LINK_SIZE];
	esc_policy_default(&p);
	assert_int_equal(
		esc_policy_parse(&p,
				 "carrier.dhl.tracking_url = https://www.dhl.com/track?id={tracking_number}\n"
				 "carrier.ups = ups_1z 1Z[0-9A-Z]{16}\n"
				 "carrier.ups.tracking_url = https://ups.example/t/{tracking_number}/x\n"
				 "carrier.dhl.tracking_url = https://dhl.example/?n={tracking_number}&l=en\n",
				 err, sizeof err),
		0);
	/* A carrier without a check may have a page; a later line replaces. */
	assert_int_equal(p.tracking_urls_count, 2);
	assert_int_equal(p.carriers_count, 1);
	const struct esc_tracking_url *u =
		esc_tracking_url_find(p.tracking_urls, p.tracking_urls_count, "DHL");
	assert_non_null(u);
	esc_tracking_url_fill(u, "JJD0001", link, sizeof link);
	assert_string_equal(link, "https://dhl.example/?n=JJD0001&l=en");
	/* What a URL cannot hold as it is goes percent-encoded. */
	esc_tracking_url_fill(u, "A B/&?#%", link, sizeof link);
	assert_string_equal(link, "https://dhl.example/?n=A%20B%2F%26%3F%23%25&l=en");
	assert_null(esc_tracking_url_find(p.tracking_urls, p.tracking_urls_count, "gls"));

	/* Not a rule: no part of a policy version's text. */
	struct esc_strbuf sb;
	esc_strbuf_init(&sb, 1 << 20);
	assert_int_equal(esc_policy_format(&p, &sb), 0);
	assert_null(strstr(sb.buf, "tracking_url"));
	esc_strbuf_release(&sb);
}

static void test_bad_tracking_urls_say_why(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"carrier.dhl.tracking_url = http://www.dhl.com/track?id={tracking_number}\n",
		"carrier.dhl.tracking_url = https://www.dhl.com/track\n",
		"carrier.dhl.tracking_url = https://x/{tracking_number}/{tracking_number}\n",
		"carrier.dhl.tracking_url = https://x/{tracking_number} y\n",
		"carrier.dhl.tracking_url = https://x/\"{tracking_number}\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct esc_policy p;
		char err[300] = "";
		esc_policy_default(&p);
		assert_int_equal(esc_policy_parse(&p, bad[i], err, sizeof err), ESC_EINVAL);
		if (!strstr(err, "line 1: carrier.dhl.tracking_url must be an https:// URL"))
			fail_msg("%s: said \"%s\"", bad[i], err);
		assert_int_equal(p.tracking_urls_count, 0);
	}
	struct esc_policy p;
	char err[300] = "";
	esc_policy_default(&p);
	assert_int_equal(esc_policy_parse(&p, "carrier.D H L.tracking_url = https://x/{tracking_number}\n",
					  err, sizeof err),
			 ESC_EINVAL);
	assert_non_null(strstr(err, "a-z, 0-9, _ and -"));
}

static void test_image_origins(void **state)
{
	(void)state;
	struct esc_http_options o;
	char err[300] = "";
	esc_http_options_default(&o);
	assert_string_equal(o.image_origins, "");
	assert_int_equal(esc_http_option_set(&o, "image_origins",
					     "https://img.example.com  https://cdn.example.com:8443 "
					     "http://127.0.0.1:8000 http://localhost https://[2001:db8::1]",
					     err, sizeof err),
			 0);
	assert_string_equal(o.image_origins, " https://img.example.com https://cdn.example.com:8443 "
					     "http://127.0.0.1:8000 http://localhost https://[2001:db8::1]");
	static const char *const bad[] = {
		"https://img.example.com/",      /* a path */
		"http://img.example.com",        /* http beyond loopback */
		"img.example.com",               /* no scheme */
		"https://img.example.com:0",     /* no such port */
		"https://img.example.com:70000", /* nor this */
		"https://",                      /* no host */
		"https://.example.com",          /* nor this */
		"ftp://img.example.com",
		"https://img.example.com?x=1",
		"'self'",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		assert_int_equal(esc_http_option_set(&o, "image_origins", bad[i], err, sizeof err),
				 ESC_EINVAL);
		if (!strstr(err, "http.image_origins: '") || !strstr(err, "is not an origin like"))
			fail_msg("%s: said \"%s\"", bad[i], err);
	}
	/* What was kept before stays. */
	assert_non_null(strstr(o.image_origins, "https://img.example.com"));
	err[0] = '\0';
	assert_int_equal(esc_http_option_set(&o, "image_origins",
					     "https://a.example https://b.example https://c.example "
					     "https://d.example https://e.example https://f.example "
					     "https://g.example https://h.example https://i.example",
					     err, sizeof err),
			 ESC_EINVAL);
	assert_non_null(strstr(err, "at most 8 origins"));
}

/* A bad origin in the file: the daemon does not start, and says why. */
static void test_bad_image_origin_refuses_to_start(void **state)
{
	(void)state;
	char dir[256], conf[400], cmd[1200], out[600] = "";
	esc_test_tmpdir(dir, sizeof dir);
	snprintf(conf, sizeof conf, "%s/escrowd.conf", dir);
	FILE *f = fopen(conf, "w");
	assert_non_null(f);
	fputs("http.image_origins = https://img.example.com/pictures\n", f);
	fclose(f);
	snprintf(cmd, sizeof cmd, "%s/escrowd serve --db %s/x.db --listen 127.0.0.1:0 --config %s 2>&1",
		 getenv("ESC_BUILD_DIR") ? getenv("ESC_BUILD_DIR") : "build", dir, conf);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, sizeof out - 1, p);
	out[n] = '\0';
	int status = pclose(p);
	assert_int_equal(WEXITSTATUS(status), 2);
	if (!strstr(out, "http.image_origins: 'https://img.example.com/pictures' is not an origin"))
		fail_msg("said \"%s\"", out);
	esc_test_rmdir(dir);
}

/* ---- over HTTP ---- */

#define KEY "order-page-operator-key-1"

static struct esc_test_daemon d;

static void start(const char *config_text)
{
	esc_test_tmpdir(d.dir, sizeof d.dir);
	esc_test_store(d.db, sizeof d.db, d.dir);
	esc_test_daemon_config(&d, config_text);
	esc_test_daemon_start(&d, KEY);
}

static void stop(void)
{
	esc_test_daemon_stop(&d);
	esc_test_store_drop(d.db);
	esc_test_rmdir(d.dir);
}

struct party {
	char id[64], token[80];
};

static struct party user(const char *role)
{
	static unsigned serial;
	struct party p;
	char name[40], email[80];
	snprintf(name, sizeof name, "%s %u", role, ++serial);
	snprintf(email, sizeof email, "%s%u@order-page.test", role, serial);
	esc_test_user(d.port, KEY, role, name, email, p.id, p.token);
	return p;
}

/* POST /v1/orders with items (a JSON list). */
static struct esc_test_reply create(const struct party *buyer, const struct party *seller,
				    const char *items)
{
	char body[1600];
	snprintf(body, sizeof body,
		 "{\"buyer_id\":\"%s\",\"seller_id\":\"%s\",\"currency\":\"EUR\",\"items\":%s}",
		 buyer->id, seller->id, items);
	return esc_test_call(d.port, "POST", "/v1/orders", KEY, body);
}

static void expect_refusal(struct esc_test_reply r, const char *message)
{
	assert_int_equal(r.status, 400);
	json_t *err = json_object_get(r.json, "error");
	assert_string_equal(esc_test_str(err, "code"), "invalid_request");
	if (!strstr(esc_test_str(err, "message"), message))
		fail_msg("said \"%s\", not \"%s\"", esc_test_str(err, "message"), message);
	assert_true(strlen(esc_test_str(err, "hint")) > 0);
	esc_test_reply_drop(&r);
}

static size_t keep_csp(char *line, size_t size, size_t n, void *arg)
{
	static const char name[] = "content-security-policy:";
	if (size * n > sizeof name && !strncasecmp(line, name, sizeof name - 1))
		snprintf(arg, 1024, "%.*s", (int)(size * n - sizeof name), line + sizeof name);
	return size * n;
}

/* The Content-Security-Policy of the web interface's page. */
static void page_csp(char out[1024])
{
	char url[64];
	CURL *c = curl_easy_init();
	out[0] = '\0';
	snprintf(url, sizeof url, "http://127.0.0.1:%d/", d.port);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, keep_csp);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_cleanup(c);
}

static const char PAGE_CONFIG[] =
	"http.image_origins = https://img.example.com http://127.0.0.1:8000\n"
	"carrier.dhl.tracking_url = https://www.dhl.com/track?id={tracking_number}\n"
	"carrier.ups = ups_1z 1Z[0-9A-Z]{16}\n";

static void test_http_image_url(void **state)
{
	(void)state;
	char path[128], csp[1024];
	start(PAGE_CONFIG);
	struct party buyer = user("buyer"), seller = user("seller");

	struct esc_test_reply r = create(
		&buyer, &seller,
		"[{\"title\":\"Lamp\",\"quantity\":1,\"unit_price\":2900,"
		"\"image_url\":\"https://img.example.com/lamp.png?size=96\"},"
		"{\"title\":\"Bulb\",\"quantity\":2,\"unit_price\":300},"
		"{\"title\":\"Shade\",\"quantity\":1,\"unit_price\":900,\"image_url\":null}]");
	assert_int_equal(r.status, 201);
	snprintf(path, sizeof path, "/v1/orders/%s", esc_test_str(r.json, "id"));
	esc_test_reply_drop(&r);
	json_t *o = esc_test_must(d.port, "GET", path, buyer.token, NULL, 200);
	json_t *items = json_object_get(o, "items");
	assert_string_equal(esc_test_str(json_array_get(items, 0), "image_url"),
			    "https://img.example.com/lamp.png?size=96");
	assert_true(json_is_null(json_object_get(json_array_get(items, 1), "image_url")));
	assert_true(json_is_null(json_object_get(json_array_get(items, 2), "image_url")));
	json_decref(o);

	/* Another origin, one that only starts like an allowed one, a
	 * relative address, a quote, one too long: refused, naming the item. */
	expect_refusal(create(&buyer, &seller,
			      "[{\"title\":\"Lamp\",\"quantity\":1,\"unit_price\":1},"
			      "{\"title\":\"Bulb\",\"quantity\":1,\"unit_price\":1,"
			      "\"image_url\":\"https://evil.example/b.png\"}]"),
		       "items[1].image_url is not under one of the allowed image origins: "
		       "https://img.example.com http://127.0.0.1:8000");
	expect_refusal(create(&buyer, &seller,
			      "[{\"title\":\"Lamp\",\"quantity\":1,\"unit_price\":1,"
			      "\"image_url\":\"https://img.example.com.evil.example/b.png\"}]"),
		       "items[0].image_url is not under");
	expect_refusal(create(&buyer, &seller,
			      "[{\"title\":\"Lamp\",\"quantity\":1,\"unit_price\":1,"
			      "\"image_url\":\"/lamp.png\"}]"),
		       "items[0].image_url is not under");
	expect_refusal(create(&buyer, &seller,
			      "[{\"title\":\"Lamp\",\"quantity\":1,\"unit_price\":1,"
			      "\"image_url\":\"https://img.example.com/a\\\"b.png\"}]"),
		       "items[0].image_url must be a URL of at most 300 bytes");
	expect_refusal(create(&buyer, &seller,
			      "[{\"title\":\"Lamp\",\"quantity\":1,\"unit_price\":1,"
			      "\"image_url\":42}]"),
		       "items[0].image_url must be a URL");
	char list[800], longer[400];
	memset(longer, 'a', 300);
	longer[300] = '\0';
	snprintf(list, sizeof list,
		 "[{\"title\":\"Lamp\",\"quantity\":1,\"unit_price\":1,"
		 "\"image_url\":\"https://img.example.com/%s\"}]",
		 longer);
	expect_refusal(create(&buyer, &seller, list), "items[0].image_url must be a URL");

	/* The page lets the browser load them. */
	page_csp(csp);
	if (!strstr(csp, "img-src 'self' data: blob: https://img.example.com http://127.0.0.1:8000; "))
		fail_msg("Content-Security-Policy: %s", csp);
	stop();

	/* Without http.image_origins: no pictures, and the page loads none. */
	start(NULL);
	buyer = user("buyer");
	seller = user("seller");
	expect_refusal(create(&buyer, &seller,
			      "[{\"title\":\"Lamp\",\"quantity\":1,\"unit_price\":1,"
			      "\"image_url\":\"https://img.example.com/lamp.png\"}]"),
		       "items[0].image_url: this escrowd takes no pictures (http.image_origins is "
		       "not set)");
	page_csp(csp);
	if (!strstr(csp, "img-src 'self' data: blob:; "))
		fail_msg("Content-Security-Policy: %s", csp);
	stop();
}

static void test_http_tracking_url(void **state)
{
	(void)state;
	char path[128], body[200];
	start(PAGE_CONFIG);
	struct party buyer = user("buyer"), seller = user("seller");
	static const struct {
		const char *carrier, *number, *url;
	} cases[] = {
		{"DHL", "jjd 0001-2345", "https://www.dhl.com/track?id=JJD00012345"},
		{"ups", "1Z999AA10123456784", NULL}, /* checked, but no page */
		{"gls", "123", NULL},                /* neither */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct esc_test_reply r = create(&buyer, &seller,
						 "[{\"title\":\"Lamp\",\"quantity\":1,\"unit_price\":2900}]");
		assert_int_equal(r.status, 201);
		snprintf(path, sizeof path, "/v1/orders/%s/pay", esc_test_str(r.json, "id"));
		esc_test_reply_drop(&r);
		json_decref(esc_test_must(d.port, "POST", path, KEY,
					  "{\"amount\":2900,\"payment_method\":\"card\"}", 200));
		*strrchr(path, '/') = '\0';
		char ship[160];
		snprintf(ship, sizeof ship, "%s/ship", path);
		snprintf(body, sizeof body, "{\"carrier\":\"%s\",\"tracking_number\":\"%s\"}",
			 cases[i].carrier, cases[i].number);
		/* The command's answer and a later read say the same. */
		json_t *shipped = esc_test_must(d.port, "POST", ship, seller.token, body, 200);
		json_t *read = esc_test_must(d.port, "GET", path, buyer.token, NULL, 200);
		json_t *both[] = {shipped, read};
		for (int k = 0; k < 2; k++) {
			json_t *url = json_object_get(json_object_get(both[k], "shipment"),
						      "tracking_url");
			assert_non_null(url);
			if (cases[i].url)
				assert_string_equal(json_string_value(url), cases[i].url);
			else
				assert_true(json_is_null(url));
		}
		json_decref(shipped);
		json_decref(read);
	}
	stop();
}

static int http_setup(void **state)
{
	(void)state;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return 0;
}

static int http_teardown(void **state)
{
	(void)state;
	curl_global_cleanup();
	return 0;
}

int main(void)
{
	esc_test_store_or_skip("order_page");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tracking_url_lines),
		cmocka_unit_test(test_bad_tracking_urls_say_why),
		cmocka_unit_test(test_image_origins),
		cmocka_unit_test(test_bad_image_origin_refuses_to_start),
	};
	const struct CMUnitTest http[] = {
		cmocka_unit_test(test_http_image_url),
		cmocka_unit_test(test_http_tracking_url),
	};
	int failed = cmocka_run_group_tests_name("core", tests, NULL, NULL);
	return failed + cmocka_run_group_tests_name("http", http, http_setup, http_teardown);
}
