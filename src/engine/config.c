/* config.c - the configuration's keys, and reading them (config.h). */
#include "engine/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

#define CONFIG_BYTES_MAX (1024 * 1024)

/* Every key, one line each: name, default (NULL: none), meaning. A key
 * added to a parser (core/policy.c, http/server.c, webhook/options.c,
 * cli/main.c) is refused until it is here; test_config checks every one
 * here is taken with its default, and the man page lists them all. */
const struct esc_config_key esc_config_keys[] = {
	/* The command line's options (escrowd serve --help). */
	{"db", NULL, "the store: a SQLite file, sqlite:PATH, or postgresql://USER@HOST:PORT/DB"},
	{"listen", "127.0.0.1:8080", "where serve answers: IPv4:PORT, [IPv6]:PORT or HOST:PORT"},
	{"clock", "real", "real, or manual: time moves only by POST /v1/clock/advance (tests)"},
	{"mode", "production", "production, or test: allows clock = manual (tests and demos only)"},
	{"operator_key", NULL, "an operator API key serve installs (16 characters at least)"},
	{"operator_key_file", NULL, "a file whose first line is that key (chmod 600)"},
	{"password_hashing", "interactive", "argon2id's cost: interactive, or minimum (tests)"},
	{"quiet", "false", "true: no JSON line on stderr per request"},
	{"log_level", "info", "the least level of serve's lines written: debug, info, warn, error"},
	{"db_pool", "8", "store connections in all: one for writes, the rest for reads (1 to 64)"},
	{"deadline_lease", "15s", "a killed daemon's deadlines pass to another after this"},
	{"commit_delay_us", "500",
	 "under load, commits start this far apart at the least (0-10000)"},
	{"writer_nice", "-10",
	 "the writer thread's nice (-20 to 0); below 0 needs CAP_SYS_NICE or LimitNICE"},
	/* The policy (SPEC §2 to §6; core/policy.c). */
	{"payment_window", "24h", "an order unpaid this long is cancelled"},
	{"ship_window", "7d", "a paid order unshipped this long is cancelled, refunded"},
	{"response_window", "72h", "a seller silent on a cancellation request this long accepts"},
	{"delivery_days_default", "60", "the promised delivery, in days, when an order names none"},
	{"delivery_days_max", "365", "the most delivery days an order may promise"},
	{"protection_extra", "15d", "after the promised delivery date, an order completes"},
	{"confirm_window", "15d", "after delivery, an order unconfirmed this long completes"},
	{"dispute_after_completion", "15d", "a completed order may be disputed this long"},
	{"dispute_seller_window", "5d", "a seller silent this long on a dispute loses it"},
	{"dispute_buyer_window", "5d", "a buyer silent this long on an offer or rejection"},
	{"return_ship_window", "10d", "a buyer has this long to ship goods back"},
	{"return_receive_window", "10d", "a seller silent this long on a return confirms it"},
	{"cancel_requests_max", "2", "cancellation requests a buyer may make per order"},
	{"fee", "5%", "the platform's fee on release (up to two decimals: 2.55%)"},
	{"refund_alert", "10d", "a refund unsettled this long raises an alert event"},
	{"settle_days.card", "3..7", "days a card refund is expected to take (shown to buyers)"},
	{"settle_days.wallet", "1..1", "days a wallet refund is expected to take"},
	{"settle_days.balance", "0..0", "days a store balance refund is expected to take"},
	{"buyer_short_window", "30d", "a buyer's recent cancellations are counted over this"},
	{"buyer_long_window", "90d", "a buyer's rate, disputes and suspensions look this far back"},
	{"watch_cancellations", "3", "cancellations in the short window that warn a buyer"},
	{"restricted_cancellations", "5", "cancellations in the short window that restrict"},
	{"restricted_rate", "30%", "a cancellation rate above this restricts a buyer"},
	{"restricted_rate_min_paid", "10", "paid orders a buyer needs before the rate counts"},
	{"suspended_cancellations", "10", "cancellations in the long window that suspend"},
	{"suspended_lost_disputes", "3", "lost disputes in the long window that suspend"},
	{"seller_window", "90d", "a seller's score counts the orders of this long"},
	{"seller_min_orders", "10", "the seller score divides by at least this many orders"},
	{"seller_weight_fault_cancel", "100", "what a seller-fault cancellation costs the score"},
	{"seller_weight_missed_ship", "150", "what a missed ship deadline costs the score"},
	{"seller_weight_lost_dispute", "200", "what a lost dispute costs the score"},
	{"seller_weight_invalid_tracking", "200", "what a flagged tracking number costs the score"},
	{"reasons", NULL, "clear: empties the reason table; the reason. lines after define it"},
	{"reason.CODE", NULL, "buyer|seller, Label: adds or replaces a cancellation reason"},
	{"recommended_reason", "no_longer_needed", "the reason marked recommended, or none"},
	{"carriers", NULL, "clear: empties the carrier table"},
	{"carrier.NAME", NULL, "SCHEME PATTERN [EXAMPLE]: a carrier whose numbers are checked"},
	{"carrier.NAME.tracking_url", NULL, "https://...{tracking_number}...: the carrier's page"},
	{"tracking_check", "refuse", "a number failing its carrier's check: refuse, or flag"},
	/* The daemon's HTTP limits (http/server.h). */
	{"http.threads", "32", "worker threads (1 to 256)"},
	{"http.connections_max", "1024", "open connections at once; more wait"},
	{"http.connections_per_address", "64", "connections from one address (0: no limit)"},
	{"http.timeout", "30s", "a connection silent this long mid-body or mid-answer is closed"},
	{"http.header_timeout", "10s", "a request's line and headers must all arrive within this"},
	{"http.body_timeout", "10s", "a body may take this, and a second more per body_rate_min"},
	{"http.body_rate_min", "1KiB", "bytes per second a slow body must keep up"},
	{"http.body_max", "1MiB", "a larger request body is refused with 413"},
	{"http.session_idle", "12h", "a session unused this long ends"},
	{"http.signin_per_account", "10", "failed sign-ins per account per 15 minutes"},
	{"http.signin_per_address", "30", "failed sign-ins per address per minute"},
	{"http.hashing_max", "2", "argon2id hashes running at once"},
	{"http.image_origins", NULL, "origins items' image_url may name (https://HOST[:PORT] ...)"},
	{"http.trusted_proxies", NULL, "proxies (addresses, CIDR) whose X-Forwarded-For is read"},
	{"http.hsts", "0", "Strict-Transport-Security max-age over https (0: none; like 180d)"},
	{"http.tls_cert", NULL, "a PEM certificate (chain) file: serve https"},
	{"http.tls_key", NULL, "the PEM file of its key"},
	{"http.admin_listen", NULL, "HOST:PORT serving /metrics and /healthz alone"},
	/* Webhook delivery (docs/webhooks.md; webhook/options.h). */
	{"webhooks.allow_private", "false", "true: endpoints may be loopback or private addresses"},
	{"webhooks.retry_first_seconds", "30", "the first retry's backoff, in seconds"},
	{"webhooks.retry_max_seconds", "21600", "the longest backoff between attempts, in seconds"},
	{"webhooks.retry_for_hours", "72", "a delivery is retried this many hours, then failed"},
	{"webhooks.disable_after_hours", "72", "an endpoint failing this many hours is disabled"},
	{"webhooks.retention_days", "30", "events and their deliveries are purged after this"},
	{"webhooks.connect_timeout_seconds", "5", "a delivery's connection, in seconds"},
	{"webhooks.request_timeout_seconds", "10", "a delivery's whole request, in seconds"},
};
const size_t esc_config_keys_count = sizeof esc_config_keys / sizeof esc_config_keys[0];

