/* idempotency.c - Idempotency-Key: claimed, kept with its write, replayed;
 * the protocol is in idempotency.h. */
#include "http/idempotency.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "util/log.h"
#include "util/error.h"
#include "util/json.h"

void esc_idem_running_init(struct esc_idem_running *r)
{
	pthread_mutex_init(&r->lock, NULL);
	r->head = NULL;
}

void esc_idem_running_release(struct esc_idem_running *r)
{
	pthread_mutex_destroy(&r->lock);
}

/* The key's scope: the caller's own. */
static void scope_of(const struct esc_http_call *call, struct esc_idempotency *idem)
{
	if (call->caller.kind == ESC_CALLER_USER)
		snprintf(idem->scope, sizeof idem->scope, "user:%s", call->caller.user.id);
	else if (call->caller.kind == ESC_CALLER_OPERATOR)
		snprintf(idem->scope, sizeof idem->scope, "operator:%.16s",
			 call->caller.token_hash);
	else
		snprintf(idem->scope, sizeof idem->scope, "address:%s", call->address);
}

/* The request a key names: its path and body, hashed. A JSON body is
 * hashed as its document, written with sorted members and no spaces, so
 * that the same object sent again with its members in another order or
 * otherwise spaced is the same request; another body (a file) as its
 * bytes. ESC_ENOMEM when the document cannot be written. */
static int request_hash(const char *url, const json_t *doc, const void *body, size_t body_len,
			struct esc_idempotency *idem)
{
	crypto_generichash_state st;
	unsigned char h[32];
	char *text = NULL;
	if (doc) {
		if (!(text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS)))
			return ESC_ENOMEM;
		body = text;
		body_len = strlen(text);
	}
	crypto_generichash_init(&st, NULL, 0, sizeof h);
	crypto_generichash_update(&st, (const unsigned char *)url, strlen(url) + 1);
	crypto_generichash_update(&st, (const unsigned char *)(body ? body : ""), body_len);
	crypto_generichash_final(&st, h, sizeof h);
	sodium_bin2hex(idem->request_hash, sizeof idem->request_hash, h, sizeof h);
	free(text);
	return 0;
}

/* A sealed answer: SEALED, then in URL-safe base64 a nonce and the
 * answer's text encrypted and authenticated with secretbox. */
#define SEALED "sealed:"
_Static_assert(sizeof(((struct esc_idempotency *)0)->seal) == crypto_secretbox_KEYBYTES,
	       "a seal is a secretbox key");

/* The key that seals the answers kept for idem's key and scope: a hash of
 * the caller's bearer token, which the store never holds (only another
 * hash of it, key_hash), with the scope and key, so that each key's
 * answer has its own. */
static void seal_key(const char *token, struct esc_idempotency *idem)
{
	static const char label[] = "escrowd idempotency seal 1";
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, sizeof idem->seal);
	crypto_generichash_update(&st, (const unsigned char *)label, sizeof label);
	crypto_generichash_update(&st, (const unsigned char *)token, strlen(token) + 1);
	crypto_generichash_update(&st, (const unsigned char *)idem->scope, strlen(idem->scope) + 1);
	crypto_generichash_update(&st, (const unsigned char *)idem->key, strlen(idem->key) + 1);
	crypto_generichash_final(&st, idem->seal, sizeof idem->seal);
	idem->sealed = true;
}

