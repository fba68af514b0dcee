// help.test.mjs - the help page (issue 17 item 6): generated from the
// running policy, which here is not the default one (the seller answers a
// request within 48 hours, not 72; a buyer is watched from 4 cancellations;
// a completed order may be disputed for 20 days), in English and
// Icelandic, at both sizes, signed out and signed in, and WCAG 2.1 AA.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {DESKTOP, MOBILE, base, browser, policy, signedIn, shot, wcag} from './harness.mjs';

policy('response_window = 48h\nwatch_cancellations = 4\ndispute_after_completion = 20d\n');

async function answer(path) {
	const r = await fetch(base + path);
	assert.equal(r.status, 200, path);
	return (await r.json()).data;
}

/* The page says every rule, reason and ground the API gives, in lang,
 * with the running policy's numbers. */
async function checkHelp(page, lang) {
	const en = lang === 'en';
	await page.getByRole('heading', {level: 1,
		name: en ? 'How escrowd protects an order' : 'Hvernig escrowd verndar pöntun'}).waitFor();
	const main = page.locator('#main');

	// The windows: GET /v1/rules' deadline rules, the response window 48 hours.
	const rules = await answer('/v1/rules');
	const windows = main.locator('section').filter({has: page.getByRole('heading',
		{level: 2, name: en ? 'Deadlines' : 'Frestir'})});
	const response = windows.locator('li[data-rule="response_window"]');
	assert.equal(await response.textContent(), en
		? 'The seller answers a cancellation request within 48 hours.'
		: 'Seljandinn svarar beiðni um afturköllun innan 48 klukkustunda.');
	for (const r of rules.filter((x) => x.event))
		assert.equal(await windows.locator(`li[data-rule="${r.id}"]`).textContent(), r.rule[lang], r.id);
	assert.equal(await windows.locator('li').count(), rules.filter((x) => x.event).length);
	// Every rule of the catalogue is somewhere on the page, once.
	for (const r of rules)
		assert.equal(await main.locator(`li[data-rule="${r.id}"]`).textContent(), r.rule[lang], r.id);

	// The reasons, each with whose fault it is.
	const reasons = await answer('/v1/cancellation-reasons');
	const table = main.getByRole('table');
	assert.deepEqual(await table.getByRole('columnheader').allTextContents(),
		en ? ['Reason', 'Whose fault'] : ['Ástæða', 'Hverjum að kenna']);
	assert.equal(await table.locator('tbody tr').count(), reasons.length);
	for (const r of reasons) {
		const cells = await table.locator(`tr[data-reason="${r.code}"] td`).allTextContents();
		assert.equal(cells[1], r.fault === 'seller' ? (en ? 'The seller\'s' : 'Seljandanum')
			: (en ? 'The buyer\'s' : 'Kaupandanum'), r.code);
		if (en)
			assert.equal(cells[0], r.label);
	}
	assert.deepEqual(await table.locator('tr[data-reason="no_longer_needed"] td').allTextContents(),
		en ? ['I no longer need this order', 'The buyer\'s']
			: ['Ég þarf ekki lengur á pöntuninni að halda', 'Kaupandanum']);
	assert.deepEqual(await table.locator('tr[data-reason="seller_asked"] td').allTextContents(),
		en ? ['The seller asked me to cancel', 'The seller\'s']
			: ['Seljandinn bað mig að afturkalla', 'Seljandanum']);

	// The grounds, and when each opens: 20 days after completion.
	const grounds = await answer('/v1/dispute-grounds');
	assert.deepEqual(grounds.map((g) => g.ground), ['invalid_tracking', 'not_as_described', 'not_delivered']);
	for (const g of grounds) {
		const item = main.locator(`[data-ground="${g.ground}"]`);
		assert.equal(await item.locator('dd').textContent(), g.rule[lang], g.ground);
		assert.match(g.rule[lang], en ? /20 days after/ : /innan 20 daga frá/);
	}
	const late = main.locator('[data-ground="not_delivered"]');
	assert.equal(await late.locator('dt').textContent(), en ? 'Not delivered' : 'Ekki afhent');
	if (en)
		assert.match(await late.locator('dd').textContent(),
			/^A dispute that the parcel never came can be opened once the promised delivery date has passed without delivery/);

	// The levels and the seller score, with the watch threshold of 4.
	const levels = main.locator('section').filter({has: page.getByRole('heading', {level: 2,
		name: en ? 'Buyer levels and the seller score' : 'Staða kaupenda og einkunn seljenda'})});
	for (const id of ['watch_cancellations', 'restricted_cancellations', 'restricted_rate',
		'suspended_cancellations', 'suspended_lost_disputes', 'seller_score'])
		await levels.locator(`li[data-rule="${id}"]`).waitFor();
	assert.match(await levels.locator('li[data-rule="watch_cancellations"]').textContent(), /\b4\b/);

	// Nothing wider than the screen.
	const [scroll, width] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
	assert.ok(scroll <= width, 'no sideways scrolling: ' + scroll + ' > ' + width);
}

test('desktop, signed out: the help page from the bar, in English and Icelandic', async () => {
	const context = await browser.newContext({viewport: DESKTOP, locale: 'en-GB'});
	const page = await context.newPage();
	const problems = [];
	page.on('pageerror', (e) => problems.push(e.message));
	await page.goto(base + '/');
	await page.getByLabel('Email').waitFor();
	await page.getByRole('navigation', {name: 'Main'}).getByRole('link', {name: 'Help'}).click();
	await checkHelp(page, 'en');
	await shot(page, 'desktop-help');
	await wcag(page, 'desktop: help, signed out');
	// The way back to signing in.
	await page.getByRole('link', {name: 'Sign in'}).waitFor();

	await page.locator('#lang').selectOption('is');
	await checkHelp(page, 'is');
	await wcag(page, 'desktop: help in Icelandic');
	await page.getByRole('link', {name: 'Skrá inn'}).click();
	await page.getByLabel('Netfang').waitFor();
	assert.deepEqual(problems, []);
	await context.close();
});

test('phone, signed in: Help in the bar, in English and Icelandic', async () => {
	const page = await signedIn('ana@demo.escrowd.test', MOBILE);
	await page.getByRole('link', {name: 'Help'}).click();
	await checkHelp(page, 'en');
	await shot(page, 'mobile-help');
	await wcag(page, 'mobile: help');
	await page.context().close();

	const is = await signedIn('ana@demo.escrowd.test', MOBILE, 'is');
	await is.getByRole('link', {name: 'Hjálp'}).click();
	await checkHelp(is, 'is');
	await wcag(is, 'mobile: help in Icelandic');
	assert.deepEqual(is.problems, []);
	await is.context().close();
});
