// ui.test.mjs - the web interface in a real browser (issue 5): Node's test
// runner with playwright-core driving Debian's chromium against the real
// daemon, started with a manual clock on a temporary store filled by
// `escrowd demo`. Time moves through the operator's /v1/clock/advance,
// never by sleeping. ESC_SCREENSHOTS=DIR saves the main screens there.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {DESKTOP, MOBILE, PASSWORD, base, browser, operator, token, as, newBuyer, paidOrder, signedIn, shot,
	openTab, openOnPhone, cardOf, chooseReason, wcag} from './harness.mjs';

test('desktop: the buyer requests a cancellation, the seller accepts, the refund shows', async () => {
	const buyer = await signedIn('ana@demo.escrowd.test', DESKTOP);
	await openTab(buyer, /Awaiting shipment/);
	await shot(buyer, 'desktop-buyer-orders');
	const card = cardOf(buyer, 'Stoneware mug, set of 2');
	await card.getByRole('button', {name: 'More'}).click();
	await card.getByRole('button', {name: 'Request cancellation'}).click();
	await chooseReason(buyer, 'I no longer need this order (recommended)');
	await shot(buyer, 'desktop-buyer-cancel');
	await buyer.getByRole('button', {name: 'OK'}).click();
	await card.getByText('Cancellation requested. The seller has this long to answer:').waitFor();
	assert.match(await card.locator('.countdown .short').textContent(), /^2 d 23 h 59 min$/);
	assert.equal(await card.locator('.countdown .words').textContent(), '2 days, 23 hours and 59 minutes left');
	assert.deepEqual(buyer.problems, []);

	const seller = await signedIn('ceramics@demo.escrowd.test', DESKTOP);
	const waiting = seller.locator('#waiting li.card').filter({hasText: 'Stoneware mug, set of 2'});
	await waiting.getByText('I no longer need this order').waitFor();
	await shot(seller, 'desktop-seller-requests');
	await waiting.getByRole('button', {name: 'More'}).click();
	await waiting.getByRole('button', {name: 'Accept cancellation'}).click();
	// Money moves: asked once (issue 11 item 11).
	await seller.getByRole('button', {name: 'Accept and refund'}).click();
	await seller.getByText('The order is cancelled and the buyer refunded.').waitFor();

	await buyer.reload();
	await openTab(buyer, /Cancelled/);
	const done = cardOf(buyer, 'Stoneware mug, set of 2');
	await done.getByText(/^Refund of €\d+\.\d\d: on its way\. It should reach your card between \d+ \w+ \d{4} and \d+ \w+ \d{4}\.$/).waitFor();
	assert.equal(await done.locator('.state').textContent(), 'Cancelled');
	await shot(buyer, 'desktop-buyer-refund');
	await buyer.context().close();
	await seller.context().close();
});

test('mobile: Profile, Awaiting shipment, the order, Cancel order, a reason, OK', async () => {
	const page = await signedIn('chloe@demo.escrowd.test', MOBILE);
	await page.getByRole('link', {name: 'Profile'}).click();
	await shot(page, 'mobile-profile');
	await page.getByRole('link', {name: /Awaiting shipment/}).click();
	await page.getByRole('link', {name: 'Wool mittens'}).click();
	await page.getByRole('heading', {name: 'Wool mittens'}).waitFor();
	const cancel = page.getByRole('button', {name: 'Cancel order'});
	const box = await cancel.boundingBox();
	assert.ok(box.height >= 44, 'a touch-sized button');
	await cancel.click();
	await chooseReason(page, 'I want to change the order (size, colour, address)');
	await shot(page, 'mobile-cancel');
	await page.getByRole('button', {name: 'OK'}).click();
	await page.getByText('Cancellation requested. The seller has this long to answer:').waitFor();

	// The seller, on a phone too: tap the waiting request, accept.
	const seller = await signedIn('knits@demo.escrowd.test', MOBILE);
	await seller.locator('#waiting').getByRole('link', {name: 'Wool mittens'}).click();
	await seller.getByRole('button', {name: 'Accept cancellation'}).click();
	await seller.getByRole('button', {name: 'Accept and refund'}).click();
	await seller.getByText('The order is cancelled and the buyer refunded.').waitFor();
	await page.reload();
	await page.getByText(/Refund of .*: on its way\./).waitFor();
	await shot(page, 'mobile-refund');
	assert.deepEqual(page.problems.concat(seller.problems), []);
	await page.context().close();
	await seller.context().close();
});

