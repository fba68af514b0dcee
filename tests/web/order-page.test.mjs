// order-page.test.mjs - the order page tells the whole story (issue 17
// item 2, and item 7's sentences of automatic decisions): the order number
// (copied with a button), the shop, the items with their pictures (served
// here from a loopback origin the configuration allows, which the page's
// Content-Security-Policy names), the payment method, the cancellation's
// reason and refund destination, the refund's tracker, the carrier with a
// link to its tracking page from the configuration's template, the
// promised date, and the history in sentences, with the rule of what
// escrowd did by itself. At 1280 and 390 wide, WCAG 2.1 AA at both.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {createServer} from 'node:http';
import {DESKTOP, MOBILE, base, operator, token, as, newBuyer, policy, signedIn, shot, wcag}
	from './harness.mjs';

/* A 1x1 PNG, the marketplace's picture of an item. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
const pictures = createServer((req, res) => {
	res.writeHead(200, {'Content-Type': 'image/png', 'Content-Length': PNG.length});
	res.end(PNG);
});
// Bound before the daemon starts (no host: the bind happens at once), so
// that its origin goes into the configuration.
pictures.listen(0);
pictures.unref();
const ORIGIN = 'http://127.0.0.1:' + pictures.address().port;

policy('http.image_origins = ' + ORIGIN + '\n' +
	'carrier.dhl.tracking_url = https://www.dhl.com/track?id={tracking_number}\n');

let shop = null;
async function seller() {
	if (!shop)
		shop = await token('knits@demo.escrowd.test');
	return shop;
}

async function knits() {
	return (await operator('GET', '/v1/orders?limit=100')).data
		.find((o) => o.items[0].title === 'Wool socks, 3 pairs').seller_id;
}

/* A paid order of a lamp (with its picture) and two bulbs (without). */
async function paidOrder(buyerId, title) {
	const o = await operator('POST', '/v1/orders', {buyer_id: buyerId, seller_id: await knits(),
		currency: 'EUR', items: [
			{title, quantity: 1, unit_price: 2500, image_url: ORIGIN + '/lamp.png'},
			{title: 'Bulb', quantity: 2, unit_price: 200},
		]});
	await operator('POST', '/v1/orders/' + o.id + '/pay', {amount: 2900, payment_method: 'card'});
	return o.id;
}

async function openOrder(page, id, title) {
	const url = base + '/#/order/' + id;
	if (page.url() === url)
		await page.reload();
	else
		await page.goto(url);
	await page.getByRole('heading', {level: 1, name: title}).waitFor();
	// The history is drawn once read.
	await page.locator('ol.timeline:not([aria-busy])').waitFor();
}

function factOf(page, name) {
	return page.locator('dl.facts dt').filter({hasText: new RegExp('^' + name + '$')})
		.locator('xpath=following-sibling::dd[1]');
}

async function timelineLines(page) {
	return page.locator('ol.timeline > li').evaluateAll((lis) => lis.map((li) => ({
		event: li.dataset.event,
		at: li.querySelector('time').getAttribute('datetime'),
		text: li.querySelector('.what').textContent,
		rule: li.querySelector('.rule') ? li.querySelector('.rule').dataset.rule : null,
		ruleText: li.querySelector('.rule-text') ? li.querySelector('.rule-text').textContent : null,
		ruleOwn: li.querySelector('.rule-id') ? li.querySelector('.rule-id').textContent : null,
	})));
}

test('the CSP names the allowed image origin', async () => {
	const r = await fetch(base + '/');
	assert.match(r.headers.get('content-security-policy'),
		new RegExp("img-src 'self' data: blob: " + ORIGIN.replace(/[.]/g, '\\.') + ';'));
});

