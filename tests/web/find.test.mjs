// find.test.mjs - finding orders (issue 17 item 5) at both sizes: search
// by item title and by order number, the date filter, "Load more" along
// the API's cursor, a seller searching their sales, the arbiters' queue
// oldest first with both parties, the amount asked and the age; and a
// buyer with 500 orders whose first screen draws 50.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {DESKTOP, MOBILE, base, operator, token, as, newBuyer, signedIn, shot, wcag} from './harness.mjs';

const SIZES = [['desktop', DESKTOP], ['phone', MOBILE]];
const MANY = 500;

let knits, dates = {}, many = {}, teapot;

/* Orders for buyer from the knits shop, unpaid, n at a time. */
async function createOrders(buyerId, titles) {
	const ids = [];
	for (let i = 0; i < titles.length; i += 20) {
		const batch = titles.slice(i, i + 20).map((title) => operator('POST', '/v1/orders', {
			buyer_id: buyerId, seller_id: knits, currency: 'EUR',
			items: [{title, quantity: 1, unit_price: 1200}]}));
		for (const o of await Promise.all(batch))
			ids.push(o.id);
	}
	return ids;
}

async function go(page, hash) {
	await page.goto(base + '/' + hash);
	await page.locator('#main h1').waitFor();
}

/* The cards of the list once drawn (the tab panel's, not the seller's
 * waiting ones). */
function cards(page) {
	return page.locator('#tabpanel li.card');
}

/* Wait until the list holds n cards. A search's answer replaces the list
 * drawn before it, which may hold the card searched for too: waiting for
 * that card alone could read the older list. */
async function listed(page, n) {
	await page.waitForFunction((k) => document.querySelectorAll('#tabpanel li.card').length === k, n);
}

/* Search for q and wait until the page drawn for it has replaced the one
 * before. Waiting for what it shows is not enough: the page before may
 * show the same card, and the box, once filled, the same text; and a draw
 * still to come replaces the form, losing what the next step types. */
async function search(page, q) {
	await page.evaluate(() => { document.getElementById('find-q').dataset.before = '1'; });
	await page.getByLabel('Search by item or order number').fill(q);
	await page.getByRole('button', {name: 'Search'}).click();
	await page.waitForFunction(() => {
		const box = document.getElementById('find-q');
		return box && !box.dataset.before && !document.getElementById('main').hasAttribute('aria-busy');
	});
}

test('setup: orders two days apart, then a buyer with 500 orders', async () => {
	knits = (await operator('GET', '/v1/orders?limit=100')).data
		.find((o) => o.items[0].title === 'Wool socks, 3 pairs').seller_id;
	dates.id = await newBuyer('dates@demo.escrowd.test');
	[dates.old] = await createOrders(dates.id, ['Old brass lamp']);
	await operator('POST', '/v1/clock/advance', {seconds: 2 * 86400});
	[dates.new] = await createOrders(dates.id, ['New paper lamp']);
	dates.today = (await operator('GET', '/v1/me')).now.slice(0, 10);
	dates.before = new Date(Date.parse(dates.today) - 86400000).toISOString().slice(0, 10);
	dates.oldDay = new Date(Date.parse(dates.today) - 2 * 86400000).toISOString().slice(0, 10);

	many.id = await newBuyer('many@demo.escrowd.test');
	const titles = Array.from({length: MANY}, (_, i) => i === 123 ? 'Green teapot' : 'Knitted hat no. ' + i);
	const t0 = Date.now();
	many.ids = await createOrders(many.id, titles);
	teapot = many.ids[123];
	console.log('# created ' + MANY + ' orders in ' + (Date.now() - t0) + ' ms');
	const me = await as(await token('many@demo.escrowd.test'), 'GET', '/v1/me');
	assert.equal(me.order_counts.all, MANY);
	assert.equal(me.order_counts.awaiting_payment, MANY);
});

