/* The interface's state, shared by its modules: who is signed in, the
 * CSRF token, escrowd's clock offset, the language and its catalogue. */

export const S = {
	me: null,
	csrf: sessionStorage.getItem('escrowd.csrf') || '',
	offset: 0, /* escrowd's clock minus this browser's */
	lang: 'en',
	T: {},
	reasons: null,
	/* A sentence for the next page drawn of one dispute ({dispute, text}):
	 * the evidence that failed after the dispute was opened. */
	flash: null,
	/* The newest page draw begun, and the newest finished (app.js): a GET
	 * sent during a draw that a newer one then replaced is never answered
	 * (api.js), so a slow page cannot land over a newer one. */
	draw: 0,
	drawn: 0,
};
