// buyer.test.mjs - what a buyer (and the seller and arbiter beside them)
// reads about cancelling, refunds and opening a dispute (issue 11): the
// refund promise from the order's own payment method, why an order closed
// itself, an unpaid order's cancellation, the dispute dialog, long titles
// on a phone, and each party's own sentence about a refund. Each test makes
// its own orders; the tests that move the clock sign in after moving it.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {DESKTOP, MOBILE, base, operator, token, as, newBuyer, signedIn, cardOf, openTab, chooseReason}
	from './harness.mjs';

const DAY = 86400000;

/* The knits shop, the demo's seller of socks. */
async function knits() {
	return (await operator('GET', '/v1/orders?limit=100')).data
		.find((o) => o.items[0].title === 'Wool socks, 3 pairs').seller_id;
}

/* An order of one item at €10.00 for `buyerId`, paid by `method` unless
 * method is null. */
async function order(buyerId, title, {method = 'card', deliveryDays} = {}) {
	const body = {buyer_id: buyerId, seller_id: await knits(), currency: 'EUR',
		items: [{title, quantity: 1, unit_price: 1000}]};
	if (deliveryDays)
		body.delivery_days = deliveryDays;
	const o = await operator('POST', '/v1/orders', body);
	if (method)
		await operator('POST', '/v1/orders/' + o.id + '/pay', {amount: 1000, payment_method: method});
	return o.id;
}

/* A paid order cancelled at the buyer's request, accepted by the seller:
 * its refund is pending. */
async function refunded(email, title, method) {
	const id = await order(await newBuyer(email), title, {method});
	await as(await token(email), 'POST', '/v1/orders/' + id + '/cancel', {reason: 'no_longer_needed'});
	await as(await token('knits@demo.escrowd.test'), 'POST', '/v1/orders/' + id + '/cancellation/accept', {});
	return operator('GET', '/v1/orders/' + id);
}

/* A day as the page itself writes it (text.js's day(), in the page's
 * language), for the sentences that name one. */
function day(page, ms) {
	return page.evaluate(async (at) => (await import('/static/text.js')).day(at), ms);
}

test('issue 11 item 8: a long word in an item title wraps on a 390 px phone', async () => {
	const email = 'longword@demo.escrowd.test';
	const title = 'Handknittedlopapeysawoolsweaterwithtraditionalyokepatternsizemediumnaturalcolours';
	const o = await order(await newBuyer(email), title);
	const phone = await signedIn(email, MOBILE);
	await cardOf(phone, title).waitFor();
	const width = () => phone.evaluate(() => document.documentElement.scrollWidth);
	assert.ok(await width() <= 390, 'the orders list is ' + await width() + ' px wide');
	await phone.getByRole('link', {name: title}).click();
	await phone.getByRole('heading', {name: title}).waitFor();
	assert.ok(await width() <= 390, 'the order page is ' + await width() + ' px wide');
	// The state and More stay on screen.
	await phone.goto(base + '/#/orders');
	const box = await cardOf(phone, title).getByRole('button', {name: 'More'}).boundingBox();
	assert.ok(box.x + box.width <= 390, 'More is on screen');
	await phone.goto(base + '/#/order/' + o);
	await phone.getByRole('heading', {name: title}).waitFor();
	assert.ok(await width() <= 390);
	await phone.context().close();
});
