/* Messages between an order's buyer and seller: the order's conversation
 * (on its page) and #/messages, the caller's conversations. A message the
 * other party wrote stays unread until it was shown here: then the page
 * says so to the API (POST /v1/orders/{id}/messages/read, with the newest
 * seq shown) and the counts in the bar are read again. */

import {S} from './state.js';
import {h, page} from './dom.js';
import {t, when} from './text.js';
import {api, problem, loadMe} from './api.js';
import {renderBar} from './frame.js';
import {pages} from './find.js';

const BODY_MAX = 1000;

/* Every message of the order, oldest first. */
async function allMessages(id) {
	let list = [], after = 0;
	for (let n = 0; n < 20; n++) {
		const r = await api('GET', '/v1/orders/' + encodeURIComponent(id) +
			'/messages?limit=100' + (after ? '&starting_after=' + after : ''));
		list = list.concat(r.data);
		if (!r.has_more || !r.data.length)
			break;
		after = r.data[r.data.length - 1].seq;
	}
	return list;
}

/* The bar's counts after something was read. */
export async function refreshCounts() {
	await loadMe();
	if (S.me)
		renderBar();
}

function messageItem(m, unread) {
	const mine = m.author_id === S.me.id;
	return h('li', {class: 'message' + (mine ? ' mine' : '') + (unread ? ' unread' : '')},
		h('p', {class: 'message-head'},
			h('strong', {text: mine ? t('msg.you') : t('msg.role.' + m.role)}),
			' · ', h('time', {datetime: m.at, text: when(m.at)}),
			unread ? h('span', {class: 'new-mark', text: t('msg.new')}) : null),
		h('p', {class: 'message-body', text: m.body}));
}

/* The order's conversation, for its buyer and its seller: the messages,
 * the other party's unread ones marked "New", and a form to write. */
export function conversation(o) {
	if (!S.me || (S.me.id !== o.buyer_id && S.me.id !== o.seller_id))
		return null;
	const list = h('ol', {class: 'messages', id: 'messages', 'aria-live': 'polite'});
	const error = h('p', {class: 'error', role: 'alert'});
	const body = h('textarea', {id: 'msg-body', name: 'body', rows: 3, maxlength: BODY_MAX, required: true});
	const send = h('button', {type: 'submit', class: 'primary', text: t('msg.send')});
	const form = h('form', {class: 'form message-form', onsubmit: async (ev) => {
		ev.preventDefault();
		error.textContent = '';
		const text = body.value.trim();
		if (!text)
			return;
		send.disabled = true;
		send.textContent = t('busy.working');
		try {
			const m = await api('POST', '/v1/orders/' + encodeURIComponent(o.id) + '/messages', {body: text});
			list.querySelector('.empty')?.remove();
			list.append(messageItem(m, false));
			body.value = '';
		} catch (e) {
			error.textContent = problem(e);
		} finally {
			send.disabled = false;
			send.textContent = t('msg.send');
		}
	}},
	h('label', {for: 'msg-body', text: t('msg.write')}), body, error,
	h('div', {class: 'actions'}, send));
	const box = h('section', {class: 'conversation', 'aria-labelledby': 'msg-h'},
		h('h2', {id: 'msg-h', text: t('msg.title')}), list, form);
	fill(o, list, error);
	return box;
}

async function fill(o, list, error) {
	try {
		const all = await allMessages(o.id);
		/* The other party's newest unread_messages are the unread ones. */
		let unread = o.unread_messages || 0;
		const marks = new Set();
		for (let i = all.length - 1; i >= 0 && unread > 0; i--)
			if (all[i].author_id !== S.me.id) {
				marks.add(all[i].seq);
				unread--;
			}
		list.replaceChildren(...(all.length ? all.map((m) => messageItem(m, marks.has(m.seq)))
			: [h('li', {class: 'empty', text: t('msg.none')})]));
		if (marks.size) {
			await api('POST', '/v1/orders/' + encodeURIComponent(o.id) + '/messages/read',
				{seq: all[all.length - 1].seq});
			await refreshCounts();
		}
	} catch (e) {
		error.textContent = problem(e);
	}
}

/* #/messages: the caller's conversations, those with unread messages
 * first, each a link to its order; Load more follows the cursor. */
export async function viewMessages() {
	const list = h('ul', {class: 'cards conversations', id: 'conversations'});
	const more = h('button', {type: 'button', id: 'msg-more', text: t('msg.more'), hidden: true});
	const conversations = pages('/v1/conversations?limit=20', {key: (c) => c.order_id});
	async function load() {
		const r = await conversations.next();
		for (const c of r.data)
			list.append(conversationCard(c));
		more.hidden = !r.has_more;
		if (!list.children.length)
			list.append(h('li', {class: 'empty', text: t('msg.no_conversations')}));
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
	page(t('msg.page_title'), list, more);
}

function conversationCard(c) {
	const m = c.last_message;
	const who = m.author_id === S.me.id ? t('msg.you') : t('msg.role.' + m.role);
	return h('li', {class: 'card conversation-card' + (c.unread_messages ? ' unread' : '')},
		h('a', {href: '#/order/' + encodeURIComponent(c.order_id)},
			h('strong', {text: c.title || c.order_id}),
			c.unread_messages ? h('span', {class: 'new-mark', text: t('msg.unread', {n: c.unread_messages})}) : null),
		h('p', {class: 'message-body', text: who + ': ' + m.body}),
		h('p', {class: 'muted'}, h('time', {datetime: m.at, text: when(m.at)})));
}
