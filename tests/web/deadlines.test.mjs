// deadlines.test.mjs - the running deadlines and what their passing does,
// shown to the party each concerns (review 4): an order's pay-by,
// ship-by, protection and confirm dates with their countdowns and the
// API's sentence, a dispute's window, a refund that is late, and the
// cancellation preview's dates. Each test names its item of the review.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {DESKTOP, MOBILE, base, operator, token, as, newBuyer, paidOrder, signedIn, cardOf} from './harness.mjs';

async function knits() {
	return (await operator('GET', '/v1/orders?limit=100')).data
		.find((o) => o.items[0].title === 'Wool socks, 3 pairs').seller_id;
}

/* The API's sentence of what a deadline's passing does, with its
 * amounts as the screens write them ("10.00 EUR" -> "€10.00", "10,00 EUR"
 * -> "10,00 €"): the page says the rule's template so. */
function asShown(text) {
	return text.replace(/(\d+([.,])\d\d) EUR/g, (all, n, sep) => sep === ',' ? n + ' €' : '€' + n);
}

/* The text of the order page's deadline line, once its rule's sentence
 * reads `want` (spaces as spaces). */
async function deadlineOf(page, name, want) {
	const line = page.locator('[data-deadline-name="' + name + '"]');
	await line.waitFor();
	if (want)
		await page.waitForFunction(([n, w]) => {
			const r = document.querySelector('[data-deadline-name="' + n + '"] .deadline-rule');
			return r && r.textContent.replace(/\s/g, ' ') === w;
		}, [name, want.replace(/\s/g, ' ')]);
	return (await line.textContent()).replace(/\s+/g, ' ');
}

test('review 4 item 1: each running deadline is shown, with its countdown and what happens then, to the party it concerns', async () => {
	const email = 'deadlines1@example.test';
	const buyerId = await newBuyer(email);
	const unpaid = await operator('POST', '/v1/orders', {buyer_id: buyerId, seller_id: await knits(), currency: 'EUR',
		items: [{title: 'Unpaid mitts', quantity: 1, unit_price: 1500}]});
	const paid = await paidOrder(buyerId, 'Waiting shawl');
	const buyer = await signedIn(email, MOBILE);

	// Unpaid: the buyer reads the pay-by date, the time left and the rule.
	await buyer.goto(base + '/#/order/' + unpaid.id);
	await buyer.getByRole('heading', {name: 'Unpaid mitts'}).waitFor();
	let o = await operator('GET', '/v1/orders/' + unpaid.id);
	let line = await deadlineOf(buyer, 'payment', asShown(o.deadline_rules.payment.text));
	assert.match(line, /^Pay by \d+ Dec 2026, \d\d:\d\d UTC\. Time left: 0 d 23 h 59 min/);
	assert.ok(line.includes(asShown(o.deadline_rules.payment.text).replace(/\s+/g, ' ')), line);
	// What happens then, on a line of its own under the countdown.
	assert.equal(await buyer.locator('[data-deadline-name="payment"] .deadline-rule').evaluate((e) =>
		getComputedStyle(e).display), 'block');
	assert.match(o.deadline_rules.payment.text, /cancelled/);

	// Paid: the buyer's card says when the seller must ship.
	await buyer.goto(base + '/#/orders?tab=awaiting_shipment');
	const card = cardOf(buyer, 'Waiting shawl');
	await card.waitFor();
	assert.match((await card.textContent()).replace(/\s+/g, ' '), /The seller must ship by .* UTC\. Time left: 6 d 23 h 59 min/);

	// The seller reads "Ship by" and what happens when it passes.
	const seller = await signedIn('knits@demo.escrowd.test', DESKTOP);
	await seller.goto(base + '/#/order/' + paid);
	await seller.getByRole('heading', {name: 'Waiting shawl'}).waitFor();
	o = await operator('GET', '/v1/orders/' + paid);
	line = await deadlineOf(seller, 'ship', asShown(o.deadline_rules.ship.text));
	assert.match(line, /^Ship by .* UTC\. Time left: 6 d 23 h 59 min/);
	assert.ok(line.includes(asShown(o.deadline_rules.ship.text).replace(/\s+/g, ' ')), line);
	assert.match(o.deadline_rules.ship.text, /cancelled/);

	// Shipped: when the order completes by itself.
	await as(await token('knits@demo.escrowd.test'), 'POST', '/v1/orders/' + paid + '/ship',
		{carrier: 'Posturinn', tracking_number: 'RR555000111IS'});
	await buyer.goto(base + '/#/order/' + paid);
	await buyer.getByRole('heading', {name: 'Waiting shawl'}).waitFor();
	o = await operator('GET', '/v1/orders/' + paid);
	line = await deadlineOf(buyer, 'protection', asShown(o.deadline_rules.protection.text));
	assert.match(line, /^Your buyer protection runs until /);
	assert.ok(line.includes(asShown(o.deadline_rules.protection.text).replace(/\s+/g, ' ')), line);

	// Delivered: the buyer's time to confirm or dispute, moved by the clock.
	await operator('POST', '/v1/orders/' + paid + '/deliver', {});
	await operator('POST', '/v1/clock/advance', {seconds: 3600});
	o = await operator('GET', '/v1/orders/' + paid);
	await seller.reload(); /* the same address: drawn again */
	await seller.getByRole('heading', {name: 'Waiting shawl'}).waitFor();
	line = await deadlineOf(seller, 'confirm', asShown(o.deadline_rules.confirm.text));
	assert.match(line, /^The buyer has until .* to confirm receipt or open a dispute\. Time left: \d+ d/);
	assert.ok(line.includes(asShown(o.deadline_rules.confirm.text).replace(/\s+/g, ' ')), line);

	// Completed: how long the buyer may still open a dispute.
	await as(await token(email), 'POST', '/v1/orders/' + paid + '/confirm-receipt', {});
	const mine = await as(await token(email), 'GET', '/v1/orders/' + paid);
	const disputes = mine.actions.find((a) => a.name === 'disputes');
	await buyer.reload();
	await buyer.getByRole('heading', {name: 'Waiting shawl'}).waitFor();
	line = await deadlineOf(buyer, 'dispute_after_completion', asShown(disputes.deadline_rule.text));
	assert.match(line, /^You can still open a dispute until \d+ \w+ 20\d\d, \d\d:\d\d UTC\. Time left: \d+ d/);
	assert.match(disputes.deadline_rule.text, /no dispute can be opened/);
	await seller.context().close();
	await buyer.context().close();
});

test('review 4 item 1: in Icelandic the deadline\'s sentence is the API\'s Icelandic one', async () => {
	const email = 'deadlines1is@example.test';
	const buyerId = await newBuyer(email);
	const id = await paidOrder(buyerId, 'Íslensk húfa');
	const buyer = await signedIn(email, DESKTOP, 'is');
	await buyer.goto(base + '/#/order/' + id);
	await buyer.getByRole('heading', {name: 'Íslensk húfa'}).waitFor();
	const r = await fetch(base + '/v1/orders/' + id, {headers: {'Authorization': 'Bearer web-test-operator-key-0001',
		'Accept-Language': 'is'}});
	const o = await r.json();
	const line = await deadlineOf(buyer, 'ship', asShown(o.deadline_rules.ship.text));
	assert.match(line, /^Seljandinn þarf að senda fyrir /);
	assert.match(line, / 10,00\s€ fer aftur á kortið/);
	await buyer.context().close();
});
