/* test_openapi.c - the OpenAPI document (SPEC §7) and the route table
 * describe the same API: every route is documented, every documented
 * operation is routed, and the document holds together. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/event.h"
#include "core/order.h"
#include "http/openapi.h"
#include "http/routes.h"
#include "util/error.h"

static const char *const http_methods[] = {"get",     "put",  "post",  "delete",
					   "options", "head", "patch", "trace"};
#define HTTP_METHODS (sizeof http_methods / sizeof http_methods[0])

static int setup(void **state)
{
	json_error_t err;
	json_t *doc = json_loads(esc_openapi_json, JSON_REJECT_DUPLICATES, &err);
	if (!doc) {
		print_error("esc_openapi_json is not valid JSON: %s (line %d, column %d)\n",
			    err.text, err.line, err.column);
		return -1;
	}
	*state = doc;
	return 0;
}

static int teardown(void **state)
{
	json_decref(*state);
	return 0;
}

static void lower(const char *s, char *out, size_t size)
{
	size_t i = 0;
	for (; s[i] && i + 1 < size; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[i] = '\0';
}

/* Is v the string s? */
static bool is_str(const json_t *v, const char *s)
{
	return json_is_string(v) && !strcmp(json_string_value(v), s);
}

static bool is_http_method(const char *key)
{
	for (size_t i = 0; i < HTTP_METHODS; i++)
		if (!strcmp(key, http_methods[i]))
			return true;
	return false;
}

static const struct esc_route *route_of(const char *method, const char *path)
{
	for (size_t i = 0; i < esc_routes_count; i++) {
		char m[16];
		lower(esc_routes[i].method, m, sizeof m);
		if (!strcmp(m, method) && !strcmp(esc_routes[i].path, path))
			return &esc_routes[i];
	}
	return NULL;
}

/* Resolve a local reference ("#/components/schemas/Order"), or NULL. */
static json_t *resolve(json_t *doc, const char *ref)
{
	char token[256];
	json_t *at = doc;
	if (strncmp(ref, "#/", 2))
		return NULL;
	const char *p = ref + 2;
	while (at && *p) {
		size_t n = 0;
		for (; *p && *p != '/'; p++) {
			char c = *p;
			if (c == '~' && (p[1] == '0' || p[1] == '1'))
				c = *++p == '0' ? '~' : '/';
			if (n + 1 >= sizeof token)
				return NULL;
			token[n++] = c;
		}
		token[n] = '\0';
		if (*p == '/')
			p++;
		if (json_is_object(at)) {
			at = json_object_get(at, token);
		} else if (json_is_array(at)) {
			char *end;
			long i = strtol(token, &end, 10);
			at = (*token && !*end && i >= 0) ? json_array_get(at, (size_t)i) : NULL;
		} else {
			at = NULL;
		}
	}
	return at;
}

/* A $ref object is replaced by what it points to. */
static json_t *deref(json_t *doc, json_t *v)
{
	json_t *ref = json_object_get(v, "$ref");
	return json_is_string(ref) ? resolve(doc, json_string_value(ref)) : v;
}

