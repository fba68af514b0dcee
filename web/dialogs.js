/* Dialogs: the frame every dialog shares, and the order's own (request
 * a cancellation, reject one, ship). */

import {S} from './state.js';
import {h, toast, refocus} from './dom.js';
import {t, reasonLabel} from './text.js';
import {api, ApiError, problem, reasons} from './api.js';
import {route} from './router.js';

export function dialog(title, body, okText, onOk) {
	const opener = document.activeElement;
	const error = h('p', {class: 'error', role: 'alert'});
	const form = h('form', {method: 'dialog'});
	const dlg = h('dialog', {'aria-labelledby': 'dlg-title'},
		h('h2', {id: 'dlg-title', text: title}), form);
	form.append(...body, error, h('div', {class: 'actions'},
		h('button', {class: 'primary', type: 'submit', value: 'ok', text: okText}),
		h('button', {type: 'button', onclick: () => dlg.close(), text: t('dialog.back')})));
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		error.textContent = '';
		try {
			await onOk(form);
			dlg.close();
			await route();
			refocus(opener);
		} catch (e) {
			error.textContent = e instanceof ApiError ? problem(e) : e.message;
		}
	});
	dlg.addEventListener('close', () => {
		dlg.remove();
		refocus(opener);
	});
	document.body.append(dlg);
	dlg.showModal();
	return dlg;
}

export async function cancelDialog(o) {
	const list = (await reasons()).slice().sort((a, b) => (b.recommended ? 1 : 0) - (a.recommended ? 1 : 0));
	const note = h('p', {class: 'note warn', id: 'fault-note', hidden: true, text: t('cancel.seller_fault_note')});
	const select = h('select', {id: 'reason', name: 'reason', required: true, onchange: () => {
		const r = list.find((x) => x.code === select.value);
		note.hidden = !(r && r.fault === 'seller');
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
		h('fieldset', {},
			h('legend', {text: t('cancel.refund_to')}),
			h('label', {}, h('input', {type: 'radio', name: 'refund_to', value: 'original', checked: true}), ' ', t('cancel.to_original')),
			h('label', {}, h('input', {type: 'radio', name: 'refund_to', value: 'balance'}), ' ', t('cancel.to_balance'))));
	dialog(t('cancel.title'), body, t('dialog.ok'), async (form) => {
		if (!select.value)
			throw new Error(t('cancel.choose'));
		const payload = {reason: select.value, refund_to: form.refund_to.value};
		if (form.comment.value.trim())
			payload.comment = form.comment.value.trim();
		await api('POST', '/v1/orders/' + encodeURIComponent(o.id) + '/cancel', payload);
		toast(t('done.cancel'));
	});
}

export function rejectDialog(o) {
	dialog(t('reject.title'), [
		h('label', {for: 'message', text: t('reject.message')}),
		h('textarea', {id: 'message', name: 'message', required: true, maxlength: '1000'}),
	], t('dialog.ok'), async (form) => {
		await api('POST', '/v1/orders/' + encodeURIComponent(o.id) + '/cancellation/reject',
			{message: form.message.value});
		toast(t('done.cancellation/reject'));
	});
}

export function shipDialog(o) {
	dialog(t('ship.title'), [
		h('label', {for: 'carrier', text: t('ship.carrier')}),
		h('input', {id: 'carrier', name: 'carrier', required: true, maxlength: '64'}),
		h('label', {for: 'tracking', text: t('ship.tracking')}),
		h('input', {id: 'tracking', name: 'tracking', required: true, maxlength: '64'}),
	], t('dialog.ok'), async (form) => {
		await api('POST', '/v1/orders/' + encodeURIComponent(o.id) + '/ship',
			{carrier: form.carrier.value, tracking_number: form.tracking.value});
		toast(t('done.ship'));
	});
}
