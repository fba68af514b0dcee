/* notice.c - the sentences of notifications: one row per event, each with
 * what its buyer and its seller read, in English and Icelandic. */
#include "core/notice.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/money.h"
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

/* A currency's symbols as the web interface writes them: what its Intl
 * (CLDR 48's narrow symbols) puts before an English amount, no-break
 * space included where the symbol ends in a letter ("€29.00", "kr 2,599"),
 * and after an Icelandic one, past a no-break space ("29,00 €",
 * "2.599 kr."). A code not here is its own symbol both ways ("CHF 29.00",
 * "29,00 CHF"). Sorted by code. */
struct symbol {
	char code[ESC_CURRENCY_SIZE];
	const char *en, *is;
};

/* clang-format off */
static const struct symbol symbols[] = {
	{"AFN", "؋", "؋"},
	{"AMD", "֏", "֏"},
	{"AOA", "Kz\xc2\xa0", "Kz"},
	{"ARS", "$", "$"},
	{"AUD", "$", "$"},
	{"AZN", "₼", "₼"},
	{"BAM", "KM\xc2\xa0", "KM"},
	{"BBD", "$", "$"},
	{"BDT", "৳", "৳"},
	{"BMD", "$", "$"},
	{"BND", "$", "$"},
	{"BOB", "Bs\xc2\xa0", "Bs"},
	{"BRL", "R$", "R$"},
	{"BSD", "$", "$"},
	{"BWP", "P\xc2\xa0", "P"},
	{"BZD", "$", "$"},
	{"CAD", "$", "$"},
	{"CLP", "$", "$"},
	{"CNY", "¥", "¥"},
	{"COP", "$", "$"},
	{"CRC", "₡", "₡"},
	{"CUP", "$", "$"},
	{"CZK", "Kč\xc2\xa0", "Kč"},
	{"DKK", "kr\xc2\xa0", "kr."},
	{"DOP", "$", "$"},
	{"EGP", "E£", "E£"},
	{"EUR", "€", "€"},
	{"FJD", "$", "$"},
	{"FKP", "£", "£"},
	{"GBP", "£", "£"},
	{"GEL", "₾", "₾"},
	{"GHS", "GH₵", "GH₵"},
	{"GIP", "£", "£"},
	{"GNF", "FG\xc2\xa0", "FG"},
	{"GTQ", "Q\xc2\xa0", "Q"},
	{"GYD", "$", "$"},
	{"HKD", "$", "$"},
	{"HNL", "L\xc2\xa0", "L"},
	{"HUF", "Ft\xc2\xa0", "Ft"},
	{"IDR", "Rp\xc2\xa0", "Rp"},
	{"ILS", "₪", "₪"},
	{"INR", "₹", "₹"},
	{"ISK", "kr\xc2\xa0", "kr."},
	{"JMD", "$", "$"},
	{"JPY", "¥", "¥"},
	{"KGS", "⃀", "⃀"},
	{"KHR", "៛", "៛"},
	{"KMF", "CF\xc2\xa0", "CF"},
	{"KPW", "₩", "₩"},
	{"KRW", "₩", "₩"},
	{"KYD", "$", "$"},
	{"KZT", "₸", "₸"},
	{"LAK", "₭", "₭"},
	{"LBP", "L£", "L£"},
	{"LKR", "Rs\xc2\xa0", "Rs"},
	{"LRD", "$", "$"},
	{"MGA", "Ar\xc2\xa0", "Ar"},
	{"MMK", "K\xc2\xa0", "K"},
	{"MNT", "₮", "₮"},
	{"MUR", "Rs\xc2\xa0", "Rs"},
	{"MXN", "$", "$"},
	{"MYR", "RM\xc2\xa0", "RM"},
	{"NAD", "$", "$"},
	{"NGN", "₦", "₦"},
	{"NIO", "C$", "C$"},
	{"NOK", "kr\xc2\xa0", "kr."},
	{"NPR", "Rs\xc2\xa0", "Rs"},
	{"NZD", "$", "$"},
	{"PHP", "₱", "₱"},
	{"PKR", "Rs\xc2\xa0", "Rs"},
	{"PLN", "zł\xc2\xa0", "zł"},
	{"PYG", "₲", "₲"},
	{"RON", "lei\xc2\xa0", "lei"},
	{"RUB", "₽", "₽"},
	{"RWF", "RF\xc2\xa0", "RF"},
	{"SBD", "$", "$"},
	{"SEK", "kr\xc2\xa0", "kr."},
	{"SGD", "$", "$"},
	{"SHP", "£", "£"},
	{"SRD", "$", "$"},
	{"SSP", "£", "£"},
	{"STN", "Db\xc2\xa0", "Db"},
	{"SYP", "£", "£"},
	{"THB", "฿", "฿"},
	{"TOP", "T$", "T$"},
	{"TRY", "₺", "₺"},
	{"TTD", "$", "$"},
	{"TWD", "$", "NT$"},
	{"UAH", "₴", "₴"},
	{"USD", "$", "$"},
	{"UYU", "$", "$"},
	{"VND", "₫", "₫"},
	{"XAF", "FCFA\xc2\xa0", "FCFA"},
	{"XCD", "$", "$"},
	{"XCG", "Cg.\xc2\xa0", "XCG"},
	{"XOF", "F CFA\xc2\xa0", "F CFA"},
	{"XPF", "CFPF\xc2\xa0", "CFPF"},
	{"ZAR", "R\xc2\xa0", "R"},
	{"ZMW", "ZK\xc2\xa0", "ZK"},

};
/* clang-format on */

static int symbol_cmp(const void *key, const void *row)
{
	return strcmp(key, ((const struct symbol *)row)->code);
}

/* Digits with a separator every three from the right: "1,234,567". */
static void grouped(uint64_t n, char sep, char *out, size_t size)
{
	char digits[24], buf[32];
	size_t len, o = 0;

	snprintf(digits, sizeof digits, "%llu", (unsigned long long)n);
	len = strlen(digits);
	for (size_t i = 0; i < len; i++) {
		if (i && (len - i) % 3 == 0)
			buf[o++] = sep;
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
	snprintf(out, size, "%s", buf);
}

void esc_notice_amount(int64_t minor, const char *currency, enum esc_lang lang, char *out,
		       size_t size)
{
	int digits = esc_currency_digits(currency);
	uint64_t per = digits == 0 ? 1 : digits == 3 ? 1000 : 100;
	uint64_t abs = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
	const char *sign = minor < 0 ? "-" : "";
	const struct symbol *s = bsearch(currency, symbols, sizeof symbols / sizeof symbols[0],
					 sizeof symbols[0], symbol_cmp);
	bool is = lang == ESC_LANG_IS;
	char whole[32], fraction[8] = "";

	grouped(abs / per, is ? '.' : ',', whole, sizeof whole);
	if (digits)
		snprintf(fraction, sizeof fraction, "%c%0*llu", is ? ',' : '.', digits,
			 (unsigned long long)(abs % per));
	if (is)
		snprintf(out, size, "%s%s%s\xc2\xa0%s", sign, whole, fraction,
			 s ? s->is : currency);
	else if (s)
		snprintf(out, size, "%s%s%s%s", sign, s->en, whole, fraction);
	else
		snprintf(out, size, "%s%s\xc2\xa0%s%s", sign, currency, whole, fraction);
}
