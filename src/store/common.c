/* common.c - what the two store backends share; see common.h. */
#include "store/common.h"

#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "util/error.h"
#include "util/bug.h"
#include "webhook/signature.h"
#include "webhook/url.h"

/* ---- enums stored as their names ---- */

static const char *state_name(int v)
{
	return esc_state_name((enum esc_state)v);
}

static const char *actor_name(int v)
{
	return esc_actor_name((enum esc_actor)v);
}

static const char *event_name(int v)
{
	return esc_event_name((enum esc_event)v);
}

static const char *deadline_name(int v)
{
	return esc_deadline_name((enum esc_deadline_kind)v);
}

static const char *refund_status_name(int v)
{
	return esc_refund_status_name((enum esc_refund_status)v);
}

static const char *refund_to_name(int v)
{
	return esc_refund_to_name((enum esc_refund_to)v);
}

static const char *method_name(int v)
{
	return esc_method_name((enum esc_method)v);
}

static const char *mark_name(int v)
{
	return esc_mark_name((enum esc_mark)v);
}

static const char *dispute_state_name(int v)
{
	return esc_dispute_state_name((enum esc_dispute_state)v);
}

const struct esc_enum esc_enum_state = {ESC_ST_COUNT, state_name};
const struct esc_enum esc_enum_actor = {ESC_ACTOR_COUNT, actor_name};
const struct esc_enum esc_enum_event = {ESC_EV_COUNT, event_name};
const struct esc_enum esc_enum_deadline = {ESC_DL_COUNT, deadline_name};
const struct esc_enum esc_enum_refund_status = {ESC_REFUND_FAILED + 1, refund_status_name};
const struct esc_enum esc_enum_refund_to = {ESC_REFUND_TO_BALANCE + 1, refund_to_name};
const struct esc_enum esc_enum_method = {ESC_METHOD_COUNT, method_name};
const struct esc_enum esc_enum_mark = {ESC_MARK_COUNT, mark_name};
const struct esc_enum esc_enum_dispute_state = {ESC_DS_COUNT, dispute_state_name};

const char *esc_enum_name(const struct esc_enum *e, int value)
{
	const char *name = NULL;

	if (value >= 0 && value < e->count)
		name = e->name(value);
	return name && *name ? name : NULL;
}

int esc_enum_parse(const struct esc_enum *e, const char *text)
{
	int value = -1;

	for (int i = 0; text && i < e->count; i++) {
		const char *name = e->name(i);
		if (name && strcmp(name, text) == 0) {
			value = i;
			break;
		}
	}
	return value;
}

/* ---- rows ---- */

const char *esc_row_str(const struct esc_row *row, int col)
{
	size_t bytes = 0;
	const char *text = row->text(row, col, &bytes);

	return text ? text : "";
}

void esc_field_copy(char *dst, size_t size, const char *text, size_t n)
{
	ESC_ASSERT(size > 0, "a field copied into no room");
	if (n >= size) {
		n = size - 1;
		while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80)
			n--;
	}
	if (n)
		memcpy(dst, text, n);
	dst[n] = '\0';
}

int esc_policy_row_read(const struct esc_row *row, struct esc_policy_row *out)
{
	size_t bytes = 0;
	const char *hash = row->text(row, 1, &bytes);

	memset(out, 0, sizeof *out);
	out->version = row->i64(row, 0);
	esc_field_copy(out->hash, sizeof out->hash, hash, hash ? bytes : 0);
	out->created_at_ms = row->i64(row, 3);
	out->text = strdup(esc_row_str(row, 2));
	return out->text ? 0 : ESC_ENOMEM;
}

int esc_policy_get(struct esc_store *s, int64_t version, struct esc_policy_row *out)
{
	size_t n = 0;
	int rc = s->ops->policies_list(s, version - 1, out, 1, &n);

	if (!rc && (n == 0 || out->version != version))
		rc = ESC_ENOTFOUND;
	if (rc && n) {
		free(out->text);
		out->text = NULL;
	}
	return rc;
}

int esc_row_enum(const struct esc_row *row, int col, const struct esc_enum *e, int *out)
{
	size_t bytes = 0;
	int v = esc_enum_parse(e, row->text(row, col, &bytes));
	int rc = 0;

	if (v < 0)
		rc = ESC_EIO;
	else
		*out = v;
	return rc;
}

/* ---- records ---- */

#define COL(kind, T, f, name, names)                                                               \
	{                                                                                          \
		name, kind, offsetof(T, f), sizeof(((T *)0)->f), names                             \
	}
#define INT(T, f)     COL(ESC_COL_INT, T, f, #f, NULL)
#define TEXT(T, f)    COL(ESC_COL_TEXT, T, f, #f, NULL)
#define ENUM(T, f, e) COL(ESC_COL_ENUM, T, f, #f, &e)
#define RECORD(T, cols)                                                                            \
	{                                                                                          \
		cols, (int)(sizeof cols / sizeof cols[0]), sizeof(T)                               \
	}

/* The due_*_ms column of the order deadline kind k. */
#define DUE(k, name)                                                                               \
	{                                                                                          \
		name, ESC_COL_INT, offsetof(struct esc_order, due_ms) + (k) * sizeof(int64_t),     \
			sizeof(int64_t), NULL                                                      \
	}

/* ESC_COL_ENUM fields are read and written as int. */
_Static_assert(sizeof(enum esc_state) == sizeof(int) && sizeof(enum esc_actor) == sizeof(int) &&
		       sizeof(enum esc_event) == sizeof(int) &&
		       sizeof(enum esc_deadline_kind) == sizeof(int) &&
		       sizeof(enum esc_refund_status) == sizeof(int) &&
		       sizeof(enum esc_refund_to) == sizeof(int) &&
		       sizeof(enum esc_method) == sizeof(int) &&
		       sizeof(enum esc_mark) == sizeof(int) &&
		       sizeof(enum esc_dispute_state) == sizeof(int),
	       "enums are int-sized");

_Static_assert(ESC_DL_ORDER_COUNT == 6, "one due_*_ms column per order deadline kind");

#define O struct esc_order
static const struct esc_col order_cols[] = {
	TEXT(O, id),
	TEXT(O, buyer_id),
	TEXT(O, seller_id),
	TEXT(O, currency),
	INT(O, total_minor),
	INT(O, paid_minor),
	INT(O, refunded_minor),
	INT(O, released_minor),
	INT(O, fee_minor),
	ENUM(O, method, esc_enum_method),
	ENUM(O, state, esc_enum_state),
	INT(O, version),
	INT(O, delivery_days),
	INT(O, items_count),
	INT(O, cancel_requests),
	TEXT(O, cancel_reason),
	TEXT(O, cancel_comment),
	ENUM(O, refund_to, esc_enum_refund_to),
	TEXT(O, reject_message),
	TEXT(O, carrier),
	TEXT(O, tracking),
	INT(O, created_at_ms),
	INT(O, paid_at_ms),
	INT(O, shipped_at_ms),
	INT(O, promised_at_ms),
	INT(O, delivered_at_ms),
	INT(O, ended_at_ms),
	DUE(0, "due_payment_ms"),
	DUE(1, "due_ship_ms"),
	DUE(2, "due_response_ms"),
	DUE(3, "due_protection_ms"),
	DUE(4, "due_confirm_ms"),
	DUE(5, "due_dispute_ms"),
	INT(O, refunds_count),
	INT(O, disputes_count),
	TEXT(O, dispute_ground),
	TEXT(O, dispute_outcome),
	INT(O, dispute_amount_minor),
	INT(O, dispute_opened_at_ms),
	INT(O, dispute_paused_ms),
	INT(O, dispute_refund_minor),
	ENUM(O, dispute_state, esc_enum_dispute_state),
	ENUM(O, dispute_from, esc_enum_state),
	TEXT(O, dispute_description),
	INT(O, dispute_offer_minor),
	INT(O, dispute_agreed_minor),
	TEXT(O, dispute_message),
	TEXT(O, dispute_resolution),
	TEXT(O, dispute_reason),
	INT(O, dispute_escalated_at_ms),
	INT(O, dispute_decided_at_ms),
	INT(O, dispute_resolved_at_ms),
	TEXT(O, return_carrier),
	TEXT(O, return_tracking),
	INT(O, return_shipped_at_ms),
	INT(O, dispute_recommended_minor),
	TEXT(O, dispute_recommendation),
	TEXT(O, tracking_check),
	INT(O, policy_version),
	ENUM(O, dispute_refund_to, esc_enum_refund_to),
};
#undef O
_Static_assert(sizeof order_cols / sizeof order_cols[0] + 2 <= ESC_SQL_PARAMS_MAX,
	       "order_update's parameters fit a bind");
