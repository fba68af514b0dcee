// answers.test.mjs - the answers escrowd gives along an order's flows,
// checked against the OpenAPI document the daemon serves: each answer's
// status is one the document lists for the operation, its body is valid
// against the schema documented for that status (ajv, JSON Schema 2020-12
// as OpenAPI 3.1 uses it, with the formats), and it holds no member that
// the schema does not name. The flows: orders created, paid, cancelled
// (a preview, then a request accepted, rejected or withdrawn), shipped,
// delivered, confirmed, disputed (evidence, a return, an offer accepted,
// a dispute withdrawn, an arbiter's decision); refunds settled and
// failed; messages, notifications, reputations, the feed of events,
// webhook endpoints and deliveries, operator keys; answers in Icelandic;
// and refusals. No browser: the daemon alone, on a manual clock.
import {test, before, after} from 'node:test';
import assert from 'node:assert/strict';
import {spawn} from 'node:child_process';
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join, resolve} from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const build = resolve(process.env.ESC_BUILD_DIR || 'build');
const KEY = 'answers-test-operator-key-0001';
const PASSWORD = 'answers-password-1';
let dir, daemon, base, doc, ajv;

before(async () => {
	dir = mkdtempSync(join(tmpdir(), 'escrowd-answers-'));
	const config = join(dir, 'escrowd.conf');
	/* Deliveries go to a closed port on loopback: attempted, failed, retried. */
	writeFileSync(config, 'webhooks.allow_private = true\n');
	daemon = spawn(join(build, 'escrowd'), ['serve', '--db', join(dir, 'store.db'), '--listen',
		'127.0.0.1:0', '--mode', 'test', '--clock', 'manual', '--operator-key', KEY, '--quiet',
		'--password-hashing', 'minimum', '--config', config], {stdio: ['ignore', 'ignore', 'pipe']});
	base = await new Promise((ok, fail) => {
		let seen = '';
		daemon.stderr.on('data', (chunk) => {
			seen += chunk;
			const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(seen);
			if (m)
				ok(m[1]);
		});
		daemon.on('exit', (code) => fail(new Error(`escrowd exited with ${code}: ${seen}`)));
	});
	doc = await (await fetch(`${base}/v1/openapi.json`)).json();
	ajv = new Ajv2020({strict: false, allErrors: true});
	addFormats(ajv);
	ajv.addSchema({$id: 'doc', components: doc.components});
});

after(() => {
	daemon?.kill('SIGTERM');
	if (dir)
		rmSync(dir, {recursive: true, force: true});
});

/* ---- the checker ---- */

function deref(s) {
	while (s && s.$ref)
		s = s.$ref.split('/').slice(1).reduce((o, k) => o[k], doc);
	return s;
}

/* s and every schema it is made of (allOf, anyOf, oneOf), resolved. */
function branches(s, out = []) {
	s = deref(s);
	if (!s || typeof s !== 'object')
		return out;
	out.push(s);
	for (const k of ['allOf', 'anyOf', 'oneOf'])
		for (const b of s[k] ?? [])
			branches(b, out);
	return out;
}

/* The members of j that no branch of s names (an object whose schema
 * names no member, such as a history line's detail, is free), as paths. */
function undocumented(j, s, at = '') {
	const bs = branches(s);
	const found = [];
	if (Array.isArray(j)) {
		const items = bs.map((b) => b.items).filter(Boolean);
		if (items.length)
			for (const x of j)
				found.push(...undocumented(x, {anyOf: items}, at + '[]'));
		return [...new Set(found)];
	}
	if (!j || typeof j !== 'object')
		return found;
	const maps = bs.map((b) => b.additionalProperties).filter((a) => a && a !== true);
	for (const [k, v] of Object.entries(j)) {
		const sub = bs.map((b) => b.properties?.[k]).filter(Boolean);
		if (sub.length)
			found.push(...undocumented(v, {anyOf: sub}, `${at}.${k}`));
		else if (maps.length)
			found.push(...undocumented(v, {anyOf: maps}, `${at}.*`));
		else if (bs.some((b) => b.properties) && !bs.some((b) => b.additionalProperties === true))
			found.push(`${at}.${k}`);
	}
	return [...new Set(found)];
}

