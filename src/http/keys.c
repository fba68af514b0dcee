/* keys.c - operator API keys: made, installed, listed, revoked. */
#include "http/keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "util/id.h"

void esc_key_hash(const char *secret, char out[ESC_HASH_HEX_SIZE])
{
	unsigned char h[32];
	crypto_generichash(h, sizeof h, (const unsigned char *)secret, strlen(secret), NULL, 0);
	sodium_bin2hex(out, ESC_HASH_HEX_SIZE, h, sizeof h);
}

static bool name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > ESC_API_KEY_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return false;
	return true;
}

/* A new key, when the store holds fewer than ESC_API_KEYS_MAX (revoked ones
 * count: they are listed, and a key past the last listed could be neither
 * seen nor revoked): ESC_EDUPLICATE when the store has that secret's key
 * already, ESC_ELIMIT when it is full. */
struct create {
	const struct esc_api_key *k;
	const struct esc_tx_hook *after; /* or NULL */
};

static int create_tx(struct esc_store *s, void *arg)
{
	const struct create *c = arg;
	const struct esc_api_key *k = c->k;
	struct esc_api_key *all = calloc(ESC_API_KEYS_MAX, sizeof *all);
	size_t n = 0;
	int rc = all ? 0 : ESC_ENOMEM;
	if (!rc)
		ESC_STORE(rc, s, api_keys_list, all, ESC_API_KEYS_MAX, &n);
	for (size_t i = 0; !rc && i < n; i++)
		if (!strcmp(all[i].key_hash, k->key_hash))
			rc = ESC_EDUPLICATE;
	free(all);
	if (!rc && n >= ESC_API_KEYS_MAX)
		rc = ESC_ELIMIT;
	if (!rc)
		ESC_STORE(rc, s, api_key_insert, k);
	if (!rc && c->after)
		rc = c->after->run(c->after->arg, s);
	return rc;
}

int esc_keys_create(struct esc_engine *e, const char *name, char secret[ESC_KEY_SECRET_SIZE],
		    struct esc_api_key *out, const struct esc_tx_hook *after)
{
	struct create c = {.k = out, .after = after};
	unsigned char raw[32];
	int rc = 0;

	if (!name_ok(name))
		return ESC_EINVAL;
	memset(out, 0, sizeof *out);
	memcpy(secret, "esk_", 4);
	randombytes_buf(raw, sizeof raw);
	sodium_bin2base64(secret + 4, ESC_KEY_SECRET_SIZE - 4, raw, sizeof raw,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof raw);
	out->created_at_ms = esc_engine_now(e);
	esc_id_new(out->id, "key_", out->created_at_ms);
	snprintf(out->name, sizeof out->name, "%s", name);
	esc_key_hash(secret, out->key_hash);
	rc = esc_engine_transact(e, create_tx, &c);
	if (rc)
		sodium_memzero(secret, ESC_KEY_SECRET_SIZE);
	return rc;
}

int esc_keys_install(struct esc_engine *e, const char *secret, const char *name)
{
	struct esc_api_key k = {0};
	int rc;

	if (strlen(secret) < ESC_KEY_SECRET_MIN || !name_ok(name))
		return ESC_EINVAL;
	k.created_at_ms = esc_engine_now(e);
	esc_id_new(k.id, "key_", k.created_at_ms);
	snprintf(k.name, sizeof k.name, "%s", name);
	esc_key_hash(secret, k.key_hash);
	rc = esc_engine_transact(e, create_tx, &(struct create){.k = &k});
	if (rc == ESC_EDUPLICATE)
		rc = 0; /* installed at an earlier start */
	return rc;
}

struct revoke {
	const char *ref;
	bool keep_one;
	bool by_name;                    /* ref may be an active key's name */
	const struct esc_tx_hook *after; /* or NULL */
	int64_t now_ms;
	struct esc_api_key *out;
	enum esc_keys_refusal why;
	struct esc_api_key *all;
};

/* Find the key, check, revoke: one transaction, so two revocations at once
 * cannot both pass the last-key check. */
static int revoke_tx(struct esc_store *s, void *arg)
{
	struct revoke *r = arg;
	size_t n = 0, active = 0, named = 0;
	int rc;

	r->why = 0;
	ESC_STORE(rc, s, api_keys_list, r->all, ESC_API_KEYS_MAX, &n);
	if (rc)
		return rc;
	const struct esc_api_key *hit = NULL;
	for (size_t i = 0; i < n; i++) {
		if (!r->all[i].revoked_at_ms)
			active++;
		if (!strcmp(r->all[i].id, r->ref))
			hit = &r->all[i];
	}
	for (size_t i = 0; !hit && r->by_name && i < n; i++)
		if (!r->all[i].revoked_at_ms && !strcmp(r->all[i].name, r->ref))
			named++;
	for (size_t i = 0; !hit && named == 1 && i < n; i++)
		if (!r->all[i].revoked_at_ms && !strcmp(r->all[i].name, r->ref))
			hit = &r->all[i];
	if (!hit && named > 1)
		r->why = ESC_KEYS_AMBIGUOUS;
	else if (!hit)
		return ESC_ENOTFOUND;
	else if (hit->revoked_at_ms)
		r->why = ESC_KEYS_REVOKED;
	else if (r->keep_one && active <= 1)
		r->why = ESC_KEYS_LAST;
	if (hit)
		*r->out = *hit;
	if (r->why)
		return ESC_ECONFLICT;
	ESC_STORE(rc, s, api_key_revoke, hit->id, r->now_ms);
	if (!rc)
		r->out->revoked_at_ms = r->now_ms;
	if (!rc && r->after)
		rc = r->after->run(r->after->arg, s);
	return rc;
}

static int revoke(struct esc_engine *e, struct revoke *r, enum esc_keys_refusal *why)
{
	int rc;

	memset(r->out, 0, sizeof *r->out);
	*why = 0;
	r->all = calloc(ESC_API_KEYS_MAX, sizeof *r->all);
	if (!r->all)
		return ESC_ENOMEM;
	r->now_ms = esc_engine_now(e);
	rc = esc_engine_transact(e, revoke_tx, r);
	*why = r->why;
	free(r->all);
	return rc;
}

int esc_keys_revoke(struct esc_engine *e, const char *ref, bool keep_one, struct esc_api_key *out,
		    enum esc_keys_refusal *why)
{
	struct revoke r = {.ref = ref, .keep_one = keep_one, .by_name = true, .out = out};
	return revoke(e, &r, why);
}

int esc_keys_revoke_id(struct esc_engine *e, const char *id, const struct esc_tx_hook *after,
		       struct esc_api_key *out, enum esc_keys_refusal *why)
{
	struct revoke r = {.ref = id, .keep_one = true, .after = after, .out = out};
	return revoke(e, &r, why);
}

int esc_keys_list(struct esc_engine *e, struct esc_api_key **out, size_t *n)
{
	struct esc_store *s;
	int rc;

	*n = 0;
	*out = calloc(ESC_API_KEYS_MAX, sizeof **out);
	if (!*out)
		return ESC_ENOMEM;
	s = esc_engine_store_acquire(e);
	ESC_STORE(rc, s, api_keys_list, *out, ESC_API_KEYS_MAX, n);
	esc_engine_store_release(e, s);
	if (rc) {
		free(*out);
		*out = NULL;
	}
	return rc;
}
