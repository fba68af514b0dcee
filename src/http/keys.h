/* keys.h - operator API keys (issue 18 item 7): made with a name, kept
 * hashed, the secret shown once; listed; revoked. Shared by `escrowd keys`
 * and the /v1/operator-keys routes. Every daemon reads the key from the
 * store on each request (caller_get), so a revoked key is refused at once
 * by all of them. */
#ifndef ESC_HTTP_KEYS_H
#define ESC_HTTP_KEYS_H

#include "engine/engine.h"
#include "store/store.h"

/* "esk_" + 43 base64url characters (32 random bytes), NUL included. */
#define ESC_KEY_SECRET_SIZE 64
/* The shortest secret --operator-key takes. */
#define ESC_KEY_SECRET_MIN 16

/* The name of the key --operator-key installs (and of the keys stored
 * before keys had names). */
#define ESC_KEY_NAME_OPERATOR_KEY "operator-key (from --operator-key)"

/* The hash a key (or a session token) is stored and looked up by. */
void esc_key_hash(const char *secret, char out[ESC_HASH_HEX_SIZE]);

/* Make a key named name (1 to ESC_API_KEY_NAME_MAX bytes, no control
 * characters; ESC_EINVAL otherwise) at the engine's time: its secret in
 * secret (shown once, never stored), the key as stored in *out; after
 * (or NULL) runs in the key's transaction, with both filled. */
int esc_keys_create(struct esc_engine *e, const char *name, char secret[ESC_KEY_SECRET_SIZE],
		    struct esc_api_key *out, const struct esc_tx_hook *after);

/* Install secret (at least ESC_KEY_SECRET_MIN bytes: ESC_EINVAL) under
 * name unless a key of its hash is stored already (revoked or not: a
 * revoked key given again stays revoked). */
int esc_keys_install(struct esc_engine *e, const char *secret, const char *name);

/* What esc_keys_revoke refused, besides ESC_ENOTFOUND (no such key). */
enum esc_keys_refusal {
	ESC_KEYS_REVOKED = 1, /* revoked already (*out says when) */
	ESC_KEYS_AMBIGUOUS,   /* several active keys have that name */
	ESC_KEYS_LAST,        /* the last active key, and keep_one */
};

/* Revoke the key whose id or, when no id is it, whose active key's name
 * is ref, at the engine's time: the key as revoked in *out. keep_one
 * refuses to revoke the last active key (the API's routes: a caller would
 * lock every operator out; `escrowd keys` on the host may). 0,
 * ESC_ENOTFOUND, ESC_ECONFLICT with *why set, or a store's error. */
int esc_keys_revoke(struct esc_engine *e, const char *ref, bool keep_one, struct esc_api_key *out,
		    enum esc_keys_refusal *why);

/* The API's revocation (POST /v1/operator-keys/{id}/revoke): the key of
 * that id only (never a name), refused when it is the last active key
 * (ESC_KEYS_LAST); after (or NULL) runs in the revocation's transaction,
 * once *out holds the key as revoked. Returns as esc_keys_revoke. */
int esc_keys_revoke_id(struct esc_engine *e, const char *id, const struct esc_tx_hook *after,
		       struct esc_api_key *out, enum esc_keys_refusal *why);

/* Every key, revoked ones too, oldest first: *n of them in out (malloc'd,
 * the caller's to free). */
int esc_keys_list(struct esc_engine *e, struct esc_api_key **out, size_t *n);

#endif
