/* common.c - what the two store backends share; see common.h. */
#include "store/common.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/error.h"

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
	assert(size > 0);
	if (n >= size) {
		n = size - 1;
		while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80)
			n--;
	}
	if (n)
		memcpy(dst, text, n);
	dst[n] = '\0';
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

static void problem(struct esc_ledger_report *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void problem(struct esc_ledger_report *r, const char *fmt, ...)
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
		problem(r, "transfers_sum_to_zero: %s entries sum to %lld, not 0", S(0), I(1));
		break;
	case ESC_CHECK_LEGS:
		if (I(3) != 1)
			problem(r, "transfer_legs: %s has legs in %lld currencies", S(0), I(3));
		else
			problem(r,
				"transfer_legs: %s has %lld legs summing to %lld, not 2 summing to 0",
				S(0), I(1), I(2));
		break;
	case ESC_CHECK_ESCROW_NEGATIVE:
		problem(r, "escrow_not_negative: %s is %lld %s", S(0), I(2), S(1));
		break;
	case ESC_CHECK_REFUNDS:
		problem(r,
			"refunds_within_paid: %s refunded %lld %s out of escrow, more than the "
			"%lld paid",
			S(0), I(3), S(1), I(2));
		break;
	case ESC_CHECK_ESCROW_ORDERS:
		problem(r,
			"escrow_matches_order: escrow:%s holds %lld %s, but the order says "
			"paid - refunded - released = %lld",
			S(0), I(3), S(1), I(2));
		break;
	case ESC_CHECK_ESCROW_ORPHANS:
		problem(r, "escrow_matches_order: %s holds %lld %s, but no order in %s has it",
			S(0), I(2), S(1), S(1));
		break;
	case ESC_CHECK_BALANCES:
		problem(r, "balances_match_entries: %s is %lld %s, but its entries sum to %lld",
			S(0), I(2), S(1), I(3));
		break;
	case ESC_CHECKS_COUNT:
		assert(0 && "not a check");
		break;
	}
#undef S
#undef I
}
