/* view.c - the JSON views of orders, refunds, disputes and reputations
 * (view.h), for the API's answers and the events' data.object. */
#include "engine/view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "core/recommend.h"
#include "core/rules.h"
#include "util/json.h"
#include "util/timefmt.h"

#define ACTIONS_MAX 8
/* Items shown with an order (an order holds up to 100; items_count says). */
#define ORDER_ITEMS_SHOWN 10
/* History rows and messages shown with a dispute. */
#define DISPUTE_LIST_MAX 100
/* Marks shown with a reputation, newest first. */
#define REP_EVENTS_MAX 50
/* Lifted suspensions shown with a buyer's reputation. */
#define LIFTS_SHOWN 8

void esc_viewer_init(struct esc_viewer *v, enum esc_actor actor, const char *user_id)
{
	memset(v, 0, sizeof *v);
	v->actor = actor;
	v->user_id = user_id;
	v->buyer_level = -1;
}

void esc_viewer_know_name(struct esc_viewer *v, const struct esc_user *u)
{
	for (size_t i = 0; i < sizeof v->names / sizeof v->names[0]; i++)
		if (!strcmp(v->names[i].id, u->id))
			return;
	size_t slot = v->names_next++ % (sizeof v->names / sizeof v->names[0]);
	snprintf(v->names[slot].id, sizeof v->names[slot].id, "%s", u->id);
	snprintf(v->names[slot].name, sizeof v->names[slot].name, "%s", u->name);
}

json_t *esc_view_time(int64_t ms)
{
	char s[ESC_TIME_SIZE];
	if (!ms)
		return json_null();
	esc_time_format(ms, s);
	return json_stringn_nocheck(s, strlen(s)); /* digits and ASCII: no UTF-8 to check */
}

static json_t *amount_or_null(bool set, int64_t amount)
{
	return set ? json_integer((json_int_t)amount) : json_null();
}

static json_t *text_or_null(const char *s)
{
	return s[0] ? json_string(s) : json_null();
}

/* A day as RFC 3339's full-date, "2026-12-07", or null for 0. */
static json_t *view_day(int64_t ms)
{
	char s[ESC_TIME_SIZE];
	if (!ms)
		return json_null();
	esc_time_format(ms, s);
	s[10] = '\0';
	return json_string(s);
}

json_t *esc_view_explanation(const struct esc_explanation *x, bool passed, enum esc_lang lang)
{
	char window[64], text[600];
	if (x->rule < 0)
		return json_null();
	esc_rule_window(x->window_ms, lang, window, sizeof window);
	esc_explanation_render(x, passed, lang, text, sizeof text);
	json_t *j =
		json_pack("{s:s, s:I, s:s, s:o, s:o}", "rule", esc_rule((enum esc_rule)x->rule)->id,
			  "window_ms", (json_int_t)x->window_ms, "window", window, "since",
			  esc_view_time(x->since_ms), "due", esc_view_time(x->due_ms));
	json_object_set_new(j, "policy_version",
			    x->policy_version ? esc_view_policy_id(x->policy_version)
					      : json_null());
	json_object_set_new(j, "amount", amount_or_null(x->has_amount, x->amount_minor));
	json_object_set_new(j, "currency", json_string(x->currency));
	json_object_set_new(j, "method",
			    x->method >= 0
				    ? json_string(esc_method_name((enum esc_method)x->method))
				    : json_null());
	json_object_set_new(j, "expected_from", view_day(x->expected_from_ms));
	json_object_set_new(j, "expected_to", view_day(x->expected_to_ms));
	json_object_set_new(j, "text", json_string(text));
	return j;
}

json_t *esc_view_rule_explanation(int rule, int32_t policy_version, bool passed, int64_t window_ms,
				  const struct esc_rule_var *vars, size_t n, enum esc_lang lang)
{
	struct esc_rule_var all[16];
	char window[64] = "", text[600];
	size_t k = 0;
	const struct esc_rule_info *info = esc_rule((enum esc_rule)rule);
	if (!info)
		return json_null();
	if (window_ms > 0) {
		esc_rule_window(window_ms, lang, window, sizeof window);
		all[k++] = (struct esc_rule_var){"window", window};
	}
	for (size_t i = 0; i < n && k < sizeof all / sizeof all[0]; i++)
		all[k++] = vars[i];
	esc_rule_sentence((enum esc_rule)rule, passed ? 2 : 1, lang, all, k, text, sizeof text);
	json_t *j = json_pack("{s:s, s:o, s:s}", "rule", info->id, "policy_version",
			      policy_version ? esc_view_policy_id(policy_version) : json_null(),
			      "text", text);
	if (window_ms > 0) {
		json_object_set_new(j, "window_ms", json_integer((json_int_t)window_ms));
		json_object_set_new(j, "window", json_string(window));
	}
	return j;
}

json_t *esc_view_refund(const struct esc_refund *r)
{
	return json_pack("{s:s, s:s, s:I, s:s, s:s, s:o, s:o, s:{s:i, s:i}}", "id", r->id,
			 "order_id", r->order_id, "amount", (json_int_t)r->amount_minor, "method",
			 esc_method_name(r->method), "status", esc_refund_status_name(r->status),
			 "created_at", esc_view_time(r->created_at_ms), "resolved_at",
			 esc_view_time(r->resolved_at_ms), "expected_days", "min",
			 (int)r->settle_days_min, "max", (int)r->settle_days_max);
}

json_t *esc_view_history(const struct esc_history *h)
{
	json_error_t jerr;
	json_t *detail = json_loads(h->detail, 0, &jerr);
	return json_pack("{s:I, s:o, s:s, s:o, s:s, s:s, s:s, s:s, s:o}", "version",
			 (json_int_t)h->version, "at", esc_view_time(h->at_ms), "actor",
			 esc_actor_name(h->actor), "actor_id",
			 h->actor_id[0] ? json_string(h->actor_id) : json_null(), "event",
			 esc_event_name(h->event), "type", h->type, "from", esc_state_name(h->from),
			 "to", esc_state_name(h->to), "detail", detail ? detail : json_object());
}

json_t *esc_view_message(const struct esc_message *m)
{
	return json_pack("{s:I, s:o, s:s, s:s, s:s}", "seq", (json_int_t)m->seq, "at",
			 esc_view_time(m->at_ms), "author_id", m->author_id, "role",
			 esc_actor_name(m->role), "body", m->body);
}

void esc_view_evidence_id(char out[ESC_EVIDENCE_ID_SIZE], const struct esc_evidence *ev)
{
	char dsp[ESC_ID_SIZE];
	esc_dispute_id(dsp, ev->order_id);
	snprintf(out, ESC_EVIDENCE_ID_SIZE, "evd_%s-%lld", dsp + 4, (long long)ev->seq);
}

json_t *esc_view_evidence(const struct esc_evidence *ev)
{
	char id[ESC_EVIDENCE_ID_SIZE], url[ESC_ID_SIZE + 32];
	esc_view_evidence_id(id, ev);
	snprintf(url, sizeof url, "/v1/evidence/%s", id);
	return json_pack("{s:s, s:I, s:s, s:o, s:I, s:s, s:s, s:s, s:o, s:s}", "id", id, "seq",
			 (json_int_t)ev->seq, "content_type", ev->content_type, "filename",
			 ev->filename[0] ? json_string(ev->filename) : json_null(), "size",
			 (json_int_t)ev->size, "sha256", ev->sha256, "author_id", ev->author_id,
			 "role", esc_actor_name(ev->role), "at", esc_view_time(ev->at_ms), "url",
			 url);
}

/* ---- orders and disputes ---- */

/* The name an order's `actions` lists e by (core/event.h), or NULL. */
static const char *action_name(enum esc_event e)
{
	const struct esc_event_spec *spec = esc_event_spec(e);
	return spec && spec->machine == ESC_MACHINE_ORDER ? spec->action_name : NULL;
}

/* The name a dispute's `actions` lists e by (core/event.h), or NULL. */
static const char *dispute_action_name(enum esc_event e)
{
	const struct esc_event_spec *spec = esc_event_spec(e);
	return spec && spec->machine == ESC_MACHINE_DISPUTE ? spec->action_name : NULL;
}

/* Whether the buyer's level changes what they may do now on the order:
 * the actions at every level, compared (the core's guards are pure and
 * cheap; counting a buyer's marks is not: it grows with their orders). */
