/* What a card or an order's page says about the order now: the open
 * request, the refunds and when they arrive, each in the words of the
 * party reading it, and why a button is gone. */

import {S} from './state.js';
import {h} from './dom.js';
import {t, money, day, countdown, hasAction, reasonLabel} from './text.js';

const DAY_MS = 86400000;

/* Whose words: the buyer's, the seller's, or a third party's. */
function party() {
	const role = S.me && S.me.role;
	return role === 'buyer' || role === 'seller' ? role : 'other';
}

/* When a pending refund should arrive: its creation plus the payment
 * method's settle days (SPEC §4). */
function refundDue(r) {
	const key = 'refund.due_' + (r.expected_days.min === r.expected_days.max ? 'day' : 'range') + '.' + r.method;
	if (!Object.prototype.hasOwnProperty.call(S.T, key))
		return null;
	const from = Date.parse(r.created_at);
	return t(key, {
		date: day(from + r.expected_days.max * DAY_MS),
		from: day(from + r.expected_days.min * DAY_MS),
		to: day(from + r.expected_days.max * DAY_MS),
	});
}

function refundLine(o, r) {
	const amount = money(r.amount, o.currency);
	const who = party();
	const key = who === 'buyer'
		? (r.status === 'settled' ? 'refund.settled.' + r.method : 'refund.' + r.status)
		: 'refund.' + who + '.' + r.status;
	const line = h('p', {class: r.status === 'failed' ? 'note warn' : 'note'}, t(key, {amount}));
	if (who === 'buyer' && r.status === 'pending') {
		const due = r.method === 'balance' ? t('refund.expected.balance') : refundDue(r);
		if (due)
			line.append(' ', due);
	}
	return line;
}

/* What a card or the order's page says about the order now. */
export function statusLines(o) {
	const lines = [];
	const buyer = S.me.role === 'buyer';
	const c = o.cancellation;
	if (c && c.open) {
		const due = o.deadlines.response;
		lines.push(h('p', {class: 'note'},
			buyer ? t('cancel.waiting') : t('cancel.asked', {reason: reasonLabel(c.reason)}),
			' ', due ? countdown(due) : null));
		if (!buyer && c.comment)
			lines.push(h('p', {}, t('cancel.comment') + ' ', h('q', {text: c.comment})));
	} else if (c && c.rejection_message && o.status === 'awaiting_shipment') {
		lines.push(h('p', {class: 'note'}, t(buyer ? 'cancel.rejected' : 'cancel.you_rejected') + ' ',
			h('q', {text: c.rejection_message})));
	}
	for (const r of o.refunds || [])
		lines.push(refundLine(o, r));
	if (buyer && ['shipped', 'delivered'].includes(o.status))
		lines.push(h('p', {class: 'note'}, t('order.shipped_no_cancel')));
	if (buyer && o.status === 'awaiting_shipment' && !hasAction(o, 'cancel') && o.cancellation &&
	    o.cancellation.requests_made >= o.cancellation.requests_allowed)
		lines.push(h('p', {class: 'note warn'}, t('cancel.limit')));
	if (buyer && S.level === 'suspended' && o.status === 'awaiting_shipment' && !hasAction(o, 'cancel'))
		lines.push(h('p', {class: 'note warn'}, t('cancel.suspended')));
	if (o.dispute)
		lines.push(h('p', {class: 'note'}, t('dispute.state.' + o.dispute.status), ' ',
			h('a', {href: '#/dispute/' + o.dispute.id, text: t('dispute.open_page')})));
	return lines;
}
