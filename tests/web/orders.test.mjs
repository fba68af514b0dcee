// orders.test.mjs - an order's screens as the fourth review walked them:
// a page drawn again when a dialog's request meets a changed order (409),
// the seller's reject dialog naming the order, the cancellation preview's
// dates for a request, a refund that is late, notifications that name
// their order, a rejected request shown as past, and the words a person
// reads. Each test names its item of the review.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {DESKTOP, MOBILE, base, operator, token, as, newBuyer, paidOrder, signedIn} from './harness.mjs';

const SELLER = 'knits@demo.escrowd.test';

test('review 4 items 11 and 14: a 409 in a dialog draws the page again; the reject dialog names the order and wants words', async () => {
	const email = 'conflict11@example.test';
	const buyerId = await newBuyer(email);
	const id = await paidOrder(buyerId, 'Raced mittens');
	const seller = await signedIn(SELLER, DESKTOP);
	await seller.goto(base + '/#/order/' + id);
	await seller.getByRole('heading', {name: 'Raced mittens'}).waitFor();
	await seller.getByRole('button', {name: 'Ship'}).click();
	await seller.getByLabel('Carrier').fill('Posturinn');
	await seller.getByLabel('Tracking number').fill('RR123123123IS');
	// The buyer asks to cancel while the dialog is open.
	await as(await token(email), 'POST', '/v1/orders/' + id + '/cancel', {reason: 'no_longer_needed', refund_to: 'original'});
	await seller.getByRole('button', {name: 'OK'}).click();
	await seller.getByRole('dialog').getByText('A cancellation request is open on this order.').waitFor();
	await seller.getByRole('dialog').getByRole('button', {name: 'Back'}).click();
	await seller.locator('#main').getByText('The buyer asks to cancel', {exact: false}).waitFor();
	assert.equal(await seller.getByRole('button', {name: 'Ship'}).count(), 0);
	assert.equal(await seller.locator('#main dt', {hasText: 'Cancellation reason'}).count(), 1);

	// Rejecting: the dialog says which order, and a message of spaces is
	// refused in words before it is sent.
	await seller.getByRole('button', {name: 'Reject cancellation'}).click();
	const dlg = seller.getByRole('dialog', {name: 'Reject the cancellation'});
	assert.match(await dlg.locator('#sure-text').textContent(),
		new RegExp('^Raced mittens \\(order ' + id + '\\): the buyer\'s request is refused and the order stays open; ship it by \\d+ Dec 2026, \\d\\d:\\d\\d UTC\\.$'));
	await dlg.getByLabel('Message to the buyer').fill('   ');
	await dlg.getByRole('button', {name: 'OK'}).click();
	await dlg.getByText('Fill in “Message to the buyer”: spaces alone are not enough.').waitFor();
	assert.equal((await operator('GET', '/v1/orders/' + id)).status, 'cancellation_requested');
	await dlg.getByLabel('Message to the buyer').fill('Already packed.');
	await dlg.getByRole('button', {name: 'OK'}).click();
	await seller.getByRole('button', {name: 'Reject cancellation'}).waitFor({state: 'detached'});
	await seller.getByRole('button', {name: 'Ship'}).waitFor();
	assert.equal((await operator('GET', '/v1/orders/' + id)).status, 'awaiting_shipment');
	// Review 4 item 12: the rejected request is past, not the order's facts.
	assert.equal(await seller.locator('#main dt', {hasText: 'Cancellation reason'}).count(), 0);
	assert.equal(await seller.locator('#main dt', {hasText: 'Refund to'}).count(), 0);
	assert.deepEqual(seller.problems, []);
	await seller.context().close();
});

test('review 4 item 8: a refund past its last expected day says it is late and what to do, not dates gone by', async () => {
	const email = 'late8@example.test';
	const buyerId = await newBuyer(email);
	const id = await paidOrder(buyerId, 'Slow refund socks');
	await as(await token(email), 'POST', '/v1/orders/' + id + '/cancel', {reason: 'no_longer_needed', refund_to: 'original'});
	await as(await token(SELLER), 'POST', '/v1/orders/' + id + '/cancellation/accept', {});
	const refund = (await operator('GET', '/v1/orders/' + id)).refunds[0];
	assert.equal(refund.status, 'pending');
	// A day past the card's last settle day.
	await operator('POST', '/v1/clock/advance', {seconds: (refund.expected_days.max + 1) * 86400});
	const page = await signedIn(email, MOBILE);
	await page.goto(base + '/#/order/' + id);
	await page.getByRole('heading', {name: 'Slow refund socks'}).waitFor();
	const last = new Date(Date.parse(refund.created_at) + refund.expected_days.max * 86400000)
		.toLocaleDateString('en-GB', {dateStyle: 'medium', timeZone: 'UTC'});
	const line = page.locator('#main p.note.warn').filter({hasText: 'Refund of €10.00'});
	assert.equal(await line.textContent(), 'Refund of €10.00: on its way. It is late: it should have arrived by ' +
		last + '. If you still do not have it, contact the marketplace.');
	assert.equal(await page.locator('.refund-tracker .step-due').textContent(), 'late: expected by ' + last);
	await page.context().close();
});

