/* What a card or an order's page says about the order now: the open
 * request, why an order closed itself, the refunds and when they arrive,
 * each in the words of the party reading it, and why a button is gone. */

import {S} from './state.js';
import {h} from './dom.js';
import {t, money, day, when, now, countdown, hasAction, reasonLabel, plural} from './text.js';
import {apiShared} from './api.js';
import {passesSentence} from './timeline.js';

const DAY_MS = 86400000, HOUR_MS = 3600000;

/* Whose words: the buyer's, the seller's, or a third party's. */
function party() {
	const role = S.me && S.me.role;
	return role === 'buyer' || role === 'seller' ? role : 'other';
}

/* A number of days as the interface says it: "1 day", "3–7 days". */
export function days(range) {
	if (range.min === range.max)
		return t(plural(range.min) ? 'days.one' : 'days.many', {n: range.min});
	return t('days.range', {min: range.min, max: range.max});
}

/* When a pending refund should arrive: its creation plus the payment
 * method's settle days (SPEC §4). */
function refundDue(r) {
	const key = 'refund.due_' + (r.expected_days.min === r.expected_days.max ? 'day' : 'range') + '.' + r.method;
	if (!Object.prototype.hasOwnProperty.call(S.T, key))
		return null;
	const from = Date.parse(r.created_at);
	return t(key, {
		date: day(from + r.expected_days.max * DAY_MS),
		from: day(from + r.expected_days.min * DAY_MS),
		to: day(from + r.expected_days.max * DAY_MS),
	});
}

/* The last day a pending refund should have arrived by (its creation
 * plus the method's most settle days), and whether that day is over: a
 * late refund says so, and what to do, instead of dates gone by. */
function lateness(r) {
	if (r.status !== 'pending' || !r.expected_days || r.method === 'balance')
		return null;
	const last = Date.parse(r.created_at) + r.expected_days.max * DAY_MS;
	const over = Math.floor(last / DAY_MS) * DAY_MS + DAY_MS;
	return now() >= over ? day(last) : null;
}

function refundLine(o, r) {
	const amount = money(r.amount, o.currency);
	const who = party();
	const key = who === 'buyer'
		? (r.status === 'settled' ? 'refund.settled.' + r.method : 'refund.' + r.status)
		: 'refund.' + who + '.' + r.status;
	const line = h('p', {class: r.status === 'failed' ? 'note warn' : 'note'}, t(key, {amount}));
	const late = lateness(r);
	if (late) {
		line.className = 'note warn';
		line.append(' ', t('refund.late.' + who, {date: late}));
	} else if (who === 'buyer' && r.status === 'pending') {
		const due = r.method === 'balance' ? t('refund.expected.balance') : refundDue(r);
		if (due)
			line.append(' ', due);
	}
	return line;
}

/* Where a cancellation's refund goes, in words: refund_to ("original",
 * "balance") and the way the order was paid. */
export function refundDestination(refundTo, method) {
	return refundTo === 'balance' || method === 'balance'
		? t('order.refund_to.balance')
		: t('order.refund_to.original.' + (method || 'card'));
}

/* A refund's tracker (issue 17 item 2): requested -> on its way ->
 * arrived (or bounced), each step with its date, and while it is on its
 * way the days it should arrive between. requested is when the buyer
 * asked (the cancellation or dispute that led to it, from the order's
 * history), else when the refund was made. */
