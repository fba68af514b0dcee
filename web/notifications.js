/* #/notifications: what happened on the caller's orders while they were
 * away, newest first, in the API's sentences (in the interface's
 * language), the unread ones marked; Load more follows the cursor. What
 * was shown is marked read (POST /v1/notifications/read through the
 * newest), and the counts in the bar are read again. */

import {S} from './state.js';
import {h, page} from './dom.js';
import {t, when, titleOf} from './text.js';
import {api, apiShared} from './api.js';
import {refreshCounts} from './messages.js';
import {pages} from './find.js';

/* The orders' titles, read once a session (an order's items do not
 * change), so that each notification names its order. */
const titles = new Map();

function titleFor(id) {
	if (!titles.has(id))
		titles.set(id, apiShared('/v1/orders/' + encodeURIComponent(id))
			.then((o) => titleOf(o), () => {
				titles.delete(id);
				return null;
			}));
	return titles.get(id);
}

/* A notification: its order (named by its number until its title is
 * read, then by its items), what happened, and when. */
function item(n) {
	const link = h('a', {href: '#/order/' + encodeURIComponent(n.order_id), class: 'ntf-order',
		text: t('ntf.order_id', {id: n.order_id})});
	titleFor(n.order_id).then((title) => {
		if (title)
			link.textContent = title;
	});
	return h('li', {class: 'card notification' + (n.read ? '' : ' unread'), 'data-order': n.order_id},
		h('p', {class: 'ntf-head'}, link),
		h('p', {},
			n.read ? null : [h('span', {class: 'new-mark', text: t('ntf.new')}), ' '],
			h('span', {class: 'sentence', text: n.sentence})),
		h('p', {class: 'muted'},
			h('time', {datetime: n.at, text: when(n.at)})));
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
