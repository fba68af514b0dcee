/* event.c - the table of events (event.h): one row per event, written from
 * the transition tables of order.c, the engine's loads and history, and
 * the HTTP routes. tests/unit/test_event.c checks it against the
 * transition tables.
 *
 * Pure: no I/O, no clock, no allocation. */
#include "core/event.h"

#include <string.h>

#include "util/bug.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

#define ACTOR(a) (1u << ESC_ACTOR_##a)
#define ARG(m)   offsetof(struct esc_args, m)

/* Fields, by kind. */
/* clang-format off */
#define INT(n, m, req)   {n, ESC_FIELD_INT, req, ARG(m), NULL, NULL, false}
#define NAME(n, m, req)  {n, ESC_FIELD_NAME, req, ARG(m), NULL, NULL, false}
#define LINE(n, m, req)  {n, ESC_FIELD_LINE, req, ARG(m), NULL, NULL, false}
#define LINES(n, m, req) {n, ESC_FIELD_LINES, req, ARG(m), NULL, NULL, false}
/* The fields of both shipments, the seller's and the goods' return. */
#define SHIPMENT_FIELDS {LINE("carrier", carrier, true), LINE("tracking_number", tracking, true)}
/* clang-format on */

static const struct esc_event_spec specs[ESC_EV_COUNT] = {
	[ESC_EV_CREATE] =
		{
			.event = ESC_EV_CREATE,
			.name = "create",
			.actors = ACTOR(OPERATOR),
			.machine = ESC_MACHINE_ORDER,
			.loads = ESC_LOAD_PARTIES,
			.deadline = -1,
			.custom_request = true, /* its items: routes.c's h_order_create */
			.creates = true,
			.outbox_types = {"order.created"},
		},
	[ESC_EV_PAY] =
		{
			.event = ESC_EV_PAY,
			.name = "pay",
			.actors = ACTOR(OPERATOR),
			.machine = ESC_MACHINE_ORDER,
			.loads = ESC_LOAD_BALANCE,
			.deadline = -1,
			.fields =
				{
					INT("amount", amount_minor, true),
					{"payment_method", ESC_FIELD_ENUM, true, ARG(method),
					 esc_method_parse, "card, wallet or balance", true},
				},
			.path = "pay",
			.action_name = "pay",
			.outbox_types = {"order.paid"},
		},
	[ESC_EV_CANCEL] =
		{
			.event = ESC_EV_CANCEL,
			.name = "cancel",
			.actors = ACTOR(BUYER),
			.machine = ESC_MACHINE_ORDER,
			.loads = ESC_LOAD_BUYER_LEVEL,
			.deadline = -1,
			.fields =
				{
					NAME("reason", reason, false),
					LINES("comment", comment, false),
					{"refund_to", ESC_FIELD_ENUM, false, ARG(refund_to),
					 esc_refund_to_parse, "original or balance", false},
				},
			.path = "cancel",
			.action_name = "cancel",
			.outbox_types = {"order.cancelled", "cancellation.requested"},
		},
	[ESC_EV_ACCEPT_CANCELLATION] =
		{
			.event = ESC_EV_ACCEPT_CANCELLATION,
			.name = "accept_cancellation",
			.actors = ACTOR(SELLER),
			.machine = ESC_MACHINE_ORDER,
			.deadline = -1,
			.path = "cancellation/accept",
			.action_name = "cancellation/accept",
			.outbox_types = {"cancellation.accepted"},
		},
	[ESC_EV_REJECT_CANCELLATION] =
		{
			.event = ESC_EV_REJECT_CANCELLATION,
			.name = "reject_cancellation",
			.actors = ACTOR(SELLER),
			.machine = ESC_MACHINE_ORDER,
			.deadline = -1,
			.fields = {LINES("message", message, true)},
			.path = "cancellation/reject",
			.action_name = "cancellation/reject",
			.outbox_types = {"cancellation.rejected"},
		},
	[ESC_EV_WITHDRAW_CANCELLATION] =
		{
			.event = ESC_EV_WITHDRAW_CANCELLATION,
			.name = "withdraw_cancellation",
			.actors = ACTOR(BUYER),
			.machine = ESC_MACHINE_ORDER,
			.deadline = -1,
			.path = "cancellation/withdraw",
			.action_name = "cancellation/withdraw",
			.outbox_types = {"cancellation.withdrawn"},
		},
	[ESC_EV_SHIP] =
		{
			.event = ESC_EV_SHIP,
			.name = "ship",
			.actors = ACTOR(SELLER),
			.machine = ESC_MACHINE_ORDER,
			.deadline = -1,
			.fields = SHIPMENT_FIELDS,
			.path = "ship",
			.action_name = "ship",
			.outbox_types = {"order.shipped"},
		},
	[ESC_EV_DELIVER] =
		{
			.event = ESC_EV_DELIVER,
			.name = "deliver",
			.actors = ACTOR(OPERATOR),
			.machine = ESC_MACHINE_ORDER,
			.deadline = -1,
			.path = "deliver",
			.action_name = "deliver",
			.outbox_types = {"order.delivered"},
		},
	[ESC_EV_CONFIRM_RECEIPT] =
		{
			.event = ESC_EV_CONFIRM_RECEIPT,
			.name = "confirm_receipt",
			.actors = ACTOR(BUYER),
			.machine = ESC_MACHINE_ORDER,
			.deadline = -1,
			.path = "confirm-receipt",
			.action_name = "confirm-receipt",
			.outbox_types = {"order.completed"},
		},
	[ESC_EV_OPEN_DISPUTE] =
		{
			.event = ESC_EV_OPEN_DISPUTE,
			.name = "open_dispute",
			.actors = ACTOR(BUYER),
			.machine = ESC_MACHINE_ORDER, /* it opens the dispute from the order */
			.loads = ESC_LOAD_BUYER_LEVEL,
			.deadline = -1,
			.fields =
				{
					NAME("ground", ground, true),
					NAME("outcome", outcome, true),
					INT("amount", amount_minor, true),
					LINES("description", description, true),
					{"refund_to", ESC_FIELD_ENUM, false,
					 ARG(refund_to), esc_refund_to_parse, "original or balance",
					 false},
				},
			.path = "disputes",
			.creates = true,
			.action_name = "disputes",
			.outbox_types = {"dispute.opened"},
		},
	[ESC_EV_ACCEPT_DISPUTE] =
		{
			.event = ESC_EV_ACCEPT_DISPUTE,
			.name = "accept_dispute",
			.actors = ACTOR(SELLER),
			.machine = ESC_MACHINE_DISPUTE,
			.deadline = -1,
			.path = "accept",
			.action_name = "accept",
			/* refund_only: paid, and the dispute resolved */
			.outbox_types = {"dispute.accepted", "dispute.resolved"},
		},
	[ESC_EV_COUNTER_OFFER] =
		{
			.event = ESC_EV_COUNTER_OFFER,
			.name = "counter_offer",
			.actors = ACTOR(SELLER),
			.machine = ESC_MACHINE_DISPUTE,
			.deadline = -1,
			.fields =
				{
					INT("amount", amount_minor, true),
					LINES("message", message, false),
				},
			.path = "counter-offer",
			.action_name = "counter-offer",
			.outbox_types = {"dispute.counter_offered"},
		},
	[ESC_EV_REJECT_DISPUTE] =
		{
			.event = ESC_EV_REJECT_DISPUTE,
			.name = "reject_dispute",
			.actors = ACTOR(SELLER),
			.machine = ESC_MACHINE_DISPUTE,
			.deadline = -1,
			.fields = {LINES("message", message, true)},
			.path = "reject",
			.action_name = "reject",
			.outbox_types = {"dispute.rejected"},
		},
	[ESC_EV_ACCEPT_OFFER] =
		{
			.event = ESC_EV_ACCEPT_OFFER,
			.name = "accept_offer",
			.actors = ACTOR(BUYER),
			.machine = ESC_MACHINE_DISPUTE,
			.deadline = -1,
			.path = "accept-offer",
			.action_name = "accept-offer",
			.outbox_types = {"dispute.offer_accepted", "dispute.resolved"},
		},
	[ESC_EV_ESCALATE] =
		{
			.event = ESC_EV_ESCALATE,
			.name = "escalate",
			.actors = ACTOR(BUYER),
			.machine = ESC_MACHINE_DISPUTE,
			.deadline = -1,
			.path = "escalate",
			.action_name = "escalate",
			.outbox_types = {"dispute.escalated"},
		},
	[ESC_EV_WITHDRAW_DISPUTE] =
		{
			.event = ESC_EV_WITHDRAW_DISPUTE,
			.name = "withdraw_dispute",
			.actors = ACTOR(BUYER),
			.machine = ESC_MACHINE_DISPUTE,
			.deadline = -1,
			.path = "withdraw",
			.action_name = "withdraw",
			.outbox_types = {"dispute.resolved"},
		},
	[ESC_EV_RETURN_SHIPMENT] =
		{
			.event = ESC_EV_RETURN_SHIPMENT,
			.name = "return_shipment",
			.actors = ACTOR(BUYER),
			.machine = ESC_MACHINE_DISPUTE,
			.deadline = -1,
			.fields = SHIPMENT_FIELDS,
			.path = "return-shipment",
			.action_name = "return-shipment",
			.outbox_types = {"dispute.return_shipped"},
		},
	[ESC_EV_RETURN_RECEIVED] =
		{
			.event = ESC_EV_RETURN_RECEIVED,
			.name = "return_received",
			.actors = ACTOR(SELLER),
			.machine = ESC_MACHINE_DISPUTE,
			.deadline = -1,
			.path = "return-received",
			.action_name = "return-received",
			.outbox_types = {"dispute.resolved"},
		},
	[ESC_EV_RESOLVE_DISPUTE] =
		{
			.event = ESC_EV_RESOLVE_DISPUTE,
			.name = "resolve_dispute",
			.actors = ACTOR(ARBITER),
			.machine = ESC_MACHINE_DISPUTE,
			.loads = ESC_LOAD_DISPUTE_FACTS,
			.deadline = -1,
			.fields =
				{
					INT("refund_amount", amount_minor, true),
					LINES("reason", message, true),
				},
			.path = "decide",
			.action_name = "decide",
			.outbox_types = {"dispute.decided", "dispute.resolved"},
		},
	[ESC_EV_PAYMENT_DEADLINE] =
		{
			.event = ESC_EV_PAYMENT_DEADLINE,
			.name = "payment_deadline",
			.actors = ACTOR(SYSTEM),
			.machine = ESC_MACHINE_ORDER,
			.deadline = ESC_DL_PAYMENT,
			.outbox_types = {"order.cancelled"},
		},
	[ESC_EV_SHIP_DEADLINE] =
		{
			.event = ESC_EV_SHIP_DEADLINE,
			.name = "ship_deadline",
			.actors = ACTOR(SYSTEM),
			.machine = ESC_MACHINE_ORDER,
			.deadline = ESC_DL_SHIP,
			/* during an open request, it grants the request */
			.outbox_types = {"order.cancelled", "cancellation.auto_approved"},
		},
	[ESC_EV_RESPONSE_DEADLINE] =
		{
			.event = ESC_EV_RESPONSE_DEADLINE,
			.name = "response_deadline",
			.actors = ACTOR(SYSTEM),
			.machine = ESC_MACHINE_ORDER,
			.deadline = ESC_DL_RESPONSE,
			.outbox_types = {"cancellation.auto_approved"},
		},
	[ESC_EV_PROTECTION_DEADLINE] =
		{
			.event = ESC_EV_PROTECTION_DEADLINE,
			.name = "protection_deadline",
			.actors = ACTOR(SYSTEM),
			.machine = ESC_MACHINE_ORDER,
			.deadline = ESC_DL_PROTECTION,
			.outbox_types = {"order.completed"},
		},
	[ESC_EV_CONFIRM_DEADLINE] =
		{
			.event = ESC_EV_CONFIRM_DEADLINE,
			.name = "confirm_deadline",
			.actors = ACTOR(SYSTEM),
			.machine = ESC_MACHINE_ORDER,
			.deadline = ESC_DL_CONFIRM,
			.outbox_types = {"order.completed"},
		},
	[ESC_EV_DISPUTE_DEADLINE] =
		{
			.event = ESC_EV_DISPUTE_DEADLINE,
			.name = "dispute_deadline",
			.actors = ACTOR(SYSTEM),
			.machine = ESC_MACHINE_DISPUTE,
			.deadline = ESC_DL_DISPUTE,
			/* the silent outcome of the window that passed */
			.outbox_types = {"dispute.accepted", "dispute.offer_accepted",
					 "dispute.resolved"},
		},
	[ESC_EV_REFUND_SETTLED] =
		{
			.event = ESC_EV_REFUND_SETTLED,
			.name = "refund_settled",
			.actors = ACTOR(OPERATOR),
			.machine = ESC_MACHINE_REFUND,
			.loads = ESC_LOAD_REFUND,
			.deadline = -1,
			.path = "settle", /* under /v1/refunds/{id}/; not in `actions` */
			.outbox_types = {"refund.settled"},
		},
	[ESC_EV_REFUND_FAILED] =
		{
			.event = ESC_EV_REFUND_FAILED,
			.name = "refund_failed",
			.actors = ACTOR(OPERATOR),
			.machine = ESC_MACHINE_REFUND,
			.loads = ESC_LOAD_REFUND,
			.deadline = -1,
			.path = "fail",
			.outbox_types = {"refund.failed"},
		},
	[ESC_EV_REFUND_OVERDUE] =
		{
			.event = ESC_EV_REFUND_OVERDUE,
			.name = "refund_overdue",
			.actors = ACTOR(SYSTEM),
			.machine = ESC_MACHINE_REFUND,
			.loads = ESC_LOAD_REFUND,
			.deadline = ESC_DL_REFUND,
			.outbox_types = {"refund.overdue"},
		},
};
_Static_assert(COUNT(specs) == ESC_EV_COUNT, "a row per event");