static void test_is_openapi_3_1(void **state)
{
	json_t *doc = *state;
	json_t *info = json_object_get(doc, "info");
	assert_string_equal(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
	assert_non_null(info);
	assert_string_equal(json_string_value(json_object_get(info, "title")), "escrowd");
	assert_non_null(json_string_value(json_object_get(info, "version")));
#ifdef ESC_VERSION
	assert_string_equal(json_string_value(json_object_get(info, "version")), ESC_VERSION);
#endif
	assert_true(json_is_object(json_object_get(doc, "paths")));
	json_t *schemes = json_object_get(json_object_get(doc, "components"), "securitySchemes");
	json_t *bearer = json_object_get(schemes, "bearer"),
	       *cookie = json_object_get(schemes, "cookie");
	assert_string_equal(json_string_value(json_object_get(bearer, "type")), "http");
	assert_string_equal(json_string_value(json_object_get(bearer, "scheme")), "bearer");
	assert_string_equal(json_string_value(json_object_get(cookie, "type")), "apiKey");
	assert_string_equal(json_string_value(json_object_get(cookie, "in")), "cookie");
	assert_string_equal(json_string_value(json_object_get(cookie, "name")), "escrowd_session");
}

static void test_every_route_is_documented(void **state)
{
	json_t *paths = json_object_get(*state, "paths");
	int missing = 0;
	for (size_t i = 0; i < esc_routes_count; i++) {
		char m[16];
		lower(esc_routes[i].method, m, sizeof m);
		if (!json_object_get(json_object_get(paths, esc_routes[i].path), m)) {
			print_error("route %s %s is not in the OpenAPI document\n",
				    esc_routes[i].method, esc_routes[i].path);
			missing++;
		}
	}
	assert_int_equal(missing, 0);
}

static void test_every_operation_is_routed(void **state)
{
	json_t *paths = json_object_get(*state, "paths");
	const char *path, *key;
	json_t *item, *v;
	int unknown = 0;
	json_object_foreach(paths, path, item)
	{
		json_object_foreach(item, key, v)
		{
			if (!is_http_method(key)) {
				/* A path item's other fields; anything else is a typo. */
				if (strcmp(key, "summary") && strcmp(key, "description") &&
				    strcmp(key, "parameters") && strcmp(key, "servers")) {
					print_error("%s: '%s' is not an HTTP method\n", path, key);
					unknown++;
				}
				continue;
			}
			if (!route_of(key, path)) {
				print_error("%s %s is documented but not in esc_routes\n", key,
					    path);
				unknown++;
			}
		}
	}
	assert_int_equal(unknown, 0);
}

/* Say what is wrong with a route's operation, and count it. */
static void bad_route(int *bad, const struct esc_route *r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void bad_route(int *bad, const struct esc_route *r, const char *fmt, ...)
{
	va_list ap;
	print_error("%s %s: ", r->method, r->path);
	va_start(ap, fmt);
	vprint_error(fmt, ap);
	va_end(ap);
	print_error("\n");
	(*bad)++;
}

/* The JSON schema of a request body. */
static json_t *body_schema(json_t *doc, json_t *body)
{
	json_t *content = json_object_get(deref(doc, body), "content");
	return deref(doc, json_object_get(json_object_get(content, "application/json"), "schema"));
}

/* Each route's operation: a unique operationId, a 2xx answer, who may
 * call it as the table says, a request body exactly when the route takes
 * one (no unknown fields), the {id} parameter when the path has one, and
 * the Idempotency-Key of every POST. */
static void test_operations_match_their_routes(void **state)
{
	json_t *doc = *state;
	json_t *paths = json_object_get(doc, "paths");
	json_t *ids = json_object();
	int bad = 0;
	for (size_t i = 0; i < esc_routes_count; i++) {
		const struct esc_route *r = &esc_routes[i];
		char m[16];
		lower(r->method, m, sizeof m);
		json_t *op = json_object_get(json_object_get(paths, r->path), m);
		if (!op)
			continue; /* test_every_route_is_documented says so */

		/* A unique operationId. */
		const char *op_id = json_string_value(json_object_get(op, "operationId"));
		if (!op_id)
			bad_route(&bad, r, "no operationId");
		else if (json_object_get(ids, op_id))
			bad_route(&bad, r, "operationId %s is used twice", op_id);
		else
			json_object_set_new(ids, op_id, json_true());

		/* At least one 2xx response. */
		const char *status;
		json_t *resp;
		bool success = false;
		json_object_foreach(json_object_get(op, "responses"), status, resp)
		{
			if (status[0] == '2')
				success = true;
		}
		if (!success)
			bad_route(&bad, r, "no 2xx response");

		/* x-escrowd-who: the roles of the table's mask. */
		static const struct {
			unsigned bit;
			const char *name;
		} roles[] = {{ESC_WHO_ANYONE, "anyone"},
			     {ESC_WHO_OPERATOR, "operator"},
			     {ESC_WHO_BUYER, "buyer"},
			     {ESC_WHO_SELLER, "seller"},
			     {ESC_WHO_ARBITER, "arbiter"}};
		unsigned want = r->who & ESC_WHO_ANYONE ? ESC_WHO_ANYONE : r->who, got = 0;
		size_t k;
		json_t *role;
		json_t *who = json_object_get(op, "x-escrowd-who");
		if (!json_is_array(who))
			bad_route(&bad, r, "no x-escrowd-who list");
		json_array_foreach(who, k, role)
		{
			bool known = false;
			for (size_t j = 0; j < sizeof roles / sizeof roles[0]; j++) {
				if (is_str(role, roles[j].name)) {
					got |= roles[j].bit;
					known = true;
				}
			}
			if (!known)
				bad_route(&bad, r, "x-escrowd-who has an unknown role");
		}
		if (got != want)
			bad_route(&bad, r, "x-escrowd-who does not match the route's roles");

		/* A request body exactly when the route takes one. */
		json_t *body = json_object_get(op, "requestBody");
		if (!!body != (r->body != ESC_BODY_NONE))
			bad_route(&bad, r, "requestBody %s but the route %s one",
				  body ? "documented" : "missing", r->body ? "takes" : "takes no");
		if (body && r->body == ESC_BODY_FILE) {
			/* A file: the types evidence may have, as bytes. */
			json_t *content = json_object_get(deref(doc, body), "content");
			static const char *const types[] = {"image/jpeg", "image/png",
							    "application/pdf"};
			for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
				if (!json_object_get(content, types[t]))
					bad_route(&bad, r, "the file body does not document %s",
						  types[t]);
		} else if (body) {
			json_t *schema = body_schema(doc, body);
			if (!json_is_false(json_object_get(schema, "additionalProperties")))
				bad_route(&bad, r, "the request body schema allows unknown fields");
		}

		/* The {id} path parameter; the Idempotency-Key of every POST. */
		bool id_found = false, key_found = false;
		json_t *p;
		json_array_foreach(json_object_get(op, "parameters"), k, p)
		{
			json_t *param = deref(doc, p), *in = json_object_get(param, "in"),
			       *name = json_object_get(param, "name");
			if (is_str(in, "path") && is_str(name, "id") &&
			    json_is_true(json_object_get(param, "required")))
				id_found = true;
			if (is_str(in, "header") && is_str(name, "Idempotency-Key"))
				key_found = true;
		}
		if (strstr(r->path, "{id}") && !id_found)
			bad_route(&bad, r, "no required path parameter id");
		if (!strcmp(r->method, "POST") && !key_found && r->keep != ESC_KEEP_NEVER)
			bad_route(&bad, r, "no Idempotency-Key header parameter");
		if (r->keep == ESC_KEEP_NEVER && key_found)
			bad_route(&bad, r, "documents an Idempotency-Key it ignores");
	}
	json_decref(ids);
	assert_int_equal(bad, 0);
}

/* Every $ref in the document points to an existing component. */
static int check_refs(json_t *doc, json_t *v, const char *where)
{
	int bad = 0;
	const char *key;
	json_t *x;
	size_t i;
	if (json_is_object(v)) {
		json_object_foreach(v, key, x)
		{
			if (!strcmp(key, "$ref")) {
				const char *ref = json_string_value(x);
				if (!ref || strncmp(ref, "#/components/", 13) ||
				    !resolve(doc, ref)) {
					print_error("%s: $ref %s points to no component\n", where,
						    ref ? ref : "(not a string)");
					bad++;
				}
				continue;
			}
			bad += check_refs(doc, x, key);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x)
		{
			bad += check_refs(doc, x, where);
		}
	}
	return bad;
}

static void test_every_ref_resolves(void **state)
{
	json_t *doc = *state;
	assert_int_equal(check_refs(doc, doc, "document"), 0);
	/* And the schemas the routes return are there. */
	const char *names[] = {"Error", "Order", "Refund", "User", "Action", "Reason"};
	json_t *schemas = json_object_get(json_object_get(doc, "components"), "schemas");
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		assert_non_null(json_object_get(schemas, names[i]));
}

/* The documented error codes are error.h's, no more, no fewer. */
static void test_error_codes_match_error_h(void **state)
{
	json_t *doc = *state;
	json_t *codes = json_object_get(resolve(doc, "#/components/schemas/ErrorCode"), "enum");
	static const char *const ours[] = {
#define X(name, code, status, msg) code,
		ESC_ERRORS(X)
#undef X
	};
	size_t i;
	json_t *c;
	assert_true(json_is_array(codes));
	for (i = 0; i < sizeof ours / sizeof ours[0]; i++) {
		bool found = false;
		size_t j;
		json_array_foreach(codes, j, c)
		{
			if (is_str(c, ours[i]))
				found = true;
		}
		if (!found)
			fail_msg("error code %s is not in the ErrorCode schema", ours[i]);
	}
	json_array_foreach(codes, i, c)
	{
		bool found = false;
		for (size_t j = 0; j < sizeof ours / sizeof ours[0]; j++)
			if (is_str(c, ours[j]))
				found = true;
		if (!found)
			fail_msg("ErrorCode %s is not a code of error.h",
				 json_is_string(c) ? json_string_value(c) : "(not a string)");
	}
}

/* A history event's names are the order machine's, no more, no fewer. */
static void test_history_events_match_the_machine(void **state)
{
	json_t *doc = *state;
	json_t *names = json_object_get(
		json_object_get(json_object_get(resolve(doc, "#/components/schemas/HistoryEvent"),
						"properties"),
				"event"),
		"enum");
	assert_true(json_is_array(names));
	for (int e = 0; e < ESC_EV_COUNT; e++) {
		bool found = false;
		size_t j;
		json_t *c;
		json_array_foreach(names, j, c)
		{
			if (is_str(c, esc_event_name((enum esc_event)e)))
				found = true;
		}
		if (!found)
			fail_msg("event %s is not in HistoryEvent's enum",
				 esc_event_name((enum esc_event)e));
	}
	assert_int_equal(json_array_size(names), ESC_EV_COUNT);
}

static bool in_list(const json_t *list, const char *name)
{
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v)
	{
		if (is_str(v, name))
			return true;
	}
	return false;
}

/* An enumerated field's documented values are those its parse accepts,
 * as the error names them ("card, wallet or balance"). */
static bool enum_matches(json_t *prop, const struct esc_field *f)
{
	json_t *values = json_object_get(prop, "enum"), *v;
	size_t i, n = json_array_size(values);
	char said[200] = "";
	if (!n)
		return false;
	json_array_foreach(values, i, v)
	{
		if (!json_is_string(v) || f->parse(json_string_value(v)) < 0)
			return false;
		const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
		size_t len = strlen(said);
		snprintf(said + len, sizeof said - len, "%s%s", sep, json_string_value(v));
	}
	return !strcmp(said, f->expected);
}

/* One event's operation against its row: the body's properties are the
 * row's fields, no more, no fewer, each of its JSON type (an enumerated
 * one with the values its row names); `required`
 * lists exactly the required ones. Returns how many disagree. */
static int check_event_body(json_t *doc, const struct esc_event_spec *ev)
{
	char path[128];
	int bad = 0;
	snprintf(path, sizeof path, "%s%s", esc_machine_route(ev->machine), ev->path);
	json_t *op = json_object_get(json_object_get(json_object_get(doc, "paths"), path), "post");
	if (!op) {
		print_error("%s: POST %s is not documented\n", ev->name, path);
		return 1;
	}
	json_t *body = json_object_get(op, "requestBody");
	json_t *schema = body ? body_schema(doc, body) : NULL;
	json_t *props = json_object_get(schema, "properties");
	json_t *required = json_object_get(schema, "required");
	size_t fields = 0, required_fields = 0;
	for (; ev->fields[fields].name; fields++) {
		const struct esc_field *f = &ev->fields[fields];
		json_t *prop = deref(doc, json_object_get(props, f->name));
		const char *type = f->kind == ESC_FIELD_INT ? "integer" : "string";
		if (!prop) {
			print_error("%s: POST %s does not document field %s\n", ev->name, path,
				    f->name);
			bad++;
		} else if (!is_str(json_object_get(prop, "type"), type)) {
			print_error("%s: POST %s documents %s as another type than %s\n", ev->name,
				    path, f->name, type);
			bad++;
		}
		if (prop && f->kind == ESC_FIELD_ENUM && !enum_matches(prop, f)) {
			print_error("%s: POST %s documents other values of %s than \"%s\"\n",
				    ev->name, path, f->name, f->expected);
			bad++;
		}
		if (f->required != in_list(required, f->name)) {
			print_error("%s: POST %s documents %s as %s\n", ev->name, path, f->name,
				    f->required ? "optional" : "required");
			bad++;
		}
		required_fields += f->required;
	}
	/* cancel takes preview beside its fields (issue 16): a request
	 * answered without running the command. */
	if (ev->event == ESC_EV_CANCEL) {
		json_t *pv = json_object_get(props, "preview");
		if (!pv || !is_str(json_object_get(pv, "type"), "boolean")) {
			print_error("cancel: POST %s does not document preview\n", path);
			bad++;
		}
		fields++;
	}
	if (json_object_size(props) != fields) {
		print_error("%s: POST %s documents %zu fields, the event takes %zu\n", ev->name,
			    path, json_object_size(props), fields);
		bad++;
	}
	if (json_array_size(required) != required_fields) {
		print_error("%s: POST %s requires %zu fields, the event %zu\n", ev->name, path,
			    json_array_size(required), required_fields);
		bad++;
	}
	return bad;
}

/* Every event a request sends (core/event.h) is documented at its path,
 * with a body of exactly its fields. */
static void test_event_operations_match_the_table_of_events(void **state)
{
	json_t *doc = *state;
	int bad = 0;
	for (int e = 0; e < ESC_EV_COUNT; e++) {
		const struct esc_event_spec *ev = esc_event_spec((enum esc_event)e);
		if (ev->path)
			bad += check_event_body(doc, ev);
	}
	assert_int_equal(bad, 0);
}

/* Issue 14: the webhooks object (OpenAPI 3.1) has an entry for every
 * event type escrowd can write, each posting an Event (its schema, or
 * one made of it with allOf), and EventType lists exactly those types. */
static bool is_event_schema(json_t *doc, json_t *schema)
{
	json_t *ref = json_object_get(schema, "$ref"), *all, *part;
	size_t i;
	if (json_is_string(ref) && !strcmp(json_string_value(ref), "#/components/schemas/Event"))
		return true;
	schema = deref(doc, schema);
	all = json_object_get(schema, "allOf");
	json_array_foreach(all, i, part) if (is_event_schema(doc, part)) return true;
	return false;
}

static void test_every_event_type_is_a_webhook(void **state)
{
	json_t *doc = *state;
	json_t *webhooks = json_object_get(doc, "webhooks");
	json_t *enumed = resolve(doc, "#/components/schemas/EventType/enum");
	const char *types[128];
	size_t n = esc_event_types(types, 128);
	assert_true(n <= 128);
	assert_true(json_is_object(webhooks));
	assert_int_equal(json_object_size(webhooks), n);
	assert_int_equal(json_array_size(enumed), n);
	for (size_t i = 0; i < n; i++) {
		json_t *post = json_object_get(json_object_get(webhooks, types[i]), "post");
		json_t *schema = resolve(post, "#/requestBody/content/application~1json/schema");
		if (!post || !schema || !is_event_schema(doc, schema))
			fail_msg("webhooks: %s does not post an Event", types[i]);
		bool listed = false;
		for (size_t j = 0; j < json_array_size(enumed); j++)
			listed = listed ||
				 !strcmp(json_string_value(json_array_get(enumed, j)), types[i]);
		if (!listed)
			fail_msg("EventType does not list %s", types[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is_openapi_3_1),
		cmocka_unit_test(test_every_route_is_documented),
		cmocka_unit_test(test_every_operation_is_routed),
		cmocka_unit_test(test_operations_match_their_routes),
		cmocka_unit_test(test_every_ref_resolves),
		cmocka_unit_test(test_error_codes_match_error_h),
		cmocka_unit_test(test_history_events_match_the_machine),
		cmocka_unit_test(test_event_operations_match_the_table_of_events),
		cmocka_unit_test(test_every_event_type_is_a_webhook),
	};
	return cmocka_run_group_tests_name("openapi", tests, setup, teardown);
}
