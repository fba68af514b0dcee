/* idempotency.h - Idempotency-Key (SPEC §7): a POST sent again with the
 * same key gets the first answer, and changes nothing again. The whole
 * protocol is here; server.c and the handlers of routes.c call it.
 *
 * The key. 1 to 255 printable ASCII characters, in the Idempotency-Key
 * header of a POST (other methods ignore it, and so does a sign-in: its
 * body holds a password and its answer a session's token, neither of
 * which is kept in any form: routes.h's ESC_KEEP_NEVER). A key is the
 * caller's own: its scope is the user ("user:ID"), the operator key
 * ("operator:" and 16 hex of its hash), or for anyone else the client's
 * address. The request it names is the hash of its path and body: a JSON
 * body as its document (members sorted, no spaces), so that the same
 * object with its members in another order is the same request.
 *
 * 1. Start (esc_idem_start), before the handler runs. The key is claimed
 *    in this process first (a list of the keys whose request is running
 *    here, never written to the store, so that a crash cannot leave a key
 *    stuck), then its kept answer is read:
 *      none                          the request runs;
 *      kept, for the same request    ESC_EDUPLICATE: the kept answer is
 *                                    replayed, its status and body, and
 *                                    nothing runs;
 *      kept, for another request     ESC_EIDEMPOTENCY (422);
 *      claimed by a running request  ESC_ECONFLICT (409), try again;
 *      malformed                     ESC_EINVAL (400).
 * 2. Answered with its write. The answer is kept in the transaction of
 *    the write it answers, so that the key's answer exists exactly when
 *    the write does: a retry after a crash, or at another daemon over the
 *    same store, finds both or neither.
 *      - A command: its reply (esc_reply) builds the answer inside the
 *        command's transaction, and the engine keeps it there
 *        (esc_idem_answer fills the record; esc_idem_done after).
 *      - A write that is not a command (a user, a message, a file of
 *        evidence): esc_idem_tx_run is the write's esc_tx_hook.
 *      - A move of the clock: esc_advance_reply (esc_idem_advance_done).
 *    The handler then sets call->idem_kept.
 * 3. Answered meanwhile. If another process answered the key between the
 *    start and the commit, the store refuses the second record
 *    (ESC_EDUPLICATE): the write is undone, call->idem_answered is set,
 *    and the server replays the answer kept by the other (esc_idem_kept).
 * 4. Kept after the handler (esc_idem_keep): the answer of a request whose
 *    handler wrote nothing (a refusal, or a route that runs no write).
 *    Failures of the daemon (5xx) and rate limits (429) are not kept: a
 *    retry may succeed.
 * Sealed answers. A route whose answer holds a secret (a webhook
 * endpoint's signing secret, an operator key's: ESC_KEEP_SEALED) keeps
 * it encrypted (secretbox) with a key hashed from the caller's bearer
 * token, its scope and the key. The store holds only another hash of
 * the token, so the kept answer adds nothing a copy of the store could
 * read (an operator key's secret is kept nowhere; an endpoint's signing
 * secret is in its row, for signing), and only the caller that sent the
 * first request can have it replayed.
 * 5. Forgotten after 24 hours of real time (ESC_IDEMPOTENCY_KEEP_MS),
 *    however a manual clock moves: esc_engine_idempotency_get forgets
 *    what is older when it reads. */
#ifndef ESC_HTTP_IDEMPOTENCY_H
#define ESC_HTTP_IDEMPOTENCY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "engine/engine.h"
#include "http/handler.h"

/* A key whose first request is running in this process. */
struct esc_idem_claim {
	const struct esc_idempotency *idem;
	struct esc_idem_claim *next;
};

/* The keys running in this process (one per request at most). */
struct esc_idem_running {
	pthread_mutex_t lock;
	struct esc_idem_claim *head;
};

void esc_idem_running_init(struct esc_idem_running *r);
void esc_idem_running_release(struct esc_idem_running *r);

/* Step 1 for the request of call, sent to url with body (body_len bytes)
 * and key: fills *idem (scope, key, request hash, created_at_ms; sealed
 * with seal_with, the caller's bearer token, unless NULL) and claims it
 * in r with *claim (released by esc_idem_release, whatever the return).
 * Returns 0 when the request may run; ESC_EDUPLICATE with the first
 * answer in *seen (its response malloc'd, the caller's, unsealed), or
 * ESC_EIDEMPOTENCY (also for a sealed answer that idem's seal does not
 * open), ESC_ECONFLICT, ESC_EINVAL as above, or the store's failure. */
int esc_idem_start(struct esc_engine *e, struct esc_idem_running *r,
		   const struct esc_http_call *call, const char *key, const char *url,
		   const void *body, size_t body_len, const char *seal_with,
		   struct esc_idempotency *idem, struct esc_idempotency *seen,
		   struct esc_idem_claim *claim);

/* The message of a refusal of esc_idem_start, or NULL for its code's own. */
const char *esc_idem_refusal(int rc);

/* Give back the claim (nothing when none was made). */
void esc_idem_release(struct esc_idem_running *r, struct esc_idem_claim *claim);

/* Step 4: keep status and response for idem, through the engine's door
 * for writes, unless status is 5xx or 429 (0 then). ESC_EDUPLICATE when
 * the key was answered meanwhile by another process (step 3 for a
 * request that wrote nothing: a refusal of a command the other's commit
 * had already changed, as a retry at another daemon after a crash may
 * meet), whose answer is then the one to give (esc_idem_kept). Another
 * failure is logged and returned. */
int esc_idem_keep(struct esc_engine *e, struct esc_idempotency *idem, int status,
		  const char *response);

/* Step 3: the answer kept for idem (malloc'd and unsealed, *status set),
 * or NULL:
 * *status is then -1 when the kept answer is another request's
 * (ESC_EIDEMPOTENCY), else 0 (it cannot be read). */
char *esc_idem_kept(struct esc_engine *e, const struct esc_idempotency *idem, int *status);

/* Put status and doc (as compact JSON, malloc'd, replacing what idem held;
 * sealed when idem is) into idem, to be kept with a write. 0 or
 * ESC_ENOMEM. */
int esc_idem_answer(struct esc_idempotency *idem, int status, const json_t *doc);
/* The same with the document's text already written (malloc'd, taken). */
void esc_idem_answer_text(struct esc_idempotency *idem, int status, char *text);

/* Step 2 for a write that is not a command: the answer (doc(obj) with
 * status) kept in the write's transaction; set .run = esc_idem_tx_run,
 * .arg = the esc_idem_tx as the write's esc_tx_hook. Nothing without a
 * key. */
struct esc_idem_tx {
	struct esc_http_call *call;
	int status;
	json_t *(*doc)(const void *obj);
	const void *obj;
	bool built; /* the answer was built: ESC_EDUPLICATE then means answered */
};
int esc_idem_tx_run(void *arg, struct esc_store *s);

/* After a write that kept its answer (a command's reply or an esc_idem_tx)
 * returned rc: on success the answer is kept (call->idem_kept); else it
 * is not the answer, and an ESC_EDUPLICATE after the answer was built
 * means the key was answered meanwhile (call->idem_answered). built says
 * whether the answer was built. Nothing without a key. */
void esc_idem_done(struct esc_http_call *call, int rc, bool built);

/* After a move of the clock with its esc_advance_reply returned rc: kept
 * with the move, or answered meanwhile (ESC_EDUPLICATE). A move that
 * failed otherwise is a failure of the daemon, which is not kept. */
void esc_idem_advance_done(struct esc_http_call *call, int rc);

#endif
