/* routes.c - the route table and its handlers: JSON in, engine commands,
 * JSON out. Nothing here decides a rule; the core does. */
#include "http/routes.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <pthread.h>
#include <sodium.h>

#include "core/event.h"
#include "core/notice.h"
#include "core/rules.h"
#include "engine/view.h"
#include "http/assets.h"
#include "http/idempotency.h"
#include "http/keys.h"
#include "http/openapi.h"
#include "http/server.h" /* struct esc_http_options: webhooks.allow_private */
#include "util/bug.h"
#include "util/error.h"
#include "util/json.h"
#include "util/text.h"
#include "util/timefmt.h"
#include "webhook/endpoint.h"
#include "webhook/feed.h"
#include "webhook/signature.h"
#include "webhook/url.h"
#include "webhook/worker.h"

#define PAGE_DEFAULT 20
#define PAGE_MAX     100

/* ---- JSON helpers ---- */

static json_t *time_or_null(int64_t ms)
{
	return esc_view_time(ms);
}

static int fail(struct esc_http_call *call, int rc, const char *fmt, const char *arg)
{
	char msg[300];
	snprintf(msg, sizeof msg, fmt, arg ? arg : "");
	/* A value cut at a byte count ("%.8s", or msg's own size) may end
	 * inside a character: JSON holds whole ones only. */
	esc_utf8_mend(msg);
	json_decref(call->out);
	call->out =
		json_pack("{s:{s:s, s:s}}", "error", "code", esc_error_code(rc), "message", msg);
	return rc;
}

/* Refuse fields the route does not know: a typo must not pass silently. */
static int only_fields(struct esc_http_call *call, const char *const *allowed)
{
	const char *key;
	json_t *v;
	json_object_foreach(call->body, key, v)
	{
		bool known = false;
		for (const char *const *a = allowed; *a && !known; a++)
			known = !strcmp(*a, key);
		if (!known)
			return fail(call, ESC_EINVAL, "unknown field '%s'", key);
	}
	return 0;
}

/* A string field: NULL when absent and optional. */
static int get_string(struct esc_http_call *call, const char *name, bool required, const char **out)
{
	json_t *v = json_object_get(call->body, name);
	*out = NULL;
	if (!v || json_is_null(v)) {
		if (required)
			return fail(call, ESC_EINVAL, "'%s' is required", name);
		return 0;
	}
	if (!json_is_string(v))
		return fail(call, ESC_EINVAL, "'%s' must be a string", name);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return fail(call, ESC_EINVAL, "'%s' must not contain NUL", name);
	*out = json_string_value(v);
	return 0;
}

/* Text a person wrote, refused with the field's name when it holds what
 * would disguise it (issue 12 defect 7; util/text.h): a field may be
 * "items[2].title". */
static int text_ok(struct esc_http_call *call, const char *field, const char *s,
		   enum esc_text_kind kind)
{
	char why[120], msg[200];
	if (!s || !esc_text_check(s, strlen(s), kind, why, sizeof why))
		return 0;
	snprintf(msg, sizeof msg, "'%s' must not hold %s", field, why);
	return fail(call, ESC_EINVAL, "%s", msg);
}

/* A string field of text: get_string, then text_ok. */
static int get_text(struct esc_http_call *call, const char *name, bool required,
		    enum esc_text_kind kind, const char **out)
{
	int rc = get_string(call, name, required, out);
	if (!rc)
		rc = text_ok(call, name, *out, kind);
	return rc;
}

/* An integer field (amounts in minor units, which the refusal says). */
static int get_int(struct esc_http_call *call, const char *name, bool required, int64_t *out)
{
	json_t *v = json_object_get(call->body, name);
	if (!v) {
		if (required)
			return fail(call, ESC_EINVAL, "'%s' is required", name);
		return 0;
	}
	if (!json_is_integer(v))
		return fail(call, ESC_EINVAL,
			    strstr(name, "amount") ? "'%s' must be a whole number (minor units)"
						   : "'%s' must be a whole number",
			    name);
	*out = (int64_t)json_integer_value(v);
	return 0;
}

/* ---- orders as JSON ---- */

/* A list's page size: limit, 1 to 100, 20 when absent (SPEC §7). */
static int page_limit(struct esc_http_call *call, size_t *limit)
{
	const char *v = esc_http_query(call, "limit");
	*limit = PAGE_DEFAULT;
	if (!v)
		return 0;
	char *end;
	long n = strtol(v, &end, 10);
	if (!*v || *end || n < 1 || n > PAGE_MAX)
		return fail(call, ESC_EINVAL, "limit must be from 1 to 100", NULL);
	*limit = (size_t)n;
	return 0;
}

/* starting_after for lists numbered within an order (a version, a seq). */
static int page_after_number(struct esc_http_call *call, const char *what, int64_t *after)
{
	const char *v = esc_http_query(call, "starting_after");
	*after = 0;
	if (!v)
		return 0;
	char *end;
	long long n = strtoll(v, &end, 10);
	if (!*v || *end || n < 0)
		return fail(call, ESC_EINVAL, "starting_after must be %s", what);
	*after = n;
	return 0;
}

/* starting_after for lists of ids made by esc_id_new with `prefix` (a
 * refund's: its order's id, "-r" and its number): *after NULL when it is
 * absent. An empty or malformed one is refused, saying what it must be:
 * read as a position, it gave a page that was not the next one (an empty
 * one for "starting_after=", the first for a mistyped id on orders). A
 * well-formed id no row holds is a position: ids sort by creation time. */
static int page_after_id(struct esc_http_call *call, const char *prefix, const char *what,
			 const char *shape, const char **after)
{
	static const char id_chars[] = "0123456789abcdefghjkmnpqrstvwxyz-"; /* util/id.c */
	const char *v = esc_http_query(call, "starting_after");
	size_t p = strlen(prefix), n = v ? strlen(v) : 0;
	*after = NULL;
	if (!v)
		return 0;
	if (n <= p || n >= ESC_ID_SIZE || strncmp(v, prefix, p) ||
	    strspn(v + p, id_chars) != n - p) {
		char msg[160];
		snprintf(msg, sizeof msg,
			 "starting_after must be %s id (%s), the last one of the page before", what,
			 shape);
		return fail(call, ESC_EINVAL, "%s", msg);
	}
	*after = v;
	return 0;
}

/* The language the sentences of an answer are in (the deadlines'
 * rules, the cancellation preview): Icelandic when the request's
 * Accept-Language puts "is" first, else English. */
static enum esc_lang request_lang(struct esc_http_call *call)
{
	const char *accept = esc_http_header(call, "Accept-Language");
	if (!accept)
		return ESC_LANG_EN;
	accept += strspn(accept, " \t");
	return !strncasecmp(accept, "is", 2) && !isalpha((unsigned char)accept[2]) ? ESC_LANG_IS
										   : ESC_LANG_EN;
}

/* The caller as the views see it (engine/view.h), with what they read
 * once for this answer. */
static struct esc_viewer *viewer(struct esc_http_call *call)
{
	struct esc_viewer *v = &call->viewer;
	bool user = call->caller.kind == ESC_CALLER_USER;
	v->actor = user ? call->caller.user.role : ESC_ACTOR_OPERATOR;
	v->user_id = user ? call->caller.user.id : NULL;
	v->lang = request_lang(call);
	/* A read's caller was read in the snapshot the view reads: the
	 * name of a party that is the caller is not read again. */
	if (user && !v->names[0].id[0] && !strcmp(call->method, "GET")) {
		snprintf(v->names[0].id, sizeof v->names[0].id, "%s", call->caller.user.id);
		snprintf(v->names[0].name, sizeof v->names[0].name, "%s", call->caller.user.name);
		v->names_next = 1;
	}
	return v;
}

static bool caller_is_arbiter(const struct esc_http_call *call)
{
	return call->caller.kind == ESC_CALLER_USER && call->caller.user.role == ESC_ACTOR_ARBITER;
}

/* The order as the caller sees it; its buyer and its seller also read how
 * many of its messages the other wrote that they have not read. */
static json_t *order_json(struct esc_http_call *call, struct esc_store *s,
			  const struct esc_order *o)
{
	json_t *j = esc_view_order(call->e, s, viewer(call), o);
	const char *me = call->caller.user.id;
	int64_t unread = 0;
	int rc = 0;
	if (j && call->caller.kind == ESC_CALLER_USER &&
	    (!strcmp(me, o->buyer_id) || !strcmp(me, o->seller_id))) {
		ESC_STORE(rc, s, messages_unread, me, o->id, &unread);
		if (!rc)
			json_object_set_new(j, "unread_messages", json_integer(unread));
	}
	return j;
}

/* order_json's document as its text (esc_view_order_text) into out
 * (initialized here), but its closing brace. false, out released, when
 * the tree must be made instead. */
static bool order_text_open(struct esc_http_call *call, struct esc_store *s,
			    const struct esc_order *o, struct esc_json_out *out)
{
	const char *me = call->caller.user.id;
	int64_t unread = 0;
	int rc = 0;
	if (esc_json_out_init(out, 4096))
		return false;
	if (!esc_view_order_text(call->e, s, viewer(call), o, out, NULL)) {
		esc_json_out_release(out);
		return false;
	}
	if (call->caller.kind == ESC_CALLER_USER &&
	    (!strcmp(me, o->buyer_id) || !strcmp(me, o->seller_id))) {
		ESC_STORE(rc, s, messages_unread, me, o->id, &unread);
		if (!rc) {
			ESC_JSON_OUT_LIT(out, ",\"unread_messages\":");
			esc_json_out_int(out, unread);
		}
	}
	return true;
}

/* order_json's document as its text, in call->out_text. false when the
 * tree must be made instead. */
static bool order_text(struct esc_http_call *call, struct esc_store *s, const struct esc_order *o)
{
	struct esc_json_out out;
	size_t len = 0;
	if (!order_text_open(call, s, o, &out))
		return false;
	ESC_JSON_OUT_LIT(&out, "}");
	char *text = esc_json_out_finish(&out, &len);
	if (!text)
		return false;
	call->out_text = text;
	call->out_text_len = len;
	return true;
}

/* The answer of a command that leaves an order, as its text (the order as
 * order_text writes it, and what reply_build adds): false when the tree
 * must be made instead. */
static bool reply_text(struct esc_http_call *call, struct esc_store *s,
		       const struct esc_result *res)
{
	struct esc_json_out out;
	size_t len = 0;
	if (!order_text_open(call, s, &res->order, &out))
		return false;
	if (call->command->event == ESC_EV_CANCEL &&
	    res->order.state == ESC_ST_CANCELLATION_REQUESTED) {
		ESC_JSON_OUT_LIT(&out, ",\"buyer_level\":");
		esc_json_out_string(&out, esc_level_name(res->buyer_level));
	}
	ESC_JSON_OUT_LIT(&out, "}");
	char *text = esc_json_out_finish(&out, &len);
	if (!text)
		return false;
	call->reply_built = true;
	if (call->idem) {
		esc_idem_answer_text(call->idem, call->status, text);
	} else {
		call->out_text = text;
		call->out_text_len = len;
	}
	return true;
}

/* The answer to a command that succeeded, built inside its transaction
 * (esc_reply): the order or the refund as it is now, kept with the
 * command when the request has an Idempotency-Key. */
static int reply_build(void *arg, struct esc_engine *e, struct esc_store *s,
		       const struct esc_result *res)
{
	struct esc_http_call *call = arg;
	enum esc_event ev = call->command->event;
	(void)e;
	json_decref(call->out);
	call->out = NULL;
	free(call->out_text);
	call->out_text = NULL;
	if (ev == ESC_EV_REFUND_SETTLED || ev == ESC_EV_REFUND_FAILED) {
		call->out = esc_view_refund(&res->refund);
	} else if (ev == ESC_EV_OPEN_DISPUTE || esc_event_is_dispute(ev)) {
		call->out = esc_view_dispute(call->e, s, viewer(call), &res->order);
	} else if (reply_text(call, s, res)) {
		/* An order's answer is written as text (esc_view_order_text);
		 * kept for its key, that text is the one kept. */
		return 0;
	} else {
		call->out = order_json(call, s, &res->order);
	}
	if (!call->out)
		return ESC_ENOMEM;
	/* The decision with the recommendation it kept, as GET shows them. */
	if (ev == ESC_EV_RESOLVE_DISPUTE && caller_is_arbiter(call))
		json_object_set_new(call->out, "recommendation",
				    esc_view_recommendation(&res->order, NULL, 0));
	if (ev == ESC_EV_CANCEL && res->order.state == ESC_ST_CANCELLATION_REQUESTED)
		json_object_set_new(call->out, "buyer_level",
				    json_string(esc_level_name(res->buyer_level)));
	/* SPEC §6: a restricted buyer is told that arbiters' recommendations
	 * lean towards the seller. */
	if (ev == ESC_EV_OPEN_DISPUTE) {
		json_object_set_new(call->out, "buyer_level",
				    json_string(esc_level_name(res->buyer_level)));
		if (res->buyer_level == ESC_LEVEL_RESTRICTED)
			json_object_set_new(call->out, "notice",
					    json_string("Your account is restricted: if an arbiter "
							"decides this dispute, the recommendation "
							"is weighted towards the seller."));
	}
	call->reply_built = true;
	/* Kept with the command (idempotency.h step 2). */
	if (call->idem)
		return esc_idem_answer(call->idem, call->status, call->out);
	/* Else its text, made here by the thread that made the tree while
	 * the tree is still in this core's cache. Written by the HTTP thread
	 * it took ~6 % of the daemon's CPU under POST /v1/orders, against a
	 * quarter of that for the event's text of the same order, made here
	 * (perf, issue 15). */
	call->out_text = esc_json_text(call->out, 4096, &call->out_text_len);
	return call->out_text ? 0 : ESC_ENOMEM;
}

/* A command from its handler to its answer (handler.h's esc_http_pending):
 * the command and what it points to, which must live until the commit,
 * and the half of the handler that runs after it. Heap-owned: by the
 * handler until submit, then by the server (call->pending) or by submit
 * itself when it waits. */
struct command_run {
	struct esc_http_pending pending; /* first: the server's handle */
	struct esc_command cmd;
	struct esc_reply reply;
	struct esc_result res;
	struct esc_item *items;     /* a new order's */
	struct esc_refund refund;   /* the refund a refund's command names */
	char order_id[ESC_ID_SIZE]; /* a dispute's order */
	/* After the commit: the result into the answer, returning what the
	 * handler returns. */
	int (*then)(struct esc_http_call *call, struct command_run *run, int rc);
};

static void command_run_release(struct esc_http_pending *p)
{
	struct command_run *run = (struct command_run *)p;
	if (!run)
		return;
	free(run->items);
	free(run);
}

/* A new command_run, or NULL (ESC_ENOMEM). */
static struct command_run *command_run_new(void)
{
	struct command_run *run = calloc(1, sizeof *run);
	if (run)
		run->pending.release = command_run_release;
	return run;
}

/* The half of submit after the commit (esc_http_pending.finish): on
 * success call->out is the command's answer, with call->status; on a
 * refusal call->out is NULL, unless the Idempotency-Key was answered
 * meanwhile (call->idem_answered). Then the handler's own half. */
static int submit_finish(struct esc_http_call *call)
{
	struct command_run *run = (struct command_run *)call->pending;
	int rc = run->res.rc;
	run->cmd.reply = NULL;
	call->command = NULL;
	esc_idem_done(call, rc, call->reply_built);
	if (rc) {
		/* A reply built before the commit failed is not the answer. */
		json_decref(call->out);
		call->out = NULL;
		free(call->out_text);
		call->out_text = NULL;
	}
	return run->then(call, run, rc);
}

/* Run run's command, answering with status on success; run is submit's.
 * With call->async, the command is left pending for the server
 * (handler.h) and 0 returned; else it runs here, and what the handler
 * returns is returned. */
static int submit(struct esc_http_call *call, struct command_run *run, int status)
{
	run->reply = (struct esc_reply){.build = reply_build, .arg = call, .record = call->idem};
	call->status = status;
	call->command = &run->cmd;
	call->reply_built = false;
	run->cmd.reply = &run->reply;
	run->pending.sub.cmd = &run->cmd;
	run->pending.sub.res = &run->res;
	run->pending.finish = submit_finish;
	call->pending = &run->pending;
	if (call->async)
		return 0;
	esc_engine_submit(call->e, &run->cmd, &run->res);
	int rc = submit_finish(call);
	call->pending = NULL;
	command_run_release(&run->pending);
	return rc;
}

/* The rule a refusal applied, with its numbers (a RuleExplanation). */
static json_t *refusal_explanation(const struct esc_refusal_rule *r, int32_t version,
				   enum esc_lang lang)
{
	char threshold[16], count[16];
	snprintf(threshold, sizeof threshold, "%d", (int)r->threshold);
	snprintf(count, sizeof count, "%d", (int)r->count);
	const struct esc_rule_var vars[] = {{"threshold", threshold},
					    {"count", count},
					    {"carrier", r->carrier},
					    {"scheme", r->scheme}};
	json_t *j = esc_view_rule_explanation(r->rule, version, true, 0, vars,
					      sizeof vars / sizeof vars[0], lang);
	if (r->rule == ESC_RULE_CANCEL_REQUESTS_MAX) {
		json_object_set_new(j, "threshold", json_integer(r->threshold));
		json_object_set_new(j, "count", json_integer(r->count));
	} else if (r->rule == ESC_RULE_TRACKING_CHECK) {
		json_object_set_new(j, "carrier", json_string(r->carrier));
		json_object_set_new(j, "scheme", json_string(r->scheme));
	}
	return j;
}

/* The hint of an order_shipped refusal of a cancellation: where the
 * money can still come back from, by the order's status. */
static void shipped_hint(const struct esc_order *o, char *hint, size_t size)
{
	char dispute[ESC_ID_SIZE];
	esc_dispute_id(dispute, o->id);
	if (o->state == ESC_ST_IN_DISPUTE)
		snprintf(hint, size, "a dispute is open on this order: GET /v1/disputes/%s",
			 dispute);
	else if (o->state == ESC_ST_CLOSED)
		snprintf(hint, size,
			 "the order is closed and its money refunded: GET /v1/refunds?order_id=%s",
			 o->id);
	else if (o->disputes_count)
		snprintf(hint, size, "its one dispute is over: GET /v1/disputes/%s", dispute);
	else if (o->state == ESC_ST_COMPLETED) /* within the window after completion only */
		snprintf(hint, size,
			 "open a dispute while the order's actions list one: POST "
			 "/v1/orders/%s/disputes",
			 o->id);
	else
		snprintf(hint, size, "open a dispute: POST /v1/orders/%s/disputes", o->id);
}

