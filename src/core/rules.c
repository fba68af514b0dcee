/* rules.c - the catalogue of rules: see rules.h. The Icelandic follows
 * the words of the interface's catalogue (web/is.json): afturköllun,
 * endurgreiðsla, ágreiningsmál, rakningarnúmer. Its {window} is in the
 * genitive ("72 klukkustunda", "30 daga", as the interface's span.*), so
 * each sentence puts it where the genitive belongs: "innan {window}",
 * "á {window} tímabili", "{window} frestur". */
#include "core/rules.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "core/money.h"
#include "core/recommend.h"
#include "util/error.h"

#define RULE(e, i, k, ev, en_says, en_passes, en_passed, is_says, is_passes, is_passed)            \
	[e] = {i, k, ev, {{en_says, en_passes, en_passed}, {is_says, is_passes, is_passed}}}

static const struct esc_rule_info rules[ESC_RULE_COUNT] = {
	RULE(ESC_RULE_PAYMENT_WINDOW, "payment_window", "payment_window", "payment_deadline",
	     "An order is paid within {window} of its creation.",
	     "If it is not paid by then, the order is cancelled.",
	     "payment_window of {window} passed: the order was cancelled.",
	     "Pöntun er greidd innan {window} frá stofnun.",
	     "Ef hún er ekki greidd fyrir þann tíma er pöntunin afturkölluð.",
	     "payment_window ({window} frestur) rann út: pöntunin var afturkölluð."),
	RULE(ESC_RULE_SHIP_WINDOW, "ship_window", "ship_window", "ship_deadline",
	     "The seller ships within {window} of the payment.",
	     "If the seller has not shipped by then, the order is cancelled and {amount} goes back "
	     "to the {method} it was paid with.",
	     "ship_window of {window} passed: the order was cancelled, {amount} refunded to the "
	     "{method}, expected {from} to {to}.",
	     "Seljandinn sendir innan {window} frá greiðslu.",
	     "Ef seljandinn hefur ekki sent fyrir þann tíma er pöntunin afturkölluð og {amount} "
	     "fer "
	     "aftur {method} sem greitt var með.",
	     "ship_window ({window} frestur) rann út: pöntunin var afturkölluð, {amount} "
	     "endurgreitt "
	     "{method}, væntanlegt {from} til {to}."),
	RULE(ESC_RULE_RESPONSE_WINDOW, "response_window", "response_window", "response_deadline",
	     "The seller answers a cancellation request within {window}.",
	     "If the seller has not answered by then, the request is approved and {amount} goes "
	     "back to the {method}.",
	     "response_window of {window} passed: the request was approved automatically, {amount} "
	     "refunded to the {method}, expected {from} to {to}.",
	     "Seljandinn svarar beiðni um afturköllun innan {window}.",
	     "Ef seljandinn hefur ekki svarað fyrir þann tíma er beiðnin samþykkt og {amount} fer "
	     "aftur {method}.",
	     "response_window ({window} frestur) rann út: beiðnin var samþykkt sjálfkrafa, "
	     "{amount} "
	     "endurgreitt {method}, væntanlegt {from} til {to}."),
	RULE(ESC_RULE_PROTECTION_EXTRA, "protection_extra",
	     "protection_extra delivery_days_default", "protection_deadline",
	     "The buyer is protected until {window} after the promised delivery date.",
	     "If no dispute is open by then, the order completes and {amount} is released to the "
	     "seller.",
	     "protection_extra of {window} after the promised date passed: the order completed, "
	     "{amount} released to the seller.",
	     "Vernd kaupandans lýkur að {window} fresti liðnum eftir lofaðan afhendingardag.",
	     "Ef ekkert ágreiningsmál er opið fyrir þann tíma lýkur pöntuninni og {amount} er "
	     "greitt "
	     "seljandanum.",
	     "protection_extra ({window} frestur eftir lofaðan dag) rann út: pöntuninni lauk, "
	     "{amount} "
	     "greitt seljandanum."),
	RULE(ESC_RULE_CONFIRM_WINDOW, "confirm_window", "confirm_window", "confirm_deadline",
	     "The buyer confirms receipt within {window} of delivery.",
	     "If the buyer has not confirmed or disputed by then, the order completes and {amount} "
	     "is released to the seller.",
	     "confirm_window of {window} after delivery passed: the order completed, {amount} "
	     "released to the seller.",
	     "Kaupandinn staðfestir móttöku innan {window} frá afhendingu.",
	     "Ef kaupandinn hefur hvorki staðfest né opnað ágreiningsmál fyrir þann tíma lýkur "
	     "pöntuninni og {amount} er greitt seljandanum.",
	     "confirm_window ({window} frestur eftir afhendingu) rann út: pöntuninni lauk, "
	     "{amount} greitt "
	     "seljandanum."),
	RULE(ESC_RULE_DISPUTE_SELLER_WINDOW, "dispute_seller_window", "dispute_seller_window",
	     "dispute_deadline", "The seller answers a dispute within {window}.",
	     "If the seller has not answered by then, the dispute is resolved for the buyer as "
	     "asked: {amount} back.",
	     "dispute_seller_window of {window} passed: the dispute was resolved for the buyer, "
	     "{amount} refunded.",
	     "Seljandinn svarar ágreiningsmáli innan {window}.",
	     "Ef seljandinn hefur ekki svarað fyrir þann tíma er málið leyst kaupandanum í hag "
	     "eins "
	     "og beðið var um: {amount} til baka.",
	     "dispute_seller_window ({window} frestur) rann út: málið var leyst kaupandanum í hag, "
	     "{amount} "
	     "endurgreitt."),
	RULE(ESC_RULE_DISPUTE_BUYER_WINDOW, "dispute_buyer_window", "dispute_buyer_window",
	     "dispute_deadline", "The buyer answers the seller's offer within {window}.",
	     "If the buyer has neither accepted nor escalated by then, the offer is accepted: "
	     "{amount} back.",
	     "dispute_buyer_window of {window} passed: the seller's offer was accepted, {amount} "
	     "refunded.",
	     "Kaupandinn svarar tilboði seljandans innan {window}.",
	     "Ef kaupandinn hefur hvorki samþykkt né vísað málinu áfram fyrir þann tíma telst "
	     "tilboðið samþykkt: {amount} til baka.",
	     "dispute_buyer_window ({window} frestur) rann út: tilboð seljandans var samþykkt, "
	     "{amount} "
	     "endurgreitt."),
	RULE(ESC_RULE_DISPUTE_ESCALATE_WINDOW, "dispute_escalate_window", "dispute_buyer_window",
	     "dispute_deadline",
	     "After the seller rejects a dispute, the buyer may escalate it within {window}.",
	     "If the buyer has not escalated by then, the dispute is resolved for the seller.",
	     "dispute_escalate_window of {window} after the rejection passed: the dispute was "
	     "resolved "
	     "for the seller.",
	     "Eftir að seljandinn hafnar ágreiningsmáli getur kaupandinn vísað því áfram innan "
	     "{window}.",
	     "Ef kaupandinn hefur ekki vísað málinu áfram fyrir þann tíma er það leyst seljandanum "
	     "í hag.",
	     "dispute_escalate_window ({window} frestur eftir höfnun) rann út: málið var leyst "
	     "seljandanum í "
	     "hag."),
	RULE(ESC_RULE_RETURN_SHIP_WINDOW, "return_ship_window", "return_ship_window",
	     "dispute_deadline", "The buyer ships the goods back within {window}.",
	     "If the buyer has not shipped them back by then, the buyer loses the dispute.",
	     "return_ship_window of {window} passed: the goods were not shipped back, the dispute "
	     "was resolved for the seller.",
	     "Kaupandinn sendir vöruna til baka innan {window}.",
	     "Ef kaupandinn hefur ekki sent hana til baka fyrir þann tíma tapar hann málinu.",
	     "return_ship_window ({window} frestur) rann út: varan var ekki send til baka, málið "
	     "var leyst "
	     "seljandanum í hag."),
	RULE(ESC_RULE_RETURN_RECEIVE_WINDOW, "return_receive_window", "return_receive_window",
	     "dispute_deadline", "The seller confirms receiving the return within {window}.",
	     "If the seller has not confirmed by then, receipt is taken as confirmed and {amount} "
	     "is refunded.",
	     "return_receive_window of {window} passed: receipt was taken as confirmed, {amount} "
	     "refunded.",
	     "Seljandinn staðfestir móttöku skilavörunnar innan {window}.",
	     "Ef seljandinn hefur ekki staðfest fyrir þann tíma telst móttakan staðfest og "
	     "{amount} "
	     "er endurgreitt.",
	     "return_receive_window ({window} frestur) rann út: móttakan taldist staðfest, "
	     "{amount} "
	     "endurgreitt."),
	RULE(ESC_RULE_DISPUTE_AFTER_COMPLETION, "dispute_after_completion",
	     "dispute_after_completion", "",
	     "A completed order may still be disputed within {window} of its completion.",
	     "After that, no dispute can be opened on it, and what was released stays with the "
	     "seller.",
	     "dispute_after_completion of {window} passed: the order can no longer be disputed.",
	     "Opna má ágreiningsmál um lokna pöntun innan {window} frá því að henni lauk.",
	     "Eftir það er ekki hægt að opna ágreiningsmál um hana og það sem var greitt "
	     "seljandanum er hans.",
	     "dispute_after_completion ({window} frestur) rann út: ekki er lengur hægt að opna "
	     "ágreiningsmál um pöntunina."),
	RULE(ESC_RULE_REFUND_ALERT, "refund_alert",
	     "refund_alert settle_days.card settle_days.wallet", "refund_overdue",
	     "A refund is confirmed by the payment provider within {window}; a card refund usually "
	     "takes {from} to {to} days.",
	     "If the refund is not confirmed by then, escrowd raises an alert to the marketplace.",
	     "refund_alert of {window} passed: the refund of {amount} was not confirmed, the "
	     "marketplace was alerted.",
	     "Greiðsluveitan staðfestir endurgreiðslu innan {window}; endurgreiðsla á kort tekur "
	     "venjulega {from} til {to} daga.",
	     "Ef endurgreiðslan er ekki staðfest fyrir þann tíma lætur escrowd markaðstorgið vita.",
	     "refund_alert ({window} frestur) rann út: endurgreiðsla {amount} var ekki staðfest, "
	     "markaðstorginu var gert viðvart."),
	RULE(ESC_RULE_FEE, "fee", "fee", "",
	     "The marketplace keeps {percent} of what is released to "
	     "the seller, rounded half to even.",
	     "{amount} is kept as the fee when the money is released.",
	     "fee of {percent}: {amount} kept when the money was released, {released} paid to "
	     "the seller.",
	     "Markaðstorgið heldur eftir {percent} af því sem greitt er seljandanum, námundað að "
	     "sléttri tölu.",
	     "{amount} er haldið eftir sem þóknun þegar greitt er út.",
	     "fee, {percent}: {amount} haldið eftir þegar greitt var út, {released} greitt "
	     "seljandanum."),
	RULE(ESC_RULE_CANCEL_REQUESTS_MAX, "cancel_requests_max", "cancel_requests_max", "",
	     "A buyer may ask to cancel an order at most {threshold:time|times}.",
	     "After {threshold:request|requests} no more can be sent for this order.",
	     "cancel_requests_max of {threshold} reached: no more requests for this order.",
	     "Kaupandi getur beðið um afturköllun pöntunar í mesta lagi {threshold:sinni|sinnum}.",
	     "Eftir {threshold:beiðni|beiðnir} er ekki hægt að senda fleiri fyrir þessa pöntun.",
	     "cancel_requests_max, {threshold}, náð: ekki fleiri beiðnir fyrir þessa pöntun."),
	RULE(ESC_RULE_TRACKING_CHECK, "tracking_check", "tracking_check carriers", "",
	     "A tracking number must fit its carrier's format and check digit.",
	     "A number that does not is refused, or taken and counted against the seller as an "
	     "invalid tracking number.",
	     "tracking_check: the number failed the check of carrier {carrier} ({scheme}).",
	     "Rakningarnúmer verður að passa við snið og vartölu flutningsaðilans.",
	     "Númeri sem passar ekki er hafnað, eða það er tekið og talið gegn seljandanum sem "
	     "ógilt "
	     "rakningarnúmer.",
	     "tracking_check: númerið stóðst ekki athugun flutningsaðilans {carrier} ({scheme})."),
	RULE(ESC_RULE_WATCH_CANCELLATIONS, "watch_cancellations",
	     "watch_cancellations buyer_short_window", "",
	     "A buyer with {threshold} or more cancellations after payment in {window} is watched "
	     "and warned before the next one.",
	     "{count} of {threshold:cancellation|cancellations} in {window}: the next ones make "
	     "the account "
	     "watched.",
	     "watch_cancellations: {count:cancellation|cancellations} in {window}, {threshold} or "
	     "more: the "
	     "buyer is watched.",
	     "Fylgst er með kaupanda sem hefur {threshold} eða fleiri afturkallanir eftir greiðslu "
	     "á {window} tímabili og hann varaður við áður en hann afturkallar aftur.",
	     "{count} af {threshold:afturköllun|afturköllunum} á {window} tímabili: þær næstu "
	     "valda því að "
	     "fylgst er "
	     "með "
	     "aðganginum.",
	     "watch_cancellations: {count:afturköllun|afturkallanir} á {window} tímabili, "
	     "{threshold} eða "
	     "fleiri: "
	     "fylgst "
	     "er með kaupandanum."),
	RULE(ESC_RULE_RESTRICTED_CANCELLATIONS, "restricted_cancellations",
	     "restricted_cancellations buyer_short_window", "",
	     "A buyer with {threshold} or more cancellations after payment in {window} is "
	     "restricted: disputes they open lean towards the seller.",
	     "{count} of {threshold:cancellation|cancellations} in {window} before the account is "
	     "restricted.",
	     "restricted_cancellations: {count:cancellation|cancellations} in {window}, "
	     "{threshold} or more: "
	     "the "
	     "buyer is restricted.",
	     "Kaupandi með {threshold} eða fleiri afturkallanir eftir greiðslu á {window} tímabili "
	     "er "
	     "takmarkaður: ágreiningsmál sem hann opnar halla að seljandanum.",
	     "{count} af {threshold:afturköllun|afturköllunum} á {window} tímabili áður en "
	     "aðgangurinn er takmarkaður.",
	     "restricted_cancellations: {count:afturköllun|afturkallanir} á {window} tímabili, "
	     "{threshold} eða "
	     "fleiri: "
	     "kaupandinn er takmarkaður."),
	RULE(ESC_RULE_RESTRICTED_RATE, "restricted_rate",
	     "restricted_rate restricted_rate_min_paid buyer_long_window", "",
	     "A buyer who cancels more than {threshold} of paid orders, with {min_paid} or more "
	     "paid "
	     "orders in {window}, is restricted.",
	     "{percent} of paid orders cancelled in {window}; over {threshold} restricts the "
	     "account.",
	     "restricted_rate: {percent} of {count:paid order|paid orders} cancelled in {window}, "
	     "over "
	     "{threshold}: the buyer is restricted.",
	     "Kaupandi sem afturkallar meira en {threshold} greiddra pantana, með {min_paid} eða "
	     "fleiri greiddar pantanir á {window} tímabili, er takmarkaður.",
	     "{percent} greiddra pantana afturkallað á {window} tímabili; meira en {threshold} "
	     "takmarkar "
	     "aðganginn.",
	     "restricted_rate: {percent} af {count:greiddri pöntun|greiddum pöntunum} afturkallað "
	     "á {window} "
	     "tímabili, "
	     "meira "
	     "en {threshold}: kaupandinn er takmarkaður."),
	RULE(ESC_RULE_SUSPENDED_CANCELLATIONS, "suspended_cancellations",
	     "suspended_cancellations buyer_long_window", "",
	     "A buyer with {threshold} or more cancellations after payment in {window} is "
	     "suspended: "
	     "no new cancellation requests or disputes until an arbiter lifts it.",
	     "{count} of {threshold:cancellation|cancellations} in {window} before the account is "
	     "suspended.",
	     "suspended_cancellations: {count:cancellation|cancellations} in {window}, {threshold} "
	     "or more: the "
	     "buyer is suspended.",
	     "Kaupandi með {threshold} eða fleiri afturkallanir eftir greiðslu á {window} tímabili "
	     "fer í "
	     "bann: "
	     "engar nýjar beiðnir um afturköllun eða ágreiningsmál fyrr en gerðardómari afléttir "
	     "því.",
	     "{count} af {threshold:afturköllun|afturköllunum} á {window} tímabili áður en "
	     "aðgangurinn fer í "
	     "bann.",
	     "suspended_cancellations: {count:afturköllun|afturkallanir} á {window} tímabili, "
	     "{threshold} eða "
	     "fleiri: "
	     "kaupandinn er í banni."),
	RULE(ESC_RULE_SUSPENDED_LOST_DISPUTES, "suspended_lost_disputes",
	     "suspended_lost_disputes buyer_long_window", "",
	     "A buyer who loses {threshold} or more disputes in {window} is suspended.",
	     "{count} of {threshold:lost dispute|lost disputes} in {window} before the account is "
	     "suspended.",
	     "suspended_lost_disputes: {count:dispute|disputes} lost in {window}, {threshold} or "
	     "more: the "
	     "buyer is suspended.",
	     "Kaupandi sem tapar {threshold} eða fleiri ágreiningsmálum á {window} tímabili fer í "
	     "bann.",
	     "{count} af {threshold:töpuðu ágreiningsmáli|töpuðum ágreiningsmálum} á {window} "
	     "tímabili áður en "
	     "aðgangurinn fer í "
	     "bann.",
	     "suspended_lost_disputes: {count:tapað ágreiningsmál|töpuð ágreiningsmál} á {window} "
	     "tímabili, "
	     "{threshold} eða "
	     "fleiri: kaupandinn er í banni."),
	RULE(ESC_RULE_SELLER_SCORE, "seller_score",
	     "seller_window seller_min_orders seller_weight_fault_cancel seller_weight_missed_ship "
	     "seller_weight_lost_dispute seller_weight_invalid_tracking",
	     "",
	     "A seller's score is 100 less the weighted faults per order over {window}: each "
	     "seller-fault cancellation, missed ship deadline, lost dispute and invalid tracking "
	     "number weighs in.",
	     "The score is {score}: {count:fault|faults} over the orders of {window}.",
	     "seller_score: {score}, from {count:fault|faults} over the orders of {window}.",
	     "Einkunn seljanda er 100 að frádregnum vegnum brotum á pöntun á {window} tímabili: "
	     "hver "
	     "afturköllun af ástæðu seljanda, sendingarfrestur sem rann út, tapað ágreiningsmál og "
	     "ógilt rakningarnúmer vegur.",
	     "Einkunnin er {score}: {count:brot|brot} á pöntunum {window} tímabils.",
	     "seller_score: {score}, af {count:broti|brotum} á pöntunum {window} tímabils."),
	RULE(ESC_RULE_RECOMMEND_DELIVERY, "recommend_delivery", "", "",
	     "A dispute that the parcel never came (not_delivered, invalid_tracking) starts from "
	     "the carrier: all of the amount asked when it never reported delivery, none when it "
	     "did.",
	     "The recommendation starts at {weight} of the amount asked, by the carrier's "
	     "delivery report.",
	     "recommend_delivery: {weight} of the amount asked, by the carrier's delivery report.",
	     "Ágreiningsmál um að sending hafi ekki borist (not_delivered, invalid_tracking) "
	     "byrjar á flutningsaðilanum: öll upphæðin sem beðið var um ef hann tilkynnti aldrei "
	     "afhendingu, ekkert ef hann gerði það.",
	     "Ráðleggingin byrjar í {weight} af upphæðinni sem beðið var um, samkvæmt "
	     "afhendingartilkynningu flutningsaðilans.",
	     "recommend_delivery: {weight} af upphæðinni sem beðið var um, samkvæmt "
	     "afhendingartilkynningu flutningsaðilans."),
	RULE(ESC_RULE_RECOMMEND_EVIDENCE, "recommend_evidence", "", "",
	     "A dispute that the goods are not as described starts from the evidence: all of the "
	     "amount asked when only the buyer gave some, half when both did, none when the buyer "
	     "gave none.",
	     "The recommendation starts at {weight} of the amount asked, by the evidence given.",
	     "recommend_evidence: {weight} of the amount asked, by the evidence given.",
	     "Ágreiningsmál um að vara sé ekki eins og lýst var byrjar á sönnunargögnunum: öll "
	     "upphæðin sem beðið var um ef aðeins kaupandinn lagði fram gögn, helmingur ef báðir "
	     "gerðu það, ekkert ef kaupandinn lagði engin fram.",
	     "Ráðleggingin byrjar í {weight} af upphæðinni sem beðið var um, samkvæmt "
	     "sönnunargögnunum.",
	     "recommend_evidence: {weight} af upphæðinni sem beðið var um, samkvæmt "
	     "sönnunargögnunum."),
	RULE(ESC_RULE_RECOMMEND_SELLER_SCORE, "recommend_seller_score", "", "",
	     "When the seller's score is under {threshold}, the doubt goes to the buyer: a part of "
	     "the amount asked becomes all of it.",
	     "The recommendation is multiplied by {weight}, up to the amount asked: the seller's "
	     "score is under {threshold}.",
	     "recommend_seller_score: multiplied by {weight}, up to the amount asked, the seller's "
	     "score being under {threshold}.",
	     "Þegar einkunn seljandans er undir {threshold} fær kaupandinn að njóta vafans: hluti "
	     "upphæðarinnar sem beðið var um verður öll upphæðin.",
	     "Ráðleggingin er margfölduð með {weight}, að hámarki upphæðin sem beðið var um: "
	     "einkunn seljandans er undir {threshold}.",
	     "recommend_seller_score: margfaldað með {weight}, að hámarki upphæðin sem beðið var "
	     "um, þar sem einkunn seljandans er undir {threshold}."),
	RULE(ESC_RULE_RECOMMEND_BUYER_LEVEL, "recommend_buyer_level", "", "",
	     "A restricted or suspended buyer's recommendation is weighted towards the seller: it "
	     "is halved.",
	     "The recommendation is multiplied by {weight}: the buyer is restricted or suspended.",
	     "recommend_buyer_level: multiplied by {weight}, the buyer being restricted or "
	     "suspended.",
	     "Ráðlegging takmarkaðs kaupanda eða kaupanda í banni hallar að seljandanum: hún er "
	     "helminguð.",
	     "Ráðleggingin er margfölduð með {weight}: kaupandinn er takmarkaður eða í banni.",
	     "recommend_buyer_level: margfaldað með {weight}, þar sem kaupandinn er takmarkaður "
	     "eða í banni."),
	RULE(ESC_RULE_RECOMMEND_OFFER_FLOOR, "recommend_offer_floor", "", "",
	     "A recommendation is never less than what the seller offered.",
	     "The recommendation is at least the seller's offer, {weight} of the amount asked.",
	     "recommend_offer_floor: at least the seller's offer, {weight} of the amount asked.",
	     "Ráðlegging er aldrei lægri en það sem seljandinn bauð.",
	     "Ráðleggingin er að minnsta kosti tilboð seljandans, {weight} af upphæðinni sem "
	     "beðið var um.",
	     "recommend_offer_floor: að minnsta kosti tilboð seljandans, {weight} af "
	     "upphæðinni sem beðið var um."),
};