test('mobile: the seller rejects a request with a message, then ships', async () => {
	const page = await signedIn('records@demo.escrowd.test', MOBILE);
	const waiting = page.locator('#waiting li.card').filter({hasText: 'Record player needle'});
	await waiting.getByRole('button', {name: 'More'}).click();
	await waiting.getByRole('button', {name: 'Reject cancellation'}).click();
	await page.getByLabel('Message to the buyer').fill('It is packed and leaves today.');
	await page.getByRole('button', {name: 'OK'}).click();
	await page.getByText('The request was rejected.').waitFor();
	const card = page.locator('#orders li.card').filter({hasText: 'Record player needle'});
	await card.getByText('You rejected the cancellation request:').waitFor();
	await card.getByRole('button', {name: 'More'}).click();
	await card.getByRole('button', {name: 'Ship'}).click();
	await page.getByLabel('Carrier').fill('Posturinn');
	await page.getByLabel('Tracking number').fill('RR555IS');
	await page.getByRole('button', {name: 'OK'}).click();
	await page.getByText('The order is marked shipped.').waitFor();
	// The list is drawn again after the answer: wait for the new card.
	await card.locator('.state').filter({hasText: /^Shipped$/}).waitFor();
	assert.deepEqual(page.problems, []);
	await page.context().close();
});

