/* #/notifications: what happened on the caller's orders while they were
 * away, newest first, in the API's sentences (in the interface's
 * language), the unread ones marked; Load more follows the cursor. What
 * was shown is marked read (POST /v1/notifications/read through the
 * newest), and the counts in the bar are read again. */

import {S} from './state.js';
import {h, page} from './dom.js';
import {t, when} from './text.js';
import {api} from './api.js';
import {refreshCounts} from './messages.js';
import {pages} from './find.js';

function item(n) {
	return h('li', {class: 'card notification' + (n.read ? '' : ' unread')},
		h('p', {},
			n.read ? null : h('span', {class: 'new-mark', text: t('ntf.new')}),
			h('span', {class: 'sentence', text: n.sentence})),
		h('p', {class: 'muted'},
			h('time', {datetime: n.at, text: when(n.at)}), ' · ',
			h('a', {href: '#/order/' + encodeURIComponent(n.order_id), text: t('ntf.open_order')})));
}

export async function viewNotifications() {
	const list = h('ul', {class: 'cards notifications', id: 'notifications'});
	const more = h('button', {type: 'button', id: 'ntf-more', text: t('ntf.more'), hidden: true});
	const notifications = pages('/v1/notifications?limit=20', {headers: {'Accept-Language': S.lang}});
	async function load() {
		const first = notifications.after === '';
		const r = await notifications.next();
		for (const n of r.data)
			list.append(item(n));
		more.hidden = !r.has_more;
		if (!list.children.length)
			list.append(h('li', {class: 'empty', text: t('ntf.none')}));
		/* The newest shown is the first page's first: through it, every
		 * one shown is read. */
		if (first && r.data.length && r.data.some((n) => !n.read)) {
			await api('POST', '/v1/notifications/read', {through: r.data[0].id});
			await refreshCounts();
		}
	}
	more.addEventListener('click', async () => {
		more.disabled = true;
		try {
			await load();
		} finally {
			more.disabled = false;
		}
	});
	await load();
	page(t('ntf.title'), list, more);
}
