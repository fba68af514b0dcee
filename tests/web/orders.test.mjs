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

	// Rejecting: the dialog says which order, and a message of spaces is
	// refused in words before it is sent.
	await seller.getByRole('button', {name: 'Reject cancellation'}).click();
	const dlg = seller.getByRole('dialog', {name: 'Reject the cancellation'});
	assert.match(await dlg.locator('#sure-text').textContent(),
		new RegExp('^Raced mittens \\(order ' + id + '\\): the buyer\'s request is refused and the order stays open; ship it by \\d+ Dec 2026, \\d\\d:\\d\\d UTC\\.$'));
	await dlg.getByLabel('Message to the buyer').fill('   ');
	await dlg.getByRole('button', {name: 'OK'}).click();
	await dlg.getByText('“Message to the buyer” is empty: write a few words.').waitFor();
	assert.equal((await operator('GET', '/v1/orders/' + id)).status, 'cancellation_requested');
	await dlg.getByLabel('Message to the buyer').fill('Already packed.');
	await dlg.getByRole('button', {name: 'OK'}).click();
	await seller.locator('#main').getByText('Ship by', {exact: false}).waitFor();
	assert.equal((await operator('GET', '/v1/orders/' + id)).status, 'awaiting_shipment');
	assert.deepEqual(seller.problems, []);
	await seller.context().close();
});
