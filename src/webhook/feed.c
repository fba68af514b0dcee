/* feed.c - the event feed's ids and JSON (feed.h). */
#include "webhook/feed.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util/timefmt.h"

void esc_feed_event_id(int64_t seq, char out[ESC_FEED_ID_SIZE])
{
	snprintf(out, ESC_FEED_ID_SIZE, ESC_FEED_ID_PREFIX "%016" PRIx64, (uint64_t)seq);
}

bool esc_feed_event_seq(const char *id, int64_t *seq)
{
	const size_t prefix = sizeof ESC_FEED_ID_PREFIX - 1;
	uint64_t v = 0;

	if (!id || strlen(id) != ESC_FEED_ID_SIZE - 1 || strncmp(id, ESC_FEED_ID_PREFIX, prefix))
		return false;
	for (const char *p = id + prefix; *p; p++) {
		int d;
		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			d = *p - 'A' + 10;
		else
			return false;
		v = v << 4 | (uint64_t)d;
	}
	if (v > INT64_MAX)
		return false;
	*seq = (int64_t)v;
	return true;
}

/* Is payload an event's whole data (feed.h), as the engine writes it? */
static bool is_data(const char *payload)
{
	static const char prefix[] = "{\"object\":";
	return payload && !strncmp(payload, prefix, sizeof prefix - 1);
}

int esc_feed_event_json(const struct esc_outbox_row *row, struct esc_strbuf *sb)
{
	char id[ESC_FEED_ID_SIZE], at[ESC_TIME_SIZE];
	int rc;

	esc_feed_event_id(row->seq, id);
	esc_time_format(row->at_ms, at);
	rc = esc_strbuf_addf(sb, "{\"id\":\"%s\",\"type\":", id);
	if (!rc)
		rc = esc_strbuf_add_json(sb, row->type);
	if (!rc)
		rc = esc_strbuf_addf(sb, ",\"created_at\":\"%s\",\"order_id\":", at);
	if (!rc)
		rc = row->order_id[0] ? esc_strbuf_add_json(sb, row->order_id)
				      : esc_strbuf_adds(sb, "null");
	if (!rc && row->version > 0)
		rc = esc_strbuf_addf(sb, ",\"version\":%" PRId64, row->version);
	else if (!rc)
		rc = esc_strbuf_adds(sb, ",\"version\":null");
	if (!rc && is_data(row->payload))
		rc = esc_strbuf_addf(sb, ",\"data\":%s}", row->payload);
	else if (!rc)
		rc = esc_strbuf_addf(sb, ",\"data\":{\"object\":%s}}",
				     row->payload && row->payload[0] ? row->payload : "null");
	return rc;
}