static bool level_matters(struct esc_context *ctx, const struct esc_order *o)
{
	struct esc_action first[ACTIONS_MAX], other[ACTIONS_MAX];
	ctx->buyer_level = ESC_LEVEL_GOOD;
	size_t n = esc_order_actions(ctx, o, first, ACTIONS_MAX);
	for (int l = ESC_LEVEL_GOOD + 1; l < ESC_LEVEL_COUNT; l++) {
		ctx->buyer_level = (enum esc_buyer_level)l;
		size_t m = esc_order_actions(ctx, o, other, ACTIONS_MAX);
		if (m != n)
			return true;
		for (size_t i = 0; i < n; i++)
			if (first[i].event != other[i].event ||
			    first[i].deadline_ms != other[i].deadline_ms)
				return true;
	}
	ctx->buyer_level = ESC_LEVEL_GOOD;
	return false;
}

static void read_past(struct esc_viewer *v, int rc);

/* The policy the order decides by (issue 16): its pinned version, or the
 * current one shown when that cannot be read (a failure read past). */
static const struct esc_policy *order_policy(struct esc_engine *e, struct esc_store *s,
					     struct esc_viewer *v, const struct esc_order *o)
{
	const struct esc_policy *p = NULL;
	int rc = esc_engine_order_policy(e, s, o, &p);
	read_past(v, rc);
	return rc ? esc_engine_policy(e) : p;
}

/* What the viewer may do now on the order and its dispute. Reads, for a
 * buyer, their level once per viewer (a list shows many orders), and
 * only when it changes the actions: on most orders it does not. */
static size_t actions_of(struct esc_engine *e, struct esc_store *s, struct esc_viewer *v,
			 const struct esc_order *o, struct esc_action actions[ACTIONS_MAX])
{
	struct esc_context ctx = {.policy = order_policy(e, s, v, o), .now_ms = esc_engine_now(e)};
	ctx.actor = v->actor;
	if (v->user_id) {
		ctx.actor_id = v->user_id;
		if (ctx.actor == ESC_ACTOR_BUYER && v->buyer_level < 0 && level_matters(&ctx, o)) {
			struct esc_buyer_rep rep;
			if (!esc_engine_buyer_reputation_held(e, s, v->user_id, &rep))
				v->buyer_level = (int)rep.level;
		}
		if (v->buyer_level >= 0)
			ctx.buyer_level = (enum esc_buyer_level)v->buyer_level;
	}
	return esc_order_actions(&ctx, o, actions, ACTIONS_MAX);
}

/* The rule of the order's deadline that falls at due_ms, from the order's
 * deadline_rules (NULL: none shown), or null. */
static json_t *rule_at(const struct esc_order *o, json_t *rules, int64_t due_ms)
{
	for (int k = 0; rules && due_ms && k < ESC_DL_ORDER_COUNT; k++) {
		json_t *r = json_object_get(rules, esc_deadline_name((enum esc_deadline_kind)k));
		if (o->due_ms[k] == due_ms && r)
			return json_incref(r);
	}
	return json_null();
}

/* Whether the action is a completed order's dispute, whose deadline is
 * the policy's dispute_after_completion, not one of the order's. */
static bool is_cutoff(const struct esc_order *o, const struct esc_action *a)
{
	return a->event == ESC_EV_OPEN_DISPUTE && o->state == ESC_ST_COMPLETED;
}

/* The actions a list of them names (by name(), NULL for those not
 * listed), each with the window that bounds it and, when rules (the
 * order's deadline_rules) are given, the rule that set it: for a
 * completed order's dispute action, cutoff (deadline_rules_json's). */
static json_t *actions_json(const struct esc_action *actions, size_t n,
			    const char *(*name)(enum esc_event e), const struct esc_order *o,
			    json_t *rules, json_t *cutoff)
{
	json_t *as = json_array();
	for (size_t i = 0; i < n; i++) {
		const char *nm = name(actions[i].event);
		if (!nm)
			continue;
		json_t *a = json_pack("{s:s, s:o}", "name", nm, "deadline",
				      esc_view_time(actions[i].deadline_ms));
		if (rules)
			json_object_set_new(a, "deadline_rule",
					    cutoff && is_cutoff(o, &actions[i])
						    ? json_incref(cutoff)
						    : rule_at(o, rules, actions[i].deadline_ms));
		json_array_append_new(as, a);
	}
	return as;
}

/* What deadline_rules_json shows: each deadline's explanation (rule -1
 * for a deadline the order lacks, or that no rule explains). false, with
 * nothing set, for an event's object. */
#define CUTOFF ESC_DL_ORDER_COUNT /* x[CUTOFF]: a completed order's dispute action */
struct deadline_rules {
	struct esc_explanation x[ESC_DL_ORDER_COUNT + 1];
	/* Their window and sentence in the viewer's language, once written
	 * (an action's rule is also in the order's rules): an empty text
	 * until then. */
	char window[ESC_DL_ORDER_COUNT + 1][64], text[ESC_DL_ORDER_COUNT + 1][600];
};

static bool deadline_rules_read(struct esc_engine *e, struct esc_store *s, struct esc_viewer *v,
				const struct esc_order *o, struct deadline_rules *r)
{
	if (v->for_event)
		return false;
	const struct esc_policy *p = order_policy(e, s, v, o);
	int32_t version = o->policy_version ? o->policy_version : esc_engine_policy_version(e);
	for (int k = 0; k < ESC_DL_ORDER_COUNT; k++) {
		struct esc_explanation *x = &r->x[k];
		x->rule = -1;
		r->text[k][0] = '\0';
		if (!o->due_ms[k])
			continue;
		esc_explain_deadline(p, o, (enum esc_deadline_kind)k, o->due_ms[k], NULL, NULL, x);
		x->policy_version = version;
	}
	esc_explain_dispute_cutoff(p, o, &r->x[CUTOFF]);
	r->x[CUTOFF].policy_version = version;
	r->text[CUTOFF][0] = '\0';
	return true;
}

/* Each deadline the order has, with the rule that set it and what
 * happens when it passes (issue 16 item 2), in v's language; NULL for an
 * event's object (view.h). With cutoff given, *cutoff is the rule of a
 * completed order's dispute action (is_cutoff), or NULL. */
static json_t *deadline_rules_json(struct esc_engine *e, struct esc_store *s, struct esc_viewer *v,
				   const struct esc_order *o, json_t **cutoff)
{
	struct deadline_rules r;
	if (cutoff)
		*cutoff = NULL;
	if (!deadline_rules_read(e, s, v, o, &r))
		return NULL;
	if (cutoff && r.x[CUTOFF].rule >= 0)
		*cutoff = esc_view_explanation(&r.x[CUTOFF], false, v->lang);
	json_t *rules = json_object();
	for (int k = 0; k < ESC_DL_ORDER_COUNT; k++)
		if (r.x[k].rule >= 0)
			json_object_set_new(rules, esc_deadline_name((enum esc_deadline_kind)k),
					    esc_view_explanation(&r.x[k], false, v->lang));
	return rules;
}

/* The order's dispute (SPEC §5), with the actions the viewer may send to
 * /v1/disputes/{id}/ACTION now, each with the window that bounds it. */
