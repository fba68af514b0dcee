// phone.test.mjs - issue 17 item 1, the app on a phone: at 390 × 844 a
// compact header, the order tabs as one strip that scrolls sideways, the
// bottom bar (Orders, Messages, Notifications, Profile) and the profile
// opening with the order shortcuts and their counts; at 1280 no bottom
// bar. And installable: the manifest as chromium reads it, the service
// worker active, the shell drawn offline, no API answer in its cache.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {DESKTOP, MOBILE, base, operator, token, as, newBuyer, paidOrder, signedIn, shot,
	wcag} from './harness.mjs';

/* A link's text less its unread badge ("Notifications4 4 unread"). */
function unbadged(text) {
	return text.replace(/(\d+|99\+) \d+ unread$/, '');
}

/* A buyer with one order in each of the four shortcuts' lists but
 * Disputes: 1 unpaid, 2 awaiting shipment, 1 shipped. */
async function buyerWithOrders(email) {
	const id = await newBuyer(email);
	await paidOrder(id, 'Phone mittens');
	await paidOrder(id, 'Phone scarf');
	const shipped = await paidOrder(id, 'Phone beanie');
	await as(await token('knits@demo.escrowd.test'), 'POST', '/v1/orders/' + shipped + '/ship',
		{carrier: 'Posturinn', tracking_number: 'RR111IS'});
	const knits = (await operator('GET', '/v1/orders/' + shipped)).seller_id;
	await operator('POST', '/v1/orders', {buyer_id: id, seller_id: knits, currency: 'EUR',
		items: [{title: 'Phone gloves', quantity: 1, unit_price: 900}]});
	return id;
}

async function box(page, selector) {
	return page.locator(selector).boundingBox();
}

test('phone: a compact header, the tabs in one strip that scrolls, the bottom bar to each section', async () => {
	await buyerWithOrders('phone-bar@demo.escrowd.test');
	const page = await signedIn('phone-bar@demo.escrowd.test', MOBILE);
	await page.getByRole('tab', {name: /All/, selected: true}).waitFor();
	const bar = await box(page, '#bar');
	assert.ok(bar.height <= 56, 'the header is ' + bar.height + ' px tall');
	// The language switch stays in the header; signing out moves to the profile.
	assert.ok(await page.getByLabel('Language').isVisible());
	assert.equal(await page.locator('#bar').getByRole('button', {name: 'Sign out'}).count(), 0);

	// The tabs: one row, wider than the screen, scrolling sideways.
	const tabs = page.getByRole('tab');
	const tops = new Set();
	for (let i = 0; i < await tabs.count(); i++)
		tops.add(Math.round((await tabs.nth(i).boundingBox()).y));
	assert.equal(tops.size, 1, 'the tabs are on one row');
	const strip = page.getByRole('tablist');
	const [scroll, client] = await strip.evaluate((el) => [el.scrollWidth, el.clientWidth]);
	assert.ok(scroll > client, 'the strip scrolls: ' + scroll + ' > ' + client);
	assert.ok(await page.evaluate(() => document.documentElement.scrollWidth) <= 390, 'the page does not');
	// A tab at the far end, chosen from the address, is scrolled into view.
	await page.goto(base + '/#/orders?tab=cancelled');
	const cancelled = page.getByRole('tab', {name: /Cancelled/, selected: true});
	await cancelled.waitFor();
	const [s, t] = [await strip.boundingBox(), await cancelled.boundingBox()];
	assert.ok(t.x >= s.x - 1 && t.x + t.width <= s.x + s.width + 1, 'the selected tab is in view');
	await wcag(page, 'phone: orders with the bottom bar');

	// The bottom bar: each section, the current one marked.
	const nav = page.getByRole('navigation', {name: 'Sections'});
	const navBox = await nav.boundingBox();
	assert.ok(Math.abs(navBox.y + navBox.height - 844) <= 1, 'the bar sits at the bottom');
	// The names, less an unread badge (the payments reported are unread
	// notifications of this new buyer).
	const names = (await nav.getByRole('link').allTextContents()).map(unbadged);
	assert.deepEqual(names, ['My orders', 'Messages', 'Notifications', 'Profile']);
	for (const [name, hash] of [['Messages', '#/messages'], ['Notifications', '#/notifications'],
		['Profile', '#/profile'], ['My orders', '#/orders']]) {
		await nav.getByRole('link', {name}).click();
		await page.waitForFunction((h) => location.hash === h, hash);
		await nav.locator('a[aria-current="page"]').filter({hasText: name}).waitFor();
		assert.equal(await nav.locator('a[aria-current="page"]').count(), 1);
	}
	// The last card is not hidden under the bar.
	await page.getByRole('link', {name: 'Phone gloves'}).waitFor();
	await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
	const last = await page.locator('#orders li.card').last().boundingBox();
	assert.ok(last.y + last.height <= navBox.y, 'the last card ends above the bottom bar');
	await shot(page, 'mobile-orders-bottom-bar');
	assert.deepEqual(page.problems, []);
	await page.context().close();
});

