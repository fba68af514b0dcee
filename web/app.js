/* escrowd's web interface: a small single-page app over the HTTP/JSON API.
 *
 * No framework and no build step. Every element is made with h(), which
 * sets text with textContent, never innerHTML: whatever a user wrote shows
 * as text. Buttons come from each order's `actions`, so the interface
 * never offers what the API would refuse. Texts come from the message
 * catalogue (en.json, is.json). Served from the binary under a
 * Content-Security-Policy that allows no inline script. */
'use strict';

(() => {
	const S = {
		me: null,
		csrf: sessionStorage.getItem('escrowd.csrf') || '',
		offset: 0, /* escrowd's clock minus this browser's */
		lang: 'en',
		T: {},
		reasons: null,
	};

	/* ---- DOM ---- */

	function h(tag, attrs, ...kids) {
		const el = document.createElement(tag);
		for (const [k, v] of Object.entries(attrs || {})) {
			if (v === null || v === undefined || v === false)
				continue;
			if (k.startsWith('on'))
				el.addEventListener(k.slice(2), v);
			else if (k === 'text')
				el.textContent = v;
			else if (k === 'class')
				el.className = v;
			else
				el.setAttribute(k, v === true ? '' : v);
		}
		for (const kid of kids.flat(Infinity)) {
			if (kid === null || kid === undefined || kid === false)
				continue;
			el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
		}
		return el;
	}

	function $(id) {
		return document.getElementById(id);
	}

	function toast(text) {
		const el = $('toast');
		el.textContent = text;
		clearTimeout(toast.timer);
		toast.timer = setTimeout(() => { el.textContent = ''; }, 5000);
	}

	/* ---- words ---- */

	function t(key, vars) {
		let s = Object.prototype.hasOwnProperty.call(S.T, key) ? S.T[key] : key;
		for (const [k, v] of Object.entries(vars || {}))
			s = s.split('{' + k + '}').join(String(v));
		return s;
	}

	function chosenLang() {
		const saved = localStorage.getItem('escrowd.lang');
		if (saved === 'en' || saved === 'is')
			return saved;
		const langs = navigator.languages || [navigator.language || 'en'];
		return langs.some((l) => l.toLowerCase().startsWith('is')) ? 'is' : 'en';
	}

	async function loadLang(lang) {
		const r = await fetch('/static/' + lang + '.json');
		S.T = await r.json();
		S.lang = lang;
		document.documentElement.lang = lang;
	}

	function money(minor, currency) {
		try {
			return new Intl.NumberFormat(S.lang === 'is' ? 'is-IS' : 'en-GB', {
				style: 'currency',
				currency: currency,
				minimumFractionDigits: 2,
				maximumFractionDigits: 2,
			}).format(minor / 100);
		} catch (e) {
			return (minor / 100).toFixed(2) + ' ' + currency;
		}
	}

	function now() {
		return Date.now() + S.offset;
	}

	function when(iso) {
		if (!iso)
			return '';
		return new Date(iso).toLocaleString(S.lang === 'is' ? 'is-IS' : 'en-GB',
			{dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC'}) + ' UTC';
	}

	/* Time left until a deadline: its parts, or null when it is up. */
	function parts(ms) {
		let d = ms - now();
		if (d <= 0)
			return null;
		const days = Math.floor(d / 86400000);
		d -= days * 86400000;
		const hours = Math.floor(d / 3600000);
		d -= hours * 3600000;
		return {d: days, h: hours, m: Math.floor(d / 60000)};
	}

	/* "2 d 23 h 59 min", as shown. */
	function left(ms) {
		const p = parts(ms);
		return p ? t('time.left', p) : t('time.passed');
	}

	/* The same in words, for screen readers: "2 days, 23 hours and 59
	 * minutes left". Icelandic counts 1, 21, 31... as singular. */
	function plural(n) {
		return S.lang === 'is' ? n % 10 === 1 && n % 100 !== 11 : n === 1;
	}

	function leftWords(ms) {
		const p = parts(ms);
		if (!p)
			return t('time.passed');
		const w = (n, unit) => t('time.' + unit + (plural(n) ? '_one' : '_many'), {n: n});
		return t('time.left_words', {d: w(p.d, 'day'), h: w(p.h, 'hour'), m: w(p.m, 'minute')});
	}

	/* A live countdown: the short form is shown, the words are read. It
	 * is not a live region, which would speak every minute. */
	function countdown(iso) {
		const ms = Date.parse(iso);
		return h('span', {class: 'countdown', 'data-deadline': String(ms)},
			h('span', {'aria-hidden': 'true', class: 'short', text: left(ms)}),
			h('span', {class: 'visually-hidden words', text: leftWords(ms)}));
	}

	setInterval(() => {
		for (const el of document.querySelectorAll('[data-deadline]')) {
			el.querySelector('.short').textContent = left(Number(el.dataset.deadline));
			el.querySelector('.words').textContent = leftWords(Number(el.dataset.deadline));
		}
	}, 1000);

	/* ---- the API ---- */

	class ApiError extends Error {
		constructor(status, code, message) {
			super(message);
			this.status = status;
			this.code = code;
		}
	}

	async function api(method, path, body) {
		const opt = {method: method, credentials: 'same-origin', headers: {}};
		if (body !== undefined) {
			opt.headers['Content-Type'] = 'application/json';
			opt.body = JSON.stringify(body);
		}
		if (method !== 'GET' && S.csrf)
			opt.headers['X-CSRF-Token'] = S.csrf;
		const r = await fetch(path, opt);
		let j = null;
		try {
			j = await r.json();
		} catch (e) {
			j = null;
		}
		if (!r.ok) {
			const err = (j && j.error) || {};
			throw new ApiError(r.status, err.code || 'http_' + r.status,
				err.message || r.statusText);
		}
		return j;
	}

	/* An API error in words: the catalogue's, else the API's own message. */
	function problem(e) {
		if (e instanceof ApiError) {
			const key = 'error.' + e.code;
			return Object.prototype.hasOwnProperty.call(S.T, key) ? t(key) : e.message;
		}
		return t('error.network');
	}

	async function loadMe() {
		try {
			S.me = await api('GET', '/v1/me');
		} catch (e) {
			S.me = null;
			return;
		}
		if (S.me.csrf_token) {
			S.csrf = S.me.csrf_token;
			sessionStorage.setItem('escrowd.csrf', S.csrf);
		}
		if (S.me.now)
			S.offset = Date.parse(S.me.now) - Date.now();
	}

	async function reasons() {
		if (!S.reasons)
			S.reasons = (await api('GET', '/v1/cancellation-reasons')).data;
		return S.reasons;
	}

	async function allOrders() {
		let list = [], after = '';
		for (let page = 0; page < 10; page++) {
			const q = '/v1/orders?limit=100' + (after ? '&starting_after=' + encodeURIComponent(after) : '');
			const r = await api('GET', q);
			list = list.concat(r.data);
			if (!r.has_more || !r.data.length)
				break;
			after = r.data[r.data.length - 1].id;
		}
		return list;
	}

	/* ---- the frame ---- */

	function renderBar() {
		const bar = $('bar');
		bar.replaceChildren();
		bar.append(h('a', {class: 'brand', href: S.me ? '#/orders' : '#/signin', text: 'escrowd'}));
		if (S.me) {
			const nav = h('nav', {'aria-label': t('nav.label')});
			if (S.me.role === 'arbiter')
				nav.append(h('a', {class: 'button', href: '#/disputes', text: t('nav.disputes')}));
			else
				nav.append(h('a', {class: 'button', href: '#/orders', text: t('nav.orders')}),
					h('a', {class: 'button', href: '#/profile', text: t('nav.profile')}));
			nav.append(h('button', {type: 'button', onclick: signOut, text: t('nav.signout')}));
			bar.append(h('span', {class: 'who', text: S.me.name + ' (' + t('role.' + S.me.role) + ')'}), nav);
		}
		const sel = h('select', {id: 'lang', onchange: async (ev) => {
			localStorage.setItem('escrowd.lang', ev.target.value);
			await loadLang(ev.target.value);
			route();
		}}, h('option', {value: 'en', text: 'English', selected: S.lang === 'en'}),
		h('option', {value: 'is', text: 'Íslenska', selected: S.lang === 'is'}));
		bar.append(h('div', {class: 'lang'}, h('label', {for: 'lang', class: 'visually-hidden', text: t('nav.language')}), sel));
	}

	function page(title, ...kids) {
		const main = $('main');
		main.replaceChildren(h('h1', {text: title}),
			...kids.flat(Infinity).filter((k) => k !== null && k !== undefined && k !== false));
		document.title = title + ' · escrowd';
	}

	async function signOut() {
		try {
			await api('DELETE', '/v1/sessions/current');
		} catch (e) {
			/* signed out already */
		}
		S.me = null;
		S.csrf = '';
		sessionStorage.removeItem('escrowd.csrf');
		location.hash = '#/signin';
	}

	/* ---- sign in ---- */

	function viewSignin() {
		const error = h('p', {class: 'error', role: 'alert'});
		const form = h('form', {class: 'form', onsubmit: async (ev) => {
			ev.preventDefault();
			error.textContent = '';
			try {
				const r = await api('POST', '/v1/sessions', {
					email: form.email.value,
					password: form.password.value,
				});
				S.csrf = r.csrf_token;
				sessionStorage.setItem('escrowd.csrf', S.csrf);
				await loadMe();
				location.hash = S.me && S.me.role === 'arbiter' ? '#/disputes' : '#/orders';
			} catch (e) {
				error.textContent = problem(e);
			}
		}},
		h('label', {for: 'email', text: t('signin.email')}),
		h('input', {id: 'email', name: 'email', type: 'email', autocomplete: 'username', required: true}),
		h('label', {for: 'password', text: t('signin.password')}),
		h('input', {id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true}),
		error,
		h('div', {class: 'actions'}, h('button', {class: 'primary', type: 'submit', text: t('signin.submit')})));
		page(t('signin.title'), form);
	}

	/* ---- orders ---- */

	const TABS = [
		{id: 'all', states: null},
		{id: 'awaiting_payment', states: ['awaiting_payment']},
		{id: 'awaiting_shipment', states: ['awaiting_shipment', 'cancellation_requested']},
		{id: 'shipped', states: ['shipped', 'delivered']},
		{id: 'disputes', states: ['in_dispute']},
		{id: 'completed', states: ['completed']},
		{id: 'cancelled', states: ['cancelled', 'closed']},
	];

	function inTab(tab, o) {
		return !tab.states || tab.states.includes(o.state);
	}

	function titleOf(o) {
		if (!o.items || !o.items.length)
			return o.id;
		const more = o.items.length > 1 ? ' ' + t('order.more_items', {n: o.items.length - 1}) : '';
		return o.items[0].title + more;
	}

	function hasAction(o, name) {
		return (o.actions || []).some((a) => a.name === name);
	}

	function actionDeadline(o, name) {
		const a = (o.actions || []).find((x) => x.name === name);
		return a ? a.deadline : null;
	}

	function reasonLabel(code) {
		const key = 'reason.' + code;
		if (Object.prototype.hasOwnProperty.call(S.T, key))
			return t(key);
		const r = (S.reasons || []).find((x) => x.code === code);
		return r ? r.label : code;
	}

	/* What a card or the order's page says about the order now. */
	function statusLines(o) {
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
		} else if (c && c.rejection_message && o.state === 'awaiting_shipment') {
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
		if (buyer && ['shipped', 'delivered'].includes(o.state))
			lines.push(h('p', {class: 'note'}, t('order.shipped_no_cancel')));
		if (buyer && o.state === 'awaiting_shipment' && !hasAction(o, 'cancel') && o.cancellation &&
		    o.cancellation.requests_made >= o.cancellation.requests_allowed)
			lines.push(h('p', {class: 'note warn'}, t('cancel.limit')));
		if (buyer && S.level === 'suspended' && o.state === 'awaiting_shipment' && !hasAction(o, 'cancel'))
			lines.push(h('p', {class: 'note warn'}, t('cancel.suspended')));
		if (o.dispute)
			lines.push(h('p', {class: 'note'}, t('dispute.state.' + o.dispute.state), ' ',
				h('a', {href: '#/dispute/' + o.dispute.id, text: t('dispute.open_page')})));
		return lines;
	}

	/* The labels of the order's actions this interface carries out. */
	const ACTIONS = {
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

	function runAction(o, name) {
		switch (name) {
		case 'cancel':
			return cancelDialog(o);
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

	async function simple(o, name) {
		try {
			await api('POST', '/v1/orders/' + encodeURIComponent(o.id) + '/' + name, {});
			toast(t('done.' + name));
			route();
		} catch (e) {
			toast(problem(e));
		}
	}

	function card(o) {
		const mine = ACTIONS[S.me.role] || {};
		const acts = (o.actions || []).filter((a) => mine[a.name]);
		const li = h('li', {class: 'card', 'data-order': o.id},
			h('div', {class: 'head'},
				h('a', {class: 'title', href: '#/order/' + o.id, text: titleOf(o)}),
				h('span', {class: 'state', text: t('state.' + o.state)})),
			h('p', {}, money(o.total, o.currency)),
			statusLines(o));
		if (acts.length) {
			const menuId = 'menu-' + o.id;
			const menu = h('ul', {class: 'menu', id: menuId, hidden: true},
				acts.map((a) => h('li', {}, h('button', {type: 'button', onclick: () => {
					menu.hidden = true;
					more.setAttribute('aria-expanded', 'false');
					more.focus(); /* the item is hidden: a dialog returns here */
					runAction(o, a.name);
				}, text: t(mine[a.name])}))));
			const more = h('button', {type: 'button', 'aria-expanded': 'false', 'aria-controls': menuId,
				onclick: () => {
					menu.hidden = !menu.hidden;
					more.setAttribute('aria-expanded', String(!menu.hidden));
				}, text: t('action.more')});
			li.append(h('div', {class: 'actions'}, more), menu);
		}
		return li;
	}

	async function viewOrders(query) {
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
		const shown = list.filter((o) => inTab(tab, o));
		const parts = [];
		if (S.me.role === 'seller') {
			const waiting = list.filter((o) => o.cancellation && o.cancellation.open)
				.sort((a, b) => Date.parse(a.deadlines.response) - Date.parse(b.deadlines.response));
			parts.push(h('section', {'aria-labelledby': 'waiting-h'},
				h('h2', {id: 'waiting-h', text: t('seller.waiting', {n: waiting.length})}),
				waiting.length ? h('ul', {class: 'cards', id: 'waiting'}, waiting.map(card))
					: h('p', {text: t('seller.none_waiting')})));
		}
		parts.push(tabs, h('div', {role: 'tabpanel', id: 'tabpanel', 'aria-labelledby': 'tab-' + tab.id},
			shown.length ? h('ul', {class: 'cards', id: 'orders'}, shown.map(card))
				: h('p', {text: t('orders.none')})));
		page(S.me.role === 'seller' ? t('orders.title_seller') : t('orders.title'), parts);
		if (S.focusTab) {
			S.focusTab = false;
			$('tab-' + tab.id).focus();
		}
	}

	async function loadLevel() {
		try {
			const r = await api('GET', '/v1/users/' + encodeURIComponent(S.me.id) + '/reputation');
			S.level = r.level;
			S.levelWhy = r.why;
		} catch (e) {
			S.level = null;
		}
	}

	/* The narrow screens' way in: the order tabs as a list. */
	async function viewProfile() {
		const list = await allOrders();
		const rep = await api('GET', '/v1/users/' + encodeURIComponent(S.me.id) + '/reputation');
		const standing = rep.role === 'buyer'
			? t('profile.level', {level: t('level.' + rep.level)})
			: t('profile.score', {score: rep.score});
		page(t('profile.title'),
			h('p', {text: S.me.name + ' · ' + S.me.email}),
			h('section', {'aria-labelledby': 'rep-h'},
				h('h2', {id: 'rep-h', text: standing}),
				h('p', {text: rep.why}),
				h('h3', {text: t('profile.events')}),
				(rep.events || []).length
					? h('ul', {id: 'rep-events'}, rep.events.slice(0, 20).map((e) =>
						h('li', {text: when(e.at) + ' · ' + t('mark.' + e.event)})))
					: h('p', {text: t('profile.no_events')})),
			h('ul', {class: 'cards'}, TABS.slice(1).map((x) => h('li', {},
				h('a', {class: 'button', href: '#/orders?tab=' + x.id},
					t('tab.' + x.id), h('span', {class: 'count', text: '(' + list.filter((o) => inTab(x, o)).length + ')'}))))));
	}

	async function viewOrder(id) {
		const o = await api('GET', '/v1/orders/' + encodeURIComponent(id));
		await reasons();
		if (S.me.role === 'buyer')
			await loadLevel();
		const mine = ACTIONS[S.me.role] || {};
		const acts = (o.actions || []).filter((a) => mine[a.name]);
		const facts = h('dl', {class: 'facts'},
			h('dt', {text: t('order.state')}), h('dd', {text: t('state.' + o.state)}),
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
			text: a.name === 'cancel' ? t('action.cancel_order') : t(mine[a.name]),
		})));
		page(titleOf(o), facts, items, statusLines(o), buttons);
	}

	/* ---- dialogs ---- */

	/* Focus after a dialog: back where it was opened from, or, when the
	 * page was drawn again meanwhile, on the page's heading. */
	function refocus(opener) {
		if (opener && opener.isConnected && !opener.closest('[hidden]')) {
			opener.focus();
			return;
		}
		const title = document.querySelector('#main h1');
		if (title) {
			title.tabIndex = -1;
			title.focus();
		}
	}

	function dialog(title, body, okText, onOk) {
		const opener = document.activeElement;
		const error = h('p', {class: 'error', role: 'alert'});
		const form = h('form', {method: 'dialog'});
		const dlg = h('dialog', {'aria-labelledby': 'dlg-title'},
			h('h2', {id: 'dlg-title', text: title}), form);
		form.append(...body, error, h('div', {class: 'actions'},
			h('button', {class: 'primary', type: 'submit', value: 'ok', text: okText}),
			h('button', {type: 'button', onclick: () => dlg.close(), text: t('dialog.back')})));
		form.addEventListener('submit', async (ev) => {
			ev.preventDefault();
			error.textContent = '';
			try {
				await onOk(form);
				dlg.close();
				await route();
				refocus(opener);
			} catch (e) {
				error.textContent = e instanceof ApiError ? problem(e) : e.message;
			}
		});
		dlg.addEventListener('close', () => {
			dlg.remove();
			refocus(opener);
		});
		document.body.append(dlg);
		dlg.showModal();
		return dlg;
	}

	async function cancelDialog(o) {
		const list = (await reasons()).slice().sort((a, b) => (b.recommended ? 1 : 0) - (a.recommended ? 1 : 0));
		const note = h('p', {class: 'note warn', id: 'fault-note', hidden: true, text: t('cancel.seller_fault_note')});
		const select = h('select', {id: 'reason', name: 'reason', required: true, onchange: () => {
			const r = list.find((x) => x.code === select.value);
			note.hidden = !(r && r.fault === 'seller');
		}},
		h('option', {value: '', disabled: true, selected: true, text: t('cancel.select_here')}),
		list.map((r) => h('option', {value: r.code, text: reasonLabel(r.code) +
			(r.recommended ? ' ' + t('cancel.recommended') : '') +
			(r.fault === 'seller' ? ' ' + t('cancel.seller_fault_short') : '')})));
		const body = [];
		if (S.level === 'watch' || S.level === 'restricted')
			body.push(h('p', {class: 'note warn', id: 'level-warning'}, t('cancel.warn_' + S.level, {why: S.levelWhy || ''})));
		body.push(h('label', {for: 'reason', text: t('cancel.reason')}), select, note,
			h('label', {for: 'comment', text: t('cancel.comment_label')}),
			h('textarea', {id: 'comment', name: 'comment', maxlength: '1000'}),
			h('fieldset', {},
				h('legend', {text: t('cancel.refund_to')}),
				h('label', {}, h('input', {type: 'radio', name: 'refund_to', value: 'original', checked: true}), ' ', t('cancel.to_original')),
				h('label', {}, h('input', {type: 'radio', name: 'refund_to', value: 'balance'}), ' ', t('cancel.to_balance'))));
		dialog(t('cancel.title'), body, t('dialog.ok'), async (form) => {
			if (!select.value)
				throw new Error(t('cancel.choose'));
			const payload = {reason: select.value, refund_to: form.refund_to.value};
			if (form.comment.value.trim())
				payload.comment = form.comment.value.trim();
			await api('POST', '/v1/orders/' + encodeURIComponent(o.id) + '/cancel', payload);
			toast(t('done.cancel'));
		});
	}

	function rejectDialog(o) {
		dialog(t('reject.title'), [
			h('label', {for: 'message', text: t('reject.message')}),
			h('textarea', {id: 'message', name: 'message', required: true, maxlength: '1000'}),
		], t('dialog.ok'), async (form) => {
			await api('POST', '/v1/orders/' + encodeURIComponent(o.id) + '/cancellation/reject',
				{message: form.message.value});
			toast(t('done.cancellation/reject'));
		});
	}

	function shipDialog(o) {
		dialog(t('ship.title'), [
			h('label', {for: 'carrier', text: t('ship.carrier')}),
			h('input', {id: 'carrier', name: 'carrier', required: true, maxlength: '64'}),
			h('label', {for: 'tracking', text: t('ship.tracking')}),
			h('input', {id: 'tracking', name: 'tracking', required: true, maxlength: '64'}),
		], t('dialog.ok'), async (form) => {
			await api('POST', '/v1/orders/' + encodeURIComponent(o.id) + '/ship',
				{carrier: form.carrier.value, tracking_number: form.tracking.value});
			toast(t('done.ship'));
		});
	}

	/* ---- disputes ---- */

	/* The grounds open now (SPEC §5): not_delivered only after the
	 * promised date, and only without a delivery. */
	function groundsOpen(o) {
		const grounds = ['invalid_tracking', 'not_as_described'];
		if (!o.delivered_at && o.promised_delivery_at && Date.parse(o.promised_delivery_at) <= now())
			grounds.push('not_delivered');
		return grounds;
	}

	function disputeDialog(o) {
		const held = o.paid - o.refunded;
		const body = [
			h('label', {for: 'ground', text: t('dispute.ground')}),
			h('select', {id: 'ground', name: 'ground', required: true},
				groundsOpen(o).map((g) => h('option', {value: g, text: t('ground.' + g)}))),
			h('fieldset', {},
				h('legend', {text: t('dispute.outcome')}),
				h('label', {}, h('input', {type: 'radio', name: 'outcome', value: 'refund_only', checked: true}), ' ', t('outcome.refund_only')),
				h('label', {}, h('input', {type: 'radio', name: 'outcome', value: 'return_and_refund'}), ' ', t('outcome.return_and_refund'))),
			h('label', {for: 'amount', text: t('dispute.amount', {max: money(held, o.currency)})}),
			h('input', {id: 'amount', name: 'amount', type: 'number', min: '0.01', step: '0.01', required: true,
				value: (held / 100).toFixed(2)}),
			h('label', {for: 'description', text: t('dispute.description')}),
			h('textarea', {id: 'description', name: 'description', required: true, maxlength: '1000'}),
			h('label', {for: 'evidence', text: t('dispute.evidence')}),
			h('input', {id: 'evidence', name: 'evidence', type: 'file', multiple: true,
				accept: 'image/jpeg,image/png,application/pdf'}),
		];
		dialog(t('dispute.title'), body, t('dialog.ok'), async (form) => {
			const d = await api('POST', '/v1/orders/' + encodeURIComponent(o.id) + '/disputes', {
				ground: form.ground.value,
				outcome: form.outcome.value,
				amount: Math.round(Number(form.amount.value) * 100),
				description: form.description.value,
			});
			await upload(d.id, form.evidence.files);
			toast(d.notice || t('done.disputes'));
			location.hash = '#/dispute/' + d.id;
		});
	}

	async function upload(disputeId, files) {
		for (const f of files || []) {
			const r = await fetch('/v1/disputes/' + encodeURIComponent(disputeId) + '/evidence?filename=' +
				encodeURIComponent(f.name), {
				method: 'POST', credentials: 'same-origin',
				headers: {'Content-Type': f.type || 'application/octet-stream', 'X-CSRF-Token': S.csrf},
				body: f,
			});
			if (!r.ok) {
				const j = await r.json().catch(() => ({}));
				const err = j.error || {};
				throw new ApiError(r.status, err.code, err.message || r.statusText);
			}
		}
	}

	/* What each role may answer on the dispute page. */
	const DISPUTE_ACTIONS = {
		'accept': 'dispute.accept',
		'counter-offer': 'dispute.counter',
		'reject': 'dispute.reject',
		'accept-offer': 'dispute.accept_offer',
		'escalate': 'dispute.escalate',
		'withdraw': 'dispute.withdraw',
		'return-shipment': 'dispute.return_shipment',
		'return-received': 'dispute.return_received',
		'decide': 'dispute.decide',
	};

	function disputeAnswer(d, name) {
		const path = '/v1/disputes/' + encodeURIComponent(d.id) + '/' + name;
		const fields = {
			'counter-offer': [['amount', 'number'], ['message', 'textarea', false]],
			'reject': [['message', 'textarea', true]],
			'return-shipment': [['carrier', 'text'], ['tracking_number', 'text']],
			'decide': [['refund_amount', 'number'], ['reason', 'textarea', true]],
		}[name];
		if (!fields)
			return api('POST', path, {}).then(() => { toast(t('done.dispute')); route(); },
				(e) => toast(problem(e)));
		const body = [];
		for (const [f, kind, required] of fields) {
			body.push(h('label', {for: 'f-' + f, text: t('field.' + f)}));
			body.push(kind === 'textarea'
				? h('textarea', {id: 'f-' + f, name: f, required: required !== false, maxlength: '1000'})
				: h('input', {id: 'f-' + f, name: f, type: kind, required: true,
					step: kind === 'number' ? '0.01' : null, min: kind === 'number' ? '0' : null}));
		}
		dialog(t(DISPUTE_ACTIONS[name]), body, t('dialog.ok'), async (form) => {
			const payload = {};
			for (const [f, kind] of fields) {
				const v = form[f].value;
				if (kind === 'number')
					payload[f] = Math.round(Number(v) * 100);
				else if (v.trim())
					payload[f] = v;
			}
			await api('POST', path, payload);
			toast(t('done.dispute'));
		});
	}

	async function viewDispute(id) {
		const d = await api('GET', '/v1/disputes/' + encodeURIComponent(id));
		const o = await api('GET', '/v1/orders/' + encodeURIComponent(d.order_id));
		const cur = o.currency;
		const facts = h('dl', {class: 'facts'},
			h('dt', {text: t('dispute.state')}), h('dd', {text: t('dispute.state.' + d.state)}),
			h('dt', {text: t('dispute.ground')}), h('dd', {text: t('ground.' + d.ground)}),
			h('dt', {text: t('dispute.outcome')}), h('dd', {text: t('outcome.' + d.outcome)}),
			h('dt', {text: t('dispute.asked_label')}), h('dd', {text: money(d.amount, cur)}),
			d.offer !== null ? [h('dt', {text: t('dispute.offer')}), h('dd', {text: money(d.offer, cur)})] : null,
			d.deadline ? [h('dt', {text: t('dispute.deadline')}), h('dd', {}, countdown(d.deadline))] : null,
			d.refund_amount !== null ? [h('dt', {text: t('dispute.refunded')}), h('dd', {text: money(d.refund_amount, cur)})] : null,
			h('dt', {text: t('dispute.buyer')}), h('dd', {text: t('level.' + d.buyer_reputation.level)}),
			h('dt', {text: t('dispute.seller')}), h('dd', {text: t('dispute.score', {score: d.seller_reputation.score})}));
		const parts = [facts, h('p', {}, h('q', {text: d.description}))];
		if (d.seller_message)
			parts.push(h('p', {}, t('dispute.seller_wrote') + ' ', h('q', {text: d.seller_message})));
		if (d.decision_reason)
			parts.push(h('p', {}, t('dispute.decision_reason') + ' ', h('q', {text: d.decision_reason})));
		if (d.recommendation)
			parts.push(h('section', {class: 'note', 'aria-labelledby': 'rec-h'},
				h('h2', {id: 'rec-h', text: t('dispute.recommendation', {amount: money(d.recommendation.refund_amount, cur)})}),
				h('ul', {}, d.recommendation.reasons.map((r) => h('li', {text: r})))));
		parts.push(h('h2', {text: t('dispute.evidence_list')}),
			d.evidence.length ? h('ul', {class: 'evidence'}, d.evidence.map((e) => h('li', {},
				e.content_type.startsWith('image/')
					? h('img', {src: e.url, alt: t('dispute.photo', {name: e.filename || e.id, role: t('role.' + e.role)}),
						width: '160'})
					: null,
				' ', h('a', {href: e.url, text: (e.filename || e.id) + ' (' + t('role.' + e.role) + ')'}))))
				: h('p', {text: t('dispute.no_evidence')}));
		if (d.state !== 'resolved' && S.me.role !== 'arbiter') {
			const input = h('input', {id: 'more-evidence', type: 'file', accept: 'image/jpeg,image/png,application/pdf'});
			parts.push(h('label', {for: 'more-evidence', text: t('dispute.evidence')}), input,
				h('button', {type: 'button', onclick: async () => {
					try {
						await upload(d.id, input.files);
						route();
					} catch (e) {
						toast(problem(e));
					}
				}, text: t('dispute.add_evidence')}));
		}
		parts.push(h('h2', {text: t('dispute.history')}), h('ol', {id: 'history'}, (d.history || []).map((e) =>
			h('li', {text: when(e.at) + ' · ' + t('role.' + e.actor) + ' · ' + t('event.' + e.event)}))));
		parts.push(h('h2', {text: t('dispute.messages')}), (d.messages || []).length
			? h('ul', {id: 'messages'}, d.messages.map((m) => h('li', {}, t('role.' + m.role) + ': ', h('q', {text: m.body}))))
			: h('p', {text: t('dispute.no_messages')}));
		if (S.me.role !== 'arbiter') {
			const box = h('textarea', {id: 'new-message', maxlength: '1000'});
			parts.push(h('label', {for: 'new-message', text: t('dispute.write')}), box,
				h('button', {type: 'button', onclick: async () => {
					if (!box.value.trim())
						return;
					try {
						await api('POST', '/v1/orders/' + encodeURIComponent(d.order_id) + '/messages',
							{body: box.value});
						route();
					} catch (e) {
						toast(problem(e));
					}
				}, text: t('dispute.send')}));
		}
		const buttons = d.actions.map((a) => h('button', {
			type: 'button', class: a.name === 'decide' ? 'primary' : null,
			onclick: () => disputeAnswer(d, a.name), text: t(DISPUTE_ACTIONS[a.name]),
		}));
		/* An arbiter may lift a suspended buyer's suspension (SPEC §6). */
		if (S.me.role === 'arbiter' && d.buyer_reputation.level === 'suspended')
			buttons.push(h('button', {type: 'button', onclick: () => liftDialog(d.buyer_reputation.user_id),
				text: t('lift.title')}));
		parts.push(h('div', {class: 'actions'}, buttons));
		page(t('dispute.title_page', {title: titleOf(o)}), parts);
	}

	/* ---- arbiters ---- */

	function liftDialog(userId) {
		dialog(t('lift.title'), [
			h('p', {text: t('lift.explain')}),
			h('label', {for: 'f-lift', text: t('field.reason')}),
			h('textarea', {id: 'f-lift', name: 'reason', required: true, maxlength: '1000'}),
		], t('dialog.ok'), async (form) => {
			await api('POST', '/v1/users/' + encodeURIComponent(userId) + '/suspension/lift',
				{reason: form.reason.value});
			toast(t('lift.done'));
		});
	}

	async function viewDisputes() {
		const r = await api('GET', '/v1/disputes?limit=100');
		page(t('disputes.title'), r.data.length
			? h('ul', {class: 'cards', id: 'disputes'}, r.data.map((d) => h('li', {class: 'card'},
				h('div', {class: 'head'},
					h('span', {class: 'title', text: t('ground.' + d.ground)}),
					h('span', {class: 'state', text: t('dispute.state.' + d.state)})),
				h('p', {}, h('a', {href: '#/dispute/' + d.id, text: t('dispute.asked', {amount: money(d.amount, d.currency)})}),
					' · ', h('q', {text: d.description})))))
			: h('p', {text: t('disputes.none')}));
	}

	/* ---- routing ---- */

	async function route() {
		renderBar();
		const [path, qs] = (location.hash.slice(1) || '/').split('?');
		const query = new URLSearchParams(qs || '');
		const parts = path.split('/').filter(Boolean);
		try {
			if (!S.me) {
				if (parts[0] !== 'signin')
					location.hash = '#/signin';
				return viewSignin();
			}
			switch (parts[0]) {
			case 'order':
				return await viewOrder(decodeURIComponent(parts[1] || ''));
			case 'profile':
				return await viewProfile();
			case 'disputes':
				return await viewDisputes();
			case 'dispute':
				return await viewDispute(decodeURIComponent(parts[1] || ''));
			case 'signin':
			case 'orders':
			default:
				if (S.me.role === 'arbiter')
					return await viewDisputes();
				return await viewOrders(query);
			}
		} catch (e) {
			if (e instanceof ApiError && e.status === 401) {
				S.me = null;
				location.hash = '#/signin';
				return;
			}
			page(t('error.title'), h('p', {class: 'error', role: 'alert', text: problem(e)}));
		}
	}

	window.addEventListener('hashchange', route);
	document.addEventListener('DOMContentLoaded', async () => {
		await loadLang(chosenLang());
		await loadMe();
		await route();
	});
})();