const struct esc_event_spec *esc_event_spec(enum esc_event e)
{
	if ((int)e < 0 || e >= ESC_EV_COUNT)
		return NULL;
	return &specs[e];
}

const char *esc_machine_route(enum esc_machine machine)
{
	switch (machine) {
	case ESC_MACHINE_DISPUTE:
		return "/v1/disputes/{id}/";
	case ESC_MACHINE_REFUND:
		return "/v1/refunds/{id}/";
	default:
		return "/v1/orders/{id}/";
	}
}

int esc_event_by_path(enum esc_machine machine, const char *path)
{
	for (size_t i = 0; path && i < COUNT(specs); i++)
		if (specs[i].machine == machine && specs[i].path && !strcmp(specs[i].path, path))
			return (int)i;
	return -1;
}

int esc_event_of_deadline(enum esc_deadline_kind k)
{
	for (size_t i = 0; i < COUNT(specs); i++)
		if (specs[i].deadline >= 0 && specs[i].deadline == (int)k)
			return (int)i;
	return -1;
}

bool esc_event_sent_by(enum esc_event e, enum esc_actor actor)
{
	const struct esc_event_spec *s = esc_event_spec(e);
	return s && (int)actor >= 0 && actor < ESC_ACTOR_COUNT && (s->actors & (1u << actor));
}