test('a buyer at the watch level is warned before confirming another cancellation', async () => {
	const id = await newBuyer('watched@demo.escrowd.test');
	const buyer = await token('watched@demo.escrowd.test');
	const seller = await token('knits@demo.escrowd.test');
	for (let i = 0; i < 3; i++) {
		const o = await paidOrder(id, 'Yarn ' + i);
		await as(buyer, 'POST', '/v1/orders/' + o + '/cancel', {reason: 'no_longer_needed'});
		await as(seller, 'POST', '/v1/orders/' + o + '/cancellation/accept', {});
	}
	await paidOrder(id, 'Needles');
	const page = await signedIn('watched@demo.escrowd.test', MOBILE);
	await page.getByRole('link', {name: 'Needles'}).click();
	await page.getByRole('button', {name: 'Cancel order'}).click();
	const warning = page.locator('#level-warning');
	await warning.waitFor();
	assert.match(await warning.textContent(), /watched for frequent cancellations \(3 cancellations/);
	await page.context().close();
});

test('an arbiter lifts a buyer\'s suspension, with a reason', async () => {
	const id = await newBuyer('suspended@demo.escrowd.test');
	const buyer = await token('suspended@demo.escrowd.test');
	const seller = await token('knits@demo.escrowd.test');
	const arbiter = await token('arbiter@demo.escrowd.test');
	let dsp;
	for (let i = 0; i < 3; i++) {
		const o = await paidOrder(id, 'Scarf ' + i);
		await as(seller, 'POST', '/v1/orders/' + o + '/ship', {carrier: 'Posturinn', tracking_number: 'RR9IS'});
		dsp = (await as(buyer, 'POST', '/v1/orders/' + o + '/disputes', {ground: 'not_as_described',
			outcome: 'refund_only', amount: 500, description: 'Too short'})).id;
		await as(seller, 'POST', '/v1/disputes/' + dsp + '/reject', {message: 'It is as listed'});
		await as(buyer, 'POST', '/v1/disputes/' + dsp + '/escalate', {});
		await as(arbiter, 'POST', '/v1/disputes/' + dsp + '/decide', {refund_amount: 0, reason: 'As listed'});
	}
	assert.equal((await operator('GET', '/v1/users/' + id + '/reputation')).level, 'suspended');
	// The buyer is told why there is no cancellation, on both sizes.
	await paidOrder(id, 'Gloves');
	const desk = await signedIn('suspended@demo.escrowd.test', DESKTOP);
	const gloves = cardOf(desk, 'Gloves');
	await gloves.getByText('Your account is suspended, so you cannot request cancellations.', {exact: false}).waitFor();
	assert.equal(await gloves.getByRole('button', {name: 'Request cancellation', includeHidden: true}).count(), 0);
	await desk.context().close();
	const phone = await signedIn('suspended@demo.escrowd.test', MOBILE);
	await openOnPhone(phone, 'Awaiting shipment', 'Gloves');
	await phone.getByText('Your account is suspended, so you cannot request cancellations.', {exact: false}).waitFor();
	assert.equal(await phone.getByRole('button', {name: 'Cancel order'}).count(), 0);
	await phone.context().close();

	const page = await signedIn('arbiter@demo.escrowd.test', DESKTOP);
	await page.goto(base + '/#/dispute/' + dsp);
	await page.getByRole('button', {name: 'Lift the buyer\'s suspension'}).click();
	await page.getByLabel('Written reason').fill('The shop\'s size chart was wrong at the time.');
	await page.getByRole('button', {name: 'OK'}).click();
	await page.getByText('The suspension is lifted.').waitFor();
	const rep = await operator('GET', '/v1/users/' + id + '/reputation');
	assert.equal(rep.level, 'restricted');
	assert.equal(rep.suspensions_lifted[0].reason, 'The shop\'s size chart was wrong at the time.');
	await page.context().close();
});

test('mobile: a delivered order, Open dispute, the dispute page with its history', async () => {
	const page = await signedIn('ana@demo.escrowd.test', MOBILE);
	await page.getByRole('link', {name: 'Profile'}).click();
	await page.getByRole('link', {name: /Shipped/}).click();
	await page.getByRole('link', {name: 'Wool hat'}).click();
	await page.getByRole('button', {name: 'Open dispute'}).click();
	await page.getByLabel('What is wrong').selectOption({label: 'Not as described'});
	await page.getByLabel('Return the goods for a refund').check();
	await page.getByLabel('Describe the problem').fill('It is two sizes too small.');
	await shot(page, 'mobile-dispute');
	await page.getByRole('button', {name: 'OK'}).click();
	await page.getByRole('heading', {name: 'Dispute: Wool hat'}).waitFor();
	await page.locator('#history li').filter({hasText: 'dispute opened'}).waitFor();
	const withdraw = page.getByRole('button', {name: 'Withdraw the dispute'});
	assert.ok((await withdraw.boundingBox()).height >= 44);
	assert.deepEqual(page.problems, []);
	await page.context().close();
});

test('the order tabs answer the arrow keys', async () => {
	const page = await signedIn('chloe@demo.escrowd.test', DESKTOP);
	await page.getByRole('tab', {name: /^All/}).focus();
	await page.keyboard.press('ArrowRight');
	await page.getByRole('tab', {name: /Awaiting payment/, selected: true}).waitFor();
	assert.equal(await page.evaluate(() => document.activeElement.id), 'tab-awaiting_payment');
	await page.keyboard.press('ArrowLeft');
	await page.getByRole('tab', {name: /^All/, selected: true}).waitFor();
	await page.getByRole('tabpanel').waitFor();
	await page.context().close();
});

test('the seller silent for 72 hours, at both sizes: the order cancels itself and the refund shows', async () => {
	// A request from a desktop (the demo's bowl: a rejected request, so
	// one left) and one from a phone, then one clock move for both.
	const desk = await signedIn('bjorn@demo.escrowd.test', DESKTOP);
	const card = cardOf(desk, 'Serving bowl');
	await card.getByRole('button', {name: 'More'}).click();
	await card.getByRole('button', {name: 'Request cancellation'}).click();
	await chooseReason(desk, 'I found a better price elsewhere');
	await desk.getByRole('button', {name: 'OK'}).click();
	await card.getByText('Cancellation requested.', {exact: false}).waitFor();

	await paidOrder(await newBuyer('silent@demo.escrowd.test'), 'Tea cosy');
	const phone = await signedIn('silent@demo.escrowd.test', MOBILE);
	await openOnPhone(phone, 'Awaiting shipment', 'Tea cosy');
	await phone.getByRole('button', {name: 'Cancel order'}).click();
	await chooseReason(phone, 'I found a better price elsewhere');
	await phone.getByRole('button', {name: 'OK'}).click();
	await phone.getByText('Cancellation requested.', {exact: false}).waitFor();

	await operator('POST', '/v1/clock/advance', {seconds: 72 * 3600});
	for (const [page, email] of [[desk, 'bjorn@demo.escrowd.test'], [phone, 'silent@demo.escrowd.test']]) {
		await page.reload();
		await page.getByLabel('Email').fill(email); // idle sessions end after 12 h
		await page.getByLabel('Password').fill(PASSWORD);
		await page.getByRole('button', {name: 'Sign in'}).click();
		await page.getByRole('heading', {name: 'My orders'}).waitFor();
	}
	await openTab(desk, /Cancelled/);
	await cardOf(desk, 'Serving bowl').getByText(/Refund of .*: on its way\./).waitFor();
	await openOnPhone(phone, 'Cancelled', 'Tea cosy');
	await phone.getByText(/Refund of .*: on its way\./).waitFor();
	await phone.getByText(/It should reach your card between \d+ \w+ \d{4} and \d+ \w+ \d{4}\./).waitFor();
	assert.deepEqual(desk.problems.concat(phone.problems), []);
	await desk.context().close();
	await phone.context().close();
});

test('a comment with markup shows as text to the seller', async () => {
	const markup = '<b>bold</b><img src=x onerror="window.pwned=1">';
	const buyer = await signedIn('bjorn@demo.escrowd.test', DESKTOP);
	const order = await operator('POST', '/v1/orders', {
		buyer_id: (await (await buyer.request.get(base + '/v1/me')).json()).id,
		seller_id: (await operator('GET', '/v1/orders?limit=100')).data
			.find((o) => o.items[0].title === 'Wool socks, 3 pairs').seller_id,
		currency: 'EUR', items: [{title: 'Knitted hat <i>', quantity: 1, unit_price: 2000}],
	});
	await operator('POST', '/v1/orders/' + order.id + '/pay', {amount: 2000, payment_method: 'card'});
	await buyer.reload();
	const card = cardOf(buyer, 'Knitted hat <i>');
	await card.getByRole('button', {name: 'More'}).click();
	await card.getByRole('button', {name: 'Request cancellation'}).click();
	await chooseReason(buyer, 'I no longer need this order (recommended)');
	await buyer.getByLabel('Comment for the seller (optional)').fill(markup);
	await buyer.getByRole('button', {name: 'OK'}).click();
	await card.getByText('Cancellation requested.', {exact: false}).waitFor();

	const seller = await signedIn('knits@demo.escrowd.test', DESKTOP);
	const waiting = seller.locator('#waiting li.card').filter({hasText: 'Knitted hat <i>'});
	assert.equal(await waiting.locator('q').textContent(), markup);
	assert.equal(await waiting.locator('b, img, i').count(), 0);
	assert.equal(await seller.evaluate(() => window.pwned), undefined);
	await buyer.context().close();
	await seller.context().close();
});

// A 1x1 PNG: a photo of the damage.
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108020000009077' +
	'53de0000000c49444154789c6338636c0c0003010133c4c27b130000000049454e44ae426082', 'hex');