/* After command_reply's commit: the order, or the refusal with what the
 * caller may know (the current order on a conflict). */
static int command_done(struct esc_http_call *call, struct command_run *run, int rc)
{
	const struct esc_result *res = &run->res;
	if (!rc || call->idem_answered)
		return rc;
	fail(call, rc, "%s", res->message);
	json_t *err = json_object_get(call->out, "error");
	if (rc == ESC_ESHIPPED && res->has_order) {
		char hint[160];
		shipped_hint(&res->order, hint, sizeof hint);
		json_object_set_new(err, "hint", json_string(hint));
	} else if (res->hint[0]) {
		json_object_set_new(err, "hint", json_string(res->hint));
	}
	if (res->refusal_rule.set)
		json_object_set_new(
			err, "explanation",
			refusal_explanation(&res->refusal_rule,
					    res->has_order ? res->order.policy_version : 0,
					    request_lang(call)));
	if (res->has_order &&
	    (rc == ESC_ECONFLICT || rc == ESC_EPRECONDITION || esc_error_status(rc) == 409)) {
		struct esc_store *s = esc_engine_store_acquire(call->e);
		json_object_set_new(call->out, "order", order_json(call, s, &res->order));
		esc_engine_store_release(call->e, s);
	}
	return rc;
}

/* If-Match's version into *out: the order's ETag ("7"), or its version
 * bare (7); * matches any version (0: no check, the order exists or the
 * command answers 404); a weak tag (W/"7") matches none (RFC 9110's
 * strong comparison: -1, a 412). Digits only, without a sign or leading
 * zeros. */
static int if_match_of(struct esc_http_call *call, const char *match, int64_t *out)
{
	size_t n = strlen(match);
	const char *v = match;
	bool weak = n > 2 && match[0] == 'W' && match[1] == '/' && match[2] == '"';
	if (n == 1 && match[0] == '*') {
		*out = 0;
		return 0;
	}
	if (weak) {
		v += 2;
		n -= 2;
	}
	if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
		v++;
		n -= 2;
	} else if (weak) {
		n = 0; /* W/ without its quotes */
	}
	bool digits = n >= 1 && n <= 18 && v[0] >= '1' && v[0] <= '9';
	int64_t version = 0;
	for (size_t i = 0; digits && i < n; i++) {
		digits = v[i] >= '0' && v[i] <= '9';
		version = version * 10 + (v[i] - '0');
	}
	if (!digits)
		return fail(call, ESC_EINVAL,
			    "If-Match must be the order's ETag (its version in quotes, \"7\"), the "
			    "version bare, or *",
			    NULL);
	*out = weak ? -1 : version;
	return 0;
}

/* Run run's command with the request's If-Match, answered by
 * command_done; run is command_reply's. */
static int command_reply(struct esc_http_call *call, struct command_run *run, int created)
{
	const char *match = esc_http_header(call, "If-Match");
	if (match) {
		int rc = if_match_of(call, match, &run->cmd.if_match);
		if (rc) {
			command_run_release(&run->pending);
			return rc;
		}
	}
	run->then = command_done;
	return submit(call, run, created ? 201 : 200);
}

static void command_for(struct esc_http_call *call, struct esc_command *cmd, enum esc_event ev)
{
	enum esc_actor actor = call->caller.kind == ESC_CALLER_OPERATOR ? ESC_ACTOR_OPERATOR
									: call->caller.user.role;
	esc_command_init(cmd, ev, actor,
			 call->caller.kind == ESC_CALLER_USER ? call->caller.user.id : NULL,
			 call->param);
}

/* ---- handlers ---- */

static int h_health(struct esc_http_call *call)
{
	call->out = json_pack("{s:s, s:s}", "status", "ok", "mode",
			      call->opt && call->opt->test_mode ? "test" : "production");
	return 0;
}

/* ---- the web interface (issue 5): files embedded in the binary ---- */

const struct esc_asset *esc_asset_find(const char *name)
{
	for (size_t i = 0; i < esc_assets_count; i++)
		if (!strcmp(esc_assets[i].name, name))
			return &esc_assets[i];
	return NULL;
}

static int serve_asset(struct esc_http_call *call, const char *name)
{
	const struct esc_asset *a = esc_asset_find(name);
	if (!a)
		return fail(call, ESC_ENOTFOUND, "no such file", NULL);
	call->raw_static = a->data;
	call->raw_len = a->len;
	snprintf(call->raw_type, sizeof call->raw_type, "%s", a->type);
	return 0;
}

static int h_page(struct esc_http_call *call)
{
	return serve_asset(call, "index.html");
}

static int h_static(struct esc_http_call *call)
{
	/* index.html is the page at /, sw.js the worker at /sw.js; the rest
	 * are their files. */
	if (!strcmp(call->param, "index.html") || !strcmp(call->param, "sw.js"))
		return fail(call, ESC_ENOTFOUND, "no such file", NULL);
	return serve_asset(call, call->param);
}

/* The service worker, at the top so that its scope is the whole site (a
 * worker controls only the addresses under its own folder). */
static int h_worker(struct esc_http_call *call)
{
	return serve_asset(call, "sw.js");
}

static int h_openapi(struct esc_http_call *call)
{
	json_error_t jerr;
	call->out = json_loads(esc_openapi_json, 0, &jerr);
	if (!call->out && json_error_code(&jerr) == json_error_out_of_memory)
		return ESC_ENOMEM;
	/* The document is built in, and the suite parses it. */
	ESC_ASSERT(call->out, "the embedded OpenAPI document does not parse: line %d: %s",
		   jerr.line, jerr.text);
	return 0;
}

static int h_metrics(struct esc_http_call *call)
{
	if (!esc_http_metrics_here(call))
		return fail(call, ESC_ENOTFOUND,
			    "no such path here: the metrics are served on the admin listener "
			    "(http.admin_listen)",
			    NULL);
	call->text = esc_http_metrics(call);
	return call->text ? 0 : ESC_ENOMEM;
}

static int h_ready(struct esc_http_call *call)
{
	int64_t n = 0;
	int rc;
	struct esc_store *s = esc_engine_store_acquire(call->e);
	ESC_STORE(rc, s, api_keys_count, &n);
	esc_engine_store_release(call->e, s);
	if (rc)
		return fail(call, ESC_EBUSY, "the store does not answer", NULL);
	call->out = json_pack("{s:s}", "status", "ready");
	return 0;
}

static json_t *user_json(const struct esc_user *u)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", u->id, "role", esc_actor_name(u->role),
			 "name", u->name, "email", u->email, "created_at",
			 time_or_null(u->created_at_ms));
}

static json_t *user_doc(const void *u)
{
	return user_json(u);
}

static int h_user_create(struct esc_http_call *call)
{
	static const char *const fields[] = {"role", "name", "email", "password", NULL};
	const char *role, *name, *email, *password;
	struct esc_user u;
	int rc = only_fields(call, fields);
	if (!rc)
		rc = get_string(call, "role", true, &role);
	if (!rc)
		rc = get_text(call, "name", true, ESC_TEXT_LINE, &name);
	if (!rc)
		rc = get_text(call, "email", true, ESC_TEXT_LINE, &email);
	if (!rc)
		rc = get_string(call, "password", true, &password);
	if (rc)
		return rc;
	int r = esc_actor_parse(role);
	if (r != ESC_ACTOR_BUYER && r != ESC_ACTOR_SELLER && r != ESC_ACTOR_ARBITER)
		return fail(call, ESC_EINVAL, "role must be buyer, seller or arbiter", NULL);
	struct esc_idem_tx k = {.call = call, .status = 201, .doc = user_doc, .obj = &u};
	struct esc_tx_hook hook = {.run = esc_idem_tx_run, .arg = &k};
	rc = esc_engine_user_create_with(call->e, (enum esc_actor)r, name, email, password, &u,
					 &hook);
	esc_idem_done(call, rc, k.built);
	if (call->idem_answered)
		return rc;
	if (rc == ESC_EDUPLICATE)
		return fail(call, rc, "a user with this email exists already", NULL);
	/* The engine's refusal, by the field it was for (its checks, in its
	 * order). */
	char most[24];
	if (rc == ESC_EINVAL && (!*name || strlen(name) > ESC_NAME_MAX)) {
		snprintf(most, sizeof most, "%d", ESC_NAME_MAX);
		return fail(call, rc, "'name' must be 1 to %s bytes", most);
	}
	if (rc == ESC_EINVAL && !esc_engine_email_ok(email)) {
		snprintf(most, sizeof most, "%d", ESC_EMAIL_MAX);
		return fail(call, rc,
			    "'email' must be one address such as name@example.com, at most %s "
			    "bytes, with no spaces",
			    most);
	}
	if (rc == ESC_EINVAL)
		return fail(call, rc, "'password' must be 8 to %s bytes", "1024");
	if (rc)
		return rc;
	call->status = 201;
	call->out = user_json(&u);
	return 0;
}

/* The hash of a random password, made once per cost, for unknown emails:
 * at the cost the engine hashes new passwords with, so that checking one
 * takes as long as checking a known email's. */
static char dummy[2][crypto_pwhash_STRBYTES];

static void make_dummy_hash(int fast)
{
	unsigned char pw[16];
	randombytes_buf(pw, sizeof pw);
	if (crypto_pwhash_str(
		    dummy[fast], (const char *)pw, sizeof pw,
		    fast ? crypto_pwhash_OPSLIMIT_MIN : crypto_pwhash_OPSLIMIT_INTERACTIVE,
		    fast ? crypto_pwhash_MEMLIMIT_MIN : crypto_pwhash_MEMLIMIT_INTERACTIVE))
		dummy[fast][0] = '\0';
}

static void make_dummy_interactive(void)
{
	make_dummy_hash(0);
}

static void make_dummy_fast(void)
{
	make_dummy_hash(1);
}

static const char *dummy_hash(const struct esc_engine *e)
{
	static pthread_once_t once[2] = {PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT};
	const int fast = esc_engine_fast_password_hashing(e);
	pthread_once(&once[fast], fast ? make_dummy_fast : make_dummy_interactive);
	return dummy[fast];
}

static int session_insert_tx(struct esc_store *s, void *arg)
{
	const struct esc_session *session = arg;
	int rc;
	ESC_STORE(rc, s, session_insert, session);
	return rc;
}