static json_t *dispute_json(const struct esc_order *o, const struct esc_action *actions,
			    size_t n_actions, json_t *rules)
{
	char id[ESC_ID_SIZE];
	enum esc_dispute_state st = o->dispute_state;
	esc_dispute_id(id, o->id);
	json_t *j = json_pack(
		"{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:o}", "id", id, "order_id", o->id, "status",
		esc_dispute_state_name(st), "ground", o->dispute_ground, "outcome",
		o->dispute_outcome, "amount", (json_int_t)o->dispute_amount_minor, "description",
		o->dispute_description, "opened_at", esc_view_time(o->dispute_opened_at_ms));
	json_object_set_new(j, "currency", json_string(o->currency));
	json_object_set_new(j, "refund_to", json_string(esc_refund_to_name(o->dispute_refund_to)));
	json_object_set_new(j, "deadline", esc_view_time(o->due_ms[ESC_DL_DISPUTE]));
	json_object_set_new(j, "offer",
			    amount_or_null(o->dispute_offer_minor > 0, o->dispute_offer_minor));
	json_object_set_new(j, "seller_message", text_or_null(o->dispute_message));
	json_object_set_new(j, "agreed_amount",
			    amount_or_null(o->dispute_agreed_minor > 0, o->dispute_agreed_minor));
	json_object_set_new(j, "return_shipment",
			    o->return_shipped_at_ms
				    ? json_pack("{s:s, s:s, s:o}", "carrier", o->return_carrier,
						"tracking_number", o->return_tracking, "shipped_at",
						esc_view_time(o->return_shipped_at_ms))
				    : json_null());
	json_object_set_new(j, "escalated_at", esc_view_time(o->dispute_escalated_at_ms));
	json_object_set_new(j, "resolved_at", esc_view_time(o->dispute_resolved_at_ms));
	json_object_set_new(j, "resolution", text_or_null(o->dispute_resolution));
	json_object_set_new(j, "refund_amount",
			    amount_or_null(st == ESC_DS_RESOLVED, o->dispute_refund_minor));
	json_object_set_new(j, "decision_reason", text_or_null(o->dispute_reason));
	json_object_set_new(j, "order_status", json_string(esc_state_name(o->state)));
	json_object_set_new(j, "order_version", json_integer((json_int_t)o->version));
	json_object_set_new(j, "actions",
			    actions_json(actions, n_actions, dispute_action_name, o, rules, NULL));
	if (rules)
		json_object_set_new(j, "deadline_rule",
				    rule_at(o, rules, o->due_ms[ESC_DL_DISPUTE]));
	return j;
}

json_t *esc_view_recommendation(const struct esc_order *o, const struct esc_dispute_facts *facts,
				int64_t now_ms)
{
	struct esc_recommendation rec;
	int64_t as_of =
		o->dispute_decided_at_ms ? o->dispute_decided_at_ms : o->dispute_resolved_at_ms;
	/* An arbiter's decision keeps it as it stood then (issue 11 item
	 * 14): the decision lowers the seller's score or marks the buyer,
	 * and a recommendation computed again would contradict the decision
	 * beside it. */
	if (!esc_recommendation_kept(o, &rec)) {
		bool decided = o->dispute_state == ESC_DS_RESOLVED &&
			       !strcmp(o->dispute_resolution, "decided");
		if (decided || !facts)
			return json_null();
		esc_dispute_recommend(o, facts, &rec);
		as_of = now_ms;
	}
	json_t *why = json_array(), *rules = json_array();
	for (size_t i = 0; i < rec.reasons_count; i++) {
		const char *id;
		int weight;
		json_array_append_new(why, json_string(rec.reasons[i]));
		if (esc_recommendation_rule(o, rec.reasons[i], &id, &weight)) {
			/* The rule's event sentence with its weight (GET /v1/rules). */
			char pct[32], threshold[16], text[400];
			esc_rule_percent((int64_t)weight * 100, ESC_LANG_EN, pct, sizeof pct);
			snprintf(threshold, sizeof threshold, "%d", ESC_RECOMMEND_POOR_SCORE);
			const struct esc_rule_var vars[] = {{"weight", pct},
							    {"threshold", threshold}};
			esc_rule_sentence((enum esc_rule)esc_rule_parse(id), 2, ESC_LANG_EN, vars,
					  2, text, sizeof text);
			json_array_append_new(rules,
					      json_pack("{s:s, s:i, s:s}", "rule", id,
							"weight_percent", weight, "text", text));
		}
	}
	return json_pack("{s:I, s:o, s:o, s:o}", "refund_amount", (json_int_t)rec.refund_minor,
			 "reasons", why, "rules", rules, "as_of", esc_view_time(as_of));
}

json_t *esc_view_policy_id(int64_t version)
{
	char id[32];
	snprintf(id, sizeof id, "pol_%lld", (long long)version);
	return json_string(id);
}

/* Note a store failure a view reads past (the first one). */
static void read_past(struct esc_viewer *v, int rc)
{
	if (rc && !v->failed)
		v->failed = rc;
}

/* A user's name, for an order's parties: read once per viewer. A user
 * that cannot be read has no name (null), which hides nothing the order
 * does not already say (its ids). */
static const char *user_name_of(struct esc_viewer *v, struct esc_store *s, const char *id)
{
	const size_t n = sizeof v->names / sizeof v->names[0];
	for (size_t i = 0; i < n; i++)
		if (v->names[i].id[0] && !strcmp(v->names[i].id, id))
			return v->names[i].name;
	struct esc_user u;
	int rc;
	ESC_STORE(rc, s, user_get, id, &u);
	if (rc != ESC_ENOTFOUND)
		read_past(v, rc);
	if (rc)
		return NULL;
	size_t slot = v->names_next++ % n;
	snprintf(v->names[slot].id, sizeof v->names[slot].id, "%s", u.id);
	snprintf(v->names[slot].name, sizeof v->names[slot].name, "%s", u.name);
	return v->names[slot].name;
}

/* The name as a view shows it: the user's name, or null. */
static json_t *user_name(struct esc_viewer *v, struct esc_store *s, const char *id)
{
	const char *name = user_name_of(v, s, id);
	return name ? json_string(name) : json_null();
}

/* The order's refunds (none when the store does not answer). An order
 * that never had one (refunds_count: a refund's id is made from it, so
 * none is stored before it counts one) is not asked for them: most
 * orders, and the list's query sorts in a temporary b-tree. */
static json_t *order_refunds_json(struct esc_store *s, struct esc_viewer *v,
				  const struct esc_order *o)
{
	struct esc_refund refunds[ESC_REFUNDS_MAX];
	size_t n = 0;
	int rc;
	json_t *rs = json_array();
	if (v->new_order || o->refunds_count == 0)
		return rs;
	ESC_STORE(rc, s, refunds_list, o->id, -1, NULL, refunds, ESC_REFUNDS_MAX, &n);
	read_past(v, rc);
	for (size_t i = 0; !rc && i < n; i++)
		json_array_append_new(rs, esc_view_refund(&refunds[i]));
	return rs;
}

/* The order's first items (ORDER_ITEMS_SHOWN; none when the store does
 * not answer). */
static json_t *order_items_json(struct esc_store *s, struct esc_viewer *v, const char *order_id)
{
	struct esc_item read[ORDER_ITEMS_SHOWN];
	const struct esc_item *items = read;
	size_t n = 0;
	int rc = 0;
	json_t *is = json_array();
	if (v->new_order) {
		items = v->items;
		n = v->items_count < ORDER_ITEMS_SHOWN ? v->items_count : ORDER_ITEMS_SHOWN;
	} else {
		ESC_STORE(rc, s, order_items, order_id, read, ORDER_ITEMS_SHOWN, &n);
		read_past(v, rc);
	}
	for (size_t i = 0; !rc && i < n; i++)
		json_array_append_new(
			is, json_pack("{s:s, s:I, s:I, s:o}", "title", items[i].title, "quantity",
				      (json_int_t)items[i].quantity, "unit_price",
				      (json_int_t)items[i].unit_price_minor, "image_url",
				      items[i].image_url[0] ? json_string(items[i].image_url)
							    : json_null()));
	return is;
}

/* The order's times and deadlines, set in j. */
static void order_times(json_t *j, const struct esc_order *o)
{
	json_object_set_new(j, "created_at", esc_view_time(o->created_at_ms));
	json_object_set_new(j, "paid_at", esc_view_time(o->paid_at_ms));
	json_object_set_new(j, "shipped_at", esc_view_time(o->shipped_at_ms));
	json_object_set_new(j, "promised_delivery_at", esc_view_time(o->promised_at_ms));
	json_object_set_new(j, "delivered_at", esc_view_time(o->delivered_at_ms));
	json_object_set_new(j, "ended_at", esc_view_time(o->ended_at_ms));
	json_t *deadlines = json_object();
	for (int k = 0; k < ESC_DL_ORDER_COUNT; k++)
		json_object_set_new(deadlines, esc_deadline_name((enum esc_deadline_kind)k),
				    esc_view_time(o->due_ms[k]));
	json_object_set_new(j, "deadlines", deadlines);
}