test('a shipped order: no cancellation, a dispute with a PNG, the seller rejects, an arbiter decides', async () => {
	const buyer = await signedIn('bjorn@demo.escrowd.test', DESKTOP);
	await openTab(buyer, /Shipped/);
	const card = cardOf(buyer, 'Wool socks, 3 pairs');
	await card.getByText('This order has shipped, so it can no longer be cancelled.', {exact: false}).waitFor();
	await card.getByRole('button', {name: 'More'}).click();
	assert.equal(await card.getByRole('button', {name: 'Request cancellation'}).count(), 0);
	await card.getByRole('button', {name: 'Open dispute'}).click();
	const grounds = await buyer.getByLabel('What is wrong').locator('option').allTextContents();
	assert.deepEqual(grounds.slice(0, 3), ['Select here', 'Invalid tracking number', 'Not as described']);
	assert.match(grounds[3], /^Not delivered \(from \d+ \w+ \d{4}\)$/); // not yet open
	await buyer.getByLabel('What is wrong').selectOption({label: 'Not as described'});
	await buyer.getByLabel('Amount', {exact: false}).fill('10.00');
	await buyer.getByLabel('Describe the problem').fill('Two of the socks have holes.');
	await buyer.getByLabel('Photos or documents', {exact: false}).setInputFiles(
		{name: 'holes.png', mimeType: 'image/png', buffer: PNG});
	await shot(buyer, 'desktop-buyer-dispute');
	await buyer.getByRole('button', {name: 'OK'}).click();
	await buyer.getByRole('heading', {name: 'Dispute: Wool socks, 3 pairs'}).waitFor();
	await buyer.getByRole('img', {name: 'holes.png, from the buyer'}).waitFor();
	const disputeUrl = buyer.url();

	const seller = await signedIn('knits@demo.escrowd.test', DESKTOP);
	await seller.goto(disputeUrl);
	// A message with markup, shown to the buyer as text.
	await seller.getByLabel('Message to the other party').fill('<b>No</b> holes here');
	await seller.getByRole('button', {name: 'Send'}).click();
	await seller.locator('#messages q').filter({hasText: '<b>No</b> holes here'}).waitFor();
	await seller.getByRole('button', {name: 'Reject'}).click();
	await seller.getByLabel('Message', {exact: true}).fill('They left here whole.');
	await seller.getByRole('button', {name: 'OK'}).click();
	await seller.getByText('Dispute: the seller rejected it.').waitFor();

	await buyer.reload();
	assert.equal(await buyer.locator('#messages q').first().textContent(), '<b>No</b> holes here');
	assert.equal(await buyer.locator('#messages b').count(), 0);
	await buyer.getByRole('button', {name: 'Ask an arbiter'}).click();
	await buyer.getByRole('dialog', {name: 'Ask an arbiter?'}).getByRole('button', {name: 'Send to an arbiter'}).click();
	await buyer.getByText('Dispute: with an arbiter.').waitFor();

	const arbiter = await signedIn('arbiter@demo.escrowd.test', DESKTOP);
	await arbiter.getByRole('heading', {name: 'Escalated disputes'}).waitFor();
	await arbiter.locator('#disputes li.card').filter({hasText: 'Two of the socks have holes.'})
		.getByRole('link').click();
	await arbiter.getByRole('heading', {name: /Recommended refund/}).waitFor();
	await arbiter.getByRole('img', {name: 'holes.png, from the buyer'}).waitFor();
	await shot(arbiter, 'desktop-arbiter-dispute');
	await arbiter.getByRole('button', {name: 'Decide'}).click();
	await arbiter.getByLabel('Refund amount').fill('5.00');
	await arbiter.getByLabel('Written reason').fill('One pair of three is damaged.');
	await arbiter.getByRole('button', {name: 'OK'}).click();
	await arbiter.getByText('Dispute resolved.').waitFor();
	// The seller's profile: the score and what moved it.
	await seller.getByRole('link', {name: 'Profile'}).click();
	await seller.getByRole('heading', {name: /Your score: \d+ of 100/}).waitFor();
	await seller.locator('#rep-events li').filter({hasText: 'a dispute lost'}).first().waitFor();
	await shot(seller, 'desktop-seller-profile');
	assert.deepEqual(buyer.problems.concat(seller.problems, arbiter.problems), []);
	for (const p of [buyer, seller, arbiter])
		await p.context().close();
});