static int h_session_create(struct esc_http_call *call)
{
	static const char *const fields[] = {"email", "password", NULL};
	const char *email, *password;
	struct esc_user u;
	struct esc_session session;
	unsigned char raw[32], csrf_raw[24];
	char token[ESC_HASH_HEX_SIZE];
	int rc = only_fields(call, fields);
	if (!rc)
		rc = get_string(call, "email", true, &email);
	if (!rc)
		rc = get_string(call, "password", true, &password);
	if (rc)
		return rc;
	/* Failures are limited per account and address, per account (found
	 * or not) and per address; the rule is in ratelimit.h. The attempt
	 * counts as a failure until its password is found right. */
	struct esc_signin_attempt attempt;
	int64_t retry = 0;
	rc = esc_ratelimit_signin_begin(call->e, &call->limits->by_account,
					&call->limits->by_address, email, call->address,
					esc_engine_now(call->e), &attempt, &retry);
	if (rc == ESC_ERATE) {
		snprintf(call->retry_after, sizeof call->retry_after, "%lld",
			 (long long)((retry + 999) / 1000));
		return fail(call, ESC_ERATE, "too many sign-in attempts; try again in %s seconds",
			    call->retry_after);
	}
	if (rc)
		return rc;
	struct esc_store *s = esc_engine_store_acquire(call->e);
	ESC_STORE(rc, s, user_by_email, email, &u);
	esc_engine_store_release(call->e, s);
	if (rc && rc != ESC_ENOTFOUND)
		return rc;
	/* argon2id is slow by design: a bounded number run at once. An
	 * unknown email is checked against a hash too, so that the answer's
	 * time does not tell which emails exist. */
	sem_wait(&call->limits->hashing);
	bool bad = crypto_pwhash_str_verify(rc ? dummy_hash(call->e) : u.password_hash, password,
					    strlen(password)) != 0;
	sem_post(&call->limits->hashing);
	if (rc || bad)
		return fail(call, ESC_EUNAUTH, "the email or the password is wrong", NULL);
	rc = esc_ratelimit_signin_succeeded(call->e, &attempt);
	if (rc)
		return rc;
	randombytes_buf(raw, sizeof raw);
	randombytes_buf(csrf_raw, sizeof csrf_raw);
	sodium_bin2hex(token, sizeof token, raw, sizeof raw);
	memset(&session, 0, sizeof session);
	crypto_generichash((unsigned char *)raw, sizeof raw, (const unsigned char *)token,
			   strlen(token), NULL, 0);
	sodium_bin2hex(session.token_hash, sizeof session.token_hash, raw, sizeof raw);
	sodium_bin2base64(session.csrf, sizeof session.csrf, csrf_raw, sizeof csrf_raw,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	snprintf(session.user_id, sizeof session.user_id, "%s", u.id);
	session.created_at_ms = session.last_seen_ms = esc_engine_now(call->e);
	rc = esc_engine_transact(call->e, session_insert_tx, &session);
	if (rc)
		return rc;
	snprintf(call->set_cookie, sizeof call->set_cookie,
		 "escrowd_session=%s; Path=/; HttpOnly; SameSite=Strict%s", token,
		 call->cookie_secure ? "; Secure" : "");
	call->status = 201;
	call->out = json_pack("{s:s, s:s, s:o}", "token", token, "csrf_token", session.csrf, "user",
			      user_json(&u));
	return 0;
}

static int h_session_delete(struct esc_http_call *call)
{
	int rc;
	if (call->caller.kind != ESC_CALLER_USER)
		return fail(call, ESC_EINVAL, "only a session can sign out", NULL);
	rc = esc_http_session_delete(call->e, call->caller.token_hash);
	if (rc)
		return rc;
	snprintf(call->set_cookie, sizeof call->set_cookie,
		 "escrowd_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0%s",
		 call->cookie_secure ? "; Secure" : "");
	call->out = json_pack("{s:b}", "signed_out", 1);
	return 0;
}

/* The web's order tabs and the states each holds (issue 17): /v1/me's
 * order_counts, so that the tabs count without listing every order. */
static const struct {
	const char *tab;
	int states[3]; /* -1 ends */
} order_tabs[] = {
	{"awaiting_payment", {ESC_ST_AWAITING_PAYMENT, -1, -1}},
	{"awaiting_shipment", {ESC_ST_AWAITING_SHIPMENT, ESC_ST_CANCELLATION_REQUESTED, -1}},
	{"shipped", {ESC_ST_SHIPPED, ESC_ST_DELIVERED, -1}},
	{"disputes", {ESC_ST_IN_DISPUTE, -1, -1}},
	{"completed", {ESC_ST_COMPLETED, -1, -1}},
	{"cancelled", {ESC_ST_CANCELLED, ESC_ST_CLOSED, -1}},
};

/* A buyer's or seller's number of orders in each tab ("all" too), or
 * NULL with *rc the store's failure. */
static json_t *order_counts_json(struct esc_http_call *call, struct esc_store *s, int *rc)
{
	int64_t counts[ESC_ST_COUNT], all = 0;
	bool buyer = call->caller.user.role == ESC_ACTOR_BUYER;
	ESC_STORE(*rc, s, orders_count, buyer ? call->caller.user.id : NULL,
		  buyer ? NULL : call->caller.user.id, counts);
	if (*rc)
		return NULL;
	json_t *j = json_object();
	for (int i = 0; i < ESC_ST_COUNT; i++)
		all += counts[i];
	json_object_set_new(j, "all", json_integer((json_int_t)all));
	for (size_t t = 0; t < sizeof order_tabs / sizeof order_tabs[0]; t++) {
		int64_t n = 0;
		for (int k = 0; k < 3 && order_tabs[t].states[k] >= 0; k++)
			n += counts[order_tabs[t].states[k]];
		json_object_set_new(j, order_tabs[t].tab, json_integer((json_int_t)n));
	}
	return j;
}

/* The caller; for a session, its CSRF token (a page that reloads keeps
 * its cookie but not its memory), and escrowd's time (deadlines count down
 * from it, manual clock or not); a buyer's or seller's unread counts and
 * order_counts. */
static bool caller_is_party_role(const struct esc_http_call *call);
static int me_unread(struct esc_http_call *call, struct esc_store *s);

/* The caller's balances, one per currency: a buyer's store balance (what
 * refunds to the balance brought, less what paid from it), a seller's
 * payable one (what was released to them, less what disputes took back). */
static json_t *balances_json(struct esc_http_call *call, struct esc_store *s, int *rc)
{
	struct esc_balance b[16];
	char account[ESC_ACCOUNT_SIZE];
	size_t n = 0;
	if (call->caller.user.role == ESC_ACTOR_SELLER)
		esc_account_seller(account, call->caller.user.id);
	else
		esc_account_buyer(account, call->caller.user.id);
	ESC_STORE(*rc, s, balances_of, account, b, sizeof b / sizeof b[0], &n);
	if (*rc)
		return NULL;
	json_t *list = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(list, json_pack("{s:s, s:I}", "currency", b[i].currency,
						      "amount", (json_int_t)b[i].amount_minor));
	return list;
}

static int h_me(struct esc_http_call *call)
{
	if (call->caller.kind == ESC_CALLER_OPERATOR)
		call->out = json_pack("{s:s}", "role", "operator");
	else
		call->out = user_json(&call->caller.user);
	if (call->caller.kind == ESC_CALLER_USER)
		json_object_set_new(call->out, "csrf_token", json_string(call->caller.csrf));
	json_object_set_new(call->out, "now", time_or_null(esc_engine_now(call->e)));
	if (call->caller.kind == ESC_CALLER_USER && call->caller.user.role == ESC_ACTOR_BUYER) {
		int rc = 0;
		struct esc_store *s = esc_engine_store_acquire(call->e);
		json_t *budget = esc_view_cancel_budget(call->e, s, call->caller.user.id, &rc);
		esc_engine_store_release(call->e, s);
		if (!budget) {
			/* The refusal's own document, not half of this one. */
			json_decref(call->out);
			call->out = NULL;
			return rc;
		}
		json_object_set_new(call->out, "cancellation_budget", budget);
	}
	if (caller_is_party_role(call)) {
		struct esc_store *s = esc_engine_store_acquire(call->e);
		int rc = me_unread(call, s);
		json_t *counts = rc ? NULL : order_counts_json(call, s, &rc);
		json_t *balances = rc ? NULL : balances_json(call, s, &rc);
		esc_engine_store_release(call->e, s);
		if (rc) {
			json_decref(counts);
			json_decref(call->out);
			call->out = NULL;
			return rc;
		}
		json_object_set_new(call->out, "order_counts", counts);
		json_object_set_new(call->out, "balances", balances);
	}
	return 0;
}

static int h_reasons(struct esc_http_call *call)
{
	const struct esc_policy *p = esc_engine_policy(call->e);
	json_t *data = json_array();
	for (size_t i = 0; i < p->reasons_count; i++) {
		const struct esc_reason *r = &p->reasons[i];
		json_array_append_new(
			data, json_pack("{s:s, s:s, s:s, s:b}", "code", r->code, "label", r->label,
					"fault", r->fault == ESC_FAULT_SELLER ? "seller" : "buyer",
					"recommended", r->recommended));
	}
	call->out = json_pack("{s:o, s:b}", "data", data, "has_more", 0);
	return 0;
}

/* Policy versions (issue 16): GET /v1/policies and /v1/policies/{id}. */

/* A window in seconds, the API's unit for lengths of time (a whole number
 * unless the configuration gave milliseconds). */
static json_t *seconds_json(int64_t ms)
{
	return ms % 1000 ? json_real((double)ms / 1000.0) : json_integer((json_int_t)(ms / 1000));
}

/* The policy's members by their names in the API: windows (int64_t ms)
 * and whole numbers (int32_t). */
struct policy_field {
	const char *name;
	size_t offset;
};

/* clang-format off */
static const struct policy_field policy_windows[] = {
#define W(f) {#f "_seconds", offsetof(struct esc_policy, f##_ms)}
	W(payment_window),
	W(ship_window),
	W(response_window),
	W(protection_extra),
	W(confirm_window),
	W(dispute_after_completion),
	W(dispute_seller_window),
	W(dispute_buyer_window),
	W(return_ship_window),
	W(return_receive_window),
	W(refund_alert),
	W(buyer_short_window),
	W(buyer_long_window),
	W(seller_window),
#undef W
};
static const struct policy_field policy_numbers[] = {
#define N(f) {#f, offsetof(struct esc_policy, f)}
	N(delivery_days_default),
	N(delivery_days_max),
	N(cancel_requests_max),
	N(watch_cancellations),
	N(restricted_cancellations),
	N(restricted_rate_percent),
	N(restricted_rate_min_paid),
	N(suspended_cancellations),
	N(suspended_lost_disputes),
	N(seller_min_orders),
	N(seller_weight_fault_cancel),
	N(seller_weight_missed_ship),
	N(seller_weight_lost_dispute),
	N(seller_weight_invalid_tracking),
	N(fee_basis_points),
#undef N
};
/* clang-format on */

/* The policy's values, named by their configuration keys (docs/policies.md),
 * windows with the unit last. */
static json_t *policy_values_json(const struct esc_policy *p)
{
	json_t *v = json_object(), *settle = json_object(), *reasons = json_array(),
	       *carriers = json_array();
	for (size_t i = 0; i < sizeof policy_windows / sizeof policy_windows[0]; i++) {
		int64_t ms;
		memcpy(&ms, (const char *)p + policy_windows[i].offset, sizeof ms);
		json_object_set_new(v, policy_windows[i].name, seconds_json(ms));
	}
	for (size_t i = 0; i < sizeof policy_numbers / sizeof policy_numbers[0]; i++) {
		int32_t n;
		memcpy(&n, (const char *)p + policy_numbers[i].offset, sizeof n);
		json_object_set_new(v, policy_numbers[i].name, json_integer(n));
	}
	for (int m = 0; m < ESC_METHOD_COUNT; m++)
		json_object_set_new(settle, esc_method_name((enum esc_method)m),
				    json_pack("{s:i, s:i}", "min", (int)p->settle_days_min[m],
					      "max", (int)p->settle_days_max[m]));
	json_object_set_new(v, "settle_days", settle);
	for (size_t i = 0; i < p->reasons_count; i++) {
		const struct esc_reason *r = &p->reasons[i];
		json_array_append_new(reasons,
				      json_pack("{s:s, s:s, s:s, s:b}", "code", r->code, "label",
						r->label, "fault",
						r->fault == ESC_FAULT_SELLER ? "seller" : "buyer",
						"recommended", r->recommended));
	}
	json_object_set_new(v, "reasons", reasons);
	for (size_t i = 0; i < p->carriers_count; i++) {
		const struct esc_carrier *c = &p->carriers[i];
		json_array_append_new(carriers, json_pack("{s:s, s:s, s:s, s:s?}", "name", c->name,
							  "scheme", esc_check_scheme_name(c->check),
							  "pattern", c->pattern, "example",
							  c->example[0] ? c->example : NULL));
	}
	json_object_set_new(v, "carriers", carriers);
	json_object_set_new(
		v, "tracking_check",
		json_string(p->tracking_check == ESC_TRACKING_FLAG ? "flag" : "refuse"));
	return v;
}

/* One version as the API shows it, its values parsed (once per engine)
 * from its text. */
static int policy_json(struct esc_engine *e, struct esc_store *s, const struct esc_policy_row *row,
		       json_t **out)
{
	const struct esc_policy *p = NULL;
	int rc = esc_engine_policy_of(e, s, row->version, &p);
	*out = NULL;
	if (rc)
		return rc;
	*out = json_pack("{s:o, s:s, s:o, s:b, s:o, s:s}", "id", esc_view_policy_id(row->version),
			 "hash", row->hash, "created_at", esc_view_time(row->created_at_ms),
			 "current", row->version == esc_engine_policy_version(e), "values",
			 policy_values_json(p), "text", row->text);
	return *out ? 0 : ESC_ENOMEM;
}

/* "pol_N" to N; false for anything else. */
static bool policy_id_parse(const char *id, int64_t *version)
{
	char *end;
	if (!id || strncmp(id, "pol_", 4) || id[4] < '1' || id[4] > '9')
		return false;
	long long n = strtoll(id + 4, &end, 10);
	if (*end || n < 1 || n > INT32_MAX)
		return false;
	*version = n;
	return true;
}

/* The versions, oldest first. */
static int h_policies_list(struct esc_http_call *call)
{
	const char *after = esc_http_query(call, "starting_after");
	int64_t after_version = 0;
	size_t n = 0, limit;
	int rc = page_limit(call, &limit);
	if (!rc && after && !policy_id_parse(after, &after_version))
		rc = fail(call, ESC_EINVAL,
			  "starting_after must be a policy version's id (pol_...)", NULL);
	if (rc)
		return rc;
	struct esc_policy_row *rows = calloc(limit + 1, sizeof *rows);
	json_t *data = json_array();
	rc = rows && data ? 0 : ESC_ENOMEM;
	struct esc_store *s = esc_engine_store_acquire(call->e);
	if (!rc)
		ESC_STORE(rc, s, policies_list, after_version, rows, limit + 1, &n);
	bool more = n > limit;
	for (size_t i = 0; !rc && i < (more ? limit : n); i++) {
		json_t *one = NULL;
		rc = policy_json(call->e, s, &rows[i], &one);
		if (!rc)
			json_array_append_new(data, one);
	}
	esc_engine_store_release(call->e, s);
	if (!rc) {
		call->out = json_pack("{s:o, s:b}", "data", data, "has_more", more);
		data = NULL;
	}
	for (size_t i = 0; rows && i < n; i++)
		free(rows[i].text);
	free(rows);
	json_decref(data);
	return rc;
}

/* One version by its id. */
static int h_policy_get(struct esc_http_call *call)
{
	struct esc_policy_row row = {0};
	int64_t version = 0;
	int rc = 0;
	if (!policy_id_parse(call->param, &version))
		return fail(call, ESC_ENOTFOUND,
			    "no policy version '%.40s': ids are pol_ and a number, as GET "
			    "/v1/policies lists them",
			    call->param);
	struct esc_store *s = esc_engine_store_acquire(call->e);
	ESC_STORE(rc, s, policy_get, version, &row);
	if (!rc)
		rc = policy_json(call->e, s, &row, &call->out);
	esc_engine_store_release(call->e, s);
	free(row.text);
	if (rc == ESC_ENOTFOUND)
		rc = fail(
			call, ESC_ENOTFOUND,
			"no policy version '%.40s': GET /v1/policies lists the versions there are",
			call->param);
	return rc;
}

/* The catalogue of rules (issue 16; core/rules.h): each rule's sentence
 * with the running policy's numbers in both languages, and its templates
 * for deadlines and events. */
static int h_rules(struct esc_http_call *call)
{
	const struct esc_policy *p = esc_engine_policy(call->e);
	json_t *data = json_array();
	for (int r = 0; r < ESC_RULE_COUNT; r++) {
		const struct esc_rule_info *info = esc_rule((enum esc_rule)r);
		json_t *keys = json_array(), *rule = json_object(), *templates = json_object();
		char buf[400], *save = NULL;
		snprintf(buf, sizeof buf, "%s", info->keys);
		for (char *k = strtok_r(buf, " ", &save); k; k = strtok_r(NULL, " ", &save))
			json_array_append_new(keys, json_string(k));
		for (int l = 0; l < ESC_LANG_COUNT; l++) {
			char says[600];
			const struct esc_rule_text *t = &info->text[l];
			esc_rule_says(p, (enum esc_rule)r, (enum esc_lang)l, says, sizeof says);
			json_object_set_new(rule, esc_lang_name((enum esc_lang)l),
					    json_string(says));
			json_object_set_new(templates, esc_lang_name((enum esc_lang)l),
					    json_pack("{s:s, s:s, s:s}", "rule", t->says, "passes",
						      t->passes, "passed", t->passed));
		}
		json_array_append_new(
			data, json_pack("{s:s, s:o, s:o, s:o, s:o}", "id", info->id, "keys", keys,
					"event",
					*info->decides ? json_string(info->decides) : json_null(),
					"rule", rule, "templates", templates));
	}
	call->out = json_pack("{s:o, s:b}", "data", data, "has_more", 0);
	return 0;
}

/* The dispute grounds (SPEC §5) and when each may be opened, for the help
 * page: the order must be shipped (not_delivered: past its promised
 * delivery date without delivery, as guard_open_dispute in core/order.c
 * decides), and a completed order stays open to a dispute for the
 * policy's dispute_after_completion. */
static int h_dispute_grounds(struct esc_http_call *call)
{
	/* clang-format off */
	static const struct {
		const char *ground, *opens, *says[ESC_LANG_COUNT];
	} grounds[] = {
		{"invalid_tracking", "shipped", {
		 "A dispute that the tracking number is invalid or belongs to another parcel "
		 "can be opened once the order is shipped, and until {window} after it is "
		 "completed.",
		 "Opna má ágreiningsmál um að rakningarnúmerið sé ógilt eða tilheyri annarri "
		 "sendingu þegar pöntunin hefur verið send, og innan {window} frá því að henni "
		 "lýkur."}},
		{"not_as_described", "shipped", {
		 "A dispute that the goods arrived in poor quality or not as described can be "
		 "opened once the order is shipped, and until {window} after it is completed.",
		 "Opna má ágreiningsmál um að varan hafi borist í lélegu ástandi eða ekki eins "
		 "og henni var lýst þegar pöntunin hefur verið send, og innan {window} frá því "
		 "að henni lýkur."}},
		{"not_delivered", "promised_delivery_passed", {
		 "A dispute that the parcel never came can be opened once the promised delivery "
		 "date has passed without delivery, and until {window} after the order is "
		 "completed.",
		 "Opna má ágreiningsmál um að sendingin hafi ekki borist þegar lofaður "
		 "afhendingardagur er liðinn án afhendingar, og innan {window} frá því að "
		 "pöntuninni lýkur."}},
	};
	/* clang-format on */
	_Static_assert(sizeof grounds / sizeof grounds[0] == ESC_GROUND_COUNT,
		       "every ground is said");
	const struct esc_policy *p = esc_engine_policy(call->e);
	json_t *data = json_array();
	for (size_t g = 0; g < sizeof grounds / sizeof grounds[0]; g++) {
		json_t *says = json_object();
		for (int l = 0; l < ESC_LANG_COUNT; l++) {
			char window[64], out[600];
			esc_rule_window(p->dispute_after_completion_ms, (enum esc_lang)l, window,
					sizeof window);
			const struct esc_rule_var var = {"window", window};
			esc_rule_render(grounds[g].says[l], (enum esc_lang)l, &var, 1, out,
					sizeof out);
			json_object_set_new(says, esc_lang_name((enum esc_lang)l),
					    json_string(out));
		}
		json_array_append_new(data, json_pack("{s:s, s:s, s:o, s:o}", "ground",
						      grounds[g].ground, "opens", grounds[g].opens,
						      "after_completion_seconds",
						      seconds_json(p->dispute_after_completion_ms),
						      "rule", says));
	}
	call->out = json_pack("{s:o, s:b}", "data", data, "has_more", 0);
	return 0;
}

#define ITEMS_JSON_MAX ESC_ITEMS_MAX

/* A refusal with what to do about it (SPEC §7). */
static int fail_hint(struct esc_http_call *call, int rc, const char *msg, const char *hint)
{
	fail(call, rc, "%s", msg);
	json_object_set_new(json_object_get(call->out, "error"), "hint", json_string(hint));
	return rc;
}

/* Whether url starts with one of the configuration's image origins and a
 * path ("https://img.example.com/a.png" under "https://img.example.com"). */
static bool image_origin_allowed(const char *origins, const char *url)
{
	for (const char *o = origins; *o;) {
		o += strspn(o, " ");
		size_t len = strcspn(o, " ");
		if (len && !strncasecmp(o, url, len) && url[len] == '/')
			return true;
		o += len;
	}
	return false;
}

/* Item i's image_url (issue 17) into out: a URL of printable ASCII
 * without quotes, spaces or angle brackets, at most ESC_IMAGE_URL_MAX
 * bytes, under one of http.image_origins, so that the page's
 * Content-Security-Policy lets the browser load it. Refused at creation
 * rather than taken and left for the browser to block: a marketplace
 * learns of its mistake when it makes it. */
static int image_url_from_json(struct esc_http_call *call, size_t i, json_t *v, char *out,
			       size_t out_size)
{
	const char *origins = call->opt ? call->opt->image_origins : "";
	char msg[300];
	if (!v || json_is_null(v))
		return 0;
	bool ok = json_is_string(v) && json_string_length(v) <= ESC_IMAGE_URL_MAX &&
		  strlen(json_string_value(v)) == json_string_length(v);
	for (const char *c = ok ? json_string_value(v) : ""; ok && *c; c++)
		ok = *c > ' ' && *c < 0x7f && !strchr("\"'<>\\^`{|}", *c);
	if (!ok) {
		snprintf(msg, sizeof msg,
			 "items[%zu].image_url must be a URL of at most %d bytes of printable "
			 "ASCII, without spaces, quotes or angle brackets",
			 i, ESC_IMAGE_URL_MAX);
		return fail_hint(call, ESC_EINVAL, msg,
				 "Send the picture's address percent-encoded, or leave image_url "
				 "out");
	}
	if (!origins[0]) {
		snprintf(msg, sizeof msg,
			 "items[%zu].image_url: this escrowd takes no pictures (http.image_origins "
			 "is not set)",
			 i);
		return fail_hint(call, ESC_EINVAL, msg,
				 "Leave image_url out, or ask the operator to list the pictures' "
				 "origins in http.image_origins");
	}
	if (!image_origin_allowed(origins, json_string_value(v))) {
		snprintf(
			msg, sizeof msg,
			"items[%zu].image_url is not under one of the allowed image origins:%.150s",
			i, origins);
		return fail_hint(call, ESC_EINVAL, msg,
				 "Serve the picture from one of those origins, or ask the operator "
				 "to add its origin to http.image_origins");
	}
	snprintf(out, out_size, "%s", json_string_value(v));
	return 0;
}

/* An order's items (SPEC §7: 1 to 100, each a title, a whole quantity and
 * a whole unit_price) into items, which holds json_array_size(list). */
static int items_from_json(struct esc_http_call *call, json_t *list, struct esc_item *items)
{
	static const char *const item_fields[] = {"title", "quantity", "unit_price", "image_url",
						  NULL};
	size_t i;
	json_t *it;
	json_array_foreach(list, i, it)
	{
		json_t *title = json_object_get(it, "title"),
		       *qty = json_object_get(it, "quantity"),
		       *price = json_object_get(it, "unit_price");
		const char *key;
		json_t *v;
		if (!json_is_object(it))
			return fail(call, ESC_EINVAL, "each item must be an object", NULL);
		json_object_foreach(it, key, v)
		{
			bool known = false;
			for (const char *const *a = item_fields; *a && !known; a++)
				known = !strcmp(*a, key);
			if (!known)
				return fail(call, ESC_EINVAL, "unknown item field '%s'", key);
		}
		if (!json_is_string(title) || json_string_length(title) > ESC_TITLE_MAX ||
		    !json_is_integer(qty) || !json_is_integer(price))
			return fail(
				call, ESC_EINVAL,
				"each item needs a title (at most 200 bytes), a whole quantity and "
				"a whole unit_price in minor units",
				NULL);
		char field[48];
		snprintf(field, sizeof field, "items[%zu].title", i);
		int rc = text_ok(call, field, json_string_value(title), ESC_TEXT_LINE);
		if (rc)
			return rc;
		snprintf(items[i].title, sizeof items[i].title, "%s", json_string_value(title));
		items[i].quantity = (int64_t)json_integer_value(qty);
		items[i].unit_price_minor = (int64_t)json_integer_value(price);
		rc = image_url_from_json(call, i, json_object_get(it, "image_url"),
					 items[i].image_url, sizeof items[i].image_url);
		if (rc)
			return rc;
	}
	return 0;
}

static int h_order_create(struct esc_http_call *call)
{
	static const char *const fields[] = {"buyer_id", "seller_id",     "currency",
					     "items",    "delivery_days", NULL};
	struct command_run *run = command_run_new();
	int64_t days = 0;
	if (!run)
		return ESC_ENOMEM;
	struct esc_command *cmd = &run->cmd;
	int rc = only_fields(call, fields);
	command_for(call, cmd, ESC_EV_CREATE);
	if (!rc)
		rc = get_string(call, "buyer_id", true, &cmd->args.buyer_id);
	if (!rc)
		rc = get_string(call, "seller_id", true, &cmd->args.seller_id);
	if (!rc)
		rc = get_string(call, "currency", true, &cmd->args.currency);
	if (!rc)
		rc = get_int(call, "delivery_days", false, &days);
	if (!rc && !esc_currency_valid(cmd->args.currency))
		rc = fail(call, ESC_EINVAL,
			  "'currency' must be an active ISO 4217 code such as EUR, USD or ISK, "
			  "not '%.8s'",
			  cmd->args.currency);
	if (!rc && (days < 0 || days > esc_engine_policy(call->e)->delivery_days_max)) {
		char why[120];
		snprintf(why, sizeof why,
			 "delivery_days must be from 1 to %d (left out: the policy's %d)",
			 (int)esc_engine_policy(call->e)->delivery_days_max,
			 (int)esc_engine_policy(call->e)->delivery_days_default);
		rc = fail(call, ESC_EINVAL, "%s", why);
	}
	cmd->args.delivery_days = (int32_t)days;
	json_t *list = json_object_get(call->body, "items");
	if (!rc && (!json_is_array(list) || json_array_size(list) == 0 ||
		    json_array_size(list) > ITEMS_JSON_MAX))
		rc = fail(call, ESC_EINVAL, "items must be a list of 1 to 100 items", NULL);
	if (!rc) {
		run->items = calloc(json_array_size(list), sizeof *run->items);
		rc = run->items ? items_from_json(call, list, run->items) : ESC_ENOMEM;
	}
	if (rc) {
		command_run_release(&run->pending);
		return rc;
	}
	cmd->args.items = run->items;
	cmd->args.items_count = json_array_size(list);
	return command_reply(call, run, esc_event_spec(ESC_EV_CREATE)->creates);
}

/* The order, if the caller may see it: another party's order is not
 * found, so its existence is not revealed. The caller holds the store. */
static int visible_order_held(struct esc_http_call *call, struct esc_store *s, struct esc_order *o)
{
	int rc;
	ESC_STORE(rc, s, order_get, call->param, o);
	if (!rc && call->caller.kind == ESC_CALLER_USER &&
	    !esc_order_visible(call->caller.user.role, call->caller.user.id, o))
		rc = ESC_ENOTFOUND;
	if (rc == ESC_ENOTFOUND)
		return fail(call, rc, "no such order", NULL);
	return rc;
}

static int visible_order(struct esc_http_call *call, struct esc_order *o)
{
	struct esc_store *s = esc_engine_store_acquire(call->e);
	int rc = visible_order_held(call, s, o);
	esc_engine_store_release(call->e, s);
	return rc;
}

static int h_order_get(struct esc_http_call *call)
{
	struct esc_order o;
	struct esc_store *s = esc_engine_store_acquire(call->e);
	int rc = visible_order_held(call, s, &o);
	if (!rc && !order_text(call, s, &o))
		call->out = order_json(call, s, &o);
	esc_engine_store_release(call->e, s);
	if (!rc)
		snprintf(call->etag, sizeof call->etag, "\"%lld\"", (long long)o.version);
	return rc;
}

static int h_order_events(struct esc_http_call *call)
{
	struct esc_order o;
	struct esc_history *h = NULL;
	size_t n = 0, limit;
	int64_t after;
	int rc = page_limit(call, &limit);
	if (!rc)
		rc = page_after_number(call, "a version of the order", &after);
	if (!rc)
		rc = visible_order(call, &o);
	if (rc)
		return rc;
	h = calloc(limit + 1, sizeof *h);
	if (!h)
		return ESC_ENOMEM;
	struct esc_store *s = esc_engine_store_acquire(call->e);
	ESC_STORE(rc, s, history_list, o.id, after, h, limit + 1, &n);
	esc_engine_store_release(call->e, s);
	if (!rc) {
		json_t *data = json_array();
		bool more = n > limit;
		n = more ? limit : n;
		for (size_t i = 0; i < n; i++)
			json_array_append_new(data, esc_view_history(&h[i]));
		call->out = json_pack("{s:o, s:b}", "data", data, "has_more", more);
	}
	free(h);
	return rc;
}

static int h_messages_list(struct esc_http_call *call)
{
	struct esc_order o;
	struct esc_message *m = NULL;
	size_t n = 0, limit;
	int64_t after;
	int rc = page_limit(call, &limit);
	if (!rc)
		rc = page_after_number(call, "a message's seq", &after);
	if (!rc)
		rc = visible_order(call, &o);
	if (rc)
		return rc;
	m = calloc(limit + 1, sizeof *m);
	if (!m)
		return ESC_ENOMEM;
	struct esc_store *s = esc_engine_store_acquire(call->e);
	ESC_STORE(rc, s, messages_list, o.id, after, m, limit + 1, &n);
	esc_engine_store_release(call->e, s);
	if (!rc) {
		json_t *data = json_array();
		bool more = n > limit;
		n = more ? limit : n;
		for (size_t i = 0; i < n; i++)
			json_array_append_new(data, esc_view_message(&m[i]));
		call->out = json_pack("{s:o, s:b}", "data", data, "has_more", more);
	}
	free(m);
	return rc;
}

/* A message from the buyer or the seller to the other. */
static json_t *message_doc(const void *m)
{
	return esc_view_message(m);
}

struct message_post {
	struct esc_message m;
	struct esc_idem_tx k;
};

static int message_tx(struct esc_store *s, void *arg)
{
	struct message_post *x = arg;
	int rc;
	ESC_STORE(rc, s, message_append, &x->m);
	if (!rc)
		rc = esc_idem_tx_run(&x->k, s);
	return rc;
}

static int h_message_post(struct esc_http_call *call)
{
	static const char *const fields[] = {"body", NULL};
	struct esc_order o;
	struct message_post x = {.k = {.call = call, .status = 201, .doc = message_doc}};
	struct esc_message *m = &x.m;
	x.k.obj = m;
	const char *body;
	int rc = only_fields(call, fields);
	if (!rc)
		rc = get_text(call, "body", true, ESC_TEXT_LINES, &body);
	if (!rc)
		rc = visible_order(call, &o);
	if (rc)
		return rc;
	size_t len = strlen(body);
	bool printable = len > 0 && len <= ESC_TEXT_MAX;
	for (size_t i = 0; printable && i < len; i++)
		printable = (unsigned char)body[i] >= 0x20 || body[i] == '\n' || body[i] == '\t';
	if (!printable)
		return fail(call, ESC_EINVAL, "a message is 1 to 1000 printable bytes", NULL);
	snprintf(m->order_id, sizeof m->order_id, "%s", o.id);
	snprintf(m->author_id, sizeof m->author_id, "%s", call->caller.user.id);
	snprintf(m->body, sizeof m->body, "%s", body);
	m->role = call->caller.user.role;
	m->at_ms = esc_engine_now(call->e);
	rc = esc_engine_transact(call->e, message_tx, &x);
	esc_idem_done(call, rc, x.k.built);
	if (rc)
		return rc;
	call->status = 201;
	call->out = esc_view_message(m);
	return 0;
}

/* ---- the inbox: unread messages, conversations, notifications (issue 17) ---- */

/* The caller is a buyer or a seller (the inbox's people). */
static bool caller_is_party_role(const struct esc_http_call *call)
{
	return call->caller.kind == ESC_CALLER_USER && (call->caller.user.role == ESC_ACTOR_BUYER ||
							call->caller.user.role == ESC_ACTOR_SELLER);
}

struct messages_read {
	const char *order_id, *user_id;
	int64_t seq, unread;
	struct esc_idem_tx k;
};

static json_t *messages_read_doc(const void *arg)
{
	const struct messages_read *x = arg;
	return json_pack("{s:s, s:I}", "order_id", x->order_id, "unread_messages",
			 (json_int_t)x->unread);
}

static int messages_read_tx(struct esc_store *s, void *arg)
{
	struct messages_read *x = arg;
	int rc;
	ESC_STORE(rc, s, message_read, x->order_id, x->user_id, x->seq);
	if (!rc)
		ESC_STORE(rc, s, messages_unread, x->user_id, x->order_id, &x->unread);
	if (!rc)
		rc = esc_idem_tx_run(&x->k, s);
	return rc;
}

/* POST /v1/orders/{id}/messages/read: the caller read the order's
 * messages up to seq (one they were shown). Idempotent: the marker never
 * moves back. */
static int h_messages_read(struct esc_http_call *call)
{
	static const char *const fields[] = {"seq", NULL};
	struct esc_order o;
	struct esc_message m;
	size_t n = 0;
	int64_t seq = 0;
	int rc = only_fields(call, fields);
	if (!rc)
		rc = get_int(call, "seq", true, &seq);
	if (!rc)
		rc = visible_order(call, &o);
	if (rc)
		return rc;
	if (seq > 0) {
		struct esc_store *s = esc_engine_store_acquire(call->e);
		ESC_STORE(rc, s, messages_list, o.id, seq - 1, &m, 1, &n);
		esc_engine_store_release(call->e, s);
		if (rc)
			return rc;
	}
	if (seq < 0 || (seq > 0 && (n != 1 || m.seq != seq))) {
		fail(call, ESC_EINVAL, "seq must be the seq of one of the order's messages", NULL);
		json_object_set_new(json_object_get(call->out, "error"), "hint",
				    json_string("send the seq of the newest message shown, from "
						"GET /v1/orders/{id}/messages"));
		return ESC_EINVAL;
	}
	struct messages_read x = {.order_id = o.id,
				  .user_id = call->caller.user.id,
				  .seq = seq,
				  .k = {.call = call, .status = 200, .doc = messages_read_doc}};
	x.k.obj = &x;
	rc = esc_engine_transact(call->e, messages_read_tx, &x);
	esc_idem_done(call, rc, x.k.built);
	if (rc)
		return rc;
	call->out = messages_read_doc(&x);
	return 0;
}

/* Whether order_id is one of user_id's conversations: an order of theirs
 * that holds a message. The list's cursor is one; its place in the list
 * is read from it, so an unknown one starts no page. */
static bool conversation_known(struct esc_store *s, const char *user_id, const char *order_id)
{
	struct esc_order o;
	struct esc_message m;
	size_t n = 0;
	int rc;
	ESC_STORE(rc, s, order_get, order_id, &o);
	if (rc || (strcmp(o.buyer_id, user_id) && strcmp(o.seller_id, user_id)))
		return false;
	ESC_STORE(rc, s, messages_list, order_id, 0, &m, 1, &n);
	return !rc && n == 1;
}

/* GET /v1/conversations: the caller's orders that hold messages, unread
 * ones first, then the newest message first. */
static int h_conversations(struct esc_http_call *call)
{
	struct esc_conversation *c = NULL;
	size_t n = 0, limit;
	const char *after = NULL;
	int rc = page_limit(call, &limit);
	if (!rc)
		rc = page_after_id(call, "ord_", "an order's", "ord_...", &after);
	if (rc)
		return rc;
	c = calloc(limit + 1, sizeof *c);
	if (!c)
		return ESC_ENOMEM;
	struct esc_store *s = esc_engine_store_acquire(call->e);
	ESC_STORE(rc, s, conversations_list, call->caller.user.id, after, c, limit + 1, &n);
	if (!rc && !n && after && !conversation_known(s, call->caller.user.id, after))
		rc = fail(call, ESC_EINVAL,
			  "starting_after names none of your conversations: send the order_id of "
			  "the last one of the page before, or none for the first page",
			  NULL);
	json_t *data = json_array();
	bool more = n > limit;
	n = more ? limit : n;
	for (size_t i = 0; !rc && i < n; i++) {
		/* The order's first item names it, as on its card. */
		struct esc_item item = {.title = ""};
		size_t got = 0;
		ESC_STORE(rc, s, order_items, c[i].last.order_id, &item, 1, &got);
		json_array_append_new(
			data, json_pack("{s:s, s:s, s:I, s:I, s:o}", "order_id", c[i].last.order_id,
					"title", item.title, "messages", (json_int_t)c[i].messages,
					"unread_messages", (json_int_t)c[i].unread, "last_message",
					esc_view_message(&c[i].last)));
	}
	esc_engine_store_release(call->e, s);
	if (!rc)
		call->out = json_pack("{s:o, s:b}", "data", data, "has_more", more);
	else
		json_decref(data);
	free(c);
	return rc;
}

/* A notification's place in the list, newest first: (at_ms, seq) for an
 * event; a reminder's seq is 0, with its order's id after. Its id says
 * it: "ntf_AT_SEQ", or "ntf_AT_0_ORDER" for a reminder. */
struct notification_key {
	int64_t at_ms, seq;
	char order_id[ESC_ID_SIZE];
};

static int key_cmp(const struct notification_key *a, const struct notification_key *b)
{
	if (a->at_ms != b->at_ms)
		return a->at_ms < b->at_ms ? -1 : 1;
	if (a->seq != b->seq)
		return a->seq < b->seq ? -1 : 1;
	return strcmp(a->order_id, b->order_id);
}

static void key_id(const struct notification_key *k, char *out, size_t size)
{
	if (k->seq)
		snprintf(out, size, "ntf_%lld_%lld", (long long)k->at_ms, (long long)k->seq);
	else
		snprintf(out, size, "ntf_%lld_0_%s", (long long)k->at_ms, k->order_id);
}

/* 0, or ESC_EINVAL when id is not a notification's. */
static int key_parse(const char *id, struct notification_key *k)
{
	char *end;
	memset(k, 0, sizeof *k);
	if (strncmp(id, "ntf_", 4) || !isdigit((unsigned char)id[4]))
		return ESC_EINVAL;
	k->at_ms = strtoll(id + 4, &end, 10);
	if (*end != '_' || !isdigit((unsigned char)end[1]))
		return ESC_EINVAL;
	k->seq = strtoll(end + 1, &end, 10);
	if (k->seq > 0 && !*end)
		return 0;
	if (k->seq == 0 && *end == '_' && end[1] && strlen(end + 1) < sizeof k->order_id) {
		snprintf(k->order_id, sizeof k->order_id, "%s", end + 1);
		return 0;
	}
	return ESC_EINVAL;
}

/* A reminder due now: an open deadline of one of the caller's orders
 * within ESC_NOTICE_REMIND_MS. */
struct reminder {
	struct notification_key key;
	enum esc_deadline_kind kind;
};

#define REMINDERS_MAX 50

/* The caller's reminders due at now, newest first (at most
 * REMINDERS_MAX: the orders with a cancellation request open). */
static int reminders_due(struct esc_http_call *call, struct esc_store *s, struct reminder *out,
			 size_t *n)
{
	const struct esc_user *u = &call->caller.user;
	struct esc_order_filter f = {.state = ESC_ST_CANCELLATION_REQUESTED};
	struct esc_order *orders = calloc(REMINDERS_MAX, sizeof *orders);
	size_t got = 0;
	bool more = false;
	int64_t now = esc_engine_now(call->e);
	int rc = orders ? 0 : ESC_ENOMEM;

	*n = 0;
	if (u->role == ESC_ACTOR_BUYER)
		f.buyer_id = u->id;
	else
		f.seller_id = u->id;
	if (!rc)
		ESC_STORE(rc, s, orders_list, &f, orders, REMINDERS_MAX, &got, &more);
	for (size_t i = 0; !rc && i < got; i++) {
		int64_t due = orders[i].due_ms[ESC_DL_RESPONSE];
		if (!due || now < due - ESC_NOTICE_REMIND_MS || now >= due)
			continue;
		struct reminder *r = &out[(*n)++];
		r->kind = ESC_DL_RESPONSE;
		r->key.at_ms = due - ESC_NOTICE_REMIND_MS;
		r->key.seq = 0;
		snprintf(r->key.order_id, sizeof r->key.order_id, "%s", orders[i].id);
	}
	free(orders);
	/* Newest first, as the list. */
	for (size_t i = 1; i < *n; i++)
		for (size_t j = i; j > 0 && key_cmp(&out[j - 1].key, &out[j].key) < 0; j--) {
			struct reminder t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return rc;
}

/* The caller's unread notifications: the events after their mark and the
 * reminders due after it. */
static int notifications_unread(struct esc_http_call *call, struct esc_store *s, int64_t *count)
{
	struct esc_notification_mark mark;
	struct reminder r[REMINDERS_MAX];
	size_t n = 0;
	int rc;
	ESC_STORE(rc, s, notification_mark, call->caller.user.id, &mark);
	if (!rc)
		ESC_STORE(rc, s, notifications_unread, call->caller.user.id, &mark, count);
	if (!rc)
		rc = reminders_due(call, s, r, &n);
	for (size_t i = 0; !rc && i < n; i++) {
		struct notification_key m = {.at_ms = mark.at_ms, .seq = mark.seq};
		if (key_cmp(&r[i].key, &m) > 0)
			(*count)++;
	}
	return rc;
}

/* The amount an event's sentence names, as the sentences say it, or ""
 * when it cannot be found (a refund purged). *order caches the order. */
static int notice_amount(struct esc_store *s, const struct esc_history_row *row,
			 struct esc_order *order, enum esc_lang lang, char *out, size_t size)
{
	const struct esc_history *h = &row->h;
	int64_t amount = -1;
	int rc = 0;
	out[0] = '\0';
	if (strcmp(order->id, h->order_id))
		ESC_STORE(rc, s, order_get, h->order_id, order);
	if (rc)
		return rc;
	if (h->event == ESC_EV_PAY || h->event == ESC_EV_COUNTER_OFFER) {
		json_t *d = json_loads(h->detail, 0, NULL);
		json_t *a = json_object_get(d, "amount");
		if (json_is_integer(a))
			amount = (int64_t)json_integer_value(a);
		json_decref(d);
	} else {
		struct esc_refund refunds[8];
		size_t n = 0;
		ESC_STORE(rc, s, refunds_list, h->order_id, -1, NULL, refunds, 8, &n);
		for (size_t i = 0; !rc && i < n; i++)
			if (refunds[i].resolved_at_ms == h->at_ms || amount < 0 ||
			    (h->event == ESC_EV_REFUND_OVERDUE &&
			     refunds[i].status == ESC_REFUND_PENDING))
				amount = refunds[i].amount_minor;
	}
	if (!rc && amount >= 0)
		esc_notice_amount(amount, order->currency, lang, out, size);
	return rc;
}

static json_t *notification_json(const struct notification_key *k, const char *order_id,
				 const char *event, const char *type, const char *sentence,
				 bool read)
{
	char id[96];
	key_id(k, id, sizeof id);
	return json_pack("{s:s, s:s, s:o, s:s, s:o, s:s, s:s, s:b}", "id", id, "kind",
			 k->seq ? "event" : "reminder", "at", time_or_null(k->at_ms), "order_id",
			 order_id, "event", event ? json_string(event) : json_null(), "type", type,
			 "sentence", sentence, "read", read);
}

/* One page of notifications: the events before the cursor from the store
 * and the reminders due now, merged newest first. */
static int notifications_page(struct esc_http_call *call, struct esc_store *s,
			      const struct notification_key *before, size_t limit, json_t *data,
			      bool *more)
{
	const struct esc_user *u = &call->caller.user;
	enum esc_lang lang = request_lang(call);
	struct esc_notification_mark cursor = {before->at_ms, before->seq}, mark;
	struct esc_history_row *rows = calloc(limit + 1, sizeof *rows);
	struct reminder r[REMINDERS_MAX];
	struct esc_order order = {.id = ""};
	size_t n = 0, nr = 0, i = 0, j = 0, taken = 0;
	char sentence[600], amount[64];
	int rc = rows ? 0 : ESC_ENOMEM;
	if (!rc)
		ESC_STORE(rc, s, notifications_list, u->id, &cursor, rows, limit + 1, &n);
	if (!rc)
		ESC_STORE(rc, s, notification_mark, u->id, &mark);
	if (!rc)
		rc = reminders_due(call, s, r, &nr);
	struct notification_key m = {.at_ms = mark.at_ms, .seq = mark.seq};
	/* Skip the reminders at or after the cursor. */
	while (!rc && j < nr && key_cmp(&r[j].key, before) >= 0)
		j++;
	while (!rc && taken < limit && (i < n || j < nr)) {
		struct notification_key ek = {0};
		if (i < n) {
			ek.at_ms = rows[i].h.at_ms;
			ek.seq = rows[i].seq;
		}
		if (i < n && (j >= nr || key_cmp(&ek, &r[j].key) > 0)) {
			const struct esc_history *h = &rows[i].h;
			if (esc_notice_has_amount(h->event))
				rc = notice_amount(s, &rows[i], &order, lang, amount,
						   sizeof amount);
			if (!rc)
				rc = esc_notice_sentence(h->event, h->to, u->role,
							 amount[0] ? amount : NULL, lang, sentence,
							 sizeof sentence);
			if (!rc)
				json_array_append_new(
					data, notification_json(&ek, h->order_id,
								esc_event_name(h->event), h->type,
								sentence, key_cmp(&ek, &m) <= 0));
			amount[0] = '\0';
			i++;
		} else {
			rc = esc_notice_reminder(r[j].kind, u->role, lang, sentence,
						 sizeof sentence);
			if (!rc)
				json_array_append_new(
					data,
					notification_json(&r[j].key, r[j].key.order_id, NULL,
							  "reminder.response_deadline", sentence,
							  key_cmp(&r[j].key, &m) <= 0));
			j++;
		}
		taken++;
	}
	*more = i < n || j < nr;
	free(rows);
	return rc;
}

/* GET /v1/notifications: what happened on the caller's orders that
 * someone else did, and the reminders due, newest first. */
static int h_notifications(struct esc_http_call *call)
{
	struct notification_key before = {.at_ms = INT64_MAX, .seq = INT64_MAX};
	const char *after = esc_http_query(call, "starting_after");
	size_t limit;
	bool more = false;
	int rc = page_limit(call, &limit);
	if (!rc && after && key_parse(after, &before))
		rc = fail(call, ESC_EINVAL, "starting_after must be a notification's id", NULL);
	if (rc)
		return rc;
	json_t *data = json_array();
	struct esc_store *s = esc_engine_store_acquire(call->e);
	rc = notifications_page(call, s, &before, limit, data, &more);
	esc_engine_store_release(call->e, s);
	if (rc) {
		json_decref(data);
		return rc;
	}
	call->out = json_pack("{s:o, s:b}", "data", data, "has_more", more);
	return 0;
}

struct notifications_read {
	const char *user_id;
	struct esc_notification_mark mark;
	struct esc_http_call *call;
	int64_t unread;
	struct esc_idem_tx k;
};

static json_t *notifications_read_doc(const void *arg)
{
	const struct notifications_read *x = arg;
	return json_pack("{s:I}", "unread_notifications", (json_int_t)x->unread);
}

static int notifications_read_tx(struct esc_store *s, void *arg)
{
	struct notifications_read *x = arg;
	int rc;
	ESC_STORE(rc, s, notification_read, x->user_id, &x->mark);
	if (!rc)
		rc = notifications_unread(x->call, s, &x->unread);
	if (!rc)
		rc = esc_idem_tx_run(&x->k, s);
	return rc;
}

/* POST /v1/notifications/read: the caller saw their notifications up to
 * `through` (a notification's id) and every one before it. */
static int h_notifications_read(struct esc_http_call *call)
{
	static const char *const fields[] = {"through", NULL};
	struct notification_key k;
	const char *through;
	int rc = only_fields(call, fields);
	if (!rc)
		rc = get_string(call, "through", true, &through);
	if (rc)
		return rc;
	if (key_parse(through, &k)) {
		fail(call, ESC_EINVAL, "through must be a notification's id", NULL);
		json_object_set_new(
			json_object_get(call->out, "error"), "hint",
			json_string("send the id of the newest notification shown, from "
				    "GET /v1/notifications"));
		return ESC_EINVAL;
	}
	struct notifications_read x = {
		.user_id = call->caller.user.id,
		.mark = {k.at_ms, k.seq},
		.call = call,
		.k = {.call = call, .status = 200, .doc = notifications_read_doc}};
	x.k.obj = &x;
	rc = esc_engine_transact(call->e, notifications_read_tx, &x);
	esc_idem_done(call, rc, x.k.built);
	if (rc)
		return rc;
	call->out = notifications_read_doc(&x);
	return 0;
}

/* /v1/me's unread counts for a buyer or a seller. The caller holds s. */
static int me_unread(struct esc_http_call *call, struct esc_store *s)
{
	int64_t messages = 0, notifications = 0;
	int rc;
	ESC_STORE(rc, s, messages_unread, call->caller.user.id, NULL, &messages);
	if (!rc)
		rc = notifications_unread(call, s, &notifications);
	if (!rc) {
		json_object_set_new(call->out, "unread_messages", json_integer(messages));
		json_object_set_new(call->out, "unread_notifications", json_integer(notifications));
	}
	return rc;
}

/* A buyer's level or a seller's score, with the counts behind it and the
 * events that moved it (engine/view.h). The caller holds the store. */
static int reputation_json(struct esc_http_call *call, struct esc_store *s,
			   const struct esc_user *u)
{
	return esc_view_reputation(call->e, s, viewer(call), u, &call->out);
}

/* A buyer's level or a seller's score: visible to everyone signed in. */
static int h_reputation(struct esc_http_call *call)
{
	struct esc_user u;
	int rc;
	struct esc_store *s = esc_engine_store_acquire(call->e);
	ESC_STORE(rc, s, user_get, call->param, &u);
	if (rc == ESC_ENOTFOUND || (!rc && u.role == ESC_ACTOR_ARBITER))
		rc = fail(call, ESC_ENOTFOUND, "no buyer or seller with this id", NULL);
	else if (!rc)
		rc = reputation_json(call, s, &u);
	esc_engine_store_release(call->e, s);
	return rc;
}

/* POST /v1/users/{id}/suspension/lift: an arbiter lifts a buyer's
 * suspension, with a written reason (SPEC §6). */
static int h_lift_suspension(struct esc_http_call *call)
{
	static const char *const fields[] = {"reason", NULL};
	const char *reason;
	struct esc_buyer_rep after;
	int rc = only_fields(call, fields);
	if (!rc)
		rc = get_text(call, "reason", true, ESC_TEXT_LINES, &reason);
	if (rc)
		return rc;
	if (!*reason || strlen(reason) > ESC_TEXT_MAX)
		return fail(call, ESC_EINVAL, "a reason of 1 to 1000 bytes is required", NULL);
	rc = esc_engine_lift_suspension(call->e, call->caller.user.id, call->param, reason, &after);
	if (rc == ESC_ENOTFOUND)
		return fail(call, rc, "no buyer with this id", NULL);
	if (rc == ESC_ESTATE)
		return fail(call, rc, "the buyer is not suspended", NULL);
	if (rc)
		return rc;
	struct esc_user u;
	struct esc_store *s = esc_engine_store_acquire(call->e);
	ESC_STORE(rc, s, user_get, call->param, &u);
	if (!rc)
		rc = reputation_json(call, s, &u);
	esc_engine_store_release(call->e, s);
	return rc;
}

/* A list's status filter: ?status=, or ?state= as its alias (issue 11
 * item 2: every lifecycle field is "status"; "state" was the order's and
 * the dispute's). NULL when neither is given; both must then agree. */
static int status_filter(struct esc_http_call *call, const char **out)
{
	const char *status = esc_http_query(call, "status"), *state = esc_http_query(call, "state");
	*out = status ? status : state;
	if (status && state && strcmp(status, state))
		return fail(call, ESC_EINVAL, "status and its alias state differ: give one", NULL);
	return 0;
}

/* created_after or created_before (issue 17): an RFC 3339 date-time, or a
 * date, which stands for the whole day (UTC): created_after from its
 * start, created_before to its end. *ms stays 0 when absent. */
static int created_bound(struct esc_http_call *call, const char *name, bool day_end, int64_t *ms)
{
	const char *v = esc_http_query(call, name);
	char full[ESC_TIME_SIZE], msg[120];
	int rc = 0;
	if (!v)
		return 0;
	size_t len = strlen(v);
	bool date = len == 10 && v[4] == '-' && v[7] == '-';
	if (date) {
		snprintf(full, sizeof full, "%sT00:00:00Z", v);
		rc = esc_time_parse(full, ms);
		if (!rc && day_end)
			*ms += 86400000;
	} else {
		rc = len < ESC_TIME_SIZE ? esc_time_parse(v, ms) : ESC_EINVAL;
	}
	if (!rc && *ms <= 0)
		rc = ESC_EINVAL;
	if (rc) {
		snprintf(msg, sizeof msg, "%s must be a date or a date-time (RFC 3339)", name);
		return fail_hint(call, ESC_EINVAL, msg,
				 "give a date such as 2026-12-03 or a date-time such as "
				 "2026-12-03T08:30:00Z");
	}
	return 0;
}

/* The order list's status: one status, or a few separated by commas
 * (a web tab's: awaiting_shipment,cancellation_requested). */
static int statuses_parse(struct esc_http_call *call, const char *v, struct esc_order_filter *f)
{
	char one[40];
	const char *at = v;
	size_t n = 0;
	for (;;) {
		size_t len = strcspn(at, ",");
		int st = -1;
		if (len < sizeof one) {
			memcpy(one, at, len);
			one[len] = '\0';
			st = esc_state_parse(one);
		}
		if (st < 0 || n > ESC_FILTER_STATES_ALSO)
			return fail_hint(
				call, ESC_EINVAL, "unknown status, or more than three",
				"give one to three of awaiting_payment, awaiting_shipment, "
				"cancellation_requested, shipped, delivered, in_dispute, "
				"completed, cancelled, closed, separated by commas");
		if (n == 0)
			f->state = st;
		else
			f->states_also[f->states_also_count++] = st;
		n++;
		if (!at[len])
			break;
		at += len + 1;
	}
	return 0;
}

/* q (issue 17): trimmed; empty is no search. */
static int search_query(struct esc_http_call *call, char out[ESC_SEARCH_MAX + 1], const char **q)
{
	const char *v = esc_http_query(call, "q");
	*q = NULL;
	if (!v)
		return 0;
	while (isspace((unsigned char)*v))
		v++;
	size_t len = strlen(v);
	while (len && isspace((unsigned char)v[len - 1]))
		len--;
	if (len > ESC_SEARCH_MAX)
		return fail_hint(call, ESC_EINVAL, "q is longer than 100 bytes",
				 "search for a shorter part of the title, or the order number");
	if (!len)
		return 0;
	memcpy(out, v, len);
	out[len] = '\0';
	*q = out;
	return 0;
}

static int h_orders_list(struct esc_http_call *call)
{
	struct esc_order_filter f = {.state = -1};
	struct esc_order *orders = NULL;
	char q[ESC_SEARCH_MAX + 1];
	const char *v;
	size_t n = 0;
	bool more = false;
	size_t limit;
	int rc = page_limit(call, &limit);
	if (!rc)
		rc = status_filter(call, &v);
	if (!rc && v)
		rc = statuses_parse(call, v, &f);
	if (!rc)
		rc = search_query(call, q, &f.q);
	if (!rc)
		rc = created_bound(call, "created_after", false, &f.created_from_ms);
	if (!rc)
		rc = created_bound(call, "created_before", true, &f.created_until_ms);
	if (!rc)
		rc = page_after_id(call, "ord_", "an order's", "ord_...", &f.starting_after);
	if (rc)
		return rc;
	if (call->caller.kind == ESC_CALLER_USER) {
		if (call->caller.user.role == ESC_ACTOR_BUYER) {
			f.buyer_id = call->caller.user.id;
		} else if (call->caller.user.role == ESC_ACTOR_SELLER) {
			f.seller_id = call->caller.user.id;
		} else {
			f.state = ESC_ST_IN_DISPUTE;
			f.states_also_count = 0;
			f.escalated = true;
		}
	}
	orders = calloc(limit, sizeof *orders);
	if (!orders)
		return ESC_ENOMEM;
	struct esc_store *s = esc_engine_store_acquire(call->e);
	ESC_STORE(rc, s, orders_list, &f, orders, limit, &n, &more);
	if (!rc) {
		json_t *data = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(data, order_json(call, s, &orders[i]));
		call->out = json_pack("{s:o, s:b}", "data", data, "has_more", more);
	}
	esc_engine_store_release(call->e, s);
	free(orders);
	return rc;
}

/* ---- disputes (SPEC §5) ---- */

static bool evidence_parse(const char *id, char order_id[ESC_ID_SIZE], int64_t *seq)
{
	const char *dash = strrchr(id, '-');
	char dsp[ESC_ID_SIZE];
	if (strncmp(id, "evd_", 4) || !dash || dash - id - 4 < 1 ||
	    (size_t)(dash - id) >= sizeof dsp)
		return false;
	snprintf(dsp, sizeof dsp, "dsp_%.*s", (int)(dash - id - 4), id + 4);
	char *end;
	long long n = strtoll(dash + 1, &end, 10);
	if (!dash[1] || *end || n < 1 || n > ESC_EVIDENCE_MAX)
		return false;
	*seq = n;
	return esc_dispute_order_id(order_id, dsp);
}

/* The order of the dispute named by call->param, if the caller may see
 * it; another party's, or an order without a dispute, is not found. The
 * caller holds the store. */
static int visible_dispute_held(struct esc_http_call *call, struct esc_store *s,
				struct esc_order *o, char order_id[ESC_ID_SIZE])
{
	const char *param = call->param;
	if (!esc_dispute_order_id(order_id, param))
		return fail(call, ESC_ENOTFOUND, "no such dispute", NULL);
	call->param = order_id;
	int rc = visible_order_held(call, s, o);
	call->param = param;
	if (rc == ESC_ENOTFOUND || (!rc && !o->disputes_count)) {
		json_decref(call->out);
		call->out = NULL;
		return fail(call, ESC_ENOTFOUND, "no such dispute", NULL);
	}
	return rc;
}

static int h_dispute_get(struct esc_http_call *call)
{
	struct esc_order o;
	char order_id[ESC_ID_SIZE];
	struct esc_store *s = esc_engine_store_acquire(call->e);
	int rc = visible_dispute_held(call, s, &o, order_id);
	if (!rc)
		rc = esc_view_dispute_full(call->e, s, viewer(call), &o, &call->out);
	esc_engine_store_release(call->e, s);
	return rc;
}

/* A file name as the uploader gave it, to show: printable, no quotes,
 * slashes or backslashes, at most 100 bytes; else refused. */
/* A file's name: printable UTF-8 (it is stored as text and listed in
 * JSON), without quotes or slashes, and one line without bidirectional
 * controls ("invoice\u202Efdp.exe" shows as "invoiceexe.pdf"). */
static bool filename_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > ESC_FILENAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (ch < 0x20 || ch == 0x7f || ch == '"' || ch == '/' || ch == '\\')
			return false;
	}
	return esc_text_check(name, n, ESC_TEXT_LINE, NULL, 0) == 0;
}