/* The document's path template that path matches (path itself when none
 * does), and its operation for method (undefined when there is none). */
function documented(method, path) {
	const bare = path.split('?')[0];
	const template = Object.keys(doc.paths).find((p) =>
		new RegExp('^' + p.replace(/\{[^}]+\}/g, '[^/]+') + '$').test(bare));
	const operation = template && doc.paths[template][method.toLowerCase()];
	return {template: template ?? bare, operation};
}

const problems = [];
const seen = new Set();
let checked = 0;

/* Send a request and check its answer: want is its status (or '2xx');
 * a body of type other than JSON is sent as it is; lang, when given, is
 * the Accept-Language. */
async function call(token, method, path, body, want = '2xx', type = 'application/json', lang) {
	const headers = {'Content-Type': type};
	if (lang)
		headers['Accept-Language'] = lang;
	if (token)
		headers.Authorization = 'Bearer ' + token;
	const r = await fetch(base + path, {method, headers,
		body: body === undefined ? undefined : type === 'application/json' ? JSON.stringify(body) : body});
	const text = await r.text();
	const json = (r.headers.get('content-type') ?? '').startsWith('application/json');
	const j = json && text ? JSON.parse(text) : null;
	const {template, operation} = documented(method, path);
	const where = `${method} ${template} ${r.status}`;
	const ok = want === '2xx' ? r.status >= 200 && r.status < 300 : r.status === want;
	assert.ok(ok, `${method} ${path}: ${r.status}, not ${want}: ${text.slice(0, 400)}`);
	seen.add(`${method} ${template}`);
	let answer = operation?.responses?.[String(r.status)] ?? operation?.responses?.default;
	answer = deref(answer);
	if (!operation)
		problems.push(`${where}: no such operation in the document`);
	else if (!answer)
		problems.push(`${where}: the status is not documented`);
	else if (j !== null) {
		const schema = answer.content?.['application/json']?.schema;
		if (!schema) {
			problems.push(`${where}: an answer the document gives no JSON schema for`);
		} else {
			const refs = JSON.parse(JSON.stringify(schema).replaceAll('"#/components/',
				'"doc#/components/'));
			const valid = ajv.compile(refs);
			checked++;
			if (!valid(j))
				problems.push(`${where}: ${JSON.stringify(valid.errors.slice(0, 3))}`);
			const extra = undocumented(j, schema);
			if (extra.length)
				problems.push(`${where}: members the document does not name: ${extra.join(', ')}`);
		}
	}
	return j;
}

const op = (method, path, body, want) => call(KEY, method, path, body, want);

/* ---- the flows ---- */

async function signIn(u) {
	return (await call(null, 'POST', '/v1/sessions', {email: u.email, password: PASSWORD}, 201)).token;
}

async function user(role, name) {
	const email = `${name}@answers.test`;
	const u = await op('POST', '/v1/users', {role, name: `${role} ${name}`, email, password: PASSWORD}, 201);
	u.token = await signIn(u);
	return u;
}

test('the checker finds a member the document does not name, and a wrong type', () => {
	const order = {$ref: '#/components/schemas/Order'};
	assert.deepEqual(undocumented({id: 'ord_1', bogus: 1, items: [{title: 't', nope: 2}]}, order),
		['.bogus', '.items[].nope']);
	const valid = ajv.compile({$ref: 'doc#/components/schemas/Order'});
	assert.equal(valid({id: 5}), false);
});