export function refundTracker(o, r, events) {
	const made = Date.parse(r.created_at);
	const asked = (events || []).filter((e) => ['cancel', 'open_dispute'].includes(e.event) &&
		Date.parse(e.at) <= made).pop();
	const failed = r.status === 'failed';
	const steps = [
		['requested', asked ? asked.at : r.created_at, true],
		['sent', r.created_at, true],
		[failed ? 'failed' : 'arrived', r.resolved_at, r.status !== 'pending'],
	];
	const late = lateness(r);
	const due = late ? t('refund.step.late', {date: late}) : r.status === 'pending' && r.expected_days
		? t(r.expected_days.min === r.expected_days.max ? 'refund.step.due_day' : 'refund.step.due_range', {
			date: day(made + r.expected_days.max * DAY_MS),
			from: day(made + r.expected_days.min * DAY_MS),
			to: day(made + r.expected_days.max * DAY_MS),
		})
		: null;
	const open = steps.findIndex((s) => !s[2]);
	const current = open < 0 ? steps.length - 1 : open - 1;
	return h('section', {class: 'refund-tracker', 'data-refund': r.id, 'data-status': r.status,
		'aria-label': t('refund.tracker', {amount: money(r.amount, o.currency)})},
	h('h3', {text: t('refund.tracker', {amount: money(r.amount, o.currency)})}),
	h('ol', {class: 'steps'}, steps.map(([name, at, done], i) => h('li', {
		class: 'step' + (done ? ' done' : '') + (name === 'failed' ? ' warn' : ''),
		'data-step': name,
		'aria-current': i === current ? 'step' : null,
	},
	h('span', {class: 'step-name', text: t('refund.step.' + name)}),
	done && at ? h('time', {datetime: at, text: day(at)}) : null,
	!done && due ? h('span', {class: 'step-due' + (late ? ' warn' : ''), text: due}) : null))));
}

/* An ended order's history does not change: fetched once a session. */
const histories = new Map();

function history(id) {
	if (!histories.has(id)) {
		histories.set(id, apiShared('/v1/orders/' + encodeURIComponent(id) + '/events?limit=100')
			.then((r) => r.data)
			.catch((e) => {
				histories.delete(id);
				throw e;
			}));
	}
	return histories.get(id);
}

/* A window as long as it was: "72 hours", "24 hours", "7 days": from
 * what opened it to the deadline's due time, which the system's event
 * carries (it may have fired later, after a restart or a jump of the
 * clock). */
function span(ms) {
	const hours = Math.max(1, Math.round(ms / HOUR_MS));
	if (hours > 72 && hours % 24 === 0)
		return t(plural(hours / 24) ? 'span.day_one' : 'span.day_many', {n: hours / 24});
	return t(plural(hours) ? 'span.hour_one' : 'span.hour_many', {n: hours});
}

/* Why the system cancelled the order, from its history: the deadline
 * that passed and how long it had run. Null when a person ended it. */
function closedBecause(o, events) {
	const end = events.find((e) => e.to === 'cancelled' && e.from !== 'cancelled');
	if (!end || end.actor !== 'system')
		return null;
	const before = events.filter((e) => e.version < end.version);
	let opened = null;
	if (end.event === 'payment_deadline')
		opened = o.created_at;
	else if (end.event === 'ship_deadline')
		opened = o.paid_at;
	else if (end.event === 'response_deadline') {
		const asked = before.filter((e) => e.event === 'cancel' && e.to === 'cancellation_requested').pop();
		opened = asked ? asked.at : null;
	}
	const key = 'closed.' + end.event + '.' + party();
	if (!opened || !Object.prototype.hasOwnProperty.call(S.T, key))
		return null;
	/* The deadline's due time, not when it fired: it may fire late. */
	const due = end.detail && end.detail.due_at ? end.detail.due_at : end.at;
	return t(key, {span: span(Date.parse(due) - Date.parse(opened))});
}

/* The line that says why a cancelled order closed itself: drawn empty,
 * filled once its history is read. */
function closedLine(o) {
	const line = h('p', {class: 'note closed-why', hidden: true});
	history(o.id).then((events) => {
		const why = closedBecause(o, events);
		if (why) {
			line.textContent = why;
			line.hidden = false;
		}
	}, () => {});
	return line;
}

/* The deadline that runs in each status, as the order's deadlines name
 * it; cancellation_requested's response deadline is said with the
 * request. */
const RUNNING = {
	awaiting_payment: 'payment',
	awaiting_shipment: 'ship',
	cancellation_requested: 'ship',
	shipped: 'protection',
	delivered: 'confirm',
};

