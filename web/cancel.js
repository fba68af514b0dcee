/* The buyer's cancellation: an unpaid order is cancelled at once after
 * one confirmation; a paid one gets the dialog that asks for a reason, a
 * comment and where the refund goes. */

import {S} from './state.js';
import {h, toast} from './dom.js';
import {t, reasonLabel, money, day, when} from './text.js';
import {api, reasons} from './api.js';
import {dialog} from './dialogs.js';
import {days} from './order-status.js';

function cancel(o, payload) {
	return api('POST', '/v1/orders/' + encodeURIComponent(o.id) + '/cancel', payload);
}

/* Nothing was paid: nothing to refund, no reason to give (SPEC §2). */
function unpaidDialog(o) {
	dialog(t('cancel.title_unpaid'), [h('p', {text: t('cancel.unpaid_note')})], t('action.cancel_order'), async () => {
		await cancel(o, {});
		toast(t('done.cancel_unpaid'));
	});
}

/* Where the refund may go, with what the order's own payment method
 * promises (the API's refund_expected_days); paid from the store
 * balance, there is only the balance. balanceKey words the balance's
 * choice (a dispute's refund waits for its end). */
export function refundChoice(o, balanceKey = 'cancel.to_balance') {
	const expected = o.refund_expected_days;
	if (o.payment_method === 'balance')
		return h('p', {class: 'note', id: 'refund-to-note', text: t('cancel.to_balance_only')});
	let original = t('cancel.to_original');
	if (expected && expected.max > 0 && ['card', 'wallet'].includes(o.payment_method))
		original = t('cancel.to_original.' + o.payment_method, {days: days(expected)});
	return h('fieldset', {},
		h('legend', {text: t('cancel.refund_to')}),
		h('label', {}, h('input', {type: 'radio', name: 'refund_to', value: 'original', checked: true}), ' ', original),
		h('label', {}, h('input', {type: 'radio', name: 'refund_to', value: 'balance'}), ' ', t(balanceKey)));
}

/* What confirming would do (issue 16: the API's preview, which writes
 * nothing): the refund, where it goes and when it should arrive, the
 * seller's time to answer, and the buyer's cancellations left after it. */
async function showPreview(o, out, reason, refundTo) {
	let p;
	try {
		p = await cancel(o, {reason: reason, refund_to: refundTo, preview: true});
	} catch (e) {
		out.hidden = true;
		return;
	}
	const lines = [];
	const r = p.refund;
	if (r) {
		lines.push(t('cancel.preview_refund', {amount: money(r.amount, r.currency)}));
		const settle = o.refund_expected_days;
		if (!p.immediate && (r.method === 'card' || r.method === 'wallet') && settle)
			/* A request: the refund starts when the seller accepts (or the
			 * request is approved unanswered), not now. */
			lines.push(t('cancel.preview_after_accept.' + r.method, {days: days(settle)}));
		else if (r.method === 'card' || r.method === 'wallet')
			lines.push(r.expected_from === r.expected_to
				? t('refund.due_day.' + r.method, {date: day(r.expected_to)})
				: t('refund.due_range.' + r.method, {from: day(r.expected_from), to: day(r.expected_to)}));
		else
			lines.push(t(p.immediate ? 'cancel.preview_to_balance' : 'cancel.preview_after_accept.balance'));
	}
	if (!p.immediate && p.response_deadline)
		lines.push(t('cancel.preview_request', {due: when(p.response_deadline)}));
	const b = p.cancellation_budget_after;
	if (b && b.cancellations_left !== null && b.next_level)
		lines.push(t('cancel.preview_budget', {left: b.cancellations_left, level: t('level.' + b.next_level)}));
	out.textContent = lines.join(' ');
	out.hidden = lines.length === 0;
}

export async function cancelDialog(o) {
	if (o.status === 'awaiting_payment')
		return unpaidDialog(o);
	const list = (await reasons()).slice().sort((a, b) => (b.recommended ? 1 : 0) - (a.recommended ? 1 : 0));
	const note = h('p', {class: 'note warn', id: 'fault-note', hidden: true, text: t('cancel.seller_fault_note')});
	const preview = h('p', {class: 'note', id: 'cancel-preview', 'aria-live': 'polite', hidden: true});
	const refreshPreview = () => {
		if (!select.value)
			return;
		const chosen = document.querySelector('input[name="refund_to"]:checked');
		showPreview(o, preview, select.value, chosen ? chosen.value : 'original');
	};
	const select = h('select', {id: 'reason', name: 'reason', required: true, onchange: () => {
		const r = list.find((x) => x.code === select.value);
		note.hidden = !(r && r.fault === 'seller');
		refreshPreview();
	}},
	h('option', {value: '', disabled: true, selected: true, text: t('cancel.select_here')}),
	list.map((r) => h('option', {value: r.code, text: reasonLabel(r.code) +
		(r.recommended ? ' ' + t('cancel.recommended') : '') +
		(r.fault === 'seller' ? ' ' + t('cancel.seller_fault_short') : '')})));
	const body = [];
	if (S.level === 'watch' || S.level === 'restricted')
		body.push(h('p', {class: 'note warn', id: 'level-warning'}, t('cancel.warn_' + S.level, {why: S.levelWhy || ''})));
	body.push(h('label', {for: 'reason', text: t('cancel.reason')}), select, note,
		h('label', {for: 'comment', text: t('cancel.comment_label')}),
		h('textarea', {id: 'comment', name: 'comment', maxlength: '1000'}),
		refundChoice(o), preview);
	const dlg = dialog(t('cancel.title'), body, t('dialog.ok'), async (form) => {
		if (!select.value)
			throw new Error(t('cancel.choose'));
		const payload = {reason: select.value, refund_to: form.refund_to ? form.refund_to.value : 'original'};
		if (form.comment.value.trim())
			payload.comment = form.comment.value.trim();
		await cancel(o, payload);
		toast(t('done.cancel'));
	});
	for (const radio of dlg.querySelectorAll('input[name="refund_to"]'))
		radio.addEventListener('change', refreshPreview);
}
