/* Making elements (text only through textContent), the page's frame of
 * one heading and its parts, the toast, and focus after a dialog. */

export function h(tag, attrs, ...kids) {
	const el = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === null || v === undefined || v === false)
			continue;
		if (k.startsWith('on'))
			el.addEventListener(k.slice(2), v);
		else if (k === 'text')
			el.textContent = v;
		else if (k === 'class')
			el.className = v;
		else
			el.setAttribute(k, v === true ? '' : v);
	}
	for (const kid of kids.flat(Infinity)) {
		if (kid === null || kid === undefined || kid === false)
			continue;
		el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
	}
	return el;
}

export function $(id) {
	return document.getElementById(id);
}

export function toast(text) {
	const el = $('toast');
	el.textContent = text;
	clearTimeout(toast.timer);
	toast.timer = setTimeout(() => { el.textContent = ''; }, 5000);
}

export function page(title, ...kids) {
	const main = $('main');
	main.replaceChildren(h('h1', {text: title}),
		...kids.flat(Infinity).filter((k) => k !== null && k !== undefined && k !== false));
	document.title = title + ' · escrowd';
}

/* Focus after a dialog: back where it was opened from, or, when the
 * page was drawn again meanwhile, on the page's heading. */
export function refocus(opener) {
	if (opener && opener.isConnected && !opener.closest('[hidden]')) {
		opener.focus();
		return;
	}
	const title = document.querySelector('#main h1');
	if (title) {
		title.tabIndex = -1;
		title.focus();
	}
}