test('Icelandic, from the browser or the switch, at both sizes', async () => {
	const page = await signedIn('ana@demo.escrowd.test', DESKTOP, 'is');
	await page.getByRole('heading', {name: 'Pantanirnar mínar'}).waitFor();
	await page.getByRole('tab', {name: /Bíða sendingar/}).waitFor();
	await shot(page, 'desktop-buyer-orders-is');
	await page.locator('#lang').selectOption('en');
	await page.getByRole('heading', {name: 'My orders'}).waitFor();
	await page.context().close();

	const phone = await signedIn('ana@demo.escrowd.test', MOBILE, 'is');
	await phone.getByRole('link', {name: 'Prófíll'}).click();
	await phone.getByRole('link', {name: /^Bíða sendingar/}).click();
	await phone.getByRole('heading', {name: 'Pantanirnar mínar'}).waitFor();
	await shot(phone, 'mobile-buyer-orders-is');
	assert.deepEqual(phone.problems, []);
	await phone.context().close();
});

test('desktop: the seller rejects a request with a message, then ships', async () => {
	const id = await newBuyer('asks@demo.escrowd.test');
	const o = await paidOrder(id, 'Cable-knit jumper');
	await as(await token('asks@demo.escrowd.test'), 'POST', '/v1/orders/' + o + '/cancel', {reason: 'no_longer_needed'});
	const page = await signedIn('knits@demo.escrowd.test', DESKTOP);
	const waiting = page.locator('#waiting li.card').filter({hasText: 'Cable-knit jumper'});
	await waiting.locator('.countdown').waitFor();
	await waiting.getByRole('button', {name: 'More'}).click();
	assert.equal(await waiting.getByRole('button', {name: 'Ship'}).count(), 0, 'no shipping while a request is open');
	await waiting.getByRole('button', {name: 'Reject cancellation'}).click();
	await page.getByLabel('Message to the buyer').fill('Knitted and ready: it leaves today.');
	await page.getByRole('button', {name: 'OK'}).click();
	await page.getByText('The request was rejected.').waitFor();
	const card = page.locator('#orders li.card').filter({hasText: 'Cable-knit jumper'});
	await card.getByText('You rejected the cancellation request:').waitFor();
	await card.getByRole('button', {name: 'More'}).click();
	await card.getByRole('button', {name: 'Ship'}).click();
	await page.getByLabel('Carrier').fill('Posturinn');
	await page.getByLabel('Tracking number').fill('RR777IS');
	await page.getByRole('button', {name: 'OK'}).click();
	await page.getByText('The order is marked shipped.').waitFor();
	await card.locator('.state').filter({hasText: /^Shipped$/}).waitFor();
	const after = await operator('GET', '/v1/orders/' + o);
	assert.equal(after.status, 'shipped');
	assert.equal(after.shipment.tracking_number, 'RR777IS');
	assert.deepEqual(page.problems, []);
	await page.context().close();
});

