/* timefmt.h - RFC 3339 UTC timestamps from and to milliseconds. */
#ifndef ESC_TIMEFMT_H
#define ESC_TIMEFMT_H

#include <stdint.h>

#define ESC_TIME_SIZE 32

/* "2026-11-26T07:06:50.123Z" (milliseconds always shown). */
void esc_time_format(int64_t ms, char out[ESC_TIME_SIZE]);
/* Parse "YYYY-MM-DDTHH:MM:SS[.fff]Z" or with a +HH:MM offset. Returns 0 or
 * ESC_EINVAL. */
int esc_time_parse(const char *s, int64_t *ms);

#endif
