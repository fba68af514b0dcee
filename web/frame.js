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

export function viewSignin() {
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
