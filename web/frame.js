/* The bar at the top, signing in and out. */

import {S} from './state.js';
import {h, $, page} from './dom.js';
import {t, loadLang} from './text.js';
import {api, problem, loadMe} from './api.js';
import {route} from './router.js';

export function renderBar() {
	const bar = $('bar');
	bar.replaceChildren();
	bar.append(h('a', {class: 'brand', href: S.me ? '#/orders' : '#/signin', text: 'escrowd'}));
	if (S.me) {
		const nav = h('nav', {'aria-label': t('nav.label')});
		if (S.me.role === 'arbiter')
			nav.append(h('a', {class: 'button', href: '#/disputes', text: t('nav.disputes')}));
		else
			nav.append(h('a', {class: 'button', href: '#/orders',
				text: t(S.me.role === 'seller' ? 'nav.sales' : 'nav.orders')}),
				h('a', {class: 'button', href: '#/profile', text: t('nav.profile')}));
		nav.append(h('a', {class: 'button', href: '#/help', text: t('nav.help')}),
			h('button', {type: 'button', onclick: signOut, text: t('nav.signout')}));
		bar.append(h('span', {class: 'who', text: S.me.name + ' (' + t('role.' + S.me.role) + ')'}), nav);
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
	h('label', {for: 'email', text: t('signin.email')}),
	h('input', {id: 'email', name: 'email', type: 'email', autocomplete: 'username', required: true}),
	h('label', {for: 'password', text: t('signin.password')}),
	h('input', {id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true}),
	error,
	h('div', {class: 'actions'}, h('button', {class: 'primary', type: 'submit', text: t('signin.submit')})));
	page(t('signin.title'), form);
}
