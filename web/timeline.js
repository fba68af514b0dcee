/* An order's history as sentences (issue 17 item 2): who did what, when,
 * each line from GET /v1/orders/{id}/events. What escrowd did by itself
 * (a deadline that passed) names its rule and says the rule's sentence
 * (item 7), from GET /v1/rules' templates in the interface's language,
 * filled with the numbers the event kept. */

import {S} from './state.js';
import {h} from './dom.js';
import {t, money, when, day, plural, reasonLabel} from './text.js';
import {api, apiShared} from './api.js';
import {refundDestination} from './order-status.js';

const HOUR_MS = 3600000;

/* The catalogue of rules, read once a session (it is the running
 * policy's; an event's numbers are its own). */
let rules = null;
function ruleCatalogue() {
	if (!rules) {
		rules = apiShared('/v1/rules').then((r) => new Map(r.data.map((x) => [x.id, x])))
			.catch((e) => {
				rules = null;
				throw e;
			});
	}
	return rules;
}

/* A window as the API's sentences say it: "72 hours", "7 days". */
function windowWords(ms) {
	const hours = Math.max(1, Math.round(ms / HOUR_MS));
	if (hours > 72 && hours % 24 === 0)
		return t(plural(hours / 24) ? 'span.day_one' : 'span.day_many', {n: hours / 24});
	return t(plural(hours) ? 'span.hour_one' : 'span.hour_many', {n: hours});
}

/* Fill a template of GET /v1/rules with an event's numbers: {window},
 * {amount}, {method}, {from}, {to}, and {name:one|many} for a noun after
 * a number. */
function fill(tpl, x, vars) {
	return tpl.replace(/\{(\w+)(?::([^|}]*)\|([^}]*))?\}/g, (all, name, one, many) => {
		if (one !== undefined)
			return x[name] === undefined ? all : x[name] + ' ' + (plural(x[name]) ? one : many);
		if (Object.prototype.hasOwnProperty.call(vars, name))
			return vars[name];
		return x[name] === undefined ? all : String(x[name]);
	});
}

/* The numbers of an explanation, as the screens write them. */
function varsOf(x, currency) {
	return {
		window: windowWords(x.window_ms || 0),
		amount: x.amount === null || x.amount === undefined ? '' : money(x.amount, x.currency || currency),
		method: x.method ? t('timeline.method.' + x.method) : '',
		from: x.expected_from ? day(x.expected_from) : '',
		to: x.expected_to ? day(x.expected_to) : '',
		released: x.released === undefined ? '' : money(x.released, x.currency || currency),
		percent: x.percent === undefined ? '' : x.percent + '%',
	};
}

/* The templates of x's rule in the interface's language (else English),
 * from the catalogue of GET /v1/rules; undefined when it has none. */
function templatesOf(x, catalogue) {
	const rule = catalogue && catalogue.get(x.rule);
	return rule && rule.templates && (rule.templates[S.lang] || rule.templates.en);
}

/* What happens when a running deadline passes (an order's
 * deadline_rules entry, a dispute's deadline_rule): the rule's `passes`
 * sentence in the interface's language with the amounts written as the
 * screens write them ("€74.00", not "74.00 EUR"); null when the
 * catalogue has none, and the API's own sentence stands. */