test('phone: the profile opens with the four shortcuts and their counts, each to its tab; signing out there', async () => {
	await buyerWithOrders('phone-profile@demo.escrowd.test');
	for (const lang of ['en', 'is']) {
		const page = await signedIn('phone-profile@demo.escrowd.test', MOBILE, lang);
		const nav = page.getByRole('navigation', {name: lang === 'en' ? 'Sections' : 'Hlutar'});
		await nav.getByRole('link', {name: lang === 'en' ? 'Profile' : 'Prófíll'}).click();
		const shortcuts = page.getByRole('navigation', {name: lang === 'en' ? 'Orders at a glance' : 'Pantanir í hnotskurn'});
		await shortcuts.waitFor();
		const tiles = shortcuts.getByRole('link');
		const seen = [];
		for (let i = 0; i < await tiles.count(); i++)
			seen.push([await tiles.nth(i).locator('.label').textContent(), await tiles.nth(i).locator('.count').textContent()]);
		assert.deepEqual(seen, lang === 'en'
			? [['Awaiting payment', '1'], ['Awaiting shipment', '2'], ['Shipped', '1'], ['Disputes', '0']]
			: [['Bíða greiðslu', '1'], ['Bíða sendingar', '2'], ['Sendar', '1'], ['Ágreiningur', '0']]);
		// The shortcuts come first, above the standing; all four on one row.
		assert.ok(await shortcuts.evaluate((el) => !!(el.compareDocumentPosition(document.getElementById('rep-h')) &
			Node.DOCUMENT_POSITION_FOLLOWING)));
		const ys = new Set();
		for (let i = 0; i < 4; i++)
			ys.add(Math.round((await tiles.nth(i).boundingBox()).y));
		assert.equal(ys.size, 1, 'the four shortcuts share a row');
		if (lang === 'en') {
			await wcag(page, 'phone: profile');
			await shot(page, 'mobile-profile-shortcuts');
			await tiles.filter({hasText: 'Awaiting shipment'}).click();
			await page.getByRole('tab', {name: /Awaiting shipment/, selected: true}).waitFor();
			assert.equal(await page.locator('#orders li.card').count(), 2);
			await nav.getByRole('link', {name: 'Profile'}).click();
			await tiles.filter({hasText: 'Shipped'}).click();
			await page.getByRole('tab', {name: /Shipped/, selected: true}).waitFor();
			assert.deepEqual(await page.locator('#orders li.card .title').allTextContents(), ['Phone beanie']);
			// Signing out is in the profile.
			await nav.getByRole('link', {name: 'Profile'}).click();
			await page.getByRole('button', {name: 'Sign out'}).click();
			await page.getByLabel('Email').waitFor();
			assert.equal(await nav.isVisible(), false, 'no bottom bar signed out');
		} else {
			await wcag(page, 'phone: profile in Icelandic');
		}
		assert.deepEqual(page.problems, []);
		await page.context().close();
	}
});

test('phone: an arbiter\'s bottom bar is Disputes and Profile', async () => {
	const page = await signedIn('arbiter@demo.escrowd.test', MOBILE);
	const nav = page.getByRole('navigation', {name: 'Sections'});
	assert.deepEqual(await nav.getByRole('link').allTextContents(), ['Disputes', 'Profile']);
	assert.equal(await nav.getByRole('link', {name: 'Disputes'}).getAttribute('aria-current'), 'page');
	await nav.getByRole('link', {name: 'Profile'}).click();
	await page.getByRole('heading', {name: 'Profile'}).waitFor();
	await page.getByText('arbiter@demo.escrowd.test', {exact: false}).waitFor();
	await wcag(page, 'phone: an arbiter\'s profile');
	await page.getByRole('button', {name: 'Sign out'}).click();
	await page.getByLabel('Email').waitFor();
	assert.deepEqual(page.problems, []);
	await page.context().close();
});

test('desktop: no bottom bar; the top bar has Messages and Notifications; the profile\'s shortcuts', async () => {
	await buyerWithOrders('desk-bar@demo.escrowd.test');
	const page = await signedIn('desk-bar@demo.escrowd.test', DESKTOP);
	assert.equal(await page.locator('#tabbar').isVisible(), false);
	const top = page.getByRole('navigation', {name: 'Main'});
	assert.deepEqual((await top.getByRole('link').allTextContents()).map(unbadged),
		['My orders', 'Messages', 'Notifications', 'Profile', 'Help']);
	assert.equal(await top.getByRole('link', {name: 'My orders'}).getAttribute('aria-current'), 'page');
	await top.getByRole('link', {name: 'Profile'}).click();
	const shortcuts = page.getByRole('navigation', {name: 'Orders at a glance'});
	await shortcuts.getByRole('link', {name: /Awaiting payment/}).click();
	await page.getByRole('tab', {name: /Awaiting payment/, selected: true}).waitFor();
	assert.deepEqual(await page.locator('#orders li.card .title').allTextContents(), ['Phone gloves']);
	await top.getByRole('link', {name: 'Profile'}).click();
	await shortcuts.waitFor();
	assert.equal(await page.getByRole('button', {name: 'Sign out'}).count(), 1, 'one Sign out, in the bar');
	await wcag(page, 'desktop: profile');
	assert.deepEqual(page.problems, []);
	await page.context().close();
});