/* text sealed with idem's seal (malloc'd), or NULL when out of memory. */
static char *seal(const struct esc_idempotency *idem, const char *text)
{
	size_t n = strlen(text),
	       box_len = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + n;
	size_t out_len =
		sizeof SEALED - 1 +
		sodium_base64_ENCODED_LEN(box_len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	unsigned char *box = malloc(box_len);
	char *out = malloc(out_len);
	if (box && out) {
		randombytes_buf(box, crypto_secretbox_NONCEBYTES);
		crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES,
				      (const unsigned char *)text, n, box, idem->seal);
		memcpy(out, SEALED, sizeof SEALED - 1);
		sodium_bin2base64(out + sizeof SEALED - 1, out_len - (sizeof SEALED - 1), box,
				  box_len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	} else {
		free(out);
		out = NULL;
	}
	free(box);
	return out;
}

/* The text of a kept answer that idem's seal sealed (malloc'd), or NULL
 * when it was not sealed so, or out of memory. */
static char *unseal(const struct esc_idempotency *idem, const char *kept)
{
	const size_t head = sizeof SEALED - 1, nonce = crypto_secretbox_NONCEBYTES,
		     over = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES;
	size_t n = strlen(kept), box_len = 0;
	unsigned char *box = NULL;
	char *text = NULL;
	if (strncmp(kept, SEALED, head) || !(box = malloc(n)))
		return NULL;
	if (!sodium_base642bin(box, n, kept + head, n - head, NULL, &box_len, NULL,
			       sodium_base64_VARIANT_URLSAFE_NO_PADDING) &&
	    box_len >= over && (text = malloc(box_len - over + 1))) {
		if (crypto_secretbox_open_easy((unsigned char *)text, box + nonce, box_len - nonce,
					       box, idem->seal)) {
			free(text);
			text = NULL;
		} else {
			text[box_len - over] = '\0';
		}
	}
	free(box);
	return text;
}

/* A kept answer read back for idem, in place: unsealed when idem is
 * sealed. false when it cannot be (not sealed with idem's seal). */
static bool opened(const struct esc_idempotency *idem, struct esc_idempotency *seen)
{
	if (!idem->sealed || !seen->response)
		return true;
	char *text = unseal(idem, seen->response);
	sodium_memzero(seen->response, strlen(seen->response));
	free(seen->response);
	seen->response = text;
	return text != NULL;
}

static bool key_ok(const char *key)
{
	size_t n = strlen(key);
	if (n == 0 || n > ESC_IDEM_KEY_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)key[i] < 0x21 || (unsigned char)key[i] > 0x7e)
			return false;
	return true;
}

/* Claim idem's key in r: ESC_ECONFLICT when a request running here holds
 * it already. */
