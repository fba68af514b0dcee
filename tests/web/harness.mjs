// harness.mjs - what every browser test file shares: the real daemon,
// started with a manual clock on a temporary store filled by `escrowd
// demo`, Debian's chromium driven by playwright-core, signing in, and the
// operator's and users' API calls. Importing it registers the daemon's and
// the browser's start and stop with the file's tests.
import {before, after} from 'node:test';
import assert from 'node:assert/strict';
import {spawn, execFileSync} from 'node:child_process';
import {mkdtempSync, rmSync, mkdirSync, writeFileSync, readFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import {tmpdir} from 'node:os';
import {join, resolve} from 'node:path';
import {chromium} from 'playwright-core';

export const KEY = 'web-test-operator-key-0001';
export const PASSWORD = 'escrowd-demo';
export const build = resolve(process.env.ESC_BUILD_DIR || 'build');
export const shots = process.env.ESC_SCREENSHOTS ? resolve(process.env.ESC_SCREENSHOTS) : null;
export const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
export const DESKTOP = {width: 1280, height: 800};
export const MOBILE = {width: 390, height: 844};

let dir, daemon;
export let base, browser;

export function startDaemon(db, config) {
	return new Promise((ok, fail) => {
		// A manual clock needs mode = test (SPEC §8).
		const p = spawn(join(build, 'escrowd'), ['serve', '--db', db, '--listen', '127.0.0.1:0',
			'--mode', 'test', '--clock', 'manual', '--operator-key', KEY, '--quiet', '--config', config,
			/* Signing in is a step of these tests, not their subject. */
			'--password-hashing', 'minimum'],
		{stdio: ['ignore', 'ignore', 'pipe']});
		let seen = '';
		p.stderr.on('data', (chunk) => {
			seen += chunk;
			const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(seen);
			if (m && !base) {
				base = m[1];
				ok(p);
			}
		});
		p.on('exit', (code) => { if (!base) fail(new Error('escrowd exited ' + code + ': ' + seen)); });
	});
}

export async function operator(method, path, body) {
	const r = await fetch(base + path, {
		method,
		headers: {'Authorization': 'Bearer ' + KEY, 'Content-Type': 'application/json'},
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	const j = await r.json();
	assert.ok(r.ok, method + ' ' + path + ': ' + JSON.stringify(j));
	return j;
}

/* A user's bearer token, and a request with it. */
export async function token(email) {
	const r = await fetch(base + '/v1/sessions', {method: 'POST',
		headers: {'Content-Type': 'application/json'}, body: JSON.stringify({email, password: PASSWORD})});
	const j = await r.json();
	assert.ok(r.ok, 'sign-in of ' + email + ': ' + JSON.stringify(j));
	return j.token;
}

export async function as(tok, method, path, body) {
	const r = await fetch(base + path, {method,
		headers: {'Authorization': 'Bearer ' + tok, 'Content-Type': 'application/json'},
		body: body === undefined ? undefined : JSON.stringify(body)});
	const j = await r.json();
	assert.ok(r.ok, method + ' ' + path + ': ' + JSON.stringify(j));
	return j;
}

/* A new buyer, with a paid order from the knits shop. */
export async function newBuyer(email) {
	const u = await operator('POST', '/v1/users', {role: 'buyer', name: email, email, password: PASSWORD});
	return u.id;
}

/* The demo's knits shop, found once among the newest orders: a file that
 * makes many orders would soon push the demo's own out of that page. */
let knitsId = null;

export async function paidOrder(buyerId, title) {
	knitsId ??= (await operator('GET', '/v1/orders?limit=100')).data
		.find((o) => o.items[0].title === 'Wool socks, 3 pairs').seller_id;
	const knits = knitsId;
	const o = await operator('POST', '/v1/orders', {buyer_id: buyerId, seller_id: knits, currency: 'EUR',
		items: [{title, quantity: 1, unit_price: 1000}]});
	await operator('POST', '/v1/orders/' + o.id + '/pay', {amount: 1000, payment_method: 'card'});
	return o.id;
}

/* More configuration lines for this file's daemon (a non-default policy:
 * "response_window = 48h\n"), given at the test file's top level. */
let policyLines = '';
export function policy(lines) {
	policyLines = lines;
}

/* Each test file has its own daemon on a temporary demo store, and its
 * own browser. */
before(async () => {
	// The root's hooks start as they are registered, while this module is
	// evaluated: one turn later the test file's top level, and its
	// policy(), have run.
	await null;
	dir = mkdtempSync(join(tmpdir(), 'escrowd-web-'));
	const db = join(dir, 'escrowd.db');
	execFileSync(join(build, 'escrowd'), ['demo', '--db', db, '--mode', 'test', '--password-hashing', 'minimum'],
		{stdio: 'ignore'});
	// Every sign-in comes from 127.0.0.1 while the manual clock stands
	// still: the per-address limit would soon refuse them.
	const config = join(dir, 'escrowd.conf');
	// One carrier checked (issue 16): UPS numbers must pass their check digit.
	writeFileSync(config, 'http.signin_per_address = 1000\ncarrier.ups = ups_1z 1Z[0-9A-Z]{16}\n' +
		policyLines);
	daemon = await startDaemon(db, config);
	// Debian's chromium-headless-shell: the same Blink without the whole
	// browser around it, which costs these tests twice the CPU (the suite
	// took 316 s with /usr/bin/chromium on a 2-core machine, 176 s with
	// the shell). ESC_CHROMIUM names another.
	browser = await chromium.launch({
		executablePath: process.env.ESC_CHROMIUM || '/usr/bin/chromium-headless-shell',
		args: ['--no-sandbox'],
	});
	if (shots)
		mkdirSync(shots, {recursive: true});
});

after(async () => {
	if (browser)
		await browser.close();
	if (daemon)
		daemon.kill('SIGTERM');
	if (dir)
		rmSync(dir, {recursive: true, force: true});
});

/* A page signed in as `email`, at `size`, in English unless told. */
export async function signedIn(email, size, lang = 'en') {
	const context = await browser.newContext({viewport: size, locale: lang === 'is' ? 'is-IS' : 'en-GB'});
	const page = await context.newPage();
	const problems = [];
	page.on('pageerror', (e) => problems.push(e.message));
	// Script errors, not the network's (a 401 before signing in is expected).
	page.on('console', (m) => {
		if (m.type() === 'error' && !m.text().startsWith('Failed to load resource'))
			problems.push(m.text());
	});
	page.problems = problems;
	await page.goto(base + '/');
	await page.getByLabel(lang === 'is' ? 'Netfang' : 'Email').fill(email);
	await page.getByLabel(lang === 'is' ? 'Lykilorð' : 'Password').fill(PASSWORD);
	await page.getByRole('button', {name: lang === 'is' ? 'Skrá inn' : 'Sign in'}).click();
	await page.getByRole('heading', {level: 1}).filter({hasNotText: /Sign in|Innskráning/}).waitFor();
	return page;
}

/* Wait until fn, run in the page, gives a truthy answer: for a predicate
 * that awaits (a fetch). page.waitForFunction does not await what its
 * predicate returns, and a promise is truthy: that wait ended after the
 * first look, whatever the look saw (inbox.test.mjs then read /v1/me
 * before the page had marked the messages read, and failed under load).
 * Here each look is awaited, and the next waits for the page's next
 * frame, as Playwright's own polling does; 30 s at most, its default. */
export async function until(page, fn, arg) {
	const end = Date.now() + 30000;
	while (!(await page.evaluate(fn, arg))) {
		if (Date.now() > end)
			throw new Error('until: still false after 30 s: ' + fn);
		await page.evaluate(() => new Promise((next) => requestAnimationFrame(next)));
	}
}

export async function shot(page, name) {
	if (shots)
		await page.screenshot({path: join(shots, name + '.png'), fullPage: true});
}

/* A tab of My orders, once the list is drawn again for it: until then the
 * old list's cards are still on the page. */
export async function openTab(page, name) {
	await page.getByRole('tab', {name}).click();
	await page.getByRole('tab', {name, selected: true}).waitFor();
}

/* The narrow screens' way to an order: Profile, the tab, the order. */
export async function openOnPhone(page, tab, title) {
	await page.getByRole('link', {name: 'Profile'}).click();
	await page.getByRole('link', {name: new RegExp('^' + tab)}).click();
	await page.getByRole('link', {name: title}).click();
	await page.getByRole('heading', {name: title}).waitFor();
}

export function cardOf(page, title) {
	return page.locator('li.card').filter({has: page.getByRole('link', {name: title})});
}

export async function chooseReason(page, label) {
	const select = page.getByLabel('Reason');
	assert.equal(await select.locator('option').first().textContent(), 'Select here');
	assert.match(await select.locator('option').nth(1).textContent(), /\(recommended\)/);
	await select.selectOption({label});
}

/* WCAG 2.1 A and AA rules, checked by axe-core in the page as it stands
 * (contrast measured from the computed colours, names, labels, roles). */
export async function wcag(page, what) {
	await page.evaluate(AXE);
	const found = await page.evaluate(async () => {
		const r = await window.axe.run(document, {runOnly: {type: 'tag',
			values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}});
		return r.violations.map((v) => v.id + ': ' + v.help + ' [' +
			v.nodes.map((n) => n.target.join(' ') + (n.failureSummary ? ' ' + n.failureSummary.replace(/\s+/g, ' ') : '')).join('; ') + ']');
	});
	assert.deepEqual(found, [], what);
}
