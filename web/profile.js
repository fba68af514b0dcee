/* The profile: first the order shortcuts with their counts (the phone's
 * way in to the order lists, as a marketplace's app has them), then the
 * standing, the other lists, and signing out. */

import {S} from './state.js';
import {h, page} from './dom.js';
import {t, when, repWhy, money} from './text.js';
import {api, loadMe} from './api.js';
import {TABS} from './orders.js';
import {signOut} from './frame.js';

/* The four lists a person looks at most, in the order their orders move. */
const SHORTCUTS = ['awaiting_payment', 'awaiting_shipment', 'shipped', 'disputes'];

function tabLink(cls, tab, n) {
	return h('a', {class: cls, href: '#/orders?tab=' + tab.id},
		h('span', {class: 'label', text: t('tab.' + tab.id)}),
		h('span', {class: 'count', text: String(n)}));
}

function standing(rep) {
	const title = rep.role === 'buyer'
		? t('profile.level', {level: t('level.' + rep.level)})
		: t('profile.score', {score: rep.score});
	return h('section', {'aria-labelledby': 'rep-h'},
		h('h2', {id: 'rep-h', text: title}),
		h('p', {id: 'rep-why', text: repWhy(rep)}),
		/* What the level does (SPEC §6: a restricted buyer is told). */
		rep.role === 'buyer' && ['restricted', 'suspended'].includes(rep.level)
			? h('p', {class: 'note warn', id: 'rep-effect', text: t('profile.effect.' + rep.level)}) : null,
		h('h3', {text: t('profile.events')}),
		(rep.events || []).length
			? h('ul', {id: 'rep-events'}, rep.events.slice(0, 20).map((e) =>
				h('li', {text: when(e.at) + ' · ' + t('mark.' + e.event)})))
			: h('p', {text: t('profile.no_events')}));
}

/* A buyer's store balance (refunds to it, less payments from it), or a
 * seller's payable one, per currency: none yet, nothing shown. */
function balances() {
	const list = (S.me.balances || []).filter((b) => b.amount !== 0);
	if (!list.length)
		return null;
	return h('p', {id: 'balances', text: t(S.me.role === 'seller' ? 'profile.balance_seller' : 'profile.balance_buyer',
		{amount: list.map((b) => money(b.amount, b.currency)).join(', ')})});
}

function account() {
	return h('section', {class: 'account', 'aria-labelledby': 'account-h'},
		h('h2', {id: 'account-h', text: t('phone.account')}),
		h('p', {text: S.me.name + ' · ' + S.me.email + ' · ' + t('role.' + S.me.role)}),
		balances(),
		h('div', {class: 'actions'},
			h('button', {type: 'button', id: 'profile-signout', onclick: signOut, text: t('nav.signout')})));
}

export async function viewProfile() {
	if (S.me.role === 'arbiter')
		return page(t('profile.title'), account());
	/* The counts from /v1/me's order_counts, now (issue 17 item 5). */
	const [, rep] = await Promise.all([loadMe(),
		api('GET', '/v1/users/' + encodeURIComponent(S.me.id) + '/reputation')]);
	const counts = S.me.order_counts || {};
	const count = (tab) => tab.id in counts ? counts[tab.id] : '';
	const tab = (id) => TABS.find((x) => x.id === id);
	page(t('profile.title'),
		h('nav', {class: 'shortcuts', 'aria-label': t('phone.shortcuts')},
			h('ul', {}, SHORTCUTS.map((id) => h('li', {}, tabLink('shortcut', tab(id), count(tab(id))))))),
		standing(rep),
		h('section', {'aria-labelledby': 'lists-h'},
			h('h2', {id: 'lists-h', text: t('phone.lists')}),
			h('ul', {class: 'cards lists'}, TABS.filter((x) => !SHORTCUTS.includes(x.id)).map((x) =>
				h('li', {}, tabLink('button', x, count(x)))))),
		account());
}
