/* common.h - what the two store backends share: the stored names of the
 * enums, which accounts keep a balance row, the order of claimed
 * deadlines, and the wording of the ledger check's problems.
 *
 * A backend reads a row through struct esc_row, a small adapter over its
 * own statement or result, so that what is said about a row is written
 * once. Each backend keeps what is its own: its SQL, its placeholders,
 * its transactions, retries and error codes, its migrations. */
#ifndef ESC_STORE_COMMON_H
#define ESC_STORE_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* ---- enums stored as their names ---- */

struct esc_enum {
	int count;
	const char *(*name)(int value);
};

extern const struct esc_enum esc_enum_state, esc_enum_actor, esc_enum_event, esc_enum_deadline,
	esc_enum_refund_status, esc_enum_refund_to, esc_enum_method, esc_enum_mark,
	esc_enum_dispute_state;

/* The stored name of value, or NULL when value is out of range. */
const char *esc_enum_name(const struct esc_enum *e, int value);

/* The value whose name is text (NUL-terminated, or NULL), or -1. */
int esc_enum_parse(const struct esc_enum *e, const char *text);

/* ---- rows ---- */

/* One row of a backend's result, read by column number from 0. text is
 * NUL-terminated, *bytes long, or NULL for SQL NULL; it lives until the
 * backend moves on. */
struct esc_row {
	int64_t (*i64)(const struct esc_row *row, int col);
	const char *(*text)(const struct esc_row *row, int col, size_t *bytes);
	const void *src; /* the backend's statement or result */
	int index;       /* the row of src, where the backend needs one */
};

/* A text column as a C string: "" for SQL NULL. */
const char *esc_row_str(const struct esc_row *row, int col);

/* Copy text (n bytes, NULL when n is 0) into a field of size bytes:
 * bounded, cut at a UTF-8 character boundary, always NUL-terminated. */
void esc_field_copy(char *dst, size_t size, const char *text, size_t n);

/* An enum column into *out: 0, or ESC_EIO for a name this binary does not
 * know (a newer binary wrote it, or the row was changed by hand). */
int esc_row_enum(const struct esc_row *row, int col, const struct esc_enum *e, int *out);

/* ---- the ledger ---- */

/* Balances are kept in their own table only for the accounts read on the
 * hot path; every other account's balance is the sum of its entries. */
bool esc_kept_account(const char *account);

/* qsort order of claimed deadlines: the order deadlines_due lists them,
 * since RETURNING keeps no order of its own. */
int esc_deadline_cmp(const void *a, const void *b);

/* The ledger check's queries, in the order they run; each row one
 * returns is a problem, and its columns are as the backends' CHECK_*
 * statements select them. */
enum esc_check {
	ESC_CHECK_CURRENCIES,
	ESC_CHECK_LEGS,
	ESC_CHECK_ESCROW_NEGATIVE,
	ESC_CHECK_REFUNDS,
	ESC_CHECK_ESCROW_ORDERS,
	ESC_CHECK_ESCROW_ORPHANS,
	ESC_CHECK_BALANCES,
	ESC_CHECKS_COUNT
};

/* Add the problem a row of check which says to r. */
void esc_check_say(enum esc_check which, const struct esc_row *row, struct esc_ledger_report *r);

#endif