/* The buyer's cancellation requests (SPEC §3), or null when none was made. */
static json_t *cancellation_json(const struct esc_policy *p, const struct esc_order *o)
{
	if (!o->cancel_requests)
		return json_null();
	json_t *c = json_pack("{s:i, s:i, s:s, s:s}", "requests_made", (int)o->cancel_requests,
			      "requests_allowed", (int)p->cancel_requests_max, "reason",
			      o->cancel_reason, "refund_to", esc_refund_to_name(o->refund_to));
	json_object_set_new(c, "open", json_boolean(o->state == ESC_ST_CANCELLATION_REQUESTED));
	json_object_set_new(c, "comment",
			    o->cancel_comment[0] ? json_string(o->cancel_comment) : json_null());
	json_object_set_new(c, "rejection_message",
			    o->reject_message[0] ? json_string(o->reject_message) : json_null());
	return c;
}

/* The event's view of o (English) shows its shipment as v's would: a
 * tracking number's rule is in v's language. */
static bool reply_shares_shipment(const struct esc_viewer *v, const struct esc_order *o)
{
	return !o->carrier[0] || v->lang == ESC_LANG_EN;
}

/* The order a command has just written, for v: the event's object (the
 * operator's view, rendered in the same transaction) with v's actions, so
 * that its refunds, items and parties are not read again. NULL when the
 * event's object is not at hand, not an order, or not what v sees. */
static json_t *order_of_reply(struct esc_engine *e, struct esc_store *s, struct esc_viewer *v,
			      const struct esc_order *o)
{
	json_t *base = esc_engine_reply_object(e, s, o), *j = NULL, *dispute = NULL, *rules;
	struct esc_action actions[ACTIONS_MAX];
	size_t n_actions;

	if (!base || !json_is_array(json_object_get(base, "items")) || !reply_shares_shipment(v, o))
		return NULL;
	n_actions = actions_of(e, s, v, o, actions);
	/* The event's object itself, v's members set in place: its text is
	 * in the event's row already (the engine's record runs before the
	 * answer), the command drops it after its answer, and one answer is
	 * built from it. Members set again keep their place: the same bytes
	 * as the view made anew. A copy of its 40-odd members cost ~3 % of
	 * the writer's CPU under load (issue 15). */
	j = json_incref(base);
	if (j && o->disputes_count)
		dispute = json_copy(json_object_get(base, "dispute"));
	if (!j || (o->disputes_count && !dispute)) {
		json_decref(j);
		json_decref(dispute);
		return NULL;
	}
	json_t *cutoff = NULL;
	rules = deadline_rules_json(e, s, v, o, &cutoff);
	if (dispute) {
		json_object_set_new(
			dispute, "actions",
			actions_json(actions, n_actions, dispute_action_name, o, rules, NULL));
		if (rules)
			json_object_set_new(dispute, "deadline_rule",
					    rule_at(o, rules, o->due_ms[ESC_DL_DISPUTE]));
		json_object_set_new(j, "dispute", dispute);
	}
	json_object_set_new(j, "actions",
			    actions_json(actions, n_actions, action_name, o, rules, cutoff));
	json_decref(cutoff);
	if (rules)
		json_object_set_new(j, "deadline_rules", rules);
	return j;
}

/* Where the running configuration says carrier's site shows number
 * (carrier.NAME.tracking_url), or null. */
static json_t *tracking_url_json(const struct esc_policy *running, const char *carrier,
				 const char *number)
{
	const struct esc_tracking_url *u = esc_tracking_url_find(
		running->tracking_urls, running->tracking_urls_count, carrier);
	char link[ESC_TRACKING_LINK_SIZE];
	if (!u || !number[0])
		return json_null();
	esc_tracking_url_fill(u, number, link, sizeof link);
	return json_string(link);
}

/* The order's shipment; a number its carrier's check failed, taken under
 * tracking_check = flag, names the rule (tracking_rule). running is the
 * daemon's policy, for the carrier's tracking page. */
static json_t *shipment_json(const struct esc_policy *p, const struct esc_policy *running,
			     const struct esc_order *o, enum esc_lang lang)
{
	if (!o->carrier[0])
		return json_null();
	json_t *j =
		json_pack("{s:s, s:s, s:s}", "carrier", o->carrier, "tracking_number", o->tracking,
			  "tracking_check", o->tracking_check[0] ? o->tracking_check : "unchecked");
	json_object_set_new(j, "tracking_url", tracking_url_json(running, o->carrier, o->tracking));
	const struct esc_carrier *c = esc_carrier_find(p->carriers, p->carriers_count, o->carrier);
	if (c && (!strcmp(o->tracking_check, "invalid_format") ||
		  !strcmp(o->tracking_check, "invalid_check_digit"))) {
		const char *scheme = esc_check_scheme_name(c->check);
		const struct esc_rule_var vars[] = {{"carrier", c->name}, {"scheme", scheme}};
		json_t *x = esc_view_rule_explanation(ESC_RULE_TRACKING_CHECK, o->policy_version,
						      true, 0, vars, 2, lang);
		json_object_set_new(x, "carrier", json_string(c->name));
		json_object_set_new(x, "scheme", json_string(scheme));
		json_object_set_new(j, "tracking_rule", x);
	}
	return j;
}

json_t *esc_view_order(struct esc_engine *e, struct esc_store *s, struct esc_viewer *v,
		       const struct esc_order *o)
{
	struct esc_action actions[ACTIONS_MAX];
	json_t *reply = order_of_reply(e, s, v, o);
	if (reply)
		return reply;
	const struct esc_policy *p = order_policy(e, s, v, o);
	size_t n_actions = actions_of(e, s, v, o, actions);
	json_t *refunds = order_refunds_json(s, v, o), *items = order_items_json(s, v, o->id);
	json_t *cutoff = NULL;
	json_t *rules = deadline_rules_json(e, s, v, o, &cutoff);

	json_t *j = json_pack(
		"{s:s, s:I, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:i}", "id", o->id,
		"version", (json_int_t)o->version, "status", esc_state_name(o->state), "buyer_id",
		o->buyer_id, "seller_id", o->seller_id, "currency", o->currency, "total",
		(json_int_t)o->total_minor, "paid", (json_int_t)o->paid_minor, "refunded",
		(json_int_t)o->refunded_minor, "released", (json_int_t)o->released_minor, "fee",
		(json_int_t)o->fee_minor, "delivery_days", (int)o->delivery_days);
	json_object_set_new(j, "policy_version", esc_view_policy_id(o->policy_version));
	json_object_set_new(j, "payment_method",
			    o->paid_at_ms ? json_string(esc_method_name(o->method)) : json_null());
	/* What a refund to the way the buyer paid takes to arrive (SPEC §4),
	 * so that an interface promises it before asking. */
	json_object_set_new(j, "refund_expected_days",
			    o->paid_at_ms ? json_pack("{s:i, s:i}", "min",
						      (int)p->settle_days_min[o->method], "max",
						      (int)p->settle_days_max[o->method])
					  : json_null());
	json_object_set_new(j, "buyer_name", user_name(v, s, o->buyer_id));
	json_object_set_new(j, "seller_name", user_name(v, s, o->seller_id));
	order_times(j, o);
	json_object_set_new(j, "cancellation", cancellation_json(p, o));
	json_object_set_new(j, "shipment", shipment_json(p, esc_engine_policy(e), o, v->lang));
	json_object_set_new(j, "dispute",
			    o->disputes_count ? dispute_json(o, actions, n_actions, rules)
					      : json_null());
	json_object_set_new(j, "refunds", refunds);
	json_object_set_new(j, "items", items);
	json_object_set_new(j, "actions",
			    actions_json(actions, n_actions, action_name, o, rules, cutoff));
	json_decref(cutoff);
	/* After actions, where a command's reply adds them to its event's
	 * object (order_of_reply): the same bytes either way. */
	if (rules)
		json_object_set_new(j, "deadline_rules", rules);
	return j;
}

/* ---- the order as text (esc_view_order_text) ----
 *
 * The same members in the same order as esc_view_order's tree, each
 * written as esc_json_text writes its value: GET /v1/orders/{id} without
 * the tree (issue 15: building, dumping and freeing it took ~20 % of a
 * GET's CPU). The parts most orders lack (a dispute, a shipment, the
 * deadlines' rules) are still made as trees and written from them. */

#define LIT(out, lit) ESC_JSON_OUT_LIT((out), lit)

/* A string, or a failure for NULL (which fails json_pack's "s" and
 * json_string, so that the caller makes the tree, as before). */
