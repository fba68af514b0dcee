/* event.h - one row per event of the order machine (issue 13 item 4): who
 * sends it, which machine runs it, what the engine loads for it, the fields
 * its request accepts, its action path, the outbox types it may write, and
 * the history fields it keeps. The engine, the routes and the OpenAPI
 * checks read this table instead of keeping their own copy.
 *
 * Pure data and pure functions: no I/O, no JSON, no clock. */
#ifndef ESC_EVENT_H
#define ESC_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/order.h" /* enum esc_event, esc_actor, struct esc_args, struct esc_order */

/* The machine that decides an event: the order's transition table, the
 * dispute's (an order in dispute), or a refund's (pending -> settled |
 * failed, and its alert). */
enum esc_machine { ESC_MACHINE_ORDER, ESC_MACHINE_DISPUTE, ESC_MACHINE_REFUND };

/* What the engine reads before esc_decide(), beyond the order itself. */
enum {
	ESC_LOAD_PARTIES = 1 << 0,     /* create: buyer and seller exist in their roles */
	ESC_LOAD_BUYER_LEVEL = 1 << 1, /* the buyer's level, when the order's own buyer sends it */
	ESC_LOAD_BALANCE = 1 << 2,     /* the buyer's store balance */
	ESC_LOAD_REFUND = 1 << 3,      /* the refund named by args.refund_id or the deadline row */
	ESC_LOAD_DISPUTE_FACTS = 1 << 4, /* evidence and reputations, for an arbiter's decision */
};

/* A field of a command's request body (SPEC §7), parsed into struct
 * esc_args. The fields of an event are read in the order listed: the first
 * one missing or malformed is the one the answer names. */
enum esc_field_kind {
	ESC_FIELD_INT,   /* a JSON integer -> int64_t at offset */
	ESC_FIELD_NAME,  /* a JSON string, a name the core checks -> const char * at offset */
	ESC_FIELD_LINE,  /* one line of text (ESC_TEXT_LINE) -> const char * at offset */
	ESC_FIELD_LINES, /* text that may hold newlines (ESC_TEXT_LINES) -> const char * */
	ESC_FIELD_ENUM,  /* a JSON string parsed by parse() -> int at offset; see below */
};
struct esc_field {
	const char *name; /* in the JSON body: "tracking_number" */
	enum esc_field_kind kind;
	bool required;
	size_t offset;                   /* offsetof(struct esc_args, ...) */
	int (*parse)(const char *value); /* ESC_FIELD_ENUM: the value, or -1 */
	/* ESC_FIELD_ENUM: the values allowed, for the error: an unknown value
	 * is refused at the edge with "<name> must be <expected>" (400
	 * invalid) ... */
	const char *expected;
	/* ... unless core_refuses: then -1 goes to the core as the value, and
	 * the core refuses it in its own order of checks (pay's
	 * payment_method: an unknown order is not_found first). */
	bool core_refuses;
};
#define ESC_EVENT_FIELDS_MAX 6

struct esc_event_spec {
	enum esc_event event;
	const char *name; /* esc_event_name(): "accept_cancellation" */
	unsigned
		actors; /* 1u << enum esc_actor, for each actor the transition table lets send it */
	enum esc_machine machine;
	unsigned loads; /* ESC_LOAD_* (refined per order by esc_event_loads) */
	/* The deadline whose passing this event is (enum esc_deadline_kind:
	 * ESC_DL_REFUND for refund_overdue), or -1 for events a party sends. */
	int deadline;
	/* The request body's fields, ended by a NULL name. Events with a
	 * request of their own that the table cannot say (create's items) list
	 * none and set custom_request. */
	struct esc_field fields[ESC_EVENT_FIELDS_MAX + 1];
	bool custom_request;
	/* It makes something new, an order or a dispute: the API answers 201
	 * Created (else 200). */
	bool creates;
	/* The action's path segment, under the route of its machine:
	 * /v1/orders/{id}/ (ORDER), /v1/disputes/{id}/ (DISPUTE), or
	 * /v1/refunds/{id}/ (REFUND, the operator's settle and fail):
	 * "cancellation/accept"; NULL for events no request sends (deadlines,
	 * create, refund_overdue). The name `actions` lists in an order's and
	 * a dispute's JSON is action_name, or NULL where none is listed. */
	const char *path;
	const char *action_name;
	/* The outbox types its transitions may write, ended by NULL (taken
	 * from the transition table and the effects that name their own, e.g.
	 * "dispute.resolved"; a test and esc_decide() check they agree). */
	const char *outbox_types[4];
};

