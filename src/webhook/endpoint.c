/* endpoint.c - an endpoint's secrets at a time and its JSON; see
 * endpoint.h. */
#include "webhook/endpoint.h"

#include <string.h>

#include "util/timefmt.h"

const char *esc_webhook_previous(const struct esc_webhook_endpoint *w, int64_t now_ms)
{
	return w->secret_previous[0] && now_ms < w->secret_previous_until_ms ? w->secret_previous
									     : NULL;
}

static json_t *time_or_null(int64_t ms)
{
	char s[ESC_TIME_SIZE];

	if (!ms)
		return json_null();
	esc_time_format(ms, s);
	return json_string(s);
}

static json_t *events_json(const char *events)
{
	json_t *list = json_array();

	while (list && *events) {
		size_t n = strcspn(events, " ");
		if (n)
			json_array_append_new(list, json_stringn(events, n));
		events += n + (events[n] == ' ');
	}
	return list;
}

json_t *esc_webhook_endpoint_json(const struct esc_webhook_endpoint *w, int64_t now_ms)
{
	return json_pack(
		"{s:s, s:s, s:o, s:o, s:b, s:o, s:o, s:o}", "id", w->id, "url", w->url,
		"description", w->description[0] ? json_string(w->description) : json_null(),
		"events", events_json(w->events), "enabled", w->enabled != 0, "created_at",
		time_or_null(w->created_at_ms), "updated_at", time_or_null(w->updated_at_ms),
		"secret_previous_expires_at",
		time_or_null(esc_webhook_previous(w, now_ms) ? w->secret_previous_until_ms : 0));
}
