/* endpoint.h - what the API and the delivery worker both say of a webhook
 * endpoint: which secrets sign for it at a time, and its JSON as
 * GET /v1/webhook-endpoints/{id} shows it (never a secret), which is also
 * the data.object of the webhook_endpoint.disabled event. */
#ifndef ESC_WEBHOOK_ENDPOINT_H
#define ESC_WEBHOOK_ENDPOINT_H

#include <stdint.h>

#include <jansson.h>

#include "store/store.h"
#include "core/policy.h"

/* After a rotation the previous secret signs beside the new one this long,
 * on escrowd's clock. */
#define ESC_WEBHOOK_OVERLAP_MS (24 * ESC_MS_PER_HOUR)

/* The previous secret while it still signs at now_ms (escrowd's clock),
 * or NULL. */
const char *esc_webhook_previous(const struct esc_webhook_endpoint *w, int64_t now_ms);

/* w as the API shows it at now_ms, without its secrets; NULL when out of
 * memory. */
json_t *esc_webhook_endpoint_json(const struct esc_webhook_endpoint *w, int64_t now_ms);

#endif
