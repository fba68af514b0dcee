/* timefmt.c - RFC 3339 formatting without the C library's time zone state. */
#include "util/timefmt.h"

#include <stdio.h>
#include <string.h>

#include "util/error.h"

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int64_t *m, int64_t *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp + (mp < 10 ? 3 : -9);
	*y = yoe + era * 400 + (*m <= 2);
}

void esc_time_format(int64_t ms, char out[ESC_TIME_SIZE])
{
	int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
	int64_t frac = ms - secs * 1000;
	int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
	int64_t rem = secs - days * 86400;
	int64_t y, m, d;
	civil_from_days(days, &y, &m, &d);
	/* Years are clamped to four digits: escrowd's times are far inside. */
	if (y < 0)
		y = 0;
	if (y > 9999)
		y = 9999;
	/* "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", written digit by digit: an
	 * order's answer holds a dozen times, and snprintf was most of
	 * their cost (issue 15). */
	int parts[] = {(int)y,          (int)m,   (int)d, (int)(rem / 3600), (int)(rem / 60 % 60),
		       (int)(rem % 60), (int)frac};
	static const int width[] = {4, 2, 2, 2, 2, 2, 3};
	static const char after[] = "--T::.Z";
	char *p = out;
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		for (int k = width[i] - 1, v = parts[i]; k >= 0; k--, v /= 10)
			p[k] = (char)('0' + v % 10);
		p += width[i];
		*p++ = after[i];
	}
	*p = '\0';
}

static int digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int esc_time_parse(const char *s, int64_t *ms)
{
	int y, mo, d, h, mi, se, frac = 0;
	size_t len = strlen(s);
	if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
	    s[13] != ':' || s[16] != ':')
		return ESC_EINVAL;
	if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
	    digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) || digits(s + 17, 2, &se))
		return ESC_EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
		return ESC_EINVAL;
	const char *p = s + 19;
	if (*p == '.') {
		p++;
		int n = 0;
		while (*p >= '0' && *p <= '9') {
			if (n < 3)
				frac = frac * 10 + (*p - '0');
			n++;
			p++;
		}
		if (n == 0)
			return ESC_EINVAL;
		for (; n < 3; n++)
			frac *= 10;
	}
	int64_t offset_s = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;
		if (strlen(p) != 6 || p[3] != ':' || digits(p + 1, 2, &oh) || digits(p + 4, 2, &om))
			return ESC_EINVAL;
		offset_s = (int64_t)(oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return ESC_EINVAL;
	}
	if (*p)
		return ESC_EINVAL;
	int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset_s;
	*ms = secs * 1000 + frac;
	return 0;
}
