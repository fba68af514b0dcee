/* Opening a dispute on a shipped order: the ground (each shown, those not
 * open yet disabled with the day they open), the outcome, the amount up
 * to what is still held, where a refund goes, and evidence. */

import {S} from './state.js';
import {h, toast} from './dom.js';
import {t, money, day, now, minorPerUnit, decimalOf} from './text.js';
import {api, upload, evidenceProblem, problem, EVIDENCE_MAX} from './api.js';
import {dialog, filled} from './dialogs.js';
import {refundChoice} from './cancel.js';

/* The grounds open now (SPEC §5): not_delivered only after the
 * promised date, and only without a delivery. */
export function groundsOpen(o) {
	const grounds = ['invalid_tracking', 'not_as_described'];
	if (!o.delivered_at && o.promised_delivery_at && Date.parse(o.promised_delivery_at) <= now())
		grounds.push('not_delivered');
	return grounds;
}

/* The ground list: the buyer chooses; not_delivered is shown before the
 * promised date, disabled, with the day it opens. */
function groundSelect(o) {
	const open = groundsOpen(o);
	const options = [h('option', {value: '', disabled: true, selected: true, text: t('cancel.select_here')})];
	for (const g of ['invalid_tracking', 'not_as_described', 'not_delivered']) {
		if (open.includes(g))
			options.push(h('option', {value: g, text: t('ground.' + g)}));
		else if (g === 'not_delivered' && !o.delivered_at && o.promised_delivery_at)
			options.push(h('option', {value: g, disabled: true,
				text: t('ground.not_delivered_from', {date: day(o.promised_delivery_at)})}));
	}
	return h('select', {id: 'ground', name: 'ground', required: true}, options);
}

export function disputeDialog(o) {
	const held = o.paid - o.refunded;
	const body = [
		h('label', {for: 'ground', text: t('dispute.ground')}),
		groundSelect(o),
		h('fieldset', {},
			h('legend', {text: t('dispute.outcome')}),
			h('label', {}, h('input', {type: 'radio', name: 'outcome', value: 'refund_only', checked: true}), ' ', t('outcome.refund_only')),
			h('label', {}, h('input', {type: 'radio', name: 'outcome', value: 'return_and_refund'}), ' ', t('outcome.return_and_refund'))),
		h('label', {for: 'amount', text: t('dispute.amount', {max: money(held, o.currency)})}),
		h('div', {class: 'amount'},
			h('input', {id: 'amount', name: 'amount', type: 'number', min: decimalOf(1, o.currency),
				max: decimalOf(held, o.currency), step: decimalOf(1, o.currency), required: true, inputmode: 'decimal',
				value: decimalOf(held, o.currency), 'aria-describedby': 'amount-currency'}),
			h('span', {id: 'amount-currency', class: 'currency', text: o.currency})),
		h('label', {for: 'description', text: t('dispute.description')}),
		h('textarea', {id: 'description', name: 'description', required: true, maxlength: '1000'}),
		refundChoice(o, 'dispute.to_balance'),
		h('label', {for: 'evidence', text: t('dispute.evidence')}),
		h('input', {id: 'evidence', name: 'evidence', type: 'file', multiple: true,
			accept: 'image/jpeg,image/png,application/pdf'}),
	];
	if (S.level === 'restricted')
		body.unshift(h('p', {class: 'note warn', id: 'level-warning'}, t('cancel.warn_restricted', {why: S.levelWhy || ''})));
	dialog(t('dispute.title'), body, t('dialog.ok'), async (form) => {
		/* Files escrowd would refuse are said before anything is sent. */
		filled(form.description, t('dispute.description'));
		const wrong = await evidenceProblem(form.evidence.files, EVIDENCE_MAX);
		if (wrong)
			throw new Error(wrong);
		const d = await api('POST', '/v1/orders/' + encodeURIComponent(o.id) + '/disputes', {
			ground: form.ground.value,
			outcome: form.outcome.value,
			amount: Math.round(Number(form.amount.value) * minorPerUnit(o.currency)),
			description: form.description.value,
			refund_to: form.refund_to ? form.refund_to.value : 'original',
		});
		/* The dispute is open whatever the files do: a file that fails is
		 * said on the dispute's page, where evidence can be added. */
		try {
			await upload(d.id, form.evidence.files);
			toast(d.notice || t('done.disputes'));
		} catch (e) {
			S.flash = {dispute: d.id, text: t('evidence.failed_after_open',
				{name: e.file || '', why: problem(e)})};
		}
		location.hash = '#/dispute/' + d.id;
	});
}