for (const [size, label] of [[DESKTOP, 'desktop'], [MOBILE, 'phone']]) {
	test(`${label}: a cancelled order's page: number, shop, items, payment, reason, refund tracker, history`, async () => {
		const email = `story-cancel-${label}@example.test`;
		const buyerId = await newBuyer(email);
		const title = 'Desk lamp ' + label;
		const id = await paidOrder(buyerId, title);
		const me = await token(email);
		await as(me, 'POST', '/v1/orders/' + id + '/cancel', {reason: 'no_longer_needed', refund_to: 'original'});
		await as(await seller(), 'POST', '/v1/orders/' + id + '/cancellation/accept', {});

		const page = await signedIn(email, size);
		await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], {origin: base});
		await openOrder(page, id, title);

		// The number, as text and copied by its button, with a toast.
		assert.equal(await page.locator('.order-number code').textContent(), id);
		await page.getByRole('button', {name: 'Copy the order number ' + id}).click();
		await page.locator('#toast').filter({hasText: 'Order number copied.'}).waitFor();
		assert.equal(await page.evaluate(() => navigator.clipboard.readText()), id);

		assert.equal(await factOf(page, 'Shop').textContent(), 'Nordic Knits');
		assert.equal(await factOf(page, 'Paid with').textContent(), 'Card');
		assert.equal(await factOf(page, 'Cancellation reason').textContent(), 'I no longer need this order');
		assert.equal(await factOf(page, 'Refund to').textContent(), 'The card it was paid with');

		// The items: the lamp's picture loaded from the allowed origin.
		const items = page.locator('ul.items li');
		assert.equal(await items.count(), 2);
		assert.equal(await items.nth(0).locator('.item-title').textContent(), '1 × ' + title);
		assert.equal(await items.nth(0).locator('.item-price').textContent(), '€25.00');
		assert.equal(await items.nth(1).locator('.item-title').textContent(), '2 × Bulb');
		assert.equal(await items.nth(1).locator('.item-price').textContent(), '€2.00 each · €4.00');
		// Laid out at this size too: a picture, the title and the price in one row.
		assert.equal(await items.nth(0).evaluate((el) => getComputedStyle(el).display), 'flex');
		const img = items.nth(0).locator('img');
		assert.equal(await img.getAttribute('src'), ORIGIN + '/lamp.png');
		await page.waitForFunction((el) => el.complete && el.naturalWidth === 1, await img.elementHandle());
		assert.equal(await items.nth(1).locator('img').count(), 0);

		// The refund on its way: requested and sent done, arrival expected.
		const tracker = page.locator('.refund-tracker');
		assert.equal(await tracker.getAttribute('data-status'), 'pending');
		assert.equal(await tracker.getByRole('heading').textContent(), 'Refund of €29.00');
		assert.deepEqual(await tracker.locator('li.done .step-name').allTextContents(), ['Requested', 'On its way']);
		assert.match(await tracker.locator('li[data-step="arrived"]').textContent(),
			/^Arrivedexpected between \d+ \w+ \d{4} and \d+ \w+ \d{4}$/);
		assert.equal(await tracker.locator('li[aria-current="step"]').getAttribute('data-step'), 'sent');
		await wcag(page, label + ' order page, refund on its way');

		// The refund arrives: the third step done, with its date.
		const refund = (await operator('GET', '/v1/refunds?order_id=' + id)).data[0];
		await operator('POST', '/v1/refunds/' + refund.id + '/settle', {});
		await openOrder(page, id, title);
		assert.equal(await tracker.getAttribute('data-status'), 'settled');
		assert.deepEqual(await tracker.locator('li.done .step-name').allTextContents(),
			['Requested', 'On its way', 'Arrived']);
		assert.equal(await tracker.locator('li[data-step="arrived"] time').count(), 1);

		// The history, oldest first, each line a sentence with its time.
		const lines = await timelineLines(page);
		assert.deepEqual(lines.map((l) => l.event),
			['create', 'pay', 'cancel', 'accept_cancellation', 'refund_settled']);
		assert.deepEqual(lines.map((l) => l.text), [
			'The marketplace placed the order.',
			'The marketplace reported payment of €29.00 by card.',
			'You asked to cancel: I no longer need this order. Refund to: The card it was paid with.',
			'The shop accepted the cancellation; a refund of €29.00 was made.',
			'The refund of €29.00 arrived.',
		]);
		for (const l of lines)
			assert.ok(!Number.isNaN(Date.parse(l.at)), l.event);
		assert.equal(await page.locator('ol.timeline time').count(), 5);
		await wcag(page, label + ' order page, refund arrived');
		await shot(page, 'order-page-' + label);
		assert.deepEqual(page.problems, []);
		await page.context().close();
	});

	test(`${label}: a shipped order links to the carrier's tracking page, with the promised date`, async () => {
		const email = `story-ship-${label}@example.test`;
		const buyerId = await newBuyer(email);
		const title = 'Floor lamp ' + label;
		const id = await paidOrder(buyerId, title);
		await as(await seller(), 'POST', '/v1/orders/' + id + '/ship', {carrier: 'dhl', tracking_number: 'JJD 0001 ' + label.length});
		const page = await signedIn(email, size);
		await openOrder(page, id, title);
		const link = page.getByRole('link', {name: new RegExp('^Track JJD0001' + label.length)});
		assert.equal(await link.getAttribute('href'), 'https://www.dhl.com/track?id=JJD0001' + label.length);
		assert.equal(await link.getAttribute('rel'), 'noopener noreferrer');
		assert.match(await factOf(page, 'Shipment').textContent(), new RegExp('^dhl JJD0001' + label.length + ' · '));
		const o = await as(await token(email), 'GET', '/v1/orders/' + id);
		assert.equal(await factOf(page, 'Promised delivery').locator('time').getAttribute('datetime'),
			o.promised_delivery_at);
		await wcag(page, label + ' shipped order page');

		await operator('POST', '/v1/orders/' + id + '/deliver', {});
		await openOrder(page, id, title);
		const lines = await timelineLines(page);
		assert.deepEqual(lines.map((l) => l.event), ['create', 'pay', 'ship', 'deliver']);
		assert.equal(lines[2].text, 'The shop shipped it with dhl, tracking number JJD0001' + label.length + '.');
		assert.equal(lines[3].text, 'The carrier reported it delivered.');
		assert.equal(await factOf(page, 'Delivered').locator('time').count(), 1);
		assert.deepEqual(page.problems, []);
		await page.context().close();
	});
}

