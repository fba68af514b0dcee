/* The orders: the tabs and the cards (profile.js has the profile, order.js
 * one order's page). */

import {S} from './state.js';
import {h, $, toast, page} from './dom.js';
import {t, money, titleOf, repWhy} from './text.js';
import {api, problem, reasons, allOrders} from './api.js';
import {dialog, rejectDialog, shipDialog} from './dialogs.js';
import {cancelDialog} from './cancel.js';
import {statusLines} from './order-status.js';
import {disputeDialog} from './dispute-open.js';
import {route} from './router.js';

export const TABS = [
	{id: 'all', states: null},
	{id: 'awaiting_payment', states: ['awaiting_payment']},
	{id: 'awaiting_shipment', states: ['awaiting_shipment', 'cancellation_requested']},
	{id: 'shipped', states: ['shipped', 'delivered']},
	{id: 'disputes', states: ['in_dispute']},
	{id: 'completed', states: ['completed']},
	{id: 'cancelled', states: ['cancelled', 'closed']},
];

export function inTab(tab, o) {
	return !tab.states || tab.states.includes(o.status);
}

/* The labels of the order's actions this interface carries out. */
export const ACTIONS = {
	buyer: {
		'cancel': 'action.cancel',
		'cancellation/withdraw': 'action.withdraw',
		'confirm-receipt': 'action.confirm',
		'disputes': 'action.dispute',
	},
	seller: {
		'cancellation/accept': 'action.accept',
		'cancellation/reject': 'action.reject',
		'ship': 'action.ship',
	},
};

/* An action's label on this order: an unpaid order is cancelled at once,
 * a paid one asks the seller. */
export function actionLabel(o, name) {
	if (name === 'cancel')
		return t(o.status === 'awaiting_payment' ? 'action.cancel_order' : 'action.cancel');
	return t((ACTIONS[S.me.role] || {})[name]);
}

export function runAction(o, name) {
	switch (name) {
	case 'cancel':
		return cancelDialog(o);
	case 'cancellation/accept':
	case 'confirm-receipt':
		return moneyDialog(o, name);
	case 'cancellation/reject':
		return rejectDialog(o);
	case 'ship':
		return shipDialog(o);
	case 'disputes':
		return disputeDialog(o);
	default:
		return simple(o, name);
	}
}

/* Accepting a cancellation refunds the buyer, confirming receipt pays the
 * seller: both are final, so each asks once, naming the order and the
 * amount. */
function moneyDialog(o, name) {
	const held = o.paid - o.refunded - o.released;
	const key = name === 'confirm-receipt' ? 'confirm' : 'accept';
	const vars = {title: titleOf(o), id: o.id, amount: money(held, o.currency)};
	dialog(t('sure.' + key + '.title'), [
		h('p', {id: 'sure-text', text: t('sure.' + key + '.text', vars)}),
		h('p', {class: 'note', text: t('sure.final')}),
	], t('sure.' + key + '.ok'), async () => {
		await api('POST', '/v1/orders/' + encodeURIComponent(o.id) + '/' + name, {});
		toast(t('done.' + name));
	});
}

/* An action without a dialog; pressed again while it runs, nothing. */
const running = new Set();

export async function simple(o, name) {
	const what = o.id + ' ' + name;
	if (running.has(what))
		return;
	running.add(what);
	try {
		await api('POST', '/v1/orders/' + encodeURIComponent(o.id) + '/' + name, {});
		toast(t('done.' + name));
		route();
	} catch (e) {
		toast(problem(e));
	} finally {
		running.delete(what);
	}
}

/* Who is on the other side of the order, for the card and the page. */
export function party(o) {
	if (S.me.role === 'seller' && o.buyer_name)
		return t('order.buyer_is', {name: o.buyer_name});
	if (S.me.role !== 'seller' && o.seller_name)
		return t('order.seller_is', {name: o.seller_name});
	return null;
}