test('the unread counts of /v1/me as badges: the bottom bar on a phone, the top bar on a desktop', async (t) => {
	const id = await newBuyer('phone-badge@demo.escrowd.test');
	const o = await paidOrder(id, 'Phone badge socks');
	const me = await as(await token('phone-badge@demo.escrowd.test'), 'GET', '/v1/me');
	if (!Number.isInteger(me.unread_messages)) {
		/* The count comes with issue 17's messages (item 3). */
		t.skip('GET /v1/me has no unread_messages yet');
		return;
	}
	const shop = await token('knits@demo.escrowd.test');
	await as(shop, 'POST', '/v1/orders/' + o + '/messages', {body: 'Thank you for your order.'});
	await as(shop, 'POST', '/v1/orders/' + o + '/messages', {body: 'It ships tomorrow.'});
	for (const [size, where] of [[MOBILE, 'Sections'], [DESKTOP, 'Main']]) {
		const page = await signedIn('phone-badge@demo.escrowd.test', size);
		const link = page.getByRole('navigation', {name: where}).getByRole('link', {name: /^Messages/});
		assert.equal(await link.locator('.badge').textContent(), '2');
		assert.equal(await link.locator('.badge').getAttribute('aria-hidden'), 'true');
		assert.match(await link.textContent(), /Messages2 2 unread/);
		await wcag(page, 'a badge');
		await page.context().close();
	}
});

/* The URLs in the page's caches. */
function cached(page) {
	return page.evaluate(async () => {
		const urls = [];
		for (const name of await caches.keys())
			for (const r of await (await caches.open(name)).keys())
				urls.push(r.url);
		return urls;
	});
}

for (const [at, size] of [['phone', MOBILE], ['desktop', DESKTOP]])
test(at + ', installable: the manifest reads without errors, the worker is active, the shell opens offline, no API answer is kept', async () => {
	const email = at + '-offline@demo.escrowd.test';
	await buyerWithOrders(email);
	const page = await signedIn(email, size);
	await page.getByRole('link', {name: 'Phone scarf'}).waitFor();
	const cdp = await page.context().newCDPSession(page);
	const manifest = await cdp.send('Page.getAppManifest');
	assert.deepEqual(manifest.errors, [], 'the manifest parses without errors');
	assert.match(manifest.url, /\/static\/manifest\.webmanifest$/);
	const data = JSON.parse(manifest.data);
	assert.equal(data.display, 'standalone');
	assert.deepEqual(data.icons.map((i) => i.sizes), ['192x192', '512x512', '512x512']);
	const installable = await cdp.send('Page.getInstallabilityErrors');
	// A Playwright context is a private one, which chromium names as an
	// error of its own; nothing else may be.
	assert.deepEqual(installable.installabilityErrors.filter((e) => e.errorId !== 'in-incognito'), []);

	// The worker controls the page, and has kept the interface's files.
	const state = await page.evaluate(async () => {
		const reg = await navigator.serviceWorker.ready;
		return {state: reg.active.state, scope: reg.scope, script: reg.active.scriptURL};
	});
	assert.deepEqual(state, {state: 'activated', scope: base + '/', script: base + '/sw.js'});
	await page.waitForFunction(() => !!navigator.serviceWorker.controller);
	// The app calls the API meanwhile: none of its answers is kept.
	await page.getByRole('link', {name: 'Phone scarf'}).click();
	await page.getByRole('heading', {name: 'Phone scarf'}).waitFor();
	await page.goto(base + '/#/profile');
	await page.getByRole('heading', {name: 'Profile'}).waitFor();
	const urls = await cached(page);
	assert.ok(urls.includes(base + '/') && urls.includes(base + '/static/app.js') &&
		urls.includes(base + '/static/manifest.webmanifest'), JSON.stringify(urls));
	assert.deepEqual(urls.filter((u) => !u.startsWith(base + '/static/') && u !== base + '/'), []);
	assert.deepEqual(urls.filter((u) => u.includes('/v1/')), []);
	const names = await page.evaluate(() => caches.keys());
	assert.equal(names.length, 1);
	assert.match(names[0], /^escrowd-[0-9a-f]{16}$/);

	// Offline, a reload still draws the shell: the bar, the page, its
	// styles, and a word that escrowd is out of reach.
	await page.context().setOffline(true);
	await page.reload();
	await page.locator('#bar .brand').waitFor();
	await page.getByRole('heading', {level: 1}).waitFor();
	assert.equal(await page.locator('#bar').evaluate((el) => getComputedStyle(el).display), 'flex');
	await page.locator('#offline').filter({hasText: 'You are offline'}).waitFor();
	await wcag(page, at + ': offline');
	// Back online, the session is still there: the orders again.
	await page.context().setOffline(false);
	await page.getByRole('heading', {name: 'My orders'}).waitFor();
	assert.deepEqual(await cached(page).then((u) => u.filter((x) => x.includes('/v1/'))), []);
	await page.context().close();
});