const struct esc_rule_info *esc_rule(enum esc_rule r)
{
	return r >= 0 && r < ESC_RULE_COUNT ? &rules[r] : NULL;
}

int esc_rule_parse(const char *id)
{
	for (int i = 0; i < ESC_RULE_COUNT; i++)
		if (!strcmp(rules[i].id, id))
			return i;
	return -1;
}

static const char *const lang_names[ESC_LANG_COUNT] = {"en", "is"};

int esc_lang_parse(const char *name)
{
	for (int i = 0; i < ESC_LANG_COUNT; i++)
		if (!strcmp(lang_names[i], name))
			return i;
	return -1;
}

const char *esc_lang_name(enum esc_lang lang)
{
	return lang_names[lang];
}

int esc_deadline_rule(const struct esc_order *o, enum esc_deadline_kind k)
{
	switch (k) {
	case ESC_DL_PAYMENT:
		return ESC_RULE_PAYMENT_WINDOW;
	case ESC_DL_SHIP:
		return ESC_RULE_SHIP_WINDOW;
	case ESC_DL_RESPONSE:
		/* Cut short by the ship deadline (effect_request in order.c). */
		return o->due_ms[ESC_DL_RESPONSE] &&
				       o->due_ms[ESC_DL_RESPONSE] == o->due_ms[ESC_DL_SHIP]
			       ? ESC_RULE_SHIP_WINDOW
			       : ESC_RULE_RESPONSE_WINDOW;
	case ESC_DL_PROTECTION:
		return ESC_RULE_PROTECTION_EXTRA;
	case ESC_DL_CONFIRM:
		return ESC_RULE_CONFIRM_WINDOW;
	case ESC_DL_REFUND:
		return ESC_RULE_REFUND_ALERT;
	case ESC_DL_DISPUTE:
		switch (o->dispute_state) {
		case ESC_DS_AWAITING_SELLER:
			return ESC_RULE_DISPUTE_SELLER_WINDOW;
		case ESC_DS_COUNTER_OFFERED:
			return ESC_RULE_DISPUTE_BUYER_WINDOW;
		case ESC_DS_REJECTED:
			return ESC_RULE_DISPUTE_ESCALATE_WINDOW;
		case ESC_DS_AWAITING_RETURN:
			return o->return_shipped_at_ms ? ESC_RULE_RETURN_RECEIVE_WINDOW
						       : ESC_RULE_RETURN_SHIP_WINDOW;
		default:
			return -1;
		}
	case ESC_DL_COUNT:
		break;
	}
	return -1;
}

