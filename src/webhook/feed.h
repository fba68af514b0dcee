/* feed.h - the event feed: each outbox row as the event that webhooks
 * deliver and GET /v1/events lists.
 *
 * A command writes one outbox row in its own transaction (engine.c:
 * record). The row is the event; its id is "evt_" and the row's seq in
 * 16 lowercase hex digits, so ids sort as the rows were written and a
 * cursor by id is a cursor by seq. The event's JSON, the body a webhook
 * POSTs, is put together from the row's columns:
 *
 *     {"id": "evt_000000000000002a",
 *      "type": "cancellation.accepted",
 *      "created_at": "2026-12-02T10:00:00.000Z",
 *      "order_id": "ord_...",            (null for an event of no order)
 *      "version": 7,                     (the order's; null for none)
 *      "data": {"object": {...}}}        (the row's payload, verbatim)
 *
 * The payload is the event's whole data, as the engine wrote it: the
 * object as GET answered it at that version and, for reputation events,
 * "previous" beside it (docs/webhooks.md). A payload that does not begin
 * with {"object": (a row written before payloads were data) is taken as
 * data.object itself.
 *
 * The same row gives the same bytes every time: a retried delivery and
 * the feed carry the same event. Pure: no I/O. */
#ifndef ESC_WEBHOOK_FEED_H
#define ESC_WEBHOOK_FEED_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"
#include "util/strbuf.h"

#define ESC_FEED_ID_PREFIX "evt_"
/* Bytes of an event id with its NUL: the prefix and 16 hex digits. */
#define ESC_FEED_ID_SIZE 21

/* Write the id of the event at seq (>= 0) into out. */
void esc_feed_event_id(int64_t seq, char out[ESC_FEED_ID_SIZE]);

/* Read an event id back into its seq: true when id has the form
 * esc_feed_event_id writes (any case of hex digits), else false. */
bool esc_feed_event_seq(const char *id, int64_t *seq);

/* Append the event's JSON for row to sb. Returns 0, or what strbuf
 * returns (ESC_EINVAL past its limit, ESC_ENOMEM). */
int esc_feed_event_json(const struct esc_outbox_row *row, struct esc_strbuf *sb);

#endif