static void text_str(struct esc_json_out *out, const char *str)
{
	if (str)
		esc_json_out_string(out, str);
	else
		out->failed = true;
}

static void text_str_or_null(struct esc_json_out *out, const char *str)
{
	if (str && str[0])
		esc_json_out_string(out, str);
	else
		LIT(out, "null");
}

static void text_time(struct esc_json_out *out, int64_t ms)
{
	char t[ESC_TIME_SIZE];
	if (!ms) {
		LIT(out, "null");
		return;
	}
	esc_time_format(ms, t);
	esc_json_out_string(out, t);
}

/* A tree made for a part of the text (NULL fails the text) and freed. */
static void text_tree(struct esc_json_out *out, json_t *j)
{
	esc_json_out_value(out, j);
	json_decref(j);
}

static void refund_text(struct esc_json_out *out, const struct esc_refund *r)
{
	LIT(out, "{\"id\":");
	text_str(out, r->id);
	LIT(out, ",\"order_id\":");
	text_str(out, r->order_id);
	LIT(out, ",\"amount\":");
	esc_json_out_int(out, r->amount_minor);
	LIT(out, ",\"method\":");
	text_str(out, esc_method_name(r->method));
	LIT(out, ",\"status\":");
	text_str(out, esc_refund_status_name(r->status));
	LIT(out, ",\"created_at\":");
	text_time(out, r->created_at_ms);
	LIT(out, ",\"resolved_at\":");
	text_time(out, r->resolved_at_ms);
	LIT(out, ",\"expected_days\":{\"min\":");
	esc_json_out_int(out, (int)r->settle_days_min);
	LIT(out, ",\"max\":");
	esc_json_out_int(out, (int)r->settle_days_max);
	LIT(out, "}}");
}

/* The lists of an order's text, read before its parties' names (as the
 * tree reads them: the first failure read past is the one kept) and
 * written after them. */
struct order_lists {
	struct esc_refund refunds[ESC_REFUNDS_MAX];
	size_t refunds_count;
	struct esc_item read[ORDER_ITEMS_SHOWN];
	const struct esc_item *items;
	size_t items_count;
};

/* What order_refunds_json and order_items_json read. */
static void order_lists_read(struct esc_store *s, struct esc_viewer *v, const struct esc_order *o,
			     struct order_lists *l)
{
	int rc = 0;
	l->refunds_count = 0;
	if (!v->new_order && o->refunds_count) {
		ESC_STORE(rc, s, refunds_list, o->id, -1, NULL, l->refunds, ESC_REFUNDS_MAX,
			  &l->refunds_count);
		read_past(v, rc);
		if (rc)
			l->refunds_count = 0;
	}
	l->items = l->read;
	l->items_count = 0;
	if (v->new_order) {
		l->items = v->items;
		l->items_count =
			v->items_count < ORDER_ITEMS_SHOWN ? v->items_count : ORDER_ITEMS_SHOWN;
	} else {
		ESC_STORE(rc, s, order_items, o->id, l->read, ORDER_ITEMS_SHOWN, &l->items_count);
		read_past(v, rc);
		if (rc)
			l->items_count = 0;
	}
}

/* The refunds' and the items' arrays, as their trees. */
static void order_lists_text(struct esc_json_out *out, const struct order_lists *l)
{
	LIT(out, ",\"refunds\":[");
	for (size_t i = 0; i < l->refunds_count; i++) {
		if (i)
			LIT(out, ",");
		refund_text(out, &l->refunds[i]);
	}
	LIT(out, "],\"items\":[");
	for (size_t i = 0; i < l->items_count; i++) {
		const struct esc_item *it = &l->items[i];
		if (i)
			LIT(out, ",");
		LIT(out, "{\"title\":");
		text_str(out, it->title);
		LIT(out, ",\"quantity\":");
		esc_json_out_int(out, it->quantity);
		LIT(out, ",\"unit_price\":");
		esc_json_out_int(out, it->unit_price_minor);
		LIT(out, ",\"image_url\":");
		text_str_or_null(out, it->image_url);
		LIT(out, "}");
	}
	LIT(out, "]");
}

/* esc_view_explanation's object for deadline k of r (not passed), in
 * lang. */
static void explanation_text(struct esc_json_out *out, struct deadline_rules *r, int k,
			     enum esc_lang lang)
{
	const struct esc_explanation *x = &r->x[k];
	char *window = r->window[k], *text = r->text[k];
	char day[ESC_TIME_SIZE], policy_id[32];
	if (!text[0]) {
		esc_rule_window(x->window_ms, lang, window, sizeof r->window[k]);
		esc_explanation_render(x, false, lang, text, sizeof r->text[k]);
	}
	LIT(out, "{\"rule\":");
	text_str(out, esc_rule((enum esc_rule)x->rule)->id);
	LIT(out, ",\"window_ms\":");
	esc_json_out_int(out, x->window_ms);
	LIT(out, ",\"window\":");
	text_str(out, window);
	LIT(out, ",\"since\":");
	text_time(out, x->since_ms);
	LIT(out, ",\"due\":");
	text_time(out, x->due_ms);
	LIT(out, ",\"policy_version\":");
	if (x->policy_version) {
		snprintf(policy_id, sizeof policy_id, "pol_%lld", (long long)x->policy_version);
		esc_json_out_string(out, policy_id);
	} else {
		LIT(out, "null");
	}
	LIT(out, ",\"amount\":");
	if (x->has_amount)
		esc_json_out_int(out, x->amount_minor);
	else
		LIT(out, "null");
	LIT(out, ",\"currency\":");
	text_str(out, x->currency);
	LIT(out, ",\"method\":");
	if (x->method >= 0)
		text_str(out, esc_method_name((enum esc_method)x->method));
	else
		LIT(out, "null");
	const int64_t days[2] = {x->expected_from_ms, x->expected_to_ms};
	for (int i = 0; i < 2; i++) {
		if (i)
			LIT(out, ",\"expected_to\":");
		else
			LIT(out, ",\"expected_from\":");
		if (days[i]) {
			esc_time_format(days[i], day);
			day[10] = '\0'; /* view_day's full-date */
			esc_json_out_string(out, day);
		} else {
			LIT(out, "null");
		}
	}
	LIT(out, ",\"text\":");
	text_str(out, text);
	LIT(out, "}");
}

/* The rules of an order's text: the tree (an order with a dispute, whose
 * member is still made as one) or the explanations. */
struct rules_of_text {
	json_t *tree;
	struct deadline_rules *x; /* NULL: none (an event's object) */
	enum esc_lang lang;
};

/* The rule of the deadline at due_ms, as rule_at finds it, or null. */
static void rule_at_text(struct esc_json_out *out, const struct esc_order *o,
			 const struct rules_of_text *r, int64_t due_ms)
{
	if (r->tree) {
		text_tree(out, rule_at(o, r->tree, due_ms));
		return;
	}
	for (int k = 0; due_ms && k < ESC_DL_ORDER_COUNT; k++)
		if (o->due_ms[k] == due_ms && r->x->x[k].rule >= 0) {
			explanation_text(out, r->x, k, r->lang);
			return;
		}
	LIT(out, "null");
}

/* actions_json's array, for the order's own actions. */
static void order_actions_text(struct esc_json_out *out, const struct esc_action *actions, size_t n,
			       const struct esc_order *o, const struct rules_of_text *rules)
{
	bool first = true;
	LIT(out, "[");
	for (size_t i = 0; i < n; i++) {
		const char *nm = action_name(actions[i].event);
		if (!nm)
			continue;
		if (!first)
			LIT(out, ",");
		LIT(out, "{\"name\":");
		first = false;
		text_str(out, nm);
		LIT(out, ",\"deadline\":");
		text_time(out, actions[i].deadline_ms);
		if (rules->tree || rules->x) {
			LIT(out, ",\"deadline_rule\":");
			/* The tree is an order's with a dispute, which has no
			 * dispute action: rule_at_text's null. */
			if (rules->x && is_cutoff(o, &actions[i]) && rules->x->x[CUTOFF].rule >= 0)
				explanation_text(out, rules->x, CUTOFF, rules->lang);
			else
				rule_at_text(out, o, rules, actions[i].deadline_ms);
		}
		LIT(out, "}");
	}
	LIT(out, "]");
}

