/* The frame every dialog shares, and the seller's own dialogs (reject a
 * request, ship). */

import {h, toast, refocus} from './dom.js';
import {t} from './text.js';
import {api, ApiError, problem} from './api.js';
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