const struct esc_record esc_order_record = RECORD(struct esc_order, order_cols);

#define U struct esc_user
static const struct esc_col user_cols[] = {
	TEXT(U, id),
	ENUM(U, role, esc_enum_actor),
	TEXT(U, name),
	TEXT(U, email),
	TEXT(U, password_hash),
	INT(U, created_at_ms),
	INT(U, suspension_lifted_at_ms),
	INT(U, lift_ms_cancellations),
	INT(U, lift_ms_lost_disputes),
};
#undef U
const struct esc_record esc_user_record = RECORD(struct esc_user, user_cols);

#define H struct esc_history
static const struct esc_col history_cols[] = {
	TEXT(H, order_id),
	INT(H, version),
	INT(H, at_ms),
	ENUM(H, actor, esc_enum_actor),
	TEXT(H, actor_id),
	ENUM(H, event, esc_enum_event),
	COL(ESC_COL_ENUM, H, from, "from_state", &esc_enum_state),
	COL(ESC_COL_ENUM, H, to, "to_state", &esc_enum_state),
	TEXT(H, type),
	TEXT(H, detail),
};
#undef H
const struct esc_record esc_history_record = RECORD(struct esc_history, history_cols);

#define HR struct esc_history_row
static const struct esc_col history_row_cols[] = {
	INT(HR, seq),
	COL(ESC_COL_TEXT, HR, h.order_id, "order_id", NULL),
	COL(ESC_COL_INT, HR, h.version, "version", NULL),
	COL(ESC_COL_INT, HR, h.at_ms, "at_ms", NULL),
	COL(ESC_COL_ENUM, HR, h.actor, "actor", &esc_enum_actor),
	COL(ESC_COL_TEXT, HR, h.actor_id, "actor_id", NULL),
	COL(ESC_COL_ENUM, HR, h.event, "event", &esc_enum_event),
	COL(ESC_COL_ENUM, HR, h.from, "from_state", &esc_enum_state),
	COL(ESC_COL_ENUM, HR, h.to, "to_state", &esc_enum_state),
	COL(ESC_COL_TEXT, HR, h.type, "type", NULL),
	COL(ESC_COL_TEXT, HR, h.detail, "detail", NULL),
};
#undef HR
_Static_assert(sizeof history_row_cols / sizeof history_row_cols[0] ==
		       sizeof history_cols / sizeof history_cols[0] + 1,
	       "a history row is seq and a history line");
const struct esc_record esc_history_row_record = RECORD(struct esc_history_row, history_row_cols);

void esc_outbox_history_assert(const struct esc_outbox_row *row)
{
	const struct esc_history *h = row->history;

	ESC_ASSERT(h->version == row->version && h->at_ms == row->at_ms &&
			   !strcmp(h->order_id, row->order_id) && !strcmp(h->type, row->type),
		   "the history line of %s version %lld is not its event's", h->order_id,
		   (long long)h->version);
}

const char *esc_outbox_payload(const struct esc_outbox_row *row)
{
	if (!row->payload)
		return "{}";
	return row->payload[0] ? row->payload : "null";
}

#define R struct esc_refund
static const struct esc_col refund_cols[] = {
	TEXT(R, id),
	TEXT(R, order_id),
	INT(R, amount_minor),
	ENUM(R, method, esc_enum_method),
	ENUM(R, status, esc_enum_refund_status),
	INT(R, created_at_ms),
	INT(R, resolved_at_ms),
	INT(R, alert_due_ms),
	INT(R, settle_days_min),
	INT(R, settle_days_max),
};
#undef R
const struct esc_record esc_refund_record = RECORD(struct esc_refund, refund_cols);

#define D struct esc_deadline
static const struct esc_col deadline_cols[] = {
	INT(D, due_ms),
	TEXT(D, order_id),
	ENUM(D, kind, esc_enum_deadline),
	TEXT(D, ref),
};
#undef D
const struct esc_record esc_deadline_record = RECORD(struct esc_deadline, deadline_cols);

#define I struct esc_item
static const struct esc_col item_cols[] = {
	TEXT(I, title),
	INT(I, quantity),
	INT(I, unit_price_minor),
	TEXT(I, image_url),
};
#undef I
const struct esc_record esc_item_record = RECORD(struct esc_item, item_cols);

#define K struct esc_api_key
static const struct esc_col api_key_cols[] = {
	TEXT(K, id),	       TEXT(K, name),		 TEXT(K, key_hash),
	INT(K, created_at_ms), INT(K, last_used_at_ms), INT(K, revoked_at_ms),
};
#undef K
const struct esc_record esc_api_key_record = RECORD(struct esc_api_key, api_key_cols);

#define S struct esc_session
static const struct esc_col session_cols[] = {
	TEXT(S, token_hash),   TEXT(S, user_id),     TEXT(S, csrf),
	INT(S, created_at_ms), INT(S, last_seen_ms),
};
#undef S
const struct esc_record esc_session_record = RECORD(struct esc_session, session_cols);

#define M struct esc_mark_row
static const struct esc_col mark_cols[] = {
	INT(M, at_ms),
	TEXT(M, order_id),
	ENUM(M, mark, esc_enum_mark),
};
#undef M
const struct esc_record esc_mark_record = RECORD(struct esc_mark_row, mark_cols);

#define L struct esc_lift
static const struct esc_col lift_cols[] = {
	TEXT(L, user_id),
	INT(L, at_ms),
	TEXT(L, arbiter_id),
	TEXT(L, reason),
};
#undef L
const struct esc_record esc_lift_record = RECORD(struct esc_lift, lift_cols);

#define M struct esc_message
static const struct esc_col message_cols[] = {
	TEXT(M, order_id),
	INT(M, seq),
	INT(M, at_ms),
	TEXT(M, author_id),
	ENUM(M, role, esc_enum_actor),
	TEXT(M, body),
};
#undef M
const struct esc_record esc_message_record = RECORD(struct esc_message, message_cols);

#define C struct esc_conversation
static const struct esc_col conversation_cols[] = {
	INT(C, messages),
	INT(C, unread),
	TEXT(C, last.order_id),
	INT(C, last.seq),
	INT(C, last.at_ms),
	TEXT(C, last.author_id),
	ENUM(C, last.role, esc_enum_actor),
	TEXT(C, last.body),
};
#undef C
const struct esc_record esc_conversation_record =
	RECORD(struct esc_conversation, conversation_cols);