/* English: 1 alone takes the singular; Icelandic: 1, 21, 31 ..., not 11. */
static bool singular(int64_t n, enum esc_lang lang)
{
	return lang == ESC_LANG_IS ? n % 10 == 1 && n % 100 != 11 : n == 1;
}

/* {name:one|many}: the value, a space and the noun in the number the
 * value takes in lang, into word; "1 cancellation", "2 cancellations". A
 * value that is not a whole number takes the plural. */
static void counted(const char *value, const char *forms, const char *close, enum esc_lang lang,
		    char *word, size_t size)
{
	const char *bar = memchr(forms, '|', (size_t)(close - forms));
	const char *one = forms, *many = bar ? bar + 1 : forms;
	size_t one_len = (size_t)((bar ? bar : close) - one), many_len = (size_t)(close - many);
	char *end = NULL;
	long long n = strtoll(value, &end, 10);
	bool one_of = *value && end && !*end && singular(n, lang);
	snprintf(word, size, "%s %.*s", value, (int)(one_of ? one_len : many_len),
		 one_of ? one : many);
}

int esc_rule_render(const char *template, enum esc_lang lang, const struct esc_rule_var *vars,
		    size_t n, char *out, size_t size)
{
	size_t len = 0;
	int rc = 0;
	char word[160];
	if (!size)
		return ESC_EINVAL;
	for (const char *p = template; *p;) {
		const char *piece = p, *close = NULL;
		size_t piece_len = 1;
		if (*p == '{' && (close = strchr(p + 1, '}')) != NULL) {
			const char *colon = memchr(p + 1, ':', (size_t)(close - p - 1));
			const char *name_end = colon ? colon : close;
			for (size_t i = 0; i < n; i++) {
				size_t name_len = strlen(vars[i].name);
				if ((size_t)(name_end - p - 1) == name_len &&
				    !strncmp(p + 1, vars[i].name, name_len)) {
					piece = vars[i].value;
					if (colon) {
						counted(piece, colon + 1, close, lang, word,
							sizeof word);
						piece = word;
					}
					piece_len = strlen(piece);
					break;
				}
			}
			if (piece == p)
				piece_len = (size_t)(close - p) + 1; /* left as it is */
			p = close + 1;
		} else {
			p++;
		}
		if (len + piece_len >= size) {
			piece_len = size - 1 - len;
			rc = ESC_EINVAL;
		}
		memcpy(out + len, piece, piece_len);
		len += piece_len;
		if (rc)
			break;
	}
	out[len] = '\0';
	return rc;
}