bool esc_event_writes(enum esc_event e, const char *outbox_type)
{
	const struct esc_event_spec *s = esc_event_spec(e);
	for (size_t i = 0; s && outbox_type && i < COUNT(s->outbox_types) && s->outbox_types[i];
	     i++)
		if (!strcmp(s->outbox_types[i], outbox_type))
			return true;
	return false;
}

const char *const esc_event_families[] = {"order",      "cancellation",     "refund", "dispute",
					  "reputation", "webhook_endpoint", NULL};

/* Types no event's row writes (event.h): the engine's reputation events
 * and the delivery worker's (webhook/worker.c). */
const char *const esc_event_other_types[] = {
	ESC_TYPE_BUYER_LEVEL_CHANGED, ESC_TYPE_SELLER_SCORE_CHANGED, ESC_TYPE_SUSPENSION_LIFTED,
	"webhook_endpoint.disabled", NULL};

bool esc_event_type_known(const char *type)
{
	for (int e = 0; type && e < ESC_EV_COUNT; e++)
		if (esc_event_writes((enum esc_event)e, type))
			return true;
	for (size_t i = 0; type && esc_event_other_types[i]; i++)
		if (!strcmp(esc_event_other_types[i], type))
			return true;
	return false;
}

/* Add type to all[] (n so far) unless it is there already. */
static size_t add_type(const char **all, size_t n, const char *type)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(all[i], type))
			return n;
	all[n] = type;
	return n + 1;
}

