/* escrowd's web interface: a small single-page app over the HTTP/JSON API.
 *
 * No framework and no build step: the browser's own ES modules, one per
 * screen or part. Every element is made with h(), which sets text with
 * textContent, never innerHTML: whatever a user wrote shows as text.
 * Buttons come from each order's `actions`, so the interface never offers
 * what the API would refuse. Texts come from the message catalogue
 * (en.json, is.json). Served from the binary under a
 * Content-Security-Policy that allows no inline script.
 *
 * This module routes: the hash names the screen. */

import {S} from './state.js';
import {h, page} from './dom.js';
import {t, chosenLang, loadLang} from './text.js';
import {ApiError, problem, loadMe} from './api.js';
import {renderBar, viewSignin, showSelectedTab} from './frame.js';
import {registerWorker, newBuild} from './install.js';
import {viewOrders} from './orders.js';
import {viewOrder} from './order.js';
import {viewProfile} from './profile.js';
import {viewDispute, viewDisputes} from './disputes.js';
import {viewHelp} from './help.js';
import {viewMessages} from './messages.js';
import {viewNotifications} from './notifications.js';
import {route, setRoute} from './router.js';

/* Drawing a page waits for the API: after a moment without an answer the
 * page says that it is loading, and the main region is busy. A draw
 * begun later makes this one stale: its GETs never answer (api.js), so
 * it stops where it waits and never draws over the newer page. */
async function draw() {
	const mine = ++S.draw;
	const main = document.getElementById('main');
	const note = document.getElementById('loading');
	main.setAttribute('aria-busy', 'true');
	const timer = setTimeout(() => {
		if (mine === S.draw)
			note.hidden = false;
	}, 300);
	try {
		await drawPage();
		showSelectedTab();
	} finally {
		clearTimeout(timer);
		if (mine === S.draw) {
			S.drawn = mine;
			note.hidden = true;
			main.removeAttribute('aria-busy');
		}
	}
}

async function drawPage() {
	renderBar();
	const [path, qs] = (location.hash.slice(1) || '/').split('?');
	const query = new URLSearchParams(qs || '');
	const parts = path.split('/').filter(Boolean);
	try {
		/* Help is open to anyone, signed in or not. */
		if (parts[0] === 'help')
			return await viewHelp();
		if (!S.me) {
			if (parts[0] !== 'signin')
				location.hash = '#/signin';
			return viewSignin();
		}
		switch (parts[0]) {
		case 'order':
			return await viewOrder(decodeURIComponent(parts[1] || ''));
		case 'profile':
			return await viewProfile();
		case 'messages':
			return await viewMessages();
		case 'notifications':
			return await viewNotifications();
		case 'disputes':
			return await viewDisputes();
		case 'dispute':
			return await viewDispute(decodeURIComponent(parts[1] || ''));
		case 'signin':
		case 'orders':
		default:
			if (S.me.role === 'arbiter')
				return await viewDisputes();
			return await viewOrders(query);
		}
	} catch (e) {
		if (e instanceof ApiError && e.status === 401) {
			/* api() said that the session ended and went to the sign-in page. */
			return;
		}
		page(t('error.title'), h('p', {class: 'error', role: 'alert', text: problem(e)}));
	}
}

setRoute(draw);
/* After a new build took over (install.js), the next screen comes from it. */
window.addEventListener('hashchange', () => (newBuild() ? location.reload() : route()));
/* Back online after opening offline: the session may be alive still. */
window.addEventListener('online', async () => {
	if (S.me)
		return;
	await loadMe();
	if (S.me)
		location.hash = '#/orders';
	await route();
});
document.addEventListener('DOMContentLoaded', async () => {
	registerWorker();
	await loadLang(chosenLang());
	await loadMe();
	await route();
});
