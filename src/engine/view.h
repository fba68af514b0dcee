/* view.h - the JSON views of orders, refunds, disputes and reputations:
 * what the API answers (http/routes.c) and what an event carries as its
 * data.object (engine.c: the outbox row a command writes). One rendering
 * serves both, so a receiver of an event holds what GET answered at the
 * event's version.
 *
 * A view depends on who looks (a viewer: the operator, or a signed-in
 * user in a role) for the actions it lists and, for an arbiter, the
 * recommendation. Functions that read take the engine (policy, clock) and
 * a store the caller holds: the read pool's (esc_engine_store_acquire), or
 * the writer's inside a command's transaction. Returned documents are
 * new references the caller owns; NULL only when out of memory. */
#ifndef ESC_ENGINE_VIEW_H
#define ESC_ENGINE_VIEW_H

#include <jansson.h>

#include "core/rules.h"
#include "engine/engine.h"

/* Who looks at a view, with what it read once for one answer (a list
 * shows many orders of the same parties). */
struct esc_viewer {
	enum esc_actor actor; /* ESC_ACTOR_OPERATOR, or the signed-in user's role */
	const char *user_id;  /* the user's id; NULL for the operator */
	int buyer_level;      /* a viewing buyer's level, read once: -1 until then */
	/* Users' names already read for this answer. */
	struct {
		char id[ESC_ID_SIZE];
		char name[ESC_NAME_MAX + 1];
	} names[4];
	unsigned names_next;
	/* A command that has just created the order it shows holds what the
	 * view would read back: its items (shown from here) and its refunds
	 * (none yet). */
	bool new_order;
	const struct esc_item *items;
	size_t items_count;
	/* A command's own history line, which its event's row writes after
	 * the view is made: the dispute's history shows it last. NULL for
	 * none. */
	const struct esc_history *history_next;
	/* The first store failure a view read past, showing that part empty
	 * or null (an answer shows what it could read), or 0: a command's
	 * event fails on it instead. */
	int failed;
	/* The language of the sentences (the request's Accept-Language;
	 * English, 0, unless it asks for Icelandic). */
	enum esc_lang lang;
	/* The view is an event's data.object: the deadlines' rules are left
	 * out (GET the order for them), keeping the event row lean. */
	bool for_event;
};

/* The operator (user_id NULL) or a user of role actor, nothing read yet. */
void esc_viewer_init(struct esc_viewer *v, enum esc_actor actor, const char *user_id);

/* A user's name the caller read already: the view does not read it. */
void esc_viewer_know_name(struct esc_viewer *v, const struct esc_user *u);

/* A time as RFC 3339 text, or null for 0. */
json_t *esc_view_time(int64_t ms);
/* A policy version's id: "pol_" and its number (issue 16). */
json_t *esc_view_policy_id(int64_t version);

/* A decision of a rule without a deadline explained (issue 16): a fee
 * taken, a refusal, a buyer's level, a seller's score. A RuleExplanation
 * (OpenAPI): the rule's id, policy_version (0: null), the rule's passed
 * sentence (passes when passed is false) with vars filled in lang, and
 * window_ms and window when window_ms > 0 (then also the {window} of the
 * sentence). The caller adds the numbers. */
json_t *esc_view_rule_explanation(int rule, int32_t policy_version, bool passed, int64_t window_ms,
				  const struct esc_rule_var *vars, size_t n, enum esc_lang lang);

/* An automatic decision explained (core/rules.h): the rule, its window,
 * the numbers and the sentence, `passes` (a deadline ahead) or `passed`
 * (the event the system wrote), in lang. */
json_t *esc_view_explanation(const struct esc_explanation *x, bool passed, enum esc_lang lang);

/* A refund, as GET /v1/refunds lists it. */
json_t *esc_view_refund(const struct esc_refund *r);

/* A history row (GET /v1/orders/{id}/events) and a message. */
json_t *esc_view_history(const struct esc_history *h);
json_t *esc_view_message(const struct esc_message *m);

