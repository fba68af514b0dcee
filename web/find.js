/* Finding orders (issue 17 item 5): the search and date form whose values
 * live in the address (#/orders?tab=..&q=..&from=..&to=..), so that back
 * and forward work; a list's pages by its cursor, and "Load more" along
 * them; a dispute's age in words. */

import {S} from './state.js';
import {h, $} from './dom.js';
import {t, now, plural} from './text.js';
import {api, problem} from './api.js';

/* The first screen, and each "Load more": no page draws every order. */
export const PAGE = 50;

/* The address's search: q, from, to (dates as <input type=date> gives
 * them, YYYY-MM-DD); empty ones left out. */
export function searchOf(query) {
	const out = {};
	for (const k of ['q', 'from', 'to']) {
		const v = (query.get(k) || '').trim();
		if (v)
			out[k] = v;
	}
	return out;
}

/* The address of a screen with the tab and search given. */
export function hashOf(screen, tab, search) {
	const p = new URLSearchParams();
	if (tab)
		p.set('tab', tab);
	for (const [k, v] of Object.entries(search || {}))
		p.set(k, v);
	return '#/' + screen + (p.toString() ? '?' + p.toString() : '');
}

/* The API's names for the search: q, created_after, created_before (a
 * date is the whole day). */
export function apiParams(search) {
	const p = new URLSearchParams();
	if (search.q)
		p.set('q', search.q);
	if (search.from)
		p.set('created_after', search.from);
	if (search.to)
		p.set('created_before', search.to);
	return p;
}

/* The form: a search box and two dates; searching changes the address. */
export function searchForm(screen, tab, search) {
	const field = (id, label, attrs) => h('div', {class: 'field'},
		h('label', {for: id, text: label}), h('input', {id, ...attrs}));
	const form = h('form', {class: 'find', role: 'search', 'aria-label': t('find.label'),
		onsubmit: (ev) => {
			ev.preventDefault();
			const next = {};
			for (const [k, id] of [['q', 'find-q'], ['from', 'find-from'], ['to', 'find-to']]) {
				const v = $(id).value.trim();
				if (v)
					next[k] = v;
			}
			S.focusFind = true;
			location.hash = hashOf(screen, tab, next);
		}},
	field('find-q', t('find.q'), {type: 'search', name: 'q', value: search.q || '',
		maxlength: '100', autocomplete: 'off', 'aria-describedby': 'find-q-hint'}),
	h('p', {class: 'note', id: 'find-q-hint', text: t('find.q_hint')}),
	h('div', {class: 'dates'},
		field('find-from', t('find.from'), {type: 'date', name: 'from', value: search.from || ''}),
		field('find-to', t('find.to'), {type: 'date', name: 'to', value: search.to || ''})),
	h('div', {class: 'find-actions'},
		h('button', {type: 'submit', text: t('find.go')}),
		Object.keys(search).length
			? h('a', {class: 'button', id: 'find-clear', href: hashOf(screen, tab, {}), text: t('find.clear')})
			: null));
	return form;
}

/* After a search the page is drawn again: focus goes back to the box. */
export function refocusFind() {
	if (S.focusFind) {
		S.focusFind = false;
		const q = $('find-q');
		if (q)
			q.focus();
	}
}

/* A list's pages, following its cursor: each next() GETs path (the API's
 * list, limit and filters included) after the last item of the page
 * before it, or from `after` (none: the first page), and answers the
 * page. key gives an item's cursor (its id unless told); headers go
 * with each GET. `after` is the cursor now ('' before any item came). */
export function pages(path, {after = '', key = (x) => x.id, headers} = {}) {
	const p = {
		after: after,
		async next() {
			const sep = path.includes('?') ? '&' : '?';
			const r = await api('GET', p.after ? path + sep + 'starting_after=' +
				encodeURIComponent(p.after) : path, undefined, headers);
			if (r.data.length)
				p.after = key(r.data[r.data.length - 1]);
			return r;
		},
	};
	return p;
}

/* "Load more" under the list ul: the next page from path (the API's
 * list, limit and filters included) after the last item, each drawn by
 * draw; skip leaves out what is shown elsewhere. Announces how many came
 * and moves focus to the first of them. Returns the button and its live
 * region, or null when nothing follows. */
export function loadMore(ul, path, first, draw, skip) {
	const status = h('p', {class: 'visually-hidden', role: 'status', id: 'more-status'});
	if (!first.has_more || !first.data.length)
		return [status];
	const rest = pages(path, {after: first.data[first.data.length - 1].id});
	const button = h('button', {type: 'button', id: 'more', class: 'more', onclick: async () => {
		if (button.disabled)
			return;
		button.disabled = true;
		button.textContent = t('busy.working');
		try {
			const r = await rest.next();
			const items = r.data.filter((x) => !skip || !skip(x));
			const lis = items.map(draw);
			ul.append(...lis);
			status.textContent = t('find.added', {n: items.length});
			const link = lis.length && lis[0].querySelector('a');
			if (!r.has_more || !r.data.length) {
				button.remove();
				if (!link)
					ul.focus();
			} else {
				button.disabled = false;
				button.textContent = t('find.more');
			}
			if (link)
				link.focus();
		} catch (e) {
			button.disabled = false;
			button.textContent = t('find.more');
			status.textContent = problem(e);
		}
	}, text: t('find.more')});
	return [h('div', {class: 'more-row'}, button), status];
}

/* How long ago iso was, in words: "3 days", "5 hours", "2 minutes". */
export function ageOf(iso) {
	const ms = Math.max(0, now() - Date.parse(iso));
	const days = Math.floor(ms / 86400000), hours = Math.floor(ms / 3600000);
	const [n, unit] = days ? [days, 'day'] : hours ? [hours, 'hour'] : [Math.floor(ms / 60000), 'minute'];
	if (!n)
		return null;
	return t('queue.age_' + unit + (plural(n) ? '_one' : '_many'), {n});
}
