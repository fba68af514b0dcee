// buyer.test.mjs - what a buyer (and the seller and arbiter beside them)
// reads about cancelling, refunds and opening a dispute (issue 11): the
// refund promise from the order's own payment method, why an order closed
// itself, an unpaid order's cancellation, the dispute dialog, long titles
// on a phone, each party's own sentence about a refund, and amounts in a
// currency whose digits Intl counts otherwise than the server. Each test makes
// its own orders; the tests that move the clock sign in after moving it.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {DESKTOP, MOBILE, AXE, base, operator, token, as, newBuyer, signedIn, cardOf, openTab, chooseReason}
	from './harness.mjs';

const DAY = 86400000;

/* The knits shop, the demo's seller of socks. */
async function knits() {
	return (await operator('GET', '/v1/orders?limit=100')).data
		.find((o) => o.items[0].title === 'Wool socks, 3 pairs').seller_id;
}

/* The shop's bearer token, signed in once until the clock moves: the
 * daemon allows an account ten sign-ins in 15 minutes. */
let shop = null;

async function seller() {
	if (!shop)
		shop = await token('knits@demo.escrowd.test');
	return shop;
}

/* Time passes: idle sessions end after 12 hours. */
async function advance(seconds) {
	await operator('POST', '/v1/clock/advance', {seconds});
	shop = null;
}

/* An order of one item at €10.00 (or price minor units of currency) for
 * `buyerId`, paid by `method` unless method is null. */
async function order(buyerId, title, {method = 'card', deliveryDays, currency = 'EUR', price = 1000} = {}) {
	const body = {buyer_id: buyerId, seller_id: await knits(), currency,
		items: [{title, quantity: 1, unit_price: price}]};
	if (deliveryDays)
		body.delivery_days = deliveryDays;
	const o = await operator('POST', '/v1/orders', body);
	if (method)
		await operator('POST', '/v1/orders/' + o.id + '/pay', {amount: price, payment_method: method});
	return o.id;
}

/* A paid order cancelled at the buyer's request, accepted by the seller:
 * its refund is pending. */
async function refunded(email, title, method) {
	const id = await order(await newBuyer(email), title, {method});
	await as(await token(email), 'POST', '/v1/orders/' + id + '/cancel', {reason: 'no_longer_needed'});
	await as(await seller(), 'POST', '/v1/orders/' + id + '/cancellation/accept', {});
	return operator('GET', '/v1/orders/' + id);
}