test('mobile: a shipped order, a dispute with a PNG, a message with markup, an arbiter decides on a phone', async () => {
	const id = await newBuyer('phone-dispute@demo.escrowd.test');
	const o = await paidOrder(id, 'Felted slippers');
	await as(await token('knits@demo.escrowd.test'), 'POST', '/v1/orders/' + o + '/ship',
		{carrier: 'Posturinn', tracking_number: 'RR321IS'});
	const buyer = await signedIn('phone-dispute@demo.escrowd.test', MOBILE);
	await openOnPhone(buyer, 'Shipped', 'Felted slippers');
	await buyer.getByText('This order has shipped, so it can no longer be cancelled.', {exact: false}).waitFor();
	assert.equal(await buyer.getByRole('button', {name: 'Cancel order'}).count(), 0);
	await buyer.getByRole('button', {name: 'Open dispute'}).click();
	await buyer.getByLabel('What is wrong').selectOption({label: 'Not as described'});
	await buyer.getByLabel('Amount', {exact: false}).fill('10.00');
	await buyer.getByLabel('Describe the problem').fill('The soles came apart.');
	await buyer.getByLabel('Photos or documents', {exact: false}).setInputFiles(
		{name: 'soles.png', mimeType: 'image/png', buffer: PNG});
	await buyer.getByRole('button', {name: 'OK'}).click();
	await buyer.getByRole('heading', {name: 'Dispute: Felted slippers'}).waitFor();
	await buyer.getByRole('img', {name: 'soles.png, from the buyer'}).waitFor();
	await shot(buyer, 'mobile-dispute-page');

	const seller = await signedIn('knits@demo.escrowd.test', MOBILE);
	await openOnPhone(seller, 'Disputes', 'Felted slippers');
	await seller.getByRole('link', {name: 'See the dispute'}).click();
	await seller.getByLabel('Message to the other party').fill('<script>alert(1)</script> Soles are glued');
	await seller.getByRole('button', {name: 'Send'}).click();
	await seller.locator('#messages q').filter({hasText: '<script>alert(1)</script> Soles are glued'}).waitFor();
	await seller.getByRole('button', {name: 'Reject'}).click();
	await seller.getByLabel('Message', {exact: true}).fill('They were whole when sent.');
	await seller.getByRole('button', {name: 'OK'}).click();
	await seller.getByText('Dispute: the seller rejected it.').waitFor();

	await buyer.reload();
	assert.equal(await buyer.locator('#messages q').first().textContent(), '<script>alert(1)</script> Soles are glued');
	assert.equal(await buyer.locator('#messages script').count(), 0);
	await buyer.getByRole('button', {name: 'Ask an arbiter'}).click();
	await buyer.getByRole('dialog', {name: 'Ask an arbiter?'}).getByRole('button', {name: 'Send to an arbiter'}).click();
	await buyer.getByText('Dispute: with an arbiter.').waitFor();

	const arbiter = await signedIn('arbiter@demo.escrowd.test', MOBILE);
	await arbiter.locator('#disputes li.card').filter({hasText: 'The soles came apart.'}).getByRole('link').click();
	await arbiter.getByRole('heading', {name: /Recommended refund/}).waitFor();
	await arbiter.getByRole('img', {name: 'soles.png, from the buyer'}).waitFor();
	await shot(arbiter, 'mobile-arbiter-dispute');
	const decide = arbiter.getByRole('button', {name: 'Decide'});
	assert.ok((await decide.boundingBox()).height >= 44, 'a touch-sized button');
	await decide.click();
	await arbiter.getByLabel('Refund amount').fill('10.00');
	await arbiter.getByLabel('Written reason').fill('The photo shows the soles apart.');
	await arbiter.getByRole('button', {name: 'OK'}).click();
	await arbiter.getByText('Dispute resolved.').waitFor();
	const after = await operator('GET', '/v1/orders/' + o);
	assert.equal(after.refunded, 1000);
	assert.deepEqual(buyer.problems.concat(seller.problems, arbiter.problems), []);
	for (const p of [buyer, seller, arbiter])
		await p.context().close();
});