/* POST /v1/disputes/{id}/evidence: the file's bytes as the body, its type
 * in Content-Type, its name in ?filename=. */
static json_t *evidence_doc(const void *ev)
{
	return esc_view_evidence(ev);
}

static int h_evidence_add(struct esc_http_call *call)
{
	char order_id[ESC_ID_SIZE], why[200];
	struct esc_order o;
	struct esc_evidence ev;
	const char *name = esc_http_query(call, "filename");
	if (name && !filename_ok(name))
		return fail(call, ESC_EINVAL,
			    "filename is 1 to 100 bytes of UTF-8 text without quotes, slashes, "
			    "control or bidirectional control characters",
			    NULL);
	struct esc_store *s = esc_engine_store_acquire(call->e);
	int rc = visible_dispute_held(call, s, &o, order_id);
	esc_engine_store_release(call->e, s);
	if (rc)
		return rc;
	const char *type = esc_http_header(call, "Content-Type");
	char declared[64] = "";
	if (type) /* without parameters such as "; charset=" */
		snprintf(declared, sizeof declared, "%.*s", (int)strcspn(type, "; "), type);
	struct esc_idem_tx k = {.call = call, .status = 201, .doc = evidence_doc, .obj = &ev};
	struct esc_tx_hook hook = {.run = esc_idem_tx_run, .arg = &k};
	rc = esc_engine_evidence_add(call->e, call->caller.user.role, call->caller.user.id,
				     order_id, declared, name, call->file, call->file_len, &ev, why,
				     sizeof why, &hook);
	esc_idem_done(call, rc, k.built);
	if (call->idem_answered)
		return rc;
	if (rc)
		return fail(call, rc, "%s", why[0] ? why : esc_error_message(rc));
	call->status = 201;
	call->out = esc_view_evidence(&ev);
	return 0;
}

