/* One order's page (issue 17 item 2): the whole story. Its number (to
 * copy), the other party, the items with their pictures, how it was
 * paid, the shipment with a link to the carrier's page, the promised
 * date, the cancellation's reason and where its refund goes, each
 * refund's tracker, and the history in sentences (timeline.js). */

import {S} from './state.js';
import {h, page, toast} from './dom.js';
import {t, money, when, day, titleOf, reasonLabel} from './text.js';
import {api, reasons} from './api.js';
import {statusLines, refundTracker, refundDestination} from './order-status.js';
import {ACTIONS, actionLabel, runAction, loadLevel, party} from './orders.js';
import {timeline} from './timeline.js';
import {conversation} from './messages.js';

/* The order's number, selectable as text, and a button that copies it. */
function orderNumber(o) {
	const copy = h('button', {type: 'button', class: 'copy', text: t('order.copy'),
		'aria-label': t('order.copy_label', {id: o.id}),
		onclick: async () => {
			try {
				await navigator.clipboard.writeText(o.id);
				toast(t('order.copied'));
			} catch (e) {
				toast(t('order.copy_failed'));
			}
		}});
	return h('p', {class: 'order-number'}, t('order.number') + ' ',
		h('code', {class: 'order-id', text: o.id}), ' ', copy);
}

function fact(key, ...value) {
	return [h('dt', {text: t(key)}), h('dd', {}, ...value)];
}

export function shipment(o) {
	const s = o.shipment;
	if (!s)
		return null;
	const number = s.tracking_url
		? h('a', {href: s.tracking_url, target: '_blank', rel: 'noopener noreferrer',
			class: 'tracking-link', text: s.tracking_number,
			'aria-label': t('order.track_label', {carrier: s.carrier, number: s.tracking_number})})
		: h('span', {class: 'tracking-number', text: s.tracking_number});
	/* A number taken though it failed its carrier's check (tracking_check
	 * = flag): said, for the buyer and the arbiter. */
	const flagged = (s.tracking_check || '').startsWith('invalid');
	return fact('order.shipment', h('span', {class: 'carrier', text: s.carrier}), ' ', number,
		o.shipped_at ? [' · ', h('time', {datetime: o.shipped_at, text: day(o.shipped_at)})] : null,
		flagged ? [' ', h('span', {class: 'tracking-flag warn', text: t('order.tracking_flagged')})] : null);
}

/* The goods on their way back (a return_and_refund). */
export function returnShipment(r) {
	if (!r)
		return null;
	return fact('dispute.return', h('span', {class: 'carrier', text: r.carrier}), ' ',
		h('span', {class: 'tracking-number', text: r.tracking_number}),
		r.shipped_at ? [' · ', t('dispute.return_sent', {date: day(r.shipped_at)})] : null);
}

/* The cancellation asked for: its reason and where its refund goes,
 * while the request is open or once it cancelled the order. A request
 * rejected or withdrawn is past: the history tells it. */
function cancellation(o) {
	const c = o.cancellation;
	if (!c || !c.reason)
		return null;
	if (!c.open && !(['cancelled', 'closed'].includes(o.status) && !c.rejection_message))
		return null;
	const to = refundDestination(c.refund_to, o.payment_method);
	return [fact('order.cancel_reason', reasonLabel(c.reason)),
		c.comment ? fact('order.cancel_comment', h('q', {text: c.comment})) : null,
		fact('order.refund_to', to)];
}

function facts(o) {
	const seller = S.me.role === 'seller';
	return h('dl', {class: 'facts'},
		fact('order.state', t('state.' + o.status)),
		party(o) ? fact(seller ? 'order.buyer' : 'order.seller',
			seller ? o.buyer_name : o.seller_name) : null,
		fact('order.total', money(o.total, o.currency)),
		o.payment_method ? fact('order.payment_method', t('order.method.' + o.payment_method)) : null,
		fact('order.created', h('time', {datetime: o.created_at, text: when(o.created_at)})),
		o.paid_at ? fact('order.paid', h('time', {datetime: o.paid_at, text: when(o.paid_at)})) : null,
		shipment(o),
		o.promised_delivery_at ? fact('order.promised',
			h('time', {datetime: o.promised_delivery_at, text: day(o.promised_delivery_at)})) : null,
		o.delivered_at ? fact('order.delivered',
			h('time', {datetime: o.delivered_at, text: day(o.delivered_at)})) : null,
		o.dispute ? returnShipment(o.dispute.return_shipment) : null,
		cancellation(o));
}

/* Each item: its picture when the marketplace gave one (the title
 * beside it says what it is), quantity, title, unit price and line total. */
function items(o) {
	return h('ul', {class: 'items'}, (o.items || []).map((i) => h('li', {class: 'item'},
		i.image_url ? h('img', {src: i.image_url, alt: '', width: 56, height: 56,
			loading: 'lazy', class: 'thumb'}) : h('span', {class: 'thumb none', 'aria-hidden': 'true'}),
		h('span', {class: 'item-title', text: i.quantity + ' × ' + i.title}),
		h('span', {class: 'item-price', text: i.quantity > 1
			? t('order.item_each', {price: money(i.unit_price, o.currency),
				total: money(i.unit_price * i.quantity, o.currency)})
			: money(i.unit_price, o.currency)}))));
}

export async function viewOrder(id) {
	const o = await api('GET', '/v1/orders/' + encodeURIComponent(id));
	await reasons();
	if (S.me.role === 'buyer')
		await loadLevel();
	const mine = ACTIONS[S.me.role] || {};
	const acts = (o.actions || []).filter((a) => mine[a.name]);
	const buttons = h('div', {class: 'actions'}, acts.map((a) => h('button', {
		type: 'button', class: a.name === 'cancel' ? 'primary' : null,
		onclick: () => runAction(o, a.name),
		text: a.name === 'cancel' ? t('action.cancel_order') : actionLabel(o, a.name),
	})));
	/* The trackers need the history (when the refund was asked for):
	 * drawn once the timeline has read it. */
	const trackers = h('div', {class: 'refund-trackers'});
	const story = timeline(o);
	story.addEventListener('history', (ev) => {
		trackers.replaceChildren(...(o.refunds || []).map((r) => refundTracker(o, r, ev.detail)));
	});
	trackers.replaceChildren(...(o.refunds || []).map((r) => refundTracker(o, r, null)));
	page(titleOf(o), orderNumber(o), facts(o), items(o), statusLines(o, true), trackers, buttons, story, conversation(o));
}