void esc_rule_window(int64_t ms, enum esc_lang lang, char *out, size_t size)
{
	static const struct {
		int64_t ms;
		const char *one[ESC_LANG_COUNT], *many[ESC_LANG_COUNT];
	} units[] = {
		{ESC_MS_PER_DAY, {"day", "dags"}, {"days", "daga"}},
		{ESC_MS_PER_HOUR, {"hour", "klukkustundar"}, {"hours", "klukkustunda"}},
		{60000, {"minute", "mínútu"}, {"minutes", "mínútna"}},
		{1000, {"second", "sekúndu"}, {"seconds", "sekúndna"}},
		{1, {"millisecond", "millisekúndu"}, {"milliseconds", "millisekúndna"}},
	};
	size_t u = 0;
	/* Days only past 72 hours (a 72 h window is said in hours, as SPEC
	 * says it); otherwise the largest unit that divides it. */
	if (!(ms > 72 * ESC_MS_PER_HOUR && ms % ESC_MS_PER_DAY == 0))
		u = 1;
	while (u < sizeof units / sizeof units[0] - 1 && (ms < units[u].ms || ms % units[u].ms))
		u++;
	int64_t n = ms / units[u].ms;
	snprintf(out, size, "%lld %s", (long long)n,
		 singular(n, lang) ? units[u].one[lang] : units[u].many[lang]);
}

