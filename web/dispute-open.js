/* Opening a dispute on a shipped order: the grounds open now, the
 * outcome, the amount and evidence. */

import {h, toast} from './dom.js';
import {t, money, now} from './text.js';
import {api, upload} from './api.js';
import {dialog} from './dialogs.js';

/* The grounds open now (SPEC §5): not_delivered only after the
 * promised date, and only without a delivery. */
export function groundsOpen(o) {
	const grounds = ['invalid_tracking', 'not_as_described'];
	if (!o.delivered_at && o.promised_delivery_at && Date.parse(o.promised_delivery_at) <= now())
		grounds.push('not_delivered');
	return grounds;
}

export function disputeDialog(o) {
	const held = o.paid - o.refunded;
	const body = [
		h('label', {for: 'ground', text: t('dispute.ground')}),
		h('select', {id: 'ground', name: 'ground', required: true},
			groundsOpen(o).map((g) => h('option', {value: g, text: t('ground.' + g)}))),
		h('fieldset', {},
			h('legend', {text: t('dispute.outcome')}),
			h('label', {}, h('input', {type: 'radio', name: 'outcome', value: 'refund_only', checked: true}), ' ', t('outcome.refund_only')),
			h('label', {}, h('input', {type: 'radio', name: 'outcome', value: 'return_and_refund'}), ' ', t('outcome.return_and_refund'))),
		h('label', {for: 'amount', text: t('dispute.amount', {max: money(held, o.currency)})}),
		h('input', {id: 'amount', name: 'amount', type: 'number', min: '0.01', step: '0.01', required: true,
			value: (held / 100).toFixed(2)}),
		h('label', {for: 'description', text: t('dispute.description')}),
		h('textarea', {id: 'description', name: 'description', required: true, maxlength: '1000'}),
		h('label', {for: 'evidence', text: t('dispute.evidence')}),
		h('input', {id: 'evidence', name: 'evidence', type: 'file', multiple: true,
			accept: 'image/jpeg,image/png,application/pdf'}),
	];
	dialog(t('dispute.title'), body, t('dialog.ok'), async (form) => {
		const d = await api('POST', '/v1/orders/' + encodeURIComponent(o.id) + '/disputes', {
			ground: form.ground.value,
			outcome: form.outcome.value,
			amount: Math.round(Number(form.amount.value) * 100),
			description: form.description.value,
		});
		await upload(d.id, form.evidence.files);
		toast(d.notice || t('done.disputes'));
		location.hash = '#/dispute/' + d.id;
	});
}