for (const [name, size] of SIZES) {
	test(name + ': 500 orders: the first screen draws 50, Load more goes on to the end', async () => {
		const page = await signedIn('many@demo.escrowd.test', size);
		const t0 = Date.now();
		await go(page, '#/orders');
		await cards(page).first().waitFor();
		const drawn = Date.now() - t0;
		console.log('# ' + name + ': first screen of ' + MANY + ' orders drawn in ' + drawn + ' ms');
		assert.ok(drawn < 30000, 'drawn within a generous bound');
		assert.equal(await cards(page).count(), 50);
		assert.equal(await page.locator('#tab-all .count').textContent(), '(500)');
		assert.equal(await page.locator('#tab-awaiting_payment .count').textContent(), '(500)');
		assert.equal(await page.locator('#tab-shipped .count').textContent(), '(0)');
		await wcag(page, name + ' orders with the search form and Load more');

		const more = page.getByRole('button', {name: 'Load more'});
		await more.click();
		await page.locator('#more-status').getByText('50 more shown.').waitFor();
		assert.equal(await cards(page).count(), 100);
		// Focus moves to the first card added.
		assert.equal(await page.evaluate(() => document.activeElement.closest('li.card').dataset.order),
			await cards(page).nth(50).getAttribute('data-order'));
		if (name === 'desktop') {
			for (let n = 150; n <= MANY; n += 50) {
				await more.click();
				await cards(page).nth(n - 1).waitFor();
			}
			assert.equal(await cards(page).count(), MANY);
			// has_more was false: no button is left.
			await more.waitFor({state: 'detached'});
			const ids = await cards(page).evaluateAll((els) => els.map((e) => e.dataset.order));
			assert.equal(new Set(ids).size, MANY, 'each order once');
			// Newest first: by id, time-ordered (the manual clock stood still).
			assert.deepEqual(ids, [...many.ids].sort().reverse(), 'newest first');
		}
		assert.deepEqual(page.problems, []);
		await page.context().close();
	});

	test(name + ': search by title and by order number; back and forward', async () => {
		const page = await signedIn('many@demo.escrowd.test', size);
		await go(page, '#/orders');
		await cards(page).first().waitFor();
		await search(page, 'TEAPOT');
		await page.waitForURL(/q=TEAPOT/);
		await page.locator('#tabpanel li.card[data-order="' + teapot + '"]').waitFor();
		await listed(page, 1);
		assert.equal(await page.getByRole('button', {name: 'Load more'}).count(), 0);
		// Focus is back in the search box, which keeps what was typed.
		assert.equal(await page.evaluate(() => document.activeElement.id), 'find-q');
		await wcag(page, name + ' search results');
		await shot(page, 'find-search-' + name);

		// The order number's last 8 characters.
		await search(page, teapot.slice(-8));
		await page.waitForURL(new RegExp('q=' + teapot.slice(-8)));
		await cards(page).first().waitFor();
		assert.equal(await cards(page).count(), 1);
		assert.equal(await cards(page).first().getAttribute('data-order'), teapot);

		// Nothing found says so.
		await search(page, 'no such thing');
		await page.getByText('No orders match this search.').waitFor();

		// Back: the number search again; back again: the title search.
		await page.goBack();
		await page.waitForURL(new RegExp('q=' + teapot.slice(-8)));
		await page.locator('#tabpanel li.card[data-order="' + teapot + '"]').waitFor();
		await page.goBack();
		await page.waitForURL(/q=TEAPOT/);
		await page.waitForFunction(() => document.getElementById('find-q')?.value === 'TEAPOT');
		assert.equal(await cards(page).count(), 1);
		await page.goForward();
		await page.waitForURL(new RegExp('q=' + teapot.slice(-8)));
		// Drawn again for it before the next click.
		await page.waitForFunction((q) => document.getElementById('find-q')?.value === q, teapot.slice(-8));

		// A tab keeps the search; clearing it lists everything again.
		await page.getByRole('tab', {name: /Shipped/}).click();
		await page.waitForURL(/tab=shipped.*q=/);
		await page.getByText('No orders match this search.').waitFor();
		await page.getByRole('link', {name: 'Clear search'}).click();
		await page.waitForURL(/#\/orders\?tab=shipped$/);
		await page.getByText('No orders here.').waitFor();
		assert.deepEqual(page.problems, []);
		await page.context().close();
	});

	test(name + ': the date filter', async () => {
		const page = await signedIn('dates@demo.escrowd.test', size);
		await go(page, '#/orders');
		await cards(page).nth(1).waitFor();
		await page.getByLabel('Created from').fill(dates.today);
		await page.getByRole('button', {name: 'Search'}).click();
		await page.waitForURL(new RegExp('from=' + dates.today));
		await page.locator('#tabpanel li.card[data-order="' + dates.old + '"]').waitFor({state: 'detached'});
		assert.deepEqual(await cards(page).evaluateAll((els) => els.map((e) => e.dataset.order)), [dates.new]);
		await wcag(page, name + ' date filter');
		await page.getByLabel('Created from').fill('');
		await page.getByLabel('Created until').fill(dates.before);
		await page.getByRole('button', {name: 'Search'}).click();
		await page.waitForURL(new RegExp('to=' + dates.before));
		await page.locator('#tabpanel li.card[data-order="' + dates.old + '"]').waitFor();
		assert.equal(await cards(page).count(), 1);
		// The address alone draws the same.
		await go(page, '#/orders?from=' + dates.oldDay + '&to=' + dates.today);
		await cards(page).nth(1).waitFor();
		assert.equal(await cards(page).count(), 2);
		assert.deepEqual(page.problems, []);
		await page.context().close();
	});

	test(name + ': a seller searches their sales', async () => {
		const page = await signedIn('knits@demo.escrowd.test', size);
		await go(page, '#/orders?q=green%20teapot');
		await page.locator('#tabpanel li.card[data-order="' + teapot + '"]').waitFor();
		await listed(page, 1);
		await page.getByRole('heading', {name: /Cancellation requests waiting/}).waitFor();
		assert.ok(Number((await page.locator('#tab-all .count').textContent()).slice(1, -1)) >= MANY + 2);
		await wcag(page, name + ' seller search');
		assert.deepEqual(page.problems, []);
		await page.context().close();
	});
}

test('the arbiters\' queue: oldest first, with the order, both parties, the amount asked and the age', async () => {
	const buyerId = await newBuyer('queue@demo.escrowd.test');
	const opened = [];
	for (const [title, amount] of [['Alpaca shawl', 700], ['Mohair cardigan', 900]]) {
		// Signed in again after the clock moved.
		const buyer = await token('queue@demo.escrowd.test');
		const seller = await token('knits@demo.escrowd.test');
		const o = (await operator('POST', '/v1/orders', {buyer_id: buyerId, seller_id: knits, currency: 'EUR',
			items: [{title, quantity: 1, unit_price: 1000}]})).id;
		await operator('POST', '/v1/orders/' + o + '/pay', {amount: 1000, payment_method: 'card'});
		await as(seller, 'POST', '/v1/orders/' + o + '/ship', {carrier: 'Posturinn', tracking_number: 'RR9IS'});
		const d = await as(buyer, 'POST', '/v1/orders/' + o + '/disputes', {ground: 'not_as_described',
			outcome: 'refund_only', amount, description: 'Holes in it'});
		opened.push({order: o, dispute: d.id, title, amount});
		// The first is three days older.
		if (opened.length === 1)
			await operator('POST', '/v1/clock/advance', {seconds: 3 * 86400});
	}
	for (const d of opened) {
		const s = await token('knits@demo.escrowd.test');
		await as(s, 'POST', '/v1/disputes/' + d.dispute + '/reject', {message: 'As listed'});
		await as(await token('queue@demo.escrowd.test'), 'POST', '/v1/disputes/' + d.dispute + '/escalate', {});
	}
	for (const [name, size] of SIZES) {
		const page = await signedIn('arbiter@demo.escrowd.test', size);
		await go(page, '#/disputes');
		await page.locator('#disputes li.card').first().waitFor();
		const ids = await page.locator('#disputes li.card').evaluateAll((els) => els.map((e) => e.dataset.dispute));
		const [a, b] = opened.map((d) => ids.indexOf(d.dispute));
		assert.ok(a >= 0 && a < b, 'the older dispute first: ' + ids.join(' '));
		const older = page.locator('#disputes li.card[data-dispute="' + opened[0].dispute + '"]');
		assert.equal(await older.getByRole('link').textContent(), 'Alpaca shawl');
		await older.getByText('Order ' + opened[0].order).waitFor();
		await older.getByText('Buyer: queue@demo.escrowd.test · Shop: ').waitFor();
		await older.getByText('€7.00 asked').waitFor();
		assert.equal(await older.locator('.queue-age').textContent(), 'opened 3 days ago');
		const newer = page.locator('#disputes li.card[data-dispute="' + opened[1].dispute + '"]');
		// The manual clock stands still: not "0 minutes ago" (review 4 item 14).
		assert.equal(await newer.locator('.queue-age').textContent(), 'opened just now');
		await wcag(page, name + ' arbiters\' queue');
		await shot(page, 'find-queue-' + name);
		await older.getByRole('link').click();
		await page.waitForURL(new RegExp('#/dispute/' + opened[0].dispute));
		assert.deepEqual(page.problems, []);
		await page.context().close();
	}
});
