/* The router's one door: a module draws the current page again through
 * route(), whose body app.js sets, so that no screen imports app.js. */

let drawer = async () => {};

export function setRoute(fn) {
	drawer = fn;
}

export function route() {
	return drawer();
}
