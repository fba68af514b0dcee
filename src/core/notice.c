/* notice.c - the sentences of notifications: one row per event, each with
 * what its buyer and its seller read, in English and Icelandic. */
#include "core/notice.h"

#include <string.h>

#include "util/error.h"

/* say[viewer][lang]: viewer 0 the buyer, 1 the seller; NULL: the general
 * sentence. */
struct notice {
	enum esc_event event;
	const char *say[2][ESC_LANG_COUNT];
};

/* clang-format off */
static const struct notice notices[] = {
	{ESC_EV_PAY, {
		{"Your payment of {amount} was received.", "Greiðsla þín, {amount}, barst."},
		{"The buyer paid {amount}: the order awaits shipment.",
		 "Kaupandinn greiddi {amount}: pöntunin bíður sendingar."}}},
	{ESC_EV_CANCEL, {
		{NULL, NULL},
		{"The buyer asked to cancel the order.", "Kaupandinn bað um að hætta við pöntunina."}}},
	{ESC_EV_ACCEPT_CANCELLATION, {
		{"The seller accepted your cancellation.", "Seljandinn samþykkti afturköllun þína."},
		{NULL, NULL}}},
	{ESC_EV_REJECT_CANCELLATION, {
		{"The seller rejected your cancellation request: their message is in the order's "
		 "conversation.",
		 "Seljandinn hafnaði beiðni þinni um afturköllun: skilaboð hans eru í samtali "
		 "pöntunarinnar."},
		{NULL, NULL}}},
	{ESC_EV_WITHDRAW_CANCELLATION, {
		{NULL, NULL},
		{"The buyer withdrew the cancellation request.",
		 "Kaupandinn dró beiðni sína um afturköllun til baka."}}},
	{ESC_EV_SHIP, {
		{"The seller shipped your order.", "Seljandinn sendi pöntunina þína."},
		{NULL, NULL}}},
	{ESC_EV_DELIVER, {
		{"Your order was delivered.", "Pöntunin þín var afhent."},
		{"The order was delivered to the buyer.", "Pöntunin var afhent kaupandanum."}}},
	{ESC_EV_CONFIRM_RECEIPT, {
		{NULL, NULL},
		{"The buyer confirmed receipt: the payment is released to you.",
		 "Kaupandinn staðfesti móttöku: greiðslan er greidd út til þín."}}},
	{ESC_EV_OPEN_DISPUTE, {
		{NULL, NULL},
		{"The buyer opened a dispute.", "Kaupandinn opnaði ágreiningsmál."}}},
	{ESC_EV_ACCEPT_DISPUTE, {
		{"The seller accepted your dispute.", "Seljandinn féllst á ágreiningsmál þitt."},
		{NULL, NULL}}},
	{ESC_EV_COUNTER_OFFER, {
		{"The seller offered {amount} instead.", "Seljandinn bauð {amount} í staðinn."},
		{NULL, NULL}}},
	{ESC_EV_REJECT_DISPUTE, {
		{"The seller rejected your dispute.", "Seljandinn hafnaði ágreiningsmáli þínu."},
		{NULL, NULL}}},
	{ESC_EV_ACCEPT_OFFER, {
		{NULL, NULL},
		{"The buyer accepted your offer.", "Kaupandinn þáði tilboð þitt."}}},
	{ESC_EV_ESCALATE, {
		{NULL, NULL},
		{"The buyer took the dispute to an arbiter.",
		 "Kaupandinn vísaði ágreiningsmálinu til úrskurðaraðila."}}},
	{ESC_EV_WITHDRAW_DISPUTE, {
		{NULL, NULL},
		{"The buyer withdrew the dispute.", "Kaupandinn dró ágreiningsmálið til baka."}}},
	{ESC_EV_RETURN_SHIPMENT, {
		{NULL, NULL},
		{"The buyer sent the goods back.", "Kaupandinn sendi vörurnar til baka."}}},
	{ESC_EV_RETURN_RECEIVED, {
		{"The seller received the goods you sent back.",
		 "Seljandinn tók við vörunum sem þú sendir til baka."},
		{NULL, NULL}}},
	{ESC_EV_RESOLVE_DISPUTE, {
		{"An arbiter decided your dispute.", "Úrskurðaraðili úrskurðaði í ágreiningsmáli þínu."},
		{"An arbiter decided the buyer's dispute.",
		 "Úrskurðaraðili úrskurðaði í ágreiningsmáli kaupandans."}}},
	{ESC_EV_PAYMENT_DEADLINE, {
		{"The order was cancelled: it was not paid in time.",
		 "Hætt var við pöntunina: hún var ekki greidd í tæka tíð."},
		{"The order was cancelled: it was not paid in time.",
		 "Hætt var við pöntunina: hún var ekki greidd í tæka tíð."}}},
	{ESC_EV_SHIP_DEADLINE, {
		{"The order was cancelled: the seller did not ship it in time. Your money is refunded.",
		 "Hætt var við pöntunina: seljandinn sendi hana ekki í tæka tíð. Þú færð endurgreitt."},
		{"The order was cancelled: you did not ship it in time.",
		 "Hætt var við pöntunina: þú sendir hana ekki í tæka tíð."}}},
	{ESC_EV_RESPONSE_DEADLINE, {
		{"The seller did not answer in time: your cancellation was approved.",
		 "Seljandinn svaraði ekki í tæka tíð: afturköllun þín var samþykkt."},
		{"You did not answer in time: the buyer's cancellation was approved.",
		 "Þú svaraðir ekki í tæka tíð: afturköllun kaupandans var samþykkt."}}},
	{ESC_EV_PROTECTION_DEADLINE, {
		{"The order was completed: the payment went to the seller.",
		 "Pöntuninni er lokið: greiðslan fór til seljandans."},
		{"The order was completed: the payment is released to you.",
		 "Pöntuninni er lokið: greiðslan er greidd út til þín."}}},
	{ESC_EV_CONFIRM_DEADLINE, {
		{"The order was completed: the payment went to the seller.",
		 "Pöntuninni er lokið: greiðslan fór til seljandans."},
		{"The order was completed: the payment is released to you.",
		 "Pöntuninni er lokið: greiðslan er greidd út til þín."}}},
	{ESC_EV_DISPUTE_DEADLINE, {
		{"The dispute's time ran out, and it was closed.",
		 "Frestur ágreiningsmálsins rann út og því var lokað."},
		{"The dispute's time ran out, and it was closed.",
		 "Frestur ágreiningsmálsins rann út og því var lokað."}}},
	{ESC_EV_REFUND_SETTLED, {
		{"Your refund of {amount} arrived.", "Endurgreiðsla þín, {amount}, barst."},
		{"The buyer's refund of {amount} arrived.", "Endurgreiðsla kaupandans, {amount}, barst."}}},
	{ESC_EV_REFUND_FAILED, {
		{"Your refund of {amount} could not be paid back: it went to your balance.",
		 "Ekki tókst að endurgreiða {amount}: upphæðin fór á inneign þína."},
		{"The buyer's refund of {amount} went to their balance.",
		 "Endurgreiðsla kaupandans, {amount}, fór á inneign hans."}}},
	{ESC_EV_REFUND_OVERDUE, {
		{"Your refund of {amount} is late: the marketplace has been told.",
		 "Endurgreiðsla þín, {amount}, er sein: markaðstorginu hefur verið gert viðvart."},
		{"The buyer's refund of {amount} is late.", "Endurgreiðsla kaupandans, {amount}, er sein."}}},
};

