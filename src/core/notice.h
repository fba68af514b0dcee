/* notice.h - the sentences of a buyer's or a seller's notifications
 * (issue 17 item 4): what happened on one of their orders while they were
 * away, said to them in English or Icelandic ("The seller accepted your
 * cancellation.", "Your refund of €29.00 arrived."), and the reminders
 * escrowd derives from an open deadline ("The seller has 24 hours left to
 * answer your cancellation request.").
 *
 * Pure: data and string functions, no I/O, no clock. */
#ifndef ESC_NOTICE_H
#define ESC_NOTICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/order.h"
#include "core/rules.h" /* enum esc_lang */

/* How long before a deadline its reminder is due. */
#define ESC_NOTICE_REMIND_MS (24LL * 3600 * 1000)

/* Whether the sentence of event ev names an amount ({amount}): the
 * payment, a counter-offer, a refund. */
bool esc_notice_has_amount(enum esc_event ev);

/* An amount of currency in minor units as the web interface writes it
 * in lang, so that a sentence says it as the screen around it does:
 * "€29.00", "29,00 €", "kr 2,599", "2.599 kr.", "CHF 1,234.50" (the
 * currency's minor unit, ISO 4217; groups of three; the symbols of CLDR's
 * narrow form, which the interface's Intl uses; no-break spaces). */
void esc_notice_amount(int64_t minor, const char *currency, enum esc_lang lang, char *out,
		       size_t size);

/* The sentence of event ev (which moved the order to state to) as viewer
 * (the buyer or the seller) reads it, in lang, with amount ("€29.00",
 * esc_notice_amount; NULL when there is none) filled: 0, or ESC_EINVAL when
 * out was too small. An event with no sentence of its own for viewer
 * gets a general one ("Your order changed."). */
int esc_notice_sentence(enum esc_event ev, enum esc_state to, enum esc_actor viewer,
			const char *amount, enum esc_lang lang, char *out, size_t size);

/* The reminder of deadline k as viewer reads it, in lang: 0, or
 * ESC_ENOTFOUND when k has no reminder for viewer (only the seller's
 * answer to a cancellation request has one now), ESC_EINVAL when out was
 * too small. */
int esc_notice_reminder(enum esc_deadline_kind k, enum esc_actor viewer, enum esc_lang lang,
			char *out, size_t size);

#endif
