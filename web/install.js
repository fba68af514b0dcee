/* The app on a phone's home screen: the service worker's registration
 * (sw.js keeps the interface's files, never the API's answers), and a new
 * build's arrival, which takes effect at the next change of screen. */

let had = false;
let updated = false;

export function registerWorker() {
	if (!('serviceWorker' in navigator))
		return;
	had = !!navigator.serviceWorker.controller;
	/* A new worker takes over at once (sw.js skips waiting): this page's
	 * modules are the old build's, so the next screen is drawn from a
	 * reload with the new one rather than mixing the two. */
	navigator.serviceWorker.addEventListener('controllerchange', () => {
		if (had)
			updated = true;
		had = true;
	});
	navigator.serviceWorker.register('/sw.js', {scope: '/'}).catch(() => {
		/* No worker (a private window, a browser without one): the app
		 * works as before, from the network. */
	});
}

/* True when a new build took over since this page loaded. */
export function newBuild() {
	return updated;
}