static const char *const general[2][ESC_LANG_COUNT] = {
	{"Your order changed.", "Pöntunin þín breyttist."},
	{"The order changed.", "Pöntunin breyttist."},
};

static const char *const response_reminder[2][ESC_LANG_COUNT] = {
	{"The seller has 24 hours left to answer your cancellation request.",
	 "Seljandinn hefur 24 klukkustundir til að svara beiðni þinni um afturköllun."},
	{"You have 24 hours left to answer the buyer's cancellation request.",
	 "Þú hefur 24 klukkustundir til að svara beiðni kaupandans um afturköllun."},
};
/* clang-format on */

#define NOTICES_COUNT (sizeof notices / sizeof notices[0])

bool esc_notice_has_amount(enum esc_event ev)
{
	return ev == ESC_EV_PAY || ev == ESC_EV_COUNTER_OFFER || ev == ESC_EV_REFUND_SETTLED ||
	       ev == ESC_EV_REFUND_FAILED || ev == ESC_EV_REFUND_OVERDUE;
}

int esc_notice_sentence(enum esc_event ev, enum esc_state to, enum esc_actor viewer,
			const char *amount, enum esc_lang lang, char *out, size_t size)
{
	int who = viewer == ESC_ACTOR_SELLER ? 1 : 0;
	const char *say = NULL;

	for (size_t i = 0; !say && i < NOTICES_COUNT; i++)
		if (notices[i].event == ev)
			say = notices[i].say[who][lang];
	/* An unpaid order's cancellation is done at once, not asked. */
	if (ev == ESC_EV_CANCEL && to == ESC_ST_CANCELLED && who == 1)
		say = lang == ESC_LANG_IS ? "Kaupandinn hætti við pöntunina."
					  : "The buyer cancelled the order.";
	/* The amount was not found (a purged refund): the general sentence. */
	if (!say || (strstr(say, "{amount}") && !amount))
		say = general[who][lang];
	const struct esc_rule_var var = {"amount", amount ? amount : ""};
	return esc_rule_render(say, lang, &var, 1, out, size);
}

int esc_notice_reminder(enum esc_deadline_kind k, enum esc_actor viewer, enum esc_lang lang,
			char *out, size_t size)
{
	if (k != ESC_DL_RESPONSE || (viewer != ESC_ACTOR_BUYER && viewer != ESC_ACTOR_SELLER))
		return ESC_ENOTFOUND;
	return esc_rule_render(response_reminder[viewer == ESC_ACTOR_SELLER][lang], lang, NULL, 0,
			       out, size);
}