/* The order's last members: its actions, then the deadlines' rules when
 * the viewer has them; *actions_at (when not NULL) where they begin. */
static void order_tail_text(struct esc_json_out *out, const struct esc_action *actions, size_t n,
			    const struct esc_order *o, const struct rules_of_text *rules,
			    size_t *actions_at)
{
	if (actions_at)
		*actions_at = out->len;
	LIT(out, ",\"actions\":");
	order_actions_text(out, actions, n, o, rules);
	if (rules->tree) {
		LIT(out, ",\"deadline_rules\":");
		esc_json_out_value(out, rules->tree);
	} else if (rules->x) {
		bool first = true;
		LIT(out, ",\"deadline_rules\":{");
		for (int k = 0; k < ESC_DL_ORDER_COUNT; k++) {
			if (rules->x->x[k].rule < 0)
				continue;
			if (!first)
				LIT(out, ",");
			first = false;
			text_str(out, esc_deadline_name((enum esc_deadline_kind)k));
			LIT(out, ":");
			explanation_text(out, rules->x, k, rules->lang);
		}
		LIT(out, "}");
	}
}

/* cancellation_json's object. */
static void cancellation_text(struct esc_json_out *out, const struct esc_policy *p,
			      const struct esc_order *o)
{
	if (!o->cancel_requests) {
		LIT(out, "null");
		return;
	}
	LIT(out, "{\"requests_made\":");
	esc_json_out_int(out, (int)o->cancel_requests);
	LIT(out, ",\"requests_allowed\":");
	esc_json_out_int(out, (int)p->cancel_requests_max);
	LIT(out, ",\"reason\":");
	text_str(out, o->cancel_reason);
	LIT(out, ",\"refund_to\":");
	text_str(out, esc_refund_to_name(o->refund_to));
	if (o->state == ESC_ST_CANCELLATION_REQUESTED)
		LIT(out, ",\"open\":true,\"comment\":");
	else
		LIT(out, ",\"open\":false,\"comment\":");
	text_str_or_null(out, o->cancel_comment);
	LIT(out, ",\"rejection_message\":");
	text_str_or_null(out, o->reject_message);
	LIT(out, "}");
}

/* A command's answer (esc_view_order_text): the members before "actions"
 * as its event wrote them (prefix), then v's actions and rules. */
static void order_reply_text(struct esc_engine *e, struct esc_store *s, struct esc_viewer *v,
			     const struct esc_order *o, const char *prefix, size_t prefix_len,
			     struct esc_json_out *out, size_t *actions_at)
{
	struct esc_action actions[ACTIONS_MAX];
	struct deadline_rules x;
	size_t n_actions = actions_of(e, s, v, o, actions);
	struct rules_of_text rules = {.x = deadline_rules_read(e, s, v, o, &x) ? &x : NULL,
				      .lang = v->lang};
	esc_json_out_raw(out, prefix, prefix_len);
	order_tail_text(out, actions, n_actions, o, &rules, actions_at);
}

bool esc_view_order_text(struct esc_engine *e, struct esc_store *s, struct esc_viewer *v,
			 const struct esc_order *o, struct esc_json_out *out, size_t *actions_at)
{
	struct esc_action actions[ACTIONS_MAX];
	char policy_id[32];
	const char *prefix = NULL;
	size_t prefix_len = 0;
	/* A command's answer whose event's object is a tree is made from
	 * it: the tree. */
	if (esc_engine_reply_object(e, s, o))
		return false;
	if (esc_engine_reply_text(e, s, o, &prefix, &prefix_len)) {
		if (o->disputes_count || !reply_shares_shipment(v, o))
			return false;
		order_reply_text(e, s, v, o, prefix, prefix_len, out, actions_at);
		return true;
	}
	const struct esc_policy *p = order_policy(e, s, v, o);
	size_t n_actions = actions_of(e, s, v, o, actions);
	/* A dispute's member, made as a tree, takes the rules' tree. */
	struct deadline_rules x;
	struct rules_of_text rules = {.lang = v->lang};
	if (o->disputes_count)
		rules.tree = deadline_rules_json(e, s, v, o, NULL);
	else if (deadline_rules_read(e, s, v, o, &x))
		rules.x = &x;

	LIT(out, "{\"id\":");
	text_str(out, o->id);
	LIT(out, ",\"version\":");
	esc_json_out_int(out, o->version);
	LIT(out, ",\"status\":");
	text_str(out, esc_state_name(o->state));
	LIT(out, ",\"buyer_id\":");
	text_str(out, o->buyer_id);
	LIT(out, ",\"seller_id\":");
	text_str(out, o->seller_id);
	LIT(out, ",\"currency\":");
	text_str(out, o->currency);
	LIT(out, ",\"total\":");
	esc_json_out_int(out, o->total_minor);
	LIT(out, ",\"paid\":");
	esc_json_out_int(out, o->paid_minor);
	LIT(out, ",\"refunded\":");
	esc_json_out_int(out, o->refunded_minor);
	LIT(out, ",\"released\":");
	esc_json_out_int(out, o->released_minor);
	LIT(out, ",\"fee\":");
	esc_json_out_int(out, o->fee_minor);
	LIT(out, ",\"delivery_days\":");
	esc_json_out_int(out, (int)o->delivery_days);
	snprintf(policy_id, sizeof policy_id, "pol_%lld", (long long)o->policy_version);
	LIT(out, ",\"policy_version\":");
	esc_json_out_string(out, policy_id);
	LIT(out, ",\"payment_method\":");
	if (o->paid_at_ms) {
		text_str(out, esc_method_name(o->method));
		LIT(out, ",\"refund_expected_days\":{\"min\":");
		esc_json_out_int(out, (int)p->settle_days_min[o->method]);
		LIT(out, ",\"max\":");
		esc_json_out_int(out, (int)p->settle_days_max[o->method]);
		LIT(out, "}");
	} else {
		LIT(out, "null,\"refund_expected_days\":null");
	}
	struct order_lists lists;
	order_lists_read(s, v, o, &lists);
	const char *name = user_name_of(v, s, o->buyer_id);
	LIT(out, ",\"buyer_name\":");
	if (name)
		esc_json_out_string(out, name);
	else
		LIT(out, "null");
	name = user_name_of(v, s, o->seller_id);
	LIT(out, ",\"seller_name\":");
	if (name)
		esc_json_out_string(out, name);
	else
		LIT(out, "null");
	LIT(out, ",\"created_at\":");
	text_time(out, o->created_at_ms);
	LIT(out, ",\"paid_at\":");
	text_time(out, o->paid_at_ms);
	LIT(out, ",\"shipped_at\":");
	text_time(out, o->shipped_at_ms);
	LIT(out, ",\"promised_delivery_at\":");
	text_time(out, o->promised_at_ms);
	LIT(out, ",\"delivered_at\":");
	text_time(out, o->delivered_at_ms);
	LIT(out, ",\"ended_at\":");
	text_time(out, o->ended_at_ms);
	LIT(out, ",\"deadlines\":{");
	for (int k = 0; k < ESC_DL_ORDER_COUNT; k++) {
		if (k)
			LIT(out, ",");
		text_str(out, esc_deadline_name((enum esc_deadline_kind)k));
		LIT(out, ":");
		text_time(out, o->due_ms[k]);
	}
	LIT(out, "},\"cancellation\":");
	cancellation_text(out, p, o);
	LIT(out, ",\"shipment\":");
	if (o->carrier[0])
		text_tree(out, shipment_json(p, esc_engine_policy(e), o, v->lang));
	else
		LIT(out, "null");
	LIT(out, ",\"dispute\":");
	if (o->disputes_count)
		text_tree(out, dispute_json(o, actions, n_actions, rules.tree));
	else
		LIT(out, "null");
	order_lists_text(out, &lists);
	order_tail_text(out, actions, n_actions, o, &rules, actions_at);
	json_decref(rules.tree);
	return true;
}

json_t *esc_view_dispute(struct esc_engine *e, struct esc_store *s, struct esc_viewer *v,
			 const struct esc_order *o)
{
	struct esc_action actions[ACTIONS_MAX];
	size_t n = actions_of(e, s, v, o, actions);
	json_t *rules = deadline_rules_json(e, s, v, o, NULL);
	json_t *j = dispute_json(o, actions, n, rules);
	json_decref(rules);
	return j;
}