/* Evidence: its id ("evd_" and the order id's own part, "-", its number)
 * and its JSON. */
#define ESC_EVIDENCE_ID_SIZE (ESC_ID_SIZE + 8)
void esc_view_evidence_id(char out[ESC_EVIDENCE_ID_SIZE], const struct esc_evidence *ev);
json_t *esc_view_evidence(const struct esc_evidence *ev);

/* The order as GET /v1/orders/{id} answers v, with what v may do now.
 * Reads the order's refunds and items, its parties' names and, for a
 * buyer, their level (once per viewer). */
json_t *esc_view_order(struct esc_engine *e, struct esc_store *s, struct esc_viewer *v,
		       const struct esc_order *o);

/* esc_view_order's document as text, without the tree: its opening
 * brace and its members, byte for byte as esc_json_text writes them,
 * into out; the caller adds members of its own and the closing brace.
 * actions_at, when not NULL, is set to where its "actions" member (the
 * comma before it) begins in out. It reads what esc_view_order reads.
 * Inside a command's reply, for the order the command leaves, the
 * members before "actions" are its event's text (esc_engine_reply_text),
 * not made again. false, with nothing read or written, when that answer
 * must be the tree: its event's object is one, or the order has a
 * dispute (whose actions are the viewer's, inside those members) or a
 * shipment the viewer reads in another language than the event's.
 * out->failed when a string is not UTF-8 or memory ran out (the tree
 * then fails or shows the part null: make it). */
struct esc_json_out;
bool esc_view_order_text(struct esc_engine *e, struct esc_store *s, struct esc_viewer *v,
			 const struct esc_order *o, struct esc_json_out *out, size_t *actions_at);

/* The order's dispute as lists and commands answer it, with the actions v
 * may send to /v1/disputes/{id}/ now. */
json_t *esc_view_dispute(struct esc_engine *e, struct esc_store *s, struct esc_viewer *v,
			 const struct esc_order *o);

/* The dispute as GET /v1/disputes lists it (issue 17): esc_view_dispute
 * with both parties' names and the order's items, for the arbiter's
 * queue's cards. */
json_t *esc_view_dispute_listed(struct esc_engine *e, struct esc_store *s, struct esc_viewer *v,
				const struct esc_order *o);

/* The dispute as GET /v1/disputes/{id} answers v: esc_view_dispute with
 * its evidence, history, messages, both parties' reputations and, for an
 * arbiter, the recommendation. 0 and *out, or the store's failure. */
int esc_view_dispute_full(struct esc_engine *e, struct esc_store *s, struct esc_viewer *v,
			  const struct esc_order *o, json_t **out);

/* The arbiter's recommendation on o: the one its decision kept, else
 * computed from facts at now_ms (null without facts, or for a decision
 * made before escrowd kept it). */
json_t *esc_view_recommendation(const struct esc_order *o, const struct esc_dispute_facts *facts,
				int64_t now_ms);

/* A buyer's or a seller's reputation as GET /v1/users/{id}/reputation
 * answers it (u a buyer or a seller). 0 and *out, or the store's
 * failure. */
/* A buyer's cancellation budget (issue 16 item 3): how many more
 * cancellations after payment keep their level, what the next brings and
 * by which rule, and when the oldest counted one leaves each window. NULL
 * when it cannot be read (rc in *rc). */
/* A budget as the API shows it (CancellationBudget). */
json_t *esc_view_budget(const struct esc_cancel_budget *b);
/* What confirming a cancellation would do (POST /v1/orders/{id}/cancel
 * with "preview": true; CancelPreview), its sentences in lang. */
json_t *esc_view_cancel_preview(const struct esc_cancel_preview *pv, enum esc_lang lang);
json_t *esc_view_cancel_budget(struct esc_engine *e, struct esc_store *s, const char *user_id,
			       int *rc);

int esc_view_reputation(struct esc_engine *e, struct esc_store *s, struct esc_viewer *v,
			const struct esc_user *u, json_t **out);

#endif