/* A pattern's variable part: a segment of capitals (CODE, NAME). */
static bool placeholder(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isupper((unsigned char)s[i]))
			return false;
	return n > 0;
}

/* Whether key matches name segment by segment, a placeholder matching any
 * segment that is not empty. */
static bool matches(const char *name, const char *key)
{
	for (;;) {
		size_t nn = strcspn(name, "."), kn = strcspn(key, ".");
		if (placeholder(name, nn) ? kn == 0 : nn != kn || memcmp(name, key, nn))
			return false;
		name += nn, key += kn;
		if (!*name || !*key)
			return !*name && !*key;
		name++, key++;
	}
}

bool esc_config_key_is_pattern(const struct esc_config_key *k)
{
	for (const char *s = k->name; *s;) {
		size_t n = strcspn(s, ".");
		if (placeholder(s, n))
			return true;
		s += n + (s[n] == '.');
	}
	return false;
}

const struct esc_config_key *esc_config_key_find(const char *key)
{
	const struct esc_config_key *pattern = NULL;
	for (size_t i = 0; i < esc_config_keys_count; i++) {
		const struct esc_config_key *k = &esc_config_keys[i];
		if (!strcmp(k->name, key))
			return k;
		if (!pattern && esc_config_key_is_pattern(k) && matches(k->name, key))
			pattern = k;
	}
	return pattern;
}

int esc_config_env_name(const struct esc_config_key *k, char *out, size_t size)
{
	static const char prefix[] = "ESCROWD_";
	size_t n = strlen(k->name);
	if (esc_config_key_is_pattern(k) || size < sizeof prefix + n)
		return ESC_EINVAL;
	memcpy(out, prefix, sizeof prefix - 1);
	for (size_t i = 0; i <= n; i++) {
		char c = k->name[i];
		out[sizeof prefix - 1 + i] =
			c == '.' || c == '-' ? '_' : (char)toupper((unsigned char)c);
	}
	return 0;
}

