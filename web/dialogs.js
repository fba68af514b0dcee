/* The frame every dialog shares, a button that shows its request is
 * under way, and the seller's own dialogs (reject a request, ship). */

import {h, toast, refocus} from './dom.js';
import {t, titleOf, when} from './text.js';
import {api, ApiError, problem, attempt} from './api.js';
import {route} from './router.js';

/* Run `fn` for `button`: the button is disabled and says that work is
 * under way until fn ends, so a double click sends one request; the
 * requests fn makes keep their Idempotency-Keys for as long as the
 * button is on the screen, so that pressing it again after a lost answer
 * replays the first answer. Returns fn's result; a press while fn runs
 * returns undefined. */
export async function busy(button, fn) {
	if (button.disabled)
		return undefined;
	const label = button.textContent;
	if (!button.idempotencyKeys)
		button.idempotencyKeys = new Map();
	button.disabled = true;
	button.setAttribute('aria-busy', 'true');
	button.classList.add('busy');
	button.textContent = t('busy.working');
	try {
		return await attempt(button.idempotencyKeys, fn);
	} finally {
		button.disabled = false;
		button.removeAttribute('aria-busy');
		button.classList.remove('busy');
		button.textContent = label;
	}
}

export function dialog(title, body, okText, onOk) {
	const opener = document.activeElement;
	const error = h('p', {class: 'error', role: 'alert'});
	const form = h('form', {method: 'dialog'});
	const dlg = h('dialog', {'aria-labelledby': 'dlg-title'},
		h('h2', {id: 'dlg-title', text: title}), form);
	const ok = h('button', {class: 'primary', type: 'submit', value: 'ok', text: okText});
	/* A body's parts may be left out as null (what a case does not need). */
	form.append(...body.flat().filter((part) => part !== null && part !== undefined), error, h('div', {class: 'actions'},
		ok, h('button', {type: 'button', onclick: () => dlg.close(), text: t('dialog.back')})));
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		if (ok.disabled)
			return;
		error.textContent = '';
		let done = false, changed = false;
		await busy(ok, async () => {
			try {
				await onOk(form);
				done = true;
			} catch (e) {
				error.textContent = e instanceof ApiError ? problem(e) : e.message;
				/* 409: the order or dispute moved on meanwhile. The page
				 * under the dialog is drawn again with where it stands. */
				changed = e instanceof ApiError && e.status === 409;
			}
		});
		if (changed)
			await route();
		if (!done)
			return;
		/* Closed with Back while the request ran: it was still done. */
		if (dlg.open)
			dlg.close();
		await route();
		refocus(opener);
	});
	dlg.addEventListener('close', () => {
		dlg.remove();
		refocus(opener);
	});
	document.body.append(dlg);
	dlg.showModal();
	return dlg;
}

/* A required text that holds only spaces is said here, in words. */
export function filled(field, label) {
	if (!field.value.trim())
		throw new Error(t('field.blank', {field: label}));
}

export function rejectDialog(o) {
	const ship = o.deadlines && o.deadlines.ship;
	const vars = {title: titleOf(o), id: o.id, date: ship ? when(ship) : ''};
	dialog(t('reject.title'), [
		h('p', {id: 'sure-text', text: t(ship ? 'reject.text_ship' : 'reject.text', vars)}),
		h('label', {for: 'message', text: t('reject.message')}),
		h('textarea', {id: 'message', name: 'message', required: true, maxlength: '1000'}),
	], t('dialog.ok'), async (form) => {
		filled(form.message, t('reject.message'));
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
		filled(form.carrier, t('ship.carrier'));
		filled(form.tracking, t('ship.tracking'));
		await api('POST', '/v1/orders/' + encodeURIComponent(o.id) + '/ship',
			{carrier: form.carrier.value, tracking_number: form.tracking.value});
		toast(t('done.ship'));
	});
}
