/* The service worker: keeps the interface's own files, so that the app
 * opens from a phone's home screen without the network, and never keeps
 * an answer of the API.
 *
 * escrowd serves it at /sw.js (its scope is the whole site). The build
 * (tools/embed.c) replaces BUILD with a hash of the interface's files and
 * FILES with their addresses: a new build is a new worker with a new
 * cache, and the old cache is deleted when it takes over. */

const BUILD = '@BUILD@';
const FILES = ['@FILES@'];
const CACHE = 'escrowd-' + BUILD;

self.addEventListener('install', (ev) => {
	ev.waitUntil(caches.open(CACHE)
		.then((c) => c.addAll(FILES))
		.then(() => self.skipWaiting()));
});

self.addEventListener('activate', (ev) => {
	ev.waitUntil(caches.keys()
		.then((names) => Promise.all(names
			.filter((n) => n.startsWith('escrowd-') && n !== CACHE)
			.map((n) => caches.delete(n))))
		.then(() => self.clients.claim()));
});

/* The page and /static/ files: from the cache, else from the network
 * (and kept). Everything else (the API under /v1/, /healthz, ...) is not
 * touched: the browser asks the network as if there were no worker. */
function ours(url) {
	return url.origin === self.location.origin &&
		(url.pathname === '/' || url.pathname.startsWith('/static/'));
}

self.addEventListener('fetch', (ev) => {
	const url = new URL(ev.request.url);
	if (ev.request.method !== 'GET' || !ours(url))
		return;
	ev.respondWith(caches.open(CACHE).then(async (c) => {
		const hit = await c.match(url.pathname);
		if (hit)
			return hit;
		const r = await fetch(ev.request);
		if (r.ok)
			await c.put(url.pathname, r.clone());
		return r;
	}));
});
