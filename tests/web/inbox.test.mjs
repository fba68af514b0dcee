// inbox.test.mjs - messages on every order and notifications (issue 17
// items 3 and 4), at both sizes: a buyer and a seller write to each other
// on an order's page, the unread counts going up and down (the order's,
// /v1/me's, the conversations'); #/messages lists the conversations, the
// unread first; #/notifications shows what the seller and the marketplace
// did (the accepted cancellation, the refund's arrival) and the reminder
// once the clock is within 24 hours of the seller's deadline, in both
// languages; Load more follows the cursor; WCAG 2.1 AA on each screen.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {DESKTOP, MOBILE, base, operator, token, as, newBuyer, paidOrder, signedIn, shot,
	until, wcag} from './harness.mjs';

const SELLER = 'knits@demo.escrowd.test';

async function open(page, hash) {
	await page.goto(base + '/' + hash);
}

async function unread(tok, what) {
	return (await as(tok, 'GET', '/v1/me'))[what];
}

for (const [name, size] of [['desktop', DESKTOP], ['phone', MOBILE]]) {
	test(`issue 17 item 3: buyer and seller write on an order, unread counts move (${name})`, async () => {
		const email = `inbox-msg-${name}@demo.escrowd.test`;
		await newBuyer(email);
		const buyerTok = await token(email);
		const sellerTok = await token(SELLER);
		const me = await as(buyerTok, 'GET', '/v1/me');
		const title = `Mittens (${name})`;
		const id = await paidOrder(me.id, title);

		const buyer = await signedIn(email, size);
		await open(buyer, '#/order/' + id);
		await buyer.getByRole('heading', {level: 2, name: 'Messages'}).waitFor();
		await buyer.getByText('No messages yet.').waitFor();
		await buyer.getByLabel('Your message').fill('Could you gift-wrap them?');
		const sellerBefore = await unread(sellerTok, 'unread_messages');
		await buyer.getByRole('button', {name: 'Send'}).click();
		await buyer.locator('#messages li.message.mine').filter({hasText: 'Could you gift-wrap them?'}).waitFor();
		assert.equal(await unread(sellerTok, 'unread_messages'), sellerBefore + 1);
		assert.equal((await as(sellerTok, 'GET', '/v1/orders/' + id)).unread_messages, 1);
		assert.equal((await as(buyerTok, 'GET', '/v1/orders/' + id)).unread_messages, 0);
		await wcag(buyer, `the order's conversation (${name})`);
		await shot(buyer, `inbox-order-conversation-${name}`);

		// The seller opens the order: the message is new there, and read.
		const seller = await signedIn(SELLER, size);
		await open(seller, '#/order/' + id);
		const item = seller.locator('#messages li.message.unread').filter({hasText: 'Could you gift-wrap them?'});
		await item.getByText('New').waitFor();
		await until(seller, async (oid) => {
			const r = await fetch('/v1/orders/' + oid, {credentials: 'same-origin'});
			return (await r.json()).unread_messages === 0;
		}, id);
		assert.equal(await unread(sellerTok, 'unread_messages'), sellerBefore);
		await seller.getByLabel('Your message').fill('Yes, in red paper.');
		await seller.getByRole('button', {name: 'Send'}).click();
		await seller.locator('#messages li.message.mine').filter({hasText: 'Yes, in red paper.'}).waitFor();
		assert.equal(await unread(buyerTok, 'unread_messages'), 1);

		// #/messages: the buyer's conversation, unread, links to the order.
		await open(buyer, '#/messages');
		await buyer.getByRole('heading', {level: 1, name: 'Messages'}).waitFor();
		const card = buyer.locator('#conversations li.conversation-card.unread').filter({hasText: title});
		await card.getByText('1 new').waitFor();
		assert.match(await card.textContent(), /Seller: Yes, in red paper\./);
		await wcag(buyer, `the conversations (${name})`);
		await shot(buyer, `inbox-messages-${name}`);
		await card.getByRole('link', {name: new RegExp(title.replace(/[()]/g, '\\$&'))}).click();
		await buyer.getByRole('heading', {level: 1, name: title}).waitFor();
		await buyer.locator('#messages li.message.unread').filter({hasText: 'Yes, in red paper.'}).waitFor();
		await until(buyer, async () => {
			const r = await fetch('/v1/me', {credentials: 'same-origin'});
			return (await r.json()).unread_messages === 0;
		});
		// Drawn again, nothing is new any more.
		await open(buyer, '#/messages');
		await buyer.locator('#conversations li.conversation-card').filter({hasText: title}).waitFor();
		await buyer.waitForFunction((text) => ![...document.querySelectorAll('#conversations li.conversation-card.unread')]
			.some((li) => li.textContent.includes(text)), title);
		assert.deepEqual(buyer.problems, []);
		assert.deepEqual(seller.problems, []);
		await buyer.context().close();
		await seller.context().close();
	});

	test(`issue 17 item 3: the seller's rejection message is in the conversation (${name})`, async () => {
		const email = `inbox-reject-${name}@demo.escrowd.test`;
		await newBuyer(email);
		const buyerTok = await token(email);
		const sellerTok = await token(SELLER);
		const me = await as(buyerTok, 'GET', '/v1/me');
		const id = await paidOrder(me.id, `Scarf (${name})`);
		await as(buyerTok, 'POST', '/v1/orders/' + id + '/cancel', {reason: 'change_order'});
		await as(sellerTok, 'POST', '/v1/orders/' + id + '/cancellation/reject', {message: 'Already knitted for you.'});
		const buyer = await signedIn(email, size);
		await open(buyer, '#/order/' + id);
		await buyer.locator('#messages li.message.unread').filter({hasText: 'Already knitted for you.'})
			.getByText('Seller').waitFor();
		await buyer.context().close();
	});

	test(`issue 17 item 4: notifications after acceptance, the refund and the reminder (${name})`, async () => {
		const email = `inbox-ntf-${name}@demo.escrowd.test`;
		await newBuyer(email);
		const buyerTok = await token(email);
		const sellerTok = await token(SELLER);
		const me = await as(buyerTok, 'GET', '/v1/me');
		const id = await paidOrder(me.id, `Beanie (${name})`);

		let buyer = await signedIn(email, size);
		await open(buyer, '#/notifications');
		await buyer.getByRole('heading', {level: 1, name: 'Notifications'}).waitFor();
		// The payment the marketplace reported is the first one; seen, it is read.
		await buyer.locator('#notifications li.notification.unread')
			.filter({hasText: 'Your payment of €10.00 was received.'}).waitFor();
		await until(buyer, async () =>
			(await (await fetch('/v1/me', {credentials: 'same-origin'})).json()).unread_notifications === 0);

		await as(buyerTok, 'POST', '/v1/orders/' + id + '/cancel', {reason: 'change_order'});
		assert.equal(await unread(buyerTok, 'unread_notifications'), 0);
		await as(sellerTok, 'POST', '/v1/orders/' + id + '/cancellation/accept', {});
		assert.equal(await unread(buyerTok, 'unread_notifications'), 1);
		await open(buyer, '#/orders');
		// The orders drawn before the next screen is asked for: a slower
		// draw of the orders could otherwise land over the notifications.
		await buyer.getByRole('heading', {level: 1, name: 'My orders'}).waitFor();
		await open(buyer, '#/notifications');
		const accepted = buyer.locator('#notifications li.notification.unread')
			.filter({hasText: 'The seller accepted your cancellation.'});
		await accepted.getByText('New').waitFor();
		// Review 4 item 10: each names its order, by its items.
		await accepted.getByRole('link', {name: `Beanie (${name})`}).waitFor();
		assert.equal(await accepted.getByRole('link').getAttribute('href'), '#/order/' + id);
		await until(buyer, async () =>
			(await (await fetch('/v1/me', {credentials: 'same-origin'})).json()).unread_notifications === 0);
		await wcag(buyer, `the notifications (${name})`);
		await shot(buyer, `inbox-notifications-${name}`);

		const refund = (await operator('GET', '/v1/refunds?order_id=' + id)).data[0];
		await operator('POST', '/v1/refunds/' + refund.id + '/settle', {});
		assert.equal(await unread(buyerTok, 'unread_notifications'), 1);
		await open(buyer, '#/orders');
		// The orders drawn before the next screen is asked for: a slower
		// draw of the orders could otherwise land over the notifications.
		await buyer.getByRole('heading', {level: 1, name: 'My orders'}).waitFor();
		await open(buyer, '#/notifications');
		await buyer.locator('#notifications li.notification.unread')
			.filter({hasText: 'Your refund of €10.00 arrived.'}).waitFor();
		// The accepted cancellation is read now.
		await buyer.locator('#notifications li.notification:not(.unread)')
			.filter({hasText: 'The seller accepted your cancellation.'}).waitFor();
		// In Icelandic: the API's sentence in the interface's language.
		await buyer.locator('#lang').selectOption('is');
		await buyer.getByRole('heading', {level: 1, name: 'Tilkynningar'}).waitFor();
		await buyer.getByText('Endurgreiðsla þín, 10,00 €, barst.').waitFor();
		// The amount as the screen writes amounts (text.js's money()), in
		// either language; Intl's no-break space, or the catalogue's space
		// where this browser's Intl has no Icelandic, is a space to the
		// reader.
		const said = async (start) => (await buyer.locator('#notifications .sentence')
			.filter({hasText: start}).first().textContent()).replace(/\s/g, ' ');
		const money = async () => (await buyer.evaluate(async () =>
			(await import('/static/text.js')).money(1000, 'EUR'))).replace(/\s/g, ' ');
		assert.equal(await money(), '10,00 €');
		assert.equal(await said('Endurgreiðsla þín'), `Endurgreiðsla þín, ${await money()}, barst.`);
		await wcag(buyer, `the notifications in Icelandic (${name})`);
		await buyer.locator('#lang').selectOption('en');
		await buyer.getByRole('heading', {level: 1, name: 'Notifications'}).waitFor();
		await buyer.getByText('Your refund of €10.00 arrived.').waitFor();
		assert.equal(await money(), '€10.00');
		assert.equal(await said('Your refund of'), `Your refund of ${await money()} arrived.`);
		await buyer.context().close();

		// The reminder: due once the clock is within 24 hours of the
		// seller's deadline (72 hours after the request).
		const second = await paidOrder(me.id, `Gloves (${name})`);
		await as(buyerTok, 'POST', '/v1/orders/' + second + '/cancel', {reason: 'change_order'});
		await operator('POST', '/v1/clock/advance', {seconds: 47 * 3600});
		buyer = await signedIn(email, size);
		await open(buyer, '#/notifications');
		await buyer.getByRole('heading', {level: 1, name: 'Notifications'}).waitFor();
		await buyer.locator('#notifications li').first().waitFor();
		assert.equal(await buyer.getByText('The seller has 24 hours left to answer your cancellation request.').count(), 0);
		await operator('POST', '/v1/clock/advance', {seconds: 3600});
		const tok = await token(email);
		assert.equal(await unread(tok, 'unread_notifications'), 1);
		await open(buyer, '#/orders');
		// The orders drawn before the next screen is asked for: a slower
		// draw of the orders could otherwise land over the notifications.
		await buyer.getByRole('heading', {level: 1, name: 'My orders'}).waitFor();
		await open(buyer, '#/notifications');
		await buyer.locator('#notifications li.notification.unread')
			.filter({hasText: 'The seller has 24 hours left to answer your cancellation request.'}).waitFor();
		assert.deepEqual(buyer.problems, []);
		await as(await token(SELLER), 'POST', '/v1/orders/' + second + '/cancellation/accept', {});
		await buyer.context().close();
	});

	test(`issue 17 item 3: Load more follows the conversations' cursor (${name})`, async () => {
		// 21 conversations, a message from the buyer on each order: one
		// more than a page; the cursor is the last one's order_id.
		const email = `inbox-convs-${name}@demo.escrowd.test`;
		await newBuyer(email);
		const tok = await token(email);
		const me = await as(tok, 'GET', '/v1/me');
		for (let i = 0; i < 21; i++) {
			const id = await paidOrder(me.id, `Mitten ${i} (${name})`);
			await as(tok, 'POST', '/v1/orders/' + id + '/messages', {body: `Mitten ${i}: which colour?`});
		}
		const buyer = await signedIn(email, size);
		await open(buyer, '#/messages');
		await buyer.getByRole('heading', {level: 1, name: 'Messages'}).waitFor();
		await buyer.locator('#conversations li').first().waitFor();
		assert.equal(await buyer.locator('#conversations li.conversation-card').count(), 20);
		await buyer.getByRole('button', {name: 'Load more'}).click();
		await buyer.waitForFunction(() =>
			document.querySelectorAll('#conversations li.conversation-card').length === 21);
		assert.equal(await buyer.getByRole('button', {name: 'Load more'}).isHidden(), true);
		const hrefs = await buyer.locator('#conversations li.conversation-card a').evaluateAll(
			(as) => as.map((a) => a.getAttribute('href')));
		assert.equal(new Set(hrefs).size, 21);
		assert.deepEqual(buyer.problems, []);
		await buyer.context().close();
	});

	test(`issue 17 item 4: Load more follows the cursor (${name})`, async () => {
		// 21 payments the marketplace reported: one more than a page.
		const email = `inbox-more-${name}@demo.escrowd.test`;
		await newBuyer(email);
		const tok = await token(email);
		const me = await as(tok, 'GET', '/v1/me');
		for (let i = 0; i < 21; i++)
			await paidOrder(me.id, `Sock ${i} (${name})`);
		assert.equal(await unread(tok, 'unread_notifications'), 21);
		const buyer = await signedIn(email, size);
		await open(buyer, '#/notifications');
		await buyer.getByRole('heading', {level: 1, name: 'Notifications'}).waitFor();
		await buyer.locator('#notifications li').first().waitFor();
		assert.equal(await buyer.locator('#notifications li.notification').count(), 20);
		await until(buyer, async () =>
			(await (await fetch('/v1/me', {credentials: 'same-origin'})).json()).unread_notifications === 0);
		await buyer.getByRole('button', {name: 'Load more'}).click();
		await buyer.waitForFunction(() =>
			document.querySelectorAll('#notifications li.notification').length === 21);
		assert.equal(await buyer.getByRole('button', {name: 'Load more'}).isHidden(), true);
		const texts = await buyer.locator('#notifications li.notification .sentence').allTextContents();
		assert.equal(new Set(await buyer.locator('#notifications li.notification a').evaluateAll(
			(as) => as.map((a) => a.getAttribute('href')))).size, 21);
		assert.ok(texts.every((x) => x === 'Your payment of €10.00 was received.'));
		await wcag(buyer, `the notifications, two pages (${name})`);
		assert.deepEqual(buyer.problems, []);
		await buyer.context().close();
	});
}