/* GET /v1/evidence/{id}: the file, to the parties and arbiters. */
static int h_evidence_get(struct esc_http_call *call)
{
	char order_id[ESC_ID_SIZE];
	int64_t seq;
	struct esc_order o;
	struct esc_evidence ev;
	void *data = NULL;
	int rc;
	if (!evidence_parse(call->param, order_id, &seq))
		return fail(call, ESC_ENOTFOUND, "no such evidence", NULL);
	struct esc_store *s = esc_engine_store_acquire(call->e);
	ESC_STORE(rc, s, order_get, order_id, &o);
	if (!rc && (call->caller.kind != ESC_CALLER_USER ||
		    !esc_order_visible(call->caller.user.role, call->caller.user.id, &o)))
		rc = ESC_ENOTFOUND;
	if (!rc)
		ESC_STORE(rc, s, evidence_get, order_id, seq, &ev, &data);
	esc_engine_store_release(call->e, s);
	if (rc == ESC_ENOTFOUND)
		return fail(call, rc, "no such evidence", NULL);
	if (rc)
		return rc;
	call->raw = data;
	call->raw_len = (size_t)ev.size;
	snprintf(call->raw_type, sizeof call->raw_type, "%s", ev.content_type);
	snprintf(call->raw_disposition, sizeof call->raw_disposition, "attachment; filename=\"%s\"",
		 ev.filename[0] ? ev.filename : "evidence");
	return 0;
}