export async function passesSentence(x, currency) {
	const tpl = templatesOf(x, await ruleCatalogue().catch(() => null));
	if (!tpl || !tpl.passes)
		return null;
	const said = fill(tpl.passes, x, varsOf(x, currency));
	return /\{\w+/.test(said) ? null : said;
}

/* What escrowd decided by a rule, in the interface's language and a
 * person's words: the rule's own sentence with the event's numbers ("The
 * seller answers a cancellation request within 72 hours.") and what
 * passing it did ("The request was approved automatically, ..."), not
 * the rule's id. A refund expected on one day says that day once. The
 * event's own English text when the catalogue has no such rule. */
function ruleSentence(x, currency, catalogue) {
	const tpl = templatesOf(x, catalogue);
	if (!tpl)
		return {rule: '', text: x.text};
	const vars = varsOf(x, currency);
	let passed = tpl.passed;
	if (vars.from && vars.from === vars.to)
		passed = passed.replace(/\{from\}.*?\{to\}/, '{to}');
	passed = fill(passed, x, vars);
	/* The templates begin with the rule's id ("response_window of 72
	 * hours passed: ..."): what follows the colon is what it did. */
	const colon = passed.indexOf(': ');
	if (!passed.startsWith(x.rule) || colon < 0)
		return {rule: '', text: passed};
	const did = passed.slice(colon + 2);
	const own = tpl.rule ? fill(tpl.rule, x, vars) : '';
	return {rule: /\{\w+/.test(own) ? '' : own, text: did.charAt(0).toLocaleUpperCase(S.lang) + did.slice(1)};
}

/* Who did it, as the reader sees it. */
function who(e) {
	if (e.actor_id && S.me && e.actor_id === S.me.id)
		return 'you';
	return {buyer: 'buyer', seller: 'seller', arbiter: 'arbiter', operator: 'marketplace',
		system: 'escrowd'}[e.actor] || 'marketplace';
}

/* The sentence's key: a party's event has its own for "you"
 * ("You asked to cancel") and for the other party ("The buyer asked to
 * cancel"); an unpaid order's cancel ended it at once. */
function sentence(e, o) {
	const d = e.detail || {};
	const w = who(e);
	let ev = e.event;
	if (ev === 'cancel' && e.to === 'cancelled')
		ev = 'cancel_unpaid';
	const base = 'timeline.' + ev;
	const key = Object.prototype.hasOwnProperty.call(S.T, base + '.' + w) ? base + '.' + w : base;
	const vars = {
		who: t('timeline.who.' + w),
		amount: d.amount !== undefined ? money(d.amount, o.currency)
			: d.refund_amount !== undefined ? money(d.refund_amount, o.currency) : '',
		method: d.payment_method ? t('timeline.paid_by.' + d.payment_method) : '',
		reason: d.reason ? reasonLabel(d.reason) : '',
		refund_to: d.refund_to ? refundDestination(d.refund_to, o.payment_method) : '',
		carrier: d.carrier || '',
		tracking: d.tracking_number || '',
		event: t('event.' + e.event),
	};
	if (Object.prototype.hasOwnProperty.call(S.T, key))
		return t(key, vars);
	return t('timeline.other', vars);
}

function line(e, o, catalogue) {
	const d = e.detail || {};
	const li = h('li', {'data-event': e.event, 'data-actor': e.actor},
		h('time', {datetime: e.at, text: when(e.at)}), ' ',
		h('span', {class: 'what', text: sentence(e, o)}));
	/* What a person wrote with it: a rejection's message, an arbiter's
	 * reason. */
	const said = d.message || (e.event === 'resolve_dispute' ? d.reason : null);
	if (said)
		li.append(' ', h('q', {text: said}));
	/* What escrowd decided by a rule: a deadline that passed, the fee
	 * kept from money released to the seller. */
	for (const x of [d.explanation, d.fee_explanation]) {
		if (!x || !x.rule)
			continue;
		const rs = ruleSentence(x, o.currency, catalogue);
		li.append(h('p', {class: 'rule', 'data-rule': x.rule},
			rs.rule ? [h('span', {class: 'rule-id', text: rs.rule}), ' '] : null,
			h('span', {class: 'rule-text', text: rs.text}), ' ',
			h('a', {href: '#/help', text: t('timeline.rules_link')})));
	}
	return li;
}

/* The order's history, oldest first: drawn empty, filled once read. */
export function timeline(o) {
	const list = h('ol', {class: 'timeline', 'aria-busy': 'true'});
	const box = h('section', {class: 'timeline-box', 'aria-labelledby': 'timeline-title'},
		h('h2', {id: 'timeline-title', text: t('timeline.title')}), list);
	Promise.all([
		api('GET', '/v1/orders/' + encodeURIComponent(o.id) + '/events?limit=100').then((r) => r.data),
		ruleCatalogue().catch(() => null),
	]).then(([events, catalogue]) => {
		list.replaceChildren(...events.map((e) => line(e, o, catalogue)));
		list.removeAttribute('aria-busy');
		box.dispatchEvent(new CustomEvent('history', {detail: events}));
	}, () => {
		list.replaceChildren(h('li', {text: t('timeline.unavailable')}));
		list.removeAttribute('aria-busy');
	});
	return box;
}