/* The row of event e (never NULL for e < ESC_EV_COUNT; NULL otherwise). */
const struct esc_event_spec *esc_event_spec(enum esc_event e);

/* The route prefix of a machine's actions: "/v1/orders/{id}/",
 * "/v1/disputes/{id}/", "/v1/refunds/{id}/". */
const char *esc_machine_route(enum esc_machine machine);

/* The event whose action path under machine's route is path, or -1. */
int esc_event_by_path(enum esc_machine machine, const char *path);

/* The system event that deadline k's passing is (refund_overdue for
 * ESC_DL_REFUND), or -1: the inverse of the rows' `deadline`. */
int esc_event_of_deadline(enum esc_deadline_kind k);

/* May actor send event e at all (its row's actors)? */
bool esc_event_sent_by(enum esc_event e, enum esc_actor actor);

/* Is outbox_type one of the types event e may write? */
bool esc_event_writes(enum esc_event e, const char *outbox_type);

/* The families of outbox types, NULL-terminated: "order", "cancellation",
 * "refund", "dispute", "reputation", "webhook_endpoint" (a webhook
 * endpoint may subscribe to "order.*" and the like). */
extern const char *const esc_event_families[];

/* Outbox types that no event's row writes: those the engine writes
 * beside a command's own event, in its transaction (engine.c: a buyer's
 * level or a seller's score that the command's reputation marks changed,
 * and an arbiter lifting a suspension), and the delivery worker's
 * (webhook/worker.c: an endpoint it disabled). */
#define ESC_TYPE_BUYER_LEVEL_CHANGED  "reputation.buyer_level_changed"
#define ESC_TYPE_SELLER_SCORE_CHANGED "reputation.seller_score_changed"
#define ESC_TYPE_SUSPENSION_LIFTED    "reputation.suspension_lifted"
extern const char *const esc_event_other_types[]; /* those and "webhook_endpoint.disabled" */

/* Is type an outbox type escrowd writes: one some event's row may write
 * ("order.paid") or one of esc_event_other_types? */
bool esc_event_type_known(const char *type);

/* Every outbox type escrowd writes, each once: the rows' in the table's
 * order, then the others. Fills out[] with up to max of them and returns
 * how many there are in all. */
size_t esc_event_types(const char **out, size_t max);

/* Is pattern one a webhook endpoint may subscribe to: "*", a family's
 * wildcard ("order.*") or a known outbox type? */
bool esc_event_pattern_valid(const char *pattern);

/* Does pattern (valid) take an event of outbox type type? */
bool esc_event_pattern_matches(const char *pattern, const char *type);

/* What the engine must load for event e sent by actor (actor_id) on o (NULL
 * for create) with args (may be NULL): the row's loads, refined:
 * BUYER_LEVEL only when o's own buyer sends it and it counts (cancel of an
 * order awaiting shipment, open_dispute); BALANCE only for pay by balance;
 * DISPUTE_FACTS only for an arbiter, on an order with a dispute. */
unsigned esc_event_loads(enum esc_event e, enum esc_actor actor, const char *actor_id,
			 const struct esc_order *o, const struct esc_args *args);

/* History fields (what a history row's `detail` keeps): the rows below,
 * written in order; the engine writes them as JSON. */
enum esc_detail_kind {
	ESC_DETAIL_TEXT,
	ESC_DETAIL_INT,
	ESC_DETAIL_TIME /* value in ms, written as RFC 3339 text */
};
struct esc_detail {
	const char *name;
	enum esc_detail_kind kind;
	const char *text; /* ESC_DETAIL_TEXT; NULL = omitted */
	int64_t value;    /* ESC_DETAIL_INT, ESC_DETAIL_TIME */
};
#define ESC_DETAILS_MAX 12

/* Fill out[] with the history fields of event e, from the order before
 * (NULL for create), after (fx->order), the request's args (may be NULL)
 * and the refund the command made or changed (NULL for none: pass
 * &fx->refund when fx->refund_new or fx->refund_changed); returns how
 * many. The texts point into before, after, args and refund, or are
 * static. Fields whose text is NULL are left out (the count does not
 * include them). */
size_t esc_event_details(enum esc_event e, const struct esc_order *before,
			 const struct esc_order *after, const struct esc_args *args,
			 const struct esc_refund *refund, struct esc_detail out[ESC_DETAILS_MAX]);

#endif