test('review 4 item 13: an automatic refund expected on one day says that day once, in a person\'s words', async () => {
	const email = 'oneday13@example.test';
	const buyerId = await newBuyer(email);
	const o = await operator('POST', '/v1/orders', {buyer_id: buyerId, seller_id: (await operator('GET', '/v1/orders/' +
		await paidOrder(buyerId, 'Seller finder'))).seller_id, currency: 'EUR',
	items: [{title: 'Wallet teapot', quantity: 1, unit_price: 2000}]});
	await operator('POST', '/v1/orders/' + o.id + '/pay', {amount: 2000, payment_method: 'wallet'});
	await as(await token(email), 'POST', '/v1/orders/' + o.id + '/cancel', {reason: 'no_longer_needed', refund_to: 'original'});
	await operator('POST', '/v1/clock/advance', {seconds: 73 * 3600});
	const page = await signedIn(email, DESKTOP);
	await page.goto(base + '/#/order/' + o.id);
	await page.getByRole('heading', {name: 'Wallet teapot'}).waitFor();
	const rule = page.locator('ol.timeline li[data-event="response_deadline"] .rule');
	await rule.waitFor();
	const text = await rule.locator('.rule-text').textContent();
	assert.match(text, /^The request was approved automatically, €20\.00 refunded to the wallet, expected \d+ \w+ \d{4}\.$/);
	assert.doesNotMatch(await page.locator('ol.timeline').textContent(), /response_window| to \d+ \w+ \d{4}/);
	await page.context().close();
});

test('review 4 item 14: on a 360 px phone the first order shows above the fold; "More" closes on Escape and outside', async () => {
	const email = 'phone14@example.test';
	const buyerId = await newBuyer(email);
	await paidOrder(buyerId, 'Fold-line mittens');
	const page = await signedIn(email, {width: 360, height: 740});
	const card = page.locator('#orders li.card').first();
	await card.waitFor();
	const box = await card.boundingBox();
	const bar = await page.locator('nav[aria-label="Sections"]').boundingBox();
	// The card's title and total show above the bottom bar.
	assert.ok(box.y + 60 <= bar.y, 'the first card at ' + box.y + ', the bottom bar at ' + bar.y);

	const more = card.getByRole('button', {name: 'More'});
	const menu = card.locator('ul.menu');
	await more.click();
	assert.equal(await menu.isVisible(), true);
	await page.keyboard.press('Escape');
	assert.equal(await menu.isHidden(), true);
	assert.equal(await more.getAttribute('aria-expanded'), 'false');
	assert.equal(await page.evaluate(() => document.activeElement.textContent), 'More');
	await more.click();
	await card.getByRole('button', {name: 'Request cancellation'}).focus();
	await page.keyboard.press('Escape');
	assert.equal(await menu.isHidden(), true);
	await more.click();
	assert.equal(await menu.isVisible(), true);
	await page.getByRole('heading', {level: 1}).click();
	assert.equal(await menu.isHidden(), true);
	assert.equal(await more.getAttribute('aria-expanded'), 'false');

	// The bottom bar's one-word labels stay whole in Icelandic at 360 px
	// ("Tilkynningar", not "Tilkynninga / r"), the current one bold too.
	await page.locator('#lang').selectOption('is');
	await page.getByRole('link', {name: /^Tilkynningar/}).click();
	await page.getByRole('heading', {level: 1, name: 'Tilkynningar'}).waitFor();
	const lines = await page.locator('#tabbar .section .label').evaluateAll((labels) => labels.map((l) => {
		const r = document.createRange();
		r.selectNodeContents(l);
		return [l.textContent, r.getClientRects().length];
	}));
	for (const [label, n] of lines)
		if (!label.includes(' '))
			assert.equal(n, 1, label + ' on ' + n + ' lines');
	assert.deepEqual(page.problems, []);
	await page.context().close();
});