#define E struct esc_evidence
static const struct esc_col evidence_cols[] = {
	TEXT(E, order_id),
	INT(E, seq),
	INT(E, at_ms),
	TEXT(E, author_id),
	ENUM(E, role, esc_enum_actor),
	TEXT(E, content_type),
	TEXT(E, filename),
	INT(E, size),
	TEXT(E, sha256),
};
#undef E
const struct esc_record esc_evidence_record = RECORD(struct esc_evidence, evidence_cols);

_Static_assert(sizeof(((struct esc_webhook_endpoint *)0)->url) == ESC_WEBHOOK_URL_BYTES_MAX + 1 &&
		       sizeof(((struct esc_webhook_endpoint *)0)->secret) ==
			       ESC_WEBHOOK_SECRET_SIZE,
	       "an endpoint holds the longest URL and a secret");

#define W struct esc_webhook_endpoint
static const struct esc_col webhook_endpoint_cols[] = {
	TEXT(W, id),           INT(W, created_at_ms),    TEXT(W, url),
	TEXT(W, description),  TEXT(W, events),          INT(W, enabled),
	TEXT(W, secret),       TEXT(W, secret_previous), INT(W, secret_previous_until_ms),
	INT(W, updated_at_ms), INT(W, failing_since_ms), INT(W, disabled_at_ms),
};
#undef W
const struct esc_record esc_webhook_endpoint_record =
	RECORD(struct esc_webhook_endpoint, webhook_endpoint_cols);

#define D struct esc_webhook_delivery
static const struct esc_col webhook_delivery_cols[] = {
	TEXT(D, id),
	INT(D, event_seq),
	TEXT(D, endpoint_id),
	TEXT(D, order_id),
	TEXT(D, status),
	INT(D, created_at_ms),
	INT(D, next_at_ms),
	INT(D, attempts),
	TEXT(D, claim_owner),
	INT(D, claim_until_ms),
	INT(D, last_attempt_at_ms),
	INT(D, last_status_code),
	INT(D, delivered_at_ms),
};
#undef D
const struct esc_record esc_webhook_delivery_record =
	RECORD(struct esc_webhook_delivery, webhook_delivery_cols);

#define A struct esc_webhook_attempt
static const struct esc_col webhook_attempt_cols[] = {
	TEXT(A, delivery_id), INT(A, n),      INT(A, at_ms),   INT(A, status_code),
	INT(A, duration_ms),  TEXT(A, error), TEXT(A, answer),
};
#undef A
const struct esc_record esc_webhook_attempt_record =
	RECORD(struct esc_webhook_attempt, webhook_attempt_cols);

bool esc_webhook_events_match(const char *events, const char *type)
{
	char pattern[64];

	while (events && *events) {
		size_t n = strcspn(events, " ");
		if (n > 0 && n < sizeof pattern) {
			memcpy(pattern, events, n);
			pattern[n] = '\0';
			if (esc_event_pattern_matches(pattern, type))
				return true;
		}
		events += n;
		events += strspn(events, " ");
	}
	return false;
}

int esc_delivery_cmp(const void *a, const void *b)
{
	const struct esc_webhook_delivery *x = a, *y = b;

	if (x->event_seq != y->event_seq)
		return x->event_seq < y->event_seq ? -1 : 1;
	return strcmp(x->id, y->id);
}

bool esc_record_names(const struct esc_record *r, int first, const char *list)
{
	bool same = true;

	for (int i = first; same && i < r->count; i++) {
		size_t n = strlen(r->cols[i].name);
		if (i > first) {
			same = strncmp(list, ", ", 2) == 0;
			list += same ? 2 : 0;
		}
		same = same && strncmp(list, r->cols[i].name, n) == 0;
		list += same ? n : 0;
	}
	return same && *list == '\0';
}

int esc_record_read(const struct esc_record *r, const struct esc_row *row, void *out)
{
	unsigned char *base = out;
	int rc = 0;

	memset(out, 0, r->size);
	for (int i = 0; i < r->count; i++) {
		const struct esc_col *c = &r->cols[i];
		void *field = base + c->offset;
		const char *text = NULL;
		size_t bytes = 0;
		int64_t v = 0;
		int small = 0;

		ESC_ASSERT(c->kind != ESC_COL_INT || c->size == sizeof v || c->size == sizeof small,
			   "an integer column of an odd size in its record table");
		switch (c->kind) {
		case ESC_COL_INT:
			v = row->i64(row, i);
			small = v > INT_MAX ? INT_MAX : v < INT_MIN ? INT_MIN : (int)v;
			if (c->size == sizeof v)
				memcpy(field, &v, sizeof v);
			else
				memcpy(field, &small, sizeof small);
			break;
		case ESC_COL_TEXT:
			text = row->text(row, i, &bytes);
			esc_field_copy(field, c->size, text, bytes);
			break;
		case ESC_COL_ENUM:
			small = esc_enum_parse(c->names, row->text(row, i, &bytes));
			if (small < 0 && !rc)
				rc = ESC_EIO;
			if (small >= 0)
				memcpy(field, &small, sizeof small);
			break;
		}
	}
	return rc;
}

int esc_record_bind(const struct esc_record *r, int first, int count, const void *in, int param,
		    const struct esc_binder *b, void *bind)
{
	const unsigned char *base = in;
	int rc = 0;

	ESC_ASSERT(first >= 0 && count >= 0 && first + count <= r->count,
		   "columns bound beyond the record table");
	for (int i = first; i < first + count; i++, param++) {
		const struct esc_col *c = &r->cols[i];
		const void *field = base + c->offset;
		const char *name = NULL;
		int64_t v = 0;
		int small = 0;

		switch (c->kind) {
		case ESC_COL_INT:
			if (c->size == sizeof v) {
				memcpy(&v, field, sizeof v);
			} else {
				memcpy(&small, field, sizeof small);
				v = small;
			}
			b->i64(bind, param, v);
			break;
		case ESC_COL_TEXT:
			b->text(bind, param, field, strnlen(field, c->size));
			break;
		case ESC_COL_ENUM:
			memcpy(&small, field, sizeof small);
			name = esc_enum_name(c->names, small);
			if (name)
				b->text(bind, param, name, strlen(name));
			else
				rc = ESC_EINVAL;
			break;
		}
	}
	return rc;
}

/* ---- orders_list ---- */

unsigned esc_order_filter_mask(const struct esc_order_filter *f)
{
	unsigned mask = 0;

	if (f->buyer_id)
		mask |= ESC_F_BUYER;
	if (f->seller_id)
		mask |= ESC_F_SELLER;
	if (f->state >= 0)
		mask |= ESC_F_STATE;
	if (f->starting_after)
		mask |= ESC_F_AFTER;
	if (f->dispute_state > ESC_DS_NONE)
		mask |= ESC_F_DISPUTE;
	if (f->q)
		mask |= ESC_F_Q;
	if (f->created_from_ms)
		mask |= ESC_F_FROM;
	if (f->created_until_ms)
		mask |= ESC_F_UNTIL;
	if (f->oldest_dispute_first)
		mask |= ESC_F_OLDEST;
	if (f->escalated)
		mask |= ESC_F_ESCALATED;
	ESC_ASSERT(mask < ESC_F_COMBINATIONS, "an order filter mask out of range");
	ESC_ASSERT(!f->states_also_count || f->state >= 0, "states_also without a state");
	ESC_ASSERT(f->states_also_count <= ESC_FILTER_STATES_ALSO, "too many states_also");
	return mask;
}

/* The filters in parameter order: a statement and its values both follow
 * this table. A condition takes params parameters, numbered from its
 * first (the %d's, in turn). A state is one of three (a web tab's; the
 * state again where fewer are given). A search matches the id, the end of
 * the id or an item's title: on the caller's own orders (buyer_id's or
 * seller_id's index) it reads only those, and each one's items by its key.
 * The items are counted in a scalar subquery, not tested with EXISTS,
 * which PostgreSQL may turn into a hash of every order's items. */