/* The arbiter's queue: disputes by status (escalated unless status, or
 * its alias state, says otherwise), oldest first (by when each was
 * opened; issue 17), paged by dispute id. */
static int h_disputes_list(struct esc_http_call *call)
{
	struct esc_order_filter f = {.state = -1,
				     .dispute_state = ESC_DS_ESCALATED,
				     .oldest_dispute_first = true,
				     .escalated = true};
	struct esc_order *orders = NULL;
	char after[ESC_ID_SIZE];
	const char *v;
	size_t n = 0, limit;
	bool more = false;
	int rc = page_limit(call, &limit);
	if (!rc)
		rc = status_filter(call, &v);
	if (rc)
		return rc;
	if (v) {
		f.dispute_state = esc_dispute_state_parse(v);
		if (f.dispute_state <= ESC_DS_NONE)
			return fail(call, ESC_EINVAL,
				    "status must be awaiting_seller, counter_offered, rejected, "
				    "escalated, awaiting_return or resolved",
				    NULL);
	}
	if ((v = esc_http_query(call, "starting_after"))) {
		if (!esc_dispute_order_id(after, v))
			return fail(call, ESC_EINVAL, "starting_after must be a dispute id", NULL);
		f.starting_after = after;
	}
	orders = calloc(limit, sizeof *orders);
	if (!orders)
		return ESC_ENOMEM;
	struct esc_store *s = esc_engine_store_acquire(call->e);
	ESC_STORE(rc, s, orders_list, &f, orders, limit, &n, &more);
	if (!rc) {
		json_t *data = json_array();
		for (size_t i = 0; i < n; i++) {
			json_array_append_new(data, esc_view_dispute_listed(
							    call->e, s, viewer(call), &orders[i]));
		}
		call->out = json_pack("{s:o, s:b}", "data", data, "has_more", more);
	}
	esc_engine_store_release(call->e, s);
	free(orders);
	return rc;
}

static int h_refunds_list(struct esc_http_call *call)
{
	struct esc_refund r[PAGE_MAX + 1];
	const char *order_id = esc_http_query(call, "order_id"),
		   *status = esc_http_query(call, "status"), *after = NULL;
	int st = -1;
	size_t n = 0, limit;
	int rc = page_limit(call, &limit);
	if (!rc)
		rc = page_after_id(call, "ord_", "a refund's", "ord_...-r1", &after);
	if (rc)
		return rc;
	if (status && (st = esc_refund_status_parse(status)) < 0)
		return fail(call, ESC_EINVAL, "status must be pending, settled or failed", NULL);
	/* A buyer or a seller sees the refunds of their own orders: of one
	 * they may see, or of all of theirs. */
	const struct esc_user *party = NULL;
	if (call->caller.kind == ESC_CALLER_USER && order_id) {
		struct esc_order o;
		call->param = order_id;
		rc = visible_order(call, &o);
		if (rc)
			return rc;
	} else if (call->caller.kind == ESC_CALLER_USER) {
		party = &call->caller.user;
	}
	struct esc_store *s = esc_engine_store_acquire(call->e);
	if (party)
		ESC_STORE(rc, s, refunds_of, party->id, party->role == ESC_ACTOR_SELLER, st, after,
			  r, limit + 1, &n);
	else
		ESC_STORE(rc, s, refunds_list, order_id, st, after, r, limit + 1, &n);
	esc_engine_store_release(call->e, s);
	if (rc)
		return rc;
	bool more = n > limit;
	n = more ? limit : n;
	json_t *data = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(data, esc_view_refund(&r[i]));
	call->out = json_pack("{s:o, s:b}", "data", data, "has_more", more);
	return 0;
}

/* ---- commands: one handler for the events core/event.h describes ---- */

/* Refuse the fields ev's request does not take. */
static int event_only_fields(struct esc_http_call *call, const struct esc_event_spec *spec)
{
	const char *names[ESC_EVENT_FIELDS_MAX + 1];
	size_t n = 0;
	for (const struct esc_field *f = spec->fields; f->name && n < ESC_EVENT_FIELDS_MAX; f++)
		names[n++] = f->name;
	names[n] = NULL;
	return only_fields(call, names);
}

/* The fields of ev's request into args, read in the table's order: the
 * first missing or malformed is the one the refusal names. An enum's
 * value is parsed once all are read; an unknown one is refused here,
 * unless the core refuses it in its own order of checks. */
static int event_fields(struct esc_http_call *call, const struct esc_event_spec *spec,
			struct esc_args *args)
{
	const char *values[ESC_EVENT_FIELDS_MAX] = {0};
	char *base = (char *)args;
	int rc = 0;
	for (size_t i = 0; !rc && i < ESC_EVENT_FIELDS_MAX && spec->fields[i].name; i++) {
		const struct esc_field *f = &spec->fields[i];
		void *at = base + f->offset;
		switch (f->kind) {
		case ESC_FIELD_INT:
			rc = get_int(call, f->name, f->required, at);
			break;
		case ESC_FIELD_NAME:
			rc = get_string(call, f->name, f->required, at);
			break;
		case ESC_FIELD_LINE:
			rc = get_text(call, f->name, f->required, ESC_TEXT_LINE, at);
			break;
		case ESC_FIELD_LINES:
			rc = get_text(call, f->name, f->required, ESC_TEXT_LINES, at);
			break;
		case ESC_FIELD_ENUM:
			rc = get_string(call, f->name, f->required, &values[i]);
			break;
		}
	}
	for (size_t i = 0; !rc && i < ESC_EVENT_FIELDS_MAX && spec->fields[i].name; i++) {
		const struct esc_field *f = &spec->fields[i];
		if (f->kind != ESC_FIELD_ENUM || !values[i])
			continue;
		int v = f->parse(values[i]);
		if (v < 0 && !f->core_refuses) {
			char msg[160];
			snprintf(msg, sizeof msg, "%s must be %s", f->name, f->expected);
			return fail(call, ESC_EINVAL, "%s", msg);
		}
		*(int *)(void *)(base + f->offset) = v;
	}
	return rc;
}

/* After a refund's command: its refusal, if refused. */
static int refund_done(struct esc_http_call *call, struct command_run *run, int rc)
{
	if (rc && !call->idem_answered)
		return fail(call, rc, "%s", run->res.message);
	return rc;
}

/* The operator's word on a refund (settle, fail): the command on the
 * refund's order. */
static int refund_command(struct esc_http_call *call, enum esc_event ev)
{
	struct command_run *run = command_run_new();
	int rc;
	if (!run)
		return ESC_ENOMEM;
	struct esc_refund *r = &run->refund;
	struct esc_store *s = esc_engine_store_acquire(call->e);
	ESC_STORE(rc, s, refund_get, call->param, r);
	esc_engine_store_release(call->e, s);
	if (rc) {
		command_run_release(&run->pending);
		return rc == ESC_ENOTFOUND ? fail(call, rc, "no such refund", NULL) : rc;
	}
	esc_command_init(&run->cmd, ev, ESC_ACTOR_OPERATOR, NULL, r->order_id);
	run->cmd.args.refund_id = r->id;
	run->then = refund_done;
	return submit(call, run, 200);
}

/* A command route's request (core/event.h's row of the route's event):
 * its fields, then the command on the order the path names (an order, a
 * dispute's, a refund's). The engine decides; an event that creates
 * answers 201. */
/* POST /v1/orders/{id}/cancel with "preview": true (issue 16 item 3):
 * what confirming would do, decided by the core on a read connection,
 * writing nothing; refused as the command would refuse. */
static int cancel_preview(struct esc_http_call *call, const struct esc_event_spec *spec)
{
	struct esc_command cmd;
	struct esc_cancel_preview *pv = malloc(sizeof *pv);
	int rc = pv ? 0 : ESC_ENOMEM;
	/* Nothing is written: no answer is kept for an Idempotency-Key. */
	call->idem_kept = true;
	command_for(call, &cmd, ESC_EV_CANCEL);
	const char *match = esc_http_header(call, "If-Match");
	if (!rc && match)
		rc = if_match_of(call, match, &cmd.if_match);
	if (!rc)
		rc = event_fields(call, spec, &cmd.args);
	if (!rc) {
		struct esc_store *s = esc_engine_store_acquire(call->e);
		rc = esc_engine_preview_cancel(call->e, s, &cmd, pv);
		if (rc) {
			fail(call, rc, "%s", pv->message);
			json_t *err = json_object_get(call->out, "error");
			if (rc == ESC_ESHIPPED) {
				char hint[160];
				shipped_hint(&pv->order, hint, sizeof hint);
				json_object_set_new(err, "hint", json_string(hint));
			} else if (pv->hint[0]) {
				json_object_set_new(err, "hint", json_string(pv->hint));
			}
			/* As the command's (command_done): a conflict carries the
			 * order as it is, when the caller may see it (the engine
			 * left its id empty otherwise). */
			if (pv->order.id[0] && (rc == ESC_ECONFLICT || rc == ESC_EPRECONDITION ||
						esc_error_status(rc) == 409))
				json_object_set_new(call->out, "order",
						    order_json(call, s, &pv->order));
		} else {
			call->out = esc_view_cancel_preview(pv, viewer(call)->lang);
			call->status = 200;
		}
		esc_engine_store_release(call->e, s);
	}
	free(pv);
	return rc;
}

static int h_event(struct esc_http_call *call)
{
	ESC_ASSERT(call->event >= 0 && call->event < ESC_EV_COUNT, "a command route's event");
	enum esc_event ev = (enum esc_event)call->event;
	const struct esc_event_spec *spec = esc_event_spec(ev);
	json_t *preview = ev == ESC_EV_CANCEL ? json_object_get(call->body, "preview") : NULL;
	if (preview && !json_is_boolean(preview))
		return fail(call, ESC_EINVAL, "preview must be true or false", NULL);
	bool previewing = json_is_true(preview);
	if (preview)
		json_object_del(call->body, "preview");
	int rc = event_only_fields(call, spec);
	if (!rc && previewing)
		return cancel_preview(call, spec);
	if (rc)
		return rc;
	if (spec->machine == ESC_MACHINE_REFUND)
		return refund_command(call, ev);
	struct command_run *run = command_run_new();
	if (!run)
		return ESC_ENOMEM;
	command_for(call, &run->cmd, ev);
	if (spec->machine == ESC_MACHINE_DISPUTE) {
		/* An answer in the dispute: the command runs on its order. */
		struct esc_order o;
		struct esc_store *s = esc_engine_store_acquire(call->e);
		rc = visible_dispute_held(call, s, &o, run->order_id);
		esc_engine_store_release(call->e, s);
		run->cmd.order_id = run->order_id;
	}
	if (!rc)
		rc = event_fields(call, spec, &run->cmd.args);
	if (rc) {
		command_run_release(&run->pending);
		return rc;
	}
	return command_reply(call, run, spec->creates);
}

static int h_ledger_check(struct esc_http_call *call)
{
	struct esc_ledger_report rep;
	int rc = esc_engine_check(call->e, &rep);
	if (rc)
		return rc;
	json_t *problems = json_array();
	for (size_t i = 0; i < rep.problems_count && i < ESC_CHECK_PROBLEMS_MAX; i++)
		json_array_append_new(problems, json_string(rep.problems[i]));
	call->out = json_pack("{s:b, s:I, s:I, s:I, s:o}", "ok", rep.problems_count == 0, "orders",
			      (json_int_t)rep.orders_count, "transfers",
			      (json_int_t)rep.transfers_count, "problems_count",
			      (json_int_t)rep.problems_count, "problems", problems);
	return 0;
}

/* The answer to an advance, and its Idempotency-Key's record, which the
 * engine keeps with the move (esc_advance_reply). */
static int clock_answer(void *arg, int64_t now, size_t fired, struct esc_idempotency *record)
{
	struct esc_http_call *call = arg;
	json_decref(call->out);
	call->out = json_pack("{s:o, s:I}", "now", time_or_null(now), "deadlines_fired",
			      (json_int_t)fired);
	if (!call->out || !record)
		return call->out ? 0 : ESC_ENOMEM;
	return esc_idem_answer(record, 200, call->out);
}

#define CLOCK_END_MS 221845392000000LL /* 9000-01-01T00:00:00Z */

static int h_clock_advance(struct esc_http_call *call)
{
	static const char *const fields[] = {"seconds", NULL};
	int64_t seconds = 0;
	/* SPEC §8: production mode (the default) has no manual clock;
	 * refused whatever the body says. */
	if (!esc_engine_clock_manual(call->e) && !(call->opt && call->opt->test_mode))
		return fail_hint(call, ESC_EPRODUCTION,
				 "the daemon runs in production mode: its clock is real and "
				 "cannot be advanced",
				 "a manual clock is for tests and demos: start a daemon on a "
				 "test store with mode = test (or --mode test) and --clock manual");
	int rc = only_fields(call, fields);
	if (!rc)
		rc = get_int(call, "seconds", true, &seconds);
	if (rc)
		return rc;
	if (!esc_engine_clock_manual(call->e))
		return fail(call, ESC_ENOTFOUND, "the clock is real: start with --clock manual",
			    NULL);
	if (seconds < 0 || seconds > 10LL * 365 * 86400)
		return fail(call, ESC_EINVAL, "seconds must be from 0 to ten years", NULL);
	/* RFC 3339 holds four-digit years (timefmt.c clamps at 9999): the
	 * clock stays before the year 9000, so that every deadline it sets
	 * is a time the API can write. */
	if (esc_engine_now(call->e) + seconds * 1000 >= CLOCK_END_MS)
		return fail_hint(call, ESC_EINVAL, "the clock cannot pass 9000-01-01T00:00:00Z",
				 "advance it by fewer seconds, or start a new test store");
	struct esc_advance_reply reply = {.build = clock_answer, .arg = call, .record = call->idem};
	rc = esc_engine_advance_and_fire(call->e, seconds * 1000, &reply, NULL);
	/* Kept with the move, or answered meanwhile: replayed. An answer
	 * that failed otherwise is a 5xx, which is never kept. */
	esc_idem_advance_done(call, rc);
	if (rc) {
		json_decref(call->out);
		call->out = NULL;
	}
	return rc;
}

/* ---- webhook endpoints (issue 14; docs/webhooks.md) ---- */

/* An endpoint as the API shows it at now: never its secrets. */
struct webhook_view {
	struct esc_webhook_endpoint w;
	int64_t now;
	bool with_secret; /* the answer to create and rotate-secret */
};

static json_t *webhook_json(const struct webhook_view *v)
{
	json_t *j = esc_webhook_endpoint_json(&v->w, v->now);
	if (j && v->with_secret)
		json_object_set_new(j, "secret", json_string(v->w.secret));
	return j;
}

static json_t *webhook_doc(const void *v)
{
	return webhook_json(v);
}

/* The url field, checked by the SSRF guard (webhook/url.h). */
static int webhook_url(struct esc_http_call *call, bool required, const char **url)
{
	char why[300] = "";
	int rc = get_string(call, "url", required, url);
	if (rc || !*url)
		return rc;
	bool allow = call->opt && call->opt->webhooks.allow_private;
	rc = esc_webhook_url_check(*url, allow, why, sizeof why);
	if (rc == ESC_EINVAL)
		return fail(call, rc, "%s", why);
	return rc;
}

/* The events field: 1 to 32 distinct patterns, each "*", a family's
 * wildcard or a type escrowd sends; joined by spaces into out. */
static int webhook_events(struct esc_http_call *call, bool required, bool *given,
			  char out[ESC_WEBHOOK_EVENTS_SIZE])
{
	json_t *list = json_object_get(call->body, "events");
	char msg[300];
	size_t len = 0;
	*given = list != NULL;
	out[0] = '\0';
	if (!list && !required)
		return 0;
	if (!list)
		return fail(call, ESC_EINVAL,
			    "'events' is required: a list of event types or patterns, e.g. "
			    "[\"order.*\"] or [\"*\"]",
			    NULL);
	if (!json_is_array(list) || json_array_size(list) == 0 ||
	    json_array_size(list) > ESC_WEBHOOK_EVENTS_MAX)
		return fail(call, ESC_EINVAL,
			    "'events' must be a list of 1 to 32 event types or patterns, e.g. "
			    "[\"order.*\"] or [\"*\"]",
			    NULL);
	for (size_t i = 0; i < json_array_size(list); i++) {
		json_t *v = json_array_get(list, i);
		const char *p = json_is_string(v) ? json_string_value(v) : NULL;
		if (!p || strlen(p) != json_string_length(v) || !esc_event_pattern_valid(p)) {
			snprintf(msg, sizeof msg,
				 "'events[%zu]' is not an event type escrowd sends: use \"*\", a "
				 "family's wildcard (order.*, cancellation.*, refund.*, dispute.*, "
				 "reputation.*, webhook_endpoint.*) or a type listed in "
				 "docs/webhooks.md",
				 i);
			return fail(call, ESC_EINVAL, "%s", msg);
		}
		for (size_t k = 0; k < i; k++) {
			if (!strcmp(json_string_value(json_array_get(list, k)), p)) {
				snprintf(msg, sizeof msg,
					 "'events' lists '%.60s' twice: list each once", p);
				return fail(call, ESC_EINVAL, "%s", msg);
			}
		}
		len += (size_t)snprintf(out + len, ESC_WEBHOOK_EVENTS_SIZE - len, "%s%s",
					i ? " " : "", p);
		ESC_ASSERT(len < ESC_WEBHOOK_EVENTS_SIZE,
			   "webhook patterns longer than their room");
	}
	return 0;
}

/* The description field: one line of at most 200 bytes. */
static int webhook_description(struct esc_http_call *call, const char **out)
{
	int rc = get_text(call, "description", false, ESC_TEXT_LINE, out);
	if (!rc && *out && (strlen(*out) > ESC_WEBHOOK_DESCRIPTION_MAX || strchr(*out, '\n')))
		return fail(call, ESC_EINVAL, "'description' must be one line of at most 200 bytes",
			    NULL);
	return rc;
}

static int webhook_not_found(struct esc_http_call *call)
{
	return fail(call, ESC_ENOTFOUND, "no webhook endpoint with this id", NULL);
}

struct webhook_write {
	struct webhook_view v;
	struct esc_idem_tx k;
	/* An update's changes. */
	const char *url, *description;
	bool events_given;
	char events[ESC_WEBHOOK_EVENTS_SIZE];
	int enabled; /* -1: unchanged */
	bool rotate;
};

