/* The orders: the tabs and the cards (profile.js has the profile, order.js
 * one order's page). */

import {S} from './state.js';
import {h, $, toast, page} from './dom.js';
import {t, money, titleOf, repWhy} from './text.js';
import {api, ApiError, problem, reasons, loadMe} from './api.js';
import {PAGE, searchOf, hashOf, apiParams, searchForm, refocusFind, loadMore} from './find.js';
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
		if (e instanceof ApiError && e.status === 409)
			route();
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

function closeMenu(menu, more) {
	menu.hidden = true;
	more.setAttribute('aria-expanded', 'false');
}

/* A click outside an open "More" menu (and its button) closes it. */
document.addEventListener('click', (ev) => {
	for (const more of document.querySelectorAll('li.card button[aria-expanded="true"][aria-controls]')) {
		const menu = document.getElementById(more.getAttribute('aria-controls'));
		if (menu && !menu.contains(ev.target) && !more.contains(ev.target))
			closeMenu(menu, more);
	}
});

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
		/* Escape closes the menu, back on its button. */
		const escape = (ev) => {
			if (ev.key === 'Escape' && !menu.hidden) {
				ev.preventDefault();
				closeMenu(menu, more);
				more.focus();
			}
		};
		more.addEventListener('keydown', escape);
		menu.addEventListener('keydown', escape);
		li.append(h('div', {class: 'actions'}, more), menu);
	}
	return li;
}

/* The API's status filter for a tab: its states, separated by commas. */
export function tabStatus(tab) {
	return tab.states ? tab.states.join(',') : '';
}

/* A tab's count, from /v1/me's order_counts (every order, whatever the
 * search); '' while the API does not say. */
function tabCount(id) {
	const counts = S.me && S.me.order_counts;
	return counts && typeof counts[id] === 'number' ? '(' + counts[id] + ')' : '';
}

/* A seller's open cancellation requests, soonest deadline first. */
async function waitingRequests() {
	const r = await api('GET', '/v1/orders?status=cancellation_requested&limit=100');
	return r.data.filter((o) => o.cancellation && o.cancellation.open)
		.sort((a, b) => Date.parse(a.deadlines.response) - Date.parse(b.deadlines.response));
}

export async function viewOrders(query) {
	const tabId = query.get('tab') || 'all';
	const tab = TABS.find((x) => x.id === tabId) || TABS[0];
	const search = searchOf(query);
	const params = apiParams(search);
	params.set('limit', String(PAGE));
	if (tab.states)
		params.set('status', tabStatus(tab));
	const path = '/v1/orders?' + params.toString();
	await loadMe(); /* the tabs' counts, now */
	const [first] = await Promise.all([api('GET', path), reasons(),
		S.me.role === 'buyer' ? loadLevel() : null]);
	const tabs = h('div', {class: 'tabs', role: 'tablist', 'aria-label': t('orders.tabs')},
		TABS.map((x) => h('button', {
			type: 'button', role: 'tab', id: 'tab-' + x.id, 'aria-selected': String(x === tab),
			'aria-controls': 'tabpanel', tabindex: x === tab ? '0' : '-1',
			onclick: () => { location.hash = hashOf('orders', x.id, search); },
			onkeydown: (ev) => {
				/* Arrow keys move between the tabs (WAI-ARIA tabs). */
				const i = TABS.indexOf(x), step = ev.key === 'ArrowRight' ? 1 : ev.key === 'ArrowLeft' ? -1 : 0;
				if (step) {
					const next = TABS[(i + step + TABS.length) % TABS.length];
					S.focusTab = true;
					location.hash = hashOf('orders', next.id, search);
				}
			},
		}, t('tab.' + x.id), h('span', {class: 'count', text: tabCount(x.id)}))));
	const parts = [];
	let above = 0, waitingIds = new Set();
	if (S.me.role === 'seller') {
		/* A seller's waiting requests are listed once, at the top, soonest
		 * first; the tab below says they are there. */
		const waiting = await waitingRequests();
		waitingIds = new Set(waiting.map((o) => o.id));
		parts.push(h('section', {'aria-labelledby': 'waiting-h'},
			h('h2', {id: 'waiting-h', text: t('seller.waiting', {n: waiting.length})}),
			waiting.length ? h('ul', {class: 'cards', id: 'waiting'}, waiting.map(card))
				: h('p', {text: t('seller.none_waiting')})));
		if (!Object.keys(search).length)
			above = waiting.filter((o) => inTab(tab, o)).length;
	}
	const skip = (o) => waitingIds.has(o.id);
	const shown = first.data.filter((o) => !skip(o));
	const found = Object.keys(search).length > 0;
	const ul = h('ul', {class: 'cards', id: 'orders', tabindex: '-1', 'aria-label': t('find.results')},
		shown.map(card));
	parts.push(searchForm('orders', tab.id, search), tabs,
		h('div', {role: 'tabpanel', id: 'tabpanel', 'aria-labelledby': 'tab-' + tab.id},
			above ? h('p', {class: 'note', id: 'waiting-above', text: t('seller.waiting_above', {n: above})}) : null,
			shown.length || first.has_more ? ul
				: above ? null : h('p', {id: 'orders-none', text: t(found ? 'find.none' : 'orders.none')}),
			loadMore(ul, path, first, card, skip)));
	page(S.me.role === 'seller' ? t('orders.title_seller') : t('orders.title'), parts);
	if (S.focusTab) {
		S.focusTab = false;
		$('tab-' + tab.id).focus();
	}
	refocusFind();
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
