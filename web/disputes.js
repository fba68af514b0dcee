/* Disputes: the page with evidence, messages and answers, and the
 * arbiters' queue. */

import {S} from './state.js';
import {h, toast, page} from './dom.js';
import {t, money, minorPerUnit, decimalOf, when, day, countdown, titleOf, repWhy} from './text.js';
import {api, problem, upload, evidenceProblem, EVIDENCE_MAX} from './api.js';
import {shipment, returnShipment} from './order.js';
import {rulePasses, refundDestination} from './order-status.js';
import {dialog, busy, filled} from './dialogs.js';
import {route} from './router.js';
import {PAGE, loadMore, ageOf} from './find.js';

/* What each role may answer on the dispute page. */
export const DISPUTE_ACTIONS = {
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

/* An amount field in the currency's major units, with its bounds shown
 * beside it and kept by the browser. */
function amountField(name, label, currency, min, max, value) {
	const major = (minor) => decimalOf(minor, currency);
	return [
		h('label', {for: 'f-' + name, text: label + ' ' + t('field.range', {min: money(min, currency), max: money(max, currency)})}),
		h('div', {class: 'amount'},
			h('input', {id: 'f-' + name, name: name, type: 'number', required: true, inputmode: 'decimal',
				step: major(1), min: major(min), max: major(max),
				value: value === null || value === undefined ? null : major(value)}),
			h('span', {class: 'currency', text: currency})),
	];
}

/* An answer without fields moves money or ends a step for good: it asks
 * once, naming the order, the amount and what follows (as accepting a
 * cancellation does). */
function sureDialog(d, o, name, path) {
	const cur = d.currency || o.currency;
	const held = o.paid - o.refunded - o.released;
	const ret = d.outcome === 'return_and_refund';
	const amount = name === 'accept-offer' ? d.offer : name === 'return-received' ? d.agreed_amount : d.amount;
	const vars = {title: titleOf(o), id: o.id, amount: money(amount || 0, cur),
		held: money(held, cur), rest: money(Math.max(0, held - (amount || 0)), cur)};
	const key = 'sure.dispute.' + name;
	const text = t(key + (ret && (name === 'accept' || name === 'accept-offer') ? '.return' : '') + '.text', vars);
	dialog(t(key + '.title'), [
		h('p', {id: 'sure-text', text: text}),
		name === 'escalate' ? null : h('p', {class: 'note', text: t('sure.final')}),
	], t(key + '.ok'), async () => {
		await api('POST', path, {});
		toast(t('done.dispute'));
	});
}

export function disputeAnswer(d, name, button, o) {
	const path = '/v1/disputes/' + encodeURIComponent(d.id) + '/' + name;
	const cur = d.currency, per = minorPerUnit(cur);
	const fields = {
		'counter-offer': [['amount', 'number'], ['message', 'textarea', false]],
		'reject': [['message', 'textarea', true]],
		'return-shipment': [['carrier', 'text'], ['tracking_number', 'text']],
		'decide': [['refund_amount', 'number'], ['reason', 'textarea', true]],
	}[name];
	if (!fields && o)
		return sureDialog(d, o, name, path);
	if (!fields)
		return busy(button, () => api('POST', path, {}).then(() => { toast(t('done.dispute')); route(); },
			(e) => toast(problem(e))));
	const body = [];
	for (const [f, kind, required] of fields) {
		if (kind === 'number') {
			/* An offer is smaller than what was asked; a decision is 0 up
			 * to it, starting at the recommendation. */
			const rec = d.recommendation ? d.recommendation.refund_amount : null;
			body.push(...(f === 'amount'
				? amountField(f, t('field.' + f), cur, 1, d.amount - 1, null)
				: amountField(f, t('field.' + f), cur, 0, d.amount, rec)));
			continue;
		}
		body.push(h('label', {for: 'f-' + f, text: t('field.' + f)}));
		body.push(kind === 'textarea'
			? h('textarea', {id: 'f-' + f, name: f, required: required !== false, maxlength: '1000'})
			: h('input', {id: 'f-' + f, name: f, type: kind, required: true, maxlength: '64'}));
	}
	dialog(t(DISPUTE_ACTIONS[name]), body, t('dialog.ok'), async (form) => {
		const payload = {};
		for (const [f, kind, required] of fields)
			if (kind !== 'number' && required !== false)
				filled(form[f], t('field.' + f));
		for (const [f, kind] of fields) {
			const v = form[f].value;
			if (kind === 'number')
				payload[f] = Math.round(Number(v) * per);
			else if (v.trim())
				payload[f] = v;
		}
		await api('POST', path, payload);
		toast(t('done.dispute'));
	});
}

/* Who did a step of the dispute, in the order page's words ("The
 * marketplace", not the operator). */
function whoDid(e) {
	if (S.me && e.actor === S.me.role && e.actor !== 'arbiter')
		return t('timeline.who.you');
	return t('timeline.who.' + ({buyer: 'buyer', seller: 'seller', arbiter: 'arbiter',
		system: 'escrowd'}[e.actor] || 'marketplace'));
}

function fact(key, ...value) {
	return [h('dt', {text: t(key)}), h('dd', {}, ...value)];
}

/* The order the dispute is about, as the arbiter weighs it: the total,
 * the shipment, the promised and the delivery dates. */
function orderFacts(o) {
	return h('section', {'aria-labelledby': 'dispute-order-h'},
		h('h2', {id: 'dispute-order-h', text: t('dispute.the_order')}),
		h('dl', {class: 'facts', id: 'dispute-order'},
			fact('order.number', h('a', {href: '#/order/' + o.id, text: o.id})),
			fact('order.total', money(o.total, o.currency)),
			o.paid_at ? fact('order.paid', h('time', {datetime: o.paid_at, text: when(o.paid_at)})) : null,
			shipment(o),
			o.promised_delivery_at ? fact('order.promised',
				h('time', {datetime: o.promised_delivery_at, text: day(o.promised_delivery_at)})) : null,
			fact('order.delivered', o.delivered_at
				? h('time', {datetime: o.delivered_at, text: day(o.delivered_at)}) : t('dispute.not_delivered'))));
}

export async function viewDispute(id) {
	const d = await api('GET', '/v1/disputes/' + encodeURIComponent(id));
	const o = await api('GET', '/v1/orders/' + encodeURIComponent(d.order_id));
	const cur = o.currency;
	const rule = d.deadline && d.deadline_rule && d.deadline_rule.text ? rulePasses(d.deadline_rule, cur) : null;
	/* Each party's reputation with its counts, so that why it is what it
	 * is reads in the interface's language (repWhy): the dispute's own
	 * says it in English. */
	const [buyerRep, sellerRep] = S.lang === 'en' ? [d.buyer_reputation, d.seller_reputation]
		: await Promise.all([d.buyer_reputation, d.seller_reputation].map((r) =>
			api('GET', '/v1/users/' + encodeURIComponent(r.user_id) + '/reputation').catch(() => r)));
	const facts = h('dl', {class: 'facts'},
		h('dt', {text: t('dispute.state')}), h('dd', {text: t('dispute.state.' + d.status)}),
		h('dt', {text: t('dispute.ground')}), h('dd', {text: t('ground.' + d.ground)}),
		h('dt', {text: t('dispute.outcome')}), h('dd', {text: t('outcome.' + d.outcome)}),
		h('dt', {text: t('dispute.asked_label')}), h('dd', {text: money(d.amount, cur)}),
		fact('order.refund_to', refundDestination(d.refund_to, o.payment_method)),
		d.offer !== null ? [h('dt', {text: t('dispute.offer')}), h('dd', {text: money(d.offer, cur)})] : null,
		d.agreed_amount !== null && d.agreed_amount !== undefined
			? fact('dispute.agreed', money(d.agreed_amount, cur)) : null,
		returnShipment(d.return_shipment),
		/* Whose time it is and what happens then: the API's sentence. */
		d.deadline ? [h('dt', {text: t('dispute.deadline')}), h('dd', {id: 'dispute-deadline'},
			t('dispute.until', {date: when(d.deadline)}), ' ', countdown(d.deadline),
			rule ? [' ', rule] : null)] : null,
		d.refund_amount !== null ? [h('dt', {text: t('dispute.refunded')}), h('dd', {text: money(d.refund_amount, cur)})] : null,
		h('dt', {text: t('dispute.buyer')}), h('dd', {id: 'buyer-rep'}, t('level.' + d.buyer_reputation.level),
			buyerRep.why ? ' (' + repWhy(buyerRep) + ')' : null),
		h('dt', {text: t('dispute.seller')}), h('dd', {id: 'seller-rep'}, t('dispute.score', {score: d.seller_reputation.score}),
			sellerRep.why ? ' (' + repWhy(sellerRep) + ')' : null));
	const parts = [];
	if (S.flash && S.flash.dispute === d.id) {
		parts.push(h('p', {class: 'note warn', id: 'dispute-flash', role: 'alert', text: S.flash.text}));
		S.flash = null;
	}
	parts.push(facts, h('p', {}, h('q', {text: d.description})), orderFacts(o));
	if (d.seller_message)
		parts.push(h('p', {}, t('dispute.seller_wrote') + ' ', h('q', {text: d.seller_message})));
	/* A decided dispute shows the decision with its reason, beside the
	 * recommendation as it stood when the arbiter decided (the decision
	 * itself moves the reputations that a new one would be drawn from). */
	const decided = d.decision_reason && (d.status === 'resolved' || d.status === 'awaiting_return');
	if (decided)
		parts.push(h('section', {class: 'note', id: 'decision', 'aria-labelledby': 'decision-h'},
			h('h2', {id: 'decision-h', text: d.status === 'resolved'
				? t('dispute.decision', {amount: money(d.refund_amount, cur)})
				: t('dispute.decision_return', {amount: money(d.agreed_amount, cur)})}),
			h('p', {}, t('dispute.decision_reason') + ' ', h('q', {text: d.decision_reason}))));
	if (d.recommendation)
		parts.push(h('section', {class: 'note', id: 'recommendation', 'aria-labelledby': 'rec-h'},
			h('h2', {id: 'rec-h', text: t(decided ? 'dispute.recommendation_then' : 'dispute.recommendation',
				{amount: money(d.recommendation.refund_amount, cur)})}),
			h('ul', {}, d.recommendation.reasons.map((r) => h('li', {text: r})))));
	parts.push(h('h2', {text: t('dispute.evidence_list')}),
		d.evidence.length ? h('ul', {class: 'evidence'}, d.evidence.map((e) => h('li', {},
			e.content_type.startsWith('image/')
				? h('img', {src: e.url, alt: t('dispute.photo', {name: e.filename || e.id, role: t('role.' + e.role)}),
					width: '160'})
				: null,
			' ', h('a', {href: e.url, text: (e.filename || e.id) + ' (' + t('role.' + e.role) + ')'}))))
			: h('p', {text: t('dispute.no_evidence')}));
	if (d.status !== 'resolved' && S.me.role !== 'arbiter') {
		const input = h('input', {id: 'more-evidence', type: 'file', multiple: true,
			accept: 'image/jpeg,image/png,application/pdf'});
		const said = h('p', {class: 'error', id: 'evidence-error', role: 'alert'});
		parts.push(h('label', {for: 'more-evidence', text: t('dispute.evidence')}), input,
			h('button', {type: 'button', onclick: (ev) => busy(ev.currentTarget, async () => {
				said.textContent = '';
				const wrong = await evidenceProblem(input.files, EVIDENCE_MAX - d.evidence.length);
				if (wrong) {
					said.textContent = wrong;
					return;
				}
				try {
					await upload(d.id, input.files);
					await route();
				} catch (e) {
					said.textContent = e.file ? t('evidence.failed', {name: e.file, why: problem(e)}) : problem(e);
				}
			}), text: t('dispute.add_evidence')}), said);
	}
	parts.push(h('h2', {text: t('dispute.history')}), h('ol', {id: 'history'}, (d.history || []).map((e) =>
		h('li', {text: when(e.at) + ' · ' + whoDid(e) + ' · ' + t('event.' + e.event)}))));
	parts.push(h('h2', {text: t('dispute.messages')}), (d.messages || []).length
		? h('ul', {id: 'messages'}, d.messages.map((m) => h('li', {}, t('role.' + m.role) + ': ', h('q', {text: m.body}))))
		: h('p', {text: t('dispute.no_messages')}));
	if (S.me.role !== 'arbiter') {
		const box = h('textarea', {id: 'new-message', maxlength: '1000'});
		parts.push(h('label', {for: 'new-message', text: t('dispute.write')}), box,
			h('button', {type: 'button', onclick: (ev) => {
				if (!box.value.trim())
					return;
				busy(ev.currentTarget, async () => {
					try {
						await api('POST', '/v1/orders/' + encodeURIComponent(d.order_id) + '/messages',
							{body: box.value});
						await route();
					} catch (e) {
						toast(problem(e));
					}
				});
			}, text: t('dispute.send')}));
	}
	const buttons = d.actions.map((a) => h('button', {
		type: 'button', class: a.name === 'decide' ? 'primary' : null,
		onclick: (ev) => disputeAnswer(d, a.name, ev.currentTarget, o), text: t(DISPUTE_ACTIONS[a.name]),
	}));
	/* An arbiter may lift a suspended buyer's suspension (SPEC §6). */
	if (S.me.role === 'arbiter' && d.buyer_reputation.level === 'suspended')
		buttons.push(h('button', {type: 'button', onclick: () => liftDialog(d.buyer_reputation.user_id),
			text: t('lift.title')}));
	parts.push(h('div', {class: 'actions'}, buttons));
	page(t('dispute.title_page', {title: titleOf(o)}), parts);
}

export function liftDialog(userId) {
	dialog(t('lift.title'), [
		h('p', {text: t('lift.explain')}),
		h('label', {for: 'f-lift', text: t('field.reason')}),
		h('textarea', {id: 'f-lift', name: 'reason', required: true, maxlength: '1000'}),
	], t('dialog.ok'), async (form) => {
		filled(form.reason, t('field.reason'));
		await api('POST', '/v1/users/' + encodeURIComponent(userId) + '/suspension/lift',
			{reason: form.reason.value});
		toast(t('lift.done'));
	});
}

/* A card of the arbiters' queue: the order (its items and number), both
 * parties, the amount asked, how long the dispute has been open, and the
 * buyer's words. */
function queueCard(d) {
	return h('li', {class: 'card queue-card', 'data-dispute': d.id},
		h('div', {class: 'head'},
			h('a', {class: 'title', href: '#/dispute/' + d.id, text: titleOf({id: d.order_id, items: d.items})}),
			h('span', {class: 'state', text: t('dispute.state.' + d.status)})),
		h('p', {class: 'queue-number', text: t('queue.order', {id: d.order_id})}),
		h('p', {class: 'queue-parties'},
			t('order.buyer_is', {name: d.buyer_name || '—'}), ' · ', t('order.seller_is', {name: d.seller_name || '—'})),
		h('p', {class: 'queue-ask'},
			h('strong', {text: t('dispute.asked', {amount: money(d.amount, d.currency)})}),
			' · ', t('ground.' + d.ground),
			' · ', h('span', {class: 'queue-age', text: ageOf(d.opened_at)
				? t('queue.opened', {age: ageOf(d.opened_at)}) : t('queue.opened_now')})),
		h('p', {}, h('q', {text: d.description})));
}

/* The arbiters' queue, oldest first, a page at a time. */
export async function viewDisputes() {
	const path = '/v1/disputes?limit=' + PAGE;
	const r = await api('GET', path);
	const ul = h('ul', {class: 'cards', id: 'disputes', tabindex: '-1', 'aria-label': t('queue.list')},
		r.data.map(queueCard));
	page(t('disputes.title'), r.data.length
		? [h('p', {class: 'note', text: t('queue.oldest_first')}), ul, loadMore(ul, path, r, queueCard)]
		: h('p', {text: t('disputes.none')}));
}