test('every answer along the flows is the one the OpenAPI document describes', async (t) => {
	const buyer = await user('buyer', 'buyer'), seller = await user('seller', 'seller');
	const arbiter = await user('arbiter', 'arbiter');
	const B = buyer.token, S = seller.token, A = arbiter.token;
	await call(B, 'GET', '/v1/me', undefined, 200);
	for (const path of ['/v1/cancellation-reasons', '/v1/rules', '/v1/dispute-grounds',
		'/v1/policies'])
		await op('GET', path, undefined, 200);
	const policies = await op('GET', '/v1/policies', undefined, 200);
	await op('GET', `/v1/policies/${policies.data[0].id}`, undefined, 200);
	const hook = await op('POST', '/v1/webhook-endpoints', {url: 'http://127.0.0.1:9/hook',
		events: ['*'], description: 'a closed port'}, 201);
	const order = () => op('POST', '/v1/orders', {buyer_id: buyer.id, seller_id: seller.id,
		currency: 'EUR', items: [{title: 'Wool socks', quantity: 2, unit_price: 1450}]}, 201);
	const pay = (o) => op('POST', `/v1/orders/${o.id}/pay`, {amount: 2900, payment_method: 'card'}, 200);

	// A cancellation accepted, its refund settled; messages and notifications.
	const o1 = await order();
	await op('GET', `/v1/orders/${o1.id}`, undefined, 200);
	await pay(o1);
	await call(B, 'POST', `/v1/orders/${o1.id}/cancel`, {reason: 'no_longer_needed',
		refund_to: 'original', preview: true}, 200);
	await call(B, 'POST', `/v1/orders/${o1.id}/cancel`, {reason: 'no_longer_needed',
		refund_to: 'original'}, 200);
	await call(S, 'POST', `/v1/orders/${o1.id}/messages`, {body: 'Sorry to see it go.'});
	await call(B, 'GET', `/v1/orders/${o1.id}/messages`, undefined, 200);
	await call(B, 'POST', `/v1/orders/${o1.id}/messages/read`, {seq: 1});
	await call(B, 'GET', '/v1/conversations', undefined, 200);
	await call(S, 'POST', `/v1/orders/${o1.id}/cancellation/accept`, {}, 200);
	const notes = await call(B, 'GET', '/v1/notifications', undefined, 200);
	await call(B, 'POST', '/v1/notifications/read', {through: notes.data[0].id});
	await call(B, 'GET', `/v1/orders/${o1.id}`, undefined, 200);
	const refunds = await op('GET', `/v1/refunds?order_id=${o1.id}`, undefined, 200);
	await op('POST', `/v1/refunds/${refunds.data[0].id}/settle`, {}, 200);
	await op('GET', `/v1/orders/${o1.id}/events`, undefined, 200);
	await op('GET', `/v1/users/${buyer.id}/reputation`, undefined, 200);
	await call(S, 'GET', `/v1/users/${seller.id}/reputation`, undefined, 200);

	// A cancellation rejected; shipped, delivered, disputed, decided.
	const o2 = await order();
	await pay(o2);
	await call(B, 'POST', `/v1/orders/${o2.id}/cancel`, {reason: 'better_price',
		refund_to: 'original'}, 200);
	await call(S, 'POST', `/v1/orders/${o2.id}/cancellation/reject`, {message: 'Already packed.'}, 200);
	await call(S, 'POST', `/v1/orders/${o2.id}/ship`, {carrier: 'DHL',
		tracking_number: 'JD014600003828'}, 200);
	await op('POST', `/v1/orders/${o2.id}/deliver`, {}, 200);
	const dispute = await call(B, 'POST', `/v1/orders/${o2.id}/disputes`, {ground: 'not_as_described',
		outcome: 'refund_only', amount: 1000, description: 'Holes in both pairs.'}, 201);
	await call(B, 'GET', `/v1/disputes/${dispute.id}`, undefined, 200);
	await call(S, 'POST', `/v1/disputes/${dispute.id}/counter-offer`, {amount: 500,
		message: 'Half of it.'}, 200);
	await call(B, 'POST', `/v1/disputes/${dispute.id}/escalate`, {}, 200);
	await call(A, 'GET', '/v1/disputes', undefined, 200);
	await call(A, 'POST', `/v1/disputes/${dispute.id}/decide`, {refund_amount: 700,
		reason: 'One pair is worn through.'}, 200);
	await call(S, 'GET', `/v1/orders/${o2.id}`, undefined, 200);

	// Disputes that end otherwise: a return, an offer accepted, one
	// withdrawn after the seller rejected it.
	const shipped = async (tracking) => {
		const o = await order();
		await pay(o);
		await call(S, 'POST', `/v1/orders/${o.id}/ship`, {carrier: 'DHL', tracking_number: tracking}, 200);
		await op('POST', `/v1/orders/${o.id}/deliver`, {}, 200);
		return o;
	};
	const dispute5 = await call(B, 'POST', `/v1/orders/${(await shipped('JD014600003830')).id}/disputes`,
		{ground: 'not_as_described', outcome: 'return_and_refund', amount: 2900,
			description: 'The wrong colour.'}, 201);
	const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9' +
		'awAAAABJRU5ErkJggg==', 'base64');
	const evidence = await call(B, 'POST', `/v1/disputes/${dispute5.id}/evidence?filename=colour.png`,
		png, 201, 'image/png');
	await call(S, 'GET', `/v1/evidence/${evidence.id}`, undefined, 200);
	await call(S, 'POST', `/v1/disputes/${dispute5.id}/accept`, {}, 200);
	await call(B, 'POST', `/v1/disputes/${dispute5.id}/return-shipment`, {carrier: 'DHL',
		tracking_number: 'JD014600003831'}, 200);
	await call(S, 'POST', `/v1/disputes/${dispute5.id}/return-received`, {}, 200);
	await call(S, 'GET', `/v1/disputes/${dispute5.id}`, undefined, 200);
	const dispute6 = await call(B, 'POST', `/v1/orders/${(await shipped('JD014600003832')).id}/disputes`,
		{ground: 'not_as_described', outcome: 'refund_only', amount: 1000,
			description: 'A loose seam.'}, 201);
	await call(S, 'POST', `/v1/disputes/${dispute6.id}/counter-offer`, {amount: 400}, 200);
	await call(B, 'POST', `/v1/disputes/${dispute6.id}/accept-offer`, {}, 200);
	const dispute7 = await call(B, 'POST', `/v1/orders/${(await shipped('JD014600003833')).id}/disputes`,
		{ground: 'not_as_described', outcome: 'refund_only', amount: 1000,
			description: 'Too small.'}, 201);
	await call(S, 'POST', `/v1/disputes/${dispute7.id}/reject`, {message: 'As described.'}, 200);
	await call(B, 'POST', `/v1/disputes/${dispute7.id}/withdraw`, {}, 200);

	// A refund that failed.
	const o8 = await order();
	await pay(o8);
	await call(B, 'POST', `/v1/orders/${o8.id}/cancel`, {reason: 'change_order',
		refund_to: 'original'}, 200);
	await call(S, 'POST', `/v1/orders/${o8.id}/cancellation/accept`, {}, 200);
	const refund8 = (await op('GET', `/v1/refunds?order_id=${o8.id}`, undefined, 200)).data[0];
	await op('POST', `/v1/refunds/${refund8.id}/fail`, {}, 200);
	await call(B, 'GET', `/v1/orders/${o8.id}`, undefined, 200);

	// A cancellation withdrawn; shipped and confirmed.
	const o3 = await order();
	await pay(o3);
	await call(B, 'POST', `/v1/orders/${o3.id}/cancel`, {reason: 'no_longer_needed',
		refund_to: 'original'}, 200);
	await call(B, 'POST', `/v1/orders/${o3.id}/cancellation/withdraw`, {}, 200);
	await call(S, 'POST', `/v1/orders/${o3.id}/ship`, {carrier: 'DHL',
		tracking_number: 'JD014600003829'}, 200);
	await call(B, 'POST', `/v1/orders/${o3.id}/confirm-receipt`, {}, 200);

	// An unpaid order left to its payment deadline.
	const o4 = await order();
	await op('POST', '/v1/clock/advance', {seconds: 4 * 24 * 3600}, 200);
	await op('GET', `/v1/orders/${o4.id}`, undefined, 200);
	await op('GET', '/v1/orders?limit=5', undefined, 200);
	await op('GET', '/v1/refunds', undefined, 200);
	await op('GET', '/v1/ledger/check', undefined, 200);

	// The feed, the deliveries, the endpoint, the keys.
	const events = await op('GET', '/v1/events?limit=5', undefined, 200);
	await op('GET', `/v1/events/${events.data[0].id}`, undefined, 200);
	await op('GET', '/v1/webhook-endpoints', undefined, 200);
	await op('GET', `/v1/webhook-endpoints/${hook.id}`, undefined, 200);
	await op('POST', `/v1/webhook-endpoints/${hook.id}`, {description: 'still a closed port'}, 200);
	await op('POST', `/v1/webhook-endpoints/${hook.id}/rotate-secret`, {}, 200);
	const deliveries = await op('GET', '/v1/webhook-deliveries', undefined, 200);
	assert.ok(deliveries.data.length > 0);
	await op('GET', `/v1/webhook-deliveries/${deliveries.data[0].id}`, undefined, 200);
	await op('POST', `/v1/webhook-deliveries/${deliveries.data[0].id}/retry`, {});
	await op('DELETE', `/v1/webhook-endpoints/${hook.id}`);
	const key = await op('POST', '/v1/operator-keys', {name: 'answers'}, 201);
	await op('GET', '/v1/operator-keys', undefined, 200);
	await op('POST', `/v1/operator-keys/${key.id}/revoke`, {}, 200);

	// Answers in Icelandic: the same members, other sentences.
	const is = (token, method, path, body, want) =>
		call(token, method, path, body, want, 'application/json', 'is');
	await is(KEY, 'GET', `/v1/orders/${o2.id}`, undefined, 200);
	await is(KEY, 'GET', '/v1/cancellation-reasons', undefined, 200);
	await is(KEY, 'GET', '/v1/rules', undefined, 200);
	await is(KEY, 'GET', `/v1/orders/${o1.id}/events`, undefined, 200);

	// Refusals (the sessions ended with the days the clock moved).
	await call(B, 'GET', '/v1/me', undefined, 401);
	const B2 = await signIn(buyer), S2 = await signIn(seller);
	await op('GET', '/v1/orders/ord_00000000000000000000', undefined, 404);
	await call(B2, 'POST', `/v1/orders/${o1.id}/cancel`, {reason: 'bogus'}, 409);
	const o9 = await order();
	await pay(o9);
	const preview = (lang) => call(B2, 'POST', `/v1/orders/${o9.id}/cancel`,
		{reason: 'no_longer_needed', refund_to: 'original', preview: true}, 200, 'application/json', lang);
	assert.notDeepEqual(await preview('is'), await preview(), 'the preview in Icelandic');
	await call(B2, 'GET', `/v1/orders/${o9.id}`, undefined, 200, 'application/json', 'is');
	await op('POST', '/v1/orders', {buyer_id: buyer.id}, 400);
	await call(null, 'GET', '/v1/me', undefined, 401);
	await call(S2, 'POST', `/v1/orders/${o3.id}/pay`, {amount: 2900, payment_method: 'card'}, 403);
	await call(B2, 'DELETE', '/v1/sessions/current');
	await call(B2, 'GET', '/v1/me', undefined, 401);
	await op('GET', '/readyz', undefined, 200);

	t.diagnostic(`${checked} answers checked, ${seen.size} operations met`);
	assert.deepEqual(problems, [], problems.join('\n'));
	assert.ok(checked >= 60, `only ${checked} answers checked`);
	assert.ok(seen.size >= 50, `only ${seen.size} operations met`);
});
