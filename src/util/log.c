/* log.c - one JSON object per line on stderr, one write(2) each. */
#include "util/log.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/timefmt.h"

static const char *const names[] = {"debug", "info", "warn", "error", "fatal"};

static atomic_int least = ESC_LOG_INFO;

static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

/* Room kept at the end of a line for what closes it:
 * "\"" ",\"truncated\":true" "}\n" and the NUL. */
#define CLOSING 24

struct line {
	char *buf;
	size_t len;
	size_t limit; /* where values stop: ESC_LOG_LINE_MAX - CLOSING */
	bool cut;     /* a value did not fit: the rest is left out */
};

/* Append n bytes, or nothing (and cut) when they do not fit. */
static bool put(struct line *l, const char *s, size_t n)
{
	if (l->cut || l->len + n > l->limit) {
		l->cut = true;
		return false;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
	return true;
}

/* The length of the UTF-8 character at p (of at most left bytes), or 0
 * when the bytes there are not one (an overlong form, a surrogate, a
 * code point past U+10FFFF, a sequence cut short). */
static size_t utf8_char(const unsigned char *p, size_t left)
{
	size_t n;
	unsigned long cp;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n > left)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* s as a JSON string, quotes included; cut at a whole character when it
 * does not fit (the closing quote always does: CLOSING keeps its room). */
static void put_string(struct line *l, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s);
	if (!put(l, "\"", 1))
		return;
	while (left) {
		/* A run of printable ASCII but '"' and '\\' (most of a line)
		 * goes as it is, at once; cut where the line ends, as byte by
		 * byte would cut it. */
		size_t run = 0;
		while (run < left && p[run] >= 0x20 && p[run] < 0x7f && p[run] != '"' &&
		       p[run] != '\\')
			run++;
		if (run) {
			size_t room = l->cut || l->len >= l->limit ? 0 : l->limit - l->len;
			size_t n = run < room ? run : room;
			memcpy(l->buf + l->len, p, n);
			l->len += n;
			if (n < run) {
				l->cut = true;
				break;
			}
			p += run;
			left -= run;
			continue;
		}
		char esc[8];
		const char *out = esc;
		size_t n = utf8_char(p, left), used = n;
		if (n == 0) {
			out = "\\ufffd";
			n = 6;
			used = 1;
		} else if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			n = 2;
		} else if (*p == '\n' || *p == '\t' || *p == '\r') {
			esc[0] = '\\';
			esc[1] = *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r';
			n = 2;
		} else if (*p < 0x20 || *p == 0x7f) {
			snprintf(esc, sizeof esc, "\\u%04x", *p);
			n = 6;
		} else {
			out = (const char *)p;
		}
		if (!put(l, out, n))
			break;
		p += used;
		left -= used;
	}
	/* The closing quote, cut or not. */
	l->buf[l->len++] = '"';
}

static void put_key(struct line *l, const char *key)
{
	put(l, ",", 1);
	put_string(l, key);
	put(l, ":", 1);
}

static void put_field(struct line *l, const struct esc_log_field *f)
{
	char num[40];
	int n = 0;
	if (f->kind == 's' && !f->str)
		return;
	switch (f->kind) {
	case 's':
		break;
	case 'i': {
		/* "%lld", digit by digit. */
		char digits[24];
		size_t at = sizeof digits;
		uint64_t m = f->num < 0 ? (uint64_t)0 - (uint64_t)f->num : (uint64_t)f->num;
		do {
			digits[--at] = (char)('0' + m % 10);
			m /= 10;
		} while (m);
		if (f->num < 0)
			digits[--at] = '-';
		n = (int)(sizeof digits - at);
		memcpy(num, digits + at, (size_t)n);
		break;
	}
	case 'f':
		/* JSON has no NaN or infinity. */
		n = isfinite(f->real) ? snprintf(num, sizeof num, "%.6g", f->real)
				      : snprintf(num, sizeof num, "null");
		break;
	default:
		n = snprintf(num, sizeof num, "%s", f->num ? "true" : "false");
		break;
	}
	/* A field is whole or absent: its key is not written unless its
	 * value may follow (a number whole; a string's quotes and a start,
	 * since a string may be cut). Keys are the program's own words: plain
	 * text, written as they are, between ',"' and '":' (4 bytes). */
	size_t value = f->kind == 's' ? 4 : (size_t)n;
	if (l->cut || l->len + strlen(f->key) + 4 + value > l->limit) {
		l->cut = true;
		return;
	}
	put_key(l, f->key);
	if (f->kind == 's')
		put_string(l, f->str);
	else
		put(l, num, (size_t)n);
}

