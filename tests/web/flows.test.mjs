// flows.test.mjs - what a new user tripped over (issue 11), in the real
// browser: the session's end, the language switch on the sign-in page,
// final money moves asked once, the seller's page, the arbiter's decision,
// busy buttons and Idempotency-Keys, and the Icelandic formats. Each test
// names its item of the issue.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {DESKTOP, MOBILE, PASSWORD, base, browser, operator, token, as, newBuyer, signedIn, cardOf,
	chooseReason, shot} from './harness.mjs';

/* A paid order of `amount` minor units from the knits shop. */
async function paidOrder(buyerId, title, amount = 1000, method = 'card') {
	const knits = (await operator('GET', '/v1/orders?limit=100')).data
		.find((o) => o.items[0].title === 'Wool socks, 3 pairs').seller_id;
	const o = await operator('POST', '/v1/orders', {buyer_id: buyerId, seller_id: knits, currency: 'EUR',
		items: [{title, quantity: 1, unit_price: amount}]});
	await operator('POST', '/v1/orders/' + o.id + '/pay', {amount, payment_method: method});
	return o.id;
}

/* An escalated dispute over the whole of a shipped order of `amount`. */
async function escalated(email, title, amount) {
	const buyerId = await newBuyer(email);
	const id = await paidOrder(buyerId, title, amount);
	const seller = await token('knits@demo.escrowd.test');
	const buyer = await token(email);
	await as(seller, 'POST', '/v1/orders/' + id + '/ship', {carrier: 'Posturinn', tracking_number: 'RR1' + id.slice(-6)});
	const d = await as(buyer, 'POST', '/v1/orders/' + id + '/disputes', {ground: 'not_as_described',
		outcome: 'refund_only', amount, description: 'The ' + title + ' came torn.'});
	await as(seller, 'POST', '/v1/disputes/' + d.id + '/reject', {message: 'It left here whole.'});
	await as(buyer, 'POST', '/v1/disputes/' + d.id + '/escalate', {});
	return {order: id, dispute: d.id};
}

test('issue 11 item 10: switching the language on the sign-in page keeps what was typed', async () => {
	const context = await browser.newContext({viewport: DESKTOP, locale: 'en-GB'});
	const page = await context.newPage();
	await page.goto(base + '/');
	await page.getByLabel('Email').fill('ana@demo.escrowd.test');
	await page.getByLabel('Password').fill(PASSWORD);
	await page.getByLabel('Language').selectOption('is');
	await page.getByRole('heading', {name: 'Innskráning'}).waitFor();
	assert.equal(await page.getByLabel('Netfang').inputValue(), 'ana@demo.escrowd.test');
	assert.equal(await page.getByLabel('Lykilorð').inputValue(), PASSWORD);
	await page.getByRole('button', {name: 'Skrá inn'}).click();
	await page.getByRole('heading', {name: 'Pantanirnar mínar'}).waitFor();
	await context.close();
});

