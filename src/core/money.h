/* money.h - integer money: minor units, overflow-checked, no floating point.
 *
 * Amounts are int64_t minor units (cents) of one ISO 4217 currency. Every
 * function here returns 0 or ESC_EINVAL on overflow or a bad argument and
 * leaves *out untouched on failure. */
#ifndef ESC_MONEY_H
#define ESC_MONEY_H

#include <stdbool.h>
#include <stdint.h>

#include "core/limits.h" /* ESC_AMOUNT_MAX: the largest amount, 10^15 minor units */

/* Three upper-case ASCII letters plus NUL. */
#define ESC_CURRENCY_SIZE 4

int esc_money_add(int64_t a, int64_t b, int64_t *out);
int esc_money_sub(int64_t a, int64_t b, int64_t *out);
int esc_money_mul(int64_t a, int64_t b, int64_t *out);

/* Fee of `amount` at `basis_points` (1/100 of a percent; 500 = 5 %),
 * rounded half-even in minor units. amount >= 0, 0 <= basis_points <=
 * 10000. */
int esc_money_fee(int64_t amount, int32_t basis_points, int64_t *out);

/* A valid amount: 0 <= amount <= ESC_AMOUNT_MAX. */
bool esc_amount_valid(int64_t amount);

/* An active ISO 4217 currency code ("EUR"); not XXX, XTS, metals,
 * funds or withdrawn codes (the table is in money.c). */
bool esc_currency_valid(const char *currency);

/* The digits of currency's minor unit (ISO 4217): 0 for ISK or JPY, 3
 * for KWD, 2 for EUR and any code it does not list. */
int esc_currency_digits(const char *currency);

#endif
