/* What a card or an order's page says about the order now: the open
 * request, the refunds and when they arrive, and why a button is gone. */

import {S} from './state.js';
import {h} from './dom.js';
import {t, money, countdown, hasAction, reasonLabel} from './text.js';

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
	for (const r of o.refunds || []) {
		const line = h('p', {class: r.status === 'failed' ? 'note warn' : 'note'},
			t('refund.' + r.status, {amount: money(r.amount, o.currency)}));
		if (r.status === 'pending')
			line.append(' ', t('refund.expected.' + r.method, {min: r.expected_days.min, max: r.expected_days.max}));
		lines.push(line);
	}
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