test('issue 11 item 11: accepting a cancellation and confirming receipt ask once, naming the order and the amount', async () => {
	const email = 'item11@example.test';
	const buyerId = await newBuyer(email);
	const id = await paidOrder(buyerId, 'Felted slippers', 2900);
	await as(await token(email), 'POST', '/v1/orders/' + id + '/cancel', {reason: 'no_longer_needed', refund_to: 'original'});

	const seller = await signedIn('knits@demo.escrowd.test', DESKTOP);
	const waiting = seller.locator('#waiting li.card').filter({hasText: 'Felted slippers'});
	await waiting.getByRole('button', {name: 'More'}).click();
	await waiting.getByRole('button', {name: 'Accept cancellation'}).click();
	const dlg = seller.getByRole('dialog', {name: 'Accept the cancellation?'});
	await dlg.waitFor();
	assert.equal(await dlg.locator('#sure-text').textContent(),
		'Felted slippers (order ' + id + '): €29.00 goes back to the buyer.');
	// Back: nothing moved.
	await dlg.getByRole('button', {name: 'Back'}).click();
	assert.equal((await operator('GET', '/v1/orders/' + id)).refunded, 0);
	await waiting.getByRole('button', {name: 'More'}).click();
	await waiting.getByRole('button', {name: 'Accept cancellation'}).click();
	await shot(seller, 'desktop-seller-accept-confirm');
	await seller.getByRole('button', {name: 'Accept and refund'}).click();
	await seller.getByText('The order is cancelled and the buyer refunded.').waitFor();
	assert.equal((await operator('GET', '/v1/orders/' + id)).refunded, 2900);

	// The buyer's confirmation of receipt releases the money to the seller.
	const shipped = await paidOrder(buyerId, 'Knitted scarf', 4500);
	await as(await token('knits@demo.escrowd.test'), 'POST', '/v1/orders/' + shipped + '/ship',
		{carrier: 'Posturinn', tracking_number: 'RR123456789IS'});
	const buyer = await signedIn(email, MOBILE);
	await buyer.goto(base + '/#/order/' + shipped);
	await buyer.getByRole('heading', {name: 'Knitted scarf'}).waitFor();
	await buyer.getByRole('button', {name: 'Confirm receipt'}).click();
	const sure = buyer.getByRole('dialog', {name: 'Confirm receipt?'});
	await sure.waitFor();
	assert.equal(await sure.locator('#sure-text').textContent(),
		'Knitted scarf (order ' + shipped + '): €45.00 is paid to the seller.');
	await sure.getByText('This cannot be undone.').waitFor();
	assert.equal((await operator('GET', '/v1/orders/' + shipped)).released, 0);
	await sure.getByRole('button', {name: 'Confirm receipt'}).click();
	await buyer.getByText('Thank you: the order is complete.').waitFor();
	assert.ok((await operator('GET', '/v1/orders/' + shipped)).released > 0);
	assert.deepEqual(seller.problems.concat(buyer.problems), []);
	await seller.context().close();
	await buyer.context().close();
});

test('issue 11 item 13: the seller reads "My sales" in the bar and the title, each waiting request once, and the buyer\'s name', async () => {
	const email = 'item13@example.test';
	const buyerId = await newBuyer(email);
	const id = await paidOrder(buyerId, 'Alpaca beanie', 1900);
	await as(await token(email), 'POST', '/v1/orders/' + id + '/cancel', {reason: 'change_order', refund_to: 'balance'});

	for (const size of [DESKTOP, MOBILE]) {
		const seller = await signedIn('knits@demo.escrowd.test', size);
		await seller.getByRole('heading', {level: 1, name: 'My sales'}).waitFor();
		await seller.getByRole('link', {name: 'My sales'}).waitFor();
		assert.equal(await seller.getByRole('link', {name: 'My orders'}).count(), 0);
		assert.equal(await cardOf(seller, 'Alpaca beanie').count(), 1, 'the waiting request is listed once');
		assert.equal(await seller.locator('#waiting li.card').filter({hasText: 'Alpaca beanie'}).count(), 1);
		await seller.locator('#waiting-above').waitFor();
		await cardOf(seller, 'Alpaca beanie').getByText('Buyer: ' + email).waitFor();
		// The All tab's count still counts it.
		assert.match(await seller.getByRole('tab', {name: /All/}).textContent(), /\(\d+\)/);
		// The buyer's card names the shop.
		assert.deepEqual(seller.problems, []);
		await seller.context().close();
	}
	const buyer = await signedIn(email, DESKTOP);
	await cardOf(buyer, 'Alpaca beanie').getByText(/^Shop: /).waitFor();
	await buyer.context().close();
});

