/* The help page (issue 17 item 6): what the running policy decides, from
 * the API that decides it, so that it cannot drift from what escrowd
 * does. The windows, the buyer levels and the seller score are
 * GET /v1/rules' sentences with the policy's numbers in them; the
 * cancellation reasons and whose fault each is come from
 * GET /v1/cancellation-reasons; the dispute grounds and when each opens
 * from GET /v1/dispute-grounds. Nothing here says a number. Open to
 * anyone, signed in or not: the three answers are public. */

import {S} from './state.js';
import {h, page} from './dom.js';
import {t, reasonLabel} from './text.js';
import {api, reasons} from './api.js';

/* The rules about a person's standing: the buyer levels' thresholds and
 * the seller score. A rule that is neither a window, a level nor the
 * arbiter's recommendation (recommend_*) is shown among the other rules,
 * so that a rule added to the catalogue is never left out. */
const LEVELS = /^(watch_|restricted_|suspended_|seller_score$)/;

function says(rule) {
	return rule[S.lang] || rule.en;
}

function section(id, title, intro, ...body) {
	return h('section', {class: 'help', 'aria-labelledby': id},
		h('h2', {id: id, text: title}),
		intro ? h('p', {text: intro}) : null,
		body);
}

function sentences(rules) {
	return h('ul', {class: 'help-list'}, rules.map((r) =>
		h('li', {'data-rule': r.id, text: says(r.rule)})));
}

export async function viewHelp() {
	const [rules, grounds, table] = await Promise.all([
		api('GET', '/v1/rules').then((r) => r.data),
		api('GET', '/v1/dispute-grounds').then((r) => r.data),
		reasons(),
	]);
	const windows = rules.filter((r) => r.event);
	const levels = rules.filter((r) => !r.event && LEVELS.test(r.id));
	const advice = rules.filter((r) => !r.event && r.id.startsWith('recommend_'));
	const other = rules.filter((r) => !windows.includes(r) && !levels.includes(r) &&
		!advice.includes(r));

	const reasonRows = table.map((r) => h('tr', {'data-reason': r.code},
		h('td', {text: reasonLabel(r.code)}),
		h('td', {class: r.fault === 'seller' ? 'fault-seller' : 'fault-buyer',
			text: t('help.fault_' + r.fault)})));

	page(t('help.title'),
		h('p', {text: t('help.intro')}),
		h('nav', {class: 'help-toc', 'aria-label': t('help.contents')},
			h('ul', {}, [['help-windows', 'help.windows'], ['help-reasons', 'help.reasons'],
				['help-grounds', 'help.grounds'], ['help-levels', 'help.levels'],
				['help-other', 'help.other']].map(([id, key]) =>
				h('li', {}, h('a', {href: '#' + id, onclick: (ev) => {
					/* The address's hash names the screen: move to the
					 * section without changing it. */
					ev.preventDefault();
					document.getElementById(id).scrollIntoView();
					document.getElementById(id).focus({preventScroll: true});
				}, text: t(key)}))))),
		section('help-windows', t('help.windows'), t('help.windows_intro'), sentences(windows)),
		section('help-reasons', t('help.reasons'), t('help.reasons_intro'),
			h('table', {class: 'help-table'},
				h('thead', {}, h('tr', {},
					h('th', {scope: 'col', text: t('help.reason')}),
					h('th', {scope: 'col', text: t('help.fault')}))),
				h('tbody', {}, reasonRows))),
		section('help-grounds', t('help.grounds'), t('help.grounds_intro'),
			h('dl', {class: 'help-grounds'}, grounds.map((g) => h('div', {'data-ground': g.ground},
				h('dt', {text: t('ground.' + g.ground)}), h('dd', {text: says(g.rule)}))))),
		section('help-levels', t('help.levels'), t('help.levels_intro'), sentences(levels)),
		section('help-other', t('help.other'), null, sentences(other),
			advice.length ? h('h3', {text: t('help.advice')}) : null,
			advice.length ? sentences(advice) : null));
	for (const s of document.querySelectorAll('#main section.help h2'))
		s.tabIndex = -1;
}