int64_t esc_rule_window_ms(const struct esc_policy *p, enum esc_rule r)
{
	switch (r) {
	case ESC_RULE_PAYMENT_WINDOW:
		return p->payment_window_ms;
	case ESC_RULE_SHIP_WINDOW:
		return p->ship_window_ms;
	case ESC_RULE_RESPONSE_WINDOW:
		return p->response_window_ms;
	case ESC_RULE_PROTECTION_EXTRA:
		return p->protection_extra_ms;
	case ESC_RULE_CONFIRM_WINDOW:
		return p->confirm_window_ms;
	case ESC_RULE_DISPUTE_SELLER_WINDOW:
		return p->dispute_seller_window_ms;
	case ESC_RULE_DISPUTE_BUYER_WINDOW:
	case ESC_RULE_DISPUTE_ESCALATE_WINDOW:
		return p->dispute_buyer_window_ms;
	case ESC_RULE_RETURN_SHIP_WINDOW:
		return p->return_ship_window_ms;
	case ESC_RULE_RETURN_RECEIVE_WINDOW:
		return p->return_receive_window_ms;
	case ESC_RULE_DISPUTE_AFTER_COMPLETION:
		return p->dispute_after_completion_ms;
	case ESC_RULE_REFUND_ALERT:
		return p->refund_alert_ms;
	case ESC_RULE_WATCH_CANCELLATIONS:
	case ESC_RULE_RESTRICTED_CANCELLATIONS:
		return p->buyer_short_window_ms;
	case ESC_RULE_RESTRICTED_RATE:
	case ESC_RULE_SUSPENDED_CANCELLATIONS:
	case ESC_RULE_SUSPENDED_LOST_DISPUTES:
		return p->buyer_long_window_ms;
	case ESC_RULE_SELLER_SCORE:
		return p->seller_window_ms;
	case ESC_RULE_FEE:
	case ESC_RULE_CANCEL_REQUESTS_MAX:
	case ESC_RULE_TRACKING_CHECK:
	case ESC_RULE_RECOMMEND_DELIVERY:
	case ESC_RULE_RECOMMEND_EVIDENCE:
	case ESC_RULE_RECOMMEND_SELLER_SCORE:
	case ESC_RULE_RECOMMEND_BUYER_LEVEL:
	case ESC_RULE_RECOMMEND_OFFER_FLOOR:
	case ESC_RULE_COUNT:
		break;
	}
	return 0;
}

