/* Words: the catalogue, amounts and dates in the interface's language,
 * countdowns, and the words for an order's parts. */

import {S} from './state.js';
import {h} from './dom.js';

export function t(key, vars) {
	let s = Object.prototype.hasOwnProperty.call(S.T, key) ? S.T[key] : key;
	for (const [k, v] of Object.entries(vars || {}))
		s = s.split('{' + k + '}').join(String(v));
	return s;
}

export function chosenLang() {
	const saved = localStorage.getItem('escrowd.lang');
	if (saved === 'en' || saved === 'is')
		return saved;
	const langs = navigator.languages || [navigator.language || 'en'];
	return langs.some((l) => l.toLowerCase().startsWith('is')) ? 'is' : 'en';
}

export async function loadLang(lang) {
	const r = await fetch('/static/' + lang + '.json');
	S.T = await r.json();
	S.lang = lang;
	document.documentElement.lang = lang;
}

export function money(minor, currency) {
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

export function now() {
	return Date.now() + S.offset;
}

export function when(iso) {
	if (!iso)
		return '';
	return new Date(iso).toLocaleString(S.lang === 'is' ? 'is-IS' : 'en-GB',
		{dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC'}) + ' UTC';
}

/* A day, without the time: "4 Dec 2026", "4. des. 2026". `at` is an
 * RFC 3339 string or milliseconds. */
export function day(at) {
	if (at === null || at === undefined || at === '')
		return '';
	return new Date(at).toLocaleDateString(S.lang === 'is' ? 'is-IS' : 'en-GB',
		{dateStyle: 'medium', timeZone: 'UTC'});
}

/* Time left until a deadline: its parts, or null when it is up. */
export function parts(ms) {
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
export function left(ms) {
	const p = parts(ms);
	return p ? t('time.left', p) : t('time.passed');
}

/* The same in words, for screen readers: "2 days, 23 hours and 59
 * minutes left". Icelandic counts 1, 21, 31... as singular. */
export function plural(n) {
	return S.lang === 'is' ? n % 10 === 1 && n % 100 !== 11 : n === 1;
}

export function leftWords(ms) {
	const p = parts(ms);
	if (!p)
		return t('time.passed');
	const w = (n, unit) => t('time.' + unit + (plural(n) ? '_one' : '_many'), {n: n});
	return t('time.left_words', {d: w(p.d, 'day'), h: w(p.h, 'hour'), m: w(p.m, 'minute')});
}

/* A live countdown: the short form is shown, the words are read. It
 * is not a live region, which would speak every minute. */
export function countdown(iso) {
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

export function titleOf(o) {
	if (!o.items || !o.items.length)
		return o.id;
	const more = o.items.length > 1 ? ' ' + t('order.more_items', {n: o.items.length - 1}) : '';
	return o.items[0].title + more;
}

export function hasAction(o, name) {
	return (o.actions || []).some((a) => a.name === name);
}

export function actionDeadline(o, name) {
	const a = (o.actions || []).find((x) => x.name === name);
	return a ? a.deadline : null;
}

export function reasonLabel(code) {
	const key = 'reason.' + code;
	if (Object.prototype.hasOwnProperty.call(S.T, key))
		return t(key);
	const r = (S.reasons || []).find((x) => x.code === code);
	return r ? r.label : code;
}