static const struct {
	unsigned flag;
	int params;
	const char *cond;
} order_filters[] = {
	{ESC_F_BUYER, 1, " AND buyer_id = ?%d"},
	{ESC_F_SELLER, 1, " AND seller_id = ?%d"},
	{ESC_F_STATE, 3, " AND state IN (?%d, ?%d, ?%d)"},
	{ESC_F_DISPUTE, 1, " AND dispute_state = ?%d"},
	{ESC_F_ESCALATED, 0, " AND dispute_escalated_at_ms > 0"},
	{ESC_F_FROM, 1, " AND created_at_ms >= ?%d"},
	{ESC_F_UNTIL, 1, " AND created_at_ms < ?%d"},
	{ESC_F_Q, 3,
	 " AND (id = ?%d OR id LIKE ?%d ESCAPE '\\' OR (SELECT COUNT(*) FROM order_items AS i "
	 "WHERE i.order_id = orders.id AND lower(i.title) LIKE ?%d ESCAPE '\\') > 0)"},
	{ESC_F_AFTER, 1, " AND id < ?%d"},
};

#define ORDER_FILTERS_COUNT (sizeof order_filters / sizeof order_filters[0])

/* Oldest dispute first: the cursor is the order after which to go on. */
#define AFTER_OLDEST                                                                               \
	" AND (dispute_opened_at_ms, id) > (SELECT dispute_opened_at_ms, id FROM orders "          \
	"WHERE id = ?%d)"

/* Append to sql (size bytes, len of them used) what fmt says of k, k + 1
 * and k + 2 (those it names). */
static int sql_add(char *sql, size_t size, int len, const char *fmt, int k)
	__attribute__((format(printf, 4, 0)));

static int sql_add(char *sql, size_t size, int len, const char *fmt, int k)
{
	ESC_ASSERT(len > 0 && (size_t)len < size,
		   "an orders_list statement longer than its buffer");
	len += snprintf(sql + len, size - (size_t)len, fmt, k, k + 1, k + 2);
	ESC_ASSERT(len > 0 && (size_t)len < size,
		   "an orders_list statement longer than its buffer");
	return len;
}

void esc_orders_list_sql(unsigned mask, char *sql, size_t size)
{
	int len = 0;
	int k = 1;

	esc_sql_init();
	len = snprintf(sql, size, "%s WHERE TRUE", esc_sql_order_select);
	for (size_t i = 0; i < ORDER_FILTERS_COUNT; i++) {
		if (!(mask & order_filters[i].flag))
			continue;
		if (order_filters[i].flag == ESC_F_AFTER && (mask & ESC_F_OLDEST))
			len = sql_add(sql, size, len, AFTER_OLDEST, k);
		else
			len = sql_add(sql, size, len, order_filters[i].cond, k);
		k += order_filters[i].params;
	}
	if (mask & ESC_F_OLDEST)
		(void)sql_add(sql, size, len, " ORDER BY dispute_opened_at_ms, id LIMIT ?%d", k);
	else
		(void)sql_add(sql, size, len, " ORDER BY id DESC LIMIT ?%d", k);
}

/* An enum's name bound as text: false when value has none. */
static bool bind_enum(const struct esc_enum *e, const struct esc_binder *b, void *bind, int param,
		      int value)
{
	const char *name = esc_enum_name(e, value);

	if (name)
		b->text(bind, param, name, strlen(name));
	return name != NULL;
}

static void bind_str(const struct esc_binder *b, void *bind, int param, const char *s)
{
	b->text(bind, param, s, strlen(s));
}

/* q into out in lower case (ASCII: as SQL's lower() on both stores)
 * with LIKE's own characters escaped: the bytes written. */
static size_t like_put(char *out, const char *q)
{
	size_t n = 0;

	for (; *q; q++) {
		if (*q == '%' || *q == '_' || *q == '\\')
			out[n++] = '\\';
		out[n++] = (char)tolower((unsigned char)*q);
	}
	return n;
}

static void search_fill(const char *q, struct esc_order_search *s)
{
	size_t len = strlen(q), n = 0;

	ESC_ASSERT(len <= ESC_SEARCH_MAX, "a search of %zu bytes", len);
	for (size_t i = 0; i <= len; i++)
		s->exact[i] = (char)tolower((unsigned char)q[i]);
	s->id_end[0] = '\0';
	if (len >= ESC_SEARCH_ID_END_MIN) {
		s->id_end[0] = '%';
		n = 1 + like_put(s->id_end + 1, q);
		s->id_end[n] = '\0';
	}
	s->title[0] = '%';
	n = 1 + like_put(s->title + 1, q);
	s->title[n++] = '%';
	s->title[n] = '\0';
}

int esc_orders_list_bind(const struct esc_order_filter *f, size_t max,
			 struct esc_order_search *search, const struct esc_binder *b, void *bind)
{
	unsigned mask = esc_order_filter_mask(f);
	bool valid = true;
	int k = 1;

	for (size_t i = 0; i < ORDER_FILTERS_COUNT; i++) {
		switch (mask & order_filters[i].flag) {
		case ESC_F_BUYER:
			bind_str(b, bind, k, f->buyer_id);
			break;
		case ESC_F_SELLER:
			bind_str(b, bind, k, f->seller_id);
			break;
		case ESC_F_STATE:
			for (int j = 0; j < 3; j++) {
				int st = (size_t)j >= 1 && (size_t)j <= f->states_also_count
						 ? f->states_also[j - 1]
						 : f->state;
				valid = bind_enum(&esc_enum_state, b, bind, k + j, st) && valid;
			}
			break;
		case ESC_F_DISPUTE:
			valid = bind_enum(&esc_enum_dispute_state, b, bind, k, f->dispute_state) &&
				valid;
			break;
		case ESC_F_FROM:
			b->i64(bind, k, f->created_from_ms);
			break;
		case ESC_F_UNTIL:
			b->i64(bind, k, f->created_until_ms);
			break;
		case ESC_F_Q:
			search_fill(f->q, search);
			bind_str(b, bind, k, search->exact);
			bind_str(b, bind, k + 1, search->id_end);
			bind_str(b, bind, k + 2, search->title);
			break;
		case ESC_F_AFTER:
			bind_str(b, bind, k, f->starting_after);
			break;
		default:
			break;
		}
		if (mask & order_filters[i].flag)
			k += order_filters[i].params;
	}
	/* One more than asked tells whether more follow. */
	b->i64(bind, k, max < (size_t)INT64_MAX ? (int64_t)max + 1 : INT64_MAX);
	return valid ? 0 : ESC_EINVAL;
}

/* ---- the SQL both dialects share ---- */

char esc_sql_order_select[ESC_SQL_SIZE], esc_sql_order_get[ESC_SQL_SIZE],
	esc_sql_order_insert[ESC_SQL_SIZE], esc_sql_order_update[ESC_SQL_SIZE];

static pthread_once_t sql_once = PTHREAD_ONCE_INIT;

