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
	/* The page's own words, outside what the screens draw. */
	document.querySelector('.skip').textContent = t('nav.skip');
	document.getElementById('loading').textContent = t('loading');
}

/* The locale of the interface's language, for Intl. */
export function locale() {
	return S.lang === 'is' ? 'is-IS' : 'en-GB';
}

/* Does this browser's Intl know the interface's locale? Some builds of
 * Chromium carry only a few locales' data (Debian's has no Icelandic),
 * and then Intl falls back to a root style ("€ 29.00", "Dec 4, 2026")
 * that no Icelandic reader writes. The catalogue's `format.*` entries
 * then say how the language writes numbers and dates. */
function intlKnows() {
	return Intl.NumberFormat.supportedLocalesOf([locale()]).length > 0;
}

function group(digits) {
	return digits.replace(/\B(?=(\d{3})+(?!\d))/g, t('format.group'));
}

/* The digits of a currency's minor unit as escrowd counts its amounts
 * (ISO 4217; src/core/money.c, esc_currency_digits): 0 for ISK or JPY, 3
 * for KWD, else 2. Not Intl's: its CLDR data has fewer for some (HUF,
 * IDR, COP, IQD...), and an amount of 2599 HUF minor units is 25.99 Ft,
 * not 2,599 Ft, on the server's side of every total and refund. */
const DIGITS_0 = 'BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF'.split(' ');
const DIGITS_3 = 'BHD IQD JOD KWD LYD OMR TND'.split(' ');

export function currencyDigits(currency) {
	return DIGITS_0.includes(currency) ? 0 : DIGITS_3.includes(currency) ? 3 : 2;
}

/* An amount in minor units, in the interface's language: "€29.00",
 * "29,00 €", with the currency's digits (currencyDigits): 2 for EUR, 0
 * for ISK or JPY. */
export function money(minor, currency) {
	const digits = currencyDigits(currency);
	try {
		const f = new Intl.NumberFormat(intlKnows() ? locale() : 'en', {
			style: 'currency',
			currency: currency,
			currencyDisplay: 'narrowSymbol',
			minimumFractionDigits: digits,
			maximumFractionDigits: digits,
		});
		const value = minor / 10 ** digits;
		if (intlKnows())
			return f.format(value);
		const abs = Math.abs(minor).toString().padStart(digits + 1, '0');
		const whole = abs.slice(0, abs.length - digits), frac = abs.slice(abs.length - digits);
		const n = (minor < 0 ? '-' : '') + group(whole) + (digits ? t('format.decimal') + frac : '');
		const symbol = f.formatToParts(value).find((p) => p.type === 'currency').value;
		return t('format.money', {n: n, symbol: symbol});
	} catch (e) {
		return (minor / 10 ** digits).toFixed(digits) + ' ' + currency;
	}
}

/* A date's parts in UTC, for the catalogue's formats. */
function dateParts(at) {
	const d = new Date(at);
	return {
		d: d.getUTCDate(), m: d.getUTCMonth() + 1, y: d.getUTCFullYear(),
		mon: t('format.months').split(',')[d.getUTCMonth()],
		H: String(d.getUTCHours()).padStart(2, '0'), M: String(d.getUTCMinutes()).padStart(2, '0'),
	};
}

/* Minor units per major unit of a currency (100 for EUR, 1 for ISK), for
 * amount fields. */
export function minorPerUnit(currency) {
	return 10 ** currencyDigits(currency);
}

/* Minor units as a number field's value: 1050 EUR -> "10.50", 1050 ISK
 * -> "1050". */
export function decimalOf(minor, currency) {
	const per = minorPerUnit(currency);
	return (minor / per).toFixed(Math.round(Math.log10(per)));
}

/* Why a user's reputation is what it is. escrowd's own sentence names the
 * rule and the numbers, in English; in another language the counts
 * behind it are said from the catalogue. */
export function repWhy(rep) {
	if (S.lang === 'en' || !rep.counts)
		return rep.why;
	const c = rep.counts;
	/* A count with its noun, singular or plural as the language counts. */
	const n = (name, k) => t('count.' + name + (plural(k) ? '_one' : '_many'), {n: k});
	if (rep.role === 'buyer')
		return t('rep.buyer_counts', {
			cancellations_30_days: n('cancellation', c.cancellations_30_days),
			cancellations_90_days: c.cancellations_90_days,
			rate: percent(c.cancellations_90_days, c.paid_orders_90_days),
			paid_orders_90_days: n('paid_order', c.paid_orders_90_days),
			disputes_lost_90_days: n('dispute_lost', c.disputes_lost_90_days),
		});
	return t('rep.seller_counts', {
		orders_90_days: n('order', c.orders_90_days),
		seller_fault_cancellations: n('cancellation', c.seller_fault_cancellations),
		missed_ship_deadlines: n('missed_ship', c.missed_ship_deadlines),
		disputes_lost: n('dispute_lost', c.disputes_lost),
		invalid_tracking_numbers: n('invalid_tracking', c.invalid_tracking_numbers),
	});
}

/* part of whole as a percentage with at most one decimal, in the
 * language's way: "16.7", "16,7", "20". */
function percent(part, whole) {
	if (!whole)
		return '0';
	const v = Math.round(part * 1000 / whole) / 10;
	const [i, f] = v.toFixed(1).split('.');
	return f === '0' ? i : i + t('format.decimal') + f;
}

export function now() {
	return Date.now() + S.offset;
}

export function when(iso) {
	if (!iso)
		return '';
	if (!intlKnows())
		return t('format.datetime', dateParts(iso)) + ' UTC';
	return new Date(iso).toLocaleString(locale(),
		{dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC'}) + ' UTC';
}

/* A day, without the time: "4 Dec 2026", "4. des. 2026". `at` is an
 * RFC 3339 string or milliseconds. */
export function day(at) {
	if (at === null || at === undefined || at === '')
		return '';
	if (!intlKnows())
		return t('format.date', dateParts(at));
	return new Date(at).toLocaleDateString(locale(),
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