test('issue 11 items 14 and 15: the decision dialog starts at the recommendation; the decided dispute keeps it beside the decision', async () => {
	const {dispute} = await escalated('item14@example.test', 'Leather satchel', 3500);
	const arbiter = await signedIn('arbiter@demo.escrowd.test', DESKTOP);
	await arbiter.goto(base + '/#/dispute/' + dispute);
	const rec = arbiter.locator('#recommendation h2');
	await rec.waitFor();
	const before = await rec.textContent();
	const reasonsBefore = await arbiter.locator('#recommendation li').allTextContents();
	const recommended = /Recommended refund: (€[\d.,]+)/.exec(before)[1];

	await arbiter.getByRole('button', {name: 'Decide'}).click();
	const amount = arbiter.getByLabel('Refund amount');
	// Item 15: the recommended amount, the bounds and the currency.
	assert.equal('€' + Number(await amount.inputValue()).toFixed(2), recommended);
	assert.equal(await amount.getAttribute('max'), '35.00');
	assert.equal(await amount.getAttribute('min'), '0.00');
	await arbiter.getByText('Refund amount (€0.00 to €35.00)').waitFor();
	await arbiter.locator('dialog .currency').filter({hasText: 'EUR'}).waitFor();
	// Above what was asked: the browser keeps it, nothing is sent.
	await amount.fill('36.00');
	await arbiter.getByLabel('Written reason').fill('Half of the satchel is torn.');
	await arbiter.getByRole('button', {name: 'OK'}).click();
	assert.equal(await amount.evaluate((el) => el.validity.rangeOverflow), true);
	await amount.fill('17.50');
	await arbiter.getByRole('button', {name: 'OK'}).click();
	await arbiter.getByText('Dispute resolved.').waitFor();

	// Item 14: the decision, its reason, and the recommendation as it was.
	await arbiter.reload();
	await arbiter.locator('#decision h2').filter({hasText: 'Decision: €17.50 refunded'}).waitFor();
	await arbiter.locator('#decision q').filter({hasText: 'Half of the satchel is torn.'}).waitFor();
	assert.equal(await arbiter.locator('#recommendation h2').textContent(),
		'Recommended when the arbiter decided: ' + recommended);
	assert.deepEqual(await arbiter.locator('#recommendation li').allTextContents(), reasonsBefore);
	await shot(arbiter, 'desktop-arbiter-decided');
	assert.deepEqual(arbiter.problems, []);
	await arbiter.context().close();
});

test('issue 11 item 16: a double click sends one request with an Idempotency-Key; a slow answer shows work under way', async () => {
	const email = 'item16@example.test';
	const buyerId = await newBuyer(email);
	const id = await paidOrder(buyerId, 'Wool blanket', 8900);
	await as(await token(email), 'POST', '/v1/orders/' + id + '/cancel', {reason: 'better_price', refund_to: 'original'});

	const seller = await signedIn('knits@demo.escrowd.test', DESKTOP);
	const posts = [];
	seller.on('request', (r) => {
		if (r.method() === 'POST')
			posts.push({url: r.url(), key: r.headers()['idempotency-key']});
	});
	// Every answer is slow: 600 ms, and later held until `held` settles.
	let held = null;
	await seller.route('**/v1/**', async (r) => {
		await new Promise((ok) => setTimeout(ok, 600));
		if (held)
			await held;
		await r.continue();
	});
	const waiting = seller.locator('#waiting li.card').filter({hasText: 'Wool blanket'});
	await waiting.getByRole('button', {name: 'More'}).click();
	await waiting.getByRole('button', {name: 'Reject cancellation'}).click();
	await seller.getByLabel('Message to the buyer').fill('The blanket is already on its way.');
	await seller.getByRole('button', {name: 'OK'}).dblclick();
	// While it runs: the button is disabled and says so.
	const working = seller.getByRole('button', {name: 'Working…'});
	await working.waitFor();
	assert.equal(await working.isDisabled(), true);
	await seller.getByText('The request was rejected.').waitFor();
	const rejects = posts.filter((p) => p.url.endsWith('/cancellation/reject'));
	assert.equal(rejects.length, 1, 'one request for a double click');
	assert.match(rejects[0].key || '', /^[0-9a-f-]{36}$/);
	// A page that waits for the API says it is loading. Its answers are
	// held until the note has been seen, so the check does not depend on
	// how fast the browser runs.
	let release;
	held = new Promise((ok) => { release = ok; });
	await seller.evaluate(() => { location.hash = '#/profile'; });
	await seller.getByRole('status').filter({hasText: 'Loading…'}).waitFor();
	release();
	await seller.getByRole('heading', {name: 'Profile'}).waitFor();
	assert.equal(await seller.locator('#loading').isHidden(), true);
	assert.deepEqual(seller.problems, []);
	await seller.context().close();
	assert.equal((await operator('GET', '/v1/orders/' + id)).cancellation.requests_made, 1);
});

