/* The API client: fetch with the CSRF token, an Idempotency-Key on every
 * POST and errors as ApiError; the session's end; the caller, the reason
 * table, every order, and evidence uploads. */

import {S} from './state.js';
import {t} from './text.js';

export class ApiError extends Error {
	constructor(status, code, message, hint) {
		super(message);
		this.status = status;
		this.code = code;
		this.hint = hint || '';
	}
}

/* The Idempotency-Key of a POST. Inside attempt() the same request (the
 * same path and body) gets the same key each time, so that sending it
 * again after a lost answer replays the first answer instead of acting
 * twice or failing with 409; a changed body is a new request, with a new
 * key. Outside attempt() every request has a key of its own. */
let keys = null;

function keyFor(what) {
	if (keys && keys.has(what))
		return keys.get(what);
	const key = crypto.randomUUID();
	if (keys)
		keys.set(what, key);
	return key;
}

/* Run `fn` with the keys of `scope` (a Map, kept by a dialog or a button
 * for as long as it is on the screen). */
export async function attempt(scope, fn) {
	const before = keys;
	keys = scope;
	try {
		return await fn();
	} finally {
		keys = before;
	}
}

/* The session ended (idle too long, or signed out elsewhere): close what
 * is open, remember where the person was, and say so on the sign-in
 * page, which returns them there. */
function sessionEnded() {
	if (!S.me)
		return;
	S.me = null;
	S.csrf = '';
	sessionStorage.removeItem('escrowd.csrf');
	sessionStorage.setItem('escrowd.ended', '1');
	if (location.hash && !location.hash.startsWith('#/signin'))
		sessionStorage.setItem('escrowd.return', location.hash);
	for (const d of document.querySelectorAll('dialog[open]'))
		d.close();
	location.hash = '#/signin';
}

/* The answer to a page draw's GET when a newer draw began while it was
 * on its way: none, ever. The older page's drawing stops there instead of
 * drawing over the newer page. Commands (POST) and GETs outside a draw
 * (the caller at start-up, Load more) always answer: a dialog closed with
 * Back still says what was done. */
function stale() {
	return new Promise(() => {});
}

/* headers: more request headers, such as the interface's language for an
 * answer that holds sentences ({'Accept-Language': S.lang}). */
export function api(method, path, body, headers) {
	return request(method, path, body, headers, true);
}

/* A GET whose answer is kept for later pages too (a session's cache of
 * rules or of an ended order's history): it answers even when the draw
 * that asked for it was replaced, since the next page may wait for the
 * same promise. */
export function apiShared(path) {
	return request('GET', path, undefined, undefined, false);
}

async function request(method, path, body, headers, ofDraw) {
	/* The API's sentences (what a deadline's passing does, a refusal's
	 * words) in the interface's language. */
	const opt = {method: method, credentials: 'same-origin',
		headers: {...(S.lang ? {'Accept-Language': S.lang} : {}), ...(headers || {})}};
	if (body !== undefined) {
		opt.headers['Content-Type'] = 'application/json';
		opt.body = JSON.stringify(body);
	}
	if (method !== 'GET' && S.csrf)
		opt.headers['X-CSRF-Token'] = S.csrf;
	if (method === 'POST')
		opt.headers['Idempotency-Key'] = keyFor(path + ' ' + (opt.body || ''));
	/* The draw this GET is for, if one is under way. */
	const draw = ofDraw && method === 'GET' && S.drawn !== S.draw ? S.draw : 0;
	let r;
	try {
		r = await fetch(path, opt);
	} finally {
		if (draw && draw !== S.draw)
			await stale();
	}
	if (r.status === 401 && path !== '/v1/sessions' && path !== '/v1/me')
		sessionEnded();
	let j = null;
	try {
		j = await r.json();
	} catch (e) {
		j = null;
	}
	if (!r.ok) {
		const err = (j && j.error) || {};
		throw new ApiError(r.status, err.code || 'http_' + r.status,
			err.message || r.statusText, err.hint);
	}
	return j;
}

/* Codes whose hint is advice to the program that sent the request (every
 * error has one): a person reads the message alone. */
