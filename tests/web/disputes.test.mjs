// disputes.test.mjs - a dispute as the review (review 4) walked it:
// evidence refused before anything is sent, a dispute opened whose file
// then failed, the answers that move money asked once, whose deadline it
// is and what happens then, the return shipment, the order and the
// reputations the arbiter weighs, and the history in the order page's
// words. Each test names its item of the review.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {DESKTOP, MOBILE, base, operator, token, as, newBuyer, paidOrder, signedIn, policy} from './harness.mjs';

/* A tracking number that fails its carrier's check is taken and flagged. */
policy('tracking_check = flag\n');

const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108020000009077' +
	'53de0000000c49444154789c6338636c0c0003010133c4c27b130000000049454e44ae426082', 'hex');
const SELLER = 'knits@demo.escrowd.test';

/* A shipped order of a new buyer's; with `dispute`, a dispute opened on it. */
async function shipped(email, title, dispute) {
	const buyerId = await newBuyer(email);
	const id = await paidOrder(buyerId, title);
	await as(await token(SELLER), 'POST', '/v1/orders/' + id + '/ship',
		{carrier: 'Posturinn', tracking_number: 'RR' + id.slice(-9).toUpperCase() + 'IS'});
	if (!dispute)
		return {id};
	const d = await as(await token(email), 'POST', '/v1/orders/' + id + '/disputes', {ground: 'not_as_described',
		outcome: 'refund_only', amount: 1000, description: 'The ' + title + ' came torn.', ...dispute});
	return {id, dispute: d.id};
}

async function openDialog(page, id, title) {
	await page.goto(base + '/#/order/' + id);
	await page.getByRole('heading', {name: title}).waitFor();
	await page.getByRole('button', {name: 'Open dispute'}).click();
	await page.getByLabel('What is wrong').selectOption({label: 'Not as described'});
	await page.getByLabel('Describe the problem').fill('It came torn.');
}