test('issue 11 item 16: Icelandic skip link, reputation sentence, dates and amounts', async () => {
	const page = await signedIn('ana@demo.escrowd.test', MOBILE, 'is');
	assert.equal(await page.locator('a.skip').textContent(), 'Fara beint í efni');
	// Amounts: "29,00 €", never "€29.00" or "EUR".
	const amounts = await page.locator('li.card > p:nth-of-type(1)').allTextContents();
	assert.ok(amounts.length > 0);
	for (const a of amounts)
		assert.match(a, /^\d{1,3}(\.\d{3})*,\d{2}\s€/, a);
	await page.getByRole('link', {name: 'Prófíll'}).click();
	await page.locator('#rep-why').waitFor();
	// Review 4 item 14: the singular with 1, the site's word, the rate as it is.
	assert.equal(await page.locator('#rep-why').textContent(), '1 afturköllun eftir greiðslu á 30 dögum, 1 á 90 ' +
		'dögum (16,7 % af 6 greiddum pöntunum), 0 töpuð ágreiningsmál á 90 dögum.');
	// Dates: "4. des. 2026".
	const first = await page.locator('#rep-events li').first().textContent().catch(() => '');
	if (first)
		assert.match(first, /^\d{1,2}\. [a-zþæöáéíóúý]+\.? \d{4}/, first);
	assert.deepEqual(page.problems, []);
	await page.context().close();
});

// Last: it moves the clock past every session's idle limit.
test('issue 11 item 9: a session that ended says so, and signing in returns to the page', async () => {
	const email = 'item9@example.test';
	const buyerId = await newBuyer(email);
	const id = await paidOrder(buyerId, 'Linen apron');
	const page = await signedIn(email, DESKTOP);
	await page.goto(base + '/#/order/' + id);
	await page.getByRole('heading', {name: 'Linen apron'}).waitFor();
	// The page has asked for all it shows (the order's conversation too)
	// before the clock moves.
	await page.locator('#messages li').first().waitFor();
	await operator('POST', '/v1/clock/advance', {seconds: 13 * 3600});
	await page.getByRole('button', {name: 'Cancel order'}).click();
	// Choosing a reason asks the API for the cancellation's preview (issue
	// 16), which is where the interface learns that the session ended.
	await chooseReason(page, 'I no longer need this order (recommended)');
	await page.getByRole('heading', {name: 'Sign in'}).waitFor();
	await page.getByText('Your session ended. Sign in again to go on where you were.').waitFor();
	assert.equal(await page.getByRole('dialog').count(), 0);
	await page.getByLabel('Email').fill(email);
	await page.getByLabel('Password').fill(PASSWORD);
	await page.getByRole('button', {name: 'Sign in'}).click();
	await page.getByRole('heading', {name: 'Linen apron'}).waitFor();
	assert.ok(page.url().endsWith('#/order/' + id));
	assert.equal(await page.locator('#session-ended').count(), 0);
	await page.context().close();
});