size_t esc_event_types(const char **out, size_t max)
{
	const char *all[ESC_EV_COUNT * COUNT(specs[0].outbox_types) + COUNT(esc_event_other_types)];
	size_t n = 0;
	for (int e = 0; e < ESC_EV_COUNT; e++)
		for (size_t k = 0; k < COUNT(specs[e].outbox_types) && specs[e].outbox_types[k];
		     k++)
			n = add_type(all, n, specs[e].outbox_types[k]);
	for (size_t i = 0; esc_event_other_types[i]; i++)
		n = add_type(all, n, esc_event_other_types[i]);
	for (size_t i = 0; i < n && i < max; i++)
		out[i] = all[i];
	return n;
}

/* The family whose wildcard pattern is, or NULL. */
static const char *family_of_wildcard(const char *pattern)
{
	for (size_t i = 0; esc_event_families[i]; i++) {
		size_t n = strlen(esc_event_families[i]);
		if (!strncmp(pattern, esc_event_families[i], n) && !strcmp(pattern + n, ".*"))
			return esc_event_families[i];
	}
	return NULL;
}

bool esc_event_pattern_valid(const char *pattern)
{
	return pattern && (!strcmp(pattern, "*") || family_of_wildcard(pattern) ||
			   esc_event_type_known(pattern));
}