static int webhook_insert_tx(struct esc_store *s, void *arg)
{
	struct webhook_write *x = arg;
	int64_t n = 0;
	int rc;
	ESC_STORE(rc, s, webhook_endpoints_count, &n);
	if (!rc && n >= ESC_WEBHOOK_ENDPOINTS_MAX)
		rc = ESC_ELIMIT;
	if (!rc)
		rc = esc_webhook_fanout_before_change(s, x->v.now);
	if (!rc)
		ESC_STORE(rc, s, webhook_endpoint_insert, &x->v.w);
	if (!rc)
		rc = esc_idem_tx_run(&x->k, s);
	return rc;
}

static int h_webhook_create(struct esc_http_call *call)
{
	static const char *const fields[] = {"url", "events", "description", NULL};
	struct webhook_write *x = calloc(1, sizeof *x);
	struct esc_webhook_endpoint *w;
	const char *url = NULL, *description = NULL;
	bool given;
	int rc;
	if (!x)
		return ESC_ENOMEM;
	w = &x->v.w;
	rc = only_fields(call, fields);
	if (!rc)
		rc = webhook_url(call, true, &url);
	if (!rc)
		rc = webhook_events(call, true, &given, w->events);
	if (!rc)
		rc = webhook_description(call, &description);
	if (!rc)
		rc = esc_webhook_secret_new(w->secret);
	if (rc)
		goto out;
	x->v.now = esc_engine_now(call->e);
	esc_id_new(w->id, "whe_", x->v.now);
	snprintf(w->url, sizeof w->url, "%s", url);
	snprintf(w->description, sizeof w->description, "%s", description ? description : "");
	w->enabled = 1;
	w->created_at_ms = w->updated_at_ms = x->v.now;
	x->v.with_secret = true;
	x->k = (struct esc_idem_tx){.call = call, .status = 201, .doc = webhook_doc, .obj = &x->v};
	rc = esc_engine_transact(call->e, webhook_insert_tx, x);
	esc_idem_done(call, rc, x->k.built);
	if (call->idem_answered)
		goto out;
	if (rc == ESC_ELIMIT) {
		char most[24];
		snprintf(most, sizeof most, "%d", ESC_WEBHOOK_ENDPOINTS_MAX);
		rc = fail(
			call, rc,
			"%s webhook endpoints are registered, the most escrowd keeps: delete one "
			"(DELETE /v1/webhook-endpoints/{id}) or subscribe an existing one to more "
			"events",
			most);
	}
	if (rc)
		goto out;
	call->status = 201;
	call->out = webhook_json(&x->v);
out:
	sodium_memzero(x, sizeof *x);
	free(x);
	return rc;
}

static int h_webhooks_list(struct esc_http_call *call)
{
	struct esc_webhook_endpoint *list = NULL;
	struct webhook_view v = {.now = esc_engine_now(call->e)};
	size_t limit, n = 0;
	bool more = false;
	const char *after = NULL;
	int rc = page_limit(call, &limit);
	if (!rc)
		rc = page_after_id(call, "whe_", "a webhook endpoint's", "whe_...", &after);
	if (rc)
		return rc;
	list = calloc(limit, sizeof *list);
	if (!list)
		return ESC_ENOMEM;
	struct esc_store *s = esc_engine_store_acquire(call->e);
	ESC_STORE(rc, s, webhook_endpoints_list, after, list, limit, &n, &more);
	esc_engine_store_release(call->e, s);
	if (!rc) {
		json_t *data = json_array();
		for (size_t i = 0; i < n; i++) {
			v.w = list[i];
			json_array_append_new(data, webhook_json(&v));
		}
		call->out = json_pack("{s:o, s:b}", "data", data, "has_more", more);
	}
	sodium_memzero(list, limit * sizeof *list);
	sodium_memzero(&v, sizeof v);
	free(list);
	return rc;
}

static int h_webhook_get(struct esc_http_call *call)
{
	struct webhook_view v = {.now = esc_engine_now(call->e)};
	int rc;
	struct esc_store *s = esc_engine_store_acquire(call->e);
	ESC_STORE(rc, s, webhook_endpoint_get, call->param, &v.w);
	esc_engine_store_release(call->e, s);
	if (rc == ESC_ENOTFOUND)
		return webhook_not_found(call);
	if (!rc)
		call->out = webhook_json(&v);
	sodium_memzero(&v, sizeof v);
	return rc;
}

/* An update or a rotation: read, change, write, in one transaction; a
 * previous secret whose overlap ended is forgotten on the way. */
static int webhook_update_tx(struct esc_store *s, void *arg)
{
	struct webhook_write *x = arg;
	struct esc_webhook_endpoint *w = &x->v.w;
	int rc;
	ESC_STORE(rc, s, webhook_endpoint_get, x->k.call->param, w);
	if (rc)
		return rc;
	if (!esc_webhook_previous(w, x->v.now)) {
		w->secret_previous[0] = '\0';
		w->secret_previous_until_ms = 0;
	}
	if (x->url)
		snprintf(w->url, sizeof w->url, "%s", x->url);
	if (x->description)
		snprintf(w->description, sizeof w->description, "%s", x->description);
	if (x->events_given)
		snprintf(w->events, sizeof w->events, "%s", x->events);
	if (x->enabled >= 0 && x->enabled != w->enabled) {
		w->enabled = x->enabled;
		/* Enabled again by hand: its failures start over. */
		w->failing_since_ms = 0;
		w->disabled_at_ms = 0;
	}
	if (x->rotate) {
		snprintf(w->secret_previous, sizeof w->secret_previous, "%s", w->secret);
		w->secret_previous_until_ms = x->v.now + ESC_WEBHOOK_OVERLAP_MS;
		rc = esc_webhook_secret_new(w->secret);
	}
	w->updated_at_ms = x->v.now;
	if (!rc)
		rc = esc_webhook_fanout_before_change(s, x->v.now);
	if (!rc)
		ESC_STORE(rc, s, webhook_endpoint_update, w);
	if (!rc)
		rc = esc_idem_tx_run(&x->k, s);
	return rc;
}

static int webhook_write(struct esc_http_call *call, struct webhook_write *x)
{
	x->v.now = esc_engine_now(call->e);
	x->k = (struct esc_idem_tx){.call = call, .status = 200, .doc = webhook_doc, .obj = &x->v};
	x->v.with_secret = x->rotate;
	int rc = esc_engine_transact(call->e, webhook_update_tx, x);
	esc_idem_done(call, rc, x->k.built);
	if (call->idem_answered)
		return rc;
	if (rc == ESC_ENOTFOUND)
		return webhook_not_found(call);
	if (!rc)
		call->out = webhook_json(&x->v);
	return rc;
}

static int h_webhook_update(struct esc_http_call *call)
{
	static const char *const fields[] = {"url", "events", "enabled", "description", NULL};
	struct webhook_write *x = calloc(1, sizeof *x);
	int rc;
	if (!x)
		return ESC_ENOMEM;
	x->enabled = -1;
	rc = only_fields(call, fields);
	if (!rc)
		rc = webhook_url(call, false, &x->url);
	if (!rc)
		rc = webhook_events(call, false, &x->events_given, x->events);
	if (!rc)
		rc = webhook_description(call, &x->description);
	json_t *enabled = json_object_get(call->body, "enabled");
	if (!rc && enabled && !json_is_boolean(enabled))
		rc = fail(call, ESC_EINVAL, "'enabled' must be true or false", NULL);
	if (!rc && enabled)
		x->enabled = json_is_true(enabled);
	if (!rc)
		rc = webhook_write(call, x);
	sodium_memzero(x, sizeof *x);
	free(x);
	return rc;
}

static int h_webhook_rotate(struct esc_http_call *call)
{
	static const char *const fields[] = {NULL};
	struct webhook_write *x = calloc(1, sizeof *x);
	int rc;
	if (!x)
		return ESC_ENOMEM;
	x->enabled = -1;
	x->rotate = true;
	rc = only_fields(call, fields);
	if (!rc)
		rc = webhook_write(call, x);
	sodium_memzero(x, sizeof *x);
	free(x);
	return rc;
}

static int webhook_delete_tx(struct esc_store *s, void *arg)
{
	int rc;
	ESC_STORE(rc, s, webhook_endpoint_delete, (const char *)arg);
	return rc;
}

static int h_webhook_delete(struct esc_http_call *call)
{
	int rc = esc_engine_transact(call->e, webhook_delete_tx, (void *)call->param);
	if (rc == ESC_ENOTFOUND)
		return webhook_not_found(call);
	if (!rc)
		call->out = json_pack("{s:s, s:b}", "id", call->param, "deleted", 1);
	return rc;
}

/* ---- webhook deliveries: seeing and replaying them (issue 14 item 5;
 * docs/webhooks.md) ---- */

/* A delivery shows its last attempts, oldest first; attempts_count
 * counts them all. */
#define DELIVERY_ATTEMPTS_SHOWN 20

/* A delivery as the API shows it, with its last attempts. */
struct delivery_view {
	struct esc_webhook_delivery_seen v;
	struct esc_webhook_attempt attempts[DELIVERY_ATTEMPTS_SHOWN];
	size_t attempts_n;
};

/* text as JSON, each byte that is not part of valid UTF-8 left out (an
 * answer's first KiB is the receiver's bytes, cut anywhere). */
static json_t *mended_string(const char *text)
{
	size_t n = strlen(text);
	char *copy = malloc(n + 1);
	json_t *j;
	if (!copy)
		return NULL;
	memcpy(copy, text, n + 1);
	esc_utf8_mend(copy);
	j = json_string(copy);
	free(copy);
	return j;
}

static json_t *attempt_json(const struct esc_webhook_attempt *a)
{
	bool answered = a->status_code != 0;
	return json_pack("{s:o, s:o, s:I, s:o, s:o}", "at", time_or_null(a->at_ms), "status_code",
			 answered ? json_integer((json_int_t)a->status_code) : json_null(),
			 "duration_ms", (json_int_t)a->duration_ms, "error",
			 answered ? json_null()
				  : mended_string(a->error[0] ? a->error : "no answer"),
			 "response_body", answered ? mended_string(a->answer) : json_null());
}

static json_t *delivery_json(const struct delivery_view *x)
{
	const struct esc_webhook_delivery *d = &x->v.d;
	char event_id[ESC_FEED_ID_SIZE];
	bool pending = !strcmp(d->status, ESC_WD_PENDING);
	json_t *attempts = json_array();
	esc_feed_event_id(d->event_seq, event_id);
	for (size_t i = 0; i < x->attempts_n; i++)
		json_array_append_new(attempts, attempt_json(&x->attempts[i]));
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:o, s:I, s:o, s:o}", "id", d->id,
			 "event_id", event_id, "event_type", x->v.event_type, "endpoint_id",
			 d->endpoint_id, "order_id",
			 d->order_id[0] ? json_string(d->order_id) : json_null(), "status",
			 d->status, "created_at", time_or_null(d->created_at_ms), "next_attempt_at",
			 time_or_null(pending ? d->next_at_ms : 0), "attempts_count",
			 (json_int_t)d->attempts, "delivered_at", time_or_null(d->delivered_at_ms),
			 "attempts", attempts);
}

static json_t *delivery_doc(const void *x)
{
	return delivery_json(x);
}

/* x->v's last attempts into x. */
static int delivery_attempts(struct esc_store *s, struct delivery_view *x)
{
	int64_t after = x->v.d.attempts - DELIVERY_ATTEMPTS_SHOWN;
	int rc;
	ESC_STORE(rc, s, webhook_attempts_list, x->v.d.id, after > 0 ? after : 0, x->attempts,
		  DELIVERY_ATTEMPTS_SHOWN, &x->attempts_n);
	return rc;
}

static int delivery_not_found(struct esc_http_call *call)
{
	return fail(call, ESC_ENOTFOUND, "no webhook delivery with this id", NULL);
}

/* The list's filters from the query: endpoint_id, event_id, status. */
static int delivery_filter(struct esc_http_call *call, struct esc_webhook_delivery_filter *f)
{
	static const char *const statuses[] = {ESC_WD_PENDING, ESC_WD_DELIVERED, ESC_WD_FAILED};
	const char *event = esc_http_query(call, "event_id");
	const char *status = esc_http_query(call, "status");
	*f = (struct esc_webhook_delivery_filter){
		.endpoint_id = esc_http_query(call, "endpoint_id"),
		.event_seq = -1,
	};
	int rc = page_after_id(call, "whd_", "a webhook delivery's", "whd_...", &f->starting_after);
	if (rc)
		return rc;
	if (event && !esc_feed_event_seq(event, &f->event_seq))
		return fail(call, ESC_EINVAL,
			    "event_id must be an event's id: evt_ and 16 hexadecimal digits", NULL);
	for (size_t i = 0; status && !f->status && i < sizeof statuses / sizeof statuses[0]; i++)
		if (!strcmp(status, statuses[i]))
			f->status = statuses[i];
	if (status && !f->status)
		return fail(call, ESC_EINVAL, "status must be pending, delivered or failed", NULL);
	return 0;
}

/* A page of deliveries, each with its last attempts, as JSON into *data. */
static int deliveries_page(struct esc_http_call *call, const struct esc_webhook_delivery_filter *f,
			   size_t limit, json_t **data, bool *more)
{
	struct esc_webhook_delivery_seen *list = calloc(limit, sizeof *list);
	struct delivery_view *x = calloc(1, sizeof *x);
	size_t n = 0;
	int rc = list && x ? 0 : ESC_ENOMEM;
	*data = json_array();
	if (!rc) {
		struct esc_store *s = esc_engine_store_acquire(call->e);
		ESC_STORE(rc, s, webhook_deliveries_list, f, list, limit, &n, more);
		/* The cursor's place is read from its row: an unknown one
		 * starts no page. */
		if (!rc && !n && f->starting_after) {
			ESC_STORE(rc, s, webhook_delivery_get, f->starting_after, &x->v);
			if (rc == ESC_ENOTFOUND)
				rc = fail(call, ESC_EINVAL,
					  "starting_after names no webhook delivery: send the last "
					  "id "
					  "of the page before, or none for the first page",
					  NULL);
		}
		for (size_t i = 0; !rc && i < n; i++) {
			x->v = list[i];
			rc = delivery_attempts(s, x);
			if (!rc)
				json_array_append_new(*data, delivery_json(x));
		}
		esc_engine_store_release(call->e, s);
	}
	free(list);
	free(x);
	return rc;
}

static int h_deliveries_list(struct esc_http_call *call)
{
	struct esc_webhook_delivery_filter f;
	json_t *data = NULL;
	size_t limit;
	bool more = false;
	int rc = page_limit(call, &limit);
	if (!rc)
		rc = delivery_filter(call, &f);
	if (!rc)
		rc = deliveries_page(call, &f, limit, &data, &more);
	if (!rc)
		call->out = json_pack("{s:o, s:b}", "data", data, "has_more", more);
	else
		json_decref(data);
	return rc;
}

static int h_delivery_get(struct esc_http_call *call)
{
	struct delivery_view *x = calloc(1, sizeof *x);
	int rc;
	if (!x)
		return ESC_ENOMEM;
	struct esc_store *s = esc_engine_store_acquire(call->e);
	ESC_STORE(rc, s, webhook_delivery_get, call->param, &x->v);
	if (!rc)
		rc = delivery_attempts(s, x);
	esc_engine_store_release(call->e, s);
	if (rc == ESC_ENOTFOUND)
		rc = delivery_not_found(call);
	else if (!rc)
		call->out = delivery_json(x);
	free(x);
	return rc;
}

struct delivery_retry {
	struct delivery_view x;
	struct esc_idem_tx k;
	int64_t now;
};

/* Pending and due now, then read back for the answer, which an
 * Idempotency-Key keeps in the same transaction. */
static int delivery_retry_tx(struct esc_store *s, void *arg)
{
	struct delivery_retry *r = arg;
	const char *id = r->k.call->param;
	int rc;
	ESC_STORE(rc, s, webhook_delivery_retry_now, id, r->now);
	if (!rc)
		ESC_STORE(rc, s, webhook_delivery_get, id, &r->x.v);
	if (!rc)
		rc = delivery_attempts(s, &r->x);
	if (!rc)
		rc = esc_idem_tx_run(&r->k, s);
	return rc;
}

static int h_delivery_retry(struct esc_http_call *call)
{
	static const char *const fields[] = {NULL};
	struct delivery_retry *r = calloc(1, sizeof *r);
	int rc;
	if (!r)
		return ESC_ENOMEM;
	rc = only_fields(call, fields);
	if (rc)
		goto out;
	r->now = esc_engine_now(call->e);
	r->k = (struct esc_idem_tx){.call = call, .status = 202, .doc = delivery_doc, .obj = &r->x};
	rc = esc_engine_transact(call->e, delivery_retry_tx, r);
	esc_idem_done(call, rc, r->k.built);
	if (call->idem_answered)
		goto out;
	if (rc == ESC_ENOTFOUND) {
		rc = delivery_not_found(call);
	} else if (!rc) {
		call->status = 202;
		call->out = delivery_json(&r->x);
	}
out:
	free(r);
	return rc;
}

/* ---- the table ---- */

/* ---- the event feed (issue 14): GET /v1/events ---- */

/* The most one event's JSON may take (a dispute's data carries its
 * history and messages). */
#define EVENT_JSON_MAX (16u << 20)

/* rows as events (webhook/feed.h: the same bytes a webhook posts),
 * appended to list. */
static int events_append(json_t *list, const struct esc_outbox_row *rows, size_t n)
{
	struct esc_strbuf sb;
	int rc = 0;
	for (size_t i = 0; !rc && i < n; i++) {
		json_error_t jerr;
		esc_strbuf_init(&sb, EVENT_JSON_MAX);
		rc = esc_feed_event_json(&rows[i], &sb);
		json_t *ev = rc ? NULL : json_loads(esc_strbuf_str(&sb), 0, &jerr);
		esc_strbuf_release(&sb);
		if (!rc && !ev) /* a payload that is not JSON: a row damaged by hand */
			rc = ESC_EIO;
		if (!rc)
			rc = json_array_append_new(list, ev) ? ESC_ENOMEM : 0;
	}
	return rc;
}

/* The feed's filters: ?type= (a type or a pattern, as endpoints
 * subscribe), ?order_id=, ?starting_after= (an event id). */