/* The section a key belongs to, with the key it is given, or NULL. */
static const struct esc_config_section *section_of(const struct esc_config_section *sections,
						   const char *key, const char **given)
{
	for (const struct esc_config_section *c = sections; c && c->set; c++) {
		if (c->prefix && !strncmp(key, c->prefix, strlen(c->prefix))) {
			*given = key + strlen(c->prefix);
			return c;
		}
		for (const char *const *k = c->keys; k && *k; k++) {
			if (!strcmp(key, *k)) {
				*given = key;
				return c;
			}
		}
	}
	return NULL;
}

static int unknown(const char *key, char *err, size_t err_size)
{
	esc_set_err(err, err_size, "unknown key '%s' (escrowd config keys lists every key)", key);
	return ESC_EINVAL;
}

int esc_config_set(struct esc_policy *p, const struct esc_config_section *sections, const char *key,
		   const char *value, bool *policy, char *err, size_t err_size)
{
	const char *given = NULL;
	const struct esc_config_section *c;
	if (policy)
		*policy = false;
	if (!esc_config_key_find(key))
		return unknown(key, err, err_size);
	c = section_of(sections, key, &given);
	if (c)
		return c->set(c->arg, given, value, err, err_size);
	if (policy)
		*policy = true;
	return esc_policy_set(p, key, value, err, err_size);
}

int esc_config_clear(struct esc_policy *p, const struct esc_config_section *sections,
		     const char *key, bool *policy, char *err, size_t err_size)
{
	const struct esc_config_key *k = esc_config_key_find(key);
	const char *given = NULL;
	if (policy)
		*policy = false;
	if (!k)
		return unknown(key, err, err_size);
	if (k->value)
		return esc_config_set(p, sections, key, k->value, policy, err, err_size);
	/* Without a default: a section's key (db, http.tls_cert) takes the
	 * empty value as unset; the policy's (reasons, carrier.NAME) are
	 * tables, changed by lines in order, with nothing to go back to. */
	if (section_of(sections, key, &given))
		return esc_config_set(p, sections, key, "", policy, err, err_size);
	if (esc_config_key_is_pattern(k))
		esc_set_err(err, err_size,
			    "%s: a key of your naming has no default to go back to (carriers=clear "
			    "empties the carriers, reasons=clear the reasons)",
			    key);
	else
		esc_set_err(err, err_size, "%s: no default to go back to: it takes clear", key);
	return ESC_EINVAL;
}

/* A line of the file: refused unless the table has its key; a section's,
 * or ESC_ENOTFOUND for the policy's. */
static int set_in_section(void *arg, const char *key, const char *value, char *why, size_t why_size)
{
	const char *given = NULL;
	const struct esc_config_section *c;
	if (!esc_config_key_find(key))
		return unknown(key, why, why_size);
	c = section_of(arg, key, &given);
	return c ? c->set(c->arg, given, value, why, why_size) : ESC_ENOTFOUND;
}

int esc_config_read(struct esc_policy *p, const char *path,
		    const struct esc_config_section *sections, char *err, size_t err_size)
{
	char *text = NULL, why[300] = "";
	size_t len = 0;
	int rc = 0;
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		rc = ESC_EIO;
		goto out;
	}
	text = malloc(CONFIG_BYTES_MAX + 1);
	if (!text) {
		rc = ESC_ENOMEM;
		goto out;
	}
	len = fread(text, 1, CONFIG_BYTES_MAX + 1, f);
	if (ferror(f) || len > CONFIG_BYTES_MAX) {
		snprintf(err, err_size, "%s: %s", path,
			 ferror(f) ? "cannot read it" : "larger than 1 MiB");
		rc = ESC_EIO;
		goto out;
	}
	text[len] = '\0';
	/* The parser reads a C string: a NUL would end the file there, and
	 * whatever follows it would be ignored without a word. */
	const char *nul = memchr(text, '\0', len);
	if (nul) {
		int line = 1;
		for (const char *c = text; c < nul; c++)
			line += *c == '\n';
		snprintf(err, err_size, "%s: line %d: a NUL byte: a configuration file is text",
			 path, line);
		rc = ESC_EINVAL;
		goto out;
	}
	const struct esc_policy_other other = {.set = set_in_section, .arg = (void *)sections};
	rc = esc_policy_parse_with(p, text, &other, why, sizeof why);
	if (rc)
		snprintf(err, err_size, "%s: %s", path, why);
out:
	if (f)
		fclose(f);
	free(text);
	return rc;
}

int esc_config_load(struct esc_policy *p, const char *path,
		    const struct esc_config_section *sections, char *err, size_t err_size)
{
	char why[300] = "";
	struct esc_policy next = *p;
	int rc = esc_config_read(&next, path, sections, err, err_size);
	if (rc)
		return rc;
	rc = esc_policy_validate(&next, why, sizeof why);
	if (rc) {
		snprintf(err, err_size, "%s: %s", path, why);
		return rc;
	}
	*p = next;
	return 0;
}
