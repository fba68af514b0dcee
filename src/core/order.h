/* order.h - the order machine of SPEC §2: types, and one pure decision.
 *
 * esc_decide() applies an event, by an actor, at a time, to an order and
 * returns the new order and the effects (transfers, deadline changes,
 * refunds, reputation marks, a message to the other party, the history and
 * outbox event) as data, or a
 * refusal with its ESC_E* code. It does no I/O and reads no clock: the
 * engine loads, calls it, and persists what it returns. */
#ifndef ESC_ORDER_H
#define ESC_ORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"
#include "core/money.h"
#include "core/policy.h"
#include "core/reputation.h"
#include "util/id.h" /* ESC_ID_SIZE */

/* The API's limits (text, items, amounts, evidence, ...): core/limits.h. */
#define ESC_ORDER_ID_MAX     40 /* room for a refund id's "-rN" */
#define ESC_ACCOUNT_SIZE     64 /* "escrow:" + an order id */
#define ESC_TRANSFER_ID_SIZE 80 /* order id + "/refund/2/settle" */

enum esc_state {
	ESC_ST_NONE, /* not yet created */
	ESC_ST_AWAITING_PAYMENT,
	ESC_ST_AWAITING_SHIPMENT,
	ESC_ST_CANCELLATION_REQUESTED,
	ESC_ST_SHIPPED,
	ESC_ST_DELIVERED,
	ESC_ST_IN_DISPUTE,
	ESC_ST_COMPLETED,
	ESC_ST_CANCELLED,
	ESC_ST_CLOSED,
	ESC_ST_COUNT
};

enum esc_event {
	ESC_EV_CREATE,
	ESC_EV_PAY,
	ESC_EV_CANCEL, /* unpaid: cancels; awaiting shipment: requests */
	ESC_EV_ACCEPT_CANCELLATION,
	ESC_EV_REJECT_CANCELLATION,
	ESC_EV_WITHDRAW_CANCELLATION,
	ESC_EV_SHIP,
	ESC_EV_DELIVER,
	ESC_EV_CONFIRM_RECEIPT,
	ESC_EV_OPEN_DISPUTE, /* buyer: shipped, delivered, completed (15 days) */
	/* The dispute's life (SPEC §5): events of an order in dispute, run by
	 * the dispute machine on its own state (enum esc_dispute_state). */
	ESC_EV_ACCEPT_DISPUTE,   /* seller: refund as asked */
	ESC_EV_COUNTER_OFFER,    /* seller: a smaller amount */
	ESC_EV_REJECT_DISPUTE,   /* seller: with a message */
	ESC_EV_ACCEPT_OFFER,     /* buyer: takes the counter-offer */
	ESC_EV_ESCALATE,         /* buyer: to an arbiter */
	ESC_EV_WITHDRAW_DISPUTE, /* buyer: gives it up */
	ESC_EV_RETURN_SHIPMENT,  /* buyer: the goods are on their way back */
	ESC_EV_RETURN_RECEIVED,  /* seller: they arrived */
	ESC_EV_RESOLVE_DISPUTE,  /* arbiter: decides an escalated dispute */
	ESC_EV_PAYMENT_DEADLINE,
	ESC_EV_SHIP_DEADLINE,
	ESC_EV_RESPONSE_DEADLINE,
	ESC_EV_PROTECTION_DEADLINE,
	ESC_EV_CONFIRM_DEADLINE,
	ESC_EV_DISPUTE_DEADLINE, /* system: the dispute's window passed */
	ESC_EV_REFUND_SETTLED,   /* operator: a pending refund arrived */
	ESC_EV_REFUND_FAILED,    /* operator: it bounced; goes to balance */
	ESC_EV_REFUND_OVERDUE,   /* system: not confirmed within 10 days */
	ESC_EV_COUNT
};

enum esc_actor {
	ESC_ACTOR_OPERATOR,
	ESC_ACTOR_BUYER,
	ESC_ACTOR_SELLER,
	ESC_ACTOR_ARBITER,
	ESC_ACTOR_SYSTEM,
	ESC_ACTOR_COUNT
};

/* The durable deadlines of an order. Each is a due time in the order
 * (0 = not set) and a row in the store's deadline queue. */