static int events_filter(struct esc_http_call *call, struct esc_event_filter *f, char *prefix,
			 size_t prefix_size)
{
	const char *type = esc_http_query(call, "type"), *after;
	memset(f, 0, sizeof *f);
	if (type && !esc_event_pattern_valid(type))
		return fail(call, ESC_EINVAL,
			    "type must be an event type, a family's pattern such as order.* or "
			    "*: %s is none",
			    type);
	if (type && strcmp(type, "*")) {
		size_t n = strlen(type);
		if (n > 2 && !strcmp(type + n - 2, ".*")) {
			snprintf(prefix, prefix_size, "%.*s", (int)(n - 1), type);
			f->type_prefix = prefix;
		} else {
			f->type = type;
		}
	}
	f->order_id = esc_http_query(call, "order_id");
	if (f->order_id && !*f->order_id)
		return fail(call, ESC_EINVAL,
			    "order_id is empty: give an order's id, or leave it out", NULL);
	after = esc_http_query(call, "starting_after");
	if (after && !esc_feed_event_seq(after, &f->after_seq))
		return fail(call, ESC_EINVAL, "starting_after must be an event id (evt_...)", NULL);
	return 0;
}

/* The events, oldest first: a receiver catching up pages forward. */
static int h_events_list(struct esc_http_call *call)
{
	struct esc_event_filter f;
	char prefix[48];
	size_t n = 0, limit;
	int rc = page_limit(call, &limit);
	if (!rc)
		rc = events_filter(call, &f, prefix, sizeof prefix);
	if (rc)
		return rc;
	struct esc_outbox_row *rows = calloc(limit + 1, sizeof *rows);
	char **payloads = calloc(limit + 1, sizeof *payloads);
	json_t *data = json_array();
	rc = rows && payloads && data ? 0 : ESC_ENOMEM;
	if (!rc) {
		struct esc_store *s = esc_engine_store_acquire(call->e);
		ESC_STORE(rc, s, events_list, &f, rows, payloads, limit + 1, &n);
		esc_engine_store_release(call->e, s);
	}
	bool more = n > limit;
	if (!rc)
		rc = events_append(data, rows, more ? limit : n);
	if (!rc) {
		call->out = json_pack("{s:o, s:b}", "data", data, "has_more", more);
		data = NULL;
	}
	for (size_t i = 0; payloads && i < n; i++)
		free(payloads[i]);
	free(payloads);
	free(rows);
	json_decref(data);
	return rc;
}

/* One event by its id. */
static int h_event_get(struct esc_http_call *call)
{
	struct esc_event_filter f = {0};
	struct esc_outbox_row row;
	char *payload = NULL;
	size_t n = 0;
	int64_t seq;
	int rc = 0;
	if (!esc_feed_event_seq(call->param, &seq) || seq < 1)
		return fail(call, ESC_ENOTFOUND, "no such event", NULL);
	f.after_seq = seq - 1;
	struct esc_store *s = esc_engine_store_acquire(call->e);
	ESC_STORE(rc, s, events_list, &f, &row, &payload, 1, &n);
	esc_engine_store_release(call->e, s);
	if (!rc && (n != 1 || row.seq != seq))
		rc = fail(call, ESC_ENOTFOUND, "no such event", NULL);
	json_t *list = rc ? NULL : json_array();
	if (!rc)
		rc = list ? events_append(list, &row, 1) : ESC_ENOMEM;
	if (!rc)
		call->out = json_incref(json_array_get(list, 0));
	json_decref(list);
	free(n ? payload : NULL);
	return rc;
}

/* ---- operator keys (issue 18 item 7; docs/operations.md) ---- */

/* A key as the API shows it: never its hash; its secret only in the
 * answer to its creation. */
static json_t *operator_key_json(const struct esc_api_key *k, const char *secret)
{
	json_t *j = json_pack("{s:s, s:s, s:o, s:o, s:o}", "id", k->id, "name", k->name,
			      "created_at", time_or_null(k->created_at_ms), "last_used_at",
			      time_or_null(k->last_used_at_ms), "revoked_at",
			      time_or_null(k->revoked_at_ms));
	if (j && secret)
		json_object_set_new(j, "secret", json_string(secret));
	return j;
}

static json_t *operator_key_doc(const void *k)
{
	return operator_key_json(k, NULL);
}

/* A new key and its secret: the answer to its creation. */
struct new_key {
	struct esc_api_key k;
	char secret[ESC_KEY_SECRET_SIZE];
};

static json_t *new_key_doc(const void *arg)
{
	const struct new_key *n = arg;
	return operator_key_json(&n->k, n->secret);
}

static int h_operator_key_create(struct esc_http_call *call)
{
	static const char *const fields[] = {"name", NULL};
	struct new_key n;
	char most[24];
	const char *name;
	int rc = only_fields(call, fields);
	if (!rc)
		rc = get_text(call, "name", true, ESC_TEXT_LINE, &name);
	if (rc)
		return rc;
	struct esc_idem_tx kept = {.call = call, .status = 201, .doc = new_key_doc, .obj = &n};
	struct esc_tx_hook after = {.run = esc_idem_tx_run, .arg = &kept};
	rc = esc_keys_create(call->e, name, n.secret, &n.k, &after);
	esc_idem_done(call, rc, kept.built);
	if (call->idem_answered)
		return rc;
	if (rc == ESC_EINVAL) {
		snprintf(most, sizeof most, "%d", ESC_API_KEY_NAME_MAX);
		return fail(call, rc,
			    "'name' must be 1 to %s bytes on one line, with no control characters",
			    most);
	}
	if (rc == ESC_ELIMIT) {
		snprintf(most, sizeof most, "%d", ESC_API_KEYS_MAX);
		return fail(call, rc,
			    "the store holds %s operator keys, revoked ones included, "
			    "the most it keeps",
			    most);
	}
	if (rc)
		return rc;
	call->status = 201;
	call->out = operator_key_json(&n.k, n.secret);
	sodium_memzero(&n, sizeof n);
	return 0;
}

/* Every key, revoked ones too, oldest first, in pages (starting_after: a
 * key's id). */
static int h_operator_keys_list(struct esc_http_call *call)
{
	const char *after = esc_http_query(call, "starting_after");
	struct esc_api_key *keys = NULL;
	size_t limit, n = 0, from = 0;
	int rc = page_limit(call, &limit);
	if (!rc)
		rc = esc_keys_list(call->e, &keys, &n);
	if (rc)
		return rc;
	if (after) {
		while (from < n && strcmp(keys[from].id, after))
			from++;
		if (from == n) {
			free(keys);
			return fail(call, ESC_EINVAL,
				    "starting_after must be an operator key's id (the last id of "
				    "the page before)",
				    NULL);
		}
		from++;
	}
	json_t *data = json_array();
	for (size_t i = from; i < n && i < from + limit; i++)
		json_array_append_new(data, operator_key_json(&keys[i], NULL));
	call->out = json_pack("{s:o, s:b}", "data", data, "has_more", from + limit < n);
	free(keys);
	return call->out ? 0 : ESC_ENOMEM;
}

/* Revoked at once for every daemon on the store (each reads the key on
 * every request), the caller's own key too; never the last active key. */
static int h_operator_key_revoke(struct esc_http_call *call)
{
	static const char *const fields[] = {NULL};
	enum esc_keys_refusal why = 0;
	struct esc_api_key k;
	char at[ESC_TIME_SIZE], msg[200];
	int rc = only_fields(call, fields);
	if (rc)
		return rc;
	struct esc_idem_tx idem = {.call = call, .status = 200, .doc = operator_key_doc, .obj = &k};
	struct esc_tx_hook hook = {.run = esc_idem_tx_run, .arg = &idem};
	rc = esc_keys_revoke_id(call->e, call->param, &hook, &k, &why);
	esc_idem_done(call, rc, idem.built);
	if (call->idem_answered)
		return rc;
	if (rc == ESC_ENOTFOUND)
		return fail(call, rc,
			    "no operator key with this id (GET /v1/operator-keys lists them)",
			    NULL);
	if (rc == ESC_ECONFLICT && why == ESC_KEYS_REVOKED) {
		esc_time_format(k.revoked_at_ms, at);
		return fail(call, rc, "this key was revoked already, at %s", at);
	}
	if (rc == ESC_ECONFLICT && why == ESC_KEYS_LAST) {
		snprintf(msg, sizeof msg, "%s is the last active operator key", k.id);
		return fail(call, rc,
			    "%s: create another first (POST /v1/operator-keys), or revoke it on "
			    "the host with escrowd keys revoke",
			    msg);
	}
	if (rc)
		return rc;
	call->out = operator_key_json(&k, NULL);
	return 0;
}

#define P      ESC_WHO_OPERATOR
#define B      ESC_WHO_BUYER
#define S      ESC_WHO_SELLER
#define U      ESC_WHO_USER
#define A      ESC_WHO_ARBITER
#define ANY    ESC_WHO_ANYONE
#define SIGNED ESC_WHO_SIGNED_IN

/* A command's row: a JSON body, its event, served by h_event. */
#define EVENT(ev, path, who)                                                                       \
	{                                                                                          \
		"POST", path, h_event, who, ESC_BODY_JSON, ESC_KEEP_PLAIN, ESC_EV_##ev             \
	}

const struct esc_route esc_routes[] = {
	{"GET", "/", h_page, ANY, false, ESC_KEEP_PLAIN, -1},
	{"GET", "/static/{id}", h_static, ANY, false, ESC_KEEP_PLAIN, -1},
	{"GET", "/sw.js", h_worker, ANY, false, ESC_KEEP_PLAIN, -1},
	{"GET", "/healthz", h_health, ANY, false, ESC_KEEP_PLAIN, -1},
	{"GET", "/readyz", h_ready, ANY, false, ESC_KEEP_PLAIN, -1},
	{"GET", "/metrics", h_metrics, ANY, false, ESC_KEEP_PLAIN, -1},
	{"GET", "/v1/openapi.json", h_openapi, ANY, false, ESC_KEEP_PLAIN, -1},
	{"POST", "/v1/users", h_user_create, P, true, ESC_KEEP_PLAIN, -1},
	{"POST", "/v1/sessions", h_session_create, ANY, true, ESC_KEEP_NEVER, -1},
	{"DELETE", "/v1/sessions/current", h_session_delete, U, false, ESC_KEEP_PLAIN, -1},
	{"GET", "/v1/me", h_me, SIGNED, false, ESC_KEEP_PLAIN, -1},
	{"GET", "/v1/cancellation-reasons", h_reasons, ANY, false, ESC_KEEP_PLAIN, -1},
	{"GET", "/v1/rules", h_rules, ANY, false, ESC_KEEP_PLAIN, -1},
	{"GET", "/v1/dispute-grounds", h_dispute_grounds, ANY, false, ESC_KEEP_PLAIN, -1},
	{"GET", "/v1/policies", h_policies_list, SIGNED, false, ESC_KEEP_PLAIN, -1},
	{"GET", "/v1/policies/{id}", h_policy_get, SIGNED, false, ESC_KEEP_PLAIN, -1},
	{"POST", "/v1/orders", h_order_create, P, true, ESC_KEEP_PLAIN, -1},
	{"GET", "/v1/orders", h_orders_list, SIGNED, false, ESC_KEEP_PLAIN, -1},
	{"GET", "/v1/orders/{id}", h_order_get, SIGNED, false, ESC_KEEP_PLAIN, -1},
	{"GET", "/v1/orders/{id}/events", h_order_events, SIGNED, false, ESC_KEEP_PLAIN, -1},
	{"GET", "/v1/orders/{id}/messages", h_messages_list, SIGNED, false, ESC_KEEP_PLAIN, -1},
	{"POST", "/v1/orders/{id}/messages", h_message_post, B | S, true, ESC_KEEP_PLAIN, -1},
	{"POST", "/v1/orders/{id}/messages/read", h_messages_read, B | S, true, ESC_KEEP_PLAIN, -1},
	{"GET", "/v1/conversations", h_conversations, B | S, false, ESC_KEEP_PLAIN, -1},
	{"GET", "/v1/notifications", h_notifications, B | S, false, ESC_KEEP_PLAIN, -1},
	{"POST", "/v1/notifications/read", h_notifications_read, B | S, true, ESC_KEEP_PLAIN, -1},
	{"GET", "/v1/users/{id}/reputation", h_reputation, SIGNED, false, ESC_KEEP_PLAIN, -1},
	{"POST", "/v1/users/{id}/suspension/lift", h_lift_suspension, A, true, ESC_KEEP_PLAIN, -1},
	EVENT(PAY, "/v1/orders/{id}/pay", P),
	EVENT(CANCEL, "/v1/orders/{id}/cancel", B),
	EVENT(ACCEPT_CANCELLATION, "/v1/orders/{id}/cancellation/accept", S),
	EVENT(REJECT_CANCELLATION, "/v1/orders/{id}/cancellation/reject", S),
	EVENT(WITHDRAW_CANCELLATION, "/v1/orders/{id}/cancellation/withdraw", B),
	EVENT(SHIP, "/v1/orders/{id}/ship", S),
	EVENT(DELIVER, "/v1/orders/{id}/deliver", P),
	EVENT(CONFIRM_RECEIPT, "/v1/orders/{id}/confirm-receipt", B),
	EVENT(OPEN_DISPUTE, "/v1/orders/{id}/disputes", B),
	{"GET", "/v1/disputes", h_disputes_list, A, false, ESC_KEEP_PLAIN, -1},
	{"GET", "/v1/disputes/{id}", h_dispute_get, P | B | S | A, false, ESC_KEEP_PLAIN, -1},
	EVENT(ACCEPT_DISPUTE, "/v1/disputes/{id}/accept", S),
	EVENT(COUNTER_OFFER, "/v1/disputes/{id}/counter-offer", S),
	EVENT(REJECT_DISPUTE, "/v1/disputes/{id}/reject", S),
	EVENT(ACCEPT_OFFER, "/v1/disputes/{id}/accept-offer", B),
	EVENT(ESCALATE, "/v1/disputes/{id}/escalate", B),
	EVENT(WITHDRAW_DISPUTE, "/v1/disputes/{id}/withdraw", B),
	EVENT(RETURN_SHIPMENT, "/v1/disputes/{id}/return-shipment", B),
	EVENT(RETURN_RECEIVED, "/v1/disputes/{id}/return-received", S),
	EVENT(RESOLVE_DISPUTE, "/v1/disputes/{id}/decide", A),
	{"POST", "/v1/disputes/{id}/evidence", h_evidence_add, B | S, ESC_BODY_FILE, ESC_KEEP_PLAIN,
	 -1},
	{"GET", "/v1/evidence/{id}", h_evidence_get, B | S | A, false, ESC_KEEP_PLAIN, -1},
	{"GET", "/v1/refunds", h_refunds_list, P | B | S, false, ESC_KEEP_PLAIN, -1},
	EVENT(REFUND_SETTLED, "/v1/refunds/{id}/settle", P),
	EVENT(REFUND_FAILED, "/v1/refunds/{id}/fail", P),
	{"GET", "/v1/ledger/check", h_ledger_check, P, false, ESC_KEEP_PLAIN, -1},
	{"POST", "/v1/clock/advance", h_clock_advance, P, true, ESC_KEEP_PLAIN, -1},
	{"POST", "/v1/webhook-endpoints", h_webhook_create, P, true, ESC_KEEP_SEALED, -1},
	{"GET", "/v1/webhook-endpoints", h_webhooks_list, P, false, ESC_KEEP_PLAIN, -1},
	{"GET", "/v1/webhook-endpoints/{id}", h_webhook_get, P, false, ESC_KEEP_PLAIN, -1},
	{"POST", "/v1/webhook-endpoints/{id}", h_webhook_update, P, true, ESC_KEEP_PLAIN, -1},
	{"DELETE", "/v1/webhook-endpoints/{id}", h_webhook_delete, P, false, ESC_KEEP_PLAIN, -1},
	{"POST", "/v1/webhook-endpoints/{id}/rotate-secret", h_webhook_rotate, P, true,
	 ESC_KEEP_SEALED, -1},
	{"GET", "/v1/events", h_events_list, P, false, ESC_KEEP_PLAIN, -1},
	{"GET", "/v1/events/{id}", h_event_get, P, false, ESC_KEEP_PLAIN, -1},
	{"GET", "/v1/webhook-deliveries", h_deliveries_list, P, false, ESC_KEEP_PLAIN, -1},
	{"GET", "/v1/webhook-deliveries/{id}", h_delivery_get, P, false, ESC_KEEP_PLAIN, -1},
	{"POST", "/v1/webhook-deliveries/{id}/retry", h_delivery_retry, P, true, ESC_KEEP_PLAIN,
	 -1},
	{"POST", "/v1/operator-keys", h_operator_key_create, P, true, ESC_KEEP_SEALED, -1},
	{"GET", "/v1/operator-keys", h_operator_keys_list, P, false, ESC_KEEP_PLAIN, -1},
	{"POST", "/v1/operator-keys/{id}/revoke", h_operator_key_revoke, P, true, ESC_KEEP_PLAIN,
	 -1},
};
const size_t esc_routes_count = sizeof esc_routes / sizeof esc_routes[0];

/* Compare path segments; "{id}" takes one non-empty segment, whose
 * offset and length in path go to *at and *len (*at stays -1 when the
 * pattern has none). Read only: a path is copied once, for the route
 * that matches, not for every row tried. A trailing '/' after a last
 * "{id}" is taken, as it always was. */
static bool match(const char *pattern, const char *path, ptrdiff_t *at, size_t *len)
{
	const char *p = path, *q = pattern;
	*at = -1;
	while (*q && *p) {
		if (q[0] == '{' && !strncmp(q, "{id}", 4)) {
			const char *end = strchr(p, '/');
			if (end == p)
				return false;
			*at = p - path;
			*len = end ? (size_t)(end - p) : strlen(p);
			p += *len + (end ? 1 : 0);
			q += 4;
			if (*q == '/')
				q++;
			else if (*q || *p)
				return false;
			continue;
		}
		if (*q != *p)
			return false;
		q++;
		p++;
	}
	return !*q && !*p;
}

const struct esc_route *esc_route_find(const char *method, const char *path, char *buf,
				       size_t buf_size, const char **param, bool *path_known)
{
	size_t n = strlen(path);
	*path_known = false;
	*param = NULL;
	if (n >= buf_size)
		return NULL; /* no row takes a path this long */
	for (size_t i = 0; i < esc_routes_count; i++) {
		ptrdiff_t at;
		size_t len = 0;
		if (!match(esc_routes[i].path, path, &at, &len))
			continue;
		if (strcmp(esc_routes[i].method, method)) {
			*path_known = true;
			continue;
		}
		memcpy(buf, path, n + 1);
		if (at >= 0) {
			buf[at + (ptrdiff_t)len] = '\0';
			*param = buf + at;
		}
		return &esc_routes[i];
	}
	return NULL;
}