static int claim_key(struct esc_idem_running *r, const struct esc_idempotency *idem,
		     struct esc_idem_claim *claim)
{
	int rc = 0;
	pthread_mutex_lock(&r->lock);
	for (struct esc_idem_claim *c = r->head; c; c = c->next)
		if (!strcmp(c->idem->scope, idem->scope) && !strcmp(c->idem->key, idem->key))
			rc = ESC_ECONFLICT;
	if (!rc) {
		claim->idem = idem;
		claim->next = r->head;
		r->head = claim;
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

int esc_idem_start(struct esc_engine *e, struct esc_idem_running *r,
		   const struct esc_http_call *call, const char *key, const char *url,
		   const void *body, size_t body_len, const char *seal_with,
		   struct esc_idempotency *idem, struct esc_idempotency *seen,
		   struct esc_idem_claim *claim)
{
	int rc;
	if (!key_ok(key))
		return ESC_EINVAL;
	scope_of(call, idem);
	snprintf(idem->key, sizeof idem->key, "%s", key);
	rc = request_hash(url, call->file ? NULL : call->body, body, body_len, idem);
	if (rc)
		return rc;
	if (seal_with)
		seal_key(seal_with, idem);
	idem->created_at_ms = esc_engine_real_ms(e);

	/* Claim first, so that no answer lands between the read and the claim
	 * unseen. */
	rc = claim_key(r, idem, claim);
	if (rc)
		return rc;
	struct esc_store *s = esc_engine_store_acquire(e);
	rc = esc_engine_idempotency_get(e, s, idem->scope, idem->key, seen);
	esc_engine_store_release(e, s);
	if (rc == ESC_ENOTFOUND)
		return 0;
	if (!rc)
		rc = strcmp(seen->request_hash, idem->request_hash) ? ESC_EIDEMPOTENCY
								    : ESC_EDUPLICATE;
	if (rc == ESC_EDUPLICATE && !opened(idem, seen))
		rc = ESC_EIDEMPOTENCY;
	return rc;
}

const char *esc_idem_refusal(int rc)
{
	switch (rc) {
	case ESC_ECONFLICT:
		return "the first request with this Idempotency-Key is still running";
	case ESC_EIDEMPOTENCY:
		return "this Idempotency-Key was used with another request";
	case ESC_EINVAL:
		return "Idempotency-Key must be 1 to 255 printable characters";
	default:
		return NULL;
	}
}

void esc_idem_release(struct esc_idem_running *r, struct esc_idem_claim *claim)
{
	if (!claim->idem)
		return;
	pthread_mutex_lock(&r->lock);
	for (struct esc_idem_claim **p = &r->head; *p; p = &(*p)->next) {
		if (*p == claim) {
			*p = claim->next;
			break;
		}
	}
	pthread_mutex_unlock(&r->lock);
	claim->idem = NULL;
}

static int put_tx(struct esc_store *s, void *arg)
{
	const struct esc_idempotency *idem = arg;
	int rc;
	ESC_STORE(rc, s, idempotency_put, idem);
	return rc;
}

int esc_idem_keep(struct esc_engine *e, struct esc_idempotency *idem, int status,
		  const char *response)
{
	int rc;
	char *sealed = NULL;
	if (status >= 500 || status == 429)
		return 0;
	if (idem->sealed && !(sealed = seal(idem, response)))
		return ESC_ENOMEM;
	idem->status = status;
	idem->response = sealed ? sealed : (char *)response;
	rc = esc_engine_transact(e, put_tx, idem);
	idem->response = NULL;
	free(sealed);
	if (rc && rc != ESC_EDUPLICATE)
		esc_log(ESC_LOG_ERROR, "cannot keep an idempotent answer",
			ESC_LOG_STR("error", esc_error_message(rc)));
	return rc;
}

char *esc_idem_kept(struct esc_engine *e, const struct esc_idempotency *idem, int *status)
{
	struct esc_idempotency seen = {0};
	int rc;
	struct esc_store *s = esc_engine_store_acquire(e);
	ESC_STORE(rc, s, idempotency_get, idem->scope, idem->key, &seen);
	esc_engine_store_release(e, s);
	*status = 0;
	if (rc)
		return NULL;
	if (strcmp(seen.request_hash, idem->request_hash) || !opened(idem, &seen)) {
		free(seen.response);
		*status = -1;
		return NULL;
	}
	*status = seen.status;
	return seen.response;
}

void esc_idem_answer_text(struct esc_idempotency *idem, int status, char *text)
{
	free(idem->response);
	idem->status = status;
	idem->response = text;
	if (text && idem->sealed) {
		idem->response = seal(idem, text);
		sodium_memzero(text, strlen(text));
		free(text);
	}
}

int esc_idem_answer(struct esc_idempotency *idem, int status, const json_t *doc)
{
	/* An order's answer is about 2 KB: one block, not grown. */
	esc_idem_answer_text(idem, status, doc ? esc_json_text(doc, 4096, NULL) : NULL);
	return idem->response ? 0 : ESC_ENOMEM;
}

int esc_idem_tx_run(void *arg, struct esc_store *s)
{
	struct esc_idem_tx *k = arg;
	struct esc_idempotency *idem = k->call->idem;
	int rc;
	if (!idem)
		return 0;
	json_t *doc = k->doc(k->obj);
	rc = esc_idem_answer(idem, k->status, doc);
	json_decref(doc);
	if (rc)
		return rc;
	k->built = true;
	ESC_STORE(rc, s, idempotency_put, idem);
	return rc;
}

void esc_idem_done(struct esc_http_call *call, int rc, bool built)
{
	if (!call->idem)
		return;
	if (!rc) {
		call->idem_kept = true;
		return;
	}
	free(call->idem->response);
	call->idem->response = NULL;
	call->idem_answered = rc == ESC_EDUPLICATE && built;
}

void esc_idem_advance_done(struct esc_http_call *call, int rc)
{
	call->idem_kept = call->idem && rc != ESC_EDUPLICATE;
	call->idem_answered = call->idem && rc == ESC_EDUPLICATE;
}