/* Append to out (ESC_SQL_SIZE bytes, *len of them used) what fmt says. */
static void sql_put(char *out, int *len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void sql_put(char *out, int *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	ESC_ASSERT(*len >= 0 && *len < ESC_SQL_SIZE, "a built statement longer than its buffer");
	va_start(ap, fmt);
	n = vsnprintf(out + *len, ESC_SQL_SIZE - (size_t)*len, fmt, ap);
	va_end(ap);
	ESC_ASSERT(n >= 0 && *len + n < ESC_SQL_SIZE, "a built statement longer than its buffer");
	*len += n;
}

/* r's column names from first on, joined by ", ". */
static void sql_names(char *out, int *len, const struct esc_record *r, int first)
{
	for (int i = first; i < r->count; i++)
		sql_put(out, len, "%s%s", i > first ? ", " : "", r->cols[i].name);
}

/* count placeholders, ?param on, joined by ", ". */
static void sql_params(char *out, int *len, int param, int count)
{
	for (int i = 0; i < count; i++)
		sql_put(out, len, "%s?%d", i ? ", " : "", param + i);
}

static void sql_build(void)
{
	const struct esc_record *r = &esc_order_record;
	int updated = r->count - ESC_ORDER_KEYS;
	int len = 0;

	ESC_ASSERT(esc_order_update_params() <= ESC_SQL_PARAMS_MAX &&
			   esc_order_insert_params() <= ESC_SQL_PARAMS_MAX,
		   "more order columns than a bind has parameters");
	sql_put(esc_sql_order_select, &len, "SELECT ");
	sql_names(esc_sql_order_select, &len, r, 0);
	sql_put(esc_sql_order_select, &len, " FROM orders");

	len = 0;
	sql_put(esc_sql_order_get, &len, "%s WHERE id = ?1", esc_sql_order_select);

	len = 0;
	sql_put(esc_sql_order_insert, &len, "INSERT INTO orders (");
	sql_names(esc_sql_order_insert, &len, r, 0);
	sql_put(esc_sql_order_insert, &len, ") VALUES (");
	sql_params(esc_sql_order_insert, &len, 1, r->count);
	sql_put(esc_sql_order_insert, &len, ")");

	len = 0;
	sql_put(esc_sql_order_update, &len, "UPDATE orders SET (");
	sql_names(esc_sql_order_update, &len, r, ESC_ORDER_KEYS);
	sql_put(esc_sql_order_update, &len, ") = (");
	sql_params(esc_sql_order_update, &len, 1, updated);
	sql_put(esc_sql_order_update, &len, ") WHERE id = ?%d AND version = ?%d", updated + 1,
		updated + 2);
}

void esc_sql_init(void)
{
	int rc = pthread_once(&sql_once, sql_build);

	ESC_ASSERT(rc == 0, "the order statements not built");
}

int esc_order_insert_params(void)
{
	return esc_order_record.count;
}

int esc_order_update_params(void)
{
	return esc_order_record.count - ESC_ORDER_KEYS + 2;
}

int esc_order_bind_insert(const struct esc_order *o, const struct esc_binder *b, void *bind)
{
	return esc_record_bind(&esc_order_record, 0, esc_order_record.count, o, 1, b, bind);
}

int esc_order_bind_update(const struct esc_order *o, int64_t expected_version,
			  const struct esc_binder *b, void *bind)
{
	int updated = esc_order_record.count - ESC_ORDER_KEYS;
	int rc = esc_record_bind(&esc_order_record, ESC_ORDER_KEYS, updated, o, 1, b, bind);

	b->text(bind, updated + 1, o->id, strnlen(o->id, sizeof o->id));
	b->i64(bind, updated + 2, expected_version);
	return rc;
}

void esc_sql_dollars(const char *sql, char *out, size_t size)
{
	char quote = 0;
	size_t n = 0;

	for (; *sql; sql++) {
		char c = *sql;
		if (quote && c == quote)
			quote = 0;
		else if (!quote && (c == '\'' || c == '"'))
			quote = c;
		else if (!quote && c == '?' && sql[1] >= '0' && sql[1] <= '9')
			c = '$';
		ESC_ASSERT(n + 1 < size, "a statement longer than its buffer");
		out[n++] = c;
	}
	ESC_ASSERT(size > 0, "a statement copied into no room");
	out[n] = '\0';
}

/* ---- the ledger ---- */

bool esc_kept_account(const char *account)
{
	return strncmp(account, "buyer:", 6) == 0 || strncmp(account, "seller:", 7) == 0;
}

int esc_deadline_cmp(const void *a, const void *b)
{
	const struct esc_deadline *x = a, *y = b;
	int c = (x->due_ms > y->due_ms) - (x->due_ms < y->due_ms);

	if (!c)
		c = strcmp(x->order_id, y->order_id);
	if (!c)
		c = strcmp(esc_deadline_name(x->kind), esc_deadline_name(y->kind));
	if (!c)
		c = strcmp(x->ref, y->ref);
	return c;
}

/* ---- reputation counters ---- */

void esc_rep_row_read(const struct esc_row *row, struct esc_rep_row *out)
{
	memset(out, 0, sizeof *out);
	out->short_since_ms = row->i64(row, 0);
	out->long_since_ms = row->i64(row, 1);
	for (int m = 0; m < ESC_MARK_COUNT; m++) {
		out->counts.short_[m] = (int32_t)row->i64(row, 2 + m);
		out->counts.long_[m] = (int32_t)row->i64(row, 2 + ESC_MARK_COUNT + m);
	}
}

/* Move one window's start from *since to to, its counts n with it. */
static int rep_window_move(int64_t *since, int64_t to, int32_t n[ESC_MARK_COUNT],
			   int (*tally)(void *, int64_t, int64_t, int32_t[ESC_MARK_COUNT]),
			   void *arg, bool *changed)
{
	int32_t between[ESC_MARK_COUNT] = {0};
	int rc = 0;

	if (*since == to)
		return 0;
	/* Later: the marks in (since, to] leave the window; earlier: those in
	 * (to, since] come back into it. */
	rc = to > *since ? tally(arg, *since, to, between) : tally(arg, to, *since, between);
	for (int m = 0; !rc && m < ESC_MARK_COUNT; m++) {
		if (!between[m])
			continue;
		*changed = true;
		n[m] += to > *since ? -between[m] : between[m];
		if (n[m] < 0)
			rc = ESC_EIO;
	}
	if (!rc)
		*since = to;
	return rc;
}

int esc_rep_move(struct esc_rep_row *r, int64_t short_since_ms, int64_t long_since_ms,
		 int (*tally)(void *arg, int64_t after, int64_t upto, int32_t n[ESC_MARK_COUNT]),
		 void *arg, bool *changed)
{
	int rc;

	*changed = false;
	rc = rep_window_move(&r->short_since_ms, short_since_ms, r->counts.short_, tally, arg,
			     changed);
	if (!rc)
		rc = rep_window_move(&r->long_since_ms, long_since_ms, r->counts.long_, tally, arg,
				     changed);
	return rc;
}

void esc_ledger_problem(struct esc_ledger_report *r, const char *fmt, ...)
{
	va_list ap;

	if (r->problems_count < ESC_CHECK_PROBLEMS_MAX) {
		va_start(ap, fmt);
		vsnprintf(r->problems[r->problems_count], ESC_CHECK_PROBLEM_SIZE, fmt, ap);
		va_end(ap);
	}
	r->problems_count++;
}

void esc_check_say(enum esc_check which, const struct esc_row *row, struct esc_ledger_report *r)
{
#define S(col) esc_row_str(row, (col))
#define I(col) ((long long)row->i64(row, (col)))
	switch (which) {
	case ESC_CHECK_CURRENCIES:
		esc_ledger_problem(r, "transfers_sum_to_zero: %s entries sum to %lld, not 0", S(0),
				   I(1));
		break;
	case ESC_CHECK_LEGS:
		if (I(3) != 1)
			esc_ledger_problem(r, "transfer_legs: %s has legs in %lld currencies", S(0),
					   I(3));
		else
			esc_ledger_problem(
				r,
				"transfer_legs: %s has %lld legs summing to %lld, not 2 summing to "
				"0",
				S(0), I(1), I(2));
		break;
	case ESC_CHECK_ESCROW_NEGATIVE:
		esc_ledger_problem(r, "escrow_not_negative: %s is %lld %s", S(0), I(2), S(1));
		break;
	case ESC_CHECK_REFUNDS:
		esc_ledger_problem(
			r,
			"refunds_within_paid: %s refunded %lld %s out of escrow, more than the "
			"%lld paid",
			S(0), I(3), S(1), I(2));
		break;
	case ESC_CHECK_ESCROW_ORDERS:
		esc_ledger_problem(
			r,
			"escrow_matches_order: escrow:%s holds %lld %s, but the order says "
			"paid - refunded - released = %lld",
			S(0), I(3), S(1), I(2));
		break;
	case ESC_CHECK_ESCROW_ORPHANS:
		esc_ledger_problem(
			r, "escrow_matches_order: %s holds %lld %s, but no order in %s has it",
			S(0), I(2), S(1), S(1));
		break;
	case ESC_CHECK_BALANCES:
		esc_ledger_problem(
			r, "balances_match_entries: %s is %lld %s, but its entries sum to %lld",
			S(0), I(2), S(1), I(3));
		break;
	case ESC_CHECK_REPUTATION:
		if (I(1))
			esc_ledger_problem(
				r,
				"reputation_counts_match_marks: %s's reputation counters disagree "
				"with their marks",
				S(0));
		else
			esc_ledger_problem(
				r, "reputation_counts_match_marks: %s has marks but no counters",
				S(0));
		break;
	case ESC_CHECK_POLICY_VERSIONS:
		esc_ledger_problem(
			r,
			"policy_version_exists: order %s is pinned to pol_%lld, which the store's "
			"policies do not hold",
			S(0), I(1));
		break;
	case ESC_CHECKS_COUNT:
		ESC_BUG("not a check");
		break;
	}
#undef S
#undef I
}

/* ---- migrations written once ---- */

/* The three triggers that raise auth_version on a write to table t. */
#define AUTH_BUMP_ON(t, what)                                                                      \
	"CREATE TRIGGER " t "_" what "_auth AFTER " what " ON " t " BEGIN "                        \
	"UPDATE auth_version SET version = version + 1 WHERE id = 1; END;\n"
#define AUTH_BUMP(t) AUTH_BUMP_ON(t, "INSERT") AUTH_BUMP_ON(t, "UPDATE") AUTH_BUMP_ON(t, "DELETE")

const char *const esc_migrations_shared[] = {
	/* Append steps here, each a string of SQL with the type words of
	 * common.h, for example:
	 *   "ALTER TABLE orders ADD COLUMN foo_minor {int} DEFAULT 0;\n",
	 * The first step is the SQLite store's version 8 and the PostgreSQL
	 * database's version 5. */
	/* Issue 14: webhook endpoints. events: the subscribed patterns,
	 * joined by spaces. */
	"CREATE TABLE webhook_endpoints (\n"
	"    id {text} PRIMARY KEY,\n"
	"    created_at_ms {int},\n"
	"    url {text},\n"
	"    description {text} DEFAULT '',\n"
	"    events {text},\n"
	"    enabled {int} DEFAULT 1,\n"
	"    secret {text},\n"
	"    secret_previous {text} DEFAULT '',\n"
	"    secret_previous_until_ms {int} DEFAULT 0,\n"
	"    updated_at_ms {int},\n"
	"    failing_since_ms {int} DEFAULT 0,\n"
	"    disabled_at_ms {int} DEFAULT 0\n"
	"){without_rowid};\n",
	/* Issue 14: each outbox row is an event (webhook/feed.h): the order's
	 * version it shows, and whether the delivery worker has made its
	 * deliveries yet (fanout_done). Rows written before webhooks existed
	 * had no endpoint to go to: they count as done. */
	"ALTER TABLE outbox ADD COLUMN version {int} DEFAULT 0;\n"
	"ALTER TABLE outbox ADD COLUMN fanout_done {int} DEFAULT 0;\n"
	"UPDATE outbox SET fanout_done = 1;\n"
	"CREATE INDEX outbox_fanout ON outbox (seq) WHERE fanout_done = 0;\n"
	"CREATE INDEX outbox_order ON outbox (order_id, seq);\n",
	/* Issue 14: deliveries, one per (event, endpoint), and their attempts.
	 * Times are escrowd's clock but claim_until_ms (real time, as the
	 * leases in processes). */
	"CREATE TABLE webhook_deliveries (\n"
	"    id {text} PRIMARY KEY,\n"
	"    event_seq {int},\n"
	"    endpoint_id {text},\n"
	"    order_id {text} DEFAULT '',\n"
	"    status {text},\n"
	"    created_at_ms {int},\n"
	"    next_at_ms {int},\n"
	"    attempts {int} DEFAULT 0,\n"
	"    claim_owner {text_null},\n"
	"    claim_until_ms {int} DEFAULT 0,\n"
	"    last_attempt_at_ms {int} DEFAULT 0,\n"
	"    last_status_code {int} DEFAULT 0,\n"
	"    delivered_at_ms {int} DEFAULT 0,\n"
	"    UNIQUE (event_seq, endpoint_id)\n"
	");\n"
	"CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_at_ms, event_seq) "
	"WHERE status = 'pending';\n"
	"CREATE INDEX webhook_deliveries_order ON webhook_deliveries "
	"(endpoint_id, order_id, event_seq) WHERE status = 'pending';\n"
	"CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);\n"
	"CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_seq, id);\n"
	"CREATE TABLE webhook_attempts (\n"
	"    delivery_id {text},\n"
	"    n {int},\n"
	"    at_ms {int},\n"
	"    status_code {int} DEFAULT 0,\n"
	"    duration_ms {int} DEFAULT 0,\n"
	"    error {text} DEFAULT '',\n"
	"    answer {text} DEFAULT '',\n"
	"    PRIMARY KEY (delivery_id, n)\n"
	"){without_rowid};\n",
	/* Issue 14: GET /v1/webhook-deliveries?endpoint_id= pages an
	 * endpoint's deliveries newest event first. */
	"CREATE INDEX webhook_deliveries_endpoint_seq ON webhook_deliveries "
	"(endpoint_id, event_seq, id);\n",
	/* Issue 14: the deliveries claimed now, by endpoint: the worker sends
	 * no endpoint more than a few at once (ESC_SQL_DELIVERIES_CLAIM). */
	"CREATE INDEX webhook_deliveries_held ON webhook_deliveries (endpoint_id) "
	"WHERE claim_owner IS NOT NULL;\n",
	/* Issue 16: the tracking number against its carrier at ship time
	 * ("valid", "invalid_format", "invalid_check_digit"; "" unchecked). */
	"ALTER TABLE orders ADD COLUMN tracking_check {text} DEFAULT '';\n",
	/* Issue 15: reputation counters, one row a user (ESC_REP_MARKS in
	 * common.h), so that a command reads a user's counts instead of
	 * counting their marks. Each user's marks so far are counted from the
	 * start of time; their first count moves the window starts. Keyed by
	 * user: a row is rewritten in place. */
	"CREATE TABLE reputation_counts (\n"
	"    user_id {text} PRIMARY KEY,\n"
	"    short_since_ms {int},\n"
	"    long_since_ms {int},\n"
	"    short_buyer_paid {int} DEFAULT 0,\n"
	"    short_buyer_cancelled {int} DEFAULT 0,\n"
	"    short_buyer_dispute_opened {int} DEFAULT 0,\n"
	"    short_buyer_dispute_lost {int} DEFAULT 0,\n"
	"    short_seller_sold {int} DEFAULT 0,\n"
	"    short_seller_fault_cancel {int} DEFAULT 0,\n"
	"    short_seller_missed_ship {int} DEFAULT 0,\n"
	"    short_seller_dispute_lost {int} DEFAULT 0,\n"
	"    short_seller_invalid_tracking {int} DEFAULT 0,\n"
	"    long_buyer_paid {int} DEFAULT 0,\n"
	"    long_buyer_cancelled {int} DEFAULT 0,\n"
	"    long_buyer_dispute_opened {int} DEFAULT 0,\n"
	"    long_buyer_dispute_lost {int} DEFAULT 0,\n"
	"    long_seller_sold {int} DEFAULT 0,\n"
	"    long_seller_fault_cancel {int} DEFAULT 0,\n"
	"    long_seller_missed_ship {int} DEFAULT 0,\n"
	"    long_seller_dispute_lost {int} DEFAULT 0,\n"
	"    long_seller_invalid_tracking {int} DEFAULT 0\n"
	"){without_rowid};\n"
	"INSERT INTO reputation_counts (user_id, short_since_ms, long_since_ms, "
	"short_buyer_paid, short_buyer_cancelled, short_buyer_dispute_opened, "
	"short_buyer_dispute_lost, short_seller_sold, short_seller_fault_cancel, "
	"short_seller_missed_ship, short_seller_dispute_lost, short_seller_invalid_tracking, "
	"long_buyer_paid, long_buyer_cancelled, long_buyer_dispute_opened, "
	"long_buyer_dispute_lost, long_seller_sold, long_seller_fault_cancel, "
	"long_seller_missed_ship, long_seller_dispute_lost, long_seller_invalid_tracking) "
	"SELECT user_id, -4611686018427387904, -4611686018427387904"
	", SUM(CASE WHEN mark = 'buyer_paid' THEN 1 ELSE 0 END)"
	", SUM(CASE WHEN mark = 'buyer_cancelled' THEN 1 ELSE 0 END)"
	", SUM(CASE WHEN mark = 'buyer_dispute_opened' THEN 1 ELSE 0 END)"
	", SUM(CASE WHEN mark = 'buyer_dispute_lost' THEN 1 ELSE 0 END)"
	", SUM(CASE WHEN mark = 'seller_sold' THEN 1 ELSE 0 END)"
	", SUM(CASE WHEN mark = 'seller_fault_cancel' THEN 1 ELSE 0 END)"
	", SUM(CASE WHEN mark = 'seller_missed_ship' THEN 1 ELSE 0 END)"
	", SUM(CASE WHEN mark = 'seller_dispute_lost' THEN 1 ELSE 0 END)"
	", SUM(CASE WHEN mark = 'seller_invalid_tracking' THEN 1 ELSE 0 END)"
	", SUM(CASE WHEN mark = 'buyer_paid' THEN 1 ELSE 0 END)"
	", SUM(CASE WHEN mark = 'buyer_cancelled' THEN 1 ELSE 0 END)"
	", SUM(CASE WHEN mark = 'buyer_dispute_opened' THEN 1 ELSE 0 END)"
	", SUM(CASE WHEN mark = 'buyer_dispute_lost' THEN 1 ELSE 0 END)"
	", SUM(CASE WHEN mark = 'seller_sold' THEN 1 ELSE 0 END)"
	", SUM(CASE WHEN mark = 'seller_fault_cancel' THEN 1 ELSE 0 END)"
	", SUM(CASE WHEN mark = 'seller_missed_ship' THEN 1 ELSE 0 END)"
	", SUM(CASE WHEN mark = 'seller_dispute_lost' THEN 1 ELSE 0 END)"
	", SUM(CASE WHEN mark = 'seller_invalid_tracking' THEN 1 ELSE 0 END)"
	" FROM marks GROUP BY user_id;\n",
	/* Issue 15: one row per command for its event and its history line.
	 * The history's columns join the outbox's; history rows move into
	 * the row of their event (same order, version and type; rows written
	 * before events had versions stay as they were), or, without one (a
	 * purged event, or one of before versions), become rows of their own
	 * with an empty payload: a purged event, which no list shows. An
	 * event's empty payload was shown as null: it is stored as that. */
	"ALTER TABLE outbox ADD COLUMN actor {text} DEFAULT '';\n"
	"ALTER TABLE outbox ADD COLUMN actor_id {text} DEFAULT '';\n"
	"ALTER TABLE outbox ADD COLUMN event {text} DEFAULT '';\n"
	"ALTER TABLE outbox ADD COLUMN from_state {text} DEFAULT '';\n"
	"ALTER TABLE outbox ADD COLUMN to_state {text} DEFAULT '';\n"
	"ALTER TABLE outbox ADD COLUMN detail {text} DEFAULT '';\n"
	"UPDATE outbox SET payload = 'null' WHERE payload = '';\n"
	"UPDATE outbox SET actor = h.actor, actor_id = h.actor_id, event = h.event, "
	"from_state = h.from_state, to_state = h.to_state, detail = h.detail "
	"FROM history AS h WHERE h.order_id = outbox.order_id AND h.version = outbox.version "
	"AND h.type = outbox.type AND outbox.version > 0;\n"
	"INSERT INTO outbox (order_id, version, at_ms, actor, actor_id, event, from_state, "
	"to_state, type, detail, payload, fanout_done) "
	"SELECT h.order_id, h.version, h.at_ms, h.actor, h.actor_id, h.event, h.from_state, "
	"h.to_state, h.type, h.detail, '', 1 FROM history AS h WHERE NOT EXISTS (SELECT 1 "
	"FROM outbox AS o WHERE o.order_id = h.order_id AND o.version = h.version "
	"AND o.event <> '') ORDER BY h.order_id, h.version;\n"
	"DROP TABLE history;\n",
	/* Issue 16: policy versions, numbered from 1 (pol_1, SPEC's defaults,
	 * which the engine keeps first), each kept once by the hash of its
	 * canonical text. An order is pinned to the version it was created
	 * under; the orders of before are pinned to pol_1. */
	"CREATE TABLE policies (\n"
	"    version {int} PRIMARY KEY,\n"
	"    hash {text} UNIQUE,\n"
	"    text {text},\n"
	"    created_at_ms {int}\n"
	");\n"
	"ALTER TABLE orders ADD COLUMN policy_version {int} DEFAULT 1;\n",
	/* Issue 15: the events the webhook fanout has not passed yet, one
	 * narrow row each, which the command writes beside its event and the
	 * fanout deletes: the event row is written once (the fanout rewrote
	 * it to set fanout_done, payload and all). The pending events move
	 * across; outbox.fanout_done stays, no longer read or written, and
	 * its index goes (new rows take the column's default, 0). */
	"CREATE TABLE fanout_pending (seq {int} PRIMARY KEY);\n"
	"INSERT INTO fanout_pending (seq) SELECT seq FROM outbox WHERE fanout_done = 0;\n"
	"DROP INDEX outbox_fanout;\n",
	/* Issue 17 item 3: how far each party of an order read its messages
	 * (the highest seq read), for the unread counts. */
	"CREATE TABLE message_reads (\n"
	"    order_id {text},\n"
	"    user_id {text},\n"
	"    seq {int},\n"
	"    PRIMARY KEY (order_id, user_id)\n"
	"){without_rowid};\n"
	/* Issue 17 item 4: how far each user read their notifications, as
	 * the (at_ms, seq) of the newest read; the notifications are read
	 * from the outbox by order (outbox_order), newest first. */
	"CREATE TABLE notification_reads (\n"
	"    user_id {text} PRIMARY KEY,\n"
	"    at_ms {int},\n"
	"    seq {int}\n"
	"){without_rowid};\n",
	/* Issue 17: an item's picture, as the marketplace gave it at
	 * creation ("" for none). */
	"ALTER TABLE order_items ADD COLUMN image_url {text} DEFAULT '';\n",
	/* Issue 18 item 7: operator keys get an id, a name, the time of their
	 * last use (0: never) and of their revocation (0: active). A key
	 * installed before (by --operator-key) gets an id from its hash's
	 * start (the hash of a random secret: it tells nothing) and says where
	 * it came from. */
	"ALTER TABLE api_keys ADD COLUMN id {text} DEFAULT '';\n"
	"ALTER TABLE api_keys ADD COLUMN name {text} DEFAULT '';\n"
	"ALTER TABLE api_keys ADD COLUMN last_used_at_ms {int} DEFAULT 0;\n"
	"ALTER TABLE api_keys ADD COLUMN revoked_at_ms {int} DEFAULT 0;\n"
	"UPDATE api_keys SET id = 'key_' || substr(key_hash, 1, 20), "
	"name = 'operator-key (from --operator-key)';\n"
	"CREATE UNIQUE INDEX api_keys_id ON api_keys (id);\n",
	/* Issue 15: an order's refunds in the order its view lists them
	 * (REFUNDS_BY_ORDER: created_at_ms, id), read off the index: SQLite
	 * sorted them in a temporary b-tree, a new pager and its page buffers
	 * for each view of an order with a refund (~4 % of the writer's CPU
	 * in the flow's accept). */
	"DROP INDEX refunds_order;\n"
	"CREATE INDEX refunds_order ON refunds (order_id, created_at_ms, id);\n",
	/* Issue 15: the version of the callers' tables, raised by each
	 * write to them in its own transaction, so that a SQLite read
	 * connection keeps the callers it looked up across the commits of
	 * commands (sqlite.c, auth_version). PostgreSQL keeps no callers:
	 * its daemons would all update the one row. */
	ESC_SQLITE_ONLY
	"CREATE TABLE auth_version (\n"
	"    id INTEGER PRIMARY KEY CHECK (id = 1),\n"
	"    version INTEGER NOT NULL\n"
	");\n"
	"INSERT INTO auth_version (id, version) VALUES (1, 1);\n" AUTH_BUMP("api_keys")
		AUTH_BUMP("sessions") AUTH_BUMP("users"),
	/* Issue 15: an order's refunds kept together under its key, the
	 * order its view lists them in, so that the view reads them with one
	 * b-tree's descent (REFUNDS_BY_ORDER) and not one through
	 * refunds_order then one per refund by id. On a store larger than
	 * the read connections' map, each descent ends in a pread: GET
	 * /v1/orders/{id} of random orders after the flow cost 51.6 µs of the
	 * daemon's CPU before, 46.1 after (ARCHITECTURE.md). A refund is found by its id through
	 * refunds_id (the settlement's and GET /v1/refunds/{id}'s two
	 * descents, once a refund). PostgreSQL keeps its table: a heap. */
	ESC_SQLITE_ONLY
	"CREATE TABLE refunds_by_order (\n"
	"    id TEXT NOT NULL,\n"
	"    order_id TEXT NOT NULL,\n"
	"    amount_minor INTEGER NOT NULL,\n"
	"    method TEXT NOT NULL,\n"
	"    status TEXT NOT NULL,\n"
	"    created_at_ms INTEGER NOT NULL,\n"
	"    resolved_at_ms INTEGER NOT NULL,\n"
	"    alert_due_ms INTEGER NOT NULL,\n"
	"    settle_days_min INTEGER NOT NULL,\n"
	"    settle_days_max INTEGER NOT NULL,\n"
	"    PRIMARY KEY (order_id, created_at_ms, id)\n"
	") WITHOUT ROWID;\n"
	"INSERT INTO refunds_by_order (id, order_id, amount_minor, method, status, "
	"created_at_ms, resolved_at_ms, alert_due_ms, settle_days_min, settle_days_max) "
	"SELECT id, order_id, amount_minor, method, status, created_at_ms, resolved_at_ms, "
	"alert_due_ms, settle_days_min, settle_days_max FROM refunds;\n"
	"DROP TABLE refunds;\n"
	"ALTER TABLE refunds_by_order RENAME TO refunds;\n"
	"CREATE UNIQUE INDEX refunds_id ON refunds (id);\n",
	/* When an arbiter decided: a decided return_and_refund waits for the
	 * goods before it is resolved, and its kept recommendation is as of
	 * the decision. The decisions before this step resolved at once. */
	"ALTER TABLE orders ADD COLUMN dispute_decided_at_ms {int} DEFAULT 0;\n"
	"UPDATE orders SET dispute_decided_at_ms = dispute_resolved_at_ms "
	"WHERE dispute_resolution = 'decided';\n",
	/* The buyer's cancellations after payment and lost disputes made in
	 * the millisecond of an arbiter's lift before it, so that the marks
	 * made after it, in that millisecond too, suspend the buyer again;
	 * -1 for the lifts before this step: none of their millisecond counts.
	 * And where a dispute's refund goes, as the buyer asked (a dispute
	 * opened before this step: the original method, as it was told). */
	"ALTER TABLE users ADD COLUMN lift_ms_cancellations {int} DEFAULT -1;\n"
	"ALTER TABLE users ADD COLUMN lift_ms_lost_disputes {int} DEFAULT -1;\n"
	"ALTER TABLE orders ADD COLUMN dispute_refund_to {text} DEFAULT 'original';\n",
	NULL,
};

int esc_migrations_count(const char *const *steps)
{
	int n = 0;

	while (steps[n])
		n++;
	return n;
}

/* A type word and what each dialect writes for it. */
static const struct {
	const char *word;
	const char *sqlite;
	const char *pg;
} type_words[] = {
	{"{int}", "INTEGER NOT NULL", "BIGINT NOT NULL"},
	{"{int_null}", "INTEGER", "BIGINT"},
	{"{text}", "TEXT NOT NULL", "TEXT COLLATE \"C\" NOT NULL"},
	{"{text_null}", "TEXT", "TEXT COLLATE \"C\""},
	{"{bytes}", "BLOB NOT NULL", "BYTEA NOT NULL"},
	{"{without_rowid}", " WITHOUT ROWID", ""},
};

#define TYPE_WORDS_COUNT (sizeof type_words / sizeof type_words[0])

/* Write step in d's words into out (NULL: only count); its length. */
static size_t migration_put(const char *step, enum esc_dialect d, char *out)
{
	size_t n = 0;

	while (*step) {
		const char *put = NULL;
		size_t skip = 1, len = 1;
		for (size_t i = 0; *step == '{' && !put && i < TYPE_WORDS_COUNT; i++) {
			size_t w = strlen(type_words[i].word);
			if (strncmp(step, type_words[i].word, w) == 0) {
				put = d == ESC_DIALECT_PG ? type_words[i].pg : type_words[i].sqlite;
				skip = w;
				len = strlen(put);
			}
		}
		if (out)
			memcpy(out + n, put ? put : step, len);
		n += len;
		step += skip;
	}
	if (out)
		out[n] = '\0';
	return n;
}

char *esc_migration_sql(const char *step, enum esc_dialect d)
{
	size_t only = strlen(ESC_SQLITE_ONLY);

	/* PostgreSQL records the version of a step that is not its own, and
	 * runs nothing. */
	if (!strncmp(step, ESC_SQLITE_ONLY, only)) {
		if (d == ESC_DIALECT_PG)
			step = "SELECT 1;\n";
		else
			step += only;
	}
	char *out = malloc(migration_put(step, d, NULL) + 1);

	if (out)
		(void)migration_put(step, d, out);
	return out;
}