json_t *esc_view_dispute_listed(struct esc_engine *e, struct esc_store *s, struct esc_viewer *v,
				const struct esc_order *o)
{
	json_t *j = esc_view_dispute(e, s, v, o);
	json_object_set_new(j, "buyer_name", user_name(v, s, o->buyer_id));
	json_object_set_new(j, "seller_name", user_name(v, s, o->seller_id));
	json_object_set_new(j, "items", order_items_json(s, v, o->id));
	return j;
}

/* The order's history (first 100 events), for the dispute's view. */
static json_t *dispute_history(struct esc_store *s, struct esc_viewer *v, const char *order_id)
{
	struct esc_history *h = calloc(DISPUTE_LIST_MAX, sizeof *h);
	size_t n = 0;
	int rc = h ? 0 : ESC_ENOMEM;
	json_t *list = json_array();
	if (!rc)
		ESC_STORE(rc, s, history_list, order_id, 0, h, DISPUTE_LIST_MAX, &n);
	read_past(v, rc);
	for (size_t i = 0; !rc && i < n; i++)
		json_array_append_new(list, esc_view_history(&h[i]));
	if (!rc && n < DISPUTE_LIST_MAX && v->history_next &&
	    !strcmp(v->history_next->order_id, order_id))
		json_array_append_new(list, esc_view_history(v->history_next));
	free(h);
	return list;
}

/* The messages between the parties (first 100), kept with the dispute. */
static json_t *dispute_messages(struct esc_store *s, struct esc_viewer *v, const char *order_id)
{
	struct esc_message *m = calloc(DISPUTE_LIST_MAX, sizeof *m);
	size_t n = 0;
	int rc = m ? 0 : ESC_ENOMEM;
	json_t *list = json_array();
	if (!rc)
		ESC_STORE(rc, s, messages_list, order_id, 0, m, DISPUTE_LIST_MAX, &n);
	read_past(v, rc);
	for (size_t i = 0; !rc && i < n; i++)
		json_array_append_new(list, esc_view_message(&m[i]));
	free(m);
	return list;
}

int esc_view_dispute_full(struct esc_engine *e, struct esc_store *s, struct esc_viewer *v,
			  const struct esc_order *o, json_t **out)
{
	struct esc_evidence ev[ESC_EVIDENCE_MAX];
	struct esc_dispute_facts facts;
	size_t n = 0;
	int rc;
	*out = NULL;
	ESC_STORE(rc, s, evidence_list, o->id, ev, ESC_EVIDENCE_MAX, &n);
	/* What the recommendation reads, as the decide command reads it. */
	if (!rc)
		rc = esc_engine_dispute_facts_of(e, s, o, ev, n, &facts);
	if (rc)
		return rc;
	json_t *j = esc_view_dispute(e, s, v, o);
	json_t *list = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(list, esc_view_evidence(&ev[i]));
	json_object_set_new(j, "evidence", list);
	json_object_set_new(j, "history", dispute_history(s, v, o->id));
	json_object_set_new(j, "messages", dispute_messages(s, v, o->id));
	/* Both reputations, to the parties too (SPEC §6). */
	json_object_set_new(j, "buyer_reputation",
			    json_pack("{s:s, s:s, s:s}", "user_id", o->buyer_id, "level",
				      esc_level_name(facts.buyer.level), "why", facts.buyer.why));
	json_object_set_new(j, "seller_reputation",
			    json_pack("{s:s, s:i, s:s}", "user_id", o->seller_id, "score",
				      (int)facts.seller.score, "why", facts.seller.why));
	if (v->actor == ESC_ACTOR_ARBITER && v->user_id)
		json_object_set_new(j, "recommendation",
				    esc_view_recommendation(o, &facts, esc_engine_now(e)));
	*out = j;
	return 0;
}

/* ---- reputations ---- */

/* Whether a mark of user_id's reputation may name its order to v: the
 * user, the operator (and webhook events, made for it) and arbiters see
 * every one; another buyer or seller only the orders they are a party
 * to. Anyone may read a reputation, but not learn of another's orders
 * from it (SPEC §1: such an order answers 404, its existence not
 * revealed). */
static bool rep_order_shown(struct esc_store *s, const struct esc_viewer *v, const char *user_id,
			    const char *order_id)
{
	if (!v->user_id || v->actor == ESC_ACTOR_ARBITER || !strcmp(v->user_id, user_id))
		return true;
	struct esc_order o;
	int rc;
	ESC_STORE(rc, s, order_get, order_id, &o);
	return !rc && (!strcmp(o.buyer_id, v->user_id) || !strcmp(o.seller_id, v->user_id));
}

/* The marks that moved a reputation, newest first, over its window. */
static json_t *rep_events_json(struct esc_store *s, struct esc_viewer *v, const char *user_id,
			       int64_t since_ms)
{
	struct esc_mark_row m[REP_EVENTS_MAX];
	size_t n = 0;
	int rc;
	ESC_STORE(rc, s, marks_list, user_id, since_ms, m, REP_EVENTS_MAX, &n);
	read_past(v, rc);
	json_t *list = json_array();
	for (size_t i = 0; !rc && i < n; i++) {
		bool shown = m[i].order_id[0] && rep_order_shown(s, v, user_id, m[i].order_id);
		json_array_append_new(list,
				      json_pack("{s:o, s:s, s:o}", "at", esc_view_time(m[i].at_ms),
						"event", esc_mark_name(m[i].mark), "order_id",
						shown ? json_string(m[i].order_id) : json_null()));
	}
	return list;
}

json_t *esc_view_cancel_budget(struct esc_engine *e, struct esc_store *s, const char *user_id,
			       int *rc)
{
	struct esc_cancel_budget b;
	*rc = esc_engine_cancel_budget_held(e, s, user_id, &b);
	return *rc ? NULL : esc_view_budget(&b);
}

json_t *esc_view_budget(const struct esc_cancel_budget *b)
{
	const struct esc_rule_info *rule =
		b->next_rule >= 0 ? esc_rule((enum esc_rule)b->next_rule) : NULL;
	return json_pack("{s:s, s:o, s:o, s:o, s:o, s:o}", "level", esc_level_name(b->level),
			 "cancellations_left", b->left >= 0 ? json_integer(b->left) : json_null(),
			 "next_level",
			 b->next_level != b->level ? json_string(esc_level_name(b->next_level))
						   : json_null(),
			 "next_rule", rule ? json_string(rule->id) : json_null(),
			 "oldest_leaves_30_days_at", esc_view_time(b->short_leaves_ms),
			 "oldest_leaves_90_days_at", esc_view_time(b->long_leaves_ms));
}

json_t *esc_view_cancel_preview(const struct esc_cancel_preview *pv, enum esc_lang lang)
{
	const struct esc_order *o = &pv->order;
	json_t *refund = json_null();
	if (pv->has_refund) {
		const struct esc_refund *r = &pv->refund;
		refund =
			json_pack("{s:I, s:s, s:s, s:o, s:o}", "amount",
				  (json_int_t)r->amount_minor, "currency", o->currency, "method",
				  esc_method_name(r->method), "expected_from",
				  view_day(r->created_at_ms + r->settle_days_min * ESC_MS_PER_DAY),
				  "expected_to",
				  view_day(r->created_at_ms + r->settle_days_max * ESC_MS_PER_DAY));
	}
	json_t *j =
		json_pack("{s:b, s:s, s:s, s:b, s:o, s:o}", "preview", 1, "order_id", o->id,
			  "status", esc_state_name(o->state), "immediate", pv->immediate, "refund",
			  refund, "fault", pv->fault ? json_string(pv->fault) : json_null());
	json_object_set_new(j, "response_deadline",
			    esc_view_time(pv->immediate ? 0 : o->due_ms[ESC_DL_RESPONSE]));
	json_object_set_new(j, "response_rule",
			    pv->response.rule >= 0
				    ? esc_view_explanation(&pv->response, false, lang)
				    : json_null());
	json_object_set_new(j, "policy_version",
			    pv->policy_version ? esc_view_policy_id(pv->policy_version)
					       : json_null());
	json_object_set_new(j, "buyer_level", json_string(esc_level_name(pv->level_before)));
	json_object_set_new(j, "buyer_level_after", json_string(esc_level_name(pv->level_after)));
	json_object_set_new(j, "cancellation_budget_after", esc_view_budget(&pv->budget_after));
	return j;
}