/* WCAG 2.1 A and AA, by axe-core, on the page as it stands. */
async function wcag(page, what) {
	await page.evaluate(AXE);
	const found = await page.evaluate(async () => (await window.axe.run(document, {runOnly: {type: 'tag',
		values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})).violations.map((v) => v.id + ': ' +
		v.nodes.map((n) => n.target.join(' ')).join('; ')));
	assert.deepEqual(found, [], what);
}

/* A day and an amount as the page itself writes them (text.js's day()
 * and money(), in the page's language), for the sentences that name one. */
function day(page, ms) {
	return page.evaluate(async (at) => (await import('/static/text.js')).day(at), ms);
}

function money(page, minor, currency) {
	return page.evaluate(async ([m, c]) => (await import('/static/text.js')).money(m, c), [minor, currency]);
}

test('issue 11 item 3: a pending refund says the days it should arrive between, from its own payment method', async () => {
	const card = await refunded('refund-card@demo.escrowd.test', 'Linen apron', 'card');
	const wallet = await refunded('refund-wallet@demo.escrowd.test', 'Linen napkins', 'wallet');
	const [rc, rw] = [card.refunds[0], wallet.refunds[0]];
	const at = (r, days) => Date.parse(r.created_at) + days * DAY;

	const page = await signedIn('refund-card@demo.escrowd.test', DESKTOP);
	const line = cardOf(page, 'Linen apron').locator('p.note').filter({hasText: 'Refund of'});
	await line.waitFor();
	assert.equal(await line.textContent(), 'Refund of €10.00: on its way. It should reach your card between ' +
		await day(page, at(rc, rc.expected_days.min)) + ' and ' + await day(page, at(rc, rc.expected_days.max)) + '.');
	assert.match(await day(page, at(rc, 0)), /^\d+ \w+ \d{4}$/);
	await page.context().close();

	// A wallet's one day is one date, never "1–1 days".
	assert.equal(rw.expected_days.min, rw.expected_days.max);
	const phone = await signedIn('refund-wallet@demo.escrowd.test', MOBILE);
	await phone.getByRole('link', {name: 'Linen napkins'}).click();
	const text = phone.locator('p.note').filter({hasText: 'Refund of'});
	await text.waitFor();
	assert.equal(await text.textContent(), 'Refund of €10.00: on its way. It should reach your wallet by ' +
		await day(phone, at(rw, rw.expected_days.max)) + '.');
	assert.doesNotMatch(await phone.locator('main').textContent(), /1–1|your card/);
	await phone.context().close();

	// In Icelandic, with the dates as the page writes them in Icelandic.
	const is = await signedIn('refund-card@demo.escrowd.test', DESKTOP, 'is');
	const isLine = cardOf(is, 'Linen apron').locator('p.note').filter({hasText: 'Endurgreiðsla'});
	await isLine.waitFor();
	const [from, to] = [await day(is, at(rc, rc.expected_days.min)), await day(is, at(rc, rc.expected_days.max))];
	assert.equal(await isLine.textContent(), 'Endurgreiðsla ' + await money(is, 1000, 'EUR') + ': á leiðinni. Hún ætti að berast á kortið þitt milli ' +
		from + ' og ' + to + '.');
	await is.context().close();
});

test('issue 11 item 3: the cancellation dialog promises what the order\'s own payment method does', async () => {
	const email = 'promise@demo.escrowd.test';
	const id = await newBuyer(email);
	const byCard = await order(id, 'Card-paid teapot', {method: 'card'});
	const byWallet = await order(id, 'Wallet-paid teapot', {method: 'wallet'});
	const expected = {};
	for (const o of [byCard, byWallet]) {
		const got = await operator('GET', '/v1/orders/' + o);
		assert.ok(got.refund_expected_days, 'the API gives the order\'s refund_expected_days');
		expected[got.payment_method] = got.refund_expected_days;
	}
	const span = (d) => d.min === d.max ? d.min + (d.min === 1 ? ' day' : ' days') : d.min + '–' + d.max + ' days';
	const page = await signedIn(email, DESKTOP);
	for (const [title, method] of [['Card-paid teapot', 'card'], ['Wallet-paid teapot', 'wallet']]) {
		const c = cardOf(page, title);
		await c.getByRole('button', {name: 'More'}).click();
		await c.getByRole('button', {name: 'Request cancellation'}).click();
		const dialog = page.getByRole('dialog', {name: 'Request cancellation'});
		await dialog.getByLabel('My store balance (at once)').waitFor();
		const label = 'Back to my ' + method + ' (usually ' + span(expected[method]) + ')';
		await dialog.getByLabel(label, {exact: true}).waitFor();
		assert.doesNotMatch(await dialog.textContent(), /1–1|3–7 days to a card/);
		await page.keyboard.press('Escape');
		await dialog.waitFor({state: 'detached'});
	}
	// The wallet order, cancelled to the wallet: the request goes with
	// refund_to original.
	const c = cardOf(page, 'Wallet-paid teapot');
	await c.getByRole('button', {name: 'More'}).click();
	await c.getByRole('button', {name: 'Request cancellation'}).click();
	await chooseReason(page, 'I no longer need this order (recommended)');
	await page.getByRole('button', {name: 'OK'}).click();
	await c.getByText('Cancellation requested.', {exact: false}).waitFor();
	assert.equal((await operator('GET', '/v1/orders/' + byWallet)).cancellation.refund_to, 'original');
	assert.deepEqual(page.problems, []);
	await page.context().close();

	// Paid from the store balance: the refund can only go back there, at once.
	const tok = await token(email);
	await as(tok, 'POST', '/v1/orders/' + byCard + '/cancel', {reason: 'no_longer_needed', refund_to: 'balance'});
	await as(await seller(), 'POST', '/v1/orders/' + byCard + '/cancellation/accept', {});
	await order(id, 'Balance-paid teapot', {method: 'balance'});
	const again = await signedIn(email, DESKTOP);
	const b = cardOf(again, 'Balance-paid teapot');
	await b.getByRole('button', {name: 'More'}).click();
	await b.getByRole('button', {name: 'Request cancellation'}).click();
	const dialog = again.getByRole('dialog', {name: 'Request cancellation'});
	await dialog.getByText('You paid from your store balance: the refund goes back there at once.').waitFor();
	assert.equal(await dialog.getByRole('radio').count(), 0);
	await chooseReason(again, 'I no longer need this order (recommended)');
	await again.getByRole('button', {name: 'OK'}).click();
	await b.getByText('Cancellation requested.', {exact: false}).waitFor();
	assert.deepEqual(again.problems, []);
	await again.context().close();
});

test('issue 11 item 5: an unpaid order is cancelled at once, after one confirmation', async () => {
	const email = 'unpaid@demo.escrowd.test';
	const id = await newBuyer(email);
	const first = await order(id, 'Unpaid lamp', {method: null});
	const second = await order(id, 'Unpaid shade', {method: null});

	const page = await signedIn(email, DESKTOP);
	await openTab(page, /Awaiting payment/);
	await cardOf(page, 'Unpaid lamp').getByRole('link', {name: 'Unpaid lamp'}).click();
	await page.getByRole('button', {name: 'Cancel order'}).click();
	const dialog = page.getByRole('dialog', {name: 'Cancel order'});
	await dialog.waitFor();
	// No reason, no refund destination: nothing was paid.
	assert.equal(await dialog.getByLabel('Reason').count(), 0);
	assert.equal(await dialog.getByRole('radio').count(), 0);
	await dialog.getByText('Nothing has been paid yet, so the order is cancelled at once.', {exact: false}).waitFor();
	await wcag(page, 'the unpaid order\'s confirmation');
	await dialog.getByRole('button', {name: 'Cancel order'}).click();
	await page.getByText('The order is cancelled.', {exact: true}).waitFor();
	assert.equal(await page.getByText('Your request was sent.').count(), 0);
	await page.locator('dd').filter({hasText: /^Cancelled$/}).waitFor();
	assert.equal((await operator('GET', '/v1/orders/' + first)).status, 'cancelled');
	await page.context().close();

	// On a phone, from the order's page.
	const phone = await signedIn(email, MOBILE);
	await phone.getByRole('link', {name: 'Unpaid shade'}).click();
	await phone.getByRole('button', {name: 'Cancel order'}).click();
	await phone.getByRole('dialog', {name: 'Cancel order'}).getByRole('button', {name: 'Cancel order'}).click();
	await phone.getByText('The order is cancelled.', {exact: true}).waitFor();
	await phone.locator('dd').filter({hasText: /^Cancelled$/}).waitFor();
	assert.equal((await operator('GET', '/v1/orders/' + second)).status, 'cancelled');
	assert.deepEqual(page.problems.concat(phone.problems), []);
	await phone.context().close();
});

test('issue 11 item 5: an unpaid order\'s menu says "Cancel order", and asks once', async () => {
	const email = 'unpaid-menu@demo.escrowd.test';
	const o = await order(await newBuyer(email), 'Unpaid vase', {method: null});
	const page = await signedIn(email, DESKTOP);
	await openTab(page, /Awaiting payment/);
	const c = cardOf(page, 'Unpaid vase');
	await c.getByRole('button', {name: 'More'}).click();
	assert.equal(await c.getByRole('button', {name: 'Request cancellation'}).count(), 0);
	await c.getByRole('button', {name: 'Cancel order'}).click();
	await page.getByRole('dialog', {name: 'Cancel order'}).getByRole('button', {name: 'Cancel order'}).click();
	await page.getByText('The order is cancelled.', {exact: true}).waitFor();
	assert.equal((await operator('GET', '/v1/orders/' + o)).status, 'cancelled');
	assert.deepEqual(page.problems, []);
	await page.context().close();
});

test('issue 11 item 7: the dispute dialog makes the buyer choose a ground and keeps the amount to what is held', async () => {
	const email = 'dispute-form@demo.escrowd.test';
	const o = await order(await newBuyer(email), 'Ceramic jug');
	await as(await seller(), 'POST', '/v1/orders/' + o + '/ship',
		{carrier: 'Posturinn', tracking_number: 'RR100IS'});
	const page = await signedIn(email, DESKTOP);
	const c = cardOf(page, 'Ceramic jug');
	await c.getByRole('button', {name: 'More'}).click();
	await c.getByRole('button', {name: 'Open dispute'}).click();
	const ground = page.getByLabel('What is wrong');
	const first = ground.locator('option').first();
	assert.equal(await first.textContent(), 'Select here');
	assert.equal(await first.isDisabled(), true);
	assert.equal(await ground.inputValue(), '');
	const amount = page.getByLabel('Amount', {exact: false});
	assert.equal(await amount.getAttribute('max'), '10.00');
	assert.equal(await page.locator('#amount-currency').textContent(), 'EUR');
	await wcag(page, 'the dispute dialog');
	await page.getByLabel('Describe the problem').fill('The handle came off.');

	// No ground chosen: the browser stops the form, nothing is sent.
	await page.getByRole('button', {name: 'OK'}).click();
	assert.equal(await ground.evaluate((el) => el.validity.valueMissing), true);

	// Over the maximum: the field catches it, not the server.
	await ground.selectOption({label: 'Not as described'});
	await amount.fill('999');
	await page.getByRole('button', {name: 'OK'}).click();
	assert.equal(await amount.evaluate((el) => el.validity.rangeOverflow), true);
	assert.equal(await page.locator('dialog .error').textContent(), '');
	assert.equal((await operator('GET', '/v1/orders/' + o)).dispute, null);

	await amount.fill('10.00');
	await page.getByRole('button', {name: 'OK'}).click();
	await page.getByRole('heading', {name: 'Dispute: Ceramic jug'}).waitFor();
	const d = (await operator('GET', '/v1/orders/' + o)).dispute;
	assert.equal(d.ground, 'not_as_described');
	assert.equal(d.amount, 1000);
	assert.deepEqual(page.problems, []);
	await page.context().close();
});

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

test('issue 11 item 12: the seller and the arbiter read their own sentences about a refund', async () => {
	const pending = await refunded('refund-words1@demo.escrowd.test', 'Linen tablecloth', 'card');
	const settled = await refunded('refund-words2@demo.escrowd.test', 'Linen runner', 'card');
	const failed = await refunded('refund-words3@demo.escrowd.test', 'Linen towel', 'card');
	await operator('POST', '/v1/refunds/' + settled.refunds[0].id + '/settle', {});
	await operator('POST', '/v1/refunds/' + failed.refunds[0].id + '/fail', {});

	const shopPage = await signedIn('knits@demo.escrowd.test', DESKTOP);
	await openTab(shopPage, /Cancelled/);
	const line = (title) => cardOf(shopPage, title).locator('p.note').filter({hasText: /refund/i});
	await line('Linen tablecloth').getByText('The buyer\'s refund of €10.00 is on its way.', {exact: true}).waitFor();
	await line('Linen runner').getByText('The buyer\'s refund of €10.00 has arrived.', {exact: true}).waitFor();
	await line('Linen towel').getByText('The buyer\'s refund of €10.00 bounced and went to the buyer\'s store balance.',
		{exact: true}).waitFor();
	assert.doesNotMatch(await shopPage.locator('main').textContent(), /your card|your wallet|your store balance/);
	await shopPage.context().close();

	// The buyer of the bounced one reads their own.
	const buyer = await signedIn('refund-words3@demo.escrowd.test', DESKTOP);
	await cardOf(buyer, 'Linen towel')
		.getByText('Refund of €10.00: it bounced, so it went to your store balance.', {exact: true}).waitFor();
	// And the profile shows that balance.
	await buyer.goto(base + '/#/profile');
	await buyer.locator('#balances').getByText(/^Store balance: €10\.00\./).waitFor();
	await buyer.context().close();

	// An arbiter's decided dispute: a neutral sentence.
	const email = 'refund-words4@demo.escrowd.test';
	const o = await order(await newBuyer(email), 'Linen shirt');
	await as(await seller(), 'POST', '/v1/orders/' + o + '/ship',
		{carrier: 'Posturinn', tracking_number: 'RR200IS'});
	const b = await token(email), s = await seller();
	const d = await as(b, 'POST', '/v1/orders/' + o + '/disputes',
		{ground: 'not_as_described', outcome: 'refund_only', amount: 400, description: 'A torn sleeve'});
	await as(s, 'POST', '/v1/disputes/' + d.id + '/reject', {message: 'It left whole'});
	await as(b, 'POST', '/v1/disputes/' + d.id + '/escalate', {});
	await as(await token('arbiter@demo.escrowd.test'), 'POST', '/v1/disputes/' + d.id + '/decide',
		{refund_amount: 400, reason: 'The photo shows the tear'});
	const arbiter = await signedIn('arbiter@demo.escrowd.test', DESKTOP);
	await arbiter.goto(base + '/#/order/' + o);
	await arbiter.getByText('The refund of €4.00 to the buyer is on its way.', {exact: true}).waitFor();
	assert.doesNotMatch(await arbiter.locator('main').textContent(), /your card|buyer's refund/);
	assert.deepEqual(shopPage.problems.concat(buyer.problems, arbiter.problems), []);
	await arbiter.context().close();
});

/* The tests below move the clock: each signs in after its move (idle
 * sessions end after 12 hours). */

test('issue 11 item 6: "Not delivered" shows disabled with the day it opens, then opens on that day', async () => {
	const email = 'not-delivered@demo.escrowd.test';
	const o = await order(await newBuyer(email), 'Clay planter', {deliveryDays: 3});
	await as(await seller(), 'POST', '/v1/orders/' + o + '/ship',
		{carrier: 'Posturinn', tracking_number: 'RR300IS'});
	const promised = (await operator('GET', '/v1/orders/' + o)).promised_delivery_at;
	const page = await signedIn(email, DESKTOP);
	const from = await day(page, Date.parse(promised));
	const c = cardOf(page, 'Clay planter');
	await c.getByRole('button', {name: 'More'}).click();
	await c.getByRole('button', {name: 'Open dispute'}).click();
	const options = page.getByLabel('What is wrong').locator('option');
	assert.deepEqual(await options.allTextContents(), ['Select here', 'Invalid tracking number', 'Not as described',
		'Not delivered (from ' + from + ')']);
	assert.equal(await options.nth(3).isDisabled(), true);
	await page.keyboard.press('Escape');
	await page.context().close();

	const shipped = (await operator('GET', '/v1/orders/' + o)).shipped_at; // the clock stands still
	await advance((Date.parse(promised) - Date.parse(shipped)) / 1000 + 60);
	const later = await signedIn(email, DESKTOP);
	const again = cardOf(later, 'Clay planter');
	await again.getByRole('button', {name: 'More'}).click();
	await again.getByRole('button', {name: 'Open dispute'}).click();
	const open = later.getByLabel('What is wrong').locator('option');
	assert.deepEqual(await open.allTextContents(), ['Select here', 'Invalid tracking number', 'Not as described',
		'Not delivered']);
	assert.equal(await open.nth(3).isDisabled(), false);
	assert.deepEqual(later.problems, []);
	await later.context().close();
});

test('issue 11 item 4: an order the system cancelled says why, to the buyer and to the seller', async () => {
	const email = 'closed-itself@demo.escrowd.test';
	const id = await newBuyer(email);
	const silent = await order(id, 'Unanswered kettle');
	const unpaid = await order(id, 'Never-paid kettle', {method: null});
	await as(await token(email), 'POST', '/v1/orders/' + silent + '/cancel', {reason: 'better_price'});
	// 72 hours in one jump, as after a restart: both deadlines fire at
	// once, and each still says its own window (its due time, kept with
	// the system's event), not the time it took to fire.
	await advance(72 * 3600);
	for (const o of [silent, unpaid])
		assert.equal((await operator('GET', '/v1/orders/' + o)).status, 'cancelled');

	const page = await signedIn(email, DESKTOP);
	await openTab(page, /Cancelled/);
	await cardOf(page, 'Unanswered kettle').getByText('The seller did not answer your cancellation request within ' +
		'72 hours, so the order was cancelled automatically.', {exact: true}).waitFor();
	await cardOf(page, 'Never-paid kettle').getByText('The order was not paid within 24 hours, so it was ' +
		'cancelled automatically.', {exact: true}).waitFor();
	await page.context().close();

	const phone = await signedIn(email, MOBILE, 'is');
	await phone.getByRole('link', {name: 'Unanswered kettle'}).click();
	await phone.getByText('Seljandinn svaraði ekki beiðni þinni um afturköllun innan 72 klukkustunda, svo ' +
		'pöntunin var afturkölluð sjálfkrafa.', {exact: true}).waitFor();
	await phone.context().close();

	const shopPage = await signedIn('knits@demo.escrowd.test', DESKTOP);
	await openTab(shopPage, /Cancelled/);
	await cardOf(shopPage, 'Unanswered kettle').getByText('You did not answer the buyer\'s cancellation request ' +
		'within 72 hours, so the order was cancelled automatically.', {exact: true}).waitFor();
	// An order a person cancelled says nothing of the kind.
	const accepted = await refunded('closed-by-person@demo.escrowd.test', 'Accepted kettle', 'card');
	assert.equal(accepted.status, 'cancelled');
	await shopPage.reload();
	await openTab(shopPage, /Cancelled/);
	const card = cardOf(shopPage, 'Accepted kettle');
	await card.getByText('The buyer\'s refund', {exact: false}).waitFor();
	await shopPage.waitForLoadState('networkidle');
	assert.equal(await card.getByText('automatically', {exact: false}).count(), 0);
	assert.deepEqual(page.problems.concat(phone.problems, shopPage.problems), []);
	await shopPage.context().close();
});

test('issue 16 item 3: the cancellation dialog shows what confirming would do before OK, writing nothing', async () => {
	const email = 'preview@demo.escrowd.test';
	const id = await newBuyer(email);
	const o = await order(id, 'Previewed teapot', {method: 'card'});
	const before = await operator('GET', '/v1/orders/' + o);
	const page = await signedIn(email, DESKTOP);
	const c = cardOf(page, 'Previewed teapot');
	await c.getByRole('button', {name: 'More'}).click();
	await c.getByRole('button', {name: 'Request cancellation'}).click();
	const dialog = page.getByRole('dialog', {name: 'Request cancellation'});
	await chooseReason(page, 'I no longer need this order (recommended)');
	const preview = dialog.locator('#cancel-preview');
	await preview.waitFor({state: 'visible'});
	await dialog.getByText('If you confirm, ' + await money(page, 1000, 'EUR') + ' goes back to you.', {exact: false}).waitFor();
	const text = await preview.textContent();
	// Review 4 item 7: a request's refund starts when the seller accepts,
	// so the days are counted from then, not dates from now.
	const settle = before.refund_expected_days;
	assert.ok(text.includes('It should reach your card ' + settle.min + '–' + settle.max +
		' days after the seller accepts (or after the request is approved unanswered).'), text);
	assert.doesNotMatch(text, /between/);
	assert.match(text, /The seller has until .+ to answer; without an answer the request is approved\./);
	assert.match(text, /before your account's level changes to “watch”\./);
	// The preview wrote nothing: the order is as it was.
	assert.deepEqual(await operator('GET', '/v1/orders/' + o), before);
	await wcag(page, 'the cancellation dialog with its preview');
	// Choosing the balance says so.
	await dialog.getByLabel('My store balance (at once)').check();
	await dialog.getByText('It goes to your store balance as soon as the seller accepts (or the request is approved unanswered).', {exact: false}).waitFor();
	await page.getByRole('button', {name: 'OK'}).click();
	await c.getByText('Cancellation requested.', {exact: false}).waitFor();
	assert.equal((await operator('GET', '/v1/orders/' + o)).version, before.version + 1);
	assert.deepEqual(page.problems, []);
	await page.context().close();
});

/* The words of a C string literal that may be split over lines: "A B "
 * "C" -> [A, B, C]. */
function cWords(source, name) {
	const m = source.match(new RegExp(name + String.raw`\[\] = ((?:\s*"[^"]*")+)`));
	assert.ok(m, name + ' not found');
	return m[1].match(/"([^"]*)"/g).join(' ').replace(/"/g, ' ').trim().split(/\s+/);
}

test('the web counts a currency\'s digits as the server does (src/core/money.c)', () => {
	const c = readFileSync(new URL('../../src/core/money.c', import.meta.url), 'utf8');
	const js = readFileSync(new URL('../../web/text.js', import.meta.url), 'utf8');
	const list = (name) => js.match(new RegExp(name + " = '([^']*)'"))[1].split(' ');
	assert.deepEqual(list('DIGITS_0'), cWords(c, 'zero'));
	assert.deepEqual(list('DIGITS_3'), cWords(c, 'three'));
});

test('an order in forints (2 digits for escrowd, none for Intl) shows and asks amounts as the server counts them', async () => {
	const email = 'forint@demo.escrowd.test';
	const o = await order(await newBuyer(email), 'Paprika tin', {currency: 'HUF', price: 2599});
	await as(await seller(), 'POST', '/v1/orders/' + o + '/ship',
		{carrier: 'Posturinn', tracking_number: 'RR100IS'});
	const page = await signedIn(email, DESKTOP);
	const shown = await money(page, 2599, 'HUF');
	assert.match(shown, /25\.99/);
	assert.match(await money(page, 2599, 'JPY'), /^[^.]*2,599[^.]*$/);
	assert.match(await money(page, 2599, 'KWD'), /2\.599/);
	const c = cardOf(page, 'Paprika tin');
	await c.getByText(shown, {exact: false}).first().waitFor();
	await c.getByRole('button', {name: 'More'}).click();
	await c.getByRole('button', {name: 'Open dispute'}).click();
	const amount = page.getByLabel('Amount', {exact: false});
	assert.equal(await amount.getAttribute('max'), '25.99');
	assert.equal(await amount.getAttribute('step'), '0.01');
	assert.equal(await page.locator('#amount-currency').textContent(), 'HUF');
	await page.getByLabel('What is wrong').selectOption({label: 'Not as described'});
	await page.getByLabel('Describe the problem').fill('The tin was dented.');
	await amount.fill('12.50');
	await page.getByRole('button', {name: 'OK'}).click();
	await page.getByRole('heading', {name: 'Dispute: Paprika tin'}).waitFor();
	const d = (await operator('GET', '/v1/orders/' + o)).dispute;
	assert.equal(d.amount, 1250);
	assert.deepEqual(page.problems, []);
	await page.context().close();
});