void esc_rule_percent(int64_t basis_points, enum esc_lang lang, char *out, size_t size)
{
	if (basis_points % 100)
		snprintf(out, size, lang == ESC_LANG_IS ? "%lld,%02d %%" : "%lld.%02d%%",
			 (long long)(basis_points / 100), (int)(basis_points % 100));
	else
		snprintf(out, size, lang == ESC_LANG_IS ? "%lld %%" : "%lld%%",
			 (long long)(basis_points / 100));
}

int esc_rule_sentence(enum esc_rule r, int which, enum esc_lang lang,
		      const struct esc_rule_var *vars, size_t n, char *out, size_t size)
{
	if (r < 0 || r >= ESC_RULE_COUNT || which < 0 || which > 2 || lang < 0 ||
	    lang >= ESC_LANG_COUNT) {
		if (size)
			out[0] = '\0';
		return ESC_EINVAL;
	}
	const struct esc_rule_text *t = &rules[r].text[lang];
	return esc_rule_render(which == 0   ? t->says
			       : which == 1 ? t->passes
					    : t->passed,
			       lang, vars, n, out, size);
}

int esc_rule_says(const struct esc_policy *p, enum esc_rule r, enum esc_lang lang, char *out,
		  size_t size)
{
	char window[64] = "", threshold[32] = "", percent[32] = "", from[16] = "", to[16] = "",
	     min_paid[16] = "";
	int64_t w = esc_rule_window_ms(p, r);
	switch (r) {
	case ESC_RULE_REFUND_ALERT:
		snprintf(from, sizeof from, "%d", (int)p->settle_days_min[ESC_METHOD_CARD]);
		snprintf(to, sizeof to, "%d", (int)p->settle_days_max[ESC_METHOD_CARD]);
		break;
	case ESC_RULE_FEE:
		esc_rule_percent(p->fee_basis_points, lang, percent, sizeof percent);
		break;
	case ESC_RULE_RECOMMEND_SELLER_SCORE:
		snprintf(threshold, sizeof threshold, "%d", ESC_RECOMMEND_POOR_SCORE);
		break;
	case ESC_RULE_CANCEL_REQUESTS_MAX:
		snprintf(threshold, sizeof threshold, "%d", (int)p->cancel_requests_max);
		break;
	case ESC_RULE_WATCH_CANCELLATIONS:
		snprintf(threshold, sizeof threshold, "%d", (int)p->watch_cancellations);
		break;
	case ESC_RULE_RESTRICTED_CANCELLATIONS:
		snprintf(threshold, sizeof threshold, "%d", (int)p->restricted_cancellations);
		break;
	case ESC_RULE_RESTRICTED_RATE:
		snprintf(threshold, sizeof threshold, lang == ESC_LANG_IS ? "%d %%" : "%d%%",
			 (int)p->restricted_rate_percent);
		snprintf(min_paid, sizeof min_paid, "%d", (int)p->restricted_rate_min_paid);
		break;
	case ESC_RULE_SUSPENDED_CANCELLATIONS:
		snprintf(threshold, sizeof threshold, "%d", (int)p->suspended_cancellations);
		break;
	case ESC_RULE_SUSPENDED_LOST_DISPUTES:
		snprintf(threshold, sizeof threshold, "%d", (int)p->suspended_lost_disputes);
		break;
	case ESC_RULE_COUNT:
		return ESC_EINVAL;
	default:
		break;
	}
	if (w)
		esc_rule_window(w, lang, window, sizeof window);
	const struct esc_rule_var vars[] = {{"window", window},   {"threshold", threshold},
					    {"percent", percent}, {"from", from},
					    {"to", to},           {"min_paid", min_paid}};
	return esc_rule_render(rules[r].text[lang].says, lang, vars, sizeof vars / sizeof vars[0],
			       out, size);
}

