/* The bar at the top, the bottom bar on a phone, signing in and out. */

import {S} from './state.js';
import {h, $, page} from './dom.js';
import {t, loadLang} from './text.js';
import {api, problem, loadMe} from './api.js';
import {route} from './router.js';

/* The screens a signed-in person moves between: the top bar's links on a
 * wide screen, the bottom bar on a phone. Each is [route, label key,
 * unread count or undefined]. */
function sections() {
	if (S.me.role === 'arbiter')
		return [['#/disputes', 'nav.disputes'], ['#/profile', 'nav.profile']];
	return [
		['#/orders', S.me.role === 'seller' ? 'nav.sales' : 'nav.orders'],
		['#/messages', 'nav.messages', S.me.unread_messages],
		['#/notifications', 'nav.notifications', S.me.unread_notifications],
		['#/profile', 'nav.profile'],
	];
}

/* The section the address is in: an order's or a dispute's page belongs
 * to the list it was opened from. */
function current() {
	const top = (location.hash.split('?')[0].split('/')[1] || '');
	const of = {order: 'orders', dispute: 'disputes', signin: 'orders', '': 'orders'};
	const name = of[top] || top;
	return '#/' + (S.me.role === 'arbiter' && name === 'orders' ? 'disputes' : name);
}

/* A link to a section, with its unread count when there is one: the
 * count shows as a badge and is read out as "3 unread". */
function sectionLink(cls, [href, key, unread], here) {
	const n = Number.isInteger(unread) && unread > 0 ? unread : 0;
	return h('a', {class: cls, href, 'aria-current': href === here ? 'page' : null},
		h('span', {class: 'label', text: t(key)}),
		n ? h('span', {class: 'badge', 'aria-hidden': 'true', text: n > 99 ? '99+' : String(n)}) : null,
		n ? h('span', {class: 'visually-hidden', text: ' ' + t('nav.unread', {n})}) : null);
}

export function renderBar() {
	const bar = $('bar');
	const bottom = $('tabbar');
	bar.replaceChildren();
	bottom.replaceChildren();
	bottom.hidden = !S.me;
	bar.append(h('a', {class: 'brand', href: S.me ? '#/orders' : '#/signin', text: 'escrowd'}));
	if (S.me) {
		const here = current();
		/* On a phone the sections are in the bottom bar, and signing out
		 * in the profile: the top keeps the name, help and the language. */
		const nav = h('nav', {'aria-label': t('nav.label')},
			sections().map((x) => sectionLink('button wide', x, here)),
			h('a', {class: 'button', href: '#/help', 'aria-current': here === '#/help' ? 'page' : null,
				text: t('nav.help')}),
			h('button', {type: 'button', class: 'wide', onclick: signOut, text: t('nav.signout')}));
		bar.append(h('span', {class: 'who wide', text: S.me.name + ' (' + t('role.' + S.me.role) + ')'}), nav);
		bottom.setAttribute('aria-label', t('nav.sections'));
		bottom.append(h('ul', {}, sections().map((x) => h('li', {}, sectionLink('section', x, here)))));
	} else {
		/* Signed out: the help page, and from it the way back. */
		const onHelp = location.hash.startsWith('#/help');
		bar.append(h('nav', {'aria-label': t('nav.label')},
			onHelp ? h('a', {class: 'button', href: '#/signin', text: t('signin.submit')})
				: h('a', {class: 'button', href: '#/help', text: t('nav.help')})));
	}
	const sel = h('select', {id: 'lang', onchange: async (ev) => {
		localStorage.setItem('escrowd.lang', ev.target.value);
		await loadLang(ev.target.value);
		/* The page is drawn again in the new language: what was typed
		 * in it stays. */
		const typed = [...document.querySelectorAll('#main input[id], #main textarea[id]')]
			.filter((el) => el.type !== 'file' && el.type !== 'radio' && el.type !== 'checkbox' && el.value)
			.map((el) => [el.id, el.value]);
		await route();
		for (const [id, value] of typed) {
			const el = $(id);
			if (el && !el.value)
				el.value = value;
		}
		$('lang').focus();
	}}, h('option', {value: 'en', text: 'English', selected: S.lang === 'en'}),
	h('option', {value: 'is', text: 'Íslenska', selected: S.lang === 'is'}));
	bar.append(h('div', {class: 'lang'}, h('label', {for: 'lang', class: 'visually-hidden', text: t('nav.language')}), sel));
}

export async function signOut() {
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

/* Where a person goes once signed in: back where their session ended, or
 * their own start page. */
function afterSignin() {
	const back = sessionStorage.getItem('escrowd.return');
	sessionStorage.removeItem('escrowd.return');
	if (back && back.startsWith('#/') && !back.startsWith('#/signin'))
		return back;
	return S.me && S.me.role === 'arbiter' ? '#/disputes' : '#/orders';
}

export function viewSignin() {
	const error = h('p', {class: 'error', role: 'alert'});
	const ended = sessionStorage.getItem('escrowd.ended') === '1';
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
			sessionStorage.removeItem('escrowd.ended');
			location.hash = afterSignin();
		} catch (e) {
			error.textContent = problem(e);
		}
	}},
	ended ? h('p', {class: 'note warn', id: 'session-ended', role: 'status', text: t('signin.ended')}) : null,
	/* Opened offline (from the home screen, the worker's files): the
	 * session may well be alive, escrowd is only out of reach. */
	navigator.onLine ? null : h('p', {class: 'note warn', id: 'offline', role: 'status', text: t('phone.offline')}),
	h('label', {for: 'email', text: t('signin.email')}),
	h('input', {id: 'email', name: 'email', type: 'email', autocomplete: 'username', required: true}),
	h('label', {for: 'password', text: t('signin.password')}),
	h('input', {id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true}),
	error,
	h('div', {class: 'actions'}, h('button', {class: 'primary', type: 'submit', text: t('signin.submit')})));
	page(t('signin.title'), form);
}

/* A strip of tabs wider than the screen scrolls sideways: the selected
 * tab is brought into its middle, without scrolling the page. */
export function showSelectedTab() {
	for (const strip of document.querySelectorAll('#main [role="tablist"]')) {
		const tab = strip.querySelector('[aria-selected="true"]');
		if (!tab || strip.scrollWidth <= strip.clientWidth)
			continue;
		const a = strip.getBoundingClientRect(), b = tab.getBoundingClientRect();
		strip.scrollLeft += (b.left - a.left) - (a.width - b.width) / 2;
	}
}