/* What happens when a deadline passes: the API's deadline_rules
 * sentence (in the interface's language), then the same from the rule's
 * template with the amounts as the screens write them (timeline.js). */
function ruleText(o, name) {
	const r = o.deadline_rules && o.deadline_rules[name];
	if (!r || !r.text)
		return null;
	return rulePasses(r, o.currency);
}

export function rulePasses(r, currency) {
	const span = h('span', {class: 'deadline-rule', text: r.text});
	passesSentence(r, currency).then((said) => {
		if (said)
			span.textContent = said;
	}, () => {});
	return span;
}

/* The running deadline (issue: deadlines shown as countdowns, SPEC's
 * Web part): when, in the reader's words, the time left, and on the
 * order's page what happens then. */
function deadlineLine(o, full) {
	/* A completed order: how long the buyer may still open a dispute
	 * (the disputes action's deadline, dispute_after_completion). */
	const late = o.status === 'completed' && (o.actions || []).find((a) => a.name === 'disputes' && a.deadline);
	if (late)
		return h('p', {class: 'note deadline', 'data-deadline-name': 'dispute_after_completion'},
			t('deadline.dispute_after.' + party(), {date: when(late.deadline)}), ' ', countdown(late.deadline),
			full && late.deadline_rule && late.deadline_rule.text
				? [' ', rulePasses(late.deadline_rule, o.currency)] : null);
	const name = RUNNING[o.status];
	const due = name && o.deadlines && o.deadlines[name];
	/* A card counts down one deadline: an open request's answer. */
	if (!due || (!full && o.status === 'cancellation_requested'))
		return null;
	const text = full ? ruleText(o, name) : null;
	return h('p', {class: 'note deadline', 'data-deadline-name': name},
		t('deadline.' + name + '.' + party(), {date: when(due)}), ' ',
		countdown(due), text ? [' ', text] : null);
}

/* What a card or the order's page (full: with what happens when a
 * deadline passes) says about the order now. */
export function statusLines(o, full) {
	const lines = [];
	const buyer = S.me.role === 'buyer';
	const c = o.cancellation;
	if (c && c.open) {
		const due = o.deadlines.response;
		const text = full && due ? ruleText(o, 'response') : null;
		lines.push(h('p', {class: 'note', 'data-deadline-name': 'response'},
			buyer ? t('cancel.waiting') : t('cancel.asked', {reason: reasonLabel(c.reason)}),
			' ', due ? countdown(due) : null,
			text ? [' ', text] : null));
		if (!buyer && c.comment)
			lines.push(h('p', {}, t('cancel.comment') + ' ', h('q', {text: c.comment})));
	} else if (c && c.rejection_message && o.status === 'awaiting_shipment') {
		lines.push(h('p', {class: 'note'}, t(buyer ? 'cancel.rejected' : 'cancel.you_rejected') + ' ',
			h('q', {text: c.rejection_message})));
	}
	lines.push(deadlineLine(o, full));
	if (o.status === 'cancelled')
		lines.push(closedLine(o));
	for (const r of o.refunds || [])
		lines.push(refundLine(o, r));
	if (buyer && ['shipped', 'delivered'].includes(o.status))
		lines.push(h('p', {class: 'note'}, t('order.shipped_no_cancel')));
	if (buyer && o.status === 'awaiting_shipment' && !hasAction(o, 'cancel') && o.cancellation &&
	    o.cancellation.requests_made >= o.cancellation.requests_allowed)
		lines.push(h('p', {class: 'note warn'}, t('cancel.limit')));
	if (buyer && S.level === 'suspended' && o.status === 'awaiting_shipment' && !hasAction(o, 'cancel'))
		lines.push(h('p', {class: 'note warn'}, t('cancel.suspended')));
	if (o.dispute)
		lines.push(h('p', {class: 'note'}, t('dispute.state.' + o.dispute.status), ' ',
			h('a', {href: '#/dispute/' + o.dispute.id, text: t('dispute.open_page')})));
	return lines;
}