enum esc_deadline_kind {
	ESC_DL_PAYMENT,
	ESC_DL_SHIP,
	ESC_DL_RESPONSE,
	ESC_DL_PROTECTION,
	ESC_DL_CONFIRM,
	ESC_DL_DISPUTE,                     /* the open dispute's current window */
	ESC_DL_ORDER_COUNT,                 /* the kinds above live in the order */
	ESC_DL_REFUND = ESC_DL_ORDER_COUNT, /* a refund's alert; ref = refund id */
	ESC_DL_COUNT
};

enum esc_refund_to { ESC_REFUND_TO_ORIGINAL, ESC_REFUND_TO_BALANCE };

/* The grounds of a dispute (SPEC §5) and the outcome the buyer asks for. */
enum esc_ground {
	ESC_GROUND_INVALID_TRACKING,
	ESC_GROUND_NOT_AS_DESCRIBED,
	ESC_GROUND_NOT_DELIVERED,
	ESC_GROUND_COUNT
};
enum esc_outcome { ESC_OUTCOME_REFUND_ONLY, ESC_OUTCOME_RETURN_AND_REFUND, ESC_OUTCOME_COUNT };

/* A dispute's state (SPEC §5). The seller's accept, and the buyer's
 * acceptance of an offer, agree a refund: it is paid at once (refund_only)
 * or once the goods are back (awaiting_return). */
enum esc_dispute_state {
	ESC_DS_NONE, /* the order has no dispute */
	ESC_DS_AWAITING_SELLER,
	ESC_DS_COUNTER_OFFERED,
	ESC_DS_REJECTED,
	ESC_DS_ESCALATED,
	ESC_DS_AWAITING_RETURN,
	ESC_DS_RESOLVED,
	ESC_DS_COUNT
};
const char *esc_dispute_state_name(enum esc_dispute_state s);
/* A dispute's id: "dsp_" and the order id's own part (one dispute per
 * order); and back, false when dispute_id is not one. */
void esc_dispute_id(char out[ESC_ID_SIZE], const char *order_id);
bool esc_dispute_order_id(char out[ESC_ID_SIZE], const char *dispute_id);
/* Is the event one of the dispute machine's (accept_dispute ... the
 * dispute deadline), run on an order in dispute? */
bool esc_event_is_dispute(enum esc_event e);
int esc_dispute_state_parse(const char *name); /* or -1 */
#define ESC_GROUND_SIZE 24
const char *esc_ground_name(enum esc_ground g);
const char *esc_outcome_name(enum esc_outcome o);
int esc_ground_parse(const char *name);  /* or -1 */
int esc_outcome_parse(const char *name); /* or -1 */
enum esc_refund_status { ESC_REFUND_PENDING, ESC_REFUND_SETTLED, ESC_REFUND_FAILED };

const char *esc_state_name(enum esc_state s);
const char *esc_event_name(enum esc_event e);
const char *esc_actor_name(enum esc_actor a);
const char *esc_deadline_name(enum esc_deadline_kind k);
const char *esc_refund_status_name(enum esc_refund_status s);
const char *esc_refund_to_name(enum esc_refund_to t);
int esc_state_parse(const char *name);         /* or -1 */
int esc_actor_parse(const char *name);         /* or -1 */
int esc_refund_status_parse(const char *name); /* or -1 */
int esc_event_parse(const char *name);         /* or -1 */
int esc_deadline_parse(const char *name);      /* or -1 */
int esc_refund_to_parse(const char *name);
bool esc_state_final(enum esc_state s);

struct esc_item {
	char title[ESC_TITLE_MAX + 1];
	int64_t quantity;
	int64_t unit_price_minor;
	char image_url[ESC_IMAGE_URL_MAX + 1]; /* "" when the marketplace gave none */
};

/* A refund of part or all of an order's escrow. */
struct esc_refund {
	char id[ESC_ID_SIZE]; /* order id + "-r" + n */
	char order_id[ESC_ID_SIZE];
	int64_t amount_minor;
	enum esc_method method; /* where it goes: the payment's or balance */
	enum esc_refund_status status;
	int64_t created_at_ms;
	int64_t resolved_at_ms;                   /* 0 while pending */
	int64_t alert_due_ms;                     /* 0 once resolved */
	int32_t settle_days_min, settle_days_max; /* shown to the buyer */
};

