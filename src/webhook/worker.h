/* worker.h - the webhook delivery worker (issue 14; docs/webhooks.md,
 * "Delivery and retries").
 *
 * One thread of its own loops:
 *   fanout   each new outbox row becomes one pending delivery per enabled
 *            endpoint whose patterns take its type;
 *   claim    due deliveries, under this process's lease (as deadlines
 *            are: several daemons on one database send each once, and a
 *            dead daemon's claims pass on), never two of one (endpoint,
 *            order) at once nor one ahead of its order's earlier one;
 *   send     each event's JSON (webhook/feed.h), signed (signature.h)
 *            with the endpoint's secret and, during a rotation, the
 *            previous one, through the sender (many in flight at once);
 *   record   each attempt: any 2xx is delivered; anything else is retried
 *            after an exponential backoff with full jitter on escrowd's
 *            clock (esc_webhook_retry_delay_ms), for retry_for_ms from
 *            the delivery's creation, then failed. One JSON line on
 *            stderr per failed attempt.
 * and, about once a second, disables the endpoints failing for
 * disable_after_ms (with a webhook_endpoint.disabled event) and purges
 * the events older than retention_ms with their deliveries.
 *
 * It wakes on every commit of commands and every move of the manual clock
 * (esc_engine_on_commit), and otherwise looks again every 10 ms while
 * work is in flight, backing off to 200 ms when idle; two rounds start
 * 5 ms apart at the least while deliveries are made, and 100 ms apart
 * when the last round made, claimed and recorded none (the events then
 * go to no endpoint: they are only marked fanned out, in batches). */
#ifndef ESC_WEBHOOK_WORKER_H
#define ESC_WEBHOOK_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "store/store.h"
#include "webhook/options.h"

/* Pure: the delay before the next attempt after attempts (>= 1) failed
 * ones, for a random draw in [0, 1): full jitter, draw times the ceiling
 * min(retry_max_ms, retry_first_ms * 2^(attempts - 1)), at least 1 s (or
 * the ceiling, when smaller). */
int64_t esc_webhook_retry_delay_ms(const struct esc_webhook_options *o, int64_t attempts,
				   double draw);

/* Pure: d after an attempt at now_ms answered with HTTP status (0: no
 * answer): delivered on a 2xx; otherwise pending again at now_ms plus the
 * delay, but no later than created_at_ms + retry_for_ms, or failed when
 * that time has come. attempts, last_attempt_at_ms, last_status_code and
 * delivered_at_ms follow. */
void esc_webhook_after_attempt(const struct esc_webhook_options *o, struct esc_webhook_delivery *d,
			       int status, int64_t now_ms, double draw);

struct esc_webhook_worker;

/* Before an endpoint is added, enabled, disabled or given other
 * patterns, in that change's transaction on s: the events written so far
 * and not fanned out yet are, to the endpoints as they are before it.
 * Then an endpoint gets the events written while it is enabled and only
 * those, however far behind the worker is (docs/webhooks.md). */
int esc_webhook_fanout_before_change(struct esc_store *s, int64_t now_ms);

/* A worker over e with options o (copied). Nothing runs until
 * esc_webhook_worker_start, or the caller's esc_webhook_worker_poll.
 * ESC_ENOMEM, or the sender's failure. */
int esc_webhook_worker_new(struct esc_engine *e, const struct esc_webhook_options *o,
			   struct esc_webhook_worker **out);

/* One round on the calling thread: upkeep when due, fanout and claim,
 * send, wait for the network at most wait_ms, record what finished.
 * Returns 0 or the store's failure (logged too). For tests and for the
 * worker's own thread; never both at once. */
int esc_webhook_worker_poll(struct esc_webhook_worker *w, int wait_ms);

/* Deliveries in flight now. */
size_t esc_webhook_worker_in_flight(const struct esc_webhook_worker *w);

/* Run the loop on a thread of its own until esc_webhook_worker_free. */
int esc_webhook_worker_start(struct esc_webhook_worker *w);

/* Stop the thread (if started), abandon what is in flight, give back this
 * process's claims on deliveries (they are sent again) and free w. NULL
 * is allowed. */
void esc_webhook_worker_free(struct esc_webhook_worker *w);

#endif