bool esc_event_pattern_matches(const char *pattern, const char *type)
{
	const char *family = NULL;
	size_t n = 0;

	if (!pattern || !type)
		return false;
	if (!strcmp(pattern, "*"))
		return true;
	family = family_of_wildcard(pattern);
	if (!family)
		return !strcmp(pattern, type);
	n = strlen(family);
	return !strncmp(type, family, n) && type[n] == '.';
}

/* The buyer's level counts where a guard reads it: a cancellation request
 * (cancel of an order awaiting shipment; an unpaid order is cancelled
 * whatever the level) and open_dispute. */
static bool level_counts(enum esc_event e, const struct esc_order *o)
{
	return e != ESC_EV_CANCEL || o->state == ESC_ST_AWAITING_SHIPMENT;
}

unsigned esc_event_loads(enum esc_event e, enum esc_actor actor, const char *actor_id,
			 const struct esc_order *o, const struct esc_args *args)
{
	const struct esc_event_spec *s = esc_event_spec(e);
	unsigned loads = s ? s->loads : 0;
	if ((loads & ESC_LOAD_BUYER_LEVEL) &&
	    !(o && actor == ESC_ACTOR_BUYER && actor_id && !strcmp(actor_id, o->buyer_id) &&
	      level_counts(e, o)))
		loads &= ~(unsigned)ESC_LOAD_BUYER_LEVEL;
	if ((loads & ESC_LOAD_BALANCE) && !(args && args->method == ESC_METHOD_BALANCE))
		loads &= ~(unsigned)ESC_LOAD_BALANCE;
	if ((loads & ESC_LOAD_DISPUTE_FACTS) &&
	    !(o && actor == ESC_ACTOR_ARBITER && o->disputes_count))
		loads &= ~(unsigned)ESC_LOAD_DISPUTE_FACTS;
	return loads;
}

/* History details. */

struct details {
	struct esc_detail *out;
	size_t n;
};

/* ESC_DETAILS_MAX is the most any event writes (due_at, four of its own,
 * three of the dispute's, three of the refund's): more is a bug. */
static void text(struct details *d, const char *name, const char *value)
{
	if (!value)
		return;
	ESC_ASSERT(d->n < ESC_DETAILS_MAX, "history field %s is one too many", name);
	d->out[d->n++] = (struct esc_detail){name, ESC_DETAIL_TEXT, value, 0};
}

static void number(struct details *d, const char *name, enum esc_detail_kind kind, int64_t value)
{
	ESC_ASSERT(d->n < ESC_DETAILS_MAX, "history field %s is one too many", name);
	d->out[d->n++] = (struct esc_detail){name, kind, NULL, value};
}