/* An order, as the core sees it. Fixed-size: copied by value. */
struct esc_order {
	char id[ESC_ID_SIZE];
	char buyer_id[ESC_ID_SIZE];
	char seller_id[ESC_ID_SIZE];
	char currency[ESC_CURRENCY_SIZE];
	int64_t total_minor;
	int64_t paid_minor;     /* funded into escrow */
	int64_t refunded_minor; /* refunds created so far */
	int64_t released_minor; /* released to seller and fee */
	int64_t fee_minor;      /* the fee part of released_minor */
	enum esc_method method; /* meaningful once paid */
	enum esc_state state;
	int64_t version; /* 1 at creation, +1 per change */
	/* The policy version the order was created under (pol_N, issue 16),
	 * which decides its deadlines, fees and outcomes; 0 until the
	 * engine pins a new order. */
	int32_t policy_version;
	int32_t delivery_days;
	int32_t items_count;

	/* The open or last cancellation request. */
	int32_t cancel_requests; /* made so far */
	char cancel_reason[ESC_REASON_CODE_MAX];
	char cancel_comment[ESC_TEXT_MAX + 1];
	enum esc_refund_to refund_to;
	char reject_message[ESC_TEXT_MAX + 1];

	char carrier[ESC_CARRIER_MAX + 1];
	char tracking[ESC_TRACKING_MAX + 1];
	/* The tracking number against its carrier at ship time (issue 16):
	 * "valid", "invalid_format" or "invalid_check_digit" (taken and
	 * flagged under tracking_check = flag), "" when the policy lists no
	 * such carrier. */
	char tracking_check[24];

	int64_t created_at_ms;
	int64_t paid_at_ms;
	int64_t shipped_at_ms;
	int64_t promised_at_ms; /* promised delivery date */
	int64_t delivered_at_ms;
	int64_t ended_at_ms;                /* completed, cancelled or closed */
	int64_t due_ms[ESC_DL_ORDER_COUNT]; /* 0 = not set */

	int32_t refunds_count; /* refund ids are id-r1, id-r2, ... */

	/* The dispute: one per order (SPEC §5). Its own life (offers,
	 * evidence, windows) is the disputes subsystem's; the order keeps
	 * what the order machine needs. */
	int32_t disputes_count;
	char dispute_ground[ESC_GROUND_SIZE];  /* "invalid_tracking", ... */
	char dispute_outcome[ESC_GROUND_SIZE]; /* "refund_only", "return_and_refund" */
	int64_t dispute_amount_minor;          /* asked for */
	int64_t dispute_opened_at_ms;
	int64_t dispute_paused_ms;    /* what the paused deadline had left */
	int64_t dispute_refund_minor; /* paid when it was resolved */
	enum esc_dispute_state dispute_state;
	enum esc_state dispute_from; /* the order's state when it opened */
	char dispute_description[ESC_TEXT_MAX + 1];
	int64_t dispute_offer_minor;              /* the seller's counter-offer */
	int64_t dispute_agreed_minor;             /* agreed, paid once the goods are back */
	char dispute_message[ESC_TEXT_MAX + 1];   /* the seller's, with an offer or rejection */
	char dispute_resolution[ESC_GROUND_SIZE]; /* how it ended: "accepted", "decided", ... */
	char dispute_reason[ESC_TEXT_MAX + 1];    /* the arbiter's written reason */
	enum esc_refund_to dispute_refund_to;     /* where its refund goes, as the buyer asked */
	/* The arbiter's recommendation as it stood when they decided: the
	 * decision moves the reputations it reads, so it is kept, not
	 * computed again. Kept when its reasons are not empty. */
	int64_t dispute_recommended_minor;
	char dispute_recommendation[ESC_RECOMMENDATION_MAX + 1]; /* its reasons, one a line */
	int64_t dispute_escalated_at_ms;
	/* When an arbiter decided (0: none did). A decided return_and_refund
	 * is resolved only once the goods are back; its kept recommendation
	 * is as of this time. */
	int64_t dispute_decided_at_ms;
	int64_t dispute_resolved_at_ms;
	char return_carrier[ESC_CARRIER_MAX + 1];
	char return_tracking[ESC_TRACKING_MAX + 1];
	int64_t return_shipped_at_ms;
};

/* The arguments an event may carry; each event reads the fields it needs
 * (see the transition table). Strings are NUL-terminated. */