/* The rule that set a buyer's level, with the count it read, its
 * threshold and window: its passed sentence once it set a level, its
 * passes sentence (how far from it) while the buyer is good. */
static json_t *buyer_explanation(const struct esc_policy *p, int32_t version,
				 const struct esc_buyer_rep *r, enum esc_lang lang)
{
	int32_t count = 0, threshold = 0;
	bool rate = false;
	switch ((enum esc_rule)r->rule) {
	case ESC_RULE_WATCH_CANCELLATIONS:
		count = r->cancellations_short;
		threshold = p->watch_cancellations;
		break;
	case ESC_RULE_RESTRICTED_CANCELLATIONS:
		count = r->cancellations_short;
		threshold = p->restricted_cancellations;
		break;
	case ESC_RULE_RESTRICTED_RATE:
		count = r->paid_long;
		threshold = p->restricted_rate_percent;
		rate = true;
		break;
	case ESC_RULE_SUSPENDED_CANCELLATIONS:
		count = r->cancellations_long;
		threshold = p->suspended_cancellations;
		break;
	case ESC_RULE_SUSPENDED_LOST_DISPUTES:
		count = r->disputes_lost_long;
		threshold = p->suspended_lost_disputes;
		break;
	default:
		return json_null();
	}
	char c[16], t[32], pct[32] = "", min_paid[16];
	snprintf(c, sizeof c, "%d", (int)count);
	snprintf(min_paid, sizeof min_paid, "%d", (int)p->restricted_rate_min_paid);
	if (rate) {
		esc_rule_percent((int64_t)threshold * 100, lang, t, sizeof t);
		esc_rule_percent((int64_t)r->rate_percent * 100, lang, pct, sizeof pct);
	} else {
		snprintf(t, sizeof t, "%d", (int)threshold);
	}
	const struct esc_rule_var vars[] = {
		{"count", c}, {"threshold", t}, {"percent", pct}, {"min_paid", min_paid}};
	json_t *j = esc_view_rule_explanation(r->rule, version, r->level != ESC_LEVEL_GOOD,
					      esc_rule_window_ms(p, (enum esc_rule)r->rule), vars,
					      sizeof vars / sizeof vars[0], lang);
	json_object_set_new(j, "count", json_integer(count));
	json_object_set_new(j, "threshold", json_integer(threshold));
	if (rate) {
		json_object_set_new(j, "percent", json_integer(r->rate_percent));
		json_object_set_new(j, "min_paid", json_integer(p->restricted_rate_min_paid));
	}
	return j;
}

/* A seller's score explained: the faults counted, the weight of each,
 * the orders they are spread over and the score. */
static json_t *seller_explanation(const struct esc_policy *p, int32_t version,
				  const struct esc_seller_rep *r, enum esc_lang lang)
{
	int32_t faults =
		r->fault_cancels + r->missed_ships + r->disputes_lost + r->invalid_tracking;
	char c[16], score[16];
	snprintf(c, sizeof c, "%d", (int)faults);
	snprintf(score, sizeof score, "%d", (int)r->score);
	const struct esc_rule_var vars[] = {{"count", c}, {"score", score}};
	json_t *j = esc_view_rule_explanation(ESC_RULE_SELLER_SCORE, version, true,
					      p->seller_window_ms, vars, 2, lang);
	json_object_set_new(j, "count", json_integer(faults));
	json_object_set_new(j, "score", json_integer(r->score));
	json_object_set_new(j, "min_orders", json_integer(p->seller_min_orders));
	json_object_set_new(j, "weights",
			    json_pack("{s:i, s:i, s:i, s:i}", "seller_fault_cancellations",
				      (int)p->seller_weight_fault_cancel, "missed_ship_deadlines",
				      (int)p->seller_weight_missed_ship, "disputes_lost",
				      (int)p->seller_weight_lost_dispute,
				      "invalid_tracking_numbers",
				      (int)p->seller_weight_invalid_tracking));
	return j;
}

/* A buyer's level, the counts behind it, the marks that moved it, and
 * their lifted suspensions with their reasons. */
static int buyer_json(struct esc_engine *e, struct esc_store *s, struct esc_viewer *v,
		      const struct esc_user *u, json_t **out)
{
	int64_t now = esc_engine_now(e);
	struct esc_buyer_rep r;
	struct esc_lift lifts[LIFTS_SHOWN];
	size_t n = 0;
	int rc = esc_engine_buyer_reputation_held(e, s, u->id, &r);
	if (!rc)
		ESC_STORE(rc, s, lifts_list, u->id, lifts, LIFTS_SHOWN, &n);
	if (rc)
		return rc;
	json_t *j =
		json_pack("{s:s, s:s, s:s, s:s, s:{s:i, s:i, s:i, s:i, s:i}}", "user_id", u->id,
			  "role", "buyer", "level", esc_level_name(r.level), "why", r.why, "counts",
			  "cancellations_30_days", (int)r.cancellations_short,
			  "cancellations_90_days", (int)r.cancellations_long, "paid_orders_90_days",
			  (int)r.paid_long, "cancellation_rate_percent", (int)r.rate_percent,
			  "disputes_lost_90_days", (int)r.disputes_lost_long);
	if (r.lifted) {
		json_t *counts = json_object_get(j, "counts");
		json_object_set_new(counts, "cancellations_since_lift",
				    json_integer(r.cancellations_since_lift));
		json_object_set_new(counts, "disputes_lost_since_lift",
				    json_integer(r.disputes_lost_since_lift));
	}
	json_object_set_new(j, "rule", json_string(esc_rule((enum esc_rule)r.rule)->id));
	json_object_set_new(
		j, "explanation",
		buyer_explanation(esc_engine_policy(e), esc_engine_policy_version(e), &r, v->lang));
	json_object_set_new(
		j, "events",
		rep_events_json(s, v, u->id, now - esc_engine_policy(e)->buyer_long_window_ms));
	json_t *ls = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(ls,
				      json_pack("{s:o, s:s, s:s}", "at",
						esc_view_time(lifts[i].at_ms), "arbiter_id",
						lifts[i].arbiter_id, "reason", lifts[i].reason));
	json_object_set_new(j, "suspensions_lifted", ls);
	/* The budget is the buyer's own business: theirs, the operator's
	 * and an arbiter's to see, not a seller's. */
	if (v->actor == ESC_ACTOR_OPERATOR || v->actor == ESC_ACTOR_ARBITER ||
	    (v->user_id && !strcmp(v->user_id, u->id))) {
		json_t *budget = esc_view_cancel_budget(e, s, u->id, &rc);
		if (!budget) {
			json_decref(j);
			return rc;
		}
		json_object_set_new(j, "cancellation_budget", budget);
	}
	*out = j;
	return 0;
}

int esc_view_reputation(struct esc_engine *e, struct esc_store *s, struct esc_viewer *v,
			const struct esc_user *u, json_t **out)
{
	int64_t now = esc_engine_now(e);
	struct esc_seller_rep r;
	int rc;
	*out = NULL;
	if (u->role == ESC_ACTOR_BUYER)
		return buyer_json(e, s, v, u, out);
	rc = esc_engine_seller_reputation_held(e, s, u->id, &r);
	if (rc)
		return rc;
	json_t *j = json_pack("{s:s, s:s, s:i, s:s, s:{s:i, s:i, s:i, s:i, s:i}}", "user_id", u->id,
			      "role", "seller", "score", (int)r.score, "why", r.why, "counts",
			      "orders_90_days", (int)r.orders_long, "seller_fault_cancellations",
			      (int)r.fault_cancels, "missed_ship_deadlines", (int)r.missed_ships,
			      "disputes_lost", (int)r.disputes_lost, "invalid_tracking_numbers",
			      (int)r.invalid_tracking);
	json_object_set_new(j, "rule", json_string(esc_rule((enum esc_rule)r.rule)->id));
	json_object_set_new(j, "explanation",
			    seller_explanation(esc_engine_policy(e), esc_engine_policy_version(e),
					       &r, v->lang));
	json_object_set_new(
		j, "events",
		rep_events_json(s, v, u->id, now - esc_engine_policy(e)->seller_window_ms));
	*out = j;
	return 0;
}