export function card(o) {
	const mine = ACTIONS[S.me.role] || {};
	const acts = (o.actions || []).filter((a) => mine[a.name]);
	const li = h('li', {class: 'card', 'data-order': o.id},
		h('div', {class: 'head'},
			h('a', {class: 'title', href: '#/order/' + o.id, text: titleOf(o)}),
			h('span', {class: 'state', text: t('state.' + o.status)})),
		h('p', {}, money(o.total, o.currency),
			party(o) ? [' · ', h('span', {class: 'party', text: party(o)})] : null),
		statusLines(o));
	if (acts.length) {
		const menuId = 'menu-' + o.id;
		const menu = h('ul', {class: 'menu', id: menuId, hidden: true},
			acts.map((a) => h('li', {}, h('button', {type: 'button', onclick: () => {
				menu.hidden = true;
				more.setAttribute('aria-expanded', 'false');
				more.focus(); /* the item is hidden: a dialog returns here */
				runAction(o, a.name);
			}, text: actionLabel(o, a.name)}))));
		const more = h('button', {type: 'button', 'aria-expanded': 'false', 'aria-controls': menuId,
			onclick: () => {
				menu.hidden = !menu.hidden;
				more.setAttribute('aria-expanded', String(!menu.hidden));
			}, text: t('action.more')});
		li.append(h('div', {class: 'actions'}, more), menu);
	}
	return li;
}

export async function viewOrders(query) {
	const list = await allOrders();
	const tabId = query.get('tab') || 'all';
	const tab = TABS.find((x) => x.id === tabId) || TABS[0];
	await reasons();
	if (S.me.role === 'buyer')
		await loadLevel();
	const tabs = h('div', {class: 'tabs', role: 'tablist', 'aria-label': t('orders.tabs')},
		TABS.map((x) => h('button', {
			type: 'button', role: 'tab', id: 'tab-' + x.id, 'aria-selected': String(x === tab),
			'aria-controls': 'tabpanel', tabindex: x === tab ? '0' : '-1',
			onclick: () => { location.hash = '#/orders?tab=' + x.id; },
			onkeydown: (ev) => {
				/* Arrow keys move between the tabs (WAI-ARIA tabs). */
				const i = TABS.indexOf(x), step = ev.key === 'ArrowRight' ? 1 : ev.key === 'ArrowLeft' ? -1 : 0;
				if (step) {
					const next = TABS[(i + step + TABS.length) % TABS.length];
					S.focusTab = true;
					location.hash = '#/orders?tab=' + next.id;
				}
			},
		}, t('tab.' + x.id), h('span', {class: 'count', text: '(' + list.filter((o) => inTab(x, o)).length + ')'}))));
	let shown = list.filter((o) => inTab(tab, o));
	const parts = [];
	let above = 0;
	if (S.me.role === 'seller') {
		/* A seller's waiting requests are listed once, at the top, soonest
		 * first; the tab below says they are there. */
		const waiting = list.filter((o) => o.cancellation && o.cancellation.open)
			.sort((a, b) => Date.parse(a.deadlines.response) - Date.parse(b.deadlines.response));
		parts.push(h('section', {'aria-labelledby': 'waiting-h'},
			h('h2', {id: 'waiting-h', text: t('seller.waiting', {n: waiting.length})}),
			waiting.length ? h('ul', {class: 'cards', id: 'waiting'}, waiting.map(card))
				: h('p', {text: t('seller.none_waiting')})));
		above = shown.filter((o) => waiting.includes(o)).length;
		shown = shown.filter((o) => !waiting.includes(o));
	}
	parts.push(tabs, h('div', {role: 'tabpanel', id: 'tabpanel', 'aria-labelledby': 'tab-' + tab.id},
		above ? h('p', {class: 'note', id: 'waiting-above', text: t('seller.waiting_above', {n: above})}) : null,
		shown.length ? h('ul', {class: 'cards', id: 'orders'}, shown.map(card))
			: above ? null : h('p', {text: t('orders.none')})));
	page(S.me.role === 'seller' ? t('orders.title_seller') : t('orders.title'), parts);
	if (S.focusTab) {
		S.focusTab = false;
		$('tab-' + tab.id).focus();
	}
}

export async function loadLevel() {
	try {
		const r = await api('GET', '/v1/users/' + encodeURIComponent(S.me.id) + '/reputation');
		S.level = r.level;
		S.levelWhy = repWhy(r);
	} catch (e) {
		S.level = null;
	}
}
