/* The profile: the caller's standing, and on narrow screens the way in to
 * the order tabs. */

import {S} from './state.js';
import {h, page} from './dom.js';
import {t, when, repWhy} from './text.js';
import {api, allOrders} from './api.js';
import {TABS, inTab} from './orders.js';

/* The narrow screens' way in: the order tabs as a list. */
export async function viewProfile() {
	const list = await allOrders();
	const rep = await api('GET', '/v1/users/' + encodeURIComponent(S.me.id) + '/reputation');
	const standing = rep.role === 'buyer'
		? t('profile.level', {level: t('level.' + rep.level)})
		: t('profile.score', {score: rep.score});
	page(t('profile.title'),
		h('p', {text: S.me.name + ' · ' + S.me.email}),
		h('section', {'aria-labelledby': 'rep-h'},
			h('h2', {id: 'rep-h', text: standing}),
			h('p', {id: 'rep-why', text: repWhy(rep)}),
			h('h3', {text: t('profile.events')}),
			(rep.events || []).length
				? h('ul', {id: 'rep-events'}, rep.events.slice(0, 20).map((e) =>
					h('li', {text: when(e.at) + ' · ' + t('mark.' + e.event)})))
				: h('p', {text: t('profile.no_events')})),
		h('ul', {class: 'cards'}, TABS.slice(1).map((x) => h('li', {},
			h('a', {class: 'button', href: '#/orders?tab=' + x.id},
				t('tab.' + x.id), h('span', {class: 'count', text: '(' + list.filter((o) => inTab(x, o)).length + ')'}))))));
}