test('dialogs take the focus, keep the tab order, and give it back', async () => {
	await paidOrder(await newBuyer('keys@demo.escrowd.test'), 'Mohair shawl');
	const page = await signedIn('keys@demo.escrowd.test', DESKTOP);
	const card = cardOf(page, 'Mohair shawl');
	const more = card.getByRole('button', {name: 'More'});
	await more.focus();
	await page.keyboard.press('Enter');
	await page.keyboard.press('Tab');
	assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Request cancellation');
	await page.keyboard.press('Enter');
	await page.getByRole('dialog', {name: 'Request cancellation'}).waitFor();
	const order = [];
	for (let i = 0; i < 5; i++) {
		order.push(await page.evaluate(() => {
			const el = document.activeElement;
			return el.labels && el.labels.length ? el.labels[0].textContent.trim() : el.textContent;
		}));
		await page.keyboard.press('Tab');
	}
	assert.deepEqual(order, ['Reason', 'Comment for the seller (optional)', 'Back to my card (usually 3–7 days)', 'OK', 'Back']);
	await page.keyboard.press('Escape');
	await page.getByRole('dialog').waitFor({state: 'detached'});
	assert.equal(await page.evaluate(() => document.activeElement.textContent), 'More');
	await page.context().close();
});

test('WCAG 2.1 AA on the main screens, at both sizes', async () => {
	for (const size of [DESKTOP, MOBILE]) {
		const at = size === DESKTOP ? 'desktop' : 'mobile';
		const context = await browser.newContext({viewport: size, locale: 'en-GB'});
		const anon = await context.newPage();
		await anon.goto(base + '/');
		await anon.getByLabel('Email').waitFor();
		await wcag(anon, at + ': sign in');
		await context.close();

		const email = 'a11y-' + at + '@demo.escrowd.test';
		await paidOrder(await newBuyer(email), 'Lambswool blanket');
		const buyer = await signedIn(email, size);
		await wcag(buyer, at + ': orders');
		await buyer.getByRole('link', {name: 'Profile'}).click();
		await buyer.getByRole('heading', {name: 'Profile'}).waitFor();
		await wcag(buyer, at + ': profile');
		await buyer.goto(base + '/#/orders?tab=awaiting_shipment');
		const card = cardOf(buyer, 'Lambswool blanket');
		await card.getByRole('button', {name: 'More'}).click();
		await wcag(buyer, at + ': an order\'s menu');
		await card.getByRole('button', {name: 'Request cancellation'}).click();
		await buyer.getByLabel('Reason').waitFor();
		await wcag(buyer, at + ': the cancellation dialog');
		await buyer.keyboard.press('Escape');
		await card.getByRole('link').click();
		await buyer.getByRole('button', {name: 'Cancel order'}).waitFor();
		await wcag(buyer, at + ': an order');
		await buyer.context().close();

		const arbiter = await signedIn('arbiter@demo.escrowd.test', size);
		await wcag(arbiter, at + ': the escalated disputes');
		await arbiter.locator('#disputes li.card a').first().click();
		await arbiter.getByRole('heading', {name: /Recommended refund/}).waitFor();
		await wcag(arbiter, at + ': a dispute, for the arbiter');
		await arbiter.getByRole('button', {name: 'Decide'}).click();
		await arbiter.getByLabel('Refund amount').waitFor();
		await wcag(arbiter, at + ': the decision dialog');
		await arbiter.context().close();

		const seller = await signedIn('knits@demo.escrowd.test', size, 'is');
		await wcag(seller, at + ': the seller\'s orders, in Icelandic');
		await seller.context().close();
	}
});