unsigned long esc_log_format(char *out, enum esc_log_level level, int64_t time_ms, const char *msg,
			     const struct esc_log_field *fields, unsigned long n)
{
	char ts[ESC_TIME_SIZE];
	struct line l = {.buf = out, .limit = ESC_LOG_LINE_MAX - CLOSING};
	if ((unsigned)level > ESC_LOG_FATAL)
		level = ESC_LOG_ERROR;
	esc_time_format(time_ms, ts);
	put(&l, "{\"time\":", 8);
	put_string(&l, ts);
	put(&l, ",\"level\":", 9);
	put_string(&l, names[level]);
	put(&l, ",\"msg\":", 7);
	put_string(&l, msg ? msg : "");
	for (unsigned long i = 0; i < n && fields[i].kind; i++)
		put_field(&l, &fields[i]);
	if (l.cut) {
		static const char truncated[] = ",\"truncated\":true";
		memcpy(l.buf + l.len, truncated, sizeof truncated - 1);
		l.len += sizeof truncated - 1;
	}
	memcpy(l.buf + l.len, "}\n", 3);
	return l.len + 2;
}

void esc_log_fields(enum esc_log_level level, const char *msg, const struct esc_log_field *fields,
		    unsigned long n)
{
	char buf[ESC_LOG_LINE_MAX];
	if (!esc_log_enabled(level))
		return;
	int saved = errno;
	size_t len = esc_log_format(buf, level, esc_time_real_ms(), msg, fields, n);
	pthread_mutex_lock(&write_lock);
	for (size_t done = 0; done < len;) {
		ssize_t w = write(STDERR_FILENO, buf + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break; /* nowhere to say it */
		done += (size_t)w;
	}
	pthread_mutex_unlock(&write_lock);
	errno = saved;
}

void esc_log_run_failed(struct esc_log_run *r, const char *task, const char *what,
			const char *error, const char *store_said)
{
	if (r->failures++)
		return;
	r->since_us = esc_time_monotonic_us();
	char msg[200];
	snprintf(msg, sizeof msg, "%s: %s failed", task, what);
	esc_log(ESC_LOG_ERROR, msg, ESC_LOG_STR("error", error),
		ESC_LOG_STR("store_said", store_said && store_said[0] ? store_said : NULL),
		ESC_LOG_STR("next_failures", "counted, not logged, until it works again"));
}

void esc_log_run_ok(struct esc_log_run *r, const char *task)
{
	if (!r->failures)
		return;
	double seconds = (double)(esc_time_monotonic_us() - r->since_us) / 1e6;
	char msg[200];
	snprintf(msg, sizeof msg, "%s: working again after %lld failed tr%s over %.1f s", task,
		 (long long)r->failures, r->failures == 1 ? "y" : "ies", seconds);
	esc_log(ESC_LOG_INFO, msg, ESC_LOG_INT("failures", r->failures),
		ESC_LOG_REAL("seconds", seconds));
	*r = (struct esc_log_run){0};
}

bool esc_log_enabled(enum esc_log_level level)
{
	return level == ESC_LOG_FATAL ||
	       (int)level >= atomic_load_explicit(&least, memory_order_relaxed);
}

void esc_log_set_level(enum esc_log_level level)
{
	atomic_store(&least, (int)level);
}

int esc_log_level_parse(const char *name, enum esc_log_level *out)
{
	for (int i = ESC_LOG_DEBUG; i <= ESC_LOG_ERROR; i++)
		if (name && !strcmp(name, names[i])) {
			*out = (enum esc_log_level)i;
			return 0;
		}
	return -1;
}

const char *esc_log_level_name(enum esc_log_level level)
{
	return (unsigned)level <= ESC_LOG_FATAL ? names[level] : "error";
}