void esc_explain_deadline(const struct esc_policy *p, const struct esc_order *o,
			  enum esc_deadline_kind k, int64_t due_ms, const struct esc_refund *refund,
			  const struct esc_effects *fx, struct esc_explanation *x)
{
	struct esc_effects foreseen;
	memset(x, 0, sizeof *x);
	x->method = -1;
	x->rule = esc_deadline_rule(o, k);
	x->policy_version = o->policy_version;
	if (x->rule < 0)
		return;
	x->window_ms = esc_rule_window_ms(p, (enum esc_rule)x->rule);
	x->due_ms = due_ms;
	x->since_ms = due_ms - x->window_ms;
	snprintf(x->currency, sizeof x->currency, "%s", o->currency);
	if (!fx) {
		/* What the core decides when it passes: the same decision the
		 * system's event will take, on the order as it is now. */
		int ev = esc_event_of_deadline(k);
		struct esc_context ctx = {.policy = p, .now_ms = due_ms, .actor = ESC_ACTOR_SYSTEM};
		struct esc_args args = {.method = -1, .refund_to = -1};
		if (ev < 0 || esc_decide(&ctx, o, (enum esc_event)ev, &args, refund, &foreseen))
			return;
		fx = &foreseen;
	}
	if (fx->refund_new) {
		x->has_amount = true;
		x->amount_minor = fx->refund.amount_minor;
		x->method = (int)fx->refund.method;
		x->expected_from_ms =
			fx->refund.created_at_ms + fx->refund.settle_days_min * ESC_MS_PER_DAY;
		x->expected_to_ms =
			fx->refund.created_at_ms + fx->refund.settle_days_max * ESC_MS_PER_DAY;
		return;
	}
	if (k == ESC_DL_REFUND && refund) {
		x->has_amount = true;
		x->amount_minor = refund->amount_minor;
		x->method = (int)refund->method;
		return;
	}
	for (size_t i = 0; i < fx->transfers_count; i++) {
		if (!strcmp(fx->transfers[i].kind, "release")) {
			x->has_amount = true;
			x->amount_minor += fx->transfers[i].amount_minor;
		}
	}
	if (!x->has_amount && fx->order.dispute_agreed_minor > o->dispute_agreed_minor) {
		x->has_amount = true;
		x->amount_minor = fx->order.dispute_agreed_minor;
	}
}