struct esc_args {
	/* create */
	const char *order_id; /* chosen by the engine */
	const char *buyer_id;
	const char *seller_id;
	const char *currency;
	const struct esc_item *items;
	size_t items_count;
	int32_t delivery_days; /* 0 = policy default */
	/* pay */
	int64_t amount_minor;
	int method;                  /* enum esc_method, or -1 when missing */
	int64_t buyer_balance_minor; /* the buyer's store balance, for method balance */
	/* cancel */
	const char *reason;
	const char *comment;
	int refund_to; /* enum esc_refund_to; -1 = original */
	/* reject */
	const char *message;
	/* ship */
	const char *carrier;
	const char *tracking;
	/* refund events */
	const char *refund_id;
	/* open_dispute: ground, outcome, amount_minor (asked), description;
	 * counter_offer: amount_minor, message; reject_dispute: message;
	 * return_shipment: carrier, tracking;
	 * resolve_dispute: amount_minor (the refund), message (the reason) */
	const char *ground;
	const char *outcome;
	const char *description;
};

struct esc_dispute_facts; /* core/recommend.h */

/* Who acts, when, and what the engine knows about them. */
struct esc_context {
	const struct esc_policy *policy;
	int64_t now_ms;
	enum esc_actor actor;
	const char *actor_id; /* user id; NULL for operator and system */
	/* The acting buyer's level, loaded by the engine for the events that
	 * read it (cancel, open_dispute). */
	enum esc_buyer_level buyer_level;
	/* What the arbiter's recommendation reads, loaded by the engine for
	 * resolve_dispute: the decision keeps the recommendation it was made
	 * beside. NULL: none is kept. */
	const struct esc_dispute_facts *dispute_facts;
};

/* One double-entry movement: amount_minor > 0 leaves `from` and arrives
 * in `to`. Applying the same id twice records it once. */
struct esc_transfer {
	char id[ESC_TRANSFER_ID_SIZE];
	char order_id[ESC_ID_SIZE];
	char kind[16]; /* payment, refund, settle, fail, release, fee, clawback, fee_reversal */
	char from[ESC_ACCOUNT_SIZE];
	char to[ESC_ACCOUNT_SIZE];
	int64_t amount_minor;
	char currency[ESC_CURRENCY_SIZE];
};

/* A change to the deadline queue. */
struct esc_deadline_op {
	bool set; /* true: insert; false: delete */
	enum esc_deadline_kind kind;
	int64_t due_ms;
	char ref[ESC_ID_SIZE]; /* refund id for ESC_DL_REFUND, else "" */
};

struct esc_mark_op {
	char user_id[ESC_ID_SIZE];
	enum esc_mark mark;
};

/* A message from one party to the other that an event carries. */
struct esc_message_op {
	enum esc_actor role; /* buyer or seller */
	char author_id[ESC_ID_SIZE];
	char body[ESC_TEXT_MAX + 1];
};

#define ESC_EFFECT_TRANSFERS_MAX 4
#define ESC_EFFECT_DEADLINES_MAX 8
#define ESC_EFFECT_MARKS_MAX     4

/* The rule of the policy a refusal applied (issue 16), for its answer to
 * name with its numbers. */
struct esc_refusal_rule {
	bool set;
	int rule;                          /* enum esc_rule (core/rules.h) */
	int32_t threshold;                 /* cancel_requests_max: the requests allowed */
	int32_t count;                     /* cancel_requests_max: the requests made */
	char carrier[ESC_CARRIER_MAX + 1]; /* tracking_check: the carrier's name */
	char scheme[16];                   /* tracking_check: its check scheme */
};

/* What a decision does. Zeroed by esc_decide before filling. */
struct esc_effects {
	int refusal;               /* 0, or the ESC_E* code of the refusal */
	char refusal_message[200]; /* English text saying why */
	char refusal_hint[200];    /* what to do instead, or "" */
	struct esc_refusal_rule refusal_rule;

	struct esc_order order; /* the order after the event */

	struct esc_transfer transfers[ESC_EFFECT_TRANSFERS_MAX];
	size_t transfers_count;
	struct esc_deadline_op deadlines[ESC_EFFECT_DEADLINES_MAX];
	size_t deadlines_count;
	struct esc_mark_op marks[ESC_EFFECT_MARKS_MAX];
	size_t marks_count;

	/* The seller's rejection message, or the buyer's cancellation
	 * comment: it joins the order's conversation (SPEC §2: "message to
	 * buyer"), written with the event. */
	bool message_new;
	struct esc_message_op message;

	bool refund_new;          /* a refund was created ... */
	bool refund_changed;      /* ... or the refund passed in changed */
	struct esc_refund refund; /* the new or changed refund */

	/* The event's name for the history and the webhook outbox
	 * ("order.paid", "cancellation.requested", "refund.settled", ...).
	 * Every accepted event bumps the order's version and appends one
	 * history row and one outbox row. */
	const char *outbox_type;
};