test('review 4 item 2: files escrowd would refuse are said before sending, naming the file; nothing is opened', async () => {
	const email = 'evidence2@example.test';
	const {id} = await shipped(email, 'Torn gloves');
	const page = await signedIn(email, DESKTOP);
	await openDialog(page, id, 'Torn gloves');
	const files = page.getByLabel('Photos or documents', {exact: false});
	const dlg = page.getByRole('dialog', {name: 'Open a dispute'});
	const ok = dlg.getByRole('button', {name: 'OK'});

	await files.setInputFiles({name: 'fake.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('not a picture at all')});
	await ok.click();
	await dlg.getByText('fake.jpg is not a JPEG, PNG or PDF file.').waitFor();

	const big = Buffer.concat([PNG, Buffer.alloc(6 * 1024 * 1024)]);
	await files.setInputFiles({name: 'big.png', mimeType: 'image/png', buffer: big});
	await ok.click();
	await dlg.getByText('big.png is larger than 5 MiB. Choose a smaller file.').waitFor();

	await files.setInputFiles(Array.from({length: 11}, (_, i) => ({name: 'p' + i + '.png', mimeType: 'image/png', buffer: PNG})));
	await ok.click();
	await dlg.getByText('Choose at most 10 files.').waitFor();

	const o = await operator('GET', '/v1/orders/' + id);
	assert.equal(o.status, 'shipped');
	assert.equal(o.dispute, null);
	assert.deepEqual(page.problems, []);
	await page.context().close();
});

test('review 4 item 2: a dispute opened whose file then fails goes to the dispute, saying which file failed', async () => {
	const email = 'evidence2b@example.test';
	const {id} = await shipped(email, 'Torn hat');
	const page = await signedIn(email, MOBILE, 'is');
	await page.goto(base + '/#/order/' + id);
	await page.getByRole('heading', {name: 'Torn hat'}).waitFor();
	await page.getByRole('button', {name: 'Opna ágreiningsmál'}).click();
	await page.locator('#ground').selectOption('not_as_described');
	await page.locator('#description').fill('Hún kom rifin.');
	await page.locator('#evidence').setInputFiles({name: 'rifa.png', mimeType: 'image/png', buffer: PNG});
	// The file's upload fails after the dispute was made (as a store that
	// refuses it would).
	await page.route('**/evidence?*', (r) => r.fulfill({status: 415, contentType: 'application/json',
		body: JSON.stringify({error: {code: 'unsupported_media_type', message: 'the file is not a JPEG, PNG or PDF'}})}));
	await page.getByRole('button', {name: 'Í lagi'}).click();
	await page.getByRole('heading', {name: 'Ágreiningur: Torn hat'}).waitFor();
	assert.equal(await page.locator('#dispute-flash').textContent(),
		'Ágreiningsmálið er opið, en rifa.png bættist ekki við: Skráin er hvorki JPEG, PNG né PDF. ' +
		'Bættu gögnunum við aftur hér fyrir neðan.');
	assert.equal(await page.getByRole('dialog').count(), 0);
	assert.equal((await operator('GET', '/v1/orders/' + id)).status, 'in_dispute');
	await page.context().close();
});

test('review 4 item 2: on the dispute\'s page a file escrowd would refuse is said there, naming it', async () => {
	const email = 'evidence2c@example.test';
	const {dispute} = await shipped(email, 'Torn scarf', {});
	const page = await signedIn(email, DESKTOP);
	await page.goto(base + '/#/dispute/' + dispute);
	await page.locator('#more-evidence').setInputFiles({name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('plain words')});
	await page.getByRole('button', {name: 'Add'}).click();
	await page.locator('#evidence-error').getByText('notes.png is not a JPEG, PNG or PDF file.').waitFor();
	assert.equal((await operator('GET', '/v1/disputes/' + dispute)).evidence.length, 0);
	await page.locator('#more-evidence').setInputFiles({name: 'tear.png', mimeType: 'image/png', buffer: PNG});
	await page.getByRole('button', {name: 'Add'}).click();
	await page.getByRole('img', {name: 'tear.png, from the buyer'}).waitFor();
	assert.deepEqual(page.problems, []);
	await page.context().close();
});

test('review 4 item 3: the seller\'s "refund as asked" asks once, naming the amount and the lost dispute', async () => {
	const {id, dispute} = await shipped('answer3@example.test', 'Felted bag', {amount: 800});
	const page = await signedIn(SELLER, DESKTOP);
	await page.goto(base + '/#/dispute/' + dispute);
	await page.getByRole('button', {name: 'Accept: refund as asked'}).click();
	const dlg = page.getByRole('dialog', {name: 'Refund as asked?'});
	assert.equal(await dlg.locator('#sure-text').textContent(), 'Felted bag (order ' + id + '): €8.00 goes back to the ' +
		'buyer now. It counts as a lost dispute on your score.');
	await dlg.getByRole('button', {name: 'Back'}).click();
	assert.equal((await operator('GET', '/v1/orders/' + id)).refunded, 0);
	await page.getByRole('button', {name: 'Accept: refund as asked'}).click();
	await page.getByRole('button', {name: 'Accept and refund'}).click();
	await page.getByText('Dispute resolved.').waitFor();
	assert.equal((await operator('GET', '/v1/orders/' + id)).refunded, 800);
	await page.context().close();
});

test('review 4 item 3: the buyer\'s withdrawal and acceptance of an offer ask once, naming the amounts', async () => {
	const email = 'answer3b@example.test';
	const a = await shipped(email, 'Wool vest', {});
	const b = await shipped('answer3c@example.test', 'Wool cap', {});
	const page = await signedIn(email, MOBILE);
	await page.goto(base + '/#/dispute/' + a.dispute);
	await page.getByRole('button', {name: 'Withdraw the dispute'}).click();
	const dlg = page.getByRole('dialog', {name: 'Withdraw the dispute?'});
	assert.equal(await dlg.locator('#sure-text').textContent(), 'Wool vest (order ' + a.id + '): the dispute ends ' +
		'without a refund, and you cannot open another on this order. The €10.00 held is paid to the seller when the order completes.');
	await dlg.getByRole('button', {name: 'Back'}).click();
	assert.equal((await operator('GET', '/v1/orders/' + a.id)).status, 'in_dispute');
	await page.getByRole('button', {name: 'Withdraw the dispute'}).click();
	await page.getByRole('button', {name: 'Withdraw without a refund'}).click();
	await page.getByText('Dispute resolved.').waitFor();
	const after = await operator('GET', '/v1/orders/' + a.id);
	assert.equal(after.status, 'shipped');
	assert.equal(after.refunded, 0);

	await as(await token(SELLER), 'POST', '/v1/disputes/' + b.dispute + '/counter-offer', {amount: 600});
	const other = await signedIn('answer3c@example.test', DESKTOP);
	await other.goto(base + '/#/dispute/' + b.dispute);
	await other.getByRole('button', {name: 'Accept the offer'}).click();
	const offer = other.getByRole('dialog', {name: 'Accept the offer?'});
	assert.equal(await offer.locator('#sure-text').textContent(), 'Wool cap (order ' + b.id + '): €6.00 comes back ' +
		'to you and the dispute ends; the rest held, €4.00, is paid to the seller.');
	await offer.getByRole('button', {name: 'Accept the offer'}).click();
	await other.getByText('Dispute resolved.').waitFor();
	assert.equal((await operator('GET', '/v1/orders/' + b.id)).refunded, 600);
	await page.context().close();
	await other.context().close();
});

test('review 4 items 2 and 11: an answer to a dispute that moved on is refused in the interface\'s words, and the page redrawn', async () => {
	const email = 'moved11@example.test';
	const {id, dispute} = await shipped(email, 'Moved mitts', {});
	const page = await signedIn(email, MOBILE, 'is');
	await page.goto(base + '/#/dispute/' + dispute);
	await page.getByRole('button', {name: 'Draga ágreiningsmálið til baka'}).click();
	// The seller refunds meanwhile.
	await as(await token(SELLER), 'POST', '/v1/disputes/' + dispute + '/accept', {});
	await page.getByRole('button', {name: 'Draga til baka án endurgreiðslu'}).click();
	const dlg = page.getByRole('dialog');
	await dlg.getByText('Þetta er ekki lengur hægt: pöntunin eða ágreiningsmálið hefur breyst í millitíðinni.').waitFor();
	await dlg.getByRole('button', {name: 'Til baka', exact: true}).click();
	await page.locator('#main').getByText('Ágreiningur leystur.').waitFor();
	assert.equal((await operator('GET', '/v1/orders/' + id)).refunded, 1000);
	await page.context().close();
});

test('review 4 items 4, 5, 13: whose time it is and what then; the return shipment to the seller; the history\'s words', async () => {
	const email = 'return5@example.test';
	const {id, dispute} = await shipped(email, 'Lopi blanket', {outcome: 'return_and_refund'});
	const seller = await signedIn(SELLER, DESKTOP);
	await seller.goto(base + '/#/dispute/' + dispute);
	const d0 = await operator('GET', '/v1/disputes/' + dispute);
	const deadline = seller.locator('#dispute-deadline');
	await deadline.waitFor();
	assert.match(await deadline.textContent(), /^Until \d+ Dec 2026, \d\d:\d\d UTC\. Time left:/);
	assert.match(d0.deadline_rule.text, /^If the seller has not answered by then/);
	// The amount as the screens write it: "€10.00", not "10.00 EUR".
	const want = d0.deadline_rule.text.replace(/(\d+\.\d\d) EUR/, '€$1');
	assert.notEqual(want, d0.deadline_rule.text);
	await seller.waitForFunction((w) => document.querySelector('#dispute-deadline .deadline-rule').textContent === w, want);
	// The history says "The marketplace", as the order page does.
	const history = await seller.locator('#history li').allTextContents();
	assert.ok(history.some((l) => l.includes('The marketplace')), history.join('\n'));
	assert.ok(!history.some((l) => /operator/.test(l)), history.join('\n'));

	await seller.getByRole('button', {name: 'Accept: refund as asked'}).click();
	const dlg = seller.getByRole('dialog', {name: 'Refund as asked?'});
	assert.match(await dlg.locator('#sure-text').textContent(), /€10\.00 goes back to the buyer once the goods are back/);
	await dlg.getByRole('button', {name: 'Accept and refund'}).click();
	await seller.getByText('Dispute: waiting for the goods to come back.').waitFor();
	await as(await token(email), 'POST', '/v1/disputes/' + dispute + '/return-shipment',
		{carrier: 'Posturinn', tracking_number: 'RR900100200IS'});

	await seller.reload();
	const sent = seller.locator('dt', {hasText: 'Sent back'}).locator('xpath=following-sibling::dd[1]');
	assert.match(await sent.textContent(), /^Posturinn RR900100200IS · sent \d+ Dec 2026$/);
	await seller.goto(base + '/#/order/' + id);
	await seller.getByRole('heading', {name: 'Lopi blanket'}).waitFor();
	assert.match(await seller.locator('dt', {hasText: 'Sent back'}).locator('xpath=following-sibling::dd[1]').textContent(),
		/^Posturinn RR900100200IS/);

	// The goods came back: asked once, then refunded.
	await seller.goto(base + '/#/dispute/' + dispute);
	await seller.getByRole('button', {name: 'The goods came back'}).click();
	assert.equal(await seller.getByRole('dialog', {name: 'The goods came back?'}).locator('#sure-text').textContent(),
		'Lopi blanket (order ' + id + '): €10.00 goes back to the buyer now. It counts as a lost dispute on your score.');
	assert.equal((await operator('GET', '/v1/orders/' + id)).refunded, 0);
	await seller.getByRole('button', {name: 'Confirm and refund'}).click();
	await seller.getByText('Dispute resolved.').waitFor();
	assert.equal((await operator('GET', '/v1/orders/' + id)).refunded, 1000);
	await seller.context().close();
});

test('review 4 item 6: the arbiter sees the order\'s shipment, dates and total, and why each reputation is what it is', async () => {
	const email = 'arbiter6@example.test';
	const buyerId = await newBuyer(email);
	const id = await paidOrder(buyerId, 'Knitted throw');
	// A UPS number whose check digit is wrong: taken, flagged.
	await as(await token(SELLER), 'POST', '/v1/orders/' + id + '/ship', {carrier: 'ups', tracking_number: '1Z999AA10123456785'});
	const {id: dispute} = await as(await token(email), 'POST', '/v1/orders/' + id + '/disputes', {ground: 'invalid_tracking',
		outcome: 'refund_only', amount: 1000, description: 'The number is not found.'});
	await as(await token(SELLER), 'POST', '/v1/disputes/' + dispute + '/reject', {message: 'It left whole.'});
	await as(await token(email), 'POST', '/v1/disputes/' + dispute + '/escalate', {});
	const o = await operator('GET', '/v1/orders/' + id);
	const d = await operator('GET', '/v1/disputes/' + dispute);
	const page = await signedIn('arbiter@demo.escrowd.test', DESKTOP);
	await page.goto(base + '/#/dispute/' + dispute);
	const facts = page.locator('#dispute-order');
	await facts.waitFor();
	const text = (await facts.textContent()).replace(/\s+/g, ' ');
	assert.equal(o.shipment.tracking_check, 'invalid_check_digit');
	for (const want of ['€10.00', 'ups', o.shipment.tracking_number, '(the number failed the carrier\'s check)',
		'Promised delivery', 'Not reported delivered'])
		assert.ok(text.includes(want), want + ' in ' + text);
	assert.ok((await page.locator('#buyer-rep').textContent()).includes(d.buyer_reputation.why));
	assert.ok((await page.locator('#seller-rep').textContent()).includes(d.seller_reputation.why));
	await page.context().close();

	// In Icelandic, why each reputation is what it is reads in Icelandic.
	const is = await signedIn('arbiter@demo.escrowd.test', DESKTOP, 'is');
	await is.goto(base + '/#/dispute/' + dispute);
	await is.locator('#buyer-rep').waitFor();
	const buyerWhy = await is.locator('#buyer-rep').textContent();
	const sellerWhy = await is.locator('#seller-rep').textContent();
	assert.ok(!buyerWhy.includes(d.buyer_reputation.why), buyerWhy);
	assert.ok(!/cancellation|dispute|order/.test(buyerWhy + sellerWhy), buyerWhy + ' / ' + sellerWhy);
	assert.deepEqual(is.problems, []);
	await is.context().close();
});

test('review 4 item 9: a restricted buyer is told in the dispute dialog and on the profile that disputes lean towards the seller', async () => {
	const email = 'restricted9@example.test';
	const buyerId = await newBuyer(email);
	const tok = await token(email);
	// Five cancellations after payment in 30 days restrict a buyer (SPEC §6).
	for (let i = 0; i < 5; i++) {
		const id = await paidOrder(buyerId, 'Cancelled ' + i);
		await as(tok, 'POST', '/v1/orders/' + id + '/cancel', {reason: 'no_longer_needed', refund_to: 'original'});
		await as(await token(SELLER), 'POST', '/v1/orders/' + id + '/cancellation/accept', {});
	}
	assert.equal((await operator('GET', '/v1/users/' + buyerId + '/reputation')).level, 'restricted');
	const id = await paidOrder(buyerId, 'Restricted scarf');
	await as(await token(SELLER), 'POST', '/v1/orders/' + id + '/ship', {carrier: 'Posturinn', tracking_number: 'RR111222333IS'});
	const page = await signedIn(email, MOBILE);
	await page.goto(base + '/#/order/' + id);
	await page.getByRole('heading', {name: 'Restricted scarf'}).waitFor();
	await page.getByRole('button', {name: 'Open dispute'}).click();
	assert.match(await page.getByRole('dialog').locator('#level-warning').textContent(),
		/^Your account is restricted \(.+\): disputes you open will lean towards the seller\.$/);
	await page.getByRole('button', {name: 'Back'}).click();
	await page.goto(base + '/#/profile');
	assert.match(await page.locator('#rep-effect').textContent(), /disputes you open lean towards the seller/);
	await page.context().close();
});

test('SPEC §4: the buyer may have a dispute refunded to the store balance, and the dispute page says where it goes', async () => {
	const email = 'balance-dispute@example.test';
	const {id} = await shipped(email, 'Felted slippers');
	const page = await signedIn(email, DESKTOP);
	await openDialog(page, id, 'Felted slippers');
	const dlg = page.getByRole('dialog', {name: 'Open a dispute'});
	await dlg.getByLabel('My store balance (once the dispute is resolved)').check();
	await dlg.getByRole('button', {name: 'OK'}).click();
	await page.waitForURL(/#\/dispute\//);
	const refundTo = page.locator('dt', {hasText: 'Refund to'}).locator('xpath=following-sibling::dd[1]');
	assert.equal((await refundTo.textContent()).trim(), 'Store balance');

	const o = await operator('GET', '/v1/orders/' + id);
	assert.equal(o.dispute.refund_to, 'balance');
	await as(await token(SELLER), 'POST', '/v1/disputes/' + o.dispute.id + '/accept', {});
	const refunds = await operator('GET', '/v1/refunds?order_id=' + id);
	assert.equal(refunds.data.length, 1);
	assert.equal(refunds.data[0].method, 'balance');
	assert.equal(refunds.data[0].status, 'settled');
	assert.deepEqual(page.problems, []);
	await page.context().close();
});
