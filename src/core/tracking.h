/* tracking.h - tracking numbers checked against their carrier (issue 16).
 *
 * Carriers are data: the configuration names each one with a pattern (a
 * POSIX extended regular expression the whole number must match) and,
 * where the carrier has one, a check-digit scheme:
 *
 *   s10     the UPU S10 international postal format: two letters, eight
 *           digits, a check digit and a two-letter country code
 *           ("RR123456785GB"); the check digit is 11 - the sum of the
 *           digits weighted 8 6 4 2 3 5 9 7, mod 11 (10 -> 0, 11 -> 5).
 *   ups_1z  UPS's "1Z" numbers: 1Z, fifteen letters or digits and a check
 *           digit, the mod-10 sum of those fifteen (a letter counts as its
 *           ASCII code - 3, mod 10) with every second one doubled.
 *
 * A number is compared in its normal form: upper case, without spaces and
 * hyphens ("1z 999 aa1-0123456784" and "1Z999AA10123456784" are one
 * number). Pure functions: no I/O, no clock; esc_tracking_check keeps
 * what it compiles (see there). */
#ifndef ESC_TRACKING_H
#define ESC_TRACKING_H

#include <stdbool.h>
#include <stddef.h>

#include "core/limits.h"

enum esc_check_scheme {
	ESC_CHECK_NONE,
	ESC_CHECK_S10,
	ESC_CHECK_UPS_1Z,
};

#define ESC_CARRIER_PATTERN_MAX 200 /* a pattern's size */
#define ESC_CARRIERS_MAX        32  /* carriers in the configuration */

struct esc_carrier {
	char name[ESC_CARRIER_MAX + 1];        /* as a seller sends `carrier`: "ups" */
	char pattern[ESC_CARRIER_PATTERN_MAX]; /* as configured, without anchors */
	enum esc_check_scheme check;
	char example[ESC_TRACKING_MAX + 1]; /* a valid number, for hints; may be "" */
};

enum esc_tracking_verdict {
	ESC_TRACKING_UNCHECKED,  /* a carrier the configuration does not list */
	ESC_TRACKING_VALID,      /* matches its carrier's pattern and check digit */
	ESC_TRACKING_BAD_FORMAT, /* does not match the carrier's pattern */
	ESC_TRACKING_BAD_CHECK,  /* matches, but its check digit is wrong */
};

/* "s10", "ups_1z", "none" -> the scheme; false for another name. */
bool esc_check_scheme_parse(const char *name, enum esc_check_scheme *out);
const char *esc_check_scheme_name(enum esc_check_scheme scheme);

/* Fill c and compile its pattern. 0, or ESC_EINVAL with a sentence in err
 * (a name that is not 1-64 bytes of a-z, 0-9, _ and -, a pattern that does
 * not compile or is too long, an example that fails the carrier's own
 * check). example may be NULL or "": s10 and ups_1z then use one of their
 * own where the pattern takes it. A carrier is a plain value (copied with
 * the policy that holds it): the pattern is compiled where it is used,
 * and what esc_carrier_init compiles to check it is freed. */
int esc_carrier_init(struct esc_carrier *c, const char *name, const char *pattern,
		     enum esc_check_scheme check, const char *example, char *err, size_t err_size);

/* The normal form of a number into out (out_size >= ESC_TRACKING_MAX + 1):
 * upper case, spaces and hyphens dropped. ESC_EINVAL when what is left is
 * empty, longer than ESC_TRACKING_MAX or holds anything but A-Z and 0-9. */
int esc_tracking_normalize(const char *number, char *out, size_t out_size);

/* The form an order keeps of a number as typed, into out (out_size >=
 * ESC_TRACKING_MAX + 1): its normal form, which is what the carrier's
 * check reads and what a carrier's site takes; what a person typed
 * besides (spaces, hyphens, lower case) says nothing more. A number with
 * no normal form (another character: an unlisted carrier's, or one
 * flagged invalid_format) is kept as typed. */
void esc_tracking_kept(const char *typed, char *out, size_t out_size);

/* The carrier of that name in the table (names compare case-blind), or
 * NULL. */
const struct esc_carrier *esc_carrier_find(const struct esc_carrier *table, size_t n,
					   const char *name);

/* The verdict on a normalized number for carrier c (NULL: unchecked).
 * Safe to call from several threads at once. The first check of a pattern
 * compiles it and keeps it for the process, so that later checks of it
 * compile nothing: up to ESC_TRACKING_PATTERNS_KEPT patterns (fewer when
 * they are costly ones); past that, each check compiles its pattern and
 * frees it. What is kept is never freed; it stays reachable, so leak
 * checkers do not count it. */
#define ESC_TRACKING_PATTERNS_KEPT 64
enum esc_tracking_verdict esc_tracking_check(const struct esc_carrier *c, const char *number);

/* The check-digit schemes on their own, on a normalized number. */
bool esc_s10_valid(const char *number);
bool esc_ups_1z_valid(const char *number);

/* Where a carrier's site shows a number (issue 17): the configuration's
 * `carrier.NAME.tracking_url = https://...{tracking_number}...`. It
 * decides nothing, so it is no part of a policy version's text: an order
 * links to the running configuration's page for its carrier. */
#define ESC_TRACKING_URL_MAX 200 /* a template's bytes */
/* A filled template's size: every byte of a number may be %XX. */
#define ESC_TRACKING_LINK_SIZE (ESC_TRACKING_URL_MAX + 3 * ESC_TRACKING_MAX + 1)

struct esc_tracking_url {
	char carrier[ESC_CARRIER_MAX + 1];
	char template_[ESC_TRACKING_URL_MAX + 1];
};

/* Fill u. 0, or ESC_EINVAL with a sentence in err: a carrier name as
 * esc_carrier_init takes, a template that is not an https:// URL of at
 * most ESC_TRACKING_URL_MAX bytes of printable ASCII (no spaces, quotes
 * or angle brackets) holding {tracking_number} exactly once. */
int esc_tracking_url_init(struct esc_tracking_url *u, const char *carrier, const char *template_,
			  char *err, size_t err_size);

/* The template of that carrier in the table (case-blind), or NULL. */
const struct esc_tracking_url *esc_tracking_url_find(const struct esc_tracking_url *table, size_t n,
						     const char *carrier);

/* u's template with number percent-encoded in its place, into out
 * (out_size >= ESC_TRACKING_LINK_SIZE). */
void esc_tracking_url_fill(const struct esc_tracking_url *u, const char *number, char *out,
			   size_t out_size);

/* One sentence on what a number of carrier c looks like, for a refusal's
 * hint, into out: "ups numbers are 1Z, fifteen letters or digits and a
 * check digit, like 1Z999AA10123456784." */
void esc_tracking_hint(const struct esc_carrier *c, char *out, size_t out_size);

#endif