void esc_rule_amount(int64_t minor, const char *currency, enum esc_lang lang, char *out,
		     size_t size)
{
	int digits = esc_currency_digits(currency);
	int64_t per = digits == 0 ? 1 : digits == 3 ? 1000 : 100;
	const char *sign = minor < 0 ? "-" : "";
	uint64_t abs = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
	if (!digits)
		snprintf(out, size, "%s%llu %s", sign, (unsigned long long)abs, currency);
	else
		snprintf(out, size, "%s%llu%c%0*llu %s", sign, (unsigned long long)(abs / per),
			 lang == ESC_LANG_IS ? ',' : '.', digits, (unsigned long long)(abs % per),
			 currency);
}

/* A day as the sentences say it: "2026-12-07". */
static void day_of(int64_t ms, char out[32])
{
	int64_t days = ms / ESC_MS_PER_DAY - (ms % ESC_MS_PER_DAY < 0);
	/* Civil from days (H. Hinnant's algorithm). */
	int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
	int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
	int64_t y = yoe + era * 400 + (m <= 2);
	snprintf(out, 32, "%04d-%02d-%02d", (int)(y % 100000), (int)(m % 100), (int)(d % 100));
}

/* {method}: where a refund goes. In English the method's name ("the
 * card"); in Icelandic its word with the preposition it takes, as the
 * interface says it (web/is.json): "á kortið", "í veskið", "á
 * inneignina". */
static const char *method_words(int method, enum esc_lang lang)
{
	static const char *const is[ESC_METHOD_COUNT] = {
		[ESC_METHOD_CARD] = "á kortið",
		[ESC_METHOD_WALLET] = "í veskið",
		[ESC_METHOD_BALANCE] = "á inneignina",
	};
	if (lang == ESC_LANG_IS && method >= 0 && method < ESC_METHOD_COUNT)
		return is[method];
	return esc_method_name((enum esc_method)method);
}

void esc_explain_dispute_cutoff(const struct esc_policy *p, const struct esc_order *o,
				struct esc_explanation *x)
{
	memset(x, 0, sizeof *x);
	x->method = -1;
	x->rule = -1;
	if (o->state != ESC_ST_COMPLETED)
		return;
	x->rule = ESC_RULE_DISPUTE_AFTER_COMPLETION;
	x->policy_version = o->policy_version;
	x->window_ms = p->dispute_after_completion_ms;
	x->since_ms = o->ended_at_ms;
	x->due_ms = esc_order_dispute_until(p, o);
	snprintf(x->currency, sizeof x->currency, "%s", o->currency);
}

int esc_explanation_render(const struct esc_explanation *x, bool passed, enum esc_lang lang,
			   char *out, size_t size)
{
	char window[64] = "", amount[48] = "", from[32] = "", to[32] = "";
	const char *method = "";
	if (!size)
		return ESC_EINVAL;
	out[0] = '\0';
	if (x->rule < 0 || x->rule >= ESC_RULE_COUNT)
		return ESC_EINVAL;
	esc_rule_window(x->window_ms, lang, window, sizeof window);
	if (x->has_amount)
		esc_rule_amount(x->amount_minor, x->currency, lang, amount, sizeof amount);
	if (x->method >= 0)
		method = method_words(x->method, lang);
	if (x->expected_from_ms) {
		day_of(x->expected_from_ms, from);
		day_of(x->expected_to_ms, to);
	}
	const struct esc_rule_var vars[] = {{"window", window},
					    {"amount", amount},
					    {"method", method},
					    {"from", from},
					    {"to", to}};
	const struct esc_rule_text *t = &rules[x->rule].text[lang];
	return esc_rule_render(passed ? t->passed : t->passes, lang, vars,
			       sizeof vars / sizeof vars[0], out, size);
}