/* Last: it moves the clock. The seller does not answer; escrowd accepts by
 * itself, and the history says which rule, in both languages. */
test('an automatic decision says its rule and sentence, in English and Icelandic, at both sizes', async () => {
	const email = 'story-auto@example.test';
	const buyerId = await newBuyer(email);
	const title = 'Table lamp';
	const id = await paidOrder(buyerId, title);
	await as(await token(email), 'POST', '/v1/orders/' + id + '/cancel', {reason: 'no_longer_needed', refund_to: 'original'});
	await operator('POST', '/v1/clock/advance', {seconds: 73 * 3600});
	const events = (await operator('GET', '/v1/orders/' + id + '/events')).data;
	const auto = events.find((e) => e.event === 'response_deadline');
	assert.ok(auto && auto.actor === 'system', JSON.stringify(events.map((e) => e.event)));

	for (const [size, label] of [[DESKTOP, 'desktop'], [MOBILE, 'phone']]) {
		const page = await signedIn(email, size);
		await openOrder(page, id, title);
		let lines = await timelineLines(page);
		const line = lines.find((l) => l.event === 'response_deadline');
		assert.equal(line.text, 'escrowd accepted the cancellation by itself: the shop did not answer in time.');
		assert.equal(line.rule, 'response_window');
		// Review 4 item 13: the rule in a person's words, not its id.
		assert.equal(line.ruleOwn, 'The seller answers a cancellation request within 72 hours.');
		assert.match(line.ruleText, /^The request was approved automatically, €29\.00 refunded to the card, expected \d+ \w+ \d{4} to \d+ \w+ \d{4}\.$/);
		assert.doesNotMatch(await page.locator('ol.timeline').textContent(), /response_window/);
		const rule = page.locator('ol.timeline li[data-event="response_deadline"] .rule');
		assert.equal(await rule.getByRole('link', {name: 'All rules'}).getAttribute('href'), '#/help');
		await wcag(page, label + ' automatic decision');

		// In Icelandic, the rule's own Icelandic sentence.
		await page.locator('#lang').selectOption('is');
		await page.getByRole('heading', {level: 2, name: 'Saga'}).waitFor();
		await page.locator('ol.timeline:not([aria-busy])').waitFor();
		lines = await timelineLines(page);
		const is = lines.find((l) => l.event === 'response_deadline');
		assert.equal(is.text, 'escrowd samþykkti afturköllunina sjálfkrafa: verslunin svaraði ekki í tæka tíð.');
		assert.equal(is.ruleOwn, 'Seljandinn svarar beiðni um afturköllun innan 72 klukkustunda.');
		assert.match(is.ruleText, /^Beiðnin var samþykkt sjálfkrafa, 29,00 € endurgreitt á kortið, væntanlegt .+ til .+\.$/);
		await wcag(page, label + ' automatic decision in Icelandic');
		assert.deepEqual(page.problems, []);
		await page.context().close();
	}
});

// A page left before its answers came must not leave later pages waiting:
// the rules' catalogue, read once a session, is asked for by the first
// order page; when that page is replaced before the catalogue arrives, the
// next order page waits for the same answer, which still comes.
test('an order page left before the rules arrived: the next one draws its history', async () => {
	const email = 'story-rules-left@example.test';
	const buyerId = await newBuyer(email);
	const first = await paidOrder(buyerId, 'Reading lamp');
	const second = await paidOrder(buyerId, 'Floor lamp');
	const page = await signedIn(email, DESKTOP);
	let held = 0;
	let release;
	const released = new Promise((resolve) => { release = resolve; });
	await page.route('**/v1/rules*', async (route) => {
		held++;
		await released;
		await route.continue();
	});
	await page.evaluate((id) => { location.hash = '#/order/' + id; }, first);
	await page.getByRole('heading', {level: 1, name: 'Reading lamp and 1 more'}).waitFor();
	await page.evaluate((id) => { location.hash = '#/order/' + id; }, second);
	await page.getByRole('heading', {level: 1, name: 'Floor lamp and 1 more'}).waitFor();
	release();
	await page.locator('ol.timeline:not([aria-busy])').waitFor();
	assert.equal(held, 1, 'the first page asked for the rules, and only it');
	assert.ok(await page.locator('ol.timeline > li').count() >= 2);
	assert.deepEqual(page.problems, []);
	await page.context().close();
});