/* Apply `event` to `order` (NULL for create) in context `ctx` with `args`
 * (NULL = none). `refund` is the refund the event names (refund events),
 * else NULL.
 *
 * Returns 0 with the new order and effects in *fx; or, when a rule or the
 * arguments refuse it, the refusal's ESC_E* code, also in fx->refusal with
 * a message in fx->refusal_message, and nothing else in *fx. Never touches
 * anything but *fx. */
int esc_decide(const struct esc_context *ctx, const struct esc_order *order, enum esc_event event,
	       const struct esc_args *args, const struct esc_refund *refund,
	       struct esc_effects *fx);

/* One row of the transition table, for tests and for `actions`: may
 * `actor` send `event` to an order in `state` at all (ignoring guards)?
 * Returns 0, or the refusal code the table gives. */
int esc_transition_allowed(enum esc_state state, enum esc_event event, enum esc_actor actor);

/* The outbox type of the i-th row of the transition tables (order, dispute,
 * refund) that lets `event` through, refusal rows left out; NULL past the
 * last. Some effects name their own instead ("dispute.resolved" when a
 * dispute ends); core/event.h lists both. For the tests that check the
 * table of events against the transition tables. */
const char *esc_transition_outbox(enum esc_event event, size_t i);

/* Evidence for a dispute (SPEC §5): JPEG, PNG or PDF, the type told by
 * the bytes, at most ESC_EVIDENCE_BYTES_MAX each and ESC_EVIDENCE_MAX per
 * dispute (core/limits.h). */
/* The MIME type the bytes are ("image/jpeg", "image/png",
 * "application/pdf"), or NULL. */
const char *esc_evidence_sniff(const unsigned char *data, size_t len);
/* May this party add evidence now, `have` being already there? 0, or the
 * refusal (not_found, forbidden, invalid_state, limit_reached) with why. */
int esc_evidence_allowed(const struct esc_order *o, enum esc_actor actor, const char *actor_id,
			 size_t have, char *why, size_t why_size);

/* May this actor see the order, and so act on it? Buyers and sellers see
 * their own orders; arbiters those whose dispute was escalated; the
 * operator and the system every order. Another's order answers
 * not_found, for reads and commands alike, so its existence is not
 * revealed. */
bool esc_order_visible(enum esc_actor actor, const char *actor_id, const struct esc_order *o);

/* The events `actor` (as the party `actor_id`) may send now, each with its
 * deadline (0 = none): guards included. Writes up to `max` into out and
 * returns how many. Used for the API's `actions`. */
struct esc_action {
	enum esc_event event;
	int64_t deadline_ms;
};
size_t esc_order_actions(const struct esc_context *ctx, const struct esc_order *order,
			 struct esc_action *out, size_t max);

/* Until when a completed order may be disputed: the policy's
 * dispute_after_completion from its ended_at (the deadline of the buyer's
 * dispute action, and the guard's bound). */
int64_t esc_order_dispute_until(const struct esc_policy *p, const struct esc_order *o);

/* Account names: "escrow:ORDER", "buyer:USER", "seller:USER", and the
 * fixed ones. */
#define ESC_ACCOUNT_EXTERNAL   "external"
#define ESC_ACCOUNT_FEES       "platform:fees"
#define ESC_ACCOUNT_IN_TRANSIT "refunds_in_transit"
void esc_account_escrow(char out[ESC_ACCOUNT_SIZE], const char *order_id);
void esc_account_buyer(char out[ESC_ACCOUNT_SIZE], const char *user_id);
void esc_account_seller(char out[ESC_ACCOUNT_SIZE], const char *user_id);

/* Escrow still held for the order: paid - refunded - released. */
int64_t esc_order_held(const struct esc_order *o);

/* The invariants of the state diagram at the top of order.c, checked on
 * one order: NULL when it keeps them all, else a sentence (static) naming
 * the first it breaks. Pure and cheap (a few dozen comparisons, no
 * allocation), for the hot path. */
const char *esc_order_check(const struct esc_order *o);
/* esc_order_check(), and ESC_BUG (util/bug.h) naming the order, `when`
 * ("as decided", "as read from the store") and the broken invariant. The
 * order machine writes only orders that pass, so one that fails is a bug
 * of ours, not bad input. */
void esc_order_assert(const struct esc_order *o, const char *when);

#endif