/* What the event itself carries, as the order after it keeps it (or as the
 * request said it, where the order keeps no copy). */
static void event_details(struct details *d, enum esc_event e, const struct esc_order *a,
			  const struct esc_args *args)
{
	switch (e) {
	case ESC_EV_CREATE:
		number(d, "total", ESC_DETAIL_INT, a->total_minor);
		text(d, "currency", a->currency);
		/* As asked (escrowd replay reads it): absent, the policy's
		 * default, which the order keeps resolved. */
		if (args && args->delivery_days)
			number(d, "delivery_days", ESC_DETAIL_INT, args->delivery_days);
		break;
	case ESC_EV_PAY:
		number(d, "amount", ESC_DETAIL_INT, args ? args->amount_minor : 0);
		text(d, "payment_method", esc_method_name(a->method));
		break;
	case ESC_EV_CANCEL:
		if (a->state == ESC_ST_CANCELLATION_REQUESTED) {
			text(d, "reason", a->cancel_reason);
			if (a->cancel_comment[0])
				text(d, "comment", a->cancel_comment);
			text(d, "refund_to", esc_refund_to_name(a->refund_to));
		}
		break;
	case ESC_EV_REJECT_CANCELLATION:
		text(d, "message", a->reject_message);
		break;
	case ESC_EV_SHIP:
		text(d, "carrier", a->carrier);
		text(d, "tracking_number", a->tracking);
		break;
	case ESC_EV_OPEN_DISPUTE:
		text(d, "ground", a->dispute_ground);
		text(d, "outcome", a->dispute_outcome);
		number(d, "amount", ESC_DETAIL_INT, a->dispute_amount_minor);
		text(d, "description", args ? args->description : NULL);
		text(d, "refund_to", esc_refund_to_name(a->dispute_refund_to));
		break;
	case ESC_EV_COUNTER_OFFER:
		number(d, "amount", ESC_DETAIL_INT, a->dispute_offer_minor);
		if (a->dispute_message[0])
			text(d, "message", a->dispute_message);
		break;
	case ESC_EV_REJECT_DISPUTE:
		text(d, "message", a->dispute_message);
		break;
	case ESC_EV_RETURN_SHIPMENT:
		text(d, "carrier", a->return_carrier);
		text(d, "tracking_number", a->return_tracking);
		break;
	case ESC_EV_RESOLVE_DISPUTE:
		text(d, "reason", args ? args->message : NULL);
		break;
	default:
		break;
	}
}

size_t esc_event_details(enum esc_event e, const struct esc_order *before,
			 const struct esc_order *after, const struct esc_args *args,
			 const struct esc_refund *refund, struct esc_detail out[ESC_DETAILS_MAX])
{
	const struct esc_event_spec *s = esc_event_spec(e);
	struct details d = {out, 0};
	if (!s || !after)
		return 0;
	/* A deadline that passed says when it was due: it may fire later (the
	 * daemon was down), and a reader tells the window from it. */
	if (s->deadline >= 0 && s->deadline < ESC_DL_ORDER_COUNT && before &&
	    before->due_ms[s->deadline])
		number(&d, "due_at", ESC_DETAIL_TIME, before->due_ms[s->deadline]);
	event_details(&d, e, after, args);
	if (s->machine == ESC_MACHINE_DISPUTE) {
		text(&d, "dispute_status", esc_dispute_state_name(after->dispute_state));
		if (after->dispute_state == ESC_DS_AWAITING_RETURN)
			number(&d, "agreed_amount", ESC_DETAIL_INT, after->dispute_agreed_minor);
		if (after->dispute_state == ESC_DS_RESOLVED) {
			text(&d, "resolution", after->dispute_resolution);
			number(&d, "dispute_refund", ESC_DETAIL_INT, after->dispute_refund_minor);
		}
	}
	if (refund) {
		text(&d, "refund_id", refund->id);
		number(&d, "refund_amount", ESC_DETAIL_INT, refund->amount_minor);
		text(&d, "refund_status", esc_refund_status_name(refund->status));
	}
	return d.n;
}
