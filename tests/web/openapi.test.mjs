// openapi.test.mjs - the OpenAPI document that the daemon serves at
// GET /v1/openapi.json, checked against the OpenAPI 3.1 schema by a real
// validator (@seriousme/openapi-schema-validator, pinned in
// package-lock.json), and its references resolved. test_openapi.c keeps it
// in step with the route table; this keeps it a document that OpenAPI tools
// read. No browser: the daemon alone.
import {test, before, after} from 'node:test';
import assert from 'node:assert/strict';
import {spawn} from 'node:child_process';
import {mkdtempSync, rmSync, readFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join, resolve} from 'node:path';
import {Validator} from '@seriousme/openapi-schema-validator';

const build = resolve(process.env.ESC_BUILD_DIR || 'build');
let dir, daemon, base;

before(async () => {
	dir = mkdtempSync(join(tmpdir(), 'escrowd-openapi-'));
	daemon = spawn(join(build, 'escrowd'), ['serve', '--db', join(dir, 'store.db'), '--listen',
		'127.0.0.1:0', '--operator-key', 'openapi-test-operator-key-01', '--quiet'],
	{stdio: ['ignore', 'ignore', 'pipe']});
	base = await new Promise((ok, fail) => {
		let seen = '';
		daemon.stderr.on('data', chunk => {
			seen += chunk;
			const m = seen.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
			if (m)
				ok(m[1]);
		});
		daemon.on('exit', code => fail(new Error(`escrowd exited with ${code}: ${seen}`)));
	});
});

after(() => {
	daemon?.kill('SIGTERM');
	if (dir)
		rmSync(dir, {recursive: true, force: true});
});

test('the served document is valid OpenAPI 3.1 and every $ref resolves', async () => {
	const answer = await fetch(`${base}/v1/openapi.json`);
	assert.equal(answer.status, 200);
	const doc = await answer.json();
	const validator = new Validator();
	const result = await validator.validate(doc);
	assert.ok(result.valid, `not valid OpenAPI: ${JSON.stringify(result.errors, null, 1)}`);
	assert.equal(validator.version, '3.1');
	assert.doesNotThrow(() => validator.resolveRefs());
});

test('info.version is meson.build\'s project version', async () => {
	const doc = await (await fetch(`${base}/v1/openapi.json`)).json();
	const meson = readFileSync(join(import.meta.dirname, '../../meson.build'), 'utf8');
	const project = meson.match(/^\s*version\s*:\s*'([^']+)'/m)[1];
	assert.equal(doc.info.version, project);
});