const FOR_PROGRAMS = ['invalid_request', 'unsupported_media_type', 'method_not_allowed',
	'not_supported', 'production_mode'];

/* An API error in words: the catalogue's, else the API's own message and
 * its hint ("... check the number on the label. ups numbers are 1Z ..."). */
export function problem(e) {
	if (e instanceof ApiError) {
		const key = 'error.' + e.code;
		if (Object.prototype.hasOwnProperty.call(S.T, key))
			return t(key);
		return e.hint && !FOR_PROGRAMS.includes(e.code) ? e.message + '. ' + e.hint
			: e.message;
	}
	return t('error.network');
}

export async function loadMe() {
	try {
		S.me = await api('GET', '/v1/me');
	} catch (e) {
		S.me = null;
		return;
	}
	if (S.me.csrf_token) {
		S.csrf = S.me.csrf_token;
		sessionStorage.setItem('escrowd.csrf', S.csrf);
	}
	if (S.me.now)
		S.offset = Date.parse(S.me.now) - Date.now();
}

export async function reasons() {
	if (!S.reasons)
		S.reasons = (await api('GET', '/v1/cancellation-reasons')).data;
	return S.reasons;
}

export async function allOrders() {
	let list = [], after = '';
	for (let page = 0; page < 10; page++) {
		const q = '/v1/orders?limit=100' + (after ? '&starting_after=' + encodeURIComponent(after) : '');
		const r = await api('GET', q);
		list = list.concat(r.data);
		if (!r.has_more || !r.data.length)
			break;
		after = r.data[r.data.length - 1].id;
	}
	return list;
}

/* Evidence as escrowd takes it (SPEC §5): JPEG, PNG or PDF, told from
 * the bytes, not the name (esc_evidence_sniff), 5 MiB each, 10 to a
 * dispute. */
export const EVIDENCE_MAX = 10, EVIDENCE_BYTES = 5 * 1024 * 1024;
const KINDS = [
	['image/jpeg', [0xff, 0xd8, 0xff]],
	['image/png', [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]],
	['application/pdf', [0x25, 0x50, 0x44, 0x46, 0x2d]],
];

async function sniff(f) {
	const head = new Uint8Array(await f.slice(0, 8).arrayBuffer());
	const kind = KINDS.find(([, magic]) => magic.every((b, i) => head[i] === b));
	return kind ? kind[0] : null;
}

/* What is wrong with the files chosen, before anything is sent: a
 * sentence naming the file and why, or null. room: how many more the
 * dispute takes. */
export async function evidenceProblem(files, room) {
	const list = Array.from(files || []);
	if (list.length > room)
		return room > 0 ? t('evidence.too_many', {n: room}) : t('evidence.full', {n: EVIDENCE_MAX});
	for (const f of list) {
		if (f.size > EVIDENCE_BYTES)
			return t('evidence.too_big', {name: f.name});
		if (!(await sniff(f)))
			return t('evidence.bad_type', {name: f.name});
	}
	return null;
}

/* Each file in turn, with the type its bytes say. An error says which
 * file it was about (ApiError.file). */
export async function upload(disputeId, files) {
	for (const f of files || []) {
		const type = (await sniff(f)) || f.type || 'application/octet-stream';
		const r = await fetch('/v1/disputes/' + encodeURIComponent(disputeId) + '/evidence?filename=' +
			encodeURIComponent(f.name), {
			method: 'POST', credentials: 'same-origin',
			headers: {'Content-Type': type, 'X-CSRF-Token': S.csrf, 'Accept-Language': S.lang,
				'Idempotency-Key': keyFor('evidence ' + disputeId + ' ' + f.name + ' ' + f.size + ' ' + f.lastModified)},
			body: f,
		}).catch(() => null);
		if (!r) {
			const e = new Error(t('error.network'));
			e.file = f.name;
			throw e;
		}
		if (r.status === 401)
			sessionEnded();
		if (!r.ok) {
			const j = await r.json().catch(() => ({}));
			const err = j.error || {};
			const e = new ApiError(r.status, err.code, err.message || r.statusText);
			e.file = f.name;
			throw e;
		}
	}
}
