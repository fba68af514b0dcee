/* One order's page. */

import {S} from './state.js';
import {h, page} from './dom.js';
import {t, money, when, titleOf} from './text.js';
import {api, reasons} from './api.js';
import {statusLines} from './order-status.js';
import {ACTIONS, actionLabel, runAction, loadLevel, party} from './orders.js';

export async function viewOrder(id) {
	const o = await api('GET', '/v1/orders/' + encodeURIComponent(id));
	await reasons();
	if (S.me.role === 'buyer')
		await loadLevel();
	const mine = ACTIONS[S.me.role] || {};
	const acts = (o.actions || []).filter((a) => mine[a.name]);
	const facts = h('dl', {class: 'facts'},
		h('dt', {text: t('order.state')}), h('dd', {text: t('state.' + o.status)}),
		party(o) ? [h('dt', {text: t(S.me.role === 'seller' ? 'order.buyer' : 'order.seller')}),
			h('dd', {text: S.me.role === 'seller' ? o.buyer_name : o.seller_name})] : null,
		h('dt', {text: t('order.total')}), h('dd', {text: money(o.total, o.currency)}),
		h('dt', {text: t('order.created')}), h('dd', {text: when(o.created_at)}),
		o.shipment ? [h('dt', {text: t('order.shipment')}),
			h('dd', {text: o.shipment.carrier + ' ' + o.shipment.tracking_number})] : null,
		o.promised_delivery_at ? [h('dt', {text: t('order.promised')}),
			h('dd', {text: when(o.promised_delivery_at)})] : null);
	const items = h('ul', {}, (o.items || []).map((i) =>
		h('li', {text: i.quantity + ' × ' + i.title + ' · ' + money(i.unit_price, o.currency)})));
	const buttons = h('div', {class: 'actions'}, acts.map((a) => h('button', {
		type: 'button', class: a.name === 'cancel' ? 'primary' : null,
		onclick: () => runAction(o, a.name),
		text: a.name === 'cancel' ? t('action.cancel_order') : actionLabel(o, a.name),
	})));
	page(titleOf(o), facts, items, statusLines(o), buttons);
}