test('desktop: a tracking number with a wrong check digit is refused with what the carrier\'s numbers look like', async () => {
	const id = await newBuyer('tracked@demo.escrowd.test');
	const o = await paidOrder(id, 'Mohair scarf');
	const page = await signedIn('knits@demo.escrowd.test', DESKTOP);
	const card = page.locator('#orders li.card').filter({hasText: 'Mohair scarf'});
	await card.getByRole('button', {name: 'More'}).click();
	await card.getByRole('button', {name: 'Ship'}).click();
	await page.getByLabel('Carrier').fill('UPS');
	await page.getByLabel('Tracking number').fill('1Z999AA10123456785');
	await page.getByRole('button', {name: 'OK'}).click();
	await page.getByText('like 1Z999AA10123456784', {exact: false}).waitFor();
	assert.equal((await operator('GET', '/v1/orders/' + o)).status, 'awaiting_shipment');
	await page.getByLabel('Tracking number').fill('1Z 999 AA1 0123456784');
	await page.getByRole('button', {name: 'OK'}).click();
	await page.getByText('The order is marked shipped.').waitFor();
	const after = await operator('GET', '/v1/orders/' + o);
	assert.equal(after.shipment.tracking_check, 'valid');
	assert.deepEqual(page.problems, []);
	await page.context().close();
});
